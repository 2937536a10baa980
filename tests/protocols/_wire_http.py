"""Test-only: run a corpus pcap through ingest (pcap → packets → flows) into Http1Connection.

Each TCP flow gets its own :class:`Http1Connection`; a flow first seen mid-stream starts with
``gap(…, 0)`` in both directions, so the machine looks for the next start line. Every call is
recorded in :attr:`Session.script` so tests can replay a real connection with other chunkings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.flows import FlowClosed, FlowData, FlowGap, FlowKey, FlowOpened, TcpReassembler
from archcmp.ingest.packets import Defragmenter, TcpSegment, decode_frame
from archcmp.ingest.pcap import Frame, read_capture
from archcmp.protocols.events import HttpEvent
from archcmp.protocols.http1 import Http1Connection

__all__ = ["Call", "Session", "sessions"]

#: ("feed", from_client, data, ts) | ("gap", from_client, missing, ts) | ("close", reset, ts)
Call = tuple[str, bool, bytes | int, int] | tuple[str, bool, int]


@dataclass(slots=True)
class Session:
    index: int
    flow: FlowKey
    conn: Http1Connection
    events: list[HttpEvent] = field(default_factory=list)
    script: list[Call] = field(default_factory=list)


def sessions(path: Path, diag: Diagnostics | None = None) -> list[Session]:
    """Every TCP flow of ``path`` decoded as HTTP/1.x, in flow order."""
    diag = diag if diag is not None else Diagnostics()
    reassembler, defrag = TcpReassembler(diag), Defragmenter(diag)
    found: dict[int, Session] = {}

    def handle(event: object) -> None:
        if isinstance(event, FlowOpened):
            s = found[event.index] = Session(
                event.index, event.flow, Http1Connection(diag, where=f"flow {event.index}")
            )
            if event.mid_stream:
                for side in (True, False):
                    s.script.append(("gap", side, 0, event.ts_ns))
                    s.events += s.conn.gap(side, 0, event.ts_ns)
        elif isinstance(event, FlowData):
            s = found[event.index]
            s.script.append(("feed", event.from_client, event.data, event.ts_ns))
            s.events += s.conn.feed(event.from_client, event.data, event.ts_ns)
        elif isinstance(event, FlowGap):
            s = found[event.index]
            s.script.append(("gap", event.from_client, event.missing, event.ts_ns))
            s.events += s.conn.gap(event.from_client, event.missing, event.ts_ns)
        elif isinstance(event, FlowClosed):
            s = found[event.index]
            s.script.append(("close", event.reset, event.ts_ns))
            s.events += s.conn.close(event.ts_ns, reset=event.reset)

    with path.open("rb") as stream:
        for record in read_capture(stream, diag, name=path.name):
            if isinstance(record, Frame):
                segment = decode_frame(record, diag, defrag=defrag)
                if isinstance(segment, TcpSegment):
                    for event in reassembler.feed(segment):
                        handle(event)
    for event in reassembler.finish():
        handle(event)
    return [found[i] for i in sorted(found)]
