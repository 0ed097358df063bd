"""The team's tables: time per status, per-operator read state, who is on a chat now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class StatusSpan(Base):
    """One stretch of time an operator spent in one status (``ended`` None: still in it)."""

    __tablename__ = "operator_status_spans"
    __table_args__ = (Index("ix_operator_status_spans_operator", "operator_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(40))
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DialogRead(Base):
    """How far one operator has read one dialog (the last message id they saw).

    The dialog's own ``unread`` counter belongs to its assignee (what the API reports);
    anyone else who opens the chat moves only their own row here."""

    __tablename__ = "dialog_reads"
    __table_args__ = (UniqueConstraint("dialog_id", "operator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    last_read_message_id: Mapped[int] = mapped_column(Integer, default=0)


class ChatPresence(Base):
    """An operator looking at (or typing in) a chat, kept alive by the panel now and then
    (``panel_presence_keepalive``); a row older than ``core.team.presence.fresh_for`` that
    is gone."""

    __tablename__ = "chat_presence"
    __table_args__ = (UniqueConstraint("dialog_id", "operator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="viewing")  # viewing | typing
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomStatus(Base):
    """A status an admin added beside the built-in ones (``core.enums.OperatorStatus``);
    ``working`` ones count as online and receive new chats."""

    __tablename__ = "operator_custom_statuses"
    __table_args__ = (UniqueConstraint("company_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    working: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
