"""Self-tests of the real-server test bed: if these fail, every mail-channel test is suspect."""

from __future__ import annotations

import asyncio
import imaplib
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import psycopg
import pytest

from tests.servers import dovecot as dovecot_module
from tests.servers.dovecot import DovecotError, DovecotServer, dovecot_available, free_port
from tests.servers.fixtures import Mailbox
from tests.servers.postgres import (
    ENV_VAR,
    TemporaryDatabase,
    libpq_url,
    postgres_available,
    temporary_database,
)
from tests.servers.smtp import SmtpServer

needs_dovecot = pytest.mark.skipif(dovecot_available() is not None, reason=str(dovecot_available()))


def raw_message(subject: str, body: str = "Hello.\r\n", msgid: str | None = None) -> bytes:
    msgid = msgid or f"<{abs(hash((subject, time.time_ns())))}@test.example>"
    return (
        f"From: Customer <customer@example.org>\r\n"
        f"To: support@example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {msgid}\r\n"
        f"Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"\r\n"
        f"{body}"
    ).encode()


def select_uidvalidity(client: imaplib.IMAP4, folder: str = "INBOX") -> int:
    typ, _ = client.select(folder)
    assert typ == "OK"
    _, data = client.response("UIDVALIDITY")
    assert data and data[0] is not None
    return int(data[0])


def fetch_subjects(client: imaplib.IMAP4) -> dict[int, str]:
    typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    out: dict[int, str] = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))  # type: ignore[union-attr]
            out[uid] = item[1].decode().split(":", 1)[1].strip()
    return out


# ---------------------------------------------------------------------------------- Dovecot


def test_imap_login_and_special_folders(mailbox: Mailbox) -> None:
    client = imaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=10)
    try:
        assert client.login(mailbox.email, mailbox.password)[0] == "OK"
        typ, folders = client.list()
        assert typ == "OK"
        names = b" ".join(f for f in folders if isinstance(f, bytes))
        for special in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk"):
            assert special in names
        assert client.select("INBOX")[1] == [b"0"]
    finally:
        client.logout()


@pytest.mark.parametrize("verify", [True, False], ids=["verified", "unverified"])
def test_imaps_login(mailbox: Mailbox, verify: bool) -> None:
    if verify:
        ctx = ssl.create_default_context(cafile=str(mailbox.cert_path))
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    client = imaplib.IMAP4_SSL(mailbox.host, mailbox.imaps_port, ssl_context=ctx, timeout=10)
    try:
        assert client.login(mailbox.email, mailbox.password)[0] == "OK"
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.logout()


def test_imaps_rejects_default_trust_store(mailbox: Mailbox) -> None:
    """The certificate really is self-signed: default verification must fail."""
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(
            mailbox.host, mailbox.imaps_port, ssl_context=ssl.create_default_context(), timeout=10
        )


def test_lmtp_delivery_lands_in_inbox(mailbox: Mailbox) -> None:
    raw = raw_message("Order 42 is late", "Where is my order?\r\n", "<order42@test.example>")
    mailbox.deliver(raw)
    assert mailbox.message_count() == 1
    assert mailbox.uids() == [1]
    client = mailbox.imap()
    try:
        client.select("INBOX")
        typ, data = client.uid("FETCH", "1", "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        item = data[0]
        assert isinstance(item, tuple)
        assert b"\\Seen" not in item[0]
        body = item[1]
        assert b"Message-ID: <order42@test.example>" in body
        assert body.endswith(b"Where is my order?\r\n")
    finally:
        client.logout()


def test_lmtp_unknown_recipient_is_refused(dovecot: DovecotServer) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        dovecot.deliver("nobody-here@example.com", raw_message("lost"))
    code, _ = info.value.recipients["nobody-here@example.com"]
    assert code == 550


def test_lmtp_recipient_is_case_insensitive(mailbox: Mailbox) -> None:
    mailbox.server.deliver(mailbox.email.upper(), raw_message("shouting"))
    assert mailbox.message_count() == 1


def test_deliver_many_keeps_order(mailbox: Mailbox) -> None:
    mailbox.deliver_many([raw_message(f"bulk {i}") for i in range(20)])
    client = mailbox.imap()
    try:
        client.select("INBOX")
        assert fetch_subjects(client) == {i + 1: f"bulk {i}" for i in range(20)}
    finally:
        client.logout()


def test_deliver_many_parallel(mailbox: Mailbox) -> None:
    assert mailbox.deliver_many([raw_message(f"p{i}") for i in range(40)], connections=4) == 40
    assert mailbox.message_count() == 40


async def test_adeliver_many_from_async_test(mailbox: Mailbox) -> None:
    await mailbox.server.adeliver_many(mailbox.email, [raw_message("a1"), raw_message("a2")])
    assert mailbox.message_count() == 2


def test_wrong_password_fails_fast_and_next_login_is_fast(mailbox: Mailbox) -> None:
    """No anvil auth penalty: failed logins must not slow down the following ones.

    Dovecot 2.3.19 still answers a failed login after its fixed 0.5 s failure-queue tick
    (AUTH_FAILURE_DELAY_CHECK_MSECS; ``auth_failure_delay = 0`` removes only the 2 s delay),
    but the next correct login must be immediate -- with the penalty it would take 2..15 s.
    """
    for _ in range(3):
        client = imaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=10)
        started = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error):
            client.login(mailbox.email, "wrong-password")
        assert time.monotonic() - started < 1.5
        client.logout()
    started = time.monotonic()
    client = mailbox.imap()
    assert time.monotonic() - started < 0.3
    client.logout()


def test_user_added_mid_session_logs_in_at_once(dovecot: DovecotServer) -> None:
    started = time.monotonic()
    dovecot.add_user("Late.Comer@Example.com", "s3cret")
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    client.login("late.comer@example.com", "s3cret")
    client.logout()
    assert time.monotonic() - started < 1.0


def test_imap_append_returns_uids_and_sets_flags(mailbox: Mailbox) -> None:
    uid1 = mailbox.append(raw_message("first"), "Archive/2025", flags=("\\Seen", "\\Flagged"))
    uid2 = mailbox.append(raw_message("second"), "Archive/2025")
    assert (uid1, uid2) == (1, 2)
    assert mailbox.message_count("Archive/2025") == 2
    client = mailbox.imap()
    try:
        client.select('"Archive/2025"')
        _, data = client.uid("FETCH", "1:2", "(FLAGS)")
        first, second = (d for d in data if isinstance(d, bytes))
        assert b"\\Seen" in first and b"\\Flagged" in first
        assert b"\\Seen" not in second and b"\\Flagged" not in second
    finally:
        client.logout()


def test_seed_maildir_fast_path_keeps_order(mailbox: Mailbox) -> None:
    assert mailbox.seed([raw_message(f"seeded {i}") for i in range(30)]) == 30
    assert mailbox.seed([raw_message("old one")], "Archive", seen=True) == 1
    assert mailbox.uids() == list(range(1, 31))
    client = mailbox.imap()
    try:
        client.select("INBOX")
        assert fetch_subjects(client) == {i + 1: f"seeded {i}" for i in range(30)}
        client.select("Archive")
        _, data = client.uid("FETCH", "1", "(FLAGS)")
        assert b"\\Seen" in data[0]
    finally:
        client.logout()
    mailbox.deliver(raw_message("after seeding"))
    assert mailbox.uids() == list(range(1, 32))


@pytest.mark.parametrize("renumber", [False, True], ids=["update", "renumber"])
def test_recreate_folder_changes_uidvalidity(mailbox: Mailbox, renumber: bool) -> None:
    mailbox.deliver_many([raw_message(f"m{i}") for i in range(3)])
    client = mailbox.imap()
    before = select_uidvalidity(client)
    client.uid("STORE", "2", "+FLAGS.SILENT", r"(\Deleted)")
    client.expunge()
    client.logout()
    assert mailbox.uids() == [1, 3]

    new = mailbox.recreate_folder(renumber=renumber)

    client = mailbox.imap()
    try:
        after = select_uidvalidity(client)
        assert after == new != before
        subjects = fetch_subjects(client)
    finally:
        client.logout()
    assert sorted(subjects.values()) == ["m0", "m2"]
    assert sorted(subjects) == ([1, 2] if renumber else [1, 3])


def test_recreate_other_folder(mailbox: Mailbox) -> None:
    mailbox.append(raw_message("x"), "Projects")
    before = mailbox.uid_validity("Projects")
    assert mailbox.server.recreate_folder(mailbox.email, "Projects", uid_validity=before + 7) == (
        before + 7
    )


@needs_dovecot
def test_stop_start_keeps_mail_and_ports() -> None:
    """A separate instance (the session one stays up): restart keeps mail, ports and users."""
    server = DovecotServer()
    server.add_user("keep@example.com", "pw")
    try:
        started = time.monotonic()
        server.start()
        assert time.monotonic() - started < 5
        ports = (server.imap_port, server.imaps_port, server.lmtp_port)
        pid = server.pid
        assert pid is not None
        server.deliver("keep@example.com", raw_message("survivor"))

        server.stop()
        assert not server.running
        with pytest.raises(OSError):
            imaplib.IMAP4(server.host, server.imap_port, timeout=2)

        server.start()
        assert (server.imap_port, server.imaps_port, server.lmtp_port) == ports
        assert server.message_count("keep@example.com") == 1
        client = server.imap_connect("keep@example.com", "pw", tls=True)
        client.select("INBOX")
        assert fetch_subjects(client) == {1: "survivor"}
        client.logout()

        server.restart()
        assert server.message_count("keep@example.com") == 1
    finally:
        run_dir = server.run_dir
        last_pid = server.pid
        server.close()
    assert not run_dir.exists()
    if last_pid is not None:
        with pytest.raises(ProcessLookupError):
            os.kill(last_pid, 0)


@needs_dovecot
def test_start_failure_raises_with_log_tail() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        server = DovecotServer()
        server.imap_port = blocker.getsockname()[1]
        server.imaps_port, server.lmtp_port = free_port(), free_port()
        try:
            with pytest.raises(DovecotError, match="Address already in use"):
                server.start(timeout=5)
            assert not server.running
        finally:
            server.close()


@needs_dovecot
def test_start_retries_when_a_picked_port_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_port = dovecot_module.free_port
        picks = iter([taken])
        monkeypatch.setattr(
            dovecot_module, "free_port", lambda: next(picks, None) or real_free_port()
        )
        with DovecotServer() as server:
            assert taken not in (server.imap_port, server.imaps_port, server.lmtp_port)
            assert server.running


# ---------------------------------------------------------------------------------- SMTP


def email_message(subject: str, to: str = "customer@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "support@example.com"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<reply-1@atendo.test>"
    msg.set_content("We are on it.\n")
    return msg


async def test_smtp_plain_send(smtp_server: SmtpServer) -> None:
    await aiosmtplib.send(
        email_message("Re: Order 42"), hostname=smtp_server.host, port=smtp_server.port
    )
    (received,) = await smtp_server.async_wait_for(1)
    assert received.mail_from == "support@example.com"
    assert received.rcpt_tos == ("customer@example.org",)
    assert received.subject == "Re: Order 42"
    assert received.message_id == "<reply-1@atendo.test>"
    assert b"We are on it." in received.raw
    assert received.tls is False
    assert received.auth_login is None


def test_smtp_sync_send_and_wait_for(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.send_message(email_message("sync"))
    assert smtp_server.wait_for(1, timeout=5)[0].subject == "sync"
    smtp_server.reset()
    assert len(smtp_server) == 0
    with pytest.raises(TimeoutError):
        smtp_server.wait_for(1, timeout=0.1)


async def test_smtp_auth_required(make_smtp_server: Callable[..., SmtpServer]) -> None:
    server = make_smtp_server(auth=("agent", "s3cret"))
    kwargs: dict[str, Any] = {"hostname": server.host, "port": server.port, "timeout": 5}

    with pytest.raises(aiosmtplib.SMTPResponseException) as no_auth:
        await aiosmtplib.send(email_message("no auth"), **kwargs)
    assert no_auth.value.code == 530

    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as bad:
        await asyncio.wait_for(
            aiosmtplib.send(email_message("bad"), username="agent", password="nope", **kwargs),
            timeout=10,  # a wrongly written authenticator makes this hang
        )
    assert bad.value.code == 535

    await aiosmtplib.send(email_message("good"), username="agent", password="s3cret", **kwargs)
    (received,) = await server.async_wait_for(1)
    assert received.subject == "good"
    assert received.auth_login == "agent"
    attempts = server.auth_attempts  # the client may retry the bad password with another mech
    assert attempts[-1] == ("agent", True)
    assert all(not ok for _, ok in attempts[:-1]) and len(attempts) >= 2


async def test_smtp_451_once_then_250(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451, "4.3.0 Try again later", times=1)
    kwargs: dict[str, Any] = {"hostname": smtp_server.host, "port": smtp_server.port, "timeout": 5}
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await aiosmtplib.send(email_message("retry me"), **kwargs)
    assert info.value.code == 451
    assert "Try again later" in info.value.message
    assert len(smtp_server) == 0
    assert smtp_server.rejected[0][:2] == (451, "4.3.0 Try again later")

    await aiosmtplib.send(email_message("retry me"), **kwargs)
    assert [m.subject for m in await smtp_server.async_wait_for(1)] == ["retry me"]


async def test_smtp_recipient_rejection(smtp_server: SmtpServer) -> None:
    smtp_server.reject_recipient("Bad@X.example", 550, "5.1.1 No such user")
    kwargs: dict[str, Any] = {"hostname": smtp_server.host, "port": smtp_server.port, "timeout": 5}

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await aiosmtplib.send(email_message("only bad", to="bad@x.example"), **kwargs)
    assert info.value.recipients[0].code == 550

    msg = email_message("mixed", to="bad@x.example, good@x.example")
    errors, _ = await aiosmtplib.send(msg, **kwargs)
    assert errors["bad@x.example"].code == 550
    (received,) = await smtp_server.async_wait_for(1)
    assert received.rcpt_tos == ("good@x.example",)


async def test_smtp_starttls_verified(make_smtp_server: Callable[..., SmtpServer]) -> None:
    server = make_smtp_server(starttls=True, require_starttls=True, auth=("agent", "pw"))
    await aiosmtplib.send(
        email_message("secret"),
        hostname="localhost",
        port=server.port,
        start_tls=True,
        tls_context=server.client_ssl_context(),
        username="agent",
        password="pw",
        timeout=5,
    )
    (received,) = await server.async_wait_for(1)
    assert received.tls is True
    assert received.auth_login == "agent"


async def test_smtp_implicit_tls(make_smtp_server: Callable[..., SmtpServer]) -> None:
    server = make_smtp_server(implicit_tls=True)
    await aiosmtplib.send(
        email_message("smtps"),
        hostname=server.host,
        port=server.port,
        use_tls=True,
        tls_context=server.client_ssl_context(),
        timeout=5,
    )
    (received,) = await server.async_wait_for(1)
    assert received.tls is True


# ---------------------------------------------------------------------------------- Postgres


def _pg_base_url() -> str | None:
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    if postgres_available():
        return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    return None


def test_libpq_url() -> None:
    url = "postgresql+psycopg://u:p%40ss@db.local:5433/atendo_test?sslmode=disable"
    assert libpq_url(url, database="postgres") == (
        "postgresql://u:p%40ss@db.local:5433/postgres?sslmode=disable"
    )


def test_postgres_available_is_false_for_closed_port() -> None:
    assert postgres_available("127.0.0.1", 1, timeout=0.5) is False


@pytest.mark.skipif(_pg_base_url() is None, reason="no PostgreSQL server answers")
def test_temporary_database_is_created_and_dropped() -> None:
    base = _pg_base_url()
    assert base is not None
    db = TemporaryDatabase(base)
    url = db.create()
    assert db.name in url and url.split("://")[0] == base.split("://")[0]
    conn = psycopg.connect(libpq_url(url), autocommit=True)
    try:
        conn.execute("CREATE TABLE t (x int)")
        assert conn.execute("SELECT current_database()").fetchone() == (db.name,)
        with temporary_database(base) as other:
            assert other != url
        db.drop()  # while a session is still connected: WITH (FORCE)
    finally:
        conn.close()
    with psycopg.connect(libpq_url(base, database="postgres"), autocommit=True) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,))
        assert row.fetchone() is None


def test_pg_url_fixture(pg_url: str) -> None:
    with psycopg.connect(libpq_url(pg_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
