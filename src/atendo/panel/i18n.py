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


# The regions a person looks for their city in; the legacy aliases (US/…, Brazil/…, EST…) stay
# valid when set through the API but are not offered.
REGIONS = (
    "America", "Europe", "Africa", "Asia", "Atlantic", "Indian", "Pacific", "Australia",
    "Antarctica", "Arctic",
)  # fmt: skip


def utc_offset(name: str, at: datetime) -> str:
    """ "UTC−03:00" for a zone at a moment (offsets move with daylight saving)."""
    offset = at.astimezone(zone(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "\u2212"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def zone_choices(
    names: tuple[str, ...], current: str, at: datetime
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones grouped by region for a <select>: (region, [(value, label)]). The current
    zone is always offered, even when it is an alias outside the regions."""
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in REGIONS}
    for name in names:
        region, _sep, city = name.partition("/")
        if city and region in groups:
            label = f"{city.replace('_', ' ').replace('/', ' / ')} ({utc_offset(name, at)})"
            groups[region].append((name, label))
    offered = {value for rows in groups.values() for value, _label in rows}
    extra = ["UTC"] if current == "UTC" or current in offered else ["UTC", current]
    first = [(name, f"{name} ({utc_offset(name, at)})") for name in extra]
    return [("UTC", first), *((region, rows) for region, rows in groups.items() if rows)]
