"""Assemble the ``archcmp.analysis/1`` document from per-exchange results.

The document is the public contract described in ``analysis-schema.md`` (shipped as
``schemas/analysis.schema.json``): every key of the contract is present, unknown values are
``null`` or empty, extra keys may be added but never renamed. Exchange rows are kept small (no
bodies, no headers) so a capture of a million entries still fits in memory as rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from archcmp import __version__
from archcmp.analyze.teardown import TeardownResult
from archcmp.model import PROTOCOLS, CaptureMeta, Warning

__all__ = ["SCHEMA", "DocumentBuilder", "ExchangeRow", "StreamRow"]

SCHEMA = "archcmp.analysis/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeRow:
    """What the document keeps of one exchange; ``index`` is the position in the file."""

    index: int
    method: str
    url: str
    host: str | None
    status: int | None
    protocol: str
    content_encoding: tuple[str, ...]
    response_content_type: str | None
    kind: str
    started_ms: float | None
    ttfb_ms: float | None
    total_ms: float | None
    response_bytes: int | None
    decoded_bytes: int | None
    transfer_bytes: int | None
    body_status: str
    page_ref: str | None
    error: str | None
    tls_protocol: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRow:
    """A streamed response: which exchange, its transport and its event summary."""

    index: int
    transport: str
    summary: Mapping[str, Any]


@dataclass(slots=True)
class DocumentBuilder:
    """Collects rows while a capture streams through, then builds the document once."""

    rows: list[ExchangeRow] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)

    def add(self, row: ExchangeRow, stream: StreamRow | None = None) -> None:
        self.rows.append(row)
        if stream is not None:
            self.streams.append(stream)

    def build(
        self,
        *,
        name: str,
        sha256: str,
        size: int,
        meta: CaptureMeta,
        warnings: Sequence[Warning],
        label: str | None = None,
        teardown: TeardownResult | None = None,
        decryption: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # Entries out of time order (mitmproxy writes them by completion) are renumbered by start
        # time; entries without a start keep their file order after the timed ones.
        rows = sorted(
            self.rows,
            key=lambda r: (r.started_ms is None, r.started_ms or 0.0, r.index),
        )
        self.rows = []  # ``ordered`` holds them now, and lets go of each once it is a dict
        ordered: list[ExchangeRow | None] = list(rows)
        new_id = {row.index: i for i, row in enumerate(rows)}
        starts = [r.started_ms for r in rows if r.started_ms is not None]
        origin = min(starts) if starts else None

        found = teardown or _EMPTY
        streamed = {s.index for s in self.streams}
        by_index = {r.index: r for r in rows if r.index in streamed}
        streams = [
            _stream_entry(new_id[s.index], by_index[s.index], s,
                          found.stream_schemas.get(s.index))
            for s in sorted(self.streams, key=lambda s: new_id[s.index])
        ]
        duration = _duration(rows, origin)
        protocols = _protocols(rows)
        encodings = _encodings(rows)
        bodies = dict(sorted(Counter(r.body_status for r in rows).items()))
        compression = _compression_by_kind(rows)
        hosts = _hosts(rows)
        page = _page_latency(meta, rows)
        del rows, by_index
        # One dict per exchange is the document's largest part; converting row by row and
        # dropping each row as it goes keeps only one of the two forms in memory at a time.
        exchanges = []
        for i, row in enumerate(ordered):
            assert row is not None
            ordered[i] = None
            exchanges.append(
                _exchange_entry(i, row, origin, found.assignments.get(row.index)))
        fingerprints = [
            {**f, "exchanges": sorted(new_id[i] for i in f["exchanges"] if i in new_id)}
            for f in found.fingerprints
        ]
        latency = {"by_kind": found.latency.get("by_kind", {}),
                   "page": {**page, **{k: v for k, v in found.latency.get("page", {}).items()
                                       if v is not None and page.get(k) is None}}}
        return {
            "schema": SCHEMA,
            "tool": {"name": "archcmp", "version": __version__},
            "capture": {
                "name": name,
                "label": label or name,
                "sha256": sha256,
                "size_bytes": size,
                "format": meta.format,
                "producer": meta.producer,
                "producer_name": meta.producer_name,
                "producer_version": meta.producer_version,
                "browser": meta.browser,
                "format_version": meta.format_version,
                "started_at": _iso(origin),
                "duration_ms": duration,
                "exchanges": len(exchanges),
                "decryption": decryption,
                "pages": [_page_entry(p, origin) for p in meta.pages],
                "warnings": [
                    {"code": w.code, "message": w.message, "count": w.count,
                     "samples": list(w.samples)}
                    for w in warnings
                ],
            },
            "protocols": protocols,
            "encodings": encodings,
            "bodies": bodies,
            "compression_by_kind": compression,
            "hosts": hosts,
            "exchanges": exchanges,
            "services": found.services,
            "fingerprints": fingerprints,
            "infrastructure": found.infrastructure,
            "id_formats": found.id_formats,
            "streams": streams,
            "api_styles": found.api_styles,
            "auth": found.auth,
            "security": found.security,
            "data_model": found.data_model.get("data_model"),
            "collections": found.data_model.get("collections", []),
            "extensions": found.data_model.get("extensions", []),
            "latency": latency,
        }


_EMPTY = TeardownResult(
    fingerprints=[], infrastructure=[], services=[], assignments={}, id_formats=[],
    stream_schemas={}, api_styles=[], auth=[], security={}, data_model={}, latency={},
)


def _iso(epoch_ms: float | None) -> str | None:
    """ISO 8601 UTC, or None for a time datetime cannot hold (years 1-9999): a pcapng timestamp
    is any 64-bit count, and a damaged one lands in the year 58868."""
    if epoch_ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="milliseconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _duration(rows: Sequence[ExchangeRow], origin: float | None) -> float | None:
    ends = [
        r.started_ms + r.total_ms
        for r in rows
        if r.started_ms is not None and r.total_ms is not None
    ]
    if origin is None or not ends:
        return None
    return round(max(ends) - origin, 3)


def _exchange_entry(
    new_id: int, r: ExchangeRow, origin: float | None, place: tuple[str, str] | None
) -> dict[str, Any]:
    started = None if r.started_ms is None or origin is None else r.started_ms - origin
    return {
        "id": new_id,
        "method": r.method,
        "url": r.url,
        "host": r.host,
        "status": r.status,
        "protocol": r.protocol,
        "content_encoding": list(r.content_encoding),
        "response_content_type": r.response_content_type,
        "kind": r.kind,
        "service": place[0] if place else None,
        "template": place[1] if place else None,
        "started_ms": _round(started),
        "ttfb_ms": _round(r.ttfb_ms),
        "total_ms": _round(r.total_ms),
        "response_bytes": r.response_bytes,
        "decoded_bytes": r.decoded_bytes,
        "transfer_bytes": r.transfer_bytes,
        "body": r.body_status,
        "tls_protocol": r.tls_protocol,
        "error": r.error,
    }


def _stream_entry(
    new_id: int, r: ExchangeRow, s: StreamRow, schema: dict[str, Any] | None
) -> dict[str, Any]:
    named = {k: v for k, v in (schema or {}).items() if k not in ("exchange", "transport")}
    return {
        "exchange": new_id,
        "method": r.method,
        "url": r.url,
        "status": r.status,
        "protocol": r.protocol,
        "transport": s.transport,
        "content_type": r.response_content_type,
        "content_encoding": list(r.content_encoding),
        "ttfb_ms": _round(r.ttfb_ms),
        "total_ms": _round(r.total_ms),
        **s.summary,
        "schema": None,
        "delta_format": None,
        **named,
    }


def _protocols(rows: Iterable[ExchangeRow]) -> dict[str, int]:
    counts = Counter(r.protocol for r in rows)
    result = {p: counts.pop(p, 0) for p in PROTOCOLS}
    result.update(sorted(counts.items()))
    return result


def _codings_key(row: ExchangeRow) -> str:
    return ", ".join(row.content_encoding) if row.content_encoding else "identity"


def _encodings(rows: Iterable[ExchangeRow]) -> dict[str, int]:
    """Response bodies per content-coding (stacked codings as written, ``gzip, br``)."""
    counts = Counter(_codings_key(r) for r in rows if r.status is not None)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _compression_by_kind(rows: Iterable[ExchangeRow]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for r in rows:
        if r.status is None:
            continue
        table.setdefault(r.kind, Counter())[_codings_key(r)] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(table.items())}


def _hosts(rows: Iterable[ExchangeRow]) -> list[dict[str, Any]]:
    hosts: dict[str, Counter[str]] = {}
    for r in rows:
        hosts.setdefault(r.host or "", Counter())[r.protocol] += 1
    return [
        {"host": host or None, "exchanges": sum(c.values()), "protocols": dict(sorted(c.items()))}
        for host, c in sorted(hosts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]


def _page_entry(page: Any, origin: float | None) -> dict[str, Any]:
    started = page.started_ms
    return {
        "id": page.id,
        "title": page.title,
        "started_ms": _round(None if started is None or origin is None else started - origin),
        "dom_content_loaded_ms": _round(page.dom_content_loaded_ms),
        "load_ms": _round(page.load_ms),
    }


def _page_latency(meta: CaptureMeta, rows: Sequence[ExchangeRow]) -> dict[str, Any]:
    """The first page's timings and the bytes transferred for it (the reference's page row)."""
    if not meta.pages:
        return {"dom_content_loaded_ms": None, "load_ms": None, "transfer_bytes": None}
    page = meta.pages[0]
    sizes = [r.transfer_bytes for r in rows if r.page_ref == page.id and r.transfer_bytes]
    return {
        "page": page.id,
        "dom_content_loaded_ms": _round(page.dom_content_loaded_ms),
        "load_ms": _round(page.load_ms),
        "transfer_bytes": sum(sizes) if sizes else None,
    }


def host_of(url: str) -> str | None:
    """The URL's host (lowercased, no port), None for URLs without one."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
