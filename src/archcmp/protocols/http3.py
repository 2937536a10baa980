"""HTTP/3 over one QUIC connection, from in-order stream bytes to HTTP events (sans-IO).

Fed with :class:`~archcmp.protocols.quic.QuicStreamData` (stream id, direction, bytes, FIN,
capture time), :class:`H3Connection` returns the shared :mod:`~archcmp.protocols.events`:
request streams become ``RequestHeaders`` / ``RequestData`` / ``RequestEnd`` and
``InformationalResponse`` / ``ResponseHeaders`` / ``ResponseData`` / ``ResponseEnd`` with the
stream's QUIC id as ``stream`` and each DATA piece timed by the packet that carried it.

**Why not aioquic's ``H3Connection``.** It is an endpoint: it sends, takes its events from a
live ``QuicConnection`` and decodes only the peer's header blocks with one decoder, so it
cannot read both directions of a captured connection. This module drives ``pylsqpack`` itself:

* one ``pylsqpack.Decoder`` per direction, created with the table capacity the *other* side
  advertised in its SETTINGS (RFC 9204 §3.2.3: the Required Insert Count is encoded modulo
  ``2 * MaxEntries``, so the decoder must know the receiver's exact capacity), fed that
  direction's encoder stream in order (RFC 9204 §4.2);
* header blocks that reference entries not yet received raise ``StreamBlocked``; the stream's
  later frames wait behind it, and ``Decoder.feed_encoder`` returns the stream ids it unblocked,
  which are resumed with ``resume_header`` (RFC 9204 §2.1.2);
* header blocks that arrive before the SETTINGS they depend on wait too; blocks with a
  Required Insert Count of 0 need no table and decode at once.

Reserved (GREASE) frame types ``0x1f * N + 0x21`` and stream types are skipped and counted
(RFC 9114 §7.2.8, §6.2.3); unknown ones likewise. ``pylsqpack`` errors never leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pylsqpack

from archcmp.diagnostics import Diagnostics
from archcmp.protocols.events import (
    ConnectionClosed,
    Headers,
    HttpEvent,
    InformationalResponse,
    RequestData,
    RequestEnd,
    RequestHeaders,
    ResponseData,
    ResponseEnd,
    ResponseHeaders,
    StreamReset,
)

__all__ = ["H3Connection"]

# https://www.rfc-editor.org/rfc/rfc9114#section-7.2 (frame types) and RFC 9218 §7.2
DATA, HEADERS, CANCEL_PUSH, SETTINGS, PUSH_PROMISE, GOAWAY, MAX_PUSH_ID = 0, 1, 3, 4, 5, 7, 0xD
PRIORITY_UPDATE_REQUEST, PRIORITY_UPDATE_PUSH = 0xF0700, 0xF0701
FRAME_NAMES = {
    DATA: "DATA", HEADERS: "HEADERS", CANCEL_PUSH: "CANCEL_PUSH", SETTINGS: "SETTINGS",
    PUSH_PROMISE: "PUSH_PROMISE", GOAWAY: "GOAWAY", MAX_PUSH_ID: "MAX_PUSH_ID",
    PRIORITY_UPDATE_REQUEST: "PRIORITY_UPDATE", PRIORITY_UPDATE_PUSH: "PRIORITY_UPDATE",
}
# https://www.rfc-editor.org/rfc/rfc9114#section-6.2 (stream types), RFC 9204 §4.2
CONTROL, PUSH, QPACK_ENCODER, QPACK_DECODER = 0x00, 0x01, 0x02, 0x03
STREAM_NAMES = {CONTROL: "control", PUSH: "push", QPACK_ENCODER: "qpack_encoder",
                QPACK_DECODER: "qpack_decoder"}
# SETTINGS identifiers: RFC 9204 §5 and RFC 9114 §7.2.4.1.
SETTINGS_QPACK_MAX_TABLE_CAPACITY, SETTINGS_QPACK_BLOCKED_STREAMS = 0x01, 0x07

#: A HEADERS (or other buffered) frame larger than this is skipped (``h3.frame.too_large``):
#: 1 MiB is 16x Chromium's 64 KiB default SETTINGS_MAX_FIELD_SECTION_SIZE advertisement.
MAX_BUFFERED_FRAME = 1024 * 1024
#: Blocked streams allowed per decoder whatever the peer advertised: an observer must not be
#: stricter than the endpoint (RFC 9204 §2.1.2 makes the limit the receiver's choice).
MIN_BLOCKED_STREAMS = 128


def is_reserved(value: int) -> bool:
    """RFC 9114 §7.2.8 / §6.2.3: reserved frame and stream types are ``0x1f * N + 0x21``."""
    return value >= 0x21 and (value - 0x21) % 0x1F == 0


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """RFC 9000 §16 varint at ``pos``, or None when the bytes are not all there yet."""
    if pos >= len(data):
        return None
    length = 1 << (data[pos] >> 6)
    if pos + length > len(data):
        return None
    return int.from_bytes(data[pos : pos + length], "big") & ((1 << (8 * length - 2)) - 1), (
        pos + length)


def _text(raw: bytes) -> str:
    """Field bytes as text: UTF-8 when valid, else ISO-8859-1 (lossless; RFC 9110 §5.5)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(slots=True)
class _Half:
    """One direction of one stream: frame parsing state and what waits behind a block."""

    stream_id: int
    from_client: bool
    kind: str | None = None
    """``request``, ``control``, ``qpack_encoder``, ``qpack_decoder``, ``push``, ``skip``; None
    until a unidirectional stream's type has arrived."""
    buf: bytes = b""
    frame_type: int = -1
    remaining: int = 0
    """Payload bytes of the current streamed (DATA or skipped) frame still to come."""
    queue: list[tuple[str, bytes, int]] = field(default_factory=list)
    """(``headers`` | ``data`` | ``fin``, bytes, ts) waiting behind a blocked header block."""
    headers_seen: bool = False
    final_seen: bool = False
    trailers: Headers = ()
    ended: bool = False
    broken: bool = False
    control_frames: int = 0


@dataclass(slots=True)
class _Side:
    """What one endpoint sent that concerns the whole connection."""

    settings: dict[int, int] | None = None
    decoder: pylsqpack.Decoder | None = None
    """Decodes header blocks *this* side sent; configured by the other side's SETTINGS."""
    encoder_bytes: bytearray = field(default_factory=bytearray)
    """This side's encoder stream, kept until the decoder exists."""
    goaway: int | None = None


class H3Connection:
    """Both directions of one HTTP/3 connection, as seen in a capture."""

    def __init__(self, diag: Diagnostics) -> None:
        self._diag = diag
        self._halves: dict[tuple[int, bool], _Half] = {}
        self._sides = {True: _Side(), False: _Side()}
        self._static = pylsqpack.Decoder(0, 0)
        self._reset: set[int] = set()
        self.frame_counts: dict[str, int] = {}
        """Frames per type name (``reserved``/``unknown`` for the skipped ones), both ways."""
        self.stream_counts: dict[str, int] = {}
        """Unidirectional streams per type name (``reserved`` for GREASE)."""

    # -- input ------------------------------------------------------------------------------

    def feed_stream(self, stream_id: int, from_client: bool, data: bytes, fin: bool,
                    ts_ns: int) -> list[HttpEvent]:
        """In-order bytes of one stream direction (``fin``: that direction ends here)."""
        half = self._halves.get((stream_id, from_client))
        if half is None:
            half = self._halves[(stream_id, from_client)] = _Half(stream_id, from_client)
            if stream_id & 0x2 == 0:
                # RFC 9114 §6.1: client-initiated bidirectional streams carry requests.
                half.kind = "request" if stream_id & 0x1 == 0 else "skip"
                if half.kind == "skip":
                    self._count(self.stream_counts, "server_bidi")
        events: list[HttpEvent] = []
        if not half.broken:
            self._parse(half, half.buf + data if half.buf else data, ts_ns, events)
        if fin:
            if half.buf or half.remaining:
                self._diag.warn("h3.frame.truncated", "HTTP/3 stream ended inside a frame",
                                sample=f"stream {stream_id}")
            self._item(half, "fin", b"", ts_ns, events)
        return events

    def reset_stream(self, stream_id: int, from_client: bool, error_code: int,
                     ts_ns: int) -> list[HttpEvent]:
        """RESET_STREAM on a request stream (RFC 9114 §4.1.1): the exchange is incomplete."""
        halves = [self._halves.get((stream_id, side)) for side in (True, False)]
        if stream_id & 0x3 or stream_id in self._reset:
            return []
        if all(h is not None and h.ended for h in halves):
            return []  # both halves already complete: a late reset changes nothing
        self._reset.add(stream_id)
        for half in halves:
            if half is not None:
                half.broken = half.ended = True
                half.queue.clear()
        return [StreamReset(stream=stream_id, ts_ns=ts_ns, error_code=error_code,
                            by_client=from_client)]

    def close(self, ts_ns: int, reason: str = "capture-end") -> list[HttpEvent]:
        """The QUIC connection ended: flush what waits, reset open exchanges, then close."""
        events: list[HttpEvent] = []
        for from_client, side in self._sides.items():
            if side.decoder is None and any(
                    h.queue for h in self._halves.values() if h.from_client == from_client):
                self._diag.warn("h3.qpack.no_settings", "HTTP/3 header blocks waited for "
                                "SETTINGS never seen; table capacity guessed from the encoder "
                                "stream")
                self._make_decoder(from_client, _capacity_hint(bytes(side.encoder_bytes)),
                                   events)
        for half in list(self._halves.values()):
            if half.queue:
                self._diag.warn("h3.qpack.blocked", "HTTP/3 header block never unblocked",
                                sample=f"stream {half.stream_id}")
                half.queue.clear()
        requests = {h.stream_id for h in self._halves.values() if h.kind == "request"}
        open_requests = sorted(
            s for s in requests - self._reset
            if not all((h := self._halves.get((s, side))) is not None and h.ended
                       for side in (True, False)))
        for stream_id in open_requests:
            events.append(StreamReset(stream=stream_id, ts_ns=ts_ns))
        goaway = self._sides[False].goaway
        if reason == "capture-end" and goaway is not None:
            reason = f"goaway {goaway}"
        events.append(ConnectionClosed(ts_ns=ts_ns, reason=reason))
        return events

    # -- frames -----------------------------------------------------------------------------

    def _parse(self, half: _Half, data: bytes, ts: int, events: list[HttpEvent]) -> None:
        pos = 0
        half.buf = b""
        end = len(data)
        while pos < end:
            if half.remaining:
                take = min(half.remaining, end - pos)
                if half.frame_type == DATA and half.kind == "request":
                    self._item(half, "data", data[pos : pos + take], ts, events)
                half.remaining -= take
                pos += take
                continue
            if half.kind is None:
                got = _varint(data, pos)
                if got is None:
                    break
                stream_type, pos = got
                self._open_uni(half, stream_type)
                continue
            if half.kind in ("qpack_encoder", "qpack_decoder", "skip"):
                if half.kind == "qpack_encoder":
                    self._encoder(half.from_client, data[pos:], events)
                return
            if half.kind == "push" and half.frame_type == -1:
                got = _varint(data, pos)  # RFC 9114 §4.6: push ID, then a response's frames
                if got is None:
                    break
                half.frame_type, pos = -2, got[1]
                continue
            header = _varint(data, pos)
            length = _varint(data, header[1]) if header else None
            if header is None or length is None:
                break
            ftype, (size, body) = header[0], length
            self._count(self.frame_counts, FRAME_NAMES.get(ftype) or (
                "reserved" if is_reserved(ftype) else "unknown"))
            if is_reserved(ftype):
                self._diag.warn("h3.frame.reserved", "reserved (GREASE) HTTP/3 frame skipped")
            if ftype in (DATA, PUSH_PROMISE) or ftype not in FRAME_NAMES or half.kind == "push":
                half.frame_type, half.remaining, pos = ftype, size, body
                if ftype not in FRAME_NAMES and not is_reserved(ftype):
                    self._diag.warn("h3.frame.unknown", "unknown HTTP/3 frame type skipped",
                                    sample=hex(ftype))
                continue
            if size > MAX_BUFFERED_FRAME:
                self._diag.warn("h3.frame.too_large", "HTTP/3 frame over the buffering limit "
                                "skipped", sample=f"{FRAME_NAMES[ftype]} {size}")
                half.frame_type, half.remaining, pos = -3, size, body
                continue
            if body + size > end:
                break
            payload = data[body : body + size]
            pos = body + size
            if half.kind == "request":
                if ftype == HEADERS:
                    self._item(half, "headers", payload, ts, events)
                else:
                    self._diag.warn("h3.frame.unexpected", "HTTP/3 frame not allowed on a "
                                    "request stream", sample=FRAME_NAMES[ftype])
            else:
                self._control(half, ftype, payload, events)
        half.buf = data[pos:]
        if len(half.buf) > MAX_BUFFERED_FRAME + 16:
            self._diag.warn("h3.frame.too_large", "HTTP/3 stream buffer over the limit")
            half.broken, half.buf = True, b""

    def _open_uni(self, half: _Half, stream_type: int) -> None:
        """RFC 9114 §6.2: a unidirectional stream starts with its type."""
        name = STREAM_NAMES.get(stream_type)
        if name is None:
            name = "reserved" if is_reserved(stream_type) else "unknown"
            self._diag.warn(f"h3.stream.{name}", f"{name} HTTP/3 stream type skipped",
                            sample=hex(stream_type))
            half.kind = "skip"
        else:
            half.kind = {"control": "control", "push": "push", "qpack_encoder": "qpack_encoder",
                         "qpack_decoder": "qpack_decoder"}[name]
        self._count(self.stream_counts, name)

    def _control(self, half: _Half, ftype: int, payload: bytes,
                 events: list[HttpEvent]) -> None:
        """Control stream frames (RFC 9114 §6.2.1): SETTINGS first, then GOAWAY etc."""
        half.control_frames += 1
        side = self._sides[half.from_client]
        if ftype == SETTINGS:
            settings: dict[int, int] = {}
            pos = 0
            while (ident := _varint(payload, pos)) and (value := _varint(payload, ident[1])):
                settings[ident[0]] = value[0]
                pos = value[1]
            side.settings = settings
            # This side's SETTINGS configure the decoder of the *other* side's header blocks.
            self._make_decoder(not half.from_client,
                               settings.get(SETTINGS_QPACK_MAX_TABLE_CAPACITY, 0), events,
                               settings.get(SETTINGS_QPACK_BLOCKED_STREAMS, 0))
        elif ftype == GOAWAY and (got := _varint(payload, 0)) is not None:
            side.goaway = got[0]
        elif ftype == HEADERS:
            self._diag.warn("h3.frame.unexpected", "HTTP/3 frame not allowed on the control "
                            "stream", sample=FRAME_NAMES[ftype])
        if half.control_frames == 1 and ftype != SETTINGS:
            self._diag.warn("h3.control.no_settings", "HTTP/3 control stream does not start "
                            "with SETTINGS")

    # -- QPACK ------------------------------------------------------------------------------

    def _make_decoder(self, sender_is_client: bool, capacity: int, events: list[HttpEvent],
                      blocked: int = 0) -> None:
        side = self._sides[sender_is_client]
        if side.decoder is not None:
            return
        side.decoder = pylsqpack.Decoder(capacity, max(blocked, MIN_BLOCKED_STREAMS))
        if side.encoder_bytes:
            data = bytes(side.encoder_bytes)
            side.encoder_bytes.clear()
            self._encoder(sender_is_client, data, events)
        for half in list(self._halves.values()):
            if half.from_client == sender_is_client and half.queue:
                self._drain(half, events)

    def _encoder(self, sender_is_client: bool, data: bytes, events: list[HttpEvent]) -> None:
        """The sender's encoder stream (RFC 9204 §4.3), fed in order to its decoder."""
        side = self._sides[sender_is_client]
        if side.decoder is None:
            side.encoder_bytes += data
            return
        try:
            unblocked = side.decoder.feed_encoder(data)
        except pylsqpack.EncoderStreamError as exc:
            self._diag.warn("h3.qpack.encoder_stream", "QPACK encoder stream unreadable",
                            sample=str(exc))
            return
        for stream_id in unblocked:
            half = self._halves.get((stream_id, sender_is_client))
            if half is not None and half.queue:
                self._drain(half, events, resumed=True)

    # -- request streams --------------------------------------------------------------------

    def _item(self, half: _Half, kind: str, data: bytes, ts: int,
              events: list[HttpEvent]) -> None:
        if half.kind != "request" or half.broken or half.ended:
            if kind == "fin" and half.kind == "control":
                self._diag.warn("h3.control.closed", "HTTP/3 control stream closed")
            return
        half.queue.append((kind, data, ts))
        if len(half.queue) == 1:
            self._drain(half, events)

    def _drain(self, half: _Half, events: list[HttpEvent], *, resumed: bool = False) -> None:
        """Turn queued items into events until a header block blocks."""
        while half.queue:
            kind, data, ts = half.queue[0]
            if kind == "headers":
                headers = self._decode(half, data, resumed=resumed)
                resumed = False
                if headers is None:
                    if half.broken:
                        half.queue.clear()
                    return
                half.queue.pop(0)
                self._headers(half, headers, ts, events)
            elif kind == "data":
                half.queue.pop(0)
                stream = half.stream_id
                events.append(RequestData(stream=stream, data=data, ts_ns=ts) if half.from_client
                              else ResponseData(stream=stream, data=data, ts_ns=ts))
            else:
                half.queue.pop(0)
                self._end(half, ts, events)

    def _decode(self, half: _Half, block: bytes, *, resumed: bool) -> Headers | None:
        side = self._sides[half.from_client]
        decoder = side.decoder
        if decoder is None:
            if not block or block[0] != 0:
                return None  # RFC 9204 §4.5.1: needs the table; wait for SETTINGS
            decoder = self._static
        try:
            if resumed:
                _instructions, raw = decoder.resume_header(half.stream_id)
            else:
                _instructions, raw = decoder.feed_header(half.stream_id, block)
        except pylsqpack.StreamBlocked:
            return None
        except (pylsqpack.DecompressionFailed, pylsqpack.DecoderStreamError, ValueError) as exc:
            self._diag.warn("h3.qpack.failed", "QPACK header block could not be decoded",
                            sample=f"stream {half.stream_id}: {exc}")
            half.broken = True
            return None
        return tuple((_text(name), _text(value)) for name, value in raw)

    def _headers(self, half: _Half, headers: Headers, ts: int,
                 events: list[HttpEvent]) -> None:
        """First HEADERS: the message head; 1xx before the final response; later: trailers.

        HTTP/3 has no END_STREAM flag (RFC 9114 §4.1): ``end_stream`` stays False and the
        stream's FIN always becomes ``RequestEnd`` / ``ResponseEnd``.
        """
        stream = half.stream_id
        if half.from_client:
            if half.headers_seen:
                half.trailers = headers
            else:
                half.headers_seen = True
                events.append(RequestHeaders(stream=stream, headers=headers, ts_ns=ts))
            return
        if half.final_seen:
            half.trailers = headers
            return
        status_text = next((v for n, v in headers if n == ":status"), "")
        if not status_text.isdigit():
            self._diag.warn("h3.response.bad_status", "HTTP/3 response without a valid :status",
                            sample=status_text[:20])
            half.broken = True
            return
        status = int(status_text)
        half.headers_seen = True
        if 100 <= status < 200:
            # RFC 9114 §4.1: interim responses precede the final one on the same stream.
            events.append(InformationalResponse(stream=stream, status=status, headers=headers,
                                                ts_ns=ts))
            return
        half.final_seen = True
        events.append(ResponseHeaders(stream=stream, status=status, headers=headers, ts_ns=ts))

    def _end(self, half: _Half, ts: int, events: list[HttpEvent]) -> None:
        half.ended = True
        if not half.headers_seen:
            self._diag.warn("h3.stream.no_headers", "HTTP/3 request stream ended without "
                            "HEADERS", sample=f"stream {half.stream_id}")
            return
        stream = half.stream_id
        events.append(RequestEnd(stream=stream, ts_ns=ts, trailers=half.trailers)
                      if half.from_client else
                      ResponseEnd(stream=stream, ts_ns=ts, trailers=half.trailers))

    @staticmethod
    def _count(counter: dict[str, int], name: str) -> None:
        counter[name] = counter.get(name, 0) + 1


def _capacity_hint(encoder: bytes) -> int:
    """The table capacity from a leading Set Dynamic Table Capacity (RFC 9204 §4.3.1):
    ``001xxxxx`` with a 5-bit prefix integer (RFC 7541 §5.1); 0 when there is none."""
    if not encoder or encoder[0] & 0xE0 != 0x20:
        return 0
    value = encoder[0] & 0x1F
    if value < 0x1F:
        return value
    shift = 0
    for byte in encoder[1:10]:
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value
    return 0
