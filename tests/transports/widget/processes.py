"""Real ``atendo serve`` processes on the test database, for the widget's tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atendo.runtime import Runtime
from tests.panel.test_browser import _free_port


@contextlib.contextmanager
def serving(
    tmp: Path, database_url: str, flags: dict[str, tuple[str, ...]], **env: str
) -> Iterator[dict[str, str]]:
    """One ``atendo serve`` per name (with its command-line flags), each on a free port;
    yields their base URLs by name once every one answers ``/healthz``."""
    procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, extra in flags.items():
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            proc_env = {
                **os.environ,
                "ATENDO_DATA_DIR": str(tmp / "data"),
                "ATENDO_DATABASE_URL": database_url,
                "ATENDO_SECRET_KEY": "widget-serve-secret",
                "ATENDO_LOG_LEVEL": "WARNING",
                "ATENDO_PUBLIC_URL": base,
                **env,
            }
            log = (tmp / f"{name}.log").open("wb")
            procs[name] = (
                subprocess.Popen(
                    [sys.executable, "-m", "atendo", "serve", *extra, "--host", "127.0.0.1",
                     "--port", str(port)],
                    env=proc_env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                ),
                base,
            )  # fmt: skip
        for name, (proc, base) in procs.items():
            for _ in range(300):
                if proc.poll() is not None:
                    pytest.fail(
                        f"atendo serve ({name}) exited: {(tmp / f'{name}.log').read_text()[-3000:]}"
                    )
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"atendo serve ({name}) did not start")
        yield {name: base for name, (_proc, base) in procs.items()}
    finally:
        for proc, _base in procs.values():
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def serving_on_postgres(
    runtime: Runtime,
    tmp_path_factory: pytest.TempPathFactory,
    flags: dict[str, tuple[str, ...]],
    **env: str,
) -> Iterator[dict[str, str]]:
    """:func:`serving` on the test module's database; the test is skipped on SQLite (one
    process: several processes share PostgreSQL only)."""
    if not runtime.db.is_postgres:
        pytest.skip("several atendo serve processes share PostgreSQL only (the PostgreSQL pass)")
    tmp = tmp_path_factory.mktemp("serving")
    with serving(tmp, runtime.settings.resolved_database_url, flags, **env) as bases:
        yield bases
