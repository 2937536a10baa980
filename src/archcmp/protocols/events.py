"""Events every HTTP machine (HTTP/1.1, HTTP/2, HTTP/3) emits, so one assembler serves all.

Times are integer nanoseconds since the Unix epoch (the packet's capture time); ``stream`` is
the HTTP/2 or HTTP/3 stream id, or for HTTP/1.1 the request's sequence number on its
connection (0, 1, 2 …). Direction is from the client's point of view: ``request`` events come
from the client, ``response`` events from the server.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConnectionClosed",
    "HttpEvent",
    "InformationalResponse",
    "ProtocolError",
    "RequestData",
    "RequestEnd",
    "RequestHeaders",
    "ResponseData",
    "ResponseEnd",
    "ResponseHeaders",
    "StreamReset",
    "Upgrade",
    "WebSocketMessage",
]

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeaders:
    stream: int
    headers: Headers
    """In wire order with repeats and raw case; HTTP/2 and HTTP/3 pseudo-headers included."""
    ts_ns: int
    end_stream: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestData:
    stream: int
    data: bytes
    """Body bytes as sent (still content-encoded; HTTP/1.1 chunked framing removed)."""
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEnd:
    stream: int
    ts_ns: int
    trailers: Headers = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InformationalResponse:
    """A 1xx response (100 Continue, 103 Early Hints) before the final one."""

    stream: int
    status: int
    headers: Headers
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHeaders:
    stream: int
    status: int
    headers: Headers
    ts_ns: int
    end_stream: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseData:
    stream: int
    data: bytes
    """Body bytes as received, in arrival order, each with its own time: per-event stream
    timing comes from these."""
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseEnd:
    stream: int
    ts_ns: int
    trailers: Headers = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamReset:
    """RST_STREAM / STOP_SENDING / a connection cut mid-message: the exchange is incomplete."""

    stream: int
    ts_ns: int
    error_code: int = 0
    by_client: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    """The connection switched protocol after a 101 (``h2c``, ``websocket``)."""

    stream: int
    protocol: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocketMessage:
    stream: int
    """The stream (HTTP/1.1 request number) whose Upgrade opened the WebSocket."""
    from_client: bool
    opcode: int
    """1 text, 2 binary (RFC 6455 §5.2); control frames are not reported as messages."""
    data: bytes
    """Unmasked, reassembled from fragments, permessage-deflate undone."""
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    ts_ns: int
    reason: str = ""
    """``fin``, ``rst``, ``goaway`` (with the last stream id), or ``capture-end``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolError:
    """The peer broke the protocol; the machine stops decoding this connection."""

    ts_ns: int
    code: str
    """A dotted warning code (``h2.frame.bad_length``)."""
    message: str


HttpEvent = (
    RequestHeaders | RequestData | RequestEnd | InformationalResponse | ResponseHeaders
    | ResponseData | ResponseEnd | StreamReset | Upgrade | WebSocketMessage | ConnectionClosed
    | ProtocolError
)
