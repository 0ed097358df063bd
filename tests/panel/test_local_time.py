"""Dates in the operator's zone and language (``atendo.panel.i18n.local_time``), as the chat
list and the conversation show them: exact strings per language (an unknown one reads as the
default, pt-BR)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from atendo.kit.clock import set_clock
from atendo.panel.i18n import local_time

AT = datetime(2020, 11, 25, 17, 3, 9, tzinfo=UTC)  # 14:03:09 in São Paulo


@pytest.mark.parametrize(
    ("language", "plain", "short", "seconds"),
    [
        ("pt_BR", "25 de nov. de 2020 14:03", "25 de nov. de 2020", "25 de nov. de 2020 14:03:09"),
        ("en", "Nov 25, 2020 2:03\u202fPM", "Nov 25, 2020", "Nov 25, 2020 2:03:09\u202fPM"),
        ("es", "25 nov 2020 14:03", "25 nov 2020", "25 nov 2020 14:03:09"),
        ("xx", "25 de nov. de 2020 14:03", "25 de nov. de 2020", "25 de nov. de 2020 14:03:09"),
    ],
)
def test_each_language_writes_the_day_and_time_its_own_way(
    language: str, plain: str, short: str, seconds: str
) -> None:
    tz = "America/Sao_Paulo"
    assert local_time(AT, language=language, tz=tz) == plain
    assert local_time(AT, language=language, tz=tz, short=True) == short
    assert local_time(AT, language=language, tz=tz, seconds=True) == seconds


def test_today_reads_as_the_time_alone() -> None:
    noon = datetime.now(UTC).replace(hour=12, minute=0)
    assert local_time(noon, language="en", tz="UTC", short=True) == "12:00\u202fPM"
    assert local_time(noon, language="pt_BR", tz="UTC", short=True) == "12:00"
    assert local_time(None, language="en", tz="UTC") == ""


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    """The time now (``now[0]``), moved by the test."""
    now = [datetime(2026, 3, 10, 13, 0, tzinfo=UTC)]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


def test_a_date_remembered_is_written_again_for_its_zone_language_and_day(
    clock: list[datetime],
) -> None:
    """The strings are remembered (the chat list writes the same dates on every refresh):
    asked again in another zone or language, or once the day has turned, the string changes."""
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    for _twice in range(2):
        assert local_time(at, language="en", tz="UTC", short=True) == "12:00\u202fPM"
        assert local_time(at, language="pt_BR", tz="UTC", short=True) == "12:00"
        assert local_time(at, language="en", tz="Asia/Tokyo", short=True) == "9:00\u202fPM"
        assert local_time(at, language="en", tz="Asia/Tokyo") == "Mar 10, 2026 9:00\u202fPM"
        assert local_time(at, language="en", tz="America/Sao_Paulo") == "Mar 10, 2026 9:00\u202fAM"
    clock[0] += timedelta(days=1)
    assert local_time(at, language="en", tz="UTC", short=True) == "Mar 10"
    assert local_time(at, language="en", tz="Asia/Tokyo", short=True) == "Mar 10"
    clock[0] += timedelta(days=365)
    assert local_time(at, language="en", tz="UTC", short=True) == "Mar 10, 2026"
