"""The JSON columns' reader reads every value as the standard library does."""

from __future__ import annotations

import json

import pytest

from atendo.kit.db import json_loads

pytestmark = pytest.mark.dbless

VALUES = [
    "[]",
    "{}",
    "null",
    '["a@example.org", "b@example.org"]',
    '{"plan": "gold", "seats": 12, "ratio": 0.1, "flags": [true, false, null]}',
    '{"big": 123456789012345678901234567890}',  # orjson would give a float
    '{"max": 18446744073709551615, "min": -9223372036854775808}',
    "1e400",  # orjson refuses infinity
    '"\\ud800"',  # a lone surrogate: orjson refuses it
    '{"a": 1, "a": 2}',
    '"Ol\\u00e1 \\u2014 ok"',
    " [ 1 , 2 ] ",
]


@pytest.mark.parametrize("text", VALUES)
def test_reads_as_the_standard_library(text: str) -> None:
    expected = json.loads(text)
    for raw in (text, text.encode()):
        got = json_loads(raw)
        assert repr(got) == repr(expected)
        assert type(got) is type(expected)


def test_the_empty_values_are_fresh_objects() -> None:
    first, second = json_loads(b"[]"), json_loads(b"[]")
    first.append(1)
    assert second == []
