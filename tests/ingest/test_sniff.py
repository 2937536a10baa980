"""Format detection by magic bytes, and the streams that undo compression and byte-order marks."""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import lzma
import os
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.errors import ArchcmpError, CaptureError, TruncatedCapture, UnknownFormat
from archcmp.ingest.sniff import Capture, open_capture, sniff_stream

HAR = b'{"log": {"version": "1.2", "entries": []}}\n'
PCAP_LE = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")
PCAPNG = bytes.fromhex("0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000")

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "zlib": lambda data: zlib.compress(data, 9),  # what mitmproxy writes for .zhar
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


class TrickleStream(io.RawIOBase):
    """A non-seekable raw stream that returns at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        size = min(self._step, len(buffer), len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def sniff(data: bytes) -> Capture:
    return sniff_stream(io.BytesIO(data), name="test")


def read_all(capture: Capture) -> bytes:
    return capture.stream.read()


# --- magic bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("magic", "fmt"),
    [
        ("a1b2c3d4", "pcap"),  # big-endian, microsecond timestamps
        ("d4c3b2a1", "pcap"),  # little-endian, microsecond
        ("a1b23c4d", "pcap"),  # big-endian, nanosecond
        ("4d3cb2a1", "pcap"),  # little-endian, nanosecond
        ("0a0d0d0a", "pcapng"),  # Section Header Block
    ],
)
def test_capture_magic_decides_the_format(magic: str, fmt: str) -> None:
    data = bytes.fromhex(magic) + bytes(60)
    capture = sniff(data)
    assert (capture.format, capture.layers) == (fmt, ())
    assert read_all(capture) == data


@pytest.mark.parametrize("prefix", [b"", b"\n  \t\r\n", b" " * 900])
def test_json_object_is_har_even_after_whitespace(prefix: bytes) -> None:
    capture = sniff(prefix + HAR)
    assert capture.format == "har"
    assert read_all(capture) == prefix + HAR


def test_utf8_bom_is_removed_and_a_seekable_file_is_returned_unwrapped() -> None:
    raw = io.BytesIO(codecs.BOM_UTF8 + HAR)
    capture = sniff_stream(raw)
    assert capture.layers == ("utf-8-bom",)
    assert capture.stream is raw  # repositioned past the BOM, not copied
    assert read_all(capture) == HAR


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_text_is_transcoded_to_utf8(encoding: str) -> None:
    text = '{"log": {"entries": [], "comment": "na\u00efve \U0001f600"}}'
    bom = "\ufeff".encode(encoding)
    capture = sniff(bom + text.encode(encoding))
    assert capture.format == "har"
    assert capture.layers == (f"{encoding}-bom",)
    assert read_all(capture).decode("utf-8") == text


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
@pytest.mark.parametrize(("payload", "fmt"), [(HAR, "har"), (PCAP_LE, "pcap"), (PCAPNG, "pcapng")])
def test_one_compression_layer_is_undone(codec: str, payload: bytes, fmt: str) -> None:
    capture = sniff(COMPRESSORS[codec](payload))
    assert (capture.format, capture.layers) == (fmt, (codec,))
    assert read_all(capture) == payload


def test_compressed_har_with_bom_lists_both_layers() -> None:
    capture = sniff(gzip.compress(codecs.BOM_UTF8 + HAR))
    assert capture.layers == ("gzip", "utf-8-bom")
    assert read_all(capture) == HAR


def test_gzip_members_are_concatenated_and_zero_padding_ignored() -> None:
    # RFC 1952 §2.2: a gzip file is a series of members; tape blocking pads with NULs.
    data = gzip.compress(HAR[:10]) + gzip.compress(HAR[10:]) + bytes(512)
    assert read_all(sniff(data)) == HAR


def test_non_seekable_trickling_stream_loses_no_bytes() -> None:
    for payload in (HAR, gzip.compress(PCAPNG * 50)):
        capture = sniff_stream(io.BufferedReader(TrickleStream(payload, step=3), buffer_size=4))
        expected = PCAPNG * 50 if capture.layers else HAR
        assert read_all(capture) == expected


def test_read_n_returns_n_bytes_for_struct_readers() -> None:
    data = PCAPNG * 5000
    capture = sniff_stream(io.BufferedReader(TrickleStream(gzip.compress(data), step=7)))
    assert capture.stream.read(24) == data[:24]
    assert capture.stream.read(100_000) == data[24:100_024]


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", CaptureError, "empty"),
        (b" \n\t ", CaptureError, "whitespace"),
        (b"hello world", UnknownFormat, "unrecognised file type (first bytes 68 65 6c"),
        (b"[1, 2]", UnknownFormat, "top level is an array"),
        (b"PK\x03\x04" + bytes(30), UnknownFormat, "ZIP archive"),
        (b"\x28\xb5\x2f\xfd" + bytes(30), UnknownFormat, "zstd"),
        (gzip.compress(gzip.compress(HAR)), UnknownFormat, "one layer"),
        (gzip.compress(b""), CaptureError, "decompresses to nothing"),
        (b"\x1f\x8b" + bytes(30), CaptureError, "corrupt gzip data"),
    ],
)
def test_unusable_input_raises_one_sentence(
    data: bytes, error: type[ArchcmpError], words: str
) -> None:
    with pytest.raises(error) as raised:
        sniff(data)
    assert type(raised.value) is error
    assert words in raised.value.message
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("test: ")


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
def test_cut_compressed_data_raises_truncated(codec: str) -> None:
    # Raised while sniffing when not even the head inflates (bzip2 works in whole blocks),
    # otherwise from read(), after the bytes that did inflate.
    data = COMPRESSORS[codec](HAR * 200)
    with pytest.raises(TruncatedCapture, match=f"the {codec} data ends before its end marker"):
        read_all(sniff(data[: len(data) - 12]))


def test_garbage_after_the_compressed_stream_is_an_error() -> None:
    with pytest.raises(CaptureError, match="data after the end of the zlib stream"):
        read_all(sniff(zlib.compress(HAR) + b"garbage"))


def test_corruption_inside_compressed_data_never_leaks_zlib_error() -> None:
    data = bytearray(gzip.compress(HAR + os.urandom(200_000)))
    data[100_000:100_040] = bytes(40)  # stored deflate blocks: caught by the CRC-32 check
    with pytest.raises(CaptureError):
        read_all(sniff(bytes(data)))


def test_decompression_bomb_streams_in_bounded_memory() -> None:
    # 128 MiB of zeros behind a pcapng header compress to ~130 KB.
    size = 128 * 1024 * 1024
    zeros = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, wbits=31)
    parts = [compressor.compress(PCAPNG)]
    parts += [compressor.compress(zeros) for _ in range(size // len(zeros))]
    parts.append(compressor.flush())
    capture = sniff(b"".join(parts))
    tracemalloc.start()
    try:
        total = 0
        while chunk := capture.stream.read(1 << 20):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size + len(PCAPNG)
    assert peak < 8 * 1024 * 1024, peak


@given(st.binary(max_size=300))
def test_any_bytes_give_a_capture_or_an_archcmp_error(data: bytes) -> None:
    with contextlib.suppress(ArchcmpError):
        read_all(sniff(data))


@given(st.sampled_from(sorted(COMPRESSORS)), st.binary(max_size=200), st.integers(0, 400))
def test_cut_or_flipped_compressed_data_only_raises_archcmp_errors(
    codec: str, payload: bytes, cut: int
) -> None:
    data = bytearray(COMPRESSORS[codec](HAR + payload))
    if cut < len(data):
        data[cut] ^= 0x55
    with contextlib.suppress(ArchcmpError):
        read_all(sniff(bytes(data[: max(1, len(data) - cut // 3)])))


# --- files on disk ----------------------------------------------------------------------------


def test_open_capture_closes_the_file_and_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "capture.har.gz"
    path.write_bytes(gzip.compress(HAR))
    with open_capture(path) as capture:
        assert capture.format == "har"
        assert read_all(capture) == HAR
    empty = tmp_path / "empty.har"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError) as raised, open_capture(empty):
        pass
    assert raised.value.path == str(empty)


def test_corpus_hars_are_har_whatever_their_wrapping(shared: Path) -> None:
    layers: dict[str, tuple[str, ...]] = {}
    for path in sorted((shared / "corpus" / "har").iterdir()):
        with open_capture(path) as capture:
            assert capture.format == "har", path.name
            layers[path.name] = capture.layers
    assert layers["mitmproxy__compressed.zhar"] == ("zlib",)
    assert layers["mitmproxy__with-bom.har"] == ("utf-8-bom",)
    assert sum(1 for value in layers.values() if value) == 2


def test_corpus_pcaps_are_told_apart_by_magic_not_name(shared: Path) -> None:
    for path in sorted((shared / "corpus" / "pcap").iterdir()):
        if path.name.endswith(".txt"):  # key logs: text, not captures
            with pytest.raises(UnknownFormat), open_capture(path):
                pass
            continue
        expected = {".cap": "pcap", ".pcap": "pcap", ".pcapng": "pcapng"}[path.suffix]
        with open_capture(path) as capture:
            assert capture.format == expected, path.name
    # MANIFEST: "file is classic pcap despite .pcapng name upstream (renamed here to .pcap)".
    with open_capture(shared / "corpus" / "pcap" / "ja4__http1.pcap") as capture:
        assert capture.format == "pcap"
