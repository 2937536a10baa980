"""Body decoding: content codings (``content``), Server-Sent Events (``sse``) and line streams
(``lines``: NDJSON, AI-SDK data streams).

Everything here is sans-IO and bounded: bytes in, frozen records out, caps from
:mod:`archcmp.limits`, problems counted in :class:`archcmp.diagnostics.Diagnostics`. Nothing here
imports ``store``, ``report`` or ``cli``.
"""
