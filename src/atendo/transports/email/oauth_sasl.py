"""Signing in to IMAP and SMTP with a password or an OAuth 2.0 access token (XOAUTH2).

The one hook the connection code calls (``open_imap``, the SMTP session, the connection
test): :func:`imap_sign_in` / :func:`smtp_sign_in` take either the mailbox's password (a
``str``: LOGIN / AUTH PLAIN-LOGIN as before) or an :class:`AccessToken` (the channel's OAuth
grant, :mod:`.oauth_tokens`): then ``AUTHENTICATE XOAUTH2`` / ``AUTH XOAUTH2`` with the format
Google and Microsoft document (``base64("user=" user ^A "auth=Bearer " token ^A ^A)``;
https://developers.google.com/gmail/imap/xoauth2-protocol), the SASL initial response sent
with the command (RFC 4959 SASL-IR for IMAP, RFC 4954 for SMTP). An IMAP server that offers
OAUTHBEARER (RFC 7628) but not XOAUTH2 gets OAUTHBEARER.

A refused token is answered by the server with a continuation carrying a JSON error
(RFC 7628 §3.2.2); the client sends an empty line and gets the final ``NO``/``535``. Then the
token is refreshed once (it may have been revoked or expired early) and tried again.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Protocol

import aioimaplib
import aiosmtplib


class AccessToken(Protocol):
    """A mailbox's OAuth access token, refreshed when needed."""

    async def get(self, *, refused: str | None = None) -> str:
        """The token; ``refused``: the one a server just refused, so not that one again (a
        new one, unless another connection already got it). Raises the connection's
        ``MailError`` when the grant is gone."""
        ...


Secret = str | AccessToken


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial client response, base64."""
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


def oauthbearer(user: str, token: str) -> str:
    """The OAUTHBEARER initial client response (RFC 7628 §3.1: a GS2 header naming the user,
    then ``auth=Bearer``), base64."""
    escaped = user.replace("=", "=3D").replace(",", "=2C")
    message = f"n,a={escaped},\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(message.encode()).decode()


def _imap_mechanism(client: aioimaplib.IMAP4) -> str:
    """XOAUTH2 (what Google and Microsoft document); OAUTHBEARER where only it is offered."""
    offered = client.protocol.capabilities
    if "AUTH=XOAUTH2" not in offered and "AUTH=OAUTHBEARER" in offered:
        return "OAUTHBEARER"
    return "XOAUTH2"


class _Authenticate(aioimaplib.Command):  # type: ignore[misc]  # untyped library
    """AUTHENTICATE XOAUTH2 with its initial response; a continuation (the server's JSON
    error) is answered with an empty line, as RFC 7628 asks, so that the NO follows."""

    def __init__(
        self, protocol: aioimaplib.IMAP4ClientProtocol, mechanism: str, response: str
    ) -> None:
        super().__init__(
            "AUTHENTICATE", protocol.new_tag(), mechanism, response, loop=protocol.loop
        )
        self._protocol = protocol

    def append_to_resp(self, line: Any, result: str = "Pending") -> None:
        if result == "Pending" and isinstance(line, bytes | bytearray) and line.startswith(b"+"):
            self._protocol.transport.write(b"\r\n")
            return
        super().append_to_resp(line, result)


async def _imap_bearer(client: aioimaplib.IMAP4, user: str, token: str) -> aioimaplib.Response:
    protocol = client.protocol
    mechanism = _imap_mechanism(client)
    encode = oauthbearer if mechanism == "OAUTHBEARER" else xoauth2
    command = _Authenticate(protocol, mechanism, encode(user, token))
    response = await asyncio.wait_for(protocol.execute(command, scrub=token), client.timeout)
    if response.result == "OK":
        protocol.state = aioimaplib.AUTH
    return response


async def imap_sign_in(client: aioimaplib.IMAP4, login: str, secret: Secret) -> aioimaplib.Response:
    """LOGIN with a password, or XOAUTH2 with the token (refreshed once when refused)."""
    if isinstance(secret, str):
        return await client.login(login, secret)
    token = await secret.get()
    response = await _imap_bearer(client, login, token)
    if response.result != "OK":
        response = await _imap_bearer(client, login, await secret.get(refused=token))
    return response


async def _smtp_xoauth2(client: aiosmtplib.SMTP, user: str, token: str) -> None:
    answer = await client.execute_command(b"AUTH", b"XOAUTH2", xoauth2(user, token).encode())
    if answer.code == 334:  # the JSON error challenge: an empty line gets the final answer
        answer = await client.execute_command(b"")
    if answer.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)


async def _smtp_token(secret: AccessToken, *, refused: str | None = None) -> str:
    """The token, or the SMTP error the sender understands: a grant that is gone is the
    channel's problem (a refused login: its queue waits), a provider that does not answer a
    temporary one."""
    try:
        return await secret.get(refused=refused)
    except Exception as exc:
        if getattr(exc, "revoked", False):
            raise aiosmtplib.SMTPAuthenticationError(535, str(exc)) from exc
        raise aiosmtplib.SMTPConnectError(str(exc)) from exc


async def smtp_sign_in(client: aiosmtplib.SMTP, login: str, secret: Secret) -> None:
    """AUTH with the password (aiosmtplib picks the method), or AUTH XOAUTH2 with the token
    (refreshed once when refused). Raises ``SMTPAuthenticationError`` when refused."""
    if isinstance(secret, str):
        await client.login(login, secret)
        return
    token = await _smtp_token(secret)
    try:
        await _smtp_xoauth2(client, login, token)
    except aiosmtplib.SMTPAuthenticationError:
        await _smtp_xoauth2(client, login, await _smtp_token(secret, refused=token))
