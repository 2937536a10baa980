"""Named caps on sizes, counts and ratios, so that hostile input degrades into warnings.

Each cap says where its number comes from. Change them with CLI flags, not by editing callers.
"""

from __future__ import annotations

__all__ = [
    "MAX_CODING_LAYERS",
    "MAX_COMPRESSION_RATIO",
    "MAX_DECODED_BODY_BYTES",
    "MAX_SSE_EVENTS_PER_STREAM",
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

#: Events kept per stream for analysis; beyond it events are counted but not stored.
MAX_SSE_EVENTS_PER_STREAM = 100_000

#: Samples kept per warning code (Zeek's weird.log keeps one per connection; a few suffice).
WARNING_SAMPLES = 3
