"""The analysis of every real HAR we have: counts, decoding and streams against ground truth."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.diagnostics import Diagnostics
from archcmp.errors import ArchcmpError
from archcmp.redact import Redactor
from archcmp.schema import validation_errors

BROKEN = {"mitmproxy__brokenfile.har", "mitmproxy__har_extractor.har"}
REDACTOR = Redactor(keep_secrets=False, key=b"k" * 32)


def _entries(path: Path) -> int:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    elif raw[:1] == b"\x78":
        raw = zlib.decompress(raw)
    return len(json.loads(raw.decode("utf-8-sig"))["log"]["entries"])


def _analyse(path: Path) -> dict[str, Any]:
    return analyze_capture(path, options=AnalyzeOptions(), redactor=REDACTOR)


def _corpus(shared: Path) -> list[Path]:
    hars = sorted(p for p in (shared / "corpus" / "har").iterdir() if p.name not in BROKEN)
    alpha = sorted((shared / "captures" / "alpha").glob("*/capture.har"))
    return hars + alpha


def test_every_valid_har_analyses(shared: Path) -> None:
    paths = _corpus(shared)
    assert len(paths) >= 50
    for path in paths:
        doc = _analyse(path)
        assert validation_errors(doc) == [], path.name
        assert doc["capture"]["exchanges"] == _entries(path), path.name
        warned = {w["code"] for w in doc["capture"]["warnings"]}
        for ex in doc["exchanges"]:
            if ex["content_encoding"] and ex["body"] not in ("not-captured", "no-response"):
                # Every coded body decodes, or a counted warning says why not.
                assert ex["body"] in ("ok", "already-decoded") or any(
                    code.startswith("body.") for code in warned), (path.name, ex)


def test_corrupt_gzip_body_is_a_counted_warning(shared: Path) -> None:
    doc = _analyse(shared / "corpus" / "har" / "mitmproxy__corrupted_gzip_body.har")
    (ex,) = doc["exchanges"]
    assert ex["content_encoding"] == ["gzip"]
    assert ex["body"] == "corrupt"
    codes = {w["code"]: w["count"] for w in doc["capture"]["warnings"]}
    assert codes.get("body.gzip.corrupt") == 1


@pytest.mark.parametrize("session", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_alpha_har_matches_truth(shared: Path, session: str) -> None:
    folder = shared / "captures" / "alpha" / session
    truth = json.loads((folder / "truth.json").read_text())
    doc = _analyse(folder / "capture.har")
    assert doc["capture"]["exchanges"] == len(truth["served"])
    codings = {c for ex in doc["exchanges"] for c in ex["content_encoding"]}
    assert {"gzip", "br", "zstd"} <= codings
    for ex in doc["exchanges"]:
        assert ex["body"] in ("ok", "already-decoded", "not-captured"), ex
    expected_types = set(truth["facts"]["streaming"]["event_types"])
    sse = [s for s in doc["streams"] if s["transport"] == "sse"]
    streamed = [r for r in truth["served"] if r["streaming"]]
    assert len(sse) == len(streamed)
    for stream in sse:
        assert stream["method"] == "POST"
        assert set(stream["event_types"]) == expected_types
        assert stream["terminator"] == "message_stop"
    # What the server really sent, request by request (ordered by start time).
    served = sorted(truth["served"], key=lambda r: r["t_start"])
    got = [(e["method"], e["url"].split("localhost:8443", 1)[1], e["status"]) for e in
           doc["exchanges"]]
    want = [(r["method"], r["path"] + (f"?{r['query']}" if r["query"] else ""), r["status"])
            for r in served]
    assert sorted(got) == sorted(want)


def test_out_of_order_entries_are_renumbered_by_start(tmp_path: Path, shared: Path) -> None:
    source = json.loads((shared / "captures" / "alpha" / "chromium-h2" / "capture.har")
                        .read_text())
    source["log"]["entries"].reverse()
    path = tmp_path / "reversed.har"
    path.write_text(json.dumps(source))
    doc = _analyse(path)
    starts = [e["started_ms"] for e in doc["exchanges"]]
    assert starts == sorted(starts)
    assert starts[0] == 0.0
    assert [e["id"] for e in doc["exchanges"]] == list(range(len(starts)))
    ids = {s["exchange"] for s in doc["streams"]}
    assert all(doc["exchanges"][i]["kind"] == "stream" for i in ids)


def test_compressed_har_flavours_give_the_same_analysis(tmp_path: Path, shared: Path) -> None:
    raw = (shared / "captures" / "alpha" / "chromium-h2" / "capture.har").read_bytes()
    plain = tmp_path / "a.har"
    plain.write_bytes(raw)
    gz = tmp_path / "a.har.gz"
    gz.write_bytes(gzip.compress(raw))
    zhar = tmp_path / "a.zhar"
    zhar.write_bytes(zlib.compress(raw))
    bom = tmp_path / "bom.har"
    bom.write_bytes(b"\xef\xbb\xbf" + raw)
    docs = [_analyse(p) for p in (plain, gz, zhar, bom)]
    for doc in docs[1:]:
        assert doc["exchanges"] == docs[0]["exchanges"]
        assert doc["streams"] == docs[0]["streams"]


def test_truncated_har_is_an_archcmp_error(tmp_path: Path, shared: Path) -> None:
    raw = (shared / "captures" / "alpha" / "chromium-h2" / "capture.har").read_bytes()
    cut = tmp_path / "cut.har"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArchcmpError):
        analyze_capture(cut, options=AnalyzeOptions(), redactor=REDACTOR, diag=Diagnostics())
