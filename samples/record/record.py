"""Record ``samples/chat-chromium-h2.har`` (and its truth file) from the sample chat app.

Why this exists: archcmp's tests need a HAR that a real browser wrote over real TLS +
HTTP/2, with real gzip / br / zstd bodies and a real Server-Sent Events stream, whose
contents are known exactly.  This script starts ``app.py`` on a free 127.0.0.1 port,
lets headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) load the
page — the page's own JS drives the whole chat flow — waits for the DOM marker the JS
leaves at the end, closes the browser context (which is when Playwright writes the HAR)
and stops the server.

The HAR is left exactly as Playwright wrote it: no post-processing.  The script only
*checks* it (sanity assertions, and a scan for anything machine-specific such as the
host name or home directory, which would make it fail rather than be rewritten).

The truth file is the server's own log of what it answered, not something written by
hand.  Re-record with::

    python samples/record/record.py
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import socket
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from app import (
    APP_JS_PATH,
    BEARER_TOKEN,
    SESSION_COOKIE_NAME,
    SESSION_COOKIE_VALUE,
    running_server,
)
from playwright.sync_api import sync_playwright

SAMPLES = Path(__file__).resolve().parent.parent
DEFAULT_HAR = SAMPLES / "chat-chromium-h2.har"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_HAR_BYTES = 200 * 1024


def record(har_path: Path, truth_path: Path, timeout_ms: int) -> dict[str, Any]:
    """Serve the app, let Chromium run the page's flow, write HAR and truth; return truth."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")
    with running_server() as server, sync_playwright() as pw:
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
                "What samples/record/app.py itself answered while "
                f"{har_path.name} was recorded, from the server's own request log. "
                "Field names follow the shared lab truth files where they overlap."
            ),
            "producer": "chromium-h2",
            "producer_detail": (
                "Debian Chromium driven by Playwright; Playwright HAR recorder, content embedded"
            ),
            "origin": server.origin,
            "protocol_intended": "h2",
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


# --------------------------------------------------------------------------- checks


def _headers(entry_part: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h in entry_part["headers"]:
        out.setdefault(h["name"].lower(), []).append(h["value"])
    return out


def _text(content: dict[str, Any]) -> str:
    text = content.get("text") or ""
    if content.get("encoding") == "base64":
        return base64.b64decode(text).decode("utf-8", "replace")
    return str(text)


def verify(har_path: Path, truth: dict[str, Any] | None = None) -> list[str]:
    """Check the HAR has what the samples promise; return a list of problems (empty = ok)."""
    raw = har_path.read_bytes()
    har = json.loads(raw)
    entries: list[dict[str, Any]] = har["log"]["entries"]
    problems: list[str] = []

    if len(raw) > MAX_HAR_BYTES:
        problems.append(f"HAR is {len(raw)} bytes (> {MAX_HAR_BYTES})")
    if len(entries) < 8:
        problems.append(f"only {len(entries)} entries")
    versions = {e["response"]["httpVersion"] for e in entries} | {
        e["request"]["httpVersion"] for e in entries
    }
    if versions != {"HTTP/2.0"}:
        problems.append(f"httpVersion values {sorted(versions)} != ['HTTP/2.0']")

    encodings = {v for e in entries for v in _headers(e["response"]).get("content-encoding", [])}
    for want in ("gzip", "br", "zstd"):
        if want not in encodings:
            problems.append(f"no response with content-encoding {want}")

    sse = [e for e in entries if e["request"]["url"].endswith("/completion")]
    if len(sse) != 1:
        problems.append(f"{len(sse)} SSE entries")
    else:
        text = _text(sse[0]["response"]["content"])
        for marker in (
            "event: message_start",
            "event: content_block_delta",
            "event: message_stop",
            ": keepalive",
        ):
            if marker not in text:
                problems.append(f"SSE content.text lacks {marker!r}")
    ndjson = [e for e in entries if e["request"]["url"].endswith("/stream-ndjson")]
    if len(ndjson) != 1 or '"type":"done"' not in _text(ndjson[0]["response"]["content"]):
        problems.append("NDJSON entry missing or incomplete")

    if not any(e["request"]["url"].endswith(APP_JS_PATH) for e in entries):
        problems.append("content-hashed JS bundle not requested")
    statuses = {e["response"]["status"] for e in entries}
    for want_status in (200, 201, 204, 404):
        if want_status not in statuses:
            problems.append(f"no {want_status} response")

    text = raw.decode("utf-8")
    if f"Bearer {BEARER_TOKEN}" not in text:
        problems.append("bearer token not in HAR")
    if f"{SESSION_COOKIE_NAME}={SESSION_COOKIE_VALUE}" not in text:
        problems.append("session cookie not in HAR")

    # Anything machine-specific would be a reason to stop, not to rewrite the HAR.
    needles = {str(SAMPLES), str(Path.home()) + "/", socket.gethostname(), socket.getfqdn()}
    needles |= {getpass.getuser()} - {"root"}  # "root" alone is too common a word
    for needle in sorted(n for n in needles if len(n) >= 4 and n not in {"/", "localhost"}):
        if needle in text:
            problems.append(f"HAR contains machine-specific text {needle!r}")

    if truth is not None:
        problems += _compare_with_truth(entries, truth)
    return problems


def _compare_with_truth(entries: list[dict[str, Any]], truth: dict[str, Any]) -> list[str]:
    """The HAR and the server's log must describe the same exchanges."""
    problems: list[str] = []

    def key(method: str, path: str, status: int, coding: str | None) -> str:
        return f"{method} {path} {status} {coding or '-'}"

    har_side = sorted(
        key(
            e["request"]["method"],
            "/" + e["request"]["url"].split("/", 3)[3],
            e["response"]["status"],
            next(iter(_headers(e["response"]).get("content-encoding", [])), None),
        )
        for e in entries
    )
    served = truth["served"]
    server_side = sorted(
        key(
            r["method"],
            r["path"] + (f"?{r['query']}" if r["query"] else ""),
            r["status"],
            r["content_encoding"],
        )
        for r in served
    )
    if har_side != server_side:
        problems.append(f"HAR exchanges {har_side} != served {server_side}")
    for r in (r for r in served if r["stream_format"] == "sse"):
        entry = next(e for e in entries if e["request"]["url"].endswith(r["path"]))
        text = _text(entry["response"]["content"])
        seen = [line[6:].strip() for line in text.splitlines() if line.startswith("event:")]
        if seen != r["event_types"]:
            problems.append(f"SSE events in HAR {seen} != served {r['event_types']}")
    return problems


def summary(har_path: Path) -> str:
    har = json.loads(har_path.read_bytes())
    entries = har["log"]["entries"]
    lines = [
        f"{har_path} ({har_path.stat().st_size} bytes, {len(entries)} entries, "
        f"creator {har['log']['creator']['name']} {har['log']['creator']['version']}, "
        f"browser {har['log'].get('browser', {}).get('version', '?')})"
    ]
    for e in entries:
        req, resp = e["request"], e["response"]
        enc = ",".join(_headers(resp).get("content-encoding", [])) or "-"
        path = "/" + req["url"].split("/", 3)[3]
        t = e["timings"]
        lines.append(
            f"  {req['method']:<6} {resp['status']} {resp['httpVersion']:<8} {enc:<5} "
            f"wait={t['wait']:.0f}ms receive={t['receive']:.0f}ms  {path}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Record the chat-chromium-h2 HAR sample.")
    parser.add_argument("--out", type=Path, default=DEFAULT_HAR, help="HAR to write")
    parser.add_argument("--timeout-ms", type=int, default=30_000)
    parser.add_argument(
        "--verify-only", action="store_true", help="only check an existing HAR + truth"
    )
    args = parser.parse_args()
    har_path: Path = args.out
    truth_path = har_path.with_suffix(".truth.json")

    if args.verify_only:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    else:
        truth = record(har_path, truth_path, args.timeout_ms)
    print(summary(har_path))
    print(
        f"truth: {truth_path} ({truth_path.stat().st_size} bytes, "
        f"{len(truth['served'])} requests logged by the server)"
    )
    problems = verify(har_path, truth)
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print("checks: ok")


if __name__ == "__main__":
    main()
