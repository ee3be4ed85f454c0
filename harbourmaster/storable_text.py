"""Text PostgreSQL can store: no NUL character, no half of a UTF-16 surrogate pair.

JSON can spell both as escapes (``\\u0000``, ``\\ud800``), and Python decodes them into
strings that ``text`` and ``jsonb`` columns refuse, failing the statement that writes them
(and the rest of its transaction), or, quoted back in an error, the answer that echoes
them. The API's JSON parser and the import's row reader refuse such input up front.
"""

import re

# What a JSON text must contain to decode to such a string; most texts contain neither,
# and are not walked at all. JSON spells the escape's \u in lower case only.
_ESCAPE = re.compile(r"\\u(?:0000|[dD])")


def json_text_may_hold_unstorable(text: str) -> bool:
    return _ESCAPE.search(text) is not None


def holds_unstorable(data) -> bool:
    """Whether a key or string anywhere in decoded JSON holds NUL or a lone surrogate.
    Walked with a list, not recursion, so a deep value cannot overflow the stack here."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not _storable(value):
            return True
    return False


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
