"""Helpers shared by parser tests.

``feed_three_ways`` follows h11's ``tests/test_io.py``: a sans-IO parser must give the same events
whether its input arrives whole, one byte at a time, or cut at arbitrary points.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from archcmp.model import StreamEvent


class StreamParserLike(Protocol):
    def feed(self, data: bytes, time_ms: float | None = None) -> list[StreamEvent]: ...

    def close(self) -> list[StreamEvent]: ...


P = TypeVar("P", bound=StreamParserLike)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated offsets are ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed_chunks(make: Callable[[], P], chunks: Iterable[bytes]) -> tuple[list[StreamEvent], P]:
    """Feed ``chunks`` in order, then close; return all events and the parser (for counters)."""
    parser = make()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return events, parser


def feed_three_ways(
    make: Callable[[], P],
    data: bytes,
    *,
    seed: int = 0,
    state: Callable[[P], object] | None = None,
) -> list[StreamEvent]:
    """Feed whole, byte by byte and in random chunks; assert identical events (and ``state``)."""
    rng = random.Random(seed)
    cuts = [rng.randrange(1, max(2, len(data))) for _ in range(max(1, len(data) // 7))]
    ways = {
        "whole": [data],
        "byte-by-byte": [data[i : i + 1] for i in range(len(data))],
        "random chunks": split_at(data, cuts),
    }
    results = {name: feed_chunks(make, chunks) for name, chunks in ways.items()}
    whole_events, whole_parser = results["whole"]
    for name, (events, parser) in results.items():
        assert events == whole_events, f"{name} feeding differs from whole"
        if state is not None:
            assert state(parser) == state(whole_parser), f"{name} feeding: counters differ"
    return whole_events
