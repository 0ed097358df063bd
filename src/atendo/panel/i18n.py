"""Translations (Babel catalogs) and operator-local formatting.

The catalogs are the ``.po`` files under ``locale/``; they are compiled into memory at import
(``babel.messages.mofile``), so a checkout needs no build step. Source strings are English;
``pt_BR`` is the default language of an operator.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import (
    format_date,
    format_skeleton,
    format_time,
    get_timezone,
    get_timezone_location,
)
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from atendo.kit.clock import utcnow

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"pt_BR": "Português (Brasil)", "en": "English", "es": "Español"}
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


def local_time(
    value: datetime | None,
    *,
    language: str,
    tz: str,
    short: bool = False,
    seconds: bool = False,
) -> str:
    """A datetime in the operator's zone and the conventions of their language, without
    seconds ("25 de nov. de 2026 14:03", "Nov 25, 2026, 2:03 PM"); ``short``: the time today,
    else the day ("14:03", "25 de nov."); ``seconds`` only where they matter (the eye's
    history)."""
    if value is None:
        return ""
    today = utcnow().astimezone(zone(tz)).date() if short else None
    return _formatted(value, language, tz, short, seconds, today)


@lru_cache(maxsize=4096)
def _formatted(
    value: datetime, language: str, tz: str, short: bool, seconds: bool, today: date | None
) -> str:
    """:func:`local_time` of ``value`` (``today``: the date in ``tz`` now, when ``short``),
    remembered: the chat list writes the same 25–50 dates on each of its refreshes, and Babel
    takes ~0.1 ms CPU a date."""
    local = value.astimezone(zone(tz))
    locale = _locale(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    if short:
        if local.date() == today:
            return format_time(local, "short", locale=locale)
        skeleton = "MMMd" if today is not None and local.year == today.year else "yMMMd"
        return format_skeleton(skeleton, local, locale=locale)
    day = format_date(local, "medium", locale=locale)
    clock = format_time(local, "medium" if seconds else "short", locale=locale)
    return f"{day} {clock}"


@cache
def _locale(language: str) -> Locale:
    """The language's Babel locale, parsed once: given by name, each Babel call parses it
    again (three times per date; the chat list writes 25–50 dates a render)."""
    return Locale.parse(language)


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


@cache
def city_name(name: str, language: str) -> str:
    """The zone's city as the operator writes it ("São Paulo", not "Sao_Paulo")."""
    fallback = name.partition("/")[2].replace("_", " ").replace("/", " / ")
    try:
        city = get_timezone_location(get_timezone(name), locale=language, return_city=True)
    except (LookupError, ValueError):
        return fallback
    return str(city) or fallback


def zone_choices(
    names: tuple[str, ...], current: str, at: datetime, language: str = DEFAULT_LANGUAGE
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones grouped by region for a <select>: (region, [(value, label)]). The current
    zone is always offered, even when it is an alias outside the regions."""
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in REGIONS}
    for name in names:
        region, _sep, city = name.partition("/")
        if city and region in groups:
            label = f"{city_name(name, language)} ({utc_offset(name, at)})"
            groups[region].append((name, label))
    offered = {value for rows in groups.values() for value, _label in rows}
    extra = ["UTC"] if current == "UTC" or current in offered else ["UTC", current]
    first = [(name, f"{name} ({utc_offset(name, at)})") for name in extra]
    return [("UTC", first), *((region, rows) for region, rows in groups.items() if rows)]
