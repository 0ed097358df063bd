from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from atendo.kit.clock import utcnow
from atendo.kit.db import Base, UTCDateTime


class Worker(Base):
    """A running worker process (``atendo worker``, or ``atendo serve`` with its workers):
    alive while its ``heartbeat`` is recent. Not a tenant table: workers serve every company."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_heartbeat", "heartbeat"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
