"""The ASGI application: the REST API (and the panel), with workers in the same process.

Conventions enforced here for every route: tolerant slashes (``/v1//clients/``), JSON errors
in the Chat2Desk envelope for every failure on the API (never an HTML page), a request size
limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atendo import __version__
from atendo.api.edges import RequestBodyGuard
from atendo.api.envelope import error
from atendo.api.routes import (
    clients,
    companies,
    dialogs,
    help,
    messages,
    operators,
    tags,
    templates,
)
from atendo.api.usage import ApiUsage
from atendo.core.errors import DomainError
from atendo.runtime import Runtime

log = logging.getLogger("atendo.api")

_SLASHES = re.compile(r"/{2,}")


class TolerantPaths:
    """Collapse doubled slashes and drop a trailing one before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            fixed = _SLASHES.sub("/", path)
            if len(fixed) > 1 and fixed.endswith("/"):
                fixed = fixed.rstrip("/") or "/"
            if fixed != path:
                scope = dict(scope)
                scope["path"] = fixed
                scope["raw_path"] = fixed.encode()
        await self.app(scope, receive, send)


class BodyTooLarge(DomainError):
    status_code = 413
    code = "too_large"

    def __init__(self) -> None:
        super().__init__("Request body is too large")


class BodyLimit:
    """Refuse bodies above the configured size with a JSON 413: at once when Content-Length
    announces it, and while reading when a chunked body grows past it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = error("Request body is too large", status_code=413)
                await response(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the handler's body read, so the API's error handlers
                    # answer it in the JSON envelope.
                    raise BodyTooLarge()
            return message

        await self.app(scope, counting_receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return error(
            exc.message, status_code=exc.status_code, errors=exc.errors or None, code=exc.code
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors: dict[str, list[str]] = {}
        for item in exc.errors():
            field = str(item.get("loc", ["?"])[-1])
            errors.setdefault(field, []).append(str(item.get("msg", "invalid")))
        return error(
            "Invalid parameters", status_code=422, errors=errors, code="invalid_parameters"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error("Page not found", status_code=404)
        if exc.status_code == 405:
            return error("Method not allowed", status_code=405)
        return error(str(exc.detail), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error("Internal error", status_code=500)


Background = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_api(runtime: Runtime, *, background: list[Background] | None = None) -> FastAPI:
    """The API app. ``background`` context managers (the workers, when the composition root
    wants them in-process) run for the app's lifetime."""
    usage = ApiUsage(runtime.settings.api_rate_limit_per_minute, runtime.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Starlette runs the synchronous handlers on anyio's default thread limiter.
        to_thread.current_default_thread_limiter().total_tokens = runtime.settings.web_threads
        flusher = asyncio.create_task(_flush_usage(usage, runtime))
        async with contextlib.AsyncExitStack() as stack:
            for factory in background or []:
                await stack.enter_async_context(factory(app))
            try:
                yield
            finally:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
                await asyncio.to_thread(usage.flush, runtime.db)

    app = FastAPI(
        title="Atendo API",
        version=__version__,
        description=(
            "Compatible with Chat2Desk's public API v1. Atendo's own additions are marked "
            "**[ext]**."
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.usage = usage
    install_error_handlers(app)
    for module in (help, companies, clients, dialogs, messages, operators, tags, templates):
        app.include_router(module.router)
    _include_optional(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(
        RequestBodyGuard,
        deadline=runtime.settings.request_body_seconds,
        max_json_bytes=runtime.settings.max_json_bytes,
        max_json_depth=runtime.settings.max_json_depth,
    )
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_request_bytes)
    app.add_middleware(TolerantPaths)
    return app


def _include_optional(app: FastAPI) -> None:
    """Routers that live in their own modules (e-mail channel endpoints, panel, webhooks)."""
    from atendo.api.extensions import register

    register(app)


async def _flush_usage(usage: ApiUsage, runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(5)
        try:
            await asyncio.to_thread(usage.flush, runtime.db)
        except Exception:
            log.exception("could not record API usage")
