"""The service map: grouping rules on small exchanges, then the lab's truth and a real site."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.services import (
    ServiceMap,
    ServiceMapper,
    registrable_domain,
    service_of_template,
)
from archcmp.model import Body, DecodedBody, Exchange, Observation

ORG = "019ab572-f082-79b7-a0db-e69cbf591f58"
CONV = "019ab573-1035-71f9-bc35-2132d996007b"
SCHEMA_KEYS = {"name", "host", "prefix", "templates", "methods", "exchanges", "latency_ms"}


def obs(url: str, method: str = "GET", *, ctype: str = "application/json", index: int = 0,
        total: float | None = 10.0, status: int | None = 200, transport: str | None = None,
        rtype: str | None = None) -> Observation:
    ex = Exchange(index=index, method=method, url=url, protocol="h2", status=status,
                  response_headers=(("content-type", ctype),), total_ms=total, ttfb_ms=total,
                  resource_type=rtype, started_ms=1.7e12 + index)
    return Observation(exchange=ex, transport=transport)


def build(*observations: Observation | tuple[Observation, str]) -> ServiceMap:
    mapper = ServiceMapper()
    for i, item in enumerate(observations):
        o, vendor = item if isinstance(item, tuple) else (item, None)
        ex = o.exchange
        renumbered = Exchange(index=i, method=ex.method, url=ex.url, protocol=ex.protocol,
                              status=ex.status, response_headers=ex.response_headers,
                              total_ms=ex.total_ms, ttfb_ms=ex.ttfb_ms,
                              resource_type=ex.resource_type, started_ms=ex.started_ms)
        mapper.observe(Observation(exchange=renumbered, transport=o.transport), vendor)
    return mapper.result()


def by_name(smap: ServiceMap) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in smap.services}


@pytest.mark.parametrize(("template", "name", "prefix"), [
    ("/api/organizations/{uuid}/chat_conversations/{uuid}/completion", "chat_conversations",
     "/api/organizations/{uuid}/chat_conversations"),
    ("/api/organizations/{uuid}/projects/{uuid}/docs", "projects",
     "/api/organizations/{uuid}/projects"),
    ("/api/organizations/{uuid}", "organizations", "/api/organizations"),
    ("/api/bootstrap", "bootstrap", "/api/bootstrap"),
    ("/backend-api/conversation/{uuid}", "conversation", "/backend-api/conversation"),
    ("/backend-api/gizmos/g-{base62}/about", "gizmos", "/backend-api/gizmos"),
    ("/api/v4/accounts/{hex32}/workers/scripts", "workers", "/api/v4/accounts/{hex32}/workers"),
    ("/v1/t", "t", "/v1/t"),
    ("/2024-06-01/users/{int}", "users", "/2024-06-01/users"),
    ("/orgs/{int}/workspaces/{ulid}/files/{uuid}", "files", "/orgs/{int}/workspaces/{ulid}/files"),
    ("/graphql", "graphql", "/graphql"),
    ("/api/{uuid}", "api", "/api"),
    ("/{int}/comments", "comments", "/{int}/comments"),
    ("/", "root", "/"),
])
def test_service_of_template(template: str, name: str, prefix: str) -> None:
    assert service_of_template(template) == (name, prefix)


@pytest.mark.parametrize(("host", "site"), [
    ("www.cnn.com", "cnn.com"), ("a.b.example.co.uk", "example.co.uk"), ("claude.ai", "claude.ai"),
    ("localhost", "localhost"), ("127.0.0.1", "127.0.0.1"), ("api.example.com.", "example.com"),
])
def test_registrable_domain(host: str, site: str) -> None:
    assert registrable_domain(host) == site


def test_api_web_static_and_latency() -> None:
    smap = build(
        obs("https://app.test/", ctype="text/html", total=40.0),
        obs("https://app.test/_next/static/chunks/app-569eba9f69a1dc14.js",
            ctype="application/javascript"),
        obs("https://app.test/_next/static/css/0f1e2d3c4b5a6978.css", ctype="text/css"),
        obs(f"https://app.test/api/organizations/{ORG}/chat_conversations?limit=30", total=100.0),
        obs(f"https://app.test/api/organizations/{ORG}/chat_conversations", "POST", total=200.0),
        obs(f"https://app.test/api/organizations/{ORG}/chat_conversations/{CONV}/completion",
            "POST", ctype="text/event-stream", total=4000.0, transport="sse"),
        obs(f"https://app.test/api/organizations/{ORG}", total=50.0),
    )
    services = by_name(smap)
    assert list(services) == ["chat_conversations", "static", "organizations", "web"]
    chat = services["chat_conversations"]
    assert set(chat) >= SCHEMA_KEYS
    assert chat["prefix"] == "/api/organizations/{uuid}/chat_conversations"
    assert chat["methods"] == ["GET", "POST"]
    assert chat["exchanges"] == 3
    assert chat["latency_ms"] == {"p50": 200.0, "p95": 3620.0, "n": 3}  # linear interpolation
    assert chat["streaming"] is True
    assert chat["kinds"] == {"stream": 1, "xhr": 2}
    assert services["static"]["prefix"] == "/_next/static"
    assert services["static"]["templates"] == ["/_next/static/chunks/app-{hash}.js",
                                               "/_next/static/css/{hash}.css"]
    assert services["web"]["prefix"] == "/"
    assert services["organizations"]["templates"] == ["/api/organizations/{uuid}"]
    assert smap.assignments[5] == ("chat_conversations",
                                   "/api/organizations/{uuid}/chat_conversations/{uuid}/completion")
    assert smap.assignments[0] == ("web", "/")


def test_vendor_attribution_wins_over_paths() -> None:
    smap = build(
        obs("https://app.test/", ctype="text/html"),
        (obs("https://app.test/v1/t", "POST"), "Segment"),
        (obs("https://app.test/v1/t", "POST"), "Segment"),
        (obs("https://featuregates.org/v1/initialize", "POST"), "Statsig"),
        (obs("https://app.test/v1/rgstr", "POST"), "Statsig"),
        obs("https://app.test/v1/other", "POST"),
    )
    services = by_name(smap)
    segment = services["Segment"]
    assert (segment["role"], segment["vendor"], segment["prefix"]) == ("vendor", "Segment", "/v1/t")
    assert segment["first_party"] is True
    statsig = services["Statsig"]
    assert statsig["hosts"] == ["app.test", "featuregates.org"]
    assert statsig["exchanges"] == 2
    assert services["other"]["prefix"] == "/v1/other"
    assert smap.assignments[1] == ("Segment", "/v1/t")


def test_external_hosts_are_one_service_each() -> None:
    smap = build(
        obs("https://www.news.test/", ctype="text/html"),
        obs("https://cdn.news.test/js/app.min.js", ctype="application/javascript"),
        obs("https://www.google-analytics.com/collect?v=1", ctype="image/gif"),
        obs("https://www.google-analytics.com/r/collect?v=1", ctype="image/gif"),
        obs("https://api.news.test/v2/stories/12345"),
    )
    services = by_name(smap)
    ga = services["www.google-analytics.com"]
    assert (ga["role"], ga["first_party"], ga["exchanges"]) == ("external", False, 2)
    assert services["static"]["host"] == "cdn.news.test"  # same site as the page: first party
    assert services["stories"]["host"] == "api.news.test"


def test_names_are_unique() -> None:
    smap = build(
        obs("https://a.test/", ctype="text/html"),
        obs("https://a.test/api/v1/users/1"), obs("https://a.test/api/v1/users/2"),
        obs("https://a.test/api/v2/users/3"),
        obs("https://a.test/logo.png", ctype="image/png"),
        obs("https://img.a.test/x.png", ctype="image/png"),
        obs("https://img.a.test/y.png", ctype="image/png"),
    )
    names = [s["name"] for s in smap.services]
    assert len(names) == len(set(names))
    assert {"users", "api/v2/users", "static", "static@a.test"} <= set(names)


def test_failed_and_untimed_exchanges() -> None:
    smap = build(obs("https://a.test/api/x", status=None, total=None))
    (service,) = smap.services
    assert service["statuses"] == {"none": 1}
    assert service["latency_ms"] == {"p50": None, "p95": None, "n": 0}


def test_empty_capture() -> None:
    assert build() == ServiceMap(services=[], assignments={})


# -- real captures -----------------------------------------------------------------------------

def har_observations(path: Path) -> Iterator[Observation]:
    """Observations from a HAR read with ``json`` (bodies only as far as these tests need)."""
    entries = json.loads(path.read_bytes().decode("utf-8-sig"))["log"]["entries"]
    for i, entry in enumerate(entries):
        request, response = entry["request"], entry["response"]
        content = response.get("content", {})
        text = content.get("text")
        data = (base64.b64decode(text) if content.get("encoding") == "base64"
                else text.encode()) if text is not None else None
        ctype = content.get("mimeType") or ""
        started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
        ex = Exchange(
            index=i, method=request["method"], url=request["url"], protocol="h2",
            status=response["status"] or None,
            response_headers=tuple((h["name"], h["value"]) for h in response.get("headers", [])),
            response_body=Body(data=data, mime_type=ctype),
            started_ms=started.timestamp() * 1000, total_ms=entry.get("time"),
            resource_type=(entry.get("_resourceType") or None),
        )
        transport = "sse" if ctype.startswith("text/event-stream") else None
        yield Observation(exchange=ex, transport=transport,
                          response=DecodedBody(data=data, status="ok"))


#: The lab's service groups (truth ``facts.service_groups``) → archcmp's names. The lab names
#: groups by product area; archcmp names them by the path segment, which is all a capture says.
TRUTH_TO_ARCHCMP = {
    "chat": "chat_conversations",
    "projects": "projects",
    "organizations": "organizations",
    "account": "bootstrap",
    "web": "web",
    "static": "static",
    # Vendors, when the rules engine attributes their exchanges (passed in below).
    "segment": "Segment",
    "statsig": "Statsig",
    "honeycomb": "Honeycomb",
}
_MEANING = re.compile(r"\{[a-z]+_uuid\}")


@pytest.mark.parametrize("session", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_alpha_service_groups(shared: Path, session: str) -> None:
    folder = shared / "captures" / "alpha" / session
    truth = json.loads((folder / "truth.json").read_text())
    vendor_by_path = {r["path"]: r["vendor"] for r in truth["requests"] if r["vendor"]}
    service_by_path = {r["path"]: r["service"] for r in truth["requests"]}
    mapper = ServiceMapper()
    paths: dict[int, str] = {}
    for o in har_observations(folder / "capture.har"):
        url = o.exchange.url
        path = url[url.index("/", len("https://")):]
        paths[o.exchange.index] = path
        mapper.observe(o, vendor_by_path.get(path))
    smap = mapper.result()
    for index, path in paths.items():
        assert smap.assignments[index][0] == TRUTH_TO_ARCHCMP[service_by_path[path]], path
    services = by_name(smap)
    # Prefixes match the truth's groups: same path, {org_uuid} → {uuid}, "*" = "and below".
    for group, pattern in truth["facts"]["service_groups"].items():
        service = services[TRUTH_TO_ARCHCMP[group]]
        for alternative in pattern.split(","):
            expected = _MEANING.sub("{uuid}", alternative).rstrip("*")
            assert any(t.startswith(expected) for t in service["templates"]), (group, expected)
            assert expected.startswith(service["prefix"]), (group, service["prefix"])
    chat = services["chat_conversations"]
    assert chat["prefix"] == "/api/organizations/{uuid}/chat_conversations"
    assert chat["methods"] == ["DELETE", "GET", "POST"]
    assert chat["streaming"] is True
    assert chat["latency_ms"]["p95"] > chat["latency_ms"]["p50"] > 0
    assert services["Segment"]["prefix"] == "/v1/t"
    assert sum(s["exchanges"] for s in smap.services) == len(paths) == 21


def test_real_site_map(shared: Path) -> None:
    """CNN: the page's own hosts are split by role and path; third parties are one box each."""
    mapper = ServiceMapper()
    count = 0
    for o in har_observations(shared / "corpus" / "har" / "haralyzer__cnn-chrome.har"):
        mapper.observe(o)
        count += 1
    smap = mapper.result()
    services = by_name(smap)
    assert len(smap.assignments) == count
    assert services["web"]["host"] == "edition.cnn.com"
    assert services["static"]["host"] == "cdn.cnn.com"
    for service in smap.services:
        if service["first_party"]:
            assert service["host"].endswith("cnn.com"), service
        else:
            assert service["role"] == "external"
            assert service["name"] == service["host"], service
    assert services["www.facebook.com"]["templates"] == ["/tr/", "/connect/ping",
                                                         "/impression.php/{hex15}/"]
