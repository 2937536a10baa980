"""Time and memory of ``archcmp analyze`` beside its peers on the same HAR, in one run.

Each contender runs in its own process; wall time is measured around it and peak RSS comes from
the kernel's ``ru_maxrss`` for that process (``os.wait4``), so the numbers are comparable. Peers:

- ``ijson walk``: ijson's C backend iterating ``log.entries`` and touching each URL (the floor
  for a streaming reader);
- ``orjson parse``: one ``orjson.loads`` of the whole file (what whole-file tools pay);
- ``haralyzer``: ``HarParser`` load and a walk over every entry (what people use today).

    python benchmarks/run_har.py big.har [--store /tmp/bench.db]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEERS = {
    "ijson walk": (
        "import ijson,sys\n"
        "n=0\n"
        "with open(sys.argv[1],'rb') as f:\n"
        "    for e in ijson.items(f,'log.entries.item',use_float=True):\n"
        "        n+=len(e['request']['url'])\n"
    ),
    "orjson parse": (
        "import orjson,sys\n"
        "d=orjson.loads(open(sys.argv[1],'rb').read())\n"
        "n=sum(len(e['request']['url']) for e in d['log']['entries'])\n"
    ),
    "haralyzer": (
        "import json,sys\n"
        "from haralyzer import HarParser\n"
        "p=HarParser(json.loads(open(sys.argv[1],'rb').read()))\n"
        "n=sum(len(e.url) for page in p.pages for e in page.entries)\n"
    ),
}


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("har", type=Path)
    parser.add_argument("--skip", action="append", default=[], help="peer to skip")
    args = parser.parse_args()
    size_mb = args.har.stat().st_size / 1e6
    results: dict[str, tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["archcmp analyze"] = measure([
            sys.executable, "-m", "archcmp", "analyze", str(args.har), "--quiet",
            "--store", str(Path(tmp) / "bench.db"),
        ])
    for name, code in PEERS.items():
        if name in args.skip:
            continue
        results[name] = measure([sys.executable, "-c", code, str(args.har)])
    floor = results.get("ijson walk", results["archcmp analyze"])[0]
    orjson = results.get("orjson parse")
    print(f"{args.har.name}: {size_mb:.1f} MB")
    print(f"{'contender':<18}{'wall s':>9}{'peak RSS MiB':>14}{'× ijson':>9}"
          f"{'× orjson':>10}{'exit':>6}")
    for name, (wall, rss, code) in results.items():
        vs_orjson = f"{wall / orjson[0]:.2f}" if orjson else "—"
        print(f"{name:<18}{wall:>9.2f}{rss:>14.1f}{wall / floor:>9.2f}{vs_orjson:>10}{code:>6}")


if __name__ == "__main__":
    main()
