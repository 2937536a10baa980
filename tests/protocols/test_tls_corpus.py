"""TlsSession on real captures: the corpus against tshark 4.0's counts, and the alpha sessions.

Ground truth is ``corpus/MANIFEST.ground_truth.json``: ``tls_decrypted_records`` counts tshark's
"Decrypted TLS" data sources, one per record that decrypted to a non-empty plaintext (Wireshark's
``tls_save_decrypted_record`` drops empty ones), TLS 1.3 handshake records included and the
never-protected ChangeCipherSpec excluded, which is what ``TlsInfo.decrypted`` counts. The
frames go through the real readers: ``ingest.pcap`` → ``ingest.packets`` → ``ingest.flows``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.flows import FlowClosed, FlowData, FlowGap, FlowOpened, TcpReassembler
from archcmp.ingest.keylog import KeyLog
from archcmp.ingest.packets import TcpSegment, decode_frame
from archcmp.ingest.pcap import Secrets, read_capture
from archcmp.protocols.tls import TlsAppData, TlsEvent, TlsInfo, TlsSession

# Every keyed TLS-over-TCP capture of the corpus, with its key log file (None: keys in a DSB).
KEYED = {
    "snet__TLS1_1_ECDHE-RSA-AES128-SHA.pcap": "snet__TLS1_1_ECDHE-RSA-AES128-SHA.keylog.txt",
    "snet__TLS1_2_AES128-CCM8_auth.pcap": "snet__TLS1_2_AES128-CCM8_auth.keylog.txt",
    "snet__TLS1_2_ECDHE-ECDSA-CHACHA20-POLY1305_auth.pcap":
        "snet__TLS1_2_ECDHE-ECDSA-CHACHA20-POLY1305_auth.keylog.txt",
    "snet__TLS1_2_ECDHE-RSA-AES128-GCM-SHA256_auth.pcap":
        "snet__TLS1_2_ECDHE-RSA-AES128-GCM-SHA256_auth.keylog.txt",
    "snet__TLS1_2_ECDHE-RSA-AES256-SHA384_auth.pcap":
        "snet__TLS1_2_ECDHE-RSA-AES256-SHA384_auth.keylog.txt",
    "snet__TLS1_3_TLS_AES_128_CCM_8_SHA256.pcap":
        "snet__TLS1_3_TLS_AES_128_CCM_8_SHA256.keylog.txt",
    "snet__TLS1_3_TLS_AES_128_GCM_SHA256.pcap": "snet__TLS1_3_TLS_AES_128_GCM_SHA256.keylog.txt",
    "snet__TLS1_3_TLS_AES_256_GCM_SHA384.pcap": "snet__TLS1_3_TLS_AES_256_GCM_SHA384.keylog.txt",
    "snet__TLS1_3_TLS_CHACHA20_POLY1305_SHA256.pcap":
        "snet__TLS1_3_TLS_CHACHA20_POLY1305_SHA256.keylog.txt",
    "snet__mTLS1_3_Ed25519.pcap": "snet__mTLS1_3_Ed25519.keylog.txt",
    "illustrated-tls12__capture.pcap": "illustrated-tls12__keylog.txt",
    "illustrated-tls13__capture.pcap": "illustrated-tls13__keylog.txt",
    "zeek__tls-1.2-stream-keylog.pcap": "zeek__tls-1.2-stream-keylog.keylog.txt",
    "zeek__tls12-decryption.pcap": "zeek__tls12-decryption.keylog.txt",
    "wiresharkwiki__http2-16-ssl.pcapng": "wiresharkwiki__http2-16-ssl.keylog.txt",
    "ja4__http2-with-cookies.pcapng": None,
    "ja4__chrome-cloudflare-quic-with-secrets.pcapng": None,
}
#: ALPN names tshark also saw in QUIC (h3), which protocols.quic reads, not TlsSession.
QUIC_ALPN = {"ja4__chrome-cloudflare-quic-with-secrets.pcapng": {"h3"}}


@dataclass
class Conn:
    session: TlsSession
    events: list[TlsEvent] = field(default_factory=list)

    @property
    def info(self) -> TlsInfo:
        return self.session.info

    def stream(self, from_client: bool) -> bytes:
        return b"".join(e.data for e in self.events
                        if isinstance(e, TlsAppData) and e.from_client is from_client)


def tls_connections(path: Path, keylog: KeyLog | None, diag: Diagnostics, *,
                    split: int = 0) -> list[Conn]:
    """Every TCP connection of ``path`` through a TlsSession. ``keylog=None`` uses the DSBs;
    ``KeyLog()`` means no keys at all. ``split`` > 0 feeds the data in pieces of that size."""
    frames = []
    use_dsb = keylog is None
    keys = keylog if keylog is not None else KeyLog()
    with path.open("rb") as stream:
        for record in read_capture(stream, diag, name=path.name):
            if isinstance(record, Secrets):
                if use_dsb:
                    keys = keys.merge(KeyLog.parse(record.data, diag, source="DSB"))
            else:
                frames.append(record)
    conns: dict[int, Conn] = {}
    reassembler = TcpReassembler(diag)

    def handle(events: list[object]) -> None:
        for e in events:
            if isinstance(e, FlowOpened):
                conns[e.index] = Conn(TlsSession(keys, diag, where=f"{path.name}#{e.index}"))
            elif isinstance(e, FlowData):
                c = conns[e.index]
                step = split or len(e.data)
                for i in range(0, len(e.data), step):
                    c.events += c.session.feed(e.from_client, e.data[i : i + step], e.ts_ns)
            elif isinstance(e, FlowGap):
                c = conns[e.index]
                c.events += c.session.gap(e.from_client, e.missing, e.ts_ns)
            elif isinstance(e, FlowClosed):
                c = conns[e.index]
                c.events += c.session.close(e.ts_ns)

    for frame in frames:
        segment = decode_frame(frame, diag)
        if isinstance(segment, TcpSegment):
            handle(list(reassembler.feed(segment)))
    handle(list(reassembler.finish()))
    return [c for c in conns.values() if c.info.status != "not-tls"]


def tls_codes(diag: Diagnostics) -> dict[str, int]:
    return {w.code: w.count for w in diag.warnings() if w.code.startswith("tls.")}


@pytest.fixture(scope="module")
def truth(shared: Path) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(
        (shared / "corpus" / "MANIFEST.ground_truth.json").read_text())
    return data


def _keyed(shared: Path, name: str) -> tuple[Path, KeyLog | None]:
    pcap = shared / "corpus" / "pcap"
    keyfile = KEYED[name]
    if keyfile is None:
        return pcap / name, None
    return pcap / name, KeyLog.parse((pcap / keyfile).read_bytes(), Diagnostics())


@pytest.mark.parametrize("name", sorted(KEYED))
def test_decrypted_records_equal_tshark(shared: Path, truth: dict[str, dict[str, object]],
                                        name: str) -> None:
    path, keylog = _keyed(shared, name)
    diag = Diagnostics()
    conns = tls_connections(path, keylog, diag)
    gt = truth[f"pcap/{name}"]
    assert sum(c.info.decrypted.total for c in conns) == gt["tls_decrypted_records"]
    by_type = gt["tls_records_by_content_type"]
    assert isinstance(by_type, dict)
    assert sum(c.info.records.total for c in conns) == sum(by_type.values())
    assert [c.info.status for c in conns] == ["decrypted"] * len(conns)
    assert tls_codes(diag) == {}
    # ALPN: tshark counts each offer and each selection (EncryptedExtensions once decrypted)
    alpn: Counter[str] = Counter()
    for c in conns:
        alpn.update(c.info.alpn_offered)
        alpn.update([c.info.alpn] if c.info.alpn else [])
    expected = gt["tls_alpn_offered"]
    assert isinstance(expected, dict)
    assert alpn == Counter({k: v for k, v in expected.items()
                            if k not in QUIC_ALPN.get(name, set())})


@pytest.mark.parametrize("name", sorted(KEYED))
def test_without_keys_the_hellos_are_still_reported(shared: Path, name: str) -> None:
    path, keylog = _keyed(shared, name)
    with_keys = tls_connections(path, keylog, Diagnostics())
    diag = Diagnostics()
    without = tls_connections(path, KeyLog(), diag)
    assert len(without) == len(with_keys) >= 1
    for a, b in zip(with_keys, without, strict=True):
        assert (b.info.sni, b.info.alpn_offered, b.info.version, b.info.cipher) == (
            a.info.sni, a.info.alpn_offered, a.info.version, a.info.cipher)
        assert b.info.records == a.info.records
        assert b.info.decrypted.total == 0 and b.info.status == "no-keys"
        if a.info.version != "TLS 1.3":  # the ServerHello carries ALPN in clear before 1.3
            assert b.info.alpn == a.info.alpn
    assert tls_codes(diag) == {"tls.session.no_key": 1}


def test_tls11_cbc_capture_yields_its_plaintext(shared: Path) -> None:
    path, keylog = _keyed(shared, "snet__TLS1_1_ECDHE-RSA-AES128-SHA.pcap")
    (conn,) = tls_connections(path, keylog, Diagnostics())
    assert (conn.info.version, conn.info.cipher) == ("TLS 1.1",
                                                     "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
    # OpenSSL s_client sent ten lines of 256 'A's (the snet test's input file)
    assert conn.stream(True) == (b"A" * 256 + b"\n") * 10


@pytest.mark.parametrize("name", [n for n in sorted(KEYED) if n.startswith("snet__")])
def test_snet_matrix_plaintext(shared: Path, name: str) -> None:
    path, keylog = _keyed(shared, name)
    (conn,) = tls_connections(path, keylog, Diagnostics())
    assert conn.stream(True).startswith((b"A" * 256 + b"\n") * 10)


ALPHA = ["chromium-h2", "httpx-h1", "httpx-h2", "mitmproxy"]


@pytest.mark.parametrize("source", ["sslkeys.log", "dsb"])
@pytest.mark.parametrize("session", ALPHA)
def test_alpha_streams_are_http(shared: Path, session: str, source: str) -> None:
    folder = shared / "captures" / "alpha" / session
    if source == "dsb":
        path, keylog = folder / "capture-dsb.pcapng", None
    else:
        path = folder / "capture.pcapng"
        keylog = KeyLog.parse((folder / "sslkeys.log").read_bytes(), Diagnostics())
    diag = Diagnostics()
    conns = tls_connections(path, keylog, diag)
    assert conns and tls_codes(diag) == {}
    talking = [c for c in conns if c.stream(True)]
    assert talking
    for c in conns:
        assert (c.info.status, c.info.version) == ("decrypted", "TLS 1.3")
    for c in talking:
        client = c.stream(True)
        if c.info.alpn == "h2":
            assert client.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        else:
            assert c.info.alpn == "http/1.1"
            assert client.split(b"\r\n", 1)[0].endswith(b" HTTP/1.1")
            assert c.stream(False).startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize("name", ["snet__TLS1_1_ECDHE-RSA-AES128-SHA.pcap",
                                  "zeek__tls-1.2-stream-keylog.pcap",
                                  "snet__mTLS1_3_Ed25519.pcap"])
@pytest.mark.parametrize("split", [1, 7, 1000])
def test_any_split_of_the_tcp_data_gives_the_same_result(shared: Path, name: str,
                                                         split: int) -> None:
    path, keylog = _keyed(shared, name)
    (whole,) = tls_connections(path, keylog, Diagnostics())
    (pieces,) = tls_connections(path, keylog, Diagnostics(), split=split)
    assert pieces.info == whole.info
    for from_client in (True, False):
        assert pieces.stream(from_client) == whole.stream(from_client)
