"""Path and query templates: the shape of a URL with its identifiers replaced by placeholders.

``/api/organizations/019ab572-f082-79b7-a0db-e69cbf591f58/chat_conversations`` becomes
``/api/organizations/{uuid}/chat_conversations``, so exchanges to the same endpoint group
together whatever ids they carried. Identifier recognition is :mod:`archcmp.classify.ids`; this
module decides what a *path segment* is.

Placeholder convention (the schema's ``{uuid}`` style: the format, not the meaning):

* ``{uuid}``, ``{ulid}``, ``{ksuid}``, ``{objectid}``, ``{snowflake}``, ``{jwt}``, ``{nanoid}``,
  ``{base62}``, ``{base64url}``, ``{b64json}``;
* ``{hexN}`` with the length, because the width tells the format apart (``{hex32}``: MD5 or a
  128-bit id, ``{hex40}``: SHA-1, ``{hex64}``: SHA-256, ``{hex16}``: a 64-bit id or span id);
* ``{int}`` for every all-digit segment, including short ones: ``/page/2`` → ``/page/{int}``
  groups pages, though ``2`` is not reported as an id format (``IdMatch.reportable``);
* a prefixed family keeps its constant prefix: ``sched_{hex32}``, ``g-{base62}``,
  ``chatcmpl-{base62}``;
* ``{hash}`` for a content fingerprint *inside a file name*, which is build output rather than
  an id: ``app-569eba9f69a1dc14.js`` → ``app-{hash}.js``, ``main.3f2a9c1b.chunk.js`` →
  ``main.{hash}.chunk.js``; a file named by an id keeps the id's placeholder
  (``{uuid}.js``), a file named by a number becomes ``{int}.png``;
* ``{blob}`` for an unrecognised segment longer than 128 characters (an ad pixel's encoded
  parameters): data, not a route.

Version segments (``v1``, ``v2.6.1``), words (``chat_conversations``, ``en-US``), file names
(``index.html``, ``jquery-1.7.1.min.js``) stay as they are. A segment containing ``{`` is
already a placeholder and is kept, which makes :func:`template_path` idempotent.

The truth files of the capture lab name placeholders by meaning (``{org_uuid}``,
``{conv_uuid}``); archcmp cannot know meanings, only formats, so both read ``{uuid}`` here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus

from archcmp.classify.ids import IdMatch, classify_value, is_hex_token, looks_random

__all__ = [
    "BLOB_MIN_CHARS",
    "classify_segment",
    "is_secret_key",
    "split_target",
    "template_path",
    "template_query",
    "template_segment",
]

#: Unrecognised segments at least this long become ``{blob}``: real route words are short
#: (the longest literal segment in the shared corpus that is a name, not data, has 60 chars).
BLOB_MIN_CHARS = 129

#: File name parts split on these: ``cnn-header.bb0d864591f5bdfc609e-first-bundle.js``.
_NAME_SEPARATORS = re.compile(r"([-_~])")
_DIGITS = re.compile(r"[0-9]{3,}")

#: Query and JSON keys whose values are credentials: never scanned, never shown.
_SECRET_KEY_PARTS = ("token", "secret", "passw", "session", "cookie", "csrf", "xsrf", "apikey",
                     "writekey", "privatekey", "signature", "credential", "bearer",
                     "authorization")
_SECRET_KEY_ENDS = ("key", "sig", "otp", "nonce", "auth", "hmac", "pwd")
_SECRET_KEYS = frozenset({"code", "state", "ticket", "jwt", "sid", "pass", "hash", "auth"})


_SECRET_KEY_PART_RE = re.compile("|".join(_SECRET_KEY_PARTS))
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=16384)
def is_secret_key(key: str) -> bool:
    """Whether a query or JSON key names a credential (``access_token``, ``writeKey``, ``sig``).

    Cached: bodies repeat the same few hundred keys across a capture's exchanges.
    """
    k = _NOT_ALNUM.sub("", key.lower())
    return (k in _SECRET_KEYS or _SECRET_KEY_PART_RE.search(k) is not None
            or k.endswith(_SECRET_KEY_ENDS))


def classify_segment(segment: str, *, now_ms: float | None = None) -> IdMatch | None:
    """The identifier a whole path segment is, or None (words, versions, file names).

    ``now_ms`` bounds plausible embedded times (see :mod:`archcmp.classify.ids`); pass the
    capture's start time. Never raises.
    """
    if not segment or "{" in segment or "}" in segment:
        return None
    return classify_value(segment, now_ms=now_ms)


def _is_hash(part: str) -> bool:
    """A build fingerprint inside a file name: hex or a random-looking token of 8+ chars."""
    return is_hex_token(part) or looks_random(part)


def _template_name_part(part: str, *, stem: bool, now_ms: float | None) -> str:
    """One ``.``-separated part of a file name."""
    match = classify_value(part, now_ms=now_ms)
    if match is not None and match.strong and match.prefix is None:
        return match.placeholder  # {uuid}.js, {ulid}.json
    if stem and part.isdigit() and len(part) >= 3:
        return "{int}"
    if _is_hash(part):
        return "{hash}"
    pieces = _NAME_SEPARATORS.split(part)
    if len(pieces) == 1:
        return part
    return "".join("{hash}" if _is_hash(p) else p for p in pieces)


#: Rollup and Vite name chunks ``[name]-[hash].js`` with an 8-character base64url hash
#: (``output.hashCharacters: "base64"`` default): short enough to pass for a word, so it is
#: only read as a hash in that exact position of a bundle asset's name.
_BUNDLE_ASSET = re.compile(r"^(?P<name>.+)-(?P<hash>[A-Za-z0-9_]{8})\.(?:m?js|css|wasm|woff2?)$")


def _is_bundle_hash(piece: str) -> bool:
    """Base64url noise, not a name: letters and digits mixed, or mixed case with few vowels
    (``DiwrgTda`` is a hash, ``MainPage`` a component name: random text of this alphabet has
    about 1.3 vowels in 8 characters, English words about 3)."""
    letters = sum(c.isalpha() for c in piece)
    if any(c.isdigit() for c in piece):
        return letters > 0
    mixed = any(c.isupper() for c in piece[1:]) and any(c.islower() for c in piece)
    return mixed and sum(c in "aeiouAEIOU" for c in piece) <= 2


def _template_file_name(segment: str, now_ms: float | None) -> str:
    bundle = _BUNDLE_ASSET.match(segment)
    if bundle and _is_bundle_hash(bundle["hash"]):
        segment = f"{bundle['name']}-{{hash}}{segment[bundle.end('hash'):]}"
    parts = segment.split(".")
    return ".".join(
        _template_name_part(p, stem=i == 0, now_ms=now_ms) if p and "{" not in p else p
        for i, p in enumerate(parts)
    )


def template_segment(segment: str, *, now_ms: float | None = None) -> str:
    """One path segment's template text (see the module docstring for the convention)."""
    if not segment or "{" in segment or "}" in segment:
        return segment
    match = classify_segment(segment, now_ms=now_ms)
    if match is not None:
        return match.placeholder
    if "." in segment:
        templated = _template_file_name(segment, now_ms)
        if templated != segment:
            return templated
    if len(segment) >= BLOB_MIN_CHARS:
        return "{blob}"
    return segment


def split_target(target: str) -> tuple[str, str]:
    """``(path, query)`` of a request target or path, the fragment dropped."""
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    return path, query


def template_path(path: str, *, now_ms: float | None = None) -> str:
    """The path with identifier segments replaced by placeholders.

    ``/api/organizations/019ab572-…/chat_conversations`` →
    ``/api/organizations/{uuid}/chat_conversations``. A query string or fragment, if present, is
    dropped (template it with :func:`template_query`). Empty segments (``//``) and a trailing
    slash are kept. Idempotent: ``template_path(template_path(p)) == template_path(p)``.
    """
    path, _ = split_target(path)
    return "/".join(template_segment(s, now_ms=now_ms) for s in path.split("/"))


def template_query(query: str, *, now_ms: float | None = None) -> str:
    """The query with its keys kept and id values replaced: ``limit=30&conversation_id={uuid}``.

    Only values worth reporting as ids are replaced: ``limit=30`` and ``page=2`` are settings,
    not identifiers, and stay. Values of credential keys (``access_token``, ``sig``:
    :func:`is_secret_key`) become ``{redacted}``; other values are kept as written. Keys keep
    their order and repeats.
    """
    if not query:
        return query
    out: list[str] = []
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        if not eq:
            out.append(pair)
        elif is_secret_key(_unquote(key)):
            out.append(f"{key}={{redacted}}")
        else:
            match = classify_value(_unquote(value), now_ms=now_ms) if value else None
            reported = match is not None and match.reportable
            out.append(f"{key}={match.placeholder}" if match is not None and reported else pair)
    return "&".join(out)


def _unquote(text: str) -> str:
    return unquote_plus(text)
