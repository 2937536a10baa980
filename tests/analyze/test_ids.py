"""The id_formats table: sources, keys, masking, aggregation, and the capture lab's ground truth."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.ids import IdFormatCollector, is_id_key
from archcmp.model import Body, DecodedBody, Exchange, Observation, StreamEvent

NOW = 1763985600000.0  # 2025-11-24T12:00:00Z
ORG = "019ab572-f082-79b7-a0db-e69cbf591f58"
CONV = "019ab573-1035-71f9-bc35-2132d996007b"
SCHEMA_KEYS = {"kind", "version", "prefix", "where", "examples", "count"}


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url({'sub': 'canary'})}.c2lnbmF0dXJl"


def obs(url: str, *, response: object = None, request: object = None, method: str = "GET",
        request_type: str = "application/json", events: tuple[StreamEvent, ...] = (),
        started: float | None = NOW) -> Observation:
    def body(value: object) -> DecodedBody | None:
        if value is None:
            return None
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        return DecodedBody(data=data, status="ok")

    ex = Exchange(index=0, method=method, url=url, protocol="h2", status=200,
                  request_headers=(("Content-Type", request_type),), started_ms=started)
    return Observation(exchange=ex, response=body(response), request=body(request),
                       events=events, transport="sse" if events else None)


def collect(*observations: Observation) -> list[dict[str, Any]]:
    collector = IdFormatCollector()
    for o in observations:
        collector.observe(o)
    return collector.result()


def find(formats: list[dict[str, Any]], kind: str, **keys: Any) -> dict[str, Any]:
    hits = [f for f in formats if f["kind"] == kind and all(f[k] == v for k, v in keys.items())]
    assert len(hits) == 1, (kind, keys, formats)
    return hits[0]


@pytest.mark.parametrize(("key", "expected"), [
    ("id", True), ("ID", True), ("_id", True), ("user_id", True), ("userId", True),
    ("stableID", True), ("org_uuid", True), ("uuid", True), ("ids", True), ("message-id", True),
    ("trace.id", True), ("guid", True), ("paid", False), ("valid", False), ("android", False),
    ("grid", False), ("width", False), ("idle", False), ("rule", False),
])
def test_id_keys(key: str, expected: bool) -> None:
    assert is_id_key(key) is expected


def test_path_query_and_json_sources() -> None:
    formats = collect(
        obs(f"https://a.test/api/organizations/{ORG}/chat_conversations/{CONV}?limit=30",
            response={"uuid": CONV, "account": {"uuid": ORG}, "items": [{"id": 12345}],
                      "trace_id": "e15cfd740887a9449c0732b19f088307",
                      "etag": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "count": 12345}),
        obs(f"https://a.test/search?conversation_id={CONV}&q=hello&page=2",
            request={"parent_message_uuid": ORG, "messageId": "msg_01XFDUDYJgAACzvnptvVoYEL"},
            method="POST"),
    )
    v7 = find(formats, "uuid", version=7)
    assert set(v7) >= SCHEMA_KEYS
    assert v7["count"] == 6
    assert v7["distinct"] == 2
    assert v7["examples"] == [ORG, CONV]
    assert v7["where"][:2] == ["/api/organizations/{uuid}",
                               "/api/organizations/{uuid}/chat_conversations/{uuid}"]
    assert set(v7["where"]) == {
        "/api/organizations/{uuid}", "/api/organizations/{uuid}/chat_conversations/{uuid}",
        "json:$.uuid", "json:$.account.uuid", "query:conversation_id",
    }  # five locations, the request body's sixth is beyond the cap
    assert v7["sources"] == {"path": 2, "query": 1, "json": 2, "request": 1}
    assert v7["timestamp_plausible"] is True
    assert v7["timestamp_range"][0].startswith("2025-11-24")
    assert find(formats, "numeric")["where"] == ["json:$.items[*].id"]  # "count" is not an id
    hexes = find(formats, "hex")
    assert (hexes["length"], hexes["where"]) == (32, ["json:$.trace_id"])  # etag is not
    assert find(formats, "base62", prefix="msg_")["where"] == ["request:$.messageId"]
    assert not [f for f in formats if f["kind"] == "numeric" and "query:page" in f["where"]]


def test_form_bodies_and_stream_events() -> None:
    events = (
        StreamEvent(index=0, type="message_start",
                    data=json.dumps({"message": {"id": "chatcompl_kILh0WxZyKnPQuHXqD42uk7U",
                                                 "uuid": CONV}})),
        StreamEvent(index=1, type="content_block_delta", data='{"delta": {"text": "hi"}}'),
        StreamEvent(index=2, type="done", data="[DONE]"),
    )
    formats = collect(
        obs("https://a.test/login", method="POST", request=b"user_id=12345678&password=hunter2",
            request_type="application/x-www-form-urlencoded"),
        obs("https://a.test/stream", method="POST", events=events),
    )
    assert find(formats, "numeric")["where"] == ["form:user_id"]
    graphql = collect(obs('https://a.test/graphql?operationName=Q&variables={"id":"'
                          + CONV + '"}'))
    assert find(graphql, "uuid", version=7)["where"] == ["query:variables:$.id"]
    assert find(formats, "base62", prefix="chatcompl_")["where"] == [
        "event:message_start:$.message.id"]
    assert find(formats, "uuid", version=7)["where"] == ["event:message_start:$.message.uuid"]


def test_maps_keyed_by_id_collapse_to_one_location() -> None:
    formats = collect(obs("https://a.test/x", response={
        "users": {ORG: {"name": "a"}, CONV: {"name": "b"}},
        "gates": {"537829289": {"rule_id": "default"}},
    }))
    v7 = find(formats, "uuid", version=7)
    assert v7["where"] == ["json:$.users.{uuid}"]
    assert v7["count"] == 2
    assert [f["kind"] for f in formats] == ["uuid"]  # the numeric gate key is not reported


def test_secrets_are_neither_scanned_nor_shown() -> None:
    token = "CANARYqueryTOKEN0123456789abcdefXYZ"
    formats = collect(
        obs(f"https://a.test/v1/initialize/{JWT}?access_token={token}&sig={ORG}"),
        obs("https://a.test/x", response={"session": {"id": ORG}, "writeKey": CONV,
                                          "auth": {"user_id": 42424242},
                                          "jwt_id": JWT, "key": "sk-ant-api03-" + "Ab3d" * 20}),
        obs(f"https://a.test/reset-password/{CONV}"),
    )
    dumped = json.dumps(formats)
    for secret in (JWT, token, "sk-ant-api03", "42424242"):
        assert secret not in dumped
    jwt = find(formats, "jwt")
    assert jwt["examples"] == ["eyJ…(redacted)"]
    assert jwt["redacted"] is True
    assert jwt["count"] == 2  # the path segment and the jwt_id value
    v7 = find(formats, "uuid", version=7)
    assert v7["examples"] == ["…(redacted)"]  # the reset-password link's token
    assert v7["where"] == ["/reset-password/{uuid}"]  # query sig, session.id, writeKey: unread


def test_weak_values_need_an_id_key() -> None:
    formats = collect(obs("https://a.test/x", response={
        "hash": "e15cfd740887a9449c0732b19f088307", "total": 123456, "title": "iPhone15ProMax",
        "token_count": 12345, "model": "claude-sonnet-4-5-20250929", "created": 1763980810527,
        "user": {"id": "hrSbviFSM4KkOTYPfksuy4MADOGwsaBX"},
    }))
    assert [(f["kind"], f["where"]) for f in formats] == [("base62", ["json:$.user.id"])]


def test_snowflake_epoch_guess_and_caps() -> None:
    values = [str(((1700000000000 + i - 1420070400000) << 22) | i) for i in range(10)]
    formats = collect(*(obs(f"https://a.test/channels/{v}/messages/{i}00{i}", started=None)
                        for i, v in enumerate(values)))
    flake = find(formats, "snowflake")
    assert (flake["count"], flake["epoch_guess"], flake["timestamp_plausible"]) == (10, "discord",
                                                                                   True)
    assert len(flake["examples"]) == 3
    assert flake["where"] == ["/channels/{snowflake}"]
    assert find(formats, "numeric")["where"] == ["/channels/{snowflake}/messages/{int}"]


def test_sorted_by_count_and_empty() -> None:
    formats = collect(obs(f"https://a.test/a/{ORG}/b/{ORG}/c/d797e9a1ed7121c1"))
    assert [f["count"] for f in formats] == [2, 1]
    assert collect() == []


def test_bad_bodies_are_ignored() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    formats = collect(
        obs("https://a.test/x", response=b'{"id": "019ab572-f082'),  # cut JSON
        obs("https://a.test/x", response=b"\xff\xfe{not utf-8"),
        obs("https://a.test/x", response=deep.encode()),
        obs("http://[::1", response={"id": ORG}),  # unparsable URL: skipped whole
    )
    assert formats == []


# -- the capture lab's ground truth ------------------------------------------------------------

def _sse(text: str) -> tuple[StreamEvent, ...]:
    """Minimal WHATWG SSE split, enough for the lab's well-formed streams."""
    events: list[StreamEvent] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = [line.split(":", 1) for line in block.split("\n") if ":" in line]
        kind = next((v.strip() for k, v in fields if k == "event"), "message")
        data = "\n".join(v[1:] if v.startswith(" ") else v for k, v in fields if k == "data")
        if data:
            events.append(StreamEvent(index=len(events), type=kind, data=data))
    return tuple(events)


def har_observations(path: Path) -> Iterator[Observation]:
    entries = json.loads(path.read_bytes().decode("utf-8-sig"))["log"]["entries"]
    for i, entry in enumerate(entries):
        request, response = entry["request"], entry["response"]
        content = response.get("content", {})
        text = content.get("text")
        data = ((base64.b64decode(text) if content.get("encoding") == "base64" else text.encode())
                if text is not None else None)
        post = request.get("postData", {}).get("text")
        ctype = content.get("mimeType") or ""
        started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
        ex = Exchange(
            index=i, method=request["method"], url=request["url"], protocol="h2",
            status=response["status"] or None,
            request_headers=tuple((h["name"], h["value"]) for h in request.get("headers", [])),
            request_body=Body(data=post.encode()) if post else None,
            response_body=Body(data=data, mime_type=ctype),
            started_ms=started.timestamp() * 1000,
        )
        events = _sse(data.decode()) if data and ctype.startswith("text/event-stream") else ()
        yield Observation(
            exchange=ex, response=DecodedBody(data=data, status="ok"),
            request=DecodedBody(data=post.encode(), status="ok") if post else None,
            transport="sse" if events else None, events=events)


@pytest.mark.parametrize("session", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_alpha_id_formats(shared: Path, session: str) -> None:
    folder = shared / "captures" / "alpha" / session
    facts = json.loads((folder / "truth.json").read_text())["facts"]
    collector = IdFormatCollector()
    for o in har_observations(folder / "capture.har"):
        collector.observe(o)
    formats = collector.result()
    (truth,) = facts["id_formats"]
    assert truth["format"] == "uuidv7"
    v7 = formats[0]  # the most frequent format
    assert (v7["kind"], v7["version"], v7["prefix"]) == ("uuid", 7, None)
    assert set(truth["examples"]) <= set(v7["examples"])
    assert v7["timestamp_plausible"] is True
    # The truth's {org_uuid}, {conv_uuid}, {project_uuid} locations, as archcmp writes them.
    assert {"/api/organizations/{uuid}",
            "/api/organizations/{uuid}/chat_conversations/{uuid}"} <= set(v7["where"])
    assert v7["sources"]["path"] >= 10
    # Nothing planted as a secret reaches the table.
    dumped = json.dumps(formats)
    for secret in facts["planted_secrets"]:
        assert secret["value"] not in dumped
    kinds = {(f["kind"], f["prefix"]) for f in formats}
    assert ("base62", "chatcompl_") in kinds  # from the SSE message_start events
    assert ("base62", "req_") in kinds
