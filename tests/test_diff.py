"""archcmp.diff: real analyses of real captures, hand-edited copies of them, and fuzzed ones.

Documents are made here from capture bytes (``analyze_capture``), not loaded from stored JSON,
so a change in the analyser shows up as a diff failure only where the diff's meaning changed.
The alpha captures are the same scripted session of the same app recorded three ways
(Chromium over HTTP/2, Chromium over HTTP/3, through mitmproxy); the sample is another app.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp import diff as diff_module
from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.diff import (
    FAIL_ON,
    POLICY,
    Change,
    Diff,
    diff_documents,
    diff_to_json,
    diff_to_markdown,
    diff_to_text,
    exit_code,
    parse_threshold,
)
from archcmp.errors import UsageError
from archcmp.redact import Redactor
from tests.conftest import SAMPLES

Doc = dict[str, Any]
SAMPLE = SAMPLES / "chat-chromium-h2.har"
COMPLETION = "POST /api/organizations/{uuid}/chat_conversations/{uuid}/completion"


@functools.cache
def _analysed(path: Path) -> str:
    document = analyze_capture(path, options=AnalyzeOptions(), redactor=Redactor(key=b"k" * 32))
    return json.dumps(document)


def analysis(path: Path) -> Doc:
    """A fresh copy of the capture's analysis (analysed once per test session)."""
    document: Doc = json.loads(_analysed(path))
    return document


def alpha(shared: Path, name: str) -> Doc:
    return analysis(shared / "captures" / "alpha" / name / "capture.har")


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("archcmp").joinpath("schemas/diff.schema.json").read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid_outputs(diff: Diff) -> None:
    """JSON validates against archcmp.diff/1 and survives a strict round trip; text and
    Markdown render."""
    document = diff_to_json(diff)
    errors = [e.message for e in _validator().iter_errors(document)]
    assert errors == []
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert diff_to_text(diff).endswith("\n")
    assert diff_to_markdown(diff).startswith("# archcmp diff\n")


def facts(diff: Diff) -> set[tuple[str, str, str, str]]:
    """Each change as (check, kind, level, subject)."""
    return {(c.check, c.kind, c.level, c.subject) for c in diff.changes}


# --- the same document ------------------------------------------------------------------------


def test_sample_against_itself_has_no_changes_and_passes_every_gate() -> None:
    doc = analysis(SAMPLE)
    result = diff_documents(doc, copy.deepcopy(doc))
    assert result.changes == ()
    assert result.notes == ("base and head are the same capture file",)
    assert {fail_on: exit_code(result, fail_on) for fail_on in FAIL_ON} == dict.fromkeys(FAIL_ON, 0)
    assert diff_to_text(result).splitlines()[-1] == "no changes"
    assert "No changes." in diff_to_markdown(result)
    assert diff_to_json(result)["summary"] == {"changes": 0, "info": 0, "warning": 0,
                                               "breaking": 0, "highest": None}
    assert_valid_outputs(result)


@pytest.mark.parametrize("name", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_alpha_against_itself_has_no_changes(shared: Path, name: str) -> None:
    doc = alpha(shared, name)
    result = diff_documents(doc, alpha(shared, name))
    assert result.changes == ()
    assert all(exit_code(result, fail_on) == 0 for fail_on in FAIL_ON)


def test_diff_does_not_modify_its_inputs() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["services"].pop()
    head["protocols"] = {"h3": 10}
    before = copy.deepcopy((base, head))
    diff_documents(base, head)
    assert (base, head) == before


# --- real captures ----------------------------------------------------------------------------


def test_alpha_h2_vs_h3_changes_the_protocol_and_little_else(shared: Path) -> None:
    """Same app, same script, other transport. What changes and why:

    - protocols: h2 is no longer negotiated (warning: ALPN/Alt-Svc fall back, so not provably
      breaking) and h3 carries every exchange (info).
    - latency: per-run noise between two sessions a few seconds apart. Most of it is inside
      the thresholds; what is beyond them is info (improvements; the one slower static request
      has n=1, too few to call a regression). It is never breaking.
    Services, endpoints, streams, auth, IDs, hops, vendors and encodings are identical.
    """
    result = diff_documents(alpha(shared, "chromium-h2"), alpha(shared, "chromium-h3"))
    by_area = {c.area for c in result.changes}
    assert by_area <= {"protocols", "latency"}
    assert {f for f in facts(result) if f[0].startswith("protocols.")} == {
        ("protocols.removed", "removed", "warning", "h2"),
        ("protocols.added", "added", "info", "h3"),
    }
    h3 = next(c for c in result.changes if c.subject == "h3")
    assert h3.before == {"exchanges": 0, "share": 0.0}
    assert h3.after == {"exchanges": 21, "share": 1.0}
    latency = [c for c in result.changes if c.area == "latency"]
    assert latency, "the two sessions' timings differ beyond 20% somewhere"
    assert all(c.kind == "changed" and c.level != "breaking" for c in latency)
    assert exit_code(result, "breaking") == 0
    assert exit_code(result, "warning") == 1
    assert exit_code(result, "any") == 1
    assert_valid_outputs(result)


def test_alpha_chromium_vs_mitmproxy_differs_only_in_timing(shared: Path) -> None:
    """The same session through a proxy: same app, so only latency moves, and a note says the
    producers differ."""
    result = diff_documents(alpha(shared, "chromium-h2"), alpha(shared, "mitmproxy"))
    assert {c.area for c in result.changes} <= {"latency"}
    assert exit_code(result, "breaking") == 0
    assert any("captured by playwright (base) and mitmproxy (head)" in n for n in result.notes)


def test_alpha_vs_sample_two_apps_fail_every_gate(shared: Path) -> None:
    result = diff_documents(alpha(shared, "chromium-h2"), analysis(SAMPLE))
    found = facts(result)
    assert {
        ("services.removed.api", "removed", "breaking", "chat_conversations (localhost)"),
        ("services.removed.api", "removed", "breaking", "projects (localhost)"),
        ("services.removed.other", "removed", "info", "Segment (localhost)"),
        ("services.moved.web", "changed", "warning", "web"),
        ("services.added", "added", "info", "conversations (127.0.0.1)"),
        ("infrastructure.edge_removed", "removed", "warning", "Cloudflare (cdn)"),
        ("infrastructure.edge_removed", "removed", "warning", "GCP (cloud)"),
        ("infrastructure.inner_removed", "removed", "info", "Envoy (service_mesh)"),
        ("vendors.removed", "removed", "info", "Segment (analytics)"),
        ("vendors.removed", "removed", "info", "Statsig (feature_flags)"),
        ("auth.replaced", "changed", "breaking", "session-cookie sessionKey (cookie)"),
        ("auth.added", "added", "warning", "bearer authorization (header)"),
    } <= found
    # A CDN is reported once, as a hop, not again as a vendor; the alpha's completion stream is
    # reported with its service, not again as a stream that stopped.
    assert not any(f[0].startswith("vendors.") and "Cloudflare" in f[3] for f in found)
    assert not any(f[0] == "streams.stopped" for f in found)
    assert exit_code(result, "any") == 1
    assert exit_code(result, "breaking") == 1
    text = diff_to_text(result)
    assert "  breaking  removed  chat_conversations (localhost): api service no longer " in text
    assert_valid_outputs(result)


# --- a hand-edited copy -----------------------------------------------------------------------


def test_hand_edited_alpha_reports_exactly_the_edits(shared: Path) -> None:
    """Four edits, four changes: an event type dropped from the completion stream (breaking),
    the projects service and its exchanges dropped (breaking), a CDN added in front
    (warning; reported as a hop, not also as a vendor), the metadata class 50% slower with
    n=6 (warning)."""
    base = alpha(shared, "chromium-h2")
    head = alpha(shared, "chromium-h2")
    for stream in head["streams"]:
        stream["event_types"].remove("message_limit")
        stream["event_counts"].pop("message_limit")
    head["services"] = [s for s in head["services"] if s["name"] != "projects"]
    head["exchanges"] = [e for e in head["exchanges"] if e["service"] != "projects"]
    fastly = {"name": "Fastly", "category": "cdn", "role": "edge", "component": None,
              "confidence": 0.99, "evidence": ["x-served-by: cache-fra on 21/21 responses"],
              "rule": "cdn.fastly", "hosts": ["localhost"]}
    head["infrastructure"].insert(0, fastly)
    head["fingerprints"].insert(0, {**fastly, "exchanges": [0]})
    metadata = head["latency"]["by_kind"]["metadata"]
    metadata["p50"], metadata["p95"] = metadata["p50"] * 1.5, metadata["p95"] * 1.5

    result = diff_documents(base, head)
    assert facts(result) == {
        ("streams.event_removed", "removed", "breaking", COMPLETION),
        ("services.removed.api", "removed", "breaking", "projects (localhost)"),
        ("infrastructure.edge_added", "added", "warning", "Fastly (cdn)"),
        ("latency.regression", "changed", "warning", "kind metadata"),
    }
    event = next(c for c in result.changes if c.check == "streams.event_removed")
    assert event.message == "event types no longer seen: message_limit"
    assert "message_limit" in event.before and "message_limit" not in event.after
    dropped = next(c for c in result.changes if c.area == "services")
    assert dropped.evidence == ("GET /api/organizations/{uuid}/projects",
                                "GET /api/organizations/{uuid}/projects/{uuid}/docs")
    assert [c.area for c in result.changes] == ["services", "streams", "infrastructure",
                                                "latency"]
    assert [exit_code(result, f) for f in ("breaking", "warning", "info")] == [1, 1, 1]
    assert_valid_outputs(result)


# --- one check at a time, on the sample -------------------------------------------------------


def _stream(doc: Doc, transport: str) -> dict[str, Any]:
    stream: dict[str, Any] = next(s for s in doc["streams"] if s["transport"] == transport)
    return stream


def _id_format(doc: Doc, kind: str) -> dict[str, Any]:
    fmt: dict[str, Any] = next(f for f in doc["id_formats"] if f["kind"] == kind)
    return fmt


def _drop_exchanges(doc: Doc, method: str, template: str) -> None:
    doc["exchanges"] = [e for e in doc["exchanges"]
                        if (e["method"], e["template"]) != (method, template)]


def _hops(*hops: tuple[str, str, str | None]) -> list[dict[str, Any]]:
    return [{"name": n, "category": c, "role": r, "component": None, "evidence": []}
            for n, c, r in hops]


def _edit_endpoint_removed(doc: Doc) -> None:
    _drop_exchanges(doc, "DELETE", "/api/conversations/{uuid}")


def _edit_static_endpoint_removed(doc: Doc) -> None:
    doc["exchanges"][1]["template"] = "/static/vendor.{hash}.js"


def _edit_service_moved(doc: Doc) -> None:
    doc["services"][0]["host"] = "api.example.test"


def _drop_service(doc: Doc, name: str) -> None:
    doc["services"] = [s for s in doc["services"] if s["name"] != name]
    doc["exchanges"] = [e for e in doc["exchanges"] if e["service"] != name]


def _edit_static_service_removed(doc: Doc) -> None:
    _drop_service(doc, "static")


def _edit_service_renamed(doc: Doc) -> None:
    """The analyser groups the same endpoints under another name: nothing a client sees."""
    doc["services"][0]["name"] = "chats"
    for e in doc["exchanges"]:
        if e["service"] == "conversations":
            e["service"] = "chats"


def _edit_ids_in_templates(doc: Doc) -> None:
    for e in doc["exchanges"]:
        e["template"] = e["template"].replace("{uuid}", "{int}")


def _edit_transport(doc: Doc) -> None:
    _stream(doc, "ndjson")["transport"] = "chunked-text"


def _edit_schema(doc: Doc) -> None:
    _stream(doc, "sse")["schema"] = "openai-chat"


def _edit_delta(doc: Doc) -> None:
    _stream(doc, "sse")["delta_format"] = "json-patch"


def _edit_terminator(doc: Doc) -> None:
    _stream(doc, "ndjson")["terminator"] = "end"


def _edit_event_added(doc: Doc) -> None:
    _stream(doc, "sse")["event_types"].append("thinking_delta")


def _edit_stream_encoding(doc: Doc) -> None:
    _stream(doc, "sse")["content_encoding"] = []


def _edit_stream_stopped(doc: Doc) -> None:
    doc["streams"] = [s for s in doc["streams"] if s["transport"] != "ndjson"]


def _edit_graphql(doc: Doc) -> None:
    doc["api_styles"].append({"style": "GraphQL", "exchanges": 1, "operations": ["Viewer"]})


def _edit_cookie_renamed(doc: Doc) -> None:
    doc["auth"][0]["name"] = "sid"


def _edit_cookie_weakened(doc: Doc) -> None:
    doc["auth"][0]["http_only"] = False


def _edit_csrf_added(doc: Doc) -> None:
    doc["auth"].append({"kind": "csrf-token", "name": "x-csrf-token", "where": "header"})


def _edit_bearer_removed(doc: Doc) -> None:
    doc["auth"] = doc["auth"][:1]


def _edit_uuid_v4(doc: Doc) -> None:
    _id_format(doc, "uuid")["version"] = 4


def _edit_id_kind(doc: Doc) -> None:
    _id_format(doc, "hex")["kind"] = "base62"


def _edit_id_prefix(doc: Doc) -> None:
    _id_format(doc, "hex")["prefix"] = "message_"


def _edit_id_added(doc: Doc) -> None:
    doc["id_formats"].append({"kind": "ulid", "version": None, "prefix": None,
                              "where": ["json:$.request_id"], "count": 2})


def _edit_cdn_added(doc: Doc) -> None:
    doc["infrastructure"] = _hops(("Fastly", "cdn", "edge"))


def _edit_mesh_added(doc: Doc) -> None:
    doc["infrastructure"] = _hops(("Envoy", "service_mesh", "mesh"))


def _edit_s3_origin_added(doc: Doc) -> None:
    doc["infrastructure"] = _hops(("Amazon S3", "cloud", "origin"))


def _edit_roleless_cloud_added(doc: Doc) -> None:
    doc["infrastructure"] = _hops(("GCP", "cloud", None))


def _edit_vendor_added(doc: Doc) -> None:
    doc["fingerprints"].append({"category": "analytics", "name": "Segment", "confidence": 0.9,
                                "evidence": ["writeKey in body"]})


def _edit_h3_share(doc: Doc) -> None:
    doc["protocols"] = {"h2": 6, "h3": 4}


def _edit_h2_gone(doc: Doc) -> None:
    doc["protocols"] = {"http/1.1": 10, "h2": 0, "unknown": 3}


def _edit_br_gone(doc: Doc) -> None:
    doc["encodings"].pop("br")


def _edit_identity_gone(doc: Doc) -> None:
    doc["encodings"].pop("identity")


def _edit_latency_few(doc: Doc) -> None:
    doc["latency"]["by_kind"]["static"]["p50"] = 131.1


def _edit_latency_faster(doc: Doc) -> None:
    doc["latency"]["by_kind"]["completion"]["total_p50"] = 411.3


def _edit_latency_service(doc: Doc) -> None:
    doc["services"][0]["latency_ms"]["p95"] = 1834.1


def _edit_latency_class_gone(doc: Doc) -> None:
    doc["latency"]["by_kind"].pop("crud")


EDITS: list[tuple[Callable[[Doc], None], set[tuple[str, str, str, str]]]] = [
    (_edit_endpoint_removed, {("endpoints.removed.api", "removed", "breaking",
                               "DELETE /api/conversations/{uuid}")}),
    (_edit_static_endpoint_removed, {
        ("endpoints.removed.other", "removed", "info", "GET /static/app.{hash}.js"),
        ("endpoints.added", "added", "info", "GET /static/vendor.{hash}.js")}),
    (_edit_service_moved, {("services.moved.api", "changed", "breaking", "conversations")}),
    (_edit_static_service_removed, {("services.removed.other", "removed", "info",
                                     "static (127.0.0.1)")}),
    (_edit_service_renamed, {("services.regrouped", "changed", "info",
                              "conversations (127.0.0.1)")}),
    (_edit_ids_in_templates, set()),  # placeholders compare by position: IDs are id_formats'
    (_edit_transport, {("streams.transport", "changed", "breaking",
                        "POST /api/conversations/{uuid}/stream-ndjson")}),
    (_edit_schema, {("streams.schema", "changed", "breaking",
                     "POST /api/conversations/{uuid}/completion")}),
    (_edit_delta, {("streams.delta_format", "changed", "breaking",
                    "POST /api/conversations/{uuid}/completion")}),
    (_edit_terminator, {("streams.terminator", "changed", "breaking",
                         "POST /api/conversations/{uuid}/stream-ndjson")}),
    (_edit_event_added, {("streams.event_added", "added", "info",
                          "POST /api/conversations/{uuid}/completion")}),
    (_edit_stream_encoding, {("streams.encoding", "changed", "info",
                              "POST /api/conversations/{uuid}/completion")}),
    (_edit_stream_stopped, {("streams.stopped", "removed", "breaking",
                             "POST /api/conversations/{uuid}/stream-ndjson")}),
    (_edit_graphql, {("api_styles.added", "added", "info", "GraphQL")}),
    (_edit_cookie_renamed, {("auth.replaced", "changed", "breaking",
                             "session-cookie session_id (cookie)")}),
    (_edit_cookie_weakened, {("auth.weakened", "changed", "warning",
                              "session-cookie session_id (cookie)")}),
    (_edit_csrf_added, {("auth.added", "added", "warning", "csrf-token x-csrf-token (header)")}),
    (_edit_bearer_removed, {("auth.removed", "removed", "warning",
                             "bearer authorization (header)")}),
    (_edit_uuid_v4, {("id_formats.version", "changed", "warning", "{uuid v7}")}),
    (_edit_id_kind, {("id_formats.kind", "changed", "breaking", "msg_{hex}")}),
    (_edit_id_prefix, {("id_formats.prefix", "changed", "breaking", "msg_{hex}")}),
    (_edit_id_added, {("id_formats.added", "added", "info", "{ulid}")}),
    (_edit_cdn_added, {("infrastructure.edge_added", "added", "warning", "Fastly (cdn)")}),
    (_edit_mesh_added, {("infrastructure.inner_added", "added", "info",
                         "Envoy (service_mesh)")}),
    (_edit_s3_origin_added, {("infrastructure.inner_added", "added", "info",
                              "Amazon S3 (cloud)")}),
    (_edit_roleless_cloud_added, {("infrastructure.edge_added", "added", "warning",
                                   "GCP (cloud)")}),
    (_edit_vendor_added, {("vendors.added", "added", "info", "Segment (analytics)")}),
    (_edit_h3_share, {("protocols.share", "changed", "info", "h2"),
                      ("protocols.added", "added", "info", "h3")}),
    (_edit_h2_gone, {("protocols.removed", "removed", "warning", "h2"),
                     ("protocols.added", "added", "info", "http/1.1")}),
    (_edit_br_gone, {("encodings.removed", "removed", "warning", "br")}),
    (_edit_identity_gone, {("encodings.identity_removed", "removed", "info", "identity")}),
    (_edit_latency_few, {("latency.regression_few_samples", "changed", "info", "kind static")}),
    (_edit_latency_faster, {("latency.improvement", "changed", "info", "kind completion")}),
    (_edit_latency_service, {("latency.regression", "changed", "warning",
                              "service conversations (127.0.0.1)")}),
    (_edit_latency_class_gone, {("latency.class_removed", "removed", "info", "kind crud")}),
]


@pytest.mark.parametrize(("edit", "expected"), EDITS, ids=[e.__name__[6:] for e, _ in EDITS])
def test_each_edit_gives_its_change(edit: Callable[[Doc], None],
                                    expected: set[tuple[str, str, str, str]]) -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    edit(head)
    result = diff_documents(base, head)
    assert facts(result) == expected
    assert_valid_outputs(result)


def test_infrastructure_replacement_and_reordering_are_one_change_each() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    base["infrastructure"] = _hops(("Cloudflare", "cdn", "edge"), ("GCP", "cloud", "lb"),
                                   ("Envoy", "service_mesh", "mesh"))
    head["infrastructure"] = _hops(("Fastly", "cdn", "edge"), ("Envoy", "service_mesh", "mesh"),
                                   ("GCP", "cloud", "lb"))
    result = diff_documents(base, head)
    assert facts(result) == {
        ("infrastructure.edge_replaced", "changed", "warning", "cdn"),
        ("infrastructure.reordered", "changed", "warning", "chain"),
    }
    reordered = next(c for c in result.changes if c.check == "infrastructure.reordered")
    assert (reordered.before, reordered.after) == (["GCP", "Envoy"], ["Envoy", "GCP"])


def test_vendor_confidence_moves_are_info_and_small_ones_are_ignored() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    base["fingerprints"] = [{"category": "rum", "name": "Sentry", "confidence": 0.9}]
    head["fingerprints"] = [{"category": "rum", "name": "Sentry", "confidence": 0.7}]
    assert facts(diff_documents(base, head)) == {
        ("vendors.confidence", "changed", "info", "Sentry (rum)")}
    head["fingerprints"][0]["confidence"] = 0.88
    assert diff_documents(base, head).changes == ()


def test_graphql_operations_are_endpoints() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    base["api_styles"] = [{"style": "GraphQL", "operations": ["Viewer", "Search"]}]
    head["api_styles"] = [{"style": "GraphQL", "operations": ["Viewer", "SearchV2"]}]
    assert facts(diff_documents(base, head)) == {
        ("api_styles.operation_removed", "removed", "breaking", "GraphQL Search"),
        ("api_styles.operation_added", "added", "info", "GraphQL SearchV2"),
    }


def test_latency_threshold_and_floor_are_both_required() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["services"][0]["latency_ms"]["p95"] = 834.1 * 1.15  # +15%, +125 ms
    assert diff_documents(base, head).changes == ()
    tight = diff_documents(base, head, latency_threshold=0.10)
    assert facts(tight) == {("latency.regression", "changed", "warning",
                             "service conversations (127.0.0.1)")}
    assert tight.changes[0].before == {"n": 7, "p50": 5.1, "p95": 834.1}
    head["services"][0]["latency_ms"]["p50"] = 5.1 * 3  # +200% but only +10.2 ms
    assert {c.message for c in diff_documents(base, head, latency_threshold=0.10).changes} == {
        "p50 5.1 → 15.3 ms (+200%); p95 834.1 → 959.215 ms (+15%)"}
    assert {c.message for c in diff_documents(base, head, latency_threshold=0.10,
                                              min_latency_ms=20).changes} == {
        "p95 834.1 → 959.215 ms (+15%)"}


def test_endpoints_fall_back_to_service_templates_without_exchanges() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    base.pop("exchanges")
    head.pop("exchanges")
    head["services"][0]["templates"].remove("/api/conversations/{uuid}/stream-ndjson")
    result = diff_documents(base, head)
    assert facts(result) == {("endpoints.removed.api", "removed", "breaking",
                              "/api/conversations/{uuid}/stream-ndjson")}
    assert any("services[].templates" in n for n in result.notes)


def test_notes_name_different_archcmp_builds() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["tool"] = {"name": "archcmp", "version": "9.9.9", "rules_hash": "abc"}
    notes = diff_documents(base, head).notes
    assert any("tool.rules_hash None vs abc" in n and "tool.version 0.1.0 vs 9.9.9" in n
               for n in notes)


# --- exit codes and arguments -----------------------------------------------------------------


def _diff_with(*levels: str) -> Diff:
    changes = tuple(Change(area="services", kind="added", level=lv, subject="s",  # type: ignore[arg-type]
                           before=None, after=None, message="m") for lv in levels)
    return Diff(base={}, head={}, changes=changes)


@pytest.mark.parametrize(("levels", "expected"), [
    ((), {"any": 0, "info": 0, "warning": 0, "breaking": 0, "none": 0}),
    (("info",), {"any": 1, "info": 1, "warning": 0, "breaking": 0, "none": 0}),
    (("info", "warning"), {"any": 1, "info": 1, "warning": 1, "breaking": 0, "none": 0}),
    (("breaking",), {"any": 1, "info": 1, "warning": 1, "breaking": 1, "none": 0}),
])
def test_exit_code_fails_at_or_above_the_level(levels: tuple[str, ...],
                                               expected: dict[str, int]) -> None:
    diff = _diff_with(*levels)
    assert {f: exit_code(diff, f) for f in FAIL_ON} == expected
    assert_valid_outputs(diff)
    assert exit_code(diff, " Breaking ") == expected["breaking"]


def test_exit_code_refuses_unknown_levels() -> None:
    with pytest.raises(UsageError, match="--fail-on must be one of any, info, warning"):
        exit_code(_diff_with(), "error")


@pytest.mark.parametrize(("text", "value"), [("20%", 0.2), (" 5 % ", 0.05), ("0.2", 0.2),
                                             ("0", 0.0), ("150%", 1.5)])
def test_parse_threshold(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["20", "abc", "-5%", "nan", "inf%", ""])
def test_parse_threshold_refuses(text: str) -> None:
    with pytest.raises(UsageError, match=r"latency threshold|--latency-threshold"):
        parse_threshold(text)


def test_negative_thresholds_are_usage_errors() -> None:
    doc = analysis(SAMPLE)
    with pytest.raises(UsageError):
        diff_documents(doc, doc, latency_threshold=-0.1)
    with pytest.raises(UsageError):
        diff_documents(doc, doc, min_latency_ms=float("nan"))


# --- the policy is documented -----------------------------------------------------------------


def test_docstring_policy_table_matches_policy() -> None:
    table = dict(re.findall(r"^ {4}([a-z_]+\.[a-z_.]+) +(info|warning|breaking) ",
                            diff_module.__doc__ or "", flags=re.M))
    assert table == dict(POLICY)


# --- rendering --------------------------------------------------------------------------------


def test_text_is_one_line_per_change_grouped_by_area_without_control_characters() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    _drop_service(head, "me")
    head["services"].append({"name": "evil\x1b[31m\nname|<b>", "host": "127.0.0.1",
                             "role": "api"})
    head["protocols"]["h3"] = 5
    result = diff_documents(base, head)
    text = diff_to_text(result)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[2:] == [
        "note: base and head are the same capture file",
        "4 changes: 1 breaking, 0 warning, 3 info",
        "",
        "services",
        "  breaking  removed  me (127.0.0.1): api service no longer observed (1 endpoint)",
        "  info      added    evil [31m name|<b> (127.0.0.1): new api service (0 endpoints)",
        "",
        "protocols",
        "  info      changed  h2: HTTP/2 share 100% → 67%",
        "  info      added    h3: HTTP/3 now carries 5 of 15 exchanges",
    ]


def test_markdown_tables_escape_captured_text() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["services"][1]["name"] = "a|b<script>"
    md = diff_to_markdown(diff_documents(base, head))
    assert "<script>" not in md
    assert "a\\|b\\<script\\>" in md
    assert "\n## Services\n\n| Level | Change | Subject | Details | Evidence |\n" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(len(re.split(r"(?<!\\)\|", row)) in (5, 7) for row in rows)
    assert "\n\n\n" not in md and md.endswith("|\n")


def test_json_document_shape() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["encodings"].pop("br")
    document = diff_to_json(diff_documents(base, head))
    assert document["schema"] == "archcmp.diff/1"
    assert document["summary"] == {"changes": 1, "info": 0, "warning": 1, "breaking": 0,
                                   "highest": "warning"}
    assert document["changes"] == [{
        "area": "encodings", "kind": "removed", "level": "warning", "check": "encodings.removed",
        "subject": "br", "message": "no response uses br any more (was 2)", "before": 2,
        "after": 0, "evidence": []}]
    assert document["base"]["name"] == "chat-chromium-h2.har"


def test_schema_rejects_unknown_levels_and_kinds() -> None:
    base, head = analysis(SAMPLE), analysis(SAMPLE)
    head["encodings"].pop("br")
    document = diff_to_json(diff_documents(base, head))
    document["changes"][0]["level"] = "error"
    document["changes"][0]["kind"] = "moved"
    assert len(list(_validator().iter_errors(document))) == 2


# --- fuzz -------------------------------------------------------------------------------------

JUNK: list[Any] = ["<delete>", None, 0, -1, 1e308, "", "x", True, [], {}, [None, 1, "x", {}]]


def _key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path that ends in a dict key, through dicts and list items."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out += _key_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _key_paths(item, (*prefix, index))
    return out


@functools.cache
def _sample_paths() -> list[tuple[Any, ...]]:
    return _key_paths(analysis(SAMPLE))


def _mutate(doc: Doc, edits: list[tuple[tuple[Any, ...], Any]]) -> Doc:
    for path, junk in edits:
        node: Any = doc
        for step in path[:-1]:
            present = (step in node if isinstance(node, dict) else
                       isinstance(node, list) and isinstance(step, int) and step < len(node))
            if not present:
                break
            node = node[step]
        else:
            if isinstance(node, dict) and path[-1] in node:
                if junk == "<delete>":
                    del node[path[-1]]
                else:
                    node[path[-1]] = copy.deepcopy(junk)
    return doc


@given(data=st.data())
def test_fuzzed_documents_never_raise_and_equal_themselves(data: st.DataObject) -> None:
    edits = data.draw(st.lists(st.tuples(st.sampled_from(_sample_paths()), st.sampled_from(JUNK)),
                               max_size=30))
    broken = _mutate(analysis(SAMPLE), edits)
    intact = analysis(SAMPLE)
    for base, head in ((intact, broken), (broken, intact)):
        assert_valid_outputs(diff_documents(base, head))
    same = diff_documents(broken, copy.deepcopy(broken))
    assert same.changes == ()
    assert all(exit_code(same, f) == 0 for f in FAIL_ON)


@given(keys=st.sets(st.sampled_from(sorted(["schema", "tool", "capture", "protocols",
                                            "encodings", "exchanges", "services",
                                            "fingerprints", "infrastructure", "id_formats",
                                            "streams", "api_styles", "auth", "latency"]))))
def test_documents_missing_top_level_keys_diff_cleanly(keys: set[str]) -> None:
    partial = {k: v for k, v in analysis(SAMPLE).items() if k not in keys}
    assert_valid_outputs(diff_documents(partial, analysis(SAMPLE)))
    assert diff_documents(partial, copy.deepcopy(partial)).changes == ()
    assert diff_documents({}, {}).changes == ()
