"""Auth, tenant scoping, TLS and advertised HTTP/3: the reference's "Security Models" table.

Only *names* are ever kept: cookie names, header names, JWT header and claim names, query keys.
Secret values are looked at in two places and never stored: a value is tested for the JWT shape
(and its base64url header and payload decoded for their key names), and a ``Set-Cookie`` is split
into its name and attribute names.

* **session-cookie**: a request cookie whose name reads as a session (``session``, ``sessionid``,
  ``sid``, ``connect.sid``, ``…session-token``, ``sessionKey``, ``PHPSESSID``, ``JSESSIONID``…),
  sent on API calls, and set ``HttpOnly`` when the capture holds its ``Set-Cookie`` (RFC 6265
  §4.1.2.6: a cookie scripts can read is not where a careful server keeps its session). Names of
  analytics SDK cookies that merely contain "session" (Hotjar ``_hjSession…``, Braze
  ``ab.storage.sessionId…``, Bing ``_uetsid``, Stripe ``__stripe_sid``…) are excluded: those
  SDKs set them from JavaScript. When the capture loaded pages, the cookie must also ride on
  API calls to the pages' own site, so an embedded third party's login is not the app's.
* **bearer / basic / api-key / jwt**: the ``Authorization`` scheme (RFC 9110 §11.6.2; Bearer
  RFC 6750, Basic RFC 7617); a JWT (RFC 7519: three base64url parts, a JOSE header with ``alg``)
  or JWE (RFC 7516: five parts, ``enc``) anywhere in a header or cookie is reported with its
  header and claim names. API keys: the generic ``x-api-key``/``api-key`` family of headers and
  ``api_key``-style query keys; vendor SDK keys (``statsig-api-key``) belong to the vendor's
  fingerprint, not to the app's auth.
* **csrf-token**: ``X-CSRF-Token``/``X-XSRF-TOKEN``-style headers, ``csrftoken``/``XSRF-TOKEN``
  cookies, ``csrfmiddlewaretoken``/``authenticity_token`` form fields (OWASP CSRF cheat sheet).
* **oauth**: RFC 6749 endpoints: ``/oauth/`` paths, ``…/authorize?client_id=&response_type=``,
  token requests with a ``grant_type`` form field, OAuth/OIDC discovery documents.
* **Tenant scoping**: resources nested under ``/organizations/{id}/``, ``/workspaces/{id}/``,
  ``/teams/{id}/``… ("Org-scoped APIs").
* **TLS**: versions from HAR ``_securityDetails.protocol`` (``Exchange.tls_protocol``); Chromium
  writes ``QUIC`` for HTTP/3, which always runs TLS 1.3 (RFC 9001 §4.2).
* **HTTP/3 advertised**: ``Alt-Svc`` (RFC 7838 §3) alternatives ``h3`` and drafts ``h3-NN``,
  with their ``ma`` (max age, seconds), beside how many exchanges actually used h3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from archcmp.analyze.api import json_body, query_pairs, segment_kind, split_url
from archcmp.analyze.kinds import media_type
from archcmp.model import Exchange, Observation

__all__ = ["AuthAnalyzer", "jwt_names", "parse_alt_svc", "session_like", "site_of"]

#: Distinct names (cookies, headers, templates) tracked; beyond it new names are not counted.
MAX_NAMES = 500
#: Distinct tenant ids remembered per prefix, as digests, to count them.
MAX_IDS = 1000
SHOWN = 5

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_PREFIXES = ("__secure-", "__host-")
_SESSION_TOKENS = frozenset({"session", "sess", "sid", "sessionid", "sessid", "phpsessid",
                             "jsessionid", "sessionkey", "sessiontoken"})
_AUTH_COOKIES = frozenset({".aspxauth", ".aspnetcore.cookies"})
# Analytics/RUM/anti-fraud SDK cookies whose names contain "session"/"sid" (set by scripts).
_NOT_SESSION = re.compile(
    r"^(_hj|ab\.storage|_uet|__stripe|amplitude|amp_|mp_|_dd_s|intercom-|_ga|__hs|_cl|_pk_|_sp_|"
    r"sp_|s_sess|utag_|_parsely|awsalb|__cf|cf_|_cfuv|optimizely|ajs_|statsig|ld_|_fbp|_gcl|"
    r"__utm|_vwo|_lr_|fs_|_hp2_|_rdt|_tt_|_scid|_pin|_ttp|__q_|_mkto|_zitok|__kla|_clck|_clsk|"
    r"rl_|ph_|__ph|_shopify|_y|_s$|datadome)", re.IGNORECASE)
_CSRF = re.compile(r"csrf|xsrf", re.IGNORECASE)
_CSRF_FORM = frozenset({"csrfmiddlewaretoken", "authenticity_token", "_csrf", "csrf_token",
                        "_csrf_token", "csrftoken"})
_API_KEY_HEADERS = frozenset({"x-api-key", "api-key", "apikey", "x-apikey", "x-goog-api-key",
                              "ocp-apim-subscription-key", "x-functions-key"})
_API_KEY_QUERY = frozenset({"api_key", "apikey", "api-key", "x-api-key", "access_key"})
_SCHEMES = {
    "bearer": "bearer", "basic": "basic", "token": "api-key", "apikey": "api-key",
    "api_key": "api-key", "api-key": "api-key", "key": "api-key", "sso-key": "api-key",
    "digest": "digest", "negotiate": "negotiate", "ntlm": "negotiate", "dpop": "bearer",
    "aws4-hmac-sha256": "signed-request",
}
_SCHEME_TOKEN = re.compile(r"[A-Za-z][A-Za-z\-]{1,19}")
_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")
_JWE = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
                  r"\.[A-Za-z0-9_-]+$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/@\-]{1,64}$")
_TENANTS = {
    "organizations": "organization", "organization": "organization", "orgs": "organization",
    "org": "organization", "workspaces": "workspace", "workspace": "workspace",
    "teams": "team", "team": "team", "tenants": "tenant", "tenant": "tenant",
    "accounts": "account", "account": "account", "companies": "company", "company": "company",
    "enterprises": "enterprise", "enterprise": "enterprise",
}
_API_RESOURCE_TYPES = frozenset({"fetch", "xhr", "eventsource", "websocket"})
_NON_API_RESOURCE_TYPES = frozenset({"document", "script", "stylesheet", "image", "font", "media",
                                     "manifest"})
_NON_API_DEST = frozenset({"document", "iframe", "script", "style", "image", "font", "worker",
                           "serviceworker", "sharedworker", "audio", "video", "track"})
_ALT_SVC_ITEM = re.compile(r'\s*([^=\s,;]+)\s*=\s*"([^"]*)"\s*((?:;\s*[^;,=\s]+\s*=\s*'
                           r'(?:"[^"]*"|[^;,\s]*)\s*)*)')


def _tokens(name: str) -> list[str]:
    """Lowercase words of a cookie or header name: ``sessionKey`` → ``session``, ``key``."""
    words: list[str] = []
    for part in re.split(r"[-_.\s]+", name):
        words.append(part.lower())
        words.extend(w.lower() for w in _WORD.findall(part))
    return [w for w in words if w]


def session_like(name: str) -> bool:
    """Whether a cookie name reads as a session or auth cookie (see the module docstring)."""
    lower = name.lower()
    for prefix in _PREFIXES:
        if lower.startswith(prefix):
            lower = lower[len(prefix):]
            name = name[len(prefix):]
    if _NOT_SESSION.match(lower) or _CSRF.search(lower):
        return False
    if lower in _AUTH_COOKIES:
        return True
    words = set(_tokens(name))
    if words & _SESSION_TOKENS:
        return True
    return "token" in words and bool(words & {"auth", "access"})


def _b64json(part: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None


def jwt_names(value: str) -> tuple[str, list[str], list[str]] | None:
    """``("jwt"|"jwe", header names, claim names)`` when ``value`` is a JOSE token, else None.

    Claim *names* only (``sub``, ``exp``, ``org_id``); values are decoded in passing and dropped.
    A JWE payload is encrypted, so it has no claim names to give.
    """
    value = value.strip()
    if len(value) > 16384:
        return None
    if _JWE.match(value):
        header = _b64json(value.split(".", 1)[0])
        if isinstance(header, dict) and "enc" in header and "alg" in header:
            return "jwe", sorted(k for k in header if _CLAIM.match(k)), []
        return None
    if not _JWT.match(value):
        return None
    head, payload, _ = value.split(".")
    header = _b64json(head)
    if not isinstance(header, dict) or "alg" not in header:
        return None
    claims = _b64json(payload)
    names = sorted(k for k in claims if _CLAIM.match(k))[:40] if isinstance(claims, dict) else []
    return "jwt", sorted(k for k in header if _CLAIM.match(k)), names


def parse_alt_svc(value: str) -> list[tuple[str, int | None]]:
    """``Alt-Svc`` → ``[(protocol-id, ma seconds | None)]`` (RFC 7838 §3; ``clear`` → ``[]``).

    ``alt-value = alternative *( OWS ";" OWS parameter )``, ``alternative = protocol-id "="
    alt-authority`` (a quoted string); protocol-id is a percent-encoded ALPN id (§3.1).
    """
    if value.strip().lower() == "clear":
        return []
    out: list[tuple[str, int | None]] = []
    for match in _ALT_SVC_ITEM.finditer(value):
        proto = unquote(match.group(1))
        ma: int | None = None
        for param in match.group(3).split(";"):
            key, _, val = param.partition("=")
            if key.strip().lower() == "ma" and val.strip().strip('"').isdigit():
                ma = int(val.strip().strip('"'))
        out.append((proto, ma))
    return out


def _cookie_names(ex: Exchange) -> list[str]:
    """Names in the request's ``Cookie`` fields (HTTP/2 may split them: RFC 9113 §8.2.3).

    A pair without ``=`` is a nameless cookie (RFC 6265bis §5.6: empty name, the pair is its
    value): it has no name to report, and its text is a credential."""
    names: list[str] = []
    for n, v in ex.request_headers:
        if n.lower() == "cookie":
            for pair in v.split(";"):
                name, eq, _ = pair.partition("=")
                if eq and name.strip():
                    names.append(name.strip())
    return names


def _cookie_values(ex: Exchange) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for n, v in ex.request_headers:
        if n.lower() == "cookie":
            for pair in v.split(";"):
                name, eq, value = pair.partition("=")
                if eq and name.strip():
                    pairs.append((name.strip(), value.strip()))
    return pairs


def _is_api_call(obs: Observation) -> bool:
    """An XHR/fetch-like request: the producer's resource type, ``Sec-Fetch-Dest: empty``, a
    JSON/stream body, or a write method."""
    ex = obs.exchange
    rtype = (ex.resource_type or "").lower()
    if rtype in _API_RESOURCE_TYPES:
        return True
    if rtype in _NON_API_RESOURCE_TYPES:
        return False
    dest = (ex.request_header("sec-fetch-dest") or "").lower()
    if dest == "empty" or obs.events:
        return True
    if dest in _NON_API_DEST:
        return False
    for mtype in (media_type(ex.response_header("content-type")),
                  media_type(ex.request_header("content-type"))):
        if mtype and ("json" in mtype or mtype == "text/event-stream" or "grpc" in mtype):
            return True
    return ex.method not in ("GET", "HEAD", "OPTIONS")


@dataclass(slots=True)
class _Seen:
    count: int = 0
    api: int = 0
    hosts: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)

    def add(self, host: str | None, *, api: bool = False) -> None:
        self.count += 1
        self.api += api
        if host and (host in self.hosts or len(self.hosts) < 50):
            self.hosts[host] += 1


@dataclass(slots=True)
class _SetCookie:
    responses: int = 0
    http_only: int = 0
    secure: int = 0
    persistent: int = 0
    same_site: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Jwt:
    kind: str
    count: int = 0
    header: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    hosts: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Tenant:
    scope: str
    exchanges: int = 0
    nested: int = 0
    ids: set[str] = field(default_factory=set)
    resources: Counter[str] = field(default_factory=Counter)
    hosts: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class AuthAnalyzer:
    """Streaming analyser; ``result()`` gives ``{"auth", "tenancy", "tls", "http3"}``.

    ``auth[]``: ``kind`` (``session-cookie``, ``bearer``, ``jwt``, ``api-key``, ``basic``,
    ``oauth``, ``csrf-token``, or the scheme's own word), ``name`` (cookie/header/query key),
    ``where`` (``cookie``, ``header``, ``query``, ``form``, ``path``), ``evidence``,
    ``confidence``, ``exchanges``, ``hosts``; JWTs add ``header_names`` and ``claims``.
    """

    _requests: int = 0
    _api: int = 0
    _cookie_api: Counter[str] = field(default_factory=Counter)
    _cookie_api_sites: dict[str, Counter[str]] = field(default_factory=dict)
    """cookie name → registrable domain → API calls carrying it."""
    _sites: Counter[str] = field(default_factory=Counter)
    """Registrable domains of the documents (pages) loaded: the app's own sites."""
    _cookie_any: Counter[str] = field(default_factory=Counter)
    _set_cookie: dict[str, _SetCookie] = field(default_factory=dict)
    _seen: dict[tuple[str, str, str], _Seen] = field(default_factory=dict)
    """(kind, where, name) → counts, for everything except session cookies and JWTs."""
    _jwts: dict[tuple[str, str], _Jwt] = field(default_factory=dict)
    _tenants: dict[str, _Tenant] = field(default_factory=dict)
    _https: int = 0
    _tls: Counter[str] = field(default_factory=Counter)
    _tls_hosts: dict[str, Counter[str]] = field(default_factory=dict)
    _alt_responses: int = 0
    _alt_protocols: Counter[str] = field(default_factory=Counter)
    _alt_ma: Counter[int] = field(default_factory=Counter)
    _alt_hosts: Counter[str] = field(default_factory=Counter)
    _h3_used: Counter[str] = field(default_factory=Counter)

    # ------------------------------------------------------------------ observe

    def observe(self, obs: Observation) -> None:
        ex = obs.exchange
        host, path, query = split_url(ex.url)
        self._requests += 1
        api = _is_api_call(obs)
        self._api += api
        self._cookies(ex, host, api)
        self._headers(ex, host, api)
        self._query_and_form(obs, host, path, query, api)
        self._document(obs, host)
        self._tenancy(ex, host, path)
        self._transport(ex, host)

    def _note(self, kind: str, where: str, name: str, host: str | None, *, api: bool = False,
              extra: str | None = None) -> None:
        key = (kind, where, name)
        if key not in self._seen and len(self._seen) >= MAX_NAMES:
            return
        seen = self._seen.setdefault(key, _Seen())
        seen.add(host, api=api)
        if extra:
            seen.extra[extra] += 1

    def _jwt(self, where: str, name: str, value: str, host: str | None) -> bool:
        found = jwt_names(value)
        if found is None:
            return False
        kind, header, claims = found
        key = (where, name)
        if key not in self._jwts and len(self._jwts) >= MAX_NAMES:
            return True
        jwt = self._jwts.setdefault(key, _Jwt(kind=kind))
        jwt.count += 1
        jwt.header.update(header)
        jwt.claims.update(claims)
        if host:
            jwt.hosts[host] += 1
        return True

    def _cookies(self, ex: Exchange, host: str | None, api: bool) -> None:
        names = set(_cookie_names(ex))
        for name in names:
            if name in self._cookie_any or len(self._cookie_any) < MAX_NAMES:
                self._cookie_any[name] += 1
                self._cookie_api[name] += api
                if api and host:
                    sites = self._cookie_api_sites.setdefault(name, Counter())
                    if len(sites) < 50:
                        sites[site_of(host)] += 1
            if _CSRF.search(name):
                self._note("csrf-token", "cookie", name, host, api=api)
        for name, value in _cookie_values(ex):
            if "." in value:
                self._jwt("cookie", name, value, host)
        for n, v in ex.response_headers:
            if n.lower() != "set-cookie":
                continue
            head, *attrs = v.split(";")
            name, eq, _ = head.partition("=")
            name = name.strip()  # no "=": a nameless cookie (see _cookie_names), skipped
            if not eq or not name or (name not in self._set_cookie
                                      and len(self._set_cookie) >= MAX_NAMES):
                continue
            sc = self._set_cookie.setdefault(name, _SetCookie())
            sc.responses += 1
            keys = {a.split("=", 1)[0].strip().lower(): a.partition("=")[2].strip()
                    for a in attrs}
            sc.http_only += "httponly" in keys
            sc.secure += "secure" in keys
            sc.persistent += "max-age" in keys or "expires" in keys
            if "samesite" in keys:
                sc.same_site[keys["samesite"].capitalize()[:8]] += 1

    def _headers(self, ex: Exchange, host: str | None, api: bool) -> None:
        for n, v in ex.request_headers:
            lname = n.lower()
            if lname == "authorization":
                scheme, _, token = v.strip().partition(" ")
                if not token:
                    if not self._jwt("header", "authorization", scheme, host):
                        self._note("bearer", "header", "authorization", host, api=api,
                                   extra="no scheme")
                    continue
                kind = _SCHEMES.get(scheme.lower())
                if kind is None:
                    # An unlisted scheme (RFC 9110 §11.1: a token) is named as such; anything
                    # else might be the credential itself, so it is not printed.
                    named = _SCHEME_TOKEN.fullmatch(scheme)
                    kind = "other"
                    scheme = scheme if named else "(unnamed)"
                self._note(kind, "header", "authorization", host, api=api,
                           extra=f"scheme {scheme}")
                if kind == "bearer":
                    self._jwt("header", "authorization", token, host)
            elif lname in _API_KEY_HEADERS:
                self._note("api-key", "header", lname, host, api=api)
            elif _CSRF.search(lname):
                self._note("csrf-token", "header", lname, host, api=api)
            elif lname not in ("cookie", "referer") and not lname.startswith(":") and "." in v:
                self._jwt("header", lname, v, host)

    def _query_and_form(self, obs: Observation, host: str | None, path: str, query: str,
                        api: bool) -> None:
        ex = obs.exchange
        qs = query_pairs(query)
        keys = {k for k, _ in qs}
        # Keys in the query of API calls only: script and pixel URLs of third-party tags carry
        # their vendor's public key (``gigya.js?apiKey=``), which is not the app's auth.
        for key in keys if api else ():
            lkey = key.lower()
            if lkey in _API_KEY_QUERY:
                self._note("api-key", "query", key, host, api=api)
            elif lkey == "access_token":
                # RFC 6750 §2.3: the bearer token in the URI query.
                self._note("bearer", "query", key, host, api=api)
        segments = [s.lower() for s in path.split("/") if s]
        template = "/".join(segment_kind(s) or s for s in path.split("/"))
        if "oauth" in segments or "oauth2" in segments:
            self._note("oauth", "path", template, host, extra="/oauth/ path")
        if segments and segments[-1] == "authorize" and {"client_id", "response_type"} & keys:
            self._note("oauth", "path", template, host,
                       extra="authorization request (client_id/response_type)")
        if path.startswith("/.well-known/") and segments[-1] in (
                "openid-configuration", "oauth-authorization-server"):
            self._note("oauth", "path", template, host, extra="discovery document")
        mtype = media_type(ex.request_header("content-type"))
        if mtype == "application/x-www-form-urlencoded" and obs.request is not None and (
                obs.request.data and len(obs.request.data) < 1 << 20):
            form = query_pairs(obs.request.data.decode("latin-1"))
            for key, value in form:
                if key == "grant_type":
                    grant = value if re.fullmatch(r"[\w:.\-]{1,60}", value) else "?"
                    self._note("oauth", "form", template, host,
                               extra=f"token request grant_type={grant}")
                elif key.lower() in _CSRF_FORM:
                    self._note("csrf-token", "form", key, host)
        if ex.method == "POST" and "token" in segments[-1:]:
            body = json_body(obs.response, media_type(ex.response_header("content-type")))
            if isinstance(body, dict) and "access_token" in body and "token_type" in body:
                self._note("oauth", "path", template, host,
                           extra="token response (access_token, token_type)")

    def _document(self, obs: Observation, host: str | None) -> None:
        ex = obs.exchange
        rtype = (ex.resource_type or "").lower()
        dest = (ex.request_header("sec-fetch-dest") or "").lower()
        html = media_type(ex.response_header("content-type")) == "text/html"
        if host and (rtype == "document" or dest == "document" or (
                not rtype and not dest and html)) and len(self._sites) < 50:
            self._sites[site_of(host)] += 1

    def _tenancy(self, ex: Exchange, host: str | None, path: str) -> None:
        segments = path.split("/")
        for i, seg in enumerate(segments[:-1]):
            scope = _TENANTS.get(seg.lower())
            placeholder = segment_kind(segments[i + 1]) if scope else None
            if scope is None or placeholder is None:
                continue
            prefix = "/".join(segment_kind(s) or s for s in segments[: i + 2])
            if prefix not in self._tenants and len(self._tenants) >= MAX_NAMES:
                return
            tenant = self._tenants.setdefault(prefix, _Tenant(scope=scope))
            tenant.exchanges += 1
            rest = [s for s in segments[i + 2:] if s]
            if rest:
                tenant.nested += 1
                word = next((s for s in rest if segment_kind(s) is None), None)
                if word and (word in tenant.resources or len(tenant.resources) < 50):
                    tenant.resources[word] += 1
            if len(tenant.ids) < MAX_IDS:
                tenant.ids.add(hashlib.sha256(segments[i + 1].encode()).hexdigest()[:16])
            if host:
                tenant.hosts[host] += 1
            return

    def _transport(self, ex: Exchange, host: str | None) -> None:
        if ex.url.lower().startswith("https:"):
            self._https += 1
        if ex.tls_protocol:
            version = _tls_version(ex.tls_protocol)
            self._tls[version] += 1
            self._tls_hosts.setdefault(version, Counter())[host or "?"] += 1
        if ex.protocol == "h3":
            self._h3_used[host or "?"] += 1
        protos: set[str] = set()
        ages: set[int] = set()
        for value in ex.iter_response_headers("alt-svc"):
            for proto, ma in parse_alt_svc(value):
                if proto == "h3" or proto.startswith("h3-"):
                    protos.add(proto)
                    if ma is not None:
                        ages.add(ma)
        self._alt_protocols.update(protos)
        self._alt_ma.update(ages)
        if protos:
            self._alt_responses += 1
            self._alt_hosts[host or "?"] += 1

    # ------------------------------------------------------------------ result

    def result(self) -> dict[str, Any]:
        auth = self._session_cookies() + self._jwt_findings() + self._other_findings()
        return {"auth": auth, "tenancy": self._tenancy_result(), "tls": self._tls_result(),
                "http3": self._http3_result()}

    def _session_cookies(self) -> list[dict[str, Any]]:
        out = []
        for name, api in self._cookie_api.most_common():
            if not api or not session_like(name):
                continue
            sites = self._cookie_api_sites.get(name, Counter())
            if self._sites and not set(sites) & set(self._sites):
                continue  # a third party's session (an embed's own login), not the app's
            sc = self._set_cookie.get(name)
            if sc is not None and not sc.http_only:
                continue  # readable by scripts: not a session cookie a server would trust
            evidence = [f"cookie {name} sent on {api}/{self._api} API requests"]
            confidence = 0.7
            if sc is not None:
                attrs = ["HttpOnly"] + (["Secure"] if sc.secure else []) + [
                    f"SameSite={v}" for v in sc.same_site] + (
                    ["persistent (Max-Age/Expires)"] if sc.persistent else ["session-lifetime"])
                evidence.append(f"Set-Cookie {name}: {'; '.join(attrs)} "
                                f"({sc.http_only}/{sc.responses} responses HttpOnly)")
                confidence = 0.9 + 0.05 * bool(sc.secure)
            out.append({"kind": "session-cookie", "name": name, "where": "cookie",
                        "confidence": round(confidence, 2), "evidence": evidence,
                        "exchanges": self._cookie_any[name], "api_exchanges": api,
                        "hosts": [h for h, _ in sites.most_common(SHOWN)],
                        "http_only": None if sc is None else True,
                        "secure": None if sc is None else bool(sc.secure)})
        return out

    def _jwt_findings(self) -> list[dict[str, Any]]:
        out = []
        for (where, name), jwt in sorted(self._jwts.items(), key=lambda kv: -kv[1].count):
            label = "JWE (encrypted)" if jwt.kind == "jwe" else "JWT"
            evidence = [f"{label} in {where} {name} on {jwt.count} requests",
                        "JOSE header names: " + ", ".join(sorted(jwt.header))]
            if jwt.claims:
                evidence.append("claim names: " + ", ".join(sorted(jwt.claims)))
            out.append({"kind": "jwt", "name": name, "where": where, "token_format": jwt.kind,
                        "confidence": 0.95, "evidence": evidence, "exchanges": jwt.count,
                        "hosts": [h for h, _ in jwt.hosts.most_common(SHOWN)],
                        "header_names": sorted(jwt.header), "claims": sorted(jwt.claims)})
        return out

    def _other_findings(self) -> list[dict[str, Any]]:
        out = []
        order = ("bearer", "basic", "api-key", "oauth", "csrf-token")
        for (kind, where, name), seen in sorted(
                self._seen.items(),
                key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else len(order),
                                -kv[1].count)):
            hosts = [h for h, _ in seen.hosts.most_common(SHOWN)]
            on = f"on {seen.count} requests" + (f" ({', '.join(hosts)})" if hosts else "")
            if kind == "oauth":
                evidence = [f"{signal} at {name} on {n} requests"
                            for signal, n in seen.extra.most_common()]
            elif where == "header" and name == "authorization":
                schemes = ", ".join(s for s, _ in seen.extra.most_common())
                evidence = [f"Authorization {schemes} {on}"]
            else:
                evidence = [f"{where} {name} {on}"]
            if seen.api:
                evidence.append(f"{seen.api} of them API calls")
            confidence = 0.9 if kind in ("bearer", "basic", "api-key", "csrf-token") else 0.8
            if kind == "bearer" and "no scheme" in seen.extra:
                confidence = 0.5
            out.append({"kind": kind, "name": name, "where": where,
                        "confidence": confidence, "evidence": evidence,
                        "exchanges": seen.count, "hosts": hosts})
        return out

    def _tenancy_result(self) -> list[dict[str, Any]]:
        out = []
        for prefix, t in sorted(self._tenants.items(), key=lambda kv: -kv[1].exchanges):
            if not t.nested:
                continue
            resources = [r for r, _ in t.resources.most_common(8)]
            evidence = [f"{t.nested} requests to resources under {prefix}/… "
                        f"({len(t.ids)} distinct {t.scope} id{'s' if len(t.ids) != 1 else ''})",
                        "nested resources: " + ", ".join(resources)]
            confidence = 0.7 + 0.15 * (t.nested >= 3) + 0.1 * (len(resources) >= 2)
            out.append({"kind": f"{t.scope}-scoped",
                        "label": f"{t.scope.capitalize()}-scoped APIs".replace(
                            "Organization-", "Org-"),
                        "prefix": prefix, "exchanges": t.exchanges, "nested_exchanges": t.nested,
                        "distinct_ids": len(t.ids), "resources": resources,
                        "hosts": [h for h, _ in t.hosts.most_common(SHOWN)],
                        "confidence": round(min(confidence, 0.95), 2), "evidence": evidence})
        return out

    def _tls_result(self) -> dict[str, Any]:
        known = sum(self._tls.values())
        evidence = [f"{v} on {n}/{self._https} HTTPS exchanges (HAR _securityDetails)"
                    for v, n in self._tls.most_common()]
        return {"versions": dict(self._tls.most_common()), "exchanges_with_tls_info": known,
                "https_exchanges": self._https,
                "hosts": {v: [h for h, _ in c.most_common(SHOWN)]
                          for v, c in self._tls_hosts.items()},
                "evidence": evidence}

    def _http3_result(self) -> dict[str, Any]:
        used = sum(self._h3_used.values())
        evidence = []
        if self._alt_responses:
            protos = ", ".join(f"{p} ×{n}" for p, n in self._alt_protocols.most_common())
            ma = ", ".join(f"ma={m}" for m in sorted(self._alt_ma))
            evidence.append(f"Alt-Svc advertises {protos} on {self._alt_responses}/"
                            f"{self._requests} responses" + (f" ({ma})" if ma else ""))
        if used:
            evidence.append(f"h3 used on {used}/{self._requests} exchanges")
        return {"advertised": bool(self._alt_responses), "responses": self._alt_responses,
                "protocols": dict(self._alt_protocols.most_common()),
                "max_age_s": sorted(self._alt_ma), "hosts": [
                    h for h, _ in self._alt_hosts.most_common(SHOWN)],
                "used_exchanges": used, "evidence": evidence,
                "confidence": 0.95 if self._alt_responses else None}


def site_of(host: str) -> str:
    """An approximate registrable domain: the last two labels, three under a two-letter
    country code with a short second level (``co.uk``, ``com.au``); IPs and ``localhost`` as
    they are. (The Public Suffix List would be exact; this is enough to tell the app's own
    sites from third parties.)"""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) <= 2 or labels[-1].isdigit():
        return host.lower()
    if len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _tls_version(raw: str) -> str:
    """``TLSv1.3``/``TLS 1.3`` → ``TLS 1.3``; Chromium's ``QUIC`` → ``TLS 1.3 (QUIC)``."""
    text = raw.strip()
    if text.upper() == "QUIC":
        return "TLS 1.3 (QUIC)"
    match = re.fullmatch(r"(?i)(TLS|SSL)\s*v?\s*(\d(?:\.\d)?)", text)
    if match:
        return f"{match.group(1).upper()} {match.group(2)}"
    return text[:20]
