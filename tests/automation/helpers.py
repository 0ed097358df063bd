"""Shared steps of the automation tests: run the worker's round, read what it sent."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import select

from atendo.core.automation.service import save_automation_settings
from atendo.core.dialogs.service import close_dialog
from atendo.core.enums import MessageType
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.workers.automation import automation_round


class Clock:
    """A controllable clock for kit.clock.set_clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def run(runtime: Runtime) -> int:
    """One round of the automation worker, as ``atendo worker`` runs it."""
    return asyncio.run(automation_round(runtime))


def autoreplies(runtime: Runtime, dialog_id: int) -> list[str]:
    with runtime.db.reading() as session:
        rows = session.scalars(
            select(Message.text)
            .where(Message.dialog_id == dialog_id, Message.type == MessageType.AUTOREPLY)
            .order_by(Message.id)
        )
        return list(rows)


def configure(runtime: Runtime, company_id: int, channel_id: int, **sections: Any) -> None:
    with runtime.db.transaction() as session:
        save_automation_settings(
            session, company_id=company_id, channel_id=channel_id, data=sections
        )


def close(runtime: Runtime, company_id: int, dialog_id: int) -> None:
    with runtime.db.transaction() as session:
        close_dialog(session, company_id=company_id, dialog_id=dialog_id)
