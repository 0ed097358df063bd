"""split_quoted: new text vs. quoted history, pt-BR and English clients."""

from __future__ import annotations

import pytest

from atendo.transports.email.quotes import split_quoted, split_quoted_html

NEW = "O pedido 48213 ainda não chegou.\n\nObrigada,\nMariana"
OLD = "Seu pedido foi despachado ontem."


@pytest.mark.parametrize(
    "header",
    [
        "Em qua., 25 de nov. de 2026 às 10:00, Suporte <suporte@loja.com.br> escreveu:",
        "Em qua., 25 de nov. de 2026 às 10:00, Suporte <\nsuporte@loja.com.br> escreveu:",
        "Em qua., 25 de nov. de 2026 às 10:00, Suporte Loja\n<suporte@loja.com.br>\nescreveu:",
        "Em 25/11/2026 10:00, Suporte Loja escreveu:",
        "Em 25 de nov. de 2026, à(s) 10:00, Suporte <suporte@loja.com.br> escreveu:",
        "On Wed, Nov 25, 2026 at 10:00 AM Support <support@shop.com> wrote:",
        "On Nov 25, 2026, at 10:00, Support <support@shop.com> wrote:",
        "-----Mensagem original-----\nDe: Suporte\nEnviada em: quarta-feira, 25 de novembro\n"
        "Para: Mariana\nAssunto: Pedido",
        "-----Original Message-----\nFrom: Support\nSent: Wednesday\nTo: Mariana\nSubject: Order",
        "________________________________\nDe: Suporte <s@l.com>\nEnviado: quarta-feira\n"
        "Para: Mariana <m@e.com>\nAssunto: Re: Pedido",
        "________________________________\nFrom: Support <s@l.com>\nSent: Wednesday\n"
        "To: Mariana <m@e.com>\nSubject: Re: Order",
        "De: Suporte <s@l.com>\nData: quarta-feira, 25 de novembro de 2026 10:00\nPara: Mariana\n"
        "Assunto: Re: Pedido",
        "*From:* Support [mailto:s@l.com]\n*Sent:* Wednesday\n*To:* m@e.com\n*Subject:* Order",
    ],
)
def test_reply_headers_cut(header: str) -> None:
    text = f"{NEW}\n\n{header}\n\n> {OLD}\n"
    new, quoted = split_quoted(text)
    assert new == NEW
    assert OLD in quoted
    assert quoted.startswith(header.split("\n", 1)[0])


def test_attribution_without_quote_marks_is_cut() -> None:
    text = f"{NEW}\n\nEm qua., 25 de nov. de 2026 às 10:00, Loja <s@l.com> escreveu:\n\n{OLD}\n"
    assert split_quoted(text)[0] == NEW


def test_bottom_posting_keeps_text_after_quote() -> None:
    text = f"On 04/02/2012 06:26 PM, Support wrote:\n> {OLD}\n{NEW}\n"
    new, quoted = split_quoted(text)
    assert new == NEW
    assert quoted.startswith("On 04/02/2012")


def test_inline_reply_is_kept_whole() -> None:
    text = "> Qual o número do pedido?\n48213\n\n> E o CPF?\n123.456.789-00\n"
    assert split_quoted(text) == (text.strip(), "")


def test_everything_quoted_is_kept() -> None:
    text = f"> {OLD}\n> mais texto\n"
    assert split_quoted(text) == (text.strip(), "")


def test_forward_is_content() -> None:
    text = (
        "Veja abaixo.\n\n---------- Forwarded message ---------\nDe: Banco <b@b.com>\n"
        "Date: qua., 25 de nov. de 2026\nSubject: Fatura\nTo: <m@e.com>\n\nSua fatura chegou.\n"
    )
    assert split_quoted(text) == (text.strip(), "")


def test_escreveu_inside_text_is_not_a_quote() -> None:
    text = 'Bom dia,\n\nMeu filho escreveu: "quero devolver" no site.\nEm 25 de novembro liguei.'
    assert split_quoted(text) == (text, "")


def test_header_block_at_the_very_top_is_not_a_cut() -> None:
    text = "De: Ana <a@b.com>\nPara: Loja <l@b.com>\nAssunto: Oi\n\nQuero trocar o produto."
    assert split_quoted(text) == (text, "")


def test_own_last_text_cuts_unmarked_quote() -> None:
    ours = "Olá Mariana,\nSeu pedido foi despachado ontem e chega em 5 dias."
    text = f"{NEW}\n\nSeu pedido foi despachado ontem e chega em 5 dias.\nEquipe"
    new, quoted = split_quoted(text, own_last_text=ours)
    assert new == NEW
    assert quoted.startswith("Seu pedido foi despachado")


def test_crlf_and_bom() -> None:
    text = f"{NEW}\r\n\r\nOn Nov 25, 2026, at 10:00, S <s@x.com> wrote:\r\n\r\n\ufeff> {OLD}\r\n"
    assert split_quoted(text)[0] == NEW


def test_signature_is_kept() -> None:
    text = "Hello\n\nSent from my iPhone\n\nOn Apr 3, 2012, at 4:19 PM, bob <b@e.com> wrote:\n> Hi"
    assert split_quoted(text)[0] == "Hello\n\nSent from my iPhone"


@pytest.mark.parametrize(
    "marker",
    [
        '<div class="gmail_quote">Em qua. escreveu:<blockquote>old</blockquote></div>',
        '<blockquote type="cite">old</blockquote>',
        '<div id="divRplyFwdMsg"><b>De:</b> Loja</div><div>old</div>',
        '<div id="appendonly">old</div>',
    ],
)
def test_split_quoted_html(marker: str) -> None:
    new, quoted = split_quoted_html(f"<div>Novo texto</div>{marker}")
    assert new == "<div>Novo texto</div>"
    assert quoted == marker


def test_split_quoted_html_keeps_when_nothing_new() -> None:
    html = '<div class="gmail_quote"><blockquote>old</blockquote></div>'
    assert split_quoted_html(html) == (html, "")
