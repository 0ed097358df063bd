"""One SMTP transaction for one message (aiosmtplib), its outcome in plain words.

The sender turns what the server said into one of three outcomes (RFC 5321 §4.2.1):

- :class:`Accepted` -- the server took the message (``250`` after DATA) for at least one
  recipient; recipients it refused one by one are listed with the server's words, the others
  still get the mail (aiosmtplib raises only when *every* recipient is refused).
- :class:`TemporaryFailure` -- a 4xx answer, a timeout, a refused or dropped connection: try
  again later with the same bytes.
- :class:`PermanentFailure` -- a 5xx answer (or every recipient refused for good): the
  message fails at once and the operator sees the server's words.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpAccount:
    host: str
    port: int
    security: str  # ssl | starttls | none
    login: str = ""
    password: str = ""
    tls_verify: bool = True
    timeout: float = DEFAULT_TIMEOUT
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_settings(
        cls,
        settings: dict[str, Any],
        secrets: dict[str, str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> SmtpAccount:
        security = str(settings.get("smtp_security") or "starttls")
        default_port = {"ssl": 465, "starttls": 587}.get(security, 25)
        login = str(settings.get("smtp_login") or settings.get("login") or "")
        password = secrets.get("smtp_password") or secrets.get("password") or ""
        return cls(
            host=str(settings.get("smtp_host") or ""),
            port=int(settings.get("smtp_port") or default_port),
            security=security,
            login=login,
            password=password,
            tls_verify=bool(settings.get("tls_verify", True)),
            timeout=timeout,
        )


@dataclass(frozen=True)
class Accepted:
    reply: str
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemporaryFailure:
    reason: str


@dataclass(frozen=True)
class PermanentFailure:
    reason: str
    refused: dict[str, str] = field(default_factory=dict)


Outcome = Accepted | TemporaryFailure | PermanentFailure


def _words(code: int, message: str) -> str:
    return f"{code} {' '.join(str(message).split())}".strip()


def _client(account: SmtpAccount) -> aiosmtplib.SMTP:
    kwargs: dict[str, Any] = {
        "hostname": account.host,
        "port": account.port,
        "timeout": account.timeout,
        "validate_certs": account.tls_verify,
        "local_hostname": "localhost",
    }
    if account.tls_context is not None:
        kwargs["tls_context"] = account.tls_context
    if account.security == "ssl":
        kwargs["use_tls"] = True
    elif account.security == "starttls":
        kwargs["start_tls"] = True
    else:
        kwargs["start_tls"] = False
    return aiosmtplib.SMTP(**kwargs)


async def send_raw(
    account: SmtpAccount, *, mail_from: str, recipients: Sequence[str], raw: bytes
) -> Outcome:
    """Connect, authenticate when there are credentials, send once, quit."""
    client = _client(account)
    try:
        await client.connect()
        # AUTH when we have credentials and the server offers it (an IP-trusted relay that
        # does not advertise AUTH accepts mail without it).
        if account.login and account.password:
            if not client.esmtp_extensions:  # after STARTTLS aiosmtplib has not re-EHLOed yet
                await client.ehlo()
            if client.supports_extension("auth"):
                await client.login(account.login, account.password)
        errors, reply = await client.sendmail(mail_from, list(recipients), raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = {e.recipient: _words(e.code, e.message) for e in exc.recipients}
        temporary = all(400 <= e.code < 500 for e in exc.recipients)
        summary = "; ".join(f"{r}: {w}" for r, w in refused.items())
        if temporary:
            return TemporaryFailure(summary)
        return PermanentFailure(f"every recipient was refused: {summary}", refused)
    except aiosmtplib.SMTPAuthenticationError as exc:
        return TemporaryFailure(f"login refused: {_words(exc.code, exc.message)}")
    except aiosmtplib.SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            return TemporaryFailure(_words(exc.code, exc.message))
        if exc.code >= 500:
            return PermanentFailure(_words(exc.code, exc.message))
        return TemporaryFailure(_words(exc.code, exc.message))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return TemporaryFailure(f"{type(exc).__name__}: {exc}".strip())
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
    refused = {rcpt: _words(resp.code, resp.message) for rcpt, resp in errors.items()}
    return Accepted(reply=f"250 {str(reply).strip()}".strip(), refused=refused)
