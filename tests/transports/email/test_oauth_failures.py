"""Why a mailbox did not connect, told so the admin knows what to do (issue 17 part 3): an app
password needed, IMAP turned off, SMTP AUTH turned off, passwords refused (OAuth only), a
security setting that does not fit the port; each against a real server saying it.

Dovecot says what a provider says through a passwd-file user marked ``nologin`` with a
``reason`` (Dovecot answers ``NO [CONTACTADMIN] <reason>``; its passwd-file cannot hold spaces
in a field, so the words are separated by tabs); aiosmtpd answers AUTH with the provider's
reply. The words are Google's and Microsoft's (cited in atendo/kit/failures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from atendo.kit.failures import FailureKind, classify
from atendo.panel.failure_words import failure_words
from atendo.panel.i18n import translations
from atendo.transports.email import network as net
from atendo.transports.email.connection import check_connection
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.settings import parse_settings
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.dbless

NETWORK = MailNetwork(allow_private=True, ports=MailNetwork().ports.parse(frozenset(), "1-65535"))

GMAIL_APP_PASSWORD_IMAP = (
    "[ALERT] Application-specific password required: "
    "https://support.google.com/accounts/answer/185833 (Failure)"
)
GMAIL_IMAP_OFF = (
    "[ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings page "
    "and enable your account for IMAP access. (Failure)"
)
GMAIL_APP_PASSWORD_SMTP = (
    "5.7.9 Application-specific password required. Learn more at "
    "https://support.google.com/mail/?p=InvalidSecondFactor"
)
MICROSOFT_SMTP_AUTH_OFF = (
    "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
)
MICROSOFT_BASIC_OFF = "5.7.139 Authentication unsuccessful, basic authentication is disabled."


class ExplainingSmtp(SmtpServer):
    """Refuses every AUTH with the reply a provider gives (``answer``)."""

    def __init__(self, answer: str) -> None:
        super().__init__(auth=("-", "-"))
        self.answer = answer

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        return AuthResult(success=False, handled=False, message=self.answer)


def nologin_user(dovecot: DovecotServer, email: str, reason: str) -> None:
    words = "\t".join(reason.split())
    (dovecot.users_dir / email).write_text(f"{email}:{{PLAIN}}pw::::::nologin reason={words}\n")


def settings(email: str, **servers: Any) -> Any:
    return parse_settings({"email": email, "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1",
                           "tls_verify": False, **servers})  # fmt: skip


@pytest.fixture
def plain_smtp() -> Iterator[SmtpServer]:
    with SmtpServer(auth=("someone@example.com", "pw")) as server:
        yield server


def worded(text: str, language: str) -> str:
    return failure_words(text, translations(language).gettext, channel=True).sentence


@pytest.mark.parametrize(
    ("reason", "sentence", "kind"),
    [
        (GMAIL_APP_PASSWORD_IMAP, net.APP_PASSWORD, FailureKind.APP_PASSWORD),
        (GMAIL_IMAP_OFF, net.IMAP_DISABLED, FailureKind.IMAP_DISABLED),
        ("Authentication failed.", net.WRONG_LOGIN, FailureKind.RECEIVE_LOGIN_REFUSED),
    ],
)
async def test_a_refused_imap_login_says_why(
    dovecot: DovecotServer,
    plain_smtp: SmtpServer,
    reason: str,
    sentence: str,
    kind: FailureKind,
) -> None:
    email = f"why-{kind.value}@example.com"
    nologin_user(dovecot, email, reason)
    cfg = settings(email, imap_port=dovecot.imap_port, imap_security="none",
                   smtp_port=plain_smtp.port, smtp_security="none")  # fmt: skip
    report = await check_connection(cfg, "pw", None, 5, NETWORK)
    assert report.imap_error == sentence
    assert classify(report.imap_error).kind == kind


@pytest.mark.parametrize(
    ("answer", "sentence", "kind"),
    [
        (f"534 {GMAIL_APP_PASSWORD_SMTP}", net.APP_PASSWORD, FailureKind.APP_PASSWORD),
        (f"535 {MICROSOFT_SMTP_AUTH_OFF}", net.SMTP_AUTH_DISABLED, FailureKind.SMTP_AUTH_DISABLED),
        (f"535 {MICROSOFT_BASIC_OFF}", net.PASSWORDS_REFUSED, FailureKind.PASSWORDS_REFUSED),
        ("535 5.7.8 Authentication credentials invalid", net.WRONG_LOGIN, None),
    ],
)
async def test_a_refused_smtp_login_says_why(
    dovecot: DovecotServer, answer: str, sentence: str, kind: FailureKind | None
) -> None:
    with ExplainingSmtp(answer) as smtp:
        cfg = settings("nobody@example.com", imap_port=dovecot.imap_port, imap_security="none",
                       smtp_port=smtp.port, smtp_security="none")  # fmt: skip
        report = await check_connection(cfg, "pw", None, 5, NETWORK)
    assert report.smtp_error == sentence
    if kind is not None:
        assert classify(report.smtp_error).kind == kind
        # the sender keeps the server's words: they are recognised as well
        assert classify(f"waiting for the connection: login refused: {answer}").kind == (
            FailureKind.WAITING
        )
        assert classify(f"login refused: {answer}").kind == kind


async def test_ssl_on_a_plain_port_is_a_security_setting_that_does_not_fit(
    dovecot: DovecotServer, plain_smtp: SmtpServer
) -> None:
    cfg = settings("nobody@example.com", imap_port=dovecot.imap_port, imap_security="ssl",
                   smtp_port=plain_smtp.port, smtp_security="ssl")  # fmt: skip
    report = await check_connection(cfg, "pw", None, 5, NETWORK)
    assert (report.imap_error, report.smtp_error) == (net.TLS_MISMATCH, net.TLS_MISMATCH)


@pytest.mark.parametrize(
    ("text", "pt", "en"),
    [
        (
            net.APP_PASSWORD,
            "Esta conta usa verificação em duas etapas: crie uma senha de app no provedor e "
            "use-a aqui, ou conecte com Google ou Microsoft",
            "This account uses two-step verification: create an app password at the provider "
            "and use it here, or connect with Google or Microsoft",
        ),
        (
            net.IMAP_DISABLED,
            "O IMAP está desativado nesta caixa: ative-o nas configurações da caixa "
            "(Gmail: Configurações, Encaminhamento e POP/IMAP)",
            "IMAP is turned off for this mailbox: turn it on in the mailbox's settings "
            "(Gmail: Settings, Forwarding and POP/IMAP)",
        ),
        (
            net.SMTP_AUTH_DISABLED,
            "O envio com login (SMTP AUTH) está desativado nesta conta: o administrador do "
            "Microsoft 365 pode ativá-lo, ou conecte com Microsoft",
            "Sending with a login (SMTP AUTH) is turned off for this account: the Microsoft "
            "365 administrator can turn it on, or connect with Microsoft",
        ),
        (
            net.PASSWORDS_REFUSED,
            "O provedor não aceita mais a senha desta conta: conecte com Google ou Microsoft",
            "The provider no longer accepts this account's password: connect with Google or "
            "Microsoft instead",
        ),
        (
            net.TLS_MISMATCH,
            "A segurança escolhida não corresponde à porta: use SSL/TLS com as portas 993 e "
            "465, STARTTLS com 143 e 587",
            "The security setting does not fit the port: use SSL/TLS with ports 993 and 465, "
            "STARTTLS with 143 and 587",
        ),
        (
            "the account's authorization was revoked or has expired: reconnect the account",
            "O acesso à caixa (Google ou Microsoft) foi revogado ou expirou: reconecte a conta",
            "The mailbox's sign-in (Google or Microsoft) was revoked or has expired: "
            "connect the account again",
        ),
    ],
)
def test_the_admin_reads_what_to_do(text: str, pt: str, en: str) -> None:
    assert worded(text, "pt_BR") == pt
    assert worded(text, "en") == en
