"""Rows written with PostgreSQL's COPY: the import's bulk writes without the ORM's INSERT.

Compiling a many-row INSERT and adapting each of its parameters cost more than the rows
themselves; COPY takes the rows as text in one stream. A model's rows are written with
the columns the caller varies, and every other column at the value a fresh instance of the
model would save (its default, or the batch's ``now`` for ``auto_now`` and ``timezone.now``
defaults), so the rows are those ``bulk_create`` would have written.
"""

import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from itertools import batched
from uuid import UUID

from django.db import connection, models
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_TIME_DEFAULTS = (timezone.now,)
CHUNK_ROWS = 2000


def _escaped(text: str) -> str:
    # Most values hold none of the four characters: one search instead of a rewrite.
    return _SPECIAL.sub(lambda match: _ESCAPES[match.group()], text) if _SPECIAL.search(text) else text


def copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return _escaped(value)
    if isinstance(value, int | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _escaped(json.dumps(value))
    raise TypeError(f"no COPY text for {type(value).__name__}")


def constant_columns(model: type[models.Model], varied: list[str], fixed: dict, now: datetime) -> dict[str, str]:
    """The model's other columns as a fresh instance saves them, ``fixed`` overriding, as
    COPY text. A default that differs per row (a uuid) must be among ``varied``."""
    constants = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in varied or field.generated:
            continue
        if field.attname in fixed:
            value = fixed[field.attname]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default() and callable(field.default):
            if field.default not in _TIME_DEFAULTS:
                raise ValueError(f"{model.__name__}.{field.name} varies per row: pass it as a column")
            value = now
        else:
            value = field.get_default()
        constants[field.column] = copy_text(value)
    return constants


def rows_copy(model: type[models.Model], columns: list[str], lines: Iterable[str], constants: dict[str, str]) -> None:
    """COPY ``lines`` (each the varied columns as COPY text, tab-separated, no line end)
    into the model's table, the constant columns appended to each. ``lines`` may be made
    lazily: a thread sends each chunk while the next is made, so the database works on the
    rows while Python writes them."""
    table = model._meta.db_table
    names = ", ".join(connection.ops.quote_name(name) for name in [*columns, *constants])
    tail = "".join(f"\t{text}" for text in constants.values()) + "\n"
    statement = f"COPY {table} ({names}) FROM STDIN"
    # The raw psycopg cursor: Django's wrapper has no copy(); its errors are mapped here
    # (a unique violation is an IntegrityError, as from the ORM).
    with connection.wrap_database_errors, connection.cursor() as cursor:
        writer = QueuedLibpqWriter(cursor.cursor)
        with cursor.cursor.copy(statement, writer=writer) as copy:
            for chunk in batched(lines, CHUNK_ROWS):
                copy.write(tail.join(chunk) + tail)


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys from the table's sequence, in order."""
    if not count:
        return []
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
        )
        return [row[0] for row in cursor.fetchall()]
