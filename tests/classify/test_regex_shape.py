"""unsafe_regex_shape: the classic ReDoS shapes are refused, the built-in rules' shapes pass."""

from __future__ import annotations

import re
import time

import pytest

from archcmp.classify.regex_shape import unsafe_regex_shape
from archcmp.classify.rules import load_rules

# (pattern, a subject on which Python's re backtracks catastrophically with it: seconds to
# hours; kept to show why each shape is refused, not run)
HOSTILE = [
    (r"^(a+)+$", "a" * 30 + "!"),
    (r"^(a|aa)+$", "a" * 40 + "!"),
    (r"^(a?){25}a{25}$", "a" * 25),
    (r"^(.*a){20}$", "a" * 30 + "!"),
    (r".*a.*b", "a" * 3000),
    (r"\w*\w*\w*!", "a" * 400),
    (r"(x+x+)+y", "x" * 30),
    (r"^(\w+\s?)*$", "a " * 20 + "!"),
    (r"\s*,?\s*$", " " * 2000 + "x"),
    (r".*(a).*", "a" * 3000 + "\n"),
]

SAFE = [
    r"^cache-[a-z0-9-]+-[A-Z]{3,4}$",
    r"(^|\.)segment\.io$",
    r"(?:ab){2,5}",
    r"(?:[0-9a-f]{4}-){3}",
    r"\d+-\d+-\d+",
    r"^\{[^\n]*\"dsn\":\"https://[0-9a-f]+@[^\"\n]+/\d+\"",
    r"/sentinel/[a-z0-9_/-]*(chat-requirements|prepare|finalize)$",
    r"(?i)foo.*bar",
    r"\bfoo\b.*",
    r"a{2}b{,3}c{}",
    r"[(+]*x",
]


@pytest.mark.parametrize("pattern", [p for p, _ in HOSTILE])
def test_hostile_shapes_are_refused(pattern: str) -> None:
    assert unsafe_regex_shape(pattern) is not None


@pytest.mark.parametrize("pattern", SAFE)
def test_safe_shapes_pass(pattern: str) -> None:
    assert unsafe_regex_shape(pattern) is None
    re.compile(pattern)


def test_builtin_rules_pass() -> None:
    assert len(load_rules()) > 20  # every built-in pattern went through the check


def test_the_check_is_fast_on_long_patterns() -> None:
    start = time.perf_counter()
    assert unsafe_regex_shape("(?:" + "a|" * 5000 + "b)") is None
    assert time.perf_counter() - start < 5  # generous: a hang, not a benchmark
