"""Data model and collections: the reference's "Data Model" and "Extension Ecosystem" tables.

From the JSON the app exchanges, and only the *names* of its keys:

* **Structure.** Messages that name their parent by id (``parent_message_uuid``,
  ``parent_id``, ``parent`` holding a uuid/int/prefixed id) form at least a linked list; a
  branch marker (``current_leaf_message_uuid``, ``current_node``, ``children`` lists, a
  ``mapping`` of nodes with ``parent``/``children``) says the app keeps a tree of alternatives
  (regenerations, edits). ``tree`` needs both kinds of key or a self-describing node map,
  ``parent-linked`` ("flat with parent ids") the first only; with neither, nothing is claimed.
* **Model field**: ``model``/``model_slug``-style keys and where they sit.
* **Resource shapes**: top-level key names per ``METHOD /template`` (ids in paths templated), and
  the item keys of lists nested in a resource (``chat_messages[]``).
* **Collections**: list endpoints (a JSON array of objects, or an object whose ``data``/
  ``items``/``results``/… or plural key holds one), with item counts, item key names, categories
  (counts of short ``category``/``type``/``kind`` values), payload size, and download/install
  totals when items carry them. Collections named by a general extension word (connectors,
  extensions, integrations, plugins, tools, skills, apps, add-ons, MCP servers) feed the
  "Extension Ecosystem" rows.

Key names that look like data rather than schema (ids, numbers, e-mail addresses used as
object keys) are dropped, so no value reaches the document this way.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from archcmp.analyze.api import json_body, segment_kind, split_url, template_path
from archcmp.analyze.kinds import media_type
from archcmp.model import Observation

__all__ = ["EXTENSION_WORDS", "DataModelAnalyzer"]

#: Words that make a collection part of an extension ecosystem (general, vendor-neutral).
EXTENSION_WORDS = frozenset({
    "connector", "connectors", "extension", "extensions", "integration", "integrations",
    "plugin", "plugins", "tool", "tools", "skill", "skills", "app", "apps", "addon", "addons",
    "add-ons", "mcp", "marketplace",
})
MAX_TEMPLATES = 200
MAX_NODES = 20000
MAX_DEPTH = 8
SHOWN = 8
#: Stream payloads walked per stream (the shape shows in the first events).
STREAM_EVENTS = 50

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_PARENT = re.compile(r"^parent(_?[a-z]+)*(_id|_uuid|Id|Uuid|_key)?$|^parent$", re.IGNORECASE)
_BRANCH_ID = re.compile(r"^(current_(leaf|node)\w*|currentLeaf\w*|currentNode|leaf_\w+_(id|uuid)"
                        r"|root_\w*(id|uuid))$")
_CHILD_LIST = re.compile(r"^(children|child_ids|childIds|child_(message_)?(uuids|ids))$")
_MODEL = re.compile(r"^(model|model_slug|model_id|model_name|modelId|modelName|default_model\w*)$")
_LIST_KEYS = ("data", "items", "results", "records", "entries", "nodes", "edges", "list",
              "objects", "values", "rows", "collection")
_CATEGORY_KEYS = ("category", "categories", "type", "kind")
_CATEGORY_VALUE = re.compile(r"^[\w .&:/+\-]{1,40}$")
_DOWNLOAD_KEYS = ("download_count", "downloads", "downloadCount", "install_count", "installs",
                  "installCount", "installations")
_FLAG_KEYS = ("first_party", "is_first_party", "firstParty", "official", "is_official",
              "verified", "is_verified", "builtin", "is_builtin", "featured", "is_featured")
_WORDS = re.compile(r"[a-z]+|[A-Z][a-z]*")


def _clean_keys(obj: dict[str, Any]) -> list[str]:
    return sorted(k for k in obj if isinstance(k, str) and _KEY.match(k) and not segment_kind(k))


def _words(name: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(name)} | {name.lower()}


@dataclass(slots=True)
class _Collection:
    method: str
    template: str
    list_key: str | None
    name: str
    seen: int = 0
    items: int = 0
    bytes: int = 0
    item_keys: set[str] = field(default_factory=set)
    category_field: str | None = None
    categories: Counter[str] = field(default_factory=Counter)
    downloads: int | None = None
    flags: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Resource:
    count: int = 0
    keys: set[str] = field(default_factory=set)
    lists: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class DataModelAnalyzer:
    """Streaming analyser; ``result()`` gives ``{"data_model", "collections", "extensions"}``.

    ``data_model``: ``structure`` (``tree`` | ``parent-linked`` | None), ``confidence``,
    ``evidence``, ``parent_keys``, ``branch_markers``, ``model_keys`` (each ``{"key", "where":
    [...]}``) and ``resources`` (``{"endpoint", "keys", "lists"}``). ``collections``: one per
    list endpoint. ``extensions``: the collections named by :data:`EXTENSION_WORDS`, with
    evidence and confidence.
    """

    _markers: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    """(parent | branch | node-map | model, key) → where → count."""
    _resources: dict[str, _Resource] = field(default_factory=dict)
    _collections: dict[str, _Collection] = field(default_factory=dict)

    def observe(self, obs: Observation) -> None:
        ex = obs.exchange
        if ex.status is None:
            return
        _, path, _ = split_url(ex.url)
        endpoint = f"{ex.method} {template_path(path)}"
        ok = 200 <= ex.status < 300
        if ex.method in ("POST", "PUT", "PATCH"):
            req_media = media_type(ex.request_header("content-type"))
            request = json_body(obs.request, req_media)
            if request is not None:
                self._walk(request, f"{endpoint} request")
        if obs.events:
            for event in obs.events[:STREAM_EVENTS]:
                payload = _loads(event.data)
                if payload is not None:
                    ptype = payload.get("type") if isinstance(payload, dict) else None
                    label = ptype if isinstance(ptype, str) and _KEY.match(ptype) else event.type
                    self._walk(payload, f"{endpoint} stream ({label})")
            return
        if not ok:
            return
        resp_media = media_type(ex.response_header("content-type"))
        response = json_body(obs.response, resp_media, sniff=False)
        if response is None:
            return
        self._walk(response, f"{endpoint} response")
        size = len(obs.response.data) if obs.response is not None and obs.response.data else 0
        self._shape(endpoint, response)
        self._collection(ex.method, path, response, size)

    # ------------------------------------------------------------------ walking

    def _mark(self, kind: str, key: str, where: str) -> None:
        slot = (kind, key)
        if slot not in self._markers and len(self._markers) >= MAX_TEMPLATES:
            return
        counter = self._markers.setdefault(slot, Counter())
        if where in counter or len(counter) < 20:
            counter[where] += 1

    def _walk(self, root: Any, where: str) -> None:
        stack: list[tuple[Any, str, int]] = [(root, "", 0)]
        nodes = 0
        while stack and nodes < MAX_NODES:
            obj, path, depth = stack.pop()
            nodes += 1
            if len(stack) > MAX_NODES:  # a very wide document: what was seen will do
                break
            if isinstance(obj, list):
                if depth < MAX_DEPTH:
                    stack.extend((item, f"{path}[]", depth + 1) for item in obj[:200])
                continue
            if not isinstance(obj, dict):
                continue
            if _node_map(obj):
                self._mark("node-map", path.rsplit(".", 1)[-1] or "(root)", where)
            for key, value in obj.items():
                if not isinstance(key, str) or not _KEY.match(key) or segment_kind(key):
                    # A key that is data (an id keying a map): descend, but name it "*".
                    if isinstance(value, dict | list) and depth < MAX_DEPTH:
                        stack.append((value, f"{path}.*", depth + 1))
                    continue
                here = f"{path}.{key}"
                # A reference is an id (a root's null parent proves nothing on its own).
                scalar = (isinstance(value, str) and segment_kind(value) is not None) or (
                    isinstance(value, int) and not isinstance(value, bool))
                if _PARENT.match(key) and scalar:
                    self._mark("parent", key, where)
                elif (_BRANCH_ID.match(key) and scalar) or (
                        _CHILD_LIST.match(key) and isinstance(value, list)):
                    self._mark("branch", key, where)
                elif _MODEL.match(key) and isinstance(value, str):
                    self._mark("model", key, f"{where} ({here.lstrip('.')})")
                if isinstance(value, dict | list) and depth < MAX_DEPTH:
                    stack.append((value, here, depth + 1))

    def _shape(self, endpoint: str, response: Any) -> None:
        if endpoint not in self._resources and len(self._resources) >= MAX_TEMPLATES:
            return
        resource = self._resources.setdefault(endpoint, _Resource())
        resource.count += 1
        objects = [response] if isinstance(response, dict) else [
            i for i in response[:50] if isinstance(i, dict)] if isinstance(response, list) else []
        for obj in objects:
            resource.keys.update(_clean_keys(obj)[:60])
            for key, value in obj.items():
                if isinstance(value, list) and value and isinstance(value[0], dict) and (
                        isinstance(key, str) and _KEY.match(key)):
                    keys = resource.lists.setdefault(key, set())
                    for item in value[:20]:
                        if isinstance(item, dict):
                            keys.update(_clean_keys(item)[:40])

    def _collection(self, method: str, path: str, response: Any, size: int) -> None:
        list_key, items = _find_list(response)
        if not items:
            return
        template = template_path(path)
        nouns = [s for s in path.split("/") if s and not segment_kind(s)]
        name = list_key if list_key and list_key not in _LIST_KEYS else (
            nouns[-1] if nouns else "(root)")
        key = f"{method} {template} {list_key or ''}"
        if key not in self._collections and len(self._collections) >= MAX_TEMPLATES:
            return
        coll = self._collections.setdefault(
            key, _Collection(method=method, template=template, list_key=list_key, name=name))
        coll.seen += 1
        coll.items = max(coll.items, len(items))
        coll.bytes = max(coll.bytes, size)
        dicts = [i for i in items if isinstance(i, dict)]
        for item in dicts[:100]:
            coll.item_keys.update(_clean_keys(item)[:40])
        field_name = next((k for k in _CATEGORY_KEYS if any(k in i for i in dicts)), None)
        if field_name is not None:
            counts: Counter[str] = Counter()
            for item in dicts:
                for value in _as_list(item.get(field_name)):
                    if isinstance(value, str) and _CATEGORY_VALUE.match(value):
                        counts[value] += 1
            if counts and len(counts) <= 50:
                coll.category_field = field_name
                coll.categories = counts  # the latest listing, not a sum over re-fetches
        downloads = [i[k] for i in dicts for k in _DOWNLOAD_KEYS
                     if isinstance(i.get(k), int) and not isinstance(i.get(k), bool)]
        if downloads:
            coll.downloads = max(coll.downloads or 0, sum(downloads))
        flags: Counter[str] = Counter()
        for item in dicts:
            for flag in _FLAG_KEYS:
                if item.get(flag) is True:
                    flags[flag] += 1
        if flags:
            coll.flags = flags

    # ------------------------------------------------------------------ result

    def result(self) -> dict[str, Any]:
        collections = [self._collection_entry(c) for c in sorted(
            self._collections.values(), key=lambda c: (-c.items, c.template))]
        extensions = [self._extension_entry(c) for c in self._collections.values()
                      if _words(c.name) & EXTENSION_WORDS]
        return {"data_model": self._model_entry(), "collections": collections[:50],
                "extensions": extensions}

    def _marker_list(self, kind: str) -> list[dict[str, Any]]:
        return [{"key": key, "where": [w for w, _ in where.most_common(SHOWN)],
                 "count": sum(where.values())}
                for (k, key), where in sorted(self._markers.items(),
                                              key=lambda kv: -sum(kv[1].values()))
                if k == kind]

    def _model_entry(self) -> dict[str, Any]:
        parents = self._marker_list("parent")
        branches = self._marker_list("branch")
        node_maps = self._marker_list("node-map")
        models = self._marker_list("model")
        evidence: list[str] = []
        for label, found in (("parent id", parents), ("branch marker", branches),
                             ("node map", node_maps)):
            for m in found[:4]:
                evidence.append(f"{label} {m['key']} in {m['where'][0]}"
                                + (f" (+{len(m['where']) - 1} more places)"
                                   if len(m["where"]) > 1 else "") + f", {m['count']}×")
        structure: str | None = None
        confidence: float | None = None
        if parents and (branches or node_maps):
            structure, confidence = "tree", 0.9
        elif node_maps:
            structure, confidence = "tree", 0.8
        elif parents:
            structure, confidence = "parent-linked", 0.7
        for m in models[:3]:
            evidence.append(f"model field {m['key']} in {m['where'][0]}")
        resources = [{"endpoint": endpoint, "keys": sorted(r.keys)[:40],
                      "lists": {k: sorted(v)[:25] for k, v in sorted(r.lists.items())[:10]},
                      "count": r.count}
                     for endpoint, r in sorted(self._resources.items(),
                                               key=lambda kv: -kv[1].count)[:30]]
        return {"structure": structure, "confidence": confidence, "evidence": evidence,
                "parent_keys": parents, "branch_markers": branches + node_maps,
                "model_keys": models, "resources": resources}

    @staticmethod
    def _collection_entry(c: _Collection) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": c.name, "endpoint": f"{c.method} {c.template}", "list_key": c.list_key,
            "items": c.items, "fetches": c.seen, "bytes": c.bytes,
            "item_keys": sorted(c.item_keys)[:30],
            "categories": ({"field": c.category_field, "counts": dict(c.categories.most_common(
                20))} if c.category_field else None),
            "downloads_total": c.downloads, "flags": dict(c.flags),
            "extension_like": bool(_words(c.name) & EXTENSION_WORDS),
        }
        return entry

    @staticmethod
    def _extension_entry(c: _Collection) -> dict[str, Any]:
        evidence = [f"{c.items} items in {c.name} from {c.method} {c.template}"
                    + (f" (list key {c.list_key})" if c.list_key else "") + f", {c.bytes} bytes"]
        if c.category_field:
            evidence.append(f"{c.category_field}: " + ", ".join(
                f"{v} {n}" for v, n in c.categories.most_common(6)))
        if c.downloads is not None:
            evidence.append(f"download/install counts visible: {c.downloads} in total")
        for flag, n in c.flags.most_common(3):
            evidence.append(f"{flag}=true on {n}/{c.items} items")
        return {"name": c.name, "endpoint": f"{c.method} {c.template}", "items": c.items,
                "categories": dict(c.categories.most_common(20)) if c.category_field else None,
                "downloads_total": c.downloads, "bytes": c.bytes,
                "confidence": 0.85 if c.items >= 2 else 0.6, "evidence": evidence}


def _node_map(obj: dict[Any, Any]) -> bool:
    """A dict keyed by ids whose values are nodes naming their parent/children (ChatGPT's
    ``mapping``): a tree in itself."""
    values = list(obj.values())[:20]
    keys = list(obj)[:20]
    return bool(values) and all(isinstance(k, str) and segment_kind(k) for k in keys) and all(
        isinstance(v, dict) and ("parent" in v or "children" in v) for v in values)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _find_list(response: Any) -> tuple[str | None, list[Any]]:
    """The list a list endpoint returns: the body itself, a conventional envelope key, or the
    longest top-level list of objects."""
    if isinstance(response, list):
        return (None, response) if response and all(isinstance(i, dict) for i in response[:20]) \
            else (None, [])
    if not isinstance(response, dict):
        return None, []
    lists = {k: v for k, v in response.items()
             if isinstance(k, str) and _KEY.match(k) and isinstance(v, list) and v
             and all(isinstance(i, dict) for i in v[:20])}
    for key in _LIST_KEYS:
        if key in lists:
            return key, lists[key]
    plural = {k: v for k, v in lists.items() if k.endswith("s")}
    if plural and len(response) <= 6:
        key = max(plural, key=lambda k: len(plural[k]))
        return key, plural[key]
    return None, []


def _loads(text: str) -> Any:
    text = text.strip()
    if not text or text[0] not in "{[" or len(text) > 1 << 20:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
