"""Architecture diagrams of one analysis: box-drawing text, a Mermaid flowchart and inline SVG.

Why three: the text diagram reads anywhere (terminal, any Markdown viewer, a diff), the Mermaid
flowchart renders on GitHub, and the HTML report cannot run Mermaid's script (it fetches
nothing), so it inlines SVG. Why one layout: all three come from
:func:`archcmp.report.layout.architecture` (the tiers, ids and labels) and the text and SVG from
the same :func:`~archcmp.report.layout.place` (rows and columns), so they cannot disagree.

Shape, after ``architecture-comparison.md``::

    ┌─────────────┐
    │   Browser   │  Next.js
    └──────┬──────┘
           │ HTTP/2 (100%)
           ▼
    ┌─────────────┐
    │ Cloudflare  │  CDN · cf-ray, cf-cache-status: DYNAMIC
    └──────┬──────┘
           ▼  ... one box per hop, then a BACKEND SERVICES grid, then the model or origin

Captured text is sanitised once, in the layout (:func:`~archcmp.report.layout.clean`), then
escaped for each output: Mermaid entity codes (``#quot;``), XML escapes in the SVG.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from archcmp.report.blocks import Diagram
from archcmp.report.layout import Architecture, Node, Scene, architecture, place

__all__ = ["architecture_diagram", "ascii_architecture", "mermaid_architecture",
           "svg_architecture"]

#: SVG pixels per character cell (13 px monospace is about 7.8 px wide).
CELL_W, CELL_H = 8, 18
_FILL = {"node": "#ffffff", "group": "#f6f8fa", "cell": "#ffffff"}
_INK, _MUTED = "#24292f", "#57606a"
_MERMAID_ESCAPES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
                    "`": "#96;"}


def render_ascii(scene: Scene) -> str:
    """The scene in box-drawing characters, trailing blanks trimmed."""
    grid = [[" "] * scene.width for _ in range(scene.height)]
    for r in scene.rects:
        bottom, right = r.row + r.height - 1, r.col + r.width - 1
        for col in range(r.col + 1, right):
            grid[r.row][col] = grid[bottom][col] = "─"
        for row in range(r.row + 1, bottom):
            grid[row][r.col] = grid[row][right] = "│"
        grid[r.row][r.col], grid[r.row][right] = "┌", "┐"
        grid[bottom][r.col], grid[bottom][right] = "└", "┘"
    for a in scene.arrows:
        grid[a.top][a.col] = "┬"
        for row in range(a.top + 1, a.bottom):
            grid[row][a.col] = "│"
        grid[a.bottom][a.col] = "▼"
    for t in scene.texts:
        grid[t.row][t.col:t.col + len(t.text)] = list(t.text)
    return "\n".join("".join(line).rstrip() for line in grid)


def render_mermaid(arch: Architecture) -> str:
    """``flowchart TD``: one node per box, a subgraph per grid, the same arrows."""

    def label(*parts: str) -> str:
        text = "<br/>".join("".join(_MERMAID_ESCAPES.get(ch, ch) for ch in p) for p in parts if p)
        return f'"{text}"'

    lines = ["flowchart TD"]
    for tier in (*arch.chain, *arch.detached):
        if isinstance(tier, Node):
            lines.append(f"  {tier.id}[{label(tier.title, tier.note)}]")
            continue
        lines.append(f"  subgraph {tier.id}[{label(tier.title)}]")
        lines += [f"    {c.id}[{label(c.title, c.detail)}]" for c in tier.cells]
        if tier.text:
            lines.append(f"    {tier.id}_text[{label(tier.text)}]")
        lines.append("  end")
    for source, target, text in arch.edges:
        arrow = f"-->|{label(text)}|" if text else "-->"
        lines.append(f"  {source} {arrow} {target}")
    return "\n".join(lines) + "\n"


def render_svg(scene: Scene, title: str) -> str:
    """The scene as a self-contained SVG: no ids, no scripts, no links, text XML-escaped."""
    width, height = scene.width * CELL_W, scene.height * CELL_H
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" '
           f'aria-label={quoteattr("Architecture of " + title)} '
           'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
           'font-size="13">',
           f"<title>{escape('Architecture of ' + title)}</title>"]
    for r in scene.rects:
        out.append(f'<rect data-node="{r.id}" x="{(r.col + 0.5) * CELL_W:g}" '
                   f'y="{(r.row + 0.5) * CELL_H:g}" width="{(r.width - 1) * CELL_W}" '
                   f'height="{(r.height - 1) * CELL_H}" rx="3" fill="{_FILL[r.kind]}" '
                   f'stroke="{_MUTED}"/>')
    for a in scene.arrows:
        x, tip = (a.col + 0.5) * CELL_W, (a.bottom + 1.5) * CELL_H
        out.append(f'<line x1="{x:g}" y1="{(a.top + 0.5) * CELL_H:g}" x2="{x:g}" '
                   f'y2="{tip - 6:g}" stroke="{_MUTED}"/>')
        out.append(f'<polygon points="{x - 4:g},{tip - 7:g} {x + 4:g},{tip - 7:g} {x:g},{tip:g}" '
                   f'fill="{_MUTED}"/>')
    for t in scene.texts:
        weight = ' font-weight="bold"' if t.kind in ("title", "heading") else ""
        colour = _MUTED if t.kind in ("note", "label", "detail", "text") else _INK
        out.append(f'<text x="{t.col * CELL_W}" y="{t.row * CELL_H + 13}" '
                   f'textLength="{len(t.text) * CELL_W}" lengthAdjust="spacingAndGlyphs" '
                   f'fill="{colour}"{weight}>{escape(t.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def ascii_architecture(doc: Mapping[str, Any], *, width: int = 100) -> str:
    """The box-drawing diagram of ``doc``; no line is longer than ``max(width, 40)``."""
    return render_ascii(place(architecture(doc), width))


def mermaid_architecture(doc: Mapping[str, Any]) -> str:
    """The Mermaid flowchart of ``doc`` (for a ```` ```mermaid ```` fence)."""
    return render_mermaid(architecture(doc))


def svg_architecture(doc: Mapping[str, Any], *, width: int = 100) -> str:
    """The inline SVG of ``doc``: the text diagram's layout, drawn with shapes."""
    arch = architecture(doc)
    return render_svg(place(arch, width), arch.title)


def architecture_diagram(doc: Mapping[str, Any], *, width: int = 100) -> Diagram:
    """All three drawings of ``doc`` from one layout, as a report block."""
    arch = architecture(doc)
    scene = place(arch, width)
    return Diagram(title=arch.title, ascii=render_ascii(scene), mermaid=render_mermaid(arch),
                   svg=render_svg(scene, arch.title))
