"""Checks that a recorded sample HAR holds what ``samples/README.md`` promises.

Why this exists: the HARs are committed exactly as Playwright wrote them, so the only
safeguard is checking them — at record time, and later with ``record.py --verify-only``.
A failed check is a reason to re-record (or fix the app), never to edit the HAR.

Every flavour gets the common checks (entry count, protocol, statuses, planted secrets,
nothing machine-specific, HTML/JS bodies equal to what the code serves today, and the HAR
agreeing with the server's own log in the truth file); each flavour adds its own.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import flavour_anthropic as anthropic
import flavour_openai_assets as openai_assets
from app_server import Flavour

SAMPLES: Final = Path(__file__).resolve().parent.parent
MAX_HAR_BYTES: Final = 200 * 1024
TRUTH_HTTP_VERSION: Final = {"HTTP/2.0": "2", "HTTP/1.1": "1.1"}

Entry = dict[str, Any]


def headers_of(entry_part: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h in entry_part["headers"]:
        out.setdefault(h["name"].lower(), []).append(h["value"])
    return out


def body_text(content: dict[str, Any]) -> str:
    text = content.get("text") or ""
    if content.get("encoding") == "base64":
        return base64.b64decode(text).decode("utf-8", "replace")
    return str(text)


def path_of(entry: Entry) -> str:
    return "/" + str(entry["request"]["url"]).split("/", 3)[3]


def sse_events(text: str) -> list[tuple[str, str]]:
    """``(type, data)`` per SSE event (comment-only blocks skipped; no ``event:`` = message)."""
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        kind, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((kind, "\n".join(data)))
    return events


def verify(flavour: Flavour, har_path: Path, truth: dict[str, Any] | None = None) -> list[str]:
    """Check the HAR has what the samples promise; return a list of problems (empty = ok)."""
    raw = har_path.read_bytes()
    entries: list[Entry] = json.loads(raw)["log"]["entries"]
    text = raw.decode("utf-8")
    problems: list[str] = []

    if len(raw) > MAX_HAR_BYTES:
        problems.append(f"HAR is {len(raw)} bytes (> {MAX_HAR_BYTES})")
    if len(entries) < 8:
        problems.append(f"only {len(entries)} entries")
    versions = {e["response"]["httpVersion"] for e in entries} | {
        e["request"]["httpVersion"] for e in entries
    }
    if versions != {flavour.har_http_version}:
        problems.append(f"httpVersion values {sorted(versions)} != [{flavour.har_http_version!r}]")
    statuses = {e["response"]["status"] for e in entries}
    for want_status in (200, 201, 204, 404):
        if want_status not in statuses:
            problems.append(f"no {want_status} response")

    # The files the app serves unchanged must be byte-for-byte what the code serves now.
    for path, body in flavour.assets.items():
        got = [body_text(e["response"]["content"]) for e in entries if path_of(e) == path]
        if got != [body]:
            problems.append(f"{path}: HAR body differs from what the {flavour.name} app serves")

    # Anything machine-specific would be a reason to stop, not to rewrite the HAR.
    needles = {str(SAMPLES), str(Path.home()) + "/", socket.gethostname(), socket.getfqdn()}
    needles |= {getpass.getuser()} - {"root"}  # "root" alone is too common a word
    for needle in sorted(n for n in needles if len(n) >= 4 and n not in {"/", "localhost"}):
        if needle in text:
            problems.append(f"HAR contains machine-specific text {needle!r}")

    problems += FLAVOUR_CHECKS[flavour.name](entries, text)
    if truth is not None:
        for secret in truth["facts"]["planted_secrets"]:
            if secret["value"] not in text:
                problems.append(f"planted secret for {secret['where'][:30]!r}… not in HAR")
        served_versions = set(truth["protocols_served"])
        if served_versions != {TRUTH_HTTP_VERSION[flavour.har_http_version]}:
            problems.append(f"truth protocols_served {sorted(served_versions)}")
        problems += _compare_with_truth(entries, truth)
    return problems


def _encodings(entries: list[Entry]) -> set[str]:
    return {v for e in entries for v in headers_of(e["response"]).get("content-encoding", [])}


# --------------------------------------------------------------------------- anthropic-like


def _check_anthropic(entries: list[Entry], text: str) -> list[str]:
    problems: list[str] = []
    encodings = _encodings(entries)
    for want in ("gzip", "br", "zstd"):
        if want not in encodings:
            problems.append(f"no response with content-encoding {want}")

    sse = [e for e in entries if e["request"]["url"].endswith("/completion")]
    if len(sse) != 1:
        problems.append(f"{len(sse)} SSE entries")
    else:
        sse_text = body_text(sse[0]["response"]["content"])
        for marker in (
            "event: message_start",
            "event: content_block_delta",
            "event: message_stop",
            ": keepalive",
        ):
            if marker not in sse_text:
                problems.append(f"SSE content.text lacks {marker!r}")
    ndjson = [e for e in entries if e["request"]["url"].endswith("/stream-ndjson")]
    if len(ndjson) != 1 or '"type":"done"' not in body_text(ndjson[0]["response"]["content"]):
        problems.append("NDJSON entry missing or incomplete")

    if not any(e["request"]["url"].endswith(anthropic.APP_JS_PATH) for e in entries):
        problems.append("content-hashed JS bundle not requested")
    if f"Bearer {anthropic.BEARER_TOKEN}" not in text:
        problems.append("bearer token not in HAR")
    if f"{anthropic.SESSION_COOKIE_NAME}={anthropic.SESSION_COOKIE_VALUE}" not in text:
        problems.append("session cookie not in HAR")
    return problems


# --------------------------------------------------------------------------- openai-like


def _check_openai(entries: list[Entry], text: str) -> list[str]:
    problems: list[str] = []
    encodings = _encodings(entries)
    for want in ("gzip", "br"):
        if want not in encodings:
            problems.append(f"no response with content-encoding {want}")
    if not any(path_of(e) == openai_assets.APP_JS_PATH for e in entries):
        problems.append("content-hashed JS bundle not requested")

    for e in entries:
        req, resp, path = e["request"], e["response"], path_of(e)
        req_h, resp_h = headers_of(req), headers_of(resp)
        if "cookie" in req_h or "set-cookie" in resp_h or req["cookies"] or resp["cookies"]:
            problems.append(f"{req['method']} {path}: has cookies (this flavour has none)")
        api = path.startswith("/v1/") or path == "/graphql"
        if api and req_h.get("authorization") != [f"Bearer {openai_assets.BEARER_TOKEN}"]:
            problems.append(f"{req['method']} {path}: no bearer token")
        if (
            api
            and req["method"] in ("POST", "DELETE")
            and req_h.get("x-csrf-token") != [openai_assets.CSRF_TOKEN]
        ):
            problems.append(f"{req['method']} {path}: no x-csrf-token")

    sse = [e for e in entries if path_of(e) == "/v1/chat/completions"]
    if len(sse) != 1:
        problems.append(f"{len(sse)} chat completion entries")
    else:
        resp = sse[0]["response"]
        sse_text = body_text(resp["content"])
        events = sse_events(sse_text)
        if not resp["content"]["mimeType"].startswith("text/event-stream"):
            problems.append(f"SSE mimeType {resp['content']['mimeType']!r}")
        if "content-encoding" in headers_of(resp):
            problems.append("SSE response is content-coded (it should go out uncoded)")
        if any(line.startswith("event:") for line in sse_text.splitlines()):
            problems.append("SSE has event: lines (this flavour sends data-only events)")
        if not events or events[-1][1] != "[DONE]" or "data: [DONE]" not in sse_text:
            problems.append("SSE does not end with data: [DONE]")
        chunks = [json.loads(data) for _, data in events[:-1]]
        if not chunks or any(c.get("object") != "chat.completion.chunk" for c in chunks):
            problems.append("SSE data are not all chat.completion.chunk objects")
        elif not re.fullmatch(r"chatcmpl-[0-9A-Za-z]{24}", str(chunks[0].get("id"))):
            problems.append(f"completion id {chunks[0].get('id')!r}")

    gql = [
        json.loads(e["request"]["postData"]["text"])
        for e in entries
        if path_of(e) == "/graphql" and e["request"].get("postData", {}).get("text")
    ]
    viewer = {"operationName": "Viewer", "query": openai_assets.VIEWER_QUERY, "variables": {}}
    if viewer not in gql:
        problems.append("no GraphQL Viewer request body with the full document")
    usage_hash = hashlib.sha256(openai_assets.USAGE_QUERY.encode()).hexdigest()
    if not any(
        "query" not in g
        and g.get("extensions", {}).get("persistedQuery", {}).get("sha256Hash") == usage_hash
        for g in gql
    ):
        problems.append("no persisted-query GraphQL request (sha256Hash only) for Usage")

    for e in entries:
        body = body_text(e["response"]["content"])
        path, status = path_of(e), e["response"]["status"]
        if path == "/v1/models" and not (
            body.startswith('{"object":"list","data":[{"id":') and '"object":"model"' in body
        ):
            problems.append("GET /v1/models is not an OpenAI-style model list")
        created_id = json.loads(body).get("id", "") if path == "/v1/threads" else ""
        if status == 201 and not re.fullmatch(r"thread_[0-9A-Za-z]{24}", created_id):
            problems.append("POST /v1/threads did not return a thread_<base62> id")
        if path.endswith("/messages") and status == 200:
            items = json.loads(body)["data"]
            if not items or any(
                m["parent_id"] is not None or not re.fullmatch(r"msg_[0-9A-Za-z]{24}", m["id"])
                for m in items
            ):
                problems.append("message list is not flat msg_<base62> items")
    return problems


FLAVOUR_CHECKS: Final[dict[str, Callable[[list[Entry], str], list[str]]]] = {
    "anthropic": _check_anthropic,
    "openai": _check_openai,
}


# --------------------------------------------------------------------------- HAR vs truth


def _compare_with_truth(entries: list[Entry], truth: dict[str, Any]) -> list[str]:
    """The HAR and the server's log must describe the same exchanges."""
    problems: list[str] = []

    def key(method: str, path: str, status: int, coding: str | None) -> str:
        return f"{method} {path} {status} {coding or '-'}"

    har_side = sorted(
        key(
            e["request"]["method"],
            path_of(e),
            e["response"]["status"],
            next(iter(headers_of(e["response"]).get("content-encoding", [])), None),
        )
        for e in entries
    )
    served = truth["served"]
    server_side = sorted(
        key(
            r["method"],
            r["path"] + (f"?{r['query']}" if r["query"] else ""),
            r["status"],
            r["content_encoding"],
        )
        for r in served
    )
    if har_side != server_side:
        problems.append(f"HAR exchanges {har_side} != served {server_side}")
    for r in (r for r in served if r["stream_format"] == "sse"):
        entry = next(e for e in entries if e["request"]["url"].endswith(r["path"]))
        events = sse_events(body_text(entry["response"]["content"]))
        seen = [kind for kind, _ in events]
        if seen != r["event_types"]:
            problems.append(f"SSE events in HAR {seen} != served {r['event_types']}")
        terminator = truth["facts"]["streaming"]["terminator"]
        if events and terminator not in (events[-1][0], events[-1][1]):
            problems.append(f"SSE ends with {events[-1]} not the terminator {terminator!r}")
    return problems


def summary(har_path: Path) -> str:
    har = json.loads(har_path.read_bytes())
    entries = har["log"]["entries"]
    lines = [
        f"{har_path} ({har_path.stat().st_size} bytes, {len(entries)} entries, "
        f"creator {har['log']['creator']['name']} {har['log']['creator']['version']}, "
        f"browser {har['log'].get('browser', {}).get('version', '?')})"
    ]
    for e in entries:
        req, resp = e["request"], e["response"]
        enc = ",".join(headers_of(resp).get("content-encoding", [])) or "-"
        t = e["timings"]
        lines.append(
            f"  {req['method']:<6} {resp['status']} {resp['httpVersion']:<8} {enc:<5} "
            f"wait={t['wait']:.0f}ms receive={t['receive']:.0f}ms  {path_of(e)}"
        )
    return "\n".join(lines)
