"""What the openai-like flavour (``flavour_openai.py``) serves as files: HTML, JS, secrets.

Why this exists: the page and its script are data, not server logic, and keeping them out
of ``flavour_openai.py`` keeps that module readable.  The JS runs the whole flow in the
browser (so Playwright records it as a visit), and its content hash names the bundle the
way Vite does (``/assets/index-<8 base64url chars>.js``).

Both secrets are FAKE by construction (they contain ``FAKE``) and fixed, so every
recording carries the same values and a test can check archcmp redacts them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Final

# --------------------------------------------------------------------------- fake secrets

#: Bearer token the page's JS sends as ``Authorization: Bearer …`` on every API call.  FAKE.
BEARER_TOKEN: Final = "FAKE-oai-bearer-archcmp-sample-3b7e0c5a91d24f68"
#: CSRF token the page's JS sends as ``x-csrf-token`` on every POST and DELETE.  FAKE.
CSRF_TOKEN: Final = "FAKE-csrf-archcmp-sample-a6d2e8f4c1b97350"
#: The truth file's ``facts.planted_secrets``: each value and where a HAR carries it.
PLANTED_SECRETS: Final = [
    {
        "where": "authorization: Bearer request header on every /v1/ and /graphql request, "
        'and "accessToken" in the <script id="bootstrap" type="application/json"> block of '
        "the / HTML body",
        "value": BEARER_TOKEN,
    },
    {
        "where": "x-csrf-token request header on every POST and DELETE, and "
        '<meta name="csrf-token"> in the / HTML body',
        "value": CSRF_TOKEN,
    },
]

# --------------------------------------------------------------------------- GraphQL documents

#: Sent as a full document.
VIEWER_QUERY: Final = "query Viewer { viewer { id name } }"
#: Sent as a persisted query: only its SHA-256, which the server has registered.
USAGE_QUERY: Final = "query Usage { viewer { id usage { threads messages } } }"

# --------------------------------------------------------------------------- the JS bundle

_APP_JS_TEMPLATE: Final = """\
// archcmp sample assistant (openai-like flavour): the page runs the whole flow itself so
// the browser records it. Bearer auth only (no cookies); x-csrf-token on every write.
const boot = JSON.parse(document.getElementById("bootstrap").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const status = document.getElementById("status");
const out = document.getElementById("transcript");
const PROMPT = "Say hello in a few words.";
const VIEWER_QUERY = __VIEWER_QUERY__;
const USAGE_QUERY = __USAGE_QUERY__;

function call(path, { method = "GET", body, accept = "application/json" } = {}) {
  const headers = { accept, authorization: `Bearer ${boot.accessToken}` };
  if (method !== "GET") headers["x-csrf-token"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  const init = { method, headers, credentials: "omit" };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init);
}

async function gql(payload) {
  const res = await call(boot.graphqlPath, {
    method: "POST", body: payload, accept: "application/graphql-response+json, application/json",
  });
  const json = await res.json();
  if (!res.ok || json.errors) {
    throw new Error(`graphql ${payload.operationName}: ${res.status} ${JSON.stringify(json)}`);
  }
  return json.data;
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Server-Sent Events over a POST (EventSource cannot POST): fetch + ReadableStream.
// Events are separated by a blank line; this stream has only "data:" lines.
async function readEvents(res, onData) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\\n\\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split("\\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, "")).join("\\n");
      if (data) onData(data);
    }
  }
}

function finish(fields) {
  const done = document.createElement("div");
  done.id = "done";
  Object.assign(done.dataset, fields);
  document.body.append(done);
  status.textContent = fields.status === "ok" ? "done" : "error";
}

try {
  const { viewer } = await gql({ operationName: "Viewer", query: VIEWER_QUERY, variables: {} });
  const usage = await gql({
    operationName: "Usage", variables: {},
    extensions: { persistedQuery: { version: 1, sha256Hash: await sha256Hex(USAGE_QUERY) } },
  });
  const models = await (await call(`${boot.apiBase}/models`)).json();
  const model = models.data.find((m) => m.id.endsWith("-mini")) ?? models.data[0];

  const created = await call(`${boot.apiBase}/threads`, {
    method: "POST",
    body: {
      messages: [{ role: "user", content: PROMPT }], metadata: { title: "Hello from the sample" },
    },
  });
  if (created.status !== 201) throw new Error(`create thread: ${created.status}`);
  const thread = await created.json();

  const res = await call(`${boot.apiBase}/chat/completions`, {
    method: "POST", accept: "text/event-stream",
    body: {
      model: model.id, stream: true, stream_options: { include_usage: true }, store: true,
      metadata: { thread_id: thread.id }, messages: [{ role: "user", content: PROMPT }],
    },
  });
  if (!res.ok) throw new Error(`chat completions: ${res.status}`);
  let text = "", chunks = 0, finishReason = null, sawDone = false, completionId = "", tokens = 0;
  await readEvents(res, (data) => {
    if (data === "[DONE]") { sawDone = true; return; }
    const chunk = JSON.parse(data);
    chunks += 1;
    completionId = chunk.id;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
    for (const choice of chunk.choices) {
      if (choice.delta.content) text += choice.delta.content;
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
    out.textContent = text;
  });

  const messages = await (await call(`${boot.apiBase}/threads/${thread.id}/messages`)).json();
  const del = await call(`${boot.apiBase}/threads/${thread.id}`, { method: "DELETE" });
  await del.text();
  const gone = await call(`${boot.apiBase}/threads/${thread.id}/messages`);
  const goneBody = await gone.json();

  const ok = del.status === 204 && gone.status === 404 && sawDone && finishReason === "stop";
  finish({
    status: ok ? "ok" : "unexpected",
    user: viewer.id,
    usage: `${usage.viewer.usage.threads} threads, ${usage.viewer.usage.messages} messages`,
    model: model.id,
    thread: thread.id,
    completion: completionId,
    chunks: String(chunks),
    completionTokens: String(tokens),
    finishReason: String(finishReason),
    text,
    messages: messages.data.map((m) => `${m.role}:${m.parent_id}`).join(","),
    afterDelete: `${gone.status} ${goneBody.error.code}`,
  });
} catch (err) {
  finish({ status: "error", error: String(err) });
}
"""

APP_JS: Final = _APP_JS_TEMPLATE.replace("__VIEWER_QUERY__", json.dumps(VIEWER_QUERY)).replace(
    "__USAGE_QUERY__", json.dumps(USAGE_QUERY)
)
APP_JS_BYTES: Final = APP_JS.encode()
# Vite-style content hash: 8 base64url characters of the bundle's SHA-256.
_JS_HASH: Final = base64.urlsafe_b64encode(hashlib.sha256(APP_JS_BYTES).digest()).decode()[:8]
APP_JS_PATH: Final = f"/assets/index-{_JS_HASH}.js"

# --------------------------------------------------------------------------- the page

_BOOTSTRAP: Final = json.dumps(
    {"accessToken": BEARER_TOKEN, "apiBase": "/v1", "graphqlPath": "/graphql"},
    separators=(",", ":"),
)

INDEX_HTML: Final = f"""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{CSRF_TOKEN}">
<link rel="icon" href="data:,">
<title>archcmp sample assistant</title>
<script type="module" crossorigin src="{APP_JS_PATH}"></script>
<style>
  body {{ font: 16px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; }}
  #transcript {{ white-space: pre-wrap; border: 1px solid #ccc; padding: 1rem; min-height: 3rem; }}
</style>
</head>
<body>
<h1>Sample assistant</h1>
<p id="status">loading…</p>
<div id="transcript"></div>
<script id="bootstrap" type="application/json">{_BOOTSTRAP}</script>
</body>
</html>
"""
