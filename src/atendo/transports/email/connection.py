"""Opening IMAP and SMTP connections, and testing them with errors in plain words.

``open_imap`` is shared by the connection test and the mailbox sync: it connects (implicit
TLS, STARTTLS or plain), logs in and returns the client. aioimaplib has no STARTTLS, so the
upgrade is done here with ``loop.start_tls`` on the protocol's transport (RFC 3501 §6.2.1:
after a tagged OK the client starts the TLS negotiation, then must re-read CAPABILITY).

Every connection goes through :mod:`.network` (vetted address, mail ports, SMTP AUTH), and
every failure is told in one of its fixed sentences: nothing the remote side sent is repeated.
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

from atendo.transports.email import network as net
from atendo.transports.email.network import (
    MailNetwork,
    MailTargetRefused,
    VettedIMAP4,
    open_socket,
    require_smtp_auth,
    vet_mail_server,
)
from atendo.transports.email.oauth_sasl import Secret, imap_sign_in, smtp_sign_in
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


# The capabilities each server announced last, one frozenset per server shared by all its
# sessions: aioimaplib keeps a set of its own per connection (Dovecot's ~40 words after LOGIN:
# ~4 KB each, a thousand mailboxes on one provider 4 MB of the same words). One entry per
# server (host, port) any channel uses; replaced when the server announces another list.
_CAPABILITIES: dict[tuple[str, int], frozenset[str]] = {}


def share_capabilities(client: aioimaplib.IMAP4, host: str, port: int) -> None:
    """Swap the session's capability set for the one shared by the server's sessions."""
    protocol = client.protocol
    own = frozenset(protocol.capabilities)
    shared = _CAPABILITIES.get((host, port))
    if shared != own:
        shared = _CAPABILITIES[(host, port)] = own
    protocol.capabilities = shared


def plain_reason(exc: BaseException) -> str:
    """Say what went wrong the way an admin would say it: always one of the fixed sentences
    of :mod:`.network`, never text that came from the remote side (a banner, a greeting)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MailError | MailTargetRefused):
            return str(current)
        if isinstance(current, aiosmtplib.SMTPAuthenticationError):
            return net.login_refusal(str(current.message))
        if isinstance(current, socket.gaierror):
            return net.HOST_NOT_FOUND
        if isinstance(current, ConnectionRefusedError):
            return net.CONNECTION_REFUSED
        if isinstance(current, ssl.SSLCertVerificationError):
            return net.TLS_UNTRUSTED
        if isinstance(current, ssl.SSLError):
            mismatch = current.reason == "WRONG_VERSION_NUMBER"  # TLS to a plain port
            return net.TLS_MISMATCH if mismatch else net.TLS_FAILED
        if isinstance(current, TimeoutError | aiosmtplib.SMTPTimeoutError):
            return net.TIMED_OUT
        if isinstance(
            current,
            ConnectionResetError
            | BrokenPipeError
            | aiosmtplib.SMTPServerDisconnected
            | asyncio.IncompleteReadError,
        ):
            return net.CONNECTION_CLOSED
        if isinstance(current, aiosmtplib.SMTPConnectError) and "refused" in str(current).lower():
            return net.CONNECTION_REFUSED
        current = current.__cause__ or current.__context__
    return net.NOT_A_MAIL_SERVER


async def starttls_imap(client: aioimaplib.IMAP4, host: str, ctx: ssl.SSLContext) -> None:
    protocol = client.protocol
    assert protocol is not None
    if "STARTTLS" not in protocol.capabilities:
        raise MailError(net.NO_STARTTLS)
    command = aioimaplib.Command("STARTTLS", protocol.new_tag())
    resp = await asyncio.wait_for(protocol.execute(command), client.timeout)
    if resp.result != "OK":
        raise MailError(net.STARTTLS_REFUSED)
    loop = asyncio.get_running_loop()
    transport = await asyncio.wait_for(
        loop.start_tls(protocol.transport, protocol, ctx, server_hostname=host),
        client.timeout,
    )
    protocol.transport = transport
    await asyncio.wait_for(protocol.capability(), client.timeout)


async def open_imap(
    cfg: EmailChannelSettings,
    password: Secret,
    *,
    timeout: float,  # noqa: ASYNC109 - aioimaplib applies it per command
    network: MailNetwork | None = None,
) -> aioimaplib.IMAP4:
    """Connect (to the vetted address of the server) and log in (not yet selected). Raises
    MailError with one of the fixed sentences. ``network`` defaults to the strict rules."""
    ctx = tls_context(cfg.tls_verify)
    client: aioimaplib.IMAP4 | None = None
    try:
        target = await vet_mail_server(cfg.imap_host, cfg.imap_port, network or MailNetwork())
        client = VettedIMAP4(
            target, timeout=timeout, ssl_context=ctx if cfg.imap_security == "ssl" else None
        )
        await client.wait_hello_from_server()
        del client._client_task  # done: it only kept the connection's (transport, protocol)
        if cfg.imap_security == "starttls":
            await starttls_imap(client, cfg.imap_host, ctx)
        resp = await imap_sign_in(client, cfg.login, password)  # a password or OAuth
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
        words = b" ".join(bytes(line) for line in resp.lines).decode("utf-8", "replace")
        raise MailError(net.login_refusal(words))
    share_capabilities(client, cfg.imap_host, cfg.imap_port)
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
    """LOGOUT (at most 2 s), then close the socket whatever happened: also when the task is
    cancelled during the LOGOUT (a mailbox let go twice), or the server would keep a session
    the worker no longer holds."""
    try:
        # Closing a dead connection is not an error worth raising.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 2)
    finally:
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()


async def check_imap(
    cfg: EmailChannelSettings,
    password: Secret,
    *,
    timeout: float,  # noqa: ASYNC109 - applied per command
    network: MailNetwork | None = None,
) -> None:
    client = await open_imap(cfg, password, timeout=timeout, network=network)
    try:
        resp = await client.select("INBOX")
        if resp.result != "OK":
            raise MailError(net.NO_INBOX)
    except MailError:
        raise
    except Exception as exc:
        raise MailError(plain_reason(exc)) from exc
    finally:
        await close_imap(client)


def smtp_client(
    cfg: EmailChannelSettings,
    *,
    timeout: float,
    sock: socket.socket | None = None,
) -> aiosmtplib.SMTP:
    """The client for ``cfg``'s server; with ``sock`` (connected to the vetted address) the
    configured host name is still the one TLS checks."""
    ctx = tls_context(cfg.tls_verify)
    return aiosmtplib.SMTP(
        hostname=cfg.smtp_host,
        port=None if sock is not None else cfg.smtp_port,
        sock=sock,
        use_tls=cfg.smtp_security == "ssl",
        start_tls=cfg.smtp_security == "starttls",
        tls_context=ctx,
        timeout=timeout,
    )


async def check_smtp(
    cfg: EmailChannelSettings,
    password: Secret,
    *,
    timeout: float,  # noqa: ASYNC109 - aiosmtplib applies it per command
    network: MailNetwork | None = None,
) -> None:
    try:
        target = await vet_mail_server(cfg.smtp_host, cfg.smtp_port, network or MailNetwork())
        sock = await open_socket(target, timeout)
    except Exception as exc:
        raise MailError(plain_reason(exc)) from exc
    client = smtp_client(cfg, timeout=timeout, sock=sock)
    try:
        await client.connect()
        if not client.esmtp_extensions:  # after STARTTLS the extensions must be asked again
            await client.ehlo()
        # RFC 4954: AUTH is required, except through a relay on a private network.
        offers_auth = client.supports_extension("auth")
        require_smtp_auth(target, offers_auth=offers_auth, has_login=bool(password))
        if offers_auth and password:
            await smtp_sign_in(client, cfg.smtp_login, password)
    except Exception as exc:
        raise MailError(plain_reason(exc)) from exc
    finally:
        try:
            await asyncio.wait_for(client.quit(), 2)
        except Exception:
            client.close()
        sock.close()


async def check_connection(
    cfg: EmailChannelSettings,
    password: Secret,
    smtp_password: str | None,
    timeout: float,  # noqa: ASYNC109 - per side and per command, not for the whole check
    network: MailNetwork | None = None,
) -> ConnectionReport:
    """Test IMAP (login + SELECT INBOX) and SMTP (EHLO, STARTTLS, AUTH) side by side."""
    imap, smtp = await asyncio.gather(
        _outcome(check_imap(cfg, password, timeout=timeout, network=network), timeout),
        _outcome(
            check_smtp(cfg, smtp_password or password, timeout=timeout, network=network),
            timeout,
        ),
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
