"""The service map: endpoints grouped into named services, per host, with methods and latency.

A capture shows URLs, not services; but APIs are cut along path prefixes
(``/backend-api/conversation``, ``/api/organizations/{uuid}/projects``), so the first *meaningful*
path segment names the service behind it. Each exchange is given one service:

1. **Vendor** – when the rules engine attributed the exchange to a vendor (``observe(obs,
   vendor="Segment")``), it joins that vendor's service, whatever its host or path: a
   first-party ``/v1/t`` that proxies Segment is Segment's, not the app's.
2. **External** – an exchange to a host outside the page's site (another registrable domain than
   the first document's, approximated without the Public Suffix List as the last two labels, or
   three under ``co.uk``-style second levels) joins one service per host, named by the host:
   an ad network is one box in the diagram, not twenty.
3. **web** – GET documents (HTML pages) and Next.js page data (``/_next/data/…``).
4. **static** – scripts, styles, images and fonts (kind from
   :func:`archcmp.analyze.kinds.exchange_kind`), and anything under a build-output root
   (``/_next/static``, ``/static``, ``/assets``, ``/_nuxt``, ``/dist``, ``/build``…).
5. **API** – everything else, by path: the path is templated
   (:func:`archcmp.classify.paths.template_path`), then leading *scaffold* segments are skipped
   (``api``, ``backend-api``/``public-api``-style ``*-api``, ``rest``, ``ajax``, versions ``v1``…
   ``v2.1``, date versions ``2024-06-01``), then *tenant scopes*: a tenancy word
   (``organizations``, ``orgs``, ``workspaces``, ``accounts``, ``tenants``, ``teams``,
   ``companies``, ``enterprises``) with the segment after it, but only when more segments follow
   (``/api/organizations/{uuid}`` alone is the organizations service; below it,
   ``/api/organizations/{uuid}/projects`` is the projects service). Placeholders are skipped too.
   The first literal segment left names the service, and the prefix is the path up to and
   including it. Resource words (``projects``, ``users``) are deliberately not tenancy words:
   they are services. Nothing here names an app's own paths.

Names are unique in a map: when two groups would share a name, the larger keeps it and the other
is qualified by its prefix (``v2/users``) or host (``static@cdn.example.com``).

Latency is ``total_ms`` (request start to last response byte, HAR ``entry.time``), so a streamed
completion counts its whole stream; ``ttfb_ms`` is given beside it. Percentiles come from
:mod:`archcmp.analyze.stats` (NumPy's linear interpolation).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from archcmp.analyze.kinds import exchange_kind
from archcmp.analyze.stats import summary
from archcmp.classify.paths import template_path
from archcmp.model import Observation

__all__ = ["MAX_TEMPLATES_PER_SERVICE", "ServiceMap", "ServiceMapper", "registrable_domain",
           "service_of_template"]

#: Templates listed per service; the rest are counted in ``templates_total``. A page of a news
#: site requests hundreds of distinct images; fifty show the shape without flooding the report.
MAX_TEMPLATES_PER_SERVICE = 50

_STATIC_KINDS = frozenset({"script", "style", "image", "font"})
#: First path segments under which frameworks and bundlers put build output.
_STATIC_ROOTS = frozenset({"static", "assets", "_nuxt", "dist", "build", "public", "fonts",
                           "img", "css", "js", "__static", "_app"})
_SCAFFOLD = re.compile(
    r"api|apis|_api|rest|ajax|[a-z]+-api|api-v\d+|v\d{1,3}(?:\.\d{1,3}){0,2}(?:alpha\d*|beta\d*)?"
    r"|\d{4}-\d{2}-\d{2}"
)
_TENANTS = frozenset({"organizations", "organization", "orgs", "org", "workspaces", "workspace",
                      "accounts", "tenants", "tenant", "teams", "companies", "enterprises",
                      "enterprise"})
#: Second-level labels under which registrations happen (``example.co.uk``, ``example.com.au``).
_SECOND_LEVELS = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go"})
_STREAM_TRANSPORTS = frozenset({"sse", "ndjson", "chunked-text", "long-poll"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceMap:
    """The map: ``services`` (schema dicts, largest first) and each exchange's place in it."""

    services: list[dict[str, Any]]
    """``{"name", "host", "prefix", "templates", "methods", "exchanges", "latency_ms"}`` plus
    ``role``, ``vendor``, ``first_party``, ``hosts``, ``kinds``, ``statuses``, ``streaming``,
    ``ttfb_ms``, ``templates_total``."""
    assignments: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Exchange index (file order) → ``(service name, path template)``."""


@dataclass(frozen=True, slots=True)
class _Row:
    index: int
    host: str
    template: str
    method: str
    status: int | None
    kind: str
    started_ms: float | None
    total_ms: float | None
    ttfb_ms: float | None
    vendor: str | None
    streamed: bool


@dataclass(slots=True)
class _Group:
    role: str  # vendor | external | web | static | api
    base_name: str
    host: str
    prefix: str | None  # None: computed from the templates
    rows: list[_Row] = field(default_factory=list)
    name: str = ""


def registrable_domain(host: str) -> str:
    """``www.cnn.com`` → ``cnn.com``, ``a.b.example.co.uk`` → ``example.co.uk``; IPs and single
    labels (``localhost``) are their own site. An approximation of the Public Suffix List."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _is_placeholder(segment: str) -> bool:
    return "{" in segment


def service_of_template(template: str) -> tuple[str, str]:
    """``(name, prefix)`` of an API path template (rule 5 of the module docstring)."""
    segs = template.split("/")[1:] if template.startswith("/") else template.split("/")
    i = 0
    last_scaffold = -1
    while i < len(segs):
        seg = segs[i]
        if not seg or _is_placeholder(seg):
            i += 1
        elif _SCAFFOLD.fullmatch(seg):
            last_scaffold = i
            i += 1
        elif seg in _TENANTS and i + 2 < len(segs) and any(s for s in segs[i + 2 :]):
            i += 2
        else:
            return seg, "/" + "/".join(segs[: i + 1])
    if last_scaffold >= 0:
        return segs[last_scaffold], "/" + "/".join(segs[: last_scaffold + 1])
    return "root", "/"


def _common_prefix(templates: Iterable[str], *, dirs: bool) -> str:
    """Segment-wise longest common prefix; with ``dirs`` the last segment (a file) is left out."""
    split = [t.split("/") for t in templates]
    if dirs:
        split = [s[:-1] if len(s) > 1 else s for s in split]
    if not split:
        return "/"
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if all(p == parts[0] for p in parts):
            common.append(parts[0])
        else:
            break
    prefix = "/".join(common)
    return prefix or "/"


class ServiceMapper:
    """Streams observations in, keeps one small row each, builds the map once at the end."""

    def __init__(self) -> None:
        self._rows: list[_Row] = []
        #: One reference time per capture (its first start) for id-timestamp plausibility, so
        #: the same path segment is classified once, not once per exchange start time.
        self._now_ms: float | None = None

    def observe(
        self, obs: Observation, vendor: str | None = None, *, kind: str | None = None
    ) -> None:
        """Record one exchange; ``vendor`` from the rules engine, ``kind`` if already known."""
        ex = obs.exchange
        if self._now_ms is None:
            self._now_ms = ex.started_ms
        try:
            parts = urlsplit(ex.url)
            host = (parts.hostname or "").lower()
            path = parts.path or "/"
        except ValueError:
            host, path = "", "/"
        streamed = obs.transport in _STREAM_TRANSPORTS
        self._rows.append(_Row(
            index=ex.index,
            # Shared strings: a long capture repeats few hosts, templates and methods.
            host=sys.intern(host),
            template=sys.intern(template_path(path, now_ms=self._now_ms)),
            method=sys.intern(ex.method.upper()),
            status=ex.status,
            kind=kind if kind is not None else exchange_kind(ex, streamed=streamed),
            started_ms=ex.started_ms,
            total_ms=ex.total_ms,
            ttfb_ms=ex.ttfb_ms,
            vendor=vendor,
            streamed=streamed or obs.transport == "websocket",
        ))

    def result(self, vendors: Mapping[int, str] | None = None) -> ServiceMap:
        """The service map of everything observed so far.

        ``vendors`` (exchange index → vendor name) comes from the rules engine at the end of a
        capture, when it knows which vendors it reports; it overrides ``observe``'s ``vendor``.
        """
        sites = self._first_party_sites()
        groups: dict[tuple[str, ...], _Group] = {}
        for row in self._rows:
            if vendors and row.index in vendors:
                row = replace(row, vendor=vendors[row.index])
            key, group = self._group_of(row, sites)
            groups.setdefault(key, group).rows.append(row)
        ordered = sorted(groups.values(),
                         key=lambda g: (-len(g.rows), g.role, g.host, g.base_name, g.prefix or ""))
        _name_groups(ordered)
        services = [_service_entry(g, sites) for g in ordered]
        assignments = {r.index: (g.name, r.template) for g in ordered for r in g.rows}
        return ServiceMap(services=services, assignments=assignments)

    def _first_party_sites(self) -> frozenset[str]:
        docs = [r for r in self._rows if r.kind == "document" and r.host]
        if docs:
            first = min(docs, key=lambda r: (r.started_ms is None, r.started_ms or 0.0, r.index))
            return frozenset({registrable_domain(first.host)})
        hosts = Counter(r.host for r in self._rows if r.host)
        if not hosts:
            return frozenset({""})
        return frozenset({registrable_domain(hosts.most_common(1)[0][0])})

    @staticmethod
    def _group_of(row: _Row, sites: frozenset[str]) -> tuple[tuple[str, ...], _Group]:
        if row.vendor:
            return ("vendor", row.vendor), _Group("vendor", row.vendor, row.host, None)
        if row.host and registrable_domain(row.host) not in sites:
            return ("external", row.host), _Group("external", row.host, row.host, None)
        segs = [s for s in row.template.split("/") if s]
        first = segs[0] if segs else ""
        second = segs[1] if len(segs) > 1 else ""
        get = row.method in ("GET", "HEAD")
        if (row.kind == "document" and get) or (first == "_next" and second == "data"):
            return ("web", row.host), _Group("web", "web", row.host, None)
        if (row.kind in _STATIC_KINDS or (get and (
                first in _STATIC_ROOTS or (first == "_next" and second in ("static", "image"))))):
            return ("static", row.host), _Group("static", "static", row.host, None)
        name, prefix = service_of_template(row.template)
        return ("api", row.host, prefix), _Group("api", name, row.host, prefix)


def _qualified(group: _Group) -> str:
    """A longer name for a group whose short name is taken: its prefix without placeholders."""
    if group.role == "api" and group.prefix:
        words = [s for s in group.prefix.split("/") if s and not _is_placeholder(s)]
        if len(words) > 1:
            return "/".join(words)
    return f"{group.base_name}@{group.host}" if group.host else f"{group.base_name}@-"


def _name_groups(groups: Sequence[_Group]) -> None:
    used: set[str] = set()
    for group in groups:
        for candidate in (group.base_name, _qualified(group),
                          f"{_qualified(group)}@{group.host}"):
            if candidate not in used:
                group.name = candidate
                break
        else:
            n = 2
            while f"{group.base_name}#{n}" in used:
                n += 1
            group.name = f"{group.base_name}#{n}"
        used.add(group.name)


def _service_entry(group: _Group, sites: frozenset[str]) -> dict[str, Any]:
    rows = group.rows
    counts = Counter(r.template for r in rows)
    templates = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    hosts = Counter(r.host for r in rows)
    if group.prefix is not None:
        prefix = group.prefix
    else:
        prefix = _common_prefix(counts, dirs=group.role == "static")
    totals = [r.total_ms for r in rows if r.total_ms is not None]
    ttfbs = [r.ttfb_ms for r in rows if r.ttfb_ms is not None]
    return {
        "name": group.name,
        "host": hosts.most_common(1)[0][0] or None,
        "prefix": prefix,
        "templates": templates[:MAX_TEMPLATES_PER_SERVICE],
        "methods": sorted({r.method for r in rows}),
        "exchanges": len(rows),
        "latency_ms": summary(totals),
        "ttfb_ms": summary(ttfbs),
        "role": group.role,
        "vendor": rows[0].vendor if group.role == "vendor" else None,
        "first_party": any(registrable_domain(h) in sites for h in hosts if h),
        "hosts": sorted(h for h in hosts if h),
        "kinds": dict(sorted(Counter(r.kind for r in rows).items())),
        "statuses": dict(sorted(Counter(
            "none" if r.status is None else str(r.status) for r in rows).items())),
        "streaming": any(r.streamed for r in rows),
        "templates_total": len(templates),
    }
