"""JSON Lines and CSV bodies for the export, produced row by row in constant memory."""

import csv
from collections.abc import Iterable, Iterator
from datetime import date

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.renderers import JSONRenderer

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
    writer = csv.writer(_Line())
    return _batched(_with_header(writer, rows, fields))


def _with_header(writer, rows: Iterable[dict], fields: tuple[str, ...]) -> Iterator[str]:
    yield writer.writerow(fields)
    for row in rows:
        yield writer.writerow([_cell(row[name]) for name in fields])
