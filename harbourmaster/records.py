"""Append-only records: proof that something happened, which nothing may rewrite.

ConsentRecord, AccessRecord and the outbox Event are written once and never changed
or deleted. The ORM refuses it here (instance save/delete, queryset update/delete);
on PostgreSQL a trigger refuses it as well, so raw SQL and other clients cannot
either (see ``append_only_trigger`` and docs/decisions/0003-append-only-records.md).
"""

from django.db import migrations, models


class RecordIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an append-only record."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise RecordIsAppendOnly(f"{self.model.__name__} rows cannot be updated")

    def delete(self):
        raise RecordIsAppendOnly(f"{self.model.__name__} rows cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise RecordIsAppendOnly(f"{self.model.__name__} rows cannot be updated")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise RecordIsAppendOnly(f"{self.model.__name__} rows cannot be updated")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RecordIsAppendOnly(f"{type(self).__name__} {self.pk} cannot be changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RecordIsAppendOnly(f"{type(self).__name__} {self.pk} cannot be deleted")


_CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION harbourmaster_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""


def append_only_trigger(table: str) -> migrations.RunPython:
    """A migration operation that makes ``table`` refuse UPDATE and DELETE on PostgreSQL.

    SQLite (the embedded default) relies on the ORM guard alone: its test flush deletes
    rows, which a trigger there would refuse.
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_CREATE_FUNCTION, params=None)
        schema_editor.execute(
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION harbourmaster_refuse_change()"
        )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')

    return migrations.RunPython(forwards, backwards, elidable=False)
