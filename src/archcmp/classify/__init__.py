"""Classification: rules as data (``rules/<area>/<stem>.yaml``) evaluated into findings.

``rules`` loads and validates rule files, ``conditions`` compiles and matches their tests,
``engine`` streams exchanges through them (:class:`Classifier`) and runs rule cases.
"""

from __future__ import annotations

from archcmp.classify.engine import CaseResult, Classifier, EvidenceItem, run_cases
from archcmp.classify.rules import (
    Rule,
    RuleCase,
    RuleSet,
    builtin_rules_dir,
    load_cases,
    load_rules,
    observation_from_case,
)

__all__ = [
    "CaseResult",
    "Classifier",
    "EvidenceItem",
    "Rule",
    "RuleCase",
    "RuleSet",
    "builtin_rules_dir",
    "load_cases",
    "load_rules",
    "observation_from_case",
    "run_cases",
]
