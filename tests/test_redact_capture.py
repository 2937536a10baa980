"""Tests for ``archcmp redact`` (issue 8 item 1): archcmp.redact_capture and its helpers
redact_har (places), redact_io (streaming HAR), redact_pcap (packets), and the re-scan
detectors added to archcmp.redact (``scan``, ``is_high_entropy``).

The oracles are independent of the code under test where one exists: ``json`` re-parses every
output, haralyzer loads it, archcmp's own analysis must see the same exchanges, fingerprints and
streams, a HAR 1.2 required-field checker stands in for Chromium devtools' importer, archcmp's
pcap reader and tshark read the packet outputs, and the planted secrets of every ``truth.json``
are searched for in every output byte.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import struct
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import haralyzer
import pytest

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.diagnostics import Diagnostics
from archcmp.errors import ArchcmpError, CaptureError, UnknownFormat, UsageError
from archcmp.ingest.har import read_har
from archcmp.ingest.pcap import Secrets, read_capture
from archcmp.redact import Redactor, is_high_entropy, is_redacted, scan
from archcmp.redact_capture import (
    EXIT_CLEAN,
    EXIT_RESIDUAL,
    PcapSummary,
    RedactSummary,
    key_from_salt,
    redact_capture,
    redact_har,
    redact_pcap,
    redactor_for,
    rescan_har,
    to_har,
)
from archcmp.redact_io import dumps
from archcmp.redact_payload import PayloadCutter
from tests.conftest import SAMPLES, SHARED

MARKER = r"<redacted:sha256:[0-9a-f]{12}>"
ANALYSIS_KEY = Redactor(key=b"a" * 32)
ALPHA = SHARED / "captures" / "alpha"


def _har_inputs() -> list[Path]:
    corpus = SHARED / "corpus" / "har"
    found = sorted(corpus.glob("*.har")) + sorted(corpus.glob("*.zhar"))
    found += sorted(ALPHA.glob("*/capture.har")) + sorted(SAMPLES.glob("*.har"))
    return found


HAR_INPUTS = _har_inputs()


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.name == "capture.har" else path.name


def _planted() -> list[str]:
    values: list[str] = []
    for truth in [*sorted(ALPHA.glob("*/truth.json")), *sorted(SAMPLES.glob("*.truth.json"))]:
        values += [s["value"] for s in json.loads(truth.read_text())["facts"]["planted_secrets"]]
    return sorted(set(values))


def _forms(secret: str) -> list[bytes]:
    """The ways a secret can be written into a JSON file."""
    return [form.encode() for form in {secret, quote(secret, safe=""), quote_plus(secret),
                                       json.dumps(secret)[1:-1]}]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Redacting every HAR we have
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redacted(tmp_path_factory: pytest.TempPathFactory
             ) -> Callable[[Path], tuple[RedactSummary, Path] | ArchcmpError]:
    """Redact each input once per session with a fixed salt: (summary, output) or the error."""
    out_dir = tmp_path_factory.mktemp("redacted")
    cache: dict[Path, tuple[RedactSummary, Path] | ArchcmpError] = {}

    def run(src: Path) -> tuple[RedactSummary, Path] | ArchcmpError:
        if not src.is_file():
            pytest.skip(f"{src} not found (set ARCHCMP_SHARED)")
        if src not in cache:
            dst = out_dir / f"{len(cache)}-{src.stem}.har"
            try:
                cache[src] = (redact_har(src, dst, redactor_for("test-salt"), Diagnostics()), dst)
            except ArchcmpError as exc:
                cache[src] = exc
        return cache[src]

    return run


def _readable(src: Path) -> bool:
    try:
        read_har(src, Diagnostics())
    except ArchcmpError:
        return False
    return True


@pytest.mark.parametrize("src", HAR_INPUTS, ids=_id)
def test_output_reparses_keeps_entry_count_and_rescans_clean(
    src: Path, redacted: Callable[[Path], Any], tmp_path: Path
) -> None:
    result = redacted(src)
    if not _readable(src):
        # archcmp cannot read it (not JSON, no log): redact refuses it the same way, exit 2
        assert isinstance(result, CaptureError), result
        return
    assert not isinstance(result, ArchcmpError), result
    summary, out = result
    meta, _ = read_har(src, Diagnostics())
    doc = _load(out)  # plain UTF-8 JSON, whatever the input's BOM or compression
    assert len(doc["log"]["entries"]) == summary.entries == meta.entries
    assert summary.residual == () and summary.clean
    # an independent second re-scan, with a fresh redactor of the same key, agrees
    entries, residual = rescan_har(out, redactor_for("test-salt"))
    assert (entries, residual) == (meta.entries, [])


def _haralyzer_view(doc: Any) -> Counter[tuple[str, int]] | None:
    """(method, status) of every entry as haralyzer 2.4 reads it; None where it fails (it
    raises KeyError on members real exporters omit: see archcmp.ingest.har)."""
    try:
        parser = haralyzer.HarParser(doc)
        return Counter((entry.request.method, entry.status)
                       for page in parser.pages for entry in page.entries if entry.url)
    except (KeyError, ValueError):
        return None


@pytest.mark.parametrize("src", HAR_INPUTS, ids=_id)
def test_haralyzer_loads_the_output_where_it_loads_the_input(
    src: Path, redacted: Callable[[Path], Any]
) -> None:
    result = redacted(src)
    if isinstance(result, ArchcmpError):
        pytest.skip("not a readable HAR")
    out_view = _haralyzer_view(_load(result[1]))
    try:
        original = json.loads(src.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        # .zhar: haralyzer cannot open the input at all, but it reads the (plain) output
        assert out_view is not None and sum(out_view.values()) > 0
        return
    in_view = _haralyzer_view(original)
    if in_view is None:
        pytest.skip("haralyzer cannot load the input either")
    assert out_view == in_view


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "exchanges": doc["capture"]["exchanges"],
        "fingerprints": sorted((f["category"], f["name"], f["rule"]) for f in doc["fingerprints"]),
        "streams": [(s["exchange"], s["transport"], s["event_types"], s["events"])
                    for s in doc["streams"]],
        "warnings": sorted(w["code"] for w in doc["capture"]["warnings"]),
        "methods": [(e["method"], e["status"], e["protocol"]) for e in doc["exchanges"]],
    }


@pytest.mark.parametrize("src", HAR_INPUTS, ids=_id)
def test_archcmp_analyses_the_output_like_the_input(
    src: Path, redacted: Callable[[Path], Any]
) -> None:
    result = redacted(src)
    if isinstance(result, ArchcmpError):
        pytest.skip("not a readable HAR")
    before = analyze_capture(src, options=AnalyzeOptions(), redactor=ANALYSIS_KEY)
    after = analyze_capture(result[1], options=AnalyzeOptions(), redactor=ANALYSIS_KEY)
    assert _summary(after) == _summary(before)


# --- HAR 1.2 required fields: what Chromium devtools' importer needs --------------------------


def har12_problems(doc: Any) -> list[str]:
    """Violations of the HAR 1.2 required members (softwareishard.com/blog/har-12-spec)."""
    problems: list[str] = []

    def need(obj: Any, where: str, fields: dict[str, type | tuple[type, ...]]) -> None:
        if not isinstance(obj, dict):
            problems.append(f"{where}: not an object")
            return
        for name, kind in fields.items():
            value = obj.get(name)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                problems.append(f"{where}.{name}: missing or not {kind}")

    number = (int, float)
    need(doc, "", {"log": dict})
    log = doc.get("log", {}) if isinstance(doc, dict) else {}
    need(log, "log", {"version": str, "creator": dict, "entries": list})
    need(log.get("creator"), "log.creator", {"name": str, "version": str})
    for i, page in enumerate(log.get("pages") or []):
        need(page, f"pages[{i}]", {"startedDateTime": str, "id": str, "title": str,
                                   "pageTimings": dict})
    for i, entry in enumerate(log.get("entries") or []):
        at = f"entries[{i}]"
        need(entry, at, {"startedDateTime": str, "time": number, "request": dict,
                         "response": dict, "cache": dict, "timings": dict})
        request, response = entry.get("request", {}), entry.get("response", {})
        need(request, f"{at}.request", {"method": str, "url": str, "httpVersion": str,
                                        "cookies": list, "headers": list, "queryString": list,
                                        "headersSize": number, "bodySize": number})
        need(response, f"{at}.response", {"status": number, "statusText": str,
                                          "httpVersion": str, "cookies": list, "headers": list,
                                          "content": dict, "redirectURL": str,
                                          "headersSize": number, "bodySize": number})
        need(response.get("content"), f"{at}.response.content", {"size": number,
                                                                  "mimeType": str})
        if "postData" in request:
            need(request["postData"], f"{at}.request.postData", {"mimeType": str})
        for side, message in (("request", request), ("response", response)):
            for key in ("headers", "cookies") + (("queryString",) if side == "request" else ()):
                for j, pair in enumerate(message.get(key) or []):
                    need(pair, f"{at}.{side}.{key}[{j}]", {"name": str, "value": str})
        timings = entry.get("timings", {})
        need(timings, f"{at}.timings", {"send": number, "wait": number, "receive": number})
        for phase in ("send", "wait", "receive"):
            if isinstance(timings.get(phase), number) and timings[phase] < 0:
                problems.append(f"{at}.timings.{phase}: negative")
    return problems


@pytest.mark.parametrize("src", HAR_INPUTS, ids=_id)
def test_har_12_required_fields_survive(src: Path, redacted: Callable[[Path], Any]) -> None:
    result = redacted(src)
    if isinstance(result, ArchcmpError):
        pytest.skip("not a readable HAR")
    try:
        original = json.loads(src.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        pytest.skip("compressed input")
    before = har12_problems(original)
    assert har12_problems(_load(result[1])) == before  # redaction adds no violation


def test_the_har_checker_can_fail() -> None:
    assert har12_problems({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                                   "entries": [{"time": 1}]}})


# --------------------------------------------------------------------------------------------
# Planted secrets, names and markers on the real captures
# --------------------------------------------------------------------------------------------

PLANTED_HARS = [p for p in HAR_INPUTS if p.name == "capture.har" or p.parent == SAMPLES]


def test_no_planted_secret_in_any_output_byte(redacted: Callable[[Path], Any]) -> None:
    planted = _planted()
    if len(planted) < 6 or not PLANTED_HARS:
        pytest.skip("alpha captures or samples missing")
    checked = 0
    for src in PLANTED_HARS:
        raw = src.read_bytes()
        present = [s for s in planted if s.encode() in raw]
        assert present or src.parent == SAMPLES, f"{src}: no planted secret, the test is vacuous"
        _, out = redacted(src)
        data = out.read_bytes()
        for secret in planted:
            for form in _forms(secret):
                assert form not in data, f"{_id(src)} leaks {secret[:12]}…"
        checked += len(present)
    assert checked >= 10


def _first(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(i for i in items if i["name"].lower() == name.lower())


def test_names_stay_and_values_become_markers(redacted: Callable[[Path], Any]) -> None:
    src = ALPHA / "chromium-h2" / "capture.har"
    summary, out = redacted(src)
    entries = _load(out)["log"]["entries"]
    original = _load(src)["log"]["entries"]
    cookies = [c for e in entries for c in e["request"]["cookies"] if c["name"] == "sessionKey"]
    assert cookies and all(re.fullmatch(MARKER, c["value"]) for c in cookies)
    honeycomb = [h for e in entries for h in e["request"]["headers"]
                 if h["name"].lower() == "x-honeycomb-team"]
    assert honeycomb and all(re.fullmatch(MARKER, h["value"]) for h in honeycomb)
    set_cookie = _first(entries[0]["response"]["headers"], "set-cookie")["value"]
    assert re.fullmatch(rf"sessionKey={MARKER}; Path=/; Max-Age=2592000; HttpOnly; Secure; "
                        r"SameSite=Lax", set_cookie)
    # one secret, one marker: the cookie array, the Cookie header and Set-Cookie agree
    marker = cookies[0]["value"]
    cookie_header = _first(entries[1]["request"]["headers"], "cookie")["value"]
    assert f"sessionKey={marker}" in cookie_header and marker in set_cookie
    # evidence is untouched: same header names in the same order, same sizes
    for before, after in zip(original, entries, strict=True):
        for side in ("request", "response"):
            assert [h["name"] for h in after[side]["headers"]] == [
                h["name"] for h in before[side]["headers"]]
            assert after[side]["headersSize"] == before[side]["headersSize"]
            assert after[side]["bodySize"] == before[side]["bodySize"]
        assert after["response"]["content"]["size"] == before["response"]["content"]["size"]
        assert after["timings"] == before["timings"]
    assert {"request.cookies", "request.headers", "response.headers",
            "request.postData.text"} <= set(summary.masked)


def test_bearer_scheme_kept_and_html_echo_masked(redacted: Callable[[Path], Any]) -> None:
    """The sample app puts its bearer token in a <meta> tag of the page served *before* any
    request carries it: only the harvest pass can catch that."""
    src = SAMPLES / "chat-chromium-h2.har"
    _, out = redacted(src)
    entries = _load(out)["log"]["entries"]
    auth = [h["value"] for e in entries for h in e["request"]["headers"]
            if h["name"].lower() == "authorization"]
    assert auth and all(re.fullmatch(rf"Bearer {MARKER}", a) for a in auth)
    html = entries[0]["response"]["content"]["text"]
    assert 'name="api-token"' in html and re.search(MARKER, html)


# --------------------------------------------------------------------------------------------
# Every place, on a synthetic HAR
# --------------------------------------------------------------------------------------------


def _b64url(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = (_b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": "u-1", "exp": 4102444800})
       + "." + base64.urlsafe_b64encode(b"\x8f" * 32).rstrip(b"=").decode())
SESSION = "s3ss10n-Qm9vYmFyQmF6MTIzNDU2Nzg5MA"
SESSION2 = "s3ss10n-SGVsbG9Xb3JsZDk4NzY1NDMyMQ"
HONEYCOMB = "hcaik_01hvzz8d9k2q3w4e5r6t7y8u9i0oAPLKMJNHBG"
WRITE_KEY = "wk9Xf3Lq8ZpT2mVb7Rc4Ns1Hd6Gj0Ky5"
RANDOM = "Zx7Qp2Lm9Kd4Rt8Vb3Nc6Hg1Jf5Ws0Ye"
AWS = "AKIAIOSFODNN7EXAMPLE"
PASSWORD = "hunter2-correct-horse"
GZIP_TOKEN = "gz-tok-7d1e9a4b2c8f6e3a5b0c"
SECRETS = [JWT, SESSION, SESSION2, HONEYCOMB, WRITE_KEY, RANDOM, AWS, PASSWORD, GZIP_TOKEN]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
PROTOBUF = b"\x08\x01\x12" + bytes([len(JWT)]) + JWT.encode() + b"\x18\xff\x01"
PLAIN_JSON = '{"a": 1,  "b": [1, 2], "note": "kept byte for byte"}'


def _entry(**members: Any) -> dict[str, Any]:
    request = {"method": "GET", "url": "https://api.example.com/", "httpVersion": "HTTP/2.0",
               "cookies": [], "headers": [], "queryString": [], "headersSize": 321,
               "bodySize": 0}
    response = {"status": 200, "statusText": "OK", "httpVersion": "HTTP/2.0", "cookies": [],
                "headers": [], "content": {"size": 10, "mimeType": "text/plain"},
                "redirectURL": "", "headersSize": 123, "bodySize": 45, "_transferSize": 168}
    request.update(members.pop("request", {}))
    response.update(members.pop("response", {}))
    return {"startedDateTime": "2024-05-01T10:00:00.123Z", "time": 12.5, "request": request,
            "response": response, "cache": {}, "timings": {"blocked": -1, "dns": -1,
                                                           "connect": -1, "ssl": -1, "send": 1,
                                                           "wait": 10, "receive": 1.5},
            **members}


def _synthetic() -> dict[str, Any]:
    url = (f"https://api.example.com/v1/items?access_token={JWT}&page=2&writeKey={WRITE_KEY}"
           f"&t={RANDOM}&v=3")
    first = _entry(
        request={
            "method": "POST", "url": url,
            "cookies": [{"name": "sessionKey", "value": SESSION, "path": "/", "httpOnly": True}],
            "headers": [
                {"name": "Cookie", "value": f"sessionKey={SESSION}; theme=dark"},
                {"name": "Authorization", "value": f"Bearer {JWT}"},
                {"name": "Proxy-Authorization", "value": "Basic dXNlcjpwYXNzd29yZDEyMw=="},
                {"name": "x-honeycomb-team", "value": HONEYCOMB},
                {"name": "User-Agent", "value": "Mozilla/5.0"},
                {"name": "Referer", "value": f"https://app.example.com/?t={RANDOM}&tab=1"},
            ],
            "queryString": [{"name": "access_token", "value": JWT}, {"name": "page", "value": "2"},
                            {"name": "writeKey", "value": WRITE_KEY},
                            {"name": "t", "value": RANDOM}, {"name": "v", "value": "3"}],
            "postData": {"mimeType": "application/json",
                         "text": json.dumps({"user": "alice", "password": PASSWORD,
                                             "nested": {"apiKey": AWS}, "count": 3})},
        },
        response={
            "headers": [{"name": "Set-Cookie", "value": f"sessionKey={SESSION2}; Path=/; HttpOnly"},
                        {"name": "Content-Encoding", "value": "gzip"},
                        {"name": "Location", "value": f"https://app.example.com/cb?code={RANDOM}"}],
            "cookies": [{"name": "sessionKey", "value": SESSION2, "httpOnly": True}],
            # Charles/Polly style: the body stored still gzip'd, base64
            "content": {"size": 64, "mimeType": "application/json", "encoding": "base64",
                        "text": base64.b64encode(gzip.compress(json.dumps(
                            {"token": GZIP_TOKEN, "ok": True}).encode(), mtime=0)).decode()},
            "redirectURL": f"https://app.example.com/cb?code={RANDOM}",
        },
        _webSocketMessages=[
            {"type": "send", "time": 1714557600.5, "opcode": 1,
             "data": json.dumps({"auth": JWT, "op": "subscribe"})},
            {"type": "receive", "time": 1714557600.6, "opcode": 2,
             "data": base64.b64encode(PROTOBUF).decode()},
        ],
        _custom={"deep": {"note": f"see {JWT}"}, "ratio": 0.5},
    )
    second = _entry(
        request={"method": "POST", "url": "https://api.example.com/login",
                 "postData": {"mimeType": "application/x-www-form-urlencoded",
                              "text": f"password={PASSWORD}&q=hello",
                              "params": [{"name": "password", "value": PASSWORD},
                                         {"name": "q", "value": "hello"}]}},
        response={"content": {"size": len(PLAIN_JSON), "mimeType": "application/json",
                              "text": PLAIN_JSON}},
    )
    third = _entry(response={"content": {"size": len(PNG), "mimeType": "image/png",
                                         "encoding": "base64",
                                         "text": base64.b64encode(PNG).decode()}})
    fourth = _entry(response={"content": {"size": 12, "mimeType": "application/octet-stream",
                                          "encoding": "base64", "text": "!!not base64!!"}})
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "pages": [{"startedDateTime": "2024-05-01T10:00:00.000Z", "id": "page_1",
                               "title": "https://app.example.com/", "pageTimings": {}}],
                    "entries": [first, second, third, fourth],
                    "comment": "synthetic"}}


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[Path, RedactSummary, dict[str, Any], str]:
    src = tmp_path / "in.har"
    # a number with more digits than a double holds: the writer must keep them all
    src.write_text(json.dumps(_synthetic()).replace('"time": 12.5', '"time": 12.34567890123456789',
                                                    1))
    out = tmp_path / "out.har"
    summary = redact_har(src, out, redactor_for("s"), Diagnostics())
    return src, summary, _load(out), out.read_text(encoding="utf-8")


def test_every_place_is_masked(synthetic: tuple[Path, RedactSummary, dict[str, Any], str]
                               ) -> None:
    _, summary, _, text = synthetic
    for secret in SECRETS:
        assert secret not in text, secret
    assert "dXNlcjpwYXNzd29yZDEyMw" not in text  # Basic credentials
    assert summary.clean
    assert set(summary.masked) >= {
        "request.url", "request.headers", "request.cookies", "request.queryString",
        "request.postData.text", "request.postData.params", "response.headers",
        "response.cookies", "response.content.text", "response.redirectURL", "websocket.data",
        "entry"}


def test_places_keep_names_and_agree_on_markers(
    synthetic: tuple[Path, RedactSummary, dict[str, Any], str]
) -> None:
    _, _, doc, _ = synthetic
    first, second = doc["log"]["entries"][:2]
    request, response = first["request"], first["response"]
    headers = {h["name"]: h["value"] for h in request["headers"]}
    cookie_marker = request["cookies"][0]["value"]
    assert re.fullmatch(rf"sessionKey={re.escape(cookie_marker)}; theme={MARKER}",
                        headers["Cookie"])
    assert re.fullmatch(rf"Bearer {MARKER}", headers["Authorization"])
    assert re.fullmatch(rf"Basic {MARKER}", headers["Proxy-Authorization"])
    assert re.fullmatch(MARKER, headers["x-honeycomb-team"])
    assert headers["User-Agent"] == "Mozilla/5.0"
    assert re.fullmatch(rf"https://app.example.com/\?t={MARKER}&tab=1", headers["Referer"])
    # the URL and queryString mask each parameter to the same marker; ordinary ones stay
    query = dict(pair.split("=", 1) for pair in urlsplit(request["url"]).query.split("&"))
    by_name = {q["name"]: q["value"] for q in request["queryString"]}
    assert query["page"] == by_name["page"] == "2" and query["v"] == by_name["v"] == "3"
    for name in ("access_token", "writeKey", "t"):
        assert re.fullmatch(MARKER, query[name]) and query[name] == by_name[name], name
    assert headers["Referer"].split("t=")[1].split("&")[0] == query["t"]  # same value, same mark
    body = json.loads(request["postData"]["text"])
    assert body["user"] == "alice" and body["count"] == 3
    assert is_redacted(body["password"]) and is_redacted(body["nested"]["apiKey"])
    set_cookie = _first(response["headers"], "set-cookie")["value"]
    assert re.fullmatch(rf"sessionKey={MARKER}; Path=/; HttpOnly", set_cookie)
    assert response["cookies"][0]["value"] in set_cookie
    assert response["cookies"][0]["httpOnly"] is True
    assert re.fullmatch(rf"https://app.example.com/cb\?code={MARKER}", response["redirectURL"])
    # the still-gzip'd body was inflated to be checked, and is stored decoded once masked
    inner = json.loads(base64.b64decode(response["content"]["text"]))
    assert is_redacted(inner["token"]) and inner["ok"] is True
    ws_text, ws_binary = first["_webSocketMessages"]
    assert json.loads(ws_text["data"])["op"] == "subscribe"
    assert is_redacted(json.loads(ws_text["data"])["auth"])
    framed = base64.b64decode(ws_binary["data"])  # same length, framing bytes intact
    assert len(framed) == len(PROTOBUF) and framed[:4] == PROTOBUF[:4]
    assert framed[-3:] == PROTOBUF[-3:] and JWT.encode() not in framed
    assert re.fullmatch(rf"see {MARKER}", first["_custom"]["deep"]["note"])
    # forms: text and params masked alike; others kept
    assert re.fullmatch(rf"password={MARKER}&q=hello", second["request"]["postData"]["text"])
    params = {p["name"]: p["value"] for p in second["request"]["postData"]["params"]}
    assert is_redacted(params["password"]) and params["q"] == "hello"


def test_unchanged_values_are_kept_byte_for_byte(
    synthetic: tuple[Path, RedactSummary, dict[str, Any], str]
) -> None:
    src, _, doc, text = synthetic
    original = _load(src)
    second, third, fourth = doc["log"]["entries"][1:]
    assert second["response"]["content"]["text"] == PLAIN_JSON  # not re-serialised
    assert third["response"]["content"] == original["log"]["entries"][2]["response"]["content"]
    # undecodable base64 cannot be checked: only its size is kept
    assert fourth["response"]["content"]["text"] == "<redacted:14 bytes>"
    assert '"time":12.34567890123456789' in text  # every digit of the number
    first = doc["log"]["entries"][0]
    for side in ("request", "response"):
        assert first[side]["headersSize"] == original["log"]["entries"][0][side]["headersSize"]
    assert first["response"]["_transferSize"] == 168
    assert doc["log"]["pages"] == original["log"]["pages"]
    assert doc["log"]["comment"] == "synthetic" and doc["log"]["creator"]["name"] == "WebInspector"


def test_rescan_finds_what_a_writer_left(tmp_path: Path) -> None:
    doc = _synthetic()
    entry = doc["log"]["entries"][1]
    entry["request"]["headers"] = [{"name": "x-api-key", "value": "k-1234567890abcdef"}]
    entry["comment"] = f"token {JWT}"
    entry["response"]["content"] = {"size": 3, "mimeType": "text/plain", "text": SESSION}
    path = tmp_path / "leaky.har"
    path.write_text(json.dumps(doc))
    redactor = Redactor(key=b"r" * 32)
    redactor.remember(SESSION)
    entries, residual = rescan_har(path, redactor)
    assert entries == 4
    found = {(r.where, r.kind) for r in residual}
    assert ("log.entries[1].comment", "jwt") in found
    assert ("log.entries[1].response.content.text", "remembered") in found
    assert ("log.entries[1]:request.headers[0].value", "unmasked") in found
    assert all(JWT not in r.where and SESSION not in r.where for r in residual)


def test_same_salt_same_bytes_no_salt_random(tmp_path: Path) -> None:
    src = tmp_path / "in.har"
    src.write_text(json.dumps(_synthetic()))
    outs = []
    for i, salt in enumerate(("one", "one", "two", None, None)):
        out = tmp_path / f"out{i}.har"
        redact_har(src, out, redactor_for(salt), Diagnostics())
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2] and outs[3] != outs[4]
    assert key_from_salt("one") == hashlib.sha256(b"one").digest()


def test_real_capture_is_deterministic(tmp_path: Path) -> None:
    src = ALPHA / "chromium-h2" / "capture.har"
    if not src.is_file():
        pytest.skip("alpha captures missing")
    a, b = tmp_path / "a.har", tmp_path / "b.har"
    redact_har(src, a, redactor_for("fixed"), Diagnostics())
    redact_har(src, b, redactor_for("fixed"), Diagnostics())
    assert a.read_bytes() == b.read_bytes()


def test_bad_input_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "cut.har"
    src.write_text(json.dumps(_synthetic())[:-300])
    out = tmp_path / "out.har"
    out.write_text("previous")
    with pytest.raises(CaptureError):
        redact_har(src, out, redactor_for("s"), Diagnostics())
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.har", "out.har"]
    not_har = tmp_path / "array.har"
    not_har.write_text("[1, 2]")
    with pytest.raises(UnknownFormat):
        redact_har(not_har, out, redactor_for("s"), Diagnostics())
    with pytest.raises(CaptureError, match="no 'entries'"):
        (tmp_path / "empty.har").write_text('{"log": {"version": "1.2"}}')
        redact_har(tmp_path / "empty.har", out, redactor_for("s"), Diagnostics())


def test_hostile_depth_and_odd_values(tmp_path: Path) -> None:
    doc = _synthetic()
    entry = doc["log"]["entries"][2]
    text = json.dumps(doc).replace('"cache": {}', '"cache": {}, "_deep": ' + "[" * 20000
                                   + "]" * 20000, 1)
    text = text.replace('"comment": "synthetic"', '"comment": "lone \\ud800 surrogate"')
    assert entry  # the replaced entry exists
    src, out = tmp_path / "in.har", tmp_path / "out.har"
    src.write_text(text)
    summary = redact_har(src, out, redactor_for("s"), Diagnostics())
    written = out.read_bytes().decode("utf-8")  # always valid UTF-8
    assert summary.entries == 4 and summary.clean
    assert written.count("[") - text.count("[") in range(-5, 6)
    assert "lone" in written  # (yajl itself turns a lone surrogate escape into "?")
    assert dumps({"n": [1, 2.5, None, True]}) == '{"n":[1,2.5,null,true]}'
    # a lone surrogate (valid as a JSON escape, not as UTF-8) is written escaped, so the file
    # always encodes; other text stays readable
    assert dumps(["a\ud800", "é"]) == '["a\\ud800","é"]'


# --------------------------------------------------------------------------------------------
# Detectors added to archcmp.redact
# --------------------------------------------------------------------------------------------


def test_scan_reports_kinds_and_spans_never_values() -> None:
    redactor = Redactor(key=b"x" * 32)
    redactor.remember(SESSION)
    text = f"a {JWT} b {AWS} c {SESSION} d <redacted:sha256:0123456789ab>"
    hits = scan(text, redactor)
    assert sorted(h.kind for h in hits) == ["jwt", "remembered", "vendor"]
    assert {text[h.start:h.end] for h in hits} == {JWT, AWS, SESSION}
    assert scan(redactor.text(text), redactor) == []
    assert scan("<redacted:sha256:0123456789ab> nothing here", redactor) == []


@pytest.mark.parametrize("value,expected", [
    (RANDOM, True),
    ("3_gtUbleJNtrRITgx-1mM_ci7GcIrH8xL9W_VfAbzSa4zpFrRwnpq_eYd8QT", True),
    ("CAESEBL0RnLf5EwG-9dhb9HXCzU", True),
    ("746c9115-91f3-59e0-7872-80abf2c4ada9", False),  # UUID: evidence
    ("51b1732a62e509384f18ddc14fb4fdd2", False),  # hex id
    ("jQuery111103915298576837295_1424574938474", False),  # JSONP callback
    ("ixCallback_6676077385", False),
    ("Krux.ns._default.kxjsonp_3pevents", False),  # dotted name
    ("short7Ab", False),
])
def test_high_entropy(value: str, expected: bool) -> None:
    assert is_high_entropy(value) is expected


# --------------------------------------------------------------------------------------------
# Packet captures
# --------------------------------------------------------------------------------------------


def _alpha_pcap(session: str) -> Path:
    path = ALPHA / session / "capture-dsb.pcapng"
    if not path.is_file():
        pytest.skip("alpha captures missing")
    return path


def _records(path: Path) -> list[Any]:
    with path.open("rb") as stream:
        return list(read_capture(stream, Diagnostics()))


def _decryption(path: Path, keylog: Path | None = None) -> dict[str, Any]:
    options = AnalyzeOptions(keylog=keylog.read_bytes() if keylog else None)
    return analyze_capture(path, options=options, redactor=ANALYSIS_KEY)


def test_pcapng_strip_keeps_connections_and_no_key(tmp_path: Path) -> None:
    src = _alpha_pcap("chromium-h2")
    out = tmp_path / "out.pcapng"
    summary = redact_pcap(src, out, Diagnostics())
    assert isinstance(summary, PcapSummary) and summary.format == "pcapng"
    assert summary.secrets_blocks == 1 and summary.residual == ()
    before, after = _records(src), _records(out)
    assert any(isinstance(r, Secrets) for r in before)
    assert not any(isinstance(r, Secrets) for r in after)
    frames = [r for r in after if not isinstance(r, Secrets)]
    assert len(frames) == summary.packets == len([r for r in before if not isinstance(r, Secrets)])
    assert summary.truncated > 100
    assert all(f.orig_len >= len(f.data) for f in frames)
    keylog = (src.parent / "sslkeys.log").read_bytes()
    for line in keylog.split(b"\n"):
        secret = line.split(b" ")[-1]
        assert len(secret) < 32 or secret not in out.read_bytes()
    doc = _decryption(out)
    decryption = doc["capture"]["decryption"]
    assert decryption["keys"] == 0 and decryption["tls_decrypted"] == 0
    assert doc["capture"]["exchanges"] == 0
    assert [c["sni"] for c in decryption["connections"]] == ["localhost"]
    assert decryption["connections"][0]["status"] == "no-keys"
    # the payload really is gone: even the right key log decrypts nothing now
    assert _decryption(out, src.parent / "sslkeys.log")["capture"]["exchanges"] == 0


def test_pcapng_keep_payloads_strips_only_the_keys(tmp_path: Path) -> None:
    src = _alpha_pcap("chromium-h2")
    out = tmp_path / "out.pcapng"
    summary = redact_pcap(src, out, Diagnostics(), keep_payloads=True)
    assert summary.truncated == 0 and summary.secrets_blocks == 1 and summary.clean
    assert _decryption(out)["capture"]["decryption"]["tls_decrypted"] == 0
    # every payload byte is still there: with the key log beside it, all 21 exchanges return
    assert _decryption(out, src.parent / "sslkeys.log")["capture"]["exchanges"] == 21


def test_quic_initial_packets_are_kept(tmp_path: Path) -> None:
    src = _alpha_pcap("chromium-h3")
    out = tmp_path / "out.pcapng"
    summary = redact_pcap(src, out, Diagnostics())
    assert summary.clean and summary.secrets_blocks == 1
    doc = _decryption(out)
    (quic,) = [c for c in doc["capture"]["decryption"]["connections"] if c["kind"] == "quic"]
    assert (quic["sni"], quic["alpn"]) == ("localhost", "h3")
    assert quic["spaces"]["initial"]["decrypted"] > 0  # public keys (RFC 9001 §5.2)
    assert "1rtt" not in quic["spaces"] or quic["spaces"]["1rtt"]["decrypted"] == 0
    assert doc["capture"]["exchanges"] == 0 and doc["capture"]["decryption"]["keys"] == 0


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_output(tmp_path: Path) -> None:
    for session in ("chromium-h2", "chromium-h3"):
        src = _alpha_pcap(session)
        out = tmp_path / f"{session}.pcapng"
        summary = redact_pcap(src, out, Diagnostics())
        result = subprocess.run(
            ["tshark", "-r", str(out), "-T", "fields", "-e", "frame.number",
             "-e", "tls.handshake.extensions_server_name"],
            capture_output=True, text=True, check=True, timeout=120)
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        assert len(rows) == summary.packets
        if session == "chromium-h2":
            assert sorted({r[1] for r in rows if len(r) > 1 and r[1]}) == ["localhost"]


def test_cleartext_payloads_kept_on_request_are_reported(tmp_path: Path) -> None:
    src = SHARED / "corpus" / "pcap" / "sv__http1-chunked.pcap"
    if not src.is_file():
        pytest.skip("corpus missing")
    cut = redact_pcap(src, tmp_path / "cut.pcap", Diagnostics())
    assert cut.clean and cut.format == "pcap" and cut.truncated > 0
    kept = redact_pcap(src, tmp_path / "kept.pcap", Diagnostics(), keep_payloads=True)
    assert {r.kind for r in kept.residual} == {"cleartext"}  # a Cookie: line
    assert not kept.clean


def test_classic_pcap_tls12_keeps_the_whole_cleartext_handshake(tmp_path: Path) -> None:
    src = SHARED / "corpus" / "pcap" / "illustrated-tls12__capture.pcap"
    if not src.is_file():
        pytest.skip("corpus missing")
    out = tmp_path / "out.pcap"
    summary = redact_pcap(src, out, Diagnostics())
    assert summary.clean and 0 < summary.truncated < summary.packets
    conn = _decryption(out)["capture"]["decryption"]["connections"][0]
    assert conn["sni"] == "example.ulfheim.net" and conn["version"] == "TLS 1.2"
    assert conn["cipher"]  # from the ServerHello, kept


# --- the payload policy, packet by packet -------------------------------------------------------


def _ipv4_tcp(payload: bytes, seq: int, flags: int = 0x18, sport: int = 50000) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, 443, seq, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")
    return ip + tcp + payload


def _ipv4_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 50000, 443, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")
    return ip + udp + payload


RAW_IP = 101  # LINKTYPE_RAW


def test_tls_handshake_records_are_followed_across_segments() -> None:
    cutter = PayloadCutter()
    hello = b"\x16\x03\x01" + struct.pack("!H", 3000) + b"\x01" * 3000
    assert cutter.keep(RAW_IP, _ipv4_tcp(b"", 999, flags=0x02)) == 40  # SYN
    assert cutter.keep(RAW_IP, _ipv4_tcp(hello[:1400], 1000)) == 40 + 1400
    # the second segment ends the ClientHello and starts ChangeCipherSpec + app data
    rest = hello[1400:] + b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x05hello"
    assert cutter.keep(RAW_IP, _ipv4_tcp(rest, 2400)) == 40 + len(hello) - 1400
    assert cutter.keep(RAW_IP, _ipv4_tcp(b"\x17\x03\x03\x00\x05world", 2400 + len(rest))) == 40
    assert cutter.keep(RAW_IP, _ipv4_tcp(hello[:1400], 1000)) == 40 + 1400  # retransmission


def test_cleartext_gaps_and_midstream_keep_headers_only() -> None:
    cutter = PayloadCutter()
    cutter.keep(RAW_IP, _ipv4_tcp(b"", 0, flags=0x02, sport=1))
    assert cutter.keep(RAW_IP, _ipv4_tcp(b"GET / HTTP/1.1\r\nCookie: a=b\r\n\r\n", 1,
                                         sport=1)) == 40
    assert cutter.keep(RAW_IP, _ipv4_tcp(b"\x17\x03\x03\x00\x02ab", 77, sport=2)) == 40
    cutter.keep(RAW_IP, _ipv4_tcp(b"", 0, flags=0x02, sport=3))
    hello = b"\x16\x03\x01\x00\x10" + b"\x01" * 16
    assert cutter.keep(RAW_IP, _ipv4_tcp(hello[5:], 6, sport=3)) == 40  # gap before: nothing


def _varint2(value: int) -> bytes:
    return struct.pack("!H", 0x4000 | value)


def _quic_long(ptype: int, body: bytes, token: bytes = b"") -> bytes:
    header = bytes([0xC0 | ptype << 4]) + b"\0\0\0\x01" + b"\x08" + b"D" * 8 + b"\x08" + b"S" * 8
    if ptype == 0:
        header += bytes([len(token)]) + token
    return header + _varint2(len(body)) + body


def test_quic_keeps_initial_packets_only() -> None:
    cutter = PayloadCutter()
    initial = _quic_long(0, b"\xaa" * 300)
    handshake = _quic_long(2, b"\xbb" * 200)
    datagram = initial + handshake + b"\0" * 50
    assert cutter.keep(RAW_IP, _ipv4_udp(datagram)) == 28 + len(initial)
    assert cutter.keep(RAW_IP, _ipv4_udp(b"\x41" + b"\xcc" * 60)) == 28  # 1-RTT
    negotiation = b"\x80\0\0\0\0" + b"\x08" + b"D" * 8 + b"\x08" + b"S" * 8 + b"\0\0\0\x01"
    assert cutter.keep(RAW_IP, _ipv4_udp(negotiation)) == 28 + len(negotiation)
    assert cutter.keep(RAW_IP, _ipv4_udp(b"\x00" * 40)) == 28  # DNS, anything else
    assert cutter.keep(0xFFFF, b"\x01" * 100) == 0  # an unknown link type: nothing


# --- pcapng blocks, built by hand ---------------------------------------------------------------


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(
        order + "I", len(body) + 12)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _pcapng(order: str) -> bytes:
    end = struct.pack(order + "HH", 0, 0)
    comment = _option(order, 1, b"password is hunter2")
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + comment
                 + _option(order, 4, b"dumpcap") + end)
    idb = _block(order, 1, struct.pack(order + "HHI", RAW_IP, 0, 0) + _option(order, 9, b"\x06")
                 + end)
    frame = _ipv4_tcp(b"GET / HTTP/1.1\r\nAuthorization: Bearer abcdefgh12345678\r\n\r\n", 5)
    epb = _block(order, 6, struct.pack(order + "IIIII", 0, 1, 2, len(frame), len(frame))
                 + frame + b"\0" * (-len(frame) % 4) + comment
                 + _option(order, 3, b"\x02" + b"h" * 16) + _option(order, 2, b"\0\0\0\0") + end)
    spb = _block(order, 3, struct.pack(order + "I", len(frame)) + frame)
    dsb = _block(order, 10, struct.pack(order + "II", 0x544C534B, 20) + b"CLIENT_RANDOM 00 00\n")
    custom = _block(order, 0x00000BAD, struct.pack(order + "I", 32473) + b"private notes")
    isb = _block(order, 5, struct.pack(order + "III", 0, 1, 2) + comment + end)
    return shb + idb + dsb + epb + spb + custom + isb


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_blocks_rewritten(tmp_path: Path, order: str) -> None:
    src, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    src.write_bytes(_pcapng(order))
    diag = Diagnostics()
    summary = redact_pcap(src, out, diag)
    data = out.read_bytes()
    assert summary.packets == 2 and summary.truncated == 2 and summary.secrets_blocks == 1
    assert summary.dropped_blocks == 1 and diag.count("redact.pcapng.block_dropped") == 1
    assert summary.dropped_options == 4  # three comments and the packet hash
    assert b"hunter2" not in data and b"private notes" not in data and b"Bearer" not in data
    assert b"dumpcap" in data  # other options stay
    frames = [r for r in _records(out) if not isinstance(r, Secrets)]
    assert [len(f.data) for f in frames] == [40, 40]
    assert all(f.orig_len > 40 for f in frames)
    assert summary.clean
    # the SPB became an EPB with the previous packet's time, as readers would time it
    assert frames[0].ts_ns == frames[1].ts_ns


def test_damaged_pcapng_stops_at_the_damage(tmp_path: Path) -> None:
    src, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    raw = _pcapng("<")
    src.write_bytes(raw[:-7])
    diag = Diagnostics()
    summary = redact_pcap(src, out, diag)
    assert diag.count("redact.pcapng.damaged") == 1 and summary.packets == 2
    assert summary.clean


# --------------------------------------------------------------------------------------------
# Packet capture → HAR
# --------------------------------------------------------------------------------------------


def _served(folder: Path) -> list[tuple[str, str, int]]:
    rows = [json.loads(line) for line in (folder / "server-log.jsonl").read_text().splitlines()
            if line.strip()]
    return sorted((r["method"], r["path"] + (f"?{r['query']}" if r["query"] else ""),
                   r["status"]) for r in rows)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[RedactSummary, Path]:
    src = _alpha_pcap("chromium-h2")
    out = tmp_path_factory.mktemp("to_har") / "chromium-h2.har"
    return to_har(src, out, redactor_for("s"), Diagnostics()), out


def test_to_har_gives_the_server_logs_exchanges(exported: tuple[RedactSummary, Path]) -> None:
    summary, out = exported
    folder = ALPHA / "chromium-h2"
    assert summary.entries == 21 and summary.clean
    doc = analyze_capture(out, options=AnalyzeOptions(), redactor=ANALYSIS_KEY)
    assert doc["capture"]["exchanges"] == len(_served(folder)) == 21
    got = sorted((e["method"], urlsplit(e["url"]).path
                  + (f"?{urlsplit(e['url']).query}" if urlsplit(e["url"]).query else ""),
                  e["status"]) for e in doc["exchanges"])
    assert got == _served(folder)
    assert not doc["capture"]["warnings"]
    pcap_doc = _decryption(_alpha_pcap("chromium-h2"))
    assert _summary(doc)["fingerprints"] == _summary(pcap_doc)["fingerprints"]
    assert [s[1:] for s in _summary(doc)["streams"]] == [s[1:] for s in _summary(pcap_doc)[
        "streams"]]


def test_to_har_is_valid_har_12_without_secrets(exported: tuple[RedactSummary, Path]) -> None:
    _, out = exported
    doc = _load(out)
    assert har12_problems(doc) == []
    view = _haralyzer_view(doc)
    assert view is not None and sum(view.values()) == 21
    data = out.read_bytes()
    for secret in _planted():
        for form in _forms(secret):
            assert form not in data
    entry = doc["log"]["entries"][0]
    assert entry["_archcmp"]["connection"].startswith("tcp/")
    assert entry["request"]["httpVersion"] == "HTTP/2.0"
    assert doc["log"]["creator"]["name"] == "archcmp"
    streamed = [e for e in doc["log"]["entries"] if "response_chunks" in e["_archcmp"]]
    assert streamed and all(c[1] >= 0 for e in streamed for c in e["_archcmp"]["response_chunks"])


# --------------------------------------------------------------------------------------------
# The CLI's entry point
# --------------------------------------------------------------------------------------------


def test_redact_capture_dispatches_and_refuses_flags_that_do_not_apply(tmp_path: Path) -> None:
    har = tmp_path / "in.har"
    har.write_text(json.dumps(_synthetic()))
    out = tmp_path / "out.har"
    result = redact_capture(har, out, redactor_for("s"), Diagnostics())
    assert isinstance(result, RedactSummary) and result.clean
    with pytest.raises(UsageError):
        redact_capture(har, out, redactor_for("s"), Diagnostics(), as_har=True)
    with pytest.raises(UsageError):
        redact_capture(har, out, redactor_for("s"), Diagnostics(), keep_payloads=True)
    with pytest.raises(UsageError):
        redact_capture(har, out, redactor_for("s"), Diagnostics(), keylog=b"x")
    with pytest.raises(UsageError):
        redact_capture(har, har, redactor_for("s"), Diagnostics())
    with pytest.raises(UsageError):
        redact_har(har, out, Redactor(keep_secrets=True), Diagnostics())
    pcap = SHARED / "corpus" / "pcap" / "illustrated-tls13__capture.pcap"
    if pcap.is_file():
        assert isinstance(redact_capture(pcap, tmp_path / "o.pcap", redactor_for("s"),
                                         Diagnostics()), PcapSummary)
        with pytest.raises(UsageError):
            redact_capture(pcap, tmp_path / "o.pcap", redactor_for("s"), Diagnostics(),
                           keylog=b"x")
        with pytest.raises(UnknownFormat):
            redact_har(pcap, out, redactor_for("s"), Diagnostics())
    assert (EXIT_CLEAN, EXIT_RESIDUAL) == (0, 1)
