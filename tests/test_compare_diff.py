"""Issue 5's bar through the CLI: compare renders every section in md, html and the terminal
with no Python repr, no NaN and no empty table; diff's exit codes for CI."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archcmp.cli import app
from tests.conftest import SAMPLES

runner = CliRunner()

SECTIONS = ("Summary", "System Architecture", "Key Services", "Streaming Protocol Comparison",
            "Data Model Comparison", "Extension Ecosystem Comparison",
            "Performance Characteristics", "Observability", "Security Models",
            "Coverage Gaps", "Evidence")
#: What a leaked Python value looks like in rendered text.
LEAKS = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|\binf\b|\{'|\['|<archcmp\.|object at 0x")


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False,
                           env={"COLUMNS": "160"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def pair(shared: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A store with two alpha sessions and the shipped sample, by name."""
    store = tmp_path / "archcmp.db"
    alpha = shared / "captures" / "alpha"
    for name, path in (("alpha-h2", alpha / "chromium-h2" / "capture.har"),
                       ("alpha-h3", alpha / "chromium-h3" / "capture.har"),
                       ("sample", SAMPLES / "chat-chromium-h2.har")):
        code, _, err = run("analyze", path, "--name", name, "--store", store, "-q")
        assert code == 0, err
    return store, ["alpha-h2", "alpha-h3", "sample"]


def _tables_not_empty(markdown: str) -> None:
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            assert i + 1 < len(lines) and lines[i + 1].startswith("|"), lines[i - 1]


@pytest.mark.parametrize("names", [("alpha-h2", "alpha-h3"), ("alpha-h2", "sample")])
def test_compare_markdown(pair: tuple[Path, list[str]], names: tuple[str, str]) -> None:
    store, _ = pair
    code, out, err = run("compare", *names, "--format", "md", "--store", store)
    assert code == 0, err
    for section in SECTIONS:
        assert f"## {section}\n" in out
    assert not LEAKS.search(out), LEAKS.search(out)
    _tables_not_empty(out)
    assert out.count("```mermaid") == 2
    # every footnote used is defined, and every definition is used
    used = set(re.findall(r"\[\^(e\d+)\](?!:)", out))
    defined = set(re.findall(r"^\[\^(e\d+)\]:", out, re.M))
    assert used == defined and used


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.rows_per_table: list[int] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables += 1
            self.rows_per_table.append(0)
        elif tag == "tr" and self.rows_per_table:
            self.rows_per_table[-1] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_compare_html_and_terminal(pair: tuple[Path, list[str]], tmp_path: Path) -> None:
    store, _ = pair
    target = tmp_path / "cmp.html"
    code, out, err = run("compare", "alpha-h2", "sample", "--format", "html", "-o", target,
                         "--store", store)
    assert code == 0, err
    html = target.read_text()
    tags = _Tags()
    tags.feed(html)
    assert tags.tables >= 10
    assert all(rows >= 2 for rows in tags.rows_per_table)  # a header and at least one row
    text = " ".join(tags.text)
    for section in SECTIONS:
        assert section in text
    assert not LEAKS.search(text)
    assert "<script" not in html

    code, out, err = run("compare", "alpha-h2", "sample", "--store", store)
    assert code == 0, err
    for section in SECTIONS:
        assert section in out
    assert not LEAKS.search(out)
    assert "Cloudflare" in out


def test_compare_analyses_capture_files_and_needs_two(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "archcmp.db"
    har = shared / "captures" / "alpha" / "mitmproxy" / "capture.har"
    code, out, err = run("compare", har, SAMPLES / "chat-chromium-h2.har", "--format", "json",
                         "--store", store)
    assert code == 0, err
    assert [d["capture"]["producer"] for d in json.loads(out)["analyses"]] == [
        "mitmproxy", "playwright"]
    code, _, err = run("compare", "only-one", "--store", store)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_diff_exit_codes(pair: tuple[Path, list[str]]) -> None:
    store, _ = pair
    code, out, _ = run("diff", "alpha-h2", "alpha-h2", "--store", store)
    assert code == 0
    assert "no changes" in out
    for level in ("any", "info", "warning", "breaking"):
        assert run("diff", "alpha-h2", "alpha-h2", "--fail-on", level, "--store", store)[0] == 0

    code, out, _ = run("diff", "alpha-h2", "sample", "--store", store)
    assert code == 1
    assert "breaking" in out
    assert "Cloudflare" in out

    code, out, _ = run("diff", "alpha-h2", "sample", "--format", "json", "--store", store)
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "archcmp.diff/1"
    assert doc["summary"]["breaking"] > 0

    code, out, _ = run("diff", "alpha-h2", "alpha-h3", "--format", "md", "--fail-on",
                       "breaking", "--store", store)
    assert code == 0
    assert "h3" in out


@pytest.mark.parametrize("args", [
    ("--fail-on", "sometimes"),
    ("--latency-threshold", "fast"),
])
def test_diff_bad_arguments_exit_2_with_one_line(pair: tuple[Path, list[str]],
                                                 args: tuple[str, str]) -> None:
    store, _ = pair
    code, out, err = run("diff", "alpha-h2", "sample", *args, "--store", store)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_diff_unknown_ref_exits_2(pair: tuple[Path, list[str]]) -> None:
    store, _ = pair
    code, _, err = run("diff", "alpha-h2", "no-such-capture", "--store", store)
    assert code == 2
    assert "no-such-capture" in err
