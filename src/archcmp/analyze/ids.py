"""The ``id_formats[]`` table: which identifier formats a capture carries, where, how often.

Identifiers are looked for in three places, each value classified by
:func:`archcmp.classify.ids.classify_value`:

* **paths** – every segment; ``where`` is the path template up to the id
  (``/api/organizations/{uuid}``), since that names the resource the id belongs to;
* **query strings** and form bodies – every value; ``where`` is ``query:<key>``/``form:<key>``
  (a JSON value, such as GraphQL ``variables``, is walked: ``query:variables:$.id``);
* **JSON** – response bodies (``json:$.account.uuid``), request bodies (``request:$.uuid``) and
  stream events (``event:message_start:$.message.id``), walked to depth 32 and at most 20,000
  values per document, from bodies up to 8 MiB and the first 500 events of a stream.

Which values count. A *strong* format (UUID, ULID, KSUID, ObjectId, JWT, or a constant prefix
before such a tail, see :attr:`IdMatch.strong`) counts wherever it appears: its structure is the
evidence. A *weak* one (hex, numeric, snowflake, base62, nanoid, prefixed random tokens) counts
in a path, or in a query/JSON value only under an id-like key: ``id``, ``*_id``, ``*Id``/``*ID``,
``uuid``/``*_uuid``, ``guid``, ``uid``, and the plurals ``ids``/``*_ids``. So a content hash under
``etag`` or a count under ``total`` is not an id, while ``"request_id": "req_011C…"`` is.
Values that template as a placeholder but are not id formats (``2``, ``2024``, Unix times, base64
JSON) are never reported.

Secrets. Values under credential keys (``access_token``, ``writeKey``, ``sig``…:
:func:`archcmp.classify.paths.is_secret_key`) are never read, nor is anything below them;
headers and cookies are not scanned at all. JWT examples are shown as ``eyJ…(redacted)`` and
credential-prefixed tokens (``sk-…``) as ``sk-…(redacted)``; ids in a path right after a
credential word (``/reset-password/<token>``, ``/invite/<token>``) are masked the same way.

Aggregation is per ``(kind, version, prefix)`` and, for hex, per length (a 32-digit trace id
and a 16-digit span id are different formats). ``examples`` holds up to 3 distinct values,
those seen in paths first (they are what a reader recognises), then queries, then bodies.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archcmp.analyze.kinds import media_type
from archcmp.classify.ids import IdMatch, classify_int, classify_value, mask_example
from archcmp.classify.paths import is_secret_key, template_segment
from archcmp.model import DecodedBody, Observation

__all__ = ["IdFormatCollector", "is_id_key"]

#: Caps that keep one hostile body from dominating the run (all chosen far above real APIs:
#: the largest JSON response in the shared corpus is 1.2 MiB with 9,000 values).
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_JSON_VALUES = 20_000
MAX_STREAM_EVENTS = 500
MAX_EXAMPLES = 3
MAX_WHERE = 5
#: Distinct locations and values tracked per format (beyond it they are only counted).
MAX_TRACKED = 4096

_ID_KEY_CAMEL = re.compile(r".*[a-z0-9](?:Id|ID|Ids|IDs|Uuid|UUID|Guid|GUID|Uid|UID)$")
_ID_KEY_PLAIN = re.compile(r"_?(?:[a-z0-9]+[_\-.])*(?:id|ids|uuid|uuids|guid|uid)", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Path words after which a value is a credential in the URL (reset links, invitations).
_SECRET_PATH_WORDS = frozenset({
    "token", "tokens", "reset", "reset-password", "reset_password", "password", "invite",
    "invites", "invitation", "invitations", "verify", "verification", "magic", "magic-link",
    "magic_link", "confirm", "activate", "activation", "unsubscribe", "secret", "secrets",
    "key", "keys", "apikey", "api-key", "api_key", "session", "sessions", "auth", "oauth",
    "callback", "share", "s",
})
_FORM = "application/x-www-form-urlencoded"
_SOURCES = ("path", "query", "form", "json", "request", "event")


def is_id_key(key: str) -> bool:
    """``id``, ``user_id``, ``userId``, ``stableID``, ``org_uuid``, ``ids``… (not ``paid``)."""
    return bool(_ID_KEY_PLAIN.fullmatch(key) or _ID_KEY_CAMEL.fullmatch(key))


def _iso(ms: float) -> str | None:
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


#: One day in ms: reference times for id plausibility are rounded up to it.
_DAY_MS = 86_400_000.0


@dataclass(slots=True)
class _Format:
    """Running totals for one ``(kind, version, prefix[, length])``."""

    kind: str
    version: int | None
    prefix: str | None
    placeholder: str
    count: int = 0
    where: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    values: set[str] = field(default_factory=set)
    lengths: Counter[int] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    ts_min: float | None = None
    ts_max: float | None = None
    plausible: Counter[bool] = field(default_factory=Counter)
    epochs: Counter[str] = field(default_factory=Counter)
    secret: bool = False

    def add(self, value: str, match: IdMatch, where: str, source: str, *, masked: bool) -> None:
        self.count += 1
        self.sources[source] += 1
        if where in self.where or len(self.where) < MAX_TRACKED:
            self.where[where] += 1
        if len(self.values) < MAX_TRACKED:
            self.values.add(value)
        if match.length is not None:
            self.lengths[match.length] += 1
        if match.timestamp_ms is not None:
            ts = match.timestamp_ms
            self.ts_min = ts if self.ts_min is None else min(self.ts_min, ts)
            self.ts_max = ts if self.ts_max is None else max(self.ts_max, ts)
        if match.timestamp_plausible is not None:
            self.plausible[match.timestamp_plausible] += 1
        if match.epoch_guess:
            self.epochs[match.epoch_guess] += 1
        shown = mask_example(value, match)
        if masked and shown == value:
            shown = f"{match.prefix or ''}…(redacted)"
        self.secret = self.secret or shown != value
        bucket = self.examples.setdefault(source, [])
        if len(bucket) < MAX_EXAMPLES and shown not in bucket:
            bucket.append(shown)

    def entry(self) -> dict[str, Any]:
        examples: list[str] = []
        for source in _SOURCES:
            for value in self.examples.get(source, []):
                if value not in examples and len(examples) < MAX_EXAMPLES:
                    examples.append(value)
        where = [w for w, _ in sorted(self.where.items(), key=lambda kv: (-kv[1], kv[0]))]
        lengths = sorted(self.lengths)
        out: dict[str, Any] = {
            "kind": self.kind,
            "version": self.version,
            "prefix": self.prefix,
            "where": where[:MAX_WHERE],
            "examples": examples,
            "count": self.count,
            "placeholder": self.placeholder,
            "distinct": len(self.values),
            "sources": {s: self.sources[s] for s in _SOURCES if self.sources[s]},
            "timestamp_plausible": (None if not self.plausible
                                    else not self.plausible.get(False, 0)),
            "timestamp_range": (None if self.ts_min is None or self.ts_max is None
                                else [_iso(self.ts_min), _iso(self.ts_max)]),
            "epoch_guess": self.epochs.most_common(1)[0][0] if self.epochs else None,
            "redacted": self.secret,
        }
        if self.kind == "hex":
            out["length"] = lengths[0] if lengths else None
        else:
            out["lengths"] = lengths[:MAX_WHERE]
        return out


class IdFormatCollector:
    """Streams observations in (``observe``), then gives the ``id_formats[]`` list (``result``)."""

    def __init__(self) -> None:
        self._formats: dict[tuple[str, int | None, str | None, int | None], _Format] = {}
        self._now_ms: float | None = None

    # -- feeding ---------------------------------------------------------------------------

    def observe(self, obs: Observation) -> None:
        """Scan one exchange's URL, request body, response body and stream events."""
        ex = obs.exchange
        if ex.started_ms is not None:
            self._now_ms = max(self._now_ms or ex.started_ms, ex.started_ms)
        # Rounded up to the day: the plausibility bound stays "capture time + a day or two",
        # and the classifier's cache sees one reference time per capture day, not per request.
        start = ex.started_ms if ex.started_ms is not None else self._now_ms
        now = None if start is None else math.ceil(start / _DAY_MS) * _DAY_MS
        try:
            parts = urlsplit(ex.url)
        except ValueError:
            return
        self._path(parts.path, now)
        self._pairs(parts.query, "query", now)
        request_type = media_type(ex.request_header("content-type") or (
            ex.request_body.mime_type if ex.request_body else None))
        if obs.request is not None and obs.request.data:
            if request_type == _FORM:
                self._pairs(obs.request.data.decode("utf-8", "replace"), "form", now)
            else:
                self._json_body(obs.request, "request:", "request", now)
        if obs.events:
            for event in obs.events[:MAX_STREAM_EVENTS]:
                data = event.data.lstrip()
                if data[:1] in ("{", "[") and len(data) <= MAX_JSON_BYTES:
                    self._json_text(data, f"event:{event.type}:", "event", now)
        elif obs.response is not None:
            self._json_body(obs.response, "json:", "json", now)

    def result(self) -> list[dict[str, Any]]:
        """Formats by count (most first), each with the schema keys and the extras."""
        formats = sorted(self._formats.values(),
                         key=lambda f: (-f.count, f.kind, f.version or 0, f.prefix or ""))
        return [f.entry() for f in formats]

    # -- sources ---------------------------------------------------------------------------

    def _record(self, value: str, match: IdMatch, where: str, source: str, *,
                masked: bool = False) -> None:
        length = match.length if match.kind == "hex" else None
        key = (match.kind, match.version, match.prefix, length)
        fmt = self._formats.get(key)
        if fmt is None:
            fmt = self._formats[key] = _Format(
                kind=match.kind, version=match.version, prefix=match.prefix,
                placeholder=match.placeholder)
        fmt.add(value, match, where, source, masked=masked)

    def _path(self, path: str, now: float | None) -> None:
        templated: list[str] = []
        previous = ""
        for segment in path.split("/"):
            placeholder = template_segment(segment, now_ms=now)
            templated.append(placeholder)
            if placeholder != segment and "{" not in segment:
                match = classify_value(segment, now_ms=now)
                if match is not None and match.reportable:
                    where = "/".join(templated) or "/"
                    self._record(segment, match, where, "path",
                                 masked=previous.lower() in _SECRET_PATH_WORDS)
            if segment:
                previous = segment

    def _pairs(self, text: str, source: str, now: float | None) -> None:
        try:
            pairs = parse_qsl(text, keep_blank_values=False)
        except ValueError:
            return
        for key, value in pairs:
            if is_secret_key(key):
                continue
            if value[:1] in ("{", "[") and len(value) <= MAX_JSON_BYTES:
                # JSON in a query value: GraphQL ``variables``, tRPC ``input``.
                self._json_text(value, f"{source}:{key}:", source, now)
            else:
                self._value(value, key, f"{source}:{key}", source, now)

    def _value(self, value: str | int, key: str, where: str, source: str,
               now: float | None) -> None:
        if isinstance(value, int):
            match = classify_int(value, now_ms=now) if is_id_key(key) else None
            text = str(value)
        else:
            match = classify_value(value, now_ms=now)
            text = value
        if match is None or not match.reportable:
            return
        if match.strong or is_id_key(key):
            self._record(text, match, where, source)

    def _json_body(self, body: DecodedBody, label: str, source: str, now: float | None) -> None:
        data = body.data
        if not data or body.status not in ("ok", "already-decoded") or len(data) > MAX_JSON_BYTES:
            return
        head = data[:64].lstrip()
        if head[:1] not in (b"{", b"["):
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return
        self._json_text(text, label, source, now)

    def _json_text(self, text: str, label: str, source: str, now: float | None) -> None:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's stack
            return
        self._walk(document, label, source, now)

    def _walk(self, document: Any, label: str, source: str, now: float | None) -> None:
        """Iterative walk: (value, JSON path, key it sits under, depth)."""
        stack: list[tuple[Any, str, str, int]] = [(document, "$", "", 0)]
        seen = 0
        while stack and seen < MAX_JSON_VALUES:
            value, path, key, depth = stack.pop()
            seen += 1
            if isinstance(value, dict):
                if depth >= MAX_JSON_DEPTH:
                    continue
                children = []
                for k, v in value.items():
                    if not isinstance(k, str) or is_secret_key(k):
                        continue
                    children.append((v, path + self._key_step(k, label, source, path, now),
                                     k, depth + 1))
                stack.extend(reversed(children))
            elif isinstance(value, list):
                if depth >= MAX_JSON_DEPTH:
                    continue
                stack.extend((v, f"{path}[*]", key, depth + 1) for v in reversed(value))
            elif isinstance(value, str):
                if value:
                    self._value(value, key, label + path, source, now)
            elif isinstance(value, int) and not isinstance(value, bool):
                self._value(value, key, label + path, source, now)

    def _key_step(self, key: str, label: str, source: str, path: str, now: float | None) -> str:
        """The JSON-path step for ``key``; a key that is itself an id becomes its placeholder
        (maps keyed by UUID stay one location) and strong ones are counted."""
        match = classify_value(key, now_ms=now)
        if match is not None and match.reportable:
            step = "." + match.placeholder
            if match.strong:
                self._record(key, match, label + path + step, source)
            return step
        if _IDENT.fullmatch(key):
            return "." + key
        return "[" + json.dumps(key) + "]"
