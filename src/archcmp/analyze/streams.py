"""Summaries of streamed responses (SSE, NDJSON, line-prefixed text, WebSocket).

One summary per streamed exchange: event types in first-seen order with their counts, the
terminator, and timing. Per-event timing exists only where the capture recorded arrival times
(packet captures, WebSocket messages in Chromium and mitmproxy HARs); a HAR body is one blob, so
there ``first_event_ms`` is None and the document says the timing was not measured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from archcmp.analyze.stats import summary
from archcmp.model import StreamEvent

__all__ = ["summarise_events", "terminator_of"]

#: ``data`` values that end a stream by convention rather than by event type (OpenAI-style
#: ``data: [DONE]``).
_SENTINELS = frozenset({"[DONE]"})


def terminator_of(events: Sequence[StreamEvent]) -> str | None:
    """What the stream ended with: a sentinel ``data`` value, else the last event's type."""
    if not events:
        return None
    last = events[-1]
    if last.data.strip() in _SENTINELS:
        return last.data.strip()
    return last.type


def summarise_events(events: Sequence[StreamEvent]) -> dict[str, Any]:
    """The event part of a ``streams[]`` entry (keys of the analysis schema plus extras)."""
    received = [e for e in events if e.direction == "receive"]
    counts = Counter(e.type for e in received)
    types = list(dict.fromkeys(e.type for e in received))
    times = [e.time_ms for e in received if e.time_ms is not None]
    timed = len(times) == len(received) and bool(received)
    gaps = [b - a for a, b in pairwise(times)] if timed else []
    inter = summary(gaps) if gaps else None
    return {
        "event_types": types,
        "event_counts": dict(counts),
        "events": len(received),
        "events_sent": len(events) - len(received),
        "terminator": terminator_of(received),
        "first_event_ms": round(times[0], 1) if timed else None,
        "last_event_ms": round(times[-1], 1) if timed else None,
        "inter_event_ms": None if inter is None else {"p50": inter["p50"], "p95": inter["p95"]},
        "per_event_timing": timed,
    }
