"""H3Connection: frames, unidirectional streams and QPACK (RFC 9114, RFC 9204) from stream bytes."""

from __future__ import annotations

import itertools
import random

import pylsqpack
from aioquic.buffer import encode_uint_var
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.protocols.events import (
    ConnectionClosed,
    HttpEvent,
    InformationalResponse,
    RequestData,
    RequestEnd,
    RequestHeaders,
    ResponseData,
    ResponseEnd,
    ResponseHeaders,
    StreamReset,
)
from archcmp.protocols.http3 import H3Connection, _capacity_hint, is_reserved

TS = 1_000


def varint(n: int) -> bytes:
    data: bytes = encode_uint_var(n)
    return data


def frame(ftype: int, payload: bytes) -> bytes:
    return varint(ftype) + varint(len(payload)) + payload


def settings(capacity: int = 0, blocked: int = 0) -> bytes:
    body = varint(1) + varint(capacity) + varint(7) + varint(blocked) + varint(0x21) + varint(0)
    return frame(4, body)


def static_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """A field section with no dynamic table references (encoder with capacity 0)."""
    encoder = pylsqpack.Encoder()
    _enc, block = encoder.encode(0, headers)
    assert block[0] == 0
    result: bytes = block
    return result


REQUEST = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"),
           (b":path", b"/index.html")]


def control_streams(h3: H3Connection) -> list[HttpEvent]:
    events = h3.feed_stream(2, True, b"\x00" + settings(), False, TS)
    return events + h3.feed_stream(3, False, b"\x00" + settings(), False, TS)


def test_rfc9204_b1_static_only_field_section() -> None:
    # https://www.rfc-editor.org/rfc/rfc9204#appendix-B.1
    h3 = H3Connection(Diagnostics())
    block = bytes.fromhex("0000" "510b2f696e646578" "2e68746d6c")
    events = h3.feed_stream(0, True, frame(1, block), True, TS)
    assert events == [
        RequestHeaders(stream=0, headers=((":path", "/index.html"),), ts_ns=TS),
        RequestEnd(stream=0, ts_ns=TS),
    ]


def test_rfc9204_b2_dynamic_table_waits_for_settings_and_encoder_stream() -> None:
    # https://www.rfc-editor.org/rfc/rfc9204#appendix-B.2: the server's decoder allows 220 bytes
    encoder_stream = bytes.fromhex(
        "3fbd01" "c00f7777772e6578" "616d706c652e636f" "6d" "c10c2f73616d706c" "652f70617468")
    block = bytes.fromhex("0381" "10" "11")
    diag = Diagnostics()
    h3 = H3Connection(diag)
    # the request arrives first: it needs the table, whose size the server's SETTINGS give
    assert h3.feed_stream(4, True, frame(1, block) + frame(0, b"body"), True, TS) == []
    assert h3.feed_stream(3, False, b"\x00" + settings(220, 1), False, TS + 1) == []
    events = h3.feed_stream(6, True, b"\x02" + encoder_stream, False, TS + 2)
    assert events == [
        RequestHeaders(stream=4, headers=((":authority", "www.example.com"),
                                          (":path", "/sample/path")), ts_ns=TS),
        RequestData(stream=4, data=b"body", ts_ns=TS),
        RequestEnd(stream=4, ts_ns=TS),
    ]
    assert not diag.warnings()


def test_blocked_stream_resumes_when_the_encoder_stream_catches_up() -> None:
    h3 = H3Connection(Diagnostics())
    h3.feed_stream(3, False, b"\x00" + settings(4096, 16), False, TS)
    h3.feed_stream(2, True, b"\x00" + settings(4096, 16), False, TS)
    encoder = pylsqpack.Encoder()
    setup = encoder.apply_settings(4096, 16)
    headers = [*REQUEST, (b"x-custom", b"value-that-is-long-enough-to-index")]
    enc0, _block0 = encoder.encode(0, headers)  # lsqpack indexes a field on its second use
    enc1, block1 = encoder.encode(4, headers)
    enc2, block2 = encoder.encode(8, headers)
    assert enc1 and block1[0] and block2[0]  # both blocks reference the dynamic table
    assert h3.feed_stream(4, True, frame(1, block1), True, TS + 1) == []
    assert h3.feed_stream(8, True, frame(1, block2), True, TS + 2) == []
    events = h3.feed_stream(6, True, b"\x02" + setup + enc0 + enc1 + enc2, False, TS + 3)
    heads = [e for e in events if isinstance(e, RequestHeaders)]
    assert [h.stream for h in heads] == [4, 8]
    assert [h.ts_ns for h in heads] == [TS + 1, TS + 2]
    assert heads[0].headers[-1] == ("x-custom", "value-that-is-long-enough-to-index")
    assert [type(e) for e in events] == [RequestHeaders, RequestEnd, RequestHeaders, RequestEnd]


def test_response_with_informational_data_trailers_and_grease() -> None:
    diag = Diagnostics()
    h3 = H3Connection(diag)
    control_streams(h3)
    # a GREASE unidirectional stream and GREASE frames are skipped and counted
    h3.feed_stream(7, False, varint(0x1F * 3 + 0x21) + b"anything", True, TS)
    h3.feed_stream(0, True, frame(0x21 + 0x1F, b"grease") + frame(1, static_block(REQUEST)),
                   True, TS)
    response = (frame(1, static_block([(b":status", b"103"), (b"link", b"</a.css>")]))
                + frame(1, static_block([(b":status", b"200")]))
                + frame(0, b"hello ") + frame(0xF0700, b"\x00u=1") + frame(0, b"world")
                + frame(1, static_block([(b"grpc-status", b"0")])))
    events = h3.feed_stream(0, False, response, True, TS + 5)
    assert events == [
        InformationalResponse(stream=0, status=103,
                              headers=((":status", "103"), ("link", "</a.css>")), ts_ns=TS + 5),
        ResponseHeaders(stream=0, status=200, headers=((":status", "200"),), ts_ns=TS + 5),
        ResponseData(stream=0, data=b"hello ", ts_ns=TS + 5),
        ResponseData(stream=0, data=b"world", ts_ns=TS + 5),
        ResponseEnd(stream=0, ts_ns=TS + 5, trailers=(("grpc-status", "0"),)),
    ]
    assert h3.stream_counts == {"control": 2, "reserved": 1}
    assert h3.frame_counts["reserved"] == 1  # SETTINGS' reserved identifier is not a frame
    assert diag.count("h3.frame.reserved") == 1
    assert diag.count("h3.stream.reserved") == 1
    assert h3.frame_counts["PRIORITY_UPDATE"] == 1  # misplaced on a request stream, skipped


def test_reset_and_close() -> None:
    h3 = H3Connection(Diagnostics())
    h3.feed_stream(0, True, frame(1, static_block(REQUEST)), True, TS)
    h3.feed_stream(4, True, frame(1, static_block(REQUEST)), True, TS)
    h3.feed_stream(4, False, frame(1, static_block([(b":status", b"200")])) + frame(0, b"x"),
                   False, TS + 1)
    assert h3.reset_stream(4, False, 0x10C, TS + 2) == [
        StreamReset(stream=4, ts_ns=TS + 2, error_code=0x10C, by_client=False)]
    assert h3.reset_stream(4, False, 0x10C, TS + 3) == []
    h3.feed_stream(3, False, b"\x00" + settings() + frame(7, varint(8)), False, TS)
    assert h3.close(TS + 9) == [StreamReset(stream=0, ts_ns=TS + 9),
                                ConnectionClosed(ts_ns=TS + 9, reason="goaway 8")]


def test_reset_after_a_complete_exchange_changes_nothing() -> None:
    h3 = H3Connection(Diagnostics())
    h3.feed_stream(0, True, frame(1, static_block(REQUEST)), True, TS)
    h3.feed_stream(0, False, frame(1, static_block([(b":status", b"204")])), True, TS)
    assert h3.reset_stream(0, True, 0x10C, TS) == []


def test_data_is_streamed_as_it_arrives() -> None:
    h3 = H3Connection(Diagnostics())
    h3.feed_stream(0, True, frame(1, static_block(REQUEST)), True, TS)
    body = frame(1, static_block([(b":status", b"200"), (b"content-type",
                                                          b"text/event-stream")]))
    body += frame(0, b"data: one\n\ndata: two\n\n")
    cut = len(body) - len(b"data: two\n\n")
    first = h3.feed_stream(0, False, body[:cut], False, 10)
    second = h3.feed_stream(0, False, body[cut:], True, 20)
    pieces = [(e.data, e.ts_ns) for e in first + second if isinstance(e, ResponseData)]
    assert pieces == [(b"data: one\n\n", 10), (b"data: two\n\n", 20)]


def _merged(events: list[HttpEvent]) -> list[object]:
    """Events with consecutive DATA of one stream joined (chunking changes only those)."""
    out: list[object] = []
    for e in events:
        if isinstance(e, RequestData | ResponseData) and out and type(out[-1]) is tuple and (
                out[-1][0] == (type(e).__name__, e.stream)):
            out[-1] = (out[-1][0], out[-1][1] + e.data)
        elif isinstance(e, RequestData | ResponseData):
            out.append(((type(e).__name__, e.stream), e.data))
        else:
            out.append(e)
    return out


def _exchange_streams() -> dict[tuple[int, bool], bytes]:
    encoder = pylsqpack.Encoder()
    setup = encoder.apply_settings(4096, 16)
    enc, block = encoder.encode(0, [*REQUEST, (b"cookie", b"a" * 40)])
    enc2, block2 = encoder.encode(4, [*REQUEST, (b"cookie", b"a" * 40)])
    return {
        (3, False): b"\x00" + settings(4096, 16),
        (2, True): b"\x00" + settings(),
        (6, True): b"\x02" + setup + enc + enc2,
        (0, True): frame(1, block) + frame(0, b"q=1"),
        (4, True): frame(1, block2),
        (0, False): frame(1, static_block([(b":status", b"200")])) + frame(0, b"x" * 300)
        + frame(0x40, b"") + frame(0, b"y"),
    }


def _feed_cut(streams: dict[tuple[int, bool], bytes], cuts: random.Random) -> list[object]:
    h3 = H3Connection(Diagnostics())
    events: list[HttpEvent] = []
    for (stream_id, client), data in streams.items():
        points = sorted({cuts.randrange(len(data) + 1) for _ in range(cuts.randrange(4))})
        bounds = [0, *points, len(data)]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            events += h3.feed_stream(stream_id, client, data[a:b], i == len(bounds) - 2
                                     and stream_id in (0, 4), TS)
    return _merged(events + h3.close(TS))


def test_feed_whole_bytewise_and_cut_give_the_same_events() -> None:
    streams = _exchange_streams()
    h3 = H3Connection(Diagnostics())
    events: list[HttpEvent] = []
    for (stream_id, client), data in streams.items():
        events += h3.feed_stream(stream_id, client, data, stream_id in (0, 4), TS)
    whole = _merged(events + h3.close(TS))
    h3 = H3Connection(Diagnostics())
    events = []
    for (stream_id, client), data in streams.items():
        for i in range(len(data)):
            events += h3.feed_stream(stream_id, client, data[i : i + 1],
                                     stream_id in (0, 4) and i == len(data) - 1, TS)
    assert _merged(events + h3.close(TS)) == whole
    for seed in range(20):
        assert _feed_cut(streams, random.Random(seed)) == whole
    assert any(isinstance(e, RequestHeaders) and e.stream == 4 for e in whole)


@given(st.lists(st.tuples(st.sampled_from([0, 2, 3, 4, 6, 7, 10, 11]), st.booleans(),
                          st.binary(max_size=40), st.booleans()), max_size=30))
def test_arbitrary_stream_bytes_never_raise(feeds: list[tuple[int, bool, bytes, bool]]) -> None:
    h3 = H3Connection(Diagnostics())
    streams = _exchange_streams()
    for (stream_id, client), data in streams.items():
        h3.feed_stream(stream_id, client, data[: len(data) // 2], False, TS)
    for stream_id, client, data, fin in feeds:
        h3.feed_stream(stream_id, client, data, fin, TS)
        if fin and not data:
            h3.reset_stream(stream_id, client, 0, TS)
    h3.close(TS)


def test_reserved_values_and_capacity_hint() -> None:
    assert is_reserved(0x21) and is_reserved(0x40) and is_reserved(0x1F * 10 + 0x21)
    assert not is_reserved(0x20) and not is_reserved(0x04)
    assert _capacity_hint(bytes.fromhex("3fbd01")) == 220  # RFC 9204 §B.2
    assert _capacity_hint(b"\x2a") == 10
    assert _capacity_hint(b"\xc0") == 0


def test_header_blocks_without_settings_decode_at_close() -> None:
    diag = Diagnostics()
    h3 = H3Connection(diag)
    encoder = pylsqpack.Encoder()
    setup = encoder.apply_settings(4096, 16)
    headers = [*REQUEST, (b"x-long", b"v" * 64)]
    enc0, _static = encoder.encode(8, headers)
    enc, block = encoder.encode(0, headers)
    assert block[0]
    h3.feed_stream(2, True, b"\x00" + settings(), False, TS)
    h3.feed_stream(6, True, b"\x02" + setup + enc0 + enc, False, TS)
    assert h3.feed_stream(0, True, frame(1, block), True, TS) == []
    events = h3.close(TS + 1)
    assert [type(e) for e in events] == [RequestHeaders, RequestEnd, StreamReset, ConnectionClosed]
    assert diag.count("h3.qpack.no_settings") == 1
