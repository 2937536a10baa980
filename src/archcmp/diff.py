"""Two analysis documents → the changes between them, each with a level, and an exit policy.

``archcmp diff BASE HEAD`` is for scripts and CI that watch an app over time, the way oasdiff
watches an OpenAPI spec: every change comes from a named *check* with one level, and
``--fail-on LEVEL`` exits 1 when anything at or above LEVEL changed. The levels mean:

- **breaking**: a client written against the base would fail against the head (a call that no
  longer exists, a stream its parser cannot read, a credential it no longer has).
- **warning**: a client or an operator may notice, but a capture cannot prove breakage
  (oasdiff's WARN): negotiated things (protocols), the path traffic takes, performance.
- **info**: additive or observational (new endpoints, vendors, event types; improvements).

A capture shows what one session *did*, not what the server *can* do: "removed" means "not
observed in head". Diff captures of the same scripted flow, and the levels mean what they say.
Things are matched by stable keys (service name and host, ``METHOD template``, vendor category
and name, credential kind/name/place), never by exchange ids. Missing or malformed keys read as
empty, so older and partial documents diff without error. The policy, check by check
(the table is the contract; ``archcmp.diffing.model.POLICY`` holds the same levels)::

    check                              level     why
    services.removed.api               breaking  API clients calling it get errors
    services.removed.web               warning   pages/deep links gone; browsers follow new links
    services.removed.other             info      static/vendor/external: the page picks them itself
    services.moved.api                 breaking  same name, another host: clients call the old one
    services.moved.web                 warning   as removed.web
    services.moved.other               info      as removed.other
    services.added                     info      additive
    services.regrouped                 info      prefix/role differs, or all its endpoints are now
                                                 under another name: grouping, not contract
    endpoints.removed.api              breaking  METHOD template no longer answered for API clients
    endpoints.removed.web              warning   as services.removed.web
    endpoints.removed.other            info      as services.removed.other
    endpoints.added                    info      additive
    streams.stopped                    breaking  the endpoint still answers but no longer streams
    streams.transport                  breaking  SSE vs NDJSON vs chunked: a different parser
    streams.schema                     breaking  the event vocabulary changed
    streams.delta_format               breaking  clients rebuild the text from deltas differently
    streams.terminator                 breaking  clients wait for the old end-of-stream event
    streams.event_removed              breaking  handlers for that event never fire
    streams.event_added                info      SSE consumers ignore event types they do not handle
    streams.encoding                   info      content-coding is negotiated (Accept-Encoding)
    streams.added                      info      additive
    api_styles.removed                 breaking  e.g. the GraphQL endpoint its clients use is gone
    api_styles.operation_removed       breaking  a GraphQL operation is an endpoint of its own
    api_styles.added                   info      additive
    api_styles.operation_added         info      additive
    auth.replaced                      breaking  clients still send the old credential
    auth.added                         warning   maybe required now; a capture cannot tell
    auth.removed                       warning   unauthenticated now, or a session without login
    auth.weakened                      warning   session cookie lost HttpOnly or Secure
    auth.hardened                      info      cookie gained HttpOnly or Secure
    id_formats.kind                    breaking  same places, other kind: parsers, column types
    id_formats.prefix                  breaking  clients route and validate on the prefix
    id_formats.version                 warning   still a UUID; time ordering (v7) may change
    id_formats.added                   info      new places carry IDs
    id_formats.removed                 info      no longer observed; endpoint checks cover loss
    infrastructure.edge_added          warning   an edge/lb/gateway/proxy hop (by role, else a
    infrastructure.edge_removed        warning     cdn/lb/cloud category): caching, client IPs,
    infrastructure.edge_replaced       warning     TLS termination and headers change; operators
    infrastructure.reordered           warning     and allow-lists notice; the HTTP contract is
                                                   the same, so not breaking
    infrastructure.inner_added         info      a mesh or origin hop behind the edge: internal
    infrastructure.inner_removed       info      as inner_added
    infrastructure.inner_replaced      info      as inner_added
    infrastructure.detail              info      a hop's role or component label differs
    vendors.added                      info      third parties do not change the app's contract
    vendors.removed                    info      as vendors.added
    vendors.confidence                 info      detection confidence moved by >= 0.05
    protocols.removed                  warning   ALPN/Alt-Svc fall back, so not provably breaking,
                                                 but middleboxes, UDP firewalls, proxies notice
    protocols.added                    info      negotiated; clients that cannot, do not use it
    protocols.share                    info      moved > 10 points; connection reuse and the
                                                 Alt-Svc race vary per run
    encodings.removed                  warning   responses compressed that way now arrive bigger
    encodings.identity_removed         info      everything is compressed now
    encodings.added                    info      only clients that asked (Accept-Encoding) get it
    latency.regression                 warning   p50/p95 up > threshold AND > min ms, n >= 3 both
                                                 sides; one session is one sample: never breaking
    latency.regression_few_samples     info      as regression with n < 3: one slow request
    latency.improvement                info      faster beyond the same thresholds
    latency.class_added                info      a kind of request the other session did not make
    latency.class_removed              info      as class_added

Vendors that are infrastructure hops (a CDN is both) are reported once, as hops; streams whose
endpoint vanished are reported once, under endpoints or services. An endpoint is removed only
when no service of the head answers it: service names are the analyser's grouping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from archcmp.diffing.contract import (
    compare_api_styles,
    compare_services,
    compare_streams,
    has_templated_exchanges,
)
from archcmp.diffing.identity import compare_auth, compare_id_formats
from archcmp.diffing.latency import compare_latency
from archcmp.diffing.model import AREAS, KINDS, LEVELS, POLICY, Change, Diff, Level, level_rank
from archcmp.diffing.platform import (
    compare_encodings,
    compare_infrastructure,
    compare_protocols,
    compare_vendors,
)
from archcmp.diffing.read import mapping, text
from archcmp.diffing.render import DIFF_SCHEMA, diff_to_json, diff_to_markdown, diff_to_text
from archcmp.errors import UsageError

__all__ = [
    "AREAS",
    "DIFF_SCHEMA",
    "FAIL_ON",
    "LEVELS",
    "POLICY",
    "Change",
    "Diff",
    "Level",
    "diff_documents",
    "diff_to_json",
    "diff_to_markdown",
    "diff_to_text",
    "exit_code",
    "parse_threshold",
]

#: ``--fail-on`` value → the lowest level that fails (None: never fail). ``any`` is ``info``
#: spelled the way diff(1) users think of it.
FAIL_ON: Mapping[str, Level | None] = {
    "any": "info",
    "info": "info",
    "warning": "warning",
    "breaking": "breaking",
    "none": None,
}


def _side(doc: Mapping[str, Any]) -> dict[str, Any]:
    capture, tool = mapping(doc.get("capture")), mapping(doc.get("tool"))
    name = text(capture.get("name"))
    return {
        "name": name,
        "label": text(capture.get("label")) or name,
        "sha256": text(capture.get("sha256")),
        "producer": text(capture.get("producer")),
        "tool_version": text(tool.get("version")),
        "schema": text(doc.get("schema")),
    }


def _notes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    """What limits the comparison; none of it is a change of the app."""
    b, h = _side(base), _side(head)
    notes: list[str] = []
    if b["schema"] != h["schema"]:
        notes.append(f"documents use different schemas ({b['schema']} vs {h['schema']})")
    tb, th = mapping(base.get("tool")), mapping(head.get("tool"))
    differing = sorted(k for k in tb.keys() | th.keys() if k != "name" and tb.get(k) != th.get(k))
    if differing:
        notes.append(
            "documents come from different archcmp builds ("
            + ", ".join(f"tool.{k} {tb.get(k)} vs {th.get(k)}" for k in differing)
            + "): some changes may come from the analyser or its rules, not the app")
    if b["sha256"] and b["sha256"] == h["sha256"]:
        notes.append("base and head are the same capture file")
    if b["producer"] != h["producer"]:
        notes.append(f"captured by {b['producer'] or 'unknown'} (base) and "
                     f"{h['producer'] or 'unknown'} (head): timings and headers are recorded "
                     "differently, so compare latency with care")
    if not (has_templated_exchanges(base) and has_templated_exchanges(head)):
        notes.append("a document has no per-exchange templates: endpoints are compared from "
                     "services[].templates (at most 50 per service) without methods")
    return notes


def _check_thresholds(latency_threshold: float, min_latency_ms: float) -> None:
    if not (math.isfinite(latency_threshold) and latency_threshold >= 0):
        raise UsageError(f"latency threshold must be a fraction >= 0, not {latency_threshold}")
    if not (math.isfinite(min_latency_ms) and min_latency_ms >= 0):
        raise UsageError(f"minimum latency change must be >= 0 ms, not {min_latency_ms}")


def diff_documents(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    *,
    latency_threshold: float = 0.20,
    min_latency_ms: float = 10.0,
) -> Diff:
    """Every change from ``base`` to ``head`` (two ``archcmp.analysis/1`` documents).

    Changes are ordered by area (:data:`AREAS`), then most severe first, then subject, so the
    output is stable. A latency move counts only beyond ``latency_threshold`` (a fraction of
    the base value) *and* ``min_latency_ms``. Neither input is modified.
    """
    _check_thresholds(latency_threshold, min_latency_ms)
    base, head = mapping(base), mapping(head)
    changes: list[Change] = [
        *compare_services(base, head),
        *compare_streams(base, head),
        *compare_api_styles(base, head),
        *compare_auth(base, head),
        *compare_id_formats(base, head),
        *compare_infrastructure(base, head),
        *compare_vendors(base, head),
        *compare_protocols(base, head),
        *compare_encodings(base, head),
        *compare_latency(base, head, threshold=latency_threshold, min_ms=min_latency_ms),
    ]
    area_order = {a: i for i, a in enumerate(AREAS)}
    changes.sort(key=lambda c: (area_order.get(c.area, len(area_order)), -level_rank(c.level),
                                c.subject, KINDS.index(c.kind), c.message))
    return Diff(base=_side(base), head=_side(head), changes=tuple(changes),
                notes=tuple(_notes(base, head)))


def exit_code(diff: Diff, fail_on: str) -> int:
    """0 when no change is at or above ``fail_on`` (see :data:`FAIL_ON`), else 1.

    An unknown ``fail_on`` is a :class:`~archcmp.errors.UsageError` (the CLI's exit 2), not a
    silent default: a typo in a CI script must not turn the gate off.
    """
    key = fail_on.strip().lower()
    if key not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    floor = FAIL_ON[key]
    if floor is None:
        return 0
    return int(any(level_rank(c.level) >= level_rank(floor) for c in diff.changes))


def parse_threshold(value: str) -> float:
    """``"20%"`` or ``"0.2"`` → 0.2. A bare number above 1 is refused rather than guessed
    (``20`` could mean 20% or 2000%)."""
    raw = value.strip()
    percent = raw.endswith("%")
    try:
        number = float(raw.removesuffix("%").strip())
    except ValueError:
        raise UsageError(f"--latency-threshold: {value!r} is not a number like 20% or 0.2") \
            from None
    if percent:
        number /= 100
    elif number > 1:
        raise UsageError(f"--latency-threshold: write {value}% or {number / 100:g}, "
                         f"not a bare {value}")
    _check_thresholds(number, 0.0)
    return number
