"""Greetings: the text by client kind and working hours, once per request, at most once per
client in the interval; never to automatic mail (RFC 3834), never between two installations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from atendo.runtime import Runtime
from tests.automation.helpers import Clock, autoreplies, close, configure, run
from tests.conftest import CompanyFixture
from tests.factories import client_mail, client_message, email_channel, external_channel

GREETINGS = {
    "new_in_hours": "Olá {cliente.nome}, bem-vindo ao {canal.nome}!",
    "new_out_of_hours": "Estamos fechados; respondemos amanhã.",
    "returning_in_hours": "Que bom te ver de novo!",
    "returning_out_of_hours": "De novo aqui, mas estamos fechados.",
}
# Monday to Friday, 09:00-18:00 in São Paulo (UTC-3).
HOURS = {
    "timezone": "America/Sao_Paulo",
    "week": [{"day": d, "start": "09:00", "end": "18:00"} for d in range(1, 6)],
    "holidays": ["2026-12-25"],
}
MONDAY_NOON = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
SUNDAY_NOON = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
CHRISTMAS_NOON = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)  # a Friday, a holiday


def test_new_client_in_hours_is_greeted_once_per_request(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id, name="Loja")
    configure(runtime, company.id, chat, greetings=GREETINGS, working_hours=HOURS)
    first = client_message(runtime, company.id, chat, phone="+5511900000101", text="oi")
    run(runtime)
    client_message(runtime, company.id, chat, client_id=first.client_id, text="tem alguém?")
    run(runtime)
    run(runtime)  # nothing left to do: still one greeting
    assert autoreplies(runtime, first.dialog_id) == ["Olá , bem-vindo ao Loja!"]


@pytest.mark.parametrize(
    ("moment", "returning", "expected"),
    [
        (MONDAY_NOON, False, GREETINGS["new_in_hours"]),
        (SUNDAY_NOON, False, GREETINGS["new_out_of_hours"]),
        (CHRISTMAS_NOON, False, GREETINGS["new_out_of_hours"]),
        (MONDAY_NOON, True, GREETINGS["returning_in_hours"]),
        (SUNDAY_NOON, True, GREETINGS["returning_out_of_hours"]),
    ],
)
def test_the_text_follows_client_kind_and_working_hours(
    runtime: Runtime,
    company: CompanyFixture,
    clock: Clock,
    moment: datetime,
    returning: bool,
    expected: str,
) -> None:
    chat = external_channel(runtime, company.id, name="Loja")
    configure(runtime, company.id, chat, greetings=GREETINGS, working_hours=HOURS)
    phone = f"+55119{int(moment.timestamp()) % 10**8:08d}{int(returning)}"
    if returning:
        clock.now = moment - timedelta(days=3)
        old = client_message(runtime, company.id, chat, phone=phone)
        run(runtime)
        close(runtime, company.id, old.dialog_id)
        run(runtime)
    clock.now = moment
    arrived = client_message(runtime, company.id, chat, phone=phone)
    run(runtime)
    texts = autoreplies(runtime, arrived.dialog_id)
    assert texts[-1].replace("Olá , bem-vindo ao Loja!", GREETINGS["new_in_hours"]) == expected
    assert len(texts) == (2 if returning else 1)


def test_at_most_once_per_client_in_the_interval(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    configure(
        runtime,
        company.id,
        chat,
        greetings={"new_in_hours": "Olá!", "returning_in_hours": "De novo!"},
    )
    first = client_message(runtime, company.id, chat, phone="+5511900000201")
    run(runtime)
    close(runtime, company.id, first.dialog_id)
    clock.now += timedelta(hours=11)
    client_message(runtime, company.id, chat, client_id=first.client_id)  # a new request
    run(runtime)
    assert autoreplies(runtime, first.dialog_id) == ["Olá!"]
    close(runtime, company.id, first.dialog_id)
    clock.now += timedelta(hours=2)  # 13 h after the greeting
    client_message(runtime, company.id, chat, client_id=first.client_id)
    run(runtime)
    assert autoreplies(runtime, first.dialog_id) == ["Olá!", "De novo!"]


def test_an_empty_text_sends_nothing(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    configure(runtime, company.id, chat, greetings={"new_out_of_hours": "Fechado"})
    arrived = client_message(runtime, company.id, chat)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == []


AUTOMATIC = [
    ("Auto-Submitted: auto-replied", "ana@example.org"),
    ("Auto-Submitted: auto-generated", "ana@example.org"),
    ("Precedence: bulk", "ana@example.org"),
    ("Precedence: list", "ana@example.org"),
    ("Precedence: junk", "ana@example.org"),
    ("List-Id: <news.example.org>", "ana@example.org"),
    ("List-Unsubscribe: <mailto:leave@example.org>", "ana@example.org"),
    ("X-Note: none", "noreply@example.org"),
    ("X-Note: none", "no-reply@example.org"),
]


def _raw(header: str, sender: str, mid: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@acme.example\r\nSubject: Aviso\r\n"
        f"Message-ID: <{mid}>\r\n{header}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nTexto\r\n"
    ).encode()


@pytest.mark.parametrize(("header", "sender"), AUTOMATIC)
def test_automatic_or_bulk_mail_is_never_answered(
    runtime: Runtime, company: CompanyFixture, clock: Clock, header: str, sender: str
) -> None:
    channel = email_channel(runtime, company.id, address=f"s{company.id}@acme.example")
    configure(runtime, company.id, channel, greetings={"new_in_hours": "Olá!"})
    arrived = client_mail(runtime, channel, raw=_raw(header, sender, f"{company.id}@x.example"))
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == []


def test_auto_submitted_no_is_answered(
    runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    channel = email_channel(runtime, company.id, address=f"s{company.id}@acme.example")
    configure(runtime, company.id, channel, greetings={"new_in_hours": "Olá!"})
    raw = _raw("Auto-Submitted: no", "ana@example.org", f"{company.id}@y.example")
    arrived = client_mail(runtime, channel, raw=raw)
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == ["Olá!"]
