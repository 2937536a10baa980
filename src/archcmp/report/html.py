"""The abstract report → one self-contained HTML file.

Same walk as :mod:`archcmp.report.markdown`, so the two formats cannot disagree about content.
Why it is built this way:

- **Self-contained and offline.** CSS is inline, plots and diagrams are inline SVG, and there is
  no script at all: the file opens from a mail attachment or a CI artefact, prints, and never
  fetches anything (no Mermaid script either; the Mermaid source sits in a ``<details>`` block for
  readers who want to paste it into a renderer). A Content-Security-Policy meta tag
  (``default-src 'none'``) makes the browser enforce that.
- **Captured text is data.** Every string from a capture (paths, header values, titles, event
  types) goes through :func:`html.escape` with ``quote=True``, in text and in attributes alike.
  The only markup not built here is the SVG of our own plots and diagrams; it is checked to be
  well-formed, script-free XML before it is inlined, and its ids are re-prefixed per figure so
  two drawings cannot collide.
- **Links that resolve.** Sections get positional ids (``sec-2-1``: titles may repeat or be
  empty), evidence notes keep their own ids (``#e3``), every reference gets an id the note links
  back to, and a duplicate id or a reference to a missing note is a bug in the report builder and
  raises :class:`ValueError`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape

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

__all__ = ["CSP", "render_html"]

#: The page's Content-Security-Policy: nothing may load; inline styles (ours and the SVGs') may
#: apply; ``data:`` images are allowed for future inline rasters. Scripts fall under
#: ``default-src 'none'``, so even an injected ``<script>`` would not run.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

#: Deepest heading level; sections nested deeper keep ``<h6>``.
_MAX_HEADING = 6

_CSS = """
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --head: #f3f5f7; --code: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 72rem; color: var(--fg);
  background: #fff; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; }
h1 { font-size: 1.8rem; margin: 0 0 1rem; }
h2 { font-size: 1.4rem; margin: 2.2rem 0 0.8rem; padding-bottom: 0.3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.15rem; margin: 1.6rem 0 0.6rem; }
h4, h5, h6 { font-size: 1rem; margin: 1.2rem 0 0.5rem; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 0.88em; }
code { background: var(--code); padding: 0.05em 0.3em; border-radius: 3px; }
pre { background: var(--code); padding: 0.8rem 1rem; border: 1px solid var(--line);
  border-radius: 4px; overflow-x: auto; line-height: normal; }
pre code { background: none; padding: 0; overflow-wrap: normal; }
nav.toc { border: 1px solid var(--line); border-radius: 4px; padding: 0.6rem 1.2rem;
  background: #fafbfc; }
nav.toc h2 { font-size: 1rem; margin: 0.2rem 0; border: 0; }
nav.toc ol { margin: 0.2rem 0; padding-left: 1.4rem; }
nav.toc li { break-inside: avoid; }
@media (min-width: 60rem) { nav.toc > ol { columns: 2; column-gap: 3rem; } }
table { border-collapse: separate; border-spacing: 0; width: 100%; margin: 0.8rem 0 1.2rem;
  font-size: 0.92rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.35rem 0.6rem; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
thead th { position: sticky; top: 0; z-index: 1; background: var(--head);
  border-top: 1px solid var(--line); }
tbody th { font-weight: 600; }
tbody tr:nth-child(even) td, tbody tr:nth-child(even) th { background: #fbfcfd; }
figure { margin: 1rem 0 1.6rem; }
figure .svg { max-width: 100%; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4rem; }
/* Box-drawing glyphs span the font's ascent + descent: line-height "normal" (not a fixed ratio)
   is what makes vertical strokes meet, whatever monospace font the reader has. */
figure.diagram pre.ascii { white-space: pre; line-height: normal; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; color: var(--muted); }
sup a { text-decoration: none; font-size: 0.8em; }
ol.evidence > li { margin-bottom: 0.6rem; }
ol.evidence > li > p { margin: 0; }
ol.evidence > li:target { background: #fff8c5; }
ol.evidence ul { margin: 0.2rem 0; }
a.back { text-decoration: none; margin-left: 0.3em; }
@media print {
  html { font-size: 10.5pt; }
  body { max-width: none; padding: 0; }
  nav.toc { break-after: page; }
  thead th { position: static; }
  thead { display: table-header-group; }
  tr, figure, pre { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  pre { white-space: pre; overflow: visible; font-size: 7.5pt; }
  details { display: none; }
  a { color: inherit; text-decoration: none; }
  a.back { display: none; }
}
""".strip()

_ID = re.compile(r'\bid="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>", re.DOTALL)
_CSS_ID = re.compile(r"#([A-Za-z_][\w.:-]*)")
_ANY_URL = re.compile(r"url\(([^)]*)\)", re.IGNORECASE)
_HREF = re.compile(r'\b((?:xlink:)?href)="#([^"]+)"')
_BREAK_AFTER = re.compile(r"([/.,_?=]|&amp;)(?=[^\s])")
_FORBIDDEN_TAGS = frozenset({"script", "foreignObject", "iframe", "object", "embed"})


def _esc(value: str) -> str:
    return escape(value, quote=True)


def _code(value: str) -> str:
    """Inline code, escaped, with a line-break opportunity after each separator.

    Paths, dotted names and comma lists have no break opportunity of their own, so one long path
    would set a table column's minimum width and push the table off a laptop screen; ``<wbr>``
    lets it wrap at ``/`` without changing the copied text (breaking anywhere would split short
    words like ``localhost`` as well).
    """
    return _BREAK_AFTER.sub(r"\1<wbr>", _esc(value))


def _check_svg(svg: str) -> None:
    """Refuse SVG that could run code or fetch: scripts, handlers, external references.

    The SVG comes from our own plotting and diagram code, which escapes captured text; this is
    the second line of defence so a bug there cannot turn a report into an active page.
    """
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise ValueError(f"inline SVG is not well-formed XML: {exc}") from exc
    if _local(root.tag) != "svg":
        raise ValueError(f"inline SVG root is {root.tag!r}, not svg")
    for el in root.iter():
        tag = _local(el.tag)
        if tag in _FORBIDDEN_TAGS:
            raise ValueError(f"inline SVG contains <{tag}>")
        if tag == "style" and _external_css(el.text or ""):
            raise ValueError("inline SVG stylesheet loads a resource")
        for name, value in el.attrib.items():
            local = _local(name)
            if local.lower().startswith("on"):
                raise ValueError(f"inline SVG has an event handler attribute {local!r}")
            if local == "href" and not value.startswith("#"):
                raise ValueError(f"inline SVG links outside itself: {value!r}")
            if _external_css(value):
                raise ValueError(f"inline SVG references an external resource: {value!r}")


def _local(tag: object) -> str:
    """An ElementTree tag or attribute name without its ``{namespace}``."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _external_css(text: str) -> bool:
    """True when CSS text could fetch: ``@import`` or a ``url()`` that is not a ``#fragment``."""
    return "@import" in text.lower() or any(
        not target.strip(" '\"").startswith("#") for target in _ANY_URL.findall(text))


def _scope_svg(svg: str, prefix: str) -> str:
    """Prefix every id in ``svg`` and every reference to one (``url(#…)``, ``href="#…"``, and
    ``#id`` selectors in its ``<style>``), so inline SVGs in one page cannot collide."""
    svg = svg[svg.index("<svg"):] if "<svg" in svg else svg
    ids = set(_ID.findall(svg))

    def selectors(match: re.Match[str]) -> str:
        return _CSS_ID.sub(lambda m: f"#{prefix}{m.group(1)}" if m.group(1) in ids
                           else m.group(0), match.group(0))

    svg = _STYLE.sub(selectors, svg)
    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = _URL_REF.sub(lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return _HREF.sub(lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', svg).strip()


@dataclass(slots=True)
class _Renderer:
    """One render: the evidence numbering, the reference back-links and the ids handed out."""

    notes: dict[str, int]
    """Evidence note id → its number in the appendix (1-based)."""
    refs: dict[str, list[str]] = field(default_factory=dict)
    """Evidence note id → the ids of the references pointing at it, in document order."""
    ids: set[str] = field(default_factory=set)
    svgs: int = 0

    def new_id(self, value: str) -> str:
        if value in self.ids:
            raise ValueError(f"duplicate HTML id {value!r}")
        self.ids.add(value)
        return value

    # -- inline ----------------------------------------------------------------------------

    def ref(self, ref: Ref) -> str:
        number = self.notes.get(ref.id)
        if number is None:
            raise ValueError(f"reference to unknown evidence note {ref.id!r}")
        back = self.refs.setdefault(ref.id, [])
        anchor = self.new_id(f"ref-{ref.id}-{len(back) + 1}")
        back.append(anchor)
        return (f'<sup><a href="#{_esc(ref.id)}" id="{_esc(anchor)}">'
                f"[{number}]</a></sup>")

    def inline(self, part: Inline) -> str:
        if isinstance(part, Ref):
            return self.ref(part)
        if isinstance(part, Mono):
            return f"<code>{_code(part.text)}</code>"
        return _esc(part)

    def inlines(self, parts: tuple[Inline, ...]) -> str:
        return "".join(self.inline(p) for p in parts)

    def cell(self, cell: Cell) -> str:
        return self.inlines(cell) if isinstance(cell, tuple) else self.inline(cell)

    # -- blocks ----------------------------------------------------------------------------

    def table(self, table: Table) -> list[str]:
        out = ["<table>", "<thead><tr>"
               + "".join(f'<th scope="col">{_esc(h)}</th>' for h in table.headers)
               + "</tr></thead>", "<tbody>"]
        for row in table.rows:
            cells = []
            for i, cell in enumerate(row):
                body = self.cell(cell)
                if i == 0 and table.bold_first_column:
                    cells.append(f'<th scope="row">{body}</th>')
                else:
                    cells.append(f"<td>{body}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out += ["</tbody>", "</table>"]
        return out

    def svg(self, svg: str, label: str) -> str:
        _check_svg(svg)
        self.svgs += 1
        scoped = _scope_svg(svg, f"svg{self.svgs}-")
        for found in _ID.findall(scoped):
            self.new_id(found)
        return f'<div class="svg" role="img" aria-label="{_esc(label)}">{scoped}</div>'

    def diagram(self, diagram: Diagram) -> list[str]:
        out = ['<figure class="diagram">']
        ascii_pre = (f'<pre class="ascii" aria-label="{_esc(diagram.title)}">'
                     f"{_esc(diagram.ascii)}</pre>")
        if diagram.svg:
            # The SVG is the same drawing; showing both stacks the picture twice, so the
            # box-drawing text (for copying into a ticket or terminal) folds away beneath it.
            out.append(self.svg(diagram.svg, diagram.title))
            out.append(f"<details><summary>Text diagram</summary>{ascii_pre}</details>")
        else:
            out.append(ascii_pre)
        out.append("<details><summary>Mermaid source</summary>"
                   f'<pre><code class="language-mermaid">{_esc(diagram.mermaid)}</code></pre>'
                   "</details>")
        out += [f"<figcaption>{_esc(diagram.title)}</figcaption>", "</figure>"]
        return out

    def figure(self, figure: Figure) -> list[str]:
        return ['<figure class="plot">', self.svg(figure.svg, figure.alt),
                f"<figcaption>{_esc(figure.caption)}</figcaption>", "</figure>"]

    def block(self, block: Block) -> list[str]:
        if isinstance(block, Table):
            return self.table(block)
        if isinstance(block, Paragraph):
            return [f"<p>{self.inlines(block.text)}</p>"]
        if isinstance(block, Bullets):
            return ["<ul>", *(f"<li>{self.inlines(item)}</li>" for item in block.items), "</ul>"]
        if isinstance(block, Code):
            cls = f' class="language-{_esc(block.language)}"' if block.language else ""
            return [f"<pre><code{cls}>{_esc(block.text)}</code></pre>"]
        if isinstance(block, Diagram):
            return self.diagram(block)
        if isinstance(block, Figure):
            return self.figure(block)
        raise TypeError(f"unknown block {type(block).__name__}")

    # -- structure -------------------------------------------------------------------------

    def section(self, section: Section, anchor: str, level: int) -> list[str]:
        h = min(level, _MAX_HEADING)
        out = [f'<section id="{self.new_id(anchor)}">', f"<h{h}>{_esc(section.title)}</h{h}>"]
        for block in section.blocks:
            out.extend(self.block(block))
        for i, sub in enumerate(section.subsections, 1):
            out.extend(self.section(sub, f"{anchor}-{i}", level + 1))
        out.append("</section>")
        return out

    def evidence(self, notes: tuple[EvidenceNote, ...]) -> list[str]:
        out = [f'<section id="{self.new_id("evidence")}">', "<h2>Evidence</h2>",
               '<ol class="evidence">']
        for note in notes:
            anchors = self.refs.get(note.id, [])
            backs = "".join(
                f'<a class="back" href="#{_esc(a)}" aria-label="back to reference {i}">'
                f"↩{i if len(anchors) > 1 else ''}</a>" for i, a in enumerate(anchors, 1))
            out.append(f'<li id="{_esc(self.new_id(note.id))}">'
                       f"<p><strong>{_esc(note.title)}</strong>{backs}</p>")
            if note.items:
                out += ["<ul>", *(f"<li>{_esc(item)}</li>" for item in note.items), "</ul>"]
            out.append("</li>")
        out += ["</ol>", "</section>"]
        return out


def _toc(sections: tuple[Section, ...], prefix: str) -> list[str]:
    out = ["<ol>"]
    for i, section in enumerate(sections, 1):
        anchor = f"{prefix}-{i}"
        out.append(f'<li><a href="#{anchor}">{_esc(section.title)}</a>')
        if section.subsections:
            out.extend(_toc(section.subsections, anchor))
        out.append("</li>")
    out.append("</ol>")
    return out


def render_html(report: Report) -> str:
    """The report as one HTML5 document: inline CSS, inline SVG, no script, strict CSP."""
    notes: dict[str, int] = {}
    for number, note in enumerate(report.evidence, 1):
        if note.id in notes:
            raise ValueError(f"duplicate evidence note id {note.id!r}")
        notes[note.id] = number
    r = _Renderer(notes=notes)
    body: list[str] = []
    for i, section in enumerate(report.sections, 1):
        body.extend(r.section(section, f"sec-{i}", 2))
    if report.evidence:
        body.extend(r.evidence(report.evidence))
    entries = _toc(report.sections, "sec")
    if report.evidence:
        entries.insert(-1, '<li><a href="#evidence">Evidence</a></li>')
    toc = (['<nav class="toc" aria-label="Contents">', "<h2>Contents</h2>", *entries, "</nav>"]
           if len(entries) > 2 else [])
    title = _esc(report.title)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        f"<title>{title}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{title}</h1>",
        "</header>",
    ]
    tail = ["</main>", "</body>", "</html>"]
    return "\n".join([*head, *toc, "<main>", *body, *tail]) + "\n"
