"""Small order statistics used across the document.

Percentiles use linear interpolation between closest ranks (NumPy's default, "type 7" in
Hyndman & Fan 1996), so the figures match what pandas and NumPy report for the same values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "summary"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values``; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """``{"n", "p50", "p95"}`` rounded to 0.1 ms, the shape the document uses everywhere."""
    p50 = percentile(values, 50)
    p95 = percentile(values, 95)
    return {
        "n": len(values),
        "p50": None if p50 is None else round(p50, 1),
        "p95": None if p95 is None else round(p95, 1),
    }
