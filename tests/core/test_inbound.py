"""receive_client_message, the one sequence every transport uses to bring a message in: what
it writes, and with how many statements (a new client's first message, a known client's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from tests.conftest import CompanyFixture
from tests.factories import external_channel

from atendo.core.channels.models import Channel
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.events.models import Event
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.runtime import Runtime


@contextmanager
def _statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split())[:60])

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)


def _receive(runtime: Runtime, channel_id: int, phone: str, text: str) -> tuple[int, list[str]]:
    with _statements(runtime) as seen, runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        seen.clear()  # the test's own read of the channel
        arrival = receive_client_message(
            session, channel=channel, sender=Sender(kind="phone", address=phone), text=text
        )
        message_id = arrival.message.id
    return message_id, [s for s in seen if not s.startswith(("BEGIN", "COMMIT"))]


def _events(runtime: Runtime, company_id: int) -> list[tuple[str, int | None]]:
    with runtime.db.reading() as session:
        rows = session.execute(
            select(Event.type, Event.dialog_id)
            .where(Event.company_id == company_id)
            .order_by(Event.id)
        ).all()
    return [(type_, dialog_id) for type_, dialog_id in rows]


def test_a_new_clients_first_message_and_a_known_clients_next(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = external_channel(runtime, company.id)
    before = len(_events(runtime, company.id))
    first, new_statements = _receive(runtime, channel_id, "+5511999990001", "olá")
    second, known_statements = _receive(runtime, channel_id, "+5511999990001", "de novo")
    with runtime.db.reading() as session:
        dialogs = list(session.scalars(select(Dialog).where(Dialog.company_id == company.id)))
        requests = list(session.scalars(select(Request).where(Request.company_id == company.id)))
    assert len(dialogs) == 1 and len(requests) == 1
    dialog = dialogs[0]
    assert (dialog.last_message_id, dialog.unread, dialog.state) == (second, 2, "open")
    assert dialog.queued_at is not None  # the new request waits for the router
    assert requests[0].dialog_id == dialog.id and requests[0].state == "open"
    events = _events(runtime, company.id)[before:]
    assert events == [
        ("new_client", None),
        ("inbox", dialog.id),
        ("new_request", dialog.id),
        ("inbox", dialog.id),
    ]
    assert first < second
    # A new client: no dialog nor request to look up; its new_client event goes in the same
    # INSERT as the inbox and new_request ones.
    inserts = [s.split()[2] for s in new_statements if s.startswith("INSERT")]
    assert inserts == ["clients", "client_identities", "dialogs", "requests", "messages", "events"]
    assert not [s for s in new_statements if s.startswith("SELECT dialogs")]
    assert not [s for s in new_statements if s.startswith("SELECT requests")]
    assert len([s for s in known_statements if s.startswith("INSERT")]) == 2  # message, event
