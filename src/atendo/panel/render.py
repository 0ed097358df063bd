"""The Jinja2 environment and the page renderer (autoescaped; the translator per request)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from atendo.core.dialogs.service import TRANSFER_COMMENT_MAX
from atendo.core.errors import DomainError
from atendo.core.messages.limits import SendLimits
from atendo.core.tags.service import DEFAULT_BG, DEFAULT_TEXT, shown_color
from atendo.kit.bidi import without_bidi_controls
from atendo.kit.clock import utcnow
from atendo.panel.auth import PanelUser
from atendo.panel.errors import error_text, reason_text, size_text
from atendo.panel.failure_words import failure_words
from atendo.panel.i18n import DEFAULT_LANGUAGE, LANGUAGES, local_time, translations

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["nobidi"] = without_bidi_controls
env.globals["transfer_comment_max"] = TRANSFER_COMMENT_MAX


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: PanelUser | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    user = user or getattr(request.state, "user", None)
    language = user.language if user else _browser_language(request)
    tz = user.timezone if user else "America/Sao_Paulo"
    tr = translations(language)
    settings = request.app.state.runtime.settings

    def when(value: datetime | None, short: bool = False, seconds: bool = False) -> str:
        return local_time(value, language=language, tz=tz, short=short, seconds=seconds)

    def since(value: datetime | None) -> str:
        """How long ago, briefly: "5 min", "2 h", "3 d"."""
        if value is None:
            return ""
        minutes = max(0, int((utcnow() - value).total_seconds() // 60))
        if minutes < 60:
            return tr.gettext("%(n)s min") % {"n": minutes}
        if minutes < 48 * 60:
            return tr.gettext("%(n)s h") % {"n": minutes // 60}
        return tr.gettext("%(n)s d") % {"n": minutes // (24 * 60)}

    statuses = {
        "queued": tr.gettext("queued"),
        "sending": tr.gettext("sending…"),
        "sent": tr.gettext("sent"),
        "failed": tr.gettext("not sent"),
        "cancelled": tr.gettext("cancelled"),
        "bounced": tr.gettext("bounced"),
    }
    ctx: dict[str, Any] = {
        "operator_statuses": [
            ("working", tr.gettext("Working")),
            ("busy", tr.gettext("Busy")),
            ("break", tr.gettext("On a break")),
            *(user.custom_statuses if user else ()),
            ("offline", tr.gettext("Offline")),
        ],
        "status_label": lambda value: statuses.get(value or "", value or ""),
        "request": request,
        "user": user,
        "_": tr.gettext,
        "ngettext": tr.ngettext,
        "lang": language,
        "html_lang": language.replace("_", "-"),
        "languages": LANGUAGES,
        "when": when,
        "since": since,
        "reason": lambda text: reason_text(str(text), tr.gettext),
        "csrf": user.csrf if user else "",
        "send_limits": SendLimits(
            per_minute=settings.channel_send_per_minute, per_hour=settings.channel_send_per_hour
        ),
        "max_recipients": settings.max_recipients_per_message,
        "presence_keepalive": settings.panel_presence_keepalive,
        "tag_colors": lambda tag: (
            shown_color(tag.bg_color, DEFAULT_BG),
            shown_color(tag.text_color, DEFAULT_TEXT),
        ),
        "tag_style": lambda tag: (
            f"background: {shown_color(tag.bg_color, DEFAULT_BG)}; "
            f"color: {shown_color(tag.text_color, DEFAULT_TEXT)}"
        ),
        "size_text": lambda value: size_text(value, language),
        "failure_words": lambda text, channel=False: failure_words(
            text, tr.gettext, channel=channel
        ),
    }
    if context:
        ctx.update(context)
    body = env.get_template(template).render(ctx)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def language_of(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return user.language if user else _browser_language(request)


def _t(request: Request, text: str) -> str:
    """``text`` (a msgid) in the language of whoever asked."""
    return translations(language_of(request)).gettext(text)


def say(request: Request, exc: DomainError) -> str:
    """A domain error as a sentence in the language of whoever asked."""
    language = language_of(request)
    return error_text(exc, translations(language).gettext, language)


def _browser_language(request: Request) -> str:
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        code = part.split(";")[0].strip()
        if code.startswith("pt"):
            return "pt_BR"
        if code.startswith("es") and "es" in LANGUAGES:
            return "es"
        if code.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
