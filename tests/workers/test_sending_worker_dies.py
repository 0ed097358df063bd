"""``kill -9`` of a worker holding claimed outgoing mail: the other worker sends it, within
30 seconds, each message exactly once at the SMTP server (PostgreSQL, two real processes)."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from atendo.core.enums import DeliveryStatus
from atendo.core.leases.models import Worker
from atendo.core.messages.models import Message, MessageStatusEvent
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel, queued_reply
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tests.workers.conftest import mailboxes, wait_for

CHANNELS = 10
PER_CHANNEL = 10


def _claims(runtime: Runtime) -> dict[str | None, int]:
    with runtime.db.reading() as session:
        rows = session.execute(
            select(Message.claimed_by, func.count())
            .where(Message.delivery_status == DeliveryStatus.SENDING)
            .group_by(Message.claimed_by)
        ).all()
        return {owner: int(n) for owner, n in rows}


def _live(runtime: Runtime) -> int:
    with runtime.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Worker)) or 0


def test_the_claims_of_a_killed_sender_are_sent_by_the_other_once_within_30_s(
    pg_runtime: Runtime,
    company: CompanyFixture,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    start_worker,
) -> None:
    runtime = pg_runtime
    channel_ids = [
        email_channel(
            runtime,
            company.id,
            address=box.email,
            imap_host=box.host,
            imap_port=box.imap_port,
            imap_security="none",
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_security="none",
            send_delay=0,
            copy_to_sent=False,
            password=box.password,
        )
        for box in mailboxes(dovecot, CHANNELS)
    ]
    message_ids = []
    for channel_id in channel_ids:
        for i in range(PER_CHANNEL):
            mail = client_mail(runtime, channel_id, sender=f"c{i}@example.org", subject=f"q{i}")
            message_ids.append(queued_reply(runtime, company.id, mail.dialog_id, text=f"a{i}"))
    total = len(message_ids)
    smtp_server.hold_recipients()  # every session waits at RCPT: claims stay in flight
    first = start_worker()
    wait_for(lambda: _claims(runtime) == {first.id: total}, 60, "the first worker claims all")
    start_worker()  # the survivor
    wait_for(lambda: _live(runtime) == 2, 60, "two live workers")
    dead_claims = total
    assert len(smtp_server) == 0

    first.kill9()
    smtp_server.hold_recipients(False)
    took = wait_for(lambda: len(smtp_server) >= total, 30, f"all {total} at the SMTP server")
    print(f"{dead_claims} claims of the killed worker; all {total} sent {took:.1f} s after it")
    time.sleep(1.0)  # room for a second copy to arrive, were there one
    per_id = Counter(m.message_id for m in smtp_server.messages)
    assert len(per_id) == total and set(per_id.values()) == {1}
    wait_for(lambda: _claims(runtime) == {}, 10, "every outcome recorded")
    with runtime.db.reading() as session:
        statuses = Counter(
            session.scalars(select(Message.delivery_status).where(Message.id.in_(message_ids)))
        )
        requeued = session.scalar(
            select(func.count()).where(
                MessageStatusEvent.detail == "requeued: the worker that claimed it stopped"
            )
        )
    assert statuses == {DeliveryStatus.SENT.value: total}
    assert requeued == dead_claims
