"""compose writes simple headers itself: the bytes must be exactly what compat32's folding
would have written (so a message's bytes do not depend on which path built them)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atendo.transports.email.compose import _WIRE, _fold_simple

pytestmark = pytest.mark.dbless  # pure functions: run once, not again on PostgreSQL

NAMES = st.sampled_from(["Subject", "To", "Message-ID", "In-Reply-To", "Content-Type", "X"])
# Printable ASCII with the separators that matter to folding, plus a few that must be refused.
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
WORD = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1)
ANY = st.one_of(
    ASCII,
    st.text(max_size=120),
    st.builds(lambda a, b: f"{a}; {b}", WORD, WORD),
    st.builds(lambda a, b: f"{a}\t{b}", WORD, WORD),
    st.builds(lambda a, b: f'multipart/alternative; boundary="{a}{b}"', WORD, WORD),
)


@settings(max_examples=3000, deadline=None)
@given(name=NAMES, value=ANY)
def test_simple_headers_are_written_as_compat32_folds_them(name: str, value: str) -> None:
    simple = _fold_simple(name, value)
    if simple is not None:
        assert simple == _WIRE.fold_binary(name, value)


def test_the_usual_headers_take_the_simple_path() -> None:
    mid = "<0123456789abcdef01234567.0123456789abcdef0123456789abcdef@bench.example>"
    boundary = 'multipart/alternative; boundary="=_atendo_6906e850ba0a08bb139a83da_0"'
    for name, value in [
        ("Subject", "Re: Order 7"),
        ("Message-ID", mid),
        ("Content-Type", boundary),
    ]:
        assert _fold_simple(name, value) is not None
    assert _fold_simple("Subject", "Olá " * 30) is None  # non-ASCII: RFC 2047, not ours
