"""Panel fixtures: the whole app (API + panel) in a TestClient, and signed-in panel clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from atendo.runtime import Runtime

_CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
_LOGIN_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class PanelClient:
    http: TestClient
    csrf: str

    def post(self, url: str, data: dict[str, str] | None = None, **kw: object) -> object:
        return self.http.post(url, data={"csrf": self.csrf, **(data or {})}, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def panel_app(runtime: Runtime) -> object:
    from atendo.server import create_app

    return create_app(runtime, workers=False)


@pytest.fixture
def signin(panel_app: object) -> Iterator[object]:
    from atendo.kit.throttle import AttemptThrottle

    # The app lives for the module; each test signs in afresh (the throttle's own tests
    # count attempts within one test).
    panel_app.state.login_throttle = AttemptThrottle()  # type: ignore[attr-defined]
    clients: list[TestClient] = []

    def login(email: str, password: str) -> PanelClient:
        http = TestClient(panel_app, follow_redirects=False)  # type: ignore[arg-type]
        clients.append(http)
        page = http.get("/login")
        token = _LOGIN_CSRF.search(page.text)
        assert token, page.text
        r = http.post("/login", data={"email": email, "password": password, "csrf": token[1]})
        assert r.status_code == 303, r.text
        chats = http.get("/chats")
        assert chats.status_code == 200, chats.text
        match = _CSRF.search(chats.text)
        assert match
        return PanelClient(http, match[1])

    yield login
    for c in clients:
        c.close()


def email_channel(runtime: Runtime, company_id: int, address: str = "support@acme.example") -> int:
    """A saved e-mail channel (no connection test: these tests talk to the database only)."""
    from atendo.core.channels.service import create_channel
    from atendo.transports.email.settings import parse_settings

    cfg = parse_settings({"email": address, "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1"})
    with runtime.db.transaction() as session:
        channel = create_channel(
            session,
            company_id=company_id,
            transport="email",
            name=address,
            settings=cfg.public(),
            secrets={"password": "pw"},
            box=runtime.box,
        )
        return channel.id


def ingest(runtime: Runtime, channel_id: int, raw: bytes) -> tuple[int, int] | None:
    """Ingest one raw mail; returns (message id, dialog id), or None for a duplicate."""
    from atendo.core.channels.models import Channel
    from atendo.transports.email.ingest import ingest_raw

    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=raw
        )
        if message is None or message.dialog_id is None:
            return None
        return message.id, message.dialog_id


def mail_from(sender: str, subject: str, body: str = "Olá!", mid: str | None = None) -> bytes:
    import uuid

    mid = mid or f"<{uuid.uuid4().hex}@client.example>"
    return (
        f"From: {sender}\r\nTo: support@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\nDate: Wed, 25 Nov 2026 10:00:00 -0300\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()
