"""The OpenAPI document covers API.md's endpoint table — every path, and the parameters each
row names — and documents every operation's parameters, envelopes and [ext] marks; the rate
limit answers 429."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture, app_with, make_company

from atendo.runtime import Runtime

API_MD = Path(__file__).resolve().parents[3] / "shared" / "API.md"
# Paths served by modules other issues are still writing: checked once those modules exist.
OWNED_ELSEWHERE = {
    "atendo.api.routes.channels": ("/v1/channels",),
    "atendo.api.routes.outbound": ("/gateway/delete_outbox",),
    "atendo.api.routes.signatures": ("/v1/channels/{}/signatures",),
}


def table_paths(text: str) -> set[str]:
    """Every ``/v1/…`` or ``/gateway/…`` path in the contract's tables and [ext] lists."""
    paths = set()
    for raw in re.findall(r"`(/(?:v1|gateway)/[^`\s]*)`", text):
        if "//" in raw:
            continue  # an example of the tolerated doubled slash, not an endpoint
        paths.add(re.sub(r"\{[^}]*\}", "{}", raw.rstrip("/")))
    return paths


def pending(path: str) -> bool:
    for module, prefixes in OWNED_ELSEWHERE.items():
        if path.startswith(prefixes) and importlib.util.find_spec(module) is None:
            return True
    return False


def test_every_contract_path_is_in_openapi(app_client: TestClient) -> None:
    if not API_MD.is_file():
        pytest.skip(f"{API_MD} is absent: nothing to compare with")
    expected = table_paths(API_MD.read_text())
    assert "/v1/webhooks/{}" in expected and "/v1/messages/inbox" in expected
    doc = app_client.get("/openapi.json").json()
    served = {re.sub(r"\{[^}]*\}", "{}", p) for p in doc["paths"]}
    missing = sorted(p for p in expected - served if not pending(p))
    assert not missing, f"in API.md but not in /openapi.json: {missing}"
    assert app_client.get("/docs").status_code == 200


def test_openapi_describes_params_and_marks_extensions(app_client: TestClient) -> None:
    doc = app_client.get("/openapi.json").json()
    post = doc["paths"]["/v1/webhooks"]["post"]
    props = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"url", "events", "channels", "name"} <= set(props)
    params = {p["name"] for p in doc["paths"]["/v1/statistics"]["get"]["parameters"]}
    assert {"report", "date", "limit", "offset"} <= params
    assert "[ext]" in doc["paths"]["/v1/companies/regenerate_token"]["post"]["summary"]


METHODS = ("GET", "POST", "PUT", "DELETE")
EXT = "[ext]"
# Parameters the table names for an endpoint but the route reads under Atendo's own name.
ALIASES: dict[str, str] = {}


def norm(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/"))


def table_rows(text: str) -> list[tuple[list[tuple[str, str]], str]]:
    """API.md's endpoint table: ([(METHOD, path), …], the parameters cell) per row."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.match(r"^(GET|POST|PUT|DELETE)", cells[1]):
            continue
        ops: list[tuple[str, str]] = []
        methods: list[str] = []
        for token in re.findall(r"`[^`]+`|[A-Z]+(?:/[A-Z]+)*", cells[1]):
            if token.startswith("`"):
                ops += [(m, norm(token.strip("`"))) for m in methods]
            else:
                methods = [m for m in token.split("/") if m in METHODS]
        rows.append((ops, cells[2]))
    return rows


def named_params(cell: str) -> dict[str, bool]:
    """The parameter names in a table cell, each with whether it is marked [ext]."""
    cell = re.sub(r"\([^)]*\)", "", cell)  # examples of values, "(+ [ext] below)"
    cell = re.sub(r"\{[^}]*\}", "", cell)  # from_client{id or phone, nickname}
    out: dict[str, bool] = {}
    for name, ext in re.findall(r"`([a-z_0-9.\[\]]+)`( \[ext\])?", cell):
        name = name.removesuffix("[]")
        names = [name]
        if name.endswith("_1..3"):
            names = [name.removesuffix("1..3") + str(i) for i in (1, 2, 3)]
        for n in names:
            out[ALIASES.get(n, n)] = bool(ext)
    for bare in ("limit", "offset"):
        if re.search(rf"(^|[ ,]){bare}([ ,;]|$)", cell):
            out.setdefault(bare, False)
    return out


def documented(op: dict[str, Any]) -> dict[str, str]:
    """name → description of every parameter an operation documents (query or body)."""
    out = {p["name"]: p.get("description", "") for p in op.get("parameters", [])}
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    for name, prop in body.get("schema", {}).get("properties", {}).items():
        out[name] = prop.get("description", "")
    return out


def test_every_table_row_documents_its_parameters(app_client: TestClient) -> None:
    if not API_MD.is_file():
        pytest.skip(f"{API_MD} is absent: nothing to compare with")
    paths = {norm(p): ops for p, ops in app_client.get("/openapi.json").json()["paths"].items()}
    rows = table_rows(API_MD.read_text())
    assert len(rows) > 30, "the endpoint table was not understood"
    problems = []
    for ops, cell in rows:
        served = [paths[path][m.lower()] for m, path in ops if m.lower() in paths.get(path, {})]
        if not served:
            continue  # a missing path is test_every_contract_path_is_in_openapi's to report
        general, *per_method = cell.split(";")
        wanted = [(named_params(general), served)]
        for part in per_method:
            method, _, cell_names = part.strip().partition(":")
            on = [paths[p][m.lower()] for m, p in ops if m == method.strip()]
            wanted.append((named_params(cell_names), on))
        for names, where in wanted:
            params: dict[str, str] = {}
            for op in where:
                params.update(documented(op))
            for name, ext in names.items():
                if name not in params:
                    problems.append(f"{ops[0]}: {name} is not documented")
                elif ext and "[ext]" not in params[name]:
                    problems.append(f"{ops[0]}: {name} is not marked [ext]")
    assert not problems, "\n".join(problems)


def test_channel_fields_are_documented(app_client: TestClient) -> None:
    if not API_MD.is_file():
        pytest.skip(f"{API_MD} is absent: nothing to compare with")
    line = next(x for x in API_MD.read_text().splitlines() if x.strip().startswith("Fields:"))
    doc = app_client.get("/openapi.json").json()
    params = documented(doc["paths"]["/v1/channels"]["post"])
    missing = sorted(set(named_params(line)) - set(params))
    assert not missing, f"POST /v1/channels does not document {missing}"


# The [ext] parameters API.md's "Atendo extensions" list gives for endpoints of the table.
EXT_PARAMS = {
    ("/v1/messages", "post"): {"subject", "html", "dialog_id", "cc"},
    ("/v1/dialogs", "post"): {"channel_id", "emails", "client_id", "operator_id", "subject"},
    ("/v1/channels/{channel_id}/signatures", "put"): {"operators_enabled", "general", "operators"},
}


def test_extension_parameters_are_documented_and_marked(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    for (path, method), names in EXT_PARAMS.items():
        op = paths[path][method]
        params = documented(op)
        assert names <= set(params), f"{method} {path}: {names - set(params)}"
        marked = EXT in op["summary"] or all(params[n].startswith(EXT) for n in names)
        assert marked, f"{method} {path}: the [ext] parameters are not marked"


def test_every_operation_documents_its_envelopes(app_client: TestClient) -> None:
    doc = app_client.get("/openapi.json").json()
    assert "token" in doc["components"]["securitySchemes"]
    problems = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            label = f"{method.upper()} {path}"
            ok = [op["responses"][c] for c in op["responses"] if c.startswith("2")]
            if len(ok) != 1:
                problems.append(f"{label}: {len(ok)} success responses")
                continue
            schema = ok[0]["content"].get("application/json", {}).get("schema")
            if schema is not None and {"status", "data"} - set(schema.get("required", [])):
                problems.append(f"{label}: no success envelope")
            if schema is None and not any("binary" in str(c) for c in ok[0]["content"].values()):
                problems.append(f"{label}: neither an envelope nor a download")
            for code in ("401", "422", "4XX"):
                error = op["responses"].get(code, {}).get("content", {})
                if "message" not in str(error):
                    problems.append(f"{label}: no {code} error envelope")
            if op["summary"] == method.title() or not op.get("security"):
                problems.append(f"{label}: no summary or no token scheme")
            if "[ext]" in op["summary"] and "**[ext]**" not in op["description"]:
                problems.append(f"{label}: [ext] in the summary only")
    assert not problems, "\n".join(problems)


def test_required_parameters_are_marked(app_client: TestClient) -> None:
    doc = app_client.get("/openapi.json").json()
    query = doc["paths"]["/v1/messages/{message_id}/transfer"]["get"]["parameters"]
    assert {p["name"]: p["required"] for p in query}["operator_id"] is True
    body = doc["paths"]["/v1/messages/inbox"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"channel_id", "body", "from_client"}
    assert body["required"] is True
    email = doc["paths"]["/v1/clients"]["get"]["parameters"]
    assert next(p for p in email if p["name"] == "email")["description"].startswith("[ext]")


def test_rate_limit_answers_429(runtime: Runtime) -> None:
    company: CompanyFixture = make_company(runtime, "Limited")
    with app_with(runtime, api_rate_limit_per_minute=3) as client:
        codes = [client.get("/v1/webhooks", headers=company.headers).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/v1/webhooks", headers=company.headers)
        assert r.json() == {
            "status": "error",
            "message": "Number of API requests exceeded",
            "code": "rate_limited",
        }


def test_attachment_upload_is_documented_as_multipart(app_client: TestClient) -> None:
    body = app_client.get("/openapi.json").json()["paths"]["/v1/messages"]["post"]["requestBody"]
    upload = body["content"]["multipart/form-data"]["schema"]["properties"]["attachment"]
    assert upload == {"type": "string", "format": "binary"}
    by_url = body["content"]["application/json"]["schema"]["properties"]["attachment"]
    assert by_url["type"] == "string" and "URL" in by_url["description"]
