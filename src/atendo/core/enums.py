"""The domain's named states (StrEnum, stored as plain strings)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"
    DISABLED = "disabled"


class ChannelStatus(StrEnum):
    CONNECTED = "connected"
    CONNECTING = "connecting"
    ERROR = "error"
    DISABLED = "disabled"


class DialogState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class MessageType(StrEnum):
    TO_CLIENT = "to_client"
    FROM_CLIENT = "from_client"
    AUTOREPLY = "autoreply"
    SYSTEM = "system"
    COMMENT = "comment"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BOUNCED = "bounced"


class EventType(StrEnum):
    INBOX = "inbox"
    OUTBOX = "outbox"
    OUTBOX_STATUS = "outbox_status"
    NEW_CLIENT = "new_client"
    NEW_REQUEST = "new_request"
    CLOSE_DIALOG = "close_dialog"
    CLIENT_UPDATED = "client_updated"
    NEW_TAG = "new_tag"
    ADD_TAG_TO_CLIENT = "add_tag_to_client"
    ADD_TAG_TO_REQUEST = "add_tag_to_request"
    DELETE_TAG_FROM_CLIENT = "delete_tag_from_client"
    DELETE_TAG_FROM_REQUEST = "delete_tag_from_request"
    DIALOG_TRANSFERRED = "dialog_transferred"
    CLIENT_ADDED_TO_BLACKLIST = "client_added_to_blacklist"
    REOPEN_DIALOG = "reopen_dialog"  # [ext]
    OPERATOR_STATUS = "operator_status"  # [ext]
    NEW_RATING = "new_rating"  # [ext] a client's quality-survey score
    CHANNEL_STATUS = "channel_status"  # panel only; not a webhook event
    MENTION = "mention"  # panel only: an @mention in an internal note
    TYPING = "typing"  # someone is typing (panel and live chat only); not a webhook event


PANEL_ONLY_EVENTS = frozenset({EventType.CHANNEL_STATUS, EventType.MENTION, EventType.TYPING})


class OperatorStatus(StrEnum):
    """The statuses an operator chooses in the panel's header (or the API sets); only the
    working ones count as online and receive new chats."""

    WORKING = "working"
    BUSY = "busy"
    BREAK = "break"
    OFFLINE = "offline"

    @property
    def working(self) -> bool:
        return self is OperatorStatus.WORKING


class GroupRule(StrEnum):
    """How the router picks among a group's online members."""

    LEAST_BUSY = "least_busy"  # fewest open chats
    MOST_SKILLED = "most_skilled"  # highest skill, ties by load
    PROBABILITY = "probability"  # at random, weighted by skill


class HiddenReason(StrEnum):
    """Why a stored message stays out of the chats (it is still reachable: the API's
    ``include_hidden`` and the admins' *Hidden mail* page)."""

    OWN = "own"  # sent from the channel's own address, or carrying our Message-ID
    BLOCKED = "blocked"  # from a blocked address, domain or client
    BOUNCE = "bounce"  # a delivery report that names no message and no recipient of ours
    NO_SENDER = "no_sender"  # no From address to make a client of
