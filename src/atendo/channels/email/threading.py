"""Which dialog an incoming e-mail belongs to (DESIGN.md §3, "Threading").

Order of evidence:

1. ``In-Reply-To`` and every ``References`` id (RFC 5322 §3.6.4), newest first, against every
   stored Message-ID of the channel — ours (outbound) and the clients' (inbound).
2. Our own Message-ID scheme (:mod:`atendo.channels.email.message_ids`): an id we made that
   verifies is matched against our stored outbound ids in both spellings (with/without <>).
3. The merge only happens when the sender is a participant of that dialog — one of the
   client's addresses or one of the dialog's recipients. Someone else replying to the same
   Message-ID (a newsletter, a forwarded thread) gets a dialog of their own.

Otherwise the caller falls back to the sender's own dialog on the channel (or a new client).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.channels.email.message_ids import is_our_message_id
from atendo.core.clients.service import identities
from atendo.core.dialogs.models import Dialog
from atendo.core.messages.models import Message
from atendo.kit.crypto import SecretBox


def id_forms(mid: str) -> list[str]:
    """A Message-ID as stored by either side: bare (``a@b``) and bracketed (``<a@b>``)."""
    bare = mid.strip().strip("<>").strip()
    return [bare, f"<{bare}>"] if bare else []


def normalise_message_id(mid: str | None) -> str | None:
    if not mid:
        return None
    bare = mid.strip().strip("<>").strip().lower()
    return bare[:900] or None


def is_participant(session: Session, *, dialog: Dialog, address: str | None) -> bool:
    if not address:
        return False
    address = address.strip().lower()
    if address in {a.lower() for a in (dialog.recipients or [])}:
        return True
    return address in identities(session, client_id=dialog.client_id, transport="email")


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
) -> Dialog | None:
    """The dialog this mail replies to, when the sender takes part in it; else None.

    ``pending``: messages of the caller's batch not flushed yet (newest last), searched in
    memory as the newest evidence, so a batch needs no flush before each lookup.
    """
    candidates: list[str] = []
    for mid in [in_reply_to, *reversed(list(references))]:
        if mid and mid not in candidates:
            candidates.append(mid)
    if not candidates:
        return None
    # Our ids first is not needed: any stored id (ours or theirs) is evidence. Our own scheme
    # only widens the spellings searched, because the sender stores ``<…>`` and parse strips.
    forms: list[str] = []
    for mid in candidates:
        forms.extend(id_forms(mid))
        if is_our_message_id(box, mid):
            forms.extend(f.lower() for f in id_forms(mid))
    if not forms:
        return None
    # No ORDER BY in SQL: with one, SQLite walks (company_id, id) — every message of the
    # company — instead of looking the ids up in (company_id, email_message_id).
    rows = session.execute(
        select(Message.id, Message.dialog_id).where(
            Message.company_id == company_id,
            Message.channel_id == channel_id,
            Message.email_message_id.in_(forms),
            Message.dialog_id.is_not(None),
        )
    ).all()
    wanted = set(forms)
    unflushed = [
        m.dialog_id for m in reversed(pending) if m.id is None and m.email_message_id in wanted
    ]
    seen: set[int] = set()
    # Unflushed messages get higher ids than any stored one: they are the newest evidence.
    for dialog_id in [*unflushed, *(d for _id, d in sorted(rows, reverse=True))]:
        if dialog_id is None or dialog_id in seen:
            continue
        seen.add(dialog_id)
        dialog = session.get(Dialog, dialog_id)
        if dialog is not None and is_participant(session, dialog=dialog, address=sender):
            return dialog
    return None
