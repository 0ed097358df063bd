"""Dates in the operator's zone and language (``atendo.panel.i18n.local_time``), as the chat
list and the conversation show them: exact strings per language (an unknown one reads as the
default, pt-BR)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
