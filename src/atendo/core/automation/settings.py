"""A channel's automation settings, validated: working hours, greetings, menu, auto-close.

Working hours are a weekly schedule in the company's time zone (``week``: ``{day, start,
end}`` with ISO days, 1 = Monday, and ``HH:MM`` times; a day may have several spans, e.g.
08:00-12:00 and 13:00-18:00) plus ``holidays`` (``YYYY-MM-DD``, out of hours all day). No
spans at all means always in hours. A span holds from its start (included) to its end
(excluded), in wall-clock time of the zone, so a DST change moves it in UTC with the clocks.
A span ends after it starts, ``24:00`` at the latest (past midnight: a second span from
``00:00`` on the next day), and spans of one day do not overlap (:func:`schedule_problems`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from atendo.core.errors import Invalid

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Strict):
    day: int = Field(ge=1, le=7)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a time is HH:MM")
        return value

    def contains(self, moment: time) -> bool:
        start = _parse(self.start)
        end = _parse(self.end)
        return start <= moment < end if end > start else moment >= start


def minutes(text: str) -> int:
    """``HH:MM`` as minutes since midnight (``24:00`` is 1440)."""
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


@dataclass(frozen=True)
class ScheduleProblem:
    """A span the schedule cannot hold: ``order`` (it does not end after it starts) or
    ``overlap`` (it overlaps ``other``, an earlier span of the same day)."""

    kind: str
    day: int
    start: str
    end: str
    other: tuple[str, str] | None = None

    def english(self) -> str:
        if self.kind == "order":
            return f"day {self.day}: {self.start}-{self.end} does not end after it starts"
        assert self.other is not None
        first = f"{self.other[0]}-{self.other[1]}"
        return f"day {self.day}: {first} and {self.start}-{self.end} overlap"


def schedule_problems(week: list[Span]) -> list[ScheduleProblem]:
    """What is wrong with a weekly schedule, day by day, in the order of the spans' starts."""
    problems: list[ScheduleProblem] = []
    for day in range(1, 8):
        spans = sorted((s for s in week if s.day == day), key=lambda s: minutes(s.start))
        latest: Span | None = None  # the valid span that reaches furthest so far
        for span in spans:
            if minutes(span.end) <= minutes(span.start):
                problems.append(ScheduleProblem("order", day, span.start, span.end))
                continue
            if latest is not None and minutes(span.start) < minutes(latest.end):
                other = (latest.start, latest.end)
                problems.append(ScheduleProblem("overlap", day, span.start, span.end, other))
            if latest is None or minutes(span.end) > minutes(latest.end):
                latest = span
    return problems


def _parse(text: str) -> time:
    if text == "24:00":
        return time(23, 59, 59, 999999)
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class WorkingHours(_Strict):
    timezone: str = "America/Sao_Paulo"
    week: list[Span] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    def normalised(self) -> WorkingHours:
        """The same schedule with its spans by day and start, its holidays sorted, once each."""
        week = sorted(self.week, key=lambda s: (s.day, minutes(s.start), minutes(s.end)))
        return self.model_copy(update={"week": week, "holidays": sorted(set(self.holidays))})

    def in_hours(self, moment: datetime) -> bool:
        if not self.week and not self.holidays:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        if not self.week:
            return True
        now = local.time()
        return any(s.day == local.isoweekday() and s.contains(now) for s in self.week)


class Greetings(_Strict):
    new_in_hours: str = ""
    new_out_of_hours: str = ""
    returning_in_hours: str = ""
    returning_out_of_hours: str = ""
    min_interval_hours: int = Field(default=12, ge=0, le=24 * 30)


class MenuSettings(_Strict):
    enabled: bool = False
    invitation: str = ""
    end_word: str = Field(default="sair", max_length=40)
    unknown_text: str = "Não entendi. Escolha uma das opções:"
    timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    default_group_id: int | None = None


class AutoClose(_Strict):
    after_hours: float | None = Field(default=None, gt=0, le=24 * 90)
    message: str = ""


class AutomationSettings(_Strict):
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    greetings: Greetings = Field(default_factory=Greetings)
    menu: MenuSettings = Field(default_factory=MenuSettings)
    auto_close: AutoClose = Field(default_factory=AutoClose)


def parse_settings(data: dict[str, Any]) -> AutomationSettings:
    """Validated settings; pydantic's complaints become ``Invalid`` naming each field."""
    try:
        return AutomationSettings.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "automation"
            errors.setdefault(name, []).append(str(err["msg"]).removeprefix("Value error, "))
        raise Invalid("Invalid automation settings", errors) from None
