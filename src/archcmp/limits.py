"""Named caps on sizes, counts and ratios, so that hostile input degrades into warnings.

Each cap says where its number comes from. Change them with CLI flags, not by editing callers.
"""

from __future__ import annotations

__all__ = [
    "MAX_CODING_LAYERS",
    "MAX_COMPRESSION_RATIO",
    "MAX_DECODED_BODY_BYTES",
    "MAX_HAR_HEADER_BYTES",
    "MAX_HAR_HEADER_FIELDS",
    "MAX_JSON_DEPTH",
    "MAX_PEAK_RSS_MIB",
    "MAX_SSE_EVENTS_PER_STREAM",
    "PEAK_RSS_KIB_PER_EXCHANGE",
    "RATIO_CHECK_MIN_BYTES",
    "WARNING_SAMPLES",
]

#: Decoded size cap per body (64 MiB): larger than any single web resource we have seen in real
#: HARs (big JS bundles are < 20 MiB), small enough that a bomb cannot exhaust memory.
MAX_DECODED_BODY_BYTES = 64 * 1024 * 1024

#: Output/input ratio beyond which a body is treated as a decompression bomb. Real text compresses
#: up to ~100:1 with brotli on highly repetitive JSON; zlib's own maximum is ~1032:1. 1000:1 is
#: above every legitimate payload we measured and well below crafted bombs (10^6:1).
MAX_COMPRESSION_RATIO = 1000

#: The ratio cap only applies once the output is this large, so tiny bodies (a 20-byte gzip of
#: 30 KB of zeros in a test) are not flagged while still bounded by MAX_DECODED_BODY_BYTES.
RATIO_CHECK_MIN_BYTES = 1024 * 1024

#: RFC 9110 §8.4 allows several codings; browsers send at most two. Nested bombs stack more.
MAX_CODING_LAYERS = 8

#: Header fields kept per HAR message (request or response), and their bytes (names + values).
#: A HAR holds what its producer recorded, so nothing upstream bounds it; these are the caps the
#: wire path applies: HTTP/1.1's 1000 fields (``protocols.http1.MAX_HEADER_FIELDS``, Apache's
#: LimitRequestFields is 100) and HTTP/2's 1 MiB decoded header list (Go's net/http default,
#: the largest of any mainstream endpoint). Fields past either are dropped and counted.
MAX_HAR_HEADER_FIELDS = 1000
MAX_HAR_HEADER_BYTES = 1024 * 1024

#: JSON nesting the analysers read. CPython's ``json`` parser recurses once per level and raises
#: RecursionError near ``sys.getrecursionlimit()`` (1000) minus the caller's stack; every parse
#: of a body catches it, and a body nested deeper than this is counted ``body.json.too_deep``
#: so the reader knows why its structure is missing from the analysis.
MAX_JSON_DEPTH = 900

#: Events kept per stream for analysis; beyond it events are counted but not stored.
MAX_SSE_EVENTS_PER_STREAM = 100_000

#: Samples kept per warning code (Zeek's weird.log keeps one per connection; a few suffice).
WARNING_SAMPLES = 3

#: The documented memory cap: peak resident memory of one ``archcmp analyze`` run, in MiB, is at
#: most this plus :data:`PEAK_RSS_KIB_PER_EXCHANGE` per exchange, for any pcap/pcapng and for
#: any HAR whose entries are each under 16 MiB of JSON.
#:
#: * The fixed part is dominated by MAX_DECODED_BODY_BYTES: one body decoded to its 64 MiB cap,
#:   with the copies the decoder, the stream parsers and the analysers make of it, on top of
#:   ~90 MiB of interpreter and libraries. Every other buffer is capped: decompression (8 layers,
#:   1000:1), HAR headers (MAX_HAR_HEADER_FIELDS / _BYTES), JSON nesting (MAX_JSON_DEPTH),
#:   HTTP/1.1 heads (64 KiB), HTTP/2 header lists, blocks and HPACK tables (1 MiB each),
#:   HTTP/3 frames (1 MiB), SSE events (MAX_SSE_EVENTS_PER_STREAM), TCP data behind a hole
#:   (16 MiB per direction).
#: * The per-exchange part is the analysis document: a row per exchange, built, stored and
#:   printed (200k minimal HAR entries peak at ~300 MiB).
#: * What a constant cannot bound: a HAR entry is parsed whole, so one larger than 16 MiB of
#:   JSON adds about eight times its size while it is read (a 40 MiB entry of 400k headers
#:   peaks at 340 MiB), and a capture holding many connections' out-of-order data at once
#:   holds up to 32 MiB per connection. Both need inputs of that size.
#:
#: Measured with os.wait4 on every case of the malformed corpus by ``tests/test_malformed.py``;
#: ``benchmarks/scaling.py`` shows time growing linearly with each kind of hostile input.
MAX_PEAK_RSS_MIB = 400

#: The per-exchange allowance on top of MAX_PEAK_RSS_MIB (measured: ~1.5 KiB per minimal HAR
#: entry), for the analysis document's row of that exchange.
PEAK_RSS_KIB_PER_EXCHANGE = 2
