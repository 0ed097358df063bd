"""Every string the panel translates is in both catalogs, and pt-BR has a translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

PANEL = Path(__file__).resolve().parents[2] / "src" / "atendo" / "panel"
CALL = re.compile(r"""(?:\b_|gettext)\(\s*(["'])((?:\\.|(?!\1).)*)\1\s*\)""")


def used_strings() -> set[str]:
    found = set()
    for path in [*PANEL.rglob("*.html"), *PANEL.rglob("*.py")]:
        for match in CALL.finditer(path.read_text()):
            found.add(match[2].replace("\\'", "'").replace('\\"', '"'))
    return found


def catalog(language: str) -> dict[str, str]:
    with (PANEL / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return {str(m.id): str(m.string) for m in read_po(fp) if m.id}


def test_every_panel_string_is_translated_to_portuguese() -> None:
    used = used_strings()
    assert len(used) > 100
    pt = catalog("pt_BR")
    assert sorted(s for s in used if not pt.get(s)) == []
    assert sorted(used - set(catalog("en"))) == []


def test_translations_keep_their_placeholders() -> None:
    for source, text in catalog("pt_BR").items():
        assert re.findall(r"%\(\w+\)s", source) == re.findall(r"%\(\w+\)s", text), source
