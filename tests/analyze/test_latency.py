"""Latency classes (issue 4 item 9): which exchange lands in which class, and pandas'
percentiles against :func:`archcmp.analyze.stats.percentile`."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from archcmp.analyze.latency import LatencyAnalyzer, latency_class
from archcmp.analyze.stats import percentile
from archcmp.model import Observation, Page, StreamEvent
from tests.analyze.test_api import alpha_hars, corpus_hars, make_obs, observations, run


def _timed(obs: Observation, ttfb: float, total: float) -> Observation:
    from dataclasses import replace

    return replace(obs, exchange=replace(obs.exchange, ttfb_ms=ttfb, total_ms=total))


def test_classes() -> None:
    assert latency_class(make_obs("GET", "https://a.test/api/me", response={"a": 1})) == "metadata"
    big = make_obs("GET", "https://a.test/api/export", response={"a": "x" * 70000})
    assert latency_class(big) is None
    assert latency_class(make_obs("POST", "https://a.test/api/items", request={"a": 1})) == "crud"
    assert latency_class(make_obs("DELETE", "https://a.test/api/items/1", status=204)) == "crud"
    assert latency_class(make_obs("GET", "https://a.test/app.js", response="x",
                                  response_type="text/javascript")) == "static"
    cached = make_obs("GET", "https://a.test/app.js", response="x",
                      response_type="text/javascript", transfer_size=0)
    assert latency_class(cached) is None
    assert latency_class(make_obs("GET", "https://a.test/", response="<html>",
                                  response_type="text/html")) == "document"
    sse = make_obs("POST", "https://a.test/api/c/completion", request={"p": 1},
                   response="data: x\n\n", response_type="text/event-stream")
    assert latency_class(sse) == "completion"
    feed = make_obs("GET", "https://a.test/stream", response_type="text/event-stream")
    assert latency_class(feed) == "stream"
    ws = Observation(exchange=make_obs("GET", "wss://a.test/ws", status=101).exchange,
                     transport="websocket")
    assert latency_class(ws) is None
    assert latency_class(make_obs("GET", "https://a.test/api/me", status=0)) is None
    failed = make_obs("GET", "https://a.test/api/me", response={}, error="net::ERR_FAILED")
    assert latency_class(failed) is None


def test_output_shape_and_pandas_matches_stats_percentile() -> None:
    rng = random.Random(4)
    totals = [rng.uniform(20, 700) for _ in range(37)]
    obs = [_timed(make_obs("GET", f"https://a.test/api/r/{i}", response={"i": i}), t / 2, t)
           for i, t in enumerate(totals)]
    stream_ttfb, stream_total = [900.0, 1100.0, 950.0], [4200.0, 5000.0, 4600.0]
    events = (StreamEvent(index=0, type="message_start", data="{}", time_ms=960.0),)
    for i, (a, b) in enumerate(zip(stream_ttfb, stream_total, strict=True)):
        o = make_obs("POST", "https://a.test/api/c/completion", request={"p": i},
                     response_type="text/event-stream")
        obs.append(Observation(exchange=_timed(o, a, b).exchange, transport="sse",
                               events=events))
    pages = [Page(id="p1", dom_content_loaded_ms=1700.0, load_ms=2100.0)]
    obs.append(_timed(make_obs("GET", "https://a.test/", response="<html>",
                               response_type="text/html", page_ref="p1", transfer_size=5000),
                      30.0, 40.0))
    result = run(LatencyAnalyzer(), obs).result(pages=pages)["latency"]
    meta = result["by_kind"]["metadata"]
    assert meta == {"n": 37, "p50": round(percentile(totals, 50) or 0, 1),
                    "p95": round(percentile(totals, 95) or 0, 1), "timing": "total_ms"}
    completion = result["by_kind"]["completion"]
    assert completion["n"] == 3
    assert completion["ttfb_p50"] == percentile(stream_ttfb, 50) == 950.0
    assert completion["ttfb_p95"] == round(percentile(stream_ttfb, 95) or 0, 1)
    assert completion["total_p50"] == 4600.0
    assert completion["total_p95"] == round(percentile(stream_total, 95) or 0, 1)
    assert completion["first_event_p50"] == 960.0
    assert result["page"] == {"page": "p1", "dom_content_loaded_ms": 1700.0, "load_ms": 2100.0,
                              "transfer_bytes": 5000, "n": 1}


def test_untimed_exchanges_are_counted_not_measured() -> None:
    result = run(LatencyAnalyzer(), [make_obs("GET", "https://a.test/api/me", response={})])
    assert result.result()["latency"]["by_kind"] == {"metadata": {"n": 0, "untimed": 1}}
    empty = LatencyAnalyzer().result()["latency"]
    assert empty == {"by_kind": {}, "page": {"page": None, "dom_content_loaded_ms": None,
                                             "load_ms": None, "transfer_bytes": None, "n": 0}}


def test_pandas_is_imported_lazily() -> None:
    code = ("import sys, archcmp.analyze.latency as m; assert 'pandas' not in sys.modules; "
            "m.LatencyAnalyzer().result(); assert 'pandas' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_alpha_latency_classes(shared: Path) -> None:
    for har in alpha_hars(shared):
        meta, obs = observations(har)
        result = run(LatencyAnalyzer(), obs).result(pages=meta.pages)["latency"]
        by_kind = result["by_kind"]
        for cls in ("metadata", "crud", "completion", "static", "document"):
            assert by_kind[cls]["n"] > 0, (har, cls)
        # three SSE completions, the slowest class end to end
        assert by_kind["completion"]["n"] == 3
        assert by_kind["completion"]["total_p50"] > by_kind["metadata"]["p95"]
        if har.parent.name.startswith("chromium"):
            assert result["page"]["dom_content_loaded_ms"] is not None
            assert result["page"]["transfer_bytes"] > 0
        else:  # mitmproxy writes no pages
            assert result["page"]["n"] == 0


@pytest.mark.parametrize("name,expected", [
    ("mitmproxy__event_stream.har", {"stream"}),  # LaunchDarkly GET EventSource: not completions
    ("pollyjs__example-puppeteer.har", {"metadata"}),
    ("har-to-openapi__ericduran.github.io.har", {"static", "document"}),
])
def test_corpus_classes(shared: Path, name: str, expected: set[str]) -> None:
    har = shared / "corpus" / "har" / name
    meta, obs = observations(har)
    by_kind = run(LatencyAnalyzer(), obs).result(pages=meta.pages)["latency"]["by_kind"]
    assert set(by_kind) == expected


def test_corpus_never_calls_a_get_a_completion(shared: Path) -> None:
    for har in corpus_hars(shared):
        meta, obs = observations(har)
        by_kind = run(LatencyAnalyzer(), obs).result(pages=meta.pages)["latency"]["by_kind"]
        assert "completion" not in by_kind, har.name
        for stats in by_kind.values():
            for key, value in stats.items():
                if key.endswith(("p50", "p95")) and value is not None:
                    assert value >= 0
