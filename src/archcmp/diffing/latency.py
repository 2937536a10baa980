"""Latency changes: per latency class (``latency.by_kind``) and per service (``latency_ms``).

A capture is one session, so its percentiles carry run-to-run noise (another network path,
a cold cache, one slow request among three). A move is reported only when it is beyond both
the relative threshold and an absolute floor: +25% of 4 ms is noise, +25% of 400 ms is not.
A regression is a warning, never breaking (nothing a client parses changed), and only when
both sides measured at least :data:`MIN_SAMPLES` requests; with fewer, one slow request makes
the percentile, so it is info (an older document without ``n`` is taken at its word).
Improvements are info.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archcmp.diffing.model import Change
from archcmp.diffing.read import change, count, mapping, number, records, text

__all__ = ["MIN_SAMPLES", "compare_latency"]

#: Requests needed on both sides before a rise can count as a regression.
MIN_SAMPLES = 3
#: The percentiles compared, in report order; a class has ``p50``/``p95`` or, when it
#: measures both first byte and last byte, ``ttfb_*``/``total_*``.
METRICS = ("p50", "p95", "ttfb_p50", "ttfb_p95", "total_p50", "total_p95")


def _values(stats: Mapping[str, Any]) -> dict[str, float]:
    return {m: v for m in METRICS if (v := number(stats.get(m))) is not None}


def _pct(before: float, after: float) -> str:
    return f"{(after - before) / before:+.0%}" if before > 0 else "from 0"


def _compare(subject: str, b: Mapping[str, Any], h: Mapping[str, Any], *, threshold: float,
             min_ms: float) -> Change | None:
    vb, vh = _values(b), _values(h)
    moves: list[str] = []
    slower: list[str] = []
    faster: list[str] = []
    for metric in METRICS:
        if metric not in vb or metric not in vh:
            continue
        was, now = vb[metric], vh[metric]
        delta = now - was
        relative = abs(delta) / was if was > 0 else float("inf")
        if abs(delta) <= min_ms or relative <= threshold:
            continue
        moves.append(f"{metric} {was:g} → {now:g} ms ({_pct(was, now)})")
        (slower if delta > 0 else faster).append(metric)
    if not moves:
        return None
    nb, nh = count(b.get("n")), count(h.get("n"))
    few = any(n is not None and n < MIN_SAMPLES for n in (nb, nh))
    message = "; ".join(moves)
    if slower and few:
        check = "latency.regression_few_samples"
        message += f" (n={nb} → {nh}: too few requests to call it a regression)"
    else:
        check = "latency.regression" if slower else "latency.improvement"
    shared = [m for m in METRICS if m in vb and m in vh]
    evidence = [f"beyond {threshold:.0%} and {min_ms:g} ms"]
    if slower and faster:
        evidence.append(f"slower: {', '.join(slower)}; faster: {', '.join(faster)}")
    return change(check, "changed", subject, message,
                  before={"n": nb, **{m: vb[m] for m in shared}},
                  after={"n": nh, **{m: vh[m] for m in shared}}, evidence=evidence)


def _services(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for svc in records(doc.get("services")):
        name = text(svc.get("name"))
        if name:
            host = text(svc.get("host"))
            out.setdefault(f"service {name} ({host})" if host else f"service {name}",
                           mapping(svc.get("latency_ms")))
    return out


def compare_latency(base: Mapping[str, Any], head: Mapping[str, Any], *, threshold: float,
                    min_ms: float) -> list[Change]:
    """Classes that appear or vanish are info (a session that did or did not stream, load a
    page…); classes and services on both sides are compared metric by metric."""
    kb = mapping(mapping(base.get("latency")).get("by_kind"))
    kh = mapping(mapping(head.get("latency")).get("by_kind"))
    kb = {k: mapping(v) for k, v in kb.items() if _values(mapping(v))}
    kh = {k: mapping(v) for k, v in kh.items() if _values(mapping(v))}
    out: list[Change] = []
    for kind in sorted(kb.keys() | kh.keys()):
        subject = f"kind {kind}"
        if kind not in kh:
            out.append(change("latency.class_removed", "removed", subject,
                              "no longer measured (no such requests)", before=_values(kb[kind])))
        elif kind not in kb:
            out.append(change("latency.class_added", "added", subject, "newly measured",
                              after=_values(kh[kind])))
        elif found := _compare(subject, kb[kind], kh[kind], threshold=threshold, min_ms=min_ms):
            out.append(found)
    sb, sh = _services(base), _services(head)
    for subject in sorted(sb.keys() & sh.keys()):
        if found := _compare(subject, sb[subject], sh[subject], threshold=threshold,
                             min_ms=min_ms):
            out.append(found)
    return out
