"""The infrastructure chain: the hops a request meets, client → edge → LB → mesh → origin.

Inputs are the classifier's findings (which CDN, cloud load balancer, mesh, web server) and
the :class:`HopEvidence` it collected from response headers on the captured site's own hosts.
The chain orders hops in two steps:

1. **By role** (``edge`` < ``lb`` < ``gateway``/``proxy`` < ``mesh`` < ``origin``), from the
   rule's ``hop`` or its category. This is the order the reference architectures have
   (Cloudflare → GCP L7 LB → Envoy → service), and all there is when hops leave no trace of
   their position.
2. **By Via**, where hops say where they are. RFC 9110 §7.6.3: "a proxy MUST send an
   appropriate Via header field ... in each message that it forwards", and "each intermediary
   appends its own information about how the message was received, such that the end result is
   ordered according to the sequence of forwarding recipients". A *request* therefore lists the
   hop nearest the client first (``Via: 1.0 fred, 1.1 p.example.net``: fred forwarded first);
   a *response* travels the other way, so the hop nearest the **origin** is first and the one
   nearest the client is last. A capture taken at the client only sees Via on responses (the
   requests it records have not met any proxy yet), so the engine records each hop's distance
   from the client as ``len - 1 - index`` of the response Via element it matched. Hops with a
   Via position are re-ordered among the slots they occupy; hops without one (Cloudflare adds
   no Via to responses) keep their role slot.

Other headers annotate hops rather than order them: ``Server`` is overwritten by the hop
nearest the client that sets it (RFC 9110 §10.2.4 lets any intermediary replace it, and CDNs
do), ``Age`` > 0 (RFC 9111 §5.1) and ``X-Cache`` mean a cache answered, and ``Alt-Svc``
(RFC 7838) is sent by the server the client connects to, i.e. the outermost hop.

Via entries no rule recognises are kept as ``proxy`` hops named by their ``received-by``
(RFC 9110 §7.6.3), so a chain never hides an intermediary the capture shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archcmp.model import Finding

__all__ = [
    "ROLE_ORDER",
    "Hop",
    "HopCollector",
    "HopEvidence",
    "chain_to_dicts",
    "infrastructure_chain",
    "split_list",
    "via_received_by",
]

#: Hop roles in the order a request meets them.
ROLE_ORDER: Mapping[str, int] = {
    "edge": 1, "lb": 2, "gateway": 3, "proxy": 3, "mesh": 4, "origin": 5,
}

#: Distinct values kept per counter (Via chains, Server values, ...); the rest are "(other)".
_MAX_KEYS = 64
#: Unrecognised Via entries become hops only when seen on at least this many responses and
#: this share of responses that carry a Via at all (one-off entries are request noise).
_UNMATCHED_MIN_COUNT = 2
_UNMATCHED_MIN_SHARE = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    """One intermediary or server in the request path, with the evidence for it."""

    name: str
    """Vendor or product (``Cloudflare``), or the Via ``received-by`` of an unknown proxy."""
    category: str
    """Finding category (``cdn``, ``cloud``, ``service_mesh``...) or ``proxy`` for unknown."""
    role: str
    """``edge``, ``lb``, ``gateway``, ``proxy``, ``mesh`` or ``origin``."""
    evidence: tuple[str, ...]
    confidence: float
    rule: str | None = None
    component: str | None = None
    """The product behind the hop (``Google Cloud external Application Load Balancer``)."""
    hosts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "category": self.category, "role": self.role,
            "component": self.component, "confidence": self.confidence,
            "evidence": list(self.evidence), "rule": self.rule, "hosts": list(self.hosts),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HopEvidence:
    """Header facts about hops, over the responses of the captured site's own hosts."""

    responses: int = 0
    via_chains: tuple[tuple[tuple[str, ...], int], ...] = ()
    """Distinct response Via chains, hop nearest the client first, with counts."""
    servers: tuple[tuple[str, int], ...] = ()
    server_timing: tuple[tuple[str, int], ...] = ()
    """Server-Timing metric names (``cfRequestDuration``, ``cdn-cache``) with counts."""
    x_cache: tuple[tuple[str, int], ...] = ()
    age_responses: int = 0
    """Responses with ``Age`` > 0: served from a cache (RFC 9111 §5.1)."""
    alt_svc: tuple[tuple[str, int], ...] = ()
    """ALPN ids offered by ``Alt-Svc`` (``h3``) with the number of responses offering them."""
    via_ranks: Mapping[str, float] = field(default_factory=dict)
    """Rule id → mean distance from the client of the Via element the rule matched."""
    unmatched_via: tuple[tuple[str, int, float], ...] = ()
    """(received-by, responses, mean distance from client) of Via entries no rule matched."""
    server_rules: Mapping[str, int] = field(default_factory=dict)
    """Rule id → responses on which the rule matched the ``Server`` header."""
    roles: Mapping[str, str] = field(default_factory=dict)
    components: Mapping[str, str] = field(default_factory=dict)
    supersedes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "via_chains": [{"chain": list(c), "responses": n} for c, n in self.via_chains],
            "servers": dict(self.servers), "server_timing": dict(self.server_timing),
            "x_cache": dict(self.x_cache), "age_responses": self.age_responses,
            "alt_svc": dict(self.alt_svc),
        }


def split_list(value: str) -> list[str]:
    """Split a list-valued header on commas outside quotes and comments (RFC 9110 §5.6.1).

    Via comments (``(CloudFront)``) and quoted strings may hold commas; HAR producers also
    join repeated field lines with newlines, which count as separators here.
    """
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(value):
        if quoted:
            if ch == '"' and value[i - 1] != "\\":
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch in ",\n" and depth == 0:
            out.append(value[start:i])
            start = i + 1
    out.append(value[start:])
    return [part.strip() for part in out if part.strip()]


def via_received_by(entry: str) -> str:
    """The ``received-by`` of one Via element, with its comment (RFC 9110 §7.6.3 grammar:
    ``received-protocol RWS received-by [ RWS comment ]``)."""
    parts = entry.split(None, 1)
    return parts[1] if len(parts) == 2 else entry


def _bump(counter: Counter[str], key: str, n: int = 1) -> None:
    if key in counter or len(counter) < _MAX_KEYS:
        counter[key] += n
    else:
        counter["(other)"] += n


@dataclass(slots=True)
class _HostHops:
    responses: int = 0
    via_chains: Counter[tuple[str, ...]] = field(default_factory=Counter)
    servers: Counter[str] = field(default_factory=Counter)
    timing: Counter[str] = field(default_factory=Counter)
    x_cache: Counter[str] = field(default_factory=Counter)
    age: int = 0
    alt_svc: Counter[str] = field(default_factory=Counter)
    via_rank: dict[str, list[float]] = field(default_factory=dict)
    unmatched: dict[str, list[float]] = field(default_factory=dict)
    server_rules: Counter[str] = field(default_factory=Counter)


class HopCollector:
    """Streaming accumulator of hop headers, kept per host so the caller can scope later."""

    def __init__(self) -> None:
        self._hosts: dict[str, _HostHops] = {}

    def _host(self, host: str) -> _HostHops:
        hh = self._hosts.get(host)
        if hh is None:
            hh = self._hosts[host] = _HostHops()
        return hh

    def observe(self, host: str, response_headers: Mapping[str, list[str]]) -> None:
        """Count one response's hop headers (names lowercased, values as sent)."""
        hh = self._host(host)
        hh.responses += 1
        via = [e for v in response_headers.get("via", ()) for e in split_list(v)]
        if via:
            chain = tuple(" ".join(e.split()) for e in reversed(via))
            if chain in hh.via_chains or len(hh.via_chains) < _MAX_KEYS:
                hh.via_chains[chain] += 1
        for value in response_headers.get("server", ()):
            _bump(hh.servers, value.strip()[:80])
        for value in response_headers.get("server-timing", ()):
            for metric in split_list(value):
                _bump(hh.timing, metric.split(";", 1)[0].strip()[:40])
        for value in response_headers.get("x-cache", ()):
            for element in split_list(value):
                _bump(hh.x_cache, element[:60])
        for value in response_headers.get("age", ()):
            if value.strip().isdigit() and int(value.strip()) > 0:
                hh.age += 1
                break
        offered: set[str] = set()
        for value in response_headers.get("alt-svc", ()):
            for element in split_list(value):
                proto = element.split("=", 1)[0].strip()
                if proto and proto != "clear":
                    offered.add(proto[:20])
        for proto in offered:
            _bump(hh.alt_svc, proto)

    def note_via(self, rule_id: str, host: str, distance: int) -> None:
        """A rule matched a Via element ``distance`` hops from the client."""
        acc = self._host(host).via_rank.setdefault(rule_id, [0.0, 0.0])
        acc[0] += distance
        acc[1] += 1

    def note_unmatched_via(self, host: str, entry: str, distance: int) -> None:
        key = " ".join(via_received_by(entry).split())[:80]
        acc = self._host(host).unmatched.setdefault(key, [0.0, 0.0])
        acc[0] += distance
        acc[1] += 1

    def note_server(self, rule_id: str, host: str) -> None:
        self._host(host).server_rules[rule_id] += 1

    def freeze(
        self,
        in_scope: Callable[[str], bool],
        *,
        roles: Mapping[str, str],
        components: Mapping[str, str],
        supersedes: Mapping[str, tuple[str, ...]],
    ) -> HopEvidence:
        """The evidence over the hosts ``in_scope`` accepts."""
        total = _HostHops()
        for host, hh in self._hosts.items():
            if not in_scope(host):
                continue
            total.responses += hh.responses
            total.via_chains.update(hh.via_chains)
            total.servers.update(hh.servers)
            total.timing.update(hh.timing)
            total.x_cache.update(hh.x_cache)
            total.age += hh.age
            total.alt_svc.update(hh.alt_svc)
            total.server_rules.update(hh.server_rules)
            for src, dst in ((hh.via_rank, total.via_rank), (hh.unmatched, total.unmatched)):
                for key, (s, n) in src.items():
                    acc = dst.setdefault(key, [0.0, 0.0])
                    acc[0] += s
                    acc[1] += n
        with_via = sum(total.via_chains.values())
        unmatched = tuple(sorted(
            ((entry, int(n), s / n) for entry, (s, n) in total.unmatched.items()
             if n >= _UNMATCHED_MIN_COUNT and with_via and n / with_via >= _UNMATCHED_MIN_SHARE),
            key=lambda t: (-t[1], t[0]),
        )[:5])
        return HopEvidence(
            responses=total.responses,
            via_chains=tuple(sorted(total.via_chains.items(), key=lambda kv: (-kv[1], kv[0]))),
            servers=tuple(total.servers.most_common()),
            server_timing=tuple(total.timing.most_common()),
            x_cache=tuple(total.x_cache.most_common()),
            age_responses=total.age,
            alt_svc=tuple(total.alt_svc.most_common()),
            via_ranks={k: s / n for k, (s, n) in total.via_rank.items() if n},
            unmatched_via=unmatched,
            server_rules=dict(total.server_rules),
            roles=dict(roles),
            components=dict(components),
            supersedes=dict(supersedes),
        )


def _order(entries: list[tuple[int, float | None, float, Hop]]) -> list[Hop]:
    """Sort by role, then let Via positions reorder the hops that have one (module doc)."""
    entries.sort(key=lambda e: (e[0], -e[2], e[3].name))
    slots = [i for i, e in enumerate(entries) if e[1] is not None]
    by_via = sorted((entries[i] for i in slots), key=lambda e: (e[1], e[0], e[3].name))
    for slot, entry in zip(slots, by_via, strict=True):
        entries[slot] = entry
    return [e[3] for e in entries]


def _outermost_notes(hop: Hop, ev: HopEvidence) -> tuple[str, ...]:
    notes: list[str] = []
    total = ev.responses
    if hop.rule is not None and ev.server_rules.get(hop.rule, 0) * 2 >= max(total, 1):
        notes.append("sets the Server header on most responses: the hop nearest the client "
                     "overwrites it")
    if hop.role == "edge":
        if ev.age_responses:
            notes.append(f"age > 0 on {ev.age_responses}/{total} responses: answered from a "
                         "cache (RFC 9111 §5.1)")
        hits = sum(n for v, n in ev.x_cache if "hit" in v.lower())
        if hits:
            notes.append(f"x-cache reports a hit on {hits}/{total} responses")
    for proto, n in ev.alt_svc:
        if proto.startswith("h3"):
            notes.append(f"alt-svc offers {proto} on {n}/{total} responses: the hop the client "
                         "connects to speaks HTTP/3 (RFC 7838)")
            break
    return tuple(notes)


def infrastructure_chain(findings: Sequence[Finding], hop_evidence: HopEvidence) -> list[Hop]:
    """The hops in the order a request meets them (client first, origin last).

    The client itself is not a hop: the diagram draws it from the capture's producer.
    """
    present = {f.rule for f in findings}
    folded = {target for f in findings for target in hop_evidence.supersedes.get(f.rule, ())
              if target in present}
    entries: list[tuple[int, float | None, float, Hop]] = []
    for finding in findings:
        role = hop_evidence.roles.get(finding.rule)
        if role is None or finding.rule in folded:
            continue
        rank = hop_evidence.via_ranks.get(finding.rule)
        evidence = list(finding.evidence)
        if rank is not None:
            evidence.append(f"in the response Via chain {rank:g} hop(s) from the client "
                            "(RFC 9110 §7.6.3: each intermediary appends itself)")
        folded_here = [t for t in hop_evidence.supersedes.get(finding.rule, ()) if t in present]
        if folded_here:
            evidence.append(f"includes the evidence of {', '.join(folded_here)}")
        hop = Hop(name=finding.name, category=finding.category, role=role,
                  evidence=tuple(evidence), confidence=finding.confidence, rule=finding.rule,
                  component=hop_evidence.components.get(finding.rule), hosts=finding.hosts)
        entries.append((ROLE_ORDER.get(role, 3), rank, finding.confidence, hop))
    with_via = sum(n for _, n in hop_evidence.via_chains)
    for entry, count, rank in hop_evidence.unmatched_via:
        share = count / with_via if with_via else 0.0
        hop = Hop(name=entry, category="proxy", role="proxy",
                  evidence=(f"via entry '{entry}' on {count}/{hop_evidence.responses} responses, "
                            "not recognised by any rule",),
                  confidence=round(min(0.9, 0.5 + share / 2), 3))
        entries.append((ROLE_ORDER["proxy"], rank, hop.confidence, hop))
    chain = _order(entries)
    if chain:
        notes = _outermost_notes(chain[0], hop_evidence)
        if notes:
            first = chain[0]
            chain[0] = Hop(name=first.name, category=first.category, role=first.role,
                           evidence=first.evidence + notes, confidence=first.confidence,
                           rule=first.rule, component=first.component, hosts=first.hosts)
    return chain


def chain_to_dicts(chain: Sequence[Hop]) -> list[dict[str, Any]]:
    """JSON-ready form of a chain (for the analysis document and the diagram)."""
    return [hop.to_dict() for hop in chain]
