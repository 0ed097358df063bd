"""What the live stream tells one operator beyond "something changed": the notifications
that are theirs (a chat assigned to them or offered to their group, a client's message in
their chat, an @mention of them), their own status changing, and their unread count (the tab
title and the favicon show it).

Everything is decided on the server from committed rows, in the operator's language; the page
only plays the sound and shows the browser notification when the operator allowed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client
from atendo.core.clients.service import identities
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DialogState, EventType
from atendo.core.events.models import Event
from atendo.core.operators.models import GroupMember, Operator
from atendo.kit.db import get_scoped
from atendo.panel.auth import PanelUser
from atendo.panel.i18n import translations


@dataclass(frozen=True)
class Notice:
    kind: str  # assigned | offered | message | mention
    title: str
    body: str
    dialog_id: int


def _client_name(session: Session, dialog: Dialog) -> str:
    client = get_scoped(session, Client, dialog.client_id, company_id=dialog.company_id)
    if client is not None and client.display_name:
        return client.display_name
    addresses = identities(session, company_id=dialog.company_id, client_id=dialog.client_id)
    return (addresses[0] if addresses else "") or dialog.subject or f"#{dialog.id}"


def _in_group_of(session: Session, dialog: Dialog, operator_id: int) -> bool:
    group_id = dialog.group_id
    if group_id is None:
        channel = get_scoped(session, Channel, dialog.channel_id, company_id=dialog.company_id)
        group_id = channel.group_id if channel else None
    if group_id is None:
        return False
    found = session.scalar(
        select(GroupMember.id).where(
            GroupMember.company_id == dialog.company_id,
            GroupMember.group_id == group_id,
            GroupMember.operator_id == operator_id,
        )
    )
    return found is not None


def notice_for(session: Session, user: PanelUser, event: Event) -> Notice | None:
    """The notification this event is for this operator, or None."""
    payload: dict[str, Any] = event.payload or {}
    if event.dialog_id is None:
        return None
    dialog = get_scoped(session, Dialog, event.dialog_id, company_id=user.company_id)
    if dialog is None:
        return None
    _ = translations(user.language).gettext
    name = _client_name(session, dialog)
    if event.type == EventType.DIALOG_TRANSFERRED:
        if payload.get("operator_id") == user.id and payload.get("by_operator_id") != user.id:
            if dialog.operator_id != user.id:
                return None  # already moved on
            return Notice("assigned", _("New chat assigned to you"), name, dialog.id)
        return None
    if event.type == EventType.NEW_REQUEST:
        if dialog.operator_id is None and _in_group_of(session, dialog, user.id):
            return Notice("offered", _("New chat for your group"), name, dialog.id)
        return None
    if event.type == EventType.INBOX:
        if payload.get("is_new_request") and payload.get("operator_id") is None:
            return None  # a new chat: its assignment (or group offer) is the notification
        if dialog.operator_id == user.id and dialog.state == DialogState.OPEN:
            text = str(payload.get("text") or payload.get("subject") or "")
            return Notice("message", _("New message from %(name)s") % {"name": name},
                          text[:140], dialog.id)  # fmt: skip
        return None
    if event.type == EventType.MENTION:
        if user.id in (payload.get("operator_ids") or []):
            by = get_scoped(
                session, Operator, payload.get("by_operator_id") or 0, company_id=user.company_id
            )
            who = by.full_name if by else ""
            return Notice("mention", _("%(name)s mentioned you") % {"name": who}, name, dialog.id)
        return None
    return None


def unread_total(session: Session, user: PanelUser) -> int:
    """Chats of this operator with unread client messages (the tab title's count)."""
    return (
        session.scalar(
            select(func.count(Dialog.id)).where(
                Dialog.company_id == user.company_id,
                Dialog.operator_id == user.id,
                Dialog.state == DialogState.OPEN,
                Dialog.unread > 0,
            )
        )
        or 0
    )
