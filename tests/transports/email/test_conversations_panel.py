"""The panel side of e-mail conversations (no browser): the composer's To/Cc/Bcc computed on
the server and validated again on send, the subject rule in words, drafts, forward, the HTML
quote shown once, failures in the operator's language, the channel banner, hidden mail."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from atendo.core.channels.service import get_channel
from atendo.core.clients.service import block
from atendo.core.messages.models import Attachment, Draft, Message
from atendo.core.messages.outbox import interrupt_queued
from atendo.runtime import Runtime
from atendo.transports.email.outbound import start_outbound_chat
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, email_channel, ingest, panel_app, signin

__all__ = ["panel_app", "signin"]  # fixtures
Signin = Callable[[str, str], PanelClient]


def cc_mail(subject: str = "Pedido 4700") -> bytes:
    return (
        "From: Ana <ana@cliente.example>\r\n"
        "To: support@acme.example, carla@cliente.example\r\nCc: boss@cliente.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@cliente.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOlá!\r\n"
    ).encode()


def chips(page: str, name: str) -> list[str]:
    box = re.search(rf'data-testid="composer-{name}">(.*?)</div>', page, re.S)
    assert box, f"no composer-{name}"
    return re.findall(r'data-address="([^"]+)"', box.group(1))


def note_text(response: object) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())  # type: ignore[attr-defined]


def last_message(runtime: Runtime, dialog_id: int) -> Message:
    with runtime.db.reading() as session:
        row = session.scalars(
            select(Message).where(Message.dialog_id == dialog_id).order_by(Message.id.desc())
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def test_composer_shows_reply_all_and_send_validates_on_the_server(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, cc_mail())
    assert found
    dialog_id = found[1]
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get(f"/chats/{dialog_id}").text
    assert chips(page, "to") == ["ana@cliente.example"]
    assert chips(page, "cc") == ["carla@cliente.example", "boss@cliente.example"]
    assert chips(page, "bcc") == []
    assert 'value="Re: Pedido 4700"' in page

    bad = admin.post(
        f"/chats/{dialog_id}/send",
        {"text": "Oi", "to": "ana@cliente.example", "cc": "carla@", "bcc": ""},
    )
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert note_text(bad) == "Confira os destinatários: endereço inválido: carla@"
    ok = admin.post(
        f"/chats/{dialog_id}/send",
        {"text": "Recebido", "to": "carla@cliente.example", "cc": "", "bcc": "log@acme.local"},
    )
    assert ok.status_code == 200  # type: ignore[attr-defined]
    sent = last_message(runtime, dialog_id)
    assert (sent.to, sent.cc, sent.bcc) == (["carla@cliente.example"], [], ["log@acme.local"])
    details = admin.http.get(f"/messages/{sent.id}/details").text
    assert 'data-testid="details-bcc">log@acme.local<' in details
    with runtime.db.transaction() as session:
        interrupt_queued(session, company_id=company.id)


def test_a_chat_without_subject_asks_for_one_in_words(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        dialog, _none = start_outbound_chat(
            session, runtime=runtime, company_id=company.id, channel_id=channel,
            emails=["novo@cliente.example"], operator_id=None,
        )  # fmt: skip
        dialog_id = dialog.id
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get(f"/chats/{dialog_id}").text
    assert chips(page, "to") == ["novo@cliente.example"]
    # no browser "required": the server's sentence, from the catalogs, says what is missing
    assert re.search(r'<input class="subject"[^>]* aria-required=true data-required', page)
    assert "Assunto (obrigatório: esta conversa ainda não tem)" in page
    refused = admin.post(f"/chats/{dialog_id}/send", {"text": "Olá", "subject": ""})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert (
        note_text(refused) == "Escreva um assunto: esta conversa ainda não tem um para responder."
    )


def test_a_draft_survives_a_reload_and_is_sent_with_its_file(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, cc_mail("Contrato"))
    assert found
    dialog_id = found[1]
    admin = signin(company.admin_email, company.admin_password)
    saved = admin.post(
        f"/chats/{dialog_id}/draft",
        {"text": "Segue o contrato", "subject": "Contrato assinado", "to": "ana@cliente.example",
         "cc": "", "bcc": "arquivo@acme.example"},
        files={"files": ("contrato.pdf", b"%PDF contrato", "application/pdf")},
    )  # fmt: skip
    assert saved.status_code == 200 and "contrato.pdf" in saved.text  # type: ignore[attr-defined]
    page = admin.http.get(f"/chats/{dialog_id}").text
    assert ">Segue o contrato</textarea>" in page
    assert 'value="Contrato assinado"' in page
    assert chips(page, "to") == ["ana@cliente.example"] and chips(page, "cc") == []
    assert chips(page, "bcc") == ["arquivo@acme.example"]
    assert "contrato.pdf" in page
    sent = admin.post(
        f"/chats/{dialog_id}/send",
        {"text": "Segue o contrato", "subject": "Contrato assinado", "to": "ana@cliente.example",
         "cc": "", "bcc": "arquivo@acme.example"},
    )  # fmt: skip
    assert sent.status_code == 200  # type: ignore[attr-defined]
    message = last_message(runtime, dialog_id)
    with runtime.db.reading() as session:
        files = list(
            session.scalars(select(Attachment.filename).where(Attachment.message_id == message.id))
        )
        drafts = session.scalars(select(Draft).where(Draft.dialog_id == dialog_id)).all()
    assert files == ["contrato.pdf"] and list(drafts) == []
    assert message.subject == "Contrato assinado" and message.bcc == ["arquivo@acme.example"]
    with runtime.db.transaction() as session:
        interrupt_queued(session, company_id=company.id)


def test_forward_from_the_panel(runtime: Runtime, company: CompanyFixture, signin: Signin) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, cc_mail("Nota"))
    assert found
    message_id, dialog_id = found
    admin = signin(company.admin_email, company.admin_password)
    form = admin.http.get(f"/messages/{message_id}/forward").text
    assert 'data-testid="forward-to"' in form
    bad = admin.post(f"/messages/{message_id}/forward", {"to": "ninguém", "note": ""})
    assert "Confira os destinatários: endereço inválido: ninguém" in note_text(bad)
    done = admin.post(f"/messages/{message_id}/forward", {"to": "fin@acme.local", "note": "Veja"})
    assert 'data-testid="forward-done"' in done.text  # type: ignore[attr-defined]
    fwd = last_message(runtime, dialog_id)
    assert (fwd.to, fwd.subject) == (["fin@acme.local"], "Fwd: Nota")
    with runtime.db.transaction() as session:
        interrupt_queued(session, company_id=company.id)


GMAIL_HTML = (
    '<div dir="ltr">Chegou, obrigada!</div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">Em ter., 1 de dez. de 2026, Suporte escreveu:<br></div>'
    '<blockquote class="gmail_quote">Sua entrega sai amanhã cedo.</blockquote></div>'
)
GMAIL_TEXT = (
    "Chegou, obrigada!\r\n\r\nEm ter., 1 de dez. de 2026, Suporte escreveu:\r\n"
    "> Sua entrega sai amanhã cedo.\r\n"
)


def gmail_reply(*, alternative: bool) -> bytes:
    head = (
        "From: Ana <ana@cliente.example>\r\nTo: support@acme.example\r\n"
        f"Subject: Re: Entrega\r\nMessage-ID: <{uuid.uuid4().hex}@cliente.example>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if not alternative:
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + GMAIL_HTML).encode()
    return (
        head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + GMAIL_TEXT
        + "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + GMAIL_HTML
        + "\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize("alternative", [False, True])
def test_html_quoted_history_is_shown_once_folded(
    runtime: Runtime, company: CompanyFixture, signin: Signin, alternative: bool
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, gmail_reply(alternative=alternative))
    assert found
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get(f"/chats/{found[1]}").text
    frames = [html.unescape(f) for f in re.findall(r'srcdoc="([^"]*)"', page)]
    assert len(frames) == 1 and "Chegou, obrigada!" in frames[0]
    assert "Sua entrega sai amanhã cedo." not in frames[0]
    assert page.count("Sua entrega sai amanhã cedo.") == 1  # under "mostrar citação"
    folded = re.search(r'<details class="quoted">(.*?)</details>', page, re.S)
    assert folded and "Sua entrega sai amanhã cedo." in folded.group(1)


def test_failures_in_words_and_the_channel_banner(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, cc_mail("Senha"))
    assert found
    message_id, dialog_id = found
    admin = signin(company.admin_email, company.admin_password)
    from atendo.transports.email.outbound import queue_email_reply

    with runtime.db.transaction() as session:
        queued = queue_email_reply(
            session, runtime=runtime, company_id=company.id, dialog_id=dialog_id,
            operator_id=None, text="x",
        )  # fmt: skip
        queued.error = (
            "retrying: SMTPConnectError: Error connecting to smtp.exemplo.com on port 587: "
            "[Errno -2] Name or service not known"
        )
        ch = get_channel(session, company_id=company.id, channel_id=channel)
        ch.status, ch.send_held = "error", True
        ch.last_error = "login refused: 535 5.7.8 Authentication credentials invalid"
    page = admin.http.get(f"/chats/{dialog_id}").text
    words = re.search(r'data-testid="message-error" data-kind="(\w+)">([^<]+)<', page)
    assert words and words.groups() == (
        "host_not_found", "O servidor smtp.exemplo.com não foi encontrado (será tentado de novo)",
    )  # fmt: skip
    banner = re.search(r'data-testid="channel-error-banner".*?</div>', page, re.S)
    assert banner
    text = " ".join(re.sub(r"<[^>]+>", " ", banner.group(0).split(">", 1)[1]).split())
    assert text.startswith(
        "O canal support@acme.example está com problema: e-mails podem não ser enviados nem "
        "recebidos. O servidor de envio recusou o usuário ou a senha As mensagens dele aguardam "
        "na fila até que seja corrigido. Abrir as configurações do canal"
    )
    assert f'href="/settings/channels/{channel}"' in banner.group(0)
    with runtime.db.transaction() as session:
        interrupt_queued(session, company_id=company.id)
        ch = get_channel(session, company_id=company.id, channel_id=channel)
        ch.status, ch.send_held, ch.last_error = "connected", False, None
    assert 'data-testid="channel-error-banner"' not in admin.http.get("/chats").text
    assert message_id


def test_admins_see_hidden_mail_and_why(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        block(session, company_id=company.id, kind="email", value="spam@ruim.example")
    own = (
        "From: support@acme.example\r\nTo: x@ex.example\r\nSubject: Copia nossa\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@acme.example>\r\n\r\ncopia\r\n"
    ).encode()
    spam = (
        "From: spam@ruim.example\r\nTo: support@acme.example\r\nSubject: Oferta\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@ruim.example>\r\n\r\ncompre\r\n"
    ).encode()
    assert ingest(runtime, channel, own) is None  # no dialog: hidden
    assert ingest(runtime, channel, spam)
    admin = signin(company.admin_email, company.admin_password)
    page = admin.http.get("/settings/hidden").text
    rows = re.findall(
        r'data-testid="hidden-row" data-reason="(\w+)".*?data-testid="hidden-reason">([^<]+)<'
        r".*?<td>([^<]*)</td>",
        page,
        re.S,
    )
    assert rows == [
        ("blocked", "Remetente na lista de bloqueio", "Oferta"),
        ("own", "Enviada pelo próprio endereço do canal (nossa cópia)", "Copia nossa"),
    ]
    assert page.count('data-testid="hidden-original"') == 2
    ids = re.findall(r'data-testid="hidden-row" data-reason="\w+" data-message-id="(\d+)"', page)
    original = admin.http.get(f"/panel/messages/{ids[1]}/original")
    assert original.status_code == 200 and original.content == own
