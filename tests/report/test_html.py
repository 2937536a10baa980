"""The HTML report: well-formed, self-contained, escaped, and rendered by a real browser.

Structure is checked by walking the output with :mod:`html.parser` (balanced tags, unique ids,
every in-page link resolves); escaping with hostile captured strings; "self-contained" by looking
for anything that could load (``src=``, external ``href``, CSS ``url()``/``@import``) and, in
headless Chromium, by recording every request the page makes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.report import plots
from archcmp.report.blocks import (
    Bullets,
    Code,
    Diagram,
    EvidenceNote,
    Figure,
    Mono,
    Paragraph,
    Ref,
    Report,
    Section,
    Table,
)
from archcmp.report.document import build_report
from archcmp.report.html import CSP, render_html
from tests.conftest import SAMPLES

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
       '<defs><clipPath id="c"><rect width="120" height="40"/></clipPath></defs>'
       '<g id="bar" clip-path="url(#c)"><rect width="80" height="20" fill="#1f77b4"/></g></svg>')


class _Walk(HTMLParser):
    """Collects tags, ids and links; records nesting errors instead of raising."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if found.get("href"):
            self.hrefs.append(str(found["href"]))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] not in ("style",):
            self.text.append(data)


def _walk(html: str) -> _Walk:
    walker = _Walk()
    walker.feed(html)
    walker.close()
    assert walker.errors == [], walker.errors[:5]
    assert walker.stack == [], f"unclosed: {walker.stack}"
    assert len(walker.ids) == len(set(walker.ids)), "duplicate ids"
    missing = [h for h in walker.hrefs if h.startswith("#") and h[1:] not in set(walker.ids)]
    assert missing == [], f"links without a target: {missing[:5]}"
    return walker


def _assert_offline(html: str, walker: _Walk) -> None:
    """Nothing in the page can make the browser fetch: no src, no external href, no CSS loads."""
    assert "<script" not in html.lower()
    for tag, attrs in walker.tags:
        assert "src" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        href = attrs.get("href") or attrs.get("xlink:href")
        assert href is None or href.startswith("#"), (tag, href)
    for target in re.findall(r"url\(([^)]*)\)", html):
        assert target.strip("'\" ").startswith("#"), target
    assert "@import" not in html


def _report(*sections: Section, evidence: tuple[EvidenceNote, ...] = ()) -> Report:
    return Report(title="T", sections=sections, evidence=evidence)


# ------------------------------------------------------------------ structure and escaping


def test_structure_toc_headings_and_document_head() -> None:
    report = _report(
        Section(title="One", blocks=(Paragraph(text=("hi ", Mono("x"))),),
                subsections=(Section(title="Sub", subsections=(
                    Section(title="a", subsections=(Section(title="b", subsections=(
                        Section(title="c", subsections=(Section(title="d"),)),)),)),)),)),
        Section(title="One"),  # titles may repeat: ids are positional
    )
    html = render_html(report)
    walker = _walk(html)
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<title>T</title>" in html
    assert {"sec-1", "sec-1-1", "sec-2"} <= set(walker.ids)
    assert '<a href="#sec-2">One</a>' in html
    assert "<h6>c</h6>" in html and "<h6>d</h6>" in html and "<h7" not in html
    assert "<p>hi <code>x</code></p>" in html


def test_csp_meta_forbids_every_load() -> None:
    html = render_html(_report(Section(title="S")))
    walker = _walk(html)
    metas = [a for t, a in walker.tags if t == "meta" and a.get("http-equiv")]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": CSP}]
    assert CSP.startswith("default-src 'none';")
    assert "script-src" not in CSP
    # The policy must come before anything it governs.
    assert html.index("Content-Security-Policy") < html.index("<style>")


def test_captured_text_is_escaped_everywhere() -> None:
    report = Report(title=HOSTILE, sections=(Section(title=HOSTILE, blocks=(
        Paragraph(text=(HOSTILE, Mono(HOSTILE))),
        Bullets(items=((HOSTILE,),)),
        Table(headers=(HOSTILE, "b"), rows=((HOSTILE, (Mono(HOSTILE), " & ", Ref(id="e1"))),),
              bold_first_column=True),
        Code(text=HOSTILE, language='x" onclick="y'),
        Diagram(title=HOSTILE, ascii=HOSTILE, mermaid=HOSTILE),
        Figure(svg=SVG, caption=HOSTILE, alt=HOSTILE),
    )),), evidence=(EvidenceNote(id="e1", title=HOSTILE, items=(HOSTILE,)),))
    html = render_html(report)
    walker = _walk(html)
    _assert_offline(html, walker)
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" \
        in html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = "".join(walker.text)
    assert text.count("<script>alert(1)</script>") >= 10, "shown as text, not dropped"


def test_mono_breaks_after_separators_without_changing_text() -> None:
    html = render_html(_report(Section(title="S", blocks=(
        Paragraph(text=(Mono("/api/v1/x?a=1&b=2"),)),))))
    assert "<code>/<wbr>api/<wbr>v1/<wbr>x?<wbr>a=<wbr>1&amp;<wbr>b=<wbr>2</code>" in html
    assert "/api/v1/x?a=1&b=2" in "".join(_walk(html).text)


def test_evidence_links_and_back_links() -> None:
    report = _report(
        Section(title="S", blocks=(
            Table(headers=("a",), rows=(((("CDN", Ref(id="e1"))),), ((Ref(id="e2"),)),)),
            Paragraph(text=("again", Ref(id="e1"))),
        )),
        evidence=(EvidenceNote(id="e1", title="cdn", items=("cf-ray on 3/3",)),
                  EvidenceNote(id="e2", title="auth", items=()),
                  EvidenceNote(id="e3", title="unused", items=("x",))),
    )
    html = render_html(report)
    walker = _walk(html)
    assert '<sup><a href="#e1" id="ref-e1-1">[1]</a></sup>' in html
    assert '<sup><a href="#e1" id="ref-e1-2">[1]</a></sup>' in html
    assert '<sup><a href="#e2" id="ref-e2-1">[2]</a></sup>' in html
    assert walker.hrefs.count("#ref-e1-1") == 1 and walker.hrefs.count("#ref-e1-2") == 1
    assert '<a class="back" href="#ref-e1-2" aria-label="back to reference 2">↩2</a>' in html
    assert '<a class="back" href="#ref-e2-1" aria-label="back to reference 1">↩</a>' in html
    assert {"e1", "e2", "e3", "evidence"} <= set(walker.ids)
    assert '<li><a href="#evidence">Evidence</a></li>' in html
    note3 = html[html.index('<li id="e3">'):]
    assert 'class="back"' not in note3.split("</li>", 1)[0]


@pytest.mark.parametrize(("report", "message"), [
    (_report(Section(title="S", blocks=(Paragraph(text=(Ref(id="nope"),)),))), "unknown"),
    (_report(evidence=(EvidenceNote(id="e1", title="a", items=()),
                       EvidenceNote(id="e1", title="b", items=()))), "duplicate"),
    (_report(Section(title="S", blocks=(Figure(svg="<svg", caption="c", alt="a"),))),
     "well-formed"),
])
def test_report_bugs_raise(report: Report, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_html(report)


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    '<image xlink:href="https://example.test/x.png"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url(https://e.test/p)"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://e.test/x.css";</style></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
    "<html/>",
])
def test_active_or_fetching_svg_is_refused(svg: str) -> None:
    for block in (Figure(svg=svg, caption="c", alt="a"),
                  Diagram(title="d", ascii="a", mermaid="m", svg=svg)):
        with pytest.raises(ValueError, match="inline SVG"):
            render_html(_report(Section(title="S", blocks=(block,))))


def test_same_svg_twice_gets_distinct_ids() -> None:
    figure = Figure(svg=SVG, caption="c", alt="bars")
    html = render_html(_report(Section(title="S", blocks=(figure, figure))))
    walker = _walk(html)
    assert {"svg1-c", "svg2-c", "svg1-bar", "svg2-bar"} <= set(walker.ids)
    assert "url(#svg1-c)" in html and "url(#svg2-c)" in html
    assert '<div class="svg" role="img" aria-label="bars">' in html


def test_diagram_svg_ascii_and_mermaid_source_without_script() -> None:
    diagram = Diagram(title="arch", ascii="┌─┐\n│a│\n└─┘", mermaid="flowchart TD\n  a --> b",
                      svg=SVG)
    html = render_html(_report(Section(title="S", blocks=(diagram,))))
    _assert_offline(html, _walk(html))
    assert ('<details><summary>Text diagram</summary>'
            '<pre class="ascii" aria-label="arch">┌─┐\n│a│\n└─┘</pre></details>') in html
    assert ("<details><summary>Mermaid source</summary><pre><code class=\"language-mermaid\">"
            "flowchart TD\n  a --&gt; b</code></pre></details>") in html
    assert "mermaid.js" not in html and "mermaid.min" not in html
    assert html.index("<svg") < html.index('<pre class="ascii"')
    no_svg = render_html(_report(Section(title="S", blocks=(
        dataclasses.replace(diagram, svg=None),))))
    assert "<svg" not in no_svg and "Text diagram" not in no_svg
    assert '<figure class="diagram">\n<pre class="ascii"' in no_svg


def test_table_head_body_and_row_headers() -> None:
    html = render_html(_report(Section(title="S", blocks=(
        Table(headers=("Aspect", "A"), rows=(("CDN", "Cloudflare"),), bold_first_column=True),
        Table(headers=("x",), rows=(("1",),)),
    ))))
    assert ('<table>\n<thead><tr><th scope="col">Aspect</th><th scope="col">A</th></tr></thead>'
            '\n<tbody>\n<tr><th scope="row">CDN</th><td>Cloudflare</td></tr>') in html
    assert "<tr><td>1</td></tr>" in html
    css = html[html.index("<style>"):html.index("</style>")]
    assert "position: sticky" in css and "@media print" in css


def test_empty_report_has_no_contents_box() -> None:
    html = render_html(Report(title="Empty"))
    _walk(html)
    assert "<nav" not in html and "<h1>Empty</h1>" in html


# ------------------------------------------------------------------ a real report


def _analyze(label: str) -> dict[str, Any]:
    return analyze_capture(SAMPLES / "chat-chromium-h2.har",
                           options=AnalyzeOptions(label=label),
                           redactor=Redactor(key=b"k" * 32))


@pytest.fixture(scope="module")
def real_report() -> Report:
    """The shipped sample twice (two columns), with the plots in Performance and a hostile
    section, so the browser sees every block type and captured-looking text."""
    docs = [_analyze("sample-a"), _analyze("sample-b")]
    report = build_report(docs)
    figures = tuple(f for f in (plots.latency_by_class(docs), plots.page_waterfall(docs[0]),
                                plots.stream_timeline(docs)) if f is not None)
    assert len(figures) == 3
    sections = [dataclasses.replace(s, blocks=(*s.blocks, *figures))
                if s.title.startswith("Performance") else s for s in report.sections]
    assert any(figures[0] in s.blocks for s in sections), "no Performance section"
    sections.append(Section(title="Hostile " + HOSTILE, blocks=(
        Table(headers=("path", "value"), rows=((Mono(HOSTILE), HOSTILE),)),
        Diagram(title=HOSTILE, ascii="┌──┐\n│<>│\n└──┘", mermaid=HOSTILE, svg=SVG),
    )))
    return dataclasses.replace(report, sections=tuple(sections))


def test_real_report_is_well_formed_and_offline(real_report: Report) -> None:
    html = render_html(real_report)
    walker = _walk(html)
    _assert_offline(html, walker)
    assert html.count("<table>") >= 10
    diagrams = [b for s in real_report.sections for b in _blocks(s) if isinstance(b, Diagram)]
    assert html.count('<pre class="ascii"') == len(diagrams) >= 3
    assert html.count("<svg ") == 3 + sum(1 for d in diagrams if d.svg)
    # Stylesheets inside the SVGs still select their own (re-prefixed) root.
    for css in re.findall(r"<style[^>]*>(.*?)</style>", html[html.index("<body>"):], re.S):
        for ident in re.findall(r"(?:^|[},])\s*#([A-Za-z_][\w.:-]*)", css):
            assert ident in walker.ids, ident


def _blocks(section: Section) -> list[Any]:
    out: list[Any] = list(section.blocks)
    for sub in section.subsections:
        out += _blocks(sub)
    return out


_BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no system Chromium (/usr/bin/chromium or chromium on PATH); "
                "CI installs it with apt-get")


def test_renders_in_headless_chromium(real_report: Report, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(real_report), encoding="utf-8")
    url = page_file.resolve().as_uri()
    html = page_file.read_text(encoding="utf-8")

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=_BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            problems: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
                    if m.type in ("error", "warning", "assert") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")

            assert problems == []
            assert requests == [url], "the page fetched something besides itself"
            assert page.title().startswith("Architecture")
            assert page.locator("script").count() == 0
            assert page.locator("table").count() == html.count("<table>") >= 10
            assert page.locator("figure.diagram pre.ascii").count() >= 3
            assert page.locator("figure.diagram svg").count() >= 2
            assert page.locator("figure.plot svg").count() == 3
            # Hostile text arrived as text: visible, and no element was created from it.
            assert page.locator("img").count() == 0
            assert page.get_by_text("<script>alert(1)</script>", exact=False).count() >= 1
            # Every in-page link has a target; the page fits a laptop screen without
            # horizontal scrolling; plots and diagrams were laid out (non-zero size).
            dangling = page.evaluate("""() => [...document.querySelectorAll('a[href^="#"]')]
                .map(a => a.getAttribute('href').slice(1))
                .filter(id => !document.getElementById(id))""")
            assert dangling == []
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0
            sizes = page.evaluate("""() => [...document.querySelectorAll('figure svg')]
                .map(s => s.getBoundingClientRect()).map(r => r.width * r.height)""")
            assert sizes and min(sizes) > 0
            # Headers stick on screen; printing turns that off and still produces pages.
            sticky = page.evaluate(
                "() => getComputedStyle(document.querySelector('thead th')).position")
            assert sticky == "sticky"

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            keep = os.environ.get("ARCHCMP_SCREENSHOT_DIR")
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(keep) / "report.png")

            page.emulate_media(media="print")
            printed = page.evaluate(
                "() => getComputedStyle(document.querySelector('thead th')).position")
            assert printed == "static"
            pdf = page.pdf(format="A4")
            assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
            assert problems == [] and requests == [url]
        finally:
            browser.close()
