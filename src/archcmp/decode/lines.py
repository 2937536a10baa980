"""Streamed response bodies that are not SSE: NDJSON and AI-SDK data streams; plus the classifier
that says which transport a body is, and :func:`parse_stream` to run the right parser.

* **NDJSON** (``application/x-ndjson``, ``application/jsonl``; https://github.com/ndjson/ndjson-spec):
  one JSON text per line, LF-separated, an optional CR before the LF. Event type is the object's
  string ``type`` member when it has one (``{"type":"content_block_delta",…}``), else ``line``.
  ``application/json-seq`` (RFC 7464) is *not* handled here: its records are delimited by RS
  (0x1E) and a record may span lines, so a line parser would cut records apart.
* **AI-SDK data stream** (Vercel AI SDK 4, header ``x-vercel-ai-data-stream: v1``; "Stream
  Protocols", https://v4.ai-sdk.dev/docs/ai-sdk-ui/stream-protocol, and ``data-stream-parts.ts``
  in vercel/ai): lines ``TYPE_ID:JSON\\n``; the event type is the one-character type ID (``0``
  text, ``9`` tool call, ``d`` finish message, …, see :data:`DATA_STREAM_PARTS`). AI SDK 5's
  "UI message stream" is SSE (``data: {"type":"text-delta",…}``) and goes to :mod:`.sse`.

Both parsers are sans-IO like :class:`archcmp.decode.sse.SseParser`: ``feed(bytes, time_ms)``
returns the events whose line ended in that chunk, ``close()`` those of a last line without a
newline. Lines are split on LF in *bytes* (LF never occurs inside a UTF-8 sequence, so no
incremental decoder is needed) and a CR is dropped only right before a LF, so a CRLF cut between
two chunks is still one line end. A lone CR is not a line end in these formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, Protocol

from archcmp.decode.sse import SseParser, looks_like_sse
from archcmp.diagnostics import Diagnostics
from archcmp.limits import MAX_SSE_EVENTS_PER_STREAM
from archcmp.model import Header, StreamEvent

__all__ = [
    "DATA_STREAM_PARTS",
    "NDJSON_MEDIA_TYPES",
    "STREAM_PARSERS",
    "DataStreamParser",
    "NdjsonParser",
    "StreamKind",
    "StreamParser",
    "classify_stream",
    "parse_stream",
]

StreamKind = Literal["sse", "ndjson", "chunked-text"]

#: AI SDK 4 data stream part type IDs → part names (data-stream-parts.ts, stream-protocol docs).
DATA_STREAM_PARTS: Final[Mapping[str, str]] = {
    "0": "text",
    "2": "data",
    "3": "error",
    "8": "message_annotations",
    "9": "tool_call",
    "a": "tool_result",
    "b": "tool_call_streaming_start",
    "c": "tool_call_delta",
    "d": "finish_message",
    "e": "finish_step",
    "f": "start_step",
    "g": "reasoning",
    "h": "source",
    "i": "redacted_reasoning",
    "j": "reasoning_signature",
    "k": "file",
}

NDJSON_MEDIA_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)

#: Media types that are documents, never streams of lines: a JS bundle or an HTML page whose
#: lines happen to look like JSON stays an ordinary body.
_DOCUMENT_MEDIA_TYPES: Final = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "text/xml",
        "image/svg+xml",
    }
)

_DATA_STREAM_HEADER: Final = "x-vercel-ai-data-stream"
_DATA_STREAM_LINE: Final = re.compile(r"([0-9a-z]):(.*)", re.DOTALL)
_MAX_TYPE_LENGTH: Final = 100
"""An NDJSON ``type`` longer than this is content, not an event type."""
_SNIFF_BYTES: Final = 64 * 1024


class StreamParser(Protocol):
    """What :class:`SseParser`, :class:`NdjsonParser` and :class:`DataStreamParser` share."""

    dropped_events: int
    discarded_at_eof: int

    def feed(self, data: bytes, time_ms: float | None = None) -> list[StreamEvent]: ...

    def close(self) -> list[StreamEvent]: ...


def _json(text: str) -> tuple[bool, object]:
    """(True, value) when ``text`` is one JSON text; deep nesting counts as invalid."""
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return False, None


class _LineParser:
    """LF-split, chunk-safe line buffer; subclasses turn a line into an event."""

    def __init__(self, *, max_events: int = MAX_SSE_EVENTS_PER_STREAM) -> None:
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no LF
        self._max_events = max_events
        self._last_time: float | None = None
        self._closed = False
        self.dispatched = 0
        self.invalid_lines = 0
        """Lines that are not what the format says (not JSON, unknown part type)."""
        self.discarded_at_eof = 0
        """A last line without newline that is not valid either (a cut-off capture)."""
        self.dropped_events = 0

    def feed(self, data: bytes, time_ms: float | None = None) -> list[StreamEvent]:
        if self._closed:
            raise ValueError(f"{type(self).__name__}.feed() after close()")
        self._last_time = time_ms
        self._buf += data
        events: list[StreamEvent] = []
        start = 0
        while (end := self._buf.find(b"\n", max(start, self._scanned))) != -1:
            line = self._buf[start:end]
            if line.endswith(b"\r"):
                del line[-1:]
            self._emit(self._event(line.decode("utf-8", errors="replace"), time_ms), events)
            start = end + 1
        del self._buf[:start]
        self._scanned = len(self._buf)
        return events

    def close(self) -> list[StreamEvent]:
        if self._closed:
            return []
        self._closed = True
        text = self._buf.decode("utf-8", errors="replace").removesuffix("\r")
        self._buf.clear()
        events: list[StreamEvent] = []
        if text.strip():
            if self._complete(text):
                self._emit(self._event(text, self._last_time), events)
            else:
                self.discarded_at_eof += 1
        return events

    def _emit(self, event: StreamEvent | None, events: list[StreamEvent]) -> None:
        if event is None:
            return
        self.dispatched += 1
        if event.index < self._max_events:
            events.append(event)
        else:
            self.dropped_events += 1

    def _event(self, line: str, time_ms: float | None) -> StreamEvent | None:
        raise NotImplementedError

    def _complete(self, line: str) -> bool:
        """Whether a last line without newline is whole (else it was cut off)."""
        raise NotImplementedError


class NdjsonParser(_LineParser):
    """NDJSON / JSON Lines: one event per non-blank line."""

    def _event(self, line: str, time_ms: float | None) -> StreamEvent | None:
        text = line.strip()
        if not text:
            return None  # blank lines: tolerated by JSON Lines readers, not events
        ok, value = _json(text)
        kind = "line"
        if not ok:
            self.invalid_lines += 1
        elif isinstance(value, dict):
            member = value.get("type")
            if isinstance(member, str) and 0 < len(member) <= _MAX_TYPE_LENGTH:
                kind = member
        return StreamEvent(index=self.dispatched, type=kind, data=text, time_ms=time_ms)

    def _complete(self, line: str) -> bool:
        return _json(line.strip())[0]


class DataStreamParser(_LineParser):
    """AI SDK 4 data stream: ``TYPE_ID:JSON`` lines; the type ID is the event type."""

    def _event(self, line: str, time_ms: float | None) -> StreamEvent | None:
        if not line.strip():
            return None
        match = _DATA_STREAM_LINE.fullmatch(line)
        if match is None or match.group(1) not in DATA_STREAM_PARTS:
            self.invalid_lines += 1
            return StreamEvent(index=self.dispatched, type="line", data=line, time_ms=time_ms)
        if not _json(match.group(2))[0]:
            self.invalid_lines += 1
        return StreamEvent(
            index=self.dispatched, type=match.group(1), data=match.group(2), time_ms=time_ms
        )

    def _complete(self, line: str) -> bool:
        match = _DATA_STREAM_LINE.fullmatch(line)
        return match is not None and _json(match.group(2))[0]


#: Transport → parser class.
STREAM_PARSERS: Final[Mapping[StreamKind, Callable[[], StreamParser]]] = {
    "sse": SseParser,
    "ndjson": NdjsonParser,
    "chunked-text": DataStreamParser,
}


# --------------------------------------------------------------------------- classification


def _sample_lines(data: bytes) -> list[str]:
    """Non-blank lines of the first 64 KiB (a line cut by the sample's end left out)."""
    sample = data[:_SNIFF_BYTES]
    lines = sample.split(b"\n")
    if len(sample) < len(data):
        lines.pop()
    return [s for b in lines if (s := b.decode("utf-8", errors="replace").strip())]


def _is_data_stream_line(line: str) -> bool:
    match = _DATA_STREAM_LINE.fullmatch(line)
    return match is not None and match.group(1) in DATA_STREAM_PARTS and _json(match.group(2))[0]


def _is_json_container(line: str) -> bool:
    # Objects and arrays only: "1\n2\n3" is a list of numbers as text more often than NDJSON.
    return line[0] in "{[" and _json(line)[0]


def classify_stream(
    data: bytes, mime_type: str | None, headers: Iterable[Header] = ()
) -> StreamKind | None:
    """Which streamed transport a (decoded) response body is, or None for an ordinary body.

    Declared first: ``text/event-stream`` → sse; the ``x-vercel-ai-data-stream`` header →
    chunked-text; an NDJSON media type → ndjson. HTML/JS/CSS/XML bodies are never streams. Else
    sniffed, conservatively: SSE lines (:func:`looks_like_sse`); at least two lines, all
    ``TYPE_ID:JSON`` data-stream parts → chunked-text; at least two lines, all JSON objects or
    arrays → ndjson. A single JSON document is not a stream (its lines are not JSON each, or
    there is only one).
    """
    essence = (mime_type or "").split(";", 1)[0].strip().lower()
    if essence == "text/event-stream":
        return "sse"
    if any(name.lower() == _DATA_STREAM_HEADER for name, _ in headers):
        return "chunked-text"
    if essence in NDJSON_MEDIA_TYPES:
        return "ndjson"
    if essence in _DOCUMENT_MEDIA_TYPES or not data:
        return None
    if looks_like_sse(data, mime_type):
        return "sse"
    lines = _sample_lines(data)
    if len(lines) < 2:
        return None
    if all(_is_data_stream_line(line) for line in lines):
        return "chunked-text"
    if all(_is_json_container(line) for line in lines):
        return "ndjson"
    return None


def parse_stream(
    kind: StreamKind,
    data: bytes,
    diag: Diagnostics,
    *,
    where: str | None = None,
    time_ms: float | None = None,
    times: Sequence[tuple[int, float]] | None = None,
) -> list[StreamEvent]:
    """All events of a whole body of transport ``kind``; problems counted in ``diag``.

    ``times`` (``(end offset, arrival ms)`` per piece of ``data``, from
    :func:`archcmp.decode.timing.decoded_chunk_times`) feeds the body piece by piece so each
    event carries the arrival time of the piece that completed it.

    Warnings: ``stream.<kind>.incomplete`` (the body ends inside an event or line),
    ``stream.<kind>.invalid_line`` (lines that are not JSON / not a data-stream part) and
    ``stream.events.over_limit`` (events beyond ``MAX_SSE_EVENTS_PER_STREAM``, counted only).
    """
    parser = STREAM_PARSERS[kind]()
    if times:
        events: list[StreamEvent] = []
        start = 0
        for end, piece_ms in times:
            events += parser.feed(data[start:end], piece_ms)
            start = end
        if start < len(data):
            events += parser.feed(data[start:], time_ms)
    else:
        events = parser.feed(data, time_ms)
    events += parser.close()
    if parser.discarded_at_eof:
        diag.warn(f"stream.{kind}.incomplete",
                  "the body ends in the middle of an event; it was dropped", sample=where)
    invalid = parser.invalid_lines if isinstance(parser, _LineParser) else 0
    if invalid:
        diag.warn(f"stream.{kind}.invalid_line", f"{kind} line that is not valid JSON",
                  sample=where, count=invalid)
    if parser.dropped_events:
        diag.warn("stream.events.over_limit",
                  f"events beyond {MAX_SSE_EVENTS_PER_STREAM} per stream counted, not kept",
                  sample=where, count=parser.dropped_events)
    return events
