"""Packet captures end to end (issue 6): pcapng + key log (or the key log in a DSB) →
exchanges that equal the server's own log, decoded bodies, SSE events with per-event times,
and the same classification as the HAR of the same session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.schema import validation_errors

REDACTOR = Redactor(key=b"w" * 32)
TCP_SESSIONS = ["chromium-h2", "httpx-h1", "httpx-h2", "mitmproxy"]
QUIC_SESSIONS = ["chromium-h3", "aioquic-h3"]
PROTOCOL = {"1.1": "http/1.1", "2": "h2", "3": "h3"}


def _analyse(path: Path, keylog: Path | None = None) -> dict[str, Any]:
    options = AnalyzeOptions(keylog=keylog.read_bytes() if keylog else None)
    return analyze_capture(path, options=options, redactor=REDACTOR)


def _served(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "server-log.jsonl").read_text().splitlines()
            if line.strip()]


def _triples(doc: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    out = []
    for ex in doc["exchanges"]:
        parts = urlsplit(ex["url"])
        out.append((ex["method"], parts.path + (f"?{parts.query}" if parts.query else ""),
                    ex["status"]))
    return sorted(out, key=lambda t: (t[0], t[1], t[2] or 0))


@pytest.fixture(scope="module", params=[(s, v) for s in TCP_SESSIONS + QUIC_SESSIONS
                                        for v in ("keylog", "dsb")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def session(request: pytest.FixtureRequest, shared: Path) -> tuple[Path, dict[str, Any]]:
    name, variant = request.param
    folder = shared / "captures" / "alpha" / name
    if variant == "keylog":
        doc = _analyse(folder / "capture.pcapng", folder / "sslkeys.log")
    else:
        doc = _analyse(folder / "capture-dsb.pcapng")
    return folder, doc


def test_document_is_valid_and_fully_decrypted(session: tuple[Path, dict[str, Any]]) -> None:
    _, doc = session
    assert validation_errors(doc) == []
    assert doc["capture"]["format"] == "pcapng"
    decryption = doc["capture"]["decryption"]
    assert decryption["tls_sessions"] + decryption["quic_connections"] >= 1
    assert decryption["tls_decrypted"] == decryption["tls_sessions"]
    assert decryption["quic_decrypted"] == decryption["quic_connections"]
    assert decryption["packets_undecrypted"] == 0
    for conn in decryption["connections"]:
        assert conn["status"] == "decrypted", conn
        assert conn["sni"] == "localhost"


def test_exchanges_equal_the_server_log(session: tuple[Path, dict[str, Any]]) -> None:
    folder, doc = session
    served = _served(folder)
    want = sorted(((r["method"], r["path"] + (f"?{r['query']}" if r["query"] else ""),
                    r["status"]) for r in served), key=lambda t: (t[0], t[1], t[2] or 0))
    got = _triples(doc)
    if folder.name == "mitmproxy":
        # Both proxy legs are in the capture: every request appears once per leg.
        want = sorted(want * 2, key=lambda t: (t[0], t[1], t[2] or 0))
    assert got == want
    protocols = {PROTOCOL[r["http_version"]] for r in served}
    assert {e["protocol"] for e in doc["exchanges"]} == protocols
    for ex in doc["exchanges"]:
        assert ex["body"] in ("ok", "already-decoded", "not-captured"), ex
        assert ex["ttfb_ms"] is not None and ex["total_ms"] is not None
        assert 0 <= ex["ttfb_ms"] <= ex["total_ms"]


def test_sse_events_with_per_event_times(session: tuple[Path, dict[str, Any]]) -> None:
    folder, doc = session
    truth = json.loads((folder / "truth.json").read_text())
    expected = truth["facts"]["streaming"]["event_types"]
    sse = [s for s in doc["streams"] if s["transport"] == "sse"]
    streamed = [r for r in _served(folder) if r.get("streaming")]
    assert len(sse) == len(streamed) * (2 if folder.name == "mitmproxy" else 1)
    for stream in sse:
        assert set(stream["event_types"]) == set(expected)
        assert stream["per_event_timing"] is True
        assert stream["first_event_ms"] is not None
        assert stream["first_event_ms"] <= stream["last_event_ms"] <= stream["total_ms"] + 1
        assert stream["inter_event_ms"] is not None


def test_classification_matches_the_har_of_the_session(session: tuple[Path, dict[str, Any]],
                                                       shared: Path) -> None:
    folder, doc = session
    har = folder / "capture.har"
    if not har.is_file():
        truth = json.loads((folder / "truth.json").read_text())
        want = {truth["facts"]["cdn"]["name"], truth["facts"]["cloud"]["name"],
                truth["facts"]["service_mesh"]["name"]}
        assert want <= {f["name"] for f in doc["fingerprints"]}
        return
    har_doc = _analyse(har)
    names = {(f["category"], f["name"]) for f in doc["fingerprints"]}
    assert names == {(f["category"], f["name"]) for f in har_doc["fingerprints"]}
    assert [h["name"] for h in doc["infrastructure"]] == [
        h["name"] for h in har_doc["infrastructure"]]
    assert [a["style"] for a in doc["api_styles"]] == [a["style"] for a in har_doc["api_styles"]]


def test_without_keys_connections_are_still_listed(shared: Path) -> None:
    folder = shared / "captures" / "alpha" / "chromium-h2"
    doc = _analyse(folder / "capture.pcapng")
    decryption = doc["capture"]["decryption"]
    assert decryption["tls_sessions"] >= 1
    assert decryption["tls_decrypted"] == 0
    conn = decryption["connections"][0]
    assert conn["sni"] == "localhost"
    assert conn["status"] == "no-keys"
    assert doc["capture"]["exchanges"] == 0


def test_quic_without_keys_lists_the_connection(shared: Path) -> None:
    folder = shared / "captures" / "alpha" / "chromium-h3"
    doc = _analyse(folder / "capture.pcapng")
    decryption = doc["capture"]["decryption"]
    assert decryption["quic_connections"] == 1
    assert decryption["quic_decrypted"] == 0
    (conn,) = [c for c in decryption["connections"] if c["kind"] == "quic"]
    assert (conn["sni"], conn["alpn"], conn["version"]) == ("localhost", "h3", "QUIC v1")
    assert conn["status"] == "no-keys"
    assert conn["spaces"]["initial"]["decrypted"] == conn["spaces"]["initial"]["total"] > 0
    assert doc["capture"]["exchanges"] == 0


def test_ja4_chrome_cloudflare_h3_and_h2_in_one_file(shared: Path) -> None:
    """HTTP/3 on stream 0 and HTTP/2 over TLS, keys in a DSB; tshark 4.0 misses the 0.5-RTT."""
    doc = _analyse(shared / "corpus" / "pcap" / "ja4__chrome-cloudflare-quic-with-secrets.pcapng")
    by_protocol = {e["protocol"]: e for e in doc["exchanges"]}
    assert set(by_protocol) == {"h2", "h3"}
    assert doc["capture"]["exchanges"] == 2
    for ex in by_protocol.values():
        assert ex["status"] == 200 and ex["method"] == "GET"
        assert ex["total_ms"] is not None
    (quic,) = [c for c in doc["capture"]["decryption"]["connections"] if c["kind"] == "quic"]
    assert quic["spaces"]["1rtt"]["decrypted"] == quic["spaces"]["1rtt"]["total"] == 27
    # tshark counts 29 short-header packets: the 2 extra are the zero padding after the
    # server's Initial datagrams (RFC 9000 §14.1), which is no QUIC packet at all.
    assert quic["padding_tails"] == 2
    assert "Cloudflare" in {f["name"] for f in doc["fingerprints"]}


def test_cli_pcap_errors_are_one_line(shared: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from archcmp.cli import app

    runner = CliRunner()
    store = tmp_path / "ws.db"
    pcap = shared / "captures" / "alpha" / "httpx-h2" / "capture.pcapng"
    garbage = tmp_path / "keys.log"
    garbage.write_bytes(bytes(range(256)) * 4)
    result = runner.invoke(app, ["analyze", str(pcap), "--keylog", str(garbage),
                                 "--store", str(store)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1

    # a wrong (well-formed) key log: connections listed, nothing decrypted, no traceback
    wrong = tmp_path / "wrong.log"
    wrong.write_text((shared / "captures" / "alpha" / "chromium-h2" / "sslkeys.log").read_text())
    result = runner.invoke(app, ["analyze", str(pcap), "--keylog", str(wrong), "--json",
                                 "--store", str(store)])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["capture"]["decryption"]["tls_decrypted"] == 0

    # a truncated capture: what was read is analysed, the cut is a counted warning
    cut = tmp_path / "cut.pcapng"
    raw = (shared / "captures" / "alpha" / "httpx-h2" / "capture-dsb.pcapng").read_bytes()
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    result = runner.invoke(app, ["analyze", str(cut), "--json", "--store", str(store)])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["capture"]["exchanges"] > 0
    assert any(w["code"] == "pcap.file.truncated" for w in doc["capture"]["warnings"])
