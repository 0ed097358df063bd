"""The parsing helpers are started by the warm-up, every one of them: a new mailbox's first
batches, prepared side by side, never wait for a helper process to start."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from atendo.transports.email import parse_pool


def _helpers() -> int:
    """Processes under this one that run the fork server's code, less the fork server."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        table[int(entry.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline)
    mine = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, (parent, _) in table.items() if parent in mine}
        grew = not found <= mine
        mine |= found
    servers = [pid for pid in mine if "multiprocessing.forkserver" in table.get(pid, (0, ""))[1]]
    return max(0, len(servers) - 1)


@pytest.fixture
def no_helpers() -> Iterator[None]:
    parse_pool.shutdown()
    yield
    parse_pool.shutdown()


@pytest.mark.skipif(not parse_pool.ENABLED, reason="one CPU: mail is prepared in a thread")
def test_the_warm_up_starts_every_helper(no_helpers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "HELPERS", 2)
    assert _helpers() == 0
    asyncio.run(parse_pool.warm_up())
    assert _helpers() == 2
