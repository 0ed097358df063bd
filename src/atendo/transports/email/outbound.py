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

from collections.abc import Sequence
from datetime import timedelta
from email.utils import format_datetime
from typing import NamedTuple

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
from atendo.core.dialogs.service import current_request, get_dialog, merge_recipients, open_dialog
from atendo.core.enums import ChannelStatus, DeliveryStatus, MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.limits import check_message_size, check_recipients
from atendo.core.messages.models import Message
from atendo.core.messages.outgoing import (
    OutgoingAttachment,
    check_attachment_size,
    check_operator,
    enqueue,
)
from atendo.core.messages.service import attachments_of, get_message
from atendo.kit.clock import utcnow
from atendo.kit.db import get_scoped
from atendo.kit.html import html_to_text, sanitize_html, text_to_html
from atendo.runtime import Runtime
from atendo.transports.email.message_ids import make_message_id
from atendo.transports.email.recipients import (
    Recipients,
    normalise_addresses,
    resolve_recipients,
)
from atendo.transports.email.subjects import SubjectSource, derive_subject, forward_subject
from atendo.transports.email.threading import normalise_message_id

__all__ = ["normalise_addresses"]  # kept here for callers that import it from outbound

DEFAULT_SEND_DELAY = 15
MAX_SEND_DELAY = 300
# References kept on the row; compose trims further when folding the header.
MAX_REFERENCES = 100


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


class _ThreadEntry(NamedTuple):
    type: str
    email_message_id: str | None
    references: list[str] | None
    in_reply_to: str | None
    subject: str
    is_auto_reply: bool
    is_bounce: bool


def _thread_messages(session: Session, dialog: Dialog) -> list[_ThreadEntry]:
    """The dialog's e-mail messages that belong to the thread (oldest first): only the
    columns the headers need, since a long thread is read again for every reply. Hidden mail
    (our own copies, blocked senders) is not part of it."""
    rows = session.execute(
        select(
            Message.type,
            Message.email_message_id,
            Message.references,
            Message.in_reply_to,
            Message.subject,
            Message.is_auto_reply,
            Message.is_bounce,
        )
        .where(
            Message.company_id == dialog.company_id,
            Message.dialog_id == dialog.id,
            Message.hidden.is_(False),
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


def thread_headers(thread: Sequence[_ThreadEntry]) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a new message in this thread (RFC 5322 §3.6.4).

    In-Reply-To is the message being answered: the client's last mail (not a bounce), else
    the thread's last message. References is the chain: the ids the thread's first message
    referred to (its own ancestors, from before the dialog), then every message of the
    thread in order — each one's References (or In-Reply-To) before its own id, so a message
    we never stored still keeps its place — bounces left out. Trimming to the first and the
    latest ids happens when the header is written (:func:`.compose.trim_references`).
    """
    in_reply_to: str | None = None
    refs: list[str] = []
    for m in thread:
        if m.is_bounce:
            continue
        ancestors = list(m.references or []) or ([m.in_reply_to] if m.in_reply_to else [])
        refs.extend(strip_brackets(r) for r in ancestors)
        if m.email_message_id:
            refs.append(strip_brackets(m.email_message_id))
            if m.type == MessageType.FROM_CLIENT:
                in_reply_to = strip_brackets(m.email_message_id)
    if in_reply_to is None:
        ids = [m.email_message_id for m in thread if m.email_message_id and not m.is_bounce]
        in_reply_to = strip_brackets(ids[-1]) if ids else None
    unique = [r for r in dict.fromkeys(refs) if r]
    if len(unique) > MAX_REFERENCES:
        unique = unique[:1] + unique[-(MAX_REFERENCES - 1) :]
    return in_reply_to, unique


def thread_subject(session: Session, dialog: Dialog) -> str:
    """The derived subject of the dialog's next message (``""``: nothing to derive from)."""
    return derive_subject(
        (
            SubjectSource(m.type, m.subject, m.is_auto_reply, m.is_bounce)
            for m in _thread_messages(session, dialog)
        ),
        dialog_subject=dialog.subject,
    )


def check_can_send(channel: Channel) -> None:
    """Refused up front: a message on a disabled or deleted channel would never leave."""
    if channel.transport != EMAIL:
        raise Invalid(
            "This dialog is not an e-mail dialog",
            {"dialog_id": ["not e-mail"]},
            code="chat.not_email",
        )
    if channel.deleted or channel.status == ChannelStatus.DISABLED:
        raise Invalid(
            "The channel is disabled: nothing can be sent on it",
            {"channel_id": ["the channel is disabled"]},
            code="channel.disabled",
        )


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
    to: Sequence[str] | None = None,
    cc: Sequence[str] | None = None,
    bcc: Sequence[str] | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    automatic: bool = False,
) -> Message:
    """Queue an e-mail in the dialog; the sender delivers it after the delay.

    Recipients: as given, a field left out (None) takes the reply-all default
    (:mod:`.recipients`). Subject: as given, else derived from the thread
    (:mod:`.subjects`); with nothing to derive from, 422."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    channel = get_channel(session, company_id=company_id, channel_id=dialog.channel_id)
    check_can_send(channel)
    check_operator(session, company_id=company_id, operator_id=operator_id)
    text = (text or "").replace("\r\n", "\n")
    if not text.strip() and not (html or "").strip() and not attachments:
        raise Invalid("The message is empty", {"text": ["required"]}, code="message.empty")
    check_attachment_size(attachments, limit=runtime.settings.max_attachment_bytes)
    check_message_size(
        text=text,
        html=html,
        attachment_bytes=sum(len(a.data) for a in attachments),
        limit=runtime.settings.max_message_bytes,
    )
    recipients = resolve_recipients(session, dialog=dialog, to=to, cc=cc, bcc=bcc)
    check_recipients(
        [*recipients.to, *recipients.cc, *recipients.bcc],
        max_recipients=runtime.settings.max_recipients_per_message,
        field="to",
    )
    thread = _thread_messages(session, dialog)
    in_reply_to, references = thread_headers(thread)
    final_subject = " ".join((subject or "").split()) or derive_subject(
        (SubjectSource(m.type, m.subject, m.is_auto_reply, m.is_bounce) for m in thread),
        dialog_subject=dialog.subject,
    )
    if not final_subject:
        raise Invalid(
            "An e-mail needs a subject: this conversation has none to answer",
            {"subject": ["required: the conversation has no subject to derive it from"]},
        )
    # Whoever we write to takes part in the conversation: their replies thread here.
    dialog.recipients = merge_recipients(dialog.recipients or [], [*recipients.to, *recipients.cc])
    return _queue(
        session, runtime=runtime, channel=channel, dialog=dialog, operator_id=operator_id,
        text=text, html=html, subject=final_subject, recipients=recipients,
        in_reply_to=in_reply_to, references=references, attachments=attachments,
        automatic=automatic,
    )  # fmt: skip


def _queue(
    session: Session,
    *,
    runtime: Runtime,
    channel: Channel,
    dialog: Dialog,
    operator_id: int | None,
    text: str,
    html: str | None,
    subject: str,
    recipients: Recipients,
    in_reply_to: str | None,
    references: list[str],
    attachments: Sequence[OutgoingAttachment],
    automatic: bool = False,
) -> Message:
    """The outbox row of an e-mail whose every header is decided (see the module's map)."""
    client = get_scoped(session, Client, dialog.client_id, company_id=dialog.company_id)
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
        company_id=channel.company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=dialog.client_id,
        request_id=request.id if request else None,
        operator_id=operator_id,
        type=(MessageType.AUTOREPLY if automatic else MessageType.TO_CLIENT).value,
        transport=EMAIL,
        text=text,
        html=body_html or None,
        subject=subject[:1000],
        signature=signature,
        read=True,
        email_message_id=mid,
        # The same key the inbound sync computes (ingest.dedup_key_for): one row per id.
        dedup_key=f"mid:{normalise_message_id(mid)}",
        in_reply_to=in_reply_to,
        references=references,
        from_email=str(settings.get("email") or "") or None,
        from_name=str(settings.get("sender_name") or channel.name or "")[:300],
        to=recipients.to,
        cc=recipients.cc,
        bcc=recipients.bcc,
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


# --- forward -------------------------------------------------------------------------------


def forward_email(
    session: Session,
    *,
    runtime: Runtime,
    company_id: int,
    message_id: int,
    to: Sequence[str],
    note: str,
    operator_id: int | None,
    cc: Sequence[str] = (),
) -> Message:
    """Forward a stored message of an e-mail dialog (its text and attachments, under the
    operator's note) to any address. Recorded in the same dialog like any outbound message
    (the clock, interrupt); it starts a thread of its own (no In-Reply-To: the addressee
    never saw the original)."""
    original = get_message(session, company_id=company_id, message_id=message_id)
    if original.dialog_id is None or original.type == MessageType.COMMENT:
        raise Invalid("This message cannot be forwarded", {"message_id": ["not forwardable"]})
    dialog = get_dialog(session, company_id=company_id, dialog_id=original.dialog_id)
    channel = get_channel(session, company_id=company_id, channel_id=dialog.channel_id)
    check_can_send(channel)
    check_operator(session, company_id=company_id, operator_id=operator_id)
    to_list = normalise_addresses(to, field="to")
    if not to_list:
        raise Invalid("Forward to whom?", {"to": ["at least one address is needed"]})
    cc_list = [a for a in normalise_addresses(cc, field="cc") if a.lower() not in
               {t.lower() for t in to_list}]  # fmt: skip
    files = attachments_of(session, [original.id], company_id=company_id).get(original.id, [])
    attachments = [
        OutgoingAttachment(a.filename, a.content_type, runtime.blobs.get(a.blob_sha)) for a in files
    ]
    check_attachment_size(attachments, limit=runtime.settings.max_attachment_bytes)
    sender = original.from_email or str((channel.settings or {}).get("email") or "")
    header = "\n".join(
        line
        for line in (
            "---------- Forwarded message ----------",
            f"From: {original.from_name} <{sender}>" if original.from_name else f"From: {sender}",
            f"Date: {format_datetime(original.created)}",
            f"Subject: {original.subject}",
            f"To: {', '.join(original.to or [])}" if original.to else "",
            f"Cc: {', '.join(original.cc or [])}" if original.cc else "",
        )
        if line
    )
    body = original.text or (html_to_text(original.html) if original.html else "")
    text = f"{(note or '').strip()}\n\n{header}\n\n{body}".lstrip("\n")
    return _queue(
        session, runtime=runtime, channel=channel, dialog=dialog, operator_id=operator_id,
        text=text, html=None, subject=forward_subject(original.subject),
        recipients=Recipients(to=to_list, cc=cc_list), in_reply_to=None, references=[],
        attachments=attachments,
    )  # fmt: skip


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
            addresses = identities(
                session, company_id=company_id, client_id=owner.id, transport=EMAIL
            )[:1]
    if not addresses:
        raise Invalid(
            "At least one e-mail address is needed",
            {"emails": ["required"]},
            code="chat.address_required",
        )
    check_recipients(
        addresses, max_recipients=runtime.settings.max_recipients_per_message, field="emails"
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
