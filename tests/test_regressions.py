"""Replay the regression corpus: inputs that once crashed or hung archcmp (issue 8).

``tests/regressions/<area>/<input>``: ``<area>`` names a fuzz target of ``fuzz/targets.py``
(``har``, ``wire``, ``tls``, ``http1``, ``http2``, ``quic``, ``h3``, ``content``, ``stream``,
``keylog``) and the input is fed to it exactly as the atheris harness fed it; only
:class:`~archcmp.errors.ArchcmpError` may come out. New crashes from ``fuzz/`` go here with a
name that says what broke.

``tests/regressions/rules/<case>/``: a ``--rules`` directory whose pattern backtracks
catastrophically; ``archcmp rules list --rules DIR`` must refuse it with exit 2 and one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.targets import TARGETS, run

ROOT = Path(__file__).resolve().parent / "regressions"
INPUTS = sorted(p for area in TARGETS for p in (ROOT / area).glob("*") if p.is_file())
RULE_DIRS = sorted(p for p in (ROOT / "rules").iterdir() if p.is_dir())


def test_every_area_is_a_target() -> None:
    areas = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert areas <= {*TARGETS, "rules"}, areas - {*TARGETS, "rules"}


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_replay(path: Path) -> None:
    run(path.parent.name, path.read_bytes())


def test_jwt_segment_with_deep_json_header_is_not_a_jwt() -> None:
    """A JWT-shaped path segment whose header is JSON nested past the parser's recursion
    limit: ``json.loads`` raised RecursionError through path templating (exit 1, traceback).
    It is now just not a JWT."""
    from archcmp.classify.paths import template_path

    har = (ROOT / "har" / "jwt-path-segment-deep-json-header.har").read_text()
    url = har.split('"url": "', 1)[1].split('"', 1)[0]
    path = "/" + url.split("/", 3)[3]
    assert template_path(path).startswith("/api/")


@pytest.mark.parametrize("rules", RULE_DIRS, ids=lambda p: p.name)
def test_redos_rule_is_refused(rules: Path) -> None:
    from typer.testing import CliRunner

    from archcmp.cli import app

    result = CliRunner().invoke(app, ["rules", "list", "--rules", str(rules)],
                                catch_exceptions=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "is unsafe" in lines[0]


def test_redos_rule_is_refused_by_the_installed_command() -> None:
    """The same through ``python -m archcmp``: one line, exit 2, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "archcmp", "rules", "list", "--rules", str(RULE_DIRS[0])],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_to_har_survives_an_unclosed_ipv6_bracket(tmp_path: Path) -> None:
    """urlsplit raised ValueError while exporting the exchange's query string."""
    from typer.testing import CliRunner

    from archcmp.cli import app

    src = Path(__file__).parent / "regressions" / "wire" / "host-header-unclosed-ipv6-bracket.pcap"
    result = CliRunner().invoke(app, ["redact", str(src), "--to-har", "-o",
                                      str(tmp_path / "x.har")])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "x.har").is_file()
