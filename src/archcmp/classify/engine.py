"""Evaluate rules over a capture, one exchange at a time, into :class:`~archcmp.model.Finding`.

:class:`Classifier` is streaming: :meth:`Classifier.observe` is called once per exchange and
keeps only counters, a few matched names/values and exchange indexes, never bodies. The
per-exchange work is driven by indexes built once from the rules: the exchange's lowercased
header names, cookie names, query keys and stream event types are looked up in dictionaries
of the leaves that name them, so the cost follows the exchange's size, not rules × headers.
Hosts are matched once per distinct host (memoised).

Confidence is a noisy-OR over the distinct conditions that matched anywhere in scope,
``1 - Π(1 - wᵢ)``, so independent pieces of evidence reinforce each other and none is counted
twice. *Supporting* conditions (generic signals such as an OTLP ``/v1/traces`` path) count only
when a non-supporting condition of the same rule matched too. A finding is reported when its
confidence reaches the rule's ``threshold``.

Scope: infrastructure and framework rules (``scope: first-party``) count only exchanges to the
captured site's own hosts — the registrable domain of the first page loaded — so an ad server's
CDN is not reported as the app's. Vendor rules (analytics, flags, ...) count every host.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from archcmp.analyze.infra import HopCollector, HopEvidence
from archcmp.classify.conditions import (
    MAX_BODY_SCAN,
    ExchangeFacts,
    Hit,
    Leaf,
    site_of,
    split_list,
)
from archcmp.classify.rules import CATEGORIES, Rule, RuleSet, cases_path, load_cases
from archcmp.diagnostics import Diagnostics
from archcmp.model import Exchange, Finding, Observation

__all__ = ["CaseResult", "Classifier", "EvidenceItem", "run_cases"]

#: Distinct matched names/values remembered per condition and host, for evidence.
_MAX_VALUES = 8
#: Exchange indexes kept per finding (document row ids); beyond it only counts grow.
MAX_FINDING_EXCHANGES = 100_000
#: Hosts listed in a finding.
_MAX_HOSTS = 20
#: Distinct hosts whose host-pattern results are memoised.
_HOST_MEMO = 10_000
_EXACT_COOKIE = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One condition's contribution to a finding, structured (the text is derived from it)."""

    rule: str
    kind: str
    """Leaf kind (``response_header``, ``cookie``...) or ``all`` for a group."""
    kinds: tuple[str, ...]
    """Per leaf, its kind (one entry unless ``kind`` is ``all``)."""
    names: tuple[str, ...]
    """Per leaf, the most common name matched (header and cookie names, hosts, paths)."""
    alternatives: tuple[tuple[str, ...], ...]
    """Per leaf, every distinct name matched (at most a few; see ``_MAX_VALUES``)."""
    values: tuple[str | None, ...]
    """Per leaf, the most common value when the rule may quote it, else None."""
    count: int
    total: int
    unit: str
    hosts: tuple[str, ...]
    text: str
    supporting: bool
    weight: float


@dataclass(slots=True)
class _Stats:
    """Matches of one condition on one host."""

    count: int = 0
    exchanges: list[int] = field(default_factory=list)
    names: list[Counter[str]] = field(default_factory=list)
    values: list[Counter[str]] = field(default_factory=list)


def _remember(counter: Counter[str], key: str) -> None:
    if key in counter or len(counter) < _MAX_VALUES:
        counter[key] += 1


@dataclass(slots=True)
class _Index:
    """Leaves of all rules, indexed by what they look at."""

    leaves: list[Leaf] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    headers: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    prefixes: list[int] = field(default_factory=list)
    cookies: dict[str, list[int]] = field(default_factory=dict)
    cookie_patterns: list[int] = field(default_factory=list)
    hosts: list[int] = field(default_factory=list)
    paths: list[int] = field(default_factory=list)
    query: dict[str, list[int]] = field(default_factory=dict)
    scans: list[int] = field(default_factory=list)
    """content_type leaves: tried on every exchange."""
    body_scans: list[int] = field(default_factory=list)
    """json_key and body leaves: tried on exchanges with a body or stream events (bodies are
    parsed lazily, once, on the first leaf that needs them)."""
    events: dict[str, list[int]] = field(default_factory=dict)
    methods: dict[str, list[int]] = field(default_factory=dict)

    def add(self, leaf: Leaf, rule_index: int) -> int:
        lid = len(self.leaves)
        self.leaves.append(leaf)
        self.owner.append(rule_index)
        match leaf.kind:
            case "response_header" | "request_header":
                side = "response" if leaf.kind == "response_header" else "request"
                if leaf.prefix:
                    self.prefixes.append(lid)
                else:
                    self.headers.setdefault((side, leaf.name), []).append(lid)
            case "cookie":
                if _EXACT_COOKIE.fullmatch(leaf.name):
                    self.cookies.setdefault(leaf.name, []).append(lid)
                else:
                    self.cookie_patterns.append(lid)
            case "host":
                self.hosts.append(lid)
            case "path":
                self.paths.append(lid)
            case "query_key":
                self.query.setdefault(leaf.name, []).append(lid)
            case "sse_event":
                self.events.setdefault(leaf.name, []).append(lid)
            case "method":
                self.methods.setdefault(leaf.name, []).append(lid)
            case "json_key" | "body":
                self.body_scans.append(lid)
            case _:
                self.scans.append(lid)
        return lid


class Classifier:
    """Streaming rule evaluation: ``observe`` each exchange, then ask for ``findings``."""

    def __init__(self, ruleset: RuleSet, *, primary_host: str | None = None,
                 diag: Diagnostics | None = None) -> None:
        self._rules: tuple[Rule, ...] = tuple(ruleset)
        self._diag = diag
        self._index = _Index()
        self._cond_leaves: list[list[list[int]]] = []
        self._unless: list[list[int]] = []
        for r, rule in enumerate(self._rules):
            self._cond_leaves.append(
                [[self._index.add(leaf, r) for leaf in cond.leaves] for cond in rule.conditions])
            self._unless.append([self._index.add(leaf, r) for leaf in rule.unless])
        self._stats: list[list[dict[str, _Stats]]] = [
            [{} for _ in rule.conditions] for rule in self._rules]
        self._host_memo: dict[str, list[tuple[int, Hit]]] = {}
        self._requests: Counter[str] = Counter()
        self._responses: Counter[str] = Counter()
        self._hops = HopCollector()
        self._explicit_primary = primary_host.lower() if primary_host else None
        self._document: tuple[float, int, str] | None = None

    # --- per exchange ------------------------------------------------------------------------

    def observe_exchange(self, exchange: Exchange) -> None:
        """Observe an exchange with no decoded bodies (stored bodies are used when uncoded)."""
        self.observe(Observation(exchange=exchange))

    def observe(self, obs: Observation) -> frozenset[str]:
        """Match every rule against one exchange and count what matched.

        Returns the ids of the rules whose own (not merely propagated) conditions matched this
        exchange, so a caller can tell a request *to* a vendor as it streams past.
        """
        facts = ExchangeFacts.from_observation(obs)
        host = facts.host
        self._requests[host] += 1
        if facts.has_response:
            self._responses[host] += 1
            self._hops.observe(host, facts.response_headers)
        self._note_document(obs.exchange, facts)
        hits = self._hits(facts)
        if facts.truncated and self._diag is not None:
            self._diag.warn("classify.body.truncated",
                            f"a body longer than {MAX_BODY_SCAN} bytes was classified by its "
                            "prefix only", sample=f"entry {facts.index}")
        if not hits:
            self._note_via(facts, hits, ())
            return frozenset()
        touched = sorted({self._index.owner[lid] for lid in hits})
        counted: list[tuple[int, list[int]]] = []
        for r in touched:
            if any(lid in hits for lid in self._unless[r]):
                continue
            matched = [c for c, lids in enumerate(self._cond_leaves[r])
                       if all(lid in hits for lid in lids)]
            if matched:
                counted.append((r, matched))
                self._count(r, matched, facts, hits)
        self._note_via(facts, hits, counted)
        return frozenset(
            self._rules[r].id for r, conds in counted
            if any(not self._rules[r].conditions[c].propagated for c in conds)
        )

    def _hits(self, facts: ExchangeFacts) -> dict[int, Hit]:
        idx = self._index
        leaves = idx.leaves
        hits: dict[int, Hit] = {}
        for side, headers in (("response", facts.response_headers),
                              ("request", facts.request_headers)):
            for name, values in headers.items():
                for lid in idx.headers.get((side, name), ()):
                    hit = leaves[lid].match_header(name, values)
                    if hit is not None:
                        hits[lid] = hit
        for lid in idx.prefixes:
            hit = leaves[lid].match(facts)
            if hit is not None:
                hits[lid] = hit
        for cname in facts.cookie_names:
            for lid in idx.cookies.get(cname, ()):
                hits.setdefault(lid, Hit(cname, None))
        for lid in idx.cookie_patterns:
            hit = leaves[lid].match(facts)
            if hit is not None:
                hits[lid] = hit
        for lid, hit in self._host_hits(facts):
            hits[lid] = hit
        scans = [idx.paths, idx.scans]
        if facts.has_body:
            scans.append(idx.body_scans)
        for lids in scans:
            for lid in lids:
                hit = leaves[lid].match(facts)
                if hit is not None:
                    hits[lid] = hit
        if idx.query:
            keys = set(facts.query)
            if facts.request_content_type == "application/x-www-form-urlencoded":
                keys |= set(facts.form)
            for key in keys:
                for lid in idx.query.get(key, ()):
                    hit = leaves[lid].match(facts)
                    if hit is not None:
                        hits[lid] = hit
        for etype in facts.event_types:
            for lid in idx.events.get(etype, ()):
                hits[lid] = Hit(etype, None)
        for lid in idx.methods.get(facts.method, ()):
            hits[lid] = Hit(facts.method, facts.method)
        return hits

    def _host_hits(self, facts: ExchangeFacts) -> list[tuple[int, Hit]]:
        memo = self._host_memo.get(facts.host)
        if memo is None:
            memo = []
            for lid in self._index.hosts:
                hit = self._index.leaves[lid].match(facts)
                if hit is not None:
                    memo.append((lid, hit))
            if len(self._host_memo) < _HOST_MEMO:
                self._host_memo[facts.host] = memo
        return memo

    def _count(self, r: int, matched: list[int], facts: ExchangeFacts,
               hits: dict[int, Hit]) -> None:
        rule = self._rules[r]
        server_matched = False
        for c in matched:
            per_host = self._stats[r][c]
            stats = per_host.get(facts.host)
            if stats is None:
                n_leaves = len(rule.conditions[c].leaves)
                stats = per_host[facts.host] = _Stats(
                    names=[Counter() for _ in range(n_leaves)],
                    values=[Counter() for _ in range(n_leaves)])
            stats.count += 1
            if len(stats.exchanges) < MAX_FINDING_EXCHANGES:
                stats.exchanges.append(facts.index)
            for pos, lid in enumerate(self._cond_leaves[r][c]):
                hit = hits[lid]
                leaf = self._index.leaves[lid]
                _remember(stats.names[pos], hit.name)
                if hit.value is not None and (leaf.may_quote(hit.name)
                                              or leaf.kind in ("host", "path", "content_type")):
                    _remember(stats.values[pos], hit.value)
                server_matched |= leaf.kind == "response_header" and leaf.name == "server"
        if server_matched:
            self._hops.note_server(rule.id, facts.host)

    def _note_via(self, facts: ExchangeFacts, hits: dict[int, Hit],
                  counted: Sequence[tuple[int, list[int]]]) -> None:
        """Record where each rule's Via element sits, and Via elements no rule explained."""
        if "via" not in facts.response_headers:
            return
        elements = [e for v in facts.response_headers["via"] for e in split_list(v)]
        explained: set[int] = set()
        for r, matched in counted:
            for c in matched:
                for lid in self._cond_leaves[r][c]:
                    leaf = self._index.leaves[lid]
                    is_via = leaf.kind == "response_header" and leaf.name == "via"
                    if not is_via or not hits[lid].position:
                        continue
                    # Every element the pattern names is this vendor's (Fastly shielding lists
                    # "1.1 varnish" twice); the one nearest the client places the hop.
                    mine = [i for i, e in enumerate(elements)
                            if leaf.pattern is None or leaf.pattern.search(e)]
                    explained.update(mine)
                    self._hops.note_via(self._rules[r].id, facts.host,
                                        len(elements) - 1 - max(mine))
        for idx, element in enumerate(elements):
            if idx not in explained:
                self._hops.note_unmatched_via(facts.host, element, len(elements) - 1 - idx)

    def _note_document(self, exchange: Exchange, facts: ExchangeFacts) -> None:
        is_doc = exchange.resource_type == "document" or (
            facts.method == "GET" and facts.response_content_type == "text/html"
            and exchange.status is not None and exchange.status < 400)
        if not is_doc or not facts.host:
            return
        key = (exchange.started_ms if exchange.started_ms is not None else math.inf,
               exchange.index, facts.host)
        if self._document is None or key < self._document:
            self._document = key

    # --- results -----------------------------------------------------------------------------

    @property
    def primary_host(self) -> str:
        """The captured site's host: given, else the first page loaded, else the busiest host."""
        if self._explicit_primary:
            return self._explicit_primary
        if self._document is not None:
            return self._document[2]
        if self._requests:
            return max(self._requests.items(), key=lambda kv: (kv[1], kv[0]))[0]
        return ""

    def _scope(self, rule: Rule) -> Callable[[str], bool]:
        if rule.scope == "any":
            return lambda host: True
        site = site_of(self.primary_host)
        return lambda host: site_of(host) == site

    def _evidence(self, r: int) -> list[EvidenceItem]:
        rule = self._rules[r]
        in_scope = self._scope(rule)
        requests = sum(n for h, n in self._requests.items() if in_scope(h))
        responses = sum(n for h, n in self._responses.items() if in_scope(h))
        items: list[EvidenceItem] = []
        for c, cond in enumerate(rule.conditions):
            count = 0
            hosts: list[str] = []
            names = [Counter[str]() for _ in cond.leaves]
            values = [Counter[str]() for _ in cond.leaves]
            for host, stats in sorted(self._stats[r][c].items()):
                if not in_scope(host) or not stats.count:
                    continue
                count += stats.count
                hosts.append(host)
                for pos in range(len(cond.leaves)):
                    names[pos].update(stats.names[pos])
                    values[pos].update(stats.values[pos])
            if not count:
                continue
            unit = "exchanges" if cond.composite else cond.leaves[0].unit
            total = responses if unit == "responses" else requests
            top_names = tuple(n.most_common(1)[0][0] if n else "" for n in names)
            top_values = tuple(v.most_common(1)[0][0] if v else None for v in values)
            text = _evidence_text(cond.leaves, cond.evidence, cond.composite, count, total, unit,
                                  top_names, top_values, names, values, hosts)
            items.append(EvidenceItem(
                rule=rule.id, kind="all" if cond.composite else cond.leaves[0].kind,
                kinds=tuple(leaf.kind for leaf in cond.leaves), names=top_names,
                alternatives=tuple(tuple(sorted(n)) for n in names),
                values=tuple(v if leaf.may_quote(n) else None
                             for leaf, n, v in zip(cond.leaves, top_names, top_values,
                                                   strict=True)),
                count=count, total=total, unit=unit, hosts=tuple(hosts[:_MAX_HOSTS]),
                text=text, supporting=cond.supporting, weight=cond.weight))
        return items

    def evidence_items(self, rule_id: str) -> tuple[EvidenceItem, ...]:
        """Structured evidence of one rule (also for rules below their threshold)."""
        for r, rule in enumerate(self._rules):
            if rule.id == rule_id:
                return tuple(self._evidence(r))
        return ()

    def _finding(self, r: int) -> Finding | None:
        rule = self._rules[r]
        items = self._evidence(r)
        if not any(not item.supporting for item in items):
            return None
        confidence = 1.0 - math.prod(1.0 - item.weight for item in items)
        if confidence + 1e-9 < rule.threshold:
            return None
        in_scope = self._scope(rule)
        exchanges: set[int] = set()
        hosts: set[str] = set()
        for c in range(len(rule.conditions)):
            for host, stats in self._stats[r][c].items():
                if in_scope(host) and stats.count:
                    exchanges.update(stats.exchanges)
                    hosts.add(host)
        ordered = [i for i in items if not i.supporting] + [i for i in items if i.supporting]
        return Finding(
            category=rule.category,
            name=rule.name,
            confidence=round(confidence, 3),
            evidence=tuple(i.text for i in ordered),
            rule=rule.id,
            exchanges=tuple(sorted(exchanges))[:MAX_FINDING_EXCHANGES],
            hosts=tuple(sorted(hosts))[:_MAX_HOSTS],
        )

    def findings(self) -> list[Finding]:
        """Findings sorted by category (vocabulary order), then confidence, then name."""
        out = [f for r in range(len(self._rules)) if (f := self._finding(r)) is not None]
        order = {c: i for i, c in enumerate(CATEGORIES)}
        out.sort(key=lambda f: (order.get(f.category, len(order)), f.category,
                                -f.confidence, f.name))
        return out

    def attributions(self, findings: Iterable[Finding] | None = None) -> dict[int, str]:
        """Exchange index → rule id, for reported rules with ``attribute_paths: true``.

        The service map uses it to name first-party paths that proxy a vendor (Segment's
        ``/v1/t`` behind the app's own host). Higher-confidence findings win ties.
        """
        wanted = {rule.id: r for r, rule in enumerate(self._rules) if rule.attribute_paths}
        chosen = sorted((f for f in (findings if findings is not None else self.findings())
                         if f.rule in wanted), key=lambda f: f.confidence)
        out: dict[int, str] = {}
        for finding in chosen:
            r = wanted[finding.rule]
            rule = self._rules[r]
            in_scope = self._scope(rule)
            # Requests that only carry the vendor's propagated context (a trace header on the
            # app's own API call) are the app's, not the vendor's.
            for c, cond in enumerate(rule.conditions):
                if cond.propagated:
                    continue
                for host, stats in self._stats[r][c].items():
                    if in_scope(host):
                        for index in stats.exchanges:
                            out[index] = finding.rule
        return out

    def hop_evidence(self) -> HopEvidence:
        """Hop headers over the captured site's hosts, for :mod:`archcmp.analyze.infra`."""
        site = site_of(self.primary_host)
        roles = {rule.id: role for rule in self._rules if (role := rule.role) is not None}
        return self._hops.freeze(
            lambda host: site_of(host) == site,
            roles=roles,
            components={rule.id: rule.component for rule in self._rules if rule.component},
            supersedes={rule.id: rule.supersedes for rule in self._rules if rule.supersedes},
        )


def _plural(n: int, unit: str) -> str:
    return unit[:-1] if n == 1 and unit.endswith("s") else unit


def _evidence_text(
    leaves: Sequence[Leaf], template: str | None, composite: bool, n: int, total: int,
    unit: str, names: Sequence[str], values: Sequence[str | None],
    name_counts: Sequence[Counter[str]], value_counts: Sequence[Counter[str]], hosts: list[str],
) -> str:
    """The human-readable evidence line of one condition (module doc: counts, no secrets)."""
    first = leaves[0]
    shown = values[0] if first.may_quote(names[0]) else None
    if template is not None:
        return template.format(n=n, total=total, unit=_plural(n, unit), value=shown or "",
                               name=names[0], hosts=", ".join(hosts[:3]))
    if composite:
        labels = " + ".join(leaf.label(nm, v) for leaf, nm, v in
                            zip(leaves, names, values, strict=True))
        return f"{labels} on {n} {_plural(n, 'exchanges')}"
    if first.kind == "host":
        distinct = [h for h, _ in value_counts[0].most_common()]
        label = ("host " + distinct[0] if len(distinct) == 1
                 else "hosts " + ", ".join(distinct[:3])
                 + (f" (+{len(distinct) - 3})" if len(distinct) > 3 else ""))
        return f"{label} ({n} {_plural(n, 'requests')})"
    label = first.label(names[0], values[0])
    others = len(value_counts[0]) - 1 if shown is not None else len(name_counts[0]) - 1
    if others > 0 and first.kind in ("response_header", "cookie", "path", "content_type"):
        label += f" (+{others} other {'value' if others == 1 else 'values'})"
    if first.kind in ("response_header", "request_header", "cookie", "content_type", "method"):
        return f"{label} on {n}/{total} {_plural(total, unit)}"
    return f"{label} ({n} {_plural(n, unit)})"


# --- rule cases ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one ``.cases.yaml`` entry."""

    rule: str
    case: str
    expect: Literal["match", "no-match", "todo"]
    passed: bool
    fired: bool
    confidence: float | None
    detail: str
    location: str


def _run(ruleset: RuleSet, observations: Sequence[Observation]) -> list[Finding]:
    primary = None
    if observations:
        url = observations[0].exchange.url
        primary = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    classifier = Classifier(ruleset, primary_host=primary)
    for obs in observations:
        classifier.observe(obs)
    return classifier.findings()


def run_cases(ruleset: RuleSet, rule_ids: Iterable[str] | None = None) -> list[CaseResult]:
    """Run the cases of each rule (all rules when ``rule_ids`` is None).

    A ``match`` case must make its rule fire and must not make another rule of the same
    category fire unless the case lists it under ``also`` (a Cloudflare response must not
    look like CloudFront); ``no-match`` must not fire; ``todo`` records a known miss and always
    passes.
    """
    wanted = set(rule_ids) if rule_ids is not None else None
    results: list[CaseResult] = []
    for rule in ruleset:
        if wanted is not None and rule.id not in wanted:
            continue
        for case in load_cases(rule):
            findings = _run(ruleset.subset([rule.id]), case.observations)
            own = next((f for f in findings if f.rule == rule.id), None)
            fired = own is not None
            detail = ""
            if case.expect == "match":
                passed = fired
                if not fired:
                    detail = "expected the rule to fire; it did not"
                else:
                    others = {f.rule for f in _run(ruleset, case.observations)
                              if f.category == rule.category and f.rule != rule.id}
                    stray = sorted(others - set(case.also))
                    if stray:
                        passed = False
                        detail = f"also fired {', '.join(stray)} (list them under 'also' if right)"
            elif case.expect == "no-match":
                passed = not fired
                if fired and own is not None:
                    detail = f"fired unexpectedly: {'; '.join(own.evidence)}"
            else:
                passed = True
                detail = f"todo ({'now fires' if fired else 'known miss'}): {case.note or ''}"
            results.append(CaseResult(
                rule=rule.id, case=case.name, expect=case.expect, passed=passed, fired=fired,
                confidence=own.confidence if own is not None else None, detail=detail.strip(),
                location=f"{cases_path(rule)}:{case.line}"))
    return results
