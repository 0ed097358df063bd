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
from atendo.transports.email.quotes import split_reply

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


def _split(path: Path) -> tuple[str, list[str]]:
    """(new text, what the client wrote: the new text and signature as they can be joined)."""
    raw = path.read_bytes()
    if path.suffix == ".html":  # an HTML-only message body
        raw = b"Content-Type: text/html; charset=utf-8\r\n\r\n" + raw
    if path.suffix in (".eml", ".html"):
        mail = parse_message(raw)
        if not mail.signature:
            return mail.text, [mail.text]
        start = mail.full_text.find(mail.text)  # the same span of the message, verbatim
        end = mail.full_text.find(mail.signature, max(start, 0) + len(mail.text))
        if start >= 0 and end >= 0:
            return mail.text, [mail.full_text[start : end + len(mail.signature)]]
        return mail.text, [f"{mail.text}\n\n{mail.signature}", f"{mail.text}\n{mail.signature}"]
    reply = split_reply(raw.decode("utf-8", errors="replace"))
    return reply.text, [reply.as_written]


def _norm_line(line: str) -> str:
    return line.strip().lstrip("> ").strip()


def check_case(expected: str, case: dict[str, Any]) -> list[str]:
    """Problems with one expected.json case ([] when it passes).

    The client's signature is kept apart from the new text, never lost: what must be kept
    (``must_contain``, ``expected_exact``, ``kind=keep``) is looked for in the text and the
    signature as written; what must be cut (``must_not_contain_lines``) in the text alone.
    """
    path = _resolve(expected, case["file"])
    text, written = _split(path)
    problems: list[str] = []
    exact = case.get("expected_exact")
    if exact is not None and exact.strip() not in [w.strip() for w in written]:
        problems.append(f"expected exactly {exact!r}, got {written[0]!r}")
    problems += [f"lost {s!r}" for s in case.get("must_contain", []) if s not in written[0]]
    lines = {_norm_line(line) for line in text.splitlines()}
    problems += [
        f"kept quoted line {s!r}"
        for s in case.get("must_not_contain_lines", [])
        if _norm_line(s) in lines
    ]
    if case.get("kind") == "keep":
        original = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".txt" and written[0].strip() != original.strip():
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
