"""API styles (issue 4 item 7): hand-built exchanges per protocol, the alpha HARs against truth,
and the whole HAR corpus for false claims.

Also home of the small helpers the other analyser tests share: :func:`observations` reads a HAR
with the real reader, decoder and stream parsers into ``Observation`` s, as the pipeline does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from archcmp.analyze.api import ApiStyleAnalyzer, segment_kind, template_path
from archcmp.decode.content import decode_body
from archcmp.decode.lines import classify_stream, parse_stream
from archcmp.diagnostics import Diagnostics
from archcmp.ingest.har import read_har
from archcmp.model import (
    Body,
    CaptureMeta,
    DecodedBody,
    Exchange,
    Observation,
    StreamEvent,
)

#: Corpus files that are not readable HARs (see test_pipeline.py).
BROKEN = {"mitmproxy__brokenfile.har", "mitmproxy__har_extractor.har"}


# --------------------------------------------------------------------------- shared helpers


def alpha_hars(shared: Path) -> list[Path]:
    return sorted((shared / "captures" / "alpha").glob("*/capture.har"))


def corpus_hars(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "corpus" / "har").iterdir() if p.name not in BROKEN)


def observations(path: Path) -> tuple[CaptureMeta, list[Observation]]:
    """Every exchange of a HAR decoded and stream-parsed, as the pipeline hands them over."""
    diag = Diagnostics()
    meta, exchanges = read_har(path, diag)
    out = []
    for ex in exchanges:
        response = (decode_body(ex.response_body, diag)
                    if ex.response_body is not None and ex.status is not None else None)
        request = decode_body(ex.request_body, diag) if ex.request_body is not None else None
        transport: str | None = None
        events: tuple[StreamEvent, ...] = ()
        if ex.events:
            transport, events = "websocket", ex.events
        elif response is not None and response.data:
            ctype = ex.response_header("content-type") or (
                ex.response_body.mime_type if ex.response_body else None)
            kind = classify_stream(response.data, ctype, ex.response_headers)
            if kind is not None:
                transport, events = kind, tuple(parse_stream(kind, response.data, diag))
        out.append(Observation(exchange=ex, response=response, request=request,
                               transport=transport, events=events))
    return meta, out


def run(analyzer: Any, obs: Iterable[Observation]) -> Any:
    for o in obs:
        analyzer.observe(o)
    return analyzer


def make_obs(
    method: str,
    url: str,
    *,
    status: int = 200,
    request: bytes | str | dict[str, Any] | list[Any] | None = None,
    request_type: str | None = None,
    response: bytes | str | dict[str, Any] | list[Any] | None = None,
    response_type: str | None = None,
    request_headers: Sequence[tuple[str, str]] = (),
    response_headers: Sequence[tuple[str, str]] = (),
    index: int = 0,
    **exchange: Any,
) -> Observation:
    """A hand-built exchange; dict/list bodies are sent as JSON."""

    def raw(body: Any) -> bytes | None:
        if body is None or isinstance(body, bytes):
            return body
        return body.encode() if isinstance(body, str) else json.dumps(body).encode()

    req_bytes, resp_bytes = raw(request), raw(response)
    if request_type is None and isinstance(request, dict | list):
        request_type = "application/json"
    if response_type is None and isinstance(response, dict | list):
        response_type = "application/json"
    req_headers = list(request_headers) + (
        [("content-type", request_type)] if request_type else [])
    resp_headers = list(response_headers) + (
        [("content-type", response_type)] if response_type else [])
    ex = Exchange(index=index, method=method, url=url, protocol="h2", status=status,
                  request_headers=tuple(req_headers), response_headers=tuple(resp_headers),
                  request_body=None if req_bytes is None else Body(data=req_bytes,
                                                                   mime_type=request_type),
                  response_body=None if resp_bytes is None else Body(data=resp_bytes,
                                                                     mime_type=response_type),
                  **exchange)
    return Observation(
        exchange=ex,
        request=None if req_bytes is None else DecodedBody(data=req_bytes, status="ok"),
        response=None if resp_bytes is None else DecodedBody(data=resp_bytes, status="ok"))


def styles(*obs: Observation) -> dict[str, dict[str, Any]]:
    result = run(ApiStyleAnalyzer(), obs).result()["api_styles"]
    return {s["style"]: s for s in result}


# --------------------------------------------------------------------------- templating


def test_segment_kinds() -> None:
    assert segment_kind("019ab572-f082-79b7-a0db-e69cbf591f58") == "{uuid}"
    assert segment_kind("01ARZ3NDEKTSV4RRFFQ69G5FAV") == "{ulid}"
    assert segment_kind("12345") == "{int}"
    # the one id recogniser's convention (archcmp.classify.paths): lengths and prefixes kept
    assert segment_kind("0123456789abcdef0123") == "{hex20}"
    assert segment_kind("connector_0123456789abcdef") == "connector_{hex16}"
    assert segment_kind("g-p2ZL9IqD1") == "g-{base62}"
    for word in ("chat_conversations", "api", "v1", "homepage-injection-zone-3", "settings"):
        assert segment_kind(word) is None, word
    assert template_path("/api/organizations/019ab572-f082-79b7-a0db-e69cbf591f58/projects/7") \
        == "/api/organizations/{uuid}/projects/{int}"


# --------------------------------------------------------------------------- protocols


def test_graphql_post_with_operation_names_and_persisted_hashes() -> None:
    sha = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"
    found = styles(
        make_obs("POST", "https://app.test/graphql",
                 request={"operationName": "Viewer", "variables": {},
                          "query": "query Viewer { viewer { id login } }"},
                 response={"data": {"viewer": {"id": "1"}}}),
        make_obs("POST", "https://app.test/graphql",
                 request=[{"query": "mutation AddStar($id: ID!) { addStar(id: $id) { id } }"},
                          {"operationName": "Feed", "variables": {"first": 10},
                           "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}],
                 response=[{"data": {}}, {"errors": [{"message": "PersistedQueryNotFound"}]}]),
        make_obs("GET", "https://app.test/api/graphql?operationName=Feed&variables=%7B%7D"
                 "&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%2C%22sha256Hash"
                 f"%22%3A%22{sha}%22%7D%7D", response={"data": {}}))
    g = found["GraphQL"]
    assert g["exchanges"] == 3
    assert set(g["operations"]) == {"Viewer", "AddStar", "Feed"}
    assert g["persisted_queries"] == [sha]
    assert any("persisted-query sha256" in e for e in g["evidence"])
    assert list(found) == ["GraphQL"]


def test_search_parameter_named_query_is_not_graphql() -> None:
    found = styles(make_obs("GET", "https://shop.test/search?query=red+shoes",
                            response={"results": []}),
                   make_obs("POST", "https://shop.test/api/search",
                            request={"query": "red shoes", "page": 2}, response={"hits": []}))
    assert "GraphQL" not in found


def test_json_rpc_and_mcp() -> None:
    found = styles(
        make_obs("POST", "https://mcp.test/mcp", request={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-03-26"}}),
        make_obs("POST", "https://mcp.test/mcp",
                 request={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        make_obs("POST", "https://rpc.test/", request=[
            {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []}]))
    rpc = found["JSON-RPC"]
    assert rpc["exchanges"] == 3
    assert set(rpc["operations"]) == {"initialize", "tools/list", "eth_blockNumber"}
    assert rpc["protocol"] == "MCP"


def test_grpc_web_connect_batchexecute_trpc() -> None:
    found = styles(
        make_obs("POST", "https://api.test/acme.chat.v1.ChatService/SendMessage",
                 request=b"\x00\x00\x00\x00\x05hello", request_type="application/grpc-web+proto",
                 response=b"\x00\x00\x00\x00\x00", response_type="application/grpc-web+proto",
                 request_headers=[("x-grpc-web", "1")]),
        make_obs("POST", "https://api.test/acme.user.v1.UserService/GetUser",
                 request={"id": "1"}, request_headers=[("connect-protocol-version", "1")],
                 response={"user": {}}),
        make_obs("POST", "https://www.google.test/_/BardChatUi/data/batchexecute?rpcids=MaZiqc,"
                 "otAQ7b&source-path=%2Fapp&bl=boq&hl=en&_reqid=1&rt=c",
                 request="f.req=%5B%5B%5B%22MaZiqc%22%5D%5D%5D&at=AJ",
                 request_type="application/x-www-form-urlencoded;charset=UTF-8",
                 response=")]}'\n\n123\n[]", response_type="application/json"),
        make_obs("GET", "https://app.test/api/trpc/post.byId,user.me?batch=1&input=%7B%7D",
                 response=[{"result": {"data": {"json": {}}}}]),
        make_obs("POST", "https://app.test/api/trpc/post.create",
                 request={"json": {"title": "x"}},
                 response={"result": {"data": {"json": {"id": 1}}}}))
    assert found["gRPC-web"]["operations"] == ["acme.chat.v1.ChatService/SendMessage"]
    assert found["connect-rpc"]["operations"] == ["acme.user.v1.UserService/GetUser"]
    assert found["batchexecute"]["operations"] == ["MaZiqc", "otAQ7b"]
    assert set(found["tRPC"]["operations"]) == {"post.byId", "user.me", "post.create"}
    # none of these is REST or a form post
    assert {"REST", "form-post"}.isdisjoint(found)


def test_rest_needs_a_resource_shape() -> None:
    base = "https://app.test/api/v1/workspaces/42"
    found = styles(
        make_obs("GET", f"{base}/documents", response=[{"id": 1}]),
        make_obs("POST", f"{base}/documents", status=201, request={"title": "x"},
                 response={"id": 2}),
        make_obs("DELETE", f"{base}/documents/2", status=204),
        make_obs("GET", f"{base}/documents/1", response={"id": 1}))
    rest = found["REST"]
    assert rest["exchanges"] == 4
    assert rest["confidence"] >= 0.9
    assert any("several methods" in e and "/documents[/…] (DELETE, GET, POST)" in e
               for e in rest["evidence"])
    # two JSON files and an RPC-named operation are not REST
    assert "REST" not in styles(
        make_obs("GET", "https://site.test/data/config", response={"a": 1}),
        make_obs("GET", "https://site.test/data/menu", response={"b": 1}),
        make_obs("POST", "https://svc.test/Service.svc/json/GetNavigationMenu2",
                 request={"x": 1}, response={"d": {}}))


def test_rest_beside_graphql_needs_several_methods_on_one_resource() -> None:
    graphql = make_obs("POST", "https://app.test/graphql",
                       request={"query": "query Me { me { id } }"}, response={"data": {}})
    sdk = [make_obs("GET", f"https://flags.test/sdk/evalx/{env}/contexts/eyJrZXkiOiJhYmMxMjM0NTY3",
                    response={"flag": True}) for env in ("6123456789abcdef01234567",
                                                         "7123456789abcdef01234567")]
    found = styles(graphql, *sdk)
    assert list(found) == ["GraphQL"]


def test_form_posts_only_when_they_are_the_app_s_style() -> None:
    login = make_obs("POST", "https://site.test/login", request="user=a&password=b",
                     request_type="application/x-www-form-urlencoded")
    assert list(styles(login)) == ["form-post"]
    rpc = [make_obs("POST", "https://app.test/rpc",
                    request={"jsonrpc": "2.0", "id": i, "method": "ping"}) for i in range(2)]
    assert list(styles(login, *rpc)) == ["JSON-RPC"]


def test_exclude_hook_leaves_vendor_exchanges_out() -> None:
    obs = [make_obs("POST", "https://app.test/graphql", request={"query": "{ me { id } }"}),
           make_obs("POST", "https://vendor.test/graphql", request={"query": "{ x }"})]
    analyzer = ApiStyleAnalyzer(exclude=lambda ex: "vendor" in ex.url)
    g = run(analyzer, obs).result()["api_styles"][0]
    assert g["exchanges"] == 1 and g["hosts"] == ["app.test"]


# --------------------------------------------------------------------------- real captures


def test_alpha_api_style_is_rest(shared: Path) -> None:
    for har in alpha_hars(shared):
        truth = json.loads((har.parent / "truth.json").read_text())["facts"]
        _, obs = observations(har)
        found = {s["style"]: s for s in run(ApiStyleAnalyzer(), obs).result()["api_styles"]}
        assert list(found) == [truth["api_style"]] == ["REST"], har
        rest = found["REST"]
        assert rest["exchanges"] >= 12
        assert "GET /api/organizations/{uuid}/chat_conversations/{uuid}" in rest["templates"]
        assert any("ids in path segments" in e for e in rest["evidence"])


#: What the corpus may claim: real protocols in those captures, checked by hand.
CORPUS_EXPECTED = {
    "haralyzer__cnn-chrome.har": ["GraphQL"],  # weather.api.cnn.io/graphql?query={wsiForecast…}
    "mitmproxy__compressed.zhar": ["form-post"],  # httpbin.org/post, urlencoded form
    "mitmproxy__error_log.har": ["form-post"],
    "mitmproxy__successful_log.har": ["form-post"],
}


def test_corpus_claims_only_what_is_there(shared: Path) -> None:
    for har in corpus_hars(shared):
        _, obs = observations(har)
        result = run(ApiStyleAnalyzer(), obs).result()["api_styles"]
        assert [s["style"] for s in result] == CORPUS_EXPECTED.get(har.name, []), har.name
        for style in result:
            assert style["evidence"] and style["exchanges"] >= 1
    cnn = shared / "corpus" / "har" / "haralyzer__cnn-chrome.har"
    graphql = run(ApiStyleAnalyzer(), observations(cnn)[1]).result()["api_styles"][0]
    assert graphql["hosts"] == ["weather.api.cnn.io"]
    assert graphql["evidence"][0].startswith("GET ?query=<GraphQL document> on 1/")


def test_hostile_bodies_are_not_errors() -> None:
    deep = "[" * 50_000 + "]" * 50_000
    found = styles(make_obs("POST", "https://a.test/graphql", request=deep,
                            request_type="application/json", response=deep,
                            response_type="application/json"),
                   make_obs("GET", "https://a.test/graphql?extensions=" + "%5B" * 5000))
    assert found == {}


def test_collection_and_item_are_one_resource_beside_graphql() -> None:
    """POST /threads creates and DELETE /threads/{id} removes: REST, even beside GraphQL."""
    graphql = make_obs("POST", "https://app.test/graphql",
                       request={"query": "query Me { me { id } }"}, response={"data": {}})
    base = "https://app.test/v1/threads"
    found = styles(
        graphql,
        make_obs("POST", base, status=201, request={"title": "x"},
                 response={"id": "thread_Ab3dEf6hIj9kLm2nOp5qRs8t"}),
        make_obs("GET", f"{base}/thread_Ab3dEf6hIj9kLm2nOp5qRs8t/messages",
                 response={"object": "list", "data": []}),
        make_obs("DELETE", f"{base}/thread_Ab3dEf6hIj9kLm2nOp5qRs8t", status=204))
    assert {"GraphQL", "REST"} <= set(found)
