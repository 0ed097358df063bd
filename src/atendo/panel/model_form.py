"""A channel form built from a transport's settings model (pydantic), for transports that do
not bring a template of their own (``Transport.settings_template`` None).

Each field becomes an input by its type and the model's ``form`` hint (``json_schema_extra``):
text, number, a switch (bool), a choice (``Literal``), one item per line (``lines``), a text
per language (``localized``), a colour, a channel of a transport (``channel``), and a group of
choices for a nested model. Labels are the fields' titles, translated by the panel's catalog.
Secret fields are password inputs, never filled in. :func:`form_data` reads such a form back
into the shape the model takes.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

LANGUAGES = (("pt-BR", "Português"), ("en", "English"), ("es", "Español"))


@dataclass
class FormField:
    name: str
    label: str
    kind: str  # text | number | switch | choice | lines | localized | color | channel | group
    help: str = ""
    choices: tuple[str, ...] = ()
    transport: str = ""  # kind "channel": channels of this transport
    parts: list[FormField] = field(default_factory=list)  # kind "group"


def _hint(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    return str(extra.get("form", "")) if isinstance(extra, dict) else ""


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _field(name: str, info: FieldInfo) -> FormField:
    label = info.title or name.replace("_", " ").capitalize()
    hint = _hint(info)
    annotation = _unwrap(info.annotation)
    if hint in ("lines", "localized", "color"):
        return FormField(name, label, hint, info.description or "")
    if hint == "channel":
        extra = info.json_schema_extra
        transport = str(extra.get("transport", "")) if isinstance(extra, dict) else ""
        return FormField(name, label, "channel", info.description or "", transport=transport)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        parts = [_field(n, i) for n, i in annotation.model_fields.items()]
        for part in parts:
            part.name = f"{name}.{part.name}"
        return FormField(name, label, "group", info.description or "", parts=parts)
    if typing.get_origin(annotation) is Literal:
        choices = tuple(str(a) for a in typing.get_args(annotation))
        return FormField(name, label, "choice", info.description or "", choices)
    if annotation is bool:
        return FormField(name, label, "switch", info.description or "")
    if annotation is int:
        return FormField(name, label, "number", info.description or "")
    return FormField(name, label, "text", info.description or "")


def form_fields(model: type[BaseModel]) -> list[FormField]:
    return [_field(name, info) for name, info in model.model_fields.items()]


def model_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The settings a new channel's form starts with: the model's defaults."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        value = info.get_default(call_default_factory=True)
        out[name] = value.model_dump() if isinstance(value, BaseModel) else value
    return out


def form_values(settings: dict[str, Any]) -> dict[str, Any]:
    """A channel's saved settings as the form's inputs show them (dotted names for groups and
    languages, lists one per line)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                out[f"{key}.{sub}"] = item
        elif isinstance(value, list):
            out[key] = "\n".join(str(v) for v in value)
        else:
            out[key] = value
    return out


def form_data(
    model: type[BaseModel], form: FormData, secret_fields: tuple[str, ...]
) -> dict[str, Any]:
    """The model's settings from a submitted form: switches on or off, texts per language
    together (emptied ones too), other fields when filled in."""
    data: dict[str, Any] = {}
    for item in form_fields(model):
        if item.kind == "switch":
            data[item.name] = form.get(item.name) == "on"
        elif item.kind == "localized":
            data[item.name] = {
                lang: str(form.get(f"{item.name}.{lang}") or "").strip() for lang, _ in LANGUAGES
            }
        elif item.kind == "group":
            group = {
                part.name.split(".", 1)[1]: str(form.get(part.name)).strip()
                for part in item.parts
                if isinstance(form.get(part.name), str) and str(form.get(part.name)).strip()
            }
            if group:
                data[item.name] = group
        else:
            value = form.get(item.name)
            if isinstance(value, str) and value.strip():
                data[item.name] = value.strip()
    for name in secret_fields:
        value = form.get(name)
        if isinstance(value, str) and value:
            data[name] = value
    return data
