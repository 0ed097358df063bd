"""Domain invariants of the foundation: passwords, secrets, blobs, migrations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from tests.conftest import CompanyFixture

from atendo.core.companies.models import ApiToken
from atendo.core.companies.service import company_for_token, regenerate_token
from atendo.core.operators.models import Operator
from atendo.core.operators.service import authenticate_operator
from atendo.kit.blobs import BlobStore
from atendo.kit.crypto import SecretBox
from atendo.runtime import Runtime


def test_passwords_are_argon2_and_verify(runtime: Runtime, company: CompanyFixture) -> None:
    with runtime.db.transaction() as session:
        op = session.get(Operator, company.admin_id)
        assert op is not None and op.password_hash.startswith("$argon2")
        assert authenticate_operator(session, email=company.admin_email, password="wrong") is None
        ok = authenticate_operator(
            session, email=company.admin_email.upper(), password=company.admin_password
        )
        assert ok is not None and ok.id == company.admin_id


def test_tokens_stored_hashed_and_regenerated(runtime: Runtime, company: CompanyFixture) -> None:
    with runtime.db.transaction() as session:
        hashes = list(
            session.scalars(select(ApiToken.token_hash).where(ApiToken.company_id == company.id))
        )
        assert company.token not in hashes and len(hashes) == 1
        new = regenerate_token(session, company_id=company.id)
    with runtime.db.reading() as session:
        assert company_for_token(session, company.token) is None
        assert company_for_token(session, new) == company.id


def test_secret_box_roundtrip() -> None:
    box = SecretBox("k1")
    token = box.encrypt("hunter2")
    assert "hunter2" not in token
    assert box.decrypt(token) == "hunter2"
    try:
        SecretBox("k2").decrypt(token)
    except ValueError:
        pass
    else:
        raise AssertionError("decrypting with another key must fail")


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = store.put(b"hello")
    assert store.put(b"hello") == sha
    assert store.get(sha) == b"hello"
    assert len(list(tmp_path.rglob("*"))) == 2  # one folder and one file


def test_cli_company_create_and_data_survive(tmp_path: Path) -> None:
    env = {"ATENDO_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [
        sys.executable,
        "-m",
        "atendo",
        "company",
        "create",
        "--name",
        "Loja",
        "--admin-email",
        "a@loja.example",
        "--admin-password",
        "senha-forte-1",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(data) == {"company_id", "operator_id", "api_token"}
    assert (tmp_path / "atendo.db").exists() and (tmp_path / "secret.key").exists()
    # A second process (a restart) sees the same company.
    probe = (
        "from atendo.settings import Settings;from atendo.runtime import Runtime;"
        "from atendo.core.companies.service import company_for_token as f;"
        f"rt=Runtime.from_settings(Settings(data_dir='{tmp_path}'));"
        "s=rt.db.sessionmaker();"
        f"print(f(s, '{data['api_token']}'))"
    )
    again = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert again.stdout.strip() == str(data["company_id"])
