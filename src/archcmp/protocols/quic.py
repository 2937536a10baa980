"""QUIC connections from captured UDP datagrams, decrypted with a TLS key log (sans-IO).

:class:`QuicTracker` takes datagrams with their capture time and addresses and returns the
frozen event records below: one :class:`QuicConnectionSeen` per
connection (SNI, ALPN offered, version, transport parameters — readable by anyone, since Initial
keys come from the client's first DCID), :class:`QuicHandshakeDone`, :class:`QuicStreamData` in
order per stream, resets and closes, and at :meth:`QuicTracker.finish` a :class:`QuicCoverage`
per connection: packets per space decrypted/total, and why the rest were not.

How an observer differs from an endpoint (why this is not aioquic's ``QuicConnection``):

* **Connections by connection ID, not 4-tuple** (RFC 9000 §5.1, §9): the client's original
  DCID, each side's SCID, Retry's new SCID and NEW_CONNECTION_ID frames all map to the
  connection and to the direction they address; a migrated path keeps its connection. The
  client is whoever sent the first Initial. Short headers do not carry the DCID length, so the
  lengths in use are tried; zero-length CIDs fall back to the UDP path.
* **Both directions decrypted**, each with its own packet-number spaces (RFC 9000 §12.3) and
  1-RTT key generations (RFC 9001 §6): a flipped key phase tries the next generation, a late
  packet the previous one; header protection keys never change.
* **0.5-RTT**: the server's 1-RTT packets coalesced behind its Initial and Handshake (RFC 9001
  §4.1.1, §5.7) decrypt as soon as the ServerHello in the same datagram names the cipher suite,
  since ``SERVER_TRAFFIC_SECRET_0`` comes from the key log, not from a finished handshake.
* **Datagram padding** (RFC 9000 §12.2, §14.1): zero bytes after the last coalesced packet are
  padding, not a packet (fixed bit clear). tshark 4.0 counts them as undecryptable short-header
  packets — its "27 of 29" 1-RTT packets for the corpus's Chrome→Cloudflare capture are 27 of
  27 real packets plus two padding tails behind the server's Initials.
* **Cipher suites before the ServerHello** (0-RTT, a lost server Initial) are tried by secret
  length and fixed by the first packet that authenticates.
* Stream data is held until the server's EncryptedExtensions names the ALPN (or the client's
  first 1-RTT packet shows the handshake is over), so :class:`QuicHandshakeDone` always comes
  first and the consumer can choose HTTP/3 before stream bytes arrive.

Nothing raises for a bad datagram: problems are counted in :class:`Diagnostics` (``quic.*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from archcmp.diagnostics import Diagnostics
from archcmp.protocols.quic_connection import (
    CLIENT_HELLO,
    ENCRYPTED_EXTENSIONS,
    FINISHED,
    SERVER_HELLO,
    ClientHelloInfo,
    ConnState,
    Endpoint,
    HandshakeReader,
    QuicCoverage,
    Reassembler,
    SpaceCoverage,
    TransportParameters,
    parse_client_hello,
    parse_encrypted_extensions,
    parse_server_hello,
    try_open,
)
from archcmp.protocols.quic_packets import (
    HANDSHAKE_DONE,
    SUPPORTED_VERSIONS,
    ConnectionCloseFrame,
    CryptoFrame,
    MalformedPacket,
    NewConnectionIdFrame,
    OtherFrame,
    PacketHeader,
    PacketKeys,
    PacketType,
    ResetStreamFrame,
    StreamFrame,
    candidate_suites,
    is_long_header,
    keys_from_secret,
    parse_frames,
    parse_long_header,
    retry_integrity_ok,
    short_header,
)

__all__ = [
    "ClientHelloInfo",
    "Endpoint",
    "QuicConnectionClosed",
    "QuicConnectionSeen",
    "QuicCoverage",
    "QuicEvent",
    "QuicHandshakeDone",
    "QuicStreamData",
    "QuicStreamReset",
    "QuicTracker",
    "SecretLookup",
    "SpaceCoverage",
    "TransportParameters",
]

# TLS key-log labels per (space, sender is client) — RFC 9001 §4.1.4 / NSS key log format.
_LABELS = {
    ("0rtt", True): "CLIENT_EARLY_TRAFFIC_SECRET",
    ("handshake", True): "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    ("handshake", False): "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    ("1rtt", True): "CLIENT_TRAFFIC_SECRET_0",
    ("1rtt", False): "SERVER_TRAFFIC_SECRET_0",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicConnectionSeen:
    """A client Initial started a connection; TLS fields once its ClientHello is complete."""

    conn_id: int
    """Sequence number of the connection in this capture (0, 1, …): the key of every event."""
    ts_ns: int
    client: Endpoint
    server: Endpoint
    version: int
    """QUIC version of the client's first Initial (1, 0x6b3343cf …)."""
    original_dcid: bytes
    sni: str | None = None
    alpn_offered: tuple[str, ...] = ()
    tls_versions: tuple[int, ...] = ()
    client_params: TransportParameters | None = None
    client_hello_complete: bool = True
    """False when the capture never held the whole ClientHello (reported at ``finish``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicHandshakeDone:
    """The server's handshake flight was read (or application data started without it).

    Always precedes the connection's first :class:`QuicStreamData`, so a consumer can pick the
    application protocol (``alpn``) before any stream byte arrives.
    """

    conn_id: int
    ts_ns: int
    version: int
    alpn: str | None
    """ALPN selected in EncryptedExtensions; None when that message was not decrypted."""
    cipher_suite: int | None
    server_params: TransportParameters | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicStreamData:
    """Stream bytes in order: per (conn, stream, direction) offsets follow one another."""

    conn_id: int
    stream_id: int
    from_client: bool
    offset: int
    data: bytes
    fin: bool
    """This chunk ends the stream in this direction (``data`` may then be empty)."""
    ts_ns: int
    """Capture time of the packet that made these bytes contiguous."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicStreamReset:
    """RESET_STREAM (the sender abandons its half) or STOP_SENDING (the receiver asks it to)."""

    conn_id: int
    stream_id: int
    from_client: bool
    """Who sent the frame."""
    error_code: int
    ts_ns: int
    stop_sending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicConnectionClosed:
    conn_id: int
    ts_ns: int
    reason: str
    """``close`` (CONNECTION_CLOSE seen) or ``capture-end``."""
    from_client: bool | None = None
    error_code: int | None = None
    application: bool = False
    """Application close (0x1d, e.g. H3_NO_ERROR 0x100) rather than a transport error."""
    message: str = ""
    """The peer's reason phrase."""


QuicEvent = (QuicConnectionSeen | QuicHandshakeDone | QuicStreamData | QuicStreamReset
             | QuicConnectionClosed | QuicCoverage)


class SecretLookup(Protocol):
    """What the tracker needs from ``archcmp.ingest.keylog.KeyLog``."""

    def secret(self, label: str, client_random: bytes) -> bytes | None: ...


class QuicTracker:
    """Every QUIC connection in a capture, from datagrams in capture order."""

    def __init__(self, keylog: SecretLookup, diag: Diagnostics) -> None:
        self._keylog = keylog
        self._diag = diag
        self._conns: list[ConnState] = []
        self._cids: dict[bytes, tuple[ConnState, bool]] = {}
        """Non-empty CID → (connection, the CID addresses the server)."""
        self._cid_lengths: list[int] = []
        self._paths: dict[tuple[Endpoint, Endpoint], tuple[ConnState, bool]] = {}
        """(src, dst) → (connection, src is the client), for zero-length or unknown CIDs."""
        self._orphans: dict[tuple[Endpoint, Endpoint], ConnState] = {}
        self._held: dict[int, list[QuicEvent]] = {}
        """Stream events of connections whose handshake is not known to be over yet."""

    # -- input ------------------------------------------------------------------------------

    def feed(self, datagram: bytes, ts_ns: int, src: Endpoint, dst: Endpoint) -> list[QuicEvent]:
        """One UDP payload; its coalesced packets are handled in order (RFC 9000 §12.2)."""
        events: list[QuicEvent] = []
        pos = 0
        while pos < len(datagram):
            first = datagram[pos]
            if is_long_header(first):
                try:
                    header = parse_long_header(datagram, pos)
                except MalformedPacket as exc:
                    self._diag.warn("quic.packet.malformed", "QUIC long header unreadable",
                                    sample=str(exc))
                    break
                self._long(datagram, header, ts_ns, src, dst, events)
                pos = header.end
            else:
                # Zero bytes after coalesced packets are padding (RFC 9000 §12.2); a clear
                # fixed bit means this is not QUIC (RFC 9000 §17.3.1).
                if first == 0 and pos > 0:
                    if (hit := self._paths.get((src, dst))) is not None:
                        hit[0].padding_tails += 1
                    break
                if not first & 0x40:
                    self._diag.warn("quic.datagram.not_quic", "UDP payload is not QUIC",
                                    sample=f"{src} -> {dst}")
                    break
                self._short(datagram, pos, ts_ns, src, dst, events)
                break
        return events

    def finish(self) -> list[QuicEvent]:
        """End of capture: pending announcements, closes, gaps and each connection's coverage."""
        events: list[QuicEvent] = []
        for conn in self._conns:
            if not conn.orphan:
                if not conn.seen_emitted:
                    self._emit_seen(conn, conn.last_ts, events, complete=False)
                if self._held.get(conn.conn_id):
                    self._release(conn, conn.last_ts, events)
                gaps = sum(1 for s in conn.streams.values() if s.has_gap)
                if gaps:
                    self._diag.warn("quic.stream.gap", "QUIC stream data missing from the "
                                    "capture; later bytes of the stream are not delivered",
                                    sample=f"conn {conn.conn_id}", count=gaps)
                if not conn.closed:
                    events.append(QuicConnectionClosed(conn_id=conn.conn_id, ts_ns=conn.last_ts,
                                                       reason="capture-end"))
            events.append(conn.coverage())
        return events

    # -- connection lookup ------------------------------------------------------------------

    def _register(self, conn: ConnState, cid: bytes, to_server: bool) -> None:
        conn.cid_len[to_server] = len(cid)
        if cid and cid not in self._cids:
            self._cids[cid] = (conn, to_server)
            if len(cid) not in self._cid_lengths:
                self._cid_lengths.append(len(cid))
                self._cid_lengths.sort(reverse=True)

    def _set_path(self, conn: ConnState, src: Endpoint, dst: Endpoint, from_client: bool) -> None:
        self._paths[(src, dst)] = (conn, from_client)
        self._paths[(dst, src)] = (conn, not from_client)

    def _lookup(self, dcid: bytes, src: Endpoint, dst: Endpoint) -> tuple[ConnState, bool] | None:
        """(connection, from client) for a long-header packet addressed to ``dcid``.

        A non-empty unknown DCID is a new connection even on a known path (a client retrying
        after Version Negotiation, or a second connection from the same port).
        """
        if dcid:
            hit = self._cids.get(dcid)
            if hit is not None:
                self._set_path(hit[0], src, dst, hit[1])
            return hit
        return self._paths.get((src, dst))

    def _orphan(self, src: Endpoint, dst: Endpoint, ts_ns: int) -> ConnState:
        key = (src, dst) if (dst, src) not in self._orphans else (dst, src)
        conn = self._orphans.get(key)
        if conn is None:
            conn = ConnState(conn_id=len(self._conns), client=key[0], server=key[1], version=None,
                         original_dcid=b"", initial_dcid=b"", orphan=True)
            self._orphans[key] = conn
            self._conns.append(conn)
            self._diag.warn("quic.connection.missing_initial", "QUIC packets without the "
                            "connection's Initial: they cannot be keyed",
                            sample=f"{key[0]} -> {key[1]}")
        conn.last_ts = ts_ns
        return conn

    # -- packets ----------------------------------------------------------------------------

    def _long(self, data: bytes, header: PacketHeader, ts_ns: int, src: Endpoint,
              dst: Endpoint, events: list[QuicEvent]) -> None:
        ptype = header.packet_type
        hit = self._lookup(header.dcid, src, dst)
        learned = b""
        if hit is None and ptype in (PacketType.HANDSHAKE, PacketType.ZERO_RTT):
            # A DCID handed out in a NEW_CONNECTION_ID we could not read: the path decides,
            # and the CID is learned once the packet authenticates.
            hit = self._paths.get((src, dst))
            learned = header.dcid
        if ptype is PacketType.VERSION_NEGOTIATION:
            if hit is not None:
                hit[0].vn_versions = header.supported_versions
            return
        if ptype is PacketType.RETRY:
            self._retry(data, header, hit)
            return
        space = ptype.value
        if hit is None:
            conn = self._new_connection(data, header, ts_ns, src, dst) if (
                ptype is PacketType.INITIAL) else None
            if conn is None:
                self._orphan(src, dst, ts_ns).count(space, "missing_initial")
                return
            from_client = True
        else:
            conn, from_client = hit
        conn.last_ts = ts_ns
        if conn.orphan:
            conn.count(space, "missing_initial")
            return
        version = header.version or 0
        if not from_client and header.scid:
            self._register(conn, header.scid, True)
        # After Version Negotiation (RFC 9000 §6) or compatible negotiation (RFC 9368) the
        # latest long header's version is the connection's.
        conn.version = version
        if version not in SUPPORTED_VERSIONS:
            conn.count(space, "unknown_version")
            return
        if ptype is PacketType.INITIAL:
            candidates = conn.initial_candidates(version, from_client)
        else:
            found = self._secret_keys(conn, space, from_client, version)
            if isinstance(found, str):
                conn.count(space, found)
                return
            candidates = found
        packet = data[header.start : header.end]
        opened = conn.open(candidates, packet, header.pn_offset - header.start,
                            from_client, space)
        if opened is None:
            conn.count(space, "corrupt")
            return
        conn.count(space, None)
        if learned:
            self._register(conn, learned, from_client)
        self._frames(conn, opened.payload, space, from_client, ts_ns, events)

    def _short(self, data: bytes, pos: int, ts_ns: int, src: Endpoint, dst: Endpoint,
               events: list[QuicEvent]) -> None:
        hit = None
        dcid_len = -1
        for length in self._cid_lengths:
            if (found := self._cids.get(data[pos + 1 : pos + 1 + length])) is not None:
                hit, dcid_len = found, length
                self._set_path(found[0], src, dst, found[1])
                break
        if hit is None:
            hit = self._paths.get((src, dst))
        if hit is None:
            self._orphan(src, dst, ts_ns).count("1rtt", "missing_initial")
            return
        conn, from_client = hit
        conn.last_ts = ts_ns
        if conn.orphan:
            conn.count("1rtt", "missing_initial")
            return
        if dcid_len < 0:  # by path: a zero-length CID, or one handed out in a lost packet
            dcid_len = conn.cid_len.get(from_client, 0)
        header = short_header(data, pos, dcid_len)
        version = conn.version or 0
        if version not in SUPPORTED_VERSIONS:
            conn.count("1rtt", "unknown_version")
            return
        found_keys = self._secret_keys(conn, "1rtt", from_client, version)
        if isinstance(found_keys, str):
            conn.count("1rtt", found_keys)
            return
        opened = conn.open(found_keys, data[pos:], header.pn_offset - pos, from_client,
                            "1rtt")
        if opened is None:
            conn.count("1rtt", "corrupt")
            return
        conn.count("1rtt", None)
        if from_client and self._held.get(conn.conn_id):
            self._release(conn, ts_ns, events)  # the client only sends 1-RTT once done
        self._frames(conn, opened.payload, "1rtt", from_client, ts_ns, events)

    def _new_connection(self, data: bytes, header: PacketHeader, ts_ns: int, src: Endpoint,
                        dst: Endpoint) -> ConnState | None:
        """A client's first Initial: only if its payload authenticates with client keys."""
        version = header.version or 0
        conn = ConnState(conn_id=len(self._conns), client=src, server=dst, version=version,
                     original_dcid=header.dcid, initial_dcid=header.dcid)
        if version in SUPPORTED_VERSIONS:
            keys = conn.initial_candidates(version, True)
            packet = data[header.start : header.end]
            rel = header.pn_offset - header.start
            if not header.dcid or try_open(keys[0], packet, rel, -1) is None:
                return None
        self._conns.append(conn)
        self._register(conn, header.dcid, True)
        self._register(conn, header.scid, False)
        self._set_path(conn, src, dst, True)
        return conn

    def _retry(self, data: bytes, header: PacketHeader, hit: tuple[ConnState, bool] | None) -> None:
        """RFC 9000 §17.2.5: the client restarts with the Retry's SCID as DCID, which also
        re-keys Initial packets (RFC 9001 §5.2). A client accepts only the first Retry
        (§17.2.5.2); later ones still become candidate DCIDs, in case the first was not
        captured."""
        if hit is None or hit[1]:
            self._diag.warn("quic.retry.unmatched", "Retry for no known client")
            return
        conn = hit[0]
        if not retry_integrity_ok(data, header, conn.original_dcid):
            self._diag.warn("quic.retry.bad_integrity", "Retry integrity tag does not verify",
                            sample=header.scid.hex())
        if not conn.retry:
            conn.retry = True
            conn.initial_dcid = header.scid
        conn.retry_dcids.append(header.scid)
        self._register(conn, header.scid, True)

    # -- keys -------------------------------------------------------------------------------

    def _secret_keys(self, conn: ConnState, space: str, from_client: bool,
                     version: int) -> list[PacketKeys] | str:
        """Candidate keys from the key log, or the reason there are none."""
        cached = conn.keys.get((from_client, space))
        if cached is not None:
            return cached
        if conn.hello is None:
            return "missing_initial"
        secret = self._keylog.secret(_LABELS[(space, from_client)], conn.hello.client_random)
        if secret is None:
            if "no_keys" not in conn.warned:
                conn.warned.add("no_keys")
                self._diag.warn("quic.session.no_key", "no key-log secret for this QUIC "
                                "connection's client random",
                                sample=conn.hello.client_random.hex())
            return "no_keys"
        suites = (conn.cipher_suite,) if conn.cipher_suite else candidate_suites(secret)
        keys = [keys_from_secret(secret, suite, version) for suite in suites]
        conn.keys[(from_client, space)] = keys
        return keys

    # -- frames -----------------------------------------------------------------------------

    def _frames(self, conn: ConnState, payload: bytes, space: str, from_client: bool, ts_ns: int,
                events: list[QuicEvent]) -> None:
        parsed = parse_frames(payload)
        for name, n in parsed.counts.items():
            conn.frames[name] = conn.frames.get(name, 0) + n
        if parsed.unknown_type is not None:
            self._diag.warn("quic.frame.unknown", "unknown QUIC frame type; rest of the packet "
                            "skipped", sample=hex(parsed.unknown_type))
        if parsed.malformed:
            self._diag.warn("quic.frame.malformed", "QUIC frame runs past its packet")
        for frame in parsed.frames:
            if isinstance(frame, StreamFrame):
                self._stream(conn, frame, from_client, ts_ns, events)
            elif isinstance(frame, CryptoFrame):
                self._crypto(conn, frame, space, from_client, ts_ns, events)
            elif isinstance(frame, ResetStreamFrame):
                self._out(conn, QuicStreamReset(conn_id=conn.conn_id, stream_id=frame.stream_id,
                                                from_client=from_client,
                                                error_code=frame.error_code, ts_ns=ts_ns,
                                                stop_sending=frame.stop_sending), events)
            elif isinstance(frame, NewConnectionIdFrame):
                # The sender hands out CIDs that address itself (RFC 9000 §19.15).
                self._register(conn, frame.connection_id, not from_client)
            elif isinstance(frame, ConnectionCloseFrame):
                if not conn.closed:
                    conn.closed = True
                    if self._held.get(conn.conn_id):
                        self._release(conn, ts_ns, events)
                    events.append(QuicConnectionClosed(
                        conn_id=conn.conn_id, ts_ns=ts_ns, reason="close",
                        from_client=from_client, error_code=frame.error_code,
                        application=frame.frame_type is None, message=frame.reason))
            elif isinstance(frame, OtherFrame) and frame.frame_type == HANDSHAKE_DONE:
                self._release(conn, ts_ns, events)

    def _stream(self, conn: ConnState, frame: StreamFrame, from_client: bool, ts_ns: int,
                events: list[QuicEvent]) -> None:
        buf = conn.streams.get((frame.stream_id, from_client))
        if buf is None:
            buf = conn.streams[(frame.stream_id, from_client)] = Reassembler()
        if frame.fin:
            buf.final_size = frame.offset + len(frame.data)
        chunks, dropped = buf.add(frame.offset, frame.data)
        if dropped:
            self._diag.warn("quic.stream.buffer_full", "out-of-order QUIC stream data over the "
                            "reassembly limit dropped", sample=f"stream {frame.stream_id}")
        for offset, chunk in chunks:
            fin = buf.final_size is not None and offset + len(chunk) >= buf.final_size
            buf.fin_delivered |= fin
            self._out(conn, QuicStreamData(conn_id=conn.conn_id, stream_id=frame.stream_id,
                                           from_client=from_client, offset=offset, data=chunk,
                                           fin=fin, ts_ns=ts_ns), events)
        if (not buf.fin_delivered and buf.final_size is not None
                and buf.delivered == buf.final_size):
            buf.fin_delivered = True
            self._out(conn, QuicStreamData(conn_id=conn.conn_id, stream_id=frame.stream_id,
                                           from_client=from_client, offset=buf.delivered,
                                           data=b"", fin=True, ts_ns=ts_ns), events)

    def _crypto(self, conn: ConnState, frame: CryptoFrame, space: str, from_client: bool,
                ts_ns: int, events: list[QuicEvent]) -> None:
        reader = conn.crypto.get((from_client, space))
        if reader is None:
            reader = conn.crypto[(from_client, space)] = HandshakeReader()
        for msg_type, body in reader.add(frame.offset, frame.data):
            try:
                if msg_type == CLIENT_HELLO and from_client and conn.hello is None:
                    conn.hello = parse_client_hello(body)
                    self._emit_seen(conn, ts_ns, events, complete=True)
                elif msg_type == SERVER_HELLO and not from_client:
                    suite, is_hrr = parse_server_hello(body)
                    if not is_hrr:
                        conn.cipher_suite = suite
                elif msg_type == ENCRYPTED_EXTENSIONS and not from_client:
                    conn.alpn, conn.server_params = parse_encrypted_extensions(body)
                    self._release(conn, ts_ns, events)
                elif msg_type == FINISHED and not from_client:
                    self._release(conn, ts_ns, events)
            except ValueError as exc:
                self._diag.warn("quic.tls.malformed", "TLS handshake message in CRYPTO frames "
                                "unreadable", sample=f"type {msg_type}: {exc}")

    # -- events -----------------------------------------------------------------------------

    def _emit_seen(self, conn: ConnState, ts_ns: int, events: list[QuicEvent], *,
                   complete: bool) -> None:
        conn.seen_emitted = True
        hello = conn.hello
        events.append(QuicConnectionSeen(
            conn_id=conn.conn_id, ts_ns=ts_ns, client=conn.client, server=conn.server,
            version=conn.version or 0, original_dcid=conn.original_dcid,
            sni=hello.sni if hello else None, alpn_offered=hello.alpn if hello else (),
            tls_versions=hello.tls_versions if hello else (),
            client_params=hello.transport_parameters if hello else None,
            client_hello_complete=complete and hello is not None))

    def _out(self, conn: ConnState, event: QuicEvent, events: list[QuicEvent]) -> None:
        """Stream events wait until the handshake is known to be over (see module docstring)."""
        (events if conn.handshake_done else self._held.setdefault(conn.conn_id, [])).append(event)

    def _release(self, conn: ConnState, ts_ns: int, events: list[QuicEvent]) -> None:
        if not conn.handshake_done:
            conn.handshake_done = True
            events.append(QuicHandshakeDone(conn_id=conn.conn_id, ts_ns=ts_ns,
                                            version=conn.version or 0, alpn=conn.alpn,
                                            cipher_suite=conn.cipher_suite,
                                            server_params=conn.server_params))
        events.extend(self._held.pop(conn.conn_id, ()))
