"""HTTP/1.1 observer: RFC 9112 framing, pairing, upgrades, gaps, limits and the real corpus.

Every scripted exchange goes through :func:`three_ways`: each ``feed`` is delivered whole, byte by
byte and in random pieces (all with the segment's capture time), and the events (adjacent data
of one stream and time merged), the warnings and the leftovers must be identical. This is
``tests.helpers.feed_three_ways`` extended to a two-direction, time-stamped machine.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.decode.content import decode_body, parse_content_encoding
from archcmp.diagnostics import Diagnostics
from archcmp.model import Body
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
from archcmp.protocols.http1 import (
    H2_PREFACE,
    MAX_CHUNK_LINE_BYTES,
    MAX_HEADER_FIELDS,
    MAX_HEADER_SECTION_BYTES,
    Http1Connection,
)
from tests.helpers import split_at
from tests.protocols._wire_http import Call, Session, sessions

C, S = True, False
Chunker = Callable[[bytes], list[bytes]]
E = TypeVar("E", bound=HttpEvent)


# -- harness ---------------------------------------------------------------------------------


def script(*steps: tuple[object, ...]) -> list[Call]:
    """``(C, data)`` / ``(S, data)`` feeds, ``("gap", side, n)``, ``("close",)`` or
    ``("reset",)``; step i happens at ts = (i + 1) * 1000."""
    calls: list[Call] = []
    for i, step in enumerate(steps):
        ts = (i + 1) * 1000
        if step[0] == "gap":
            _, side, missing = step
            assert isinstance(side, bool) and isinstance(missing, int)
            calls.append(("gap", side, missing, ts))
        elif step[0] in ("close", "reset"):
            calls.append(("close", step[0] == "reset", ts))
        else:
            side, data = step
            assert isinstance(side, bool) and isinstance(data, bytes)
            calls.append(("feed", side, data, ts))
    return calls


def run(calls: Sequence[Call], chunk: Chunker = lambda d: [d]
        ) -> tuple[list[HttpEvent], Diagnostics, Http1Connection, tuple[bytes, bytes]]:
    diag = Diagnostics()
    conn = Http1Connection(diag, where="test")
    events: list[HttpEvent] = []
    for call in calls:
        if len(call) == 3:
            events += conn.close(call[2], reset=call[1])
        elif isinstance(call[2], bytes):
            for piece in chunk(call[2]):
                events += conn.feed(call[1], piece, call[3])
        else:
            events += conn.gap(call[1], call[2], call[3])
    return events, diag, conn, conn.take_leftover()


def merged(events: Sequence[HttpEvent]) -> list[HttpEvent]:
    """Join adjacent data events of one kind, stream and time (how much a feed carried varies)."""
    out: list[HttpEvent] = []
    for e in events:
        last = out[-1] if out else None
        if isinstance(e, RequestData | ResponseData) and isinstance(last, type(e)) \
                and last.stream == e.stream and last.ts_ns == e.ts_ns:
            out[-1] = dataclasses.replace(e, data=last.data + e.data)
        else:
            out.append(e)
    return out


def random_pieces(seed: int) -> Chunker:
    rng = random.Random(seed)

    def chunk(data: bytes) -> list[bytes]:
        return split_at(data, [rng.randrange(1, max(2, len(data))) for _ in range(len(data) // 5)])
    return chunk


def three_ways(calls: Sequence[Call], *, seed: int = 0
               ) -> tuple[list[HttpEvent], Diagnostics, Http1Connection, tuple[bytes, bytes]]:
    ways: dict[str, Chunker] = {
        "whole": lambda d: [d],
        "byte-by-byte": lambda d: [d[i : i + 1] for i in range(len(d))],
        "random": random_pieces(seed),
    }
    results = {name: run(calls, chunk) for name, chunk in ways.items()}
    events, diag, conn, leftover = results["whole"]
    for name, (ev, dg, _, left) in results.items():
        assert merged(ev) == merged(events), f"{name} feeding gives other events"
        assert counts(dg) == counts(diag), f"{name} feeding gives other warnings"
        assert left == leftover, f"{name} feeding gives other leftovers"
    return merged(events), diag, conn, leftover


def counts(diag: Diagnostics) -> list[tuple[str, int]]:
    """Warning codes and counts (samples may say how far a chunking had got)."""
    return [(w.code, w.count) for w in diag.warnings()]


def kinds(events: Sequence[HttpEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


def body(events: Sequence[HttpEvent], stream: int, cls: type[RequestData | ResponseData]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, cls) and e.stream == stream)


def of(events: Sequence[HttpEvent], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


GET = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
OK5 = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


# -- basic exchanges, headers --------------------------------------------------------------


def test_simple_exchange_events_and_times() -> None:
    events, diag, conn, _ = three_ways(script((C, GET), (S, OK5[:40]), (S, OK5[40:]), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "ResponseHeaders", "ResponseData",
                             "ResponseData", "ResponseEnd", "ConnectionClosed"]
    req, _, resp, d1, d2, end, closed = events
    assert req == RequestHeaders(stream=0, headers=((":method", "GET"), (":path", "/a"),
                                                    ("Host", "example.com")),
                                 ts_ns=1000, end_stream=True)
    assert isinstance(resp, ResponseHeaders) and resp.status == 200 and resp.ts_ns == 2000
    assert (d1, d2) == (ResponseData(stream=0, data=b"he", ts_ns=2000),
                        ResponseData(stream=0, data=b"llo", ts_ns=3000))
    assert end == ResponseEnd(stream=0, ts_ns=3000)
    assert closed == ConnectionClosed(ts_ns=4000, reason="fin")
    assert not diag.warnings() and conn.upgraded is None


def test_header_ts_is_first_byte_and_end_ts_last_byte() -> None:
    events, *_ = three_ways(script((C, b"POST /p HTTP/1.1\r\nContent-"),
                                   (C, b"Length: 3\r\n\r\nab"), (C, b"c")))
    assert events == [
        RequestHeaders(stream=0, headers=((":method", "POST"), (":path", "/p"),
                                          ("Content-Length", "3")), ts_ns=1000),
        RequestData(stream=0, data=b"ab", ts_ns=2000),
        RequestData(stream=0, data=b"c", ts_ns=3000),
        RequestEnd(stream=0, ts_ns=3000),
    ]


def test_headers_keep_case_order_repeats_and_fold() -> None:
    # RFC 9112 §5.2: obs-fold is replaced by SP; §5.1: space before the colon is tolerated
    # (counted); a line that is not a field line is skipped (counted).
    head = (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Folded: one\r\n  two\r\n\tthree\r\n"
            b"set-cookie: b=2\r\nBad Line\r\nX-Space : v\r\nX-Nul: a\x00b\r\n"
            b"X-Utf8: caf\xc3\xa9\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n")
    events, diag, *_ = three_ways(script((C, GET), (S, head)))
    resp = of(events, ResponseHeaders)[0]
    assert isinstance(resp, ResponseHeaders)
    assert resp.headers == (("Set-Cookie", "a=1"), ("X-Folded", "one two three"),
                            ("set-cookie", "b=2"), ("X-Space", "v"), ("X-Nul", "a b"),
                            ("X-Utf8", "café"), ("X-Latin", "café"), ("Content-Length", "0"))
    assert codes(diag) == {"http1.header.obs_fold": 2, "http1.header.invalid_line": 1,
                           "http1.header.space_before_colon": 1, "http1.header.bad_char": 1}


def test_warning_samples_never_quote_field_lines_or_bodies() -> None:
    """Issue 8 canary: samples quoted a field line without a colon (``X-Api-Key <key>``), a
    whitespace-led line and a mis-framed chunk "size" (body text) whole; names stay quoted."""
    req = (b"GET /a HTTP/1.1\r\n  SECRET-leading-0123456789\r\nHost: example.com\r\n"
           b"X-Api-Key SECRET-no-colon-0123456789\r\nX-Space : v\r\n\r\n")
    resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"SECRET-body-token-0123456789\r\n")
    _, diag, *_ = three_ways(script((C, req), (S, resp)))
    samples = {w.code: w.samples for w in diag.warnings()}
    assert samples["http1.header.leading_whitespace"] == ("test: 27-byte line, not quoted",)
    assert samples["http1.header.invalid_line"] == ("test: 36-byte line, not quoted",)
    assert samples["http1.header.space_before_colon"] == ("test: b'X-Space'",)
    assert samples["http1.chunk.malformed"] == (
        "test: bad chunk-size line (28-byte line, not quoted)",)
    assert "SECRET" not in repr(diag.warnings())


def test_leading_whitespace_line_and_empty_lines_before_start_line() -> None:
    # RFC 9112 §2.2: empty lines before a request-line are ignored; a whitespace-led line
    # right after the start line is consumed without processing.
    data = b"\r\n\r\nGET / HTTP/1.1\r\n  junk\r\nHost: h\r\n\r\n"
    events, diag, *_ = three_ways(script((C, data)))
    req = events[0]
    assert isinstance(req, RequestHeaders) and req.headers[-1] == ("Host", "h")
    assert codes(diag) == {"http1.header.leading_whitespace": 1}


def test_bare_lf_lines_are_accepted_and_counted() -> None:
    events, diag, *_ = three_ways(script((C, b"GET / HTTP/1.1\nHost: h\n\n"),
                                         (S, b"HTTP/1.1 204 No Content\n\n")))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "ResponseHeaders", "ResponseEnd"]
    assert codes(diag) == {"http1.message.bare_lf": 2}


@pytest.mark.parametrize(("target", "pseudo"), [
    ("/p?q=1", ((":method", "GET"), (":path", "/p?q=1"))),
    ("*", ((":method", "GET"), (":path", "*"))),
    ("http://Example.com:8080/x?y", ((":method", "GET"), (":scheme", "http"),
                                     (":authority", "Example.com:8080"), (":path", "/x?y"))),
    ("HTTP://example.com", ((":method", "GET"), (":scheme", "http"),
                            (":authority", "example.com"), (":path", "/"))),
])
def test_request_target_forms_become_pseudo_headers(target: str, pseudo: tuple[object, ...]
                                                    ) -> None:
    # RFC 9112 §3.2 request-target forms → RFC 9113 §8.3.1 pseudo-header fields.
    events, *_ = run(script((C, f"GET {target} HTTP/1.1\r\n\r\n".encode())))
    req = events[0]
    assert isinstance(req, RequestHeaders) and req.headers == pseudo


def test_status_line_without_reason_phrase() -> None:
    events, diag, *_ = three_ways(script(
        (C, GET), (S, b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
        (C, GET), (S, b"HTTP/1.0 404 \r\nContent-Length: 0\r\n\r\n")))
    assert [e.status for e in of(events, ResponseHeaders)] == [200, 404]
    assert not diag.warnings()


# -- RFC 9112 §6.3 message body length --------------------------------------------------------


def test_pipelined_requests_pair_in_order_with_head_and_no_body_statuses() -> None:
    # §6.3 ¶1: HEAD responses and 1xx/204/304 end after the header section, even with a
    # Content-Length.
    reqs = (b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n")
    resps = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
             b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
             b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
             b"HTTP/1.1 204 No Content\r\n\r\n")
    events, diag, *_ = three_ways(script((C, reqs), (S, resps), ("close",)))
    heads = of(events, ResponseHeaders)
    assert [(e.stream, e.status, e.end_stream) for e in heads] == [
        (0, 200, False), (1, 200, True), (2, 304, True), (3, 204, True)]
    assert [e.stream for e in of(events, ResponseEnd)] == [0, 1, 2, 3]
    assert body(events, 0, ResponseData) == b"ok"
    assert not diag.warnings()


def test_chunked_with_extensions_and_trailers() -> None:
    # RFC 9112 §7.1: chunk-ext after the size, last-chunk, trailer-section (§7.1.2).
    resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Expires\r\n\r\n"
            b"1a; ignore-stuff-here\r\nabcdefghijklmnopqrstuvwxyz\r\n"
            b"10 ;a=\"b;c\"\r\n1234567890abcdef\r\n"
            b"000 ; last\r\nExpires: Sat, 27 Mar 2004 21:12:00 GMT\r\nX-T: 1\r\n\r\n")
    events, diag, *_ = three_ways(script((C, GET), (S, resp), (C, GET), (S, OK5)))
    assert body(events, 0, ResponseData) == b"abcdefghijklmnopqrstuvwxyz1234567890abcdef"
    end = of(events, ResponseEnd)[0]
    assert end == ResponseEnd(stream=0, ts_ns=2000, trailers=(
        ("Expires", "Sat, 27 Mar 2004 21:12:00 GMT"), ("X-T", "1")))
    assert body(events, 1, ResponseData) == b"hello"
    assert not diag.warnings()


def test_streamed_chunks_keep_their_own_times() -> None:
    # An SSE response: each event arrives in its own segment and keeps its own time.
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    events, *_ = three_ways(script((C, GET), (S, head), (S, b"b\r\ndata: one\n\n\r\n"),
                                   (S, b"b\r\ndata: two\n\n\r\n"), (S, b"0\r\n\r\n")))
    data = of(events, ResponseData)
    assert [(e.data, e.ts_ns) for e in data] == [
        (b"data: one\n\n", 3000), (b"data: two\n\n", 4000)]
    assert of(events, ResponseEnd)[0].ts_ns == 5000


def test_close_delimited_response_ends_at_fin_but_not_at_rst() -> None:
    # §6.3 ¶8: no Transfer-Encoding or Content-Length → read until the connection closes.
    resp = b"HTTP/1.0 200 OK\r\n\r\nsome body"
    events, diag, *_ = three_ways(script((C, GET), (S, resp), (S, b" more"), ("close",)))
    assert body(events, 0, ResponseData) == b"some body more"
    assert kinds(events)[-2:] == ["ResponseEnd", "ConnectionClosed"]
    assert not diag.warnings()
    events, diag, *_ = three_ways(script((C, GET), (S, resp), ("reset",)))
    assert kinds(events)[-2:] == ["StreamReset", "ConnectionClosed"]
    assert events[-1] == ConnectionClosed(ts_ns=3000, reason="rst")
    assert codes(diag) == {"http1.response.incomplete": 1}


def test_transfer_encoding_beats_content_length() -> None:
    # §6.3 ¶3 (and the real sv__http1-chunked.pcap: "Transfer-Encoding: ,\tchunked,").
    req = (b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: ,\tchunked,\r\n\r\n"
           b"3\r\nabc\r\n0\r\n\r\n")
    events, diag, *_ = three_ways(script((C, req)))
    assert body(events, 0, RequestData) == b"abc" and kinds(events)[-1] == "RequestEnd"
    assert codes(diag) == {"http1.message.te_and_cl": 1}


def test_response_transfer_coding_without_final_chunked_reads_until_close() -> None:
    # §6.3 ¶4 (responses).
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nrawbytes"
    events, *_ = three_ways(script((C, GET), (S, resp), ("close",)))
    assert body(events, 0, ResponseData) == b"rawbytes"
    assert of(events, ResponseEnd)


@pytest.mark.parametrize(("message", "side", "code"), [
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", C, "http1.request.malformed"),
    (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", C,
     "http1.request.malformed"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", C, "http1.request.malformed"),
    (b"POST / HTTP/1.1\r\nContent-Length: \xb25\r\n\r\n", C, "http1.request.malformed"),
    (b"GET / HTTP/2.0\r\n\r\n", C, "http1.request.malformed"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", C, "http1.request.malformed"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", S, "http1.response.malformed"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", S, "http1.response.malformed"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", S, "http1.chunk.malformed"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", S,
     "http1.chunk.malformed"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", S,
     "http1.chunk.malformed"),
])
def test_malformed_input_is_a_protocol_error_and_stops_that_direction(
        message: bytes, side: bool, code: str) -> None:
    steps: list[tuple[object, ...]] = [(C, GET)] if side is S else []
    steps += [(side, message), (side, b"GET / HTTP/1.1\r\n\r\n" if side else OK5), ("close",)]
    events, diag, *_ = three_ways(script(*steps))
    errors = of(events, ProtocolError)
    assert len(errors) == 1 and errors[0].code == code
    assert codes(diag)[code] == 1
    assert diag.count(f"http1.{'request' if side else 'response'}.ignored") == 1
    after = events[events.index(errors[0]) + 1 :]
    assert not of(after, RequestHeaders if side else ResponseHeaders)


def test_malformed_request_does_not_stop_the_responses() -> None:
    events, _diag, *_ = three_ways(script((C, GET), (C, b"NOT HTTP\r\n\r\n"), (S, OK5), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "ProtocolError", "ResponseHeaders",
                             "ResponseData", "ResponseEnd", "ConnectionClosed"]


# -- limits --------------------------------------------------------------------------------


def test_header_section_limit() -> None:
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEADER_SECTION_BYTES + b"\r\n\r\n"
    events, _, *_ = run(script((C, big)))
    assert [e.code for e in of(events, ProtocolError)] == [
        "http1.request.headers_too_large"]
    ok = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_SECTION_BYTES - 40) + b"\r\n\r\n"
    events, _diag, *_ = run(script((C, ok)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd"]


def test_header_count_limit() -> None:
    many = b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * (MAX_HEADER_FIELDS + 1) + b"\r\n"
    events, *_ = run(script((C, many)))
    assert [e.code for e in of(events, ProtocolError)] == [
        "http1.request.headers_too_large"]
    events, *_ = run(script((C, b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * MAX_HEADER_FIELDS + b"\r\n")))
    assert kinds(events) == ["RequestHeaders", "RequestEnd"]


def test_chunk_size_line_limit() -> None:
    resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;"
            + b"x" * MAX_CHUNK_LINE_BYTES + b"\r\n")
    events, *_ = three_ways(script((C, GET), (S, resp)))
    assert [e.code for e in of(events, ProtocolError)] == [
        "http1.chunk.malformed"]


# -- 1xx, Expect: 100-continue, Early Hints ----------------------------------------------------


def test_expect_100_continue_then_body_then_final_response() -> None:
    # RFC 9110 §10.1.1: the client waits for 100 (or not), then sends the body.
    req = b"PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    events, diag, *_ = three_ways(script(
        (C, req), (S, b"HTTP/1.1 100 Continue\r\n\r\n"), (C, b"data"),
        (S, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")))
    assert kinds(events) == ["RequestHeaders", "InformationalResponse", "RequestData",
                             "RequestEnd", "ResponseHeaders", "ResponseEnd"]
    assert events[1] == InformationalResponse(stream=0, status=100, headers=(), ts_ns=2000)
    assert not diag.warnings()


def test_early_final_response_before_the_request_body() -> None:
    req = b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    events, *_ = three_ways(script(
        (C, req), (S, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"), (C, b"data"),
        (C, GET), (S, OK5)))
    assert [(type(e).__name__, getattr(e, "stream", None)) for e in events] == [
        ("RequestHeaders", 0), ("ResponseHeaders", 0), ("ResponseEnd", 0), ("RequestData", 0),
        ("RequestEnd", 0), ("RequestHeaders", 1), ("RequestEnd", 1), ("ResponseHeaders", 1),
        ("ResponseData", 1), ("ResponseEnd", 1)]


def test_103_early_hints() -> None:
    # RFC 8297: any number of 103s before the final response.
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
    events, *_ = three_ways(script((C, GET), (S, hints + hints + OK5)))
    infos = of(events, InformationalResponse)
    assert [(e.status, e.headers) for e in infos] == [
        (103, (("Link", "</style.css>; rel=preload; as=style"),))] * 2
    assert of(events, ResponseHeaders)[0].status == 200


# -- upgrades -----------------------------------------------------------------------------


H2C_REQ = (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def test_h2c_upgrade_hands_over_leftovers() -> None:
    # RFC 9113 §3.2 (RFC 7540 §3.2): after the 101, both sides speak HTTP/2; the client
    # starts with the preface. Client bytes sent before the 101 is seen are held.
    events, diag, conn, leftover = three_ways(script(
        (C, H2C_REQ), (C, H2_PREFACE),
        (S, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            + SETTINGS),
        (C, SETTINGS)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "InformationalResponse", "Upgrade"]
    assert events[-1] == Upgrade(stream=0, protocol="h2c", ts_ns=3000)
    assert conn.upgraded == "h2c"
    assert leftover == (H2_PREFACE + SETTINGS, SETTINGS)
    assert not diag.warnings()


def test_h2c_upgrade_request_with_body() -> None:
    req = H2C_REQ.replace(b"GET", b"POST").replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n")
    events, _, _conn, leftover = three_ways(script(
        (C, req + b"abc" + H2_PREFACE),
        (S, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")))
    assert body(events, 0, RequestData) == b"abc"
    assert leftover == (H2_PREFACE, b"")


def test_h2c_upgrade_declined_resumes_http1() -> None:
    # The server may ignore Upgrade (RFC 9110 §7.8); pipelined requests held meanwhile parse.
    events, _diag, conn, leftover = three_ways(script(
        (C, H2C_REQ + GET), (S, OK5), (S, OK5)))
    assert [e.stream for e in of(events, RequestHeaders)] == [0, 1]
    assert [e.stream for e in of(events, ResponseEnd)] == [0, 1]
    assert conn.upgraded is None and leftover == (b"", b"")


def test_upgrade_never_answered() -> None:
    events, diag, conn, leftover = three_ways(script((C, H2C_REQ + H2_PREFACE), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "StreamReset", "ConnectionClosed"]
    assert codes(diag) == {"http1.response.missing": 1, "http1.upgrade.unanswered": 1}
    assert conn.upgraded is None and leftover == (b"", b"")


def test_prior_knowledge_preface() -> None:
    # RFC 9113 §3.3: no HTTP/1.1 at all; everything is left over for HTTP/2, no event.
    events, _diag, conn, leftover = three_ways(script((C, H2_PREFACE + SETTINGS), (S, SETTINGS)))
    assert events == [] and conn.upgraded == "h2c"
    assert leftover == (H2_PREFACE + SETTINGS, SETTINGS)


def test_prior_knowledge_with_the_server_preface_first() -> None:
    # RFC 9113 §3.4: the server's SETTINGS may be captured before the client's preface; it is
    # held until the client's first bytes say what the connection is.
    events, diag, conn, leftover = three_ways(script((S, SETTINGS), (C, H2_PREFACE), (S, SETTINGS)))
    assert events == [] and conn.upgraded == "h2c" and not diag.warnings()
    assert leftover == (H2_PREFACE, SETTINGS + SETTINGS)


def test_server_bytes_before_an_http1_request_are_then_judged() -> None:
    events, diag, *_ = three_ways(script((S, b"\x00garbage"), (C, GET), ("close",)))
    assert kinds(events) == ["RequestHeaders", "ProtocolError", "RequestEnd", "StreamReset",
                             "ConnectionClosed"]
    assert codes(diag) == {"http1.response.malformed": 1, "http1.response.ignored": 1,
                           "http1.response.missing": 1}
    events, *_ = three_ways(script((S, b"\x16\x03\x03"), (C, b"\x16\x03\x01"), ("close",)))
    assert [e.code for e in of(events, ProtocolError)] == [
        "http1.request.malformed", "http1.response.malformed"]


def test_websocket_upgrade_and_messages() -> None:
    # RFC 6455 §1.2 handshake, §5.7 frames.
    req = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    masked_hello = bytes.fromhex("818537fa213d7f9f4d5158")
    events, diag, conn, _ = three_ways(script(
        (C, req), (S, resp + bytes.fromhex("810548656c6c6f")), (C, masked_hello),
        (S, bytes.fromhex("890548656c6c6f")), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "ResponseHeaders", "ResponseEnd",
                             "Upgrade", "WebSocketMessage", "WebSocketMessage", "ConnectionClosed"]
    head = events[2]
    assert isinstance(head, ResponseHeaders) and head.end_stream and head.status == 101
    assert events[5:7] == [
        WebSocketMessage(stream=0, from_client=False, opcode=1, data=b"Hello", ts_ns=2000),
        WebSocketMessage(stream=0, from_client=True, opcode=1, data=b"Hello", ts_ns=3000)]
    assert conn.upgraded == "websocket" and conn.websocket is not None
    assert conn.websocket[1].control_frames == Counter({"ping": 1})
    assert not diag.warnings()


def test_connect_tunnel() -> None:
    # RFC 9110 §9.3.6: a 2xx to CONNECT turns the connection into a tunnel.
    events, _diag, conn, leftover = three_ways(script(
        (C, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"),
        (S, b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x03")))
    req = events[0]
    assert isinstance(req, RequestHeaders)
    assert req.headers[:2] == ((":method", "CONNECT"), (":authority", "example.com:443"))
    assert kinds(events)[2:] == ["ResponseHeaders", "ResponseEnd", "Upgrade"]
    assert conn.upgraded == "tunnel" and leftover == (b"\x16\x03\x01", b"\x16\x03\x03")


def test_connect_refused_resumes() -> None:
    events, *_ = three_ways(script(
        (C, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n" + GET),
        (S, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n" + OK5)))
    assert [e.status for e in of(events, ResponseHeaders)] == [407, 200]


def test_unrequested_101_is_counted() -> None:
    _events, diag, conn, _ = three_ways(script(
        (C, GET), (S, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")))
    assert conn.upgraded == "websocket"
    assert codes(diag) == {"http1.upgrade.unrequested": 1}


# -- gaps, resync, connection end --------------------------------------------------------------


def test_gap_inside_content_length_body_keeps_framing() -> None:
    # The request body loses its RequestEnd, not its response; the next request is exact.
    post = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    events, diag, *_ = three_ways(script(
        (C, post + b"abc"), ("gap", C, 4), (C, b"xyz" + GET), (S, OK5), (S, OK5)))
    assert [(type(e).__name__, getattr(e, "stream", None)) for e in events] == [
        ("RequestHeaders", 0), ("RequestData", 0), ("RequestHeaders", 1),
        ("RequestEnd", 1), ("ResponseHeaders", 0), ("ResponseData", 0), ("ResponseEnd", 0),
        ("ResponseHeaders", 1), ("ResponseData", 1), ("ResponseEnd", 1)]
    assert codes(diag) == {"http1.request.gap": 1}


def test_gap_in_chunked_response_resyncs_at_next_status_line() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    events, diag, *_ = three_ways(script(
        (C, GET + GET + GET), (S, chunked), ("gap", S, 50),
        (S, b"tail of something\r\n0\r\n\r\n" + OK5 + OK5), ("close",)))
    assert [(type(e).__name__, getattr(e, "stream", None)) for e in events if
            not isinstance(e, RequestHeaders | RequestEnd)] == [
        ("ResponseHeaders", 0), ("ResponseData", 0), ("StreamReset", 0),
        ("ResponseHeaders", 1), ("ResponseData", 1), ("ResponseEnd", 1),
        ("ResponseHeaders", 2), ("ResponseData", 2), ("ResponseEnd", 2), ("ConnectionClosed", None)]
    assert codes(diag) == {"http1.response.gap": 1, "http1.response.resync": 1}
    assert diag.warnings()[1].samples == ("test: 24 bytes",)


def test_gap_in_request_head_and_mid_stream_start() -> None:
    events, diag, *_ = three_ways(script(
        ("gap", C, 0), ("gap", S, 0),
        (C, b"tail of an earlier body\r\n" + GET), (S, b"lo" + OK5), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestEnd", "ResponseHeaders", "ResponseData",
                             "ResponseEnd", "ConnectionClosed"]
    assert codes(diag) == {"http1.request.resync": 1, "http1.response.resync": 1}
    assert [w.samples for w in diag.warnings()] == [("test: 25 bytes",), ("test: 2 bytes",)]


def test_gap_cutting_a_response_head_resets_its_request() -> None:
    events, _diag, *_ = three_ways(script(
        (C, GET + GET), (S, b"HTTP/1.1 200 OK\r\nContent-"), ("gap", S, 100), (S, OK5), ("close",)))
    assert [(type(e).__name__, getattr(e, "stream", None)) for e in events[4:]] == [
        ("StreamReset", 0), ("ResponseHeaders", 1), ("ResponseData", 1), ("ResponseEnd", 1),
        ("ConnectionClosed", None)]


def test_reset_response_stops_the_request_events_too() -> None:
    # Once a stream is reset nothing more comes for it, even from the other direction.
    post = b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n"
    events, *_ = three_ways(script(
        (C, post + b"abc"), (S, b"HTTP/1.1 413 Too Large\r\nContent-Length: 9\r\n\r\ntoo"),
        ("gap", S, 100), (C, b"def"), ("close",)))
    assert kinds(events) == ["RequestHeaders", "RequestData", "ResponseHeaders", "ResponseData",
                             "StreamReset", "ConnectionClosed"]


def test_gap_in_a_websocket_stream_stops_that_direction() -> None:
    req = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    events, diag, *_ = three_ways(script(
        (C, req), (S, resp), ("gap", S, 10), (S, bytes.fromhex("810548656c6c6f")),
        (C, bytes.fromhex("818537fa213d7f9f4d5158"))))
    assert [e.from_client for e in of(events, WebSocketMessage)] == [True]
    assert codes(diag) == {"http1.response.gap": 1, "websocket.gap": 1}


def test_close_reports_incomplete_and_missing() -> None:
    events, diag, *_ = three_ways(script(
        (C, GET + b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), ("close",)))
    resets = of(events, StreamReset)
    assert [e.stream for e in resets] == [0, 1]
    assert not of(events, RequestEnd)[1:]  # stream 1's body never completed
    assert codes(diag) == {"http1.request.incomplete": 1, "http1.response.missing": 2}


def test_close_inside_a_head() -> None:
    _, diag, *_ = three_ways(script((C, GET), (S, b"HTTP/1.1 200 OK\r\nConte"), ("close",)))
    assert codes(diag) == {"http1.response.incomplete": 1, "http1.response.missing": 1}


def test_unsolicited_response() -> None:
    events, diag, *_ = three_ways(script(
        (S, b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"), ("close",)))
    assert [(type(e).__name__, getattr(e, "stream", None)) for e in events] == [
        ("ResponseHeaders", 0), ("ResponseEnd", 0), ("ConnectionClosed", None)]
    assert codes(diag) == {"http1.response.unsolicited": 1}


def test_nothing_after_close() -> None:
    events, _, conn, _ = run(script((C, GET), ("close",)))
    assert conn.feed(C, GET, 1) == [] and conn.gap(C, 1, 1) == [] and conn.close(1) == []
    assert isinstance(events[-1], ConnectionClosed)


# -- hypothesis ----------------------------------------------------------------------------


VALID = [(C, b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"4;e=1\r\nabcd\r\n0\r\nT: 1\r\n\r\n" + GET),
         (S, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n")]


@given(st.data())
def test_any_chunking_gives_the_same_events(data: st.DataObject) -> None:
    calls = script(*VALID, ("close",))
    expected = merged(run(calls)[0])

    def chunk(d: bytes) -> list[bytes]:
        cuts = data.draw(st.lists(st.integers(1, max(1, len(d) - 1)), max_size=20))
        return split_at(d, cuts)
    assert merged(run(calls, chunk)[0]) == expected


@given(st.lists(st.tuples(st.sampled_from(["feed", "gap", "close"]), st.booleans(),
                          st.binary(max_size=200) | st.sampled_from([GET, OK5, H2C_REQ])),
                max_size=12))
def test_arbitrary_input_never_raises(steps: list[tuple[str, bool, bytes]]) -> None:
    conn = Http1Connection(Diagnostics())
    for ts, (kind, side, data) in enumerate(steps):
        if kind == "feed":
            conn.feed(side, data, ts)
        elif kind == "gap":
            conn.gap(side, len(data), ts)
        else:
            conn.close(ts, reset=side)
    conn.close(len(steps))


CLIENT_BLOCKS = [
    GET, b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", VALID[0][1], H2C_REQ,
    b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", b"CONNECT a:443 HTTP/1.1\r\n\r\n",
    b"HEAD / HTTP/1.1\r\n\r\n", H2_PREFACE, bytes.fromhex("818537fa213d7f9f4d5158"), b"\r\n"]
SERVER_BLOCKS = [
    OK5, VALID[1][1], b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nclose body", bytes.fromhex("c107f248cdc9c90700"),
    b"HTTP/1.1 200 Connection established\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n"]


@st.composite
def sessions_of_blocks(draw: st.DrawFn) -> list[Call]:
    steps: list[tuple[object, ...]] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["client", "server", "gap", "junk"]))
        if kind == "gap":
            steps.append(("gap", draw(st.booleans()), draw(st.integers(0, 40))))
            continue
        side = kind == "client" if kind != "junk" else draw(st.booleans())
        block = draw(st.binary(min_size=1, max_size=20)) if kind == "junk" else draw(
            st.sampled_from(CLIENT_BLOCKS if side else SERVER_BLOCKS))
        at = draw(st.integers(0, len(block)))
        if draw(st.booleans()):  # damage one byte
            block = block[:at] + draw(st.binary(min_size=1, max_size=1)) + block[at + 1 :]
        steps += [(side, block[:at]), (side, block[at:])] if 0 < at < len(block) else \
            [(side, block)]
    steps.append(draw(st.sampled_from([("close",), ("reset",)])))
    return script(*steps)


@given(sessions_of_blocks(), st.integers(0, 1000))
def test_damaged_sessions_never_raise_and_any_chunking_agrees(calls: list[Call], seed: int
                                                              ) -> None:
    three_ways(calls, seed=seed)


@given(st.sampled_from(VALID), st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_mutated_messages_never_raise(valid: tuple[bool, bytes], at: int, junk: bytes) -> None:
    # mitmproxy's test_http_fuzz.py: damage a valid message at a random point.
    side, message = valid
    at %= len(message)
    damaged = message[:at] + junk + message[at + len(junk):]
    conn = Http1Connection(Diagnostics())
    if side is S:
        conn.feed(C, GET * 3, 0)
    conn.feed(side, damaged, 1)
    conn.gap(side, 7, 2)
    conn.feed(side, message, 3)
    conn.close(4)


# -- the real corpus -------------------------------------------------------------------------


HTTP1_FILES = [
    "ja4__http1.pcap",
    "wiresharkwiki__http.cap",
    "sv__http1-brotli.pcap",
    "sv__http1-chunked-trailers-port8008.pcap",
    "sv__http1-chunked.pcap",
    "sv__http1-deflate.pcap",
    "sv__http1-gzip-header-but-plain-body.pcap",
    "sv__http1-gzip-request-body.pcap",
    "sv__http1-multi-content-encoding.pcap",
    "sv__http2-upgrade-h2c.pcap",
    "sv__http2-range.pcap",
    "sv__http2-deflate.pcap",
    "sv__websocket-basic.pcap",
    "sv__websocket-permessage-deflate.pcap",
    "zeek__websocket-http.pcap",
    "zeek__websocket-jupyter.pcap",
]

#: Warnings each capture legitimately raises (everything else must be silent).
EXPECTED_WARNINGS: dict[str, dict[str, int]] = {
    # One connection holds only a response, another only a request (the capture is cut).
    "ja4__http1.pcap": {"http1.response.unsolicited": 1, "http1.response.missing": 1},
    # libhtp test data: LF-only lines in both directions and the chunked body.
    "sv__http1-chunked-trailers-port8008.pcap": {"http1.message.bare_lf": 3},
    # HEAD with "Content-Length: 0" and "Transfer-Encoding: ,\tchunked,"; the chunked body
    # never comes and the capture ends (tshark: 1 request, 0 responses).
    "sv__http1-chunked.pcap": {"http1.message.te_and_cl": 1, "http1.request.incomplete": 1,
                               "http1.response.missing": 1},
}


def _ground_truth(shared: Path) -> dict[str, dict[str, object]]:
    data = json.loads((shared / "corpus" / "MANIFEST.ground_truth.json").read_text())
    assert isinstance(data, dict)
    return data


def _corpus(shared: Path, name: str) -> tuple[list[Session], Diagnostics]:
    diag = Diagnostics()
    return sessions(shared / "corpus" / "pcap" / name, diag), diag


def _all(found: list[Session]) -> list[HttpEvent]:
    return [e for s in found for e in s.events]


@pytest.mark.parametrize("name", HTTP1_FILES)
def test_corpus_counts_match_tshark(shared: Path, name: str) -> None:
    truth = _ground_truth(shared)[f"pcap/{name}"]
    found, diag = _corpus(shared, name)
    events = _all(found)
    # tshark's http.request / http.response count every request line and status line (a 101
    # and a 100 Continue included).
    assert len(of(events, RequestHeaders)) == truth["http1_requests"]
    assert len(of(events, ResponseHeaders)) + len(of(events, InformationalResponse)) \
        == truth["http1_responses"]
    encodings = Counter(v for e in events if isinstance(e, RequestHeaders | ResponseHeaders)
                        for n, v in e.headers if n.lower() == "content-encoding")
    assert dict(encodings) == truth["http1_content_encodings"]
    http_codes = {w.code: w.count for w in diag.warnings()
                  if w.code.startswith(("http1.", "websocket."))}
    assert http_codes == EXPECTED_WARNINGS.get(name, {})
    assert not of(events, ProtocolError)


@pytest.mark.parametrize("name", HTTP1_FILES)
def test_corpus_connections_feed_three_ways(shared: Path, name: str) -> None:
    for session in _corpus(shared, name)[0]:
        events, *_ = three_ways(session.script, seed=session.index)
        assert events == merged(session.events)


def test_ja4_http1_pairs(shared: Path) -> None:
    found, _ = _corpus(shared, "ja4__http1.pcap")
    assert len(found) == 56
    exchanges: list[tuple[int, int, str]] = []
    for s in found:
        done = {e.stream for e in of(s.events, ResponseEnd)}
        reset = {e.stream for e in of(s.events, StreamReset)}
        exchanges += [(s.index, e.stream, e.headers[0][1]) for e in of(s.events, RequestHeaders)
                      if e.stream in done - reset]
    # 56 request lines and 56 status lines, as tshark counts. Flow 4 carries two exchanges;
    # flow 17 holds only a response and flow 43 only a request (their other halves are outside
    # the capture), so 55 exchanges pair up.
    assert len(exchanges) == 55
    assert [i for i, stream, _ in exchanges if stream] == [4]
    assert {s.index for s in found} - {i for i, _, _ in exchanges} == {17, 43}
    assert Counter(method for *_, method in exchanges) == {"POST": 31, "GET": 21, "HEAD": 3}


def test_corpus_chunked_trailers_port_8008(shared: Path) -> None:
    (session,), _ = _corpus(shared, "sv__http1-chunked-trailers-port8008.pcap")
    events = merged(session.events)
    assert body(events, 0, RequestData) == b"tototatatiti"
    assert of(events, RequestEnd)[0].trailers == (
        ("trailehdr1", "tralierdata1"), ("trailehdr2", "tralierdata2"))
    # "HTTP/1.1 200 OK\n\n\n": no length, so the body is the one LF before the FIN.
    assert body(events, 0, ResponseData) == b"\n"


def test_corpus_bodies_decode(shared: Path) -> None:
    diag = Diagnostics()
    found, _ = _corpus(shared, "sv__http1-gzip-request-body.pcap")
    events = _all(found)
    assert gzip.decompress(body(events, 0, RequestData)) == b"name=john dauny mladshiy\n"
    found, _ = _corpus(shared, "sv__http1-multi-content-encoding.pcap")
    events = _all(found)
    head = of(events, ResponseHeaders)[0]
    coding = parse_content_encoding([v for n, v in head.headers
                                     if n == "Content-Encoding"])
    decoded = decode_body(Body(data=body(events, 0, ResponseData), content_encoding=coding,
                               producer_decoded=False), diag)
    assert decoded.status == "ok" and decoded.data is not None
    assert decoded.data == b"Hi john dauny mladshiy!\n"
    found, _ = _corpus(shared, "sv__http1-brotli.pcap")
    events = _all(found)
    for stream in (0, 1):
        head = of([e for e in events if getattr(e, "stream", None) == stream], ResponseHeaders)[0]
        assert ("Content-Encoding", "br") in head.headers
        decoded = decode_body(Body(data=body(events, stream, ResponseData),
                                   content_encoding=("br",), producer_decoded=False), diag)
        assert decoded.status == "ok"
    assert not diag.warnings()


@pytest.mark.parametrize(("name", "upgraded"), [
    ("sv__http2-upgrade-h2c.pcap", 1), ("sv__http2-range.pcap", 3), ("sv__http2-deflate.pcap", 1)])
def test_corpus_h2c_upgrades(shared: Path, name: str, upgraded: int) -> None:
    found, _ = _corpus(shared, name)
    switched = [s for s in found if s.conn.upgraded == "h2c"]
    assert len(switched) == upgraded
    for s in switched:
        ups = of(s.events, Upgrade)
        assert ups == [Upgrade(stream=0, protocol="h2c", ts_ns=ups[0].ts_ns)]
        info = of(s.events, InformationalResponse)
        assert [e.status for e in info] == [101]
        client, server = s.conn.take_leftover()
        assert client.startswith(H2_PREFACE)
        assert server[3] == 0x04  # the server's first HTTP/2 frame is SETTINGS (RFC 9113 §3.4)
    plain = [s for s in found if s.conn.upgraded is None]
    for s in plain:  # the HTTP/1.1 range requests of sv__http2-range.pcap
        heads = of(s.events, ResponseHeaders)
        assert [e.status for e in heads] == [206]
        assert len(body(s.events, 0, ResponseData)) == 11


@pytest.mark.parametrize("name", [
    "sv__dns-over-http2.pcap", "sv__dns-over-http2-post.pcap", "sv__http2-continuation.pcap",
    "sv__http2-multiple-headers.pcap", "sv__http2-userinfo-authority.pcap",
    "sv__http2-port3000-multistream.pcap"])
def test_corpus_prior_knowledge_h2c(shared: Path, name: str) -> None:
    # Cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3); in several of these the server's
    # SETTINGS is captured before the client's preface.
    (session,), diag = _corpus(shared, name)
    assert session.conn.upgraded == "h2c"
    assert kinds(session.events) == ["ConnectionClosed"]
    client, server = session.conn.take_leftover()
    assert client.startswith(H2_PREFACE) and server[3] == 0x04
    assert not [w for w in diag.warnings() if w.code.startswith("http1.")]


@pytest.mark.parametrize("name", ["illustrated-tls13__capture.pcap", "zeek__tls12-decryption.pcap"])
def test_corpus_tls_is_not_http1(shared: Path, name: str) -> None:
    found, _diag = _corpus(shared, name)
    errors = [e.code for s in found for e in s.events if isinstance(e, ProtocolError)]
    assert errors == ["http1.request.malformed", "http1.response.malformed"]


def test_corpus_streams_have_distinct_times(shared: Path) -> None:
    # Body events keep the time of the segment that carried them: wiresharkwiki's 18 KB
    # response arrives in many segments, and its data events are in time order.
    found, _ = _corpus(shared, "wiresharkwiki__http.cap")
    times = [e.ts_ns for e in of(found[0].events, ResponseData)]
    assert len(set(times)) > 5 and times == sorted(times)
    head = of(found[0].events, ResponseHeaders)[0]
    assert head.ts_ns <= times[0]


@pytest.mark.parametrize(("name", "expected"), [
    # Counted independently from the frame bytes (every frame has FIN set, none fragmented):
    # sv basic: the server's "connected," (inside the 101 segment), "version,…", "echo,…" and
    # eleven "time,…" frames; the client's three masked texts. tshark: 17 text frames.
    ("sv__websocket-basic.pcap", {(True, 1): 3, (False, 1): 14}),
    # permessage-deflate: ten compressed server texts (RSV1), tshark: 10 text frames.
    ("sv__websocket-permessage-deflate.pcap", {(False, 1): 10}),
    # Kaazing echo: server binary 4 bytes, client text (140-byte masked handshake), server
    # binary (593-byte handshake reply), empty binary, binary 4 bytes, client "Hello,
    # WebSocket!", server echo; then a Close each way. tshark: 2:4, 1:3, 8:2.
    ("zeek__websocket-http.pcap", {(False, 2): 4, (True, 1): 2, (False, 1): 1}),
    # Jupyter kernel channel: binary frames only; one client request (262 bytes), 11 server
    # replies, several per segment; then a Close each way. tshark: 2:12, 8:2.
    ("zeek__websocket-jupyter.pcap", {(True, 2): 1, (False, 2): 11}),
])
def test_corpus_websocket_messages(shared: Path, name: str,
                                   expected: dict[tuple[bool, int], int]) -> None:
    (session,), _ = _corpus(shared, name)
    assert session.conn.upgraded == "websocket"
    messages = of(session.events, WebSocketMessage)
    got = Counter((m.from_client, m.opcode) for m in messages)
    assert dict(got) == expected
    truth = _ground_truth(shared)[f"pcap/{name}"]["websocket_frames_by_opcode"]
    assert isinstance(truth, dict)
    by_opcode = Counter(str(m.opcode) for m in messages)
    ws = session.conn.websocket
    assert ws is not None
    closes = ws[0].control_frames["close"] + ws[1].control_frames["close"]
    assert {**by_opcode, **({"8": closes} if closes else {})} == truth
    if "deflate" in name:
        for m in messages:
            assert re.fullmatch(rb"(KEY|TOGGLE)=[0-9a-f]+", m.data)
