"""Sessions, CSRF and roles for the panel.

A session lives on the server (``core.operators.sessions``): the cookie carries a random token,
the ``panel_sessions`` table its SHA-256. Signing out deletes the row, so a copied cookie dies
with it; a password change or disabling the operator deletes all of theirs. The CSRF token is
an HMAC (keyed from the installation secret, ``SecretBox.mac``) over the session token: a page
can only know it if it was rendered for this session, and every unsafe request (form field
``csrf`` or header ``X-CSRF-Token``) must carry it. The sign-in form, which has no session yet,
uses a double-submit cookie instead.

Sign-in attempts are slowed by :class:`atendo.kit.throttle.AttemptThrottle` (growing delays
per account and per client address, counted before the password is checked), one per app
(``app.state.login_throttle``). The client address is the connecting peer's, or the one a
trusted proxy put in ``X-Forwarded-For`` (``ATENDO_TRUSTED_PROXIES``, applied by uvicorn's
proxy-headers middleware in ``atendo.server``): a header from anyone else is ignored.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from atendo.core.companies.service import record_audit
from atendo.core.enums import Role
from atendo.core.operators.models import Operator
from atendo.core.operators.sessions import (
    LIFETIME,
    end_session,
    find_session,
    needs_touch,
    open_session,
    touch_session,
)
from atendo.core.team.statuses import list_statuses
from atendo.kit.throttle import AttemptThrottle
from atendo.runtime import Runtime

COOKIE = "atendo_session"
LOGIN_CSRF_COOKIE = "atendo_login_csrf"
SESSION_SECONDS = int(LIFETIME.total_seconds())


class LoginRequired(Exception):
    """No valid session: the panel redirects to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this page (HTTP 403)."""


class CsrfFailed(Exception):
    """An unsafe request without this session's CSRF token (HTTP 403)."""


@dataclass(frozen=True)
class PanelUser:
    """The signed-in operator, as read at the start of the request."""

    id: int
    company_id: int
    role: str
    email: str
    name: str
    language: str
    timezone: str
    csrf: str
    session_id: int
    status: str = "offline"
    notifications: bool = True
    new_chats_unavailable: bool = False
    custom_statuses: tuple[tuple[str, str], ...] = ()  # the admins' (key, name)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_supervisor(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPERVISOR)

    @property
    def sees_all_dialogs(self) -> bool:
        return self.is_supervisor


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def csrf_for(runtime: Runtime, token: str) -> str:
    return runtime.box.mac(f"panel-csrf:{token}", 32)


def start_session(session: Session, request: Request, operator: Operator) -> str:
    """Open a server-side session for a signed-in operator; returns the cookie value."""
    agent = request.headers.get("user-agent", "")
    return open_session(session, operator=operator, user_agent=agent).token


def set_session(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or runtime_of(request).settings.session_cookie_secure


def end_current_session(request: Request) -> None:
    token = request.cookies.get(COOKIE, "")
    if token:
        with runtime_of(request).db.transaction() as session:
            end_session(session, token=token)


def read_session(request: Request) -> PanelUser | None:
    """The operator of a valid session cookie, or None."""
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        live = find_session(session, token=token)
    if live is None:
        return None
    if needs_touch(live):
        with runtime.db.transaction() as session:
            touch_session(session, company_id=live.operator.company_id, session_id=live.id)
    op = live.operator
    with runtime.db.reading() as session:
        custom = tuple(
            (c.key, c.name) for c in list_statuses(session, company_id=op.company_id) if c.name
        )
    return PanelUser(
        id=op.id,
        company_id=op.company_id,
        role=op.role,
        email=op.email,
        name=op.full_name,
        language=op.language,
        timezone=op.timezone,
        csrf=csrf_for(runtime, token),
        session_id=live.id,
        status=op.status,
        notifications=op.notifications,
        new_chats_unavailable=op.new_chats_unavailable,
        custom_statuses=custom,
    )


async def check_csrf(request: Request, user: PanelUser) -> None:
    """Every unsafe request must carry the session's token (header or form field)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf")
            sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, user.csrf):
        raise CsrfFailed()


async def current_user(request: Request) -> PanelUser:
    """FastAPI dependency: a signed-in operator (and a valid CSRF token on unsafe requests).
    The session is read in a worker thread: its two or three queries on the event loop stalled
    every other request of the process meanwhile."""
    user = await run_in_threadpool(read_session, request)
    if user is None:
        raise LoginRequired()
    await check_csrf(request, user)
    request.state.user = user
    return user


async def supervisor_user(request: Request) -> PanelUser:
    user = await current_user(request)
    if not user.is_supervisor:
        raise Forbidden()
    return user


async def admin_user(request: Request) -> PanelUser:
    user = await current_user(request)
    if not user.is_admin:
        raise Forbidden()
    return user


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def login_throttle(request: Request) -> AttemptThrottle:
    throttle: AttemptThrottle = request.app.state.login_throttle
    return throttle


@contextmanager
def write(request: Request, user: PanelUser) -> Iterator[Session]:
    """A panel write: one unit of work, recorded in the audit log with the operator."""
    with runtime_of(request).db.transaction() as session:
        yield session
        record_audit(
            session,
            company_id=user.company_id,
            actor=f"operator:{user.id}",
            action=f"panel {request.method} {request.url.path}",
        )
