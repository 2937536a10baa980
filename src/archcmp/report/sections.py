"""One function per report section, each from the analysis documents alone.

The sections and their rows follow ``architecture-comparison.md``; rows whose facts a capture
lacks say so rather than disappear, so two captures always line up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from archcmp.report.blocks import (
    Block,
    Bullets,
    Cell,
    Code,
    Inline,
    Mono,
    Paragraph,
    Ref,
    Section,
    Table,
)
from archcmp.report.text import (
    KIND_NAMES,
    NOT_MEASURED,
    NOT_OBSERVED,
    PROTOCOL_NAMES,
    TRANSPORT_NAMES,
    EvidenceBook,
    column_name,
    fmt_bytes,
    fmt_ms,
    fmt_range,
    path_of,
    protocol_summary,
)

Doc = Mapping[str, Any]
Docs = Sequence[Doc]

__all__ = [
    "architecture",
    "captures",
    "coverage",
    "data_model",
    "decryption",
    "extensions",
    "key_services",
    "observability",
    "performance",
    "security",
    "streaming",
    "summary",
    "transport",
]


def _headers(first: str, docs: Docs, *extra: str) -> tuple[str, ...]:
    return (first, *(column_name(d) for d in docs), *extra)


def _same_note(cells: Sequence[Cell], note: str) -> str:
    """"Both"/"All" when every capture says the same, else the row's own note."""
    if len(cells) > 1:
        texts = [_plain(c) for c in cells]
        if len(set(texts)) == 1 and texts[0] not in (NOT_OBSERVED, NOT_MEASURED):
            return "Both" if len(cells) == 2 else "All"
    return note


def _plain(cell: Cell) -> str:
    parts = cell if isinstance(cell, tuple) else (cell,)
    return "".join(p.text if isinstance(p, Mono) else "" if isinstance(p, Ref) else p
                   for p in parts)


def _cited(items: Sequence[tuple[str, Ref | None]], missing: str = NOT_OBSERVED) -> Cell:
    """``Cloudflare[^e1], GCP[^e2]`` as one cell."""
    parts: list[Inline] = []
    for i, (text, ref) in enumerate(items):
        if i:
            parts.append(", ")
        parts.append(text)
        if ref is not None:
            parts.append(ref)
    return tuple(parts) if parts else missing


def _findings(doc: Doc, book: EvidenceBook, categories: Sequence[str],
              missing: str = NOT_OBSERVED) -> Cell:
    found = [f for f in doc.get("fingerprints") or [] if f["category"] in categories]
    return _cited([(f["name"], book.cite(column_name(doc), f["name"], f["evidence"]))
                   for f in found], missing)


# --- Summary ------------------------------------------------------------------------------


def _streaming_summary(doc: Doc) -> str:
    streams = doc.get("streams") or []
    if not streams:
        return NOT_OBSERVED
    kinds: dict[str, set[str]] = {}
    for s in streams:
        kinds.setdefault(TRANSPORT_NAMES.get(s["transport"], s["transport"]), set()).add(
            s["method"])
    return ", ".join(f"{t} ({'/'.join(sorted(m))}-based)" for t, m in sorted(kinds.items()))


def _compression_summary(doc: Doc) -> str:
    by_kind: Mapping[str, Mapping[str, int]] = doc.get("compression_by_kind") or {}
    parts = []
    for kind, codings in by_kind.items():
        used = sorted(c for c in codings if c != "identity")
        if used:
            parts.append(f"{' + '.join(used)} ({KIND_NAMES.get(kind, kind).lower()})")
    if parts:
        return "; ".join(parts)
    return "Identity only (no compression)" if by_kind else NOT_OBSERVED


def _api_cell(doc: Doc, book: EvidenceBook) -> Cell:
    return _cited([(a["style"], book.cite(column_name(doc), f"{a['style']} API style",
                                          a.get("evidence") or []))
                   for a in doc.get("api_styles") or []])


def _auth_cell(doc: Doc, book: EvidenceBook) -> Cell:
    items = []
    for a in doc.get("auth") or []:
        label = {"session-cookie": "Session cookie", "bearer": "Bearer token", "jwt": "JWT",
                 "api-key": "API key", "basic": "Basic", "oauth": "OAuth",
                 "csrf-token": "CSRF token"}.get(a["kind"], a["kind"])
        text = f"{label} ({a['name']})" if a.get("name") else label
        items.append((text, book.cite(column_name(doc), f"auth: {text}",
                                      a.get("evidence") or [])))
    return _cited(items)


def summary(docs: Docs, book: EvidenceBook) -> Section:
    rows: list[tuple[Cell, ...]] = []

    def row(aspect: str, cells: list[Cell], note: str) -> None:
        rows.append((aspect, *cells, _same_note(cells, note)))

    row("CDN", [_findings(d, book, ["cdn"]) for d in docs], "Response headers")
    row("Backend cloud", [_findings(d, book, ["cloud", "load_balancer"]) for d in docs],
        "Via / server headers")
    row("Service mesh", [_findings(d, book, ["service_mesh"]) for d in docs],
        "Proxy headers")
    row("Framework", [_findings(d, book, ["framework"]) for d in docs], "Paths and headers")
    row("Protocol", [protocol_summary(d) for d in docs], "Share of exchanges")
    row("Streaming", [_streaming_summary(d) for d in docs], "Transport (request method)")
    row("Compression", [_compression_summary(d) for d in docs], "Content-Encoding by kind")
    row("API style", [_api_cell(d, book) for d in docs], "Request/response shapes")
    row("Auth", [_auth_cell(d, book) for d in docs], "Names only, never values")
    return Section(title="Summary", blocks=(
        Table(headers=_headers("Aspect", docs, "Notes"), rows=tuple(rows),
              bold_first_column=True),))


# --- Architecture -------------------------------------------------------------------------


def _short_prefix(service: Mapping[str, Any]) -> str:
    return str(service.get("prefix") or "/")


def architecture(docs: Docs, book: EvidenceBook, *, width: int) -> Section:
    from archcmp.report.diagrams import architecture_diagram

    subsections = []
    for d in docs:
        blocks: list[Block] = [architecture_diagram(d, width=width)]
        services = [s for s in d.get("services") or [] if s.get("role") == "api"]
        if services:
            blocks.append(Paragraph(text=("Key services identified:",)))
            blocks.append(Bullets(items=tuple(
                (Mono(_short_prefix(s)), f" - {s['name']}"
                 + (" (streaming)" if s.get("streaming") else "")
                 + f", {s['exchanges']} exchange{'s' if s['exchanges'] != 1 else ''}",)
                for s in services)))
        hops = d.get("infrastructure") or []
        if hops:
            blocks.append(Paragraph(text=("Request path: ", *_hop_chain(d, hops, book))))
        subsections.append(Section(title=f"{column_name(d)} architecture",
                                   blocks=tuple(blocks)))
    return Section(title="System Architecture", subsections=tuple(subsections))


def _hop_chain(doc: Doc, hops: Sequence[Mapping[str, Any]], book: EvidenceBook
               ) -> tuple[Inline, ...]:
    parts: list[Inline] = ["client"]
    for hop in hops:
        parts.append(" → ")
        parts.append(hop["name"])
        ref = book.cite(column_name(doc), f"{hop['name']} ({hop['role']} hop)",
                        hop.get("evidence") or [])
        if ref is not None:
            parts.append(ref)
    parts.append(" → origin")
    return tuple(parts)


def key_services(docs: Docs) -> Section:
    subsections = []
    for d in docs:
        rows = []
        for s in d.get("services") or []:
            latency = s.get("latency_ms") or {}
            if s.get("vendor"):
                note = f"vendor: {s['vendor']}"
            else:
                note = "third party" if s.get("first_party") is False else ""
            if s.get("streaming"):
                note = (note + "; " if note else "") + "streaming"
            rows.append((s["name"], Mono(s.get("host") or "—"), Mono(_short_prefix(s)),
                         ", ".join(s.get("methods") or []) or "—", str(s["exchanges"]),
                         fmt_ms(latency.get("p50")), fmt_ms(latency.get("p95")), note or "—"))
        block: Block = (Table(headers=("Service", "Host", "Prefix", "Methods", "Exchanges",
                                       "p50", "p95", "Notes"), rows=tuple(rows))
                        if rows else Paragraph(text=(f"{NOT_OBSERVED}: no exchanges.",)))
        subsections.append(Section(title=f"{column_name(d)} services", blocks=(block,)))
    return Section(title="Key Services", blocks=(Paragraph(text=(
        "Endpoints grouped by stable path prefix per host; latency is the exchange's total "
        "time (p50/p95); vendor endpoints proxied through the app's own host are attributed "
        "to the vendor.",)),), subsections=tuple(subsections))


# --- Streaming ----------------------------------------------------------------------------


def _stream_values(doc: Doc, key: str) -> list[str]:
    values: list[str] = []
    for s in doc.get("streams") or []:
        value = s.get(key)
        if value and value != "unknown" and value not in values:
            values.append(str(value))
    return values


def _stream_cell(doc: Doc, key: str, book: EvidenceBook) -> Cell:
    streams = doc.get("streams") or []
    if not streams:
        return NOT_OBSERVED
    items = []
    for value in _stream_values(doc, key):
        evidence = [e for s in streams if s.get(key) == value for e in s.get("evidence") or []]
        items.append((value, book.cite(column_name(doc), f"stream {key} {value}",
                                       dict.fromkeys(evidence))))
    return _cited(items, "Unknown")


def _thinking(doc: Doc) -> str:
    streams = doc.get("streams") or []
    if not streams:
        return NOT_OBSERVED
    types = {t for s in streams for t in s.get("thinking_event_types") or []}
    options = {k for s in streams for k in (s.get("request_options") or {})}
    parts = []
    if types:
        parts.append("events " + ", ".join(sorted(types)))
    if options:
        parts.append("request options " + ", ".join(sorted(options)))
    return "; ".join(parts) or NOT_OBSERVED


def streaming(docs: Docs, book: EvidenceBook) -> Section:
    def per(fn: Callable[[Doc], Cell]) -> list[Cell]:
        return [fn(d) for d in docs]

    def event_count(d: Doc) -> str:
        types = {t for s in d.get("streams") or [] for t in s["event_types"]}
        return f"{len(types)} types" if types else NOT_OBSERVED

    rows: list[tuple[Cell, ...]] = [
        ("Transport", *per(_streaming_summary)),
        ("Content-Type", *per(lambda d: ", ".join(_stream_values(d, "content_type"))
                              or (NOT_OBSERVED if not d.get("streams") else "—"))),
        ("Event schema", *per(lambda d: _stream_cell(d, "schema", book))),
        ("Delta format", *per(lambda d: _stream_cell(d, "delta_format", book))),
        ("Compression", *per(lambda d: ", ".join(sorted(
            {", ".join(s["content_encoding"]) or "identity" for s in d.get("streams") or []}))
            or NOT_OBSERVED)),
        ("Thinking support", *per(_thinking)),
        ("Models", *per(lambda d: ", ".join(sorted(
            {m for s in d.get("streams") or [] for m in s.get("models") or []}))
            or NOT_OBSERVED)),
        ("Event types", *per(event_count)),
        ("Per-event timing", *per(lambda d: NOT_OBSERVED if not d.get("streams") else (
            "Yes" if all(s.get("per_event_timing") for s in d["streams"])
            else f"{NOT_MEASURED} (the capture stores each body whole)"))),
    ]
    subsections = []
    for d in docs:
        blocks: list[Block] = []
        streams = d.get("streams") or []
        types = list(dict.fromkeys(t for s in streams for t in s["event_types"]))
        if types:
            blocks.append(Code(text=", ".join(types), language="text"))
            blocks.append(Table(
                headers=("Exchange", "Method", "Endpoint", "Transport", "Encoding", "Events",
                         "Event types", "Terminator", "TTFB", "Total"),
                rows=tuple(_stream_row(d, s) for s in streams)))
        else:
            blocks.append(Paragraph(text=(f"{NOT_OBSERVED}: no streamed responses.",)))
        subsections.append(Section(title=f"{column_name(d)} event types", blocks=tuple(blocks)))
    return Section(title="Streaming Protocol Comparison",
                   blocks=(Table(headers=_headers("Aspect", docs), rows=tuple(rows),
                                 bold_first_column=True),),
                   subsections=tuple(subsections))


def _stream_row(doc: Doc, s: Mapping[str, Any]) -> tuple[Cell, ...]:
    template = None
    exchanges = doc.get("exchanges") or []
    if 0 <= s["exchange"] < len(exchanges):
        template = exchanges[s["exchange"]].get("template")
    counts: Mapping[str, int] = s.get("event_counts") or {}
    types: list[Inline] = []
    for i, t in enumerate(s["event_types"]):
        if i:
            types.append(", ")
        types.append(Mono(t))
        if counts.get(t, 0) > 1:
            types.append(f" ×{counts[t]}")
    return (str(s["exchange"]), s["method"], Mono(template or path_of(s["url"])),
            TRANSPORT_NAMES.get(s["transport"], s["transport"]),
            ", ".join(s["content_encoding"]) or "identity", str(s["events"]),
            tuple(types) if types else NOT_OBSERVED,
            Mono(s["terminator"]) if s.get("terminator") else NOT_OBSERVED,
            fmt_ms(s.get("ttfb_ms")), fmt_ms(s.get("total_ms")))


# --- Data model -----------------------------------------------------------------------------


def _id_label(entry: Mapping[str, Any]) -> str:
    kind = str(entry["kind"])
    if kind == "uuid" and entry.get("version"):
        kind = f"UUIDv{entry['version']}"
    elif kind == "hex" and entry.get("length"):
        kind = f"{entry['length']}-char hex"
    if entry.get("prefix"):
        kind = f"{entry['prefix']}{{{kind}}}"
    return kind


def data_model(docs: Docs, book: EvidenceBook) -> Section:
    def ids(d: Doc) -> Cell:
        entries = [e for e in d.get("id_formats") or [] if e.get("kind") != "numeric"][:3]
        return ", ".join(_id_label(e) for e in entries) or NOT_OBSERVED

    def structure(d: Doc) -> Cell:
        model = d.get("data_model") or {}
        if not model.get("structure"):
            return NOT_OBSERVED
        label = {"tree": "Tree with parent ids", "parent-linked": "Flat with parent ids"}.get(
            model["structure"], str(model["structure"]))
        return _cited([(label, book.cite(column_name(d), "message structure",
                                         model.get("evidence") or []))])

    def keys(d: Doc, field: str) -> Cell:
        model = d.get("data_model") or {}
        names = [k["key"] for k in model.get(field) or []][:3]
        if not names:
            return NOT_OBSERVED
        return tuple(x for i, n in enumerate(names) for x in ((", ",) if i else ()) + (Mono(n),))

    rows: list[tuple[Cell, ...]] = [
        ("ID format", *(ids(d) for d in docs)),
        ("Message structure", *(structure(d) for d in docs)),
        ("Branching", *(keys(d, "branch_markers") for d in docs)),
        ("Parent ids", *(keys(d, "parent_keys") for d in docs)),
        ("Model field", *(keys(d, "model_keys") for d in docs)),
    ]
    subsections = []
    for d in docs:
        entries = d.get("id_formats") or []
        block: Block
        if entries:
            block = Table(headers=("Format", "Where", "Examples", "Count"), rows=tuple(
                (_id_label(e), ", ".join(e.get("where") or [])[:160] or "—",
                 tuple(x for i, ex in enumerate(e.get("examples") or [])
                       for x in ((", ",) if i else ()) + (Mono(ex),)) or "—",
                 str(e.get("count", 0)))
                for e in entries[:12]))
        else:
            block = Paragraph(text=(f"{NOT_OBSERVED}: no identifiers in paths, queries or "
                                    "JSON bodies.",))
        subsections.append(Section(title=f"{column_name(d)} ID formats", blocks=(block,)))
    return Section(title="Data Model Comparison",
                   blocks=(Table(headers=_headers("Aspect", docs), rows=tuple(rows),
                                 bold_first_column=True),),
                   subsections=tuple(subsections))


def extensions(docs: Docs) -> Section:
    subsections = []
    for d in docs:
        collections = d.get("collections") or []
        block: Block
        if collections:
            block = Table(headers=("Collection", "Endpoint", "Items", "Categories",
                                   "Extension-like"), rows=tuple(
                (c["name"], Mono(c.get("endpoint") or "—"), str(c.get("items", 0)),
                 ", ".join(f"{k} ×{v}" for k, v in (c.get("categories") or {}).items()) or "—",
                 "Yes" if c.get("extension_like") else "No")
                for c in collections[:20]))
        else:
            block = Paragraph(text=(f"{NOT_OBSERVED}: no list endpoints.",))
        subsections.append(Section(title=f"{column_name(d)} collections", blocks=(block,)))
    rows: list[tuple[Cell, ...]] = [
        ("Extension collections", *(
            ", ".join(e["name"] for e in d.get("extensions") or []) or NOT_OBSERVED
            for d in docs)),
        ("Items listed", *(
            str(sum(e.get("items", 0) for e in d.get("extensions") or []))
            if d.get("extensions") else NOT_OBSERVED for d in docs)),
    ]
    return Section(title="Extension Ecosystem Comparison",
                   blocks=(Table(headers=_headers("Aspect", docs), rows=tuple(rows),
                                 bold_first_column=True),),
                   subsections=tuple(subsections))


# --- Performance --------------------------------------------------------------------------


def performance(docs: Docs, *, figures: bool) -> Section:
    def by_kind(d: Doc, kind: str, low: str = "p50", high: str = "p95") -> str:
        stats = ((d.get("latency") or {}).get("by_kind") or {}).get(kind)
        missing = NOT_OBSERVED if d.get("exchanges") else NOT_MEASURED
        return fmt_range(stats, low, high, missing=missing)

    def page(d: Doc, key: str) -> str:
        return fmt_ms(((d.get("latency") or {}).get("page") or {}).get(key))

    rows: list[tuple[Cell, ...]] = [
        ("Metadata fetch", *(by_kind(d, "metadata") for d in docs)),
        ("CRUD operations", *(by_kind(d, "crud") for d in docs)),
        ("Completion TTFB", *(by_kind(d, "completion", "ttfb_p50", "ttfb_p95") for d in docs)),
        ("Completion total", *(by_kind(d, "completion", "total_p50", "total_p95")
                               for d in docs)),
        ("Static assets", *(by_kind(d, "static") for d in docs)),
        ("Page load (DOMContentLoaded)", *(page(d, "dom_content_loaded_ms") for d in docs)),
        ("Page load (load event)", *(page(d, "load_ms") for d in docs)),
        ("Page transfer", *(fmt_bytes(((d.get("latency") or {}).get("page") or {})
                                      .get("transfer_bytes")) for d in docs)),
    ]
    blocks: list[Block] = [
        Table(headers=_headers("Metric", docs), rows=tuple(rows), bold_first_column=True),
        Paragraph(text=("Ranges are p50–p95 of total time (TTFB for completions), with the "
                        "number of exchanges. A HAR times a streamed response up to its "
                        "headers, so completion TTFB from a HAR is header time, not first "
                        "token.",)),
    ]
    if figures:
        from archcmp.report import plots

        made = [plots.latency_by_class(docs), plots.stream_timeline(docs),
                *(plots.page_waterfall(d) for d in docs)]
        blocks.extend(f for f in made if f is not None)
    return Section(title="Performance Characteristics", blocks=tuple(blocks))


# --- Observability and security -----------------------------------------------------------


def observability(docs: Docs, book: EvidenceBook) -> Section:
    def tracing(d: Doc) -> Cell:
        cell = _findings(d, book, ["tracing"])
        traced = sorted({p for s in d.get("streams") or [] for p in s.get("trace_id_in") or []})
        if traced:
            extra: tuple[Inline, ...] = (" (trace id in stream: ", *(
                x for i, p in enumerate(traced) for x in ((", ",) if i else ()) + (Mono(p),)),
                ")")
            return (cell if isinstance(cell, tuple) else (cell,)) + extra
        return cell

    rows: list[tuple[Cell, ...]] = [
        ("Distributed tracing", *(tracing(d) for d in docs)),
        ("Analytics", *(_findings(d, book, ["analytics"]) for d in docs)),
        ("Feature flags", *(_findings(d, book, ["feature_flags"]) for d in docs)),
        ("RUM", *(_findings(d, book, ["rum"]) for d in docs)),
        ("Error tracking", *(_findings(d, book, ["error_tracking"]) for d in docs)),
        ("Push notifications", *(_findings(d, book, ["push"]) for d in docs)),
    ]
    return Section(title="Observability", blocks=(
        Table(headers=_headers("Aspect", docs), rows=tuple(rows), bold_first_column=True),))


def security(docs: Docs, book: EvidenceBook) -> Section:
    def tenancy(d: Doc) -> Cell:
        items = [(t.get("label") or t.get("kind", ""), book.cite(
            column_name(d), f"tenancy {t.get('prefix')}", t.get("evidence") or []))
            for t in (d.get("security") or {}).get("tenancy") or []]
        return _cited(items)

    def tls(d: Doc) -> Cell:
        info = (d.get("security") or {}).get("tls") or {}
        versions = info.get("versions") or {}
        if not versions:
            return f"{NOT_MEASURED} (the producer records no TLS details)"
        text = ", ".join(f"{v} ({n})" for v, n in versions.items())
        return _cited([(text, book.cite(column_name(d), "TLS", info.get("evidence") or []))])

    def http3(d: Doc) -> Cell:
        info = (d.get("security") or {}).get("http3") or {}
        if not info.get("advertised"):
            return NOT_OBSERVED
        used = info.get("used_exchanges") or 0
        text = f"Alt-Svc advertises {', '.join(info.get('protocols') or {})}" + (
            f"; used by {used} exchanges" if used else "; not used in this capture")
        return _cited([(text, book.cite(column_name(d), "HTTP/3 advertised",
                                        info.get("evidence") or []))])

    rows: list[tuple[Cell, ...]] = [
        ("Anti-abuse", *(_findings(d, book, ["anti_abuse"]) for d in docs)),
        ("Auth", *(_auth_cell(d, book) for d in docs)),
        ("Tenant isolation", *(tenancy(d) for d in docs)),
        ("TLS", *(tls(d) for d in docs)),
        ("HTTP/3", *(http3(d) for d in docs)),
    ]
    return Section(title="Security Models", blocks=(
        Table(headers=_headers("Aspect", docs), rows=tuple(rows), bold_first_column=True),))


# --- Transport details, coverage, captures ------------------------------------------------


def transport(docs: Docs) -> Section:
    protocols: list[str] = []
    for d in docs:
        protocols += [p for p, n in d["protocols"].items() if n and p not in protocols]
    proto_rows: list[tuple[Cell, ...]] = []
    for p in protocols:
        cells: list[Cell] = []
        for d in docs:
            total = sum(d["protocols"].values())
            n = d["protocols"].get(p, 0)
            cells.append(f"{n} ({100.0 * n / total:.0f}%)" if total and n else "0")
        proto_rows.append((PROTOCOL_NAMES.get(p, p), *cells))
    codings: list[str] = []
    for d in docs:
        codings += [c for c in d["encodings"] if c not in codings]
    coding_rows: list[tuple[Cell, ...]] = [
        (Mono(c), *(str(d["encodings"].get(c, 0)) for d in docs)) for c in codings]
    kinds = sorted({k for d in docs for k in d.get("compression_by_kind") or {}})
    kind_rows: list[tuple[Cell, ...]] = [(KIND_NAMES.get(k, k), *(
        ", ".join(f"{c} ×{n}" for c, n in sorted(((d.get("compression_by_kind") or {})
                                                  .get(k) or {}).items())) or NOT_OBSERVED
        for d in docs)) for k in kinds]
    blocks: list[Block] = []
    tables: list[tuple[tuple[str, ...], list[tuple[Cell, ...]]]] = [
        (_headers("Protocol", docs), proto_rows),
        (_headers("Content-Encoding", docs), coding_rows),
        (_headers("Content kind", docs), kind_rows),
    ]
    for headers, rows in tables:
        if rows:
            blocks.append(Table(headers=headers, rows=tuple(rows)))
    if not blocks:
        blocks.append(Paragraph(text=(f"{NOT_OBSERVED}: no exchanges.",)))
    subsections = []
    for d in docs:
        host_rows = tuple(
            (Mono(h["host"] or "(none)"), str(h["exchanges"]),
             ", ".join(f"{PROTOCOL_NAMES.get(p, p)} ×{n}" for p, n in h["protocols"].items()))
            for h in d.get("hosts") or [])
        block: Block = (Table(headers=("Host", "Exchanges", "Protocols"), rows=host_rows)
                        if host_rows else Paragraph(text=(f"{NOT_OBSERVED}: no exchanges.",)))
        subsections.append(Section(title=f"{column_name(d)} hosts", blocks=(block,)))
    return Section(title="Protocols and Compression", blocks=tuple(blocks),
                   subsections=tuple(subsections))


def _gaps(doc: Doc) -> list[str]:
    gaps = []
    capture = doc["capture"]
    streams = doc.get("streams") or []
    if streams and not all(s.get("per_event_timing") for s in streams):
        gaps.append("Per-event stream timing: the capture stores each streamed body whole "
                    "(a packet capture with keys gives event arrival times)")
    bodies: Mapping[str, int] = doc.get("bodies") or {}
    missing = bodies.get("not-captured", 0)
    if missing:
        gaps.append(f"Response bodies not captured by the producer: {missing} of "
                    f"{capture['exchanges']} (schemas and IDs in them are not seen)")
    if not ((doc.get("security") or {}).get("tls") or {}).get("versions"):
        gaps.append("TLS version and cipher: not recorded by this producer")
    if not (doc.get("latency") or {}).get("page", {}).get("dom_content_loaded_ms"):
        gaps.append("Page timings (DOMContentLoaded, load): not recorded")
    if capture.get("decryption") is None and capture["format"] == "har":
        gaps.append("Connection-level facts (ALPN offers, QUIC handshakes): a HAR has none")
    for s in streams:
        if s.get("schema") in (None, "unknown"):
            gaps.append(f"Stream schema of exchange {s['exchange']}: not recognised")
            break
    return gaps


def coverage(docs: Docs) -> Section:
    subsections = []
    for d in docs:
        gaps = _gaps(d)
        blocks: list[Block] = [Bullets(items=tuple((g,) for g in gaps)) if gaps
                               else Paragraph(text=("No known gaps.",))]
        warnings = d["capture"]["warnings"]
        if warnings:
            blocks.append(Table(headers=("Warning", "Count", "Message"), rows=tuple(
                (Mono(w["code"]), str(w["count"]), w["message"]) for w in warnings)))
        else:
            blocks.append(Paragraph(text=("Warnings: none; every entry, body and event was "
                                          "read.",)))
        counts = Counter(d.get("bodies") or {})
        if counts:
            blocks.append(Paragraph(text=("Bodies: " + ", ".join(
                f"{k} {v}" for k, v in sorted(counts.items())) + ".",)))
        subsections.append(Section(title=f"{column_name(d)} coverage", blocks=tuple(blocks)))
    return Section(title="Coverage Gaps", subsections=tuple(subsections))


def decryption(docs: Docs) -> Section | None:
    """Per packet capture: every TLS/QUIC connection, what was decrypted and why not."""
    subsections = []
    for d in docs:
        info = d["capture"].get("decryption")
        if not info:
            continue
        rows: list[tuple[Cell, ...]] = []
        for c in info.get("connections") or []:
            if c["kind"] == "tls":
                done = f"{c.get('records_decrypted', 0)}/{c.get('records', 0)} records"
            else:
                done = f"{c.get('packets_decrypted', 0)}/{c.get('packets', 0)} packets"
            rows.append((c["id"], Mono(c.get("server") or "—"), c.get("sni") or "—",
                         c.get("alpn") or "—", c.get("version") or "—",
                         c.get("cipher") or "—", done, c.get("status") or "—",
                         c.get("reason") or "—"))
        summary_text = (
            f"{info.get('packets', 0)} packets; TLS sessions decrypted "
            f"{info.get('tls_decrypted', 0)}/{info.get('tls_sessions', 0)}; QUIC connections "
            f"decrypted {info.get('quic_decrypted', 0)}/{info.get('quic_connections', 0)}; "
            f"{info.get('keys', 0)} key log entries.")
        blocks: list[Block] = [Paragraph(text=(summary_text,))]
        if rows:
            blocks.append(Table(headers=("Connection", "Server", "SNI", "ALPN", "Version",
                                         "Cipher", "Decrypted", "Status", "Why not"),
                                rows=tuple(rows)))
        subsections.append(Section(title=f"{column_name(d)} decryption", blocks=tuple(blocks)))
    if not subsections:
        return None
    return Section(title="Capture Decryption", subsections=tuple(subsections))


def captures(docs: Docs) -> Section:
    rows = []
    for d in docs:
        c = d["capture"]
        producer = str(c["producer"])
        if c.get("producer_name"):
            version = f" {c['producer_version']}" if c.get("producer_version") else ""
            producer += f" ({c['producer_name']}{version})"
        rows.append((column_name(d), Mono(c["name"]), Mono(c["sha256"][:12]), producer,
                     c.get("browser") or "—", fmt_bytes(c.get("size_bytes")),
                     c.get("started_at") or NOT_MEASURED, str(c["exchanges"]),
                     d["tool"]["version"]))
    return Section(title="Captures", blocks=(Table(
        headers=("Capture", "File", "sha256", "Producer", "Browser", "Size", "Started",
                 "Exchanges", "archcmp"), rows=tuple(rows)),))
