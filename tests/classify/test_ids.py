"""Identifier formats: spec vectors, generated values with known times, words that are not ids."""

from __future__ import annotations

import base64
import json
import random
import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcmp.classify.ids import (
    IdMatch,
    classify_int,
    classify_value,
    is_hex_token,
    looks_random,
    mask_example,
)

#: "now" for every test: 2025-11-24T12:00:00Z, the day the alpha lab minted its ids.
NOW = datetime(2025, 11, 24, 12, tzinfo=UTC).timestamp() * 1000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def ms(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0,
       second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def match(value: str) -> IdMatch:
    found = classify_value(value, now_ms=NOW)
    assert found is not None, value
    return found


# -- generators: each format built from its spec with a chosen time -----------------------------

def uuid7(ts_ms: int, rng: random.Random) -> str:
    """RFC 9562 §5.7: unix_ts_ms(48) ver(4)=7 rand_a(12) var(2)=0b10 rand_b(62)."""
    value = ((ts_ms << 80) | (7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
             | rng.getrandbits(62))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ulid(ts_ms: int, rng: random.Random) -> str:
    """ulid/spec: 48-bit ms time then 80 random bits, 26 Crockford base32 characters."""
    value = (ts_ms << 80) | rng.getrandbits(80)
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def ksuid(ts_s: int, rng: random.Random) -> str:
    """segmentio/ksuid: 4-byte (seconds - 1400000000) + 16-byte payload, base62, 27 chars."""
    value = ((ts_s - 1_400_000_000) << 128) | rng.getrandbits(128)
    out = ""
    while value:
        value, digit = divmod(value, 62)
        out = BASE62[digit] + out
    return out.rjust(27, "0")


def snowflake(ts_ms: int, epoch: int, rng: random.Random) -> str:
    return str(((ts_ms - epoch) << 22) | (rng.getrandbits(10) << 12) | rng.getrandbits(12))


def objectid(ts_s: int, rng: random.Random) -> str:
    return f"{ts_s:08x}{rng.getrandbits(40):010x}{rng.getrandbits(24):06x}"


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


# -- spec vectors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "version", "when"), [
    # RFC 9562 Appendix A: the same instant, 2022-02-22T19:22:22Z, in v1, v6 and v7.
    ("C232AB00-9414-11EC-B3C8-9F6BDECED846", 1, ms(2022, 2, 22, 19, 22, 22)),  # A.1
    ("1EC9414C-232A-6B00-B3C8-9F6BDECED846", 6, ms(2022, 2, 22, 19, 22, 22)),  # A.5
    ("017F22E2-79B0-7CC3-98C4-DC0C0C07398F", 7, ms(2022, 2, 22, 19, 22, 22)),  # A.6
    ("919108F7-52D1-4320-9BAC-F847DB4148A8", 4, None),  # A.3
    ("5df41881-3aed-3515-88a7-2f4a814cf09e", 3, None),  # A.2
])
def test_rfc9562_vectors(value: str, version: int, when: int | None) -> None:
    for text in (value, value.lower()):
        m = match(text)
        assert (m.kind, m.version, m.placeholder, m.strong) == ("uuid", version, "{uuid}", True)
        assert m.timestamp_ms == when
        assert m.timestamp_plausible is (None if when is None else True)


def test_nil_max_and_non_rfc_variant() -> None:
    assert match("00000000-0000-0000-0000-000000000000").version == 0
    assert match("ffffffff-ffff-ffff-ffff-ffffffffffff").version == 15
    # Variant 110x (Microsoft GUID): the version nibble means nothing.
    assert match("de5d88d3-c1a5-4368-cc2c-40b0106a1a8d").version is None


def test_ulid_spec_example() -> None:
    m = match("01ARZ3NDEKTSV4RRFFQ69G5FAV")  # github.com/ulid/spec README
    assert (m.kind, m.placeholder) == ("ulid", "{ulid}")
    assert m.timestamp_ms == 1469922850259  # 2016-07-30T23:54:10.259Z
    assert m.timestamp_plausible is True
    assert match("01arz3ndektsv4rrffq69g5fav").kind == "ulid"  # case-insensitive per spec


def test_ksuid_readme_example() -> None:
    m = match("0ujtsYcgvSTl8PAuAdqWYSMnLOv")  # github.com/segmentio/ksuid README
    assert m.kind == "ksuid"
    assert m.timestamp_ms == ms(2017, 10, 10, 4, 0, 47)  # "2017-10-09 21:00:47 -0700 PDT"


def test_snowflake_docs_examples() -> None:
    m = match("175928847299117063")  # discord.com/developers/docs/reference#snowflakes
    assert (m.kind, m.epoch_guess) == ("snowflake", "discord")
    assert m.timestamp_ms == 1462015105796  # 2016-04-30T11:18:25.796Z, as the docs say
    rng = random.Random(3)
    # A 2024 tweet read with Discord's epoch (4.2 years later) would date from 2028: only
    # Twitter's epoch gives a time the capture could have seen.
    tweet = snowflake(ms(2024, 6, 1), 1288834974657, rng)
    assert (match(tweet).kind, match(tweet).epoch_guess) == ("snowflake", "twitter")
    assert match(tweet).timestamp_ms // 1000 == ms(2024, 6, 1) // 1000  # type: ignore[operator]


def test_objectid_docs_example() -> None:
    m = match("507f1f77bcf86cd799439011")  # mongodb.com ObjectId docs
    assert (m.kind, m.placeholder) == ("objectid", "{objectid}")
    assert m.timestamp_ms == ms(2012, 10, 17, 21, 13, 27)


# -- generated values, many times each ---------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_generated_timed_ids_decode_their_time(seed: int) -> None:
    rng = random.Random(seed)
    when = rng.randrange(ms(2021, 1, 1), int(NOW))
    assert match(uuid7(when, rng)).timestamp_ms == when
    assert match(uuid7(when, rng)).version == 7
    u = match(ulid(when, rng))
    assert (u.kind, u.timestamp_ms, u.timestamp_plausible) == ("ulid", when, True)
    k = match(ksuid(when // 1000, rng))
    assert (k.kind, k.timestamp_ms) == ("ksuid", when // 1000 * 1000)
    o = match(objectid(when // 1000, rng))
    assert (o.kind, o.timestamp_ms) == ("objectid", when // 1000 * 1000)
    d = match(snowflake(when, 1420070400000, rng))
    assert d.kind == "snowflake" and d.timestamp_ms is not None


def test_uuid7_time_plausibility_uses_now_not_the_clock() -> None:
    rng = random.Random(0)
    future = uuid7(int(NOW) + 10 * 86_400_000, rng)
    assert match(future).timestamp_plausible is False
    assert classify_value(future, now_ms=NOW + 30 * 86_400_000).timestamp_plausible is True  # type: ignore[union-attr]
    ancient = uuid7(ms(2015, 1, 1), rng)  # before the format existed
    assert match(ancient).timestamp_plausible is False


def test_structureless_formats_need_a_recognisable_time() -> None:
    rng = random.Random(1)
    # An ObjectId-shaped value dated 2090 is a 24-digit hex, not an ObjectId.
    far = objectid(int(datetime(2090, 1, 1, tzinfo=UTC).timestamp()), rng)
    assert (match(far).kind, match(far).placeholder) == ("hex", "{hex24}")
    # A ULID minted a year after the recorder's clock is still a ULID, flagged implausible.
    skewed = ulid(int(NOW) + 365 * 86_400_000, rng)
    assert (match(skewed).kind, match(skewed).timestamp_plausible) == ("ulid", False)


@pytest.mark.parametrize(("value", "placeholder"), [
    ("e15cfd740887a9449c0732b19f088307", "{hex32}"),  # W3C trace-id
    ("d797e9a1ed7121c1", "{hex16}"),  # span id
    ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "{hex40}"),  # SHA-1 of ""
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "{hex64}"),  # SHA-256
    ("8B6A2C9F1E0D4A3B", "{hex16}"),  # upper case
])
def test_hex_lengths(value: str, placeholder: str) -> None:
    m = match(value)
    assert (m.kind, m.placeholder, m.length, m.strong) == ("hex", placeholder, len(value), False)


def test_hex_needs_digits_letters_and_variety() -> None:
    for word in ("deadbeef", "decade", "ffffff00", "AABBCC00", "a1"):
        assert not is_hex_token(word), word
    assert is_hex_token("3f2a9c1b")


@pytest.mark.parametrize(("value", "kind"), [
    ("V1StGXR8_Z5jdHi6B-myT", "nanoid"),  # github.com/ai/nanoid README
    ("Wd7XTkOBzFbZzcWePPZZf", "nanoid"),  # a Next.js build id (nanoid, no _ or -)
    ("dQw4w9WgXcQ", "base62"),  # a YouTube video id
    ("hrSbviFSM4KkOTYPfksuy4MADOGwsaBX", "base62"),
    ("lY4eZXm_YWu", "base64url"),
])
def test_random_tokens(value: str, kind: str) -> None:
    m = match(value)
    assert (m.kind, m.prefix, m.strong) == (kind, None, False)


@pytest.mark.parametrize(("value", "prefix", "kind", "placeholder"), [
    ("cus_NffrFeUfNV2Hib", "cus_", "base62", "cus_{base62}"),  # Stripe API reference
    ("pi_3MtwBwLkdIwHu7ix28a3tqPa", "pi_", "base62", "pi_{base62}"),
    ("msg_01XFDUDYJgAACzvnptvVoYEL", "msg_", "base62", "msg_{base62}"),  # Anthropic API docs
    ("chatcmpl-8abcXYZ123def456GHI789jkl012m", "chatcmpl-", "base62", "chatcmpl-{base62}"),
    ("chatcompl_kILh0WxZyKnPQuHXqD42uk7U", "chatcompl_", "base62", "chatcompl_{base62}"),
    ("req_011CkKVX6qyKdJFhIcKM0uQO", "req_", "base62", "req_{base62}"),
    ("g-2fkFE8rbu", "g-", "base62", "g-{base62}"),  # a GPT id
    ("sched_67d0a1b2c3d4e5f6a7b8c9d0e1f2a3b4", "sched_", "hex", "sched_{hex32}"),
    ("connector_0f1e2d3c4b5a69788796a5b4c3d2e1f0", "connector_", "hex", "connector_{hex32}"),
    ("user-AbCd3fGh1jKlMn0pQrStUvWx", "user-", "base62", "user-{base62}"),
    ("ajs-next-13e5c3d6003f37c64555ddbc6001a827", "ajs-next-", "hex", "ajs-next-{hex32}"),
    ("user-019ab572-f082-79b7-a0db-e69cbf591f58", "user-", "uuid", "user-{uuid}"),
    ("acct_12345678", "acct_", "numeric", "acct_{int}"),
])
def test_prefixed_families(value: str, prefix: str, kind: str, placeholder: str) -> None:
    m = match(value)
    assert (m.prefix, m.kind, m.placeholder, m.secret) == (prefix, kind, placeholder, False)


def test_prefixed_uuid_keeps_version_and_strength() -> None:
    m = match("user-019ab572-f082-79b7-a0db-e69cbf591f58")
    assert (m.version, m.strong, m.timestamp_plausible) == (7, True, True)


@pytest.mark.parametrize("value", [
    "sk-ant-sid01-_yBNikaAqrETAL8P0sUOZv0QRkmZDb6scPqVp8hjcgY2TwEVPAxqJ7v2AOneWzSuKDSDxgbW59x",
    "hcaik_MwAbsDCFHGYEzUVs9dElrFhQEJD2vdGd8DnGpi3l4c5e1cgNO6PJ",
    "client-RcrA7KJ8RG4QGe37h7HdoZKjZbaKIVJ7J4aYqzpii4k",
])
def test_credential_prefixes_are_secret(value: str) -> None:
    m = match(value)
    assert m.secret
    assert mask_example(value, m) == f"{m.prefix}…(redacted)"


def test_jwt_is_secret_and_masked() -> None:
    token = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url({'sub': 'x'})}.c2lnbmF0dXJl"
    m = match(token)
    assert (m.kind, m.placeholder, m.secret, m.strong) == ("jwt", "{jwt}", True, True)
    assert mask_example(token, m) == "eyJ…(redacted)"
    jwe = ".".join([b64url({"alg": "RSA-OAEP", "enc": "A256GCM"}), "a", "b", "c", "d"])
    assert match(jwe).kind == "jwt"
    # Three base64url parts whose header has no "alg" are not a JWT.
    assert classify_value(f"{b64url({'x': 1})}.{b64url({})}.abc", now_ms=NOW) is None


def test_base64_json_in_a_path_is_data() -> None:
    m = match(b64url({"anonymous": True, "key": "mint-android"}))
    assert (m.kind, m.placeholder, m.reportable) == ("b64json", "{b64json}", False)


@pytest.mark.parametrize(("value", "reportable"), [
    ("2", False), ("42", False), ("2024", False), ("20171107", False),  # short, year, date
    ("1510268775723", False),  # a cache-busting Unix time in ms
    ("1763980872111000000", False),  # Unix ns from JS (ms x 1e6)
    ("340", True), ("26357", True), ("925133270", True), ("15064852172826283141", True),
])
def test_numeric(value: str, reportable: bool) -> None:
    m = match(value)
    assert (m.kind, m.placeholder, m.reportable) == ("numeric", "{int}", reportable)


def test_json_integers() -> None:
    assert classify_int(175928847299117063, now_ms=NOW).kind == "snowflake"  # type: ignore[union-attr]
    assert classify_int(12345, now_ms=NOW).reportable  # type: ignore[union-attr]
    assert classify_int(-5, now_ms=NOW) is None


#: Words, names, versions and file names from real paths and bodies: none is an id.
NOT_IDS = [
    "chat_conversations", "organizations", "v1", "v2.6.1", "static", "index.html", "en-US",
    "en_US", "claude-sonnet-4-5-20250929", "message_start", "text_delta", "default",
    "default_claude_ai", "x-envoy-upstream-service-time", "GetNavigationMenu2", "getCurrentUser",
    "webSdkBootstrap", "CNNVideoPlayer", "iPhone15ProMax", "OAuth2Callback", "XMLHttpRequest",
    "HelveticaNeue-Bold-Italic", "GitHub-Mark-64px", "jquery-1.7.1.min.js", "fa-brands-400",
    "channel_123", "cookie2json", "usny9472", "USNY9472", "ecm3", "e1mo", "sha256", "x86_64",
    "utf-8", "ISO-8859-1", "how-to-build-a-service-mesh-2024", "deadbeef", "s53772975319328",
    "1-0-13", "pubads_impl_moa_c_20171107", "forkme_right_darkblue_121621", "d008_6487868432",
    "Affine2D", "HandlerLine2DCompound", "release-2024", "abc", "", " ", "a b", "CANARYqueryTOKEN",
]


@pytest.mark.parametrize("value", NOT_IDS)
def test_words_are_not_ids(value: str) -> None:
    found = classify_value(value, now_ms=NOW)
    assert found is None or not found.reportable, (value, found)


def test_random_base62_is_mostly_recognised() -> None:
    """Measured recall: the thresholds trade short tokens for fewer false positives."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    for length, floor in ((12, 0.7), (24, 0.9), (32, 0.95)):
        hits = sum(looks_random("".join(rng.choice(alphabet) for _ in range(length)))
                   for _ in range(500))
        assert hits / 500 >= floor, (length, hits)


@given(st.text(max_size=300))
def test_classify_value_never_raises(text: str) -> None:
    found = classify_value(text, now_ms=NOW)
    assert found is None or found.placeholder.count("{") == 1


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_.", max_size=80),
       st.one_of(st.none(), st.floats(min_value=0, max_value=4e12)))
def test_classify_value_never_raises_on_token_alphabet(text: str, now: float | None) -> None:
    classify_value(text, now_ms=now)


@given(st.integers())
def test_classify_int_never_raises(value: int) -> None:
    classify_int(value, now_ms=NOW)
