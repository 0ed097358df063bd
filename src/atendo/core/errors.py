"""Domain errors. Each carries the HTTP status the edges should answer with, a stable ``code``
and the ``params`` a sentence about it needs.

The API answers the English ``message`` and adds the ``code``; the panel never shows the
English: it renders ``code`` + ``params`` from its catalogs (``atendo.panel.errors``). Every
code raised anywhere is listed in :data:`CODES` (a test checks both catalogs cover them).
"""

from __future__ import annotations

from collections.abc import Mapping

# code -> what it means (documentation; the panel's sentences live in its catalogs)
CODES: dict[str, str] = {
    "invalid": "generic invalid input",
    "not_found": "the row does not exist or belongs to another company",
    "conflict": "generic conflict",
    "forbidden": "the operator may not do this",
    "unauthorized": "no or a wrong API token",
    "method_not_allowed": "the HTTP method is not allowed here",
    "internal_error": "an unexpected failure",
    "too_large": "the request body is too large",
    "rate_limited": "too many requests",
    "invalid_parameters": "the request's parameters did not validate",
    "channel.invalid_settings": "channel settings did not validate",
    "channel.unknown_settings": "settings the transport does not take",
    "channel.unsupported_transport": "no such transport",
    "channel.connection_failed": "the connection test failed",
    "channel.cannot_start_chats": "the transport cannot start chats",
    "channel.disabled": "the channel is disabled",
    "chat.not_email": "the dialog is not an e-mail dialog",
    "chat.no_recipient": "the dialog has no e-mail recipient",
    "chat.subject_required": "a first e-mail needs a subject",
    "chat.address_required": "a new chat needs at least one address",
    "chat.invalid_address": "an address is not a valid e-mail address",
    "message.empty": "the message is empty",
    "comment.empty": "the internal note is empty",
    "message.attachments_too_large": "attachments over the limit",
    "message.too_large": "a message over the stored message size (ATENDO_MAX_MESSAGE_BYTES)",
    "too_long": "a text longer than its column (params: field, limit)",
    "message.already_sent": "the message has already left",
    "message.not_interruptible": "the message is in a state that cannot be interrupted",
    "message.unknown_sender": "an inbound message without a sender",
    "operator.invalid_email": "an operator's e-mail is not valid",
    "operator.email_taken": "another operator has this e-mail",
    "operator.password_too_short": "the password is too short",
    "operator.wrong_password": "the current password is wrong",
    "operator.unknown_timezone": "unknown time zone",
    "operator.invalid_skill": "skill out of range",
    "operator.invalid_role": "unknown role",
    "operator.last_admin": "the company's last admin cannot lose the role",
    "group.name_required": "a group needs a name",
    "group.name_taken": "another group has this name",
    "signature.too_long": "a signature over the limit",
    "template.required": "a template needs a name and a text",
    "template.command_taken": "another template has this shortcut",
    "tag.group_required": "a tag group needs a name",
    "tag.label_required": "a tag needs a label",
    "tag.label_taken": "the group already has a tag with this label",
    "tag.invalid_assignee": "tags go on clients or requests",
    "tag.invalid_color": "a tag colour that is not a plain hex colour (#rgb or #rrggbb)",
    "client.address_taken": "the address belongs to another client",
    "client.invalid_email": "not a valid e-mail address",
    "client.contact_required": "a client needs a phone or an e-mail",
    "client.merge_not_found": "no single client matches for a merge",
    "client.merge_self": "a client cannot be merged into itself",
    "block.invalid_kind": "block kind must be email, domain or client",
    "block.client_required": "a client block needs the client",
    "block.value_required": "a block needs a value",
    "request.target_required": "closing requests needs a request or a client",
    "bulk.empty": "a bulk action with no dialogs",
    "bulk.too_many": "too many dialogs for one bulk action",
    "webhook.invalid_url": "not an http(s) URL",
    "webhook.invalid_port": "bad port",
    "webhook.url_required": "url is required",
    "webhook.too_many": "too many webhooks",
    "webhook.url_refused": "the network guard refused the address",
    "webhook.invalid_status": "status must be enabled or disabled",
    "webhook.invalid_events": "unknown event names",
    "channel.oauth_only": "an OAuth mailbox is connected through its provider's sign-in",
    "channel.auth_fixed": "how a mailbox signs in changes only by connecting it again",
    "oauth.unknown_provider": "no such OAuth provider",
    "oauth.not_configured": "the installation has no client id for the provider",
    "oauth.state": "the flow's state could not be opened",
    "oauth.expired": "the flow came back too late",
    "oauth.browser": "the flow came back in another browser",
    "oauth.denied": "the provider did not grant access",
    "oauth.code": "the provider refused the authorization code",
    "oauth.provider": "the provider's token endpoint did not answer",
    "oauth.no_refresh": "the provider gave no refresh token",
    "oauth.no_address": "the id_token named no address",
}


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        errors: dict[str, list[str]] | None = None,
        *,
        code: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code is not None:
            self.code = code
        self.params: dict[str, object] = dict(params or {})


class NotFound(DomainError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str = "Page not found", *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class Invalid(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
