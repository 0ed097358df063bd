"""Which API endpoints the suite calls, and with what outcome — a pytest plugin.

Issue 5 asks for every endpoint to be tested through the HTTP layer, for success and for its
main errors. A hand-kept list drifts as routes are added, so the shared ``app_client`` is
wrapped in :class:`EndpointRecorder`, which notes the route template and the outcome of every
call. At the end of a whole-suite run (``ATENDO_ENDPOINT_COVERAGE=1``, set by
``scripts/run-tests.sh``), every ``/v1`` and ``/gateway`` endpoint must have answered:

- a 2xx (but for the few endpoints of features Atendo does not have, in NEVER_SUCCEED);
- a 401 (called without a valid token);
- another 4xx, when the endpoint takes any input (path, query or body parameters): the
  answer to a missing object or a bad parameter.

The run fails and names the endpoints that did not.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_VAR = "ATENDO_ENDPOINT_COVERAGE"
API_PREFIXES = ("/v1", "/gateway")
SUCCESS, UNAUTHORIZED, CLIENT_ERROR = "2xx", "401", "other 4xx"
# Chat2Desk endpoints for features Atendo does not have: they answer a clear 4xx, never a 2xx.
NEVER_SUCCEED = {
    ("POST", "/v1/qr-decode"): "Atendo decodes no QR codes",
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

Endpoint = tuple[str, str]  # (method, path template)

# (path template, its pattern, its methods), literal paths first: /v1/operators/statuses must
# not be taken for /v1/operators/{operator_id}.
_routes: list[tuple[str, re.Pattern[str], frozenset[str]]] = []
_takes_input: set[Endpoint] = set()
_hits: dict[Endpoint, set[str]] = defaultdict(set)


class EndpointRecorder:
    """An ASGI wrapper that records ``(method, route template) -> {"2xx", "4xx", …}``.

    The routes come from the app's OpenAPI document, the same list API clients see."""

    def __init__(self, app: Any) -> None:
        self.app: ASGIApp = app
        paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
        _takes_input.clear()
        _takes_input.update(
            (method.upper(), path)
            for path, operations in paths.items()
            for method, operation in operations.items()
            if operation.get("parameters") or operation.get("requestBody")
        )
        _routes[:] = sorted(
            (
                (path, _pattern(path), frozenset(m.upper() for m in methods if m in HTTP_METHODS))
                for path, methods in paths.items()
                if path.startswith(API_PREFIXES)
            ),
            key=lambda route: route[0].count("{"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, noting_send)
        # The API's own middleware collapses doubled and trailing slashes before routing.
        if status and (endpoint := _endpoint_of(scope)) is not None:
            _hits[endpoint].add(_outcome(status[0]))


def _outcome(status: int) -> str:
    if status == 401:
        return UNAUTHORIZED
    if 400 <= status < 500:
        return CLIENT_ERROR
    return f"{status // 100}xx"


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$")


def _endpoint_of(scope: Scope) -> Endpoint | None:
    path = "/" + "/".join(part for part in scope["path"].split("/") if part)
    method: str = scope["method"]
    for template, pattern, methods in _routes:
        if method in methods and pattern.match(path):
            return method, template
    return None


def expected_endpoints() -> list[Endpoint]:
    return sorted((method, template) for template, _, methods in _routes for method in methods)


def required_outcomes(endpoint: Endpoint) -> tuple[str, ...]:
    required = [SUCCESS, UNAUTHORIZED]
    if endpoint in _takes_input:
        required.append(CLIENT_ERROR)
    if endpoint in NEVER_SUCCEED:
        required.remove(SUCCESS)
    return tuple(required)


def missing_outcomes() -> dict[Endpoint, list[str]]:
    missing = {}
    for endpoint in expected_endpoints():
        seen = _hits.get(endpoint, set())
        if absent := [o for o in required_outcomes(endpoint) if o not in seen]:
            missing[endpoint] = absent
    return missing


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get(ENV_VAR) != "1" or exitstatus != 0 or not _routes:
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    endpoints = expected_endpoints()
    missing = missing_outcomes()
    write = reporter.write_line if reporter is not None else print
    if reporter is not None:
        reporter.ensure_newline()
    write(
        f"[endpoint coverage] {len(endpoints) - len(missing)}/{len(endpoints)} API endpoints "
        "answered through HTTP with a 2xx, a 401 and (when they take input) another 4xx"
    )
    if missing:
        for (method, path), outcomes in missing.items():
            write(f"[endpoint coverage]   {method} {path}: no {' and no '.join(outcomes)} answer")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
