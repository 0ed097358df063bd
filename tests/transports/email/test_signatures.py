"""Signatures: rendering (variables, no format-string injection, sanitising) and the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from atendo.core.channels.models import Channel
from atendo.core.channels.service import set_operator_signature
from atendo.core.channels.signatures import clean_signature, render_template
from atendo.core.operators.service import create_operator
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.transports.email.test_outbound import email_channel, email_dialog, reply, tidy_company


@pytest.fixture
def tidy(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    yield from tidy_company(runtime, company)


def test_render_known_variables_and_leave_the_rest() -> None:
    variables = {"operator.first_name": "Ana", "channel.name": "Support"}
    out = render_template(
        "{operator.first_name} / {channel.name} / {client.phone} / {0.__class__} / {{x}}",
        variables,
    )
    assert out == "Ana / Support / {client.phone} / {0.__class__} / {{x}}"


def test_clean_signature_strips_html_and_controls() -> None:
    assert clean_signature("<b>Ana</b><script>alert(1)</script>\x07") == "Ana"
    assert clean_signature("Line 1\r\nLine 2") == "Line 1\nLine 2"


def test_signature_is_rendered_at_queue_time_and_kept(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id, name="Vendas")
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="x")
    with runtime.db.transaction() as session:
        op = create_operator(
            session, company_id=tidy.id, email=f"ana{tidy.id}@acme.example", first_name="Ana",
            last_name="Lima", password="pw-123456789",
        )  # fmt: skip
        channel = session.get(Channel, channel_id)
        assert channel is not None
        set_operator_signature(
            session, channel=channel, operator_id=op.id,
            text="{operator.first_name} {operator.last_name} · {channel.name} · {channel.email}",
        )  # fmt: skip
        op_id = op.id
    first = reply(runtime, tidy.id, dialog_id, operator_id=op_id)
    assert first.signature == "Ana Lima · Vendas · support@acme.example"
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        set_operator_signature(session, channel=channel, operator_id=op_id, text="Changed")
    second = reply(runtime, tidy.id, dialog_id, operator_id=op_id)
    assert second.signature == "Changed"
    with runtime.db.reading() as session:
        from atendo.core.messages.models import Message

        kept = session.get(Message, first.id)
        assert kept is not None and kept.signature == "Ana Lima · Vendas · support@acme.example"


def test_signatures_api(api: TestClient, runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    url = f"/v1/channels/{channel_id}/signatures"
    assert api.get(url).json()["data"] == {
        "operators_enabled": True,
        "general_enabled": True,
        "general": "",
        "operators": {},
    }
    put = api.put(
        url,
        json={
            "operators_enabled": False,
            "general": "<p>The {channel.name} team</p>",
            "operators": {str(tidy.admin_id): "Admin"},
        },
    )
    assert put.status_code == 200, put.text
    assert put.json()["data"] == {
        "operators_enabled": False,
        "general_enabled": True,
        "general": "The {channel.name} team",
        "operators": {str(tidy.admin_id): "Admin"},
    }
    bad = api.put(url, json={"operators": {"999999999": "x"}})
    assert bad.status_code == 422 and "operators" in bad.json()["errors"]


def test_signatures_of_another_company_are_404(
    app_client: TestClient, runtime: Runtime, tidy: CompanyFixture, other_company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    url = f"/v1/channels/{channel_id}/signatures"
    assert app_client.get(url, headers=other_company.headers).status_code == 404
    foreign_op = api_put_operator(app_client, url, tidy, other_company)
    assert foreign_op == 422


def api_put_operator(
    client: TestClient, url: str, mine: CompanyFixture, other: CompanyFixture
) -> int:
    """An operator of another company in my channel's signatures: refused."""
    answer = client.put(url, json={"operators": {str(other.admin_id): "x"}}, headers=mine.headers)
    return answer.status_code
