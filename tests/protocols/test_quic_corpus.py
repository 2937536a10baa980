"""QUIC and HTTP/3 on the shared corpus and the alpha lab captures (counts from MANIFEST.md and
each session's server-log.jsonl)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from archcmp.protocols.events import (
    RequestData,
    RequestEnd,
    RequestHeaders,
    ResponseData,
    ResponseEnd,
    ResponseHeaders,
)
from archcmp.protocols.quic import QuicConnectionSeen, QuicCoverage, QuicStreamData
from archcmp.protocols.quic_packets import VERSION_1, VERSION_2
from tests.protocols._wire_quic import Run, load, run


def _coverage(result: Run, conn_id: int = 0) -> dict[str, tuple[int, int]]:
    cov = next(e for e in result.of(QuicCoverage) if e.conn_id == conn_id)
    return {s.space: (s.decrypted, s.total) for s in cov.spaces}


def _frames(result: Run, conn_id: int = 0) -> dict[str, int]:
    cov = next(e for e in result.of(QuicCoverage) if e.conn_id == conn_id)
    return dict(cov.frames)


def test_ja4_chrome_cloudflare_all_1rtt_packets_and_one_h3_exchange(shared: Path) -> None:
    capture = load(shared / "corpus/pcap/ja4__chrome-cloudflare-quic-with-secrets.pcapng")
    result = run(capture)
    (seen,) = result.of(QuicConnectionSeen)
    assert (seen.sni, seen.alpn_offered, seen.version) == ("cloudflare-quic.com", ("h3",),
                                                           VERSION_1)
    # MANIFEST: "QUIC 1-RTT dec/total 27/29 … the 2 short-header (0.5-RTT) packets coalesced
    # behind the server Initial in frames 48-49". Those two "packets" are the zero bytes that
    # pad the server's Initial datagrams to 1200 (RFC 9000 §14.1): fixed bit clear, no DCID,
    # nothing to decrypt. Every real short-header packet decrypts.
    for index in (1, 2):
        payload = capture.datagrams[index].payload
        assert payload[0] & 0x80  # the server Initial …
        tail = payload[53 if index == 1 else 141 :]
        assert len(tail) in (1147, 1059) and not any(tail)  # … then only zeros
    assert _coverage(result) == {"initial": (3, 3), "0rtt": (0, 0), "handshake": (5, 5),
                                 "1rtt": (27, 27)}
    assert _frames(result)["STREAM"] == 18  # MANIFEST: STREAM frames 18
    assert result.of(QuicCoverage)[0].padding_tails == 2
    h3 = result.h3[0]
    # MANIFEST: SETTINGS:2, reserved/0x77d593fed:1, PRIORITY_UPDATE:1, HEADERS:2,
    # reserved/0x6f6fab18265d0ba:1, reserved/0x38c13db4f85dac9d:1, DATA:6
    assert h3.frame_counts == {"SETTINGS": 2, "PRIORITY_UPDATE": 1, "HEADERS": 2, "DATA": 6,
                               "reserved": 3}
    # MANIFEST ground truth: control 2, qpack_enc 1, qpack_dec 1, 0x1cd3763bdc59087d (GREASE) 1
    assert h3.stream_counts == {"control": 2, "qpack_encoder": 1, "qpack_decoder": 1,
                                "reserved": 1}
    http = result.http[0]
    kinds = [type(e).__name__ for e in http if not isinstance(e, ResponseData)]
    assert kinds == ["RequestHeaders", "RequestEnd", "ResponseHeaders", "ResponseEnd",
                     "ConnectionClosed"]
    request = next(e for e in http if isinstance(e, RequestHeaders))
    assert request.stream == 0
    assert request.headers[:4] == ((":method", "GET"), (":authority", "cloudflare-quic.com"),
                                   (":scheme", "https"), (":path", "/"))
    response = next(e for e in http if isinstance(e, ResponseHeaders))
    assert response.status == 200
    body = [e for e in http if isinstance(e, ResponseData)]
    assert len({e.ts_ns for e in body}) > 1  # per-packet timing survives
    assert {w.code for w in result.diag.warnings()} == {"h3.frame.reserved", "h3.stream.reserved"}


def test_illustrated_quic_ping_pong(shared: Path) -> None:
    pcap = shared / "corpus/pcap"
    result = run(load(pcap / "illustrated-quic__capture.pcap",
                      pcap / "illustrated-quic__keylog.txt"))
    (seen,) = result.of(QuicConnectionSeen)
    assert (seen.sni, seen.alpn_offered) == ("example.ulfheim.net", ("ping/1.0",))
    assert _coverage(result) == {"initial": (3, 3), "0rtt": (0, 0), "handshake": (5, 5),
                                 "1rtt": (4, 4)}  # MANIFEST: 1-RTT dec/total 4/4
    assert _frames(result)["STREAM"] == 2
    # MANIFEST "long 8/10": 3 Initial + 5 Handshake packets, and 2 zero-padding tails
    assert result.of(QuicCoverage)[0].padding_tails == 2
    data = {(e.stream_id, e.from_client): e.data for e in result.of(QuicStreamData)}
    assert data == {(0, True): b"ping", (0, False): b"pong"}
    assert not result.h3  # ALPN ping/1.0 is not HTTP/3
    assert not result.diag.warnings()


NO_KEYS = {
    # file: (SNI, ALPN offered, version, 1-RTT packets). SNI from each trace's producer line in
    # MANIFEST.md (api.cirrus-ci.com, www.google.de, blog.cloudflare.com …); quic-go's v2
    # examples dial an IP address and send no SNI.
    "sv__quic-crypto-frag-nokeys.pcap": ("token.services.mozilla.com", ("h3",), VERSION_1, 18),
    "sv__quic-retry-nokeys.pcap": ("www.gravatar.com", ("h3",), VERSION_1, 27),
    "sv__quicv2-nokeys.pcap": (None, ("h3",), VERSION_2, 11),
    "zeek__quic-chromium-115-nokeys.pcap": ("api.cirrus-ci.com", ("h3",), VERSION_1, 18),
    "zeek__quic-curl-8.1.2-http3-google-nokeys.pcap": (
        "www.google.de", ("h3", "h3-29", "h3-28", "h3-27"), VERSION_1, 41),
    "zeek__quic-firefox-102-cloudflare-nokeys.pcap": ("blog.cloudflare.com", ("h3",),
                                                      VERSION_1, 595),
    "zeek__quicv2-http3-nokeys.pcap": (None, ("h3",), VERSION_2, 10),
}


@pytest.mark.parametrize("name", sorted(NO_KEYS))
def test_no_key_captures_identify_every_connection(shared: Path, name: str) -> None:
    sni, alpn, version, short_packets = NO_KEYS[name]
    result = run(load(shared / "corpus/pcap" / name))
    (seen,) = result.of(QuicConnectionSeen)
    assert (seen.sni, seen.alpn_offered, seen.version) == (sni, alpn, version)
    assert seen.client_hello_complete and seen.client_params is not None
    assert seen.client_params.initial_max_data
    (cov,) = result.of(QuicCoverage)
    spaces = {s.space: s for s in cov.spaces}
    assert spaces["initial"].decrypted == spaces["initial"].total > 0
    assert spaces["1rtt"].total == short_packets  # MANIFEST: 1-RTT dec/total 0/N
    assert dict(spaces["1rtt"].reasons) == {"no_keys": short_packets}
    assert cov.retry == ("retry" in name)
    assert not result.of(QuicStreamData)


ALPHA = ["chromium-h3", "aioquic-h3"]


def _exchanges(result: Run) -> list[tuple[str, str, int, int, int]]:
    (http,) = [events for conn, events in result.http.items() if conn in result.h3]
    heads = {e.stream: dict(e.headers) for e in http if isinstance(e, RequestHeaders)}
    status = {e.stream: e.status for e in http if isinstance(e, ResponseHeaders)}
    ended = {e.stream for e in http if isinstance(e, ResponseEnd)}
    ended &= {e.stream for e in http if isinstance(e, RequestEnd)}
    down: Counter[int] = Counter()
    up: Counter[int] = Counter()
    for e in http:
        if isinstance(e, ResponseData):
            down[e.stream] += len(e.data)
        elif isinstance(e, RequestData):
            up[e.stream] += len(e.data)
    assert set(heads) == set(status) == ended
    return sorted((h[":method"], h[":path"], status[s], down[s], up[s]) for s, h in heads.items())


def _server_log(path: Path) -> list[tuple[str, str, int, int, int]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((r["method"], r["path"] + (f"?{r['query']}" if r["query"] else ""), r["status"],
                   r["body_bytes_wire"], r["request_body_bytes"]) for r in rows)


@pytest.mark.parametrize("session", ALPHA)
@pytest.mark.parametrize("keys", ["sslkeys.log", "dsb"])
def test_alpha_h3_exchanges_equal_the_server_log(shared: Path, session: str, keys: str) -> None:
    base = shared / "captures/alpha" / session
    if not base.is_dir():
        pytest.skip(f"{base} not recorded")
    capture = (load(base / "capture.pcapng", base / "sslkeys.log") if keys == "sslkeys.log"
               else load(base / "capture-dsb.pcapng"))
    result = run(capture)
    expected = _server_log(base / "server-log.jsonl")
    assert len(expected) == 21
    # method, path, status, response body bytes on the wire, request body bytes
    assert _exchanges(result) == expected
    truth = json.loads((base / "truth.json").read_text())["verification"]["with_keylog"]
    assert _frames(result)["STREAM"] == truth["quic_stream_frames"]
    assert result.h3[0].frame_counts["HEADERS"] == truth["http3_headers_frames"]
    (cov,) = result.of(QuicCoverage)
    assert all(s.decrypted == s.total for s in cov.spaces)
    assert cov.alpn == "h3" and cov.sni == "localhost"


@pytest.mark.parametrize("session", ALPHA)
def test_alpha_without_keys_still_names_the_connection(shared: Path, session: str) -> None:
    base = shared / "captures/alpha" / session
    if not base.is_dir():
        pytest.skip(f"{base} not recorded")
    result = run(load(base / "capture.pcapng"))
    (seen,) = result.of(QuicConnectionSeen)
    assert (seen.sni, seen.alpn_offered[:1]) == ("localhost", ("h3",))
    assert not result.h3
    assert {w.code for w in result.diag.warnings()} == {"quic.session.no_key"}
