"""The widget's hub and delivery loop on their own: each followed event reaches the visitor's
connections once and in order (on PostgreSQL also one committed after a later one), and
neither loop waits for the threads the visitors' writes use."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from atendo.core.channels.service import get_channel
from atendo.core.events.service import last_event_id, signal_typing
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.base import Reply
from atendo.transports.widget import threads
from atendo.transports.widget.delivery import widget_delivery_loop
from atendo.transports.widget.hub import Hub, Note
from atendo.transports.widget.transport import WidgetTransport
from atendo.transports.widget.visitors import Visitor, receive_visitor_message
from tests.conftest import CompanyFixture
from tests.factories import widget_channel

T = TypeVar("T")
# Only a guard against a hang: every wait below ends as soon as the frame is there.
NEVER = 20.0
CLIENT = 999_999  # the client of the typing events below (no row: the hub reads only events)


def _typing(runtime: Runtime, company: CompanyFixture, channel_id: int, name: str) -> int:
    """A committed typing event of :data:`CLIENT` on the channel (the hub follows those)."""
    with runtime.db.transaction() as session:
        return _emit_typing(session, company, channel_id, name)


def _emit_typing(session: Any, company: CompanyFixture, channel_id: int, name: str) -> int:
    typing = partial(signal_typing, session, company_id=company.id, dialog_id=0, by="operator")
    typing(channel_id=channel_id, client_id=CLIENT, name=name)
    return last_event_id(session, company_id=company.id)


async def _next(sub: Any) -> Note:
    note = await asyncio.wait_for(sub.queue.get(), NEVER)
    assert isinstance(note, Note)
    return note


def _answer(runtime: Runtime, company: CompanyFixture, dialog_id: int) -> int:
    with runtime.db.transaction() as session:
        message = WidgetTransport().queue_reply(
            session,
            runtime=runtime,
            company_id=company.id,
            dialog_id=dialog_id,
            reply=Reply(text="Olá", operator_id=company.admin_id),
        )
        return message.id


async def _sent(runtime: Runtime, company: CompanyFixture, message_id: int) -> str:
    """The answer's delivery status once it is no longer queued or being sent."""
    while True:
        with runtime.db.reading() as session:
            status = session.scalar(
                select(Message.delivery_status).where(
                    Message.company_id == company.id, Message.id == message_id
                )
            )
        if status not in ("queued", "sending"):
            return str(status)
        await asyncio.sleep(0.02)


_TEST_THREADS = ThreadPoolExecutor(2, thread_name_prefix="test-widget-hub")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """The test's own blocking calls, on threads of the test (not the ones it keeps busy)."""
    return await asyncio.get_running_loop().run_in_executor(_TEST_THREADS, fn, *args)


def test_the_hub_hands_each_followed_event_once_in_order(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = widget_channel(runtime, company.id).id
    other_channel = widget_channel(runtime, company.id).id

    async def scenario() -> list[tuple[int, str]]:
        hub = Hub(runtime)
        sub = await hub.subscribe(channel_id, CLIENT, "visitor-1")
        try:
            ids = []
            for name in ("Ana", "Bia"):
                ids.append(await _off_loop(_typing, runtime, company, channel_id, name))
            await _off_loop(_typing, runtime, company, other_channel, "Outro")  # not its own
            ids.append(await _off_loop(_typing, runtime, company, channel_id, "Cid"))
            got = [await _next(sub) for _ in ids]
            hub.nudge()  # one more round: nothing again
            await _off_loop(_typing, runtime, company, channel_id, "Dora")
            got.append(await _next(sub))
            assert sub.queue.empty()
            return [(n.id, str(n.payload["name"])) for n in got]
        finally:
            hub.unsubscribe(sub)
            if hub._task is not None:
                hub._task.cancel()

    got = asyncio.run(scenario())
    assert [name for _id, name in got] == ["Ana", "Bia", "Cid", "Dora"]
    assert [i for i, _name in got] == sorted(i for i, _name in got)


def test_an_event_committed_after_a_later_one_reaches_the_visitor_once(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """PostgreSQL takes an event's id before commit: the hub reads again a window behind its
    newest id (core.events.service.ReadWindow, the panel's live stream's too), and what it read
    there is not handed out twice."""
    if not runtime.db.is_postgres:
        pytest.skip("concurrent writers: PostgreSQL only (SQLite has one writer at a time)")
    channel_id = widget_channel(runtime, company.id).id

    async def scenario() -> list[str]:
        hub = Hub(runtime)
        sub = await hub.subscribe(channel_id, CLIENT, "visitor-1")
        slow = runtime.db.sessionmaker()
        try:
            slow.begin()
            late = _emit_typing(slow, company, channel_id, "late")  # id taken, not committed
            early = await _off_loop(_typing, runtime, company, channel_id, "early")
            assert late < early
            got = [await _next(sub)]
            await _off_loop(slow.commit)
            got.append(await _next(sub))
            await _off_loop(_typing, runtime, company, channel_id, "after")
            got.append(await _next(sub))
            assert sub.queue.empty()
            return [str(n.payload["name"]) for n in got]
        finally:
            slow.close()
            hub.unsubscribe(sub)
            if hub._task is not None:
                hub._task.cancel()

    assert asyncio.run(scenario()) == ["early", "late", "after"]


def test_the_hub_and_the_delivery_loop_do_not_wait_for_the_visitors_threads(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """Every thread the visitors' reads and writes run on is busy (a burst of messages): the
    hub still reads, and the delivery loop still records an answer sent, each on a thread of
    its own."""
    channel_id = widget_channel(runtime, company.id).id
    with runtime.db.transaction() as session:
        channel = get_channel(session, company_id=company.id, channel_id=channel_id)
        arrival = receive_visitor_message(session, channel, Visitor(channel_id, "v1"), text="oi")
        dialog_id = arrival[0].dialog_id
    release = threading.Event()

    async def scenario() -> tuple[str, str]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(6))
        threads.setup(runtime.db.is_postgres)
        blockers = [asyncio.ensure_future(threads.in_thread(release.wait)) for _ in range(40)]
        stop = asyncio.Event()
        hub = Hub(runtime)
        loop_task = asyncio.create_task(widget_delivery_loop(runtime, stop))
        try:
            sub = await hub.subscribe(channel_id, CLIENT, "visitor-1")
            await _off_loop(_typing, runtime, company, channel_id, "Ana")
            note = await _next(sub)
            message_id = await _off_loop(_answer, runtime, company, dialog_id)
            status = await asyncio.wait_for(_sent(runtime, company, message_id), NEVER)
            assert not any(b.done() for b in blockers)  # they were busy all along
            hub.unsubscribe(sub)
            return str(note.payload["name"]), status
        finally:
            release.set()
            stop.set()
            await loop_task
            await asyncio.gather(*blockers)
            if hub._task is not None:
                hub._task.cancel()

    assert asyncio.run(scenario()) == ("Ana", "sent")
