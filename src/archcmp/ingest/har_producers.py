"""Which program wrote a HAR file, and what that program's HAR means where the spec is loose.

HAR 1.2 leaves room (or is ignored) on three points that change numbers downstream, so each
producer's answer is data in :data:`PRODUCERS`, checked against its exporter's source:

``decodes_bodies``
    Whether ``content.text`` holds the body after content codings were undone. HAR 1.2
    §content says it should ("leave out [encoding] if the text field is HTTP decoded"), and the
    browser exporters do: Chromium/WebInspector and chrome-har-capturer take the text from
    ``Network.getResponseBody`` (decoded); Playwright's ``harTracer.ts`` stores
    ``response.body()`` (decoded); mitmproxy's ``savehar.py`` stores ``flow.response.content``
    (decoded) and falls back to ``raw_content`` only when decoding fails (which is why the
    decoder still checks the bytes). For proxies and mock recorders whose exporters we could
    not check (Charles, Fiddler, Insomnia, Polly.JS, Alta) it is ``None``: unknown.
``ssl_outside_connect``
    HAR 1.2 §timings: "ssl ... If this field is defined then the time is also included in the
    connect field". mitmproxy's ``savehar.py`` measures ``connect`` as TCP setup only
    (``timestamp_tcp_setup - timestamp_start``) and ``ssl`` after it; Firefox's network observer
    (``#setupHarTimings``) likewise takes ``connect`` up to the TCP connect and ``ssl`` from
    ``secureConnectionStart``, and both sum them apart into ``time`` (``mitmproxy__firefox.har``:
    89 + 0 + 32 + 66 + 0 + 60 + 0 = 247 = time). Their ``connect`` is widened by ``ssl`` to
    mean what the spec (and :class:`archcmp.model.Timings`) says.
``time_counts_ssl_twice``
    Playwright's ``harTracer.ts`` measures ``connect`` as ``connectEnd - connectStart`` (TLS
    included, per the spec) but ``_computeHarEntryTotalTime`` sums dns + connect + ssl + wait +
    receive, so its entry ``time`` counts the TLS handshake twice (the alpha chromium-h3
    capture shows it: connect = ssl = 1.509, time = phases + 1.509).
``placeholder_version``
    Playwright's ``createHarEntry`` writes ``httpVersion: "HTTP/1.1"`` (FALLBACK_HTTP_VERSION)
    before any response arrives; for entries without a response it is not evidence.

A producer is matched by the start of ``log.creator.name`` (case-insensitive). When there is
no creator, entry fields only one producer writes (``entry_hints``) name it for
:class:`archcmp.model.CaptureMeta`, but per-entry quirks are applied only from the creator,
since the hints are circumstantial.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PRODUCERS", "UNKNOWN", "Producer", "entry_hint", "most_hinted", "producer_for_creator"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Producer:
    """What archcmp knows about one HAR producer."""

    key: str
    """The :attr:`archcmp.model.CaptureMeta.producer` value."""
    decodes_bodies: bool | None = None
    """Response ``content.text`` is stored after undoing content codings (None: unknown)."""
    ssl_outside_connect: bool = False
    """``timings.connect`` excludes ``timings.ssl``, against HAR 1.2 §timings."""
    time_counts_ssl_twice: bool = False
    """Entry ``time`` adds ``ssl`` although ``connect`` already holds it."""
    placeholder_version: bool = False
    """``httpVersion`` is a made-up default until a response arrives."""


UNKNOWN = Producer(key="unknown")

_CHROMIUM = Producer(key="chromium", decodes_bodies=True)

#: (creator-name prefix, casefolded) → producer. Longer prefixes first where one starts another
#: ("webkit web inspector" is Safari; Chromium DevTools writes "WebInspector").
PRODUCERS: tuple[tuple[str, Producer], ...] = (
    ("webkit web inspector", Producer(key="safari", decodes_bodies=True)),
    ("webinspector", _CHROMIUM),
    (
        "playwright",
        Producer(
            key="playwright",
            decodes_bodies=True,
            time_counts_ssl_twice=True,
            placeholder_version=True,
        ),
    ),
    ("firefox", Producer(key="firefox", decodes_bodies=True, ssl_outside_connect=True)),
    # Firebug (Firefox ≤ 30 add-on) wrote HAR 1.1, before the ssl phase existed.
    ("firebug", Producer(key="firefox", decodes_bodies=True)),
    # "mitmproxy" (savehar.py, 10+), "mitmproxy exporthar" (≤ 9), "mitmproxy har_dump" (script)
    ("mitmproxy", Producer(key="mitmproxy", decodes_bodies=True, ssl_outside_connect=True)),
    ("charles proxy", Producer(key="charles")),
    ("fiddler", Producer(key="fiddler")),
    ("insomnia", Producer(key="insomnia")),
    ("polly.js", Producer(key="pollyjs")),
    # Browsertime drives Chrome or Firefox and keeps their exporters' bodies (or none).
    ("browsertime", Producer(key="browsertime", decodes_bodies=True)),
    ("chrome har capturer", Producer(key="chrome-har-capturer", decodes_bodies=True)),
    ("alta proxy", Producer(key="alta-proxy")),
    # `archcmp redact --to-har`: exchanges decrypted from a packet capture.
    ("archcmp", Producer(key="archcmp")),
)

#: Entry members (or ``timings`` members) that only one producer writes → that producer's key.
_ENTRY_HINTS: tuple[tuple[str, str], ...] = (
    ("_monotonicTime", "playwright"),  # harTracer.ts with includeTraceInfo
    ("_frameref", "playwright"),
    ("_initiator", "chromium"),  # DevTools HARWriter / chrome-har-capturer
    ("_resourceType", "chromium"),  # (also mitmproxy, but only for WebSocket entries)
    ("_securityState", "firefox"),
    ("_fetchType", "safari"),
    ("_charlesStatus", "charles"),
)


def producer_for_creator(name: str | None) -> Producer:
    """The producer whose creator-name prefix starts ``name``, or :data:`UNKNOWN`."""
    if not name:
        return UNKNOWN
    folded = name.strip().casefold()
    for prefix, producer in PRODUCERS:
        if folded.startswith(prefix):
            return producer
    return UNKNOWN


def entry_hint(entry: Mapping[str, Any]) -> str | None:
    """A producer key suggested by a field only that producer writes, or None."""
    response = entry.get("response")
    for field_name, key in _ENTRY_HINTS:
        if field_name in entry:
            return key
        if isinstance(response, dict) and field_name in response:
            return key
    timings = entry.get("timings")
    if isinstance(timings, dict) and "_blocked_queueing" in timings:
        return "chromium"  # DevTools-only timing split of "blocked"
    return None


def most_hinted(hints: Counter[str]) -> str | None:
    """The producer key most entries hinted at (ties broken by name, for determinism)."""
    if not hints:
        return None
    return min(hints.items(), key=lambda item: (-item[1], item[0]))[0]
