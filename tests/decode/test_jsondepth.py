"""too_deep: JSON nesting past MAX_JSON_DEPTH, strings and escapes not counted."""

from __future__ import annotations

import json

import pytest

from archcmp.decode.jsondepth import too_deep
from archcmp.limits import MAX_JSON_DEPTH

N = MAX_JSON_DEPTH


@pytest.mark.parametrize(
    ("data", "deep"),
    [
        (b"[" * (N + 1) + b"]" * (N + 1), True),
        (b"[" * N + b"]" * N, False),
        (b'{"a":' * (N + 1) + b"1" + b"}" * (N + 1), True),
        (b"  \n[" + b"[1],[" * (N + 1), True),  # cut short: still that deep
        (b"[" + b"[1]," * (4 * N) + b"1]", False),  # many brackets, shallow
        (b'["' + b"[" * (2 * N) + b'"]', False),  # brackets inside a string
        (b'["\\"' + b"[" * (2 * N) + b'"]', False),  # … after an escaped quote
        (b'"[' + b"[" * (2 * N), False),  # not a JSON object or array
        (b"", False),
    ],
)
def test_too_deep(data: bytes, deep: bool) -> None:
    assert too_deep(data) is deep


def test_agrees_with_the_parser_below_the_limit() -> None:
    text = json.dumps(json.loads("[" * 500 + "]" * 500)).encode()
    assert not too_deep(text)
    assert too_deep(text, limit=499)
