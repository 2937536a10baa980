"""Read pcap and pcapng files block by block into :class:`Frame` and :class:`Secrets` records.

Formats: classic pcap (draft-ietf-opsawg-pcap §4-§5: both byte orders, µs magic a1b2c3d4 and ns
magic a1b23c4d) and pcapng (draft-ietf-opsawg-pcapng: several sections in either byte order,
interfaces with ``if_tsresol``/``if_tsoffset``, EPB, SPB, the obsolete PB, and Decryption
Secrets Blocks, which carry the TLS key log ``editcap --inject-secrets`` embeds).

Why by hand. We read the three Python readers (python-pcapng 2.1.1, dpkt 1.9.8, scapy 2.8.0):

- **dpkt** ``pcapng.Reader.__iter__`` yields EPB and PB only and drops every other block
  without a trace, DSBs included, so the keys in a ``capture-dsb.pcapng`` vanish; it applies
  the first IDB's link type, ``if_tsresol`` and byte order to every packet of every section and
  interface, and returns no interface id; timestamps are float seconds (a double near 1.7e9 s
  resolves ~240 ns, so nanosecond captures lose digits); a short read at the end stops the
  iteration silently or fails in a struct unpack.
- **python-pcapng** has no DSB type (it becomes ``UnknownBlock``), ignores ``if_tsoffset``,
  computes ``timestamp`` as a float, reads no classic pcap, and builds an options mapping and
  several objects per packet (slow at 500k packets); a cut file raises ``TruncatedFile``
  instead of giving back the packets before the cut.
- **scapy** ``RawPcapNgReader`` reads DSBs, but hands TLS keys to scapy's own TLS layer
  (global state) instead of the caller; it keeps one interface list for the whole file (a
  second section's interface ids index the first section's list), ignores ``if_tsoffset``,
  reports problems through ``logging`` (nothing to count), turns damage into a silent
  ``EOFError``, and would add a 2.8 MB dependency for a few hundred lines of work.

None gives integer nanoseconds, counted warnings and DSBs together, so this module reads both
formats with :mod:`struct` over a chunked buffer (one ``read`` per MiB, ``unpack_from`` on the
buffer, one ``bytes`` copy per packet) and depends on nothing.

Damage, and what we do (Wireshark's wiretap stops at the first bad block):

- a header that is cut or not a capture: :class:`~archcmp.errors.TruncatedCapture` /
  :class:`~archcmp.errors.UnknownFormat`, one line;
- a file cut inside a record or block: the frames before it, then ``pcap.file.truncated``;
- a pcapng block whose length is impossible (not a multiple of 4, under 12, over
  :data:`MAX_BLOCK_BYTES`) or whose trailing length copy disagrees (§3.1 "Block Total Length"
  appears at both ends): ``pcapng.block.corrupt`` and a resync: the next offset where a
  known block type, a plausible length and a matching trailing length line up (an SHB also
  needs its byte-order magic, an EPB an interface id and captured length that fit). Two
  matching 32-bit lengths at the right distance do not happen by chance, so garbage between
  blocks costs the garbage and nothing else; garbage at the end costs nothing;
- a classic pcap record whose captured length exceeds :data:`MAX_RECORD_BYTES`:
  ``pcap.record.corrupt`` and the same kind of resync (a record header whose fractional
  seconds, lengths and time fit, followed by another that fits or by the end of file), within
  :data:`MAX_RESYNC_SCAN` bytes;
- NRB and ISB (capture metadata, no traffic): skipped silently; custom and unknown blocks:
  skipped, counted ``pcapng.block.skipped`` (sample: the
  block name); a packet naming an undefined interface: ``pcapng.packet.bad_interface``;
  an IDB option that overruns its block: ``pcapng.option.malformed``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from archcmp.diagnostics import Diagnostics
from archcmp.errors import TruncatedCapture, UnknownFormat

__all__ = [
    "MAX_BLOCK_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_RESYNC_SCAN",
    "SECRETS_TLS_KEY_LOG",
    "Frame",
    "Secrets",
    "read_capture",
]

# --- limits (named caps; candidates for archcmp.limits) -------------------------------------

#: Largest pcapng block accepted (64 MiB). Wireshark's wiretap allows ~128 MiB (MAX_BLOCK_SIZE,
#: sized for D-Bus messages); no Ethernet, loopback or USB packet comes near 64 MiB, and a DSB
#: that large holds ~400k key-log lines. Bounds what one bad length can make us allocate.
MAX_BLOCK_BYTES = 64 * 1024 * 1024

#: Largest classic pcap record: libpcap's MAXIMUM_SNAPLEN (262144); libpcap and Wireshark both
#: refuse bigger records as corrupt.
MAX_RECORD_BYTES = 262_144

#: How far a classic pcap resync looks for the next plausible record (1 MiB) before giving up.
#: pcap has no block framing, so the scan tries every offset; pcapng resyncs scan to the end.
MAX_RESYNC_SCAN = 1024 * 1024

#: Decryption Secrets Block secrets type for an NSS key log (draft-ietf-opsawg-pcapng §4.7:
#: 0x544c534b, "TLSK"). Other types (SSH 0x5353484b, WireGuard 0x57474b4c, …) are yielded too.
SECRETS_TLS_KEY_LOG = 0x544C534B

_CHUNK = 1024 * 1024


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One captured packet, as the link layer delivered it."""

    ts_ns: int
    """Capture time in ns since the Unix epoch (UTC), exact: ``if_tsresol`` and ``if_tsoffset``
    applied with integer arithmetic. A Simple Packet Block has no time (pcapng §4.4); it gets
    the time of the packet before it in its section (0 if none)."""
    linktype: int
    """LINKTYPE_* value (1 Ethernet, 113 Linux SLL, 276 SLL2, 0 NULL, 101 raw IP, …)."""
    data: bytes
    """The captured bytes (may be shorter than ``orig_len`` when the snap length cut it)."""
    interface: int
    """Interface number counted across sections in file order, as Wireshark's
    ``frame.interface_id`` does (0 for classic pcap)."""
    orig_len: int
    """Length of the packet on the wire."""
    index: int
    """1-based packet number, as Wireshark numbers frames (secrets blocks are not counted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """The payload of a pcapng Decryption Secrets Block (draft-ietf-opsawg-pcapng §4.7)."""

    secrets_type: int
    """:data:`SECRETS_TLS_KEY_LOG` for an NSS key log; parse ``data`` with
    :meth:`archcmp.ingest.keylog.KeyLog.parse`."""
    data: bytes


Record = Frame | Secrets


# --- public API -----------------------------------------------------------------------------


def read_capture(stream: BinaryIO, diag: Diagnostics, *, name: str = "") -> Iterator[Record]:
    """Yield the frames and secrets of a pcap or pcapng ``stream``, in file order, one at a time.

    ``stream`` is read from its current position (as :func:`archcmp.ingest.sniff.sniff_stream`
    leaves it). Raises :class:`~archcmp.errors.UnknownFormat` or
    :class:`~archcmp.errors.TruncatedCapture` (carrying ``name``) when the file header is unusable,
    from the first ``next()``; every later problem is a counted warning in ``diag``.
    """
    src = _Source(stream)
    if not src.need(4):
        raise TruncatedCapture("the file ends inside the capture header", path=name or None)
    magic = src.buf[:4]
    if magic == _SHB_MAGIC:
        yield from _PcapngReader(src, diag, name).records()
        return
    fmt = _PCAP_MAGICS.get(magic)
    if fmt is None:
        raise UnknownFormat(
            f"not a pcap or pcapng file (first bytes {magic.hex(' ')})", path=name or None
        )
    yield from _read_pcap(src, diag, name, *fmt)


# --- buffered input -------------------------------------------------------------------------


class _Source:
    """The stream as a bytes buffer with a cursor; refilled a chunk at a time."""

    __slots__ = ("_stream", "base", "buf", "eof", "pos")

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def need(self, n: int) -> bool:
        """Make ``buf[pos:pos + n]`` available; False when the stream ends first."""
        have = len(self.buf) - self.pos
        if have >= n:
            return True
        parts = [self.buf[self.pos :]]
        while have < n and not self.eof:
            chunk = self._stream.read(max(_CHUNK, n - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.base += self.pos
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n

    def more(self) -> bool:
        """Read at least one more byte into the buffer; False at end of stream."""
        return self.need(len(self.buf) - self.pos + 1)

    def at_end(self) -> bool:
        return not self.need(1)


def _truncated(diag: Diagnostics, name: str, offset: int, what: str) -> None:
    diag.warn(
        "pcap.file.truncated",
        f"the capture file ends inside a {what}; the frames before it were read",
        sample=f"{name or 'capture'} @ byte {offset}",
    )


# --- classic pcap ---------------------------------------------------------------------------

# File header magic → (byte order, units of the fractional field per second).
# draft-ietf-opsawg-pcap §4: a1b2c3d4 = µs, a1b23c4d = ns; read byte-swapped in the other order.
_PCAP_MAGICS: dict[bytes, tuple[str, int]] = {
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
}
_PCAP_HEADER_LEN = 24
_RECORD_LEN = 16
#: §4: the low 26 bits of the last header word are the LinkType (libpcap LT_LINKTYPE); the top
#: bits carry FCS presence and length, which the IP layer's own lengths make irrelevant here.
_LINKTYPE_MASK = 0x03FF_FFFF
#: A resync accepts a record whose time is within a day of the last good one.
_RESYNC_MAX_TIME_JUMP = 86_400


def _read_pcap(
    src: _Source, diag: Diagnostics, name: str, order: str, units: int
) -> Iterator[Frame]:
    if not src.need(_PCAP_HEADER_LEN):
        raise TruncatedCapture("the file ends inside the pcap file header", path=name or None)
    # §4 file header: magic, major, minor, reserved1, reserved2, SnapLen, LinkType+FCS.
    major, minor, _r1, _r2, _snaplen, link = struct.unpack_from(order + "HHiIII", src.buf, 4)
    if major != 2:
        raise UnknownFormat(
            f"pcap version {major}.{minor} is not supported (2.x is)", path=name or None
        )
    linktype = link & _LINKTYPE_MASK
    scale = 1_000_000_000 // units
    unpack = struct.Struct(order + "IIII").unpack_from  # §5: seconds, fraction, CapLen, OrigLen
    src.pos += _PCAP_HEADER_LEN
    index = 0
    last_sec = -1
    while True:
        buf, pos = src.buf, src.pos
        if len(buf) - pos < _RECORD_LEN:
            if not src.need(_RECORD_LEN):
                if len(src.buf) > src.pos:
                    _truncated(diag, name, src.offset, "packet record header")
                return
            buf, pos = src.buf, src.pos
        sec, frac, caplen, origlen = unpack(buf, pos)
        end = pos + _RECORD_LEN + caplen
        if caplen > MAX_RECORD_BYTES or (end > len(buf) and not src.need(_RECORD_LEN + caplen)):
            # Either an impossible length, or a record running past the end of the file: a
            # cut file, unless a plausible record follows (then it was garbage).
            start = src.offset
            found = _resync_pcap(src, unpack, units, last_sec)
            if caplen <= MAX_RECORD_BYTES and not found:
                _truncated(diag, name, start, "packet record")
                return
            diag.warn(
                "pcap.record.corrupt",
                "corrupt pcap records were skipped up to the next plausible record",
                sample=f"{name or 'capture'} @ byte {start}: CapLen {caplen}; "
                f"{src.offset - start} bytes skipped to the "
                f"{'next plausible record' if found else 'end of the file'}",
            )
            if not found:
                return
            continue
        buf, pos = src.buf, src.pos
        end = pos + _RECORD_LEN + caplen
        index += 1
        last_sec = sec
        src.pos = end
        yield Frame(
            ts_ns=sec * 1_000_000_000 + frac * scale,
            linktype=linktype,
            data=buf[pos + _RECORD_LEN : end],
            interface=0,
            orig_len=origlen,
            index=index,
        )


_Unpack = Callable[[bytes, int], tuple[int, ...]]


def _record_size(buf: bytes, at: int, unpack: _Unpack, units: int, last_sec: int) -> int | None:
    """Length (header included) of a plausible record header at ``buf[at:]``, else None."""
    sec, frac, caplen, origlen = unpack(buf, at)
    if frac >= units or caplen > MAX_RECORD_BYTES or caplen > origlen:
        return None
    if last_sec >= 0 and abs(sec - last_sec) > _RESYNC_MAX_TIME_JUMP:
        return None
    return _RECORD_LEN + caplen


def _resync_pcap(src: _Source, unpack: _Unpack, units: int, last_sec: int) -> bool:
    """Move ``src`` to the next plausible record that is followed by another plausible record
    (or by the end of the file); False, with ``src`` at its end, when there is none within
    :data:`MAX_RESYNC_SCAN` bytes."""
    start = src.offset
    while src.offset - start < MAX_RESYNC_SCAN:
        src.pos += 1
        if not src.need(_RECORD_LEN):
            break
        size = _record_size(src.buf, src.pos, unpack, units, last_sec)
        if size is None or not src.need(size):
            continue
        if not src.need(size + _RECORD_LEN):
            return True  # the file ends within the next header: take it (truncation follows)
        if _record_size(src.buf, src.pos + size, unpack, units, last_sec) is not None:
            return True
    return False


# --- pcapng ---------------------------------------------------------------------------------

_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"  # §4.1 block type, a palindrome: same in both byte orders
_BOM_LE = b"\x4d\x3c\x2b\x1a"  # §4.1 Byte-Order Magic 0x1A2B3C4D as written by little-endian
_BOM_BE = b"\x1a\x2b\x3c\x4d"

_IDB, _PB, _SPB, _NRB, _ISB, _EPB, _DSB = 1, 2, 3, 4, 5, 6, 0x0A
_SHB = 0x0A0D0D0A
#: Blocks that describe the capture, not its traffic (§4.5 NRB, §4.6 ISB: dumpcap ends every
#: file with an ISB). Skipping them loses no packet, so they are not warned about.
_METADATA_BLOCKS = frozenset({_NRB, _ISB})

#: Block names for ``pcapng.block.skipped`` samples (the draft's Block Type Codes registry).
_BLOCK_NAMES: dict[int, str] = {
    _NRB: "Name Resolution Block",
    _ISB: "Interface Statistics Block",
    0x07: "IRIG Timestamp Block",
    0x08: "ARINC 429 Block",
    0x09: "systemd Journal Export Block",
    0x0B: "Hone Project Machine Info Block",
    0x0C: "Hone Project Connection Event Block",
    0x101: "Sysdig Machine Info Block",
    0x0BAD: "Custom Block (copyable)",
    0x40000BAD: "Custom Block (not copyable)",
}

#: Smallest total length per block type: 12 (type, length, trailing length) plus the fixed body.
_MIN_BLOCK: dict[int, int] = {_SHB: 28, _IDB: 20, _PB: 32, _SPB: 16, _EPB: 32, _DSB: 20}

# IDB options (§4.2): if_tsresol (9, one byte), if_tsoffset (14, signed 64-bit seconds).
_OPT_ENDOFOPT, _OPT_TSRESOL, _OPT_TSOFFSET = 0, 9, 14

# Resync: where a known block type starts, per byte order (types 1-6, 0x0A, and the SHB).
_RESYNC_PATTERN = {
    "<": re.compile(rb"[\x01-\x06\x0a]\x00\x00\x00|\x0a\x0d\x0d\x0a"),
    ">": re.compile(rb"\x00\x00\x00[\x01-\x06\x0a]|\x0a\x0d\x0d\x0a"),
}


@dataclass(frozen=True, slots=True)
class _Interface:
    linktype: int
    number: int  # across sections
    mul: int  # ts_ns = units * mul // div + offset_ns
    div: int
    offset_ns: int


class _Structs:
    """The struct layouts of one byte order."""

    __slots__ = ("dsb", "epb", "head", "idb", "opt", "pb", "spb", "tsoffset", "u16", "u32")

    def __init__(self, order: str) -> None:
        self.head = struct.Struct(order + "II")  # §3.1: Block Type, Block Total Length
        self.u32 = struct.Struct(order + "I")
        self.u16 = struct.Struct(order + "H")
        self.idb = struct.Struct(order + "HHI")  # §4.2: LinkType, Reserved, SnapLen
        self.epb = struct.Struct(order + "IIIII")  # §4.3: iface, ts high, ts low, CapLen, OrigLen
        self.pb = struct.Struct(order + "HHIIII")  # App. A: iface, drops, ts high/low, Cap/OrigLen
        self.spb = struct.Struct(order + "I")  # §4.4: Original Packet Length
        self.dsb = struct.Struct(order + "II")  # §4.7: Secrets Type, Secrets Length
        self.opt = struct.Struct(order + "HH")  # §3.5: Option Code, Option Length
        self.tsoffset = struct.Struct(order + "q")


_STRUCTS = {"<": _Structs("<"), ">": _Structs(">")}

_Handler = Callable[["_PcapngReader", bytes, int, int], Record | None]


class _PcapngReader:
    """State of one pass over a pcapng file; :meth:`records` drives it."""

    def __init__(self, src: _Source, diag: Diagnostics, name: str) -> None:
        self.src = src
        self.diag = diag
        self.name = name or "capture"
        self.path = name or None
        self.order = "<"
        self.st = _STRUCTS["<"]
        self.interfaces: list[_Interface] = []
        self.next_interface = 0  # file-wide interface numbering
        self.index = 0
        self.last_ts = 0

    # -- driver --

    def records(self) -> Iterator[Record]:
        src = self.src
        self._section(first=True)
        handlers = _HANDLERS
        while True:
            buf, pos = src.buf, src.pos
            if len(buf) - pos < 12:
                if not src.need(12):
                    if len(src.buf) > src.pos:
                        _truncated(self.diag, self.name, src.offset, "pcapng block header")
                    return
                buf, pos = src.buf, src.pos
            st = self.st
            btype, blen = st.head.unpack_from(buf, pos)
            if btype == _SHB:  # §4.1: a new section, possibly in the other byte order
                if not self._section(first=False):
                    return
                continue
            if blen < _MIN_BLOCK.get(btype, 12) or blen & 3 or blen > MAX_BLOCK_BYTES:
                if not self._corrupt(f"impossible length {blen} for block type 0x{btype:x}"):
                    return
                continue
            if len(buf) - pos < blen:
                if not src.need(blen):
                    if not self._cut_or_corrupt(blen):
                        return
                    continue
                buf, pos = src.buf, src.pos
            if st.u32.unpack_from(buf, pos + blen - 4)[0] != blen:
                if not self._corrupt("the trailing block length does not match"):
                    return
                continue
            src.pos = pos + blen
            if btype == _EPB:  # the hot path, inlined (§4.3); odd EPBs go to _epb to be counted
                iface, hi, lo, caplen, origlen = st.epb.unpack_from(buf, pos + 8)
                if caplen <= blen - 32 and iface < len(self.interfaces):
                    interface = self.interfaces[iface]
                    self.index += 1
                    ts_ns = ((hi << 32) | lo) * interface.mul // interface.div + interface.offset_ns
                    self.last_ts = ts_ns
                    yield Frame(
                        ts_ns=ts_ns,
                        linktype=interface.linktype,
                        data=buf[pos + 28 : pos + 28 + caplen],
                        interface=interface.number,
                        orig_len=origlen,
                        index=self.index,
                    )
                    continue
            handler = handlers.get(btype)
            if handler is None and btype in _METADATA_BLOCKS:
                continue  # statistics and name resolution: nothing of the traffic is lost
            if handler is None:
                self.diag.warn(
                    "pcapng.block.skipped",
                    "pcapng blocks that carry no packets or secrets were skipped",
                    sample=_BLOCK_NAMES.get(btype, f"block type 0x{btype:08x}"),
                )
                continue
            record = handler(self, buf, pos + 8, pos + blen - 4)
            if record is not None:
                yield record

    # -- sections --

    def _section(self, *, first: bool) -> bool:
        """Read the SHB at ``src.pos`` (§4.1) and start its section; False to stop reading.

        A bad first SHB means the file is unusable (raises); a bad later one is damage.
        """
        src = self.src
        if not src.need(12):
            return self._bad_header(first, "the file ends inside a Section Header Block", cut=True)
        bom = src.buf[src.pos + 8 : src.pos + 12]
        if bom not in (_BOM_LE, _BOM_BE):
            return self._bad_header(first, "Section Header Block without a byte-order magic")
        st = _STRUCTS["<" if bom == _BOM_LE else ">"]
        blen = st.u32.unpack_from(src.buf, src.pos + 4)[0]
        if blen < 28 or blen & 3 or blen > MAX_BLOCK_BYTES:
            return self._bad_header(first, f"Section Header Block with impossible length {blen}")
        if not src.need(blen):
            return self._bad_header(first, "the file ends inside a Section Header Block", cut=True)
        buf, pos = src.buf, src.pos
        if st.u32.unpack_from(buf, pos + blen - 4)[0] != blen:
            return self._bad_header(first, "Section Header Block with mismatched lengths")
        self.order = "<" if bom == _BOM_LE else ">"
        self.st = st
        major, minor = st.u16.unpack_from(buf, pos + 12)[0], st.u16.unpack_from(buf, pos + 14)[0]
        if major != 1:
            # §4.1: a reader that does not know the major version cannot read the section.
            if first:
                raise UnknownFormat(
                    f"pcapng version {major}.{minor} is not supported (1.x is)", path=self.path
                )
            self.diag.warn(
                "pcapng.section.unsupported",
                "a pcapng section of an unknown major version ended the read",
                sample=f"{self.name} @ byte {src.offset}: version {major}.{minor}",
            )
            return False
        # Interface ids are per section (§4.2); Wireshark numbers them across the file.
        self.next_interface += len(self.interfaces)
        self.interfaces = []
        self.last_ts = 0
        src.pos = pos + blen
        return True

    def _bad_header(self, first: bool, why: str, *, cut: bool = False) -> bool:
        if first:
            error = TruncatedCapture if cut else UnknownFormat
            raise error(f"{why} (pcapng file header)", path=self.path)
        if cut:
            _truncated(self.diag, self.name, self.src.offset, "pcapng Section Header Block")
            return False
        return self._corrupt(why)

    # -- damage --

    def _cut_or_corrupt(self, blen: int) -> bool:
        """The block at ``src.pos`` runs past the end of the file: a cut file, unless a
        plausible block follows (then its length was garbage). True to go on reading."""
        src = self.src
        start = src.offset
        if self._resync():
            self._count_corrupt(start, f"block length {blen} runs past the end of the file", True)
            return True
        _truncated(self.diag, self.name, start, "pcapng block")
        return False

    def _corrupt(self, why: str) -> bool:
        """Count a corrupt block and resync to the next plausible block; False at the end."""
        start = self.src.offset
        found = self._resync()
        self._count_corrupt(start, why, found)
        return found

    def _count_corrupt(self, start: int, why: str, found: bool) -> None:
        skipped = self.src.offset - start
        where = "next plausible block" if found else "end of the file"
        self.diag.warn(
            "pcapng.block.corrupt",
            "corrupt pcapng data was skipped up to the next plausible block",
            sample=f"{self.name} @ byte {start}: {why}; {skipped} bytes skipped to the {where}",
        )

    def _resync(self) -> bool:
        """Move ``src`` past the current offset to the next plausible block (True), or to the
        end of the file (False)."""
        src = self.src
        pattern = _RESYNC_PATTERN[self.order]
        src.pos += 1
        while True:
            found = pattern.search(src.buf, src.pos)
            if found is None:
                src.pos = max(src.pos, len(src.buf) - 3)  # a match may straddle the refill
                if not src.more():
                    src.pos = len(src.buf)
                    return False
                continue
            src.pos = found.start()
            if self._plausible():
                return True
            src.pos += 1

    def _plausible(self) -> bool:
        """Whether a whole, self-consistent block starts at ``src.pos`` (``src.offset`` kept)."""
        src = self.src
        if not src.need(12):
            return False
        buf, pos = src.buf, src.pos
        st = self.st
        btype = st.u32.unpack_from(buf, pos)[0]
        if btype == _SHB:
            bom = buf[pos + 8 : pos + 12]
            if bom not in (_BOM_LE, _BOM_BE):
                return False
            st = _STRUCTS["<" if bom == _BOM_LE else ">"]
        blen = st.u32.unpack_from(buf, pos + 4)[0]
        if blen < _MIN_BLOCK.get(btype, 12) or blen & 3 or blen > MAX_BLOCK_BYTES:
            return False
        if not src.need(blen):
            return False
        buf, pos = src.buf, src.pos
        if st.u32.unpack_from(buf, pos + blen - 4)[0] != blen:
            return False
        if btype == _EPB:
            iface: int = st.epb.unpack_from(buf, pos + 8)[0]
            caplen: int = st.epb.unpack_from(buf, pos + 8)[3]
            return iface < len(self.interfaces) and caplen <= blen - 32
        return True

    # -- blocks --

    def _idb(self, buf: bytes, start: int, end: int) -> None:
        """Interface Description Block (§4.2): link type and timestamp resolution/offset."""
        st = self.st
        linktype, _reserved, _snaplen = st.idb.unpack_from(buf, start)
        # if_tsresol: MSB clear → 10^-n s, set → 2^-n s; default 10^-6 (§4.2).
        mul, div = 1000, 1
        offset_ns = 0
        pos = start + 8
        while pos + 4 <= end:
            code, length = st.opt.unpack_from(buf, pos)
            if code == _OPT_ENDOFOPT:
                break
            value = pos + 4
            if value + length > end:
                self.diag.warn(
                    "pcapng.option.malformed",
                    "an Interface Description Block option runs past its block; later options "
                    "of that block were ignored",
                    sample=f"{self.name}: option {code} of interface {len(self.interfaces)}",
                )
                break
            if code == _OPT_TSRESOL and length >= 1:
                resol = buf[value]
                exp = resol & 0x7F
                if resol & 0x80:
                    mul, div = 1_000_000_000, 1 << exp
                elif exp <= 9:
                    mul, div = 10 ** (9 - exp), 1
                else:
                    mul, div = 1, 10 ** (exp - 9)
            elif code == _OPT_TSOFFSET and length >= 8:
                offset_ns = st.tsoffset.unpack_from(buf, value)[0] * 1_000_000_000
            pos = value + ((length + 3) & ~3)  # §3.5: values padded to 32 bits
        self.interfaces.append(
            _Interface(
                linktype=linktype,
                number=self.next_interface + len(self.interfaces),
                mul=mul,
                div=div,
                offset_ns=offset_ns,
            )
        )

    def _interface(self, iface: int) -> _Interface | None:
        if iface < len(self.interfaces):
            return self.interfaces[iface]
        self.diag.warn(
            "pcapng.packet.bad_interface",
            "packets naming an interface their section never described were skipped",
            sample=f"{self.name}: interface {iface} of {len(self.interfaces)}",
        )
        return None

    def _frame(self, interface: _Interface, ts: int, data: bytes, orig_len: int) -> Frame:
        self.index += 1
        ts_ns = ts * interface.mul // interface.div + interface.offset_ns
        self.last_ts = ts_ns
        return Frame(
            ts_ns=ts_ns,
            linktype=interface.linktype,
            data=data,
            interface=interface.number,
            orig_len=orig_len,
            index=self.index,
        )

    def _epb(self, buf: bytes, start: int, end: int) -> Frame | None:
        """Enhanced Packet Block (§4.3)."""
        iface, hi, lo, caplen, origlen = self.st.epb.unpack_from(buf, start)
        if caplen > end - start - 20:
            self._bad_packet("Enhanced Packet Block", caplen)
            return None
        interface = self._interface(iface)
        if interface is None:
            return None
        data = buf[start + 20 : start + 20 + caplen]
        return self._frame(interface, (hi << 32) | lo, data, origlen)

    def _pb(self, buf: bytes, start: int, end: int) -> Frame | None:
        """Obsolete Packet Block (Appendix A): an EPB with a 16-bit interface id and drops."""
        iface, _drops, hi, lo, caplen, origlen = self.st.pb.unpack_from(buf, start)
        if caplen > end - start - 20:
            self._bad_packet("Packet Block", caplen)
            return None
        interface = self._interface(iface)
        if interface is None:
            return None
        data = buf[start + 20 : start + 20 + caplen]
        return self._frame(interface, (hi << 32) | lo, data, origlen)

    def _spb(self, buf: bytes, start: int, end: int) -> Frame | None:
        """Simple Packet Block (§4.4): interface 0, no timestamp, CapLen implied by the block."""
        (origlen,) = self.st.spb.unpack_from(buf, start)
        interface = self._interface(0)
        if interface is None:
            return None
        caplen = min(origlen, end - start - 4)
        self.index += 1
        return Frame(
            ts_ns=self.last_ts,
            linktype=interface.linktype,
            data=buf[start + 4 : start + 4 + caplen],
            interface=interface.number,
            orig_len=origlen,
            index=self.index,
        )

    def _dsb(self, buf: bytes, start: int, end: int) -> Secrets | None:
        """Decryption Secrets Block (§4.7): kept whole for the key log reader."""
        secrets_type, length = self.st.dsb.unpack_from(buf, start)
        if length > end - start - 8:
            self.diag.warn(
                "pcapng.secrets.corrupt",
                "a Decryption Secrets Block claims more secrets than it holds; it was skipped",
                sample=f"{self.name}: {length} bytes claimed",
            )
            return None
        return Secrets(secrets_type=secrets_type, data=buf[start + 8 : start + 8 + length])

    def _bad_packet(self, what: str, caplen: int) -> None:
        self.diag.warn(
            "pcapng.packet.corrupt",
            "packet blocks whose captured length exceeds the block were skipped",
            sample=f"{self.name}: {what} with CapLen {caplen}",
        )


#: Block type → handler (§4: the blocks that carry packets, interfaces or secrets).
_HANDLERS: dict[int, _Handler] = {
    _IDB: _PcapngReader._idb,
    _PB: _PcapngReader._pb,
    _SPB: _PcapngReader._spb,
    _EPB: _PcapngReader._epb,
    _DSB: _PcapngReader._dsb,
}
