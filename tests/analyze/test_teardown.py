"""Issue 4's bar, end to end: every fact in each alpha ``truth.json`` is in the analysis, and
nothing else is claimed; the shipped sample (no vendors at all) gets no vendor claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from tests.conftest import SAMPLES

REDACTOR = Redactor(key=b"t" * 32)
#: truth.json speaks of categories in its own words; the document uses the schema vocabulary.
CATEGORY = {"feature-flags": "feature_flags"}


def _analyse(path: Path) -> dict[str, Any]:
    return analyze_capture(path, options=AnalyzeOptions(), redactor=REDACTOR)


@pytest.fixture(scope="module", params=["chromium-h2", "chromium-h3", "mitmproxy"])
def alpha(request: pytest.FixtureRequest, shared: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = shared / "captures" / "alpha" / request.param
    truth = json.loads((folder / "truth.json").read_text())
    return _analyse(folder / "capture.har"), truth


def _expected_fingerprints(truth: dict[str, Any]) -> set[tuple[str, str]]:
    facts = truth["facts"]
    want = {("cdn", facts["cdn"]["name"]), ("cloud", facts["cloud"]["name"]),
            ("service_mesh", facts["service_mesh"]["name"])}
    want |= {(CATEGORY.get(v["category"], v["category"]), v["name"]) for v in facts["vendors"]}
    if any("traceparent" in h for h in facts["tracing_headers"]):
        want.add(("tracing", "W3C Trace Context"))
    return want


def test_every_truth_fingerprint_and_nothing_else(alpha: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    doc, truth = alpha
    got = {(f["category"], f["name"]) for f in doc["fingerprints"]}
    want = _expected_fingerprints(truth)
    assert want <= got
    extra = got - want
    # Next.js is real here: the app serves /_next/static/ chunks (truth requests say so).
    assert any(r["path"].startswith("/_next/static/") for r in truth["requests"])
    assert extra <= {("framework", "Next.js")}
    for f in doc["fingerprints"]:
        assert f["evidence"] and 0 < f["confidence"] <= 1
        assert f["exchanges"], f


def test_infrastructure_chain_in_request_order(alpha: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    doc, truth = alpha
    facts = truth["facts"]
    assert [h["name"] for h in doc["infrastructure"]] == [
        facts["cdn"]["name"], facts["cloud"]["name"], facts["service_mesh"]["name"]]
    evidence = " ".join(e for h in doc["infrastructure"] for e in h["evidence"])
    for hop in ("cdn", "cloud", "service_mesh"):
        for item in facts[hop]["evidence"]:
            assert item.split(":")[0] in evidence


def test_vendor_paths_are_attributed_in_the_service_map(alpha: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    doc, truth = alpha
    by_name = {s["name"]: s for s in doc["services"]}
    for vendor in truth["facts"]["vendors"]:
        service = by_name[vendor["name"]]
        assert set(vendor["paths"]) == {t for t in service["templates"]}
    # A completion carries Honeycomb's trace header but is the app's own chat call.
    completions = [e for e in doc["exchanges"] if e["template"]
                   and e["template"].endswith("/completion")]
    assert completions
    assert {e["service"] for e in completions} == {"chat_conversations"}


def test_templates_equal_truth(alpha: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    doc, truth = alpha
    want = {r["path"]: r["template"] for r in truth["served"]}
    for ex in doc["exchanges"]:
        path = ex["url"].split("localhost:8443", 1)[1].split("?", 1)[0]
        expected = want[path]
        for name in ("org_uuid", "conv_uuid", "project_uuid"):
            expected = expected.replace("{" + name + "}", "{uuid}")
        assert ex["template"] == expected


def test_ids_streams_api_auth_compression(alpha: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    doc, truth = alpha
    facts = truth["facts"]
    uuid7 = [i for i in doc["id_formats"] if i["kind"] == "uuid" and i["version"] == 7]
    assert uuid7 and uuid7[0]["timestamp_plausible"]
    examples = {e for i in uuid7 for e in i["examples"]}
    seen = " ".join(e["url"] for e in doc["exchanges"])
    assert all(e in seen or e in examples for e in facts["id_formats"][0]["examples"])

    streaming = facts["streaming"]
    sse = [s for s in doc["streams"] if s["transport"] == streaming["transport"]]
    assert sse
    for s in sse:
        assert s["method"] == streaming["method"]
        assert s["schema"] == streaming["event_schema"]
        assert s["delta_format"] == "token-delta"
        assert set(s["event_types"]) == set(streaming["event_types"])
        assert s.get("trace_id_in") == [streaming["trace_id_in"]]

    assert [a["style"] for a in doc["api_styles"]] == [facts["api_style"]]
    assert [(a["kind"], a["name"], a["where"]) for a in doc["auth"]] == [
        ("session-cookie", facts["auth"]["cookie"], "cookie")]
    assert doc["security"]["http3"]["advertised"] is True

    kinds = {"document": "document", "script": "script", "json": "xhr", "sse": "stream"}
    for what, coding in facts["compression"].items():
        assert coding in doc["compression_by_kind"][kinds[what]], what


def test_sample_app_has_no_vendor_claims() -> None:
    doc = _analyse(SAMPLES / "chat-chromium-h2.har")
    assert doc["fingerprints"] == []
    assert doc["infrastructure"] == []
    assert [a["style"] for a in doc["api_styles"]] == ["REST"]
    kinds = {(a["kind"], a["name"]) for a in doc["auth"]}
    assert ("session-cookie", "session_id") in kinds
    assert any(kind == "bearer" for kind, _ in kinds)
    sse = next(s for s in doc["streams"] if s["transport"] == "sse")
    assert sse["schema"] == "anthropic-messages"
