"""A Diff as JSON (``archcmp.diff/1``), plain text and Markdown; pure functions, no printing.

Text is for terminals and CI logs: one change per line, grouped by area, no colour, and no
control characters from captured strings (a URL path cannot move the cursor). Markdown is for
PR comments: one table per area with pipes, backslashes and angle brackets escaped, so captured
text cannot leave its cell or become HTML.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from archcmp import __version__
from archcmp.diffing.model import AREAS, LEVELS, Change, Diff

__all__ = ["DIFF_SCHEMA", "diff_to_json", "diff_to_markdown", "diff_to_text"]

DIFF_SCHEMA = "archcmp.diff/1"

AREA_TITLES = {
    "services": "Services",
    "endpoints": "Endpoints",
    "streams": "Streams",
    "api_styles": "API styles",
    "auth": "Auth",
    "id_formats": "ID formats",
    "infrastructure": "Infrastructure hops",
    "vendors": "Vendors",
    "protocols": "Protocols",
    "encodings": "Content encodings",
    "latency": "Latency",
}
#: Keys every side object has in JSON (null when unknown), whoever built the Diff.
_SIDE_KEYS = ("name", "label", "sha256", "producer", "tool_version", "schema")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"([\\|<>`*_\[\]])")


def _jsonable(value: Any) -> Any:
    """JSON types only: tuples become lists, non-finite floats null, other objects text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _summary(diff: Diff) -> dict[str, Any]:
    counts: dict[str, int] = {lv: sum(1 for c in diff.changes if c.level == lv) for lv in LEVELS}
    highest = next((lv for lv in reversed(LEVELS) if counts[lv]), None)
    return {"changes": len(diff.changes), **counts, "highest": highest}


def diff_to_json(diff: Diff) -> dict[str, Any]:
    """The ``archcmp.diff/1`` document (``schemas/diff.schema.json``)."""
    return {
        "schema": DIFF_SCHEMA,
        "tool": {"name": "archcmp", "version": __version__},
        "base": {**dict.fromkeys(_SIDE_KEYS), **_jsonable(diff.base)},
        "head": {**dict.fromkeys(_SIDE_KEYS), **_jsonable(diff.head)},
        "summary": _summary(diff),
        "notes": list(diff.notes),
        "changes": [
            {
                "area": c.area,
                "kind": c.kind,
                "level": c.level,
                "check": c.check or f"{c.area}.{c.kind}",
                "subject": c.subject,
                "message": c.message,
                "before": _jsonable(c.before),
                "after": _jsonable(c.after),
                "evidence": list(c.evidence),
            }
            for c in diff.changes
        ],
    }


def _line(value: Any) -> str:
    return _CONTROL.sub(" ", str(value)).strip()


def _side(name: str, side: Mapping[str, Any]) -> str:
    label = side.get("label") or side.get("name") or "?"
    sha = side.get("sha256")
    parts = [f"{name}: {_line(label)}"]
    if isinstance(sha, str) and sha:
        parts.append(f"sha256 {_line(sha[:12])}")
    if side.get("tool_version"):
        parts.append(f"archcmp {_line(side['tool_version'])}")
    return "  ".join(parts)


def _counts_line(diff: Diff) -> str:
    s = _summary(diff)
    return (f"{s['changes']} change{'s' if s['changes'] != 1 else ''}: "
            f"{s['breaking']} breaking, {s['warning']} warning, {s['info']} info")


def _by_area(diff: Diff) -> list[tuple[str, list[Change]]]:
    order = {a: i for i, a in enumerate(AREAS)}
    areas = sorted({c.area for c in diff.changes}, key=lambda a: (order.get(a, len(order)), a))
    return [(a, [c for c in diff.changes if c.area == a]) for a in areas]


def diff_to_text(diff: Diff) -> str:
    """Plain text: the two sides, notes, then ``level kind subject: message`` per line."""
    lines = [_side("base", diff.base), _side("head", diff.head)]
    lines += [f"note: {_line(n)}" for n in diff.notes]
    if not diff.changes:
        return "\n".join([*lines, "no changes"]) + "\n"
    lines.append(_counts_line(diff))
    for area, changes in _by_area(diff):
        lines += ["", area]
        lines += [f"  {c.level:<8}  {c.kind:<7}  {_line(c.subject)}: {_line(c.message)}"
                  for c in changes]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return _MD_SPECIAL.sub(r"\\\1", _line(value)) or " "


def diff_to_markdown(diff: Diff) -> str:
    """GitHub-flavoured Markdown: a header table of the two sides, notes, one table per area."""
    out = ["# archcmp diff", "", "| | Base | Head |", "| --- | --- | --- |"]
    for key, title in (("label", "Capture"), ("sha256", "sha256"), ("producer", "Producer"),
                       ("tool_version", "archcmp")):
        b, h = diff.base.get(key), diff.head.get(key)
        if key == "sha256":
            b, h = (v[:12] if isinstance(v, str) else v for v in (b, h))
        out.append(f"| {title} | {_cell(b or '-')} | {_cell(h or '-')} |")
    out.append("")
    if diff.notes:
        out += [f"- Note: {_cell(n)}" for n in diff.notes] + [""]
    if not diff.changes:
        out.append("No changes.")
        return "\n".join(out) + "\n"
    out += [f"**{_counts_line(diff)}**", ""]
    for area, changes in _by_area(diff):
        out += [f"## {AREA_TITLES.get(area, area)}", "",
                "| Level | Change | Subject | Details | Evidence |",
                "| --- | --- | --- | --- | --- |"]
        out += [f"| {c.level} | {c.kind} | {_cell(c.subject)} | {_cell(c.message)} | "
                f"{_cell('; '.join(c.evidence)) if c.evidence else ' '} |" for c in changes]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
