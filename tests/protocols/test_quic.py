"""QuicTracker on synthetic connections built with the RFC 9001 Appendix A handshake messages.

The client's Initial carries RFC 9001 §A.2's ClientHello (SNI example.com, ALPN "alpn", client
SCID empty) and the server's Initial §A.3's ServerHello (AES-128-GCM); later packets are
protected here with secrets of our own, which the key log hands the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aioquic.buffer import encode_uint_var
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.keylog import KeyLog
from archcmp.protocols.quic import (
    QuicConnectionClosed,
    QuicConnectionSeen,
    QuicCoverage,
    QuicEvent,
    QuicHandshakeDone,
    QuicStreamData,
    QuicStreamReset,
    QuicTracker,
)
from archcmp.protocols.quic_packets import (
    AES_128_GCM_SHA256,
    CHACHA20_POLY1305_SHA256,
    VERSION_1,
    VERSION_2,
    PacketKeys,
    initial_keys,
    keys_from_secret,
    next_generation,
)
from tests.protocols.test_quic_packets import (
    CLIENT_PAYLOAD,
    CLIENT_RANDOM,
    DCID,
    SERVER_PAYLOAD,
    V1_CLIENT_PACKET,
    V1_RETRY,
    V1_SERVER_PACKET,
    V2_CLIENT_PACKET,
    V2_SERVER_PACKET,
)

CLIENT = ("192.0.2.1", 50000)
SERVER = ("198.51.100.7", 443)
SCID = bytes.fromhex("f067a5502a4262b5")  # the server's CID in RFC 9001 §A.3
SECRETS = {label: bytes([n]) * 32 for n, label in enumerate((
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET"), 1)}
KEYLOG = KeyLog({(label, CLIENT_RANDOM): secret for label, secret in SECRETS.items()})
# RFC 8446 §4.3.1 EncryptedExtensions with ALPN "h3", then a (dummy) Finished.
EE = bytes.fromhex("08" "00000b" "0009" "0010" "0005" "0003" "02" "6833")
FINISHED = bytes.fromhex("14" "000004" "00000000")
LONG_TYPES = {"initial": 0, "0rtt": 1, "handshake": 2}


def varint(n: int) -> bytes:
    data: bytes = encode_uint_var(n)
    return data


def crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def stream(stream_id: int, offset: int, data: bytes, fin: bool = False) -> bytes:
    return bytes([0x0E | fin]) + varint(stream_id) + varint(offset) + varint(len(data)) + data


def pad(payload: bytes, size: int = 24) -> bytes:
    return payload + bytes(max(0, size - len(payload)))


def protect(keys: PacketKeys, header: bytes, payload: bytes, pn: int) -> bytes:
    packet: bytes = keys.hp.apply(header, keys.aead.encrypt(payload, header, pn))
    return packet


def long_packet(keys: PacketKeys, space: str, dcid: bytes, scid: bytes, pn: int,
                payload: bytes, version: int = VERSION_1) -> bytes:
    bits = LONG_TYPES[space] if version == VERSION_1 else (LONG_TYPES[space] + 1) % 4
    header = bytes([0xC1 | bits << 4]) + version.to_bytes(4, "big")
    header += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    if space == "initial":
        header += b"\x00"
    payload = pad(payload)
    header += (0x4000 | (2 + len(payload) + 16)).to_bytes(2, "big") + pn.to_bytes(2, "big")
    return protect(keys, header, payload, pn)


def short_packet(keys: PacketKeys, dcid: bytes, pn: int, payload: bytes, phase: int = 0) -> bytes:
    header = bytes([0x41 | phase << 2]) + dcid + pn.to_bytes(2, "big")
    return protect(keys, header, pad(payload), pn)


@dataclass
class Session:
    """Drives a tracker with a connection's packets; keeps the events."""

    keylog: KeyLog = field(default_factory=lambda: KEYLOG)
    version: int = VERSION_1
    diag: Diagnostics = field(default_factory=Diagnostics)
    events: list[QuicEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracker = QuicTracker(self.keylog, self.diag)
        self.ci, self.si = initial_keys(DCID, self.version)
        self.keys = {label: keys_from_secret(secret, AES_128_GCM_SHA256, self.version)
                     for label, secret in SECRETS.items()}
        self.pn = {"c": 0, "s": 0}

    def next_pn(self, side: str) -> int:
        self.pn[side] += 1
        return self.pn[side]

    def feed(self, datagram: bytes, from_client: bool = True, ts: int = 0,
             client: tuple[str, int] = CLIENT) -> list[QuicEvent]:
        src, dst = (client, SERVER) if from_client else (SERVER, client)
        out = self.tracker.feed(datagram, ts, src, dst)
        self.events += out
        return out

    def finish(self) -> list[QuicEvent]:
        out = self.tracker.finish()
        self.events += out
        return out

    def handshake(self, *, with_0_5_rtt: bytes = b"") -> None:
        """Client Initial; server Initial + Handshake (EE, Finished) [+ 1-RTT] in one datagram."""
        self.feed(long_packet(self.ci, "initial", DCID, b"", 0, CLIENT_PAYLOAD[:245],
                              self.version) + bytes(955), ts=1)
        server = long_packet(self.si, "initial", b"", SCID, 0, SERVER_PAYLOAD[5:], self.version)
        server += long_packet(self.keys["SERVER_HANDSHAKE_TRAFFIC_SECRET"], "handshake", b"",
                              SCID, 0, crypto(0, EE + FINISHED), self.version)
        if with_0_5_rtt:
            server += short_packet(self.keys["SERVER_TRAFFIC_SECRET_0"], b"", 0, with_0_5_rtt)
        self.feed(server, from_client=False, ts=2)

    def client_1rtt(self, payload: bytes, ts: int = 10, phase: int = 0,
                    keys: PacketKeys | None = None, dcid: bytes = SCID,
                    client: tuple[str, int] = CLIENT) -> list[QuicEvent]:
        keys = keys or self.keys["CLIENT_TRAFFIC_SECRET_0"]
        return self.feed(short_packet(keys, dcid, self.next_pn("c"), payload, phase), ts=ts,
                         client=client)

    def coverage(self, conn_id: int = 0) -> dict[str, tuple[int, int, tuple[tuple[str, int], ...]]]:
        cov = next(e for e in self.events if isinstance(e, QuicCoverage) and e.conn_id == conn_id)
        return {s.space: (s.decrypted, s.total, s.reasons) for s in cov.spaces}

    def data(self, stream_id: int, from_client: bool) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, QuicStreamData)
                        and (e.stream_id, e.from_client) == (stream_id, from_client))


def test_rfc9001_client_initial_alone_gives_sni_alpn_and_parameters() -> None:
    for packet, version in ((V1_CLIENT_PACKET, VERSION_1), (V2_CLIENT_PACKET, VERSION_2)):
        session = Session(keylog=KeyLog(), version=version)
        (seen,) = session.feed(packet)
        assert isinstance(seen, QuicConnectionSeen)
        assert (seen.sni, seen.alpn_offered, seen.version) == ("example.com", ("alpn",), version)
        assert seen.original_dcid == DCID and seen.tls_versions == (0x0304,)
        params = seen.client_params
        assert params is not None
        assert params.initial_max_data == (1 << 62) - 1
        assert params.max_idle_timeout == 30000
        assert params.initial_max_stream_data_bidi_local == 0xFFFF
        assert params.initial_max_streams_bidi == 16
        assert 0x0F in params.other  # initial_source_connection_id
        # the server's RFC Initial follows on the same path (zero-length client CID)
        session.feed(V1_SERVER_PACKET if version == VERSION_1 else V2_SERVER_PACKET,
                     from_client=False)
        session.finish()
        assert session.coverage()["initial"] == (2, 2, ())
        assert not session.diag.warnings()


def test_handshake_then_streams_with_0_5_rtt() -> None:
    session = Session()
    control = b"\x00\x04\x00"  # HTTP/3 control stream: type 0, empty SETTINGS
    session.handshake(with_0_5_rtt=stream(3, 0, control))
    kinds = [type(e) for e in session.events]
    assert kinds == [QuicConnectionSeen, QuicHandshakeDone, QuicStreamData]
    done = session.events[1]
    assert isinstance(done, QuicHandshakeDone)
    assert (done.alpn, done.cipher_suite) == ("h3", AES_128_GCM_SHA256)
    session.client_1rtt(stream(0, 0, b"request", fin=True))
    session.finish()
    assert session.data(3, False) == control
    assert session.data(0, True) == b"request"
    last = [e for e in session.events if isinstance(e, QuicStreamData)][-1]
    assert last.fin and last.from_client
    assert session.coverage() == {"initial": (2, 2, ()), "0rtt": (0, 0, ()),
                                  "handshake": (1, 1, ()), "1rtt": (2, 2, ())}
    closed = [e for e in session.events if isinstance(e, QuicConnectionClosed)]
    assert [c.reason for c in closed] == ["capture-end"]


def test_stream_data_waits_for_the_handshake() -> None:
    """Without Handshake keys the ALPN is unknown: data is held until the client's 1-RTT."""
    keylog = KeyLog({(label, CLIENT_RANDOM): s for label, s in SECRETS.items()
                     if "HANDSHAKE" not in label})
    session = Session(keylog=keylog)
    session.handshake(with_0_5_rtt=stream(3, 0, b"\x00\x04\x00"))
    assert not [e for e in session.events if isinstance(e, QuicStreamData)]
    session.client_1rtt(stream(0, 0, b"x"))
    kinds = [type(e).__name__ for e in session.events]
    assert kinds[1:] == ["QuicHandshakeDone", "QuicStreamData", "QuicStreamData"]
    session.finish()
    assert session.coverage()["handshake"] == (0, 1, (("no_keys", 1),))


def test_stream_reassembly_out_of_order_duplicate_overlap() -> None:
    session = Session()
    session.handshake()
    session.client_1rtt(stream(0, 6, b"ghij"))  # gap: nothing yet
    assert session.data(0, True) == b""
    session.client_1rtt(stream(0, 3, b"DEF"))  # still a gap at 0..3
    session.client_1rtt(stream(0, 0, b"abcdXYZ"))  # fills; d..f already buffered: first wins
    session.client_1rtt(stream(0, 0, b"abc"))  # duplicate
    session.client_1rtt(stream(0, 10, b"", fin=True))
    assert session.data(0, True) == b"abcDEFghij"
    chunks = [e for e in session.events if isinstance(e, QuicStreamData)]
    offsets = [(c.offset, len(c.data)) for c in chunks]
    assert offsets == [(0, 3), (3, 3), (6, 4), (10, 0)]
    assert chunks[-1].fin and chunks[-1].ts_ns == 10


def test_key_update_generations_and_late_packets() -> None:
    # https://www.rfc-editor.org/rfc/rfc9001#section-6
    session = Session()
    session.handshake()
    gen0 = session.keys["CLIENT_TRAFFIC_SECRET_0"]
    gen1 = next_generation(gen0)
    gen2 = next_generation(gen1)
    session.client_1rtt(stream(0, 0, b"a"))
    session.client_1rtt(stream(0, 1, b"b"), phase=1, keys=gen1)
    session.client_1rtt(stream(0, 2, b"c"), phase=0, keys=gen0)  # late, from generation 0
    session.client_1rtt(stream(0, 3, b"d"), phase=0, keys=gen2)
    session.client_1rtt(stream(0, 4, b"e"), phase=1, keys=gen1)  # late, from generation 1
    session.finish()
    assert session.data(0, True) == b"abcde"
    assert session.coverage()["1rtt"] == (5, 5, ())


def test_migration_keeps_the_connection_via_new_connection_id() -> None:
    # https://www.rfc-editor.org/rfc/rfc9000#section-9 and §19.15
    session = Session()
    session.handshake()
    new_cid = bytes.fromhex("0102030405060708")
    ncid = b"\x18\x01\x00\x08" + new_cid + bytes(16)
    session.feed(short_packet(session.keys["SERVER_TRAFFIC_SECRET_0"], b"", 1, ncid),
                 from_client=False)
    moved = ("203.0.113.9", 61000)
    session.client_1rtt(stream(0, 0, b"after move"), dcid=new_cid, client=moved)
    # the server answers on the new path with the client's (empty) CID
    session.feed(short_packet(session.keys["SERVER_TRAFFIC_SECRET_0"], b"", 2,
                              stream(0, 0, b"ok")), from_client=False, client=moved)
    session.finish()
    assert session.data(0, True) == b"after move"
    assert session.data(0, False) == b"ok"
    assert len([e for e in session.events if isinstance(e, QuicCoverage)]) == 1
    assert session.coverage()["1rtt"] == (3, 3, ())


def test_0rtt_tries_cipher_suites_before_the_server_hello() -> None:
    session = Session()
    session.feed(long_packet(session.ci, "initial", DCID, b"", 0, CLIENT_PAYLOAD[:245]))
    early = keys_from_secret(SECRETS["CLIENT_EARLY_TRAFFIC_SECRET"], CHACHA20_POLY1305_SHA256,
                             VERSION_1)
    session.feed(long_packet(early, "0rtt", DCID, b"", 1, stream(0, 0, b"early", fin=True)))
    session.handshake()
    session.finish()
    assert session.coverage()["0rtt"] == (1, 1, ())
    assert session.data(0, True) == b"early"


def test_reasons_for_undecrypted_packets() -> None:
    session = Session(keylog=KeyLog())
    session.handshake()
    session.client_1rtt(stream(0, 0, b"x"))
    corrupt = bytearray(long_packet(session.ci, "initial", DCID, b"", 5, b"\x01"))
    corrupt[-1] ^= 1
    session.feed(bytes(corrupt))
    session.feed(bytes([0x41]) + bytes(40), client=("192.0.2.99", 1))  # no Initial for it
    unknown = bytes([0xC0]) + bytes.fromhex("1a2a3a4a") + b"\x08" + bytes(8) + b"\x00\x00\x05"
    session.feed(unknown + bytes(5), client=("192.0.2.50", 2))
    session.finish()
    cov = session.coverage()
    assert cov["initial"] == (2, 3, (("corrupt", 1),))
    assert cov["handshake"] == (0, 1, (("no_keys", 1),))
    assert cov["1rtt"] == (0, 1, (("no_keys", 1),))
    orphan = session.coverage(1)
    assert orphan["1rtt"] == (0, 1, (("missing_initial", 1),))
    assert session.coverage(2)["initial"] == (0, 1, (("unknown_version", 1),))
    codes = {w.code for w in session.diag.warnings()}
    assert {"quic.session.no_key", "quic.connection.missing_initial"} <= codes


def test_retry_rekeys_the_client_initial() -> None:
    # https://www.rfc-editor.org/rfc/rfc9001#appendix-A.4: the Retry's SCID becomes the DCID
    session = Session()
    session.feed(V1_CLIENT_PACKET)
    session.feed(V1_RETRY, from_client=False)
    retried_keys = initial_keys(SCID, VERSION_1)[0]
    session.feed(long_packet(retried_keys, "initial", SCID, b"", 3, crypto(0, b"")))
    session.finish()
    cov = next(e for e in session.events if isinstance(e, QuicCoverage))
    assert cov.retry and cov.sni == "example.com"
    assert session.coverage()["initial"] == (2, 2, ())
    assert not session.diag.warnings()


def test_version_negotiation_then_v1() -> None:
    session = Session(keylog=KeyLog())
    grease = 0x0A0A0A0A
    first = bytes([0xC0]) + grease.to_bytes(4, "big") + b"\x08" + DCID + b"\x00\x00\x05"
    session.feed(first + bytes(1195))
    vn = b"\x80" + bytes(4) + b"\x00" + b"\x08" + DCID + VERSION_1.to_bytes(4, "big")
    session.feed(vn, from_client=False)
    session.feed(V1_CLIENT_PACKET)
    session.finish()
    cov = next(e for e in session.events if isinstance(e, QuicCoverage))
    assert cov.version_negotiation == (VERSION_1,) and cov.version == VERSION_1
    assert cov.sni == "example.com"
    assert session.coverage()["initial"] == (1, 2, (("unknown_version", 1),))


def test_crypto_fragments_across_packets_in_any_order() -> None:
    session = Session(keylog=KeyLog())
    hello = CLIENT_PAYLOAD[4:245]  # the ClientHello message itself
    parts = [(0, hello[:100]), (100, hello[100:180]), (180, hello[180:])]
    first = long_packet(session.ci, "initial", DCID, b"", 0,
                        crypto(*parts[2]) + b"\x01" + crypto(*parts[0]))
    assert not [e for e in session.feed(first) if isinstance(e, QuicConnectionSeen)]
    second = long_packet(session.ci, "initial", DCID, b"", 1, crypto(*parts[1]) + crypto(*parts[0]))
    (seen,) = session.feed(second)
    assert isinstance(seen, QuicConnectionSeen) and seen.sni == "example.com"


def test_connection_close_and_resets() -> None:
    session = Session()
    session.handshake()
    # RESET_STREAM stream 0 error 0x100, STOP_SENDING stream 4 error 0x101; then an
    # application CONNECTION_CLOSE 0x100 "bye"
    session.client_1rtt(bytes.fromhex("04" "00" "4100" "00" "05" "04" "4101"))
    session.client_1rtt(bytes.fromhex("1d" "4100" "03") + b"bye")
    session.finish()
    resets = [e for e in session.events if isinstance(e, QuicStreamReset)]
    assert [(r.stream_id, r.error_code, r.stop_sending) for r in resets] == [
        (0, 0x100, False), (4, 0x101, True)]
    closed = [e for e in session.events if isinstance(e, QuicConnectionClosed)]
    assert len(closed) == 1
    assert (closed[0].application, closed[0].error_code, closed[0].message) == (True, 0x100, "bye")


def test_padding_after_coalesced_packets_and_non_quic() -> None:
    session = Session(keylog=KeyLog())
    session.feed(V1_CLIENT_PACKET + bytes(300))
    session.feed(b"\x12\x34\x01\x00\x00\x01", client=("192.0.2.8", 53))  # DNS-like
    session.finish()
    assert session.coverage()["initial"] == (1, 1, ())
    assert {w.code for w in session.diag.warnings()} == {"quic.datagram.not_quic"}


# -- robustness ---------------------------------------------------------------------------------


def _valid_datagrams() -> list[bytes]:
    session = Session()
    sent: list[bytes] = []
    original = session.feed

    def record(datagram: bytes, from_client: bool = True, ts: int = 0,
               client: tuple[str, int] = CLIENT) -> list[QuicEvent]:
        sent.append(datagram)
        return original(datagram, from_client, ts, client)

    session.feed = record  # type: ignore[method-assign]
    session.handshake(with_0_5_rtt=stream(3, 0, b"\x00\x04\x00"))
    session.client_1rtt(stream(0, 0, b"GET", fin=True) + b"\x18\x01\x00\x04abcd" + bytes(16))
    return [*sent, V1_RETRY, V2_CLIENT_PACKET]


VALID = _valid_datagrams()


@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 1299),
                          st.integers(0, 255), st.integers(0, 1300)), max_size=8))
def test_mutated_datagrams_never_raise(mutations: list[tuple[int, int, int, int]]) -> None:
    session = Session()
    for which, at, value, cut in mutations:
        data = bytearray(VALID[which])
        if at < len(data):
            data[at] = value
        session.feed(bytes(data[:cut] if cut else data), from_client=bool(at & 1))
    for datagram in VALID:
        session.feed(datagram)
    session.finish()
