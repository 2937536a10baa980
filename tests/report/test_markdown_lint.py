"""Generated Markdown passes a Markdown linter (pymarkdown), as GitHub readers will see it.

MD013 (line length) is off: tables and diagrams are as wide as their content, which is what
GitHub renders; every other default rule applies.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.report.document import build_report
from archcmp.report.markdown import render_markdown
from tests.conftest import SAMPLES

REDACTOR = Redactor(key=b"m" * 32)


def _lint(text: str, tmp_path: Path) -> list[str]:
    target = tmp_path / "report.md"
    target.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--disable-rules", "md013", "scan", str(target)],
        capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_sample_teardown_lints_clean(tmp_path: Path) -> None:
    doc = analyze_capture(SAMPLES / "chat-chromium-h2.har", options=AnalyzeOptions(),
                          redactor=REDACTOR)
    assert _lint(render_markdown(build_report([doc])), tmp_path) == []


@pytest.mark.parametrize("har", [
    "captures/alpha/chromium-h3/capture.har",
    "corpus/har/haralyzer__cnn-chrome.har",
    "corpus/har/mitmproxy__websocket.har",
])
def test_comparisons_lint_clean(shared: Path, tmp_path: Path, har: str) -> None:
    docs = [analyze_capture(shared / har, options=AnalyzeOptions(), redactor=REDACTOR),
            analyze_capture(SAMPLES / "chat-chromium-h2.har", options=AnalyzeOptions(),
                            redactor=REDACTOR)]
    assert _lint(render_markdown(build_report(docs)), tmp_path) == []


def test_linter_catches_a_bad_document(tmp_path: Path) -> None:
    assert _lint("# A\n\n# A\n\n```\nx\n```\n", tmp_path)
