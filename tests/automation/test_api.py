"""The automation API: a channel's settings, the menu items (Chat2Desk scenarios),
``send_menu_item``, the survey definitions and ``/v1/statistics?report=rating`` — each for
success, for a bad token and for bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from atendo.runtime import Runtime
from tests.automation.helpers import Clock, autoreplies, close, run
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel, queued_reply

BAD = {"Authorization": "not-a-token"}


def _data(response: object, status: int = 200) -> object:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    return response.json()["data"]  # type: ignore[attr-defined]


def test_channel_automation_settings(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    chat = external_channel(runtime, company.id)
    path = f"/v1/channels/{chat}/automation"
    got = _data(api.get(path))
    assert got == {
        "working_hours": {"timezone": "America/Sao_Paulo", "week": [], "holidays": []},
        "greetings": {
            "new_in_hours": "",
            "new_out_of_hours": "",
            "returning_in_hours": "",
            "returning_out_of_hours": "",
            "min_interval_hours": 12,
        },
        "menu": {
            "enabled": False,
            "invitation": "",
            "end_word": "sair",
            "unknown_text": "Não entendi. Escolha uma das opções:",
            "timeout_minutes": 30,
            "default_group_id": None,
        },
        "auto_close": {"after_hours": None, "message": ""},
    }
    body = {
        "working_hours": {"week": [{"day": 1, "start": "08:00", "end": "12:00"}],
                          "holidays": ["2026-12-25"]},
        "greetings": {"new_in_hours": "Olá!"},
        "auto_close": {"after_hours": 24, "message": "Tchau"},
    }  # fmt: skip
    saved = _data(api.put(path, json=body))
    assert saved["working_hours"] == {  # type: ignore[index]
        "timezone": "America/Sao_Paulo",
        "week": [{"day": 1, "start": "08:00", "end": "12:00"}],
        "holidays": ["2026-12-25"],
    }
    assert saved["greetings"]["new_in_hours"] == "Olá!"  # type: ignore[index]
    assert saved["auto_close"] == {"after_hours": 24.0, "message": "Tchau"}  # type: ignore[index]
    assert _data(api.get(path)) == saved
    for bad in (
        {"working_hours": {"timezone": "Mars/Olympus"}},
        {"working_hours": {"week": [{"day": 8, "start": "08:00", "end": "09:00"}]}},
        {"working_hours": {"week": [{"day": 1, "start": "8h", "end": "09:00"}]}},
        {"greetings": {"min_interval_hours": -1}},
        {"menu": {"default_group_id": 10**6}},
        {"greetings": "hello"},
        {"colour": {"x": 1}},
    ):
        r = api.put(path, json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["status"] == "error"
    assert _data(api.get(path)) == saved  # nothing changed
    assert api.get("/v1/channels/999999/automation").status_code == 404
    assert api.get(path, headers=BAD).status_code == 401
    assert api.put(path, headers=BAD, json=body).status_code == 401


def test_menu_items_crud(api: TestClient, runtime: Runtime, company: CompanyFixture) -> None:
    chat = external_channel(runtime, company.id)
    top = _data(api.post("/v1/scenarios/menu_items",
                         json={"channel_id": chat, "command": "1", "name": "Vendas",
                               "text": "Escolha"}), 201)  # fmt: skip
    assert top == {
        "id": top["id"],  # type: ignore[index]
        "channel_id": chat,
        "parent_id": None,
        "command": "1",
        "name": "Vendas",
        "text": "Escolha",
        "assign_id": None,
        "assign_subject": None,
        "tag_id": None,
        "url": None,
        "url_enabled": False,
        "close": False,
        "position": 0,
        "level": 1,
        "image": None,
    }
    top_id = top["id"]  # type: ignore[index]
    child = _data(api.post("/v1/scenarios/menu_items",
                           data={"channel_id": str(chat), "parent_id": str(top_id),
                                 "command": "1", "name": "Novos"}), 201)  # fmt: skip
    assert child["level"] == 2 and child["parent_id"] == top_id  # type: ignore[index]
    level2 = _data(api.get("/v1/scenarios/menu_items", params={"channel_id": chat, "level": 2}))
    assert [i["id"] for i in level2] == [child["id"]]  # type: ignore[index,union-attr]
    changed = _data(api.put(f"/v1/scenarios/menu_items/{child['id']}",  # type: ignore[index]
                            json={"name": "Usados", "url": "https://example.org/x",
                                  "url_enabled": True}))  # fmt: skip
    assert (changed["name"], changed["url_enabled"]) == ("Usados", True)  # type: ignore[index]
    scenarios = _data(api.get("/v1/scenarios"))
    assert scenarios == [{"channel_id": chat, "enabled": False, "invitation": "", "items": 2}]
    for bad in (
        {"channel_id": chat, "command": "1", "name": "Outro"},  # taken on this level
        {"channel_id": chat, "command": "00", "name": "Reservado"},
        {"channel_id": chat, "command": "2", "name": "um nome longo demais aqui"},
        {"channel_id": chat, "command": "2"},
        {"channel_id": chat, "command": "2", "name": "X", "assign_id": 10**6},
        {"channel_id": chat, "command": "2", "name": "X", "url": "ftp://x"},
        {"channel_id": chat, "command": "2", "name": "X", "url_enabled": True},
        {"channel_id": chat, "command": "2", "name": "X", "image": "file:///etc/passwd"},
        {"command": "2", "name": "X"},
    ):
        r = api.post("/v1/scenarios/menu_items", json=bad)
        assert r.status_code == 422, (bad, r.text)
    r = api.put(f"/v1/scenarios/menu_items/{top_id}", json={"parent_id": child["id"]})  # type: ignore[index]
    assert r.status_code == 422  # not below itself
    assert api.post("/v1/scenarios/menu_items", json={"channel_id": 10**6, "command": "9",
                                                      "name": "X"}).status_code == 404  # fmt: skip
    assert api.put("/v1/scenarios/menu_items/999999", json={"name": "X"}).status_code == 404
    assert api.delete("/v1/scenarios/menu_items/999999").status_code == 404
    assert api.get("/v1/scenarios/menu_items", params={"channel_id": 10**6}).status_code == 404
    assert _data(api.delete(f"/v1/scenarios/menu_items/{top_id}")) == {}
    assert _data(api.get("/v1/scenarios/menu_items", params={"channel_id": chat})) == []
    for method, path in (("GET", "/v1/scenarios"), ("GET", "/v1/scenarios/menu_items"),
                         ("POST", "/v1/scenarios/menu_items"),
                         ("PUT", f"/v1/scenarios/menu_items/{top_id}"),
                         ("DELETE", f"/v1/scenarios/menu_items/{top_id}")):  # fmt: skip
        assert api.request(method, path, headers=BAD).status_code == 401


def test_send_menu_item(
    api: TestClient, runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    top = _data(api.post("/v1/scenarios/menu_items",
                         json={"channel_id": chat, "command": "1", "name": "Vendas",
                               "text": "Escolha:"}), 201)  # fmt: skip
    api.post("/v1/scenarios/menu_items", json={"channel_id": chat, "parent_id": top["id"],  # type: ignore[index]
                                               "command": "1", "name": "Novos",
                                               "text": "Novos!"})  # fmt: skip
    arrived = client_message(runtime, company.id, chat)
    sent = _data(api.post("/v1/scenarios/send_menu_item",
                          json={"client_id": arrived.client_id, "menu_item_id": top["id"]}))  # type: ignore[index]  # fmt: skip
    assert sent == {"menu_item_id": top["id"], "client_id": arrived.client_id,  # type: ignore[index]
                    "dialog_id": arrived.dialog_id}  # fmt: skip
    assert autoreplies(runtime, arrived.dialog_id) == ["Escolha:\n\n1 - Novos"]
    run(runtime)
    client_message(runtime, company.id, chat, client_id=arrived.client_id, text="1")
    run(runtime)
    assert autoreplies(runtime, arrived.dialog_id) == ["Escolha:\n\n1 - Novos", "Novos!"]
    assert api.post("/v1/scenarios/send_menu_item",
                    json={"client_id": arrived.client_id}).status_code == 422  # fmt: skip
    assert api.post("/v1/scenarios/send_menu_item",
                    json={"client_id": 10**6, "menu_item_id": top["id"]}).status_code == 404  # type: ignore[index]  # fmt: skip
    assert api.post("/v1/scenarios/send_menu_item", headers=BAD,
                    json={"client_id": 1, "menu_item_id": 1}).status_code == 401  # fmt: skip


SCALE = [{"value": 1, "answers": ["1", "ruim"], "thanks": "Sentimos."},
         {"value": 5, "answers": ["5", "ótimo"], "thanks": "Valeu!"}]  # fmt: skip


def test_ratings_crud_and_the_rating_report(
    api: TestClient, runtime: Runtime, company: CompanyFixture, clock: Clock
) -> None:
    chat = external_channel(runtime, company.id)
    created = _data(api.post("/v1/ratings", json={"name": "NPS", "question": "Nota?",
                                                   "channel_ids": [chat], "scale": SCALE}),
                    201)  # fmt: skip
    rid = created["id"]  # type: ignore[index]
    assert created == {
        "id": rid,
        "name": "NPS",
        "question": "Nota?",
        "channel_ids": [chat],
        "tag_ids": [],
        "scale": [{**SCALE[0], "tag_id": None}, {**SCALE[1], "tag_id": None}],
        "min_interval_hours": 12,
        "hide_scores": False,
        "enabled": True,
    }
    changed = _data(
        api.put(f"/v1/ratings/{rid}", json={"hide_scores": True, "question": "Sua nota?"})
    )
    assert (changed["hide_scores"], changed["question"]) == (True, "Sua nota?")  # type: ignore[index]
    assert _data(api.get(f"/v1/ratings/{rid}")) == changed
    assert _data(api.get("/v1/ratings")) == [changed]
    for bad in (
        {"question": "Nota?", "scale": SCALE},
        {"name": "X", "scale": SCALE},
        {"name": "X", "question": "Q", "scale": []},
        {"name": "X", "question": "Q", "scale": [{"value": "cinco"}]},
        {"name": "X", "question": "Q", "scale": [{"value": 1, "answers": ["a"]},
                                                 {"value": 2, "answers": ["A"]}]},
        {"name": "X", "question": "Q", "scale": SCALE, "channel_ids": [10**6]},
        {"name": "X", "question": "Q", "scale": SCALE, "tag_ids": [10**6]},
    ):  # fmt: skip
        assert api.post("/v1/ratings", json=bad).status_code == 422, bad
    assert api.get("/v1/ratings/999999").status_code == 404
    assert api.put("/v1/ratings/999999", json={"name": "x"}).status_code == 404
    assert api.delete("/v1/ratings/999999").status_code == 404

    arrived = client_message(runtime, company.id, chat)
    queued_reply(runtime, company.id, arrived.dialog_id, operator_id=company.admin_id)
    close(runtime, company.id, arrived.dialog_id)
    run(runtime)
    client_message(runtime, company.id, chat, client_id=arrived.client_id, text="5")
    run(runtime)
    report = api.get("/v1/statistics", params={"report": "rating", "date": "2026-12-07"})
    assert report.status_code == 200
    assert report.json()["data"] == [
        {
            "valuation_request_id": arrived.request_id,
            "score_value": 5,
            "rating_scale_score": 5,
            "rating_id": rid,
            "operator_id": company.admin_id,  # answering a chat nobody had took it (issue 13)
            "client_id": arrived.client_id,
            "dialog_id": arrived.dialog_id,
            "channel_id": chat,
            "answer": "5",
            "created": "2026-12-07T15:00:00Z",
        }
    ]
    assert _data(api.delete(f"/v1/ratings/{rid}")) == {}
    assert _data(api.get("/v1/ratings")) == []
    for method, path in (("GET", "/v1/ratings"), ("POST", "/v1/ratings"),
                         ("GET", f"/v1/ratings/{rid}"), ("PUT", f"/v1/ratings/{rid}"),
                         ("DELETE", f"/v1/ratings/{rid}")):  # fmt: skip
        assert api.request(method, path, headers=BAD).status_code == 401
