"""Auth, tenant scoping, TLS and advertised HTTP/3 (issue 4 item 7): names only, with evidence."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.analyze.auth import AuthAnalyzer, jwt_names, parse_alt_svc, session_like, site_of
from tests.analyze.test_api import alpha_hars, corpus_hars, make_obs, observations, run


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = ".".join([_b64({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
                _b64({"sub": "user-123", "exp": 1900000000, "org_id": "org-9",
                      "email": "someone@example.com"}),
                "c2lnbmF0dXJlLWJ5dGVz"])


def _auth(*obs: Any) -> dict[str, Any]:
    result: dict[str, Any] = run(AuthAnalyzer(), obs).result()
    return result


def _kinds(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["kind"], a["name"], a["where"]) for a in result["auth"]]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", [
    "session", "sessionid", "sid", "connect.sid", "__Secure-next-auth.session-token",
    "next-auth.session-token", "authjs.session-token", "sessionKey", "PHPSESSID", "JSESSIONID",
    "ASP.NET_SessionId", "laravel_session", "_gh_sess", "user_session", "__session",
    "appSession", ".AspNetCore.Cookies", "sb-abcdefgh-auth-token", "auth_token", "SESSION_ID",
])
def test_session_cookie_names(name: str) -> None:
    assert session_like(name)


@pytest.mark.parametrize("name", [
    "_hjSession_123", "_hjSessionUser_123", "ab.storage.sessionId.abc", "_uetsid",
    "__stripe_sid", "_dd_s", "amplitude_sessionId", "_ga", "__cf_bm", "anthropic-device-id",
    "csrftoken", "__Host-next-auth.csrf-token", "XSRF-TOKEN", "theme", "_pk_ses.1.abc",
    "intercom-session-abc", "AMP_abc", "sidebar_state", "consider",
])
def test_not_session_cookie_names(name: str) -> None:
    assert not session_like(name)


def test_jwt_names_never_values() -> None:
    kind, header, claims = jwt_names(JWT) or ("", [], [])
    assert kind == "jwt"
    assert header == ["alg", "kid", "typ"]
    assert claims == ["email", "exp", "org_id", "sub"]
    jwe = ".".join([_b64({"alg": "dir", "enc": "A256GCM"}), "", "aXY", "Y2lwaGVy", "dGFn"])
    assert jwt_names(jwe) == ("jwe", ["alg", "enc"], [])
    for not_jwt in ("abc.def.ghi", "1.2.3", "a" * 30, "v1.9c1b2d.x", "www.example.com"):
        assert jwt_names(not_jwt) is None


def test_alt_svc_grammar() -> None:
    value = 'h3=":443"; ma=86400, h3-29=":443"; ma=86400; persist=1, h2="alt.example:443"'
    assert parse_alt_svc(value) == [("h3", 86400), ("h3-29", 86400), ("h2", None)]
    assert parse_alt_svc("clear") == []
    assert parse_alt_svc('h3%2D29=":443"') == [("h3-29", None)]


def test_site_of() -> None:
    assert site_of("api.chat.example.com") == "example.com"
    assert site_of("www.bbc.co.uk") == "bbc.co.uk"
    assert site_of("localhost") == "localhost"
    assert site_of("10.0.0.1") == "10.0.0.1"


# --------------------------------------------------------------------------- findings


def test_session_cookie_needs_api_calls_and_http_only() -> None:
    page = make_obs("GET", "https://app.test/", response="<html>", response_type="text/html",
                    response_headers=[("set-cookie", "sid=SECRETVALUE; Path=/; HttpOnly; Secure; "
                                                     "SameSite=Lax"),
                                      ("set-cookie", "session_hint=1; Path=/")],
                    resource_type="document")
    api = make_obs("GET", "https://app.test/api/me", response={"id": 1},
                   request_headers=[("cookie", "sid=SECRETVALUE; session_hint=1; _ga=GA1")],
                   resource_type="fetch")
    result = _auth(page, api)
    assert _kinds(result) == [("session-cookie", "sid", "cookie")]
    sid = result["auth"][0]
    assert sid["http_only"] is True and sid["secure"] is True and sid["confidence"] >= 0.9
    assert sid["evidence"][0] == "cookie sid sent on 1/1 API requests"
    assert "HttpOnly; Secure; SameSite=Lax" in sid["evidence"][1]
    assert "SECRETVALUE" not in json.dumps(result)
    # a session cookie that only rides on page loads is not evidence of API auth
    assert _kinds(_auth(page)) == []


def test_third_party_session_is_not_the_app_s() -> None:
    page = make_obs("GET", "https://news.test/", response="<html>", response_type="text/html",
                    resource_type="document")
    embed = make_obs("POST", "https://www.video.example/youtubei/v1/log_event",
                     request={"events": []}, request_headers=[("cookie", "SID=x")],
                     resource_type="fetch")
    assert _kinds(_auth(page, embed)) == []


def test_bearer_jwt_basic_api_key_csrf() -> None:
    result = _auth(
        make_obs("GET", "https://api.test/v1/me", response={},
                 request_headers=[("Authorization", f"Bearer {JWT}")]),
        make_obs("GET", "https://api.test/v1/admin", response={},
                 request_headers=[("authorization", "Basic dXNlcjpwYXNz")]),
        make_obs("GET", "https://api.test/v1/items", response={},
                 request_headers=[("X-API-Key", "k-123"), ("x-csrf-token", "t")]),
        make_obs("GET", "https://api.test/v1/items?access_token=SECRET-q", response={}),
        make_obs("POST", "https://api.test/v1/items", request={}, response={},
                 request_headers=[("statsig-api-key", "client-xyz"),
                                  ("cookie", "csrftoken=SECRET-c")]))
    kinds = _kinds(result)
    assert ("bearer", "authorization", "header") in kinds
    assert ("basic", "authorization", "header") in kinds
    assert ("api-key", "x-api-key", "header") in kinds
    assert ("bearer", "access_token", "query") in kinds
    assert ("csrf-token", "x-csrf-token", "header") in kinds
    assert ("csrf-token", "csrftoken", "cookie") in kinds
    jwt = next(a for a in result["auth"] if a["kind"] == "jwt")
    assert jwt["claims"] == ["email", "exp", "org_id", "sub"]
    assert jwt["header_names"] == ["alg", "kid", "typ"]
    assert not any(a["name"] == "statsig-api-key" for a in result["auth"])
    text = json.dumps(result)
    for secret in ("user-123", "org-9", "someone@example.com", "dXNlcjpwYXNz", "k-123", "SECRET"):
        assert secret not in text


def test_unlisted_schemes_are_named_only_when_they_are_tokens() -> None:
    result = _auth(
        make_obs("GET", "https://api.test/a", response={},
                 request_headers=[("authorization", "HMAC-SHA1 keyid=1,sig=SECRET")]),
        make_obs("GET", "https://api.test/b", response={},
                 request_headers=[("authorization", "sk_live_SECRET0123 extra")]))
    evidence = " | ".join(e for a in result["auth"] for e in a["evidence"])
    assert _kinds(result) == [("other", "authorization", "header")]
    assert "scheme HMAC-SHA1" not in evidence  # digits: not a plain token name
    assert "(unnamed)" in evidence and "SECRET" not in json.dumps(result)


def test_nameless_cookies_are_values_not_names() -> None:
    """Issue 8 canary: ``Cookie: a=1; sess_…`` has a nameless cookie (RFC 6265bis §5.6: a
    pair without ``=`` has an empty name and is all value); reading it as a name put the session
    id in the report as "cookie sess_… sent on 1/1 API requests"."""
    page = make_obs("GET", "https://app.test/", response="<html>", response_type="text/html",
                    response_headers=[("set-cookie", "sess_SETabcdef0123456789; Path=/; "
                                                     "HttpOnly")],
                    resource_type="document")
    api = make_obs("GET", "https://app.test/api/me", response={"id": 1},
                   request_headers=[("cookie", "theme=dark; sess_9Fk2LmQ0pX7vZ3aB1cD4")],
                   resource_type="fetch")
    result = _auth(page, api)
    assert _kinds(result) == []
    assert "sess_" not in json.dumps(result)


def test_oauth_endpoints_and_tenancy() -> None:
    result = _auth(
        make_obs("GET", "https://auth.test/oauth2/authorize?client_id=c&response_type=code"
                 "&redirect_uri=https%3A%2F%2Fapp.test%2Fcb", status=302),
        make_obs("POST", "https://auth.test/oauth2/token",
                 request="grant_type=authorization_code&code=SECRET&client_id=c",
                 request_type="application/x-www-form-urlencoded",
                 response={"access_token": "SECRET2", "token_type": "Bearer"}),
        *[make_obs("GET", f"https://app.test/api/workspaces/7/{r}", response=[])
          for r in ("boards", "members", "boards")])
    oauth = [a for a in result["auth"] if a["kind"] == "oauth"]
    evidence = " | ".join(e for a in oauth for e in a["evidence"])
    assert "authorization request (client_id/response_type)" in evidence
    assert "token request grant_type=authorization_code" in evidence
    assert "token response (access_token, token_type)" in evidence
    assert "SECRET" not in json.dumps(result)
    [tenant] = result["tenancy"]
    assert tenant["label"] == "Workspace-scoped APIs"
    assert tenant["prefix"] == "/api/workspaces/{int}"
    assert tenant["resources"] == ["boards", "members"]
    assert tenant["distinct_ids"] == 1


def test_account_pages_are_not_tenant_scoping() -> None:
    result = _auth(make_obs("GET", "https://app.test/accounts/login", response="<html>",
                            response_type="text/html"),
                   make_obs("GET", "https://app.test/api/accounts/42", response={}))
    assert result["tenancy"] == []


# --------------------------------------------------------------------------- real captures


def test_alpha_auth_tls_http3(shared: Path) -> None:
    for har in alpha_hars(shared):
        truth = json.loads((har.parent / "truth.json").read_text())["facts"]
        _, obs = observations(har)
        result = run(AuthAnalyzer(), obs).result()
        # truth: {"kind": "session cookie", "cookie": "sessionKey"}, and nothing else
        assert _kinds(result) == [("session-cookie", truth["auth"]["cookie"], "cookie")], har
        session = result["auth"][0]
        assert session["http_only"] is True and session["api_exchanges"] >= 15
        for secret in truth["planted_secrets"]:
            assert secret["value"] not in json.dumps(result)
        [tenant] = result["tenancy"]
        assert (tenant["label"], tenant["prefix"]) == ("Org-scoped APIs",
                                                       "/api/organizations/{uuid}")
        assert set(tenant["resources"]) == {"chat_conversations", "projects"}
        h3 = result["http3"]
        assert h3["advertised"] and h3["protocols"] == {"h3": 21} and h3["max_age_s"] == [3600]
        assert "h3" in truth["protocols_offered"]
        producer = har.parent.name
        if producer == "chromium-h2":
            assert result["tls"]["versions"] == {"TLS 1.3": 21}
        elif producer == "chromium-h3":
            assert result["tls"]["versions"] == {"TLS 1.3 (QUIC)": 21}
            assert h3["used_exchanges"] == 21
        else:  # mitmproxy writes no _securityDetails
            assert result["tls"]["versions"] == {}


#: Findings expected on the corpus, checked by hand against each file.
CORPUS_AUTH = {
    "har-to-k6__full.har": [("bearer", "authorization", "header")],
    "har-to-k6__pseudo-headers.har": [("bearer", "authorization", "header")],
    "har-to-openapi__ServerService-ff.har": [
        ("session-cookie", "SESSION_ID", "cookie"), ("csrf-token", "CSRFDesignerToken", "cookie"),
        ("csrf-token", "csrfdesignertoken", "header")],
    "har-to-openapi__post-json-invalid.har": [
        ("csrf-token", "proposalHunt_sAntiCsrfToken", "cookie"),
        ("csrf-token", "anti-csrf", "header")],
    "mitmproxy__diff_data.har": [("bearer", "authorization", "header"),
                                 ("api-key", "x-goog-api-key", "header")],
    "mitmproxy__event_stream.har": [("api-key", "authorization", "header")],  # "api_key mob-…"
    "mitmproxy__websocket.har": [("api-key", "api_key", "query")],  # wss://…?api_key=
}
CORPUS_AUTH["har-to-openapi__ServerService-fiddler.har"] = CORPUS_AUTH[
    "har-to-openapi__ServerService-ff.har"]


def test_corpus_auth_claims(shared: Path) -> None:
    for har in corpus_hars(shared):
        _, obs = observations(har)
        result = run(AuthAnalyzer(), obs).result()
        assert _kinds(result) == CORPUS_AUTH.get(har.name, []), har.name
        assert result["tenancy"] == [], har.name
        for finding in result["auth"]:
            assert finding["evidence"]
    # CNN: tag URLs carry vendors' public keys (gigya.js?apiKey=…): not the app's auth
    cnn = shared / "corpus" / "har" / "haralyzer__cnn-chrome.har"
    assert run(AuthAnalyzer(), observations(cnn)[1]).result()["auth"] == []


@given(st.lists(st.tuples(st.sampled_from(["authorization", "cookie", "set-cookie", "alt-svc",
                                           "x-api-key", "x-csrf-token", "x-token"]),
                          st.text(max_size=60)), max_size=6),
       st.sampled_from(["/", "/api/orgs/12/items", "/oauth/authorize?client_id=1",
                        "/x?api_key=1&access_token=2"]))
def test_any_headers_analyse_without_error(headers: list[tuple[str, str]], path: str) -> None:
    request = [(n, v) for n, v in headers if n not in ("set-cookie", "alt-svc")]
    response = [(n, v) for n, v in headers if n in ("set-cookie", "alt-svc")]
    result = _auth(make_obs("GET", f"https://h.test{path}", response={},
                            request_headers=request, response_headers=response,
                            resource_type="fetch"))
    json.dumps(result)
