"""How the app's API is cut: REST, GraphQL, JSON-RPC, gRPC-web, batchexecute, tRPC, form posts.

Each exchange is given at most one style, from the strongest wire-level signal it carries; a
style is claimed for the capture only with evidence a reviewer can check, counted. Signals, each
from the protocol's own specification:

* **gRPC-web / gRPC / Connect**: the media type. ``application/grpc-web[+proto|+json|-text]``
  (grpc/grpc ``doc/PROTOCOL-WEB.md``), ``application/grpc[+proto]`` (``doc/PROTOCOL-HTTP2.md``),
  ``application/connect+*`` or a ``Connect-Protocol-Version`` header (connectrpc.com/docs/protocol).
  The path ``/package.Service/Method`` names the operation.
* **batchexecute** (Google's RPC envelope for its web apps): ``…/batchexecute`` with an
  ``f.req`` form field or ``rpcids`` query key; ``rpcids`` name the operations.
* **GraphQL** (graphql.org "Serving over HTTP", GraphQL-over-HTTP draft): a JSON body
  ``{"query": "<document>", "operationName", "variables"}``, a GET ``?query=<document>``, an
  ``application/graphql`` body, or an Apollo automatic persisted query
  ``extensions.persistedQuery.sha256Hash`` (apollographql.com/docs/apollo-server/performance/apq);
  Relay-style ``doc_id``/``documentId`` bodies count only on a ``graphql`` path. A query document
  must look like one (starts with ``{``, ``query``, ``mutation``, ``subscription`` or
  ``fragment``), so an ordinary search parameter named ``query`` is not GraphQL.
* **JSON-RPC 2.0** (jsonrpc.org/specification §4): ``{"jsonrpc": "2.0", "method": …}`` requests
  or batches; MCP servers speak it ("Streamable HTTP" transport), so MCP method names are noted.
* **tRPC** (trpc.io/docs/rpc): a ``trpc`` path segment followed by procedure names, with
  ``?batch=1``/``?input=`` or a ``{"0": {"json": …}}`` body, or ``[{"result": {"data": …}}]``
  responses.
* **form-post**: POST/PUT with ``application/x-www-form-urlencoded`` or ``multipart/form-data``
  (HTML §4.10.21.7) and none of the above.
* **REST** (Fielding 2000, ch. 5): JSON on resource-like paths (nouns and ids, no verb
  operation names such as ``GetNavigationMenu2``), claimed only when ids appear in paths or
  JSON is written with POST/PUT/PATCH/DELETE, so a page fetching two JSON files is not "REST".

Path templating (``/api/organizations/{uuid}/chat_conversations``) lives here too
(:func:`template_path`), for the auth and data-model analysers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archcmp.analyze.kinds import media_type
from archcmp.classify.paths import classify_segment
from archcmp.classify.paths import template_path as classify_template_path
from archcmp.model import DecodedBody, Exchange, Observation

__all__ = [
    "STYLES",
    "ApiStyleAnalyzer",
    "json_body",
    "query_pairs",
    "segment_kind",
    "split_url",
    "template_path",
]

#: ``api_styles[].style`` vocabulary (analysis-schema.md) plus ``gRPC`` and ``connect-rpc``.
STYLES = ("REST", "GraphQL", "JSON-RPC", "gRPC-web", "gRPC", "connect-rpc", "batchexecute",
          "tRPC", "form-post")

#: Bodies parsed as JSON up to this size; API payloads worth classifying are far smaller, and
#: the cap bounds the work a hostile capture can cause.
MAX_JSON_BYTES = 4 << 20
#: Distinct templates, operations and hosts kept per style (the rest are counted only).
MAX_KEPT = 200
#: Examples printed in evidence and lists.
SHOWN = 10

# Path segment shapes, most specific first.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# ULID: 48-bit time + 80 random bits in Crockford base32; the first char is 0-7.
_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.I)
_INT = re.compile(r"^\d+$")
_HEX = re.compile(r"^[0-9a-f]{16,}$", re.I)
_PREFIXED = re.compile(r"^[A-Za-z]{1,20}[_-][A-Za-z0-9]{8,}$")
_OPAQUE = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_NOUN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_VERSION = re.compile(r"^v\d+(\.\d+)*$|^(api|rest|json|public|internal|backend-api)$", re.I)
# camelCase/PascalCase operation names: GetNavigationMenu2, getCurrentUser, get_strategy.
# The verb is matched case-insensitively, the next character case-sensitively: "documents" is a
# noun, "doSomething" an operation.
_VERB_OP = re.compile(
    r"^(?i:get|set|list|create|update|delete|remove|add|fetch|find|search|query|save|load|do|run|"
    r"execute|send|submit|check|validate|lookup)([A-Z_]|$)")
_GRAPHQL_DOC = re.compile(r"^\s*(#[^\n]*\n\s*)*(\{|(query|mutation|subscription|fragment)\b)")
_GRAPHQL_OP = re.compile(r"\b(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.:/$\-]{1,80}$")
_MCP_METHODS = frozenset({"initialize", "tools/list", "tools/call", "resources/list",
                          "resources/read", "prompts/list", "prompts/get",
                          "notifications/initialized"})
_FORM = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def segment_kind(segment: str) -> str | None:
    """The placeholder for an id-like path segment (``{uuid}``, ``{int}``…), None for a word.

    One id recogniser serves the whole analysis (:mod:`archcmp.classify.paths`), so API-style
    templates, data-model endpoints and the service map name the same path the same way.
    """
    match = classify_segment(segment)
    return match.placeholder if match is not None else None


def split_url(url: str) -> tuple[str | None, str, str]:
    """``(host, path, query)`` of a URL; path ``/`` when empty."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None, "/", ""
    return host, parts.path or "/", parts.query


def template_path(path: str) -> str:
    """Replace id-like segments with placeholders: ``/orgs/{uuid}/items/{int}``."""
    return classify_template_path(path)


def query_pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True)
    except ValueError:
        return []


def json_body(body: DecodedBody | None, mtype: str | None, *, sniff: bool = True) -> Any:
    """The body parsed as JSON, or None. Without a JSON media type, only when ``sniff`` is on
    and the bytes start like a JSON object or array (``text/plain`` beacons often carry JSON)."""
    if body is None or not body.data or len(body.data) > MAX_JSON_BYTES:
        return None
    if body.status not in ("ok", "already-decoded"):
        return None
    is_json = mtype is not None and (mtype.endswith("json") or mtype.endswith("+json"))
    if not is_json:
        if not sniff or (mtype is not None and not mtype.startswith("text/plain")
                         and mtype != "application/octet-stream"):
            return None
        if body.data.lstrip()[:1] not in (b"{", b"["):
            return None
    try:
        return json.loads(body.data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _form_pairs(body: DecodedBody | None, mtype: str | None) -> list[tuple[str, str]]:
    if body is None or not body.data or mtype != "application/x-www-form-urlencoded":
        return []
    if len(body.data) > MAX_JSON_BYTES:
        return []
    return query_pairs(body.data.decode("latin-1"))


def _request_media(ex: Exchange) -> str | None:
    mtype = media_type(ex.request_header("content-type"))
    if mtype is None and ex.request_body is not None:
        mtype = media_type(ex.request_body.mime_type)
    return mtype


def _response_media(ex: Exchange) -> str | None:
    mtype = media_type(ex.response_header("content-type"))
    if mtype is None and ex.response_body is not None:
        mtype = media_type(ex.response_body.mime_type)
    return mtype


class _Ctx:
    """One exchange as the detectors see it; each body is parsed at most once."""

    __slots__ = ("_req", "_resp", "ex", "host", "obs", "path", "query", "req_media",
                 "resp_media", "template")

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        self.ex = obs.exchange
        self.host, self.path, self.query = split_url(self.ex.url)
        self.template = template_path(self.path)
        self.req_media = _request_media(self.ex)
        self.resp_media = _response_media(self.ex)
        self._req: Any = _UNSET
        self._resp: Any = _UNSET

    def request_json(self) -> Any:
        if self._req is _UNSET:
            self._req = json_body(self.obs.request, self.req_media)
        return self._req

    def response_json(self) -> Any:
        """Only bodies declared JSON: a response's media type is the server's own claim."""
        if self._resp is _UNSET:
            self._resp = json_body(self.obs.response, self.resp_media, sniff=False)
        return self._resp


_UNSET = object()


@dataclass(slots=True)
class _Style:
    """Counters for one style; every list is capped at :data:`MAX_KEPT` entries."""

    exchanges: int = 0
    hosts: Counter[str] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    templates: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(method, template) → exchanges."""
    hashes: dict[str, None] = field(default_factory=dict)
    methods: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    with_ids: int = 0
    ok_writes: int = 0
    """POST/PUT/PATCH/DELETE answered 2xx."""
    anonymous: int = 0

    def add(self, c: _Ctx, signal: str) -> None:
        ex = c.ex
        self.exchanges += 1
        self.signals[signal] += 1
        self.methods[ex.method] += 1
        if ex.status is not None:
            self.statuses[ex.status] += 1
            self.ok_writes += ex.method in _WRITES and 200 <= ex.status < 300
        _bump(self.hosts, c.host or "?")
        _bump(self.templates, (ex.method, c.template))

    def operation(self, name: str) -> None:
        if _NAME.match(name):
            _bump(self.operations, name)


def _bump(counter: Counter[Any], key: Any) -> None:
    if key in counter or len(counter) < MAX_KEPT:
        counter[key] += 1


def _persisted_hash(extensions: str) -> str | None:
    """``extensions.persistedQuery.sha256Hash`` from a GET ``extensions=`` parameter."""
    try:
        value = json.loads(extensions)
    except (ValueError, RecursionError):
        return None
    query = value.get("persistedQuery") if isinstance(value, dict) else None
    found = query.get("sha256Hash") if isinstance(query, dict) else None
    return found if isinstance(found, str) else None


def _graphql_doc(value: Any) -> bool:
    return isinstance(value, str) and bool(_GRAPHQL_DOC.match(value))


def _graphql_ops(doc: str) -> list[str]:
    return [m.group(2) for m in _GRAPHQL_OP.finditer(doc[:20000])]


@dataclass(slots=True)
class ApiStyleAnalyzer:
    """Streaming analyser of API styles; ``result()`` gives ``{"api_styles": [...]}``.

    Each entry: ``style``, ``exchanges``, ``evidence`` (counted sentences), ``confidence``,
    ``hosts``, and where they apply ``operations`` (GraphQL operation names, JSON-RPC methods,
    tRPC procedures, gRPC ``Service/Method``, batchexecute rpcids), ``persisted_queries``
    (sha256 hashes), ``templates`` (``METHOD /path/{id}``) and ``methods``.
    """

    exclude: Callable[[Exchange], bool] | None = None
    """Exchanges to leave out, e.g. those a fingerprint rule attributes to a vendor, so an
    SDK's endpoints do not speak for the app's API."""
    _styles: dict[str, _Style] = field(default_factory=dict)
    _total: int = 0

    def _style(self, name: str) -> _Style:
        return self._styles.setdefault(name, _Style())

    def observe(self, obs: Observation) -> None:
        ex = obs.exchange
        if ex.status is None or (self.exclude is not None and self.exclude(ex)):
            return
        self._total += 1
        ctx = _Ctx(obs)
        for detect in (self._grpc, self._batchexecute, self._graphql, self._jsonrpc, self._trpc,
                       self._form, self._rest):
            if detect(ctx):
                return

    # Each detector returns True when it claimed the exchange.

    def _grpc(self, c: _Ctx) -> bool:
        ex = c.ex
        medias = (c.req_media or "", c.resp_media or "")
        if any(m.startswith("application/grpc-web") for m in medias) or ex.request_header(
                "x-grpc-web"):
            style, signal = "gRPC-web", "application/grpc-web* media type"
        elif any(m in ("application/grpc", "application/grpc+proto", "application/grpc+json")
                 for m in medias):
            style, signal = "gRPC", "application/grpc media type"
        elif any(m.startswith("application/connect+") for m in medias) or ex.request_header(
                "connect-protocol-version"):
            style, signal = "connect-rpc", "Connect protocol (connect-protocol-version header or "\
                "application/connect+* media type)"
        else:
            return False
        s = self._style(style)
        s.add(c, signal)
        parts = [p for p in c.path.split("/") if p]
        if len(parts) >= 2 and "." in parts[-2]:
            s.operation(f"{parts[-2]}/{parts[-1]}")
        return True

    def _batchexecute(self, c: _Ctx) -> bool:
        if not c.path.rstrip("/").endswith("/batchexecute"):
            return False
        qs = query_pairs(c.query)
        form = _form_pairs(c.obs.request, c.req_media)
        if not any(k == "f.req" for k, _ in form) and not any(k == "rpcids" for k, _ in qs):
            return False
        s = self._style("batchexecute")
        s.add(c, "/batchexecute with f.req form field or rpcids")
        for key, value in qs:
            if key == "rpcids":
                for rpc in value.split(","):
                    s.operation(rpc.strip())
        return True

    def _graphql(self, c: _Ctx) -> bool:
        ex = c.ex
        graphql_path = "graphql" in c.path.lower()
        signal: str | None = None
        ops: list[str] = []
        hashes: list[str] = []
        anonymous = 0
        body = c.request_json() if c.ex.method != "GET" else None
        docs = body if isinstance(body, list) else [body]
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            persisted = doc.get("extensions", {}).get("persistedQuery") if isinstance(
                doc.get("extensions"), dict) else None
            if _graphql_doc(doc.get("query")):
                signal = f'{ex.method} JSON body {{"query": <GraphQL document>}}'
            elif isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
                signal = "persisted query (extensions.persistedQuery.sha256Hash)"
            elif graphql_path and isinstance(doc.get("variables"), dict | str) and any(
                    isinstance(doc.get(k), str | int) for k in ("doc_id", "documentId", "queryId",
                                                                "id")):
                signal = "persisted document id with variables on a graphql path"
            else:
                continue
            if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
                hashes.append(persisted["sha256Hash"])
            name = doc.get("operationName")
            if isinstance(name, str) and name:
                ops.append(name)
            elif _graphql_doc(doc.get("query")):
                named = _graphql_ops(doc["query"])
                ops.extend(named[:1])
                anonymous += not named
        if signal is None and c.req_media == "application/graphql":
            signal = "application/graphql request body"
            if c.obs.request is not None and c.obs.request.data:
                named = _graphql_ops(c.obs.request.data[:20000].decode("utf-8", "replace"))
                ops.extend(named[:1])
                anonymous += not named
        if signal is None:
            qs = dict(query_pairs(c.query))
            ext = qs.get("extensions", "")
            if _graphql_doc(qs.get("query")):
                signal = "GET ?query=<GraphQL document>"
                named = _graphql_ops(qs["query"])
                ops.extend(named[:1])
                anonymous += not named
            elif "persistedQuery" in ext and "sha256Hash" in ext:
                signal = "GET ?extensions= with persistedQuery.sha256Hash"
                found = _persisted_hash(ext)
                if found is not None:
                    hashes.append(found)
            if signal is not None and qs.get("operationName"):
                ops = [qs["operationName"]]
                anonymous = 0
        if signal is None:
            return False
        s = self._style("GraphQL")
        s.add(c, signal)
        for op in ops:
            s.operation(op)
        s.anonymous += anonymous
        for h in hashes:
            if isinstance(h, str) and _SHA256.match(h) and len(s.hashes) < MAX_KEPT:
                s.hashes[h] = None
        resp = c.response_json()
        if isinstance(resp, dict) and ("data" in resp or "errors" in resp):
            s.signals['response {"data"|"errors"}'] += 1
        return True

    def _jsonrpc(self, c: _Ctx) -> bool:
        body = c.request_json()
        calls = [call for call in (body if isinstance(body, list) else [body])
                 if isinstance(call, dict) and call.get("jsonrpc") == "2.0"
                 and isinstance(call.get("method"), str)]
        if not calls:
            return False
        s = self._style("JSON-RPC")
        s.add(c, '{"jsonrpc": "2.0", "method": …} request' + (" batch" if len(calls) > 1 else ""))
        for call in calls:
            s.operation(call["method"])
        return True

    def _trpc(self, c: _Ctx) -> bool:
        parts = [p for p in c.path.split("/") if p]
        if "trpc" not in parts or parts.index("trpc") == len(parts) - 1:
            return False
        procedures = parts[parts.index("trpc") + 1]
        if not re.fullmatch(r"[\w.\-]+(,[\w.\-]+)*", procedures):
            return False
        keys = {k for k, _ in query_pairs(c.query)}
        body = c.request_json()
        resp = c.response_json()
        first = resp[0] if isinstance(resp, list) and resp else resp
        if keys & {"batch", "input"}:
            signal = "trpc path with ?batch=/?input="
        elif isinstance(body, dict) and (isinstance(body.get("0"), dict) or "json" in body):
            signal = 'trpc path with {"0": …}/{"json": …} body'
        elif isinstance(first, dict) and isinstance(first.get("result"), dict) and (
                "data" in first["result"]):
            signal = 'trpc path with {"result": {"data": …}} response'
        else:
            return False
        s = self._style("tRPC")
        s.add(c, signal)
        for proc in procedures.split(","):
            s.operation(proc)
        return True

    def _form(self, c: _Ctx) -> bool:
        if c.ex.method not in ("POST", "PUT") or c.req_media not in _FORM:
            return False
        self._style("form-post").add(c, f"{c.req_media} request body")
        return True

    def _rest(self, c: _Ctx) -> bool:
        ex = c.ex
        segments = [s for s in c.path.split("/") if s]
        if not segments:
            return False
        nouns = 0
        ids = 0
        for seg in segments:
            if segment_kind(seg):
                ids += 1
            elif _VERB_OP.match(seg) or not _NOUN.match(seg):
                return False
            elif not _VERSION.match(seg):
                nouns += 1
        if not nouns:
            return False
        req_json = c.request_json() is not None
        resp_json = c.response_json() is not None
        if not (req_json or resp_json or (ex.method == "DELETE" and 200 <= (ex.status or 0) < 300)):
            return False
        s = self._style("REST")
        s.add(c, "JSON on a resource path")
        s.with_ids += ids > 0
        return True

    # ------------------------------------------------------------------ result

    def result(self) -> dict[str, Any]:
        """Claimed styles in :data:`STYLES` order.

        REST and form posts are also what third-party SDKs speak (feature-flag and analytics
        endpoints are JSON on noun paths; some analytics beacons are form posts), so beside a
        wire-level RPC style they are claimed only when they look like the app's own: REST with
        one resource used by several methods, form posts when they outnumber every other style.
        """
        rpc = {name: self._entry(name, s) for name, s in self._styles.items()
               if name not in ("REST", "form-post")}
        claimed: dict[str, dict[str, Any]] = dict(rpc)
        rest = self._styles.get("REST")
        if rest is not None:
            entry = self._rest_entry(rest, beside_rpc=bool(rpc))
            if entry is not None:
                claimed["REST"] = entry
        forms = self._styles.get("form-post")
        if forms is not None and forms.exchanges >= max(
                (e["exchanges"] for e in claimed.values()), default=0):
            claimed["form-post"] = self._entry("form-post", forms)
        return {"api_styles": [claimed[name] for name in STYLES if name in claimed]}

    def _base(self, name: str, s: _Style, confidence: float, evidence: list[str]) -> dict[str, Any]:
        return {
            "style": name,
            "exchanges": s.exchanges,
            "confidence": round(min(confidence, 0.99), 2),
            "evidence": evidence,
            "hosts": [h for h, _ in s.hosts.most_common(SHOWN)],
            "methods": dict(s.methods.most_common()),
            "templates": [f"{m} {t}" for (m, t), _ in s.templates.most_common(SHOWN)],
            "operations": [op for op, _ in s.operations.most_common(50)],
        }

    def _entry(self, name: str, s: _Style) -> dict[str, Any]:
        evidence = [f"{signal} on {n}/{self._total} exchanges"
                    for signal, n in s.signals.most_common()]
        if s.operations:
            shown = ", ".join(op for op, _ in s.operations.most_common(SHOWN))
            label = {"JSON-RPC": "methods", "tRPC": "procedures", "batchexecute": "rpcids"}.get(
                name, "operations")
            evidence.append(f"{len(s.operations)} {label}: {shown}")
        if s.anonymous:
            evidence.append(f"{s.anonymous} anonymous operations")
        entry = self._base(name, s, 0.95 if name != "form-post" else 0.9, evidence)
        if name == "GraphQL":
            entry["persisted_queries"] = list(s.hashes)
            if s.hashes:
                evidence.append(f"{len(s.hashes)} persisted-query sha256 hashes")
        if name == "JSON-RPC":
            mcp = sorted(set(s.operations) & _MCP_METHODS)
            if mcp:
                entry["protocol"] = "MCP"
                evidence.append("Model Context Protocol methods: " + ", ".join(mcp))
        return entry

    def _rest_entry(self, s: _Style, *, beside_rpc: bool) -> dict[str, Any] | None:
        """REST needs a resource shape: one template used by several methods, ids in at least
        two templates, or ids plus successful writes; beside an RPC style, the first only."""
        resources = {t for _, t in s.templates}
        multi = _multi_method(s.templates)
        id_templates = sum(1 for t in resources if "{" in t)
        strong = bool(multi) or id_templates >= 2 or (s.with_ids > 0 and s.ok_writes > 0)
        if s.exchanges < 2 or not strong or (beside_rpc and not multi):
            return None
        # Examples: templates with id placeholders first, as they show the resource shape.
        examples = sorted(resources, key=lambda t: (-t.count("{"), -len(t)))[:3]
        evidence = [f"JSON on {s.exchanges}/{self._total} exchanges across {len(resources)} "
                    "resource paths (e.g. " + ", ".join(examples) + ")",
                    "methods " + ", ".join(f"{m} {n}" for m, n in s.methods.most_common())]
        confidence = 0.6
        if s.with_ids:
            evidence.append(f"ids in path segments on {s.with_ids} exchanges")
            confidence += 0.15
        if multi:
            evidence.append("one resource, several methods: " + "; ".join(
                f"{t} ({', '.join(ms)})" for t, ms in multi[:3]))
            confidence += 0.15
        created = {code: n for code, n in s.statuses.items() if code in (201, 202, 204)}
        if created:
            evidence.append(", ".join(f"{n}× {code}" for code, n in sorted(created.items()))
                            + " on writes")
            confidence += 0.05
        return self._base("REST", s, confidence, evidence)


def _resource_family(template: str) -> str:
    """A collection and its items are one resource: ``/threads`` and ``/threads/{id}`` are both
    ``/threads[/…]`` (POST to the collection creates, DELETE on an item removes)."""
    head, _, last = template.rpartition("/")
    return f"{head if head and '{' in last else template}[/…]"


def _multi_method(templates: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    by_template: dict[str, set[str]] = {}
    for method, template in templates:
        by_template.setdefault(_resource_family(template), set()).add(method)
    return sorted(((t, sorted(ms)) for t, ms in by_template.items() if len(ms) > 1),
                  key=lambda kv: (-len(kv[1]), kv[0]))
