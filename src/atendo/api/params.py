"""Request parameters from the query string, a form body or a JSON body — all at once.

Real Chat2Desk clients send parameters every way (even a JSON body on GET and a query string
on POST), lists as repeated keys, JSON arrays or ``key[]=``, and booleans as true/True/1.
Later sources win: query < form < JSON.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from atendo.core.errors import Invalid

# Integer columns (ids, positions, counts) are 32-bit on PostgreSQL: a wider number could never
# match a row and would make the driver fail, so it is refused as invalid up front.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TRUE = {"true", "1", "yes", "on", "t"}
FALSE = {"false", "0", "no", "off", "f", ""}


class Params:
    def __init__(self, values: dict[str, list[Any]]) -> None:
        self._values = values

    @classmethod
    async def from_request(cls, request: Request) -> Params:
        values: dict[str, list[Any]] = {}

        def add(key: str, value: Any) -> None:
            key = key[:-2] if key.endswith("[]") else key
            values.setdefault(key, []).append(value)

        for key, value in request.query_params.multi_items():
            add(key, value)
        ctype = request.headers.get("content-type", "")
        if request.method in ("GET", "HEAD") and "json" not in ctype:
            return cls(values)
        if "application/x-www-form-urlencoded" in ctype or "multipart/form-data" in ctype:
            form = await request.form()
            body_values: dict[str, list[Any]] = {}
            for key, item in form.multi_items():
                k = key[:-2] if key.endswith("[]") else key
                body_values.setdefault(k, []).append(item)
            values.update(body_values)
        else:
            raw = await request.body()
            if raw.strip():
                try:
                    data = json.loads(raw)
                except ValueError as exc:
                    raise Invalid("Request body is not valid JSON") from exc
                if isinstance(data, dict):
                    for key, value in data.items():
                        k = key[:-2] if key.endswith("[]") else key
                        values[k] = list(value) if isinstance(value, list) else [value]
        return cls(values)

    def names(self) -> list[str]:
        """Every parameter name sent (query and body)."""
        return list(self._values)

    def has(self, key: str) -> bool:
        return key in self._values

    def raw(self, key: str) -> Any:
        vals = self._values.get(key)
        return _storable(key, vals[-1]) if vals else None

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw(key)
        if value is None or isinstance(value, UploadFile):
            return default
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None or value == "":
            return default
        return to_integer(key, value)

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise Invalid(f"{key} must be true or false", {key: ["must be a boolean"]})

    def items(self, key: str) -> list[Any]:
        out: list[Any] = []
        for value in _storable(key, self._values.get(key, [])):
            if isinstance(value, list):
                out.extend(value)
            elif isinstance(value, str) and value.startswith("["):
                try:
                    parsed = json.loads(value)
                except ValueError:
                    out.append(value)
                else:
                    out.extend(parsed if isinstance(parsed, list) else [parsed])
            elif isinstance(value, str) and "," in value:
                out.extend(v.strip() for v in value.split(",") if v.strip())
            elif value is not None and value != "":
                out.append(value)
        return out

    def integers(self, key: str) -> list[int]:
        return [to_integer(key, v) for v in self.items(key)]

    def date(self, key: str) -> datetime | None:
        value = self.text(key)
        if not value:
            return None
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{key} must be an ISO 8601 date", {key: ["ISO 8601 date"]}) from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise Invalid(f"{key} must be an object", {key: ["object"]}) from None
        if not isinstance(value, dict):
            raise Invalid(f"{key} must be an object", {key: ["object"]})
        _storable(key, value)
        return value

    def upload(self, key: str) -> UploadFile | None:
        value = self.raw(key)
        return value if isinstance(value, UploadFile) else None


def to_integer(key: str, value: Any) -> int:
    """``value`` as an integer a database column can hold, else Invalid naming ``key``."""
    number = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif not isinstance(value, (bool, float, dict, list)):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
    if number is None or not INT_MIN <= number <= INT_MAX:
        reason = f"must be an integer from {INT_MIN} to {INT_MAX}"
        raise Invalid(f"{key} {reason}", {key: [reason]})
    return number


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _storable(key: str, value: Any) -> Any:
    """Refuse what no database text can hold: NUL characters (PostgreSQL fails on them) and
    lone UTF-16 surrogates (a JSON ``"\\ud800"`` escape; not encodable as UTF-8); and numbers
    past 64 bits (no database column or JSON encoder here holds them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            reason = "numbers within the 64-bit range"
            raise Invalid(f"{key} must hold {reason}", {key: [reason]})
    elif isinstance(value, str):
        if _UNSTORABLE.search(value):
            reason = "NUL characters or lone surrogates"
            raise Invalid(f"{key} must not contain {reason}", {key: [reason]})
    elif isinstance(value, list):
        for item in value:
            _storable(key, item)
    elif isinstance(value, dict):
        for name, item in value.items():
            _storable(key, name)
            _storable(key, item)
    return value
