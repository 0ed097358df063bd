"""Per-request context: the runtime, the authenticated company, the parameters.

Handlers open their own unit of work (``ctx.write()`` / ``ctx.read()``) so that the commit
happens before the response leaves, never after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from atendo.api.params import Params
from atendo.api.usage import ApiUsage
from atendo.core.companies.service import record_audit
from atendo.core.errors import DomainError
from atendo.kit.pagination import Page
from atendo.runtime import Runtime


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__("You need to auth")


async def get_runtime(request: Request) -> Runtime:
    """``async``: FastAPI calls it inline; a plain ``def`` dependency is sent to the thread pool
    (a hand-over to another thread and back, for an attribute read)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_params(request: Request) -> Params:
    cached: Params | None = getattr(request.state, "params", None)
    if cached is None:
        cached = await Params.from_request(request)
        request.state.params = cached
    return cached


def token_from(request: Request) -> str:
    header = request.headers.get("authorization", "").strip()
    if header.lower().startswith("bearer "):
        header = header[7:].strip()
    return header


@dataclass
class ApiContext:
    runtime: Runtime
    company_id: int
    params: Params
    actor: str
    method: str
    path: str

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self.runtime.db.transaction() as session:
            yield session
            record_audit(
                session,
                company_id=self.company_id,
                actor=self.actor,
                action=f"{self.method} {self.path}",
            )

    def index_for_search(self, q: str | None) -> None:
        """Before a search: bring the message index up to date (a short unit of work of its
        own, not audited: it changes nothing the company owns)."""
        if q and q.strip():
            from atendo.core.search.service import catch_up

            with self.runtime.db.transaction() as session:
                catch_up(session, company_id=self.company_id)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """The request's reads (PostgreSQL: in autocommit, no BEGIN/ROLLBACK round trips; see
        :meth:`atendo.kit.db.Database.quick_reading`)."""
        with self.runtime.db.quick_reading() as session:
            yield session

    @property
    def page(self) -> Page:
        return Page.of(self.params.integer("limit"), self.params.integer("offset"))


def api_context(  # a plain def: FastAPI runs it in a thread, off the event loop
    request: Request,
    params: Params = Depends(get_params),
) -> ApiContext:
    """The signed-in company's context (401 without a known token). The one step of an API
    request, beside its handler, that runs in the thread pool: the sign-in reads the database."""
    runtime: Runtime = request.app.state.runtime
    token = token_from(request)
    usage: ApiUsage = request.app.state.usage
    company_id = usage.authenticate(token) if token else None
    if company_id is None:
        raise Unauthorized()
    return ApiContext(
        runtime=runtime,
        company_id=company_id,
        params=params,
        actor=f"token:{token[:4]}",
        method=request.method,
        path=request.url.path,
    )
