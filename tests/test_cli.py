"""End to end through the CLI on real captures: exit codes, stdout/stderr discipline, the store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archcmp.cli import app
from archcmp.schema import validation_errors

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False,
                           env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "archcmp.db"


@pytest.fixture()
def alpha_har(shared: Path) -> Path:
    return shared / "captures" / "alpha" / "chromium-h2" / "capture.har"


def test_analyze_json_is_a_valid_document(alpha_har: Path, store: Path) -> None:
    code, out, err = run("analyze", alpha_har, "--json", "--store", store)
    assert code == 0, err
    doc = json.loads(out)
    assert validation_errors(doc) == []
    assert doc["capture"]["exchanges"] == 21
    assert doc["capture"]["producer"] == "playwright"
    assert doc["protocols"]["h2"] == 21


def test_second_analysis_is_a_no_op_unless_forced(alpha_har: Path, store: Path) -> None:
    assert run("analyze", alpha_har, "--store", store)[0] == 0
    code, out, _ = run("analyze", alpha_har, "--store", store)
    assert code == 0
    assert "already analysed" in out
    code, out, _ = run("analyze", alpha_har, "--store", store, "--force")
    assert code == 0
    assert "already analysed" not in out
    code, out, _ = run("list", "--store", store)
    assert code == 0
    assert sum("capture.har" in line for line in out.splitlines()) == 1


def test_report_defaults_to_latest_and_renders_markdown(alpha_har: Path, store: Path) -> None:
    assert run("analyze", alpha_har, "--name", "alpha", "--store", store)[0] == 0
    code, out, err = run("report", "--format", "md", "--store", store)
    assert code == 0, err
    assert out.startswith("# Architecture Teardown: alpha\n")
    for heading in ("## Summary", "## System Architecture", "## Key Services",
                    "## Streaming Protocol Comparison", "## Data Model Comparison",
                    "## Extension Ecosystem Comparison", "## Performance Characteristics",
                    "## Observability", "## Security Models", "## Protocols and Compression",
                    "## Coverage Gaps", "## Captures", "## Evidence"):
        assert heading in out
    assert "| **CDN** | Cloudflare[^e1] |" in out
    assert "HTTP/2" in out
    assert "`content_block_delta` ×" in out
    assert "```mermaid" in out
    code, out, _ = run("report", "alpha", "--format", "json", "--store", store)
    assert code == 0
    assert json.loads(out)["capture"]["label"] == "alpha"


def test_report_of_two_captures_has_one_column_each(shared: Path, store: Path) -> None:
    alpha = shared / "captures" / "alpha"
    for session in ("chromium-h2", "chromium-h3"):
        har = alpha / session / "capture.har"
        assert run("analyze", har, "--name", session, "--store", store)[0] == 0
    code, out, err = run("report", "chromium-h2", "chromium-h3", "--store", store)
    assert code == 0, err
    assert "| Aspect | chromium-h2 | chromium-h3 | Notes |" in out
    assert "| **Protocol** | HTTP/2 | HTTP/3 |" in out


def test_report_to_file(alpha_har: Path, store: Path, tmp_path: Path) -> None:
    assert run("analyze", alpha_har, "--store", store)[0] == 0
    target = tmp_path / "r.md"
    code, out, _ = run("report", "-o", target, "--store", store)
    assert code == 0
    assert out == ""
    assert target.read_text().startswith("# Architecture Teardown")


@pytest.mark.parametrize(("name", "fragment"), [
    ("mitmproxy__brokenfile.har", "JSON"),
    ("mitmproxy__har_extractor.har", "log"),
])
def test_broken_hars_exit_2_with_one_line(shared: Path, store: Path, name: str,
                                          fragment: str) -> None:
    code, out, err = run("analyze", shared / "corpus" / "har" / name, "--store", store)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert name in lines[0]
    assert fragment in lines[0]


def test_usage_errors_exit_2(tmp_path: Path, store: Path) -> None:
    code, _, err = run("analyze", tmp_path / "missing.har", "--store", store)
    assert code == 2
    assert "no such file" in err
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01garbage")
    code, _, err = run("analyze", garbage, "--store", store)
    assert code == 2
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run("report", "nothing-here", "--store", store)
    assert code == 2
    assert err.startswith("error: ")


def test_help_does_not_import_heavy_modules() -> None:
    probe = ("import sys, archcmp.cli\n"
             "heavy = [m for m in ('pandas', 'matplotlib', 'aioquic', 'jsonschema') "
             "if m in sys.modules]\n"
             "print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.startswith("archcmp ")
    code, out, _ = run("--help")
    assert code == 0
    for command in ("analyze", "list", "report"):
        assert command in out


def test_rules_list_and_test() -> None:
    code, out, _ = run("rules", "list")
    assert code == 0
    assert "cdn.cloudflare" in out
    assert "cdn/cloudflare.yaml" in out
    code, out, _ = run("rules", "test")
    assert code == 0
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed, 0 failed( \(\d+ known misses recorded as todo\))?",
                        summary), summary
    assert int(summary.split()[0]) >= 120
    code, out, _ = run("rules", "test", "cdn.cloudflare")
    assert code == 0
    code, _, err = run("rules", "test", "cdn.nonesuch")
    assert code == 2
    assert "cdn.nonesuch" in err


USER_RULE = """name: Example CDN
category: cdn
description: a user rule
references: [https://example.test/docs]
match:
  - response_header: x-example-cdn
    weight: 0.9
"""


def test_user_rules_add_to_the_builtins(tmp_path: Path, store: Path) -> None:
    (tmp_path / "rules" / "cdn").mkdir(parents=True)
    (tmp_path / "rules" / "cdn" / "example.yaml").write_text(USER_RULE)
    (tmp_path / "rules" / "cdn" / "example.cases.yaml").write_text(
        "- name: header\n  expect: match\n  exchange:\n    url: https://a.test/\n"
        "    response_headers: {x-example-cdn: '1'}\n"
        "- name: none\n  expect: no-match\n  exchange:\n    url: https://a.test/\n")
    code, out, _ = run("rules", "list", "--rules", tmp_path / "rules")
    assert code == 0
    assert "cdn.example" in out
    assert "cdn.cloudflare" in out
    code, out, err = run("rules", "test", "cdn.example", "--rules", tmp_path / "rules")
    assert code == 0, out + err


def test_broken_user_rule_is_one_line_with_file_and_line(tmp_path: Path, store: Path,
                                                         shared: Path) -> None:
    (tmp_path / "rules" / "cdn").mkdir(parents=True)
    broken = tmp_path / "rules" / "cdn" / "example.yaml"
    broken.write_text(USER_RULE + "    weight: 0.5\n")
    har = shared / "captures" / "alpha" / "chromium-h2" / "capture.har"
    for args in (("rules", "list"), ("rules", "test"), ("analyze", har, "--store", store)):
        code, _out, err = run(*args, "--rules", tmp_path / "rules")
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"{broken}:8: duplicate key 'weight'" in lines[0]


def test_redact_command(shared: Path, tmp_path: Path) -> None:
    folder = shared / "captures" / "alpha" / "chromium-h2"
    secrets = [s["value"] for s in json.loads((folder / "truth.json").read_text())["facts"]
               ["planted_secrets"]]
    out = tmp_path / "clean.har"
    code, stdout, err = run("redact", folder / "capture.har", "-o", out, "--salt", "s")
    assert code == 0, err
    text = out.read_text()
    assert not [s for s in secrets if s in text]
    assert len(json.loads(text)["log"]["entries"]) == 21
    again = tmp_path / "again.har"
    assert run("redact", folder / "capture.har", "-o", again, "--salt", "s")[0] == 0
    assert again.read_bytes() == out.read_bytes()

    har = tmp_path / "from-pcap.har"
    code, _, err = run("redact", folder / "capture-dsb.pcapng", "-o", har, "--to-har")
    assert code == 0, err
    store = tmp_path / "s.db"
    code, stdout, err = run("analyze", har, "--json", "--store", store)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["capture"]["exchanges"] == 21
    assert doc["capture"]["producer"] == "archcmp"
    assert not [s for s in secrets if s in har.read_text()]

    code, _, err = run("redact", folder / "capture.har", "-o", folder / "capture.har")
    assert code == 2 and err.startswith("error: ")
