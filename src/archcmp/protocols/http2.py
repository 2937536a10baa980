"""HTTP/2 from the wire: a passive, sans-IO observer of both directions of one connection.

Bytes of each direction go in with their capture time; :mod:`archcmp.protocols.events` come out.
``hyperframe`` parses frames and two ``hpack.Decoder`` objects, one per direction, keep the two
HPACK contexts (RFC 9113 §4.3: each endpoint has its own decoder for what its peer sends).

Why not ``h2.H2Connection``: it is one *endpoint*. It receives only the peer's frames, produces
its own side by *encoding* (``send_headers``), so a captured client header block can never pass
through its decoder; it answers SETTINGS and PINGs, enforces its own flow-control windows and
raises on the first violation. Two instances (one per role) cannot be joined either: the client
role rejects responses on streams it did not open itself, and SETTINGS_HEADER_TABLE_SIZE sent by
one direction must bound the *other* direction's decoder at the moment the ACK passes by. An
observer needs both directions in one state machine that records instead of refusing, so this
module drives hyperframe and hpack itself, as ``http3.py`` drives pylsqpack.

Event contract, as ``http1.py``'s: per stream, ``RequestHeaders``, ``RequestData`` (any number),
``RequestEnd``; ``InformationalResponse`` (any), ``ResponseHeaders``, ``ResponseData`` (any),
``ResponseEnd``. END_STREAM always gives the End event, also when it is on the HEADERS frame
(which then says ``end_stream=True`` too); trailers ride on the End event (§8.1). A half that
cannot complete ends in one ``StreamReset`` instead. Headers events carry the time of the
HEADERS (or PUSH_PROMISE) frame that began the block, DATA events the time of their frame. A
pushed request (PUSH_PROMISE, RFC 9113 §8.4) is a ``RequestHeaders`` + ``RequestEnd`` on the
promised, even, stream id; its response follows on that stream.

Errors come in two weights (RFC 9113 §5.4 names the endpoint's reaction; an observer records):

* A frame that breaks the decoding state — framing lost, an HPACK block that cannot be decoded,
  an interrupted CONTINUATION sequence, a cap exceeded — is a :class:`ProtocolError` plus a
  counted warning; every open stream gets a ``StreamReset`` carrying the RFC 9113 §7 code an
  endpoint would use, and the connection is no longer decoded.
* A frame whose damage stays local (a bad PING, WINDOW_UPDATE, PRIORITY or RST_STREAM, DATA on a
  stream that is not open) is skipped with a counted warning. Frames that arrive on a stream
  after it was reset are expected (§5.1, "closed"): dropped without a warning but counted in
  :attr:`H2Connection.late_frames`; their header blocks are still decompressed so HPACK stays
  in step (§4.3).

Caps (``MAX_*`` below; they belong in :mod:`archcmp.limits` once it can take them) bound the
header list, the compressed block, CONTINUATIONs per block, the HPACK table, the overall HPACK
expansion ratio (the limits module's bomb ratio) and the mid-stream sync window; frames are
bounded by the acknowledged SETTINGS_MAX_FRAME_SIZE before their payload is buffered (§4.2).

Warning codes: ``h2.preface.missing``, ``h2.preface.no_settings``, ``h2.sync.skipped``,
``h2.sync.failed``, ``h2.frame.too_large``, ``h2.frame.corrupt``, ``h2.frame.malformed``,
``h2.frame.truncated``, ``h2.continuation.interleaved``, ``h2.continuation.unexpected``,
``h2.continuation.truncated``, ``h2.hpack.corrupt``, ``h2.hpack.table_size``,
``h2.limit.header_list``, ``h2.limit.header_block``, ``h2.limit.continuations``,
``h2.limit.hpack_table``, ``h2.limit.hpack_ratio``, ``h2.header.non_utf8``,
``h2.header.bad_status``, ``h2.stream.idle``, ``h2.stream.closed``, ``h2.stream.bad_id``,
``h2.stream.before_capture``, ``h2.stream.data_before_headers``,
``h2.stream.trailers_without_end``, ``h2.stream.informational_end``, ``h2.push.from_client``,
``h2.settings.invalid``, ``h2.settings.unmatched_ack``, ``h2.goaway.unprocessed``, ``h2.tcp.gap``,
``h2.upgrade.bad_settings``.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from h2.errors import ErrorCodes
from hpack import Decoder
from hpack.exceptions import HPACKError, InvalidTableSizeError, OversizedHeaderListError
from hyperframe.exceptions import HyperframeError, InvalidFrameError
from hyperframe.frame import (
    AltSvcFrame,
    ContinuationFrame,
    DataFrame,
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
)

from archcmp.diagnostics import Diagnostics
from archcmp.limits import MAX_COMPRESSION_RATIO, RATIO_CHECK_MIN_BYTES
from archcmp.protocols.events import (
    ConnectionClosed,
    HttpEvent,
    InformationalResponse,
    ProtocolError,
    RequestData,
    RequestEnd,
    RequestHeaders,
    ResponseData,
    ResponseEnd,
    ResponseHeaders,
    StreamReset,
)

__all__ = [
    "MAX_CONTINUATION_FRAMES",
    "MAX_HEADER_BLOCK_BYTES",
    "MAX_HEADER_LIST_BYTES",
    "MAX_HPACK_TABLE_BYTES",
    "MAX_SYNC_BYTES",
    "PREFACE",
    "GoAway",
    "H2Connection",
]

Headers = tuple[tuple[str, str], ...]

#: RFC 9113 §3.4: the client connection preface, before the client's first SETTINGS frame.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Caps (they belong in archcmp.limits, which this module may not edit yet).
#: Decoded header list per block, counted as RFC 7541 §4.1 does (name + value + 32). Go's
#: net/http accepts 1 MiB (DefaultMaxHeaderBytes), the most of any mainstream endpoint (Chrome
#: advertises 256 KiB, nghttp2 64 KiB); an observer must accept what an endpoint accepted.
MAX_HEADER_LIST_BYTES = 1024 * 1024
#: Compressed header block (HEADERS/PUSH_PROMISE + CONTINUATIONs). Every field decodes to at
#: least its encoded size (RFC 7541 §4.1 adds 32 per field; literals are 1:1 and encoders pick
#: Huffman only when shorter), so a block above the decoded cap is abuse.
MAX_HEADER_BLOCK_BYTES = 1024 * 1024
#: CONTINUATION frames per block (the CONTINUATION flood, CVE-2024-27316/-28182). nghttp2 ≥ 1.61
#: allows 8; an observer is more lenient, as it must not reject what some endpoint accepted.
MAX_CONTINUATION_FRAMES = 256
#: HPACK dynamic table size an observer will track: 16x the 64 KiB that Chrome and Firefox
#: advertise in SETTINGS_HEADER_TABLE_SIZE (the default is 4 KiB, RFC 9113 §6.5.2).
MAX_HPACK_TABLE_BYTES = 1024 * 1024
#: Bytes scanned for a frame boundary when a connection is joined mid-stream.
MAX_SYNC_BYTES = 64 * 1024

_DEFAULT_MAX_FRAME = 1 << 14  # RFC 9113 §4.2 / §6.5.2: initial SETTINGS_MAX_FRAME_SIZE
_LARGEST_FRAME = (1 << 24) - 1  # RFC 9113 §4.1: 24-bit length
_DEFAULT_TABLE = 4096  # RFC 9113 §6.5.2: initial SETTINGS_HEADER_TABLE_SIZE
_SYNC_CHAIN = 3  # consecutive plausible frame headers that prove a boundary
_PADDED, _PRIORITY_FLAG = 0x08, 0x20
_HEADER_TABLE_SIZE = SettingsFrame.HEADER_TABLE_SIZE
_MAX_FRAME_SIZE = SettingsFrame.MAX_FRAME_SIZE

#: RFC 9113 §6.5.2: ranges of the defined settings; a value outside is a connection error.
_SETTING_RANGES: dict[int, tuple[int, int]] = {
    SettingsFrame.ENABLE_PUSH: (0, 1),
    SettingsFrame.INITIAL_WINDOW_SIZE: (0, (1 << 31) - 1),
    SettingsFrame.MAX_FRAME_SIZE: (_DEFAULT_MAX_FRAME, _LARGEST_FRAME),
    SettingsFrame.ENABLE_CONNECT_PROTOCOL: (0, 1),  # RFC 8441 §3
}

# Stream phases of the response half.
_AWAIT, _BODY, _DONE = 0, 1, 2
# Decoding states of one direction.
_MAGIC, _FIRST, _SYNC, _FRAMES = "magic", "first", "sync", "frames"


@dataclass(frozen=True, slots=True, kw_only=True)
class GoAway:
    """The last GOAWAY seen (RFC 9113 §6.8)."""

    by_client: bool
    last_stream_id: int
    error_code: int
    debug_data: bytes
    """Opaque diagnostic bytes, at most 256 kept."""


class _Malformed(Exception):
    """Internal: one frame cannot be parsed; the caller decides how grave that is."""

    def __init__(self, message: str, error: ErrorCodes) -> None:
        super().__init__(message)
        self.error = error


class _Fatal(Exception):
    """Internal: the connection can no longer be decoded. Never leaves this module."""

    def __init__(self, code: str, message: str, error: ErrorCodes) -> None:
        super().__init__(message)
        self.code, self.message, self.error = code, message, error


@dataclass(slots=True)
class _Block:
    """A header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION (§4.3)."""

    stream: int
    promised: int
    end_stream: bool
    ts_ns: int
    parts: list[bytes]
    size: int
    frames: int = 1


@dataclass(slots=True, eq=False)
class _Side:
    """What one peer sends: its byte stream, its HPACK context and the SETTINGS it sent."""

    from_client: bool
    state: str
    decoder: Decoder = field(default_factory=lambda: Decoder(MAX_HEADER_LIST_BYTES))
    buf: bytearray = field(default_factory=bytearray)
    scan: int = 0
    """While hunting for a frame boundary: the first offset not yet ruled out."""
    block: _Block | None = None
    sent: dict[int, int] = field(default_factory=dict)
    """Every SETTINGS value this peer sent, the last one per identifier."""
    unacked: deque[dict[int, int]] = field(default_factory=deque)
    """SETTINGS frames this peer sent that the other has not acknowledged yet."""
    max_frame: int = _DEFAULT_MAX_FRAME
    """Largest payload this peer may send: the other's acknowledged SETTINGS_MAX_FRAME_SIZE."""
    table_limit: int = _DEFAULT_TABLE
    """The other's acknowledged SETTINGS_HEADER_TABLE_SIZE, before our cap."""


@dataclass(slots=True)
class _Stream:
    request_open: bool = True
    response: int = _AWAIT


@dataclass(frozen=True, slots=True)
class _Kind:
    """One frame type: how to recognise a sane header, and what to do with the frame."""

    name: str
    flags: int
    """Defined flag bits; others must be ignored (§4.1) but make a sync candidate implausible."""
    stream: bool | None
    """True: needs a stream id; False: must be on stream 0; None: either."""
    handler: Callable[[H2Connection, _Side, Any, int], None]
    min_length: int = 0
    fixed: int | None = None
    unit: int = 1
    critical: bool = False
    """Malformed → connection error: it would desynchronise HPACK or the settings."""
    padded_prefix: int | None = None
    """For padded types: bytes between Pad Length and the content (priority added if flagged)."""
    sync: bool = True


def _where(where: str, detail: str) -> str:
    return f"{where} {detail}" if where else detail


class H2Connection:
    """One HTTP/2 connection seen from the wire: feed both directions, collect events.

    ``upgrade_request``: the HTTP/1.1 request that carried ``Upgrade: h2c`` (RFC 7540 §3.2;
    RFC 9113 §3.1 retired the mechanism, captures still have it). It becomes stream 1, whose
    request half is already closed; its ``HTTP2-Settings`` are the client's first SETTINGS,
    acknowledged by the 101 (RFC 7540 §3.2.1). After the 101 the client still sends the preface
    (RFC 7540 §3.5) and the server starts with SETTINGS, so both directions are checked as for
    prior knowledge.
    """

    def __init__(self, diag: Diagnostics, *, where: str = "",
                 upgrade_request: RequestHeaders | None = None) -> None:
        self._diag = diag
        self._where = where
        self._client = _Side(from_client=True, state=_MAGIC)
        self._server = _Side(from_client=False, state=_FIRST)
        self._streams: dict[int, _Stream] = {}
        self._reset: set[int] = set()
        self._high = {True: 0, False: 0}
        """Highest stream id opened so far, by whether the client initiated it (§5.1.1)."""
        self._counts: Counter[str] = Counter()
        self._late: Counter[str] = Counter()
        self._out: list[HttpEvent] = []
        self._midstream = False
        self._dead = False
        self._closed = False
        self._goaway: GoAway | None = None
        self._alt_svc: list[tuple[int, str, str]] = []
        self._origins: list[str] = []
        self._hpack_in = 0
        self._hpack_out = 0
        if upgrade_request is not None:
            self._upgrade(upgrade_request)

    # --- public ----------------------------------------------------------------------------

    def feed(self, from_client: bool, data: bytes, ts_ns: int) -> list[HttpEvent]:
        """Bytes of one direction, in order, with their capture time."""
        if data and not self._dead:
            side = self._client if from_client else self._server
            side.buf += data
            self._guarded(side, ts_ns, final=False)
        return self._take()

    def gap(self, from_client: bool, missing: int, ts_ns: int) -> list[HttpEvent]:
        """A TCP hole: frame boundaries and the HPACK context are lost, so decoding stops.

        ``missing`` 0 before any byte of that side means the capture joined the connection
        mid-stream (the reassembler's convention): no preface is expected then."""
        side = self._client if from_client else self._server
        if missing <= 0:
            if side.state in (_MAGIC, _FIRST) and not side.buf and not self._dead:
                self._join_midstream()
            return self._take()
        if not self._dead:
            direction = "client" if from_client else "server"
            self._diag.warn("h2.tcp.gap", "a TCP gap cut an HTTP/2 connection; its HPACK state "
                            "is lost, so the rest of it is not decoded",
                            sample=_where(self._where, f"{direction} {missing} bytes"))
            self._abort(ts_ns, ErrorCodes.CANCEL)
        return self._take()

    def close(self, ts_ns: int, *, reset: bool = False,
              reason: str | None = None) -> list[HttpEvent]:
        """The connection ended: ``reason`` ``fin`` (default), ``rst`` (default when ``reset``)
        or ``capture-end``, as for :meth:`Http1Connection.close`.

        Streams still open are reset (``CANCEL``) unless the capture merely ended (then the
        assembler reports them incomplete); a GOAWAY seen earlier makes the reason
        ``goaway:<last_stream_id>``.
        """
        if self._closed:
            return self._take()
        self._closed = True
        reason = reason or ("rst" if reset else "fin")
        for side in (self._client, self._server):
            if side.buf and not self._dead:
                self._guarded(side, ts_ns, final=True)
        if not self._dead:
            for side in (self._client, self._server):
                self._truncated(side)
            if reason != "capture-end":
                self._abort(ts_ns, ErrorCodes.CANCEL)
        self._dead = True
        if self._goaway is not None:
            reason = f"goaway:{self._goaway.last_stream_id}"
        self._out.append(ConnectionClosed(ts_ns=ts_ns, reason=reason))
        return self._take()

    @property
    def frame_counts(self) -> Mapping[str, int]:
        """Frames decoded, both directions, by type name (``UNKNOWN(0xNN)`` for others)."""
        return dict(self._counts)

    @property
    def late_frames(self) -> Mapping[str, int]:
        """DATA and header blocks that arrived on a stream after it was reset, by type: in
        flight when the reset crossed them (RFC 9113 §5.1, "closed"), so dropped, not warned."""
        return dict(self._late)

    @property
    def settings(self) -> tuple[Mapping[int, int], Mapping[int, int]]:
        """SETTINGS values each side sent (client, server), the last one per identifier."""
        return dict(self._client.sent), dict(self._server.sent)

    @property
    def goaway(self) -> GoAway | None:
        return self._goaway

    @property
    def alt_svc(self) -> tuple[tuple[int, str, str], ...]:
        """ALTSVC frames (RFC 7838 §4): (stream, origin, Alt-Svc field value)."""
        return tuple(self._alt_svc)

    @property
    def origins(self) -> tuple[str, ...]:
        """Origins the server claimed in ORIGIN frames (RFC 8336 §2)."""
        return tuple(self._origins)

    # --- driving ---------------------------------------------------------------------------

    def _take(self) -> list[HttpEvent]:
        out, self._out = self._out, []
        return out

    def _guarded(self, side: _Side, ts_ns: int, *, final: bool) -> None:
        try:
            while not self._dead and _STEPS[side.state](self, side, ts_ns, final):
                pass
        except _Fatal as exc:
            self._diag.warn(exc.code, exc.message, sample=self._where or None)
            self._out.append(ProtocolError(ts_ns=ts_ns, code=exc.code, message=exc.message))
            self._abort(ts_ns, exc.error)

    def _abort(self, ts_ns: int, error: ErrorCodes) -> None:
        """Stop decoding; every stream still open ends in a reset."""
        for sid in sorted(self._streams):
            self._out.append(StreamReset(stream=sid, ts_ns=ts_ns, error_code=int(error)))
        self._reset.update(self._streams)
        self._streams.clear()
        self._dead = True
        self._client.buf.clear()
        self._server.buf.clear()

    def _truncated(self, side: _Side) -> None:
        direction = "client" if side.from_client else "server"
        if side.buf:
            self._diag.warn("h2.frame.truncated", "an HTTP/2 connection ended inside a frame",
                            sample=_where(self._where, f"{direction} {len(side.buf)} bytes"))
        if side.block is not None:
            self._diag.warn("h2.continuation.truncated", "an HTTP/2 connection ended inside a "
                            "header block",
                            sample=_where(self._where, f"stream {side.block.stream}"))

    def _step_magic(self, side: _Side, ts_ns: int, final: bool) -> bool:
        """RFC 9113 §3.4: the client's first 24 bytes are the fixed preface."""
        n = min(len(side.buf), len(PREFACE))
        if side.buf[:n] != PREFACE[:n]:
            self._join_midstream()
            side.state = _SYNC
            return True
        if n < len(PREFACE):
            return False
        del side.buf[: len(PREFACE)]
        side.state = _FIRST
        return True

    def _step_first(self, side: _Side, ts_ns: int, final: bool) -> bool:
        """RFC 9113 §3.4: each side's first frame is SETTINGS (the server's is its preface)."""
        if len(side.buf) < 9:
            return False
        if _plausible(side.buf, 0) and side.buf[3] == SettingsFrame.type:
            side.state = _FRAMES
            return True
        if not self._midstream:
            self._diag.warn("h2.preface.no_settings", "an HTTP/2 peer did not start with "
                            "SETTINGS", sample=_where(self._where, _dir(side)))
        side.state = _SYNC
        return True

    def _step_sync(self, side: _Side, ts_ns: int, final: bool) -> bool:
        """Hunt for a frame boundary: the first offset where frame headers chain plausibly."""
        offset = side.scan
        while True:
            if offset > MAX_SYNC_BYTES or (final and offset >= len(side.buf)):
                raise _Fatal("h2.sync.failed", f"no HTTP/2 frame boundary found in "
                             f"{offset} bytes", ErrorCodes.PROTOCOL_ERROR)
            verdict = _chain(side.buf, offset, final)
            if verdict is None:
                side.scan = offset
                return False
            if verdict:
                break
            offset += 1
        if offset:
            self._diag.warn("h2.sync.skipped", "bytes before the first HTTP/2 frame boundary "
                            "were skipped",
                            sample=_where(self._where, f"{_dir(side)} {offset} bytes"))
        del side.buf[:offset]
        side.scan = 0
        side.state = _FRAMES
        return True

    def _step_frame(self, side: _Side, ts_ns: int, final: bool) -> bool:
        """RFC 9113 §4.1: 9-byte header (length, type, flags, R + stream id), then the payload."""
        buf = side.buf
        if len(buf) < 9:
            return False
        length = int.from_bytes(buf[:3], "big")
        if length > side.max_frame:  # §4.2: FRAME_SIZE_ERROR; checked before buffering
            raise _Fatal("h2.frame.too_large", f"a {_name(buf[3])} frame of {length} bytes "
                         f"exceeds SETTINGS_MAX_FRAME_SIZE {side.max_frame}",
                         ErrorCodes.FRAME_SIZE_ERROR)
        if len(buf) < 9 + length:
            return False
        header, body = bytes(buf[:9]), bytes(buf[9 : 9 + length])
        del buf[: 9 + length]
        self._frame(side, header, body, ts_ns)
        return True

    def _join_midstream(self) -> None:
        """No preface: the capture began mid-connection, so the settings and the dynamic
        tables are unknown. Track generously; a reference to an entry older than the capture
        fails loudly as ``h2.hpack.corrupt`` (entries are added at the front, RFC 7541 §2.3.3,
        so recent ones keep their indices)."""
        if self._midstream:
            return
        self._midstream = True
        self._diag.warn("h2.preface.missing", "an HTTP/2 connection had no client preface "
                        "(joined mid-stream); header blocks may be undecodable",
                        sample=self._where or None)
        for side in (self._client, self._server):
            side.max_frame = _LARGEST_FRAME
            side.table_limit = MAX_HPACK_TABLE_BYTES
            side.decoder.max_allowed_table_size = MAX_HPACK_TABLE_BYTES
            side.decoder.header_table_size = MAX_HPACK_TABLE_BYTES
            if side.state in (_MAGIC, _FIRST):
                side.state = _SYNC

    # --- frames ----------------------------------------------------------------------------

    def _frame(self, side: _Side, header: bytes, body: bytes, ts_ns: int) -> None:
        ftype = header[3]
        stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
        kind = _KINDS.get(ftype)
        self._counts[_name(ftype)] += 1
        block = side.block
        if block is not None and (ftype != ContinuationFrame.type or stream_id != block.stream):
            # §6.10: a header block is contiguous; anything else in between is PROTOCOL_ERROR.
            raise _Fatal("h2.continuation.interleaved", f"a {_name(ftype)} frame interrupted "
                         f"the header block of stream {block.stream}", ErrorCodes.PROTOCOL_ERROR)
        if kind is None:
            return  # §5.5: unknown frame types are ignored (they are counted above)
        try:
            frame = _parse(kind, header, body)
        except _Malformed as exc:
            message = f"malformed {kind.name} frame: {exc.args[0]}"
            if kind.critical:
                raise _Fatal("h2.frame.corrupt", message, exc.error) from exc
            self._diag.warn("h2.frame.malformed", "an HTTP/2 frame was malformed and skipped",
                            sample=_where(self._where, message))
            return
        kind.handler(self, side, frame, ts_ns)

    def _on_data(self, side: _Side, frame: DataFrame, ts_ns: int) -> None:
        """§6.1: DATA, padding already stripped by hyperframe; END_STREAM ends that half."""
        sid = frame.stream_id
        stream = self._stream_for(sid, "DATA")
        if stream is None:
            return
        end = "END_STREAM" in frame.flags
        data = bytes(frame.data)
        if side.from_client:
            if not stream.request_open:
                self._warn_stream("h2.stream.closed", "DATA after the request ended", sid)
                return
            if data:
                self._out.append(RequestData(stream=sid, data=data, ts_ns=ts_ns))
            if end:
                stream.request_open = False
                self._out.append(RequestEnd(stream=sid, ts_ns=ts_ns))
        else:
            if stream.response != _BODY:
                code = ("h2.stream.data_before_headers" if stream.response == _AWAIT
                        else "h2.stream.closed")
                self._warn_stream(code, "response DATA outside the response body", sid)
                return
            if data:
                self._out.append(ResponseData(stream=sid, data=data, ts_ns=ts_ns))
            if end:
                stream.response = _DONE
                self._out.append(ResponseEnd(stream=sid, ts_ns=ts_ns))
        self._forget_if_done(sid, stream)

    def _on_headers(self, side: _Side, frame: HeadersFrame, ts_ns: int) -> None:
        """§6.2: opens a header block; PRIORITY fields (deprecated, §5.3.2) are parsed, unused."""
        self._block_part(side, _Block(stream=frame.stream_id, promised=0,
                                       end_stream="END_STREAM" in frame.flags, ts_ns=ts_ns,
                                       parts=[bytes(frame.data)], size=len(frame.data)),
                          end="END_HEADERS" in frame.flags)

    def _on_push_promise(self, side: _Side, frame: PushPromiseFrame, ts_ns: int) -> None:
        """§6.6: a header block with the request the server will answer on an even stream."""
        if side.from_client:  # §8.4: "A client cannot push"
            raise _Fatal("h2.push.from_client", "a client sent PUSH_PROMISE",
                         ErrorCodes.PROTOCOL_ERROR)
        self._block_part(side, _Block(stream=frame.stream_id,
                                       promised=frame.promised_stream_id, end_stream=False,
                                       ts_ns=ts_ns, parts=[bytes(frame.data)],
                                       size=len(frame.data)),
                          end="END_HEADERS" in frame.flags)

    def _on_continuation(self, side: _Side, frame: ContinuationFrame, ts_ns: int) -> None:
        """§6.10: the rest of a header block, on the same stream, with nothing in between."""
        block = side.block
        if block is None:
            raise _Fatal("h2.continuation.unexpected", "a CONTINUATION frame followed no "
                         "unfinished header block", ErrorCodes.PROTOCOL_ERROR)
        block.parts.append(bytes(frame.data))
        block.size += len(frame.data)
        block.frames += 1
        if block.frames > MAX_CONTINUATION_FRAMES + 1:
            raise _Fatal("h2.limit.continuations", f"a header block spanned more than "
                         f"{MAX_CONTINUATION_FRAMES} CONTINUATION frames",
                         ErrorCodes.ENHANCE_YOUR_CALM)
        self._block_part(side, block, end="END_HEADERS" in frame.flags)

    def _on_rst_stream(self, side: _Side, frame: RstStreamFrame, ts_ns: int) -> None:
        """§6.4: the stream ends now, whatever state its halves were in."""
        sid = frame.stream_id
        if self._streams.pop(sid, None) is None:
            if sid not in self._reset and sid > self._high[sid % 2 == 1]:
                self._warn_stream(self._idle_code(), "RST_STREAM on a stream never opened", sid)
            return  # on a closed stream: crossed resets are routine (§5.1)
        self._reset.add(sid)
        self._out.append(StreamReset(stream=sid, ts_ns=ts_ns, error_code=frame.error_code,
                                     by_client=side.from_client))

    def _on_settings(self, side: _Side, frame: SettingsFrame, ts_ns: int) -> None:
        """§6.5: values apply to the *other* peer once it acknowledges them (§6.5.3)."""
        if "ACK" in frame.flags:
            peer = self._peer(side)
            if peer.unacked:
                self._acknowledged(side, peer.unacked.popleft())
            elif not self._midstream:
                self._diag.warn("h2.settings.unmatched_ack", "a SETTINGS ACK matched no "
                                "SETTINGS frame", sample=_where(self._where, _dir(side)))
            return
        values = dict(frame.settings)
        for ident, value in values.items():
            low, high = _SETTING_RANGES.get(ident, (0, 0xFFFFFFFF))
            if not low <= value <= high:
                self._diag.warn("h2.settings.invalid", "an HTTP/2 setting was out of range "
                                "(RFC 9113 §6.5.2)",
                                sample=_where(self._where, f"0x{ident:x}={value}"))
        side.sent.update(values)
        side.unacked.append(values)

    def _on_goaway(self, side: _Side, frame: GoAwayFrame, ts_ns: int) -> None:
        """§6.8: streams the receiver opened above ``last_stream_id`` were never processed."""
        self._goaway = GoAway(by_client=side.from_client, last_stream_id=frame.last_stream_id,
                              error_code=frame.error_code,
                              debug_data=bytes(frame.additional_data[:256]))
        receiver_is_client = not side.from_client
        refused = sorted(sid for sid in self._streams
                         if (sid % 2 == 1) == receiver_is_client and sid > frame.last_stream_id)
        for sid in refused:
            del self._streams[sid]
            self._reset.add(sid)
            self._out.append(StreamReset(stream=sid, ts_ns=ts_ns,
                                         error_code=int(ErrorCodes.REFUSED_STREAM),
                                         by_client=side.from_client))
        if refused:
            self._diag.warn("h2.goaway.unprocessed", "streams above a GOAWAY's last stream id "
                            "were never processed", count=len(refused),
                            sample=_where(self._where, f"streams {refused[:5]}"))

    def _on_altsvc(self, side: _Side, frame: AltSvcFrame, ts_ns: int) -> None:
        """RFC 7838 §4: recorded (a client's ALTSVC is ignored, §4)."""
        if not side.from_client and len(self._alt_svc) < 64:
            self._alt_svc.append((frame.stream_id, frame.origin.decode("ascii", "replace"),
                                  frame.field.decode("ascii", "replace")))

    def _on_origin(self, side: _Side, frame: ExtensionFrame, ts_ns: int) -> None:
        """RFC 8336 §2: Origin-Len (16 bits) + ASCII-Origin, repeated; stream 0, server only."""
        if side.from_client or frame.stream_id != 0:
            return  # §2.1: ignored
        body, pos = frame.body, 0
        while pos < len(body):
            size = int.from_bytes(body[pos : pos + 2], "big")
            if pos + 2 > len(body) or pos + 2 + size > len(body):
                self._diag.warn("h2.frame.malformed", "an HTTP/2 frame was malformed and "
                                "skipped", sample=_where(self._where, "ORIGIN entry truncated"))
                return
            if len(self._origins) < 64:
                self._origins.append(body[pos + 2 : pos + 2 + size].decode("ascii", "replace"))
            pos += 2 + size

    def _on_ignored(self, side: _Side, frame: Frame, ts_ns: int) -> None:
        """PRIORITY, PING, WINDOW_UPDATE, PRIORITY_UPDATE: validated and counted, no events."""

    # --- header blocks ---------------------------------------------------------------------

    def _block_part(self, side: _Side, block: _Block, *, end: bool) -> None:
        if block.size > MAX_HEADER_BLOCK_BYTES:
            raise _Fatal("h2.limit.header_block", f"a header block exceeded "
                         f"{MAX_HEADER_BLOCK_BYTES} bytes", ErrorCodes.ENHANCE_YOUR_CALM)
        side.block = None if end else block
        if end:
            fields = self._decode(side, b"".join(block.parts))
            if block.promised:
                self._promise(block, fields)
            elif side.from_client:
                self._request_fields(block, fields)
            else:
                self._response_fields(block, fields)

    def _decode(self, side: _Side, data: bytes) -> Headers:
        """RFC 7541 §3: one block, one decoder per direction. ``decode`` is not atomic, so any
        failure leaves the context unusable (hpack's own warning): always fatal. Messages never
        quote hpack's text, which repeats the block (cookies, tokens)."""
        try:
            raw = side.decoder.decode(data, raw=True)
        except HPACKError as exc:
            code, message, error = _hpack_error(exc, side.table_limit)
            raise _Fatal(code, message, error) from exc
        inflated = 0
        fields: list[tuple[str, str]] = []
        for name, value in raw:
            name_b, value_b = bytes(name), bytes(value)
            inflated += len(name_b) + len(value_b) + 32  # RFC 7541 §4.1
            fields.append((self._text(name_b, name_b), self._text(value_b, name_b)))
        self._hpack_in += len(data)
        self._hpack_out += inflated
        if (self._hpack_out > RATIO_CHECK_MIN_BYTES
                and self._hpack_out > MAX_COMPRESSION_RATIO * self._hpack_in):
            raise _Fatal("h2.limit.hpack_ratio", f"header blocks expanded more than "
                         f"{MAX_COMPRESSION_RATIO}:1 (an HPACK bomb)", ErrorCodes.ENHANCE_YOUR_CALM)
        return tuple(fields)

    def _text(self, raw: bytes, name: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self._diag.warn("h2.header.non_utf8", "an HTTP/2 header was not UTF-8; invalid "
                            "bytes became U+FFFD",
                            sample=_where(self._where, name.decode("utf-8", "replace")[:64]))
            return raw.decode("utf-8", "replace")

    def _request_fields(self, block: _Block, fields: Headers) -> None:
        """A client block: a new request (§8.1), or its trailers when the request is open."""
        sid = block.stream
        stream = self._streams.get(sid)
        if stream is None:
            if sid in self._reset:
                self._late["HEADERS"] += 1
                return
            if sid % 2 == 0 or sid <= self._high[True]:  # §5.1.1: odd and increasing
                code = "h2.stream.bad_id" if sid % 2 == 0 else "h2.stream.closed"
                self._warn_stream(code, "a request HEADERS on a stream that cannot open", sid)
                return
            self._high[True] = sid
            self._streams[sid] = _Stream(request_open=not block.end_stream)
            self._out.append(RequestHeaders(stream=sid, headers=fields, ts_ns=block.ts_ns,
                                            end_stream=block.end_stream))
            if block.end_stream:
                self._out.append(RequestEnd(stream=sid, ts_ns=block.ts_ns))
        elif stream.request_open:
            self._trailers_check(block)
            stream.request_open = False
            self._out.append(RequestEnd(stream=sid, ts_ns=block.ts_ns, trailers=fields))
            self._forget_if_done(sid, stream)
        else:
            self._warn_stream("h2.stream.closed", "request HEADERS after the request ended", sid)

    def _response_fields(self, block: _Block, fields: Headers) -> None:
        """A server block: 1xx (§8.1: zero or more), the final response, or trailers."""
        sid = block.stream
        stream = self._stream_for(sid, "HEADERS")
        if stream is None:
            return
        if stream.response == _AWAIT:
            status = _status(fields)
            if status is None:  # §8.3.2: exactly one three-digit :status
                self._warn_stream("h2.header.bad_status", "response without a valid :status", sid)
                status = 0
            if 100 <= status < 200:
                self._out.append(InformationalResponse(stream=sid, status=status,
                                                       headers=fields, ts_ns=block.ts_ns))
                if block.end_stream:  # §8.1: an informational response cannot end a stream
                    self._warn_stream("h2.stream.informational_end", "a 1xx with END_STREAM",
                                      sid)
                    stream.response = _DONE
                    self._out.append(ResponseEnd(stream=sid, ts_ns=block.ts_ns))
            else:
                stream.response = _DONE if block.end_stream else _BODY
                self._out.append(ResponseHeaders(stream=sid, status=status, headers=fields,
                                                 ts_ns=block.ts_ns, end_stream=block.end_stream))
                if block.end_stream:
                    self._out.append(ResponseEnd(stream=sid, ts_ns=block.ts_ns))
        elif stream.response == _BODY:
            self._trailers_check(block)
            stream.response = _DONE
            self._out.append(ResponseEnd(stream=sid, ts_ns=block.ts_ns, trailers=fields))
        else:
            self._warn_stream("h2.stream.closed", "response HEADERS after the response ended",
                              sid)
        self._forget_if_done(sid, stream)

    def _promise(self, block: _Block, fields: Headers) -> None:
        """§8.4: the promised request; its response arrives on the promised stream."""
        pid = block.promised
        if pid in self._streams or pid in self._reset or pid <= self._high[False]:
            self._warn_stream("h2.stream.bad_id", "PUSH_PROMISE reused a stream id", pid)
            return
        self._high[False] = pid
        self._streams[pid] = _Stream(request_open=False)
        self._out.append(RequestHeaders(stream=pid, headers=fields, ts_ns=block.ts_ns,
                                        end_stream=True))
        self._out.append(RequestEnd(stream=pid, ts_ns=block.ts_ns))

    def _trailers_check(self, block: _Block) -> None:
        if not block.end_stream:  # §8.1: a trailer section ends the stream
            self._warn_stream("h2.stream.trailers_without_end", "trailers without END_STREAM",
                              block.stream)

    # --- streams and settings --------------------------------------------------------------

    def _stream_for(self, sid: int, what: str) -> _Stream | None:
        """The open stream ``sid``, or None (with a warning unless it was reset)."""
        stream = self._streams.get(sid)
        if stream is not None:
            return stream
        if sid in self._reset:
            self._late[what] += 1
            return None
        if sid > self._high[sid % 2 == 1]:
            self._warn_stream(self._idle_code(), f"{what} on a stream never opened", sid)
        else:
            self._warn_stream(self._closed_code(), f"{what} on a closed stream", sid)
        return None

    def _idle_code(self) -> str:
        return "h2.stream.before_capture" if self._midstream else "h2.stream.idle"

    def _closed_code(self) -> str:
        return "h2.stream.before_capture" if self._midstream else "h2.stream.closed"

    def _warn_stream(self, code: str, message: str, sid: int) -> None:
        self._diag.warn(code, f"HTTP/2: {message}", sample=_where(self._where, f"stream {sid}"))

    def _forget_if_done(self, sid: int, stream: _Stream) -> None:
        if not stream.request_open and stream.response == _DONE:
            self._streams.pop(sid, None)

    def _peer(self, side: _Side) -> _Side:
        return self._server if side.from_client else self._client

    def _acknowledged(self, side: _Side, values: Mapping[int, int]) -> None:
        """``side`` acknowledged its peer's SETTINGS: from here on its encoder and framer obey
        them. RFC 7541 §4.2 / RFC 9113 §4.3.1: a table size update must not exceed the last
        SETTINGS_HEADER_TABLE_SIZE *acknowledged*, and a shrink must be signalled at the start
        of the next block (hpack checks both at the end of each block)."""
        size = values.get(_HEADER_TABLE_SIZE)
        if size is not None:
            side.table_limit = size
            side.decoder.max_allowed_table_size = min(size, MAX_HPACK_TABLE_BYTES)
        frame = values.get(_MAX_FRAME_SIZE)
        if frame is not None and _DEFAULT_MAX_FRAME <= frame <= _LARGEST_FRAME:
            side.max_frame = frame

    def _upgrade(self, request: RequestHeaders) -> None:
        """RFC 7540 §3.2: the HTTP/1.1 request is stream 1, half-closed (local) for the client."""
        self._streams[1] = _Stream(request_open=False)
        self._high[True] = 1
        self._out.append(replace(request, stream=1, end_stream=True))
        self._out.append(RequestEnd(stream=1, ts_ns=request.ts_ns))
        token = next((v for n, v in request.headers if n.lower() == "http2-settings"), None)
        if token is None:
            return
        try:  # RFC 7540 §3.2.1: base64url SETTINGS payload, no padding
            token = token.strip()
            payload = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_",
                                       validate=True)
            frame = SettingsFrame(0)
            frame.parse_body(memoryview(payload))
        except (binascii.Error, ValueError, HyperframeError):
            self._diag.warn("h2.upgrade.bad_settings", "an h2c Upgrade carried undecodable "
                            "HTTP2-Settings", sample=self._where or None)
            return
        self._client.sent.update(frame.settings)
        self._acknowledged(self._server, frame.settings)  # the 101 acknowledges them


# --- tables and pure helpers -----------------------------------------------------------------

_STEPS: dict[str, Callable[[H2Connection, _Side, int, bool], bool]] = {
    _MAGIC: H2Connection._step_magic,
    _FIRST: H2Connection._step_first,
    _SYNC: H2Connection._step_sync,
    _FRAMES: H2Connection._step_frame,
}

#: RFC 9113 §6 (and extensions registered under §11.2): frame type → rules and handler.
_KINDS: dict[int, _Kind] = {
    # RFC 9113 §6.1-§6.10
    0x0: _Kind("DATA", 0x09, True, H2Connection._on_data, padded_prefix=0),
    0x1: _Kind("HEADERS", 0x2D, True, H2Connection._on_headers, critical=True, padded_prefix=0),
    0x2: _Kind("PRIORITY", 0x00, True, H2Connection._on_ignored, fixed=5),
    0x3: _Kind("RST_STREAM", 0x00, True, H2Connection._on_rst_stream, fixed=4),
    0x4: _Kind("SETTINGS", 0x01, False, H2Connection._on_settings, unit=6, critical=True),
    0x5: _Kind("PUSH_PROMISE", 0x0C, True, H2Connection._on_push_promise, min_length=4,
               critical=True, padded_prefix=4),
    0x6: _Kind("PING", 0x01, False, H2Connection._on_ignored, fixed=8),
    0x7: _Kind("GOAWAY", 0x00, False, H2Connection._on_goaway, min_length=8),
    0x8: _Kind("WINDOW_UPDATE", 0x00, None, H2Connection._on_ignored, fixed=4),
    0x9: _Kind("CONTINUATION", 0x04, True, H2Connection._on_continuation, critical=True),
    # extensions (RFC 9113 §5.5): RFC 7838 §4, RFC 8336 §2, RFC 9218 §7.1
    0xA: _Kind("ALTSVC", 0x00, None, H2Connection._on_altsvc, min_length=2, sync=False),
    0xC: _Kind("ORIGIN", 0x00, False, H2Connection._on_origin, sync=False),
    0x10: _Kind("PRIORITY_UPDATE", 0x00, False, H2Connection._on_ignored, min_length=4,
                sync=False),
}

#: hpack exception → (warning code, message, RFC 9113 §7 error), most specific first.
_HPACK_ERRORS: dict[type[HPACKError], tuple[str, str, ErrorCodes]] = {
    OversizedHeaderListError: ("h2.limit.header_list", "a header list decoded to more than "
                               f"{MAX_HEADER_LIST_BYTES} bytes", ErrorCodes.ENHANCE_YOUR_CALM),
    InvalidTableSizeError: ("h2.hpack.table_size", "an HPACK dynamic table size update broke "
                            "the acknowledged SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2)",
                            ErrorCodes.COMPRESSION_ERROR),
    HPACKError: ("h2.hpack.corrupt", "an HPACK header block could not be decoded",
                 ErrorCodes.COMPRESSION_ERROR),
}


def _hpack_error(exc: HPACKError, table_limit: int) -> tuple[str, str, ErrorCodes]:
    if isinstance(exc, InvalidTableSizeError) and table_limit > MAX_HPACK_TABLE_BYTES:
        return ("h2.limit.hpack_table", f"an HPACK table grew past {MAX_HPACK_TABLE_BYTES} "
                "bytes", ErrorCodes.ENHANCE_YOUR_CALM)
    cls = next(c for c in type(exc).__mro__ if c in _HPACK_ERRORS)
    code, message, error = _HPACK_ERRORS[cls]
    return code, f"{message} ({type(exc).__name__})", error


def _name(ftype: int) -> str:
    kind = _KINDS.get(ftype)
    return kind.name if kind is not None else f"UNKNOWN(0x{ftype:02X})"


def _dir(side: _Side) -> str:
    return "client" if side.from_client else "server"


def _padding_problem(kind: _Kind, flags: int, body: bytes) -> str | None:
    """§6.1/§6.2/§6.6: padding longer than the room left after the fixed fields is an error
    (hyperframe lets HEADERS padding overlap the priority fields)."""
    if kind.padded_prefix is None or not flags & _PADDED:
        return None
    if not body:
        return "no Pad Length"
    room = len(body) - 1 - kind.padded_prefix - (5 if flags & kind.flags & _PRIORITY_FLAG else 0)
    return f"padding {body[0]} exceeds {max(room, 0)} bytes" if body[0] > room else None


def _parse(kind: _Kind, header: bytes, body: bytes) -> Frame:
    """hyperframe's parse, with its exceptions translated (length errors are
    FRAME_SIZE_ERROR, RFC 9113 §4.2; the rest PROTOCOL_ERROR)."""
    problem = _padding_problem(kind, header[4], body)
    if problem is not None:
        raise _Malformed(problem, ErrorCodes.PROTOCOL_ERROR)
    try:
        frame, _ = Frame.parse_frame_header(memoryview(header))
        frame.parse_body(memoryview(body))
    except InvalidFrameError as exc:
        raise _Malformed(str(exc), ErrorCodes.FRAME_SIZE_ERROR) from exc
    except HyperframeError as exc:
        raise _Malformed(str(exc), ErrorCodes.PROTOCOL_ERROR) from exc
    return frame


def _plausible(buf: bytearray, pos: int) -> bool:
    """Could a frame header start at ``pos``? Strict (core types, defined flags only), since it
    only serves to find boundaries when the connection was joined mid-stream."""
    kind = _KINDS.get(buf[pos + 3])
    if kind is None or not kind.sync:
        return False
    length, flags = int.from_bytes(buf[pos : pos + 3], "big"), buf[pos + 4]
    raw_id = int.from_bytes(buf[pos + 5 : pos + 9], "big")
    return not (
        length > _DEFAULT_MAX_FRAME
        or flags & ~kind.flags
        or raw_id & 0x80000000  # §4.1: the reserved bit is sent as 0
        or (kind.stream is True and raw_id == 0)
        or (kind.stream is False and raw_id != 0)
        or (kind.fixed is not None and length != kind.fixed)
        or length < kind.min_length
        or length % kind.unit
        or (kind.unit == 6 and flags & 0x01 and length)  # SETTINGS ACK is empty (§6.5)
    )


def _chain(buf: bytearray, offset: int, final: bool) -> bool | None:
    """True if ``_SYNC_CHAIN`` plausible headers chain from ``offset`` (or, at the end of the
    connection, plausible whole frames reach exactly the end); False if one is implausible;
    None while more bytes are needed. Depends only on bytes present, so chunking never
    changes the answer."""
    pos, frames = offset, 0
    while frames < _SYNC_CHAIN:
        if pos + 9 > len(buf):
            return (frames > 0 and pos == len(buf)) if final else None
        if not _plausible(buf, pos) or (frames == 0 and buf[pos + 3] == ContinuationFrame.type):
            return False
        pos += 9 + int.from_bytes(buf[pos : pos + 3], "big")
        frames += 1
    return True


def _status(fields: Headers) -> int | None:
    """§8.3.2: the response's ``:status``, three digits."""
    value = next((v for n, v in fields if n == ":status"), None)
    if value is None or len(value) != 3 or not value.isascii() or not value.isdigit():
        return None
    return int(value)
