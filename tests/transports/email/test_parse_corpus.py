"""Every real-world message in the shared corpus parses; reply fixtures are scored.

The corpus lives outside the repository (``../shared/corpus`` from the repo root) and is read
in place; the tests skip with a message when it is absent.

File rule: every regular file is fed to ``parse_message`` (it must never raise) except
README/LICENSE files and ``expected.json``.  Readable content (text, HTML or an attachment)
is required of everything except the Outlook ``.msg`` (an OLE2 file, not RFC 5322), which only
has to come back with ``parse_error`` or without an exception.
"""

from __future__ import annotations

import email
import json
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest

from atendo.transports.email.parse import parse_message
from atendo.transports.email.quotes import split_quoted

REPO = Path(__file__).resolve().parents[3]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
EXPECTED_FILES = ("reply-fixtures/expected.json", "synthetic-pt-en-probes/expected.json")
FLOOR = {"reply-fixtures/expected.json": 1.0, "synthetic-pt-en-probes/expected.json": 1.0}

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared mail corpus not found at {CORPUS}; skipping corpus tests"
)


def _is_mail_file(path: Path) -> bool:
    name = path.name.lower()
    return not (name.startswith(("readme", "license")) or name == "expected.json")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and _is_mail_file(p))


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_message_parses(path: Path) -> None:
    raw = path.read_bytes()
    mail = parse_message(raw)
    if raw.startswith(OLE2_MAGIC):
        return  # Outlook .msg: not RFC 5322; surviving is all we ask
    readable = bool(mail.text.strip() or mail.html or mail.attachments or mail.parse_error)
    assert readable or not _has_leaf_content(raw), f"nothing readable from {path.name}"
    assert "\x00" not in mail.text
    full_lines = {line.rstrip() for line in mail.full_text.splitlines()}
    assert all(line.rstrip() in full_lines for line in mail.text.splitlines())


def _has_leaf_content(raw: bytes) -> bool:
    """True when some non-multipart part has a non-blank payload (stdlib's view)."""
    msg = email.message_from_bytes(raw, policy=compat32)
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload.strip():
            return True
    return False


# --------------------------------------------------------------------------- reply scoring


def _cases(expected: str) -> list[dict[str, Any]]:
    path = CORPUS / expected
    if not path.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases


def _resolve(expected: str, file: str) -> Path:
    local = (CORPUS / expected).parent / file
    return local if local.is_file() else CORPUS / file


def _new_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".eml":
        return parse_message(raw).text
    return split_quoted(raw.decode("utf-8", errors="replace"))[0]


def _norm_line(line: str) -> str:
    return line.strip().lstrip("> ").strip()


def check_case(expected: str, case: dict[str, Any]) -> list[str]:
    """Problems with one expected.json case ([] when it passes)."""
    path = _resolve(expected, case["file"])
    text = _new_text(path)
    problems: list[str] = []
    exact = case.get("expected_exact")
    if exact is not None and text.strip() != exact.strip():
        problems.append(f"expected exactly {exact!r}, got {text!r}")
    problems += [f"lost {s!r}" for s in case.get("must_contain", []) if s not in text]
    lines = {_norm_line(line) for line in text.splitlines()}
    problems += [
        f"kept quoted line {s!r}"
        for s in case.get("must_not_contain_lines", [])
        if _norm_line(s) in lines
    ]
    if case.get("kind") == "keep":
        original = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix != ".eml" and text.strip() != original.strip():
            problems.append("kind=keep but text was cut")
    return problems


def _all_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(expected, case) for expected in EXPECTED_FILES for case in _cases(expected)]


@pytest.mark.parametrize(
    ("expected", "case"), _all_cases(), ids=lambda v: v["file"] if isinstance(v, dict) else v
)
def test_reply_fixture(expected: str, case: dict[str, Any]) -> None:
    problems = check_case(expected, case)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("expected", EXPECTED_FILES)
def test_reply_pass_rate(expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases(expected)
    if not cases:
        pytest.skip(f"{expected} not found in corpus")
    failed = [case["file"] for case in cases if check_case(expected, case)]
    passed = len(cases) - len(failed)
    rate = passed / len(cases)
    with capsys.disabled():
        print(f"\n[quote split] {expected}: {passed}/{len(cases)} passed ({rate:.0%})")
        for file in failed:
            print(f"  FAIL {file}")
    assert rate >= FLOOR[expected]
