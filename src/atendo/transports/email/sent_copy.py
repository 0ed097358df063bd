"""Copy to Sent: IMAP APPEND of the exact bytes sent, flagged ``\\Seen`` (RFC 3501 §6.3.11),
over one reused IMAP session per account (:class:`SentFolderSessions`).

Optional and after the fact: it runs only once ``sent`` is recorded, and a failure is noted in
the message's history, never turned into a delivery failure. The folder is the one carrying the
``\\Sent`` special-use attribute (RFC 6154), else one named ``Sent`` (created when missing).
The mailbox sync reads INBOX only, and the per-channel dedup key on our Message-ID would skip
the copy anyway, so it never comes back as a client message.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, cast

import aioimaplib

from atendo.transports.email.connection import MailError, close_imap, open_imap
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.oauth_sasl import AccessToken, Secret
from atendo.transports.email.settings import EmailChannelSettings, Security

DEFAULT_FOLDER = "Sent"
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?:"[^"]*"|NIL)\s+(?P<name>.+)$')


class CopyFailed(Exception):
    pass


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    security: str  # ssl | starttls | none
    login: str
    password: Secret  # an OAuth mailbox's is its access token (XOAUTH2)
    tls_verify: bool = True
    timeout: float = 15.0
    tls_context: ssl.SSLContext | None = None
    network: MailNetwork = field(default_factory=MailNetwork)

    @classmethod
    def from_settings(
        cls,
        settings: dict[str, Any],
        secrets: dict[str, str],
        *,
        network: MailNetwork | None = None,
        token: AccessToken | None = None,
    ) -> ImapAccount:
        security = str(settings.get("imap_security") or "ssl")
        return cls(
            host=str(settings.get("imap_host") or ""),
            port=int(settings.get("imap_port") or (993 if security == "ssl" else 143)),
            security=security,
            login=str(settings.get("login") or settings.get("email") or ""),
            password=token or secrets.get("password", ""),
            tls_verify=bool(settings.get("tls_verify", True)),
            network=network or MailNetwork(),
        )


def _unquote(name: bytes) -> str:
    text = name.decode("utf-8", "replace").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sent_folder_from_list(lines: list[Any]) -> str | None:
    """The folder with the ``\\Sent`` attribute in LIST output, else one named Sent."""
    names: list[str] = []
    for line in lines:
        if not isinstance(line, bytes | bytearray):
            continue
        match = _LIST_LINE.match(bytes(line).strip())
        if match is None:
            continue
        name = _unquote(match.group("name"))
        if b"\\sent" in match.group("flags").lower():
            return name
        names.append(name)
    for name in names:
        if name.lower() in ("sent", "inbox.sent", "inbox/sent"):
            return name
    return None


class SentFolderSessions:
    """Copy-to-Sent over one IMAP session per account, reused for every copy (never a login
    per sent message): opened on first use, closed after ``idle_after`` seconds unused. Copies
    of one account take turns on its session; a session that fails is closed, and a copy that
    failed on a *reused* session is tried once more on a fresh one (nothing was appended: an
    APPEND that the server refused or never answered leaves no message behind it)."""

    def __init__(self, *, idle_after: float = 60.0) -> None:
        self.idle_after = idle_after
        self.logins = 0
        self._sessions: dict[ImapAccount, _SentSession] = {}

    async def append(self, account: ImapAccount, raw: bytes) -> str:
        """APPEND ``raw`` to the account's Sent folder flagged \\Seen; returns the folder."""
        session = self._sessions.setdefault(account, _SentSession(account))
        async with session.lock:
            reused = session.client is not None
            try:
                if session.client is None:
                    await session.open()
                    self.logins += 1
                return await session.append(raw)
            except Exception:
                await session.close()
                if not reused:
                    raise
            await session.open()
            self.logins += 1
            try:
                return await session.append(raw)
            except Exception:
                await session.close()
                raise

    async def close_idle(self) -> None:
        cutoff = time.monotonic() - self.idle_after
        for account, session in list(self._sessions.items()):
            if session.last_used <= cutoff and not session.lock.locked():
                await session.close()
                self._sessions.pop(account, None)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))


class _SentSession:
    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self.lock = asyncio.Lock()
        self.client: aioimaplib.IMAP4 | None = None
        self.folder: str | None = None
        self.last_used = time.monotonic()

    async def open(self) -> None:
        account = self.account
        cfg = EmailChannelSettings.model_construct(
            email=account.login,
            smtp_host=account.host,
            imap_host=account.host,
            imap_port=account.port,
            imap_security=cast(Security, account.security),
            login=account.login,
            tls_verify=account.tls_verify,
        )
        try:
            self.client = await open_imap(
                cfg, account.password, timeout=account.timeout, network=account.network
            )
        except MailError as exc:
            raise CopyFailed(str(exc)) from exc

    async def append(self, raw: bytes) -> str:
        client = self.client
        assert client is not None
        self.last_used = time.monotonic()
        if self.folder is None:
            listing = await client.list('""', "*")
            folder = sent_folder_from_list(list(listing.lines)) if listing.result == "OK" else None
            if folder is None:
                folder = DEFAULT_FOLDER
                await client.create(_quote(folder))
            self.folder = folder
        response = await client.append(raw, mailbox=_quote(self.folder), flags="(\\Seen)")
        self.last_used = time.monotonic()
        if response.result != "OK":
            raise CopyFailed(f"APPEND refused: {response.lines!r}")
        return self.folder

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await close_imap(client)


async def append_to_sent(account: ImapAccount, raw: bytes) -> str:
    """One copy on a session of its own (closed after)."""
    sessions = SentFolderSessions()
    try:
        return await sessions.append(account, raw)
    finally:
        await sessions.close()
