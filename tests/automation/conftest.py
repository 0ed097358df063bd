"""The automation tests' shared fixtures: the panel's signed-in clients (for the settings
pages) and one frozen clock."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from atendo.kit.clock import set_clock
from tests.automation.helpers import Clock
from tests.panel.conftest import panel_app, signin  # noqa: F401 (fixtures)

# Monday 7 December 2026, 12:00 in São Paulo: inside the usual working hours.
START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The time every automation rule reads, moved by the test (``clock.advance``)."""
    c = Clock(START)
    set_clock(c)
    yield c
    set_clock(None)
