"""What went wrong, as a kind the panel can word: send and connection failures classified.

Failures reach us as text — the server's own words or a library's exception
(``SMTPConnectError: Error connecting to smtp.x on port 587: [Errno -2] Name or service not
known``, ``535 5.7.8 Authentication failed``, ``login refused: …``). :func:`classify` names
the kind (:class:`FailureKind`) and picks out what a sentence needs (the host, the port, the
refused address); the panel turns that into a sentence of its catalogs
(``panel/failure_words.py``) and keeps the original words as the details. Nothing here
knows a language or a transport: the patterns are the standard replies (RFC 5321 §4.2,
RFC 3463 enhanced codes, RFC 4954 AUTH) and the errno texts of the C library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    OAUTH_REVOKED = "oauth_revoked"  # an OAuth mailbox's grant is gone: connect it again
    # A refused login the provider explained (connection.py turns them into fixed sentences):
    APP_PASSWORD = "app_password"  # two-step verification on: an app password is needed
    IMAP_DISABLED = "imap_disabled"  # the account's IMAP access is turned off
    SMTP_AUTH_DISABLED = "smtp_auth_disabled"  # Microsoft 365: SMTP AUTH off for the account
    PASSWORDS_REFUSED = "passwords_refused"  # the provider takes no passwords: use OAuth
    TLS_MISMATCH = "tls_mismatch"  # SSL/TLS against a STARTTLS or plain port (or the reverse)
    LOGIN_REFUSED = "login_refused"  # the sending (SMTP) server
    RECEIVE_LOGIN_REFUSED = "receive_login_refused"  # the mailbox (IMAP) server
    CLOSED = "closed"
    HOST_NOT_FOUND = "host_not_found"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    RECIPIENT_REFUSED = "recipient_refused"
    TOO_LARGE = "too_large"
    MAILBOX_FULL = "mailbox_full"
    SPAM = "spam"
    WAITING = "waiting"  # held with its channel
    GAVE_UP = "gave_up"
    TEMPORARY = "temporary"
    REFUSED = "refused"
    NO_HOST = "no_host"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    detail: str  # the original words, cleaned of our prefixes
    host: str = ""
    port: str = ""
    address: str = ""
    retrying: bool = False


_PREFIXES = re.compile(r"^(?:retrying|gave up after \d+ attempts|waiting for the connection):\s*")
_HOST_PORT = re.compile(r"connecting to (\S*)\s*on port (\d+)", re.IGNORECASE)
_ADDRESS = re.compile(r"<?([^\s<>:;,]+@[^\s<>:;,]+?)>?(?=[\s:;,]|$)")
_RULES: tuple[tuple[FailureKind, re.Pattern[str]], ...] = (
    (
        # the OAuth mailboxes' words (transports/email/oauth.py) and RFC 6749's error code
        FailureKind.OAUTH_REVOKED,
        re.compile(r"authorization was revoked|reconnect the account|invalid_grant", re.I),
    ),
    # Providers' own words for a refused login, and ours for each (network.py). Google:
    # https://support.google.com/accounts/answer/185833 (app passwords), "534-5.7.9
    # Application-specific password required … InvalidSecondFactor", "[ALERT] Your account is
    # not enabled for IMAP use", "534-5.7.14 … Please log in via your web browser"; Microsoft:
    # "535 5.7.139 Authentication unsuccessful, basic authentication is disabled" and
    # "… SmtpClientAuthentication is disabled for the Tenant"
    # (https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission).
    (
        FailureKind.TLS_MISMATCH,
        re.compile(
            r"WRONG_VERSION_NUMBER|wrong version number|expects another security setting", re.I
        ),
    ),
    (
        FailureKind.SMTP_AUTH_DISABLED,
        re.compile(
            r"SmtpClientAuthentication\s+is\s+disabled|SMTP\s+AUTH\s+is\s+disabled"
            r"|authenticated SMTP is turned off",
            re.I,
        ),
    ),
    (
        FailureKind.PASSWORDS_REFUSED,
        re.compile(
            r"basic\s+authentication\s+is\s+disabled|BasicAuthBlocked|log\s+in\s+via\s+your"
            r"\s+web\s+browser|\b5\.7\.14\b|no longer accepts passwords",
            re.I,
        ),
    ),
    (
        FailureKind.APP_PASSWORD,
        re.compile(
            r"application-specific\s+password|InvalidSecondFactor|\b5\.7\.9\b|asks for an app"
            r"\s+password",
            re.I,
        ),
    ),
    (
        FailureKind.IMAP_DISABLED,
        re.compile(
            r"not\s+enabled\s+for\s+IMAP|IMAP\s+(?:access\s+)?is\s+(?:disabled|turned off)"
            r"|authenticated\s+but\s+not\s+connected",
            re.I,
        ),
    ),
    (
        FailureKind.LOGIN_REFUSED,
        re.compile(
            r"login refused|\b53[45]\b|authenticat\w* (?:failed|unsuccessful|credentials)"
            r"|username and password not accepted",
            re.IGNORECASE,
        ),
    ),
    (
        # the mailbox sync's words (connection.plain_reason) and IMAP's (RFC 5530)
        FailureKind.RECEIVE_LOGIN_REFUSED,
        re.compile(
            r"wrong login or password|AUTHENTICATIONFAILED|\bLOGIN failed|invalid credentials",
            re.IGNORECASE,
        ),
    ),
    (
        FailureKind.HOST_NOT_FOUND,
        re.compile(
            r"Name or service not known|nodename nor servname|getaddrinfo failed"
            r"|\[Errno -[235]\]|No address associated|Temporary failure in name resolution"
            r"|not found in DNS|could not resolve",
            re.IGNORECASE,
        ),
    ),
    (
        FailureKind.CONNECTION_REFUSED,
        re.compile(
            r"Connection refused|\[Errno 111\]|\[Errno 61\]|Network is unreachable"
            r"|No route to host|forbidden address|not allowed to connect",
            re.IGNORECASE,
        ),
    ),
    (FailureKind.TIMEOUT, re.compile(r"timed? ?out|TimeoutError", re.IGNORECASE)),
    (FailureKind.CLOSED, re.compile(r"connection closed|disconnected", re.IGNORECASE)),
    (
        FailureKind.TLS,
        re.compile(
            r"\bSSL\b|\bTLS\b|CERTIFICATE_VERIFY_FAILED|certificate|handshake", re.IGNORECASE
        ),
    ),
    (
        FailureKind.TOO_LARGE,
        re.compile(r"\b552\b|5\.3\.4|message size|too (?:big|large)", re.IGNORECASE),
    ),
    (FailureKind.MAILBOX_FULL, re.compile(r"\b5\.2\.2\b|mailbox (?:is )?full|quota", re.I)),
    (FailureKind.SPAM, re.compile(r"\bspam\b|blocked|blacklist|5\.7\.1\b", re.IGNORECASE)),
    (
        FailureKind.RECIPIENT_REFUSED,
        re.compile(
            r"recipient|\b5\.1\.[0-9]\b|\b55[03]\b.*(?:user|mailbox|address)|no such user"
            r"|user unknown|does not exist",
            re.IGNORECASE,
        ),
    ),
)


def classify(text: str | None, *, host: str = "", port: str = "") -> Failure:
    """The kind of a failure from its recorded words; ``host``/``port``: the server the
    channel was talking to, when the words do not say it."""
    raw = " ".join(str(text or "").split())
    retrying = raw.startswith("retrying:")
    detail = _PREFIXES.sub("", raw)
    match = _HOST_PORT.search(detail)
    if match:
        host = match.group(1) or host
        port = match.group(2) or port
    address_match = _ADDRESS.search(detail)
    address = address_match.group(1) if address_match else ""
    if raw.startswith("waiting for the connection"):
        kind = FailureKind.WAITING
    elif match and not match.group(1) and not host:
        kind = FailureKind.NO_HOST  # "Error connecting to  on port 587": no server set
    else:
        kind = next((k for k, rule in _RULES if rule.search(detail)), FailureKind.UNKNOWN)
        if kind == FailureKind.UNKNOWN:
            code = re.match(r"(\d)\d\d\b", detail)
            if raw.startswith("gave up"):
                kind = FailureKind.GAVE_UP
            elif code and code.group(1) == "4":
                kind = FailureKind.TEMPORARY
            elif code and code.group(1) == "5":
                kind = FailureKind.REFUSED
            elif retrying:
                kind = FailureKind.TEMPORARY
    return Failure(kind, detail, host=host, port=port, address=address, retrying=retrying)
