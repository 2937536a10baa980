from __future__ import annotations

from archcmp.analyze.streams import summarise_events, terminator_of
from archcmp.model import StreamEvent


def _ev(i: int, t: str, data: str = "{}", time_ms: float | None = None,
        direction: str = "receive") -> StreamEvent:
    return StreamEvent(index=i, type=t, data=data, time_ms=time_ms,
                       direction=direction)  # type: ignore[arg-type]


def test_untimed_stream_reports_no_timing() -> None:
    events = [_ev(0, "message_start"), _ev(1, "content_block_delta"),
              _ev(2, "content_block_delta"), _ev(3, "message_stop")]
    s = summarise_events(events)
    assert s["event_types"] == ["message_start", "content_block_delta", "message_stop"]
    assert s["event_counts"] == {"message_start": 1, "content_block_delta": 2, "message_stop": 1}
    assert s["events"] == 4
    assert s["terminator"] == "message_stop"
    assert s["first_event_ms"] is None
    assert s["inter_event_ms"] is None
    assert s["per_event_timing"] is False


def test_timed_stream_has_gaps() -> None:
    events = [_ev(0, "a", time_ms=100.0), _ev(1, "b", time_ms=110.0),
              _ev(2, "b", time_ms=130.0), _ev(3, "message", "[DONE]", time_ms=131.0)]
    s = summarise_events(events)
    assert s["first_event_ms"] == 100.0
    assert s["last_event_ms"] == 131.0
    assert s["inter_event_ms"] == {"p50": 10.0, "p95": 19.0}
    assert s["terminator"] == "[DONE]"


def test_sent_messages_are_not_received_events() -> None:
    events = [_ev(0, "text", direction="send"), _ev(1, "text")]
    s = summarise_events(events)
    assert s["events"] == 1
    assert s["events_sent"] == 1
    assert terminator_of([]) is None
