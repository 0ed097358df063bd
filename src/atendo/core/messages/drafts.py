"""Composer drafts: what an operator was writing in a dialog, kept on the server.

One row per (operator, dialog), written as the operator types (:func:`save_draft`), read when
the composer opens (:func:`get_draft`), dropped when the message is sent
(:func:`discard_draft`). The chosen files are stored in the blob store when chosen, so they
survive a reload too; the draft keeps their names and hashes. Transport-neutral: ``fields``
holds whatever inputs the dialog's transport adds to the composer (e-mail: ``to``, ``cc``,
``bcc``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from atendo.core.dialogs.service import get_dialog
from atendo.core.errors import Invalid
from atendo.core.messages.models import Draft
from atendo.core.messages.outgoing import OutgoingAttachment
from atendo.kit.blobs import BlobStore
from atendo.kit.clock import utcnow

MAX_DRAFT_TEXT = 100_000
MAX_DRAFT_FILES = 20


def get_draft(
    session: Session, *, company_id: int, operator_id: int, dialog_id: int
) -> Draft | None:
    return session.scalars(
        select(Draft).where(
            Draft.company_id == company_id,
            Draft.operator_id == operator_id,
            Draft.dialog_id == dialog_id,
        )
    ).first()


def save_draft(
    session: Session,
    *,
    blobs: BlobStore,
    company_id: int,
    operator_id: int,
    dialog_id: int,
    text: str,
    subject: str = "",
    fields: dict[str, list[str]] | None = None,
    new_files: Sequence[OutgoingAttachment] = (),
    drop_files: Sequence[str] = (),
    max_bytes: int | None = None,
) -> Draft:
    """Create or replace the operator's draft in the dialog (files are added or dropped)."""
    get_dialog(session, company_id=company_id, dialog_id=dialog_id)  # 404 for another's
    draft = get_draft(session, company_id=company_id, operator_id=operator_id, dialog_id=dialog_id)
    if draft is None:
        draft = Draft(company_id=company_id, operator_id=operator_id, dialog_id=dialog_id, files=[])
        session.add(draft)
    draft.text = (text or "")[:MAX_DRAFT_TEXT]
    draft.subject = (subject or "")[:1000]
    draft.fields = {k: [str(v)[:320] for v in vs][:100] for k, vs in (fields or {}).items()}
    files = [f for f in (draft.files or []) if str(f.get("sha")) not in set(drop_files)]
    for att in new_files:
        files.append(
            {
                "name": (att.filename or "attachment")[:500],
                "type": (att.content_type or "application/octet-stream")[:200],
                "size": len(att.data),
                "sha": blobs.put(att.data),
            }
        )
    if len(files) > MAX_DRAFT_FILES:
        raise Invalid("Too many files", {"files": [f"at most {MAX_DRAFT_FILES}"]})
    if max_bytes is not None and sum(int(f["size"]) for f in files) > max_bytes:
        raise Invalid("Attachments are too large", {"files": [f"at most {max_bytes} bytes"]})
    draft.files = files
    draft.updated = utcnow()
    session.flush()
    return draft


def draft_attachments(blobs: BlobStore, draft: Draft | None) -> list[OutgoingAttachment]:
    """The draft's chosen files, read back from the blob store."""
    if draft is None:
        return []
    return [
        OutgoingAttachment(str(f["name"]), str(f["type"]), blobs.get(str(f["sha"])))
        for f in draft.files or []
    ]


def discard_draft(session: Session, *, company_id: int, operator_id: int, dialog_id: int) -> None:
    session.execute(
        delete(Draft).where(
            Draft.company_id == company_id,
            Draft.operator_id == operator_id,
            Draft.dialog_id == dialog_id,
        )
    )
