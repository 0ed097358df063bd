from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Dialog(Base):
    """The chat between the company and a client on one channel.

    For e-mail, ``recipients`` holds the addresses every operator message goes to.
    """

    __tablename__ = "dialogs"
    __table_args__ = (
        # Lists: newest first, the id breaking ties (no sort step on top of the index).
        Index("ix_dialogs_company_last_id", "company_id", "last_message_at", "id"),
        Index("ix_dialogs_client_channel", "client_id", "channel_id"),
        # A client's dialogs, read with the company (and a shard's natural prefix).
        Index("ix_dialogs_company_client", "company_id", "client_id", "channel_id"),
        # The chat list's counts per tab and state, from the index alone.
        Index(
            "ix_dialogs_company_state_operator", "company_id", "state", "operator_id", "queued_at"
        ),
        # An operator's own dialogs first ("All"): theirs by last activity.
        Index(
            "ix_dialogs_company_operator_last", "company_id", "operator_id", "last_message_at", "id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="open")
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_groups.id", ondelete="SET NULL")
    )
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    unread: Mapped[int] = mapped_column(Integer, default=0)
    last_message_id: Mapped[int | None] = mapped_column(Integer)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    begin: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Waiting in the queue ("Novos chats") for the router since then; None once assigned.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Request(Base):
    """One support episode inside a dialog."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_company_dialog", "company_id", "dialog_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="open")
    begin: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
