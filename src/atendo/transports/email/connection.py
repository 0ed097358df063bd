"""Opening IMAP and SMTP connections, and testing them with errors in plain words.

``open_imap`` is shared by the connection test and the mailbox sync: it connects (implicit
TLS, STARTTLS or plain), logs in and returns the client. aioimaplib has no STARTTLS, so the
upgrade is done here with ``loop.start_tls`` on the protocol's transport (RFC 3501 §6.2.1:
after a tagged OK the client starts the TLS negotiation, then must re-read CAPABILITY).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aioimaplib
import aiosmtplib

from atendo.transports.email.settings import EmailChannelSettings


class MailError(Exception):
    """A connection or protocol failure, its message already in plain words."""


@dataclass
class ConnectionReport:
    imap_ok: bool
    imap_error: str | None
    smtp_ok: bool
    smtp_error: str | None

    @property
    def ok(self) -> bool:
        return self.imap_ok and self.smtp_ok


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """One context per process and setting, shared by every connection: building one loads
    the system's CA certificates (hundreds of KB and milliseconds each time)."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def plain_reason(exc: BaseException) -> str:
    """Say what went wrong the way an admin would say it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MailError):
            return str(current)
        if isinstance(current, aiosmtplib.SMTPAuthenticationError):
            return "wrong login or password"
        if isinstance(current, socket.gaierror):
            return "host not found"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed: {current.reason or current}"
        if isinstance(current, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
            return "timed out"
        if isinstance(current, (ConnectionResetError, BrokenPipeError)):
            return "connection closed by the server"
        text = str(current)
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "host not found"
        if "Connect call failed" in text or "Connection refused" in text:
            return "connection refused"
        if "SSL" in text or "certificate" in text.lower():
            return f"TLS handshake failed: {text}"
        current = current.__cause__ or current.__context__
    text = str(exc).strip()
    return text or exc.__class__.__name__


def _text(lines: list[bytes | bytearray]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines).strip()


async def _starttls(client: aioimaplib.IMAP4, host: str, ctx: ssl.SSLContext) -> None:
    protocol = client.protocol
    assert protocol is not None
    if "STARTTLS" not in protocol.capabilities:
        raise MailError("the IMAP server does not offer STARTTLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag())
    resp = await asyncio.wait_for(protocol.execute(command), client.timeout)
    if resp.result != "OK":
        raise MailError(f"the IMAP server refused STARTTLS: {_text(resp.lines)}")
    loop = asyncio.get_running_loop()
    transport = await asyncio.wait_for(
        loop.start_tls(protocol.transport, protocol, ctx, server_hostname=host),
        client.timeout,
    )
    protocol.transport = transport
    await asyncio.wait_for(protocol.capability(), client.timeout)


async def open_imap(
    cfg: EmailChannelSettings,
    password: str,
    *,
    timeout: float,  # noqa: ASYNC109 - aioimaplib applies it per command
) -> aioimaplib.IMAP4:
    """Connect and log in (not yet selected). Raises with a plain-words reason."""
    ctx = tls_context(cfg.tls_verify)
    client: aioimaplib.IMAP4 | None = None
    try:
        if cfg.imap_security == "ssl":
            client = aioimaplib.IMAP4_SSL(
                host=cfg.imap_host, port=cfg.imap_port, timeout=timeout, ssl_context=ctx
            )
        else:
            client = aioimaplib.IMAP4(host=cfg.imap_host, port=cfg.imap_port, timeout=timeout)
        await client.wait_hello_from_server()
        if cfg.imap_security == "starttls":
            await _starttls(client, cfg.imap_host, ctx)
        resp = await client.login(cfg.login, password)
    except MailError:
        close_socket(client)
        raise
    except Exception as exc:
        close_socket(client)
        raise MailError(plain_reason(exc)) from exc
    except asyncio.CancelledError:  # the worker let the mailbox go while connecting
        close_socket(client)
        raise
    if resp.result != "OK":
        await close_imap(client)
        detail = _text(resp.lines)
        if "AUTHENTICATIONFAILED" in detail.upper() or "LOGIN" in detail.upper() or not detail:
            raise MailError("wrong login or password")
        raise MailError(f"wrong login or password ({detail})")
    return client


def close_socket(client: aioimaplib.IMAP4 | None) -> None:
    """A failed connect closes its socket at once (never left for the server to drop)."""
    if client is None:
        return
    protocol = getattr(client, "protocol", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.close()
    task = getattr(client, "_client_task", None)
    if task is not None and not task.done():
        task.cancel()  # a connection still being opened


async def close_imap(client: aioimaplib.IMAP4) -> None:
    # Closing a dead connection is not an error worth raising.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.logout(), 2)
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


async def check_imap(
    cfg: EmailChannelSettings,
    password: str,
    *,
    timeout: float,  # noqa: ASYNC109 - applied per command
) -> None:
    client = await open_imap(cfg, password, timeout=timeout)
    try:
        resp = await client.select("INBOX")
        if resp.result != "OK":
            raise MailError(f"cannot open INBOX: {_text(resp.lines)}")
    except MailError:
        raise
    except Exception as exc:
        raise MailError(plain_reason(exc)) from exc
    finally:
        await close_imap(client)


def smtp_client(cfg: EmailChannelSettings, *, timeout: float) -> aiosmtplib.SMTP:
    ctx = tls_context(cfg.tls_verify)
    return aiosmtplib.SMTP(
        hostname=cfg.smtp_host,
        port=cfg.smtp_port,
        use_tls=cfg.smtp_security == "ssl",
        start_tls=cfg.smtp_security == "starttls",
        tls_context=ctx,
        timeout=timeout,
    )


async def check_smtp(
    cfg: EmailChannelSettings,
    password: str,
    *,
    timeout: float,  # noqa: ASYNC109 - aiosmtplib applies it per command
) -> None:
    client = smtp_client(cfg, timeout=timeout)
    try:
        await client.connect()
        if not client.esmtp_extensions:  # after STARTTLS the extensions must be asked again
            await client.ehlo()
        # RFC 4954: AUTH only when the server advertises it (a local relay may not).
        if client.supports_extension("auth") and password:
            await client.login(cfg.smtp_login, password)
    except Exception as exc:
        raise MailError(plain_reason(exc)) from exc
    finally:
        try:
            await asyncio.wait_for(client.quit(), 2)
        except Exception:
            client.close()


async def check_connection(
    cfg: EmailChannelSettings,
    password: str,
    smtp_password: str | None,
    timeout: float,  # noqa: ASYNC109 - per side and per command, not for the whole check
) -> ConnectionReport:
    """Test IMAP (login + SELECT INBOX) and SMTP (EHLO, STARTTLS, AUTH) side by side."""
    imap, smtp = await asyncio.gather(
        _outcome(check_imap(cfg, password, timeout=timeout), timeout),
        _outcome(check_smtp(cfg, smtp_password or password, timeout=timeout), timeout),
    )
    return ConnectionReport(
        imap_ok=imap is None, imap_error=imap, smtp_ok=smtp is None, smtp_error=smtp
    )


async def _outcome(check: Coroutine[Any, Any, None], limit: float) -> str | None:
    try:
        await asyncio.wait_for(check, limit * 2)
    except MailError as exc:
        return str(exc)
    except Exception as exc:
        return plain_reason(exc)
    return None
