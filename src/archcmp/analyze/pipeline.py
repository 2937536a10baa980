"""capture file → exchanges → decoded bodies and streams → analysis document.

The capture is read once, as a stream: each exchange is decoded, summarised into a small row and
dropped, so memory follows the largest entry, not the file. The file is hashed in a separate,
fast pass first, because the hash decides whether the analysis is needed at all.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archcmp.analyze.document import DocumentBuilder, ExchangeRow, StreamRow, host_of
from archcmp.analyze.kinds import exchange_kind, media_type
from archcmp.analyze.streams import summarise_events
from archcmp.analyze.teardown import Teardown
from archcmp.classify.rules import RuleSet, load_rules
from archcmp.decode.content import decode_body
from archcmp.decode.jsondepth import too_deep
from archcmp.decode.lines import classify_stream, parse_stream
from archcmp.decode.timing import decoded_chunk_times
from archcmp.diagnostics import Diagnostics
from archcmp.errors import CaptureError
from archcmp.ingest.har import HarReader
from archcmp.ingest.sniff import open_capture
from archcmp.limits import MAX_DECODED_BODY_BYTES, MAX_JSON_DEPTH
from archcmp.model import DecodedBody, Exchange, Observation, StreamEvent
from archcmp.redact import Redactor, redact_document_in_place

if TYPE_CHECKING:
    from archcmp.wire import WireReader

__all__ = ["AnalyzeOptions", "analyze_capture", "file_sha256", "process_exchange"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyzeOptions:
    """Knobs of one analysis run (the CLI's flags)."""

    label: str | None = None
    """The user's name for the capture (``--name``); defaults to the file name."""
    max_body_bytes: int = MAX_DECODED_BODY_BYTES
    rules: RuleSet | None = None
    """Classification rules; None loads the built-in ones."""
    keylog: bytes | None = None
    """An NSS key log (``--keylog``) for TLS and QUIC in packet captures."""


def file_sha256(path: Path) -> tuple[str, int]:
    """The capture's identity in the store, and its size."""
    try:
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256")
    except OSError as exc:
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    return digest.hexdigest(), path.stat().st_size


def _decoded_size(decoded: DecodedBody | None) -> int | None:
    if decoded is None or decoded.data is None:
        return None
    if decoded.status in ("ok", "already-decoded"):
        return len(decoded.data)
    return None


def process_exchange(
    exchange: Exchange,
    diag: Diagnostics,
    redactor: Redactor,
    *,
    max_body_bytes: int,
    teardown: Teardown | None = None,
) -> tuple[ExchangeRow, StreamRow | None]:
    """Decode one exchange, show it to the analysers, and reduce it to the document's rows."""
    # Remember this exchange's cookie and key values so the final redaction pass masks them
    # wherever they are echoed (a session id in a URL path, a key in an error text).
    redactor.harvest((exchange,))
    body = exchange.response_body
    decoded: DecodedBody | None = None
    if body is not None and exchange.status is not None:
        decoded = decode_body(body, diag, max_bytes=max_body_bytes, where=f"entry {exchange.index}")
    content_type = exchange.response_header("content-type") or (body.mime_type if body else None)

    stream: StreamRow | None = None
    transport: str | None = None
    events: tuple[StreamEvent, ...] = ()
    if exchange.events:
        # Messages the producer recorded one by one (WebSocket): their own transport.
        transport, events = "websocket", exchange.events
    elif decoded is not None and decoded.data:
        kind = classify_stream(decoded.data, content_type, exchange.response_headers)
        if kind is not None:
            transport = kind
            times = None
            if body is not None and body.chunks and decoded.status == "ok":
                # Packet captures: each event gets the arrival of the bytes that completed it.
                times = decoded_chunk_times(body.data or b"", body.chunks, decoded.codings[::-1],
                                            max_bytes=max_body_bytes)
            events = tuple(parse_stream(kind, decoded.data, diag, times=times,
                                        where=f"entry {exchange.index}"))
    if transport is not None:
        stream = StreamRow(index=exchange.index, transport=transport,
                           summary=summarise_events(events))
    if teardown is not None:
        request = exchange.request_body
        decoded_request = (decode_body(request, diag, max_bytes=max_body_bytes,
                                       where=f"entry {exchange.index} request")
                           if request is not None and request.data is not None else None)
        for side, body_data in (("response", decoded and decoded.data),
                                ("request", decoded_request and decoded_request.data)):
            if body_data and too_deep(body_data):
                diag.warn("body.json.too_deep", f"JSON body nested deeper than {MAX_JSON_DEPTH} "
                          "levels; the analysers that read JSON skipped it",
                          sample=f"entry {exchange.index} {side}")
        teardown.observe(Observation(
            exchange=exchange,
            response=decoded,
            request=decoded_request,
            transport=transport,
            events=events,
        ))

    if decoded is None:
        body_status = "no-response" if exchange.status is None else "not-captured"
    else:
        body_status = decoded.status
    mtype = media_type(content_type)
    host = host_of(exchange.url)
    row = ExchangeRow(
        index=exchange.index,
        # Rows live until the document is built: a million of them repeat a handful of
        # methods, hosts and media types, so those strings are shared, not copied per row.
        method=sys.intern(exchange.method),
        url=redactor.url(exchange.url),
        host=None if host is None else sys.intern(host),
        status=exchange.status,
        protocol=sys.intern(exchange.protocol),
        content_encoding=body.content_encoding if body else (),
        response_content_type=None if mtype is None else sys.intern(mtype),
        kind=exchange_kind(
            exchange, streamed=stream is not None and stream.transport != "websocket"
        ),
        started_ms=exchange.started_ms,
        ttfb_ms=exchange.ttfb_ms,
        total_ms=exchange.total_ms,
        response_bytes=_response_bytes(exchange, decoded),
        decoded_bytes=_decoded_size(decoded),
        transfer_bytes=exchange.transfer_size,
        body_status=body_status,
        page_ref=None if exchange.page_ref is None else sys.intern(exchange.page_ref),
        error=redactor.text(exchange.error) if exchange.error else None,
        tls_protocol=None if exchange.tls_protocol is None else sys.intern(exchange.tls_protocol),
    )
    return row, stream


def _response_bytes(exchange: Exchange, decoded: DecodedBody | None) -> int | None:
    """Body bytes as transferred: the producer's ``bodySize`` if given, else what we measured."""
    body = exchange.response_body
    if body is not None and body.wire_size is not None:
        return body.wire_size
    if decoded is not None and decoded.encoded_size is not None:
        return decoded.encoded_size
    return None


def analyze_capture(
    path: Path,
    *,
    options: AnalyzeOptions,
    redactor: Redactor,
    diag: Diagnostics | None = None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """Read ``path`` end to end and return its (redacted) analysis document."""
    diag = diag if diag is not None else Diagnostics()
    if sha256 is None:
        sha256, size = file_sha256(path)
    else:
        size = path.stat().st_size
    builder = DocumentBuilder()
    teardown = Teardown(rules=options.rules or load_rules(), diag=diag)
    decryption: dict[str, Any] | None = None
    with open_capture(path) as opened:
        reader: HarReader | WireReader
        if opened.format == "har":
            if options.keylog is not None:
                diag.warn("keylog.unused", "a key log was given for a HAR, which holds no "
                          "encrypted traffic; it was not used")
            reader = HarReader(opened.stream, diag, name=path.name)
        else:
            from archcmp.ingest.keylog import KeyLog
            from archcmp.wire import WireReader

            keylog = (KeyLog.parse(options.keylog, diag, source="--keylog", explicit=True)
                      if options.keylog is not None else None)
            reader = WireReader(opened.stream, opened.format, diag, keylog=keylog,
                                name=path.name)
        for exchange in reader.exchanges():
            row, stream = process_exchange(
                exchange, diag, redactor, max_body_bytes=options.max_body_bytes,
                teardown=teardown,
            )
            builder.add(row, stream)
        meta = reader.meta
        if not isinstance(reader, HarReader):
            decryption = reader.decryption
    findings = teardown.result(meta.pages)
    del teardown  # the analysers' per-exchange state is not needed past their results
    document = builder.build(
        name=path.name,
        label=options.label,
        sha256=sha256,
        size=size,
        meta=meta,
        warnings=diag.warnings(),
        teardown=findings,
        decryption=decryption,
    )
    # The rows are in the document now: free them before the redaction pass.
    del builder, findings
    redact_document_in_place(document, redactor)
    return document

