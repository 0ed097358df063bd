"""One company's token never sees another company's rows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.endpoint_coverage import expected_endpoints
from tests.transports.email.test_ingest import email_channel, ingest

from atendo.core.automation.service import create_menu_item, save_rating
from atendo.core.operators.service import create_group
from atendo.core.templates.service import create_template
from atendo.demo import fill_demo
from atendo.runtime import Runtime
from atendo.transports.external import create_external_channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def test_company_sees_only_its_rows(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    with runtime.db.transaction() as session:
        fill_demo(session, box=runtime.box, company_id=other_company.id)
    mine = company.headers
    theirs = other_company.headers
    for path in ("/v1/clients", "/v1/dialogs", "/v1/messages", "/v1/tags", "/v1/templates"):
        assert app_client.get(path, headers=mine).json()["meta"]["total"] == 0, path
        assert app_client.get(path, headers=theirs).json()["meta"]["total"] > 0, path
    # Every object of the other company is a 404 through my token.
    for path in ("/v1/clients", "/v1/dialogs", "/v1/messages", "/v1/tags", "/v1/templates"):
        for row in app_client.get(path, headers=theirs, params={"limit": 200}).json()["data"]:
            r = app_client.get(f"{path}/{row['id']}", headers=mine)
            assert r.status_code == 404, f"{path}/{row['id']}"
            assert app_client.get(f"{path}/{row['id']}", headers=theirs).status_code == 200
    op = app_client.get("/v1/operators", headers=theirs).json()["data"][0]
    assert app_client.get(f"/v1/operators/{op['id']}", headers=mine).status_code == 404


def test_every_route_by_id_hides_another_companys_rows(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    """Built from the OpenAPI document, so a new ``{id}`` route is checked the day it is added:
    my token on their object answers 404, whatever the method, and their object is unchanged."""
    theirs_headers = other_company.headers
    theirs = _their_objects(app_client, runtime, other_company)
    mine_client = inbox_message(app_client, company.headers, external(runtime, company.id))
    # Every field any by-id route reads, valid for it, so that only the id can make it fail.
    body = {
        "comment": "changed",
        "name": "changed",
        "state": "closed",
        "online": 1,
        "general": "changed",
        "general_enabled": True,
        "operator_id": company.admin_id,
        "group_id": theirs["group_id"],
        "client_id": mine_client["client_id"],
    }
    checked = 0
    for method, template in expected_endpoints():
        names = re.findall(r"\{([^}]+)\}", template)
        if not names:
            continue
        unknown = [n for n in names if n not in theirs]
        assert not unknown, f"{method} {template}: add their {unknown} to _their_objects"
        path = template.format(**{n: theirs[n] for n in names})
        r = app_client.request(method, path, headers=company.headers, json=body)
        assert r.status_code == 404, (method, path, r.text)
        checked += 1
    assert checked >= 25
    # Nothing of theirs moved.
    client = app_client.get(f"/v1/clients/{theirs['client_id']}", headers=theirs_headers)
    assert client.json()["data"]["comment"] in ("", None)
    dialog = app_client.get(f"/v1/dialogs/{theirs['dialog_id']}", headers=theirs_headers)
    assert dialog.json()["data"]["state"] == "open"
    channel = app_client.get(f"/v1/channels/{theirs['channel_id']}", headers=theirs_headers)
    assert channel.status_code == 200 and channel.json()["data"]["name"] == "their@mail.example"
    hook = app_client.get(f"/v1/webhooks/{theirs['webhook_id']}", headers=theirs_headers)
    assert hook.json()["data"]["name"] == "theirs"


def external(runtime: Runtime, company_id: int) -> int:
    with runtime.db.transaction() as session:
        return create_external_channel(
            session, company_id=company_id, name="Bot", box=runtime.box
        ).id


def inbox_message(app_client: TestClient, headers: dict[str, str], channel_id: int) -> Any:
    r = app_client.post(
        "/v1/messages/inbox",
        headers=headers,
        json={"channel_id": channel_id, "body": "hello", "from_client": {"phone": "+5511977"}},
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


def _their_objects(
    app_client: TestClient, runtime: Runtime, them: CompanyFixture
) -> dict[str, int]:
    """One object of each kind a route can name by id, all belonging to ``them``."""
    h = them.headers
    mail_channel = email_channel(runtime, them.id, "their@mail.example")
    mail_id = ingest(runtime, mail_channel, (FIXTURES / "rfc2231_filename.eml").read_bytes())
    assert mail_id is not None
    mail = app_client.get(f"/v1/messages/{mail_id}", headers=h).json()["data"]
    msg = inbox_message(app_client, h, external(runtime, them.id))
    bot = external(runtime, them.id)
    with runtime.db.transaction() as session:
        group_id = create_group(session, company_id=them.id, name="Theirs").id
        template_id = create_template(session, company_id=them.id, name="T", text="t").id
        item_id = create_menu_item(
            session, company_id=them.id, channel_id=bot, data={"command": "1", "name": "Theirs"}
        ).id
        rating_id = save_rating(
            session,
            company_id=them.id,
            data={"name": "Theirs", "question": "How?", "scale": [{"value": 5}]},
        ).id
    tag = app_client.post("/v1/tags", headers=h, json={"tag_label": "theirs"}).json()["data"]
    allow = runtime.settings.webhooks_allow_private_networks
    runtime.settings.webhooks_allow_private_networks = True
    try:
        hook = app_client.post(
            "/v1/webhooks", headers=h, json={"url": "http://127.0.0.1:10009/h", "name": "theirs"}
        ).json()["data"]
    finally:
        runtime.settings.webhooks_allow_private_networks = allow
    return {
        "client_id": msg["client_id"],
        "dialog_id": msg["dialog_id"],
        "request_id": msg["request_id"],
        "message_id": mail_id,
        "operator_id": them.admin_id,
        "group_id": group_id,
        "template_id": template_id,
        "tag_id": tag["id"],
        "webhook_id": hook["id"],
        "item_id": item_id,
        "rating_id": rating_id,
        "channel_id": mail_channel,
        "attachment_id": int(mail["attachments"][0]["link"].rstrip("/").rsplit("/", 1)[-1]),
    }
