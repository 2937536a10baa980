"""Make the malformed-input corpus: real captures, mutated deterministically (seed 8).

    python tests/malformed/make_corpus.py            # (re)write every case's input files
    python tests/malformed/make_corpus.py --record   # … and expected.json from a CLI run

Suricata-verify style: one directory per case with ``input.<ext>``, an optional ``keys.log``
(passed as ``--keylog``) and ``expected.json``:

``exit``            0 or 2 (the case's intent; ``--record`` refuses to write a different one)
``warnings``        warning code → minimum count that must be reported
``exchanges``       the exchange count, where it is meaningful
``stderr``          a substring of the one error line, for exit 2
``max_rss_mib``     peak RSS cap (:data:`archcmp.limits.MAX_PEAK_RSS_MIB` plus the per-entry
                    allowance for cases with many exchanges)

Every input is the same byte for byte on each run (fixed seeds, gzip without a time), except
the two ``h3-*`` cases, synthesized by a live aioquic handshake whose keys are random: they are
kept as they are unless ``--resynthesize`` is given.

``--record`` runs ``python -m archcmp analyze INPUT [--keylog keys.log] --json --store TMP``,
checks the exit code against the intent and writes what it saw (codes and counts) as the
expectation: review the diff as you would a golden file.

Sources, all with licences that allow it: the alpha captures (ours) and, from the shared
corpus, Suricata-verify pcaps (MIT). Never ``ja4__`` files. Inputs stay ≤ 200 KB each (the big
ones are generated compressed), ≤ 5 MB in all.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
import zstandard
from hpack import Encoder

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = Path(os.environ.get("ARCHCMP_SHARED", REPO.parent / "shared"))
ALPHA = SHARED / "captures" / "alpha"
PCAPS = SHARED / "corpus" / "pcap"
SEED = 8
MAX_INPUT = 200 * 1024

sys.path.insert(0, str(REPO / "src"))
from archcmp.limits import MAX_PEAK_RSS_MIB, PEAK_RSS_KIB_PER_EXCHANGE  # noqa: E402

# --- byte-level helpers ---------------------------------------------------------------------


def flip_bytes(data: bytes, count: int, rng: random.Random, *, start: int = 0) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        pos = rng.randrange(start, len(out))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def pcapng_blocks(data: bytes) -> Iterator[bytes]:
    """The blocks of a little-endian pcapng file, whole."""
    pos = 0
    while pos + 12 <= len(data):
        length = struct.unpack_from("<I", data, pos + 4)[0]
        yield data[pos : pos + length]
        pos += length


def strip_dsb(data: bytes) -> bytes:
    return b"".join(b for b in pcapng_blocks(data) if struct.unpack_from("<I", b)[0] != 0x0A)


def block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng_header(linktype: int = 1) -> bytes:
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    return shb + block(1, struct.pack("<HHI", linktype, 0, 0))


def epb(data: bytes, ts_us: int) -> bytes:
    return block(6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data),
                                len(data)) + data)


def dsb(keylog: bytes) -> bytes:
    return block(0x0A, struct.pack("<II", 0x544C534B, len(keylog)) + keylog)


def classic_pcap(frames: list[bytes]) -> bytes:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000, len(frame),
                           len(frame)) + frame
    return bytes(out)


def ether_ip(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + l4


def tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
        payload: bytes = b"") -> bytes:
    header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         5 << 4, flags, 65535, 0, 0)
    return ether_ip(src[0], dst[0], 6, header + payload)


def udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    return ether_ip(src[0], dst[0], 17, struct.pack("!HHHH", src[1], dst[1], 8 + len(payload),
                                                    0) + payload)


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


class TcpConn:
    """Writes one TCP connection's frames: handshake, data both ways, FIN."""

    def __init__(self, port: int, server_port: int = 80) -> None:
        self.c = ("10.0.0.1", port)
        self.s = ("10.0.0.2", server_port)
        self.cseq, self.sseq = 1000, 5000
        self.frames: list[bytes] = [tcp(self.c, self.s, self.cseq - 1, 0, SYN),
                                    tcp(self.s, self.c, self.sseq - 1, self.cseq, SYN | ACK),
                                    tcp(self.c, self.s, self.cseq, self.sseq, ACK)]

    def send(self, from_client: bool, data: bytes, mss: int = 1400) -> None:
        for start in range(0, len(data), mss):
            piece = data[start : start + mss]
            if from_client:
                self.frames.append(tcp(self.c, self.s, self.cseq, self.sseq, PSH | ACK, piece))
                self.cseq += len(piece)
            else:
                self.frames.append(tcp(self.s, self.c, self.sseq, self.cseq, PSH | ACK, piece))
                self.sseq += len(piece)

    def close(self) -> None:
        self.frames += [tcp(self.c, self.s, self.cseq, self.sseq, FIN | ACK),
                        tcp(self.s, self.c, self.sseq, self.cseq + 1, FIN | ACK),
                        tcp(self.c, self.s, self.cseq + 1, self.sseq + 1, ACK)]


# --- HAR helpers ----------------------------------------------------------------------------


def har_entry(url: str = "https://app.example/api/items", *, status: int = 200,
              text: str | None = None, mime: str = "application/json", encoding: str | None = None,
              headers: list[dict[str, str]] | None = None,
              request_headers: list[dict[str, str]] | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"size": len(text or ""), "mimeType": mime}
    if text is not None:
        content["text"] = text
    if encoding:
        content["encoding"] = encoding
    entry = {
        "startedDateTime": "2024-05-01T10:00:00.000Z", "time": 12.5,
        "request": {"method": "GET", "url": url, "httpVersion": "h2",
                    "headers": request_headers or [], "queryString": [], "cookies": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "h2",
                     "headers": headers or [{"name": "content-type", "value": mime}],
                     "cookies": [], "content": content, "redirectURL": "",
                     "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"blocked": 1, "dns": -1, "connect": -1, "ssl": -1, "send": 0.5,
                                 "wait": 10, "receive": 1},
    }
    entry.update(extra or {})
    return entry


def har_doc(entries: list[Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "pages": [], "entries": entries}}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, 9, mtime=0)


def deep(open_: str, close: str, depth: int, core: str = "1") -> str:
    return open_ * depth + core + close * depth


# --- QUIC / HTTP/3 synthesis (aioquic in memory) -------------------------------------------


def _h3_capture(mutate: Callable[[Any, Any, int], None]) -> bytes:
    """A keyed pcapng of one HTTP/3 request/response between aioquic client and server in
    memory; ``mutate(client_quic, client_h3, stream_id)`` adds hostile bytes before the
    request's HEADERS are sent."""
    import datetime

    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(SEED, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "malformed.example")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(SEED)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "c.pem"), Path(tmp, "k.pem")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        secrets = io.StringIO()
        ccfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], secrets_log_file=secrets,
                                 server_name="malformed.example", verify_mode=0)
        scfg = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
        scfg.load_cert_chain(cert_path, key_path)
    caddr, saddr = ("10.0.0.1", 50000), ("10.0.0.2", 443)
    client = QuicConnection(configuration=ccfg)
    client.connect(saddr, now=0.0)
    server = QuicConnection(configuration=scfg,
                            original_destination_connection_id=client.original_destination_connection_id)
    frames: list[bytes] = []
    now = 0.0
    chttp = shttp = None

    def pump() -> None:
        nonlocal now, shttp
        for _ in range(50):
            moved = False
            for sender, receiver, src, dst in ((client, server, caddr, saddr),
                                               (server, client, saddr, caddr)):
                for data, _addr in sender.datagrams_to_send(now=now):
                    frames.append(udp(src, dst, data))
                    receiver.receive_datagram(data, src, now=now)
                    moved = True
                now += 0.001
            while (ev := server.next_event()) is not None:
                if shttp is None:
                    shttp = H3Connection(server)
                for h3ev in shttp.handle_event(ev):
                    if isinstance(h3ev, HeadersReceived):
                        sid = h3ev.stream_id
                        shttp.send_headers(sid, [(b":status", b"200"),
                                                 (b"content-type", b"application/json")])
                        shttp.send_data(sid, b'{"ok":true}', end_stream=True)
            while client.next_event() is not None:
                pass
            if not moved:
                return

    pump()
    chttp = H3Connection(client)
    sid = client.get_next_available_stream_id()
    mutate(client, chttp, sid)
    chttp.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                             (b":authority", b"malformed.example"), (b":path", b"/api/items")],
                       end_stream=True)
    pump()
    ts = 1_700_000_000_000_000
    body = pcapng_header() + dsb(secrets.getvalue().encode())
    return body + b"".join(epb(f, ts + i * 100) for i, f in enumerate(frames))


def _grease_flood(client: Any, h3: Any, sid: int) -> None:
    """RFC 9114 §7.2.8 reserved frame types 0x1f*N+0x21, empty, 40k of them on the request
    stream, and reserved unidirectional streams (§6.2.3)."""
    frames = b"".join(bytes((0x21, 0)) for _ in range(40_000))
    client.send_stream_data(sid, frames, end_stream=False)
    for _ in range(20):
        uni = client.get_next_available_stream_id(is_unidirectional=True)
        client.send_stream_data(uni, bytes((0x21,)) + b"grease", end_stream=True)


def _qpack_abuse(client: Any, h3: Any, sid: int) -> None:
    """QPACK encoder stream (RFC 9204 §4.3) abuse: a capacity far above what the peer allowed,
    then thousands of inserts that would not fit anyway."""
    encoder_stream = h3._local_encoder_stream_id
    set_capacity = bytes((0x3F,)) + bytes((0xFF,) * 4) + b"\x0f"  # 5-bit prefix int ≈ 2^32
    inserts = b"".join(bytes((0x40 | 0x3F, 0x00)) + bytes((0x7F, 0x81, 0x01)) + b"v" * 256
                       for _ in range(600))
    client.send_stream_data(encoder_stream, set_capacity + inserts, end_stream=False)
    client.send_stream_data(sid, b"\x01\x04\xff\xff\xff\xff", end_stream=False)  # bad block


# --- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    exit: int
    describe: str
    source: str
    make: Callable[[Path, random.Random], None]
    exchanges: bool = True
    """Whether the exchange count is part of the expectation."""
    synthesized: bool = False
    """Made by a live QUIC handshake (aioquic in memory): its TLS keys and connection ids are
    random, so it is made again only with ``--resynthesize``; the expectations hold for any."""


CASES: list[Case] = []


def case(name: str, exit: int, describe: str, source: str, *, exchanges: bool = True,
         synthesized: bool = False
         ) -> Callable[[Callable[[Path, random.Random], None]], Callable[..., None]]:
    def register(fn: Callable[[Path, random.Random], None]) -> Callable[..., None]:
        CASES.append(Case(name, exit, describe, source, fn, exchanges, synthesized))
        return fn
    return register


def alpha(name: str) -> bytes:
    return (ALPHA / name).read_bytes()


CHROMIUM_HAR = "chromium-h2/capture.har"
H1_PCAP = "httpx-h1/capture.pcapng"
H1_KEYS = "httpx-h1/sslkeys.log"
H2_PCAP = "chromium-h2/capture.pcapng"
H2_KEYS = "chromium-h2/sslkeys.log"
H3_DSB = "aioquic-h3/capture-dsb.pcapng"


for pct in (0, 33, 66, 100):
    def _cut(out: Path, rng: random.Random, pct: int = pct) -> None:
        data = alpha(CHROMIUM_HAR)
        at = 20 if pct == 0 else len(data) * pct // 100 - (1 if pct == 100 else 0)
        (out / "input.har").write_bytes(data[:at])
    case(f"har-cut-{pct:03d}pct", 2, f"the alpha Chromium HAR cut at {pct}% (100%: the last "
         "byte missing)", f"alpha/{CHROMIUM_HAR}")(_cut)


@case("har-cut-in-gzip", 2, "the alpha Chromium HAR gzipped, the gzip stream cut at 60%",
      f"alpha/{CHROMIUM_HAR}")
def _gzip_cut(out: Path, rng: random.Random) -> None:
    data = gz(alpha(CHROMIUM_HAR))
    (out / "input.har.gz").write_bytes(data[: len(data) * 6 // 10])


@case("har-byteflip-strings", 0, "200 bytes flipped inside JSON string values (the JSON "
      "stays valid): URLs, header values, base64 bodies", f"alpha/{CHROMIUM_HAR}")
def _flip_strings(out: Path, rng: random.Random) -> None:
    data = bytearray(alpha(CHROMIUM_HAR))
    letters = [i for i, b in enumerate(data) if 0x61 <= b <= 0x7A]
    for pos in rng.sample(letters, 200):
        data[pos] = rng.randrange(0x61, 0x7B)
    (out / "input.har").write_bytes(bytes(data))


@case("har-byteflip-anywhere", 2, "24 random bit flips anywhere in the HAR",
      f"alpha/{CHROMIUM_HAR}")
def _flip_any(out: Path, rng: random.Random) -> None:
    (out / "input.har").write_bytes(flip_bytes(alpha(CHROMIUM_HAR), 24, rng))


@case("har-bom-trailing-garbage", 0, "UTF-8 BOM, the HAR, then garbage after its JSON",
      f"alpha/{CHROMIUM_HAR}")
def _trailing(out: Path, rng: random.Random) -> None:
    data = b"\xef\xbb\xbf" + alpha(CHROMIUM_HAR) + b"}}]] garbage \x00\xff" * 4
    (out / "input.har").write_bytes(data)


@case("har-utf16", 0, "the HAR re-encoded as UTF-16-LE with a BOM (PowerShell's Out-File)",
      "mitmproxy__event_stream.har (MIT)")
def _utf16(out: Path, rng: random.Random) -> None:
    text = (PCAPS.parent / "har" / "mitmproxy__event_stream.har").read_text("utf-8")
    (out / "input.har").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))


@case("har-int-overflow", 2, "an integer beyond 64 bits in a timing", "generated")
def _int_overflow(out: Path, rng: random.Random) -> None:
    entry = har_entry()
    text = dumps(har_doc([entry])).replace(b'"wait":10', b'"wait":' + b"9" * 40)
    (out / "input.har").write_bytes(text)


@case("har-decompression-bombs", 0, "nested bombs: gzip(zstd(br(gzip(256 MiB of zeros)))) "
      "in 193 bytes, br/zstd/gzip bombs, a 12-layer coding stack, repeated 30 times",
      "generated")
def _bombs(out: Path, rng: random.Random) -> None:
    zeros = b"\0" * (256 << 20)
    inner = gz(zeros)
    nested = gz(zstandard.ZstdCompressor(level=19).compress(brotli.compress(inner, quality=11)))
    br_bomb = brotli.compress(zeros, quality=11)
    zstd_bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))
    layers = b"x"
    for _ in range(12):
        layers = gz(layers)
    entries = []
    for i in range(30):
        for body, coding in ((nested, "gzip, br, zstd, gzip"), (br_bomb, "br"),
                             (zstd_bomb, "zstd"), (layers, ", ".join(["gzip"] * 12))):
            entries.append(har_entry(f"https://app.example/bomb/{i}", mime="text/plain",
                                     text=base64.b64encode(body).decode(), encoding="base64",
                                     headers=[{"name": "content-encoding", "value": coding}]))
    (out / "input.har").write_bytes(dumps(har_doc(entries)))


@case("har-header-flood", 0, "one entry with 200k request and 200k response headers, a 16 MiB "
      "header value and a 4 MiB URL (gzipped)", "generated")
def _headers(out: Path, rng: random.Random) -> None:
    many = [{"name": f"x-h{i % 50}", "value": "v"} for i in range(200_000)]
    huge = [{"name": "x-huge", "value": "a" * (16 << 20)}]
    entry = har_entry("https://app.example/" + "p" * (4 << 20), request_headers=many + huge,
                      headers=many + huge)
    (out / "input.har.gz").write_bytes(gz(dumps(har_doc([entry, har_entry()]))))


@case("har-deep-json", 0, "JSON nested 100k levels: a response body, a request body, an "
      "entry member, and the header of a JWT-shaped path segment (6k levels)", "generated")
def _deep(out: Path, rng: random.Random) -> None:
    body = deep("[", "]", 100_000)
    post = deep('{"a":', "}", 100_000)
    jwt_head = base64.urlsafe_b64encode(('{"alg":' + deep("[", "]", 3000) + "}").encode())
    jwt = jwt_head.decode().rstrip("=") + ".e30.sig"
    entry = har_entry(f"https://app.example/t/{jwt}", text=body)
    entry["request"]["method"] = "POST"
    entry["request"]["postData"] = {"mimeType": "application/json", "text": post}
    entry["_nested"] = json.loads(deep("[", "]", 900))  # json.loads itself stops near 1000
    raw = dumps(har_doc([entry, har_entry(text='{"ok":true}')]))
    raw = raw.replace(b'"_nested":', b'"_deeper":' + deep("[", "]", 100_000).encode()
                      + b',"_nested":')
    (out / "input.har.gz").write_bytes(gz(raw))


@case("har-huge-json-body", 0, "a 57 MiB JSON body of 20M empty objects in one entry (the "
      "file is 57 KB gzipped): the body cap's share of the memory cap", "generated")
def _huge_body(out: Path, rng: random.Random) -> None:
    body = "[" + ",".join(["{}"] * 20_000_000) + "]"
    entry = har_entry(text=body)
    (out / "input.har.gz").write_bytes(gz(dumps(har_doc([entry, har_entry(text="[]")]))))


MANY_ENTRIES = 200_000


@case("har-many-entries", 0, f"{MANY_ENTRIES} minimal entries (gzipped): memory follows the "
      "rows, not the file", "generated")
def _many(out: Path, rng: random.Random) -> None:
    entry = dumps({"startedDateTime": "2024-05-01T10:00:00.000Z", "time": 1,
                   "request": {"method": "GET", "url": "https://a.example/i", "headers": []},
                   "response": {"status": 204, "httpVersion": "h2", "headers": [],
                                "content": {"size": 0}},
                   "timings": {"send": 0, "wait": 1, "receive": 0}})
    raw = (b'{"log":{"version":"1.2","creator":{"name":"gen","version":"1"},"entries":['
           + b",".join([entry] * MANY_ENTRIES) + b"]}}")
    (out / "input.har.gz").write_bytes(gz(raw))


@case("har-entries-not-objects", 0, "100k log.entries items that are not objects",
      "generated")
def _not_objects(out: Path, rng: random.Random) -> None:
    items = b",".join([b"1", b'"x"', b"null", b"[]", b"true"] * 20_000)
    raw = b'{"log":{"version":"1.2","entries":[' + items + b"," + dumps(har_entry()) + b"]}}"
    (out / "input.har.gz").write_bytes(gz(raw))


@case("har-stream-floods", 0, "an SSE body of 150k events, an NDJSON body of 150k lines and "
      "150k _webSocketMessages (gzipped)", "generated")
def _floods(out: Path, rng: random.Random) -> None:
    sse = "".join(f"data: {{\"i\":{i % 10}}}\n\n" for i in range(150_000))
    ndjson = "".join('{"t":1}\n' for _ in range(150_000))
    ws = [{"type": "receive" if i % 2 else "send", "time": 1714557600.0 + i % 10,
           "opcode": 1, "data": "m"} for i in range(150_000)]
    entries = [har_entry("https://app.example/sse", text=sse, mime="text/event-stream"),
               har_entry("https://app.example/nd", text=ndjson, mime="application/x-ndjson"),
               har_entry("wss://app.example/ws", status=101, extra={"_webSocketMessages": ws})]
    (out / "input.har.gz").write_bytes(gz(dumps(har_doc(entries))))


# --- pcap cases -----------------------------------------------------------------------------


@case("pcapng-cut-header", 2, "the first 10 bytes of a pcapng", f"alpha/{H1_PCAP}")
def _cut_header(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(alpha(H1_PCAP)[:10])


for pct in (50, 99):
    def _cut_pcap(out: Path, rng: random.Random, pct: int = pct) -> None:
        data = alpha(H1_PCAP)
        (out / "input.pcapng").write_bytes(data[: len(data) * pct // 100])
        (out / "keys.log").write_bytes(alpha(H1_KEYS))
    case(f"pcapng-cut-{pct}pct", 0, f"the alpha httpx HTTP/1.1 pcapng cut at {pct}% (inside a "
         "block); the packets before the cut are read", f"alpha/{H1_PCAP}")(_cut_pcap)


@case("pcapng-byteflips", 0, "400 random bit flips after the file header of a keyed h2 pcapng",
      f"alpha/{H2_PCAP}")
def _pcap_flips(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(flip_bytes(alpha(H2_PCAP), 400, rng, start=200))
    (out / "keys.log").write_bytes(alpha(H2_KEYS))


@case("pcapng-garbage-between-blocks", 0, "1-200 random bytes between every fourth pair of "
      "blocks; the reader resyncs and loses nothing", f"alpha/{H1_PCAP}")
def _garbage_blocks(out: Path, rng: random.Random) -> None:
    blocks = list(pcapng_blocks(alpha(H1_PCAP)))
    parts = []
    for i, b in enumerate(blocks):
        parts.append(b)
        if i >= 2 and i % 4 == 0:
            parts.append(rng.randbytes(rng.randrange(1, 200)))
    (out / "input.pcapng").write_bytes(b"".join(parts))
    (out / "keys.log").write_bytes(alpha(H1_KEYS))


@case("pcap-garbage-between-records", 0, "random bytes between classic pcap records",
      "sv__http2-range.pcap (suricata-verify, MIT)")
def _garbage_records(out: Path, rng: random.Random) -> None:
    data = (PCAPS / "sv__http2-range.pcap").read_bytes()
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    parts, pos = [data[:24]], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(order + "I", data, pos + 8)[0]
        parts.append(data[pos : pos + 16 + caplen])
        pos += 16 + caplen
        if rng.random() < 0.2:
            parts.append(b"\xff\xff" + rng.randbytes(rng.randrange(1, 64)))
    (out / "input.pcap").write_bytes(b"".join(parts))


@case("keys-wrong", 0, "a keyed HTTP/1.1 pcapng with another capture's key log: nothing "
      "decrypts, every session says why", f"alpha/{H1_PCAP} + alpha/{H2_KEYS}")
def _wrong_keys(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(alpha(H1_PCAP))
    (out / "keys.log").write_bytes(alpha(H2_KEYS))


@case("keys-garbage-binary", 2, "--keylog of random bytes", f"alpha/{H1_PCAP}")
def _garbage_keys(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(alpha(H1_PCAP)[:4096])
    (out / "keys.log").write_bytes(rng.randbytes(4096))


@case("keys-garbage-lines", 0, "the right key log with lines cut short, hex flipped to "
      "non-hex, fields dropped and junk lines between", f"alpha/{H1_PCAP}")
def _garbage_lines(out: Path, rng: random.Random) -> None:
    lines = alpha(H1_KEYS).splitlines()
    bad = []
    for i, line in enumerate(lines):
        kind = i % 4
        if kind == 0:
            bad.append(line[: len(line) // 2])
        elif kind == 1:
            bad.append(line.replace(b"a", b"z"))
        elif kind == 2:
            bad.append(b" ".join(line.split()[:2]))
        else:
            bad.append(line)
        bad.append(b"CLIENT_RANDOM nothex " + rng.randbytes(8).hex().encode())
    (out / "input.pcapng").write_bytes(alpha(H1_PCAP))
    (out / "keys.log").write_bytes(b"\n".join(bad) + b"\n")


@case("tcp-overlap-conflict", 0, "HTTP/1.1 sent in overlapping, duplicated and reordered TCP "
      "segments whose overlaps disagree; the first copy of each byte wins", "generated")
def _overlap(out: Path, rng: random.Random) -> None:
    conn = TcpConn(40000)
    req = (b"GET /a HTTP/1.1\r\nHost: app.example\r\n\r\n"
           b"GET /b HTTP/1.1\r\nHost: app.example\r\n\r\n")
    resp = b"".join(b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n" + bytes([65 + i]) * 600
                    for i in range(2))
    conn.send(True, req)
    base = conn.sseq
    pieces = []
    for start in range(0, len(resp), 100):
        pieces.append((start, resp[start : start + 160]))  # each overlaps the next by 60
    rng.shuffle(pieces)
    for start, piece in pieces:
        conn.frames.append(tcp(conn.s, conn.c, base + start, conn.cseq, PSH | ACK, piece))
        evil = bytes(b ^ 0x20 for b in piece)  # the same range again, other bytes
        conn.frames.append(tcp(conn.s, conn.c, base + start, conn.cseq, PSH | ACK, evil))
    conn.sseq = base + len(resp)
    conn.close()
    (out / "input.pcap").write_bytes(classic_pcap(conn.frames))


@case("http1-header-flood", 0, "cleartext HTTP/1.1: a request with 5000 header lines, one "
      "with a 100 KB header line, and a chunked response with a 10 KB chunk-size line",
      "generated")
def _h1_headers(out: Path, rng: random.Random) -> None:
    frames: list[bytes] = []
    conn = TcpConn(40001)
    conn.send(True, b"GET /many HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n")
    conn.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    conn.close()
    frames += conn.frames
    conn = TcpConn(40002)
    conn.send(True, b"GET /long HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 100_000 + b"\r\n\r\n")
    conn.close()
    frames += conn.frames
    conn = TcpConn(40003)
    conn.send(True, b"GET /chunk HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.send(False, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"
              + b"x" * 10_000 + b"\r\nhello\r\n0\r\n\r\n")
    conn.close()
    frames += conn.frames
    (out / "input.pcap").write_bytes(classic_pcap(frames))


def h2_frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + stream.to_bytes(4, "big") \
        + payload


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "app.example"),
           (":path", "/")]


@case("h2c-hpack-abuse", 0, "four prior-knowledge h2c connections: an HPACK table size update "
      "beyond the acknowledged setting, a CONTINUATION flood (2000 frames), an HPACK bomb "
      "(one 4 KiB entry referenced 10k times) and a SETTINGS_HEADER_TABLE_SIZE of 2^32-1",
      "generated")
def _h2(out: Path, rng: random.Random) -> None:
    frames: list[bytes] = []
    settings = h2_frame(4, 0, 0, b"")
    ack = h2_frame(4, 1, 0, b"")
    ok = Encoder().encode([(":status", "200")])

    def conn(port: int, client: bytes, server: bytes = b"") -> None:
        c = TcpConn(port)
        c.send(True, PREFACE + settings + client)
        c.send(False, settings + ack + server)
        c.close()
        frames.extend(c.frames)

    # 1. Table size update (RFC 7541 §6.3, 0x3f + int) to 1 MiB when 4096 was acknowledged.
    update = b"\x3f\xe1\xff\x3f"
    conn(41001, h2_frame(1, 0x5, 1, update + Encoder().encode(REQUEST)),
         h2_frame(1, 0x5, 1, ok))
    # 2. CONTINUATION flood (CVE-2024-27316 shape): HEADERS without END_HEADERS, 2000 more.
    block = Encoder().encode(REQUEST)
    flood = h2_frame(1, 0x1, 3, block[:4]) + b"".join(
        h2_frame(9, 0, 3, b"\x40\x01a\x01b") for _ in range(2000))
    conn(41002, flood)
    # 3. HPACK bomb: insert a 4 KiB value once, then reference it 10k times (1 byte each).
    enc = Encoder()
    first = enc.encode([*REQUEST, ("x-bomb", "b" * 4000)])
    refs = bytes((0x80 | 62,)) * 10_000  # static table has 61 entries: 62 is our insert
    conn(41003, h2_frame(1, 0x5, 1, first) + h2_frame(1, 0x5, 3, enc.encode(REQUEST) + refs))
    # 4. SETTINGS_HEADER_TABLE_SIZE 2^32-1 from the server, acknowledged, then a huge update.
    big = h2_frame(4, 0, 0, struct.pack("!HI", 1, 0xFFFFFFFF))
    c = TcpConn(41004)
    c.send(True, PREFACE + settings)
    c.send(False, big + ack)
    c.send(True, ack + h2_frame(1, 0x5, 1, b"\x3f\xe1\xff\xff\xff\x0f" + block))
    c.close()
    frames.extend(c.frames)
    (out / "input.pcap").write_bytes(classic_pcap(frames))


@case("quic-long-header-mutations", 0, "the keyed aioquic HTTP/3 capture with its long headers "
      "damaged: lengths, CID lengths over 20, versions, cut packets", f"alpha/{H3_DSB}")
def _quic(out: Path, rng: random.Random) -> None:
    data = alpha(H3_DSB)
    parts = []
    for i, b in enumerate(pcapng_blocks(data)):
        btype = struct.unpack_from("<I", b)[0]
        if btype != 6 or i % 3:
            parts.append(b)
            continue
        caplen = struct.unpack_from("<I", b, 20)[0]
        packet = bytearray(b[28 : 28 + caplen])
        udp_at = 14 + (packet[14] & 0x0F) * 4 + 8 if packet[12:14] == b"\x08\x00" else 14 + 48
        if udp_at < len(packet) and packet[udp_at] & 0x80:
            what = i % 4
            if what == 0:
                packet[udp_at + 5] = 21 + rng.randrange(200)  # DCID length over 20
            elif what == 1:
                packet[udp_at + 1 : udp_at + 5] = rng.randbytes(4)  # unknown version
            elif what == 2:
                del packet[udp_at + 30 :]  # cut inside the packet
            else:
                for _ in range(8):
                    packet[rng.randrange(udp_at, len(packet))] ^= 0xFF
        ts_hi, ts_lo = struct.unpack_from("<II", b, 12)
        parts.append(epb(bytes(packet), (ts_hi << 32) | ts_lo))
    (out / "input.pcapng").write_bytes(b"".join(parts))


@case("h3-grease-flood", 0, "a keyed HTTP/3 exchange (aioquic in memory) whose request stream "
      "carries 40k reserved GREASE frames before HEADERS, plus 20 reserved uni streams",
      "generated", synthesized=True)
def _grease(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(_h3_capture(_grease_flood))


@case("h3-qpack-abuse", 0, "a keyed HTTP/3 exchange whose QPACK encoder stream sets a capacity "
      "near 2^32 and inserts 600 entries, and whose request stream holds a bad header block",
      "generated", synthesized=True)
def _qpack(out: Path, rng: random.Random) -> None:
    (out / "input.pcapng").write_bytes(_h3_capture(_qpack_abuse))


# --- driver ---------------------------------------------------------------------------------


def run_case(folder: Path) -> dict[str, Any]:
    """Run the CLI on a case the way tests/test_malformed.py does; what it saw."""
    inputs = sorted(folder.glob("input.*"))
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "archcmp", "analyze", str(inputs[0]), "--json",
                   "--store", str(Path(tmp) / "a.db")]
        if (folder / "keys.log").is_file():
            command += ["--keylog", str(folder / "keys.log")]
        env = dict(os.environ, TZ="UTC", NO_COLOR="1")
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        stdout, stderr = proc.communicate()  # wait4 is in the test; here RSS is informative
    document = json.loads(stdout) if proc.returncode == 0 else None
    return {"exit": proc.returncode, "stderr": stderr.decode("utf-8", "replace"),
            "document": document}


def record(folder: Path, spec: Case) -> None:
    seen = run_case(folder)
    if seen["exit"] != spec.exit:
        sys.exit(f"{spec.name}: exit {seen['exit']}, intent {spec.exit}\n{seen['stderr']}")
    expected: dict[str, Any] = {"description": spec.describe, "source": spec.source,
                                "exit": spec.exit}
    document = seen["document"]
    if document is not None:
        warnings = {w["code"]: w["count"] for w in document["capture"]["warnings"]}
        expected["warnings"] = dict(sorted(warnings.items()))
        count = len(document["exchanges"])
        expected["exchanges"] = count if spec.exchanges else None
    else:
        line = seen["stderr"].strip().splitlines()[-1]
        expected["warnings"] = {}
        expected["stderr"] = line.split(": ")[-1][:60]
        count = 0
    expected["max_rss_mib"] = MAX_PEAK_RSS_MIB + (count * PEAK_RSS_KIB_PER_EXCHANGE) // 1024
    (folder / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False)
                                          + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="also write expected.json")
    parser.add_argument("--resynthesize", action="store_true",
                        help="make the aioquic-synthesized cases again (new random bytes)")
    parser.add_argument("names", nargs="*", help="only these cases")
    args = parser.parse_args()
    if not ALPHA.is_dir():
        sys.exit(f"alpha captures not found under {SHARED}; set ARCHCMP_SHARED")
    total = 0
    for spec in CASES:
        if args.names and spec.name not in args.names:
            continue
        folder = HERE / spec.name
        if spec.synthesized and any(folder.glob("input.*")) and not args.resynthesize:
            sys.stdout.write(f"{spec.name:34} kept (synthesized; --resynthesize)\n")
            if args.record:
                record(folder, spec)
            continue
        for old in folder.glob("input.*"):
            old.unlink()
        (folder / "keys.log").unlink(missing_ok=True)
        folder.mkdir(exist_ok=True)
        spec.make(folder, random.Random(f"{SEED}:{spec.name}"))
        sizes = sum(p.stat().st_size for p in folder.iterdir() if p.name != "expected.json")
        if sizes > MAX_INPUT:
            sys.exit(f"{spec.name}: {sizes} bytes of input, over {MAX_INPUT}")
        total += sizes
        if args.record:
            record(folder, spec)
        sys.stdout.write(f"{spec.name:34} {sizes:>8} bytes\n")
    known = {spec.name for spec in CASES}
    for stale in HERE.iterdir():
        if stale.is_dir() and stale.name not in known and not stale.name.startswith("__"):
            shutil.rmtree(stale)
    sys.stdout.write(f"{'total':34} {total:>8} bytes\n")


if __name__ == "__main__":
    main()
