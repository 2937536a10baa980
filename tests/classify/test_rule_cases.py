"""Run every ``rules/**/<stem>.cases.yaml`` (semgrep-rules style tests beside each rule).

``match`` cases must fire their rule and no other rule of the same category (unless listed
under ``also``); ``no-match`` cases — realistic near misses — must not fire it; ``todo`` cases
record known misses and are reported as expected failures.
"""

from __future__ import annotations

import pytest

from archcmp.classify.engine import run_cases
from archcmp.classify.rules import RuleCase, load_cases, load_rules

RULES = load_rules()
CASES: list[RuleCase] = [case for rule in RULES for case in load_cases(rule)]


def _id(case: RuleCase) -> str:
    return f"{case.rule_id}:{case.expect}:{case.name}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_rule_case(case: RuleCase) -> None:
    (result,) = [r for r in run_cases(RULES, [case.rule_id]) if r.case == case.name]
    if case.expect == "todo":
        if not result.fired:
            pytest.xfail(f"known miss: {case.note}")
        return
    assert result.passed, f"{result.location}: {result.detail}"


def test_every_rule_has_both_kinds_of_case() -> None:
    for rule in RULES:
        kinds = {case.expect for case in CASES if case.rule_id == rule.id}
        assert {"match", "no-match"} <= kinds, rule.id


def test_case_counts() -> None:
    assert len(CASES) >= 2 * len(RULES)
    assert sum(c.expect == "no-match" for c in CASES) >= len(RULES)


def test_run_cases_reports_failures() -> None:
    """``archcmp rules test`` relies on run_cases flagging a wrong expectation."""
    rule = RULES.get("cdn.cloudflare")
    assert rule is not None
    results = run_cases(RULES, ["cdn.cloudflare"])
    assert results and all(r.passed for r in results)
    assert all(r.location.endswith(tuple(f":{n}" for n in range(1, 500))) for r in results)
    matched = [r for r in results if r.expect == "match"]
    assert all(r.fired and r.confidence is not None for r in matched)
