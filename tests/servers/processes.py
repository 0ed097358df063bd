"""The machine's processes as /proc tells them: for tests and benches that look at what a
process started (the parsing helpers) and at how much CPU they used."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    parent: int
    cmdline: str
    cpu: float  # CPU-seconds so far, user + system


def process_table() -> dict[int, Proc]:
    """pid → :class:`Proc` for every process readable now."""
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        table[int(entry.name)] = Proc(int(fields[1]), cmdline, cpu)
    return table


def family(table: dict[int, Proc], pid: int) -> set[int]:
    """``pid`` and every process under it (children, theirs, …)."""
    found, grew = {pid}, True
    while grew:
        more = {child for child, proc in table.items() if proc.parent in found}
        grew = not more <= found
        found |= more
    return found
