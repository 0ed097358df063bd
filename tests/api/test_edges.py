"""Issue 18, the edges of HTTP: nested or oversized JSON answered 400 before the token is
checked, a body that does not arrive in time answered 408, out-of-range ids and over-long text
answered 404/422 (never 500) on both databases."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from tests.conftest import CompanyFixture

from atendo.api.edges import RequestBodyGuard, json_depth


def test_deeply_nested_json_is_a_400_before_the_token(app_client: TestClient) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for headers in ({}, {"Authorization": "wrong-token"}):
        r = app_client.post(
            "/v1/clients", content=deep, headers={**headers, "Content-Type": "application/json"}
        )
        assert r.status_code == 400
        assert r.json() == {
            "status": "error",
            "message": "The JSON body is too large or too deeply nested",
            "errors": {"body": ["at most 32 levels of nesting"]},
            "code": "invalid",
        }
    big = b'{"a": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = app_client.post("/v1/clients", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_ordinary_json_goes_through(api: TestClient, company: CompanyFixture) -> None:
    r = api.post("/v1/clients", json={"phone": "+5511988887777", "nickname": "Ana [a] {b}"})
    assert r.status_code in (200, 201), r.text


def test_json_depth_skips_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": [2]}]}') == 4
    assert json_depth(b'["\\"[[[["]') == 1


def test_a_body_that_does_not_arrive_in_time_is_a_408() -> None:
    reached: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((await receive()).get("body", b""))

    async def dribble() -> Message:
        await asyncio.sleep(3600)  # a client that never finishes its body
        return {"type": "http.request", "body": b"x", "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/clients",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
    }
    guard = RequestBodyGuard(app, deadline=0.05, max_json_bytes=1024, max_json_depth=32)
    asyncio.run(guard(scope, dribble, send))
    assert sent[0]["status"] == 408 and reached == []


def test_out_of_range_ids_and_long_text_are_404_and_422(
    app_client: TestClient, company: CompanyFixture
) -> None:
    huge = 2**70
    r = app_client.get(f"/v1/dialogs/{huge}", headers=company.headers)
    assert r.status_code == 404, r.text
