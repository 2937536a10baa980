"""archcmp.decode.sse: WHATWG HTML §9.2.6 examples, chunk boundaries, real captured streams."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.decode.sse import SseParser, looks_like_sse, parse_sse
from archcmp.model import StreamEvent
from tests.helpers import feed_chunks, feed_three_ways, split_at


def counters(parser: SseParser) -> tuple[int, ...]:
    return (parser.comments, parser.unknown_fields, parser.discarded_at_eof,
            parser.dropped_events, parser.dispatched)


def events_of(data: bytes) -> list[StreamEvent]:
    return feed_three_ways(SseParser, data, state=counters)


def summary(events: list[StreamEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.type, e.data, e.id) for e in events]


# --------------------------------------------------- the examples of WHATWG HTML §9.2.6


def test_spec_example_multiline_data() -> None:
    # "...would cause an event message with the interface MessageEvent to be dispatched on the
    # EventSource object. The event's data attribute would contain the string 'YHOO\n+2\n10'"
    events = events_of(b"data: YHOO\ndata: +2\ndata: 10\n\n")
    assert summary(events) == [("message", "YHOO\n+2\n10", None)]


def test_spec_example_ids_and_unfinished_last_event() -> None:
    stream = (
        b": test stream\n\n"
        b"data: first event\nid: 1\n\n"
        b"data:second event\nid\n\n"
        b"data:  third event\n"
    )
    parser = SseParser()
    events = parser.feed(stream) + parser.close()
    # "The first block fires events with the data set to 'first event'" (last id "1"); the
    # second resets the id to empty; "The third block fires an event with data ' third event'"
    # only if a blank line follows: here the stream ends first, so it is discarded.
    assert summary(events) == [("message", "first event", "1"), ("message", "second event", None)]
    assert (parser.comments, parser.discarded_at_eof) == (1, 1)
    assert events_of(stream + b"\n")[-1].data == " third event"  # only one space is removed


def test_spec_example_empty_data() -> None:
    # "The first block fires an event whose data is the empty string, as would the last block if
    # it was followed by a blank line. The middle block fires an event with a single newline."
    events = events_of(b"data\n\ndata\ndata\n\ndata:")
    assert [e.data for e in events] == ["", "\n"]


def test_spec_example_space_after_colon_is_optional() -> None:
    assert [e.data for e in events_of(b"data:test\n\ndata: test\n\n")] == ["test", "test"]


# ---------------------------------------------------------------------------- line endings


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_alone(eol: bytes) -> None:
    stream = eol.join([b"event: add", b"data: 1", b"", b"data: 2", b"", b""])
    assert summary(events_of(stream)) == [("add", "1", None), ("message", "2", None)]


def test_mixed_line_endings() -> None:
    events = events_of(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r")
    assert [e.data for e in events] == ["a\nb\nc", "d"]


def test_crlf_cut_between_chunks_is_one_line_end() -> None:
    # The classic bug: CR at a chunk end taken as a line end, then LF as a second (blank) line.
    parser = SseParser()
    first = parser.feed(b"data: a\r", time_ms=1.0)
    second = parser.feed(b"\ndata: b\r", time_ms=2.0)
    third = parser.feed(b"\n\r\n", time_ms=3.0)
    assert (first, second) == ([], [])
    assert [(e.data, e.time_ms) for e in third] == [("a\nb", 3.0)]


def test_lone_cr_at_chunk_end_dispatches_at_once() -> None:
    parser = SseParser()
    assert [e.time_ms for e in parser.feed(b"data: x\r\r", time_ms=5.0)] == [5.0]
    assert parser.feed(b"\ndata: y\n\n", time_ms=6.0)[0].data == "y"  # LF after CR: skipped


def test_other_unicode_line_breaks_are_not_line_ends() -> None:
    # httpx's LineDecoder uses str.splitlines and would split here; the spec does not.
    events = events_of("data: a\u2028b\x0bc\x0cd\x1ce\u0085f\n\n".encode())
    assert [e.data for e in events] == ["a\u2028b\x0bc\x0cd\x1ce\u0085f"]


# ------------------------------------------------------------------------- decoding, BOM


def test_bom_is_stripped_once_at_start_only() -> None:
    events = events_of("\ufeffdata: 1\n\n\ufeffdata: 2\n\ndata: 3\n\n".encode())
    parser = SseParser()
    parser.feed("\ufeffdata: 1\n\n\ufeffdata: 2\n\n".encode())
    assert [e.data for e in events] == ["1", "3"]  # "\ufeffdata" is an unknown field name
    assert parser.unknown_fields == 1


def test_bom_split_across_chunks() -> None:
    events, _ = feed_chunks(SseParser, [b"\xef", b"\xbb", b"\xbfdata: x\n\n"])
    assert [e.data for e in events] == ["x"]


def test_utf8_split_across_chunks_and_invalid_bytes_replaced() -> None:
    data = "data: héllo → 世界 🎉\n\n".encode()
    assert events_of(data)[0].data == "héllo → 世界 🎉"
    assert events_of(b"data: a\xffb\xc3\n\n")[0].data == "a\ufffdb\ufffd"


# -------------------------------------------------------------------------------- fields


def test_id_persists_and_nul_id_is_ignored() -> None:
    events = events_of(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00x\ndata: c\n\nid:\ndata: d\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "7"), ("b", "7"), ("c", "7"), ("d", None)]


def test_retry_ascii_digits_only() -> None:
    parser = SseParser()
    events = parser.feed("retry: 3000\ndata: a\n\nretry: 12x\ndata: b\n\nretry: ٣\n\n".encode())
    assert [(e.data, e.retry) for e in events] == [("a", 3000), ("b", None)]
    assert parser.retry_ms == 3000


def test_event_type_resets_even_when_nothing_is_dispatched() -> None:
    # §9.2.6 dispatch step 2: an empty data buffer resets the event type buffer too.
    events = events_of(b"event: lonely\n\ndata: x\n\nevent: ping\ndata: {}\n\n")
    assert summary(events) == [("message", "x", None), ("ping", "{}", None)]


def test_comments_unknown_fields_and_no_colon_fields() -> None:
    parser = SseParser()
    events = parser.feed(b": keep-alive\n:\nfoo: bar\nevent\ndata\n\n")
    assert summary(events) == [("message", "", None)]  # "event" alone sets an empty type
    assert (parser.comments, parser.unknown_fields) == (2, 1)


def test_indexes_times_and_event_cap() -> None:
    parser = SseParser(max_events=2)
    events = parser.feed(b"data: 0\n\ndata: 1\n\n", time_ms=10.0)
    events += parser.feed(b"data: 2\n\n", time_ms=20.0)
    assert [(e.index, e.time_ms) for e in events] == [(0, 10.0), (1, 10.0)]
    assert (parser.dispatched, parser.dropped_events) == (3, 1)


def test_close_counts_only_unfinished_events() -> None:
    for tail, discarded in [(b"", 0), (b": comment", 0), (b"event: x\n", 0), (b"data: x", 1),
                            (b"data: x\n", 1), (b"data", 1)]:
        parser = SseParser()
        assert parser.feed(b"data: ok\n\n" + tail) != []
        assert parser.close() == []
        assert parser.discarded_at_eof == discarded, tail


def test_feed_after_close_is_a_bug() -> None:
    parser = SseParser()
    parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.feed(b"data: x\n\n")


def test_parse_sse_whole_body() -> None:
    assert summary(parse_sse(b"event: a\ndata: 1\n\ndata: unfinished")) == [("a", "1", None)]


# -------------------------------------------------------------------------- looks_like_sse


@pytest.mark.parametrize(
    ("data", "mime", "expected"),
    [
        (b"", "text/event-stream; charset=utf-8", True),
        (b"event: ping\ndata: {}\n\n", None, True),
        (b": hello\r\nid: 1\r\ndata: x\r\n\r\n", "text/plain", True),
        (b"data: [DONE]\n\n", "application/octet-stream", True),
        (b"data: x\n", None, False),  # never dispatched
        (b"id: 5\nname: x\n\n", None, False),
        (b'{"data": "x"}\n\n', "application/json", False),
        (b"<html><body>data: x</body></html>", "text/html", False),
        (b"var data = 1;\n\n", "application/javascript", False),
        (b"event: x\n\n", None, False),  # no data line
    ],
)
def test_looks_like_sse(data: bytes, mime: str | None, expected: bool) -> None:
    assert looks_like_sse(data, mime) is expected


# ---------------------------------------------------------------------------- hypothesis


def reference(data: bytes) -> list[tuple[str, str, str | None, int | None]]:
    """A whole-body, non-incremental reading of §9.2.5/§9.2.6, written independently."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the part after the last line end is dropped
    out: list[tuple[str, str, str | None, int | None]] = []
    data_buf, event_type, last_id, retry = "", "", "", None
    for line in lines:
        if line == "":
            if data_buf:
                out.append((event_type or "message", data_buf.removesuffix("\n"),
                            last_id or None, retry))
            data_buf, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event_type = value
        elif name == "data":
            data_buf += value + "\n"
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return out


field_line = st.one_of(
    st.just(""),
    st.builds(lambda n, v: f"{n}:{v}",
              st.sampled_from(["data", "event", "id", "retry", "foo", "", "dat"]),
              st.text(max_size=12)),
    st.builds(lambda n, v: f"{n}: {v}",
              st.sampled_from(["data", "event", "id", "retry"]),
              st.one_of(st.text(max_size=12), st.integers(0, 99999).map(str))),
    st.sampled_from(["data", "event", "id", ":comment", "data:  two spaces", "id: a\x00b"]),
)
sse_streams = st.builds(
    lambda bom, pairs: ("\ufeff" * bom + "".join(line + eol for line, eol in pairs)).encode(),
    st.booleans(),
    st.lists(st.tuples(field_line, st.sampled_from(["\n", "\r", "\r\n"])), max_size=25),
)


@given(stream=sse_streams, cuts=st.lists(st.integers(0, 400), max_size=12))
def test_any_chunking_matches_the_reference(stream: bytes, cuts: list[int]) -> None:
    events, _ = feed_chunks(SseParser, split_at(stream, cuts))
    bytewise, _ = feed_chunks(SseParser, split_at(stream, range(len(stream))))
    whole, _ = feed_chunks(SseParser, [stream])
    assert events == whole
    assert bytewise == whole  # cuts every CRLF and every multi-byte sequence
    assert [(e.type, e.data, e.id, e.retry) for e in events] == reference(stream)


@given(stream=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_arbitrary_bytes_any_chunking_same_events(stream: bytes, cuts: list[int]) -> None:
    events, parser = feed_chunks(SseParser, split_at(stream, cuts))
    whole, whole_parser = feed_chunks(SseParser, [stream])
    assert events == whole
    assert counters(parser) == counters(whole_parser)
    assert [(e.type, e.data, e.id, e.retry) for e in events] == reference(stream)


# ------------------------------------------------------------------------ real captures


def har_sse_bodies(path: Path) -> list[bytes]:
    har = json.loads(path.read_text(encoding="utf-8-sig"))
    return [
        entry["response"]["content"].get("text", "").encode()
        for entry in har["log"]["entries"]
        if "text/event-stream" in (entry["response"]["content"].get("mimeType") or "")
    ]


@pytest.mark.parametrize("session", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_captured_streams_have_the_true_event_types(shared: Path, session: str) -> None:
    folder = shared / "captures/alpha" / session
    truth = json.loads((folder / "truth.json").read_text())
    bodies = har_sse_bodies(folder / "capture.har")
    assert bodies
    seen: set[str] = set()
    for body in bodies:
        events = events_of(body)
        assert events and events[-1].type == "message_stop"
        assert [e.index for e in events] == list(range(len(events)))
        assert all(json.loads(e.data)["type"] == e.type for e in events)
        seen |= {e.type for e in events}
    assert seen == set(truth["facts"]["streaming"]["event_types"])


def test_mitmproxy_corpus_event_stream(shared: Path) -> None:
    # mitmproxy's event_stream.har: text/event-stream responses whose body it did not keep.
    bodies = har_sse_bodies(shared / "corpus/har/mitmproxy__event_stream.har")
    assert len(bodies) == 2
    for body in bodies:
        assert looks_like_sse(body, "text/event-stream; charset=utf-8")
        parser = SseParser()
        assert parser.feed(body) + parser.close() == []
        assert parser.discarded_at_eof == 0
