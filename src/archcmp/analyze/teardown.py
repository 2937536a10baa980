"""Every analyser over one stream of observations, and their results as document sections.

The pipeline hands each decoded exchange to :meth:`Teardown.observe` once; each analyser keeps
only small state. Two analysers need another's answer: the service map names first-party paths
after the vendor the rules engine attributed them to (known only at the end, when a rule's
confidence is settled), and the API-style analyser leaves out exchanges that matched a vendor
rule as they came (an SDK's endpoints do not speak for the app's API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from archcmp.analyze.api import ApiStyleAnalyzer
from archcmp.analyze.auth import AuthAnalyzer
from archcmp.analyze.datamodel import DataModelAnalyzer
from archcmp.analyze.ids import IdFormatCollector
from archcmp.analyze.infra import infrastructure_chain
from archcmp.analyze.latency import LatencyAnalyzer
from archcmp.analyze.services import ServiceMapper
from archcmp.analyze.stream_schema import StreamSchemaAnalyzer
from archcmp.classify.engine import Classifier
from archcmp.classify.rules import RuleSet
from archcmp.diagnostics import Diagnostics
from archcmp.model import Exchange, Observation, Page

__all__ = ["Teardown", "TeardownResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TeardownResult:
    """What the analysers found; exchange references are still file indexes."""

    fingerprints: list[dict[str, Any]]
    infrastructure: list[dict[str, Any]]
    services: list[dict[str, Any]]
    assignments: dict[int, tuple[str, str]]
    id_formats: list[dict[str, Any]]
    stream_schemas: dict[int, dict[str, Any]]
    api_styles: list[dict[str, Any]]
    auth: list[dict[str, Any]]
    security: dict[str, Any]
    data_model: dict[str, Any]
    latency: dict[str, Any]


@dataclass(slots=True)
class Teardown:
    """One capture's analysers, fed one observation at a time."""

    rules: RuleSet
    diag: Diagnostics
    _classifier: Classifier = field(init=False)
    _vendor_exchanges: set[int] = field(init=False, default_factory=set)
    _attributing: frozenset[str] = field(init=False)
    _services: ServiceMapper = field(init=False, default_factory=ServiceMapper)
    _ids: IdFormatCollector = field(init=False, default_factory=IdFormatCollector)
    _streams: StreamSchemaAnalyzer = field(init=False, default_factory=StreamSchemaAnalyzer)
    _api: ApiStyleAnalyzer = field(init=False)
    _auth: AuthAnalyzer = field(init=False, default_factory=AuthAnalyzer)
    _data: DataModelAnalyzer = field(init=False, default_factory=DataModelAnalyzer)
    _latency: LatencyAnalyzer = field(init=False, default_factory=LatencyAnalyzer)

    def __post_init__(self) -> None:
        self._classifier = Classifier(self.rules, diag=self.diag)
        self._attributing = frozenset(r.id for r in self.rules if r.attribute_paths)
        self._api = ApiStyleAnalyzer(exclude=self._is_vendor_exchange)

    def _is_vendor_exchange(self, exchange: Exchange) -> bool:
        return exchange.index in self._vendor_exchanges

    def observe(self, obs: Observation) -> None:
        matched = self._classifier.observe(obs)
        if self._attributing.intersection(matched):
            self._vendor_exchanges.add(obs.exchange.index)
        self._services.observe(obs)
        self._ids.observe(obs)
        if obs.transport is not None:
            self._streams.observe(obs)
        self._api.observe(obs)
        self._auth.observe(obs)
        self._data.observe(obs)
        self._latency.observe(obs)

    def result(self, pages: Sequence[Page]) -> TeardownResult:
        findings = self._classifier.findings()
        names = {f.rule: f.name for f in findings}
        vendors = {index: names[rule] for index, rule in
                   self._classifier.attributions(findings).items()}
        service_map = self._services.result(vendors=vendors)
        hops = infrastructure_chain(findings, self._classifier.hop_evidence())
        auth = self._auth.result()
        data = self._data.result()
        return TeardownResult(
            fingerprints=[
                {"category": f.category, "name": f.name, "confidence": f.confidence,
                 "evidence": list(f.evidence), "rule": f.rule,
                 "exchanges": list(f.exchanges), "hosts": list(f.hosts)}
                for f in findings
            ],
            infrastructure=[hop.to_dict() for hop in hops],
            services=service_map.services,
            assignments=service_map.assignments,
            id_formats=self._ids.result(),
            stream_schemas={s["exchange"]: s for s in self._streams.result()["streams"]},
            api_styles=self._api.result()["api_styles"],
            auth=auth["auth"],
            security={"tenancy": auth["tenancy"], "tls": auth["tls"], "http3": auth["http3"]},
            data_model=data,
            latency=self._latency.result(pages=pages)["latency"],
        )
