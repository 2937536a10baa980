"""Is the pipeline linear in hostile input? Time 1x / 2x / 4x inputs of each pathological kind.

    python benchmarks/scaling.py [--scale 1.0] [KIND ...]

For each kind of the malformed corpus (``tests/malformed/make_corpus.py`` builds them; this
script reuses its builders at three sizes), runs :func:`archcmp.analyze.pipeline.analyze_capture`
in-process on the 1x, 2x and 4x input, best of two, and prints the times and the ratios
t(2x)/t(1x) and t(4x)/t(1x): about 2 and 4 when the cost is linear, about 4 and 16 when it is
quadratic. Run by hand (no timed test asserts: style.md §8). Kinds with a cap (SSE events,
CONTINUATION frames, header fields) should grow linearly up to the cap and stay flat after.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "malformed"))

import make_corpus as mc  # noqa: E402

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture  # noqa: E402
from archcmp.classify.rules import load_rules  # noqa: E402
from archcmp.redact import Redactor  # noqa: E402

Builder = Callable[[int], tuple[bytes, str]]


def many_entries(n: int) -> tuple[bytes, str]:
    entry = mc.dumps({"startedDateTime": "2024-05-01T10:00:00.000Z", "time": 1,
                      "request": {"method": "GET", "url": "https://a.example/i", "headers": []},
                      "response": {"status": 204, "httpVersion": "h2", "headers": [],
                                   "content": {"size": 0}},
                      "timings": {"send": 0, "wait": 1, "receive": 0}})
    return (b'{"log":{"version":"1.2","entries":[' + b",".join([entry] * 5000 * n)
            + b"]}}"), ".har"


def header_flood(n: int) -> tuple[bytes, str]:
    many = [{"name": f"x-h{i % 50}", "value": "v"} for i in range(50_000 * n)]
    entry = mc.har_entry(request_headers=many, headers=many)
    return mc.dumps(mc.har_doc([entry])), ".har"


def header_value(n: int) -> tuple[bytes, str]:
    huge = [{"name": "cookie", "value": "a=" + "b" * (2 << 20) * n}]
    return mc.dumps(mc.har_doc([mc.har_entry("https://a.example/" + "p" * (1 << 20) * n,
                                             request_headers=huge, headers=huge)])), ".har"


def deep_json(n: int) -> tuple[bytes, str]:
    entry = mc.har_entry(text=mc.deep("[", "]", 250_000 * n))
    entry["request"]["postData"] = {"mimeType": "application/json",
                                    "text": mc.deep('{"a":', "}", 250_000 * n)}
    return mc.dumps(mc.har_doc([entry])), ".har"


def bombs(n: int) -> tuple[bytes, str]:
    nested = mc.gz(mc.zstandard.ZstdCompressor(level=19).compress(
        mc.brotli.compress(mc.gz(b"\0" * (64 << 20)), quality=11)))
    entries = [mc.har_entry(f"https://a.example/{i}", mime="text/plain",
                            text=base64.b64encode(nested).decode(), encoding="base64",
                            headers=[{"name": "content-encoding", "value": "gzip, br, zstd, gzip"}])
               for i in range(10 * n)]
    return mc.dumps(mc.har_doc(entries)), ".har"


def sse_flood(n: int) -> tuple[bytes, str]:
    text = "data: {\"i\":1}\n\n" * (25_000 * n)
    return mc.dumps(mc.har_doc([mc.har_entry(text=text, mime="text/event-stream")])), ".har"


def websocket_flood(n: int) -> tuple[bytes, str]:
    ws = [{"type": "send", "time": 1714557600.0, "opcode": 1, "data": "m"}] * (25_000 * n)
    entry = mc.har_entry("wss://a.example/ws", status=101, extra={"_webSocketMessages": ws})
    return mc.dumps(mc.har_doc([entry])), ".har"


def tcp_overlaps(n: int) -> tuple[bytes, str]:
    conn = mc.TcpConn(40000)
    conn.send(True, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    body = b"x" * (100 * 10_000 * n)
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    base = conn.sseq
    pieces = [(start, resp[start : start + 160]) for start in range(0, len(resp), 100)]
    random.Random(8).shuffle(pieces)
    for start, piece in pieces:
        for variant in (piece, bytes(b ^ 0x20 for b in piece)):
            conn.frames.append(mc.tcp(conn.s, conn.c, base + start, conn.cseq, mc.PSH | mc.ACK,
                                      variant))
    conn.sseq = base + len(resp)
    conn.close()
    return mc.classic_pcap(conn.frames), ".pcap"


def pcapng_garbage(n: int) -> tuple[bytes, str]:
    blocks = list(mc.pcapng_blocks(mc.alpha(mc.H1_PCAP)))
    rng = random.Random(8)
    head, body = blocks[:2], blocks[2:]
    parts = list(head)
    for copy in range(8 * n):
        for block in body:
            parts.append(block)
            parts.append(rng.randbytes(rng.randrange(1, 200)) if copy or rng.random() < .5
                         else b"")
    return b"".join(parts), ".pcapng"


def http1_pipelined(n: int) -> tuple[bytes, str]:
    conn = mc.TcpConn(40001)
    conn.send(True, b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n" * (2000 * n))
    conn.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * (2000 * n))
    conn.close()
    return mc.classic_pcap(conn.frames), ".pcap"


def http1_tiny_chunks(n: int) -> tuple[bytes, str]:
    conn = mc.TcpConn(40002)
    conn.send(True, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.send(False, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"1;e=x\r\na\r\n" * (50_000 * n) + b"0\r\n\r\n")
    conn.close()
    return mc.classic_pcap(conn.frames), ".pcap"


def h2_streams(n: int) -> tuple[bytes, str]:
    enc = mc.Encoder()
    client = b"".join(mc.h2_frame(1, 0x5, 2 * i + 1, enc.encode(mc.REQUEST))
                      for i in range(5000 * n))
    server_enc = mc.Encoder()
    server = b"".join(mc.h2_frame(1, 0x4, 2 * i + 1, server_enc.encode([(":status", "200")]))
                      + mc.h2_frame(0, 0x1, 2 * i + 1, b"ok") for i in range(5000 * n))
    conn = mc.TcpConn(43000)
    conn.send(True, mc.PREFACE + mc.h2_frame(4, 0, 0, b"") + client)
    conn.send(False, mc.h2_frame(4, 0, 0, b"") + server)
    conn.close()
    return mc.classic_pcap(conn.frames), ".pcap"


def h2_continuations(n: int) -> tuple[bytes, str]:
    frames: list[bytes] = []
    for port in range(200 * n):
        block = mc.Encoder().encode(mc.REQUEST)
        flood = mc.h2_frame(1, 0x1, 1, block[:4]) + b"".join(
            mc.h2_frame(9, 0, 1, b"\x40\x01a\x01b") for _ in range(300))
        conn = mc.TcpConn(42000 + port)
        conn.send(True, mc.PREFACE + mc.h2_frame(4, 0, 0, b"") + flood)
        conn.close()
        frames += conn.frames
    return mc.classic_pcap(frames), ".pcap"


KINDS: dict[str, Builder] = {
    "har-many-entries": many_entries,
    "har-header-count": header_flood,
    "har-header-size": header_value,
    "har-deep-json": deep_json,
    "har-decompression-bombs": bombs,
    "har-sse-events": sse_flood,
    "har-websocket-messages": websocket_flood,
    "pcap-tcp-overlaps": tcp_overlaps,
    "pcapng-garbage-between-blocks": pcapng_garbage,
    "pcap-http1-pipelined": http1_pipelined,
    "pcap-http1-tiny-chunks": http1_tiny_chunks,
    "pcap-h2-streams": h2_streams,
    "pcap-h2-continuation-floods": h2_continuations,
}


def timed(data: bytes, suffix: str, options: AnalyzeOptions) -> float:
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        best = float("inf")
        for _ in range(2):
            gc.collect()
            start = time.perf_counter()
            analyze_capture(Path(tmp.name), options=options, redactor=Redactor(key=b"k" * 32))
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", metavar="KIND", help=", ".join(KINDS))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    unknown = sorted(set(args.kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds: {', '.join(unknown)}")
    options = AnalyzeOptions(rules=load_rules())
    results = {}
    if not args.json:
        print(f"{'kind':32} {'1x s':>8} {'2x s':>8} {'4x s':>8} {'2x/1x':>6} {'4x/1x':>6}")
    for kind in args.kinds or KINDS:
        times = []
        for n in (1, 2, 4):
            data, suffix = KINDS[kind](n)
            times.append(timed(data, suffix, options))
        results[kind] = {"seconds": times, "ratio_2x": times[1] / times[0],
                         "ratio_4x": times[2] / times[0]}
        if not args.json:
            print(f"{kind:32} {times[0]:8.3f} {times[1]:8.3f} {times[2]:8.3f} "
                  f"{times[1] / times[0]:6.2f} {times[2] / times[0]:6.2f}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
