"""An API request hands work to the thread pool twice: its sign-in (``api_context``, which
reads the database) and its handler. Every other dependency runs inline on the event loop: a
hand-over to a worker thread and back costs a GIL hand-off each way, and a plain ``def``
dependency is sent there even when it only reads an attribute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture

from atendo.runtime import Runtime


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions FastAPI sends to the thread pool, in order."""
    seen: list[str] = []
    for module in (fastapi.routing, fastapi.dependencies.utils):
        original = module.run_in_threadpool

        async def counted(func: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            target = kw.get("function", func)
            seen.append(getattr(target, "__name__", repr(target)))
            return await _original(func, *args, **kw)

        monkeypatch.setattr(module, "run_in_threadpool", counted)
    yield seen


@pytest.mark.parametrize(
    ("path", "handler"),
    [
        ("/v1/dialogs?limit=20", "dialogs"),
        ("/v1/messages?limit=20", "messages"),
        ("/v1/clients?limit=20", "clients"),
        ("/v1/clients?search=nobody", "clients"),
    ],
)
def test_a_list_request_enters_the_thread_pool_for_its_sign_in_and_its_handler(
    api: TestClient, company: CompanyFixture, hops: list[str], path: str, handler: str
) -> None:
    assert api.get(path).status_code == 200
    assert hops == ["api_context", handler]


def test_an_unknown_token_is_refused_from_the_sign_in(
    app_client: TestClient, runtime: Runtime, hops: list[str]
) -> None:
    r = app_client.get("/v1/dialogs", headers={"Authorization": "not-a-token"})
    assert r.status_code == 401
    assert hops == ["api_context"]
