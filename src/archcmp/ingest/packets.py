"""Decode captured frames down to TCP segments and UDP datagrams: link layer → IP → transport.

Link types (tcpdump.org LINKTYPE registry), one entry each in :data:`_LINK_DECODERS`:
Ethernet (1) with 802.1Q / 802.1ad (QinQ) tags, Linux cooked capture SLL (113) and SLL2 (276),
BSD loopback NULL (0, AF value in the capturing host's byte order) and LOOP (108, network
order), and raw IP (101; 12 and 14, which some platforms use for it; 228 IPv4; 229 IPv6).

Network: IPv4 (RFC 791: options skipped, fragments reassembled) and IPv6 (RFC 8200: extension
headers walked, fragments reassembled). Transport: TCP (RFC 9293 §3.1 header; options skipped)
and UDP (RFC 768). Checksums are not verified: loopback and offloading NICs capture packets
before the checksum is filled in, so checking them would reject good captures (Wireshark leaves
checksum validation off by default for the same reason).

Fragments need state across frames, so reassembly lives in :class:`Defragmenter`; pass one to
:func:`decode_frame` to reassemble, or none to skip every fragment (counted
``ip.fragment.skipped``: a first fragment alone would hand the TCP reassembler a short segment).

Warnings (counted in :class:`~archcmp.diagnostics.Diagnostics`):

- ``packet.linktype.unsupported``, ``packet.ethertype.unsupported`` (e.g. ARP),
  ``packet.protocol.unsupported`` (e.g. ICMP, ESP): frames that carry no TCP or UDP;
- ``packet.frame.truncated``: headers cut by the snap length (frame dropped) or a payload cut
  short (payload kept as captured; the TCP reassembler sees the missing bytes as a gap);
- ``packet.ipv4.malformed``, ``packet.ipv6.malformed``, ``packet.tcp.malformed``,
  ``packet.udp.malformed``: impossible header fields;
- ``ip.fragment.skipped`` (no defragmenter), ``ip.fragment.overlap`` (RFC 5722: the datagram is
  dropped), ``ip.fragment.incomplete`` (fragments that never completed a datagram).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.pcap import Frame

__all__ = [
    "MAX_PENDING_FRAGMENTED_DATAGRAMS",
    "Defragmenter",
    "Endpoint",
    "TcpSegment",
    "UdpDatagram",
    "decode_frame",
]

#: ``("2001:db8::1", 443)``: the address as compressed text (:mod:`ipaddress`), and the port.
Endpoint = tuple[str, int]

#: Datagrams being reassembled at once (the oldest is given up past it). Linux keeps up to
#: 4 MiB of fragments (net.ipv4.ipfrag_high_thresh), i.e. a few thousand datagrams; 1024
#: incomplete datagrams in one web capture means something is wrong, not slow.
MAX_PENDING_FRAGMENTED_DATAGRAMS = 1024

# TCP flags (RFC 9293 §3.1 Control Bits; NS from RFC 3540, bit 8).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpSegment:
    """One TCP segment (RFC 9293 §3.1)."""

    ts_ns: int
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    """Control bits: ``FIN`` 0x01, ``SYN`` 0x02, ``RST`` 0x04, ``PSH`` 0x08, ``ACK`` 0x10 …"""
    window: int
    payload: bytes
    frame: int
    """The :attr:`~archcmp.ingest.pcap.Frame.index` it came from (the last fragment's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpDatagram:
    """One UDP datagram (RFC 768)."""

    ts_ns: int
    src: Endpoint
    dst: Endpoint
    payload: bytes
    frame: int


Transport = TcpSegment | UdpDatagram

_U16 = struct.Struct("!H")
#: RFC 791 §3.1: version/IHL, TOS, total length, identification, flags/fragment offset, TTL,
#: protocol, header checksum, source, destination.
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window (RFC 9293 §3.1)
_UDP = struct.Struct("!HHH")  # ports, length (RFC 768)

_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
#: 802.1Q C-tag, 802.1ad S-tag, and the pre-standard QinQ types: 4 bytes (TCI, type) each.
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_MAX_VLAN_TAGS = 8

_PROTO_TCP, _PROTO_UDP = 6, 17


# --- address text ---------------------------------------------------------------------------

_ADDRESS_CACHE: dict[bytes, str] = {}
_ADDRESS_CACHE_MAX = 65_536


def _address(raw: bytes) -> str:
    """Compressed text of a 4- or 16-byte address (RFC 5952 for IPv6), cached: a capture has
    few distinct addresses, and :mod:`ipaddress` costs microseconds per call."""
    text = _ADDRESS_CACHE.get(raw)
    if text is None:
        if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_MAX:
            _ADDRESS_CACHE.clear()
        ip = ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)
        text = _ADDRESS_CACHE[raw] = ip.compressed
    return text


# --- link layer: data -> (kind, value) ------------------------------------------------------
# kind 4 or 6: an IP packet starts at offset ``value``; _ETHERTYPE / _FAMILY: not IP, ``value``
# says what it is; _CUT: the frame ends inside the link header.

_ETHERTYPE, _FAMILY, _CUT = 0, 1, -1
_LinkDecoder = Callable[[bytes], tuple[int, int]]
_ETHERTYPE_VERSION = {_ETH_IPV4: 4, _ETH_IPV6: 6}


def _after_ethertype(data: bytes, ethertype: int, offset: int) -> tuple[int, int]:
    """Skip VLAN tags (IEEE 802.1Q §9.5) starting at the EtherType ``ethertype`` whose payload
    is at ``offset``."""
    tags = 0
    while ethertype in _VLAN_TYPES and tags < _MAX_VLAN_TAGS:
        if len(data) < offset + 4:
            return _CUT, 0
        ethertype = _U16.unpack_from(data, offset + 2)[0]
        offset += 4
        tags += 1
    version = _ETHERTYPE_VERSION.get(ethertype)
    return (version, offset) if version else (_ETHERTYPE, ethertype)


def _ethernet(data: bytes) -> tuple[int, int]:
    """IEEE 802.3 frame: destination, source, EtherType (an 802.3 length ≤ 1500 is not IP)."""
    if len(data) < 14:
        return _CUT, 0
    return _after_ethertype(data, _U16.unpack_from(data, 12)[0], 14)


def _sll(data: bytes) -> tuple[int, int]:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL): 16 bytes, protocol type at offset 14."""
    if len(data) < 16:
        return _CUT, 0
    return _after_ethertype(data, _U16.unpack_from(data, 14)[0], 16)


def _sll2(data: bytes) -> tuple[int, int]:
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): 20 bytes, protocol type at offset 0."""
    if len(data) < 20:
        return _CUT, 0
    return _after_ethertype(data, _U16.unpack_from(data, 0)[0], 20)


#: BSD AF_ values seen in NULL/LOOP headers: AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD,
#: OpenBSD, BSD/OS), 28 (FreeBSD, DragonFly), 30 (Darwin), 10 (Linux) (LINKTYPE_NULL notes).
_AF_VERSION = {2: 4, 24: 6, 28: 6, 30: 6, 10: 6}


def _null(data: bytes) -> tuple[int, int]:
    """LINKTYPE_NULL: a 4-byte AF value in the byte order of the host that captured it. AF
    values fit in 16 bits, so the order whose value is small is the right one."""
    if len(data) < 4:
        return _CUT, 0
    family = int.from_bytes(data[:4], "little")
    if family > 0xFFFF:
        family = int.from_bytes(data[:4], "big")
    version = _AF_VERSION.get(family)
    return (version, 4) if version else (_FAMILY, family)


def _loop(data: bytes) -> tuple[int, int]:
    """LINKTYPE_LOOP (OpenBSD): like NULL, but the AF value is in network byte order."""
    if len(data) < 4:
        return _CUT, 0
    family = int.from_bytes(data[:4], "big")
    version = _AF_VERSION.get(family)
    return (version, 4) if version else (_FAMILY, family)


def _raw(data: bytes) -> tuple[int, int]:
    """Raw IP: the version nibble of the first byte says which."""
    if not data:
        return _CUT, 0
    version = data[0] >> 4
    return (version, 0) if version in (4, 6) else (_ETHERTYPE, 0)


def _raw4(data: bytes) -> tuple[int, int]:
    return 4, 0


def _raw6(data: bytes) -> tuple[int, int]:
    return 6, 0


#: LINKTYPE value → decoder (https://www.tcpdump.org/linktypes.html).
_LINK_DECODERS: dict[int, _LinkDecoder] = {
    0: _null,
    1: _ethernet,
    12: _raw,  # DLT_RAW on most BSDs, when written without LINKTYPE mapping
    14: _raw,  # DLT_RAW on OpenBSD
    101: _raw,
    108: _loop,
    113: _sll,
    228: _raw4,
    229: _raw6,
    276: _sll2,
}


# --- fragments ------------------------------------------------------------------------------

_FragmentKey = tuple[int, bytes, bytes, int, int]  # version, src, dst, protocol, id


@dataclass(slots=True)
class _Pending:
    pieces: dict[int, bytes]  # offset → bytes
    total: int | None  # payload length, known once the last fragment (MF=0) arrived
    first_frame: int


class Defragmenter:
    """Reassembles fragmented IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) datagrams.

    Keyed by (source, destination, protocol, identification); overlapping fragments drop the
    whole datagram (RFC 5722, and RFC 8200 §4.5 for IPv6; Linux does the same for IPv4).
    """

    def __init__(self, diag: Diagnostics) -> None:
        self._diag = diag
        self._pending: dict[_FragmentKey, _Pending] = {}

    def add(
        self, key: _FragmentKey, offset: int, more: bool, data: bytes, frame: int
    ) -> bytes | None:
        """Add one fragment; the whole payload when this one completed it."""
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= MAX_PENDING_FRAGMENTED_DATAGRAMS:
                oldest = next(iter(self._pending))
                self._give_up(oldest, self._pending.pop(oldest))
            pending = self._pending[key] = _Pending(pieces={}, total=None, first_frame=frame)
        end = offset + len(data)
        if not more:
            if pending.total is not None and pending.total != end:
                self._overlap(key, frame)
                return None
            pending.total = end
        for start, piece in pending.pieces.items():
            if start < end and offset < start + len(piece):
                self._overlap(key, frame)
                return None
        pending.pieces[offset] = data
        if pending.total is None:
            return None
        have = 0
        for start in sorted(pending.pieces):
            if start != have:
                return None
            have += len(pending.pieces[start])
        if have != pending.total:
            return None
        del self._pending[key]
        return b"".join(pending.pieces[start] for start in sorted(pending.pieces))

    def finish(self) -> None:
        """Capture end: count the datagrams that never completed."""
        for key, pending in self._pending.items():
            self._give_up(key, pending)
        self._pending.clear()

    def _overlap(self, key: _FragmentKey, frame: int) -> None:
        self._pending.pop(key, None)
        self._diag.warn(
            "ip.fragment.overlap",
            "IP datagrams with overlapping fragments were dropped (RFC 5722)",
            sample=f"frame {frame}",
        )

    def _give_up(self, key: _FragmentKey, pending: _Pending) -> None:
        self._diag.warn(
            "ip.fragment.incomplete",
            "fragmented IP datagrams that never completed were dropped",
            sample=f"frame {pending.first_frame}",
        )


# --- network and transport ------------------------------------------------------------------

#: IPv6 extension headers walked to reach the upper layer (RFC 8200 §4; AH: RFC 4302 §2.2,
#: its length is in 4-octet units minus 2; the rest in 8-octet units not counting the first).
_HOP_BY_HOP, _ROUTING, _FRAGMENT, _AH, _DEST_OPTS, _NO_NEXT = 0, 43, 44, 51, 60, 59
_IPV6_GENERIC_EXT = frozenset({_HOP_BY_HOP, _ROUTING, _DEST_OPTS, 135, 139, 140})
_MAX_IPV6_EXT = 16


def _warn(diag: Diagnostics, code: str, message: str, frame: Frame, detail: str = "") -> None:
    sample = f"frame {frame.index}" + (f": {detail}" if detail else "")
    diag.warn(code, message, sample=sample)


def decode_frame(
    frame: Frame, diag: Diagnostics, *, defrag: Defragmenter | None = None
) -> TcpSegment | UdpDatagram | None:
    """The TCP segment or UDP datagram ``frame`` carries, or None (counted in ``diag`` unless
    it is a fragment that ``defrag`` is still waiting to complete)."""
    data = frame.data
    link = _LINK_DECODERS.get(frame.linktype)
    if link is None:
        _warn(
            diag,
            "packet.linktype.unsupported",
            "frames of unsupported link types were skipped",
            frame,
            f"LINKTYPE {frame.linktype}",
        )
        return None
    kind, value = link(data)
    if kind == 4:
        return _ipv4(frame, data, value, diag, defrag)
    if kind == 6:
        return _ipv6(frame, data, value, diag, defrag)
    if kind == _CUT:
        _warn(
            diag, "packet.frame.truncated", "frames cut before their IP header were skipped", frame
        )
    else:
        what = f"EtherType 0x{value:04x}" if kind == _ETHERTYPE else f"address family {value}"
        _warn(diag, "packet.ethertype.unsupported", "non-IP frames were skipped", frame, what)
    return None


def _ipv4(
    frame: Frame, data: bytes, offset: int, diag: Diagnostics, defrag: Defragmenter | None
) -> Transport | None:
    """RFC 791 §3.1: version/IHL, total length, id, flags/fragment offset, protocol, addresses."""
    if len(data) < offset + 20:
        _warn(
            diag, "packet.frame.truncated", "frames cut before their IP header were skipped", frame
        )
        return None
    vihl, _tos, total, ident, frag, _ttl, protocol, _sum, src, dst = _IPV4.unpack_from(data, offset)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        _warn(
            diag,
            "packet.ipv4.malformed",
            "IPv4 packets with impossible headers were skipped",
            frame,
            f"version/IHL 0x{vihl:02x}",
        )
        return None
    end = offset + total
    if total == 0:
        # TCP segmentation offload: the capture saw the super-packet before the NIC split it,
        # with the length left 0 (Wireshark's ip.tso_support); the frame holds the datagram.
        end = len(data)
    elif total < ihl:
        _warn(
            diag,
            "packet.ipv4.malformed",
            "IPv4 packets with impossible headers were skipped",
            frame,
            f"total length {total} < header length {ihl}",
        )
        return None
    if end > len(data):
        if len(data) < offset + ihl:
            _warn(
                diag,
                "packet.frame.truncated",
                "frames cut before their IP header were skipped",
                frame,
            )
            return None
        _warn(
            diag,
            "packet.frame.truncated",
            "packets cut short by the snap length were kept as captured",
            frame,
            f"{end - len(data)} bytes missing",
        )
        end = len(data)
    payload_start = offset + ihl
    if frag & 0x3FFF:  # MF set or a non-zero fragment offset (RFC 791 §3.2)
        if defrag is None:
            _warn(diag, "ip.fragment.skipped", "IP fragments were skipped (no reassembly)", frame)
            return None
        whole = defrag.add(
            (4, src, dst, protocol, ident),
            (frag & 0x1FFF) * 8,
            bool(frag & 0x2000),
            data[payload_start:end],
            frame.index,
        )
        if whole is None:
            return None
        return _transport(frame, protocol, src, dst, whole, 0, len(whole), diag)
    return _transport(frame, protocol, src, dst, data, payload_start, end, diag)


def _ipv6(
    frame: Frame, data: bytes, offset: int, diag: Diagnostics, defrag: Defragmenter | None
) -> Transport | None:
    """RFC 8200 §3 fixed header, then the extension header chain (§4)."""
    if len(data) < offset + 40:
        _warn(
            diag, "packet.frame.truncated", "frames cut before their IP header were skipped", frame
        )
        return None
    if data[offset] >> 4 != 6:
        _warn(
            diag,
            "packet.ipv6.malformed",
            "IPv6 packets with impossible headers were skipped",
            frame,
            f"version {data[offset] >> 4}",
        )
        return None
    length = _U16.unpack_from(data, offset + 4)[0]
    nxt = data[offset + 6]
    src = data[offset + 8 : offset + 24]
    dst = data[offset + 24 : offset + 40]
    pos = offset + 40
    # Payload length 0 with a Jumbo Payload option (RFC 2675), or a TSO super-packet: the frame
    # holds the packet.
    end = pos + length if length else len(data)
    if end > len(data):
        _warn(
            diag,
            "packet.frame.truncated",
            "packets cut short by the snap length were kept as captured",
            frame,
            f"{end - len(data)} bytes missing",
        )
        end = len(data)
    fragment: tuple[int, bool, int] | None = None
    for _ in range(_MAX_IPV6_EXT):
        if nxt in _IPV6_GENERIC_EXT or nxt == _AH:
            if pos + 2 > end:
                break
            size = (data[pos + 1] + 2) * 4 if nxt == _AH else (data[pos + 1] + 1) * 8
            nxt = data[pos]
            pos += size
        elif nxt == _FRAGMENT:
            # §4.5: next header, reserved, offset (13 bits) | res | M, identification.
            if pos + 8 > end:
                break
            off_m = _U16.unpack_from(data, pos + 2)[0]
            ident = int.from_bytes(data[pos + 4 : pos + 8], "big")
            fragment = ((off_m >> 3) * 8, bool(off_m & 1), ident)
            nxt = data[pos]
            pos += 8
        else:
            break
    else:
        _warn(
            diag,
            "packet.ipv6.malformed",
            "IPv6 packets with impossible headers were skipped",
            frame,
            f"more than {_MAX_IPV6_EXT} extension headers",
        )
        return None
    if pos > end:
        _warn(
            diag,
            "packet.ipv6.malformed",
            "IPv6 packets with impossible headers were skipped",
            frame,
            "extension headers run past the packet",
        )
        return None
    if fragment is not None and (fragment[0] or fragment[1]):
        # An atomic fragment (offset 0, M 0; RFC 6946) is a whole datagram: no reassembly.
        if defrag is None:
            _warn(diag, "ip.fragment.skipped", "IP fragments were skipped (no reassembly)", frame)
            return None
        whole = defrag.add(
            (6, src, dst, nxt, fragment[2]), fragment[0], fragment[1], data[pos:end], frame.index
        )
        if whole is None:
            return None
        return _transport(frame, nxt, src, dst, whole, 0, len(whole), diag)
    return _transport(frame, nxt, src, dst, data, pos, end, diag)


def _transport(
    frame: Frame,
    protocol: int,
    src: bytes,
    dst: bytes,
    data: bytes,
    start: int,
    end: int,
    diag: Diagnostics,
) -> Transport | None:
    if protocol == _PROTO_TCP:
        if end - start < 20:
            _warn(
                diag,
                "packet.frame.truncated",
                "frames cut before their TCP/UDP header were skipped",
                frame,
            )
            return None
        sport, dport, seq, ack, off, flags, window = _TCP.unpack_from(data, start)
        header = (off >> 4) * 4
        if header < 20 or start + header > end:
            _warn(
                diag,
                "packet.tcp.malformed",
                "TCP segments with impossible headers were skipped",
                frame,
                f"data offset {header}",
            )
            return None
        return TcpSegment(
            ts_ns=frame.ts_ns,
            src=(_address(src), sport),
            dst=(_address(dst), dport),
            seq=seq,
            ack=ack,
            flags=((off & 1) << 8) | flags,
            window=window,
            payload=data[start + header : end],
            frame=frame.index,
        )
    if protocol == _PROTO_UDP:
        if end - start < 8:
            _warn(
                diag,
                "packet.frame.truncated",
                "frames cut before their TCP/UDP header were skipped",
                frame,
            )
            return None
        sport, dport, length = _UDP.unpack_from(data, start)
        if length == 0:
            stop = end  # RFC 2675 §4: a jumbogram's UDP length is 0
        elif length < 8:
            _warn(
                diag,
                "packet.udp.malformed",
                "UDP datagrams with impossible lengths were skipped",
                frame,
                f"length {length}",
            )
            return None
        else:
            stop = start + length
            if stop > end:
                _warn(
                    diag,
                    "packet.frame.truncated",
                    "packets cut short by the snap length were kept as captured",
                    frame,
                    f"{stop - end} bytes missing",
                )
                stop = end
        return UdpDatagram(
            ts_ns=frame.ts_ns,
            src=(_address(src), sport),
            dst=(_address(dst), dport),
            payload=data[start + 8 : stop],
            frame=frame.index,
        )
    _warn(
        diag,
        "packet.protocol.unsupported",
        "IP packets other than TCP and UDP were skipped",
        frame,
        f"protocol {protocol}",
    )
    return None
