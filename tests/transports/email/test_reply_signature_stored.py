"""An incoming reply is stored as new words, the client's signature and the history, and the
API gives the signature apart ([ext] ``signature``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.transports.email.test_ingest import email_channel, ingest

RAW = (
    "From: Hans Müller <hans@example.de>\r\n"
    "To: support@acme.example\r\n"
    "Subject: AW: Bestellung 48213\r\n"
    "Message-ID: <signature-stored-1@example.de>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Das Paket ist nicht angekommen.\r\n"
    "\r\n"
    "Mit freundlichen Grüßen\r\n"
    "Hans Müller\r\n"
    "Tel. +49 30 1234567\r\n"
    "\r\n"
    "Am 30.04.2025 um 15:19 schrieb Acme Support <support@acme.example>:\r\n"
    "> Ihr Paket wurde gestern verschickt.\r\n"
).encode()


def test_reply_is_stored_as_text_signature_and_history(
    runtime: Runtime, company: CompanyFixture, app_client: TestClient
) -> None:
    channel_id = email_channel(runtime, company.id)
    message_id = ingest(runtime, channel_id, RAW)
    assert message_id is not None
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        stored = (message.text, message.signature, message.quoted_text)
    assert stored == (
        "Das Paket ist nicht angekommen.",
        "Mit freundlichen Grüßen\nHans Müller\nTel. +49 30 1234567",
        "Am 30.04.2025 um 15:19 schrieb Acme Support <support@acme.example>:\n"
        "> Ihr Paket wurde gestern verschickt.",
    )
    resp = app_client.get(f"/v1/messages/{message_id}", headers=company.headers)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert (data["text"], data["signature"]) == stored[:2]
