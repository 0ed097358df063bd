"""The list of background loops. Each subsystem adds its loop here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atendo.workers.runner import Loop

LOOPS: list[tuple[str, Loop]] = []

# The heartbeat first: it registers this worker (fair shares, requeueing a dead one's claims).
from atendo.workers.heartbeat import heartbeat_loop  # noqa: E402

LOOPS.append(("heartbeat", heartbeat_loop))

# Webhooks, and the outbox of transports without a delivery loop of their own (the seam).
from atendo.workers.event_dispatch import dispatch_loop  # noqa: E402
from atendo.workers.outbox_delivery import outbox_delivery_loop  # noqa: E402
from atendo.workers.webhook_delivery import delivery_loop  # noqa: E402

LOOPS.extend(
    [
        ("event_dispatch", dispatch_loop),
        ("webhook_delivery", delivery_loop),
        ("outbox_delivery", outbox_delivery_loop),
    ]
)

# The team: routing new chats, operators going offline after inactivity (issue 13).
from atendo.workers.routing import routing_loop  # noqa: E402

LOOPS.append(("routing", routing_loop))

# Automation: greetings, the self-service menu, auto-close, the quality survey (issue 16).
from atendo.workers.automation import automation_loop  # noqa: E402

LOOPS.append(("automation", automation_loop))

# E-mail: mailbox sync (issue 3).
from atendo.workers.mailbox_sync import mailbox_sync_loop  # noqa: E402

LOOPS.append(("mailbox_sync", mailbox_sync_loop))

# Each registered transport's own background loops (e-mail: smtp_delivery).
from atendo.transports import registry as transports  # noqa: E402

LOOPS.extend(
    (f"{t.name}:{name}", loop) for t in transports.all_transports() for name, loop in t.loops
)

# Retention: done events and webhook deliveries older than the setting (issue 20 part 4).
from atendo.workers.retention import retention_loop  # noqa: E402

LOOPS.append(("retention", retention_loop))
