"""A real SMTP server (aiosmtpd) for Atendo's outgoing-mail tests.

:class:`SmtpServer` wraps :class:`aiosmtpd.controller.Controller`, which runs its own event loop
in a thread: the server is usable from sync tests and from async tests alike (it never shares the
test's event loop). Every accepted transaction is recorded; failures can be scripted (a code for
the next N DATA commands, recipients refused at RCPT, AUTH required with given credentials),
and STARTTLS or implicit TLS use the same self-signed certificate as the Dovecot instance.

Pitfalls:

- "aiosmtpd: an authenticator that refuses must return ``AuthResult(success=False,
  handled=False)``, or the client hangs."
- aiosmtpd refuses AUTH over an unencrypted connection unless ``auth_require_tls=False``; we pass
  that whenever AUTH is enabled without TLS.
- aiosmtpd's EHLO host name defaults to ``socket.getfqdn()``, which can take seconds on machines
  with slow DNS: we set it to ``localhost``.
- From an async test do not call :meth:`SmtpServer.wait_for` (it blocks the event loop your
  client may be running on); use ``await server.async_wait_for(...)``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.tls import client_ssl_context, server_ssl_context, write_self_signed_cert

__all__ = ["ReceivedMessage", "SmtpServer"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted SMTP transaction."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    """The message exactly as received (after SMTP dot-unstuffing), CRLF line ends."""
    message_id: str | None
    subject: str | None
    auth_login: str | None = None
    """The AUTH user name of the session, if it authenticated."""
    tls: bool = False
    """Whether the session was encrypted (STARTTLS or implicit TLS)."""
    mail_options: tuple[str, ...] = ()
    received_at: float = field(default_factory=time.time)


@dataclass
class _Failure:
    code: int
    message: str
    remaining: int


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class _Handler:
    """aiosmtpd handler: consults the owning server's scripted behaviour, records messages."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        # hold_recipients(): the client waits at RCPT (a threading.Event: set from the test)
        while self._server._holding.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        rejection = self._server._recipient_rejection(address)
        if rejection is not None:
            return rejection
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._server._accept(session, envelope)


class _Controller(Controller):
    """Builds each connection's SMTP object from the server's *current* AUTH settings."""

    def __init__(self, owner: SmtpServer, **kwargs: Any) -> None:
        self._owner = owner
        super().__init__(**kwargs)

    def factory(self) -> SMTP:
        with self._owner._lock:
            self._owner._sessions += 1
        kwargs = dict(self.SMTP_kwargs)
        if self._owner._credentials is not None:
            kwargs.update(
                authenticator=self._owner._authenticate,
                auth_required=True,
                # Plain TCP AUTH must be allowed explicitly; with STARTTLS available we still
                # allow it so tests can choose (require_starttls=True forces TLS first).
                auth_require_tls=False,
            )
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS can lead to security vulnerabilities!"
            # -- intended here: tests exercise AUTH over plain TCP on loopback.
            warnings.simplefilter("ignore", UserWarning)
            smtp = SMTP(self.handler, **kwargs)
        with self._owner._lock:
            self._owner._live.add(smtp)
        return smtp


class SmtpServer:
    """A recording SMTP server on a free 127.0.0.1 port (aiosmtpd, own thread).

    ``starttls=True`` offers STARTTLS (``require_starttls=True`` insists on it);
    ``implicit_tls=True`` makes the port speak TLS from the first byte (SMTPS, like 465).
    ``auth=(user, password)`` requires AUTH PLAIN/LOGIN with those credentials (also settable
    later with :meth:`require_auth`). Clients verify the certificate with
    :meth:`client_ssl_context` (or ``cert_path`` as CA file).
    """

    host: str = HOST

    def __init__(
        self,
        *,
        starttls: bool = False,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
        cert_dir: Path | None = None,
        cert_path: Path | None = None,
        key_path: Path | None = None,
    ) -> None:
        """TLS material: pass ``cert_path``+``key_path`` (e.g. the Dovecot instance's), or a
        ``cert_dir`` to generate a self-signed pair in; otherwise one is generated in a temp dir.
        """
        self._lock = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._rejected: list[tuple[int, str, str, tuple[str, ...]]] = []
        self._failures: deque[_Failure] = deque()
        self._bad_rcpts: dict[str, tuple[int, str]] = {}
        self._credentials: tuple[str, str] | None = auth
        self._auth_attempts: list[tuple[str, bool]] = []
        self._sessions = 0
        self._holding = threading.Event()
        self._live: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._tmp: Path | None = None
        self.cert_path: Path | None = cert_path
        self.key_path: Path | None = key_path
        self.implicit_tls = implicit_tls
        tls_needed = starttls or require_starttls or implicit_tls
        if tls_needed and (self.cert_path is None or self.key_path is None):
            if cert_dir is None:
                import tempfile

                self._tmp = Path(tempfile.mkdtemp(prefix="atendo-smtp-"))
                cert_dir = self._tmp
            self.cert_path, self.key_path = write_self_signed_cert(cert_dir)
        server_ctx = (
            server_ssl_context(self.cert_path, self.key_path)
            if tls_needed and self.cert_path and self.key_path
            else None
        )
        self.port = _free_port()
        smtp_kwargs: dict[str, Any] = {"decode_data": False, "timeout": 30}
        if (starttls or require_starttls) and server_ctx is not None:
            smtp_kwargs["tls_context"] = server_ctx
            smtp_kwargs["require_starttls"] = require_starttls
        self._controller = _Controller(
            self,
            handler=_Handler(self),
            hostname=HOST,
            port=self.port,
            server_hostname="localhost",
            ssl_context=server_ctx if implicit_tls else None,
            ready_timeout=10.0,
            **smtp_kwargs,
        )
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SmtpServer:
        if not self._started:
            self._controller.start()
            self._started = True
            with self._lock:
                self._sessions = 0  # start() itself connects once to see that it is up
        return self

    def stop(self) -> None:
        if self._started:
            self._controller.stop()
            self._started = False
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client SSL context trusting this server's certificate."""
        if self.cert_path is None:
            raise RuntimeError("this SmtpServer was created without TLS")
        return client_ssl_context(self.cert_path)

    # ------------------------------------------------------------------ scripting

    def fail_next(self, code: int, message: str, *, times: int = 1) -> None:
        """Answer the next ``times`` DATA commands with ``code message`` (e.g. 451 / 554).

        Queued calls apply in order: ``fail_next(451, ..)`` then ``fail_next(554, ..)`` makes
        the first DATA get 451 and the second 554. Failed transactions are not recorded as
        messages; see :attr:`rejected`.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._failures.append(_Failure(code, message, times))

    def reject_recipient(
        self, address: str, code: int = 550, message: str = "5.1.1 No such user"
    ) -> None:
        """Refuse ``address`` (case-insensitive) at RCPT TO with ``code message``."""
        with self._lock:
            self._bad_rcpts[address.lower()] = (code, message)

    def hold_recipients(self, hold: bool = True) -> None:
        """While held, every RCPT waits for its answer: a client's messages stay in flight
        (claimed, nothing delivered) until :meth:`hold_recipients` ``(False)``. A client that
        dies meanwhile never reaches DATA, so none of its messages is delivered."""
        if hold:
            self._holding.set()
        else:
            self._holding.clear()

    def require_auth(self, username: str, password: str) -> None:
        """Require AUTH with these credentials for connections opened from now on."""
        with self._lock:
            self._credentials = (username, password)

    def drop_sessions(self) -> int:
        """Close every open client connection from the server's side, as servers do with
        idle clients; returns how many. The connections are closed when this returns."""

        async def close() -> int:
            with self._lock:
                live = [p for p in self._live if p.transport and not p.transport.is_closing()]
            for protocol in live:
                assert protocol.transport is not None
                protocol.transport.close()
            return len(live)

        return asyncio.run_coroutine_threadsafe(close(), self._controller.loop).result(10)

    def reset(self) -> None:
        """Forget recorded messages, the session count and all scripted behaviour (AUTH
        setting included)."""
        with self._lock:
            self._messages.clear()
            self._rejected.clear()
            self._failures.clear()
            self._bad_rcpts.clear()
            self._auth_attempts.clear()
            self._credentials = None
            self._sessions = 0

    # ------------------------------------------------------------------ inspection

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the accepted messages, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[tuple[int, str, str, tuple[str, ...]]]:
        """``(code, message, mail_from, rcpt_tos)`` of each DATA answered by :meth:`fail_next`."""
        with self._lock:
            return list(self._rejected)

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        """``(login, success)`` for each AUTH attempt."""
        with self._lock:
            return list(self._auth_attempts)

    @property
    def sessions(self) -> int:
        """How many SMTP connections clients have opened (since start or :meth:`reset`)."""
        with self._lock:
            return self._sessions

    def __iter__(self) -> Iterator[ReceivedMessage]:
        return iter(self.messages)

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages were accepted; return them (sync tests only)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout}s, got {len(self._messages)}"
                )
            return list(self._messages)

    async def async_wait_for(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors wait_for(count, timeout)
    ) -> list[ReceivedMessage]:
        """:meth:`wait_for` for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._messages) >= count:
                    return list(self._messages)
                got = len(self._messages)
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {got}")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ aiosmtpd callbacks

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        # A refusing authenticator MUST return handled=False, or the client hangs.
        with self._lock:
            creds = self._credentials
        if not isinstance(auth_data, LoginPassword) or creds is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = (login, password) == creds
        with self._lock:
            self._auth_attempts.append((login, ok))
        if ok:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    def _recipient_rejection(self, address: str) -> str | None:
        with self._lock:
            hit = self._bad_rcpts.get(address.lower())
        return f"{hit[0]} {hit[1]}" if hit else None

    def _accept(self, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # pragma: no cover - decode_data=False gives bytes
            raw = raw.encode("utf-8", "surrogateescape")
        with self._lock:
            if self._failures:
                failure = self._failures[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.popleft()
                self._rejected.append(
                    (
                        failure.code,
                        failure.message,
                        envelope.mail_from or "",
                        tuple(envelope.rcpt_tos),
                    )
                )
                return f"{failure.code} {failure.message}"
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        message_id = headers.get("Message-ID")
        subject = headers.get("Subject")
        login = session.auth_data if isinstance(session.auth_data, str) else None
        record = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message_id=str(message_id).strip() if message_id is not None else None,
            subject=str(subject) if subject is not None else None,
            auth_login=login,
            tls=session.ssl is not None or self.implicit_tls,
            mail_options=tuple(envelope.mail_options),
        )
        with self._lock:
            self._messages.append(record)
            self._lock.notify_all()
        return "250 2.0.0 Message accepted for delivery"
