"""What a missing prerequisite means: a failure in CI, a skip elsewhere.

CI (``scripts/run-tests.sh``, ``make test``) sets ``ATENDO_REQUIRE_SERVERS=1``: there a missing
Dovecot, Chromium, PostgreSQL or shared mail corpus fails the run and names what is missing,
instead of turning hundreds of tests into a few quiet "skipped" lines.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_VAR = "ATENDO_REQUIRE_SERVERS"


def servers_required() -> bool:
    """True in CI (``ATENDO_REQUIRE_SERVERS=1``): a missing prerequisite is a failure there."""
    return os.environ.get(REQUIRE_VAR, "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """A prerequisite is missing: fail the test in CI, naming it; skip it elsewhere."""
    if servers_required():
        pytest.fail(f"{reason} ({REQUIRE_VAR} is set: CI needs it)", pytrace=False)
    pytest.skip(reason)
