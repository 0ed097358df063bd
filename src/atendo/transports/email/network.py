"""Mail servers through the network guard: which IMAP and SMTP servers a channel may reach.

A channel's servers are tenant input, exactly like a webhook URL, and the connection test
answers within seconds: without a guard, ``POST /v1/channels`` is a port scanner of the
installation's own network (a closed port says "connection refused", a silent one "timed out",
a talking one had its banner echoed back). So, at every connect (the connection test, the
mailbox sync, the sender, the copy to Sent):

1. the port must be a mail port (25, 143, 465, 587, 993, 2525) or one the installation adds
   (``ATENDO_MAIL_EXTRA_PORTS``), checked before any lookup;
2. the host is resolved **once** and every answer vetted by :mod:`atendo.kit.netguard`:
   loopback, private and link-local addresses are refused unless the installation allows them
   (``ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS``, for its own mail server on the LAN);
3. the connection goes to the vetted address (no second lookup that a DNS server could answer
   differently), while TLS still checks the certificate against the configured host name;
4. what goes wrong is told in one of a fixed set of sentences (:data:`SENTENCES`), never with
   what the remote side sent;
5. SMTP must authenticate: a server that does not offer AUTH is accepted only on a private
   address, i.e. only when the installation allows private networks (its own relay).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aioimaplib

from atendo.core.messages.limits import SendLimits
from atendo.kit.failures import FailureKind, classify
from atendo.kit.netguard import (
    PortSet,
    Resolver,
    TargetRefused,
    is_public_ip,
    system_resolver,
    vetted_addresses,
)
from atendo.settings import Settings
from atendo.transports.email.imap_protocol import AnnouncingProtocol

MAIL_PORTS = frozenset({25, 143, 465, 587, 993, 2525})

# The only words a connection failure is told in (the panel translates them).
NOT_A_MAIL_PORT = "this port is not a mail port allowed by this installation"
PRIVATE_NETWORK = (
    "the server is on a private, loopback or link-local network, which this installation "
    "does not allow (ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS)"
)
HOST_NOT_FOUND = "host not found"
CONNECTION_REFUSED = "connection refused"
TIMED_OUT = "timed out"
CONNECTION_CLOSED = "connection closed by the server"
TLS_FAILED = "TLS handshake failed"
TLS_UNTRUSTED = "TLS handshake failed: the certificate is not trusted"
WRONG_LOGIN = "wrong login or password"
NOT_A_MAIL_SERVER = "the server did not answer as a mail server"
NO_STARTTLS = "the server does not offer STARTTLS"
STARTTLS_REFUSED = "the server refused STARTTLS"
NO_INBOX = "cannot open INBOX"
SMTP_NO_AUTH = (
    "the SMTP server does not ask for a login; sending without one is allowed only through "
    "a server on a private network of an installation that allows it"
)
# A refused login the provider explained, or a security setting that does not fit the port
# (recognised by atendo.kit.failures; the server's own words are still never repeated).
APP_PASSWORD = "the provider asks for an app password for this account (two-step verification)"
IMAP_DISABLED = "IMAP access is turned off for this account"
SMTP_AUTH_DISABLED = "authenticated SMTP is turned off for this account"
PASSWORDS_REFUSED = "the provider no longer accepts passwords for this account: sign in with OAuth"
TLS_MISMATCH = "TLS handshake failed: the port expects another security setting"
REFUSALS = {
    FailureKind.APP_PASSWORD: APP_PASSWORD,
    FailureKind.IMAP_DISABLED: IMAP_DISABLED,
    FailureKind.SMTP_AUTH_DISABLED: SMTP_AUTH_DISABLED,
    FailureKind.PASSWORDS_REFUSED: PASSWORDS_REFUSED,
}
SENTENCES = (
    APP_PASSWORD,
    IMAP_DISABLED,
    SMTP_AUTH_DISABLED,
    PASSWORDS_REFUSED,
    TLS_MISMATCH,
    NOT_A_MAIL_PORT,
    PRIVATE_NETWORK,
    HOST_NOT_FOUND,
    CONNECTION_REFUSED,
    TIMED_OUT,
    CONNECTION_CLOSED,
    TLS_FAILED,
    TLS_UNTRUSTED,
    WRONG_LOGIN,
    NOT_A_MAIL_SERVER,
    NO_STARTTLS,
    STARTTLS_REFUSED,
    NO_INBOX,
    SMTP_NO_AUTH,
)


def login_refusal(server_words: str) -> str:
    """The sentence for a refused login: what the provider explained (an app password
    needed, IMAP turned off, …) when its words say so, else :data:`WRONG_LOGIN`."""
    return REFUSALS.get(classify(server_words).kind, WRONG_LOGIN)


def send_limits(settings: Settings) -> SendLimits:
    """The installation's per-channel sending rates (the sender's claim applies them)."""
    return SendLimits(
        per_minute=settings.channel_send_per_minute, per_hour=settings.channel_send_per_hour
    )


class MailTargetRefused(Exception):
    """The server may not be reached; the message is one of :data:`SENTENCES`."""


@dataclass(frozen=True)
class MailNetwork:
    """The installation's rules for mail servers (safe by default: public, mail ports)."""

    allow_private: bool = False
    ports: PortSet = field(default_factory=lambda: PortSet(MAIL_PORTS))
    resolve: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> MailNetwork:
        return cls(
            allow_private=settings.mail_allow_private_networks,
            ports=PortSet.parse(MAIL_PORTS, settings.mail_extra_ports),
        )


@dataclass(frozen=True)
class MailTarget:
    """A vetted server: connect to ``address``, check TLS against ``host``."""

    host: str
    address: str
    port: int

    @property
    def private(self) -> bool:
        return not is_public_ip(self.address)


async def vet_mail_server(host: str, port: int, network: MailNetwork) -> MailTarget:
    """Resolve once and vet (in a thread: the lookup blocks); MailTargetRefused otherwise."""
    if port not in network.ports:
        raise MailTargetRefused(NOT_A_MAIL_PORT)
    try:
        addresses = await asyncio.to_thread(
            vetted_addresses,
            host,
            port,
            allow_private=network.allow_private,
            resolve=network.resolve,
        )
    except TargetRefused as exc:
        if exc.reason.startswith("cannot resolve"):
            raise MailTargetRefused(HOST_NOT_FOUND) from None
        raise MailTargetRefused(PRIVATE_NETWORK) from None
    return MailTarget(host=host, address=addresses[0], port=port)


async def open_socket(target: MailTarget, timeout: float) -> socket.socket:  # noqa: ASYNC109
    """A TCP socket connected to the vetted address (for aiosmtplib's ``sock=``)."""
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (target.address, target.port)), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


class VettedIMAP4(aioimaplib.IMAP4):  # type: ignore[misc]  # untyped library
    """aioimaplib's client connected to a vetted address; with ``ssl_context`` the TLS
    handshake (implicit TLS) checks the certificate against the configured host name."""

    def __init__(
        self,
        target: MailTarget,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        super().__init__(
            host=target.address, port=target.port, timeout=timeout, ssl_context=ssl_context
        )

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        protocol = AnnouncingProtocol(local_loop, conn_lost_cb)
        self.protocol = protocol
        extra: dict[str, Any] = {}
        if ssl_context is not None:
            extra = {"ssl": ssl_context, "server_hostname": self.target.host}
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: protocol, host, port, **extra)
        )


def require_smtp_auth(target: MailTarget, *, offers_auth: bool, has_login: bool) -> None:
    """RFC 4954 AUTH is mandatory except on a private address (reachable at all only when
    the installation allows private networks): an open relay that trusts Atendo's address
    must not become every tenant's relay."""
    if (offers_auth and has_login) or target.private:
        return
    raise MailTargetRefused(SMTP_NO_AUTH)
