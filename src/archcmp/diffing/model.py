"""The diff's records and its level policy as data.

Every change comes from one *check* (``services.removed.api``, ``streams.event_removed``…) and
its level is looked up in :data:`POLICY`, never written at the call site, so the table in
:mod:`archcmp.diff`'s docstring, this mapping and the code cannot drift apart (a test compares
the docstring with this mapping). The idea is oasdiff's: a catalogue of named checks, each with
one severity, and ``--fail-on LEVEL`` failing on anything at or above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AREAS",
    "KINDS",
    "LEVELS",
    "POLICY",
    "Change",
    "Diff",
    "Kind",
    "Level",
    "level_rank",
]

Level = Literal["info", "warning", "breaking"]
Kind = Literal["added", "removed", "changed"]

#: Levels from least to most severe; ``--fail-on L`` fails on L and everything after it.
LEVELS: tuple[Level, ...] = ("info", "warning", "breaking")
KINDS: tuple[Kind, ...] = ("removed", "changed", "added")

#: Areas in the order reports list them: the API contract first, then the platform under it,
#: then performance, which is the noisiest.
AREAS: tuple[str, ...] = (
    "services",
    "endpoints",
    "streams",
    "api_styles",
    "auth",
    "id_formats",
    "infrastructure",
    "vendors",
    "protocols",
    "encodings",
    "latency",
)

#: check id → level. The reasons are in :mod:`archcmp.diff`'s docstring, one row per check.
POLICY: Mapping[str, Level] = {
    "services.removed.api": "breaking",
    "services.removed.web": "warning",
    "services.removed.other": "info",
    "services.moved.api": "breaking",
    "services.moved.web": "warning",
    "services.moved.other": "info",
    "services.added": "info",
    "services.regrouped": "info",
    "endpoints.removed.api": "breaking",
    "endpoints.removed.web": "warning",
    "endpoints.removed.other": "info",
    "endpoints.added": "info",
    "streams.stopped": "breaking",
    "streams.transport": "breaking",
    "streams.schema": "breaking",
    "streams.delta_format": "breaking",
    "streams.terminator": "breaking",
    "streams.event_removed": "breaking",
    "streams.event_added": "info",
    "streams.encoding": "info",
    "streams.added": "info",
    "api_styles.removed": "breaking",
    "api_styles.operation_removed": "breaking",
    "api_styles.added": "info",
    "api_styles.operation_added": "info",
    "auth.replaced": "breaking",
    "auth.added": "warning",
    "auth.removed": "warning",
    "auth.weakened": "warning",
    "auth.hardened": "info",
    "id_formats.kind": "breaking",
    "id_formats.prefix": "breaking",
    "id_formats.version": "warning",
    "id_formats.added": "info",
    "id_formats.removed": "info",
    "infrastructure.edge_added": "warning",
    "infrastructure.edge_removed": "warning",
    "infrastructure.edge_replaced": "warning",
    "infrastructure.reordered": "warning",
    "infrastructure.inner_added": "info",
    "infrastructure.inner_removed": "info",
    "infrastructure.inner_replaced": "info",
    "infrastructure.detail": "info",
    "vendors.added": "info",
    "vendors.removed": "info",
    "vendors.confidence": "info",
    "protocols.removed": "warning",
    "protocols.added": "info",
    "protocols.share": "info",
    "encodings.removed": "warning",
    "encodings.identity_removed": "info",
    "encodings.added": "info",
    "latency.regression": "warning",
    "latency.regression_few_samples": "info",
    "latency.improvement": "info",
    "latency.class_added": "info",
    "latency.class_removed": "info",
}


def level_rank(level: str) -> int:
    """0 for info, 1 for warning, 2 for breaking."""
    return LEVELS.index(level)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One difference between the base and the head analysis.

    ``before`` and ``after`` are JSON values (None on the side where the thing is absent), so
    the JSON output can carry them as they are; they may be dicts, so a Change is not hashable.
    """

    area: str
    """One of :data:`AREAS`."""
    kind: Kind
    """``added`` (only in head), ``removed`` (only in base) or ``changed`` (in both, different)."""
    level: Level
    """``POLICY[check]``: how much a client of the base could notice."""
    subject: str
    """What changed, by a key stable across captures: a service name and host, ``METHOD
    template``, a vendor name, a protocol; never an exchange id."""
    before: Any
    after: Any
    message: str
    """One line, without the subject, that a reader understands without the before/after."""
    evidence: tuple[str, ...] = ()
    """Short facts from the documents behind the change (templates, counts, evidence lines)."""
    check: str = ""
    """The policy entry that produced the change (a key of :data:`POLICY`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Diff:
    """Every change from ``base`` to ``head``, in report order, plus notes on comparability."""

    base: Mapping[str, Any]
    """The base capture: ``name``, ``label``, ``sha256``, ``producer``, ``tool_version``,
    ``schema`` (None when the document does not say)."""
    head: Mapping[str, Any]
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    """Things that limit the comparison (different archcmp versions, capture producers), which
    are not changes of the app and so never affect the exit code."""
