"""Two ``atendo serve`` processes on one PostgreSQL database: what is written through one
reaches a visitor connected to the other by LISTEN/NOTIFY (``atendo.kit.wake``).

Both processes run with the widget's fallback reads an hour apart
(``ATENDO_WIDGET_HUB_TICK``, ``ATENDO_WIDGET_DELIVERY_POLL``): an answer that arrives at all
arrived because a notification woke the delivery loop and the other process's hub. The
visitors' process runs no workers, so the operator's process delivers. On SQLite (one
process) the same wake-ups are in-process: see ``test_widget.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from atendo.runtime import Runtime
from tests.conftest import make_company
from tests.transports.widget.processes import serving_on_postgres

HOUR = "3600"
WAIT = 60.0  # a limit for a broken build, not a measure: the answer comes in milliseconds


@pytest.fixture(scope="module")
def servers(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``operators``: an ``atendo serve`` with its workers; ``visitors``: one without."""
    with serving_on_postgres(
        runtime,
        tmp_path_factory,
        {"operators": (), "visitors": ("--no-workers",)},
        ATENDO_WIDGET_HUB_TICK=HOUR,
        ATENDO_WIDGET_DELIVERY_POLL=HOUR,
        ATENDO_WORKER_TICK=HOUR,  # the shared outbox worker: not the widget's way
    ) as bases:
        yield bases


async def _frame(sock: Any, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of ``kind`` whose message has these fields (others are skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            data: dict[str, Any] = json.loads(await sock.recv())
            if data.get("t") == kind and all(
                data.get("m", {}).get(k) == v for k, v in match.items()
            ):
                return data


def test_an_answer_written_in_one_process_reaches_a_visitor_on_another(
    runtime: Runtime, servers: dict[str, str]
) -> None:
    company = make_company(runtime, "Cross")
    operators, visitors = servers["operators"], servers["visitors"]
    auth = {"Authorization": company.token}
    channel = httpx.post(
        f"{operators}/v1/channels",
        json={"transport": "widget", "name": "Site", "allowed_origins": ["http://127.0.0.1:9"]},
        headers=auth,
    )
    assert channel.status_code == 201, channel.text
    public_id = channel.json()["data"]["public_id"]

    async def scenario(http: httpx.AsyncClient) -> None:
        session = await http.post(
            f"{visitors}/widget/{public_id}/session", json={}, headers={"origin": visitors}
        )
        token = session.json()["token"]
        ws = visitors.replace("http", "ws", 1) + f"/widget/{public_id}/ws?token={token}"
        ws_other = operators.replace("http", "ws", 1) + f"/widget/{public_id}/ws?token={token}"
        async with (
            websockets.connect(ws, origin=visitors) as tab,  # type: ignore[arg-type]
            websockets.connect(ws_other, origin=operators) as other_tab,  # type: ignore[arg-type]
        ):
            await _frame(tab, "hello")
            await _frame(other_tab, "hello")
            # the visitor writes in a tab on the operators' process: their tab on the
            # visitors' process (anonymous until now) shows it, and learns who they are
            await other_tab.send(json.dumps({"t": "msg", "text": "oi, tudo bem?", "key": "c1"}))
            ack = await _frame(other_tab, "ack")
            mine = await _frame(tab, "msg", author="visitor")
            assert (mine["m"]["id"], mine["m"]["text"]) == (ack["id"], "oi, tudo bem?")
            got = (await http.get(f"{operators}/v1/messages/{ack['id']}", headers=auth)).json()[
                "data"
            ]
            # the operator answers through the API of the operators' process
            answer = await http.post(
                f"{operators}/v1/messages",
                json={"dialog_id": got["dialog_id"], "text": "Tudo, e você?"},
                headers=auth,
            )
            assert answer.status_code == 200, answer.text
            shown = await _frame(tab, "msg", author="operator")
            assert (shown["m"]["id"], shown["m"]["text"]) == (
                answer.json()["data"]["message_id"],
                "Tudo, e você?",
            )
            # and a second answer, to a visitor now known as a client from the start
            again = await http.post(
                f"{operators}/v1/messages",
                json={"dialog_id": got["dialog_id"], "text": "Posso ajudar?"},
                headers=auth,
            )
            assert again.status_code == 200, again.text
            shown = await _frame(tab, "msg", author="operator", text="Posso ajudar?")
            assert shown["m"]["id"] == again.json()["data"]["message_id"]

    async def main() -> None:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            await scenario(http)

    asyncio.run(main())
