"""The infrastructure chain: role order, Via order (RFC 9110 §7.6.3), folding, annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archcmp.analyze.infra import (
    Hop,
    HopCollector,
    HopEvidence,
    chain_to_dicts,
    infrastructure_chain,
    via_received_by,
)
from archcmp.classify.engine import Classifier
from archcmp.classify.rules import load_rules, observation_from_case
from archcmp.model import Finding

RULES = load_rules()


def chain_of(*exchanges: dict[str, Any], primary: str = "app.example.com") -> list[Hop]:
    classifier = Classifier(RULES, primary_host=primary)
    for i, spec in enumerate(exchanges):
        spec.setdefault("url", f"https://{primary}/{i}")
        classifier.observe(observation_from_case(spec, i))
    return infrastructure_chain(classifier.findings(), classifier.hop_evidence())


def names(chain: list[Hop]) -> list[str]:
    return [hop.name for hop in chain]


ALPHA_LIKE = {
    "response_headers": [
        ["server", "cloudflare"], ["cf-ray", "8f1c2a3b4d5e6f70-SJC"],
        ["cf-cache-status", "DYNAMIC"], ["via", "1.1 google"],
        ["x-envoy-upstream-service-time", "35"], ["alt-svc", 'h3=":443"; ma=86400'],
    ],
}


def test_cdn_then_cloud_load_balancer_then_mesh() -> None:
    chain = chain_of(dict(ALPHA_LIKE), dict(ALPHA_LIKE))
    assert names(chain) == ["Cloudflare", "GCP", "Envoy"]
    assert [hop.role for hop in chain] == ["edge", "lb", "mesh"]
    edge, lb, mesh = chain
    assert lb.component is not None and "Load Balancer" in lb.component
    assert any("0 hop(s) from the client" in e for e in lb.evidence)
    assert any("overwrites it" in e for e in edge.evidence)
    assert any("alt-svc offers h3 on 2/2 responses" in e for e in edge.evidence)
    assert mesh.evidence[0] == "x-envoy-upstream-service-time on 2/2 responses"


def test_origin_server_comes_last_without_any_via() -> None:
    chain = chain_of({"response_headers": {"server": "nginx/1.25.3",
                                           "x-envoy-upstream-service-time": "4"}})
    assert [(h.name, h.role) for h in chain] == [("Envoy", "mesh"), ("nginx", "origin")]


def test_response_via_lists_the_hop_nearest_the_client_last() -> None:
    """RFC 9110 §7.6.3: each recipient appends itself, so a *response* that went
    origin → Fastly → CloudFront → client reads ``Via: 1.1 varnish, 1.1 x.cloudfront.net``."""
    fastly_first = {"response_headers": {
        "via": "1.1 varnish, 1.1 d111.cloudfront.net (CloudFront)",
        "x-served-by": "cache-lhr7334-LHR", "x-amz-cf-id": "abc"}}
    assert names(chain_of(fastly_first)) == ["Amazon CloudFront", "Fastly"]
    cloudfront_first = {"response_headers": {
        "via": "1.1 d111.cloudfront.net (CloudFront), 1.1 varnish",
        "x-served-by": "cache-lhr7334-LHR", "x-amz-cf-id": "abc"}}
    assert names(chain_of(cloudfront_first)) == ["Fastly", "Amazon CloudFront"]


def test_via_on_repeated_field_lines_is_one_list() -> None:
    spec = {"response_headers": [["via", "1.1 varnish"],
                                 ["via", "1.1 d111.cloudfront.net (CloudFront)"],
                                 ["x-served-by", "cache-lhr7334-LHR"], ["x-amz-cf-id", "a"]]}
    assert names(chain_of(spec)) == ["Amazon CloudFront", "Fastly"]


def test_unrecognised_via_entries_become_proxy_hops_in_via_order() -> None:
    # Shape of a real response in the corpus (mitmproxy__diff_data.har, slack.com).
    spec = {"response_headers": {
        "via": "1.1 slack-prod.tinyspeck.com, envoy-www-iad-fhbwvxab",
        "x-envoy-upstream-service-time": "70", "server": "Apache"}}
    chain = chain_of(dict(spec), dict(spec), primary="slack.com")
    # The proxies keep Via order among themselves (the last element is nearest the client);
    # Envoy, known only from x-envoy-upstream-service-time, keeps its role slot.
    assert names(chain) == ["envoy-www-iad-fhbwvxab", "slack-prod.tinyspeck.com", "Envoy",
                            "Apache HTTP Server"]
    proxies = [hop for hop in chain if hop.role == "proxy"]
    assert all(h.rule is None and h.category == "proxy" for h in proxies)
    assert "not recognised by any rule" in proxies[0].evidence[0]


def test_every_via_element_of_a_vendor_is_explained() -> None:
    # Fastly with shielding: two "1.1 varnish" elements, both Fastly's (haralyzer__cnn.har).
    spec = {"response_headers": {"via": "1.1 varnish, 1.1 varnish",
                                 "x-served-by": "cache-iad2147-IAD, cache-lhr7334-LHR"}}
    assert names(chain_of(dict(spec), dict(spec))) == ["Fastly"]


def test_one_off_via_entries_are_not_hops() -> None:
    chain = chain_of({"response_headers": {"via": "1.1 some-node-1234"}})
    assert chain == []


def test_istio_folds_envoy_into_one_mesh_hop() -> None:
    chain = chain_of({"response_headers": {"server": "istio-envoy",
                                           "x-envoy-upstream-service-time": "7"}})
    assert [(h.name, h.role) for h in chain] == [("Istio", "mesh")]
    assert any("service_mesh.envoy" in e for e in chain[0].evidence)


def test_cache_annotations_go_to_the_edge() -> None:
    chain = chain_of({"response_headers": {"x-amz-cf-id": "a", "age": "120",
                                           "x-cache": "Hit from cloudfront"}})
    (edge,) = chain
    assert any(e.startswith("age > 0 on 1/1 responses") for e in edge.evidence)
    assert any(e.startswith("x-cache reports a hit on 1/1") for e in edge.evidence)


def test_third_party_hops_are_not_the_apps() -> None:
    chain = chain_of(
        {"url": "https://www.shop.example/", "resource_type": "document",
         "response_headers": {"content-type": "text/html", "server": "nginx"}},
        {"url": "https://ads.network.example/p.gif",
         "response_headers": {"via": "1.1 d1.cloudfront.net (CloudFront)", "x-amz-cf-id": "a"}},
        primary="www.shop.example")
    assert names(chain) == ["nginx"]


def test_no_findings_no_chain() -> None:
    assert infrastructure_chain([], HopEvidence()) == []


def test_findings_without_a_role_are_not_hops() -> None:
    finding = Finding(category="analytics", name="Segment", confidence=0.9, evidence=("x",),
                      rule="analytics.segment")
    assert infrastructure_chain([finding], HopEvidence(roles={"cdn.cloudflare": "edge"})) == []


def test_collector_counts_and_scopes_by_host() -> None:
    collector = HopCollector()
    collector.observe("a.example.com", {"via": ["1.1 varnish, 1.1 x (CloudFront)"],
                                        "server-timing": ["cdn-cache; desc=HIT, edge; dur=3"],
                                        "age": ["10"], "alt-svc": ['h3=":443", h3-29=":443"'],
                                        "x-cache": ["HIT, MISS"], "server": ["AkamaiGHost"]})
    collector.observe("b.other.net", {"server": ["nginx"]})
    ev = collector.freeze(lambda h: h.endswith("example.com"), roles={}, components={},
                          supersedes={})
    assert ev.responses == 1
    assert ev.via_chains == ((("1.1 x (CloudFront)", "1.1 varnish"), 1),)
    assert dict(ev.server_timing) == {"cdn-cache": 1, "edge": 1}
    assert dict(ev.alt_svc) == {"h3": 1, "h3-29": 1}
    assert dict(ev.x_cache) == {"HIT": 1, "MISS": 1}
    assert ev.servers == (("AkamaiGHost", 1),)
    assert ev.age_responses == 1
    json.dumps(ev.to_dict())


def test_via_received_by() -> None:
    assert via_received_by("1.1 d1.cloudfront.net (CloudFront)") == "d1.cloudfront.net (CloudFront)"
    assert via_received_by("HTTP/1.1 fred") == "fred"
    assert via_received_by("lonely") == "lonely"


def test_chain_to_dicts_is_json() -> None:
    chain = chain_of(dict(ALPHA_LIKE))
    doc = chain_to_dicts(chain)
    assert [d["role"] for d in doc] == ["edge", "lb", "mesh"]
    assert set(doc[0]) == {"name", "category", "role", "component", "confidence", "evidence",
                           "rule", "hosts"}
    json.dumps(doc)


def test_alpha_capture_chain(shared: Path) -> None:
    from tests.classify.test_engine import classify

    for har in sorted((shared / "captures" / "alpha").glob("*/capture.har")):
        c = classify(har)
        chain = infrastructure_chain(c.findings(), c.hop_evidence())
        assert [(h.name, h.role) for h in chain] == [
            ("Cloudflare", "edge"), ("GCP", "lb"), ("Envoy", "mesh")], har
