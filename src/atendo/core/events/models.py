from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Event(Base):
    """The transactional outbox: a domain event written in the same transaction as the change.

    Nothing leaves the process (webhooks, panel pushes) until the row is committed; the
    dispatcher fans committed events out to webhook deliveries and the panel's live stream.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_pending", "dispatched", "id"),
        Index("ix_events_automation", "automation_due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[int | None] = mapped_column()
    dialog_id: Mapped[int | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A trigger automation still owes a reaction (greeting, menu, survey): set on the events
    # it reacts to, cleared by the worker that claims it (core.automation.engine).
    automation_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
