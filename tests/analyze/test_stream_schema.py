"""Stream schema and delta format (issue 4 item 6), on real alpha SSE bodies and on streams
written from each protocol's public documentation, parsed by the real SSE/line parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.analyze.stream_schema import (
    DELTA_FORMATS,
    StreamSchemaAnalyzer,
    classify_stream,
    request_options,
)
from archcmp.decode.lines import StreamKind, parse_stream
from archcmp.diagnostics import Diagnostics
from archcmp.model import StreamEvent
from tests.analyze.test_api import alpha_hars, corpus_hars, observations


def _sse(text: str) -> list[StreamEvent]:
    return parse_stream("sse", text.encode(), Diagnostics())


def _lines(kind: StreamKind, text: str) -> list[StreamEvent]:
    return parse_stream(kind, text.encode(), Diagnostics())


def _data(*payloads: object, done: bool = False) -> str:
    body = "".join(f"data: {json.dumps(p)}\n\n" for p in payloads)
    return body + ("data: [DONE]\n\n" if done else "")


# --------------------------------------------------------------------------- real captures


def test_alpha_streams_are_anthropic_messages_token_deltas(shared: Path) -> None:
    for har in alpha_hars(shared):
        truth = json.loads((har.parent / "truth.json").read_text())["facts"]["streaming"]
        _, obs = observations(har)
        analyzer = StreamSchemaAnalyzer()
        for o in obs:
            analyzer.observe(o)
        streams = analyzer.result()["streams"]
        assert len(streams) == 3, har
        for s in streams:
            assert s["schema"] == truth["event_schema"] == "anthropic-messages"
            assert s["delta_format"] == "token-delta"
            assert s["confidence"] >= 0.9
            assert any("delta.type=text_delta" in e for e in s["evidence"])
            # trace id location, as truth.json names it
            assert s["trace_id_in"] == [truth["trace_id_in"]]
            assert s["models"] and s["thinking_event_types"] == []
        # event types seen across the streams are the truth's, in order
        o = next(o for o in obs if o.events)
        types = list(dict.fromkeys(e.type for e in o.events))
        assert types == truth["event_types"]


def test_corpus_streams_make_no_claims(shared: Path) -> None:
    """The corpus has SSE (LaunchDarkly, empty bodies) and WebSocket messages, none of them an
    AI or GraphQL protocol: no schema may be named."""
    seen = 0
    for har in corpus_hars(shared):
        _, obs = observations(har)
        analyzer = StreamSchemaAnalyzer()
        for o in obs:
            analyzer.observe(o)
        for s in analyzer.result()["streams"]:
            seen += 1
            assert s["schema"] == "unknown", (har.name, s)
            assert s["delta_format"] in ("unknown", "text"), (har.name, s)
    assert seen >= 1  # mitmproxy__websocket.har


# --------------------------------------------------------------------------- documented protocols


def test_anthropic_thinking_and_request_options() -> None:
    body = (
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":'
        '"message","role":"assistant","model":"claude-3-7-sonnet-20250219","content":[]}}\n\n'
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"thinking","thinking":""}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        '{"type":"thinking_delta","thinking":"Let me"}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        '{"type":"signature_delta","signature":"EqQB"}}\n\n'
        'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":'
        '{"type":"text_delta","text":"Hi"}}\n\n'
        'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    request = {"model": "claude-3-7-sonnet-20250219", "stream": True, "max_tokens": 2048,
               "thinking": {"type": "enabled", "budget_tokens": 1024},
               "messages": [{"role": "user", "content": "secret prompt text"}]}
    s = classify_stream(_sse(body), "sse", request)
    assert (s.schema, s.delta_format) == ("anthropic-messages", "token-delta")
    assert "thinking_delta" in s.thinking_event_types
    assert "thinking" in s.thinking_event_types
    assert s.request_options == {"model": "claude-3-7-sonnet-20250219", "stream": True,
                                 "thinking.type": "enabled", "thinking.budget_tokens": 1024}
    assert "secret prompt text" not in json.dumps(s.as_dict())


def test_anthropic_legacy_text_completions() -> None:
    body = "".join(f"event: completion\ndata: {json.dumps(p)}\n\n" for p in (
        {"type": "completion", "completion": " Hello", "stop_reason": None,
         "model": "claude-2.0"},
        {"type": "completion", "completion": "!", "stop_reason": "stop_sequence",
         "model": "claude-2.0"}))
    s = classify_stream(_sse(body), "sse")
    assert (s.schema, s.delta_format) == ("anthropic-text-completions", "token-delta")
    assert s.models == ("claude-2.0",)


def test_openai_chat_completion_chunks() -> None:
    chunk = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
             "model": "gpt-4o-mini", "choices": []}
    body = _data(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                               "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "Hello"},
                               "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"reasoning_content": "hm"},
                               "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        done=True)
    s = classify_stream(_sse(body), "sse", {"model": "o3-mini", "reasoning_effort": "high",
                                            "messages": []})
    assert (s.schema, s.delta_format) == ("openai-chat-completions", "openai-chunk")
    assert "data: [DONE] terminator" in s.evidence
    assert s.thinking_event_types == ("delta.reasoning_content",)
    assert s.request_options == {"model": "o3-mini", "reasoning_effort": "high"}
    assert s.models == ("gpt-4o-mini",)


def test_openai_responses_events() -> None:
    body = (
        'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1",'
        '"model":"o4-mini","status":"in_progress"}}\n\n'
        'event: response.reasoning_summary_text.delta\ndata: {"type":'
        '"response.reasoning_summary_text.delta","delta":"Thinking"}\n\n'
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        '"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}\n\n'
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        '"item_id":"msg_1","output_index":0,"content_index":0,"delta":" there"}\n\n'
        'event: response.completed\ndata: {"type":"response.completed","response":{"id":'
        '"resp_1","status":"completed"}}\n\n')
    s = classify_stream(_sse(body), "sse", {"model": "o4-mini",
                                            "reasoning": {"effort": "low", "summary": "auto"}})
    assert (s.schema, s.delta_format) == ("openai-responses", "token-delta")
    assert "response.reasoning_summary_text.delta" in s.thinking_event_types
    assert s.request_options == {"model": "o4-mini", "reasoning.effort": "low",
                                 "reasoning.summary": "auto"}


CHATGPT_V1 = (
    'event: delta_encoding\ndata: "v1"\n\n'
    'event: delta\ndata: {"p": "", "o": "add", "v": {"message": {"id": "a1b2", "author": '
    '{"role": "assistant"}, "content": {"content_type": "text", "parts": [""]}, "status": '
    '"in_progress"}, "conversation_id": "c0ffee", "error": null}, "c": 0}\n\n'
    'event: delta\ndata: {"p": "/message/content/parts/0", "o": "append", "v": "Learning"}\n\n'
    'event: delta\ndata: {"v": " System"}\n\n'
    'event: delta\ndata: {"v": " Design"}\n\n'
    'event: delta\ndata: {"p": "", "o": "patch", "v": [{"p": "/message/content/parts/0", '
    '"o": "append", "v": "."}, {"p": "/message/status", "o": "replace", "v": '
    '"finished_successfully"}]}\n\n'
    'data: {"type": "message_stream_complete", "conversation_id": "c0ffee"}\n\n'
    'data: [DONE]\n\n')


def test_chatgpt_json_patch_v1() -> None:
    s = classify_stream(_sse(CHATGPT_V1), "sse",
                        {"action": "next", "model": "gpt-4o", "messages": []})
    assert (s.schema, s.delta_format) == ("chatgpt-conversation", "json-patch")
    assert s.confidence >= 0.9
    evidence = " | ".join(s.evidence)
    assert 'delta_encoding "v1" marker' in evidence
    assert '2 short {"v": …} continuations' in evidence
    assert '1 batched {"o": "patch", "v": [ops]} events' in evidence
    assert s.request_options == {"model": "gpt-4o"}


def test_chatgpt_legacy_full_snapshots() -> None:
    def snap(text: str) -> dict[str, object]:
        return {"message": {"id": "m1", "author": {"role": "assistant"},
                            "content": {"content_type": "text", "parts": [text]}},
                "conversation_id": "c1", "error": None}
    body = _data(snap("He"), snap("Hello"), snap("Hello wor"), snap("Hello world"), done=True)
    s = classify_stream(_sse(body), "sse")
    assert (s.schema, s.delta_format) == ("chatgpt-conversation", "full-snapshot")


def test_ai_sdk_data_stream_lines() -> None:
    body = ('f:{"messageId":"msg-1"}\n'
            'g:"thinking about it"\n'
            '0:"Hello"\n0:", world"\n'
            '9:{"toolCallId":"call-1","toolName":"weather","args":{"city":"Paris"}}\n'
            'e:{"finishReason":"stop","usage":{"promptTokens":1,"completionTokens":2}}\n'
            'd:{"finishReason":"stop","usage":{"promptTokens":1,"completionTokens":2}}\n')
    events = _lines("chunked-text", body)
    s = classify_stream(events, "chunked-text", None,
                        response_headers=(("X-Vercel-AI-Data-Stream", "v1"),))
    assert (s.schema, s.delta_format) == ("ai-sdk-data-stream", "ai-sdk-data-stream")
    assert s.confidence >= 0.9
    assert s.thinking_event_types == ("g: reasoning",)
    # the same lines without the header are still recognised from the line grammar
    assert classify_stream(events, "chunked-text").schema == "ai-sdk-data-stream"


def test_ai_sdk_ui_message_stream() -> None:
    body = _data({"type": "start", "messageId": "msg_1"},
                 {"type": "start-step"},
                 {"type": "reasoning-start", "id": "r1"},
                 {"type": "reasoning-delta", "id": "r1", "delta": "hmm"},
                 {"type": "reasoning-end", "id": "r1"},
                 {"type": "text-start", "id": "t1"},
                 {"type": "text-delta", "id": "t1", "delta": "Hello"},
                 {"type": "text-delta", "id": "t1", "delta": " you"},
                 {"type": "text-end", "id": "t1"},
                 {"type": "finish-step"}, {"type": "finish"}, done=True)
    s = classify_stream(_sse(body), "sse", None,
                        response_headers=(("x-vercel-ai-ui-message-stream", "v1"),))
    assert (s.schema, s.delta_format) == ("ai-sdk-ui-message-stream", "ai-sdk-ui-stream")
    assert "reasoning-delta" in s.thinking_event_types


def test_gemini_and_ollama() -> None:
    part = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}],
            "modelVersion": "gemini-2.0-flash"}
    s = classify_stream(_sse(_data(part, part, part)), "sse")
    assert (s.schema, s.delta_format) == ("gemini-generate-content", "token-delta")
    lines = "".join(json.dumps({"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z",
                                "message": {"role": "assistant", "content": t}, "done": d}) + "\n"
                    for t, d in (("Hel", False), ("lo", False), ("", True)))
    s = classify_stream(_lines("ndjson", lines), "ndjson")
    assert (s.schema, s.delta_format) == ("ollama", "token-delta")


def test_graphql_sse_and_json_rpc() -> None:
    body = ('event: next\ndata: {"data":{"greetings":"Hi"}}\n\n'
            'event: next\ndata: {"data":{"greetings":"Bonjour"}}\n\n'
            'event: complete\ndata:\n\n')
    assert classify_stream(_sse(body), "sse").schema == "graphql-sse"
    rpc = _data({"jsonrpc": "2.0", "id": 1, "result": {"tools": []}})
    assert classify_stream(_sse(rpc), "sse").schema == "json-rpc"


def test_generic_formats_without_a_schema() -> None:
    grow = _data({"text": "a"}, {"text": "ab"}, {"text": "abc"}, {"text": "abcd"})
    s = classify_stream(_sse(grow), "sse")
    assert (s.schema, s.delta_format) == ("unknown", "full-snapshot")
    ops = _data([{"op": "replace", "path": "/count", "value": 1}],
                [{"op": "add", "path": "/items/-", "value": 2}])
    assert classify_stream(_sse(ops), "sse").delta_format == "json-patch"
    text = parse_stream("chunked-text", b"0:\"x\"\n", Diagnostics())
    assert classify_stream(text, "chunked-text").schema == "ai-sdk-data-stream"


@pytest.mark.parametrize("body", [
    # LaunchDarkly streaming: put/patch with a path, not RFC 6902 operations
    'event: put\ndata: {"flag-a": {"value": true, "version": 3}}\n\n'
    'event: patch\ndata: {"path": "/flags/flag-a", "data": {"value": false}}\n\n',
    # Notification feed: JSON events, none growing, no deltas
    _data({"id": 1, "kind": "mention"}, {"id": 2, "kind": "reply"}),
    # keep-alive only
    ": ping\n\nevent: ping\ndata: {}\n\n",
])
def test_ordinary_streams_are_not_named(body: str) -> None:
    s = classify_stream(_sse(body), "sse")
    assert s.schema == "unknown"
    assert s.delta_format == "unknown"
    assert s.delta_format in DELTA_FORMATS


def test_request_options_never_print_prompts() -> None:
    opts = request_options({"model": "m", "prompt": "tell me a secret", "paprika_mode": "extended",
                            "rendering_mode": "messages", "tools": [{"name": "x"}],
                            "reasoning": {"effort": "a long free-text value that is not an id"}})
    assert opts == {"model": "m", "tools": 1, "paprika_mode": "extended",
                    "reasoning.effort": "…"}
    assert request_options(["not", "an", "object"]) == {}


def test_request_options_never_print_secret_fields() -> None:
    """Issue 8 canary: everything under ``reasoning``/``thinking`` was printed when short, so a
    key or token nested there reached the document; the name stays, the value is ``…``."""
    options = request_options({
        "model": "m-1", "max_tokens": 9,
        "reasoning": {"effort": "high", "api_key": "CANARY-k-0123456789",
                      "session_token": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"},
        "thinking": {"budget_tokens": 1024, "auth": {"token": "CANARY-t-0123456789"}},
    })
    assert options == {"model": "m-1", "reasoning.effort": "high", "reasoning.api_key": "…",
                       "reasoning.session_token": "…", "thinking.budget_tokens": 1024,
                       "thinking.auth": "…"}


def test_empty_and_sent_only_streams() -> None:
    assert classify_stream([], "sse").schema == "unknown"
    sent = [StreamEvent(index=0, type="text", data='{"type":"message_start"}', direction="send")]
    assert classify_stream(sent, "websocket").delta_format == "unknown"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "o", "p", "v", "delta", "choices", "message", "model", "data",
                         "text", "op", "path", "jsonrpc", "candidates", "done"]), inner,
        max_size=4),
    max_leaves=12)


@given(st.lists(st.tuples(st.sampled_from(["message", "delta", "0", "g", "line", "next",
                                           "content_block_delta", "delta_encoding"]),
                          st.one_of(_JSONISH.map(json.dumps), st.text(max_size=30))),
                max_size=12))
def test_any_events_classify_without_error(pairs: list[tuple[str, str]]) -> None:
    events = [StreamEvent(index=i, type=t, data=d) for i, (t, d) in enumerate(pairs)]
    s = classify_stream(events, "sse", {"model": "m"})
    assert s.delta_format in DELTA_FORMATS
    json.dumps(s.as_dict())


def test_hostile_payloads() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    events = [StreamEvent(index=i, type="message", data=deep) for i in range(3)]
    assert classify_stream(events, "sse").schema == "unknown"
