"""Contas e Canais: "Conectar com Google / Microsoft" and "Reconectar" (OAuth mailboxes).

``GET /settings/channels/oauth/{provider}`` starts the flow through the transport seam with the
servers the form holds (app.js adds them to the link; without them the provider's own) or a
``channel_id`` to reconnect, sets the cookie that binds the flow to this browser and sends the
browser to the provider's consent page. A link, not a form: the panel's CSP allows forms only
to the panel itself, and a top-level navigation may leave it. The provider sends the browser
back to ``/oauth/callback`` (the API's), which returns here: :func:`oauth_notice` words the
outcome on the channels page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from atendo.core.errors import DomainError
from atendo.panel.auth import PanelUser, admin_user, runtime_of
from atendo.panel.errors import REASONS, SENTENCES, reason_text
from atendo.panel.render import _t, say
from atendo.transports import registry
from atendo.transports.base import set_oauth_cookie

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]
BACK = "/settings/channels"
# The form's fields a flow takes (the rest of the channel's settings keep their defaults).
FIELDS = (
    "email", "name", "sender_name", "imap_host", "imap_port", "imap_security", "smtp_host",
    "smtp_port", "smtp_security", "send_delay", "import_days",
)  # fmt: skip


@router.get("/settings/channels/oauth/{provider}")
def oauth_start(request: Request, provider: str, user: Admin) -> Response:
    query = request.query_params
    data: dict[str, Any] = {k: query[k].strip() for k in FIELDS if query.get(k, "").strip()}
    channel = query.get("channel_id", "")
    try:
        started = registry.get("email").oauth_start(
            runtime_of(request),
            company_id=user.company_id,
            provider=provider,
            data=data,
            channel_id=int(channel) if channel.isdigit() else None,
            return_to=BACK,
        )
    except DomainError as exc:
        back = urlencode({"oauth_error": exc.code, "provider": provider})
        return RedirectResponse(f"{BACK}?{back}", status_code=303)
    response = RedirectResponse(started.authorize_url, status_code=303)
    set_oauth_cookie(response, started, secure=runtime_of(request).settings.session_cookie_secure)
    return response


def oauth_notice(request: Request) -> dict[str, Any] | None:
    """How a flow that came back here ended, in the admin's language (None: none did)."""
    query = request.query_params
    if query.get("oauth") == "connected":
        return {"ok": True, "text": _t(request, "The mailbox is connected."), "reasons": []}
    code = query.get("oauth_error")
    if not code:
        return None
    # Only what this site would have said: a known code, a known provider, known sentences
    # (a link someone else made must not put its own words on the page).
    label = {"google": "Google", "microsoft": "Microsoft"}.get(query.get("provider", ""), "")
    error = DomainError("", code=code if code in SENTENCES else "oauth.state")
    error.params = {"provider": label}
    reasons = [
        f"{side.upper()}: {reason_text(query[side], lambda s: _t(request, s))}"
        for side in ("imap", "smtp")
        if _known(query.get(side, ""))
    ]
    return {"ok": False, "text": say(request, error), "reasons": reasons}


def _known(text: str) -> bool:
    """One of the panel's known reasons, carrying nothing of its own (no free-text part)."""
    for pattern, _msgid in REASONS:
        match = pattern.match(text)
        if match and not any(match.groupdict().values()):
            return True
    return False
