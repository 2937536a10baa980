"""WebSocket from the wire: one direction's RFC 6455 frames in, whole messages out (sans-IO).

:class:`WebSocketStream` reads the frames one endpoint sends after the HTTP/1.1 ``101`` (RFC 6455
§4.1), unmasks them (§5.3), joins fragments (§5.4) and, when the handshake negotiated
permessage-deflate (RFC 7692), inflates each compressed message. Text and binary messages become
:class:`~archcmp.protocols.events.WebSocketMessage` events stamped with the capture time of the
bytes that completed them; control frames (ping, pong, close) are counted in
:attr:`WebSocketStream.control_frames`, not emitted, and the close code is kept.

Why not wsproto (installed here only as a dependency of hypercorn's ``record`` extra): its
``FrameProtocol`` is one endpoint's view. It insists that frames arriving from the peer are
masked or unmasked according to its own role, raises ``ParseFailed`` on the first violation and
validates UTF-8 as it goes, where a passive observer must count oddities and keep reading; it also
needs an extension object negotiated through its handshake state machine. The frame format is
small enough (one header, three length forms, a mask) to read here with explicit bounds.

Bounds: a message (reassembled, and again after inflation) may not exceed
:data:`archcmp.limits.MAX_DECODED_BODY_BYTES`; larger ones are skipped with a counted warning
while the frame boundaries stay in sync. An inflation that fails or overflows under context
takeover leaves the LZ77 window unknown, so the direction stops (``ProtocolError``).

Warning codes (all counted in :class:`~archcmp.diagnostics.Diagnostics`):

====================================  =========================================================
``websocket.frame.malformed``         reserved bits/opcodes, bad continuation, oversized or
                                      fragmented control frame, 64-bit length with MSB set;
                                      the direction stops (``ProtocolError``)
``websocket.frame.mask_unexpected``   a client frame without mask or a server frame with one
                                      (RFC 6455 §5.1); decoded anyway
``websocket.frame.after_close``       a frame after this direction's Close (§5.5.1); decoded
``websocket.message.too_large``       a message over the cap: skipped, framing kept
``websocket.text.bad_utf8``           a text message that is not UTF-8 (§8.1); kept as bytes
``websocket.deflate.corrupt``         inflate failed (RFC 7692 §7.2.2)
``websocket.deflate.too_large``       inflated output over the cap
``websocket.extension.unknown``       the server accepted an extension other than
                                      permessage-deflate
``websocket.gap``                     a TCP hole: frame boundaries are lost, the direction stops
``websocket.message.incomplete``      the connection ended inside a frame or fragmented message
====================================  =========================================================
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

from archcmp.diagnostics import Diagnostics
from archcmp.limits import MAX_DECODED_BODY_BYTES
from archcmp.protocols.events import HttpEvent, ProtocolError, WebSocketMessage

__all__ = ["DeflateParams", "WebSocketStream", "negotiate_deflate"]

Headers = tuple[tuple[str, str], ...]

# RFC 6455 §5.2: opcodes. %x0 continuation, %x1 text, %x2 binary, %x3-7 reserved (data),
# %x8 close, %x9 ping, %xA pong, %xB-F reserved (control).
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL_NAMES = {_CLOSE: "close", _PING: "ping", _PONG: "pong"}

#: RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload".
_DEFLATE_TAIL = b"\x00\x00\xff\xff"

# RFC 6455 §9.1 (with RFC 7230 list syntax):
#   extension-list = 1#extension ; extension = extension-token *( ";" extension-param )
#   extension-param = token [ "=" (token | quoted-string) ]
_EXT_PARAM = re.compile(r"\s*([-!#$%&'*+.^_`|~0-9A-Za-z]+)\s*(?:=\s*(\"[^\"]*\"|[^;,\s]*))?\s*")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeflateParams:
    """The permessage-deflate parameters the server accepted (RFC 7692 §7.1)."""

    client_no_context_takeover: bool = False
    """The client resets its compressor after each message (§7.1.1.2)."""
    server_no_context_takeover: bool = False
    """The server resets its compressor after each message (§7.1.1.1)."""


def negotiate_deflate(
    response_headers: Headers, diag: Diagnostics, *, where: str = ""
) -> DeflateParams | None:
    """permessage-deflate as accepted in the ``101`` response, or None.

    The response's ``Sec-WebSocket-Extensions`` is what counts (RFC 6455 §9.1: the server picks
    from the client's offer). ``*_max_window_bits`` need no action: a raw inflater with a
    32 KiB window reads streams written with any smaller window.
    """
    values = [v for n, v in response_headers if n.lower() == "sec-websocket-extensions"]
    found: DeflateParams | None = None
    for element in ",".join(values).split(","):
        params = [m.group(1).lower() for m in _EXT_PARAM.finditer(element) if m.group(1)]
        if not params:
            continue
        name, options = params[0], set(params[1:])
        if name == "permessage-deflate" and found is None:
            found = DeflateParams(
                client_no_context_takeover="client_no_context_takeover" in options,
                server_no_context_takeover="server_no_context_takeover" in options,
            )
        else:
            diag.warn("websocket.extension.unknown",
                      "the server accepted a WebSocket extension archcmp does not decode",
                      sample=f"{where}: {name}" if where else name)
    return found


def _unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of the masking key."""
    if not data:
        return data
    rot = offset % 4
    key = (mask[rot:] + mask[:rot]) * (len(data) // 4 + 1)
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(key[:n], "big")).to_bytes(n, "big")


class WebSocketStream:
    """One direction of a WebSocket connection: feed its bytes, get its messages.

    ``deflate`` says permessage-deflate was negotiated; ``no_context_takeover`` is the
    ``client_no_context_takeover`` (client direction) or ``server_no_context_takeover`` (server
    direction) parameter, i.e. whether every compressed message starts with a fresh window.
    """

    def __init__(
        self,
        diag: Diagnostics,
        *,
        deflate: bool,
        no_context_takeover: bool,
        from_client: bool = True,
        stream: int = 0,
        where: str = "",
    ) -> None:
        self._diag = diag
        self._deflate = deflate
        self._no_context_takeover = no_context_takeover
        self._from_client = from_client
        self._stream = stream
        self._where = where
        self._buf = bytearray()
        self._dead = False
        # The frame being read: header fields, then payload bytes still to come.
        self._in_frame = False
        self._fin = False
        self._opcode = 0
        self._mask: bytes | None = None
        self._remaining = 0
        self._frame_offset = 0
        self._control = bytearray()
        # The message being reassembled from fragments (RFC 6455 §5.4).
        self._msg_opcode: int | None = None
        self._msg_compressed = False
        self._msg = bytearray()
        self._msg_oversize = False
        self._inflater: zlib._Decompress | None = None
        self._closed_seen = False
        self.control_frames: Counter[str] = Counter()
        """Control frames seen, by name (``ping``, ``pong``, ``close``)."""
        self.close_code: int | None = None
        """The status code of this direction's Close frame (RFC 6455 §7.4), if it had one."""
        self.messages = 0
        """Data messages emitted."""

    # -- public, sans-IO ---------------------------------------------------------------------

    def feed(self, data: bytes, ts_ns: int) -> list[HttpEvent]:
        """Read ``data`` (this direction's next bytes, captured at ``ts_ns``)."""
        out: list[HttpEvent] = []
        if self._dead or not data:
            return out
        self._buf += data
        while not self._dead and self._step(ts_ns, out):
            pass
        return out

    def gap(self, missing: int, ts_ns: int) -> list[HttpEvent]:
        """A TCP hole of ``missing`` bytes: frame boundaries are lost, so stop reading."""
        if self._dead:
            return []
        self._diag.warn("websocket.gap", "a TCP gap inside a WebSocket stream; direction dropped",
                        sample=self._sample(f"{missing} bytes missing"))
        self._dead = True
        self._buf.clear()
        return []

    def close(self, ts_ns: int) -> list[HttpEvent]:
        """The connection ended: report a frame or fragmented message left unfinished."""
        if not self._dead and (self._buf or self._in_frame or self._msg_opcode is not None):
            self._diag.warn("websocket.message.incomplete",
                            "the connection ended inside a WebSocket frame or message",
                            sample=self._sample(f"{len(self._buf) + len(self._msg)} bytes"))
        self._dead = True
        self._buf.clear()
        return []

    # -- frame reader ------------------------------------------------------------------------

    def _step(self, ts: int, out: list[HttpEvent]) -> bool:
        """Advance by one frame header or one run of payload; False when more bytes are needed."""
        if not self._in_frame:
            return self._read_header(ts, out)
        take = min(self._remaining, len(self._buf))
        if take == 0 and self._remaining:
            return False
        chunk = bytes(self._buf[:take])
        del self._buf[:take]
        if self._mask is not None:
            chunk = _unmask(chunk, self._mask, self._frame_offset)
        self._frame_offset += take
        self._remaining -= take
        if self._opcode >= _CLOSE:
            self._control += chunk
        elif not self._msg_oversize:
            self._msg += chunk
        if self._remaining == 0:
            self._in_frame = False
            self._end_frame(ts, out)
        return True

    def _read_header(self, ts: int, out: list[HttpEvent]) -> bool:
        # RFC 6455 §5.2:
        #   FIN(1) RSV1(1) RSV2(1) RSV3(1) opcode(4) MASK(1) Payload len(7)
        #   [Extended payload length: 16 bits if len == 126, 64 bits if len == 127]
        #   [Masking-key: 32 bits if MASK]
        buf = self._buf
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        size = b1 & 0x7F
        need = 2 + {126: 2, 127: 8}.get(size, 0) + (4 if b1 & 0x80 else 0)
        if len(buf) < need:
            return False
        pos = 2
        if size == 126:
            size = int.from_bytes(buf[2:4], "big")
            pos = 4
        elif size == 127:
            size = int.from_bytes(buf[2:10], "big")
            pos = 10
            if size >> 63:  # §5.2: "the most significant bit MUST be 0"
                return self._malformed(ts, out, "64-bit payload length with its top bit set")
        mask = bytes(buf[pos : pos + 4]) if b1 & 0x80 else None
        del buf[:need]
        fin, rsv1, rsv23, opcode = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x30, b0 & 0x0F
        if rsv23:  # §5.2: RSV2/RSV3 MUST be 0 unless an extension defines them (none here)
            return self._malformed(ts, out, "RSV2/RSV3 set")
        if (mask is None) == self._from_client:  # §5.1: clients mask, servers do not
            self._diag.warn("websocket.frame.mask_unexpected",
                            "a WebSocket frame masked contrary to RFC 6455 §5.1; decoded anyway",
                            sample=self._sample(f"opcode {opcode}"))
        if self._closed_seen:
            self._diag.warn("websocket.frame.after_close",
                            "a WebSocket frame after this direction's Close frame",
                            sample=self._sample(f"opcode {opcode}"))
        if opcode >= _CLOSE:
            # §5.5: control frames have payload ≤ 125 and MUST NOT be fragmented; RFC 7692 §6:
            # RSV1 only on data frames.
            if opcode not in _CONTROL_NAMES:
                return self._malformed(ts, out, f"reserved control opcode {opcode:#x}")
            if size > 125 or not fin or rsv1:
                return self._malformed(ts, out, f"bad control frame (opcode {opcode:#x})")
        elif opcode == _CONTINUATION:
            if self._msg_opcode is None:  # §5.4: continuation needs a message in progress
                return self._malformed(ts, out, "continuation frame without a message")
            if rsv1:  # RFC 7692 §6.1: RSV1 only on the first frame of a message
                return self._malformed(ts, out, "RSV1 on a continuation frame")
        elif opcode in (_TEXT, _BINARY):
            if self._msg_opcode is not None:  # §5.4: fragments of one message are not interleaved
                return self._malformed(ts, out, "new data frame inside a fragmented message")
            if rsv1 and not self._deflate:  # §5.2: RSV1 MUST be 0 unless negotiated
                return self._malformed(ts, out, "RSV1 set without permessage-deflate")
            self._msg_opcode, self._msg_compressed = opcode, rsv1
            self._msg.clear()
            self._msg_oversize = False
        else:
            return self._malformed(ts, out, f"reserved data opcode {opcode:#x}")
        if opcode < _CLOSE and not self._msg_oversize \
                and len(self._msg) + size > MAX_DECODED_BODY_BYTES:
            self._msg_oversize = True
            self._msg.clear()
        self._in_frame, self._fin, self._opcode, self._mask = True, fin, opcode, mask
        self._remaining, self._frame_offset = size, 0
        self._control.clear()
        if size == 0:
            self._in_frame = False
            self._end_frame(ts, out)
        return True

    def _end_frame(self, ts: int, out: list[HttpEvent]) -> None:
        if self._opcode >= _CLOSE:
            self.control_frames[_CONTROL_NAMES[self._opcode]] += 1
            if self._opcode == _CLOSE:
                self._closed_seen = True
                # §5.5.1: an optional 2-byte status code, then a UTF-8 reason.
                if len(self._control) >= 2:
                    self.close_code = int.from_bytes(self._control[:2], "big")
            return
        if not self._fin:
            return
        opcode, compressed = self._msg_opcode, self._msg_compressed
        self._msg_opcode = None
        if self._msg_oversize:
            self._msg_oversize = False
            self._diag.warn("websocket.message.too_large",
                            "a WebSocket message over the size cap was skipped",
                            sample=self._sample(f"cap {MAX_DECODED_BODY_BYTES} bytes"))
            if compressed and not self._no_context_takeover:
                self._stop_deflate(ts, out, "websocket.deflate.too_large",
                                   "a skipped compressed message broke the shared window")
            return
        data = bytes(self._msg)
        self._msg.clear()
        if compressed:
            inflated = self._inflate(data, ts, out)
            if inflated is None:
                return
            data = inflated
        if opcode == _TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                # The payload is not quoted: messages carry auth tokens and passwords.
                self._diag.warn("websocket.text.bad_utf8", "a WebSocket text message is not UTF-8",
                                sample=self._sample(f"{len(data)} bytes, invalid at byte "
                                                    f"{exc.start}"))
        assert opcode is not None
        self.messages += 1
        out.append(WebSocketMessage(stream=self._stream, from_client=self._from_client,
                                    opcode=opcode, data=data, ts_ns=ts))

    def _inflate(self, data: bytes, ts: int, out: list[HttpEvent]) -> bytes | None:
        """RFC 7692 §7.2.2: append 00 00 ff ff, inflate with the direction's shared window."""
        if self._inflater is None or self._no_context_takeover or self._inflater.eof:
            # A sender that ended a message with a BFINAL block cannot take its window over.
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            result = self._inflater.decompress(data + _DEFLATE_TAIL, MAX_DECODED_BODY_BYTES + 1)
        except zlib.error as exc:
            self._stop_deflate(ts, out, "websocket.deflate.corrupt", f"inflate failed: {exc}")
            return None
        if len(result) > MAX_DECODED_BODY_BYTES:
            self._stop_deflate(ts, out, "websocket.deflate.too_large",
                               f"inflated message over {MAX_DECODED_BODY_BYTES} bytes")
            return None
        return result

    def _stop_deflate(self, ts: int, out: list[HttpEvent], code: str, message: str) -> None:
        """Drop one message; under context takeover the window is now unknown, so stop."""
        self._diag.warn(code, message, sample=self._sample(message))
        self._inflater = None
        if not self._no_context_takeover:
            self._dead = True
            self._buf.clear()
            out.append(ProtocolError(ts_ns=ts, code=code, message=message))

    def _malformed(self, ts: int, out: list[HttpEvent], message: str) -> bool:
        code = "websocket.frame.malformed"
        self._diag.warn(code, "a WebSocket frame breaks RFC 6455; direction dropped",
                        sample=self._sample(message))
        out.append(ProtocolError(ts_ns=ts, code=code, message=message))
        self._dead = True
        self._buf.clear()
        return False

    def _sample(self, detail: str) -> str:
        side = "client" if self._from_client else "server"
        return f"{self._where} {side}: {detail}" if self._where else f"{side}: {detail}"
