"""Packet capture → exchanges: the driver that joins flows, TLS, QUIC and the HTTP machines.

Hand-written glue, because no library does this passively: pyshark/tshark need a C build and
pair nothing into exchanges, scapy has no TLS 1.3/QUIC decryption, and h2/aioquic are endpoint
state machines that must own a live connection. Each stage is its own sans-IO module; this one
only routes bytes between them and keeps the decryption accounting:

    read_capture ─► decode_frame ─► TcpReassembler ─► TlsSession? ─► Http1Connection / H2Connection
                                 └► QuicTracker ─► H3Connection                │
                                                                ExchangeAssembler ◄┘

Key logs come from ``--keylog`` and from pcapng Decryption Secrets Blocks, merged as read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from archcmp.diagnostics import Diagnostics
from archcmp.exchange import ConnectionInfo, ExchangeAssembler
from archcmp.ingest.flows import FlowClosed, FlowData, FlowGap, FlowKey, FlowOpened, TcpReassembler
from archcmp.ingest.keylog import KeyLog
from archcmp.ingest.packets import Defragmenter, TcpSegment, UdpDatagram, decode_frame
from archcmp.ingest.pcap import Secrets, read_capture
from archcmp.model import CaptureMeta, Exchange
from archcmp.protocols.events import HttpEvent, RequestHeaders, Upgrade
from archcmp.protocols.http1 import Http1Connection
from archcmp.protocols.http2 import H2Connection
from archcmp.protocols.http3 import H3Connection
from archcmp.protocols.quic import (
    QuicConnectionClosed,
    QuicConnectionSeen,
    QuicCoverage,
    QuicHandshakeDone,
    QuicStreamData,
    QuicStreamReset,
    QuicTracker,
)
from archcmp.protocols.tls import TlsAppData, TlsServerHello, TlsSession

__all__ = ["WireReader"]

#: pcapng Decryption Secrets Block type for an NSS key log (pcapng spec §4.7).
_TLS_KEY_LOG = 0x544C534B
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HTTP1_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"PATCH ",
                  b"CONNECT ", b"TRACE ")


class _HttpMachine(Protocol):
    def feed(self, from_client: bool, data: bytes, ts_ns: int) -> list[HttpEvent]: ...

    def gap(self, from_client: bool, missing: int, ts_ns: int) -> list[HttpEvent]: ...


@dataclass(slots=True)
class _Tcp:
    """One TCP connection's decoding state."""

    key: FlowKey
    index: int
    tls: TlsSession | None = None
    http: Any = None  # Http1Connection | H2Connection once known
    protocol: str | None = None
    assembler: ExchangeAssembler | None = None
    last_request: RequestHeaders | None = None
    pending: list[tuple[bool, bytes, int]] = field(default_factory=list)


@dataclass(slots=True)
class WireReader:
    """Streams the exchanges of a pcap/pcapng file; ``meta`` and ``decryption`` after."""

    stream: BinaryIO
    format: str
    diag: Diagnostics
    keylog: KeyLog | None = None
    name: str = ""
    _frames: int = 0
    _next_index: int = 0
    _tcp: dict[int, _Tcp] = field(default_factory=dict)
    _closed: list[_Tcp] = field(default_factory=list)
    _quic: Any = None
    _h3: dict[Any, Any] = field(default_factory=dict)
    _h3_assemblers: dict[Any, ExchangeAssembler] = field(default_factory=dict)
    _undecodable_frames: int = 0
    _last_ts: int = 0
    _other_udp: int = 0
    _quic_seen: dict[int, Any] = field(default_factory=dict)
    _quic_coverage: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.keylog is None:
            self.keylog = KeyLog()

    # --- public ----------------------------------------------------------------------------

    def exchanges(self) -> Iterator[Exchange]:
        reassembler = TcpReassembler(self.diag)
        defrag = Defragmenter(self.diag)
        for item in read_capture(self.stream, self.diag, name=self.name):
            if isinstance(item, Secrets):
                self._secrets(item)
                continue
            self._frames += 1
            self._last_ts = item.ts_ns
            packet = decode_frame(item, self.diag, defrag=defrag)
            if isinstance(packet, TcpSegment):
                for event in reassembler.feed(packet):
                    yield from self._flow_event(event)
            elif isinstance(packet, UdpDatagram):
                yield from self._udp(packet)
            elif packet is None:
                self._undecodable_frames += 1
        defrag.finish()
        for event in reassembler.finish():
            yield from self._flow_event(event)
        yield from self._finish()

    @property
    def meta(self) -> CaptureMeta:
        return CaptureMeta(format=self.format, producer="unknown", entries=self._frames)

    @property
    def decryption(self) -> dict[str, Any]:
        """``capture.decryption``: how much was decrypted and, per connection, why not."""
        sessions = [c for c in [*self._closed, *self._tcp.values()] if c.tls is not None]
        connections: list[dict[str, Any]] = []
        for conn in sorted(sessions, key=lambda c: c.index):
            assert conn.tls is not None
            info = conn.tls.info
            connections.append({
                "kind": "tls", "id": f"tcp/{conn.index}",
                "client": _endpoint(conn.key.client),
                "server": _endpoint(conn.key.server),
                "sni": info.sni, "alpn": info.alpn, "version": info.version,
                "cipher": info.cipher, "status": info.status, "reason": info.reason or None,
                "records": info.records.total, "records_decrypted": info.decrypted.total,
                "records_undecrypted": info.records.total - info.decrypted.total,
            })
        quic = [_quic_entry(c) for c in self._quic_coverage]
        connections += quic
        decrypted_tls = sum(1 for c in connections if c["kind"] == "tls"
                            and c["status"] in ("decrypted", "partial"))
        decrypted_quic = sum(1 for c in quic if c.get("status") in ("decrypted", "partial"))
        return {
            "packets": self._frames,
            "packets_undecodable": self._undecodable_frames,
            "tls_sessions": sum(1 for c in connections if c["kind"] == "tls"),
            "tls_decrypted": decrypted_tls,
            "quic_connections": len(quic),
            "quic_decrypted": decrypted_quic,
            "packets_undecrypted": sum(int(c.get("packets_undecrypted", 0)) for c in quic),
            "tls_records": sum(int(c.get("records", 0)) for c in connections
                               if c["kind"] == "tls"),
            "tls_records_decrypted": sum(int(c.get("records_decrypted", 0)) for c in connections
                                         if c["kind"] == "tls"),
            "keys": len(self.keylog) if self.keylog is not None else 0,
            "connections": connections,
        }

    # --- key logs --------------------------------------------------------------------------

    def _secrets(self, item: Secrets) -> None:
        if item.secrets_type != _TLS_KEY_LOG:
            self.diag.warn("pcapng.dsb.unsupported", "a Decryption Secrets Block of a type "
                           "other than a TLS key log was skipped", sample=hex(item.secrets_type))
            return
        assert self.keylog is not None
        # TLS sessions and the QUIC tracker read keys through _LiveKeys, so they see this.
        self.keylog = self.keylog.merge(KeyLog.parse(item.data, self.diag, source="pcapng DSB"))

    # --- TCP -------------------------------------------------------------------------------

    def _flow_event(self, event: object) -> Iterator[Exchange]:
        if isinstance(event, FlowOpened):
            self._tcp[event.index] = _Tcp(key=event.flow, index=event.index)
        elif isinstance(event, FlowData):
            conn = self._tcp.setdefault(event.index, _Tcp(key=event.flow, index=event.index))
            yield from self._tcp_data(conn, event.from_client, event.data, event.ts_ns)
        elif isinstance(event, FlowGap):
            gapped = self._tcp.get(event.index)
            if gapped is not None and gapped.http is not None and gapped.tls is None:
                yield from self._http(gapped, gapped.http.gap(event.from_client, event.missing,
                                                              event.ts_ns))
        elif isinstance(event, FlowClosed):
            closed = self._tcp.pop(event.index, None)
            if closed is not None:
                yield from self._close(closed, event.ts_ns, reset=event.reset)

    def _tcp_data(self, conn: _Tcp, from_client: bool, data: bytes, ts_ns: int
                  ) -> Iterator[Exchange]:
        if conn.tls is None and conn.http is None:
            kind = _sniff(data) if from_client else None
            if kind is None:
                conn.pending.append((from_client, data, ts_ns))
                if len(conn.pending) > 8:  # the server spoke first, or not a protocol we read
                    self.diag.warn("wire.flow.unknown_protocol", "a TCP connection carried "
                                   "neither TLS nor HTTP", sample=f"tcp/{conn.index}")
                    conn.pending.clear()
                    conn.protocol = "unknown"
                return
            if conn.protocol == "unknown":
                return
            if kind == "tls":
                conn.tls = TlsSession(_LiveKeys(self), self.diag, where=f"tcp/{conn.index}")
            else:
                self._start_http(conn, kind, tls=False)
        if conn.tls is not None:
            for event in conn.tls.feed(from_client, data, ts_ns):
                if isinstance(event, TlsServerHello) and event.alpn in ("h2", "http/1.1"):
                    self._start_http(conn, "h2" if event.alpn == "h2" else "http/1.1", tls=True)
                elif isinstance(event, TlsAppData):
                    if conn.http is None:
                        self._start_http(conn, "h2" if event.data.startswith(_H2_PREFACE[:4])
                                         else "http/1.1", tls=True)
                    yield from self._http(conn, conn.http.feed(event.from_client, event.data,
                                                               event.ts_ns))
        elif conn.http is not None:
            pending, conn.pending = conn.pending, []
            for p_from, p_data, p_ts in [*pending, (from_client, data, ts_ns)]:
                yield from self._http(conn, conn.http.feed(p_from, p_data, p_ts))

    def _start_http(self, conn: _Tcp, kind: str, *, tls: bool,
                    upgrade: RequestHeaders | None = None) -> None:
        where = f"tcp/{conn.index}"
        conn.http = (H2Connection(self.diag, where=where, upgrade_request=upgrade)
                     if kind == "h2" else Http1Connection(self.diag, where=where))
        conn.protocol = "h2" if kind == "h2" else "http/1.1"
        info = conn.tls.info if conn.tls is not None else None
        connection = ConnectionInfo(
            id=where, protocol=conn.protocol, scheme="https" if tls else "http",
            server_ip=conn.key.server[0], server_port=conn.key.server[1],
            tls_protocol=info.version if info is not None else None,
            sni=info.sni if info is not None else None)
        if conn.assembler is None:
            conn.assembler = ExchangeAssembler(connection, self.diag, next_index=self._next_index)
        else:
            conn.assembler.connection = connection

    def _http(self, conn: _Tcp, events: list[HttpEvent]) -> Iterator[Exchange]:
        assert conn.assembler is not None
        for event in events:
            if isinstance(event, RequestHeaders):
                conn.last_request = event
        conn.assembler.next_index = self._next_index
        done = conn.assembler.feed(events)
        self._next_index = conn.assembler.next_index
        yield from done
        for event in events:
            if isinstance(event, Upgrade) and event.protocol == "h2c":
                conn.assembler.discard(event.stream)
                yield from self._h2c(conn, event.ts_ns)

    def _h2c(self, conn: _Tcp, ts_ns: int) -> Iterator[Exchange]:
        """HTTP/1.1 Upgrade: h2c (RFC 7540 §3.2): the upgrade request becomes stream 1."""
        http1 = conn.http
        client, server = http1.take_leftover()
        upgrade = conn.last_request
        if upgrade is not None:
            upgrade = RequestHeaders(stream=1, headers=upgrade.headers, ts_ns=upgrade.ts_ns,
                                     end_stream=True)
        self._start_http(conn, "h2", tls=conn.tls is not None, upgrade=upgrade)
        if client:
            yield from self._http(conn, conn.http.feed(True, client, ts_ns))
        if server:
            yield from self._http(conn, conn.http.feed(False, server, ts_ns))

    def _close(self, conn: _Tcp, ts_ns: int, *, reset: bool = False,
               reason: str | None = None) -> Iterator[Exchange]:
        if conn.http is not None:
            yield from self._http(conn, conn.http.close(ts_ns, reset=reset, reason=reason))
        if conn.assembler is not None:
            conn.assembler.next_index = self._next_index
            done = conn.assembler.finish()
            self._next_index = conn.assembler.next_index
            yield from done
        self._closed.append(conn)

    # --- QUIC ------------------------------------------------------------------------------

    def _udp(self, datagram: UdpDatagram) -> Iterator[Exchange]:
        if not _looks_like_quic(datagram.payload):
            self._other_udp += 1
            return
        if self._quic is None:
            assert self.keylog is not None
            self._quic = QuicTracker(_LiveKeys(self), self.diag)
        yield from self._quic_events(self._quic.feed(datagram.payload, datagram.ts_ns,
                                                     datagram.src, datagram.dst))

    def _quic_events(self, events: list[Any]) -> Iterator[Exchange]:
        for event in events:
            if isinstance(event, QuicConnectionSeen):
                self._quic_seen[event.conn_id] = event
            elif isinstance(event, QuicHandshakeDone):
                if event.alpn == "h3" or (event.alpn is None and self._offers_h3(event.conn_id)):
                    self._start_h3(event.conn_id, event.version)
            elif isinstance(event, QuicStreamData):
                h3 = self._h3.get(event.conn_id)
                if h3 is not None:
                    yield from self._h3_http(event.conn_id, h3.feed_stream(
                        event.stream_id, event.from_client, event.data, event.fin,
                        event.ts_ns))
            elif isinstance(event, QuicStreamReset):
                h3 = self._h3.get(event.conn_id)
                if h3 is not None and not event.stop_sending:
                    yield from self._h3_http(event.conn_id, h3.reset_stream(
                        event.stream_id, event.from_client, event.error_code, event.ts_ns))
            elif isinstance(event, QuicConnectionClosed):
                h3 = self._h3.pop(event.conn_id, None)
                if h3 is not None:
                    yield from self._h3_http(event.conn_id, h3.close(event.ts_ns, event.reason))
                    yield from self._h3_finish(event.conn_id)
            elif isinstance(event, QuicCoverage):
                self._quic_coverage.append(event)

    def _offers_h3(self, conn_id: int) -> bool:
        seen = self._quic_seen.get(conn_id)
        return seen is not None and "h3" in seen.alpn_offered

    def _start_h3(self, conn_id: int, version: int) -> None:
        seen = self._quic_seen.get(conn_id)
        server = seen.server if seen is not None else ("", 0)
        self._h3[conn_id] = H3Connection(self.diag)
        self._h3_assemblers[conn_id] = ExchangeAssembler(ConnectionInfo(
            id=f"quic/{conn_id}", protocol="h3", scheme="https", server_ip=server[0],
            server_port=server[1], tls_protocol="TLS 1.3 (QUIC)",
            sni=seen.sni if seen is not None else None), self.diag)

    def _h3_http(self, conn_id: int, events: list[HttpEvent]) -> Iterator[Exchange]:
        assembler = self._h3_assemblers[conn_id]
        assembler.next_index = self._next_index
        done = assembler.feed(events)
        self._next_index = assembler.next_index
        yield from done

    def _h3_finish(self, conn_id: int) -> Iterator[Exchange]:
        assembler = self._h3_assemblers.pop(conn_id, None)
        if assembler is not None:
            assembler.next_index = self._next_index
            done = assembler.finish()
            self._next_index = assembler.next_index
            yield from done

    def _finish(self) -> Iterator[Exchange]:
        for index in sorted(self._tcp):
            yield from self._close(self._tcp[index], self._last_ts, reason="capture-end")
        self._tcp.clear()
        if self._quic is not None:
            yield from self._quic_events(self._quic.finish())
        for conn_id in sorted(self._h3):
            h3 = self._h3.pop(conn_id)
            yield from self._h3_http(conn_id, h3.close(self._last_ts, "capture-end"))
            yield from self._h3_finish(conn_id)


@dataclass(frozen=True, slots=True)
class _LiveKeys:
    """The reader's current key log, so DSBs read later still key later connections."""

    reader: WireReader

    def secret(self, label: str, client_random: bytes) -> bytes | None:
        keylog = self.reader.keylog
        return keylog.secret(label, client_random) if keylog is not None else None


def _endpoint(endpoint: tuple[str, int]) -> str:
    """``host:port``, with IPv6 addresses bracketed (RFC 3986 §3.2.2)."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _looks_like_quic(payload: bytes) -> bool:
    """RFC 9000 §17.2/§17.3: every QUIC packet has the fixed bit (0x40) set, except Version
    Negotiation (long header, version 0). DNS, mDNS and the like rarely pass this, and the
    tracker counts those that do as orphans rather than inventing connections."""
    if len(payload) < 7:
        return False
    first = payload[0]
    if first & 0x80:
        return bool(first & 0x40) or payload[1:5] == b"\0\0\0\0"
    return bool(first & 0x40) and len(payload) >= 21


def _quic_entry(c: Any) -> dict[str, Any]:
    spaces = {s.space: {"decrypted": s.decrypted, "total": s.total,
                        "reasons": dict(s.reasons)} for s in c.spaces}
    total = sum(s.total for s in c.spaces)
    decrypted = sum(s.decrypted for s in c.spaces)
    reasons: dict[str, int] = {}
    for s in c.spaces:
        for reason, n in s.reasons:
            reasons[reason] = reasons.get(reason, 0) + n
    if total and decrypted == total:
        status = "decrypted"
    elif decrypted > sum(s.total for s in c.spaces if s.space == "initial"):
        status = "partial"
    else:
        status = "no-keys" if "no_keys" in reasons else "undecrypted"
    return {
        "kind": "quic", "id": f"quic/{c.conn_id}",
        "client": _endpoint(c.client), "server": _endpoint(c.server),
        "sni": c.sni, "alpn": c.alpn,
        "version": {1: "QUIC v1", 0x6B3343CF: "QUIC v2"}.get(c.version or 0,
                                                            hex(c.version or 0)),
        "status": status,
        "reason": ", ".join(f"{r} ({n})" for r, n in sorted(reasons.items())) or None,
        "packets": total, "packets_decrypted": decrypted,
        "packets_undecrypted": total - decrypted, "spaces": spaces,
        "retry": c.retry, "padding_tails": c.padding_tails,
    }


def _sniff(data: bytes) -> str | None:
    """What the client's first bytes say: ``tls``, ``h2`` (prior knowledge) or ``http/1.1``."""
    if len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03 and data[2] <= 0x04:
        return "tls"  # RFC 8446 §5.1: handshake record, legacy_record_version 3.x
    if data.startswith(_H2_PREFACE[: min(len(data), len(_H2_PREFACE))]) and len(data) >= 3:
        return "h2"
    if data.startswith(_HTTP1_METHODS):
        return "http/1.1"
    return None


