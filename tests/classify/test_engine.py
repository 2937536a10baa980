"""The classifier: confidence, scope, evidence text, secrets — and real captures end to end.

Real captures: every alpha HAR must yield exactly its truth facts (Next.js is allowed as the
one extra, since ``/_next/static/`` is served and the reference names Next.js), every corpus
HAR must yield the reviewed table below, and every piece of evidence is checked against the
raw HAR with an independent json.load-based reader, so a finding cannot claim a header,
cookie or host the capture does not have.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.classify.conditions import site_of, split_list
from archcmp.classify.engine import Classifier, EvidenceItem
from archcmp.classify.rules import RuleSet, load_rule_file, load_rules, observation_from_case
from archcmp.errors import ArchcmpError
from archcmp.model import Body, Exchange, Finding, Observation

from .test_rules import CASES, write_rule

RULES = load_rules()
REPO = Path(__file__).resolve().parents[2]


def run(observations: list[Observation], ruleset: RuleSet = RULES,
        primary: str | None = None) -> Classifier:
    classifier = Classifier(ruleset, primary_host=primary)
    for obs in observations:
        classifier.observe(obs)
    return classifier


def obs(index: int = 0, **spec: Any) -> Observation:
    spec.setdefault("url", "https://app.example.com/")
    return observation_from_case(spec, index)


def by_rule(findings: list[Finding]) -> dict[str, Finding]:
    return {f.rule: f for f in findings}


def one_rule(tmp_path: Path, text: str) -> RuleSet:
    path = write_rule(tmp_path, f"{text.split('category: ')[1].split()[0]}/t.yaml", text, CASES)
    return RuleSet((load_rule_file(path, tmp_path),))


RULE = """\
name: T
category: {category}
description: test
references: [https://example.com]
match:
{match}
"""


def rule(tmp_path: Path, match: str, category: str = "analytics", extra: str = "") -> RuleSet:
    return one_rule(tmp_path, RULE.format(category=category, match=match) + extra)


# --- confidence ----------------------------------------------------------------------------


def test_noisy_or_over_distinct_conditions(tmp_path: Path) -> None:
    rs = rule(tmp_path, "  - request_header: x-a\n    weight: 0.5\n"
                        "  - request_header: x-b\n    weight: 0.6\n")
    (finding,) = run([obs(0, request_headers={"x-a": "1"}), obs(1, request_headers={"x-a": "1"}),
                      obs(2, request_headers={"x-b": "1"})], rs).findings()
    assert finding.confidence == pytest.approx(1 - 0.5 * 0.4)  # repeats do not add weight
    assert finding.exchanges == (0, 1, 2)
    assert finding.evidence == ("x-a request header on 2/3 requests",
                                "x-b request header on 1/3 requests")


def test_threshold(tmp_path: Path) -> None:
    rs = rule(tmp_path, "  - request_header: x-a\n    weight: 0.4\n")
    assert run([obs(request_headers={"x-a": "1"})], rs).findings() == []
    rs = rule(tmp_path, "  - request_header: x-a\n    weight: 0.4\n", extra="threshold: 0.4\n")
    assert len(run([obs(request_headers={"x-a": "1"})], rs).findings()) == 1


def test_supporting_condition_needs_a_strong_one(tmp_path: Path) -> None:
    rs = rule(tmp_path, "  - request_header: x-vendor\n    weight: 0.9\n"
                        "  - path: '^/v1/traces$'\n    weight: 0.9\n    supporting: true\n")
    assert run([obs(url="https://a.example.com/v1/traces")], rs).findings() == []
    (finding,) = run([obs(0, url="https://a.example.com/v1/traces"),
                      obs(1, request_headers={"x-vendor": "k"})], rs).findings()
    assert finding.confidence == pytest.approx(0.99)
    assert finding.evidence[-1] == "path /v1/traces (1 request)"


def test_all_group_needs_every_leaf_in_the_same_exchange(tmp_path: Path) -> None:
    rs = rule(tmp_path, "  - all:\n      - request_header: x-a\n      - method: POST\n"
                        "    weight: 0.9\n")
    assert run([obs(0, request_headers={"x-a": "1"}), obs(1, method="POST")], rs).findings() == []
    (finding,) = run([obs(method="POST", request_headers={"x-a": "1"})], rs).findings()
    assert finding.evidence == ("x-a request header + method POST on 1 exchange",)


def test_unless_excludes_exchanges_with_another_vendors_marker(tmp_path: Path) -> None:
    rs = rule(tmp_path, "  - response_header: age\n    weight: 0.9\n", category="cdn",
              extra="unless:\n  - response_header: cf-ray\n")
    assert run([obs(response_headers={"age": "5", "cf-ray": "x"})], rs).findings() == []
    assert len(run([obs(response_headers={"age": "5"})], rs).findings()) == 1


# --- scope -----------------------------------------------------------------------------------


def test_infrastructure_rules_count_only_the_captured_site() -> None:
    page = obs(0, url="https://www.shop.example/", resource_type="document",
               response_headers={"content-type": "text/html", "server": "nginx"})
    ad = obs(1, url="https://ads.adnetwork.example/px.gif",
             response_headers={"x-amz-cf-id": "abc", "x-cache": "Hit from cloudfront"})
    cdn_on_own_host = obs(2, url="https://static.shop.example/app.js",
                          response_headers={"cf-ray": "8f1c2a3b4d5e6f70-SJC"})
    c = run([ad, page, cdn_on_own_host])
    found = by_rule(c.findings())
    assert c.primary_host == "www.shop.example"
    assert "cdn.cloudfront" not in found  # the ad server's CDN is not the app's
    assert found["cdn.cloudflare"].hosts == ("static.shop.example",)
    assert found["web_server.nginx"].evidence == ("server: nginx on 1/2 responses",)


def test_vendor_rules_count_every_host() -> None:
    page = obs(0, url="https://www.shop.example/", resource_type="document")
    segment = obs(1, url="https://api.segment.io/v1/t", method="POST")
    found = by_rule(run([page, segment]).findings())
    assert found["analytics.segment"].hosts == ("api.segment.io",)


def test_primary_host_falls_back_to_the_busiest_host() -> None:
    c = run([obs(0, url="https://api.a.example/x"), obs(1, url="https://api.b.example/y"),
             obs(2, url="https://api.b.example/z")])
    assert c.primary_host == "api.b.example"


@pytest.mark.parametrize(("host", "site"), [
    ("www.cnn.com", "cnn.com"), ("cnn.com", "cnn.com"), ("a.b.co.uk", "b.co.uk"),
    ("localhost", "localhost"), ("127.0.0.1", "127.0.0.1"), ("edition.i.cdn.cnn.com", "cnn.com"),
])
def test_site_of(host: str, site: str) -> None:
    assert site_of(host) == site


# --- evidence and secrets ------------------------------------------------------------------


def test_evidence_counts_and_quoting() -> None:
    headers = {"server": "cloudflare", "cf-ray": "8f1c2a3b4d5e6f70-SJC",
               "cf-cache-status": "DYNAMIC"}
    c = run([obs(i, url=f"https://app.example.com/{i}", response_headers=headers)
             for i in range(3)] + [obs(3, url="https://app.example.com/x", status=None)])
    cf = by_rule(c.findings())["cdn.cloudflare"]
    assert cf.evidence == ("cf-ray on 3/3 responses", "cf-cache-status: DYNAMIC on 3/3 responses",
                           "server: cloudflare on 3/3 responses")
    assert cf.confidence == pytest.approx(1 - 0.05 * 0.2 * 0.2, abs=1e-3)


def test_secret_values_never_reach_evidence() -> None:
    secret_key = "client-SECRETSECRETSECRET"
    team = "hcaik_TEAMKEYTEAMKEY"
    cookie = "__cf_bm=COOKIEVALUE123; sessionKey=SESSIONVALUE"
    c = run([
        obs(0, url="https://app.example.com/v1/initialize", method="POST",
            request_headers={"statsig-api-key": secret_key, "cookie": cookie,
                             "x-honeycomb-team": team},
            response_headers={"set-cookie": "cf_clearance=CLEARANCEVALUE; path=/"}),
        obs(1, url="https://app.example.com/v1/t", method="POST",
            request_body={"writeKey": "WRITEKEYVALUE",
                          "context": {"library": {"name": "analytics.js"}}}),
    ])
    findings = c.findings()
    text = json.dumps([f.evidence for f in findings])
    assert {"feature_flags.statsig", "tracing.honeycomb", "analytics.segment",
            "anti_abuse.cloudflare_bot_management"} <= {f.rule for f in findings}
    for value in (secret_key, team, "COOKIEVALUE", "SESSIONVALUE", "CLEARANCEVALUE",
                  "WRITEKEYVALUE"):
        assert value not in text
    assert "statsig-api-key request header on 1/2 requests" in text
    assert "cookie __cf_bm (name only)" in text
    for finding in findings:
        for item in c.evidence_items(finding.rule):
            assert not any(v and ("SECRET" in v or "VALUE" in v) for v in item.values)


def test_nameless_cookies_match_no_cookie_rule(tmp_path: Path) -> None:
    """Issue 8 canary: a ``Cookie``/``Set-Cookie`` pair without ``=`` is a nameless cookie's
    *value* (RFC 6265bis §5.6); read as a name it matched cookie patterns and was quoted in
    evidence ("cookie sess_… (name only)")."""
    rs = rule(tmp_path, "  - cookie: 'sess_[A-Za-z0-9]+'\n    weight: 0.9\n")
    nameless = [obs(0, request_headers={"cookie": "theme=dark; sess_9Fk2LmQ0pX7vZ3aB1cD4"}),
                obs(1, response_headers={"set-cookie": "sess_SETabcdef0123; Path=/; a=b"})]
    assert run(nameless, rs).findings() == []
    (named,) = run([obs(0, request_headers={"cookie": "sess_id=1"})], rs).findings()
    assert named.evidence == ("cookie sess_id (name only) on 1/1 request",)


def test_paths_show_only_the_matched_part() -> None:
    # A New Relic harvest path carries the browser licence key after /1/.
    rs = RULES.subset(["tracing.honeycomb"])
    c = run([obs(0, url="https://app.example.com/v1/traces/LICENCEKEY", method="POST",
                 request_headers={"x-honeycomb-team": "k"})], rs)
    assert "LICENCEKEY" not in " ".join(c.findings()[0].evidence)


def test_prefix_header_does_not_recount_a_named_header() -> None:
    c = run([obs(response_headers={"x-envoy-upstream-service-time": "5"})],
            RULES.subset(["service_mesh.envoy"]))
    (envoy,) = c.findings()
    assert envoy.evidence == ("x-envoy-upstream-service-time on 1/1 response",)
    assert envoy.confidence == pytest.approx(0.9)
    c = run([obs(response_headers={"x-envoy-upstream-service-time": "5",
                                   "x-envoy-decorator-operation": "x"})],
            RULES.subset(["service_mesh.envoy"]))
    assert c.findings()[0].confidence == pytest.approx(1 - 0.1 * 0.2)


def test_list_headers_match_per_element() -> None:
    c = run([obs(response_headers={"x-served-by": "cache-iad-kiad7000045-IAD, cache-lhr7334-LHR",
                                   "x-timer": "S1502402386.436326,VS0,VE0"})],
            RULES.subset(["cdn.fastly"]))
    assert c.findings()[0].evidence[0] == "x-served-by: cache-iad-kiad7000045-IAD on 1/1 response"


def test_json_paths_cross_arrays() -> None:
    body = {"batch": [{"writeKey": "k", "context": {"library": {"name": "analytics-next"}}}]}
    c = run([obs(url="https://app.example.com/b", method="POST", request_body=body)],
            RULES.subset(["analytics.segment"]))
    assert c.findings()[0].rule == "analytics.segment"


def test_non_json_and_huge_bodies_are_harmless() -> None:
    c = run([obs(url="https://app.example.com/b", method="POST", request_body="{not json"),
             obs(1, url="https://app.example.com/c", method="POST",
                 request_body="[" * 100_000)])
    assert c.findings() == []


def test_huge_bodies_are_scanned_by_prefix_and_counted() -> None:
    from archcmp.diagnostics import Diagnostics

    diag = Diagnostics()
    big = json.dumps({"writeKey": "k", "context": {"library": {"name": "analytics.js"}},
                      "pad": "x" * (2 * 1024 * 1024)})
    c = Classifier(RULES, diag=diag)
    c.observe(obs(url="https://app.example.com/b", method="POST", request_body=big))
    assert diag.count("classify.body.truncated") == 1
    assert "analytics.segment" not in {f.rule for f in c.findings()}  # cut JSON is not parsed


def test_hostile_header_values_are_bounded() -> None:
    value = "a" * 1_000_000 + "!"
    c = run([obs(response_headers={"server": value, "via": ",".join(["x"] * 10_000)})])
    assert c.findings() == []


def test_stored_bodies_are_used_when_no_decoded_body_is_given() -> None:
    segment = json.dumps({"writeKey": "k", "context": {"library": {"name": "analytics.js"}}})
    plain = Exchange(index=0, method="POST", url="https://app.example.com/x", protocol="h2",
                     status=200, request_body=Body(data=segment.encode()))
    c = Classifier(RULES.subset(["analytics.segment"]))
    c.observe_exchange(plain)
    assert [f.rule for f in c.findings()] == ["analytics.segment"]
    # Bytes stored with a declared coding are not parsed unless the producer decoded them.
    coded = Exchange(index=0, method="POST", url="https://app.example.com/x", protocol="h2",
                     status=200, request_body=Body(data=segment.encode(),
                                                   content_encoding=("gzip",)))
    c = Classifier(RULES.subset(["analytics.segment"]))
    c.observe_exchange(coded)
    assert c.findings() == []


def test_attributions_name_first_party_vendor_paths() -> None:
    c = run([obs(0, url="https://app.example.com/", resource_type="document"),
             obs(1, url="https://app.example.com/v1/initialize", method="POST",
                 request_headers={"statsig-api-key": "k"}),
             obs(2, url="https://app.example.com/api/me")])
    assert c.attributions() == {1: "feature_flags.statsig"}


def test_findings_are_sorted_by_category_then_confidence() -> None:
    c = run([obs(0, url="https://app.example.com/_next/static/a.js",
                 request_headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
                 response_headers={"server": "cloudflare", "cf-ray": "8f1c2a3b4d5e6f70-SJC"})])
    assert [f.category for f in c.findings()] == ["cdn", "framework", "tracing"]


def test_split_list_respects_comments_and_quotes() -> None:
    assert split_list('1.1 a (x, y), 2 b\n1.1 c, "d,e"') == ["1.1 a (x, y)", "2 b", "1.1 c",
                                                            '"d,e"']


# --- real captures ---------------------------------------------------------------------------


def _fallback_exchanges(path: Path) -> list[Exchange]:
    """A tiny json.load HAR reader, used when archcmp.ingest.har is not importable."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except ValueError:
        return []
    entries = doc.get("log", {}).get("entries", []) if isinstance(doc, dict) else []
    out = []
    for i, entry in enumerate(entries):
        request = entry.get("request") or {}
        response = entry.get("response") or {}
        if not request.get("url"):
            continue
        post = request.get("postData") or {}
        content = response.get("content") or {}
        data = None
        if content.get("text") is not None:
            text = content["text"]
            data = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()
        out.append(Exchange(
            index=i, method=request.get("method", "GET"), url=request["url"], protocol="h2",
            status=response.get("status") or None,
            request_headers=tuple((h["name"], h["value"]) for h in request.get("headers", [])),
            response_headers=tuple((h["name"], h["value"]) for h in response.get("headers", [])),
            request_body=Body(data=post["text"].encode()) if post.get("text") else None,
            response_body=Body(data=data, mime_type=content.get("mimeType")),
            resource_type=entry.get("_resourceType"),
        ))
    return out


def observations(path: Path) -> list[Observation]:
    """Observations as the pipeline makes them: archcmp's own reader and decoder if present."""
    try:
        from archcmp.decode.content import decode_body
        from archcmp.diagnostics import Diagnostics
        from archcmp.ingest.har import read_har
    except ImportError:
        return [Observation(exchange=e) for e in _fallback_exchanges(path)]
    diag = Diagnostics()
    try:
        _, exchanges = read_har(path, diag)
    except ArchcmpError:
        return []
    out = []
    for ex in exchanges:
        response = (decode_body(ex.response_body, diag) if ex.response_body is not None
                    and ex.status is not None else None)
        request = decode_body(ex.request_body, diag) if ex.request_body is not None else None
        out.append(Observation(exchange=ex, response=response, request=request))
    return out


def classify(path: Path) -> Classifier:
    classifier = Classifier(RULES)
    for o in observations(path):
        classifier.observe(o)
    return classifier


def _raw_entries(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except ValueError:
        return []
    entries = doc.get("log", {}).get("entries", []) if isinstance(doc, dict) else []
    return [e for e in entries if isinstance(e, dict)]


def _names(headers: list[dict[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h in headers:
        out.setdefault(h["name"].lower(), []).append(h["value"])
    return out


def _cookie_names(entry: Mapping[str, Any]) -> set[str]:
    req = _names(entry.get("request", {}).get("headers", []))
    resp = _names((entry.get("response") or {}).get("headers", []))
    names = {p.split("=", 1)[0].strip() for v in req.get("cookie", []) for p in v.split(";")}
    names |= {v.split("=", 1)[0].strip() for v in resp.get("set-cookie", [])}
    return names


def _leaf_holds(kind: str, name: str, value: str | None, entry: Mapping[str, Any]) -> bool:
    """An independent, naive check that one piece of evidence is really in one HAR entry."""
    request = entry.get("request", {})
    response = entry.get("response") or {}
    url = urlsplit(request.get("url", ""))
    if kind in ("response_header", "request_header"):
        headers = _names((response if kind == "response_header" else request).get("headers", []))
        values = [e for n, vs in headers.items() if n == name for v in vs for e in
                  [v, *split_list(v)]]
        return bool(values) and (value is None or any(value == v for v in values))
    if kind == "cookie":
        return name in _cookie_names(entry)
    if kind == "host":
        return (url.hostname or "") == name
    if kind == "path":
        return name in url.path
    if kind == "query_key":
        post = (request.get("postData") or {}).get("text") or ""
        return name in dict(parse_qsl(url.query, keep_blank_values=True)) or name in post
    if kind in ("json_key", "body"):
        texts = [(request.get("postData") or {}).get("text") or "",
                 (response.get("content") or {}).get("text") or ""]
        return kind == "body" or any(name.split(".")[-1] in t for t in texts)
    if kind == "method":
        return request.get("method") == name
    if kind == "content_type":
        return name == "content-type"
    return kind == "sse_event"


def check_evidence(path: Path, item: EvidenceItem) -> None:
    """The claimed names are on at least ``count`` raw entries; a quoted value is really there."""
    entries = [e for e in _raw_entries(path)
               if (urlsplit(e.get("request", {}).get("url", "")).hostname or "") in item.hosts]
    holding = [e for e in entries
               if all(any(_leaf_holds(k, n, None, e) for n in alts) for k, alts in
                      zip(item.kinds, item.alternatives, strict=True))]
    assert len(holding) >= item.count, (
        f"{path.name}: {item.rule}: '{item.text}' claims {item.count}, raw HAR has "
        f"{len(holding)}")
    assert any(all(_leaf_holds(k, n, v, e) for k, n, v in
                   zip(item.kinds, item.names, item.values, strict=True)) for e in holding), (
        f"{path.name}: {item.rule}: the value quoted in '{item.text}' is not in the HAR")
    for value in item.values:
        if value is not None:
            assert value in item.text
    assert re.search(r"\d", item.text), f"evidence without a count: {item.text}"


def _secret_values(path: Path) -> set[str]:
    """Cookie values and credential-like header values in the raw capture."""
    secrets: set[str] = set()
    for entry in _raw_entries(path):
        for side in (entry.get("request", {}), entry.get("response") or {}):
            for h in side.get("headers", []):
                name = h["name"].lower()
                if name == "cookie":
                    for part in h["value"].split(";"):
                        if "=" in part:
                            secrets.add(part.split("=", 1)[1].strip())
                elif name == "set-cookie":
                    secrets.add(h["value"].split(";", 1)[0].partition("=")[2].strip())
                elif not name.startswith(":") and re.search(r"auth|key|token|team|secret", name):
                    secrets.add(h["value"])
    return {s for s in secrets if len(s) >= 8}


def corpus_hars(shared: Path) -> list[Path]:
    return sorted((shared / "corpus" / "har").glob("*.har"))


def alpha_hars(shared: Path) -> list[Path]:
    return sorted((shared / "captures" / "alpha").glob("*/capture.har"))


def _truth_rules(truth: Mapping[str, Any]) -> set[str]:
    """The rule ids that alpha's truth facts correspond to."""
    facts = truth["facts"]
    names = {facts["cdn"]["name"], facts["cloud"]["name"], facts["service_mesh"]["name"]}
    names |= {v["name"] for v in facts["vendors"]}
    if any("traceparent" in t for t in facts.get("tracing_headers", [])):
        names.add("W3C Trace Context")
    ids = {r.id for r in RULES if r.name in names}
    categories = {v["name"]: v["category"].replace("-", "_") for v in facts["vendors"]}
    for rule_id in ids:
        r = RULES.get(rule_id)
        assert r is not None
        if r.name in categories:
            assert r.category == categories[r.name], (r.id, categories[r.name])
    return ids


#: Findings on alpha that the truth file does not list but the capture rightly shows:
#: ``/_next/static/`` chunks are served (the reference architecture names Next.js).
ALPHA_ALLOWED_EXTRA = {"framework.nextjs"}


def test_alpha_captures_give_exactly_the_truth(shared: Path) -> None:
    hars = alpha_hars(shared)
    assert hars, "no alpha HARs"
    for har in hars:
        truth = json.loads((har.parent / "truth.json").read_text())
        expected = _truth_rules(truth)
        assert len(expected) == 7, expected
        c = classify(har)
        found = {f.rule for f in c.findings()}
        assert expected <= found, f"{har}: missing {sorted(expected - found)}"
        assert found - expected <= ALPHA_ALLOWED_EXTRA, f"{har}: extra {sorted(found - expected)}"
        names = {f.rule: f.name for f in c.findings()}
        assert names["cdn.cloudflare"] == truth["facts"]["cdn"]["name"]
        assert names["cloud.gcp"] == truth["facts"]["cloud"]["name"]
        for finding in c.findings():
            for item in c.evidence_items(finding.rule):
                check_evidence(har, item)
        planted = {s["value"] for s in truth["facts"]["planted_secrets"]}
        dumped = json.dumps([f.evidence for f in c.findings()])
        assert not any(p in dumped for p in planted)
        assert set(c.attributions().values()) == {"analytics.segment", "feature_flags.statsig",
                                                  "tracing.honeycomb"}


#: Reviewed by hand (see the issue 4 report): every finding on the third-party corpus, per file.
#: A change here is a change in what archcmp claims about real sites, so it must be deliberate.
CORPUS_EXPECTED: dict[str, set[str]] = {
    "browsertime__chrome-h2-har-with-diskcache.har": {"web_server.nginx",
                                                      "analytics.google_analytics"},
    "browsertime__firefox-h2-har-with-diskcache.har": {"web_server.nginx",
                                                       "analytics.google_analytics"},
    "browsertime__firefox-har-with-diskcache.har": {"cdn.fastly", "web_server.nginx",
                                                    "analytics.google_analytics"},
    "har-to-openapi__ericduran.github.io.har": {"cdn.fastly", "analytics.google_analytics"},
    "haralyzer__cnn-chrome.har": {"cdn.fastly", "web_server.apache", "web_server.nginx",
                                  "feature_flags.optimizely", "rum.app_insights"},
    "haralyzer__cnn.har": {"cdn.fastly", "web_server.nginx", "feature_flags.optimizely"},
    "haralyzer__humanssuck.net.har": {"web_server.nginx"},
    # Malformed HARs whose request URL sits inside postData: the server header is still real.
    "haralyzer__missing_page.har": {"web_server.nginx"},
    "haralyzer__missing_pageref.har": {"web_server.nginx"},
    "haralyzer__no_title.har": {"web_server.nginx"},
    "mitmproxy__charles.har": {"cdn.cloudfront", "cloud.aws_s3"},
    "mitmproxy__chrome.har": {"cdn.cloudfront", "cloud.aws_s3"},
    "mitmproxy__diff_data.har": {"cdn.cloudflare", "analytics.google_analytics"},
    "mitmproxy__event_stream.har": {"feature_flags.launchdarkly"},
    "mitmproxy__firefox.har": {"cdn.cloudfront", "cloud.aws_s3"},
    "mitmproxy__head-content-length.har": {"cdn.fastly", "cloud.aws_s3"},
    "mitmproxy__insomnia.har": {"cdn.cloudfront", "cloud.aws_s3"},
    "mitmproxy__safari.har": {"cdn.cloudfront", "cloud.aws_s3"},
    "mitmproxy__websocket.har": {"web_server.nginx", "analytics.google_analytics"},
    "playwright__har-redirect.har": {"cdn.fastly", "web_server.nginx"},
    "pollyjs__example-jest-puppeteer-routes.har": {"cdn.cloudflare", "cloud.heroku"},
    "pollyjs__example-puppeteer.har": {"cdn.cloudflare", "cloud.heroku"},
    "pollyjs__node-https-binary-content.har": {"web_server.nginx"},
}


def test_corpus_findings_are_the_reviewed_ones_and_backed_by_the_har(shared: Path) -> None:
    hars = corpus_hars(shared)
    assert len(hars) >= 40
    seen: dict[str, set[str]] = {}
    for har in hars:
        c = classify(har)
        findings = c.findings()
        got = {f.rule for f in findings}
        if got:
            seen[har.name] = got
        secrets = _secret_values(har)
        for finding in findings:
            assert finding.evidence and 0.5 <= finding.confidence <= 1.0
            for text in finding.evidence:
                assert not any(s in text for s in secrets), f"{har.name}: secret in {text!r}"
            for item in c.evidence_items(finding.rule):
                check_evidence(har, item)
    assert seen == CORPUS_EXPECTED


def test_sample_chat_app_has_no_vendor_findings() -> None:
    har = REPO / "samples" / "chat-chromium-h2.har"  # shipped with the repository
    assert classify(har).findings() == []


def _iter_all(shared: Path) -> Iterator[Path]:
    yield from corpus_hars(shared)
    yield from alpha_hars(shared)


def test_every_capture_classifies_without_error(shared: Path) -> None:
    for har in _iter_all(shared):
        c = classify(har)
        c.findings()
        c.hop_evidence()


# --- fuzz ------------------------------------------------------------------------------------

_RULE_HEADERS = sorted({leaf.name.rstrip("*") + suffix
                        for r in RULES for c in r.conditions for leaf in c.leaves
                        if leaf.kind.endswith("header") for suffix in ("", "x")})
_header_names = st.sampled_from([*_RULE_HEADERS, "cookie", "set-cookie"])


@given(
    headers=st.lists(st.tuples(_header_names, st.text(max_size=60)), max_size=12),
    body=st.one_of(st.none(), st.text(max_size=200), st.binary(max_size=200).map(
        lambda b: b.decode("latin-1"))),
    path=st.text(alphabet="/abcv1_-.%?=&", max_size=40),
)
def test_any_exchange_classifies_without_error(headers: list[tuple[str, str]], body: str | None,
                                               path: str) -> None:
    spec: dict[str, Any] = {"url": "https://app.example.com/" + path.lstrip("/"),
                            "method": "POST", "request_headers": headers,
                            "response_headers": headers}
    if body is not None:
        spec["request_body"] = body
        spec["response_body"] = body
    c = run([observation_from_case(spec, 0)])
    for finding in c.findings():
        assert 0.5 <= finding.confidence <= 1.0
        assert finding.evidence
