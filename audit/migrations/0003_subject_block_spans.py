"""Stream subjects are found by span, not by a GIN index of every id (docs/decisions/0023).

The GIN index cost each export a write of every id into its pending list and, later, a
merge of that list (~2 s of CPU per million ids, in the worker, on the machine serving
the export). A block's ids all share ``id // 10000``: a b-tree on ``user_ids[1] / 10000``
finds the blocks that may hold a user (one per stream that covered their span), and
``@>`` checks those few lists. The lists are compressed with lz4, which costs a quarter
of the default pglz's time to write.
"""

from django.db import migrations

TABLE = "audit_accessrecordsubjectblock"
# audit.models.BLOCK_SPAN when this was written; the lookup must use the same number.
BLOCK_SPAN = 10_000


def _has_lz4(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row and row[0])


def spans_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS accesssubjectblock_users_idx")
    schema_editor.execute(
        f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor)"
    )
    if _has_lz4(schema_editor):  # a PostgreSQL built without lz4 keeps pglz
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN user_ids SET COMPRESSION lz4")
    schema_editor.execute(f"CREATE INDEX accesssubjectblock_span_idx ON {TABLE} ((user_ids[1] / {BLOCK_SPAN}))")


def users_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS accesssubjectblock_span_idx")
    schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN user_ids SET COMPRESSION pglz")
    schema_editor.execute(
        f"CREATE INDEX accesssubjectblock_users_idx ON {TABLE} "
        "USING gin (user_ids) WITH (fastupdate = on, gin_pending_list_limit = 65536)"
    )
    schema_editor.execute(
        f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_insert_threshold = 50, autovacuum_vacuum_insert_scale_factor = 0)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_subject_blocks"),
    ]

    operations = [
        migrations.RunPython(spans_index, users_index, elidable=False),
    ]
