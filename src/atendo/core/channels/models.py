from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Channel(Base):
    """A company's connected account on one transport.

    ``settings`` holds the transport's public settings (for e-mail: hosts, ports, security,
    login, send delay...); ``secrets`` holds a Fernet token of a JSON object with passwords.
    The sync lease (``lease_owner``/``lease_until``/``lease_token``) lets one worker at a time
    hold a mailbox (see :mod:`atendo.core.leases`).
    """

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    transport: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="connecting")
    last_error: Mapped[str | None] = mapped_column(Text)
    error_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_sync: Mapped[datetime | None] = mapped_column(UTCDateTime)
    write_first: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")
    signatures_operators_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    signatures_general_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    signature_general: Mapped[str] = mapped_column(Text, default="")
    reconnect_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sending server refused the login: queued messages wait ("waiting for the
    # connection") instead of spending retries, until the channel is fixed or reconnected.
    send_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The fencing token: raised by every take-over, checked where the sync commits.
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The group new chats of this channel are routed to (None: all operators).
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_groups.id", ondelete="SET NULL")
    )


class OperatorSignature(Base):
    __tablename__ = "operator_signatures"
    __table_args__ = (UniqueConstraint("channel_id", "operator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")


class MailboxFolder(Base):
    """Per-folder IMAP sync state (RFC 3501 §2.3.1.1).

    If UIDVALIDITY changes, every UID we remember for the folder is meaningless: the sync
    resyncs a bounded window and relies on the per-channel Message-ID key to skip what it has.
    """

    __tablename__ = "mailbox_folders"
    __table_args__ = (UniqueConstraint("channel_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(Integer)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    initial_done: Mapped[bool] = mapped_column(Boolean, default=False)
