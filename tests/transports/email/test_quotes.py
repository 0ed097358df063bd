"""split_reply / split_quoted: new text, the client's signature and the quoted history."""

from __future__ import annotations

import pytest

from atendo.transports.email.quotes import split_quoted, split_quoted_html, split_reply

NEW = "O pedido 48213 ainda não chegou.\n\nPodem verificar?"
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


def test_mobile_signature_is_kept_apart() -> None:
    text = "Hello\n\nSent from my iPhone\n\nOn Apr 3, 2012, at 4:19 PM, bob <b@e.com> wrote:\n> Hi"
    reply = split_reply(text)
    assert (reply.text, reply.signature, reply.quoted) == (
        "Hello",
        "Sent from my iPhone",
        "On Apr 3, 2012, at 4:19 PM, bob <b@e.com> wrote:\n> Hi",
    )
    assert reply.as_written == "Hello\n\nSent from my iPhone"
    assert split_quoted(text) == ("Hello", reply.quoted)


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


# --------------------------------------------------------------------------- shapes, any language

OLD_ES = "Su pedido fue enviado ayer."


@pytest.mark.parametrize(
    "header",
    [
        "Le mer. 30 avr. 2025 à 15:19, Service <s@b.fr> a écrit :",
        "Am 30.04.2025 um 15:19 schrieb Hans Müller:",
        "ср, 30 апр. 2025 г. в 15:19, Поддержка <s@m.ru>:",
        '30.04.2025, 15:19, "Support" <s@y.ru>:',
        "2025-04-30 15:19 GMT+01:00 Support <s@x.com>:",
        "11:00 AM, November 17, 2021, Support <s@x.com>:",
        "Среда, 30 апреля 2025, 15:19 +03:00 от Поддержка <s@m.ru>:",
        "2025年4月30日(水) 15:19 サポート <s@x.jp>:",
        "Support <s@x.cn> 于2025年4月30日周三 15:19写道：",
        "On Wed, Apr 30, 2025 at 3:19 PM Support <s@x.com> wrote",
        "On Wed, Apr 30, 2025 at 3:19 PM Customer\nSupport Team\n<s@x.com> wrote:",
        "Kundtjänst skrev:",
    ],
)
def test_attribution_shapes(header: str) -> None:
    reply = split_reply(f"Gracias.\n\n{header}\n> {OLD_ES}\n")
    assert reply.text == "Gracias."
    assert reply.quoted == f"{header}\n> {OLD_ES}"


@pytest.mark.parametrize(
    "block",
    [
        "De : S <s@b.fr>\nEnvoyé : mercredi 30 avril 2025 15:19\nÀ : M\nObjet : RE: Commande",
        "Von: S <s@b.de>\nGesendet: Mittwoch, 30. April 2025\nAn: H\nBetreff: AW: Bestellung",
        "Od: S <s@b.pl>\nWysłano: środa, 30 kwietnia 2025\nDo: J\nTemat: RE: Zamówienie",
        "От: S <s@b.ru>\nОтправлено: 30 апреля 2025 г.\nКому: И\nТема: RE: Заказ",
        "From: Customer Support Team of Example\n<s@x.com>\nSent: Wednesday\nSubject: RE: Order",
        "-----Ursprüngliche Nachricht-----\nVon: S\nGesendet: Mittwoch",
        "-----Oprindelig besked-----",
        "De: Suporte <s@loja.com.br>\nData: 30/04/2025 15:19",
        "==========\nFrom: S <s@x.com>\nDate: Wed, 30 Apr 2025\nSubject: Ticket",
    ],
)
def test_header_blocks_and_separators_cut_unmarked_history(block: str) -> None:
    reply = split_reply(f"Gracias.\n\n{block}\n\n{OLD_ES}\n")
    assert (reply.text, reply.quoted) == ("Gracias.", f"{block}\n\n{OLD_ES}")


def test_inline_answers_below_an_attribution_are_kept() -> None:
    text = "Hi.\n\nOn Wed, Apr 30, 2025 at 3:19 PM S <s@x.com> wrote:\n> Order?\n48\n> Zip?\n01\n"
    assert split_reply(text).text == text.strip()


def test_bottom_posting_below_an_attribution_keeps_both_sides() -> None:
    text = "Hi,\n\nOn Wed, Apr 30, 2025 at 3:19 PM S <s@x.com> wrote:\n> Shipped.\n\nNot yet.\n"
    reply = split_reply(text)
    assert (reply.text, reply.quoted) == (
        "Hi,\n\nNot yet.",
        "On Wed, Apr 30, 2025 at 3:19 PM S <s@x.com> wrote:\n> Shipped.",
    )


def test_a_dated_sentence_ending_in_a_colon_is_not_an_attribution() -> None:
    text = "I tried on 30/04/2025 at 15:19 and 16:20:\n\n- the app failed\n- the site did not load"
    assert split_reply(text).text == text


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        ("Fixed, thanks.", "-- \nJohn Smith\nAcme"),
        ("Fixed, thanks.", "Von meinem iPhone gesendet"),
        ("Fixed, thanks.", "Atenciosamente,\nJoão Pereira\n(11) 99999-0000"),
        ("Fixed, thanks.", "Mit freundlichen Grüßen\nHans Müller\nTel. +49 30 1234567"),
        (
            "Fixed, thanks.",
            "_______________\nUsers mailing list\nhttps://l.example/mailman/listinfo/u",
        ),
        ("Fixed, thanks.", "-- \nYou received this message because you are subscribed to G."),
    ],
)
def test_signature_and_footer_kept_apart(body: str, signature: str) -> None:
    reply = split_reply(f"{body}\n\n{signature}\n")
    assert (reply.text, reply.signature, reply.quoted) == (body, signature, "")


def test_sentence_that_starts_like_a_mobile_line_is_text() -> None:
    text = "Here is another email\n\nSent from my desk, is much easier than my mobile phone."
    assert split_reply(text).signature == ""


def test_only_a_signature_is_kept_as_text() -> None:
    assert split_reply("-- \nJohn Smith\n") == split_reply("-- \nJohn Smith")
    assert split_reply("-- \nJohn Smith").text == "-- \nJohn Smith"


@pytest.mark.parametrize(
    "marker",
    [
        '<div class="gmail_quote"><div class="gmail_attr">Le … a écrit :</div><blockquote>o</div>',
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>Von:</b> S</div><div>o</div>',
        '<div class="moz-cite-prefix">On 30.04.2025, S wrote:</div><blockquote type="cite">o',
        '<div class="yahoo_quoted">On Wednesday, S wrote:<div>o</div></div>',
        '<div class="zmail_extra"><blockquote>o</blockquote></div>',
    ],
)
def test_split_quoted_html_containers(marker: str) -> None:
    assert split_quoted_html(f"<div>Novo</div>{marker}") == ("<div>Novo</div>", marker)


def test_split_quoted_html_keeps_a_forward() -> None:
    html = '<div>See below</div><div class="gmail_quote">---------- Forwarded message ---------'
    assert split_quoted_html(html) == (html, "")


def test_attribution_broken_by_a_quoted_printable_soft_break() -> None:
    text = "Thanks.\n\nOn Mon, Jun 3, 2024 at 12:53 AM Cody Hart w=\nrote:\n\nHi=\nthere\n"
    reply = split_reply(text)
    assert (reply.text, reply.quoted) == ("Thanks.", text.split("\n\n", 1)[1].rstrip())


def test_header_lines_without_a_sender_are_text() -> None:
    text = "Your message\n\n  To:\ta@b.example\n  Subject:\tHi\n  Sent:\t4/29/01 11:34\n\nfailed."
    assert split_reply(text).text == text


def test_report_fields_are_not_a_contact_card() -> None:
    text = "Failed.\n\nReporting MTA\nFinal-Recipient: rfc822; a@b.example\nX-Original-To: c@d.ex"
    assert split_reply(text).signature == ""


def test_outlook_forward_is_content() -> None:
    text = "FYI\n\n__________\nFrom: Bank <b@b.ex>\nSent: Wednesday\nSubject: FW: Bill\n\nPay."
    assert split_reply(text).text == text
