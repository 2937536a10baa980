"""Sans-IO protocol machines: bytes (with their capture time) in, events out.

Nothing here reads files, clocks or the terminal; ``ingest`` feeds them and ``exchange``
assembles their events into :class:`archcmp.model.Exchange` records.
"""
