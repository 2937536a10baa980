"""The abstract report: sections of paragraphs, tables and code blocks, with no formatting.

Cells are plain strings or :class:`Mono` (rendered as code); renderers escape them for their
format, so captured text can never inject Markdown or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Block", "Bullets", "Cell", "Code", "Mono", "Paragraph", "Report", "Section", "Table"]


@dataclass(frozen=True, slots=True)
class Mono:
    """Text shown as code (a header name, a path, an event type)."""

    text: str


Cell = str | Mono | tuple[str | Mono, ...]
"""One cell: text, code, or a sequence of both shown side by side."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Paragraph:
    text: tuple[str | Mono, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bullets:
    items: tuple[tuple[str | Mono, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    bold_first_column: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    text: str
    language: str = ""


Block = Paragraph | Bullets | Table | Code


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
