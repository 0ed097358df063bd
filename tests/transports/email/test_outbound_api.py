"""The outbound API: POST /v1/dialogs [ext], POST /v1/messages, interrupt, delete_outbox,
PUT /v1/dialogs/{id}."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from atendo.core.channels.service import create_channel
from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Attachment, Message
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.transports.email.test_outbound import email_channel, email_dialog, tidy_company


@pytest.fixture
def tidy(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    yield from tidy_company(runtime, company)


def test_new_dialog_and_first_message(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    answer = api.post(
        "/v1/dialogs",
        json={
            "channel_id": channel_id,
            "emails": ["Ana@Example.org", "ana@example.org", "bob@example.org"],
            "operator_id": tidy.admin_id,
            "subject": "Your quote",
            "text": "Hello Ana",
        },
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["dialog_id"] and data["client_id"] and data["message_id"]
    message = api.get(f"/v1/messages/{data['message_id']}").json()["data"]
    assert message["delivery_status"] == "queued"
    assert message["subject"] == "Your quote"
    assert message["email"]["to"] == ["Ana@example.org", "bob@example.org"]


def test_new_dialog_refusals(api: TestClient, runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    no_subject = api.post(
        "/v1/dialogs", json={"channel_id": channel_id, "emails": "a@example.org", "text": "x"}
    )
    assert no_subject.status_code == 422
    assert no_subject.json()["message"] == "A first e-mail needs a subject"
    closed = email_channel(runtime, tidy.id, write_first=False)
    refused = api.post("/v1/dialogs", json={"channel_id": closed, "emails": "a@example.org"})
    assert refused.status_code == 422 and "write first" in refused.json()["message"]
    bad = api.post("/v1/dialogs", json={"channel_id": channel_id, "emails": "nope"})
    assert bad.status_code == 422
    only = api.post("/v1/dialogs", data={"channel_id": channel_id, "emails": "c@example.org"})
    assert only.status_code == 200 and only.json()["data"]["message_id"] is None


def test_post_message_interrupt_and_409(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, client_id = email_dialog(runtime, tidy.id, channel_id, subject="Help")
    answer = api.post(
        "/v1/messages",
        json={"client_id": client_id, "text": "On it", "cc": ["boss@example.org"]},
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["dialog_id"] == dialog_id and data["transport"] == "email"
    assert data["type"] == "to_client" and data["channel_id"] == channel_id
    first = api.post(f"/v1/messages/{data['message_id']}/interrupt")
    assert first.status_code == 200
    assert first.json()["data"]["delivery_status"] == "cancelled"
    assert first.json()["data"]["text"] == "On it"  # taken back into the composer
    again = api.post(f"/v1/messages/{data['message_id']}/interrupt")
    assert again.status_code == 409
    with runtime.db.transaction() as session:
        row = session.get(Message, data["message_id"])
        assert row is not None
        row.delivery_status = DeliveryStatus.SENT.value
    sent = api.post(f"/v1/messages/{data['message_id']}/interrupt")
    assert sent.status_code == 409 and sent.json()["message"] == "Message has already been sent"


def test_comment_and_type_validation(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    note = api.post(
        "/v1/messages", json={"dialog_id": dialog_id, "text": "internal", "type": "comment"}
    )
    assert note.status_code == 200 and note.json()["data"]["type"] == "comment"
    row = api.get(f"/v1/messages/{note.json()['data']['message_id']}").json()["data"]
    assert row["delivery_status"] is None
    wrong = api.post("/v1/messages", json={"dialog_id": dialog_id, "text": "x", "type": "system"})
    assert wrong.status_code == 422


def test_other_company_is_404(
    app_client: TestClient,
    runtime: Runtime,
    tidy: CompanyFixture,
    other_company: CompanyFixture,
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, client_id = email_dialog(runtime, tidy.id, channel_id)
    headers = other_company.headers
    assert (
        app_client.post(
            "/v1/messages", json={"client_id": client_id, "text": "x"}, headers=headers
        ).status_code
        == 404
    )
    assert (
        app_client.post(
            "/v1/dialogs", json={"channel_id": channel_id, "emails": "a@b.org"}, headers=headers
        ).status_code
        == 404
    )
    mine = app_client.post(
        "/v1/messages", json={"dialog_id": dialog_id, "text": "x"}, headers=tidy.headers
    ).json()["data"]["message_id"]
    assert (
        app_client.post(f"/v1/messages/{mine}/interrupt", headers=headers).status_code == 404
    )  # fmt: skip


def test_delete_outbox_counts(api: TestClient, runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, client_id = email_dialog(runtime, tidy.id, channel_id)
    other_dialog, other_client = email_dialog(runtime, tidy.id, channel_id, ["z@example.org"])
    ids = [
        api.post("/v1/messages", json={"dialog_id": d, "text": "x"}).json()["data"]["message_id"]
        for d in (dialog_id, dialog_id, other_dialog)
    ]
    one = api.get("/gateway/delete_outbox", params={"message_id": ids[0]})
    assert one.json()["data"] == {"deleted": 1}
    by_client = api.get("/gateway/delete_outbox", params={"client_id": other_client})
    assert by_client.json()["data"] == {"deleted": 1}
    rest = api.get("/gateway/delete_outbox")
    assert rest.json()["data"] == {"deleted": 1}
    assert api.get("/gateway/delete_outbox").json()["data"] == {"deleted": 0}
    assert client_id


def test_upload_attachment_and_limits(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    answer = api.post(
        "/v1/messages",
        data={"dialog_id": str(dialog_id), "text": "see file"},
        files={"attachment": ("report.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    with runtime.db.reading() as session:
        atts = session.query(Attachment).filter_by(message_id=answer.json()["data"]["message_id"])
        assert [(a.filename, a.size) for a in atts] == [("report.csv", 8)]
    ftp = api.post(
        "/v1/messages",
        json={"dialog_id": dialog_id, "text": "x", "attachment": "ftp://example.org/f"},
    )
    assert ftp.status_code == 422
    limit = runtime.settings.max_attachment_bytes
    runtime.settings.max_attachment_bytes = 4
    try:
        big = api.post(
            "/v1/messages",
            data={"dialog_id": str(dialog_id), "text": "x"},
            files={"attachment": ("big.bin", b"0123456789", "application/octet-stream")},
        )
        assert big.status_code == 422
    finally:
        runtime.settings.max_attachment_bytes = limit


def test_external_transport_message_is_queued_now(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    from atendo.core.clients.service import find_or_create_client
    from atendo.core.dialogs.service import open_dialog

    with runtime.db.transaction() as session:
        channel = create_channel(
            session, company_id=tidy.id, transport="external", name="Bot", settings={},
            secrets={}, box=runtime.box,
        )  # fmt: skip
        client, _ = find_or_create_client(
            session, company_id=tidy.id, transport="external", address="ext-1"
        )
        open_dialog(session, company_id=tidy.id, client_id=client.id, channel_id=channel.id)
        channel_id, client_id = channel.id, client.id
    answer = api.post(
        "/v1/messages", json={"client_id": client_id, "channel_id": channel_id, "text": "hi"}
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["transport"] == "external"
    row = api.get(f"/v1/messages/{data['message_id']}").json()["data"]
    assert row["delivery_status"] == "queued" and row["send_at"]
    api.get("/gateway/delete_outbox", params={"channel_id": channel_id})


def test_put_dialog_assign_close_reopen(
    api: TestClient, runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    assigned = api.put(
        f"/v1/dialogs/{dialog_id}", json={"operator_id": tidy.admin_id, "force_assign": True}
    )
    assert assigned.status_code == 200 and assigned.json()["data"]["operator_id"] == tidy.admin_id
    closed = api.put(f"/v1/dialogs/{dialog_id}", json={"state": "closed"})
    assert closed.json()["data"]["state"] == "closed"
    reopened = api.put(f"/v1/dialogs/{dialog_id}", data={"state": "open"})
    assert reopened.json()["data"]["state"] == "open"
    assert api.put(f"/v1/dialogs/{dialog_id}", json={"state": "gone"}).status_code == 422
    assert api.put(f"/v1/dialogs/{dialog_id}", json={"operator_id": 10**9}).status_code == 404
