from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from archcmp.decode.sse import SseParser
from archcmp.decode.timing import decoded_chunk_times

EVENTS = [f"event: delta\ndata: {{\"i\": {i}}}\n\n".encode() for i in range(6)]


def _flushed(coding: str) -> list[bytes]:
    """Each event compressed and flushed on its own, as a streaming server sends it."""
    if coding == "br":
        comp = brotli.Compressor()
        out = [comp.process(e) + comp.flush() for e in EVENTS]
        out[-1] += comp.finish()
        return out
    if coding == "zstd":
        cobj = zstandard.ZstdCompressor().compressobj()
        out = [cobj.compress(e) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for e in EVENTS]
        out[-1] += cobj.flush()
        return out
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}[coding]
    z = zlib.compressobj(wbits=wbits)
    out = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in EVENTS]
    out[-1] += z.flush()
    return out


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "deflate"])
def test_each_event_keeps_the_time_of_its_piece(coding: str) -> None:
    pieces = _flushed(coding)
    data = b"".join(pieces)
    chunks, end = [], 0
    for i, piece in enumerate(pieces):
        end += len(piece)
        chunks.append((end, 100.0 + 10 * i))
    times = decoded_chunk_times(data, chunks, [coding], max_bytes=1 << 20)
    assert times is not None
    decoded = b"".join(EVENTS)
    parser = SseParser()
    got, start = [], 0
    for offset, time_ms in times:
        got += parser.feed(decoded[start:offset], time_ms)
        start = offset
    assert [e.time_ms for e in got] == [100.0 + 10 * i for i in range(6)]


def test_stacked_codings_and_identity() -> None:
    inner = gzip.compress(b"".join(EVENTS))
    outer = brotli.compress(inner)
    times = decoded_chunk_times(outer, [(len(outer), 5.0)], ["gzip", "br"], max_bytes=1 << 20)
    assert times == [(len(b"".join(EVENTS)), 5.0)]
    plain = b"".join(EVENTS)
    assert decoded_chunk_times(plain, [(10, 1.0), (len(plain), 2.0)], [],
                               max_bytes=1 << 20) == [(10, 1.0), (len(plain), 2.0)]


@pytest.mark.parametrize(("data", "chunks", "codings"), [
    (b"not gzip at all", [(15, 1.0)], ["gzip"]),
    (b"abc", [(2, 1.0)], []),            # pieces do not cover the body
    (b"abc", [(5, 1.0)], []),            # past the end
    (b"abc", [(3, 1.0)], ["compress"]),  # unknown coding
])
def test_unmappable_bodies_give_none(data: bytes, chunks: list[tuple[int, float]],
                                     codings: list[str]) -> None:
    assert decoded_chunk_times(data, chunks, codings, max_bytes=1 << 20) is None


def test_cap_bounds_a_bomb() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))
    assert decoded_chunk_times(bomb, [(len(bomb), 1.0)], ["gzip"], max_bytes=1 << 20) is None
