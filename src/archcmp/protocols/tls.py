"""One TLS connection, both directions: record layer, handshake, decryption (sans-IO).

``TlsSession(keylog, diag).feed(from_client, data, ts_ns)`` takes the TCP payload of either
direction in capture order and returns :data:`TlsEvent` s: the hellos, decrypted application data
with the time its last byte arrived, alerts, and one :class:`TlsUndecryptable` when something
could not be read. ``gap()`` reports lost TCP bytes, ``close()`` the end of the capture;
:attr:`TlsSession.info` summarises the connection at any time. Nothing here raises on bad input:
every problem is a counted warning (codes in :data:`WARNING_CODES`).

Keys come from an NSS key log (``CLIENT_RANDOM`` for TLS ≤ 1.2, the traffic secrets for 1.3),
looked up by the ClientHello random. Which keys protect which record follows the handshake, as
Wireshark's ``packet-tls.c`` does: TLS ≤ 1.2 switches at each ChangeCipherSpec (RFC 5246 §7.1);
TLS 1.3 (RFC 8446 §7) uses early keys after a ClientHello offering 0-RTT, handshake keys after
the ServerHello, application keys after each side's Finished and the next generation after a
KeyUpdate. Each direction holds its epochs in order; a record that fails under the current one
is tried under the next two (the server's 0.5-RTT data after a Finished whose record was lost,
early data the server rejected, a KeyUpdate missed in a TCP gap), and a success moves on.

Counting follows tshark (the corpus ground truth): ``info.decrypted`` counts records that
decrypted to a non-empty plaintext, TLS 1.3 handshake records included, as Wireshark's
``tls_save_decrypted_record`` does; ChangeCipherSpec is never protected and never counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

from archcmp.diagnostics import Diagnostics
from archcmp.protocols.tls_crypto import (
    CIPHER_SUITES,
    CipherSuite,
    Epoch,
    KeyEpochs,
    MissingKeys,
    Protection,
    RecordError,
    Tls13Aead,
    suite_name,
    tls12_protections,
)
from archcmp.protocols.tls_handshake import (
    CLIENT_HELLO,
    ENCRYPTED_EXTENSIONS,
    END_OF_EARLY_DATA,
    FINISHED,
    KEY_UPDATE,
    SERVER_HELLO,
    ClientHello,
    Counts,
    HandshakeBuffer,
    HandshakeError,
    Status,
    TlsAlert,
    TlsAppData,
    TlsClientHello,
    TlsEvent,
    TlsInfo,
    TlsServerHello,
    TlsUndecryptable,
    is_tls13,
    parse_client_hello,
    parse_encrypted_extensions,
    parse_server_hello,
    parse_sslv2_client_hello,
    version_name,
)

__all__ = [
    "WARNING_CODES",
    "Counts",
    "KeySource",
    "TlsAlert",
    "TlsAppData",
    "TlsClientHello",
    "TlsEvent",
    "TlsInfo",
    "TlsServerHello",
    "TlsSession",
    "TlsUndecryptable",
    "version_name",
]

CCS, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24  # RFC 8446 §5.1, RFC 6520

#: RFC 8446 §5.2: TLSCiphertext.length MUST NOT exceed 2^14 + 256; RFC 5246 §6.2.3: 2^14 + 2048.
MAX_RECORD_TLS13 = 2**14 + 256
MAX_RECORD_TLS12 = 2**14 + 2048
_HEADER = re.compile(rb"[\x14-\x18]\x03[\x00-\x04]")  # type, major 3, minor 0..4

WARNING_CODES = {
    "tls.stream.not_tls": "the connection's first bytes are not a TLS record",
    "tls.stream.gap": "TCP bytes missing; records resynchronised after the gap",
    "tls.record.bad_type": "a record header is not TLS; the direction is no longer followed",
    "tls.record.oversize": "record longer than RFC 8446 §5.2 / RFC 5246 §6.2.3 allow; skipped",
    "tls.record.bad_tag": "record failed AEAD authentication (wrong keys or corrupt capture)",
    "tls.record.bad_mac": "CBC record failed its MAC or padding check",
    "tls.record.bad_length": "protected record too short for its cipher",
    "tls.record.no_content_type": "TLS 1.3 record decrypted to padding only (RFC 8446 §5.4)",
    "tls.record.truncated": "the capture ends inside a record",
    "tls.record.sslv2_hello": "SSL 2.0-compatible ClientHello (RFC 5246 appendix E.2)",
    "tls.handshake.malformed": "handshake message does not parse",
    "tls.handshake.oversize": "handshake message larger than 64 KiB skipped",
    "tls.session.no_client_hello": "no ClientHello: capture starts after the handshake",
    "tls.session.no_key": "the key log lacks a secret this session needs",
    "tls.session.unsupported_cipher": "the negotiated cipher suite or version is not decrypted",
}

_SUPPORTED = "supported cipher suite"
_LABEL_EARLY, _LABEL_TLS12 = "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_RANDOM"
_LABELS_13 = {  # (from_client, epoch) → key log label (NSS key log format)
    (True, "handshake"): "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    (False, "handshake"): "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    (True, "application"): "CLIENT_TRAFFIC_SECRET_0",
    (False, "application"): "SERVER_TRAFFIC_SECRET_0",
}


class KeySource(Protocol):
    """What the session needs of :class:`archcmp.ingest.keylog.KeyLog`."""

    def secret(self, label: str, client_random: bytes) -> bytes | None: ...


# --------------------------------------------------------------------------- per-direction state


@dataclass(slots=True)
class _Direction:
    from_client: bool
    buf: bytearray = field(default_factory=bytearray)
    records: int = 0
    decrypted: int = 0
    opened: int = 0
    failed: int = 0
    skipped: int = 0
    protected: bool = False
    ccs: bool = False
    keys: KeyEpochs = field(default_factory=KeyEpochs)
    hs: HandshakeBuffer = field(default_factory=HandshakeBuffer)
    lost: bool = False
    resync: bool = False
    gap_bytes: int = 0
    gaps: int = 0


class TlsSession:
    """The TLS state of one TCP connection; feed it both directions in capture order."""

    def __init__(self, keylog: KeySource, diag: Diagnostics, *, where: str = "") -> None:
        self._keylog = keylog
        self._diag = diag
        self._where = where or None
        self._dirs = {True: _Direction(True), False: _Direction(False)}
        self._kind: Literal["unknown", "tls", "not-tls"] = "unknown"
        self._ch: ClientHello | None = None
        self._expect_ch = True
        self._opaque = False
        self._version: int | None = None
        self._suite_code: int | None = None
        self._suite: CipherSuite | None = None
        self._server_random = b""
        self._etm = False
        self._alpn: str | None = None
        self._resumed = False
        self._pending_sh: TlsServerHello | None = None
        self._told_undecryptable = False
        self._warned: set[str] = set()
        self._reasons: dict[str, None] = {}
        self._found_secret = False
        self._unsupported = False

    # ----------------------------------------------------------------------- public API

    def feed(self, from_client: bool, data: bytes, ts_ns: int) -> list[TlsEvent]:
        """Take the next TCP payload bytes of one direction; return what they completed."""
        events: list[TlsEvent] = []
        d = self._dirs[from_client]
        if self._kind == "not-tls" or d.lost or not data:
            return events
        d.buf += data
        self._drain(d, ts_ns, events)
        return events

    def gap(self, from_client: bool, size: int | None, ts_ns: int) -> list[TlsEvent]:
        """``size`` bytes (None: unknown, e.g. a capture starting mid-stream) of this direction
        were never captured. Records resume at the next plausible header."""
        d = self._dirs[from_client]
        if self._kind == "not-tls" or d.lost:
            return []
        self._warn("tls.stream.gap", sample=f"{size} bytes")
        self._reason("TCP bytes missing")
        d.buf.clear()
        d.hs.reset()
        d.resync = True
        d.gaps += 1
        d.gap_bytes += size if size is not None else 1 << 20
        return []

    def close(self, ts_ns: int) -> list[TlsEvent]:
        """The capture ended: report a partial record and a ServerHello still waiting for its
        EncryptedExtensions."""
        events: list[TlsEvent] = []
        for d in self._dirs.values():
            if d.buf and not d.lost and self._kind == "tls":
                self._warn("tls.record.truncated")
                d.buf.clear()
        self._flush_server_hello(events)
        return events

    @property
    def info(self) -> TlsInfo:
        c, s = self._dirs[True], self._dirs[False]
        opened, failed = c.opened + s.opened, c.failed + s.failed
        skipped = c.skipped + s.skipped
        status: Status
        if self._kind != "tls":
            status = "not-tls"
        elif self._unsupported and not opened:
            status = "unsupported-cipher"
        elif failed and not opened:
            status = "corrupt"
        elif not opened and (skipped or self._opaque or not self._has_any_secret()):
            status = "no-keys"
        elif failed or skipped or c.lost or s.lost or c.gaps or s.gaps or self._opaque:
            status = "partial"
        else:
            status = "decrypted"
        ch = self._ch
        return TlsInfo(
            sni=ch.sni if ch else None,
            alpn_offered=ch.alpn if ch else (),
            alpn=self._alpn,
            version=version_name(self._version) if self._version is not None else None,
            cipher=suite_name(self._suite_code) if self._suite_code is not None else None,
            resumed=self._resumed,
            client_random=ch.random.hex() if ch else None,
            records=Counts(client=c.records, server=s.records),
            decrypted=Counts(client=c.decrypted, server=s.decrypted),
            failed=Counts(client=c.failed, server=s.failed),
            status=status,
            reason="" if status == "decrypted" else "; ".join(self._reasons),
        )

    # ----------------------------------------------------------------------- record layer

    def _drain(self, d: _Direction, ts: int, events: list[TlsEvent]) -> None:
        buf, pos = d.buf, 0
        while not d.lost and self._kind != "not-tls":
            if d.resync:
                pos, confirmed = self._resync(buf, pos)
                if not confirmed:
                    break
                d.resync = False
            avail = len(buf) - pos
            if avail < 3:
                break
            if self._kind == "unknown" or d.records == 0:
                if d.from_client and d.records == 0 and buf[pos] & 0x80 and buf[pos + 2] == 1:
                    length = ((buf[pos] & 0x7F) << 8) | buf[pos + 1]
                    if avail < 2 + length:
                        break
                    self._kind = "tls"
                    self._sslv2_hello(d, bytes(buf[pos + 2 : pos + 2 + length]), ts, events)
                    pos += 2 + length
                    continue
                if self._kind == "unknown" and not _HEADER.match(buf, pos):
                    self._kind = "not-tls"
                    self._warn("tls.stream.not_tls", sample=bytes(buf[pos : pos + 8]).hex())
                    self._reason("the connection does not start with a TLS record")
                    return
            if avail < 5:
                break
            if not _HEADER.match(buf, pos):
                if d.gap_bytes:  # a resynchronisation guessed wrong: look further
                    d.resync = True
                    continue
                d.lost = True
                self._warn("tls.record.bad_type", sample=bytes(buf[pos : pos + 5]).hex())
                self._reason("record framing lost")
                break
            self._kind = "tls"
            length = int.from_bytes(buf[pos + 3 : pos + 5], "big")
            if avail < 5 + length:
                break
            header = bytes(buf[pos : pos + 5])
            fragment = bytes(buf[pos + 5 : pos + 5 + length])
            pos += 5 + length
            self._record(d, header, fragment, ts, events)
        del buf[:pos]

    @staticmethod
    def _resync(buf: bytearray, pos: int) -> tuple[int, bool]:
        """``(offset, True)`` for the first header whose record is followed by another header
        or ends the bytes received so far (as TCP segments usually end with a record);
        ``(offset, False)`` to wait for more bytes, keeping those from ``offset`` on."""
        for m in _HEADER.finditer(buf, pos):
            start = m.start()
            if start + 5 > len(buf):
                return start, False
            length = int.from_bytes(buf[start + 3 : start + 5], "big")
            if not 0 < length <= MAX_RECORD_TLS12:
                continue
            after = start + 5 + length
            if after == len(buf) or (after + 3 <= len(buf) and _HEADER.match(buf, after)):
                return start, True
            if after + 3 > len(buf):
                return start, False
        return max(pos, len(buf) - 2), False  # a header may straddle the next segment

    def _rules13(self, d: _Direction) -> bool:
        if self._version is not None:
            return is_tls13(self._version)
        # Before the ServerHello, a client that offered TLS 1.3 follows its record rules.
        return d.from_client and self._ch is not None and any(
            is_tls13(v) for v in self._ch.supported_versions)

    def _record(self, d: _Direction, header: bytes, fragment: bytes, ts: int,
                events: list[TlsEvent]) -> None:
        d.records += 1
        ctype = header[0]
        rules13 = self._rules13(d)
        if len(fragment) > (MAX_RECORD_TLS13 if rules13 else MAX_RECORD_TLS12):
            self._warn("tls.record.oversize", sample=str(len(fragment)))
            if d.protected:
                d.failed += 1
                self._reason("oversize records")
            return
        if self._ch is None and not (d.from_client and ctype == HANDSHAKE and self._expect_ch):
            self._no_client_hello(d, ctype, ts, events)
            return
        plain = fragment
        early = False
        if d.protected and (not rules13 or ctype == APPLICATION_DATA):
            opened = self._open(d, header, fragment, ts, events)
            if opened is None:
                d.hs.reset()
                return
            plain = opened
            early = d.keys.current == "early"
            if rules13:
                # RFC 8446 §5.4: TLSInnerPlaintext = content || ContentType || zeros.
                inner = opened.rstrip(b"\0")
                if not inner:
                    self._warn("tls.record.no_content_type")
                    return
                ctype, plain = inner[-1], inner[:-1]
            if plain:
                d.decrypted += 1
        elif ctype == APPLICATION_DATA:
            d.skipped += 1
            self._undecryptable("application data before any keys", ts, events)
            return
        handler = _CONTENT.get(ctype)
        if handler is not None:
            handler(self, d, plain, ts, events, early)

    def _no_client_hello(self, d: _Direction, ctype: int, ts: int,
                         events: list[TlsEvent]) -> None:
        self._expect_ch = False
        self._opaque = True
        self._warn_once("tls.session.no_client_hello")
        self._reason("no ClientHello (the capture starts after the handshake)")
        if ctype != CCS:
            d.skipped += 1
            self._undecryptable("no ClientHello to find keys by", ts, events)

    def _open(self, d: _Direction, header: bytes, fragment: bytes, ts: int,
              events: list[TlsEvent]) -> bytes | None:
        try:
            plain = d.keys.open(header, fragment, d.gap_bytes)
        except (RecordError, MissingKeys) as exc:
            if not d.from_client:  # no EncryptedExtensions to wait for
                self._flush_server_hello(events)
            self._not_opened(d, exc, ts, events)
            return None
        d.gap_bytes = 0
        d.opened += 1
        return plain

    def _not_opened(self, d: _Direction, exc: RecordError | MissingKeys, ts: int,
                    events: list[TlsEvent]) -> None:
        if isinstance(exc, RecordError):
            d.failed += 1
            self._warn(f"tls.record.{exc.code}")
            self._reason("records failed authentication (wrong keys or corrupt capture)")
            self._undecryptable(f"record failed authentication ({exc.code})", ts, events)
            return
        d.skipped += 1
        if exc.missing != _SUPPORTED:
            self._warn_once("tls.session.no_key", sample=exc.missing)
            self._reason(f"no {exc.missing} in the key log")
        self._undecryptable(str(exc), ts, events)

    # ----------------------------------------------------------------------- content types

    def _on_ccs(self, d: _Direction, plain: bytes, ts: int, events: list[TlsEvent],
                early: bool) -> None:
        # RFC 8446 §D.4: a TLS 1.3 (or pre-ServerHello) CCS is a middlebox decoy, no key change.
        if self._version is None or is_tls13(self._version) or self._ch is None:
            return
        if not d.from_client and not self._dirs[True].ccs:
            # RFC 5246 §7.3: in an abbreviated handshake the server changes cipher first.
            self._resumed = True
        d.ccs = True
        d.protected = True
        d.keys = KeyEpochs([self._tls12_epoch(d.from_client)])

    def _on_alert(self, d: _Direction, plain: bytes, ts: int, events: list[TlsEvent],
                  early: bool) -> None:
        for i in range(0, len(plain) - 1, 2):
            events.append(TlsAlert(from_client=d.from_client, level=plain[i],
                                   description=plain[i + 1], ts_ns=ts))

    def _on_app_data(self, d: _Direction, plain: bytes, ts: int, events: list[TlsEvent],
                     early: bool) -> None:
        if plain:
            events.append(TlsAppData(from_client=d.from_client, data=plain, ts_ns=ts,
                                     early=early))

    def _on_heartbeat(self, d: _Direction, plain: bytes, ts: int, events: list[TlsEvent],
                      early: bool) -> None:
        """RFC 6520 heartbeats carry nothing for the teardown (a protected one was decrypted to
        keep the sequence numbers in step)."""

    def _on_handshake(self, d: _Direction, plain: bytes, ts: int, events: list[TlsEvent],
                      early: bool) -> None:
        before = d.hs.oversize
        for msg_type, body in d.hs.feed(plain):
            if self._ch is None and msg_type != CLIENT_HELLO:
                # The client's first message is not a ClientHello: a mid-connection start.
                self._no_client_hello(d, HANDSHAKE, ts, events)
                d.hs.reset()
                return
            handler = _MESSAGES.get(msg_type)
            if handler is None or body is None:
                continue
            try:
                handler(self, d, body, ts, events)
            except HandshakeError as exc:
                self._warn("tls.handshake.malformed", sample=f"type {msg_type}: {exc}")
        if d.hs.oversize > before:
            self._warn("tls.handshake.oversize", count=d.hs.oversize - before)

    # ----------------------------------------------------------------------- handshake messages

    def _client_hello(self, d: _Direction, body: bytes, ts: int, events: list[TlsEvent]) -> None:
        if not d.from_client:
            raise HandshakeError("ClientHello from the server")
        self._accept_client_hello(parse_client_hello(body), ts, events)

    def _sslv2_hello(self, d: _Direction, record: bytes, ts: int, events: list[TlsEvent]) -> None:
        d.records += 1
        self._warn("tls.record.sslv2_hello")
        try:
            hello = parse_sslv2_client_hello(record)
        except HandshakeError as exc:
            self._warn("tls.handshake.malformed", sample=f"SSLv2 hello: {exc}")
            return
        self._accept_client_hello(hello, ts, events)

    def _accept_client_hello(self, ch: ClientHello, ts: int, events: list[TlsEvent]) -> None:
        first = self._ch is None
        self._ch = ch
        self._expect_ch = False
        versions = tuple(version_name(v) for v in ch.supported_versions
                         if version_name(v) != "GREASE") or (version_name(ch.legacy_version),)
        events.append(TlsClientHello(
            sni=ch.sni, alpn_offered=ch.alpn, versions=versions,
            cipher_suites=tuple(n for n in map(suite_name, ch.cipher_suites) if n != "GREASE"),
            ts_ns=ts, resumption=ch.psk or ch.session_ticket or bool(ch.session_id),
            early_data=ch.early_data, sslv2=ch.sslv2))
        client = self._dirs[True]
        if first and ch.early_data and self._version is None:
            # RFC 8446 §4.2.10: 0-RTT records follow the ClientHello under the early secret; its
            # suite is the PSK's, unknown until the ServerHello, so try each offered one.
            secret = self._secret(_LABEL_EARLY)
            suites = [CIPHER_SUITES[c] for c in ch.cipher_suites if c in CIPHER_SUITES]
            keys: list[Protection] = [Tls13Aead(s, secret) for s in suites
                                      if secret and s.tls13 and s.bulk]
            client.keys = KeyEpochs([Epoch("early", keys, missing=_LABEL_EARLY)])
            client.protected = True

    def _server_hello(self, d: _Direction, body: bytes, ts: int, events: list[TlsEvent]) -> None:
        if d.from_client or self._ch is None:
            raise HandshakeError("ServerHello out of place")
        sh = parse_server_hello(body)
        self._version, self._suite_code = sh.version, sh.cipher_suite
        self._suite = CIPHER_SUITES.get(sh.cipher_suite)
        if sh.hello_retry_request:
            return  # RFC 8446 §4.1.4: a second ClientHello and ServerHello follow
        self._server_random, self._etm = sh.random, sh.encrypt_then_mac
        tls13 = is_tls13(sh.version)
        self._resumed = sh.psk if tls13 else (bool(sh.session_id)
                                              and sh.session_id == self._ch.session_id)
        usable = self._suite is not None and self._suite.bulk is not None and (
            self._suite.tls13 == tls13) and sh.version >= 0x0301
        if not usable:
            self._unsupported = True
            self._warn_once("tls.session.unsupported_cipher",
                            sample=f"{version_name(sh.version)} {suite_name(sh.cipher_suite)}")
            self._reason(f"{version_name(sh.version)} with {suite_name(sh.cipher_suite)} "
                         "is not decrypted")
        hello = TlsServerHello(version=version_name(sh.version),
                               cipher=suite_name(sh.cipher_suite), alpn=sh.alpn, ts_ns=ts,
                               resumed=self._resumed)
        if not tls13:
            self._alpn = sh.alpn
            events.append(hello)
            return
        client, server = self._dirs[True], self._dirs[False]
        server.keys = KeyEpochs([self._epoch13(False, "handshake"),
                                 self._epoch13(False, "application")])
        early = [e for e in client.keys.epochs if e.name == "early"]
        client.keys = KeyEpochs([*early, self._epoch13(True, "handshake"),
                                 self._epoch13(True, "application")])
        client.protected = server.protected = True
        if server.keys.epochs[0].keys:
            self._pending_sh = hello  # its ALPN is in the EncryptedExtensions
        else:
            events.append(hello)

    def _encrypted_extensions(self, d: _Direction, body: bytes, ts: int,
                              events: list[TlsEvent]) -> None:
        if d.from_client:
            return  # Chrome sends ALPS (application_settings) in a client EncryptedExtensions
        ee = parse_encrypted_extensions(body)
        self._alpn = ee.alpn
        if self._pending_sh is not None:
            events.append(TlsServerHello(
                version=self._pending_sh.version, cipher=self._pending_sh.cipher, alpn=ee.alpn,
                ts_ns=self._pending_sh.ts_ns, resumed=self._pending_sh.resumed))
            self._pending_sh = None

    def _finished(self, d: _Direction, body: bytes, ts: int, events: list[TlsEvent]) -> None:
        if self._version is not None and is_tls13(self._version):
            # RFC 8446 §7.2/§4.4.4: each side's records after its Finished use its application
            # traffic secret (the Finished ends its record, §5.1).
            d.keys.advance("handshake")

    def _end_of_early_data(self, d: _Direction, body: bytes, ts: int,
                           events: list[TlsEvent]) -> None:
        d.keys.advance("early")  # RFC 8446 §4.5: handshake keys follow EndOfEarlyData

    def _key_update(self, d: _Direction, body: bytes, ts: int, events: list[TlsEvent]) -> None:
        # RFC 8446 §4.6.3: the sender's next records use application_traffic_secret_N+1.
        d.keys.advance("application")

    # ----------------------------------------------------------------------- keys

    def _secret(self, label: str) -> bytes | None:
        """The key log's secret; a missing one is reported when a record needs it."""
        if self._ch is None:
            return None
        secret = self._keylog.secret(label, self._ch.random)
        if secret is not None:
            self._found_secret = True
        return secret

    def _has_any_secret(self) -> bool:
        if self._found_secret or self._ch is None:
            return self._found_secret
        labels = (_LABEL_TLS12, *_LABELS_13.values(), _LABEL_EARLY)
        return any(self._keylog.secret(label, self._ch.random) is not None for label in labels)

    def _epoch13(self, from_client: bool, name: str) -> Epoch:
        label = _LABELS_13[(from_client, name)]
        suite = self._suite
        if self._unsupported or suite is None:
            return Epoch(name, [], missing=_SUPPORTED)
        secret = self._secret(label)
        return Epoch(name, [Tls13Aead(suite, secret)] if secret else [], missing=label)

    def _tls12_epoch(self, from_client: bool) -> Epoch:
        suite, ch, version = self._suite, self._ch, self._version
        if self._unsupported or suite is None or ch is None or version is None:
            return Epoch("tls12", [], missing=_SUPPORTED)
        master = self._secret(_LABEL_TLS12)
        if master is None:
            return Epoch("tls12", [], missing=_LABEL_TLS12)
        client, server = tls12_protections(suite, version, master, ch.random,
                                           self._server_random,
                                           encrypt_then_mac=self._etm and ch.encrypt_then_mac)
        return Epoch("tls12", [client if from_client else server])

    # ----------------------------------------------------------------------- reporting

    def _flush_server_hello(self, events: list[TlsEvent]) -> None:
        if self._pending_sh is not None:
            events.append(self._pending_sh)
            self._pending_sh = None

    def _undecryptable(self, reason: str, ts: int, events: list[TlsEvent]) -> None:
        if not self._told_undecryptable:
            self._told_undecryptable = True
            events.append(TlsUndecryptable(reason=reason, ts_ns=ts))

    def _reason(self, text: str) -> None:
        if len(self._reasons) < 4:
            self._reasons[text] = None

    def _warn(self, code: str, *, sample: str | None = None, count: int = 1) -> None:
        where = f"{self._where}: {sample}" if self._where and sample else self._where or sample
        self._diag.warn(code, WARNING_CODES[code], sample=where, count=count)

    def _warn_once(self, code: str, *, sample: str | None = None) -> None:
        if code not in self._warned:
            self._warned.add(code)
            self._warn(code, sample=sample)


_CONTENT = {
    CCS: TlsSession._on_ccs,
    ALERT: TlsSession._on_alert,
    HANDSHAKE: TlsSession._on_handshake,
    APPLICATION_DATA: TlsSession._on_app_data,
    HEARTBEAT: TlsSession._on_heartbeat,
}
_MESSAGES = {
    CLIENT_HELLO: TlsSession._client_hello,
    SERVER_HELLO: TlsSession._server_hello,
    ENCRYPTED_EXTENSIONS: TlsSession._encrypted_extensions,
    FINISHED: TlsSession._finished,
    END_OF_EARLY_DATA: TlsSession._end_of_early_data,
    KEY_UPDATE: TlsSession._key_update,
}
