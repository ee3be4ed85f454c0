"""JSON Lines and CSV bodies for the export, produced in constant memory.

On PostgreSQL the database encodes the rows: ``COPY (query) TO STDOUT`` sends finished
lines, which are handed to the response in blocks without being parsed (the Python
encoders cost ~15x what COPY does). Elsewhere (SQLite, the embedded default) the rows
are encoded here, row by row, to the same JSON values and CSV cells.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import date

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.db.models import QuerySet
from rest_framework.renderers import JSONRenderer

ROWS_PER_WRITE = 500
BYTES_PER_WRITE = 256 * 1024


class JSONLinesRenderer(JSONRenderer):
    """Selects the streamed JSON Lines export. Only error bodies are ever rendered by it
    (as JSON, with the problem content type the error handler sets)."""

    media_type = "application/x-ndjson"
    format = "jsonl"


class CSVRenderer(JSONRenderer):
    """Selects the streamed CSV export; renders only error bodies, as JSON."""

    media_type = "text/csv"
    format = "csv"


STREAM_FORMATS = {JSONLinesRenderer.format: JSONLinesRenderer.media_type, CSVRenderer.format: CSVRenderer.media_type}


def stream_body(rows: QuerySet, fields: tuple[str, ...], format_name: str) -> Iterator[bytes | str]:
    """The body of an export of ``rows`` (a queryset of the model, in sending order):
    lazy, so nothing is read before the response starts to be sent."""
    if connections[rows.db].vendor == "postgresql":
        copy = _jsonl_copy if format_name == JSONLinesRenderer.format else _csv_copy
        return _copied(rows, *copy(rows, fields))
    values = rows.values(*fields).iterator(chunk_size=2000)
    return json_lines(values) if format_name == JSONLinesRenderer.format else csv_lines(values, fields)


# --- PostgreSQL: COPY ---------------------------------------------------------------


def _subquery(rows: QuerySet, fields: tuple[str, ...]) -> tuple[str, list, str]:
    """The rows' SELECT of ``fields`` and a FROM clause naming its columns as the fields."""
    connection = connections[rows.db]
    sql, params = rows.values(*fields).query.sql_with_params()
    names = ", ".join(connection.ops.quote_name(name) for name in fields)
    return f"({sql}) AS exported({names})", list(params), names


def _jsonl_copy(rows: QuerySet, fields: tuple[str, ...]) -> tuple[str, list]:
    source, params, _ = _subquery(rows, fields)
    # row_to_json writes compact JSON with any control character escaped, so a line never
    # holds a raw newline, \x01 or \x02: CSV format with those as quote and delimiter
    # copies the text unchanged (text format would double every backslash).
    select = f"SELECT row_to_json(exported)::text FROM {source}"  # noqa: S608 (compiled by the ORM)
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')", params


def _csv_cell(field: models.Field, name: str) -> str:
    column = f'exported."{name}"'
    if isinstance(field, models.BooleanField):
        return f'{column}::text AS "{name}"'  # true / false, as in JSON
    if isinstance(field, models.DateField):
        return f"to_char({column}, 'YYYY-MM-DD') AS \"{name}\""
    # An empty string is written like NULL (an empty cell), not as "".
    return f"NULLIF({column}::text, '') AS \"{name}\""


def _csv_copy(rows: QuerySet, fields: tuple[str, ...]) -> tuple[str, list]:
    source, params, _ = _subquery(rows, fields)
    cells = ", ".join(_csv_cell(rows.model._meta.get_field(name), name) for name in fields)
    select = f"SELECT {cells} FROM {source}"  # noqa: S608 (field names from the model)
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER)", params


def _copied(rows: QuerySet, statement: str, params: list) -> Iterator[bytes]:
    """COPY's output in blocks of about BYTES_PER_WRITE (PostgreSQL sends a message per row).

    Planned for many rows: an export is usually large, but the planner cannot know how
    many users an access record names (one record_id's share of the subjects table) and,
    guessing a few thousand, probes 500,000 of them one by one through nested loops (10 s
    instead of 1.7 s); hash and merge joins, with the memory to sort in, suit it."""
    connection = connections[rows.db]
    with transaction.atomic(using=rows.db), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        yield from _blocks(cursor.cursor, statement, params)


def _blocks(cursor, statement: str, params: list) -> Iterator[bytes]:
    with cursor.copy(statement, params) as copy:
        blocks, size = [], 0
        for block in copy:
            blocks.append(block)
            size += len(block)
            if size >= BYTES_PER_WRITE:
                yield b"".join(blocks)
                blocks, size = [], 0
        if blocks:
            yield b"".join(blocks)


# --- Elsewhere: encoded here --------------------------------------------------------


def _batched(lines: Iterable[str]) -> Iterator[str]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) >= ROWS_PER_WRITE:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def json_lines(rows: Iterable[dict]) -> Iterator[str]:
    encoder = DjangoJSONEncoder(ensure_ascii=False, separators=(",", ":"))
    return _batched(encoder.encode(row) + "\n" for row in rows)


class _Line:
    """csv.writer writes into this and gets the line back, so nothing accumulates."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_lines(rows: Iterable[dict], fields: tuple[str, ...]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\n")
    return _batched(_with_header(writer, rows, fields))


def _with_header(writer, rows: Iterable[dict], fields: tuple[str, ...]) -> Iterator[str]:
    yield writer.writerow(fields)
    for row in rows:
        yield writer.writerow([_cell(row[name]) for name in fields])
