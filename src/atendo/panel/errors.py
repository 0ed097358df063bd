"""Errors in the operator's language.

A :class:`~atendo.core.errors.DomainError` carries a stable ``code`` and its ``params``; the
panel never shows its English ``message``: :func:`error_text` renders the code's sentence from
the catalogs. The short machine reasons that reach the panel from below (a field's complaint,
a server's refusal, a history entry) are matched by :func:`reason_text` and translated too;
anything it does not know (a server's own words) is shown as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from babel.numbers import format_decimal

from atendo.core.errors import DomainError

Gettext = Callable[[str], str]


def N_(text: str) -> str:
    """Mark a string for the catalogs without translating it here."""
    return text


# code -> sentence (msgid); %(name)s placeholders come from the error's params.
SENTENCES: dict[str, str] = {
    "invalid": N_("Some of what was entered is not valid."),
    "not_found": N_("This item does not exist or was removed."),
    "conflict": N_("This conflicts with something that already exists."),
    "forbidden": N_("You do not have permission to do this."),
    "unauthorized": N_("Sign in again to continue."),
    "method_not_allowed": N_("This action is not available here."),
    "internal_error": N_("Something went wrong on our side. Please try again."),
    "too_large": N_("What was sent is too large."),
    "rate_limited": N_("Too many requests. Wait a moment and try again."),
    "invalid_parameters": N_("Some of what was entered is not valid."),
    "channel.invalid_settings": N_("Some channel settings are not valid: see the fields below."),
    "channel.unknown_settings": N_("These settings do not belong to this channel: %(fields)s."),
    "channel.unsupported_transport": N_("This kind of channel is not available."),
    "channel.connection_failed": N_("Could not connect to the mail server: see the reasons below."),
    "channel.cannot_start_chats": N_("New chats cannot be started on this channel."),
    "channel.disabled": N_("This channel is disabled."),
    "chat.not_email": N_("This conversation is not an e-mail conversation."),
    "chat.no_recipient": N_("This conversation has no e-mail address to reply to."),
    "chat.subject_required": N_("A first e-mail needs a subject."),
    "chat.address_required": N_("Enter at least one e-mail address."),
    "chat.invalid_address": N_("Not a valid e-mail address: %(addresses)s."),
    "message.empty": N_("Write a message before sending."),
    "comment.empty": N_("Write the note before saving it."),
    "message.attachments_too_large": N_(
        "The attachments are too large: at most %(limit)s per message (these have %(size)s)."
    ),
    "message.too_large": N_(
        "The message is too large: at most %(limit)s with its files (this one: %(size)s)."
    ),
    "too_long": N_("A text is too long: at most %(limit)s characters. Nothing was saved."),
    "message.already_sent": N_("This message has already been sent."),
    "message.not_interruptible": N_("This message can no longer be interrupted."),
    "message.unknown_sender": N_("The sender is unknown."),
    "operator.invalid_email": N_("Enter a valid e-mail address."),
    "operator.email_taken": N_("An operator with this e-mail already exists."),
    "operator.password_too_short": N_("The password needs at least 8 characters."),
    "operator.wrong_password": N_("The current password is wrong."),
    "operator.unknown_timezone": N_("Pick a time zone from the list."),
    "operator.invalid_skill": N_("The skill must be between 1 and 100."),
    "operator.invalid_role": N_("Pick a role from the list."),
    "operator.last_admin": N_("The company needs at least one active admin."),
    "group.name_required": N_("Give the group a name."),
    "group.name_taken": N_("A group with this name already exists."),
    "signature.too_long": N_("The signature is too long: at most %(limit)s characters."),
    "template.required": N_("A template needs a name and a text."),
    "template.command_taken": N_("Another template already uses the shortcut /%(command)s."),
    "tag.group_required": N_("Give the tag group a name."),
    "tag.label_required": N_("Give the tag a name."),
    "tag.label_taken": N_("A tag named %(label)s already exists in this group."),
    "tag.invalid_assignee": N_("Tags go on clients or requests."),
    "tag.invalid_color": N_("Pick the tag's colours from the palette (like #1e88e5)."),
    "client.address_taken": N_("This address belongs to another client."),
    "client.invalid_email": N_("Enter a valid e-mail address."),
    "client.contact_required": N_("Enter a phone or an e-mail address."),
    "client.merge_not_found": N_("No single client has this address, phone or number."),
    "client.merge_self": N_("Pick another client to merge with."),
    "block.invalid_kind": N_("Pick what to block: an address, a domain or a client."),
    "block.client_required": N_("Pick the client to block."),
    "block.value_required": N_("Enter the address or domain to block."),
    "request.target_required": N_("Pick the request or the client."),
    "bulk.empty": N_("Select at least one chat."),
    "bulk.too_many": N_("At most %(limit)s chats at once: narrow the filters."),
    "webhook.invalid_url": N_("The address must start with http:// or https://."),
    "webhook.invalid_port": N_("The address has an invalid port."),
    "webhook.url_required": N_("Enter the webhook's address."),
    "webhook.too_many": N_("A company can have at most %(limit)s webhooks."),
    "webhook.url_refused": N_("This address cannot be used: %(reason)s."),
    "webhook.invalid_status": N_("Pick enabled or disabled."),
    "webhook.invalid_events": N_("Unknown events: %(events)s."),
    "channel.oauth_only": N_("Use the Google or Microsoft sign-in to connect this mailbox."),
    "channel.auth_fixed": N_("How a mailbox signs in changes only by connecting it again."),
    "oauth.unknown_provider": N_("Sign-in is available with Google or Microsoft."),
    "oauth.not_configured": N_(
        "Sign-in with %(provider)s is not set up on this installation "
        "(see the README, OAuth mailboxes)."
    ),
    "oauth.state": N_("The sign-in could not be checked: start it again."),
    "oauth.expired": N_("The sign-in took too long: start it again."),
    "oauth.browser": N_("The sign-in was started in another browser: start it again here."),
    "oauth.denied": N_("Access to the mailbox was not granted at the provider."),
    "oauth.code": N_("The provider refused the sign-in: start it again."),
    "oauth.provider": N_("The provider's sign-in service did not answer: try again in a moment."),
    "oauth.no_refresh": N_(
        "The provider did not grant lasting access: remove Atendo from the account's "
        "connected apps and connect again."
    ),
    "oauth.no_address": N_("The provider did not say which mailbox signed in."),
}

# Short reasons from below the panel: (pattern, msgid); named groups become params.
REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:Field required|required)$"), N_("required")),
    (re.compile(r"^taken$"), N_("already in use")),
    (re.compile(r"^(?:invalid e-mail address|value is not a valid email address.*)$"),
     N_("not a valid e-mail address")),
    (re.compile(r"^not a valid e-mail address: (?P<address>.+)$"),
     N_("not a valid e-mail address: %(address)s")),
    (re.compile(r"^at least 8 characters$"), N_("at least 8 characters")),
    (re.compile(r"^wrong password$"), N_("wrong password")),
    (re.compile(r"^unknown time zone$"), N_("unknown time zone")),
    (re.compile(r"^wrong login or password(?: \((?P<detail>.*)\))?$"),
     N_("wrong login or password")),
    (re.compile(r"^host not found$"), N_("host not found")),
    (re.compile(r"^connection refused$"), N_("connection refused")),
    (re.compile(r"^timed out$"), N_("timed out")),
    (re.compile(r"^connection closed by the server$"), N_("connection closed by the server")),
    # the sentences of a refused login a provider explained, and of OAuth mailboxes
    *((re.compile(f"^{re.escape(sentence)}$"), sentence) for sentence in (
        N_("the provider asks for an app password for this account (two-step verification)"),
        N_("IMAP access is turned off for this account"),
        N_("authenticated SMTP is turned off for this account"),
        N_("the provider no longer accepts passwords for this account: sign in with OAuth"),
        N_("TLS handshake failed: the port expects another security setting"),
        N_("the account's authorization was revoked or has expired: reconnect the account"),
        N_("the provider's sign-in service did not answer"),
    )),
    (re.compile(r"^TLS handshake failed: (?P<detail>.*)$"),
     N_("secure connection (TLS) failed: %(detail)s")),
    (re.compile(r"^the IMAP server does not offer STARTTLS$"),
     N_("the IMAP server does not offer STARTTLS")),
    (re.compile(r"^interrupted$"), N_("interrupted by the operator")),
    (re.compile(r"^copied to (?P<folder>.+)$"), N_("copied to the %(folder)s folder")),
    (re.compile(r"^Input should be a valid integer.*$"), N_("must be a whole number")),
    (re.compile(r"^Input should be greater than or equal to (?P<n>\S+)$"),
     N_("must be at least %(n)s")),
    (re.compile(r"^Input should be less than or equal to (?P<n>\S+)$"),
     N_("must be at most %(n)s")),
    (re.compile(r"^Input should be a valid boolean.*$"), N_("must be yes or no")),
    (re.compile(r"^Input should be (?P<choices>'.*)$"), N_("must be one of %(choices)s")),
    (re.compile(r"^String should have at most (?P<n>\d+) characters?$"),
     N_("at most %(n)s characters")),
]  # fmt: skip


def size_text(value: object, language: str) -> str:
    """Bytes as the operator reads them ("25 MB", "1,5 MB")."""
    if not isinstance(value, int):
        return str(value)
    mb = value / (1024 * 1024)
    if mb >= 1:
        return f"{format_decimal(round(mb, 1), locale=language)} MB"
    return f"{format_decimal(max(1, round(value / 1024)), locale=language)} KB"


def error_text(exc: DomainError, gettext: Gettext, language: str = "pt_BR") -> str:
    """The sentence the operator reads for a domain error, in their language."""
    sentence = SENTENCES.get(exc.code) or SENTENCES.get(
        {404: "not_found", 409: "conflict", 403: "forbidden"}.get(exc.status_code, "invalid"),
        SENTENCES["invalid"],
    )
    params: dict[str, object] = dict(exc.params)
    if exc.code in ("message.attachments_too_large", "message.too_large"):
        params = {k: size_text(v, language) for k, v in params.items()}
    try:
        return gettext(sentence) % params if "%(" in sentence else gettext(sentence)
    except (KeyError, ValueError, TypeError):
        return gettext(SENTENCES["invalid"])


def reason_text(text: str, gettext: Gettext) -> str:
    """A short machine reason translated, or the text as it came (a server's own words)."""
    clean = text.strip()
    for pattern, msgid in REASONS:
        match = pattern.match(clean)
        if match:
            params = match.groupdict()
            return gettext(msgid) % params if "%(" in msgid else gettext(msgid)
    return text


def field_errors(exc: DomainError, gettext: Gettext) -> dict[str, list[str]]:
    """The error's per-field complaints, each translated where we know it."""
    return {
        field: [reason_text(reason, gettext) for reason in reasons]
        for field, reasons in (exc.errors or {}).items()
    }
