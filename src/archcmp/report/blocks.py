"""The abstract report: sections of paragraphs, tables and code blocks, with no formatting.

Cells are plain strings or :class:`Mono` (rendered as code); renderers escape them for their
format, so captured text can never inject Markdown or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Block",
    "Bullets",
    "Cell",
    "Code",
    "Diagram",
    "EvidenceNote",
    "Figure",
    "Inline",
    "Mono",
    "Paragraph",
    "Ref",
    "Report",
    "Section",
    "Table",
]


@dataclass(frozen=True, slots=True)
class Mono:
    """Text shown as code (a header name, a path, an event type)."""

    text: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A link from a finding to its evidence note (``[^e3]`` in Markdown, ``#e3`` in HTML)."""

    id: str


Inline = str | Mono | Ref
Cell = Inline | tuple[Inline, ...]
"""One cell: text, code, an evidence link, or a sequence of them shown side by side."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Paragraph:
    text: tuple[Inline, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bullets:
    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    bold_first_column: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    text: str
    language: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagram:
    """The architecture of one capture, drawn twice from one layout: box-drawing text (any
    terminal, any Markdown viewer) and a Mermaid flowchart (GitHub renders it)."""

    title: str
    ascii: str
    mermaid: str
    svg: str | None = None
    """The same drawing as inline SVG, for HTML (which must not fetch Mermaid's script)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """A plot as deterministic inline SVG."""

    svg: str
    caption: str
    alt: str


Block = Paragraph | Bullets | Table | Code | Diagram | Figure


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceNote:
    """What backs a finding: the facts counted in the capture, and where they came from."""

    id: str
    title: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
    evidence: tuple[EvidenceNote, ...] = ()
    """The evidence appendix; cells link to it with :class:`Ref`."""
