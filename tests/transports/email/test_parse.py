"""parse_message on hand-written fixtures that mirror what real clients send."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from atendo.transports.email.parse import (
    Address,
    ParsedMail,
    decode_bytes,
    decode_header_value,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"


def load(name: str) -> ParsedMail:
    return parse_message((FIXTURES / name).read_bytes())


def test_gmail_ptbr_reply_headers_and_split() -> None:
    mail = load("gmail_ptbr_reply.eml")
    assert mail.parse_error is None
    assert mail.message_id == "CAF=xq3Nm8Lk2bV+ZxQ@mail.gmail.com"
    assert mail.in_reply_to == "atendo.1.42@lojaexemplo.com.br"
    assert mail.references == ["atendo.1.41@lojaexemplo.com.br", "atendo.1.42@lojaexemplo.com.br"]
    assert mail.subject == "Re: Reembolso do pedido 48213 – não recebido"
    assert mail.from_ == Address(name="Mariana Lima Conceição", email="mariana.lima@gmail.com")
    assert mail.to == [Address("Suporte Loja Exemplo", "suporte@lojaexemplo.com.br")]
    assert mail.date == datetime(2026, 11, 26, 12, 12, 44, tzinfo=UTC)
    assert mail.text.endswith("Podem confirmar?")
    assert mail.signature == "Obrigada,\nMariana"  # the client's sign-off, kept apart
    assert "escreveu" not in mail.text
    assert "O reembolso foi solicitado hoje." in mail.quoted_text
    assert mail.full_text.startswith(mail.text)
    assert mail.html is not None and "gmail_quote" not in mail.html  # class attr not allowed
    assert not mail.is_auto_reply and not mail.is_bounce


def test_outlook_ptbr_reply_de_enviado_block() -> None:
    mail = load("outlook_ptbr_reply.eml")
    assert mail.from_ == Address("João Pereira", "joao.pereira@exemplo.com.br")
    assert mail.cc == [Address("Financeiro", "financeiro@exemplo.com.br")]
    assert mail.text.endswith("Analista de Compras | Exemplo Ltda.")
    assert mail.quoted_text.startswith("________________________________\nDe: Suporte")
    assert "comprovante de pagamento" in mail.quoted_text


def test_apple_mail_reply() -> None:
    mail = load("apple_mail_reply.eml")
    assert mail.text == "Thanks, that works for me.\n\nKate"
    assert mail.quoted_text.startswith("> On 25 Nov 2026, at 17:40")


def test_html_only_with_cid_image_without_disposition() -> None:
    mail = load("html_only_cid_inline.eml")
    assert mail.text.startswith("Bom dia & obrigado,\nSegue a nota:")
    assert "alert" not in mail.text and "color" not in mail.text
    assert mail.html is not None
    assert "<script" not in mail.html and "javascript:" not in mail.html
    assert "onclick" not in mail.html
    assert 'src="cid:logo.123@parceira"' in mail.html
    assert 'data-remote-src="https://tracker.example/open.gif?u=1"' in mail.html
    assert ' src="https://' not in mail.html
    [image] = mail.attachments
    assert image.inline is True
    assert image.content_id == "logo.123@parceira"
    assert image.filename == "logo.png" and image.content_type == "image/png"
    assert image.data.startswith(b"\x89PNG") and image.size == len(image.data)


def test_rfc2231_and_rfc2047_filenames() -> None:
    mail = load("rfc2231_filename.eml")
    assert mail.subject == "Comprovante de pagamento"
    names = [a.filename for a in mail.attachments]
    assert names == ["Comprovante de transferência – nov.pdf", "orçamento.txt"]
    assert mail.attachments[0].data.startswith(b"%PDF")
    assert mail.text == "Segue o comprovante."
    assert all(not a.inline for a in mail.attachments)


def test_mislabelled_and_exotic_charsets() -> None:
    mail = load("mislabelled_charset.eml")
    assert mail.text == "Não quero mais o pedido, ação imediata."  # us-ascii label, cp1252 data
    assert mail.from_ is not None and mail.from_.name == "José"  # x-unknown label
    assert mail.subject == "Pedido cancelado한국"  # utf8 + ks_c_5601-1987 encoded words


def test_cr_only_line_endings() -> None:
    mail = load("cr_only.eml")
    assert mail.subject == "Classic line endings"
    assert mail.text == "Line one\nLine two"


def test_nested_multipart_with_attached_message() -> None:
    mail = load("nested_rfc822.eml")
    assert mail.text == "Veja a mensagem anexada."
    assert "SEGREDO" not in mail.text and "SEGREDO" not in (mail.html or "")
    eml, other = mail.attachments
    assert eml.content_type == "message/rfc822"
    assert eml.filename == "Fatura de novembro_2026.eml"
    assert b"SEGREDO DA MENSAGEM ANEXADA" in eml.data
    assert b"Message-ID: <fatura-11@banco.example>" in eml.data
    assert other.filename == "passwd"  # no directory traversal


def test_dsn_bounce() -> None:
    mail = load("dsn_bounce.eml")
    assert mail.is_bounce
    assert mail.return_path == ""
    assert mail.bounce_original_message_id == "atendo.9.77@lojaexemplo.com.br"
    assert mail.bounce_recipients == ["ninguem@exemplo.com.br"]
    assert mail.bounce_reason is not None
    assert mail.bounce_reason.startswith("550 5.1.1")
    assert "User unknown" in mail.bounce_reason
    assert "mail system" in mail.text


def test_auto_reply() -> None:
    mail = load("auto_reply.eml")
    assert mail.is_auto_reply and not mail.is_bounce
    assert mail.auto_submitted == "auto-replied"
    assert mail.headers["precedence"] == "auto_reply"
    assert mail.subject == "Resposta automática: Pedido 48213"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-generated", True),
        ("Auto-Submitted: no", False),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: vacation", True),
        ("Precedence: bulk", True),
        ("Precedence: list", True),
        ("Precedence: first-class", False),
        ("X-Auto-Response-Suppress: OOF, DR", True),
        ("X-Auto-Response-Suppress: DR", False),
        ("X-Autogenerated: Reply", True),
        ("Subject: Out of office", False),
    ],
)
def test_auto_reply_headers(header: str, expected: bool) -> None:
    raw = f"From: a@example.com\n{header}\n\nbody\n".encode()
    assert parse_message(raw).is_auto_reply is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("From: MAILER-DAEMON@mx.example.com", True),
        ("From: Postmaster <postmaster@example.com>", True),
        ("From: a@example.com\nX-Failed-Recipients: b@example.com", True),
        ("From: a@example.com\nReturn-Path: <>", True),
        ("From: a@example.com\nReturn-Path: <>\nAuto-Submitted: auto-replied", False),
        ("From: a@example.com\nReturn-Path: <a@example.com>", False),
    ],
)
def test_bounce_headers(headers: str, expected: bool) -> None:
    assert parse_message(f"{headers}\n\nbody\n".encode()).is_bounce is expected


def test_flat_bounce_falls_back_to_body_message_id() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\nX-Failed-Recipients: Gone@Example.com\n"
        b"Subject: failure notice\n\nSorry.\n\n--- Below this line is a copy of the message.\n\n"
        b"From: us@example.com\nMessage-ID: <ours.1@example.com>\n\nhello\n"
    )
    mail = parse_message(raw)
    assert mail.is_bounce
    assert mail.bounce_recipients == ["gone@example.com"]
    assert mail.bounce_original_message_id == "ours.1@example.com"


def test_message_id_references_fallbacks() -> None:
    raw = (
        b"Message-ID:  < Abc.Def@Example.COM >\nIn-Reply-To: <x@y> (comment) <z@w>\n"
        b"References: a@b c@d\n\nbody\n"
    )
    mail = parse_message(raw)
    assert mail.message_id == "Abc.Def@Example.COM"
    assert mail.in_reply_to == "x@y"
    assert mail.references == ["a@b", "c@d"]


def test_dates() -> None:
    assert parse_message(b"Date: not a date\n\nx").date is None
    naive = parse_message(b"Date: Tue, 24 Nov 2026 08:00:00 -0000\n\nx").date
    assert naive == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_raw_utf8_headers_and_commas_in_encoded_names() -> None:
    raw = (
        "From: =?utf-8?q?Silva=2C_Jo=C3=A3o?= <J@Example.com>\n"
        "To: Ação Ltda <acao@example.com>, b@example.com\nSubject: Olá   mundo\n\nx\n"
    ).encode()
    mail = parse_message(raw)
    assert mail.from_ == Address("Silva, João", "j@example.com")
    assert mail.to == [Address("Ação Ltda", "acao@example.com"), Address("", "b@example.com")]
    assert mail.subject == "Olá mundo"


def test_format_flowed_is_unwrapped() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-8; format=flowed\n\n"
        b"This is a long \nline that was wrapped.\n\n> quoted \n> too\n"
    )
    mail = parse_message(raw)
    assert mail.full_text.startswith("This is a long line that was wrapped.")


def test_garbage_never_raises() -> None:
    for raw in (b"", b"\x00\xff\xfe", b"Content-Type: multipart/mixed\n\n--", b"\r\r\r"):
        mail = parse_message(raw)
        assert isinstance(mail, ParsedMail)
    not_bytes: object = "a string"
    mail = parse_message(not_bytes)  # type: ignore[arg-type]
    assert mail.parse_error is not None


@pytest.mark.parametrize(
    ("label", "data", "expected"),
    [
        ("utf8", "ação".encode(), "ação"),
        ("x-unknown", "ação".encode(), "ação"),
        ("iso-8859-8-i", "שלום".encode("iso-8859-8"), "שלום"),
        ("ks_c_5601-1987", "한국".encode("cp949"), "한국"),
        ("gb2312", "中文".encode("gb18030"), "中文"),
        ("unicode-1-1-utf-7", "ação".encode("utf-7"), "ação"),
        ("rot13", b"abc", "abc"),
        ("bogus-charset", "ação".encode("cp1252"), "ação"),
        ("utf-8", "ação".encode("cp1252"), "ação"),
    ],
)
def test_decode_bytes_charsets(label: str, data: bytes, expected: str) -> None:
    assert decode_bytes(data, label) == expected


def test_decode_header_value_split_multibyte() -> None:
    # one UTF-8 character split across two encoded words (allowed in the wild)
    assert decode_header_value("=?utf-8?b?w6c=?= =?utf-8?b?w6M=?=o") == "ção"
    assert decode_header_value("=?utf-8?q?a?= b =?utf-8?q?c?=") == "a b c"
    assert decode_header_value("=?bogus?q?caf=E9?=") == "café"
