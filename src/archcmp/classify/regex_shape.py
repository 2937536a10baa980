"""Load-time check that a rule's regular expression cannot backtrack catastrophically.

Python's ``re`` backtracks, and a rule file may come from anyone (``--rules DIR``), so a pattern
is rejected when its *shape* lets one subject be matched in exponentially or polynomially many
ways. A small scanner over the pattern text (no private ``re`` internals) builds, per group, a
sequence of atoms with their quantifiers and rejects:

1. **Nested repeats** (exponential): a repeat that may run more than once (``*``, ``+``,
   ``{n,}``, ``{n,m}`` with m > 1) applied to a group holding a variable-length repeat or an
   alternation: ``(a+)+``, ``(a|ab)*``, ``(a?)+``, and the counted form ``(.*a){20}`` (OWASP's
   ReDoS list; a fixed count is no bound: it is the exponent).
2. **Overlapping neighbours** (polynomial, degree = the number of them): two unbounded repeats
   in one sequence whose character sets overlap, when only optional items stand between them
   (``\\w*\\w*``, ``\\s*,?\\s*``), or when both are wildcards (``.``, ``\\S``, a negated class)
   and what stands between them fits the first (``.*a.*b``: 10 s on a 4 KiB subject).
   Separated by a character the first cannot match (``\\d+-\\d+``) they are linear.
3. **Backreferences** (``\\1``, ``(?P=name)``): no linear-time bound exists.

What is left is at worst quadratic in the subject (one unbounded repeat against a search that
tries every start); :mod:`archcmp.classify.conditions` caps every subject to keep that small.

Character sets are found by asking ``re`` itself whether the atom matches each of a probe
alphabet (ASCII and a few non-ASCII letters), so classes, escapes and ``.`` mean exactly what
they mean to the engine that will run them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["unsafe_regex_shape"]

_PROBES = (*(chr(c) for c in range(128)), "é", "Ω", "中", "😀", "\u2028", "\u00a0")
#: An atom matching at least this many probes is a wildcard (``.`` matches 132 of 134, ``\S``
#: 128, ``[^"]`` 133; ``\w`` 66, ``[a-z0-9-]`` 37).
_WILDCARD = 100
_QUANT = re.compile(r"\{(\d*)(,?)(\d*)\}")
#: Group openings whose prefix is syntax, not text: (?:  (?P<name>  (?=  (?!  (?<=  (?<!  (?>
#: and scoped flags (?i:  (?-i:.
_GROUP_PREFIX = re.compile(r"\((?:\?(?:P<[^>]*>|<[=!]|[:=!>]|[aiLmsux]*(?:-[imsx]+)?:))?")
#: Global inline flags ``(?i)`` (group 1 ")") or scoped ones ``(?i:`` (group 1 ":").
_FLAGS = re.compile(r"\(\?[aiLmsux]*(?:-[imsx]+)?([:)])")

_NESTED = ("a repeated group contains another variable-length repeat or an alternation "
           "(shape like (a+)+, (a|b)* or (.*a){10}), which can backtrack exponentially")
_NEIGHBOURS = ("two unbounded repeats can match the same characters next to each other "
               "(shape like \\w*\\w* or .*a.*), which makes matching polynomial")
_BACKREF = "backreferences are not allowed (they defeat linear-time matching)"


@lru_cache(maxsize=1024)
def _charset(atom: str) -> frozenset[str]:
    """The probe characters one ``atom`` (a literal, escape, class or ``.``) matches."""
    try:
        compiled = re.compile(atom)
    except re.error:
        return frozenset()
    return frozenset(c for c in _PROBES if compiled.fullmatch(c))


@dataclass(frozen=True, slots=True)
class _Item:
    """An atom or a closed group, as the sequence around it sees it."""

    chars: frozenset[str]
    """Probe characters it can match (empty: zero-width, like ``\\b``)."""
    variable: bool = False
    """A group holding a variable-length repeat or an alternation."""
    unbounded_inside: bool = False
    """A group holding an unbounded repeat."""


@dataclass(slots=True)
class _Seq:
    """One group level being scanned (the whole pattern is level 0)."""

    chars: set[str] = field(default_factory=set)
    variable: bool = False
    unbounded: bool = False
    # Rule 2, per branch (reset at "|"): the last unbounded repeat and what followed it.
    repeat: frozenset[str] | None = None
    between_optional: bool = True
    between_within: bool = True

    def take(self, item: _Item, lo: int, hi: int | None) -> str | None:
        """Account for ``item`` repeated ``{lo, hi}`` (hi None: unbounded)."""
        if (hi is None or hi > 1) and item.variable:
            return _NESTED
        self.chars |= item.chars
        self.variable = self.variable or item.variable or lo != hi
        self.unbounded = self.unbounded or item.unbounded_inside or hi is None
        if item.unbounded_inside:
            # A group around its own unbounded repeat: judged inside; a boundary out here.
            self.repeat = None
        elif hi is None:
            prev = self.repeat
            if prev is not None and prev & item.chars:
                wild = len(prev) >= _WILDCARD and len(item.chars) >= _WILDCARD
                if self.between_optional or (self.between_within and wild):
                    return _NEIGHBOURS
            self.repeat, self.between_optional, self.between_within = item.chars, True, True
        elif lo > 0 and item.chars and self.repeat is not None:
            self.between_optional = False
            self.between_within = self.between_within and item.chars <= self.repeat
        return None

    def alternate(self) -> None:
        self.variable = True
        self.repeat = None


def _class_end(pattern: str, i: int) -> int:
    """Index just past the character class that starts at ``pattern[i] == "["``."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _escape_end(pattern: str, i: int) -> int:
    """Index just past the escape at ``pattern[i]`` (``\\x41``, ``\\u00e9``, ``\\N{…}``)."""
    kind = pattern[i + 1 : i + 2]
    if kind == "N" and pattern[i + 2 : i + 3] == "{":
        close = pattern.find("}", i)
        return close + 1 if close != -1 else len(pattern)
    return i + {"x": 4, "u": 6, "U": 10}.get(kind, 2)


def _quantifier(pattern: str, i: int) -> tuple[int, int | None, int]:
    """(min, max or None when unbounded, text length) of a quantifier at ``pattern[i]``;
    (1, 1, 0) when there is none (``{`` not followed by a count is a literal)."""
    ch = pattern[i : i + 1]
    hi: int | None
    if ch == "*":
        lo, hi, length = 0, None, 1
    elif ch == "+":
        lo, hi, length = 1, None, 1
    elif ch == "?":
        lo, hi, length = 0, 1, 1
    else:
        m = _QUANT.match(pattern, i) if ch == "{" else None
        if m is None or not (m.group(1) or m.group(2)):
            return 1, 1, 0
        lo = int(m.group(1) or 0)
        upper = int(m.group(3)) if m.group(3) else None  # {n,m}; None for {n,}
        hi = upper if m.group(2) else lo  # {n} has no comma
        length = len(m.group(0))
    if pattern[i + length : i + length + 1] in ("?", "+"):  # lazy, possessive: same search
        length += 1
    return lo, hi, length


def unsafe_regex_shape(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack catastrophically, or None when its shape is safe (see the
    module docstring for the three rules)."""
    stack: list[_Seq] = [_Seq()]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt.isdigit() and nxt != "0":
                return _BACKREF
            end = _escape_end(pattern, i)
            item = _Item(_charset(pattern[i:end]))
        elif ch == "[":
            end = _class_end(pattern, i)
            item = _Item(_charset(pattern[i:end]))
        elif ch == "(":
            if pattern.startswith("(?P=", i):
                return _BACKREF
            flags = _FLAGS.match(pattern, i)
            if pattern.startswith("(?#", i) or (flags is not None and flags.group(1) == ")"):
                close = pattern.find(")", i)  # a comment or global flags: nothing to match
                i = close + 1 if close != -1 else n
                continue
            stack.append(_Seq())
            prefix = _GROUP_PREFIX.match(pattern, i)
            i = prefix.end() if prefix is not None else i + 1
            continue
        elif ch == ")":
            inner = stack.pop() if len(stack) > 1 else _Seq()
            end = i + 1
            item = _Item(frozenset(inner.chars), variable=inner.variable,
                         unbounded_inside=inner.unbounded)
        elif ch == "|":
            stack[-1].alternate()
            i += 1
            continue
        elif ch in "^$":
            i += 1
            continue
        else:
            end = i + 1
            item = _Item(_charset(ch if ch == "." else re.escape(ch)))
        lo, hi, length = _quantifier(pattern, end)
        why = stack[-1].take(item, lo, hi)
        if why is not None:
            return why
        i = end + length
    return None
