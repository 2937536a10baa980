"""Wording shared by every report section: absent facts, durations, sizes, names, evidence.

A report never shows ``None``, ``nan`` or a Python repr: every value passes through these
helpers, and a missing fact is worded as what it is: "Not observed" (the traffic was there,
the feature was not) or "Not measured" (the capture could not show it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from archcmp.report.blocks import EvidenceNote, Ref

__all__ = [
    "KIND_NAMES",
    "NOT_MEASURED",
    "NOT_OBSERVED",
    "PROTOCOL_NAMES",
    "TRANSPORT_NAMES",
    "EvidenceBook",
    "column_name",
    "fmt_bytes",
    "fmt_ms",
    "fmt_range",
    "path_of",
    "protocol_shares",
    "protocol_summary",
]

Doc = Mapping[str, Any]

NOT_OBSERVED = "Not observed"
NOT_MEASURED = "Not measured"

PROTOCOL_NAMES = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2",
                  "h3": "HTTP/3"}
TRANSPORT_NAMES = {"sse": "SSE", "ndjson": "NDJSON", "chunked-text": "Chunked text",
                   "websocket": "WebSocket", "long-poll": "Long poll"}
KIND_NAMES = {"document": "HTML documents", "script": "Scripts", "style": "Stylesheets",
              "image": "Images", "font": "Fonts", "xhr": "API", "stream": "Streams",
              "telemetry": "Telemetry", "other": "Other"}


def column_name(doc: Doc) -> str:
    capture = doc["capture"]
    return str(capture.get("label") or capture["name"])


def fmt_ms(value: float | None, *, missing: str = NOT_MEASURED) -> str:
    if value is None or value != value:  # None or NaN
        return missing
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def fmt_range(stats: Mapping[str, Any] | None, low: str = "p50", high: str = "p95",
              *, missing: str = NOT_MEASURED) -> str:
    """``p50–p95 (n=…)``, the reference's "50-150ms" style, or the missing word."""
    if not stats or stats.get(low) is None:
        return missing
    n = stats.get("n")
    lo, hi = stats.get(low), stats.get(high)
    span = fmt_ms(lo) if hi is None or hi == lo else f"{fmt_ms(lo)}–{fmt_ms(hi)}"
    return f"{span} (n={n})" if n is not None else span


def fmt_bytes(value: int | None, *, missing: str = NOT_MEASURED) -> str:
    if value is None:
        return missing
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.1f} MiB"
    if value >= 1024:
        return f"{value / 1024:.0f} KB" if value >= 10 * 1024 else f"{value / 1024:.1f} KB"
    return f"{value} B"


def path_of(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


def protocol_shares(doc: Doc) -> list[tuple[str, int, float]]:
    """(protocol, exchanges, percent) for protocols that carried exchanges, largest first."""
    counts = {p: n for p, n in doc["protocols"].items() if n}
    total = sum(counts.values())
    shares = [(p, n, 100.0 * n / total) for p, n in counts.items()] if total else []
    return sorted(shares, key=lambda s: (-s[1], s[0]))


def protocol_summary(doc: Doc) -> str:
    """``HTTP/3 (86%), HTTP/2 (14%)`` — the reference's protocol row."""
    shares = protocol_shares(doc)
    if not shares:
        return NOT_OBSERVED
    if len(shares) == 1:
        return PROTOCOL_NAMES.get(shares[0][0], shares[0][0])
    return ", ".join(f"{PROTOCOL_NAMES.get(p, p)} ({pct:.0f}%)" for p, _, pct in shares)


@dataclass(slots=True)
class EvidenceBook:
    """Numbers evidence notes in order of first citation; the same claim cites one note."""

    notes: list[EvidenceNote] = field(default_factory=list)
    _ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def cite(self, capture: str, title: str, items: Iterable[str]) -> Ref | None:
        """A link to the note for ``title`` in ``capture``; None when there is no evidence."""
        facts = tuple(str(i) for i in items if i)
        if not facts:
            return None
        key = (capture, title)
        ref_id = self._ids.get(key)
        if ref_id is None:
            ref_id = self._ids[key] = f"e{len(self.notes) + 1}"
            self.notes.append(EvidenceNote(id=ref_id, title=f"{capture}: {title}", items=facts))
        return Ref(ref_id)


def join_names(names: Sequence[str], *, missing: str = NOT_OBSERVED) -> str:
    unique = list(dict.fromkeys(n for n in names if n))
    return ", ".join(unique) if unique else missing
