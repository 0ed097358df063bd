"""Plugging the panel into the FastAPI app: routers, static files, the panel's error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from atendo.panel import live
from atendo.panel.auth import CsrfFailed, Forbidden, LoginRequired
from atendo.panel.headers import SecurityHeaders
from atendo.panel.render import render
from atendo.panel.routes import (
    automation,
    bulk,
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
    for module in (
        signin,
        me,
        new_chat,
        bulk,
        chats,
        dialog,
        clients,
        settings,
        automation,
        files,
        live,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="panel-static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", {"code": 403}, status_code=403)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {"code": 403, "csrf_error": True}, status_code=403)
