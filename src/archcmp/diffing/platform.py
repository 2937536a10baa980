"""Changes to the platform under the API: infrastructure hops, vendors, protocols, encodings.

None of these changes what a client sends or parses, so none is breaking; the levels separate
what operators must look at (the edge traffic enters through, a protocol no longer negotiated,
compression lost) from what is worth knowing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archcmp.diffing.model import Change
from archcmp.diffing.read import change, count, mapping, number, plural, records, text, texts

__all__ = ["compare_encodings", "compare_infrastructure", "compare_protocols",
           "compare_vendors", "hop_keys"]

#: Hops in front of the services, where traffic enters (``infrastructure[].role``, or the
#: category when a document has no role): changing one changes caching, the client IPs the
#: origin sees, TLS termination and header rewriting, which operators and allow-lists notice.
#: Mesh and origin hops (``mesh``, ``origin``; web servers) are internal detail.
_EDGE_ROLES = frozenset({"edge", "lb", "gateway", "proxy"})
_INNER_ROLES = frozenset({"mesh", "origin"})
_EDGE_CATEGORIES = frozenset({"cdn", "load_balancer", "cloud", "anti_abuse", "proxy"})
#: A confidence move smaller than this is rule noise, not news.
CONFIDENCE_STEP = 0.05
#: A protocol's share of exchanges must move more than this to be reported.
SHARE_STEP = 0.10
_PROTOCOL_NAMES = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2",
                   "h3": "HTTP/3"}

Key = tuple[str, str]  # category, name


def hop_keys(doc: Mapping[str, Any]) -> dict[Key, Mapping[str, Any]]:
    """``infrastructure[]`` in chain order (client side first) by (category, name)."""
    out: dict[Key, Mapping[str, Any]] = {}
    for hop in records(doc.get("infrastructure")):
        name = text(hop.get("name"))
        if name:
            out.setdefault((text(hop.get("category")) or "", name), hop)
    return out


def _hop_subject(key: Key) -> str:
    return f"{key[1]} ({key[0]})" if key[0] else key[1]


def _zone(key: Key, hop: Mapping[str, Any]) -> str:
    role = text(hop.get("role"))
    if role in _EDGE_ROLES:
        return "edge"
    if role in _INNER_ROLES:
        return "inner"
    return "edge" if key[0] in _EDGE_CATEGORIES else "inner"


def compare_infrastructure(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Hops by (category, name); a hop replaced by another of its category is one change."""
    hb, hh = hop_keys(base), hop_keys(head)
    out: list[Change] = []
    added = [k for k in hh if k not in hb]
    for key, hop in hb.items():
        if key in hh:
            was = {"role": text(hop.get("role")), "component": text(hop.get("component"))}
            now = {"role": text(hh[key].get("role")), "component": text(hh[key].get("component"))}
            if was != now:
                out.append(change("infrastructure.detail", "changed", _hop_subject(key),
                                  "hop's role or component differs", before=was, after=now))
            continue
        other = next((a for a in added if a[0] == key[0]), None)
        if other is not None:
            added.remove(other)
            zone = "edge" if "edge" in (_zone(key, hop), _zone(other, hh[other])) else "inner"
            out.append(change(f"infrastructure.{zone}_replaced", "changed",
                              key[0] or "hop", f"{key[1]} → {other[1]}", before=key[1],
                              after=other[1], evidence=texts(hh[other].get("evidence"))))
        else:
            out.append(change(f"infrastructure.{_zone(key, hop)}_removed", "removed",
                              _hop_subject(key), "hop no longer observed",
                              before=text(hop.get("role")), evidence=texts(hop.get("evidence"))))
    for key in added:
        out.append(change(f"infrastructure.{_zone(key, hh[key])}_added", "added",
                          _hop_subject(key),
                          f"new {text(hh[key].get('role')) or 'infrastructure'} hop",
                          after=text(hh[key].get("role")),
                          evidence=texts(hh[key].get("evidence"))))
    order_b = [k[1] for k in hb if k in hh]
    order_h = [k[1] for k in hh if k in hb]
    if order_b != order_h:
        out.append(change("infrastructure.reordered", "changed", "chain",
                          f"{' → '.join(order_b)} became {' → '.join(order_h)}",
                          before=order_b, after=order_h))
    return out


def compare_vendors(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Fingerprints by (category, name), except those that are infrastructure hops on either
    side: those are reported once, as hops."""
    hops = hop_keys(base).keys() | hop_keys(head).keys()

    def index(doc: Mapping[str, Any]) -> dict[Key, Mapping[str, Any]]:
        out: dict[Key, Mapping[str, Any]] = {}
        for fp in records(doc.get("fingerprints")):
            name = text(fp.get("name"))
            key = (text(fp.get("category")) or "", name or "")
            if name and key not in hops:
                out.setdefault(key, fp)
        return out

    vb, vh = index(base), index(head)
    out: list[Change] = []
    for key in sorted(vb.keys() | vh.keys()):
        b, h = vb.get(key), vh.get(key)
        subject = _hop_subject(key)
        if h is None and b is not None:
            out.append(change("vendors.removed", "removed", subject, "vendor no longer detected",
                              before={"confidence": number(b.get("confidence"))},
                              evidence=texts(b.get("evidence"))))
        elif b is None and h is not None:
            out.append(change("vendors.added", "added", subject, "new vendor detected",
                              after={"confidence": number(h.get("confidence"))},
                              evidence=texts(h.get("evidence"))))
        elif b is not None and h is not None:
            was, now = number(b.get("confidence")), number(h.get("confidence"))
            if was is not None and now is not None and abs(now - was) >= CONFIDENCE_STEP:
                out.append(change("vendors.confidence", "changed", subject,
                                  f"confidence {was:.2f} → {now:.2f}",
                                  before={"confidence": was}, after={"confidence": now},
                                  evidence=texts(h.get("evidence"))))
    return out


def _counts(value: Any) -> dict[str, int]:
    """A ``{name: count}`` map without zero, negative or non-integer counts."""
    return {k: c for k, v in mapping(value).items() if (c := count(v))}


def _share(n: int, total: int) -> dict[str, Any]:
    return {"exchanges": n, "share": round(n / total, 3) if total else None}


def compare_protocols(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """HTTP versions by exchange count. ``unknown`` is not a protocol and is left out."""
    pb, ph = _counts(base.get("protocols")), _counts(head.get("protocols"))
    tb, th = sum(pb.values()), sum(ph.values())
    out: list[Change] = []
    for proto in sorted((pb.keys() | ph.keys()) - {"unknown"}):
        nb, nh = pb.get(proto, 0), ph.get(proto, 0)
        name = _PROTOCOL_NAMES.get(proto, proto)
        if nb and not nh:
            out.append(change("protocols.removed", "removed", proto,
                              f"{name} no longer observed (was {nb} of {tb} exchanges)",
                              before=_share(nb, tb), after=_share(0, th)))
        elif nh and not nb:
            out.append(change("protocols.added", "added", proto,
                              f"{name} now carries {nh} of {th} exchanges",
                              before=_share(0, tb), after=_share(nh, th)))
        elif abs(nh / th - nb / tb) > SHARE_STEP:
            out.append(change("protocols.share", "changed", proto,
                              f"{name} share {nb / tb:.0%} → {nh / th:.0%}",
                              before=_share(nb, tb), after=_share(nh, th)))
    return out


def compare_encodings(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Response content-codings by presence; counts follow what the session fetched."""
    eb, eh = _counts(base.get("encodings")), _counts(head.get("encodings"))
    out: list[Change] = []
    for coding in sorted(eb.keys() - eh.keys()):
        check = "encodings.identity_removed" if coding == "identity" else "encodings.removed"
        out.append(change(check, "removed", coding,
                          f"no response uses {coding} any more (was {eb[coding]})",
                          before=eb[coding], after=0))
    for coding in sorted(eh.keys() - eb.keys()):
        out.append(change("encodings.added", "added", coding,
                          f"{plural(eh[coding], 'response')} now use {coding}", before=0,
                          after=eh[coding]))
    return out
