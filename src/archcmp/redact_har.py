"""Where a HAR entry keeps credentials, and how each place is masked; the harvest before it.

Used by :func:`archcmp.redact_capture.redact_har` (browser HARs) and
:func:`archcmp.redact_capture.to_har` (entries built from packets), so both mask alike, and by
the re-scan, which masks the written entries again: masking is idempotent, so a change there
is a value the first pass missed. :func:`harvest_entry` runs over every entry before anything
is written: cookie values, key headers, bearer tokens, secret query parameters, token-like
values of secret-named JSON/form fields and high-entropy parameter values are remembered
(:meth:`Redactor.harvest`, :meth:`Redactor.remember`), so a session id echoed in an HTML
``<meta>`` tag or a URL path before the request that carries it is masked there too.

What is masked where (names, order, repeats and every other field are kept):

=====================================  ======================================================
``request/response.cookies[].value``   always (:meth:`Redactor.cookie`)
``request/response.headers[].value``   :meth:`Redactor.header_value`: Cookie and Set-Cookie
                                       values (names, attributes kept), Authorization and
                                       Proxy-Authorization credentials (scheme kept), whole
                                       values of key-like headers, shapes in all others;
                                       URL headers as ``request.url``
``request.url``, ``redirectURL``       :meth:`Redactor.url`, plus parameters whose name is a
                                       secret body-field name (``writeKey``) or whose value
                                       :func:`is_high_entropy`
``request.queryString[].value``        the same rule, masked to the same marker as in the URL
``postData.text``, ``content.text``    JSON parsed and masked with :func:`redact_json`,
                                       re-serialised only when something changed; forms like a
                                       query; other text with :meth:`Redactor.text`; base64
                                       decoded first, re-encoded if it changed
``postData.params[].value``            like a query parameter
``_webSocketMessages[].data``          like a body (opcode 2: base64 binary)
anything else (``_initiator``, …)      :func:`redact_json` (URLs, shapes, secret-named keys)
=====================================  ======================================================

Markers: ``<redacted:sha256:…>`` (the keyed hash: equal secrets give equal markers in one run,
so "the same token on 40 requests" stays visible) replaces a value; ``<redacted:N bytes>``
replaces a body this module cannot inspect (marked base64 but not decodable). Binary bodies
(images, protobuf) are kept unless a secret shape shows in their bytes; those bytes are then
overwritten in place with a same-length filler, so length-prefixed framing (protobuf, gRPC)
stays parseable.

Sizes (``headersSize``, ``bodySize``, ``content.size``, ``_transferSize``) are kept as
recorded: they are evidence (transfer and compression figures in the teardown) and leak only
lengths, which the ``name=<marker>`` layout leaves visible anyway. They then describe the
original message, not the masked text; no HAR consumer checks them against the text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.har_entry import convert_entry
from archcmp.ingest.har_producers import UNKNOWN
from archcmp.model import Exchange
from archcmp.redact import (
    URL_HEADERS,
    Redactor,
    is_high_entropy,
    is_redacted,
    is_secret_json_key,
    looks_tokenish,
    redact_json,
    scan,
)
from archcmp.redact_io import HarPart
from archcmp.redact_values import (
    PARAM_RE,
    as_text,
    content_codings,
    decoded_view,
    dicts,
    fill_binary,
    same_json,
    secret_name,
)

__all__ = ["EntryRedactor", "harvest_entry", "mask_part", "mask_parts"]


# --- masking, place by place ------------------------------------------------------------------

#: Distinct header pairs remembered per run (see ``EntryRedactor._headers_seen``).
_MEMO = 100_000


class EntryRedactor:
    """Masks the places of a HAR entry in place, reporting each change to ``changed``.

    ``changed(place, detail)`` gets the place (``request.headers``) and a detail to locate
    the value (``[3].value``); :func:`archcmp.redact_capture.redact_har` counts places,
    :func:`archcmp.redact_capture.rescan_har` turns them into
    :class:`~archcmp.redact_io.Residual` paths (a change on re-scan means the output was not
    clean). Not thread-safe; one per run, after the harvest (it memoises header values).
    """

    def __init__(self, redactor: Redactor, changed: Callable[[str, str], None]) -> None:
        self.r = redactor
        self._changed = changed
        self._headers_seen: dict[tuple[str, str], str] = {}
        """Masked header values by (name, value): a capture repeats the same headers on
        every request, and the harvested set no longer changes once writing starts."""
        self._strings_seen: dict[str, str] = {}

    # -- plumbing --

    def _put(self, holder: dict[str, Any], key: str, new: Any, place: str, detail: str) -> None:
        if not same_json(new, holder[key]):
            holder[key] = new
            self._changed(place, detail)

    def generic(self, holder: dict[Any, Any], key: Any, place: str) -> None:
        """A member no rule below knows: strings masked as text or URL, secret-named keys'
        values masked whole, containers through :func:`redact_json`."""
        value = holder[key]
        if value is None or isinstance(value, bool | int | float | Decimal):
            if value is None or isinstance(value, bool) or not is_secret_json_key(str(key)):
                return
        elif isinstance(value, str) and not is_secret_json_key(str(key)):
            self._put(holder, key, self._string(value), place, f".{key}")
            return
        red = redact_json({key: value}, self.r)
        assert isinstance(red, dict)
        ((new_key, new_value),) = red.items()
        if new_key != key:  # a key holding a secret shape: rename in place, order kept
            items = [(new_key if k == key else k, new_value if k == key else v)
                     for k, v in holder.items()]
            holder.clear()
            holder.update(items)
            self._changed(place, f".{new_key}")
            return
        self._put(holder, key, new_value, place, f".{key}")

    def _string(self, value: str) -> str:
        """A string of an unknown member: a URL or free text; memoised like header values
        (``GET``, ``HTTP/2.0``, MIME types and hosts repeat on every entry)."""
        new = self._strings_seen.get(value)
        if new is None:
            new = (self.r.url(value) if value.startswith(("http://", "https://"))
                   else self.r.text(value))
            if len(self._strings_seen) >= _MEMO:
                self._strings_seen.clear()
            self._strings_seen[value] = new
        return new

    def item(self, items: list[Any], index: int, place: str) -> None:
        """An array element of a shape no rule expects: masked like any unknown member."""
        holder: dict[Any, Any] = {index: items[index]}
        self.generic(holder, index, place)
        items[index] = holder[index]

    # -- entry --

    def entry(self, entry: Any) -> Any:
        """Mask one ``log.entries`` item (an object, or whatever else the file holds)."""
        if not isinstance(entry, dict):
            holder = {"entry": entry}
            self.generic(holder, "entry", "entry")
            return holder["entry"]
        for key in list(entry):
            value = entry[key]
            if key in ("request", "response") and isinstance(value, dict):
                self._message(value, key)
            elif key == "_webSocketMessages" and isinstance(value, list):
                self._websocket(value)
            else:
                self.generic(entry, key, "entry")
        return entry

    def _message(self, msg: dict[str, Any], side: str) -> None:
        raw_url = msg.get("url") if side == "request" else None
        codings = content_codings(msg)
        for key in list(msg):
            value = msg[key]
            place = f"{side}.{key}"
            if key == "headers" and isinstance(value, list):
                self._headers(value, place)
            elif key == "cookies" and isinstance(value, list):
                self._cookies(value, place)
            elif key in ("url", "redirectURL") and isinstance(value, str):
                self._put(msg, key, self.url(value), place, "")
            elif key == "queryString" and isinstance(value, list):
                self._query(value, raw_url if isinstance(raw_url, str) else "", place)
            elif key in ("postData", "content") and isinstance(value, dict):
                self._payload(value, place, codings)
            else:
                self.generic(msg, key, side)

    def _headers(self, headers: list[Any], place: str) -> None:
        for i, header in enumerate(headers):
            if isinstance(header, list) and len(header) == 2 and isinstance(header[0], str):
                pair = {"name": header[0], "value": header[1]}  # Slack's [name, value] form
                self._header(pair, place, i)
                headers[i] = [pair["name"], pair["value"]]
            elif isinstance(header, dict):
                self._header(header, place, i)
            else:
                self.item(headers, i, place)

    def _header(self, header: dict[str, Any], place: str, i: int) -> None:
        name = header.get("name")
        for key in list(header):
            value = header[key]
            if key == "value" and isinstance(name, str) and isinstance(value, str):
                new = self._headers_seen.get((name, value))
                if new is None:
                    new = self.r.header_value(name, value)
                    if name.strip().lower() in URL_HEADERS:
                        new = self.params(new)
                    if len(self._headers_seen) >= _MEMO:
                        self._headers_seen.clear()
                    self._headers_seen[(name, value)] = new
                self._put(header, key, new, place, f"[{i}].value")
            elif key != "name":
                self.generic(header, key, place)

    def _cookies(self, cookies: list[Any], place: str) -> None:
        for i, cookie in enumerate(cookies):
            if not isinstance(cookie, dict):
                self.item(cookies, i, place)
                continue
            for key in list(cookie):
                value = cookie[key]
                if key == "value" and isinstance(value, str):
                    self._put(cookie, key, self.r.cookie(str(cookie.get("name")), value), place,
                              f"[{i}].value")
                elif key != "name":
                    self.generic(cookie, key, place)

    def _query(self, items: list[Any], raw_url: str, place: str) -> None:
        """``queryString`` values, masked to the marker the same parameter got in the URL."""
        raw_pairs = [(unquote_plus(m.group("n")), m.group("v"))
                     for m in PARAM_RE.finditer(raw_url)]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.item(items, i, place)
                continue
            name, value = item.get("name"), item.get("value")
            if isinstance(name, str) and isinstance(value, str) and value:
                raw = next((v for n, v in raw_pairs if n == unquote_plus(name)
                            and value in (v, unquote_plus(v))), value)
                if not is_redacted(value) and (secret_name(name) or is_high_entropy(value)
                                               or is_high_entropy(raw)):
                    new = self.r.mask(raw)
                else:
                    new = self.r.text(value)
                self._put(item, "value", new, place, f"[{i}].value")
            for key in list(item):
                if key not in ("name", "value"):
                    self.generic(item, key, place)

    # -- URLs --

    def url(self, url: str) -> str:
        """:meth:`Redactor.url` plus parameters named like secret body fields or whose value
        looks random (:func:`is_high_entropy`)."""
        return self.params(self.r.url(url))

    def params(self, text: str) -> str:
        """The extra parameter rule on text :meth:`Redactor.url` already masked: values under
        secret body-field names, and random-looking values, become the marker of their
        encoded form (the form the URL holds, so the same value gets the same marker)."""

        def replace(match: re.Match[str]) -> str:
            name, value = match.group("n"), match.group("v")
            if not value or "<redacted:" in value:
                return match.group(0)
            if secret_name(name) or is_high_entropy(unquote_plus(value)):
                return f"{name}={self.r.mask(value)}"
            return match.group(0)

        return PARAM_RE.sub(replace, text)

    def form(self, text: str) -> str:
        """An ``application/x-www-form-urlencoded`` body: masked like a query string."""
        masked = self.url("?" + text)
        return masked[1:] if masked.startswith("?") else self.r.text(text)

    # -- bodies --

    def _payload(self, holder: dict[str, Any], place: str, codings: tuple[str, ...]) -> None:
        """``postData`` or ``content``: ``text`` (maybe base64), ``params``, the rest."""
        mime = holder.get("mimeType")
        mime = mime if isinstance(mime, str) else None
        for key in list(holder):
            value = holder[key]
            if key == "text" and isinstance(value, str):
                base64_ = str(holder.get("encoding", "")).lower() == "base64"
                new = self.stored(value, mime, base64_, codings)
                self._put(holder, key, new, f"{place}.text", "")
            elif key == "params" and isinstance(value, list):
                self._form_params(value, f"{place}.params")
            else:
                self.generic(holder, key, place)

    def _form_params(self, params: list[Any], place: str) -> None:
        for i, param in enumerate(params):
            if not isinstance(param, dict):
                self.item(params, i, place)
                continue
            name, value = param.get("name"), param.get("value")
            for key in list(param):
                if key == "value" and isinstance(value, str):
                    secret = isinstance(name, str) and secret_name(name)
                    new = (self.r.mask(value) if value and not is_redacted(value)
                           and (secret or is_high_entropy(value)) else self.r.text(value))
                    self._put(param, key, new, place, f"[{i}].value")
                elif key != "name":
                    self.generic(param, key, place)

    def stored(self, text: str, mime: str | None, is_base64: bool,
               codings: tuple[str, ...] = ()) -> str:
        """A body as the HAR stores it: text, or base64 of text or of binary bytes, which
        some producers (Charles, Fiddler, Polly.JS) store still content-coded.

        Coded bodies are decoded to be inspected (a gzip'd body hides its tokens from a
        byte scan, not from whoever inflates it). Unchanged bodies are kept byte for byte;
        a changed one is stored decoded (the form browsers store; archcmp reads it as
        ``already-decoded``). A coded body that inflates only in part (cut, corrupt) cannot
        be rewritten: if its readable part holds a secret, the whole body becomes
        ``<redacted:N bytes>``.
        """
        if not is_base64:
            return self.body(text, mime)
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            # Nothing we can inspect: keep only its size (archcmp drops it on reading anyway).
            return text if is_redacted(text) else self.r.mask_bytes(text.encode())
        plain, complete = decoded_view(data, codings)
        if not complete:
            probe = plain.decode("utf-8", "replace")
            unsafe = scan(probe, self.r) or self.r.text(probe) != probe
            return self.r.mask_bytes(data) if unsafe else text
        as_str = as_text(plain)
        if as_str is not None:
            masked = self.body(as_str, mime)
            return text if masked == as_str else base64.b64encode(masked.encode()).decode()
        filled = fill_binary(plain, self.r)
        return text if filled == plain else base64.b64encode(filled).decode()

    def body(self, text: str, mime: str | None) -> str:
        """Body text: JSON masked structurally (re-serialised only if it changed), forms like
        a query, anything else through :meth:`Redactor.text`."""
        kind = (mime or "").lower()
        if "json" in kind or text.lstrip()[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
                red = redact_json(parsed, self.r)
                if same_json(red, parsed):
                    return text
                return json.dumps(red, ensure_ascii=False, separators=(",", ":"))
            except (ValueError, RecursionError):
                pass  # not JSON (or too deep for json): the text rules still apply
        if "x-www-form-urlencoded" in kind:
            return self.form(text)
        return self.r.text(text)

    def _websocket(self, messages: list[Any]) -> None:
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                self.item(messages, i, "websocket")
                continue
            for key in list(message):
                value = message[key]
                if key == "data" and isinstance(value, str):
                    binary = message.get("opcode") == 2
                    self._put(message, key, self.stored(value, None, binary), "websocket.data",
                              f"[{i}].data")
                else:
                    self.generic(message, key, "websocket")


# --- harvest ----------------------------------------------------------------------------------


def harvest_entry(entry: Any, redactor: Redactor) -> None:
    """Remember the secrets of one raw HAR entry before anything is written (see module doc)."""
    if not isinstance(entry, dict):
        return
    redactor.harvest((convert_entry(0, entry, UNKNOWN, Diagnostics()),))
    cookies: list[tuple[str, str]] = []
    for side in ("request", "response"):
        message = entry.get(side)
        if not isinstance(message, dict):
            continue
        for cookie in dicts(message.get("cookies")):
            if isinstance(cookie.get("value"), str):
                cookies.append(("cookie", f"c={cookie['value']}"))
        for query in dicts(message.get("queryString")):
            _remember_param(query.get("name"), query.get("value"), redactor)
        for key in ("postData", "content"):
            payload = message.get(key)
            if isinstance(payload, dict):
                _harvest_payload(payload, content_codings(message), redactor)
        if side == "request" and isinstance(message.get("url"), str):
            for match in PARAM_RE.finditer(message["url"]):
                _remember_param(match.group("n"), unquote_plus(match.group("v")), redactor)
    for message in dicts(entry.get("_webSocketMessages")):
        if isinstance(message.get("data"), str) and message.get("opcode") != 2:
            _harvest_json(message["data"], redactor)
    if cookies:
        redactor.harvest((Exchange(index=0, method="", url="", protocol="unknown", status=None,
                                   request_headers=tuple(cookies)),))


def _remember_param(name: Any, value: Any, redactor: Redactor) -> None:
    if (isinstance(name, str) and isinstance(value, str) and looks_tokenish(value)
            and (secret_name(name) or is_high_entropy(value))):
        redactor.remember(value)


def _harvest_payload(payload: dict[str, Any], codings: tuple[str, ...],
                     redactor: Redactor) -> None:
    for param in dicts(payload.get("params")):
        _remember_param(param.get("name"), param.get("value"), redactor)
    text = payload.get("text")
    if isinstance(text, str) and str(payload.get("encoding", "")).lower() == "base64":
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            return
        text = as_text(decoded_view(data, codings)[0])
    if isinstance(text, str):
        mime = str(payload.get("mimeType") or "").lower()
        if "x-www-form-urlencoded" in mime:
            for match in PARAM_RE.finditer("?" + text):
                _remember_param(match.group("n"), unquote_plus(match.group("v")), redactor)
        else:
            _harvest_json(text, redactor)


def _harvest_json(text: str, redactor: Redactor) -> None:
    """Remember token-like values under secret-named keys of a JSON body (``writeKey``)."""
    if text.lstrip()[:1] not in ("{", "["):
        return
    try:
        root = json.loads(text)
    except (ValueError, RecursionError):
        return
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, secret = stack.pop()
        if isinstance(node, dict):
            stack += [(v, secret or (isinstance(k, str) and is_secret_json_key(k)))
                      for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, secret) for v in node]
        elif secret and isinstance(node, str) and looks_tokenish(node):
            redactor.remember(node)


def mask_parts(parts: Iterable[HarPart], redactor: Redactor,
               changed: Callable[[str, str], None]) -> Iterator[HarPart]:
    """``parts`` with every entry and member masked."""
    entries = EntryRedactor(redactor, changed)
    for part in parts:
        yield mask_part(entries, part)


def mask_part(entries: EntryRedactor, part: HarPart) -> HarPart:
    """One part masked: an entry place by place, a member of ``log`` or the top level like
    any unknown member, structure markers as they are."""
    if part.kind == "entry":
        return HarPart("entry", part.key, entries.entry(part.value))
    if part.kind in ("top", "log"):
        holder = {part.key: part.value}
        entries.generic(holder, part.key, part.kind)
        ((key, value),) = holder.items()
        return HarPart(part.kind, key, value)
    return part
