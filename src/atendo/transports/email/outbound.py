"""Outbound e-mail: replies and new outbound chats ("write first").

These are the named state changes the API and the panel both call; they only flush (the edge
commits). A reply is not sent here: it is *queued*, i.e. written as a message row with
``delivery_status = queued`` and ``send_at = now + channel send_delay`` (the outbox; see
:mod:`atendo.core.messages.service` for the state machine and :mod:`atendo.workers.sender`
for the sender). Everything the sender needs is decided now and stored on the row, so the
MIME built at send time is the same on every attempt:

- recipients come from the dialog (never from a possibly stale form), plus optional CC;
- the Message-ID is generated now (our HMAC scheme, :mod:`.message_ids`) and is also the
  row's per-channel ``dedup_key``, so our own mail seen again by a sync is stored once;
- In-Reply-To is the client's last message, References the thread's ids;
- the signature is rendered now and stored (a later edit never rewrites history).

Message-IDs are stored without angle brackets, like the parser stores the ones it reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import get_channel
from atendo.core.channels.signatures import render_signature
from atendo.core.clients.models import Client
from atendo.core.clients.service import (
    EMAIL,
    add_identity,
    find_by_identity,
    find_or_create_client,
    get_client,
    identities,
)
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import current_request, get_dialog, open_dialog
from atendo.core.enums import DeliveryStatus, MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.models import Message
from atendo.core.messages.outgoing import (
    OutgoingAttachment,
    check_attachment_size,
    check_operator,
    enqueue,
)
from atendo.kit.clock import utcnow
from atendo.kit.html import html_to_text, sanitize_html, text_to_html
from atendo.runtime import Runtime
from atendo.transports.email.message_ids import make_message_id
from atendo.transports.email.threading import normalise_message_id

DEFAULT_SEND_DELAY = 15
MAX_SEND_DELAY = 300
# References kept on the row; compose trims further when folding the header.
MAX_REFERENCES = 100
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|res)\s*(\[\d+\])?\s*:", re.IGNORECASE)


# --- helpers -----------------------------------------------------------------------------


def strip_brackets(mid: str) -> str:
    return mid.strip().strip("<>").strip()


def channel_domain(channel: Channel) -> str:
    address = str((channel.settings or {}).get("email") or "")
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "atendo.invalid"


def send_delay(channel: Channel) -> int:
    try:
        delay = int((channel.settings or {}).get("send_delay", DEFAULT_SEND_DELAY))
    except (TypeError, ValueError):
        delay = DEFAULT_SEND_DELAY
    return max(0, min(MAX_SEND_DELAY, delay))


def normalise_addresses(addresses: Sequence[str], *, field: str = "emails") -> list[str]:
    """Validated (email-validator, no DNS), deduplicated case-insensitively, order kept."""
    out: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for raw in addresses:
        text = str(raw or "").strip()
        if not text:
            continue
        try:
            valid = validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            bad.append(text)
            continue
        normal = valid.normalized
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


def reply_subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return ""
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


class _ThreadEntry(NamedTuple):
    type: str
    email_message_id: str | None
    references: list[str] | None
    subject: str


def _thread_messages(session: Session, dialog: Dialog) -> list[_ThreadEntry]:
    """The dialog's e-mail messages that belong to the thread (oldest first): only the
    columns the headers need, since a long thread is read again for every reply."""
    rows = session.execute(
        select(Message.type, Message.email_message_id, Message.references, Message.subject)
        .where(
            Message.dialog_id == dialog.id,
            Message.type.in_(
                [MessageType.FROM_CLIENT, MessageType.TO_CLIENT, MessageType.AUTOREPLY]
            ),
            or_(
                Message.delivery_status.is_(None),
                Message.delivery_status.not_in([DeliveryStatus.CANCELLED, DeliveryStatus.FAILED]),
            ),
        )
        .order_by(Message.id)
    )
    return [_ThreadEntry(*row) for row in rows]


def _thread_headers(thread: list[_ThreadEntry]) -> tuple[str | None, list[str], str]:
    """(In-Reply-To, References, last subject) for a new message in this thread."""
    in_reply_to: str | None = None
    last_subject = ""
    refs: list[str] = []
    for m in thread:
        for ref in m.references or []:
            refs.append(strip_brackets(ref))
        if m.email_message_id:
            refs.append(strip_brackets(m.email_message_id))
        if m.subject:
            last_subject = m.subject
        if m.type == MessageType.FROM_CLIENT and m.email_message_id:
            in_reply_to = strip_brackets(m.email_message_id)
    if in_reply_to is None:
        sent = [m for m in thread if m.email_message_id]
        if sent:
            in_reply_to = strip_brackets(sent[-1].email_message_id or "")
    unique = [r for r in dict.fromkeys(refs) if r]
    if len(unique) > MAX_REFERENCES:
        unique = unique[:1] + unique[-(MAX_REFERENCES - 1) :]
    return in_reply_to, unique, last_subject


# --- replies -----------------------------------------------------------------------------


def queue_email_reply(
    session: Session,
    *,
    runtime: Runtime,
    company_id: int,
    dialog_id: int,
    operator_id: int | None,
    text: str,
    html: str | None = None,
    subject: str | None = None,
    cc: list[str] | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    automatic: bool = False,
) -> Message:
    """Queue an e-mail to the dialog's recipients; the sender delivers it after the delay."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    channel = get_channel(session, company_id=company_id, channel_id=dialog.channel_id)
    if channel.transport != EMAIL:
        raise Invalid(
            "This dialog is not an e-mail dialog",
            {"dialog_id": ["not e-mail"]},
            code="chat.not_email",
        )
    check_operator(session, company_id=company_id, operator_id=operator_id)
    text = (text or "").replace("\r\n", "\n")
    if not text.strip() and not (html or "").strip() and not attachments:
        raise Invalid("The message is empty", {"text": ["required"]}, code="message.empty")
    check_attachment_size(attachments, limit=runtime.settings.max_attachment_bytes)
    client = session.get(Client, dialog.client_id)
    recipients = list(dialog.recipients or [])
    if not recipients:
        recipients = identities(session, client_id=dialog.client_id, transport=EMAIL)[:1]
    if not recipients:
        raise Invalid(
            "The dialog has no e-mail recipient",
            {"dialog_id": ["no recipient"]},
            code="chat.no_recipient",
        )
    recipients = normalise_addresses(recipients)
    lowered = {r.lower() for r in recipients}
    cc_list = [a for a in normalise_addresses(cc or [], field="cc") if a.lower() not in lowered]

    thread = _thread_messages(session, dialog)
    in_reply_to, references, last_subject = _thread_headers(thread)
    if subject is not None and subject.strip():
        final_subject = subject.strip()
    else:
        final_subject = reply_subject(last_subject or dialog.subject)

    body_html = sanitize_html(html) if html is not None and html.strip() else text_to_html(text)
    if not text.strip() and body_html:
        text = html_to_text(body_html)

    # An automatic message carries no operator's signature (the general one still applies).
    signature = render_signature(
        session, channel=channel, operator_id=None if automatic else operator_id, client=client
    )
    mid = strip_brackets(make_message_id(runtime.box, channel_domain(channel)))
    now = utcnow()
    settings = channel.settings or {}
    request = current_request(session, dialog=dialog)
    message = Message(
        company_id=company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=dialog.client_id,
        request_id=request.id if request else None,
        operator_id=operator_id,
        type=(MessageType.AUTOREPLY if automatic else MessageType.TO_CLIENT).value,
        transport=EMAIL,
        text=text,
        html=body_html or None,
        subject=final_subject[:1000],
        signature=signature,
        read=True,
        email_message_id=mid,
        # The same key the inbound sync computes (ingest.dedup_key_for): one row per id.
        dedup_key=f"mid:{normalise_message_id(mid)}",
        in_reply_to=in_reply_to,
        references=references,
        from_email=str(settings.get("email") or "") or None,
        from_name=str(settings.get("sender_name") or channel.name or "")[:300],
        to=recipients,
        cc=cc_list,
        delivery_status=DeliveryStatus.QUEUED.value,
        send_at=now + timedelta(seconds=send_delay(channel)),
        attempts=0,
        recipient_errors={},
        created=now,
    )
    if operator_id is not None and dialog.operator_id is None and not automatic:
        dialog.operator_id = operator_id
    enqueue(
        session, blobs=runtime.blobs, dialog=dialog, message=message, attachments=attachments,
        client=client,
    )  # fmt: skip
    return message


# --- new outbound chat ---------------------------------------------------------------------


def start_outbound_chat(
    session: Session,
    *,
    runtime: Runtime,
    company_id: int,
    channel_id: int,
    emails: list[str],
    operator_id: int | None,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    client_id: int | None = None,
) -> tuple[Dialog, Message | None]:
    """Open (or reuse) the chat with these addresses; with ``text``, queue the first e-mail."""
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    if channel.transport != EMAIL:
        raise Invalid(
            "New chats can only be started on an e-mail channel",
            {"channel_id": ["not an e-mail channel"]},
            code="channel.cannot_start_chats",
        )
    if not channel.write_first:
        raise Invalid(
            "This channel may not start conversations (write first is off)",
            {"channel_id": ["write_first is off for this channel"]},
            code="channel.cannot_start_chats",
        )
    check_operator(session, company_id=company_id, operator_id=operator_id)
    has_text = bool((text or "").strip() or (html or "").strip())
    if has_text and not (subject or "").strip():
        raise Invalid(
            "A first e-mail needs a subject",
            {"subject": ["required"]},
            code="chat.subject_required",
        )
    addresses = normalise_addresses(emails)
    owner: Client | None = None
    if client_id is not None:
        owner = get_client(session, company_id=company_id, client_id=client_id)
        if not addresses:
            addresses = identities(session, client_id=owner.id, transport=EMAIL)[:1]
    if not addresses:
        raise Invalid(
            "At least one e-mail address is needed",
            {"emails": ["required"]},
            code="chat.address_required",
        )
    clients: list[Client] = []
    for i, address in enumerate(addresses):
        found = find_by_identity(session, company_id=company_id, transport=EMAIL, address=address)
        if found is None and i == 0 and owner is not None:
            add_identity(
                session, company_id=company_id, client_id=owner.id, transport=EMAIL, address=address
            )
            found = owner
        if found is None:
            found, _ = find_or_create_client(
                session, company_id=company_id, transport=EMAIL, address=address
            )
        clients.append(found)
    main = owner or clients[0]
    dialog = open_dialog(
        session,
        company_id=company_id,
        client_id=main.id,
        channel_id=channel.id,
        operator_id=operator_id,
        subject=(subject or "").strip(),
    )
    # The operator chose exactly whom to write to: that is the dialog's recipient list now.
    dialog.recipients = list(addresses)
    if subject and subject.strip():
        dialog.subject = subject.strip()[:1000]
    session.flush()
    if not has_text:
        return dialog, None
    message = queue_email_reply(
        session,
        runtime=runtime,
        company_id=company_id,
        dialog_id=dialog.id,
        operator_id=operator_id,
        text=text or "",
        html=html,
        subject=subject,
    )
    return dialog, message
