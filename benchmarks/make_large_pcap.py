"""Write a large keyed pcapng by replicating a real TLS + HTTP/2 (or HTTP/1.1) capture.

Each copy moves every packet of the source in time (after the previous copy) and gives each
TCP connection a new client port, so the copies are distinct connections that decrypt with the
same key log (TLS keys are looked up by client random, which the copies share). The key log
goes in once, as the Decryption Secrets Block of the source or from ``--keylog``.

    python benchmarks/make_large_pcap.py SRC.pcapng OUT.pcapng --copies 100 [--keylog K]
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

from archcmp.diagnostics import Diagnostics
from archcmp.ingest.pcap import Frame, Secrets, read_capture

_LINK_HEADER = {1: 14, 0: 4, 101: 0, 228: 0, 229: 0, 113: 16, 276: 20}


def _tcp_ports_offset(frame: Frame) -> int | None:
    """Offset of the TCP source port in ``frame.data`` (plain IPv4/IPv6, no extension headers)."""
    start = _LINK_HEADER.get(frame.linktype)
    if start is None or len(frame.data) < start + 1:
        return None
    version = frame.data[start] >> 4
    if version == 4 and frame.data[start + 9] == 6:
        return start + (frame.data[start] & 0x0F) * 4
    if version == 6 and frame.data[start + 6] == 6:
        return start + 40
    return None


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--keylog", type=Path)
    args = parser.parse_args()

    diag = Diagnostics()
    frames: list[Frame] = []
    secrets: list[bytes] = []
    with args.source.open("rb") as fh:
        for item in read_capture(fh, diag):
            if isinstance(item, Secrets):
                secrets.append(item.data)
            else:
                frames.append(item)
    if args.keylog:
        secrets.append(args.keylog.read_bytes())
    linktypes = sorted({f.linktype for f in frames})
    span = frames[-1].ts_ns - frames[0].ts_ns + 1_000_000
    with args.out.open("wb") as out:
        out.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        for linktype in linktypes:
            # if_tsresol = 9 (nanoseconds), then opt_endofopt
            out.write(_block(1, struct.pack("<HHI", linktype, 0, 262144)
                             + struct.pack("<HHB3x", 9, 1, 9) + b"\0\0\0\0"))
        for data in secrets:
            out.write(_block(0x0A, struct.pack("<II", 0x544C534B, len(data)) + data))
        iface = {lt: i for i, lt in enumerate(linktypes)}
        for copy in range(args.copies):
            offset = copy * span
            for f in frames:
                data = bytearray(f.data)
                ports = _tcp_ports_offset(f)
                if ports is not None and copy:
                    src, dst = struct.unpack_from(">HH", data, ports)
                    # the client port is the higher one; shift it per copy
                    if src > dst:
                        struct.pack_into(">H", data, ports, 1024 + (src + copy * 7) % 60000)
                    else:
                        struct.pack_into(">H", data, ports + 2, 1024 + (dst + copy * 7) % 60000)
                ts = f.ts_ns + offset
                out.write(_block(6, struct.pack("<IIIII", iface[f.linktype], ts >> 32,
                                                ts & 0xFFFFFFFF, len(data), f.orig_len)
                                 + bytes(data)))
    size = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size:.1f} MB, {len(frames) * args.copies} packets)")


if __name__ == "__main__":
    main()
