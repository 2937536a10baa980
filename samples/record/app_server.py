"""The ASGI side shared by the sample-app flavours: request log, responder, routing, serving.

Why this exists: each flavour (``flavour_anthropic.py``, ``flavour_openai.py``) only
declares its routes and handlers; this module turns every request into a
:class:`RequestRecord` (the *truth* ``record.py`` writes next to the HAR), sends
responses through a :class:`Responder` that records what really went out, and runs the
app under hypercorn over TLS with the ALPN protocols the flavour asks for.
"""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from app_common import (
    MIN_COMPRESS_BYTES,
    STREAM_THINK_S,
    Handler,
    Receive,
    Scope,
    Send,
    StreamCompressor,
    choose_encoding,
    compress_whole,
    make_self_signed_cert,
)
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework

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


@dataclass
class Request:
    """What a handler gets to see of a request (headers lower-cased, body read in full)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def accept_encoding(self) -> str:
        return self.headers.get("accept-encoding", "")


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
        """A complete response, compressed with ``prefer`` (or another accepted coding)
        unless it is under :data:`MIN_COMPRESS_BYTES` or ``prefer`` is None."""
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

    async def empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        """A response without a body (204)."""
        await self.start(status, headers)
        await self.body(b"", more=False)


# --------------------------------------------------------------------------- the app base


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str  # the path with ids replaced by placeholders, as the truth names it
    kind: str  # document, script, api, graphql, sse-fetch, ndjson-fetch
    handler: Handler  # async (out, request, **path groups) -> None


def route(method: str, regex: str, template: str, kind: str, handler: Handler) -> Route:
    """A :class:`Route` whose path regex must match the whole path."""
    return Route(method, re.compile(regex), template, kind, handler)


class BaseApp:
    """Minimal ASGI app (no framework) that keeps a log of every request it answered.

    A flavour sets :attr:`routes` and overrides the hooks below; everything it sends goes
    through a :class:`Responder`, so the log says what really went out.
    """

    def __init__(self) -> None:
        self.log: list[RequestRecord] = []
        self._seq = 0
        self.routes: list[Route] = []

    # -- hooks

    def had_session_cookie(self, headers: dict[str, str]) -> bool:
        """Whether the request carried the flavour's (fake) session cookie."""
        return False

    def had_bearer(self, headers: dict[str, str]) -> bool:
        """Whether the request carried the flavour's (fake) bearer token."""
        return False

    async def guard(self, out: Responder, req: Request) -> bool:
        """Runs once a route matched the method and path: refuse (and return False) or not."""
        return True

    async def unrouted(self, out: Responder, req: Request, status: int) -> None:
        """Answer a request no route took: 404 (no such path) or 405 (wrong method)."""
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """What the app is and does, for the truth file's ``facts``."""
        raise NotImplementedError

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
        req = Request(method=scope["method"], path=scope["path"], headers=headers, body=body)
        self._seq += 1
        record = RequestRecord(
            seq=self._seq,
            method=req.method,
            path=req.path,
            query=scope.get("query_string", b"").decode("latin-1"),
            template="(unmatched)",
            kind="not-found",
            http_version=scope.get("http_version", "?"),
            scheme=scope.get("scheme", "?"),
            client=list(scope.get("client") or []),
            request_header_names=sorted(headers),
            request_content_type=headers.get("content-type"),
            request_body_bytes=len(body),
            request_had_session_cookie=self.had_session_cookie(headers),
            request_had_bearer=self.had_bearer(headers),
            t_start=round(t_start, 6),
        )
        self.log.append(record)
        out = Responder(send, record, started)

        path_matched = False
        for route in self.routes:
            m = route.pattern.fullmatch(req.path)
            if m is None:
                continue
            path_matched = True
            record.template, record.kind = route.template, route.kind
            if route.method != req.method:
                continue
            if await self.guard(out, req):
                await route.handler(out, req, **m.groupdict())
            return
        await self.unrouted(out, req, 405 if path_matched else 404)

    # -- streams

    async def stream(
        self,
        out: Responder,
        req: Request,
        content_type: str,
        prefer: str | None,
        stream_format: str,
        items: AsyncIterator[tuple[str, bytes]],
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Send a streamed 200 one item at a time, each flushed on its own.

        ``items`` yields ``(kind, raw bytes)``: kind ``"comment"`` is logged as an SSE
        comment, anything else as one event of that type.  ``prefer=None`` = uncoded.
        """
        # The app "thinks" before it opens the stream, so the response headers (HAR
        # ``wait``) arrive well after the request and the body trickles in after them.
        await asyncio.sleep(STREAM_THINK_S)
        coding = choose_encoding(req.accept_encoding, prefer)
        comp = StreamCompressor(coding)
        out.record.streaming = True
        out.record.stream_format = stream_format
        headers = [("content-type", content_type)]
        if coding is not None:
            headers.append(("content-encoding", coding))
        if prefer is not None:
            headers.append(("vary", "accept-encoding"))
        headers.append(("cache-control", "no-cache"))
        headers.extend(extra or [])
        await out.start(200, headers)
        async for kind, raw in items:
            if kind == "comment":
                out.record.comments.append(raw.decode().strip())
            else:
                out.record.event_types.append(kind)
                out.record.stream_events += 1
            await out.body(comp.chunk(raw), more=True, decoded_len=len(raw))
        await out.body(comp.finish(), more=False, decoded_len=0)

    # -- truth

    def served(self) -> list[dict[str, Any]]:
        """Every request answered so far, in arrival order."""
        return [asdict(r) for r in self.log]

    def compression_facts(self) -> dict[str, str | None]:
        """``METHOD template status`` -> the content-coding of the first such response."""
        compression: dict[str, str | None] = {}
        for r in self.log:
            if r.body_bytes_wire:
                compression.setdefault(f"{r.method} {r.template} {r.status}", r.content_encoding)
        return compression


def stream_facts(
    records: list[RequestRecord],
    transport: str,
    mime: str,
    *,
    terminator: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The truth's ``facts.streaming`` block for the streamed responses in ``records``.

    ``terminator`` defaults to the last event type of the first stream; give it where the
    stream ends with a sentinel ``data`` value instead (``[DONE]``).
    """
    kinds: list[str] = []  # distinct, in order of first appearance
    for t in (t for r in records for t in r.event_types):
        if t not in kinds:
            kinds.append(t)
    if terminator is None and records and records[0].event_types:
        terminator = records[0].event_types[-1]
    facts: dict[str, Any] = {
        "transport": transport,
        "content_type": mime,
        "method": records[0].method if records else None,
        "client_api": "fetch+ReadableStream",
        "count": len(records),
        "event_types": kinds,
        "terminator": terminator,
        "comments": sorted({c for r in records for c in r.comments}),
        "content_encoding": records[0].content_encoding if records else None,
    }
    facts.update(extra or {})
    return facts


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


# --------------------------------------------------------------------------- serving


@dataclass
class RunningServer:
    """Handle on a server running in a background thread (see :func:`running_server`)."""

    app: BaseApp
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


def _config(cert: Path, key: Path, sock: socket.socket, alpn: list[str]) -> Config:
    config = Config()
    config.certfile = str(cert)
    config.keyfile = str(key)
    config.alpn_protocols = alpn
    # Hand hypercorn the already-bound socket: the port is known before serving starts.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = 1.0
    return config


@contextmanager
def running_server(
    make_app: Callable[[], BaseApp],
    alpn: list[str],
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningServer]:
    """Serve a fresh app over TLS in a thread, offering ``alpn``; stop it on exit.

    ``port=0`` picks a free port.  The cert/key live in a temp dir removed on exit.
    """
    app = make_app()
    with tempfile.TemporaryDirectory(prefix="archcmp-sample-tls-") as tmp:
        cert, key = make_self_signed_cert(Path(tmp))
        sock = _bound_socket(host, port)
        actual_port = int(sock.getsockname()[1])
        config = _config(cert, key, sock, alpn)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        asgi_app = cast(ASGIFramework, app)  # BaseApp speaks ASGI 3 with plain dicts

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


# --------------------------------------------------------------------------- flavours


@dataclass(frozen=True)
class Flavour:
    """One sample app and how it is recorded (see ``app.py`` for the registry)."""

    name: str
    make_app: Callable[[], BaseApp]
    alpn: tuple[str, ...]  # what the server offers in ALPN
    har_name: str  # file name under samples/
    producer: str  # the truth's ``producer``
    protocol_intended: str  # ``h2`` or ``http/1.1``
    har_http_version: str  # what Playwright writes as httpVersion for that protocol
    source: str  # what the truth's ``about`` names as the app that answered
    #: path -> body of the files served identically at every recording (HTML, JS bundle);
    #: the checks compare a HAR's copies with these, so code and recording cannot drift
    assets: dict[str, str] = field(default_factory=dict)
