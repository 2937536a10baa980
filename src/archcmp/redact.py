"""Mask secrets before anything leaves archcmp; the one redaction layer every writer uses.

Captures are full of live credentials: session cookies, API keys in request headers, write keys
in analytics bodies, signed URLs. None of them may reach a report, the store or a golden file
unless the user passed ``--unsafe-keep-secrets`` (``keep_secrets=True``, which turns every method
here into the identity). The rules:

* **Names stay, values go.** A header, cookie, query-parameter or JSON key *name* is evidence
  (``statsig-api-key`` says "Statsig"); its *value* is the credential.
* **A masked value is a keyed hash**, ``<redacted:sha256:1a2b3c4d5e6f>``: the first 12 hex digits
  of HMAC-SHA256(key, value). Keyed, because a bare SHA-256 of a short PIN or of a leaked vendor
  key can be confirmed by anyone who hashes a guess; stable for one key, so the same cookie in
  two analyses of one workspace (or a session id echoed in a body) gets the same marker and diffs
  stay meaningful. :func:`load_or_create_key` keeps one key per workspace. ``<redacted:N bytes>``
  stands for binary bodies, where a hash says nothing useful.
* **Idempotent and total.** Redacting redacted text changes nothing (writers may apply the net
  twice) and no ``str`` makes it raise; both are property-tested.

How the free-text scan stays correct in one pass: every shape (JWT, vendor key, ``key=value``)
starts where a run of ``[A-Za-z0-9_-]`` starts and consumes that run to its end, and markers
contain none of the characters that end a value. Replacing a match with a marker therefore cannot
create or destroy a neighbouring match, which is what makes the scan idempotent. Values the
pipeline harvested from one capture (cookie values, key headers: :class:`SecretSet`) are replaced
first, wherever they re-appear, in a second, literal alternation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_bytes, token_hex
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from archcmp.errors import StoreError
from archcmp.model import Exchange, Header

__all__ = [
    "KEY_FILE_NAME",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "Redactor",
    "SecretSet",
    "is_redacted",
    "is_secret_header",
    "is_secret_json_key",
    "is_secret_param",
    "load_or_create_key",
    "redact_document",
    "redact_document_in_place",
    "redact_json",
]

#: HMAC key length: RFC 2104 §3 discourages keys shorter than the hash output (32 bytes here).
KEY_BYTES = 32
#: Hex digits of the HMAC shown (48 bits): enough to tell a report's values apart, too few to act
#: as a useful oracle for the secret even for someone holding the key.
HASH_HEX = 12
#: Name of the per-workspace key file, beside the store database.
KEY_FILE_NAME = "redact.key"
#: Shorter remembered values would shred ordinary text ("true", "en-US", "1").
MIN_REMEMBERED = 8

_MARKER = r"<redacted:(?:sha256:[0-9a-f]{12}|[0-9]+[ ]bytes)>"  # [ ]: also used in VERBOSE patterns
_MARKER_RE = re.compile(_MARKER)

# --------------------------------------------------------------------------------------------
# Names whose values are secrets
# --------------------------------------------------------------------------------------------

_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})  # RFC 9110 §11.6.2, §11.7.2
_URL_HEADERS = frozenset({":path", "referer", "location", "content-location", "origin"})

#: Request/response headers whose whole value is a credential, with who sends them. Names the
#: patterns in ``_SECRET_HEADER_RE`` would miss, or that are worth stating outright.
SECRET_HEADERS = frozenset(
    {
        "authorization",  # RFC 9110 §11.6.2 (scheme kept, credentials masked)
        "proxy-authorization",  # RFC 9110 §11.7.2
        "cookie",  # RFC 6265 §5.4 (names kept, values masked)
        "set-cookie",  # RFC 6265 §4.1 (name and attributes kept, value masked)
        "x-api-key",  # AWS API Gateway, Anthropic API, many SaaS APIs
        "api-key",  # Azure OpenAI
        "apikey",  # Supabase, Kong
        "x-honeycomb-team",  # Honeycomb: the API/ingest key travels in this header
        "statsig-api-key",  # Statsig client SDK key
        "x-goog-api-key",  # Google Cloud APIs
        "ocp-apim-subscription-key",  # Azure API Management
        "x-functions-key",  # Azure Functions
        "dd-api-key",  # Datadog intake
        "dd-application-key",  # Datadog API
        "x-sentry-auth",  # Sentry envelope auth (sentry_key=…)
        "x-amz-security-token",  # AWS STS session token
        "private-token",  # GitLab personal access token
        "x-csrf-token",  # Rails, Django (X-CSRFToken), Laravel
        "x-xsrf-token",  # Angular, Laravel
    }
)

#: Header-name patterns: the families of names vendors invent around the same few words.
#: ``token(?!s)`` leaves rate-limit counters (``x-ratelimit-remaining-tokens``) alone: they are
#: numbers and evidence. ``credential`` is deliberately absent, because
#: ``access-control-allow-credentials: true`` is CORS evidence, not a secret.
_SECRET_HEADER_RE = re.compile(
    r"""
      ^x-auth-                    # x-auth-token, x-auth-key, x-auth-user …
    | token(?!s)                  # *token*: x-shopify-access-token, openai-sentinel-token
    | secret | passw(?:or)?d | jwt  # *secret*, *password*, cf-access-jwt-assertion
    | api[-_]?key                 # *api-key*: x-api-key, statsig-api-key, dd-api-key
    | (?:^|-)session              # *-session*: x-session-id, x-session-token
    | signature | hmac            # x-hub-signature, stripe-signature, x-shopify-hmac-sha256
    | -auth$                      # x-sentry-auth, x-goog-iap-auth
    """,
    re.VERBOSE,
)

#: Query/fragment parameters whose value is a credential: OAuth 2.0 (RFC 6749 §4.1.2 ``code``,
#: §4.2.2 ``access_token`` in the fragment), OpenID Connect ``id_token``, signed URLs (S3 SigV4
#: ``X-Amz-Signature``/``X-Amz-Credential``, GCS ``X-Goog-Signature``, Azure SAS ``sig``,
#: Akamai ``hdnts``), Google ``key=``, servlet/PHP session ids.
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "code",
        "key",
        "api_key",
        "apikey",
        "api-key",
        "sig",
        "signature",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "pwd",
        "auth",
        "session",
        "sessionid",
        "session_id",
        "sid",
        "jsessionid",
        "phpsessid",
        "jwt",
        "assertion",
        "client_assertion",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "awsaccesskeyid",
        "x-goog-signature",
        "x-goog-credential",
        "hdnts",
        "__token__",
    }
)
_SECRET_PARAM_RE = re.compile(r"(?:token|secret|passw(?:or)?d|api[_-]?key|signature|jwt)$")

#: JSON keys (lower-cased, ``_``/``-`` removed) whose values are secrets in request/response
#: bodies. ``key`` alone is absent: OpenTelemetry attributes are ``{"key": "service.name"}``.
_SECRET_JSON_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "auth",
        "authorization",
        "proxyauthorization",
        "cookie",
        "cookies",
        "setcookie",
        "session",
        "sessionid",
        "sessid",
        "sid",
        "apikey",
        "writekey",  # Segment analytics.js writeKey
        "accesskey",
        "secretkey",
        "privatekey",
        "clientsecret",
        "credential",
        "credentials",
        "jwt",
        "bearer",
        "signature",
        "csrf",
        "xsrf",
        "otp",
    }
)
_SECRET_JSON_SUFFIXES = (
    "token",  # accessToken, csrf_token — but not max_tokens (ends in "tokens")
    "secret",
    "password",
    "passwd",
    "apikey",
    "writekey",
    "accesskey",
    "secretkey",
    "privatekey",
    "sessionkey",
    "sessionid",
    "sessiontoken",
    "authkey",
    "signature",
    "jwt",
)
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def is_secret_header(name: str) -> bool:
    """True when the value of header ``name`` (any case) is a credential."""
    lname = name.strip().lower()
    return lname in SECRET_HEADERS or _SECRET_HEADER_RE.search(lname) is not None


def is_secret_param(name: str) -> bool:
    """True when the value of query/fragment parameter ``name`` is a credential."""
    lname = unquote_plus(name).strip().lower()
    return lname in SECRET_PARAMS or _SECRET_PARAM_RE.search(lname) is not None


def is_secret_json_key(name: str) -> bool:
    """True when a JSON member called ``name`` holds a secret (``writeKey``, ``client_secret``)."""
    norm = _NON_ALNUM.sub("", name.lower())
    return norm in _SECRET_JSON_KEYS or norm.endswith(_SECRET_JSON_SUFFIXES)


def is_redacted(value: str) -> bool:
    """True when ``value`` is exactly one redaction marker."""
    return _MARKER_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------------------------
# Free-text shapes: one compiled alternation
# --------------------------------------------------------------------------------------------

_W = r"A-Za-z0-9_\-"  # a "run": shapes start at the start of one and end at its end
_START = rf"(?<![{_W}])"
# Token characters of a value: base64, base64url, hex, JWT, %-escapes, ``:``; not the characters
# that end a value in JSON, headers, cookies or URLs, and not ``<``/``>`` (markers).
_T = r"""[^\s"'\\<>&;,{}\[\]()?#@]"""
_TV = rf"(?:{_T}|\\/)"  # plus the JSON escape ``\/``
#: A value after a token-ish key must look like a token: ≥ 8 characters and a digit, or ≥ 20.
#: Lookaheads only shorten when text is masked, so a value rejected once stays rejected.
_TOKEN_VALUE = rf"(?={_TV}{{8}})(?={_TV}*?\d|{_TV}{{20}})(?:{_TV})+"
#: A value after a password-like key is masked whatever it looks like.
_ANY_VALUE_QUOTED = r"""(?:[^"'\\<>\r\n]|\\/)+"""
_ANY_VALUE_BARE = r"""[^\s"'\\<>&;,?#]+"""
_KEY_AHEAD = rf"(?=[{_W}]{{1,64}}+\\*[\"']?[ \t]*[:=])"  # cheap reject: the run is a key
_KEY_PREFIX = rf"[{_W}]{{0,48}}?"
_SEP = r"""\\*["']?[ \t]*[:=][ \t]*"""
_QUOTE = r"""\\*["']"""

_ALWAYS_WORDS = r"""(?i:secret|passw(?:or)?d|passphrase|pwd|(?:secret|private)[_-]?key
                   |(?:proxy-)?authorization|cookie)"""
_TOKEN_WORDS = r"""(?i:token|api[_-]?key
                  |(?:write|access|session|auth|license|subscription|signing|master|account)[_-]?key
                  |session(?:[_-]?id)?|sessid|sid|jwt|auth|signature|sig|credentials?
                  |x-honeycomb-team|bearer|csrf|xsrf)"""

#: Vendor credential shapes. Each names a prefix the vendor documents plus enough characters to
#: be unambiguous, then takes the rest of the run.
_VENDOR = r"""
      sk-[A-Za-z0-9_-]{20}                 # OpenAI sk-, sk-proj-; Anthropic sk-ant-api03-
    | (?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10}  # Stripe secret / restricted keys
    | whsec_[A-Za-z0-9]{16}                # Stripe webhook signing secret
    | gh[pousr]_[A-Za-z0-9]{30}            # GitHub tokens
    | github_pat_[A-Za-z0-9_]{30}          # GitHub fine-grained PAT
    | glpat-[A-Za-z0-9_-]{20}              # GitLab PAT
    | xox[abposr]-[A-Za-z0-9-]{10}         # Slack tokens
    | xapp-[0-9]-[A-Za-z0-9-]{10}          # Slack app-level token
    | (?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}  # AWS access key id
    | AIza[A-Za-z0-9_-]{35}                # Google API key
    | ya29\.[A-Za-z0-9_-]{20}              # Google OAuth access token
    | hc[a-z]{2,3}_[A-Za-z0-9]{20}         # Honeycomb API keys (hcaik_ ingest, hcxik_, hcamk_)
    | (?:client|secret|console)-[A-Za-z0-9]{32}  # Statsig SDK keys (client-<base62>)
    | npm_[A-Za-z0-9]{30}                  # npm token
    | hf_[A-Za-z0-9]{30}                   # Hugging Face token
    | pypi-AgE[A-Za-z0-9_-]{40}            # PyPI API token
    | SG\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16}  # SendGrid
    | shpat_[a-fA-F0-9]{32}                # Shopify admin token
"""

# RFC 7519 §3 / RFC 7515 §7.1: a JWS is header.payload.signature, base64url; a JSON header and
# payload both begin ``{"`` = ``eyJ``. A JWE (RFC 7516 §7.1) has five parts and a JSON header.
_JWT = rf"""eyJ[{_W}]{{2,}}\.(?:eyJ[{_W}]{{2,}}\.[{_W}]*
                              |[{_W}]*\.[{_W}]{{2,}}\.[{_W}]{{2,}}\.[{_W}]{{2,}})"""

_PEM = rf"""-----BEGIN[A-Z0-9 ]*PRIVATE\ KEY-----
            (?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE\ KEY-----|(?:\s*[A-Za-z0-9+/=]{{16,}})*)
            [{_W}]*"""

_ALTERNATIVES: dict[str, str] = {
    "marker": _MARKER,
    "pem": _START + _PEM,
    "jwt": _START + _JWT,
    "vendor": rf"{_START}(?:{_VENDOR})[{_W}]*",
    # RFC 3986 §3.2.1 userinfo (user:password@host), masked whole: tokens often sit in the user
    "userinfo": r"""(?<=//)(?P<userinfo_v>[^\s/?#@<>"'\\]+)(?=@)""",
    # URL only: a query or fragment parameter (RFC 3986 §3.4/§3.5, HTML form encoding)
    "param": r"(?<=[?&;#])(?P<param_n>[^&=#?;\s<>/]+)=(?P<param_v>[^&#;?\s]*)",
    # header lines in free text; the value runs to the end of the line or string
    "cookieline": rf"""{_START}(?P<cookieline_n>{_KEY_PREFIX}(?i:cookie))[ \t]*:[ \t]*
                      (?P<cookieline_v>[^\r\n"'\\]*)""",
    "authline": rf"""{_START}(?P<authline_n>{_KEY_PREFIX}(?i:authorization))[ \t]*:[ \t]*
                    (?P<authline_v>[^\r\n"'\\]*)""",
    "kva": rf"""{_START}{_KEY_AHEAD}(?P<kva_k>{_KEY_PREFIX}{_ALWAYS_WORDS}{_SEP})
               (?:(?P<kva_q>{_QUOTE})(?P<kva_qv>{_ANY_VALUE_QUOTED})|(?P<kva_v>{_ANY_VALUE_BARE}))""",
    "kvt": rf"""{_START}{_KEY_AHEAD}(?P<kvt_k>{_KEY_PREFIX}{_TOKEN_WORDS}{_SEP}(?:{_QUOTE})?)
               (?P<kvt_v>{_TOKEN_VALUE})""",
    # RFC 6750 §2.1 Bearer b64token; RFC 7617 Basic; RFC 4559 Negotiate; RFC 9449 DPoP
    "scheme": rf"""{_START}(?P<scheme_n>(?i:bearer|basic|negotiate|ntlm|dpop)[ \t]+)
                  (?P<scheme_v>{_TOKEN_VALUE})""",
}


def _compile(*names: str) -> re.Pattern[str]:
    """One alternation over the named shapes; the first that matches at a position wins."""
    body = "|".join(f"(?P<{name}>{_ALTERNATIVES[name]})" for name in names)
    return re.compile(body, re.VERBOSE)


_SHAPES = ("marker", "pem", "jwt", "vendor", "userinfo", "kva", "kvt", "scheme")
#: Free text: shapes plus ``Cookie:``/``Authorization:`` header lines.
_TEXT_RE = _compile(
    "marker", "pem", "jwt", "vendor", "userinfo", "cookieline", "authline", "kva", "kvt", "scheme"
)
#: Inside a cookie pair list or a parameter value: shapes only, so the scan never recurses.
_SHAPES_RE = _compile(*_SHAPES)
#: URLs: userinfo and parameters first, then shapes anywhere (path segments included).
_URL_RE = _compile("marker", "userinfo", "param", "pem", "jwt", "vendor", "kva", "kvt", "scheme")

_AUTH_VALUE_RE = re.compile(r"(\s*[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)([ \t]+)(\S.*)", re.DOTALL)


# --------------------------------------------------------------------------------------------
# Remembered secrets
# --------------------------------------------------------------------------------------------


#: Distinct header pairs remembered as harvested; past it, harvesting just does the work again.
_HARVEST_MEMO = 100_000


class SecretSet:
    """Secret values harvested from one capture, masked wherever they re-appear.

    A session id from a ``Cookie`` header can be echoed in a JSON body or a URL path, where no
    name says it is secret; remembering it catches those. Mutable on purpose (the frozen
    :class:`Redactor` holds one). Each value is also matched in its URL-encoded and
    JSON-escaped forms, and every form is masked with the hash of the raw value, so the marker is
    the same wherever it appears. Values shorter than :data:`MIN_REMEMBERED` or containing ``<``,
    ``>`` (which could overlap a marker) are refused.
    """

    __slots__ = ("_canonical", "_pattern", "harvested")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._canonical: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        #: Header pairs already harvested: captures repeat the same headers on every request.
        self.harvested: set[tuple[str, str]] = set()
        for value in values:
            self.add(value)

    def add(self, value: str) -> bool:
        """Remember ``value``; False when it is refused (too short, or holds ``<``/``>``)."""
        if len(value) < MIN_REMEMBERED or "<" in value or ">" in value or value.isspace():
            return False
        if value in self._canonical:
            return True
        for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]):
            if len(form) >= MIN_REMEMBERED and "<" not in form and ">" not in form:
                self._canonical.setdefault(form, value)
        self._pattern = None
        return True

    def __contains__(self, value: object) -> bool:
        return value in self._canonical

    def __len__(self) -> int:
        return len(self._canonical)

    def __repr__(self) -> str:  # never the values: reprs end up in tracebacks and logs
        return f"SecretSet(<{len(self._canonical)} forms>)"

    def sub(self, text: str, mask: Callable[[str], str]) -> str:
        """Replace every remembered form in ``text`` (outside markers) by ``mask(raw value)``."""
        if not self._canonical:
            return text
        if self._pattern is None:
            forms = sorted(self._canonical, key=len, reverse=True)  # longest first wins
            alternation = "|".join(re.escape(form) for form in forms)
            self._pattern = re.compile(f"({_MARKER})|({alternation})")
        canonical = self._canonical

        def replace(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return match.group(1)
            return mask(canonical[match.group(2)])

        return self._pattern.sub(replace, text)


def _looks_tokenish(value: str) -> bool:
    """Worth remembering from a cookie: long, not a plain number or word (``1763980800``)."""
    if len(value) < MIN_REMEMBERED or value.isdigit() or any(c.isspace() for c in value):
        return False
    return any(c.isdigit() for c in value) or len(value) >= 16


# --------------------------------------------------------------------------------------------
# Redactor
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Redactor:
    """Masks secret values in headers, URLs, free text and JSON; the identity with keep_secrets.

    Deterministic: the same input, key and remembered set give the same output. The key and the
    remembered set are left out of ``repr`` so a traceback never prints them.
    """

    keep_secrets: bool = False
    """``--unsafe-keep-secrets``: every method returns its input unchanged."""
    key: bytes = field(default_factory=lambda: token_bytes(KEY_BYTES), repr=False)
    """HMAC key; the CLI passes the workspace key (:func:`load_or_create_key`), tests a fixed one.
    The default is random per run: hashes then only correlate within one run."""
    secrets: SecretSet = field(default_factory=SecretSet, repr=False, compare=False)
    """Values harvested from the capture, masked wherever they re-appear."""

    # -- primitives ---------------------------------------------------------------------------

    def mask(self, value: str) -> str:
        """The marker for ``value``: ``<redacted:sha256:`` + 12 hex digits of its HMAC + ``>``."""
        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<redacted:sha256:{digest.hexdigest()[:HASH_HEX]}>"

    @staticmethod
    def mask_bytes(data: bytes) -> str:
        """``<redacted:N bytes>``, for binary bodies where a hash would tell a reader nothing."""
        return f"<redacted:{len(data)} bytes>"

    def _mask_keep(self, value: str) -> str:
        """Mask ``value`` unless it is empty or already a marker (keeps redaction idempotent)."""
        if not value or is_redacted(value):
            return value
        return self.mask(value)

    def remember(self, value: str) -> bool:
        """Mask ``value`` wherever it re-appears from now on; False if refused (see SecretSet)."""
        if self.keep_secrets:
            return False
        return self.secrets.add(value)

    # -- harvesting -----------------------------------------------------------------------------

    def harvest(self, exchanges: Iterable[Exchange]) -> None:
        """Remember the secret values of a capture: cookie values, key headers, secret params.

        Call it once, before writing anything, so a session id echoed in a body or a URL is
        masked there too; targeted methods such as :meth:`header_value` never mutate the set.
        """
        if self.keep_secrets:
            return
        seen = self.secrets.harvested
        for exchange in exchanges:
            for name, value in (*exchange.request_headers, *exchange.response_headers):
                if (name, value) in seen:
                    continue
                if len(seen) < _HARVEST_MEMO:
                    seen.add((name, value))
                for secret in _header_secrets(name, value):
                    self.secrets.add(secret)
            for secret in _url_secrets(exchange.url):
                self.secrets.add(secret)

    # -- headers --------------------------------------------------------------------------------

    def header_value(self, name: str, value: str) -> str:
        """The value of header ``name`` with its secrets masked; the name is the caller's to keep.

        ``Cookie``: names kept, every value masked. ``Set-Cookie``: name and attributes kept,
        value masked. ``Authorization``: the scheme word kept (``Bearer <redacted:…>``). Key-like
        headers (:func:`is_secret_header`): the whole value. URL-valued headers go through
        :meth:`url`, all others through :meth:`text`, so a JWT in any header is still masked.
        """
        if self.keep_secrets:
            return value
        lname = name.strip().lower()
        if lname == "cookie":
            return self._cookie_list(self.secrets.sub(value, self.mask), set_cookie=False,
                                     header=True)
        if lname == "set-cookie":
            # some producers join repeated Set-Cookie headers with newlines (Firefox HAR does)
            lines = self.secrets.sub(value, self.mask).split("\n")
            return "\n".join(self._cookie_list(line, set_cookie=True, header=True)
                             for line in lines)
        if lname in _AUTH_HEADERS:
            return self._credentials(self.secrets.sub(value, self.mask))
        if is_secret_header(lname):
            return self._mask_keep(self.secrets.sub(value, self.mask))
        if lname in _URL_HEADERS:
            return self.url(value)
        return self.text(value)

    def headers(self, headers: Iterable[Header]) -> tuple[Header, ...]:
        """Every header pair with :meth:`header_value` applied; names, order and repeats kept."""
        return tuple((name, self.header_value(name, value)) for name, value in headers)

    def cookie(self, name: str, value: str) -> str:
        """A cookie's value masked (HAR ``cookies[]`` entries keep ``name`` as it was)."""
        if self.keep_secrets:
            return value
        return self._mask_keep(value)

    def _cookie_list(self, value: str, *, set_cookie: bool, header: bool = False) -> str:
        """``a=1; b=2`` → ``a=<…>; b=<…>``; for Set-Cookie only the first pair is the cookie.

        In a real header (``header``) a part without ``=`` is a nameless cookie's value (RFC
        6265bis §5.6) and masked; in free text it is more often a list of names (evidence such
        as ``cookie: sessionKey, __cf_bm``) and only shapes are masked there."""
        parts = value.split(";")
        out: list[str] = []
        for index, part in enumerate(parts):
            if set_cookie and index > 0:
                # RFC 6265 §5.2 attributes (Path, Domain, Expires, SameSite …): evidence, not secret
                out.append(part)
                continue
            name, eq, raw = part.partition("=")
            if not eq and not (header and part.strip()):
                out.append(_SHAPES_RE.sub(self._replace, part))
                continue
            if not eq:  # a nameless cookie: the whole part is its value
                raw, name = name, ""
            stripped = raw.strip()
            if stripped:
                start = raw.index(stripped)
                raw = raw[:start] + self._mask_keep(stripped) + raw[start + len(stripped) :]
            out.append(f"{name}={raw}" if eq else raw)
        return ";".join(out)

    def _credentials(self, value: str) -> str:
        """RFC 9110 §11.4 ``credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``."""
        match = _AUTH_VALUE_RE.fullmatch(value)
        if match is None:
            return self._mask_keep(value.strip()) if value.strip() else value
        scheme, space, rest = match.groups()
        return scheme + space + self._mask_keep(rest)

    # -- URLs and text -------------------------------------------------------------------------

    def url(self, url: str) -> str:
        """A URL (or a path with a query) with credentials masked.

        Secret query and fragment parameters (:data:`SECRET_PARAMS`; OAuth puts tokens in the
        fragment) lose their value, userinfo (``user:pass@``) is masked whole, and JWTs, vendor
        keys and remembered values are masked anywhere, path segments included. Ordinary
        parameters, UUIDs and hosts stay: they are evidence.
        """
        if self.keep_secrets:
            return url
        return _URL_RE.sub(self._replace, self.secrets.sub(url, self.mask))

    def text(self, s: str) -> str:
        """Free text (evidence, warning samples, messages, body excerpts) with secrets masked.

        Masks JWTs by shape, ``Bearer``/``Basic`` credentials, values after secret-like keys
        (``"apiKey": "…"``, ``writeKey=…``, escaped JSON included), ``Cookie:`` and
        ``Authorization:`` lines, vendor key shapes (``sk-…``, ``ghp_…``, ``AKIA…``, ``AIza…``,
        ``hcaik_…``, ``client-…``), PEM private keys, URL userinfo and remembered values.
        """
        if self.keep_secrets:
            return s
        return _TEXT_RE.sub(self._replace, self.secrets.sub(s, self.mask))

    def body(self, text: str, mime_type: str | None = None) -> str:
        """A body excerpt, masked before it is written anywhere.

        JSON goes through :func:`redact_json` (values of secret keys masked, whatever they look
        like) and is re-serialised compactly; form bodies are masked like a query string; anything
        else, including truncated JSON, goes through :meth:`text`, whose key patterns still catch
        ``"writeKey":"…"``.
        """
        if self.keep_secrets:
            return text
        mime = (mime_type or "").lower()
        head = text.lstrip()[:1]
        if "json" in mime or head in ("{", "["):
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                parsed = _NOT_JSON
            if parsed is not _NOT_JSON:
                redacted = redact_json(parsed, self)
                return json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))
        if "x-www-form-urlencoded" in mime:
            masked = self.url("?" + text)
            if masked.startswith("?"):
                return masked[1:]
        return self.text(text)

    def _replace(self, match: re.Match[str]) -> str:
        """Dispatch one match of the shape alternations to its masking rule."""
        kind = match.lastgroup
        whole = match.group(0)
        if kind == "marker":
            return whole
        if kind in ("pem", "jwt", "vendor"):
            return self.mask(whole)
        if kind == "userinfo":
            return self._mask_keep(match.group("userinfo_v"))
        if kind == "param":
            name, value = match.group("param_n"), match.group("param_v")
            if is_secret_param(name):
                return f"{name}={self._mask_keep(value)}"
            return f"{name}={_SHAPES_RE.sub(self._replace, value)}"
        if kind == "cookieline":
            name = match.group("cookieline_n")
            value = match.group("cookieline_v")
            head = whole[: len(whole) - len(value)]
            return head + self._cookie_list(value, set_cookie=name.lower().endswith("set-cookie"))
        if kind == "authline":
            value = match.group("authline_v")
            return whole[: len(whole) - len(value)] + self._credentials(value)
        if kind == "kva":
            quote_ = match.group("kva_q") or ""
            value = match.group("kva_qv") or match.group("kva_v") or ""
            return match.group("kva_k") + quote_ + self.mask(value)
        if kind == "kvt":
            return match.group("kvt_k") + self.mask(match.group("kvt_v"))
        if kind == "scheme":
            return match.group("scheme_n") + self.mask(match.group("scheme_v"))
        raise AssertionError(f"unhandled redaction pattern {kind!r}")  # a new alternative


_NOT_JSON = object()


def _header_secrets(name: str, value: str) -> Iterator[str]:
    """Values worth remembering from one header."""
    lname = name.strip().lower()
    if lname in ("cookie", "set-cookie"):
        for line in value.split("\n"):
            pairs = line.split(";")
            if lname == "set-cookie":
                pairs = pairs[:1]
            for pair in pairs:
                name, eq, raw = pair.partition("=")
                # RFC 6265bis §5.6: a pair without "=" is a nameless cookie's value
                raw = (raw if eq else name).strip().strip('"')
                if _looks_tokenish(raw):
                    yield raw
    elif lname in _AUTH_HEADERS:
        match = _AUTH_VALUE_RE.fullmatch(value)
        yield (match.group(3) if match else value).strip()
    elif is_secret_header(lname):
        yield value.strip()


def _url_secrets(url: str) -> Iterator[str]:
    """Values of secret query/fragment parameters, raw and decoded."""
    for match in re.finditer(r"(?<=[?&;#])([^&=#?;\s]+)=([^&#;?\s]+)", url):
        if is_secret_param(match.group(1)):
            raw = match.group(2)
            yield raw
            yield unquote_plus(raw)


# --------------------------------------------------------------------------------------------
# JSON trees
# --------------------------------------------------------------------------------------------

_URL_PREFIXES = ("http://", "https://", "ws://", "wss://")


def _is_url_key(key: str | None) -> bool:
    return key is not None and (key in ("url", "urls", "href") or key.endswith("_url"))


def _map_json(
    root: object,
    leaf: Callable[[object, bool, str | None], object],
    *,
    secret_key: Callable[[str], bool],
    map_key: Callable[[str], str],
) -> object:
    """Copy a JSON-like tree, replacing leaves; iterative, since hostile bodies nest deeply.

    ``leaf(value, under_secret_key, nearest_key)`` maps every scalar; a container under a secret
    key passes that on to everything inside it. Dicts, lists and tuples are copied (tuples become
    lists, as JSON has no tuples); the input is never mutated. A cycle is a bug: ValueError.
    """
    if not isinstance(root, dict | list | tuple):
        return leaf(root, False, None)

    def items(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Iterator[Any]:
        return iter(container.items()) if isinstance(container, dict) else iter(container)

    out_root: dict[Any, Any] | list[Any] = {} if isinstance(root, dict) else []
    # (items iterator, output container, under a secret key, nearest key, id of the source)
    stack: list[tuple[Iterator[Any], dict[Any, Any] | list[Any], bool, str | None, int]] = [
        (items(root), out_root, False, None, id(root))
    ]
    active = {id(root)}
    while stack:
        iterator, out, secret, context, source_id = stack[-1]
        for item in iterator:
            if isinstance(out, dict):
                key, value = item
                text_key = key if isinstance(key, str) else str(key)
                child_secret = secret or secret_key(text_key)
                child_context: str | None = text_key
                out_key = map_key(key) if isinstance(key, str) else key
            else:
                value, child_secret, child_context, out_key = item, secret, context, None
            if isinstance(value, dict | list | tuple):
                if id(value) in active:
                    raise ValueError("circular reference in a JSON tree")
                child: dict[Any, Any] | list[Any] = {} if isinstance(value, dict) else []
                if isinstance(out, dict):
                    out[out_key] = child
                else:
                    out.append(child)
                active.add(id(value))
                stack.append((items(value), child, child_secret, child_context, id(value)))
                break
            mapped = leaf(value, child_secret, child_context)
            if isinstance(out, dict):
                out[out_key] = mapped
            else:
                out.append(mapped)
        else:
            stack.pop()
            active.discard(source_id)
    return out_root


def redact_json(obj: object, redactor: Redactor) -> object:
    """A new JSON value with secrets masked, for bodies before any excerpt is written.

    Every scalar under a secret-like key (:func:`is_secret_json_key`: ``password``, ``token``,
    ``writeKey``, ``apiKey``, ``client_secret``, ``cookie`` …) is masked, nested ones included
    (``"cookies": [{"name": …, "value": …}]``); booleans and nulls stay, they hide nothing. Other
    strings go through :meth:`Redactor.text` (URLs through :meth:`Redactor.url`), keys too.
    """
    if redactor.keep_secrets:
        return _map_json(obj, lambda value, _s, _k: value, secret_key=_never, map_key=_same)

    def leaf(value: object, secret: bool, key: str | None) -> object:
        if isinstance(value, bool) or value is None:
            return value
        if secret and isinstance(value, str | int | float):
            return redactor._mask_keep(value if isinstance(value, str) else json.dumps(value))
        return _redact_scalar(value, key, redactor)

    return _map_json(obj, leaf, secret_key=is_secret_json_key, map_key=redactor.text)


def redact_document(doc: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A new analysis document with every string masked: the net every writer applies last.

    Strings go through :meth:`Redactor.text`; ``url``/``*_url`` fields and strings that are
    URLs through :meth:`Redactor.url`. Keys pass through ``text`` too (content-coding names and
    similar come from the capture). Unlike :func:`redact_json` no key names trigger masking: the
    document's keys are a public schema, and a future field called ``session`` must not vanish.
    The input is never mutated.
    """
    if redactor.keep_secrets:
        copied = _map_json(doc, lambda value, _s, _k: value, secret_key=_never, map_key=_same)
    else:
        # Documents repeat the same strings thousands of times (hosts, media types, event
        # names); each distinct (string, is-URL) pair is redacted once.
        memo: dict[tuple[str, bool], str] = {}
        keys: dict[str, str] = {}

        def leaf(value: object, _secret: bool, key: str | None) -> object:
            if not isinstance(value, str):
                return value
            slot = (value, _is_url_key(key) or value.startswith(_URL_PREFIXES))
            done = memo.get(slot)
            if done is None:
                done = memo[slot] = redactor.url(value) if slot[1] else redactor.text(value)
            return done

        def map_key(key: str) -> str:
            done = keys.get(key)
            if done is None:
                done = keys[key] = redactor.text(key)
            return done

        copied = _map_json(doc, leaf, secret_key=_never, map_key=map_key)
    if not isinstance(copied, dict):  # pragma: no cover - a dict always maps to a dict
        raise TypeError("an analysis document is a JSON object")
    return copied


def redact_document_in_place(doc: dict[str, Any], redactor: Redactor) -> None:
    """:func:`redact_document` for a document the caller has just built and owns alone.

    The pipeline's documents hold one row per exchange; a copy of a million-entry document
    doubles the peak memory of an analysis, so the builder's fresh document is masked where it
    lies. Everything else (writers, tests) uses the copying :func:`redact_document`.
    """
    if redactor.keep_secrets:
        return
    memo: dict[tuple[str, bool], str] = {}

    def clean(value: str, key: str | None) -> str:
        slot = (value, _is_url_key(key) or value.startswith(_URL_PREFIXES))
        done = memo.get(slot)
        if done is None:
            done = memo[slot] = redactor.url(value) if slot[1] else redactor.text(value)
        return done

    stack: list[tuple[dict[str, Any] | list[Any], str | None]] = [(doc, None)]
    while stack:
        node, context = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                new_key = clean(key, None) if isinstance(key, str) else key
                if new_key != key:
                    del node[key]
                    node[new_key] = value
                if isinstance(value, str):
                    node[new_key] = clean(value, key)
                elif isinstance(value, dict | list):
                    stack.append((value, key))
        else:
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = clean(value, context)
                elif isinstance(value, dict | list):
                    stack.append((value, context))


def _redact_scalar(value: object, key: str | None, redactor: Redactor) -> object:
    if not isinstance(value, str):
        return value
    if _is_url_key(key) or value.startswith(_URL_PREFIXES):
        return redactor.url(value)
    return redactor.text(value)


def _never(_key: str) -> bool:
    return False


def _same(key: str) -> str:
    return key


# --------------------------------------------------------------------------------------------
# Workspace key
# --------------------------------------------------------------------------------------------


def load_or_create_key(path: Path) -> bytes:
    """The workspace's HMAC key at ``path``, created (32 random bytes, mode 0600) if missing.

    One key per workspace keeps markers stable across runs, so two analyses of the same app show
    the same ``<redacted:…>`` for the same session cookie. Creation is race-free: the key is
    written to a private temporary file and hard-linked into place, so concurrent runs agree on
    the first key and never read a half-written one. Raises :class:`StoreError` when the file
    cannot be read or written, or does not hold exactly 32 bytes.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        return _create_key(path)
    except OSError as exc:
        raise StoreError(f"cannot read the redaction key: {exc.strerror}", path=str(path)) from exc


def _create_key(path: Path) -> bytes:
    tmp = path.with_name(f".{path.name}.{token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another run linked its key first: it wins
            os.link(tmp, path)
        return _read_key(path)
    except OSError as exc:
        message = f"cannot create the redaction key: {exc.strerror or exc}"
        raise StoreError(message, path=str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise StoreError(
            f"the redaction key has {len(key)} bytes, expected {KEY_BYTES}; delete the file to "
            "start a new key (markers of earlier analyses will no longer match)",
            path=str(path),
        )
    return key


# --------------------------------------------------------------------------------------------
# Re-scanning written output (``archcmp redact``), and high-entropy values
# --------------------------------------------------------------------------------------------

__all__ += ["URL_HEADERS", "SecretHit", "is_high_entropy", "looks_tokenish", "scan"]

#: Headers whose value is a URL (masked with :meth:`Redactor.url`); public for writers that
#: apply extra URL rules, such as ``archcmp redact``'s high-entropy parameter values.
URL_HEADERS = _URL_HEADERS

#: Public name of the rule that decides which cookie values :meth:`Redactor.harvest` remembers.
looks_tokenish = _looks_tokenish

#: Shapes that are a credential wherever they stand, whatever names surround them.
_ANYWHERE_RE = _compile("marker", "pem", "jwt", "vendor")


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A secret :func:`scan` found: what kind and where, never the value itself."""

    kind: str
    """``pem``, ``jwt``, ``vendor`` (a documented vendor key prefix) or ``remembered`` (a value
    the redactor harvested from this capture: a cookie, a key header, a bearer token)."""
    start: int
    end: int


def scan(text: str, redactor: Redactor) -> list[SecretHit]:
    """The secrets left in ``text``: the check ``archcmp redact`` runs on what it wrote.

    Only detectors that need no context: PEM private keys, JWTs, vendor key shapes and the
    values ``redactor`` remembered (:class:`SecretSet`). Name-dependent rules (``password=…``,
    a secret header's value) are re-checked by applying the redactor again at the same place;
    here they would misfire on a masked value's surroundings. Markers are skipped, so text this
    layer produced scans clean. Scans even with ``keep_secrets``: detection is not masking.
    """
    hits = [
        SecretHit(kind, match.start(), match.end())
        for match in _ANYWHERE_RE.finditer(text)
        if (kind := match.lastgroup or "") != "marker"
    ]
    secrets = redactor.secrets
    if secrets._canonical:
        secrets.sub("", str)  # builds the remembered alternation if it is stale
        pattern = secrets._pattern
        if pattern is not None:
            hits += [
                SecretHit("remembered", match.start(2), match.end(2))
                for match in pattern.finditer(text)
                if match.group(2) is not None
            ]
    return hits


#: Characters of base64 (RFC 4648 §4) and base64url (§5): what random tokens are written in.
#: Dots and ``~`` are left out on purpose: dotted values are names (``jQuery.cb``, hosts).
_TOKEN_CHARS_RE = re.compile(r"[A-Za-z0-9+/=_-]{20,4096}")


def is_high_entropy(value: str) -> bool:
    """True when ``value`` looks like a random token: 20+ base64 characters, upper and lower
    case letters and digits mixed, and a per-character Shannon entropy near that of a random
    string of its length.

    Why these numbers: over random base62 strings the measured entropy is about 0.83·log2(n)
    three standard deviations below its mean for n from 16 to 64 (measured: 3.60 bits at 20
    characters, 4.14 at 32), so 0.82·log2(min(n, 64)) keeps >99 % of them. Hex ids, UUIDs and
    lower-case slugs lack a letter case and stay: they are evidence (path templates, trace
    ids), not credentials. Names with a numeric tail (``ixCallback_6676077385``) switch
    character class rarely, random tokens at about 6 of 10 positions; at least 3 in 10 is
    required.
    """
    if _TOKEN_CHARS_RE.fullmatch(value) is None:
        return False
    classes = [0 if c.isdigit() else 1 if c.isupper() else 2 if c.islower() else 3 for c in value]
    if not {0, 1, 2} <= set(classes):
        return False
    switches = sum(1 for i in range(1, len(classes)) if classes[i] != classes[i - 1])
    if switches * 10 < (len(value) - 1) * 3:
        return False
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    entropy = -sum(n / size * math.log2(n / size) for n in counts.values())
    return entropy >= 0.82 * math.log2(min(size, 64))
