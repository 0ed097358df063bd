"""The team's core verbs on the real database (SQLite, or PostgreSQL with
ATENDO_TEST_DATABASE_URL): routing by each group rule with limits and the queue, statuses and
the inactivity timeout, per-operator unread, the timeline, @mentions."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from tests.conftest import make_company
from tests.factories import client_message, external_channel

from atendo.core.channels.service import set_channel_group
from atendo.core.companies.service import list_audit, update_team_settings
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import (
    close_dialog,
    get_dialog,
    mark_dialog_read,
    reopen_dialog,
    unread_for,
)
from atendo.core.enums import EventType, OperatorStatus
from atendo.core.events.models import Event
from atendo.core.messages.outgoing import add_comment
from atendo.core.operators.service import create_group, create_operator, update_operator
from atendo.core.team.routing import Candidate, choose, route_queue, transfer_dialog
from atendo.core.team.statuses import expire_inactive, set_operator_status, time_per_status
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime


def _operator(runtime: Runtime, company_id: int, name: str, *, online: bool = True) -> int:
    with runtime.db.transaction() as session:
        op = create_operator(
            session,
            company_id=company_id,
            email=f"{name.lower()}-{random.randrange(10**9)}@team.example",
            password="uma senha longa",
            first_name=name,
        )
        if online:
            set_operator_status(
                session, company_id=company_id, operator_id=op.id, status=OperatorStatus.WORKING
            )
        return op.id


def _owners(runtime: Runtime, dialog_ids: list[int]) -> list[int | None]:
    with runtime.db.reading() as session:
        return [session.get(Dialog, d).operator_id for d in dialog_ids]  # type: ignore[union-attr]


def _route(runtime: Runtime, company_id: int, seed: int = 1) -> list[tuple[int, int]]:
    with runtime.db.transaction() as session:
        return route_queue(session, company_id=company_id, rng=random.Random(seed))


def test_a_new_request_waits_in_the_queue_and_goes_to_the_least_busy_online_member(
    runtime: Runtime,
) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    bruno = _operator(runtime, company.id, "Bruno")
    _offline = _operator(runtime, company.id, "Carla", online=False)
    outsider = _operator(runtime, company.id, "Davi")  # online, not in the group
    channel = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        group = create_group(
            session,
            company_id=company.id,
            name="Vendas",
            members={ana: 50, bruno: 50, _offline: 90},
        )
        set_channel_group(session, company_id=company.id, channel_id=channel, group_id=group.id)
    arrived = [client_message(runtime, company.id, channel).dialog_id for _ in range(4)]
    with runtime.db.reading() as session:
        assert all(session.get(Dialog, d).queued_at is not None for d in arrived)  # type: ignore[union-attr]
    handed = _route(runtime, company.id)
    # Loads 0/0 → Ana (lower id), then Bruno, Ana, Bruno: never the offline or the outsider.
    assert handed == [
        (arrived[0], ana),
        (arrived[1], bruno),
        (arrived[2], ana),
        (arrived[3], bruno),
    ]
    assert outsider not in _owners(runtime, arrived)
    with runtime.db.reading() as session:
        assert all(session.get(Dialog, d).queued_at is None for d in arrived)  # type: ignore[union-attr]
    assert _route(runtime, company.id) == []  # each handed out exactly once


def test_limits_hold_chats_in_the_queue_until_someone_frees_a_slot_or_comes_online(
    runtime: Runtime,
) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    bia = _operator(runtime, company.id, "Bia", online=False)
    with runtime.db.transaction() as session:
        update_operator(session, company_id=company.id, operator_id=ana, max_open_dialogs=2)
        update_operator(
            session, company_id=company.id, operator_id=company.admin_id, new_chats_unavailable=True
        )
    channel = external_channel(runtime, company.id)
    arrived = [client_message(runtime, company.id, channel).dialog_id for _ in range(4)]
    assert [op for _d, op in _route(runtime, company.id)] == [ana, ana]
    assert _owners(runtime, arrived) == [ana, ana, None, None]
    with runtime.db.transaction() as session:
        close_dialog(session, company_id=company.id, dialog_id=arrived[0], by_operator_id=ana)
    assert _route(runtime, company.id) == [(arrived[2], ana)]  # oldest first
    with runtime.db.transaction() as session:
        set_operator_status(
            session, company_id=company.id, operator_id=bia, status=OperatorStatus.WORKING
        )
    assert _route(runtime, company.id) == [(arrived[3], bia)]


def test_most_skilled_and_probability_rules() -> None:
    cands = [Candidate(1, 30, 0, None), Candidate(2, 90, 5, None), Candidate(3, 90, 2, 2)]
    # Highest skill; 3 is at its limit, so 2 (skill 90) despite its load.
    assert choose("most_skilled", cands, random.Random(0)).operator_id == 2  # type: ignore[union-attr]
    assert choose("least_busy", cands, random.Random(0)).operator_id == 1  # type: ignore[union-attr]
    picks = [choose("probability", cands, random.Random(seed)).operator_id for seed in range(400)]  # type: ignore[union-attr]
    assert set(picks) == {1, 2}
    # Weighted by skill (30 : 90): operator 2 is picked about three times as often.
    assert picks.count(2) > 2 * picks.count(1)
    assert choose("least_busy", [Candidate(1, 50, 3, 3)], random.Random(0)) is None


def test_most_skilled_group_routes_by_skill_with_ties_by_load(runtime: Runtime) -> None:
    company = make_company(runtime)
    junior = _operator(runtime, company.id, "Junior")
    senior = _operator(runtime, company.id, "Senior")
    senior2 = _operator(runtime, company.id, "Senior2")
    channel = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        group = create_group(
            session,
            company_id=company.id,
            name="N2",
            rule="most_skilled",
            members={junior: 20, senior: 80, senior2: 80},
        )
        set_channel_group(session, company_id=company.id, channel_id=channel, group_id=group.id)
    arrived = [client_message(runtime, company.id, channel).dialog_id for _ in range(3)]
    assert [op for _d, op in _route(runtime, company.id)] == [senior, senior2, senior]
    assert junior not in _owners(runtime, arrived)


def test_transfer_with_a_comment_force_assign_and_the_timeline(runtime: Runtime) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    off = _operator(runtime, company.id, "Otto", online=False)
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    with runtime.db.transaction() as session:
        transfer_dialog(
            session,
            company_id=company.id,
            dialog_id=dialog_id,
            operator_id=ana,
            comment="Cliente VIP",
            by_operator_id=company.admin_id,
            force=False,
        )
    refused = None
    try:
        with runtime.db.transaction() as session:
            transfer_dialog(
                session, company_id=company.id, dialog_id=dialog_id, operator_id=off, force=False
            )
    except Exception as exc:
        refused = exc
    assert refused is not None and getattr(refused, "status_code", None) == 409
    assert _owners(runtime, [dialog_id]) == [ana]
    with runtime.db.transaction() as session:
        transfer_dialog(
            session,
            company_id=company.id,
            dialog_id=dialog_id,
            operator_id=off,
            force=True,
            by_operator_id=ana,
        )
        close_dialog(session, company_id=company.id, dialog_id=dialog_id, by_operator_id=off)
        reopen_dialog(session, company_id=company.id, dialog_id=dialog_id, by_operator_id=ana)
    with runtime.db.reading() as session:
        entries, _n = list_audit(session, company_id=company.id, dialog_id=dialog_id)
        events = list(
            session.scalars(
                select(Event.type).where(Event.dialog_id == dialog_id).order_by(Event.id)
            )
        )
    assert [(e.kind, e.operator_id, (e.details or {}).get("comment")) for e in entries] == [
        ("assigned", company.admin_id, "Cliente VIP"),
        ("transferred", ana, ""),
        ("closed", off, None),
        ("reopened", ana, None),
    ]
    assert events[-4:] == [
        "dialog_transferred",
        "dialog_transferred",
        "close_dialog",
        "reopen_dialog",
    ]


def test_unread_belongs_to_each_operator(runtime: Runtime) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    channel = external_channel(runtime, company.id)
    first = client_message(runtime, company.id, channel, phone="+5511911110000")
    with runtime.db.transaction() as session:
        transfer_dialog(session, company_id=company.id, dialog_id=first.dialog_id, operator_id=ana)
    client_message(runtime, company.id, channel, client_id=first.client_id, text="de novo")
    supervisor = company.admin_id
    with runtime.db.transaction() as session:
        mark_dialog_read(
            session, company_id=company.id, dialog_id=first.dialog_id, operator_id=supervisor
        )
    with runtime.db.reading() as session:
        dialog = get_dialog(session, company_id=company.id, dialog_id=first.dialog_id)
        assert dialog.unread == 2  # the supervisor's look left Ana's badge
        assert unread_for(session, operator_id=supervisor, dialogs=[dialog]) == {dialog.id: 0}
        assert unread_for(session, operator_id=ana, dialogs=[dialog]) == {dialog.id: 2}
    client_message(runtime, company.id, channel, client_id=first.client_id, text="oi?")
    with runtime.db.reading() as session:
        dialog = get_dialog(session, company_id=company.id, dialog_id=first.dialog_id)
        assert unread_for(session, operator_id=supervisor, dialogs=[dialog]) == {dialog.id: 1}
    with runtime.db.transaction() as session:
        mark_dialog_read(session, company_id=company.id, dialog_id=first.dialog_id, operator_id=ana)
    with runtime.db.reading() as session:
        assert get_dialog(session, company_id=company.id, dialog_id=first.dialog_id).unread == 0


def test_statuses_time_out_only_from_the_panel_and_requeue_on_offline(runtime: Runtime) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    api_op = _operator(runtime, company.id, "Robo", online=False)
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    with runtime.db.transaction() as session:
        update_team_settings(
            session, company_id=company.id, inactivity_minutes=5, requeue_on_offline=True
        )
        set_operator_status(
            session,
            company_id=company.id,
            operator_id=api_op,
            status=OperatorStatus.WORKING,
            source="api",
        )
        transfer_dialog(session, company_id=company.id, dialog_id=dialog_id, operator_id=ana)
    later = utcnow() + timedelta(minutes=6)
    with runtime.db.transaction() as session:
        gone = expire_inactive(session, now=later)
    assert ana in gone and api_op not in gone
    with runtime.db.reading() as session:
        dialog = get_dialog(session, company_id=company.id, dialog_id=dialog_id)
        assert (dialog.operator_id, dialog.queued_at is not None) == (None, True)
        spans = time_per_status(
            session,
            company_id=company.id,
            since=utcnow() - timedelta(hours=1),
            until=later,
            operator_id=ana,
        )
    assert [s["status"] for s in spans] == ["working"]
    assert _route(runtime, company.id) == [(dialog_id, api_op)]


def test_an_at_mention_in_a_note_tells_the_operator_named(runtime: Runtime) -> None:
    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana")
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    with runtime.db.reading() as session:
        from atendo.core.operators.models import Operator

        handle = session.get(Operator, ana).email.split("@")[0]  # type: ignore[union-attr]
    with runtime.db.transaction() as session:
        add_comment(
            session,
            company_id=company.id,
            dialog_id=dialog_id,
            operator_id=company.admin_id,
            text=f"@{handle} pode ver?",
        )
        add_comment(
            session,
            company_id=company.id,
            dialog_id=dialog_id,
            operator_id=company.admin_id,
            text="ninguém aqui, email@ana",
        )
    with runtime.db.reading() as session:
        payloads = list(
            session.scalars(
                select(Event.payload).where(
                    Event.dialog_id == dialog_id, Event.type == EventType.MENTION.value
                )
            )
        )
    assert [p["operator_ids"] for p in payloads] == [[ana]]


def test_concurrent_routing_rounds_never_hand_a_chat_twice_or_pass_a_limit(
    runtime: Runtime,
) -> None:
    """Four rounds at once (threads with their own connections, as four workers would be):
    each chat is handed out once and no operator goes over their limit."""
    from concurrent.futures import ThreadPoolExecutor

    company = make_company(runtime)
    ops = [_operator(runtime, company.id, f"Op{i}") for i in range(5)]
    with runtime.db.transaction() as session:
        for op in ops:
            update_operator(session, company_id=company.id, operator_id=op, max_open_dialogs=3)
    channel = external_channel(runtime, company.id)
    arrived = [client_message(runtime, company.id, channel).dialog_id for _ in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        rounds = list(pool.map(lambda seed: _route(runtime, company.id, seed), range(8)))
    handed = [pair for r in rounds for pair in r]
    assert sorted(d for d, _op in handed) == sorted(set(d for d, _op in handed))
    assert len(handed) == 15  # 5 operators × 3
    owners = _owners(runtime, arrived)
    assert sorted(owners.count(op) for op in ops) == [3, 3, 3, 3, 3]
    assert owners[15:] == [None] * 5  # the newest wait
    with runtime.db.reading() as session:
        entries, _n = list_audit(session, company_id=company.id)
    assert len([e for e in entries if e.kind == "assigned"]) == 15


def test_admin_defined_statuses_count_as_online_only_when_working(runtime: Runtime) -> None:
    from atendo.core.operators.models import Operator
    from atendo.core.team.statuses import create_status, delete_status, list_statuses

    company = make_company(runtime)
    ana = _operator(runtime, company.id, "Ana", online=False)
    channel = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        meeting = create_status(session, company_id=company.id, name="Reunião", working=False)
        duty = create_status(session, company_id=company.id, name="Plantão", working=True)
        assert (meeting.key, duty.key) == ("reuniao", "plantao")
        keys = [c.key for c in list_statuses(session, company_id=company.id)]
        assert keys == ["working", "busy", "break", "reuniao", "plantao", "offline"]
        set_operator_status(session, company_id=company.id, operator_id=ana, status="reuniao")
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    assert _route(runtime, company.id) == []  # in a meeting: not online
    with runtime.db.transaction() as session:
        set_operator_status(session, company_id=company.id, operator_id=ana, status="plantao")
    assert _route(runtime, company.id) == [(dialog_id, ana)]
    with runtime.db.transaction() as session:
        delete_status(session, company_id=company.id, key="plantao")
    with runtime.db.reading() as session:
        op = session.get(Operator, ana)
        assert op is not None and (op.status, op.online) == ("offline", False)
    refused = []
    for name in ("Reunião", "working", ""):
        try:
            with runtime.db.transaction() as session:
                create_status(session, company_id=company.id, name=name, working=True)
        except Exception as exc:
            refused.append(getattr(exc, "status_code", None))
    assert refused == [409, 409, 422]
