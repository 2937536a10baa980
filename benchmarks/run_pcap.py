"""Time and memory of ``archcmp analyze`` beside tshark on the same keyed capture, one run.

tshark's pass decrypts and dissects every packet and prints HTTP/2 and HTTP/1.1 fields (what
it takes to get at the exchanges with tshark); archcmp does the full analysis (decrypt,
reassemble, pair exchanges, decode bodies, classify, store). Peak RSS is the child's own
``ru_maxrss``.

    python benchmarks/run_pcap.py capture.pcapng [--keylog keys.log]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from run_har import measure  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--keylog", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "archcmp", "analyze", str(args.capture), "--quiet",
               "--store", str(Path(tmp) / "bench.db")]
        if args.keylog:
            cmd += ["--keylog", str(args.keylog)]
        results["archcmp analyze"] = measure(cmd)
    tshark = shutil.which("tshark")
    if tshark:
        cmd = [tshark, "-r", str(args.capture), "-T", "fields", "-e", "frame.number",
               "-e", "http2.streamid", "-e", "http2.header.value", "-e", "http.request.method",
               "-e", "http.response.code"]
        if args.keylog:
            cmd += ["-o", f"tls.keylog_file:{args.keylog}"]
        results["tshark fields"] = measure(cmd)
    size = args.capture.stat().st_size / 1e6
    print(f"{args.capture.name}: {size:.1f} MB")
    base = results.get("tshark fields", results["archcmp analyze"])[0]
    print(f"{'contender':<18}{'wall s':>9}{'peak RSS MiB':>14}{'× tshark':>10}{'exit':>6}")
    for name, (wall, rss, code) in results.items():
        print(f"{name:<18}{wall:>9.2f}{rss:>14.1f}{wall / base:>10.2f}{code:>6}")
    if "tshark fields" not in results:
        print("tshark not installed: apt-get install tshark")


if __name__ == "__main__":
    main()
