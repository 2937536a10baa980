"""Tolerant reads of an analysis document, and the helper that builds a Change.

The diff reads documents written by other archcmp versions, partial documents and hand-edited
ones. A key that is missing, null or of the wrong type reads as empty (no list, no text, no
number) instead of raising: the diff then reports what it can see, and the document's own
schema check is the place that complains about its shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from archcmp.diffing.model import POLICY, Change, Kind

__all__ = ["EMPTY", "change", "count", "mapping", "number", "plural", "records", "shape", "text",
           "texts"]

#: Evidence lines kept per change; the document has the rest.
MAX_EVIDENCE = 6

EMPTY: Mapping[str, Any] = {}
_PLACEHOLDER = re.compile(r"\{[^{}/]*\}")


def shape(template: str) -> str:
    """``/orgs/{uuid}/chats/{int}`` → ``/orgs/{}/chats/{}``: what identifies a template or an
    ID's place across captures. The placeholder names the ID format, which is compared on its
    own (``id_formats``), so it must not also make every templated endpoint look new."""
    return _PLACEHOLDER.sub("{}", template)


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else EMPTY


def records(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in ``value`` when it is a list; anything else is no records."""
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def texts(value: Any) -> list[str]:
    """The non-empty strings of a list, in order, without repeats."""
    if not isinstance(value, list | tuple):
        return []
    return list(dict.fromkeys(item for item in value if isinstance(item, str) and item))


def number(value: Any) -> float | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def count(value: Any) -> int | None:
    """A non-negative int (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def plural(n: int, word: str) -> str:
    """``1 endpoint``, ``3 endpoints``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def change(
    check: str,
    kind: Kind,
    subject: str,
    message: str,
    *,
    before: Any = None,
    after: Any = None,
    evidence: Iterable[str] = (),
) -> Change:
    """A Change whose area is the check's first part and whose level is ``POLICY[check]``."""
    lines = list(evidence)
    if len(lines) > MAX_EVIDENCE:
        lines = [*lines[: MAX_EVIDENCE - 1], f"(+{len(lines) - MAX_EVIDENCE + 1} more)"]
    return Change(
        area=check.split(".", 1)[0],
        kind=kind,
        level=POLICY[check],
        subject=subject,
        before=before,
        after=after,
        message=message,
        evidence=tuple(lines),
        check=check,
    )
