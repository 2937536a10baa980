"""The NSS key log format (``SSLKEYLOGFILE``): TLS secrets by label and ClientHello random.

Grammar (NSS "Key Log Format"; draft-ietf-tls-keylogfile §2, now RFC 9850): one entry per line,
``<label> SP <client_random> SP <secret>``, the random (32 bytes) and the secret in hex; lines
that start with ``#`` are comments; empty lines are ignored. We also accept CRLF and CR line
ends, runs of spaces or tabs between fields, upper-case hex and a UTF-8 byte-order mark, since
Windows tools and hand edits produce them and the meaning is unambiguous.

Labels (:data:`TLS12_LABELS`, :data:`TLS13_LABELS`): ``CLIENT_RANDOM`` carries the 48-byte TLS
≤ 1.2 master secret (RFC 5246 §8.1); the TLS 1.3 labels carry secrets of the key schedule
(RFC 8446 §7.1), whose length is the hash's (32 or 48 bytes; 64 allowed for SHA-512 suites).
``CLIENT_TRAFFIC_SECRET_<n>`` / ``SERVER_TRAFFIC_SECRET_<n>`` are kept for any ``n``: the
format defines ``_0`` and the decryptor derives later generations itself (RFC 8446 §7.2), but a
logger that writes them is not wrong. ``PMS_CLIENT_RANDOM`` (Wireshark's premaster-secret
variant) is kept too. Counted, not kept:

- ``keylog.line.unsupported``: ``RSA`` lines (an encrypted premaster secret prefix; decrypting
  it needs the server's private key) and labels we do not know;
- ``keylog.line.ignored``: ``ECH_SECRET`` / ``ECH_CONFIG`` (draft-ietf-tls-keylogfile §3.3:
  they decrypt the outer ClientHello, which we do not need to read the connection);
- ``keylog.line.malformed``: wrong field count, bad hex, a random that is not 32 bytes, a
  secret of the wrong length, or bytes that are not text (sample: ``source:line``);
- ``keylog.secret.conflict``: the same label and random twice with different secrets (the
  first is kept; identical repeats, as when a key log file and a DSB overlap, are silent);
- ``keylog.file.empty``: a key log without a single entry (comments only, or nothing).

A file that is not a key log at all (binary, or text without one labelled line) raises
:class:`~archcmp.errors.BadKeyLog` when the user named it (``explicit=True``); from a DSB the
same thing is a warning, ``keylog.file.unusable``.
"""

from __future__ import annotations

import binascii
import codecs
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from archcmp.diagnostics import Diagnostics
from archcmp.errors import BadKeyLog

__all__ = ["TLS12_LABELS", "TLS13_LABELS", "KeyLog"]

#: TLS ≤ 1.2: master secret (48 bytes), and Wireshark's premaster-secret variant.
TLS12_LABELS = frozenset({"CLIENT_RANDOM", "PMS_CLIENT_RANDOM"})

#: TLS 1.3 key schedule secrets (RFC 8446 §7.1), as named by draft-ietf-tls-keylogfile §3.2.
TLS13_LABELS = frozenset(
    {
        "CLIENT_EARLY_TRAFFIC_SECRET",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EARLY_EXPORTER_SECRET",
        "EXPORTER_SECRET",
    }
)

_IGNORED_LABELS = frozenset({"ECH_SECRET", "ECH_CONFIG"})
_UNSUPPORTED_LABELS = frozenset({"RSA"})

#: Secret length in bytes per label family: master secret (RFC 5246 §8.1) and premaster secret
#: (48 for RSA key exchange, RFC 5246 §7.4.7.1; ECDHE premasters vary, so any length); TLS 1.3
#: secrets are Hash.length (SHA-256, SHA-384, SHA-512).
_MASTER_SECRET_LENGTHS = frozenset({48})
_TLS13_SECRET_LENGTHS = frozenset({32, 48, 64})
_RANDOM_LENGTH = 32
_GENERATION_PREFIXES = ("CLIENT_TRAFFIC_SECRET_", "SERVER_TRAFFIC_SECRET_")


def _secret_lengths(label: str) -> frozenset[int] | None:
    """Allowed secret lengths for a label we keep (empty set: any), None when not kept."""
    if label == "CLIENT_RANDOM":
        return _MASTER_SECRET_LENGTHS
    if label == "PMS_CLIENT_RANDOM":
        return frozenset()
    if label in TLS13_LABELS:
        return _TLS13_SECRET_LENGTHS
    if label.startswith(_GENERATION_PREFIXES) and label.rpartition("_")[2].isdigit():
        return _TLS13_SECRET_LENGTHS
    return None


class KeyLog:
    """Secrets by ``(label, client_random)``; immutable once parsed (merge makes a new one)."""

    __slots__ = ("_labels", "_secrets")

    def __init__(self, secrets: Mapping[tuple[str, bytes], bytes] | None = None) -> None:
        self._secrets: dict[tuple[str, bytes], bytes] = dict(secrets or {})
        self._labels: dict[bytes, frozenset[str]] = {}
        by_random: dict[bytes, set[str]] = {}
        for label, random in self._secrets:
            by_random.setdefault(random, set()).add(label)
        self._labels = {random: frozenset(labels) for random, labels in by_random.items()}

    @classmethod
    def parse(
        cls, data: bytes | str, diag: Diagnostics, *, source: str = "", explicit: bool = False
    ) -> KeyLog:
        """Parse a key log (a file's bytes, or a DSB's payload).

        ``explicit`` says the user named this file (``--keylog``): then a file that is not a
        key log at all raises :class:`~archcmp.errors.BadKeyLog`; otherwise that is a warning.
        """
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        raw = raw.removeprefix(codecs.BOM_UTF8)
        where = source or "key log"
        secrets: dict[tuple[str, bytes], bytes] = {}
        labelled = 0  # lines that start with a label we know, well-formed or not
        for number, line in enumerate(raw.splitlines(), 1):  # bytes: splits on LF, CRLF, CR
            entry = _parse_line(line, diag, f"{where}:{number}")
            if entry is None or isinstance(entry, _Foreign):
                continue
            labelled += 1
            if isinstance(entry, _Counted):
                continue
            key, secret = entry
            known = secrets.setdefault(key, secret)
            if known != secret:
                diag.warn(
                    "keylog.secret.conflict",
                    "a key log repeats a label and client random with another secret; "
                    "the first was kept",
                    sample=f"{where}:{number}: {key[0]}",
                )
        if not labelled and not _only_comments(raw):
            message = (
                "not an NSS key log: no line of the form "
                "'LABEL <client_random hex> <secret hex>' (e.g. CLIENT_RANDOM …)"
            )
            if explicit:
                raise BadKeyLog(message, path=source or None)
            diag.warn("keylog.file.unusable", f"a key log was unusable: {message}", sample=where)
        elif not secrets:
            diag.warn("keylog.file.empty", "a key log held no usable secrets", sample=where)
        return cls(secrets)

    def merge(self, other: KeyLog) -> KeyLog:
        """A key log with the entries of both; where both have an entry, ``self``'s wins."""
        merged = dict(other._secrets)
        merged.update(self._secrets)
        return KeyLog(merged)

    def secret(self, label: str, client_random: bytes) -> bytes | None:
        return self._secrets.get((label, client_random))

    def labels_for(self, client_random: bytes) -> frozenset[str]:
        return self._labels.get(client_random, frozenset())

    def entries(self) -> Mapping[tuple[str, bytes], bytes]:
        """Every ``(label, client_random) → secret``, read-only."""
        return MappingProxyType(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter(self._secrets)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyLog) and self._secrets == other._secrets

    __hash__ = None  # type: ignore[assignment]  # equality by content, mutable-free but unhashed

    def __repr__(self) -> str:
        # Never the secrets themselves: a repr ends up in logs and tracebacks.
        return f"<KeyLog {len(self)} secrets for {len(self._labels)} client randoms>"


def _only_comments(raw: bytes) -> bool:
    return all(not line.strip() or line.lstrip().startswith(b"#") for line in raw.splitlines())


class _Counted:
    """A labelled line that was counted (unsupported, ignored or malformed) and not kept."""


class _Foreign:
    """A line that is not of the key log's shape at all (counted malformed)."""


_COUNTED, _FOREIGN = _Counted(), _Foreign()
_Line = tuple[tuple[str, bytes], bytes] | _Counted | _Foreign | None


def _parse_line(line: bytes, diag: Diagnostics, where: str) -> _Line:
    """One line: ``((label, random), secret)`` to keep; :data:`_COUNTED` for a key log line
    not kept; :data:`_FOREIGN` for a line that is no key log line; None for blank and comment
    lines (draft-ietf-tls-keylogfile §2)."""
    text = line.strip()  # ASCII whitespace, the same set split() separates fields on
    if not text or text.startswith(b"#"):
        return None
    fields = text.split()
    label = fields[0].decode("ascii", "replace")
    lengths = _secret_lengths(label)
    if lengths is None:
        shaped = (
            len(fields) == 3
            and len(fields[1]) == 2 * _RANDOM_LENGTH
            and _is_hex(fields[1])
            and label.replace("_", "").isalnum()
            and label.isupper()
        )
        if label in _IGNORED_LABELS:
            diag.warn(
                "keylog.line.ignored",
                "key log lines for Encrypted Client Hello were ignored",
                sample=f"{where}: {label}",
            )
            return _COUNTED
        if label in _UNSUPPORTED_LABELS or shaped:
            diag.warn(
                "keylog.line.unsupported",
                "key log lines of unsupported kinds were ignored (an RSA line needs the "
                "server's private key)",
                sample=f"{where}: {label}",
            )
            return _COUNTED
        _malformed(diag, where, "not of the form LABEL <client_random hex> <secret hex>")
        return _FOREIGN
    if len(fields) != 3:
        _malformed(diag, where, f"{label} with {len(fields)} fields instead of 3")
        return _COUNTED
    try:
        random = binascii.unhexlify(fields[1])
        secret = binascii.unhexlify(fields[2])
    except (binascii.Error, ValueError):
        _malformed(diag, where, f"{label} with a field that is not hex")
        return _COUNTED
    if len(random) != _RANDOM_LENGTH:
        _malformed(diag, where, f"{label} with a {len(random)}-byte client random (32 expected)")
        return _COUNTED
    if not secret or (lengths and len(secret) not in lengths):
        _malformed(diag, where, f"{label} with a {len(secret)}-byte secret")
        return _COUNTED
    return (label, random), secret


def _is_hex(field: bytes) -> bool:
    return not field.strip(b"0123456789abcdefABCDEF")


def _malformed(diag: Diagnostics, where: str, why: str) -> None:
    diag.warn(
        "keylog.line.malformed",
        "malformed key log lines were skipped",
        sample=f"{where}: {why}",
    )
