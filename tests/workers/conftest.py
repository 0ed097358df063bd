"""Real ``atendo worker`` processes on the test's own database, and what the tests watch them
by: the leases in the database and the sessions Dovecot reports (``doveadm who``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from atendo.core.leases.service import leases_held
from atendo.kit.clock import set_clock
from atendo.runtime import Runtime
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import Mailbox, new_mailbox

LEASE_SECONDS = 4.0  # renewed every second; a worker silent for 3 s is dead
SCAN_SECONDS = 0.5


def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> float:
    """Poll ``predicate`` until true; returns the seconds it took (fails after ``limit``)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not reached within {limit:.0f} s: {what}")


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]

    @property
    def id(self) -> str:
        return f"{socket.gethostname()}:{self.proc.pid}"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


@pytest.fixture
def runtime(isolated_runtime: Runtime) -> Runtime:
    """A database of each test's own: the workers scan every company's channels."""
    return isolated_runtime


@pytest.fixture
def pg_runtime(runtime: Runtime) -> Runtime:
    """Worker processes share leases on PostgreSQL only (SQLite is one process)."""
    if not runtime.db.is_postgres:
        pytest.skip("several worker processes run on PostgreSQL only (this is the SQLite pass)")
    return runtime


@pytest.fixture
def start_worker(runtime: Runtime) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker()`` runs ``atendo worker --processes 1`` (or ``processes="N"``) on the
    test's database."""
    procs: list[WorkerProcess] = []
    env = {
        **os.environ,
        "ATENDO_DATABASE_URL": runtime.settings.resolved_database_url,
        "ATENDO_DATA_DIR": str(runtime.settings.data_dir),
        "ATENDO_SECRET_KEY": "test-secret-key",
        "ATENDO_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "ATENDO_MAILBOX_SCAN_INTERVAL": str(SCAN_SECONDS),
        "ATENDO_MAILBOX_BACKOFF_START": "0.3",
        "ATENDO_MAILBOX_BACKOFF_MAX": "1",
        "ATENDO_IMAP_POLL_INTERVAL": "600",
        "ATENDO_WORKER_TICK": "0.2",
        "ATENDO_LOG_LEVEL": "WARNING",
    }

    def start(processes: str = "1", **extra: str) -> WorkerProcess:
        proc = subprocess.Popen(
            [sys.executable, "-m", "atendo", "worker", "--processes", processes],
            env={**env, **extra},
        )
        worker = WorkerProcess(proc)
        procs.append(worker)
        return worker

    yield start
    for worker in procs:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def held(runtime: Runtime) -> dict[str, int]:
    with runtime.db.reading() as session:
        return leases_held(session, transport="email")


def mailboxes(dovecot: DovecotServer, count: int) -> list[Mailbox]:
    return [new_mailbox(dovecot) for _ in range(count)]


@dataclass
class SessionSampler:
    """Samples ``doveadm who -1`` (one line per IMAP connection) in a thread: for each user,
    the longest run of consecutive samples that showed two or more sessions."""

    dovecot: DovecotServer
    users: set[str]
    samples: int = 0
    doubled: Counter[str] = field(default_factory=Counter)
    longest_run: Counter[str] = field(default_factory=Counter)
    _run: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        out = self.dovecot.doveadm("who", "-1")
        per_user = Counter(
            line.split()[0] for line in out.splitlines()[1:] if line.strip() and " imap " in line
        )
        self.samples += 1
        for user in self.users:
            if per_user[user] >= 2:
                self.doubled[user] += 1
                self._run[user] += 1
                self.longest_run[user] = max(self.longest_run[user], self._run[user])
            else:
                self._run[user] = 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.3)

    def __enter__(self) -> SessionSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    """The product's clock frozen at ``T0``; a test moves it by setting ``clock[0]``."""
    now = [T0]
    set_clock(lambda: now[0])
    try:
        yield now
    finally:
        set_clock(None)
