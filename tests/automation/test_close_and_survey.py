"""Auto-close with an injectable clock; the quality survey on close (only after an operator
answered), its score stored against the request and the operator; once per client per
interval; triggers handled exactly once with two workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from atendo.core.automation.models import DialogAutomation, RequestRating
from atendo.core.automation.service import save_rating
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.core.tags.models import TagAssignment
from atendo.core.tags.service import create_tag
from atendo.runtime import Runtime
from atendo.workers.automation import automation_round
from tests.automation.helpers import Clock, autoreplies, close, configure, run
from tests.conftest import CompanyFixture, make_company
from tests.factories import client_message, external_channel, queued_reply


def _dialog(runtime: Runtime, dialog_id: int) -> Dialog:
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, dialog_id)
        assert dialog is not None
        session.expunge(dialog)
        return dialog


def _close_events(runtime: Runtime, dialog_id: int) -> int:
    with runtime.db.reading() as session:
        return (
            session.scalar(
                select(func.count(Event.id)).where(
                    Event.dialog_id == dialog_id, Event.type == "close_dialog"
                )
            )
            or 0
        )


def test_a_silent_client_is_closed_after_the_set_hours(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    configure(runtime, company.id, chat, auto_close={"after_hours": 2, "message": "Encerrado."})
    first = client_message(runtime, company.id, chat)
    run(runtime)
    clock.now += timedelta(hours=1)
    client_message(runtime, company.id, chat, client_id=first.client_id)
    run(runtime)
    clock.now += timedelta(hours=1, minutes=59)  # 2 h after the first, 1:59 after the last
    run(runtime)
    assert _dialog(runtime, first.dialog_id).state == "open"
    clock.now += timedelta(minutes=1)
    run(runtime)
    run(runtime)
    assert _dialog(runtime, first.dialog_id).state == "closed"
    assert autoreplies(runtime, first.dialog_id) == ["Encerrado."]
    assert _close_events(runtime, first.dialog_id) == 1
    again = client_message(runtime, company.id, chat, client_id=first.client_id)
    assert again.request_id != first.request_id  # the next message opens a new request
    assert _dialog(runtime, first.dialog_id).state == "open"


def test_auto_close_is_off_by_default(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    arrived = client_message(runtime, company.id, chat)
    run(runtime)
    clock.now += timedelta(days=30)
    run(runtime)
    assert _dialog(runtime, arrived.dialog_id).state == "open"


def _survey(
    runtime: Runtime, company: CompanyFixture, chat: int, **extra: object
) -> tuple[int, int]:
    with runtime.db.transaction() as session:
        great = create_tag(session, company_id=company.id, label="elogio").id
        rating = save_rating(
            session,
            company_id=company.id,
            data={
                "name": "NPS",
                "question": "De 1 a 5, como foi o atendimento?",
                "channel_ids": [chat],
                "scale": [
                    {"value": 1, "answers": ["1", "péssimo"], "thanks": "Sentimos muito."},
                    {"value": 3, "answers": ["3", "ok"], "thanks": "Obrigado."},
                    {"value": 5, "answers": ["5", "ótimo", "5+"], "thanks": "Valeu!",
                     "tag_id": great},
                ],
                **extra,
            },
        )  # fmt: skip
        return rating.id, great


def test_the_survey_after_an_operator_answered_and_the_score_stored(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    _rating_id, _great = _survey(runtime, company, chat)
    arrived = client_message(runtime, company.id, chat, text="meu pedido?")
    queued_reply(runtime, company.id, arrived.dialog_id, operator_id=company.admin_id)
    from atendo.core.dialogs.service import assign_dialog

    with runtime.db.transaction() as session:
        assign_dialog(session, company_id=company.id, dialog_id=arrived.dialog_id,
                      operator_id=company.admin_id)  # fmt: skip
    run(runtime)
    close(runtime, company.id, arrived.dialog_id)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == ["De 1 a 5, como foi o atendimento?"]
    client_message(runtime, company.id, chat, client_id=arrived.client_id, text="talvez")
    run(runtime)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id)[1:] == []  # "talvez" is not on the scale
    with runtime.db.reading() as session:
        assert session.scalar(select(func.count(RequestRating.id)).where(
            RequestRating.company_id == company.id)) == 0  # fmt: skip


def test_score_parsing_thanks_tag_and_operator(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    rating_id, great = _survey(runtime, company, chat)
    arrived = client_message(runtime, company.id, chat)
    from atendo.core.dialogs.service import assign_dialog

    with runtime.db.transaction() as session:
        assign_dialog(session, company_id=company.id, dialog_id=arrived.dialog_id,
                      operator_id=company.admin_id)  # fmt: skip
    queued_reply(runtime, company.id, arrived.dialog_id, operator_id=company.admin_id)
    close(runtime, company.id, arrived.dialog_id)
    run(runtime)
    answer = client_message(
        runtime, company.id, chat, client_id=arrived.client_id, text=" ÓTIMO!! "
    )
    run(runtime)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == [
        "De 1 a 5, como foi o atendimento?",
        "Valeu!",
    ]
    with runtime.db.reading() as session:
        question = session.scalars(select(Message).where(
            Message.dialog_id == arrived.dialog_id, Message.type == "autoreply")
            .order_by(Message.id)).first()  # fmt: skip
        assert question is not None and question.buttons == ["1", "3", "5"]
    with runtime.db.reading() as session:
        rows = session.scalars(select(RequestRating).where(RequestRating.company_id == company.id))
        got = [(r.request_id, r.score, r.operator_id, r.rating_id, r.answer) for r in rows]
        assert got == [(arrived.request_id, 5, company.admin_id, rating_id, " ÓTIMO!! ")]
        tags = session.scalars(select(TagAssignment.tag_id).where(
            TagAssignment.assignee_type == "request",
            TagAssignment.assignee_id == arrived.request_id))  # fmt: skip
        assert list(tags) == [great]
        events = session.scalars(select(Event.payload).where(
            Event.type == "new_rating", Event.dialog_id == arrived.dialog_id))  # fmt: skip
        assert [(e["request_id"], e["score_value"], e["operator_id"]) for e in events] == [
            (arrived.request_id, 5, company.admin_id)
        ]
        # The answer opened a request of its own; it was closed again.
        answered = session.get(Request, answer.request_id)
        assert answered is not None and answered.state == "closed"


def test_no_survey_without_an_operator_answer(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    _survey(runtime, company, chat)
    configure(runtime, company.id, chat, greetings={"new_in_hours": "Olá!"})
    arrived = client_message(runtime, company.id, chat)
    run(runtime)
    close(runtime, company.id, arrived.dialog_id)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == ["Olá!"]


def test_one_invitation_per_client_in_twelve_hours(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    _survey(runtime, company, chat)
    question = "De 1 a 5, como foi o atendimento?"
    client_id = None
    dialog_id = 0
    for hours in (0, 11, 2):
        clock.now += timedelta(hours=hours)
        arrived = client_message(runtime, company.id, chat, client_id=client_id)
        client_id, dialog_id = arrived.client_id, arrived.dialog_id
        queued_reply(runtime, company.id, dialog_id, operator_id=company.admin_id)
        close(runtime, company.id, dialog_id)
        run(runtime)
    assert autoreplies(runtime, dialog_id) == [question, question]  # at 0 h and 13 h


def test_two_workers_handle_each_trigger_exactly_once(isolated_runtime: Runtime) -> None:
    runtime = isolated_runtime
    company = make_company(runtime)
    chat = external_channel(runtime, company.id)
    # No 12-hour limit: a trigger handled twice would greet twice.
    configure(runtime, company.id, chat,
              greetings={"new_in_hours": "Olá!", "min_interval_hours": 0})  # fmt: skip
    dialogs = [client_message(runtime, company.id, chat).dialog_id for _ in range(12)]

    async def two_workers() -> None:
        await asyncio.gather(automation_round(runtime), automation_round(runtime))

    asyncio.run(two_workers())
    asyncio.run(two_workers())
    assert [autoreplies(runtime, d) for d in dialogs] == [["Olá!"]] * 12


def test_a_newer_client_message_not_yet_handled_postpones_the_close(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    """A worker reaches a due close before another has handled the client's newest message:
    the close is postponed from that message, not done."""
    from atendo.core.automation.engine import run_due_closes

    chat = external_channel(runtime, company.id)
    configure(runtime, company.id, chat, auto_close={"after_hours": 2})
    first = client_message(runtime, company.id, chat)
    run(runtime)
    clock.now += timedelta(hours=1, minutes=50)
    client_message(runtime, company.id, chat, client_id=first.client_id)  # trigger pending
    clock.now += timedelta(minutes=11)
    said: list[str] = []
    with runtime.db.transaction() as session:
        closed = run_due_closes(session, say=lambda dialog, text: said.append(text))
    assert (closed, said) == (0, [])
    assert _dialog(runtime, first.dialog_id).state == "open"
    with runtime.db.reading() as session:
        state = session.scalars(
            select(DialogAutomation).where(DialogAutomation.dialog_id == first.dialog_id)
        ).one()
        assert state.close_due == datetime(2026, 12, 7, 18, 50, tzinfo=UTC)


def test_a_failing_trigger_is_retried_then_dropped_without_blocking_the_dialog(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    """A channel whose transport is gone cannot answer: its trigger is tried again a minute
    later, dropped after an hour; the dialog's later triggers wait for it, then run."""
    from atendo.core.channels.service import create_channel

    with runtime.db.transaction() as session:
        gone = create_channel(session, company_id=company.id, transport="gone", name="Old",
                              settings={}, secrets={}, box=runtime.box).id  # fmt: skip
    configure(runtime, company.id, gone, greetings={"new_in_hours": "Olá!"},
              auto_close={"after_hours": 48})  # fmt: skip
    first = client_message(runtime, company.id, gone)

    def due(message_id: int) -> datetime | None:
        with runtime.db.reading() as session:
            return session.scalars(select(Event.automation_due).where(
                Event.type == "inbox", Event.payload["message_id"].as_integer() == message_id
            )).one()  # fmt: skip

    run(runtime)
    assert due(first.message_id) == clock.now + timedelta(minutes=1)
    second = client_message(runtime, company.id, gone, client_id=first.client_id)
    run(runtime)  # the first is not due again yet; the second waits behind it
    assert due(second.message_id) is not None
    clock.now += timedelta(hours=1, minutes=1)
    run(runtime)  # the first fails once more, past an hour: dropped; then the second runs
    run(runtime)
    assert (due(first.message_id), due(second.message_id)) == (None, None)
    with runtime.db.reading() as session:
        state = session.scalars(
            select(DialogAutomation).where(DialogAutomation.dialog_id == first.dialog_id)
        ).one()
        # The second trigger ran (its auto-close time is set from it); the greeting could not.
        assert state.close_due == clock.now - timedelta(hours=1, minutes=1) + timedelta(hours=48)
        assert state.greeted_at is None
