"""The example reports in ``reports/`` are what the current code makes from the samples.

Markdown is compared byte for byte. In HTML and the SVG figures, the plots' drawing depends on
the installed matplotlib and its fonts, so SVG bodies are compared by their text and structure
(element names, gids, every label), not by path coordinates.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from tests.conftest import REPO

_SVG = re.compile(r"<svg\b.*?</svg>", re.S)
_COORDS = re.compile(r'\s(?:d|points|transform|x|y|x1|x2|y1|y2|width|height|viewBox|style)='
                     r'"[^"]*"')


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_reports",
                                                  REPO / "reports" / "make_reports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_reports"] = module
    spec.loader.exec_module(module)
    return module


def _stable(text: str, suffix: str) -> str:
    if suffix in (".html", ".svg"):
        return _SVG.sub(lambda m: _COORDS.sub("", m.group(0)), text)
    return text


def test_example_reports_are_current(tmp_path: Path) -> None:
    fresh = _load_generator().generate(tmp_path)
    assert any(p.suffix == ".md" for p in fresh)
    committed = {p.relative_to(REPO / "reports") for p in (REPO / "reports").rglob("*")
                 if p.is_file() and p.suffix in (".md", ".html", ".svg")}
    made = {p.relative_to(tmp_path) for p in fresh}
    assert made == committed, "run: python reports/make_reports.py"
    for path, text in fresh.items():
        current = (REPO / "reports" / path.relative_to(tmp_path)).read_text(encoding="utf-8")
        assert _stable(current, path.suffix) == _stable(text, path.suffix), (
            f"{path.name} is stale: run python reports/make_reports.py")
