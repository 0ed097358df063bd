"""The whole web process: the API, the panel and (by default) the workers in one app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from atendo.api.app import create_api
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.workers.runner import WorkerSet


def create_app(runtime: Runtime, *, workers: bool | None = None) -> FastAPI:
    run_workers = runtime.settings.workers_enabled if workers is None else workers

    @asynccontextmanager
    async def in_process_workers(app: FastAPI) -> AsyncIterator[None]:
        worker_set = WorkerSet(runtime)
        worker_set.start()
        app.state.workers = worker_set
        try:
            yield
        finally:
            await worker_set.stop()

    app = create_api(runtime, background=[in_process_workers] if run_workers else [])
    _mount_transports(app, runtime)
    _mount_panel(app)
    trusted = [p.strip() for p in runtime.settings.trusted_proxies.split(",") if p.strip()]
    if trusted:
        # The client address comes from X-Forwarded-For only when the connection itself
        # comes from one of these (uvicorn's own middleware: the right-most untrusted hop).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    return app


def _mount_transports(app: FastAPI, runtime: Runtime) -> None:
    """Each transport's own endpoints (the widget's visitor side, …), through the seam."""
    for transport in registry.all_transports():
        router = transport.web_router(runtime)
        if router is not None:
            app.include_router(router, include_in_schema=False)


def _mount_panel(app: FastAPI) -> None:
    try:
        from atendo.panel import mount
    except ImportError:  # the panel package is optional while it is being built
        return
    mount(app)
