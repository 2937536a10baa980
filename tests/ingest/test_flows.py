"""TCP reassembly: real flows reordered, duplicated, split, overlapped and rebased across 2^32
must give the in-order byte streams; gaps, resets, reuse and roles on small synthetic flows."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.ingest import flows
from archcmp.ingest.flows import (
    FlowClosed,
    FlowData,
    FlowEvent,
    FlowGap,
    FlowKey,
    FlowOpened,
    TcpReassembler,
)
from archcmp.ingest.packets import ACK, FIN, RST, SYN, Endpoint, TcpSegment, decode_frame
from archcmp.ingest.pcap import Frame, read_capture
from tests.conftest import SHARED

Streams = dict[tuple[Endpoint, Endpoint, bool], bytes]

SAMPLES = [
    "sv__http1-chunked.pcap",
    "sv__http1-brotli.pcap",
    "ja4__http1.pcap",  # 56 flows, all first seen mid-stream
    "zeek__tls-1.2-stream-keylog.pcap",
    "sv__http2-port3000-multistream.pcap",  # IPv6
]


# --- helpers --------------------------------------------------------------------------------


def segments_of(path: Path) -> list[TcpSegment]:
    diag = Diagnostics()
    out = []
    with path.open("rb") as stream:
        for record in read_capture(stream, diag):
            if isinstance(record, Frame):
                seg = decode_frame(record, diag)
                if isinstance(seg, TcpSegment):
                    out.append(seg)
    return out


def run(segments: list[TcpSegment], diag: Diagnostics | None = None) -> list[FlowEvent]:
    reassembler = TcpReassembler(diag if diag is not None else Diagnostics())
    events: list[FlowEvent] = []
    for seg in segments:
        events += reassembler.feed(seg)
    return events + reassembler.finish()


def streams(events: list[FlowEvent]) -> Streams:
    out: dict[tuple[Endpoint, Endpoint, bool], bytes] = defaultdict(bytes)
    for e in events:
        if isinstance(e, FlowData):
            out[(e.flow.client, e.flow.server, e.from_client)] += e.data
    return dict(out)


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


def flow_id(seg: TcpSegment) -> frozenset[Endpoint]:
    return frozenset((seg.src, seg.dst))


_SAMPLE_CACHE: dict[str, list[TcpSegment]] = {}


def sample(name: str) -> list[TcpSegment]:
    if name not in _SAMPLE_CACHE:
        _SAMPLE_CACHE[name] = segments_of(SHARED / "corpus" / "pcap" / name)
    return _SAMPLE_CACHE[name]


def mutate(segments: list[TcpSegment], reference: Streams, rng: random.Random) -> list[TcpSegment]:
    """Reorder, split, duplicate and overlap the segments of a capture without breaking what a
    real capture guarantees: a connection's first segment per direction stays first (it sets
    the start of the stream when the handshake is missing), a peer never acknowledges bytes
    before they were sent (segments move only within runs of one direction), RSTs stay last in
    their run, and copies are never SYNs (a SYN after the close is a new connection)."""
    anchors: set[int] = set()
    seen: set[tuple[Endpoint, Endpoint]] = set()
    for i, seg in enumerate(segments):
        if (seg.src, seg.dst) not in seen:
            seen.add((seg.src, seg.dst))
            anchors.add(i)
    # Split data segments (not anchors) into pieces; FIN goes with the last piece.
    pieces: list[tuple[int, TcpSegment]] = []
    for i, seg in enumerate(segments):
        if i in anchors or len(seg.payload) < 2 or seg.flags & (SYN | RST) or rng.random() < 0.5:
            pieces.append((i, seg))
            continue
        cuts = sorted(rng.sample(range(1, len(seg.payload)), min(2, len(seg.payload) - 1)))
        bounds = [0, *cuts, len(seg.payload)]
        for a, b in itertools.pairwise(bounds):
            last = b == len(seg.payload)
            pieces.append(
                (
                    i,
                    dataclasses.replace(
                        seg,
                        seq=(seg.seq + a) & 0xFFFFFFFF,
                        payload=seg.payload[a:b],
                        flags=seg.flags if last else seg.flags & ~FIN,
                    ),
                )
            )
    # Shuffle within runs of one direction of one connection.
    out: list[TcpSegment] = []
    run_: list[tuple[int, TcpSegment]] = []

    def flush() -> None:
        head = [p for p in run_ if p[0] in anchors]
        tail = [p for p in run_ if p[1].flags & RST]
        middle = [p for p in run_ if p not in head and p not in tail]
        rng.shuffle(middle)
        out.extend(seg for _, seg in head + middle + tail)
        run_.clear()

    for piece in pieces:
        if run_ and (run_[-1][1].src, run_[-1][1].dst) != (piece[1].src, piece[1].dst):
            flush()
        run_.append(piece)
    flush()
    anchor_segments = [segments[i] for i in sorted(anchors)]

    def earliest(seg: TcpSegment) -> int:
        """First position where a copy of ``seg``'s connection may go: after its anchors."""
        mine = [a for a in anchor_segments if flow_id(a) == flow_id(seg)]
        return 1 + max(next(i for i, x in enumerate(out) if x is a) for a in mine)

    # Duplicates (retransmissions): a copy somewhere after the original.
    for _ in range(rng.randint(0, 8)):
        i = rng.randrange(len(out))
        if out[i].flags & SYN or not out[i].payload:
            continue
        out.insert(rng.randint(max(i + 1, earliest(out[i])), len(out)), out[i])
    # Overlapping re-segmentations of real stream bytes, without ACK (they acknowledge nothing).
    bases = _bases(segments)
    for _ in range(rng.randint(0, 8)):
        seg = rng.choice(segments)
        key = _stream_key(seg, reference)
        if key is None or not reference.get(key):
            continue
        data = reference[key]
        a = rng.randrange(len(data))
        b = min(len(data), a + rng.randint(1, 3000))
        seq = (bases[(seg.src, seg.dst)] + a) & 0xFFFFFFFF
        extra = dataclasses.replace(seg, seq=seq, ack=0, flags=0, payload=data[a:b])
        out.insert(rng.randint(earliest(seg), len(out)), extra)
    return out


def _bases(segments: list[TcpSegment]) -> dict[tuple[Endpoint, Endpoint], int]:
    """Sequence number of each direction's first stream byte (ISN + 1, or the first seen)."""
    bases: dict[tuple[Endpoint, Endpoint], int] = {}
    for seg in segments:
        key = (seg.src, seg.dst)
        if key not in bases:
            bases[key] = (seg.seq + (1 if seg.flags & SYN else 0)) & 0xFFFFFFFF
    return bases


def _stream_key(seg: TcpSegment, reference: Streams) -> tuple[Endpoint, Endpoint, bool] | None:
    if (seg.src, seg.dst, True) in reference:
        return (seg.src, seg.dst, True)
    if (seg.dst, seg.src, False) in reference:
        return (seg.dst, seg.src, False)
    return None


def rebase(
    segments: list[TcpSegment], shift: dict[tuple[Endpoint, Endpoint], int]
) -> list[TcpSegment]:
    """Move each direction's sequence space by ``shift`` (acks of the peer follow)."""
    out = []
    for seg in segments:
        own = shift.get((seg.src, seg.dst), 0)
        peer = shift.get((seg.dst, seg.src), 0)
        out.append(
            dataclasses.replace(
                seg,
                seq=(seg.seq + own) & 0xFFFFFFFF,
                ack=(seg.ack + peer) & 0xFFFFFFFF if seg.flags & ACK else seg.ack,
            )
        )
    return out


# --- real flows -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_real_captures_reassemble_cleanly(shared: Path, name: str) -> None:
    diag = Diagnostics()
    events = run(sample(name), diag)
    opened = [e for e in events if isinstance(e, FlowOpened)]
    closed = [e for e in events if isinstance(e, FlowClosed)]
    assert [e.index for e in opened] == list(range(len(opened)))
    assert sorted(e.index for e in closed) == [e.index for e in opened]
    assert not [e for e in events if isinstance(e, FlowGap)]
    assert "tcp.stream.gap" not in codes(diag)
    total = sum(len(s.payload) for s in sample(name))
    assert sum(len(v) for v in streams(events).values()) <= total


def test_ja4_http1_streams_are_http(shared: Path) -> None:
    events = run(sample("ja4__http1.pcap"))
    result = streams(events)
    requests = [v for (_, _, from_client), v in result.items() if from_client]
    responses = [v for (_, _, from_client), v in result.items() if not from_client]
    assert requests and all(re.match(rb"[A-Z]+ \S+ HTTP/1\.[01]\r\n", r) for r in requests)
    status_lines = sum(len(re.findall(rb"(?:^|\r\n)HTTP/1\.1 \d{3} ", r)) for r in responses)
    assert status_lines == 56  # tshark's http.response count (MANIFEST.ground_truth.json)
    assert all(e.mid_stream for e in events if isinstance(e, FlowOpened))
    request_lines = sum(
        len(re.findall(rb"(?:^|\r\n)[A-Z]+ /\S* HTTP/1\.1\r\n", r)) for r in requests
    )
    assert request_lines == 56  # tshark's http.request count


@pytest.mark.parametrize("name", SAMPLES)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_flows_give_the_in_order_streams(shared: Path, name: str, seed: int) -> None:
    segments = sample(name)
    reference = streams(run(segments))
    rng = random.Random(seed)
    diag = Diagnostics()
    mutated = mutate(segments, reference, rng)
    assert streams(run(mutated, diag)) == reference
    assert not {"tcp.stream.gap", "tcp.segment.overlap_conflict"} & set(codes(diag))


@pytest.mark.parametrize("name", SAMPLES)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_sequence_wraparound(shared: Path, name: str, seed: int) -> None:
    """Rebase every direction so its stream starts a few bytes below 2^32 (RFC 9293 §3.4)."""
    segments = sample(name)
    reference = streams(run(segments))
    rng = random.Random(seed)
    shift = {
        key: (2**32 - rng.randint(1, 3000) - base) % 2**32 for key, base in _bases(segments).items()
    }
    rebased = rebase(segments, shift)
    assert streams(run(rebased)) == reference
    assert streams(run(mutate(rebased, reference, rng))) == reference


def test_wraparound_actually_wraps() -> None:
    c, s = ("10.0.0.1", 50000), ("10.0.0.2", 80)
    isn = 2**32 - 5
    segs = [
        seg(c, s, isn, 0, SYN),
        seg(s, c, 77, isn + 1, SYN | ACK),
        seg(c, s, (isn + 1 + 10) % 2**32, 78, ACK, b"klmnopqrst"),  # after the wrap, first
        seg(c, s, isn + 1, 78, ACK, b"abcdefghij"),  # crosses 2^32
    ]
    diag = Diagnostics()
    assert streams(run(segs, diag)) == {(c, s, True): b"abcdefghijklmnopqrst"}
    assert codes(diag) == {}


@pytest.mark.parametrize("which", ["middle", "last"])
def test_missing_segment_is_a_gap_and_the_stream_resumes(shared: Path, which: str) -> None:
    segments = sample("zeek__tls-1.2-stream-keylog.pcap")
    reference = streams(run(segments))
    server_data = [i for i, sg in enumerate(segments) if sg.payload and sg.src[1] == 443]
    drop = server_data[len(server_data) // 2] if which == "middle" else server_data[-1]
    lost = segments[drop]
    diag = Diagnostics()
    events = run(segments[:drop] + segments[drop + 1 :], diag)
    gaps = [e for e in events if isinstance(e, FlowGap)]
    assert len(gaps) == 1 and gaps[0].missing == len(lost.payload) and not gaps[0].from_client
    assert codes(diag)["tcp.stream.gap"] == 1
    (key,) = [k for k in reference if not k[2]]
    offset = (lost.seq - _bases(segments)[(lost.src, lost.dst)]) % 2**32
    expected = reference[key][:offset] + reference[key][offset + len(lost.payload) :]
    assert streams(events)[key] == expected
    # The gap sits exactly where the bytes are missing, in event order.
    before = b"".join(
        e.data
        for e in events[: events.index(gaps[0])]
        if isinstance(e, FlowData) and not e.from_client
    )
    assert before == reference[key][:offset]


# --- synthetic flows ------------------------------------------------------------------------

C, S = ("192.0.2.1", 51000), ("198.51.100.7", 443)


def seg(
    src: Endpoint,
    dst: Endpoint,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    ts: int = 0,
    frame: int = 0,
) -> TcpSegment:
    return TcpSegment(
        ts_ns=ts,
        src=src,
        dst=dst,
        seq=seq % 2**32,
        ack=ack % 2**32,
        flags=flags,
        window=65535,
        payload=payload,
        frame=frame,
    )


def handshake(ts: int = 0) -> list[TcpSegment]:
    return [
        seg(C, S, 1000, 0, SYN, ts=ts),
        seg(S, C, 5000, 1001, SYN | ACK, ts=ts + 1),
        seg(C, S, 1001, 5001, ACK, ts=ts + 2),
    ]


def test_handshake_orients_the_flow_and_data_is_delivered_in_order() -> None:
    events = run(
        [
            *handshake(),
            seg(C, S, 1001, 5001, ACK, b"hello ", ts=10),
            seg(C, S, 1007, 5001, ACK, b"world", ts=11),
            seg(S, C, 5001, 1012, ACK, b"hi", ts=12),
        ]
    )
    assert events[0] == FlowOpened(
        flow=FlowKey(client=C, server=S), ts_ns=0, mid_stream=False, index=0
    )
    assert streams(events) == {(C, S, True): b"hello world", (C, S, False): b"hi"}
    assert isinstance(events[-1], FlowClosed) and not events[-1].reset


def test_syn_ack_seen_first_still_orients_the_flow() -> None:
    events = run(
        [
            seg(S, C, 5000, 1001, SYN | ACK),
            seg(C, S, 1001, 5001, ACK, b"GET"),
        ]
    )
    opened = events[0]
    assert isinstance(opened, FlowOpened) and opened.flow == FlowKey(client=C, server=S)
    assert not opened.mid_stream
    assert streams(events)[(C, S, True)] == b"GET"


def test_out_of_order_bytes_carry_the_time_of_the_completing_segment() -> None:
    events = run(
        [
            *handshake(),
            seg(C, S, 1004, 5001, ACK, b"def", ts=20),
            seg(C, S, 1001, 5001, ACK, b"abc", ts=30),
        ]
    )
    data = [e for e in events if isinstance(e, FlowData)]
    assert [(e.data, e.ts_ns) for e in data] == [(b"abcdef", 30)]


def test_overlap_first_copy_wins_and_conflicts_are_counted() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1005, 5001, ACK, b"EFGH", frame=4),
            seg(C, S, 1003, 5001, ACK, b"cdxx", frame=5),  # overlaps EF with different bytes
            seg(C, S, 1001, 5001, ACK, b"ab", frame=6),
        ],
        diag,
    )
    assert streams(events)[(C, S, True)] == b"abcdEFGH"
    assert codes(diag) == {"tcp.segment.overlap": 1, "tcp.segment.overlap_conflict": 1}


def test_retransmissions_are_dropped_silently_and_straddles_counted() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1001, 5001, ACK, b"abcd"),
            seg(C, S, 1001, 5001, ACK, b"abcd"),  # retransmission
            seg(C, S, 1003, 5001, ACK, b"cdef"),  # straddles delivered data
        ],
        diag,
    )
    assert streams(events)[(C, S, True)] == b"abcdef"
    assert codes(diag) == {"tcp.segment.overlap": 1}


def test_ack_beyond_a_hole_declares_it_lost() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1001, 5001, ACK, b"aaaa", ts=1),
            seg(C, S, 1009, 5001, ACK, b"cccc", ts=2),  # 1005-1008 never captured
            seg(S, C, 5001, 1013, ACK, ts=3),  # the server got them all
            seg(C, S, 1013, 5001, ACK, b"dd", ts=4),
        ],
        diag,
    )
    client = [e for e in events if getattr(e, "from_client", False)]
    assert [
        (type(e).__name__, getattr(e, "data", None) or getattr(e, "missing", None)) for e in client
    ] == [("FlowData", b"aaaa"), ("FlowGap", 4), ("FlowData", b"cccc"), ("FlowData", b"dd")]
    assert client[1].ts_ns == 3
    assert codes(diag) == {"tcp.stream.gap": 1}


def test_fin_both_ways_closes_and_later_segments_are_ignored() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1001, 5001, ACK | FIN, b"bye", ts=5),
            seg(S, C, 5001, 1005, ACK | FIN, ts=6),
            seg(C, S, 1005, 5002, ACK, ts=7),  # final ACK: silent
            seg(C, S, 1005, 5002, ACK, b"late", ts=8),
        ],
        diag,
    )
    closed = [e for e in events if isinstance(e, FlowClosed)]
    assert closed == [FlowClosed(flow=FlowKey(client=C, server=S), index=0, ts_ns=6, reset=False)]
    assert codes(diag) == {"tcp.segment.after_close": 1}


def test_fin_before_missing_data_waits_then_flushes_the_gap_at_the_end() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1004, 5001, ACK | FIN, b"def"),  # "abc" never captured, no ACK from S
        ],
        diag,
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["FlowOpened", "FlowGap", "FlowData", "FlowClosed"]
    assert codes(diag) == {"tcp.stream.gap": 1}


def test_reset_flushes_buffered_data_and_closes() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1003, 5001, ACK, b"cd"),
            seg(S, C, 5001, 1001, RST | ACK, ts=9),
        ],
        diag,
    )
    assert [type(e).__name__ for e in events] == ["FlowOpened", "FlowGap", "FlowData", "FlowClosed"]
    assert events[-1] == FlowClosed(flow=FlowKey(client=C, server=S), index=0, ts_ns=9, reset=True)


def test_port_reuse_opens_a_new_flow() -> None:
    first = [*handshake(), seg(C, S, 1001, 5001, ACK, b"one"), seg(S, C, 5001, 1004, RST)]
    second = [
        seg(C, S, 90000, 0, SYN, ts=100),
        seg(S, C, 7000, 90001, SYN | ACK, ts=101),
        seg(C, S, 90001, 7001, ACK, b"two", ts=102),
    ]
    events = run(first + second)
    opened = [e for e in events if isinstance(e, FlowOpened)]
    assert [e.index for e in opened] == [0, 1]
    data = [(e.index, e.data) for e in events if isinstance(e, FlowData)]
    assert data == [(0, b"one"), (1, b"two")]


def test_reused_port_without_a_captured_handshake_is_a_new_flow() -> None:
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1001, 5001, ACK | FIN, b"one"),
            seg(S, C, 5001, 1005, ACK | FIN),
            seg(C, S, 1002, 5002, ACK, b"ne"),  # a late retransmission: ignored, counted
            seg(C, S, 3_000_000_000, 77, ACK, b"two", ts=9),  # far away: a new connection
        ],
        diag,
    )
    opened = [e for e in events if isinstance(e, FlowOpened)]
    assert [(e.index, e.mid_stream) for e in opened] == [(0, False), (1, True)]
    assert [(e.index, e.data) for e in events if isinstance(e, FlowData)] == [
        (0, b"one"),
        (1, b"two"),
    ]
    assert codes(diag) == {"tcp.segment.after_close": 1}


def test_new_syn_on_an_open_flow_closes_it_first() -> None:
    events = run([*handshake(), seg(C, S, 1001, 5001, ACK, b"x"), seg(C, S, 424242, 0, SYN, ts=50)])
    kinds = [(type(e).__name__, getattr(e, "index", None)) for e in events]
    assert kinds[-3:] == [("FlowClosed", 0), ("FlowOpened", 1), ("FlowClosed", 1)]


def test_retransmitted_syn_is_not_a_new_flow() -> None:
    events = run([*handshake(), seg(C, S, 1000, 0, SYN), seg(C, S, 1001, 5001, ACK, b"x")])
    assert len([e for e in events if isinstance(e, FlowOpened)]) == 1


@pytest.mark.parametrize(
    ("first_sender", "other", "client"),
    [
        (("10.0.0.1", 443), ("10.0.0.2", 50123), ("10.0.0.2", 50123)),  # web port
        (("10.0.0.1", 50123), ("10.0.0.2", 8443), ("10.0.0.1", 50123)),
        (("10.0.0.1", 22), ("10.0.0.2", 40000), ("10.0.0.2", 40000)),  # system port
        (("10.0.0.1", 55555), ("10.0.0.2", 5432), ("10.0.0.1", 55555)),  # registered vs dynamic
        (("10.0.0.1", 40001), ("10.0.0.2", 40002), ("10.0.0.1", 40001)),  # first sender
    ],
)
def test_mid_stream_roles_by_port(
    first_sender: Endpoint, other: Endpoint, client: Endpoint
) -> None:
    events = run([seg(first_sender, other, 10, 20, ACK, b"x")])
    opened = events[0]
    assert isinstance(opened, FlowOpened) and opened.mid_stream
    assert opened.flow.client == client


def test_buffer_limit_declares_the_hole_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flows, "MAX_BUFFERED_BYTES", 8)
    diag = Diagnostics()
    events = run(
        [
            *handshake(),
            seg(C, S, 1011, 5001, ACK, b"12345"),
            seg(C, S, 1016, 5001, ACK, b"67890"),  # 10 bytes buffered > 8: give up on 1001-1010
        ],
        diag,
    )
    gaps = [e for e in events if isinstance(e, FlowGap)]
    assert [g.missing for g in gaps] == [10]
    assert streams(events)[(C, S, True)] == b"1234567890"


def test_finish_closes_open_flows_in_order() -> None:
    other = ("192.0.2.9", 52000)
    events = run(
        [
            *handshake(),
            seg(other, S, 1, 1, ACK, b"mid", ts=3),
            seg(C, S, 1001, 5001, ACK, b"x", ts=4),
        ]
    )
    closed = [e for e in events if isinstance(e, FlowClosed)]
    assert [(e.index, e.ts_ns, e.reset) for e in closed] == [(0, 4, False), (1, 3, False)]


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
    isn=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_order_of_one_direction_gives_the_stream(
    chunks: list[bytes], order: random.Random, isn: int
) -> None:
    """Without acknowledgements to go by, any order and any duplication of one direction's
    segments reassembles to the same bytes, from any ISN (wrapping included)."""
    data = b"".join(chunks)
    segs, offset = [], 0
    for chunk in chunks:
        segs.append(seg(C, S, isn + 1 + offset, 0, 0, chunk))
        offset += len(chunk)
    segs += [order.choice(segs) for _ in range(order.randint(0, 4))]
    order.shuffle(segs)
    diag = Diagnostics()
    events = run([seg(C, S, isn, 0, SYN), *segs], diag)
    assert streams(events) == {(C, S, True): data}
    assert "tcp.stream.gap" not in codes(diag)
