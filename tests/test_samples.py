"""The shipped sample against the server's own log of what it sent (``*.truth.json``)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.schema import validation_errors
from tests.conftest import SAMPLES

NAMES = ("chat-chromium-h2", "chat-chromium-h1")
PROTOCOL = {"chat-chromium-h2": "h2", "chat-chromium-h1": "http/1.1"}


@pytest.fixture(scope="module", params=NAMES)
def sample(request: pytest.FixtureRequest) -> tuple[str, dict]:  # type: ignore[type-arg]
    name = request.param
    truth = json.loads((SAMPLES / f"{name}.truth.json").read_text())
    return name, truth


@pytest.fixture(scope="module")
def doc(sample: tuple[str, dict]) -> dict:  # type: ignore[type-arg]
    return analyze_capture(SAMPLES / f"{sample[0]}.har", options=AnalyzeOptions(),
                           redactor=Redactor(keep_secrets=False, key=b"s" * 32))


def test_sample_document_is_valid(doc: dict) -> None:  # type: ignore[type-arg]
    assert validation_errors(doc) == []
    assert doc["capture"]["producer"] == "playwright"
    assert doc["capture"]["warnings"] == []


def test_sample_exchanges_equal_what_the_server_sent(
        doc: dict, sample: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    name, truth = sample
    served = sorted(truth["served"], key=lambda r: r["t_start"])
    assert doc["capture"]["exchanges"] == len(served)
    for ex, req in zip(doc["exchanges"], served, strict=True):
        assert ex["method"] == req["method"]
        assert urlsplit(ex["url"]).path == req["path"]
        assert ex["status"] == req["status"]
        assert ex["protocol"] == PROTOCOL[name]
        assert ex["content_encoding"] == ([req["content_encoding"]]
                                          if req["content_encoding"] else [])
        assert ex["body"] in ("ok", "already-decoded", "not-captured")


def test_sample_streams_equal_truth(doc: dict, sample: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, truth = sample
    by_transport = {s["transport"]: s for s in doc["streams"]}
    served = {r["stream_format"]: r for r in truth["served"] if r.get("streaming")}
    assert set(by_transport) == set(served)
    for transport, stream in by_transport.items():
        assert stream["event_types"] == list(dict.fromkeys(served[transport]["event_types"]))
        assert stream["events"] == len(served[transport]["event_types"])
        assert stream["method"] == "POST"
    assert by_transport["sse"]["terminator"] == truth["facts"]["streaming"]["terminator"]
