"""Link layer → IP → TCP/UDP: real packets re-wrapped in every supported link type, IPv6
extension headers and fragments built around real packets, and malformed frames."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.packets import (
    ACK,
    PSH,
    SYN,
    Defragmenter,
    TcpSegment,
    UdpDatagram,
    decode_frame,
)
from archcmp.ingest.pcap import Frame, read_capture

# --- real packets ---------------------------------------------------------------------------


def _frames(path: Path) -> list[Frame]:
    with path.open("rb") as stream:
        return [r for r in read_capture(stream, Diagnostics()) if isinstance(r, Frame)]


@pytest.fixture(scope="module")
def ipv4(shared: Path) -> bytes:
    """A real IPv4/TCP packet with payload (an HTTP request), without its Ethernet header."""
    for frame in _frames(shared / "corpus" / "pcap" / "sv__http1-brotli.pcap"):
        if frame.data[12:14] == b"\x08\x00" and b"GET " in frame.data:
            return frame.data[14:]
    raise AssertionError("no IPv4 request in the sample")


@pytest.fixture(scope="module")
def ipv6(shared: Path) -> bytes:
    """A real IPv6/TCP packet with payload (h2c on ::1:3000), without its Ethernet header."""
    for frame in _frames(shared / "corpus" / "pcap" / "sv__http2-port3000-multistream.pcap"):
        if frame.data[12:14] == b"\x86\xdd" and len(frame.data) > 14 + 40 + 32 + 20:
            return frame.data[14:]
    raise AssertionError("no IPv6 packet with payload in the sample")


def frame(data: bytes, linktype: int, index: int = 7) -> Frame:
    return Frame(
        ts_ns=123, linktype=linktype, data=data, interface=0, orig_len=len(data), index=index
    )


def decode(
    data: bytes, linktype: int, diag: Diagnostics | None = None, defrag: Defragmenter | None = None
) -> TcpSegment | UdpDatagram | None:
    return decode_frame(
        frame(data, linktype), diag if diag is not None else Diagnostics(), defrag=defrag
    )


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


ETH = bytes(6) + bytes.fromhex("020000000001")


def wraps(ip: bytes) -> dict[str, tuple[int, bytes]]:
    """The same IP packet in every supported link-layer encapsulation."""
    version = ip[0] >> 4
    ethertype = b"\x08\x00" if version == 4 else b"\x86\xdd"
    af = 2 if version == 4 else 24
    cases = {
        "ethernet": (1, ETH + ethertype + ip),
        "ethernet+padding": (1, ETH + ethertype + ip + b"\0" * 30),
        "vlan": (1, ETH + b"\x81\x00\x00\x64" + ethertype + ip),
        "qinq": (1, ETH + b"\x88\xa8\x00\x0a\x81\x00\x00\x64" + ethertype + ip),
        # SLL: packet type, ARPHRD, address length, address (8), protocol (LINKTYPE_LINUX_SLL)
        "sll": (113, struct.pack("!HHH8s", 0, 772, 6, bytes(8)) + ethertype + ip),
        "sll+vlan": (
            113,
            struct.pack("!HHH8s", 0, 1, 6, bytes(8)) + b"\x81\x00\x00\x05" + ethertype + ip,
        ),
        # SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address (8)
        "sll2": (276, ethertype + struct.pack("!HIHBB8s", 0, 1, 772, 0, 6, bytes(8)) + ip),
        "null-le": (0, struct.pack("<I", af) + ip),
        "null-be": (0, struct.pack(">I", af) + ip),
        "loop": (108, struct.pack(">I", af) + ip),
        "raw-101": (101, ip),
        "raw-12": (12, ip),
        "raw-14": (14, ip),
        "raw-228/229": (228 if version == 4 else 229, ip),
    }
    if version == 6:
        for family in (28, 30, 10):
            cases[f"null-af{family}"] = (0, struct.pack("<I", family) + ip)
            cases[f"null-af{family}-be"] = (0, struct.pack(">I", family) + ip)
    return cases


@pytest.mark.parametrize("version", [4, 6])
def test_every_link_type_gives_the_same_segment(ipv4: bytes, ipv6: bytes, version: int) -> None:
    ip = ipv4 if version == 4 else ipv6
    reference = decode(ETH + (b"\x08\x00" if version == 4 else b"\x86\xdd") + ip, 1)
    assert isinstance(reference, TcpSegment) and reference.payload
    for name, (linktype, data) in wraps(ip).items():
        diag = Diagnostics()
        assert decode(data, linktype, diag) == reference, name
        assert codes(diag) == {}, name


def test_segment_fields(ipv4: bytes, ipv6: bytes) -> None:
    seg = decode(ipv4, 101)
    assert isinstance(seg, TcpSegment)
    assert seg.payload.startswith(b"GET ")
    assert seg.flags == ACK and not seg.flags & (PSH | SYN)
    assert seg.src == ("172.18.38.179", 52316) and seg.dst == ("172.217.170.68", 443)
    assert seg.seq == 673239186 and seg.ack == 4085487779
    assert seg.frame == 7 and seg.ts_ns == 123
    six = decode(ipv6, 101)
    assert isinstance(six, TcpSegment)
    assert {six.src[0], six.dst[0]} == {"::1"}  # compressed text (RFC 5952)
    assert 3000 in (six.src[1], six.dst[1])


def test_udp_from_a_real_capture(shared: Path) -> None:
    first = _frames(shared / "corpus" / "pcap" / "illustrated-quic__capture.pcap")[0]
    datagram = decode_frame(first, Diagnostics())
    assert isinstance(datagram, UdpDatagram)
    assert datagram.src == ("127.0.0.1", 60220) and datagram.dst == ("127.0.0.1", 8400)
    assert datagram.payload[0] & 0x80  # a QUIC long header
    assert len(datagram.payload) == struct.unpack_from("!H", first.data, 4 + 20 + 4)[0] - 8


# --- IPv4 -----------------------------------------------------------------------------------


def ipv4_with_options(ip: bytes) -> bytes:
    """The packet with 8 bytes of options (NOP NOP + a 6-byte experimental option)."""
    ihl = (ip[0] & 0x0F) * 4
    options = b"\x01\x01\x9e\x06abcd"
    header = bytearray(ip[:ihl] + options)
    header[0] = 0x40 | (len(header) // 4)
    struct.pack_into("!H", header, 2, len(ip) + len(options))
    return bytes(header) + ip[ihl:]


def fragment_ipv4(ip: bytes, sizes: list[int]) -> list[bytes]:
    """Split a datagram's payload into fragments (multiples of 8 bytes; RFC 791 §3.2)."""
    ihl = (ip[0] & 0x0F) * 4
    header, payload = ip[:ihl], ip[ihl:]
    out = []
    offset = 0
    for i, size in enumerate([*sizes, len(payload)]):
        chunk = payload[offset : offset + size] if i < len(sizes) else payload[offset:]
        more = i < len(sizes)
        h = bytearray(header)
        struct.pack_into("!H", h, 2, ihl + len(chunk))
        struct.pack_into("!H", h, 6, (0x2000 if more else 0) | offset // 8)
        out.append(bytes(h) + chunk)
        offset += len(chunk)
        if offset >= len(payload):
            break
    return out


def test_ipv4_options_are_skipped(ipv4: bytes) -> None:
    assert decode(ipv4_with_options(ipv4), 101) == decode(ipv4, 101)


def test_ipv4_fragments_are_reassembled_in_any_order(ipv4: bytes) -> None:
    whole = decode(ipv4, 101)
    pieces = fragment_ipv4(ipv4, [16, 64])
    assert len(pieces) == 3
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        diag = Diagnostics()
        defrag = Defragmenter(diag)
        results = [decode(pieces[i], 101, diag, defrag) for i in order]
        assert results[:-1] == [None, None] and results[-1] == whole
        defrag.finish()
        assert codes(diag) == {}


def test_fragments_without_a_defragmenter_are_counted(ipv4: bytes) -> None:
    diag = Diagnostics()
    assert [decode(p, 101, diag) for p in fragment_ipv4(ipv4, [16])] == [None, None]
    assert codes(diag) == {"ip.fragment.skipped": 2}


def test_overlapping_and_incomplete_fragments(ipv4: bytes) -> None:
    diag = Diagnostics()
    defrag = Defragmenter(diag)
    first, second = fragment_ipv4(ipv4, [16])
    overlapping = bytearray(second)
    struct.pack_into("!H", overlapping, 6, 1)  # offset 8: overlaps the first 16 bytes
    assert decode(first, 101, diag, defrag) is None
    assert decode(bytes(overlapping), 101, diag, defrag) is None
    assert decode(first, 101, diag, defrag) is None  # a new datagram after the drop
    defrag.finish()
    assert codes(diag) == {"ip.fragment.overlap": 1, "ip.fragment.incomplete": 1}


def test_snaplen_cut_payload_is_kept_and_counted(ipv4: bytes) -> None:
    diag = Diagnostics()
    seg = decode(ipv4[:-5], 101, diag)
    full = decode(ipv4, 101)
    assert isinstance(seg, TcpSegment) and isinstance(full, TcpSegment)
    assert seg.payload == full.payload[:-5]
    assert codes(diag) == {"packet.frame.truncated": 1}


def test_tso_zero_total_length_uses_the_frame(ipv4: bytes) -> None:
    tso = bytearray(ipv4)
    struct.pack_into("!H", tso, 2, 0)
    assert decode(bytes(tso), 101) == decode(ipv4, 101)


# --- IPv6 -----------------------------------------------------------------------------------


def with_extensions(ip: bytes, chain: list[tuple[int, bytes]]) -> bytes:
    """Insert extension headers (type, body without the next-header byte) after the fixed
    header (RFC 8200 §4), fixing Next Header fields and Payload Length."""
    nxt = ip[6]
    headers = b""
    for ext_type, body in reversed(chain):
        headers = bytes([nxt]) + body + headers
        nxt = ext_type
    fixed = bytearray(ip[:40])
    fixed[6] = nxt
    struct.pack_into("!H", fixed, 4, len(ip) - 40 + len(headers))
    return bytes(fixed) + headers + ip[40:]


HOP_BY_HOP = (0, b"\x00" + b"\x01\x04\x00\x00\x00\x00")  # Hdr Ext Len 0, PadN(4)
DEST_OPTS = (60, b"\x01" + b"\x01\x0c" + bytes(12))  # 16 bytes
ROUTING = (43, b"\x02" + b"\x04\x01" + bytes(4) + bytes(16))  # type 4 (SRH-like), 24 bytes
AH = (51, b"\x04" + bytes(2) + b"\x00\x00\x01\x00" + bytes(4) + bytes(12))  # (4+2)*4 = 24
ATOMIC_FRAGMENT = (44, b"\x00" + b"\x00\x00" + b"\x12\x34\x56\x78")  # offset 0, M 0 (RFC 6946)


@pytest.mark.parametrize(
    "chain",
    [
        [HOP_BY_HOP],
        [HOP_BY_HOP, DEST_OPTS, ROUTING],
        [HOP_BY_HOP, ROUTING, ATOMIC_FRAGMENT, DEST_OPTS],
        [AH],
    ],
    ids=["hop-by-hop", "hbh+dest+routing", "with-atomic-fragment", "ah"],
)
def test_ipv6_extension_headers_are_walked(ipv6: bytes, chain: list[tuple[int, bytes]]) -> None:
    diag = Diagnostics()
    assert decode(with_extensions(ipv6, chain), 229, diag) == decode(ipv6, 229)
    assert codes(diag) == {}


def fragment_ipv6(ip: bytes, sizes: list[int], ident: int = 0xCAFE) -> list[bytes]:
    payload = ip[40:]
    out = []
    offset = 0
    bounds = [*sizes, len(payload)]
    for i, size in enumerate(bounds):
        chunk = payload[offset : offset + size] if i < len(sizes) else payload[offset:]
        more = int(i < len(sizes))
        body = b"\x00" + struct.pack("!HI", (offset // 8) << 3 | more, ident)
        packet = with_extensions(ip[:40] + chunk, [(44, body)])
        out.append(packet)
        offset += len(chunk)
    return out


def test_ipv6_fragments_are_reassembled(ipv6: bytes) -> None:
    whole = decode(ipv6, 229)
    pieces = fragment_ipv6(ipv6, [24, 16])
    assert len(pieces) == 3
    diag = Diagnostics()
    defrag = Defragmenter(diag)
    got = [decode(p, 229, diag, defrag) for p in reversed(pieces)]
    assert got[-1] == whole and got[:-1] == [None, None]
    assert codes(diag) == {}


def test_ipv6_payload_length_trims_link_padding(ipv6: bytes) -> None:
    assert decode(ETH + b"\x86\xdd" + ipv6 + b"\0" * 9, 1) == decode(ipv6, 229)


# --- frames that carry no TCP/UDP -----------------------------------------------------------


@pytest.mark.parametrize(
    ("linktype", "data", "code"),
    [
        (1, ETH + b"\x08\x06" + bytes(28), "packet.ethertype.unsupported"),  # ARP
        (0, struct.pack("<I", 7) + bytes(20), "packet.ethertype.unsupported"),  # AF 7
        (147, bytes(40), "packet.linktype.unsupported"),
        (1, ETH[:10], "packet.frame.truncated"),
        (1, ETH + b"\x08\x00" + bytes(10), "packet.frame.truncated"),
        (101, b"\x45" + bytes(8) + b"\x01" + bytes(10), "packet.protocol.unsupported"),  # ICMP
        (101, b"\x42" + bytes(19), "packet.ipv4.malformed"),  # IHL 2
        (101, b"\x45\x00\x00\x10" + bytes(16), "packet.ipv4.malformed"),  # total < IHL
        (229, b"\x60" + bytes(5) + b"\x06\x40" + bytes(32) + bytes(10), "packet.frame.truncated"),
        # Payload length 8 holding a hop-by-hop header that claims 2048 bytes.
        (
            229,
            b"\x60\0\0\0\x00\x08\x00\x40" + bytes(32) + b"\x3b\xff" + bytes(6),
            "packet.ipv6.malformed",
        ),
        (229, b"\x45" + bytes(39), "packet.ipv6.malformed"),  # LINKTYPE_IPV6 holding IPv4
    ],
)
def test_frames_without_tcp_or_udp_are_counted(linktype: int, data: bytes, code: str) -> None:
    diag = Diagnostics()
    assert decode(data, linktype, diag) is None
    assert code in codes(diag)


def test_tcp_with_impossible_data_offset(ipv4: bytes) -> None:
    bad = bytearray(ipv4)
    ihl = (bad[0] & 0x0F) * 4
    bad[ihl + 12] = 0x20  # data offset 8 bytes < 20
    diag = Diagnostics()
    assert decode(bytes(bad), 101, diag) is None
    assert codes(diag) == {"packet.tcp.malformed": 1}


@given(
    linktype=st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999]),
    data=st.binary(max_size=120),
)
def test_arbitrary_frames_never_raise(linktype: int, data: bytes) -> None:
    decode_frame(frame(data, linktype), Diagnostics(), defrag=Defragmenter(Diagnostics()))


@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_real_packets_never_raise(ipv4: bytes, ipv6: bytes, seed: int) -> None:
    rng = random.Random(seed)
    defrag = Defragmenter(Diagnostics())
    for ip in (ipv4, ipv6):
        data = bytearray(ip)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(min(len(data), 60))] = rng.randrange(256)
        decode(bytes(data[: rng.randint(0, len(data))]), 101, Diagnostics(), defrag)


def test_decoding_a_whole_capture_is_clean(shared: Path) -> None:
    diag = Diagnostics()
    defrag = Defragmenter(diag)
    path = shared / "corpus" / "pcap" / "zeek__quic-firefox-102-cloudflare-nokeys.pcap"
    with path.open("rb") as stream:
        raw = io.BytesIO(stream.read())
    kinds = {
        type(decode_frame(f, diag, defrag=defrag)).__name__
        for f in read_capture(raw, diag)
        if isinstance(f, Frame)
    }
    assert kinds == {"UdpDatagram"} and codes(diag) == {}
