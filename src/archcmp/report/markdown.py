"""The abstract report → GitHub-flavoured Markdown.

Captured text is escaped: table cells cannot break out of their cell (``|``, newlines) and code
spans use a fence longer than any backtick run inside them (CommonMark §6.1).
"""

from __future__ import annotations

import re

from archcmp.report.blocks import (
    Block,
    Bullets,
    Cell,
    Code,
    Mono,
    Paragraph,
    Report,
    Section,
    Table,
)

__all__ = ["render_markdown"]

_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|#])")
_WS = re.compile(r"\s+")


def _text(value: str) -> str:
    flat = _WS.sub(" ", value)
    return _ESCAPE.sub(r"\\\1", flat)


def _mono(value: str) -> str:
    flat = _WS.sub(" ", value).strip().replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _inline(part: str | Mono) -> str:
    return _mono(part.text) if isinstance(part, Mono) else _text(part)


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


def _block(block: Block) -> list[str]:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Paragraph):
        return ["".join(_inline(p) for p in block.text)]
    if isinstance(block, Bullets):
        return ["- " + "".join(_inline(p) for p in item) for item in block.items]
    if isinstance(block, Code):
        fence = "```"
        while fence in block.text:
            fence += "`"
        return [fence + block.language, *block.text.splitlines(), fence]
    raise TypeError(f"unknown block {type(block).__name__}")


def _section(section: Section, level: int) -> list[str]:
    lines = ["#" * level + " " + _text(section.title), ""]
    for block in section.blocks:
        lines.extend(_block(block))
        lines.append("")
    for sub in section.subsections:
        lines.extend(_section(sub, level + 1))
    return lines


def render_markdown(report: Report) -> str:
    lines = ["# " + _text(report.title), ""]
    for i, section in enumerate(report.sections):
        if i:
            lines.extend(["---", ""])
        lines.extend(_section(section, 2))
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
