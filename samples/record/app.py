"""A tiny chat-like web app that exists only to be recorded as an archcmp sample.

Why this exists: archcmp needs a capture whose ground truth is known exactly.  Recording
a real third-party chat app would mean shipping someone else's traffic (and faking or
leaking vendor infrastructure), so instead this app does what a modern chat front end
does — an HTML shell, a content-hashed JS bundle, a JSON API, a Server-Sent Events
completion stream and an NDJSON stream — over TLS + HTTP/2 on 127.0.0.1, and nothing
else.  Every header it sends is one it really sets (plus hypercorn's own ``date`` and
``server``); there is no CDN, no vendor header, nothing made up.

While it serves, it logs every request it answered (method, route template, status,
content-encoding, streamed event types, server-side timings).  ``record.py`` writes
that log next to the HAR as the *truth* file that tests compare archcmp's analysis to.

The secrets it plants are FAKE by construction (they contain the word ``FAKE``) so a
test can check that archcmp redacts them.

Run it on its own to poke at it in a browser (the certificate is self-signed)::

    python samples/record/app.py --port 8443
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import hashlib
import ipaddress
import json
import re
import secrets
import socket
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final, cast

import brotli
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework

# --------------------------------------------------------------------------- fake secrets

#: Session cookie the app sets on ``/`` and requires on every API call.  FAKE.
SESSION_COOKIE_NAME: Final = "session_id"
SESSION_COOKIE_VALUE: Final = "sess-FAKE-4f1c2a9be07d4c33a1d5"
#: Bearer token the page's JS sends as ``Authorization: Bearer …`` on API calls.  FAKE.
BEARER_TOKEN: Final = "FAKE-bearer-archcmp-sample-9c0e51d2b7a84f6e"

# --------------------------------------------------------------------------- ASGI typing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[..., Awaitable[None]]

# Responses smaller than this go out uncompressed, as nginx/hypercorn-style servers do.
MIN_COMPRESS_BYTES: Final = 200

# Server-side pacing of the streams, so TTFB and total time really differ.
STREAM_THINK_S: Final = 0.15
STREAM_EVENT_GAP_S: Final = 0.06

UUID_RE: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# --------------------------------------------------------------------------- UUIDv7


class UUID7Generator:
    """RFC 9562 UUID version 7: 48-bit Unix ms timestamp, then random bits.

    ``rand_a`` (12 bits) is used as a counter seeded at random each millisecond
    (RFC 9562 §6.2 method 1), so ids generated in the same millisecond stay ordered.
    Python 3.11 has no ``uuid.uuid7``, hence this.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = secrets.randbits(11)  # leave headroom to count up
            else:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    self._last_ms += 1
                    ms = self._last_ms
                    self._counter = secrets.randbits(11)
            rand_a = self._counter
        rand_b = secrets.randbits(62)
        value = (ms & 0xFFFF_FFFF_FFFF) << 80
        value |= 0x7 << 76
        value |= rand_a << 64
        value |= 0b10 << 62
        value |= rand_b
        return uuid.UUID(int=value)


uuid7 = UUID7Generator()


# --------------------------------------------------------------------------- TLS


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a fresh P-256 key and a one-day self-signed cert for 127.0.0.1/localhost.

    Both live only in ``directory`` (a temp dir); nothing here is ever committed.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "archcmp sample app (localhost)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --------------------------------------------------------------------------- static assets

APP_JS: Final = """\
"use strict";
// archcmp sample chat client: drives the whole flow itself so the browser records it.
(async () => {
  const token = document.querySelector('meta[name="api-token"]').content;
  const status = document.getElementById("status");
  const out = document.getElementById("transcript");
  const api = (path, init = {}) =>
    fetch(path, {
      ...init,
      headers: { Accept: "application/json", Authorization: `Bearer ${token}`, ...init.headers },
    });
  const json = { "Content-Type": "application/json" };

  // Read a streamed body chunk by chunk, handing each complete record to onRecord.
  async function readStream(res, separator, onRecord) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf(separator)) >= 0) {
        const record = buf.slice(0, i);
        buf = buf.slice(i + separator.length);
        if (record) onRecord(record);
      }
    }
    if (buf.trim()) onRecord(buf);
  }

  try {
    const me = await (await api("/api/me")).json();
    const list = await (await api("/api/conversations")).json();
    const created = await api("/api/conversations", {
      method: "POST", headers: json, body: JSON.stringify({ title: "Hello from the sample" }),
    });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    const { id } = await created.json();

    // Server-Sent Events over a POST: EventSource cannot POST, so fetch + ReadableStream.
    const sse = await api(`/api/conversations/${id}/completion`, {
      method: "POST",
      headers: { ...json, Accept: "text/event-stream" },
      body: JSON.stringify({ prompt: "Say hello in a few words." }),
    });
    const sseTypes = [];
    let text = "";
    await readStream(sse, "\\n\\n", (block) => {
      let type = "message", data = "";
      for (const line of block.split("\\n")) {
        if (line.startsWith(":")) continue;            // comment, e.g. ": keepalive"
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (!data) return;
      sseTypes.push(type);
      const payload = JSON.parse(data);
      if (type === "content_block_delta") {
        text += payload.delta.text;
        out.textContent = text;
      }
    });

    const ndTypes = [];
    const nd = await api(`/api/conversations/${id}/stream-ndjson`, {
      method: "POST", headers: { ...json, Accept: "application/x-ndjson" },
      body: JSON.stringify({ what: "title" }),
    });
    await readStream(nd, "\\n", (line) => ndTypes.push(JSON.parse(line).type));

    const convo = await (await api(`/api/conversations/${id}`)).json();
    const del = await api(`/api/conversations/${id}`, { method: "DELETE" });
    await del.text();
    const gone = await api(`/api/conversations/${id}`);
    const goneBody = await gone.json();

    const done = document.createElement("div");
    done.id = "done";
    done.dataset.status =
      del.status === 204 && gone.status === 404 && sseTypes.at(-1) === "message_stop"
        ? "ok" : "unexpected";
    done.dataset.user = me.id;
    done.dataset.conversations = String(list.conversations.length);
    done.dataset.messages = String(convo.messages.length);
    done.dataset.sse = sseTypes.join(",");
    done.dataset.ndjson = ndTypes.join(",");
    done.dataset.afterDelete = `${gone.status} ${goneBody.error}`;
    document.body.append(done);
    status.textContent = "done";
  } catch (err) {
    const done = document.createElement("div");
    done.id = "done";
    done.dataset.status = "error";
    done.textContent = String(err);
    document.body.append(done);
    status.textContent = "error";
  }
})();
"""

APP_JS_BYTES: Final = APP_JS.encode()
APP_JS_PATH: Final = f"/static/app.{hashlib.sha256(APP_JS_BYTES).hexdigest()[:10]}.js"

INDEX_HTML: Final = f"""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="api-token" content="{BEARER_TOKEN}">
<link rel="icon" href="data:,">
<title>archcmp sample chat</title>
<style>
  body {{ font: 16px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; }}
  #transcript {{ white-space: pre-wrap; border: 1px solid #ccc; padding: 1rem; min-height: 3rem; }}
</style>
</head>
<body>
<h1>Sample chat</h1>
<p id="status">loading…</p>
<div id="transcript"></div>
<script src="{APP_JS_PATH}" defer></script>
</body>
</html>
"""


# --------------------------------------------------------------------------- encodings


def parse_accept_encoding(header: str) -> set[str]:
    """Codings the client accepts with q > 0 (``identity`` is always acceptable)."""
    accepted: set[str] = set()
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if q > 0:
            accepted.add(coding)
    return accepted


def choose_encoding(accept: str, preferred: str | None) -> str | None:
    """The route's preferred coding if accepted, else the best other one the client takes."""
    accepted = parse_accept_encoding(accept)
    if preferred is None:
        return None
    for coding in (preferred, "br", "zstd", "gzip"):
        if coding in accepted or "*" in accepted:
            return coding
    return None


def compress_whole(body: bytes, coding: str | None) -> bytes:
    if coding is None:
        return body
    if coding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if coding == "br":
        return bytes(brotli.compress(body, mode=brotli.MODE_TEXT, quality=9))
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(body)
    raise ValueError(coding)


class StreamCompressor:
    """Incremental compressor whose every ``chunk`` is decodable on its own arrival.

    Each event is flushed (brotli ``flush``, zstd ``FLUSH_BLOCK``, zlib ``Z_SYNC_FLUSH``)
    so the browser can decode and show it before the next one is produced.
    """

    def __init__(self, coding: str | None) -> None:
        self.coding = coding
        self._br: Any = None
        self._zstd: Any = None
        self._gzip: Any = None
        if coding == "br":
            self._br = brotli.Compressor(mode=brotli.MODE_TEXT, quality=5)
        elif coding == "zstd":
            self._zstd = zstandard.ZstdCompressor(level=3).compressobj()
        elif coding == "gzip":
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif coding is not None:
            raise ValueError(coding)

    def chunk(self, data: bytes) -> bytes:
        if self._br is not None:
            return bytes(self._br.process(data)) + bytes(self._br.flush())
        if self._zstd is not None:
            return bytes(self._zstd.compress(data)) + bytes(
                self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            )
        if self._gzip is not None:
            return bytes(self._gzip.compress(data) + self._gzip.flush(zlib.Z_SYNC_FLUSH))
        return data

    def finish(self) -> bytes:
        if self._br is not None:
            return bytes(self._br.finish())
        if self._zstd is not None:
            return bytes(self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        if self._gzip is not None:
            return bytes(self._gzip.flush(zlib.Z_FINISH))
        return b""


# --------------------------------------------------------------------------- request log


@dataclass
class RequestRecord:
    """One request the app answered, as the app itself saw it (the ground truth).

    Field names follow the shared lab truth files (``served[]`` there) where they overlap,
    so the same comparison code can read both.  Times are Unix epoch seconds.
    """

    seq: int
    method: str
    path: str
    query: str
    template: str
    kind: str
    http_version: str
    scheme: str
    client: list[Any]
    request_header_names: list[str]
    request_content_type: str | None
    request_body_bytes: int
    request_had_session_cookie: bool
    request_had_bearer: bool
    t_start: float
    status: int = 0
    content_type: str | None = None
    content_encoding: str | None = None
    set_cookie: list[str] = field(default_factory=list)
    streaming: bool = False
    stream_format: str | None = None
    stream_events: int = 0
    event_types: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    body_chunks: int = 0
    body_bytes_wire: int = 0
    body_bytes_decoded: int = 0
    t_response_start: float | None = None
    t_first_body: float | None = None
    t_end: float | None = None
    duration_ms: float | None = None
    outcome: str = "incomplete"


class Responder:
    """Sends an ASGI response and records what was sent into a RequestRecord."""

    def __init__(self, send: Send, record: RequestRecord, started: float) -> None:
        self._send = send
        self.record = record
        self._started = started  # perf_counter() at t_start

    def _now(self) -> float:
        return round(self.record.t_start + (time.perf_counter() - self._started), 6)

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.record.status = status
        self.record.t_response_start = self._now()
        for name, value in headers:
            lname = name.lower()
            if lname == "content-type":
                self.record.content_type = value
            elif lname == "content-encoding":
                self.record.content_encoding = value
            elif lname == "set-cookie":
                self.record.set_cookie.append(value.split("=", 1)[0])
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(n.lower().encode(), v.encode()) for n, v in headers],
            }
        )

    async def body(self, data: bytes, *, more: bool, decoded_len: int | None = None) -> None:
        """Send one body chunk; ``decoded_len`` is its size before content-coding."""
        rec = self.record
        if data:
            if rec.t_first_body is None:
                rec.t_first_body = self._now()
            rec.body_chunks += 1
        rec.body_bytes_wire += len(data)
        rec.body_bytes_decoded += len(data) if decoded_len is None else decoded_len
        if data or not more:
            await self._send({"type": "http.response.body", "body": data, "more_body": more})
        if not more:
            rec.t_end = self._now()
            rec.duration_ms = round((rec.t_end - rec.t_start) * 1000, 3)
            rec.outcome = "complete"

    async def whole(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        accept_encoding: str,
        *,
        prefer: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        small = len(body) < MIN_COMPRESS_BYTES
        coding = None if small else choose_encoding(accept_encoding, prefer)
        encoded = compress_whole(body, coding)
        headers: list[tuple[str, str]] = []
        if content_type is not None:
            headers.append(("content-type", content_type))
        if coding is not None:
            headers.append(("content-encoding", coding))
        if prefer is not None:
            headers.append(("vary", "accept-encoding"))
        headers.append(("content-length", str(len(encoded))))
        headers.extend(extra or [])
        await self.start(status, headers)
        await self.body(encoded, more=False, decoded_len=len(body))


# --------------------------------------------------------------------------- the app

JSON_TYPE: Final = "application/json"
API_HEADERS: Final = [("cache-control", "no-store")]

COMPLETION_TEXT: Final = [
    "Hello",
    "!",
    " This",
    " reply",
    " is",
    " streamed",
    " one",
    " event",
    " at",
    " a",
    " time",
    ".",
]


@dataclass
class Conversation:
    id: str
    title: str
    created_at: str
    messages: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created_at": self.created_at}


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse(event: str, **fields: Any) -> tuple[str, bytes]:
    """One SSE event whose ``data`` is JSON carrying the event name as ``type``."""
    data = json.dumps({"type": event, **fields}, separators=(",", ":"))
    return event, f"event: {event}\ndata: {data}\n\n".encode()


class ChatApp:
    """Minimal ASGI chat app (no framework) that keeps a log of what it answered."""

    def __init__(self) -> None:
        self.log: list[RequestRecord] = []
        self._seq = 0
        self.user_id = str(uuid7())
        self.conversations: dict[str, Conversation] = {}
        for title in ("Trip ideas for the weekend", "Draft of the quarterly update"):
            c = Conversation(id=str(uuid7()), title=title, created_at=_now_iso())
            c.messages = [
                {"role": "user", "content": f"Let's talk about: {title.lower()}."},
                {"role": "assistant", "content": "Sure, here is a first outline to work from."},
            ]
            self.conversations[c.id] = c
        conv = rf"/api/conversations/(?P<cid>{UUID_RE})"
        conv_t = "/api/conversations/{uuid}"
        # (method, path regex, path template, kind of resource, handler)
        self._routes: list[tuple[str, re.Pattern[str], str, str, Handler]] = [
            ("GET", re.compile(r"/"), "/", "document", self.index),
            (
                "GET",
                re.compile(re.escape(APP_JS_PATH)),
                "/static/app.{hash}.js",
                "script",
                self.bundle,
            ),
            ("GET", re.compile(r"/api/me"), "/api/me", "api", self.me),
            (
                "GET",
                re.compile(r"/api/conversations"),
                "/api/conversations",
                "api",
                self.list_convos,
            ),
            ("POST", re.compile(r"/api/conversations"), "/api/conversations", "api", self.create),
            ("GET", re.compile(conv), conv_t, "api", self.get_convo),
            ("DELETE", re.compile(conv), conv_t, "api", self.delete_convo),
            (
                "POST",
                re.compile(conv + "/completion"),
                conv_t + "/completion",
                "sse-fetch",
                self.completion,
            ),
            (
                "POST",
                re.compile(conv + "/stream-ndjson"),
                conv_t + "/stream-ndjson",
                "ndjson-fetch",
                self.stream_ndjson,
            ),
        ]

    # -- ASGI entry point

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        t_start = time.time_ns() / 1e9
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive)
        method: str = scope["method"]
        path: str = scope["path"]
        self._seq += 1
        record = RequestRecord(
            seq=self._seq,
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            template="(unmatched)",
            kind="not-found",
            http_version=scope.get("http_version", "?"),
            scheme=scope.get("scheme", "?"),
            client=list(scope.get("client") or []),
            request_header_names=sorted(headers),
            request_content_type=headers.get("content-type"),
            request_body_bytes=len(body),
            request_had_session_cookie=_cookie(headers.get("cookie", ""), SESSION_COOKIE_NAME)
            == SESSION_COOKIE_VALUE,
            request_had_bearer=headers.get("authorization") == f"Bearer {BEARER_TOKEN}",
            t_start=round(t_start, 6),
        )
        self.log.append(record)
        out = Responder(send, record, started)
        accept = headers.get("accept-encoding", "")

        path_matched = False
        for route_method, pattern, template, kind, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            path_matched = True
            record.template, record.kind = template, kind
            if route_method != method:
                continue
            if path.startswith("/api/") and not (
                record.request_had_session_cookie and record.request_had_bearer
            ):
                await out.whole(
                    401, _dumps({"error": "unauthorized"}), JSON_TYPE, accept, extra=API_HEADERS
                )
                return
            await handler(out, accept, body, **m.groupdict())
            return
        if path_matched:
            await out.whole(405, _dumps({"error": "method_not_allowed"}), JSON_TYPE, accept)
            return
        await out.whole(404, _dumps({"error": "not_found", "path": path}), JSON_TYPE, accept)

    # -- pages

    async def index(self, out: Responder, accept: str, body: bytes) -> None:
        cookie = (
            f"{SESSION_COOKIE_NAME}={SESSION_COOKIE_VALUE}; Path=/; Secure; HttpOnly; SameSite=Lax"
        )
        await out.whole(
            200,
            INDEX_HTML.encode(),
            "text/html; charset=utf-8",
            accept,
            prefer="gzip",
            extra=[
                ("cache-control", "no-cache"),
                ("set-cookie", cookie),
                (
                    "content-security-policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
                ),
                ("x-content-type-options", "nosniff"),
            ],
        )

    async def bundle(self, out: Responder, accept: str, body: bytes) -> None:
        await out.whole(
            200,
            APP_JS_BYTES,
            "text/javascript; charset=utf-8",
            accept,
            prefer="br",
            extra=[("cache-control", "public, max-age=31536000, immutable")],
        )

    # -- JSON API

    async def me(self, out: Responder, accept: str, body: bytes) -> None:
        me = {"id": self.user_id, "name": "Sample User", "plan": "free"}
        await out.whole(200, _dumps(me), JSON_TYPE, accept, prefer="br", extra=API_HEADERS)

    async def list_convos(self, out: Responder, accept: str, body: bytes) -> None:
        items = [c.summary() for c in self.conversations.values()]
        payload = {"conversations": items, "has_more": False}
        await out.whole(200, _dumps(payload), JSON_TYPE, accept, prefer="gzip", extra=API_HEADERS)

    async def create(self, out: Responder, accept: str, body: bytes) -> None:
        try:
            title = str(json.loads(body or b"{}").get("title") or "New chat")[:200]
        except (json.JSONDecodeError, AttributeError):
            await out.whole(400, _dumps({"error": "bad_json"}), JSON_TYPE, accept)
            return
        c = Conversation(id=str(uuid7()), title=title, created_at=_now_iso())
        self.conversations[c.id] = c
        await out.whole(
            201,
            _dumps(c.summary()),
            JSON_TYPE,
            accept,
            prefer="br",
            extra=[*API_HEADERS, ("location", f"/api/conversations/{c.id}")],
        )

    async def get_convo(self, out: Responder, accept: str, body: bytes, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await out.whole(
                404, _dumps({"error": "not_found"}), JSON_TYPE, accept, extra=API_HEADERS
            )
            return
        payload = {**c.summary(), "messages": c.messages}
        await out.whole(200, _dumps(payload), JSON_TYPE, accept, prefer="zstd", extra=API_HEADERS)

    async def delete_convo(self, out: Responder, accept: str, body: bytes, cid: str) -> None:
        if self.conversations.pop(cid, None) is None:
            await out.whole(
                404, _dumps({"error": "not_found"}), JSON_TYPE, accept, extra=API_HEADERS
            )
            return
        await out.start(204, API_HEADERS)
        await out.body(b"", more=False)

    # -- streams

    async def _stream(
        self,
        out: Responder,
        accept: str,
        content_type: str,
        prefer: str,
        stream_format: str,
        items: AsyncIterator[tuple[str, bytes]],
    ) -> None:
        # The app "thinks" before it opens the stream, so the response headers (HAR
        # ``wait``) arrive well after the request and the body trickles in after them.
        await asyncio.sleep(STREAM_THINK_S)
        coding = choose_encoding(accept, prefer)
        comp = StreamCompressor(coding)
        out.record.streaming = True
        out.record.stream_format = stream_format
        headers = [("content-type", content_type)]
        if coding is not None:
            headers.append(("content-encoding", coding))
        headers += [("vary", "accept-encoding"), ("cache-control", "no-cache")]
        await out.start(200, headers)
        async for kind, raw in items:
            if kind == "comment":
                out.record.comments.append(raw.decode().strip())
            else:
                out.record.event_types.append(kind)
                out.record.stream_events += 1
            await out.body(comp.chunk(raw), more=True, decoded_len=len(raw))
        await out.body(comp.finish(), more=False, decoded_len=0)

    async def completion(self, out: Responder, accept: str, body: bytes, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await out.whole(404, _dumps({"error": "not_found"}), JSON_TYPE, accept)
            return
        prompt = str(json.loads(body or b"{}").get("prompt", ""))
        c.messages.append({"role": "user", "content": prompt})
        message_id = f"msg_{uuid7().hex}"

        async def events() -> AsyncIterator[tuple[str, bytes]]:
            yield _sse("message_start", message={"id": message_id, "role": "assistant"})
            yield "comment", b": keepalive\n\n"
            yield _sse("content_block_start", index=0, content_block={"type": "text"})
            for n, piece in enumerate(COMPLETION_TEXT):
                await asyncio.sleep(STREAM_EVENT_GAP_S)
                yield _sse("content_block_delta", index=0, delta={"text": piece})
                if n == len(COMPLETION_TEXT) // 2:
                    await asyncio.sleep(STREAM_EVENT_GAP_S)
                    yield "comment", b": keepalive\n\n"
                    yield _sse("ping")
            yield _sse("content_block_stop", index=0)
            await asyncio.sleep(STREAM_EVENT_GAP_S)
            usage = {"output_tokens": len(COMPLETION_TEXT)}
            yield _sse("message_delta", delta={"stop_reason": "end_turn"}, usage=usage)
            yield _sse("message_stop")
            c.messages.append({"role": "assistant", "content": "".join(COMPLETION_TEXT)})

        await self._stream(out, accept, "text/event-stream; charset=utf-8", "br", "sse", events())

    async def stream_ndjson(self, out: Responder, accept: str, body: bytes, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await out.whole(404, _dumps({"error": "not_found"}), JSON_TYPE, accept)
            return
        words = c.title.split()

        async def lines() -> AsyncIterator[tuple[str, bytes]]:
            yield "start", _dumps({"type": "start", "conversation_id": c.id}) + b"\n"
            for i in range(1, len(words) + 1):
                await asyncio.sleep(STREAM_EVENT_GAP_S)
                yield "partial", _dumps({"type": "partial", "title": " ".join(words[:i])}) + b"\n"
            yield "done", _dumps({"type": "done", "title": c.title}) + b"\n"

        await self._stream(out, accept, "application/x-ndjson", "gzip", "ndjson", lines())

    # -- truth

    def served(self) -> list[dict[str, Any]]:
        """Every request answered so far, in arrival order."""
        return [asdict(r) for r in self.log]

    def facts(self) -> dict[str, Any]:
        """What this app is and does, derived from its own request log where it can be.

        Shaped like ``facts`` in the shared lab truth files.  No CDN, cloud, mesh or
        third-party vendor is claimed because none is there.
        """
        sse = [r for r in self.log if r.stream_format == "sse"]
        ndjson = [r for r in self.log if r.stream_format == "ndjson"]
        compression: dict[str, str | None] = {}
        for r in self.log:
            if r.body_bytes_wire:
                compression.setdefault(f"{r.method} {r.template} {r.status}", r.content_encoding)
        ids = sorted({m for r in self.log for m in re.findall(UUID_RE, r.path)})
        return {
            "app_like": None,
            "app": "archcmp sample chat app (samples/record/app.py)",
            "server": f"hypercorn {_version('hypercorn')} (ASGI), TLS 1.3 + ALPN h2",
            "cdn": None,
            "cloud": None,
            "service_mesh": None,
            "vendors": [],
            "tracing_headers": [],
            "id_formats": [{"format": "uuidv7", "examples": ids[:3], "where": ["{uuid}"]}],
            "streaming": _stream_facts(sse, "sse", "text/event-stream"),
            "other_streams": [_stream_facts(ndjson, "ndjson", "application/x-ndjson")],
            "api_style": "REST",
            "compression": compression,
            "compression_threshold_bytes": MIN_COMPRESS_BYTES,
            "protocols_offered": ["h2", "http/1.1"],
            "auth": {
                "kind": "session cookie + bearer token",
                "cookie": SESSION_COOKIE_NAME,
                "header": "authorization",
            },
            "planted_secrets": [
                {
                    "where": f"cookie {SESSION_COOKIE_NAME} (set-cookie on /, cookie on every "
                    "later request)",
                    "value": SESSION_COOKIE_VALUE,
                },
                {
                    "where": "authorization: Bearer request header on every /api/ call, and "
                    '<meta name="api-token"> in the / HTML body',
                    "value": BEARER_TOKEN,
                },
            ],
        }


def _stream_facts(records: list[RequestRecord], transport: str, mime: str) -> dict[str, Any]:
    kinds: list[str] = []  # distinct, in order of first appearance
    for t in (t for r in records for t in r.event_types):
        if t not in kinds:
            kinds.append(t)
    return {
        "transport": transport,
        "content_type": mime,
        "method": records[0].method if records else None,
        "client_api": "fetch+ReadableStream",
        "count": len(records),
        "event_types": kinds,
        "terminator": records[0].event_types[-1] if records and records[0].event_types else None,
        "comments": sorted({c for r in records for c in r.comments}),
        "content_encoding": records[0].content_encoding if records else None,
    }


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


# --------------------------------------------------------------------------- serving


@dataclass
class RunningServer:
    """Handle on a server running in a background thread (see :func:`running_server`)."""

    app: ChatApp
    host: str
    port: int

    @property
    def origin(self) -> str:
        return f"https://{self.host}:{self.port}"


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _config(cert: Path, key: Path, sock: socket.socket) -> Config:
    config = Config()
    config.certfile = str(cert)
    config.keyfile = str(key)
    config.alpn_protocols = ["h2", "http/1.1"]
    # Hand hypercorn the already-bound socket: the port is known before serving starts.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = 1.0
    return config


@contextmanager
def running_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
    """Serve a fresh ChatApp over TLS + HTTP/2 in a thread; stop it on exit.

    ``port=0`` picks a free port.  The cert/key live in a temp dir removed on exit.
    """
    app = ChatApp()
    with tempfile.TemporaryDirectory(prefix="archcmp-sample-tls-") as tmp:
        cert, key = make_self_signed_cert(Path(tmp))
        sock = _bound_socket(host, port)
        actual_port = int(sock.getsockname()[1])
        config = _config(cert, key, sock)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        asgi_app = cast(ASGIFramework, app)  # ChatApp speaks ASGI 3 with plain dicts

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve(asgi_app, config, shutdown_trigger=stop.wait))
            finally:
                loop.close()

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archcmp-sample-app") as pool:
            future = pool.submit(run)
            _wait_until_listening(host, actual_port, future)
            try:
                yield RunningServer(app=app, host=host, port=actual_port)
            finally:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(stop.set)
                future.result(timeout=10)  # re-raises anything the server died of


def _wait_until_listening(host: str, port: int, server: Future[None]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.done():
            server.result()  # raises why it stopped
            raise RuntimeError("sample app server exited during startup")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"sample app did not listen on {host}:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    args = parser.parse_args()
    with running_server(args.host, args.port) as server:
        print(f"serving {server.origin}/ (self-signed, HTTP/2); Ctrl-C to stop", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
        print(json.dumps(server.app.served(), indent=2))


if __name__ == "__main__":
    main()
