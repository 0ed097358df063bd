"""The lists' items, field by field: an e-mail with attachments, copies, a reply-to and
references; its dialog (recipients, subject, the last message); its client (custom fields,
comments, tags, e-mail addresses, channels).

The lists read their page as plain rows of the table's columns (``table_rows``), the one-item
reads as ORM objects: both must give exactly the payload written out here (every field, every
value), and the list's item must equal the one-item read's.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel

from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.dialogs.models import Dialog
from atendo.core.messages.models import Attachment, Message
from atendo.kit.clock import iso
from atendo.runtime import Runtime


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Souza <ana@client.example>"
    msg["To"] = "support@acme.example"
    msg["Cc"] = "boss@client.example, other@client.example"
    msg["Reply-To"] = "replies@client.example"
    msg["Subject"] = "Invoice 42"
    msg["Message-ID"] = "<invoice-42@client.example>"
    msg["In-Reply-To"] = "<earlier@acme.example>"
    msg["References"] = "<first@acme.example> <earlier@acme.example>"
    msg["Date"] = formatdate()
    msg.set_content("Please find the invoice attached.\n")
    msg.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    msg.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="items.csv")
    return bytes(msg)


def _data(api: TestClient, path: str, **params: Any) -> Any:
    r = api.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_every_field_of_the_lists_items(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    arrived = client_mail(runtime, channel_id, raw=_mail())
    # The client's own fields and a tag, through the API.
    put = api.put(
        f"/v1/clients/{arrived.client_id}",
        json={
            "nickname": "Ana (VIP)",
            "comment": "pays late",
            "extra_comment_1": "one",
            "extra_comment_2": "two",
            "extra_comment_3": "three",
            "external_id": "crm-77",
            "custom_fields": {"plan": "gold", "seats": 12, "flags": ["a", "b"]},
        },
    )
    assert put.status_code == 200, put.text
    tag = api.post("/v1/tags", json={"tag_label": "hot"}).json()["data"]
    assigned = api.post(
        "/v1/tags/assign_to",
        json={"tag_ids": [tag["id"]], "assignee_type": "client", "assignee_id": arrived.client_id},
    )
    assert assigned.json()["data"]["added"] == 1

    with runtime.db.reading() as session:
        message = session.get(Message, arrived.message_id)
        dialog = session.get(Dialog, arrived.dialog_id)
        client = session.get(Client, arrived.client_id)
        assert message is not None and dialog is not None and client is not None
        atts = sorted(
            session.query(Attachment).filter(Attachment.message_id == message.id),
            key=lambda a: a.id,
        )
        created, begin, client_created = (
            iso(message.created),
            iso(dialog.begin),
            iso(client.created),
        )
    assert [a.filename for a in atts] == ["invoice.pdf", "items.csv"]

    expected_message = {
        "id": arrived.message_id,
        "text": "Please find the invoice attached.",
        "type": "from_client",
        "transport": "email",
        "read": 0,
        "created": created,
        "operator_id": None,
        "channel_id": channel_id,
        "dialog_id": arrived.dialog_id,
        "client_id": arrived.client_id,
        "request_id": arrived.request_id,
        "attachments": [
            {
                "id": atts[0].id,
                "name": "invoice.pdf",
                "link": f"/v1/attachments/{atts[0].id}",
                "content_type": "application/pdf",
                "size": 16,
                "inline": False,
                "content_id": None,
            },
            {
                "id": atts[1].id,
                "name": "items.csv",
                "link": f"/v1/attachments/{atts[1].id}",
                "content_type": "text/csv",
                "size": 8,
                "inline": False,
                "content_id": None,
            },
        ],
        "recipient_status": None,
        "external_id": None,
        "subject": "Invoice 42",
        "html": None,
        "quoted_text": "",
        "signature": "",
        "email": {
            "from": "ana@client.example",
            "from_name": "Ana Souza",
            "to": ["support@acme.example"],
            "cc": ["boss@client.example", "other@client.example"],
            "bcc": [],
            "reply_to": ["replies@client.example"],
            "message_id": "invoice-42@client.example",
            "in_reply_to": "earlier@acme.example",
            "references": ["first@acme.example", "earlier@acme.example"],
        },
        "is_auto_reply": False,
        "is_bounce": False,
        "imported": False,
        "hidden": False,
        "hidden_reason": None,
        "parse_error": None,
        "delivery_status": None,
        "send_at": None,
        "sent_at": None,
        "error": None,
        "recipient_errors": {},
    }
    assert _data(api, "/v1/messages", dialog_id=arrived.dialog_id) == [expected_message]
    assert _data(api, f"/v1/messages/{arrived.message_id}") == expected_message

    expected_dialog = {
        "id": arrived.dialog_id,
        "state": "open",
        "begin": begin,
        "end": None,
        "operator_id": None,
        "group_id": None,
        "client_id": arrived.client_id,
        "channel_id": channel_id,
        "recipients": ["ana@client.example", "boss@client.example", "other@client.example"],
        "subject": "Invoice 42",
        "unread": 1,
        # The list's last message carries no attachments (one query less per page).
        "last_message": {**expected_message, "attachments": []},
    }
    [listed_dialog] = _data(api, "/v1/dialogs")
    assert listed_dialog == expected_dialog
    one = _data(api, f"/v1/dialogs/{arrived.dialog_id}")
    assert {k: v for k, v in one.items() if k != "events"} == expected_dialog

    expected_client = {
        "id": arrived.client_id,
        "name": "Ana Souza",
        "assigned_name": "Ana (VIP)",
        "phone": None,
        "email": "ana@client.example",
        "emails": ["ana@client.example"],
        "comment": "pays late",
        "extra_comment_1": "one",
        "extra_comment_2": "two",
        "extra_comment_3": "three",
        "custom_fields": {"plan": "gold", "seats": 12, "flags": ["a", "b"]},
        "external_id": "crm-77",
        "visitor": None,
        "tags": [
            {
                "id": tag["id"],
                "group_id": None,
                "group_name": None,
                "label": "hot",
                "description": tag["description"],
                "bg_color": tag["bg_color"],
                "text_color": tag["text_color"],
                "order_show": tag["order_show"],
            }
        ],
        "channels": [{"id": channel_id, "transports": ["email"]}],
        "created": client_created,
    }
    assert _data(api, "/v1/clients") == [expected_client]
    assert _data(api, "/v1/clients", search="ana souza") == [expected_client]
    assert _data(api, f"/v1/clients/{arrived.client_id}") == expected_client


def test_a_clients_emails_are_its_email_addresses_alone(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    """``email``/``emails`` list the client's e-mail addresses, oldest first, never its
    addresses on other transports (a phone number)."""
    channel_id = email_channel(runtime, company.id)
    arrived = client_mail(runtime, channel_id, raw=_mail())
    with runtime.db.transaction() as session:
        for transport, address in (("whatsapp", "+5511900000009"), ("email", "ana@other.example")):
            session.add(
                ClientIdentity(
                    company_id=company.id,
                    client_id=arrived.client_id,
                    transport=transport,
                    address=address,
                )
            )
    [listed] = _data(api, "/v1/clients")
    assert (listed["email"], listed["emails"]) == (
        "ana@client.example",
        ["ana@client.example", "ana@other.example"],
    )
    assert _data(api, f"/v1/clients/{arrived.client_id}") == listed
