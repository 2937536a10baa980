"""HTTP/1.1 from the wire: a passive, sans-IO observer of both directions of one TCP connection.

:class:`Http1Connection` is fed each direction's reassembled TCP bytes with their capture time
and returns :mod:`archcmp.protocols.events`. Requests are numbered 0, 1, … (``stream``) and
paired with responses in order, so pipelining works; response framing follows RFC 9112 §6.3
(HEAD, 1xx, 204 and 304 carry no body; chunked with extensions and trailers; Content-Length;
close-delimited). ``Expect: 100-continue`` and ``103 Early Hints`` give
:class:`InformationalResponse`; a ``101`` switches to ``h2c`` (RFC 9113 §3.2, the original
request becomes HTTP/2 stream 1), to ``websocket`` (RFC 6455, decoded by
:mod:`archcmp.protocols.websocket`) or, after a 2xx to CONNECT (RFC 9110 §9.3.6), to a
``tunnel``.

**Event contract.** Per stream: ``RequestHeaders``, ``RequestData``\\*, ``RequestEnd``; then
``InformationalResponse``\\*, ``ResponseHeaders``, ``ResponseData``\\*, ``ResponseEnd`` (the two
halves interleave: a server may answer before the request body is done). An End is always
emitted, even when the headers already say ``end_stream=True`` (no body follows), as
:mod:`~archcmp.protocols.http2` does. A stream whose response cannot complete (a TCP gap or the
connection's end inside it, or no response at all) gets one ``StreamReset``, and nothing for it
follows. A request body cut by a gap only loses its ``RequestEnd`` (counted
``http1.request.gap``): its response still comes and pairs.

**Fields.** ``Headers`` are the raw field lines in wire order and case (obs-fold replaced by
SP, RFC 9112 §5.2), preceded on requests by RFC 9113 §8.3.1 pseudo-headers so one assembler
reads HTTP/1.1 and HTTP/2 alike: ``:method`` and ``:path`` (origin- and asterisk-form);
``:scheme``, ``:authority`` and ``:path`` (absolute-form); ``:authority`` (CONNECT's
authority-form). Values are UTF-8 when valid, else ISO-8859-1 (RFC 9110 §5.5: field values are
octets; Latin-1 is lossless). ``ts_ns`` of a head is the capture time of its first byte (so
TTFB is the first response byte); body events carry the time of the TCP data that held them
(each chunk of a streamed response keeps its own time); an End the time of its last byte.

**Upgrades.** ``101`` to ``websocket``: ``ResponseHeaders(101, end_stream=True)``,
``ResponseEnd``, ``Upgrade``, then ``WebSocketMessage`` events from both directions. ``101`` to
``h2c``: ``InformationalResponse(101)`` (the final response comes on HTTP/2 stream 1) and
``Upgrade``; afterwards :meth:`Http1Connection.take_leftover` returns what each side sent after
the switch (the client's starts with the HTTP/2 preface) and later ``feed`` calls append to it.
A connection that opens with the HTTP/2 preface (prior knowledge, RFC 9113 §3.3) switches to
``h2c`` at once without an event, as there is no HTTP/1.1 request, so callers check
:attr:`Http1Connection.upgraded` after each ``feed``. Once it is ``h2c`` or ``tunnel``, route
later bytes, gaps and the close to the next machine (gaps fed here are only counted).
For a capture that starts mid-connection call ``gap(side, 0, ts)`` on both sides first: each
side then looks for its next start line.

**Why not h11.** h11 (installed here only through hypercorn's ``record`` extra) is one
endpoint's state machine: a SERVER-role ``Connection`` reads requests and a CLIENT-role one
reads responses only after our code ``send()``s the request to it, and the server role pauses
on a pipelined request until "our" response is sent. Above all it raises and stays in ERROR on
what real captures hold: ``Transfer-Encoding: ,\\tchunked,`` (``sv__http1-chunked.pcap``;
"Only Transfer-Encoding: chunked is supported"), a request without ``Host``, ``Host : a``,
header lines without a colon, conflicting Content-Lengths. A passive observer must count these,
keep going and resync after TCP gaps, which h11 cannot do. The grammar below follows h11's
``_abnf.py`` (the ABNF above each regex), loosened where RFC 9112 lets a recipient be lenient.

**Malformed input** gives a ``ProtocolError`` and a warning, and that direction stops (the
other keeps going: responses to requests already read still pair). Nothing raises.

Warning codes (``{side}`` is ``request`` or ``response``):

===================================  ==========================================================
``http1.{side}.malformed``           bad start line, Content-Length or Transfer-Encoding
                                     (ProtocolError; direction stops)
``http1.{side}.headers_too_large``   header or trailer section over 64 KiB or 1000 fields
``http1.chunk.malformed``            bad chunk-size line or chunk not followed by CRLF
``http1.{side}.incomplete``          the connection ended mid-message (``StreamReset``)
``http1.{side}.gap``                 a TCP hole in this direction (message aborted, resync)
``http1.{side}.resync``              bytes skipped to find the next start line after a gap
``http1.{side}.ignored``             bytes after a ProtocolError, counted at close
``http1.response.missing``           a request never answered (``StreamReset`` at close)
``http1.response.unsolicited``       a response with no request left to pair it with
``http1.message.te_and_cl``          Transfer-Encoding and Content-Length: TE wins (§6.3 ¶3)
``http1.message.bare_lf``            lines ended by LF alone (RFC 9112 §2.2 lets us accept)
``http1.header.obs_fold``            obsolete line folding replaced by SP (§5.2)
``http1.header.invalid_line``        a field line that is not ``token ":" value``: skipped
``http1.header.space_before_colon``  whitespace between field name and colon (§5.1)
``http1.header.leading_whitespace``  a whitespace-led line before the first field (§2.2)
``http1.header.bad_char``            CR or NUL inside a field value, replaced by SP (RFC 9110
                                     §5.5)
``http1.upgrade.unrequested``        a 101 to a request without ``Upgrade``
``http1.upgrade.gap``                a TCP hole after an h2c/tunnel switch (leftovers cannot
                                     carry holes; route gaps to the next machine)
``http1.upgrade.overflow``           bytes held over the cap (after a switch, while an
                                     Upgrade waits for its answer, or sent by the server
                                     before the client spoke)
``http1.upgrade.unanswered``         bytes held after an Upgrade request that got no answer
===================================  ==========================================================
"""

from __future__ import annotations

import bisect
import enum
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from archcmp.diagnostics import Diagnostics
from archcmp.limits import MAX_DECODED_BODY_BYTES
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
    Upgrade,
)
from archcmp.protocols.websocket import WebSocketStream, negotiate_deflate

__all__ = [
    "H2_PREFACE",
    "MAX_CHUNK_LINE_BYTES",
    "MAX_HEADER_FIELDS",
    "MAX_HEADER_SECTION_BYTES",
    "MAX_HELD_BYTES",
    "Http1Connection",
]

Fields = list[tuple[str, str]]

#: Start line plus field lines (or a trailer section), terminators included. 64 KiB is four
#: times h11's 16 KiB default and above nginx's 4 × 8 KiB large_client_header_buffers, so what
#: a real server accepted fits; more is treated as hostile.
MAX_HEADER_SECTION_BYTES = 64 * 1024
#: Field lines per section; Apache's LimitRequestFields is 100, so 1000 is generous.
MAX_HEADER_FIELDS = 1000
#: A chunk-size line with its extensions (RFC 9112 §7.1.1 sets no limit; llhttp and h11 bound
#: it by their header limits). 4 KiB leaves room for long extensions.
MAX_CHUNK_LINE_BYTES = 4096
#: Bytes held for the next protocol after an upgrade, or while a request waits to learn
#: whether it was upgraded: one body's worth (limits.MAX_DECODED_BODY_BYTES).
MAX_HELD_BYTES = MAX_DECODED_BODY_BYTES
#: The HTTP/2 connection preface (RFC 9113 §3.4).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9110 §5.6.2: token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|"
#           / "~" / DIGIT / ALPHA
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# RFC 9112 §3: request-line = method SP request-target SP HTTP-version
#   (§3 ¶3: a recipient MAY split on runs of whitespace instead of single SP)
# RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT
_REQUEST_LINE = re.compile(rb"(%s)[ \t]+(\S+)[ \t]+HTTP/(\d)\.(\d)[ \t]*" % _TOKEN)
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
#   (the SP before an empty reason-phrase is often missing; accepted)
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d)[ \t]+(\d{3})(?:[ \t].*)?", re.S)
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS ; field-name = token
#   (§5.1: whitespace before the colon is invalid; group 2 catches it to warn)
_FIELD_LINE = re.compile(rb"(%s)([ \t]*):[ \t]*(.*?)[ \t]*" % _TOKEN, re.S)
# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF ; chunk-size = 1*HEXDIG
#   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   (extensions are skipped, not validated: producers write bad quoted-strings)
_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;.*)?", re.S)
# RFC 3986 §4.3 absolute-URI (RFC 9112 §3.2.2 absolute-form): scheme "://" authority path-abempty
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)")
# A start line being received: a request-line starts with a method token, a status-line with
# "HTTP/" (checked before the LF arrives, so that TLS or other binary data fails at once).
_TOKEN_PREFIX = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]*")
# Resync after a gap: a conventional start line ending a line. It may follow body bytes on the
# same line (a Content-Length body needs no CRLF), so it is searched for, leftmost first; only
# registered methods (RFC 9110 §9, RFC 5789, RFC 4918) count, to keep body text from matching.
_RESYNC_REQUEST = re.compile(
    rb"(?:GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|PROPFIND|PROPPATCH|MKCOL|COPY"
    rb"|MOVE|LOCK|UNLOCK|SEARCH|REPORT) \S+ HTTP/1\.[01]\r?$")
_RESYNC_STATUS = re.compile(rb"HTTP/1\.[01] [1-5]\d\d(?: [^\r\n]*)?\r?$")
_MAX_START_LINE = 16 * 1024
# RFC 9110 §8.6: Content-Length = 1*DIGIT (ASCII only: str.isdigit also takes "²"); ≤ 18
# digits keeps it below 2^63.
_DIGITS = re.compile(r"[0-9]{1,18}")


def _text(raw: bytes) -> str:
    """Field bytes as text: UTF-8 when valid, else ISO-8859-1 (lossless; RFC 9110 §5.5)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _Buffer:
    """Unconsumed bytes of one direction, remembering the capture time of every byte."""

    __slots__ = ("_data", "_starts", "_times")

    def __init__(self) -> None:
        self._data = bytearray()
        self._starts: list[int] = []
        self._times: list[int] = []

    def __len__(self) -> int:
        return len(self._data)

    def append(self, data: bytes, ts: int) -> None:
        if not self._times or self._times[-1] != ts:
            self._starts.append(len(self._data))
            self._times.append(ts)
        self._data += data

    def find(self, sub: bytes, start: int) -> int:
        return self._data.find(sub, start)

    def peek(self, n: int) -> bytes:
        return bytes(self._data[:n])

    def ts_at(self, index: int) -> int:
        return self._times[bisect.bisect_right(self._starts, index) - 1]

    def take(self, n: int) -> list[tuple[bytes, int]]:
        """Remove the first ``n`` bytes, as runs that each share one capture time."""
        pieces: list[tuple[bytes, int]] = []
        if n <= 0:
            return pieces
        bounds = [*self._starts[1:], len(self._data)]
        keep = 0
        for start, end, ts in zip(self._starts, bounds, self._times, strict=True):
            if start < n:
                pieces.append((bytes(self._data[start : min(end, n)]), ts))
            if end <= n:
                keep += 1
        del self._data[:n]
        self._times = self._times[keep:]
        self._starts = [max(s - n, 0) for s in self._starts[keep:]]
        return pieces

    def clear(self) -> int:
        n = len(self._data)
        self.take(n)
        return n


class _Line(NamedTuple):
    raw: bytes
    """Without its LF or CRLF."""
    first_ts: int
    last_ts: int
    bare_lf: bool


_TOO_LONG = "too long"


class _S(enum.Enum):
    """Reader states of one direction (h11's ``_readers.py`` keys its readers the same way)."""

    HEAD = "head"              # start line and field lines
    LENGTH = "length"          # Content-Length body
    CHUNK_SIZE = "chunk-size"  # RFC 9112 §7.1 chunk-size line
    CHUNK_DATA = "chunk-data"
    CHUNK_END = "chunk-end"    # the CRLF after chunk-data
    TRAILERS = "trailers"      # RFC 9112 §7.1.2 trailer-section
    CLOSE = "close"            # response body delimited by the connection's end
    WAIT = "wait"              # hold bytes: the client's request asked to switch protocols
    #                            (until answered), or the server spoke first (until the client)
    SWITCHED = "switched"      # bytes belong to the next protocol
    RESYNC = "resync"          # after a gap: look for the next start line
    DEAD = "dead"              # after a ProtocolError


@dataclass(slots=True)
class _Request:
    stream: int
    method: str
    upgrade: bool = False
    """It carried Upgrade, or is CONNECT: the response decides what the client sends next."""
    complete: bool = False
    switch: bool | None = None
    """None until the response decides; True after a 101 (or CONNECT 2xx)."""


@dataclass(slots=True)
class _Msg:
    """The message a direction is reading (after its head was emitted)."""

    stream: int
    discard: bool = False
    """Aborted by a gap: framing continues, events are suppressed."""


@dataclass(slots=True)
class _Half:
    from_client: bool
    side: str
    state: _S = _S.HEAD
    buf: _Buffer = field(default_factory=_Buffer)
    scan: int = 0
    lines: list[bytes] = field(default_factory=list)
    section_bytes: int = 0
    head_ts: int = 0
    bare_lf: bool = False
    msg: _Msg | None = None
    remaining: int = 0
    skipped: int = 0
    need_lf: bool = False
    ignored: int = 0
    messages: int = 0
    last_ts: int = 0
    ws: WebSocketStream | None = None


class Http1Connection:
    """Both directions of one HTTP/1.x connection, observed; see the module docstring."""

    def __init__(self, diag: Diagnostics, *, where: str = "") -> None:
        self._diag = diag
        self._where = where
        self._client = _Half(True, "request")
        self._server = _Half(False, "response")
        self._pending: deque[_Request] = deque()
        self._next_stream = 0
        self._upgraded: str | None = None
        self._held: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
        self._reset: set[int] = set()
        self._answered: set[int] = set()
        self._closed = False
        self._out: list[HttpEvent] = []

    # -- public, sans-IO ---------------------------------------------------------------------

    @property
    def upgraded(self) -> str | None:
        """``h2c``, ``websocket``, ``tunnel`` (or another 101 token) once switched."""
        return self._upgraded

    @property
    def websocket(self) -> tuple[WebSocketStream, WebSocketStream] | None:
        """The client and server WebSocket readers (control-frame counts, close code)."""
        c, s = self._client.ws, self._server.ws
        return (c, s) if c is not None and s is not None else None

    def take_leftover(self) -> tuple[bytes, bytes]:
        """Client and server bytes that followed an h2c/tunnel switch; the buffers are emptied."""
        client, server = bytes(self._held[True]), bytes(self._held[False])
        self._held[True].clear()
        self._held[False].clear()
        return client, server

    def feed(self, from_client: bool, data: bytes, ts_ns: int) -> list[HttpEvent]:
        """Read the next ``data`` one side sent, captured at ``ts_ns``."""
        if self._closed or not data:
            return []
        self._out = []
        half = self._client if from_client else self._server
        half.buf.append(data, ts_ns)
        half.last_ts = ts_ns
        self._run(half)
        return self._out

    def gap(self, from_client: bool, missing: int, ts_ns: int) -> list[HttpEvent]:
        """A TCP hole of ``missing`` bytes (0 for a capture that starts mid-connection)."""
        if self._closed:
            return []
        self._out = []
        h = self._client if from_client else self._server
        if missing:  # 0: the capture starts mid-connection (counted by the TCP reassembler)
            self._warn(h, "gap", "a TCP gap in an HTTP/1.1 stream", f"{missing} bytes missing")
        if h.state is _S.SWITCHED:
            if h.ws is not None:
                self._out += h.ws.gap(missing, ts_ns)
            else:
                self._diag.warn("http1.upgrade.gap",
                                "a TCP gap after an h2c/tunnel switch cannot be passed on",
                                sample=self._sample(f"{missing} bytes"))
        elif h.state is _S.DEAD:
            pass
        elif h.state in (_S.LENGTH, _S.CHUNK_DATA) and missing <= h.remaining:
            # The framing survives the hole: abort the message, keep counting its bytes.
            self._abort(h, ts_ns)
            h.remaining -= missing
            if h.remaining == 0 and h.state is _S.LENGTH:
                self._message_done(h, ts_ns, ())
            self._run(h)
        elif h.state is _S.CLOSE:
            self._abort(h, ts_ns)
        else:
            if h.msg is not None:
                self._abort(h, ts_ns)
                if not h.from_client:
                    self._response_done(h)
            elif not h.from_client and (h.lines or self._nonblank(h)) and self._pending:
                # A response head was cut: it belonged to the oldest unanswered request.
                self._reset_stream(self._pending.popleft().stream, ts_ns)
            h.msg = None
            h.skipped += h.buf.clear()
            h.lines.clear()
            h.scan, h.need_lf, h.state = 0, False, _S.RESYNC
        return self._out

    def close(
        self, ts_ns: int, *, reset: bool = False, reason: str | None = None
    ) -> list[HttpEvent]:
        """The connection ended (FIN, RST or the end of the capture); finish what can be."""
        if self._closed:
            return []
        self._closed = True
        self._out = []
        c, s = self._client, self._server
        self._resume_server()
        for h in (c, s):
            if h.ws is not None:
                self._out += h.ws.close(ts_ns)
        for h in (c, s):
            msg = h.msg
            if msg is None or msg.discard:
                if h.state is _S.HEAD and (h.lines or self._nonblank(h)):
                    self._warn(h, "incomplete", f"the connection ended inside a {h.side} head",
                               "head")
            elif h.state is _S.CLOSE and not reset:  # RFC 9112 §6.3 ¶8: body ends at close
                self._out.append(ResponseEnd(stream=msg.stream, ts_ns=ts_ns))
                self._answered.add(msg.stream)
                self._response_done(h)
            else:
                if h.state is not _S.DEAD:
                    self._warn(h, "incomplete", f"the connection ended inside a {h.side} body",
                               f"stream {msg.stream}")
                if not h.from_client:
                    self._reset_stream(msg.stream, ts_ns)
        for req in self._pending:
            if req.stream not in self._reset:
                self._diag.warn("http1.response.missing", "a request got no response",
                                sample=self._sample(f"stream {req.stream} {req.method}"))
                self._reset_stream(req.stream, ts_ns)
        self._pending.clear()
        if c.state is _S.WAIT and len(c.buf):
            self._diag.warn("http1.upgrade.unanswered",
                            "bytes held for an upgrade that was never answered",
                            sample=self._sample(f"{len(c.buf)} bytes"))
        for h in (c, s):
            h.skipped += len(h.buf) if h.state is _S.RESYNC else 0
            if h.skipped:
                self._warn(h, "resync", "bytes skipped to resynchronise", f"{h.skipped} bytes")
            if h.ignored:
                self._warn(h, "ignored", "bytes ignored after a protocol error",
                           f"{h.ignored} bytes")
        reason = reason or ("rst" if reset else "fin")
        self._out.append(ConnectionClosed(ts_ns=ts_ns, reason=reason))
        return self._out

    # -- driver ------------------------------------------------------------------------------

    def _run(self, h: _Half) -> None:
        while _READERS[h.state](self, h):
            pass

    def _line(self, h: _Half, limit: int) -> _Line | str | None:
        """Take the next line (LF or CRLF ended; RFC 9112 §2.2) if it is complete."""
        i = h.buf.find(b"\n", h.scan)
        if i < 0:
            h.scan = len(h.buf)
            return _TOO_LONG if len(h.buf) >= limit else None
        if i + 1 > limit:
            return _TOO_LONG
        first = h.buf.ts_at(0)
        pieces = h.buf.take(i + 1)
        h.scan = 0
        raw = b"".join(p for p, _ in pieces)[:-1]
        bare = not raw.endswith(b"\r")
        return _Line(raw if bare else raw[:-1], first, pieces[-1][1], bare)

    # -- readers (one per state; True = made progress) ---------------------------------------

    def _read_head(self, h: _Half) -> bool:
        if not h.lines and not self._plausible_start(h):
            c = self._client
            if not h.from_client and h.messages == c.messages == 0 and c.state is _S.HEAD:
                # The server spoke first (an HTTP/2 server preface, RFC 9113 §3.4, can come
                # before the client's): hold its bytes until the client's first message says
                # what this connection is.
                h.state = _S.WAIT
                return False
            kind = "request-line" if h.from_client else "status-line"
            return self._fatal(h, "malformed", f"not an HTTP/1.x {kind}")
        line = self._line(h, MAX_HEADER_SECTION_BYTES - h.section_bytes)
        if line is None:
            return False
        if isinstance(line, str):
            return self._fatal(h, "headers_too_large",
                               f"header section over {MAX_HEADER_SECTION_BYTES} bytes")
        if not h.lines:
            if not line.raw:  # RFC 9112 §2.2: ignore empty lines before the start line
                return True
            h.head_ts, h.bare_lf = line.first_ts, False
        h.section_bytes += len(line.raw) + 2
        h.bare_lf |= line.bare_lf
        if line.raw:
            h.lines.append(line.raw)
            if len(h.lines) > MAX_HEADER_FIELDS + 1:
                return self._fatal(h, "headers_too_large",
                                   f"more than {MAX_HEADER_FIELDS} header fields")
            if h.from_client and h.messages == 0 and len(h.lines) == 1 \
                    and line.raw == H2_PREFACE[:14] and not line.bare_lf:
                return self._prior_knowledge(h)
            return True
        lines, h.lines, h.section_bytes = h.lines, [], 0
        if h.bare_lf:
            self._diag.warn("http1.message.bare_lf", "HTTP/1.1 lines ended by a bare LF",
                            sample=self._sample(h.side))
        h.messages += 1
        if h.from_client:
            return self._on_request_head(h, lines, line.last_ts)
        return self._on_response_head(h, lines, line.last_ts)

    def _plausible_start(self, h: _Half) -> bool:
        """Whether the start line being received can be one (RFC 9112 §3, §4), judged on the
        complete line or, before its LF, on its first bytes."""
        end = h.buf.find(b"\n", h.scan)
        if end < 0:
            head = h.buf.peek(8)
            if head in (b"", b"\r"):
                return True
            if h.from_client:
                token = _TOKEN_PREFIX.match(head)
                n = token.end() if token else 0
                return n > 0 and (n == len(head) or head[n] in b" \t")
            return head[:5] == b"HTTP/"[: len(head[:5])]
        raw = h.buf.peek(end)
        line = raw.removesuffix(b"\r")
        if not line:
            return True
        if h.from_client:
            m = _REQUEST_LINE.fullmatch(line)
            return (m is not None and m.group(3) == b"1") or (
                h.messages == 0 and raw == H2_PREFACE[:15])
        m = _STATUS_LINE.fullmatch(line)
        return m is not None and m.group(1) == b"1"

    def _read_length(self, h: _Half) -> bool:
        n = min(h.remaining, len(h.buf))
        if n == 0:
            return False
        ts = self._body(h, h.buf.take(n))
        h.remaining -= n
        if h.remaining == 0:
            self._message_done(h, ts, ())
        return True

    def _read_chunk_size(self, h: _Half) -> bool:
        line = self._line(h, MAX_CHUNK_LINE_BYTES)
        if line is None:
            return False
        if isinstance(line, str):
            return self._fatal_chunk(h, f"chunk-size line over {MAX_CHUNK_LINE_BYTES} bytes")
        m = _CHUNK_SIZE.fullmatch(line.raw)
        digits = m.group(1).lstrip(b"0") if m else b""
        if m is None or len(digits) > 15:
            # Not quoted: a mis-framed body puts body text (tokens too) where the size belongs.
            return self._fatal_chunk(h, f"bad chunk-size line ({_unquoted(line.raw)})")
        h.bare_lf |= line.bare_lf
        h.remaining = int(digits or b"0", 16)
        if h.remaining:
            h.state = _S.CHUNK_DATA
        else:  # RFC 9112 §7.1: last-chunk = 1*("0") [ chunk-ext ] CRLF, then trailer-section
            h.state, h.section_bytes = _S.TRAILERS, 0
        return True

    def _read_chunk_data(self, h: _Half) -> bool:
        if h.remaining == 0:
            h.state = _S.CHUNK_END
            return True
        n = min(h.remaining, len(h.buf))
        if n == 0:
            return False
        self._body(h, h.buf.take(n))
        h.remaining -= n
        if h.remaining == 0:
            h.state = _S.CHUNK_END
        return True

    def _read_chunk_end(self, h: _Half) -> bool:
        line = self._line(h, 2)
        if line is None:
            return False
        if isinstance(line, str) or line.raw:
            return self._fatal_chunk(h, "chunk-data not followed by CRLF")
        h.state = _S.CHUNK_SIZE
        return True

    def _read_trailers(self, h: _Half) -> bool:
        line = self._line(h, MAX_HEADER_SECTION_BYTES - h.section_bytes)
        if line is None:
            return False
        if isinstance(line, str):
            return self._fatal(h, "headers_too_large",
                               f"trailer section over {MAX_HEADER_SECTION_BYTES} bytes")
        h.section_bytes += len(line.raw) + 2
        if line.raw:
            h.lines.append(line.raw)
            if len(h.lines) > MAX_HEADER_FIELDS:
                return self._fatal(h, "headers_too_large",
                                   f"more than {MAX_HEADER_FIELDS} trailer fields")
            return True
        lines, h.lines, h.section_bytes = h.lines, [], 0
        if h.bare_lf | line.bare_lf:
            self._diag.warn("http1.message.bare_lf", "HTTP/1.1 lines ended by a bare LF",
                            sample=self._sample(f"{h.side} chunked body"))
        self._message_done(h, line.last_ts, tuple(self._fields(lines)))
        return True

    def _read_until_close(self, h: _Half) -> bool:
        if not len(h.buf):
            return False
        self._body(h, h.buf.take(len(h.buf)))
        return False

    def _read_wait(self, h: _Half) -> bool:
        if len(h.buf) > MAX_HELD_BYTES:
            return self._fatal(h, "malformed", "too many bytes held waiting for the other side",
                               code="http1.upgrade.overflow")
        return False

    def _read_switched(self, h: _Half) -> bool:
        for data, ts in h.buf.take(len(h.buf)):
            if h.ws is not None:
                self._out += h.ws.feed(data, ts)
            elif len(self._held[h.from_client]) + len(data) <= MAX_HELD_BYTES:
                self._held[h.from_client] += data
            else:
                self._diag.warn("http1.upgrade.overflow",
                                "bytes after an upgrade were not taken and overflowed",
                                sample=self._sample(f"{len(data)} bytes dropped"))
        return False

    def _read_resync(self, h: _Half) -> bool:
        """After a gap: a start line may begin right after the hole or after any LF."""
        if h.need_lf:
            i = h.buf.find(b"\n", 0)
            if i < 0:
                h.skipped += h.buf.clear()
                return False
            h.buf.take(i + 1)
            h.skipped += i + 1
            h.need_lf = False
        end = h.buf.find(b"\n", h.scan)
        if end < 0:
            h.scan = len(h.buf)
            if len(h.buf) >= _MAX_START_LINE:  # no start line is this long: skip to next LF
                h.skipped += h.buf.clear()
                h.scan, h.need_lf = 0, True
            return False
        h.scan = 0
        pattern = _RESYNC_REQUEST if h.from_client else _RESYNC_STATUS
        m = pattern.search(h.buf.peek(end))
        if m is None:
            h.buf.take(end + 1)
            h.skipped += end + 1
            return True
        h.buf.take(m.start())
        h.skipped += m.start()
        if h.skipped:
            self._warn(h, "resync", "bytes skipped to resynchronise", f"{h.skipped} bytes")
            h.skipped = 0
        h.state = _S.HEAD
        return True

    def _read_dead(self, h: _Half) -> bool:
        h.ignored += h.buf.clear()
        return False

    # -- message heads -----------------------------------------------------------------------

    def _on_request_head(self, h: _Half, lines: list[bytes], end_ts: int) -> bool:
        m = _REQUEST_LINE.fullmatch(lines[0])
        assert m is not None  # _plausible_start checked it
        method, target = m.group(1).decode("ascii"), _text(m.group(2))
        fields = self._fields(lines[1:])
        framing = self._framing(h, fields, method=method, status=0)
        req = _Request(self._next_stream, method, upgrade=method == "CONNECT"
                       or any(n.lower() == "upgrade" for n, _ in fields))
        self._next_stream += 1
        self._pending.append(req)
        self._out.append(RequestHeaders(stream=req.stream, headers=(*_pseudo(method, target),
                                                                     *fields),
                                        ts_ns=h.head_ts, end_stream=framing == 0))
        self._resume_server()
        return self._start_body(h, req.stream, framing, end_ts)

    def _resume_server(self) -> None:
        """The client is speaking HTTP/1.x: read what the server sent first (see _read_head)."""
        if self._server.state is _S.WAIT:
            self._server.state = _S.HEAD
            self._run(self._server)

    def _on_response_head(self, h: _Half, lines: list[bytes], end_ts: int) -> bool:
        m = _STATUS_LINE.fullmatch(lines[0])
        assert m is not None  # _plausible_start checked it
        status = int(m.group(3))
        fields = self._fields(lines[1:])
        if not self._pending:
            self._diag.warn("http1.response.unsolicited", "a response with no request to pair",
                            sample=self._sample(f"status {status}"))
            self._pending.append(_Request(self._next_stream, "", complete=True))
            self._next_stream += 1
        req = self._pending[0]
        headers = tuple(fields)
        if status == 101:
            return self._on_switch(h, req, headers, end_ts)
        if status < 200:
            self._out.append(InformationalResponse(stream=req.stream, status=status,
                                                   headers=headers, ts_ns=h.head_ts))
            return True
        if req.method == "CONNECT" and status < 300:  # RFC 9110 §9.3.6: 2xx makes a tunnel
            return self._on_switch(h, req, headers, end_ts, protocol="tunnel", status=status)
        if req.upgrade and req.switch is None:
            req.switch = False
            if self._client.state is _S.WAIT and req.complete:
                self._client.state = _S.HEAD
                self._run(self._client)
        framing = self._framing(h, fields, method=req.method, status=status)
        self._out.append(ResponseHeaders(stream=req.stream, status=status, headers=headers,
                                         ts_ns=h.head_ts, end_stream=framing == 0))
        return self._start_body(h, req.stream, framing, end_ts)

    def _on_switch(self, h: _Half, req: _Request, headers: tuple[tuple[str, str], ...],
                   end_ts: int, *, protocol: str = "", status: int = 101) -> bool:
        """RFC 9110 §7.8 / §15.2.2: both sides switch right after the 101's empty line."""
        if not protocol:
            offered = [v.split(",")[0].strip().lower() for n, v in headers
                       if n.lower() == "upgrade"]
            protocol = offered[0] if offered and offered[0] else "unknown"
            if not req.upgrade:
                self._diag.warn("http1.upgrade.unrequested", "a 101 to a request without Upgrade",
                                sample=self._sample(f"stream {req.stream} → {protocol}"))
        if protocol == "h2c":
            self._out.append(InformationalResponse(stream=req.stream, status=101,
                                                   headers=headers, ts_ns=h.head_ts))
        else:
            self._out.append(ResponseHeaders(stream=req.stream, status=status, headers=headers,
                                             ts_ns=h.head_ts, end_stream=True))
            self._out.append(ResponseEnd(stream=req.stream, ts_ns=end_ts))
        self._out.append(Upgrade(stream=req.stream, protocol=protocol, ts_ns=end_ts))
        self._answered.add(req.stream)
        self._upgraded = protocol
        self._pending.popleft()
        req.switch = True
        if protocol == "websocket":
            deflate = negotiate_deflate(headers, self._diag, where=self._where)
            for half, nct in ((self._client, deflate and deflate.client_no_context_takeover),
                              (self._server, deflate and deflate.server_no_context_takeover)):
                half.ws = WebSocketStream(self._diag, deflate=deflate is not None,
                                          no_context_takeover=bool(nct),
                                          from_client=half.from_client, stream=req.stream,
                                          where=self._where)
        h.state = _S.SWITCHED
        if req.complete and self._client.state in (_S.WAIT, _S.RESYNC, _S.HEAD):
            self._switch_client()
        return True

    def _switch_client(self) -> None:
        c = self._client
        c.state, c.scan, c.lines = _S.SWITCHED, 0, []
        self._run(c)

    def _prior_knowledge(self, h: _Half) -> bool:
        """RFC 9113 §3.3: the client opened with the HTTP/2 preface; hand everything over."""
        h.lines.clear()
        self._held[True] += H2_PREFACE[:16]
        self._upgraded = "h2c"
        h.state = self._server.state = _S.SWITCHED
        self._run(self._server)
        return True

    # -- framing -----------------------------------------------------------------------------

    def _framing(self, h: _Half, fields: Fields, *, method: str, status: int) -> int | str:
        """RFC 9112 §6.3: the body length (bytes), ``"chunked"``, ``"close"`` or an error."""
        # ¶1-2: responses to HEAD, 1xx, 204 and 304 end after the header section.
        if not h.from_client and (method == "HEAD" or status in (204, 304) or status < 200):
            return 0
        te = [v for n, v in fields if n.lower() == "transfer-encoding"]
        cl = [v for n, v in fields if n.lower() == "content-length"]
        if te:
            if cl:  # ¶3: TE overrides CL; "ought to be handled as an error" (smuggling)
                self._diag.warn("http1.message.te_and_cl",
                                "Transfer-Encoding and Content-Length together; TE wins",
                                sample=self._sample(f"{h.side}: TE {te!r} CL {cl!r}"))
            # RFC 9110 §5.6.1: recipients accept empty list elements (",\tchunked,").
            codings = [c.split(";")[0].strip().lower() for v in te for c in v.split(",")]
            codings = [c for c in codings if c]
            if codings and codings[-1] == "chunked":
                return "chunked"
            if not h.from_client:  # ¶4: response without final chunked: read until close
                return "close"
            return f"request Transfer-Encoding {', '.join(te)!r} does not end in chunked"
        if cl:
            # ¶5 and RFC 9110 §8.6: Content-Length = 1*DIGIT; identical repeats may be merged.
            values = {v.strip() for raw in cl for v in raw.split(",")}
            if len(values) != 1 or not all(_DIGITS.fullmatch(v) for v in values):
                return f"bad Content-Length {cl!r}"
            return int(values.pop())
        return 0 if h.from_client else "close"  # ¶6-7

    def _start_body(self, h: _Half, stream: int, framing: int | str, end_ts: int) -> bool:
        if isinstance(framing, str) and framing not in ("chunked", "close"):
            return self._fatal(h, "malformed", framing)
        h.msg = _Msg(stream)
        if framing == 0:
            self._message_done(h, end_ts, ())
        elif framing == "chunked":
            h.state, h.bare_lf = _S.CHUNK_SIZE, False
        elif framing == "close":
            h.state = _S.CLOSE
        else:
            assert isinstance(framing, int)
            h.state, h.remaining = _S.LENGTH, framing
        return True

    def _message_done(self, h: _Half, ts: int, trailers: tuple[tuple[str, str], ...]) -> None:
        msg = h.msg
        assert msg is not None
        h.msg, h.state = None, _S.HEAD
        if h.from_client:
            if not msg.discard:
                self._out.append(RequestEnd(stream=msg.stream, ts_ns=ts, trailers=trailers))
            # The request just read is the newest one pending (or already answered): search
            # from the end, or a pipelined burst of n requests costs n² (issue 8 scaling run).
            req = next((r for r in reversed(self._pending) if r.stream == msg.stream), None)
            if req is not None:
                req.complete = True
                if req.upgrade and req.switch is None:
                    h.state = _S.WAIT
                elif req.switch:
                    h.state = _S.SWITCHED
        else:
            if not msg.discard:
                self._out.append(ResponseEnd(stream=msg.stream, ts_ns=ts, trailers=trailers))
                self._answered.add(msg.stream)
            self._response_done(h)

    def _response_done(self, h: _Half) -> None:
        h.msg = None
        if self._pending:
            self._pending.popleft()

    # -- helpers -----------------------------------------------------------------------------

    def _body(self, h: _Half, pieces: list[tuple[bytes, int]]) -> int:
        msg = h.msg
        assert msg is not None
        for data, ts in pieces:
            if msg.discard:
                continue
            if h.from_client:
                self._out.append(RequestData(stream=msg.stream, data=data, ts_ns=ts))
            else:
                self._out.append(ResponseData(stream=msg.stream, data=data, ts_ns=ts))
        return pieces[-1][1]

    def _fields(self, lines: list[bytes]) -> Fields:
        """Field lines → (name, value) pairs, raw case and order (RFC 9112 §5)."""
        pairs: list[list[bytes]] = []
        for line in lines:
            if line[:1] in (b" ", b"\t"):
                if not pairs:  # RFC 9112 §2.2: consume whitespace-led lines before the first
                    self._note("leading_whitespace", _unquoted(line))
                    continue
                # §5.2: obs-fold = OWS CRLF RWS; replace it with SP before interpreting.
                self._note("obs_fold", repr(pairs[-1][0][:60]))
                pairs[-1][1] = (pairs[-1][1] + b" " + line.strip(b" \t")).strip(b" \t")
                continue
            m = _FIELD_LINE.fullmatch(line)
            if m is None:
                self._note("invalid_line", _unquoted(line))
                continue
            if m.group(2):
                self._note("space_before_colon", repr(m.group(1)[:60]))
            pairs.append([m.group(1), m.group(3)])
        out: Fields = []
        for name, value in pairs:
            if b"\r" in value or b"\x00" in value:  # RFC 9110 §5.5: replace CR/NUL with SP
                self._note("bad_char", repr(name[:60]))
                value = value.replace(b"\r", b" ").replace(b"\x00", b" ")
            out.append((name.decode("ascii"), _text(value)))
        return out

    def _note(self, problem: str, detail: str) -> None:
        """Count a field-line quirk; ``detail`` is a field *name* or :func:`_unquoted`, never a
        value: values are cookies and credentials, and samples reach the report."""
        self._diag.warn(f"http1.header.{problem}", f"HTTP/1.1 header field quirk: {problem}",
                        sample=self._sample(detail))

    def _abort(self, h: _Half, ts: int) -> None:
        """A gap hit the message being read: its events stop, its framing goes on. A cut
        response ends the exchange (StreamReset); a cut request body only loses its RequestEnd,
        since its response still comes and pairs."""
        if h.msg is not None and not h.msg.discard:
            h.msg.discard = True
            if not h.from_client:
                self._reset_stream(h.msg.stream, ts)

    def _reset_stream(self, stream: int, ts: int) -> None:
        """One StreamReset for an exchange whose response cannot complete; nothing follows."""
        if stream in self._reset or stream in self._answered:
            return
        self._reset.add(stream)
        self._out.append(StreamReset(stream=stream, ts_ns=ts))
        for h in (self._client, self._server):
            if h.msg is not None and h.msg.stream == stream:
                h.msg.discard = True

    def _fatal(self, h: _Half, problem: str, message: str, *, code: str = "") -> bool:
        code = code or f"http1.{h.side}.{problem}"
        ts = h.last_ts
        self._diag.warn(code, f"HTTP/1.1 {h.side} stream unreadable; direction dropped",
                        sample=self._sample(message))
        self._out.append(ProtocolError(ts_ns=ts, code=code, message=message))
        h.state = _S.DEAD
        h.ignored += h.buf.clear()
        return False

    def _fatal_chunk(self, h: _Half, message: str) -> bool:
        return self._fatal(h, "malformed", message, code="http1.chunk.malformed")

    def _warn(self, h: _Half, problem: str, message: str, detail: str) -> None:
        self._diag.warn(f"http1.{h.side}.{problem}", message, sample=self._sample(detail))

    def _nonblank(self, h: _Half) -> bool:
        return bool(h.buf.peek(len(h.buf)).strip())

    def _sample(self, detail: str) -> str:
        return f"{self._where}: {detail}" if self._where else detail


def _unquoted(line: bytes) -> str:
    """How a sample shows a line it must not quote (a field line without a colon may be
    ``Cookie sid=…`` or the folded half of a token): its length only."""
    return f"{len(line)}-byte line, not quoted"


def _pseudo(method: str, target: str) -> Fields:
    """RFC 9113 §8.3.1 pseudo-headers for an RFC 9112 §3.2 request-target."""
    if method == "CONNECT" and "/" not in target:  # §3.2.3 authority-form
        return [(":method", method), (":authority", target)]
    m = _ABSOLUTE.fullmatch(target)
    if m is not None:  # §3.2.2 absolute-form (requests to proxies)
        path = m.group(3)
        path = path if path.startswith("/") else "/" + path
        return [(":method", method), (":scheme", m.group(1).lower()), (":authority", m.group(2)),
                (":path", path)]
    return [(":method", method), (":path", target)]  # origin-form, asterisk-form


_READERS: dict[_S, Callable[[Http1Connection, _Half], bool]] = {
    _S.HEAD: Http1Connection._read_head,
    _S.LENGTH: Http1Connection._read_length,
    _S.CHUNK_SIZE: Http1Connection._read_chunk_size,
    _S.CHUNK_DATA: Http1Connection._read_chunk_data,
    _S.CHUNK_END: Http1Connection._read_chunk_end,
    _S.TRAILERS: Http1Connection._read_trailers,
    _S.CLOSE: Http1Connection._read_until_close,
    _S.WAIT: Http1Connection._read_wait,
    _S.SWITCHED: Http1Connection._read_switched,
    _S.RESYNC: Http1Connection._read_resync,
    _S.DEAD: Http1Connection._read_dead,
}
