"""Webhooks end to end: CRUD over HTTP, fan-out of committed events, signed delivery to a REAL
HTTP receiver on loopback (order, Standard Webhooks signatures), the retry schedule on a test
clock, SSRF refusal, and the external transport's outbox delivery."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.test_api_writes import external_channel, inbox
from tests.conftest import CompanyFixture
from tests.factories import queued_reply

from atendo.kit.clock import set_clock
from atendo.runtime import Runtime
from atendo.workers.http_delivery import new_poster
from atendo.workers.outbox_delivery import deliver_due as deliver_outbox
from atendo.workers.webhook_delivery import deliver_due, dispatch_once

WAKE_WAIT = 30.0  # a bound for a broken build: a woken worker takes milliseconds
SETTLE = 1.0  # lets the loops finish the rounds after a busy one and wait again


@dataclass
class Receiver:
    """A real HTTP server: records every POST; answers the queued statuses, then 200."""

    url: str
    hits: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    always: int | None = None

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.hits]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.hits.append(({k.lower(): v for k, v in self.headers.items()}, body))
            code = state.always or (state.statuses.pop(0) if state.statuses else 200)
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_ok(runtime: Runtime) -> Iterator[None]:
    """Loopback receivers are private addresses: allow them for this test only."""
    before = runtime.settings.webhooks_allow_private_networks
    runtime.settings.webhooks_allow_private_networks = True
    yield
    runtime.settings.webhooks_allow_private_networks = before


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [datetime(2031, 5, 4, 12, 0, tzinfo=UTC)]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


async def dispatch_all(runtime: Runtime) -> None:
    """Dispatch every waiting event: earlier tests of the shared database (ingest ones, say)
    may have left more than one dispatch round takes, oldest first."""
    while await dispatch_once(runtime):
        pass


def rounds(runtime: Runtime, n: int = 1) -> int:
    """Dispatch events and run ``n`` delivery rounds; returns deliveries attempted."""

    async def go() -> int:
        total = 0
        async with new_poster(runtime) as poster:
            for _ in range(n):
                await dispatch_all(runtime)
                total += await deliver_due(runtime, poster)
        return total

    return asyncio.run(go())


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written independently of the sender."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected)
        for sig in headers["webhook-signature"].split()
    )


def make_hook(app: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = app.post("/v1/webhooks", headers=headers, json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_crud_limits_and_legacy_hook(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, private_ok: None
) -> None:
    h = company.headers
    hook = make_hook(
        app_client, h, url="http://127.0.0.1:10009/a", name="crm", events=["inbox", "outbox"]
    )
    assert hook["secret"].startswith("whsec_") and hook["status"] == "enabled"
    got = app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]
    assert "secret" not in got and got["events"] == ["inbox", "outbox"]
    # events as repeated keys in a form
    r = app_client.put(
        f"/v1/webhooks//{hook['id']}/",
        headers=h,
        data={"events": ["new_client", "close_dialog"], "channels[]": ["5"], "status": "disabled"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["events"] == ["new_client", "close_dialog"]
    assert r.json()["data"]["channels"] == [5] and r.json()["data"]["status"] == "disabled"
    assert (
        app_client.put(f"/v1/webhooks/{hook['id']}", headers=h, json={"status": "x"}).status_code
        == 422
    )
    bad = {"url": "http://127.0.0.1:10009/", "events": ["nope"]}
    assert app_client.post("/v1/webhooks", headers=h, json=bad).status_code == 422
    assert app_client.post("/v1/webhooks", headers=h, json={"url": "ftp://x"}).status_code == 422
    assert app_client.post("/v1/webhooks", headers=h, json={}).status_code == 422
    for i in range(19):
        make_hook(app_client, h, url=f"http://127.0.0.1:10009/{i}")
    r = app_client.post("/v1/webhooks", headers=h, json={"url": "http://127.0.0.1:10009/21"})
    assert r.status_code == 409
    assert app_client.get("/v1/webhooks", headers=h).json()["meta"]["total"] == 20
    assert app_client.delete(f"/v1/webhooks/{hook['id']}", headers=h).status_code == 200
    assert app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).status_code == 404
    assert app_client.delete(f"/v1/webhooks/{hook['id']}", headers=h).status_code == 404
    # legacy single hook = the webhook named "default"
    assert app_client.get("/v1/companies/web_hook", headers=h).json()["data"]["url"] is None
    r = app_client.post(
        "/v1/companies/web_hook", headers=h, json={"url": "http://127.0.0.1:10009/l"}
    )
    assert r.status_code == 200 and r.json()["data"]["secret"].startswith("whsec_")
    r = app_client.post(
        "/v1/companies/web_hook", headers=h, json={"url": "http://127.0.0.1:10009/m"}
    )
    assert r.json()["data"]["webhook"]["id"] and "secret" not in r.json()["data"]
    assert app_client.get("/v1/companies/web_hook", headers=h).json()["data"]["url"].endswith("/m")
    info = app_client.get("/v1/companies/api_info", headers=h).json()["data"]
    assert info["hook"] == "http://127.0.0.1:10009/m"
    assert app_client.post("/v1/companies/web_hook", headers=h, json={"url": ""}).json()[
        "data"
    ] == {"url": None}


def test_ssrf_refused_at_creation_and_at_delivery(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, receiver: Receiver
) -> None:
    h = company.headers
    assert runtime.settings.webhooks_allow_private_networks is False
    for url in (
        "http://127.0.0.1:8080/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
        "http://[::1]/",
    ):
        r = app_client.post("/v1/webhooks", headers=h, json={"url": url})
        assert r.status_code == 422, url
        assert "private" in r.json()["message"]
    # created while allowed, delivered after the setting was switched off: refused
    runtime.settings.webhooks_allow_private_networks = True
    try:
        hook = make_hook(app_client, h, url=receiver.url, events=["inbox"])
    finally:
        runtime.settings.webhooks_allow_private_networks = False
    ch = external_channel(runtime, company.id)
    inbox(app_client, h, ch, phone="+600")
    rounds(runtime)
    assert receiver.hits == []
    errors = app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]["last_errors"]
    assert errors and "refused" in errors[-1]["error"]


def test_signed_delivery_in_order_to_a_real_receiver(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: Receiver,
    private_ok: None,
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    other_ch = external_channel(runtime, company.id, "Other")
    hook = make_hook(app_client, h, url=receiver.url, events=["inbox", "new_client"], channels=[ch])
    sent = [inbox(app_client, h, ch, phone=f"+7{i}")["id"] for i in range(3)]
    inbox(app_client, h, other_ch, phone="+799")  # another channel: filtered out (inbox)
    for _ in range(12):
        if not rounds(runtime):
            break
    got = receiver.payloads()
    inbox_ids = [p["message_id"] for p in got if p["hook_type"] == "inbox"]
    assert inbox_ids == sent  # in order, and nothing from the other channel
    assert [p["hook_type"] for p in got].count("new_client") == 4  # client events have no channel
    first = got[0]
    assert first["hook_type"] == "new_client" and first["event_time"].endswith("Z")
    msg = next(p for p in got if p["hook_type"] == "inbox")
    assert msg["transport"] == "external" and msg["client"]["phone"] == "+70"
    assert msg["is_new_client"] is True and msg["is_new_request"] is True
    for headers, body in receiver.hits:
        assert verify(hook["secret"], headers, body)
        assert headers["webhook-id"].startswith("evt_")
    assert not verify("whsec_" + base64.b64encode(b"x" * 24).decode(), *receiver.hits[0])
    assert (
        app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]["last_errors"] == []
    )


def test_failing_receiver_gets_the_retries_then_is_switched_off(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: Receiver,
    private_ok: None,
    clock: list[datetime],
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    hook = make_hook(app_client, h, url=receiver.url, events=["inbox"])
    inbox(app_client, h, ch, phone="+800")
    inbox(app_client, h, ch, phone="+801")
    receiver.always = 500
    start = clock[0]

    def tries() -> int:
        return len(receiver.hits)

    rounds(runtime)
    assert tries() == 1
    rounds(runtime)  # not due yet; and the second event waits behind the first
    assert tries() == 1
    schedule = [
        timedelta(seconds=10),
        timedelta(seconds=10, minutes=5),
        timedelta(seconds=10, minutes=5, hours=2),
        timedelta(seconds=10, minutes=5, hours=4),
    ]
    for n, at in enumerate(schedule, start=2):
        clock[0] = start + at - timedelta(seconds=1)
        rounds(runtime)
        assert tries() == n - 1, at
        clock[0] = start + at
        rounds(runtime)
        assert tries() == n, at
    clock[0] = start + timedelta(hours=5)
    rounds(runtime)
    assert tries() == 6
    data = app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]
    assert data["status"] == "disabled"
    assert len(data["last_errors"]) == 6 and data["last_errors"][-1]["status_code"] == 500
    clock[0] += timedelta(hours=3)
    rounds(runtime)
    assert tries() == 6  # switched off: nothing more
    # re-enabled: the backlog goes out, in order, the same event id again
    receiver.always = None
    r = app_client.put(f"/v1/webhooks/{hook['id']}", headers=h, json={"status": "enabled"})
    assert r.json()["data"]["status"] == "enabled"
    rounds(runtime, 3)
    ids = [hd["webhook-id"] for hd, _ in receiver.hits]
    assert len(set(ids[:7])) == 1 and ids[7] != ids[0] and len(ids) == 8
    assert [p["client"]["phone"] for p in receiver.payloads()][-2:] == ["+800", "+801"]


def queued_external_message(runtime: Runtime, company_id: int, msg: dict[str, Any]) -> int:
    """Our answer in the dialog of ``msg`` (an inbox message), queued for the external sender."""
    return queued_reply(runtime, company_id, msg["dialog_id"], text="our answer")


def send_round(runtime: Runtime) -> int:
    return asyncio.run(deliver_outbox(runtime))


def test_external_outbox_is_delivered_by_webhook_and_marked_sent(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: Receiver,
    private_ok: None,
    clock: list[datetime],
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    msg = inbox(app_client, h, ch, phone="+900")
    mid = queued_external_message(runtime, company.id, msg)
    # no webhook takes outbox yet: back to the queue, with the reason
    send_round(runtime)
    m = app_client.get(f"/v1/messages/{mid}", headers=h).json()["data"]
    assert m["delivery_status"] == "queued" and "no enabled webhook" in m["error"]
    hook = make_hook(app_client, h, url=receiver.url, events=["outbox", "outbox_status"])
    receiver.statuses = [503]
    # the outbox's one retry schedule (1 min, 5 min, …), the same as e-mail's
    clock[0] += timedelta(minutes=1)
    send_round(runtime)
    assert (
        app_client.get(f"/v1/messages/{mid}", headers=h).json()["data"]["delivery_status"]
        == "queued"
    )
    clock[0] += timedelta(minutes=5)
    send_round(runtime)
    m = app_client.get(f"/v1/messages/{mid}", headers=h).json()["data"]
    assert m["delivery_status"] == "sent" and m["sent_at"]
    outbox = [p for p in receiver.payloads() if p["hook_type"] == "outbox"]
    assert (
        len(outbox) == 2 and outbox[-1]["message_id"] == mid and outbox[-1]["text"] == "our answer"
    )
    assert all(verify(hook["secret"], hd, body) for hd, body in receiver.hits)
    # the outbox_status event goes through the ordinary webhook path
    rounds(runtime, 3)
    statuses = [p for p in receiver.payloads() if p["hook_type"] == "outbox_status"]
    assert statuses and statuses[-1]["delivery_status"] == "sent"


def test_open_external_channel_for_the_channels_router(
    runtime: Runtime, company: CompanyFixture
) -> None:
    from atendo.transports.external import open_external_channel

    ch = asyncio.run(open_external_channel(runtime, company_id=company.id, data={"name": "CRM"}))
    assert ch.transport == "external" and ch.status == "connected" and ch.name == "CRM"


def test_the_workers_are_woken_not_left_to_their_intervals(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: Receiver,
    private_ok: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the dispatcher's, the webhook sender's and the outbox's intervals an hour long, an
    inbox message committed while they wait is dispatched and delivered, and an answer queued
    is posted, all within ``WAKE_WAIT``: committing wakes them (``atendo.kit.wake``). Each
    step first waits for one delivery (a loop's round after a busy one may take it without a
    wake-up) and lets the loops settle into their wait."""
    from atendo.workers import event_dispatch, outbox_delivery, webhook_delivery

    for module in (event_dispatch, webhook_delivery, outbox_delivery):
        monkeypatch.setattr(module, "POLL_SECONDS", 3600.0)
    h = company.headers
    ch = external_channel(runtime, company.id)
    make_hook(app_client, h, url=receiver.url, events=["inbox", "outbox"], channels=[ch])
    asyncio.run(dispatch_all(runtime))  # what earlier tests left

    def hook_types() -> list[tuple[str, str]]:
        return [(p["hook_type"], p["client"]["phone"]) for p in receiver.payloads()]

    async def delivered(count: int) -> None:
        for _ in range(int(WAKE_WAIT / 0.05)):  # a bound for a broken build, not a measure
            if len(receiver.hits) >= count:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"{count} deliveries expected within {WAKE_WAIT} s; got {hook_types()}")

    async def scenario() -> None:
        stop = asyncio.Event()
        loops = (event_dispatch.dispatch_loop, webhook_delivery.delivery_loop,
                 outbox_delivery.outbox_delivery_loop)  # fmt: skip
        tasks = [asyncio.create_task(loop(runtime, stop)) for loop in loops]
        try:
            await asyncio.to_thread(inbox, app_client, h, ch, phone="+800")
            await delivered(1)
            await asyncio.sleep(SETTLE)  # every loop waits now: only a wake-up brings more
            second = await asyncio.to_thread(inbox, app_client, h, ch, phone="+801")
            await delivered(2)
            await asyncio.sleep(SETTLE)
            await asyncio.to_thread(queued_reply, runtime, company.id, second["dialog_id"])
            await delivered(3)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert hook_types() == [("inbox", "+800"), ("inbox", "+801"), ("outbox", "+801")]
