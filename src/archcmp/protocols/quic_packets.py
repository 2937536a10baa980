"""QUIC on the wire, without state: versions, keys, headers, protection and frames.

Everything here is a pure function of bytes (RFC 9000 packets and frames, RFC 9001 protection,
RFC 9369 QUIC v2); the per-connection state that chooses keys and expected packet numbers lives
in :mod:`archcmp.protocols.quic`.

**What is aioquic's and what is ours.** aioquic is an endpoint; archcmp watches both ends.

* From aioquic (imported lazily: ``archcmp --help`` must not load it):
  ``aioquic._crypto.AEAD`` / ``HeaderProtection`` (one object per key, reused for every packet;
  they wrap ``cryptography``'s OpenSSL AES-GCM, ChaCha20-Poly1305, AES-ECB and ChaCha20 — in
  aioquic 1.x this module is Python over ``cryptography``, no longer its own C),
  ``aioquic.quic.crypto.derive_key_iv_hp`` (the ``quic``/``quicv2`` key, iv, hp labels),
  ``aioquic.tls.hkdf_extract`` / ``hkdf_expand_label``,
  ``aioquic.quic.packet.decode_packet_number`` (RFC 9000 Appendix A.3) and
  ``get_retry_integrity_tag``, and ``aioquic.buffer.Buffer`` (C) for frame varints.
* Ours: header parsing, because ``pull_quic_header`` must be told the short-header DCID length
  (an observer learns it per connection) and maps unknown versions' type bits as v1; and key
  handling, because ``CryptoPair.setup_initial`` builds one endpoint's send/recv pair and
  ``CryptoContext.decrypt_packet`` re-derives the next key phase on every phase-bit flip and keeps
  no older generation. An observer needs both directions, several generations kept for packets
  reordered across a key update, and candidate cipher suites tried before the ServerHello is seen.

Malformed input raises :class:`MalformedPacket` (a ``ValueError``), which the tracker counts;
``aioquic``'s ``CryptoError`` and ``BufferReadError`` are ``ValueError`` subclasses translated
here and never leave the QUIC modules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aioquic._crypto import AEAD, HeaderProtection
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

__all__ = [
    "SUPPORTED_VERSIONS",
    "VERSION_1",
    "VERSION_2",
    "CryptoFrame",
    "DatagramFrame",
    "Frame",
    "MalformedPacket",
    "PacketHeader",
    "PacketKeys",
    "PacketType",
    "StreamFrame",
]

# https://www.rfc-editor.org/rfc/rfc9000#section-15 and RFC 9369 §3.1
VERSION_NEGOTIATION = 0x00000000
VERSION_1 = 0x00000001
VERSION_2 = 0x6B3343CF
DRAFT_29 = 0xFF00001D
"""Still offered by 2023 clients (ALPN ``h3-29``); v1's layout and labels, its own salt."""

# Initial salts: RFC 9001 §5.2, RFC 9369 §3.3.1, draft-ietf-quic-tls-29 §5.2.
_INITIAL_SALTS = {
    VERSION_1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    VERSION_2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
    DRAFT_29: bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"),
}
SUPPORTED_VERSIONS = frozenset(_INITIAL_SALTS)

AES_128_GCM_SHA256 = 0x1301
AES_256_GCM_SHA384 = 0x1302
CHACHA20_POLY1305_SHA256 = 0x1303
CIPHER_SUITES = (AES_128_GCM_SHA256, AES_256_GCM_SHA384, CHACHA20_POLY1305_SHA256)

SAMPLE_LENGTH = 16  # RFC 9001 §5.4.2
AEAD_TAG_LENGTH = 16  # RFC 9001 §5.3: all QUIC v1/v2 AEADs have 16-byte tags
MAX_CID_LENGTH = 20  # RFC 9000 §17.2


class MalformedPacket(ValueError):
    """The bytes are not a well-formed QUIC packet or frame sequence (counted, never fatal)."""


class PacketType(enum.Enum):
    INITIAL = "initial"
    ZERO_RTT = "0rtt"
    HANDSHAKE = "handshake"
    RETRY = "retry"
    VERSION_NEGOTIATION = "version_negotiation"
    ONE_RTT = "1rtt"


# Long header type bits (first byte & 0x30) >> 4.
# https://www.rfc-editor.org/rfc/rfc9000#section-17.2 (Table 5)
_LONG_TYPES_V1 = (PacketType.INITIAL, PacketType.ZERO_RTT, PacketType.HANDSHAKE, PacketType.RETRY)
# https://www.rfc-editor.org/rfc/rfc9369#section-3.2: the type bits are rotated in v2.
_LONG_TYPES_V2 = (PacketType.RETRY, PacketType.INITIAL, PacketType.ZERO_RTT, PacketType.HANDSHAKE)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """RFC 9000 §16 variable-length integer at ``pos``: (value, next position)."""
    if pos >= len(data):
        raise MalformedPacket("varint past the end")
    length = 1 << (data[pos] >> 6)
    end = pos + length
    if end > len(data):
        raise MalformedPacket("varint past the end")
    value = int.from_bytes(data[pos:end], "big") & ((1 << (8 * length - 2)) - 1)
    return value, end


@dataclass(frozen=True, slots=True)
class PacketHeader:
    """One packet's header as read before protection is removed; offsets are into the datagram."""

    packet_type: PacketType
    version: int | None
    """None for short-header (1-RTT) packets."""
    dcid: bytes
    scid: bytes
    start: int
    pn_offset: int
    """Where the (protected) packet number starts."""
    end: int
    """One past the packet's last byte: the next coalesced packet starts here."""
    token: bytes = b""
    """Initial token, or the Retry token."""
    integrity_tag: bytes = b""
    """Retry integrity tag (RFC 9001 §5.8)."""
    supported_versions: tuple[int, ...] = ()
    """Version Negotiation packets only."""


def is_long_header(first_byte: int) -> bool:
    return bool(first_byte & 0x80)


def parse_long_header(data: bytes, pos: int) -> PacketHeader:
    """Long header at ``data[pos:]`` (RFC 9000 §17.2; v2 type bits per RFC 9369 §3.2)."""
    if pos + 7 > len(data):
        raise MalformedPacket("long header truncated")
    first = data[pos]
    version = int.from_bytes(data[pos + 1 : pos + 5], "big")
    p = pos + 5
    dcid_len = data[p]
    dcid = data[p + 1 : p + 1 + dcid_len]
    p += 1 + dcid_len
    if p >= len(data) or len(dcid) != dcid_len:
        raise MalformedPacket("long header DCID truncated")
    scid_len = data[p]
    scid = data[p + 1 : p + 1 + scid_len]
    p += 1 + scid_len
    if len(scid) != scid_len or p > len(data):
        raise MalformedPacket("long header SCID truncated")
    if version == VERSION_NEGOTIATION:
        # https://www.rfc-editor.org/rfc/rfc9000#section-17.2.1: the rest is a version list.
        body = data[p:]
        versions = tuple(int.from_bytes(body[i : i + 4], "big") for i in range(0, len(body) - 3, 4))
        return PacketHeader(packet_type=PacketType.VERSION_NEGOTIATION, version=version,
                            dcid=dcid, scid=scid, start=pos, pn_offset=len(data), end=len(data),
                            supported_versions=versions)
    if dcid_len > MAX_CID_LENGTH or scid_len > MAX_CID_LENGTH:
        # Only v1/v2-style versions limit CIDs to 20 bytes (RFC 8999 allows 255).
        raise MalformedPacket("connection ID longer than 20 bytes")
    if not first & 0x40:
        raise MalformedPacket("fixed bit is zero")
    types = _LONG_TYPES_V2 if version == VERSION_2 else _LONG_TYPES_V1
    packet_type = types[(first & 0x30) >> 4]
    token = b""
    if packet_type is PacketType.RETRY:
        # https://www.rfc-editor.org/rfc/rfc9000#section-17.2.5: token, then a 16-byte tag.
        if len(data) - p < 16:
            raise MalformedPacket("Retry shorter than its integrity tag")
        return PacketHeader(packet_type=packet_type, version=version, dcid=dcid, scid=scid,
                            start=pos, pn_offset=len(data), end=len(data),
                            token=data[p:-16], integrity_tag=data[-16:])
    if packet_type is PacketType.INITIAL:
        token_len, p = _varint(data, p)
        token = data[p : p + token_len]
        p += token_len
    length, p = _varint(data, p)
    end = p + length
    if end > len(data) or length < 1:
        raise MalformedPacket("long header length past the datagram")
    return PacketHeader(packet_type=packet_type, version=version, dcid=dcid, scid=scid,
                        start=pos, pn_offset=p, end=end, token=token)


def short_header(data: bytes, pos: int, dcid_len: int) -> PacketHeader:
    """Short header (RFC 9000 §17.3.1): the DCID length is known only to the connection."""
    if not data[pos] & 0x40:
        raise MalformedPacket("fixed bit is zero")
    return PacketHeader(packet_type=PacketType.ONE_RTT, version=None,
                        dcid=data[pos + 1 : pos + 1 + dcid_len], scid=b"", start=pos,
                        pn_offset=pos + 1 + dcid_len, end=len(data))


# ---------------------------------------------------------------------------------------------
# Keys (RFC 9001 §5)


@dataclass(slots=True)
class PacketKeys:
    """One direction's packet protection for one key generation."""

    aead: AEAD
    hp: HeaderProtection
    secret: bytes
    cipher_suite: int
    version: int


def _hash(cipher_suite: int) -> HashAlgorithm:
    from aioquic.tls import CipherSuite, cipher_suite_hash

    return cipher_suite_hash(CipherSuite(cipher_suite))


def keys_from_secret(secret: bytes, cipher_suite: int, version: int) -> PacketKeys:
    """Packet protection keys from a TLS traffic secret (RFC 9001 §5.1; labels per version)."""
    from aioquic._crypto import AEAD, HeaderProtection
    from aioquic.quic.crypto import CIPHER_SUITES as AIOQUIC_SUITES
    from aioquic.quic.crypto import derive_key_iv_hp
    from aioquic.tls import CipherSuite

    suite = CipherSuite(cipher_suite)
    hp_name, aead_name = AIOQUIC_SUITES[suite]
    # aioquic picks the "quicv2 …" labels for VERSION_2 and "quic …" for anything else.
    key, iv, hp = derive_key_iv_hp(cipher_suite=suite, secret=secret, version=version)
    return PacketKeys(aead=AEAD(aead_name, key, iv), hp=HeaderProtection(hp_name, hp),
                      secret=secret, cipher_suite=cipher_suite, version=version)


def initial_secrets(dcid: bytes, version: int) -> tuple[bytes, bytes]:
    """(client, server) Initial secrets from the client's first DCID (RFC 9001 §5.2)."""
    from aioquic.tls import hkdf_expand_label, hkdf_extract

    algorithm = _hash(AES_128_GCM_SHA256)
    initial = hkdf_extract(algorithm, _INITIAL_SALTS[version], dcid)
    return (
        hkdf_expand_label(algorithm, initial, b"client in", b"", 32),
        hkdf_expand_label(algorithm, initial, b"server in", b"", 32),
    )


def initial_keys(dcid: bytes, version: int) -> tuple[PacketKeys, PacketKeys]:
    """(client, server) Initial packet keys: always AES-128-GCM (RFC 9001 §5.2)."""
    client, server = initial_secrets(dcid, version)
    return (keys_from_secret(client, AES_128_GCM_SHA256, version),
            keys_from_secret(server, AES_128_GCM_SHA256, version))


def next_generation(keys: PacketKeys) -> PacketKeys:
    """The next 1-RTT key generation (RFC 9001 §6.1; RFC 9369 §3.3.2 label "quicv2 ku").

    The header protection key is *not* updated, so the new generation keeps ``keys.hp``.
    """
    from aioquic._crypto import AEAD
    from aioquic.quic.crypto import CIPHER_SUITES as AIOQUIC_SUITES
    from aioquic.quic.crypto import derive_key_iv_hp
    from aioquic.tls import CipherSuite, hkdf_expand_label

    algorithm = _hash(keys.cipher_suite)
    label = b"quicv2 ku" if keys.version == VERSION_2 else b"quic ku"
    secret = hkdf_expand_label(algorithm, keys.secret, label, b"", len(keys.secret))
    suite = CipherSuite(keys.cipher_suite)
    key, iv, _hp = derive_key_iv_hp(cipher_suite=suite, secret=secret, version=keys.version)
    return PacketKeys(aead=AEAD(AIOQUIC_SUITES[suite][1], key, iv), hp=keys.hp, secret=secret,
                      cipher_suite=keys.cipher_suite, version=keys.version)


def candidate_suites(secret: bytes) -> tuple[int, ...]:
    """Cipher suites a secret of this length can belong to (SHA-384 → 48 bytes)."""
    if len(secret) == 48:
        return (AES_256_GCM_SHA384,)
    return (AES_128_GCM_SHA256, CHACHA20_POLY1305_SHA256)


def retry_integrity_ok(data: bytes, header: PacketHeader, odcid: bytes) -> bool:
    """Check a Retry's tag against the client's original DCID (RFC 9001 §5.8, RFC 9369 §3.3.3)."""
    from aioquic.quic.packet import get_retry_integrity_tag

    if header.version not in (VERSION_1, VERSION_2):
        return True  # drafts used other keys; nothing to check them against
    tag: bytes = get_retry_integrity_tag(data[header.start : header.end - 16], odcid,
                                         version=header.version)
    return tag == header.integrity_tag


# ---------------------------------------------------------------------------------------------
# Protection (RFC 9001 §5.3, §5.4)


@dataclass(frozen=True, slots=True)
class Unprotected:
    first_byte: int
    """After header protection removal: key phase (0x04) and PN length (0x03) are readable."""
    packet_number: int
    """Full packet number (RFC 9000 Appendix A.3)."""
    payload: bytes


def remove_header_protection(keys: PacketKeys, packet: bytes,
                             pn_offset: int) -> tuple[bytes, int]:
    """(plain header up to the end of the packet number, truncated packet number).

    ``packet`` is this packet only (one coalesced packet), ``pn_offset`` relative to it.
    """
    from aioquic._crypto import CryptoError

    try:
        header, truncated = keys.hp.remove(packet, pn_offset)
    except CryptoError as exc:
        raise MalformedPacket("packet too short for the header protection sample") from exc
    return header, truncated


def expand_packet_number(truncated: int, pn_length: int, largest: int) -> int:
    """RFC 9000 Appendix A.3 (aioquic's implementation), ``largest`` = -1 before any packet."""
    from aioquic.quic.packet import decode_packet_number

    result: int = decode_packet_number(truncated, pn_length * 8, largest + 1)
    return result


def decrypt_payload(aead: AEAD, packet: bytes, header: bytes, packet_number: int) -> bytes | None:
    """AEAD-open the payload (RFC 9001 §5.3); None when authentication fails."""
    from aioquic._crypto import CryptoError

    if len(packet) - len(header) < AEAD_TAG_LENGTH:
        return None
    try:
        plain: bytes = aead.decrypt(packet[len(header) :], header, packet_number)
    except CryptoError:
        return None
    return plain


# ---------------------------------------------------------------------------------------------
# Frames (RFC 9000 §19, RFC 9221 DATAGRAM, draft-ietf-quic-ack-frequency)


@dataclass(frozen=True, slots=True)
class CryptoFrame:
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamFrame:
    stream_id: int
    offset: int
    data: bytes
    fin: bool


@dataclass(frozen=True, slots=True)
class ResetStreamFrame:
    stream_id: int
    error_code: int
    final_size: int
    stop_sending: bool = False
    """True for STOP_SENDING (the receiver asks the sender to stop; no final size)."""


@dataclass(frozen=True, slots=True)
class NewConnectionIdFrame:
    sequence: int
    retire_prior_to: int
    connection_id: bytes


@dataclass(frozen=True, slots=True)
class ConnectionCloseFrame:
    error_code: int
    frame_type: int | None
    """The frame that triggered a transport close (0x1c); None for an application close (0x1d)."""
    reason: str


@dataclass(frozen=True, slots=True)
class DatagramFrame:
    data: bytes


@dataclass(frozen=True, slots=True)
class OtherFrame:
    """A frame the tracker only counts (PING, ACK, MAX_*, PATH_*, HANDSHAKE_DONE, …)."""

    frame_type: int


Frame = (CryptoFrame | StreamFrame | ResetStreamFrame | NewConnectionIdFrame
         | ConnectionCloseFrame | DatagramFrame | OtherFrame)

FRAME_NAMES: dict[int, str] = {
    0x00: "PADDING", 0x01: "PING", 0x02: "ACK", 0x03: "ACK_ECN", 0x04: "RESET_STREAM",
    0x05: "STOP_SENDING", 0x06: "CRYPTO", 0x07: "NEW_TOKEN",
    **{t: "STREAM" for t in range(0x08, 0x10)},
    0x10: "MAX_DATA", 0x11: "MAX_STREAM_DATA", 0x12: "MAX_STREAMS_BIDI", 0x13: "MAX_STREAMS_UNI",
    0x14: "DATA_BLOCKED", 0x15: "STREAM_DATA_BLOCKED", 0x16: "STREAMS_BLOCKED_BIDI",
    0x17: "STREAMS_BLOCKED_UNI", 0x18: "NEW_CONNECTION_ID", 0x19: "RETIRE_CONNECTION_ID",
    0x1A: "PATH_CHALLENGE", 0x1B: "PATH_RESPONSE", 0x1C: "CONNECTION_CLOSE",
    0x1D: "CONNECTION_CLOSE_APP", 0x1E: "HANDSHAKE_DONE", 0x1F: "IMMEDIATE_ACK",
    0x30: "DATAGRAM", 0x31: "DATAGRAM", 0xAF: "ACK_FREQUENCY",
}
HANDSHAKE_DONE = 0x1E

# Frames made only of varints after the type, by how many varints (RFC 9000 §19.x).
_VARINT_FRAMES = {
    0x10: 1, 0x11: 2, 0x12: 1, 0x13: 1, 0x14: 1, 0x15: 2, 0x16: 1, 0x17: 1, 0x19: 1,
    0xAF: 4,  # ACK_FREQUENCY: sequence, threshold, max ack delay, reordering threshold
}
_NOT_ZERO = re.compile(rb"[^\x00]")


@dataclass(frozen=True, slots=True)
class ParsedFrames:
    frames: list[Frame]
    counts: dict[str, int]
    unknown_type: int | None = None
    """The first unknown frame type; parsing of the packet stopped there."""
    malformed: bool = False
    """A frame ran past the payload; frames before it are kept."""


def parse_frames(payload: bytes) -> ParsedFrames:
    """The frames of one decrypted packet payload (RFC 9000 §12.4, §19).

    Unknown frame types cannot be skipped (their length is unknown), so parsing stops there.
    """
    from aioquic._buffer import Buffer, BufferReadError

    frames: list[Frame] = []
    counts: dict[str, int] = {}
    buf = Buffer(data=payload)
    end = len(payload)
    try:
        while buf.tell() < end:
            pos = buf.tell()
            if payload[pos] == 0:
                # https://www.rfc-editor.org/rfc/rfc9000#section-19.1: runs of PADDING.
                found = _NOT_ZERO.search(payload, pos)
                buf.seek(found.start() if found else end)
                counts["PADDING"] = counts.get("PADDING", 0) + 1
                continue
            ftype = buf.pull_uint_var()
            name = FRAME_NAMES.get(ftype)
            if name is None:
                return ParsedFrames(frames, counts, unknown_type=ftype)
            counts[name] = counts.get(name, 0) + 1
            if 0x08 <= ftype <= 0x0F:
                # https://www.rfc-editor.org/rfc/rfc9000#section-19.8: OFF 0x04, LEN 0x02, FIN 0x01
                stream_id = buf.pull_uint_var()
                offset = buf.pull_uint_var() if ftype & 0x04 else 0
                length = buf.pull_uint_var() if ftype & 0x02 else end - buf.tell()
                frames.append(StreamFrame(stream_id, offset, buf.pull_bytes(length),
                                          bool(ftype & 0x01)))
            elif ftype == 0x06:  # §19.6 CRYPTO
                offset = buf.pull_uint_var()
                frames.append(CryptoFrame(offset, buf.pull_bytes(buf.pull_uint_var())))
            elif ftype in (0x02, 0x03):  # §19.3 ACK: largest, delay, count, first range, ranges
                buf.pull_uint_var()
                buf.pull_uint_var()
                ranges = buf.pull_uint_var()
                for _ in range(2 * ranges + 1 + (3 if ftype == 0x03 else 0)):
                    buf.pull_uint_var()
                frames.append(OtherFrame(ftype))
            elif ftype == 0x04:  # §19.4 RESET_STREAM
                frames.append(ResetStreamFrame(buf.pull_uint_var(), buf.pull_uint_var(),
                                               buf.pull_uint_var()))
            elif ftype == 0x05:  # §19.5 STOP_SENDING
                frames.append(ResetStreamFrame(buf.pull_uint_var(), buf.pull_uint_var(), 0,
                                               stop_sending=True))
            elif ftype == 0x07:  # §19.7 NEW_TOKEN
                buf.pull_bytes(buf.pull_uint_var())
                frames.append(OtherFrame(ftype))
            elif ftype == 0x18:  # §19.15 NEW_CONNECTION_ID
                seq = buf.pull_uint_var()
                retire = buf.pull_uint_var()
                cid = buf.pull_bytes(buf.pull_uint8())
                buf.pull_bytes(16)  # stateless reset token
                frames.append(NewConnectionIdFrame(seq, retire, cid))
            elif ftype in (0x1A, 0x1B):  # §19.17, §19.18 PATH_CHALLENGE / PATH_RESPONSE
                buf.pull_bytes(8)
                frames.append(OtherFrame(ftype))
            elif ftype in (0x1C, 0x1D):  # §19.19 CONNECTION_CLOSE (transport / application)
                code = buf.pull_uint_var()
                trigger = buf.pull_uint_var() if ftype == 0x1C else None
                reason = buf.pull_bytes(buf.pull_uint_var()).decode("utf-8", "replace")
                frames.append(ConnectionCloseFrame(code, trigger, reason))
            elif ftype in (0x30, 0x31):  # RFC 9221 §4 DATAGRAM (0x31 carries a length)
                length = buf.pull_uint_var() if ftype == 0x31 else end - buf.tell()
                frames.append(DatagramFrame(buf.pull_bytes(length)))
            else:  # PING, HANDSHAKE_DONE, IMMEDIATE_ACK and the all-varint frames
                for _ in range(_VARINT_FRAMES.get(ftype, 0)):
                    buf.pull_uint_var()
                frames.append(OtherFrame(ftype))
    except BufferReadError:
        return ParsedFrames(frames, counts, malformed=True)
    return ParsedFrames(frames, counts)
