"""The widget transport over HTTP and WebSocket (no browser): the channel's settings, the
origin checks, the visitor's token, messages both ways through the core verb and the outbox,
resuming without loss or doubles, rate limits, uploads, identity verification and the
offline form."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from atendo.runtime import Runtime
from atendo.transports.widget.delivery import deliver_widget_messages
from tests.conftest import CompanyFixture, make_company

SITE = "http://127.0.0.1:8765"
OTHER_SITE = "http://127.0.0.1:8766"
OWN = "http://testserver"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A fresh app per test: the anonymous rate limits start from zero."""
    from atendo.server import create_app

    with TestClient(create_app(runtime, workers=False)) as http:
        yield http


def make_widget(client: TestClient, company: CompanyFixture, **fields: Any) -> dict[str, Any]:
    body = {"transport": "widget", "name": "Site", "allowed_origins": [SITE], **fields}
    r = client.post("/v1/channels", json=body, headers=company.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def session_for(client: TestClient, public_id: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/widget/{public_id}/session", json=body, headers={"origin": OWN})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def ws(client: TestClient, public_id: str, token: str, after: int = 0) -> WebSocketTestSession:
    return client.websocket_connect(
        f"/widget/{public_id}/ws?token={token}&after={after}&lang=en", headers={"origin": OWN}
    )


def frames_until(sock: WebSocketTestSession, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    """Frames received up to and including the first of ``kind``."""
    got = []
    for _ in range(limit):
        frame = json.loads(sock.receive_text())
        got.append(frame)
        if frame["t"] == kind:
            return got
    raise AssertionError(f"no {kind} frame in {got}")


def test_settings_are_validated_and_the_channel_has_a_snippet(
    client: TestClient, company: CompanyFixture
) -> None:
    data = make_widget(
        client,
        company,
        allowed_origins=["https://Loja.example:443/", "http://127.0.0.1:8765"],
        title={"pt-BR": "Fale com a Loja", "en": "Talk to us"},
        greeting="Oi!",
        prechat={"name": "required", "email": "optional", "phone": "off"},
        identity_secret="s3cr3t",
        color="#aa3300",
    )
    assert data["transport"] == "widget"
    assert data["allowed_origins"] == ["https://loja.example", "http://127.0.0.1:8765"]
    assert data["title"] == {"pt-BR": "Fale com a Loja", "en": "Talk to us"}
    assert data["greeting"] == {"pt-BR": "Oi!", "en": "Oi!", "es": "Oi!"}
    assert data["prechat"] == {"name": "required", "email": "optional", "phone": "off"}
    assert data["identity_secret_set"] is True and "identity_secret" not in data
    pid = data["public_id"]
    assert data["snippet"] == (
        f'<script src="http://127.0.0.1:8000/widget/loader.js" data-channel="{pid}" async></script>'
    )
    bad = {
        "allowed_origins": ["ftp://files.example"],
        "color": "red",
        "prechat": {"name": "maybe"},
        "position": "top",
        "max_upload_bytes": 10**9,
    }
    r = client.post("/v1/channels", json={"transport": "widget", **bad}, headers=company.headers)
    assert r.status_code == 422, r.text
    # one sentence of the catalogs per field, never pydantic's English
    assert r.json()["errors"] == {
        "allowed_origins": [
            "Write each site as https://host or https://host:port, one per line (1 to 20 sites)."
        ],
        "color": ["Write the colour as #rrggbb, for example #1f6feb."],
        "prechat.name": ["Each pre-chat field is off, optional or required."],
        "position": ["Choose right or left."],
        "max_upload_bytes": ["A size in bytes from 1024 to 20971520 (20 MB)."],
    }
    r = client.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": [SITE], "prechat": {"fax": "required"}},
        headers=company.headers,
    )
    assert r.json()["errors"] == {"prechat.fax": ["This is not a setting of a widget channel."]}
    r = client.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": [SITE], "imap_host": "x"},
        headers=company.headers,
    )
    assert r.status_code == 422 and list(r.json()["errors"]) == ["imap_host"]
    # a change keeps the public id and goes through the same model
    r = client.put(f"/v1/channels/{data['id']}", json={"position": "left"}, headers=company.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["position"], r.json()["data"]["public_id"]) == ("left", pid)
    r = client.put(f"/v1/channels/{data['id']}", json={"color": "#12"}, headers=company.headers)
    assert r.status_code == 422 and list(r.json()["errors"]) == ["color"]


def test_every_settings_error_is_in_the_panels_catalogs() -> None:
    """What an admin reads when a widget setting is refused is translated in the panel."""
    from atendo.panel.i18n import translations
    from atendo.transports.widget.settings import CHECK, FIELD_WORDS, NOT_A_SETTING

    words = {*FIELD_WORDS.values(), NOT_A_SETTING, CHECK}
    pt = translations("pt_BR")
    assert sorted(w for w in words if pt.gettext(w) == w) == []
    assert pt.gettext("Choose right or left.") == "Escolha direita ou esquerda."
    assert translations("en").gettext("Choose right or left.") == "Choose right or left."
    es = translations("es")
    assert sorted(w for w in words if es.gettext(w) == w) == []


def test_offline_channel_must_be_an_email_channel_of_the_company(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    from tests.panel.conftest import email_channel

    other = make_company(runtime, "Rival")
    theirs = email_channel(runtime, other.id, "rival@rival.example")
    r = client.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": [SITE], "offline_email_channel_id": theirs},
        headers=company.headers,
    )
    assert r.status_code == 404, r.text
    ours = email_channel(runtime, company.id, "loja@acme.example")
    data = make_widget(client, company, offline_email_channel_id=ours)
    assert data["offline_email_channel_id"] == ours


def test_config_answers_allowed_sites_only(client: TestClient, company: CompanyFixture) -> None:
    pid = make_widget(client, company, color="#112233")["public_id"]
    r = client.get(f"/widget/{pid}/config?lang=es", headers={"origin": SITE})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SITE
    assert r.json()["color"] == "#112233" and r.json()["launcher"] == "Chatea con nosotros"
    r = client.get(f"/widget/{pid}/config?lang=en", headers={"origin": OTHER_SITE})
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    assert r.json()["message"] == "This chat cannot be used on this site."
    assert client.get(f"/widget/{pid}/config").status_code == 403  # no Origin at all
    assert client.get("/widget/nope/config", headers={"origin": SITE}).status_code == 404


def test_the_frame_has_its_own_csp_and_may_be_framed_by_allowed_sites_only(
    client: TestClient, company: CompanyFixture
) -> None:
    pid = make_widget(client, company, title={"en": "<b>Help</b>"})["public_id"]
    r = client.get(f"/widget/{pid}/frame?lang=en")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {SITE};" in csp
    assert "script-src 'self';" in csp and "default-src 'none'" in csp
    assert "<b>Help</b>" not in r.text and "&lt;b&gt;Help&lt;/b&gt;" in r.text
    loader = client.get("/widget/loader.js")
    assert loader.status_code == 200 and "javascript" in loader.headers["content-type"]


def test_messages_both_ways_through_the_core_and_the_outbox(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    with ws(client, pid, token) as sock:
        hello = json.loads(sock.receive_text())
        assert hello["t"] == "hello" and hello["operator"] == ""
        sock.send_text(
            json.dumps(
                {"t": "msg", "text": "Olá, <b>preciso</b> de ajuda", "key": "k1",
                 "meta": {"name": "Bia", "page": f"{SITE}/produto", "browser": "Test"}}
            )
        )  # fmt: skip
        ack = frames_until(sock, "ack")[-1]
        assert ack["key"] == "k1"
        echoed = frames_until(sock, "msg")[-1]["m"]
        assert (echoed["id"], echoed["author"], echoed["text"], echoed["key"]) == (
            ack["id"],
            "visitor",
            "Olá, <b>preciso</b> de ajuda",
            "k1",  # the browser matches the echo to its pending message even before the ack
        )
        got = client.get(f"/v1/messages/{ack['id']}", headers=company.headers).json()["data"]
        assert (got["type"], got["transport"], got["text"]) == (
            "from_client",
            "widget",
            "Olá, <b>preciso</b> de ajuda",
        )
        dialog_id = got["dialog_id"]
        card = client.get(f"/v1/clients/{got['client_id']}", headers=company.headers).json()
        assert card["data"]["name"] == "Bia"
        assert card["data"]["visitor"]["page_url"] == f"{SITE}/produto"
        assert card["data"]["comment"] == ""  # the operator's own field stays theirs
        # an operator's note never reaches the visitor; the answer does, once delivered
        note = client.post(
            "/v1/messages",
            json={"dialog_id": dialog_id, "text": "nota interna", "type": "comment"},
            headers=company.headers,
        )
        assert note.status_code == 200, note.text
        r = client.post(
            "/v1/messages",
            json={"dialog_id": dialog_id, "text": "Oi Bia, como posso ajudar?"},
            headers=company.headers,
        )
        assert r.status_code == 200, r.text
        answer_id = r.json()["data"]["message_id"]
        # not delivered yet: a fresh load's history has the visitor's messages only
        with ws(client, pid, token) as again:
            frames_until(again, "hello")
            again.send_text(json.dumps({"t": "msg", "text": "alô?", "key": "k2"}))
            history = frames_until(again, "ack")
        # (the echo of "alô?" itself may come before or after its ack)
        assert [
            f["m"]["text"] for f in history if f["t"] == "msg" and f["m"]["text"] != "alô?"
        ] == ["Olá, <b>preciso</b> de ajuda"]
        deliver_widget_messages(runtime)
        answer = frames_until(sock, "msg")[-1]
        while answer["m"]["author"] != "operator":
            answer = frames_until(sock, "msg")[-1]
        assert answer["m"]["id"] == answer_id
        assert (answer["m"]["author"], answer["m"]["text"]) == (
            "operator",
            "Oi Bia, como posso ajudar?",
        )
        assert answer["e"] > 0
    sent = client.get(f"/v1/messages/{answer_id}", headers=company.headers).json()["data"]
    assert sent["delivery_status"] == "sent" and sent["transport"] == "widget"


def test_reconnecting_resumes_without_loss_or_doubles(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    with ws(client, pid, token) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "primeira", "key": "a"}))
        first = frames_until(sock, "msg")[-1]
    last_event = first["e"]
    # while the visitor is away: the operator answers twice
    dialog_id = client.get(f"/v1/messages/{first['m']['id']}", headers=company.headers).json()[
        "data"
    ]["dialog_id"]
    for text in ("resposta 1", "resposta 2"):
        client.post(
            "/v1/messages", json={"dialog_id": dialog_id, "text": text}, headers=company.headers
        )
    deliver_widget_messages(runtime)
    with ws(client, pid, token, after=last_event) as sock:
        frames = frames_until(sock, "hello")
        frames += [json.loads(sock.receive_text()) for _ in range(2)]
        # the same message sent again (a lost ack) is stored once
        sock.send_text(json.dumps({"t": "msg", "text": "primeira", "key": "a"}))
        again = frames_until(sock, "ack")[-1]
    assert [f["m"]["text"] for f in frames if f["t"] == "msg"] == ["resposta 1", "resposta 2"]
    assert again["id"] == first["m"]["id"]
    # a fresh load (after=0) gets the whole conversation once, in order
    with ws(client, pid, token) as sock:
        frames = frames_until(sock, "hello") + [json.loads(sock.receive_text()) for _ in range(3)]
    assert [f["m"]["text"] for f in frames if f["t"] == "msg"] == [
        "primeira",
        "resposta 1",
        "resposta 2",
    ]
    rows = client.get(
        "/v1/messages", params={"dialog_id": dialog_id}, headers=company.headers
    ).json()["data"]
    assert sorted(m["text"] for m in rows) == ["primeira", "resposta 1", "resposta 2"]


def test_a_second_tab_learns_who_the_visitor_is_and_gets_answers_and_read_marks(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    """Two tabs of one visitor, both anonymous when they connect: the first message makes the
    visitor a client, and the hub tells the other tab (it learns the client from the round's
    one query for the new clients), which then gets the answer and the read mark too."""
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    with ws(client, pid, token) as one, ws(client, pid, token) as two:
        frames_until(one, "hello")
        frames_until(two, "hello")
        one.send_text(json.dumps({"t": "msg", "text": "oi, de uma aba", "key": "t1"}))
        ack = frames_until(one, "ack")[-1]
        seen = frames_until(two, "msg")[-1]["m"]
        assert (seen["id"], seen["author"], seen["text"], seen["read"]) == (
            ack["id"],
            "visitor",
            "oi, de uma aba",
            False,
        )
        dialog_id = client.get(f"/v1/messages/{ack['id']}", headers=company.headers).json()["data"][
            "dialog_id"
        ]
        r = client.post(
            "/v1/messages",
            json={"dialog_id": dialog_id, "text": "Olá nas duas abas"},
            headers=company.headers,
        )
        assert r.status_code == 200, r.text
        deliver_widget_messages(runtime)
        for tab in (one, two):
            answer = frames_until(tab, "msg")[-1]["m"]
            while answer["author"] != "operator":
                answer = frames_until(tab, "msg")[-1]["m"]
            assert (answer["id"], answer["text"]) == (
                r.json()["data"]["message_id"],
                "Olá nas duas abas",
            )
        read = client.get(f"/v1/messages/{ack['id']}/read", headers=company.headers)
        assert read.status_code == 200, read.text
        for tab in (one, two):
            assert frames_until(tab, "read")[-1] == {"t": "read", "ids": [ack["id"]]}


def test_tokens_and_origins_are_checked(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    pid = make_widget(client, company)["public_id"]
    other_pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    # a forged token, another channel's token: refused before anything is read
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    for bad_pid, bad_token in ((pid, forged), (other_pid, token), (pid, "1.x.y")):
        with pytest.raises(WebSocketDisconnect) as refused, ws(client, bad_pid, bad_token):
            pass
        assert refused.value.code == 4401
    # a socket opened from a site that is not allowed
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"/widget/{pid}/ws?token={token}", headers={"origin": OTHER_SITE}),
    ):
        pass
    assert refused.value.code == 4403
    r = client.post(f"/widget/{pid}/session", json={}, headers={"origin": OTHER_SITE})
    assert r.status_code == 403
    # a forged token at session start gets a new visitor, not the old one
    fresh = session_for(client, pid, token=forged)
    assert fresh["token"] != forged and fresh["known"] is False


def test_a_visitor_sees_only_their_own_conversation(
    client: TestClient, company: CompanyFixture
) -> None:
    pid = make_widget(client, company)["public_id"]
    ana, bia = session_for(client, pid)["token"], session_for(client, pid)["token"]
    with ws(client, pid, ana) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "segredo da Ana", "key": "1"}))
        frames_until(sock, "msg")
    with ws(client, pid, bia) as sock:
        hello = frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "oi", "key": "1"}))
        rest = frames_until(sock, "msg")
    texts = [f["m"]["text"] for f in hello + rest if f["t"] == "msg"]
    assert texts == ["oi"]
    with ws(client, pid, bia) as sock:  # Bia's history, now that she is a client
        history = [*frames_until(sock, "hello"), json.loads(sock.receive_text())]
        sock.send_text(json.dumps({"t": "msg", "text": "de novo", "key": "2"}))
        after = frames_until(sock, "msg")
    assert [f["m"]["text"] for f in history + after if f["t"] == "msg"] == ["oi", "de novo"]


def test_rate_limits_answer_with_a_clear_message(
    client: TestClient, company: CompanyFixture
) -> None:
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    with ws(client, pid, token) as sock:
        frames_until(sock, "hello")
        results = []
        for n in range(21):
            sock.send_text(json.dumps({"t": "msg", "text": f"m{n}", "key": f"k{n}"}))
            results.append(frames_until(sock, "ack" if n < 20 else "error")[-1])
    assert [r["t"] for r in results] == ["ack"] * 20 + ["error"]
    assert results[-1]["text"] == "You are sending messages too fast. Wait a minute and try again."
    # new conversations per IP and hour: the 11th new visitor is refused
    codes = []
    for n in range(11):
        t = session_for(client, pid)["token"]
        r = client.post(
            f"/widget/{pid}/messages",
            data={"token": t, "text": f"oi {n}", "lang": "pt-BR"},
            headers={"origin": OWN},
        )
        codes.append(r.status_code)
    assert codes == [200] * 9 + [429, 429], codes  # the first visitor's chat counts too
    assert r.json()["message"] == "Muitas conversas novas a partir da sua rede. Tente mais tarde."


def test_oversized_input_is_refused(client: TestClient, company: CompanyFixture) -> None:
    pid = make_widget(client, company, max_upload_bytes=2048)["public_id"]
    token = session_for(client, pid)["token"]
    with ws(client, pid, token) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "x" * 4001, "key": "big"}))
        error = frames_until(sock, "error")[-1]
    assert error["text"] == "The message is too long."
    r = client.post(
        f"/widget/{pid}/messages",
        data={"token": token, "lang": "es"},
        files={"file": ("big.bin", b"x" * 2049, "application/octet-stream")},
        headers={"origin": OWN},
    )
    assert r.status_code == 413
    assert r.json()["message"] == "El archivo es demasiado grande (máximo 2 KB)."


def test_files_are_stored_and_served_only_to_their_visitor(
    client: TestClient, company: CompanyFixture
) -> None:
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    r = client.post(
        f"/widget/{pid}/messages",
        data={"token": token, "text": "a foto", "key": "f1"},
        files={"file": ("foto.png", png, "image/png")},
        headers={"origin": OWN},
    )
    assert r.status_code == 200, r.text
    message_id = r.json()["frames"][0]["id"]
    got = client.get(f"/v1/messages/{message_id}", headers=company.headers).json()["data"]
    assert [a["name"] for a in got["attachments"]] == ["foto.png"]
    with ws(client, pid, token) as sock:
        shown = frames_until(sock, "msg")[-1]["m"]
    url = shown["files"][0]["url"]
    r = client.get(url, params={"token": token})
    assert r.status_code == 200 and r.content == png
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    stranger = session_for(client, pid)["token"]
    assert client.get(url, params={"token": stranger}).status_code == 404
    r = client.post(  # a stranger who is a client too
        f"/widget/{pid}/messages",
        data={"token": stranger, "text": "oi", "key": "s1"},
        headers={"origin": OWN},
    )
    assert r.status_code == 200
    assert client.get(url, params={"token": stranger}).status_code == 404
    r = client.post(
        f"/widget/{pid}/messages",
        data={"token": token, "text": "x"},
        files={"file": ("a.html", b"<script>", "text/html")},
        headers={"origin": OWN},
    )
    html_id = r.json()["frames"][0]["id"]
    att = client.get(f"/v1/messages/{html_id}", headers=company.headers).json()["data"]
    assert att["attachments"][0]["name"] == "a.html"
    with ws(client, pid, token) as sock:
        frames = frames_until(sock, "hello") + [json.loads(sock.receive_text()) for _ in range(2)]
    html_file = frames[-1]["m"]["files"][0]["url"]
    r = client.get(html_file, params={"token": token})
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")


def test_identity_verification(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    pid = make_widget(client, company, identity_secret="segredo-do-site")["public_id"]
    known = client.post(
        "/v1/clients",
        json={"phone": "+5511912345678", "nickname": "Carla"},
        headers=company.headers,
    ).json()["data"]
    client.put(
        f"/v1/clients/{known['id']}", json={"external_id": "user-42"}, headers=company.headers
    )
    good = hmac.new(b"segredo-do-site", b"user-42", hashlib.sha256).hexdigest()
    refused = session_for(client, pid, identify={"id": "user-42", "hash": "0" * 64})
    assert refused["verified"] is False and refused["known"] is False
    accepted = session_for(client, pid, identify={"id": "user-42", "hash": good})
    assert accepted["verified"] is True and accepted["known"] is True
    with ws(client, pid, accepted["token"]) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "sou a Carla", "key": "c"}))
        ack = frames_until(sock, "ack")[-1]
    got = client.get(f"/v1/messages/{ack['id']}", headers=company.headers).json()["data"]
    assert got["client_id"] == known["id"]
    # the refused visitor writes as an anonymous client of their own
    with ws(client, pid, refused["token"]) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "quem sou eu?", "key": "c"}))
        ack = frames_until(sock, "ack")[-1]
    got = client.get(f"/v1/messages/{ack['id']}", headers=company.headers).json()["data"]
    assert got["client_id"] != known["id"]


def test_a_message_left_offline_goes_to_the_email_channel(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    from tests.panel.conftest import email_channel

    mail = email_channel(runtime, company.id, "loja@acme.example")
    pid = make_widget(client, company, offline_email_channel_id=mail)["public_id"]
    session = session_for(client, pid)
    assert session["online"] is False
    r = client.post(
        f"/widget/{pid}/offline",
        json={"token": session["token"], "email": "nope", "text": "oi", "lang": "en"},
        headers={"origin": OWN},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "This e-mail address does not look right."
    r = client.post(
        f"/widget/{pid}/offline",
        json={"token": session["token"], "email": "Visitante@Cliente.example", "name": "Vi",
              "text": "Vocês entregam em Recife?", "lang": "pt-BR"},
        headers={"origin": OWN},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Obrigado! Responderemos em Visitante@cliente.example."
    rows = client.get(
        "/v1/messages", params={"channel_id": mail, "type": "from_client"}, headers=company.headers
    ).json()["data"]
    assert [(m["text"], m["transport"]) for m in rows] == [("Vocês entregam em Recife?", "email")]


def test_a_message_left_offline_is_answered_by_email(
    client: TestClient, company: CompanyFixture, runtime: Runtime, smtp_server: Any
) -> None:
    """Nobody online: the visitor leaves a message with an address; the operator's answer goes
    out through the chosen e-mail channel (real aiosmtpd) and the conversation continues by
    e-mail."""
    from email import message_from_bytes
    from email.policy import default as default_policy

    from tests.transports.email.test_outbound import cancel_leftovers, email_channel
    from tests.transports.email.test_send import sender

    mail = email_channel(runtime, company.id, smtp_port=smtp_server.port, send_delay=0)
    pid = make_widget(client, company, offline_email_channel_id=mail)["public_id"]
    token = session_for(client, pid)["token"]
    r = client.post(
        f"/widget/{pid}/offline",
        json={"token": token, "email": "rita@cliente.example", "name": "Rita",
              "text": "Qual o prazo para Manaus?", "lang": "pt-BR"},
        headers={"origin": OWN},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    rows = client.get(
        "/v1/messages", params={"channel_id": mail, "type": "from_client"}, headers=company.headers
    ).json()["data"]
    assert [m["text"] for m in rows] == ["Qual o prazo para Manaus?"]
    answer = client.post(
        "/v1/messages",
        json={"dialog_id": rows[0]["dialog_id"], "text": "Oi Rita, são 7 dias úteis."},
        headers=company.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["transport"] == "email"
    try:
        asyncio.run(sender(runtime).run_once())
        sent = message_from_bytes(smtp_server.wait_for(1)[0].raw, policy=default_policy)
    finally:
        cancel_leftovers(runtime, company.id)
    assert "rita@cliente.example" in str(sent["To"])
    assert "Oi Rita, são 7 dias úteis." in sent.get_body(preferencelist=("plain",)).get_content()


def test_the_sse_fallback_carries_the_same_frames(
    client: TestClient, company: CompanyFixture
) -> None:
    """Where WebSockets are blocked: POST to write, an event stream to read (with ids)."""
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    r = client.post(
        f"/widget/{pid}/messages",
        data={"token": token, "text": "pelo POST", "key": "p1"},
        headers={"origin": OWN},
    )
    assert r.status_code == 200 and r.json()["frames"][0]["t"] == "ack", r.text
    frames = []
    with client.stream("GET", f"/widget/{pid}/events", params={"token": token}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
                if frames[-1]["t"] == "msg":
                    break
    assert frames[0]["t"] == "hello"
    assert (frames[-1]["m"]["text"], frames[-1]["m"]["author"]) == ("pelo POST", "visitor")
    refused = client.get(f"/widget/{pid}/events", params={"token": "1.x.y"})
    assert refused.status_code == 401


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)


def test_where_the_visitor_is_is_kept_structured_on_the_client(
    client: TestClient, company: CompanyFixture, runtime: Runtime
) -> None:
    """Page, title, referrer, browser, system, device, language and timezone go to the
    client's ``visitor`` (not its comment); written again only when they change."""
    pid = make_widget(client, company)["public_id"]
    token = session_for(client, pid)["token"]
    meta = {
        "name": "Bia",
        "page": f"{SITE}/produto?id=7",
        "title": "  Tênis   azul ",
        "referrer": "https://www.google.com/",
        "browser": ANDROID_CHROME,
        "language": "pt-BR",
        "timezone": "America/Sao_Paulo",
    }

    def updates(client_id: int) -> int:
        from sqlalchemy import func, select

        from atendo.core.events.models import Event

        with runtime.db.reading() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        Event.company_id == company.id,
                        Event.type == "client_updated",
                        Event.payload["client"]["id"].as_integer() == client_id,
                    )
                )
                or 0
            )

    with ws(client, pid, token) as sock:
        frames_until(sock, "hello")
        sock.send_text(json.dumps({"t": "msg", "text": "oi", "key": "w1", "meta": meta}))
        ack = frames_until(sock, "ack")[-1]
        got = client.get(f"/v1/messages/{ack['id']}", headers=company.headers).json()["data"]
        client_id = got["client_id"]
        card = client.get(f"/v1/clients/{client_id}", headers=company.headers).json()["data"]
        seen = card["visitor"].pop("seen")
        assert card["visitor"] == {
            "page_url": f"{SITE}/produto?id=7",
            "page_title": "Tênis azul",
            "referrer": "https://www.google.com/",
            "browser": "Chrome 156",
            "os": "Android 14",
            "device": "phone",
            "language": "pt-BR",
            "timezone": "America/Sao_Paulo",
            "user_agent": ANDROID_CHROME,
        }
        assert seen and card["comment"] == ""
        first = updates(client_id)
        # the same page again: nothing written
        sock.send_text(json.dumps({"t": "msg", "text": "alô", "key": "w2", "meta": meta}))
        frames_until(sock, "ack")
        assert updates(client_id) == first
        again = client.get(f"/v1/clients/{client_id}", headers=company.headers).json()["data"]
        assert again["visitor"]["seen"] == seen
        # another page, another browser; a javascript: address is never kept
        moved = {
            **meta,
            "page": f"{SITE}/carrinho",
            "title": "Carrinho",
            "referrer": "javascript:alert(1)",
            "browser": WINDOWS_EDGE,
        }
        sock.send_text(json.dumps({"t": "msg", "text": "e o frete?", "key": "w3", "meta": moved}))
        frames_until(sock, "ack")
        assert updates(client_id) == first + 1
        card = client.get(f"/v1/clients/{client_id}", headers=company.headers).json()["data"]
        card["visitor"].pop("seen")
        assert card["visitor"] == {
            "page_url": f"{SITE}/carrinho",
            "page_title": "Carrinho",
            "browser": "Edge 131",
            "os": "Windows 10/11",
            "device": "desktop",
            "language": "pt-BR",
            "timezone": "America/Sao_Paulo",
            "user_agent": WINDOWS_EDGE,
        }
