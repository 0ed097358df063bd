"""The automation settings pages of the panel, server-side: what a form saves, what a refusal
says (in the operator's language), the menu tree, the surveys and their report."""

from __future__ import annotations

from collections.abc import Callable

from atendo.core.automation.service import automation_settings, list_menu_items, list_ratings
from atendo.core.operators.service import create_group
from atendo.runtime import Runtime
from tests.automation.helpers import close, run
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel, queued_reply
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]

FORM = {
    "timezone": "America/Manaus",
    "open_1": "on", "start_1": "08:00", "end_1": "17:00",
    "open_6": "on", "start_6": "09:00", "end_6": "12:00",
    "start_2": "09:00", "end_2": "18:00",
    "holidays": "2026-12-25\n2027-01-01",
    "new_in_hours": "Olá {cliente.nome}!", "new_out_of_hours": "Fechados agora.",
    "returning_in_hours": "", "returning_out_of_hours": "",
    "min_interval_hours": "6",
    "menu_enabled": "on", "invitation": "Escolha:", "end_word": "fim",
    "unknown_text": "Não entendi.", "timeout_minutes": "15",
    "after_hours": "1,5", "close_message": "Até logo",
}  # fmt: skip


def test_the_automation_form_saves_every_section(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        group = create_group(session, company_id=company.id, name="Triagem").id
    panel = signin(company.admin_email, company.admin_password)
    page = panel.http.get(f"/settings/channels/{chat}/automation")
    assert page.status_code == 200 and "Horário de atendimento" in page.text
    assert f'<option value="{group}" >Triagem</option>' in page.text
    r = panel.post(f"/settings/channels/{chat}/automation",
                   {**FORM, "default_group_id": str(group)})  # type: ignore[attr-defined]  # fmt: skip
    assert r.status_code == 303  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        saved = automation_settings(session, company_id=company.id, channel_id=chat)
    assert saved.model_dump(mode="json") == {
        "working_hours": {
            "timezone": "America/Manaus",
            "week": [{"day": 1, "start": "08:00", "end": "17:00"},
                     {"day": 6, "start": "09:00", "end": "12:00"}],
            "holidays": ["2026-12-25", "2027-01-01"],
        },
        "greetings": {"new_in_hours": "Olá {cliente.nome}!", "new_out_of_hours": "Fechados agora.",
                      "returning_in_hours": "", "returning_out_of_hours": "",
                      "min_interval_hours": 6},
        "menu": {"enabled": True, "invitation": "Escolha:", "end_word": "fim",
                 "unknown_text": "Não entendi.", "timeout_minutes": 15, "default_group_id": group},
        "auto_close": {"after_hours": 1.5, "message": "Até logo"},
    }  # fmt: skip
    shown = panel.http.get(f"/settings/channels/{chat}/automation?saved=1").text
    assert "Configurações de automação salvas." in shown and "Até logo" in shown


def test_a_refusal_names_the_fields_in_the_operators_language(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    bad = {**FORM, "holidays": "amanhã", "timeout_minutes": "0"}
    r = panel.post(f"/settings/channels/{chat}/automation", bad)
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "Feriados: “amanhã” não é uma data (AAAA-MM-DD ou DD/MM/AAAA)." in r.text  # type: ignore[attr-defined]
    assert "Tempo limite (minutos): um número inteiro de 1 a 1440." in r.text  # type: ignore[attr-defined]
    with runtime.db.reading() as session:  # nothing saved
        assert (
            automation_settings(session, company_id=company.id, channel_id=chat).menu.enabled
            is False
        )


def test_menu_items_are_added_as_a_tree_and_deleted(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    url = f"/settings/channels/{chat}/menu"
    assert panel.post(url, {"command": "1", "name": "Vendas", "text": "Escolha"}).status_code == 303  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        top = list_menu_items(session, company_id=company.id, channel_id=chat)[0].id
    assert (
        panel.post(url, {"command": "1", "name": "Novos", "parent_id": str(top)}).status_code == 303
    )  # type: ignore[attr-defined]
    refused = panel.post(url, {"command": "1", "name": "Outra"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "O comando “1” já é usado neste nível." in refused.text  # type: ignore[attr-defined]
    page = panel.http.get(url).text
    assert page.index("Vendas") < page.index("Novos")
    assert 'class="indent depth-1">1<' in page
    panel.post(f"{url}/{top}/delete")
    with runtime.db.reading() as session:
        assert list_menu_items(session, company_id=company.id, channel_id=chat) == []


def test_surveys_and_their_report(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    r = panel.post("/settings/ratings", {
        "name": "CSAT", "question": "Como foi?", "channel_ids": str(chat),
        "score_value": ["1", "5"], "score_answers": ["1, ruim", "5, ótimo"],
        "score_thanks": ["Sentimos muito", "Obrigado!"], "score_tag": ["", ""],
        "min_interval_hours": "12", "enabled": "on",
    })  # type: ignore[dict-item]  # fmt: skip
    assert r.status_code == 303  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        (rating,) = list_ratings(session, company_id=company.id)
        assert rating.scale == [
            {"value": 1, "answers": ["1", "ruim"], "thanks": "Sentimos muito", "tag_id": None},
            {"value": 5, "answers": ["5", "ótimo"], "thanks": "Obrigado!", "tag_id": None},
        ]
    bad = {"name": "X", "question": "Q", "score_value": "cinco", "score_answers": "5"}
    refused = panel.post("/settings/ratings", bad)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "Nota 1: “cinco” não é um número inteiro." in refused.text  # type: ignore[attr-defined]
    arrived = client_message(runtime, company.id, chat)
    queued_reply(runtime, company.id, arrived.dialog_id, operator_id=company.admin_id)
    from atendo.core.dialogs.service import assign_dialog

    with runtime.db.transaction() as session:
        assign_dialog(session, company_id=company.id, dialog_id=arrived.dialog_id,
                      operator_id=company.admin_id)  # fmt: skip
    close(runtime, company.id, arrived.dialog_id)
    run(runtime)
    client_message(runtime, company.id, chat, client_id=arrived.client_id, text="ótimo")
    run(runtime)
    report = panel.http.get("/settings/ratings/report").text
    assert "5.00" in report and f"#{arrived.dialog_id}" in report


def test_operators_cannot_open_the_automation_pages(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    from atendo.core.enums import Role
    from atendo.core.operators.service import create_operator

    chat = external_channel(runtime, company.id)
    email = f"op{company.id}@acme.example"
    with runtime.db.transaction() as session:
        create_operator(session, company_id=company.id, email=email, password="senha longa 123",
                        role=Role.OPERATOR, first_name="Op", last_name="")  # fmt: skip
    panel = signin(email, "senha longa 123")
    for url in (f"/settings/channels/{chat}/automation", f"/settings/channels/{chat}/menu",
                "/settings/ratings", "/settings/ratings/report"):  # fmt: skip
        assert panel.http.get(url).status_code == 403
