"""Record a sample HAR (and its truth file) from one of the sample chat apps.

Why this exists: archcmp's tests need HARs that a real browser wrote over real TLS, with
real compressed bodies and real streams, whose contents are known exactly.  This script
starts a flavour of the sample app (see ``app.py``) on a free 127.0.0.1 port, lets
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) load the page —
the page's own JS drives the whole chat flow — waits for the DOM marker the JS leaves at
the end, closes the browser context (which is when Playwright writes the HAR) and stops
the server.

The HAR is left exactly as Playwright wrote it: no post-processing.  The script only
*checks* it (``har_checks.py``); a recording is moved into ``samples/`` only when every
check passes, so a failed run never clobbers a committed pair.

The truth file is the server's own log of what it answered, not something written by
hand.  Usage::

    python samples/record/record.py                     # anthropic-like -> chat-chromium-h2.*
    python samples/record/record.py --flavour openai    # openai-like    -> chat-chromium-h1.*
    python samples/record/record.py --flavour all       # both
    python samples/record/record.py --verify-only       # check both committed pairs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

from app import DEFAULT_FLAVOUR, FLAVOURS
from app_server import Flavour, running_server
from har_checks import SAMPLES, summary, verify
from playwright.sync_api import sync_playwright

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def record(flavour: Flavour, har_path: Path, truth_path: Path, timeout_ms: int) -> dict[str, Any]:
    """Serve the app, let Chromium run the page's flow, write HAR and truth; return truth.

    ``truth.files.har`` names ``har_path``; the caller may move both files afterwards.
    """
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")
    with (
        running_server(flavour.make_app, list(flavour.alpn)) as server,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                record_har_path=str(har_path),
                record_har_content="embed",
                ignore_https_errors=True,
            )
            page = context.new_page()
            page.goto(f"{server.origin}/", wait_until="load")
            marker = page.wait_for_selector(
                "#done[data-status]", state="attached", timeout=timeout_ms
            )
            assert marker is not None
            page.wait_for_load_state("networkidle")  # every body read before the HAR is cut
            status = marker.get_attribute("data-status")
            dataset = page.evaluate("() => ({...document.getElementById('done').dataset})")
            context.close()  # this is what makes Playwright write the HAR
            browser_version = browser.version
        finally:
            browser.close()
        if status != "ok":
            raise SystemExit(f"page flow did not finish cleanly: {dataset!r}")
        served = server.app.served()
        versions: dict[str, int] = {}
        for r in served:
            versions[r["http_version"]] = versions.get(r["http_version"], 0) + 1
        truth: dict[str, Any] = {
            "schema": "archcmp-sample-truth/1",
            "about": (
                f"What {flavour.source} itself answered while "
                f"{har_path.name} was recorded, from the server's own request log. "
                "Field names follow the shared lab truth files where they overlap."
            ),
            "producer": flavour.producer,
            "producer_detail": (
                "Debian Chromium driven by Playwright; Playwright HAR recorder, content embedded"
            ),
            "origin": server.origin,
            "protocol_intended": flavour.protocol_intended,
            "protocols_served": versions,
            "files": {"har": har_path.name},
            "tools": _tool_versions(browser_version),
            "client": {"page_marker": dataset},
            "facts": server.app.facts(),
            "served": served,
        }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def _tool_versions(browser_version: str) -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "playwright": version("playwright"),
        "chromium": browser_version,
        "hypercorn": version("hypercorn"),
        "brotli": version("brotli"),
        "zstandard": version("zstandard"),
        "cryptography": version("cryptography"),
    }


def truth_path_for(har_path: Path) -> Path:
    return har_path.with_suffix(".truth.json")


def report(flavour: Flavour, har_path: Path, truth: dict[str, Any]) -> list[str]:
    """Print the per-entry summary and the checks; return the problems found."""
    truth_path = truth_path_for(har_path)
    print(f"[{flavour.name}] {summary(har_path)}")
    print(
        f"truth: {truth_path} ({truth_path.stat().st_size} bytes, "
        f"{len(truth['served'])} requests logged by the server)"
    )
    problems = verify(flavour, har_path, truth)
    for p in problems:
        print(f"PROBLEM [{flavour.name}]: {p}", file=sys.stderr)
    if not problems:
        print(f"checks [{flavour.name}]: ok")
    return problems


def record_and_place(flavour: Flavour, har_path: Path, timeout_ms: int) -> list[str]:
    """Record into a temp dir, check, and only then move the pair to ``har_path``."""
    staging = Path(tempfile.mkdtemp(prefix=f"archcmp-sample-{flavour.name}-"))
    staged_har = staging / har_path.name
    truth = record(flavour, staged_har, truth_path_for(staged_har), timeout_ms)
    problems = report(flavour, staged_har, truth)
    if problems:
        print(f"left the failed recording in {staging}", file=sys.stderr)
        return problems
    har_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged_har, har_path)
    shutil.move(truth_path_for(staged_har), truth_path_for(har_path))
    staging.rmdir()
    print(f"wrote {har_path} and {truth_path_for(har_path)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description="Record (or check) the sample chat HARs.")
    parser.add_argument(
        "--flavour",
        choices=[*sorted(FLAVOURS), "all"],
        help=f"which app to record (default {DEFAULT_FLAVOUR}; with --verify-only: all)",
    )
    parser.add_argument(
        "--out", type=Path, help="HAR to write or check (one flavour only; default under samples/)"
    )
    parser.add_argument("--timeout-ms", type=int, default=30_000)
    parser.add_argument(
        "--verify-only", action="store_true", help="only check existing HAR + truth pairs"
    )
    args = parser.parse_args()
    chosen = args.flavour or ("all" if args.verify_only else DEFAULT_FLAVOUR)
    flavours = list(FLAVOURS.values()) if chosen == "all" else [FLAVOURS[chosen]]
    if args.out is not None and len(flavours) != 1:
        parser.error("--out needs a single --flavour")

    problems: list[str] = []
    for flavour in flavours:
        har_path: Path = args.out or SAMPLES / flavour.har_name
        if args.verify_only:
            missing = [p for p in (har_path, truth_path_for(har_path)) if not p.is_file()]
            if missing:
                for p in missing:
                    print(f"PROBLEM [{flavour.name}]: {p} not found", file=sys.stderr)
                problems.append("missing files")
                continue
            truth = json.loads(truth_path_for(har_path).read_text(encoding="utf-8"))
            problems += report(flavour, har_path, truth)
        else:
            problems += record_and_place(flavour, har_path, args.timeout_ms)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
