#!/usr/bin/env python3
"""Computes kat.c's AEAD_AES_256_GCM reference packets (libsrtp has none).

An implementation independent of both libraries under test: RFC 3711
section 4.3 key derivation (AES-CM PRF, key derivation rate 0; a 96-bit GCM
master salt padded to 112 bits as libsrtp does, RFC 7714 section 11) and
RFC 7714 AEAD (sections 8 and 9) over pyca/cryptography. Before printing, it
checks itself against libsrtp 2.3.0 test/srtp_driver.c's AES-CM-128,
AES-256-CM and AES-GCM-128 (SRTP and SRTCP) reference packets, byte for byte.
Not run by the tests (it needs `cryptography`): run it by hand to re-derive
the bytes in kat.c.
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def aes_ctr(key, iv16, n):
    e = Cipher(algorithms.AES(key), modes.CTR(iv16)).encryptor()
    return e.update(b"\0" * n) + e.finalize()


def kdf(mkey, msalt, label, n):
    # x = key_id XOR master_salt (112 bits), keystream from IV = x * 2^16.
    x = bytearray(msalt + b"\0" * (14 - len(msalt)))
    x[7] ^= label
    return aes_ctr(mkey, bytes(x) + b"\0\0", n)


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def gcm_srtp(mkey, msalt, pkt, roc=0):
    k, s = kdf(mkey, msalt, 0, len(mkey)), kdf(mkey, msalt, 2, 12)
    iv = xor(b"\0\0" + pkt[8:12] + struct.pack(">I", roc) + pkt[2:4], s)
    return pkt[:12] + AESGCM(k).encrypt(iv, pkt[12:], pkt[:12])


def gcm_srtcp(mkey, msalt, pkt, index=1):
    k, s = kdf(mkey, msalt, 3, len(mkey)), kdf(mkey, msalt, 5, 12)
    eidx = struct.pack(">I", 0x80000000 | index)
    iv = xor(b"\0\0" + pkt[4:8] + b"\0\0" + struct.pack(">I", index), s)
    return pkt[:8] + AESGCM(k).encrypt(iv, pkt[8:], pkt[:8] + eidx) + eidx


def cm_srtp(mkey, msalt, pkt, roc=0):
    ke = kdf(mkey, msalt, 0, len(mkey))
    ka, ks = kdf(mkey, msalt, 1, 20), kdf(mkey, msalt, 2, 14)
    idx = struct.pack(">IH", roc, int.from_bytes(pkt[2:4], "big"))
    iv = xor(ks + b"\0\0", b"\0\0\0\0" + pkt[8:12] + idx + b"\0\0")
    out = pkt[:12] + xor(pkt[12:], aes_ctr(ke, iv, len(pkt) - 12))
    return out + hmac.new(ka, out + struct.pack(">I", roc), hashlib.sha1).digest()[:10]


H = bytes.fromhex
RTP = H("800f1234decafbadcafebabe") + b"\xab" * 16
RTCP = H("81c8000bcafebabe") + b"\xab" * 16

# srtp_driver.c: srtp_validate, srtp_validate_aes_256, srtp_validate_gcm.
k = H("e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6")
assert cm_srtp(k[:16], k[16:], RTP) == H(
    "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb")
k = H("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6"
      "3b04803de51ee7c96423ab5b78d2")
assert cm_srtp(k[:32], k[32:], RTP) == H(
    "800f1234decafbadcafebabef1d9de17ff251ff1aa007774b0b4b40da08d9d9a5b3a55d8873b")
k = H("000102030405060708090a0b0c0d0e0fa0a1a2a3a4a5a6a7a8a9aaab")
assert gcm_srtp(k[:16], k[16:], RTP) == H(
    "800f1234decafbadcafebabec5002ede04cfdd2eb91159e0880aa06ed2976826"
    "f796b201df3131a127e8a392")
assert gcm_srtcp(k[:16], k[16:], RTCP) == H(
    "81c8000bcafebabec98b8b5df0392a55852b6c21ac8e7025c52c6fbea2b3b446"
    "ea31123ba88ce61e80000001")


def c_bytes(b):
    return ",\n".join("    " + ", ".join("0x%02x" % x for x in b[i:i + 8])
                      for i in range(0, len(b), 8))


# AEAD_AES_256_GCM: master key 00..1f, srtp_validate_gcm's salt a0..ab.
k = bytes(range(32)) + H("a0a1a2a3a4a5a6a7a8a9aaab")
print("gcm256_key\n" + c_bytes(k))
print("gcm256_srtp\n" + c_bytes(gcm_srtp(k[:32], k[32:], RTP)))
print("gcm256_srtcp\n" + c_bytes(gcm_srtcp(k[:32], k[32:], RTCP)))
