"""Architecture diagrams: real captures draw the right tiers, boxes are closed, outputs are safe.

The box-geometry check (issue 5, "Done when") parses the text diagram back: from every ``┌`` it
follows ``─`` (``┬``/``┴`` allowed) to ``┐``, down ``│`` (``├``/``┤`` allowed) to ``┘``, back to
``└`` and up again; every corner must belong to such a box, boxes must nest or be disjoint, every
arrow must run from a bottom border to a top border, and no other drawing character may appear
(a label that smuggled one in would show up here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.report.blocks import Diagram
from archcmp.report.diagrams import (
    architecture_diagram,
    ascii_architecture,
    mermaid_architecture,
    svg_architecture,
)
from tests.conftest import SAMPLES

WIDTHS = (60, 80, 100, 140)
REDACTOR = Redactor(key=b"k" * 32)

Box = tuple[int, int, int, int]  # top, left, bottom, right


def _analyze(path: Path) -> dict[str, Any]:
    return analyze_capture(path, options=AnalyzeOptions(), redactor=REDACTOR)


@pytest.fixture(scope="module")
def alpha(shared: Path) -> dict[str, Any]:
    return _analyze(shared / "captures" / "alpha" / "chromium-h2" / "capture.har")


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return _analyze(SAMPLES / "chat-chromium-h2.har")


# --- checkers ---------------------------------------------------------------------------------

H_BORDER, V_BORDER = "─┬┴", "│├┤"
INK = set("─│┌┐└┘┬┴├┤▼┼")


def check_geometry(text: str, width: int) -> list[Box]:
    """Every box closed and rectangular, arrows attached, no stray ink; returns the boxes."""
    lines = text.split("\n")
    assert all(len(line) <= width for line in lines), f"a line is not <= {width}: {lines}"
    assert all(line == line.rstrip() for line in lines), "trailing blanks"
    assert "\t" not in text
    cols = max(len(line) for line in lines)
    grid = [line.ljust(cols + 1) for line in [*lines, ""]]

    def at(r: int, c: int) -> str:
        return grid[r][c] if 0 <= r < len(grid) and 0 <= c < len(grid[r]) else " "

    boxes: list[Box] = []
    border: set[tuple[int, int]] = set()
    for top, line in enumerate(grid):
        for left, ch in enumerate(line):
            if ch != "┌":
                continue
            right = left + 1
            while at(top, right) in H_BORDER:
                right += 1
            assert at(top, right) == "┐" and right > left + 1, f"open top border at {top},{left}"
            bottom = top + 1
            while at(bottom, right) in V_BORDER:
                bottom += 1
            assert at(bottom, right) == "┘" and bottom > top + 1, f"open right side {top},{left}"
            assert at(bottom, left) == "└", f"bottom-left corner missing at {bottom},{left}"
            assert all(at(bottom, c) in H_BORDER for c in range(left + 1, right)), (
                f"ragged bottom border at row {bottom}")
            assert all(at(r, left) in V_BORDER for r in range(top + 1, bottom)), (
                f"ragged left side at column {left}")
            boxes.append((top, left, bottom, right))
            border |= {(r, c) for r in (top, bottom) for c in range(left, right + 1)}
            border |= {(r, c) for c in (left, right) for r in range(top, bottom + 1)}
    def inside(x: Box, y: Box) -> bool:
        return x[0] > y[0] and x[1] > y[1] and x[2] < y[2] and x[3] < y[3]

    for a, b in ((a, b) for a in boxes for b in boxes if a < b):
        disjoint = a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
        assert disjoint or inside(a, b) or inside(b, a), f"boxes {a} and {b} overlap"
    arrows: set[tuple[int, int]] = set()
    for r, line in enumerate(grid):
        for c, ch in enumerate(line):
            if ch == "┬" and (r, c) in border:
                assert at(r + 1, c) == "│", f"junction at {r},{c} has no arrow below"
                down = r + 1
                while at(down, c) == "│":
                    arrows.add((down, c))
                    down += 1
                assert at(down, c) == "▼", f"arrow from {r},{c} has no head"
                assert at(down + 1, c) in H_BORDER and (down + 1, c) in border, (
                    f"arrow from {r},{c} points at no box")
                arrows.add((down, c))
    stray = [(r, c, ch) for r, line in enumerate(grid) for c, ch in enumerate(line)
             if ch in INK and (r, c) not in border and (r, c) not in arrows]
    assert not stray, f"drawing characters outside any box or arrow: {stray[:5]}"
    return boxes


def box_titles(text: str) -> list[str]:
    """The first text line inside each box, top to bottom, left to right."""
    lines = text.split("\n")
    titles = []
    for top, left, _bottom, right in sorted(check_geometry(text, 10_000)):
        titles.append(lines[top + 1][left + 1:right].strip())
    return titles


_NODE = re.compile(r'^ *(?P<id>[A-Za-z]\w*)\["(?P<label>[^"]+)"\]$')  # Mermaid rejects [""]
_SUBGRAPH = re.compile(r'^ *subgraph (?P<id>[A-Za-z]\w*)\["(?P<label>[^"]+)"\]$')
_EDGE = re.compile(r'^ *(?P<a>[A-Za-z]\w*) -->(?:\|"(?P<label>[^"]*)"\|)? (?P<b>[A-Za-z]\w*)$')


def check_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Structure of the flowchart: ids defined once, edges to defined ids, balanced subgraphs."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD"
    defined: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    depth = 0
    for line in lines[1:]:
        if m := _NODE.match(line) or _SUBGRAPH.match(line):
            assert m["id"] not in defined, f"{m['id']} defined twice"
            defined[m["id"]] = m["label"]
            depth += line.lstrip().startswith("subgraph ")
            label = m["label"].replace("<br/>", "\n")
            assert "<" not in label and ">" not in label, line
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
        elif m := _EDGE.match(line):
            edges.append((m["a"], m["b"], m["label"] or ""))
        else:
            pytest.fail(f"unexpected Mermaid line: {line!r}")
    assert depth == 0, "unclosed subgraph"
    for a, b, _ in edges:
        assert a in defined and b in defined, (a, b)
    return defined, edges


def check_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script" not in svg.lower() and "url(" not in svg and "http" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    for el in root.iter():
        assert el.tag.split("}")[1] in {"svg", "title", "rect", "line", "polygon", "text"}
        assert not any("href" in k or k.startswith("on") or k == "id" for k in el.attrib)
    return root


GOOD = """\
┌─────┐
│ a   │  note
└──┬──┘
   │ label
   ▼
┌─────────────┐
│ ┌───┐ ┌───┐ │
│ │ b │ │ c │ │
│ └───┘ └───┘ │
└─────────────┘"""


@pytest.mark.parametrize(("broken", "why"), [
    (GOOD.replace("┐\n│ a   │", "─\n│ a   │", 1), "open top border"),
    (GOOD.replace("│ a   │", "│ a    │", 1), "open right side"),
    (GOOD.replace("└──┬──┘", "└──┬───┘", 1), "open right side"),
    (GOOD.replace("└──┬──┘", " ──┬──┘", 1), "bottom-left corner"),
    (GOOD.replace("│ ┌───┐", "  ┌───┐", 1), "ragged left side"),
    (GOOD.replace("   ▼", "   │", 1), "has no head"),
    (GOOD.replace("note", "no│e", 1), "outside any box"),
    (GOOD.replace("┌─────┐", "┌─────┐ ┘", 1), "outside any box"),
    (GOOD.replace("│ b │ │ c │ │", "│ b │ │ c ││", 1), "open right side"),
    (GOOD.replace("┌─────────────┐", "┌────┬────────┐", 1), "no arrow"),
    (GOOD.replace("label", "x" * 90), "<="),
    (GOOD.replace("note", "note   "), "trailing blanks"),
])
def test_geometry_checker_catches_broken_drawings(broken: str, why: str) -> None:
    check_geometry(GOOD, 80)
    with pytest.raises(AssertionError, match=re.escape(why)):
        check_geometry(broken, 80)


# --- real captures ----------------------------------------------------------------------------

def test_alpha_chain_in_request_order(alpha: dict[str, Any]) -> None:
    text = ascii_architecture(alpha)
    titles = box_titles(text)
    chain = [t for t in titles if t in ("Browser", "Cloudflare", "GCP L7 LB", "Envoy",
                                        "BACKEND SERVICES", "Model service")]
    assert chain == ["Browser", "Cloudflare", "GCP L7 LB", "Envoy", "BACKEND SERVICES",
                     "Model service"]
    assert "chat_conver." in titles
    assert "/chat_conver" in text
    assert "│ HTTP/2 (100%)" in text
    assert re.search(r"Browser +│  Next\.js", text)
    assert re.search(r"Cloudflare +│  CDN · cf-ray", text)
    assert re.search(r"GCP L7 LB +│  via: 1\.1 google", text)
    assert re.search(r"Envoy +│  service mesh · x-envoy-upstream-service-time", text)
    assert re.search(r"Model service +│  claude-sonnet-4-5$", text, re.M)
    assert "THIRD-PARTY / VENDORS" in titles and "Segment" in titles


def test_alpha_mermaid_same_chain(alpha: dict[str, Any]) -> None:
    nodes, edges = check_mermaid(mermaid_architecture(alpha))
    path = ["n0"]
    following = {a: b for a, b, _ in edges}
    while path[-1] in following:
        path.append(following[path[-1]])
    heads = [nodes[n].split("<br/>")[0] for n in path]
    assert heads == ["Browser", "Cloudflare", "GCP L7 LB", "Envoy", "BACKEND SERVICES",
                     "Model service"]
    assert edges[0][2] == "HTTP/2 (100%)"
    assert any(label.startswith("chat_conversations<br/>/api/organizations/")
               for label in nodes.values())


def test_sample_without_hops(sample: dict[str, Any]) -> None:
    text = ascii_architecture(sample)
    titles = box_titles(text)
    assert titles[:2] == ["Browser", "BACKEND SERVICES"]
    assert "│ HTTP/2 (100%), no intermediary observed" in text
    assert {"conversatio.", "me", "static", "web", "Model service"} <= set(titles)
    assert "anthropic-messages stream, model not named" in text
    check_mermaid(mermaid_architecture(sample))


@pytest.mark.parametrize("width", WIDTHS)
def test_geometry_of_real_captures(alpha: dict[str, Any], sample: dict[str, Any],
                                   width: int) -> None:
    for doc in (alpha, sample):
        boxes = check_geometry(ascii_architecture(doc, width=width), width)
        assert len(boxes) >= 6


def test_diagram_block_agrees_with_the_functions(alpha: dict[str, Any]) -> None:
    block = architecture_diagram(alpha, width=80)
    assert isinstance(block, Diagram)
    assert block.title == "capture.har"
    assert block.ascii == ascii_architecture(alpha, width=80)
    assert block.mermaid == mermaid_architecture(alpha)
    assert block.svg == svg_architecture(alpha, width=80)


def test_svg_is_the_ascii_layout(alpha: dict[str, Any]) -> None:
    svg = svg_architecture(alpha)
    root = check_svg(svg)
    assert svg == svg_architecture(alpha)
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f"{ns}rect")
    assert len(rects) == len(box_titles(ascii_architecture(alpha)))
    texts = [t.text for t in root.findall(f"{ns}text")]
    for word in ("Browser", "Cloudflare", "GCP L7 LB", "Envoy", "HTTP/2 (100%)"):
        assert word in texts


# --- hostile and degenerate input -------------------------------------------------------------

HOSTILE = '<script>alert("x")</script> & ┌┐│─▼ \x1b[31m\x00 "q" `b` #35; 漢字'


def hostile_doc() -> dict[str, Any]:
    return {
        "capture": {"label": HOSTILE, "producer": "httpx"},
        "protocols": {"h2": 3, HOSTILE: 1},
        "fingerprints": [{"category": "framework", "name": HOSTILE}],
        "infrastructure": [{"name": HOSTILE, "role": "edge", "category": "cdn",
                            "evidence": [f"{HOSTILE} on 1/2 responses"]}],
        "services": [{"name": HOSTILE, "prefix": "/" + HOSTILE, "role": "api",
                      "first_party": True}],
        "streams": [{"schema": "openai-chat-completions", "models": [HOSTILE]}],
    }


def test_captured_text_is_escaped_everywhere() -> None:
    doc = hostile_doc()
    for width in WIDTHS:
        text = ascii_architecture(doc, width=width)
        check_geometry(text, width)
        assert "\x1b" not in text and "\x00" not in text and "漢" not in text
    assert box_titles(ascii_architecture(doc))[0] == "Client"
    nodes, _ = check_mermaid(mermaid_architecture(doc))
    assert any("#lt;script#gt;alert(#quot;x#quot;)" in label for label in nodes.values())
    assert all("`" not in label and "\x1b" not in label for label in nodes.values())
    svg = svg_architecture(doc)
    check_svg(svg)
    assert "&lt;script&gt;" in svg


def test_no_services_and_no_hops() -> None:
    doc = {"capture": {"producer": "mitmproxy"}, "protocols": {}}
    text = ascii_architecture(doc)
    check_geometry(text, 100)
    assert box_titles(text) == ["Client", "BACKEND SERVICES", "Origin"]
    assert "│ no intermediary observed" in text
    assert "none observed: no first-party API traffic" in text
    check_mermaid(mermaid_architecture(doc))
    check_svg(svg_architecture(doc))


def test_empty_and_malformed_documents_still_draw() -> None:
    for doc in ({}, {"services": "x", "infrastructure": [1, None], "streams": {"a": 1},
                     "capture": [], "protocols": {"h2": "many", "h3": True}}):
        check_geometry(ascii_architecture(doc, width=60), 60)
        check_mermaid(mermaid_architecture(doc))
        check_svg(svg_architecture(doc))


def test_narrower_than_minimum_uses_minimum() -> None:
    text = ascii_architecture({"services": [{"name": "x" * 50, "role": "api"}]}, width=10)
    check_geometry(text, 40)


# --- hypothesis -------------------------------------------------------------------------------

_text = st.text(
    st.one_of(st.characters(codec="utf-8"),
              st.sampled_from("┌┐└┘─│┬┴▼├┤ \t\n\x1b\u0301\u200b漢😀<>\"'&#`|")),
    max_size=120)
_hop = st.fixed_dictionaries({
    "name": _text, "role": st.sampled_from(["edge", "lb", "gateway", "proxy", "mesh", "origin",
                                            "x"]),
    "category": st.sampled_from(["cdn", "cloud", "web_server", "proxy"]),
    "component": st.one_of(st.none(), _text), "evidence": st.lists(_text, max_size=4)})
_service = st.fixed_dictionaries({
    "name": _text, "prefix": _text, "host": _text,
    "role": st.sampled_from(["api", "web", "static", "vendor", "external", "other"]),
    "vendor": st.one_of(st.none(), _text), "first_party": st.booleans()})
_doc = st.fixed_dictionaries({
    "capture": st.fixed_dictionaries({"label": _text, "producer": st.sampled_from(
        ["playwright", "mitmproxy", "httpx", "firefox", "unknown"])}),
    "protocols": st.dictionaries(st.sampled_from(["h2", "h3", "http/1.1", "unknown", "spdy"]),
                                 st.integers(0, 10**6)),
    "fingerprints": st.lists(st.fixed_dictionaries({"category": st.just("framework"),
                                                    "name": _text}), max_size=3),
    "infrastructure": st.lists(_hop, max_size=6),
    "services": st.lists(_service, max_size=40),
    "streams": st.lists(st.fixed_dictionaries({
        "schema": st.sampled_from(["anthropic-messages", "unknown", "graphql-sse"]),
        "models": st.lists(_text, max_size=3)}), max_size=3),
})


@given(doc=_doc, width=st.integers(40, 200))
def test_random_documents_keep_geometry(doc: Mapping[str, Any], width: int) -> None:
    block = architecture_diagram(doc, width=width)
    check_geometry(block.ascii, width)
    nodes, edges = check_mermaid(block.mermaid)
    assert block.ascii.count("▼") == len(edges) >= 2
    assert [a for a, _, _ in edges[1:]] == [b for _, b, _ in edges[:-1]], "one unbroken chain"
    assert edges[0][0] == "n0" and nodes["n0"].split("<br/>")[0] in ("Browser", "Client")
    assert block.svg is not None
    check_svg(block.svg)


# --- optional: the real Mermaid parser ----------------------------------------------------------

_PARSE_JS = r"""
import { createRequire } from 'module';
import { pathToFileURL } from 'url';
import fs from 'fs';
const require = createRequire(process.argv[2] + '/package.json');
const { JSDOM } = require('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window; globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser; globalThis.Element = dom.window.Element;
const { default: mermaid } = await import(pathToFileURL(require.resolve('mermaid')).href);
mermaid.initialize({ startOnLoad: false });
const text = fs.readFileSync(0, 'utf8');
await mermaid.parse(text);
const db = (await mermaid.mermaidAPI.getDiagramFromText(text)).db;
console.log(JSON.stringify({
  edges: db.getEdges().map(e => [e.start, e.end, e.text]),
  subgraphs: db.getSubGraphs().map(s => [s.id, s.nodes.length]),
}));
"""


def test_real_mermaid_parser_accepts_the_flowchart(alpha: dict[str, Any], tmp_path: Path) -> None:
    """Runs only with ``ARCHCMP_MERMAID_MODULES`` naming a directory where ``npm install mermaid
    jsdom`` was run (Mermaid's parser needs a DOM; jsdom gives one without a browser)."""
    modules = os.environ.get("ARCHCMP_MERMAID_MODULES")
    node = shutil.which("node")
    if not modules or not node:
        pytest.skip("set ARCHCMP_MERMAID_MODULES to a directory with mermaid and jsdom installed")
    script = tmp_path / "parse.mjs"
    script.write_text(_PARSE_JS)
    for doc in (alpha, hostile_doc()):
        text = mermaid_architecture(doc)
        run = subprocess.run([node, str(script), modules], input=text, capture_output=True,
                             text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        parsed = json.loads(run.stdout)
        _, edges = check_mermaid(text)
        assert [tuple(e[:2]) for e in parsed["edges"]] == [e[:2] for e in edges]
