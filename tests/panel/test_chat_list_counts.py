"""The chat list's counts (each tab's, each state's and the list's own total) come from one
grouped query, and say what counting each list alone says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import case, select

from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import list_dialogs
from atendo.core.enums import Role
from atendo.core.operators.service import create_operator
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser
from atendo.panel.views import (
    WHO,
    ListFilters,
    _list_kwargs,
    dialog_rows,
    state_counts,
    view_counts,
)
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.test_chat_list_rows import _admin, counted

# (operator: "admin" | "other" | None, queued, state) of each dialog
SHAPES = [
    ("admin", False, "open"),
    ("admin", False, "closed"),
    ("other", False, "open"),
    (None, True, "open"),
    (None, True, "open"),
    (None, False, "open"),
    (None, False, "closed"),
    ("other", False, "closed"),
]


def _setup(runtime: Runtime, company: CompanyFixture) -> tuple[PanelUser, PanelUser]:
    channel = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        other = create_operator(
            session,
            company_id=company.id,
            email=f"other{company.id}@acme.example",
            password="x" * 12,
            role=Role.OPERATOR,
        )
        session.flush()
        other_id = other.id
    ids = [
        client_message(runtime, company.id, channel, phone=f"+55119400000{n:02d}").dialog_id
        for n in range(len(SHAPES))
    ]
    with runtime.db.transaction() as session:
        for dialog_id, (who, queued, state) in zip(ids, SHAPES, strict=True):
            d = get_scoped(session, Dialog, dialog_id, company_id=company.id)
            assert d is not None
            d.operator_id = {"admin": company.admin_id, "other": other_id, None: None}[who]
            d.queued_at = datetime(2026, 12, 1, tzinfo=UTC) if queued else None
            d.state = state
    admin = _admin(runtime, company)
    return admin, replace(admin, id=other_id, role="operator")


def _alone(runtime: Runtime, user: PanelUser, filters: ListFilters) -> dict[str, int]:
    """Each count by its own COUNT, as the list itself would."""
    out = {}
    with runtime.db.reading() as session:
        for who in WHO:
            out[f"who:{who}"] = list_dialogs(
                session,
                page=Page(1, 0),
                state=filters.state or None,
                count_only=True,
                **_list_kwargs(user, replace(filters, who=who)),
            )[1]
        kwargs = _list_kwargs(user, filters)
        for state in ("open", "closed"):
            out[f"state:{state}"] = list_dialogs(
                session, page=Page(1, 0), state=state, count_only=True, **kwargs
            )[1]
    return out


def test_one_query_gives_every_count_the_list_shows(
    runtime: Runtime, company: CompanyFixture
) -> None:
    admin, operator = _setup(runtime, company)
    with counted(runtime) as statements, runtime.db.reading() as session:
        rows, total = dialog_rows(session, admin, ListFilters(), offset=0, limit=25)
        tabs = view_counts(session, admin, ListFilters())
        states = state_counts(session, admin, ListFilters())
    counting = [s for s in statements if "count(" in s.lower()]
    assert len(counting) == 1
    assert tabs == {"mine": 1, "queue": 2, "unassigned": 3, "all": 5}
    assert states == {"open": 5, "closed": 3, "": 8}
    assert (len(rows), total) == (5, 5)
    # an operator sees theirs and the unassigned ones
    with runtime.db.reading() as session:
        assert view_counts(session, operator, ListFilters(state="")) == {
            "mine": 2,
            "queue": 2,
            "unassigned": 4,
            "all": 6,
        }
        assert state_counts(session, operator, ListFilters(who="mine")) == {
            "open": 1,
            "closed": 1,
            "": 2,
        }


def test_the_grouped_counts_equal_counting_each_list_alone(
    runtime: Runtime, company: CompanyFixture
) -> None:
    admin, operator = _setup(runtime, company)
    for user in (admin, operator):
        for filters in (
            ListFilters(),
            ListFilters(state=""),
            ListFilters(state="closed", who="mine"),
            ListFilters(who="unassigned", q="+5511940000003"),
        ):
            with runtime.db.reading() as session:
                tabs = view_counts(session, user, filters)
                states = state_counts(session, user, filters)
                _rows, total = dialog_rows(session, user, filters, offset=0, limit=25)
            alone = _alone(runtime, user, filters)
            assert {f"who:{k}": v for k, v in tabs.items()} | {
                f"state:{k}": v for k, v in states.items() if k
            } == alone, (user.id, filters)
            assert total == alone[f"who:{filters.who}"]


def test_own_dialogs_first_reads_the_same_pages_as_one_sort(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """The "All" tab's order (the operator's own dialogs first, then by last activity), now
    read as two lists, gives every page that one ``ORDER BY CASE …`` gives, ties and missing
    times included."""
    admin, _operator = _setup(runtime, company)
    with runtime.db.transaction() as session:
        ids = list(
            session.scalars(
                select(Dialog.id).where(Dialog.company_id == company.id).order_by(Dialog.id)
            )
        )
        for n, dialog_id in enumerate(ids):
            d = get_scoped(session, Dialog, dialog_id, company_id=company.id)
            assert d is not None
            d.state = "open"
            # pairs of equal times (the id breaks the tie); one dialog without any
            d.last_message_at = None if n == 4 else datetime(2026, 12, 1 + n // 2, tzinfo=UTC)
    for ascending in (False, True):
        ordering = (
            (Dialog.last_message_at.asc(), Dialog.id.asc())
            if ascending
            else (Dialog.last_message_at.desc(), Dialog.id.desc())
        )
        with runtime.db.reading() as session:
            expected = list(
                session.scalars(
                    select(Dialog.id)
                    .where(Dialog.company_id == company.id)
                    .order_by(case((Dialog.operator_id == admin.id, 0), else_=1), *ordering)
                )
            )
            assert len(expected) == len(SHAPES)
            for limit in (1, 2, 3, 25):
                for offset in range(len(SHAPES) + 1):
                    rows, total = list_dialogs(
                        session,
                        company_id=company.id,
                        page=Page(limit, offset),
                        own_first_for=admin.id,
                        order="asc" if ascending else "desc",
                    )
                    assert [d.id for d in rows] == expected[offset : offset + limit], (
                        ascending,
                        limit,
                        offset,
                    )
                    assert total == len(SHAPES)
