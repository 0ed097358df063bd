"""Which dialog an incoming e-mail belongs to (DESIGN.md §3, "Threading").

Order of evidence:

1. ``In-Reply-To`` and every ``References`` id (RFC 5322 §3.6.4), newest first, against every
   stored Message-ID of the channel — ours (outbound) and the clients' (inbound).
2. Our own Message-ID scheme (:mod:`atendo.transports.email.message_ids`): an id we made that
   verifies is matched against our stored outbound ids in both spellings (with/without <>).
3. The merge only happens when the sender is a participant of that dialog — one of the
   client's addresses or one of the dialog's recipients. Someone else replying to the same
   Message-ID (a newsletter, a forwarded thread) gets a dialog of their own.

Otherwise the caller falls back to the sender's own dialog on the channel (or a new client).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.clients.service import identities
from atendo.core.dialogs.models import Dialog
from atendo.core.messages.models import Message
from atendo.kit.crypto import SecretBox
from atendo.kit.db import get_scoped
from atendo.transports.email.message_ids import is_our_message_id


def id_forms(mid: str) -> list[str]:
    """A Message-ID as stored by either side: bare (``a@b``) and bracketed (``<a@b>``)."""
    bare = mid.strip().strip("<>").strip()
    return [bare, f"<{bare}>"] if bare else []


def normalise_message_id(mid: str | None) -> str | None:
    if not mid:
        return None
    bare = mid.strip().strip("<>").strip().lower()
    return bare[:900] or None


def is_participant(
    session: Session,
    *,
    dialog: Dialog,
    address: str | None,
    owners: Mapping[str, int] | None = None,
) -> bool:
    """The address is one of the dialog's recipients or of its client's addresses.

    ``owners``: address → id of the client it belongs to, complete for ``address`` (a batch
    read the clients of all of its senders): the client's addresses are then not read."""
    if not address:
        return False
    address = address.strip().lower()
    if address in {a.lower() for a in (dialog.recipients or [])}:
        return True
    if owners is not None:
        return owners.get(address) == dialog.client_id
    return address in identities(
        session, company_id=dialog.company_id, client_id=dialog.client_id, transport="email"
    )


def reply_forms(in_reply_to: str | None, references: Iterable[str], box: SecretBox) -> list[str]:
    """The stored spellings of every id a mail replies to, the newest evidence first."""
    candidates: list[str] = []
    for mid in [in_reply_to, *reversed(list(references))]:
        if mid and mid not in candidates:
            candidates.append(mid)
    # Our ids first is not needed: any stored id (ours or theirs) is evidence. Our own scheme
    # only widens the spellings searched, because the sender stores ``<…>`` and parse strips.
    forms: list[str] = []
    for mid in candidates:
        forms.extend(id_forms(mid))
        if is_our_message_id(box, mid):
            forms.extend(f.lower() for f in id_forms(mid))
    return forms


EVIDENCE_CHUNK = 1000


def stored_evidence(
    session: Session, *, channel_id: int, company_id: int, forms: Collection[str]
) -> list[tuple[int, int, str]]:
    """(id, dialog id, Message-ID) of the channel's stored messages with one of ``forms``."""
    if not forms:
        return []
    # No ORDER BY in SQL: with one, SQLite walks (company_id, id) — every message of the
    # company — instead of looking the ids up in (company_id, email_message_id). In chunks:
    # a batch of mails with long References must stay far below the parameter limits
    # (PostgreSQL 65,535, SQLite 32,766).
    wanted = sorted(set(forms))
    rows: list[Any] = []
    for start in range(0, len(wanted), EVIDENCE_CHUNK):
        rows += session.execute(
            select(Message.id, Message.dialog_id, Message.email_message_id).where(
                Message.company_id == company_id,
                Message.channel_id == channel_id,
                Message.email_message_id.in_(wanted[start : start + EVIDENCE_CHUNK]),
                Message.dialog_id.is_not(None),
            )
        ).all()
    return [(i, d, mid) for i, d, mid in rows if d is not None and mid is not None]


def thread_dialog(
    session: Session,
    *,
    channel_id: int,
    company_id: int,
    in_reply_to: str | None,
    references: Iterable[str],
    sender: str | None,
    box: SecretBox,
    pending: Sequence[Message] = (),
    stored: Sequence[tuple[int, int, str]] | None = None,
    owners: Mapping[str, int] | None = None,
) -> Dialog | None:
    """The dialog this mail replies to, when the sender takes part in it; else None.

    A batch passes its messages so far as ``pending`` (newest last; searched in memory as the
    newest evidence, so it needs no flush before each lookup) and may pass ``stored``, the
    :func:`stored_evidence` it read for all of its mails before placing any of them, and
    ``owners`` (see :func:`is_participant`).
    """
    forms = reply_forms(in_reply_to, references, box)
    if not forms:
        return None
    wanted = set(forms)
    if stored is None:
        stored = stored_evidence(session, channel_id=channel_id, company_id=company_id, forms=forms)
        pending = [m for m in pending if m.id is None]  # the flushed ones were just read
    rows = [(i, d) for i, d, mid in stored if mid in wanted]
    newer = [m.dialog_id for m in reversed(pending) if m.email_message_id in wanted]
    seen: set[int] = set()
    # The batch's messages get higher ids than any stored before: the newest evidence.
    for dialog_id in [*newer, *(d for _id, d in sorted(rows, reverse=True))]:
        if dialog_id is None or dialog_id in seen:
            continue
        seen.add(dialog_id)
        dialog = get_scoped(session, Dialog, dialog_id, company_id=company_id)
        if dialog is not None and is_participant(
            session, dialog=dialog, address=sender, owners=owners
        ):
            return dialog
    return None
