"""Every real-world message in the shared corpus parses to its known outcome; reply fixtures
are scored.

The corpus lives outside the repository (``../shared/corpus`` from the repo root, or
``ATENDO_TEST_CORPUS``) and is read in place; when it is absent the tests fail in CI
(``ATENDO_REQUIRE_SERVERS=1``) and skip elsewhere, naming the folder.

File rule: every regular file is fed to ``parse_message`` (it must never raise) except
README/LICENSE files and ``expected.json``. What each file parses to -- whether it is a parse
error, has text, HTML, how many attachments, its Message-ID, bounce and auto-reply flags -- is
known and kept in ``tests/fixtures/corpus_outcomes.json``; each file must give exactly that (a
parser that calls every mail a parse error, or loses attachments, fails here). After a
deliberate change of the parser, rewrite it with
``.venv/bin/python -m tests.transports.email.test_parse_corpus --write`` and review the diff.
"""

from __future__ import annotations

import email
import json
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest

from atendo.transports.email.parse import ParsedMail, parse_message
from atendo.transports.email.quotes import split_reply
from tests.conftest import CORPUS

REPO = Path(__file__).resolve().parents[3]
OUTCOMES = REPO / "tests" / "fixtures" / "corpus_outcomes.json"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
EXPECTED_FILES = ("reply-fixtures/expected.json", "synthetic-pt-en-probes/expected.json")
FLOOR = {"reply-fixtures/expected.json": 1.0, "synthetic-pt-en-probes/expected.json": 1.0}


def _is_mail_file(path: Path) -> bool:
    name = path.name.lower()
    return not (name.startswith(("readme", "license")) or name == "expected.json")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and _is_mail_file(p))


def outcome(mail: ParsedMail) -> dict[str, Any]:
    """What a parse decided about one file, in the terms ``corpus_outcomes.json`` keeps."""
    return {
        "parse_error": mail.parse_error is not None,
        "text": bool(mail.text.strip()),
        "html": mail.html is not None,
        "attachments": len(mail.attachments),
        "message_id": mail.message_id,
        "bounce": mail.is_bounce,
        "auto_reply": mail.is_auto_reply,
    }


def known_outcomes() -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = json.loads(OUTCOMES.read_text(encoding="utf-8"))
    return outcomes


def _corpus_ids(path: Path | None) -> str:
    return "corpus-missing" if path is None else str(path.relative_to(CORPUS))


@pytest.mark.parametrize("path", corpus_files() or [None], ids=_corpus_ids)
def test_corpus_message_parses(path: Path | None, corpus_dir: Path) -> None:
    assert path is not None
    raw = path.read_bytes()
    mail = parse_message(raw)
    known = known_outcomes().get(str(path.relative_to(corpus_dir)))
    assert known is not None, f"{path} is new: add it to {OUTCOMES.name} (--write)"
    assert outcome(mail) == known
    if raw.startswith(OLE2_MAGIC):
        return  # Outlook .msg: not RFC 5322; its outcome above is all we ask
    readable = bool(mail.text.strip() or mail.html or mail.attachments)
    assert readable or mail.parse_error or not _has_leaf_content(raw), path.name
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


def test_every_known_outcome_has_its_file(corpus_dir: Path) -> None:
    """The corpus and the outcomes list name the same files (none silently dropped)."""
    assert sorted(known_outcomes()) == [str(p.relative_to(corpus_dir)) for p in corpus_files()]


@pytest.mark.parametrize("expected", EXPECTED_FILES)
def test_reply_pass_rate(
    expected: str, capsys: pytest.CaptureFixture[str], corpus_dir: Path
) -> None:
    cases = _cases(expected)
    assert cases, f"{expected} not found in the corpus at {corpus_dir}"
    failed = [case["file"] for case in cases if check_case(expected, case)]
    passed = len(cases) - len(failed)
    rate = passed / len(cases)
    with capsys.disabled():
        print(f"\n[quote split] {expected}: {passed}/{len(cases)} passed ({rate:.0%})")
        for file in failed:
            print(f"  FAIL {file}")
    assert rate >= FLOOR[expected]


def write_outcomes() -> None:
    """Record what the parser makes of every corpus file (after a deliberate parser change)."""
    outcomes = {
        str(p.relative_to(CORPUS)): outcome(parse_message(p.read_bytes())) for p in corpus_files()
    }
    OUTCOMES.write_text(json.dumps(outcomes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(outcomes)} outcomes written to {OUTCOMES}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.transports.email.test_parse_corpus --write")
    write_outcomes()
