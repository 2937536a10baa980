"""What kind of resource an exchange fetched, in the document's ``exchanges[].kind`` vocabulary.

The producer's own resource type wins when it has one (Chromium and Playwright record
``_resourceType`` from the renderer, which knows whether a fetch was a script or an XHR); the
response media type decides otherwise, then the request's ``Sec-Fetch-Dest`` header (Fetch
standard §3.2.6), then the URL's file extension.
"""

from __future__ import annotations

from archcmp.model import Exchange

__all__ = ["KINDS", "exchange_kind", "media_type"]

KINDS = ("document", "script", "style", "image", "font", "xhr", "stream", "telemetry", "other")

#: Chromium DevTools ``Network.ResourceType`` (lowercased) → kind.
_RESOURCE_TYPE = {
    "document": "document",
    "script": "script",
    "stylesheet": "style",
    "image": "image",
    "media": "other",
    "font": "font",
    "xhr": "xhr",
    "fetch": "xhr",
    "eventsource": "stream",
    "websocket": "stream",
    "ping": "telemetry",
    "cspviolationreport": "telemetry",
    "beacon": "telemetry",
    "manifest": "other",
    "texttrack": "other",
    "prefetch": "other",
    "preflight": "other",
    "signedexchange": "other",
    "other": "other",
}

#: Response media type (without parameters) → kind; the ``image/`` and ``font/`` trees are
#: handled by prefix below.
_MEDIA_TYPE = {
    "text/html": "document",
    "application/xhtml+xml": "document",
    "text/javascript": "script",
    "application/javascript": "script",
    "application/x-javascript": "script",
    "application/ecmascript": "script",
    "text/css": "style",
    "application/json": "xhr",
    "text/json": "xhr",
    "application/graphql-response+json": "xhr",
    "application/problem+json": "xhr",
    "text/x-component": "xhr",
    "application/grpc-web+proto": "xhr",
    "application/grpc-web-text": "xhr",
    "text/event-stream": "stream",
    "application/x-ndjson": "stream",
    "application/jsonl": "stream",
    "application/vnd.ms-fontobject": "font",
    "application/font-woff": "font",
    "application/x-font-woff": "font",
}

#: ``Sec-Fetch-Dest`` request header → kind.
_FETCH_DEST = {
    "document": "document",
    "iframe": "document",
    "script": "script",
    "worker": "script",
    "sharedworker": "script",
    "serviceworker": "script",
    "style": "style",
    "image": "image",
    "font": "font",
    "report": "telemetry",
}

_EXTENSION = {
    "js": "script",
    "mjs": "script",
    "css": "style",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "gif": "image",
    "webp": "image",
    "avif": "image",
    "svg": "image",
    "ico": "image",
    "woff": "font",
    "woff2": "font",
    "ttf": "font",
    "otf": "font",
    "html": "document",
    "htm": "document",
}


def media_type(content_type: str | None) -> str | None:
    """``text/html; charset=utf-8`` → ``text/html`` (RFC 9110 §8.3.1: case-insensitive)."""
    if not content_type:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None


def exchange_kind(exchange: Exchange, *, streamed: bool = False) -> str:
    """The document kind of one exchange; ``streamed`` is True when its body parsed as a stream."""
    if streamed:
        return "stream"
    if exchange.resource_type:
        kind = _RESOURCE_TYPE.get(exchange.resource_type.lower())
        if kind is not None and kind != "other":
            return kind
    mtype = media_type(exchange.response_header("content-type"))
    if mtype is None and exchange.response_body is not None:
        mtype = media_type(exchange.response_body.mime_type)
    if mtype:
        if mtype in _MEDIA_TYPE:
            return _MEDIA_TYPE[mtype]
        if mtype.startswith("image/"):
            return "image"
        if mtype.startswith("font/"):
            return "font"
        if mtype.endswith("+json"):
            return "xhr"
    dest = (exchange.request_header("sec-fetch-dest") or "").lower()
    if dest in _FETCH_DEST:
        return _FETCH_DEST[dest]
    path = exchange.url.split("?", 1)[0].split("#", 1)[0]
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        kind = _EXTENSION.get(last.rsplit(".", 1)[-1].lower())
        if kind:
            return kind
    if dest == "empty":
        return "xhr"
    return "other"
