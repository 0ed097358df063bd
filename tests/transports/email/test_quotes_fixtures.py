"""Our own reply fixtures (tests/fixtures/replies), scored like the shared corpus sets.

``expected.json``: one reply per kind the splitter must read -- attribution lines and
Outlook header blocks in many languages, separators, signatures, list footers, mixed and
nested quoting, HTML quote containers -- and the replies it must *not* cut (forwards, inline
answers, "wrote:" in a sentence).  ``talon-html.json`` scores talon's HTML fixtures from the
shared corpus (read in place, skipped when absent).  The pass rate of each set is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.transports.email.test_parse_corpus import CORPUS, _cases, check_case

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "replies"
OWN = str(HERE / "expected.json")
TALON_HTML = str(HERE / "talon-html.json")
SETS = {OWN: "tests/fixtures/replies/expected.json", TALON_HTML: "talon HTML (shared corpus)"}


def _own_cases() -> list[dict[str, Any]]:
    return _cases(OWN)


def test_every_fixture_file_is_scored() -> None:
    files = {p.name for p in HERE.iterdir() if p.suffix in (".txt", ".eml", ".html")}
    assert files == {case["file"] for case in _own_cases()}


@pytest.mark.parametrize("case", _own_cases(), ids=lambda c: c["file"])
def test_own_reply_fixture(case: dict[str, Any]) -> None:
    problems = check_case(OWN, case)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("expected", list(SETS))
def test_own_pass_rate(expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    if expected == TALON_HTML and not CORPUS.is_dir():
        pytest.skip(f"shared mail corpus not found at {CORPUS}")
    cases = _cases(expected)
    failed = [case["file"] for case in cases if check_case(expected, case)]
    passed = len(cases) - len(failed)
    rate = passed / len(cases)
    with capsys.disabled():
        print(f"\n[quote split] {SETS[expected]}: {passed}/{len(cases)} passed ({rate:.0%})")
        for file in failed:
            print(f"  FAIL {file}")
    assert not failed
