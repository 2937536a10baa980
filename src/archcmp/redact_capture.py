"""``archcmp redact``: a copy of a capture that can be shared, checked before it is handed back.

Captures are full of live credentials (the 2023 breach of a large identity provider's support
system started from HAR files customers uploaded with session tokens inside). Three jobs:

* :func:`redact_har`: HAR → HAR with every credential masked (:mod:`archcmp.redact_har` says
  which places, :mod:`archcmp.redact_values` how values and bodies are judged,
  :mod:`archcmp.redact_io` how the file is streamed);
* :func:`redact_pcap`: pcap/pcapng → the same format without Decryption Secrets Blocks and,
  by default, without payloads beyond the cleartext handshakes (:mod:`archcmp.redact_pcap`,
  :mod:`archcmp.redact_payload`);
* :func:`to_har`: a packet capture's decrypted exchanges → a redacted HAR 1.2, which archcmp
  (and devtools, haralyzer) then read like any browser export.

Every job re-scans what it wrote with the same detectors and reports what remains
(``residual``); the CLI exits 1 when anything does, so "written" never silently means "safe".

**The key.** Masked values are ``<redacted:sha256:`` + 12 hex digits of HMAC-SHA256(key,
value) + ``>``. ``--salt S`` sets ``key = SHA-256(UTF-8 bytes of S)`` (:func:`key_from_salt`):
the same capture and salt give byte-identical output, and the same secret gets the same marker
in every file redacted with that salt, so two captures of one session can be compared. Without
``--salt`` the key is 32 random bytes per run: markers then correlate only within one output,
and two runs over the same input differ. Anyone holding the salt can confirm a guessed secret
against a marker, so a salt is itself a secret: long, random, and shared only with those who
should correlate.

**Why two reads of the input.** A secret can appear before the message that names it (the
sample apps put the bearer token in a ``<meta>`` tag of the page that precedes every API call
carrying it in ``Authorization``), so a first pass harvests cookie values, key headers, bearer
tokens and secret-named fields, and the second masks them wherever they appear. Memory stays
bounded by the largest entry (HAR) or by the open connections (packet captures) plus the
harvested values.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archcmp import __version__
from archcmp.decode.content import decode_body
from archcmp.diagnostics import Diagnostics
from archcmp.errors import UnknownFormat, UsageError
from archcmp.ingest.sniff import open_capture
from archcmp.limits import MAX_DECODED_BODY_BYTES
from archcmp.model import Body, Exchange, header_value
from archcmp.redact import Redactor, scan
from archcmp.redact_har import EntryRedactor, harvest_entry, mask_part, mask_parts
from archcmp.redact_io import HarPart, Residual, atomic_output, read_har_parts, write_har
from archcmp.redact_pcap import PcapSummary, redact_pcap
from archcmp.redact_values import as_text

__all__ = [
    "EXIT_CLEAN",
    "EXIT_RESIDUAL",
    "PcapSummary",
    "RedactSummary",
    "Residual",
    "exchange_entry",
    "key_from_salt",
    "redact_capture",
    "redact_har",
    "redact_pcap",
    "redactor_for",
    "rescan_har",
    "to_har",
]

#: Exit status when the re-scan found nothing.
EXIT_CLEAN = 0
#: Exit status when the output was written but its re-scan found something: the file is kept
#: (each finding may be a false positive the user must judge; its place is printed, never its
#: value) but must not be shared as it is. Bad input or usage stays 2, as for every command.
EXIT_RESIDUAL = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RedactSummary:
    """What ``archcmp redact`` did to one HAR (or packet capture exported as a HAR)."""

    entries: int
    """``log.entries`` items written (always the number read)."""
    masked: Mapping[str, int]
    """Values changed, by place: ``request.headers``, ``request.cookies``, ``request.url``,
    ``request.queryString``, ``request.postData.text``, ``request.postData.params``,
    ``response.headers``, ``response.cookies``, ``response.content.text``,
    ``response.redirectURL``, ``websocket.data``; other members by their object (``entry``,
    ``request``, ``response``, ``log``, ``top``)."""
    residual: tuple[Residual, ...]
    """What the re-scan of the written file found; non-empty means "do not share it"."""

    @property
    def clean(self) -> bool:
        return not self.residual


def key_from_salt(salt: str) -> bytes:
    """The HMAC key for ``--salt``: SHA-256 of the salt's UTF-8 bytes (32 bytes)."""
    return hashlib.sha256(salt.encode("utf-8")).digest()


def redactor_for(salt: str | None) -> Redactor:
    """A fresh :class:`Redactor` keyed by ``salt``, or by 32 random bytes when it is None.

    Fresh matters: its harvested values belong to one capture, so each file gets its own.
    """
    return Redactor() if salt is None else Redactor(key=key_from_salt(salt))


def _check(redactor: Redactor) -> None:
    if redactor.keep_secrets:
        raise UsageError("archcmp redact cannot keep secrets: that is what it removes")


# --- HAR → HAR ------------------------------------------------------------------------------


def redact_har(src: Path, dst: Path, redactor: Redactor, diag: Diagnostics) -> RedactSummary:
    """Write a redacted copy of the HAR ``src`` (plain, gzip, zlib ``.zhar``, with a BOM …) to
    ``dst`` as plain UTF-8 HAR JSON, then re-scan ``dst``.

    The same input and key give byte-identical output. Raises
    :class:`~archcmp.errors.UnknownFormat` when ``src`` is a packet capture and
    :class:`~archcmp.errors.CaptureError` (or its :class:`~archcmp.errors.TruncatedCapture`)
    when it is not a readable HAR; ``dst`` is then left as it was.
    """
    _check(redactor)
    name = str(src)
    with open_capture(src) as capture:
        if capture.format != "har":
            raise UnknownFormat(f"a {capture.format} capture, not a HAR", path=name)
        for part in read_har_parts(capture.stream, Diagnostics(), name=name):
            if part.kind == "entry":
                harvest_entry(part.value, redactor)
    masked: Counter[str] = Counter()
    with open_capture(src) as capture, atomic_output(dst) as out:
        parts = read_har_parts(capture.stream, diag, name=name)
        written = write_har(mask_parts(parts, redactor, lambda place, _: masked.update((place,))),
                            out)
    return _summary(dst, redactor, written, masked)


def _summary(dst: Path, redactor: Redactor, written: int, masked: Counter[str]) -> RedactSummary:
    entries, residual = rescan_har(dst, redactor)
    if entries != written:  # pragma: no cover - the writer and the reader disagree: a bug
        raise AssertionError(f"wrote {written} entries but read back {entries}")
    return RedactSummary(entries=written, masked=dict(sorted(masked.items())),
                         residual=tuple(residual))


def rescan_har(path: Path, redactor: Redactor) -> tuple[int, list[Residual]]:
    """Read a written HAR back: (entries, what is still there).

    Every string (keys too; base64 bodies decoded) is searched with :func:`scan`, and every
    entry is masked again: masking is idempotent, so any change is a value the first pass
    left in place.
    """
    residual: list[Residual] = []
    places: list[str] = []
    again = EntryRedactor(redactor, lambda place, at: places.append(place + at))
    memo: _Memo = {}
    entries = 0
    with open_capture(path) as capture:
        for part in read_har_parts(capture.stream, Diagnostics(), name=str(path)):
            if part.kind == "entry":
                prefix = f"log.entries[{part.key}]"
                entries += 1
            elif part.kind in ("top", "log"):
                prefix = f"log.{part.key}" if part.kind == "log" else str(part.key)
            else:
                continue
            residual += _scan_tree(part.value, prefix, redactor, memo)
            places.clear()
            mask_part(again, part)
            residual += [Residual(where=f"{prefix}:{place}", kind="unmasked") for place in places]
    return entries, residual


def _scan_tree(root: Any, prefix: str, redactor: Redactor, memo: _Memo) -> list[Residual]:
    found: list[Residual] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                found += _hits(str(key), (*path, key, "<key>"), prefix, redactor, memo)
                stack.append((value, (*path, key)))
            data = _base64_payload(node)
            if data is not None:
                found += _hits(data.decode("latin-1"), (*path, "<base64>"), prefix, redactor,
                               memo)
        elif isinstance(node, list):
            stack += [(value, (*path, i)) for i, value in enumerate(node)]
        elif isinstance(node, str):
            found += _hits(node, path, prefix, redactor, memo)
    return found


def _base64_payload(node: dict[Any, Any]) -> bytes | None:
    """The bytes of a base64 body (``encoding: base64``) or binary WebSocket message."""
    if str(node.get("encoding", "")).lower() == "base64":
        text = node.get("text")
    elif node.get("opcode") == 2:
        text = node.get("data")
    else:
        return None
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None


#: Scan results of short strings, per re-scan (headers, hosts and MIME types repeat).
_Memo = dict[str, tuple[str, ...]]


def _hits(text: str, path: tuple[Any, ...], prefix: str, redactor: Redactor,
          memo: _Memo) -> list[Residual]:
    kinds = memo.get(text) if len(text) < 4096 else None
    if kinds is None:
        kinds = tuple(sorted({h.kind for h in scan(text, redactor)}))
        if len(text) < 4096:
            if len(memo) >= 100_000:
                memo.clear()
            memo[text] = kinds
    if not kinds:
        return []
    where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return [Residual(where=where, kind=kind) for kind in kinds]


# --- packet capture → HAR -------------------------------------------------------------------

_HTTP_VERSIONS = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2.0",
                  "h3": "HTTP/3"}
#: Per-phase HAR timings archcmp cannot know from packets (no DNS or connection setup is tied to
#: a request), written as HAR's -1 "does not apply".
_UNKNOWN_PHASES = {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1}


def to_har(src: Path, dst: Path, redactor: Redactor, diag: Diagnostics,
           keylog: bytes | None = None, *,
           max_body_bytes: int = MAX_DECODED_BODY_BYTES) -> RedactSummary:
    """Export the decrypted exchanges of the packet capture ``src`` as a redacted HAR 1.2.

    Keys come from ``keylog`` (an NSS key log's bytes, ``--keylog``) and from the capture's own
    Decryption Secrets Blocks. Each :class:`~archcmp.model.Exchange` becomes one entry
    (:func:`exchange_entry`), masked exactly as :func:`redact_har` masks a browser's entries,
    in the order the reader completes them. Raises :class:`~archcmp.errors.UnknownFormat`
    for a HAR.
    """
    _check(redactor)
    for exchange in _exchanges(src, Diagnostics(), keylog):
        harvest_entry(exchange_entry(exchange, Diagnostics(), max_body_bytes=max_body_bytes),
                      redactor)
    masked: Counter[str] = Counter()
    with atomic_output(dst) as out:
        parts = _har_parts(src, diag, keylog, max_body_bytes)
        written = write_har(mask_parts(parts, redactor, lambda place, _: masked.update((place,))),
                            out)
    return _summary(dst, redactor, written, masked)


def _exchanges(src: Path, diag: Diagnostics, keylog: bytes | None) -> Iterator[Exchange]:
    from archcmp.ingest.keylog import KeyLog
    from archcmp.wire import WireReader

    with open_capture(src) as capture:
        if capture.format == "har":
            raise UnknownFormat("a HAR, not a packet capture; redact it without --to-har",
                                path=str(src))
        keys = (KeyLog.parse(keylog, diag, source="--keylog", explicit=True)
                if keylog is not None else None)
        yield from WireReader(capture.stream, capture.format, diag, keylog=keys,
                              name=src.name).exchanges()


def _har_parts(src: Path, diag: Diagnostics, keylog: bytes | None,
               max_body_bytes: int) -> Iterator[HarPart]:
    yield HarPart("log_start")
    yield HarPart("log", "version", "1.2")
    yield HarPart("log", "creator", {
        "name": "archcmp", "version": __version__,
        "comment": f"decrypted from the packet capture {src.name} by archcmp redact --to-har",
    })
    yield HarPart("entries_start")
    for index, exchange in enumerate(_exchanges(src, diag, keylog)):
        yield HarPart("entry", index, exchange_entry(exchange, diag,
                                                     max_body_bytes=max_body_bytes))
    yield HarPart("entries_end")
    yield HarPart("log_end")


def exchange_entry(exchange: Exchange, diag: Diagnostics, *,
                   max_body_bytes: int = MAX_DECODED_BODY_BYTES) -> dict[str, Any]:
    """One HAR 1.2 entry for an exchange read from packets, before masking.

    Bodies are stored decoded (Content-Encoding undone, as browsers store them) as text, or
    base64 when binary; a body that does not decode is stored as captured, so a reader meets
    the same fault. HTTP/1.x requests lose the ``:method``/``:path`` pseudo-headers archcmp
    adds when parsing (they were never on the wire); HTTP/2 and HTTP/3 keep theirs, as
    Chromium's exports do. ``headersSize`` is -1 (HPACK/QPACK sizes are not header sizes).

    Extension members (HAR 1.2 allows ``_``-prefixed ones): ``_serverPort`` and
    ``_securityDetails.protocol`` (the names Playwright and Chromium use, so archcmp reads them
    back), ``response._error`` for a reset stream, ``_webSocketMessages``, and ``_archcmp``:

    - ``index``: the exchange's number in archcmp's reading of the capture;
    - ``connection``: ``tcp/<n>`` or ``quic/<n>``, as in the analysis' decryption table;
    - ``request_body``/``response_body``: the decoding status (``ok``, ``already-decoded``,
      ``corrupt``, ``truncated``, ``unsupported``), present with a body;
    - ``unknown_timings``: phases written as 0 because the packets did not show them (HAR
      requires numbers for send, wait and receive);
    - ``response_chunks``: ``[end offset, ms since the request started]`` for each piece of
      the response body as it arrived, offsets in the body *as transferred* (before decoding);
      the per-event timing of streams, which HAR has no field for.
    """
    extension: dict[str, Any] = {"index": exchange.index, "connection": exchange.connection}
    h1 = exchange.protocol in ("http/1.0", "http/1.1")
    request_headers = [(n, v) for n, v in exchange.request_headers
                       if not (h1 and n.startswith(":"))]
    request: dict[str, Any] = {
        "method": exchange.method,
        "url": exchange.url,
        "httpVersion": _HTTP_VERSIONS.get(exchange.protocol, exchange.protocol),
        "cookies": _request_cookies(request_headers),
        "headers": [{"name": n, "value": v} for n, v in request_headers],
        "queryString": [{"name": n, "value": v} for n, v in _query_pairs(exchange.url)],
        "headersSize": -1,
        "bodySize": _wire_size(exchange.request_body),
    }
    if exchange.request_body is not None and exchange.request_body.data:
        post, extension["request_body"] = _stored(exchange.request_body, diag, max_body_bytes,
                                                  f"entry {exchange.index} request")
        request["postData"] = {"mimeType": exchange.request_body.mime_type or "", **post}
    response = _response(exchange, diag, max_body_bytes, extension)
    timings = {"send": exchange.timings.send_ms, "wait": exchange.timings.wait_ms,
               "receive": exchange.timings.receive_ms}
    unknown = [phase for phase, value in timings.items() if value is None]
    if unknown:
        extension["unknown_timings"] = unknown
    known = {phase: (value if value is not None else 0) for phase, value in timings.items()}
    total = exchange.total_ms if exchange.total_ms is not None else sum(known.values())
    entry: dict[str, Any] = {
        "startedDateTime": _iso(exchange.started_ms),
        "time": total,
        "request": request,
        "response": response,
        "cache": {},
        "timings": {**_UNKNOWN_PHASES, **known},
    }
    if exchange.server_ip:
        entry["serverIPAddress"] = exchange.server_ip
    if exchange.connection:
        entry["connection"] = exchange.connection
    if exchange.server_port is not None:
        entry["_serverPort"] = exchange.server_port
    if exchange.tls_protocol:
        entry["_securityDetails"] = {"protocol": exchange.tls_protocol}
    if exchange.events:
        started = exchange.started_ms or 0.0
        entry["_webSocketMessages"] = [_ws_message(event, started) for event in exchange.events]
    if exchange.response_body is not None and exchange.response_body.chunks:
        extension["response_chunks"] = [list(c) for c in exchange.response_body.chunks]
    entry["_archcmp"] = extension
    return entry


def _response(exchange: Exchange, diag: Diagnostics, max_body_bytes: int,
              extension: dict[str, Any]) -> dict[str, Any]:
    body = exchange.response_body
    content: dict[str, Any] = {"size": 0, "mimeType": (body.mime_type if body else None)
                               or "x-unknown"}
    if body is not None and body.data:
        stored, extension["response_body"] = _stored(body, diag, max_body_bytes,
                                                     f"entry {exchange.index}")
        content.update(stored)
        wire = len(body.data)
        if content["size"] > wire and extension["response_body"] == "ok":
            content["compression"] = content["size"] - wire  # HAR 1.2: bytes saved
    response: dict[str, Any] = {
        "status": exchange.status or 0,
        "statusText": exchange.status_text,
        "httpVersion": _HTTP_VERSIONS.get(exchange.protocol, exchange.protocol),
        "cookies": _response_cookies(exchange.response_headers),
        "headers": [{"name": n, "value": v} for n, v in exchange.response_headers],
        "content": content,
        "redirectURL": header_value(exchange.response_headers, "location") or "",
        "headersSize": -1,
        "bodySize": _wire_size(body),
    }
    if exchange.error:
        response["_error"] = exchange.error
    return response


def _stored(body: Body, diag: Diagnostics, max_bytes: int,
            where: str) -> tuple[dict[str, Any], str]:
    """(``text``/``encoding``/``size`` members, decoding status) for one body."""
    decoded = decode_body(body, diag, max_bytes=max_bytes, where=where)
    ok = decoded.status in ("ok", "already-decoded") and decoded.data is not None
    data = decoded.data if ok and decoded.data is not None else body.data or b""
    text = as_text(data)
    members: dict[str, Any] = {"size": len(data)}
    if text is None:
        members.update(text=base64.b64encode(data).decode("ascii"), encoding="base64")
    else:
        members["text"] = text
    return members, decoded.status


def _wire_size(body: Body | None) -> int:
    if body is None or body.data is None:
        return 0
    return body.wire_size if body.wire_size is not None else len(body.data)


def _iso(ms: float | None) -> str:
    """HAR 1.2 ``startedDateTime``: ISO 8601 with a UTC offset, microseconds kept."""
    moment = datetime.fromtimestamp((ms or 0.0) / 1000.0, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _request_cookies(headers: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """HAR 1.2 ``request.cookies`` from the Cookie headers (RFC 6265 §4.2.1 ``a=b; c=d``)."""
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for pair in value.split(";"):
            key, eq, val = pair.strip().partition("=")
            if eq and key:
                cookies.append({"name": key, "value": val})
    return cookies


def _response_cookies(headers: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """HAR 1.2 ``response.cookies`` from Set-Cookie (RFC 6265 §4.1) with its attributes."""
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        pair, *attributes = value.split(";")
        key, _, val = pair.partition("=")
        cookie: dict[str, Any] = {"name": key.strip(), "value": val.strip()}
        for attribute in attributes:
            attr, _, attr_value = attribute.strip().partition("=")
            har = _COOKIE_ATTRIBUTES.get(attr.lower())
            if har is not None:
                cookie[har] = attr_value.strip() if har not in ("httpOnly", "secure") else True
        cookies.append(cookie)
    return cookies


#: RFC 6265 §5.2 attribute names → HAR 1.2 cookie members.
_COOKIE_ATTRIBUTES = {"path": "path", "domain": "domain", "expires": "expires",
                      "httponly": "httpOnly", "secure": "secure", "samesite": "sameSite"}


def _ws_message(event: Any, started_ms: float) -> dict[str, Any]:
    binary = event.type == "binary"
    data = (base64.b64encode(event.data.encode("utf-8", "surrogatepass")).decode("ascii")
            if binary else event.data)
    return {"type": event.direction, "time": (started_ms + (event.time_ms or 0.0)) / 1000.0,
            "opcode": 2 if binary else 1, "data": data}


# --- one entry point for the CLI ------------------------------------------------------------


def redact_capture(src: Path, dst: Path, redactor: Redactor, diag: Diagnostics, *,
                   as_har: bool = False, keep_payloads: bool = False,
                   keylog: bytes | None = None) -> RedactSummary | PcapSummary:
    """``archcmp redact SRC -o DST``: the job the input's format and the flags ask for.

    HAR → :func:`redact_har`; packet capture → :func:`redact_pcap`, or :func:`to_har` with
    ``as_har``. Flags that do not apply raise :class:`~archcmp.errors.UsageError`.
    """
    with open_capture(src) as capture:
        fmt = capture.format
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would replace the input; choose another path")
    if fmt == "har":
        if as_har or keep_payloads or keylog is not None:
            raise UsageError("--to-har, --keep-payloads and --keylog apply to packet captures; "
                             f"{src} is a HAR")
        return redact_har(src, dst, redactor, diag)
    if as_har:
        if keep_payloads:
            raise UsageError("--keep-payloads applies to pcap output, not to --to-har")
        return to_har(src, dst, redactor, diag, keylog)
    if keylog is not None:
        raise UsageError("--keylog applies with --to-har (a redacted capture keeps no keys)")
    return redact_pcap(src, dst, diag, keep_payloads=keep_payloads)


def _query_pairs(url: str) -> list[tuple[str, str]]:
    """The URL's query parameters; none for a URL ``urlsplit`` rejects (an unclosed IPv6
    bracket in a captured Host header), which the HAR still carries as its ``url``."""
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return []
