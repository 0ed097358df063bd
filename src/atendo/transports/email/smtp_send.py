"""One SMTP transaction for one message (aiosmtplib), its outcome in plain words.

The sender turns what the server said into one of three outcomes (RFC 5321 §4.2.1):

- :class:`Accepted` -- the server took the message (``250`` after DATA) for at least one
  recipient; recipients it refused one by one are listed with the server's words, the others
  still get the mail (aiosmtplib raises only when *every* recipient is refused).
- :class:`TemporaryFailure` -- a 4xx answer, a timeout, a refused or dropped connection: try
  again later with the same bytes.
- :class:`PermanentFailure` -- a 5xx answer (or every recipient refused for good): the
  message fails at once and the operator sees the server's words.
- :class:`ChannelProblem` -- the server refused the login (535…): the channel's fault, not
  the message's; the queue of the channel is held until it is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib

from atendo.core.messages.outbox import (
    Accepted,
    ChannelProblem,
    Outcome,
    PermanentFailure,
    TemporaryFailure,
)
from atendo.transports.email.connection import tls_context
from atendo.transports.email.network import (
    MailNetwork,
    MailTargetRefused,
    open_socket,
    require_smtp_auth,
    vet_mail_server,
)
from atendo.transports.email.oauth_sasl import AccessToken, smtp_sign_in

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpAccount:
    host: str
    port: int
    security: str  # ssl | starttls | none
    login: str = ""
    password: str = ""
    tls_verify: bool = True
    timeout: float = DEFAULT_TIMEOUT
    tls_context: ssl.SSLContext | None = None
    # The installation's rules for mail servers (strict unless the caller says otherwise).
    network: MailNetwork = field(default_factory=MailNetwork)
    # An OAuth mailbox signs in with XOAUTH2 and this token instead of the password.
    token: AccessToken | None = None

    @classmethod
    def from_settings(
        cls,
        settings: dict[str, Any],
        secrets: dict[str, str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        network: MailNetwork | None = None,
        token: AccessToken | None = None,
    ) -> SmtpAccount:
        security = str(settings.get("smtp_security") or "starttls")
        default_port = {"ssl": 465, "starttls": 587}.get(security, 25)
        login = str(settings.get("smtp_login") or settings.get("login") or "")
        password = secrets.get("smtp_password") or secrets.get("password") or ""
        return cls(
            host=str(settings.get("smtp_host") or ""),
            port=int(settings.get("smtp_port") or default_port),
            security=security,
            login=login,
            password=password,
            tls_verify=bool(settings.get("tls_verify", True)),
            timeout=timeout,
            network=network or MailNetwork(),
            token=token,
        )


def _words(code: int, message: str) -> str:
    return f"{code} {' '.join(str(message).split())}".strip()


def _client(account: SmtpAccount, sock: socket.socket) -> aiosmtplib.SMTP:
    """The client on ``sock`` (connected to the vetted address); TLS checks the host name."""
    kwargs: dict[str, Any] = {
        "hostname": account.host,
        "sock": sock,
        "timeout": account.timeout,
        "validate_certs": account.tls_verify,
        "local_hostname": "localhost",
    }
    # One shared context per setting (building one per connection loads the CA store again).
    kwargs["tls_context"] = account.tls_context or tls_context(account.tls_verify)
    if account.security == "ssl":
        kwargs["use_tls"] = True
    elif account.security == "starttls":
        kwargs["start_tls"] = True
    else:
        kwargs["start_tls"] = False
    return aiosmtplib.SMTP(**kwargs)


class _Stale(Exception):
    """A reused connection turned out closed before MAIL FROM was accepted: nothing of the
    message reached the server, so it may go out at once on a fresh connection."""


def _failure(exc: BaseException) -> TemporaryFailure | PermanentFailure | ChannelProblem:
    """What an exception raised during connect, AUTH or the transaction means for the message."""
    if isinstance(exc, MailTargetRefused):  # the server may not be reached, or not this way
        return PermanentFailure(str(exc))
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = {e.recipient: _words(e.code, e.message) for e in exc.recipients}
        summary = "; ".join(f"{r}: {w}" for r, w in refused.items())
        if all(400 <= e.code < 500 for e in exc.recipients):
            return TemporaryFailure(summary)
        return PermanentFailure(f"every recipient was refused: {summary}", refused)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # The channel's credentials, not this message: hold the channel's queue (RFC 4954
        # §6: 535 credentials invalid, 534 mechanism too weak, 530 authentication required).
        return ChannelProblem(f"login refused: {_words(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code >= 500:
            return PermanentFailure(_words(exc.code, exc.message))
        return TemporaryFailure(_words(exc.code, exc.message))
    if isinstance(exc, ValueError):  # aiosmtplib refuses to put this address on the wire
        return PermanentFailure(f"invalid address: {exc}")
    return TemporaryFailure(f"{type(exc).__name__}: {exc}".strip())


_EXPECTED = (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError, MailTargetRefused)


class SmtpConnection:
    """One SMTP session that carries several messages, one transaction each.

    It connects (and authenticates) on first use and again whenever the previous session is
    gone. After an accepted transaction the server has already reset its state (RFC 5321
    §4.1.1.4), so the next MAIL FROM follows directly; a refused one is cleared with RSET.
    A transaction never runs twice on this object: the only retry is on a *reused* session
    that fails before MAIL FROM is accepted (the server dropped it while idle, or answered
    421), when nothing of the message has been transmitted.
    """

    def __init__(self, account: SmtpAccount, *, max_messages: int = 100) -> None:
        self.account = account
        self.max_messages = max_messages
        self.sessions = 0
        self.last_used = time.monotonic()
        self._client: aiosmtplib.SMTP | None = None
        self._carried = 0

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def send(self, *, mail_from: str, recipients: Sequence[str], raw: bytes) -> Outcome:
        self.last_used = time.monotonic()
        reused = self.is_open
        try:
            if not reused:
                await self._open()
            try:
                return await self._transaction(mail_from, recipients, raw, reused=reused)
            except _Stale:
                await self.close()
                await self._open()
                return await self._transaction(mail_from, recipients, raw, reused=False)
        except _EXPECTED as exc:
            if not isinstance(
                exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused
            ):
                # The session's state is unknown (timeout, dropped mid-transaction): never
                # reuse it.
                await self.close()
            return _failure(exc)
        finally:
            self.last_used = time.monotonic()
            if self._carried >= self.max_messages:
                await self.close()

    async def close(self) -> None:
        """QUIT politely; a session that does not answer is simply dropped."""
        client, self._client = self._client, None
        self._carried = 0
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except _EXPECTED:
            client.close()

    async def _open(self) -> None:
        target = await vet_mail_server(self.account.host, self.account.port, self.account.network)
        client = _client(self.account, await open_socket(target, self.account.timeout))
        self._client = client
        self.sessions += 1
        try:
            await client.connect()
            # EHLO now (aiosmtplib does not repeat it after STARTTLS): AUTH and SIZE depend on
            # what the server offers.
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
            # AUTH (RFC 4954) is required, except through a relay on a private network
            # (reachable only when the installation allows private networks).
            secret = self.account.token or self.account.password
            has_login = bool(self.account.login and secret)
            offers_auth = client.supports_extension("auth")
            require_smtp_auth(target, offers_auth=offers_auth, has_login=has_login)
            if has_login and offers_auth:
                await smtp_sign_in(client, self.account.login, secret)
        except BaseException:
            await self.close()  # never reuse a session that is not logged in
            raise

    async def _transaction(
        self, mail_from: str, recipients: Sequence[str], raw: bytes, *, reused: bool
    ) -> Outcome:
        client = self._client
        assert client is not None
        if reused:
            try:
                await self._mail(client, mail_from, raw)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                raise _Stale() from exc
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421:  # "closing transmission channel"
                    raise _Stale() from exc
                raise
        else:
            await self._mail(client, mail_from, raw)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        try:
            for rcpt in recipients:
                try:
                    await client.rcpt(rcpt)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused.append(exc)
            if len(refused) == len(recipients):
                raise aiosmtplib.SMTPRecipientsRefused(refused)
            response = await client.data(raw)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # Refused: clear the envelope so the session can carry the next message.
            with contextlib.suppress(*_EXPECTED):
                await client.rset()
            raise
        self._carried += 1
        words = {e.recipient: _words(e.code, e.message) for e in refused}
        return Accepted(reply=f"250 {str(response.message).strip()}".strip(), refused=words)

    @staticmethod
    async def _mail(client: aiosmtplib.SMTP, mail_from: str, raw: bytes) -> None:
        # SIZE (RFC 1870) lets the server refuse an oversized message before the upload.
        options = [f"SIZE={len(raw)}"] if client.supports_extension("size") else []
        await client.mail(mail_from, options=options)


class SmtpPool:
    """Idle SMTP sessions kept per account, so consecutive messages of a channel skip the
    connect, TLS, EHLO and AUTH round trips. How many run at once is the caller's business
    (the sender's per-channel limit); the pool only holds the ones not in use."""

    def __init__(
        self, *, max_messages: int = 100, idle_after: float = 20.0, max_idle: int = 64
    ) -> None:
        self.max_messages = max_messages
        self.idle_after = idle_after
        self.max_idle = max_idle
        self.sessions = 0
        self._idle: dict[SmtpAccount, list[SmtpConnection]] = {}

    async def send(
        self, account: SmtpAccount, *, mail_from: str, recipients: Sequence[str], raw: bytes
    ) -> Outcome:
        idle = self._idle.setdefault(account, [])
        connection = idle.pop() if idle else SmtpConnection(account, max_messages=self.max_messages)
        before = connection.sessions
        try:
            return await connection.send(mail_from=mail_from, recipients=recipients, raw=raw)
        finally:
            self.sessions += connection.sessions - before
            if connection.is_open:
                self._idle.setdefault(account, []).append(connection)
                await self._trim()

    @property
    def idle_sessions(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    async def _trim(self) -> None:
        """Over the cap, the sessions unused the longest are closed."""
        excess = self.idle_sessions - self.max_idle
        if excess <= 0:
            return
        every = sorted((c for idle in self._idle.values() for c in idle), key=lambda c: c.last_used)
        oldest = set(map(id, every[:excess]))
        await self._close(lambda c: id(c) in oldest)

    async def close_idle(self) -> None:
        """QUIT the sessions unused for ``idle_after`` seconds (servers drop idle clients)."""
        cutoff = time.monotonic() - self.idle_after
        await self._close(lambda c: c.last_used <= cutoff)

    async def close(self) -> None:
        await self._close(lambda _c: True)

    async def _close(self, which: Callable[[SmtpConnection], bool]) -> None:
        closing: list[SmtpConnection] = []
        for account, idle in list(self._idle.items()):
            keep = [c for c in idle if c.is_open and not which(c)]
            closing += [c for c in idle if c not in keep]
            if keep:
                self._idle[account] = keep
            else:
                del self._idle[account]
        await asyncio.gather(*(c.close() for c in closing))
