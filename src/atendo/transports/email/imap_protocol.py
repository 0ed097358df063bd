"""aioimaplib's protocol, counting the new mail the server announces in any answer.

RFC 3501 §5.2 and §7.3.1: the server tells a selected mailbox's new size with an untagged
``* n EXISTS`` when it brings the session's view up to date, which Dovecot does at the end of
a command, after answering it; it never says it again. So a message that arrives just before a
``UID SEARCH`` is missing from that search's answer and announced only at its end, and IDLE
(RFC 2177) will not announce it: the sync must notice that ``EXISTS`` and search once more.

aioimaplib gives an untagged line to the pending synchronous command, or to the asynchronous
one whose name the line carries (``FETCH``, ``EXPUNGE``); ``SEARCH`` and ``FETCH`` are
asynchronous there, so an ``EXISTS`` that came with them was logged as "ignored" and lost.
(IDLE's own ``* n RECENT`` often made up for it, but not when another client, such as the
person's own mail program on the same mailbox, had taken the message's ``\\Recent`` flag.)
:class:`AnnouncingProtocol` counts every ``EXISTS`` it reads, whatever command it came with,
before handing the line on as aioimaplib does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aioimaplib


class AnnouncingProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # untyped
    """``announced``: how many ``* n EXISTS`` lines the server has sent on this connection."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
    ) -> None:
        super().__init__(loop, conn_lost_cb)
        self.announced = 0

    def _untagged_response(self, line: bytes) -> Any:
        if line[-7:].upper() == b" EXISTS":
            self.announced += 1
        return super()._untagged_response(line)


def announced(client: aioimaplib.IMAP4) -> int:
    """The ``EXISTS`` lines ``client`` has read so far (0 for a plain aioimaplib protocol)."""
    return int(getattr(client.protocol, "announced", 0))
