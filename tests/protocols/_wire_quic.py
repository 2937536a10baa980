"""Test-only glue for the QUIC tests: a capture's UDP datagrams and key log, and a runner that
drives :class:`QuicTracker` and one :class:`H3Connection` per ``h3`` connection the way the
CLI wiring does (the real ``ingest.pcap`` / ``ingest.packets`` / ``ingest.keylog`` read files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.keylog import KeyLog
from archcmp.ingest.packets import UdpDatagram, decode_frame
from archcmp.ingest.pcap import SECRETS_TLS_KEY_LOG, Secrets, read_capture
from archcmp.protocols.events import HttpEvent
from archcmp.protocols.http3 import H3Connection
from archcmp.protocols.quic import (
    QuicConnectionClosed,
    QuicEvent,
    QuicHandshakeDone,
    QuicStreamData,
    QuicStreamReset,
    QuicTracker,
)

E = TypeVar("E")


@dataclass(slots=True)
class Capture:
    datagrams: list[UdpDatagram]
    keylog: KeyLog


def load(path: Path, keylog_file: Path | None = None) -> Capture:
    """UDP datagrams in file order, and the DSB secrets merged with ``keylog_file``."""
    diag = Diagnostics()
    datagrams: list[UdpDatagram] = []
    keylog = KeyLog()
    with path.open("rb") as stream:
        for record in read_capture(stream, diag, name=str(path)):
            if isinstance(record, Secrets):
                if record.secrets_type == SECRETS_TLS_KEY_LOG:
                    keylog = keylog.merge(KeyLog.parse(record.data, diag, source="dsb"))
                continue
            packet = decode_frame(record, diag)
            if isinstance(packet, UdpDatagram):
                datagrams.append(packet)
    if keylog_file is not None:
        keylog = keylog.merge(KeyLog.parse(keylog_file.read_bytes(), diag,
                                           source=str(keylog_file)))
    return Capture(datagrams, keylog)


@dataclass(slots=True)
class Run:
    quic: list[QuicEvent] = field(default_factory=list)
    http: dict[int, list[HttpEvent]] = field(default_factory=dict)
    h3: dict[int, H3Connection] = field(default_factory=dict)
    diag: Diagnostics = field(default_factory=Diagnostics)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.quic if isinstance(e, kind)]


def run(capture: Capture, *, keylog: KeyLog | None = None) -> Run:
    """Feed every datagram; route stream events of ``h3`` connections to an H3Connection."""
    result = Run()
    tracker = QuicTracker(capture.keylog if keylog is None else keylog, result.diag)

    def route(events: list[QuicEvent]) -> None:
        for event in events:
            result.quic.append(event)
            h3 = result.h3.get(event.conn_id)
            out = result.http.setdefault(event.conn_id, [])
            if isinstance(event, QuicHandshakeDone) and event.alpn == "h3":
                result.h3[event.conn_id] = H3Connection(result.diag)
            elif h3 is None:
                continue
            elif isinstance(event, QuicStreamData):
                out += h3.feed_stream(event.stream_id, event.from_client, event.data, event.fin,
                                      event.ts_ns)
            elif isinstance(event, QuicStreamReset) and not event.stop_sending:
                out += h3.reset_stream(event.stream_id, event.from_client, event.error_code,
                                       event.ts_ns)
            elif isinstance(event, QuicConnectionClosed):
                out += h3.close(event.ts_ns, event.reason)

    for dg in capture.datagrams:
        route(tracker.feed(dg.payload, dg.ts_ns, dg.src, dg.dst))
    route(tracker.finish())
    return result
