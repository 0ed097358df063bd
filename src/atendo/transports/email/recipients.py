"""Who an outgoing e-mail goes to: To, Cc and Bcc, the way mail clients do it.

The default for a reply is *reply-all* to the client's last message (RFC 5322 §3.6.3):

* To  = its ``Reply-To`` when present, else its ``From``;
* Cc  = its To and Cc, minus the company's own mailbox addresses (every e-mail channel's
  address and Reply-To) and minus what is already in To;
* Bcc = empty.

A dialog without a client message yet (a chat started by an operator) goes to the dialog's
recipients. Whatever the composer or the API sends is validated here again (the form may be
stale or forged): syntactically valid addresses only (email-validator, no DNS), any domain —
intranet and special-use ones (``.local``, ``.internal``, ``.lan``) included, since whether
they are deliverable is the SMTP server's call — deduplicated across the three fields (To
wins over Cc, Cc over Bcc). At least one To or Cc is needed: a Bcc-only message would show
the client an empty To.

Bcc addresses are on the SMTP envelope only, never in the headers (compose writes none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import email_validator
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.service import identities
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.models import Message

EMAIL = "email"

# email-validator refuses special-use names (RFC 6761) even with ``globally_deliverable``
# off; its documentation says to edit this list. Intranets do run mail under ``.local``
# (mDNS or not), ``localhost`` and ``.test``: the SMTP server decides what it delivers.
# ``.invalid``, ``.onion`` and ``.arpa`` stay refused: no mail server answers for them.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    name
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    if name not in ("local", "localhost", "test")
]


@dataclass(frozen=True)
class Recipients:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)

    @property
    def envelope(self) -> list[str]:
        """Every address the server must deliver to (RCPT TO), once each."""
        return list(dict.fromkeys([*self.to, *self.cc, *self.bcc]))

    def as_fields(self) -> dict[str, list[str]]:
        return {"to": list(self.to), "cc": list(self.cc), "bcc": list(self.bcc)}


def valid_address(text: str) -> str | None:
    """The normalised address, or None when it is not a syntactically valid one."""
    try:
        return validate_email(
            text, check_deliverability=False, globally_deliverable=False
        ).normalized
    except EmailNotValidError:
        return None


def split_addresses(raw: Sequence[str] | str | None) -> list[str]:
    """Addresses from a list whose items may each hold several (``a@x, b@y; c@z``)."""
    items = [raw] if isinstance(raw, str) else list(raw or [])
    out: list[str] = []
    for item in items:
        for part in str(item or "").replace(";", ",").replace("\n", ",").split(","):
            part = part.strip()
            if "<" in part and part.endswith(">"):  # "Name <a@b>"
                part = part.rpartition("<")[2][:-1].strip()
            if part:
                out.append(part)
    return out


def normalise_addresses(addresses: Sequence[str], *, field: str = "emails") -> list[str]:
    """Validated, deduplicated case-insensitively, order kept; 422 naming every bad one."""
    out: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for text in split_addresses(addresses):
        normal = valid_address(text)
        if normal is None:
            bad.append(text)
            continue
        if normal.lower() in seen:
            continue
        seen.add(normal.lower())
        out.append(normal)
    if bad:
        raise Invalid(
            "Invalid e-mail address: " + ", ".join(bad),
            {field: [f"not a valid e-mail address: {b}" for b in bad]},
            code="chat.invalid_address",
            params={"addresses": ", ".join(bad)},
        )
    return out


def own_addresses(session: Session, *, company_id: int) -> set[str]:
    """The company's mailbox addresses (every e-mail channel's address and Reply-To), lower
    case: a reply-all never writes to ourselves."""
    out: set[str] = set()
    for settings in session.scalars(
        select(Channel.settings).where(Channel.company_id == company_id, Channel.transport == EMAIL)
    ):
        for key in ("email", "reply_to", "login", "smtp_login"):
            value = str((settings or {}).get(key) or "").strip().lower()
            if "@" in value:
                out.add(value)
    return out


def _last_client_mail(session: Session, dialog: Dialog) -> Message | None:
    """The client's last message a person wrote (not an auto-reply, not a bounce)."""
    return session.scalars(
        select(Message)
        .where(
            Message.company_id == dialog.company_id,
            Message.dialog_id == dialog.id,
            Message.type == MessageType.FROM_CLIENT.value,
            Message.hidden.is_(False),
            Message.is_bounce.is_(False),
            Message.is_auto_reply.is_(False),
            Message.from_email.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()


def _last_outbound(session: Session, dialog: Dialog) -> Message | None:
    return session.scalars(
        select(Message)
        .where(
            Message.company_id == dialog.company_id,
            Message.dialog_id == dialog.id,
            Message.type == MessageType.TO_CLIENT.value,
            Message.transport == EMAIL,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()


def _minus(addresses: Sequence[str], taken: set[str]) -> list[str]:
    out: list[str] = []
    for address in addresses:
        key = address.lower()
        if key not in taken:
            taken.add(key)
            out.append(address)
    return out


def reply_all(session: Session, *, dialog: Dialog) -> Recipients:
    """The default recipients of the next message in ``dialog`` (see the module's map)."""
    own = own_addresses(session, company_id=dialog.company_id)
    last = _last_client_mail(session, dialog)
    if last is not None:
        to_raw = list(last.reply_to or []) or [last.from_email or ""]
        cc_raw = [*(last.to or []), *(last.cc or [])]
    else:
        ours = _last_outbound(session, dialog)
        if ours is not None:  # the operators wrote first: to whom they wrote last
            to_raw, cc_raw = list(ours.to or []), list(ours.cc or [])
        else:
            to_raw = (
                list(dialog.recipients or [])
                or identities(
                    session,
                    company_id=dialog.company_id,
                    client_id=dialog.client_id,
                    transport=EMAIL,
                )[:1]
            )
            cc_raw = []
    taken = set(own)
    to = _minus([a for a in to_raw if a and valid_address(a)], taken)
    cc = _minus([a for a in cc_raw if a and valid_address(a)], taken)
    if not to and cc:  # the client wrote from our own address to someone: answer them
        to, cc = cc[:1], cc[1:]
    return Recipients(to=to, cc=cc)


def resolve_recipients(
    session: Session,
    *,
    dialog: Dialog,
    to: Sequence[str] | None,
    cc: Sequence[str] | None,
    bcc: Sequence[str] | None,
) -> Recipients:
    """What the caller asked for, validated; a field left out (None) takes the reply-all
    default (Bcc: none). Raises ``Invalid`` (422) for a bad address or no recipient."""
    default = reply_all(session, dialog=dialog) if to is None or cc is None else Recipients()
    to_list = normalise_addresses(to, field="to") if to is not None else list(default.to)
    cc_list = normalise_addresses(cc, field="cc") if cc is not None else list(default.cc)
    bcc_list = normalise_addresses(bcc or [], field="bcc")
    taken: set[str] = set()
    to_list = _minus(to_list, taken)
    cc_list = _minus(cc_list, taken)
    bcc_list = _minus(bcc_list, taken)
    if not to_list and not cc_list:
        raise Invalid(
            "The message has no recipient",
            {"to": ["at least one address is needed"]},
            code="chat.no_recipient",
        )
    return Recipients(to=to_list, cc=cc_list, bcc=bcc_list)
