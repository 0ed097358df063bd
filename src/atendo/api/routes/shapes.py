"""JSON Schemas of the objects the API answers with (what ``atendo.api.serializers`` builds).

Fields are written ``name: kind``; a kind ending in ``?`` may be null. Every listed field is
always present (the serializers write them all); ``ext`` fields are Atendo's additions and say
so in their description. The schemathesis test checks real answers against these shapes.
"""

from __future__ import annotations

from typing import Any

from atendo.api.routes.apidoc import EXT, Schema

_KINDS: dict[str, Schema] = {
    "integer": {"type": "integer"},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date-time"},
    "object": {"type": "object"},
    "string[]": {"type": "array", "items": {"type": "string"}},
    "integer[]": {"type": "array", "items": {"type": "integer"}},
    "any": {},
}


def kind(spec: str | Schema) -> Schema:
    if isinstance(spec, dict):
        return spec
    nullable = spec.endswith("?")
    base = dict(_KINDS[spec.rstrip("?")])
    if nullable and "type" in base:
        base["type"] = [base["type"], "null"]
    elif nullable:
        base = {"anyOf": [base, {"type": "null"}]}
    return base


def obj(
    fields: dict[str, str | Schema],
    ext: dict[str, str | Schema] | None = None,
    *,
    optional: tuple[str, ...] = (),
) -> Schema:
    """An object with ``fields`` and ``ext`` fields, all required but the ``optional`` ones."""
    props: dict[str, Any] = {name: kind(spec) for name, spec in fields.items()}
    for name, spec in (ext or {}).items():
        props[name] = {**kind(spec), "description": EXT}
    return {
        "type": "object",
        "required": [n for n in props if n not in optional],
        "properties": props,
    }


def extend(base: Schema, fields: dict[str, str | Schema]) -> Schema:
    """``base`` with more always-present fields."""
    more = obj(fields)
    return {
        **base,
        "required": [*base["required"], *more["required"]],
        "properties": {**base["properties"], **more["properties"]},
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def array(schema: Schema) -> Schema:
    return {"type": "array", "items": schema}


TAG = obj(
    {
        "id": "integer",
        "group_id": "integer?",
        "group_name": "string?",
        "label": "string",
        "description": "string",
        "bg_color": "string?",
        "text_color": "string?",
        "order_show": "integer",
    }
)
TAG_GROUP = obj({"id": "integer", "name": "string", "order_show": "integer", "display": "boolean"})

CLIENT = obj(
    {
        "id": "integer",
        "name": "string",
        "assigned_name": "string",
        "phone": "string?",
        "email": "string?",
        "comment": "string",
        "extra_comment_1": "string",
        "extra_comment_2": "string",
        "extra_comment_3": "string",
        "custom_fields": "object",
        "external_id": "string?",
        "tags": array(TAG),
        "channels": array(obj({"id": "integer", "transports": "string[]"})),
    },
    ext={"emails": "string[]", "created": "date", "visitor": "object?"},
)

ATTACHMENT = obj(
    {"id": "integer", "name": "string", "link": "string"},
    ext={
        "content_type": "string",
        "size": "integer",
        "inline": "boolean",
        "content_id": "string?",
    },
)

MESSAGE = obj(
    {
        "id": "integer",
        "text": "string",
        "type": "string",
        "transport": "string",
        "read": {"type": "integer", "enum": [0, 1]},
        "created": "date",
        "operator_id": "integer?",
        "channel_id": "integer",
        "dialog_id": "integer?",
        "client_id": "integer?",
        "request_id": "integer?",
        "attachments": array(ATTACHMENT),
        "recipient_status": "string?",
        "external_id": "string?",
    },
    ext={
        "subject": "string",
        "html": "string?",
        "quoted_text": "string",
        "signature": "string",
        "email": obj(
            {
                "from": "string?",
                "from_name": "string",
                "to": "string[]",
                "cc": "string[]",
                "bcc": "string[]",
                "reply_to": "string[]",
                "message_id": "string?",
                "in_reply_to": "string?",
                "references": "string[]",
            }
        ),
        "is_auto_reply": "boolean",
        "is_bounce": "boolean",
        "imported": "boolean",
        "hidden": "boolean",
        "hidden_reason": "string?",
        "parse_error": "string?",
        "delivery_status": "string?",
        "send_at": "date?",
        "sent_at": "date?",
        "error": "string?",
        "recipient_errors": "object",
    },
)

TIMELINE_EVENT_ITEM = obj(
    {
        "id": "integer",
        "kind": "string",
        "operator_id": "integer?",
        "actor": "string",
        "details": "object",
        "created": "date",
    }
)

DIALOG = obj(
    {
        "id": "integer",
        "state": {"type": "string", "enum": ["open", "closed"]},
        "begin": "date",
        "end": "date?",
        "operator_id": "integer?",
        "last_message": nullable(MESSAGE),
    },
    ext={
        "group_id": "integer?",
        "client_id": "integer",
        "channel_id": "integer",
        "recipients": "string[]",
        "subject": "string",
        "unread": "integer",
    },
)

DIALOG_DETAIL: Schema = {
    **DIALOG,
    "properties": {
        **DIALOG["properties"],
        "events": {
            "type": "array",
            "items": TIMELINE_EVENT_ITEM,
            "description": EXT + ": the timeline (assigned, transferred, closed, reopened, tagged)",
        },
    },
}

OPERATOR = obj(
    {
        "id": "integer",
        "email": "string",
        "first_name": "string",
        "last_name": "string",
        "role": "string",
        "online": {"type": "integer", "enum": [0, 1]},
        "opened_dialogs": "integer",
        "last_visit": "date?",
    },
    ext={
        "status": "string",
        "max_open_dialogs": "integer?",
        "new_chats_unavailable": "boolean",
        "language": "string",
    },
)

OPERATOR_GROUP = obj(
    {
        "id": "integer",
        "name": "string",
        "operators": array(obj({"id": "integer", "skill": "integer"})),
        "operator_ids": "integer[]",
    },
    ext={
        "rule": {"type": "string", "enum": ["least_busy", "most_skilled", "probability"]},
        "members": array(obj({"operator_id": "integer", "skill": "integer"})),
    },
)

TEMPLATE = obj(
    {"id": "integer", "name": "string", "command": "string?", "text": "string", "created": "date"}
)

# The channel object spreads its transport's settings, so only the common fields are fixed.
CHANNEL = obj(
    {"id": "integer", "name": "string", "phone": "string?", "transports": "string[]"},
    ext={
        "transport": "string",
        "write_first": "boolean",
        "status": "string",
        "last_error": "string?",
        "error_since": "date?",
        "last_sync": "date?",
        "created": "date",
        "password_set": "boolean",
        "group_id": "integer?",
    },
)

DISCOVERED = obj(
    {},
    ext={
        "imap_host": "string",
        "imap_port": "integer",
        "imap_security": "string",
        "smtp_host": "string",
        "smtp_port": "integer",
        "smtp_security": "string",
        "oauth": "string?",
        "source": "string",
        "provider": "string?",
    },
)

WEBHOOK = obj(
    {
        "id": "integer",
        "name": "string",
        "url": "string",
        "events": "string[]",
        "channels": "integer[]",
        "status": "string",
        "failing_since": "date?",
        "last_errors": array({}),
        "created": "date",
    }
)

REQUEST = obj(
    {
        "id": "integer",
        "dialog_id": "integer",
        "client_id": "integer",
        "channel_id": "integer?",
        "state": "string",
        "begin": "date",
        "end": "date?",
    }
)

SIGNATURES = obj(
    {
        "operators_enabled": "boolean",
        "general_enabled": "boolean",
        "general": "string",
        "operators": {"type": "object", "additionalProperties": {"type": "string"}},
    }
)

SENT = obj(
    {
        "message_id": "integer",
        "channel_id": "integer",
        "operator_id": "integer?",
        "transport": "string",
        "type": "string",
        "client_id": "integer?",
        "dialog_id": "integer?",
        "request_id": "integer?",
    }
)

STRINGS: Schema = array({"type": "string"})
DELETED = obj({"deleted": "integer"})
