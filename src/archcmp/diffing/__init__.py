"""The machinery behind :mod:`archcmp.diff`, one module per group of areas.

``model`` (records, the policy table as data) · ``read`` (tolerant document access) ·
``contract`` (services, endpoints, streams, API styles) · ``identity`` (auth, ID formats) ·
``platform`` (infrastructure, vendors, protocols, encodings) · ``latency`` · ``render`` (JSON,
text, Markdown). Import the public API from :mod:`archcmp.diff`.
"""

from __future__ import annotations

__all__: list[str] = []
