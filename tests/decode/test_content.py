"""archcmp.decode.content: codings on real compressor output, producer quirks, bombs, fuzzing."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archcmp.decode.content import decode_body, looks_decoded, parse_content_encoding
from archcmp.diagnostics import Diagnostics
from archcmp.limits import MAX_CODING_LAYERS
from archcmp.model import Body, DecodedBody

MiB = 1024 * 1024
JSON = b'{"id": "019ab572-f082-79b7-a0db-e69cbf591f58", "items": [1, 2, 3], "ok": true}\n' * 50
HTML = b"<!doctype html><html><head><title>x</title></head><body>" + b"<p>hi</p>" * 40 + b"</html>"


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


def zstd_streamed(data: bytes) -> bytes:
    """A frame without Frame_Content_Size, as a streaming server writes it."""
    buf = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(buf, closefd=False) as writer:
        writer.write(data)
    return buf.getvalue()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


def encode(data: bytes, codings: tuple[str, ...]) -> bytes:
    for coding in codings:  # header order = order of application (RFC 9110 §8.4)
        data = ENCODERS[coding](data)
    return data


def run(data: bytes | None, *codings: str, mime: str | None = "application/json",
        producer_decoded: bool | None = None, **caps: int) -> tuple[DecodedBody, Diagnostics]:
    diag = Diagnostics()
    body = Body(data=data, content_encoding=codings, mime_type=mime,
                producer_decoded=producer_decoded)
    return decode_body(body, diag, where="entry 7", **caps), diag


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


# ------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip", ("gzip",)),
        ("GZip, BR", ("gzip", "br")),
        (" gzip ,, identity , zstd ", ("gzip", "zstd")),
        (["gzip", "br"], ("gzip", "br")),
        (["deflate, gzip", "Identity"], ("deflate", "gzip")),
        ("identity", ()),
        ("", ()),
    ],
)
def test_parse_content_encoding(value: str | list[str], expected: tuple[str, ...]) -> None:
    assert parse_content_encoding(value) == expected


# ------------------------------------------------------------------------- happy decoding


@pytest.mark.parametrize("coding", sorted(ENCODERS))
@pytest.mark.parametrize("producer_decoded", [False, None])
def test_each_coding_round_trips(coding: str, producer_decoded: bool | None) -> None:
    result, diag = run(ENCODERS[coding](JSON), coding, producer_decoded=producer_decoded)
    assert result.status == "ok"
    assert result.data == JSON
    assert result.codings == ("gzip" if coding == "x-gzip" else coding,)
    assert result.encoded_size == len(ENCODERS[coding](JSON))
    assert len(diag) == 0


def test_identity_and_no_coding_are_ok() -> None:
    for codings in [(), ("identity",)]:
        result, diag = run(JSON, *codings)
        assert (result.status, result.data, result.codings) == ("ok", JSON, ())
        assert len(diag) == 0


def test_stacked_codings_are_undone_last_first() -> None:
    # Content-Encoding: gzip, br → gzip was applied first, so br comes off first.
    result, diag = run(encode(JSON, ("gzip", "br")), "gzip", "br", producer_decoded=False)
    assert (result.status, result.data, result.codings) == ("ok", JSON, ("br", "gzip"))
    assert len(diag) == 0


def test_raw_deflate_is_accepted_as_deflate() -> None:
    result, diag = run(raw_deflate(JSON), "deflate", producer_decoded=False)
    assert (result.status, result.data) == ("ok", JSON)
    assert len(diag) == 0


def test_gzip_multi_member_and_zero_padding() -> None:
    body = gzip.compress(JSON[:100]) + gzip.compress(JSON[100:]) + b"\0" * 10
    result, diag = run(body, "gzip")
    assert (result.status, result.data) == ("ok", JSON)
    assert len(diag) == 0


def test_gzip_members_larger_than_one_output_chunk() -> None:
    # Each member ends while output is being limited to 64 KiB pieces (zlib's max_length).
    parts = [b"".join(b"member %d line %06d\n" % (m, i) for i in range(12_000)) for m in range(3)]
    result, diag = run(b"".join(gzip.compress(p) for p in parts), "gzip", mime="text/plain")
    assert (result.status, result.data) == ("ok", b"".join(parts))
    assert len(diag) == 0


def test_gzip_trailing_garbage_is_ignored_with_a_warning() -> None:
    result, diag = run(gzip.compress(JSON) + b"garbage", "gzip")
    assert (result.status, result.data) == ("ok", JSON)
    assert codes(diag) == {"body.gzip.trailing_data": 1}


def test_zstd_multi_frame() -> None:
    compressor = zstandard.ZstdCompressor()
    frames = compressor.compress(JSON[:1000]) + compressor.compress(JSON[1000:])
    result, diag = run(frames, "zstd")
    assert (result.status, result.data) == ("ok", JSON)
    assert len(diag) == 0


def test_zstd_without_content_size_and_with_skippable_frames() -> None:
    streamed = zstd_streamed(JSON)
    assert zstandard.get_frame_parameters(streamed).content_size == zstandard.CONTENTSIZE_UNKNOWN
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    result, diag = run(skippable + streamed + skippable + streamed, "zstd")
    assert (result.status, result.data) == ("ok", JSON + JSON)
    assert len(diag) == 0


@pytest.mark.parametrize(("window_log", "status"), [(23, "ok"), (24, "corrupt")])
def test_zstd_window_above_rfc_9659_limit_is_refused(window_log: int, status: str) -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    buf = io.BytesIO()
    compressor = zstandard.ZstdCompressor(compression_params=params)
    with compressor.stream_writer(buf, closefd=False) as writer:  # no content size: window rules
        writer.write(JSON)
    result, diag = run(buf.getvalue(), "zstd")
    assert result.status == status
    if status == "corrupt":
        assert result.problem and "memory" in result.problem
        assert codes(diag) == {"body.zstd.corrupt": 1}


def test_empty_body_has_nothing_to_undo() -> None:
    result, diag = run(b"", "gzip")
    assert (result.status, result.data) == ("ok", b"")
    assert len(diag) == 0


def test_not_captured_is_not_warned() -> None:
    result, diag = run(None, "br")
    assert (result.status, result.data) == ("not-captured", None)
    assert len(diag) == 0


# --------------------------------------------------------------------------- bad codings


def test_unknown_coding_is_unsupported_and_left_encoded() -> None:
    body = gzip.compress(JSON)
    result, diag = run(body, "gzip", "x-custom")
    assert (result.status, result.data, result.codings) == ("unsupported", body, ())
    assert codes(diag) == {"body.coding.unsupported": 1}


def test_too_many_layers_are_refused() -> None:
    codings = ("gzip",) * (MAX_CODING_LAYERS + 1)
    result, diag = run(encode(JSON, codings), *codings)
    assert result.status == "unsupported"
    assert codes(diag) == {"body.limit.layers": 1}


@pytest.fixture
def mitmproxy_corrupt_gzip(shared: Path) -> bytes:
    har = json.loads((shared / "corpus/har/mitmproxy__corrupted_gzip_body.har").read_text())
    content = har["log"]["entries"][0]["response"]["content"]
    assert content["encoding"] == "base64"
    return base64.b64decode(content["text"])


@pytest.mark.parametrize("producer_decoded", [True, None, False])
def test_corrupt_gzip_from_mitmproxy_corpus(
    mitmproxy_corrupt_gzip: bytes, producer_decoded: bool | None
) -> None:
    # mitmproxy could not decode it either and stored the raw bytes: gzip magic, bad data.
    result, diag = run(mitmproxy_corrupt_gzip, "gzip", mime="text/html; charset=utf-8",
                       producer_decoded=producer_decoded)
    assert result.status == "corrupt"
    assert result.data == mitmproxy_corrupt_gzip
    assert result.problem
    assert codes(diag) == {"body.gzip.corrupt": 1}
    assert diag.warnings()[0].samples == ("entry 7",)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_cut_stream_is_corrupt(coding: str) -> None:
    encoded = ENCODERS[coding](JSON)
    result, diag = run(encoded[: len(encoded) - 5], coding, mime="application/octet-stream")
    assert result.status == "corrupt"
    assert codes(diag) == {f"body.{coding}.corrupt": 1}


def test_corrupt_inner_layer_keeps_outer_layer_output() -> None:
    inner = gzip.compress(JSON)
    broken = inner[:20] + bytes(b ^ 0xFF for b in inner[20:40]) + inner[40:]
    result, diag = run(brotli.compress(broken), "gzip", "br", producer_decoded=False)
    assert (result.status, result.data, result.codings) == ("corrupt", broken, ("br",))
    assert codes(diag) == {"body.gzip.corrupt": 1}


# -------------------------------------------------------------------- already decoded?


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_producer_decoded_body_is_already_decoded_without_warning(coding: str) -> None:
    # Chromium/Playwright, Firefox and mitmproxy HARs: decoded text, header still says coded.
    for producer_decoded in (True, None):
        result, diag = run(JSON, coding, producer_decoded=producer_decoded)
        assert (result.status, result.data, result.codings) == ("already-decoded", JSON, ())
        assert len(diag) == 0


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_mislabelled_wire_body_is_warned(coding: str) -> None:
    # Real servers send "Content-Encoding: gzip" on plain bodies; on wire bytes that is news.
    result, diag = run(HTML, coding, mime="text/html", producer_decoded=False)
    assert (result.status, result.data) == ("already-decoded", HTML)
    assert codes(diag) == {"body.coding.mislabelled": 1}
    assert "not compressed" in diag.warnings()[0].message


def test_binary_body_without_magic() -> None:
    noise = bytes(range(256)) * 4  # not text, not gzip
    trusted, quiet = run(noise, "gzip", mime="application/octet-stream", producer_decoded=True)
    assert (trusted.status, len(quiet)) == ("already-decoded", 0)
    unknown, diag = run(noise, "gzip", mime="application/octet-stream")
    assert unknown.status == "corrupt"
    assert codes(diag) == {"body.gzip.corrupt": 1}


def test_br_failure_on_producer_decoded_bytes_is_not_corrupt() -> None:
    wasm = b"\x01\x02\x03\xff\xfe" * 100  # binary, no signature: br is tried and fails
    result, diag = run(wasm, "br", mime="application/wasm", producer_decoded=True)
    assert (result.status, result.data) == ("already-decoded", wasm)
    assert len(diag) == 0
    result, diag = run(wasm, "br", mime="application/wasm", producer_decoded=None)
    assert result.status == "corrupt"
    assert codes(diag) == {"body.br.corrupt": 1}


def test_producer_that_did_not_decode_is_caught_by_the_bytes() -> None:
    result, diag = run(brotli.compress(JSON), "br", producer_decoded=True)
    assert (result.status, result.data) == ("ok", JSON)
    assert len(diag) == 0


def test_decoded_gz_file_served_with_gzip_coding() -> None:
    # Apache's classic: foo.tar.gz sent with Content-Encoding: gzip; the browser stores the .gz.
    archive = gzip.compress(b"tar bytes" * 20)
    stored, diag = run(archive, "gzip", mime="application/gzip", producer_decoded=True)
    assert (stored.status, stored.data, len(diag)) == ("already-decoded", archive, 0)
    wire, _ = run(gzip.compress(archive), "gzip", mime="application/gzip", producer_decoded=False)
    assert (wire.status, wire.data) == ("ok", archive)


@pytest.mark.parametrize(
    ("data", "mime", "expected"),
    [
        (JSON, "application/json", True),
        (b'{"a":1}', "application/json", True),
        (b"<html>", "application/json", False),  # short text must match its type
        (b")]}'\n" + JSON, "application/json", True),  # anti-XSSI prefix
        (b"callback(" + JSON + b")", "application/json", True),  # JSONP, long
        (HTML, "text/html; charset=utf-8", True),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png", True),
        (b"\x00asm\x01\x00\x00\x00", "application/wasm", True),
        (JSON, "image/png", False),
        (gzip.compress(JSON), "application/json", False),
        (brotli.compress(JSON), "application/json", False),
        (zstandard.ZstdCompressor().compress(JSON), None, False),
        ("héllo wörld, ça va? ".encode() * 10, "text/plain", True),
        ("héllo".encode("latin-1") + b" plain ascii text" * 5, "text/plain", True),
    ],
)
def test_looks_decoded(data: bytes, mime: str | None, expected: bool) -> None:
    assert looks_decoded(data, mime) is expected


# ----------------------------------------------------------------------------------- bombs


def zeros_compressed(make: Callable[[], Callable[[bytes], bytes]], finish: Callable[[], bytes],
                     mib: int) -> bytes:
    """``mib`` MiB of zeros compressed one MiB at a time, so the test stays small in memory."""
    step = make()
    block = bytes(MiB)
    return b"".join(step(block) for _ in range(mib)) + finish()


def gzip_bomb(mib: int) -> bytes:
    obj = zlib.compressobj(9, wbits=zlib.MAX_WBITS | 16)
    return zeros_compressed(lambda: obj.compress, obj.flush, mib)


def brotli_bomb(mib: int) -> bytes:
    obj = brotli.Compressor(quality=1)
    return zeros_compressed(lambda: obj.process, obj.finish, mib)


def zstd_bomb(mib: int) -> bytes:
    obj = zstandard.ZstdCompressor(level=3).compressobj()
    return zeros_compressed(lambda: obj.compress, obj.flush, mib)


BOMBS: dict[str, Callable[[int], bytes]] = {"gzip": gzip_bomb, "br": brotli_bomb, "zstd": zstd_bomb}


@pytest.mark.parametrize("coding", sorted(BOMBS))
def test_bomb_is_truncated_at_max_bytes_with_bounded_memory(coding: str) -> None:
    bomb = BOMBS[coding](200)  # 200 MiB of zeros
    assert len(bomb) < 300_000
    tracemalloc.start()
    try:
        result, diag = run(bomb, coding, mime="application/octet-stream", max_bytes=MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "truncated"
    assert result.data is not None
    assert 0 < len(result.data) <= MiB
    assert result.data == bytes(len(result.data))  # a true prefix of the decoded body
    assert codes(diag) in ({"body.limit.truncated": 1}, {"body.limit.ratio": 1})
    assert peak < 8 * MiB, f"decoding a 200 MiB bomb held {peak} bytes"


def test_gzip_bomb_hits_the_size_cap() -> None:
    result, diag = run(gzip_bomb(200), "gzip", max_bytes=MiB)
    assert result.status == "truncated"
    assert result.data is not None and len(result.data) == MiB
    assert codes(diag) == {"body.limit.truncated": 1}


def test_ratio_cap() -> None:
    # 20 MiB of zeros from ~20 KB: fine for the size cap, far beyond a 10:1 ratio.
    result, diag = run(gzip_bomb(20), "gzip", max_ratio=10)
    assert result.status == "truncated"
    assert result.data is not None and len(result.data) <= 2 * MiB
    assert codes(diag) == {"body.limit.ratio": 1}
    assert result.problem and "ratio" in result.problem


def test_nested_gzip_bomb_is_bounded() -> None:
    outer = gzip.compress(gzip_bomb(200))  # gzip(gzip(200 MiB of zeros)): ~500 bytes
    tracemalloc.start()
    try:
        result, diag = run(outer, "gzip", "gzip", max_bytes=MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "truncated"
    assert result.codings == ("gzip", "gzip")
    assert result.data is not None and 0 < len(result.data) <= MiB
    assert sum(codes(diag).values()) == 1
    assert set(codes(diag)) <= {"body.limit.truncated", "body.limit.ratio"}
    assert peak < 8 * MiB


def test_truncated_inner_layer_still_decodes_the_prefix_of_the_next() -> None:
    text = b"".join(b"line %07d of a long log\n" % i for i in range(200_000))  # ~5 MiB
    result, diag = run(gzip.compress(zstd_streamed(text)), "zstd", "gzip",
                       mime="text/plain", max_bytes=2 * MiB)
    assert result.status == "truncated"
    assert result.data is not None and 0 < len(result.data) <= 2 * MiB
    assert text.startswith(result.data)
    assert codes(diag) == {"body.limit.truncated": 1}


# --------------------------------------------------------------------------------- fuzzing

coding_names = st.sampled_from(["gzip", "deflate", "br", "zstd"])


@given(data=st.binary(max_size=2000), coding=coding_names)
def test_round_trip_any_bytes(data: bytes, coding: str) -> None:
    result, diag = run(ENCODERS[coding](data), coding, mime=None, producer_decoded=False)
    assert (result.status, result.data) == ("ok", data)
    assert len(diag) == 0


@given(data=st.binary(max_size=500), stack=st.lists(coding_names, min_size=1, max_size=4))
def test_round_trip_random_stacks(data: bytes, stack: list[str]) -> None:
    codings = tuple(stack)
    result, _ = run(encode(data, codings), *codings, mime=None, producer_decoded=False)
    assert (result.status, result.data, result.codings) == ("ok", data, codings[::-1])


@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda d, c, k: ENCODERS[c](d)[:k],
                  st.binary(max_size=300), coding_names, st.integers(0, 400)),
    ),
    stack=st.lists(st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "compress"]),
                   max_size=3),
    mime=st.sampled_from([None, "application/json", "text/html", "image/png"]),
    producer_decoded=st.sampled_from([True, False, None]),
)
def test_arbitrary_bytes_never_raise(data: bytes, stack: list[str], mime: str | None,
                                     producer_decoded: bool | None) -> None:
    result, diag = run(data, *stack, mime=mime, producer_decoded=producer_decoded, max_bytes=4096)
    assert result.data is not None
    assert len(result.data) <= max(4096, len(data))
    if result.status in ("corrupt", "unsupported", "truncated"):
        assert len(diag) >= 1
