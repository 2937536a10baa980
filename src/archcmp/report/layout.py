"""One architecture, two steps from the analysis document to a drawing.

:func:`architecture` reads the analysis document into a logical :class:`Architecture`: the tiers a
request passes (client → each infrastructure hop → the backend services → the model or origin),
with generated ids and sanitised labels. :func:`place` puts that on a grid of character cells
(:class:`Scene`: rectangles, text runs and arrows at row/column positions) for a given width.

``diagrams.py`` draws the Mermaid flowchart from the :class:`Architecture` and both the
box-drawing text and the SVG from the same :class:`Scene`, so the three pictures cannot disagree
about what is drawn or where. Everything captured (hop names, service names, paths, model names)
goes through :func:`clean` first: control and format characters are dropped, box-drawing and
double-width characters replaced, so a label can neither break a box nor shift its right edge.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Literal

__all__ = [
    "MIN_WIDTH",
    "Architecture",
    "Arrow",
    "Group",
    "Node",
    "Rect",
    "Scene",
    "Text",
    "architecture",
    "clean",
    "fit",
    "place",
]

#: Narrowest drawing: a chain box, its note and a one-column services grid still fit.
MIN_WIDTH = 40
#: Boxes drawn per grid before the rest are summarised in one "+N more" line.
MAX_SERVICE_CELLS = 30
MAX_VENDOR_CELLS = 16
#: Grid cell interior (the reference's cells hold 10 characters: "Conversat.", "/chat_conv").
CELL_MIN, CELL_MAX = 8, 12
#: Chain box interior: at least the reference's "   Browser   ", at most this.
CHAIN_MIN, CHAIN_MAX = 13, 31
#: Longest label kept in the logical layout (Mermaid shows it whole; the grid cuts further).
LABEL_MAX = 80

#: HAR producers that are browsers (their captures come from a page); others are "Client".
BROWSER_PRODUCERS = frozenset({
    "chromium", "chrome", "playwright", "firefox", "safari", "browsertime",
    "chrome-har-capturer", "edge",
})
#: Stream schemas spoken by a model API (``analyze/stream_schema.py``): they imply a model tier.
MODEL_SCHEMAS = ("anthropic-", "openai-", "chatgpt-", "ai-sdk-", "gemini-", "ollama")
#: Protocol keys of ``protocols`` → display names, in the order they are listed on ties.
PROTOCOL_NAMES = {"h3": "HTTP/3", "h2": "HTTP/2", "http/1.1": "HTTP/1.1", "http/1.0": "HTTP/1.0"}
#: What a hop does, said beside its box when the box title does not say it already.
ROLE_NOTES = {"edge": "edge", "mesh": "service mesh", "proxy": "proxy", "origin": "origin",
              "gateway": "gateway", "lb": "load balancer"}

_HEADER_EVIDENCE = re.compile(
    r"^(?P<h>[A-Za-z0-9][A-Za-z0-9_-]*)(?::\s*(?P<v>.*?))?(?:\s+\(\+\d+ other values?\))?"
    r"(?:\s+request header)?\s+on \d+/\d+ (?:responses|requests)$")
_COOKIE_EVIDENCE = re.compile(r"^cookie (?P<c>\S+)")
_MODEL_DATE = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2})|-latest)$")
_PLACEHOLDER = re.compile(r"^\{[^}]*\}$")


# --- sanitising -------------------------------------------------------------------------------

def _char(ch: str) -> str:
    """One captured character as it may appear inside a box: one column wide, or nothing."""
    if ch in "\t\n\r\v\f" or unicodedata.category(ch) in ("Zl", "Zp", "Zs"):
        return " "
    if 0x2500 <= ord(ch) <= 0x25FF:  # box drawing, blocks, geometric shapes (▼): our ink
        return "+"
    category = unicodedata.category(ch)
    if category[0] == "C" or category in ("Mn", "Me", "Mc"):  # control, format, combining
        return ""
    if unicodedata.east_asian_width(ch) in ("W", "F"):  # two columns in a terminal
        return "?"
    return ch


def clean(value: object, limit: int = LABEL_MAX) -> str:
    """Captured text made safe to draw: printable, one column per character, one line, short."""
    if value is None or isinstance(value, bool):
        return ""
    text = value if isinstance(value, str) else str(value)
    text = "".join(_char(ch) for ch in unicodedata.normalize("NFC", text[: limit * 4]))
    return fit(" ".join(text.split()), limit, "…")


def fit(text: str, width: int, mark: str = ".") -> str:
    """``text`` cut to ``width`` characters, the last one replaced by ``mark`` when cut."""
    if len(text) <= width:
        return text
    if width <= len(mark):
        return text[: max(width, 0)]
    kept = text[: width - len(mark)]
    return kept if mark == "." and kept.endswith(".") else kept + mark


def _str(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _maps(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _strs(value: object) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, str)]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


# --- the logical architecture -----------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A box: a tier of the chain, or one cell of a grid."""

    id: str
    title: str
    note: str = ""
    """Beside the box (chain boxes): the framework, the hop's evidence, the model names."""
    detail: str = ""
    """Second line inside the box (grid cells): the service's path prefix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A titled grid of cells (backend services, vendors), with an optional line of text."""

    id: str
    title: str
    cells: tuple[Node, ...]
    text: str = ""
    """What the cells leave out ("+5 more: …") or why there are none."""


Tier = Node | Group


@dataclass(frozen=True, slots=True, kw_only=True)
class Architecture:
    """The capture's request path, top to bottom, and what hangs beside it."""

    title: str
    chain: tuple[Tier, ...]
    """Client first, then each hop, the services, the model or origin; each links to the next."""
    labels: tuple[str, ...]
    """``labels[i]`` is the label of the arrow from ``chain[i]`` to ``chain[i + 1]``."""
    detached: tuple[Group, ...] = ()
    """Drawn below the chain without an arrow (third-party services the page calls)."""

    @property
    def edges(self) -> tuple[tuple[str, str, str], ...]:
        """(source id, target id, label) for each arrow."""
        return tuple((a.id, b.id, label)
                     for (a, b), label in zip(pairwise(self.chain), self.labels, strict=True))


def protocol_label(protocols: object) -> str:
    """"HTTP/3 (86%), HTTP/2 (14%)": each observed protocol with its share of known ones."""
    if not isinstance(protocols, Mapping):
        return ""
    counts = {str(k): v for k, v in protocols.items()
              if isinstance(v, int) and not isinstance(v, bool) and v > 0 and k != "unknown"}
    total = sum(counts.values())
    order = list(PROTOCOL_NAMES)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0])
                                                    if kv[0] in order else len(order), kv[0]))
    parts = []
    for key, count in ranked[:4]:
        share = round(100 * count / total)
        parts.append(f"{PROTOCOL_NAMES.get(key) or clean(key, 12).upper()} "
                     f"({'<1' if share == 0 else share}%)")
    return ", ".join(parts)


def evidence_summary(evidence: Iterable[str], keep: int = 2) -> str:
    """The header names (and short values) a hop was recognised by: "cf-ray, server: cloudflare"."""
    found: list[str] = []
    items = [item[:300] for item in evidence]  # the notes are short; so is the regex's work
    for item in items:
        if m := _HEADER_EVIDENCE.match(item):
            value = m["v"] or ""
            found.append(f"{m['h']}: {value}" if value and len(value) <= 18 else m["h"])
        elif m := _COOKIE_EVIDENCE.match(item):
            found.append(f"cookie {m['c']}")
    found = _unique(found)[:keep]
    if not found and items:
        found = [items[0].split(" on ")[0]]
    return clean(", ".join(found))


def _client(doc: Mapping[str, Any]) -> Node:
    capture = doc.get("capture")
    capture = capture if isinstance(capture, Mapping) else {}
    producer = _str(capture, "producer").lower()
    title = "Browser" if _str(capture, "browser") or producer in BROWSER_PRODUCERS else "Client"
    frameworks = _unique(clean(f.get("name"), 24) for f in _maps(doc.get("fingerprints"))
                         if f.get("category") == "framework")
    return Node(id="", title=title, note=" + ".join(frameworks[:3]))


def _hop(hop: Mapping[str, Any]) -> Node:
    name = clean(hop.get("name"), 40) or "unnamed hop"
    role = _str(hop, "role")
    component = _str(hop, "component").lower()
    suffix = ""
    if role == "lb" and not re.search(r"balanc|\b[AE]?LB\b", name, re.I):
        suffix = "L7 LB" if "application" in component else "LB"
    elif role == "gateway" and "gateway" not in name.lower():
        suffix = "gateway"
    label = "CDN" if hop.get("category") == "cdn" else ROLE_NOTES.get(role, "")
    evidence = evidence_summary(_strs(hop.get("evidence")))
    note = " · ".join(p for p in ("" if suffix else label, evidence) if p)
    return Node(id="", title=f"{name} {suffix}".strip(), note=note)


def path_tail(prefix: str, width: int) -> str:
    """The end of a path prefix that fits: "/api/org/{uuid}/chat_conversations" → "/chat_conv"."""
    segments = [s for s in prefix.split("/") if s and not _PLACEHOLDER.match(s)]
    if not segments:
        return fit(prefix or "/", width, "")
    best = "/" + segments[-1]
    for k in range(2, len(segments) + 1):
        candidate = "/" + "/".join(segments[-k:])
        if len(candidate) > width:
            break
        best = candidate
    return fit(best, width, "")


def _domain(host: str) -> str:
    """The registrable-looking part of a host name (two labels; three under "co.uk" and kin)."""
    labels = host.lower().rstrip(".").split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in (
        "co", "com", "net", "org", "ac", "gov", "edu") else 2
    return ".".join(labels[-keep:])


def _more(hidden: Sequence[str]) -> str:
    return f"+{len(hidden)} more: {', '.join(hidden)}" if hidden else ""


def _services(doc: Mapping[str, Any]) -> tuple[Group, Group | None]:
    """First-party services as one grid (API services one box each, web and static pages one
    box per role), vendors and third-party hosts (one box per domain) as another."""
    first: list[Node] = []
    collapsed: dict[str, list[str]] = {}
    vendors: list[Node] = []
    external: dict[str, list[str]] = {}
    for service in _maps(doc.get("services")):
        role = _str(service, "role")
        name = clean(service.get("name")) or "(unnamed)"
        prefix = clean(service.get("prefix"))
        vendor = clean(service.get("vendor"))
        if vendor or role == "vendor":
            vendors.append(Node(id="", title=vendor or name, detail=prefix))
        elif service.get("first_party") is False or role == "external":
            host = _str(service, "host") or _str(service, "name")
            external.setdefault(clean(_domain(host)) or "?", []).append(host)
        elif role == "api":
            first.append(Node(id="", title=name, detail=prefix))
        else:
            collapsed.setdefault(clean(role, 20) or "other", []).append(prefix)
    for role, prefixes in collapsed.items():
        detail = prefixes[0] if len(prefixes) == 1 else f"{len(prefixes)} prefixes"
        first.append(Node(id="", title=role, detail=detail))
    for domain, hosts in sorted(external.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        n = len(set(hosts))
        vendors.append(Node(id="", title=domain, detail=f"{n} host{'s' if n != 1 else ''}"))
    services = _group(first, "BACKEND SERVICES", MAX_SERVICE_CELLS,
                      "none observed: no first-party API traffic")
    if not vendors:
        return services, None
    return services, _group(vendors, "THIRD-PARTY / VENDORS", MAX_VENDOR_CELLS, "")


def _group(cells: list[Node], title: str, cap: int, empty: str) -> Group:
    text = _more([c.title for c in cells[cap:]]) if cells else empty
    return Group(id="", title=title, cells=tuple(cells[:cap]), text=clean(text, LABEL_MAX * 4))


def _models(doc: Mapping[str, Any]) -> Node | None:
    """The model tier, when a stream names its models or speaks a model API's schema."""
    streams = _maps(doc.get("streams"))
    models = _unique(_MODEL_DATE.sub("", clean(m, 40)) for s in streams
                     for m in _strs(s.get("models")))
    schemas = _unique(clean(s.get("schema"), 40) for s in streams
                      if _str(s, "schema").startswith(MODEL_SCHEMAS))
    if not models and not schemas:
        return None
    note = ", ".join(models[:3]) + (f" +{len(models) - 3}" if len(models) > 3 else "")
    return Node(id="", title="Model service",
                note=note or f"{', '.join(schemas[:2])} stream, model not named")


def _origin(origins: Sequence[Mapping[str, Any]], any_hop: bool) -> Node:
    """The last tier when no model is seen: the web server hop(s), if any were recognised."""
    if origins:
        names = ", ".join(_hop(o).title for o in origins)
        evidence = evidence_summary(_strs(origins[0].get("evidence")))
        return Node(id="", title="Origin", note=" · ".join(p for p in (names, evidence) if p))
    note = "server software not identified" if any_hop else "no intermediary observed"
    return Node(id="", title="Origin", note=note)


def _numbered(chain: Sequence[Tier], detached: Sequence[Group]) -> tuple[list[Tier], list[Group]]:
    """Ids in drawing order: nodes n0, n1, ... (cells included), groups g0, g1, ..."""
    nodes, groups = 0, 0

    def node(n: Node) -> Node:
        nonlocal nodes
        nodes += 1
        return replace(n, id=f"n{nodes - 1}")

    def tier(t: Tier) -> Tier:
        nonlocal groups
        if isinstance(t, Node):
            return node(t)
        groups += 1
        return replace(t, id=f"g{groups - 1}", cells=tuple(node(c) for c in t.cells))

    new_chain = [tier(t) for t in chain]
    return new_chain, [g for g in map(tier, detached) if isinstance(g, Group)]


def architecture(doc: Mapping[str, Any]) -> Architecture:
    """The logical architecture of one analysis document (see the module docstring).

    Hops whose role is ``origin`` (the web server) sit before the services when a model tier
    follows them, and become the "Origin" tier otherwise.
    """
    hops = _maps(doc.get("infrastructure"))
    chain_hops = [_hop(h) for h in hops if h.get("role") != "origin"]
    origin_hops = [h for h in hops if h.get("role") == "origin"]
    services, vendors = _services(doc)
    model = _models(doc)
    if model is not None:
        middle: list[Tier] = [*chain_hops, *map(_hop, origin_hops), services, model]
    else:
        middle = [*chain_hops, services, _origin(origin_hops, bool(hops))]
    chain, detached = _numbered([_client(doc), *middle], [vendors] if vendors else [])
    first_label = protocol_label(doc.get("protocols"))
    if not hops:
        first_label = ", ".join(p for p in (first_label, "no intermediary observed") if p)
    capture = doc.get("capture")
    capture = capture if isinstance(capture, Mapping) else {}
    title = clean(_str(capture, "label") or _str(capture, "name"), 60) or "capture"
    return Architecture(title=title, chain=tuple(chain),
                        labels=(first_label, *[""] * (len(chain) - 2)), detached=tuple(detached))


# --- placement on a character grid ------------------------------------------------------------

RectKind = Literal["node", "group", "cell"]
TextKind = Literal["title", "heading", "detail", "note", "label", "text"]


@dataclass(frozen=True, slots=True)
class Rect:
    """A box whose border runs through the cells ``row..row+height-1`` × ``col..col+width-1``."""

    row: int
    col: int
    height: int
    width: int
    kind: RectKind
    id: str


@dataclass(frozen=True, slots=True)
class Text:
    """A run of one-column characters starting at ``row``, ``col``."""

    row: int
    col: int
    text: str
    kind: TextKind


@dataclass(frozen=True, slots=True)
class Arrow:
    """Leaves the bottom border on row ``top`` and points down into the box below ``bottom``."""

    col: int
    top: int
    bottom: int
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Scene:
    """The placed drawing: every row shorter than ``width`` columns."""

    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    arrows: tuple[Arrow, ...]


def _centred(row: int, col: int, span: int, text: str, kind: TextKind) -> Text:
    return Text(row, col + max(0, (span - len(text)) // 2), text, kind)


class _Placer:
    def __init__(self, arch: Architecture, width: int) -> None:
        self.width = max(width, MIN_WIDTH)
        cap = min(CHAIN_MAX, self.width // 2 - 2)
        longest = max((len(t.title) for t in arch.chain if isinstance(t, Node)), default=0)
        inner = max(CHAIN_MIN, min(longest + 4, cap)) | 1  # odd: the arrow leaves the middle
        self.box = (inner if inner <= cap else inner - 2) + 2
        self.rects: list[Rect] = []
        self.texts: list[Text] = []

    def node(self, row: int, node: Node) -> int:
        self.rects.append(Rect(row, 0, 3, self.box, "node", node.id))
        self.texts.append(_centred(row + 1, 1, self.box - 2, fit(node.title, self.box - 4),
                                   "title"))
        room = self.width - self.box - 2
        if node.note and room >= 4:
            self.texts.append(Text(row + 1, self.box + 2, fit(node.note, room, "…"), "note"))
        return 3

    def group(self, row: int, group: Group) -> int:
        usable = self.width - 6  # two borders, two columns of padding on each side
        cw = max(CELL_MIN, min(CELL_MAX, max(
            (max(len(c.title), len(c.detail)) for c in group.cells), default=0)))
        cw = min(cw, usable - 2)
        per_row = max(1, min(len(group.cells), (usable + 1) // (cw + 3)))
        grid = per_row * (cw + 3) - 1 if group.cells else 0
        title = fit(group.title, usable)
        content = max(grid, len(title), min(len(group.text), usable), self.box - 6)
        lines = textwrap.wrap(group.text, content) if group.text else []
        if len(lines) > 3:
            lines = [*lines[:2], fit(lines[2] + " …", content, "…")]
        rows = [group.cells[i:i + per_row] for i in range(0, len(group.cells), per_row)]
        height = 3 + 4 * len(rows) + len(lines)
        self.rects.append(Rect(row, 0, height, content + 6, "group", group.id))
        self.texts.append(_centred(row + 1, 1, content + 4, title, "heading"))
        for r, cells in enumerate(rows):
            top = row + 2 + 4 * r
            for k, cell in enumerate(cells):
                col = 3 + k * (cw + 3)
                detail = (path_tail(cell.detail, cw) if cell.detail.startswith("/")
                          else fit(cell.detail, cw))
                self.rects.append(Rect(top, col, 4, cw + 2, "cell", cell.id))
                self.texts.append(_centred(top + 1, col + 1, cw, fit(cell.title, cw), "title"))
                self.texts.append(_centred(top + 2, col + 1, cw, detail, "detail"))
        for k, line in enumerate(lines):
            self.texts.append(Text(row + 2 + 4 * len(rows) + k, 3, line, "text"))
        return height

    def tier(self, row: int, tier: Tier) -> int:
        return self.node(row, tier) if isinstance(tier, Node) else self.group(row, tier)


def place(arch: Architecture, width: int = 100) -> Scene:
    """Lay ``arch`` out top to bottom within ``width`` columns (at least :data:`MIN_WIDTH`).

    Chain boxes share one width, so every arrow runs down the same column; the note of a box
    goes on its middle row, right of it; a grid holds as many cells per row as fit.
    """
    placer = _Placer(arch, width)
    centre = placer.box // 2
    arrows: list[Arrow] = []
    row = 0
    for i, tier in enumerate(arch.chain):
        row += placer.tier(row, tier)
        if i + 1 < len(arch.chain):
            arrows.append(Arrow(centre, row - 1, row + 1, tier.id, arch.chain[i + 1].id))
            label = fit(arch.labels[i], placer.width - centre - 2, "…")
            if label:
                placer.texts.append(Text(row, centre + 2, label, "label"))
            row += 2
    for group in arch.detached:
        row += 1 + placer.tier(row + 1, group)
    right = max([r.col + r.width for r in placer.rects]
                + [t.col + len(t.text) for t in placer.texts])
    return Scene(width=right, height=row, rects=tuple(placer.rects),
                 texts=tuple(placer.texts), arrows=tuple(arrows))
