"""Threading: Gmail-, Outlook- and Apple-Mail-shaped replies join the dialog of our reply;
a third party replying to the same Message-ID gets a dialog of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from atendo.core.dialogs.service import close_dialog
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import queued_reply
from tests.transports.email.test_ingest import email_channel, ingest

THREADING = Path(__file__).resolve().parents[2] / "fixtures" / "email" / "threading"


def _fixture(name: str, our_id: str) -> bytes:
    return (THREADING / name).read_bytes().replace(b"OURID", our_id.encode())


def _our_reply(runtime: Runtime, first_id: int) -> str:
    """Our reply in the client's dialog, queued as an operator's answer is; its Message-ID."""
    first = _message(runtime, first_id)
    assert first.dialog_id is not None
    reply_id = queued_reply(
        runtime, first.company_id, first.dialog_id, text="Seu pedido foi enviado hoje."
    )
    return f"<{_message(runtime, reply_id).email_message_id}>"


def _message(runtime: Runtime, message_id: int | None) -> Message:
    assert message_id is not None
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


@pytest.mark.parametrize("reply", ["gmail_reply.eml", "outlook_reply.eml", "apple_reply.eml"])
def test_client_replies_thread(runtime: Runtime, company: CompanyFixture, reply: str) -> None:
    channel_id = email_channel(runtime, company.id)
    first = _message(
        runtime, ingest(runtime, channel_id, (THREADING / "original.eml").read_bytes())
    )
    our_id = _our_reply(runtime, first.id)
    answer = _message(runtime, ingest(runtime, channel_id, _fixture(reply, our_id)))
    assert answer.dialog_id == first.dialog_id
    assert answer.client_id == first.client_id
    assert answer.text.strip() and "Seu pedido foi enviado hoje" not in answer.text


def test_third_party_does_not_merge(runtime: Runtime, company: CompanyFixture) -> None:
    channel_id = email_channel(runtime, company.id)
    first = _message(
        runtime, ingest(runtime, channel_id, (THREADING / "original.eml").read_bytes())
    )
    our_id = _our_reply(runtime, first.id)
    other = _message(
        runtime, ingest(runtime, channel_id, _fixture("third_party_reply.eml", our_id))
    )
    assert other.dialog_id is not None and other.dialog_id != first.dialog_id
    assert other.client_id != first.client_id


def test_reply_after_close_opens_a_new_request(runtime: Runtime, company: CompanyFixture) -> None:
    channel_id = email_channel(runtime, company.id)
    first = _message(
        runtime, ingest(runtime, channel_id, (THREADING / "original.eml").read_bytes())
    )
    our_id = _our_reply(runtime, first.id)
    assert first.dialog_id is not None
    with runtime.db.transaction() as session:
        close_dialog(session, company_id=company.id, dialog_id=first.dialog_id)
    answer = _message(runtime, ingest(runtime, channel_id, _fixture("gmail_reply.eml", our_id)))
    assert answer.dialog_id == first.dialog_id
    assert answer.request_id is not None and answer.request_id != first.request_id
