"""The signed-in operator's own page: language and time zone, password, and their sessions
(end one, or sign out everywhere)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from atendo.core.channels.service import (
    get_channel,
    list_channels,
    operator_signature,
    set_operator_signature,
)
from atendo.core.channels.signatures import clean_signature
from atendo.core.errors import DomainError
from atendo.core.operators.service import change_own_password, time_zones, update_operator
from atendo.core.operators.sessions import end_operator_sessions, end_own_session, list_sessions
from atendo.core.team.statuses import note_activity, parse_status, set_operator_status
from atendo.kit.clock import utcnow
from atendo.panel.auth import PanelUser, clear_session, current_user, runtime_of, write
from atendo.panel.i18n import LANGUAGES, translations, zone_choices
from atendo.panel.render import render, say
from atendo.panel.views import composer_fields

router = APIRouter()
Me = Annotated[PanelUser, Depends(current_user)]

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))  # fmt: skip
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))  # fmt: skip


def device_label(user_agent: str) -> str:
    """ "Chrome · Linux" from a User-Agent; the raw string is kept for the title."""
    browser = next((name for key, name in _BROWSERS if key in user_agent), "")
    system = next((name for key, name in _SYSTEMS if key in user_agent), "")
    return " · ".join(part for part in (browser, system) if part) or user_agent[:40]


def _page(
    request: Request,
    user: PanelUser,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    with runtime_of(request).db.reading() as session:
        sessions = list_sessions(session, company_id=user.company_id, operator_id=user.id)
        signatures = [
            (
                c,
                operator_signature(
                    session, company_id=user.company_id, channel_id=c.id, operator_id=user.id
                ),
            )
            for c in list_channels(session, company_id=user.company_id)[0]
            if "signature" in composer_fields(c)
        ]
    now = utcnow()
    context = {
        "nav": "me",
        "error": error,
        "notice": notice,
        "now": now,
        "zones": zone_choices(time_zones(), user.timezone, now, user.language),
        "sessions": sessions,
        "signatures": signatures,
        "device_label": device_label,
    }
    return render(request, "preferences.html", context, user=user, status_code=status)


@router.get("/me")
def preferences_page(request: Request, user: Me) -> Response:
    _ = translations(user.language).gettext
    notices = {
        "saved": _("Preferences saved."),
        "password": _("Password changed. Your other sessions were ended."),
        "ended": _("Session ended."),
    }
    return _page(request, user, notice=notices.get(request.query_params.get("done", ""), ""))


def _back(request: Request, fallback: str) -> str:
    """Where a header form returns to: the page it was sent from, on this site only."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return fallback
    path = referer.path or fallback
    if not path.startswith("/") or path.startswith("//"):
        return fallback
    return path + (f"?{referer.query}" if referer.query else "")


@router.post("/me/preferences")
def save_preferences(
    request: Request,
    user: Me,
    language: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    from_page: Annotated[str, Form()] = "",
) -> Response:
    if timezone and timezone not in time_zones():
        _ = translations(user.language).gettext
        return _page(request, user, error=_("Choose a time zone from the list."), status=422)
    with write(request, user) as session:
        update_operator(
            session,
            company_id=user.company_id,
            operator_id=user.id,
            language=language if language in LANGUAGES else None,
            timezone=timezone or None,
        )
    back = "/me?done=saved" if from_page == "me" else _back(request, "/chats")
    return RedirectResponse(back, status_code=303)


@router.post("/me/password")
def change_password(
    request: Request,
    user: Me,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    _ = translations(user.language).gettext
    if new != confirm:
        return _page(request, user, error=_("The two new passwords differ."), status=422)
    if len(new) < 8:
        msg = _("The new password needs at least 8 characters.")
        return _page(request, user, error=msg, status=422)
    try:
        with write(request, user) as session:
            change_own_password(
                session,
                company_id=user.company_id,
                operator_id=user.id,
                current=current,
                new=new,
                keep_session_id=user.session_id,
            )
    except DomainError:
        return _page(request, user, error=_("The current password is wrong."), status=422)
    return RedirectResponse("/me?done=password", status_code=303)


@router.post("/me/sessions/{session_id}/end")
def end_one(request: Request, session_id: int, user: Me) -> Response:
    with write(request, user) as session:
        end_own_session(
            session, company_id=user.company_id, operator_id=user.id, session_id=session_id
        )
    if session_id == user.session_id:
        return _signed_out()
    return RedirectResponse("/me?done=ended", status_code=303)


@router.post("/me/sign-out-everywhere")
def sign_out_everywhere(request: Request, user: Me) -> Response:
    with write(request, user) as session:
        end_operator_sessions(session, company_id=user.company_id, operator_id=user.id)
    return _signed_out()


def _signed_out() -> Response:
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response


@router.post("/me/status")
def choose_status(request: Request, user: Me, status: Annotated[str, Form()] = "") -> Response:
    """The status chooser in the header."""
    with write(request, user) as session:
        set_operator_status(
            session,
            company_id=user.company_id,
            operator_id=user.id,
            status=parse_status(status),
        )
    if request.headers.get("hx-request"):
        return Response(status_code=204)
    return RedirectResponse(_back(request, "/chats"), status_code=303)


@router.post("/me/activity")
def activity(request: Request, user: Me) -> Response:
    """The page saw the operator's hands (keys, clicks) since its last beat: the inactivity
    timeout starts again."""
    with runtime_of(request).db.transaction() as session:
        note_activity(session, company_id=user.company_id, operator_id=user.id)
    return Response(status_code=204)


@router.post("/me/notifications")
def notifications(request: Request, user: Me, enabled: Annotated[str, Form()] = "") -> Response:
    with write(request, user) as session:
        update_operator(
            session,
            company_id=user.company_id,
            operator_id=user.id,
            notifications=enabled in ("1", "on", "true"),
        )
    return RedirectResponse("/me?done=saved", status_code=303)


@router.post("/me/signatures")
async def own_signatures(request: Request, user: Me) -> Response:
    """The operator's own signature on each channel that signs (``signature:<channel id>``)."""
    form = await request.form()
    _ = translations(user.language).gettext
    try:
        with write(request, user) as session:
            for key, value in form.multi_items():
                if not key.startswith("signature:") or not key[10:].isdigit():
                    continue
                channel = get_channel(session, company_id=user.company_id, channel_id=int(key[10:]))
                set_operator_signature(
                    session, channel=channel, operator_id=user.id, text=clean_signature(str(value))
                )
    except DomainError as exc:
        return _page(request, user, error=say(request, exc), status=exc.status_code)
    return _page(request, user, notice=_("Your signatures were saved."))
