"""Where a visitor is, for the operator: the page they are on, how they came to the site, their
browser, system and language. The widget sends it with each message; it is kept, structured,
on the client (``Client.visitor``, returned by the API as ``visitor``) and written again only
when it changes (the visitor moved to another page).

The browser and the system are read from the User-Agent by a few ordered rules (the names of
the common browsers and systems are proper nouns; nothing here is a sentence to translate).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from atendo.kit.clock import iso, utcnow

MAX_URL = 1000
MAX_SHORT = 200
FIELDS = ("page_url", "page_title", "referrer", "browser", "os", "device", "language", "timezone")

# (name, pattern whose first group is the version); the first that matches wins: Edge and
# Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Yandex", re.compile(r"YaBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"(?:iPhone|iPad|iPod).*? OS (\d+)(?:_(\d+))?")),
    ("Android", re.compile(r"Android (\d+)(?:\.(\d+))?")),
    ("Windows", re.compile(r"Windows NT (\d+)\.(\d+)")),
    ("ChromeOS", re.compile(r"CrOS \S+ (\d+)")),
    ("macOS", re.compile(r"Mac OS X (\d+)[_.](\d+)")),
    ("Linux", re.compile(r"Linux()")),
)
_WINDOWS = {"10.0": "10/11", "6.3": "8.1", "6.2": "8", "6.1": "7"}


def browser_of(agent: str) -> str:
    """``Chrome 156``, ``Firefox 128``, … or "" when unknown."""
    for name, pattern in _BROWSERS:
        found = pattern.search(agent)
        if found:
            return f"{name} {found.group(1)}"
    return ""


def system_of(agent: str) -> str:
    """``Android 14``, ``iOS 17.4``, ``Windows 10/11``, ``macOS 10.15``, ``Linux``, … or ""."""
    for name, pattern in _SYSTEMS:
        found = pattern.search(agent)
        if not found:
            continue
        parts = [p for p in found.groups() if p]
        if name == "Windows":
            return f"Windows {_WINDOWS.get('.'.join(parts), '.'.join(parts))}"
        return f"{name} {'.'.join(parts)}".strip()
    return ""


def device_of(agent: str) -> str:
    """``phone``, ``tablet`` or ``desktop`` (a code: the panel words it)."""
    if "iPad" in agent or "Tablet" in agent or ("Android" in agent and "Mobile" not in agent):
        return "tablet"
    if "Mobi" in agent or "iPhone" in agent:
        return "phone"
    return "desktop"


def _url(value: str) -> str:
    """An http(s) address, or "" (never a ``javascript:`` link in the panel)."""
    value = value.strip()[:MAX_URL]
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return ""
    return value if scheme in ("http", "https") else ""


def _short(value: str) -> str:
    return " ".join(value.split())[:MAX_SHORT]


def whereabouts(meta: dict[str, Any]) -> dict[str, str]:
    """The widget's ``meta`` (page, title, referrer, browser: the User-Agent, language,
    timezone) → the stored fields; empty ones left out."""

    def text(key: str) -> str:
        value = meta.get(key)
        return value if isinstance(value, str) else ""

    agent = text("browser")[:500]
    out = {
        "page_url": _url(text("page")),
        "page_title": _short(text("title")),
        "referrer": _url(text("referrer")),
        "browser": browser_of(agent),
        "os": system_of(agent),
        "device": device_of(agent) if agent else "",
        "language": _short(text("language"))[:35],
        "timezone": _short(text("timezone"))[:64],
    }
    if agent:
        out["user_agent"] = agent
    return {k: v for k, v in out.items() if v}


def updated(current: dict[str, Any] | None, seen: dict[str, str]) -> dict[str, Any] | None:
    """The client's new ``visitor`` value, or None when what the widget sent changes nothing
    (the same page in the same browser: no write)."""
    if not seen:
        return None
    before = {k: v for k, v in (current or {}).items() if k != "seen"}
    if seen == before:
        return None
    return {**seen, "seen": iso(utcnow())}
