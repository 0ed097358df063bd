"""Where further API routers are plugged into the app (one line each).

NOTE for the panel: it is NOT registered here — the API must not import the panel (the
import-linter layers contract in pyproject.toml). The composition root src/atendo/server.py
calls ``atendo.panel.mount(app)``: define ``def mount(app: FastAPI) -> None`` in
src/atendo/panel/__init__.py (include the panel routers and static files there). Tests build
the whole app with ``atendo.server.create_app(runtime, workers=False)``.
"""

from __future__ import annotations

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    """Include the routers of the subsystems built beside the core API."""
    from atendo.api.routes import (  # issue 5: the rest of the v1 API, webhooks
        clients_write,
        external,
        message_actions,
        misc,
        operators_write,
        requests,
        tags_write,
        webhooks,
    )

    for module in (
        clients_write,
        operators_write,
        requests,
        tags_write,
        message_actions,
        external,
        misc,
        webhooks,
    ):
        app.include_router(module.router)
    from atendo.api.routes import oauth  # issue 17: OAuth mailboxes (before /v1/channels/{id})

    app.include_router(oauth.router)
    from atendo.api.routes import channels as email_channels  # issue 3: channels [ext], files

    app.include_router(email_channels.router)
    from atendo.api.routes import outbound, signatures  # issue 4: outbound e-mail, signatures

    app.include_router(outbound.router)
    app.include_router(signatures.router)
    from atendo.api.routes import automation  # issue 16: greetings, menu, auto-close, survey

    app.include_router(automation.router)
