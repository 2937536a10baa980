"""Undo HTTP content codings on captured bodies, bounded against decompression bombs.

RFC 9110 §8.4: ``Content-Encoding`` lists the codings in the order they were applied, so they are
undone last first (``gzip, br`` → undo ``br``, then ``gzip``). Supported: ``gzip``/``x-gzip``
(RFC 9110 §8.4.1.3, RFC 1952, multi-member), ``deflate`` (§8.4.1.2 says zlib-wrapped RFC 1950;
servers also send raw RFC 1951, so zlib is tried, then raw, as browsers and httpx do; Zeek keeps
a test for it, ``http/missing-zlib-header.zeek``), ``br``
(RFC 7932) and ``zstd`` (RFC 8878, multi-frame, skippable frames, frames without a content size;
window ≤ 8 MiB as RFC 9659 requires for HTTP). Any other coding is ``unsupported``.

Bounded: each layer is decoded incrementally (64 KiB of input at a time, output read with a
``max_length``: zlib ``decompress(data, max_length)``, brotli ``process(output_buffer_limit=)``,
zstd ``stream_reader().read(n)``), so a bomb never holds more than ``max_bytes`` plus one chunk.
A layer whose output exceeds ``max_bytes``, or ``max_ratio`` times the encoded body once at least
``RATIO_CHECK_MIN_BYTES`` came out, stops there: ``truncated``. Layers are capped at
``MAX_CODING_LAYERS``; each nested layer gets the same caps, so gzip(gzip(…)) stays bounded.

**Already decoded by the producer.** Chromium's DevTools/Playwright HAR, Firefox's HAR export and
mitmproxy's ``hardump`` store the *decoded* body but keep ``Content-Encoding: br`` in the headers
(``Body.producer_decoded`` True); packet captures give wire bytes (False); other HAR producers are
unknown (None). Producers are not consistent (mitmproxy stores the raw bytes when its own decoding
fails, see its ``corrupted_gzip_body.har``), so each layer is judged from the bytes:

1. gzip (``1f 8b``) and zstd (``28 b5 2f fd``, or a skippable frame ``5? 2a 4d 18``) have magic.
   Magic present → decode; failure → ``corrupt`` (even when the producer says it decoded: a
   decoded body does not start with gzip magic). Exception: the producer decoded and the media
   type is the archive itself (``application/gzip``: Apache serving ``.tar.gz`` with
   ``Content-Encoding: gzip``), so the bytes are the file.
2. Magic absent, or the bytes plainly are a decoded body (:func:`looks_decoded`: text, shaped
   like its media type when short, or a known file signature such as PNG or wasm) → not coded:
   ``already-decoded``. When the bytes are wire bytes (``producer_decoded`` False) the server
   mislabelled the body ("Content-Encoding gzip but body is not compressed"; real servers do
   this): warning ``body.coding.mislabelled``. With None the producer may well have decoded it,
   so no warning (one would fire on every coded entry of such a HAR). Magic absent and not
   plainly decoded → ``corrupt``, unless the producer said it decoded.
3. br and deflate have no reliable magic. Wire bytes are decoded first (falling back to rule 2
   when that fails); otherwise rule 2 is checked first, then decoding is tried, and a failure on
   bytes the producer says it decoded is ``already-decoded``, not ``corrupt``.

Library exceptions (``zlib.error``, ``brotli.error``, ``zstandard.ZstdError``) never leave this
module: they become ``corrupt`` with the library's words in ``problem``.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import brotli
import zstandard

from archcmp.diagnostics import Diagnostics
from archcmp.limits import (
    MAX_CODING_LAYERS,
    MAX_COMPRESSION_RATIO,
    MAX_DECODED_BODY_BYTES,
    RATIO_CHECK_MIN_BYTES,
)
from archcmp.model import Body, DecodedBody

__all__ = ["SUPPORTED_CODINGS", "decode_body", "looks_decoded", "parse_content_encoding"]

_IN_CHUNK: Final = 64 * 1024
"""Encoded bytes handed to a decoder at a time."""
_OUT_CHUNK: Final = 64 * 1024
"""Decoded bytes asked for at a time."""
_SAMPLE: Final = 64 * 1024
"""Bytes inspected by :func:`looks_decoded`."""
_SHAPE_FREE: Final = 64
"""Text at least this long counts as decoded whatever its first character."""

#: RFC 9659 §3: HTTP zstd decoders need not accept a Window_Size above 8 MB; larger windows are
#: also the cheapest way for a hostile frame to make the decoder allocate.
_ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024

_GZIP_MAGIC: Final = b"\x1f\x8b"  # RFC 1952 §2.3.1 ID1 ID2
_ZSTD_MAGIC: Final = 0xFD2FB528  # RFC 8878 §3.1.1 Magic_Number (little-endian)
_ZSTD_SKIPPABLE: Final = 0x184D2A50  # RFC 8878 §3.1.2, low 4 bits free
_ZEROS: Final = re.compile(rb"\x00*")


def parse_content_encoding(value: str | Iterable[str]) -> tuple[str, ...]:
    """Codings of one or more ``Content-Encoding`` field values, in header order, lowercased.

    RFC 9110 §8.4: a comma-separated list; repeated fields concatenate. ``identity`` is a no-op
    and dropped, so an empty tuple means "nothing to undo".
    """
    values = [value] if isinstance(value, str) else list(value)
    tokens = (token.strip().lower() for v in values for token in v.split(","))
    return tuple(t for t in tokens if t and t != "identity")


# --------------------------------------------------------------------------------- decoders


class _CodingError(Exception):
    """A coded stream is malformed; the message says how. Never leaves this module."""


class _Stream(Protocol):
    """One coding layer over its whole (in-memory) input, read incrementally.

    ``read(n)``: about ``n`` decoded bytes (brotli may give a little more), b"" when nothing is
    left. ``complete``: the coded stream ended properly (member, stream or frame closed).
    ``trailing``: bytes after the end of the coded stream that were ignored.
    """

    def read(self, max_length: int) -> bytes: ...

    @property
    def complete(self) -> bool: ...

    @property
    def trailing(self) -> bytes: ...


class _ZlibStream:
    """gzip members, zlib-wrapped or raw deflate through ``zlib.decompressobj`` + max_length."""

    def __init__(self, data: bytes, wbits: int, *, members: bool) -> None:
        self._data = data
        self._wbits = wbits
        self._members = members
        self._dobj = zlib.decompressobj(wbits)
        self._pos = 0  # next input offset not yet handed to zlib
        self._tail = b""  # handed to zlib, not yet consumed (its unconsumed_tail)
        self._done = False
        self.complete = False
        self.trailing = b""

    def read(self, max_length: int) -> bytes:
        while not self._done:
            if not self._tail and self._pos < len(self._data):
                self._tail = self._data[self._pos : self._pos + _IN_CHUNK]
                self._pos += len(self._tail)
            starved = not self._tail
            try:
                out = self._dobj.decompress(self._tail, max_length)
            except zlib.error as exc:
                raise _CodingError(str(exc)) from exc
            self._tail = self._dobj.unconsumed_tail
            if self._dobj.eof:
                self._end_of_stream()
            elif starved and not out:
                self._done = True  # input used up before the end of the stream
            if out:
                return out
        return b""

    def _end_of_stream(self) -> None:
        # At eof the input after the stream is in unused_data (unconsumed_tail may repeat it).
        rest = self._pos - len(self._dobj.unused_data)
        self._tail = b""
        self.complete = True
        if not self._members:
            if rest < len(self._data):
                raise _CodingError(f"{len(self._data) - rest} bytes after the end of the stream")
            self._done = True
            return
        # RFC 1952 §2.2: a gzip file is a series of members. Zero padding after the last member
        # is tolerated, as CPython's gzip module and browsers do.
        zeros = _ZEROS.match(self._data, rest)
        start = zeros.end() if zeros else rest
        if start == len(self._data):
            self._done = True
        elif self._data.startswith(_GZIP_MAGIC, start):
            self._dobj = zlib.decompressobj(self._wbits)
            self._pos = start
            self.complete = False
        else:
            self.trailing = self._data[rest:]
            self._done = True


class _BrotliStream:
    """RFC 7932 through ``brotli.Decompressor.process(data, output_buffer_limit=n)``."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._dec = brotli.Decompressor()
        self._pos = 0
        self._done = False
        self.complete = False
        self.trailing = b""

    def read(self, max_length: int) -> bytes:
        while not self._done:
            chunk = b""
            try:
                # After output_buffer_limit was hit, only empty input may follow until the
                # decoder says it can take more (brotli's Decompressor.process docstring).
                if self._dec.can_accept_more_data() and self._pos < len(self._data):
                    chunk = self._data[self._pos : self._pos + _IN_CHUNK]
                    self._pos += len(chunk)
                out: bytes = self._dec.process(chunk, output_buffer_limit=max_length)
                finished: bool = self._dec.is_finished()
            except brotli.error as exc:
                raise _CodingError(str(exc)) from exc
            if finished:
                self.complete = True
                if self._pos < len(self._data):
                    raise _CodingError("data after the end of the brotli stream")
                if not out:
                    self._done = True
            elif not chunk and not out:
                self._done = True  # input used up before the end of the stream
            if out:
                return out
        return b""


class _ZstdStream:
    """RFC 8878 frames through ``stream_reader(read_across_frames=True).read(n)``.

    The reader returns what it has when the input ends mid-frame, without an error, so
    completeness is checked by walking the frame and block headers (:func:`_zstd_whole_frames`).
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
        self._reader = decompressor.stream_reader(
            data, read_size=_IN_CHUNK, read_across_frames=True, closefd=False
        )
        self.trailing = b""

    def read(self, max_length: int) -> bytes:
        try:
            return self._reader.read(max_length)
        except zstandard.ZstdError as exc:
            raise _CodingError(str(exc)) from exc

    @property
    def complete(self) -> bool:
        return _zstd_whole_frames(self._data)


_ZSTD_DICT_ID_BYTES: Final = (0, 1, 2, 4)  # RFC 8878 §3.1.1.1.1 Dictionary_ID_Flag
_ZSTD_FCS_BYTES: Final = (0, 2, 4, 8)  # §3.1.1.1.1 Frame_Content_Size_Flag (0 → 1 if single)


def _zstd_whole_frames(data: bytes) -> bool:
    """True when ``data`` is whole zstd or skippable frames back to back (RFC 8878 §3.1)."""
    pos, end = 0, len(data)
    while pos < end:
        if pos + 8 > end:
            return False
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE:  # §3.1.2: magic, Frame_Size, user data
            pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
            continue
        if magic != _ZSTD_MAGIC:
            return False
        descriptor = data[pos + 4]  # §3.1.1.1.1 Frame_Header_Descriptor
        single_segment = bool(descriptor & 0x20)
        fcs_flag = descriptor >> 6
        pos += 5 + (0 if single_segment else 1)  # Window_Descriptor unless Single_Segment
        pos += _ZSTD_DICT_ID_BYTES[descriptor & 3]
        pos += 1 if single_segment and fcs_flag == 0 else _ZSTD_FCS_BYTES[fcs_flag]
        while True:  # §3.1.1.2 blocks: 3-byte header, Last_Block | Block_Type | Block_Size
            if pos + 3 > end:
                return False
            header = int.from_bytes(data[pos : pos + 3], "little")
            block_type = (header >> 1) & 3
            pos += 3 + (1 if block_type == 1 else header >> 3)  # RLE blocks carry one byte
            if header & 1:
                break
        if descriptor & 0x04:  # Content_Checksum_Flag: 4 bytes after the last block
            pos += 4
    return pos == end


# ------------------------------------------------------------------------------ coding table

_Sniff = Literal["magic", "absent", "unknown"]


def _sniff_gzip(data: bytes) -> _Sniff:
    return "magic" if data.startswith(_GZIP_MAGIC) else "absent"


def _sniff_zstd(data: bytes) -> _Sniff:
    if len(data) < 4:
        return "absent"
    magic = int.from_bytes(data[:4], "little")
    return "magic" if magic == _ZSTD_MAGIC or magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE else "absent"


def _sniff_none(data: bytes) -> _Sniff:
    # br has no magic; deflate's zlib header (RFC 1950 §2.2) is two bytes with a 1-in-31
    # checksum and raw deflate has none, so neither can tell "coded" from "not coded".
    return "unknown"


@dataclass(frozen=True, slots=True)
class _Coding:
    name: str
    """Canonical name: in ``DecodedBody.codings`` and warning codes (``body.<name>.corrupt``)."""
    sniff: Callable[[bytes], _Sniff]
    streams: tuple[Callable[[bytes], _Stream], ...]
    """Decoders to try in order; the first that decodes wins (deflate: zlib, then raw)."""
    archive_mimes: frozenset[str] = frozenset()
    """Media types whose decoded form is itself this coding (a ``.gz`` file)."""


_GZIP = _Coding(
    "gzip",
    _sniff_gzip,
    (lambda d: _ZlibStream(d, zlib.MAX_WBITS | 16, members=True),),
    frozenset({"application/gzip", "application/x-gzip", "application/x-tar+gzip"}),
)

#: Content coding token (RFC 9110 §8.4.1, IANA registry) → how to undo it.
_CODINGS: Final[Mapping[str, _Coding]] = {
    "gzip": _GZIP,
    "x-gzip": _GZIP,  # RFC 9110 §8.4.1.3: a recipient SHOULD treat x-gzip as gzip
    "deflate": _Coding(
        "deflate",
        _sniff_none,
        (
            lambda d: _ZlibStream(d, zlib.MAX_WBITS, members=False),
            lambda d: _ZlibStream(d, -zlib.MAX_WBITS, members=False),
        ),
    ),
    "br": _Coding("br", _sniff_none, (_BrotliStream,)),
    "zstd": _Coding("zstd", _sniff_zstd, (_ZstdStream,), frozenset({"application/zstd"})),
}

SUPPORTED_CODINGS: Final = frozenset(_CODINGS)


# ------------------------------------------------------------------------ already-decoded?

_Family = Literal["json", "markup", "text", "binary", "any"]

#: Media type → family, first match wins: ``type/`` is a prefix, ``+suffix`` a structured-syntax
#: suffix (RFC 6838 §4.2.8), anything else the exact essence. Unlisted types are "any".
_MIME_FAMILIES: Final[tuple[tuple[_Family, tuple[str, ...]], ...]] = (
    ("json", ("application/json", "+json")),
    ("markup", ("text/html", "text/xml", "application/xml", "+xml")),
    ("text", ("text/", "application/javascript", "application/x-javascript",
              "application/ecmascript", "application/x-ndjson", "application/jsonl",
              "application/x-www-form-urlencoded")),
    ("binary", ("image/", "audio/", "video/", "font/", "application/octet-stream",
                "application/wasm", "application/pdf", "application/zip", "application/protobuf",
                "application/x-protobuf", "application/grpc", "application/grpc-web")),
)
#: First non-blank character a body of the family starts with (None: any text). JSON includes
#: ``)`` for the ``)]}'`` anti-XSSI prefix Google and Angular put before JSON.
_FAMILY_START: Final[Mapping[_Family, str | None]] = {
    "json": '{["-0123456789tfn)',
    "markup": "<",
    "text": None,
    "any": None,
}

#: File signatures of formats that are served decoded (a body starting so is not gzip/br/zstd).
_FILE_MAGIC: Final = (  # PNG, JPEG, GIF, WebAssembly, WOFF, WOFF2, OpenType, PDF, ZIP, WebM
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"\x00asm", b"wOFF", b"wOF2",
    b"OTTO", b"%PDF-", b"PK\x03\x04", b"\x1a\x45\xdf\xa3",
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _mime_essence(mime_type: str | None) -> str:
    return (mime_type or "").split(";", 1)[0].strip().lower()


def _mime_family(mime_type: str | None) -> _Family:
    essence = _mime_essence(mime_type)
    for family, patterns in _MIME_FAMILIES:
        for pattern in patterns:
            if pattern.endswith("/"):
                hit = essence.startswith(pattern)
            else:
                hit = essence.endswith(pattern) if pattern[0] == "+" else essence == pattern
            if hit:
                return family
    return "any"


def _has_file_magic(data: bytes) -> bool:
    return (
        data.startswith(_FILE_MAGIC)
        or (data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI "))
        or data[4:8] == b"ftyp"  # ISO BMFF: MP4, AVIF, HEIC
    )


def _as_text(sample: bytes, *, whole: bool) -> str | None:
    """The sample as text when it is text: UTF-8 (or ≥ 90 % ASCII), no C0 controls but blanks."""
    try:
        # A cut sample may end inside a UTF-8 sequence: the incremental decoder holds it back.
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=whole)
    except UnicodeDecodeError:
        printable = sum(1 for b in sample if 0x20 <= b < 0x7F or b in b"\t\n\r")
        if printable * 10 < len(sample) * 9:
            return None
        text = sample.decode("latin-1")
    return None if _CONTROL.search(text) else text.removeprefix("\ufeff")


def looks_decoded(data: bytes, mime_type: str | None) -> bool:
    """True when ``data`` plainly is a decoded body of ``mime_type``, not coded bytes.

    Binary media types: a known file signature. Text: (a sample of) valid UTF-8, or nearly all
    ASCII, without C0 controls other than blanks. Coded bytes essentially never pass that once
    they are a few dozen bytes long, so longer text is accepted whatever its first character
    (JSONP served as ``application/json`` and JSON served as ``text/html`` are common, see
    haralyzer's ``cnn.har``); shorter text must also start the way its media type does (``{``
    or ``[`` for JSON, ``<`` for HTML/XML).
    """
    if _has_file_magic(data):
        return True
    family = _mime_family(mime_type)
    if family == "binary":
        return False
    text = _as_text(data[:_SAMPLE], whole=len(data) <= _SAMPLE)
    if text is None:
        return False
    starts = _FAMILY_START[family]
    return len(data) >= _SHAPE_FREE or starts is None or text.lstrip()[:1] in tuple(starts)


# ------------------------------------------------------------------------------ the driver


@dataclass(frozen=True, slots=True)
class _Caps:
    max_bytes: int
    max_ratio: int
    encoded_size: int


@dataclass(frozen=True, slots=True)
class _Layer:
    """What undoing one coding gave."""

    status: Literal["ok", "truncated", "corrupt"]
    data: bytes = b""
    problem: str | None = None
    code: str | None = None
    """Warning code of a cap (``body.limit.truncated`` / ``body.limit.ratio``)."""
    trailing: int = 0


def _drain(stream: _Stream, caps: _Caps, *, input_cut: bool) -> _Layer:
    out = bytearray()
    try:
        while piece := stream.read(min(_OUT_CHUNK, caps.max_bytes + 1 - len(out))):
            out += piece
            if len(out) > caps.max_bytes:
                del out[caps.max_bytes :]
                problem = f"decoded size exceeds {caps.max_bytes} bytes"
                return _Layer("truncated", bytes(out), problem, "body.limit.truncated")
            if len(out) >= RATIO_CHECK_MIN_BYTES and len(out) > caps.max_ratio * caps.encoded_size:
                problem = f"decoded/encoded ratio exceeds {caps.max_ratio}:1 (decompression bomb?)"
                return _Layer("truncated", bytes(out), problem, "body.limit.ratio")
        complete = stream.complete
    except _CodingError as exc:
        return _Layer("corrupt", problem=str(exc) or type(exc).__name__)
    if not complete and not input_cut:
        return _Layer("corrupt", problem="the coded stream ends early")
    return _Layer("ok", bytes(out), trailing=len(stream.trailing))


def _undo(coding: _Coding, data: bytes, caps: _Caps, *, input_cut: bool) -> _Layer:
    """Decode with each of the coding's decoders in turn; the first that does not fail wins."""
    problems: list[str] = []
    for make in coding.streams:
        layer = _drain(make(data), caps, input_cut=input_cut)
        if layer.status != "corrupt":
            return layer
        problems.append(layer.problem or "")
    return _Layer("corrupt", problem="; ".join(dict.fromkeys(problems)))  # deflate: zlib; raw


def decode_body(
    body: Body,
    diag: Diagnostics,
    *,
    max_bytes: int = MAX_DECODED_BODY_BYTES,
    max_ratio: int = MAX_COMPRESSION_RATIO,
    where: str | None = None,
) -> DecodedBody:
    """Undo ``body.content_encoding`` (last coding first), judging each layer from its bytes.

    Never raises for bad input: problems become the status (see :data:`archcmp.model.DecodeStatus`)
    and a counted warning in ``diag`` with ``where`` as the sample.
    """
    if body.data is None:
        return DecodedBody(data=None, status="not-captured")  # the caller counts these
    data = body.data
    encoded_size = len(data)
    declared = parse_content_encoding(body.content_encoding)

    unknown = [c for c in declared if c not in _CODINGS]
    if unknown:
        diag.warn("body.coding.unsupported", f"unsupported content coding {unknown[0]!r}",
                  sample=where)
        return DecodedBody(data=data, status="unsupported", encoded_size=encoded_size,
                           problem=f"unsupported content coding {', '.join(unknown)}")
    if len(declared) > MAX_CODING_LAYERS:
        problem = f"{len(declared)} content codings exceed the limit of {MAX_CODING_LAYERS}"
        diag.warn("body.limit.layers", problem, sample=where)
        return DecodedBody(data=data, status="unsupported", encoded_size=encoded_size,
                           problem=problem)

    caps = _Caps(max_bytes, max_ratio, encoded_size)
    producer_decoded = body.producer_decoded
    undone: list[str] = []
    cap: _Layer | None = None  # the layer where a size or ratio cap stopped decoding

    def result(status: Literal["ok", "already-decoded", "corrupt", "truncated"],
               out: bytes, problem: str | None = None) -> DecodedBody:
        return DecodedBody(data=out, status=status, codings=tuple(undone),
                           encoded_size=encoded_size, problem=problem)

    def corrupt(name: str, problem: str) -> DecodedBody:
        diag.warn(f"body.{name}.corrupt", f"{name} body cannot be decoded: {problem}",
                  sample=where)
        return result("corrupt", data, problem)

    def not_coded(name: str) -> DecodedBody:
        if producer_decoded is False:
            diag.warn("body.coding.mislabelled",
                      f"Content-Encoding {name} but body is not compressed", sample=where)
        return result("already-decoded", data)

    for token in reversed(declared):  # RFC 9110 §8.4: undo in reverse order of application
        if not data:
            break  # an empty body (HEAD, 204, 304) has nothing to undo
        coding = _CODINGS[token]
        sniff = coding.sniff(data)
        trusted = producer_decoded is True
        input_cut = cap is not None
        if sniff == "magic":
            if trusted and _mime_essence(body.mime_type) in coding.archive_mimes:
                return result("already-decoded", data)  # the body is the .gz file itself
            layer = _undo(coding, data, caps, input_cut=input_cut)
            if layer.status == "corrupt":
                return corrupt(coding.name, layer.problem or "")
        elif sniff == "unknown" and producer_decoded is False:
            # Wire bytes: they should be coded, so try that first.
            layer = _undo(coding, data, caps, input_cut=input_cut)
            if layer.status == "corrupt":
                if looks_decoded(data, body.mime_type):
                    return not_coded(coding.name)
                return corrupt(coding.name, layer.problem or "")
        elif sniff == "absent":
            if trusted or looks_decoded(data, body.mime_type):
                return not_coded(coding.name)
            return corrupt(coding.name, f"no {coding.name} magic bytes")
        elif looks_decoded(data, body.mime_type):
            return not_coded(coding.name)
        else:
            layer = _undo(coding, data, caps, input_cut=input_cut)
            if layer.status == "corrupt":
                if trusted:
                    return result("already-decoded", data)
                return corrupt(coding.name, layer.problem or "")

        undone.append(coding.name)
        data = layer.data
        producer_decoded = False  # bytes that still were coded are wire bytes, whatever was said
        if layer.trailing:
            diag.warn(f"body.{coding.name}.trailing_data",
                      f"{layer.trailing} bytes after the {coding.name} stream ignored",
                      sample=where)
        if layer.status == "truncated" and cap is None:
            cap = layer

    if cap is not None:
        diag.warn(cap.code or "body.limit.truncated", cap.problem or "", sample=where)
        return result("truncated", data, cap.problem)
    return result("ok", data)
