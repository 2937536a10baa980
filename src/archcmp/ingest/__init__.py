"""Capture files in, :class:`archcmp.model.Exchange` records out.

:mod:`~archcmp.ingest.sniff` decides the format from magic bytes and undoes compression and
byte-order marks; :mod:`~archcmp.ingest.har` streams HAR files of every producer we have
samples of (quirks in :mod:`~archcmp.ingest.har_producers`, field mapping in
:mod:`~archcmp.ingest.har_entry`).
"""

from __future__ import annotations

from archcmp.ingest.har import HarReader, HarReadError, HarTruncated, read_har
from archcmp.ingest.sniff import Capture, CaptureFormat, open_capture, sniff_stream

__all__ = [
    "Capture",
    "CaptureFormat",
    "HarReadError",
    "HarReader",
    "HarTruncated",
    "open_capture",
    "read_har",
    "sniff_stream",
]
