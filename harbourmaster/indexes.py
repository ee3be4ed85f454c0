"""Migration operations for the single-column index Django gives a field.

A foreign key's index can be dropped where a composite index or unique constraint already
leads with its column (docs/decisions/0029-indexes-on-append-only-tables.md).
"""

from django.db import migrations


def field_index_dropped(
    alteration: migrations.AlterField, *, table: str, column: str, index: str
) -> migrations.SeparateDatabaseAndState:
    """``alteration`` (the field with ``db_index=False``) for the migration state, and only
    ``DROP INDEX`` for the database.

    Django's own AlterField of a foreign key also drops the constraint and adds it back,
    and adding it checks every row of the table under a lock that blocks writes to the
    table and to the one it references: for the whole scan of a large record table.
    """
    return migrations.SeparateDatabaseAndState(
        state_operations=[alteration],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                elidable=False,
            )
        ],
    )
