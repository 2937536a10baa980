"""The *anthropic-like* sample chat app: TLS + HTTP/2, REST, an SSE and an NDJSON stream.

Why this exists: archcmp needs a capture whose ground truth is known exactly.  Recording
a real third-party chat app would mean shipping someone else's traffic (and faking or
leaking vendor infrastructure), so instead this app does what a modern chat front end
does — an HTML shell, a content-hashed JS bundle, a JSON API, a Server-Sent Events
completion stream shaped like the Anthropic Messages API (``event: message_start`` …
``event: message_stop``) and an NDJSON stream — over TLS + HTTP/2 on 127.0.0.1, and
nothing else.  Every header it sends is one it really sets (plus hypercorn's own ``date``
and ``server``); there is no CDN, no vendor header, nothing made up.  Auth is a session
cookie *and* a bearer token; ids are UUIDv7; responses use gzip, br and zstd.

It is the default flavour of ``app.py`` and recorded as ``samples/chat-chromium-h2.har``;
``flavour_openai.py`` is the contrasting one.  The secrets it plants are FAKE by
construction (they contain the word ``FAKE``) so a test can check that archcmp redacts
them.

This module was split out of ``app.py`` unchanged in behaviour: the HTML, the JS bundle
(and so its content-hashed name), every header and every event are byte-for-byte what the
committed recording holds, which ``record.py --verify-only`` checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from app_common import (
    COMPLETION_TEXT,
    JSON_TYPE,
    MIN_COMPRESS_BYTES,
    STREAM_EVENT_GAP_S,
    UUID_RE,
    cookie_value,
    dist_version,
    dumps,
    now_iso,
    uuid7,
)
from app_server import BaseApp, Flavour, Request, Responder, route, stream_facts

# --------------------------------------------------------------------------- fake secrets

#: Session cookie the app sets on ``/`` and requires on every API call.  FAKE.
SESSION_COOKIE_NAME: Final = "session_id"
SESSION_COOKIE_VALUE: Final = "sess-FAKE-4f1c2a9be07d4c33a1d5"
#: Bearer token the page's JS sends as ``Authorization: Bearer …`` on API calls.  FAKE.
BEARER_TOKEN: Final = "FAKE-bearer-archcmp-sample-9c0e51d2b7a84f6e"

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


# --------------------------------------------------------------------------- the app

API_HEADERS: Final = [("cache-control", "no-store")]


@dataclass
class Conversation:
    id: str
    title: str
    created_at: str
    messages: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created_at": self.created_at}


def _sse(event: str, **fields: Any) -> tuple[str, bytes]:
    """One SSE event whose ``data`` is JSON carrying the event name as ``type``."""
    data = json.dumps({"type": event, **fields}, separators=(",", ":"))
    return event, f"event: {event}\ndata: {data}\n\n".encode()


class ChatApp(BaseApp):
    """The anthropic-like chat app: REST under ``/api/``, cookie + bearer auth."""

    def __init__(self) -> None:
        super().__init__()
        self.user_id = str(uuid7())
        self.conversations: dict[str, Conversation] = {}
        for title in ("Trip ideas for the weekend", "Draft of the quarterly update"):
            c = Conversation(id=str(uuid7()), title=title, created_at=now_iso())
            c.messages = [
                {"role": "user", "content": f"Let's talk about: {title.lower()}."},
                {"role": "assistant", "content": "Sure, here is a first outline to work from."},
            ]
            self.conversations[c.id] = c
        conv = rf"/api/conversations/(?P<cid>{UUID_RE})"
        conv_t = "/api/conversations/{uuid}"

        self.routes = [
            route("GET", r"/", "/", "document", self.index),
            route("GET", re.escape(APP_JS_PATH), "/static/app.{hash}.js", "script", self.bundle),
            route("GET", r"/api/me", "/api/me", "api", self.me),
            route("GET", r"/api/conversations", "/api/conversations", "api", self.list_convos),
            route("POST", r"/api/conversations", "/api/conversations", "api", self.create),
            route("GET", conv, conv_t, "api", self.get_convo),
            route("DELETE", conv, conv_t, "api", self.delete_convo),
            route(
                "POST", conv + "/completion", conv_t + "/completion", "sse-fetch", self.completion
            ),
            route(
                "POST",
                conv + "/stream-ndjson",
                conv_t + "/stream-ndjson",
                "ndjson-fetch",
                self.stream_ndjson,
            ),
        ]

    # -- hooks

    def had_session_cookie(self, headers: dict[str, str]) -> bool:
        return cookie_value(headers.get("cookie", ""), SESSION_COOKIE_NAME) == SESSION_COOKIE_VALUE

    def had_bearer(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {BEARER_TOKEN}"

    async def guard(self, out: Responder, req: Request) -> bool:
        rec = out.record
        if req.path.startswith("/api/") and not (
            rec.request_had_session_cookie and rec.request_had_bearer
        ):
            await out.whole(
                401,
                dumps({"error": "unauthorized"}),
                JSON_TYPE,
                req.accept_encoding,
                extra=API_HEADERS,
            )
            return False
        return True

    async def unrouted(self, out: Responder, req: Request, status: int) -> None:
        if status == 405:
            body = dumps({"error": "method_not_allowed"})
        else:
            body = dumps({"error": "not_found", "path": req.path})
        await out.whole(status, body, JSON_TYPE, req.accept_encoding)

    # -- pages

    async def index(self, out: Responder, req: Request) -> None:
        cookie = (
            f"{SESSION_COOKIE_NAME}={SESSION_COOKIE_VALUE}; Path=/; Secure; HttpOnly; SameSite=Lax"
        )
        await out.whole(
            200,
            INDEX_HTML.encode(),
            "text/html; charset=utf-8",
            req.accept_encoding,
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

    async def bundle(self, out: Responder, req: Request) -> None:
        await out.whole(
            200,
            APP_JS_BYTES,
            "text/javascript; charset=utf-8",
            req.accept_encoding,
            prefer="br",
            extra=[("cache-control", "public, max-age=31536000, immutable")],
        )

    # -- JSON API

    async def _json(
        self,
        out: Responder,
        req: Request,
        status: int,
        obj: object,
        prefer: str | None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        await out.whole(
            status,
            dumps(obj),
            JSON_TYPE,
            req.accept_encoding,
            prefer=prefer,
            extra=extra if extra is not None else API_HEADERS,
        )

    async def _not_found(self, out: Responder, req: Request) -> None:
        await self._json(out, req, 404, {"error": "not_found"}, None)

    async def me(self, out: Responder, req: Request) -> None:
        me = {"id": self.user_id, "name": "Sample User", "plan": "free"}
        await self._json(out, req, 200, me, "br")

    async def list_convos(self, out: Responder, req: Request) -> None:
        items = [c.summary() for c in self.conversations.values()]
        await self._json(out, req, 200, {"conversations": items, "has_more": False}, "gzip")

    async def create(self, out: Responder, req: Request) -> None:
        try:
            title = str(json.loads(req.body or b"{}").get("title") or "New chat")[:200]
        except (json.JSONDecodeError, AttributeError):
            await out.whole(400, dumps({"error": "bad_json"}), JSON_TYPE, req.accept_encoding)
            return
        c = Conversation(id=str(uuid7()), title=title, created_at=now_iso())
        self.conversations[c.id] = c
        location = ("location", f"/api/conversations/{c.id}")
        await self._json(out, req, 201, c.summary(), "br", [*API_HEADERS, location])

    async def get_convo(self, out: Responder, req: Request, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await self._not_found(out, req)
            return
        await self._json(out, req, 200, {**c.summary(), "messages": c.messages}, "zstd")

    async def delete_convo(self, out: Responder, req: Request, cid: str) -> None:
        if self.conversations.pop(cid, None) is None:
            await self._not_found(out, req)
            return
        await out.empty(204, API_HEADERS)

    # -- streams

    async def completion(self, out: Responder, req: Request, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await out.whole(404, dumps({"error": "not_found"}), JSON_TYPE, req.accept_encoding)
            return
        prompt = str(json.loads(req.body or b"{}").get("prompt", ""))
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

        sse_type = "text/event-stream; charset=utf-8"
        await self.stream(out, req, sse_type, "br", "sse", events())

    async def stream_ndjson(self, out: Responder, req: Request, cid: str) -> None:
        c = self.conversations.get(cid)
        if c is None:
            await out.whole(404, dumps({"error": "not_found"}), JSON_TYPE, req.accept_encoding)
            return
        words = c.title.split()

        async def lines() -> AsyncIterator[tuple[str, bytes]]:
            yield "start", dumps({"type": "start", "conversation_id": c.id}) + b"\n"
            for i in range(1, len(words) + 1):
                await asyncio.sleep(STREAM_EVENT_GAP_S)
                yield "partial", dumps({"type": "partial", "title": " ".join(words[:i])}) + b"\n"
            yield "done", dumps({"type": "done", "title": c.title}) + b"\n"

        await self.stream(out, req, "application/x-ndjson", "gzip", "ndjson", lines())

    # -- truth

    def facts(self) -> dict[str, Any]:
        """What this app is and does, derived from its own request log where it can be.

        Shaped like ``facts`` in the shared lab truth files.  No CDN, cloud, mesh or
        third-party vendor is claimed because none is there.
        """
        sse = [r for r in self.log if r.stream_format == "sse"]
        ndjson = [r for r in self.log if r.stream_format == "ndjson"]
        ids = sorted({m for r in self.log for m in re.findall(UUID_RE, r.path)})
        return {
            "app_like": None,
            # app.py serves this flavour by default; the name is kept as it was before the
            # split so that a re-recording's truth matches the committed one.
            "app": "archcmp sample chat app (samples/record/app.py)",
            "server": f"hypercorn {dist_version('hypercorn')} (ASGI), TLS 1.3 + ALPN h2",
            "cdn": None,
            "cloud": None,
            "service_mesh": None,
            "vendors": [],
            "tracing_headers": [],
            "id_formats": [{"format": "uuidv7", "examples": ids[:3], "where": ["{uuid}"]}],
            "streaming": stream_facts(sse, "sse", "text/event-stream"),
            "other_streams": [stream_facts(ndjson, "ndjson", "application/x-ndjson")],
            "api_style": "REST",
            "compression": self.compression_facts(),
            "compression_threshold_bytes": MIN_COMPRESS_BYTES,
            "protocols_offered": list(FLAVOUR.alpn),
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


FLAVOUR: Final = Flavour(
    name="anthropic",
    make_app=ChatApp,
    alpn=("h2", "http/1.1"),
    har_name="chat-chromium-h2.har",
    producer="chromium-h2",
    protocol_intended="h2",
    har_http_version="HTTP/2.0",
    source="samples/record/app.py",
    assets={"/": INDEX_HTML, APP_JS_PATH: APP_JS},
)
