"""``archcmp redact`` for pcap and pcapng: the keys go, and by default every payload byte
beyond the cleartext handshakes.

A packet capture leaks in two ways: the TLS/QUIC secrets embedded in it (pcapng Decryption
Secrets Blocks, which ``editcap --inject-secrets`` adds) decrypt everything, and cleartext
payloads (plain HTTP, DNS, anything not encrypted) carry cookies and tokens as they are. So:

* **Decryption Secrets Blocks are always removed**, and so are blocks whose content is unknown
  (custom blocks, systemd journal exports, …: counted ``redact.pcapng.block_dropped``).
  Comments (``opt_comment``) and custom options are removed from every block: they are free
  text people type notes and credentials into.
* **Payloads are cut to headers** unless ``keep_payloads``, snaplen-style (the captured
  length shrinks, the original length stays), keeping only what any on-path observer sees in
  the clear and archcmp needs to list connections: :mod:`archcmp.redact_payload` says what.

What stays after cutting, in every case: addresses, ports, TCP flags, sequence numbers and
window sizes, timing, the original lengths; those are the capture's evidence of architecture.
The output keeps the input's format (pcap or pcapng) and byte order; a gzip'd input is written
uncompressed.

After writing, the output is read back (:func:`rescan_pcap`) with archcmp's own reader: no
secrets block, no key-log line anywhere in the bytes, no frame holding more than the policy
allows, no JWT, PEM key or vendor key shape in any frame's bytes, and no ``Cookie:`` line,
bearer token or ``password=`` in a printable run (``keep_payloads`` on plain HTTP).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archcmp.diagnostics import Diagnostics
from archcmp.errors import TruncatedCapture, UnknownFormat
from archcmp.ingest.pcap import MAX_BLOCK_BYTES, MAX_RECORD_BYTES, Secrets, read_capture
from archcmp.ingest.sniff import open_capture
from archcmp.redact import Redactor, scan
from archcmp.redact_io import Residual, atomic_output
from archcmp.redact_payload import PayloadCutter

__all__ = ["PcapSummary", "redact_pcap", "rescan_pcap"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapSummary:
    """What ``archcmp redact`` did to one packet capture."""

    format: str
    """``pcap`` or ``pcapng``, the same as the input's."""
    packets: int
    """Packets written (every packet of the input that could be read)."""
    truncated: int
    """Packets whose captured bytes were cut."""
    secrets_blocks: int
    """Decryption Secrets Blocks removed."""
    dropped_blocks: int
    """Other blocks removed (custom, unknown, a trailing block cut short)."""
    dropped_options: int
    """Comment and custom options removed, and packet hashes that no longer matched."""
    residual: tuple[Residual, ...]
    """What the re-scan of the written file found; non-empty means "do not share it"."""

    @property
    def clean(self) -> bool:
        return not self.residual


# --- pcapng ---------------------------------------------------------------------------------

_SHB, _IDB, _PB, _SPB, _NRB, _ISB, _EPB, _DSB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 0x0A
_BOM = 0x1A2B3C4D
#: Options removed from every block: opt_comment (1) and the four custom options (2988, 2989,
#: 19372, 19373; pcapng §3.5.1), which hold whatever their writer chose.
_DROP_OPTIONS = frozenset({1, 2988, 2989, 19372, 19373})
_EPB_HASH = 3  # §4.3.1 epb_hash: a digest of the packet as captured; wrong once cut


@dataclass(slots=True)
class _Counts:
    packets: int = 0
    truncated: int = 0
    secrets_blocks: int = 0
    dropped_blocks: int = 0
    dropped_options: int = 0


def _pad4(size: int) -> int:
    return (size + 3) & ~3


class _PcapngWriter:
    """Copies a pcapng block by block, rewriting what the module docstring says."""

    def __init__(self, src: BinaryIO, out: BinaryIO, diag: Diagnostics,
                 cutter: PayloadCutter | None, name: str) -> None:
        self.src, self.out, self.diag, self.cutter, self.name = src, out, diag, cutter, name
        self.order = "<"
        self.interfaces: list[tuple[int, int]] = []
        """(LINKTYPE, SnapLen) of the section's interfaces, by id (§4.2)."""
        self.last_ts = (0, 0)
        self.counts = _Counts()

    def run(self) -> _Counts:
        first = True
        while head := self.src.read(8):
            if len(head) < 8:
                self._damaged("the file ends inside a block header")
                break
            btype = int.from_bytes(head[:4], "little")  # the SHB type is a palindrome
            if btype == _SHB:
                bom = self.src.read(4)
                if len(bom) < 4 or int.from_bytes(bom, "little") not in (_BOM, 0x4D3C2B1A):
                    if first:
                        raise UnknownFormat("a Section Header Block without a byte-order magic",
                                            path=self.name)
                    self._damaged("a Section Header Block without a byte-order magic")
                    break
                self.order = "<" if int.from_bytes(bom, "little") == _BOM else ">"
                head += bom
            first = False
            btype, total = struct.unpack(self.order + "II", head[:8])
            if total < 12 or total & 3 or total > MAX_BLOCK_BYTES or total < len(head) + 4:
                self._damaged(f"impossible length {total} for block type 0x{btype:x}")
                break
            rest = self.src.read(total - len(head))
            if len(rest) < total - len(head):
                self._damaged("the file ends inside a block")
                break
            block = head + rest
            if struct.unpack_from(self.order + "I", block, total - 4)[0] != total:
                self._damaged("the trailing block length does not match")
                break
            self._block(btype, block[8:-4])
        return self.counts

    def _damaged(self, why: str) -> None:
        """Stop at damage: what follows cannot be checked, so it is not copied."""
        self.counts.dropped_blocks += 1
        self.diag.warn("redact.pcapng.damaged", "the capture is damaged or cut; nothing after "
                       "the damage was written", sample=f"{self.name}: {why}")

    def _block(self, btype: int, body: bytes) -> None:
        o = self.order
        if btype == _SHB:
            # §4.1 Section Length (-1: not given): blocks change size, so the old one is wrong.
            self.interfaces = []
            self._write(btype, body[:8] + struct.pack(o + "q", -1), body[16:])
        elif btype == _IDB:
            linktype, _reserved, snaplen = struct.unpack_from(o + "HHI", body)
            self.interfaces.append((linktype, snaplen))
            self._write(btype, body[:8], body[8:])
        elif btype == _EPB:
            iface, hi, lo, caplen, origlen = struct.unpack_from(o + "IIIII", body)
            self.last_ts = (hi, lo)
            self._packet(btype, body, 20, iface, caplen,
                         lambda n: struct.pack(o + "IIIII", iface, hi, lo, n, origlen))
        elif btype == _PB:
            iface, drops, hi, lo, caplen, origlen = struct.unpack_from(o + "HHIIII", body)
            self._packet(btype, body, 20, iface, caplen,
                         lambda n: struct.pack(o + "HHIIII", iface, drops, hi, lo, n, origlen))
        elif btype == _SPB:
            self._simple(body)
        elif btype in (_ISB, _NRB):
            fixed = 12 if btype == _ISB else _nrb_records_end(body, o)
            self._write(btype, body[:fixed], body[fixed:])
        elif btype == _DSB:
            self.counts.secrets_blocks += 1
        else:
            self.counts.dropped_blocks += 1
            self.diag.warn("redact.pcapng.block_dropped", "pcapng blocks of unknown content "
                           "were not copied", sample=f"block type 0x{btype:08x}")

    def _packet(self, btype: int, body: bytes, fixed: int, iface: int, caplen: int,
                header: Callable[[int], bytes]) -> None:
        if fixed + caplen > len(body):
            self._damaged("a packet longer than its block")
            return
        data = body[fixed : fixed + caplen]
        keep = self._keep(iface, data)
        drop = _DROP_OPTIONS | ({_EPB_HASH} if keep < caplen else frozenset())
        self._write(btype, header(keep) + _padded(data[:keep]),
                    body[fixed + _pad4(caplen) :], drop)

    def _simple(self, body: bytes) -> None:
        """§4.4 SPB: its captured length is implied, so a cut one becomes an EPB on interface 0
        with the time of the packet before it (what readers give an SPB anyway)."""
        origlen = struct.unpack_from(self.order + "I", body)[0]
        snaplen = self.interfaces[0][1] if self.interfaces else 0
        data = body[4 : 4 + (min(origlen, snaplen) if snaplen else origlen)]
        keep = self._keep(0, data)
        if keep == len(data):
            self._write(_SPB, body, b"", raw=True)
            return
        hi, lo = self.last_ts
        fixed = struct.pack(self.order + "IIIII", 0, hi, lo, keep, origlen)
        self._write(_EPB, fixed + _padded(data[:keep]), b"")

    def _keep(self, iface: int, data: bytes) -> int:
        self.counts.packets += 1
        if self.cutter is None:
            return len(data)
        linktype = self.interfaces[iface][0] if iface < len(self.interfaces) else -1
        keep = self.cutter.keep(linktype, data)
        if keep < len(data):
            self.counts.truncated += 1
        return keep

    def _write(self, btype: int, fixed: bytes, options: bytes,
               drop: frozenset[int] = _DROP_OPTIONS, *, raw: bool = False) -> None:
        body = fixed if raw else fixed + self._options(options, drop)
        total = len(body) + 12
        self.out.write(struct.pack(self.order + "II", btype, total) + body
                       + struct.pack(self.order + "I", total))

    def _options(self, raw: bytes, drop: frozenset[int]) -> bytes:
        """§3.5 options minus ``drop``; all of them when they do not parse (nothing unread
        is copied)."""
        kept: list[bytes] = []
        pos = 0
        while pos + 4 <= len(raw):
            code, length = struct.unpack_from(self.order + "HH", raw, pos)
            if code == 0:
                break
            end = pos + 4 + _pad4(length)
            if end > len(raw):
                self.counts.dropped_options += 1
                return b""
            if code in drop:
                self.counts.dropped_options += 1
            else:
                kept.append(raw[pos:end])
            pos = end
        return b"".join(kept) + struct.pack(self.order + "HH", 0, 0) if kept else b""


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (_pad4(len(data)) - len(data))


def _nrb_records_end(body: bytes, order: str) -> int:
    """§4.5: where an NRB's records end (after nrb_record_end) and its options begin."""
    pos = 0
    while pos + 4 <= len(body):
        rtype, length = struct.unpack_from(order + "HH", body, pos)
        pos += 4 + _pad4(length)
        if rtype == 0:
            return min(pos, len(body))
    return len(body)


# --- classic pcap ---------------------------------------------------------------------------

_PCAP_ORDER = {b"\xa1\xb2\xc3\xd4": ">", b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">",
               b"\x4d\x3c\xb2\xa1": "<"}


def _copy_pcap(src: BinaryIO, out: BinaryIO, diag: Diagnostics, cutter: PayloadCutter | None,
               name: str) -> _Counts:
    """draft-ietf-opsawg-pcap §4-§5: the file header as it is, each record with CapLen cut."""
    counts = _Counts()
    header = src.read(24)
    order = _PCAP_ORDER.get(header[:4])
    if order is None or len(header) < 24:
        raise TruncatedCapture("the file ends inside the pcap file header", path=name)
    linktype = struct.unpack_from(order + "I", header, 20)[0] & 0x03FF_FFFF
    out.write(header)
    record = struct.Struct(order + "IIII")
    while head := src.read(16):
        if len(head) < 16:
            _pcap_damaged(diag, name, counts, "the file ends inside a record header")
            break
        sec, frac, caplen, origlen = record.unpack(head)
        data = src.read(caplen) if caplen <= MAX_RECORD_BYTES else b""
        if caplen > MAX_RECORD_BYTES or len(data) < caplen:
            _pcap_damaged(diag, name, counts, f"a record of CapLen {caplen} that does not fit")
            break
        counts.packets += 1
        keep = caplen if cutter is None else cutter.keep(linktype, data)
        if keep < caplen:
            counts.truncated += 1
        out.write(record.pack(sec, frac, keep, origlen) + data[:keep])
    return counts


def _pcap_damaged(diag: Diagnostics, name: str, counts: _Counts, why: str) -> None:
    counts.dropped_blocks += 1
    diag.warn("redact.pcap.damaged", "the capture is damaged or cut; nothing after the damage "
              "was written", sample=f"{name}: {why}")


# --- the command and its re-scan ------------------------------------------------------------


def redact_pcap(src: Path, dst: Path, diag: Diagnostics, *,
                keep_payloads: bool = False) -> PcapSummary:
    """Write ``src`` (pcap or pcapng, optionally compressed) to ``dst`` without its secrets
    blocks and, unless ``keep_payloads``, without payloads beyond the cleartext handshakes;
    then re-scan ``dst``. Raises :class:`~archcmp.errors.UnknownFormat` for a HAR and for
    files that are no capture; ``dst`` is untouched when an error is raised."""
    name = str(src)
    cutter = None if keep_payloads else PayloadCutter()
    with open_capture(src) as capture, atomic_output(dst) as out:
        if capture.format == "har":
            raise UnknownFormat("a HAR, not a packet capture", path=name)
        if capture.format == "pcapng":
            counts = _PcapngWriter(capture.stream, out, diag, cutter, name).run()
        else:
            counts = _copy_pcap(capture.stream, out, diag, cutter, name)
    return PcapSummary(
        format=capture.format, packets=counts.packets, truncated=counts.truncated,
        secrets_blocks=counts.secrets_blocks, dropped_blocks=counts.dropped_blocks,
        dropped_options=counts.dropped_options,
        residual=tuple(rescan_pcap(dst, keep_payloads=keep_payloads)),
    )


#: NSS key log lines (the labels of SSLKEYLOGFILE for TLS 1.2 and 1.3), client random and secret.
_KEYLOG_RE = re.compile(
    rb"(?:CLIENT_RANDOM|(?:CLIENT|SERVER)_(?:HANDSHAKE_TRAFFIC_SECRET|TRAFFIC_SECRET_\d+)"
    rb"|CLIENT_EARLY_TRAFFIC_SECRET|EARLY_EXPORTER_SECRET|EXPORTER_SECRET)"
    rb" [0-9a-fA-F]{64} [0-9a-fA-F]{32,}"
)
#: Printable ASCII runs, where cleartext protocols put their headers; the context rules of
#: :meth:`Redactor.text` (``user:pass@`` after ``//``, say) misfire on random ciphertext bytes,
#: a 16-character printable run in ciphertext has odds of about (95/256)^16 ≈ 1e-7 a byte.
_PRINTABLE_RE = re.compile(rb"[\x20-\x7e\t\r\n]{16,}")
_SCAN_CHUNK = 1024 * 1024
_SCAN_OVERLAP = 512  # longer than any key-log line, so none is split unseen


def rescan_pcap(path: Path, *, keep_payloads: bool) -> list[Residual]:
    """What a written capture still holds: secrets blocks, key-log lines, payload bytes beyond
    the policy (unless ``keep_payloads``), and in any frame's bytes credential shapes (JWT,
    PEM, vendor keys) or what :meth:`Redactor.text` would mask (``cleartext``: a ``Cookie:``
    or ``Authorization:`` line, ``password=…`` in a printable run; plain HTTP kept by
    ``keep_payloads``)."""
    residual: list[Residual] = []
    cutter = None if keep_payloads else PayloadCutter()
    shapes = Redactor(key=b"\0" * 32)  # no remembered values: scan() needs only the shapes
    with path.open("rb") as stream:
        for record in read_capture(stream, Diagnostics(), name=str(path)):
            if isinstance(record, Secrets):
                residual.append(Residual(where="a Decryption Secrets Block",
                                         kind="secrets-block"))
                continue
            where = f"packet {record.index}"
            if cutter is not None and cutter.keep(record.linktype, record.data) < len(
                    record.data):
                residual.append(Residual(where=where, kind="payload"))
            kinds = {hit.kind for hit in scan(record.data.decode("latin-1"), shapes)}
            for run in _PRINTABLE_RE.finditer(record.data):
                text = run.group().decode("ascii")
                if shapes.text(text) != text:
                    kinds.add("cleartext")  # a Cookie: line, a Bearer token, a password= …
                    break
            residual += [Residual(where=where, kind=kind) for kind in sorted(kinds)]
    residual += [Residual(where=f"byte {offset}", kind="keylog") for offset in _keylog_lines(path)]
    return residual


def _keylog_lines(path: Path) -> Iterator[int]:
    """Offsets of key-log lines anywhere in the file's bytes, read a chunk at a time."""
    seen: set[int] = set()
    base = 0
    tail = b""
    with path.open("rb") as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            window = tail + chunk
            start = base - len(tail)
            for match in _KEYLOG_RE.finditer(window):
                if start + match.start() not in seen:
                    seen.add(start + match.start())
                    yield start + match.start()
            tail = window[-_SCAN_OVERLAP:]
            base += len(chunk)
