"""An admin creates a widget channel in the panel: the form is built from the transport's
settings model (through the seam), validated like the API, and the channel's page shows the
snippet. An operator's answer from the panel composer reaches the visitor's connection."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from atendo.runtime import Runtime
from atendo.transports.widget.delivery import deliver_widget_messages
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, panel_app, signin  # noqa: F401 (fixtures)

FORM = {
    "transport": "widget",
    "name": "Loja (site)",
    "allowed_origins": "https://loja.example\nhttp://127.0.0.1:8765",
    "color": "#0a7d38",
    "position": "left",
    "title.pt-BR": "Fale com a Loja",
    "title.en": "Talk to the shop",
    "title.es": "",
    "greeting.pt-BR": "Oi!",
    "prechat.name": "required",
    "prechat.email": "optional",
    "prechat.phone": "off",
    "uploads": "on",
    "max_upload_bytes": "1048576",
    "identity_secret": "segredo",
}


def test_an_admin_creates_a_widget_channel_and_gets_the_snippet(
    signin: Any,  # noqa: F811
    company: CompanyFixture,
    app_client: Any,
) -> None:
    panel: PanelClient = signin(company.admin_email, company.admin_password)
    page = panel.http.get("/settings/channels")
    assert 'data-testid="channel-new-widget"' in page.text
    form = panel.http.get("/settings/channels/new?transport=widget")
    assert form.status_code == 200
    for testid in ("channel-allowed-origins", "channel-prechat-name", "channel-title-es",
                   "channel-identity-secret", "channel-offline-email-channel-id"):  # fmt: skip
        assert f'data-testid="{testid}"' in form.text, testid
    # the model's rules, in the panel
    bad = panel.post("/settings/channels/new", {**FORM, "allowed_origins": "ftp://x"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert 'data-testid="channel-error"' in bad.text  # type: ignore[attr-defined]
    # in the admin's language (pt-BR), from the catalogs: never pydantic's English
    assert "Escreva cada site como https://host ou https://host:porta" in bad.text  # type: ignore[attr-defined]
    assert "not a site origin" not in bad.text  # type: ignore[attr-defined]
    created = panel.post("/settings/channels/new", FORM)
    assert created.status_code == 303, created.text  # type: ignore[attr-defined]
    location = created.headers["location"]  # type: ignore[attr-defined]
    channel_id = int(re.findall(r"/settings/channels/(\d+)\?created=1", location)[0])
    shown = panel.http.get(f"/settings/channels/{channel_id}")
    data = app_client.get(f"/v1/channels/{channel_id}", headers=company.headers).json()["data"]
    assert (data["name"], data["color"], data["position"]) == ("Loja (site)", "#0a7d38", "left")
    assert data["allowed_origins"] == ["https://loja.example", "http://127.0.0.1:8765"]
    assert data["title"] == {"pt-BR": "Fale com a Loja", "en": "Talk to the shop"}
    assert data["prechat"] == {"name": "required", "email": "optional", "phone": "off"}
    assert data["identity_secret_set"] is True
    snippet = re.search(r'data-testid="channel-snippet"[^>]*>([^<]+)<', shown.text)
    assert snippet is not None and html.unescape(snippet[1]) == data["snippet"]
    assert f'data-channel="{data["public_id"]}"' in data["snippet"]
    assert "segredo" not in shown.text
    # editing keeps what is not changed (the secret too)
    edit = {**FORM, "color": "#222222", "identity_secret": ""}
    r = panel.post(f"/settings/channels/{channel_id}", edit)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    again = app_client.get(f"/v1/channels/{channel_id}", headers=company.headers).json()["data"]
    assert (again["color"], again["public_id"], again["identity_secret_set"]) == (
        "#222222",
        data["public_id"],
        True,
    )


def test_an_operator_answers_a_visitor_from_the_panel(
    signin: Any,  # noqa: F811
    company: CompanyFixture,
    runtime: Runtime,
    app_client: Any,
) -> None:
    r = app_client.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": ["http://127.0.0.1:8765"]},
        headers=company.headers,
    )
    pid = r.json()["data"]["public_id"]
    own = {"origin": "http://testserver"}
    token = app_client.post(f"/widget/{pid}/session", json={}, headers=own).json()["token"]
    with app_client.websocket_connect(f"/widget/{pid}/ws?token={token}", headers=own) as sock:
        assert json.loads(sock.receive_text())["t"] == "hello"
        meta = {
            "page": "http://127.0.0.1:8765/tenis?cor=azul",
            "title": "Tênis <b>azul</b>",
            "referrer": "https://busca.example/?q=tenis",
            "browser": (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
            ),
            "language": "pt-BR",
            "timezone": "America/Recife",
        }
        sock.send_text(
            json.dumps({"t": "msg", "text": "<script>alert(1)</script>", "key": "x", "meta": meta})
        )
        while (frame := json.loads(sock.receive_text()))["t"] != "ack":
            pass
        message = app_client.get(f"/v1/messages/{frame['id']}", headers=company.headers).json()
        dialog_id = message["data"]["dialog_id"]
        panel: PanelClient = signin(company.admin_email, company.admin_password)
        pane = panel.http.get(f"/chats/{dialog_id}")
        assert "<script>alert(1)</script>" not in pane.text  # escaped in the panel
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pane.text
        assert 'data-testid="composer-subject"' not in pane.text
        # where the visitor is, on the client's card (in the operator's language)
        card = panel.http.get(
            f"/clients/{message['data']['client_id']}", headers={"hx-request": "true"}
        ).text
        assert 'data-testid="client-visitor"' in card and "No site" in card
        assert (
            '<a href="http://127.0.0.1:8765/tenis?cor=azul" target="_blank" '
            'rel="noopener noreferrer" data-testid="client-visitor-page">'
            "Tênis &lt;b&gt;azul&lt;/b&gt;</a>"
        ) in card
        assert (
            '<dd data-testid="client-visitor-browser">Safari 17 · iOS 17.4 · celular</dd>' in card
        )
        assert "https://busca.example/?q=tenis" in card and "America/Recife" in card
        sent = panel.post(f"/chats/{dialog_id}/send", {"text": "Olá! Em que posso ajudar?"})
        assert sent.status_code == 200, sent.text  # type: ignore[attr-defined]
        deliver_widget_messages(runtime)
        while (frame := json.loads(sock.receive_text()))["t"] != "msg" or frame["m"][
            "author"
        ] != "operator":
            pass
    assert frame["m"]["text"] == "Olá! Em que posso ajudar?"
    assert frame["m"]["name"] == ""  # the admin has no name: the widget says "Agent"


def test_every_word_of_a_model_built_form_is_in_the_panel_catalogs() -> None:
    from atendo.panel.model_form import form_fields
    from atendo.transports import registry
    from tests.panel.test_catalogs import catalog

    words: set[str] = set()
    for transport in registry.all_transports():
        if transport.settings_template:
            continue
        for field in form_fields(transport.settings_model):
            for item in [field, *field.parts]:
                words.update({item.label, *item.choices, *([item.help] if item.help else [])})
        words.update(n.replace("_", " ").capitalize() for n in transport.secret_fields)
    assert "Site origins allowed to embed the widget" in words
    pt, en = catalog("pt_BR"), catalog("en")
    assert sorted(w for w in words if not pt.get(w)) == []
    assert sorted(w for w in words if w not in en) == []


def test_typing_goes_both_ways_and_never_to_webhooks(
    signin: Any,  # noqa: F811
    company: CompanyFixture,
    runtime: Runtime,
    app_client: Any,
) -> None:
    from sqlalchemy import select

    from atendo.core.events.models import Event
    from atendo.core.webhooks.service import WEBHOOK_EVENTS

    r = app_client.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": ["http://127.0.0.1:8765"]},
        headers=company.headers,
    )
    pid = r.json()["data"]["public_id"]
    own = {"origin": "http://testserver"}
    token = app_client.post(f"/widget/{pid}/session", json={}, headers=own).json()["token"]
    panel: PanelClient = signin(company.admin_email, company.admin_password)
    with app_client.websocket_connect(f"/widget/{pid}/ws?token={token}", headers=own) as sock:
        assert json.loads(sock.receive_text())["t"] == "hello"
        sock.send_text(json.dumps({"t": "typing"}))  # no conversation yet: nothing to tell
        sock.send_text(json.dumps({"t": "msg", "text": "oi", "key": "1", "meta": {"name": "Rui"}}))
        while (frame := json.loads(sock.receive_text()))["t"] != "ack":
            pass
        dialog_id = app_client.get(f"/v1/messages/{frame['id']}", headers=company.headers).json()[
            "data"
        ]["dialog_id"]
        sock.send_text(json.dumps({"t": "typing"}))
        r = panel.http.post(f"/chats/{dialog_id}/typing", headers={"X-CSRF-Token": panel.csrf})
        assert r.status_code == 204
        assert panel.http.post(f"/chats/{dialog_id}/typing").status_code == 403  # no CSRF
        while (frame := json.loads(sock.receive_text()))["t"] != "typing":
            pass
    assert frame == {"t": "typing", "on": True, "name": ""}  # the admin has no first name
    with runtime.db.reading() as session:
        rows = session.scalars(
            select(Event).where(Event.dialog_id == dialog_id, Event.type == "typing")
        ).all()
        who = sorted((e.payload["by"], e.payload["name"]) for e in rows)
    assert who == [("client", "Rui"), ("operator", "")]
    assert "typing" not in WEBHOOK_EVENTS
