"""Issue 18, big mail: the stored message size (``ATENDO_MAX_MESSAGE_BYTES``).

An incoming mail over it is kept raw (the original to download, whole), stored without its
body and attachments in a dialog the operators see, and says how big it was; an outgoing
message over it is refused: 413 on the API, a sentence in the composer."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

import atendo.settings
from atendo.core.channels.models import Channel
from atendo.core.messages.models import Attachment, Message
from atendo.panel.errors import size_text
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.email.bounds import UNKNOWN_SENDER
from atendo.transports.email.ingest import ingest_raw, prepare
from tests.conftest import CompanyFixture
from tests.factories import client_mail, external_channel
from tests.panel.conftest import PanelClient, email_channel

Signin = Callable[[str, str], PanelClient]
LIMIT = 100_000


def big_mail(sender: str, subject: str, size: int) -> bytes:
    """A mail with a text part and a ``size``-byte attachment (base64 in the mail)."""
    boundary = "b-" + uuid.uuid4().hex
    data = base64.encodebytes(bytes(range(256)) * (size // 256)).decode()
    return (
        f"From: Ana <{sender}>\r\nTo: support@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.example>\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 -0300\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSeguem as fotos.\r\n"
        f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
        'Content-Disposition: attachment; filename="fotos.jpg"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{data}\r\n--{boundary}--\r\n"
    ).encode()


def _ingest(runtime: Runtime, channel_id: int, raw: bytes, max_bytes: int | None) -> Message:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=raw,
            max_bytes=max_bytes,
        )  # fmt: skip
        assert message is not None
        session.expunge(message)
        return message


def _attachments(runtime: Runtime, company_id: int, message_id: int) -> list[str]:
    with runtime.db.reading() as session:
        return list(
            session.scalars(
                select(Attachment.filename).where(
                    Attachment.company_id == company_id, Attachment.message_id == message_id
                )
            )
        )


def test_a_mail_over_the_limit_is_kept_raw_and_shown_as_too_large(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    raw = big_mail("ana@client.example", "Fotos da obra", 2 * LIMIT)
    assert len(raw) > LIMIT
    message = _ingest(runtime, channel, raw, LIMIT)
    # In a dialog the operators see, with who sent it and its subject; no body, no files.
    assert message.dialog_id is not None and not message.hidden
    assert (message.from_email, message.from_name) == ("ana@client.example", "Ana")
    assert message.subject == "Fotos da obra"
    assert message.parse_error == f"too large: {len(raw)} bytes, over the limit of {LIMIT}"
    assert message.text == "" and message.html is None
    assert _attachments(runtime, company.id, message.id) == []
    assert message.raw_sha and runtime.blobs.get(message.raw_sha) == raw

    client = signin(company.admin_email, company.admin_password)
    page = client.http.get(f"/chats/{message.dialog_id}")
    assert page.status_code == 200
    sentence = (
        "Esta mensagem é grande demais para ser mostrada aqui "
        f"({size_text(len(raw), 'pt_BR')}; o limite é {size_text(LIMIT, 'pt_BR')})."
    )
    assert sentence in page.text
    assert "could not be read" not in page.text  # not taken for an unreadable mail
    assert f'href="/panel/messages/{message.id}/original"' in page.text
    download = client.http.get(f"/panel/messages/{message.id}/original")
    assert download.status_code == 200 and download.content == raw
    assert download.headers["content-type"].startswith("message/rfc822")
    assert download.headers["x-content-type-options"] == "nosniff"
    api = client.http.get(f"/v1/messages/{message.id}/raw", headers=company.headers)
    assert api.status_code == 200 and api.content == raw
    listed = client.http.get(
        "/v1/messages", params={"dialog_id": message.dialog_id}, headers=company.headers
    ).json()["data"]
    assert [m["parse_error"] for m in listed] == [message.parse_error]


def test_the_same_mail_under_the_limit_is_read_whole(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel = email_channel(runtime, company.id)
    raw = big_mail("bia@client.example", "Fotos", 2 * LIMIT)
    message = _ingest(runtime, channel, raw, len(raw))  # exactly at the limit: still read
    assert message.parse_error is None and message.text.startswith("Seguem as fotos.")
    assert _attachments(runtime, company.id, message.id) == ["fotos.jpg"]


def test_the_mailbox_sync_uses_the_setting(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prepare`` (what the sync and its helper process call) takes the limit from
    ``ATENDO_MAX_MESSAGE_BYTES``."""
    raw = big_mail("caio@client.example", "Fotos", 2 * LIMIT)
    monkeypatch.setattr(atendo.settings, "_settings", Settings(max_message_bytes=LIMIT))
    small = prepare(runtime.blobs, raw)
    assert small.parsed.parse_error == f"too large: {len(raw)} bytes, over the limit of {LIMIT}"
    assert small.attachment_shas == [] and small.parsed.subject == "Fotos"
    monkeypatch.setattr(atendo.settings, "_settings", Settings())  # the default: 50 MB
    whole = prepare(runtime.blobs, raw)
    assert whole.parsed.parse_error is None and len(whole.attachment_shas) == 1


def test_an_outgoing_message_over_the_limit_is_refused(
    runtime: Runtime, company: CompanyFixture, signin: Signin, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = email_channel(runtime, company.id)
    arrived = client_mail(runtime, channel, sender="dora@client.example", subject="Pedido")
    monkeypatch.setattr(runtime.settings, "max_message_bytes", 10 * 1024)
    client = signin(company.admin_email, company.admin_password)
    body = {"dialog_id": arrived.dialog_id, "text": "ç" * 6000}  # 12,000 bytes in UTF-8
    r = client.http.post("/v1/messages", json=body, headers=company.headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "message.too_large"
    assert r.json()["errors"] == {"message": ["at most 10240 bytes per message, 12000 given"]}
    r = client.post(f"/chats/{arrived.dialog_id}/send", {"text": "ç" * 6000})
    assert r.status_code == 413  # type: ignore[attr-defined]
    assert (
        "A mensagem é grande demais: no máximo 10 KB com os arquivos (esta tem 12 KB)." in r.text  # type: ignore[attr-defined]
    )
    ok = client.http.post(
        "/v1/messages", json={**body, "text": "ç" * 5120}, headers=company.headers
    )
    assert ok.status_code == 200, ok.text
    # A client's message injected through the API (an external channel) alike.
    bot = external_channel(runtime, company.id)
    inbox = {"channel_id": bot, "body": "ç" * 6000, "from_client": {"phone": "+5511990000002"}}
    r = client.http.post("/v1/messages/inbox", json=inbox, headers=company.headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "message.too_large"
    assert r.json()["errors"] == {"message": ["at most 10240 bytes per message, 12000 given"]}


def test_random_bytes_over_the_limit_are_kept_under_an_unknown_sender(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """No header section to find (no blank line in the bytes read): still one visible
    message, its raw kept whole."""
    channel = email_channel(runtime, company.id)
    raw = bytes((i * 7919) % 251 + 1 for i in range(3 * LIMIT)).replace(b"\n", b"x")
    message = _ingest(runtime, channel, raw, LIMIT)
    assert message.dialog_id is not None and not message.hidden
    assert message.from_email == UNKNOWN_SENDER
    assert message.parse_error == f"too large: {len(raw)} bytes, over the limit of {LIMIT}"
    assert message.raw_sha and runtime.blobs.get(message.raw_sha) == raw
