"""ATENDO_WEB_THREADS: how many requests' synchronous handlers a web process runs at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI
from starlette.testclient import TestClient
from tests.conftest import TemplateDatabase, fresh_runtime

from atendo.api.app import create_api


def _most_at_once(app: FastAPI, requests: int, *, meet: int) -> int:
    """Sends ``requests`` requests at once to a synchronous handler; returns the most that ran
    side by side. ``meet``: that many wait for each other before leaving (proof they overlap)."""
    lock = threading.Lock()
    running = most = 0
    barrier = threading.Barrier(meet, timeout=20) if meet > 1 else None

    @app.get("/test-slow")
    def slow() -> dict[str, int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if barrier is not None:
            barrier.wait()
        else:
            time.sleep(0.2)
        with lock:
            running -= 1
        return {}

    with TestClient(app) as client, ThreadPoolExecutor(requests) as pool:
        codes = list(pool.map(lambda _: client.get("/test-slow").status_code, range(requests)))
    assert codes == [200] * requests
    return most


def test_one_thread_runs_requests_one_at_a_time(template_database: TemplateDatabase) -> None:
    with fresh_runtime(template_database, web_threads=1) as rt:
        assert _most_at_once(create_api(rt), 3, meet=1) == 1


def test_several_threads_run_requests_side_by_side(template_database: TemplateDatabase) -> None:
    with fresh_runtime(template_database, web_threads=3) as rt:
        assert _most_at_once(create_api(rt), 3, meet=3) == 3
