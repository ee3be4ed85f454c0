"""Reading an upload: its rows, each with the line it starts on, in the single push's terms.

A JSON Lines row is an object with the push's fields and an optional ``consents`` list.
A CSV file has a header of the push's field names, plus one ``consent:<purpose>`` column
per purpose (cells ``grant``, ``withdraw`` or empty) and ``consent_occurred_at``. Empty
CSV cells are left out: CSV cannot tell "empty" from "not sent".
"""

import csv
import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from rest_framework import serializers

from accounts.api.serializers import UserPushSerializer
from accounts.imports.validation import row_validated_fast
from consents.models import ConsentRecord
from harbourmaster.api.errors import _flatten as problem_paths
from harbourmaster.api.views import StrictSerializer
from harbourmaster.storable_text import holds_unstorable, json_text_may_hold_unstorable

CONSENT_COLUMN_PREFIX = "consent:"
CONSENT_TIME_COLUMN = "consent_occurred_at"
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,63}$")
_CONSENT_PATH = re.compile(r"^/consents/(\d+)(/.*)?$")


class UploadInvalid(Exception):
    """The upload as a whole cannot be read (no rows, a bad CSV header): refused with 400."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(errors)
        self.errors = errors


class RowRefused(Exception):
    """One row is not applied; ``errors`` say why, as ``{"path", "message"}``."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(errors)
        self.errors = errors


class ImportConsentSerializer(StrictSerializer):
    purpose = serializers.SlugField(max_length=63)
    action = serializers.ChoiceField(choices=ConsentRecord.Action.choices)
    version = serializers.IntegerField(min_value=1, required=False)
    occurred_at = serializers.DateTimeField()
    source = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs["action"] == ConsentRecord.Action.WITHDRAW and "version" in attrs:
            raise serializers.ValidationError({"version": "a withdrawal is of the purpose, not of a version"})
        return attrs


class ImportRowSerializer(UserPushSerializer):
    consents = ImportConsentSerializer(many=True, required=False)


_serializers = threading.local()


def _row_serializer() -> ImportRowSerializer:
    """One serializer per thread for every row: building a serializer's fields costs more
    than validating a row with them. Validation keeps no state on the serializer."""
    if not hasattr(_serializers, "row"):
        _serializers.row = ImportRowSerializer()
    return _serializers.row


@dataclass(frozen=True)
class Row:
    line: int
    data: dict | None
    unreadable: str = ""
    # CSV only: the purpose slug behind each entry of data["consents"], to name its column.
    consent_columns: tuple[str, ...] = field(default=())

    def validated(self) -> dict:
        if self.data is None:
            raise RowRefused([{"path": "/", "message": self.unreadable}])
        serializer = _row_serializer()
        fast = row_validated_fast(serializer, self.data)
        if fast is not None:
            return fast
        try:
            return dict(serializer.run_validation(self.data))
        except serializers.ValidationError as error:
            raise RowRefused(problem_paths(error.detail, [])) from None

    def described(self, errors: list[dict[str, str]]) -> list[dict[str, str]]:
        """Errors with CSV consent paths turned into the column they came from."""
        if not self.consent_columns:
            return errors
        return [{**error, "path": self._column_path(error["path"])} for error in errors]

    def _column_path(self, path: str) -> str:
        match = _CONSENT_PATH.match(path)
        if match is None:
            return path
        if match.group(2) == "/occurred_at":
            return f"/{CONSENT_TIME_COLUMN}"
        return f"/{CONSENT_COLUMN_PREFIX}{self.consent_columns[int(match.group(1))]}"


def rows_read(*, format: str, body: str, after_line: int = 0) -> Iterator[Row]:
    """The rows of an upload that start after ``after_line``, blank lines skipped."""
    rows = _jsonl_rows(body) if format == "jsonl" else _csv_rows(body)
    return (row for row in rows if row.line > after_line)


def upload_summary(*, format: str, body: str) -> tuple[int, bool]:
    """How many rows the upload has and whether any carries consents; UploadInvalid if it
    cannot be read at all."""
    total, carries_consents = 0, False
    for row in rows_read(format=format, body=body):
        total += 1
        carries_consents = carries_consents or bool(row.data and row.data.get("consents"))
    if total == 0:
        raise UploadInvalid([{"path": "/", "message": "the upload has no rows"}])
    return total, carries_consents


def _jsonl_rows(body: str) -> Iterator[Row]:
    # Split on newlines only: JSON strings may hold U+2028, which str.splitlines() splits on.
    for number, text in enumerate(body.split("\n"), start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            # Refused whole: stored, or quoted in its own error report, it would fail its
            # batch's statement and take the other rows with it.
            storable = not json_text_may_hold_unstorable(text) or not holds_unstorable(data)
        except ValueError as error:
            yield Row(number, None, f"not valid JSON: {error}")
            continue
        except RecursionError:
            yield Row(number, None, "not valid JSON: nested too deeply")
            continue
        if not isinstance(data, dict):
            yield Row(number, None, "a line must hold one JSON object")
        elif not storable:
            yield Row(number, None, UNSTORABLE)
        else:
            yield Row(number, data)


UNSTORABLE = "holds a NUL character or a lone surrogate (\\u0000, \\ud800-\\udfff), which cannot be stored"


def _csv_rows(body: str) -> Iterator[Row]:
    # strict: a quote that never closes is an error reported at its row, not a cell that
    # quietly holds the rest of the file.
    reader = csv.reader(io.StringIO(body, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as error:  # a header whose quote never closes
        raise UploadInvalid([{"path": "/", "message": f"the header is not valid CSV: {error}"}]) from None
    _csv_header_check(header)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Row(start, None, _csv_error(error, start=start, end=reader.line_num))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield Row(line, None, f"expected {len(header)} cells as in the header, found {len(cells)}")
            continue
        yield _csv_row(line, header, cells)


def _csv_error(error: csv.Error, *, start: int, end: int) -> str:
    if end > start and "unexpected end of data" in str(error):  # it read to the end, looking for the quote
        return f"not valid CSV: {error}; a quote opened on this line never closes, so lines {start}-{end} were not imported"
    return f"not valid CSV: {error}"


def _csv_header_check(header: list[str]) -> None:
    if not any(header):
        raise UploadInvalid([{"path": "/", "message": "a CSV upload starts with a header of column names"}])
    known = set(ImportRowSerializer().fields) - {"consents"} | {CONSENT_TIME_COLUMN}
    errors = [{"path": f"/{name}", "message": "unknown column"} for name in header if not _column_known(name, known)]
    twice = sorted({name for name in header if header.count(name) > 1})
    errors += [{"path": f"/{name}", "message": "column appears twice"} for name in twice]
    if errors:
        raise UploadInvalid(errors)


def _column_known(name: str, known: set[str]) -> bool:
    if name.startswith(CONSENT_COLUMN_PREFIX):
        return bool(_SLUG.match(name.removeprefix(CONSENT_COLUMN_PREFIX)))
    return name in known


def _csv_row(line: int, header: list[str], cells: list[str]) -> Row:
    values = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if cell.strip()}
    occurred_at = values.pop(CONSENT_TIME_COLUMN, None)
    data, consents, slugs = {}, [], []
    for name, value in values.items():
        if not name.startswith(CONSENT_COLUMN_PREFIX):
            data[name] = value
            continue
        slug = name.removeprefix(CONSENT_COLUMN_PREFIX)
        consents.append({"purpose": slug, "action": value} | ({"occurred_at": occurred_at} if occurred_at else {}))
        slugs.append(slug)
    if consents:
        data["consents"] = consents
    return Row(line, data, consent_columns=tuple(slugs))


def error_paths(error: ValidationError, path: str) -> list[dict[str, str]]:
    """A service's ValidationError as row errors, with paths under ``path`` ("" for the row)."""
    if not hasattr(error, "error_dict"):
        return [{"path": path or "/", "message": message} for message in error.messages]
    return [
        {"path": f"{path}/{name}" if name != "__all__" else path or "/", "message": message}
        for name, messages in error.message_dict.items()
        for message in messages
    ]
