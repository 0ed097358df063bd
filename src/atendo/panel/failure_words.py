"""Failures in the operator's words: a :class:`~atendo.kit.failures.Failure` kind → one short
sentence of the catalogs (pt-BR, en), the server's own words kept beside it as the details.
Templates call ``failure_words(text, host=…)`` (see :mod:`atendo.panel.render`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from atendo.kit.failures import FailureKind, classify


def _(message: str) -> str:
    """Marks a msgid for the catalogs; translated when worded."""
    return message


# msgids with %(host)s / %(port)s / %(address)s placeholders.
SENTENCES: dict[FailureKind, str] = {
    FailureKind.OAUTH_REVOKED: _(
        "The mailbox's sign-in (Google or Microsoft) was revoked or has expired: "
        "connect the account again"
    ),
    FailureKind.APP_PASSWORD: _(
        "This account uses two-step verification: create an app password at the provider "
        "and use it here, or connect with Google or Microsoft"
    ),
    FailureKind.IMAP_DISABLED: _(
        "IMAP is turned off for this mailbox: turn it on in the mailbox's settings "
        "(Gmail: Settings, Forwarding and POP/IMAP)"
    ),
    FailureKind.SMTP_AUTH_DISABLED: _(
        "Sending with a login (SMTP AUTH) is turned off for this account: the Microsoft "
        "365 administrator can turn it on, or connect with Microsoft"
    ),
    FailureKind.PASSWORDS_REFUSED: _(
        "The provider no longer accepts this account's password: connect with Google or "
        "Microsoft instead"
    ),
    FailureKind.TLS_MISMATCH: _(
        "The security setting does not fit the port: use SSL/TLS with ports 993 and 465, "
        "STARTTLS with 143 and 587"
    ),
    FailureKind.LOGIN_REFUSED: _("The sending server refused the user name or the password"),
    FailureKind.RECEIVE_LOGIN_REFUSED: _(
        "The receiving server (IMAP) refused the user name or the password"
    ),
    FailureKind.CLOSED: _("The server closed the connection"),
    FailureKind.HOST_NOT_FOUND: _("The server %(host)s was not found"),
    FailureKind.CONNECTION_REFUSED: _("The server %(host)s refused the connection"),
    FailureKind.TIMEOUT: _("The server %(host)s did not answer in time"),
    FailureKind.TLS: _("The secure connection (TLS) to %(host)s failed"),
    FailureKind.RECIPIENT_REFUSED: _("The address %(address)s was refused by the server"),
    FailureKind.TOO_LARGE: _("The message is too large for the server"),
    FailureKind.MAILBOX_FULL: _("The recipient's mailbox is full"),
    FailureKind.SPAM: _("The server refused the message as unwanted mail"),
    FailureKind.WAITING: _("Waiting for the connection"),
    FailureKind.GAVE_UP: _("The server kept refusing the message: it was not sent"),
    FailureKind.TEMPORARY: _("The server is unavailable for now: it will be tried again"),
    FailureKind.REFUSED: _("The server refused the message"),
    FailureKind.NO_HOST: _("The channel has no sending server set"),
    FailureKind.UNKNOWN: _("The message could not be sent"),
}
# Without the part the sentence names, the general wording of the same failure.
WITHOUT_HOST: dict[FailureKind, str] = {
    FailureKind.HOST_NOT_FOUND: _("The server was not found"),
    FailureKind.CONNECTION_REFUSED: _("The server refused the connection"),
    FailureKind.TIMEOUT: _("The server did not answer in time"),
    FailureKind.TLS: _("The secure connection (TLS) failed"),
    FailureKind.RECIPIENT_REFUSED: _("An address was refused by the server"),
}
RETRYING = _("it will be tried again")
# A channel's failure that fits no kind: the connection, not a message, failed.
CHANNEL_UNKNOWN = _("The connection to the server failed")


@dataclass(frozen=True)
class Worded:
    sentence: str
    detail: str  # the server's own words
    kind: str


def failure_words(
    text: str | None,
    gettext: Callable[[str], str],
    *,
    host: str = "",
    port: str = "",
    channel: bool = False,
) -> Worded:
    """``channel``: the words are a channel's (its connection), not a message's."""
    failure = classify(text, host=host, port=port)
    if channel and failure.kind == FailureKind.UNKNOWN:
        return Worded(gettext(CHANNEL_UNKNOWN), failure.detail, failure.kind.value)
    if failure.kind == FailureKind.WAITING:  # held with its channel: say why, too
        inner = failure_words(failure.detail, gettext, host=host, port=port)
        sentence = f"{gettext(SENTENCES[FailureKind.WAITING])}: {inner.sentence}"
        return Worded(sentence, failure.detail, failure.kind.value)
    needs = {"host": failure.host, "address": failure.address}
    msgid = SENTENCES[failure.kind]
    if any(f"%({k})s" in msgid and not v for k, v in needs.items()):
        msgid = WITHOUT_HOST.get(failure.kind, SENTENCES[FailureKind.UNKNOWN])
    sentence = gettext(msgid) % {
        "host": failure.host,
        "port": failure.port,
        "address": failure.address,
    }
    if failure.retrying and failure.kind not in (FailureKind.TEMPORARY, FailureKind.WAITING):
        sentence = f"{sentence} ({gettext(RETRYING)})"
    return Worded(sentence, failure.detail, failure.kind.value)
