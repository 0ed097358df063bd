"""The SSRF guard end to end, on the database (SQLite and PostgreSQL): the API refuses private
targets at creation; the webhook worker and the external sender refuse them at delivery and,
when the installation allows private networks, reach the address they vetted (a name that
only the injected resolver knows), once per connection, with a real receiver on loopback.

Worker rounds claim every company's due work, so assertions look at this test's receiver and
this test's host name only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.api.test_api_writes import external_channel, inbox
from tests.api.test_webhooks import make_hook, queued_external_message, verify
from tests.conftest import CompanyFixture
from tests.kit.test_signed_post import Dns, HookReceiver, start_receiver, stop

from atendo.kit.clock import set_clock, utcnow
from atendo.runtime import Runtime
from atendo.workers.external_sender import send_due
from atendo.workers.http_delivery import new_poster
from atendo.workers.webhook_delivery import deliver_due, dispatch_once


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    state, server = start_receiver()
    yield state
    stop(server)


@pytest.fixture
def allow(runtime: Runtime) -> Iterator[Callable[[bool], None]]:
    """Switch ATENDO_WEBHOOKS_ALLOW_PRIVATE_NETWORKS for this test."""
    before = runtime.settings.webhooks_allow_private_networks

    def switch(value: bool) -> None:
        runtime.settings.webhooks_allow_private_networks = value

    yield switch
    switch(before)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [utcnow()]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


def webhook_round(runtime: Runtime, dns: Dns) -> int:
    async def go() -> int:
        async with new_poster(runtime, resolve=dns) as poster:
            await dispatch_once(runtime)
            return await deliver_due(runtime, poster)

    return asyncio.run(go())


def external_round(runtime: Runtime, dns: Dns) -> int:
    async def go() -> int:
        async with new_poster(runtime, resolve=dns) as poster:
            return await send_due(runtime, poster)

    return asyncio.run(go())


def rebinding_dns() -> Dns:
    """hooks.test: the receiver at the first lookup, 127.0.0.2 (nothing there) after."""
    return Dns(hooks_test=[["127.0.0.1"], ["127.0.0.2"]])


@pytest.mark.parametrize(
    "url",
    [
        "http://0.0.0.0:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:8000/",
        "http://169.254.10.20/",
        "http://10.20.30.40/",
        "http://172.16.0.1/",
        "http://172.31.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "http://[fd00:abcd::1]/",
        "http://localhost:8080/hook",  # a name: the system resolver answers 127.0.0.1
    ],
)
def test_creation_refuses_private_targets(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, url: str
) -> None:
    assert runtime.settings.webhooks_allow_private_networks is False
    r = app_client.post("/v1/webhooks", headers=company.headers, json={"url": url})
    assert r.status_code == 422, r.text
    assert "private, loopback or link-local" in r.json()["message"]
    r = app_client.post("/v1/companies/web_hook", headers=company.headers, json={"url": url})
    assert r.status_code == 422, r.text


def test_webhook_delivery_refused_while_off_then_reaches_the_vetted_address(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: HookReceiver,
    allow: Callable[[bool], None],
    clock: list[datetime],
) -> None:
    h = company.headers
    allow(True)  # created while allowed: creation does not look the name up then
    hook = make_hook(app_client, h, url=f"http://hooks.test:{receiver.port}/hook", events=["inbox"])
    inbox(app_client, h, external_channel(runtime, company.id), phone="+5511900000001")
    allow(False)
    dns = rebinding_dns()
    webhook_round(runtime, dns)
    assert receiver.hits == [] and dns.asked.count("hooks.test") == 1
    data = app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]
    assert data["last_errors"][-1]["error"] == (
        "refused: hooks.test resolves to a private, loopback or link-local address (127.0.0.1)"
    )
    allow(True)
    clock[0] += timedelta(seconds=10)  # the first retry
    dns = rebinding_dns()
    webhook_round(runtime, dns)
    [hit] = receiver.hits
    assert dns.asked.count("hooks.test") == 1  # one lookup; the connection used its answer
    assert hit.headers["host"] == f"hooks.test:{receiver.port}"
    assert verify(hook["secret"], hit.headers, hit.body)
    data = app_client.get(f"/v1/webhooks/{hook['id']}", headers=h).json()["data"]
    assert data["failing_since"] is None and data["status"] == "enabled"


def test_external_outbox_refused_while_off_then_sent_to_the_vetted_address(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    receiver: HookReceiver,
    allow: Callable[[bool], None],
    clock: list[datetime],
) -> None:
    h = company.headers
    allow(True)
    hook = make_hook(app_client, h, url=f"http://hooks.test:{receiver.port}/out", events=["outbox"])
    msg = inbox(app_client, h, external_channel(runtime, company.id), phone="+5511900000002")
    mid = queued_external_message(runtime, company.id, msg)
    allow(False)
    dns = rebinding_dns()
    external_round(runtime, dns)
    m = app_client.get(f"/v1/messages/{mid}", headers=h).json()["data"]
    assert m["delivery_status"] == "queued" and "refused: hooks.test resolves" in m["error"]
    assert receiver.hits == [] and dns.asked.count("hooks.test") == 1
    allow(True)
    clock[0] += timedelta(seconds=10)
    dns = rebinding_dns()
    external_round(runtime, dns)
    m = app_client.get(f"/v1/messages/{mid}", headers=h).json()["data"]
    assert m["delivery_status"] == "sent" and dns.asked.count("hooks.test") == 1
    [hit] = receiver.hits
    assert hit.headers["webhook-id"] == f"msg_{mid}" and hit.headers["host"].startswith("hooks.")
    assert verify(hook["secret"], hit.headers, hit.body)
