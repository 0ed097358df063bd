"""Issue 18: a sign-in that holds.

Parallel attempts are counted before any password is checked; X-Forwarded-For names the
client only when a trusted proxy sends it; behind that proxy, one password tried on many
accounts slows the address and many addresses on one account slow the account, with delays
that end (no lock-out); form fields are bounded before anything else; the limiter's memory is
bounded. The throttle's clock is frozen in the HTTP tests (``AttemptThrottle(clock=...)``):
outcomes then do not depend on how fast this machine hashes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atendo.kit.throttle import AttemptThrottle
from atendo.runtime import Runtime
from atendo.server import create_app
from tests.conftest import CompanyFixture, TemplateDatabase, fresh_runtime, make_company

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


class Frozen:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _frozen(app: FastAPI) -> Frozen:
    clock = Frozen()
    app.state.login_throttle = AttemptThrottle(clock=clock)
    return clock


def _form(http: TestClient) -> str:
    page = http.get("/login")
    token = _TOKEN.search(page.text)
    assert token
    return token[1]


def _try(
    http: TestClient, token: str, email: str, password: str, forwarded: str | None = None
) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = http.post(
        "/login",
        data={"email": email, "password": password, "csrf": token},
        headers=headers,
        follow_redirects=False,
    )
    return r.status_code


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime, workers=False)


def test_sixty_parallel_attempts_check_five_passwords(
    app: FastAPI, company: CompanyFixture
) -> None:
    _frozen(app)
    with TestClient(app) as http:
        token = _form(http)
        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(
                pool.map(lambda _: _try(http, token, company.admin_email, "wrong"), range(60))
            )
    assert sorted(codes) == [401] * 5 + [429] * 55


def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    app: FastAPI, company: CompanyFixture
) -> None:
    _frozen(app)
    with TestClient(app) as http:
        token = _form(http)
        codes = [
            _try(http, token, f"nobody{i}@acme.example", "x", forwarded=f"203.0.113.{i}")
            for i in range(8)
        ]
    assert codes == [401] * 5 + [429] * 3


@pytest.fixture
def proxied(template_database: TemplateDatabase) -> Iterator[tuple[FastAPI, CompanyFixture]]:
    # TestClient connects as "testclient": here that is the reverse proxy.
    with fresh_runtime(template_database, trusted_proxies="testclient") as runtime:
        yield create_app(runtime, workers=False), make_company(runtime)


def test_behind_a_trusted_proxy_accounts_and_addresses_are_slowed_apart(
    proxied: tuple[FastAPI, CompanyFixture],
) -> None:
    app, company = proxied
    clock = _frozen(app)
    with TestClient(app) as http:
        token = _form(http)
        # Many passwords on one account from rotating addresses: the account slows down.
        codes = [
            _try(http, token, company.admin_email, "wrong", forwarded=f"198.51.100.{i}")
            for i in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2
        # Another client, on another account, is not held up by that.
        assert _try(http, token, "other@acme.example", "x", forwarded="192.0.2.77") == 401
        # The delay ends: no lock-out, the owner signs in once it has passed.
        clock.now += 1
        assert _try(http, token, company.admin_email, company.admin_password, "192.0.2.5") == 303
    with TestClient(app) as http:
        token = _form(http)
        # One password on many accounts from one address: the address slows down.
        codes = [
            _try(http, token, f"guess{i}@acme.example", "123456", forwarded="203.0.113.9")
            for i in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2


def test_oversized_sign_in_forms_are_refused_before_anything(
    app: FastAPI, company: CompanyFixture
) -> None:
    _frozen(app)
    throttle = app.state.login_throttle
    with TestClient(app) as http:
        token = _form(http)
        big = "a" * (1024 * 1024) + "@acme.example"
        assert _try(http, token, big, "x") == 413
        assert len(throttle) == 0  # nothing remembered of it
        # Within the body limit but over a field's size: a failure, no hash, a bounded key.
        assert _try(http, token, "b" * 2000 + "@acme.example", "x") == 401
        assert _try(http, token, company.admin_email, "p" * 5000) == 401
        assert len(throttle) == 3  # two accounts, one address
        assert _try(http, token, company.admin_email, company.admin_password) == 303


def test_the_limiter_grows_delays_and_forgets_within_bounds() -> None:
    clock = Frozen()
    throttle = AttemptThrottle(clock=clock, account_cap=8, address_cap=8, max_keys=100)
    waits = []
    for _ in range(12):
        wait = throttle.attempt("ana@acme.example", "192.0.2.1")
        waits.append(wait)
        if wait:
            clock.now += wait  # the client waits as told, then tries again
            assert throttle.attempt("ana@acme.example", "192.0.2.1") == 0
    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8, 8, 8, 8]
    # 1,000 failed sign-ins from fresh e-mails and addresses: memory stays bounded.
    for i in range(1000):
        throttle.attempt(f"user{i}-" + "x" * 300 + "@acme.example", f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100
    assert max(len(key[1]) for key in throttle._entries) <= 320


def test_an_unknown_email_costs_one_password_check_like_a_known_one(
    runtime: Runtime, company: CompanyFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same work whoever exists (a dummy hash for unknown e-mails): counted, not timed."""
    from atendo.core.operators import service
    from atendo.core.operators.service import authenticate_operator

    checked: list[str] = []
    real = service.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append("$".join(stored.split("$")[1:4]))  # algorithm, version, cost
        return real(stored, password)

    monkeypatch.setattr(service, "verify_password", counting)
    with runtime.db.transaction() as session:
        known = authenticate_operator(session, email=company.admin_email, password="wrong one")
        unknown = authenticate_operator(session, email="nobody@acme.example", password="wrong")
        right = authenticate_operator(
            session, email=company.admin_email, password=company.admin_password
        )
    assert known is None and unknown is None and right is not None
    assert len(checked) == 3 and len(set(checked)) == 1  # one check each, at the same cost
