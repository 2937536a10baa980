"""archcmp: turn captures of web apps (HAR, pcap + key log) into an architecture teardown.

The pipeline, one package per arrow::

    capture file → ingest (Exchange records) → decode (bodies, streams)
                 → classify (findings) → analyze (Analysis document) → store → report / diff
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
