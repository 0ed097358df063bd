"""Bringing one raw e-mail into Atendo: store, parse, classify, thread — once.

Invariants (DESIGN.md §3, "Ingest"):

* The raw bytes go to the blob store FIRST. The blob's name is its SHA-256, so a crash after
  the write leaves at worst an unreferenced file, never a row pointing at nothing.
* Idempotent: ``Message(channel_id, dedup_key)`` is unique; the key is the normalised
  Message-ID, or ``sha256:<hex>`` of the raw bytes when the mail has none. It is checked before
  the insert and enforced by the constraint (IntegrityError inside a savepoint = we already
  have it), so fetching the same mail twice — after a kill -9, a UIDVALIDITY change, two
  workers — stores it once.
* The caller owns the transaction (one per message) and passes the IMAP folder and UID so the
  folder's ``last_uid`` moves in the SAME transaction as the message: a crash at any instant
  either keeps both or neither.
* Never dropped: a mail that cannot be parsed is stored raw with ``parse_error`` and the text
  "could not be read"; bounces, auto-replies and blocked senders are stored and marked.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atendo.channels.email.message_ids import is_our_message_id
from atendo.channels.email.parse import ParsedMail, parse_message
from atendo.channels.email.threading import id_forms, normalise_message_id, thread_dialog
from atendo.core.channels.models import Channel, MailboxFolder
from atendo.core.clients.service import find_or_create_client, is_blocked
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import ensure_request, open_dialog, touch_dialog
from atendo.core.enums import DeliveryStatus, DialogState, EventType, MessageType
from atendo.core.events.service import emit
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import emit_message_event, record_status
from atendo.kit.blobs import BlobStore
from atendo.kit.clock import utcnow
from atendo.kit.crypto import SecretBox

log = logging.getLogger("atendo.email.ingest")

UNREADABLE = "could not be read"
# An event to emit once the message row exists (rows in the same transaction: the outbox).
_Event = Callable[[], None]


def dedup_key_for(parsed: ParsedMail, raw_sha: str) -> str:
    mid = normalise_message_id(parsed.message_id)
    return f"mid:{mid}" if mid else f"sha256:{raw_sha}"


def advance_folder(session: Session, *, folder_id: int | None, uid: int | None) -> None:
    if folder_id is None or uid is None:
        return
    session.execute(
        update(MailboxFolder)
        .where(MailboxFolder.id == folder_id, MailboxFolder.last_uid < uid)
        .values(last_uid=uid)
    )


def ingest_raw(
    session: Session,
    *,
    blobs: BlobStore,
    box: SecretBox,
    channel: Channel,
    raw: bytes,
    imported: bool = False,
    folder_id: int | None = None,
    uid: int | None = None,
) -> Message | None:
    """Store one raw mail on ``channel``; returns the new message, None for a duplicate."""
    raw_sha = blobs.put(raw)
    try:
        parsed = parse_message(raw)
    except Exception as exc:  # parse_message promises not to raise; never trust that blindly
        log.exception("parser raised on blob %s", raw_sha)
        parsed = ParsedMail(parse_error=f"{type(exc).__name__}: {exc}")
    key = dedup_key_for(parsed, raw_sha)
    advance_folder(session, folder_id=folder_id, uid=uid)
    exists = session.scalar(
        select(Message.id).where(Message.channel_id == channel.id, Message.dedup_key == key)
    )
    if exists is not None:
        return None
    if _is_our_own_copy(session, channel=channel, parsed=parsed, box=box):
        return None
    try:
        with session.begin_nested():
            message, events = _store(
                session, blobs=blobs, box=box, channel=channel, parsed=parsed,
                raw_sha=raw_sha, key=key, imported=imported,
            )  # fmt: skip
    except IntegrityError:
        return None  # a concurrent fetch stored it first: the unique key did its job
    for event in events:
        event()
    return message


def _is_our_own_copy(
    session: Session, *, channel: Channel, parsed: ParsedMail, box: SecretBox
) -> bool:
    """Mail carrying one of our Message-IDs that we already hold (our outbound, coming back)."""
    mid = parsed.message_id
    if not mid or not is_our_message_id(box, mid):
        return False
    found = session.scalar(
        select(Message.id).where(
            Message.channel_id == channel.id, Message.email_message_id.in_(id_forms(mid))
        )
    )
    return found is not None


def _store(
    session: Session,
    *,
    blobs: BlobStore,
    box: SecretBox,
    channel: Channel,
    parsed: ParsedMail,
    raw_sha: str,
    key: str,
    imported: bool,
) -> tuple[Message, list[_Event]]:
    sender = parsed.from_.email if parsed.from_ else None
    sender_name = parsed.from_.name if parsed.from_ else ""
    own_address = (channel.settings or {}).get("email", "").lower()
    ours = bool(sender and sender == own_address) or is_our_message_id(box, parsed.message_id)
    text = parsed.text
    if parsed.parse_error and not text.strip():
        text = UNREADABLE
    message = Message(
        company_id=channel.company_id,
        channel_id=channel.id,
        type=MessageType.FROM_CLIENT.value,
        transport="email",
        text=text,
        quoted_text=parsed.quoted_text,
        html=parsed.html,
        subject=parsed.subject[:1000],
        imported=imported,
        is_auto_reply=parsed.is_auto_reply,
        is_bounce=parsed.is_bounce,
        email_message_id=(parsed.message_id or None) and parsed.message_id[:998],
        in_reply_to=parsed.in_reply_to and parsed.in_reply_to[:998],
        references=list(parsed.references),
        from_email=sender and sender[:320],
        from_name=sender_name[:300],
        to=[a.email for a in parsed.to],
        cc=[a.email for a in parsed.cc],
        dedup_key=key,
        raw_sha=raw_sha,
        parse_error=parsed.parse_error,
        created=utcnow(),
    )
    events: list[_Event] = []
    dialog: Dialog | None = None
    if ours:
        # Our own mail (a copy sent to ourselves, a loop): kept for the record, never a client.
        message.hidden = True
    elif parsed.is_bounce:
        dialog = _link_bounce(session, channel=channel, parsed=parsed, events=events)
        if dialog is None:
            message.hidden = True
    elif sender:
        dialog = thread_dialog(
            session,
            channel_id=channel.id,
            company_id=channel.company_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            sender=sender,
            box=box,
        )
        if dialog is None:
            client, _new = find_or_create_client(
                session,
                company_id=channel.company_id,
                transport="email",
                address=sender,
                name=sender_name,
            )
            dialog = open_dialog(
                session,
                company_id=channel.company_id,
                client_id=client.id,
                channel_id=channel.id,
                recipients=[sender],
                subject=parsed.subject[:1000],
            )
        elif dialog.state != DialogState.OPEN:
            dialog.state = DialogState.OPEN.value
            dialog.begin = utcnow()
            dialog.end = None
        if is_blocked(
            session, company_id=channel.company_id, address=sender, client_id=dialog.client_id
        ):
            message.hidden = True
    if dialog is not None:
        message.dialog_id = dialog.id
        message.client_id = dialog.client_id
        request, new_request = ensure_request(session, dialog=dialog)
        message.request_id = request.id
    else:
        new_request = False
    session.add(message)
    session.flush()
    for att in parsed.attachments:
        session.add(
            Attachment(
                company_id=channel.company_id,
                message_id=message.id,
                filename=(att.filename or "attachment")[:500],
                content_type=(att.content_type or "application/octet-stream")[:200],
                size=len(att.data),
                blob_sha=blobs.put(att.data),
                content_id=att.content_id and att.content_id[:500],
                inline=att.inline,
            )
        )
    if dialog is not None:
        touch_dialog(session, dialog=dialog, message=message)
    session.flush()
    if not message.hidden and not imported and dialog is not None:
        # Events are rows in the same transaction (the outbox): delivered only after commit.
        def _inbox() -> None:
            emit_message_event(
                session,
                message=message,
                type=EventType.INBOX,
                extra={"is_new_request": new_request},
            )
            if new_request:
                emit(
                    session,
                    company_id=channel.company_id,
                    type=EventType.NEW_REQUEST,
                    payload={
                        "request_id": message.request_id,
                        "dialog_id": message.dialog_id,
                        "client_id": message.client_id,
                        "channel_id": channel.id,
                    },
                    channel_id=channel.id,
                    dialog_id=message.dialog_id,
                )
            session.flush()

        events.append(_inbox)
    return message, events


def _link_bounce(
    session: Session, *, channel: Channel, parsed: ParsedMail, events: list[_Event]
) -> Dialog | None:
    """Mark the outbound message a DSN reports as ``bounced``; its dialog holds the bounce."""
    mid = parsed.bounce_original_message_id
    if not mid:
        return None
    original = session.scalar(
        select(Message)
        .where(
            Message.channel_id == channel.id,
            Message.email_message_id.in_(id_forms(mid)),
            Message.type.in_([MessageType.TO_CLIENT.value, MessageType.AUTOREPLY.value]),
        )
        .limit(1)
    )
    if original is None:
        return None
    reason = parsed.bounce_reason or "the message bounced"
    original.delivery_status = DeliveryStatus.BOUNCED.value
    original.error = reason
    record_status(session, message=original, status=DeliveryStatus.BOUNCED.value, detail=reason)
    session.flush()
    emit_message_event(session, message=original, type=EventType.OUTBOX_STATUS)
    return session.get(Dialog, original.dialog_id) if original.dialog_id else None


def raw_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
