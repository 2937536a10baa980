"""How deep a JSON body nests, cheaply, to tell the reader when the analysers cannot read it.

Every parse of a body in the analysers catches ``RecursionError`` (CPython's ``json`` recurses
once per level), so a body nested past :data:`archcmp.limits.MAX_JSON_DEPTH` is silently
missing from their results; :func:`too_deep` lets the pipeline count it instead.

Linear and mostly in C: a body needs more than ``limit`` opening brackets to nest that deep
(``bytes.count``); string literals are cut out (their brackets are text) by dropping escape
pairs and splitting on quotes;
the brackets that remain are walked in blocks, and a block is looked at bracket by bracket only
when the depth before it plus its opening brackets could pass the limit.
"""

from __future__ import annotations

import re

from archcmp.limits import MAX_JSON_DEPTH

__all__ = ["too_deep"]

# RFC 8259 §7: char = unescaped / escape ("\\" followed by one character, or by u and four hex
# digits, which hold no bracket or quote). Once the escape pairs are gone every quote left opens
# or closes a string, so the text outside strings is every other piece between quotes. (A regex
# for whole strings would rescan to the end from each quote of an unterminated one.)
_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[]{}", b"()()")
_JSON_START = re.compile(rb"[ \t\r\n]*[\[{]")
_BLOCK = 4096


def too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``data`` looks like a JSON text (starts with ``[`` or ``{``) nested deeper
    than ``limit`` levels."""
    if not _JSON_START.match(data) or data.count(b"[") + data.count(b"{") <= limit:
        return False
    unescaped = _ESCAPE.sub(b"", data) if b"\\" in data else data
    outside = b"".join(unescaped.split(b'"')[::2])
    parens = outside.translate(_AS_PARENS, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(parens), _BLOCK):
        block = parens[start : start + _BLOCK]
        opens = block.count(b"(")
        if depth + opens > limit:
            for byte in block:
                depth += 1 if byte == 0x28 else -1
                if depth > limit:
                    return True
        else:
            depth += 2 * opens - len(block)
    return False
