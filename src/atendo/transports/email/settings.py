"""An e-mail channel's settings: what the admin types in, validated (pydantic).

The public part is stored as ``Channel.settings`` (JSON) and returned by the API; the two
passwords never enter this model: they travel beside it and are stored encrypted in
``Channel.secrets`` (see :mod:`atendo.core.channels.service`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from atendo.core.errors import Invalid

Security = Literal["ssl", "starttls", "none"]
# How the mailbox signs in: its password, or an OAuth 2.0 grant (XOAUTH2, :mod:`.oauth`).
Auth = Literal["password", "oauth"]
OAuthProviderName = Literal["google", "microsoft"]

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
# The fields whose change means "test the connection again before saving".
CONNECTION_FIELDS = (
    "email",
    "imap_host",
    "imap_port",
    "imap_security",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "login",
    "smtp_login",
    "tls_verify",
    "auth",
    "oauth_provider",
)
SECRET_FIELDS = ("password", "smtp_password")


class EmailChannelSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str
    sender_name: str = ""
    imap_host: str = Field(min_length=1, max_length=255)
    imap_port: int = Field(default=0, ge=0, le=65535)
    imap_security: Security = "ssl"
    smtp_host: str = Field(min_length=1, max_length=255)
    smtp_port: int = Field(default=0, ge=0, le=65535)
    smtp_security: Security = "starttls"
    login: str = ""
    smtp_login: str = ""
    send_delay: int = Field(default=15, ge=0, le=300)
    write_first: bool = True
    import_days: int = Field(default=3, ge=0, le=3650)
    copy_to_sent: bool = True
    reply_to: str | None = None
    # Verify the servers' TLS certificates (turn off only for self-signed test servers).
    tls_verify: bool = True
    auth: Auth = "password"
    oauth_provider: OAuthProviderName | None = None

    @field_validator("email", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value is None else value
        if not _ADDRESS.match(value):
            raise ValueError("not an e-mail address")
        return value.lower()

    def model_post_init(self, __context: Any) -> None:
        if not self.imap_port:
            self.imap_port = IMAP_PORTS[self.imap_security]
        if not self.smtp_port:
            self.smtp_port = SMTP_PORTS[self.smtp_security]
        if not self.login:
            self.login = self.email
        if not self.smtp_login:
            self.smtp_login = self.login
        if self.reply_to == "":
            self.reply_to = None

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def public(self) -> dict[str, Any]:
        """What goes into ``Channel.settings`` (no secrets in this model, by construction)."""
        return self.model_dump(mode="json")


def parse_settings(data: dict[str, Any]) -> EmailChannelSettings:
    """Validate; pydantic's complaints become ``Invalid`` with one list of reasons per field."""
    clean = {k: v for k, v in data.items() if k not in SECRET_FIELDS and v is not None}
    try:
        return EmailChannelSettings.model_validate(clean)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            errors.setdefault(field, []).append(message)
        raise Invalid("Invalid channel settings", errors, code="channel.invalid_settings") from None
