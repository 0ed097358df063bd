"""/v1/channels [ext] against the real Dovecot and aiosmtpd: test, save, never leak passwords."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer


def _body(mailbox: Mailbox, smtp: SmtpServer, **more: Any) -> dict[str, Any]:
    return {
        "transport": "email",
        "name": "Suporte",
        "email": mailbox.email,
        "imap_host": mailbox.host,
        "imap_port": mailbox.imaps_port,
        "imap_security": "ssl",
        "tls_verify": False,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "password": mailbox.password,
        **more,
    }


def _count(runtime: Runtime, company_id: int) -> int:
    with runtime.db.reading() as session:
        return len(list(session.scalars(select(Channel).where(Channel.company_id == company_id))))


def test_connect_read_update_delete(
    api: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
) -> None:
    resp = api.post("/v1/channels", json=_body(mailbox, smtp_server))
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["password_set"] is True and "password" not in data and "smtp_password" not in data
    assert data["status"] == "connecting" and data["send_delay"] == 15
    with runtime.db.reading() as session:
        row = session.get(Channel, data["id"])
        assert row is not None and mailbox.password not in row.secrets
        assert mailbox.password not in str(row.settings)
    got = api.get(f"/v1/channels/{data['id']}").json()["data"]
    assert got["email"] == mailbox.email and mailbox.password not in str(got)
    listed = api.get("/v1/channels").json()
    assert listed["meta"]["total"] == 1
    # A non-connection change is saved without a new test; the password is kept.
    upd = api.put(f"/v1/channels/{data['id']}", json={"send_delay": 30, "sender_name": "Acme"})
    assert upd.status_code == 200, upd.text
    assert upd.json()["data"]["send_delay"] == 30
    # A wrong new password is tested and refused; the old settings stay.
    bad = api.put(f"/v1/channels/{data['id']}", json={"password": "nope"})
    assert bad.status_code == 422
    assert bad.json()["errors"]["imap"] == ["wrong login or password"]
    assert api.post(f"/v1/channels/{data['id']}/reconnect").status_code == 200
    assert api.delete(f"/v1/channels/{data['id']}").status_code == 200
    assert api.get(f"/v1/channels/{data['id']}").status_code == 404


def test_wrong_password_is_422_and_nothing_saved(
    api: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
) -> None:
    resp = api.post("/v1/channels", json=_body(mailbox, smtp_server, password="wrong"))
    assert resp.status_code == 422
    body = resp.json()
    assert body["message"] == "Connection failed"
    assert body["errors"] == {"imap": ["wrong login or password"]}
    assert _count(runtime, company.id) == 0


def test_invalid_fields_are_422_per_field(api: TestClient) -> None:
    resp = api.post("/v1/channels", json={"email": "nope", "send_delay": 999, "password": "x"})
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert {"email", "send_delay", "imap_host", "smtp_host"} <= set(errors)


def test_other_company_cannot_see_the_channel(
    api: TestClient,
    app_client: TestClient,
    other_company: CompanyFixture,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
) -> None:
    created = api.post("/v1/channels", json=_body(mailbox, smtp_server)).json()["data"]
    resp = app_client.get(f"/v1/channels/{created['id']}", headers=other_company.headers)
    assert resp.status_code == 404
