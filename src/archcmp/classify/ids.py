"""Recognise identifier formats in a single value: a path segment, a query value, a JSON string.

One pure function, :func:`classify_value`, answers "is this text an identifier, of which format,
and what does its structure tell us?" The answer is an :class:`IdMatch`. Path templating
(:mod:`archcmp.classify.paths`) and the capture-wide ``id_formats[]`` table
(:mod:`archcmp.analyze.ids`) are both built on it, so a segment templated as ``{ulid}`` is the
same thing the table counts as ``ulid``.

Formats, in the order they are tried (first match wins; each names its specification):

===========  ================================================================================
kind         recognition
===========  ================================================================================
jwt          RFC 7519 §3 / RFC 7515 §7.1 compact form: three base64url parts (five for JWE,
             RFC 7516 §7.1) whose first part decodes to a JSON object with an ``alg`` member.
             Always a secret: its value is never reported (:attr:`IdMatch.secret`).
uuid         RFC 9562 §4 text form ``8-4-4-4-12`` hex, either case. ``version`` is the version
             nibble (§4.2) when the variant bits are ``10`` (§4.1), the Nil/Max UUIDs (§5.9,
             §5.10) give 0/15, any other variant gives ``None``. Time is decoded for v7 (§5.7:
             48-bit Unix ms), v1 (§5.1) and v6 (§5.6) (60-bit count of 100 ns since 1582-10-15).
ulid         github.com/ulid/spec: 26 Crockford base32 characters, the first 10 a 48-bit Unix
             ms time. Case-insensitive (the spec allows it). Not all-hex, not all-digits.
ksuid        github.com/segmentio/ksuid: 27 base62 characters encoding 20 bytes (< 2**160),
             the first 4 a big-endian count of seconds since 1400000000 (2014-05-13); with a
             digit and under 85% pronounceable (a 27-letter camelCase name is not one).
snowflake    A 17–19 digit integer < 2**63 whose top 41 bits are ms since a service epoch:
             Twitter 1288834974657 (github.com/twitter-archive/snowflake), Discord
             1420070400000 (discord.com/developers/docs/reference#snowflakes).
objectid     MongoDB ObjectId (mongodb.com/docs/manual/reference/method/ObjectId): 24 hex, the
             first 4 bytes big-endian Unix seconds.
hex          8 or more hex digits of one case with at least two digits and two letters (so
             ``deadbeef``, ``decade`` and ``a1`` are words, not ids). ``length`` says which:
             16/20/24/32/40/64 are the usual fixed widths (64-bit ids, 80-bit, 96-bit, MD5 or
             128-bit ids, SHA-1, SHA-256).
numeric      Decimal digits. A placeholder always (``/page/2`` → ``/page/{int}``), but only worth
             reporting as an *id format* with 3 or more digits and when not a year (``2024``),
             a ``YYYYMMDD`` date or a Unix time in ms/µs/ns (cache busters such as
             ``_=1510268775723``): see :attr:`IdMatch.reportable`.
nanoid       github.com/ai/nanoid default: exactly 21 characters of ``[A-Za-z0-9_-]`` that
             look random (see below).
base62       8–256 characters of ``[A-Za-z0-9]`` that look random.
base64url    8–256 characters of ``[A-Za-z0-9_-]`` with a ``_`` or ``-``, random-looking and
             not a prefixed family (a word new to the schema vocabulary; none of its words fit).
b64json      ``eyJ…``: base64url of a JSON object (LaunchDarkly puts user contexts in paths).
             A placeholder, never reported: it is data, not an identifier.
===========  ================================================================================

**Prefixed families** (Stripe's ``cus_…``, OpenAI's ``chatcmpl-…``, ``g-…``, ``sched_…``,
``connector_…``, ``user-…``, Anthropic's ``msg_…``, Segment's ``ajs-next-…``): a constant
lowercase prefix — up to three ``[a-z][a-z0-9]*`` words joined by ``-``/``_``, the first all
letters (``d008_…`` is a partner code, not a family) — then a separator,
then a tail that is itself one of the kinds above (tried without a prefix). ``prefix`` keeps the
separator (``sched_``) as the schema's examples do, ``kind`` names the tail. The longest such
prefix wins, so ``ajs-next-<hex32>`` is prefix ``ajs-next-`` with a ``hex`` tail. Tails must be
strong: a numeric tail needs 6+ digits (``channel_123``, ``fa-brands-400`` stay words) and a
random tail 8+ characters.

**"Looks random"** (:func:`looks_random`), for tokens without internal structure. Thresholds,
measured on the shared corpus of real HARs and on generated base62/nanoid values:

* at least 8 alphanumeric characters and at least two of the classes upper/lower/digit (all
  three when ``-``/``_`` separate parts: random base64url of 8+ characters has them 99.5% of
  the time, while ``test_ncx2_gh12731``-style names lack capitals);
* class transitions (upper↔lower↔digit between neighbours) in at least 30% of positions.
  Uniform base62 changes class at 62% of positions (1 − Σpᵢ² with p = 26/62, 26/62, 10/62);
  names change less (``webSdkBootstrap``: 29%);
* without digits (upper and lower only), 16+ characters (8+ after a constant prefix) and 40%
  transitions, because camelCase words are common in paths (a random 8-character base62
  token has no digit one time in four, so short digit-less tokens are missed: by design);
* lowercase+digits or uppercase+digits only: 10+ characters (``usny9472``, ``ecm3`` are codes);
* with separators, no part may be a word (``Mark`` in ``GitHub-Mark-64px``), unless the
  token has 24+ alphanumerics and 45%+ transitions (long secrets with a ``sk-ant-`` prefix);
* pronounceable humps (``[A-Z]?[a-z]+`` of 3+ letters with a vowel, counting ``y``, or a
  capitalised pair with one such as ``Of``) cover less than 70% of the characters, and less
  than 50% (60% after a prefix) unless transitions reach 50%. This rules out camelCase names
  (``GetNavigationMenu2``, ``Affine2D``, ``iPhone15ProMax``: 75–95%); random base62 rarely has
  such humps (``kILh0WxZyKnPQuHXqD42uk7U``: 8%);
* no run of 7+ digits (``s53772975319328``, ``w3c-19980720``: a number with a letter);
* Shannon entropy at least 70% of log2 of the length, at most log2 62 (rules out
  ``aaaa1111aaaa1111``).

Measured on 2,000 uniform base62 tokens per length, this recognises 67% at 8 characters, 94%
at 16, 97% at 24 and 99% at 32 (98% at 24 after a constant prefix), and of 251,000 distinct
identifiers and strings in Python sources it calls 0.4% random tokens, mostly embedded base64
data and AWS example ids.

Time plausibility: a decoded time is plausible between the format's first public use (UUIDv7
2020, ULID 2016, KSUID 2017, ObjectId 2009, the snowflake epochs) and ``now + 1 day``. ``now``
is a parameter, never the clock (sans-IO, as aioquic passes ``now`` in): analysers pass the
capture's own start time, since no id in a capture can be younger than the capture. Without
``now`` the upper bound is 2100-01-01. ULID, KSUID, ObjectId and snowflake have no structural
marker besides their time, so for them the time is also the recognition evidence, with a looser
upper bound of ``now + 2 years`` (servers' clocks need not agree with the recorder's): outside it
the value is "not this format" and falls through to ``hex``/``numeric``/``base62``; inside it
but after ``now + 1 day`` it is recognised with ``timestamp_plausible`` False. UUIDs are
recognised by their shape alone.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

__all__ = [
    "KINDS",
    "MAX_VALUE_CHARS",
    "IdMatch",
    "classify_int",
    "classify_value",
    "is_hex_token",
    "looks_random",
    "mask_example",
]

#: Every ``kind`` :func:`classify_value` returns; the first nine are the schema's vocabulary.
KINDS = ("uuid", "ulid", "ksuid", "snowflake", "hex", "base62", "nanoid", "numeric", "jwt",
         "objectid", "base64url", "b64json")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdMatch:
    """What one value is, as an identifier."""

    kind: str
    """One of :data:`KINDS`; for a prefixed family, the kind of the tail."""
    placeholder: str
    """The template text replacing the value: ``{uuid}``, ``{hex32}``, ``sched_{hex32}``."""
    version: int | None = None
    """UUID version nibble (RFC 9562 §4.2); None for other kinds or non-RFC variants."""
    prefix: str | None = None
    """Constant prefix with its separator (``cus_``, ``chatcmpl-``), None without one."""
    length: int | None = None
    """Characters in the id (the tail, for a prefixed family)."""
    timestamp_ms: float | None = None
    """Creation time the id encodes, Unix ms (UUIDv1/v6/v7, ULID, KSUID, ObjectId, snowflake)."""
    timestamp_plausible: bool | None = None
    """Whether that time is between the format's first use and ``now`` + 1 day."""
    epoch_guess: str | None = None
    """``twitter`` or ``discord`` for snowflakes: the epoch that gives a recognisable time, the
    one nearer ``now`` when both do (a guess: the layouts are identical)."""
    reportable: bool = True
    """False for values that template as a placeholder but are not an id format worth reporting
    (``2``, ``2024``, Unix times, base64 JSON blobs)."""
    strong: bool = False
    """The structure alone proves an identifier (UUID, ULID, KSUID, ObjectId, JWT, or a prefix
    with such a tail); weak kinds (hex, numeric, tokens) count in JSON only under id-like keys."""
    secret: bool = False
    """The value is a credential (JWT, ``sk-…``): never show it, see :func:`mask_example`."""


def _ms(year: int, month: int = 1, day: int = 1) -> float:
    return datetime(year, month, day, tzinfo=UTC).timestamp() * 1000.0


_DAY_MS = 86_400_000.0
_RECOGNITION_SLACK_MS = 2 * 366 * _DAY_MS
#: Upper bound for decoded times when the caller gives no ``now``.
_FAR_FUTURE_MS = _ms(2100)
#: First public use of each format: times before it are implausible.
_FLOOR_MS = {
    "uuid7": _ms(2020),  # draft-peabody-dispatch-new-uuid-format-00 (2020) → RFC 9562 (2024)
    "uuid6": _ms(2020),
    "uuid1": _ms(1990),  # DCE 1.1 time-based UUIDs
    "ulid": _ms(2016),  # ulid/spec first published 2016
    "ksuid": _ms(2017),  # segmentio/ksuid published 2017 (its epoch is 2014-05-13)
    "objectid": _ms(2009),  # MongoDB first public release 2009
    "twitter": 1288834974657.0,  # the epochs themselves: no earlier id can exist
    "discord": 1420070400000.0,
}
#: Unix times in ms/µs/ns are read as timestamps, not ids, from this date on.
_UNIX_FLOOR_MS = _ms(2000)

_GREGORIAN_OFFSET_100NS = 0x01B21DD213814000  # 1582-10-15 → 1970-01-01 in 100 ns (RFC 9562 §5.1)
_KSUID_EPOCH_S = 1_400_000_000
_SNOWFLAKE_EPOCHS = (("twitter", 1288834974657), ("discord", 1420070400000))

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # segmentio/ksuid order
_BASE62_VALUE = {c: i for i, c in enumerate(_BASE62)}

# RFC 9562 §4: UUID = 4hexOctet "-" 2hexOctet "-" 2hexOctet "-" 2hexOctet "-" 6hexOctet
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# ulid/spec: 48-bit time + 80 random bits in 26 Crockford chars; the first char is at most 7.
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}")
_KSUID = re.compile(r"[0-9A-Za-z]{27}")
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9a-f]{8,256}|[0-9A-F]{8,256}")
# RFC 7515 §7.1 / RFC 7516 §7.1: BASE64URL parts joined by "."; a JSON header starts "eyJ".
_JWS = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_JWE = re.compile(r"eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){4}")
_B64JSON = re.compile(r"eyJ[A-Za-z0-9_+-]{8,}={0,2}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,256}")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_PREFIX_WORD = re.compile(r"[a-z][a-z0-9]{0,23}")
_WORD_PART = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{3,}")
# camelCase "humps": an upper run not followed by lower (``CNN``), a capitalised or lower run
# (``Video``, ``get``), a digit run. ``_word_chars`` counts the pronounceable ones.
_HUMP = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SEPARATORS = "-_"

#: Longest value considered at all: longer text is data, not an id (JWTs stay well below).
MAX_VALUE_CHARS = 8192

#: First words of prefixes that mark credentials rather than ids (Stripe ``sk_live_``/``rk_``,
#: GitHub ``ghp_``…, Slack ``xox?-``, GitLab ``glpat-``, Honeycomb ``hcaik_``, Statsig
#: ``client-``/``secret-``, Anthropic ``sk-ant-``, webhook secrets ``whsec_``).
_SECRET_PREFIXES = frozenset({
    "sk", "rk", "ghp", "gho", "ghu", "ghs", "ghr", "github", "xoxb", "xoxp", "xoxa", "xoxs",
    "xoxe", "glpat", "hcaik", "hcxik", "client", "secret", "whsec", "key", "token", "sess",
    "session", "pat", "npm", "shpat", "shpss", "sq0atp", "sq0csp", "api", "apikey",
})


def _plausible(ts_ms: float, floor_key: str, now_ms: float | None) -> bool:
    """The strict test reported as ``timestamp_plausible``: first use ≤ t ≤ now + 1 day."""
    upper = _FAR_FUTURE_MS if now_ms is None else now_ms + _DAY_MS
    return _FLOOR_MS[floor_key] <= ts_ms <= upper


def _recognisable(ts_ms: float, floor_key: str, now_ms: float | None) -> bool:
    """The looser test that decides whether a value *is* a ULID/KSUID/ObjectId/snowflake:
    first use ≤ t ≤ now + 2 years. Ids are minted by servers whose clocks need not agree with
    the recorder's (lab captures show ids a year away from the HAR's own timestamps), so a
    skewed clock must not turn a ULID into base62; ``timestamp_plausible`` then says so."""
    upper = _FAR_FUTURE_MS if now_ms is None else now_ms + _RECOGNITION_SLACK_MS
    return _FLOOR_MS[floor_key] <= ts_ms <= upper


def _upper(now_ms: float | None) -> float:
    return _FAR_FUTURE_MS if now_ms is None else now_ms + _DAY_MS


def _classes(text: str) -> str:
    """Class of each character: ``U`` upper, ``L`` lower, ``D`` digit, ``-`` anything else."""
    return "".join(
        "D" if c.isdigit() else "U" if "A" <= c <= "Z" else "L" if "a" <= c <= "z" else "-"
        for c in text
    )


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for c in text:
        counts[c] = counts.get(c, 0) + 1
    n = len(text)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def _word_chars(parts: list[str]) -> int:
    """Characters in pronounceable humps: 3+ letters with a vowel, or ``Of``/``Id``-like pairs.

    Random base62 seldom has three lowercase letters in a row (26/62 cubed: 7% per position)
    and a capitalised pair with a vowel is as rare (4%), while names are mostly made of them.
    """
    total = 0
    for part in parts:
        for hump in _HUMP.findall(part):
            if hump.isdigit() or (len(hump) > 1 and hump[1:].isupper()):
                continue
            vowels = sum(c in "aeiouyAEIOUY" for c in hump)
            if (len(hump) >= 3 and vowels and vowels >= 0.1 * len(hump)) or (
                    len(hump) == 2 and hump[0].isupper() and vowels):
                total += len(hump)
    return total


def _longest_digit_run(text: str) -> int:
    return max((len(r) for r in re.findall(r"[0-9]+", text)), default=0)


def looks_random(text: str, *, relaxed: bool = False) -> bool:
    """Whether a ``[A-Za-z0-9_-]`` token looks machine-generated (thresholds: module docstring).

    ``relaxed`` is for tails after a constant prefix (``cus_…``), where the prefix already says
    "identifier": letters-only tokens then count from 8 characters instead of 16, and up to 60%
    word characters instead of 50% are allowed.
    """
    if not _TOKEN.fullmatch(text):
        return False
    parts = [p for p in re.split(r"[-_]", text) if p]
    alnum = "".join(parts)
    n = len(alnum)
    if n < 8:
        return False
    classes = _classes(alnum)
    present = set(classes)
    if len(present) < (3 if len(parts) > 1 else 2) or _longest_digit_run(alnum) >= 7:
        return False
    if _entropy(alnum) < 0.7 * math.log2(min(n, 62)):
        return False
    transitions = sum(1 for a, b in itertools.pairwise(classes) if a != b) / (n - 1)
    words = _word_chars(parts) / n
    if words >= 0.7 or (words >= (0.6 if relaxed else 0.5) and transitions < 0.5):
        return False
    # Words between separators make a name (``GitHub-Mark-64px``), unless the whole is long and
    # churns like random text (``sk-ant-sid01-<86 random chars>``).
    if (len(parts) > 1 and any(_WORD_PART.fullmatch(p) for p in parts)
            and (n < 24 or transitions < 0.45)):
        return False
    if present == {"U", "L"}:
        return n >= (8 if relaxed else 16) and transitions >= 0.4
    if len(present) == 2 and n < 10:  # lower+digit or upper+digit: short codes like usny9472
        return False
    return transitions >= 0.3


def is_hex_token(text: str) -> bool:
    """8+ hex digits of one case, at least two digits and two letters, not repetitive.

    The entropy floor (70% of log2 of the length, at most 4 bits) rejects colours and fills
    such as ``ffffff00`` and ``AABBCC00``; random hex of 8 characters clears it 9 times in 10.
    """
    if not _HEX.fullmatch(text):
        return False
    digits = sum(c.isdigit() for c in text)
    if digits < 2 or len(text) - digits < 2:
        return False
    return _entropy(text.lower()) >= 0.7 * math.log2(min(len(text), 16))


def mask_example(value: str, match: IdMatch) -> str:
    """What may be shown of a value: itself, or for secrets only the format (``eyJ…(redacted)``)."""
    if not match.secret:
        return value
    if match.kind == "jwt":
        return "eyJ…(redacted)"
    return f"{match.prefix or ''}…(redacted)"


def _b64url_json(part: str) -> object:
    """Decode one base64url part (padding optional, RFC 7515 §2) as JSON; None if it is not."""
    padded = part + "=" * (-len(part) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        return json.loads(raw)
    # Bad base64, bad UTF-8 or bad JSON (all ValueError), or JSON nested deeper than the
    # parser's recursion limit: a JWT-shaped path segment can carry 6 KiB of "[[[[…".
    except (binascii.Error, ValueError, RecursionError):
        return None


def _jwt(text: str) -> IdMatch | None:
    if not (_JWS.fullmatch(text) or _JWE.fullmatch(text)):
        return None
    header = _b64url_json(text.split(".", 1)[0])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    return IdMatch(kind="jwt", placeholder="{jwt}", length=len(text), strong=True, secret=True)


def _uuid(text: str, now_ms: float | None) -> IdMatch | None:
    if not _UUID.fullmatch(text):
        return None
    hexits = text.replace("-", "").lower()
    if hexits == "0" * 32:
        return IdMatch(kind="uuid", placeholder="{uuid}", version=0, length=36, strong=True)
    if hexits == "f" * 32:
        return IdMatch(kind="uuid", placeholder="{uuid}", version=15, length=36, strong=True)
    version: int | None = int(hexits[12], 16)
    if hexits[16] not in "89ab":  # RFC 9562 §4.1: variant 10xx; others carry no version
        version = None
    ts: float | None = None
    floor = ""
    if version == 7:  # §5.7: unix_ts_ms is the first 48 bits
        ts, floor = float(int(hexits[:12], 16)), "uuid7"
    elif version in (1, 6):
        if version == 1:  # §5.1: time_low, time_mid, time_hi (after the version nibble)
            count = (int(hexits[13:16], 16) << 48) | (int(hexits[8:12], 16) << 32) | int(
                hexits[:8], 16)
        else:  # §5.6: time_high, time_mid, time_low (after the version nibble)
            count = (int(hexits[:12], 16) << 12) | int(hexits[13:16], 16)
        ts, floor = (count - _GREGORIAN_OFFSET_100NS) / 10_000.0, f"uuid{version}"
    return IdMatch(
        kind="uuid", placeholder="{uuid}", version=version, length=36, strong=True,
        timestamp_ms=ts,
        timestamp_plausible=None if ts is None else _plausible(ts, floor, now_ms),
    )


def _ulid(text: str, now_ms: float | None) -> IdMatch | None:
    if not _ULID.fullmatch(text):
        return None
    upper = text.upper()
    if all(c in "0123456789ABCDEF" for c in upper) or upper.isdigit():
        return None  # hex or decimal: another format, not a ULID
    ts = 0
    for c in upper[:10]:
        ts = ts * 32 + _CROCKFORD_VALUE[c]
    if not _recognisable(float(ts), "ulid", now_ms):
        return None
    return IdMatch(kind="ulid", placeholder="{ulid}", length=26, strong=True,
                   timestamp_ms=float(ts),
                   timestamp_plausible=_plausible(float(ts), "ulid", now_ms))


def _ksuid(text: str, now_ms: float | None) -> IdMatch | None:
    # The time is the main evidence; a digit and a minority of word characters keep 27-letter
    # camelCase names out (a random KSUID payload is 85% pronounceable only by freak chance).
    if (not _KSUID.fullmatch(text) or text.isdigit() or not any(c.isdigit() for c in text)
            or _word_chars([text]) >= 0.85 * len(text)):
        return None
    value = 0
    for c in text:
        value = value * 62 + _BASE62_VALUE[c]
    if value >= 1 << 160:  # 20 bytes
        return None
    ts = float(((value >> 128) + _KSUID_EPOCH_S) * 1000)
    if not _recognisable(ts, "ksuid", now_ms):
        return None
    return IdMatch(kind="ksuid", placeholder="{ksuid}", length=27, strong=True,
                   timestamp_ms=ts, timestamp_plausible=_plausible(ts, "ksuid", now_ms))


def _objectid(text: str, now_ms: float | None) -> IdMatch | None:
    # Shape only (no entropy floor): the 4-byte time makes ObjectIds repetitive at the front.
    if len(text) != 24 or not _HEX.fullmatch(text) or text.isdigit():
        return None
    ts = float(int(text[:8], 16) * 1000)
    if not _recognisable(ts, "objectid", now_ms):
        return None
    return IdMatch(kind="objectid", placeholder="{objectid}", length=24, strong=True,
                   timestamp_ms=ts, timestamp_plausible=_plausible(ts, "objectid", now_ms))


def _unix_time_ms(digits: str, now_ms: float | None) -> float | None:
    """The Unix time a 13-, 16- or 19-digit number reads as (ms/µs/ns), if plausible."""
    scale = {13: 1.0, 16: 1e3, 19: 1e6}.get(len(digits))
    if scale is None:
        return None
    if len(digits) == 19 and not digits.endswith("000000"):
        return None  # a ns time from JS (ms x 1e6); a bare 19-digit number is a snowflake
    ts = int(digits) / scale
    return ts if _UNIX_FLOOR_MS <= ts <= _upper(now_ms) else None


def _is_date_like(digits: str) -> bool:
    """A year (``2024``) or ``YYYYMMDD`` date: a version or a day, not an id."""
    if len(digits) == 4:
        return 1900 <= int(digits) <= 2099
    if len(digits) == 8:
        year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
        return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31
    return False


def _numeric(text: str, now_ms: float | None) -> IdMatch | None:
    if not _DIGITS.fullmatch(text) or len(text) > 40:
        return None
    unix = _unix_time_ms(text, now_ms)
    if unix is not None:
        return IdMatch(kind="numeric", placeholder="{int}", length=len(text), timestamp_ms=unix,
                       reportable=False)
    if 17 <= len(text) <= 19 and text[0] != "0":
        value = int(text)
        if value < 1 << 63:
            readings = [
                (name, float((value >> 22) + epoch))
                for name, epoch in _SNOWFLAKE_EPOCHS
                if _recognisable(float((value >> 22) + epoch), name, now_ms)
            ]
            if readings:
                # Both epochs can fit a small value; ids in a capture are mostly recent, so the
                # reading closer to ``now`` is the better guess.
                ref = _upper(now_ms) - _DAY_MS
                name, ts = min(readings, key=lambda p: abs(ref - p[1]))
                return IdMatch(kind="snowflake", placeholder="{snowflake}", length=len(text),
                               timestamp_ms=ts, timestamp_plausible=_plausible(ts, name, now_ms),
                               epoch_guess=name)
    reportable = len(text) >= 3 and not _is_date_like(text)
    return IdMatch(kind="numeric", placeholder="{int}", length=len(text), reportable=reportable)


def _b64json(text: str) -> IdMatch | None:
    if not _B64JSON.fullmatch(text) or not isinstance(_b64url_json(text), dict):
        return None
    return IdMatch(kind="b64json", placeholder="{b64json}", length=len(text), reportable=False)


def _bare(text: str, now_ms: float | None, *, relaxed: bool = False) -> IdMatch | None:
    """A value without a prefix: every kind but the prefixed families."""
    if len(text) < 1 or len(text) > MAX_VALUE_CHARS:
        return None
    for structured in (_jwt, _b64json):
        found = structured(text)
        if found is not None:
            return found
    for timed in (_uuid, _ulid, _ksuid, _objectid, _numeric):
        found = timed(text, now_ms)
        if found is not None:
            return found
    if is_hex_token(text):
        return IdMatch(kind="hex", placeholder=f"{{hex{len(text)}}}", length=len(text))
    if looks_random(text, relaxed=relaxed):
        if len(text) == 21:
            return IdMatch(kind="nanoid", placeholder="{nanoid}", length=21)
        if _ALNUM.fullmatch(text):
            return IdMatch(kind="base62", placeholder="{base62}", length=len(text))
        return IdMatch(kind="base64url", placeholder="{base64url}", length=len(text))
    return None


def _strong_tail(match: IdMatch) -> bool:
    """Tails that make ``word<sep>tail`` a prefixed id rather than a hyphenated name."""
    if match.kind in ("jwt", "b64json"):
        return False
    if match.kind == "numeric":
        return match.reportable and (match.length or 0) >= 6
    return True


def _tail_fits(found: IdMatch, words: list[str]) -> bool:
    if not _strong_tail(found):
        return False
    if found.kind in ("base62", "base64url", "nanoid"):
        return (found.length or 0) >= 8
    if found.kind == "numeric":  # ``forkme_right_darkblue_121621`` is a file name, not an id
        return len(words) <= 2
    return True


def _prefixed(text: str, now_ms: float | None) -> IdMatch | None:
    """``<prefix><sep><id>``, the longest valid prefix first (``ajs-next-`` before ``ajs-``)."""
    # A prefix has at most three words, so only the first three separators can end one.
    cuts = [i for i, c in enumerate(text) if c in _SEPARATORS][:3]
    for i in reversed(cuts):
        prefix, tail = text[:i], text[i + 1 :]
        words = re.split(r"[-_]", prefix)
        if (not tail or len(words) > 3 or not words[0].isalpha()
                or not all(_PREFIX_WORD.fullmatch(w) for w in words)):
            continue
        found = _bare(tail, now_ms, relaxed=True)
        if found is None or not _tail_fits(found, words):
            continue
        full = prefix + text[i]
        return replace(
            found,
            prefix=full,
            placeholder=full + found.placeholder,
            strong=found.strong or found.kind == "hex",
            secret=found.secret or words[0] in _SECRET_PREFIXES,
        )
    return None


def classify_value(text: str, *, now_ms: float | None = None) -> IdMatch | None:
    """The identifier format of ``text``, or None for words, versions, names and prose.

    ``now_ms`` (Unix ms, normally the capture's start) bounds plausible embedded times.
    Never raises: any text is either recognised or not.
    """
    if not text or len(text) > MAX_VALUE_CHARS or text.strip() != text or " " in text:
        # No identifier format has a space; prose, the bulk of JSON strings, stops here.
        return None
    return _classify_cached(text, now_ms)


@lru_cache(maxsize=65536)
def _classify_cached(text: str, now_ms: float | None) -> IdMatch | None:
    """Captures repeat the same ids and tokens across requests and bodies: classify each once."""
    bare = _bare(text, now_ms)
    if bare is not None and bare.kind not in ("base64url", "nanoid"):
        return bare
    # A separator inside: a prefixed family wins over reading the whole as one random token,
    # except a 21-character nanoid with a one- or two-letter "prefix" (``V1_…`` is random).
    prefixed = _prefixed(text, now_ms) if any(c in _SEPARATORS for c in text) else None
    if prefixed is not None:
        core = (prefixed.prefix or "")[:-1]
        if not (bare is not None and bare.kind == "nanoid" and len(core) <= 2):
            return prefixed
    return bare


def classify_int(value: int, *, now_ms: float | None = None) -> IdMatch | None:
    """An integer from JSON: numeric or snowflake (negative numbers are not ids)."""
    if value < 0:
        return None
    return _numeric(str(value), now_ms)
