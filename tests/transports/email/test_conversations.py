"""E-mail conversations as a support team lives them (issue 11), against a real SMTP server
(aiosmtpd): reply-all with Cc, explicit To/Cc/Bcc, subjects after bounces and auto-replies,
the References chain, subjectless mail refused, forward, unmatched bounces, hidden mail,
intranet addresses, a refused login holding the channel's queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.core.channels.service import get_channel, request_reconnect, update_channel
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.enums import ChannelStatus, DeliveryStatus
from atendo.core.errors import Invalid
from atendo.core.events.models import Event
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outbox import interrupt_message
from atendo.kit.failures import FailureKind, classify
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.base import Forward, Reply
from atendo.transports.email.ingest import ingest_raw
from atendo.transports.email.outbound import start_outbound_chat
from atendo.transports.email.recipients import reply_all
from atendo.transports.email.subjects import base_subject, reply_subject
from tests.conftest import CompanyFixture
from tests.factories import client_mail
from tests.servers.smtp import SmtpServer
from tests.transports.email.conftest import FrozenClock
from tests.transports.email.test_outbound import (
    email_channel,
    reply,
    tidy_company,
)
from tests.transports.email.test_send import load, sender


@pytest.fixture
def tidy(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    yield from tidy_company(runtime, company)


def raw_mail(
    *,
    sender: str,
    subject: str,
    to: str = "support@acme.example",
    cc: str = "",
    reply_to: str = "",
    mid: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    extra: str = "",
    body: str = "Olá!",
) -> tuple[bytes, str]:
    mid = mid or f"{uuid.uuid4().hex}@client.example"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        *([f"Reply-To: {reply_to}"] if reply_to else []),
        f"Subject: {subject}",
        f"Message-ID: <{mid}>",
        "Date: Mon, 07 Dec 2026 10:00:00 +0000",
        *([f"In-Reply-To: <{in_reply_to}>"] if in_reply_to else []),
        *([f"References: {references}"] if references else []),
        *([extra] if extra else []),
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode(), mid


def dsn(
    *, failed: str, original_mid: str, subject: str = "Undelivered Mail Returned to Sender"
) -> bytes:
    boundary = "dsn-boundary"
    text = f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: support@acme.example
Subject: {subject}
Message-ID: <{uuid.uuid4().hex}@mx.example.net>
Date: Mon, 07 Dec 2026 10:05:00 +0000
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {failed}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown

--{boundary}
Content-Type: text/rfc822-headers

From: Someone <someone@acme.example>
To: {failed}
Subject: Old mail
Message-ID: <{original_mid}>

--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()


def ingest(runtime: Runtime, channel_id: int, raw: bytes) -> Message:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=raw
        )
        assert message is not None
        session.expunge(message)
        return message


def headers_of(raw: bytes) -> dict[str, str]:
    mail = message_from_bytes(raw, policy=default_policy)
    return {k: str(v) for k, v in mail.items()}


# --- recipients ---------------------------------------------------------------------------


async def test_reply_all_keeps_the_clients_cc_on_the_envelope_and_headers(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    raw, _mid = raw_mail(
        sender="Ana <ana@cliente.example>",
        to="support@acme.example, Carla <carla@cliente.example>",
        cc="boss@cliente.example, SUPPORT@acme.example",
        subject="Pedido 4700",
    )
    arrived = client_mail(runtime, channel_id, raw)
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, arrived.dialog_id)
        assert dialog is not None
        default = reply_all(session, dialog=dialog)
        assert dialog.recipients == [
            "ana@cliente.example", "carla@cliente.example", "boss@cliente.example",
        ]  # fmt: skip
    assert default.to == ["ana@cliente.example"]
    assert default.cc == ["carla@cliente.example", "boss@cliente.example"]  # never ourselves
    assert default.bcc == []

    queued = reply(runtime, tidy.id, arrived.dialog_id, text="Recebido!")
    assert (queued.to, queued.cc, queued.bcc) == (default.to, default.cc, [])
    await sender(runtime).run_once()
    (got,) = smtp_server.messages
    assert list(got.rcpt_tos) == [
        "ana@cliente.example",
        "carla@cliente.example",
        "boss@cliente.example",
    ]
    headers = headers_of(got.raw)
    assert headers["To"] == "ana@cliente.example"
    assert headers["Cc"] == "carla@cliente.example, boss@cliente.example"
    assert headers["Subject"] == "Re: Pedido 4700"

    # Carla, met in Cc, answers: her mail threads into the same dialog, no dialog of her own.
    raw2, _ = raw_mail(
        sender="carla@cliente.example", subject="Re: Pedido 4700",
        in_reply_to=str(queued.email_message_id),
    )  # fmt: skip
    assert client_mail(runtime, channel_id, raw2).dialog_id == arrived.dialog_id


async def test_reply_to_wins_and_explicit_bcc_never_reaches_the_headers(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    raw, _ = raw_mail(
        sender="noreply@loja.example", reply_to="atendimento@loja.example", subject="Nota fiscal"
    )
    arrived = client_mail(runtime, channel_id, raw)
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, arrived.dialog_id)
        assert dialog is not None
        assert reply_all(session, dialog=dialog).to == ["atendimento@loja.example"]
    queued = reply(
        runtime, tidy.id, arrived.dialog_id,
        to=["fiscal@loja.example"], cc=["gerente@loja.example"], bcc=["auditoria@acme.example"],
    )  # fmt: skip
    assert queued.bcc == ["auditoria@acme.example"]
    await sender(runtime).run_once()
    (got,) = smtp_server.messages
    assert list(got.rcpt_tos) == [
        "fiscal@loja.example",
        "gerente@loja.example",
        "auditoria@acme.example",
    ]
    assert b"auditoria" not in got.raw  # Bcc: the envelope only
    headers = headers_of(got.raw)
    assert (headers["To"], headers["Cc"]) == ("fiscal@loja.example", "gerente@loja.example")
    assert "Bcc" not in headers

    with runtime.db.transaction() as session, pytest.raises(Invalid) as bad:
        registry.get("email").queue_reply(
            session, runtime=runtime, company_id=tidy.id, dialog_id=arrived.dialog_id,
            reply=Reply(
                text="x", operator_id=None, to=["not an address"], cc=[]
            ),
        )  # fmt: skip
    assert bad.value.errors == {"to": ["not a valid e-mail address: not an address"]}
    with runtime.db.transaction() as session, pytest.raises(Invalid) as none:
        registry.get("email").queue_reply(
            session, runtime=runtime, company_id=tidy.id, dialog_id=arrived.dialog_id,
            reply=Reply(
                text="x", operator_id=None, to=[], cc=[], bcc=["a@b.example"]
            ),
        )  # fmt: skip
    assert none.value.errors == {"to": ["at least one address is needed"]}


async def test_an_intranet_address_is_answered(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    raw, _ = raw_mail(sender="someone@empresa.local", cc="ti@servidor.internal", subject="VPN")
    arrived = client_mail(runtime, channel_id, raw)
    queued = reply(runtime, tidy.id, arrived.dialog_id, bcc=["log@host.lan"])
    assert (queued.to, queued.cc) == (["someone@empresa.local"], ["ti@servidor.internal"])
    await sender(runtime).run_once()
    (got,) = smtp_server.messages
    assert list(got.rcpt_tos) == ["someone@empresa.local", "ti@servidor.internal", "log@host.lan"]
    assert load(runtime, queued.id).delivery_status == DeliveryStatus.SENT


# --- subjects and threading -----------------------------------------------------------------


def test_reply_prefixes_of_any_language_are_normalised_never_stacked() -> None:
    assert reply_subject("RES: Re: AW: Seu pedido 4700") == "Re: Seu pedido 4700"
    assert reply_subject("SV: Antw: R: Enc: TR: WG: Fwd: Fw: RE[2]: Res: Orçamento") == (
        "Re: Orçamento"
    )
    assert reply_subject("[suporte] Re: Acesso") == "Re: Acesso"
    assert reply_subject("Reunião de terça") == "Re: Reunião de terça"  # a word, not a prefix
    assert reply_subject("Resposta automática: Re: x") == "Re: Resposta automática: Re: x"
    assert base_subject("  Re:   Re：Olá  ") == "Olá"
    assert reply_subject("Re:") == ""


def test_subject_is_taken_from_the_last_person_written_mail(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    raw, mid = raw_mail(sender="cliente@ex.example", subject="Seu pedido 4700")
    arrived = client_mail(runtime, channel_id, raw)
    ours = reply(runtime, tidy.id, arrived.dialog_id)
    assert ours.subject == "Re: Seu pedido 4700"
    vacation, _ = raw_mail(
        sender="cliente@ex.example", subject="Resposta automática: Re: Seu pedido 4700",
        in_reply_to=str(ours.email_message_id), extra="Auto-Submitted: auto-replied",
    )  # fmt: skip
    auto = ingest(runtime, channel_id, vacation)
    assert auto.is_auto_reply and auto.dialog_id == arrived.dialog_id
    bounce = ingest(runtime, channel_id, dsn(failed="cliente@ex.example", original_mid=mid))
    assert bounce.is_bounce and bounce.dialog_id == arrived.dialog_id
    assert reply(runtime, tidy.id, arrived.dialog_id).subject == "Re: Seu pedido 4700"


def test_references_carry_the_whole_chain_over_five_messages(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    raw, first = raw_mail(sender="cliente@ex.example", subject="Troca")
    dialog_id = client_mail(runtime, channel_id, raw).dialog_id
    second = reply(runtime, tidy.id, dialog_id)
    assert (second.in_reply_to, second.references) == (first, [first])
    raw, third = raw_mail(
        sender="cliente@ex.example", subject="Re: Troca", in_reply_to=str(second.email_message_id)
    )  # this client sends In-Reply-To only, no References
    client_mail(runtime, channel_id, raw)
    fourth = reply(runtime, tidy.id, dialog_id)
    assert fourth.in_reply_to == third
    assert fourth.references == [first, second.email_message_id, third]
    raw, fifth = raw_mail(
        sender="cliente@ex.example", subject="Re: Troca", in_reply_to=str(fourth.email_message_id),
        references=f"<{first}> <{fourth.email_message_id}>",
    )  # fmt: skip
    client_mail(runtime, channel_id, raw)
    sixth = reply(runtime, tidy.id, dialog_id)
    assert sixth.in_reply_to == fifth
    assert sixth.references == [
        first, second.email_message_id, third, fourth.email_message_id, fifth,
    ]  # fmt: skip


def test_a_subjectless_first_mail_is_refused(
    runtime: Runtime, tidy: CompanyFixture, api: TestClient
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    with runtime.db.transaction() as session:
        dialog, message = start_outbound_chat(
            session, runtime=runtime, company_id=tidy.id, channel_id=channel_id,
            emails=["novo@cliente.example"], operator_id=None,
        )  # fmt: skip
        dialog_id = dialog.id
    assert message is None
    answer = api.post("/v1/messages", json={"dialog_id": dialog_id, "text": "Olá"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == {
        "subject": ["required: the conversation has no subject to derive it from"]
    }
    with runtime.db.reading() as session:
        assert session.scalar(select(Message.id).where(Message.dialog_id == dialog_id)) is None
    given = api.post(
        "/v1/messages",
        json={"dialog_id": dialog_id, "text": "Olá", "subject": "Boas-vindas", "cc": []},
    )
    assert given.status_code == 200, given.text
    sent = load(runtime, given.json()["data"]["message_id"])
    assert (sent.subject, sent.to, sent.cc) == ("Boas-vindas", ["novo@cliente.example"], [])
    # the API's to[] / cc[] / bcc[], and a bad one answered 422 naming it
    explicit = api.post(
        "/v1/messages",
        json={"dialog_id": dialog_id, "text": "2", "to[]": ["a@x.example"], "bcc": ["b@x.example"]},
    )
    assert explicit.status_code == 200, explicit.text
    row = explicit.json()["data"]["message_id"]
    got = api.get(f"/v1/messages/{row}").json()["data"]["email"]
    assert (got["to"], got["cc"], got["bcc"]) == (["a@x.example"], [], ["b@x.example"])
    bad = api.post("/v1/messages", json={"dialog_id": dialog_id, "text": "3", "cc": ["x@"]})
    assert bad.status_code == 422 and bad.json()["errors"] == {
        "cc": ["not a valid e-mail address: x@"]
    }


def test_sending_on_a_disabled_channel_is_refused_up_front(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    raw, _ = raw_mail(sender="cliente@ex.example", subject="Oi")
    dialog_id = client_mail(runtime, channel_id, raw).dialog_id
    with runtime.db.transaction() as session:
        get_channel(session, company_id=tidy.id, channel_id=channel_id).status = "disabled"
    with pytest.raises(Invalid) as refused:
        reply(runtime, tidy.id, dialog_id)
    assert refused.value.errors == {"channel_id": ["the channel is disabled"]}


# --- forward ---------------------------------------------------------------------------------


async def test_forward_sends_the_message_and_its_files_to_any_address(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=15)
    boundary = "b0"
    raw = (
        "From: Ana <ana@cliente.example>\r\nTo: support@acme.example\r\nSubject: Re: Boleto\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@cliente.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSegue o boleto.\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="boleto.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgYm9sZXRv\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    arrived = client_mail(runtime, channel_id, raw)
    with runtime.db.transaction() as session:
        fwd = registry.get("email").forward(
            session, runtime=runtime, company_id=tidy.id,
            forward=Forward(
                message_id=arrived.message_id, to=["financeiro@acme.local"],
                note="Pode conferir?", operator_id=tidy.admin_id,
            ),
        )  # fmt: skip
        fwd_id = fwd.id
    fwd = load(runtime, fwd_id)
    assert (fwd.dialog_id, fwd.to, fwd.subject) == (
        arrived.dialog_id, ["financeiro@acme.local"], "Fwd: Boleto",
    )  # fmt: skip
    assert fwd.delivery_status == DeliveryStatus.QUEUED and fwd.in_reply_to is None
    assert fwd.text.startswith("Pode conferir?\n\n---------- Forwarded message ----------")
    assert "Segue o boleto." in fwd.text
    await sender(runtime).run_once()
    assert len(smtp_server) == 0  # waits for the send delay, interruptible like a reply
    clock.advance(seconds=16)
    await sender(runtime).run_once()
    (got,) = smtp_server.messages
    assert list(got.rcpt_tos) == ["financeiro@acme.local"]
    mail = message_from_bytes(got.raw, policy=default_policy)
    files = [(p.get_filename(), p.get_content()) for p in mail.iter_attachments()]
    assert files == [("boleto.pdf", b"%PDF-1.4 boleto")]
    with runtime.db.reading() as session:
        names = list(
            session.scalars(select(Attachment.filename).where(Attachment.message_id == fwd_id))
        )
    assert names == ["boleto.pdf"]


# --- bounces and hidden mail -------------------------------------------------------------------


def test_a_bounce_of_unknown_mail_lands_in_the_failed_recipients_dialog(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    with runtime.db.reading() as session:
        events_before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    bounce = ingest(runtime, channel_id, dsn(failed="perdido@cliente.example", original_mid="x@y"))
    assert bounce.is_bounce and not bounce.hidden and bounce.hidden_reason is None
    assert bounce.dialog_id is not None and bounce.request_id is None
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, bounce.dialog_id)
        assert dialog is not None and dialog.recipients == ["perdido@cliente.example"]
        requests = session.scalars(select(Request).where(Request.dialog_id == dialog.id)).all()
        events = list(
            session.scalars(
                select(Event.type).where(Event.company_id == tidy.id, Event.id > events_before)
            )
        )
    assert list(requests) == []  # no request, no automation
    assert events == ["new_client"]  # the client it names; no inbox, no new_request
    # A second bounce for the same address joins the same dialog.
    again = ingest(runtime, channel_id, dsn(failed="perdido@cliente.example", original_mid="z@y"))
    assert again.dialog_id == bounce.dialog_id


def test_hidden_mail_is_reachable_with_include_hidden(
    runtime: Runtime, tidy: CompanyFixture, api: TestClient
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    own_raw, _ = raw_mail(sender="support@acme.example", to="x@ex.example", subject="Cópia")
    own = ingest(runtime, channel_id, own_raw)
    assert (own.hidden, own.hidden_reason) == (True, "own")
    nobody = b"From: MAILER-DAEMON@mx.example\r\nTo: support@acme.example\r\nSubject: failure\r\n"
    nobody += b"Message-ID: <nobody-bounce@mx.example>\r\n\r\nsomething failed, no address\r\n"
    lost = ingest(runtime, channel_id, nobody)
    assert (lost.is_bounce, lost.hidden, lost.hidden_reason) == (True, True, "bounce")
    listed = api.get("/v1/messages", params={"channel_id": channel_id}).json()["data"]
    assert [m["id"] for m in listed] == []
    everything = api.get(
        "/v1/messages", params={"channel_id": channel_id, "include_hidden": "true"}
    ).json()["data"]
    assert [(m["id"], m["hidden"], m["hidden_reason"]) for m in everything] == [
        (lost.id, True, "bounce"), (own.id, True, "own"),
    ]  # fmt: skip
    assert api.get("/v1/messages", params={"include_hidden": "maybe"}).status_code == 422


# --- a refused login holds the channel's queue ---------------------------------------------


async def test_a_refused_login_holds_the_queue_until_the_password_is_fixed(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    smtp_server.require_auth("support@acme.example", "right password")
    channel_id = email_channel(
        runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0,
        secrets={"password": "wrong password"},
    )  # fmt: skip
    with runtime.db.transaction() as session:
        get_channel(session, company_id=tidy.id, channel_id=channel_id).settings = {
            **get_channel(session, company_id=tidy.id, channel_id=channel_id).settings,
            "login": "support@acme.example",
        }
    raw, _ = raw_mail(sender="cliente@ex.example", subject="Senha")
    dialog_id = client_mail(runtime, channel_id, raw).dialog_id
    first = reply(runtime, tidy.id, dialog_id, text="um")
    second = reply(runtime, tidy.id, dialog_id, text="dois")
    worker = sender(runtime)
    await worker.run_once()
    assert len(smtp_server) == 0
    for held in (load(runtime, first.id), load(runtime, second.id)):
        assert (held.delivery_status, held.attempts) == (DeliveryStatus.QUEUED, 0)
        assert held.error is not None and held.error.startswith("waiting for the connection: ")
        assert classify(held.error).kind == FailureKind.WAITING
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        assert (channel.status, channel.send_held) == (ChannelStatus.ERROR, True)
        assert channel.last_error and channel.last_error.startswith("login refused: 535")
    assert classify(channel.last_error).kind == FailureKind.LOGIN_REFUSED
    tried = len(smtp_server.auth_attempts)
    assert tried >= 1 and not any(ok for _login, ok in smtp_server.auth_attempts)
    # Held: time passes, nothing is tried again (no retries burnt), and it stays interruptible.
    clock.advance(hours=30)
    await worker.run_once()
    assert load(runtime, first.id).attempts == 0
    assert len(smtp_server.auth_attempts) == tried  # no new login while held
    with runtime.db.transaction() as session:
        interrupt_message(session, company_id=tidy.id, message_id=second.id)
    # The admin fixes the password: the held message goes out.
    with runtime.db.transaction() as session:
        channel = get_channel(session, company_id=tidy.id, channel_id=channel_id)
        update_channel(
            session, channel=channel, secrets={"password": "right password"}, box=runtime.box
        )
        request_reconnect(session, company_id=tidy.id, channel_id=channel_id)
    await worker.run_once()
    (got,) = smtp_server.messages
    assert got.auth_login == "support@acme.example"
    done = load(runtime, first.id)
    assert (done.delivery_status, done.attempts) == (DeliveryStatus.SENT, 1)
    assert load(runtime, second.id).delivery_status == DeliveryStatus.CANCELLED
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None and channel.send_held is False


def test_a_fetched_batch_places_unmatched_bounces_like_one_by_one(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    """The mailbox sync stores a fetch as one batch (``ingest_batch``): the same placement."""
    from atendo.transports.email.ingest import ingest_batch, prepare

    channel_id = email_channel(runtime, tidy.id)
    raw, _ = raw_mail(sender="ana@cliente.example", subject="Oi", cc="bia@cliente.example")
    items = [
        prepare(runtime.blobs, raw, uid=1),
        prepare(runtime.blobs, dsn(failed="sumido@cliente.example", original_mid="a@b"), uid=2),
        prepare(runtime.blobs, dsn(failed="sumido@cliente.example", original_mid="c@d"), uid=3),
        prepare(runtime.blobs, dsn(failed="ana@cliente.example", original_mid="e@f"), uid=4),
    ]
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        stored = ingest_batch(session, box=runtime.box, channel=channel, items=items)
        rows = [(m.dialog_id, m.is_bounce, m.hidden, m.request_id is None) for m in stored]
        dialogs = {
            d.id: d for d in session.scalars(select(Dialog).where(Dialog.channel_id == channel_id))
        }
        types = list(session.scalars(select(Event.type).where(Event.company_id == tidy.id)))
    ana, lost, lost_again, ana_bounce = rows
    assert ana[1:] == (False, False, False)
    assert dialogs[ana[0]].recipients == ["ana@cliente.example", "bia@cliente.example"]
    assert lost[1:] == (True, False, True) and lost_again[0] == lost[0] != ana[0]
    assert dialogs[lost[0]].recipients == ["sumido@cliente.example"]
    assert ana_bounce == (ana[0], True, False, False)  # joins Ana's open request, opens none
    assert sorted(types) == ["inbox", "new_client", "new_client", "new_request"]


QUOTE_CONTAINERS = {
    "gmail": '<div class="gmail_quote"><div class="gmail_attr">On Mon, Suporte wrote:</div>'
    "<blockquote>{old}</blockquote></div>",
    "outlook": '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>De:</b> Suporte'
    "</div><div>{old}</div>",
    "apple": '<div><br><blockquote type="cite"><div>Em 1 de dez. de 2026, às 10:00, Suporte '
    'escreveu:</div><br class="Apple-interchange-newline"><div>{old}</div></blockquote></div>',
    "thunderbird": '<div class="moz-cite-prefix">Em 01/12, Suporte escreveu:</div>'
    '<blockquote type="cite">{old}</blockquote>',
    "yahoo": '<div class="yahoo_quoted"><div>Em segunda, Suporte escreveu:</div>'
    "<blockquote>{old}</blockquote></div>",
    "zoho": '<div class="zmail_extra"><div>---- Em seg, Suporte escreveu ----</div>'
    "<blockquote>{old}</blockquote></div>",
}


@pytest.mark.parametrize("client", sorted(QUOTE_CONTAINERS))
def test_html_quote_containers_are_kept_out_of_the_shown_body(
    runtime: Runtime, tidy: CompanyFixture, client: str
) -> None:
    old = "Sua entrega sai amanhã cedo."
    html = "<div>Chegou, obrigada!</div>" + QUOTE_CONTAINERS[client].format(old=old)
    raw = (
        "From: ana@cliente.example\r\nTo: support@acme.example\r\nSubject: Re: Entrega\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@cliente.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    message = ingest(runtime, email_channel(runtime, tidy.id), raw)
    assert message.html is not None and "Chegou, obrigada!" in message.html
    assert old not in message.html  # shown once: under "mostrar citação"
    assert old in message.quoted_text and message.text == "Chegou, obrigada!"
