"""Connecting a mailbox by OAuth 2.0 [ext]: ``POST /v1/channels/oauth`` starts the flow, the
provider sends the browser back to ``GET /oauth/callback`` (the redirect URI to register).

The start answers the provider's authorization URL and sets a cookie (``atendo_oauth``,
HttpOnly, SameSite=Lax, path ``/oauth``) that binds the flow to the browser that follows
it: the callback refuses a flow whose cookie is missing (a link someone else was sent). The
panel starts the same flow through the same transport method. The callback answers JSON (the
channel object, or the error) unless the flow named a page of this site to go back to; then it
redirects there with ``?oauth=connected&channel_id=…`` or ``?oauth_error=<reason>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from atendo.api.context import ApiContext, api_context, get_runtime
from atendo.api.envelope import error, ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import obj
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.base import OAUTH_COOKIE, OAUTH_COOKIE_PATH, set_oauth_cookie

router = APIRouter(tags=["channels"])

STARTED = obj({}, ext={"authorize_url": "string", "redirect_uri": "string"})


@router.post(
    "/v1/channels/oauth",
    **doc(
        "Start connecting a Google or Microsoft mailbox by OAuth 2.0: the URL of the "
        "provider's consent page (open it in the browser that received this answer's cookie)",
        [
            Param("provider", "string", "google or microsoft", required=True),
            Param("channel_id", "integer", "reconnect this channel instead of adding one"),
            Param("name", "string", "the new channel's name", max_length=200),
            Param("email", "string", "the mailbox address (a hint for the provider's page)"),
            Param("imap_host", "string", "IMAP server (default: the provider's)"),
            Param("imap_port", "integer", "IMAP port"),
            Param("imap_security", "string", "ssl, starttls or none"),
            Param("smtp_host", "string", "SMTP server (default: the provider's)"),
            Param("smtp_port", "integer", "SMTP port"),
            Param("smtp_security", "string", "ssl, starttls or none"),
        ],
        body=True,
        ext=True,
        data=STARTED,
    ),
)
def start(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    provider = ctx.params.text("provider") or ""
    data: dict[str, Any] = {k: ctx.params.raw(k) for k in ctx.params.names()}
    for key in ("provider", "channel_id", "return_to"):
        data.pop(key, None)
    started = registry.get("email").oauth_start(
        ctx.runtime,
        company_id=ctx.company_id,
        provider=provider,
        data=data,
        channel_id=ctx.params.integer("channel_id"),
    )
    response = ok({"authorize_url": started.authorize_url, "redirect_uri": started.redirect_uri})
    set_oauth_cookie(response, started, secure=ctx.runtime.settings.session_cookie_secure)
    return response


@router.get("/oauth/callback", include_in_schema=False)
async def callback(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    query = request.query_params
    done = await registry.get("email").oauth_finish(
        runtime,
        state=query.get("state", ""),
        code=query.get("code"),
        error=query.get("error"),
        binding=request.cookies.get(OAUTH_COOKIE),
    )
    response: Response
    if done.return_to is not None:
        if done.channel is not None:
            back = {"oauth": "connected", "channel_id": str(done.channel.id)}
        else:  # the reason's code, and the connection test's sentences (never server words)
            problem = done.problem
            back = {"oauth_error": problem.code if problem is not None else "oauth.state"}
            for side in ("imap", "smtp"):
                said = problem.errors.get(side) if problem is not None else None
                if said:
                    back[side] = said[0]
        response = RedirectResponse(f"{done.return_to}?{urlencode(back)}", status_code=303)
    elif done.channel is not None:
        channel = registry.get(done.channel.transport).channel_fields(done.channel)
        response = ok(channel, status_code=201 if done.created else 200)
    else:
        problem = done.problem
        response = error(
            str(problem) if problem is not None else "The sign-in could not be finished",
            status_code=422,
            errors=getattr(problem, "errors", None) or {"oauth": [done.error or "state"]},
            code=problem.code if problem is not None else "oauth.state",
        )
    response.delete_cookie(OAUTH_COOKIE, path=OAUTH_COOKIE_PATH)
    return response
