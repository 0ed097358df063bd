"""The sender keeps a channel's SMTP sessions open across messages, and records outcomes in
groups -- against the real aiosmtpd server, counting the sessions it saw."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from atendo.core.enums import DeliveryStatus, EventType
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import Accepted, Outcome, PermanentFailure
from atendo.core.messages.outgoing import OutgoingAttachment
from atendo.core.messages.service import message_event_payload, message_event_payloads
from atendo.runtime import Runtime
from atendo.transports.email.smtp_delivery import GroupWriter
from atendo.transports.email.smtp_send import SmtpAccount, SmtpPool
from tests.conftest import CompanyFixture
from tests.factories import LOOPBACK_MAIL
from tests.servers.smtp import SmtpServer
from tests.transports.email.test_outbound import (
    email_channel,
    email_dialog,
    reply,
    tidy_company,
)
from tests.transports.email.test_send import sender

tidy = pytest.fixture(tidy_company, name="tidy")


def queue_replies(runtime: Runtime, company_id: int, port: int, count: int) -> list[int]:
    channel_id = email_channel(runtime, company_id, smtp_port=port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, company_id, channel_id, subject="Sessions")
    return [reply(runtime, company_id, dialog_id, text=f"reply {i}").id for i in range(count)]


def statuses(runtime: Runtime, ids: Sequence[int]) -> list[str | None]:
    with runtime.db.reading() as session:
        rows = session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
        return [m.delivery_status for m in rows]


async def test_a_channels_messages_share_its_sessions(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    ids = queue_replies(runtime, tidy.id, smtp_server.port, 12)
    worker = sender(runtime, per_channel=2)
    await worker.run_once()
    assert len(smtp_server) == 12
    assert smtp_server.sessions == 2  # one per concurrent slot, not one per message
    assert worker.smtp_sessions == 2
    assert statuses(runtime, ids) == [DeliveryStatus.SENT] * 12
    received = [m.message_id for m in smtp_server.messages]
    assert len(set(received)) == 12


async def test_a_session_carries_at_most_messages_per_session(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    ids = queue_replies(runtime, tidy.id, smtp_server.port, 12)
    await sender(runtime, per_channel=1, messages_per_session=5).run_once()
    assert len(smtp_server) == 12
    assert smtp_server.sessions == 3  # 5 + 5 + 2
    assert statuses(runtime, ids) == [DeliveryStatus.SENT] * 12


async def test_a_refused_message_does_not_spoil_the_session(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    ids = queue_replies(runtime, tidy.id, smtp_server.port, 3)
    smtp_server.fail_next(554, "5.7.1 Rejected")
    await sender(runtime, per_channel=1).run_once()
    assert statuses(runtime, ids) == [
        DeliveryStatus.FAILED,
        DeliveryStatus.SENT,
        DeliveryStatus.SENT,
    ]
    assert len(smtp_server) == 2
    assert smtp_server.sessions == 1  # RSET after the refusal, then the next MAIL FROM


def account_of(server: SmtpServer) -> SmtpAccount:
    return SmtpAccount(host=server.host, port=server.port, security="none", network=LOOPBACK_MAIL)


async def mail(pool: SmtpPool, server: SmtpServer, subject: str, rcpt: str = "b@ex.org") -> Outcome:
    raw = f"Subject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nHello\r\n"
    return await pool.send(
        account_of(server), mail_from="a@example.org", recipients=[rcpt], raw=raw.encode()
    )


async def test_a_session_the_server_dropped_is_replaced_without_a_double_send(
    smtp_server: SmtpServer,
) -> None:
    pool = SmtpPool()
    try:
        first = await mail(pool, smtp_server, "one")
        assert smtp_server.drop_sessions() == 1  # the idle session, closed by the server
        second = await mail(pool, smtp_server, "two")
    finally:
        await pool.close()
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert [m.subject for m in smtp_server.messages] == ["one", "two"]
    assert smtp_server.sessions == 2 and pool.sessions == 2


async def test_idle_sessions_are_closed(smtp_server: SmtpServer) -> None:
    pool = SmtpPool(idle_after=0)
    await mail(pool, smtp_server, "one")
    await pool.close_idle()
    await mail(pool, smtp_server, "two")
    await pool.close()
    assert smtp_server.sessions == 2 and len(smtp_server) == 2


async def test_outcomes_that_arrive_together_are_written_together() -> None:
    groups: list[list[int]] = []

    def write_many(outcomes: Sequence[tuple[int, Outcome]]) -> None:
        groups.append([message_id for message_id, _ in outcomes])

    # A long linger: the group is written when it is full, not when the time is up.
    writer = GroupWriter(write_many, linger=60, most=5)
    await asyncio.gather(*(writer.write(i, Accepted("250 ok")) for i in range(10)))
    assert groups == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


async def test_a_failed_group_write_reaches_every_writer() -> None:
    def write_many(outcomes: Sequence[tuple[int, Outcome]]) -> None:
        raise RuntimeError("database is gone")

    writer = GroupWriter(write_many, linger=60, most=2)
    results = await asyncio.gather(
        writer.write(1, PermanentFailure("550 no")),
        writer.write(2, Accepted("250 ok")),
        return_exceptions=True,
    )
    assert [str(r) for r in results] == ["database is gone", "database is gone"]


async def test_sent_events_carry_the_same_payload_as_one_by_one(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    first_dialog, _ = email_dialog(runtime, tidy.id, channel_id, subject="A")
    other_dialog, _ = email_dialog(runtime, tidy.id, channel_id, ["other@example.org"], subject="B")
    pdf = OutgoingAttachment("offer.pdf", "application/pdf", b"%PDF-1.4")
    ids = [
        reply(runtime, tidy.id, first_dialog, text="with a file", attachments=[pdf]).id,
        reply(runtime, tidy.id, other_dialog, text="to the other client").id,
        reply(runtime, tidy.id, first_dialog, text="plain").id,
    ]
    await sender(runtime).run_once()
    with runtime.db.reading() as session:
        events = list(
            session.scalars(
                select(Event)
                .where(Event.company_id == tidy.id, Event.type == EventType.OUTBOX_STATUS.value)
                .order_by(Event.id)
            )
        )
        messages = list(session.scalars(select(Message).where(Message.id.in_(ids))))
        one_by_one = {m.id: message_event_payload(session, m) for m in messages}
        together = message_event_payloads(session, messages)
    assert together == one_by_one
    by_message = {e.payload["message_id"]: e.payload for e in events}
    assert sorted(by_message) == sorted(ids)
    for message_id, payload in by_message.items():
        assert payload["delivery_status"] == DeliveryStatus.SENT
        assert {k: v for k, v in payload.items() if k not in ("hook_type", "event_time")} == (
            one_by_one[message_id]
        )
    assert by_message[ids[0]]["attachments"][0]["name"] == "offer.pdf"
    assert by_message[ids[1]]["client"]["email"] == "other@example.org"


async def test_the_loop_claims_ahead_and_sends_each_message_once(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    ids = queue_replies(runtime, tidy.id, smtp_server.port, 40)
    stop = asyncio.Event()
    worker = sender(runtime, batch=4, per_channel=2, tick=0.05)
    loop = asyncio.create_task(worker.run(stop))
    await smtp_server.async_wait_for(40, timeout=60)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)  # a stopping loop still records what it sent
    assert statuses(runtime, ids) == [DeliveryStatus.SENT] * 40
    received = [m.message_id for m in smtp_server.messages]
    assert len(received) == len(set(received)) == 40
    assert smtp_server.sessions <= 2  # kept open across the ten claims


async def test_an_address_smtp_cannot_carry_fails_that_message_only(
    smtp_server: SmtpServer,
) -> None:
    pool = SmtpPool()
    try:
        bad = await mail(pool, smtp_server, "bad", rcpt="a b@x.org")
        good = await mail(pool, smtp_server, "good", rcpt="b@x.org")
    finally:
        await pool.close()
    assert isinstance(bad, PermanentFailure) and bad.reason.startswith("invalid address: ")
    assert isinstance(good, Accepted)
    assert [m.rcpt_tos for m in smtp_server.messages] == [("b@x.org",)]
