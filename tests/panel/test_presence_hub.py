"""The panel's presence hub (``atendo.panel.presence``) without a browser, on both databases:
what each live stream is handed as operators open a chat, type, keep alive, lose the chat to
someone else, vanish without a word and leave; and that another company's stream gets none
of it.

The hub reads only when woken (a committed change: LISTEN/NOTIFY on PostgreSQL, in-process on
SQLite), when a stream starts, and when the oldest row expires.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from atendo.core.operators.models import Operator
from atendo.core.operators.service import create_operator
from atendo.core.team.presence import leave_chat, see_chat
from atendo.core.team.routing import transfer_dialog
from atendo.kit.clock import utcnow
from atendo.kit.db import get_scoped
from atendo.panel.auth import PanelUser
from atendo.panel.presence import PresenceHub, Shown, Watcher
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel

WAIT = 30.0  # a limit for a broken build, not a measure: a change arrives in milliseconds


def _operator(runtime: Runtime, company_id: int, name: str, role: str = "operator") -> PanelUser:
    with runtime.db.transaction() as session:
        op = create_operator(
            session,
            company_id=company_id,
            email=f"{name.lower()}-{company_id}@presence-hub.example",
            password="uma senha longa",
            first_name=name,
        )
        return _user(op, role)


def _user(op: Operator, role: str) -> PanelUser:
    return PanelUser(
        id=op.id,
        company_id=op.company_id,
        role=role,
        email=op.email,
        name=op.full_name,
        language="pt_BR",
        timezone="America/Sao_Paulo",
        csrf="",
        session_id=0,
    )


def _admin(runtime: Runtime, company: CompanyFixture, name: str) -> PanelUser:
    with runtime.db.transaction() as session:
        op = get_scoped(session, Operator, company.admin_id, company_id=company.id)
        assert op is not None
        op.first_name = name
        return _user(op, "admin")


def _shown(item: Shown) -> tuple[int, list[tuple[str, str]] | None]:
    dialog_id, others = item
    return dialog_id, None if others is None else [(p.name, p.state) for p in others]


async def _next(watcher: Watcher) -> tuple[int, list[tuple[str, str]] | None]:
    return _shown(await asyncio.wait_for(watcher.queue.get(), WAIT))


async def _settle() -> None:
    for _ in range(10):  # the hand-outs of one read are callbacks of this loop
        await asyncio.sleep(0)


def test_each_stream_gets_the_others_on_its_chat_as_they_change(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    ana = _admin(runtime, company, "Ana")
    bruno = _operator(runtime, company.id, "Bruno")
    carla = _operator(runtime, company.id, "Carla")
    ze = _admin(runtime, other_company, "Zé")
    chat = client_message(runtime, company.id, external_channel(runtime, company.id)).dialog_id
    elsewhere = client_message(
        runtime, other_company.id, external_channel(runtime, other_company.id)
    ).dialog_id

    def on(user: PanelUser, dialog_id: int, state: str = "viewing", **kw: object) -> bool:
        with runtime.db.transaction() as session:
            return see_chat(
                session,
                company_id=user.company_id,
                dialog_id=dialog_id,
                operator_id=user.id,
                state=state,
                **kw,  # type: ignore[arg-type]
            )

    async def scenario() -> None:
        hub = PresenceHub(runtime)
        watching = [await hub.watch(u) for u in (ana, bruno, carla, ze)]
        ana_w, bruno_w, carla_w, ze_w = watching
        await _settle()
        assert all(w.queue.empty() for w in watching)  # nobody is on a chat yet

        # Ana and Bruno open the chat; Zé, in another company, his own.
        assert await asyncio.to_thread(on, ze, elsewhere)
        assert await _next(ze_w) == (elsewhere, [])
        assert await asyncio.to_thread(on, ana, chat)
        assert await _next(ana_w) == (chat, [])
        assert await asyncio.to_thread(on, bruno, chat)
        assert await _next(ana_w) == (chat, [("Bruno", "viewing")])
        assert await _next(bruno_w) == (chat, [("Ana", "viewing")])

        # Bruno types; saying it again (a keep-alive) is no news for anyone.
        assert await asyncio.to_thread(on, bruno, chat, "typing")
        assert await _next(ana_w) == (chat, [("Bruno", "typing")])
        assert not await asyncio.to_thread(on, bruno, chat, "typing")
        assert await asyncio.to_thread(on, ana, chat, "typing")
        assert await _next(bruno_w) == (chat, [("Ana", "typing")])
        await _settle()
        assert ana_w.queue.empty()

        # The chat goes to Carla: Bruno (an operator) may no longer see it. His line is
        # emptied once at the next change, and nothing of the chat reaches him after that.
        def to_carla() -> None:
            with runtime.db.transaction() as session:
                transfer_dialog(
                    session, company_id=company.id, dialog_id=chat, operator_id=carla.id
                )

        await asyncio.to_thread(to_carla)
        assert await asyncio.to_thread(on, carla, chat)
        assert await _next(carla_w) == (chat, [("Ana", "typing"), ("Bruno", "typing")])
        assert await _next(ana_w) == (chat, [("Bruno", "typing"), ("Carla", "viewing")])
        assert await _next(bruno_w) == (chat, [])
        assert await asyncio.to_thread(on, ana, chat, "viewing")
        assert await _next(carla_w) == (
            chat,
            [("Bruno", "typing"), ("Ana", "viewing")],
        )  # typing first
        await _settle()
        assert bruno_w.queue.empty()

        # Bruno's browser vanishes: his last word stays his row's time. Ana, Carla (and Zé) keep
        # theirs alive (a keep-alive: no news); once his row is older than the hub's
        # freshness it is gone, and nothing but the expiry told the hub.
        assert not await asyncio.to_thread(on, bruno, chat, "typing")
        later = utcnow() + timedelta(hours=1)
        assert not await asyncio.to_thread(on, ana, chat, "viewing", now=later)
        assert not await asyncio.to_thread(on, carla, chat, "viewing", now=later)
        assert not await asyncio.to_thread(on, ze, elsewhere, "viewing", now=later)
        hub.fresh = timedelta(seconds=3)
        hub.nudge()
        assert await _next(carla_w) == (chat, [("Ana", "viewing")])
        assert await _next(ana_w) == (chat, [("Carla", "viewing")])

        # Carla leaves (her last tab closed): Ana's line empties, and Carla's stream hears that
        # she is no longer on the chat (a tab of hers still showing it would say it is).
        def carla_leaves() -> bool:
            with runtime.db.transaction() as session:
                return leave_chat(
                    session, company_id=company.id, dialog_id=chat, operator_id=carla.id
                )

        assert await asyncio.to_thread(carla_leaves)
        assert await _next(ana_w) == (chat, [])
        assert await _next(carla_w) == (chat, None)

        # Zé, in another company, got his own chat's (empty) line and nothing else.
        await _settle()
        assert ze_w.queue.empty()
        for w in watching:
            hub.unwatch(w)
        assert hub._task is not None
        hub._task.cancel()

    asyncio.run(scenario())
