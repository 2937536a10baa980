"""Incremental, sans-IO Server-Sent Events parser (WHATWG HTML §9.2.5–9.2.6).

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream and
#event-stream-interpretation. Quotes from it sit above the lines that implement them.

Bytes go in through :meth:`SseParser.feed` in whatever pieces the capture delivered them (HTTP/2
DATA frames, TCP segments, one HAR blob); any cut gives the same events, because:

* UTF-8 is decoded incrementally (a multi-byte sequence may straddle two chunks), errors
  replaced with U+FFFD as the spec's "UTF-8 decode" does;
* only CRLF, LF and CR end a line (not U+2028 or VT/FF, as ``str.splitlines`` would). A CR that
  ends a chunk ends its line at once; a LF at the start of the next chunk is then skipped as the
  second half of that CRLF (waiting for the next chunk instead would delay dispatch and get
  ``time_ms`` wrong);
* one U+FEFF is stripped at the very start of the stream only.

``time_ms`` of an event is the time passed to the ``feed()`` call in which its dispatching blank
line arrived. ``retry`` of an event is the ``retry`` value sent in the same block (the stream's
current reconnection time is :attr:`SseParser.retry_ms`). ``id`` is the last event ID in force
when the event was dispatched (it persists across events, per spec), None while it is empty.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from typing import Final

from archcmp.limits import MAX_SSE_EVENTS_PER_STREAM
from archcmp.model import StreamEvent

__all__ = ["SSE_FIELDS", "SseParser", "looks_like_sse", "parse_sse"]

# §9.2.5: end-of-line = ( cr lf / cr / lf )
_EOL: Final = re.compile(r"\r\n|\r|\n")
_DIGITS: Final = re.compile(r"[0-9]+")  # "ASCII digits" only: str.isdigit() accepts "٣"
_SNIFF_BYTES: Final = 4096

#: The four fields the spec defines; any other field name is ignored.
SSE_FIELDS: Final = frozenset({"event", "data", "id", "retry"})


class SseParser:
    """Feed bytes, get :class:`StreamEvent` s; one parser per response body.

    Counters for the caller's diagnostics: :attr:`comments`, :attr:`unknown_fields`,
    :attr:`discarded_at_eof` (an incomplete event dropped by :meth:`close`) and
    :attr:`dropped_events` (dispatched beyond ``max_events``: counted, indexed, not returned).
    """

    def __init__(self, *, max_events: int = MAX_SSE_EVENTS_PER_STREAM) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_events = max_events
        self._at_start = True  # no character decoded yet: a BOM may still come
        self._pending: list[str] = []  # pieces of the current, unterminated line
        self._skip_lf = False  # the last line ended with CR: a LF next is part of a CRLF
        self._data: list[str] = []  # the data buffer, one entry per data line
        self._event_type = ""
        self._last_event_id = ""
        self._block_retry: int | None = None
        self._closed = False
        self.retry_ms: int | None = None
        """The stream's reconnection time, from the latest valid ``retry`` field."""
        self.dispatched = 0
        """Events dispatched so far (the next event's index)."""
        self.comments = 0
        self.unknown_fields = 0
        self.discarded_at_eof = 0
        self.dropped_events = 0

    def feed(self, data: bytes, time_ms: float | None = None) -> list[StreamEvent]:
        """Parse the next piece of the body; return the events it completed."""
        if self._closed:
            raise ValueError("SseParser.feed() after close()")
        text = self._decoder.decode(data)
        events: list[StreamEvent] = []
        if text:
            self._split(self._strip_bom(text), time_ms, events)
        return events

    def close(self) -> list[StreamEvent]:
        """End of stream. Never returns events: see the quote below."""
        if self._closed:
            return []
        self._closed = True
        rest = self._decoder.decode(b"", final=True)  # U+FFFD for a cut multi-byte sequence
        line = "".join(self._pending) + (self._strip_bom(rest) if rest else "")
        # §9.2.6: "Once the end of the file is reached, any pending data must be discarded. (If
        # the file ends in the middle of an event, before the final empty line, the incomplete
        # event is not dispatched.)" Count it when it had data, i.e. would have been an event.
        if self._data or line.partition(":")[0] == "data":
            self.discarded_at_eof += 1
        self._pending.clear()
        self._data.clear()
        return []

    # ------------------------------------------------------------------------------ lines

    def _strip_bom(self, text: str) -> str:
        # §9.2.5: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
        # present." Only at the start of the stream, once.
        if self._at_start:
            self._at_start = False
            return text.removeprefix("\ufeff")
        return text

    def _split(self, text: str, time_ms: float | None, events: list[StreamEvent]) -> None:
        pos = 0
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                pos = 1  # second half of a CRLF cut between two chunks
        for match in _EOL.finditer(text, pos):
            self._pending.append(text[pos : match.start()])
            line = "".join(self._pending)
            self._pending.clear()
            self._line(line, time_ms, events)
            pos = match.end()
        if pos < len(text):
            self._pending.append(text[pos:])
        elif text.endswith("\r"):
            self._skip_lf = True

    def _line(self, line: str, time_ms: float | None, events: list[StreamEvent]) -> None:
        # §9.2.6: "If the line is empty (a blank line): Dispatch the event, as defined below."
        if not line:
            self._dispatch(time_ms, events)
            return
        # "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line[0] == ":":
            self.comments += 1
            return
        # "If the line contains a U+003A COLON character (:): Collect the characters on the line
        # before the first U+003A COLON character (:), and let field be that string. Collect the
        # characters on the line after the first U+003A COLON character (:), and let value be
        # that string. If value starts with a U+0020 SPACE character, remove it from value."
        # "Otherwise, the string is not empty but does not contain a U+003A COLON character (:):
        # Process the field using the steps described below, using the whole line as the field
        # name, and the empty string as the field value."
        field, _, value = line.partition(":")
        handler = _FIELD_HANDLERS.get(field)
        if handler is None:
            # "Otherwise: The field is ignored."
            self.unknown_fields += 1
        else:
            handler(self, value.removeprefix(" "))

    # ----------------------------------------------------------------------------- fields

    def _field_event(self, value: str) -> None:
        # "If the field name is 'event': Set the event type buffer to field value."
        self._event_type = value

    def _field_data(self, value: str) -> None:
        # "If the field name is 'data': Append the field value to the data buffer, then append a
        # single U+000A LINE FEED (LF) character to the data buffer." Kept as a list; joined
        # with LF at dispatch, which is the same as stripping the final LF.
        self._data.append(value)

    def _field_id(self, value: str) -> None:
        # "If the field name is 'id': If the field value does not contain U+0000 NULL, then set
        # the last event ID buffer to the field value. Otherwise, ignore the field."
        if "\0" not in value:
            self._last_event_id = value

    def _field_retry(self, value: str) -> None:
        # "If the field name is 'retry': If the field value consists of only ASCII digits, then
        # interpret the field value as an integer in base ten, and set the event stream's
        # reconnection time to that integer. Otherwise, ignore the field."
        if _DIGITS.fullmatch(value):
            self.retry_ms = self._block_retry = int(value)

    # ---------------------------------------------------------------------------- dispatch

    def _dispatch(self, time_ms: float | None, events: list[StreamEvent]) -> None:
        retry, self._block_retry = self._block_retry, None
        # Step 1 "Set the last event ID string of the event source to the value of the last
        # event ID buffer. The buffer does not get reset": _last_event_id simply persists.
        # Step 2 "If the data buffer is an empty string, set the data buffer and the event type
        # buffer to the empty string and return."
        if not self._data:
            self._event_type = ""
            return
        # Step 3 "If the data buffer's last character is a U+000A LINE FEED (LF) character, then
        # remove the last character from the data buffer." (the join below never adds it)
        # Steps 4-5: the type is the event type buffer, or "message" when it is empty.
        event = StreamEvent(
            index=self.dispatched,
            type=self._event_type or "message",
            data="\n".join(self._data),
            id=self._last_event_id or None,
            retry=retry,
            time_ms=time_ms,
        )
        # Step 6 "Set the data buffer and the event type buffer to the empty string."
        self._data.clear()
        self._event_type = ""
        self.dispatched += 1
        if event.index < self._max_events:
            events.append(event)
        else:
            self.dropped_events += 1


#: Field name → handler: the spec's field steps as a table.
_FIELD_HANDLERS: Final[Mapping[str, Callable[[SseParser, str], None]]] = {
    "event": SseParser._field_event,
    "data": SseParser._field_data,
    "id": SseParser._field_id,
    "retry": SseParser._field_retry,
}


def parse_sse(data: bytes, time_ms: float | None = None) -> list[StreamEvent]:
    """All events of a whole body (a HAR ``content.text``); an unfinished last event is dropped."""
    parser = SseParser()
    events = parser.feed(data, time_ms)
    parser.close()
    return events


def looks_like_sse(data: bytes, mime_type: str | None) -> bool:
    """Whether a body is an event stream: by media type, else by its first lines.

    Without ``text/event-stream`` the sniff is conservative: every line in the first 4 KiB is
    blank, a comment or one of the four spec fields, with at least one ``data:`` line followed
    by a blank line (a dispatched event). Plain text, JSON, JS and HTML fail at their first line.
    """
    if (mime_type or "").split(";", 1)[0].strip().lower() == "text/event-stream":
        return True
    sample = data[:_SNIFF_BYTES]
    text = sample.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = _EOL.split(text)[:-1]  # what follows the last line end is not a (whole) line
    saw_data = dispatched = False
    for line in lines:
        if not line:
            dispatched = dispatched or saw_data
        elif line[0] != ":":
            field, colon, _ = line.partition(":")
            if field not in SSE_FIELDS:
                return False
            saw_data = saw_data or (field == "data" and bool(colon))
    return dispatched
