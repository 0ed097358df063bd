"""Sign-in, sign-out and the first-visit setup."""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from atendo.core.companies.service import any_company_exists, create_company
from atendo.core.enums import OperatorStatus
from atendo.core.errors import DomainError
from atendo.core.operators.service import authenticate_operator
from atendo.core.team.statuses import set_operator_status
from atendo.panel.auth import (
    LOGIN_CSRF_COOKIE,
    PanelUser,
    clear_session,
    client_ip,
    current_user,
    end_current_session,
    login_throttle,
    read_session,
    runtime_of,
    set_session,
    start_session,
)
from atendo.panel.i18n import translations
from atendo.panel.render import render, say

router = APIRouter()


@router.get("/")
def home(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        empty = not any_company_exists(session)
    if empty:
        return RedirectResponse("/setup", status_code=303)
    if read_session(request) is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/chats", status_code=303)


def _login_page(
    request: Request, *, error: str = "", email: str = "", status: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        {"error": error, "email": email, "login_csrf": token},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if read_session(request) is not None:
        return RedirectResponse("/chats", status_code=303)
    return _login_page(request)


def _lang_of(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "pt_BR"


# The sign-in form is three short fields: anything bigger is refused before it is parsed,
# and no field longer than these reaches the throttle or the password hash.
LOGIN_MAX_BYTES = 8 * 1024
MAX_EMAIL = 320
MAX_PASSWORD = 1024


async def _small_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when the body is larger than ``LOGIN_MAX_BYTES``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > LOGIN_MAX_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > LOGIN_MAX_BYTES:
            return None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


@router.post("/login")
async def login(request: Request) -> Response:
    _ = translations(_lang_of(request)).gettext
    form = await _small_form(request)
    if form is None:
        return _login_page(request, error=_("Wrong e-mail or password."), status=413)
    email, password = form.get("email", ""), form.get("password", "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, form.get("csrf", "")):
        return _login_page(request, error=_("The form expired; please try again."), status=403)
    ip = client_ip(request)
    throttle = login_throttle(request)
    wait = throttle.attempt(email, ip)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        msg = _("Too many failed attempts. Try again in %(n)s s.") % {"n": seconds}
        return _login_page(request, error=msg, email=email[:MAX_EMAIL], status=429)
    if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        throttle.failed(email, ip)
        msg = _("Wrong e-mail or password.")
        return _login_page(request, error=msg, email=email[:MAX_EMAIL], status=401)
    runtime = runtime_of(request)

    def check() -> str | None:
        with runtime.db.transaction() as session:
            op = authenticate_operator(session, email=email, password=password)
            if op is None:
                return None
            if op.status == OperatorStatus.OFFLINE:  # signing in starts the working day
                set_operator_status(
                    session,
                    company_id=op.company_id,
                    operator_id=op.id,
                    status=OperatorStatus.WORKING,
                )
            return start_session(session, request, op)

    cookie_value = await asyncio.to_thread(check)
    if cookie_value is None:
        throttle.failed(email, ip)
        msg = _("Wrong e-mail or password.")
        return _login_page(request, error=msg, email=email, status=401)
    throttle.succeeded(email, ip)
    response = RedirectResponse("/chats", status_code=303)
    set_session(response, request, cookie_value)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, user: Annotated[PanelUser, Depends(current_user)]) -> Response:
    end_current_session(request)
    with runtime_of(request).db.transaction() as session:
        set_operator_status(
            session,
            company_id=user.company_id,
            operator_id=user.id,
            status=OperatorStatus.OFFLINE,
        )
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response


@router.get("/setup")
def setup_form(request: Request) -> Response:
    with runtime_of(request).db.reading() as session:
        if any_company_exists(session):
            return RedirectResponse("/login", status_code=303)
    return _setup_page(request)


def _setup_page(request: Request, error: str = "", status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(16)
    response = render(
        request, "setup.html", {"error": error, "login_csrf": token}, status_code=status
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.post("/setup")
def setup(
    request: Request,
    company: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf):
        return _setup_page(request, status=403)
    runtime = runtime_of(request)
    first, _sep, last = name.strip().partition(" ")
    try:
        with runtime.db.transaction() as session:
            # Only the very first visit may create a company here (same as the CLI).
            if any_company_exists(session):
                return RedirectResponse("/login", status_code=303)
            new = create_company(
                session,
                name=company,
                admin_email=email,
                admin_password=password,
                admin_first_name=first,
                admin_last_name=last,
            )
            cookie_value = start_session(session, request, new.admin)
    except DomainError as exc:
        return _setup_page(request, error=say(request, exc), status=422)
    response = RedirectResponse("/chats", status_code=303)
    set_session(response, request, cookie_value)
    return response
