"""Name the event schema and the delta format of a streamed response (issue 4, item 6).

A stream's *schema* says which published protocol its events follow; its *delta format* says how
each event changes the message being built (``streams[].delta_format`` in
``analysis-schema.md``). Both are read from the event payloads, never from URLs or host names, so
the same rules hold for any app that speaks one of these protocols:

========================  ==================  ===============================================
schema                    delta format        what identifies it (source)
========================  ==================  ===============================================
anthropic-messages        token-delta         ``message_start``/``content_block_delta`` with
                                              ``delta.type`` ``text_delta``/``thinking_delta``/
                                              ``input_json_delta`` (Anthropic Messages API,
                                              "Streaming Messages")
anthropic-text-           token-delta         ``{"type": "completion", "completion": "…"}``
completions                                   (the legacy Text Completions stream)
openai-chat-completions   openai-chunk        ``object: chat.completion.chunk``,
                                              ``choices[].delta``, ``data: [DONE]`` (OpenAI
                                              API reference, "The chat completion chunk object")
openai-completions        token-delta         ``object: text_completion``, ``choices[].text``
openai-responses          token-delta         ``type: response.output_text.delta`` and other
                                              ``response.*`` events (OpenAI Responses API,
                                              "Streaming events")
chatgpt-conversation      json-patch          ChatGPT web ``delta_encoding: "v1"``: ``{"p",
                                              "o", "v"}`` ops, the short ``{"v": …}``
                                              continuation of the previous op, batched
                                              ``{"o": "patch", "v": [ops]}``
chatgpt-conversation      full-snapshot       the older ChatGPT web stream: every event repeats
                                              ``message.content.parts`` grown so far
ai-sdk-data-stream        ai-sdk-data-stream  ``0:"text"``, ``g:``, ``9:``, ``d:{finishReason}``
                                              lines (AI SDK 4 "Data Stream Protocol",
                                              header ``x-vercel-ai-data-stream: v1``)
ai-sdk-ui-message-stream  ai-sdk-ui-stream    SSE JSON ``type: start``/``text-delta``/
                                              ``finish`` (AI SDK 5 "UI Message Stream",
                                              header ``x-vercel-ai-ui-message-stream: v1``)
gemini-generate-content   token-delta         ``candidates[].content.parts[]`` chunks (Gemini
                                              ``streamGenerateContent?alt=sse``)
ollama                    token-delta         NDJSON ``{"model", "done", "response" |
                                              "message"}`` (Ollama API docs)
graphql-sse               unknown             ``event: next`` with ``{"data"|"errors"}`` and
                                              ``event: complete`` (graphql-sse PROTOCOL.md)
graphql-ws                unknown             ``connection_init``/``subscribe``/``next``
                                              messages (graphql-ws PROTOCOL.md)
json-rpc                  unknown             ``{"jsonrpc": "2.0"}`` payloads (JSON-RPC 2.0; MCP
                                              "Streamable HTTP")
========================  ==================  ===============================================

When no schema fits, the delta format is still described from the payloads when the evidence is
unambiguous: RFC 6902 operations (``json-patch``), a string that grows by prefix from event to
event (``full-snapshot``), plain text lines (``text``); otherwise both stay ``unknown``. A wrong
name is worse than none, so every schema needs a structural match on several events, not one key.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from archcmp.analyze.kinds import media_type
from archcmp.model import Header, Observation, StreamEvent, header_value
from archcmp.redact import is_secret_json_key

__all__ = [
    "DELTA_FORMATS",
    "StreamSchema",
    "StreamSchemaAnalyzer",
    "classify_stream",
    "request_options",
]

#: ``streams[].delta_format`` vocabulary (analysis-schema.md).
DELTA_FORMATS = (
    "json-patch",
    "token-delta",
    "openai-chunk",
    "ai-sdk-data-stream",
    "ai-sdk-ui-stream",
    "full-snapshot",
    "text",
    "unknown",
)

#: Events whose payload is parsed for classification; counts come from ``summarise_events``
#: over all events. Protocols show their shape in the first few hundred events.
MAX_PARSED_EVENTS = 2000
#: Payloads longer than this are not parsed (a snapshot of a long answer is still far smaller).
MAX_PAYLOAD_CHARS = 1 << 20
#: Request bodies parsed for stream options; chat requests carry the history, so allow some room.
MAX_REQUEST_BYTES = 4 << 20

# Anthropic Messages streaming: event types and content-block delta types
# (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
_ANTHROPIC_EVENTS = frozenset({
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop", "ping", "error",
})
_ANTHROPIC_DELTAS = frozenset({
    "text_delta", "thinking_delta", "input_json_delta", "signature_delta", "citations_delta",
})
# AI SDK 5 UI message stream part types (ai-sdk.dev/docs/ai-sdk-ui/stream-protocol).
_UI_STREAM_TYPES = frozenset({
    "start", "finish", "abort", "error", "message-metadata", "start-step", "finish-step",
    "text-start", "text-delta", "text-end", "reasoning-start", "reasoning-delta",
    "reasoning-end", "tool-input-start", "tool-input-delta", "tool-input-available",
    "tool-input-error", "tool-output-available", "tool-output-error", "source-url",
    "source-document", "file",
})
# AI SDK 4 data stream: ``<id>:<JSON>\n`` where the id is one character (0-9, a-k).
_DATA_STREAM_LINE = re.compile(r"^([0-9a-k]):(.*)$", re.DOTALL)
_DATA_STREAM_NAMES = {
    "0": "text", "2": "data", "3": "error", "8": "message annotations", "9": "tool call",
    "a": "tool result", "b": "tool call start", "c": "tool call delta", "d": "finish message",
    "e": "finish step", "f": "start step", "g": "reasoning", "h": "source", "i":
    "redacted reasoning", "j": "reasoning signature", "k": "file",
}
# graphql-sse (github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md) and graphql-ws
# (github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md, plus the legacy
# subscriptions-transport-ws message types).
_GRAPHQL_WS_TYPES = frozenset({
    "connection_init", "connection_ack", "ping", "pong", "subscribe", "next", "error",
    "complete", "start", "data", "stop", "ka", "connection_keep_alive", "connection_error",
    "connection_terminate",
})
# ChatGPT web JSON-patch ops (short keys o/p/v); RFC 6902 §4 ops (long keys op/path/value).
_CHATGPT_OPS = frozenset({"append", "replace", "patch", "add", "remove", "truncate"})
_RFC6902_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})

_THINKING = re.compile(r"think|reason|thought", re.IGNORECASE)
_TRACE_KEYS = frozenset({"trace_id", "traceid", "trace-id", "traceparent", "x-trace-id"})
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+\-]{1,64}$")
_OPTION_KEY = re.compile(r"think|reason|effort", re.IGNORECASE)
_MODE_KEY = re.compile(r"(^|_)mode$", re.IGNORECASE)
_MODE_VALUE = re.compile(r"think|reason|extend|deep|research", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSchema:
    """What a stream's events are, and why we think so."""

    schema: str
    """Protocol name (table in the module docstring) or ``unknown``."""
    delta_format: str
    """One of :data:`DELTA_FORMATS`."""
    confidence: float
    evidence: tuple[str, ...]
    """Counted facts: ``content_block_delta with delta.type=text_delta on 31/40 events``."""
    thinking_event_types: tuple[str, ...] = ()
    """Event, payload or delta types that carry reasoning (``thinking_delta``)."""
    request_options: Mapping[str, Any] = field(default_factory=dict)
    """Request-body options that change the stream: ``model``, reasoning switches."""
    trace_id_in: tuple[str, ...] = ()
    """Where a trace id rides in the payloads (``message_start.message.trace_id``): names only."""
    models: tuple[str, ...] = ()
    """Model names the stream itself reports (``message.model``, chunk ``model``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "delta_format": self.delta_format,
            "confidence": self.confidence,
            "evidence": list(self.evidence),
            "thinking_event_types": list(self.thinking_event_types),
            "request_options": dict(self.request_options),
            "trace_id_in": list(self.trace_id_in),
            "models": list(self.models),
        }


@dataclass(slots=True)
class _Parsed:
    """The parsed view of a stream's received events that the detectors share."""

    events: list[StreamEvent]
    payloads: list[Any]
    """JSON value per event (``None`` when the data is not JSON)."""
    ptypes: list[str | None]
    """``payload["type"]`` when it is a string, else None."""

    @property
    def n(self) -> int:
        return len(self.events)

    def json_dicts(self) -> Iterable[tuple[StreamEvent, dict[str, Any]]]:
        for event, payload in zip(self.events, self.payloads, strict=True):
            if isinstance(payload, dict):
                yield event, payload


def _loads(text: str) -> Any:
    if not text or len(text) > MAX_PAYLOAD_CHARS or text[0] not in '{["':
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _parse(events: Sequence[StreamEvent]) -> _Parsed:
    received = [e for e in events if e.direction == "receive"][:MAX_PARSED_EVENTS]
    payloads = [_loads(e.data.strip()) for e in received]
    ptypes = [p.get("type") if isinstance(p, dict) and isinstance(p.get("type"), str) else None
              for p in payloads]
    return _Parsed(events=received, payloads=payloads, ptypes=ptypes)


def _get(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]…`` or None where a step does not exist."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                return None
            obj = obj[key]
        elif isinstance(obj, dict):
            obj = obj.get(key)
        else:
            return None
    return obj


# --------------------------------------------------------------------------- detectors
# Each returns (schema, delta_format, confidence, evidence) or None.

_Match = tuple[str, str, float, list[str]]


def _anthropic(p: _Parsed) -> _Match | None:
    types = Counter(t or e.type for e, t in zip(p.events, p.ptypes, strict=True))
    deltas: Counter[str] = Counter()
    untyped = 0  # text fragments without delta.type: Anthropic-compatible servers and proxies
    for _, d in p.json_dicts():
        if d.get("type") == "content_block_delta":
            dtype = _get(d, "delta", "type")
            if isinstance(dtype, str):
                deltas[dtype] += 1
            elif isinstance(_get(d, "delta", "text"), str):
                untyped += 1
    known = sum(n for t, n in types.items() if t in _ANTHROPIC_EVENTS)
    has_start = any(d.get("type") == "message_start" and isinstance(d.get("message"), dict)
                    for _, d in p.json_dicts())
    typed_deltas = sum(n for t, n in deltas.items() if t in _ANTHROPIC_DELTAS)
    if not has_start or known < 0.6 * p.n:
        return None
    if not typed_deltas:
        # The Messages event vocabulary with bare {"text": …} deltas: the same schema from an
        # Anthropic-compatible server; claimed only when nearly every event is in the vocabulary.
        if untyped < 2 or known < 0.8 * p.n:
            return None
        return "anthropic-messages", "token-delta", 0.8, [
            f"content_block_delta with delta.text (no delta.type) on {untyped}/{p.n} events",
            f"message_start with a message object; {known}/{p.n} events are Anthropic Messages "
            "event types"]
    evidence = [f"content_block_delta with delta.type={t} on {n}/{p.n} events"
                for t, n in deltas.most_common() if t in _ANTHROPIC_DELTAS]
    evidence.append(f"message_start with a message object; {known}/{p.n} events are "
                    "Anthropic Messages event types")
    if "message_stop" in types:
        evidence.append("ends with message_stop" if p.ptypes[-1:] == ["message_stop"]
                        else "message_stop present")
    return "anthropic-messages", "token-delta", 0.97, evidence


def _anthropic_text(p: _Parsed) -> _Match | None:
    """The legacy Text Completions stream: ``event: completion`` with ``{"type": "completion",
    "completion": "<text>"}`` (Anthropic API reference, "Streaming Text Completions")."""
    n = sum(1 for _, d in p.json_dicts()
            if d.get("type") == "completion" and isinstance(d.get("completion"), str))
    if n < 2 or n < 0.6 * p.n:
        return None
    return ("anthropic-text-completions", "token-delta", 0.9,
            [f'{{"type": "completion", "completion": <text>}} on {n}/{p.n} events'])


def _openai_chat(p: _Parsed) -> _Match | None:
    chunks = 0
    choice_deltas = 0
    for _, d in p.json_dicts():
        if d.get("object") == "chat.completion.chunk":
            chunks += 1
        choices = d.get("choices")
        if isinstance(choices, list) and any(isinstance(c, dict) and isinstance(
                c.get("delta"), dict) for c in choices):
            choice_deltas += 1
    done = sum(1 for e in p.events if e.data.strip() == "[DONE]")
    if choice_deltas < 2 or (chunks == 0 and not done):
        return None
    evidence = [f"choices[].delta on {choice_deltas}/{p.n} events"]
    if chunks:
        evidence.append(f"object=chat.completion.chunk on {chunks}/{p.n} events")
    if done:
        evidence.append("data: [DONE] terminator")
    return "openai-chat-completions", "openai-chunk", 0.97 if chunks else 0.85, evidence


def _openai_completions(p: _Parsed) -> _Match | None:
    n = sum(1 for _, d in p.json_dicts() if d.get("object") == "text_completion"
            and isinstance(_get(d, "choices", 0, "text"), str))
    if n < 2:
        return None
    return ("openai-completions", "token-delta", 0.9,
            [f"object=text_completion with choices[].text on {n}/{p.n} events"])


def _openai_responses(p: _Parsed) -> _Match | None:
    resp = Counter(t for t in p.ptypes if t and t.startswith("response."))
    text = resp.get("response.output_text.delta", 0)
    lifecycle = sum(resp.get(t, 0) for t in ("response.created", "response.completed",
                                            "response.in_progress", "response.failed"))
    if not resp or sum(resp.values()) < 0.6 * p.n or not (text or lifecycle):
        return None
    evidence = [f"{sum(resp.values())}/{p.n} events of type response.*"]
    if text:
        evidence.append(f"response.output_text.delta on {text} events")
    for t in ("response.created", "response.completed"):
        if t in resp:
            evidence.append(f"{t} present")
    return "openai-responses", "token-delta", 0.95 if text else 0.8, evidence


def _is_short_op(d: Mapping[str, Any]) -> bool:
    return (isinstance(d.get("o"), str) and d["o"] in _CHATGPT_OPS
            and isinstance(d.get("p", ""), str) and "v" in d)


def _chatgpt(p: _Parsed) -> _Match | None:
    """ChatGPT web ``/backend-api/(f/)conversation``. Unpublished; as captured in public write-ups
    of the browser's EventStream view: ``event: delta_encoding`` / ``data: "v1"`` first, then
    ``event: delta`` events holding one op ``{"p": <JSON pointer>, "o": <op>, "v": <value>}``, a
    bare ``{"v": …}`` that repeats the previous op and path, or ``{"o": "patch", "v": [ops]}``;
    ``data: [DONE]`` last. The op names are checked, and a marker or ``/message/…`` paths must
    back them, so any compact-patch stream is not taken for ChatGPT."""
    marker = any(e.type == "delta_encoding" or (e.type == "message" and e.data.strip() == '"v1"')
                 for e in p.events)
    full_ops = batched = short = message_paths = 0
    for _, d in p.json_dicts():
        if _is_short_op(d):
            full_ops += 1
            if d["o"] == "patch" and isinstance(d["v"], list):
                batched += 1
                ops = [op for op in d["v"] if isinstance(op, dict) and _is_short_op(op)]
                message_paths += sum(1 for op in ops if str(op.get("p", "")).startswith(
                    "/message/"))
            elif str(d.get("p", "")).startswith("/message/"):
                message_paths += 1
        elif set(d) <= {"v", "c"} and "v" in d:
            short += 1
    if full_ops and (marker or message_paths):
        evidence = []
        if marker:
            evidence.append('delta_encoding "v1" marker event')
        evidence.append(f"{full_ops} JSON-patch ops with o/p/v keys"
                        f" ({message_paths} on /message/… paths)")
        if short:
            evidence.append(f'{short} short {{"v": …}} continuations of the previous op')
        if batched:
            evidence.append(f'{batched} batched {{"o": "patch", "v": [ops]}} events')
        return ("chatgpt-conversation", "json-patch", 0.95 if marker and message_paths else 0.85,
                evidence)
    # Older ChatGPT web stream: each event carries the whole message grown so far.
    snapshots = [d for _, d in p.json_dicts()
                 if isinstance(_get(d, "message", "content", "parts"), list)
                 and isinstance(_get(d, "message", "author", "role"), str)]
    if len(snapshots) >= 3:
        texts = [_get(s, "message", "content", "parts", 0) for s in snapshots]
        grows = _prefix_growth([t for t in texts if isinstance(t, str)])
        if grows:
            return ("chatgpt-conversation", "full-snapshot", 0.85, [
                f"message.content.parts with author.role on {len(snapshots)}/{p.n} events",
                f"message.content.parts[0] grows by prefix over {grows} events",
            ])
    return None


def _data_stream_parts(p: _Parsed) -> Counter[str]:
    """Part ids of AI SDK 4 data-stream lines (typed by the parser or still raw)."""
    parts: Counter[str] = Counter()
    for e in p.events:
        if e.type in _DATA_STREAM_NAMES:
            part, body = e.type, e.data
        else:
            m = _DATA_STREAM_LINE.match(e.data.strip())
            if m is None:
                continue
            part, body = m.group(1), m.group(2)
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            continue
        parts[part] += 1
    return parts


def _ai_sdk_data(p: _Parsed, headers: Sequence[Header]) -> _Match | None:
    parts = _data_stream_parts(p)
    header = header_value(tuple(headers), "x-vercel-ai-data-stream")
    valid = sum(parts.values())
    if not valid or valid < 0.8 * p.n or not ({"0", "d", "9", "g"} & set(parts) or header):
        return None
    evidence = [f"{valid}/{p.n} lines are <id>:<JSON> data-stream parts ("
                + ", ".join(f"{k}: {_DATA_STREAM_NAMES.get(k, '?')} ×{n}"
                            for k, n in parts.most_common(6)) + ")"]
    if header:
        evidence.append(f"x-vercel-ai-data-stream: {header}")
    return "ai-sdk-data-stream", "ai-sdk-data-stream", 0.95 if header else 0.85, evidence


def _ai_sdk_ui(p: _Parsed, headers: Sequence[Header]) -> _Match | None:
    types = Counter(t for t in p.ptypes if t and (t in _UI_STREAM_TYPES or t.startswith("data-")))
    header = header_value(tuple(headers), "x-vercel-ai-ui-message-stream")
    deltas = sum(1 for _, d in p.json_dicts()
                 if d.get("type") == "text-delta" and isinstance(d.get("delta"), str))
    json_events = sum(1 for e in p.events if e.data.strip() != "[DONE]")
    if not types or sum(types.values()) < 0.8 * json_events or not (deltas or header):
        return None
    evidence = [f"{sum(types.values())}/{json_events} JSON events are UI-message-stream parts ("
                + ", ".join(f"{t} ×{n}" for t, n in types.most_common(5)) + ")"]
    if header:
        evidence.append(f"x-vercel-ai-ui-message-stream: {header}")
    return ("ai-sdk-ui-message-stream", "ai-sdk-ui-stream", 0.95 if header else 0.85, evidence)


def _gemini(p: _Parsed) -> _Match | None:
    n = sum(1 for _, d in p.json_dicts()
            if isinstance(_get(d, "candidates", 0, "content", "parts"), list))
    if n < 2 or n < 0.6 * p.n:
        return None
    return ("gemini-generate-content", "token-delta", 0.9,
            [f"candidates[].content.parts[] on {n}/{p.n} events"])


def _ollama(p: _Parsed) -> _Match | None:
    n = sum(1 for _, d in p.json_dicts()
            if isinstance(d.get("done"), bool) and isinstance(d.get("model"), str)
            and (isinstance(d.get("response"), str)
                 or isinstance(_get(d, "message", "content"), str)))
    if n < 2 or n < 0.8 * p.n:
        return None
    return "ollama", "token-delta", 0.85, [f'{{"model", "done", "response"|"message"}} lines '
                                           f"on {n}/{p.n} events"]


def _graphql(p: _Parsed) -> _Match | None:
    nexts = [d for e, d in p.json_dicts() if e.type == "next" and ("data" in d or "errors" in d)]
    if nexts and all(e.type in ("next", "complete") for e in p.events):
        return "graphql-sse", "unknown", 0.9, [
            f'event: next with {{"data"|"errors"}} on {len(nexts)}/{p.n} events',
            "only next/complete event types (graphql-sse protocol)"]
    ws = Counter(t for t in p.ptypes if t in _GRAPHQL_WS_TYPES)
    payloads = sum(1 for _, d in p.json_dicts() if d.get("type") in ("next", "data")
                   and isinstance(d.get("payload"), dict))
    if payloads and ws.get("connection_ack") and sum(ws.values()) == p.n:
        return "graphql-ws", "unknown", 0.9, [
            "connection_ack and next/data messages with payload (graphql-ws protocol)"]
    return None


def _jsonrpc(p: _Parsed) -> _Match | None:
    n = sum(1 for _, d in p.json_dicts() if d.get("jsonrpc") == "2.0")
    if not n or n < 0.8 * p.n:
        return None
    return "json-rpc", "unknown", 0.9, [f'"jsonrpc": "2.0" on {n}/{p.n} events']


# --------------------------------------------------------------------------- generic formats


def _prefix_growth(texts: Sequence[str]) -> int:
    """How many events extend the previous text by prefix; 0 unless it is the stream's habit."""
    if len(texts) < 3:
        return 0
    pairs = list(pairwise(texts))
    grown = sum(1 for a, b in pairs if b.startswith(a) and len(b) > len(a))
    same = sum(1 for a, b in pairs if a == b)
    if grown >= 2 and grown + same >= 0.7 * len(pairs):
        return grown
    return 0


def _string_leaves(obj: Any, path: str = "", depth: int = 0) -> Iterable[tuple[str, str]]:
    if depth > 6:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _string_leaves(v, f"{path}.{k}", depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            yield from _string_leaves(v, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, str):
        yield path, obj


def _generic(p: _Parsed) -> _Match:
    json_payloads = [x for x in p.payloads if x is not None]
    # RFC 6902 operations, one per event or as an array.
    ops = 0
    for x in json_payloads:
        items = x if isinstance(x, list) else [x]
        if items and all(isinstance(i, dict) and isinstance(i.get("op"), str)
                         and i["op"] in _RFC6902_OPS
                         and isinstance(i.get("path"), str) for i in items):
            ops += 1
    if ops >= 2 and ops >= 0.6 * p.n:
        return "unknown", "json-patch", 0.8, [f"RFC 6902 op/path operations on {ops}/{p.n} events"]
    # One string that grows by prefix from event to event: each event is a snapshot.
    series: dict[str, list[str]] = {}
    for x in json_payloads:
        for path, text in _string_leaves(x):
            series.setdefault(path, []).append(text)
    best = max(((path, _prefix_growth(texts)) for path, texts in series.items()),
               key=lambda kv: kv[1], default=("", 0))
    if best[1] >= 2 and len(json_payloads) >= 3:
        return "unknown", "full-snapshot", 0.75, [
            f"{best[0].lstrip('.') or 'payload'} grows by prefix over {best[1]} events"]
    if not json_payloads and p.n:
        texts = [e.data for e in p.events]
        grows = _prefix_growth(texts)
        if grows:
            return "unknown", "full-snapshot", 0.7, [f"event text grows by prefix over {grows} "
                                                     "events"]
        return "unknown", "text", 0.6, [f"{p.n} plain-text events, no JSON payloads"]
    return "unknown", "unknown", 0.0, []


# --------------------------------------------------------------------------- extras


def _thinking_types(p: _Parsed, schema: str) -> list[str]:
    """Names of event/payload/delta types that carry reasoning, in first-seen order."""
    found: dict[str, None] = {}
    if schema == "ai-sdk-data-stream":
        for part in _data_stream_parts(p):
            if part in "gij":
                found[f"{part}: {_DATA_STREAM_NAMES[part]}"] = None
    for event, payload in zip(p.events, p.payloads, strict=True):
        if _THINKING.search(event.type):
            found[event.type] = None
        if isinstance(payload, dict):
            for name in _type_names(payload):
                if _THINKING.search(name):
                    found[name] = None
            choices = payload.get("choices")
            for choice in choices if isinstance(choices, list) else ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict):
                    for key in delta:
                        if _THINKING.search(key):
                            found[f"delta.{key}"] = None
    return list(found)[:20]


def _type_names(obj: Any, depth: int = 0) -> Iterable[str]:
    """``type``/``content_type`` string values anywhere in a payload (bounded)."""
    if depth > 5:
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("type", "content_type") and isinstance(value, str) and _SAFE_VALUE.match(
                    value):
                yield value
            elif key == "thought" and value is True:
                yield "thought"
            elif isinstance(value, dict | list):
                yield from _type_names(value, depth + 1)
    elif isinstance(obj, list):
        for value in obj[:8]:
            yield from _type_names(value, depth + 1)


def _trace_paths(p: _Parsed) -> list[str]:
    found: dict[str, None] = {}
    for event, payload in zip(p.events[:200], p.payloads[:200], strict=False):
        prefix = (payload.get("type") if isinstance(payload, dict)
                  and isinstance(payload.get("type"), str) else event.type)
        for path in _key_paths(payload, frozenset(_TRACE_KEYS)):
            found[f"{prefix}.{path}"] = None
    return list(found)[:5]


def _key_paths(obj: Any, keys: frozenset[str], path: str = "", depth: int = 0) -> Iterable[str]:
    if depth > 4 or not isinstance(obj, dict):
        return
    for key, value in obj.items():
        here = f"{path}.{key}" if path else key
        if key.lower() in keys:
            yield here
        elif isinstance(value, dict):
            yield from _key_paths(value, keys, here, depth + 1)


def _models(p: _Parsed) -> list[str]:
    found: dict[str, None] = {}
    for _, d in p.json_dicts():
        for model in (d.get("model"), _get(d, "message", "model"), _get(d, "response", "model"),
                      _get(d, "modelVersion")):
            if isinstance(model, str) and _SAFE_VALUE.match(model):
                found[model] = None
        if len(found) >= 5:
            break
    return list(found)


def _safe_scalar(value: Any) -> Any:
    """A value safe to print (numbers, booleans, short identifiers); prompts never qualify."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _SAFE_VALUE.match(value):
        return value
    if isinstance(value, list):
        return f"list[{len(value)}]"
    return "…"


def request_options(request_json: Any) -> dict[str, Any]:
    """Options in a request body that change what the stream carries.

    ``model`` and ``stream`` at the top level; any key naming thinking, reasoning or effort at
    any depth up to three (``reasoning_effort``, ``thinking.type``, ``reasoning.effort``); a
    ``*_mode`` key whose value names thinking/reasoning/extended/deep modes; the number of
    ``tools`` offered. Values are printed only when they are numbers, booleans or short
    identifiers, so prompts and user text never reach the document, and never under a
    secret-like key (``reasoning.api_key``: :func:`archcmp.redact.is_secret_json_key`), whose
    name stays with ``…`` for its value.
    """
    if not isinstance(request_json, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("model", "stream"):
        if key in request_json:
            out[key] = _safe_scalar(request_json[key])
    tools = request_json.get("tools")
    if isinstance(tools, list) and tools:
        out["tools"] = len(tools)

    def walk(obj: Mapping[str, Any], prefix: str, depth: int, inside: bool) -> None:
        for key, value in obj.items():
            if not isinstance(key, str):
                continue
            path = f"{prefix}{key}"
            named = bool(_OPTION_KEY.search(key)) or inside
            if named and is_secret_json_key(key):
                out[path] = "…"
            elif isinstance(value, dict):
                if depth < 3:
                    walk(value, f"{path}.", depth + 1, named)
            elif named or (_MODE_KEY.search(key) and isinstance(value, str)
                           and _MODE_VALUE.search(value)):
                out[path] = _safe_scalar(value)
            if len(out) >= 20:
                return

    walk(request_json, "", 0, False)
    return out


_DETECTORS = (_anthropic, _anthropic_text, _openai_chat, _openai_completions,
              _openai_responses, _chatgpt, _gemini, _ollama, _graphql, _jsonrpc)


def classify_stream(
    events: Sequence[StreamEvent],
    transport: str | None,
    request_json: Any = None,
    *,
    response_headers: Sequence[Header] = (),
) -> StreamSchema:
    """Name the schema and delta format of one stream from its events (and headers, request)."""
    p = _parse(events)
    match: _Match | None = None
    if p.n:
        match = _ai_sdk_data(p, response_headers) or _ai_sdk_ui(p, response_headers)
        for detect in _DETECTORS:
            if match is not None:
                break
            match = detect(p)
        if match is None:
            match = _generic(p)
    if match is None:
        match = ("unknown", "unknown", 0.0, [])
    schema, delta, confidence, evidence = match
    if transport and p.n:
        evidence = [*evidence, f"{p.n} {transport} events parsed"]
    return StreamSchema(
        schema=schema,
        delta_format=delta,
        confidence=confidence,
        evidence=tuple(evidence),
        thinking_event_types=tuple(_thinking_types(p, schema)),
        request_options=request_options(request_json),
        trace_id_in=tuple(_trace_paths(p)),
        models=tuple(_models(p)),
    )


def _request_json(obs: Observation) -> Any:
    body = obs.request
    if body is None or not body.data or len(body.data) > MAX_REQUEST_BYTES:
        return None
    mtype = media_type(obs.exchange.request_header("content-type"))
    if mtype is not None and "json" not in mtype and mtype != "text/plain":
        return None
    try:
        return json.loads(body.data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


@dataclass(slots=True)
class StreamSchemaAnalyzer:
    """Streaming analyser: one small result per streamed exchange, nothing else kept.

    ``result()`` gives ``{"streams": [...]}``, one entry per stream with ``exchange`` (the file
    index, ``Exchange.index``; the document renumbers), ``schema``, ``delta_format`` and the
    extras of :meth:`StreamSchema.as_dict`, for the document builder to merge into
    ``streams[]``.
    """

    _streams: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, obs: Observation) -> None:
        if not obs.events:
            return
        found = classify_stream(obs.events, obs.transport, _request_json(obs),
                                response_headers=obs.exchange.response_headers)
        self._streams.append({"exchange": obs.exchange.index, "transport": obs.transport,
                              **found.as_dict()})

    def result(self) -> dict[str, Any]:
        return {"streams": list(self._streams)}
