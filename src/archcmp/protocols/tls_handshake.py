"""TLS handshake messages (reassembly across records, the hellos' fields) and the vocabulary
:class:`archcmp.protocols.tls.TlsSession` reports them in (its events and :class:`TlsInfo`).

Only what an architecture teardown and decryption need is parsed: the ClientHello (SNI, ALPN,
versions, suites, resumption and early-data offers), the ServerHello (selected version, suite,
ALPN in TLS ≤ 1.2, PSK acceptance, HelloRetryRequest), EncryptedExtensions (ALPN and early-data
acceptance in TLS 1.3) and KeyUpdate. Other messages (certificates above all) are skipped
without being buffered. A message that does not parse raises :class:`HandshakeError`, which
the session counts as ``tls.handshake.malformed``; ``IndexError`` and friends never leave.

Specifications: RFC 8446 §4 (messages, extensions), RFC 5246 §7.4 and appendix E.2 (the
SSLv2-compatible ClientHello), RFC 6066 §3 (server_name), RFC 7301 §3.1 (ALPN), RFC 7366
(encrypt_then_mac), RFC 7627 (extended_master_secret), RFC 5077 (SessionTicket).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from archcmp.protocols.tls_crypto import suite_name

__all__ = [
    "CLIENT_HELLO",
    "ClientHello",
    "Counts",
    "EncryptedExtensions",
    "HandshakeBuffer",
    "HandshakeError",
    "ServerHello",
    "Status",
    "TlsAlert",
    "TlsAppData",
    "TlsClientHello",
    "TlsEvent",
    "TlsInfo",
    "TlsServerHello",
    "TlsUndecryptable",
    "is_tls13",
    "parse_client_hello",
    "parse_encrypted_extensions",
    "parse_server_hello",
    "parse_sslv2_client_hello",
    "version_name",
]

# RFC 8446 §4 HandshakeType values this module acts on.
CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, END_OF_EARLY_DATA = 1, 2, 4, 5
ENCRYPTED_EXTENSIONS, FINISHED, KEY_UPDATE = 8, 20, 24
#: Messages whose bodies are kept; all others are skipped as they stream past.
WANTED = frozenset({CLIENT_HELLO, SERVER_HELLO, END_OF_EARLY_DATA, ENCRYPTED_EXTENSIONS,
                    FINISHED, KEY_UPDATE})

#: RFC 8446 §4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest") is an HRR.
HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

#: Largest wanted message kept (64 KiB). A ClientHello with post-quantum key shares is ~2 KiB
#: and RFC 8446 §4.1.2 padding rarely goes past 512 bytes; Wireshark's heuristics assume
#: handshake messages stay below 64 KiB (packet-tls.c, is_encrypted_handshake_message).
MAX_WANTED_MESSAGE = 64 * 1024


class HandshakeError(Exception):
    """A handshake message that does not parse (truncated field, impossible length)."""


class _Reader:
    """Bounds-checked big-endian reads over a handshake message body."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise HandshakeError("field runs past the end of its message")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vec(self, len_bytes: int) -> bytes:
        return self.take(self.uint(len_bytes))

    @property
    def left(self) -> int:
        return len(self._data) - self._pos


def _u16_list(data: bytes) -> tuple[int, ...]:
    if len(data) % 2:
        raise HandshakeError("odd length in a list of 16-bit values")
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "backslashreplace")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello:
    """RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2."""

    legacy_version: int
    random: bytes
    """32 bytes; the key log's lookup key (not secret)."""
    session_id: bytes
    cipher_suites: tuple[int, ...]
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    supported_versions: tuple[int, ...] = ()
    key_share: bool = False
    psk: bool = False
    """pre_shared_key offered (TLS 1.3 resumption, RFC 8446 §4.2.11)."""
    early_data: bool = False
    session_ticket: bool = False
    """A non-empty SessionTicket extension (RFC 5077 §3.2): TLS 1.2 resumption offered."""
    encrypt_then_mac: bool = False
    extended_master_secret: bool = False
    sslv2: bool = False
    """Sent in the SSL 2.0-compatible format (RFC 5246 appendix E.2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello:
    """RFC 8446 §4.1.3 / RFC 5246 §7.4.1.3."""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    selected_version: int | None = None
    """From supported_versions (TLS 1.3); None when the server did not send it."""
    alpn: str | None = None
    psk: bool = False
    encrypt_then_mac: bool = False
    extended_master_secret: bool = False
    hello_retry_request: bool = False

    @property
    def version(self) -> int:
        return self.selected_version or self.legacy_version


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptedExtensions:
    """RFC 8446 §4.3.1."""

    alpn: str | None = None
    early_data: bool = False
    """The server accepted 0-RTT data (RFC 8446 §4.2.10)."""


@dataclass(slots=True)
class _Fields:
    """What the extensions of one hello said, filled in by the parsers below."""

    sni: str | None = None
    alpn: tuple[str, ...] = ()
    supported_versions: tuple[int, ...] = ()
    selected_version: int | None = None
    key_share: bool = False
    psk: bool = False
    early_data: bool = False
    session_ticket: bool = False
    encrypt_then_mac: bool = False
    extended_master_secret: bool = False


# Extension parsers: extension type → function(body, fields). Tables, not if-chains: one row
# per extension, the RFC section beside it.


def _sni(body: bytes, out: _Fields) -> None:
    # RFC 6066 §3: ServerNameList<1..2^16-1> of (NameType name_type; HostName<1..2^16-1>).
    names = _Reader(_Reader(body).vec(2))
    while names.left:
        name_type, name = names.uint(1), names.vec(2)
        if name_type == 0 and out.sni is None:
            out.sni = _text(name)


def _alpn(body: bytes, out: _Fields) -> None:
    # RFC 7301 §3.1: ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>.
    names = _Reader(_Reader(body).vec(2))
    found: list[str] = []
    while names.left:
        found.append(_text(names.vec(1)))
    out.alpn = tuple(found)


def _versions_offered(body: bytes, out: _Fields) -> None:
    # RFC 8446 §4.2.1: ProtocolVersion versions<2..254> in the ClientHello.
    out.supported_versions = _u16_list(_Reader(body).vec(1))


def _version_selected(body: bytes, out: _Fields) -> None:
    # RFC 8446 §4.2.1: a single ProtocolVersion in the ServerHello.
    if len(body) != 2:
        raise HandshakeError("server supported_versions is not one version")
    out.selected_version = int.from_bytes(body, "big")


def _flag(name: str) -> Callable[[bytes, _Fields], None]:
    def set_flag(body: bytes, out: _Fields) -> None:
        setattr(out, name, True)

    return set_flag


def _session_ticket(body: bytes, out: _Fields) -> None:
    out.session_ticket = bool(body)


Parser = Callable[[bytes, _Fields], None]

_CLIENT_EXTENSIONS: dict[int, Parser] = {
    0: _sni,  # server_name, RFC 6066 §3
    16: _alpn,  # application_layer_protocol_negotiation, RFC 7301 §3.1
    22: _flag("encrypt_then_mac"),  # RFC 7366 §2
    23: _flag("extended_master_secret"),  # RFC 7627 §5.1
    35: _session_ticket,  # SessionTicket TLS, RFC 5077 §3.2
    41: _flag("psk"),  # pre_shared_key, RFC 8446 §4.2.11
    42: _flag("early_data"),  # early_data, RFC 8446 §4.2.10
    43: _versions_offered,  # supported_versions, RFC 8446 §4.2.1
    51: _flag("key_share"),  # key_share, RFC 8446 §4.2.8
}

_SERVER_EXTENSIONS: dict[int, Parser] = {
    16: _alpn,
    22: _flag("encrypt_then_mac"),
    23: _flag("extended_master_secret"),
    41: _flag("psk"),
    43: _version_selected,
}

_EE_EXTENSIONS: dict[int, Parser] = {
    16: _alpn,
    42: _flag("early_data"),
}


def _extensions(r: _Reader, table: dict[int, Parser]) -> _Fields:
    out = _Fields()
    if not r.left:  # RFC 5246 §7.4.1.2: extensions may be absent altogether
        return out
    exts = _Reader(r.vec(2))
    while exts.left:
        ext_type, body = exts.uint(2), exts.vec(2)
        parser = table.get(ext_type)
        if parser is not None:
            parser(body, out)
    return out


def _one_alpn(f: _Fields) -> str | None:
    # RFC 7301 §3.1: the server's ProtocolNameList holds exactly one name.
    if len(f.alpn) > 1:
        raise HandshakeError("server ALPN extension holds more than one protocol")
    return f.alpn[0] if f.alpn else None


def parse_client_hello(body: bytes) -> ClientHello:
    r = _Reader(body)
    legacy_version, random, session_id = r.uint(2), r.take(32), r.vec(1)
    suites = _u16_list(r.vec(2))
    r.vec(1)  # legacy_compression_methods
    f = _extensions(r, _CLIENT_EXTENSIONS)
    return ClientHello(legacy_version=legacy_version, random=random, session_id=session_id,
                       cipher_suites=suites, sni=f.sni, alpn=f.alpn,
                       supported_versions=f.supported_versions, key_share=f.key_share,
                       psk=f.psk, early_data=f.early_data, session_ticket=f.session_ticket,
                       encrypt_then_mac=f.encrypt_then_mac,
                       extended_master_secret=f.extended_master_secret)


def parse_server_hello(body: bytes) -> ServerHello:
    r = _Reader(body)
    legacy_version, random, session_id = r.uint(2), r.take(32), r.vec(1)
    suite = r.uint(2)
    r.uint(1)  # legacy_compression_method
    f = _extensions(r, _SERVER_EXTENSIONS)
    return ServerHello(legacy_version=legacy_version, random=random, session_id=session_id,
                       cipher_suite=suite, selected_version=f.selected_version,
                       alpn=_one_alpn(f), psk=f.psk, encrypt_then_mac=f.encrypt_then_mac,
                       extended_master_secret=f.extended_master_secret,
                       hello_retry_request=random == HRR_RANDOM)


def parse_encrypted_extensions(body: bytes) -> EncryptedExtensions:
    f = _extensions(_Reader(body), _EE_EXTENSIONS)
    return EncryptedExtensions(alpn=_one_alpn(f), early_data=f.early_data)


def parse_sslv2_client_hello(record: bytes) -> ClientHello:
    """RFC 5246 appendix E.2: ``msg_type(1) version(2) cipher_spec_length(2)
    session_id_length(2) challenge_length(2) cipher_specs session_id challenge`` after the
    2-byte SSLv2 record header. CipherSpecs are 3 bytes; those starting with 0 are TLS suites.
    The challenge, right-aligned in 32 zero bytes, is the ClientHello random."""
    r = _Reader(record)
    if r.uint(1) != CLIENT_HELLO:
        raise HandshakeError("SSLv2 record is not a ClientHello")
    version, spec_len, sid_len, chal_len = r.uint(2), r.uint(2), r.uint(2), r.uint(2)
    if spec_len % 3 or not 16 <= chal_len <= 32:
        raise HandshakeError("SSLv2 ClientHello has impossible lengths")
    specs = r.take(spec_len)
    session_id, challenge = r.take(sid_len), r.take(chal_len)
    suites = tuple(int.from_bytes(specs[i + 1 : i + 3], "big")
                   for i in range(0, spec_len, 3) if specs[i] == 0)
    return ClientHello(legacy_version=version, random=challenge.rjust(32, b"\0"),
                       session_id=session_id, cipher_suites=suites, sslv2=True)


@dataclass(slots=True)
class HandshakeBuffer:
    """Splits one direction's handshake bytes into messages (RFC 8446 §5.1: messages may be
    coalesced into one record or fragmented across several).

    Yields ``(msg_type, body)`` for wanted messages and ``(msg_type, None)`` for the others,
    whose bodies stream past without being kept; a wanted message larger than
    :data:`MAX_WANTED_MESSAGE` is yielded as ``(msg_type, None)`` too and counted by the caller.
    """

    _buf: bytearray = field(default_factory=bytearray)
    _skip: int = 0
    """Bytes of the current unwanted message still to pass."""
    oversize: int = 0
    """Wanted messages skipped because they were too large."""

    def reset(self) -> None:
        """Forget a partial message (its bytes were lost with an undecryptable record)."""
        self._buf.clear()
        self._skip = 0

    @property
    def pending(self) -> bool:
        return bool(self._buf) or self._skip > 0

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes | None]]:
        view = memoryview(data)
        while view:
            if self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                continue
            need = 4 - len(self._buf) if len(self._buf) < 4 else 0
            if need:
                self._buf += view[:need]
                view = view[need:]
                if len(self._buf) < 4:
                    return
            msg_type = self._buf[0]
            length = int.from_bytes(self._buf[1:4], "big")
            if msg_type not in WANTED or length > MAX_WANTED_MESSAGE:
                if msg_type in WANTED:
                    self.oversize += 1
                self._buf.clear()
                self._skip = length
                yield msg_type, None
                continue
            have = len(self._buf) - 4
            take = min(length - have, len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) - 4 == length:
                body = bytes(self._buf[4:])
                self._buf.clear()
                yield msg_type, body


# --------------------------------------------------------------------------- session vocabulary
# The events a TlsSession emits and its summary, kept here so that tls.py holds only the machine.

_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
             0x0304: "TLS 1.3"}
_ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
           22: "record_overflow", 40: "handshake_failure", 42: "bad_certificate",
           46: "certificate_unknown", 48: "unknown_ca", 50: "decode_error", 51: "decrypt_error",
           70: "protocol_version", 80: "internal_error", 86: "inappropriate_fallback",
           90: "user_canceled", 109: "missing_extension", 112: "unrecognized_name",
           116: "certificate_required", 120: "no_application_protocol"}


def version_name(version: int) -> str:
    """``TLS 1.2``; ``TLS 1.3 (draft 28)`` for 0x7fXX; ``GREASE`` (RFC 8701); else ``0x0305``."""
    if version in _VERSIONS:
        return _VERSIONS[version]
    if version >> 8 == 0x7F:
        return f"TLS 1.3 (draft {version & 0xFF})"
    return suite_name(version) if version & 0x0F0F == 0x0A0A else f"0x{version:04X}"


def is_tls13(version: int) -> bool:
    # Drafts from 20 on use the final "tls13 " labels (draft-ietf-tls-tls13-20 §7.1).
    return version == 0x0304 or 0x7F14 <= version <= 0x7FFF


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsClientHello:
    sni: str | None
    alpn_offered: tuple[str, ...]
    versions: tuple[str, ...]
    """supported_versions (RFC 8446 §4.2.1) without GREASE, else the legacy version."""
    cipher_suites: tuple[str, ...]
    """IANA names in the client's order, GREASE values left out."""
    ts_ns: int
    resumption: bool = False
    """A PSK, a session ticket or a session id was offered."""
    early_data: bool = False
    sslv2: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsServerHello:
    version: str
    cipher: str
    alpn: str | None
    """From the ServerHello (TLS ≤ 1.2) or EncryptedExtensions (1.3; None if undecrypted)."""
    ts_ns: int
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsAppData:
    from_client: bool
    data: bytes
    """One record's plaintext, in order."""
    ts_ns: int
    """Capture time of the packet that completed the record."""
    early: bool = False
    """TLS 1.3 0-RTT data (RFC 8446 §4.2.10)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsAlert:
    from_client: bool
    level: int
    """1 warning, 2 fatal (RFC 5246 §7.2)."""
    description: int
    ts_ns: int

    @property
    def name(self) -> str:
        return _ALERTS.get(self.description, f"alert_{self.description}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsUndecryptable:
    """Sent once per session, at the first record that could not be read."""

    reason: str
    ts_ns: int


TlsEvent = TlsClientHello | TlsServerHello | TlsAppData | TlsAlert | TlsUndecryptable
Status = Literal["decrypted", "partial", "no-keys", "not-tls", "unsupported-cipher", "corrupt"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts:
    client: int = 0
    server: int = 0

    @property
    def total(self) -> int:
        return self.client + self.server


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsInfo:
    sni: str | None = None
    alpn_offered: tuple[str, ...] = ()
    alpn: str | None = None
    version: str | None = None
    cipher: str | None = None
    """IANA name of the negotiated suite."""
    resumed: bool = False
    client_random: str | None = None
    """Hex; the key log's lookup key, not a secret."""
    records: Counts = field(default_factory=Counts)
    """Every record seen per direction, protected or not (an SSLv2 hello counts as one)."""
    decrypted: Counts = field(default_factory=Counts)
    """Records that decrypted to non-empty plaintext (tshark's "Decrypted TLS" count)."""
    failed: Counts = field(default_factory=Counts)
    """Protected records with keys that did not authenticate."""
    status: Status = "not-tls"
    reason: str = ""
