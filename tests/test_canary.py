"""Secret canary: unique secrets planted in every position reach nothing archcmp writes.

Issue 8's first Done-when: "No planted secret of any alpha ``truth.json`` appears in any output of
any command without ``--unsafe-keep-secrets``, including the store." ydata-profiling's
``tests/unit/test_sensitive.py`` is the model; this is the thorough version:

* **Plant.** Into copies of real HARs (alpha ``chromium-h2``, ``chromium-h3``, ``mitmproxy`` and
  both samples) go unique values, each naming its position (``CANARY-<position>-<random>``) or
  shaped like the real thing (JWTs built here, ``sk-ant-…``, ``ghp_…``, ``sess_…``, 40-character
  high-entropy tokens): cookies (``Cookie`` header, ``request.cookies``, ``Set-Cookie``,
  ``response.cookies``, nameless cookies), ``Authorization`` (Bearer, Basic, a bare key),
  ``Proxy-Authorization``, API-key headers, token query parameters (URL and ``queryString``),
  secret JSON fields of request and response bodies (nested, in arrays, under a streaming
  request's ``reasoning``/``thinking`` options), form bodies (``params`` and urlencoded text),
  JWTs anywhere (path segment, innocent JSON key, SSE event, response header), WebSocket
  messages, the producer's ``_error``, ``Referer``, ``Location`` and ``redirectURL``, a page
  title that is a URL, and SSE events. The alpha packet captures (DSB or ``--keylog``) carry the
  ``truth.json`` secrets over TLS and QUIC, and their TLS secrets are canaries too; a cleartext
  HTTP/1.1 + WebSocket pcap built here adds the malformed lines protocol warnings describe.
* **Run everything** with a fresh workspace: ``analyze`` (summary, cached, ``--json``, ``-q``),
  ``list``, ``report`` md/html/json (stdout and ``-o``, Markdown's SVG assets, one and two
  captures), ``compare`` term/md/html/json, ``diff`` text/json/md both ways against the
  unplanted capture (so changed values show), captures named by path that are analysed on the
  fly, ``rules list``/``test``; commands that fail on cut or corrupt canary captures; a bug's
  traceback; every command after an ``analyze --unsafe-keep-secrets``.
* **Grep everything written**: stdout and stderr of every command, every file under the
  workspace and output directories (the SQLite database and any ``-wal``/``-shm``), every cell of
  every table decompressed, and zlib streams found anywhere in those files. Each secret is
  searched raw, URL-encoded, JSON-escaped, HTML-escaped and by its random core, so a truncated
  quote (a 40-byte warning sample) counts too. A hit names the secret's position and where.
* **Prove it can fail**: with ``--unsafe-keep-secrets`` the planted values do come out, and
  with the redaction of one writer switched off the canary fires.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import hmac
import html
import json
import re
import secrets
import sqlite3
import string
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit, urlunsplit

import pytest
from typer.testing import CliRunner

from archcmp.analyze.document import DocumentBuilder
from archcmp.cli import app
from archcmp.redact import Redactor
from tests.conftest import SAMPLES

runner = CliRunner()
#: Wide enough that rich never folds a table cell: a folded secret would slip past the grep.
WIDE = {"COLUMNS": "4000", "NO_COLOR": "1"}

Json = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Canary values
# --------------------------------------------------------------------------------------------

_B62 = string.ascii_letters + string.digits


def _b62(n: int) -> str:
    """``n`` random base62 characters, at least one of them a digit (so never a plain word)."""
    return secrets.choice(string.digits) + "".join(secrets.choice(_B62) for _ in range(n - 1))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class Canary:
    """One planted secret: where it went, its value, and the random core a partial quote shows."""

    position: str
    value: str
    core: tuple[str, ...] = ()
    quoted: bool = True
    """False for secrets archcmp never reads (``request.cookies`` only): no unsafe-run check."""

    def needles(self) -> dict[str, str]:
        """Every form in which a leak of this secret would show, by form name."""
        forms = {
            "raw": self.value,
            "url-encoded": quote(self.value, safe=""),
            "form-encoded": quote_plus(self.value),
            "json-escaped": json.dumps(self.value)[1:-1],
            "slash-escaped": json.dumps(self.value)[1:-1].replace("/", "\\/"),
            "html-escaped": html.escape(self.value),
        }
        forms.update({f"core {i}": part for i, part in enumerate(self.core)})
        return forms


@dataclass(slots=True)
class Canaries:
    """A factory of unique secrets that records each one's position."""

    planted: list[Canary] = field(default_factory=list)

    def _add(self, canary: Canary) -> str:
        assert all(c.value != canary.value for c in self.planted)
        self.planted.append(canary)
        return canary.value

    def token(self, position: str, *, extra: str = "", quoted: bool = True) -> str:
        """``CANARY-<position>-<16 random hex>``; ``extra`` appends characters to escape."""
        core = secrets.token_hex(8)
        return self._add(Canary(position, f"CANARY-{position}-{core}{extra}", (core,), quoted))

    def entropy(self, position: str) -> str:
        """40 random base62 characters: an opaque high-entropy token, no prefix to go by."""
        value = _b62(40)
        return self._add(Canary(position, value, (value[4:20], value[20:36])))

    def jwt(self, position: str) -> str:
        """An HS256 JWS (RFC 7519 §3) whose claims name the position; cores: payload, signature."""
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": f"canary-{position}-{secrets.token_hex(6)}", "iat": 1763980800,
                  "scope": "read write"}
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64url(hmac.new(secrets.token_bytes(32), f"{header}.{payload}".encode(),
                                     hashlib.sha256).digest())
        value = f"{header}.{payload}.{signature}"
        return self._add(Canary(position, value, (payload[12:], signature[:24])))

    def anthropic_key(self, position: str) -> str:
        body = _b62(86)
        return self._add(Canary(position, f"sk-ant-api03-{body}AA", (body[:24],)))

    def session_id(self, position: str) -> str:
        """``sess_`` and 24 base62 characters: a session id, shaped like one."""
        body = _b62(24)
        return self._add(Canary(position, f"sess_{body}", (body[:16],)))

    def github_token(self, position: str) -> str:
        body = _b62(36)
        return self._add(Canary(position, f"ghp_{body}", (body[:20],)))

    def extra(self, canary: Canary) -> None:
        self._add(canary)


def truth_secrets(shared: Path) -> list[Canary]:
    """``facts.planted_secrets`` of every alpha ``truth.json`` and of the samples' truth files."""
    files = [*sorted((shared / "captures" / "alpha").glob("*/truth.json")),
             *sorted(SAMPLES.glob("*.truth.json"))]
    found: dict[str, Canary] = {}
    for path in files:
        for secret in json.loads(path.read_text())["facts"]["planted_secrets"]:
            where = f"{path.parent.name}/{path.name}: {secret['where']}"
            found.setdefault(secret["value"], Canary(where, secret["value"]))
    assert len(found) >= 4
    return list(found.values())


# --------------------------------------------------------------------------------------------
# Planting into a HAR
# --------------------------------------------------------------------------------------------


def _mime(message: Json) -> str:
    return str((message.get("content") or {}).get("mimeType") or "").lower()


def _header(message: Json, name: str) -> str | None:
    for h in message.get("headers", []):
        if h["name"].lower() == name:
            return str(h["value"])
    return None


def _set_header(message: Json, name: str, value: str) -> None:
    """Replace the first header called ``name`` (any case) or append one."""
    for h in message.setdefault("headers", []):
        if h["name"].lower() == name.lower():
            h["value"] = value
            return
    message["headers"].append({"name": name, "value": value})


def _json_text(raw: str | None) -> Json:
    try:
        parsed = json.loads(raw or "")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {"data": parsed}


def _set_text(content: Json, text: str) -> None:
    content.pop("encoding", None)
    content["text"] = text
    content["size"] = len(text.encode())


def _with_url(entry: Json, url: str) -> None:
    """Point the request at ``url``, keeping an h2/h3 ``:path`` pseudo-header in step."""
    entry["request"]["url"] = url
    parts = urlsplit(url)
    if _header(entry["request"], ":path") is not None:
        _set_header(entry["request"], ":path", parts.path + (f"?{parts.query}" if parts.query
                                                             else ""))


def _origin(entry: Json) -> str:
    parts = urlsplit(entry["request"]["url"])
    return f"{parts.scheme}://{parts.netloc}"


def _clone(entries: list[Json], entry: Json, url_path: str) -> Json:
    """A copy of ``entry`` for another path, appended to the HAR."""
    twin = copy.deepcopy(entry)
    _with_url(twin, _origin(entry) + url_path)
    twin["request"]["queryString"] = []
    entries.append(twin)
    return twin


def _insert_sse_event(text: str, data: str) -> str:
    """``data`` as one more event before the stream's last one (its terminator stays last)."""
    named = text.startswith("event:") or "\nevent:" in text
    block = (f"event: canary_auth\ndata: {data}" if named else f"data: {data}")
    events = text.rstrip("\n").split("\n\n")
    events.insert(max(1, len(events) - 1), block)
    return "\n\n".join(events) + "\n\n"


def plant_har(har: Json, c: Canaries) -> Json:
    """A copy of ``har`` with unique canary secrets in every position issue 8 lists."""
    har = copy.deepcopy(har)
    entries: list[Json] = har["log"]["entries"]
    doc = next(e for e in entries if _mime(e["response"]).startswith("text/html"))
    api_get = next(e for e in entries if e["request"]["method"] == "GET"
                   and "json" in _mime(e["response"]) and e["response"]["status"] == 200)
    api_post = next(e for e in entries if e["request"]["method"] == "POST"
                    and _json_text((e["request"].get("postData") or {}).get("text")))
    sse = next(e for e in entries if "event-stream" in _mime(e["response"]))
    origin = _origin(doc)
    host = urlsplit(origin).netloc

    # --- cookies: on every request, in the Cookie header and request.cookies[] ----------------
    cookie = c.token("cookie-sid")
    cookie_he = c.entropy("cookie-high-entropy")
    nameless = c.session_id("cookie-nameless")  # RFC 6265bis §5.6: a value without a name
    for e in entries:
        request = e["request"]
        pairs = f"canary_sid={cookie}; canary_he={cookie_he}; {nameless}"
        existing = _header(request, "cookie")
        _set_header(request, "cookie", f"{existing}; {pairs}" if existing else pairs)
        request.setdefault("cookies", []).extend(
            [{"name": "canary_sid", "value": cookie}, {"name": "canary_he", "value": cookie_he}])
    doc["request"]["cookies"].append(
        {"name": "canary_arr", "value": c.token("cookie-array-only", quoted=False)})
    # Set-Cookie (two headers, one value a JWT) and response.cookies[]
    set_plain, set_jwt = c.token("set-cookie"), c.jwt("set-cookie-jwt")
    doc["response"]["headers"] += [
        {"name": "set-cookie", "value": f"canary_set={set_plain}; Path=/; Secure; HttpOnly; "
                                         "SameSite=Lax; Max-Age=86400"},
        {"name": "set-cookie", "value": f"canary_set_jwt={set_jwt}; Path=/; Secure"},
        {"name": "set-cookie", "value": f"{c.session_id('set-cookie-nameless')}; Path=/; "
                                         "HttpOnly"},
    ]
    doc["response"].setdefault("cookies", []).extend([
        {"name": "canary_set", "value": set_plain, "path": "/", "httpOnly": True, "secure": True},
        {"name": "canary_set_jwt", "value": set_jwt, "path": "/", "secure": True},
    ])

    # --- Authorization (Bearer JWT) on every non-document request that has none ---------------
    bearer = c.jwt("authorization-bearer")
    for e in entries:
        if e is not doc and _header(e["request"], "authorization") is None:
            _set_header(e["request"], "authorization", f"Bearer {bearer}")
    # API-key-like headers, Proxy-Authorization, a JWT as a response header value
    _set_header(api_post["request"], "x-api-key", c.anthropic_key("x-api-key"))
    _set_header(api_post["request"], "statsig-api-key", c.token("statsig-api-key"))
    _set_header(api_post["request"], "x-honeycomb-team", c.token("x-honeycomb-team"))
    _set_header(api_post["request"], "api-key", c.token("api-key"))
    _set_header(api_post["request"], "x-auth-token", c.entropy("x-auth-token"))
    _set_header(api_post["request"], "x-csrf-token", c.token("x-csrf-token"))
    proxy_pw = c.token("proxy-authorization-password", quoted=False)
    proxy_basic = base64.b64encode(f"proxyuser:{proxy_pw}".encode()).decode()
    c.extra(Canary("proxy-authorization-basic", proxy_basic))
    _set_header(api_get["request"], "proxy-authorization", f"Basic {proxy_basic}")
    _set_header(api_get["response"], "x-request-context", c.jwt("response-header-jwt"))

    # --- Basic auth, on an entry of its own ----------------------------------------------------
    basic_entry = _clone(entries, api_get, "/api/basic-login")
    basic_pw = c.token("basic-password", quoted=False)
    basic = base64.b64encode(f"alice:{basic_pw}".encode()).decode()
    c.extra(Canary("authorization-basic", basic))
    _set_header(basic_entry["request"], "authorization", f"Basic {basic}")

    # --- token-like query parameters in request.url and queryString ----------------------------
    params = [
        ("access_token", c.token("query-access_token")),
        ("token", c.token("query-token", extra="/+=")),  # URL-encoded in the URL
        ("key", c.token("query-key")),
        ("code", c.token("query-code")),
        ("sig", c.entropy("query-sig")),
        ("api_key", c.github_token("query-api_key")),
        ("client_secret", c.token("query-client_secret")),
        ("id_token", c.jwt("query-id_token")),
        ("X-Amz-Signature", c.entropy("query-x-amz-signature")),
        ("page", "2"),
    ]
    url = urlsplit(api_get["request"]["url"])
    _with_url(api_get, urlunsplit(url._replace(query=urlencode(params))))
    api_get["request"]["queryString"] = [{"name": n, "value": v} for n, v in params]
    # Referer with a token query on the same entry; Location with code (query) and id_token
    # (fragment) on a redirect of its own
    _set_header(api_get["request"], "referer",
                f"{origin}/callback?access_token={c.token('referer-access_token')}&state=ok")
    redirect = _clone(entries, doc, f"/oauth/callback?code={c.token('redirect-url-code')}"
                                    "&state=af0ifjsldkj")
    redirect["response"].update(status=302, statusText="Found", cookies=[])
    redirect["response"]["headers"] = [
        h for h in redirect["response"]["headers"] if h["name"].lower() != "set-cookie"]
    _set_header(redirect["response"], "location",
                f"{origin}/home?code={c.token('location-code')}&state=af0ifjsldkj"
                f"#id_token={c.jwt('location-fragment-id_token')}")
    redirect["response"]["redirectURL"] = f"{origin}/home?code={c.token('location-redirectURL')}"
    # Chromium DevTools titles a page with its URL, query included
    har["log"].setdefault("pages", []).append({
        "id": "page_canary", "startedDateTime": doc["startedDateTime"],
        "title": f"{origin}/welcome?access_token={c.token('page-title-access_token')}&tab=1",
        "pageTimings": {"onContentLoad": -1, "onLoad": -1}})
    _set_header(redirect["response"], "content-type", "text/html")
    _set_text(redirect["response"]["content"], "")
    redirect["response"]["content"]["mimeType"] = "text/html"

    # --- JSON bodies: secret-named fields, nested and in arrays; JWT and vendor keys anywhere --
    post = api_post["request"]["postData"]
    body = _json_text(post["text"])
    body.update({
        "password": c.token("request-json-password"),
        "token": c.token("request-json-token"),
        "apiKey": c.token("request-json-apiKey"),
        "writeKey": c.token("request-json-writeKey"),
        "client_secret": c.token("request-json-client_secret"),
        "refresh_token": c.entropy("request-json-refresh_token"),
        "auth": {"nested": {"password": c.token("request-json-nested-password")}},
        "credentials": [{"kind": "pat", "token": c.github_token("request-json-array-token")}],
        "context": {"trace": c.jwt("request-json-innocent-key-jwt")},
    })
    post["text"] = json.dumps(body)
    content = api_get["response"]["content"]
    reply = _json_text(content.get("text"))
    reply.update({
        "access_token": c.jwt("response-json-access_token"),
        "refresh_token": c.entropy("response-json-refresh_token"),
        "session_id": c.token("response-json-session_id"),
        "apiKey": c.anthropic_key("response-json-apiKey"),
        "user": {"profile": {"password": c.token("response-json-nested-password")}},
        "keys": [{"name": "ci", "secret": c.token("response-json-array-secret")}],
        "meta": {"ctx": c.jwt("response-json-innocent-key-jwt"),
                 "note": c.github_token("response-json-innocent-key-ghp")},
    })
    _set_text(content, json.dumps(reply))

    # --- form bodies: urlencoded text with params, and params alone ----------------------------
    form = [("username", "alice"), ("password", c.token("form-text-password")),
            ("client_secret", c.token("form-text-client_secret")),
            ("refresh_token", c.entropy("form-text-refresh_token")), ("grant_type", "password")]
    for path, with_text in (("/oauth/token", True), ("/oauth/revoke", False)):
        twin = _clone(entries, api_post, path)
        if not with_text:
            form = [("token", c.token("form-params-token")),
                    ("password", c.token("form-params-password")), ("lang", "en")]
            # a key sent as the whole Authorization value, without a scheme
            _set_header(twin["request"], "authorization", c.anthropic_key("authorization-raw"))
        twin["request"]["postData"] = {
            "mimeType": "application/x-www-form-urlencoded",
            "params": [{"name": n, "value": v} for n, v in form],
            **({"text": urlencode(form)} if with_text else {}),
        }
        _set_header(twin["request"], "content-type", "application/x-www-form-urlencoded")

    # --- a JWT as a URL path segment ------------------------------------------------------------
    _clone(entries, api_get, f"/api/verify/{c.jwt('url-path-jwt')}/status")

    # --- SSE: the streaming request's options hold secrets; an event carries a key, a JWT and a
    # session token
    sse_post = sse["request"].get("postData") or {"mimeType": "application/json", "text": "{}"}
    options = _json_text(sse_post.get("text"))
    options.update({
        "reasoning": {"effort": "high", "api_key": c.token("stream-request-reasoning-api_key"),
                      "session_token": c.entropy("stream-request-reasoning-session_token")},
        "thinking": {"type": "enabled", "client_secret": c.token("stream-request-thinking-secret")},
        "deep_mode": "research", "stream": True,
    })
    sse_post["text"] = json.dumps(options)
    sse["request"]["postData"] = sse_post
    sse_content = sse["response"]["content"]
    assert sse_content.get("encoding") is None
    event = {"type": "canary_auth", "api_key": c.token("sse-event-api_key"),
             "ctx": c.jwt("sse-event-jwt"), "session_token": c.entropy("sse-event-session_token")}
    _set_text(sse_content, _insert_sse_event(sse_content["text"], json.dumps(event)))

    # --- WebSocket messages ---------------------------------------------------------------------
    ws = _clone(entries, api_get, f"/ws/socket?token={c.token('websocket-url-token')}")
    ws["request"]["url"] = ws["request"]["url"].replace("https://", "wss://", 1)
    ws["_resourceType"] = "websocket"
    ws["response"].update(status=101, statusText="Switching Protocols", cookies=[])
    ws["response"]["headers"] = [{"name": "upgrade", "value": "websocket"},
                                 {"name": "connection", "value": "Upgrade"}]
    _set_text(ws["response"]["content"], "")
    t0 = 1763980811.0
    ws["_webSocketMessages"] = [
        {"type": "send", "time": t0, "opcode": 1, "data": json.dumps(
            {"type": "auth", "token": c.token("websocket-send-token"),
             "password": c.token("websocket-send-password")})},
        {"type": "receive", "time": t0 + 0.05, "opcode": 1, "data": json.dumps(
            {"type": "welcome", "sessionToken": c.entropy("websocket-receive-sessionToken"),
             "ctx": c.jwt("websocket-receive-jwt")})},
        {"type": "send", "time": t0 + 0.1, "opcode": 1,
         "data": f"AUTH Bearer {c.token('websocket-send-text-bearer')}"},
        {"type": "receive", "time": t0 + 0.2, "opcode": 2, "data": base64.b64encode(
            f"key={c.token('websocket-binary-key', quoted=False)}".encode()).decode()},
    ]

    # --- the producer's _error text ---------------------------------------------------------------
    failed = _clone(entries, api_get, "/api/unreachable")
    failed["response"].update(status=0, statusText="", headers=[], cookies=[])
    _set_text(failed["response"]["content"], "")
    failed["response"]["_error"] = failed["_error"] = (
        f"net::ERR_CONNECTION_RESET fetching https://{host}/api/x?access_token="
        f"{c.token('error-url-access_token')} with Authorization: Bearer "
        f"{c.token('error-authorization')} and password={c.token('error-password')}")
    return har


# --------------------------------------------------------------------------------------------
# Running every command, and everything it wrote
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """Every output of a run of the CLI: (where, text) pairs, stdout and stderr apart."""

    outputs: list[tuple[str, str]] = field(default_factory=list)

    def cli(self, *args: str | Path, ok: tuple[int, ...] = (0,)) -> tuple[str, str]:
        argv = [str(a) for a in args]
        result = runner.invoke(app, argv, env=WIDE, catch_exceptions=False)
        label = " ".join(a if "/" not in a else Path(a).name for a in argv)
        assert result.exit_code in ok, f"{label}: exit {result.exit_code}\n{result.stderr}"
        self.outputs += [(f"`{label}` stdout", result.stdout), (f"`{label}` stderr", result.stderr)]
        return result.stdout, result.stderr


def run_every_command(run: Run, *, canary: Path, plain: Path, fresh: tuple[Path, Path],
                      store: Path, out: Path, unsafe: tuple[str, ...] = (),
                      every_analyze_mode: bool = True) -> None:
    """Every command and output format over ``canary`` (and ``plain``, the unplanted copy).

    ``fresh`` are two more copies of the canary capture with other bytes, never analysed before
    ``compare`` and ``diff`` name them: those commands analyse them on the fly. An output that
    only repeats another byte for byte (HTML on stdout and in ``-o``) is rendered once.
    """
    s = ("--store", store)
    run.cli("analyze", canary, *s, *unsafe)  # summary on stdout, warnings on stderr
    run.cli("analyze", canary, *s, *unsafe)  # cached: the summary comes from the store
    run.cli("analyze", canary, "--json", *s, *unsafe)  # cached document
    if every_analyze_mode:
        run.cli("analyze", canary, "--force", "--json", *s, *unsafe)
        run.cli("analyze", canary, "--force", "-q", *s, *unsafe)
    run.cli("analyze", canary, "--force", "--json", "-q", *s, *unsafe)
    run.cli("report", *s, *unsafe)  # the latest analysis, Markdown
    run_core_commands(run, canary=canary, plain=plain, store=store, out=out, unsafe=unsafe)
    run.cli("report", canary, "-f", "md", *s, *unsafe)
    run.cli("report", canary, "-f", "json", "-o", out / "report.json", *s, *unsafe)
    run.cli("report", canary, "plain", "-f", "md", "-o", out / "report-2.md", *s, *unsafe)
    run.cli("report", canary, "plain", "-f", "json", *s, *unsafe)
    run.cli("compare", canary, "plain", "-f", "md", *s, *unsafe)
    run.cli("compare", "plain", canary, "-f", "md", "-o", out / "compare.md", *s, *unsafe)
    run.cli("compare", "plain", canary, "-f", "html", "-o", out / "compare.html", *s, *unsafe)
    run.cli("compare", "plain", canary, "-f", "json", "-o", out / "compare.json", *s, *unsafe)
    run.cli("compare", fresh[0], plain, *s, *unsafe)  # analysed on the fly
    for fmt in ("text", "json", "md"):
        run.cli("diff", canary, "plain", "-f", fmt, "--fail-on", "none", *s, *unsafe)
    run.cli("diff", "plain", canary, "-f", "md", "--fail-on", "none", *s, *unsafe)
    run.cli("diff", plain, fresh[1], "--fail-on", "any", *s, *unsafe, ok=(0, 1))
    run.cli("list", *s)
    run.cli("rules", "list")
    run.cli("rules", "test", ok=(0, 1))


def run_core_commands(run: Run, *, canary: Path, plain: Path, store: Path, out: Path,
                      unsafe: tuple[str, ...] = ()) -> None:
    """One of each output kind: a fresh analysis, each report format (Markdown with its SVG
    assets), compare in the terminal and as JSON, diff as text and JSON, the list."""
    s = ("--store", store)
    run.cli("analyze", plain, "--name", "plain", *s, *unsafe)
    run.cli("list", *s)
    run.cli("report", canary, "-f", "md", "-o", out / "report.md", *s, *unsafe)  # + SVG assets
    run.cli("report", canary, "-f", "html", "-o", out / "report.html", *s, *unsafe)
    run.cli("report", canary, "-f", "json", *s, *unsafe)
    run.cli("compare", canary, "plain", "-f", "term", *s, *unsafe)
    run.cli("compare", canary, "plain", "-f", "json", *s, *unsafe)
    run.cli("diff", "plain", canary, "-f", "text", "--fail-on", "none", *s, *unsafe)
    run.cli("diff", "plain", canary, "-f", "json", "--fail-on", "none", *s, *unsafe)


def inflate_anywhere(data: bytes) -> Iterator[str]:
    """Text of every zlib stream that starts anywhere in ``data`` (even one cut short).

    Finds documents inside SQLite pages, WAL frames and freed pages, where a stream may be split
    across overflow pages; whatever inflates before the break is returned.
    """
    for match in re.finditer(rb"\x78[\x01\x5e\x9c\xda]", data):
        inflater = zlib.decompressobj()
        pieces: list[bytes] = []
        start = match.start()
        for offset in range(start, len(data), 256):  # small steps: keep what precedes a break
            try:
                pieces.append(inflater.decompress(data[offset:offset + 256]))
            except zlib.error:
                break
            if inflater.eof:
                break
        text = b"".join(pieces)
        if len(text) >= 16:
            yield text.decode("utf-8", "replace")


def _db_cells(path: Path) -> Iterator[tuple[str, str]]:
    """Every cell of every table of the SQLite database at ``path``, blobs decompressed."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for number, row in enumerate(conn.execute(f'SELECT * FROM "{table}"')):
                for cell in row:
                    where = f"{path.name} table {table} row {number}"
                    if isinstance(cell, bytes):
                        try:
                            yield f"{where} (decompressed)", zlib.decompress(cell).decode()
                        except zlib.error:
                            yield where, cell.decode("latin-1")
                    else:
                        yield where, str(cell)
    finally:
        conn.close()


def everything_written(run: Run, *roots: Path) -> list[tuple[str, str]]:
    """The run's outputs plus every file under ``roots``, databases opened and inflated."""
    found = list(run.outputs)
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            label = str(path.relative_to(root.parent))
            found.append((label, data.decode("latin-1")))
            if data.startswith(b"\x1f\x8b"):
                found.append((f"{label} (gunzipped)", gzip.decompress(data).decode("latin-1")))
            found += [(f"{label} (zlib stream)", text) for text in inflate_anywhere(data)]
            if data.startswith(b"SQLite format 3\x00"):
                found += list(_db_cells(path))
    return found


def leaks(canaries: Iterable[Canary], written: list[tuple[str, str]]) -> list[str]:
    """``position: form in where`` for every needle of every canary found in ``written``."""
    needles: dict[str, tuple[Canary, str]] = {}
    for canary in canaries:
        for form, needle in canary.needles().items():
            needles.setdefault(needle, (canary, form))
    pattern = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))
    hits: dict[tuple[str, str], set[str]] = {}
    for where, text in written:
        for match in pattern.finditer(text):
            canary, form = needles[match.group(0)]
            hits.setdefault((canary.position, form), set()).add(where)
    return [f"{position} ({form}) in {', '.join(sorted(places)[:6])}"
            + (f" … +{len(places) - 6}" if len(places) > 6 else "")
            for (position, form), places in sorted(hits.items())]


# --------------------------------------------------------------------------------------------
# The canary runs
# --------------------------------------------------------------------------------------------


def _har_sources(shared: Path) -> dict[str, Path]:
    alpha = shared / "captures" / "alpha"
    return {
        "alpha-chromium-h2": alpha / "chromium-h2" / "capture.har",
        "alpha-chromium-h3": alpha / "chromium-h3" / "capture.har",
        "alpha-mitmproxy": alpha / "mitmproxy" / "capture.har",
        "sample-chat-chromium-h2": SAMPLES / "chat-chromium-h2.har",
        "sample-chat-chromium-h1": SAMPLES / "chat-chromium-h1.har",
    }


@dataclass(slots=True)
class CanaryRun:
    canaries: list[Canary]
    run: Run
    written: list[tuple[str, str]]


def _canary_run(source: Path, tmp: Path, canaries: Canaries, *, unsafe: bool,
                light: bool = False) -> CanaryRun:
    """Plant ``source``, run every command in a fresh workspace, collect everything written."""
    inputs, ws, out = tmp / "in", tmp / "ws", tmp / "out"
    for d in (inputs, ws, out):
        d.mkdir(parents=True)
    har = json.loads(source.read_text())
    planted = plant_har(har, canaries)
    canary = inputs / "canary.har"
    canary.write_text(json.dumps(planted, indent=1))
    plain = inputs / "plain.har"
    plain.write_bytes(source.read_bytes())
    fresh = []
    for n in (1, 2):
        path = inputs / f"canary-{n}.har"
        path.write_text(json.dumps(planted, indent=n + 1))
        fresh.append(path)
    run = Run()
    flags = ("--unsafe-keep-secrets",) if unsafe else ()
    if light:  # another producer's HAR of an app already run in full: one of each output
        run.cli("analyze", canary, "--store", ws / "archcmp.db", *flags)
        run_core_commands(run, canary=canary, plain=plain, store=ws / "archcmp.db", out=out,
                          unsafe=flags)
    else:
        run_every_command(run, canary=canary, plain=plain, fresh=(fresh[0], fresh[1]),
                          store=ws / "archcmp.db", out=out, unsafe=flags)
    return CanaryRun(canaries.planted, run, everything_written(run, ws, out))


@pytest.fixture(scope="module", params=["alpha-chromium-h2", "alpha-chromium-h3",
                                        "alpha-mitmproxy", "sample-chat-chromium-h2",
                                        "sample-chat-chromium-h1"])
def har_run(request: pytest.FixtureRequest, shared: Path,
            tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    source = _har_sources(shared)[request.param]
    return _canary_run(source, tmp_path_factory.mktemp(request.param), Canaries(),
                       unsafe=False, light=request.param in ("alpha-chromium-h3",
                                                             "alpha-mitmproxy"))


def test_no_planted_secret_reaches_any_output(har_run: CanaryRun, shared: Path) -> None:
    found = leaks([*har_run.canaries, *truth_secrets(shared)], har_run.written)
    assert found == [], "planted secrets leaked:\n" + "\n".join(found)


def test_names_stay_visible(har_run: CanaryRun) -> None:
    """Redaction keeps the evidence: the planted names (not values) reach the outputs."""
    text = "\n".join(t for _, t in har_run.written)
    for name in ("canary_sid", "access_token=", "x-api-key", "Bearer", "Basic",
                 "/oauth/token", "websocket", "<redacted:sha256:"):
        assert name in text, name


# --------------------------------------------------------------------------------------------
# The canary can fire
# --------------------------------------------------------------------------------------------


def test_unsafe_keep_secrets_lets_the_canaries_out(shared: Path, tmp_path: Path) -> None:
    """With the flag the planted values are written: the same scan would see a leak."""
    source = _har_sources(shared)["alpha-chromium-h2"]
    canaries = Canaries()
    inputs, ws, out = tmp_path / "in", tmp_path / "ws", tmp_path / "out"
    for d in (inputs, ws, out):
        d.mkdir()
    canary, plain = inputs / "canary.har", inputs / "plain.har"
    canary.write_text(json.dumps(plant_har(json.loads(source.read_text()), canaries)))
    plain.write_bytes(source.read_bytes())
    run = Run()
    s, unsafe = ("--store", ws / "archcmp.db"), "--unsafe-keep-secrets"
    run.cli("analyze", canary, "--json", *s, unsafe)
    run.cli("analyze", plain, "-q", "--name", "plain", *s, unsafe)
    run.cli("report", canary, "-f", "json", "-o", out / "report.json", *s, unsafe)
    run.cli("report", canary, "-f", "html", *s, unsafe)
    run.cli("compare", canary, "plain", "-f", "json", *s, unsafe)
    run.cli("diff", "plain", canary, "-f", "json", "--fail-on", "none", *s, unsafe)
    found = leaks(canaries.planted, everything_written(run, ws, out))
    # Every secret archcmp quotes in the document (URLs, the producer's error text) is there,
    # in the outputs and in the stored document
    quoted = [c.position for c in canaries.planted
              if c.position.startswith(("query-", "error-", "url-path", "websocket-url",
                                        "redirect-url", "page-title"))]
    assert len(quoted) >= 15
    for position in quoted:
        hit = next((f for f in found if f.startswith(f"{position} (")), None)
        assert hit is not None, f"{position} not written even with --unsafe-keep-secrets"
        assert "(decompressed)" in hit or "+" in hit, hit  # the store holds it too
    assert any("out/report.json" in f for f in found)


def test_canary_fires_when_one_writer_skips_redaction(shared: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's writer with URL redaction and the document net switched off: the planted
    URLs reach the stored document, and the scan names them."""
    import archcmp.analyze.pipeline as pipeline

    monkeypatch.setattr(pipeline, "redact_document_in_place", lambda doc, redactor: None)
    monkeypatch.setattr(Redactor, "url", lambda self, url: url)
    source = _har_sources(shared)["sample-chat-chromium-h2"]
    canaries = Canaries()
    inputs, ws = tmp_path / "in", tmp_path / "ws"
    inputs.mkdir()
    canary = inputs / "canary.har"
    canary.write_text(json.dumps(plant_har(json.loads(source.read_text()), canaries)))
    run = Run()
    run.cli("analyze", canary, "-q", "--store", ws / "archcmp.db")
    found = leaks(canaries.planted, everything_written(run, ws))
    assert any(f.startswith("query-access_token (raw) in archcmp.db") for f in found), found
    assert any(f.startswith("url-path-jwt (raw)") for f in found), found


def test_the_scan_finds_every_form_of_a_secret() -> None:
    """URL-encoded, JSON-escaped and truncated quotes of a secret are leaks too."""
    c = Canaries()
    token = c.token("form", extra="/+=")
    high = c.entropy("entropy")
    assert leaks(c.planted, [("a", quote(token, safe=""))]) == ["form (url-encoded) in a"]
    assert leaks(c.planted, [("b", json.dumps(token).replace("/", "\\/"))]) == [
        "form (slash-escaped) in b"]
    assert leaks(c.planted, [("c", f"sample: {high[:30]!r}")]) == ["entropy (core 0) in c"]
    assert leaks(c.planted, [("d", "<redacted:sha256:0123456789ab>")]) == []


# --------------------------------------------------------------------------------------------
# The flag on one command does not open another
# --------------------------------------------------------------------------------------------


def test_secrets_kept_by_one_command_stay_out_of_the_others(shared: Path,
                                                             tmp_path: Path) -> None:
    """Analysed with --unsafe-keep-secrets, the document is stored as it was; every later
    command without the flag redacts it before showing it (the store itself is exempt: the
    user asked for the secrets to be kept there)."""
    source = _har_sources(shared)["alpha-chromium-h2"]
    canaries = Canaries()
    inputs, ws, out = tmp_path / "in", tmp_path / "ws", tmp_path / "out"
    for d in (inputs, ws, out):
        d.mkdir()
    planted = plant_har(json.loads(source.read_text()), canaries)
    canary, plain = inputs / "canary.har", inputs / "plain.har"
    canary.write_text(json.dumps(planted))
    plain.write_bytes(source.read_bytes())
    store = ws / "archcmp.db"
    keep = Run()
    keep.cli("analyze", canary, "-q", "--unsafe-keep-secrets", "--store", store)
    keep.cli("analyze", plain, "-q", "--name", "plain", "--unsafe-keep-secrets",
             "--store", store)
    assert leaks(canaries.planted, everything_written(keep, ws))  # kept, as asked
    run = Run()
    s = ("--store", store)
    run.cli("analyze", canary, *s)  # cached
    run.cli("analyze", canary, "--json", *s)
    run.cli("report", *s)
    for fmt in ("md", "html", "json"):
        run.cli("report", canary, "-f", fmt, "-o", out / f"r.{fmt}", *s)
        run.cli("compare", canary, "plain", "-f", fmt, *s)
        run.cli("diff", "plain", canary, "-f", {"md": "md", "html": "text", "json": "json"}[fmt],
                "--fail-on", "none", *s)
    run.cli("compare", canary, "plain", *s)
    found = leaks(canaries.planted, everything_written(run, out))
    assert found == [], "\n".join(found)
    # and with the flag again, they are there
    shown, _ = Run().cli("report", canary, "-f", "json", "--unsafe-keep-secrets", *s)
    assert leaks(canaries.planted, [("report", shown)])


# --------------------------------------------------------------------------------------------
# Packet captures: the alpha sessions over TLS and QUIC, and a cleartext one built here
# --------------------------------------------------------------------------------------------


def test_alpha_packet_captures_leak_nothing(shared: Path, tmp_path: Path) -> None:
    """chromium-h2 (TLS + HTTP/2), httpx-h1 (TLS + HTTP/1.1), chromium-h3 (QUIC + HTTP/3) and
    the others, each with its DSB key log: decrypted, analysed, reported, compared, diffed."""
    alpha = shared / "captures" / "alpha"
    inputs, ws, out = tmp_path / "in", tmp_path / "ws", tmp_path / "out"
    for d in (inputs, ws, out):
        d.mkdir()
    paths = {}
    for session in ("chromium-h2", "httpx-h1", "chromium-h3", "httpx-h2", "mitmproxy"):
        paths[session] = inputs / f"{session}.pcapng"
        paths[session].write_bytes((alpha / session / "capture-dsb.pcapng").read_bytes())
    run = Run()
    run_every_command(run, canary=paths["chromium-h2"], plain=paths["httpx-h1"],
                      fresh=(paths["chromium-h3"], paths["httpx-h2"]), store=ws / "archcmp.db",
                      out=out, every_analyze_mode=False)
    run.cli("analyze", paths["mitmproxy"], "--json", "--store", ws / "archcmp.db")
    keylog = inputs / "sslkeys.log"
    keylog.write_bytes((alpha / "chromium-h2" / "sslkeys.log").read_bytes())
    plain_pcap = inputs / "chromium-h2-plain.pcapng"
    plain_pcap.write_bytes((alpha / "chromium-h2" / "capture.pcapng").read_bytes())
    run.cli("analyze", plain_pcap, "--keylog", keylog, "--json", "--store", ws / "archcmp.db")
    # the TLS secrets of the key logs and DSBs decrypt the captures: they are secrets too
    tls_secrets = [Canary(f"{session} key log {line.split()[0]}", line.split()[2])
                   for session in paths
                   for line in (alpha / session / "sslkeys.log").read_text().splitlines()
                   if len(line.split()) == 3 and not line.startswith("#")]
    assert len(tls_secrets) >= 20
    written = everything_written(run, ws, out)
    found = leaks([*truth_secrets(shared), *tls_secrets], written)
    assert found == [], "planted secrets leaked:\n" + "\n".join(found)
    text = "\n".join(t for _, t in written)
    # the secrets were decrypted and read: their names are in the evidence
    for name in ("cookie sessionKey", "x-honeycomb-team", "statsig-api-key", "writeKey"):
        assert name in text, name


# A cleartext HTTP/1.1 + WebSocket capture, built byte by byte: secrets in headers, bodies and
# frames, and in the malformed lines that protocol warnings describe (a field line without a
# colon, a whitespace-led line, a token where a chunk size belongs, a text frame that is not
# UTF-8).


def _pcap(packets: list[tuple[float, bytes]]) -> bytes:
    """A classic pcap (libpcap 2.4, microseconds, Ethernet) of ``(time, frame)`` pairs."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, frame in packets:
        out.append(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(frame),
                               len(frame)))
        out.append(frame)
    return b"".join(out)


@dataclass(slots=True)
class _TcpConn:
    """One TCP connection's frames: handshake, data segments, FIN (checksums left zero, as
    offloading NICs capture them)."""

    client_port: int
    packets: list[tuple[float, bytes]]
    clock: list[float]
    seq: dict[bool, int] = field(default_factory=lambda: {True: 1000, False: 5000})

    def _frame(self, from_client: bool, flags: int, payload: bytes = b"") -> None:
        ports = (self.client_port, 80) if from_client else (80, self.client_port)
        addrs = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        src, dst = addrs if from_client else addrs[::-1]
        tcp = struct.pack("!HHIIBBHHH", *ports, self.seq[from_client],
                          self.seq[not from_client], 5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src,
                         dst) + tcp
        eth = (b"\x02\x00\x00\x00\x00\x02" if from_client else b"\x02\x00\x00\x00\x00\x01")
        eth += (b"\x02\x00\x00\x00\x00\x01" if from_client else b"\x02\x00\x00\x00\x00\x02")
        self.clock[0] += 0.001
        self.packets.append((self.clock[0], eth + b"\x08\x00" + ip))
        self.seq[from_client] += len(payload) + (1 if flags & 0x03 else 0)

    def open(self) -> _TcpConn:
        self._frame(True, 0x02)
        self._frame(False, 0x12)
        self._frame(True, 0x10)
        return self

    def send(self, from_client: bool, data: bytes) -> None:
        self._frame(from_client, 0x18, data)

    def close(self) -> None:
        self._frame(True, 0x11)
        self._frame(False, 0x11)
        self._frame(True, 0x10)


def _ws_frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """RFC 6455 §5.2: FIN, opcode, (mask), 7/16-bit length, payload (§5.3 XOR with the mask)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    size = bytes([length]) if length < 126 else bytes([126]) + struct.pack("!H", length)
    if not masked:
        return head + size + payload
    key = b"\x11\x22\x33\x44"
    return (head + bytes([0x80 | size[0]]) + size[1:] + key
            + bytes(b ^ key[i % 4] for i, b in enumerate(payload)))


def build_http1_pcap(c: Canaries, *, start: float = 1763980800.0) -> bytes:
    """Three cleartext connections carrying secrets in every position of issue 8 that HTTP/1.1
    has, plus the malformed lines that protocol warnings sample."""
    packets: list[tuple[float, bytes]] = []
    clock = [start]
    jwt, token, entropy = c.jwt, c.token, c.entropy
    host = "app.example"

    # 1: GET with cookies, Bearer, key headers, Referer, a token query and a malformed line;
    #    POST of a form, answered with a mis-framed chunked body whose "size" is a token
    one = _TcpConn(40001, packets, clock).open()
    one.send(True, (
        f"GET /api/items?access_token={token('pcap-query-access_token')}&page=2&"
        f"sig={entropy('pcap-query-sig')} HTTP/1.1\r\nHost: {host}\r\n"
        f"Cookie: sid={token('pcap-cookie')}; he={entropy('pcap-cookie-high-entropy')}\r\n"
        f"Authorization: Bearer {jwt('pcap-authorization-bearer')}\r\n"
        f"X-Api-Key: {c.anthropic_key('pcap-x-api-key')}\r\n"
        f"X-Auth-Token: {entropy('pcap-x-auth-token')}\r\n"
        f"Referer: http://{host}/cb?token={token('pcap-referer-token')}\r\n"
        f"X-Trace: one\r\n folded Cookie sid={token('pcap-obs-fold-value', quoted=False)}\r\n"
        f"X-Api-Key {token('pcap-invalid-line')}\r\n"
        f"Accept: application/json\r\n\r\n").encode())
    body = json.dumps({"items": [], "refresh_token": entropy("pcap-response-json-refresh"),
                       "apiKey": token("pcap-response-json-apiKey"),
                       "meta": {"ctx": jwt("pcap-response-json-jwt")}}).encode()
    one.send(False, (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Set-Cookie: sid={token('pcap-set-cookie')}; Path=/; HttpOnly; Secure\r\n"
        f"X-Request-Context: {jwt('pcap-response-header-jwt')}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    form = urlencode([("grant_type", "password"), ("username", "alice"),
                      ("password", token("pcap-form-password")),
                      ("client_secret", token("pcap-form-client_secret"))]).encode()
    basic = base64.b64encode(f"alice:{token('pcap-basic-password', quoted=False)}".encode())
    c.extra(Canary("pcap-proxy-authorization-basic", basic.decode()))
    one.send(True, (
        f"POST /oauth/token HTTP/1.1\r\nHost: {host}\r\n"
        f"Proxy-Authorization: Basic {basic.decode()}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\n\r\n").encode() + form)
    one.send(False, ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     f"{entropy('pcap-misframed-chunk-line')}\r\n").encode())
    one.close()

    # 2: a WebSocket: token in the URL, auth JSON, a text frame that is not UTF-8
    two = _TcpConn(40002, packets, clock).open()
    two.send(True, (
        f"GET /ws?token={token('pcap-websocket-url-token')} HTTP/1.1\r\nHost: {host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode())
    two.send(False, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    auth = json.dumps({"type": "auth", "token": token("pcap-websocket-token"),
                       "password": token("pcap-websocket-password")}).encode()
    two.send(True, _ws_frame(0x1, auth, masked=True))
    welcome = json.dumps({"type": "welcome", "sessionToken": entropy("pcap-websocket-session"),
                          "ctx": jwt("pcap-websocket-jwt")}).encode()
    two.send(False, _ws_frame(0x1, welcome, masked=False))
    bad = b"\xff\xfeAUTH " + entropy("pcap-websocket-bad-utf8").encode()
    two.send(True, _ws_frame(0x1, bad, masked=True))
    two.close()

    # 3: a whitespace-led line after the request line; an SSE reply with a key and a JWT
    three = _TcpConn(40003, packets, clock).open()
    three.send(True, (f"GET /api/stream HTTP/1.1\r\n  {token('pcap-leading-whitespace')}\r\n"
                      f"Host: {host}\r\nAccept: text/event-stream\r\n\r\n").encode())
    sse = (f'event: auth\ndata: {{"api_key": "{token("pcap-sse-api_key")}", '
           f'"ctx": "{jwt("pcap-sse-jwt")}"}}\n\nevent: done\ndata: {{}}\n\n').encode()
    three.send(False, (f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       f"Content-Length: {len(sse)}\r\n\r\n").encode() + sse)
    three.close()
    return _pcap(packets)


def test_cleartext_packet_capture_leaks_nothing(shared: Path, tmp_path: Path) -> None:
    inputs, ws, out = tmp_path / "in", tmp_path / "ws", tmp_path / "out"
    for d in (inputs, ws, out):
        d.mkdir()
    canaries = Canaries()
    canary = inputs / "canary.pcap"
    canary.write_bytes(build_http1_pcap(canaries))
    paths = []
    for n, start in enumerate((1763990000.0, 1764000000.0, 1764010000.0)):
        paths.append(inputs / f"other-{n}.pcap")
        paths[-1].write_bytes(build_http1_pcap(Canaries(), start=start))
    run = Run()
    run_every_command(run, canary=canary, plain=paths[0], fresh=(paths[1], paths[2]),
                      store=ws / "archcmp.db", out=out)
    written = everything_written(run, ws, out)
    found = leaks([*canaries.planted, *truth_secrets(shared)], written)
    assert found == [], "planted secrets leaked:\n" + "\n".join(found)
    document = json.loads(run.cli("report", canary, "-f", "json", "--store", ws / "archcmp.db")[0])
    codes = {w["code"] for w in document["capture"]["warnings"]}
    # the malformed lines were there and were described (without quoting them)
    assert {"http1.header.invalid_line", "http1.header.leading_whitespace",
            "http1.chunk.malformed", "websocket.text.bad_utf8"} <= codes, codes
    assert {s["transport"] for s in document["streams"]} == {"websocket", "sse"}


# --------------------------------------------------------------------------------------------
# Error lines and tracebacks
# --------------------------------------------------------------------------------------------


def test_error_lines_quote_no_secret(shared: Path, tmp_path: Path) -> None:
    """Cut, corrupt and unreadable inputs full of secrets fail in one line that quotes none."""
    source = _har_sources(shared)["alpha-chromium-h2"]
    canaries = Canaries()
    text = json.dumps(plant_har(json.loads(source.read_text()), canaries), indent=1)
    store = tmp_path / "ws" / "archcmp.db"
    bad = []
    for n, canary in enumerate(c for c in canaries.planted if c.value in text):
        at = text.index(canary.value)
        for cut in (at + len(canary.value) // 2, at + len(canary.value) + 1):
            path = tmp_path / f"cut-{n}-{cut}.har"
            path.write_text(text[:cut])  # ends inside (or right after) a secret
            bad.append(path)
        path = tmp_path / f"corrupt-{n}.har"
        path.write_text(text[:at + len(canary.value)] + "\x01" + text[at + len(canary.value):])
        bad.append(path)
        if n >= 5:
            break
    keylog = tmp_path / "keys.log"
    keylog.write_text("".join(f"CLIENT_RANDOM {c.value} {c.value}\n" for c in canaries.planted))
    runs = Run()
    for path in bad:
        runs.cli("analyze", path, "-q", "--store", store, ok=(2,))
    runs.cli("analyze", *bad[:3], "--store", store, ok=(2,))
    pcap = tmp_path / "c.pcap"
    pcap.write_bytes(build_http1_pcap(Canaries())[:-7])  # cut inside the last packet
    runs.cli("analyze", pcap, "--keylog", keylog, "--store", store, ok=(0, 2))
    jwt = Canaries().jwt("ref")
    runs.cli("report", jwt, "--store", store, ok=(2,))
    runs.cli("diff", f"access_token={canaries.planted[0].value}", jwt, "--store", store, ok=(2,))
    stderr = [(where, out) for where, out in runs.outputs if where.endswith("stderr")]
    assert all(out.startswith("error: ") or "warning" in out or not out for _, out in stderr)
    found = leaks([*canaries.planted, Canary("ref", jwt)], runs.outputs)
    assert found == [], "\n".join(found)


def _raise_from(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, message: str) -> None:
    """Make ``owner.name`` raise ValueError(message): a bug whose message quotes data."""

    def boom(*_args: object, **_kwargs: object) -> None:
        raise ValueError(message)

    monkeypatch.setattr(owner, name, boom)


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *args: str | Path) -> str:
    from archcmp.cli import main

    monkeypatch.setattr("sys.argv", ["archcmp", *(str(a) for a in args)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    return capsys.readouterr().err


def test_a_bugs_traceback_is_masked(shared: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An exception that is not archcmp's own keeps its traceback, masked: messages quote the
    values that broke the code, and the analysis's harvested cookies are masked there too."""
    c = Canaries()
    jwt, key = c.jwt("traceback-jwt"), c.anthropic_key("traceback-key")
    import archcmp.report.terminal as terminal

    _raise_from(monkeypatch, terminal, "print_rules",
                f"invalid literal for int() with base 10: {jwt!r} near x-api-key: {key}")
    err = _main(monkeypatch, capsys, "rules", "list")
    assert "Traceback (most recent call last)" in err and "ValueError" in err
    assert "internal error" in err
    assert leaks(c.planted, [("stderr", err)]) == []
    # a cookie value harvested by the running analysis, quoted by a bug that hits later
    source = _har_sources(shared)["sample-chat-chromium-h2"]
    canaries = Canaries()
    canary = tmp_path / "canary.har"
    canary.write_text(json.dumps(plant_har(json.loads(source.read_text()), canaries)))
    cookie = next(x.value for x in canaries.planted if x.position == "cookie-sid")
    _raise_from(monkeypatch, DocumentBuilder, "build",
                f"cannot build: unexpected {cookie}")
    err = _main(monkeypatch, capsys, "analyze", canary, "--store", tmp_path / "ws2" / "a.db")
    assert "cannot build: unexpected <redacted:sha256:" in err
    assert leaks(canaries.planted, [("stderr", err)]) == []
