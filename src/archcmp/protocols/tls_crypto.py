"""TLS record protection: the cipher-suite table, key derivation and record decryption.

Everything here is pure computation on bytes; :mod:`archcmp.protocols.tls` decides which keys
apply to which record. Hashing (PRF, HKDF, HMAC) uses the standard library, whose one-shot
``hmac.digest`` runs in C; the ciphers come from ``cryptography``. A record that does not
authenticate raises :class:`RecordError` (``cryptography.exceptions.InvalidTag`` never leaves this
module), which the session turns into a counted warning.

Specifications, cited again at the lines that follow them:

* RFC 2246 §5 / RFC 4346 §5: the TLS 1.0/1.1 PRF, ``P_MD5 ⊕ P_SHA-1``.
* RFC 5246 §5 (PRF), §6.3 (key block), §6.2.3.2 (CBC records), §6.2.3.3 (AEAD records).
* RFC 5288 (AES-GCM), RFC 6655 and RFC 7251 (AES-CCM, CCM_8), RFC 7905 (ChaCha20-Poly1305),
  RFC 7366 (encrypt-then-MAC).
* RFC 8446 §5.2–5.3 (TLS 1.3 records and nonces), §7.1 (HKDF-Expand-Label), §7.2 (key update),
  §7.3 (traffic keys).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

__all__ = [
    "CIPHER_SUITES",
    "GAP_SEQ_WINDOW",
    "CipherSuite",
    "Epoch",
    "KeyEpochs",
    "MissingKeys",
    "Protection",
    "RecordError",
    "Tls12Aead",
    "Tls12Cbc",
    "Tls13Aead",
    "hkdf_expand_label",
    "prf",
    "suite_name",
    "tls12_protections",
]

Bulk = Literal["AES-GCM", "AES-CCM", "CHACHA20-POLY1305", "AES-CBC"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CipherSuite:
    """One row of the IANA TLS Cipher Suites registry, as far as decryption needs it."""

    code: int
    """The two-byte IANA value (``0x1301``)."""
    name: str
    """The IANA name (``TLS_AES_128_GCM_SHA256``)."""
    bulk: Bulk | None
    """The record cipher; None for suites archcmp cannot decrypt (RC4, 3DES, NULL, …)."""
    key_len: int = 0
    fixed_iv_len: int = 0
    """Implicit IV bytes from the key schedule: 4 for TLS 1.2 GCM/CCM (RFC 5288 §3), 12 for
    ChaCha20 and TLS 1.3, the block size for CBC (used as the IV by TLS 1.0 only)."""
    mac: str | None = None
    """HMAC hash of CBC suites (``sha1``, ``sha256``, ``sha384``)."""
    prf: str = "sha256"
    """PRF hash for TLS 1.2 (RFC 5246 §5: SHA-256 unless the suite names another) and the HKDF
    hash for TLS 1.3."""
    tag_len: int = 16
    """AEAD tag length: 16, or 8 for the ``_CCM_8`` suites (RFC 6655 §3)."""
    tls13: bool = False


def _rows() -> tuple[CipherSuite, ...]:
    def gcm(code: int, name: str, key: int, prf: str) -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk="AES-GCM", key_len=key, fixed_iv_len=4,
                           prf=prf)

    def ccm(code: int, name: str, key: int, tag: int) -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk="AES-CCM", key_len=key, fixed_iv_len=4,
                           tag_len=tag)

    def chacha(code: int, name: str) -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk="CHACHA20-POLY1305", key_len=32,
                           fixed_iv_len=12)

    def cbc(code: int, name: str, key: int, mac: str, prf: str = "sha256") -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk="AES-CBC", key_len=key, fixed_iv_len=16,
                           mac=mac, prf=prf)

    def t13(code: int, name: str, bulk: Bulk, key: int, prf: str, tag: int = 16) -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk=bulk, key_len=key, fixed_iv_len=12, prf=prf,
                           tag_len=tag, tls13=True)

    def no(code: int, name: str) -> CipherSuite:
        return CipherSuite(code=code, name=name, bulk=None)

    return (
        # RFC 8446 §B.4
        t13(0x1301, "TLS_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256"),
        t13(0x1302, "TLS_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384"),
        t13(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, "sha256"),
        t13(0x1304, "TLS_AES_128_CCM_SHA256", "AES-CCM", 16, "sha256"),
        t13(0x1305, "TLS_AES_128_CCM_8_SHA256", "AES-CCM", 16, "sha256", 8),
        # RFC 5288, RFC 5289, RFC 5487 (AES-GCM); suites not listed are named 0xABCD
        gcm(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", 16, "sha256"),
        gcm(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", 32, "sha384"),
        gcm(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 16, "sha256"),
        gcm(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 32, "sha384"),
        gcm(0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", 16, "sha256"),
        gcm(0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384", 32, "sha384"),
        gcm(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 16, "sha256"),
        gcm(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 32, "sha384"),
        gcm(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 16, "sha256"),
        gcm(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 32, "sha384"),
        # RFC 7905 (ChaCha20-Poly1305)
        chacha(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        chacha(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
        chacha(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        chacha(0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
        chacha(0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
        # RFC 6655, RFC 7251 (AES-CCM and CCM_8)
        ccm(0xC09C, "TLS_RSA_WITH_AES_128_CCM", 16, 16),
        ccm(0xC09D, "TLS_RSA_WITH_AES_256_CCM", 32, 16),
        ccm(0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", 16, 16),
        ccm(0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", 32, 16),
        ccm(0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", 16, 8),
        ccm(0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", 32, 8),
        ccm(0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", 16, 8),
        ccm(0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", 32, 8),
        ccm(0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", 16, 16),
        ccm(0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", 32, 16),
        ccm(0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", 16, 8),
        ccm(0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", 32, 8),
        # RFC 5246 App. C, RFC 4492, RFC 5289, RFC 4279, RFC 5489 (AES-CBC with HMAC)
        cbc(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        cbc(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        cbc(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        cbc(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", 32, "sha256"),
        cbc(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        cbc(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 32, "sha256"),
        cbc(0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA", 32, "sha1"),
        cbc(0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        cbc(0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384", 32, "sha384", "sha384"),
        cbc(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        cbc(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 32, "sha1"),
        cbc(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        cbc(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 32, "sha384", "sha384"),
        cbc(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 16, "sha256"),
        cbc(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 32, "sha384", "sha384"),
        cbc(0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", 16, "sha1"),
        cbc(0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", 32, "sha1"),
        # Named so that reports can say what was negotiated, but not decrypted (counted as
        # ``tls.session.unsupported_cipher``): stream ciphers, 3DES, NULL encryption.
        no(0x0000, "TLS_NULL_WITH_NULL_NULL"),
        no(0x0001, "TLS_RSA_WITH_NULL_MD5"),
        no(0x0002, "TLS_RSA_WITH_NULL_SHA"),
        no(0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
        no(0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
        no(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        no(0x003B, "TLS_RSA_WITH_NULL_SHA256"),
        no(0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
        no(0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
        no(0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
        no(0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
        no(0x5600, "TLS_FALLBACK_SCSV"),
    )


#: IANA code → suite. Codes not listed are reported as ``0xABCD`` and are not decrypted.
CIPHER_SUITES: dict[int, CipherSuite] = {s.code: s for s in _rows()}

_HASH_LEN = {"sha1": 20, "sha256": 32, "sha384": 48, "md5": 16}


def suite_name(code: int) -> str:
    """The IANA name of ``code``, ``GREASE`` for RFC 8701 values, else ``0xABCD``."""
    suite = CIPHER_SUITES.get(code)
    if suite is not None:
        return suite.name
    # RFC 8701 §2: GREASE values are 0x?A?A with both bytes equal.
    if code & 0x0F0F == 0x0A0A and code >> 8 == code & 0xFF:
        return "GREASE"
    return f"0x{code:04X}"


class RecordError(Exception):
    """A protected record did not decrypt; ``code`` is the last part of a warning code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        """``bad_tag`` (AEAD), ``bad_mac`` (CBC MAC or padding) or ``bad_length``."""


# --------------------------------------------------------------------------- key derivation


def _p_hash(name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    # RFC 5246 §5: P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) …,
    # A(0) = seed, A(i) = HMAC(secret, A(i-1)).
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, name)
        out += hmac.digest(secret, a + seed, name)
    return bytes(out[:length])


def prf(hash_name: str | None, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS PRF: ``P_<hash>`` for TLS 1.2 (RFC 5246 §5), or with ``hash_name=None`` the
    TLS 1.0/1.1 PRF, ``P_MD5(S1) ⊕ P_SHA-1(S2)`` over the two halves of the secret (RFC 2246 §5,
    RFC 4346 §5), the halves overlapping by one byte when the length is odd."""
    if hash_name is not None:
        return _p_hash(hash_name, secret, label + seed, length)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, length)
    sha1 = _p_hash("sha1", secret[len(secret) - half :], label + seed, length)
    return (int.from_bytes(md5, "big") ^ int.from_bytes(sha1, "big")).to_bytes(length, "big")


def hkdf_expand_label(hash_name: str, secret: bytes, label: bytes, context: bytes,
                      length: int) -> bytes:
    """RFC 8446 §7.1: HKDF-Expand(secret, HkdfLabel, length) with ``HkdfLabel = uint16 length
    || opaque label<7..255> = "tls13 " + label || opaque context<0..255>``."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes((len(full),)) + full + bytes((len(context),)) + context
    # RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) | info | i).
    out = bytearray()
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes((counter,)), hash_name)
        out += block
        counter += 1
    return bytes(out[:length])


# --------------------------------------------------------------------------- record protection


class Protection(Protocol):
    """Decrypts the records of one direction under one set of keys."""

    def open(self, header: bytes, fragment: bytes | memoryview,
             seqs: Sequence[int]) -> tuple[int, bytes]:
        """Decrypt one record (``header`` is its 5 bytes as sent), trying each sequence number
        of ``seqs`` in turn; return the one that authenticated and the plaintext. For TLS 1.3
        the plaintext is ``TLSInnerPlaintext`` (content, type, zero padding). Raises
        :class:`RecordError`."""
        ...


def _aead(suite: CipherSuite, key: bytes) -> AESGCM | AESCCM | ChaCha20Poly1305:
    if suite.bulk == "AES-GCM":
        return AESGCM(key)
    if suite.bulk == "CHACHA20-POLY1305":
        return ChaCha20Poly1305(key)
    if suite.bulk == "AES-CCM":
        return AESCCM(key, tag_length=suite.tag_len)
    raise ValueError(f"{suite.name} is not an AEAD suite")


class Tls13Aead:
    """TLS 1.3 record protection from one traffic secret (RFC 8446 §5.2, §7.3)."""

    __slots__ = ("_aead", "_iv", "_tag", "secret", "suite")

    def __init__(self, suite: CipherSuite, secret: bytes) -> None:
        self.suite = suite
        self.secret = secret
        # RFC 8446 §7.3: [sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length),
        # [sender]_write_iv = HKDF-Expand-Label(Secret, "iv", "", iv_length).
        key = hkdf_expand_label(suite.prf, secret, b"key", b"", suite.key_len)
        self._iv = int.from_bytes(hkdf_expand_label(suite.prf, secret, b"iv", b"", 12), "big")
        self._aead = _aead(suite, key)
        self._tag = suite.tag_len

    def next_generation(self) -> Tls13Aead:
        """RFC 8446 §7.2: application_traffic_secret_N+1 =
        HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)."""
        nxt = hkdf_expand_label(self.suite.prf, self.secret, b"traffic upd", b"",
                                _HASH_LEN[self.suite.prf])
        return Tls13Aead(self.suite, nxt)

    def open(self, header: bytes, fragment: bytes | memoryview,
             seqs: Sequence[int]) -> tuple[int, bytes]:
        if len(fragment) < self._tag + 1:
            raise RecordError("bad_length", "record shorter than its authentication tag")
        for seq in seqs:
            # RFC 8446 §5.3: nonce = client/server_write_iv XOR the 64-bit sequence number
            # left-padded with zeros; §5.2: additional_data = the record header.
            nonce = (self._iv ^ seq).to_bytes(12, "big")
            try:
                return seq, self._aead.decrypt(nonce, fragment, header)
            except InvalidTag:
                continue
        raise RecordError("bad_tag", "record failed AEAD authentication")


class Tls12Aead:
    """TLS 1.2 AEAD records: AES-GCM and AES-CCM with an 8-byte explicit nonce (RFC 5288 §3,
    RFC 6655 §3), ChaCha20-Poly1305 with an implicit one (RFC 7905 §2)."""

    __slots__ = ("_aead", "_explicit", "_iv", "_salt", "_tag")

    def __init__(self, suite: CipherSuite, key: bytes, iv: bytes) -> None:
        self._aead = _aead(suite, key)
        self._tag = suite.tag_len
        self._explicit = suite.bulk != "CHACHA20-POLY1305"
        self._salt = iv
        self._iv = int.from_bytes(iv, "big")

    def explicit_seq(self, fragment: bytes | memoryview) -> int | None:
        """The explicit nonce, which most stacks (OpenSSL, NSS, BoringSSL) set to the sequence
        number: a first guess after a TCP gap."""
        if not self._explicit or len(fragment) < 8:
            return None
        return int.from_bytes(fragment[:8], "big")

    def open(self, header: bytes, fragment: bytes | memoryview,
             seqs: Sequence[int]) -> tuple[int, bytes]:
        view = memoryview(fragment)
        if self._explicit:
            # GCMNonce = salt (client/server_write_IV, 4 bytes) || nonce_explicit (8 bytes).
            nonce = self._salt + bytes(view[:8])
            body = view[8:]
        else:
            body = view
        plain_len = len(body) - self._tag
        if plain_len < 0:
            raise RecordError("bad_length", "record shorter than its nonce and tag")
        # RFC 5246 §6.2.3.3: additional_data = seq_num + type + version + length (of plaintext).
        tail = header[:3] + plain_len.to_bytes(2, "big")
        for seq in seqs:
            if not self._explicit:
                # RFC 7905 §2: nonce = client/server_write_IV XOR the padded sequence number.
                nonce = (self._iv ^ seq).to_bytes(12, "big")
            try:
                return seq, self._aead.decrypt(nonce, body, seq.to_bytes(8, "big") + tail)
            except InvalidTag:
                continue
        raise RecordError("bad_tag", "record failed AEAD authentication")


class Tls12Cbc:
    """AES-CBC records with HMAC, MAC-then-encrypt (RFC 5246 §6.2.3.2) or encrypt-then-MAC
    (RFC 7366 §3), with an explicit per-record IV (TLS 1.1+) or the chained IV of TLS 1.0.

    One decryptor per direction runs for the whole connection: CBC decryption of block *i* needs
    only ciphertext blocks *i−1* and *i*, so for TLS 1.1+ the record's explicit IV is fed as one
    more ciphertext block and its (meaningless) plaintext dropped, and for TLS 1.0 the chain
    simply continues from the previous record, which is exactly RFC 2246 §6.2.3.2's IV rule.
    """

    __slots__ = ("_dec", "_etm", "_explicit", "_mac", "_mac_len")

    _BLOCK = 16

    def __init__(self, suite: CipherSuite, key: bytes, mac_key: bytes, iv: bytes, *,
                 version: int, encrypt_then_mac: bool) -> None:
        assert suite.mac is not None
        self._dec: CipherContext = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._mac = hmac.new(mac_key, digestmod=suite.mac)
        self._mac_len = _HASH_LEN[suite.mac]
        self._explicit = version >= 0x0302
        self._etm = encrypt_then_mac

    def _mac_ok(self, seqs: Sequence[int], header: bytes, data: bytes | memoryview,
                expected: bytes | memoryview) -> int | None:
        # RFC 5246 §6.2.3.1: MAC(MAC_write_key, seq_num + type + version + length + content).
        tail = header[:3] + len(data).to_bytes(2, "big")
        for seq in seqs:
            h = self._mac.copy()
            h.update(seq.to_bytes(8, "big") + tail)
            h.update(data)
            if hmac.compare_digest(h.digest(), expected):
                return seq
        return None

    def open(self, header: bytes, fragment: bytes | memoryview,
             seqs: Sequence[int]) -> tuple[int, bytes]:
        view = memoryview(fragment)
        block, mac_len = self._BLOCK, self._mac_len
        iv_len = block if self._explicit else 0
        cipher_len = len(view) - (mac_len if self._etm else 0)
        if cipher_len < iv_len + block or cipher_len % block:
            raise RecordError("bad_length", "CBC record is not a whole number of blocks")
        ciphertext = view[:cipher_len]
        plain = self._dec.update(ciphertext)[iv_len:]
        if self._etm:
            # RFC 7366 §3: the MAC covers IV + ciphertext, with their length in the header.
            seq = self._mac_ok(seqs, header, ciphertext, view[cipher_len:])
            if seq is None:
                raise RecordError("bad_mac", "record failed its encrypt-then-MAC check")
            return seq, _unpad(plain, 0)
        content_and_mac = _unpad(plain, mac_len)
        content_len = len(content_and_mac) - mac_len
        seq = self._mac_ok(seqs, header, content_and_mac[:content_len],
                           content_and_mac[content_len:])
        if seq is None:
            raise RecordError("bad_mac", "record failed its MAC check")
        return seq, content_and_mac[:content_len]


def _unpad(plain: bytes, keep: int) -> bytes:
    # RFC 5246 §6.2.3.2: padding_length bytes, each equal to padding_length, then that length.
    pad = plain[-1]
    if pad + 1 + keep > len(plain) or plain[-pad - 1 :] != bytes((pad,)) * (pad + 1):
        raise RecordError("bad_mac", "record has bad CBC padding")
    return plain[: -pad - 1]


def tls12_protections(suite: CipherSuite, version: int, master_secret: bytes,
                      client_random: bytes, server_random: bytes, *,
                      encrypt_then_mac: bool) -> tuple[Protection, Protection]:
    """The (client, server) record protections of a TLS 1.0–1.2 session (RFC 5246 §6.3):
    ``key_block = PRF(master_secret, "key expansion", server_random + client_random)``, cut
    into MAC keys, encryption keys and IVs, client's first."""
    mac_len = _HASH_LEN[suite.mac] if suite.mac else 0
    key_len, iv_len = suite.key_len, suite.fixed_iv_len
    size = 2 * (mac_len + key_len + iv_len)
    # RFC 5246 §5: TLS 1.2 uses the suite's PRF hash; TLS 1.0/1.1 the MD5/SHA-1 PRF.
    prf_hash = suite.prf if version >= 0x0303 else None
    block = prf(prf_hash, master_secret, b"key expansion", server_random + client_random, size)
    cuts = [mac_len, mac_len, key_len, key_len, iv_len, iv_len]
    parts: list[bytes] = []
    pos = 0
    for n in cuts:
        parts.append(block[pos : pos + n])
        pos += n
    c_mac, s_mac, c_key, s_key, c_iv, s_iv = parts
    if suite.bulk == "AES-CBC":
        return (Tls12Cbc(suite, c_key, c_mac, c_iv, version=version,
                         encrypt_then_mac=encrypt_then_mac),
                Tls12Cbc(suite, s_key, s_mac, s_iv, version=version,
                         encrypt_then_mac=encrypt_then_mac))
    return Tls12Aead(suite, c_key, c_iv), Tls12Aead(suite, s_key, s_iv)


# --------------------------------------------------------------------------- key epochs

#: After a TCP gap, sequence numbers tried beyond the expected one. The smallest protected
#: record is 22 bytes (5 header + 1 content type + 16 tag), so a gap of n bytes hides at most
#: n/22 records; the window caps the attempts per record.
GAP_SEQ_WINDOW = 64
_MIN_PROTECTED = 22


class MissingKeys(Exception):
    """The record is protected by keys the key log does not hold (or a suite not decrypted)."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"no {missing}")
        self.missing = missing


@dataclass(slots=True)
class Epoch:
    """One direction's keys between two key changes."""

    name: str
    """``early``, ``handshake``, ``application`` (TLS 1.3) or ``tls12``."""
    keys: list[Protection]
    """Usually one; early data starts with one per offered suite until one decrypts (its suite
    is the PSK's, RFC 8446 §4.2.10); none when ``missing`` is not available."""
    missing: str = ""
    generation: int = 0
    seq: int = 0


class KeyEpochs:
    """A direction's epochs in the order the handshake uses them, the current one first.

    A record that fails under the current epoch is tried under the next two, and a success
    there moves on: the server's 0.5-RTT data after a Finished whose record was lost, early data
    the server rejected, a KeyUpdate lost in a TCP gap (Wireshark tries the same boundaries).
    The next application generation is kept ready for that (RFC 8446 §7.2).
    """

    __slots__ = ("epochs",)

    def __init__(self, epochs: list[Epoch] | None = None) -> None:
        self.epochs: list[Epoch] = epochs or []

    @property
    def current(self) -> str:
        return self.epochs[0].name if self.epochs else ""

    def open(self, header: bytes, fragment: bytes, gap_bytes: int = 0) -> bytes:
        """Decrypt under the current epoch or one of the next two; raise :class:`RecordError`
        when keys were there but did not authenticate, :class:`MissingKeys` otherwise."""
        last: RecordError | None = None
        for i, ep in enumerate(self.epochs[:3]):
            for key in ep.keys:
                try:
                    seq, plain = key.open(header, fragment, _seqs(ep, key, fragment, gap_bytes))
                except RecordError as exc:
                    last = exc
                    continue
                ep.keys = [key]
                del self.epochs[:i]
                ep.seq = seq + 1
                self._prepare_next()
                return plain
        if not self.epochs:
            raise MissingKeys("keys")
        self.epochs[0].seq += 1  # the sender spent a sequence number on it
        if self.epochs[0].keys and last is not None:
            raise last
        raise MissingKeys(self.epochs[0].missing)

    def advance(self, leaving: str) -> None:
        """The handshake says the current epoch ``leaving`` ends here."""
        if self.epochs and self.epochs[0].name == leaving:
            self._prepare_next()
            del self.epochs[0]
            if self.epochs:
                self._prepare_next()

    def _prepare_next(self) -> None:
        cur = self.epochs[0]
        if cur.name == "application" and len(self.epochs) == 1 and cur.keys:
            key = cur.keys[0]
            if isinstance(key, Tls13Aead):
                self.epochs.append(Epoch("application", [key.next_generation()],
                                         generation=cur.generation + 1))


def _seqs(ep: Epoch, key: Protection, fragment: bytes, gap_bytes: int) -> list[int]:
    if not gap_bytes:
        return [ep.seq]
    width = min(GAP_SEQ_WINDOW, gap_bytes // _MIN_PROTECTED + 1)
    seqs = list(range(ep.seq, ep.seq + width + 1))
    if isinstance(key, Tls12Aead):
        hint = key.explicit_seq(fragment)
        if hint is not None and hint >= ep.seq:
            seqs.insert(0, hint)
    return seqs
