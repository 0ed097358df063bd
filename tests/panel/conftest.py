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


@pytest.fixture(scope="session")
def panel_app(runtime: Runtime) -> object:
    from atendo.server import create_app

    return create_app(runtime, workers=False)


@pytest.fixture
def signin(panel_app: object) -> Iterator[object]:
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
