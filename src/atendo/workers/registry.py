"""The list of background loops. Each subsystem adds its loop here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atendo.workers.runner import Loop

LOOPS: list[tuple[str, Loop]] = []
