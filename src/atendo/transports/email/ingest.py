"""Bringing raw e-mail into Atendo: store, parse, classify, thread — once.

Invariants (DESIGN.md §3, "Ingest"):

* The raw bytes go to the blob store FIRST (:func:`prepare`), then the mail is parsed. The
  blob's name is its SHA-256, so a crash after the write leaves at worst an unreferenced file,
  never a row pointing at nothing; every blob is fsync-ed before the commit that refers to it.
* Idempotent: ``Message(channel_id, dedup_key)`` is unique; the key is the normalised
  Message-ID, or ``sha256:<hex>`` of the raw bytes when the mail has none. It is checked before
  the insert and enforced by the constraint, so fetching the same mail twice — after a kill -9,
  a UIDVALIDITY change, two workers — stores it once.
* The caller owns the transaction and passes the IMAP folder (and UIDs) so the folder's
  ``last_uid`` moves in the SAME transaction as the messages: a crash at any instant keeps both
  or neither.
* Never dropped: a mail that cannot be parsed is stored raw with ``parse_error`` and the text
  "could not be read"; bounces, auto-replies and blocked senders are stored and marked.

Two ways in, same rules:

* :func:`ingest_raw` — one mail, with a savepoint: a concurrent insert of the same key (the
  IntegrityError) is "already have it", never an error for the caller's transaction.
* :func:`ingest_batch` — many prepared mails in one transaction (the mailbox sync): the
  per-channel lookups (existing keys, the senders' clients, their dialogs and open requests,
  the block list) are read once for the batch; the clients, dialogs and requests of the new
  senders whose mail replies to nothing are created together before the mails are placed;
  the messages, then their attachments and dialog updates, are flushed once each (PostgreSQL
  sends a table's rows as one INSERT … RETURNING), and its events are written together. It
  has no savepoints: any error rolls the whole batch back and the caller retries the mails
  one by one (:func:`ingest_prepared`), so one bad mail never holds up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel, MailboxFolder
from atendo.core.clients.models import BlockEntry, Client, ClientIdentity
from atendo.core.clients.service import (
    create_clients,
    find_by_identity,
    find_or_create_client,
    is_blocked,
)
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.dialogs.service import (
    current_request,
    ensure_request,
    merge_recipients,
    new_dialog,
    new_request,
    open_dialog,
    touch_dialog,
)
from atendo.core.enums import DialogState, EventType, HiddenReason, MessageType
from atendo.core.events.service import emit_rows, event_row
from atendo.core.messages.inbound import Arrival, announce_arrivals
from atendo.core.messages.limits import too_large
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outbox import mark_bounced
from atendo.kit.blobs import BlobStore
from atendo.kit.clock import utcnow
from atendo.kit.crypto import SecretBox
from atendo.kit.db import flush_new, get_scoped
from atendo.settings import get_settings
from atendo.transports.email.bounds import UNKNOWN_SENDER, bound_for_columns, headers_only
from atendo.transports.email.message_ids import is_our_message_id
from atendo.transports.email.parse import ParsedMail, parse_message
from atendo.transports.email.threading import (
    EVIDENCE_CHUNK,
    id_forms,
    normalise_message_id,
    reply_forms,
    stored_evidence,
    thread_dialog,
)

log = logging.getLogger("atendo.email.ingest")

UNREADABLE = "could not be read"
EMAIL = "email"


def dedup_key_for(parsed: ParsedMail, raw_sha: str) -> str:
    mid = normalise_message_id(parsed.message_id)
    return f"mid:{mid}" if mid else f"sha256:{raw_sha}"


@dataclass(slots=True)
class Incoming:
    """One mail with its bytes in the blob store, parsed, ready to be committed."""

    raw_sha: str
    parsed: ParsedMail
    key: str
    attachment_shas: list[str]
    attachment_sizes: list[int]
    uid: int | None = None

    def for_commit(self) -> Incoming:
        """Only what committing reads, before crossing processes (the parent unpickles it):
        the attachments' bytes are in the blob store, and the whole plain text and the raw
        headers are read by nothing after parsing."""
        for att in self.parsed.attachments:
            att.data = b""
        self.parsed.full_text = ""
        self.parsed.headers = {}
        return self

    @property
    def blob_shas(self) -> list[str]:
        return [self.raw_sha, *self.attachment_shas]


def prepare(
    blobs: BlobStore,
    raw: bytes,
    *,
    uid: int | None = None,
    sync: bool = True,
    max_bytes: int | None = None,
) -> Incoming:
    """Store the raw bytes, then parse and store the attachments (no database work).

    With ``sync=False`` the caller must ``blobs.sync(incoming.blob_shas)`` before committing.
    A mail over ``max_bytes`` (default: ``ATENDO_MAX_MESSAGE_BYTES``) is kept raw and read for
    its headers only (:func:`~atendo.transports.email.bounds.headers_only`).
    """
    raw_sha = blobs.put(raw, sync=sync)
    limit = get_settings().max_message_bytes if max_bytes is None else max_bytes
    try:
        parsed = headers_only(raw, limit=limit) if len(raw) > limit else parse_message(raw)
    except Exception as exc:  # parse_message promises not to raise; never trust that blindly
        log.exception("parser raised on blob %s", raw_sha)
        parsed = ParsedMail(parse_error=f"{type(exc).__name__}: {exc}")
    bound_for_columns(parsed)  # the same rows on SQLite and PostgreSQL (see bounds.py)
    shas = [blobs.put(att.data, sync=sync) for att in parsed.attachments]
    sizes = [len(att.data) for att in parsed.attachments]
    return Incoming(raw_sha, parsed, dedup_key_for(parsed, raw_sha), shas, sizes, uid)


def advance_folder(session: Session, *, folder_id: int | None, uid: int | None) -> None:
    if folder_id is None or uid is None:
        return
    session.execute(
        update(MailboxFolder)
        .where(MailboxFolder.id == folder_id, MailboxFolder.last_uid < uid)
        .values(last_uid=uid)
    )


class _Owners(Mapping[str, int]):
    """Address → client id, read through to an address → client dict."""

    __slots__ = ("_clients",)

    def __init__(self, clients: dict[str, Client]) -> None:
        self._clients = clients

    def __getitem__(self, address: str) -> int:
        return self._clients[address].id

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)


@dataclass
class _Lookups:
    """Per-transaction memory of the channel's rows, so a batch reads each of them once.

    Only ever filled from the same transaction that uses it, and thrown away with it.
    """

    known_keys: set[str] = field(default_factory=set)
    clients: dict[str, Client] = field(default_factory=dict)  # address → client
    dialogs: dict[int, Dialog] = field(default_factory=dict)  # client id → its dialog here
    requests: dict[int, Request] = field(default_factory=dict)  # dialog id → open request
    blocks: list[BlockEntry] | None = None  # None: not loaded, ask is_blocked per mail
    # A batch (ingest_batch): nothing is flushed between mails, new clients skip the lookup
    # and the savepoint (the batch read their identities), their events wait in ``events``.
    batch: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    unclaimed: set[int] = field(default_factory=set)  # ids of requests created, owed an event
    evidence: list[tuple[int, int, str]] | None = None  # stored_evidence for the whole batch
    held: list[Dialog] = field(default_factory=list)  # the dialogs it names, kept in session

    def owners(self) -> Mapping[str, int]:
        """Address → client id for every sender of the batch: the clients it read for all
        of them (a sender it did not find has no client, until one is made and added).
        A view of ``clients``, not a copy: asked for every mail of a batch, it costs nothing
        however many clients the batch has met."""
        return _Owners(self.clients)

    def blocked(self, address: str | None, client_id: int | None) -> bool:
        assert self.blocks is not None
        address = (address or "").strip().lower()
        domain = address.rpartition("@")[2]
        for entry in self.blocks:
            if entry.kind == "client" and client_id is not None and entry.client_id == client_id:
                return True
            if entry.kind == "email" and address and entry.value == address:
                return True
            if entry.kind == "domain" and domain and entry.value == domain:
                return True
        return False


def _load_lookups(session: Session, *, channel: Channel, items: Sequence[Incoming]) -> _Lookups:
    lookups = _Lookups()
    keys = [item.key for item in items]
    found = session.scalars(
        select(Message.dedup_key).where(
            Message.company_id == channel.company_id,
            Message.channel_id == channel.id,
            Message.dedup_key.in_(keys),
        )
    )
    lookups.known_keys.update(key for key in found if key)
    senders = {item.parsed.from_.email for item in items if item.parsed.from_}
    senders.discard("")
    if senders:
        rows = session.execute(
            select(ClientIdentity.address, Client)
            .join(Client, Client.id == ClientIdentity.client_id)
            .where(
                Client.company_id == channel.company_id,
                ClientIdentity.company_id == channel.company_id,
                ClientIdentity.transport == EMAIL,
                ClientIdentity.address.in_(senders),
            )
        ).all()
        lookups.clients.update((address, client) for address, client in rows)
    _load_open_dialogs(session, channel=channel, lookups=lookups)
    values = senders | {s.rpartition("@")[2] for s in senders}
    now = utcnow()
    lookups.blocks = list(
        session.scalars(
            select(BlockEntry).where(
                BlockEntry.company_id == channel.company_id,
                or_(BlockEntry.kind == "client", BlockEntry.value.in_(values)),
                or_(BlockEntry.expires_at.is_(None), BlockEntry.expires_at > now),
            )
        )
    )
    return lookups


def _load_open_dialogs(session: Session, *, channel: Channel, lookups: _Lookups) -> None:
    """The known senders' open dialogs on the channel and their open requests."""
    client_ids = {client.id for client in lookups.clients.values()}
    if not client_ids:
        return
    # (company_id, client_id, channel_id) is the index for this: all three are equalities.
    # No ORDER BY in SQL: with one, SQLite would rather walk (company_id, last_message_at).
    dialogs = session.scalars(
        select(Dialog).where(
            Dialog.company_id == channel.company_id,
            Dialog.channel_id == channel.id,
            Dialog.client_id.in_(client_ids),
            Dialog.state == DialogState.OPEN.value,
        )
    )
    for dialog in sorted(dialogs, key=lambda d: d.id):  # the latest open one wins (find_dialog)
        lookups.dialogs[dialog.client_id] = dialog
    dialog_ids = [dialog.id for dialog in lookups.dialogs.values()]
    if not dialog_ids:
        return
    requests = session.scalars(
        select(Request).where(
            Request.company_id == channel.company_id,
            Request.dialog_id.in_(dialog_ids),
            Request.state == DialogState.OPEN.value,
        )
    )
    for request in sorted(requests, key=lambda r: r.id):  # the latest open one wins
        lookups.requests[request.dialog_id] = request


def _load_dialogs(session: Session, *, channel: Channel, ids: set[int]) -> list[Dialog]:
    """The dialogs the batch's replies may thread into, read with one query into the
    session (threading then finds them there instead of reading them one by one). The
    caller keeps the list: the session holds its rows only as long as someone does."""
    found = [d for d in session.identity_map.values() if isinstance(d, Dialog) and d.id in ids]
    wanted = sorted(ids - {d.id for d in found})
    for start in range(0, len(wanted), EVIDENCE_CHUNK):
        found += session.scalars(
            select(Dialog).where(
                Dialog.company_id == channel.company_id,
                Dialog.id.in_(wanted[start : start + EVIDENCE_CHUNK]),
            )
        )
    return found


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
    max_bytes: int | None = None,
) -> Message | None:
    """Store one raw mail on ``channel``; returns the new message, None for a duplicate."""
    incoming = prepare(blobs, raw, uid=uid, max_bytes=max_bytes)
    return ingest_prepared(
        session, box=box, channel=channel, incoming=incoming, imported=imported,
        folder_id=folder_id,
    )  # fmt: skip


def ingest_prepared(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    incoming: Incoming,
    imported: bool = False,
    folder_id: int | None = None,
) -> Message | None:
    """One prepared mail, inside a savepoint; None when it is a duplicate or our own copy."""
    advance_folder(session, folder_id=folder_id, uid=incoming.uid)
    exists = session.scalar(
        select(Message.id).where(
            Message.company_id == channel.company_id,
            Message.channel_id == channel.id,
            Message.dedup_key == incoming.key,
        )
    )
    if exists is not None or _is_our_own_copy(session, channel=channel, incoming=incoming, box=box):
        return None
    try:
        with session.begin_nested():
            message, inbox = _store(
                session, box=box, channel=channel, incoming=incoming, imported=imported,
                lookups=_Lookups(),
            )  # fmt: skip
    except IntegrityError:
        return None  # a concurrent fetch stored it first: the unique key did its job
    announce_arrivals(session, [inbox] if inbox else [])
    return message


def ingest_batch(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    items: Sequence[Incoming],
    imported: bool = False,
    folder_id: int | None = None,
) -> list[Message]:
    """Many prepared mails in the caller's transaction; the new messages, in order.

    Raises on any error (a race on the unique key included): the caller rolls back and goes
    one by one with :func:`ingest_prepared`.
    """
    lookups = _load_lookups(session, channel=channel, items=items)
    lookups.batch = True
    fresh: list[Incoming] = []
    for incoming in items:
        if incoming.key not in lookups.known_keys:
            lookups.known_keys.add(incoming.key)
            fresh.append(incoming)
    forms = {
        form
        for item in fresh
        for form in reply_forms(item.parsed.in_reply_to, item.parsed.references, box)
    }
    lookups.evidence = stored_evidence(
        session, channel_id=channel.id, company_id=channel.company_id, forms=forms
    )
    lookups.held = _load_dialogs(
        session, channel=channel, ids={d for _id, d, _mid in lookups.evidence}
    )
    stored: list[Message] = []
    placed: list[tuple[Message, Dialog | None, bool, Incoming]] = []
    # Lookups below see the batch's unflushed messages in memory (thread_dialog's pending).
    with session.no_autoflush:
        _open_for_new_senders(session, box=box, channel=channel, items=fresh, lookups=lookups)
        for incoming in fresh:
            if _is_our_own_copy(
                session, channel=channel, incoming=incoming, box=box, pending=stored
            ):
                continue
            message, dialog, created = _place(
                session, box=box, channel=channel, incoming=incoming, lookups=lookups,
                imported=imported, pending=stored,
            )  # fmt: skip
            session.add(message)
            stored.append(message)
            placed.append((message, dialog, created, incoming))
    flush_new(session)
    owed: list[Arrival] = []
    for message, dialog, created, incoming in placed:
        inbox = _finish(
            session, channel=channel, message=message, dialog=dialog, new_request=created,
            incoming=incoming, imported=imported, flush=False,
        )  # fmt: skip
        if inbox is not None:
            owed.append(inbox)
    flush_new(session)
    announce_arrivals(session, owed, first=lookups.events)
    uids = [item.uid for item in items if item.uid is not None]
    advance_folder(session, folder_id=folder_id, uid=max(uids, default=None))
    return stored


def _is_our_own_copy(
    session: Session,
    *,
    channel: Channel,
    incoming: Incoming,
    box: SecretBox,
    pending: Sequence[Message] = (),
) -> bool:
    """Mail carrying one of our Message-IDs that we already hold (our outbound, coming back)."""
    mid = incoming.parsed.message_id
    if not mid or not is_our_message_id(box, mid):
        return False
    forms = id_forms(mid)
    if any(m.id is None and m.email_message_id in forms for m in pending):
        return True
    found = session.scalar(
        select(Message.id).where(
            Message.company_id == channel.company_id,  # lets SQLite use (company_id, mid)
            Message.channel_id == channel.id,
            Message.email_message_id.in_(id_forms(mid)),
        )
    )
    return found is not None


def _new_message(channel: Channel, incoming: Incoming, *, imported: bool) -> Message:
    parsed = incoming.parsed
    sender = parsed.from_.email if parsed.from_ else None
    text = parsed.text
    nothing = not text.strip() and not parsed.html and not parsed.attachments
    if (
        nothing
        and (parsed.parse_error or sender == UNKNOWN_SENDER)
        and not too_large(parsed.parse_error)
    ):
        text = UNREADABLE  # an empty mail of nobody: shown as unreadable, never blank
    return Message(
        company_id=channel.company_id,
        channel_id=channel.id,
        type=MessageType.FROM_CLIENT.value,
        transport=EMAIL,
        text=text,
        quoted_text=parsed.quoted_text,
        signature=parsed.signature,  # the client's, kept apart from the new text
        html=parsed.html,
        subject=parsed.subject[:1000],
        imported=imported,
        is_auto_reply=parsed.is_auto_reply,
        is_bounce=parsed.is_bounce,
        # RFC 3834 §2: no automatic answer to bulk or list mail (auto-replies and bounces
        # are already marked as such).
        no_autoreply=parsed.is_bulk,
        email_message_id=(parsed.message_id or None) and parsed.message_id[:998],
        in_reply_to=parsed.in_reply_to and parsed.in_reply_to[:998],
        references=list(parsed.references),
        from_email=sender and sender[:320],
        from_name=(parsed.from_.name if parsed.from_ else "")[:300],
        to=[a.email for a in parsed.to],
        cc=[a.email for a in parsed.cc],
        reply_to=[a.email for a in parsed.reply_to if a.email],
        bcc=[],  # given (it has a server default): the batch's rows then need nothing back
        dedup_key=incoming.key,
        raw_sha=incoming.raw_sha,
        parse_error=parsed.parse_error,
        created=utcnow(),
    )


def _store(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    incoming: Incoming,
    imported: bool,
    lookups: _Lookups,
) -> tuple[Message, Arrival | None]:
    message, dialog, created = _place(
        session, box=box, channel=channel, incoming=incoming, lookups=lookups, imported=imported
    )
    session.add(message)
    session.flush()
    inbox = _finish(
        session, channel=channel, message=message, dialog=dialog, new_request=created,
        incoming=incoming, imported=imported, flush=True,
    )  # fmt: skip
    return message, inbox


def _is_ours(channel: Channel, box: SecretBox, parsed: ParsedMail, sender: str | None) -> bool:
    """Our own mail (a copy sent to ourselves, a loop): kept for the record, never a client."""
    own_address = (channel.settings or {}).get("email", "").lower()
    return bool(sender and sender == own_address) or is_our_message_id(box, parsed.message_id)


def _place(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    incoming: Incoming,
    lookups: _Lookups,
    imported: bool = False,
    pending: Sequence[Message] = (),
) -> tuple[Message, Dialog | None, bool]:
    """The new message (not added yet), its dialog and whether its request is new."""
    parsed = incoming.parsed
    message = _new_message(channel, incoming, imported=imported)
    sender = message.from_email
    dialog: Dialog | None = None
    bounce = False
    if _is_ours(channel, box, parsed, sender):
        # Our own mail (a copy sent to ourselves, a loop): kept for the record, never a client.
        _hide(message, HiddenReason.OWN)
    elif parsed.is_bounce:
        # A bounce goes to the dialog of the message it reports, else to the dialog of the
        # recipient it names; it never opens a request (nor triggers what a new one would).
        bounce = True
        dialog = _link_bounce(session, channel=channel, parsed=parsed)
        if dialog is None:
            dialog = _bounce_dialog(session, channel=channel, parsed=parsed, lookups=lookups)
        if dialog is None:
            _hide(message, HiddenReason.BOUNCE)
    elif sender:
        dialog = _client_dialog(
            session, box=box, channel=channel, parsed=parsed, lookups=lookups, pending=pending
        )
        if _blocked(session, channel=channel, lookups=lookups, sender=sender, dialog=dialog):
            _hide(message, HiddenReason.BLOCKED)
        else:
            _add_participants(channel, dialog, parsed)
    else:
        _hide(message, HiddenReason.NO_SENDER)
    created = False
    if dialog is not None:
        message.dialog_id = dialog.id
        message.client_id = dialog.client_id
        if bounce:
            request = lookups.requests.get(dialog.id) or current_request(session, dialog=dialog)
            message.request_id = request.id if request and request.state == "open" else None
        else:
            request, created = _open_request(session, dialog=dialog, lookups=lookups)
            message.request_id = request.id
    return message, dialog, created


def _finish(
    session: Session,
    *,
    channel: Channel,
    message: Message,
    dialog: Dialog | None,
    new_request: bool,
    incoming: Incoming,
    imported: bool,
    flush: bool,
) -> Arrival | None:
    """A flushed message's attachments and dialog; the ``inbox`` event it owes, if any."""
    parsed = incoming.parsed
    files = zip(
        parsed.attachments, incoming.attachment_shas, incoming.attachment_sizes, strict=True
    )
    attachments = [
        Attachment(
            company_id=channel.company_id,
            message_id=message.id,
            filename=(att.filename or "attachment")[:500],
            content_type=(att.content_type or "application/octet-stream")[:200],
            size=size,
            blob_sha=sha,
            content_id=att.content_id and att.content_id[:500],
            inline=att.inline,
        )
        for att, sha, size in files
    ]
    session.add_all(attachments)
    if dialog is not None:  # flushes the attachments too, unless the batch flushes once
        touch_dialog(session, dialog=dialog, message=message, flush=flush)
    if message.hidden or message.is_bounce or imported or dialog is None:
        return None  # a bounce is shown in its dialog, but announces nothing (no automation)
    return Arrival(message, new_request, attachments)


def _open_for_new_senders(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    items: Sequence[Incoming],
    lookups: _Lookups,
) -> None:
    """Clients, dialogs and requests for the batch's unknown senders whose first mail replies
    to nothing (so no thread can claim it), created together: a few INSERTs for all of them.
    A sender whose first mail is a reply is left to :func:`_client_dialog`, as one by one."""
    first: dict[str, ParsedMail | None] = {}  # sender → their first mail, None: a reply
    for item in items:
        parsed = item.parsed
        sender = parsed.from_.email if parsed.from_ else ""
        if (
            not sender
            or sender in lookups.clients
            or sender in first
            or parsed.is_bounce
            or _is_ours(channel, box, parsed, sender[:320])
        ):
            continue
        replies = bool(parsed.in_reply_to or any(parsed.references))
        first[sender] = None if replies else parsed
    mails = {sender: parsed for sender, parsed in first.items() if parsed is not None}
    _open_for_clients(session, channel=channel, lookups=lookups, mails=mails)


def _open_for_clients(
    session: Session, *, channel: Channel, lookups: _Lookups, mails: dict[str, ParsedMail]
) -> None:
    """New clients (sender → their first mail), each with an open dialog and request."""
    if not mails:
        return
    named = [
        (sender, parsed.from_.name if parsed.from_ else "") for sender, parsed in mails.items()
    ]
    clients, payloads = create_clients(
        session, company_id=channel.company_id, transport=EMAIL, named=named
    )
    lookups.events.extend(
        event_row(company_id=channel.company_id, type=EventType.NEW_CLIENT, payload=payload)
        for payload in payloads
    )
    dialogs = [
        new_dialog(channel.company_id, client.id, channel.id, [sender], parsed.subject[:1000])
        for client, (sender, parsed) in zip(clients, mails.items(), strict=True)
    ]
    session.add_all(dialogs)
    flush_new(session)
    requests = [new_request(dialog) for dialog in dialogs]
    session.add_all(requests)
    flush_new(session)
    for client, dialog, request, sender in zip(clients, dialogs, requests, mails, strict=True):
        lookups.clients[sender] = client
        lookups.dialogs[client.id] = dialog
        lookups.requests[dialog.id] = request
        lookups.unclaimed.add(request.id)


def _client_dialog(
    session: Session,
    *,
    box: SecretBox,
    channel: Channel,
    parsed: ParsedMail,
    lookups: _Lookups,
    pending: Sequence[Message] = (),
) -> Dialog:
    """The dialog a client's mail belongs to: the thread it replies to, else the client's own."""
    assert parsed.from_ is not None
    sender, name = parsed.from_.email, parsed.from_.name
    dialog = thread_dialog(
        session,
        channel_id=channel.id,
        company_id=channel.company_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        sender=sender,
        box=box,
        pending=pending,
        stored=lookups.evidence,
        owners=lookups.owners() if lookups.batch else None,
    )
    if dialog is not None:
        if dialog.state != DialogState.OPEN:
            dialog.state = DialogState.OPEN.value
            dialog.begin = utcnow()
            dialog.end = None
        return dialog
    client = lookups.clients.get(sender)
    if client is None and lookups.batch:
        _open_for_clients(session, channel=channel, lookups=lookups, mails={sender: parsed})
        return lookups.dialogs[lookups.clients[sender].id]
    if client is None:
        client, _new = find_or_create_client(
            session, company_id=channel.company_id, transport=EMAIL, address=sender, name=name
        )
        lookups.clients[sender] = client
    elif name and not client.name:
        client.name = name
    dialog = lookups.dialogs.get(client.id)
    if dialog is None or dialog.state != DialogState.OPEN:
        session.flush()  # open_dialog's lookup must see the batch's reopened dialogs
        dialog = open_dialog(
            session,
            company_id=channel.company_id,
            client_id=client.id,
            channel_id=channel.id,
            recipients=[sender],
            subject=parsed.subject[:1000],
        )
        lookups.dialogs[client.id] = dialog
    elif sender not in {address.lower() for address in dialog.recipients or []}:
        dialog.recipients = merge_recipients(dialog.recipients or [], [sender])  # as open_dialog
    return dialog


def _blocked(
    session: Session, *, channel: Channel, lookups: _Lookups, sender: str, dialog: Dialog
) -> bool:
    if lookups.blocks is not None:
        return lookups.blocked(sender, dialog.client_id)
    return is_blocked(
        session, company_id=channel.company_id, address=sender, client_id=dialog.client_id
    )


def _open_request(session: Session, *, dialog: Dialog, lookups: _Lookups) -> tuple[Request, bool]:
    request = lookups.requests.get(dialog.id)
    if request is not None and request.state == DialogState.OPEN:
        if request.id in lookups.unclaimed:  # created for this mail by _open_for_clients
            lookups.unclaimed.discard(request.id)
            return request, True
        return request, False
    request, created = ensure_request(session, dialog=dialog)
    lookups.requests[dialog.id] = request
    return request, created


def _link_bounce(session: Session, *, channel: Channel, parsed: ParsedMail) -> Dialog | None:
    """Mark the outbound message a DSN reports as ``bounced``; its dialog holds the bounce."""
    mid = parsed.bounce_original_message_id
    if not mid:
        return None
    original = session.scalar(
        select(Message)
        .where(
            Message.company_id == channel.company_id,  # lets SQLite use (company_id, mid)
            Message.channel_id == channel.id,
            Message.email_message_id.in_(id_forms(mid)),
            Message.type.in_([MessageType.TO_CLIENT.value, MessageType.AUTOREPLY.value]),
        )
        .limit(1)
    )
    if original is None:
        return None
    mark_bounced(session, message=original, reason=parsed.bounce_reason or "the message bounced")
    if original.dialog_id is None:
        return None
    return get_scoped(session, Dialog, original.dialog_id, company_id=original.company_id)


def _hide(message: Message, reason: HiddenReason) -> None:
    message.hidden = True
    message.hidden_reason = reason.value


def _own_addresses(channel: Channel) -> set[str]:
    settings = channel.settings or {}
    return {
        str(settings.get(key) or "").strip().lower()
        for key in ("email", "reply_to")
        if settings.get(key)
    }


def _add_participants(channel: Channel, dialog: Dialog, parsed: ParsedMail) -> None:
    """The client's To and Cc (minus our own addresses) take part in the dialog: their
    replies thread here, and the operator's reply-all writes to them; they get no dialog of
    their own."""
    own = _own_addresses(channel)
    others = [a.email for a in (*parsed.to, *parsed.cc) if a.email and a.email.lower() not in own]
    if others:
        merged = merge_recipients(dialog.recipients or [], others)
        if merged != (dialog.recipients or []):
            dialog.recipients = merged


def _bounce_dialog(
    session: Session, *, channel: Channel, parsed: ParsedMail, lookups: _Lookups
) -> Dialog | None:
    """The dialog of the first recipient a bounce names (DSN ``Final-Recipient`` /
    ``Original-Recipient``, ``X-Failed-Recipients``, the text's ``RCPT TO``), for a bounce
    of mail we hold no record of: the client's latest dialog on the channel, whatever its
    state, else a new one with no request; the client is created when unknown."""
    own = _own_addresses(channel)
    for raw in parsed.bounce_recipients:
        address = raw.strip().lower()[:320]
        if not address or "@" not in address or address in own:
            continue
        client = lookups.clients.get(address) or find_by_identity(
            session, company_id=channel.company_id, transport=EMAIL, address=address
        )
        if client is None:
            (client,), payloads = create_clients(
                session, company_id=channel.company_id, transport=EMAIL, named=[(address, "")]
            )
            lookups.events.extend(
                event_row(company_id=channel.company_id, type=EventType.NEW_CLIENT, payload=p)
                for p in payloads
            )
            if not lookups.batch:  # a batch writes its events with its arrivals
                emit_rows(session, lookups.events)
                lookups.events.clear()
            lookups.clients[address] = client
        dialog = (
            lookups.dialogs.get(client.id)
            or session.scalars(
                select(Dialog)
                .where(
                    Dialog.company_id == channel.company_id,
                    Dialog.channel_id == channel.id,
                    Dialog.client_id == client.id,
                )
                .order_by(Dialog.id.desc())
                .limit(1)
            ).first()
        )
        if dialog is None:
            dialog = new_dialog(channel.company_id, client.id, channel.id, [address], "")
            session.add(dialog)
            session.flush()
        return dialog
    return None
