"""The *openai-like* sample chat app: TLS + HTTP/1.1 only, REST + GraphQL, data-only SSE.

Why this exists: one sample cannot show what ``archcmp compare`` / ``archcmp diff`` are
for.  This flavour is the contrast to ``flavour_anthropic.py`` — the same kind of app (an
HTML shell, a hashed JS bundle, a JSON API, a streamed assistant reply) built the other
common way, so that nearly every axis archcmp reports differs for a real reason:

=================  ==================================  ====================================
axis               anthropic-like (``-h2``)            openai-like (``-h1``, this module)
=================  ==================================  ====================================
protocol           ALPN h2 (+http/1.1)                 ALPN http/1.1 only (chunked bodies)
API style          REST under ``/api/``                REST under ``/v1/`` + GraphQL
auth               session cookie + bearer             bearer only, ``x-csrf-token`` writes
ids                UUIDv7 in paths                     ``thread_``/``msg_``/``chatcmpl-``
                                                       + 24 base62 characters
stream             ``event:`` typed SSE, br, comments  data-only ``chat.completion.chunk``
                                                       SSE ending ``data: [DONE]``, uncoded
codings            gzip, br, zstd                      br (HTML), gzip (JS, JSON)
errors             ``{"error": "not_found"}``          ``{"error": {"message", "type",
                                                       "param", "code"}}``
=================  ==================================  ====================================

Everything is generic web-API behaviour: no vendor or CDN header, nothing made up (the
headers are the app's own plus hypercorn's ``date`` and ``server``).  The GraphQL endpoint
only executes the two operations the page sends: ``Viewer`` as a full document, and
``Usage`` as a persisted query (``extensions.persistedQuery.sha256Hash`` only, registered
with the server ahead of time; the page computes the hash with WebCrypto).

The secrets are FAKE by construction (they contain ``FAKE``).  Recorded as
``samples/chat-chromium-h1.har`` by ``record.py --flavour openai``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from app_common import (
    COMPLETION_TEXT,
    MIN_COMPRESS_BYTES,
    STREAM_EVENT_GAP_S,
    dist_version,
    dumps,
    prefixed_id,
)
from app_server import BaseApp, Flavour, Request, Responder, route, stream_facts
from flavour_openai_assets import (
    APP_JS_BYTES,
    APP_JS_PATH,
    BEARER_TOKEN,
    CSRF_TOKEN,
    INDEX_HTML,
    PLANTED_SECRETS,
    USAGE_QUERY,
    VIEWER_QUERY,
)

USAGE_SHA256: Final = hashlib.sha256(USAGE_QUERY.encode()).hexdigest()
GRAPHQL_RESPONSE_TYPE: Final = "application/graphql-response+json; charset=utf-8"
JSON_TYPE: Final = "application/json; charset=utf-8"
SSE_TYPE: Final = "text/event-stream; charset=utf-8"

#: Models listed by ``GET /v1/models`` (id, Unix ``created``).
MODELS: Final = [
    ("sample-large", 1735689600),
    ("sample-mini", 1738368000),
    ("sample-embed-small", 1730419200),
    ("sample-tts", 1727740800),
]

ID_TAIL: Final = r"[0-9A-Za-z]{24}"
THREAD_RE: Final = rf"/v1/threads/(?P<tid>thread_{ID_TAIL})"
THREAD_T: Final = "/v1/threads/thread_{base62}"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _unix() -> int:
    return time.time_ns() // 1_000_000_000


@dataclass
class Thread:
    id: str
    created_at: int
    metadata: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread",
            "created_at": self.created_at,
            "metadata": self.metadata,
        }


class OpenAIStyleApp(BaseApp):
    """The openai-like chat app: ``/v1/`` REST + ``/graphql``, bearer auth, CSRF header."""

    def __init__(self) -> None:
        super().__init__()
        #: every id the app minted, by prefix (the truth's ``id_formats`` examples)
        self.issued: dict[str, list[str]] = {}
        #: one entry per GraphQL request: seq, operationName, persisted, sha256Hash
        self.graphql_log: list[dict[str, Any]] = []
        self.user_id = self._new_id("user_")
        self.threads: dict[str, Thread] = {}
        for title in ("Trip ideas for the weekend", "Draft of the quarterly update"):
            t = Thread(self._new_id("thread_"), _unix(), {"title": title})
            t.messages = [
                self._message(t.id, "user", f"Let's talk about: {title.lower()}."),
                self._message(t.id, "assistant", "Sure, here is a first outline to work from."),
            ]
            self.threads[t.id] = t
        # The seeded threads only show up as counts (GraphQL Usage); their ids are never sent.
        self._unsent = {t.id for t in self.threads.values()} | {
            m["id"] for t in self.threads.values() for m in t.messages
        }

        self.routes = [
            route("GET", r"/", "/", "document", self.index),
            route("GET", re.escape(APP_JS_PATH), "/assets/index-{hash}.js", "script", self.bundle),
            route("POST", r"/graphql", "/graphql", "graphql", self.graphql),
            route("GET", r"/v1/models", "/v1/models", "api", self.models),
            route("POST", r"/v1/threads", "/v1/threads", "api", self.create_thread),
            route("DELETE", THREAD_RE, THREAD_T, "api", self.delete_thread),
            route(
                "GET", THREAD_RE + "/messages", THREAD_T + "/messages", "api", self.list_messages
            ),
            route(
                "POST",
                r"/v1/chat/completions",
                "/v1/chat/completions",
                "sse-fetch",
                self.chat_completions,
            ),
        ]

    def _new_id(self, prefix: str) -> str:
        value = prefixed_id(prefix)
        self.issued.setdefault(prefix, []).append(value)
        return value

    def _message(self, thread_id: str, role: str, text: str) -> dict[str, Any]:
        return {
            "id": self._new_id("msg_"),
            "object": "thread.message",
            "created_at": _unix(),
            "thread_id": thread_id,
            "parent_id": None,  # a flat thread: no branches
            "role": role,
            "content": [{"type": "text", "text": {"value": text}}],
        }

    # -- responses

    def _api_headers(self) -> list[tuple[str, str]]:
        return [("cache-control", "no-store"), ("x-request-id", prefixed_id("req_"))]

    async def _json(
        self,
        out: Responder,
        req: Request,
        status: int,
        obj: object,
        prefer: str | None = "gzip",
        content_type: str = JSON_TYPE,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        headers = [*self._api_headers(), *(extra or [])]
        await out.whole(
            status, dumps(obj), content_type, req.accept_encoding, prefer=prefer, extra=headers
        )

    async def _error(
        self,
        out: Responder,
        req: Request,
        status: int,
        code: str,
        message: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """The OpenAI-style error envelope."""
        kind = {401: "authentication_error", 403: "permission_error"}.get(
            status, "invalid_request_error"
        )
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        await self._json(out, req, status, body, prefer=None, extra=extra)

    # -- hooks

    def had_bearer(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {BEARER_TOKEN}"

    async def guard(self, out: Responder, req: Request) -> bool:
        if not (req.path.startswith("/v1/") or req.path == "/graphql"):
            return True
        if not out.record.request_had_bearer:
            challenge = [("www-authenticate", 'Bearer realm="archcmp-sample"')]
            await self._error(out, req, 401, "invalid_api_key", "Missing bearer token.", challenge)
            return False
        if req.method in UNSAFE_METHODS and req.headers.get("x-csrf-token") != CSRF_TOKEN:
            await self._error(out, req, 403, "csrf_failed", "CSRF token missing or invalid.")
            return False
        return True

    async def unrouted(self, out: Responder, req: Request, status: int) -> None:
        if status == 405:
            await self._error(out, req, 405, "method_not_allowed", f"{req.method} not allowed.")
        else:
            await self._error(out, req, 404, "not_found", f"Unknown path {req.path}.")

    # -- pages

    async def index(self, out: Responder, req: Request) -> None:
        csp = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        await out.whole(
            200,
            INDEX_HTML.encode(),
            "text/html; charset=utf-8",
            req.accept_encoding,
            prefer="br",
            extra=[
                ("cache-control", "no-store"),
                ("content-security-policy", csp),
                ("referrer-policy", "strict-origin-when-cross-origin"),
                ("strict-transport-security", "max-age=63072000; includeSubDomains"),
                ("x-content-type-options", "nosniff"),
            ],
        )

    async def bundle(self, out: Responder, req: Request) -> None:
        etag = base64.urlsafe_b64encode(hashlib.sha256(APP_JS_BYTES).digest()[:12]).decode()
        await out.whole(
            200,
            APP_JS_BYTES,
            "text/javascript; charset=utf-8",
            req.accept_encoding,
            prefer="gzip",
            extra=[
                ("cache-control", "public, max-age=31536000, immutable"),
                ("etag", f'"{etag}"'),
            ],
        )

    # -- GraphQL

    async def graphql(self, out: Responder, req: Request) -> None:
        """POST ``/graphql`` (GraphQL over HTTP) for the two known operations only."""
        try:
            payload = json.loads(req.body or b"null")
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            await self._graphql_errors(out, req, 400, "BAD_REQUEST", "Body must be a JSON object.")
            return
        op = payload.get("operationName")
        ext = payload.get("extensions")
        persisted = ext.get("persistedQuery") if isinstance(ext, dict) else None
        sha = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        query = payload.get("query")
        self.graphql_log.append(
            {
                "seq": out.record.seq,
                "operationName": op,
                "persisted": query is None and sha is not None,
                "sha256Hash": sha,
            }
        )
        if query is None and sha is not None:
            if sha != USAGE_SHA256:
                # Apollo's answer, so a client knows to resend with the document.
                msg = "PersistedQueryNotFound"
                await self._graphql_errors(out, req, 200, "PERSISTED_QUERY_NOT_FOUND", msg)
                return
            query = USAGE_QUERY
        if query == VIEWER_QUERY:
            data: dict[str, Any] = {"viewer": {"id": self.user_id, "name": "Sample User"}}
        elif query == USAGE_QUERY:
            count = sum(len(t.messages) for t in self.threads.values())
            usage = {"threads": len(self.threads), "messages": count}
            data = {"viewer": {"id": self.user_id, "usage": usage}}
        else:
            msg = "This server only executes its known operations."
            await self._graphql_errors(out, req, 400, "GRAPHQL_VALIDATION_FAILED", msg)
            return
        await self._json(out, req, 200, {"data": data}, content_type=self._gql_type(req))

    def _gql_type(self, req: Request) -> str:
        accept = req.headers.get("accept", "")
        return (
            GRAPHQL_RESPONSE_TYPE if "application/graphql-response+json" in accept else (JSON_TYPE)
        )

    async def _graphql_errors(
        self, out: Responder, req: Request, status: int, code: str, message: str
    ) -> None:
        body = {"errors": [{"message": message, "extensions": {"code": code}}]}
        await self._json(out, req, status, body, content_type=self._gql_type(req))

    # -- REST

    async def models(self, out: Responder, req: Request) -> None:
        data = [
            {"id": mid, "object": "model", "created": created, "owned_by": "archcmp-sample"}
            for mid, created in MODELS
        ]
        await self._json(out, req, 200, {"object": "list", "data": data})

    async def create_thread(self, out: Responder, req: Request) -> None:
        try:
            payload = json.loads(req.body or b"{}")
            metadata = {str(k): str(v)[:200] for k, v in (payload.get("metadata") or {}).items()}
            initial = [(str(m["role"]), str(m["content"])) for m in payload.get("messages", [])]
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
            await self._error(out, req, 400, "invalid_json", "Could not parse the body.")
            return
        t = Thread(self._new_id("thread_"), _unix(), metadata)
        t.messages = [self._message(t.id, role, text) for role, text in initial]
        self.threads[t.id] = t
        await self._json(out, req, 201, t.obj())

    async def list_messages(self, out: Responder, req: Request, tid: str) -> None:
        t = self.threads.get(tid)
        if t is None:
            await self._error(out, req, 404, "not_found", f"No thread found with id '{tid}'.")
            return
        page = {
            "object": "list",
            "data": t.messages,
            "first_id": t.messages[0]["id"] if t.messages else None,
            "last_id": t.messages[-1]["id"] if t.messages else None,
            "has_more": False,
        }
        await self._json(out, req, 200, page)

    async def delete_thread(self, out: Responder, req: Request, tid: str) -> None:
        if self.threads.pop(tid, None) is None:
            await self._error(out, req, 404, "not_found", f"No thread found with id '{tid}'.")
            return
        await out.empty(204, self._api_headers())

    # -- the stream

    async def chat_completions(self, out: Responder, req: Request) -> None:
        try:
            payload = json.loads(req.body or b"{}")
            model = str(payload["model"])
            stream, include_usage = (
                payload.get("stream"),
                bool((payload.get("stream_options") or {}).get("include_usage")),
            )
            thread = self.threads.get(str((payload.get("metadata") or {}).get("thread_id")))
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
            await self._error(out, req, 400, "invalid_json", "Could not parse the body.")
            return
        if model not in {mid for mid, _ in MODELS}:
            await self._error(out, req, 404, "model_not_found", f"No model '{model}'.")
            return
        if stream is not True:
            await self._error(out, req, 400, "stream_required", 'Set "stream": true.')
            return
        completion_id, created = self._new_id("chatcmpl-"), _unix()

        def chunk(choices: list[dict[str, Any]], **more: Any) -> tuple[str, bytes]:
            obj = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **more,
            }
            # No ``event:`` line, so every event has the SSE default type "message".
            return "message", b"data: " + dumps(obj) + b"\n\n"

        def choice(delta: dict[str, str], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "finish_reason": finish}]

        async def events() -> AsyncIterator[tuple[str, bytes]]:
            yield chunk(choice({"role": "assistant", "content": ""}))
            for piece in COMPLETION_TEXT:
                await asyncio.sleep(STREAM_EVENT_GAP_S)
                yield chunk(choice({"content": piece}))
            await asyncio.sleep(STREAM_EVENT_GAP_S)
            yield chunk(choice({}, "stop"))
            if include_usage:
                n = len(COMPLETION_TEXT)
                yield chunk(
                    [], usage={"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}
                )
            yield "message", b"data: [DONE]\n\n"
            if thread is not None:
                text = "".join(COMPLETION_TEXT)
                thread.messages.append(self._message(thread.id, "assistant", text))

        # stream() sends its own cache-control (no-cache); only the request id is added.
        request_id = [h for h in self._api_headers() if h[0] != "cache-control"]
        await self.stream(out, req, SSE_TYPE, None, "sse", events(), request_id)

    # -- truth

    def facts(self) -> dict[str, Any]:
        """What this app is and does, from its own log and state (shaped like the h2 one)."""
        sse = [r for r in self.log if r.stream_format == "sse"]
        wheres = {
            "thread_": [
                THREAD_T,
                "json:$.id",
                "json:$.data[*].thread_id",
                "request:$.metadata.thread_id",
            ],
            "msg_": ["json:$.data[*].id", "json:$.first_id", "json:$.last_id"],
            "chatcmpl-": ["event:message:$.id"],
            "user_": ["json:$.data.viewer.id"],
        }
        in_paths = [p for r in self.log for p in re.findall(rf"thread_{ID_TAIL}", r.path)]
        id_formats = []
        for prefix, where in wheres.items():
            sent = [i for i in self.issued.get(prefix, []) if i not in self._unsent]
            seen = [i for i in in_paths if i.startswith(prefix)] + sent
            id_formats.append(
                {
                    "format": "base62",
                    "prefix": prefix,
                    "length": 24,
                    "examples": list(dict.fromkeys(seen))[:3],
                    "where": where,
                }
            )
        chunks = sum(1 for r in sse for t in r.event_types if t == "message") - len(sse)
        streaming = stream_facts(
            sse,
            "sse",
            "text/event-stream",
            terminator="[DONE]",
            extra={
                "event_schema": "openai-chat-completions",
                "delta_format": "openai-chunk",
                "data_object": "chat.completion.chunk",
                "chunks": chunks,  # every data event but the [DONE] sentinel
                "event_lines": False,  # no "event:" lines: every event is type "message"
            },
        )
        return {
            "app_like": None,
            "app": f"archcmp sample chat app, openai-like flavour ({FLAVOUR.source})",
            "server": f"hypercorn {dist_version('hypercorn')} (ASGI), TLS 1.3 + ALPN http/1.1",
            "cdn": None,
            "cloud": None,
            "service_mesh": None,
            "vendors": [],
            "tracing_headers": [],
            "id_formats": id_formats,
            "streaming": streaming,
            "other_streams": [],
            "api_style": "REST + GraphQL",
            "graphql": {
                "path": "/graphql",
                "method": "POST",
                "operations": list(dict.fromkeys(g["operationName"] for g in self.graphql_log)),
                "persisted_queries": [
                    {"operationName": "Usage", "sha256Hash": USAGE_SHA256, "query": USAGE_QUERY}
                ],
                "requests": self.graphql_log,
            },
            "compression": self.compression_facts(),
            "compression_threshold_bytes": MIN_COMPRESS_BYTES,
            "protocols_offered": list(FLAVOUR.alpn),
            "auth": {
                "kind": "bearer token",
                "cookie": None,
                "header": "authorization",
                "csrf_header": "x-csrf-token",
                "csrf_methods": sorted(UNSAFE_METHODS),
            },
            "planted_secrets": PLANTED_SECRETS,
        }


FLAVOUR: Final = Flavour(
    name="openai",
    make_app=OpenAIStyleApp,
    alpn=("http/1.1",),
    har_name="chat-chromium-h1.har",
    producer="chromium-h1",
    protocol_intended="http/1.1",
    har_http_version="HTTP/1.1",
    source="samples/record/flavour_openai.py",
    assets={"/": INDEX_HTML, APP_JS_PATH: APP_JS_BYTES.decode()},
)
