"""WebSocket frames (RFC 6455) and permessage-deflate (RFC 7692), one direction at a time.

Spec vectors are the RFCs' own examples, in hex under their section. Every vector is fed
through ``tests.helpers.feed_three_ways`` (whole, byte by byte, random pieces) via a small
adapter, comparing the messages and the counters.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archcmp.protocols.websocket as websocket
from archcmp.diagnostics import Diagnostics
from archcmp.model import StreamEvent
from archcmp.protocols.events import HttpEvent, ProtocolError, WebSocketMessage
from archcmp.protocols.websocket import (
    DeflateParams,
    WebSocketStream,
    _unmask,
    negotiate_deflate,
)
from tests.helpers import feed_three_ways, split_at


class _Adapter:
    """WebSocketStream behind the ``feed(data) / close()`` shape ``feed_three_ways`` drives."""

    def __init__(self, *, from_client: bool, deflate: bool = False,
                 no_context_takeover: bool = False) -> None:
        self.diag = Diagnostics()
        self.ws = WebSocketStream(self.diag, deflate=deflate,
                                  no_context_takeover=no_context_takeover,
                                  from_client=from_client, stream=7, where="t")

    def feed(self, data: bytes, time_ms: float | None = None) -> list[StreamEvent]:
        return self.ws.feed(data, 5)  # type: ignore[return-value]

    def close(self) -> list[StreamEvent]:
        return self.ws.close(9)  # type: ignore[return-value]


def _state(a: _Adapter) -> object:
    return (dict(a.ws.control_frames), a.ws.close_code, a.ws.messages,
            [(w.code, w.count) for w in a.diag.warnings()])


def decode(hexdata: str, *, from_client: bool = False, deflate: bool = False,
           no_context_takeover: bool = False) -> tuple[list[HttpEvent], _Adapter]:
    events = feed_three_ways(
        lambda: _Adapter(from_client=from_client, deflate=deflate,
                         no_context_takeover=no_context_takeover),
        bytes.fromhex(hexdata), state=_state)
    adapter = _Adapter(from_client=from_client, deflate=deflate,
                       no_context_takeover=no_context_takeover)
    assert adapter.feed(bytes.fromhex(hexdata)) + adapter.close() == events
    return events, adapter  # type: ignore[return-value]


def texts(events: Sequence[HttpEvent]) -> list[tuple[int, bytes]]:
    return [(e.opcode, e.data) for e in events if isinstance(e, WebSocketMessage)]


def codes(a: _Adapter) -> dict[str, int]:
    return {w.code: w.count for w in a.diag.warnings()}


# -- RFC 6455 §5.7 examples ------------------------------------------------------------------

# §5.7: "A single-frame unmasked text message"
UNMASKED_HELLO = "810548656c6c6f"
# §5.7: "A single-frame masked text message"
MASKED_HELLO = "818537fa213d7f9f4d5158"
# §5.7: "A fragmented unmasked text message"
FRAGMENTED_HELLO = "010348656c" + "80026c6f"
# §5.7: "Unmasked Ping request and masked Ping response" (the response is a Pong)
PING = "890548656c6c6f"
MASKED_PONG = "8a8537fa213d7f9f4d5158"


def test_rfc6455_unmasked_text() -> None:
    events, a = decode(UNMASKED_HELLO)
    assert events == [WebSocketMessage(stream=7, from_client=False, opcode=1, data=b"Hello",
                                       ts_ns=5)]
    assert not a.diag.warnings()


def test_rfc6455_masked_text() -> None:
    events, a = decode(MASKED_HELLO, from_client=True)
    assert texts(events) == [(1, b"Hello")] and not a.diag.warnings()


def test_rfc6455_fragmented_text_with_interleaved_ping() -> None:
    # §5.4: control frames may be injected in the middle of a fragmented message.
    events, a = decode("010348656c" + PING + "80026c6f")
    assert texts(events) == [(1, b"Hello")]
    assert a.ws.control_frames == Counter({"ping": 1}) and a.ws.messages == 1


def test_rfc6455_ping_and_pong_are_counted_not_emitted() -> None:
    events, a = decode(PING)
    assert events == [] and a.ws.control_frames == Counter({"ping": 1})
    events, a = decode(MASKED_PONG, from_client=True)
    assert events == [] and a.ws.control_frames == Counter({"pong": 1})


def test_rfc6455_extended_lengths() -> None:
    # §5.7: "256 bytes binary message in a single unmasked frame" and "64KiB binary message".
    payload = bytes(range(256))
    events, _ = decode("827e0100" + payload.hex())
    assert texts(events) == [(2, payload)]
    big = bytes(65536)
    events, _ = decode("827f0000000000010000" + big.hex())
    assert texts(events) == [(2, big)]


def test_masked_payload_across_many_frames() -> None:
    # Masking restarts with each frame (§5.3); byte-by-byte feeding keeps the offset.
    mask = bytes.fromhex("a1b2c3d4")
    data = b"The quick brown fox jumps over the lazy dog" * 3
    frames = b""
    parts = [data[:50], data[50:51], data[51:]]
    for i, part in enumerate(parts):
        b0 = (0x01 if i == 0 else 0x00) | (0x80 if i == len(parts) - 1 else 0)
        frames += bytes([b0, 0x80 | len(part)]) + mask + _unmask(part, mask, 0)
    events, a = decode(frames.hex(), from_client=True)
    assert texts(events) == [(1, data)] and not a.diag.warnings()


def test_close_frame_code_and_frames_after_close() -> None:
    # §5.5.1: Close body = 2-byte status code (1000 normal closure) + reason.
    events, a = decode("8806" + "03e8" + b"bye!".hex() + UNMASKED_HELLO)
    assert a.ws.close_code == 1000 and a.ws.control_frames == Counter({"close": 1})
    assert texts(events) == [(1, b"Hello")]
    assert codes(a) == {"websocket.frame.after_close": 1}


def test_mask_contrary_to_role_is_counted_and_decoded() -> None:
    # §5.1: a client masks every frame, a server none.
    events, a = decode(MASKED_HELLO, from_client=False)
    assert texts(events) == [(1, b"Hello")]
    assert codes(a) == {"websocket.frame.mask_unexpected": 1}
    events, a = decode(UNMASKED_HELLO, from_client=True)
    assert texts(events) == [(1, b"Hello")]
    assert codes(a) == {"websocket.frame.mask_unexpected": 1}


def test_text_that_is_not_utf8_is_kept_and_counted() -> None:
    events, a = decode("8102c328")
    assert texts(events) == [(1, b"\xc3(")]
    assert codes(a) == {"websocket.text.bad_utf8": 1}


def test_bad_utf8_sample_does_not_quote_the_message() -> None:
    """Issue 8 canary: the sample quoted the message's first 40 bytes, an auth token and all."""
    payload = b"\xffAUTH sk-ant-api03-SECRETSECRETSECRET0123456789"
    events, a = decode("81" + bytes([len(payload)]).hex() + payload.hex())
    assert texts(events) == [(1, payload)]
    (warning,) = a.diag.warnings()
    assert warning.samples == (f"t server: {len(payload)} bytes, invalid at byte 0",)


@pytest.mark.parametrize(("frames", "why"), [
    ("c10548656c6c6f", "RSV1 without permessage-deflate (§5.2)"),
    ("a10548656c6c6f", "RSV2 set"),
    ("830548656c6c6f", "reserved data opcode 0x3 (§5.2)"),
    ("8b00", "reserved control opcode 0xB"),
    ("897e007e" + "00" * 126, "control frame over 125 bytes (§5.5)"),
    ("0900", "fragmented control frame (§5.5)"),
    ("80026c6f", "continuation without a message (§5.4)"),
    ("010348656c" + "81026c6f", "text frame inside a fragmented message (§5.4)"),
    ("827f8000000000000001" + "00", "64-bit length with the top bit set (§5.2)"),
])
def test_malformed_frames_stop_the_direction(frames: str, why: str) -> None:
    events, a = decode(frames + UNMASKED_HELLO)
    assert [type(e) for e in events] == [ProtocolError], why
    assert isinstance(events[0], ProtocolError) and events[0].code == "websocket.frame.malformed"
    assert codes(a) == {"websocket.frame.malformed": 1}


def test_rsv1_on_a_continuation_frame_is_malformed_even_with_deflate() -> None:
    # RFC 7692 §6.1: the "Per-Message Compressed" bit is set on the first frame only.
    events, _ = decode("4103f248cd" + "c004c9c90700", deflate=True)
    assert [type(e) for e in events] == [ProtocolError]


# -- RFC 7692 §7.2.3 examples -------------------------------------------------------------------


def test_rfc7692_compressed_hello_single_and_fragmented() -> None:
    # §7.2.3.1: "A message compressed using 1 compressed DEFLATE block" (unmasked).
    events, a = decode("c107f248cdc9c90700", deflate=True)
    assert texts(events) == [(1, b"Hello")] and not a.diag.warnings()
    # §7.2.3.1: the same message fragmented.
    events, _ = decode("4103f248cd" + "8004c9c90700", deflate=True)
    assert texts(events) == [(1, b"Hello")]


def test_rfc7692_sharing_the_lz77_window() -> None:
    # §7.2.3.2: the second "Hello" refers back into the first message's window.
    frames = "c107f248cdc9c90700" + "c105f200110000"
    events, a = decode(frames, deflate=True)
    assert texts(events) == [(1, b"Hello"), (1, b"Hello")] and not a.diag.warnings()
    # With no_context_takeover the reference cannot resolve: that message is dropped and
    # counted, and the direction goes on.
    events, a = decode(frames + "c107f248cdc9c90700", deflate=True, no_context_takeover=True)
    assert texts(events) == [(1, b"Hello"), (1, b"Hello")]
    assert codes(a) == {"websocket.deflate.corrupt": 1}


def test_rfc7692_stored_block_bfinal_and_two_blocks() -> None:
    # §7.2.3.3 "Using a DEFLATE Block with No Compression"
    events, _ = decode("c10b0005 00faff48656c6c6f00".replace(" ", ""), deflate=True)
    assert texts(events) == [(1, b"Hello")]
    # §7.2.3.4 "Using a DEFLATE Block with BFINAL Set to 1", then another message.
    events, _ = decode("c108f348cdc9c9070000" + "c107f248cdc9c90700", deflate=True)
    assert texts(events) == [(1, b"Hello"), (1, b"Hello")]
    # §7.2.3.5 "Two DEFLATE Blocks in One Message"
    events, _ = decode("c10df248050000 00ffffcac9c90700".replace(" ", ""), deflate=True)
    assert texts(events) == [(1, b"Hello")]


def test_uncompressed_message_on_a_deflate_connection() -> None:
    # RFC 7692 §6: RSV1 clear means this message was sent uncompressed.
    events, _ = decode(UNMASKED_HELLO, deflate=True)
    assert texts(events) == [(1, b"Hello")]


def test_corrupt_deflate_under_context_takeover_stops() -> None:
    events, a = decode("c103ffffff" + UNMASKED_HELLO, deflate=True)
    assert [type(e) for e in events] == [ProtocolError]
    assert codes(a) == {"websocket.deflate.corrupt": 1}


# -- bounds -----------------------------------------------------------------------------------


def test_oversized_message_is_skipped_with_framing_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "MAX_DECODED_BODY_BYTES", 8)
    events, a = decode("010548656c6c6f" + "80056c6c6c6c6c" + UNMASKED_HELLO)
    assert texts(events) == [(1, b"Hello")]
    assert codes(a) == {"websocket.message.too_large": 1}


def test_inflation_over_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "MAX_DECODED_BODY_BYTES", 1000)
    comp = zlib.compressobj(wbits=-15)
    bomb = comp.compress(bytes(100_000)) + comp.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb.removesuffix(b"\x00\x00\xff\xff")
    frame = bytes([0xC2, 0x7E]) + len(bomb).to_bytes(2, "big") + bomb
    events, a = decode((frame + bytes.fromhex(UNMASKED_HELLO)).hex(), deflate=True)
    assert [type(e) for e in events] == [ProtocolError]
    assert codes(a) == {"websocket.deflate.too_large": 1}
    events, a = decode((frame + bytes.fromhex(UNMASKED_HELLO)).hex(), deflate=True,
                       no_context_takeover=True)
    assert texts(events) == [(1, b"Hello")]
    assert codes(a) == {"websocket.deflate.too_large": 1}


def test_gap_and_incomplete_close() -> None:
    diag = Diagnostics()
    ws = WebSocketStream(diag, deflate=False, no_context_takeover=False, from_client=False)
    assert ws.feed(bytes.fromhex("0103"), 1) == []
    assert ws.close(2) == []
    assert {w.code for w in diag.warnings()} == {"websocket.message.incomplete"}
    diag = Diagnostics()
    ws = WebSocketStream(diag, deflate=False, no_context_takeover=False, from_client=False)
    assert ws.gap(10, 1) == [] and ws.feed(bytes.fromhex(UNMASKED_HELLO), 2) == []
    assert {w.code for w in diag.warnings()} == {"websocket.gap"}


# -- negotiation (RFC 7692 §7.1, RFC 6455 §9.1) -----------------------------------------------


@pytest.mark.parametrize(("headers", "expected", "warned"), [
    ((("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=15"),),
     DeflateParams(), 0),
    ((("sec-websocket-extensions",
       "permessage-deflate;server_no_context_takeover; client_no_context_takeover"),),
     DeflateParams(client_no_context_takeover=True, server_no_context_takeover=True), 0),
    ((("Sec-WebSocket-Extensions", 'permessage-deflate; server_max_window_bits="10"'),
      ("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")), DeflateParams(), 1),
    ((("Upgrade", "websocket"),), None, 0),
    ((("Sec-WebSocket-Extensions", "x-kaazing-ping-pong"),), None, 1),
])
def test_negotiate_deflate(headers: tuple[tuple[str, str], ...], expected: DeflateParams | None,
                           warned: int) -> None:
    diag = Diagnostics()
    assert negotiate_deflate(headers, diag) == expected
    assert diag.count("websocket.extension.unknown") == warned


# -- hypothesis -------------------------------------------------------------------------------


@given(st.binary(max_size=300), st.booleans(), st.booleans(), st.booleans())
def test_arbitrary_bytes_never_raise(data: bytes, from_client: bool, deflate: bool,
                                     nct: bool) -> None:
    ws = WebSocketStream(Diagnostics(), deflate=deflate, no_context_takeover=nct,
                         from_client=from_client)
    for piece in split_at(data, range(0, len(data), 7)):
        ws.feed(piece, 1)
    ws.gap(3, 2)
    ws.close(3)


@given(st.lists(st.integers(1, 60), max_size=15))
def test_any_chunking_of_a_session_gives_the_same_messages(cuts: list[int]) -> None:
    session = bytes.fromhex("c107f248cdc9c90700" + PING + "4103f248cd" + "89 00".replace(" ", "")
                            + "8004c9c90700" + "c105f200110000" + "8802 03e8".replace(" ", ""))
    whole = WebSocketStream(Diagnostics(), deflate=True, no_context_takeover=False,
                            from_client=False)
    expected = whole.feed(session, 1)
    ws = WebSocketStream(Diagnostics(), deflate=True, no_context_takeover=False,
                         from_client=False)
    got: list[HttpEvent] = []
    for piece in split_at(session, cuts):
        got += ws.feed(piece, 1)
    assert got == expected and len(texts(got)) == 3 and ws.close_code == 1000


@given(st.binary(max_size=64), st.binary(min_size=4, max_size=4), st.integers(0, 7))
def test_unmask_matches_the_definition(data: bytes, mask: bytes, offset: int) -> None:
    # RFC 6455 §5.3: transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)
    expected = bytes(b ^ mask[(i + offset) % 4] for i, b in enumerate(data))
    assert _unmask(data, mask, offset) == expected
