"""Issue 18: text longer than its column is refused alike on SQLite and PostgreSQL.

PostgreSQL refuses such a value (the statement fails); SQLite stored it without a word. Every
row written through the ORM is now checked against its model's column widths first
(:mod:`atendo.core.lengths`): the same 422 (code ``too_long``, the field and its limit) on
both databases, whichever state-change function wrote it, and a sentence on the panel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from atendo.core.companies.service import list_audit
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import TRANSFER_COMMENT_MAX
from atendo.core.lengths import TooLong, column_length
from atendo.core.operators.models import OperatorGroup
from atendo.core.tags.models import Tag
from atendo.core.tags.service import create_tag
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]


def test_column_lengths_come_from_the_models() -> None:
    assert column_length(Tag.label) == 200
    assert column_length(OperatorGroup.name) == 200
    with pytest.raises(TypeError):
        column_length(Tag.description)  # Text: no width


def test_a_state_change_function_refuses_text_longer_than_its_column(
    runtime: Runtime, company: CompanyFixture
) -> None:
    with pytest.raises(TooLong) as refused, runtime.db.transaction() as session:
        create_tag(session, company_id=company.id, label="t" * 201)
    assert refused.value.status_code == 422 and refused.value.code == "too_long"
    assert refused.value.errors == {"label": ["at most 200 characters"]}
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="t" * 200)
        tag_id = tag.id
    # An UPDATE is checked too (a row read back, changed, flushed).
    with pytest.raises(TooLong), runtime.db.transaction() as session:
        row = session.scalars(
            select(Tag).where(Tag.company_id == company.id, Tag.id == tag_id)
        ).one()
        row.label = "u" * 201
        session.flush()
    with runtime.db.reading() as session:
        labels = session.scalars(select(Tag.label).where(Tag.company_id == company.id)).all()
    assert labels == ["t" * 200]


def test_the_panel_answers_a_sentence_and_saves_nothing(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    client = signin(company.admin_email, company.admin_password)
    r = client.post("/settings/groups", {"name": "g" * 201})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert (
        "Um texto está longo demais: no máximo 200 caracteres. Nada foi salvo." in r.text  # type: ignore[attr-defined]
    )
    with runtime.db.reading() as session:
        names = session.scalars(
            select(OperatorGroup.name).where(OperatorGroup.company_id == company.id)
        ).all()
    assert all(len(n) <= 200 for n in names) and "g" * 201 not in names
    r = client.post("/settings/groups", {"name": "g" * 200})
    assert r.status_code == 303  # type: ignore[attr-defined]


def test_the_api_answers_422_with_the_code(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    """The API's parameters take their limits from the same columns, and refuse with the
    same code."""
    client = signin(company.admin_email, company.admin_password)
    r = client.http.post(
        "/v1/tag_groups", json={"tag_group_name": "g" * 201}, headers=company.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "too_long"
    assert r.json()["errors"] == {"tag_group_name": ["at most 200 characters"]}


def test_a_row_sqlite_stored_too_long_before_the_check_can_still_change(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """Only the values an UPDATE changes are checked: a tag whose label SQLite kept at 400
    characters (before this check) still gets its other columns written."""
    if not runtime.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("only SQLite can hold a value longer than its column")
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="short")
        tag_id = tag.id
    with runtime.db.transaction() as session:
        session.execute(
            update(Tag)
            .where(Tag.company_id == company.id, Tag.id == tag_id)
            .values(label="x" * 400)
        )
    with runtime.db.transaction() as session:
        row = session.scalars(
            select(Tag).where(Tag.company_id == company.id, Tag.id == tag_id)
        ).one()
        row.order_show = 7
        session.flush()
    with runtime.db.reading() as session:
        kept = session.execute(
            select(Tag.label, Tag.order_show).where(Tag.company_id == company.id, Tag.id == tag_id)
        ).one()
    assert (len(kept.label), kept.order_show) == (400, 7)


def test_a_form_that_does_not_answer_it_gets_the_sentence_as_a_page_or_a_notice(
    panel_app: FastAPI, company: CompanyFixture, signin: Signin
) -> None:
    """A route that lets :class:`TooLong` through (it would have met PostgreSQL's refusal
    itself): the operator still reads the limit, as a page or, for HTMX, in the notice."""

    def too_long() -> None:
        raise TooLong(field="name", limit=200)

    panel_app.add_api_route("/settings/test-too-long", too_long, methods=["POST"])
    client = signin(company.admin_email, company.admin_password)
    sentence = "Um texto está longo demais: no máximo 200 caracteres. Nada foi salvo."
    page = client.post("/settings/test-too-long")
    assert page.status_code == 422 and sentence in page.text  # type: ignore[attr-defined]
    assert 'data-testid="error-page"' in page.text  # type: ignore[attr-defined]
    notice = client.post("/settings/test-too-long", headers={"HX-Request": "true"})
    assert notice.status_code == 422  # type: ignore[attr-defined]
    assert notice.headers["HX-Retarget"] == "#pane-notice"  # type: ignore[attr-defined]
    assert sentence in notice.text  # type: ignore[attr-defined]


def test_a_transfer_comment_over_its_limit_is_refused_not_cut(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    """The comment lives in the audit's details (no column): its limit is the core's
    ``TRANSFER_COMMENT_MAX``, which the API documents and the panel's field carries."""
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    client = signin(company.admin_email, company.admin_password)
    r = client.post(f"/chats/{dialog_id}/assign", {"target": "me", "comment": "c" * 1001})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert (
        "Um texto está longo demais: no máximo 1000 caracteres. Nada foi salvo." in r.text  # type: ignore[attr-defined]
    )
    with runtime.db.reading() as session:
        owner = session.scalar(select(Dialog.operator_id).where(Dialog.id == dialog_id))
        entries, _n = list_audit(session, company_id=company.id, dialog_id=dialog_id)
    assert owner is None and [e.kind for e in entries] == []
    r = client.post(f"/chats/{dialog_id}/assign", {"target": "me", "comment": "c" * 1000})
    assert r.status_code == 200  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        entries, _n = list_audit(session, company_id=company.id, dialog_id=dialog_id)
    assert [(e.kind, (e.details or {}).get("comment")) for e in entries] == [
        ("assigned", "c" * 1000)
    ]
    page = client.http.get(f"/chats/{dialog_id}")
    assert f'maxlength="{TRANSFER_COMMENT_MAX}" placeholder' in page.text
