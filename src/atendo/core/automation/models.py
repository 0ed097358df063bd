"""Automation tables: a channel's settings, its menu tree, per-dialog state, ratings and scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class ChannelAutomation(Base):
    """A channel's automation settings (working hours, greetings, menu, auto-close): one JSON
    document validated by :class:`atendo.core.automation.settings.AutomationSettings`."""

    __tablename__ = "channel_automation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), unique=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MenuItem(Base):
    """One item of a channel's self-service menu; ``parent_id`` None: the first level."""

    __tablename__ = "menu_items"
    __table_args__ = (Index("ix_menu_items_channel_parent", "channel_id", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("menu_items.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(String(1000))
    assign_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_groups.id", ondelete="SET NULL")
    )
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))
    url: Mapped[str | None] = mapped_column(String(2000))
    url_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    close: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=1)


class DialogAutomation(Base):
    """What automation remembers of one dialog. The ``*_due`` columns are the timed work:
    a worker claims one with a conditional UPDATE (due → NULL), so two workers never both
    act on it."""

    __tablename__ = "dialog_automation"
    __table_args__ = (
        Index("ix_dialog_automation_client", "client_id"),
        Index("ix_dialog_automation_menu_due", "menu_due"),
        Index("ix_dialog_automation_close_due", "close_due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    dialog_id: Mapped[int] = mapped_column(
        ForeignKey("dialogs.id", ondelete="CASCADE"), unique=True
    )
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    greeted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    menu_active: Mapped[bool] = mapped_column(Boolean, default=False)
    menu_parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("menu_items.id", ondelete="SET NULL")
    )
    menu_request_id: Mapped[int | None] = mapped_column(Integer)
    menu_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    surveyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    survey_rating_id: Mapped[int | None] = mapped_column(
        ForeignKey("ratings.id", ondelete="SET NULL")
    )
    survey_request_id: Mapped[int | None] = mapped_column(Integer)
    survey_operator_id: Mapped[int | None] = mapped_column(Integer)
    survey_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rating(Base):
    """A quality survey the admin defined: its question, where it applies and its scale
    (``scale``: ``[{value, answers[], thanks, tag_id}]``)."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    channel_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    tag_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    scale: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    min_interval_hours: Mapped[int] = mapped_column(Integer, default=12)
    hide_scores: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestRating(Base):
    """A client's score for one request, and the operator assigned when it closed."""

    __tablename__ = "request_ratings"
    __table_args__ = (
        UniqueConstraint("request_id", name="uq_request_ratings_request"),
        Index("ix_request_ratings_company_created", "company_id", "created"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    rating_id: Mapped[int | None] = mapped_column(ForeignKey("ratings.id", ondelete="SET NULL"))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(String(500), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
