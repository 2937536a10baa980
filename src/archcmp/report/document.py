"""Analysis documents → the abstract report, following the reference comparison document.

One column per capture. Where a fact is missing the cell says which kind of missing it is:
"Not observed" when the capture had the traffic but not the feature, "Not measured" when the
capture could not show it (a HAR without page timings, a body the producer did not keep).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from archcmp.report.blocks import Bullets, Cell, Mono, Paragraph, Report, Section, Table

__all__ = ["NOT_MEASURED", "NOT_OBSERVED", "build_report", "column_name"]

Doc = Mapping[str, Any]

NOT_OBSERVED = "Not observed"
NOT_MEASURED = "Not measured"

#: Display names for the protocol vocabulary.
_PROTOCOL_NAMES = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2", "h3": "HTTP/3"}
_TRANSPORT_NAMES = {
    "sse": "SSE",
    "ndjson": "NDJSON",
    "chunked-text": "Chunked text",
    "websocket": "WebSocket",
    "long-poll": "Long poll",
}
_KIND_NAMES = {
    "document": "HTML documents",
    "script": "Scripts",
    "style": "Stylesheets",
    "image": "Images",
    "font": "Fonts",
    "xhr": "API",
    "stream": "Streams",
    "telemetry": "Telemetry",
    "other": "Other",
}


def column_name(doc: Doc) -> str:
    capture = doc["capture"]
    return str(capture.get("label") or capture["name"])


def _ms(value: float | None) -> str:
    if value is None:
        return NOT_MEASURED
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms"


def _bytes(value: int | None) -> str:
    if value is None:
        return NOT_MEASURED
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.1f} MiB"
    if value >= 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value} B"


def _path(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return parts.path or "/"


def protocol_shares(doc: Doc) -> list[tuple[str, int, float]]:
    """(protocol, exchanges, percent) for protocols that carried exchanges, largest first."""
    counts = {p: n for p, n in doc["protocols"].items() if n}
    total = sum(counts.values())
    shares = [(p, n, 100.0 * n / total) for p, n in counts.items()] if total else []
    return sorted(shares, key=lambda s: (-s[1], s[0]))


def _protocol_summary(doc: Doc) -> str:
    shares = protocol_shares(doc)
    if not shares:
        return NOT_OBSERVED
    if len(shares) == 1:
        return _PROTOCOL_NAMES.get(shares[0][0], shares[0][0])
    return ", ".join(f"{_PROTOCOL_NAMES.get(p, p)} ({pct:.0f}%)" for p, _, pct in shares)


def _streaming_summary(doc: Doc) -> str:
    streams = doc["streams"]
    if not streams:
        return NOT_OBSERVED
    kinds: dict[str, set[str]] = {}
    for s in streams:
        kinds.setdefault(_TRANSPORT_NAMES.get(s["transport"], s["transport"]), set()).add(
            s["method"]
        )
    return ", ".join(f"{t} ({'/'.join(sorted(m))})" for t, m in sorted(kinds.items()))


def _compression_summary(doc: Doc) -> str:
    by_kind: Mapping[str, Mapping[str, int]] = doc.get("compression_by_kind") or {}
    parts = []
    for kind, codings in by_kind.items():
        used = sorted(c for c in codings if c != "identity")
        if used:
            parts.append(f"{' + '.join(used)} ({_KIND_NAMES.get(kind, kind).lower()})")
    if parts:
        return "; ".join(parts)
    return "None (identity only)" if by_kind else NOT_OBSERVED


def _summary(docs: Sequence[Doc]) -> Section:
    def row(aspect: str, cells: list[Cell], note: str = "") -> tuple[Cell, ...]:
        return (aspect, *cells, note)

    rows = [
        row("Capture", [f"{d['capture']['format'].upper()} from {d['capture']['producer']}"
                        for d in docs], "Format and producer"),
        row("Exchanges", [str(d["capture"]["exchanges"]) for d in docs],
            "HTTP request/response pairs"),
        row("Protocol", [_protocol_summary(d) for d in docs], "Share of exchanges"),
        row("Streaming", [_streaming_summary(d) for d in docs], "Transport (request method)"),
        row("Compression", [_compression_summary(d) for d in docs], "Content-Encoding by kind"),
        row("Hosts", [str(len(d.get("hosts") or [])) for d in docs], "Distinct hosts contacted"),
        row("Page load (DOMContentLoaded)",
            [_ms(d["latency"]["page"].get("dom_content_loaded_ms")) for d in docs],
            "First page"),
    ]
    headers = ("Aspect", *(column_name(d) for d in docs), "Notes")
    return Section(title="Summary",
                   blocks=(Table(headers=headers, rows=tuple(rows), bold_first_column=True),))


def _protocols(docs: Sequence[Doc]) -> Section:
    protocols: list[str] = []
    for d in docs:
        for p, n in d["protocols"].items():
            if n and p not in protocols:
                protocols.append(p)
    rows = []
    for p in protocols:
        cells: list[Cell] = []
        for d in docs:
            total = sum(d["protocols"].values())
            n = d["protocols"].get(p, 0)
            cells.append(f"{n} ({100.0 * n / total:.0f}%)" if total and n else "0")
        rows.append((_PROTOCOL_NAMES.get(p, p), *cells))
    blocks: list[Any] = []
    if rows:
        blocks.append(Table(headers=("Protocol", *(column_name(d) for d in docs)),
                            rows=tuple(rows)))
    else:
        blocks.append(Paragraph(text=(f"{NOT_OBSERVED}: no exchanges.",)))
    return Section(title="Protocols", blocks=tuple(blocks))


def _compression(docs: Sequence[Doc]) -> Section:
    kinds: list[str] = []
    for d in docs:
        for kind in (d.get("compression_by_kind") or {}):
            if kind not in kinds:
                kinds.append(kind)
    rows: list[tuple[Cell, ...]] = []
    for kind in sorted(kinds):
        cells: list[Cell] = []
        for d in docs:
            codings = (d.get("compression_by_kind") or {}).get(kind)
            if not codings:
                cells.append(NOT_OBSERVED)
            else:
                cells.append(", ".join(f"{c} ×{n}" for c, n in sorted(codings.items())))
        rows.append((_KIND_NAMES.get(kind, kind), *cells))
    encodings_rows: list[tuple[Cell, ...]] = []
    codings_all: list[str] = []
    for d in docs:
        for c in d["encodings"]:
            if c not in codings_all:
                codings_all.append(c)
    for c in codings_all:
        encodings_rows.append((Mono(c), *(str(d["encodings"].get(c, 0)) for d in docs)))
    headers = tuple(column_name(d) for d in docs)
    blocks: list[Any] = []
    if encodings_rows:
        blocks.append(Table(headers=("Content-Encoding", *headers), rows=tuple(encodings_rows)))
    if rows:
        blocks.append(Table(headers=("Content kind", *headers), rows=tuple(rows)))
    if not blocks:
        blocks.append(Paragraph(text=(f"{NOT_OBSERVED}: no responses.",)))
    return Section(title="Compression", blocks=tuple(blocks))


def _event_types(stream: Mapping[str, Any]) -> tuple[str | Mono, ...]:
    counts: Mapping[str, int] = stream.get("event_counts") or {}
    parts: list[str | Mono] = []
    for i, t in enumerate(stream["event_types"]):
        if i:
            parts.append(", ")
        parts.append(Mono(t))
        if counts.get(t, 0) > 1:
            parts.append(f" ×{counts[t]}")
    return tuple(parts) if parts else (NOT_OBSERVED,)


def _streaming(docs: Sequence[Doc]) -> Section:
    headers = tuple(column_name(d) for d in docs)

    def first(d: Doc, key: str) -> Cell:
        values = sorted({str(s.get(key)) for s in d["streams"] if s.get(key)})
        return ", ".join(values) if values else (NOT_OBSERVED if not d["streams"] else "—")

    comparison = (
        ("Transport", *(_streaming_summary(d) for d in docs)),
        ("Content-Type", *(first(d, "content_type") for d in docs)),
        ("Compression", *(
            ", ".join(sorted({", ".join(s["content_encoding"]) or "identity"
                              for s in d["streams"]})) or NOT_OBSERVED
            for d in docs)),
        ("Streams", *(str(len(d["streams"])) for d in docs)),
        ("Per-event timing", *(
            (NOT_OBSERVED if not d["streams"] else
             "Yes" if all(s.get("per_event_timing") for s in d["streams"])
             else f"{NOT_MEASURED} (the capture stores each body whole)")
            for d in docs)),
    )
    subsections = []
    for d in docs:
        rows = []
        for s in d["streams"]:
            rows.append((
                str(s["exchange"]),
                s["method"],
                Mono(_path(s["url"])),
                _TRANSPORT_NAMES.get(s["transport"], s["transport"]),
                ", ".join(s["content_encoding"]) or "identity",
                str(s["events"]),
                _event_types(s),
                Mono(s["terminator"]) if s["terminator"] else NOT_OBSERVED,
                _ms(s.get("ttfb_ms")),
                _ms(s.get("total_ms")),
            ))
        if rows:
            block: Any = Table(
                headers=("Exchange", "Method", "Endpoint", "Transport", "Encoding", "Events",
                         "Event types", "Terminator", "TTFB", "Total"),
                rows=tuple(rows),
            )
        else:
            block = Paragraph(text=(f"{NOT_OBSERVED}: no streamed responses.",))
        subsections.append(Section(title=f"{column_name(d)} streams", blocks=(block,)))
    return Section(
        title="Streaming Protocol Comparison",
        blocks=(Table(headers=("Aspect", *headers), rows=comparison, bold_first_column=True),),
        subsections=tuple(subsections),
    )


def _hosts(docs: Sequence[Doc]) -> Section:
    subsections = []
    for d in docs:
        rows = tuple(
            (Mono(h["host"] or "(none)"), str(h["exchanges"]),
             ", ".join(f"{_PROTOCOL_NAMES.get(p, p)} ×{n}" for p, n in h["protocols"].items()))
            for h in d.get("hosts") or []
        )
        block: Any = (Table(headers=("Host", "Exchanges", "Protocols"), rows=rows) if rows
                      else Paragraph(text=(f"{NOT_OBSERVED}: no exchanges.",)))
        subsections.append(Section(title=f"{column_name(d)} hosts", blocks=(block,)))
    return Section(title="Hosts", subsections=tuple(subsections))


def _performance(docs: Sequence[Doc]) -> Section:
    def page(d: Doc, key: str) -> str:
        return _ms(d["latency"]["page"].get(key))

    def ttfb(d: Doc, kind: str | None) -> str:
        values = sorted(e["ttfb_ms"] for e in d["exchanges"]
                        if e["ttfb_ms"] is not None and (kind is None or e["kind"] == kind))
        if not values:
            return NOT_MEASURED if d["exchanges"] else NOT_OBSERVED
        return f"{_ms(values[len(values) // 2])} (n={len(values)})"

    rows = (
        ("Median TTFB, all exchanges", *(ttfb(d, None) for d in docs)),
        ("Median TTFB, API (XHR/fetch)", *(ttfb(d, "xhr") for d in docs)),
        ("Median TTFB, streams", *(ttfb(d, "stream") for d in docs)),
        ("Page load (DOMContentLoaded)", *(page(d, "dom_content_loaded_ms") for d in docs)),
        ("Page load (load event)", *(page(d, "load_ms") for d in docs)),
        ("Page transfer", *(_bytes(d["latency"]["page"].get("transfer_bytes")) for d in docs)),
    )
    return Section(
        title="Performance Characteristics",
        blocks=(Table(headers=("Metric", *(column_name(d) for d in docs)), rows=rows,
                      bold_first_column=True),),
    )


def _captures(docs: Sequence[Doc]) -> Section:
    rows = []
    for d in docs:
        c = d["capture"]
        producer = c["producer"]
        if c.get("producer_name"):
            producer += f" ({c['producer_name']} {c.get('producer_version') or ''})".rstrip()
            producer = producer.replace(" )", ")")
        rows.append((column_name(d), Mono(c["name"]), Mono(c["sha256"][:12]), producer,
                     c.get("browser") or "—", _bytes(c.get("size_bytes")),
                     c.get("started_at") or NOT_MEASURED, d["tool"]["version"]))
    return Section(title="Captures", blocks=(Table(
        headers=("Capture", "File", "sha256", "Producer", "Browser", "Size", "Started",
                 "archcmp"),
        rows=tuple(rows)),))


def _warnings(docs: Sequence[Doc]) -> Section:
    subsections = []
    for d in docs:
        warnings = d["capture"]["warnings"]
        if warnings:
            block: Any = Table(headers=("Warning", "Count", "Message"), rows=tuple(
                (Mono(w["code"]), str(w["count"]), w["message"]) for w in warnings))
        else:
            block = Paragraph(text=("None: every entry, body and event was read.",))
        subsections.append(Section(title=f"{column_name(d)} warnings", blocks=(block,)))
    return Section(
        title="Coverage and Warnings",
        blocks=(Bullets(items=tuple(
            (f"{column_name(d)}: bodies ",
             ", ".join(f"{k} {v}" for k, v in (d.get("bodies") or {}).items()) or "none", ".")
            for d in docs)),),
        subsections=tuple(subsections),
    )


def build_report(docs: Sequence[Doc]) -> Report:
    """The report for one or more analyses, one column per capture, in the given order."""
    names = [column_name(d) for d in docs]
    title = ("Architecture Teardown: " + names[0] if len(docs) == 1
             else "Architecture Comparison: " + " vs ".join(names))
    return Report(title=title, sections=(
        _summary(docs),
        _protocols(docs),
        _compression(docs),
        _streaming(docs),
        _hosts(docs),
        _performance(docs),
        _captures(docs),
        _warnings(docs),
    ))
