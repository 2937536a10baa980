"""Rule loading: strict YAML, schema validation, semantic checks, file:line errors, overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archcmp.classify.conditions import unsafe_regex_shape
from archcmp.classify.rules import (
    CATEGORIES,
    builtin_rules_dir,
    cases_path,
    load_cases,
    load_rule_file,
    load_rules,
    observation_from_case,
    parse_yaml,
)
from archcmp.errors import RuleError

GOOD = """\
name: Example CDN
category: cdn
hop: edge
description: A test rule.
references:
  - https://example.com/docs
match:
  - response_header: x-example-id
    weight: 0.9
"""

CASES = """\
- name: fires
  expect: match
  exchange:
    url: https://a.example.com/
    response_headers: {x-example-id: '1'}
- name: does not fire
  expect: no-match
  exchange:
    url: https://a.example.com/
"""


def write_rule(root: Path, rel: str, text: str, cases: str | None = CASES) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if cases is not None:
        path.with_name(path.name.replace(".yaml", ".cases.yaml")).write_text(cases)
    return path


def error_of(tmp_path: Path, text: str, rel: str = "cdn/example.yaml") -> str:
    path = write_rule(tmp_path, rel, text)
    with pytest.raises(RuleError) as info:
        load_rule_file(path, tmp_path)
    message = str(info.value)
    assert "\n" not in message, "a broken rule must give one line"
    return message


def test_good_rule_compiles_with_id_from_path(tmp_path: Path) -> None:
    path = write_rule(tmp_path, "cdn/example.yaml", GOOD)
    rule = load_rule_file(path, tmp_path)
    assert rule.id == "cdn.example"
    assert rule.category == "cdn"
    assert rule.role == "edge"
    assert rule.scope == "first-party"  # infrastructure rules default to the captured site
    assert rule.threshold == 0.5
    assert rule.conditions[0].leaves[0].name == "x-example-id"
    assert len(rule.digest) == 64


def test_duplicate_keys_are_rejected_with_line(tmp_path: Path) -> None:
    text = GOOD.replace("hop: edge\n", "hop: edge\nhop: lb\n")
    message = error_of(tmp_path, text)
    assert re.match(r".*cdn/example\.yaml:4: duplicate key 'hop' \(first at line 3\); ", message)


def test_duplicate_keys_inside_a_condition(tmp_path: Path) -> None:
    text = GOOD + "    weight: 0.5\n"
    message = error_of(tmp_path, text)
    assert ":10: duplicate key 'weight' (first at line 9)" in message


def test_plain_safe_load_would_have_kept_the_last_duplicate() -> None:
    # The reason for the strict loader (style §9): PyYAML keeps the last value silently.
    import yaml

    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}
    with pytest.raises(RuleError, match="duplicate key 'a'"):
        parse_yaml("a: 1\na: 2\n", "x.yaml")


def test_unknown_field_names_line_and_allowed_fields(tmp_path: Path) -> None:
    text = GOOD.replace("    weight: 0.9\n", "    wieght: 0.9\n    weight: 0.9\n")
    message = error_of(tmp_path, text)
    assert ":9: unknown field 'wieght'" in message
    assert "use one of:" in message and "weight" in message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "confidence: 0.9\n")
    assert ":10: unknown field 'confidence' in (top level)" in message


def test_missing_references(tmp_path: Path) -> None:
    text = GOOD.replace("references:\n  - https://example.com/docs\n", "")
    message = error_of(tmp_path, text)
    assert "'references' is a required property" in message


def test_weight_out_of_range(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("weight: 0.9", "weight: 1.5"))
    assert ":9: match.0.weight: 1.5 is greater than the maximum of 1" in message


def test_two_kinds_in_one_condition(tmp_path: Path) -> None:
    text = GOOD.replace("    weight: 0.9\n", "    host: x\\.example\\.com\n    weight: 0.9\n")
    message = error_of(tmp_path, text)
    assert "needs exactly one condition kind" in message or "is valid under each" in message


def test_bad_regex_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("    weight: 0.9\n", "    value: '^(unclosed'\n    weight: 0.9\n")
    message = error_of(tmp_path, text)
    assert ":9: pattern '^(unclosed' does not compile" in message
    assert "; fix the regular expression" in message


def test_catastrophic_regex_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("    weight: 0.9\n", "    value: '^(a+)+$'\n    weight: 0.9\n")
    message = error_of(tmp_path, text)
    assert ":9: pattern '^(a+)+$' is unsafe" in message


@pytest.mark.parametrize(
    ("pattern", "safe"),
    [
        (r"^cache-[a-z0-9-]+-[A-Z]{3,4}$", True),
        (r"(^|\.)segment\.io$", True),
        (r"^(HIT|MISS)$", True),
        (r"(?:ab){2,5}", True),
        (r"[(+]*x", True),  # quantifier inside a class is not a nested repeat
        (r"(a+)+$", False),
        (r"(a|ab)*c", False),
        (r"(?:[a-z]+\.)*example\.com", False),
        (r"(\w+)\1", False),
        (r"(?P<x>a)(?P=x)", False),
        (r"(x{2,})+", False),
    ],
)
def test_regex_shape(pattern: str, safe: bool) -> None:
    assert (unsafe_regex_shape(pattern) is None) is safe


def test_category_must_match_directory(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD, rel="tracing/example.yaml")
    assert "category 'cdn' does not match directory 'tracing'" in message


def test_category_must_be_in_vocabulary(tmp_path: Path) -> None:
    text = GOOD.replace("category: cdn", "category: widgets")
    message = error_of(tmp_path, text, rel="widgets/example.yaml")
    assert "unknown category 'widgets'" in message


def test_rule_file_must_sit_in_an_area(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD, rel="example.yaml")
    assert "must sit at <rules dir>/<area>/<stem>.yaml" in message


def test_template_fields_are_checked(tmp_path: Path) -> None:
    text = GOOD + "    evidence: 'seen {count} times'\n"
    assert "unknown field(s) ['count']" in error_of(tmp_path, text)


def test_template_may_not_quote_a_secret(tmp_path: Path) -> None:
    text = GOOD.replace("response_header: x-example-id", "request_header: x-example-key")
    text += "    evidence: 'key {value}'\n"
    assert "quotes {value} of a condition that may not be quoted" in error_of(tmp_path, text)


def test_cookie_values_are_never_quoted(tmp_path: Path) -> None:
    text = GOOD.replace("response_header: x-example-id", "cookie: session") + "    quote: true\n"
    assert "cookie values are never quoted" in error_of(tmp_path, text)


def test_only_supporting_conditions_is_an_error(tmp_path: Path) -> None:
    text = GOOD + "    supporting: true\n"
    assert "every condition is 'supporting'" in error_of(tmp_path, text)


def test_value_only_where_it_applies(tmp_path: Path) -> None:
    text = GOOD.replace("response_header: x-example-id", "host: example\\.com")
    text = text.replace("    weight: 0.9\n", "    value: x\n    weight: 0.9\n")
    assert "'value' does not apply to host" in error_of(tmp_path, text)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "  - [unclosed\n")
    assert re.search(r"example\.yaml:\d+: not valid YAML", message)


def test_user_rules_override_builtins_by_id(tmp_path: Path) -> None:
    builtin = tmp_path / "builtin"
    user = tmp_path / "user"
    write_rule(builtin, "cdn/example.yaml", GOOD)
    write_rule(builtin, "cdn/other.yaml", GOOD.replace("Example CDN", "Other"))
    write_rule(user, "cdn/example.yaml", GOOD.replace("Example CDN", "Mine"))
    rules = load_rules(builtin, [user])
    assert [r.id for r in rules] == ["cdn.example", "cdn.other"]
    example = rules.get("cdn.example")
    assert example is not None and example.name == "Mine"
    assert rules.digest != load_rules(builtin).digest


def test_missing_rules_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not a directory of rules"):
        load_rules(tmp_path / "absent")


def test_supersedes_must_name_a_rule(tmp_path: Path) -> None:
    write_rule(tmp_path, "cdn/example.yaml", GOOD + "supersedes: [cdn.nothing]\n")
    with pytest.raises(RuleError, match=r"supersedes unknown rule 'cdn\.nothing'"):
        load_rules(tmp_path)


def test_cases_need_match_and_no_match(tmp_path: Path) -> None:
    only_match = CASES.split("- name: does not fire")[0] + (
        "- name: again\n  expect: match\n  exchange: {url: 'https://a.example.com/'}\n")
    path = write_rule(tmp_path, "cdn/example.yaml", GOOD, cases=only_match)
    rule = load_rule_file(path, tmp_path)
    with pytest.raises(RuleError, match="at least one 'match' and one 'no-match'"):
        load_cases(rule)


def test_case_exchange_fields_are_validated(tmp_path: Path) -> None:
    bad = CASES.replace("    url: https://a.example.com/\n    response_headers",
                        "    uri: https://a.example.com/\n    response_headers", 1)
    path = write_rule(tmp_path, "cdn/example.yaml", GOOD, cases=bad)
    rule = load_rule_file(path, tmp_path)
    with pytest.raises(RuleError, match=r"example\.cases\.yaml:\d+: "):
        load_cases(rule)


def test_observation_from_case_builds_bodies_and_events() -> None:
    obs = observation_from_case({
        "url": "https://a.example.com/x?y=1",
        "method": "POST",
        "request_headers": [["Content-Type", "application/json"]],
        "request_body": {"a": 1},
        "response_body": "ok",
        "sse_events": [{"type": "ping", "data": {"t": 1}}, "[DONE]"],
    }, index=3)
    assert obs.exchange.index == 3
    assert obs.exchange.method == "POST"
    assert obs.exchange.request_headers == (("Content-Type", "application/json"),)
    assert obs.request is not None and obs.request.data == b'{"a":1}'
    assert obs.response is not None and obs.response.data == b"ok"
    assert [(e.type, e.data) for e in obs.events] == [("ping", '{"t":1}'), ("message", "[DONE]")]


def test_observation_without_response() -> None:
    obs = observation_from_case({"url": "https://a.example.com/", "status": None,
                                 "response_headers": {"server": "x"}})
    assert obs.exchange.status is None
    assert obs.exchange.response_headers == ()


# --- the shipped rules ------------------------------------------------------------------------


def test_builtin_rules_dir_is_the_checkout() -> None:
    root = builtin_rules_dir()
    assert (root / "schema.json").is_file()
    assert root.name == "rules"


def test_every_builtin_rule_loads_and_is_documented() -> None:
    rules = load_rules()
    assert len(rules) >= 60
    for rule in rules:
        assert rule.category in CATEGORIES
        assert rule.references and all(r.startswith("https://") for r in rule.references)
        assert len(rule.description) > 40, rule.id
        path = cases_path(rule)
        assert path is not None and path.is_file(), f"{rule.id} has no cases file"


def test_issue_coverage_is_complete() -> None:
    """Every vendor that issue 4 item 2 lists has a rule."""
    ids = {rule.id for rule in load_rules()}
    expected = {
        "cdn.cloudflare", "cdn.cloudfront", "cdn.fastly", "cdn.akamai", "cdn.azure_front_door",
        "cdn.google_cloud_cdn", "cdn.vercel", "cdn.netlify", "cdn.bunny",
        "cloud.gcp", "load_balancer.aws_alb", "cloud.aws_api_gateway", "cloud.azure",
        "cloud.heroku", "cloud.fly_io",
        "service_mesh.envoy", "service_mesh.istio", "service_mesh.linkerd", "web_server.nginx",
        "web_server.caddy", "web_server.apache", "web_server.kong", "web_server.traefik",
        "web_server.haproxy",
        "tracing.w3c_trace_context", "tracing.b3", "tracing.honeycomb", "tracing.datadog",
        "tracing.sentry", "tracing.aws_xray", "tracing.google_cloud_trace",
        "analytics.segment", "analytics.amplitude", "analytics.mixpanel",
        "analytics.google_analytics", "analytics.posthog", "analytics.heap",
        "analytics.rudderstack",
        "feature_flags.statsig", "feature_flags.launchdarkly", "feature_flags.optimizely",
        "feature_flags.split", "feature_flags.growthbook", "feature_flags.unleash",
        "rum.datadog_rum", "error_tracking.sentry", "rum.new_relic", "error_tracking.bugsnag",
        "error_tracking.rollbar", "rum.app_insights",
        "push.fcm", "push.web_push", "push.onesignal",
        "anti_abuse.turnstile", "anti_abuse.cloudflare_bot_management", "anti_abuse.recaptcha",
        "anti_abuse.hcaptcha", "anti_abuse.arkose", "anti_abuse.sentinel_pow",
        "framework.nextjs", "api_client.apollo", "ai_streaming.vercel_ai_sdk",
    }
    assert expected <= ids, sorted(expected - ids)


def test_rules_never_mention_the_demo_app() -> None:
    """Rules describe vendors, not alpha: no alpha-specific names or paths in any rule file."""
    for path in builtin_rules_dir().rglob("*.yaml"):
        if path.name.endswith(".cases.yaml"):
            continue
        text = path.read_text(encoding="utf-8").lower()
        for word in ("localhost", "anthropic", "claude", "chat_conversations", "/v1/t'",
                     "sessionkey"):
            assert word not in text, f"{path}: mentions {word!r}"
