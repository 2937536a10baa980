"""How much of each captured frame ``archcmp redact`` keeps: headers, plus the handshakes
every on-path observer sees in the clear.

Each frame keeps its link, IP and TCP/UDP headers (ICMP: 8 bytes); the rest is cut,
snaplen-style, by :mod:`archcmp.redact_pcap`. Two exceptions keep what is public anyway,
because it is what lets archcmp still list connections (SNI, ALPN offered, TLS version,
cipher) in a capture without payloads:

- TCP: the leading TLS records of content type handshake (22), per direction, up to the first
  record of another type (ChangeCipherSpec, alert, application data). In TLS 1.3 that is the
  ClientHello and the ServerHello (RFC 8446 §2: everything after is encrypted); in TLS 1.2
  the whole handshake, which is cleartext there (certificates included) up to
  ChangeCipherSpec. Segments are followed by sequence number; a gap or reordering ends the
  kept prefix of that direction (never the reverse: bytes are only ever kept, when in doubt,
  less).
- UDP: QUIC Initial packets (RFC 9000 §17.2.2), whose protection keys derive from the
  public Destination Connection ID (RFC 9001 §5.2), so their CRYPTO frames (ClientHello,
  ServerHello) are readable by anyone; also Version Negotiation and Retry packets, which
  are unprotected. Coalesced Handshake and 0-RTT packets and all short-header packets are
  cut.

Link types archcmp does not decode keep nothing; non-IP frames (ARP, LLDP) keep their link
header; IP fragments keep their IP headers. Frames must come in capture order: TCP directions
are followed from segment to segment. Cutting is idempotent: run over its own output, the
cutter keeps every byte it kept the first time, which the re-scan relies on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# The link layer is archcmp's own decoder table: one place in archcmp knows Ethernet, SLL,
# NULL/LOOP and raw IP, and what it returns for frames that carry no IP.
from archcmp.ingest.packets import _CUT, _LINK_DECODERS

__all__ = ["PayloadCutter"]

#: Link header length by LINKTYPE, for frames that carry no IP (ARP, LLDP, …): kept, the rest
#: cut. Link types archcmp does not decode keep nothing at all.
_LINK_HEADER = {0: 4, 1: 14, 12: 0, 14: 0, 101: 0, 108: 4, 113: 16, 228: 0, 229: 0, 276: 20}
_U16 = struct.Struct("!H")
_TCP = struct.Struct("!HHIIBB")  # RFC 9293 §3.1: ports, seq, ack, data offset, flags
_SYN, _FIN, _RST = 0x02, 0x01, 0x04
_TLS_HANDSHAKE = 22  # RFC 8446 §5.1 ContentType.handshake
#: RFC 8446 §5.1: a record's length never exceeds 2^14 (+256 for TLSCiphertext); TLS 1.2 allows
#: +2048 (RFC 5246 §6.2.3). A larger one means this is not TLS.
_MAX_TLS_RECORD = 2**14 + 2048
#: A cleartext handshake bigger than this is not one (TLS 1.2 certificate chains run to ~20 KB).
_MAX_HANDSHAKE = 256 * 1024
#: TCP directions followed at once; past it the table is reset (a long capture's old flows are
#: long past their handshake, so this costs nothing real).
_MAX_FLOWS = 200_000
_QUIC_V1, _QUIC_V2 = 0x00000001, 0x6B3343CF  # RFC 9000, RFC 9369
#: IPv6 extension headers (RFC 8200 §4) in 8-octet units, and AH (RFC 4302 §2.2) in 4-octet.
_IPV6_EXT, _IPV6_AH, _IPV6_FRAGMENT = frozenset({0, 43, 60, 135, 139, 140}), 51, 44


@dataclass(slots=True)
class _TlsPrefix:
    """One TCP direction: how far its leading cleartext TLS handshake records reach."""

    start: int
    """Sequence number of the direction's first payload byte."""
    fed: int = 0
    """Bytes seen in order from ``start``."""
    end: int = 0
    """Bytes from ``start`` known to belong to handshake records: these are kept."""
    header: bytes = b""
    body_left: int = 0
    closed: bool = False

    def feed(self, data: bytes) -> None:
        """Follow the record framing (RFC 8446 §5.1: type, version, 16-bit length) over
        ``data``; the first record that is not a handshake record ends the prefix."""
        i, size = 0, len(data)
        while i < size and not self.closed:
            if self.body_left:
                take = min(self.body_left, size - i)
                i += take
                self.body_left -= take
                continue
            need = 5 - len(self.header)
            self.header += data[i : i + need]
            i += min(need, size - i)
            if len(self.header) < 5:
                break
            ctype, major, minor = self.header[0], self.header[1], self.header[2]
            length = int.from_bytes(self.header[3:5], "big")
            end = self.fed + i + length
            if (ctype != _TLS_HANDSHAKE or major != 3 or minor > 4 or length > _MAX_TLS_RECORD
                    or end > _MAX_HANDSHAKE):
                self.closed = True
                break
            self.end, self.body_left, self.header = end, length, b""
        self.fed += size


class PayloadCutter:
    """How many captured bytes of each frame to keep (see the module docstring).

    Stateful: TCP directions are followed from packet to packet, so frames must be given in
    capture order. Run twice over the same frames, the second run keeps all the first kept:
    the re-scan relies on that.
    """

    def __init__(self) -> None:
        self._tcp: dict[tuple[bytes, int, bytes, int], _TlsPrefix] = {}

    def keep(self, linktype: int, data: bytes) -> int:
        link = _LINK_DECODERS.get(linktype)
        if link is None:
            return 0
        kind, value = link(data)
        if kind == 4:
            kept = self._ipv4(data, value)
        elif kind == 6:
            kept = self._ipv6(data, value)
        elif kind == _CUT:
            kept = len(data)  # the frame ends inside its link header: there is nothing more
        else:
            kept = _LINK_HEADER.get(linktype, 0)
        return min(kept, len(data))

    def _ipv4(self, data: bytes, o: int) -> int:
        """RFC 791 §3.1; fragments keep the IP header only."""
        if len(data) < o + 20:
            return len(data)
        vihl = data[o]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return o + 20
        total = _U16.unpack_from(data, o + 2)[0]
        end = min(o + total if total else len(data), len(data))
        if _U16.unpack_from(data, o + 6)[0] & 0x3FFF:  # MF or a fragment offset
            return o + ihl
        return self._transport(data[o + 9], data, o + ihl, end, data[o + 12 : o + 20])

    def _ipv6(self, data: bytes, o: int) -> int:
        """RFC 8200 §3, walking extension headers (§4); fragments keep the headers only."""
        if len(data) < o + 40:
            return len(data)
        if data[o] >> 4 != 6:
            return o + 40
        length = _U16.unpack_from(data, o + 4)[0]
        nxt, pos = data[o + 6], o + 40
        end = min(pos + length if length else len(data), len(data))
        for _ in range(16):
            if nxt in _IPV6_EXT or nxt == _IPV6_AH:
                if pos + 2 > end:
                    return pos
                size = (data[pos + 1] + 2) * 4 if nxt == _IPV6_AH else (data[pos + 1] + 1) * 8
                nxt, pos = data[pos], pos + size
            elif nxt == _IPV6_FRAGMENT:
                if pos + 8 > end or _U16.unpack_from(data, pos + 2)[0] & 0xFFF9:
                    return pos + 8  # a real fragment (offset or M set): headers only
                nxt, pos = data[pos], pos + 8  # an atomic fragment (RFC 6946) is whole
            else:
                break
        else:
            return pos
        if pos > end:
            return end
        return self._transport(nxt, data, pos, end, data[o + 8 : o + 40])

    def _transport(self, proto: int, data: bytes, start: int, end: int, addrs: bytes) -> int:
        if proto == 6:  # TCP
            if end - start < 20:
                return end
            sport: int
            dport: int
            seq: int
            offset: int
            flags: int
            sport, dport, seq, _ack, offset, flags = _TCP.unpack_from(data, start)
            payload_start = start + max(20, (offset >> 4) * 4)
            if payload_start >= end:
                return payload_start
            half = len(addrs) // 2
            key = (addrs[:half], sport, addrs[half:], dport)
            return payload_start + self._tls(key, seq, flags, data[payload_start:end])
        if proto == 17:  # UDP (RFC 768)
            if end - start < 8:
                return end
            length = _U16.unpack_from(data, start + 4)[0]
            stop = min(start + length, end) if length >= 8 else end
            return start + 8 + _quic_keep(data[start + 8 : stop])
        if proto in (1, 58):  # ICMP, ICMPv6: type, code, checksum, 4 bytes of header data
            return min(start + 8, end)
        return start

    def _tls(self, key: tuple[bytes, int, bytes, int], seq: int, flags: int,
             payload: bytes) -> int:
        state = self._tcp.get(key)
        if flags & _SYN:
            seq = (seq + 1) & 0xFFFFFFFF  # data on a SYN (TCP Fast Open) starts after it
            if state is None or state.start != seq:
                state = self._remember(key, _TlsPrefix(start=seq))
        elif state is None:
            if not payload:
                return 0
            # The capture began mid-connection: this is the first byte we know of. Unless it
            # starts a handshake record, the prefix closes at once.
            state = self._remember(key, _TlsPrefix(start=seq))
        kept = 0
        if payload:
            rel = (seq - state.start) & 0xFFFFFFFF
            if rel < 2**31:
                if rel == state.fed and not state.closed:
                    state.feed(payload)
                elif rel > state.fed:
                    state.closed = True  # a gap: the framing can no longer be followed
                kept = max(0, min(len(payload), state.end - rel))
        if flags & (_FIN | _RST):
            self._tcp.pop(key, None)
        return kept

    def _remember(self, key: tuple[bytes, int, bytes, int], state: _TlsPrefix) -> _TlsPrefix:
        if len(self._tcp) >= _MAX_FLOWS:
            self._tcp.clear()
        self._tcp[key] = state
        return state


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """RFC 9000 §16 variable-length integer at ``pos``: (value, position after), or None."""
    if pos >= len(data):
        return None
    size = 1 << (data[pos] >> 6)
    if pos + size > len(data):
        return None
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


def _quic_keep(payload: bytes) -> int:
    """Bytes of a UDP payload that are QUIC Initial (or other unprotected) packets, from the
    start: long headers (RFC 9000 §17.2) walked by their Length field while they are
    Initial; a Handshake, 0-RTT or short-header packet (or anything else) ends it."""
    pos = keep = 0
    size = len(payload)
    while pos + 7 <= size and payload[pos] & 0x80:
        version = int.from_bytes(payload[pos + 1 : pos + 5], "big")
        if version == 0:
            return size  # §17.2.1 Version Negotiation: a list of versions, unprotected
        if version not in (_QUIC_V1, _QUIC_V2):
            break
        ptype = (payload[pos] >> 4) & 0x03
        # RFC 9369 §3.2 renumbers the v2 long packet types: Initial 1, Retry 0.
        if ptype == (0 if version == _QUIC_V2 else 3):
            return size  # §17.2.5 Retry: a token and an integrity tag, unprotected
        if ptype != (1 if version == _QUIC_V2 else 0):
            break
        p = pos + 6 + payload[pos + 5]  # past the Destination Connection ID
        if p >= size:
            break
        p += 1 + payload[p]  # past the Source Connection ID
        token = _varint(payload, p)
        if token is None:
            break
        length = _varint(payload, token[1] + token[0])
        if length is None or length[1] + length[0] > size:
            break
        pos = keep = length[1] + length[0]
    return keep
