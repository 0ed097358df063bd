from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20), default="active")
    api_requests_month: Mapped[str] = mapped_column(String(7), default="")
    api_requests_count: Mapped[int] = mapped_column(Integer, default=0)
    # The team's settings (issue 13): minutes without activity in the panel before an
    # operator goes offline (0: never), and whether their open chats return to the queue then.
    inactivity_minutes: Mapped[int] = mapped_column(Integer, default=30)
    requeue_on_offline: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Every write through the API or the panel, with who made it.

    Named entries (``kind``: ``assigned``, ``transferred``, ``closed``, ``reopened``,
    ``tagged``, ``untagged``, ``settings``, ``status``) also carry the operator who acted, the
    dialog they concern and their details: the dialog's timeline is read from here."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_dialog", "dialog_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="")
    operator_id: Mapped[int | None] = mapped_column(Integer)
    dialog_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiRateWindow(Base):
    """API requests of one token in one minute, shared by every process (PostgreSQL only;
    see ``atendo.core.companies.ratelimit``)."""

    __tablename__ = "api_rate_windows"

    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)  # Unix minute
    hits: Mapped[int] = mapped_column(Integer, default=0)
