"""Per-connection QUIC state: keys and packet numbers, reassembly, TLS messages in CRYPTO frames.

* :class:`ConnState`: one connection's keys per direction and space (candidate cipher suites
  until one authenticates, 1-RTT key generations), largest packet numbers per space and
  direction, reassembly buffers and coverage counts; :func:`try_open` removes protection.
* :class:`Reassembler`: CRYPTO and STREAM data by offset (RFC 9000 §2.2, §19.6, §19.8), delivered
  in order; duplicates dropped, and where ranges overlap the bytes that arrived first win (the
  RFC requires identical bytes; a peer that lies does not get to rewrite what was delivered).
* :class:`HandshakeReader` and the ClientHello / ServerHello / EncryptedExtensions parsers (RFC
  8446 §4) with the QUIC transport parameters extension (RFC 9001 §8.2, RFC 9000 §18). aioquic's
  ``tls.pull_client_hello`` / ``packet.pull_quic_transport_parameters`` are endpoint parsers:
  they raise TLS alerts (not ``ValueError``) on what an endpoint must refuse (a ClientHello
  whose legacy_version is not 1.2, pre_shared_key not last, a parameter length mismatch) and
  drop unknown transport parameter ids, where an observer wants every hello read as sent and
  the GREASE and vendor parameter ids listed. So the parser here is ~150 lines of our own.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from archcmp.protocols.quic_packets import (
    MalformedPacket,
    PacketKeys,
    decrypt_payload,
    expand_packet_number,
    initial_keys,
    next_generation,
    remove_header_protection,
)

__all__ = [
    "ClientHelloInfo",
    "ConnState",
    "Endpoint",
    "QuicCoverage",
    "Reassembler",
    "SpaceCoverage",
    "TransportParameters",
]

Endpoint = tuple[str, int]
"""(IP address as text, UDP port)."""

#: Out-of-order bytes held per CRYPTO or STREAM byte stream before more are dropped (counted as
#: ``quic.stream.buffer_full``): 16 MiB is the largest per-stream flow-control window Chromium
#: grants (its default ``initial_max_stream_data_bidi_local`` is 6 MiB), so a real peer cannot
#: have more in flight. Candidate for ``archcmp.limits``.
MAX_REASSEMBLY_BYTES = 16 * 1024 * 1024
#: TLS handshake bytes kept per space and direction; certificate chains stay under 64 KiB.
MAX_HANDSHAKE_BYTES = 256 * 1024


# ---------------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportParameters:
    """A few of an endpoint's QUIC transport parameters (RFC 9000 §18.2); None = absent."""

    max_idle_timeout: int | None = None
    """Milliseconds."""
    max_udp_payload_size: int | None = None
    initial_max_data: int | None = None
    initial_max_stream_data_bidi_local: int | None = None
    initial_max_stream_data_bidi_remote: int | None = None
    initial_max_stream_data_uni: int | None = None
    initial_max_streams_bidi: int | None = None
    initial_max_streams_uni: int | None = None
    active_connection_id_limit: int | None = None
    max_datagram_frame_size: int | None = None
    """RFC 9221 §3: present when the endpoint accepts DATAGRAM frames."""
    disable_active_migration: bool = False
    other: tuple[int, ...] = ()
    """Ids of the other parameters in wire order (GREASE ``31*N+27``, vendor ids such as
    Google's 0x4752 version info, ``version_information`` 0x11)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHelloInfo:
    client_random: bytes
    sni: str | None
    alpn: tuple[str, ...]
    """ALPN protocols offered, in the client's order."""
    tls_versions: tuple[int, ...]
    """supported_versions extension (0x0304 = TLS 1.3), GREASE included as sent."""
    cipher_suites: tuple[int, ...]
    transport_parameters: TransportParameters | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpaceCoverage:
    space: str
    """``initial``, ``0rtt``, ``handshake`` or ``1rtt``."""
    decrypted: int
    total: int
    reasons: tuple[tuple[str, int], ...] = ()
    """Why the rest were not: ``no_keys``, ``unknown_version``, ``missing_initial``,
    ``corrupt`` — each with its packet count, sorted by reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicCoverage:
    """Per-connection decryption coverage, emitted by ``finish`` for every connection."""

    conn_id: int
    client: Endpoint
    server: Endpoint
    version: int | None
    sni: str | None
    alpn: str | None
    """Selected ALPN when the handshake was decrypted, else the single offered one, else None."""
    spaces: tuple[SpaceCoverage, ...]
    frames: tuple[tuple[str, int], ...] = ()
    """Frames decoded, by type name (``STREAM``, ``CRYPTO``, ``ACK`` …), sorted by name."""
    retry: bool = False
    version_negotiation: tuple[int, ...] = ()
    """Versions a Version Negotiation packet offered, when one was seen."""
    orphan: bool = False
    """Short-header packets no Initial introduced: they cannot be keyed (``missing_initial``)."""
    padding_tails: int = 0
    """Datagrams whose coalesced packets are followed by zero padding (RFC 9000 §14.1). tshark
    4.0 counts each such tail as one more (undecryptable) QUIC packet."""


# ---------------------------------------------------------------------------------------------
# Reassembly


@dataclass(slots=True)
class Reassembler:
    """One byte stream put back in order by offset; overlapping bytes: first arrival wins."""

    limit: int = MAX_REASSEMBLY_BYTES
    delivered: int = 0
    """Bytes delivered in order so far (the next expected offset)."""
    final_size: int | None = None
    fin_delivered: bool = False
    buffered: int = 0
    _starts: list[int] = field(default_factory=list)
    _chunks: dict[int, bytes] = field(default_factory=dict)

    def add(self, offset: int, data: bytes) -> tuple[list[tuple[int, bytes]], bool]:
        """Add a range; return the (offset, bytes) now contiguous, and whether any was dropped."""
        start, end = max(offset, self.delivered), offset + len(data)
        dropped = False
        if start < end:
            if start == self.delivered and (not self._starts or self._starts[0] >= end):
                ready = [(start, data[start - offset :])]
                self.delivered = end
                return self._drain(ready), False
            dropped = self._insert(offset, data, start, end)
        return self._drain([]), dropped

    def _insert(self, offset: int, data: bytes, start: int, end: int) -> bool:
        starts, chunks = self._starts, self._chunks
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0:
            prev_end = starts[i] + len(chunks[starts[i]])
            start = max(start, prev_end)
        i = bisect.bisect_left(starts, start)
        while start < end:
            nxt = starts[i] if i < len(starts) else end
            piece_end = min(nxt, end)
            if start < piece_end:
                if self.buffered + piece_end - start > self.limit:
                    return True
                starts.insert(i, start)
                chunks[start] = data[start - offset : piece_end - offset]
                self.buffered += piece_end - start
                i += 1
            if nxt >= end:
                break
            start = max(start, nxt + len(chunks[nxt]))
            i += 1
        return False

    def _drain(self, ready: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        starts, chunks = self._starts, self._chunks
        while starts and starts[0] <= self.delivered:
            begin = starts.pop(0)
            chunk = chunks.pop(begin)
            self.buffered -= len(chunk)
            chunk_end = begin + len(chunk)
            if chunk_end > self.delivered:
                ready.append((self.delivered, chunk[self.delivered - begin :]))
                self.delivered = chunk_end
        return ready

    @property
    def has_gap(self) -> bool:
        return bool(self._starts) or (self.final_size is not None
                                      and self.delivered < self.final_size)


# ---------------------------------------------------------------------------------------------
# TLS handshake messages (RFC 8446 §4) inside CRYPTO frames


class _Reader:
    """Bounds-checked big-endian reads; running off the end raises ``ValueError``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise ValueError("TLS message truncated")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> _Reader:
        n = self.uint(length_bytes)
        sub = _Reader(self.data, self.pos, self.pos + n)
        if sub.end > self.end:
            raise ValueError("TLS vector truncated")
        self.pos += n
        return sub

    def rest(self) -> bytes:
        return self.take(self.end - self.pos)

    def more(self) -> bool:
        return self.pos < self.end

    def varint(self) -> int:
        first = self.data[self.pos] if self.pos < self.end else 0
        return self.uint(1 << (first >> 6)) & ((1 << (8 * (1 << (first >> 6)) - 2)) - 1)


# https://www.rfc-editor.org/rfc/rfc9000#section-18.2
_PARAM_INTS = {
    0x01: "max_idle_timeout", 0x03: "max_udp_payload_size", 0x04: "initial_max_data",
    0x05: "initial_max_stream_data_bidi_local", 0x06: "initial_max_stream_data_bidi_remote",
    0x07: "initial_max_stream_data_uni", 0x08: "initial_max_streams_bidi",
    0x09: "initial_max_streams_uni", 0x0E: "active_connection_id_limit",
    0x20: "max_datagram_frame_size",
}
EXT_SNI, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0x0000, 0x0010, 0x002B
EXT_QUIC_PARAMS, EXT_QUIC_PARAMS_DRAFT = 0x0039, 0xFFA5  # RFC 9001 §8.2; drafts ≤ 32
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")  # RFC 8446 §4.1.3


def parse_transport_parameters(data: bytes) -> TransportParameters:
    """The quic_transport_parameters extension body: (varint id, varint length, value)*."""
    reader = _Reader(data)
    values: dict[str, int] = {}
    other: list[int] = []
    disable_migration = False
    while reader.more():
        pid = reader.varint()
        value = _Reader(reader.take(reader.varint()))
        name = _PARAM_INTS.get(pid)
        if name is not None and value.more():
            values[name] = value.varint()
        elif pid == 0x0C:  # disable_active_migration: zero-length flag
            disable_migration = True
        else:
            other.append(pid)
    return TransportParameters(**values, disable_active_migration=disable_migration,
                               other=tuple(other))


def _extensions(reader: _Reader) -> dict[int, _Reader]:
    """Extensions by type; the first of a repeated type wins (a repeat is a TLS error anyway)."""
    found: dict[int, _Reader] = {}
    if not reader.more():
        return found
    exts = reader.vector(2)
    while exts.more():
        ext_type = exts.uint(2)
        found.setdefault(ext_type, exts.vector(2))
    return found


def _alpn(ext: _Reader) -> tuple[str, ...]:
    """RFC 7301 §3.1: a 2-byte-length list of 1-byte-length protocol names."""
    names = ext.vector(2)
    out = []
    while names.more():
        out.append(names.vector(1).rest().decode("ascii", "replace"))
    return tuple(out)


def _params(exts: dict[int, _Reader]) -> TransportParameters | None:
    ext = exts.get(EXT_QUIC_PARAMS) or exts.get(EXT_QUIC_PARAMS_DRAFT)
    return parse_transport_parameters(ext.rest()) if ext is not None else None


def parse_client_hello(body: bytes) -> ClientHelloInfo:
    """ClientHello body (RFC 8446 §4.1.2); raises ``ValueError`` when truncated."""
    reader = _Reader(body)
    reader.take(2)  # legacy_version
    client_random = reader.take(32)
    reader.vector(1)  # legacy_session_id (empty in QUIC, RFC 9001 §8.4)
    suites_vec = reader.vector(2).rest()
    suites = tuple(int.from_bytes(suites_vec[i : i + 2], "big")
                   for i in range(0, len(suites_vec) - 1, 2))
    reader.vector(1)  # legacy_compression_methods
    exts = _extensions(reader)
    sni = None
    if (ext := exts.get(EXT_SNI)) is not None:
        names = ext.vector(2)
        while names.more():
            name_type, name = names.uint(1), names.vector(2).rest()
            if name_type == 0:  # host_name, RFC 6066 §3
                sni = name.decode("ascii", "replace")
                break
    alpn = _alpn(ext) if (ext := exts.get(EXT_ALPN)) is not None else ()
    versions: tuple[int, ...] = ()
    if (ext := exts.get(EXT_SUPPORTED_VERSIONS)) is not None:
        raw = ext.vector(1).rest()
        versions = tuple(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2))
    return ClientHelloInfo(client_random=client_random, sni=sni, alpn=alpn,
                           tls_versions=versions, cipher_suites=suites,
                           transport_parameters=_params(exts))


def parse_server_hello(body: bytes) -> tuple[int, bool]:
    """(cipher suite, is HelloRetryRequest) from a ServerHello body (RFC 8446 §4.1.3)."""
    reader = _Reader(body)
    reader.take(2)
    server_random = reader.take(32)
    reader.vector(1)
    return reader.uint(2), server_random == HELLO_RETRY_RANDOM


def parse_encrypted_extensions(body: bytes) -> tuple[str | None, TransportParameters | None]:
    """(selected ALPN, server transport parameters) from EncryptedExtensions (RFC 8446 §4.3.1)."""
    exts = _extensions(_Reader(body))
    alpn = _alpn(ext) if (ext := exts.get(EXT_ALPN)) is not None else ()
    return (alpn[0] if alpn else None), _params(exts)


# Handshake message types (RFC 8446 §4).
CLIENT_HELLO, SERVER_HELLO, ENCRYPTED_EXTENSIONS, FINISHED = 1, 2, 8, 20


@dataclass(slots=True)
class HandshakeReader:
    """Whole TLS handshake messages from one direction's in-order CRYPTO bytes in one space."""

    crypto: Reassembler = field(default_factory=lambda: Reassembler(limit=MAX_HANDSHAKE_BYTES))
    _buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False

    def add(self, offset: int, data: bytes) -> list[tuple[int, bytes]]:
        """Add a CRYPTO frame; return the (msg_type, body) messages it completed."""
        chunks, dropped = self.crypto.add(offset, data)
        self.overflow |= dropped
        for _offset, chunk in chunks:
            self._buffer += chunk
        messages = []
        buf = self._buffer
        while len(buf) >= 4:
            length = int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + length:
                break
            messages.append((buf[0], bytes(buf[4 : 4 + length])))
            del buf[: 4 + length]
        if len(buf) > MAX_HANDSHAKE_BYTES:
            self.overflow = True
            buf.clear()
        return messages

    @property
    def pending(self) -> bool:
        """Bytes of an incomplete message, or data past a gap, are held."""
        return bool(self._buffer) or self.crypto.has_gap


# ---------------------------------------------------------------------------------------------
# Per-connection state: keys, packet numbers, reassembly, coverage counts

SPACES = ("initial", "0rtt", "handshake", "1rtt")
# Packet-number space of each packet kind (RFC 9000 §12.3: 0-RTT and 1-RTT share one).
_PN_SPACE = {"initial": "initial", "handshake": "handshake", "0rtt": "app", "1rtt": "app"}


@dataclass(frozen=True, slots=True)
class Opened:
    keys: PacketKeys
    packet_number: int
    payload: bytes


def try_open(keys: PacketKeys, packet: bytes, pn_offset: int, largest: int,
             generations: list[PacketKeys] | None = None,
             current: int = 0) -> tuple[Opened, int] | None:
    """Remove header protection, expand the packet number, open the payload.

    ``generations`` (1-RTT only) are the sender's key generations, ``current`` the one in use;
    returns the opened packet and the generation that opened it.
    """
    try:
        header, truncated = remove_header_protection(keys, packet, pn_offset)
    except MalformedPacket:
        return None
    pn = expand_packet_number(truncated, (header[0] & 0x03) + 1, largest)
    if generations is None:
        plain = decrypt_payload(keys.aead, packet, header, pn)
        return (Opened(keys, pn, plain), 0) if plain is not None else None
    # RFC 9001 §6.3: a flipped key phase is the next generation, or a late packet of the
    # previous one; the same phase is the current generation.
    phase = (header[0] >> 2) & 1
    tries = [current] if phase == current % 2 else [current + 1, current - 1]
    for gen in tries:
        if gen < 0:
            continue
        while gen >= len(generations):
            generations.append(next_generation(generations[-1]))
        plain = decrypt_payload(generations[gen].aead, packet, header, pn)
        if plain is not None:
            return Opened(generations[gen], pn, plain), gen
    return None


@dataclass(slots=True, eq=False)
class ConnState:
    """What the tracker knows about one connection (both directions)."""

    conn_id: int
    client: Endpoint
    server: Endpoint
    version: int | None
    original_dcid: bytes
    initial_dcid: bytes
    """The DCID Initial keys come from: the client's first, or the first Retry's SCID."""
    orphan: bool = False
    last_ts: int = 0
    hello: ClientHelloInfo | None = None
    seen_emitted: bool = False
    cipher_suite: int | None = None
    alpn: str | None = None
    server_params: TransportParameters | None = None
    handshake_done: bool = False
    closed: bool = False
    retry: bool = False
    retry_dcids: list[bytes] = field(default_factory=list)
    vn_versions: tuple[int, ...] = ()
    padding_tails: int = 0
    cid_len: dict[bool, int] = field(default_factory=dict)
    """CID length addressing each side (key: addresses the server)."""
    largest: dict[tuple[bool, str], int] = field(default_factory=dict)
    keys: dict[tuple[bool, str], list[PacketKeys]] = field(default_factory=dict)
    """Candidate keys per (from client, space); one entry once a packet authenticated."""
    generations: dict[bool, list[PacketKeys]] = field(default_factory=dict)
    current_gen: dict[bool, int] = field(default_factory=dict)
    initial_cache: dict[tuple[bytes, int], tuple[PacketKeys, PacketKeys]] = field(
        default_factory=dict)
    crypto: dict[tuple[bool, str], HandshakeReader] = field(default_factory=dict)
    streams: dict[tuple[int, bool], Reassembler] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    decrypted: dict[str, int] = field(default_factory=dict)
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)

    def initial_candidates(self, version: int, from_client: bool) -> list[PacketKeys]:
        """Initial keys (RFC 9001 §5.2) from every DCID the client may be using."""
        out = []
        for dcid in dict.fromkeys((self.initial_dcid, self.original_dcid, *self.retry_dcids)):
            pair = self.initial_cache.get((dcid, version))
            if pair is None:
                pair = self.initial_cache[(dcid, version)] = initial_keys(dcid, version)
            out.append(pair[0] if from_client else pair[1])
        return out

    def open(self, candidates: list[PacketKeys], packet: bytes, pn_offset: int,
             from_client: bool, space: str) -> Opened | None:
        """Decrypt with the first candidate that authenticates; remember what worked."""
        pn_key = (from_client, _PN_SPACE[space])
        largest = self.largest.get(pn_key, -1)
        for keys in candidates:
            gens = None
            current = 0
            if space == "1rtt":
                gens = self.generations.get(from_client)
                if gens is None or gens[0] is not keys:
                    gens = [keys]
                current = self.current_gen.get(from_client, 0)
            result = try_open(keys, packet, pn_offset, largest, gens, current)
            if result is None:
                continue
            opened, gen = result
            if space != "initial":
                self.keys[(from_client, space)] = [keys]  # the cipher suite is settled
            if gens is not None:
                self.generations[from_client] = gens
                self.current_gen[from_client] = max(gen, current)
            self.largest[pn_key] = max(largest, opened.packet_number)
            return opened
        return None

    def count(self, space: str, reason: str | None) -> None:
        """One packet of ``space``: decrypted (``reason`` None) or not, and why."""
        self.total[space] = self.total.get(space, 0) + 1
        if reason is None:
            self.decrypted[space] = self.decrypted.get(space, 0) + 1
        else:
            self.reasons[(space, reason)] = self.reasons.get((space, reason), 0) + 1

    def coverage(self) -> QuicCoverage:
        """The connection's decryption coverage record."""
        spaces = tuple(
            SpaceCoverage(space=space, decrypted=self.decrypted.get(space, 0),
                          total=self.total.get(space, 0),
                          reasons=tuple(sorted((r, n) for (s, r), n in self.reasons.items()
                                               if s == space)))
            for space in SPACES)
        hello = self.hello
        alpn = self.alpn or (hello.alpn[0] if hello and len(hello.alpn) == 1 else None)
        return QuicCoverage(conn_id=self.conn_id, client=self.client, server=self.server,
                            version=self.version, sni=hello.sni if hello else None, alpn=alpn,
                            spaces=spaces, frames=tuple(sorted(self.frames.items())),
                            retry=self.retry, version_negotiation=self.vn_versions,
                            orphan=self.orphan, padding_tails=self.padding_tails)
