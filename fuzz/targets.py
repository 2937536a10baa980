"""Fuzz targets: one function per parser, ``bytes -> None``; only ``ArchcmpError`` may escape.

Each target turns one fuzz input into calls of a parser's public, sans-IO API, the way
:mod:`archcmp.wire` and :mod:`archcmp.analyze.pipeline` drive it. Anything but
:class:`~archcmp.errors.ArchcmpError` leaving a target is a bug (style.md §3): the atheris
harnesses (``fuzz_<name>.py``) report it as a crash, and ``tests/test_regressions.py`` replays
the saved inputs under ``tests/regressions/<name>/`` through the same functions.

This module needs no atheris, so the regression test can import it.

Framed inputs. The stream machines take a sequence of pieces, one per ``feed``; a fuzz input
carries them as records (``fuzz/make_seeds.py`` writes real connections this way):

* TCP-like (``tls``, ``http1``, ``http2``): ``tag u8 · length u16be · bytes``; tag bit 0 =
  from the client, bit 1 = a TCP gap of ``length`` bytes instead of data (the bytes are
  skipped).
* ``quic``: ``tag u8 · length u16be · datagram``; bit 0 = from the client, bits 1-2 pick one
  of four client ports (several connections).
* ``h3``: ``tag u8 · stream id u16be · length u16be · bytes``; bit 0 = from the client, bit 1 =
  FIN, bit 2 = RESET_STREAM instead of data.

A record cut by the end of the input is fed as far as it goes.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from archcmp.analyze.document import DocumentBuilder
from archcmp.analyze.pipeline import process_exchange
from archcmp.analyze.teardown import Teardown
from archcmp.classify.rules import RuleSet, load_rules
from archcmp.decode.content import decode_body
from archcmp.decode.lines import STREAM_PARSERS, classify_stream, parse_stream
from archcmp.decode.sse import SseParser
from archcmp.decode.timing import decoded_chunk_times
from archcmp.diagnostics import Diagnostics
from archcmp.errors import ArchcmpError
from archcmp.exchange import ConnectionInfo, ExchangeAssembler
from archcmp.ingest.har import HarReader
from archcmp.ingest.keylog import KeyLog
from archcmp.ingest.sniff import sniff_stream
from archcmp.model import Body
from archcmp.protocols.events import HttpEvent, RequestHeaders, Upgrade
from archcmp.protocols.http1 import Http1Connection
from archcmp.protocols.http2 import H2Connection
from archcmp.protocols.http3 import H3Connection
from archcmp.protocols.quic import (
    QuicConnectionClosed,
    QuicHandshakeDone,
    QuicStreamData,
    QuicStreamReset,
    QuicTracker,
)
from archcmp.protocols.tls import TlsAppData, TlsSession
from archcmp.redact import Redactor, redact_document_in_place

__all__ = ["TARGETS", "keys", "run"]

FUZZ = Path(__file__).resolve().parent

#: Decoded size cap per body inside the fuzz targets (4 MiB rather than the CLI's 64 MiB): the
#: caps are the same code at any size, and a bomb then costs milliseconds, not a second.
MAX_BODY = 4 * 1024 * 1024

_CLIENT = ("10.0.0.1", 50000)
_SERVER = ("10.0.0.2", 443)


@cache
def keys() -> KeyLog:
    """The key log of the seed captures (``fuzz/keys.log``), so seeds decrypt and mutations
    reach the decrypted layers; an empty key log when the file is absent."""
    path = FUZZ / "keys.log"
    if not path.is_file():
        return KeyLog()
    return KeyLog.parse(path.read_bytes(), Diagnostics(), source=str(path))


@cache
def _rules() -> RuleSet:
    return load_rules()


def _tcp_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        tag = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 3], "big")
        yield tag, data[pos + 3 : pos + 3 + size]
        pos += 3 + size


def _h3_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    pos = 0
    while pos < len(data):
        tag = data[pos]
        stream_id = int.from_bytes(data[pos + 1 : pos + 3], "big")
        size = int.from_bytes(data[pos + 3 : pos + 5], "big")
        yield tag, stream_id, data[pos + 5 : pos + 5 + size]
        pos += 5 + size


# --- whole captures ------------------------------------------------------------------------


def analyze_bytes(data: bytes, *, keylog: bytes | None = None) -> dict[str, Any]:
    """:func:`archcmp.analyze.pipeline.analyze_capture` over an in-memory capture: sniff,
    HAR or wire reader, decode, classify, build the document, redact."""
    diag = Diagnostics()
    redactor = Redactor(key=b"\x00" * 32)
    teardown = Teardown(rules=_rules(), diag=diag)
    builder = DocumentBuilder()
    opened = sniff_stream(io.BytesIO(data), name="fuzz")
    decryption = None
    if opened.format == "har":
        reader: Any = HarReader(opened.stream, diag, name="fuzz")
    else:
        from archcmp.wire import WireReader

        log = keys() if keylog is None else KeyLog.parse(keylog, diag, source="fuzz",
                                                         explicit=True)
        reader = WireReader(opened.stream, opened.format, diag, keylog=log, name="fuzz")
    for exchange in reader.exchanges():
        row, stream = process_exchange(exchange, diag, redactor, max_body_bytes=MAX_BODY,
                                       teardown=teardown)
        builder.add(row, stream)
    meta = reader.meta
    if opened.format != "har":
        decryption = reader.decryption
    document = builder.build(name="fuzz", sha256="0" * 64, size=len(data), meta=meta,
                             warnings=diag.warnings(), teardown=teardown.result(meta.pages),
                             decryption=decryption)
    redact_document_in_place(document, redactor)
    return document


def har(data: bytes) -> None:
    """HAR bytes (any compression/BOM) → sniff → HarReader → the whole analysis."""
    analyze_bytes(data)


def wire(data: bytes) -> None:
    """pcap/pcapng bytes → sniff → WireReader (flows, TLS, QUIC, HTTP) → the whole analysis,
    with the seed captures' keys."""
    analyze_bytes(data)


def keylog(data: bytes) -> None:
    """An NSS key log, as ``--keylog`` (explicit: may raise BadKeyLog) and as a DSB."""
    diag = Diagnostics()
    log = KeyLog.parse(data, diag, source="fuzz")
    for label, random in log:
        log.secret(label, random)
        log.labels_for(random)
    log.merge(keys())
    repr(log)
    KeyLog.parse(data, diag, source="fuzz", explicit=True)


# --- bodies --------------------------------------------------------------------------------

_CODINGS = ("gzip", "br", "zstd", "deflate", "x-gzip", "identity", "compress", "GZIP")
_MIMES = (None, "application/json", "text/html", "text/event-stream", "image/png",
          "application/gzip", "application/x-ndjson", "text/plain; charset=utf-8")


def content(data: bytes) -> None:
    """``decode_body`` with codings, producer flag and media type chosen by the first 3 bytes,
    then the per-chunk timing of the decoded body (packet captures' path)."""
    if len(data) < 3:
        return
    a, b, c = data[0], data[1], data[2]
    count = a & 0x7  # 0-7 codings; the cap is 8, an "x" token pushes some over it
    codings = tuple(_CODINGS[(b >> (i % 3)) + i & 0x7] for i in range(count))
    if a & 0x8:
        codings += ("br", "gzip", "zstd", "deflate", "gzip", "br", "zstd", "gzip")[: c & 7]
    producer = (None, True, False)[(a >> 4) % 3]
    mime = _MIMES[(a >> 6) | (c >> 6) << 2 & 0x7]
    body_bytes = data[3:]
    step = (c & 0x3F) + 1
    chunks = tuple((min(end, len(body_bytes)), float(i))
                   for i, end in enumerate(range(step, len(body_bytes) + step, step)))
    body = Body(data=body_bytes, content_encoding=codings, mime_type=mime,
                producer_decoded=producer, chunks=chunks)
    diag = Diagnostics()
    decoded = decode_body(body, diag, max_bytes=MAX_BODY, where="fuzz")
    if decoded.status == "ok" and decoded.data is not None:
        decoded_chunk_times(body_bytes, chunks, decoded.codings[::-1], max_bytes=MAX_BODY)
        kind = classify_stream(decoded.data, mime)
        if kind is not None:
            parse_stream(kind, decoded.data, diag, where="fuzz")


def stream(data: bytes) -> None:
    """SSE / NDJSON / data-stream parsers: classify, parse whole, and parse in pieces cut at
    offsets drawn from the first byte; SSE must give the same events however it is cut
    (WHATWG §9.2.5, documented in :mod:`archcmp.decode.sse`)."""
    if not data:
        return
    step = data[0] + 1
    body = data[1:]
    diag = Diagnostics()
    kind = classify_stream(body, None)
    for name in ("sse", "ndjson", "chunked-text"):
        times = [(min(end, len(body)), float(end)) for end in range(step, len(body) + step, step)]
        parse_stream(name, body, diag, times=times)  # type: ignore[arg-type]
        parser = STREAM_PARSERS[name]()  # type: ignore[index]
        parser.feed(body)
        parser.close()
    if kind is not None:
        parse_stream(kind, body, diag)
    whole = SseParser()
    expected = whole.feed(body) + whole.close()
    pieces = SseParser()
    got = []
    for start in range(0, len(body), step):
        got += pieces.feed(body[start : start + step])
    got += pieces.close()
    assert [(e.type, e.data, e.id, e.retry) for e in got] == [
        (e.type, e.data, e.id, e.retry) for e in expected], "SSE events depend on chunking"


# --- stream machines -----------------------------------------------------------------------


def _assembler(diag: Diagnostics, protocol: str) -> ExchangeAssembler:
    return ExchangeAssembler(ConnectionInfo(id="tcp/0", protocol=protocol, scheme="http",
                                            server_ip=_SERVER[0], server_port=_SERVER[1]), diag)


def tls(data: bytes) -> None:
    """TlsSession fed both directions (gaps included) with the seed keys, then closed; the
    decrypted application data goes through the HTTP machine its ALPN names."""
    diag = Diagnostics()
    session = TlsSession(keys(), diag, where="tcp/0")
    http: Http1Connection | H2Connection | None = None
    assembler = _assembler(diag, "h2")
    ts = 0
    for tag, piece in _tcp_records(data):
        ts += 1000
        if tag & 2:
            session.gap(bool(tag & 1), len(piece) or None, ts)
            continue
        for event in session.feed(bool(tag & 1), piece, ts):
            if isinstance(event, TlsAppData):
                if http is None:
                    http = (H2Connection(diag) if event.data.startswith(b"PRI ")
                            else Http1Connection(diag))
                assembler.feed(http.feed(event.from_client, event.data, event.ts_ns))
    session.close(ts)
    if http is not None:
        assembler.feed(http.close(ts, reason="capture-end"))
    assembler.finish()
    _ = session.info


def http1(data: bytes) -> None:
    """Http1Connection both ways (gaps included); an h2c upgrade or prior-knowledge preface
    hands over to H2Connection as :mod:`archcmp.wire` does; events go through the assembler."""
    diag = Diagnostics()
    h1 = Http1Connection(diag, where="tcp/0")
    machine: Http1Connection | H2Connection = h1
    assembler = _assembler(diag, "http/1.1")
    last_request: RequestHeaders | None = None
    ts = 0

    def take(events: list[HttpEvent]) -> None:
        nonlocal machine, last_request
        for event in events:
            if isinstance(event, RequestHeaders):
                last_request = event
        assembler.feed(events)
        if machine is h1 and any(isinstance(e, Upgrade) and e.protocol == "h2c" for e in events):
            switch(last_request)

    def switch(upgrade: RequestHeaders | None) -> None:
        nonlocal machine
        client, server = h1.take_leftover()
        if upgrade is not None:
            upgrade = RequestHeaders(stream=1, headers=upgrade.headers, ts_ns=upgrade.ts_ns,
                                     end_stream=True)
        machine = H2Connection(diag, where="tcp/0", upgrade_request=upgrade)
        if client:
            assembler.feed(machine.feed(True, client, ts))
        if server:
            assembler.feed(machine.feed(False, server, ts))

    for tag, piece in _tcp_records(data):
        ts += 1000
        if tag & 2:
            take(machine.gap(bool(tag & 1), len(piece), ts))
        else:
            take(machine.feed(bool(tag & 1), piece, ts))
            if machine is h1 and h1.upgraded == "h2c" and not isinstance(machine, H2Connection):
                switch(None)
    take(machine.close(ts, reason="capture-end"))
    assembler.finish()


def http2(data: bytes) -> None:
    """H2Connection both ways (gaps included, a leading zero gap = joined mid-stream)."""
    diag = Diagnostics()
    h2 = H2Connection(diag, where="tcp/0")
    assembler = _assembler(diag, "h2")
    ts = 0
    for tag, piece in _tcp_records(data):
        ts += 1000
        if tag & 2:
            assembler.feed(h2.gap(bool(tag & 1), len(piece), ts))
        else:
            assembler.feed(h2.feed(bool(tag & 1), piece, ts))
    assembler.feed(h2.close(ts, reset=bool(len(data) & 1), reason=None))
    assembler.finish()


def quic(data: bytes) -> None:
    """QuicTracker over datagrams both ways with the seed keys; completed handshakes start an
    H3Connection whose events go through the assembler, as in :mod:`archcmp.wire`."""
    diag = Diagnostics()
    tracker = QuicTracker(keys(), diag)
    h3: dict[int, tuple[H3Connection, ExchangeAssembler]] = {}
    ts = 0

    def handle(events: list[Any]) -> None:
        for event in events:
            if isinstance(event, QuicHandshakeDone):
                h3.setdefault(event.conn_id, (H3Connection(diag), _assembler(diag, "h3")))
            elif isinstance(event, QuicStreamData) and event.conn_id in h3:
                conn, assembler = h3[event.conn_id]
                assembler.feed(conn.feed_stream(event.stream_id, event.from_client, event.data,
                                                event.fin, event.ts_ns))
            elif isinstance(event, QuicStreamReset) and event.conn_id in h3:
                conn, assembler = h3[event.conn_id]
                assembler.feed(conn.reset_stream(event.stream_id, event.from_client,
                                                 event.error_code, event.ts_ns))
            elif isinstance(event, QuicConnectionClosed) and event.conn_id in h3:
                conn, assembler = h3.pop(event.conn_id)
                assembler.feed(conn.close(event.ts_ns, event.reason))
                assembler.finish()

    for tag, datagram in _tcp_records(data):
        ts += 1000
        client = (_CLIENT[0], _CLIENT[1] + (tag >> 1 & 3))
        src, dst = (client, _SERVER) if tag & 1 else (_SERVER, client)
        handle(tracker.feed(datagram, ts, src, dst))
    handle(tracker.finish())
    for conn, assembler in h3.values():
        assembler.feed(conn.close(ts))
        assembler.finish()


def h3(data: bytes) -> None:
    """H3Connection over stream pieces (data, FIN, RESET_STREAM), both directions."""
    diag = Diagnostics()
    conn = H3Connection(diag)
    assembler = _assembler(diag, "h3")
    ts = 0
    for tag, stream_id, piece in _h3_records(data):
        ts += 1000
        if tag & 4:
            assembler.feed(conn.reset_stream(stream_id, bool(tag & 1), len(piece), ts))
        else:
            assembler.feed(conn.feed_stream(stream_id, bool(tag & 1), piece, bool(tag & 2), ts))
    assembler.feed(conn.close(ts))
    assembler.finish()


#: Target name → function; the name is also the seed directory and the regression area.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "har": har,
    "wire": wire,
    "keylog": keylog,
    "content": content,
    "stream": stream,
    "tls": tls,
    "http1": http1,
    "http2": http2,
    "quic": quic,
    "h3": h3,
}


def run(name: str, data: bytes) -> None:
    """Run target ``name`` on ``data``: ArchcmpError is an accepted outcome, so it is
    swallowed here; any other exception propagates (a crash)."""
    with contextlib.suppress(ArchcmpError):
        TARGETS[name](data)


if __name__ == "__main__":  # replay: python fuzz/targets.py NAME FILE...
    import sys

    os.environ.setdefault("TZ", "UTC")
    for file in sys.argv[2:]:
        run(sys.argv[1], Path(file).read_bytes())
        sys.stdout.write(f"ok {file}\n")
