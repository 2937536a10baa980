"""Handshake messages: the RFC 8448 §3 hellos, reassembly across records, the SSLv2 hello."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.protocols.tls_handshake import (
    HRR_RANDOM,
    MAX_WANTED_MESSAGE,
    HandshakeBuffer,
    HandshakeError,
    parse_client_hello,
    parse_encrypted_extensions,
    parse_server_hello,
    parse_sslv2_client_hello,
    version_name,
)


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# RFC 8448 §3: {client} construct a ClientHello handshake message (196 octets) and
# {server} construct a ServerHello handshake message (90 octets).
CLIENT_HELLO = h("""
    010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece700000613011303
    1302010000910000000b0009000006736572766572ff01000100000a00140012001d00170018001901000101
    01020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d
    5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402
    050206020202002d00020101001c00024001""")
SERVER_HELLO = h("""
    020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e
    00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b0002
    0304""")
# RFC 8448 §3: the EncryptedExtensions at the start of the server's protected flight.
ENCRYPTED_EXTENSIONS = h("080000240022000a00140012001d00170018001901000101010201030104001c"
                         "0002400100000000")


def test_rfc8448_client_hello() -> None:
    ch = parse_client_hello(CLIENT_HELLO[4:])
    assert ch.random == h("cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7")
    assert ch.cipher_suites == (0x1301, 0x1303, 0x1302)
    assert ch.sni == "server"
    assert ch.supported_versions == (0x0304,)
    assert ch.key_share and not ch.psk and not ch.early_data and ch.alpn == ()
    assert ch.session_id == b""


def test_rfc8448_server_hello() -> None:
    sh = parse_server_hello(SERVER_HELLO[4:])
    assert sh.cipher_suite == 0x1301
    assert sh.version == 0x0304 and sh.legacy_version == 0x0303
    assert not sh.hello_retry_request and not sh.psk and sh.alpn is None


def test_rfc8448_encrypted_extensions() -> None:
    ee = parse_encrypted_extensions(ENCRYPTED_EXTENSIONS[4:])
    assert ee.alpn is None and not ee.early_data


def _ext(ext_type: int, body: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def _alpn(*names: bytes) -> bytes:
    inner = b"".join(bytes((len(n),)) + n for n in names)
    return _ext(16, len(inner).to_bytes(2, "big") + inner)


def test_server_hello_alpn_and_hello_retry_request() -> None:
    exts = _alpn(b"h2") + _ext(43, b"\x03\x04")
    body = (b"\x03\x03" + HRR_RANDOM + b"\x00" + b"\x13\x01" + b"\x00"
            + len(exts).to_bytes(2, "big") + exts)
    sh = parse_server_hello(body)
    assert sh.hello_retry_request and sh.alpn == "h2"
    assert version_name(sh.version) == "TLS 1.3"


def test_server_alpn_must_be_one_name() -> None:
    exts = _alpn(b"h2", b"http/1.1")
    body = b"\x03\x03" + bytes(32) + b"\x00\xc0\x2f\x00" + len(exts).to_bytes(2, "big") + exts
    with pytest.raises(HandshakeError):
        parse_server_hello(body)


def test_tls12_hello_without_extensions() -> None:
    body = b"\x03\x01" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
    ch = parse_client_hello(body)
    assert ch.cipher_suites == (0x002F,) and ch.sni is None and ch.supported_versions == ()


@pytest.mark.parametrize("cut", [1, 10, 37, 39, 45, 60, 100, 195])
def test_truncated_client_hello_raises_handshake_error(cut: int) -> None:
    with pytest.raises(HandshakeError):
        parse_client_hello(CLIENT_HELLO[4:cut])


def test_sslv2_client_hello() -> None:
    # RFC 5246 appendix E.2: msg_type 1, version 3.1, 2 cipher specs (one SSLv2-only), no
    # session id, a 16-byte challenge.
    specs = b"\x01\x00\x80" + b"\x00\x00\x2f"
    challenge = bytes(range(16))
    record = (b"\x01\x03\x01" + len(specs).to_bytes(2, "big") + b"\x00\x00" + b"\x00\x10"
              + specs + challenge)
    ch = parse_sslv2_client_hello(record)
    assert ch.sslv2 and ch.cipher_suites == (0x002F,) and ch.legacy_version == 0x0301
    assert ch.random == bytes(16) + challenge
    with pytest.raises(HandshakeError):
        parse_sslv2_client_hello(record[:-1])


# --- reassembly --------------------------------------------------------------------------------


def _messages(chunks: list[bytes]) -> list[tuple[int, bytes | None]]:
    buf = HandshakeBuffer()
    return [m for chunk in chunks for m in buf.feed(chunk)]


def test_coalesced_and_fragmented_messages() -> None:
    certificate = b"\x0b" + (3000).to_bytes(3, "big") + bytes(3000)
    flight = ENCRYPTED_EXTENSIONS + certificate + SERVER_HELLO
    expected = [(8, ENCRYPTED_EXTENSIONS[4:]), (11, None), (2, SERVER_HELLO[4:])]
    assert _messages([flight]) == expected
    assert _messages([flight[i : i + 1] for i in range(len(flight))]) == expected
    assert _messages([flight[:3], flight[3:1000], flight[1000:]]) == expected


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_cut_gives_the_same_messages(cuts: list[int]) -> None:
    flight = CLIENT_HELLO + ENCRYPTED_EXTENSIONS + SERVER_HELLO
    points = sorted({c for c in cuts if 0 < c < len(flight)})
    bounds = [0, *points, len(flight)]
    chunks = [flight[a:b] for a, b in itertools.pairwise(bounds)]
    assert _messages(chunks) == [(1, CLIENT_HELLO[4:]), (8, ENCRYPTED_EXTENSIONS[4:]),
                                 (2, SERVER_HELLO[4:])]


def test_oversize_wanted_message_is_skipped_not_buffered() -> None:
    buf = HandshakeBuffer()
    huge = b"\x01" + (MAX_WANTED_MESSAGE + 1).to_bytes(3, "big")
    assert list(buf.feed(huge + bytes(MAX_WANTED_MESSAGE + 1) + SERVER_HELLO)) == [
        (1, None), (2, SERVER_HELLO[4:])]
    assert buf.oversize == 1 and not buf.pending


def test_version_names() -> None:
    assert version_name(0x0303) == "TLS 1.2"
    assert version_name(0x7F1C) == "TLS 1.3 (draft 28)"
    assert version_name(0x0A0A) == "GREASE"
    assert version_name(0x0305) == "0x0305"


PARSERS = [parse_client_hello, parse_server_hello, parse_encrypted_extensions,
           parse_sslv2_client_hello]


@given(st.sampled_from(PARSERS), st.binary(max_size=300))
def test_parsers_raise_only_handshake_error_on_garbage(parser: object, body: bytes) -> None:
    assert callable(parser)
    with contextlib.suppress(HandshakeError):
        parser(body)


@given(st.integers(4, len(CLIENT_HELLO) - 1), st.integers(1, 255), st.integers(0, 12))
def test_mutated_client_hello_raises_only_handshake_error(pos: int, xor: int, cut: int) -> None:
    body = bytearray(CLIENT_HELLO[4:])
    body[(pos - 4) % len(body)] ^= xor
    with contextlib.suppress(HandshakeError):
        parse_client_hello(bytes(body[: len(body) - cut]))
