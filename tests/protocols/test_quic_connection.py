"""Reassembly and the TLS messages QUIC carries in CRYPTO frames (quic_connection)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.protocols.quic_connection import (
    HandshakeReader,
    Reassembler,
    parse_client_hello,
    parse_encrypted_extensions,
    parse_server_hello,
    parse_transport_parameters,
)
from tests.protocols.test_quic_packets import CLIENT_PAYLOAD, SERVER_PAYLOAD

CLIENT_HELLO = CLIENT_PAYLOAD[4:245]  # RFC 9001 §A.2: the CRYPTO frame's data
SERVER_HELLO = SERVER_PAYLOAD[9:]  # RFC 9001 §A.3


def _deliver(pieces: list[tuple[int, bytes]]) -> bytes:
    buf = Reassembler()
    out = b""
    for offset, data in pieces:
        for at, chunk in buf.add(offset, data)[0]:
            assert at == len(out)
            out += chunk
    return out


def test_reassembler_first_arrival_wins() -> None:
    assert _deliver([(0, b"abc"), (3, b"def")]) == b"abcdef"
    assert _deliver([(3, b"DEF"), (0, b"abcdef")]) == b"abcDEF"
    assert _deliver([(2, b"CD"), (6, b"GH"), (0, b"abcdefghij")]) == b"abCDefGHij"
    assert _deliver([(4, b"e"), (4, b"E"), (0, b"abcd")]) == b"abcde"
    assert _deliver([(0, b"ab"), (0, b"AB"), (1, b"Bc")]) == b"abc"


def test_reassembler_limit() -> None:
    buf = Reassembler(limit=4)
    assert buf.add(10, b"abcdef") == ([], True)
    assert buf.add(0, b"xy") == ([(0, b"xy")], False)


@given(st.binary(min_size=1, max_size=64), st.lists(st.tuples(st.integers(0, 63),
                                                             st.integers(1, 16)), max_size=30))
def test_reassembler_any_order_gives_the_stream(data: bytes,
                                                cuts: list[tuple[int, int]]) -> None:
    pieces = [(a, data[a : a + n]) for a, n in cuts if a < len(data)]
    pieces.append((0, data))
    assert _deliver(pieces) == data


def test_handshake_reader_splits_messages_across_fragments() -> None:
    reader = HandshakeReader()
    assert reader.add(100, CLIENT_HELLO[100:]) == []
    assert reader.pending
    messages = reader.add(0, CLIENT_HELLO[:100])
    assert [(t, len(b)) for t, b in messages] == [(1, len(CLIENT_HELLO) - 4)]
    assert not reader.pending


def test_rfc9001_hellos() -> None:
    hello = parse_client_hello(CLIENT_HELLO[4:])
    assert hello.sni == "example.com" and hello.alpn == ("alpn",)
    assert hello.cipher_suites == (0x1301, 0x1302)
    assert hello.client_random.hex().startswith("ebf8fa56")
    (msg_type, body), = HandshakeReader().add(0, SERVER_HELLO)
    assert msg_type == 2
    assert parse_server_hello(body) == (0x1301, False)


def test_hello_retry_request_is_recognised() -> None:
    # RFC 8446 §4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest")
    hrr = bytes.fromhex("0303" "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
                        "00" "1302" "00" "0000")
    assert parse_server_hello(hrr) == (0x1302, True)


def test_encrypted_extensions_and_parameters() -> None:
    ee = bytes.fromhex("001c" "0010" "0005" "0003" "02" "6833" "0039" "000f"
                       "01" "02" "4e20" "0c" "00" "1b" "00" "80004752" "02" "abcd")
    alpn, params = parse_encrypted_extensions(ee)
    assert alpn == "h3"
    assert params is not None
    assert params.max_idle_timeout == 0x0E20 and params.disable_active_migration  # varint 4e20
    assert params.other == (0x1B, 0x4752)  # GREASE (31*0+27) and a vendor id, in order


def test_truncated_tls_raises_value_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        parse_client_hello(CLIENT_HELLO[4:60])
    with pytest.raises(ValueError, match="truncated"):
        parse_transport_parameters(bytes.fromhex("04" "08" "ffff"))
