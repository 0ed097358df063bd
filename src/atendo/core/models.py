"""Every table of the domain, imported in one place (Alembic and the tests load this)."""

from atendo.core.automation.models import (
    ChannelAutomation,
    DialogAutomation,
    MenuItem,
    Rating,
    RequestRating,
)
from atendo.core.channels.models import Channel, MailboxFolder, OperatorSignature
from atendo.core.clients.models import BlockEntry, Client, ClientIdentity
from atendo.core.companies.models import ApiRateWindow, ApiToken, AuditEntry, Company
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.events.models import Event
from atendo.core.leases.models import Worker
from atendo.core.messages.models import Attachment, Message, MessageStatusEvent
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.core.tags.models import Tag, TagAssignment, TagGroup
from atendo.core.team.models import ChatPresence, CustomStatus, DialogRead, StatusSpan
from atendo.core.templates.models import Template
from atendo.core.webhooks.models import Webhook, WebhookDelivery
from atendo.kit.db import Base

__all__ = [
    "ApiRateWindow",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Base",
    "BlockEntry",
    "Channel",
    "ChannelAutomation",
    "ChatPresence",
    "Client",
    "ClientIdentity",
    "Company",
    "CustomStatus",
    "Dialog",
    "DialogAutomation",
    "DialogRead",
    "Event",
    "GroupMember",
    "MailboxFolder",
    "MenuItem",
    "Message",
    "MessageStatusEvent",
    "Operator",
    "OperatorGroup",
    "OperatorSignature",
    "Rating",
    "Request",
    "RequestRating",
    "StatusSpan",
    "Tag",
    "TagAssignment",
    "TagGroup",
    "Template",
    "Webhook",
    "WebhookDelivery",
    "Worker",
]
