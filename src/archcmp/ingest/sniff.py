"""Decide what a capture file is from its first bytes, and hand back a clean byte stream.

Extensions lie (``ja4__http1.pcap`` was a ``.pcapng`` upstream, mitmproxy writes ``.zhar`` for
zlib), so only magic bytes count. At most one compression layer and one byte-order mark are
undone, lazily: :func:`open_capture` reads up to 1 KiB to decide, and the returned stream
decompresses chunk by chunk as the reader asks for more, so memory stays bounded by the chunk
size however large the inflated capture is (a decompression bomb streams; it is never held).

Tables, not if-chains: :data:`_COMPRESSIONS` (magic → codec), :data:`_BOMS` (mark → text
encoding) and :data:`_CAPTURES` (magic → format) fit the whole decision on one screen.

Errors: an unknown magic raises :class:`~archcmp.errors.UnknownFormat`, an empty file
:class:`~archcmp.errors.CaptureError`. Compressed data that turns out corrupt or cut short is
only discovered while reading, so the stream itself raises :class:`~archcmp.errors.CaptureError`
/ :class:`~archcmp.errors.TruncatedCapture` from ``read()``; ``zlib.error``, ``lzma.LZMAError``,
``OSError`` (bz2) and ``EOFError`` from the codecs never leave this module.
"""

from __future__ import annotations

import bz2
import codecs
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

from archcmp.errors import CaptureError, TruncatedCapture, UnknownFormat

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Capture", "CaptureFormat", "open_capture", "sniff_stream"]

CaptureFormat = Literal["har", "pcap", "pcapng"]

#: Bytes read to decide. JSON may start with whitespace (RFC 8259 §2 allows it before the
#: value); 1 KiB of it is more than any exporter writes, and still a trivial read.
_HEAD_BYTES = 1024

#: Compressed bytes fed to a decompressor per step, and decompressed bytes it may return per step.
_CHUNK = 64 * 1024

_JSON_WHITESPACE = b" \t\r\n"  # RFC 8259 §2: ws = space / tab / LF / CR


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """An opened capture: its format and a stream of its bytes with wrapping layers removed."""

    format: CaptureFormat
    stream: BinaryIO
    """Buffered binary stream positioned at the first byte of the HAR JSON text or pcap(ng)
    header: compression and BOM already undone, so ``read(n)`` returns n bytes unless at EOF."""
    layers: tuple[str, ...] = ()
    """What was undone, outermost first: ``("gzip",)``, ``("utf-8-bom",)``, ``("zlib",
    "utf-8-bom")``. Empty for a plain file."""


# --- magic tables ---------------------------------------------------------------------------


class _Decompressor(Protocol):
    """What bz2.BZ2Decompressor and lzma.LZMADecompressor share (zlib's differs; adapted below)."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Inflater:
    """zlib.decompressobj behind the bz2/lzma interface, so one loop drives every codec.

    zlib keeps input it could not yet use in ``unconsumed_tail`` where bz2/lzma buffer it
    internally; this adapter feeds the tail back, so callers only see ``needs_input``.
    """

    def __init__(self, wbits: int) -> None:
        self._obj = zlib.decompressobj(wbits)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return self._obj.eof

    @property
    def unused_data(self) -> bytes:
        return self._obj.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._tail and not self._obj.eof

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._obj.decompress(self._tail + data, max(max_length, 0))
        self._tail = self._obj.unconsumed_tail
        return out


def _is_zlib_header(head: bytes) -> bool:
    """RFC 1950 §2.2: CM = 8 (deflate), CINFO ≤ 7, no preset dictionary, and the 16-bit header
    a multiple of 31 (FCHECK). mitmproxy writes ``.zhar`` with ``zlib.compress(har, 9)``
    (``78 da``); the check keeps a random first byte 0x78 from passing."""
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0


_Magic = bytes | Callable[[bytes], bool]

# (name, magic or header predicate, decompressor factory); no two magics overlap.
# gzip: RFC 1952 §2.3.1 ID1 ID2 = 1f 8b (wbits 31 selects zlib's gzip wrapper). bzip2: "BZh"
# then the block size digit. xz: the six-byte stream header magic (xz file format §2.1.1.1).
_COMPRESSIONS: tuple[tuple[str, _Magic, Callable[[], _Decompressor]], ...] = (
    ("gzip", b"\x1f\x8b", lambda: _Inflater(31)),
    ("zlib", _is_zlib_header, lambda: _Inflater(15)),
    ("bzip2", b"BZh", bz2.BZ2Decompressor),
    ("xz", b"\xfd7zXZ\x00", lzma.LZMADecompressor),
)

#: Wrappers recognised only to say what to do. zstd: RFC 8878 §3.1.1 magic 0xFD2FB528 (LE).
_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data; decompress it first (zstd -d)"),
    (b"PK\x03\x04", "a ZIP archive; extract the capture from it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract the capture from it first"),
)

# Byte-order marks (Unicode §23.8). Longest first: the UTF-32-LE mark starts with UTF-16-LE's.
# Windows tools (PowerShell's Out-File, Notepad) write BOMs; HAR 1.2 asks for UTF-8 without one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# libpcap file header magic (pcap(5) / draft-ietf-opsawg-pcap §4): a1b2c3d4 µs timestamps,
# a1b23c4d ns timestamps, each in either byte order. pcapng: the Section Header Block type
# 0x0A0D0D0A (draft-ietf-opsawg-pcapng §4.1), a palindrome so byte order does not matter.
_CAPTURES: tuple[tuple[bytes, CaptureFormat], ...] = (
    (b"\xa1\xb2\xc3\xd4", "pcap"),
    (b"\xd4\xc3\xb2\xa1", "pcap"),
    (b"\xa1\xb2\x3c\x4d", "pcap"),
    (b"\x4d\x3c\xb2\xa1", "pcap"),
    (b"\x0a\x0d\x0d\x0a", "pcapng"),
)

_SUPPORTED = "HAR (JSON), pcap or pcapng, optionally gzip, zlib, bzip2 or xz compressed"


# --- public API -----------------------------------------------------------------------------


@contextmanager
def open_capture(path: Path) -> Iterator[Capture]:
    """Open ``path``, detect its format and yield a :class:`Capture`; closes the file on exit.

    Raises :class:`~archcmp.errors.UnknownFormat` when the bytes match no reader and
    :class:`~archcmp.errors.CaptureError` when the file (or its decompressed content) is empty.
    Errors carry ``path``.
    """
    with open(path, "rb") as raw:
        yield sniff_stream(raw, name=str(path))


def sniff_stream(stream: BinaryIO, *, name: str | None = None) -> Capture:
    """Detect the format of ``stream`` (read from its current position) and wrap it.

    The caller keeps ownership of ``stream`` and closes it; the returned ``Capture.stream``
    reads from it. A seekable plain stream (no compression, no BOM or a UTF-8 one) is
    repositioned and returned as is: no copy, no wrapper, no per-read overhead.
    """
    head = _read_up_to(stream, _HEAD_BYTES)
    if not head:
        raise CaptureError("the file is empty", path=name)
    layers: list[str] = []
    rest: Iterator[bytes] | None = None  # None: the rest is ``stream`` itself, after ``head``
    codec = _compression(head)
    if codec is not None:
        codec_name, magic, factory = codec
        layers.append(codec_name)
        inflated = _decompress(_replay(head, stream), codec_name, magic, factory, name)
        head, rest = _peek(inflated)
        if not head:
            raise CaptureError(f"the {codec_name} data decompresses to nothing", path=name)
        if _compression(head) is not None:
            raise UnknownFormat(
                f"{codec_name} data holding further compressed data; archcmp undoes one layer",
                path=name,
            )
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            layers.append(f"{encoding}-bom")
            head = head[len(bom) :]
            if encoding != "utf-8":
                # JSON exchanged between systems must be UTF-8 (RFC 8259 §8.1): transcode.
                text = _replay(head, rest if rest is not None else stream)
                head, rest = _peek(_transcode(text, encoding, name))
            break
    fmt = _format(head, name)
    if rest is None and stream.seekable():
        stream.seek(-len(head), io.SEEK_CUR)
        return Capture(format=fmt, stream=stream, layers=tuple(layers))
    chunks = _replay(head, rest if rest is not None else stream)
    return Capture(format=fmt, stream=_buffered(chunks), layers=tuple(layers))


# --- detection ------------------------------------------------------------------------------


def _compression(head: bytes) -> tuple[str, bytes | None, Callable[[], _Decompressor]] | None:
    """The codec whose magic starts ``head``: (name, magic when it has one, factory)."""
    for codec_name, magic, factory in _COMPRESSIONS:
        if callable(magic):
            if magic(head):
                return codec_name, None, factory
        elif head.startswith(magic):
            return codec_name, magic, factory
    return None


def _format(head: bytes, name: str | None) -> CaptureFormat:
    """The capture format from the first bytes after compression and BOM are undone."""
    for magic, fmt in _CAPTURES:
        if head.startswith(magic):
            return fmt
    text = head.lstrip(_JSON_WHITESPACE)
    if text.startswith(b"{"):
        return "har"  # the HAR reader reports JSON that is not a HAR (no 'log') itself
    if text.startswith(b"["):
        raise UnknownFormat(
            "JSON whose top level is an array; a HAR file is one object with a 'log' member",
            path=name,
        )
    for magic, what in _UNSUPPORTED:
        if head.startswith(magic):
            raise UnknownFormat(f"the file is {what}", path=name)
    if not text:
        raise CaptureError("the file holds nothing but whitespace", path=name)
    raise UnknownFormat(
        f"unrecognised file type (first bytes {head[:8].hex(' ')}); archcmp reads {_SUPPORTED}",
        path=name,
    )


# --- streams --------------------------------------------------------------------------------


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at EOF (raw and socket streams may return short reads)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The rest of ``stream`` in chunks of at most :data:`_CHUNK` bytes; never an empty one."""
    while data := stream.read(_CHUNK):
        yield data


def _replay(head: bytes, rest: Iterator[bytes] | BinaryIO) -> Iterator[bytes]:
    """``head`` (already read to decide) followed by the rest, so nothing is lost to sniffing."""
    if head:
        yield head
    yield from rest if isinstance(rest, Iterator) else _chunks(rest)


def _peek(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """At least :data:`_HEAD_BYTES` from ``chunks`` (fewer only at the end) and the rest."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= _HEAD_BYTES:
            break
    return b"".join(parts), chunks


def _decompress(
    source: Iterator[bytes],
    codec: str,
    magic: bytes | None,
    factory: Callable[[], _Decompressor],
    name: str | None,
) -> Iterator[bytes]:
    """Decompressed chunks of ``source``, each at most :data:`_CHUNK` bytes.

    What may follow the end of a compressed stream: another stream with the same magic (RFC 1952
    §2.2 "a gzip file consists of a series of members"; pbzip2 and xz write concatenated streams
    the same way) or NUL padding (tape blocking; xz §2.2 stream padding), both handled as gzip(1)
    and xz(1) do. Anything else is an error rather than silently dropped.
    """
    pending = b""
    try:
        while True:  # one pass per member / stream
            decompressor = factory()
            exhausted = False
            while not decompressor.eof:
                if decompressor.needs_input and not pending:
                    pending = next(source, b"")
                    exhausted = not pending
                out = decompressor.decompress(pending, _CHUNK)
                pending = b""
                if out:
                    yield out
                elif exhausted:
                    raise TruncatedCapture(
                        f"the {codec} data ends before its end marker (file cut short?)",
                        path=name,
                    )
            pending = decompressor.unused_data or next(source, b"")
            if magic is not None and pending.startswith(magic):
                continue
            while pending:
                if pending.strip(b"\x00"):
                    raise CaptureError(f"data after the end of the {codec} stream", path=name)
                pending = next(source, b"")
            return
    except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:  # bz2 raises OSError
        raise CaptureError(f"corrupt {codec} data: {exc}", path=name) from exc


def _transcode(source: Iterator[bytes], encoding: str, name: str | None) -> Iterator[bytes]:
    """UTF-16/32 text re-encoded as UTF-8, chunk by chunk (the incremental decoder carries code
    units split across chunk boundaries)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in source:
            if text := decoder.decode(chunk):
                yield text.encode("utf-8", "surrogatepass")
        if tail := decoder.decode(b"", final=True):
            yield tail.encode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise CaptureError(f"not valid {encoding} text: {exc.reason}", path=name) from exc


class _ChunkStream(io.RawIOBase):
    """A raw, read-only stream over an iterator of byte chunks.

    Wrapped in :class:`io.BufferedReader` by :func:`_buffered`, it gives readers ``read(n)``
    that returns n bytes unless at EOF (what struct-based pcap readers need), while at most one
    chunk is held at a time.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._current = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        size = min(len(target), len(self._current))
        target[:size] = self._current[:size]
        self._current = self._current[size:]
        return size


def _buffered(chunks: Iterator[bytes]) -> BinaryIO:
    return io.BufferedReader(_ChunkStream(chunks), buffer_size=_CHUNK)
