"""Plugging the panel into the FastAPI app: routers, static files, the panel's error pages."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from atendo.core.errors import DomainError
from atendo.core.lengths import TooLong
from atendo.kit.throttle import AttemptThrottle
from atendo.panel import live
from atendo.panel.auth import CsrfFailed, Forbidden, LoginRequired, read_session
from atendo.panel.headers import SecurityHeaders
from atendo.panel.render import render, say
from atendo.panel.routes import (
    automation,
    bulk,
    chats,
    clients,
    dialog,
    files,
    me,
    new_chat,
    oauth,
    settings,
    signin,
    team,
)

STATIC = Path(__file__).parent / "static"
API_PATHS = frozenset({"v1", "gateway", "openapi.json", "docs", "redoc", "healthz"})


def install_panel(app: FastAPI) -> None:
    # new_chat before chats: "/chats/new" must not be taken for a dialog id.
    for module in (
        signin,
        me,
        new_chat,
        bulk,
        chats,
        dialog,
        clients,
        oauth,
        settings,
        automation,
        team,
        files,
        live,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="panel-static")
    app.add_middleware(SecurityHeaders)
    app.state.login_throttle = AttemptThrottle()

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", {"code": 403}, status_code=403)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        """PostgreSQL refuses what SQLite stores (an id past BIGINT, text past its column):
        a number out of range names nothing that exists (404), anything else is bad input
        (422), on both databases alike, never a 500. (SQLite's driver refuses an id past
        64 bits itself, with OverflowError.)"""
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", "")
        code = 404 if isinstance(exc, OverflowError) or sqlstate == "22003" else 422
        if request.url.path.startswith("/v1/"):
            message = "Not found" if code == 404 else "A value is too long or out of range"
            body = {"status": "error", "message": message}  # the API's envelope
            return JSONResponse(body, status_code=code)
        return render(request, "error.html", {"code": code}, status_code=code)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {"code": 403, "csrf_error": True}, status_code=403)

    # The API answers errors in its JSON envelope; the panel's pages and fragments answer
    # with a sentence in the operator's language, never that JSON.
    api_domain = app.exception_handlers.get(DomainError)
    api_http = app.exception_handlers.get(StarletteHTTPException)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _is_api(request) and api_domain is not None:
            return await _delegate(api_domain, request, exc)
        return panel_error(request, exc.status_code, exc.message)

    @app.exception_handler(TooLong)
    async def too_long(request: Request, exc: TooLong) -> Response:
        """Text longer than its column, refused before the database on both (a form whose
        route does not answer it itself): the operator reads the limit."""
        if _is_api(request) and api_domain is not None:
            return await _delegate(api_domain, request, exc)
        return panel_error(request, exc.status_code, exc.message, sentence=say(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) and api_http is not None:
            return await _delegate(api_http, request, exc)
        return panel_error(request, exc.status_code, str(exc.detail))


async def _delegate(handler: Callable[..., Any], request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def _is_api(request: Request) -> bool:
    path = request.url.path.lstrip("/")
    return path.startswith(("v1/", "gateway/")) or path.rstrip("/") in API_PATHS


def panel_error(request: Request, status: int, message: str, sentence: str = "") -> Response:
    """An error of the panel as the operator reads it: a page, or (for HTMX) a notice in the
    open dialog (``#pane-notice``; the composer keeps its draft). ``sentence``: the error's
    own, in the operator's language, instead of the status's."""
    user = read_session(request)
    if user is not None:
        request.state.user = user
    if request.headers.get("hx-request"):
        return render(
            request,
            "_notice.html",
            {"code": status, "sentence": sentence},
            user=user,
            status_code=status,
            headers={"HX-Retarget": "#pane-notice", "HX-Reswap": "innerHTML"},
        )
    context = {"code": status, "sentence": sentence}
    return render(request, "error.html", context, user=user, status_code=status)
