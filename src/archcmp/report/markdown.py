"""The abstract report → GitHub-flavoured Markdown.

Captured text is escaped: table cells cannot break out of their cell (``|``, newlines) and code
spans use a fence longer than any backtick run inside them (CommonMark §6.1). Evidence links
are GFM footnotes (``[^e3]``) whose definitions form the evidence appendix. Diagrams appear as
a box-drawing ``text`` block and a ``mermaid`` block (GitHub renders the latter); plots are SVG
files beside the Markdown when the caller can write them, else a note pointing to HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from archcmp.report.blocks import (
    Block,
    Bullets,
    Cell,
    Code,
    Diagram,
    EvidenceNote,
    Figure,
    Inline,
    Mono,
    Paragraph,
    Ref,
    Report,
    Section,
    Table,
)

__all__ = ["FigureWriter", "render_markdown"]

FigureWriter = Callable[[Figure], str]
"""Saves a figure somewhere the Markdown can link to and returns that relative path."""

_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|])")
_WS = re.compile(r"\s+")


def _text(value: str) -> str:
    flat = _WS.sub(" ", value)
    escaped = _ESCAPE.sub(r"\\\1", flat)
    # '#' only starts a heading at the beginning of a line; '-', '+' and '1.' only a list.
    return re.sub(r"^([#+-]|\d+\.)", r"\\\1", escaped)


def _mono(value: str) -> str:
    flat = _WS.sub(" ", value).strip().replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _inline(part: Inline) -> str:
    if isinstance(part, Mono):
        return _mono(part.text)
    if isinstance(part, Ref):
        return f"[^{part.id}]"
    return _text(part)


def _cell(cell: Cell) -> str:
    if isinstance(cell, tuple):
        return "".join(_inline(p) for p in cell)
    return _inline(cell)


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_text(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    for row in table.rows:
        cells = [_cell(c) for c in row]
        if table.bold_first_column and cells and cells[0]:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _fenced(text: str, language: str) -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence + language, *text.splitlines(), fence]


def _block(block: Block, figures: FigureWriter | None) -> list[str]:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Paragraph):
        return ["".join(_inline(p) for p in block.text)]
    if isinstance(block, Bullets):
        return ["- " + "".join(_inline(p) for p in item) for item in block.items]
    if isinstance(block, Code):
        return _fenced(block.text, block.language)
    if isinstance(block, Diagram):
        return [*_fenced(block.ascii, "text"), "", *_fenced(block.mermaid, "mermaid")]
    if isinstance(block, Figure):
        if figures is None:
            return [f"*{_text(block.caption)}* (plot in the HTML report: "
                    "`archcmp report --format html`)"]
        return [f"![{_text(block.alt)}]({figures(block)})", "", f"*{_text(block.caption)}*"]
    raise TypeError(f"unknown block {type(block).__name__}")


def _section(section: Section, level: int, figures: FigureWriter | None) -> list[str]:
    lines = ["#" * level + " " + _text(section.title), ""]
    for block in section.blocks:
        lines.extend(_block(block, figures))
        lines.append("")
    for sub in section.subsections:
        lines.extend(_section(sub, level + 1, figures))
    return lines


def _evidence(notes: tuple[EvidenceNote, ...]) -> list[str]:
    lines = ["---", "", "## Evidence", ""]
    for note in notes:
        items = "; ".join(_text(item) for item in note.items) or "—"
        lines.extend([f"[^{note.id}]: **{_text(note.title)}**: {items}", ""])
    return lines


def render_markdown(report: Report, *, figures: FigureWriter | None = None) -> str:
    lines = ["# " + _text(report.title), ""]
    for i, section in enumerate(report.sections):
        if i:
            lines.extend(["---", ""])
        lines.extend(_section(section, 2, figures))
    if report.evidence:
        lines.extend(_evidence(report.evidence))
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
