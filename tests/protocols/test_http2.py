"""archcmp.protocols.http2: RFC 7541 Appendix C vectors, hand-built conversations (hyperframe +
hpack.Encoder, both directions) fed three ways, caps, fuzzing, and the cleartext h2 corpus
against tshark's ground truth."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hpack import Encoder
from hyperframe.frame import (
    AltSvcFrame,
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.flows import FlowClosed, FlowData, FlowEvent, FlowGap, TcpReassembler
from archcmp.ingest.packets import TcpSegment, decode_frame
from archcmp.ingest.pcap import Frame, read_capture
from archcmp.model import Warning
from archcmp.protocols import http2
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
from archcmp.protocols.http1 import Http1Connection
from archcmp.protocols.http2 import PREFACE, H2Connection
from tests.helpers import split_at

Segment = tuple[bool, bytes, int]
C, S = True, False  # from_client
T0 = 1_700_000_000_000_000_000


# --------------------------------------------------------------------------- feeding helpers


@dataclass(frozen=True)
class Result:
    events: list[HttpEvent]
    frames: dict[str, int]
    settings: tuple[dict[int, int], dict[int, int]]
    warnings: tuple[Warning, ...]
    conn: H2Connection

    def codes(self) -> dict[str, int]:
        return {w.code: w.count for w in self.warnings}

    def of(self, *kinds: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kinds)]


def run(segments: Sequence[Segment], cut: Callable[[bytes], list[bytes]] = lambda d: [d], *,
        upgrade: RequestHeaders | None = None, reason: str | None = "fin") -> Result:
    """Feed each segment (cut into pieces, all with the segment's time), then close."""
    diag = Diagnostics()
    conn = H2Connection(diag, where="test", upgrade_request=upgrade)
    events: list[HttpEvent] = []
    for from_client, data, ts in segments:
        for piece in cut(data):
            events += conn.feed(from_client, piece, ts)
    if reason is not None:
        last = segments[-1][2] if segments else T0
        events += conn.close(last + 1, reason=reason)
    client, server = conn.settings
    return Result(events, dict(conn.frame_counts), (dict(client), dict(server)),
                  diag.warnings(), conn)


def feed_three_ways(segments: Sequence[Segment], *, seed: int = 0, **kwargs: Any) -> Result:
    """Whole segments, byte by byte, random pieces: same events, frame counts and warnings."""
    rng = random.Random(seed)

    def random_cut(data: bytes) -> list[bytes]:
        return split_at(data, [rng.randrange(1, max(2, len(data))) for _ in range(len(data) // 5)])

    whole = run(segments, **kwargs)
    for name, cut in (("byte-by-byte", lambda d: [d[i : i + 1] for i in range(len(d))]),
                      ("random", random_cut)):
        other = run(segments, cut, **kwargs)
        assert other.events == whole.events, f"{name} feeding gives other events"
        assert other.frames == whole.frames, f"{name} feeding counts other frames"
        assert other.warnings == whole.warnings, f"{name} feeding warns otherwise"
    return whole


# --------------------------------------------------------------------------- frame builders

REQ = [(":method", "GET"), (":scheme", "https"), (":authority", "example.com"), (":path", "/")]


def raw_frame(ftype: int, flags: int, stream: int, body: bytes) -> bytes:
    """RFC 9113 §4.1 by hand, for frames hyperframe will not build."""
    return len(body).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + body


def headers(enc: Encoder, stream: int, fields: Iterable[tuple[str, str]], *flags: str,
            **kw: Any) -> bytes:
    return HeadersFrame(stream, data=enc.encode(list(fields)), flags={"END_HEADERS", *flags},
                        **kw).serialize()


def data(stream: int, payload: bytes, *flags: str, **kw: Any) -> bytes:
    return DataFrame(stream, data=payload, flags=set(flags), **kw).serialize()


def settings(values: dict[int, int] | None = None, *, ack: bool = False) -> bytes:
    return SettingsFrame(0, settings=values, flags={"ACK"} if ack else set()).serialize()


def opening(client: dict[int, int] | None = None,
            server: dict[int, int] | None = None) -> list[Segment]:
    """RFC 9113 §3.4: both prefaces and both ACKs."""
    return [(C, PREFACE + settings(client), T0), (S, settings(server) + settings(ack=True), T0 + 1),
            (C, settings(ack=True), T0 + 2)]


def resp(status: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [(":status", status), *extra]


# --------------------------------------------------------- RFC 7541 Appendix C (HPACK vectors)

# https://www.rfc-editor.org/rfc/rfc7541#appendix-C.3 (requests, no Huffman) and C.4 (Huffman)
C3 = ["82868441 0f777777 2e657861 6d706c65 2e636f6d",
      "828684be 58086e6f 2d636163 6865",
      "828785bf 400a6375 73746f6d 2d6b6579 0c637573 746f6d2d 76616c75 65"]
C4 = ["82868441 8cf1e3c2 e5f23a6b a0ab90f4 ff",
      "828684be 5886a8eb 10649cbf",
      "828785bf 408825a8 49e95ba9 7d7f8925 a849e95b b8e8b4bf"]
REQUESTS = [
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"),
     ("cache-control", "no-cache")],
    [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"),
     (":authority", "www.example.com"), ("custom-key", "custom-value")],
]
# https://www.rfc-editor.org/rfc/rfc7541#appendix-C.5 (responses, table size 256, no Huffman)
# and C.6 (Huffman)
C5 = ["48033330 32580770 72697661 7465611d 4d6f6e2c 20323120 4f637420 32303133 2032303a "
      "31333a32 3120474d 546e1768 74747073 3a2f2f77 77772e65 78616d70 6c652e63 6f6d",
      "48033330 37c1c0bf",
      "88c1611d 4d6f6e2c 20323120 4f637420 32303133 2032303a 31333a32 3220474d 54c05a04 "
      "677a6970 7738666f 6f3d4153 444a4b48 514b425a 584f5157 454f5049 55415851 57454f49 "
      "553b206d 61782d61 67653d33 3630303b 20766572 73696f6e 3d31"]
C6 = ["48826402 5885aec3 771a4b61 96d07abe 941054d4 44a82005 95040b81 66e082a6 2d1bff6e "
      "919d29ad 171863c7 8f0b97c8 e9ae82ae 43d3",
      "4883640e ffc1c0bf",
      "88c16196 d07abe94 1054d444 a8200595 040b8166 e084a62d 1bffc05a 839bd9ab 77ad94e7 "
      "821dd7f2 e6c7b335 dfdfcd5b 3960d5af 27087f36 72c1ab27 0fb5291f 95873160 65c003ed "
      "4ee5b106 3d5007"]
_LOC = ("location", "https://www.example.com")
RESPONSES = [
    [(":status", "302"), ("cache-control", "private"),
     ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), _LOC],
    [(":status", "307"), ("cache-control", "private"),
     ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), _LOC],
    [(":status", "200"), ("cache-control", "private"),
     ("date", "Mon, 21 Oct 2013 20:13:22 GMT"), _LOC, ("content-encoding", "gzip"),
     ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
]
#: RFC 7541 §6.3 dynamic table size update to 256 (5-bit prefix: 31, then 225 = e1 01): the
#: Appendix C.5/C.6 blocks assume a 256-byte table from the start, and in HTTP/2 a table that
#: small must be announced at the start of the first block after the SETTINGS ACK (§4.2).
SIZE_256 = bytes.fromhex("3fe101")


def _hex(block: str) -> bytes:
    return bytes.fromhex(block.replace(" ", ""))


@pytest.mark.parametrize("vectors", [C3, C4], ids=["C.3", "C.4"])
def test_rfc7541_request_vectors(vectors: list[str]) -> None:
    segments = opening()
    for i, block in enumerate(vectors):
        frame = HeadersFrame(1 + 2 * i, data=_hex(block), flags={"END_HEADERS", "END_STREAM"})
        segments.append((C, frame.serialize(), T0 + 10 + i))
    result = feed_three_ways(segments)
    got = [(e.stream, list(e.headers)) for e in result.of(RequestHeaders)]
    assert got == [(1, REQUESTS[0]), (3, REQUESTS[1]), (5, REQUESTS[2])]
    assert not result.of(ProtocolError)


@pytest.mark.parametrize("vectors", [C5, C6], ids=["C.5", "C.6"])
def test_rfc7541_response_vectors(vectors: list[str]) -> None:
    # The client's SETTINGS_HEADER_TABLE_SIZE=256 bounds the *server's* encoder once the server
    # acknowledges it; C.5.3/C.6.3 only decode right if the 256-byte table evicted correctly.
    segments = opening(client={SettingsFrame.HEADER_TABLE_SIZE: 256})
    enc = Encoder()
    for i in range(3):
        segments.append((C, headers(enc, 1 + 2 * i, REQ, "END_STREAM"), T0 + 10 + i))
    for i, block in enumerate(vectors):
        body = (SIZE_256 if i == 0 else b"") + _hex(block)
        frame = HeadersFrame(1 + 2 * i, data=body, flags={"END_HEADERS", "END_STREAM"})
        segments.append((S, frame.serialize(), T0 + 20 + i))
    result = feed_three_ways(segments)
    got = [(e.stream, e.status, list(e.headers)) for e in result.of(ResponseHeaders)]
    assert got == [(1, 302, RESPONSES[0]), (3, 307, RESPONSES[1]), (5, 200, RESPONSES[2])]
    assert result.codes() == {}


def test_table_shrink_must_be_signalled_after_the_ack() -> None:
    # RFC 7541 §4.2: after the ACK of a smaller SETTINGS_HEADER_TABLE_SIZE, the next block must
    # start with a size update; C.5.1 without it is a COMPRESSION_ERROR.
    segments = opening(client={SettingsFrame.HEADER_TABLE_SIZE: 256})
    segments.append((C, headers(Encoder(), 1, REQ, "END_STREAM"), T0 + 10))
    frame = HeadersFrame(1, data=_hex(C5[0]), flags={"END_HEADERS", "END_STREAM"})
    result = feed_three_ways([*segments, (S, frame.serialize(), T0 + 20)])
    assert [(e.code, type(e)) for e in result.of(ProtocolError)] == [
        ("h2.hpack.table_size", ProtocolError)]
    assert result.of(StreamReset) == [StreamReset(stream=1, ts_ns=T0 + 20, error_code=0x9)]


def test_table_size_limit_waits_for_the_ack() -> None:
    # Before the server acknowledges SETTINGS_HEADER_TABLE_SIZE=0 its encoder may still index
    # into the 4096-byte table; after the ACK it must announce the shrink.
    enc = Encoder()
    client = [(C, PREFACE + settings({SettingsFrame.HEADER_TABLE_SIZE: 0}), T0),
              (C, headers(Encoder(), 1, REQ, "END_STREAM"), T0 + 1),
              (C, headers(Encoder(), 3, REQ, "END_STREAM"), T0 + 2)]
    big = resp("200", ("x-big", "v" * 1000))
    early = [(S, settings() + headers(enc, 1, big, "END_STREAM"), T0 + 3),
             (S, headers(enc, 3, big, "END_STREAM"), T0 + 4)]  # indexed from the 4 KiB table
    enc.header_table_size = 0  # hpack.Encoder then starts its next block with an update to 0
    late = [(S, settings(ack=True) + headers(enc, 5, big, "END_STREAM"), T0 + 5)]
    result = feed_three_ways([*client, (C, headers(Encoder(), 5, REQ, "END_STREAM"), T0 + 2),
                              *early, *late])
    assert [e.headers for e in result.of(ResponseHeaders)] == [tuple(big)] * 3
    assert result.codes() == {}


# ----------------------------------------------------------------- conversations, three ways


def test_get_with_body_in_two_data_frames() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM"), T0 + 10),
                (S, headers(se, 1, resp("200", ("content-type", "text/plain"))), T0 + 20),
                (S, data(1, b"hello "), T0 + 21),
                (S, data(1, b"world", "END_STREAM"), T0 + 22)]
    result = feed_three_ways(segments)
    assert result.events == [
        RequestHeaders(stream=1, headers=tuple(REQ), ts_ns=T0 + 10, end_stream=True),
        RequestEnd(stream=1, ts_ns=T0 + 10),
        ResponseHeaders(stream=1, status=200, headers=(
            (":status", "200"), ("content-type", "text/plain")), ts_ns=T0 + 20),
        ResponseData(stream=1, data=b"hello ", ts_ns=T0 + 21),
        ResponseData(stream=1, data=b"world", ts_ns=T0 + 22),
        ResponseEnd(stream=1, ts_ns=T0 + 22),
        ConnectionClosed(ts_ns=T0 + 23, reason="fin"),
    ]
    assert result.frames == {"SETTINGS": 4, "HEADERS": 2, "DATA": 2}
    assert result.codes() == {}


def test_post_body_and_trailers_both_ways() -> None:
    ce, se = Encoder(), Encoder()
    post = [(":method", "POST"), *REQ[1:], ("content-type", "application/grpc")]
    segments = [*opening(),
                (C, headers(ce, 1, post), T0 + 10),
                (C, data(1, b"ping"), T0 + 11),
                (C, headers(ce, 1, [("x-checksum", "1")], "END_STREAM"), T0 + 12),
                (S, headers(se, 1, resp("200")), T0 + 20),
                (S, data(1, b"pong"), T0 + 21),
                (S, headers(se, 1, [("grpc-status", "0")], "END_STREAM"), T0 + 22)]
    result = feed_three_ways(segments)
    assert result.events[:3] == [
        RequestHeaders(stream=1, headers=tuple(post), ts_ns=T0 + 10),
        RequestData(stream=1, data=b"ping", ts_ns=T0 + 11),
        RequestEnd(stream=1, ts_ns=T0 + 12, trailers=(("x-checksum", "1"),)),
    ]
    assert result.events[-2] == ResponseEnd(stream=1, ts_ns=T0 + 22,
                                            trailers=(("grpc-status", "0"),))
    assert result.codes() == {}


def test_continuation_block_equals_single_headers_frame() -> None:
    fields = [*REQ, ("cookie", "a" * 300), ("x-long", "b" * 300)]
    block = Encoder().encode(fields)
    split = (HeadersFrame(1, data=block[:100], flags={"END_STREAM"}).serialize()
             + ContinuationFrame(1, data=block[100:400]).serialize()
             + ContinuationFrame(1, data=block[400:], flags={"END_HEADERS"}).serialize())
    whole = HeadersFrame(1, data=block, flags={"END_HEADERS", "END_STREAM"}).serialize()
    a = feed_three_ways([*opening(), (C, split, T0 + 10)])
    b = feed_three_ways([*opening(), (C, whole, T0 + 10)])
    assert a.events == b.events
    assert a.of(RequestHeaders)[0].headers == tuple(fields)
    assert a.frames["CONTINUATION"] == 2


def test_padding_and_priority_are_stripped() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM", "PADDED", "PRIORITY", pad_length=7,
                            depends_on=0, stream_weight=200, exclusive=True), T0 + 10),
                (S, headers(se, 1, resp("200"), "PADDED", pad_length=3), T0 + 20),
                (S, data(1, b"abc", "PADDED", "END_STREAM", pad_length=10), T0 + 21)]
    result = feed_three_ways(segments)
    assert result.of(RequestHeaders)[0].headers == tuple(REQ)
    assert result.of(ResponseData) == [ResponseData(stream=1, data=b"abc", ts_ns=T0 + 21)]
    assert result.codes() == {}


def test_padding_longer_than_the_frame_is_fatal_for_headers() -> None:
    # RFC 9113 §6.2: padding beyond the room left for the field block → PROTOCOL_ERROR.
    bad = bytearray(headers(Encoder(), 1, REQ, "PADDED", pad_length=2))
    bad[9] = 250
    result = feed_three_ways([*opening(), (C, bytes(bad), T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.frame.corrupt"]


def test_rst_stream_resets_and_late_frames_are_dropped_quietly() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM"), T0 + 10),
                (S, headers(se, 1, resp("200")) + data(1, b"part"), T0 + 20),
                (C, RstStreamFrame(1, error_code=8).serialize(), T0 + 30),
                (S, data(1, b"in flight", "END_STREAM"), T0 + 31)]  # §5.1: crossed the reset
    result = feed_three_ways(segments)
    assert result.of(StreamReset) == [StreamReset(stream=1, ts_ns=T0 + 30, error_code=8,
                                                  by_client=True)]
    assert result.of(ResponseData) == [ResponseData(stream=1, data=b"part", ts_ns=T0 + 20)]
    assert not result.of(ResponseEnd)
    assert result.conn.late_frames == {"DATA": 1}
    assert result.codes() == {}


def test_goaway_refuses_streams_above_last_stream_id() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM") + headers(ce, 3, REQ, "END_STREAM"),
                 T0 + 10),
                (S, GoAwayFrame(last_stream_id=1, error_code=0).serialize(), T0 + 20),
                (S, headers(se, 1, resp("204"), "END_STREAM"), T0 + 21)]
    result = feed_three_ways(segments)
    assert result.of(StreamReset) == [StreamReset(stream=3, ts_ns=T0 + 20, error_code=0x7)]
    assert result.of(ResponseHeaders)[0].end_stream
    assert result.events[-1] == ConnectionClosed(ts_ns=T0 + 22, reason="goaway:1")
    assert result.codes() == {"h2.goaway.unprocessed": 1}
    assert result.conn.goaway is not None and result.conn.goaway.last_stream_id == 1


def test_push_promise_is_a_request_on_the_promised_stream() -> None:
    ce, se = Encoder(), Encoder()
    pushed = [(":method", "GET"), (":scheme", "https"), (":authority", "example.com"),
              (":path", "/style.css")]
    promise = PushPromiseFrame(1, promised_stream_id=2, data=se.encode(pushed),
                               flags={"END_HEADERS"}).serialize()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM"), T0 + 10),
                (S, promise, T0 + 20),
                (S, headers(se, 1, resp("200")) + data(1, b"<html>", "END_STREAM"), T0 + 21),
                (S, headers(se, 2, resp("200", ("content-type", "text/css"))), T0 + 22),
                (S, data(2, b"body{}", "END_STREAM"), T0 + 23)]
    result = feed_three_ways(segments)
    assert result.of(RequestHeaders)[1] == RequestHeaders(stream=2, headers=tuple(pushed),
                                                          ts_ns=T0 + 20, end_stream=True)
    assert [(e.stream, e.status) for e in result.of(ResponseHeaders)] == [(1, 200), (2, 200)]
    assert [e.stream for e in result.of(ResponseEnd)] == [1, 2]
    assert result.codes() == {}


def test_push_promise_from_a_client_is_fatal() -> None:
    promise = PushPromiseFrame(1, promised_stream_id=2, data=Encoder().encode(REQ),
                               flags={"END_HEADERS"}).serialize()
    result = feed_three_ways([*opening(), (C, promise, T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.push.from_client"]


def test_100_continue_then_final_response() -> None:
    ce, se = Encoder(), Encoder()
    post = [(":method", "POST"), *REQ[1:], ("expect", "100-continue")]
    segments = [*opening(),
                (C, headers(ce, 1, post), T0 + 10),
                (S, headers(se, 1, resp("100")), T0 + 11),
                (C, data(1, b"x" * 100, "END_STREAM"), T0 + 12),
                (S, headers(se, 1, resp("201"), "END_STREAM"), T0 + 13)]
    result = feed_three_ways(segments)
    assert result.of(InformationalResponse) == [InformationalResponse(
        stream=1, status=100, headers=((":status", "100"),), ts_ns=T0 + 11)]
    assert [(e.status, e.end_stream) for e in result.of(ResponseHeaders)] == [(201, True)]
    assert result.of(RequestEnd) == [RequestEnd(stream=1, ts_ns=T0 + 12)]


def test_unknown_and_extension_frames_are_counted_and_recorded() -> None:
    origin = b"".join(len(o).to_bytes(2, "big") + o for o in (b"https://a.example",
                                                               b"https://b.example"))
    segments = [*opening(),
                (S, raw_frame(0xFA, 0xFF, 0, b"grease"), T0 + 10),
                (S, AltSvcFrame(0, origin=b"example.com", field=b'h3=":443"').serialize(),
                 T0 + 11),
                (S, raw_frame(0x0C, 0, 0, origin), T0 + 12),
                (C, raw_frame(0x10, 0, 0, b"\x00\x00\x00\x01u=1"), T0 + 13)]
    result = feed_three_ways(segments)
    assert result.frames == {"SETTINGS": 4, "UNKNOWN(0xFA)": 1, "ALTSVC": 1, "ORIGIN": 1,
                             "PRIORITY_UPDATE": 1}
    assert result.conn.alt_svc == ((0, "example.com", 'h3=":443"'),)
    assert result.conn.origins == ("https://a.example", "https://b.example")
    assert result.codes() == {}


def test_settings_are_recorded_per_side() -> None:
    result = feed_three_ways(opening(client={1: 65536, 4: 6291456, 0x99: 7},
                                     server={3: 100, 5: 1 << 20}))
    assert result.settings == ({1: 65536, 4: 6291456, 0x99: 7}, {3: 100, 5: 1 << 20})


def test_out_of_range_settings_are_warnings() -> None:
    result = feed_three_ways(opening(client={SettingsFrame.ENABLE_PUSH: 2,
                                             SettingsFrame.MAX_FRAME_SIZE: 100}))
    assert result.codes() == {"h2.settings.invalid": 2}


def test_frames_above_max_frame_size_are_fatal_until_a_larger_size_is_acked() -> None:
    ce = Encoder()
    big = data(1, b"x" * 20000, "END_STREAM")
    request = headers(ce, 1, [(":method", "POST"), *REQ[1:]])
    small = feed_three_ways([*opening(), (C, request + big, T0 + 10)])
    assert [e.code for e in small.of(ProtocolError)] == ["h2.frame.too_large"]
    assert small.of(StreamReset) == [StreamReset(stream=1, ts_ns=T0 + 10, error_code=0x6)]
    larger = feed_three_ways([*opening(server={SettingsFrame.MAX_FRAME_SIZE: 1 << 15}),
                              (C, request + big, T0 + 10)])
    assert larger.of(RequestData)[0].data == b"x" * 20000
    assert larger.codes() == {}


def test_interleaved_continuation_is_fatal_and_stops_decoding() -> None:
    ce = Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM"), T0 + 10),
                (C, HeadersFrame(3, data=ce.encode(REQ)[:3]).serialize()
                 + PingFrame(0, opaque_data=b"12345678").serialize(), T0 + 11),
                (C, headers(ce, 5, REQ, "END_STREAM"), T0 + 12)]
    result = feed_three_ways(segments)
    assert result.events[2:] == [
        ProtocolError(ts_ns=T0 + 11, code="h2.continuation.interleaved",
                      message="a PING frame interrupted the header block of stream 3"),
        StreamReset(stream=1, ts_ns=T0 + 11, error_code=0x1),
        ConnectionClosed(ts_ns=T0 + 13, reason="fin"),
    ]
    assert result.codes() == {"h2.continuation.interleaved": 1}


def test_continuation_without_a_block_is_fatal() -> None:
    stray = ContinuationFrame(1, data=b"\x82", flags={"END_HEADERS"}).serialize()
    result = feed_three_ways([*opening(), (C, stray, T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.continuation.unexpected"]


def test_undecodable_hpack_is_fatal_and_quotes_nothing() -> None:
    # Index 70 does not exist in an empty dynamic table (RFC 7541 §2.3.3).
    block = HeadersFrame(1, data=b"\x82\xc6" + b"secret-cookie",
                         flags={"END_HEADERS"}).serialize()
    result = feed_three_ways([*opening(), (C, block, T0 + 10)])
    [error] = result.of(ProtocolError)
    assert error.code == "h2.hpack.corrupt"
    assert "secret" not in error.message and "secret" not in repr(result.warnings)


def test_header_list_cap() -> None:
    # One 4 KiB entry, then a block of 300 one-byte references to it: ~1.2 MB decoded.
    enc = Encoder()
    first = headers(enc, 1, [*REQ, ("x-big", "v" * 4000)], "END_STREAM")
    refs = HeadersFrame(3, data=b"\x82\x87\x84" + b"\xbe" * 300,
                        flags={"END_HEADERS", "END_STREAM"}).serialize()
    result = run([*opening(), (C, first + refs, T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.limit.header_list"]


def test_hpack_bomb_ratio_cap() -> None:
    # Each block stays under the per-block cap, but decoded/compressed passes 1000:1.
    enc = Encoder()
    frames = [headers(enc, 1, [*REQ, ("x-big", "v" * 4000)], "END_STREAM")]
    frames += [HeadersFrame(sid, data=b"\x82\x87\x84" + b"\xbe" * 60,
                            flags={"END_HEADERS", "END_STREAM"}).serialize()
               for sid in range(3, 100, 2)]
    result = run([*opening(), (C, b"".join(frames), T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.limit.hpack_ratio"]


def test_continuation_flood_cap() -> None:
    flood = HeadersFrame(1, data=b"\x82").serialize() + ContinuationFrame(1).serialize() * 300
    result = run([*opening(), (C, flood, T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.limit.continuations"]


def test_header_block_size_cap() -> None:
    chunk = b"\x00" * 16000
    flood = (HeadersFrame(1, data=chunk).serialize()
             + ContinuationFrame(1, data=chunk).serialize() * 70)
    result = run([*opening(), (C, flood, T0 + 10)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.limit.header_block"]


def test_gap_aborts_with_resets_and_ignores_the_rest() -> None:
    ce, se = Encoder(), Encoder()
    diag = Diagnostics()
    conn = H2Connection(diag, where="tcp/1")
    events: list[HttpEvent] = []
    for from_client, chunk, ts in [*opening(), (C, headers(ce, 1, REQ, "END_STREAM")
                                                 + headers(ce, 3, REQ, "END_STREAM"), T0 + 10),
                                   (S, headers(se, 1, resp("200")), T0 + 11)]:
        events += conn.feed(from_client, chunk, ts)
    assert conn.gap(False, 1400, T0 + 20) == [StreamReset(stream=1, ts_ns=T0 + 20, error_code=8),
                                             StreamReset(stream=3, ts_ns=T0 + 20, error_code=8)]
    assert conn.feed(False, data(1, b"after"), T0 + 21) == []
    assert conn.close(T0 + 30) == [ConnectionClosed(ts_ns=T0 + 30, reason="fin")]
    assert diag.count("h2.tcp.gap") == 1


def test_close_resets_open_streams_unless_the_capture_just_ended() -> None:
    segments = [*opening(), (C, headers(Encoder(), 1, REQ, "END_STREAM"), T0 + 10)]
    cut = feed_three_ways(segments, reason="rst")
    assert cut.events[-2:] == [StreamReset(stream=1, ts_ns=T0 + 11, error_code=8),
                               ConnectionClosed(ts_ns=T0 + 11, reason="rst")]
    ended = feed_three_ways(segments, reason="capture-end")
    assert ended.events[-1] == ConnectionClosed(ts_ns=T0 + 11, reason="capture-end")
    assert not ended.of(StreamReset)


def test_truncated_frame_and_header_block_at_close() -> None:
    head = HeadersFrame(1, data=b"\x82").serialize()
    partial = data(1, b"abcdef")[:-2]
    result = feed_three_ways([*opening(), (C, head, T0 + 10), (S, partial, T0 + 11)])
    assert result.codes() == {"h2.continuation.truncated": 1, "h2.frame.truncated": 1}


def test_midstream_start_syncs_on_frame_boundaries() -> None:
    # The capture starts inside some earlier frame: 11 stray bytes, then whole frames.
    ce, se = Encoder(), Encoder()
    segments = [(C, b"\x17" * 11 + headers(ce, 5, REQ, "END_STREAM")
                 + WindowUpdateFrame(0, window_increment=1000).serialize()
                 + PingFrame(0).serialize(), T0),
                (S, data(3, b"tail of an older response", "END_STREAM")
                 + headers(se, 5, resp("200"), "END_STREAM"), T0 + 1)]
    result = feed_three_ways(segments)
    assert [(type(e).__name__, e.stream) for e in result.of(RequestHeaders, ResponseHeaders)] \
        == [("RequestHeaders", 5), ("ResponseHeaders", 5)]
    assert result.codes() == {"h2.preface.missing": 1, "h2.sync.skipped": 1,
                              "h2.stream.before_capture": 1}


def test_http1_bytes_are_not_http2() -> None:
    result = feed_three_ways([(C, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", T0)])
    assert [e.code for e in result.of(ProtocolError)] == ["h2.sync.failed"]
    assert result.codes() == {"h2.preface.missing": 1, "h2.sync.failed": 1}


def test_server_must_start_with_settings() -> None:
    segments = [(C, PREFACE + settings(), T0),
                (S, PingFrame(0).serialize() * 3 + settings(), T0 + 1)]
    result = feed_three_ways(segments)
    assert result.codes() == {"h2.preface.no_settings": 1}
    assert result.frames == {"SETTINGS": 2, "PING": 3}


def test_h2c_upgrade_request_is_stream_one() -> None:
    # RFC 7540 §3.2: after the 101 the server answers stream 1 in HTTP/2; the client still
    # sends the preface (§3.5). HTTP2-Settings is the client's SETTINGS, base64url (§3.2.1).
    upgrade = RequestHeaders(stream=0, ts_ns=T0 - 5, headers=(
        (":method", "GET"), (":path", "/robots.txt"), ("Host", "nghttp2.org"),
        ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
        ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")))
    se = Encoder()
    segments = [(S, settings({3: 100}) + headers(se, 1, resp("200")) + data(1, b"ok", "END_STREAM"),
                 T0),
                (C, PREFACE + settings() + settings(ack=True), T0 + 1)]
    result = feed_three_ways(segments, upgrade=upgrade)
    assert result.events[:2] == [
        RequestHeaders(stream=1, headers=upgrade.headers, ts_ns=T0 - 5, end_stream=True),
        RequestEnd(stream=1, ts_ns=T0 - 5)]
    assert [type(e) for e in result.events[2:]] == [ResponseHeaders, ResponseData, ResponseEnd,
                                                    ConnectionClosed]
    assert result.settings[0] == {3: 100, 4: 1 << 30, 2: 0}
    assert result.codes() == {}


def test_h2c_upgrade_with_bad_http2_settings() -> None:
    upgrade = RequestHeaders(stream=0, ts_ns=T0, headers=(("HTTP2-Settings", "%%%"),))
    result = run([], upgrade=upgrade)
    assert result.codes() == {"h2.upgrade.bad_settings": 1}


def test_non_utf8_header_value_is_replaced_and_counted() -> None:
    ce = Encoder()
    fields: list[tuple[bytes | str, bytes | str]] = [*REQ, (b"x-latin1", b"caf\xe9")]
    block = HeadersFrame(1, data=ce.encode(fields), flags={"END_HEADERS", "END_STREAM"})
    result = feed_three_ways([*opening(), (C, block.serialize(), T0 + 10)])
    assert result.of(RequestHeaders)[0].headers[-1] == ("x-latin1", "caf\ufffd")
    assert result.codes() == {"h2.header.non_utf8": 1}


def test_local_frame_damage_is_skipped_not_fatal() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, raw_frame(0x6, 0, 0, b"short"), T0 + 10),  # PING must be 8 bytes (§6.7)
                (C, raw_frame(0x8, 0, 0, b"\x00\x00\x00\x00"), T0 + 11),  # increment 0 (§6.9)
                (C, RstStreamFrame(9, error_code=8).serialize(), T0 + 12),  # idle stream
                (S, data(7, b"?"), T0 + 13),  # DATA on a stream never opened
                (C, headers(ce, 1, REQ, "END_STREAM"), T0 + 14),
                (S, data(1, b"early"), T0 + 15),  # DATA before the response HEADERS
                (S, headers(se, 1, [("server", "x")], "END_STREAM"), T0 + 16)]  # no :status
    result = feed_three_ways(segments)
    assert not result.of(ProtocolError)
    assert result.codes() == {"h2.frame.malformed": 2, "h2.stream.idle": 2,
                              "h2.stream.data_before_headers": 1, "h2.header.bad_status": 1}
    assert result.of(ResponseHeaders)[0].status == 0


def test_trailers_and_1xx_without_proper_end_stream_are_warned() -> None:
    ce, se = Encoder(), Encoder()
    segments = [*opening(),
                (C, headers(ce, 1, REQ, "END_STREAM") + headers(ce, 3, REQ, "END_STREAM"),
                 T0 + 10),
                (S, headers(se, 1, resp("200")) + headers(se, 1, [("x-t", "1")]), T0 + 11),
                (S, headers(se, 3, resp("103"), "END_STREAM"), T0 + 12)]
    result = feed_three_ways(segments)
    assert result.codes() == {"h2.stream.trailers_without_end": 1,
                              "h2.stream.informational_end": 1}
    assert [e.stream for e in result.of(ResponseEnd)] == [1, 3]


def test_settings_ack_without_settings_is_warned() -> None:
    result = feed_three_ways([(C, PREFACE + settings(ack=True) + settings(), T0)])
    assert result.codes() == {"h2.settings.unmatched_ack": 1}


# ----------------------------------------------------------------------------------- fuzzing


def _conversation() -> list[Segment]:
    ce, se = Encoder(), Encoder()
    post = [(":method", "POST"), *REQ[1:]]
    return [*opening(client={1: 8192}),
            (C, headers(ce, 1, post) + data(1, b"a" * 50, "PADDED", pad_length=5), T0 + 10),
            (C, headers(ce, 1, [("t", "1")], "END_STREAM"), T0 + 11),
            (S, headers(se, 1, resp("100")) + headers(se, 1, resp("200")), T0 + 12),
            (S, data(1, b"b" * 70) + data(1, b"", "END_STREAM"), T0 + 13),
            (C, headers(ce, 3, REQ, "END_STREAM", "PRIORITY", depends_on=1), T0 + 14),
            (S, RstStreamFrame(3, error_code=7).serialize(), T0 + 15),
            (S, GoAwayFrame(last_stream_id=3).serialize(), T0 + 16)]


@given(cuts=st.lists(st.lists(st.integers(0, 400), max_size=8), min_size=11, max_size=11))
def test_any_chunking_gives_the_same_events(cuts: list[list[int]]) -> None:
    segments = _conversation()
    whole = run(segments)
    pieces = iter(cuts)
    chunked = run(segments, lambda d: split_at(d, next(pieces)))
    assert chunked.events == whole.events
    assert chunked.warnings == whole.warnings == ()


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=12),
       st.booleans())
def test_random_bytes_never_raise(chunks: list[tuple[bool, bytes]], preface: bool) -> None:
    segments = [(C, PREFACE, T0)] if preface else []
    segments += [(fc, chunk, T0 + i) for i, (fc, chunk) in enumerate(chunks)]
    result = run(segments)
    assert isinstance(result.events[-1], ConnectionClosed)


@given(st.data())
def test_mutated_conversations_never_raise(draw: st.DataObject) -> None:
    segments = _conversation()
    index = draw.draw(st.integers(0, len(segments) - 1))
    from_client, chunk, ts = segments[index]
    pos = draw.draw(st.integers(0, len(chunk) - 1))
    value = draw.draw(st.integers(0, 255))
    insert = draw.draw(st.booleans())
    mutated = chunk[:pos] + bytes([value]) + chunk[pos + (0 if insert else 1):]
    segments[index] = (from_client, mutated, ts)
    result = run(segments)
    assert isinstance(result.events[-1], ConnectionClosed)


# ------------------------------------------------------------------------------------ corpus

CLEARTEXT_H2 = [
    "sv__dns-over-http2-post.pcap", "sv__dns-over-http2.pcap", "sv__http2-continuation.pcap",
    "sv__http2-deflate.pcap", "sv__http2-multiple-headers.pcap",
    "sv__http2-port3000-multistream.pcap", "sv__http2-range.pcap", "sv__http2-upgrade-h2c.pcap",
    "sv__http2-userinfo-authority.pcap",
]

#: Where our events and tshark's header counts differ, and why: stream 7's response (HEADERS
#: with content-type application/dns-message, then DATA, DATA+END_STREAM) arrived after the
#: client's RST_STREAM(CANCEL). tshark counts the header block; we drop frames that crossed a
#: reset (RFC 9113 §5.1, "closed"), so that exchange ends in its StreamReset.
LATE_RESPONSES = {"sv__dns-over-http2.pcap": ({"application/dns-message": 1},
                                             {"HEADERS": 1, "DATA": 2})}


@dataclass
class CorpusRun:
    events: list[HttpEvent] = field(default_factory=list)
    frames: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    tshark_blind: Counter[str] = field(default_factory=Counter)
    """Frames a prior-knowledge server sent before the client's preface, in capture order."""
    warnings: tuple[Warning, ...] = ()


@dataclass
class _Tcp:
    machine: H2Connection | Http1Connection | None = None
    held: list[FlowData] = field(default_factory=list)
    request: RequestHeaders | None = None


def _flow_events(path: Path, diag: Diagnostics) -> list[FlowEvent]:
    reassembler = TcpReassembler(diag)
    events: list[FlowEvent] = []
    with path.open("rb") as stream:
        for record in read_capture(stream, diag, name=path.name):
            packet = decode_frame(record, diag) if isinstance(record, Frame) else None
            if isinstance(packet, TcpSegment):
                events += reassembler.feed(packet)
    return events + reassembler.finish()


def corpus_run(path: Path, *, tshark_decode_as: bool) -> CorpusRun:
    """The capture through archcmp's own ingest (pcap → packets → TCP reassembly); HTTP/1.1
    connections go to Http1Connection, which hands an h2c upgrade over as ``wire.py`` does."""
    h2_diag, other_diag, out = Diagnostics(), Diagnostics(), CorpusRun()
    conns: dict[int, _Tcp] = {}

    def h2_events(events: list[HttpEvent]) -> None:
        out.events.extend(events)

    def h1_events(tcp: _Tcp, events: list[HttpEvent], ts_ns: int, index: int) -> None:
        for event in events:
            if isinstance(event, RequestHeaders):
                tcp.request = event
            if isinstance(event, Upgrade) and event.protocol == "h2c":
                assert isinstance(tcp.machine, Http1Connection)
                client, server = tcp.machine.take_leftover()
                tcp.machine = H2Connection(h2_diag, where=f"tcp/{index}",
                                           upgrade_request=tcp.request)
                h2_events(tcp.machine.feed(True, client, ts_ns))
                h2_events(tcp.machine.feed(False, server, ts_ns))

    def feed(tcp: _Tcp, event: FlowData) -> None:
        if isinstance(tcp.machine, H2Connection):
            h2_events(tcp.machine.feed(event.from_client, event.data, event.ts_ns))
        elif tcp.machine is not None:
            h1_events(tcp, tcp.machine.feed(event.from_client, event.data, event.ts_ns),
                      event.ts_ns, event.index)

    for event in _flow_events(path, other_diag):
        if isinstance(event, FlowData):
            tcp = conns.setdefault(event.index, _Tcp())
            if tcp.machine is None:
                if not event.from_client:
                    tcp.held.append(event)  # the server spoke first (wire.py holds it too)
                    continue
                if event.data.startswith(PREFACE[: len(event.data)]):
                    tcp.machine = H2Connection(h2_diag, where=f"tcp/{event.index}")
                    for held in tcp.held:
                        feed(tcp, held)
                    if not tshark_decode_as:
                        out.tshark_blind.update(tcp.machine.frame_counts)
                else:
                    tcp.machine = Http1Connection(other_diag, where=f"tcp/{event.index}")
                    for held in tcp.held:
                        feed(tcp, held)
            feed(tcp, event)
        elif isinstance(event, FlowGap | FlowClosed):
            tcp = conns.get(event.index) or _Tcp()
            if isinstance(tcp.machine, H2Connection):
                h2_events(tcp.machine.gap(event.from_client, event.missing, event.ts_ns)
                          if isinstance(event, FlowGap)
                          else tcp.machine.close(event.ts_ns, reset=event.reset))
                if isinstance(event, FlowClosed):
                    out.frames.update(tcp.machine.frame_counts)
                    out.late.update(tcp.machine.late_frames)
    out.warnings = h2_diag.warnings()
    return out


@pytest.fixture(scope="module")
def ground_truth(shared: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(
        (shared / "corpus" / "MANIFEST.ground_truth.json").read_text(encoding="utf-8"))
    return truth


@pytest.mark.parametrize("name", CLEARTEXT_H2)
def test_corpus_frame_counts_match_tshark(name: str, shared: Path,
                                          ground_truth: dict[str, Any]) -> None:
    truth = ground_truth[f"pcap/{name}"]
    got = corpus_run(shared / "corpus" / "pcap" / name,
                     tshark_decode_as="tshark_extra_args" in truth)
    # Without a decode-as rule, tshark takes a port-80 conversation for HTTP/2 only from the
    # client preface on, so a prior-knowledge server that speaks first (Cloudflare sends
    # SETTINGS + WINDOW_UPDATE on accept: multiple-headers, userinfo-authority) has those frames
    # missed. After an h2c 101, and with -d tcp.port==3000,http2, tshark sees them all.
    assert dict(got.frames - got.tshark_blind) == truth["http2_frames"]
    assert got.warnings == (), "a clean capture gives no warnings"


@pytest.mark.parametrize("name", CLEARTEXT_H2)
def test_corpus_exchanges_pair_up(name: str, shared: Path,
                                  ground_truth: dict[str, Any]) -> None:
    truth = ground_truth[f"pcap/{name}"]
    got = corpus_run(shared / "corpus" / "pcap" / name,
                     tshark_decode_as="tshark_extra_args" in truth)
    requests = [e for e in got.events if isinstance(e, RequestHeaders)]
    answered = {e.stream for e in got.events if isinstance(e, ResponseHeaders | StreamReset)}
    assert requests and all(r.stream in answered for r in requests)
    ends = Counter(type(e) for e in got.events if isinstance(e, ResponseEnd | StreamReset))
    assert sum(ends.values()) >= len(requests)

    types: Counter[str] = Counter()
    codings: Counter[str] = Counter()
    for event in got.events:
        if isinstance(event, RequestHeaders | ResponseHeaders):
            for field, value in event.headers:
                if field.lower() == "content-type":
                    types[value.split(";")[0].strip().lower()] += 1
                elif field.lower() == "content-encoding":
                    codings[value] += 1
    late_types, late_frames = LATE_RESPONSES.get(name, ({}, {}))
    assert types + Counter(late_types) == Counter(truth["http2_content_types"])
    assert got.late == Counter(late_frames)
    assert codings == Counter(truth["http2_content_encodings"])


def test_module_docstring_lists_every_warning_code() -> None:
    import re

    source = Path(http2.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"(h2\.[a-z_]+\.[a-z_]+)"', source))
    documented = set(re.findall(r"``(h2\.[a-z_]+\.[a-z_]+)``", http2.__doc__ or ""))
    assert used == documented
