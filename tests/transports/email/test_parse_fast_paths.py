"""The cheap paths for ASCII text give exactly what the general ones give."""

from __future__ import annotations

import pytest

from atendo.transports.email.parse import Address, _clean_str, parse_message
from atendo.transports.email.quotes import split_reply
from atendo.transports.email.reply_signature import signature_start
from atendo.transports.email.reply_structure import clean

pytestmark = pytest.mark.dbless


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  hello  ", "hello"),
        ("\t> quoted\r", "> quoted"),
        ("", ""),
        ("\u200b\u00a0 Obrigado \ufeff", "Obrigado"),
        (" \u200b-- \u200b", "--"),
        ("\u00a0\u00a0", ""),
        ("Olá  ", "Olá"),
    ],
)
def test_clean(line: str, expected: str) -> None:
    assert clean(line) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("nul\x00in\x00ascii", "nulinascii"),
        ("nul\x00and olá", "nuland olá"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("", ""),
    ],
)
def test_clean_str(text: str, expected: str) -> None:
    assert _clean_str(text) == expected


def test_signature_start_reads_given_cleaned_lines_as_its_own() -> None:
    lines = ["Bom dia,", "", "o pedido chegou.", "", "Abraços,", "\u200bMaria Souza", "  "]
    cleaned = [clean(line) for line in lines]
    assert signature_start(lines) == signature_start(lines, cleaned) == 4


def test_split_reply_without_quotes_keeps_the_signature_apart() -> None:
    text = "Oi,\n\nquando chega?\n\nAbraços,\n\u200bMaria Souza\n"
    reply = split_reply(text)
    assert (reply.text, reply.signature, reply.quoted) == (
        "Oi,\n\nquando chega?",
        "Abraços,\n\u200bMaria Souza",
        "",
    )


def _mail(to: str) -> bytes:
    return (
        "From: =?utf-8?q?Jo=C3=A3o?= <Joao@Example.COM>\r\n"
        f"To: {to}\r\n"
        "Subject: oi\r\n\r\ncorpo\r\n"
    ).encode()


def test_addresses_read_again_are_new_objects_with_the_same_values() -> None:
    first = parse_message(_mail("Atendimento <atendimento@loja.example>, b@loja.example"))
    assert first.from_ == Address(name="João", email="joao@example.com")
    assert first.to == [
        Address(name="Atendimento", email="atendimento@loja.example"),
        Address(name="", email="b@loja.example"),
    ]
    assert first.from_ is not None
    first.from_.name = "changed by a later step"  # bound_for_columns and the like edit them
    first.to.append(Address(name="x", email="x@x.example"))
    second = parse_message(_mail("Atendimento <atendimento@loja.example>, b@loja.example"))
    assert second.from_ == Address(name="João", email="joao@example.com")
    assert second.to == [
        Address(name="Atendimento", email="atendimento@loja.example"),
        Address(name="", email="b@loja.example"),
    ]
    other = parse_message(_mail("Atendimento <atendimento@loja.example>"))
    assert other.to == [Address(name="Atendimento", email="atendimento@loja.example")]
