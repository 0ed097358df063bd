"""A mailbox session the worker lets go always ends, even when its ``cancel()`` was swallowed.

aioimaplib runs every IMAP command under ``asyncio.wait_for``; on Python 3.11 a ``cancel()``
that arrives in the same loop iteration as the server's answer is dropped and the session goes
on (into IDLE). Seen under load: a worker's rebalancing waited forever for such a session, and
the mailbox stayed with a session the worker no longer meant to hold."""

from __future__ import annotations

import asyncio

from atendo.workers.mailbox_sync import stop_sessions


async def _session(answer: asyncio.Future[str], reached_idle: asyncio.Event) -> None:
    await asyncio.wait_for(answer, 60)  # an IMAP command, as aioimaplib runs it
    reached_idle.set()
    await asyncio.sleep(3600)  # IDLE until the poll interval


def test_a_session_that_swallowed_its_cancel_is_stopped_all_the_same() -> None:
    async def main() -> tuple[bool, bool]:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        reached_idle = asyncio.Event()
        task = asyncio.create_task(_session(answer, reached_idle))
        await asyncio.sleep(0)  # the command is on the wire
        answer.set_result("OK")  # the server answers...
        # ...in the same loop iteration as the worker lets the mailbox go; the guard only
        # turns a hang into a failure.
        await asyncio.wait_for(stop_sessions([task]), 30)
        return reached_idle.is_set(), task.cancelled()

    went_on, cancelled = asyncio.run(main())
    assert went_on  # the first cancel() was swallowed: the session went on into IDLE
    assert cancelled
