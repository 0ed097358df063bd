"""Settings that can be undone and a client card that can be edited, through the panel (no
browser), on SQLite and PostgreSQL: tags, templates, groups, operators and channels are
created, edited and deleted with clear sentences for duplicates; the client card edits name,
phone, comment and custom fields, and merges two clients (the merged id answers with the
survivor, in the API too); the block list names who is blocked and why."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.companies.models import AuditEntry
from atendo.core.dialogs.models import Dialog
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.core.operators.service import authenticate_operator, create_group, create_operator
from atendo.core.tags.models import Tag, TagAssignment
from atendo.core.tags.service import assign_tags, create_tag
from atendo.core.templates.models import Template
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]


def test_tags_are_edited_deleted_and_unique_per_group(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    arrived = client_mail(runtime, email_channel(runtime, company.id))
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]
    assert post("/settings/tags", {"label": "Entrega", "bg_color": "#ffeeaa"}).status_code == 303
    twice = post("/settings/tags", {"label": "entrega"})
    assert twice.status_code == 409
    assert "Já existe a tag entrega neste grupo." in twice.text
    with runtime.db.transaction() as session:
        tag = session.scalars(select(Tag).where(Tag.company_id == company.id)).one()
        assign_tags(
            session,
            company_id=company.id,
            tag_ids=[tag.id],
            assignee_type="client",
            assignee_id=arrived.client_id,
        )
        tag_id = tag.id
    page = admin.http.get("/settings/tags").text
    assert "A tag sai de 1 clientes ou atendimentos." in page
    edited = post(f"/settings/tags/{tag_id}", {"label": "Entregas", "text_color": "#112233"})
    assert edited.status_code == 303
    with runtime.db.reading() as session:
        tag = session.get(Tag, tag_id)
        assert tag is not None and (tag.label, tag.text_color) == ("Entregas", "#112233")
    assert post(f"/settings/tags/{tag_id}", {"label": " "}).status_code == 422
    assert post(f"/settings/tags/{tag_id}/delete").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(Tag, tag_id) is None
        left = select(func.count()).select_from(TagAssignment).where(TagAssignment.tag_id == tag_id)
        assert session.scalar(left) == 0


def test_templates_have_unique_shortcuts_edits_and_a_preview(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]
    text = "Olá, {cliente.nome}! Aqui é {operador.nome}."
    assert (
        post("/settings/templates", {"name": "Oi", "command": "/ola", "text": text}).status_code
        == 303
    )
    again = post("/settings/templates", {"name": "Outro", "command": "OLA", "text": "x"})
    assert again.status_code == 409 and "Outro modelo já usa o atalho /OLA." in again.text
    assert 'value="Outro"' in again.text  # the form keeps what was typed
    page = admin.http.get("/settings/templates").text
    assert "Olá, Maria Silva! Aqui é" in page
    with runtime.db.reading() as session:
        tpl = session.scalars(select(Template).where(Template.company_id == company.id)).one()
        assert tpl.command == "ola"
    r = post(f"/settings/templates/{tpl.id}", {"name": "Oi!", "command": "oi", "text": "Oi"})
    assert r.status_code == 303
    with runtime.db.reading() as session:
        tpl2 = session.get(Template, tpl.id)
        assert tpl2 is not None and (tpl2.name, tpl2.command, tpl2.text) == ("Oi!", "oi", "Oi")
    assert post(f"/settings/templates/{tpl.id}/delete").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(Template, tpl.id) is None


def test_groups_and_operators_can_be_renamed_emptied_deleted_and_reset(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    arrived = client_mail(runtime, email_channel(runtime, company.id))
    with runtime.db.transaction() as session:
        rafa = create_operator(
            session, company_id=company.id, email="rafa@acme.example", password="senha antiga 1"
        )
        group = create_group(session, company_id=company.id, name="Vendas")
        rafa_id, group_id = rafa.id, group.id
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]
    assert post("/settings/groups", {"name": "vendas"}).status_code == 409
    assert post(f"/settings/groups/{group_id}", {"name": "Comercial"}).status_code == 303
    member = {"operator_id": str(rafa_id), "skill": "70"}
    assert post(f"/settings/groups/{group_id}/members", member).status_code == 303
    bad = post(f"/settings/groups/{group_id}/members", {"operator_id": str(rafa_id), "skill": "x"})
    assert bad.status_code == 422 and "A habilidade deve estar entre 1 e 100." in bad.text
    post(f"/chats/{arrived.dialog_id}/assign", {"target": f"group:{group_id}"})
    assert post(f"/settings/groups/{group_id}/members/{rafa_id}/delete").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(OperatorGroup, group_id).name == "Comercial"  # type: ignore[union-attr]
        gone = select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group_id)
        assert session.scalar(gone) == 0
    assert "1 conversas saem do grupo" in admin.http.get("/settings/operators").text
    assert post(f"/settings/groups/{group_id}/delete").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(OperatorGroup, group_id) is None
        assert session.get(Dialog, arrived.dialog_id).group_id is None  # type: ignore[union-attr]

    r = post(f"/settings/operators/{rafa_id}", {"name": "Rafael Lima", "password": "senha nova 12"})
    assert r.status_code == 303
    with runtime.db.transaction() as session:
        op = session.get(Operator, rafa_id)
        assert op is not None and (op.first_name, op.last_name) == ("Rafael", "Lima")
        assert authenticate_operator(session, email="rafa@acme.example", password="senha nova 12")
    short = post(f"/settings/operators/{rafa_id}", {"name": "R", "password": "curta"})
    assert short.status_code == 422 and "A senha precisa ter pelo menos 8 caracteres." in short.text
    assert post(f"/settings/operators/{rafa_id}/role", {"role": "disabled"}).status_code == 303
    with runtime.db.reading() as session:
        assert session.get(Operator, rafa_id).role == "disabled"  # type: ignore[union-attr]


def test_channels_are_disabled_enabled_and_deleted_and_their_chats_stay(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel_id = email_channel(runtime, company.id)
    arrived = client_mail(runtime, channel_id)
    admin = signin(company.admin_email, company.admin_password)
    post = admin.post  # type: ignore[attr-defined]
    assert post(f"/settings/channels/{channel_id}/disable").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(Channel, channel_id).status == "disabled"  # type: ignore[union-attr]
    assert "support@acme.example" not in admin.http.get("/chats/new").text
    assert post(f"/settings/channels/{channel_id}/enable").status_code == 303
    with runtime.db.reading() as session:
        assert session.get(Channel, channel_id).status == "connecting"  # type: ignore[union-attr]
    assert post(f"/settings/channels/{channel_id}/delete").status_code == 303
    assert 'data-testid="channel-row"' not in admin.http.get("/settings/channels").text
    chat = admin.http.get(f"/chats/{arrived.dialog_id}")
    assert chat.status_code == 200 and 'data-testid="message"' in chat.text


def test_the_client_card_edits_and_merges(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel_id = email_channel(runtime, company.id)
    home = client_mail(runtime, channel_id, sender="Ana <ana@casa.example>", subject="a")
    work = client_mail(runtime, channel_id, sender="ana@trabalho.example", subject="b")
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="VIP")
        assign_tags(
            session,
            company_id=company.id,
            tag_ids=[tag.id],
            assignee_type="client",
            assignee_id=work.client_id,
        )
    admin = signin(company.admin_email, company.admin_password)
    hx = {"HX-Request": "true"}
    data = {
        "csrf": admin.csrf,
        "name": "Ana Araújo",
        "phone": "+55 11 97777-0000",
        "comment": "Prefere e-mail",
        "new_field": "CPF",
        "new_value": "123",
    }
    r = admin.http.post(f"/clients/{home.client_id}", data=data, headers=hx)
    assert r.status_code == 200 and 'data-testid="client-notice"' in r.text
    with runtime.db.reading() as session:
        client = session.get(Client, home.client_id)
        assert client is not None
        assert (client.name, client.phone, client.comment) == (
            "Ana Araújo",
            "+55 11 97777-0000",
            "Prefere e-mail",
        )
        assert client.custom_fields == {"CPF": "123"}
    # A name longer than its column is refused in words, never cut short in silence.
    too_long = {**data, "name": "N" * 301, "new_field": ""}
    r = admin.http.post(f"/clients/{home.client_id}", data=too_long, headers=hx)
    assert "Um texto está longo demais: no máximo 300 caracteres. Nada foi salvo." in r.text
    with runtime.db.reading() as session:
        assert session.get(Client, home.client_id).name == "Ana Araújo"  # type: ignore[union-attr]
    merge = {"csrf": admin.csrf, "other": "ana@trabalho.example"}
    r = admin.http.post(f"/clients/{home.client_id}/merge", data=merge, headers=hx)
    assert r.status_code == 200 and "Clientes unidos." in r.text
    assert "ana@trabalho.example" in r.text and ">VIP<" in r.text
    with runtime.db.reading() as session:
        owners = set(
            session.scalars(
                select(ClientIdentity.client_id).where(ClientIdentity.company_id == company.id)
            )
        )
        assert owners == {home.client_id}
        moved = session.get(Dialog, work.dialog_id)
        assert moved is not None and moved.client_id == home.client_id
        audit = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("client % merged into %"))
        ).all()
        assert audit == [f"client {work.client_id} merged into client {home.client_id}"]
    # the merged id answers with the survivor, in the API too; the list shows one client
    api = admin.http.get(f"/v1/clients/{work.client_id}", headers=company.headers).json()
    assert api["data"]["id"] == home.client_id
    listed = admin.http.get("/v1/clients", headers=company.headers).json()
    assert [c["id"] for c in listed["data"]] == [home.client_id]
    fields = admin.http.get("/v1/custom_client_fields", headers=company.headers).json()
    assert "CPF" in str(fields["data"])
    # itself, or nobody: a sentence, nothing changes
    merge["other"] = f"#{home.client_id}"
    r = admin.http.post(f"/clients/{home.client_id}/merge", data=merge, headers=hx)
    assert "Escolha outro cliente para unir." in r.text
    merge["other"] = "ninguem@nada.example"
    r = admin.http.post(f"/clients/{home.client_id}/merge", data=merge, headers=hx)
    assert "Nenhum cliente único tem este endereço, telefone ou número." in r.text


def test_blocking_needs_a_reason_and_the_list_names_who(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    arrived = client_mail(runtime, email_channel(runtime, company.id), sender="Zé <ze@x.example>")
    admin = signin(company.admin_email, company.admin_password)
    hx = {"HX-Request": "true"}
    r = admin.http.post(
        f"/clients/{arrived.client_id}/block", data={"csrf": admin.csrf}, headers=hx
    )
    assert "Diga por que o cliente está sendo bloqueado." in r.text
    data = {"csrf": admin.csrf, "reason": "spam", "until": "2099-12-31"}
    assert (
        admin.http.post(f"/clients/{arrived.client_id}/block", data=data, headers=hx).status_code
        == 200
    )
    page = admin.http.get("/settings/blocks").text
    assert ">Zé<" in page and ">Cliente<" in page and ">spam<" in page
    assert f"#{arrived.client_id}" not in page
    bad = admin.post("/settings/blocks", {"kind": "email", "value": " "})  # type: ignore[attr-defined]
    assert bad.status_code == 422 and "Informe o endereço ou domínio a bloquear." in bad.text


def test_operators_write_their_own_signature_and_admins_see_a_first_run_checklist(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get("/chats").text
    assert 'data-testid="first-run"' in page
    assert page.count('data-done="no"') == 3 and "Conectar caixa de e-mail" in page
    channel_id = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        create_operator(
            session, company_id=company.id, email="bia@acme.example", password="senha longa 9"
        )
    page = admin.http.get("/chats").text
    assert page.count('data-done="no"') == 1 and page.count('data-done="yes"') == 2
    bia = signin("bia@acme.example", "senha longa 9")
    assert 'data-testid="first-run"' not in bia.http.get("/chats").text  # admins only
    r = bia.post("/me/signatures", {f"signature:{channel_id}": "Bia\nSuporte"})  # type: ignore[attr-defined]
    assert r.status_code == 200 and "Suas assinaturas foram salvas." in r.text
    assert "Bia\nSuporte</textarea>" in bia.http.get("/me").text
    other = bia.post("/me/signatures", {"signature:999999": "x"})  # type: ignore[attr-defined]
    assert other.status_code == 404
