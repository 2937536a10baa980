"""The malformed-input corpus, suricata-verify style: every case through the real CLI.

Each ``tests/malformed/<case>/`` holds ``input.*`` (a real capture, mutated by
``tests/malformed/make_corpus.py`` with a fixed seed), maybe ``keys.log``, and
``expected.json``. The case runs as ``python -m archcmp analyze INPUT [--keylog keys.log]
--json --store TMP`` in a subprocess, and must:

* exit 0 or 2, as expected, never with a traceback; on exit 2 say so in one line;
* report at least the expected count of each expected warning code, and the expected number
  of exchanges;
* peak at or below its RSS cap, which is never above the documented one
  (:data:`archcmp.limits.MAX_PEAK_RSS_MIB` + :data:`~archcmp.limits.PEAK_RSS_KIB_PER_EXCHANGE`
  per exchange).

Peak RSS comes from ``os.wait4``. Linux carries a process's high-water mark across fork and
exec, so a child of pytest (hundreds of MiB by now) would report pytest's peak, not its own:
the CLI is therefore started by a small launcher process, whose own children start from its
~15 MiB. The cases run two at a time; time is not asserted (``benchmarks/scaling.py`` shows
that it grows linearly).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from archcmp.limits import MAX_PEAK_RSS_MIB, PEAK_RSS_KIB_PER_EXCHANGE

CORPUS = Path(__file__).resolve().parent / "malformed"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())

#: Runs one command (argv[1:]), waits for it with os.wait4 and prints what the test needs as
#: one JSON line; the command's stdout (the document) is parsed here, not in pytest.
LAUNCHER = r"""
import json, os, subprocess, sys, tempfile
with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    proc = subprocess.Popen(sys.argv[1:], stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    warnings, exchanges, parsed = {}, None, False
    if code == 0:
        out.seek(0)
        document = json.load(out)
        warnings = {w["code"]: w["count"] for w in document["capture"]["warnings"]}
        exchanges = len(document["exchanges"])
        parsed = True
print(json.dumps({"exit": code, "stderr": stderr, "rss_kib": usage.ru_maxrss,
                  "warnings": warnings, "exchanges": exchanges, "parsed": parsed}))
"""


def _run(case: str, store: Path) -> dict[str, Any]:
    folder = CORPUS / case
    command = [sys.executable, "-m", "archcmp", "analyze", str(next(folder.glob("input.*"))),
               "--json", "--store", str(store)]
    if (folder / "keys.log").is_file():
        command += ["--keylog", str(folder / "keys.log")]
    env = dict(os.environ, TZ="UTC", NO_COLOR="1", COLUMNS="200")
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True,
                          text=True, env=env, timeout=600, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Future[dict[str, Any]]]:
    """Start every selected case at once, two at a time, slowest first; tests wait on theirs."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    expected = {case: json.loads((CORPUS / case / "expected.json").read_text())
                for case in selected}
    order = sorted(selected, key=lambda c: -(expected[c].get("exchanges") or 0))
    pool = ThreadPoolExecutor(max_workers=2)
    request.addfinalizer(pool.shutdown)
    root = tmp_path_factory.mktemp("malformed")
    return {case: pool.submit(_run, case, root / case / "archcmp.db") for case in order}


def test_corpus_is_small() -> None:
    sizes = {p: p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()}
    assert max(sizes.values()) <= 200 * 1024, max(sizes, key=sizes.__getitem__)
    assert sum(sizes.values()) <= 5 * 1024 * 1024
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES)
def test_case(case: str, runs: dict[str, Future[dict[str, Any]]]) -> None:
    expected = json.loads((CORPUS / case / "expected.json").read_text())
    seen = runs[case].result()
    stderr = seen["stderr"]
    assert seen["exit"] in (0, 2), stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert seen["exit"] == expected["exit"], stderr[-2000:]
    if seen["exit"] == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("error: ") and expected["stderr"] in lines[0]
    else:
        assert seen["parsed"]
        missing = {code: (count, seen["warnings"].get(code, 0))
                   for code, count in expected["warnings"].items()
                   if seen["warnings"].get(code, 0) < count}
        assert not missing, f"warning: (expected at least, seen) {missing}"
        if expected.get("exchanges") is not None:
            assert seen["exchanges"] == expected["exchanges"]
    rss_mib = seen["rss_kib"] / 1024
    documented = MAX_PEAK_RSS_MIB + (seen["exchanges"] or 0) * PEAK_RSS_KIB_PER_EXCHANGE / 1024
    assert expected["max_rss_mib"] <= documented
    assert rss_mib <= expected["max_rss_mib"], f"peak RSS {rss_mib:.0f} MiB"
