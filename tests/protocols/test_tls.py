"""TlsSession: the RFC 8448 §3 trace end to end, synthetic TLS 1.2/1.3 sessions, hostile input.

The RFC 8448 trace is real (its records are the RFC's bytes, keyed by its secrets). The other
sessions are sealed here with ``cryptography`` from random secrets, following RFC 8446 and
RFC 5246, to reach paths the trace lacks: ALPN in EncryptedExtensions, 0-RTT, HelloRetryRequest,
KeyUpdate, padding, TCP gaps, TLS 1.2 suites and abbreviated handshakes.
"""

from __future__ import annotations

import hmac
import os
import random
from collections.abc import Iterable, Sequence

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.keylog import KeyLog
from archcmp.protocols.tls import (
    WARNING_CODES,
    TlsAlert,
    TlsAppData,
    TlsClientHello,
    TlsEvent,
    TlsServerHello,
    TlsSession,
    TlsUndecryptable,
)
from archcmp.protocols.tls_crypto import CIPHER_SUITES, hkdf_expand_label, prf
from archcmp.protocols.tls_handshake import HRR_RANDOM
from tests.protocols.test_tls_crypto import (
    APP_PAYLOAD,
    C_ALERT_RECORD_BODY,
    C_AP,
    C_APP_RECORD_BODY,
    C_FIN_RECORD_BODY,
    C_HS,
    S_ALERT_RECORD_BODY,
    S_AP,
    S_APP_RECORD_BODY,
    S_HS,
    S_HS_RECORD_BODY,
    S_NST_RECORD_BODY,
)
from tests.protocols.test_tls_handshake import CLIENT_HELLO, SERVER_HELLO

Wire = list[tuple[bool, bytes]]

# --- record and message builders -----------------------------------------------------------


def rec(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return bytes((ctype,)) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def hs(msg_type: int, body: bytes) -> bytes:
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def ext(ext_type: int, body: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def vec(n: int, body: bytes) -> bytes:
    return len(body).to_bytes(n, "big") + body


def alpn_ext(*names: str) -> bytes:
    return ext(16, vec(2, b"".join(vec(1, n.encode()) for n in names)))


def client_hello(cr: bytes, *, suites: Sequence[int] = (0x1301, 0x1302, 0x1303),
                 sni: str = "example.com", alpn: Sequence[str] = ("h2", "http/1.1"),
                 versions: Sequence[int] = (0x0304, 0x0303), early: bool = False,
                 session_id: bytes = b"", etm: bool = False) -> bytes:
    exts = ext(0, vec(2, b"\x00" + vec(2, sni.encode())))
    exts += alpn_ext(*alpn) if alpn else b""
    exts += ext(43, vec(1, b"".join(v.to_bytes(2, "big") for v in versions))) if versions else b""
    exts += ext(51, vec(2, b"")) + (ext(42, b"") if early else b"") + (ext(22, b"") if etm else b"")
    body = (b"\x03\x03" + cr + vec(1, session_id)
            + vec(2, b"".join(s.to_bytes(2, "big") for s in suites)) + b"\x01\x00" + vec(2, exts))
    return hs(1, body)


def server_hello(sr: bytes, suite: int, *, tls13: bool = True, alpn: str | None = None,
                 session_id: bytes = b"", etm: bool = False, psk: bool = False) -> bytes:
    exts = (ext(43, b"\x03\x04") if tls13 else b"") + (alpn_ext(alpn) if alpn else b"")
    exts += (ext(22, b"") if etm else b"") + (ext(41, b"\x00\x00") if psk else b"")
    body = b"\x03\x03" + sr + vec(1, session_id) + suite.to_bytes(2, "big") + b"\x00"
    return hs(2, body + vec(2, exts))


class Seal13:
    """Seals TLS 1.3 records (RFC 8446 §5.2) for one direction and one traffic secret."""

    def __init__(self, secret: bytes, suite: int = 0x1301) -> None:
        self.secret, self.suite, self.seq = secret, CIPHER_SUITES[suite], 0
        s = self.suite
        key = hkdf_expand_label(s.prf, secret, b"key", b"", s.key_len)
        self.iv = int.from_bytes(hkdf_expand_label(s.prf, secret, b"iv", b"", 12), "big")
        self.aead: AESGCM | AESCCM | ChaCha20Poly1305 = (
            AESGCM(key) if s.bulk == "AES-GCM" else ChaCha20Poly1305(key)
            if s.bulk == "CHACHA20-POLY1305" else AESCCM(key, tag_length=s.tag_len))

    def __call__(self, ctype: int, content: bytes, pad: int = 0) -> bytes:
        inner = content + bytes((ctype,)) + bytes(pad)
        head = b"\x17\x03\x03" + (len(inner) + self.suite.tag_len).to_bytes(2, "big")
        nonce = (self.iv ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        return head + self.aead.encrypt(nonce, inner, head)

    def updated(self) -> Seal13:
        hash_len = 48 if self.suite.prf == "sha384" else 32
        return Seal13(hkdf_expand_label(self.suite.prf, self.secret, b"traffic upd", b"",
                                        hash_len), self.suite.code)


LABELS13 = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET")
CERT = hs(11, bytes(1200))
CV = hs(15, bytes(72))
FIN = hs(20, bytes(32))


def tls13_session(*, suite: int = 0x1301, alpn: str | None = "h2", early: bytes | None = None,
                  early_accepted: bool = True, hrr: bool = False, key_update: bool = False,
                  pad: int = 0, resumed: bool = False) -> tuple[Wire, dict[str, bytes], bytes]:
    """A TLS 1.3 connection; returns the wire (direction, bytes), the secrets and the random."""
    cr, sr = os.urandom(32), os.urandom(32)
    hash_len = 48 if CIPHER_SUITES[suite].prf == "sha384" else 32
    secrets = {label: os.urandom(hash_len) for label in LABELS13}
    ch = client_hello(cr, early=early is not None)
    wire: Wire = [(True, rec(22, ch, 0x0301))]
    early_seal = Seal13(secrets["CLIENT_EARLY_TRAFFIC_SECRET"], suite)
    if hrr:  # RFC 8446 §4.1.4
        wire += [(False, rec(22, server_hello(HRR_RANDOM, suite))),
                 (True, rec(20, b"\x01") + rec(22, ch))]
    if early is not None:
        wire.append((True, rec(20, b"\x01") + early_seal(23, early)))
    s_hs, c_hs = Seal13(secrets[LABELS13[1]], suite), Seal13(secrets[LABELS13[0]], suite)
    s_ap, c_ap = Seal13(secrets[LABELS13[3]], suite), Seal13(secrets[LABELS13[2]], suite)
    ee_exts = (alpn_ext(alpn) if alpn else b"") + (ext(42, b"") if early_accepted and early
                                                  else b"")
    flight = hs(8, vec(2, ee_exts)) + (b"" if resumed else CERT + CV) + FIN
    wire.append((False, rec(22, server_hello(sr, suite, psk=resumed)) + rec(20, b"\x01")
                 + s_hs(22, flight, pad)))
    wire.append((False, s_ap(23, b"0.5-RTT data")))
    if early is not None and early_accepted:
        wire.append((True, early_seal(22, hs(5, b""))))  # EndOfEarlyData
    wire.append((True, (b"" if early is not None else rec(20, b"\x01")) + c_hs(22, FIN)))
    wire.append((True, c_ap(23, b"GET / HTTP/1.1\r\n\r\n", pad)))
    wire.append((False, s_ap(22, hs(4, bytes(40))) + s_ap(23, b"HTTP/1.1 200 OK\r\n\r\n")))
    if key_update:  # RFC 8446 §4.6.3
        wire.append((True, c_ap(22, hs(24, b"\x01"))))
        c_ap = c_ap.updated()
        wire.append((True, c_ap(23, b"after the update")))
        wire.append((False, s_ap(22, hs(24, b"\x00"))))
        s_ap = s_ap.updated()
        wire.append((False, s_ap(23, b"server after update")))
    wire.append((True, c_ap(21, b"\x01\x00")))
    return wire, secrets, cr


def keylog_for(secrets: dict[str, bytes], cr: bytes, *,
               only: Iterable[str] | None = None) -> KeyLog:
    wanted = set(only) if only is not None else set(secrets)
    return KeyLog({(label, cr): s for label, s in secrets.items() if label in wanted})


def run(wire: Wire, keylog: KeyLog, *, chunking: str = "whole",
        diag: Diagnostics | None = None) -> tuple[list[TlsEvent], TlsSession, Diagnostics]:
    diag = diag or Diagnostics()
    session = TlsSession(keylog, diag, where="test")
    events: list[TlsEvent] = []
    rng = random.Random(len(wire))
    for ts, (from_client, data) in enumerate(wire):
        if chunking == "bytes":
            pieces = [data[i : i + 1] for i in range(len(data))]
        elif chunking == "random" and len(data) > 1:
            cuts = sorted(rng.sample(range(1, len(data)), min(4, len(data) - 1)))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        else:
            pieces = [data]
        for piece in pieces:
            events += session.feed(from_client, piece, ts)
    events += session.close(len(wire))
    return events, session, diag


def app_data(events: list[TlsEvent], from_client: bool) -> bytes:
    return b"".join(e.data for e in events
                    if isinstance(e, TlsAppData) and e.from_client is from_client)


def codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings()}


# --- RFC 8448 §3 end to end --------------------------------------------------------------------

RFC_CR = CLIENT_HELLO[6:38]
RFC_WIRE: Wire = [
    (True, rec(22, CLIENT_HELLO, 0x0301)),
    (False, rec(22, SERVER_HELLO) + rec(23, S_HS_RECORD_BODY)),
    (True, rec(23, C_FIN_RECORD_BODY)),
    (False, rec(23, S_NST_RECORD_BODY)),
    (True, rec(23, C_APP_RECORD_BODY)),
    (False, rec(23, S_APP_RECORD_BODY)),
    (True, rec(23, C_ALERT_RECORD_BODY)),
    (False, rec(23, S_ALERT_RECORD_BODY)),
]
RFC_SECRETS = dict(zip(LABELS13[:4], (C_HS, S_HS, C_AP, S_AP), strict=True))


@pytest.mark.parametrize("chunking", ["whole", "bytes", "random"])
def test_rfc8448_trace_decrypts(chunking: str) -> None:
    events, session, diag = run(RFC_WIRE, keylog_for(RFC_SECRETS, RFC_CR), chunking=chunking)
    assert [type(e).__name__ for e in events] == [
        "TlsClientHello", "TlsServerHello", "TlsAppData", "TlsAppData", "TlsAlert", "TlsAlert"]
    hello = events[0]
    assert isinstance(hello, TlsClientHello)
    assert hello.sni == "server" and hello.versions == ("TLS 1.3",)
    assert hello.cipher_suites == ("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                                   "TLS_AES_256_GCM_SHA384")
    assert app_data(events, True) == APP_PAYLOAD == app_data(events, False)
    alerts = [e for e in events if isinstance(e, TlsAlert)]
    assert [(a.from_client, a.level, a.name) for a in alerts] == [
        (True, 1, "close_notify"), (False, 1, "close_notify")]
    info = session.info
    assert (info.status, info.version, info.cipher, info.sni) == (
        "decrypted", "TLS 1.3", "TLS_AES_128_GCM_SHA256", "server")
    assert (info.records.client, info.records.server) == (4, 5)
    # tshark's count: Finished, app data, alert / flight, ticket, app data, alert
    assert (info.decrypted.client, info.decrypted.server) == (3, 4)
    assert info.client_random == RFC_CR.hex()
    assert not diag.warnings()


def test_rfc8448_without_keys_still_reports_the_hellos() -> None:
    events, session, diag = run(RFC_WIRE, KeyLog())
    assert [type(e) for e in events] == [TlsClientHello, TlsServerHello, TlsUndecryptable]
    assert isinstance(events[1], TlsServerHello) and events[1].version == "TLS 1.3"
    info = session.info
    assert info.status == "no-keys" and info.sni == "server" and info.decrypted.total == 0
    assert info.records.total == 9
    assert "SERVER_HANDSHAKE_TRAFFIC_SECRET" in info.reason
    assert codes(diag) == {"tls.session.no_key": 1}


def test_rfc8448_with_wrong_keys_is_corrupt() -> None:
    wrong = {label: os.urandom(32) for label in RFC_SECRETS}
    events, session, diag = run(RFC_WIRE, keylog_for(wrong, RFC_CR))
    assert [type(e) for e in events] == [TlsClientHello, TlsServerHello, TlsUndecryptable]
    assert session.info.status == "corrupt"
    assert session.info.failed.total == 7
    assert codes(diag) == {"tls.record.bad_tag": 7}


def test_rfc8448_without_handshake_secrets_finds_the_application_keys() -> None:
    only = ["CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"]
    events, session, diag = run(RFC_WIRE, keylog_for(RFC_SECRETS, RFC_CR, only=only))
    assert app_data(events, True) == APP_PAYLOAD == app_data(events, False)
    info = session.info
    assert info.status == "partial" and (info.decrypted.client, info.decrypted.server) == (2, 3)
    assert codes(diag) == {"tls.session.no_key": 1}


# --- synthetic TLS 1.3 -------------------------------------------------------------------------


@pytest.mark.parametrize("suite", [0x1301, 0x1302, 0x1303, 0x1304, 0x1305])
def test_tls13_suites_alpn_and_half_rtt(suite: int) -> None:
    wire, secrets, cr = tls13_session(suite=suite)
    events, session, diag = run(wire, keylog_for(secrets, cr))
    hello = next(e for e in events if isinstance(e, TlsServerHello))
    assert hello.alpn == "h2" and hello.cipher == CIPHER_SUITES[suite].name
    assert app_data(events, False) == b"0.5-RTT dataHTTP/1.1 200 OK\r\n\r\n"
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\n"
    info = session.info
    assert info.status == "decrypted" and info.alpn == "h2"
    assert info.alpn_offered == ("h2", "http/1.1")
    assert not diag.warnings()


def test_tls13_padding_key_update_and_hrr() -> None:
    wire, secrets, cr = tls13_session(pad=100, key_update=True, hrr=True)
    events, session, diag = run(wire, keylog_for(secrets, cr), chunking="random")
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\nafter the update"
    assert app_data(events, False).endswith(b"server after update")
    assert sum(isinstance(e, TlsClientHello) for e in events) == 2  # before and after the HRR
    assert session.info.status == "decrypted" and not diag.warnings()


def test_tls13_resumption_is_reported() -> None:
    wire, secrets, cr = tls13_session(resumed=True)
    _, session, _ = run(wire, keylog_for(secrets, cr))
    assert session.info.resumed and session.info.status == "decrypted"


@pytest.mark.parametrize("accepted", [True, False])
def test_tls13_early_data(accepted: bool) -> None:
    wire, secrets, cr = tls13_session(early=b"GET /early HTTP/1.1\r\n\r\n", early_accepted=accepted)
    events, session, diag = run(wire, keylog_for(secrets, cr))
    early = [e for e in events if isinstance(e, TlsAppData) and e.early]
    assert [e.data for e in early] == [b"GET /early HTTP/1.1\r\n\r\n"]
    assert app_data(events, True) == b"GET /early HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    assert session.info.status == "decrypted" and not diag.warnings()


def test_tls13_early_data_without_its_secret() -> None:
    wire, secrets, cr = tls13_session(early=b"0-RTT", early_accepted=False)
    only = [label for label in LABELS13 if label != "CLIENT_EARLY_TRAFFIC_SECRET"]
    events, session, diag = run(wire, keylog_for(secrets, cr, only=only))
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\n"
    info = session.info
    assert info.status == "partial" and "CLIENT_EARLY_TRAFFIC_SECRET" in info.reason
    assert codes(diag) == {"tls.session.no_key": 1}


def test_tls13_gap_resynchronises_and_recovers_a_lost_key_update() -> None:
    wire, secrets, cr = tls13_session(key_update=True)
    # lose the client's KeyUpdate record and the first bytes of the record after it
    i = next(i for i, (c, d) in enumerate(wire) if c and len(d) == 5 + 5 + 1 + 16)
    lost = len(wire[i][1]) + 7
    diag = Diagnostics()
    session = TlsSession(keylog_for(secrets, cr), diag)
    events: list[TlsEvent] = []
    for ts, (from_client, data) in enumerate(wire):
        if ts == i:
            events += session.gap(True, lost, ts)
        elif ts == i + 1:
            events += session.feed(True, data[7:], ts)
        else:
            events += session.feed(from_client, data, ts)
    # the record cut by the gap is gone; the close_notify after it is found and decrypted
    # under the next key generation
    alerts = [e for e in events if isinstance(e, TlsAlert) and e.from_client]
    assert [a.name for a in alerts] == ["close_notify"]
    assert session.info.status == "partial"
    assert codes(diag) == {"tls.stream.gap": 1}


# --- synthetic TLS 1.2 -------------------------------------------------------------------------


class Seal12:
    """Seals TLS 1.2 records (RFC 5246 §6.2.3) for one direction."""

    def __init__(self, suite_code: int, key_block: bytes, client: bool, *, etm: bool) -> None:
        s = CIPHER_SUITES[suite_code]
        self.suite, self.seq, self.etm = s, 0, etm
        mac_len = {"sha1": 20, "sha256": 32, "sha384": 48}.get(s.mac or "", 0)
        parts, pos = [], 0
        for n in (mac_len, mac_len, s.key_len, s.key_len, s.fixed_iv_len, s.fixed_iv_len):
            parts.append(key_block[pos : pos + n])
            pos += n
        side = 0 if client else 1
        self.mac_key, self.key, self.iv = parts[side], parts[2 + side], parts[4 + side]

    def __call__(self, ctype: int, content: bytes) -> bytes:
        s, seq = self.suite, self.seq
        self.seq += 1
        aad = seq.to_bytes(8, "big") + bytes((ctype, 3, 3)) + len(content).to_bytes(2, "big")
        if s.bulk == "AES-CBC":
            return rec(ctype, _cbc_seal(self, ctype, content, seq))
        if s.bulk == "CHACHA20-POLY1305":
            nonce = (int.from_bytes(self.iv, "big") ^ seq).to_bytes(12, "big")
            return rec(ctype, ChaCha20Poly1305(self.key).encrypt(nonce, content, aad))
        explicit = seq.to_bytes(8, "big")
        aead = (AESGCM(self.key) if s.bulk == "AES-GCM"
                else AESCCM(self.key, tag_length=s.tag_len))
        return rec(ctype, explicit + aead.encrypt(self.iv + explicit, content, aad))


def _cbc_seal(seal: Seal12, ctype: int, content: bytes, seq: int) -> bytes:
    """RFC 5246 §6.2.3.2 (MAC-then-encrypt) or RFC 7366 §3 (encrypt-then-MAC), explicit IV."""
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(seal.key), modes.CBC(iv)).encryptor()

    def mac(data: bytes) -> bytes:
        head = seq.to_bytes(8, "big") + bytes((ctype, 3, 3)) + len(data).to_bytes(2, "big")
        return hmac.digest(seal.mac_key, head + data, seal.suite.mac or "")

    if seal.etm:
        pad = 15 - len(content) % 16
        ct = iv + enc.update(content + bytes((pad,)) * (pad + 1)) + enc.finalize()
        return ct + mac(ct)
    data = content + mac(content)
    pad = 15 - len(data) % 16
    return iv + enc.update(data + bytes((pad,)) * (pad + 1)) + enc.finalize()


def tls12_session(suite: int, *, etm: bool = False,
                  resumed: bool = False) -> tuple[Wire, KeyLog]:
    cr, sr, master = os.urandom(32), os.urandom(32), os.urandom(48)
    s = CIPHER_SUITES[suite]
    mac_len = {"sha1": 20, "sha256": 32, "sha384": 48}.get(s.mac or "", 0)
    block = prf(s.prf, master, b"key expansion", sr + cr,
                2 * (mac_len + s.key_len + s.fixed_iv_len))
    c, srv = Seal12(suite, block, True, etm=etm), Seal12(suite, block, False, etm=etm)
    sid = os.urandom(32)
    wire: Wire = [(True, rec(22, client_hello(cr, suites=(suite,), versions=(), etm=etm,
                                               session_id=sid if resumed else b""), 0x0301))]
    sh = server_hello(sr, suite, tls13=False, alpn="http/1.1", etm=etm,
                      session_id=sid if resumed else os.urandom(32))
    if resumed:  # RFC 5246 §7.3, abbreviated handshake: the server changes cipher first
        wire.append((False, rec(22, sh) + rec(20, b"\x01") + srv(22, FIN)))
        wire.append((True, rec(20, b"\x01") + c(22, FIN)))
    else:
        wire.append((False, rec(22, sh + CERT + hs(14, b""))))
        wire.append((True, rec(22, hs(16, bytes(66))) + rec(20, b"\x01") + c(22, FIN)))
        wire.append((False, rec(20, b"\x01") + srv(22, FIN)))
    wire.append((True, c(23, b"GET / HTTP/1.1\r\n\r\n")))
    wire.append((False, srv(23, b"HTTP/1.1 200 OK\r\n") + srv(23, b"\r\n")))
    wire.append((True, c(21, b"\x01\x00")))
    return wire, KeyLog({("CLIENT_RANDOM", cr): master})


@pytest.mark.parametrize(("suite", "etm"), [
    (0xC02F, False), (0xC030, False), (0xCCA8, False), (0xC0A0, False), (0xC0AC, False),
    (0xC013, False), (0xC013, True), (0xC028, False), (0xC028, True)])
def test_tls12_suites(suite: int, etm: bool) -> None:
    wire, keylog = tls12_session(suite, etm=etm)
    events, session, diag = run(wire, keylog, chunking="random")
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\n"
    assert app_data(events, False) == b"HTTP/1.1 200 OK\r\n\r\n"
    info = session.info
    assert (info.status, info.version, info.alpn, info.resumed) == (
        "decrypted", "TLS 1.2", "http/1.1", False)
    assert (info.decrypted.client, info.decrypted.server) == (3, 3)
    assert [e.name for e in events if isinstance(e, TlsAlert)] == ["close_notify"]
    assert not diag.warnings()


def test_tls12_abbreviated_handshake() -> None:
    wire, keylog = tls12_session(0xC02F, resumed=True)
    events, session, _ = run(wire, keylog)
    assert session.info.resumed and session.info.status == "decrypted"
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\n"


def test_tls12_without_keys_and_with_an_unsupported_suite() -> None:
    wire, _ = tls12_session(0xC02F)
    _, session, diag = run(wire, KeyLog())
    assert session.info.status == "no-keys" and session.info.alpn == "http/1.1"
    assert "CLIENT_RANDOM" in session.info.reason
    # the same hellos naming 3DES: reported by name, not decrypted
    wire[1] = (False, wire[1][1].replace(b"\xc0\x2f\x00", b"\x00\x0a\x00", 1))
    _, session, diag = run(wire, KeyLog())
    assert session.info.status == "unsupported-cipher"
    assert session.info.cipher == "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
    assert codes(diag) == {"tls.session.unsupported_cipher": 1}


# --- odd and hostile input ---------------------------------------------------------------------


def test_not_tls() -> None:
    events, session, diag = run([(True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                 (False, b"HTTP/1.1 200 OK\r\n\r\n")], KeyLog())
    assert events == [] and session.info.status == "not-tls"
    assert codes(diag) == {"tls.stream.not_tls": 1}


def test_first_byte_alone_is_not_judged() -> None:
    session = TlsSession(KeyLog(), Diagnostics())
    data = rec(22, CLIENT_HELLO, 0x0301)
    assert session.feed(True, data[:1], 0) == []
    assert isinstance(session.feed(True, data[1:], 1)[0], TlsClientHello)


def test_sslv2_compatible_client_hello() -> None:
    specs = b"\x00\x00\x2f\x00\x00\x35"
    # RFC 5246 appendix E.2: type, version, cipher_spec_length, session_id_length,
    # challenge_length, cipher specs, challenge
    body = b"\x01\x03\x01" + len(specs).to_bytes(2, "big") + b"\x00\x00\x00\x10" + specs
    body += bytes(16)
    record = bytes((0x80 | len(body) >> 8, len(body) & 0xFF)) + body
    events, session, diag = run([(True, record)], KeyLog())
    assert isinstance(events[0], TlsClientHello) and events[0].sslv2
    assert events[0].cipher_suites == ("TLS_RSA_WITH_AES_128_CBC_SHA",
                                       "TLS_RSA_WITH_AES_256_CBC_SHA")
    assert session.info.records.client == 1
    assert codes(diag) == {"tls.record.sslv2_hello": 1}


def test_capture_starting_after_the_handshake() -> None:
    wire, secrets, cr = tls13_session()
    events, session, diag = run(wire[3:], keylog_for(secrets, cr))
    assert [type(e) for e in events] == [TlsUndecryptable]
    assert session.info.status == "no-keys" and session.info.records.total > 0
    assert codes(diag) == {"tls.session.no_client_hello": 1}


def test_oversize_record_and_lost_framing() -> None:
    wire, secrets, cr = tls13_session()
    huge = b"\x17\x03\x03" + (2**14 + 257).to_bytes(2, "big") + bytes(2**14 + 257)
    wire.insert(4, (False, huge + b"\x99garbage-after-the-record"))
    events, session, diag = run(wire, keylog_for(secrets, cr))
    assert codes(diag) == {"tls.record.oversize": 1, "tls.record.bad_type": 1}
    assert session.info.status == "partial"
    assert app_data(events, True) == b"GET / HTTP/1.1\r\n\r\n"  # the client side goes on


def test_truncated_record_at_close() -> None:
    wire, secrets, cr = tls13_session()
    wire[-1] = (True, wire[-1][1][:-3])
    _, _, diag = run(wire, keylog_for(secrets, cr))
    assert codes(diag) == {"tls.record.truncated": 1}


def test_garbage_after_a_gap_is_not_buffered() -> None:
    session = TlsSession(KeyLog(), Diagnostics())
    session.feed(True, rec(22, CLIENT_HELLO, 0x0301), 0)
    session.gap(True, None, 1)
    for _ in range(64):
        session.feed(True, bytes(16384), 2)
    assert len(session._dirs[True].buf) <= 4  # the bound is the point


def test_every_warning_code_is_documented() -> None:
    for code in WARNING_CODES:
        assert code.startswith("tls.") and code.count(".") == 2


RFC_STREAM = [(c, d) for c, d in RFC_WIRE]
_W13, _S13, _CR13 = tls13_session(early=b"0-RTT", key_update=True, hrr=True, pad=3)
_W12, _K12 = tls12_session(0xC028, etm=True)
BASES: list[tuple[Wire, KeyLog]] = [
    (RFC_STREAM, keylog_for(RFC_SECRETS, RFC_CR)),
    (_W13, keylog_for(_S13, _CR13)),
    (_W12, _K12),
]


@given(st.data())
def test_mutated_records_never_raise(data: st.DataObject) -> None:
    base, keylog = data.draw(st.sampled_from(BASES))
    wire = [(c, bytearray(d)) for c, d in base]
    for _ in range(data.draw(st.integers(0, 6))):
        chunk = wire[data.draw(st.integers(0, len(wire) - 1))][1]
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "length", "type"]))
        pos = data.draw(st.integers(0, max(0, len(chunk) - 1)))
        if op == "flip" and chunk:
            chunk[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del chunk[pos:]
        elif op == "insert":
            chunk[pos:pos] = data.draw(st.binary(max_size=40))
        elif op == "length" and len(chunk) >= 5:
            chunk[3:5] = data.draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        elif chunk:
            chunk[0] = data.draw(st.sampled_from([20, 21, 22, 23, 24, 0x80, 0]))
    mutated: Wire = [(c, bytes(d)) for c, d in wire]
    gaps = data.draw(st.lists(st.integers(0, len(mutated) - 1), max_size=2))
    diag = Diagnostics()
    session = TlsSession(keylog, diag)
    chunking = data.draw(st.sampled_from(["whole", "bytes"]))
    for i, (from_client, raw) in enumerate(mutated):
        if i in gaps:
            session.gap(from_client, data.draw(st.integers(0, 5000) | st.none()), i)
        pieces = [raw[k : k + 1] for k in range(len(raw))] if chunking == "bytes" else [raw]
        for piece in pieces:
            session.feed(from_client, piece, i)
    session.close(len(mutated))
    info = session.info
    assert info.decrypted.total <= info.records.total
    assert all(w.code in WARNING_CODES for w in diag.warnings())


@given(st.lists(st.integers(1, 2000), max_size=10))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    stream = b"".join(d for c, d in RFC_STREAM if c is False)
    client = [(c, d) for c, d in RFC_STREAM if c]
    points = sorted({x for x in cuts if x < len(stream)})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    wire: Wire = [client[0], *((False, p) for p in pieces), *client[1:]]
    events, session, _ = run(wire, keylog_for(RFC_SECRETS, RFC_CR))
    assert app_data(events, False) == APP_PAYLOAD
    assert session.info.decrypted.server == 4
