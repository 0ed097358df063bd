from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Client(Base):
    __tablename__ = "clients"
    # The list: a company's clients in id order (the page without a sort).
    __table_args__ = (
        Index("ix_clients_company_id_id", "company_id", "id"),
        # The API's list and its count (merged clients left out), from the index alone.
        Index(
            "ix_clients_company_unmerged",
            "company_id",
            "id",
            postgresql_where=text("merged_into_id IS NULL"),
            sqlite_where=text("merged_into_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300), default="")
    assigned_name: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str] = mapped_column(Text, default="")
    extra_comment_1: Mapped[str] = mapped_column(Text, default="")
    extra_comment_2: Mapped[str] = mapped_column(Text, default="")
    extra_comment_3: Mapped[str] = mapped_column(Text, default="")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    external_id: Mapped[str | None] = mapped_column(String(200))
    # set when this client was merged into another (the survivor answers for its id)
    merged_into_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where the client was last seen on a site through a live chat (the widget): page_url,
    # page_title, referrer, browser, os, device, language, timezone, user_agent, seen.
    visitor: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    @property
    def display_name(self) -> str:
        return self.assigned_name or self.name


class ClientIdentity(Base):
    """How a client is reached on a transport: an e-mail address, a phone, an external id.

    ``address`` is normalised (e-mail lower-cased) and unique per company and transport.
    """

    __tablename__ = "client_identities"
    __table_args__ = (
        UniqueConstraint("company_id", "transport", "address"),
        Index("ix_client_identities_company_client", "company_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(300), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlockEntry(Base):
    """A blocked address, domain or client. Mail from it is stored but hidden."""

    __tablename__ = "block_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # email | domain | client
    value: Mapped[str] = mapped_column(String(320))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
