"""TCP reassembly: segments in capture order → ordered byte streams per connection direction.

Sans-IO (:class:`TcpReassembler` takes :class:`~archcmp.ingest.packets.TcpSegment` records and
returns events), one state per connection, keyed by its two endpoints. The rules, and where
they come from:

- **Who is the client.** The sender of a SYN without ACK; the receiver of a SYN-ACK when the SYN
  was not captured (RFC 9293 §3.5, three-way handshake). A connection first seen mid-stream is
  ``mid_stream=True`` and the server is guessed: a well-known web port (:data:`SERVER_PORTS`),
  else a system port (< 1024) against a non-system one, else a registered port (< 49152)
  against a dynamic one (RFC 6335 §6), else the first sender is the client.
- **Sequence space.** Offsets are unwrapped from 32-bit sequence numbers relative to the next
  expected byte (RFC 9293 §3.4: arithmetic modulo 2^32; a number is "before" another when it is
  less than 2^31 behind it), so a stream may cross 2^32 any number of times. SYN and FIN each
  take one sequence number (§3.4); the first data byte follows the ISN.
- **Out of order.** Segments ahead of the next expected byte wait in a sorted list of disjoint
  pieces (at most :data:`MAX_BUFFERED_BYTES` / :data:`MAX_BUFFERED_SEGMENTS` per direction);
  bytes are delivered as soon as they are contiguous, in one :class:`FlowData` whose ``ts_ns``
  is that of the segment that completed them.
- **Retransmissions and overlaps.** A segment wholly inside delivered data is a retransmission
  and is dropped (not a warning: TCP does this). Where a segment overlaps delivered or buffered
  bytes, the first copy wins, as in Wireshark's default and Zeek's reassembler: counted
  ``tcp.segment.overlap``, and ``tcp.segment.overlap_conflict`` when the overlapping bytes differ
  from buffered ones (delivered bytes are not kept, so those cannot be compared).
- **Gaps.** Bytes that will never come are skipped with a :class:`FlowGap` (``missing`` bytes)
  and a ``tcp.stream.gap`` warning, and the stream resumes after them. A hole is declared lost
  when the peer acknowledged past it while later data (or the FIN) is already buffered, i.e.
  the receiver got bytes the capture missed (Wireshark's "ACKed unseen segment"); when the
  buffer limits are reached; and when the connection ends (RST, FIN reached, port reuse,
  :meth:`TcpReassembler.finish`).
- **End.** :class:`FlowClosed` when both FINs are reached in sequence, on RST (``reset=True``,
  after flushing what is buffered), when a new SYN reuses the endpoints (a new flow follows),
  and at capture end. Segments after the close are ignored (payload counted
  ``tcp.segment.after_close``); a SYN after the close, or data far from where the closed
  stream ended (a reused port whose handshake was not captured), opens a new flow.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.packets import ACK, FIN, RST, SYN, Endpoint, TcpSegment

__all__ = [
    "MAX_BUFFERED_BYTES",
    "MAX_BUFFERED_SEGMENTS",
    "SERVER_PORTS",
    "FlowClosed",
    "FlowData",
    "FlowEvent",
    "FlowGap",
    "FlowKey",
    "FlowOpened",
    "TcpReassembler",
]

#: Out-of-order bytes buffered per direction before the hole in front of them is declared lost
#: (16 MiB: beyond the largest default receive window of Linux, net.ipv4.tcp_rmem max 6 MiB,
#: so a real sender cannot have that much in flight past a hole).
MAX_BUFFERED_BYTES = 16 * 1024 * 1024

#: Out-of-order segments buffered per direction (bounds the sorted insert; 16 MiB of 1448-byte
#: segments is ~11.6k).
MAX_BUFFERED_SEGMENTS = 16_384

#: Ports taken as the server's when a connection is first seen mid-stream: HTTP, HTTPS and the
#: usual development and proxy ports (RFC 9110 §4.2 for 80/443; the rest are conventions).
SERVER_PORTS = frozenset(
    {80, 443, 3000, 3128, 4200, 4443, 5000, 5173, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9443}
)

_MOD = 1 << 32
_MASK = _MOD - 1
_HALF = 1 << 31


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowKey:
    """A TCP connection by its endpoints, oriented client → server."""

    client: Endpoint
    server: Endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOpened:
    """A connection's first segment was seen."""

    flow: FlowKey
    ts_ns: int
    mid_stream: bool
    """True when no SYN or SYN-ACK was seen: roles were guessed and the streams start at the
    first captured byte, possibly inside a message."""
    index: int
    """0-based number of the flow in capture order (Wireshark's ``tcp.stream``): a stable id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowData:
    """Contiguous bytes of one direction, in stream order."""

    flow: FlowKey
    index: int
    from_client: bool
    data: bytes
    ts_ns: int
    """Time of the segment that completed these bytes (the last one needed to deliver them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowGap:
    """``missing`` bytes of one direction were never captured; the stream resumes after them."""

    flow: FlowKey
    index: int
    from_client: bool
    missing: int
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowClosed:
    """The connection ended (FIN both ways, RST, port reuse, or the end of the capture)."""

    flow: FlowKey
    index: int
    ts_ns: int
    reset: bool


FlowEvent = FlowOpened | FlowData | FlowGap | FlowClosed


@dataclass(slots=True)
class _Direction:
    """Reassembly state of one direction. Offsets count from the first data byte (0)."""

    base: int | None = None
    """Sequence number of offset 0 (ISN + 1), modulo 2^32; None until the first segment."""
    next_off: int = 0
    """Offset of the next byte to deliver: everything before it was delivered or declared lost."""
    starts: list[int] = field(default_factory=list)
    """Buffered pieces ahead of ``next_off``: sorted, disjoint starts …"""
    pieces: list[bytes] = field(default_factory=list)
    """… and their bytes."""
    buffered: int = 0
    fin_off: int | None = None
    """Offset of the FIN (one past the last data byte), once seen."""

    def offset(self, seq: int) -> int:
        """Unwrap ``seq`` to the offset nearest to ``next_off`` (RFC 9293 §3.4)."""
        assert self.base is not None
        expected = (self.base + self.next_off) & _MASK
        return self.next_off + ((seq - expected + _HALF) & _MASK) - _HALF

    @property
    def finished(self) -> bool:
        return self.fin_off is not None and self.next_off >= self.fin_off


@dataclass(slots=True)
class _Flow:
    key: FlowKey
    index: int
    client: _Direction = field(default_factory=_Direction)
    server: _Direction = field(default_factory=_Direction)
    last_ts: int = 0
    closed: bool = False


class TcpReassembler:
    """Feed segments in capture order; get :data:`FlowEvent` lists back (sans-IO)."""

    def __init__(self, diag: Diagnostics) -> None:
        self._diag = diag
        # (src, dst) → (flow, sender is the client); two entries per flow.
        self._table: dict[tuple[Endpoint, Endpoint], tuple[_Flow, bool]] = {}
        self._open: dict[int, _Flow] = {}
        self._count = 0

    # -- public --

    def feed(self, segment: TcpSegment) -> list[FlowEvent]:
        """Events caused by ``segment``: opened, data, gaps, closed, in that order."""
        events: list[FlowEvent] = []
        flags = segment.flags
        entry = self._table.get((segment.src, segment.dst))
        if entry is not None and _starts_a_new_connection(*entry, segment):
            if not entry[0].closed:
                self._close(entry[0], segment.ts_ns, False, events)
            entry = None
        if entry is None:
            flow, from_client = self._new_flow(segment, events)
        else:
            flow, from_client = entry
            if flow.closed:
                if segment.payload:
                    self._diag.warn(
                        "tcp.segment.after_close",
                        "TCP data after the connection closed was ignored",
                        sample=f"frame {segment.frame}",
                    )
                return events
        flow.last_ts = segment.ts_ns
        this, other = (flow.client, flow.server) if from_client else (flow.server, flow.client)
        seq = segment.seq
        if flags & SYN:
            seq = (seq + 1) & _MASK  # SYN takes one sequence number (§3.4)
            if this.base is None:
                this.base = seq
            if flags & ACK and other.base is None:
                other.base = segment.ack  # the SYN-ACK acknowledges the client's ISN + 1
        elif this.base is None:
            this.base = seq  # first segment of a direction seen mid-stream
        payload = segment.payload
        off = this.offset(seq)
        if payload:
            self._accept(flow, from_client, this, off, payload, segment, events)
        if flags & FIN and this.fin_off is None:
            this.fin_off = off + len(payload)
        if flags & RST:
            self._close(flow, segment.ts_ns, True, events)
            return events
        if flags & ACK and other.base is not None and (other.starts or other.fin_off is not None):
            self._acked(flow, not from_client, other, segment.ack, segment.ts_ns, events)
        if flow.client.finished and flow.server.finished:
            self._close(flow, segment.ts_ns, False, events)
        return events

    def finish(self) -> list[FlowEvent]:
        """Capture end: flush every open flow (buffered bytes after gaps) and close it."""
        events: list[FlowEvent] = []
        for flow in list(self._open.values()):
            self._close(flow, flow.last_ts, False, events)
        return events

    # -- flows --

    def _new_flow(self, segment: TcpSegment, events: list[FlowEvent]) -> tuple[_Flow, bool]:
        flags = segment.flags
        src, dst = segment.src, segment.dst
        if flags & SYN:
            mid_stream = False
            sender_is_client = not flags & ACK
        else:
            mid_stream = True
            sender_is_client = not _looks_like_server(src, dst)
        key = (
            FlowKey(client=src, server=dst) if sender_is_client else FlowKey(client=dst, server=src)
        )
        flow = _Flow(key=key, index=self._count)
        self._count += 1
        self._table[(src, dst)] = (flow, sender_is_client)
        self._table[(dst, src)] = (flow, not sender_is_client)
        self._open[flow.index] = flow
        events.append(
            FlowOpened(flow=key, ts_ns=segment.ts_ns, mid_stream=mid_stream, index=flow.index)
        )
        return flow, sender_is_client

    def _close(self, flow: _Flow, ts_ns: int, reset: bool, events: list[FlowEvent]) -> None:
        for from_client, d in ((True, flow.client), (False, flow.server)):
            self._flush(flow, from_client, d, ts_ns, events)
        flow.closed = True
        del self._open[flow.index]
        events.append(FlowClosed(flow=flow.key, index=flow.index, ts_ns=ts_ns, reset=reset))

    # -- one direction --

    def _accept(
        self,
        flow: _Flow,
        from_client: bool,
        d: _Direction,
        off: int,
        payload: bytes,
        segment: TcpSegment,
        events: list[FlowEvent],
    ) -> None:
        """Take the payload at offset ``off``: deliver, buffer, or drop as a retransmission."""
        end = off + len(payload)
        if d.fin_off is not None and end > d.fin_off:
            self._diag.warn(
                "tcp.segment.after_close",
                "TCP data after the connection closed was ignored",
                sample=f"frame {segment.frame}",
            )
            if off >= d.fin_off:
                return
            payload = payload[: d.fin_off - off]
            end = d.fin_off
        if end <= d.next_off:
            return  # retransmission of bytes already delivered (or declared lost)
        if off < d.next_off:
            self._overlap(segment, False)
            payload = payload[d.next_off - off :]
            off = d.next_off
        if off == d.next_off and not d.starts:
            d.next_off = end  # in order, nothing buffered: the common case
            events.append(
                FlowData(
                    flow=flow.key,
                    index=flow.index,
                    from_client=from_client,
                    data=payload,
                    ts_ns=segment.ts_ns,
                )
            )
            return
        self._buffer(d, off, payload, segment)
        if d.buffered > MAX_BUFFERED_BYTES or len(d.starts) > MAX_BUFFERED_SEGMENTS:
            self._gap(flow, from_client, d, d.starts[0], segment.ts_ns, events)
        self._drain(flow, from_client, d, segment.ts_ns, events)

    def _buffer(self, d: _Direction, off: int, payload: bytes, segment: TcpSegment) -> None:
        """Insert the parts of ``payload`` not yet buffered; the first copy of a byte wins."""
        end = off + len(payload)
        starts, pieces = d.starts, d.pieces
        i = max(bisect.bisect_right(starts, off) - 1, 0)
        cursor = off
        fresh: list[tuple[int, bytes]] = []
        overlap = conflict = False
        while i < len(starts) and starts[i] < end:
            start = starts[i]
            piece = pieces[i]
            stop = start + len(piece)
            i += 1
            if stop <= cursor:
                continue
            if start > cursor:
                fresh.append((cursor, payload[cursor - off : start - off]))
            lo, hi = max(start, cursor), min(stop, end)
            overlap = True
            if payload[lo - off : hi - off] != piece[lo - start : hi - start]:
                conflict = True
            cursor = stop
            if cursor >= end:
                break
        if cursor < end:
            fresh.append((cursor, payload[cursor - off :]))
        for start, part in fresh:
            at = bisect.bisect_left(starts, start)
            starts.insert(at, start)
            pieces.insert(at, part)
            d.buffered += len(part)
        if overlap:
            self._overlap(segment, conflict)

    def _drain(
        self, flow: _Flow, from_client: bool, d: _Direction, ts_ns: int, events: list[FlowEvent]
    ) -> None:
        """Deliver the buffered pieces that are now contiguous with ``next_off``, as one event."""
        starts, pieces = d.starts, d.pieces
        n = 0
        cursor = d.next_off
        while n < len(starts) and starts[n] == cursor:
            cursor += len(pieces[n])
            n += 1
        if not n:
            return
        data = b"".join(pieces[:n])
        del starts[:n], pieces[:n]
        d.buffered -= len(data)
        d.next_off = cursor
        events.append(
            FlowData(
                flow=flow.key, index=flow.index, from_client=from_client, data=data, ts_ns=ts_ns
            )
        )

    def _gap(
        self,
        flow: _Flow,
        from_client: bool,
        d: _Direction,
        to_off: int,
        ts_ns: int,
        events: list[FlowEvent],
    ) -> None:
        missing = to_off - d.next_off
        if missing <= 0:
            return
        d.next_off = to_off
        side = "client" if from_client else "server"
        self._diag.warn(
            "tcp.stream.gap",
            "TCP bytes missing from the capture were skipped; the stream resumed after them",
            sample=f"flow {flow.index} {side}→: {missing} bytes missing",
        )
        events.append(
            FlowGap(
                flow=flow.key,
                index=flow.index,
                from_client=from_client,
                missing=missing,
                ts_ns=ts_ns,
            )
        )

    def _acked(
        self,
        flow: _Flow,
        from_client: bool,
        d: _Direction,
        ack: int,
        ts_ns: int,
        events: list[FlowEvent],
    ) -> None:
        """The peer acknowledged up to ``ack``: bytes before it that are still missing were
        received but not captured, so they are lost to us; skip them (up to the FIN)."""
        limit = d.offset(ack)
        if d.fin_off is not None:
            limit = min(limit, d.fin_off)
        while d.next_off < limit:
            target = min(limit, d.starts[0]) if d.starts else limit
            self._gap(flow, from_client, d, target, ts_ns, events)
            self._drain(flow, from_client, d, ts_ns, events)

    def _flush(
        self, flow: _Flow, from_client: bool, d: _Direction, ts_ns: int, events: list[FlowEvent]
    ) -> None:
        """The connection ends: deliver everything buffered, declaring the holes lost."""
        while d.starts:
            self._gap(flow, from_client, d, d.starts[0], ts_ns, events)
            self._drain(flow, from_client, d, ts_ns, events)
        if d.fin_off is not None:
            self._gap(flow, from_client, d, d.fin_off, ts_ns, events)

    def _overlap(self, segment: TcpSegment, conflict: bool) -> None:
        self._diag.warn(
            "tcp.segment.overlap",
            "overlapping TCP segments were merged; the first copy of each byte was kept",
            sample=f"frame {segment.frame}",
        )
        if conflict:
            self._diag.warn(
                "tcp.segment.overlap_conflict",
                "overlapping TCP segments disagreed on the bytes; the first copy was kept",
                sample=f"frame {segment.frame}",
            )


def _starts_a_new_connection(flow: _Flow, from_client: bool, segment: TcpSegment) -> bool:
    """Whether ``segment`` opens a new connection on the endpoints of ``flow`` (port reuse).

    A SYN with another ISN (RFC 9293 §3.6.1: TIME-WAIT may accept a new SYN), any SYN once the
    flow closed, and, once it closed, data far away in sequence space from where the old stream
    ended (a new connection whose handshake was not captured; its random ISN is almost never
    within :data:`_SAME_STREAM_DISTANCE` of the old one's end, a late retransmission is).
    """
    flags = segment.flags
    sender = flow.client if from_client else flow.server
    if flags & SYN:
        if flow.closed:
            return True
        return not flags & ACK and sender.base not in (None, (segment.seq + 1) & _MASK)
    if not flow.closed or not segment.payload or sender.base is None:
        return False
    return abs(sender.offset(segment.seq) - sender.next_off) > _SAME_STREAM_DISTANCE


#: How far (bytes) from where a closed stream ended a segment may start and still be taken for
#: a late retransmission of it; beyond, it starts a new connection (see
#: :func:`_starts_a_new_connection`). 1 MiB: more than the data in flight of a typical web
#: connection at close, 1/4096 of the sequence space.
_SAME_STREAM_DISTANCE = 1 << 20


#: Mid-stream role rules, tried in order: the first that tells the two ports apart names the
#: server's side.
_SERVER_PORT_RULES: tuple[Callable[[int], bool], ...] = (
    SERVER_PORTS.__contains__,
    lambda port: port < 1024,  # RFC 6335 §6: system ports …
    lambda port: port < 49152,  # … and user (registered) ports, against dynamic ones
)


def _looks_like_server(src: Endpoint, dst: Endpoint) -> bool:
    """Whether the sender of a mid-stream segment is the server, by port (see the module doc)."""
    for is_server_port in _SERVER_PORT_RULES:
        s, d = is_server_port(src[1]), is_server_port(dst[1])
        if s != d:
            return s
    return False  # no telling: the first sender is the client
