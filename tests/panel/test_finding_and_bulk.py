"""Finding chats and working on many at once, through the panel (no browser), on SQLite and
PostgreSQL alike: accent- and case-insensitive search over name, address, phone, subject,
text and tags, open and closed; combinable filters with counts; bulk close, assign and tag on
200 chats with one audit entry each; notes never become the preview; errors in the operator's
language."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from atendo.core.companies.models import AuditEntry
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import close_dialog
from atendo.core.operators.service import create_group, create_operator
from atendo.core.tags.service import assign_tags, create_tag
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, client_message, email_channel, external_channel
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]
ITEM = re.compile(r'data-testid="dialog-item" data-dialog-id="(\d+)"')


def found(admin: PanelClient, **params: str) -> list[int]:
    r = admin.http.get("/chats/list", params=params, headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    return sorted(int(i) for i in ITEM.findall(r.text))


def test_search_ignores_accents_and_case_over_every_field(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    mail = email_channel(runtime, company.id)
    ext = external_channel(runtime, company.id)
    araujo = client_mail(
        runtime, mail, sender="Pedro Araújo <pedro@loja.example>", subject="Pedido", body="oi"
    )
    subject = client_mail(
        runtime, mail, sender="bia@client.example", subject="Devolução urgente", body="oi"
    )
    text = client_mail(
        runtime,
        mail,
        sender="caio@client.example",
        subject="Dúvida",
        body="A INSTALAÇÃO não funcionou",
    )
    phone = client_message(runtime, company.id, ext, phone="+55 11 98877-6655", text="oi")
    tagged = client_mail(runtime, mail, sender="duda@client.example", subject="x", body="y")
    closed = client_mail(runtime, mail, sender="Zoë Müller <zoe@client.example>", subject="z")
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="Crédito")
        assign_tags(
            session,
            company_id=company.id,
            tag_ids=[tag.id],
            assignee_type="client",
            assignee_id=tagged.client_id,
        )
        close_dialog(session, company_id=company.id, dialog_id=closed.dialog_id)
    admin = signin(company.admin_email, company.admin_password)

    assert found(admin, q="araujo") == [araujo.dialog_id]
    assert found(admin, q="ARAÚJO") == [araujo.dialog_id]
    assert found(admin, q="pedro@LOJA") == [araujo.dialog_id]
    assert found(admin, q="devolucao") == [subject.dialog_id]
    assert found(admin, q="instalacao nao") == [text.dialog_id]
    assert found(admin, q="98877") == [phone.dialog_id]
    assert found(admin, q="credito") == [tagged.dialog_id]
    # closed chats: with "open and closed", and counted beside the open ones
    assert found(admin, q="zoe muller") == []
    assert found(admin, q="zoe muller", state="") == [closed.dialog_id]
    r = admin.http.get("/chats/list", params={"q": "müller"}, headers={"HX-Request": "true"})
    assert 'data-testid="count-closed">1<' in r.text and 'data-testid="count-open">0<' in r.text
    # what the index learns later is found too (it catches up before each search)
    late = client_mail(runtime, mail, sender="eva@client.example", subject="s", body="Pão")
    assert found(admin, q="pao") == [late.dialog_id]
    assert found(admin, q="nada disso") == []
    # the API searches the same way
    api = company.headers
    dialogs = admin.http.get("/v1/dialogs", params={"q": "Araujo"}, headers=api).json()
    assert [d["id"] for d in dialogs["data"]] == [araujo.dialog_id]
    clients = admin.http.get("/v1/clients", params={"q": "muller"}, headers=api).json()
    assert [c["id"] for c in clients["data"]] == [closed.client_id]
    messages = admin.http.get("/v1/messages", params={"q": "instalacao"}, headers=api).json()
    assert [m["id"] for m in messages["data"]] == [text.message_id]


def test_filters_combine_and_count(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    mail = email_channel(runtime, company.id)
    other = email_channel(runtime, company.id, "vendas@acme.example")
    a = client_mail(runtime, mail, sender="a@client.example", subject="a")
    b = client_mail(runtime, mail, sender="b@client.example", subject="b")
    c = client_mail(runtime, other, sender="c@client.example", subject="c")
    with runtime.db.transaction() as session:
        rafa = create_operator(
            session, company_id=company.id, email="rafa@acme.example", password="senha longa 1"
        )
        group = create_group(session, company_id=company.id, name="Vendas")
        tag = create_tag(session, company_id=company.id, label="VIP")
        assign_tags(
            session,
            company_id=company.id,
            tag_ids=[tag.id],
            assignee_type="request",
            assignee_id=b.request_id,
        )
        rafa_id, group_id, tag_id = rafa.id, group.id, tag.id
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]
    assert post(f"/chats/{a.dialog_id}/assign", {"target": f"op:{rafa_id}"}).status_code == 200
    assert post(f"/chats/{c.dialog_id}/assign", {"target": f"group:{group_id}"}).status_code == 200

    assert found(admin) == sorted([a.dialog_id, b.dialog_id, c.dialog_id])
    assert found(admin, operator=str(rafa_id)) == [a.dialog_id]
    assert found(admin, group=str(group_id)) == [c.dialog_id]
    assert found(admin, tag=str(tag_id)) == [b.dialog_id]
    assert found(admin, channel=str(mail), tag=str(tag_id)) == [b.dialog_id]
    assert found(admin, channel=str(other), tag=str(tag_id)) == []
    assert found(admin, since="2000-01-01", until="2000-12-31") == []
    assert found(admin, since="2000-01-01") == sorted([a.dialog_id, b.dialog_id, c.dialog_id])
    # malformed filters are ignored, never a 500
    assert len(found(admin, since="yesterday", operator="x", tag="-1", offset="9" * 20)) == 3
    page = admin.http.get("/chats", params={"tag": str(tag_id)}).text
    assert 'data-testid="list-total" data-total="1"' in page


def test_bulk_close_assign_and_tag_200_chats_one_audit_entry_each(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    ext = external_channel(runtime, company.id)
    dialogs = [
        client_message(runtime, company.id, ext, phone=f"+5511900{n:05d}", text=f"pedido {n}")
        for n in range(200)
    ]
    ids = [d.dialog_id for d in dialogs]
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="Lote")
        tag_id = tag.id
    admin = signin(company.admin_email, company.admin_password)

    def bulk(action: str, chosen: list[int], **extra: str) -> object:
        data: dict[str, object] = {"csrf": admin.csrf, "action": action, **extra}
        data["ids"] = [str(i) for i in chosen]
        return admin.http.post("/chats/bulk", data=data, headers={"HX-Request": "true"})  # type: ignore[arg-type]

    r = bulk(f"assign:op:{company.admin_id}", ids)
    assert r.status_code == 200 and "Feito: 200 conversas." in r.text  # type: ignore[attr-defined]
    assert r.headers["hx-trigger"] == "live"  # type: ignore[attr-defined]
    r = bulk(f"tag:{tag_id}", ids)
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert found(admin, tag=str(tag_id), limit="200") == sorted(ids)
    # "select all matching": the filters, not the ids, choose the chats
    r = bulk("close", [], all_matching="1", q="pedido 19", state="open", who="all")
    assert r.status_code == 200 and "Feito: 11 conversas." in r.text  # type: ignore[attr-defined]
    r = bulk("close", ids)
    assert r.status_code == 200  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        states = session.execute(
            select(Dialog.state, Dialog.operator_id).where(Dialog.id.in_(ids))
        ).all()
        assert {tuple(s) for s in states} == {("closed", company.admin_id)}
        per_chat = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.company_id == company.id,
                AuditEntry.action.like("dialog % closed (bulk)"),
            )
        )
        assert per_chat == 211  # 11 by the filters, then the 200 again, one entry each
        assigned = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.like(f"dialog % assigned to operator {company.admin_id}%"))
        )
        assert assigned == 200
    # bad input: a clear sentence, nothing changes
    r = bulk("explode", ids[:2])
    assert r.status_code == 422 and "Escolha uma ação." in r.text  # type: ignore[attr-defined]
    r = bulk("close", [])
    assert r.status_code == 422 and "Selecione pelo menos uma conversa." in r.text  # type: ignore[attr-defined]


def test_a_bulk_action_never_reaches_another_companys_chat(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture, signin: Signin
) -> None:
    mine = client_message(runtime, company.id, external_channel(runtime, company.id))
    theirs = client_message(runtime, other_company.id, external_channel(runtime, other_company.id))
    admin = signin(company.admin_email, company.admin_password)
    data = {"csrf": admin.csrf, "action": "close"}
    ids = [str(mine.dialog_id), str(theirs.dialog_id)]
    r = admin.http.post("/chats/bulk", data={**data, "ids": ids}, headers={"HX-Request": "true"})
    assert r.status_code == 404
    with runtime.db.reading() as session:
        assert session.get(Dialog, mine.dialog_id).state == "open"  # type: ignore[union-attr]
        assert session.get(Dialog, theirs.dialog_id).state == "open"  # type: ignore[union-attr]


def test_an_internal_note_never_becomes_the_preview(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    arrived = client_mail(runtime, email_channel(runtime, company.id), body="Meu pedido atrasou")
    admin = signin(company.admin_email, company.admin_password)
    note = admin.post(f"/chats/{arrived.dialog_id}/send", {"mode": "comment", "text": "VIP!"})  # type: ignore[attr-defined]
    assert note.status_code == 200
    page = admin.http.get("/chats").text
    preview = re.search(r'data-testid="dialog-preview">([^<]*)<', page)
    assert preview and preview[1] == "Meu pedido atrasou"


def test_errors_reach_the_operator_in_their_language_and_the_api_has_a_code(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    data = {"name": "Outra Ana", "email": company.admin_email, "password": "senha longa 1"}
    r = admin.post("/settings/operators", {**data, "role": "operator"})  # type: ignore[attr-defined]
    assert "Já existe um operador com este e-mail." in r.text  # type: ignore[attr-defined]
    assert "already exists" not in r.text  # type: ignore[attr-defined]
    assert 'value="Outra Ana"' in r.text  # type: ignore[attr-defined]  # the form keeps its input
    api = admin.http.post(
        "/v1/operators",
        json={"email": company.admin_email, "password": "senha longa 1"},
        headers=company.headers,
    )
    assert api.status_code == 409
    body = api.json()
    assert body["code"] == "operator.email_taken"
    assert body["message"] == "An operator with this e-mail already exists"


def test_the_api_bulk_form_of_put_dialogs(
    runtime: Runtime,
    company: CompanyFixture,
    other_company: CompanyFixture,
    app_client: TestClient,
) -> None:
    ext = external_channel(runtime, company.id)
    ids = [client_message(runtime, company.id, ext).dialog_id for _ in range(3)]
    theirs = client_message(runtime, other_company.id, external_channel(runtime, other_company.id))
    http = app_client  # the API's own client: its answers count for the endpoint coverage
    r = http.put(
        "/v1/dialogs", json={"dialog_ids": ids, "state": "closed"}, headers=company.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"dialog_ids": ids, "count": 3}
    with runtime.db.reading() as session:
        states = session.scalars(select(Dialog.state).where(Dialog.id.in_(ids))).all()
        assert states == ["closed"] * 3
    assert http.put("/v1/dialogs", json={"dialog_ids": ids, "state": "closed"}).status_code == 401
    two = {"dialog_ids": ids, "state": "closed", "read": True}
    r = http.put("/v1/dialogs", json=two, headers=company.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    mixed = {"dialog_ids": [ids[0], theirs.dialog_id], "operator_id": company.admin_id}
    r = http.put("/v1/dialogs", json=mixed, headers=company.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    with runtime.db.reading() as session:
        assert session.get(Dialog, ids[0]).operator_id is None  # type: ignore[union-attr]
    r = http.put("/v1/dialogs", json={"dialog_ids": [], "read": True}, headers=company.headers)
    assert r.status_code == 422 and r.json()["code"] == "bulk.empty"
