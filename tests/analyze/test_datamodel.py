"""Data model and collections (issue 4 item 8): key names and counts, never values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archcmp.analyze.datamodel import DataModelAnalyzer
from archcmp.decode.lines import parse_stream
from archcmp.diagnostics import Diagnostics
from archcmp.model import Observation
from tests.analyze.test_api import alpha_hars, corpus_hars, make_obs, observations, run

U1 = "019ab574-3044-7b3e-9f6f-6642d5ffa01a"
U2 = "019ab574-37a6-7532-997f-3d4dc2e76dd7"
U3 = "019ab574-2f7b-7b12-a3df-4eb7e9ec3913"


def _result(*obs: Observation) -> dict[str, Any]:
    result: dict[str, Any] = run(DataModelAnalyzer(), obs).result()
    return result


def test_tree_from_parent_ids_and_a_leaf_pointer() -> None:
    conv = make_obs("GET", f"https://chat.test/api/conversations/{U3}", response={
        "uuid": U3, "name": "private title", "model": "some-model",
        "current_leaf_message_uuid": U2,
        "chat_messages": [{"uuid": U1, "parent_message_uuid": U3, "text": "hello"},
                          {"uuid": U2, "parent_message_uuid": U1, "text": "hi"}]})
    result = run(DataModelAnalyzer(), [conv]).result()
    model = result["data_model"]
    assert model["structure"] == "tree"
    assert [m["key"] for m in model["parent_keys"]] == ["parent_message_uuid"]
    assert [m["key"] for m in model["branch_markers"]] == ["current_leaf_message_uuid"]
    assert model["model_keys"][0]["key"] == "model"
    assert model["resources"][0]["endpoint"] == "GET /api/conversations/{uuid}"
    assert model["resources"][0]["lists"] == {"chat_messages": ["parent_message_uuid", "text",
                                                                "uuid"]}
    text = json.dumps(result)
    for value in ("private title", "hello", U1, "some-model"):
        assert value not in text


def test_chatgpt_style_node_map_is_a_tree() -> None:
    ids = ["aaa1b2c3-0000-4000-8000-000000000001", "aaa1b2c3-0000-4000-8000-000000000002"]
    conv = make_obs("GET", "https://chat.test/backend-api/conversation/abc", response={
        "title": "t", "current_node": ids[1], "default_model_slug": "gpt-4o",
        "mapping": {ids[0]: {"id": ids[0], "parent": None, "children": [ids[1]]},
                    ids[1]: {"id": ids[1], "parent": ids[0], "children": []}}})
    model = run(DataModelAnalyzer(), [conv]).result()["data_model"]
    assert model["structure"] == "tree"
    assert {m["key"] for m in model["branch_markers"]} == {"current_node", "children", "mapping"}
    assert [m["key"] for m in model["model_keys"]] == ["default_model_slug"]
    # map keys are ids, never reported as schema keys
    assert set(model["resources"][0]["keys"]) == {"current_node", "default_model_slug",
                                                  "mapping", "title"}


def test_parent_links_without_branching_and_no_claim_without_either() -> None:
    linked = make_obs("GET", "https://t.test/api/threads/1/messages", response={"data": [
        {"id": "msg_Ab3dEf6hIj9kLm2nOp5qRs8t", "parent_id": "msg_Zx8cVb5nMq2wEr7tYu4iOp1a"}]})
    assert _result(linked)["data_model"]["structure"] == "parent-linked"
    nav = make_obs("POST", "https://svc.test/json/GetMenu", request={"x": 1},
                   response={"d": {"Parent": None, "Nodes": [{"Parent": None}]}})
    assert _result(nav)["data_model"]["structure"] is None


def test_stream_payloads_and_requests_count() -> None:
    stream = parse_stream("sse", (
        'event: message_start\ndata: {"type":"message_start","message":{"model":"m1",'
        f'"parent_uuid":"{U1}","uuid":"{U2}"}}}}\n\n').encode(), Diagnostics())
    completion = make_obs("POST", f"https://chat.test/api/c/{U3}/completion",
                          request={"prompt": "p", "parent_message_uuid": U1},
                          response_type="text/event-stream")
    completion = Observation(exchange=completion.exchange, request=completion.request,
                             transport="sse", events=tuple(stream))
    model = _result(completion)["data_model"]
    keys = {m["key"]: m["where"] for m in model["parent_keys"]}
    assert keys["parent_message_uuid"] == ["POST /api/c/{uuid}/completion request"]
    assert keys["parent_uuid"] == ["POST /api/c/{uuid}/completion stream (message_start)"]


def test_extension_collections_with_categories_and_downloads() -> None:
    items = [{"id": f"ext-{i:04d}abcdefgh", "name": f"Tool {i}", "category": cat,
              "download_count": 1000 * i, "is_first_party": i < 2}
             for i, cat in enumerate(["productivity", "productivity", "developer", "data"])]
    listing = make_obs("GET", "https://app.test/api/extensions?limit=50",
                       response={"extensions": items, "next_cursor": None})
    chats = make_obs("GET", "https://app.test/api/chats", response=[{"id": 1}, {"id": 2}])
    result = _result(listing, chats)
    collections = {c["name"]: c for c in result["collections"]}
    ext = collections["extensions"]
    assert ext["items"] == 4 and ext["extension_like"]
    assert ext["categories"] == {"field": "category",
                                 "counts": {"productivity": 2, "developer": 1, "data": 1}}
    assert ext["downloads_total"] == 6000
    assert ext["flags"] == {"is_first_party": 2}
    assert not collections["chats"]["extension_like"]
    [eco] = result["extensions"]
    assert eco["name"] == "extensions" and eco["confidence"] >= 0.8
    assert any("download/install counts visible: 6000" in e for e in eco["evidence"])
    assert "Tool 1" not in json.dumps(result)


def test_alpha_data_model(shared: Path) -> None:
    for har in alpha_hars(shared):
        _, obs = observations(har)
        result = run(DataModelAnalyzer(), obs).result()
        model = result["data_model"]
        assert model["structure"] == "tree", har
        assert {m["key"] for m in model["parent_keys"]} == {"parent_message_uuid", "parent_uuid"}
        assert [m["key"] for m in model["branch_markers"]] == ["current_leaf_message_uuid"]
        assert [m["key"] for m in model["model_keys"]] == ["model"]
        names = {c["name"]: c["items"] for c in result["collections"]}
        assert names == {"chat_conversations": 4, "projects": 1, "docs": 1}
        assert result["extensions"] == []
        truth = json.loads((har.parent / "truth.json").read_text())["facts"]
        text = json.dumps(result)
        for secret in truth["planted_secrets"]:
            assert secret["value"] not in text
        assert "lab.user@example.com" not in text


def test_corpus_data_model_claims(shared: Path) -> None:
    for har in corpus_hars(shared):
        _, obs = observations(har)
        result = run(DataModelAnalyzer(), obs).result()
        assert result["data_model"]["structure"] is None, har.name
        assert result["extensions"] == [], har.name
        if har.name == "pollyjs__example-puppeteer.har":
            # jsonplaceholder.typicode.com/posts and /users: plain JSON arrays
            assert {c["name"]: c["items"] for c in result["collections"]} == {"posts": 10,
                                                                              "users": 6}


def test_wide_and_deep_documents_are_bounded() -> None:
    wide = {f"k{i}": {"parent_id": f"msg_{i:012d}"} for i in range(50_000)}
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["child"] = {}
        node = node["child"]
    result = _result(make_obs("GET", "https://a.test/api/wide", response=wide),
                     make_obs("GET", "https://a.test/api/deep", response=deep),
                     make_obs("GET", "https://a.test/api/bad", response="[" * 50_000,
                              response_type="application/json"))
    json.dumps(result)
