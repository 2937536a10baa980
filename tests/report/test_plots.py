"""Plots from real analyses: deterministic bytes, inlinable SVG, one mark per exchange, and
captured text that stays literal text (no mathtext from ``$``, no markup from ``<``).

Counts come from the SVG groups the plots name with ``set_gid`` (documented in each function's
docstring), checked against the analysis document, so a plot that drops or invents a bar fails.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.latency import CLASSES
from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.report import plots
from archcmp.report.blocks import Figure
from tests.conftest import SAMPLES

Doc = dict[str, Any]
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
TWO_TIMINGS = {"completion", "stream", "document"}


def _analyze(path: Path) -> Doc:
    return analyze_capture(path, options=AnalyzeOptions(), redactor=Redactor(key=b"k" * 32))


@pytest.fixture(scope="module")
def sample() -> Doc:
    return _analyze(SAMPLES / "chat-chromium-h2.har")


@pytest.fixture(scope="module")
def alpha(shared: Path) -> Doc:
    return _analyze(shared / "captures" / "alpha" / "chromium-h2" / "capture.har")


def _root(fig: Figure) -> ET.Element:
    return ET.fromstring(fig.svg)


def _groups(fig: Figure, gid: str) -> list[ET.Element]:
    """Elements whose id is ``<figure prefix><gid>`` exactly; ``gid`` may be a regex."""
    pattern = re.compile(r"[a-z]+-[0-9a-f]{8}-" + gid)
    return [el for el in _root(fig).iter() if pattern.fullmatch(el.get("id", ""))]


def _markers(group: ET.Element) -> int:
    """Scatter points in a group: matplotlib draws each as a ``<use>`` of one marker path."""
    return sum(1 for _ in group.iter(f"{SVG}use"))


def _keys(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The plot's series order, derived from the analysis' own latency table."""
    by_kind = doc["latency"]["by_kind"]
    return [(cls, t) for cls in CLASSES if cls in by_kind
            for t in (("ttfb", "total") if cls in TWO_TIMINGS else ("total",))]


def _texts(fig: Figure) -> list[str]:
    return ["".join(el.itertext()) for el in _root(fig).iter(f"{SVG}text")]


# ------------------------------------------------------------------ latency per class


@pytest.mark.parametrize("which", ["sample", "alpha"])
def test_latency_dots_match_the_analysis_class_counts(
        which: str, request: pytest.FixtureRequest) -> None:
    doc: Doc = request.getfixturevalue(which)
    fig = plots.latency_by_class([doc])
    assert fig is not None
    keys = _keys(doc)
    assert len(_groups(fig, r"box-0-\d+")) == len(keys)
    for k, (cls, _) in enumerate(keys):
        (group,) = _groups(fig, f"pts-0-{k}")
        assert _markers(group) == doc["latency"]["by_kind"][cls]["n"], (cls, k)
    labels = _texts(fig)
    assert "completion\nTTFB" in labels or any("TTFB" in t for t in labels)


def test_latency_puts_captures_side_by_side(sample: Doc, alpha: Doc) -> None:
    fig = plots.latency_by_class([sample, alpha])
    assert fig is not None
    assert _groups(fig, r"box-0-\d+") and _groups(fig, r"box-1-\d+")
    assert len(_groups(fig, r"box-\d-\d+")) == len(_keys(sample)) + len(_keys(alpha))
    texts = _texts(fig)
    assert "chat-chromium-h2.har" in texts and "capture.har" in texts
    assert "chat-chromium-h2.har" in fig.alt


def test_same_name_captures_get_distinct_legend_entries(alpha: Doc) -> None:
    fig = plots.latency_by_class([alpha, alpha])
    assert fig is not None
    assert {"capture.har [1]", "capture.har [2]"} <= set(_texts(fig))


def test_latency_class_rule_and_override() -> None:
    base = {"id": 1, "method": "GET", "status": 200, "kind": "xhr",
            "response_content_type": "application/json; charset=utf-8", "decoded_bytes": 10}
    assert plots.exchange_latency_class(base, {}) == "metadata"
    assert plots.exchange_latency_class({**base, "decoded_bytes": 10**6}, {}) is None
    assert plots.exchange_latency_class({**base, "method": "PATCH"}, {}) == "crud"
    assert plots.exchange_latency_class({**base, "method": "POST"}, {1: "sse"}) == "completion"
    assert plots.exchange_latency_class(base, {1: "sse"}) == "stream"
    assert plots.exchange_latency_class(base, {1: "websocket"}) is None
    assert plots.exchange_latency_class({**base, "status": None}, {}) is None
    assert plots.exchange_latency_class({**base, "kind": "image", "transfer_bytes": 0}, {}) is None
    assert plots.exchange_latency_class({**base, "latency_class": "static"}, {}) == "static"


# ------------------------------------------------------------------ waterfall


@pytest.mark.parametrize("which", ["sample", "alpha"])
def test_waterfall_has_one_split_bar_per_exchange_and_page_lines(
        which: str, request: pytest.FixtureRequest) -> None:
    doc: Doc = request.getfixturevalue(which)
    fig = plots.page_waterfall(doc)
    assert fig is not None
    n = len(doc["exchanges"])
    assert len(_groups(fig, r"wait-\d+")) == n
    assert len(_groups(fig, r"receive-\d+")) == n
    assert len(_groups(fig, r"dcl-\d+")) == len(doc["capture"]["pages"])
    assert len(_groups(fig, r"load-\d+")) == len(doc["capture"]["pages"])
    assert "DOMContentLoaded" in fig.caption and "omitted" not in fig.caption
    # Rows are labelled by method and template, in start order (the first is the document).
    labels = _texts(fig)
    assert "GET /" in labels
    first = min(doc["exchanges"], key=lambda e: (e["started_ms"], e["id"]))
    assert first["kind"] == "document"


def _synthetic(n: int, template: str = "/api/items/{id}") -> Doc:
    exchanges = [{"id": i, "method": "GET", "url": f"https://example.test/api/items/{i}",
                  "host": "example.test", "status": 200, "kind": "xhr",
                  "response_content_type": "application/json", "decoded_bytes": 100,
                  "template": template, "started_ms": 10.0 * i, "ttfb_ms": 5.0 + i,
                  "total_ms": 8.0 + i} for i in range(n)]
    return {"capture": {"name": "synthetic.har", "label": "synthetic.har", "pages": []},
            "exchanges": exchanges, "streams": [], "latency": {"by_kind": {}}}


def test_waterfall_caps_rows_and_says_how_many_were_left_out() -> None:
    doc = _synthetic(plots.MAX_ROWS + 15)
    doc["exchanges"].append({**doc["exchanges"][0], "id": 999, "started_ms": None})
    fig = plots.page_waterfall(doc)
    assert fig is not None
    assert len(_groups(fig, r"receive-\d+")) == plots.MAX_ROWS
    assert "15 later exchange(s) omitted" in fig.caption
    assert "1 exchange(s) without start or total time" in fig.caption
    assert "Page timings were not measured" in fig.caption


# ------------------------------------------------------------------ stream timeline


def test_stream_timeline_rows_and_not_measured_caption(sample: Doc, alpha: Doc) -> None:
    fig = plots.stream_timeline([sample, alpha])
    assert fig is not None
    n = len(sample["streams"]) + len(alpha["streams"])
    assert n == 5
    for gid in ("wait", "stream", "ttfb"):
        assert len(_groups(fig, gid + r"-\d+")) == n
    assert not _groups(fig, r"events-\d+") and not _groups(fig, r"steps-\d+")
    assert f"not measured for {n} of {n}" in fig.caption
    # HAR streams are timed only to headers and end; the caption's medians come from them.
    totals = sorted(s["total_ms"] for s in [*sample["streams"], *alpha["streams"]])
    assert plots._fmt_ms(totals[len(totals) // 2]) in fig.caption


def test_stream_timeline_draws_event_arrivals_where_measured(sample: Doc) -> None:
    doc = copy.deepcopy(sample)
    timed = doc["streams"][0]
    timed.update(per_event_timing=True, first_event_ms=900.0, last_event_ms=4500.0,
                 event_times_ms=[900.0 + 100 * i for i in range(37)])
    only_ends = doc["streams"][1]
    only_ends.update(per_event_timing=True, first_event_ms=200.0, last_event_ms=300.0)
    fig = plots.stream_timeline([doc])
    assert fig is not None
    (ticks,) = _groups(fig, "events-0")
    (steps,) = _groups(fig, "steps-0")
    assert _groups(fig, "first-1") and _groups(fig, "last-1")
    assert "not measured" not in fig.caption
    assert "first and last event" in fig.caption
    # 37 arrivals → 37 tick marks, and the step curve climbs to 37.
    assert _markers(ticks) == 37
    assert any(t == "events received" for t in _texts(fig))
    assert steps.find(f".//{SVG}path") is not None


# ------------------------------------------------------------------ properties of every plot


def _all(sample: Doc, alpha: Doc) -> dict[str, Figure]:
    figs = {
        "latency": plots.latency_by_class([sample, alpha]),
        "waterfall": plots.page_waterfall(alpha),
        "streams": plots.stream_timeline([sample, alpha]),
    }
    assert all(f is not None for f in figs.values())
    return {k: f for k, f in figs.items() if f is not None}


def test_rendering_is_deterministic(sample: Doc, alpha: Doc) -> None:
    first = _all(sample, alpha)
    second = _all(copy.deepcopy(sample), copy.deepcopy(alpha))
    for name, fig in first.items():
        assert fig == second[name], name


def test_svg_is_inlinable_and_ids_cannot_collide(sample: Doc, alpha: Doc) -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    figs = _all(sample, alpha)
    assert dict(matplotlib.rcParams) == before, "rcParams must be restored"
    seen: set[str] = set()
    for name, fig in figs.items():
        svg = fig.svg
        assert svg.startswith("<svg ") and svg.endswith("</svg>\n")
        assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
        assert "matplotlib.org" not in svg, "creator metadata ties bytes to a version"
        root = ET.fromstring(svg)
        ids = [el.get("id") for el in root.iter() if el.get("id")]
        assert len(ids) == len(set(ids))
        prefix = root.get("id", "").removesuffix("svg")
        assert prefix.startswith(name + "-")
        assert all(i is not None and i.startswith(prefix) for i in ids)
        assert not seen & set(ids), "two figures share an id"
        seen |= {i for i in ids if i}
        refs = re.findall(r"url\(#([^)]+)\)", svg)
        refs += [el.get(XLINK, "")[1:] for el in root.iter() if el.get(XLINK)]
        assert refs and set(refs) <= set(ids), "every reference resolves inside its figure"
        # The page-wide stylesheet matplotlib emits is scoped to this figure.
        style = root.find(f".//{SVG}style")
        assert style is not None and (style.text or "").startswith(f"#{prefix}svg *{{")
        assert fig.caption and fig.alt


def test_captured_text_is_literal_and_escaped() -> None:
    nasty = "/a/$x$/<script>alert(1)</script>&amp;"
    doc = _synthetic(3, template=nasty)
    doc["streams"] = [{"exchange": 0, "method": "POST", "url": "https://example.test" + nasty,
                       "transport": "sse", "ttfb_ms": 5.0, "total_ms": 900.0, "events": 3,
                       "per_event_timing": False}]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;"
    figs = {"waterfall": plots.page_waterfall(doc), "streams": plots.stream_timeline([doc]),
            "latency": plots.latency_by_class([doc])}
    for name, fig in figs.items():
        assert fig is not None
        assert "<script" not in fig.svg, name
        assert "mathdefault" not in fig.svg, name
        if name != "latency":  # the latency plot is labelled by class, not by path
            assert escaped in fig.svg, name
            assert any(nasty in t for t in _texts(fig)), "the $…$ must not become mathtext"
    waterfall = figs["waterfall"]
    assert waterfall is not None
    assert f"GET {nasty}" in _texts(waterfall)


def test_nothing_to_plot_gives_none() -> None:
    empty: Sequence[Doc] = [_synthetic(0)]
    assert plots.latency_by_class(empty) is None
    assert plots.latency_by_class([]) is None
    assert plots.page_waterfall(empty[0]) is None
    assert plots.stream_timeline(empty) is None
    untimed = _synthetic(2)
    for ex in untimed["exchanges"]:
        ex["total_ms"] = None
        ex["ttfb_ms"] = None
    assert plots.latency_by_class([untimed]) is None
    assert plots.page_waterfall(untimed) is None
