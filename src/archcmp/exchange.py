"""Protocol events → :class:`~archcmp.model.Exchange` records, whatever the wire protocol.

HTTP/1.1, HTTP/2 and HTTP/3 machines all emit :mod:`archcmp.protocols.events`; one assembler per
connection pairs each stream's request and response and times them from the packets:

- ``started_ms``: the request headers' capture time;
- ``ttfb_ms``: request start → the response headers (the first response byte on the wire);
- ``total_ms``: request start → the response's end (its last byte);
- HAR-style phases: ``send`` (request start → request end), ``wait`` (request end → response
  headers), ``receive`` (response headers → end).

Response body pieces keep their own arrival times (``Body.chunks``), which become per-event
stream times downstream. A stream that never completes (reset, cut capture) still becomes an
exchange, with a counted warning, so nothing the capture held is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from archcmp.decode.content import parse_content_encoding
from archcmp.diagnostics import Diagnostics
from archcmp.model import Body, Exchange, Headers, StreamEvent, Timings, header_value
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
    WebSocketMessage,
)

__all__ = ["ConnectionInfo", "ExchangeAssembler"]

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    """What the transport knows about one connection, stamped on each of its exchanges."""

    id: str
    """Stable text id (``tcp/3``, ``quic/1``) for ``Exchange.connection``."""
    protocol: str
    """``http/1.1``, ``h2`` or ``h3``."""
    scheme: str
    """``https`` when the connection was TLS or QUIC, else ``http``."""
    server_ip: str
    server_port: int
    tls_protocol: str | None = None
    sni: str | None = None


@dataclass(slots=True)
class _Stream:
    request_headers: Headers = ()
    request_start: int | None = None
    request_end: int | None = None
    request_body: bytearray = field(default_factory=bytearray)
    status: int | None = None
    response_headers: Headers = ()
    response_start: int | None = None
    response_end: int | None = None
    response_body: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[int, int]] = field(default_factory=list)
    """(end offset in response_body, arrival ns) per data event."""
    messages: list[WebSocketMessage] = field(default_factory=list)
    reset: bool = False
    trailers: Headers = ()


@dataclass(slots=True)
class ExchangeAssembler:
    """Pairs one connection's HTTP events into exchanges, in the order their requests began."""

    connection: ConnectionInfo
    diag: Diagnostics
    next_index: int = 0
    """Exchange index to hand out next; the caller shares one counter across connections."""
    _streams: dict[int, _Stream] = field(default_factory=dict)

    def feed(self, events: Iterable[HttpEvent]) -> list[Exchange]:
        """Consume events; return the exchanges they completed."""
        done: list[Exchange] = []
        for event in events:
            finished = self._apply(event)
            if finished is not None:
                done.append(finished)
        return done

    def finish(self) -> list[Exchange]:
        """The connection is over: streams still open become (incomplete) exchanges."""
        out = []
        for stream_id in sorted(self._streams):
            stream = self._streams[stream_id]
            if stream.request_start is None:
                continue
            if stream.response_end is None and not stream.messages:
                self.diag.warn("exchange.stream.incomplete",
                               "a request's response did not complete in the capture",
                               sample=f"{self.connection.id} stream {stream_id}")
            out.append(self._build(stream_id, stream))
        self._streams.clear()
        return out

    def _stream(self, stream_id: int) -> _Stream:
        return self._streams.setdefault(stream_id, _Stream())

    def _apply(self, event: HttpEvent) -> Exchange | None:
        if isinstance(event, RequestHeaders):
            stream = self._stream(event.stream)
            stream.request_headers = event.headers
            stream.request_start = event.ts_ns
            if event.end_stream:
                stream.request_end = event.ts_ns
        elif isinstance(event, RequestData):
            stream = self._stream(event.stream)
            stream.request_body += event.data
        elif isinstance(event, RequestEnd):
            self._stream(event.stream).request_end = event.ts_ns
        elif isinstance(event, InformationalResponse):
            pass  # 100 Continue / 103 Early Hints precede the final response
        elif isinstance(event, ResponseHeaders):
            stream = self._stream(event.stream)
            stream.status = event.status
            stream.response_headers = event.headers
            stream.response_start = event.ts_ns
            if event.end_stream:
                stream.response_end = event.ts_ns
                return self._complete(event.stream)
        elif isinstance(event, ResponseData):
            stream = self._stream(event.stream)
            stream.response_body += event.data
            stream.pieces.append((len(stream.response_body), event.ts_ns))
        elif isinstance(event, ResponseEnd):
            stream = self._stream(event.stream)
            stream.response_end = event.ts_ns
            stream.trailers = event.trailers
            return self._complete(event.stream)
        elif isinstance(event, StreamReset):
            stream = self._stream(event.stream)
            stream.reset = True
            if stream.request_start is not None:
                self.diag.warn("exchange.stream.reset", "a stream was reset before its response "
                               "completed", sample=f"{self.connection.id} stream {event.stream}")
                stream.response_end = stream.response_end or event.ts_ns
                return self._complete(event.stream)
        elif isinstance(event, WebSocketMessage):
            self._stream(event.stream).messages.append(event)
        elif isinstance(event, (Upgrade, ConnectionClosed)):
            pass  # the connection driver routes these
        elif isinstance(event, ProtocolError):
            pass  # the machine that raised it has counted it
        return None

    def discard(self, stream_id: int) -> None:
        """Forget a stream whose exchange continues elsewhere (the HTTP/1.1 request that
        upgraded to h2c is HTTP/2 stream 1 from then on)."""
        self._streams.pop(stream_id, None)

    def _complete(self, stream_id: int) -> Exchange | None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.request_start is None:
            return None  # a response without its request (capture started mid-stream)
        if stream.status == 101:
            return None  # the upgraded connection's messages complete it later
        del self._streams[stream_id]
        return self._build(stream_id, stream)

    def _build(self, stream_id: int, s: _Stream) -> Exchange:
        conn = self.connection
        start = s.request_start or 0
        method = header_value(s.request_headers, ":method") or _request_line_method(s)
        url = _url(conn, s.request_headers)
        response_body = None
        if s.status is not None:
            response_body = Body(
                data=bytes(s.response_body),
                content_encoding=parse_content_encoding(
                    [v for n, v in s.response_headers if n.lower() == "content-encoding"]),
                mime_type=header_value(s.response_headers, "content-type"),
                wire_size=len(s.response_body),
                producer_decoded=False,
                chunks=tuple((end, (ts - start) / _NS_PER_MS) for end, ts in s.pieces),
            )
        request_body = None
        if s.request_body:
            request_body = Body(
                data=bytes(s.request_body),
                content_encoding=parse_content_encoding(
                    [v for n, v in s.request_headers if n.lower() == "content-encoding"]),
                mime_type=header_value(s.request_headers, "content-type"),
                wire_size=len(s.request_body),
                producer_decoded=False,
            )
        ms = _ms_since(start)
        exchange = Exchange(
            index=self.next_index,
            method=method,
            url=url,
            protocol=conn.protocol,
            status=s.status,
            started_ms=start / _NS_PER_MS,
            request_headers=s.request_headers,
            response_headers=s.response_headers,
            request_body=request_body,
            response_body=response_body,
            timings=Timings(
                send_ms=ms(s.request_end),
                wait_ms=(None if s.response_start is None else
                         (s.response_start - (s.request_end or start)) / _NS_PER_MS),
                receive_ms=(None if s.response_start is None or s.response_end is None else
                            (s.response_end - s.response_start) / _NS_PER_MS),
            ),
            ttfb_ms=ms(s.response_start),
            total_ms=ms(s.response_end),
            server_ip=conn.server_ip,
            server_port=conn.server_port,
            connection=conn.id,
            tls_protocol=conn.tls_protocol,
            error="reset before the response completed" if s.reset else None,
            events=tuple(
                StreamEvent(index=i, type="text" if m.opcode == 1 else "binary",
                            data=m.data.decode("utf-8", "replace"),
                            time_ms=(m.ts_ns - start) / _NS_PER_MS,
                            direction="send" if m.from_client else "receive")
                for i, m in enumerate(s.messages)),
        )
        self.next_index += 1
        return exchange


def _ms_since(start: int) -> Callable[[int | None], float | None]:
    def ms(ts: int | None) -> float | None:
        return None if ts is None else (ts - start) / _NS_PER_MS
    return ms


def _request_line_method(s: _Stream) -> str:
    return header_value(s.request_headers, ":method") or "GET"


def _url(conn: ConnectionInfo, headers: Headers) -> str:
    """Absolute URL from pseudo-headers (HTTP/2, HTTP/3) or Host + target (HTTP/1.1)."""
    scheme = header_value(headers, ":scheme") or conn.scheme
    authority = (header_value(headers, ":authority") or header_value(headers, "host")
                 or conn.sni or conn.server_ip)
    target = header_value(headers, ":path") or "/"
    if target.startswith(("http://", "https://")):
        return target  # absolute-form (RFC 9112 §3.2.2), as proxies receive it
    if ":" in authority and not authority.startswith("[") and authority.count(":") > 1:
        authority = f"[{authority}]"  # a bare IPv6 address
    return f"{scheme}://{authority}{target}"
