"""Every string the panel translates is in every catalog with a translation, every error code
has a sentence, and the sentences keep their placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from atendo.core.errors import CODES
from atendo.panel.errors import REASONS, SENTENCES
from atendo.panel.i18n import LANGUAGES

PANEL = Path(__file__).resolve().parents[2] / "src" / "atendo" / "panel"
CALL = re.compile(
    r"""(?:(?:\b_|\bN_|gettext)\(|\b_t\(\s*request,)\s*(["'])((?:\\.|(?!\1).)*)\1\s*\)"""
)
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def used_strings() -> set[str]:
    found = set()
    for path in [*PANEL.rglob("*.html"), *PANEL.rglob("*.py")]:
        for match in CALL.finditer(path.read_text()):
            found.add(match[2].replace("\\'", "'").replace('\\"', '"'))
    return found | set(SENTENCES.values()) | {msgid for _pattern, msgid in REASONS}


def catalog(language: str) -> dict[str, str]:
    with (PANEL / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return {str(m.id): str(m.string) for m in read_po(fp) if m.id}


def test_the_panel_speaks_three_languages() -> None:
    assert set(LANGUAGES) == {"pt_BR", "en", "es"}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_panel_string_is_translated(language: str) -> None:
    used = used_strings()
    assert len(used) > 300
    translated = catalog(language)
    assert sorted(s for s in used if not translated.get(s)) == []
    assert sorted(used - set(catalog("en"))) == []


def test_every_error_code_has_a_sentence() -> None:
    assert sorted(set(CODES) - set(SENTENCES)) == []
    assert sorted(set(SENTENCES) - set(CODES)) == []


def test_every_raised_error_names_a_known_code() -> None:
    src = PANEL.parent
    raised = set()
    for path in src.rglob("*.py"):
        raised |= set(re.findall(r"""\bcode="([a-z_.]+)\"""", path.read_text()))
    assert raised, "no error codes found"
    assert sorted(raised - set(CODES)) == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_their_placeholders(language: str) -> None:
    for source, text in catalog(language).items():
        assert sorted(re.findall(r"%\(\w+\)s", source)) == sorted(re.findall(r"%\(\w+\)s", text)), (
            source
        )
