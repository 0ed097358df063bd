"""Sending limits: how many recipients one message may have, how fast a channel may send.

* :func:`check_recipients` -- at most ``max_recipients`` addresses (To and Cc together) on one
  message, refused with a 422 naming the limit before anything is queued.
* :class:`SendLimits` -- per channel, at most ``per_minute`` messages claimed for sending in
  any minute and ``per_hour`` in any hour. The sender's claim (:func:`channels_at_limit`,
  :func:`allowance`, used by ``outbox.claim_due_batch``) leaves a channel's further due
  messages **queued**: they are not failed, they go out as the window moves on. A claim is
  counted by ``messages.claimed_at`` (indexed): a retry counts again, which is what a server's
  own rate limit sees too.
* :func:`held_by_limit` -- whether a queued message is overdue because of those limits (what
  the operator sees beside it).
* :func:`check_message_size` -- an outgoing message (text, HTML, attachments) over the stored
  message size (``ATENDO_MAX_MESSAGE_BYTES``) is refused with :class:`MessageTooLarge` (413).
* :func:`too_large_note` / :func:`too_large` -- an incoming mail over that size is kept raw and
  stored without its body: its ``parse_error`` says so in a fixed form, read back by the panel
  and the API (``too_large``) to show its size and the limit beside the original to download.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from atendo.core.enums import DeliveryStatus
from atendo.core.errors import DomainError, Invalid
from atendo.core.messages.models import Message

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# A queued message this late is not waiting for a sender's next round but for its channel.
HELD_AFTER = timedelta(seconds=10)


def check_recipients(addresses: Sequence[str], *, max_recipients: int, field: str) -> None:
    if len(addresses) > max_recipients:
        raise Invalid(
            f"At most {max_recipients} recipients per message",
            {field: [f"at most {max_recipients} recipients per message, {len(addresses)} given"]},
        )


class MessageTooLarge(DomainError):
    status_code = 413
    code = "message.too_large"

    def __init__(self, *, size: int, limit: int, field: str = "message") -> None:
        super().__init__(
            "The message is too large",
            {field: [f"at most {limit} bytes per message, {size} given"]},
        )
        self.params = {"size": size, "limit": limit}


def check_message_size(
    *, text: str = "", html: str | None = "", attachment_bytes: int = 0, limit: int
) -> None:
    """Refuse an outgoing message whose text, HTML and attachments together exceed ``limit``
    bytes (what would be stored for it)."""
    size = attachment_bytes + sum(
        len(part.encode("utf-8", "surrogatepass")) for part in (text, html or "")
    )
    if size > limit:
        raise MessageTooLarge(size=size, limit=limit)


_TOO_LARGE = re.compile(r"^too large: (\d+) bytes, over the limit of (\d+)$")


def too_large_note(size: int, limit: int) -> str:
    """The ``parse_error`` of an incoming mail kept raw because it is over ``limit`` bytes."""
    return f"too large: {size} bytes, over the limit of {limit}"


def too_large(parse_error: str | None) -> tuple[int, int] | None:
    """(size, limit) of a mail stored without its body for its size, else None."""
    found = _TOO_LARGE.match(parse_error or "")
    return (int(found[1]), int(found[2])) if found else None


@dataclass(frozen=True)
class SendLimits:
    per_minute: int
    per_hour: int


def _claims(
    session: Session, now: datetime, channel_ids: Sequence[int] | None = None
) -> dict[int, tuple[int, int]]:
    """Claims per channel in the last minute and in the last hour."""
    recent = case((Message.claimed_at > now - MINUTE, 1), else_=0)
    stmt = (
        select(Message.channel_id, func.sum(recent), func.count())
        .where(Message.claimed_at > now - HOUR, Message.channel_id.is_not(None))
        .group_by(Message.channel_id)
    )
    if channel_ids is not None:
        stmt = stmt.where(Message.channel_id.in_(channel_ids))
    return {
        int(channel_id): (int(minute or 0), int(hour or 0))
        for channel_id, minute, hour in session.execute(stmt)
        if channel_id is not None
    }


def channels_at_limit(session: Session, limits: SendLimits, now: datetime) -> list[int]:
    """Channels that may claim nothing more now."""
    return [
        channel_id
        for channel_id, (minute, hour) in _claims(session, now).items()
        if minute >= limits.per_minute or hour >= limits.per_hour
    ]


def allowance(
    session: Session, limits: SendLimits, now: datetime, channel_ids: Sequence[int]
) -> dict[int, int]:
    """How many more messages each of these channels may claim now."""
    used = _claims(session, now, channel_ids)
    left: dict[int, int] = {}
    for channel_id in channel_ids:
        minute, hour = used.get(channel_id, (0, 0))
        left[channel_id] = max(0, min(limits.per_minute - minute, limits.per_hour - hour))
    return left


def within_allowance(
    candidates: Sequence[tuple[int, int | None]], left: dict[int, int]
) -> list[int]:
    """The candidate ids (in order) that fit in each channel's allowance."""
    taken: list[int] = []
    remaining = dict(left)
    for message_id, channel_id in candidates:
        if channel_id is None:
            taken.append(message_id)
        elif remaining.get(channel_id, 0) > 0:
            remaining[channel_id] -= 1
            taken.append(message_id)
    return taken


def held_by_limit(message: Message, now: datetime) -> bool:
    """A queued message well past its send time: its channel's sending limit holds it."""
    return (
        message.delivery_status == DeliveryStatus.QUEUED
        and message.send_at is not None
        and message.send_at + HELD_AFTER < now
    )
