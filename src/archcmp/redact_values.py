"""Value-level helpers of ``archcmp redact``: parameter names and values, body views, JSON
equality; shared by the HAR masking (:mod:`archcmp.redact_har`), its harvest and the re-scan.

Kept apart so each stays small, and so the masking and the harvest apply one definition of
"a secret parameter" and "what this body really holds" (base64 undone, content codings undone
within the decoder's limits, text told from binary).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from archcmp.decode.content import decode_body
from archcmp.diagnostics import Diagnostics
from archcmp.model import Body
from archcmp.redact import Redactor, is_secret_json_key, is_secret_param, scan

__all__ = [
    "PARAM_RE",
    "as_text",
    "content_codings",
    "decoded_view",
    "dicts",
    "fill_binary",
    "same_json",
    "secret_name",
]

#: ``name=value`` in a query, fragment, matrix parameters or a form (after a ``?`` prefix).
PARAM_RE = re.compile(r"(?<=[?&;#])(?P<n>[^&=#?;\s<>/]+)=(?P<v>[^&#;?\s]*)")
#: Control characters other than TAB, LF, CR: text bodies do not contain them, binary ones do.
_BINARY_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def secret_name(name: str) -> bool:
    """Parameter or form field whose value is a credential, by either name rule."""
    plain = unquote_plus(name)
    return is_secret_param(plain) or is_secret_json_key(plain)


def dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The objects of a JSON array (anything else: none)."""
    return (item for item in value if isinstance(item, dict)) if isinstance(value, list) else (
        iter(()))


def same_json(a: Any, b: Any) -> bool:
    """``a == b`` for JSON trees, iteratively (``==`` recurses, and hostile HARs nest deep),
    and strict about types (``1`` is not ``True``, a number is not its masked string)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack += [(x[k], y[k]) for k in x]
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack += list(zip(x, y, strict=True))
        elif x != y:
            return False
    return True


def content_codings(message: dict[str, Any]) -> tuple[str, ...]:
    """RFC 9110 §8.4 Content-Encoding codings of a HAR message, in the order applied."""
    codings: list[str] = []
    for header in dicts(message.get("headers")):
        name, value = header.get("name"), header.get("value")
        if isinstance(name, str) and name.lower() == "content-encoding" and isinstance(value, str):
            codings += [c.strip().lower() for c in value.split(",") if c.strip()]
    return tuple(codings)


def decoded_view(data: bytes, codings: tuple[str, ...]) -> tuple[bytes, bool]:
    """``data`` with its content codings undone where they apply: (bytes, complete).

    A body the producer stored already decoded, or with an unknown coding, is its own view;
    a stream that ends early or breaks gives what inflated before it, not complete. The
    decoder's limits (size, ratio, layers) bound a decompression bomb.
    """
    if not codings:
        return data, True
    decoded = decode_body(Body(data=data, content_encoding=codings), Diagnostics())
    if decoded.status == "ok" and decoded.data is not None:
        return decoded.data, True
    if decoded.status in ("corrupt", "truncated"):
        return decoded.data or b"", False
    return data, True


def as_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 without the control characters binary formats have."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY_RE.search(text) else text


def fill_binary(data: bytes, redactor: Redactor) -> bytes:
    """``data`` with every :func:`scan` hit (read as Latin-1, one character per byte)
    overwritten by the marker cut or padded to the hit's length: framing stays intact."""
    text = data.decode("latin-1")
    hits = scan(text, redactor)
    if not hits:
        return data
    out = bytearray(data)
    for hit in hits:
        size = hit.end - hit.start
        marker = redactor.mask(text[hit.start : hit.end])
        out[hit.start : hit.end] = (marker + "*" * size)[:size].encode("latin-1")
    return bytes(out)
