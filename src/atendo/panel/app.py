"""Plugging the panel into the FastAPI app: routers, static files, the panel's error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from atendo.core.lengths import TooLong
from atendo.kit.throttle import AttemptThrottle
from atendo.panel import live
from atendo.panel.auth import CsrfFailed, Forbidden, LoginRequired
from atendo.panel.headers import SecurityHeaders
from atendo.panel.render import render
from atendo.panel.routes import (
    automation,
    chats,
    clients,
    dialog,
    files,
    me,
    new_chat,
    settings,
    signin,
)

STATIC = Path(__file__).parent / "static"


def install_panel(app: FastAPI) -> None:
    # new_chat before chats: "/chats/new" must not be taken for a dialog id.
    for module in (signin, me, new_chat, chats, dialog, clients, settings, automation, files, live):
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

    @app.exception_handler(TooLong)
    async def too_long(request: Request, exc: TooLong) -> Response:
        """Text longer than its column, refused before the database on both (a form whose
        route does not answer it itself): the 422 page names the limit."""
        if request.url.path.startswith("/v1/"):
            body = {"status": "error", "message": exc.message, "code": exc.code}
            return JSONResponse({**body, "errors": exc.errors}, status_code=422)
        context = {"code": 422, "limit": exc.params["limit"]}
        return render(request, "error.html", context, status_code=422)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {"code": 403, "csrf_error": True}, status_code=403)
