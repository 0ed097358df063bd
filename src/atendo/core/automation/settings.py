"""A channel's automation settings, validated: working hours, greetings, menu, auto-close.

Working hours are a weekly schedule in the company's time zone (``week``: ``{day, start,
end}`` with ISO days, 1 = Monday, and ``HH:MM`` times; a day may have several spans) plus
``holidays`` (``YYYY-MM-DD``, out of hours all day). No spans at all means always in hours.
"""

from __future__ import annotations

import re
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
