"""The shipped sample against the server's own log of what it sent (``*.truth.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.cli import app
from archcmp.redact import Redactor
from archcmp.schema import validation_errors
from archcmp.store import Store
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "chat-chromium-h2.har"
TRUTH = json.loads((SAMPLES / "chat-chromium-h2.truth.json").read_text())


@pytest.fixture(scope="module")
def doc() -> dict:  # type: ignore[type-arg]
    return analyze_capture(SAMPLE, options=AnalyzeOptions(),
                           redactor=Redactor(keep_secrets=False, key=b"s" * 32))


def test_sample_document_is_valid(doc: dict) -> None:  # type: ignore[type-arg]
    assert validation_errors(doc) == []
    assert doc["capture"]["producer"] == "playwright"
    assert doc["capture"]["warnings"] == []


def test_sample_exchanges_equal_what_the_server_sent(doc: dict) -> None:  # type: ignore[type-arg]
    served = sorted(TRUTH["served"], key=lambda r: r["t_start"])
    assert doc["capture"]["exchanges"] == len(served)
    for ex, req in zip(doc["exchanges"], served, strict=True):
        assert ex["method"] == req["method"]
        assert urlsplit(ex["url"]).path == req["path"]
        assert ex["status"] == req["status"]
        assert ex["protocol"] == "h2"
        assert ex["content_encoding"] == ([req["content_encoding"]]
                                          if req["content_encoding"] else [])
        assert ex["body"] in ("ok", "already-decoded", "not-captured")


def test_sample_streams_equal_truth(doc: dict) -> None:  # type: ignore[type-arg]
    by_transport = {s["transport"]: s for s in doc["streams"]}
    assert set(by_transport) == {"sse", "ndjson"}
    served = {r["stream_format"]: r for r in TRUTH["served"] if r.get("streaming")}
    for transport, stream in by_transport.items():
        assert stream["event_types"] == list(dict.fromkeys(served[transport]["event_types"]))
        assert stream["events"] == len(served[transport]["event_types"])
        assert stream["method"] == "POST"
    assert by_transport["sse"]["terminator"] == TRUTH["facts"]["streaming"]["terminator"]


def test_sample_secrets_never_written(tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "archcmp.db"
    written = []
    for args in (["analyze", str(SAMPLE), "--json"], ["report", "--format", "md"],
                 ["report", "--format", "json"]):
        result = runner.invoke(app, [*args, "--store", str(store)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        written += [result.stdout, result.stderr]
    written += [f.read_bytes().decode("latin-1") for f in tmp_path.iterdir()
                if f.is_file() and f.suffix != ".key"]
    with Store.open(store) as db:
        written += [json.dumps(a.document) for a in db.list()]
    blob = "\n".join(written)
    secrets = [s["value"] for s in TRUTH["facts"]["planted_secrets"]]
    assert secrets
    assert [s for s in secrets if s in blob] == []
