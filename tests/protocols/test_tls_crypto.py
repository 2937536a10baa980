"""Key derivation and record decryption against published vectors.

* TLS 1.2 PRF: the P_SHA256 and P_SHA384 vectors posted to the IETF TLS WG list
  (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html), the ones BearSSL, Botan and
  the Go/Rust stacks check.
* TLS 1.0/1.1 PRF (MD5 ⊕ SHA-1): the "PRF Testvector" KAT of the same collection (BearSSL
  ``test_crypto.c``): secret 48×0xAB, seed 64×0xCD.
* TLS 1.3: RFC 8448 §3 (Simple 1-RTT Handshake): traffic secrets → keys and IVs
  (HKDF-Expand-Label), and the trace's complete protected records, decrypted to the RFC's own
  plaintext.
* TLS 1.2 record formats (GCM, CCM_8, ChaCha20, CBC with MAC-then-encrypt and encrypt-then-MAC,
  TLS 1.0's chained IV) have no published record vectors: they are sealed here with
  ``cryptography`` following RFC 5246/5288/6655/7905/7366 and must open (the corpus tests check
  them against real OpenSSL captures and tshark).
"""

from __future__ import annotations

import hmac
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from archcmp.protocols.tls_crypto import (
    CIPHER_SUITES,
    Epoch,
    KeyEpochs,
    MissingKeys,
    RecordError,
    Tls12Aead,
    Tls12Cbc,
    Tls13Aead,
    hkdf_expand_label,
    prf,
    suite_name,
    tls12_protections,
)


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# --- TLS 1.2 PRF (IETF TLS WG list, msg03416) ---------------------------------------------


def test_prf_sha256_vector() -> None:
    out = prf("sha256", h("9bbe436ba940f017b17652849a71db35"), b"test label",
              h("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out == h("""
        e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a
        6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
        4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701
        87347b66""")


def test_prf_sha384_vector() -> None:
    out = prf("sha384", h("b80b733d6ceefcdc71566ea48e5567df"), b"test label",
              h("cd665cf6a8447dd6ff8b27555edb7465"), 148)
    assert out == h("""
        7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd
        e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd
        8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425
        9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6
        91c8f3a26854308d5eaa3be85e0990703d73e56f""")


def test_prf_tls10_md5_sha1_vector() -> None:
    out = prf(None, b"\xab" * 48, b"PRF Testvector", b"\xcd" * 64, 104)
    assert out == h("""
        d3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754
        443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6
        9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f
        1afbc655a8c9a013""")


# --- RFC 8448 §3: Simple 1-RTT Handshake ----------------------------------------------------

# {server} derive secret "tls13 s hs traffic" / {client} "tls13 c hs traffic" /
# {server} "tls13 s ap traffic" / {client} "tls13 c ap traffic"
S_HS = h("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
C_HS = h("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
S_AP = h("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
C_AP = h("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")

# {server} send handshake record: EncryptedExtensions, Certificate, CertificateVerify, Finished
S_HS_RECORD_BODY = h("""
    d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca
    07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5
    ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122
    a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255
    cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead68694
    5ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8
    d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89
    f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda
    0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f24
    3d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e459
    9426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b33558
    3b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca
    01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038
    ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4f
    ddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf
    0253fe5175be898e750edc53370d2b""")
# The same record's plaintext: EE (40), Certificate (445), CertificateVerify (136), Finished (36)
S_HS_PLAIN_START = h("080000240022000a00140012001d00170018001901000101010201030104001c00024001")
S_FINISHED = h("140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718")
# {client} send handshake record: Finished
C_FIN_RECORD_BODY = h("""
    75ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1c
    aeacab6867d726c40546""")
# {server} NewSessionTicket (server application seq 0); {client}/{server} application data
# (50 bytes 00..31: client seq 0, server seq 1); close_notify alerts (client seq 1, server 2).
S_NST_RECORD_BODY = h("""
    3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a
    015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3
    d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca4
    75840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d02
    3e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf159
    85684f""")
C_APP_RECORD_BODY = h("""
    a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b
    62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4""")
S_APP_RECORD_BODY = h("""
    2e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8
    fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d""")
C_ALERT_RECORD_BODY = h("c9872760655666b74d7ff1153efd6db6d0b0e3")
S_ALERT_RECORD_BODY = h("b58fd67166ebf599d24720cfbe7efa7a8864a9")
APP_PAYLOAD = bytes(range(0x32))

SUITE_1301 = CIPHER_SUITES[0x1301]


def header(body: bytes, ctype: int = 23) -> bytes:
    return bytes((ctype, 3, 3)) + len(body).to_bytes(2, "big")


@pytest.mark.parametrize(("secret", "key", "iv"), [
    (S_HS, "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"),
    (C_HS, "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f"),
    (S_AP, "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984"),
    (C_AP, "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9"),
])
def test_rfc8448_traffic_keys(secret: bytes, key: str, iv: str) -> None:
    # RFC 8448 §3 "derive write traffic keys": HKDF-Expand-Label(secret, "key"/"iv", "", len).
    assert hkdf_expand_label("sha256", secret, b"key", b"", 16).hex() == key
    assert hkdf_expand_label("sha256", secret, b"iv", b"", 12).hex() == iv


def test_rfc8448_server_handshake_record_decrypts() -> None:
    seq, inner = Tls13Aead(SUITE_1301, S_HS).open(header(S_HS_RECORD_BODY), S_HS_RECORD_BODY, [0])
    assert seq == 0
    assert inner[-1] == 22  # TLSInnerPlaintext.type = handshake, no padding in the trace
    plain = inner[:-1]
    assert len(plain) == 657
    assert plain.startswith(S_HS_PLAIN_START)
    assert plain.endswith(S_FINISHED)


@pytest.mark.parametrize(("secret", "body", "seq", "ctype", "plain"), [
    (C_HS, C_FIN_RECORD_BODY, 0, 22, None),
    (S_AP, S_NST_RECORD_BODY, 0, 22, None),
    (C_AP, C_APP_RECORD_BODY, 0, 23, APP_PAYLOAD),
    (S_AP, S_APP_RECORD_BODY, 1, 23, APP_PAYLOAD),
    (C_AP, C_ALERT_RECORD_BODY, 1, 21, b"\x01\x00"),
    (S_AP, S_ALERT_RECORD_BODY, 2, 21, b"\x01\x00"),
])
def test_rfc8448_records_decrypt(secret: bytes, body: bytes, seq: int, ctype: int,
                                 plain: bytes | None) -> None:
    got_seq, inner = Tls13Aead(SUITE_1301, secret).open(header(body), body, [seq])
    assert got_seq == seq and inner[-1] == ctype
    if plain is not None:
        assert inner[:-1] == plain


def test_tls13_wrong_sequence_or_key_is_bad_tag() -> None:
    aead = Tls13Aead(SUITE_1301, S_AP)
    with pytest.raises(RecordError) as err:
        aead.open(header(S_APP_RECORD_BODY), S_APP_RECORD_BODY, [0])
    assert err.value.code == "bad_tag"
    # several candidates: the right one is found (used after TCP gaps)
    assert aead.open(header(S_APP_RECORD_BODY), S_APP_RECORD_BODY, [0, 3, 1])[0] == 1
    with pytest.raises(RecordError):
        Tls13Aead(SUITE_1301, C_AP).open(header(S_APP_RECORD_BODY), S_APP_RECORD_BODY, [1])
    with pytest.raises(RecordError) as err:
        aead.open(header(b"short"), b"short", [0])
    assert err.value.code == "bad_length"


def test_key_update_is_hkdf_expand_label_traffic_upd() -> None:
    # RFC 8446 §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd",
    # "", Hash.length); §7.3 derives the next key and IV from it.
    nxt = Tls13Aead(SUITE_1301, S_AP).next_generation()
    assert nxt.secret == hkdf_expand_label("sha256", S_AP, b"traffic upd", b"", 32)
    assert nxt.secret != S_AP and len(nxt.secret) == 32


# --- key epochs ----------------------------------------------------------------------------


def test_epochs_trial_moves_to_the_next_epoch_and_prepares_key_updates() -> None:
    chain = KeyEpochs([Epoch("handshake", [Tls13Aead(SUITE_1301, C_HS)]),
                       Epoch("application", [Tls13Aead(SUITE_1301, C_AP)])])
    # a client application record arrives while the chain still expects handshake keys
    # (the Finished was lost): trial decryption moves on
    plain = chain.open(header(C_APP_RECORD_BODY), C_APP_RECORD_BODY)
    assert plain[:-1] == APP_PAYLOAD
    assert chain.current == "application"
    assert [e.generation for e in chain.epochs] == [0, 1]
    assert chain.open(header(C_ALERT_RECORD_BODY), C_ALERT_RECORD_BODY) == b"\x01\x00\x15"


def test_epochs_report_missing_and_failing_keys() -> None:
    chain = KeyEpochs([Epoch("handshake", [], missing="SERVER_HANDSHAKE_TRAFFIC_SECRET")])
    with pytest.raises(MissingKeys) as missing:
        chain.open(header(S_HS_RECORD_BODY), S_HS_RECORD_BODY)
    assert missing.value.missing == "SERVER_HANDSHAKE_TRAFFIC_SECRET"
    wrong = KeyEpochs([Epoch("handshake", [Tls13Aead(SUITE_1301, C_HS)])])
    with pytest.raises(RecordError):
        wrong.open(header(S_HS_RECORD_BODY), S_HS_RECORD_BODY)
    assert wrong.epochs[0].seq == 1  # the failed record still used a sequence number


# --- TLS 1.2 record formats (sealed here per the RFCs) ---------------------------------------


def _aad(seq: int, ctype: int, length: int) -> bytes:
    # RFC 5246 §6.2.3.3: seq_num + TLSCompressed.type + version + length
    return seq.to_bytes(8, "big") + bytes((ctype, 3, 3)) + length.to_bytes(2, "big")


@pytest.mark.parametrize("code", [0xC02F, 0xC030, 0xC0A0, 0xC0AE, 0xC09C])
def test_tls12_gcm_and_ccm_explicit_nonce(code: int) -> None:
    suite = CIPHER_SUITES[code]
    key, salt = os.urandom(suite.key_len), os.urandom(4)
    aead = (AESGCM(key) if suite.bulk == "AES-GCM"
            else AESCCM(key, tag_length=suite.tag_len))
    for seq, plain in enumerate([b"GET / HTTP/1.1\r\n\r\n", b"", os.urandom(1000)]):
        explicit = (seq + 7).to_bytes(8, "big")  # RFC 5288 §3: any value, unique per key
        body = explicit + aead.encrypt(salt + explicit, plain, _aad(seq, 23, len(plain)))
        got = Tls12Aead(suite, key, salt).open(header(body), body, [seq])
        assert got == (seq, plain)
    with pytest.raises(RecordError):
        Tls12Aead(suite, key, salt).open(header(body), body, [seq + 1])


def test_tls12_chacha20_implicit_nonce() -> None:
    suite = CIPHER_SUITES[0xCCA8]
    key, iv = os.urandom(32), os.urandom(12)
    seq, plain = 5, b"hello"
    # RFC 7905 §2: nonce = IV XOR (0^32 || seq_num)
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    body = ChaCha20Poly1305(key).encrypt(nonce, plain, _aad(seq, 23, len(plain)))
    assert Tls12Aead(suite, key, iv).open(header(body), body, [seq]) == (seq, plain)
    assert Tls12Aead(suite, key, iv).explicit_seq(body) is None


def _cbc_seal(key: bytes, mac_key: bytes, mac: str, iv: bytes, seq: int, plain: bytes, *,
              etm: bool, explicit: bool) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    prefix = iv if explicit else b""
    if etm:
        pad = 15 - len(plain) % 16
        ct = prefix + enc.update(plain + bytes((pad,)) * (pad + 1)) + enc.finalize()
        tag = hmac.digest(mac_key, _aad(seq, 23, len(ct)) + ct, mac)
        return ct + tag
    tag = hmac.digest(mac_key, _aad(seq, 23, len(plain)) + plain, mac)
    data = plain + tag
    pad = 15 - len(data) % 16
    return prefix + enc.update(data + bytes((pad,)) * (pad + 1)) + enc.finalize()


@pytest.mark.parametrize("etm", [False, True])
@pytest.mark.parametrize("code", [0xC013, 0xC028, 0x003C])
def test_tls12_cbc_mac_then_encrypt_and_encrypt_then_mac(code: int, etm: bool) -> None:
    suite = CIPHER_SUITES[code]
    assert suite.mac is not None
    key, mac_key = os.urandom(suite.key_len), os.urandom(32)
    cbc = Tls12Cbc(suite, key, mac_key, bytes(16), version=0x0303, encrypt_then_mac=etm)
    for seq, plain in enumerate([b"x" * 31, b"", os.urandom(700)]):
        body = _cbc_seal(key, mac_key, suite.mac, os.urandom(16), seq, plain, etm=etm,
                         explicit=True)
        assert cbc.open(header(body), body, [seq]) == (seq, plain)
    body = _cbc_seal(key, mac_key, suite.mac, os.urandom(16), 9, b"data", etm=etm, explicit=True)
    with pytest.raises(RecordError) as err:
        cbc.open(header(body), body, [3])
    assert err.value.code == "bad_mac"
    with pytest.raises(RecordError) as err:
        cbc.open(header(body[:-1]), body[:-1], [9])
    assert err.value.code in ("bad_length", "bad_mac")


def test_tls10_cbc_chains_the_iv_across_records() -> None:
    # RFC 2246 §6.2.3.2: the IV of a record is the last ciphertext block of the one before.
    suite = CIPHER_SUITES[0x002F]
    key, mac_key, iv = os.urandom(16), os.urandom(20), os.urandom(16)
    cbc = Tls12Cbc(suite, key, mac_key, iv, version=0x0301, encrypt_then_mac=False)
    for seq, plain in enumerate([b"first record", b"second, longer record" * 3, b"3"]):
        body = _cbc_seal(key, mac_key, "sha1", iv, seq, plain, etm=False, explicit=False)
        assert cbc.open(header(body), body, [seq]) == (seq, plain)
        iv = body[-16:]


def test_tls12_key_block_layout() -> None:
    # RFC 5246 §6.3: client MAC, server MAC, client key, server key, client IV, server IV.
    suite = CIPHER_SUITES[0xC02F]
    master, cr, sr = os.urandom(48), os.urandom(32), os.urandom(32)
    block = prf("sha256", master, b"key expansion", sr + cr, 40)
    client, server = tls12_protections(suite, 0x0303, master, cr, sr, encrypt_then_mac=False)
    plain, explicit = b"ping", bytes(8)
    body = explicit + AESGCM(block[16:32]).encrypt(block[36:40] + explicit, plain,
                                                   _aad(0, 23, len(plain)))
    assert server.open(header(body), body, [0]) == (0, plain)
    with pytest.raises(RecordError):
        client.open(header(body), body, [0])


# --- the suite table -------------------------------------------------------------------------


def test_suite_table_is_consistent() -> None:
    names = [s.name for s in CIPHER_SUITES.values()]
    assert len(names) == len(set(names))
    for suite in CIPHER_SUITES.values():
        assert suite.name.startswith("TLS_")
        if suite.bulk is None:
            continue
        assert suite.key_len in (16, 32)
        assert suite.tls13 == (suite.code >> 8 == 0x13)
        assert (suite.mac is not None) == (suite.bulk == "AES-CBC")
        assert suite.tag_len == (8 if suite.name.endswith("_8") or "CCM_8_" in suite.name
                                 else 16)
        assert suite.prf == ("sha384" if suite.name.endswith("SHA384") else "sha256")


def test_suite_names() -> None:
    assert suite_name(0x1301) == "TLS_AES_128_GCM_SHA256"
    assert suite_name(0x2A2A) == "GREASE"
    assert suite_name(0x1234) == "0x1234"
    assert CIPHER_SUITES[0x000A].bulk is None  # 3DES: named, not decrypted
