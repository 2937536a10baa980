"""Analysis documents → plots as deterministic, inlinable SVG report figures.

Three pictures the reference teardown argues with: latency per class (box + strip), the page-load
waterfall, and the stream timeline ("TTFB ~1 s, total 4–5 s").

Why the rendering is set up the way it is:

- **No pyplot.** Figures are :class:`matplotlib.figure.Figure` objects saved straight to SVG, so
  no GUI backend is ever selected and no global figure registry grows (as with Agg, nothing opens
  a window; unlike ``pyplot.use("Agg")``, nothing global is switched). Every rcParam is set in an
  ``rc_context`` so rendering a report never changes the caller's matplotlib state.
- **Deterministic bytes** (style guide §6): fixed ``svg.hashsalt`` (clip-path and marker ids are
  hashes), no ``Date`` or ``Creator`` metadata (the creator names the matplotlib version, which
  would make goldens depend on it), fixed sizes and DPI, and jitter from a fixed sequence instead
  of a random generator.
- **Inlinable**: the XML declaration and DOCTYPE are dropped (an HTML parser does not want them),
  every ``id`` and reference to it gets a per-figure prefix so two plots in one page cannot
  collide, and matplotlib's global ``*{...}`` stylesheet is scoped to its own ``<svg>`` (an
  inline SVG's ``<style>`` applies to the whole HTML page).
- **Captured text stays text**: ``svg.fonttype = none`` keeps labels as ``<text>`` (smaller,
  selectable); matplotlib XML-escapes text content; ``text.parse_math = False`` makes a ``$`` in
  a path literal instead of starting mathtext. The log-axis formatter would itself emit mathtext
  (``$\\mathdefault{10^{2}}$``), so axes use plain ms/s formatters.

Matplotlib is imported inside the functions so ``archcmp --help`` stays fast (style guide §4).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from statistics import median
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archcmp.analyze.latency import CLASSES, SMALL_JSON_BYTES
from archcmp.report.blocks import Figure
from archcmp.report.document import column_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = [
    "MAX_ROWS",
    "exchange_latency_class",
    "latency_by_class",
    "page_waterfall",
    "stream_timeline",
]

Doc = Mapping[str, Any]

#: Rows drawn in the waterfall and the stream timeline. Beyond about 60 bars of 0.16 in the
#: labels stop being readable on a laptop screen and a printed page; the caption counts the rest.
MAX_ROWS = 60
#: Longest row label; longer templates are cut in the middle (host and tail both matter).
_MAX_LABEL = 56
_WIDTH_IN = 8.0
_DPI = 100
#: One colour per capture (matplotlib's tab10, fixed here so a matplotlib upgrade cannot
#: recolour goldens).
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_WAIT = "#c6dbef"
_DCL = "#2ca02c"
_LOAD = "#d62728"
#: Smallest value the log latency axis shows; a 0 ms timing is drawn here (log(0) is undefined).
_LOG_FLOOR_MS = 0.1
#: Classes timed by first byte as well as by the end (as in :mod:`archcmp.analyze.latency`).
_TWO_TIMINGS = frozenset({"completion", "stream", "document"})
_STATIC_KINDS = frozenset({"script", "style", "image", "font"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STREAMED = frozenset({"sse", "ndjson", "chunked-text", "long-poll"})
#: The constant used for jitter: successive multiples of the golden ratio spread evenly over
#: [0, 1) without a random generator (deterministic output).
_GOLDEN = 0.6180339887498949


# ------------------------------------------------------------------ rendering helpers


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    # A literal here, not a module constant: matplotlib types rc keys as a Literal union.
    with matplotlib.rc_context({
        "svg.hashsalt": "archcmp",
        "svg.fonttype": "none",
        "text.usetex": False,
        "text.parse_math": False,
        "axes.formatter.use_mathtext": False,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "font.size": 8,
        "axes.titlesize": 9,
        "legend.fontsize": 7,
        "figure.dpi": _DPI,
        "savefig.dpi": _DPI,
        "savefig.bbox": None,
        "path.simplify": False,
    }):
        yield


def _new_figure(height_in: float) -> MplFigure:
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(_WIDTH_IN, round(height_in, 2)), dpi=_DPI, layout="constrained")


_ID = re.compile(r'\bid="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_HREF = re.compile(r'\b((?:xlink:)?href)="#([^"]+)"')


def _to_svg(fig: MplFigure, name: str) -> str:
    """Save ``fig`` as SVG that can be inlined in HTML next to other figures (module docstring)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    prefix = f"{name}-{hashlib.sha256(svg.encode()).hexdigest()[:8]}-"
    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = _URL_REF.sub(lambda m: f"url(#{prefix}{m.group(1)})", svg)
    svg = _HREF.sub(lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', svg)
    root = f"{prefix}svg"
    svg = svg.replace("<svg ", f'<svg id="{root}" ', 1)
    return svg.replace("*{", f"#{root} *{{", 1).rstrip() + "\n"


def _fmt_ms(value: float) -> str:
    """A duration for captions and axes: ``850 ms``, ``1.23 s``, ``0.4 ms``."""
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.2g} ms"


def _ms_axis(ax: Axes, axis: str, *, log: bool) -> None:
    """Plain-text tick labels: the default log formatter emits mathtext, shown as ``$…$``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    if log:
        target.set_major_locator(LogLocator(base=10))
        target.set_minor_formatter(NullFormatter())
        target.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_ms(v) if v > 0 else ""))
    else:
        target.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_ms(v) if v > 0 else "0"))


def _labels(docs: Sequence[Doc]) -> list[str]:
    """One legend name per capture, made unique (three alpha captures are all ``capture.har``)."""
    names = [column_name(d) for d in docs]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name} [{seen[name]}]")
    return out


def _clip(text: str, limit: int = _MAX_LABEL) -> str:
    """Cut a long label in the middle: the method and host lead, the template's tail ends it."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3:]


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


def _row_label(ex: Mapping[str, Any], *, with_host: bool) -> str:
    where = ex.get("template") or _path_of(str(ex.get("url", "")))
    host = f"{ex.get('host')} " if with_host and ex.get("host") else ""
    return _clip(f"{ex.get('method', '')} {host}{where}".strip())


def _number(value: Any, *, signed: bool = False) -> float | None:
    """A timing from the document: a finite number (non-negative unless ``signed``), else None.

    Only a page start may be negative: Chromium starts the page a few ms before its first entry.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number) or (number < 0 and not signed):
        return None
    return number


def _jitter(i: int, width: float) -> float:
    return ((i * _GOLDEN) % 1.0 - 0.5) * width


# ------------------------------------------------------------------ latency per class


def _is_json(media: Any) -> bool:
    if not isinstance(media, str):
        return False
    base = media.split(";", 1)[0].strip().lower()
    return base.endswith("/json") or base.endswith("+json")


def exchange_latency_class(ex: Mapping[str, Any], transports: Mapping[int, str]) -> str | None:
    """The latency class of one ``exchanges[]`` entry, as :func:`archcmp.analyze.latency.\
latency_class` assigns it.

    The stored document keeps the per-class percentiles but not each exchange's class, and a plot
    needs the individual timings, so the rule is re-applied to the stored fields. It differs in
    one place: the document does not keep request content types, so a write counts as ``crud``
    only when its *response* is JSON (or it is a 2xx DELETE). An explicit ``latency_class`` on
    the entry, where a future analysis stores one, wins. ``transports`` maps exchange id →
    ``streams[].transport``.
    """
    if "latency_class" in ex:
        cls = ex["latency_class"]
        return cls if isinstance(cls, str) else None
    status = ex.get("status")
    if not isinstance(status, int) or status in (0, 101) or ex.get("error"):
        return None
    method = ex.get("method")
    transport = transports.get(ex.get("id", -1))
    media = ex.get("response_content_type")
    if transport == "websocket":
        return None
    if transport in _STREAMED or (isinstance(media, str) and media.startswith("text/event-stream")):
        return "completion" if method in ("POST", "PUT") else "stream"
    kind = ex.get("kind")
    if kind in _STATIC_KINDS:
        cached = ex.get("transfer_bytes") == 0 or ex.get("total_ms") == 0
        return None if cached else "static"
    if kind == "document":
        return "document"
    ok = 200 <= status < 300
    if method in ("GET", "HEAD") and (ok or status == 304) and _is_json(media):
        decoded = ex.get("decoded_bytes")
        return "metadata" if decoded is None or decoded <= SMALL_JSON_BYTES else None
    if method in _WRITES and (_is_json(media) or (method == "DELETE" and ok)):
        return "crud"
    return None


def _series(doc: Doc) -> dict[tuple[str, str], list[float]]:
    """(class, "ttfb"|"total") → timings in ms, in exchange order."""
    transports = {s.get("exchange", -1): str(s.get("transport")) for s in doc.get("streams", ())}
    out: dict[tuple[str, str], list[float]] = {}
    for ex in doc.get("exchanges", ()):
        cls = exchange_latency_class(ex, transports)
        if cls is None:
            continue
        timings = ("ttfb", "total") if cls in _TWO_TIMINGS else ("total",)
        for timing in timings:
            value = _number(ex.get(f"{timing}_ms"))
            if value is not None:
                out.setdefault((cls, timing), []).append(value)
    return out


def latency_by_class(docs: Sequence[Doc]) -> Figure | None:
    """Box + strip plot of exchange timings per latency class, one colour per capture.

    Boxes show the spread the p50/p95 table hides (one slow outlier versus a slow class); every
    exchange is a dot, so a class of three is not mistaken for a distribution. Milliseconds span
    four decades (a 2 ms write, a 5 s completion), hence the log axis. None when no capture has a
    timed exchange in any class.

    SVG group ids (before the figure prefix): ``box-<capture>-<series>`` and
    ``pts-<capture>-<series>``, numbered from 0 in drawing order.
    """
    per_doc = [_series(d) for d in docs]
    keys = [(cls, timing) for cls in CLASSES for timing in ("ttfb", "total")
            if any(s.get((cls, timing)) for s in per_doc)]
    if not keys:
        return None
    names = _labels(docs)
    with _style():
        fig = _new_figure(4.4)
        ax = fig.add_subplot()
        slot = 0.8 / len(docs)
        floored = 0
        medians: dict[tuple[str, str], list[str]] = {}
        in_legend: set[int] = set()
        for d, series in enumerate(per_doc):
            colour = _PALETTE[d % len(_PALETTE)]
            for k, key in enumerate(keys):
                values = series.get(key)
                if not values:
                    continue
                x = k - 0.4 + slot * (d + 0.5)
                shown = [max(v, _LOG_FLOOR_MS) for v in values]
                floored += sum(v < _LOG_FLOOR_MS for v in values)
                parts = ax.boxplot([shown], positions=[x], widths=slot * 0.7, patch_artist=True,
                                   showfliers=False, manage_ticks=False,
                                   medianprops={"color": "#000000", "linewidth": 1.2},
                                   whiskerprops={"color": colour}, capprops={"color": colour},
                                   boxprops={"facecolor": colour + "40", "edgecolor": colour})
                parts["boxes"][0].set_gid(f"box-{d}-{k}")
                xs = [x + _jitter(i, slot * 0.5) for i in range(len(shown))]
                ax.scatter(xs, shown, s=9, color=colour, alpha=0.8, linewidths=0, zorder=3,
                           gid=f"pts-{d}-{k}", label=None if d in in_legend else names[d])
                in_legend.add(d)
                medians.setdefault(key, []).append(
                    f"{_fmt_ms(median(values))} (n={len(values)}"
                    + (f", {names[d]})" if len(docs) > 1 else ")"))
        ax.set_yscale("log")
        _ms_axis(ax, "y", log=True)
        ax.set_xticks(range(len(keys)),
                      [f"{cls}\n{'TTFB' if timing == 'ttfb' else 'total'}" for cls, timing in keys])
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_ylabel("milliseconds (log scale)")
        ax.grid(axis="y", which="major", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_title("Latency per class")
        if len(docs) > 1:
            fig.legend(loc="outside lower center", ncols=min(len(docs), 4), frameon=False)
        svg = _to_svg(fig, "latency")
    caption = ("Latency per class (log scale). Box: quartiles and median; whiskers: 1.5 × IQR; "
               "dots: individual exchanges. TTFB is the time to the first response byte (for a "
               "HAR, the response headers), total the time to the last byte.")
    if floored:
        caption += f" {floored} timing(s) under {_LOG_FLOOR_MS} ms are drawn at {_LOG_FLOOR_MS} ms."
    alt = "Median latency per class: " + "; ".join(
        f"{cls} {'TTFB' if timing == 'ttfb' else 'total'} " + ", ".join(values)
        for (cls, timing), values in medians.items()) + "."
    return Figure(svg=svg, caption=caption, alt=alt)


# ------------------------------------------------------------------ page-load waterfall


def page_waterfall(doc: Doc) -> Figure | None:
    """Page-load waterfall: one bar per exchange from its start, waiting (TTFB) then receiving.

    Shows what blocked what: the document's TTFB, scripts fetched after it, and the API calls
    after DOMContentLoaded. Bars are in start order; past :data:`MAX_ROWS` the rest are left out
    and counted in the caption, as are exchanges without a start or total time. Vertical lines
    mark each page's DOMContentLoaded and load (HAR ``pageTimings``, relative to the page start,
    placed on the capture's clock). None when no exchange is timed.

    SVG group ids: ``wait-<row>``, ``receive-<row>``, ``dcl-<page>``, ``load-<page>``.
    """
    rows = []
    untimed = 0
    for ex in doc.get("exchanges", ()):
        start, total = _number(ex.get("started_ms")), _number(ex.get("total_ms"))
        if start is None or total is None:
            untimed += 1
            continue
        rows.append((start, int(ex.get("id", 0)), ex))
    if not rows:
        return None
    rows.sort(key=lambda r: (r[0], r[1]))
    omitted = max(0, len(rows) - MAX_ROWS)
    rows = rows[:MAX_ROWS]
    with_host = len({ex.get("host") for _, _, ex in rows}) > 1
    pages = [p for p in doc.get("capture", {}).get("pages", ()) if isinstance(p, Mapping)]
    with _style():
        fig = _new_figure(1.5 + 0.16 * len(rows))
        ax = fig.add_subplot()
        for i, (start, _, ex) in enumerate(rows):
            total = _number(ex.get("total_ms")) or 0.0
            ttfb = _number(ex.get("ttfb_ms"))
            wait = min(ttfb, total) if ttfb is not None else 0.0
            ax.barh(i, wait, left=start, height=0.7, color=_WAIT, edgecolor="#6baed6",
                    linewidth=0.4, gid=f"wait-{i}", label="waiting (TTFB)" if i == 0 else None)
            ax.barh(i, max(total - wait, 0.0), left=start + wait, height=0.7, color=_PALETTE[0],
                    gid=f"receive-{i}", label="receiving" if i == 0 else None)
        marks = []
        for p, page in enumerate(pages):
            base = _number(page.get("started_ms"), signed=True) or 0.0
            for key, gid, colour, label in (("dom_content_loaded_ms", "dcl", _DCL,
                                             "DOMContentLoaded"),
                                            ("load_ms", "load", _LOAD, "load")):
                value = _number(page.get(key))
                if value is None:
                    continue
                ax.axvline(base + value, color=colour, linestyle="--", linewidth=1.0,
                           gid=f"{gid}-{p}", label=label if p == 0 else None)
                marks.append(f"{label} at {_fmt_ms(base + value)}")
        ax.set_yticks(range(len(rows)), [_row_label(ex, with_host=with_host) for *_, ex in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0, labelsize=7)
        ax.set_xlim(left=min(0.0, *(r[0] for r in rows)))
        _ms_axis(ax, "x", log=False)
        ax.set_xlabel("time since the first request")
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.legend(loc="outside lower center", ncols=4, frameon=False)
        ax.set_title("Page-load waterfall")
        svg = _to_svg(fig, "waterfall")
    caption = (f"Page-load waterfall of {len(rows)} exchange(s) in start order: light = waiting "
               "for the first byte (TTFB), dark = receiving the body.")
    if marks:
        caption += " Dashed lines: DOMContentLoaded (green) and load (red)."
    else:
        caption += " Page timings were not measured (the capture has no page timings)."
    if omitted:
        caption += f" {omitted} later exchange(s) omitted (first {MAX_ROWS} shown)."
    if untimed:
        caption += f" {untimed} exchange(s) without start or total time not drawn."
    end = max(r[0] + (_number(r[2].get("total_ms")) or 0.0) for r in rows)
    alt = (f"Waterfall of {len(rows)} exchanges over {_fmt_ms(end)}"
           + (": " + ", ".join(marks) if marks else "") + ".")
    return Figure(svg=svg, caption=caption, alt=alt)


# ------------------------------------------------------------------ stream timeline


def _event_times(stream: Mapping[str, Any]) -> list[float] | None:
    """Per-event arrival offsets (ms from the request start), where the capture measured them.

    The analysis keeps ``first_event_ms``/``last_event_ms`` when ``per_event_timing`` is true;
    the full list is drawn when the document carries it as ``event_times_ms``.
    """
    if not stream.get("per_event_timing"):
        return None
    times = stream.get("event_times_ms")
    if isinstance(times, Sequence) and not isinstance(times, str):
        clean = [t for t in (_number(v) for v in times) if t is not None]
        return sorted(clean) or None
    return None


def stream_timeline(docs: Sequence[Doc]) -> Figure | None:
    """Streamed responses on one clock from their own request start: TTFB, events, end.

    The shape of a completion (headers or first token after ~1 s, the stream running to 4–5 s) is
    what users feel; a p50 table flattens it. Each row is one stream: a light bar up to TTFB, a
    coloured bar to the end (``total_ms``), a dot at TTFB. Where the capture timed each event
    (``per_event_timing``), arrivals are ticks on the row and, when the full list is stored, a
    cumulative events-over-time step plot below; otherwise the caption says per-event times were
    not measured (a HAR stores a streamed body as one blob). None when no stream has timings.

    SVG group ids: ``wait-<row>``, ``stream-<row>``, ``ttfb-<row>``, ``events-<row>`` (ticks),
    ``first-<row>``/``last-<row>`` (first/last event marks), ``steps-<row>``.
    """
    names = _labels(docs)
    rows: list[tuple[int, Mapping[str, Any], float, float, str]] = []
    for d, doc in enumerate(docs):
        by_id = {ex.get("id"): ex for ex in doc.get("exchanges", ())}
        for stream in doc.get("streams", ()):
            ex = by_id.get(stream.get("exchange"), {})
            ttfb = _number(stream.get("ttfb_ms", ex.get("ttfb_ms")))
            total = _number(stream.get("total_ms", ex.get("total_ms")))
            if ttfb is None or total is None:
                continue
            label = _row_label({**stream, "template": ex.get("template")}, with_host=False)
            if len(docs) > 1:
                label = _clip(f"{names[d]}: {label}")
            rows.append((d, stream, ttfb, max(total, ttfb), label))
    if not rows:
        return None
    omitted = max(0, len(rows) - MAX_ROWS)
    rows = rows[:MAX_ROWS]
    times = [_event_times(s) for _, s, *_ in rows]
    steps = any(t for t in times)
    with _style():
        height = 1.4 + 0.22 * len(rows) + (2.0 if steps else 0.0)
        fig = _new_figure(height)
        if steps:
            ax, ax_steps = fig.subplots(2, 1, sharex=True,
                                        height_ratios=[0.22 * len(rows) + 0.6, 2.0])
        else:
            ax, ax_steps = fig.add_subplot(), None
        seen_capture: set[int] = set()
        for i, (d, stream, ttfb, total, _) in enumerate(rows):
            colour = _PALETTE[d % len(_PALETTE)]
            ax.barh(i, ttfb, left=0.0, height=0.6, color=_WAIT, edgecolor="#6baed6",
                    linewidth=0.4, gid=f"wait-{i}", label="waiting for first byte" if i == 0
                    else None)
            ax.barh(i, total - ttfb, left=ttfb, height=0.6, color=colour, alpha=0.85,
                    gid=f"stream-{i}",
                    label=names[d] if len(docs) > 1 and d not in seen_capture else None)
            seen_capture.add(d)
            ax.plot([ttfb], [i], marker="o", markersize=4, color="#000000", linestyle="none",
                    gid=f"ttfb-{i}", label="TTFB" if i == 0 else None)
            arrivals = times[i]
            if arrivals:
                ax.plot(arrivals, [i] * len(arrivals), marker="|", markersize=7,
                        color="#08306b", linestyle="none", gid=f"events-{i}")
                if ax_steps is not None:
                    counts = list(range(1, len(arrivals) + 1))
                    ax_steps.step([0.0, *arrivals], [0, *counts], where="post", color=colour,
                                  linewidth=1.2, gid=f"steps-{i}")
            elif stream.get("per_event_timing"):
                for key, gid, marker in (("first_event_ms", "first", "<"),
                                         ("last_event_ms", "last", ">")):
                    value = _number(stream.get(key))
                    if value is not None:
                        ax.plot([value], [i], marker=marker, markersize=5, color="#08306b",
                                linestyle="none", gid=f"{gid}-{i}")
        ax.set_yticks(range(len(rows)), [r[4] for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0, labelsize=7)
        ax.set_xlim(left=0.0)
        _ms_axis(ax, "x", log=False)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.legend(loc="outside lower center", ncols=4, frameon=False)
        ax.set_title("Stream timeline (from each request's start)")
        if ax_steps is not None:
            ax_steps.set_ylabel("events received")
            ax_steps.set_xlabel("time since the request started")
            ax_steps.grid(color="#eeeeee", linewidth=0.6)
        else:
            ax.set_xlabel("time since the request started")
        svg = _to_svg(fig, "streams")
    ttfbs = [r[2] for r in rows]
    totals = [r[3] for r in rows]
    caption = (f"Timeline of {len(rows)} streamed response(s), each from its own request start: "
               "light = waiting for the first byte, coloured = the body streaming until it ended, "
               f"dot = TTFB. TTFB median {_fmt_ms(median(ttfbs))}, total median "
               f"{_fmt_ms(median(totals))}.")
    untimed = sum(1 for _, s, *_ in rows if not s.get("per_event_timing"))
    if untimed:
        caption += (f" Per-event arrival times were not measured for {untimed} of {len(rows)} "
                    "stream(s) (a HAR stores a streamed body as one blob), so their events are "
                    "not placed in time and TTFB is the time to the response headers, which may "
                    "precede the first generated token.")
    if any(not t and s.get("per_event_timing") for t, (_, s, *_) in zip(times, rows, strict=True)):
        caption += " Triangles mark the first and last event where only those were stored."
    if omitted:
        caption += f" {omitted} more stream(s) omitted (first {MAX_ROWS} shown)."
    alt = (f"Timeline of {len(rows)} streams: TTFB {_fmt_ms(min(ttfbs))} to "
           f"{_fmt_ms(max(ttfbs))}, total {_fmt_ms(min(totals))} to {_fmt_ms(max(totals))}.")
    return Figure(svg=svg, caption=caption, alt=alt)
