"""Frozen records passed between pipeline stages.

Every stage reads these and makes new ones (``dataclasses.replace``); none alters what an
earlier stage made. Headers stay ordered ``(name, value)`` pairs with repeats and raw case, as
the capture had them (h11's ``_headers.py`` does the same): lowercase only to match, so evidence
can quote the raw form and repeated ``set-cookie`` or pseudo-headers survive.

Times inside a capture are float milliseconds: ``started_ms`` is the Unix epoch in ms (UTC), all
other times are durations or offsets in ms. ``None`` means "the capture does not say", never 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "PROTOCOLS",
    "Body",
    "CaptureMeta",
    "DecodedBody",
    "Exchange",
    "Finding",
    "Header",
    "Observation",
    "Page",
    "StreamEvent",
    "Timings",
    "Warning",
    "header_value",
    "header_values",
]

Header = tuple[str, str]
Headers = tuple[Header, ...]

#: The one protocol vocabulary every reader maps onto (``HTTP/2.0``, ``h2``, ``http/2`` → ``h2``).
PROTOCOLS = ("http/1.0", "http/1.1", "h2", "h3")

DecodeStatus = Literal[
    "ok",  # codings undone (or identity): ``data`` is the decoded body
    "already-decoded",  # the producer stored decoded bytes although a coding was declared
    "not-captured",  # the capture holds no body bytes
    "corrupt",  # a coding failed; ``data`` holds what the layers before it gave
    "truncated",  # a size or ratio cap stopped decoding; ``data`` is the prefix
    "unsupported",  # an unknown coding; ``data`` is the still-encoded body
]


def header_values(headers: Headers, name: str) -> list[str]:
    """All values of ``name`` (case-insensitive), in order."""
    lname = name.lower()
    return [v for n, v in headers if n.lower() == lname]


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of ``name`` (case-insensitive), or None."""
    lname = name.lower()
    for n, v in headers:
        if n.lower() == lname:
            return v
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning:
    """A counted problem with part of the input: recovered from, never fatal."""

    code: str
    """Dotted ``source.object.problem`` code, e.g. ``har.entry.no_response``."""
    message: str
    """One sentence for people, from the first occurrence."""
    count: int
    """How many times it happened."""
    samples: tuple[str, ...] = ()
    """A few examples (an entry index, a URL path) to find it in the capture."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """HAR-style phases of one exchange in ms; None where the capture has no value (HAR -1)."""

    blocked_ms: float | None = None
    dns_ms: float | None = None
    connect_ms: float | None = None
    ssl_ms: float | None = None
    """Part of ``connect_ms`` (HAR 1.2 §timings), not in addition to it."""
    send_ms: float | None = None
    wait_ms: float | None = None
    """Server think time: request sent → first response byte."""
    receive_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    """A message body as the capture stored it, before content decoding."""

    data: bytes | None
    """The stored bytes (base64 already undone); None when the capture holds no body."""
    content_encoding: tuple[str, ...] = ()
    """Codings from ``Content-Encoding`` in header order, lowercased (``("gzip", "br")``)."""
    mime_type: str | None = None
    size: int | None = None
    """The size the producer reports for the body (HAR ``content.size``); producers disagree on
    whether this is the decoded or the encoded size (mitmproxy writes the encoded size)."""
    wire_size: int | None = None
    """Body bytes as transferred, when the producer reports it (HAR ``bodySize``)."""
    base64: bool = False
    """The producer stored the body base64-encoded (usually binary, sometimes still encoded)."""
    producer_decoded: bool | None = None
    """What the producer's format says: True when it stores bodies after undoing the codings
    (Chromium, Firefox, mitmproxy do), False when it stores wire bytes, None when unknown. The
    decoder still checks the bytes, because producers are not consistent."""
    chunks: tuple[tuple[int, float], ...] = ()
    """Arrival of the stored bytes, where the capture knows it (packet captures):
    ``(end offset in data, ms since the exchange started)`` per piece, in order. Streamed
    bodies get per-event times from these; HAR bodies have none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedBody:
    """The result of undoing a body's content codings."""

    data: bytes | None
    status: DecodeStatus
    codings: tuple[str, ...] = ()
    """Codings actually undone, in the order they were undone (reverse header order)."""
    encoded_size: int | None = None
    """Size of the body before decoding, when known."""
    problem: str | None = None
    """Why the status is not ``ok``, for the warning message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEvent:
    """One message of a streamed response: an SSE event, an NDJSON line, a WebSocket frame."""

    index: int
    type: str
    """SSE ``event`` field (``message`` when absent), ``line`` for NDJSON/text streams, the
    prefix for AI-SDK data-stream lines (``0``, ``d``, …), ``text``/``binary`` for WebSocket."""
    data: str
    id: str | None = None
    retry: int | None = None
    time_ms: float | None = None
    """Arrival offset from the exchange start, where the capture carries per-event timing."""
    direction: Literal["receive", "send"] = "receive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """A page load as the producer recorded it (HAR ``log.pages``)."""

    id: str
    title: str | None = None
    started_ms: float | None = None
    dom_content_loaded_ms: float | None = None
    """``pageTimings.onContentLoad``: ms from ``started_ms``."""
    load_ms: float | None = None
    """``pageTimings.onLoad``: ms from ``started_ms``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One HTTP request and its response, however the capture carried it."""

    index: int
    """Position in the capture as read (file order); documents renumber by start time."""
    method: str
    url: str
    protocol: str
    """One of :data:`PROTOCOLS`, or ``unknown``."""
    status: int | None
    """None when the capture has no response (failed, aborted or request-only entries)."""
    status_text: str = ""
    started_ms: float | None = None
    request_headers: Headers = ()
    response_headers: Headers = ()
    request_body: Body | None = None
    response_body: Body | None = None
    timings: Timings = field(default_factory=Timings)
    ttfb_ms: float | None = None
    """Start → first response byte: blocked + dns + connect + send + wait (ssl is in connect)."""
    total_ms: float | None = None
    server_ip: str | None = None
    server_port: int | None = None
    connection: str | None = None
    page_ref: str | None = None
    resource_type: str | None = None
    """The producer's own resource type (Chromium ``_resourceType``), lowercased."""
    transfer_size: int | None = None
    """Bytes on the wire for the response, headers included (Chromium ``_transferSize``)."""
    tls_protocol: str | None = None
    """e.g. ``TLS 1.3`` (Chromium ``_securityDetails.protocol``)."""
    error: str | None = None
    """The producer's error text for a failed request (``_error``)."""
    events: tuple[StreamEvent, ...] = ()
    """Messages the capture recorded one by one (WebSocket messages, per-event packet times)."""

    def request_header(self, name: str) -> str | None:
        return header_value(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return header_value(self.response_headers, name)

    def iter_response_headers(self, name: str) -> Iterator[str]:
        lname = name.lower()
        return (v for n, v in self.response_headers if n.lower() == lname)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureMeta:
    """What a capture says about itself, known once the reader has finished."""

    format: str
    """``har``, ``pcap`` or ``pcapng``."""
    producer: str
    """``chromium``, ``firefox``, ``safari``, ``mitmproxy``, ``playwright``, … or ``unknown``."""
    producer_name: str | None = None
    """The creator string as written (``WebInspector``, ``Charles Proxy``)."""
    producer_version: str | None = None
    browser: str | None = None
    """``name version`` of the browser the producer recorded, when given."""
    format_version: str | None = None
    """HAR ``log.version``."""
    pages: tuple[Page, ...] = ()
    entries: int = 0
    """Entries (HAR) the reader saw, including ones it could not turn into exchanges."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """Everything the classifiers may look at for one exchange, decoded once.

    Built by the pipeline after content decoding and stream parsing and handed to every
    classifier in turn, so no classifier decodes a body or parses a stream again.
    """

    exchange: Exchange
    response: DecodedBody | None = None
    """The decoded response body (None when there was no response)."""
    request: DecodedBody | None = None
    """The decoded request body (None when the request had none)."""
    transport: str | None = None
    """``sse``, ``ndjson``, ``chunked-text``, ``websocket`` when the response streamed."""
    events: tuple[StreamEvent, ...] = ()
    """Parsed stream events (SSE events, NDJSON lines, WebSocket messages)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A claim about the app, with the evidence a sceptical engineer would ask for."""

    category: str
    """Vocabulary of ``fingerprints[].category``: ``cdn``, ``cloud``, ``service_mesh``, …"""
    name: str
    """The vendor or technology (``Cloudflare``, ``Envoy``)."""
    confidence: float
    """0–1: how sure the matched conditions make us (noisy-OR of their weights)."""
    evidence: tuple[str, ...]
    """Human-readable facts with counts: ``cf-ray on 24/24 responses``."""
    rule: str
    """The rule id (``cdn.cloudflare``); leads to ``rules/cdn/cloudflare.yaml``."""
    exchanges: tuple[int, ...] = ()
    """File indexes of the exchanges that matched (documents renumber them)."""
    hosts: tuple[str, ...] = ()
    """Hosts on which it was seen."""
