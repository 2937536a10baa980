"""archcmp.decode.lines: NDJSON, AI-SDK data streams, stream classification."""

from __future__ import annotations

import json
from typing import Protocol

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.decode.lines import (
    DataStreamParser,
    NdjsonParser,
    classify_stream,
    parse_stream,
)
from archcmp.diagnostics import Diagnostics
from archcmp.model import Header, StreamEvent
from tests.helpers import feed_chunks, feed_three_ways, split_at

#: An AI SDK 4 ``toDataStreamResponse()`` body: a step with text, a tool round trip, finish.
AI_SDK_BODY = (
    b'f:{"messageId":"msg-IvZ2xOcCq3XPHtNTv0Fu4Y6P"}\n'
    b'0:"Let me check "\n'
    b'0:"the weather in Berlin."\n'
    b'b:{"toolCallId":"call_1","toolName":"getWeather"}\n'
    b'c:{"toolCallId":"call_1","argsTextDelta":"{\\"city\\":\\"Berlin\\"}"}\n'
    b'9:{"toolCallId":"call_1","toolName":"getWeather","args":{"city":"Berlin"}}\n'
    b'a:{"toolCallId":"call_1","result":{"celsius":21}}\n'
    b'e:{"finishReason":"tool-calls","usage":{"promptTokens":42,"completionTokens":17},'
    b'"isContinued":false}\n'
    b'f:{"messageId":"msg-Uo3QHp8IQxTPQlhVYRZSoU4s"}\n'
    b'g:"The user wants a number."\n'
    b'0:"It is 21 \xc2\xb0C."\n'
    b'8:[{"citation":"weather-api"}]\n'
    b'2:[{"progress":1}]\n'
    b'e:{"finishReason":"stop","usage":{"promptTokens":80,"completionTokens":9},'
    b'"isContinued":false}\n'
    b'd:{"finishReason":"stop","usage":{"promptTokens":122,"completionTokens":26}}\n'
)
AI_SDK_HEADERS: tuple[Header, ...] = (
    ("Content-Type", "text/plain; charset=utf-8"),
    ("X-Vercel-AI-Data-Stream", "v1"),
)
NDJSON_BODY = (
    b'{"type":"start","id":1}\n'
    b'{"type":"delta","text":"h\xc3\xa9llo"}\r\n'
    b"\n"
    b'{"type":"delta","text":"!"}\n'
    b"[1, 2]\n"
    b'{"type":"done"}\n'
)


class Counted(Protocol):
    invalid_lines: int
    discarded_at_eof: int
    dropped_events: int
    dispatched: int


def line_counters(parser: Counted) -> tuple[int, ...]:
    return (parser.invalid_lines, parser.discarded_at_eof, parser.dropped_events,
            parser.dispatched)


def types(events: list[StreamEvent]) -> list[str]:
    return [e.type for e in events]


# ------------------------------------------------------------------------------- NDJSON


def test_ndjson_types_from_the_type_member() -> None:
    events = feed_three_ways(NdjsonParser, NDJSON_BODY, state=line_counters)
    assert types(events) == ["start", "delta", "delta", "line", "done"]
    assert events[1].data == '{"type":"delta","text":"héllo"}'  # CR of the CRLF dropped
    assert [e.index for e in events] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b'{"type": 3}', "line"),
        (b'{"type": ""}', "line"),
        (b'{"type": "' + b"x" * 101 + b'"}', "line"),
        (b'{"event": "a"}', "line"),
        (b'"type"', "line"),
        (b'{"type": "ok"}', "ok"),
    ],
)
def test_ndjson_type_member_must_be_a_short_string(line: bytes, kind: str) -> None:
    events, _ = feed_chunks(NdjsonParser, [line + b"\n"])
    assert types(events) == [kind]


def test_ndjson_invalid_lines_are_events_and_counted() -> None:
    events, parser = feed_chunks(NdjsonParser, [b'{"a":1}\nnot json\n' + b"[" * 100_000 + b"\n"])
    assert types(events) == ["line", "line", "line"]
    assert parser.invalid_lines == 2


def test_ndjson_last_line_without_newline() -> None:
    events, parser = feed_chunks(NdjsonParser, [b'{"type":"a"}\n{"type":"b"}'])
    assert types(events) == ["a", "b"]
    events, parser = feed_chunks(NdjsonParser, [b'{"type":"a"}\n{"type":"b", "te'])
    assert types(events) == ["a"]
    assert parser.discarded_at_eof == 1


def test_ndjson_lone_cr_is_not_a_line_end_and_crlf_may_be_cut() -> None:
    events, _ = feed_chunks(NdjsonParser, [b'{"a":"x\ry"}\r', b'\n{"b":2}\r', b"\n"])
    assert [e.data for e in events] == ['{"a":"x\ry"}', '{"b":2}']


def test_time_is_that_of_the_chunk_ending_the_line() -> None:
    parser = NdjsonParser()
    assert parser.feed(b'{"a":', time_ms=1.0) == []
    first = parser.feed(b'1}\n{"b":2}', time_ms=2.0)
    last = parser.close()
    assert [(e.data, e.time_ms) for e in first + last] == [('{"a":1}', 2.0), ('{"b":2}', 2.0)]


def test_event_cap_counts_beyond_the_limit() -> None:
    parser = NdjsonParser(max_events=2)
    events = parser.feed(b"{}\n" * 5)
    assert [e.index for e in events] == [0, 1]
    assert (parser.dispatched, parser.dropped_events) == (5, 3)


def test_feed_after_close_is_a_bug() -> None:
    parser = DataStreamParser()
    parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.feed(b'0:"x"\n')


# --------------------------------------------------------------------- AI-SDK data stream


def test_ai_sdk_data_stream_types_are_the_prefixes() -> None:
    events = feed_three_ways(DataStreamParser, AI_SDK_BODY, state=line_counters)
    assert types(events) == ["f", "0", "0", "b", "c", "9", "a", "e", "f", "g", "0", "8", "2",
                             "e", "d"]
    assert "".join(json.loads(e.data) for e in events if e.type == "0") == (
        "Let me check the weather in Berlin.It is 21 °C."
    )
    assert json.loads(events[-1].data)["finishReason"] == "stop"


def test_ai_sdk_unknown_prefix_and_bad_json_are_counted() -> None:
    events, parser = feed_chunks(DataStreamParser, [b'z:1\nplain text\n0:not json\n3:"boom"\n'])
    assert types(events) == ["line", "line", "0", "3"]
    assert parser.invalid_lines == 3


# --------------------------------------------------------------------------- hypothesis

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=3),
    max_leaves=6,
)


@given(
    records=st.lists(st.tuples(st.dictionaries(st.sampled_from(["type", "x"]), json_values),
                               st.sampled_from([b"\n", b"\r\n"])), max_size=15),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_ndjson_any_chunking(records: list[tuple[dict[str, object], bytes]],
                             cuts: list[int]) -> None:
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + eol for r, eol in records)
    events, parser = feed_chunks(NdjsonParser, split_at(body, cuts))
    bytewise, _ = feed_chunks(NdjsonParser, split_at(body, range(len(body))))
    assert events == bytewise
    assert [json.loads(e.data) for e in events] == [r for r, _ in records]
    assert parser.invalid_lines == 0


@given(
    parts=st.lists(st.tuples(st.sampled_from(["0", "2", "3", "9", "a", "d", "g"]), json_values),
                   max_size=15),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_data_stream_any_chunking(parts: list[tuple[str, object]], cuts: list[int]) -> None:
    body = "".join(f"{code}:{json.dumps(v, ensure_ascii=False)}\n" for code, v in parts).encode()
    events, _ = feed_chunks(DataStreamParser, split_at(body, cuts))
    bytewise, _ = feed_chunks(DataStreamParser, split_at(body, range(len(body))))
    assert events == bytewise
    assert [(e.type, json.loads(e.data)) for e in events] == parts


@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_arbitrary_bytes_any_chunking(body: bytes, cuts: list[int]) -> None:
    for make in (NdjsonParser, DataStreamParser):
        events, parser = feed_chunks(make, split_at(body, cuts))
        whole, whole_parser = feed_chunks(make, [body])
        assert events == whole
        assert line_counters(parser) == line_counters(whole_parser)


# ------------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("data", "mime", "headers", "expected"),
    [
        (b"", "text/event-stream", (), "sse"),
        (b"event: ping\ndata: {}\n\n", "text/plain", (), "sse"),
        (b'0:"hi"\n', "text/plain; charset=utf-8", AI_SDK_HEADERS, "chunked-text"),
        (AI_SDK_BODY, "text/plain; charset=utf-8", (), "chunked-text"),
        (b'{"a":1}\n', "application/x-ndjson", (), "ndjson"),
        (NDJSON_BODY, "application/octet-stream", (), "ndjson"),
        (NDJSON_BODY, None, (), "ndjson"),
        # Not streams:
        (b'{"a": 1, "b": [1, 2]}\n', "application/json", (), None),
        (json.dumps({"a": [1, 2], "b": {"c": 3}}, indent=2).encode(), "application/json", (),
         None),
        (b'0:"hi"\n', "text/plain", (), None),  # a single part, no header
        (b"1\n2\n3\n", "text/plain", (), None),
        (b"[1]\n[2]\n", "text/html", (), None),
        (b"{}\n{}\n", "application/javascript", (), None),
        (b"!function(){var a=1}();\nconsole.log(2);\n", "application/javascript", (), None),
        (b"<!doctype html>\n<html>\n</html>\n", "text/html", (), None),
        (b"hello\nworld\n", "text/plain", (), None),
        (b"", None, (), None),
    ],
)
def test_classify_stream(data: bytes, mime: str | None, headers: tuple[Header, ...],
                         expected: str | None) -> None:
    assert classify_stream(data, mime, headers) == expected


def test_parse_stream_runs_the_right_parser_and_counts_problems() -> None:
    diag = Diagnostics()
    sse = parse_stream("sse", b"event: a\ndata: 1\n\ndata: cut", diag, where="entry 3")
    ndjson = parse_stream("ndjson", b'{"type":"x"}\nnope\n{"type":"y"}', diag)
    chunked = parse_stream("chunked-text", AI_SDK_BODY, diag)
    assert (types(sse), types(ndjson), len(chunked)) == (["a"], ["x", "line", "y"], 15)
    assert {w.code: (w.count, w.samples) for w in diag.warnings()} == {
        "stream.sse.incomplete": (1, ("entry 3",)),
        "stream.ndjson.invalid_line": (1, ()),
    }
