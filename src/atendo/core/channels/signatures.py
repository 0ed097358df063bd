"""E-mail signatures: rendering a channel's signature template for one message.

Which template applies is the core's rule (``effective_signature_template``: the operator's
when the operators' switch is on and they have one, else the general one when its switch is
on, else none). Here we fill in its variables and make it safe:

- Variables are ``{operator.first_name}``, ``{operator.last_name}``, ``{operator.email}``,
  ``{channel.name}``, ``{channel.email}``, ``{client.name}``. They are replaced by one regex
  pass over a fixed table, never with ``str.format`` (a template is user text: ``format``
  would let ``{0.__class__}`` reach into Python objects). Unknown variables stay as typed.
- Signatures are plain text. A template pasted as HTML is sanitised and reduced to text, and
  control characters are dropped; the HTML alternative is built from the text when composing.

The signature is rendered once, when the message is queued, and stored in
``Message.signature``: editing a signature later never rewrites what was already sent.
Comments and automatic messages carry no operator signature.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    effective_signature_template,
    get_signatures,
    set_operator_signature,
)
from atendo.core.clients.models import Client
from atendo.core.errors import Invalid
from atendo.core.operators.models import Operator
from atendo.kit.db import get_scoped
from atendo.kit.html import html_to_text, sanitize_html

MAX_SIGNATURE_CHARS = 5000

_VARIABLE = re.compile(r"\{(operator|channel|client)\.([a-z_]+)\}")
_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_signature(text: str) -> str:
    """A signature template made safe to store: plain text, no control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _LOOKS_LIKE_HTML.search(text):
        text = html_to_text(sanitize_html(text))
    text = _CONTROL.sub("", text).strip("\n")
    if len(text) > MAX_SIGNATURE_CHARS:
        raise Invalid(
            "Signature is too long",
            {"signature": [f"at most {MAX_SIGNATURE_CHARS} characters"]},
            code="signature.too_long",
            params={"limit": MAX_SIGNATURE_CHARS},
        )
    return text


def signature_variables(
    *, operator: Operator | None, channel: Channel, client: Client | None
) -> dict[str, str]:
    settings = channel.settings or {}
    return {
        "operator.first_name": operator.first_name if operator else "",
        "operator.last_name": operator.last_name if operator else "",
        "operator.email": operator.email if operator else "",
        "channel.name": channel.name,
        "channel.email": str(settings.get("email") or ""),
        "client.name": client.display_name if client else "",
    }


def render_template(template: str, variables: dict[str, str]) -> str:
    """Replace the known ``{group.field}`` variables; leave anything else exactly as typed."""

    def repl(match: re.Match[str]) -> str:
        key = f"{match.group(1)}.{match.group(2)}"
        return variables.get(key, match.group(0))

    return _VARIABLE.sub(repl, template)


def render_signature(
    session: Session,
    *,
    channel: Channel,
    operator_id: int | None,
    client: Client | None,
) -> str:
    """The effective signature of ``operator_id`` on ``channel``, rendered (or "")."""
    template = effective_signature_template(session, channel=channel, operator_id=operator_id)
    if not template.strip():
        return ""
    operator = (
        get_scoped(session, Operator, operator_id, company_id=channel.company_id)
        if operator_id is not None
        else None
    )
    variables = signature_variables(operator=operator, channel=channel, client=client)
    return clean_signature(render_template(clean_signature(template), variables))


def read_signatures(session: Session, *, channel: Channel) -> dict[str, Any]:
    return get_signatures(session, channel=channel)


def save_signatures(
    session: Session,
    *,
    channel: Channel,
    operators_enabled: bool | None = None,
    general_enabled: bool | None = None,
    general: str | None = None,
    operators: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Update the switches and texts given (others stay); operator ids must be the company's."""
    if operators:
        wanted: dict[int, str] = {}
        bad: list[str] = []
        for key, text in operators.items():
            try:
                oid = int(key)
            except (TypeError, ValueError):
                bad.append(str(key))
                continue
            op = get_scoped(session, Operator, oid, company_id=channel.company_id)
            if op is None:
                bad.append(str(key))
                continue
            wanted[oid] = clean_signature(str(text or ""))
        if bad:
            raise Invalid(
                "Unknown operator in signatures",
                {"operators": [f"not an operator of this company: {', '.join(bad)}"]},
                code="not_found",
            )
        for oid, text in wanted.items():
            set_operator_signature(session, channel=channel, operator_id=oid, text=text)
    if operators_enabled is not None:
        channel.signatures_operators_enabled = operators_enabled
    if general_enabled is not None:
        channel.signatures_general_enabled = general_enabled
    if general is not None:
        channel.signature_general = clean_signature(general)
    session.flush()
    return get_signatures(session, channel=channel)
