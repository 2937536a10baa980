"""The pipeline's layering, checked on the source: lower stages never import higher ones.

``decode`` and ``ingest`` (bytes → records) know nothing of classification, the store, reports
or the CLI; nothing but ``cli`` and ``report`` touches rich; heavy libraries load lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "archcmp"

FORBIDDEN = {
    "decode": ("archcmp.store", "archcmp.report", "archcmp.cli", "archcmp.classify",
               "archcmp.analyze", "archcmp.diff"),
    "ingest": ("archcmp.store", "archcmp.report", "archcmp.cli", "archcmp.classify",
               "archcmp.analyze", "archcmp.diff"),
    "classify": ("archcmp.store", "archcmp.report", "archcmp.cli"),
    "analyze": ("archcmp.store", "archcmp.report", "archcmp.cli"),
}
HEAVY = ("pandas", "matplotlib", "aioquic", "jsonschema")


def _imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_stages_do_not_import_higher_ones(package: str) -> None:
    files = sorted((SRC / package).glob("*.py"))
    assert files
    for path in files:
        for name in _imports(path, top_level_only=False):
            assert not name.startswith(FORBIDDEN[package]), f"{path.name} imports {name}"


def test_only_cli_and_report_use_rich() -> None:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("cli.py", "report"):
            continue
        assert not any(n.startswith("rich") for n in _imports(path, top_level_only=False)), rel


def test_heavy_libraries_are_imported_lazily() -> None:
    for path in sorted(SRC.rglob("*.py")):
        top = _imports(path, top_level_only=True)
        assert not [n for n in top if n.split(".")[0] in HEAVY], path.relative_to(SRC)
