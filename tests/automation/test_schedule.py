"""Working hours with several spans a day, holidays and time zones across DST: exact outcomes
at each boundary, for the schedule itself, the API, the panel's form and the greeting the
client gets (in hours or out of hours)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from atendo.core.automation.service import automation_settings
from atendo.core.automation.settings import WorkingHours, schedule_problems
from atendo.core.operators.service import update_operator
from atendo.runtime import Runtime
from tests.automation.helpers import Clock, autoreplies, configure, run
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]
SPLIT = [{"day": d, "start": s, "end": e} for d in range(1, 6)
         for s, e in (("08:00", "12:00"), ("13:00", "18:00"))]  # fmt: skip


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [  # Monday 2026-12-07 in São Paulo (UTC-3, no DST)
        (_utc(2026, 12, 7, 10, 59, 59), False),  # 07:59:59
        (_utc(2026, 12, 7, 11, 0), True),  # 08:00, the first span opens
        (_utc(2026, 12, 7, 14, 59, 59), True),  # 11:59:59
        (_utc(2026, 12, 7, 15, 0), False),  # 12:00, lunch
        (_utc(2026, 12, 7, 15, 59, 59), False),  # 12:59:59
        (_utc(2026, 12, 7, 16, 0), True),  # 13:00, the second span opens
        (_utc(2026, 12, 7, 20, 59, 59), True),  # 17:59:59
        (_utc(2026, 12, 7, 21, 0), False),  # 18:00, closed
        (_utc(2026, 12, 12, 15, 0), False),  # Saturday noon: no span
    ],
)
def test_two_spans_a_day_hold_from_start_to_end(moment: datetime, expected: bool) -> None:
    hours = WorkingHours(timezone="America/Sao_Paulo", week=SPLIT)  # type: ignore[arg-type]
    assert hours.in_hours(moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Friday 2026-03-06, New York on EST (UTC-5): 08:00 local is 13:00 UTC.
        (_utc(2026, 3, 6, 12, 59), False),
        (_utc(2026, 3, 6, 13, 0), True),
        (_utc(2026, 3, 6, 17, 0), False),  # 12:00
        (_utc(2026, 3, 6, 18, 0), True),  # 13:00
        (_utc(2026, 3, 6, 22, 59), True),  # 17:59
        (_utc(2026, 3, 6, 23, 0), False),  # 18:00
        # Monday 2026-03-09, after the clocks went forward (EDT, UTC-4): one hour earlier in UTC.
        (_utc(2026, 3, 9, 11, 59), False),  # 07:59
        (_utc(2026, 3, 9, 12, 0), True),  # 08:00
        (_utc(2026, 3, 9, 16, 0), False),  # 12:00
        (_utc(2026, 3, 9, 17, 0), True),  # 13:00
        (_utc(2026, 3, 9, 21, 59), True),  # 17:59
        (_utc(2026, 3, 9, 22, 0), False),  # 18:00
        # Sunday 2026-03-08: 01:59 EST is followed by 03:00 EDT; the 02:00-03:00 span never holds.
        (_utc(2026, 3, 8, 6, 59), True),  # 01:59 EST, in the 01:00-02:00 span
        (_utc(2026, 3, 8, 7, 0), False),  # 03:00 EDT
        # Sunday 2026-11-01 01:00-02:00 happens twice (EDT, then EST): both are in hours.
        (_utc(2026, 11, 1, 4, 59), False),  # 00:59 EDT
        (_utc(2026, 11, 1, 5, 0), True),  # 01:00 EDT
        (_utc(2026, 11, 1, 6, 30), True),  # 01:30 EST, the second time
        (_utc(2026, 11, 1, 7, 0), True),  # 02:00 EST, the 02:00-03:00 span
        (_utc(2026, 11, 1, 8, 0), False),  # 03:00 EST
    ],
)
def test_spans_follow_the_wall_clock_across_dst(moment: datetime, expected: bool) -> None:
    week = [*SPLIT, {"day": 7, "start": "01:00", "end": "02:00"},
            {"day": 7, "start": "02:00", "end": "03:00"}]  # fmt: skip
    hours = WorkingHours(timezone="America/New_York", week=week)  # type: ignore[arg-type]
    assert hours.in_hours(moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (_utc(2026, 12, 25, 2, 59), True),  # Thursday 24th 23:59 local: not yet the holiday
        (_utc(2026, 12, 25, 3, 0), False),  # Friday 25th 00:00 local: the holiday
        (_utc(2026, 12, 26, 2, 59), False),  # 25th 23:59 local
        (_utc(2026, 12, 26, 3, 0), True),  # Saturday 00:00 local
    ],
)
def test_a_holiday_is_a_local_day(moment: datetime, expected: bool) -> None:
    week = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]
    hours = WorkingHours(timezone="America/Sao_Paulo", week=week,  # type: ignore[arg-type]
                         holidays=["2026-12-25"])  # type: ignore[list-item]  # fmt: skip
    assert hours.in_hours(moment) is expected


def test_schedule_problems_name_each_bad_span() -> None:
    hours = WorkingHours.model_validate(
        {"week": [
            {"day": 1, "start": "13:00", "end": "18:00"},
            {"day": 1, "start": "08:00", "end": "12:00"},
            {"day": 1, "start": "11:30", "end": "13:30"},
            {"day": 2, "start": "12:00", "end": "12:00"},
            {"day": 3, "start": "22:00", "end": "02:00"},
            {"day": 4, "start": "08:00", "end": "12:00"},
            {"day": 4, "start": "12:00", "end": "24:00"},
        ]}
    )  # fmt: skip
    assert [p.english() for p in schedule_problems(hours.week)] == [
        "day 1: 08:00-12:00 and 11:30-13:30 overlap",
        "day 1: 11:30-13:30 and 13:00-18:00 overlap",
        "day 2: 12:00-12:00 does not end after it starts",
        "day 3: 22:00-02:00 does not end after it starts",
    ]


# --- the greeting follows the spans -----------------------------------------------------------

GREETINGS = {"new_in_hours": "Estamos aqui.", "new_out_of_hours": "Voltamos logo."}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (_utc(2026, 12, 7, 14, 59), "Estamos aqui."),  # Monday 11:59 in São Paulo
        (_utc(2026, 12, 7, 15, 0), "Voltamos logo."),  # 12:00: lunch
        (_utc(2026, 12, 7, 15, 59), "Voltamos logo."),  # 12:59
        (_utc(2026, 12, 7, 16, 0), "Estamos aqui."),  # 13:00
    ],
)
def test_the_greeting_follows_the_spans(
    runtime: Runtime, company: CompanyFixture, clock: Clock, moment: datetime, expected: str
) -> None:
    chat = external_channel(runtime, company.id)
    configure(runtime, company.id, chat, greetings=GREETINGS,
              working_hours={"timezone": "America/Sao_Paulo", "week": SPLIT})  # fmt: skip
    clock.now = moment
    arrived = client_message(
        runtime, company.id, chat, phone=f"+55119{moment.minute:02d}{moment.hour}77"
    )
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == [expected]


# --- the API ----------------------------------------------------------------------------------


def test_the_api_takes_several_spans_a_day_and_refuses_overlaps(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    chat = external_channel(runtime, company.id)
    path = f"/v1/channels/{chat}/automation"
    week = [{"day": 1, "start": "13:00", "end": "18:00"},
            {"day": 1, "start": "08:00", "end": "12:00"},
            {"day": 6, "start": "09:00", "end": "24:00"}]  # fmt: skip
    body = {"working_hours": {"timezone": "America/New_York", "week": week,
                              "holidays": ["2026-12-25", "2026-01-01", "2026-12-25"]}}  # fmt: skip
    r = api.put(path, json=body)
    assert r.status_code == 200, r.text
    expected = {
        "timezone": "America/New_York",
        "week": [{"day": 1, "start": "08:00", "end": "12:00"},
                 {"day": 1, "start": "13:00", "end": "18:00"},
                 {"day": 6, "start": "09:00", "end": "24:00"}],
        "holidays": ["2026-01-01", "2026-12-25"],
    }  # fmt: skip
    assert r.json()["data"]["working_hours"] == expected
    assert api.get(path).json()["data"]["working_hours"] == expected
    bad = {"working_hours": {"week": [{"day": 2, "start": "08:00", "end": "12:00"},
                                      {"day": 2, "start": "11:00", "end": "14:00"}]}}  # fmt: skip
    r = api.put(path, json=bad)
    assert r.status_code == 422
    assert r.json()["errors"] == {
        "working_hours.week": ["day 2: 08:00-12:00 and 11:00-14:00 overlap"]
    }
    r = api.put(
        path, json={"working_hours": {"week": [{"day": 3, "start": "18:00", "end": "08:00"}]}}
    )
    assert r.json()["errors"] == {
        "working_hours.week": ["day 3: 18:00-08:00 does not end after it starts"]
    }
    assert api.get(path).json()["data"]["working_hours"] == expected  # nothing changed


# --- the panel's form -------------------------------------------------------------------------


def _form(**extra: str | list[str]) -> dict[str, str | list[str]]:
    return {"timezone": "America/Sao_Paulo", "holidays": "", "min_interval_hours": "12",
            "end_word": "sair", "timeout_minutes": "30", **extra}  # fmt: skip


def test_the_form_saves_and_shows_several_spans_a_day(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    url = f"/settings/channels/{chat}/automation"
    form = _form(
        open_1="on", start_1=["13:00", "08:00"], end_1=["18:00", "12:00"],
        open_5="on", start_5=["18:00", ""], end_5=["00:00", ""],  # an empty pair is ignored
        start_2=["09:00"], end_2=["18:00"],  # not open: not saved
        holidays="25/12/2026\n2027-01-01",
    )  # fmt: skip
    r = panel.post(url, form)  # type: ignore[arg-type]
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        hours = automation_settings(session, company_id=company.id, channel_id=chat).working_hours
    assert hours.model_dump(mode="json") == {
        "timezone": "America/Sao_Paulo",
        "week": [{"day": 1, "start": "08:00", "end": "12:00"},
                 {"day": 1, "start": "13:00", "end": "18:00"},
                 {"day": 5, "start": "18:00", "end": "24:00"}],
        "holidays": ["2026-12-25", "2027-01-01"],
    }  # fmt: skip
    page = panel.http.get(url).text
    assert 'name="start_1" value="08:00"' in page and 'name="end_1" value="12:00"' in page
    assert 'name="start_1" value="13:00"' in page and 'name="end_5" value="00:00"' in page
    assert "2026-12-25\n2027-01-01</textarea>" in page


def test_adding_a_span_without_javascript_saves_nothing(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    url = f"/settings/channels/{chat}/automation"
    r = panel.post(url, _form(open_2="on", start_2=["08:00"], end_2=["12:00"], span_action="add:2"))  # type: ignore[arg-type]
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert r.text.count('name="start_2"') == 2  # type: ignore[attr-defined]
    assert 'data-testid="start-2-1" value=""' not in r.text  # type: ignore[attr-defined]
    assert 'name="start_2" value="" aria-label' in r.text  # type: ignore[attr-defined]
    r = panel.post(url, _form(open_2="on", start_2=["08:00", "13:00"], end_2=["12:00", "18:00"],
                              span_action="remove:2:0"))  # type: ignore[arg-type]  # fmt: skip
    assert r.text.count('name="start_2"') == 1  # type: ignore[attr-defined]
    assert 'name="start_2" value="13:00"' in r.text  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        assert (
            automation_settings(session, company_id=company.id, channel_id=chat).working_hours.week
            == []
        )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pt_BR", [
            "A alteração não foi salva.",
            "Segunda-feira: 08:00–12:00 e 11:00–14:00 se sobrepõem.",
            "Quarta-feira: 18:00–08:00 não termina depois de começar. Para atender depois da "
            "meia-noite, feche às 00:00 e abra o dia seguinte às 00:00.",
            "Sexta-feira: “8h” não é um horário (HH:MM).",
            "Feriados: “natal” não é uma data (AAAA-MM-DD ou DD/MM/AAAA).",
            "Tempo limite (minutos): um número inteiro de 1 a 1440.",
            "Fechar após (horas sem mensagem do cliente): um número maior que 0, no máximo 2160.",
        ]),
        ("en", [
            "The change was not saved.",
            "Monday: 08:00–12:00 and 11:00–14:00 overlap.",
            "Wednesday: 18:00–08:00 does not end after it starts. For hours past midnight, close "
            "at 00:00 and open the next day at 00:00.",
            "Friday: “8h” is not a time (HH:MM).",
            "Holidays: “natal” is not a date (YYYY-MM-DD or DD/MM/YYYY).",
            "Timeout (minutes): a whole number from 1 to 1440.",
            "Close after (hours without a client message): a number above 0, at most 2160.",
        ]),
    ],
)  # fmt: skip
def test_the_form_says_what_is_wrong_with_each_span(
    runtime: Runtime, company: CompanyFixture, signin: Signin, language: str,
    expected: list[str],
) -> None:  # fmt: skip
    import html
    import re

    with runtime.db.transaction() as session:
        update_operator(session, company_id=company.id, operator_id=company.admin_id,
                        language=language)  # fmt: skip
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    form = _form(
        open_1="on", start_1=["08:00", "11:00"], end_1=["12:00", "14:00"],
        open_3="on", start_3=["18:00"], end_3=["08:00"],
        open_5="on", start_5=["8h"], end_5=["12:00"],
        holidays="natal", timeout_minutes="0", after_hours="-2",
    )  # fmt: skip
    r = panel.post(f"/settings/channels/{chat}/automation", form)  # type: ignore[arg-type]
    assert r.status_code == 422  # type: ignore[attr-defined]
    box = re.search(r'data-testid="automation-error">(.*?)</div>', r.text, re.S)  # type: ignore[attr-defined]
    assert box is not None
    assert [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", box[1])] == expected
    assert 'name="start_1" value="11:00"' in r.text  # the form comes back as sent  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        assert (
            automation_settings(session, company_id=company.id, channel_id=chat).working_hours.week
            == []
        )
