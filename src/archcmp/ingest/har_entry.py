"""One HAR entry (a parsed JSON object) → one :class:`archcmp.model.Exchange`.

Field by field after HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/, "§entries" and
below), tolerant the way real exports need: every member may be missing, ``null``, ``-1`` or of
the wrong type, and each of those becomes ``None`` (the model's "the capture does not say"),
with a counted warning where a reader of the report should know. Nothing here raises on input.

Producer habits documented in :mod:`archcmp.ingest.har_producers` (mitmproxy's and Firefox's
``connect`` without ``ssl``, Playwright's ``time`` with ``ssl`` twice) are corrected without a
warning: they are facts about the exporter, not faults of one capture, and clean captures must
stay warning-free.

Warning codes (all counted per entry, sample ``entry <index>``):

====================================  =========================================================
``har.entry.no_request``              request method or URL missing; kept with empty strings
``har.entry.no_response``             status 0 / -1 / missing: failed, aborted or request-only
``har.entry.protocol_unknown``        httpVersion empty or not HTTP/1.x, h2, h3 (sample: value)
``har.entry.bad_started``             ``startedDateTime`` missing or unreadable
``har.entry.naive_started``           ``startedDateTime`` without UTC offset; read as UTC
``har.page.bad_started``              the same two for ``log.pages[].startedDateTime``
``har.page.naive_started``
``har.page.malformed``                a ``log.pages`` item without an id; skipped
``har.header.malformed``              neither {name, value} nor [name, value]; skipped
``har.header.over_limit``             over MAX_HAR_HEADER_FIELDS fields or MAX_HAR_HEADER_BYTES
                                      in one message; the rest dropped
``har.timings.ssl_exceeds_connect``   ssl > the connect that contains it; ssl dropped
``har.body.bad_base64``               ``encoding: base64`` text that is not base64; data None
``har.body.unknown_encoding``         ``encoding`` other than base64; text kept as UTF-8
``har.body.external``                 body outside the HAR (Playwright ``_file``/``_sha1``)
``har.body.not_captured``             no body text for a non-empty body: normal for Firefox,
                                      Safari, cached entries, HARs saved without content
``har.websocket.bad_message``         ``_webSocketMessages`` item without type or data
====================================  =========================================================
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.har_fields import (
    as_duration,
    as_int,
    as_mapping,
    as_number,
    as_size,
    as_text,
    parse_timestamp_ms,
)
from archcmp.ingest.har_producers import Producer
from archcmp.limits import MAX_HAR_HEADER_BYTES, MAX_HAR_HEADER_FIELDS
from archcmp.model import Body, Exchange, Header, Page, StreamEvent, Timings, header_values

__all__ = ["convert_entry", "convert_page", "normalise_protocol"]

#: Spellings seen in real HARs (Chromium "http/2.0", "h3"; Firefox "HTTP/2.0", "HTTP/3";
#: Safari "HTTP/2"; chrome-har-capturer "h2", "http/1.1") → the model's vocabulary.
_PROTOCOLS: dict[str, str] = {
    "http/1.0": "http/1.0",
    "http/1.1": "http/1.1",
    "http/2": "h2",
    "http/2.0": "h2",
    "h2": "h2",
    "h2c": "h2",  # RFC 7540 §3.1 cleartext token (obsoleted by RFC 9113 but still written)
    "http/3": "h3",
    "http/3.0": "h3",
    "h3": "h3",
}

#: WebSocket opcodes (RFC 6455 §5.2) → :attr:`StreamEvent.type`. Exporters record data frames
#: (Chromium and mitmproxy write 1 and 2); control frames are named in case one records them.
_WS_OPCODES: dict[int, str] = {1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def convert_entry(
    index: int, entry: Mapping[str, Any], producer: Producer, diag: Diagnostics
) -> Exchange:
    """The :class:`Exchange` for ``log.entries[index]``, with ``producer``'s quirks undone."""
    sample = f"entry {index}"
    request = as_mapping(entry.get("request"))
    response = as_mapping(entry.get("response"))
    method = as_text(request.get("method")) or ""
    url = as_text(request.get("url")) or ""
    if not method or not url:
        diag.warn(
            "har.entry.no_request",
            "HAR entry without a request method or URL; kept with empty values",
            sample=sample,
        )
    # HAR 1.2 has no way to say "no response"; exporters write status 0 (Chromium, mitmproxy),
    # -1 (Playwright) or leave the response out (hand-written and request-only HARs).
    status = as_int(response.get("status"))
    if status is not None and status <= 0:
        status = None
    if status is None:
        diag.warn(
            "har.entry.no_response",
            "HAR entry without a response (status 0, -1 or missing): failed, aborted or "
            "request-only",
            sample=sample,
        )
    request_headers = _headers(request.get("headers"), diag, sample)
    response_headers = _headers(response.get("headers"), diag, sample)
    started_ms = _started(entry.get("startedDateTime"), diag, sample, "har.entry")
    timings, total_ms = _timings(entry, producer, diag, sample)
    return Exchange(
        index=index,
        method=method,
        url=url,
        protocol=_protocol(request, response, status, producer, diag, sample),
        status=status,
        status_text=as_text(response.get("statusText")) or "",
        started_ms=started_ms,
        request_headers=request_headers,
        response_headers=response_headers,
        request_body=_request_body(request, request_headers, producer, diag, sample),
        response_body=_response_body(response, response_headers, status, producer, diag, sample),
        timings=timings,
        ttfb_ms=_ttfb(timings) if status is not None else None,
        total_ms=total_ms,
        server_ip=_server_ip(entry.get("serverIPAddress")),
        server_port=as_size(entry.get("_serverPort")),  # Playwright, Safari
        connection=_connection(entry.get("connection")),
        page_ref=as_text(entry.get("pageref")) or None,
        resource_type=(as_text(entry.get("_resourceType")) or "").lower() or None,
        # Chromium and Playwright put _transferSize in the response, some tools on the entry.
        transfer_size=as_size(response.get("_transferSize", entry.get("_transferSize"))),
        tls_protocol=_tls_protocol(entry, response),
        error=_error(entry, response),
        events=_websocket(entry.get("_webSocketMessages"), started_ms, diag, sample),
    )


def convert_page(index: int, page: Any, diag: Diagnostics) -> Page | None:
    """A ``log.pages`` item → :class:`Page`; None (counted) when it has no id."""
    raw_id = page.get("id") if isinstance(page, dict) else None
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        diag.warn("har.page.malformed", "HAR page without an id; skipped", sample=f"page {index}")
        return None
    timings = as_mapping(page.get("pageTimings"))
    return Page(
        id=str(raw_id),
        title=as_text(page.get("title")) or None,
        started_ms=_started(page.get("startedDateTime"), diag, f"page {index}", "har.page"),
        # HAR 1.2 §pageTimings: ms since page start, -1 when not applicable.
        dom_content_loaded_ms=as_duration(timings.get("onContentLoad")),
        load_ms=as_duration(timings.get("onLoad")),
    )


def normalise_protocol(raw: str) -> str | None:
    """``HTTP/2.0``, ``http/2.0``, ``HTTP/2``, ``h2`` → ``h2``; ``h3-29`` → ``h3``; else None."""
    key = raw.strip().lower()
    if key in _PROTOCOLS:
        return _PROTOCOLS[key]
    if key.startswith("h3-"):
        return "h3"  # draft ALPN tokens h3-29 … (RFC 9114 §3.1 registered plain "h3" later)
    return None


# --- pieces of an entry ---------------------------------------------------------------------


def _protocol(
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    status: int | None,
    producer: Producer,
    diag: Diagnostics,
    sample: str,
) -> str:
    """The response's httpVersion, else the request's (Firefox and Safari leave the response
    one empty for cached and some HTTP/3 entries), normalised."""
    if producer.placeholder_version and status is None:
        candidates: tuple[Any, ...] = ()
    else:
        candidates = (response.get("httpVersion"), request.get("httpVersion"))
    for raw in candidates:
        if isinstance(raw, str) and raw.strip():
            protocol = normalise_protocol(raw)
            if protocol is not None:
                return protocol
            sample = f"{sample}: {raw[:24]!r}"
            break
    diag.warn(
        "har.entry.protocol_unknown",
        "HAR entry whose httpVersion is empty or not HTTP/1.x, h2 or h3",
        sample=sample,
    )
    return "unknown"


def _headers(raw: Any, diag: Diagnostics, sample: str) -> tuple[Header, ...]:
    """HAR 1.2 §headers ``[{name, value}]`` → ordered pairs, case, repeats and h2/h3
    pseudo-headers (Chromium and Playwright write ``:authority`` …) kept as written. Slack's
    exporter writes ``[name, value]`` lists instead (mitmproxy's ``io/har.py`` accepts both)."""
    if not isinstance(raw, list):
        return ()
    pairs: list[Header] = []
    size = 0
    for item in raw:
        if len(pairs) >= MAX_HAR_HEADER_FIELDS:
            break
        if isinstance(item, dict):
            name, value = item.get("name"), item.get("value")
        elif isinstance(item, list) and len(item) == 2:
            name, value = item
        else:
            name = value = None
        if not isinstance(name, str) or isinstance(value, list | dict):
            diag.warn(
                "har.header.malformed",
                "HAR header that is neither {name, value} nor [name, value]; skipped",
                sample=sample,
            )
            continue
        text = "" if value is None else str(value)
        size += len(name) + len(text)
        if size > MAX_HAR_HEADER_BYTES:
            break
        pairs.append((name, text))
    else:
        return tuple(pairs)
    diag.warn(
        "har.header.over_limit",
        f"HAR message with more than {MAX_HAR_HEADER_FIELDS} header fields or "
        f"{MAX_HAR_HEADER_BYTES >> 20} MiB of them; the rest were dropped",
        sample=sample,
    )
    return tuple(pairs)


def _timings(
    entry: Mapping[str, Any], producer: Producer, diag: Diagnostics, sample: str
) -> tuple[Timings, float | None]:
    """HAR 1.2 §timings (-1 = not applicable → None) and the entry total."""
    raw = as_mapping(entry.get("timings"))
    blocked, dns, connect, ssl, send, wait, receive = (
        as_duration(raw.get(name))
        for name in ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
    )
    raw_ssl = ssl
    if ssl is not None and connect is not None:
        if producer.ssl_outside_connect:
            # A known, deterministic producer habit, not a fault of this capture: corrected
            # without a warning, so that clean captures stay warning-free.
            connect += ssl
        elif ssl > connect:
            # HAR 1.2 §timings: ssl "is also included in the connect field"; a larger ssl is
            # not a TLS time (Playwright writes one for plain-http redirects).
            ssl = None
            diag.warn(
                "har.timings.ssl_exceeds_connect",
                "timings.ssl larger than timings.connect, which should contain it; ssl dropped",
                sample=sample,
            )
    timings = Timings(
        blocked_ms=blocked,
        dns_ms=dns,
        connect_ms=connect,
        ssl_ms=ssl,
        send_ms=send,
        wait_ms=wait,
        receive_ms=receive,
    )
    total = as_duration(entry.get("time"))
    if total is not None and raw_ssl and producer.time_counts_ssl_twice:
        total = max(0.0, total - raw_ssl)  # a producer habit, corrected silently (see above)
    if total is None:
        # HAR 1.2 §entries: time is the sum of the phases (ssl excluded: inside connect).
        known = [v for v in (blocked, dns, connect, send, wait, receive) if v is not None]
        total = sum(known) if known else None
    return timings, total


def _ttfb(timings: Timings) -> float | None:
    """Entry start → first response byte: blocked + dns + connect + send + wait, each where
    known. ssl is inside connect (HAR 1.2 §timings) and is not added again; haralyzer's
    ``time_to_first_byte`` sums every phase but ``receive`` and so counts it twice. Without
    ``wait`` there is no first-byte time to speak of."""
    if timings.wait_ms is None:
        return None
    phases = (timings.blocked_ms, timings.dns_ms, timings.connect_ms, timings.send_ms)
    return timings.wait_ms + sum(v for v in phases if v is not None)


def _response_body(
    response: Mapping[str, Any],
    headers: tuple[Header, ...],
    status: int | None,
    producer: Producer,
    diag: Diagnostics,
    sample: str,
) -> Body | None:
    """HAR 1.2 §content. ``size`` is passed on as written: the decoded length for browsers, the
    *encoded* length for mitmproxy (``savehar.py`` writes ``len(raw_content)``)."""
    content = as_mapping(response.get("content"))
    data, is_base64 = _stored_bytes(content, diag, sample)
    size = as_size(content.get("size"))
    if data is None:
        if status is None:
            return None  # no response, so no response body to speak of
        _count_missing(content, size, diag, sample)
    return Body(
        data=data,
        content_encoding=_codings(headers),
        mime_type=as_text(content.get("mimeType")) or None,
        size=size,
        wire_size=as_size(response.get("bodySize")),
        base64=is_base64,
        producer_decoded=producer.decodes_bodies,
    )


def _request_body(
    request: Mapping[str, Any],
    headers: tuple[Header, ...],
    producer: Producer,
    diag: Diagnostics,
    sample: str,
) -> Body | None:
    """HAR 1.2 §postData: ``text``, or ``params`` alone for form posts (rebuilt as
    ``application/x-www-form-urlencoded``). Browsers store the request body as sent, so
    ``producer_decoded`` is only claimed for mitmproxy, whose ``get_text()`` decodes."""
    post = request.get("postData")
    if not isinstance(post, dict):
        return None
    data, is_base64 = _stored_bytes(post, diag, sample)
    wire_size = as_size(request.get("bodySize"))
    mime_type = as_text(post.get("mimeType")) or None
    if data is None:
        data = _form_params(post.get("params"), mime_type)
    elif not data and wire_size:
        # Playwright writes text "" for bodies it did not embed (application/octet-stream).
        data = None
    if data is None:
        _count_missing(post, wire_size, diag, sample)
    return Body(
        data=data,
        content_encoding=_codings(headers),
        mime_type=mime_type,
        wire_size=wire_size,
        base64=is_base64,
        producer_decoded=True if producer.key == "mitmproxy" else None,
    )


def _stored_bytes(
    holder: Mapping[str, Any], diag: Diagnostics, sample: str
) -> tuple[bytes | None, bool]:
    """``text`` (+ ``encoding``) → (bytes or None, was base64)."""
    text = holder.get("text")
    if not isinstance(text, str):
        return None, False
    encoding = (as_text(holder.get("encoding")) or "").lower()
    if encoding == "base64":
        try:
            # Some exporters wrap base64 at 76 columns (MIME style); whitespace is not data.
            return base64.b64decode("".join(text.split()), validate=True), True
        except (binascii.Error, ValueError):
            diag.warn(
                "har.body.bad_base64",
                "body marked base64 that does not decode; body dropped",
                sample=sample,
            )
            return None, True
    if encoding:
        diag.warn(
            "har.body.unknown_encoding",
            "body with a content.encoding other than base64; text kept as UTF-8",
            sample=f"{sample}: {encoding[:16]!r}",
        )
    # JSON strings are Unicode; HAR stores decoded text, so UTF-8 is the natural byte form.
    # surrogatepass: a lone \ud800 escape (possible in JSON) must not crash the run.
    return text.encode("utf-8", "surrogatepass"), False


def _count_missing(
    holder: Mapping[str, Any], size: int | None, diag: Diagnostics, sample: str
) -> None:
    if "_file" in holder or "_sha1" in holder:
        diag.warn(
            "har.body.external",
            "body stored outside the HAR (Playwright _file/_sha1 attachment); not read",
            sample=sample,
        )
    elif size != 0:
        diag.warn(
            "har.body.not_captured",
            "body not in the HAR (normal for Firefox, Safari, cached entries and HARs saved "
            "without content)",
            sample=sample,
        )


def _form_params(raw: Any, mime_type: str | None) -> bytes | None:
    """HAR 1.2 §params → urlencoded bytes, for url-encoded forms only (multipart parts with
    ``fileName`` cannot be rebuilt byte for byte)."""
    if not isinstance(raw, list) or not raw:
        return None
    if mime_type and not mime_type.lower().startswith("application/x-www-form-urlencoded"):
        return None
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or "fileName" in item:
            return None
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str):
            return None
        pairs.append((name, value if isinstance(value, str) else ""))
    return urlencode(pairs).encode("ascii")


def _codings(headers: tuple[Header, ...]) -> tuple[str, ...]:
    """RFC 9110 §8.4: ``Content-Encoding = #content-coding``, case-insensitive, in the order
    applied; repeated fields join as one list (§5.3). Private twin of
    ``archcmp.decode.content.parse_content_encoding``, kept here to avoid an import cycle."""
    return tuple(
        coding
        for value in header_values(headers, "content-encoding")
        for coding in (part.strip().lower() for part in value.split(","))
        if coding
    )


def _websocket(
    raw: Any, started_ms: float | None, diag: Diagnostics, sample: str
) -> tuple[StreamEvent, ...]:
    """``_webSocketMessages`` (Chromium DevTools and mitmproxy both write ``{type, time,
    opcode, data}`` with ``time`` in Unix seconds) → events timed from the entry start.
    Binary data stays the base64 text the producer wrote."""
    if not isinstance(raw, list):
        return ()
    events: list[StreamEvent] = []
    for message in raw:
        kind = message.get("type") if isinstance(message, dict) else None
        data = message.get("data") if isinstance(message, dict) else None
        if kind not in ("send", "receive") or not isinstance(data, str):
            diag.warn(
                "har.websocket.bad_message",
                "WebSocket message without a send/receive type or data; skipped",
                sample=sample,
            )
            continue
        direction: Literal["send", "receive"] = "send" if kind == "send" else "receive"
        opcode = as_int(message.get("opcode"))
        at = as_number(message.get("time"))
        events.append(
            StreamEvent(
                index=len(events),
                # No opcode: the data is a JSON string, so call it text.
                type="text" if opcode is None else _WS_OPCODES.get(opcode, f"opcode-{opcode}"),
                data=data,
                time_ms=None if at is None or started_ms is None else at * 1000.0 - started_ms,
                direction=direction,
            )
        )
    return tuple(events)


def _started(raw: Any, diag: Diagnostics, sample: str, source: str) -> float | None:
    """``startedDateTime`` → epoch ms; ``source`` (``har.entry``/``har.page``) prefixes codes."""
    parsed = parse_timestamp_ms(raw) if isinstance(raw, str) else None
    if parsed is None:
        diag.warn(
            f"{source}.bad_started",
            "startedDateTime missing or not an ISO 8601 date-time; start time unknown",
            sample=sample,
        )
        return None
    started_ms, has_offset = parsed
    if not has_offset:
        diag.warn(
            f"{source}.naive_started",
            "startedDateTime without a UTC offset (HAR 1.2 requires one); read as UTC",
            sample=sample,
        )
    return started_ms


def _server_ip(raw: Any) -> str | None:
    """``serverIPAddress`` without the brackets Playwright and Chromium put around IPv6."""
    text = (as_text(raw) or "").strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text or None


def _connection(raw: Any) -> str | None:
    """HAR 1.2 ``connection``: Chromium writes a connection id, Firefox a port; kept as text."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return str(int(raw))
    return as_text(raw) or None


def _tls_protocol(entry: Mapping[str, Any], response: Mapping[str, Any]) -> str | None:
    details = entry.get("_securityDetails", response.get("_securityDetails"))
    return (as_text(details.get("protocol")) or None) if isinstance(details, dict) else None


def _error(entry: Mapping[str, Any], response: Mapping[str, Any]) -> str | None:
    """Chromium and mitmproxy: ``response._error``; Playwright: ``response._failureText``."""
    for raw in (entry.get("_error"), response.get("_error"), response.get("_failureText")):
        if text := as_text(raw):
            return text
    return None
