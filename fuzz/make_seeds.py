"""Seed corpora for the fuzz targets, cut from real captures (``python fuzz/make_seeds.py``).

Sources: the alpha captures (ours) and the shared corpus files whose licence allows it (MIT,
Apache-2.0, Unlicense: ``sv__``, ``mitmproxy__``, ``haralyzer__``, ``playwright__``,
``pollyjs__``, ``har-to-openapi__``, ``har-to-k6__``, ``browsertime__``, ``snet__``,
``illustrated-``; never ``ja4__``). Writes ``fuzz/seeds/<target>/<n>`` (not committed: it is
regenerated in a second) and ``fuzz/keys.log``, the merged key logs the stream targets decrypt
seeds with.

* ``har``: small corpus HARs whole, and every HAR cut into one-entry HARs with bodies ≤ 4 KiB;
* ``wire``: pcaps ≤ 128 KiB; ``keylog``: the key logs;
* ``tls``, ``http1``, ``http2``: each TCP connection of those pcaps, reassembled and framed as
  :mod:`fuzz.targets` reads it (TLS as on the wire; HTTP from cleartext connections and from
  the decrypted application data of TLS ones);
* ``quic``: each pcap's QUIC datagrams; ``h3``: the decrypted stream data of HTTP/3
  connections;
* ``stream``: SSE / NDJSON bodies from the HARs plus hand-written edge cases; ``content``:
  bodies of the HARs compressed with each coding and some stacks of them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import brotli
import zstandard

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
SHARED = Path(os.environ.get("ARCHCMP_SHARED", REPO.parent / "shared"))
ALLOWED = ("sv__", "mitmproxy__", "haralyzer__", "playwright__", "pollyjs__", "har-to-openapi__",
           "har-to-k6__", "browsertime__", "snet__", "illustrated-")
MAX_SEED = 128 * 1024

sys.path.insert(0, str(REPO))

from archcmp.diagnostics import Diagnostics  # noqa: E402
from archcmp.ingest.flows import FlowData, FlowGap, TcpReassembler  # noqa: E402
from archcmp.ingest.keylog import KeyLog  # noqa: E402
from archcmp.ingest.packets import Defragmenter, TcpSegment, UdpDatagram, decode_frame  # noqa: E402
from archcmp.ingest.pcap import Secrets, read_capture  # noqa: E402
from archcmp.ingest.sniff import open_capture  # noqa: E402
from archcmp.protocols.quic import QuicStreamData, QuicTracker  # noqa: E402
from archcmp.protocols.tls import TlsAppData, TlsSession  # noqa: E402


def allowed(path: Path) -> bool:
    return path.name.startswith(ALLOWED)


def captures() -> tuple[list[Path], list[Path], list[Path]]:
    """(HARs, pcaps, key logs) to seed from."""
    corpus = SHARED / "corpus"
    alpha = sorted((SHARED / "captures" / "alpha").glob("*/"))
    hars = [p for p in sorted((corpus / "har").glob("*")) if allowed(p)]
    hars += [d / "capture.har" for d in alpha if (d / "capture.har").is_file()]
    pcaps = [p for p in sorted((corpus / "pcap").glob("*.pcap*")) if allowed(p)]
    pcaps += [p for d in alpha for p in sorted(d.glob("capture*.pcapng"))]
    keylogs = [p for p in sorted((corpus / "pcap").glob("*keylog.txt")) if allowed(p)]
    keylogs += [d / "sslkeys.log" for d in alpha if (d / "sslkeys.log").is_file()]
    return hars, pcaps, keylogs


class Seeds:
    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)

    def add(self, target: str, data: bytes) -> None:
        if not data or len(data) > MAX_SEED:
            return
        folder = FUZZ / "seeds" / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        self.count[target] += 1


def frame(tag: int, data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, max(len(data), 1), 0xFFFF):
        piece = data[start : start + 0xFFFF]
        out += bytes((tag,)) + len(piece).to_bytes(2, "big") + piece
    return bytes(out)


def frame_h3(tag: int, stream_id: int, data: bytes) -> bytes:
    return bytes((tag,)) + (stream_id & 0xFFFF).to_bytes(2, "big") + len(data).to_bytes(
        2, "big") + data[:0xFFFF]


# --- HAR -----------------------------------------------------------------------------------


def _shrink_entry(entry: dict[str, Any]) -> dict[str, Any]:
    content = entry.get("response", {}).get("content")
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        content["text"] = content["text"][:4096]
    return entry


def har_seeds(seeds: Seeds, hars: list[Path]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in hars:
        raw = path.read_bytes()
        if len(raw) <= 32 * 1024:
            seeds.add("har", raw)
        try:
            with open_capture(path) as opened:
                doc = json.loads(opened.stream.read())
        except (ValueError, OSError, Exception):  # noqa: BLE001 - seeds: skip what will not load
            continue
        log = doc.get("log") if isinstance(doc, dict) else None
        if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
            continue
        for entry in log["entries"]:
            if not isinstance(entry, dict):
                continue
            entries.append(entry)
            one = {"log": {k: v for k, v in log.items() if k not in ("entries", "pages")}
                   | {"entries": [_shrink_entry(json.loads(json.dumps(entry)))]}}
            seeds.add("har", json.dumps(one, separators=(",", ":")).encode())
    return entries


def body_seeds(seeds: Seeds, entries: list[dict[str, Any]]) -> None:
    bodies: list[bytes] = []
    for entry in entries:
        content = entry.get("response", {}).get("content", {})
        text = content.get("text") if isinstance(content, dict) else None
        if not isinstance(text, str) or not text:
            continue
        data = text.encode("utf-8", "surrogatepass")[:8192]
        mime = str(content.get("mimeType", ""))
        if "event-stream" in mime or "ndjson" in mime or text.startswith(("data:", "{")):
            seeds.add("stream", b"\x07" + data)
        bodies.append(data)
    bodies = sorted(set(bodies), key=len)[:: max(1, len(bodies) // 40)]
    coders = {
        0: lambda d: gzip.compress(d, mtime=0),
        1: brotli.compress,
        2: lambda d: zstandard.ZstdCompressor().compress(d),
        3: zlib.compress,
    }
    for i, body in enumerate(bodies):
        for b, coder in coders.items():
            seeds.add("content", bytes((1 | (i % 3) << 4, b, 0x10 + i % 40)) + coder(body))
        stacked = gzip.compress(brotli.compress(body), mtime=0)
        seeds.add("content", bytes((0x0A, 0, 0x02)) + stacked)
    for text in (b"data: a\n\n", b"event: x\ndata: 1\nid: 7\nretry: 10\n\n: c\r\n\r\ndata\n\n",
                 b'{"a":1}\n{"b":[2]}\n', b'0:"hi"\n2:[{"x":1}]\nd:{"f":"stop"}\n',
                 b"\xef\xbb\xbfdata: \xe2\x82\xac\r\rdata:x\r\n\n"):
        seeds.add("stream", b"\x03" + text)


# --- packets -------------------------------------------------------------------------------


def _frames(path: Path, keylog: KeyLog) -> tuple[list[Any], KeyLog]:
    diag = Diagnostics()
    out: list[Any] = []
    defrag = Defragmenter(diag)
    with open_capture(path) as opened:
        for item in read_capture(opened.stream, diag, name=path.name):
            if isinstance(item, Secrets):
                keylog = keylog.merge(KeyLog.parse(item.data, diag))
                continue
            packet = decode_frame(item, diag, defrag=defrag)
            if packet is not None:
                out.append(packet)
    return out, keylog


def packet_seeds(seeds: Seeds, pcaps: list[Path], keylog: KeyLog) -> None:
    for path in pcaps:
        raw = path.read_bytes()
        seeds.add("wire", raw)
        packets, keys = _frames(path, keylog)
        tcp_seeds(seeds, [p for p in packets if isinstance(p, TcpSegment)], keys)
        quic_seeds(seeds, [p for p in packets if isinstance(p, UdpDatagram)], keys)


def tcp_seeds(seeds: Seeds, segments: list[TcpSegment], keys: KeyLog) -> None:
    diag = Diagnostics()
    reassembler = TcpReassembler(diag)
    flows: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    events: list[Any] = []
    for segment in segments:
        events += reassembler.feed(segment)
    events += reassembler.finish()
    for event in events:
        if isinstance(event, FlowData):
            flows[event.index].append((int(event.from_client), event.data))
        elif isinstance(event, FlowGap):
            flows[event.index].append((2 | int(event.from_client), b"\0" * min(event.missing,
                                                                                 0xFFFF)))
    for pieces in flows.values():
        first = next((d for tag, d in pieces if tag == 1), b"")
        if first[:1] == b"\x16":
            seeds.add("tls", b"".join(frame(t, d) for t, d in pieces))
            session = TlsSession(keys, diag)
            plain: list[tuple[int, bytes]] = []
            for tag, data in pieces:
                if tag & 2:
                    continue
                for ev in session.feed(bool(tag & 1), data, 0):
                    if isinstance(ev, TlsAppData):
                        plain.append((int(ev.from_client), ev.data))
            if plain:
                client = next((d for t, d in plain if t == 1), b"")
                target = "http2" if client.startswith(b"PRI ") else "http1"
                seeds.add(target, b"".join(frame(t, d) for t, d in plain))
        elif first.startswith(b"PRI "):
            seeds.add("http2", b"".join(frame(t, d) for t, d in pieces))
        elif first:
            seeds.add("http1", b"".join(frame(t, d) for t, d in pieces))


def quic_seeds(seeds: Seeds, datagrams: list[UdpDatagram], keys: KeyLog) -> None:
    quic = [d for d in datagrams if d.payload[:1] and d.payload[0] & 0x40]
    if not quic:
        return
    client = quic[0].src
    seeds.add("quic", b"".join(frame(int(d.src == client), d.payload) for d in quic))
    tracker = QuicTracker(keys, Diagnostics())
    streams: dict[int, list[bytes]] = defaultdict(list)
    for d in quic:
        for ev in tracker.feed(d.payload, d.ts_ns, d.src, d.dst):
            if isinstance(ev, QuicStreamData):
                tag = int(ev.from_client) | (2 if ev.fin else 0)
                streams[ev.conn_id].append(frame_h3(tag, ev.stream_id, ev.data))
    for ev in tracker.finish():
        if isinstance(ev, QuicStreamData):
            tag = int(ev.from_client) | (2 if ev.fin else 0)
            streams[ev.conn_id].append(frame_h3(tag, ev.stream_id, ev.data))
    for pieces in streams.values():
        seeds.add("h3", b"".join(pieces))


def main() -> None:
    hars, pcaps, keylogs = captures()
    if not hars and not pcaps:
        sys.exit(f"no captures under {SHARED}; set ARCHCMP_SHARED")
    merged = b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in keylogs)
    (FUZZ / "keys.log").write_bytes(merged)
    keylog = KeyLog.parse(merged, Diagnostics())
    seeds = Seeds()
    for path in keylogs:
        seeds.add("keylog", path.read_bytes())
    entries = har_seeds(seeds, hars)
    body_seeds(seeds, entries)
    packet_seeds(seeds, pcaps, keylog)
    for target, n in sorted(seeds.count.items()):
        sys.stdout.write(f"{target:8} {n} seeds\n")


if __name__ == "__main__":
    main()
