"""The menu and survey editors of the panel, server-side: an item edited, moved among its
siblings and deleted; a survey edited score by score; each refusal told as sentences in the
operator's language, the form coming back as sent; nothing of another channel or company
reachable."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest

from atendo.core.automation.service import create_menu_item, list_menu_items, list_ratings
from atendo.core.operators.service import create_group, update_operator
from atendo.core.tags.service import create_tag
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import external_channel
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]


def _alert(page: str) -> list[str]:
    box = re.search(r'role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert box is not None, "no alert on the page"
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", box[1])]


def _item(runtime: Runtime, company_id: int, channel: int, **data: object) -> int:
    with runtime.db.transaction() as session:
        return create_menu_item(session, company_id=company_id, channel_id=channel,
                                data={"text": "", **data}).id  # fmt: skip


def _commands(runtime: Runtime, company_id: int, channel: int, parent: int | None) -> list[str]:
    with runtime.db.reading() as session:
        items = list_menu_items(session, company_id=company_id, channel_id=channel,
                                parent_id=parent, only_parent=True)  # fmt: skip
        return [i.command for i in items]


def _english(runtime: Runtime, company: CompanyFixture) -> None:
    with runtime.db.transaction() as session:
        update_operator(session, company_id=company.id, operator_id=company.admin_id,
                        language="en")  # fmt: skip


def test_an_item_is_edited_in_place(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        group = create_group(session, company_id=company.id, name="Vendas").id
        tag = create_tag(session, company_id=company.id, label="lead").id
    sales = _item(runtime, company.id, chat, command="1", name="Vendas")
    support = _item(runtime, company.id, chat, command="2", name="Suporte")
    panel = signin(company.admin_email, company.admin_password)
    url = f"/settings/channels/{chat}/menu/{sales}"
    page = panel.http.get(url).text
    assert 'value="Vendas" data-testid="menu-name"' in page and 'action="' + url + '"' in page
    r = panel.post(url, {"command": "1", "name": "Comprar", "text": "Um vendedor já vem.",
                         "assign_group_id": str(group), "tag_id": str(tag), "close": "on",
                         "parent_id": str(support)})  # fmt: skip
    assert r.status_code == 303  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        (item,) = list_menu_items(session, company_id=company.id, channel_id=chat, level=2)
        got = (item.id, item.parent_id, item.command, item.name, item.text,
               item.assign_group_id, item.tag_id, item.close, item.url_enabled)  # fmt: skip
    assert got == (sales, support, "1", "Comprar", "Um vendedor já vem.", group, tag, True, False)
    page = panel.http.get(url).text  # the form shows what was saved
    assert f'<option value="{group}" selected>Vendas</option>' in page
    assert f'<option value="{tag}" selected>lead</option>' in page
    assert 'name="close" checked' in page
    # It cannot go under itself: the edit form does not offer it, a forged form is refused.
    under_support = panel.http.get(f"/settings/channels/{chat}/menu/{support}").text
    assert (
        f'<option value="{sales}"'
        not in under_support.split('name="parent_id"')[1].split("</select>")[0]
    )
    r = panel.post(f"/settings/channels/{chat}/menu/{support}",
                   {"command": "2", "name": "Suporte", "parent_id": str(sales)})  # fmt: skip
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert _alert(r.text) == ["Um item não pode ficar sob ele mesmo nem sob um item abaixo dele."]  # type: ignore[attr-defined]


def test_items_move_among_their_siblings(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    base = f"/settings/channels/{chat}/menu"
    for command in ("1", "2", "3"):  # added through the panel: each goes last
        assert panel.post(base, {"command": command, "name": f"Item {command}"}).status_code == 303  # type: ignore[attr-defined]
    ids = {}
    with runtime.db.reading() as session:
        for item in list_menu_items(session, company_id=company.id, channel_id=chat):
            ids[item.command] = item.id
    child = _item(runtime, company.id, chat, command="9", name="Filho", parent_id=ids["1"])
    assert _commands(runtime, company.id, chat, None) == ["1", "2", "3"]
    panel.post(f"{base}/{ids['3']}/move", {"direction": "up"})
    assert _commands(runtime, company.id, chat, None) == ["1", "3", "2"]
    panel.post(f"{base}/{ids['1']}/move", {"direction": "up"})  # already first
    assert _commands(runtime, company.id, chat, None) == ["1", "3", "2"]
    panel.post(f"{base}/{ids['1']}/move", {"direction": "down"})
    assert _commands(runtime, company.id, chat, None) == ["3", "1", "2"]
    panel.post(f"{base}/{ids['2']}/move", {"direction": "down"})  # already last
    assert _commands(runtime, company.id, chat, None) == ["3", "1", "2"]
    assert _commands(runtime, company.id, chat, ids["1"]) == ["9"]  # its child went along
    page = panel.http.get(base).text
    assert page.index("Item 3") < page.index("Item 1") < page.index("Filho") < page.index("Item 2")
    assert f'data-testid="menu-up-{ids["3"]}">' in page  # the first cannot go up
    assert re.search(
        rf'disabled title="[^"]*" aria-label="[^"]*" data-testid="menu-up-{ids["3"]}"', page
    )
    assert re.search(
        rf'disabled title="[^"]*" aria-label="[^"]*" data-testid="menu-down-{child}"', page
    )
    panel.post(f"{base}/{ids['1']}/delete")  # with the item below it
    assert _commands(runtime, company.id, chat, None) == ["3", "2"]
    with runtime.db.reading() as session:
        assert [i.id for i in list_menu_items(session, company_id=company.id, channel_id=chat)
                if i.id == child] == []  # fmt: skip


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pt_BR", ["O nome tem 23 caracteres; cabem no máximo 20.",
                   "00 e 000 são reservados: 00 volta ao início, 000 volta um nível.",
                   "A URL deve começar com http:// ou https://."]),
        ("en", ["The name has 23 characters; at most 20 fit.",
                "00 and 000 are reserved: 00 goes back to the start, 000 one level back.",
                "The URL must start with http:// or https://."]),
    ],
)  # fmt: skip
def test_a_bad_item_is_told_in_sentences(
    runtime: Runtime, company: CompanyFixture, signin: Signin, language: str,
    expected: list[str],
) -> None:  # fmt: skip
    if language == "en":
        _english(runtime, company)
    chat = external_channel(runtime, company.id)
    panel = signin(company.admin_email, company.admin_password)
    base = f"/settings/channels/{chat}/menu"
    form = {"command": "00", "name": "Atendimento comercial 1", "url": "ftp://x.example",
            "text": "Escolha"}  # fmt: skip
    r = panel.post(base, form)
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert _alert(r.text) == expected  # type: ignore[attr-defined]
    assert 'value="Atendimento comercial 1" data-testid="menu-name"' in r.text  # type: ignore[attr-defined]
    r = panel.post(base, {"command": "1", "name": "Site", "url_enabled": "on"})
    assert _alert(r.text) == [  # type: ignore[attr-defined]
        "Para buscar o texto da resposta em uma URL, informe a URL."
        if language == "pt_BR"
        else "To fetch the reply text from a URL, give the URL."
    ]
    assert _commands(runtime, company.id, chat, None) == []


def test_another_channels_or_companys_item_is_not_reachable(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    elsewhere = external_channel(runtime, company.id, name="Outro")
    theirs = external_channel(runtime, other_company.id)
    mine = _item(runtime, company.id, elsewhere, command="1", name="Meu")
    foreign = _item(runtime, other_company.id, theirs, command="1", name="Deles")
    panel = signin(company.admin_email, company.admin_password)
    for item, channel in ((mine, chat), (foreign, theirs), (foreign, chat)):
        base = f"/settings/channels/{channel}/menu/{item}"
        assert panel.http.get(base).status_code == 404
        assert panel.post(base, {"command": "2", "name": "X"}).status_code == 404  # type: ignore[attr-defined]
        assert panel.post(f"{base}/move", {"direction": "up"}).status_code == 404  # type: ignore[attr-defined]
        assert panel.post(f"{base}/delete").status_code == 404  # type: ignore[attr-defined]
    assert _commands(runtime, company.id, elsewhere, None) == ["1"]
    assert _commands(runtime, other_company.id, theirs, None) == ["1"]


# --- surveys ----------------------------------------------------------------------------------


def _survey(**extra: object) -> dict[str, object]:
    return {"name": "CSAT", "question": "Como foi?", "min_interval_hours": "12", "enabled": "on",
            "score_value": ["5", "1"], "score_answers": ["5, ótimo", "1, ruim"],
            "score_thanks": ["Obrigado!", "Sentimos muito."], "score_tag": ["", ""],
            **extra}  # fmt: skip


def test_a_survey_is_edited_score_by_score(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    chat = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        tag = create_tag(session, company_id=company.id, label="detrator").id
    panel = signin(company.admin_email, company.admin_password)
    new = panel.http.get("/settings/ratings").text  # a new survey starts with 5 down to 1
    assert re.findall(r'name="score_value" value="(\d)"', new) == ["5", "4", "3", "2", "1"]
    assert panel.post("/settings/ratings", _survey()).status_code == 303  # type: ignore[arg-type, attr-defined]
    with runtime.db.reading() as session:
        (rating,) = list_ratings(session, company_id=company.id)
    url = f"/settings/ratings/{rating.id}"
    page = panel.http.get(url).text
    assert re.findall(r'name="score_answers" value="([^"]*)"', page) == ["5, ótimo", "1, ruim"]
    r = panel.post(url, _survey(  # the question changes, a score is added, one loses its tag
        question="De 1 a 5, como foi?", channel_ids=str(chat), min_interval_hours="24",
        score_value=["5", "3", "1"], score_answers=["5, ótimo", "3, ok", ""],
        score_thanks=["Obrigado!", "Anotado.", "Sentimos muito."], score_tag=["", "", str(tag)],
        hide_scores="on", enabled=""))  # type: ignore[arg-type]  # fmt: skip
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        (saved,) = list_ratings(session, company_id=company.id)
        assert (saved.id, saved.name, saved.question, saved.channel_ids, saved.min_interval_hours,
                saved.hide_scores, saved.enabled) == (
            rating.id, "CSAT", "De 1 a 5, como foi?", [chat], 24, True, False)  # fmt: skip
        assert saved.scale == [
            {"value": 5, "answers": ["5", "ótimo"], "thanks": "Obrigado!", "tag_id": None},
            {"value": 3, "answers": ["3", "ok"], "thanks": "Anotado.", "tag_id": None},
            {"value": 1, "answers": ["1"], "thanks": "Sentimos muito.", "tag_id": tag},
        ]
    # Without JavaScript, "add a score" sends the form back with one more row, saving nothing.
    r = panel.post(url, _survey(question="Outra?", scale_action="add"))  # type: ignore[arg-type]
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert re.findall(r'name="score_value" value="([^"]*)"', r.text) == ["5", "1", ""]  # type: ignore[attr-defined]
    r = panel.post(url, _survey(scale_action="remove:0"))  # type: ignore[arg-type]
    assert re.findall(r'name="score_value" value="([^"]*)"', r.text) == ["1"]  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        assert list_ratings(session, company_id=company.id)[0].question == "De 1 a 5, como foi?"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pt_BR", ["A alteração não foi salva.", "Dê um nome à pesquisa.",
                   "Escreva a pergunta feita ao cliente.",
                   "No máximo um convite por cliente a cada (horas): um número inteiro de 0 a 720.",
                   "Nota 2: “dez” não é um número inteiro.",
                   "Nota 3: informe o valor, um número inteiro.",
                   "A resposta “Ótimo” vale para duas notas."]),
        ("en", ["The change was not saved.", "Give the survey a name.",
                "Write the question the client is asked.",
                "At most one invitation per client every (hours): a whole number from 0 to 720.",
                "Score 2: “dez” is not a whole number.",
                "Score 3: give its value, a whole number.",
                "The answer “Ótimo” counts for two scores."]),
    ],
)  # fmt: skip
def test_a_bad_survey_is_told_in_sentences(
    runtime: Runtime, company: CompanyFixture, signin: Signin, language: str,
    expected: list[str],
) -> None:  # fmt: skip
    if language == "en":
        _english(runtime, company)
    panel = signin(company.admin_email, company.admin_password)
    form = _survey(name="", question=" ", min_interval_hours="999",
                   score_value=["5", "dez", "", "4", ""],
                   score_answers=["ótimo", "", "bom", "Ótimo", ""],
                   score_thanks=["", "", "", "", ""], score_tag=["", "", "", "", ""])  # fmt: skip
    r = panel.post("/settings/ratings", form)  # type: ignore[arg-type]
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert _alert(r.text) == expected  # type: ignore[attr-defined]
    assert re.findall(r'name="score_value" value="([^"]*)"', r.text) == ["5", "dez", "", "4", ""]  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        assert list_ratings(session, company_id=company.id) == []
