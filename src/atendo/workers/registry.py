"""The list of background loops. Each subsystem adds its loop here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atendo.workers.runner import Loop

LOOPS: list[tuple[str, Loop]] = []

# Webhooks and the external transport (issue 5).
from atendo.workers.event_dispatch import dispatch_loop  # noqa: E402
from atendo.workers.external_sender import sender_loop  # noqa: E402
from atendo.workers.webhook_delivery import delivery_loop  # noqa: E402

LOOPS.extend(
    [
        ("event_dispatch", dispatch_loop),
        ("webhook_delivery", delivery_loop),
        ("external_sender", sender_loop),
    ]
)

# E-mail: mailbox sync (issue 3).
from atendo.workers.mailbox_sync import mailbox_sync_loop  # noqa: E402

LOOPS.append(("mailbox_sync", mailbox_sync_loop))

# E-mail: the send queue (issue 4).
from atendo.workers.sender import sender_loop as email_sender_loop  # noqa: E402

LOOPS.append(("email_sender", email_sender_loop))
