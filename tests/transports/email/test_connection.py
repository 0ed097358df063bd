"""check_connection against the real Dovecot (IMAPS, STARTTLS, plain) and aiosmtpd."""

from __future__ import annotations

import asyncio
import socket

from atendo.transports.email.connection import check_connection, close_imap, open_imap
from atendo.transports.email.settings import parse_settings
from tests.factories import LOOPBACK_MAIL
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cfg(mailbox: Mailbox, smtp: SmtpServer, **more: object) -> object:
    data = {
        "email": mailbox.email,
        "imap_host": mailbox.host,
        "imap_port": mailbox.imaps_port,
        "imap_security": "ssl",
        "tls_verify": False,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_security": "none",
        **more,
    }
    return parse_settings(data)


def test_ssl_starttls_and_plain_logins(mailbox: Mailbox, make_smtp_server: object) -> None:
    smtp = make_smtp_server(starttls=True, auth=(mailbox.email, mailbox.password))  # type: ignore[operator]
    for security, port in (
        ("ssl", mailbox.imaps_port),
        ("starttls", mailbox.imap_port),
        ("none", mailbox.imap_port),
    ):
        cfg = _cfg(mailbox, smtp, imap_security=security, imap_port=port, smtp_security="starttls")
        report = asyncio.run(check_connection(cfg, mailbox.password, None, 5, LOOPBACK_MAIL))  # type: ignore[arg-type]
        assert report.ok, (security, report)


def test_errors_in_plain_words(mailbox: Mailbox, make_smtp_server: object) -> None:
    smtp = make_smtp_server(starttls=True, auth=(mailbox.email, mailbox.password))  # type: ignore[operator]
    cfg = _cfg(mailbox, smtp, smtp_security="starttls")
    report = asyncio.run(check_connection(cfg, "wrong", None, 5, LOOPBACK_MAIL))  # type: ignore[arg-type]
    assert report.imap_error == "wrong login or password"
    assert report.smtp_error == "wrong login or password"
    cfg = _cfg(mailbox, smtp, imap_port=_free_port(), smtp_host="no-such-host.invalid")
    report = asyncio.run(check_connection(cfg, mailbox.password, None, 5, LOOPBACK_MAIL))  # type: ignore[arg-type]
    assert report.imap_error == "connection refused"
    assert report.smtp_error == "host not found"
    cfg = _cfg(mailbox, smtp, tls_verify=True)
    report = asyncio.run(check_connection(cfg, mailbox.password, None, 5, LOOPBACK_MAIL))  # type: ignore[arg-type]
    assert report.imap_error is not None and report.imap_error.startswith("TLS handshake failed")


def test_sessions_on_one_server_share_its_capabilities(mailbox: Mailbox, make_mailbox) -> None:  # type: ignore[no-untyped-def]
    """A thousand sessions on one provider keep its capability words once, not a thousand
    times (issue 19): every logged-in session holds the same set, still the server's."""
    other: Mailbox = make_mailbox()

    async def sign_in_both() -> list[frozenset[str]]:
        sets = []
        for box in (mailbox, other):
            data = {
                "email": box.email, "imap_host": box.host, "imap_port": box.imap_port,
                "imap_security": "none", "smtp_host": box.host, "smtp_security": "none",
            }  # fmt: skip
            client = await open_imap(
                parse_settings(data), box.password, timeout=5, network=LOOPBACK_MAIL
            )
            try:
                assert client.has_capability("IDLE")
                sets.append(client.protocol.capabilities)
            finally:
                await close_imap(client)
        return sets

    first, second = asyncio.run(sign_in_both())
    assert first is second
    assert {"IMAP4rev1", "IDLE", "UIDPLUS"} <= first
