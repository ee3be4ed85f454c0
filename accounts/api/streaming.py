"""JSON Lines and CSV bodies for the streamed export, produced in constant memory.

On PostgreSQL the database encodes the users: for each block of ids of the stream's
access record (docs/decisions/0023), in id order, one ``string_agg`` of that block's
finished lines, sent by ``COPY … TO STDOUT (FORMAT binary)`` and handed to the response
as it is. Lines are concatenated from each field's JSON value or CSV cell (cheaper than
``row_to_json`` or COPY's CSV, the same bytes and cells), and a block's lines arrive as one
COPY row: with a COPY message per user, handling them in Python cost as much CPU as
PostgreSQL's own work. Elsewhere (SQLite, the embedded default) the rows are encoded here,
row by row, to the same JSON values and CSV cells.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import chain

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.db.models.expressions import RawSQL
from rest_framework.renderers import JSONRenderer

from accounts.selectors import users_recorded_for_stream
from audit.models import BLOCK_SPAN, AccessRecord
from audit.selectors import access_record_blocks_sql, access_record_user_ids

ROWS_PER_WRITE = 500


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


def recorded_stream_body(record: AccessRecord, fields: tuple[str, ...], format_name: str) -> Iterator[bytes | str]:
    """The body of a stream whose AccessRecord is committed: the users it names, less
    any deactivated since (accounts.selectors.users_recorded_for_stream), in id order.
    Lazy: nothing is read before the response starts to be sent."""
    users = users_recorded_for_stream(user_ids=access_record_user_ids(record=record)).order_by("id")
    jsonl = format_name == JSONLinesRenderer.format
    if connections[users.db].vendor == "postgresql":
        line = (_json_line if jsonl else _csv_line)(users.model, fields)
        body = _copied(users.db, *_blocks_copy(record, fields, line))
        return body if jsonl else chain([(",".join(fields) + "\n").encode()], body)
    values = users.values(*fields).iterator(chunk_size=2000)
    return json_lines(values) if jsonl else csv_lines(values, fields)


# --- PostgreSQL: one COPY row per block of the record -----------------------------------


def _json_value(field: models.Field, column: str) -> str:
    """One field's JSON value, as row_to_json writes it. Cheaper than row_to_json: a uuid,
    boolean or integer is written by its text cast, without JSON's escaping of strings."""
    if isinstance(field, models.UUIDField):
        value = f"'\"' || {column}::text || '\"'"
    elif isinstance(field, models.BooleanField | models.IntegerField):
        value = f"{column}::text"
    else:
        value = f"to_json({column})::text"
    return f"COALESCE({value}, 'null')"


def _json_line(model, fields: tuple[str, ...]) -> str:
    # Compact JSON with every control character escaped: a line never holds a raw newline.
    members = [f"'\"{name}\":' || {_json_value(model._meta.get_field(name), _column(name))}" for name in fields]
    return "'{' || " + " || ',' || ".join(members) + " || '}'"


def _csv_value(field: models.Field, column: str) -> str:
    """One field's CSV cell, as the Python encoder writes it: booleans true / false, dates
    ISO, NULL and the empty string both an empty cell; text quoted (its quotes doubled)
    where it holds a comma, a quote or a line break."""
    if isinstance(field, models.BooleanField | models.UUIDField | models.IntegerField):
        return f"COALESCE({column}::text, '')"
    if isinstance(field, models.DateField):
        return f"COALESCE(to_char({column}, 'YYYY-MM-DD'), '')"
    text = f"{column}::text"
    quoted = f"'\"' || replace({text}, '\"', '\"\"') || '\"'"
    return f"COALESCE(CASE WHEN {text} ~ '[\",\\r\\n]' THEN {quoted} ELSE {text} END, '')"


def _csv_line(model, fields: tuple[str, ...]) -> str:
    return " || ',' || ".join(_csv_value(model._meta.get_field(name), _column(name)) for name in fields)


def _column(name: str) -> str:
    return f'exported."{name}"'


def _blocks_copy(record: AccessRecord, fields: tuple[str, ...], line: str) -> tuple[str, list]:
    """Per block of the record, in span order, its users' lines as one bytea value; the
    users of a block are the stream's users (the same selector) among the block's ids."""
    blocks, block_params = access_record_blocks_sql(record=record)
    of_block = users_recorded_for_stream(user_ids=RawSQL("SELECT unnest(block.user_ids)", [])).filter(
        pk__gte=RawSQL("block.span * %s", [BLOCK_SPAN]), pk__lt=RawSQL("(block.span + 1) * %s", [BLOCK_SPAN])
    )
    sql, params = of_block.order_by().values("id", *fields).query.sql_with_params()
    names = ", ".join(connections[of_block.db].ops.quote_name(name) for name in ("id", *fields))
    lines = f"string_agg({line} || E'\\n', '' ORDER BY exported.id)"
    select = (
        f"SELECT convert_to(chunk.lines, 'UTF8') FROM ({blocks}) AS block CROSS JOIN LATERAL "  # noqa: S608 (compiled by the ORM)
        f"(SELECT {lines} AS lines FROM ({sql}) AS exported({names})) AS chunk ORDER BY block.span"
    )
    return f"COPY ({select}) TO STDOUT WITH (FORMAT binary)", [*block_params, *params]


def _copied(using: str, statement: str, params: list) -> Iterator[bytes]:
    """The COPY's rows: one bytea value each, sent as it is.

    Planned for many rows: the planner guesses ten ids per block (the array's length is
    unknown to it) and would probe users one by one through nested loops; within a block
    a hash or merge join over the block's range of ids suits. JIT compilation, which the
    cost estimate may turn on, costs ~0.15 s and saves nothing here."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")
        with cursor.cursor.copy(statement, params) as copy:
            copy.set_types(["bytea"])
            for (chunk,) in copy.rows():
                if chunk:  # NULL: a block none of whose users is sent any more
                    yield chunk


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
