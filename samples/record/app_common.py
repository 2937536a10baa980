"""Plumbing every sample-app flavour shares: ids, TLS, content-coding, small helpers.

Why this exists: the sample apps (``flavour_anthropic.py``, ``flavour_openai.py``) differ in
what they serve, not in how they compress, name things or get a certificate.  Keeping that
here means a second flavour cannot drift from the first in the parts archcmp treats as
ground truth (compression thresholds, flush behaviour of streamed bodies, UUIDv7 layout).

The ASGI side (request log, responder, routing, serving) lives in ``app_server.py``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import secrets
import string
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import brotli
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# --------------------------------------------------------------------------- ASGI typing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[..., Awaitable[None]]

# Responses smaller than this go out uncompressed, as nginx/hypercorn-style servers do.
MIN_COMPRESS_BYTES: Final = 200

# Server-side pacing of the streams, so TTFB and total time really differ.
STREAM_THINK_S: Final = 0.15
STREAM_EVENT_GAP_S: Final = 0.06

JSON_TYPE: Final = "application/json"

UUID_RE: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

#: The assistant reply every flavour streams, one piece per event, so that two captures
#: differ in how they stream (framing, coding, protocol), not in what they say.
COMPLETION_TEXT: Final = [
    "Hello",
    "!",
    " This",
    " reply",
    " is",
    " streamed",
    " one",
    " event",
    " at",
    " a",
    " time",
    ".",
]


# --------------------------------------------------------------------------- ids


class UUID7Generator:
    """RFC 9562 UUID version 7: 48-bit Unix ms timestamp, then random bits.

    ``rand_a`` (12 bits) is used as a counter seeded at random each millisecond
    (RFC 9562 §6.2 method 1), so ids generated in the same millisecond stay ordered.
    Python 3.11 has no ``uuid.uuid7``, hence this.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = secrets.randbits(11)  # leave headroom to count up
            else:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    self._last_ms += 1
                    ms = self._last_ms
                    self._counter = secrets.randbits(11)
            rand_a = self._counter
        rand_b = secrets.randbits(62)
        value = (ms & 0xFFFF_FFFF_FFFF) << 80
        value |= 0x7 << 76
        value |= rand_a << 64
        value |= 0b10 << 62
        value |= rand_b
        return uuid.UUID(int=value)


uuid7 = UUID7Generator()

BASE62: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase
BASE62_ID_LEN: Final = 24


def prefixed_id(prefix: str, length: int = BASE62_ID_LEN) -> str:
    """``prefix`` + ``length`` uniformly random base62 characters (``thread_…``, ``msg_…``).

    The Stripe/OpenAI style of id: a constant type prefix, then ~143 random bits for 24
    characters.  No time component, so unlike UUIDv7 these ids do not sort by creation.
    """
    return prefix + "".join(secrets.choice(BASE62) for _ in range(length))


# --------------------------------------------------------------------------- TLS


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a fresh P-256 key and a one-day self-signed cert for 127.0.0.1/localhost.

    Both live only in ``directory`` (a temp dir); nothing here is ever committed.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "archcmp sample app (localhost)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --------------------------------------------------------------------------- encodings


def parse_accept_encoding(header: str) -> set[str]:
    """Codings the client accepts with q > 0 (``identity`` is always acceptable)."""
    accepted: set[str] = set()
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if q > 0:
            accepted.add(coding)
    return accepted


def choose_encoding(accept: str, preferred: str | None) -> str | None:
    """The route's preferred coding if accepted, else the best other one the client takes.

    ``preferred=None`` means the route is never compressed.
    """
    accepted = parse_accept_encoding(accept)
    if preferred is None:
        return None
    for coding in (preferred, "br", "zstd", "gzip"):
        if coding in accepted or "*" in accepted:
            return coding
    return None


def compress_whole(body: bytes, coding: str | None) -> bytes:
    if coding is None:
        return body
    if coding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if coding == "br":
        return bytes(brotli.compress(body, mode=brotli.MODE_TEXT, quality=9))
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(body)
    raise ValueError(coding)


class StreamCompressor:
    """Incremental compressor whose every ``chunk`` is decodable on its own arrival.

    Each event is flushed (brotli ``flush``, zstd ``FLUSH_BLOCK``, zlib ``Z_SYNC_FLUSH``)
    so the browser can decode and show it before the next one is produced.  With
    ``coding=None`` chunks pass through unchanged.
    """

    def __init__(self, coding: str | None) -> None:
        self.coding = coding
        self._br: Any = None
        self._zstd: Any = None
        self._gzip: Any = None
        if coding == "br":
            self._br = brotli.Compressor(mode=brotli.MODE_TEXT, quality=5)
        elif coding == "zstd":
            self._zstd = zstandard.ZstdCompressor(level=3).compressobj()
        elif coding == "gzip":
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif coding is not None:
            raise ValueError(coding)

    def chunk(self, data: bytes) -> bytes:
        if self._br is not None:
            return bytes(self._br.process(data)) + bytes(self._br.flush())
        if self._zstd is not None:
            return bytes(self._zstd.compress(data)) + bytes(
                self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            )
        if self._gzip is not None:
            return bytes(self._gzip.compress(data) + self._gzip.flush(zlib.Z_SYNC_FLUSH))
        return data

    def finish(self) -> bytes:
        if self._br is not None:
            return bytes(self._br.finish())
        if self._zstd is not None:
            return bytes(self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        if self._gzip is not None:
            return bytes(self._gzip.flush(zlib.Z_FINISH))
        return b""


# --------------------------------------------------------------------------- small helpers


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(obj: object) -> bytes:
    """Compact JSON, as APIs send it."""
    return json.dumps(obj, separators=(",", ":")).encode()


def dist_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None
