"""Failures classified from their recorded words, and worded in pt-BR and en."""

from __future__ import annotations

import pytest

from atendo.kit.failures import FailureKind, classify
from atendo.panel.failure_words import failure_words
from atendo.panel.i18n import translations

pytestmark = pytest.mark.dbless

CASES = [
    (
        "retrying: SMTPConnectError: Error connecting to smtp.exemplo.com on port 587: "
        "[Errno -2] Name or service not known",
        FailureKind.HOST_NOT_FOUND,
        "O servidor smtp.exemplo.com não foi encontrado (será tentado de novo)",
        "The server smtp.exemplo.com was not found (it will be tried again)",
    ),
    (
        "retrying: SMTPConnectError: Error connecting to  on port 587: [Errno -2] "
        "Name or service not known",
        FailureKind.NO_HOST,
        "O canal não tem servidor de envio configurado (será tentado de novo)",
        "The channel has no sending server set (it will be tried again)",
    ),
    (
        "login refused: 535 5.7.8 Authentication credentials invalid",
        FailureKind.LOGIN_REFUSED,
        "O servidor de envio recusou o usuário ou a senha",
        "The sending server refused the user name or the password",
    ),
    (
        "waiting for the connection: login refused: 535 5.7.8 Authentication failed",
        FailureKind.WAITING,
        "Aguardando a conexão: O servidor de envio recusou o usuário ou a senha",
        "Waiting for the connection: The sending server refused the user name or the password",
    ),
    (
        "wrong login or password",
        FailureKind.RECEIVE_LOGIN_REFUSED,
        "O servidor de recebimento (IMAP) recusou o usuário ou a senha",
        "The receiving server (IMAP) refused the user name or the password",
    ),
    (
        "every recipient was refused: x@y.example: 550 5.1.1 User unknown",
        FailureKind.RECIPIENT_REFUSED,
        "O endereço x@y.example foi recusado pelo servidor",
        "The address x@y.example was refused by the server",
    ),
    (
        "gave up after 9 attempts: 451 4.3.0 try again later",
        FailureKind.GAVE_UP,
        "O servidor continuou recusando a mensagem: ela não foi enviada",
        "The server kept refusing the message: it was not sent",
    ),
    (
        "552 5.3.4 Message size exceeds fixed limit",
        FailureKind.TOO_LARGE,
        "A mensagem é grande demais para o servidor",
        "The message is too large for the server",
    ),
]


@pytest.mark.parametrize(("text", "kind", "pt", "en"), CASES)
def test_failures_are_classified_and_worded(text: str, kind: FailureKind, pt: str, en: str) -> None:
    assert classify(text).kind == kind
    assert failure_words(text, translations("pt_BR").gettext).sentence == pt
    worded = failure_words(text, translations("en").gettext)
    assert worded.sentence == en
    assert worded.detail in " ".join(text.split())  # the server's own words are kept


def test_an_unknown_channel_failure_speaks_of_the_connection() -> None:
    gettext = translations("pt_BR").gettext
    assert failure_words("weird", gettext).sentence == "A mensagem não pôde ser enviada"
    assert failure_words("weird", gettext, channel=True).sentence == (
        "A conexão com o servidor falhou"
    )
