"""Bulk work on chats: one action over many dialogs, each through the same named function a
single dialog uses (so events, webhooks and the audit are the same), one audit entry per
dialog. The edge owns the transaction: a bulk action commits as one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.companies.service import record_audit
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.dialogs.service import (
    assign_dialog,
    close_dialog,
    current_request,
    get_dialog,
    mark_dialog_read,
)
from atendo.core.errors import Invalid
from atendo.core.tags.service import assign_tags, get_tag

MAX_BULK = 5000
KINDS = ("close", "read", "assign", "tag")


@dataclass(frozen=True)
class BulkAction:
    kind: str  # close | read | assign | tag
    operator_id: int | None = None  # assign: the operator (None with no group: unassign)
    group_id: int | None = None  # assign: the group
    tag_id: int | None = None  # tag: added to the dialog's request (else to its client)

    def describe(self) -> str:
        if self.kind == "assign":
            if self.operator_id is not None:
                return f"assigned to operator {self.operator_id}"
            if self.group_id is not None:
                return f"transferred to group {self.group_id}"
            return "unassigned"
        if self.kind == "tag":
            return f"tagged {self.tag_id}"
        return {"close": "closed", "read": "marked read"}[self.kind]


def apply_bulk(
    session: Session,
    *,
    company_id: int,
    dialog_ids: list[int],
    action: BulkAction,
    actor: str,
) -> int:
    """Apply ``action`` to every dialog (all of this company, or NotFound and nothing
    changes); returns how many dialogs it touched."""
    if action.kind not in KINDS:
        raise Invalid("Unknown bulk action", {"action": ["unknown"]}, code="invalid")
    ids = list(dict.fromkeys(dialog_ids))
    if not ids:
        raise Invalid("Select at least one dialog", {"dialog_ids": ["required"]}, code="bulk.empty")
    if len(ids) > MAX_BULK:
        raise Invalid(
            f"At most {MAX_BULK} dialogs at once",
            {"dialog_ids": [f"at most {MAX_BULK}"]},
            code="bulk.too_many",
            params={"limit": MAX_BULK},
        )
    if action.kind == "tag":
        if action.tag_id is None:
            raise Invalid("tag_id is required", {"tag_id": ["required"]}, code="invalid")
        get_tag(session, company_id=company_id, tag_id=action.tag_id)
    for dialog_id in ids:
        dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
        if action.kind == "close":
            close_dialog(session, company_id=company_id, dialog_id=dialog.id)
        elif action.kind == "read":
            mark_dialog_read(session, company_id=company_id, dialog_id=dialog.id)
        elif action.kind == "assign":
            assign_dialog(
                session,
                company_id=company_id,
                dialog_id=dialog.id,
                operator_id=action.operator_id,
                group_id=action.group_id,
            )
        else:
            _tag(session, company_id, dialog, action.tag_id or 0)
        record_audit(
            session,
            company_id=company_id,
            actor=actor,
            action=f"dialog {dialog.id} {action.describe()} (bulk)",
        )
    return len(ids)


def _tag(session: Session, company_id: int, dialog: Dialog, tag_id: int) -> None:
    request = current_request(session, dialog=dialog) or session.scalar(
        select(Request).where(Request.dialog_id == dialog.id).order_by(Request.id.desc()).limit(1)
    )
    if request is not None:
        assign_tags(
            session,
            company_id=company_id,
            tag_ids=[tag_id],
            assignee_type="request",
            assignee_id=request.id,
        )
    else:
        assign_tags(
            session,
            company_id=company_id,
            tag_ids=[tag_id],
            assignee_type="client",
            assignee_id=dialog.client_id,
        )
