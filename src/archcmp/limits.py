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

#: Peak resident memory of ``archcmp analyze`` on any one input, hostile or not, in MiB, plus
#: :data:`PEAK_RSS_KIB_PER_EXCHANGE` for each exchange the input holds (the document has one
#: row per exchange, so memory follows the rows, never the file). The fixed part is the
#: interpreter and libraries (~90 MiB), one body decoded up to MAX_DECODED_BODY_BYTES (64 MiB)
#: with the copies the decoder and the classifiers make of it, and the bounded buffers of the
#: protocol machines (h2/h3 header blocks 1 MiB, TCP reassembly 16 MiB per direction).
#: Measured by ``tests/test_malformed.py`` (os.wait4 ru_maxrss) on every case of the
#: malformed corpus; ``benchmarks/scaling.py`` shows the per-exchange slope.
MAX_PEAK_RSS_MIB = 400

#: The per-exchange allowance on top of MAX_PEAK_RSS_MIB: one row of the analysis document while
#: it is built, stored and printed.
PEAK_RSS_KIB_PER_EXCHANGE = 2
