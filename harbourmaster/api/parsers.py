"""The API's JSON parsers: DRF's, refusing with a 400 the bodies it would let through to a 500.

DRF's JSONParser turns only ValueError into a ParseError. A deeply nested body raises
RecursionError in the decoder instead; one nested less deeply than the decoder's limit
still overflows later, in any Python code that walks it (deepcopy, the tenant config's
schema check, merge patch). A lone surrogate escape (``"\\ud800"``) decodes to a string
that cannot be encoded as UTF-8, so it can be neither stored nor quoted back in an error.
"""

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# Far deeper than any body of the API needs (a tenant config nests three levels).
MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - the body nests deeper than {MAX_DEPTH} levels."
# Only a \uD800 to \uDFFF escape decodes to a surrogate; JSON spells \u in lower case only.
SURROGATE_ESCAPE = re.compile(r"\\u[dD]")


class JSONParser(parsers.JSONParser):
    """application/json, nested at most MAX_DEPTH levels, and valid Unicode text."""

    def parse(self, stream, media_type=None, parser_context=None):
        text, data = self._decode(stream, parser_context or {})
        if _may_nest_deeper(text) and _nests_deeper(data):
            raise ParseError(TOO_DEEP)
        if SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(data):
            raise ParseError("JSON parse error - the body is not valid Unicode text: it holds a lone surrogate.")
        return data

    def _decode(self, stream, parser_context: dict) -> tuple[str, Any]:
        """The body's text and its value, as DRF's parse reads them; too deep for the decoder is a 400 too."""
        try:
            text = stream.read().decode(parsers.get_encoding(parser_context))
            return text, json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError(TOO_DEEP) from None


class MergePatchParser(JSONParser):
    """RFC 7396 bodies (application/merge-patch+json) are JSON too."""

    media_type = "application/merge-patch+json"


def _may_nest_deeper(text: str) -> bool:
    """A body with no more brackets than MAX_DEPTH cannot nest deeper: most skip the walk."""
    return text.count("[") + text.count("{") > MAX_DEPTH


def _nests_deeper(data) -> bool:
    """Walked level by level rather than recursively, so a deep body cannot overflow the stack
    here; about as costly as decoding the body."""
    level = _containers([data])
    for _ in range(MAX_DEPTH):
        if not level:
            return False
        level = _containers(
            child for value in level for child in (value.values() if isinstance(value, dict) else value)
        )
    return bool(level)


def _containers(values) -> list:
    return [value for value in values if isinstance(value, (dict, list))]


def _holds_lone_surrogate(data) -> bool:
    """Whether a key or string anywhere in the parsed body cannot be encoded as UTF-8."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not _encodes(value):
            return True
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
