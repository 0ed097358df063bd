"""The panel's live stream (``GET /live``) is woken by a committed event, not by a timer: with
its fallback read an hour away (``ATENDO_PANEL_LIVE_FALLBACK``), an event committed while the
stream waits still reaches it — from this process (in-process wake-ups on SQLite,
LISTEN/NOTIFY on PostgreSQL) and, on PostgreSQL, from another process.

A real HTTP server serves the stream (the test client waits for a response to end): uvicorn in
a thread of this process, or ``atendo serve``. Each test first waits for one event to arrive
(the stream's first read may take it without a wake-up), lets the stream settle into its wait,
then commits the next: only a wake-up brings that one within the generous ``WAIT``. What
arrives is compared with the company's events in the database, frame by frame; another
company's event committed meanwhile reaches nobody here.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from atendo.core.events.models import Event
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.test_browser import _free_port
from tests.transports.widget.processes import serving_on_postgres

HOUR = 3600.0
WAIT = 30.0  # a bound for a broken build, not a measure: a wake-up takes milliseconds
SETTLE = 1.0  # lets the stream finish the read that brought the first event and wait again
_LOGIN_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Frame:
    id: int | None
    event: str
    data: dict[str, Any]


class LiveStream:
    """``GET /live`` read in a thread; its frames (not comments) in a queue."""

    def __init__(self, http: httpx.Client) -> None:
        self.frames: queue.Queue[Frame | BaseException] = queue.Queue()
        self._http = http
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            with self._http.stream("GET", "/live", timeout=httpx.Timeout(10, read=None)) as r:
                assert r.status_code == 200, r.read()
                for line in r.iter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        fields[name] = value.strip()
                        continue
                    if "event" in fields or "retry" in fields:
                        self.frames.put(
                            Frame(
                                int(fields["id"]) if "id" in fields else None,
                                fields.get("event", "retry"),
                                json.loads(fields.get("data") or "{}"),
                            )
                        )
                    fields = {}
        except BaseException as exc:  # the test's thread reports it
            self.frames.put(exc)

    def next(self) -> Frame:
        got = self.frames.get(timeout=WAIT)
        if isinstance(got, BaseException):
            raise got
        return got

    def changes_until(self, last_id: int) -> list[Frame]:
        """The ``change`` frames up to the one of event ``last_id`` (presence frames skipped)."""
        out: list[Frame] = []
        deadline = time.monotonic() + WAIT
        while not out or out[-1].id != last_id:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"event {last_id} did not reach the stream; got {out}")
            try:
                got = self.frames.get(timeout=left)
            except queue.Empty:
                pytest.fail(f"event {last_id} did not reach the stream within {WAIT} s; got {out}")
            if isinstance(got, BaseException):
                raise got
            if got.event == "change":
                out.append(got)
        return out


def _sign_in(base: str, company: CompanyFixture) -> httpx.Client:
    http = httpx.Client(base_url=base, follow_redirects=False)
    token = _LOGIN_CSRF.search(http.get("/login").text)
    assert token
    r = http.post(
        "/login",
        data={"email": company.admin_email, "password": company.admin_password, "csrf": token[1]},
    )
    assert r.status_code == 303, r.text
    return http


@contextlib.contextmanager
def _uvicorn(runtime: Runtime) -> Iterator[str]:
    """The app served by uvicorn in a thread of this process."""
    from atendo.server import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(runtime, workers=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    else:
        pytest.fail("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _events_after(runtime: Runtime, company_id: int, after: int) -> list[tuple[int, str, int]]:
    """What an admin's stream (an admin sees every dialog) must show after event ``after``:
    (id, type, dialog id) of the company's events but typing."""
    with runtime.db.reading() as session:
        rows = session.execute(
            select(Event.id, Event.type, Event.dialog_id)
            .where(Event.company_id == company_id, Event.id > after, Event.type != "typing")
            .order_by(Event.id)
        )
        return [(event_id, type_, dialog_id or 0) for event_id, type_, dialog_id in rows]


def _shown(frames: list[Frame]) -> list[tuple[int, str, int]]:
    return [(f.id or 0, f.data["type"], f.data["dialog_id"] or 0) for f in frames]


def _woken_twice(
    runtime: Runtime, base: str, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    """Sign in at ``base``, open the stream, commit events here; each reaches the stream."""
    channel = external_channel(runtime, company.id)
    elsewhere = external_channel(runtime, other_company.id)
    http = _sign_in(base, company)
    try:
        stream = LiveStream(http)
        assert stream.next().event == "retry"
        start = max([0, *(i for i, _t, _d in _events_after(runtime, company.id, 0))])

        first = client_message(runtime, company.id, channel, text="primeira")
        expected = _events_after(runtime, company.id, start)
        assert ("inbox", first.dialog_id) in [(t, d) for _i, t, d in expected]
        assert _shown(stream.changes_until(expected[-1][0])) == expected

        time.sleep(SETTLE)  # the stream is waiting now: nothing but a wake-up reads again
        mark = expected[-1][0]
        client_message(runtime, other_company.id, elsewhere, text="de outra empresa")
        second = client_message(runtime, company.id, channel, text="segunda")
        expected = _events_after(runtime, company.id, mark)
        assert ("inbox", second.dialog_id) in [(t, d) for _i, t, d in expected]
        assert {dialog for _id, _type, dialog in expected} <= {0, second.dialog_id}
        assert _shown(stream.changes_until(expected[-1][0])) == expected
    finally:
        http.close()


def test_an_event_committed_in_this_process_wakes_the_stream(
    runtime: Runtime,
    company: CompanyFixture,
    other_company: CompanyFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.settings, "panel_live_fallback", HOUR)
    with _uvicorn(runtime) as base:
        _woken_twice(runtime, base, company, other_company)


def test_an_event_committed_in_another_process_wakes_the_stream(
    runtime: Runtime,
    company: CompanyFixture,
    other_company: CompanyFixture,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with serving_on_postgres(
        runtime,
        tmp_path_factory,
        {"web": ("--no-workers",)},
        ATENDO_PANEL_LIVE_FALLBACK=str(HOUR),
    ) as bases:
        _woken_twice(runtime, bases["web"], company, other_company)
