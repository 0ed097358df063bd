"""Dialog actions through the panel (no browser): notes, tags, assignment, close/reopen, the
client card's block and unblock, inline images and attachments, the audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from atendo.core.clients.service import is_blocked
from atendo.core.companies.models import AuditEntry
from atendo.core.dialogs.service import get_dialog
from atendo.core.tags.service import create_tag
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, email_channel, ingest, mail_from

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
Signin = Callable[[str, str], PanelClient]


def test_note_tags_assign_close_reopen_and_audit(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("bia@client.example", "Troca"))
    assert found
    dialog_id = found[1]
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="Troca")
        tag_id = tag.id
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]

    note = post(f"/chats/{dialog_id}/send", {"mode": "comment", "text": "Cliente VIP"})
    assert note.status_code == 200 and 'class="msg comment' in note.text
    assert "Cliente VIP" in note.text
    empty = post(f"/chats/{dialog_id}/send", {"mode": "comment", "text": " "})
    assert empty.status_code == 422 and empty.headers["hx-retarget"] == "#composer-note"

    pane = post(f"/chats/{dialog_id}/tags", {"tag_id": str(tag_id), "on": "request"})
    assert pane.status_code == 200 and ">Troca" in pane.text
    assert post(f"/chats/{dialog_id}/assign", {"target": "me"}).status_code == 200
    assert post(f"/chats/{dialog_id}/close").status_code == 200
    with runtime.db.reading() as session:
        dialog = get_dialog(session, company_id=company.id, dialog_id=dialog_id)
        assert dialog.operator_id == company.admin_id and dialog.state == "closed"
    assert 'data-testid="close-dialog"' in post(f"/chats/{dialog_id}/reopen").text
    with runtime.db.reading() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.company_id == company.id,
                    AuditEntry.actor == f"operator:{company.admin_id}",
                )
            )
        )
    assert f"panel POST /chats/{dialog_id}/close" in actions


def test_client_card_blocks_and_unblocks(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("spam@client.example", "Oferta"))
    assert found
    with runtime.db.reading() as session:
        client_id = get_dialog(session, company_id=company.id, dialog_id=found[1]).client_id
    admin = signin(company.admin_email, company.admin_password)
    card = admin.http.get(f"/clients/{client_id}")
    assert card.status_code == 200 and "spam@client.example" in card.text
    blocked = admin.post(  # type: ignore[attr-defined]
        f"/clients/{client_id}/block", {"reason": "spam", "until": "2099-01-31"}
    )
    assert blocked.status_code == 200 and "client-unblock" in blocked.text
    with runtime.db.reading() as session:
        assert is_blocked(session, company_id=company.id, address=None, client_id=client_id)
    admin.post(f"/clients/{client_id}/unblock")  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        assert not is_blocked(session, company_id=company.id, address=None, client_id=client_id)


def test_inline_images_and_attachments_come_through_the_session_route(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, (FIXTURES / "html_only_cid_inline.eml").read_bytes())
    assert found
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get(f"/chats/{found[1]}/messages")
    ids = re.findall(r"/panel/attachments/(\d+)", page.text)
    assert ids, "the cid: image points at the panel's attachment route"
    image = admin.http.get(f"/panel/attachments/{ids[0]}")
    assert image.status_code == 200 and image.headers["x-content-type-options"] == "nosniff"
    stranger = signin(other_company.admin_email, other_company.admin_password)
    assert stranger.http.get(f"/panel/attachments/{ids[0]}").status_code == 404
    admin.http.cookies.clear()
    anonymous = admin.http.get(f"/panel/attachments/{ids[0]}")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"


def test_list_pages_without_reload_and_searches(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    for n in range(28):
        assert ingest(runtime, channel, mail_from(f"c{n}@client.example", f"Pedido {n}"))
    admin = signin(company.admin_email, company.admin_password)
    first = admin.http.get("/chats/list?who=all&state=open")
    assert first.text.count('data-testid="dialog-item"') == 25
    more = re.search(r'hx-get="/chats/list\?offset=(\d+)"', first.text)
    assert more and more[1] == "25"
    rest = admin.http.get("/chats/list?who=all&state=open&offset=25")
    assert rest.text.count('data-testid="dialog-item"') == 3
    assert "load-more" not in rest.text
    found = admin.http.get("/chats/list?who=all&state=open&q=c17@client")
    assert found.text.count('data-testid="dialog-item"') == 1 and "Pedido 17" in found.text


def test_new_chat_keeps_what_was_typed_when_it_is_refused(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    admin = signin(company.admin_email, company.admin_password)
    form = admin.http.get("/chats/new").text
    assert f'value="{channel}" selected' in form  # the only account is preselected
    refused = admin.post(  # type: ignore[attr-defined]
        "/chats/new", {"channel_id": str(channel), "email": "x@client.example", "text": "Oi"}
    )
    assert refused.status_code == 422  # a first e-mail needs a subject
    assert 'value="x@client.example"' in refused.text and ">Oi</textarea>" in refused.text
    created = admin.post(  # type: ignore[attr-defined]
        "/chats/new", {"channel_id": str(channel), "email": "y@client.example", "only_create": "1"}
    )
    assert created.status_code == 303 and re.match(r"/chats/\d+$", created.headers["location"])
