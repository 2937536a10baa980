"""When did each decoded byte arrive? Arrival times of encoded pieces carried through codings.

A packet capture says when each piece of a response body arrived, but a streamed body is
usually compressed (``br`` SSE is common), so an event's time is the arrival of the *encoded*
bytes that completed it. Feeding the pieces one by one through incremental decoders gives, for
each piece, how much decoded output existed once it was in: the decoded offsets at which times
change. Layers are undone in reverse header order, as in :mod:`archcmp.decode.content`.

This only maps times; the body itself is decoded (and capped, and checked) by
``decode_body``. Any coding problem here just means "no per-event times" (None).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import brotli
import zstandard

__all__ = ["decoded_chunk_times"]

Piece = tuple[bytes, float]


class _Failed(Exception):
    """A layer could not be decoded incrementally; never leaves this module."""


def _zlib_layer(wbits: int) -> Callable[[bytes], bytes]:
    state = {"dobj": zlib.decompressobj(wbits)}

    def feed(data: bytes) -> bytes:
        out = bytearray()
        while data:
            dobj = state["dobj"]
            try:
                out += dobj.decompress(data)
            except zlib.error as exc:
                raise _Failed(str(exc)) from exc
            if not dobj.eof:
                break
            # RFC 1952 §2.2: another gzip member may follow.
            data = dobj.unused_data
            if wbits & 16 and data.startswith(b"\x1f\x8b"):
                state["dobj"] = zlib.decompressobj(wbits)
            else:
                break
        return bytes(out)

    return feed


def _brotli_layer() -> Callable[[bytes], bytes]:
    decoder = brotli.Decompressor()

    def feed(data: bytes) -> bytes:
        try:
            out: bytes = decoder.process(data)
        except brotli.error as exc:
            raise _Failed(str(exc)) from exc
        return out

    return feed


def _zstd_layer() -> Callable[[bytes], bytes]:
    state = {"dobj": zstandard.ZstdDecompressor().decompressobj()}

    def feed(data: bytes) -> bytes:
        out = bytearray()
        while data:
            dobj = state["dobj"]
            try:
                out += dobj.decompress(data)
            except zstandard.ZstdError as exc:
                raise _Failed(str(exc)) from exc
            if not dobj.eof:
                break
            data = dobj.unused_data  # RFC 8878 §3.1: frames follow one another
            state["dobj"] = zstandard.ZstdDecompressor().decompressobj()
        return bytes(out)

    return feed


_LAYERS: dict[str, Callable[[], Callable[[bytes], bytes]]] = {
    "gzip": lambda: _zlib_layer(zlib.MAX_WBITS | 16),
    "x-gzip": lambda: _zlib_layer(zlib.MAX_WBITS | 16),
    "deflate": lambda: _zlib_layer(zlib.MAX_WBITS),
    "br": _brotli_layer,
    "zstd": _zstd_layer,
}


def decoded_chunk_times(
    data: bytes,
    chunks: Sequence[tuple[int, float]],
    codings: Sequence[str],
    *,
    max_bytes: int,
) -> list[tuple[int, float]] | None:
    """``(end offset in the decoded body, arrival ms)`` per piece, or None if not mappable.

    ``chunks`` are ``(end offset in data, arrival ms)`` as :class:`archcmp.model.Body` keeps
    them; ``codings`` in header order. Pieces that decode to nothing merge into the next.
    """
    pieces: list[Piece] = []
    start = 0
    for end, time_ms in chunks:
        if end < start or end > len(data):
            return None
        pieces.append((data[start:end], time_ms))
        start = end
    if start != len(data):
        return None
    try:
        for coding in reversed([c for c in codings if c != "identity"]):
            make = _LAYERS.get(coding)
            if make is None:
                return None
            feed = make()
            out: list[Piece] = []
            total = 0
            for piece, time_ms in pieces:
                decoded = feed(piece)
                total += len(decoded)
                if total > max_bytes:
                    return None
                out.append((decoded, time_ms))
            pieces = out
    except _Failed:
        return None
    times: list[tuple[int, float]] = []
    offset = 0
    for piece, time_ms in pieces:
        if piece:
            offset += len(piece)
            times.append((offset, time_ms))
    return times
