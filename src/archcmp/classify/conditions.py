"""Compiled rule conditions and the per-exchange facts they are matched against.

A rule (``rules/<area>/<stem>.yaml``) is a list of *conditions*; each is one *leaf* (a header, a
cookie name, a host, ...) or an ``all:`` group of leaves that must hold in the same exchange.
:class:`ExchangeFacts` turns one :class:`~archcmp.model.Observation` into the lowercased,
capped lookups the leaves need, once, so the engine can find candidate leaves by dictionary
lookup instead of trying every rule on every header.

Linear-time matching
--------------------
Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` can take exponential time on a
hostile header. Two defences, both applied:

1. :func:`~archcmp.classify.regex_shape.unsafe_regex_shape` rejects, at load time, the shapes
   that cause catastrophic backtracking: a repeat of a group that holds a variable-length
   repeat or an alternation (``(a+)+``, ``(a|ab)*``, ``(.*a){20}``), unbounded repeats that
   can match the same characters side by side (``\\w*\\w*``, ``.*a.*b``), and backreferences.
   What is left is at worst quadratic (one repeat, tried from every start).
2. Every subject is capped before matching (:data:`MAX_HEADER_VALUE` for header values,
   :data:`MAX_BODY_SCAN` for bodies), so that polynomial has a small, fixed bound.

Secrets
-------
Evidence quotes values only where the rule allows it (``quote``) *and* the field name does not
look like a credential (:func:`secret_name`): cookie values, API keys and tokens never reach a
finding. Cookie conditions match *names* only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from archcmp.analyze.infra import split_list
from archcmp.classify.regex_shape import unsafe_regex_shape
from archcmp.model import DecodedBody, Exchange, Observation, StreamEvent

__all__ = [
    "KINDS",
    "LIST_HEADERS",
    "MAX_BODY_SCAN",
    "MAX_HEADER_VALUE",
    "Condition",
    "ExchangeFacts",
    "Hit",
    "Leaf",
    "secret_name",
    "site_of",
    "split_list",
    "unsafe_regex_shape",
]

#: Condition kinds, in the order the schema lists them.
KINDS = (
    "response_header",
    "request_header",
    "cookie",
    "host",
    "path",
    "query_key",
    "json_key",
    "sse_event",
    "content_type",
    "body",
    "method",
)

Where = Literal["request", "response", "any", "events", "url", "body"]

#: Header values are cut to this many characters before a pattern sees them (8 KiB: far above
#: any real vendor header; Cloudflare and most servers reject header blocks beyond 8-32 KiB).
MAX_HEADER_VALUE = 8 * 1024
#: Bodies: only this prefix is parsed as JSON or scanned by ``body`` patterns (1 MiB).
MAX_BODY_SCAN = 1024 * 1024
#: JSON arrays are walked only this far when a dotted path crosses them.
MAX_JSON_LIST = 50
#: Stream events whose ``data`` is parsed as JSON for ``json_key`` with ``in: events``.
MAX_EVENTS_PARSED = 200
#: Cookies and query parameters considered per exchange.
MAX_NAMES = 200

#: Headers whose value is a comma-separated list (RFC 9110 §5.6.1) in which each element is one
#: hop's or one cache's report: patterns are matched per element and the element's position is
#: kept (Via order is what places hops in the infrastructure chain, RFC 9110 §7.6.3).
LIST_HEADERS = frozenset({
    "via", "x-served-by", "x-cache", "x-cache-hits", "server-timing", "cache-status",
    "akamai-cache-status", "baggage", "tracestate",
})

_SECRET_NAME = re.compile(
    r"auth|cookie|key|token|secret|sess|passw|signature|credential|team|csrf|xsrf|jwt|bearer",
    re.IGNORECASE,
)
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.")


def secret_name(name: str) -> bool:
    """True when a header, cookie or JSON key name suggests its value is a credential."""
    return _SECRET_NAME.search(name) is not None


def _quotable_value(value: str) -> bool:
    return len(value) <= 120 and _JWT_LIKE.search(value) is None


def site_of(host: str) -> str:
    """An approximation of the registrable domain ("site") of ``host``.

    Without the Public Suffix List: the last two labels, or three when the second-level label
    is a short generic one under a two-letter country code (``co.uk``, ``com.au``). IP
    addresses and single-label names (``localhost``) are their own site.
    """
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in {"co", "com", "net", "org", "gov", "ac", "edu",
                                                "ne", "or", "go"}:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


# --- leaves and conditions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """What one leaf matched in one exchange."""

    name: str
    """The header/cookie/key name as matched (lowercased headers; cookies as sent)."""
    value: str | None
    """The matched value (header value element, host, path, JSON scalar), for evidence."""
    position: tuple[int, int] | None = None
    """(element index, element count) within a list-valued header."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """One test on one exchange. Built by :mod:`archcmp.classify.rules`, never by hand."""

    kind: str
    name: str
    """Header name (lowercase; a trailing ``*`` makes it a prefix), query/JSON key, SSE event
    type, method, or the pattern text for ``cookie``/``host``/``path``/``content_type``/
    ``body``."""
    pattern: re.Pattern[str] | None
    """The compiled value pattern (or the kind's own pattern for host, path, ...)."""
    where: Where = "any"
    quote: bool = False
    """Evidence may quote the matched value (never for secrets; see :func:`secret_name`)."""
    exclude: frozenset[str] = frozenset()
    """For a prefix (``x-envoy-*``): header names another condition of the rule names
    exactly, so one header is not counted twice."""

    @property
    def prefix(self) -> bool:
        return self.name.endswith("*") and self.kind in ("response_header", "request_header")

    @property
    def unit(self) -> str:
        """What the evidence counts: responses for response-side facts, else requests."""
        if self.kind == "response_header" or (self.kind in ("content_type", "json_key", "body")
                                              and self.where == "response"):
            return "responses"
        if self.kind == "sse_event" or (self.kind == "json_key" and self.where == "events"):
            return "streams"
        return "requests"

    def may_quote(self, name: str) -> bool:
        return self.quote and not secret_name(name) and self.kind != "cookie"

    def label(self, name: str, value: str | None) -> str:
        """A short description of what matched, without counts."""
        shown = value if (value is not None and self.may_quote(name)
                          and _quotable_value(value)) else None
        side = {"request": "request", "response": "response", "events": "stream event"}.get(
            self.where, "")
        match self.kind:
            case "response_header":
                return f"{name}: {shown}" if shown is not None else name
            case "request_header":
                return (f"{name}: {shown} (request header)" if shown is not None
                        else f"{name} request header")
            case "cookie":
                return f"cookie {name} (name only)"
            case "host":
                return f"host {value}"
            case "path":
                return f"path {value}"
            case "query_key":
                base = f"query parameter {name}"
                return f"{base}={shown}" if shown is not None else base
            case "json_key":
                base = f"{side} body key {name}".strip()
                return f"{base}: {shown}" if shown is not None else base
            case "sse_event":
                return f"stream event type {name}"
            case "content_type":
                return f"content-type {value}"
            case "body":
                return f"{side} body matches /{self.name[:40]}/".strip()
            case _:
                return f"method {name}"

    def match(self, facts: ExchangeFacts) -> Hit | None:
        """Test this leaf on one exchange (used for ``all:`` groups and ``unless``)."""
        match self.kind:
            case "response_header" | "request_header":
                headers = (facts.response_headers if self.kind == "response_header"
                           else facts.request_headers)
                if self.prefix:
                    stem = self.name[:-1]
                    for hname, values in headers.items():
                        if hname.startswith(stem) and hname not in self.exclude:
                            hit = self.match_header(hname, values)
                            if hit is not None:
                                return hit
                    return None
                found = headers.get(self.name)
                return self.match_header(self.name, found) if found else None
            case "cookie":
                return next(self.match_cookies(facts.cookie_names), None)
            case "host":
                assert self.pattern is not None
                return Hit(facts.host, facts.host) if self.pattern.search(facts.host) else None
            case "path":
                # Evidence shows only the matched part of the path: the rest may hold ids or
                # tokens (a New Relic path carries the browser licence key).
                assert self.pattern is not None
                m = self.pattern.search(facts.path)
                return Hit(m.group(0), m.group(0)) if m else None
            case "query_key":
                return self.match_query(facts)
            case "json_key":
                return self.match_json(facts)
            case "sse_event":
                return Hit(self.name, None) if self.name in facts.event_types else None
            case "content_type":
                return self.match_content_type(facts)
            case "body":
                return self.match_body(facts)
            case _:
                return Hit(facts.method, facts.method) if facts.method == self.name else None

    def match_header(self, name: str, values: list[str]) -> Hit | None:
        if self.pattern is None:
            return Hit(name, values[0])
        if name in LIST_HEADERS:
            elements = [e for v in values for e in split_list(v)]
            for idx, element in enumerate(elements):
                if self.pattern.search(element):
                    return Hit(name, element, (idx, len(elements)))
            return None
        for value in values:
            if self.pattern.search(value):
                return Hit(name, value)
        return None

    def match_cookies(self, names: Iterator[str] | list[str]) -> Iterator[Hit]:
        assert self.pattern is not None
        for cname in names:
            if self.pattern.fullmatch(cname):
                yield Hit(cname, None)

    def match_query(self, facts: ExchangeFacts) -> Hit | None:
        sources: list[Mapping[str, list[str]]] = []
        if self.where in ("url", "any"):
            sources.append(facts.query)
        if self.where in ("body", "any"):
            sources.append(facts.form)
        for source in sources:
            values = source.get(self.name)
            if values is None:
                continue
            if self.pattern is None:
                return Hit(self.name, values[0])
            for value in values:
                if self.pattern.search(value[:MAX_HEADER_VALUE]):
                    return Hit(self.name, value)
        return None

    def match_json(self, facts: ExchangeFacts) -> Hit | None:
        docs: list[Any] = []
        if self.where in ("request", "any"):
            docs.append(facts.request_json)
        if self.where in ("response", "any"):
            docs.append(facts.response_json)
        if self.where == "events":
            docs.extend(facts.event_json)
        segments = self.name.split(".")
        for doc in docs:
            if doc is None:
                continue
            for found in _walk(doc, segments):
                if self.pattern is None:
                    return Hit(self.name, None)
                if isinstance(found, (dict, list)):
                    continue
                text = _scalar_text(found)
                if self.pattern.search(text[:MAX_HEADER_VALUE]):
                    return Hit(self.name, text)
        return None

    def match_content_type(self, facts: ExchangeFacts) -> Hit | None:
        assert self.pattern is not None
        types: list[str] = []
        if self.where in ("response", "any"):
            types.append(facts.response_content_type)
        if self.where in ("request", "any"):
            types.append(facts.request_content_type)
        for ctype in types:
            if ctype and self.pattern.search(ctype):
                return Hit("content-type", ctype)
        return None

    def match_body(self, facts: ExchangeFacts) -> Hit | None:
        assert self.pattern is not None
        texts: list[str | None] = []
        if self.where in ("request", "any"):
            texts.append(facts.request_text)
        if self.where in ("response", "any"):
            texts.append(facts.response_text)
        for text in texts:
            if text and self.pattern.search(text):
                return Hit("body", None)
        return None


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _walk(node: Any, segments: list[str]) -> Iterator[Any]:
    """Values at a dotted path; lists on the way are crossed element by element."""
    if not segments:
        yield node
        return
    if isinstance(node, list):
        for item in node[:MAX_JSON_LIST]:
            yield from _walk(item, segments)
        return
    if isinstance(node, dict):
        head = segments[0]
        if head in node:
            yield from _walk(node[head], segments[1:])


@dataclass(frozen=True, slots=True)
class Condition:
    """One weighted condition of a rule: a leaf, or an ``all:`` group of leaves."""

    leaves: tuple[Leaf, ...]
    weight: float
    supporting: bool = False
    """Counts only when a non-supporting condition of the same rule matched in the capture."""
    propagated: bool = False
    """The vendor's context riding on the app's own requests (a trace header): evidence of the
    vendor, but it does not make the request one *to* the vendor (no service attribution)."""
    evidence: str | None = None
    """Template: ``{n}`` matches of ``{total}`` requests or responses, ``{unit}`` (plural
    unless n is 1), ``{value}`` (only where quoting is allowed), ``{name}``, ``{hosts}``."""
    line: int = 0
    composite: bool = False


# --- per-exchange facts ---------------------------------------------------------------------


def _body_bytes(decoded: DecodedBody | None, exchange: Exchange, request: bool) -> bytes | None:
    if decoded is not None:
        if decoded.status in ("ok", "already-decoded") and decoded.data is not None:
            return decoded.data
        return None
    body = exchange.request_body if request else exchange.response_body
    # No decoded body was handed in: use the stored bytes only when they are known to be
    # decoded (no coding declared, or the producer says it stored decoded bodies).
    if body is not None and body.data is not None and (not body.content_encoding
                                                        or body.producer_decoded):
        return body.data
    return None


def _headers(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append(value[:MAX_HEADER_VALUE])
    return out


def _cookie_names(request: dict[str, list[str]], response: dict[str, list[str]]) -> list[str]:
    """Cookie names of ``Cookie`` and ``Set-Cookie``; a pair without ``=`` is a nameless
    cookie's value (RFC 6265bis §5.6), a credential, never a name to match or quote."""
    names: list[str] = []
    for line in request.get("cookie", ()):
        for part in line.split(";"):
            cname, eq, _ = part.partition("=")
            if eq and cname.strip():
                names.append(cname.strip())
    for line in response.get("set-cookie", ()):
        cname, eq, _ = line.split(";", 1)[0].partition("=")
        if eq and cname.strip():
            names.append(cname.strip())
    return list(dict.fromkeys(names))[:MAX_NAMES]


def _media_type(value: str | None) -> str:
    return value.split(";", 1)[0].strip().lower() if value else ""


@dataclass(slots=True)
class ExchangeFacts:
    """Lookups over one exchange, computed once; bodies are parsed only when asked for."""

    index: int
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    request_headers: dict[str, list[str]]
    response_headers: dict[str, list[str]]
    cookie_names: list[str]
    has_response: bool
    event_types: frozenset[str]
    request_content_type: str
    response_content_type: str
    _request_body: bytes | None = None
    _response_body: bytes | None = None
    _events: tuple[StreamEvent, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_observation(cls, obs: Observation) -> ExchangeFacts:
        ex = obs.exchange
        try:
            parts = urlsplit(ex.url)
            host, path, raw_query = (parts.hostname or "").lower(), parts.path, parts.query
        except ValueError:  # "http://[::1/x" (an unclosed IPv6 bracket), as the analysers do
            host, path, raw_query = "", "", ""
        req = _headers(ex.request_headers)
        resp = _headers(ex.response_headers)
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True)[:MAX_NAMES]:
            query.setdefault(key, []).append(value)
        events = obs.events or ex.events
        req_ctype = req.get("content-type", [""])[0]
        resp_ctype = resp.get("content-type", [""])[0]
        if not resp_ctype and ex.response_body is not None:
            resp_ctype = ex.response_body.mime_type or ""
        if not req_ctype and ex.request_body is not None:
            req_ctype = ex.request_body.mime_type or ""
        return cls(
            index=ex.index,
            method=ex.method.upper(),
            host=host,
            path=path or "/",
            query=query,
            request_headers=req,
            response_headers=resp,
            cookie_names=_cookie_names(req, resp),
            has_response=ex.status is not None,
            event_types=frozenset(e.type for e in events),
            request_content_type=_media_type(req_ctype),
            response_content_type=_media_type(resp_ctype),
            _request_body=_body_bytes(obs.request, ex, request=True),
            _response_body=_body_bytes(obs.response, ex, request=False),
            _events=events,
        )

    @property
    def has_body(self) -> bool:
        """Whether any body or stream event could feed a ``json_key``/``body`` leaf."""
        return bool(self._request_body or self._response_body or self._events)

    @property
    def truncated(self) -> bool:
        """A body was longer than :data:`MAX_BODY_SCAN` and only its prefix was scanned."""
        return bool(self._cache.get("truncated"))

    def _text(self, key: str, data: bytes | None) -> str | None:
        if key not in self._cache:
            if data is not None and len(data) > MAX_BODY_SCAN:
                self._cache["truncated"] = True
            self._cache[key] = (data[:MAX_BODY_SCAN].decode("utf-8", errors="replace")
                                if data else None)
        text: str | None = self._cache[key]
        return text

    @property
    def request_text(self) -> str | None:
        return self._text("request_text", self._request_body)

    @property
    def response_text(self) -> str | None:
        return self._text("response_text", self._response_body)

    def _json(self, key: str, text: str | None) -> Any:
        if key not in self._cache:
            self._cache[key] = _parse_json(text)
        return self._cache[key]

    @property
    def request_json(self) -> Any:
        return self._json("request_json", self.request_text)

    @property
    def response_json(self) -> Any:
        return self._json("response_json", self.response_text)

    @property
    def event_json(self) -> list[Any]:
        if "event_json" not in self._cache:
            docs = [_parse_json(e.data[:MAX_BODY_SCAN]) for e in self._events[:MAX_EVENTS_PARSED]]
            self._cache["event_json"] = [d for d in docs if d is not None]
        docs_out: list[Any] = self._cache["event_json"]
        return docs_out

    @property
    def form(self) -> dict[str, list[str]]:
        """Fields of an ``application/x-www-form-urlencoded`` request body."""
        if "form" not in self._cache:
            form: dict[str, list[str]] = {}
            text = self.request_text
            if text and self.request_content_type == "application/x-www-form-urlencoded":
                for key, value in parse_qsl(text, keep_blank_values=True)[:MAX_NAMES]:
                    form.setdefault(key, []).append(value)
            self._cache["form"] = form
        result: dict[str, list[str]] = self._cache["form"]
        return result


def _parse_json(text: str | None) -> Any:
    """The JSON document in ``text``, or None when it is not one (never raises)."""
    if not text:
        return None
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None
