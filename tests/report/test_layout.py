"""The layout behind the diagrams: which tiers a document yields, and the label helpers."""

from __future__ import annotations

from typing import Any

import pytest

from archcmp.report.layout import (
    MAX_SERVICE_CELLS,
    Group,
    Node,
    architecture,
    clean,
    evidence_summary,
    fit,
    path_tail,
    place,
    protocol_label,
)


def heads(doc: dict[str, Any]) -> list[str]:
    return [t.title for t in architecture(doc).chain]


@pytest.mark.parametrize(("protocols", "label"), [
    ({"h2": 21, "h3": 0, "http/1.1": 0}, "HTTP/2 (100%)"),
    ({"h3": 86, "h2": 14}, "HTTP/3 (86%), HTTP/2 (14%)"),
    ({"http/1.1": 273, "h2": 19, "unknown": 40}, "HTTP/1.1 (93%), HTTP/2 (7%)"),
    ({"h2": 1000, "h3": 1}, "HTTP/2 (100%), HTTP/3 (<1%)"),
    ({"h2": 1, "h3": 1}, "HTTP/3 (50%), HTTP/2 (50%)"),
    ({}, ""),
    ({"unknown": 5}, ""),
    ("h2", ""),
])
def test_protocol_label(protocols: object, label: str) -> None:
    assert protocol_label(protocols) == label


def test_evidence_summary_names_headers() -> None:
    assert evidence_summary([
        "cf-ray on 16/21 responses",
        "cf-cache-status: DYNAMIC (+1 other value) on 16/21 responses",
        "server: cloudflare on 16/21 responses",
    ]) == "cf-ray, cf-cache-status: DYNAMIC"
    assert evidence_summary(["via: 1.1 google on 16/21 responses", "in the response Via chain 0 "
                             "hop(s) from the client"]) == "via: 1.1 google"
    assert evidence_summary(["via: 1.1 5fa120f79d5713714191c32768eca58c.cloudfront.net "
                             "(CloudFront) (+1 other value) on 8/13 responses"]) == "via"
    assert evidence_summary(["cookie __cf_bm (name only) on 21/21 requests"]) == "cookie __cf_bm"
    assert evidence_summary(["via entry 'corp-proxy' on 3/10 responses, not recognised by any "
                             "rule"]) == "via entry 'corp-proxy'"
    assert evidence_summary([]) == ""


def test_path_tail_keeps_the_most_specific_end() -> None:
    assert path_tail("/api/organizations/{uuid}/chat_conversations", 10) == "/chat_conv"
    assert path_tail("/api/organizations/{uuid}/projects", 10) == "/projects"
    assert path_tail("/api/sync/{uuid}", 10) == "/api/sync"
    assert path_tail("/v1/t", 10) == "/v1/t"
    assert path_tail("/", 10) == "/"
    assert path_tail("/{hash}.js", 10) == "/{hash}.js"


def test_clean_and_fit() -> None:
    assert clean("a\x00b\x1b[31m\tc\n\u200bd\u0301") == "ab[31m c d"
    assert clean("┌x┐ ▼") == "+x+ +"
    assert clean("漢字ok") == "??ok"
    assert clean(None) == "" and clean(True) == "" and clean(42) == "42"
    assert len(clean("x" * 1000)) == 80 and clean("x" * 1000).endswith("…")
    assert fit("Conversations", 10) == "Conversat."
    assert fit("optimizely.com", 12) == "optimizely."
    assert fit("abc", 3) == "abc" and fit("abcd", 1) == "a" and fit("abc", 0) == ""


def test_client_kind_from_the_producer() -> None:
    assert heads({"capture": {"producer": "playwright"}})[0] == "Browser"
    assert heads({"capture": {"producer": "chrome-har-capturer"}})[0] == "Browser"
    assert heads({"capture": {"producer": "unknown", "browser": "Firefox 111"}})[0] == "Browser"
    assert heads({"capture": {"producer": "mitmproxy"}})[0] == "Client"
    assert heads({"capture": {"producer": "httpx"}})[0] == "Client"


def test_hop_titles_and_notes() -> None:
    arch = architecture({"infrastructure": [
        {"name": "GCP", "role": "lb", "category": "cloud",
         "component": "Google Cloud external Application Load Balancer (Google Front End)",
         "evidence": ["via: 1.1 google on 16/21 responses"]},
        {"name": "AWS Elastic Load Balancing", "role": "lb", "category": "load_balancer",
         "evidence": ["server: awselb/2.0 on 2/4 responses"]},
        {"name": "Kong", "role": "gateway", "category": "gateway", "evidence": []},
        {"name": "Envoy", "role": "mesh", "category": "service_mesh",
         "evidence": ["x-envoy-upstream-service-time on 15/21 responses"]},
    ]})
    nodes = [t for t in arch.chain if isinstance(t, Node)]
    assert [(n.title, n.note) for n in nodes[1:5]] == [
        ("GCP L7 LB", "via: 1.1 google"),
        ("AWS Elastic Load Balancing", "load balancer · server: awselb/2.0"),
        ("Kong gateway", ""),
        ("Envoy", "service mesh · x-envoy-upstream-service-time"),
    ]


def test_services_split_into_first_party_and_third_party() -> None:
    arch = architecture({"services": [
        {"name": "chat", "prefix": "/api/chat", "role": "api", "first_party": True},
        {"name": "Segment", "prefix": "/v1/t", "role": "vendor", "vendor": "Segment",
         "first_party": True},
        {"name": "static", "prefix": "/_next/static", "role": "static", "first_party": True},
        {"name": "static@cdn", "prefix": "/a", "role": "static", "first_party": True},
        {"name": "web", "prefix": "/", "role": "web", "first_party": True},
        {"name": "a.doubleclick.net", "host": "a.doubleclick.net", "prefix": "/",
         "role": "external", "first_party": False},
        {"name": "b.doubleclick.net", "host": "b.doubleclick.net", "prefix": "/x",
         "role": "external", "first_party": False},
        {"name": "x.bbc.co.uk", "host": "x.bbc.co.uk", "prefix": "/", "role": "external",
         "first_party": False},
    ]})
    services = arch.chain[1]
    assert isinstance(services, Group)
    assert [(c.title, c.detail) for c in services.cells] == [
        ("chat", "/api/chat"), ("static", "2 prefixes"), ("web", "/")]
    (vendors,) = arch.detached
    assert [(c.title, c.detail) for c in vendors.cells] == [
        ("Segment", "/v1/t"), ("doubleclick.net", "2 hosts"), ("bbc.co.uk", "1 host")]


def test_too_many_services_are_summarised() -> None:
    doc = {"services": [{"name": f"svc{i}", "prefix": f"/s{i}", "role": "api"}
                        for i in range(MAX_SERVICE_CELLS + 3)]}
    services = architecture(doc).chain[1]
    assert isinstance(services, Group)
    assert len(services.cells) == MAX_SERVICE_CELLS
    assert services.text == "+3 more: svc30, svc31, svc32"


def test_model_and_origin_tiers() -> None:
    streams = [{"schema": "anthropic-messages",
                "models": ["claude-sonnet-4-5-20250929", "claude-haiku-4-5@20251001"]},
               {"schema": "anthropic-messages", "models": ["claude-sonnet-4-5-20250929"]}]
    nginx = {"name": "nginx", "role": "origin", "category": "web_server",
             "evidence": ["server: nginx on 2/68 responses"]}
    model = architecture({"streams": streams, "infrastructure": [nginx]}).chain
    assert [t.title for t in model] == ["Client", "nginx", "BACKEND SERVICES", "Model service"]
    assert isinstance(model[-1], Node)
    assert model[-1].note == "claude-sonnet-4-5, claude-haiku-4-5"
    origin = architecture({"infrastructure": [nginx]}).chain
    assert [t.title for t in origin] == ["Client", "BACKEND SERVICES", "Origin"]
    assert isinstance(origin[-1], Node) and origin[-1].note == "nginx · server: nginx"
    graphql = architecture({"streams": [{"schema": "graphql-sse", "models": []}]}).chain
    assert graphql[-1].title == "Origin"


def test_ids_are_generated_in_drawing_order() -> None:
    arch = architecture({"infrastructure": [{"name": "Cloudflare", "role": "edge"}],
                         "services": [{"name": "a", "role": "api"}, {"name": "V", "vendor": "V"}],
                         "protocols": {"h2": 1}})
    assert arch.edges == (("n0", "n1", "HTTP/2 (100%)"), ("n1", "g0", ""), ("g0", "n3", ""))
    services = arch.chain[2]
    assert isinstance(services, Group) and services.cells[0].id == "n2"
    assert arch.detached[0].id == "g1" and arch.detached[0].cells[0].id == "n4"


@pytest.mark.parametrize("width", [40, 60, 100, 160])
def test_place_stays_within_width(width: int) -> None:
    doc = {"services": [{"name": f"service-{i}", "prefix": f"/api/service-{i}", "role": "api"}
                        for i in range(12)],
           "infrastructure": [{"name": "A very long hop name " * 3, "role": "edge",
                               "evidence": ["x-very-long-header-name-here on 1/1 responses"]}]}
    scene = place(architecture(doc), width)
    assert scene.width <= width
    assert all(r.col + r.width <= width for r in scene.rects)
    assert all(t.col + len(t.text) <= width for t in scene.texts)
    centre = {a.col for a in scene.arrows}
    assert len(centre) == 1
