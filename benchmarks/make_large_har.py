"""Write a large HAR by replicating a real HAR's entries, for the speed and memory benchmarks.

Each copy of an entry gets a distinct URL (a ``?copy=N`` query) and a start time shifted by its
copy number, so nothing downstream can deduplicate the work. The file is written entry by entry,
so making a 500 MB HAR needs no more memory than the seed HAR.

    python benchmarks/make_large_har.py SEED.har OUT.har --size-mb 500
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def _vary(entry: dict[str, Any], copy: int) -> dict[str, Any]:
    clone = json.loads(json.dumps(entry))
    url = clone["request"]["url"]
    clone["request"]["url"] = f"{url}{'&' if '?' in url else '?'}copy={copy}"
    started = clone.get("startedDateTime")
    if started:
        try:
            when = datetime.fromisoformat(started.replace("Z", "+00:00"))
            clone["startedDateTime"] = (when + timedelta(seconds=copy)).isoformat()
        except ValueError:
            pass
    return clone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size-mb", type=float, default=100.0)
    args = parser.parse_args()

    seed = json.loads(args.seed.read_text(encoding="utf-8-sig"))
    log = seed["log"]
    entries = log["entries"]
    target = int(args.size_mb * 1024 * 1024)
    head = {k: v for k, v in log.items() if k != "entries"}
    with args.out.open("w", encoding="utf-8") as out:
        out.write('{"log": ')
        out.write(json.dumps(head)[:-1])
        out.write(', "entries": [\n')
        written = out.tell()
        copy = 0
        first = True
        while written < target:
            for entry in entries:
                text = json.dumps(_vary(entry, copy))
                if not first:
                    out.write(",\n")
                out.write(text)
                first = False
                written += len(text) + 2
            copy += 1
        out.write("\n]}}\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, "
          f"{copy * len(entries)} entries)")


if __name__ == "__main__":
    main()
