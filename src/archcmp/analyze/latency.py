"""Latency classes: the reference's "Performance Characteristics" table, with pandas.

Every answered exchange falls into at most one class; each class says which timing it uses:

==========  ==========================================================  =====================
class       which exchanges                                             timing
==========  ==========================================================  =====================
metadata    GET/HEAD answered 2xx/304 with a JSON body of at most       ``total_ms``
            :data:`SMALL_JSON_BYTES` decoded (bootstrap, settings,
            one resource: the "metadata fetch" row)
crud        POST/PUT/PATCH/DELETE with a JSON request or response, or   ``total_ms``
            a body-less 2xx DELETE (the "CRUD operations" row)
completion  streamed responses (SSE, NDJSON, chunked text) to a         ``ttfb_ms`` (first
            POST/PUT: a request that asks for something generated       byte: the model
                                                                        starts answering)
                                                                        and ``total_ms``
                                                                        (stream finished)
stream      streamed responses to a GET (subscriptions, EventSource,    ``ttfb_ms`` and
            resumed streams): kept apart so a long-lived feed does not  ``total_ms``
            pose as a slow completion
static      script, style, image and font fetches that crossed the      ``total_ms``
            network (Chromium ``_transferSize`` 0 or a 0 ms fetch is a
            cache hit: left out)
document    HTML documents                                              ``ttfb_ms`` and
                                                                        ``total_ms``
page        the producer's page timings (HAR ``pageTimings``):          ``onContentLoad``,
            DOMContentLoaded, load, and the bytes transferred for the   ``onLoad``; bytes
            page's entries                                              from ``_transferSize``
                                                                        (else ``bodySize``)
==========  ==========================================================  =====================

A HAR stores a streamed body as one blob: its ``ttfb_ms`` is the time to the response *headers*,
which an SSE server may send before the model produces anything. Where the capture timed each
event (packet captures), completion and stream classes add ``first_event_p50``/``p95``: the
arrival of the first event, the user-visible time to first token.

WebSocket exchanges, failed requests (no status, or a producer error) and exchanges without the
chosen timing are left out and counted in ``skipped``. ``ttfb_ms`` and ``total_ms`` are the
exchange's (``Exchange.ttfb_ms``: start → first response byte; ``total_ms``: start → last byte).

Percentiles are pandas' default linear interpolation (``Series.quantile``), the same "type 7"
estimator as :func:`archcmp.analyze.stats.percentile`, rounded to 0.1 ms. pandas is imported
inside :meth:`LatencyAnalyzer.result` so ``archcmp --help`` stays fast (style guide §4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from archcmp.analyze.kinds import exchange_kind, media_type
from archcmp.model import Exchange, Observation, Page

__all__ = ["CLASSES", "SMALL_JSON_BYTES", "LatencyAnalyzer", "latency_class"]

#: Class names in the order the document lists them.
CLASSES = ("metadata", "crud", "completion", "stream", "static", "document")
#: "Small" JSON for the metadata class: 64 KiB decoded. Bootstrap/settings/resource reads in the
#: captures we studied are 0.2–40 KB; list pages and exports that run larger measure bandwidth,
#: not the metadata path.
SMALL_JSON_BYTES = 64 * 1024
#: Classes timed by first byte as well as by completion.
_TWO_TIMINGS = frozenset({"completion", "stream", "document"})
_STATIC = frozenset({"script", "style", "image", "font"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STREAMED = frozenset({"sse", "ndjson", "chunked-text", "long-poll"})


def _is_json(mtype: str | None) -> bool:
    return mtype is not None and (mtype.endswith("/json") or mtype.endswith("+json"))


def latency_class(obs: Observation) -> str | None:
    """The latency class of one exchange (module docstring), or None when it has none."""
    ex = obs.exchange
    if ex.status is None or ex.status == 0 or ex.error:
        return None
    transport = obs.transport
    if transport == "websocket" or ex.status == 101:
        return None
    resp_media = media_type(ex.response_header("content-type")) or (
        media_type(ex.response_body.mime_type) if ex.response_body else None)
    if transport in _STREAMED or resp_media == "text/event-stream":
        return "completion" if ex.method in ("POST", "PUT") else "stream"
    kind = exchange_kind(ex)
    if kind in _STATIC:
        # A cache hit measures the disk, not the network: 0 bytes transferred, or 0 ms.
        return None if ex.transfer_size == 0 or ex.total_ms == 0 else "static"
    if kind == "document":
        return "document"
    ok = 200 <= ex.status < 300
    if ex.method in ("GET", "HEAD") and (ok or ex.status == 304) and _is_json(resp_media):
        decoded = obs.response.data if obs.response is not None else None
        if decoded is None or len(decoded) <= SMALL_JSON_BYTES:
            return "metadata"
        return None
    if ex.method in _WRITES:
        req_media = media_type(ex.request_header("content-type")) or (
            media_type(ex.request_body.mime_type) if ex.request_body else None)
        if _is_json(req_media) or _is_json(resp_media) or (ex.method == "DELETE" and ok):
            return "crud"
    return None


def _transfer_bytes(ex: Exchange) -> int | None:
    if ex.transfer_size is not None:
        return ex.transfer_size
    if ex.response_body is not None:
        return ex.response_body.wire_size
    return None


@dataclass(slots=True)
class LatencyAnalyzer:
    """Streaming analyser: a class label and one or two floats per exchange, nothing else.

    ``result(pages=meta.pages)`` gives ``{"latency": {"by_kind": {...}, "page": {...}}}``:
    ``by_kind[cls]`` is ``{"n", "p50", "p95", "timing"}`` for single-timing classes and
    ``{"n", "ttfb_p50", "ttfb_p95", "total_p50", "total_p95", "timing"}`` for completion, stream
    and document; ``page`` has the schema's ``dom_content_loaded_ms``, ``load_ms`` and
    ``transfer_bytes`` for the first page, plus ``n`` and p50/p95 over all pages.
    """

    _rows: list[tuple[str, float | None, float | None, float | None]] = field(
        default_factory=list)
    """(class, ttfb_ms, total_ms, first_event_ms)."""
    _skipped: Counter[str] = field(default_factory=Counter)
    _page_bytes: Counter[str] = field(default_factory=Counter)

    def observe(self, obs: Observation) -> None:
        ex = obs.exchange
        if ex.page_ref is not None:
            size = _transfer_bytes(ex)
            if size:
                self._page_bytes[ex.page_ref] += size
        cls = latency_class(obs)
        if cls is None:
            return
        if ex.total_ms is None and (cls not in _TWO_TIMINGS or ex.ttfb_ms is None):
            self._skipped[cls] += 1
            return
        ttfb = ex.ttfb_ms if cls in _TWO_TIMINGS else None
        first = next((e.time_ms for e in obs.events if e.direction == "receive"), None)
        self._rows.append((cls, ttfb, ex.total_ms, first))

    def result(self, pages: Sequence[Page] = ()) -> dict[str, Any]:
        import pandas as pd  # lazy: keeps the CLI's start fast

        by_kind: dict[str, Any] = {}
        if self._rows:
            frame = pd.DataFrame(self._rows, columns=["cls", "ttfb", "total", "first"],
                                 ).astype({"ttfb": "float64", "total": "float64",
                                           "first": "float64"})
            for cls in CLASSES:
                rows = frame[frame["cls"] == cls]
                if rows.empty:
                    continue
                if cls in _TWO_TIMINGS:
                    ttfb = rows["ttfb"].dropna()
                    total = rows["total"].dropna()
                    by_kind[cls] = {
                        "n": len(rows),
                        "ttfb_p50": _q(ttfb, 0.50), "ttfb_p95": _q(ttfb, 0.95),
                        "total_p50": _q(total, 0.50), "total_p95": _q(total, 0.95),
                        "timing": "ttfb_ms and total_ms",
                    }
                    first = rows["first"].dropna()
                    if len(first):
                        by_kind[cls]["first_event_p50"] = _q(first, 0.50)
                        by_kind[cls]["first_event_p95"] = _q(first, 0.95)
                else:
                    total = rows["total"].dropna()
                    by_kind[cls] = {"n": len(total), "p50": _q(total, 0.50),
                                    "p95": _q(total, 0.95), "timing": "total_ms"}
        for cls, n in self._skipped.items():
            by_kind.setdefault(cls, {"n": 0})["untimed"] = n
        return {"latency": {"by_kind": by_kind, "page": self._pages(pages)}}

    def _pages(self, pages: Sequence[Page]) -> dict[str, Any]:
        import pandas as pd

        first = pages[0] if pages else None
        out: dict[str, Any] = {
            "page": None if first is None else first.id,
            "dom_content_loaded_ms": None if first is None else _r(first.dom_content_loaded_ms),
            "load_ms": None if first is None else _r(first.load_ms),
            "transfer_bytes": (self._page_bytes.get(first.id) or None) if first else None,
            "n": len(pages),
        }
        if len(pages) > 1:
            frame = pd.DataFrame(
                [(p.dom_content_loaded_ms, p.load_ms, self._page_bytes.get(p.id)) for p in pages],
                columns=["dcl", "load", "bytes"], dtype="float64")
            for col, name in (("dcl", "dom_content_loaded"), ("load", "load"),
                              ("bytes", "transfer_bytes")):
                series = frame[col].dropna()
                out[f"{name}_p50"] = _q(series, 0.50)
                out[f"{name}_p95"] = _q(series, 0.95)
        return out


def _q(series: Any, q: float) -> float | None:
    """``series.quantile(q)`` (linear interpolation) rounded to 0.1; None when empty."""
    if len(series) == 0:
        return None
    return round(float(series.quantile(q)), 1)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
