"""Tests for archcmp.redact: planted secrets in their real places, shapes, false positives, laws.

The alpha captures carry fake credentials (``truth.json`` → ``facts.planted_secrets``) in a
cookie, two request headers and a JSON body; the HARs put them where a browser or proxy does.
Each must be masked by the method the pipeline uses at that place, with names kept, and must
survive ``keep_secrets=True`` (which proves the assertions can fail).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.errors import StoreError
from archcmp.model import Exchange
from archcmp.redact import (
    KEY_FILE_NAME,
    Redactor,
    SecretSet,
    is_redacted,
    is_secret_header,
    is_secret_json_key,
    is_secret_param,
    load_or_create_key,
    redact_document,
    redact_json,
)

KEY = b"k" * 32
MARKER = re.compile(r"<redacted:sha256:[0-9a-f]{12}>")
ALPHA_HARS = ("chromium-h2", "chromium-h3", "mitmproxy")


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(key=KEY)


def b64url(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


#: A real-shaped JWS (RFC 7515 compact serialisation): base64url JSON header and payload.
JWT = (
    b64url({"alg": "HS256", "typ": "JWT"})
    + "."
    + b64url({"sub": "019ab572-fcf9-78e0-ba11-5d364848847a", "exp": 4102444800})
    + "."
    + base64.urlsafe_b64encode(b"\x8f" * 32).rstrip(b"=").decode()
)


# --------------------------------------------------------------------------------------------
# The alpha captures
# --------------------------------------------------------------------------------------------


def _alpha(shared: Path) -> Path:
    alpha = shared / "captures" / "alpha"
    if not alpha.is_dir():
        pytest.skip(f"alpha captures not found under {shared}")
    return alpha


def _planted(alpha: Path) -> list[dict[str, str]]:
    """Every planted secret of every alpha session, with its ``where``."""
    found: list[dict[str, str]] = []
    for truth in sorted(alpha.glob("*/truth.json")):
        found += json.loads(truth.read_text())["facts"]["planted_secrets"]
    assert found, "no planted secrets: the canary would prove nothing"
    return found


def _har_places(entry: dict[str, Any], r: Redactor) -> Iterator[tuple[str, str, str]]:
    """(method, original, redacted) for every place of a HAR entry the pipeline redacts."""
    for side in ("request", "response"):
        message = entry[side]
        for cookie in message.get("cookies", []):
            yield "cookie", cookie["value"], r.cookie(cookie["name"], cookie["value"])
        for header in message.get("headers", []):
            original = header["value"]
            yield "header_value", original, r.header_value(header["name"], original)
    yield "url", entry["request"]["url"], r.url(entry["request"]["url"])
    post = entry["request"].get("postData")
    if post and post.get("text"):
        yield "body", post["text"], r.body(post["text"], post.get("mimeType"))
    content = entry["response"].get("content", {})
    if content.get("text") and content.get("encoding") != "base64":
        yield "body", content["text"], r.body(content["text"], content.get("mimeType"))


#: Where truth.json says a secret is → the method that must mask it there.
EXPECTED_METHOD = {
    "cookie sessionKey": {"cookie", "header_value"},
    "request header x-honeycomb-team": {"header_value"},
    "request header statsig-api-key": {"header_value"},
    "segment writeKey (body)": {"body"},
}


@pytest.mark.parametrize("session", ALPHA_HARS)
def test_planted_secrets_in_real_har_places_are_masked(
    shared: Path, session: str, redactor: Redactor
) -> None:
    alpha = _alpha(shared)
    har = json.loads((alpha / session / "capture.har").read_text())
    places = [p for e in har["log"]["entries"] for p in _har_places(e, redactor)]
    for secret in _planted(alpha):
        value = secret["value"]
        methods = {method for method, original, _ in places if value in original}
        # the secret really sits where truth.json says, so a pass is not vacuous
        assert methods & EXPECTED_METHOD[secret["where"]], (secret["where"], methods)
        leaks = [(m, red[:80]) for m, _, red in places if value in red]
        assert not leaks, f"{secret['where']} leaked through {leaks}"


@pytest.mark.parametrize("session", ALPHA_HARS)
def test_names_and_evidence_survive_redaction(shared: Path, session: str) -> None:
    redactor = Redactor(key=KEY)
    har = json.loads((_alpha(shared) / session / "capture.har").read_text())
    first = har["log"]["entries"][0]
    set_cookie = next(
        h["value"] for h in first["response"]["headers"] if h["name"].lower() == "set-cookie"
    )
    masked = redactor.header_value("Set-Cookie", set_cookie)
    assert re.fullmatch(
        rf"sessionKey={MARKER.pattern}; Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax",
        masked,
    )
    cookie = next(
        h["value"]
        for e in har["log"]["entries"]
        for h in e["request"]["headers"]
        if h["name"].lower() == "cookie"
    )
    names = [pair.split("=")[0].strip() for pair in cookie.split(";")]
    masked_names = [
        pair.split("=")[0].strip() for pair in redactor.header_value("cookie", cookie).split(";")
    ]
    assert masked_names == names
    body = next(
        e["request"]["postData"]["text"]
        for e in har["log"]["entries"]
        if e["request"]["url"].endswith("/v1/t")
    )
    segment = json.loads(redactor.body(body, "text/plain"))
    assert is_redacted(segment["writeKey"])
    # ids and ordinary fields are evidence and stay
    assert segment["anonymousId"] == json.loads(body)["anonymousId"]
    assert segment["context"] == json.loads(body)["context"]


@pytest.mark.parametrize("session", ALPHA_HARS)
def test_alpha_urls_and_ordinary_headers_are_untouched(shared: Path, session: str) -> None:
    """No false positives: the alpha URLs (UUID paths, limit=30) and non-secret headers."""
    redactor = Redactor(key=KEY)
    har = json.loads((_alpha(shared) / session / "capture.har").read_text())
    for entry in har["log"]["entries"]:
        url = entry["request"]["url"]
        assert redactor.url(url) == url
        for side in ("request", "response"):
            for header in entry[side]["headers"]:
                name, value = header["name"], header["value"]
                if not is_secret_header(name):
                    assert redactor.header_value(name, value) == value, name


@pytest.mark.parametrize("session", ALPHA_HARS)
def test_keep_secrets_keeps_everything(shared: Path, session: str) -> None:
    keeper = Redactor(keep_secrets=True, key=KEY)
    har = json.loads((_alpha(shared) / session / "capture.har").read_text())
    places = [p for e in har["log"]["entries"] for p in _har_places(e, keeper)]
    for method, original, redacted in places:
        if method != "body":  # bodies are re-serialised JSON when redacted; kept verbatim here
            assert redacted == original
    joined = "\n".join(red for _, _, red in places)
    for secret in _planted(_alpha(shared)):
        assert secret["value"] in joined


def test_every_truth_file_secret_masked_in_its_named_position(
    shared: Path, redactor: Redactor
) -> None:
    """Sessions without a HAR (httpx, aioquic) name the same places; build each one."""
    for secret in _planted(_alpha(shared)):
        where, value = secret["where"], secret["value"]
        if where.startswith("cookie "):
            name = where.split()[1]
            out = redactor.header_value("Cookie", f"{name}={value}; theme=dark")
            assert re.fullmatch(rf"{name}={MARKER.pattern}; theme={MARKER.pattern}", out)
        elif where.startswith("request header "):
            name = where.split()[2]
            assert is_secret_header(name)
            assert MARKER.fullmatch(redactor.header_value(name, value))
            # and as free text, e.g. quoted as evidence or in a warning sample
            assert value not in redactor.text(f"{name}: {value}")
        else:
            assert "writeKey" in where
            body = json.dumps({"writeKey": value, "type": "track"})
            assert value not in redactor.body(body, "application/json")
            assert value not in redactor.text(body[:-5])  # a cut excerpt is not JSON any more
        echoed = f"echo {value} echo"  # no name beside it: only a shape or remembering helps
        fresh = Redactor(key=KEY)
        if "writeKey" in where:
            assert fresh.text(echoed) == echoed  # 32 base62 characters have no vendor shape
            fresh.remember(value)
        assert value not in fresh.text(echoed)


def test_harvested_secrets_are_masked_where_they_reappear(shared: Path) -> None:
    har = json.loads((_alpha(shared) / "chromium-h2" / "capture.har").read_text())
    exchanges = [
        Exchange(
            index=i,
            method=e["request"]["method"],
            url=e["request"]["url"],
            protocol="h2",
            status=e["response"]["status"],
            request_headers=tuple((h["name"], h["value"]) for h in e["request"]["headers"]),
            response_headers=tuple((h["name"], h["value"]) for h in e["response"]["headers"]),
        )
        for i, e in enumerate(har["log"]["entries"])
    ]
    redactor = Redactor(key=KEY)
    cf_bm = next(
        c["value"]
        for e in har["log"]["entries"]
        for c in e["request"]["cookies"]
        if c["name"] == "__cf_bm"
    )
    assert redactor.text(f"/echo/{cf_bm}") == f"/echo/{cf_bm}"  # no shape says it is secret
    redactor.harvest(exchanges)
    assert len(redactor.secrets) > 0
    assert cf_bm not in redactor.text(f"/echo/{cf_bm}")
    assert cf_bm not in redactor.url(f"https://x.test/echo/{cf_bm}?v=1")
    # one secret, one marker: the cookie header and the echo agree
    in_cookie = redactor.header_value("cookie", f"__cf_bm={cf_bm}").split("=", 1)[1]
    assert redactor.text(cf_bm) == in_cookie


def test_nameless_cookies_are_masked_and_remembered(redactor: Redactor) -> None:
    """Issue 8 canary: a pair without ``=`` in ``Cookie``/``Set-Cookie`` is a nameless cookie's
    value (RFC 6265bis §5.6), a session id as often as not; it was kept and never remembered."""
    sid, set_sid = "sess_9Fk2LmQ0pX7vZ3aB1cD4", "sess_SETabcdef0123456789"
    cookie = redactor.header_value("Cookie", f"theme=dark; {sid}")
    assert sid not in cookie and cookie.startswith("theme=<redacted:sha256:")
    assert cookie.endswith("; " + redactor.mask(sid))
    set_cookie = redactor.header_value("Set-Cookie", f"{set_sid}; Path=/; HttpOnly")
    assert set_cookie == redactor.mask(set_sid) + "; Path=/; HttpOnly"
    assert redactor.header_value("Cookie", "a=1; ; ") == f"a={redactor.mask('1')}; ; "
    fresh = Redactor(key=KEY)
    fresh.harvest([Exchange(index=0, method="GET", url="https://x.test/", protocol="h2",
                            status=200, request_headers=(("cookie", f"a=1; {sid}"),),
                            response_headers=(("set-cookie", f"{set_sid}; Path=/"),))])
    assert fresh.text(f"user {sid} and {set_sid}") == (
        f"user {fresh.mask(sid)} and {fresh.mask(set_sid)}")
    # in free text a bare word after "cookie:" is a name (evidence), not a nameless value
    assert redactor.text("cookie: sessionKey, __cf_bm") == "cookie: sessionKey, __cf_bm"


# --------------------------------------------------------------------------------------------
# Shapes and rules
# --------------------------------------------------------------------------------------------


def test_jwt_is_masked_by_shape_anywhere(redactor: Redactor) -> None:
    assert JWT.startswith("eyJ") and JWT.count(".") == 2
    assert MARKER.fullmatch(redactor.text(JWT))
    assert JWT not in redactor.text(f'token in body: {{"data": "{JWT}"}}')
    assert JWT not in redactor.url(f"https://x.test/callback/{JWT}/done")
    assert JWT not in redactor.url(f"https://x.test/?state={JWT}&page=2")
    assert JWT not in redactor.header_value("x-custom-thing", JWT)
    assert redactor.header_value("Authorization", f"Bearer {JWT}").startswith("Bearer <redacted:")
    jwe = b64url({"alg": "RSA-OAEP", "enc": "A256GCM"}) + ".abcDEF123.ivivivivivivi.cipher12.tag456"
    assert MARKER.fullmatch(redactor.text(jwe))


def test_base64_that_merely_contains_eyJ_is_not_a_jwt(redactor: Redactor) -> None:
    blob = "QUFBQeyJhbGciOi.eyJzdWIi.c2ln"
    assert redactor.text(blob) == blob  # inside a run, not at its start


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer abc.def-123", r"Bearer <redacted:sha256:\w{12}>"),
        ("authorization", "Basic dXNlcjpwYXNzd29yZA==", r"Basic <redacted:sha256:\w{12}>"),
        (
            "Proxy-Authorization",
            'Digest username="u", response="abc"',
            r"Digest <redacted:sha256:\w{12}>",
        ),
        ("Authorization", "rawkeywithoutscheme", r"<redacted:sha256:\w{12}>"),
        ("x-api-key", "k" * 40, r"<redacted:sha256:\w{12}>"),
        ("X-CSRF-Token", "abc", r"<redacted:sha256:\w{12}>"),
        ("x-auth-user-token", "abc", r"<redacted:sha256:\w{12}>"),
        ("dd-api-key", "abc", r"<redacted:sha256:\w{12}>"),
        ("x-session-id", "abc", r"<redacted:sha256:\w{12}>"),
        ("Cookie", "a=1; b=two", r"a=<redacted:sha256:\w{12}>; b=<redacted:sha256:\w{12}>"),
        (
            "set-cookie",
            "a=1; Path=/\nb=2; Domain=x.test",
            r"a=<redacted:sha256:\w{12}>; Path=/\nb=<redacted:sha256:\w{12}>; Domain=x.test",
        ),
        (
            "Referer",
            "https://x.test/?access_token=abc&x=1",
            r"https://x.test/\?access_token=<redacted:sha256:\w{12}>&x=1",
        ),
    ],
)
def test_header_rules(redactor: Redactor, name: str, value: str, expected: str) -> None:
    assert re.fullmatch(expected, redactor.header_value(name, value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("content-type", "application/json; charset=utf-8"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("traceparent", "00-3ef5d20daa06fe281559f688ab66b610-fc1377597b388aca-01"),
        ("x-honeycomb-trace", "1;trace_id=e07371c8e5b3aad1cb67e1d2a2497865,context=e30="),
        ("etag", 'W/"5e1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c"'),
        ("etag", '"0x8DC5F1A2B3C4D5E"'),
        ("cf-ray", "e6aec173bb1ff096-SJC"),
        ("request-id", "req_011C796rKAtMfJ6d1DM1UL7j"),
        ("access-control-allow-credentials", "true"),
        ("x-ratelimit-remaining-tokens", "79000"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("www-authenticate", 'Bearer realm="api", error="invalid_token"'),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0 Safari/537.36"),
        (":path", "/api/organizations/019ab572-f082-79b7-a0db-e69cbf591f58/projects?limit=30"),
        ("location", "https://x.test/chat/019ab573-1035-71f9-bc35-2132d996007b"),
        ("x-envoy-upstream-service-time", "35"),
        ("alt-svc", 'h3=":8443"; ma=3600'),
    ],
)
def test_no_false_positives_on_ordinary_headers(redactor: Redactor, name: str, value: str) -> None:
    assert redactor.header_value(name, value) == value
    assert redactor.text(f"{name}: {value}") == f"{name}: {value}"


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/organizations/019ab572-f082-79b7-a0db-e69cbf591f58/chat_conversations",
        "server: cloudflare on 24/24 responses",
        "statsig-api-key request header; writeKey in body",
        "cookie: sessionKey, __cf_bm, anthropic-device-id",
        "Bearer token in the Authorization header on 12 requests",
        '{"key":"service.name","value":{"stringValue":"claude-ai-web"}}',
        '{"max_tokens": 1024, "input_tokens": 12, "token_type": "Bearer", "stop_sequence": null}',
        "session-cookie auth: session-cookie",
        "sha256 of the capture: " + "ab" * 32,
        "2025-11-24T10:40:54.547000Z took 180.5 ms (p95 640.0)",
        "hcaik_short and sk-short and client-short",
    ],
)
def test_no_false_positives_in_evidence_text(redactor: Redactor, text: str) -> None:
    assert redactor.text(text) == text


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-" + "A1b2C3d4" * 11,
        "sk-ant-sid01-_yBNikaAqrETAL8P0sUOZv0QRkmZDb6scPqVp8hjcgY2TwEVPAxqJ7v2AOneW",
        "sk-proj-" + "x9Y8z7W6" * 6,
        "ghp_" + "a1B2c3D4e5" * 4,
        "github_pat_" + "11ABCDEFG0" * 4,
        "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyD" + "a1B2c3D4e5" * 3 + "f6G7h",
        "hcaik_MwAbsDCFHGYEzUVs9dElrFhQEJD2vdGd8DnGpi3l4c5e1cgNO6PJLABFAKE",
        "client-RcrA7KJ8RG4QGe37h7HdoZKjZbaKIVJ7J4aYqzpii4k",
        "sk_live_" + "51Habcdefghij0123456789",
        "ya29.a0AfH6SMB" + "x1y2z3" * 5,
    ],
)
def test_vendor_key_shapes(redactor: Redactor, secret: str) -> None:
    for context in ("{}", "key: {}", "'{}'", "https://x.test/p/{}/q", "[{}]"):
        assert secret not in redactor.text(context.format(secret)), context


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('{"apiKey": "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX"}', '{"apiKey": "<redacted:'),
        ('analytics.load({writeKey: "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX"})', 'writeKey: "<redacted:'),
        ("writeKey=hrSbviFSM4KkOTYPfksuy4MADOGwsaBX&x=1", "writeKey=<redacted:"),
        ('\\"writeKey\\":\\"hrSbviFSM4KkOTYPfksuy4MADOGwsaBX\\"', '\\"writeKey\\":\\"<redacted:'),
        ('"client_secret": "correct horse battery staple"', '"client_secret": "<redacted:'),
        ("password: hunter2", "password: <redacted:"),
        ("x-honeycomb-team: 0123456789abcdef0123456789abcdef", "x-honeycomb-team: <redacted:"),
        ("Authorization: SAPISIDHASH 1700000000_0a1b2c3d", "Authorization: SAPISIDHASH <redacted:"),
        ("Set-Cookie: sid=abc; Path=/; Secure", "Set-Cookie: sid=<redacted:"),
        (
            "net::ERR_FAILED sending Bearer abcdefgh12345",
            "net::ERR_FAILED sending Bearer <redacted:",
        ),
        ("see https://admin:s3cret@db.internal/", "see https://<redacted:"),
    ],
)
def test_text_masks_values_after_secret_keys(redactor: Redactor, text: str, kept: str) -> None:
    out = redactor.text(text)
    assert out.startswith(kept) or kept in out, out
    assert MARKER.search(out)


def test_pem_private_key(redactor: Redactor) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\n" + ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 2 + "\n") * 3
    pem += "-----END PRIVATE KEY-----"
    out = redactor.text(f"key:\n{pem}\nafter")
    assert "MIIEvQ" not in out and out.endswith("\nafter")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.test/cb?code=abc123&state=ok", r"https://x.test/cb\?code=<R>&state=ok"),
        (
            "https://x.test/#access_token=t0k3n&token_type=Bearer&expires_in=3600",
            r"https://x.test/#access_token=<R>&token_type=Bearer&expires_in=3600",
        ),
        (
            "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIDEXAMPLE%2F20240101&X-Amz-Signature=abcd"
            "&X-Amz-Expires=60",
            r"https://b.s3.amazonaws.com/o\?X-Amz-Credential=<R>&X-Amz-Signature"
            r"=<R>&X-Amz-Expires=60",
        ),
        (
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&sig=abc%3D",
            r"https://a.blob.core.windows.net/c/b\?sv=2022-11-02&sig=<R>",
        ),
        (
            "https://maps.googleapis.com/maps/api/js?key=AIzaXYZ&v=3",
            r"https://maps.googleapis.com/maps/api/js\?key=<R>&v=3",
        ),
        ("https://user:pa55@x.test:8443/p", r"https://<R>@x.test:8443/p"),
        ("/app;jsessionid=ABCDEF0123456789?x=1", r"/app;jsessionid=<R>\?x=1"),
        ("https://x.test/p?limit=30&starred=false", r"https://x.test/p\?limit=30&starred=false"),
        ("https://x.test/p?token=&empty", r"https://x.test/p\?token=&empty"),
    ],
)
def test_url_rules(redactor: Redactor, url: str, expected: str) -> None:
    """``expected`` is a regex in which ``<R>`` stands for one marker."""
    masked = redactor.url(url)
    assert re.fullmatch(expected.replace("<R>", MARKER.pattern), masked), masked


def test_stable_keyed_hashes() -> None:
    one, same, other = Redactor(key=KEY), Redactor(key=KEY), Redactor(key=b"o" * 32)
    value = "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX"
    assert one.mask(value) == same.mask(value)
    assert one.mask(value) != other.mask(value)
    assert one.mask(value) != one.mask(value + "x")
    assert MARKER.fullmatch(one.mask(value))
    # the marker is an HMAC, not a bare SHA-256 anyone could recompute from a guess
    import hashlib

    assert hashlib.sha256(value.encode()).hexdigest()[:12] not in one.mask(value)
    # same secret, same marker, whichever rule masked it
    assert one.header_value("x-api-key", value) == one.mask(value)
    assert one.text(f'"apiKey":"{value}"') == f'"apiKey":"{one.mask(value)}"'
    assert Redactor.mask_bytes(b"\x00" * 10) == "<redacted:10 bytes>"
    assert is_redacted("<redacted:10 bytes>") and is_redacted(one.mask("x"))


def test_default_key_is_random_per_run() -> None:
    assert Redactor().mask("secret-value") != Redactor().mask("secret-value")


def test_repr_never_shows_key_or_secrets() -> None:
    redactor = Redactor(key=b"K3Y" * 11)
    redactor.remember("TopSecretValue123")
    assert "K3Y" not in repr(redactor)
    assert "TopSecret" not in repr(redactor.secrets)


def test_secret_set_refuses_short_and_marker_breaking_values() -> None:
    secrets = SecretSet()
    assert not secrets.add("short")
    assert not secrets.add("has<angle>bracket")
    assert secrets.add("long-enough-1")
    assert "long-enough-1" in secrets
    # URL-encoded and JSON-escaped forms are masked with the raw value's marker
    redactor = Redactor(key=KEY, secrets=SecretSet(["a/b c+d=1234"]))
    marker = redactor.mask("a/b c+d=1234")
    assert redactor.text("x a%2Fb%20c%2Bd%3D1234 y") == f"x {marker} y"
    assert redactor.text('"a/b c+d=1234"') == f'"{marker}"'


def test_keep_secrets_is_the_identity_everywhere() -> None:
    keeper = Redactor(keep_secrets=True, key=KEY)
    assert not keeper.remember("would-be-secret-1")
    for s in (JWT, f"Bearer {JWT}", "password: x", "https://u:p@x.test/?token=1"):
        assert keeper.text(s) == s
        assert keeper.url(s) == s
        assert keeper.header_value("Authorization", s) == s
        assert keeper.body(s) == s


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("writeKey", True),
        ("apiKey", True),
        ("api_key", True),
        ("client_secret", True),
        ("accessToken", True),
        ("csrf_token", True),
        ("sessionID", True),
        ("authorization", True),
        ("cookies", True),
        ("private_key", True),
        ("key", False),
        ("max_tokens", False),
        ("token_type", False),
        ("anonymousId", False),
        ("traceId", False),
        ("userId", False),
        ("messageId", False),
        ("value", False),
    ],
)
def test_secret_json_keys(key: str, secret: bool) -> None:
    assert is_secret_json_key(key) is secret


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("access_token", True),
        ("X-Amz-Signature", True),
        ("code", True),
        ("oauth_token", True),
        ("limit", False),
        ("max_tokens", False),
        ("starred", False),
        ("v", False),
    ],
)
def test_secret_params(name: str, secret: bool) -> None:
    assert is_secret_param(name) is secret


def test_redact_json_masks_secret_subtrees_and_never_mutates(redactor: Redactor) -> None:
    body = {
        "writeKey": "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX",
        "cookies": [{"name": "sessionKey", "value": "plain"}],
        "auth": {"pin": 1234, "enabled": True, "expires": None},
        "context": {"library": {"name": "analytics.js"}, "page": {"url": "https://x.test/?code=1"}},
        "attributes": [{"key": "service.name", "value": {"stringValue": "web"}}],
        "nested": {"jwt_holder": JWT},
        "count": 3,
    }
    snapshot = json.dumps(body, sort_keys=True)
    out = redact_json(body, redactor)
    assert json.dumps(body, sort_keys=True) == snapshot
    assert isinstance(out, dict)
    assert is_redacted(out["writeKey"])
    assert out["cookies"][0]["name"] != "sessionKey"  # everything under a secret key goes
    assert is_redacted(out["auth"]["pin"])
    assert out["auth"]["enabled"] is True and out["auth"]["expires"] is None
    assert out["context"]["library"] == {"name": "analytics.js"}
    assert re.fullmatch(rf"https://x\.test/\?code={MARKER.pattern}", out["context"]["page"]["url"])
    assert out["attributes"] == body["attributes"]
    assert is_redacted(out["nested"]["jwt_holder"])
    assert out["count"] == 3


def test_redact_json_survives_hostile_nesting(redactor: Redactor) -> None:
    deep: Any = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    for _ in range(20_000):
        deep = [deep]
    out = redact_json({"a": deep}, redactor)
    assert isinstance(out, dict)
    inner = out["a"]
    for _ in range(20_000):
        inner = inner[0]
    assert is_redacted(inner)
    text = "[" * 5000 + "]" * 5000
    assert redactor.body(text, "application/json") == text  # RecursionError → plain text path


def test_redact_json_rejects_cycles(redactor: Redactor) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular"):
        redact_json(loop, redactor)


def test_redact_document_is_a_new_masked_document(redactor: Redactor) -> None:
    doc: dict[str, Any] = {
        "schema": "archcmp.analysis/1",
        "capture": {
            "name": "capture.har",
            "sha256": "ab" * 32,
            "exchanges": 2,
            "warnings": [
                {
                    "code": "har.entry.no_response",
                    "count": 1,
                    "message": f"entry 3: Authorization: Bearer {JWT}",
                }
            ],
        },
        "exchanges": [
            {
                "id": 0,
                "url": "https://x.test/cb?code=s3cr3t&page=2",
                "status": 200,
                "template": "/api/organizations/{uuid}",
                "total_ms": 40.1,
            }
        ],
        "fingerprints": [
            {
                "evidence": [
                    "server: cloudflare",
                    "statsig-api-key: client-RcrA7KJ8RG4QGe37h7HdoZKjZbaKIVJ7J4aYqzpii4k",
                ],
                "confidence": 0.97,
            }
        ],
        "auth": [{"kind": "session-cookie", "name": "sessionKey", "where": "cookie"}],
        "id_formats": [{"kind": "uuid", "examples": ["019ab572-f082-79b7-a0db-e69cbf591f58"]}],
        "encodings": {"br": 3},
        "decryption": None,
    }
    snapshot = json.dumps(doc, sort_keys=True)
    out = redact_document(doc, redactor)
    assert out is not doc and json.dumps(doc, sort_keys=True) == snapshot
    flat = json.dumps(out)
    assert JWT not in flat and "s3cr3t" not in flat and "RcrA7KJ8" not in flat
    assert out["exchanges"][0]["url"].endswith("&page=2")
    assert out["exchanges"][0]["total_ms"] == 40.1 and out["capture"]["exchanges"] == 2
    assert out["auth"] == doc["auth"]  # names are evidence; no key-name rules on the schema
    assert out["id_formats"] == doc["id_formats"]
    assert out["capture"]["sha256"] == "ab" * 32
    assert out["encodings"] == {"br": 3} and out["decryption"] is None
    assert redact_document(out, redactor) == out
    kept = redact_document(doc, Redactor(keep_secrets=True, key=KEY))
    assert kept == doc and kept is not doc and kept["exchanges"] is not doc["exchanges"]


def test_body_routes_by_content(redactor: Redactor) -> None:
    assert redactor.body("password=hunter2&user=bob", "application/x-www-form-urlencoded").endswith(
        "&user=bob"
    )
    assert "hunter2" not in redactor.body(
        "password=hunter2&user=bob", "application/x-www-form-urlencoded"
    )
    sse = 'event: message_start\ndata: {"type":"message_start","session_token":"abc123456789"}\n'
    out = redactor.body(sse, "text/event-stream")
    assert "abc123456789" not in out and out.startswith("event: message_start\ndata: {")
    cut = '{"writeKey": "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX", "type": "tr'  # not JSON any more
    masked = redactor.mask("hrSbviFSM4KkOTYPfksuy4MADOGwsaBX")
    assert redactor.body(cut, "application/json") == f'{{"writeKey": "{masked}", "type": "tr'


# --------------------------------------------------------------------------------------------
# Workspace key
# --------------------------------------------------------------------------------------------


def test_load_or_create_key(tmp_path: Path) -> None:
    path = tmp_path / "ws" / KEY_FILE_NAME
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]  # no temp file left


def test_key_errors_are_store_errors(tmp_path: Path) -> None:
    bad = tmp_path / KEY_FILE_NAME
    bad.write_bytes(b"short")
    with pytest.raises(StoreError, match="5 bytes"):
        load_or_create_key(bad)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot read the redaction key: Not a directory"):
        load_or_create_key(blocker / KEY_FILE_NAME)
    with pytest.raises(StoreError, match="cannot read"):
        load_or_create_key(tmp_path)  # a directory


# --------------------------------------------------------------------------------------------
# Laws: idempotent and total
# --------------------------------------------------------------------------------------------

#: Pieces that build the adversarial inputs random text almost never contains.
FRAGMENTS = [
    "token",
    "=",
    ":",
    '"',
    "'",
    "\\",
    '\\"',
    "&",
    "?",
    "#",
    "@",
    "/",
    "//",
    "https://",
    ";",
    ",",
    " ",
    "\n",
    "-",
    "_",
    ".",
    "Bearer ",
    "Basic ",
    "Authorization: ",
    "Cookie: ",
    "set-cookie:",
    "password",
    "writeKey",
    "apiKey",
    "x-honeycomb-team",
    "session",
    "sid",
    "eyJhbGciOi",
    "eyJzdWIi",
    "sk-ant-",
    "AKIA",
    "hcaik_",
    "client-",
    "ghp_",
    "AIza",
    "0123456789",
    "abcdefghij",
    "ABCDEFGHIJ",
    "<redacted:sha256:0123456789ab>",
    "<redacted:3 bytes>",
    "<",
    ">",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "code",
    "key",
    "%2F",
    "{",
    "}",
    "[",
    "]",
    "remembered-secret-1",
]
adversarial = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)
anything = st.text() | adversarial


def _fuzz_redactor() -> Redactor:
    return Redactor(key=KEY, secrets=SecretSet(["remembered-secret-1", "0123456789abcdefghij"]))


@given(anything)
def test_text_is_idempotent_and_total(s: str) -> None:
    r = _fuzz_redactor()
    once = r.text(s)
    assert r.text(once) == once


@given(anything)
def test_url_is_idempotent_and_total(s: str) -> None:
    r = _fuzz_redactor()
    once = r.url(s)
    assert r.url(once) == once


@given(
    st.sampled_from(["cookie", "set-cookie", "authorization", "x-api-key", "referer", "x-other"]),
    anything,
)
def test_header_value_is_idempotent_and_total(name: str, value: str) -> None:
    r = _fuzz_redactor()
    once = r.header_value(name, value)
    assert r.header_value(name, once) == once


@given(anything, st.sampled_from([None, "application/json", "application/x-www-form-urlencoded"]))
def test_body_is_idempotent_and_total(s: str, mime: str | None) -> None:
    r = _fuzz_redactor()
    once = r.body(s, mime)
    assert r.body(once, mime) == once


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | anything,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["url", "token", "name", "evidence", "writeKey"]) | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8) | st.just("url"), json_values, max_size=5))
def test_redact_document_is_idempotent_and_total(doc: dict[str, Any]) -> None:
    r = _fuzz_redactor()
    once = redact_document(doc, r)
    assert redact_document(once, r) == once
    assert redact_json(redact_json(doc, r), r) == redact_json(doc, r)


def test_in_place_redaction_equals_the_copying_one(shared: Path) -> None:
    import copy

    from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
    from archcmp.redact import redact_document, redact_document_in_place

    keep = Redactor(keep_secrets=True, key=b"k" * 32)
    har = shared / "captures" / "alpha" / "chromium-h2" / "capture.har"
    doc = analyze_capture(har, options=AnalyzeOptions(), redactor=keep)
    doc["exchanges"][0]["url"] += "?access_token=abcdefgh12345678XYZ"
    doc["capture"]["warnings"].append({"code": "x.y", "message": "Bearer abcdefgh12345678",
                                       "count": 1})
    masker = Redactor(key=b"k" * 32)
    expected = redact_document(doc, masker)
    mine = copy.deepcopy(doc)
    redact_document_in_place(mine, masker)
    assert mine == expected
    assert mine != doc
