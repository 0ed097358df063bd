"""Copies to Sent ride one IMAP session per account: five sent messages, one login."""

from __future__ import annotations

from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.email.smtp_delivery import SmtpDelivery, SmtpDeliveryConfig
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel, queued_reply
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer


async def test_copies_to_sent_share_one_login_per_account(
    runtime: Runtime, company: CompanyFixture, smtp_server: SmtpServer, mailbox: Mailbox
) -> None:
    channel_id = email_channel(
        runtime, company.id, address=mailbox.email, password=mailbox.password,
        imap_host=mailbox.host, imap_port=mailbox.imap_port, imap_security="none",
        smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none",
        send_delay=0, copy_to_sent=True,
    )  # fmt: skip
    ids = []
    for i in range(5):
        mail = client_mail(runtime, channel_id, sender=f"c{i}@example.org", subject=f"q{i}")
        ids.append(queued_reply(runtime, company.id, mail.dialog_id, text=f"answer {i}"))
    sender = SmtpDelivery(runtime, SmtpDeliveryConfig(smtp_timeout=5.0))
    assert await sender.run_once() == 5
    with runtime.db.reading() as session:
        statuses = {session.get(Message, i).delivery_status for i in ids}  # type: ignore[union-attr]
    assert statuses == {DeliveryStatus.SENT.value}
    assert len(smtp_server.messages) == 5
    assert len(mailbox.uids("Sent")) == 5
    assert sender.sent_copy_logins == 1
