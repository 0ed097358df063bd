"""The SSRF guard end to end, on the database (SQLite and PostgreSQL): the API refuses private
targets at creation; the webhook worker and the external sender refuse them at delivery and,
when the installation allows private networks, reach the address they vetted (a name that
only the injected resolver knows), once per connection, with a real receiver on loopback.

Worker rounds claim every company's due work, so assertions look at this test's receiver and
this test's host name only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.test_api_writes import external_channel, inbox
from tests.api.test_webhooks import dispatch_all, make_hook, queued_external_message, verify
from tests.conftest import CompanyFixture
from tests.kit.test_signed_post import Dns, HookReceiver, start_receiver, stop

from atendo.kit.clock import set_clock, utcnow
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.external import ExternalTransport
from atendo.workers.http_delivery import new_poster
from atendo.workers.outbox_delivery import deliver_due as deliver_outbox
from atendo.workers.outbox_delivery import outbox_delivery_loop
from atendo.workers.webhook_delivery import deliver_due, delivery_loop

Round = Callable[[Runtime, Dns], int]


def webhook_round(runtime: Runtime, dns: Dns) -> int:
    async def go() -> int:
        async with new_poster(runtime, resolve=dns) as poster:
            await dispatch_all(runtime)
            return await deliver_due(runtime, poster)

    return asyncio.run(go())


def external_round(runtime: Runtime, dns: Dns) -> int:
    """One round of the shared outbox worker with the external transport registered with
    this resolver (a plug-in's way in), then the built-in one again."""
    registry.register(ExternalTransport(resolve=dns))
    try:
        return asyncio.run(deliver_outbox(runtime))
    finally:
        registry.register(ExternalTransport())


@dataclass
class Bed:
    """A company, a receiver on loopback reachable as hooks.test, and the test clock."""

    app: TestClient
    runtime: Runtime
    company: CompanyFixture
    receiver: HookReceiver
    now: list[datetime]

    def allow(self, value: bool) -> None:
        """ATENDO_WEBHOOKS_ALLOW_PRIVATE_NETWORKS for this test (the fixture restores it)."""
        self.runtime.settings.webhooks_allow_private_networks = value

    def hook(self, events: list[str], host: str = "hooks.test") -> dict[str, Any]:
        self.allow(True)  # creation does not look the name up when private networks are allowed
        url = f"http://{host}:{self.receiver.port}/hook"
        return make_hook(self.app, self.company.headers, url=url, events=events)

    def inbox(self, phone: str) -> dict[str, Any]:
        ch = external_channel(self.runtime, self.company.id)
        return inbox(self.app, self.company.headers, ch, phone=phone)

    def attempt(self, round_: Round, *, allowed: bool) -> Dns:
        """One worker round where hooks.test answers the receiver at the first lookup and
        127.0.0.2 (where nothing listens) at any later one; returns the resolver."""
        self.allow(allowed)
        dns = Dns(hooks_test=[["127.0.0.1"], ["127.0.0.2"]])
        round_(self.runtime, dns)
        return dns

    def get(self, path: str) -> dict[str, Any]:
        data: dict[str, Any] = self.app.get(path, headers=self.company.headers).json()["data"]
        return data


@pytest.fixture
def bed(app_client: TestClient, runtime: Runtime, company: CompanyFixture) -> Iterator[Bed]:
    before = runtime.settings.webhooks_allow_private_networks
    state, server = start_receiver()
    now = [utcnow()]
    set_clock(lambda: now[0])
    yield Bed(app_client, runtime, company, state, now)
    # The workers' rounds serve every company of the shared test database: leave no hooks.test
    # delivery behind for a later test's round to find (and look up) once it falls due.
    for hook in app_client.get("/v1/webhooks", headers=company.headers).json()["data"]:
        app_client.delete(f"/v1/webhooks/{hook['id']}", headers=company.headers)
    set_clock(None)
    stop(server)
    runtime.settings.webhooks_allow_private_networks = before


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


def test_webhook_delivery_refused_while_off_then_reaches_the_vetted_address(bed: Bed) -> None:
    hook = bed.hook(["inbox"])
    bed.inbox("+5511900000001")
    dns = bed.attempt(webhook_round, allowed=False)
    assert bed.receiver.hits == [] and dns.asked.count("hooks.test") == 1
    data = bed.get(f"/v1/webhooks/{hook['id']}")
    assert data["last_errors"][-1]["error"] == (
        "refused: hooks.test resolves to a private, loopback or link-local address"
    )
    bed.now[0] += timedelta(seconds=10)  # the first retry
    dns = bed.attempt(webhook_round, allowed=True)
    [hit] = bed.receiver.hits
    assert dns.asked.count("hooks.test") == 1  # one lookup; the connection used its answer
    assert hit.headers["host"] == f"hooks.test:{bed.receiver.port}"
    assert verify(hook["secret"], hit.headers, hit.body)
    data = bed.get(f"/v1/webhooks/{hook['id']}")
    assert data["failing_since"] is None and data["status"] == "enabled"


def test_external_outbox_refused_while_off_then_sent_to_the_vetted_address(bed: Bed) -> None:
    hook = bed.hook(["outbox"])
    mid = queued_external_message(bed.runtime, bed.company.id, bed.inbox("+5511900000002"))
    dns = bed.attempt(external_round, allowed=False)
    m = bed.get(f"/v1/messages/{mid}")
    assert m["delivery_status"] == "queued" and "refused: hooks.test resolves" in m["error"]
    assert bed.receiver.hits == [] and dns.asked.count("hooks.test") == 1
    bed.now[0] += timedelta(minutes=1)  # the outbox's retry schedule
    dns = bed.attempt(external_round, allowed=True)
    m = bed.get(f"/v1/messages/{mid}")
    assert m["delivery_status"] == "sent" and dns.asked.count("hooks.test") == 1
    [hit] = bed.receiver.hits
    assert hit.headers["webhook-id"] == f"msg_{mid}"
    assert hit.headers["host"] == f"hooks.test:{bed.receiver.port}"
    assert verify(hook["secret"], hit.headers, hit.body)


def test_the_worker_loops_deliver_webhooks_and_external_messages(bed: Bed) -> None:
    # The loops build their sender from the settings, with the system resolver.
    bed.hook(["inbox", "outbox"], host="127.0.0.1")
    mid = queued_external_message(bed.runtime, bed.company.id, bed.inbox("+5511900000003"))

    def got() -> set[str]:
        return {json.loads(hit.body)["hook_type"] for hit in bed.receiver.hits}

    async def run() -> None:
        stop = asyncio.Event()
        loops = [delivery_loop(bed.runtime, stop), outbox_delivery_loop(bed.runtime, stop)]
        tasks = [asyncio.create_task(loop) for loop in loops]
        await dispatch_all(bed.runtime)
        for _ in range(300):  # a generous bound, not a timing assertion
            if {"inbox", "outbox"} <= got():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert {"inbox", "outbox"} <= got()
    assert bed.get(f"/v1/messages/{mid}")["delivery_status"] == "sent"
