"""Greetings over e-mail with the real servers: a client's mail reaches the mailbox (Dovecot,
LMTP), the worker process syncs it, greets once (RFC 3834 headers, threaded) and sends it
through SMTP (aiosmtpd); a second mail of the thread is not greeted again. Two Atendo
installations that greet each other's address do not loop: the greeting arrives at the
other one as automatic mail and is never answered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import formatdate

import pytest
from sqlalchemy import func, select

from atendo.core.channels.models import Channel
from atendo.core.enums import MessageType
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from tests.automation.helpers import configure
from tests.conftest import TemplateDatabase, fresh_runtime, make_company
from tests.factories import email_channel
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer


class Installation:
    """One Atendo: its own database and data folder, a mailbox, an SMTP server, a worker."""

    def __init__(self, runtime: Runtime, mailbox: Mailbox, smtp: SmtpServer, greeting: str):
        self.runtime, self.mailbox, self.smtp = runtime, mailbox, smtp
        company = make_company(runtime)
        self.channel = email_channel(
            runtime, company.id, address=mailbox.email, imap_host=mailbox.host,
            imap_port=mailbox.imaps_port, imap_security="ssl", tls_verify=False,
            password=mailbox.password, login=mailbox.email, smtp_port=smtp.port,
            smtp_security="none", smtp_login="", send_delay=0, copy_to_sent=False,
        )  # fmt: skip
        configure(runtime, company.id, self.channel, greetings={
            "new_in_hours": greeting, "new_out_of_hours": greeting,
            "returning_in_hours": greeting, "returning_out_of_hours": greeting})  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "ATENDO_DATABASE_URL": self.runtime.settings.resolved_database_url,
            "ATENDO_DATA_DIR": str(self.runtime.settings.data_dir),
            "ATENDO_SECRET_KEY": "test-secret-key",
            "ATENDO_IMAP_POLL_INTERVAL": "1",
            "ATENDO_LOG_LEVEL": "INFO",
        }
        self.log = self.runtime.settings.data_dir / "worker.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "atendo", "worker", "--processes", "1"],
                env=env,
                stdout=out,
                stderr=out,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def synced(self) -> bool:
        with self.runtime.db.reading() as session:
            channel = session.get(Channel, self.channel)
            return channel is not None and channel.last_sync is not None

    def status(self) -> str:
        with self.runtime.db.reading() as session:
            channel = session.get(Channel, self.channel)
            assert channel is not None
            log = self.log.read_text(errors="replace")[-2000:]
            return f"{channel.status} {channel.last_error!r} {channel.last_sync}\n{log}"

    def client_messages(self) -> int:
        with self.runtime.db.reading() as session:
            return session.scalar(select(func.count(Message.id)).where(
                Message.channel_id == self.channel,
                Message.type == MessageType.FROM_CLIENT)) or 0  # fmt: skip

    def settled(self) -> bool:
        """Every trigger handled and nothing left in the outbox."""
        with self.runtime.db.reading() as session:
            pending = session.scalar(
                select(func.count(Event.id)).where(Event.automation_due.is_not(None))
            )
            unsent = session.scalar(select(func.count(Message.id)).where(
                Message.channel_id == self.channel,
                Message.delivery_status.in_(["queued", "sending"])))  # fmt: skip
            return pending == 0 and unsent == 0


def _wait(
    predicate: Callable[[], bool], what: str | Callable[[], str], limit: float = 60.0
) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what if isinstance(what, str) else what()}")


def _mail(sender: str, to: str, mid: str, *, in_reply_to: str | None = None) -> bytes:
    lines = [f"From: Bia <{sender}>", f"To: {to}", "Subject: Pedido 42", f"Date: {formatdate()}",
             f"Message-ID: <{mid}>"]  # fmt: skip
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Olá!", ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def two(
    template_database: TemplateDatabase,
    make_mailbox: Callable[..., Mailbox],
    make_smtp_server: Callable[..., SmtpServer],
) -> Iterator[tuple[Installation, Installation]]:
    with ExitStack() as stack:
        first = stack.enter_context(fresh_runtime(template_database))
        second = stack.enter_context(fresh_runtime(template_database))
        a = Installation(first, make_mailbox(), make_smtp_server(), "Olá, aqui é a loja A.")
        b = Installation(second, make_mailbox(), make_smtp_server(), "Olá, aqui é a loja B.")
        try:
            a.start()
            b.start()
            _wait(lambda: a.synced() and b.synced(),
                  lambda: f"the first mailbox syncs: {a.status()}, {b.status()}")  # fmt: skip
            yield a, b
        finally:
            a.stop()
            b.stop()


def test_a_mail_is_greeted_once_and_two_installations_do_not_loop(
    two: tuple[Installation, Installation],
) -> None:
    a, b = two
    first_id = f"{uuid.uuid4().hex}@b.example"
    a.mailbox.deliver(_mail(b.mailbox.email, a.mailbox.email, first_id), sender=b.mailbox.email)
    (greeting,) = a.smtp.wait_for(1, timeout=60)
    mail = message_from_bytes(greeting.raw, policy=default_policy)
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["In-Reply-To"] == f"<{first_id}>"
    assert f"<{first_id}>" in str(mail["References"])
    assert mail["To"] == b.mailbox.email and greeting.rcpt_tos == (b.mailbox.email,)
    assert mail["Subject"] == "Re: Pedido 42"
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().startswith("Olá, aqui é a loja A.")

    # The same client writes again in the thread: no second greeting.
    a.mailbox.deliver(_mail(b.mailbox.email, a.mailbox.email, f"{uuid.uuid4().hex}@b.example",
                            in_reply_to=first_id), sender=b.mailbox.email)  # fmt: skip
    _wait(lambda: a.client_messages() == 2 and a.settled(), "the second mail is handled")

    # The greeting reaches installation B (its mailbox is the client's address): it is
    # automatic mail, stored but never answered -- no loop between the two.
    b.mailbox.deliver(greeting.raw, sender=a.mailbox.email)
    _wait(lambda: b.client_messages() == 1 and b.settled(), "B stores A's greeting")
    with b.runtime.db.reading() as session:
        stored = session.scalars(select(Message).where(Message.channel_id == b.channel)).one()
        assert stored.is_auto_reply is True
    assert len(b.smtp) == 0
    assert len(a.smtp) == 1
