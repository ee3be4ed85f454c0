"""The API's JSON parsers: DRF's, refusing with a 400 the bodies it would let through to a 500.

DRF's JSONParser turns only ValueError into a ParseError. A deeply nested body raises
RecursionError in the decoder instead; one nested less deeply than the decoder's limit
still overflows later, in any Python code that walks it (deepcopy, the tenant config's
schema check, merge patch). A NUL or lone surrogate escape (``"\\u0000"``, ``"\\ud800"``)
decodes to a string that can be neither stored nor, for the surrogate, quoted back in an
error (harbourmaster.storable_text).
"""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from harbourmaster.storable_text import holds_unstorable, json_text_may_hold_unstorable

# Far deeper than any body of the API needs (a tenant config nests three levels).
MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - the body nests deeper than {MAX_DEPTH} levels."
UNSTORABLE = "JSON parse error - the body holds a NUL character or a lone surrogate, which cannot be stored."


class JSONParser(parsers.JSONParser):
    """application/json, nested at most MAX_DEPTH levels, and valid Unicode text."""

    def parse(self, stream, media_type=None, parser_context=None):
        text, data = self._decode(stream, parser_context or {})
        if _may_nest_deeper(text) and _nests_deeper(data):
            raise ParseError(TOO_DEEP)
        if json_text_may_hold_unstorable(text) and holds_unstorable(data):
            raise ParseError(UNSTORABLE)
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
