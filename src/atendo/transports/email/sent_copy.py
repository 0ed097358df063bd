"""Copy to Sent: IMAP APPEND of the exact bytes sent, flagged ``\\Seen`` (RFC 3501 §6.3.11).

Optional and after the fact: it runs only once ``sent`` is recorded, and a failure is noted in
the message's history, never turned into a delivery failure. The folder is the one carrying the
``\\Sent`` special-use attribute (RFC 6154), else one named ``Sent`` (created when missing).
The mailbox sync reads INBOX only, and the per-channel dedup key on our Message-ID would skip
the copy anyway, so it never comes back as a client message.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from atendo.transports.email.connection import starttls_imap
from atendo.transports.email.network import (
    MailNetwork,
    MailTargetRefused,
    VettedIMAP4,
    vet_mail_server,
)

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
    password: str
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
    ) -> ImapAccount:
        security = str(settings.get("imap_security") or "ssl")
        return cls(
            host=str(settings.get("imap_host") or ""),
            port=int(settings.get("imap_port") or (993 if security == "ssl" else 143)),
            security=security,
            login=str(settings.get("login") or settings.get("email") or ""),
            password=secrets.get("password", ""),
            tls_verify=bool(settings.get("tls_verify", True)),
            network=network or MailNetwork(),
        )


def _context(account: ImapAccount) -> ssl.SSLContext:
    if account.tls_context is not None:
        return account.tls_context
    ctx = ssl.create_default_context()
    if not account.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


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


async def append_to_sent(account: ImapAccount, raw: bytes) -> str:
    """APPEND ``raw`` to the Sent folder flagged \\Seen; returns the folder's name."""
    try:
        target = await vet_mail_server(account.host, account.port, account.network)
    except MailTargetRefused as exc:
        raise CopyFailed(str(exc)) from None
    client = VettedIMAP4(
        target,
        timeout=account.timeout,
        ssl_context=_context(account) if account.security == "ssl" else None,
    )
    try:
        await client.wait_hello_from_server()
        if account.security == "starttls":
            await starttls_imap(client, account.host, _context(account))
        response = await client.login(account.login, account.password)
        if response.result != "OK":
            raise CopyFailed("IMAP login refused")
        listing = await client.list('""', "*")
        folder = sent_folder_from_list(list(listing.lines)) if listing.result == "OK" else None
        if folder is None:
            folder = DEFAULT_FOLDER
            await client.create(_quote(folder))
        response = await client.append(raw, mailbox=_quote(folder), flags="(\\Seen)")
        if response.result != "OK":
            raise CopyFailed(f"APPEND refused: {response.lines!r}")
        return folder
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
