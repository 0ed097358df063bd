"""The e-mail tests' frozen clock: the time the outbox, retries and limits read, moved by the
test (``clock.advance(seconds=…)``); one fixture for every module here."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from atendo.kit.clock import set_clock


@dataclass
class FrozenClock:
    now: datetime

    def advance(self, **kwargs: float) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    set_clock(lambda: frozen.now)
    yield frozen
    set_clock(None)
