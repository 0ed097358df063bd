"""The self-service menu end to end: three levels, ``00``/``000``, the end word, unknown
commands, assignment and tagging, the URL action (guarded), the operator taking over and the
timeout that hands the request to the default group."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from atendo.core.automation.service import create_menu_item
from atendo.core.dialogs.models import Dialog
from atendo.core.events.models import Event
from atendo.core.messages.models import Attachment, Message
from atendo.core.operators.service import create_group
from atendo.core.tags.models import TagAssignment
from atendo.core.tags.service import create_tag
from atendo.runtime import Runtime
from tests.automation.helpers import Clock, autoreplies, configure, run
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel, queued_reply

INVITATION = "Como podemos ajudar?"
ROOT = f"{INVITATION}\n\n1 - Vendas\n2 - Peças\n3 - Preços"


def last_buttons(runtime: Runtime, dialog_id: int) -> list[str] | None:
    """The buttons of the dialog's last automatic message, and of its ``outbox`` event."""
    with runtime.db.reading() as session:
        message = session.scalars(
            select(Message)
            .where(Message.dialog_id == dialog_id, Message.type == "autoreply")
            .order_by(Message.id.desc())
        ).first()
        assert message is not None
        event = session.scalars(
            select(Event).where(Event.type == "outbox", Event.dialog_id == dialog_id)
            .order_by(Event.id.desc())
        ).first()  # fmt: skip
        assert event is not None and event.payload["message_id"] == message.id
        assert event.payload.get("buttons") == message.buttons
        return message.buttons


class Menu:
    def __init__(self, runtime: Runtime, company: CompanyFixture, url: str | None = None) -> None:
        self.runtime, self.company = runtime, company
        self.chat = external_channel(runtime, company.id)
        with runtime.db.transaction() as session:
            self.group = create_group(session, company_id=company.id, name="Vendas").id
            self.default_group = create_group(session, company_id=company.id, name="Geral").id
            self.tag = create_tag(session, company_id=company.id, label="novos").id

            def item(**data: Any) -> int:
                return create_menu_item(
                    session, company_id=company.id, channel_id=self.chat, data=data
                ).id

            sales = item(command="1", name="Vendas", text="Vendas: escolha", position=1)
            item(command="2", name="Peças", text="Peças: fale conosco", close=True, position=2)
            item(
                command="3", name="Preços", text="Tabela indisponível", position=3,
                url=url or "http://127.0.0.1:9/none", url_enabled=True,
            )  # fmt: skip
            new = item(command="1", name="Novos", parent_id=sales, position=1)
            item(command="2", name="Usados", text="Um vendedor já vem", parent_id=sales,
                 assign_group_id=self.group, position=2)  # fmt: skip
            item(command="1", name="Detalhes", text="Detalhes aqui", parent_id=new,
                 tag_id=self.tag)  # fmt: skip
        configure(
            runtime, company.id, self.chat,
            menu={"enabled": True, "invitation": INVITATION, "end_word": "Sair",
                  "timeout_minutes": 30, "default_group_id": self.default_group},
        )  # fmt: skip
        self.client_id: int | None = None
        self.dialog_id = 0

    def says(self, text: str) -> list[str]:
        """The client writes ``text``; the worker runs; the new automatic replies."""
        before = len(autoreplies(self.runtime, self.dialog_id)) if self.dialog_id else 0
        arrived = client_message(
            self.runtime, self.company.id, self.chat, client_id=self.client_id, text=text
        )
        self.client_id, self.dialog_id = arrived.client_id, arrived.dialog_id
        run(self.runtime)
        return autoreplies(self.runtime, self.dialog_id)[before:]

    def dialog(self) -> Dialog:
        with self.runtime.db.reading() as session:
            dialog = session.get(Dialog, self.dialog_id)
            assert dialog is not None
            session.expunge(dialog)
            return dialog


def test_three_levels_back_home_unknown_tag_and_assignment(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    menu = Menu(runtime, company)
    assert menu.says("oi") == [ROOT]
    assert last_buttons(runtime, menu.dialog_id) == ["Vendas", "Peças", "Preços"]
    assert menu.says("1") == ["Vendas: escolha\n\n1 - Novos\n2 - Usados"]
    assert last_buttons(runtime, menu.dialog_id) == ["Novos", "Usados"]
    assert menu.says("1") == ["1 - Detalhes"]
    assert menu.says("9") == ["Não entendi. Escolha uma das opções:\n\n1 - Detalhes"]
    assert menu.says(" 1 ") == ["Detalhes aqui"]
    with runtime.db.reading() as session:
        tagged = session.scalars(
            select(TagAssignment.tag_id).where(TagAssignment.assignee_type == "request",
                                               TagAssignment.company_id == company.id)
        )  # fmt: skip
        assert list(tagged) == [menu.tag]
    assert menu.says("000") == ["Vendas\n\n1 - Novos\n2 - Usados"]
    assert menu.says("00") == [ROOT]
    assert menu.says(" VENDAS ") == ["Vendas: escolha\n\n1 - Novos\n2 - Usados"]
    assert menu.says("2") == ["Um vendedor já vem"]
    assert menu.dialog().group_id == menu.group
    assert menu.says("1") == []  # the menu has ended


def test_accents_and_case_do_not_matter_and_close_action(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    menu = Menu(runtime, company)
    menu.says("olá")
    assert menu.says("PECAS") == ["Peças: fale conosco"]
    assert menu.dialog().state == "closed"


def test_the_end_word_closes_the_request(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    menu = Menu(runtime, company)
    menu.says("oi")
    assert menu.says("sáir") == []
    assert menu.dialog().state == "closed"


def test_the_menu_stops_when_an_operator_writes(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    menu = Menu(runtime, company)
    menu.says("oi")
    queued_reply(
        runtime, company.id, menu.dialog_id, text="Oi, sou a Ana", operator_id=company.admin_id
    )
    assert menu.says("1") == []
    assert menu.says("1") == []


def test_the_timeout_hands_the_request_to_the_default_group(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    menu = Menu(runtime, company)
    menu.says("oi")
    clock.now += timedelta(minutes=29)
    run(runtime)
    assert menu.dialog().group_id is None
    clock.now += timedelta(minutes=2)
    run(runtime)
    assert menu.dialog().group_id == menu.default_group
    assert menu.says("1") == []  # no menu any more


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class _Prices(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        picture = self.path.endswith(".png")
        body = PNG if picture else "Preço do dia: R$ 10".encode()
        self.send_response(200)
        self.send_header("Content-Type", "image/png" if picture else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prices_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prices)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prices"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("allow", "expected"), [(True, "Preço do dia: R$ 10"),
                                                 (False, "Tabela indisponível")])  # fmt: skip
def test_the_url_action_goes_through_the_network_guard(
    runtime: Runtime,
    company: CompanyFixture,
    clock: Clock,
    prices_url: str,
    allow: bool,
    expected: str,
) -> None:
    menu = Menu(runtime, company, url=prices_url)
    menu.says("oi")
    before = runtime.settings.webhooks_allow_private_networks
    runtime.settings.webhooks_allow_private_networks = allow
    try:
        assert menu.says("3") == [expected]
    finally:
        runtime.settings.webhooks_allow_private_networks = before


def test_a_reply_file_is_fetched_and_attached(
    runtime: Runtime, company: CompanyFixture, clock: Clock, prices_url: str
) -> None:
    menu = Menu(runtime, company)
    with runtime.db.transaction() as session:
        create_menu_item(session, company_id=company.id, channel_id=menu.chat, data={
            "command": "4", "name": "Mapa", "text": "Nosso endereço",
            "image": prices_url.replace("/prices", "/mapa.png")})  # fmt: skip
    menu.says("oi")
    before = runtime.settings.webhooks_allow_private_networks
    runtime.settings.webhooks_allow_private_networks = True
    try:
        assert menu.says("4") == ["Nosso endereço"]
    finally:
        runtime.settings.webhooks_allow_private_networks = before
    with runtime.db.reading() as session:
        message = session.scalars(select(Message).where(
            Message.dialog_id == menu.dialog_id).order_by(Message.id.desc())).first()  # fmt: skip
        assert message is not None
        files = session.scalars(select(Attachment).where(Attachment.message_id == message.id))
        assert [(f.filename, f.content_type, f.size) for f in files] == [
            ("mapa.png", "image/png", len(PNG))
        ]
