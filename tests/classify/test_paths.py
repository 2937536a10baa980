"""Path and query templates, on the capture lab's ground truth and on real sites' URLs."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.classify.paths import (
    classify_segment,
    is_secret_key,
    split_target,
    template_path,
    template_query,
    template_segment,
)

UUID7 = "019ab572-f082-79b7-a0db-e69cbf591f58"


@pytest.mark.parametrize(("path", "template"), [
    ("/", "/"),
    ("", ""),
    (f"/api/organizations/{UUID7}/chat_conversations",
     "/api/organizations/{uuid}/chat_conversations"),
    (f"/api/organizations/{UUID7}/chat_conversations/{UUID7}/completion",
     "/api/organizations/{uuid}/chat_conversations/{uuid}/completion"),
    ("/backend-api/gizmos/g-2fkFE8rbu/about", "/backend-api/gizmos/g-{base62}/about"),
    ("/backend-api/automations/sched_67d0a1b2c3d4e5f6a7b8c9d0e1f2a3b4",
     "/backend-api/automations/sched_{hex32}"),
    ("/v1/customers/cus_NffrFeUfNV2Hib", "/v1/customers/cus_{base62}"),
    ("/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/items/{ulid}"),
    ("/channels/175928847299117063/messages", "/channels/{snowflake}/messages"),
    ("/docs/507f1f77bcf86cd799439011", "/docs/{objectid}"),
    ("/rooms/0f1e2d3c4b5a69788796a5b4c3d2e1f0", "/rooms/{hex32}"),
    ("/page/2", "/page/{int}"),
    ("/2017/11/13/world/story/index.html", "/{int}/{int}/{int}/world/story/index.html"),
    ("/v1/t", "/v1/t"),
    ("/v2.6.1/en-US/static/", "/v2.6.1/en-US/static/"),
    ("//double//slash", "//double//slash"),
    ("/a/b?x=1#frag", "/a/b"),
])
def test_template_path(path: str, template: str) -> None:
    assert template_path(path) == template


@pytest.mark.parametrize(("segment", "template"), [
    # Asset fingerprints in file names (webpack, Next.js, CRA, Gatsby, rollup): {hash}.
    ("app-569eba9f69a1dc14.js", "app-{hash}.js"),
    ("main.3f2a9c1b.chunk.js", "main.{hash}.chunk.js"),
    ("styles.a1b2c3d4e5.css", "styles.{hash}.css"),
    ("logo.5d5d9eef.svg", "logo.{hash}.svg"),
    ("cnn-header.bb0d864591f5bdfc609e-first-bundle.js", "cnn-header.{hash}-first-bundle.js"),
    ("controltag.js.06631e6b152733188c0cac5a80502b56", "controltag.js.{hash}"),
    ("proxy.3d2100fd7107262ecb55ce6847f01fa5.html", "proxy.{hash}.html"),
    ("sprite-s1dced3ff2b.png", "sprite-{hash}.png"),
    ("DU1Ia251o0y.js", "{hash}.js"),
    # Files named by an id or a number.
    ("342da402-a44b-4b59-aba4-8fc2310e4478.js", "{uuid}.js"),
    ("128727546.js", "{int}.js"),
    # Names stay.
    ("index.html", "index.html"),
    ("jquery-1.7.1.min.js", "jquery-1.7.1.min.js"),
    ("HelveticaNeue-Bold-Italic.woff", "HelveticaNeue-Bold-Italic.woff"),
    ("GitHub-Mark-64px.png", "GitHub-Mark-64px.png"),
    ("tqdm-4.66.1-py3-none-any.whl", "tqdm-4.66.1-py3-none-any.whl"),
    ("pubads_impl_moa_c_20171107.js", "pubads_impl_moa_c_20171107.js"),
    ("v3.0.1506035968", "v3.0.1506035968"),
    # Long unrecognised data, and base64 JSON contexts.
    ("pixel;r=2107690388;" + "labels=By%20Network%3ESection" * 6, "{blob}"),
    ("eyJhbm9ueW1vdXMiOnRydWUsImtleSI6Im1pbnQtYW5kcm9pZCJ9", "{b64json}"),
])
def test_template_segment(segment: str, template: str) -> None:
    assert template_segment(segment) == template


def test_query_keeps_keys_and_replaces_ids() -> None:
    assert template_query("limit=30&starred=false") == "limit=30&starred=false"
    assert (template_query(f"conversation_id={UUID7}&page=2&flag")
            == "conversation_id={uuid}&page=2&flag")
    assert template_query("user=12345678&_=1510268775723") == "user={int}&_=1510268775723"
    assert template_query("access_token=CANARYqueryTOKEN0123&x=1") == "access_token={redacted}&x=1"
    assert template_query("id=user%2D019ab572-f082-79b7-a0db-e69cbf591f58") == "id=user-{uuid}"
    assert template_query("") == ""


@pytest.mark.parametrize(("key", "secret"), [
    ("access_token", True), ("writeKey", True), ("sig", True), ("X-CSRF-Token", True),
    ("sessionKey", True), ("api_key", True), ("code", True), ("password", True),
    ("conversation_id", False), ("limit", False), ("keyword", False), ("uuid", False),
])
def test_secret_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_split_target() -> None:
    assert split_target("/a?b=1#c") == ("/a", "b=1")
    assert split_target("/a#c?d") == ("/a", "")


def test_placeholders_are_never_reclassified() -> None:
    assert classify_segment("{uuid}") is None
    assert template_segment("sched_{hex32}") == "sched_{hex32}"


_SEGMENTS = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~%:;=@", max_size=40),
    st.sampled_from([UUID7, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "g-2fkFE8rbu", "app-569eba9f69a1dc14.js",
                     "175928847299117063", "2", "main.3f2a9c1b.chunk.js", "{uuid}", "x" * 200]),
)


@given(st.lists(_SEGMENTS, max_size=8).map(lambda s: "/" + "/".join(s)))
def test_template_path_is_idempotent(path: str) -> None:
    once = template_path(path)
    assert template_path(once) == once
    assert once.count("/") == path.split("?", 1)[0].split("#", 1)[0].count("/")


@given(st.text(max_size=200))
def test_template_path_never_raises(path: str) -> None:
    template_path(path)
    template_query(path)


# -- ground truth: the capture lab's scripted requests -----------------------------------------

#: The lab names placeholders by meaning ({org_uuid}, {conv_uuid}); archcmp names the format.
_TRUTH_PLACEHOLDER = re.compile(r"\{[a-z]+_uuid\}")


def _truth_requests(shared: Path) -> list[dict[str, object]]:
    requests: list[dict[str, object]] = []
    for truth in sorted((shared / "captures" / "alpha").glob("*/truth.json")):
        requests += json.loads(truth.read_text())["requests"]
    return requests


def test_alpha_truth_templates(shared: Path) -> None:
    requests = _truth_requests(shared)
    assert len(requests) >= 100  # 6 sessions x 21 requests
    for request in requests:
        expected = _TRUTH_PLACEHOLDER.sub("{uuid}", str(request["template"]))
        assert template_path(str(request["path"])) == expected, request["path"]


def test_alpha_har_paths_match_truth(shared: Path) -> None:
    """The same on the URLs the browsers actually recorded (compared by path)."""
    truth = {str(r["path"]).split("?")[0]: _TRUTH_PLACEHOLDER.sub("{uuid}", str(r["template"]))
             for r in _truth_requests(shared)}
    hars = sorted((shared / "captures" / "alpha").glob("*/capture.har"))
    assert len(hars) == 3
    for har in hars:
        entries = json.loads(har.read_text())["log"]["entries"]
        paths = [urlsplit(e["request"]["url"]).path for e in entries]
        assert {template_path(p) for p in paths} == {truth[p] for p in paths}, har


# -- real sites: no id false positives ---------------------------------------------------------

#: Every path segment of the shared corpus HARs that classifies as a reportable id, with its
#: placeholder. Pinned: a change to the classifier that adds or drops one must be looked at.
CORPUS_ID_SEGMENTS = {
    "10001": "{int}",
    "150": "{int}",
    "15064852172826283141": "{int}",
    "26357": "{int}",
    "340": "{int}",
    "5500": "{int}",
    "731697573629176": "{int}",
    "925133270": "{int}",
    "986255830": "{int}",
    "C726AB29-0470-440B-B8D2-D552CED3A3DC": "{uuid}",
    "f12a80907d0884e6dff9c16d0c0114d81b8cd07dc3ae54c5e962cc83037e": "{hex60}",
    "f28c129b0bea30c": "{hex15}",
}
_WORDLIKE = re.compile(r"[A-Za-z]+(?:[-_. ][A-Za-z]+)*|(?:[A-Z]?[a-z]+)+[0-9]{0,4}")


def _corpus_segments(shared: Path) -> set[str]:
    segments: set[str] = set()
    for har in sorted((shared / "corpus" / "har").glob("*.har")):
        try:
            entries = json.loads(har.read_bytes().decode("utf-8-sig"))["log"]["entries"]
        except (ValueError, KeyError):  # the corpus holds deliberately broken files
            continue
        for entry in entries:
            try:
                path = urlsplit(entry["request"]["url"]).path
            except (KeyError, ValueError):  # entries without a URL, or an unparsable one
                continue
            segments.update(s for s in path.split("/") if s)
    return segments


def test_corpus_id_segments_are_not_words(shared: Path) -> None:
    segments = _corpus_segments(shared)
    assert len(segments) > 400
    found = {}
    for segment in segments:
        match = classify_segment(segment)
        if match is not None and match.reportable:
            found[segment] = match.placeholder
    words = [s for s in found if _WORDLIKE.fullmatch(s)]
    assert words == []
    assert found == CORPUS_ID_SEGMENTS


def test_corpus_words_stay_literal(shared: Path) -> None:
    """Ordinary words and names among the corpus segments survive templating unchanged."""
    segments = _corpus_segments(shared)
    for word in ("analytics.js", "getCurrentUser", "GetNavigationMenu2", "accounts.webSdkBootstrap",
                 "headline_testing", "cookie2json", "jquery.min.js", "HelveticaNeue-Bold.woff",
                 "v1", "2014", "en_US", "index.html:homepage-injection-zone-3"):
        assert word in segments, word
        assert classify_segment(word) is None or not classify_segment(word).reportable  # type: ignore[union-attr]
        if not word.isdigit():
            assert template_segment(word) == word


@pytest.mark.parametrize(("path", "expected"), [
    ("/assets/index-2acwGRDZ.js", "/assets/index-{hash}.js"),    # Vite/Rollup [name]-[hash]
    ("/assets/index-DiwrgTda.js", "/assets/index-{hash}.js"),    # no digit, still random
    ("/assets/vendor-BxN3kQ2a.css", "/assets/vendor-{hash}.css"),
    ("/static/main-MainPage.js", "/static/main-MainPage.js"),    # a component name
    ("/x/chunk-Settings.js", "/x/chunk-Settings.js"),
    ("/assets/logo-darkmode.svg", "/assets/logo-darkmode.svg"),  # not a bundle asset
])
def test_bundler_hashes_in_asset_names(path: str, expected: str) -> None:
    assert template_path(path) == expected
