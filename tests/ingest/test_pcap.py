"""pcap and pcapng reading: real captures against tshark's counts, every format variant rebuilt
from a real capture, and damage (cut files, garbage, absurd lengths) that must end in counted
warnings or one-line errors, never anything else."""

from __future__ import annotations

import io
import itertools
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.errors import ArchcmpError, TruncatedCapture, UnknownFormat
from archcmp.ingest.keylog import KeyLog
from archcmp.ingest.pcap import (
    MAX_BLOCK_BYTES,
    SECRETS_TLS_KEY_LOG,
    Frame,
    Secrets,
    read_capture,
)
from tests.conftest import SHARED

PCAP_DIR = SHARED / "corpus" / "pcap"
ALPHA = SHARED / "captures" / "alpha"
CORPUS = sorted(p.name for p in PCAP_DIR.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap")) or [
    "(corpus absent)"
]
SESSIONS = sorted(p.name for p in ALPHA.glob("*") if (p / "truth.json").is_file()) or ["(absent)"]


# --- helpers --------------------------------------------------------------------------------


def read(data: bytes, diag: Diagnostics | None = None) -> list[Frame | Secrets]:
    return list(
        read_capture(io.BytesIO(data), diag if diag is not None else Diagnostics(), name="test")
    )


def frames_of(records: list[Frame | Secrets]) -> list[Frame]:
    return [r for r in records if isinstance(r, Frame)]


def read_path(path: Path, diag: Diagnostics | None = None) -> list[Frame | Secrets]:
    with path.open("rb") as stream:
        return list(
            read_capture(stream, diag if diag is not None else Diagnostics(), name=path.name)
        )


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


def pcap(frames: list[Frame], *, order: str = "<", nanos: bool = False, linktype: int = 1) -> bytes:
    """A classic pcap file holding ``frames`` (draft-ietf-opsawg-pcap §4-§5)."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for f in frames:
        sec, ns = divmod(f.ts_ns, 1_000_000_000)
        frac = ns if nanos else ns // 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(f.data), f.orig_len) + f.data)
    return b"".join(out)


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def shb(order: str, major: int = 1) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, major, 0, -1))


def idb(order: str, linktype: int = 1, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    options = b""
    if tsresol is not None:
        options += option(order, 9, bytes([tsresol]))
    if tsoffset:
        options += option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += option(order, 0, b"")
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, 262144) + options)


def epb(order: str, iface: int, ts: int, data: bytes, orig_len: int) -> bytes:
    head = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig_len)
    return block(order, 6, head + data + b"\0" * (-len(data) % 4) + option(order, 0, b""))


def spb(order: str, data: bytes) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data)) + data)


def pb(order: str, iface: int, ts: int, data: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(order, 2, head + data)


def dsb(order: str, secrets: bytes, secrets_type: int = SECRETS_TLS_KEY_LOG) -> bytes:
    return block(order, 0x0A, struct.pack(order + "II", secrets_type, len(secrets)) + secrets)


def same_packets(a: list[Frame], b: list[Frame]) -> None:
    assert [(f.ts_ns, f.data, f.orig_len, f.linktype, f.index) for f in a] == [
        (f.ts_ns, f.data, f.orig_len, f.linktype, f.index) for f in b
    ]


@pytest.fixture(scope="module")
def http1(shared: Path) -> list[Frame]:
    """The frames of a real classic pcap (sv__http1-brotli: Ethernet, µs, little-endian)."""
    return frames_of(read_path(shared / "corpus" / "pcap" / "sv__http1-brotli.pcap"))


# --- real captures --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_frame_counts_match_tshark(shared: Path, name: str) -> None:
    truth = json.loads((shared / "corpus" / "MANIFEST.ground_truth.json").read_text())
    diag = Diagnostics()
    frames = frames_of(read_path(shared / "corpus" / "pcap" / name, diag))
    assert len(frames) == truth[f"pcap/{name}"]["packets"]
    assert [f.index for f in frames] == list(range(1, len(frames) + 1))
    assert all(a.ts_ns <= b.ts_ns + 10**9 for a, b in itertools.pairwise(frames))
    assert set(codes(diag)) <= {"pcapng.block.skipped"}  # ISBs dumpcap writes at the end


@pytest.mark.parametrize("session", SESSIONS)
@pytest.mark.parametrize("file", ["capture.pcapng", "capture-dsb.pcapng"])
def test_alpha_frame_counts_match_tshark(shared: Path, session: str, file: str) -> None:
    truth = json.loads((shared / "captures" / "alpha" / session / "truth.json").read_text())
    kind = "dsb_embedded_secrets" if "dsb" in file else "with_keylog"
    frames = frames_of(read_path(shared / "captures" / "alpha" / session / file))
    assert len(frames) == truth["verification"][kind]["packets"]


@pytest.mark.parametrize("session", SESSIONS)
def test_alpha_dsb_holds_the_key_log(shared: Path, session: str) -> None:
    folder = shared / "captures" / "alpha" / session
    diag = Diagnostics()
    secrets = [r for r in read_path(folder / "capture-dsb.pcapng", diag) if isinstance(r, Secrets)]
    assert secrets and all(s.secrets_type == SECRETS_TLS_KEY_LOG for s in secrets)
    embedded = KeyLog(None)
    for s in secrets:
        embedded = embedded.merge(KeyLog.parse(s.data, diag, source="dsb"))
    on_disk = KeyLog.parse((folder / "sslkeys.log").read_bytes(), diag, source="sslkeys.log")
    assert len(embedded) > 0
    assert embedded == on_disk
    assert codes(diag) == {}
    plain = read_path(folder / "capture.pcapng")
    assert not [r for r in plain if isinstance(r, Secrets)]


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("ja4__chrome-cloudflare-quic-with-secrets.pcapng", 10),
        ("ja4__http2-with-cookies.pcapng", 179),
    ],
)
def test_ja4_captures_carry_dsbs(shared: Path, name: str, lines: int) -> None:
    records = read_path(shared / "corpus" / "pcap" / name)
    secrets = [r for r in records if isinstance(r, Secrets)]
    assert len(secrets) == 1 and secrets[0].secrets_type == SECRETS_TLS_KEY_LOG
    assert len(secrets[0].data.splitlines()) == lines
    diag = Diagnostics()
    assert len(KeyLog.parse(secrets[0].data, diag)) == lines
    assert codes(diag) == {}


def test_ethernet_loopback_linktypes(shared: Path) -> None:
    null = frames_of(read_path(shared / "corpus" / "pcap" / "illustrated-tls13__capture.pcap"))
    assert {f.linktype for f in null} == {0}
    eth = frames_of(read_path(shared / "corpus" / "pcap" / "wiresharkwiki__http2-16-ssl.pcapng"))
    assert {f.linktype for f in eth} == {1} and {f.interface for f in eth} == {0}


# --- classic pcap variants ------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_byte_orders_and_nanosecond_magic(http1: list[Frame], order: str, nanos: bool) -> None:
    data = pcap(http1, order=order, nanos=nanos)
    assert data[:4] in (
        b"\xa1\xb2\xc3\xd4",
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
        b"\x4d\x3c\xb2\xa1",
    )
    same_packets(frames_of(read(data)), http1)


def test_nanosecond_pcap_keeps_nanoseconds(http1: list[Frame]) -> None:
    precise = [
        Frame(
            ts_ns=f.ts_ns + 123,
            linktype=1,
            data=f.data,
            interface=0,
            orig_len=f.orig_len,
            index=f.index,
        )
        for f in http1
    ]
    assert [f.ts_ns for f in frames_of(read(pcap(precise, nanos=True)))] == [
        f.ts_ns for f in precise
    ]


def test_pcap_linktype_masks_fcs_bits(http1: list[Frame]) -> None:
    data = bytearray(pcap(http1[:2]))
    struct.pack_into("<I", data, 20, 1 | 0x1000_0000 | 0x8000_0000)  # FCS flag + length bits
    assert {f.linktype for f in frames_of(read(bytes(data)))} == {1}


def test_short_reads_give_the_same_frames(http1: list[Frame]) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
            n = min(7, len(buffer), len(self._data))
            buffer[:n] = self._data[:n]
            self._data = self._data[n:]
            return n

    for data in (pcap(http1), pcapng_of(http1, "<")):
        frames = frames_of(list(read_capture(Trickle(data), Diagnostics())))  # type: ignore[arg-type]
        same_packets(frames, http1)


# --- pcapng ---------------------------------------------------------------------------------


def pcapng_of(frames: list[Frame], order: str, *, tsresol: int | None = None) -> bytes:
    """``frames`` as one pcapng section, timestamps in the given ``if_tsresol``."""
    parts = [shb(order), idb(order, frames[0].linktype if frames else 1, tsresol)]
    for f in frames:
        ts = to_units(f.ts_ns, tsresol)
        parts.append(epb(order, 0, ts, f.data, f.orig_len))
    return b"".join(parts)


def to_units(ts_ns: int, tsresol: int | None) -> int:
    if tsresol is None:
        return ts_ns // 1000
    if tsresol & 0x80:
        return (ts_ns << (tsresol & 0x7F)) // 1_000_000_000
    scale: int = 10 ** (tsresol & 0x7F)
    return ts_ns * scale // 1_000_000_000


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 6, 9, 3])
def test_pcapng_byte_orders_and_decimal_resolutions(
    http1: list[Frame], order: str, tsresol: int | None
) -> None:
    frames = frames_of(read(pcapng_of(http1, order, tsresol=tsresol)))
    digits = 6 if tsresol is None else tsresol
    step = 10 ** (9 - digits)  # a ms resolution (3) drops the µs digits the file had
    assert [f.ts_ns for f in frames] == [f.ts_ns // step * step for f in http1]
    assert [(f.data, f.orig_len, f.index) for f in frames] == [
        (f.data, f.orig_len, f.index) for f in http1
    ]


def test_pcapng_binary_resolution_and_offset() -> None:
    # if_tsresol 0x94 = 2^-20 s; if_tsoffset 1000 s (§4.2). 3 units of 2^-20 s = 2861.02… ns.
    data = shb("<") + idb("<", 1, 0x94, tsoffset=1000) + epb("<", 0, (5 << 20) + 3, b"x", 1)
    (frame,) = frames_of(read(data))
    assert frame.ts_ns == 1005 * 10**9 + 3 * 10**9 // 2**20


def test_pcapng_picosecond_resolution_is_floored() -> None:
    data = shb("<") + idb("<", 1, 12) + epb("<", 0, 1_234_567_891_234, b"x", 1)
    assert frames_of(read(data))[0].ts_ns == 1_234_567_891


def test_pcapng_sections_interfaces_and_block_kinds() -> None:
    """Two sections in opposite byte orders, several interfaces, EPB/SPB/PB, DSB, and skipped
    NRB/ISB/custom blocks (draft-ietf-opsawg-pcapng §4)."""
    nrb = block(">", 4, b"\0\0\0\0")
    isb = block(">", 5, struct.pack(">III", 0, 0, 0))
    custom = block("<", 0x0BAD, struct.pack("<I", 32473) + b"data")
    data = b"".join(
        [
            shb("<"),
            idb("<", 1),
            idb("<", 113, 9),
            epb("<", 1, 5_000_000_000, b"b" * 5, 9),
            epb("<", 0, 7_000_000, b"a", 1),
            dsb("<", b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"11" * 48 + b"\n"),
            custom,
            spb("<", b"spb!"),
            shb(">"),
            nrb,
            idb(">", 276),
            pb(">", 0, 9_000_000, b"pb"),
            epb(">", 0, 10_000_000, b"c" * 3, 3),
            isb,
        ]
    )
    diag = Diagnostics()
    records = read(data, diag)
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["Frame", "Frame", "Secrets", "Frame", "Frame", "Frame"]
    frames = frames_of(records)
    assert [(f.index, f.interface, f.linktype, f.ts_ns, f.data) for f in frames] == [
        (1, 1, 113, 5_000_000_000, b"b" * 5),
        (2, 0, 1, 7_000_000_000, b"a"),
        (3, 0, 1, 7_000_000_000, b"spb!"),  # an SPB takes the time of the packet before it
        (4, 2, 276, 9_000_000_000, b"pb"),  # interfaces numbered across sections
        (5, 2, 276, 10_000_000_000, b"ccc"),
    ]
    assert frames[0].orig_len == 9
    # NRB and ISB describe the capture (no traffic lost): only the custom block is counted
    assert codes(diag) == {"pcapng.block.skipped": 1}
    samples = next(w.samples for w in diag.warnings() if w.code == "pcapng.block.skipped")
    assert samples == ("Custom Block (copyable)",)


def test_pcapng_packet_naming_an_unknown_interface_is_counted() -> None:
    diag = Diagnostics()
    data = shb("<") + idb("<") + epb("<", 3, 0, b"x", 1) + epb("<", 0, 0, b"y", 1)
    assert [f.data for f in frames_of(read(data, diag))] == [b"y"]
    assert codes(diag) == {"pcapng.packet.bad_interface": 1}


def test_pcapng_secrets_of_other_types_are_kept() -> None:
    (secrets,) = read(shb(">") + dsb(">", b"ssh-keys", 0x5353484B))
    assert secrets == Secrets(secrets_type=0x5353484B, data=b"ssh-keys")


# --- unusable headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedCapture),
        (b"\xd4\xc3", TruncatedCapture),
        (b"\xd4\xc3\xb2\xa1\x02\x00", TruncatedCapture),
        (b"GIF89a" + b"\0" * 40, UnknownFormat),
        (struct.pack("<IHHiIII", 0xA1B2C3D4, 3, 0, 0, 0, 0, 1), UnknownFormat),
        (b"\x0a\x0d\x0d\x0a\x1c\x00", TruncatedCapture),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00XXXX" + b"\0" * 16, UnknownFormat),
        (shb("<")[:-4], TruncatedCapture),
        (shb("<", major=2), UnknownFormat),
        (b"\x0a\x0d\x0d\x0a\xff\xff\xff\xff\x4d\x3c\x2b\x1a", UnknownFormat),
    ],
)
def test_unusable_header_is_a_one_line_error(data: bytes, error: type[ArchcmpError]) -> None:
    with pytest.raises(error) as info:
        read(data)
    assert "\n" not in str(info.value) and str(info.value).startswith("test: ")


# --- damage ---------------------------------------------------------------------------------


@given(cut=st.integers(min_value=0, max_value=10**6))
def test_cut_pcap_yields_a_prefix_then_one_warning(cut: int) -> None:
    whole = _small_pcap()
    data = whole[: cut % (len(whole) + 1)]
    reference = frames_of(read(whole))
    diag = Diagnostics()
    try:
        frames = frames_of(read(data, diag))
    except ArchcmpError:
        assert len(data) < 24
        return
    same_packets(frames, reference[: len(frames)])
    boundaries = _record_ends(whole)
    if len(data) in boundaries:
        assert codes(diag) == {}
    else:
        assert codes(diag) == {"pcap.file.truncated": 1}


@given(cut=st.integers(min_value=0, max_value=10**6))
def test_cut_pcapng_yields_a_prefix_then_one_warning(cut: int) -> None:
    frames_in = frames_of(read(_small_pcap()))
    whole = pcapng_of(frames_in, "<") + dsb("<", b"# keys\n")
    data = whole[: cut % (len(whole) + 1)]
    diag = Diagnostics()
    try:
        frames = frames_of(read(data, diag))
    except ArchcmpError:
        assert len(data) < len(shb("<"))
        return
    same_packets(frames, frames_in[: len(frames)])
    assert set(codes(diag)) <= {"pcap.file.truncated"}


def _small_pcap() -> bytes:
    payloads = [bytes(range(n % 256)) * (1 + n % 3) for n in range(1, 9)]
    frames = [
        Frame(
            ts_ns=1_700_000_000_000_000_000 + i * 1_000_000,
            linktype=1,
            data=p,
            interface=0,
            orig_len=len(p),
            index=i + 1,
        )
        for i, p in enumerate(payloads)
    ]
    return pcap(frames)


def _record_ends(data: bytes) -> set[int]:
    ends = {24}
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        pos += 16 + caplen
        ends.add(pos)
    return ends


@given(garbage=st.binary(min_size=1, max_size=300))
def test_garbage_appended_to_pcapng_is_counted(garbage: bytes) -> None:
    frames_in = frames_of(read(_small_pcap()))
    diag = Diagnostics()
    frames = frames_of(read(pcapng_of(frames_in, "<") + garbage, diag))
    same_packets(frames[: len(frames_in)], frames_in)
    assert len(frames) == len(frames_in)
    assert codes(diag).keys() <= {"pcap.file.truncated", "pcapng.block.corrupt"}
    assert codes(diag)


@given(garbage=st.binary(min_size=1, max_size=300))
def test_garbage_appended_to_pcap_is_counted(garbage: bytes) -> None:
    whole = _small_pcap()
    reference = frames_of(read(whole))
    diag = Diagnostics()
    frames = frames_of(read(whole + garbage, diag))
    same_packets(frames[: len(reference)], reference)
    # Garbage may happen to look like one more record; it is never fatal and never silent.
    assert codes(diag) or len(frames) > len(reference)


@given(
    garbage=st.binary(min_size=1, max_size=200),
    where=st.integers(min_value=1, max_value=7),
)
def test_garbage_between_pcapng_blocks_is_skipped_and_reading_resumes(
    garbage: bytes, where: int
) -> None:
    frames_in = frames_of(read(_small_pcap()))
    head = shb("<") + idb("<")
    blocks = [epb("<", 0, f.ts_ns // 1000, f.data, f.orig_len) for f in frames_in]
    data = head + b"".join(blocks[:where]) + garbage + b"".join(blocks[where:])
    diag = Diagnostics()
    frames = frames_of(read(data, diag))
    assert [f.data for f in frames] == [f.data for f in frames_in]
    assert codes(diag) == {"pcapng.block.corrupt": 1}


@given(garbage=st.binary(min_size=17, max_size=200), where=st.integers(min_value=1, max_value=7))
def test_garbage_between_pcap_records_is_skipped_and_reading_resumes(
    garbage: bytes, where: int
) -> None:
    whole = _small_pcap()
    ends = sorted(_record_ends(whole))
    cut = ends[where]
    # Garbage whose first header claims an impossible length, as a corrupt record would.
    junk = struct.pack("<IIII", 0, 0, 0x7FFF_FFFF, 0x7FFF_FFFF) + garbage
    diag = Diagnostics()
    frames = frames_of(read(whole[:cut] + junk + whole[cut:], diag))
    assert [f.data for f in frames] == [f.data for f in frames_of(read(whole))]
    assert codes(diag) == {"pcap.record.corrupt": 1}


def test_absurd_block_length_is_bounded() -> None:
    diag = Diagnostics()
    data = shb("<") + idb("<") + struct.pack("<II", 6, MAX_BLOCK_BYTES + 4) + b"\0" * 64
    assert frames_of(read(data, diag)) == []
    assert codes(diag) == {"pcapng.block.corrupt": 1}


def test_block_claiming_more_than_the_file_holds_is_truncation() -> None:
    diag = Diagnostics()
    data = shb("<") + idb("<") + epb("<", 0, 0, b"a", 1) + struct.pack("<II", 6, 4096) + b"\0" * 40
    assert len(frames_of(read(data, diag))) == 1
    assert codes(diag) == {"pcap.file.truncated": 1}


def test_garbage_claiming_a_length_past_the_end_resyncs() -> None:
    diag = Diagnostics()
    junk = struct.pack("<II", 6, 1 << 20) + b"\xee" * 37
    data = shb("<") + idb("<") + epb("<", 0, 0, b"a", 1) + junk + epb("<", 0, 0, b"b", 1)
    assert [f.data for f in frames_of(read(data, diag))] == [b"a", b"b"]
    assert codes(diag) == {"pcapng.block.corrupt": 1}


def test_mismatched_trailing_length_resyncs() -> None:
    diag = Diagnostics()
    bad = bytearray(epb("<", 0, 0, b"bad", 3))
    bad[-4:] = struct.pack("<I", 999)
    data = shb("<") + idb("<") + bytes(bad) + epb("<", 0, 0, b"good", 4)
    assert [f.data for f in frames_of(read(data, diag))] == [b"good"]
    assert codes(diag) == {"pcapng.block.corrupt": 1}


def test_unknown_later_section_version_stops_with_a_warning() -> None:
    diag = Diagnostics()
    data = shb("<") + idb("<") + epb("<", 0, 0, b"a", 1) + shb("<", major=2) + idb("<")
    assert len(frames_of(read(data, diag))) == 1
    assert codes(diag) == {"pcapng.section.unsupported": 1}


@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_after_a_valid_header_never_raise(data: bytes) -> None:
    for head in (shb("<") + idb("<"), shb(">") + idb(">"), pcap([])):
        read(head + data)


@given(data=st.binary(max_size=64))
def test_arbitrary_headers_raise_only_archcmp_errors(data: bytes) -> None:
    for magic in (b"\x0a\x0d\x0d\x0a", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b""):
        try:
            read(magic + data)
        except ArchcmpError as exc:
            assert "\n" not in str(exc)
