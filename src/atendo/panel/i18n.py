"""Translations (Babel catalogs) and operator-local formatting.

The catalogs are the ``.po`` files under ``locale/``; they are compiled into memory at import
(``babel.messages.mofile``), so a checkout needs no build step. Source strings are English;
``pt_BR`` is the default language of an operator.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"pt_BR": "Português (Brasil)", "en": "English"}
DEFAULT_LANGUAGE = "pt_BR"


@cache
def translations(language: str) -> Translations:
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, *, language: str, tz: str, short: bool = False) -> str:
    """A datetime in the operator's zone and language ("25/11/2026 14:03" or "14:03" today)."""
    if value is None:
        return ""
    local = value.astimezone(zone(tz))
    locale = language if language in LANGUAGES else DEFAULT_LANGUAGE
    if short:
        now = datetime.now(local.tzinfo)
        pattern = "HH:mm" if local.date() == now.date() else "dd MMM"
        return format_datetime(local, pattern, locale=locale)
    return format_datetime(local, "dd/MM/yyyy HH:mm:ss", locale=locale)
