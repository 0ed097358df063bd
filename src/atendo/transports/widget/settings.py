"""A widget channel's settings: what ``POST /v1/channels`` with ``transport: widget`` takes
and the panel's form is built from (titles and ``form`` hints are read by the panel)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

LANGUAGES = ("pt-BR", "en", "es")
MAX_UPLOAD_CEILING = 20 * 1024 * 1024
Level = Literal["off", "optional", "required"]


def normalise_origin(value: str) -> str:
    """``https://Loja.example:443/path`` → ``https://loja.example``; ValueError when it is not
    an http(s) origin."""
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a site origin (https://host[:port]): {raw[:100]}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"an origin has no user, query or fragment: {raw[:100]}")
    if parts.path not in ("", "/"):
        raise ValueError(f"an origin has no path: {raw[:100]}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {raw[:100]}") from None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _localized(value: Any, limit: int) -> dict[str, str]:
    """A text per language: one string stands for every language."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = {lang: value for lang in LANGUAGES}
    if not isinstance(value, dict):
        raise ValueError("a text, or an object with pt-BR, en and es texts")
    out: dict[str, str] = {}
    for key, text in value.items():
        if key not in LANGUAGES:
            raise ValueError(f"unknown language {str(key)[:20]!r} (pt-BR, en, es)")
        if not isinstance(text, str):
            raise ValueError("each language's text is a string")
        if len(text) > limit:
            raise ValueError(f"at most {limit} characters")
        if text.strip():
            out[key] = text.strip()
    return out


class Prechat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Level = Field(default="optional", title="Name")
    email: Level = Field(default="optional", title="E-mail")
    phone: Level = Field(default="off", title="Phone")


class WidgetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(
        min_length=1,
        max_length=20,
        title="Site origins allowed to embed the widget",
        description="One per line, e.g. https://www.loja.com.br",
        json_schema_extra={"form": "lines"},
    )
    color: str = Field(
        default="#1f6feb",
        pattern=r"^#[0-9a-fA-F]{6}$",
        title="Colour",
        json_schema_extra={"form": "color"},
    )
    position: Literal["right", "left"] = Field(default="right", title="Position")
    title: dict[str, str] = Field(
        default_factory=dict, title="Title", json_schema_extra={"form": "localized"}
    )
    greeting: dict[str, str] = Field(
        default_factory=dict, title="Greeting", json_schema_extra={"form": "localized"}
    )
    away_text: dict[str, str] = Field(
        default_factory=dict,
        title="Away text (no operator online)",
        json_schema_extra={"form": "localized"},
    )
    prechat: Prechat = Field(default_factory=Prechat, title="Pre-chat form")
    consent_text: dict[str, str] = Field(
        default_factory=dict,
        title="Consent text (a link in it is shown as a link)",
        json_schema_extra={"form": "localized"},
    )
    uploads: bool = Field(default=True, title="Visitors may send files")
    max_upload_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=MAX_UPLOAD_CEILING, title="Largest file (bytes)"
    )
    offline_email_channel_id: int | None = Field(
        default=None,
        ge=1,
        title="E-mail channel that answers messages left offline",
        json_schema_extra={"form": "channel", "transport": "email"},
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [line for line in value.replace(",", "\n").splitlines() if line.strip()]
        if not isinstance(value, list):
            return value
        out: list[str] = []
        for item in value:
            origin = normalise_origin(str(item))
            if origin not in out:
                out.append(origin)
        return out

    @field_validator("title", "greeting", mode="before")
    @classmethod
    def _short_texts(cls, value: Any) -> dict[str, str]:
        return _localized(value, 200)

    @field_validator("away_text", "consent_text", mode="before")
    @classmethod
    def _long_texts(cls, value: Any) -> dict[str, str]:
        return _localized(value, 1000)


def _(message: str) -> str:
    """Marks a msgid of the panel's catalog (the panel's form shows it translated)."""
    return message


# What an admin reads when a setting is refused: one sentence per field, saying what it takes
# (pydantic's own words are English and name its types).
NOT_A_SETTING = _("This is not a setting of a widget channel.")
CHECK = _("Check this value.")
FIELD_WORDS = {
    "allowed_origins": _(
        "Write each site as https://host or https://host:port, one per line (1 to 20 sites)."
    ),
    "color": _("Write the colour as #rrggbb, for example #1f6feb."),
    "position": _("Choose right or left."),
    "title": _("At most 200 characters in each language (pt-BR, en, es)."),
    "greeting": _("At most 200 characters in each language (pt-BR, en, es)."),
    "away_text": _("At most 1000 characters in each language (pt-BR, en, es)."),
    "consent_text": _("At most 1000 characters in each language (pt-BR, en, es)."),
    "prechat": _("Each pre-chat field is off, optional or required."),
    "uploads": _("Choose yes or no."),
    "max_upload_bytes": _("A size in bytes from 1024 to 20971520 (20 MB)."),
    "offline_email_channel_id": _("Choose one of this company's e-mail channels."),
}


def settings_errors(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's complaints → one sentence of the catalogs per field (``prechat.name``…)."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            words = NOT_A_SETTING
        else:
            words = FIELD_WORDS.get(name.split(".")[0], CHECK)
        if words not in errors.setdefault(name, []):
            errors[name].append(words)
    return errors
