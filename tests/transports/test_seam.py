"""The transport seam, proven by a transport that exists only here: ``pigeon``.

It is registered through :mod:`atendo.transports.registry` like a plug-in would be, and then
works end to end without a line of it outside this file: ``POST /v1/channels`` (settings
validated by its model, unknown ones refused), a client message through the core verb
``receive_client_message``, an answer through ``POST /v1/messages`` and through the panel
composer, and delivery by the shared outbox worker (``workers/outbox_delivery``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.core.events.models import Event
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.core.messages.outbox import Accepted, Outcome, PermanentFailure
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.base import BaseTransport, DeliveryJob
from atendo.workers.outbox_delivery import deliver_due
from tests.api.test_api_writes import external_channel, inbox
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, panel_app, signin  # noqa: F401 (fixtures)


class PigeonSettings(BaseModel):
    loft: str = Field(min_length=1, max_length=50)
    rings: int = Field(default=1, ge=1, le=9)


class PigeonTransport(BaseTransport):
    """Carries each message to a loft (a list): ``deliver`` is its whole protocol."""

    name = "pigeon"
    settings_model = PigeonSettings
    secret_fields = ("token",)

    def __init__(self) -> None:
        self.loft: list[DeliveryJob] = []

    async def deliver(self, runtime: Runtime, job: DeliveryJob) -> Outcome:
        if "storm" in str(job.payload["text"]):
            return PermanentFailure("lost in a storm")
        self.loft.append(job)
        return Accepted("coo")


@pytest.fixture
def pigeon() -> Iterator[PigeonTransport]:
    transport = PigeonTransport()
    registry.register(transport)
    yield transport
    registry.unregister(transport.name)


def _create(api: TestClient, **fields: Any) -> Any:
    return api.post("/v1/channels", json={"transport": "pigeon", **fields})


def test_channels_of_a_registered_transport_are_validated_by_its_model(
    api: TestClient, pigeon: PigeonTransport
) -> None:
    r = _create(api, name="Loft", loft="north", rings=3, token="s3cret")
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert (data["transport"], data["name"], data["loft"], data["rings"]) == (
        "pigeon",
        "Loft",
        "north",
        3,
    )
    assert data["status"] == "connected" and data["password_set"] is True
    assert "token" not in data
    # a field that is not one of the transport's settings is refused, named, not dropped
    r = _create(api, loft="south", imap_host="mail.example")
    assert r.status_code == 422 and list(r.json()["errors"]) == ["imap_host"], r.text
    # the model's own rules
    r = _create(api, rings=12)
    assert r.status_code == 422 and set(r.json()["errors"]) == {"loft", "rings"}, r.text
    # and a change goes through the same model
    r = api.put(f"/v1/channels/{data['id']}", json={"rings": 5, "colour": "grey"})
    assert r.status_code == 422 and list(r.json()["errors"]) == ["colour"], r.text
    r = api.put(f"/v1/channels/{data['id']}", json={"rings": 5})
    assert r.status_code == 200 and r.json()["data"]["rings"] == 5, r.text
    # an unregistered transport
    r = api.post("/v1/channels", json={"transport": "smoke-signals"})
    assert r.status_code == 422 and list(r.json()["errors"]) == ["transport"]


def test_unknown_settings_are_refused_for_built_in_transports_too(api: TestClient) -> None:
    r = api.post("/v1/channels", json={"transport": "external", "name": "CRM", "imap_host": "x"})
    assert r.status_code == 422 and list(r.json()["errors"]) == ["imap_host"], r.text
    r = api.post(
        "/v1/channels",
        json={"email": "a@b.example", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1",
              "password": "pw", "signature": "bye"},
    )  # fmt: skip
    assert r.status_code == 422 and list(r.json()["errors"]) == ["signature"], r.text


def test_a_test_transport_works_end_to_end(
    runtime: Runtime,
    api: TestClient,
    company: CompanyFixture,
    pigeon: PigeonTransport,
    signin: Any,  # noqa: F811
) -> None:
    channel_id = _create(api, name="Loft", loft="north").json()["data"]["id"]
    # a client message arrives through the core verb, as an adapter brings it in
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        arrival = receive_client_message(
            session,
            channel=channel,
            sender=Sender(kind="pigeon", address="ring-42", name="Ana"),
            text="coo?",
        )
        dialog_id, message_id = arrival.message.dialog_id, arrival.message.id
        assert arrival.new_request and arrival.new_client
    with runtime.db.reading() as session:
        kinds = session.scalars(
            select(Event.type).where(Event.dialog_id == dialog_id).order_by(Event.id)
        ).all()
    assert list(kinds) == ["inbox", "new_request"]
    got = api.get(f"/v1/messages/{message_id}").json()["data"]
    assert (got["type"], got["transport"], got["text"]) == ("from_client", "pigeon", "coo?")
    client = api.get(f"/v1/clients/{got['client_id']}").json()["data"]
    assert client["name"] == "Ana"

    # an answer through the API
    r = api.post("/v1/messages", json={"dialog_id": dialog_id, "text": "coo!"})
    assert r.status_code == 200, r.text
    by_api = r.json()["data"]["message_id"]
    assert r.json()["data"]["transport"] == "pigeon"

    # and through the panel composer: no subject, no files, no signature for a pigeon
    panel: PanelClient = signin(company.admin_email, company.admin_password)
    pane = panel.http.get(f"/chats/{dialog_id}")
    assert pane.status_code == 200
    assert 'data-testid="composer-text"' in pane.text
    assert 'data-testid="composer-subject"' not in pane.text
    assert 'data-testid="composer-files"' not in pane.text
    sent = panel.post(f"/chats/{dialog_id}/send", {"text": "coo from the panel"})
    assert sent.status_code == 200, sent.text  # type: ignore[attr-defined]
    storm = panel.post(f"/chats/{dialog_id}/send", {"text": "a storm is coming"})
    assert storm.status_code == 200, storm.text  # type: ignore[attr-defined]
    queued = api.get("/v1/messages", params={"dialog_id": dialog_id, "type": "to_client"})
    rows = {m["text"]: m for m in queued.json()["data"]}
    assert set(rows) == {"coo!", "coo from the panel", "a storm is coming"}
    assert {m["delivery_status"] for m in rows.values()} == {"queued"}

    # the shared outbox worker delivers them through the registry
    asyncio.run(deliver_due(runtime))
    assert sorted(job.payload["text"] for job in pigeon.loft) == ["coo from the panel", "coo!"]
    assert {job.channel_id for job in pigeon.loft} == {channel_id}
    after = {
        m["text"]: m
        for m in api.get(
            "/v1/messages", params={"dialog_id": dialog_id, "type": "to_client"}
        ).json()["data"]
    }
    assert after["coo!"]["delivery_status"] == "sent" and after["coo!"]["id"] == by_api
    assert after["coo from the panel"]["delivery_status"] == "sent"
    assert after["a storm is coming"]["delivery_status"] == "failed"
    history = api.get(f"/v1/messages/{after['a storm is coming']['id']}").json()["data"]
    assert history["error"] == "lost in a storm"


def test_operators_answer_external_dialogs_from_the_panel(
    runtime: Runtime,
    app_client: TestClient,
    company: CompanyFixture,
    signin: Any,  # noqa: F811
) -> None:
    ch = external_channel(runtime, company.id)
    msg = inbox(app_client, company.headers, ch, phone="+5511900001111", nickname="Bia")
    panel: PanelClient = signin(company.admin_email, company.admin_password)
    r = panel.post(f"/chats/{msg['dialog_id']}/send", {"text": "Olá, Bia"})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    rows = app_client.get(
        "/v1/messages",
        headers=company.headers,
        params={"dialog_id": msg["dialog_id"], "type": "to_client"},
    ).json()["data"]
    assert [(m["text"], m["transport"], m["delivery_status"]) for m in rows] == [
        ("Olá, Bia", "external", "queued")
    ]
