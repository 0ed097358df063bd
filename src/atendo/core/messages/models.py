from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Message(Base):
    """A message in a dialog. For e-mail it is also the outbox row.

    Outbound life: ``queued`` (waits until ``send_at``: the clock icon) → ``sending`` (claimed
    by one sender) → ``sent``; or ``cancelled`` (interrupted while queued), ``failed`` (5xx or
    retries exhausted), ``bounced`` (a DSN came back). ``dedup_key`` — the normalised
    Message-ID, or the SHA-256 of the raw bytes when there is none — is unique per channel, so
    fetching the same mail twice stores it once.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "dedup_key"),
        Index("ix_messages_dialog_created", "dialog_id", "id"),
        # A dialog's messages read with their company: both equalities, then the order.
        Index("ix_messages_company_dialog", "company_id", "dialog_id", "id"),
        Index("ix_messages_company_created", "company_id", "id"),
        Index("ix_messages_company_mid", "company_id", "email_message_id"),
        Index("ix_messages_outbox", "delivery_status", "send_at"),
        Index("ix_messages_company_hidden", "company_id", "hidden"),
        Index("ix_messages_claimed_by", "claimed_by"),
        Index("ix_messages_channel_claimed", "channel_id", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    dialog_id: Mapped[int | None] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(20))
    transport: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why a stored message stays out of the chats (:class:`HiddenReason`); None when shown.
    hidden_reason: Mapped[str | None] = mapped_column(String(40))
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    # The transport says: never answer this automatically (bulk or list mail, a no-reply
    # sender, …); automation also skips is_auto_reply and is_bounce.
    no_autoreply: Mapped[bool] = mapped_column(Boolean, default=False)
    # Choices offered with an automatic message (menu items, survey scores): a transport with
    # buttons (the site widget) shows them; what a button sends is its text.
    buttons: Mapped[list[str] | None] = mapped_column(JSON)
    is_auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(200))
    # e-mail envelope and threading
    email_message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_email: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(300), default="")
    to: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    bcc: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    reply_to: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    dedup_key: Mapped[str | None] = mapped_column(String(998))
    raw_sha: Mapped[str | None] = mapped_column(String(64))
    parse_error: Mapped[str | None] = mapped_column(Text)
    # delivery (outbound)
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    recipient_errors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageStatusEvent(Base):
    """The delivery history shown behind the "eye": every status change with its detail."""

    __tablename__ = "message_status_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_company_message", "company_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    blob_sha: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str | None] = mapped_column(String(500))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


class Draft(Base):
    """What an operator was writing in a dialog's composer, kept on the server so that it
    survives a reload or a switch to another dialog: the text, the subject, the transport's
    composer fields (e-mail: ``to``/``cc``/``bcc``) and the chosen files (blobs)."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("operator_id", "dialog_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialogs.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    fields: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    # [{"name", "type", "size", "sha"}]: the files' bytes are in the blob store
    files: Mapped[list[dict[str, str | int]]] = mapped_column(JSON, default=list)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
