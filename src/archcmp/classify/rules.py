"""Load, validate and compile classification rules (``rules/<area>/<stem>.yaml``).

A rule's id is ``<area>.<stem>``, derived from its path as semgrep-rules and nuclei-templates
do, so a finding leads straight to its file; the area is the rule's category. Loading is
strict, because a silently wrong rule is a false claim in every report:

* YAML is read with a ``SafeLoader`` subclass that **rejects duplicate keys** (PyYAML's
  ``safe_load`` keeps the last one silently) and remembers the line of every mapping key;
* the document is validated against ``rules/schema.json`` (JSON Schema 2020-12; ``jsonschema``
  is imported lazily), so unknown fields and wrong types are refused;
* semantic checks follow: the category matches the directory and the vocabulary, every pattern
  compiles and has a linear-time shape (:func:`~archcmp.classify.conditions.unsafe_regex_shape`),
  evidence templates use known placeholders only, a rule has at least one non-supporting
  condition.

Every problem is a :class:`~archcmp.errors.RuleError` whose message is one line,
``file:line: what is wrong; how to fix it``.

User rules (``--rules DIR``, same layout) are loaded after the built-ins and replace a built-in
rule with the same id. ``<stem>.cases.yaml`` beside a rule holds its test exchanges;
:func:`load_cases` and :func:`observation_from_case` turn them into
:class:`~archcmp.model.Observation` objects for ``archcmp rules test`` and pytest.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from archcmp.classify.conditions import KINDS, Condition, Leaf, unsafe_regex_shape
from archcmp.errors import RuleError
from archcmp.model import Body, DecodedBody, Exchange, Observation, StreamEvent

__all__ = [
    "CATEGORIES",
    "HOP_ROLES",
    "Rule",
    "RuleCase",
    "RuleSet",
    "builtin_rules_dir",
    "cases_path",
    "load_cases",
    "load_rule_file",
    "load_rules",
    "observation_from_case",
    "parse_yaml",
]

#: ``fingerprints[].category`` vocabulary (analysis-schema.md), in report order.
CATEGORIES = (
    "cdn", "cloud", "load_balancer", "service_mesh", "web_server", "framework", "tracing",
    "analytics", "feature_flags", "rum", "error_tracking", "push", "anti_abuse", "auth",
    "telemetry", "api_client", "ai_streaming",
)

#: Default hop role per infrastructure category (the chain in :mod:`archcmp.analyze.infra`).
HOP_ROLES: Mapping[str, str] = {
    "cdn": "edge", "cloud": "lb", "load_balancer": "lb", "service_mesh": "mesh",
    "web_server": "origin",
}

#: Categories whose rules count only the captured site's own hosts unless ``scope: any``.
FIRST_PARTY_CATEGORIES = frozenset(HOP_ROLES) | {"framework"}

_TEMPLATE_FIELDS = frozenset({"n", "total", "unit", "value", "name", "hosts"})
_STEM = re.compile(r"^[a-z0-9_]+$")
_CASES_SUFFIX = ".cases.yaml"


def builtin_rules_dir() -> Path:
    """The rules shipped with archcmp.

    From a source checkout that is ``<repo>/rules``; an installed wheel carries the same tree
    as package data under ``archcmp/_rules``.
    """
    checkout = Path(__file__).resolve().parents[3] / "rules"
    if (checkout / "schema.json").is_file():
        return checkout
    return Path(__file__).resolve().parents[1] / "_rules"


# --- YAML with duplicate-key rejection and line numbers --------------------------------------


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers where it and each of its keys were written."""

    line: int = 0
    key_lines: dict[Any, int]


class _Seq(list[Any]):
    line: int = 0
    item_lines: list[int]


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line
        self.first = first


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate mapping keys and records line numbers."""


def _construct_map(loader: _StrictLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in out.key_lines:
            raise _DuplicateKey(key, line, out.key_lines[key])
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_seq(loader: _StrictLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_StrictLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _fail(path: Path | str, line: int, what: str, fix: str) -> RuleError:
    return RuleError(f"{path}:{line}: {what}; {fix}")


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse one YAML document strictly; errors name ``path:line``."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except _DuplicateKey as exc:
        raise _fail(path, exc.line, f"duplicate key {exc.key!r} (first at line {exc.first})",
                    "keep one of them: YAML would silently use the last") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _fail(path, line, f"not valid YAML: {exc.problem or exc.context}",
                    "fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise _fail(path, 1, f"not valid YAML: {exc}", "fix the YAML syntax") from None
    finally:
        loader.dispose()


def _line_at(doc: Any, where: Sequence[str | int]) -> int:
    """The line of the node at a JSON-Schema error path, or of its closest ancestor."""
    node = doc
    line = getattr(doc, "line", 1) or 1
    for step in where:
        if isinstance(node, _Map) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, _Seq) and isinstance(step, int) and step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line


# --- schema ----------------------------------------------------------------------------------


@cache
def _schema(root: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((root / "schema.json").read_text(encoding="utf-8"))
    return schema


@cache
def _validator(root: Path, which: Literal["rule", "cases"]) -> Any:
    # Imported lazily (only when rules are loaded) and through importlib so that mypy does not
    # need jsonschema's stubs, which the dev extras do not install.
    jsonschema: Any = importlib.import_module("jsonschema")
    schema = _schema(root)
    if which == "cases":
        schema = {"$defs": schema["$defs"], "$ref": "#/$defs/case_file"}
    return jsonschema.Draft202012Validator(schema)


def _schema_check(doc: Any, path: Path, which: Literal["rule", "cases"]) -> None:
    validator = _validator(builtin_rules_dir(), which)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path),
                                                                  list(map(str, e.path))))
    if not errors:
        return
    error = errors[0]
    # A oneOf failure hides the real cause: report the deepest sub-error instead.
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    where = list(error.absolute_path)
    line = _line_at(doc, where)
    dotted = ".".join(str(p) for p in where) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance,
                                                                         dict) else []
        if extra:
            line = _line_at(doc, [*where, extra[0]])
        raise _fail(path, line, f"unknown field {', '.join(map(repr, extra))} in {dotted}",
                    f"use one of: {', '.join(allowed)}")
    if error.validator == "required":
        raise _fail(path, line, f"{dotted}: {error.message}", "add the missing field")
    if error.validator == "oneOf" and not error.context:
        raise _fail(path, line, f"{dotted}: needs exactly one condition kind",
                    f"use one of {', '.join(KINDS)} (or an all: list), not several")
    raise _fail(path, line, f"{dotted}: {error.message}",
                "see rules/schema.json for the allowed values")


# --- compiled rules --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated, compiled rule."""

    id: str
    name: str
    category: str
    description: str
    references: tuple[str, ...]
    conditions: tuple[Condition, ...]
    unless: tuple[Leaf, ...] = ()
    threshold: float = 0.5
    scope: Literal["first-party", "any"] = "any"
    hop: str | None = None
    component: str | None = None
    supersedes: tuple[str, ...] = ()
    attribute_paths: bool = False
    path: Path | None = None
    digest: str = ""

    @property
    def role(self) -> str | None:
        """Hop role in the infrastructure chain, from ``hop`` or the category."""
        return self.hop or HOP_ROLES.get(self.category)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules by id, built-ins overridden by user rules."""

    rules: tuple[Rule, ...]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def subset(self, ids: Iterable[str]) -> RuleSet:
        wanted = set(ids)
        return RuleSet(tuple(r for r in self.rules if r.id in wanted))

    @property
    def digest(self) -> str:
        """sha256 over every rule's id and file bytes: stored with an analysis so that a
        report can tell that it was made with other rules."""
        h = hashlib.sha256()
        for rule in self.rules:
            h.update(f"{rule.id}\0{rule.digest}\0".encode())
        return h.hexdigest()


def _flags_for(kind: str) -> int:
    # Header values, hosts, content types and methods are case-insensitive on the wire
    # (RFC 9110 §5.1, §8.3.1; hosts RFC 3986 §3.2.2); paths, cookie names and bodies are not.
    if kind in ("response_header", "request_header", "host", "content_type"):
        return re.IGNORECASE
    return 0


def _compile(pattern: str, kind: str, path: Path, line: int) -> re.Pattern[str]:
    why = unsafe_regex_shape(pattern)
    if why is not None:
        raise _fail(path, line, f"pattern {pattern!r} is unsafe: {why}",
                    "rewrite it without nested or alternating repeats, e.g. (^|\\.)example\\.com$")
    try:
        return re.compile(pattern, _flags_for(kind))
    except re.error as exc:
        raise _fail(path, line, f"pattern {pattern!r} does not compile: {exc}",
                    "fix the regular expression (Python re syntax)") from None


_DEFAULT_WHERE = {"json_key": "any", "body": "request", "content_type": "response",
                  "query_key": "url"}
_ALLOWED_WHERE = {
    "json_key": {"request", "response", "any", "events"},
    "body": {"request", "response", "any"},
    "content_type": {"request", "response", "any"},
    "query_key": {"url", "body", "any"},
}


def _leaf(spec: _Map, path: Path) -> Leaf:
    kind = next(k for k in KINDS if k in spec)
    raw = spec[kind]
    line = spec.key_lines.get(kind, spec.line)
    value = spec.get("value")
    where = spec.get("in", _DEFAULT_WHERE.get(kind, "any"))
    if "in" in spec and where not in _ALLOWED_WHERE.get(kind, set()):
        allowed = sorted(_ALLOWED_WHERE.get(kind, set()))
        raise _fail(path, spec.key_lines["in"], f"'in: {where}' does not apply to {kind}",
                    f"use one of {', '.join(allowed)}" if allowed else "remove 'in'")
    if value is not None and kind not in ("response_header", "request_header", "query_key",
                                          "json_key"):
        raise _fail(path, spec.key_lines["value"], f"'value' does not apply to {kind}",
                    f"put the pattern in '{kind}:' itself")
    quote = bool(spec.get("quote", kind in ("response_header", "json_key") and value is not None))
    if "quote" in spec and spec["quote"] and kind == "cookie":
        raise _fail(path, spec.key_lines["quote"], "cookie values are never quoted",
                    "remove 'quote' (evidence names the cookie only)")
    pattern: re.Pattern[str] | None = None
    name = str(raw)
    if kind in ("cookie", "host", "path", "content_type", "body"):
        pattern = _compile(name, kind, path, line)
    elif value is not None:
        pattern = _compile(str(value), kind, path, spec.key_lines["value"])
    if kind in ("response_header", "request_header"):
        name = name.lower()
        if "*" in name[:-1]:
            raise _fail(path, line, f"header name {name!r} has '*' inside",
                        "a single trailing '*' makes a prefix (x-akamai-*); nothing else")
    return Leaf(kind=kind, name=name, pattern=pattern, where=where, quote=quote)


def _check_template(template: str, leaves: Sequence[Leaf], path: Path, line: int) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise _fail(path, line, f"evidence template is malformed: {exc}",
                    "escape literal braces as {{ and }}") from None
    unknown = fields - _TEMPLATE_FIELDS
    if unknown:
        raise _fail(path, line, f"evidence template uses unknown field(s) {sorted(unknown)}",
                    f"use only {sorted(_TEMPLATE_FIELDS)}")
    if "value" in fields and not all(leaf.quote for leaf in leaves):
        raise _fail(path, line, "evidence template quotes {value} of a condition that may "
                    "not be quoted", "set 'quote: true' (never for secrets) or drop {value}")


def _condition(spec: _Map, path: Path) -> Condition:
    has_kind = any(k in spec for k in KINDS)
    if "all" in spec and has_kind:
        raise _fail(path, spec.line, "a condition is either one test or an 'all:' group",
                    "move the test into the 'all:' list")
    if "all" in spec:
        for key in ("value", "in", "quote"):
            if key in spec:
                raise _fail(path, spec.key_lines[key], f"'{key}' belongs inside 'all:' items",
                            "move it to the test it refines")
        leaves = tuple(_leaf(item, path) for item in spec["all"])
    else:
        leaves = (_leaf(spec, path),)
    template = spec.get("evidence")
    if template is not None:
        _check_template(template, leaves, path, spec.key_lines["evidence"])
    return Condition(
        leaves=leaves,
        weight=float(spec["weight"]),
        supporting=bool(spec.get("supporting", False)),
        propagated=bool(spec.get("propagated", False)),
        evidence=template,
        line=spec.line,
        composite="all" in spec,
    )


def _exclude_named(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    """Keep a header prefix (``x-envoy-*``) from re-counting headers named exactly elsewhere."""
    named = {(leaf.kind, leaf.name) for c in conditions for leaf in c.leaves if not leaf.prefix}
    out = []
    for cond in conditions:
        leaves = tuple(
            replace(leaf, exclude=frozenset(n for k, n in named if k == leaf.kind))
            if leaf.prefix else leaf for leaf in cond.leaves)
        out.append(replace(cond, leaves=leaves))
    return tuple(out)


def _rule_id(path: Path, root: Path) -> tuple[str, str]:
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.parent.name) / path.name
    if len(rel.parts) != 2:
        raise _fail(path, 1, "a rule file must sit at <rules dir>/<area>/<stem>.yaml",
                    "move it into its category's directory (rules/cdn/cloudflare.yaml)")
    area, stem = rel.parts[0], rel.name[: -len(".yaml")]
    if not _STEM.match(stem) or not _STEM.match(area):
        raise _fail(path, 1, f"rule id {area}.{stem} is not lowercase letters, digits and '_'",
                    "rename the file")
    return area, f"{area}.{stem}"


def load_rule_file(path: Path, root: Path) -> Rule:
    """Read, validate and compile one rule file; the id comes from its place under ``root``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(path, 1, f"cannot read: {exc.strerror or exc}", "check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, 1, "not UTF-8", "save the file as UTF-8") from None
    area, rule_id = _rule_id(path, root)
    doc = parse_yaml(text, path)
    if not isinstance(doc, _Map):
        raise _fail(path, 1, "a rule file must be a mapping", "start with 'name:'")
    _schema_check(doc, path, "rule")
    category = doc["category"]
    if category != area:
        raise _fail(path, doc.key_lines["category"],
                    f"category {category!r} does not match directory {area!r}",
                    f"set 'category: {area}' or move the file to rules/{category}/")
    if category not in CATEGORIES:
        raise _fail(path, doc.key_lines["category"], f"unknown category {category!r}",
                    f"use one of {', '.join(CATEGORIES)}")
    conditions = _exclude_named(tuple(_condition(spec, path) for spec in doc["match"]))
    if all(c.supporting for c in conditions):
        raise _fail(path, doc.key_lines["match"], "every condition is 'supporting'",
                    "mark at least one vendor-specific condition as not supporting")
    unless = tuple(_leaf(spec, path) for spec in doc.get("unless", ()))
    default_scope = "first-party" if category in FIRST_PARTY_CATEGORIES else "any"
    return Rule(
        id=rule_id,
        name=doc["name"],
        category=category,
        description=" ".join(str(doc["description"]).split()),
        references=tuple(doc["references"]),
        conditions=conditions,
        unless=unless,
        threshold=float(doc.get("threshold", 0.5)),
        scope=doc.get("scope", default_scope),
        hop=doc.get("hop"),
        component=doc.get("component"),
        supersedes=tuple(doc.get("supersedes", ())),
        attribute_paths=bool(doc.get("attribute_paths", False)),
        path=path,
        digest=hashlib.sha256(data).hexdigest(),
    )


def _rule_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise RuleError(f"{root}:1: not a directory of rules; pass a directory laid out as "
                        "<area>/<stem>.yaml")
    return sorted(p for p in root.rglob("*.yaml") if not p.name.endswith(_CASES_SUFFIX))


def load_rules(builtin: Path | None = None, extra: Sequence[Path] = ()) -> RuleSet:
    """Built-in rules, then each ``extra`` directory; later rules replace earlier ones by id."""
    by_id: dict[str, Rule] = {}
    for root in [builtin if builtin is not None else builtin_rules_dir(), *extra]:
        for path in _rule_files(root):
            rule = load_rule_file(path, root)
            by_id[rule.id] = rule
    for rule in by_id.values():
        for target in rule.supersedes:
            if target not in by_id:
                raise RuleError(f"{rule.path}:1: supersedes unknown rule {target!r}; "
                                "name an existing rule id (<area>.<stem>)")
    return RuleSet(tuple(sorted(by_id.values(), key=lambda r: r.id)))


# --- test cases beside each rule -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleCase:
    """One ``.cases.yaml`` entry: exchanges and whether the rule should fire on them."""

    rule_id: str
    name: str
    expect: Literal["match", "no-match", "todo"]
    observations: tuple[Observation, ...]
    line: int
    note: str | None = None
    also: tuple[str, ...] = ()


def _header_pairs(spec: Any) -> tuple[tuple[str, str], ...]:
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        return tuple((str(k), str(v)) for k, v in spec.items())
    return tuple((str(k), str(v)) for k, v in spec)


def _body_bytes(spec: Any) -> bytes | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        return spec.encode()
    return json.dumps(spec, separators=(",", ":")).encode()


def observation_from_case(spec: Mapping[str, Any], index: int = 0) -> Observation:
    """An :class:`Observation` from a case's ``exchange`` mapping (bodies already decoded)."""
    request_headers = _header_pairs(spec.get("request_headers"))
    response_headers = _header_pairs(spec.get("response_headers"))
    status = spec.get("status", 200)
    request_data = _body_bytes(spec.get("request_body"))
    response_data = _body_bytes(spec.get("response_body"))
    events: list[StreamEvent] = []
    for i, event in enumerate(spec.get("sse_events") or ()):
        if isinstance(event, str):
            events.append(StreamEvent(index=i, type="message", data=event))
        else:
            data = event["data"]
            text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
            events.append(StreamEvent(index=i, type=event.get("type", "message"), data=text))
    exchange = Exchange(
        index=index,
        method=spec.get("method", "GET"),
        url=spec["url"],
        protocol="h2",
        status=status,
        request_headers=request_headers,
        response_headers=response_headers if status is not None else (),
        request_body=Body(data=request_data) if request_data is not None else None,
        response_body=Body(data=response_data) if response_data is not None else None,
        resource_type=spec.get("resource_type"),
    )
    return Observation(
        exchange=exchange,
        request=(DecodedBody(data=request_data, status="ok")
                 if request_data is not None else None),
        response=(DecodedBody(data=response_data, status="ok")
                  if response_data is not None and status is not None else None),
        transport="sse" if events else None,
        events=tuple(events),
    )


def cases_path(rule: Rule) -> Path | None:
    """Where a rule's cases live (``<stem>.cases.yaml`` beside it)."""
    if rule.path is None:
        return None
    return rule.path.with_name(rule.path.name[: -len(".yaml")] + _CASES_SUFFIX)


def load_cases(rule: Rule) -> list[RuleCase]:
    """The validated cases of ``rule``; a missing file is an error (every rule needs cases)."""
    path = cases_path(rule)
    if path is None or not path.is_file():
        raise RuleError(f"{rule.path}:1: no {_CASES_SUFFIX} beside the rule; add one with at "
                        "least one 'match' and one 'no-match' case")
    doc = parse_yaml(path.read_text(encoding="utf-8"), path)
    _schema_check(doc, path, "cases")
    kinds = {case["expect"] for case in doc}
    if not {"match", "no-match"} <= kinds:
        raise _fail(path, 1, "cases need at least one 'match' and one 'no-match'",
                    "add the missing kind (a realistic near miss for no-match)")
    cases = []
    for pos, case in enumerate(doc):
        specs = case["exchanges"] if "exchanges" in case else [case["exchange"]]
        cases.append(RuleCase(
            rule_id=rule.id,
            name=case["name"],
            expect=case["expect"],
            observations=tuple(observation_from_case(s, i) for i, s in enumerate(specs)),
            line=doc.item_lines[pos],
            note=case.get("note"),
            also=tuple(case.get("also", ())),
        ))
    return cases
