"""The German catalog: every string of the hub translated, and the compiled file current."""

import gettext
import re
from pathlib import Path

from django.conf import settings

CATALOG = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"


def entries() -> list[tuple[str, str, str, bool]]:
    """(msgid, msgid_plural, msgstr or msgstr[0], fuzzy) of every entry, header excluded."""
    text = (CATALOG / "django.po").read_text(encoding="utf-8")
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        fields, current = {}, None
        for line in lines:
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?|msgctxt) "(.*)"$', line)
            if match:
                current = match.group(1).replace("[0]", "")  # msgstr[1] and on: kept apart
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            found.append((fields["msgid"], fields.get("msgid_plural", ""), fields.get("msgstr", ""), fuzzy))
    return found


def test_every_string_has_a_german_translation():
    missing = [msgid for msgid, _, msgstr, fuzzy in entries() if not msgstr or fuzzy]
    assert not missing, f"translate these in locale/de/LC_MESSAGES/django.po: {missing}"


def test_the_compiled_catalog_holds_every_translation():
    with (CATALOG / "django.mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)
    stale = [
        msgid
        for msgid, plural, msgstr, _ in entries()
        if "\\" not in msgid and (catalog.ngettext(msgid, plural, 1) if plural else catalog.gettext(msgid)) != msgstr
    ]
    assert not stale, f"run msgfmt -o locale/de/LC_MESSAGES/django.mo locale/de/LC_MESSAGES/django.po: {stale[:5]}"
