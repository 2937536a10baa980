"""Changes to what clients of the app call: services, endpoints, streams, API styles.

Identity is by names and path templates, never by exchange ids (ids are positions in one
capture). Placeholders are compared by position only (``/orgs/{uuid}`` and ``/orgs/{int}`` are
the same endpoint), because a change of ID format is reported once, under ``id_formats``, and
should not also turn every endpoint that carries such an ID into "removed" plus "added".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from archcmp.diffing.model import Change
from archcmp.diffing.read import change, count, mapping, plural, records, shape, text, texts

__all__ = ["compare_api_styles", "compare_services", "compare_streams",
           "endpoint_index", "has_templated_exchanges"]

#: Service role → policy group. ``static``, ``vendor`` and ``external`` services are chosen by
#: the page itself (its own bundles, its third parties): no outside client addresses them.
#: An unknown role counts as ``api``, the conservative reading of an older document.
_ROLE_GROUP = {"api": "api", "web": "web", "static": "other", "vendor": "other",
               "external": "other"}
_STREAM_FIELDS = (
    ("transport", "streams.transport"),
    ("schema", "streams.schema"),
    ("delta_format", "streams.delta_format"),
    ("terminator", "streams.terminator"),
)


def _group(role: str | None) -> str:
    return _ROLE_GROUP.get(role or "", "api")


def _endpoint_label(method: str | None, template: str) -> str:
    return f"{method} {template}" if method else template


def has_templated_exchanges(doc: Mapping[str, Any]) -> bool:
    """Whether the document's exchanges carry service and template (current documents do)."""
    return any(text(ex.get("service")) and text(ex.get("template"))
               for ex in records(doc.get("exchanges")))


def endpoint_index(doc: Mapping[str, Any], *, from_exchanges: bool) -> dict[str, dict[str, str]]:
    """Endpoints as ``METHOD template`` from the exchanges (complete, with methods), or as bare
    templates from ``services[].templates`` (capped at 50 per service, no methods) when either
    document lacks templated exchanges: both sides must be read the same way.

    Returns service name → endpoint shape → the endpoint as written."""
    out: dict[str, dict[str, str]] = {}
    if from_exchanges:
        for ex in records(doc.get("exchanges")):
            service, template = text(ex.get("service")), text(ex.get("template"))
            if service and template:
                label = _endpoint_label(text(ex.get("method")), template)
                out.setdefault(service, {}).setdefault(shape(label), label)
    else:
        for svc in records(doc.get("services")):
            name = text(svc.get("name"))
            if name:
                labels = out.setdefault(name, {})
                for template in texts(svc.get("templates")):
                    labels.setdefault(shape(template), template)
    return out


def _services(doc: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for svc in records(doc.get("services")):
        name = text(svc.get("name"))
        if name:
            out.setdefault((name, text(svc.get("host")) or ""), svc)
    return out


def _subject(key: tuple[str, str]) -> str:
    return f"{key[0]} ({key[1]})" if key[1] else key[0]


def _summary(svc: Mapping[str, Any], endpoints: Mapping[str, str]) -> dict[str, Any]:
    return {"host": text(svc.get("host")), "prefix": text(svc.get("prefix")),
            "role": text(svc.get("role")), "endpoints": len(endpoints)}


def compare_services(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Services by name and host, then endpoints by template within each service name.

    Service names are the analyser's grouping; endpoints are the contract. So an endpoint
    counts as removed only when no service in head answers it any more, and a service whose
    endpoints are all still answered elsewhere is *regrouped* (info), not removed: a grouping
    that shifts (a new path changes a prefix, two groups collide on a name) breaks no client.
    """
    from_exchanges = has_templated_exchanges(base) and has_templated_exchanges(head)
    eb = endpoint_index(base, from_exchanges=from_exchanges)
    eh = endpoint_index(head, from_exchanges=from_exchanges)
    owner_b = {shape: name for name, labels in eb.items() for shape in labels}
    owner_h = {shape: name for name, labels in eh.items() for shape in labels}
    sb, sh = _services(base), _services(head)
    out: list[Change] = []
    added = {key[0]: key for key in sh if key not in sb}
    for key, svc in sb.items():
        group = _group(text(svc.get("role")))
        labels = eb.get(key[0], {})
        if key in sh:
            other = sh[key]
            was = {"prefix": text(svc.get("prefix")), "role": text(svc.get("role"))}
            now = {"prefix": text(other.get("prefix")), "role": text(other.get("role"))}
            if (shape(was["prefix"] or ""), was["role"]) != (shape(now["prefix"] or ""),
                                                             now["role"]):
                out.append(change("services.regrouped", "changed", _subject(key),
                                  "service regrouped (prefix or role differs)",
                                  before=was, after=now))
        elif key[0] in added:
            moved = added.pop(key[0])
            out.append(change(f"services.moved.{group}", "changed", key[0],
                              f"now served from {moved[1] or '?'} (was {key[1] or '?'})",
                              before={"host": key[1] or None}, after={"host": moved[1] or None},
                              evidence=sorted(labels.values())))
        elif labels and all(s in owner_h for s in labels):
            now_in = sorted({owner_h[s] for s in labels})
            out.append(change("services.regrouped", "changed", _subject(key),
                              f"its endpoints are now grouped under {', '.join(now_in)}",
                              before=key[0], after=now_in, evidence=sorted(labels.values())))
        else:
            out.append(change(f"services.removed.{group}", "removed", _subject(key),
                              f"{text(svc.get('role')) or 'api'} service no longer observed "
                              f"({plural(len(labels), 'endpoint')})",
                              before=_summary(svc, labels), evidence=sorted(labels.values())))
    for key in added.values():
        svc, labels = sh[key], eh.get(key[0], {})
        if labels and all(s in owner_b for s in labels):
            continue  # only regrouped: reported from the base side
        out.append(change("services.added", "added", _subject(key),
                          f"new {text(svc.get('role')) or 'api'} service "
                          f"({plural(len(labels), 'endpoint')})",
                          after=_summary(svc, labels), evidence=sorted(labels.values())))
    roles = {key[0]: text(svc.get("role")) for key, svc in sb.items()}
    for name in sorted({k[0] for k in sb} & {k[0] for k in sh}):
        before, after = eb.get(name, {}), eh.get(name, {})
        group = _group(roles.get(name))
        for s in sorted(set(before) - owner_h.keys()):
            out.append(change(f"endpoints.removed.{group}", "removed", before[s],
                              f"no longer observed in service {name}", before=before[s]))
        for s in sorted(set(after) - owner_b.keys()):
            out.append(change("endpoints.added", "added", after[s],
                              f"new in service {name}", after=after[s]))
    return out


@dataclass(slots=True)
class _Stream:
    """What one document says about the streams of one endpoint: each field is the union,
    in first-seen order, over that endpoint's streams in the capture."""

    label: str
    values: dict[str, list[str]] = field(default_factory=lambda: {
        "transport": [], "schema": [], "delta_format": [], "terminator": [],
        "event_types": [], "content_encoding": []})

    def add(self, name: str, value: str | None) -> None:
        if value and value not in self.values[name]:
            self.values[name].append(value)


def _stream_facts(doc: Mapping[str, Any]) -> dict[str, _Stream]:
    """Stream endpoints by the shape of ``METHOD template``; the template comes from the
    stream's exchange row (its id is only meaningful inside this document)."""
    by_id: dict[int, Mapping[str, Any]] = {}
    for ex in records(doc.get("exchanges")):
        ident = count(ex.get("id"))
        if ident is not None:
            by_id.setdefault(ident, ex)
    out: dict[str, _Stream] = {}
    for stream in records(doc.get("streams")):
        ident = count(stream.get("exchange"))
        ex = by_id.get(ident, {}) if ident is not None else {}
        method = text(stream.get("method")) or text(ex.get("method"))
        template = text(ex.get("template"))
        if template is None:  # no exchange row: fall back to the URL's path (ids and all)
            url = text(stream.get("url"))
            template = (urlsplit(url).path or None) if url else None
        if template is None:
            continue
        label = _endpoint_label(method, template)
        facts = out.setdefault(shape(label), _Stream(label))
        for name, _ in _STREAM_FIELDS:
            facts.add(name, text(stream.get(name)))
        for event in texts(stream.get("event_types")):
            facts.add("event_types", event)
        if isinstance(stream.get("content_encoding"), list):
            facts.add("content_encoding",
                      "+".join(texts(stream.get("content_encoding"))) or "identity")
    return out


def _compare_stream(b: _Stream, h: _Stream) -> list[Change]:
    subject, vb, vh = h.label, b.values, h.values
    out: list[Change] = []
    for name, check in _STREAM_FIELDS:
        if vb[name] and vh[name] and set(vb[name]) != set(vh[name]):
            out.append(change(check, "changed", subject,
                              f"{name.replace('_', ' ')} {'/'.join(vb[name])} → "
                              f"{'/'.join(vh[name])}", before=vb[name], after=vh[name]))
    gone = [e for e in vb["event_types"] if e not in vh["event_types"]]
    new = [e for e in vh["event_types"] if e not in vb["event_types"]]
    if gone:
        out.append(change("streams.event_removed", "removed", subject,
                          f"event types no longer seen: {', '.join(gone)}",
                          before=vb["event_types"], after=vh["event_types"]))
    if new:
        out.append(change("streams.event_added", "added", subject,
                          f"new event types: {', '.join(new)}",
                          before=vb["event_types"], after=vh["event_types"]))
    was, now = vb["content_encoding"], vh["content_encoding"]
    if was and now and set(was) != set(now):
        out.append(change("streams.encoding", "changed", subject,
                          f"content-coding {'/'.join(was)} → {'/'.join(now)}",
                          before=was, after=now))
    return out


def compare_streams(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Streams per endpoint; a stream whose endpoint vanished altogether is left to the
    endpoint and service checks, so one removal is reported once."""
    fb, fh = _stream_facts(base), _stream_facts(head)
    head_shapes = {shape(_endpoint_label(text(ex.get("method")), template))
                   for ex in records(head.get("exchanges"))
                   if (template := text(ex.get("template")))}
    out: list[Change] = []
    for key in sorted(fb.keys() | fh.keys()):
        b, h = fb.get(key), fh.get(key)
        if b is not None and h is not None:
            out += _compare_stream(b, h)
        elif b is not None:
            if head_shapes and key not in head_shapes:
                continue
            out.append(change("streams.stopped", "removed", b.label,
                              "endpoint no longer streams (or was not observed streaming)",
                              before=b.values))
        elif h is not None:
            kinds = h.values["transport"] + h.values["schema"]
            out.append(change("streams.added", "added", h.label,
                              f"new stream: {', '.join(kinds) or 'unclassified'}",
                              after=h.values, evidence=h.values["event_types"]))
    return out


def compare_api_styles(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """API styles by name; GraphQL-style ``operations`` are endpoints of their own."""
    sb = {text(s.get("style")): s for s in records(base.get("api_styles"))}
    sh = {text(s.get("style")): s for s in records(head.get("api_styles"))}
    out: list[Change] = []
    for style in sorted(k for k in sb.keys() | sh.keys() if k):
        b, h = sb.get(style), sh.get(style)
        if h is None and b is not None:
            out.append(change("api_styles.removed", "removed", style,
                              "API style no longer observed",
                              before={"exchanges": count(b.get("exchanges"))},
                              evidence=texts(b.get("evidence"))))
        elif b is None and h is not None:
            out.append(change("api_styles.added", "added", style, "new API style",
                              after={"exchanges": count(h.get("exchanges"))},
                              evidence=texts(h.get("evidence"))))
        else:
            ob, oh = texts(mapping(b).get("operations")), texts(mapping(h).get("operations"))
            for op in sorted(set(ob) - set(oh)):
                out.append(change("api_styles.operation_removed", "removed", f"{style} {op}",
                                  "operation no longer observed", before=op))
            for op in sorted(set(oh) - set(ob)):
                out.append(change("api_styles.operation_added", "added", f"{style} {op}",
                                  "new operation", after=op))
    return out
