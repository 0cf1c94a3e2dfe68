//! Header-extension confidentiality in the SRTP core: RFC 6904 (chosen
//! RFC 8285 elements encrypted, `Policy::encrypt_header_extensions`) and
//! RFC 9335 cryptex (CSRCs and the whole extension block encrypted,
//! `Policy::cryptex`).
//!
//! * Known answers, byte for byte, both ways: libsrtp 2.5's
//!   `srtp_validate_encrypted_extensions_headers` and `_gcm` packets (RFC
//!   6904 Appendix A's header, IDs 1, 3 and 4), and RFC 9335 Appendix A's
//!   twelve packets (AES-CM and AES-GCM; libsrtp's `srtp_validate_cryptex`
//!   and `srtp_validate_gcm_cryptex` carry the very same bytes).
//! * Round trips for every suite; a receiver with cryptex takes packets
//!   without it; an empty extension is added to a packet with CSRCs only.
//! * Properties over random extension layouts, IDs and CSRC counts:
//!   protect then unprotect restores the packet, verify leaves it as it
//!   came, any flipped bit fails, and with the options off (or on, for a
//!   packet with neither extension nor CSRCs) the output is what it was.
//! * Hostile extensions are `Malformed(BadExtension)`, never a panic.
//!
//! Sources of the numbers (data only): libsrtp v2.5.0 test/srtp_driver.c
//! (`srtp_validate_encrypted_extensions_headers{,_gcm}`); RFC 9335
//! Appendix A (draft-ietf-avtcore-cryptex-08, the text the RFC was
//! published from) and libsrtp main test/srtp_driver.c.

use proptest::prelude::*;
use rampart::error::MalformedKind;
use rampart::srtp::{BatchOp, Context, MasterKey, Policy, SsrcPolicy, Suite};
use rampart::Error;

mod support;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).expect("hex")
}

fn ctx(suite: Suite, key: &[u8], salt: &[u8], f: impl Fn(Policy) -> Policy) -> Context {
    let mk = MasterKey::new(suite, key, salt).unwrap();
    Context::new(f(Policy::new(suite, mk).ssrc(SsrcPolicy::Any))).unwrap()
}

fn protect(c: &mut Context, pkt: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = pkt.to_vec();
    buf.resize(pkt.len() + 64, 0);
    let n = c.protect_rtp(&mut buf, pkt.len())?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect(c: &mut Context, pkt: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = pkt.to_vec();
    let n = c.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// The same known answer through the batch path (`srtp::Batcher`) with
/// every engine, among filler packets: fresh contexts from `make` protect
/// `plain` to `want` and unprotect `want` back to `plain`.
fn batch_agrees(make: impl Fn() -> Context, plain: &[u8], want: &[u8], what: &str) {
    for engine in support::batch::engines() {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 64, 0);
        let n = support::batch::in_batch(
            engine,
            &mut make(),
            BatchOp::ProtectRtp,
            &mut buf,
            plain.len(),
        )
        .unwrap_or_else(|e| panic!("{what} ({}): protect: {e}", engine.name()));
        assert_eq!(
            hex::encode(&buf[..n]),
            hex::encode(want),
            "{what} ({})",
            engine.name()
        );
        let mut back = want.to_vec();
        let n = support::batch::in_batch(
            engine,
            &mut make(),
            BatchOp::UnprotectRtp,
            &mut back,
            want.len(),
        )
        .unwrap_or_else(|e| panic!("{what} ({}): unprotect: {e}", engine.name()));
        assert_eq!(&back[..n], plain, "{what} ({}): back", engine.name());
    }
}

// ---------------------------------------------------------------------------
// RFC 6904: libsrtp 2.5's known answers.

/// The master key and salt of RFC 3711 B.3 (and of libsrtp's vectors).
const KEY: &str = "e1f97a0d3e018be0d64fa32c06de4139";
const SALT: &str = "0ec675ad498afeebb6960b3aabe6";

/// libsrtp's plaintext: a one-byte extension with elements 1, 2, 3, 4
/// (IDs 1, 3 and 4 encrypted), padding, 16 payload bytes.
const XTN_PLAIN: &str =
    "900f1234decafbadcafebabe BEDE0006 17414273A4752627482200 00C8308E4655996386B395FB00
                         abababababababababababababababab";

/// srtp_validate_encrypted_extensions_headers (AES_CM_128_HMAC_SHA1_80).
const XTN_CM128: &str =
    "900f1234decafbadcafebabe BEDE0006 17588A9270F4E15E1C220000C83095 46A994F0BC54789700
                         4e55dc4ce79978d88ca4d215949d2402 5a46b3ca35c535a891c7";

/// srtp_validate_encrypted_extensions_headers_gcm: AES-128-GCM with an
/// 8-byte tag. GCM's tag is cut, not computed differently, so these are
/// the first 64 bytes of the AEAD_AES_128_GCM packet.
const XTN_GCM128_8: &str =
    "900f1234decafbadcafebabe BEDE0006 1712e0205bfa949b1C220000C830bb 46732778d9929aab00
                            0eca0cf95ee955b26cd3d288b49f6ca9 f4b1b759719eb5bc";

/// The last 8 bytes of that packet's full 16-byte GCM tag, as Debian's
/// libsrtp2 2.5 computes them (ffi/srtp2/tests/c/kat.c checks all 72
/// bytes against that library).
const XTN_GCM128_16_TAIL: &str = "113b9ff1d40cd25a";

#[test]
fn rfc6904_libsrtp_aes_cm_128() {
    let (key, salt) = (h(KEY), h(SALT));
    let ids = |p: Policy| p.encrypt_header_extensions(&[1, 3, 4]);
    let mut tx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, ids);
    let srtp = protect(&mut tx, &h(XTN_PLAIN)).unwrap();
    assert_eq!(hex::encode(&srtp), hex::encode(h(XTN_CM128)));
    let mut rx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, ids);
    assert_eq!(unprotect(&mut rx, &srtp).unwrap(), h(XTN_PLAIN));
    let make = || ctx(Suite::AesCm128HmacSha1_80, &key, &salt, ids);
    batch_agrees(make, &h(XTN_PLAIN), &h(XTN_CM128), "RFC 6904 AES-CM");
}

#[test]
fn rfc6904_libsrtp_aes_gcm_128() {
    let (key, salt) = (h(KEY), h(SALT));
    let ids = |p: Policy| p.encrypt_header_extensions(&[1, 3, 4]);
    let mut tx = ctx(Suite::AeadAes128Gcm, &key[..16], &salt[..12], ids);
    let srtp = protect(&mut tx, &h(XTN_PLAIN)).unwrap();
    assert_eq!(srtp.len(), 56 + 16);
    assert_eq!(hex::encode(&srtp[..64]), hex::encode(h(XTN_GCM128_8)));
    assert_eq!(hex::encode(&srtp[64..]), XTN_GCM128_16_TAIL);
    let mut rx = ctx(Suite::AeadAes128Gcm, &key[..16], &salt[..12], ids);
    assert_eq!(unprotect(&mut rx, &srtp).unwrap(), h(XTN_PLAIN));
}

#[test]
fn rfc6904_only_listed_ids_change() {
    let (key, salt) = (h(KEY), h(SALT));
    let mut plain = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| p);
    let mut none = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| {
        p.encrypt_header_extensions(&[5, 6, 200])
    });
    // IDs not in the packet: the same bytes as without the option.
    let a = protect(&mut plain, &h(XTN_PLAIN)).unwrap();
    let b = protect(&mut none, &h(XTN_PLAIN)).unwrap();
    assert_eq!(a, b);
    // And the header of the vector: element 2 (ID 2) stays clear.
    let v = h(XTN_CM128);
    assert_eq!(&v[..16], &h(XTN_PLAIN)[..16]);
    assert_eq!(v[25..29], h(XTN_PLAIN)[25..29]);
}

// ---------------------------------------------------------------------------
// RFC 9335 Appendix A.

/// (name, plaintext, AES_CM_128_HMAC_SHA1_80 packet, AEAD_AES_128_GCM
/// packet).
type Vector = (&'static str, &'static str, &'static str, &'static str);

const CRYPTEX: &[Vector] = &[
    (
        "1-byte header extension",
        "900f1235 decafbad cafebabe bede0001 51000200 abababab abababab abababab abababab",
        "900f1235 decafbad cafebabe c0de0001 eb923652 51c3e036 f8de27e9 c27ee3e0 b4651d9f
         bc4218a7 0244522f 34a5",
        "900f1235 decafbad cafebabe c0de0001 39972dc9 572c4d99 e8fc355d e743fb2e 94f9d8ff
         54e72f41 93bbc5c7 4ffab0fa 9fa0fbeb",
    ),
    (
        "2-byte header extension",
        "900f1236 decafbad cafebabe 10000001 05020002 abababab abababab abababab abababab",
        "900f1236 decafbad cafebabe c2de0001 4ed9cc4e 6a712b30 96c5ca77 339d4204 ce0d7739
         6cab6958 5fbce381 94a5",
        "900f1236 decafbad cafebabe c2de0001 bb75a4c5 45cd1f41 3bdb7daa 2b1e3263 de313667
         c9632490 81b35a65 f5cb6c88 b394235f",
    ),
    (
        "1-byte header extension and CSRC fields",
        "920f1238 decafbad cafebabe 0001e240 0000b26e bede0001 51000200 abababab abababab
         abababab abababab",
        "920f1238 decafbad cafebabe 8bb6e12b 5cff16dd c0de0001 92838c8c 09e58393 e1de3a9a
         74734d67 45671338 c3acf11d a2df8423 bee0",
        "920f1238 decafbad cafebabe 63bbccc4 a7f695c4 c0de0001 8ad7c71f ac70a80c 92866b4c
         6ba98546 ef913586 e95ffaaf fe956885 bb0647a8 bc094ac8",
    ),
    (
        "2-byte header extension and CSRC fields",
        "920f1239 decafbad cafebabe 0001e240 0000b26e 10000001 05020002 abababab abababab
         abababab abababab",
        "920f1239 decafbad cafebabe f70e513e b90b9b25 c2de0001 bbed4848 faa64466 5f3d7f34
         125914e9 f4d0ae92 3c6f479b 95a0f7b5 3133",
        "920f1239 decafbad cafebabe 3680524f 8d312b00 c2de0001 c78d1200 38422bc1 11a7187a
         18246f98 0c059cc6 bc9df8b6 26394eca 344e4b05 d80fea83",
    ),
    (
        "empty 1-byte header extension and CSRC fields",
        "920f123a decafbad cafebabe 0001e240 0000b26e bede0000 abababab abababab abababab
         abababab",
        "920f123a decafbad cafebabe 7130b6ab fe2ab0e3 c0de0000 e3d9f64b 25c9e74c b4cf8e43
         fb92e378 1c2c0cea b6b3a499 a14c",
        "920f123a decafbad cafebabe 15b6bb43 37906fff c0de0000 b7b96453 7a2b03ab 7ba5389c
         e9331712 6b5d974d f30c6884 dcb651c5 e120c1da",
    ),
    (
        "empty 2-byte header extension and CSRC fields",
        "920f123b decafbad cafebabe 0001e240 0000b26e 10000000 abababab abababab abababab
         abababab",
        "920f123b decafbad cafebabe cbf24c12 4330e1c8 c2de0000 599dd45b c9d687b6 03e8b59d
         771fd38e 88b170e0 cd31e125 eabe",
        "920f123b decafbad cafebabe dcb38c9e 48bf95f4 c2de0000 61ee432c f9203170 76613258
         d3ce4236 c06ac429 681ad084 13512dc9 8b5207d8",
    ),
];

/// RFC 9335 A.2's AEAD master key and salt.
const GCM_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const GCM_SALT: &str = "a0a1a2a3a4a5a6a7a8a9aaab";

fn cryptex_vectors(suite: Suite, key: &str, salt: &str, pick: fn(&Vector) -> &'static str) {
    let (key, salt) = (h(key), h(salt));
    for v in CRYPTEX {
        let on = |p: Policy| p.cryptex(true);
        let mut tx = ctx(suite, &key, &salt, on);
        let srtp = protect(&mut tx, &h(v.1)).unwrap();
        assert_eq!(
            hex::encode(&srtp),
            hex::encode(h(pick(v))),
            "{:?} {}",
            suite,
            v.0
        );
        let mut rx = ctx(suite, &key, &salt, on);
        assert_eq!(
            unprotect(&mut rx, &srtp).unwrap(),
            h(v.1),
            "{:?} {}",
            suite,
            v.0
        );
        // Verify leaves the packet as it came.
        let mut rx = ctx(suite, &key, &salt, on);
        let mut same = srtp.clone();
        assert_eq!(rx.verify_rtp(&mut same).unwrap(), h(v.1).len());
        assert_eq!(same, srtp);
        let what = format!("{suite:?} {}", v.0);
        batch_agrees(|| ctx(suite, &key, &salt, on), &h(v.1), &h(pick(v)), &what);
    }
}

#[test]
fn rfc9335_aes_cm_128() {
    cryptex_vectors(Suite::AesCm128HmacSha1_80, KEY, SALT, |v| v.2);
}

#[test]
fn rfc9335_aes_gcm_128() {
    cryptex_vectors(Suite::AeadAes128Gcm, GCM_KEY, GCM_SALT, |v| v.3);
}

/// RFC 9335 §5.1: a packet with CSRCs and no extension gets an empty
/// 0xC0DE one. The "empty 1-byte header extension and CSRC fields" vector
/// is exactly that packet once the extension is added (X set), so the
/// packet without it must protect to the same bytes.
#[test]
fn rfc9335_empty_extension_added_for_csrcs() {
    for (suite, key, salt, pick) in [
        (Suite::AesCm128HmacSha1_80, KEY, SALT, CRYPTEX[4].2),
        (Suite::AeadAes128Gcm, GCM_KEY, GCM_SALT, CRYPTEX[4].3),
    ] {
        let mut plain = h(CRYPTEX[4].1);
        plain.drain(20..24);
        plain[0] &= !0x10;
        let on = |p: Policy| p.cryptex(true);
        let mut tx = ctx(suite, &h(key), &h(salt), on);
        let srtp = protect(&mut tx, &plain).unwrap();
        assert_eq!(hex::encode(&srtp), hex::encode(h(pick)), "{suite:?}");
        // The receiver keeps the (now clear) empty extension: RFC 9335 §5.2.
        let mut rx = ctx(suite, &h(key), &h(salt), on);
        assert_eq!(unprotect(&mut rx, &srtp).unwrap(), h(CRYPTEX[4].1));
        // Without 4 bytes of room for the extension, nothing is written.
        let mut buf = plain.clone();
        buf.resize(plain.len() + suite.srtp_tag_len() + 3, 0);
        let before = buf.clone();
        let mut tx = ctx(suite, &h(key), &h(salt), on);
        assert!(matches!(
            tx.protect_rtp(&mut buf, plain.len()),
            Err(Error::BufferTooSmall { .. })
        ));
        assert_eq!(buf, before);
    }
}

/// RFC 9335 §5.2: a receiver with cryptex takes packets without it.
#[test]
fn cryptex_receiver_takes_plain_packets() {
    for v in CRYPTEX {
        let (key, salt) = (h(KEY), h(SALT));
        let mut tx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| p);
        let srtp = protect(&mut tx, &h(v.1)).unwrap();
        let mut rx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| p.cryptex(true));
        assert_eq!(unprotect(&mut rx, &srtp).unwrap(), h(v.1), "{}", v.0);
    }
}

/// Cryptex wins on send when both are configured (RFC 9335 §4: never both
/// on one packet); a receiver with both takes either kind.
#[test]
fn cryptex_and_rfc6904_together() {
    let (key, salt) = (h(KEY), h(SALT));
    let both = |p: Policy| p.cryptex(true).encrypt_header_extensions(&[1, 3, 4, 5]);
    let mut tx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, both);
    let srtp = protect(&mut tx, &h(CRYPTEX[0].1)).unwrap();
    assert_eq!(srtp, h(CRYPTEX[0].2));
    let mut tx6904 = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| {
        p.encrypt_header_extensions(&[1, 3, 4])
    });
    let e = protect(&mut tx6904, &h(XTN_PLAIN)).unwrap();
    let mut rx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, both);
    assert_eq!(unprotect(&mut rx, &srtp).unwrap(), h(CRYPTEX[0].1));
    // IDs 1, 3, 4 and 5 on receive: the vector has no element 5.
    assert_eq!(unprotect(&mut rx, &e).unwrap(), h(XTN_PLAIN));
}

/// `Context::set_cryptex` switches a context in use.
#[test]
fn set_cryptex_switches() {
    let (key, salt) = (h(KEY), h(SALT));
    let mut tx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| p);
    assert!(!tx.cryptex());
    tx.set_cryptex(true);
    assert!(tx.cryptex());
    assert_eq!(protect(&mut tx, &h(CRYPTEX[0].1)).unwrap(), h(CRYPTEX[0].2));
    tx.set_cryptex(false);
    let clear = protect(&mut tx, &h(CRYPTEX[1].1)).unwrap();
    assert_eq!(&clear[12..14], &[0x10, 0x00]);
}

/// Without SRTP encryption (or with a NULL suite) neither option changes
/// a byte, as in libsrtp.
#[test]
fn options_need_srtp_encryption() {
    let (key, salt) = (h(KEY), h(SALT));
    for suite in [Suite::AesCm128HmacSha1_80, Suite::NullHmacSha1_80] {
        let all = |p: Policy| {
            p.encrypt_rtp(false)
                .cryptex(true)
                .encrypt_header_extensions(&[1, 2, 3, 4])
        };
        let mut a = ctx(suite, &key, &salt, |p| p.encrypt_rtp(false));
        let mut b = ctx(suite, &key, &salt, all);
        for v in CRYPTEX {
            assert_eq!(protect(&mut a, &h(v.1)), protect(&mut b, &h(v.1)));
        }
        assert!(!b.encrypts_header_extensions());
    }
}

// ---------------------------------------------------------------------------
// Every suite.

fn suite_ctx(suite: Suite, seed: u8, f: impl Fn(Policy) -> Policy) -> Context {
    let key: Vec<u8> = (0..suite.master_key_len() as u8)
        .map(|i| i ^ seed)
        .collect();
    let salt: Vec<u8> = (0..suite.master_salt_len() as u8)
        .map(|i| i.wrapping_mul(7) ^ seed)
        .collect();
    ctx(suite, &key, &salt, f)
}

#[test]
fn round_trip_every_suite() {
    let packets = [XTN_PLAIN, CRYPTEX[2].1, CRYPTEX[3].1, CRYPTEX[5].1];
    for suite in Suite::ALL {
        for (name, f) in [
            (
                "rfc6904",
                (|p: Policy| p.encrypt_header_extensions(&[1, 3, 4, 5])) as fn(Policy) -> Policy,
            ),
            ("cryptex", |p: Policy| p.cryptex(true)),
        ] {
            let mut tx = suite_ctx(suite, 3, f);
            let mut rx = suite_ctx(suite, 3, f);
            let mut clear = suite_ctx(suite, 3, |p| p);
            for p in packets {
                let p = h(p);
                let srtp = protect(&mut tx, &p).unwrap();
                let plain = protect(&mut clear, &p).unwrap();
                let empty = p[p.len() - 20..p.len() - 16] == [0x10, 0, 0, 0];
                if suite.encrypts() && !(empty && name == "rfc6904") {
                    // Header bytes past the fixed header changed.
                    assert_ne!(
                        srtp[12..p.len() - 16],
                        plain[12..p.len() - 16],
                        "{suite:?} {name}"
                    );
                } else {
                    assert_eq!(srtp, plain, "{suite:?} {name}");
                }
                assert_eq!(unprotect(&mut rx, &srtp).unwrap(), p, "{suite:?} {name}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Hostile extensions.

#[test]
fn malformed_extensions_are_refused() {
    let bad = Err(Error::Malformed(MalformedKind::BadExtension));
    let base = h("900f1234decafbadcafebabe");
    let cases: &[(&str, &str)] = &[
        // One-byte element of 16 bytes in a 4-byte block.
        ("BEDE0001", "1f000000"),
        // Second element runs past.
        ("BEDE0001", "10aa2300"),
        // Two-byte element of 9 bytes in a 4-byte block.
        ("10000001", "01090000"),
        // Not an RFC 8285 profile.
        ("ABAC0001", "01020304"),
    ];
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes256Gcm] {
        for (xh, body) in cases {
            let mut p = base.clone();
            p[0] |= 0x10;
            p.extend(h(xh));
            p.extend(h(body));
            p.extend([0xab; 8]);
            let mut tx = suite_ctx(suite, 1, |p| p.encrypt_header_extensions(&[1, 2]));
            let mut buf = p.clone();
            buf.resize(p.len() + 32, 0);
            let before = buf.clone();
            assert_eq!(tx.protect_rtp(&mut buf, p.len()).map(|_| ()), bad.clone());
            assert_eq!(buf, before, "a refused packet is left as it came");
            assert_eq!(tx.stats().rtp_protected, 0);
            // Authentic (sent without the option) but not walkable.
            let mut clear = suite_ctx(suite, 1, |p| p);
            let srtp = protect(&mut clear, &p).unwrap();
            let mut rx = suite_ctx(suite, 1, |p| p.encrypt_header_extensions(&[1, 2]));
            assert_eq!(unprotect(&mut rx, &srtp).map(|_| ()), bad.clone());
            // Nothing was committed: the same packet, without the option,
            // is still fresh for a receiver state that saw the refusal.
            assert_eq!(rx.stream_count(), 0);
            // Cryptex refuses a non-RFC 8285 profile too.
            if xh.starts_with("ABAC") {
                let mut tx = suite_ctx(suite, 1, |p| p.cryptex(true));
                assert_eq!(protect(&mut tx, &p).map(|_| ()), bad.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Properties.

/// A random RTP packet with an RFC 8285 extension (one- or two-byte), or
/// none, CSRCs and a payload.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..=15,
        prop_oneof![Just(0u8), Just(1), Just(2)],
        prop::collection::vec((0u8..=255, 0usize..=20, 0usize..=3), 0..6),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<u16>(),
        any::<u32>(),
    )
        .prop_map(|(cc, form, elems, payload, seq, ssrc)| {
            let mut p = vec![0x80 | cc as u8, 0x60];
            p.extend(seq.to_be_bytes());
            p.extend([1, 2, 3, 4]);
            p.extend(ssrc.to_be_bytes());
            for i in 0..cc {
                p.extend((0x1000_0000u32 + i as u32).to_be_bytes());
            }
            if form > 0 {
                p[0] |= 0x10;
                let mut body = Vec::new();
                for (id, len, pad) in elems {
                    if form == 1 {
                        let id = 1 + id % 14;
                        let len = 1 + len % 16;
                        body.push(id << 4 | (len as u8 - 1));
                        body.extend((0..len).map(|i| id.wrapping_add(i as u8) | 0x80));
                    } else {
                        // ID 0 is padding in the two-byte form.
                        let id = id.max(1);
                        body.push(id);
                        body.push(len as u8);
                        body.extend((0..len).map(|i| id ^ (i as u8) | 1));
                    }
                    body.extend(std::iter::repeat_n(0, pad));
                }
                while body.len() % 4 != 0 {
                    body.push(0);
                }
                let profile: u16 = if form == 1 { 0xBEDE } else { 0x1000 };
                p.extend(profile.to_be_bytes());
                p.extend(((body.len() / 4) as u16).to_be_bytes());
                p.extend(body);
            }
            p.extend(payload);
            p
        })
}

fn options() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (prop::collection::vec(0u8..=20, 0..6), any::<bool>())
}

fn configured(ids: &[u8], cryptex: bool) -> impl Fn(Policy) -> Policy + '_ {
    move |p: Policy| p.encrypt_header_extensions(ids).cryptex(cryptex)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn protect_then_unprotect_restores(
        pkt in packet(),
        (ids, cryptex) in options(),
        s in 0usize..Suite::ALL.len(),
    ) {
        let suite = Suite::ALL[s];
        let mut tx = suite_ctx(suite, 9, configured(&ids, cryptex));
        let mut rx = suite_ctx(suite, 9, configured(&ids, cryptex));
        let srtp = protect(&mut tx, &pkt).unwrap();
        let mut same = srtp.clone();
        let mut verifier = suite_ctx(suite, 9, configured(&ids, cryptex));
        verifier.verify_rtp(&mut same).unwrap();
        prop_assert_eq!(&same, &srtp);
        let back = unprotect(&mut rx, &srtp).unwrap();
        let cc = usize::from(pkt[0] & 0x0f);
        if cryptex && suite.encrypts() && pkt[0] & 0x10 == 0 && cc > 0 {
            // The empty extension added on send stays (RFC 9335 §5.2).
            let at = 12 + 4 * cc;
            let mut want = pkt.clone();
            want[0] |= 0x10;
            want.splice(at..at, [0xBE, 0xDE, 0, 0]);
            prop_assert_eq!(back, want);
        } else {
            prop_assert_eq!(back, pkt);
        }
    }

    #[test]
    fn every_flipped_bit_fails(
        pkt in packet(),
        (ids, cryptex) in options(),
        s in 0usize..Suite::ALL.len(),
        bit in any::<prop::sample::Index>(),
    ) {
        let suite = Suite::ALL[s];
        let mut tx = suite_ctx(suite, 5, configured(&ids, cryptex));
        let mut srtp = protect(&mut tx, &pkt).unwrap();
        let b = bit.index(srtp.len() * 8);
        srtp[b / 8] ^= 1 << (b % 8);
        let mut rx = suite_ctx(suite, 5, configured(&ids, cryptex));
        prop_assert!(unprotect(&mut rx, &srtp).is_err());
        prop_assert_eq!(rx.stream_count(), 0);
    }

    /// Options off, or on for a packet with neither CSRCs nor extension:
    /// the same bytes as a context without them.
    #[test]
    fn nothing_changes_without_extensions(
        pkt in packet(),
        (ids, _) in options(),
        s in 0usize..Suite::ALL.len(),
    ) {
        let suite = Suite::ALL[s];
        let mut plain = suite_ctx(suite, 7, |p| p);
        let mut off = suite_ctx(suite, 7, |p| p.encrypt_header_extensions(&[]).cryptex(false));
        let want = protect(&mut plain, &pkt).unwrap();
        prop_assert_eq!(&protect(&mut off, &pkt).unwrap(), &want);
        // The same bytes with neither CSRCs nor extension (the X bit and
        // CSRC count cleared): the options change nothing.
        let mut bare = pkt.clone();
        bare[0] &= 0xe0;
        let mut plain = suite_ctx(suite, 7, |p| p);
        let want = protect(&mut plain, &bare).unwrap();
        for cryptex in [false, true] {
            let mut on = suite_ctx(suite, 7, configured(&ids, cryptex));
            prop_assert_eq!(&protect(&mut on, &bare).unwrap(), &want);
        }
    }

    /// Arbitrary bytes with an extension never panic, on either side.
    #[test]
    fn arbitrary_extensions_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 12..120),
        (ids, cryptex) in options(),
        s in 0usize..Suite::ALL.len(),
    ) {
        let suite = Suite::ALL[s];
        bytes[0] = 0x90 | (bytes[0] & 0x0f);
        let mut tx = suite_ctx(suite, 2, configured(&ids, cryptex));
        let mut buf = bytes.clone();
        buf.resize(bytes.len() + 40, 0);
        let _ = tx.protect_rtp(&mut buf, bytes.len());
        let mut rx = suite_ctx(suite, 2, configured(&ids, cryptex));
        let _ = rx.unprotect_rtp(&mut bytes.clone());
        // And an authentic packet with those header bytes.
        let mut clear = suite_ctx(suite, 2, |p| p);
        if let Ok(srtp) = protect(&mut clear, &bytes) {
            let r = unprotect(&mut rx, &srtp);
            prop_assert!(
                r.is_ok() || r == Err(Error::Malformed(MalformedKind::BadExtension)),
                "{:?}", r
            );
        }
    }
}

// ---------------------------------------------------------------------------
// `Context::set_encrypted_extensions`: the same bytes as the policy option.

/// Protects `pkts` with `tx` and unprotects them with `rx`, in order;
/// the SRTP packets in hex.
fn run_through(tx: &mut Context, rx: &mut Context, pkts: &[Vec<u8>]) -> Vec<String> {
    pkts.iter()
        .map(|p| {
            let srtp = protect(tx, p).unwrap();
            assert_eq!(&unprotect(rx, &srtp).unwrap(), p);
            hex::encode(srtp)
        })
        .collect()
}

/// A context configured by the setter (before its first packet, and
/// after packets without it) protects and unprotects exactly as one
/// configured by `Policy::encrypt_header_extensions`, for CM and GCM
/// suites, with several master keys (MKI) and with a key derivation rate.
#[test]
fn set_encrypted_extensions_matches_the_policy_option() {
    let ids = [1u8, 3, 4];
    for suite in [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm256HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
    ] {
        for kdr in [0u64, 4] {
            let key2: Vec<u8> = (0..suite.master_key_len() as u8).map(|i| !i).collect();
            let salt2: Vec<u8> = (0..suite.master_salt_len() as u8).collect();
            let make = |f: &dyn Fn(Policy) -> Policy| {
                let k1: Vec<u8> = (0..suite.master_key_len() as u8)
                    .map(|i| i ^ 0x5a)
                    .collect();
                let s1: Vec<u8> = (0..suite.master_salt_len() as u8)
                    .map(|i| i ^ 0xa5)
                    .collect();
                let mk1 = MasterKey::new(suite, &k1, &s1).unwrap().with_mki(&[1]);
                let mk2 = MasterKey::new(suite, &key2, &salt2).unwrap().with_mki(&[2]);
                let p = Policy::new(suite, mk1)
                    .add_key(mk2)
                    .key_derivation_rate(kdr)
                    .ssrc(SsrcPolicy::Any);
                Context::new(f(p)).unwrap()
            };
            let with = |p: Policy| p.encrypt_header_extensions(&ids);
            let seqs = |r: std::ops::Range<u16>| -> Vec<Vec<u8>> {
                r.map(|seq| {
                    let mut p = h(XTN_PLAIN);
                    p[2..4].copy_from_slice(&seq.to_be_bytes());
                    p
                })
                .collect()
            };
            let pkts = seqs(0x1234..0x1240);

            // Set before the first packet.
            let (mut tx_p, mut rx_p) = (make(&with), make(&with));
            let (mut tx_s, mut rx_s) = (make(&|p| p), make(&|p| p));
            assert!(!tx_s.encrypts_header_extensions());
            tx_s.set_encrypted_extensions(&ids).unwrap();
            rx_s.set_encrypted_extensions(&ids).unwrap();
            assert!(tx_s.encrypts_header_extensions());
            let a = run_through(&mut tx_p, &mut rx_p, &pkts);
            let b = run_through(&mut tx_s, &mut rx_s, &pkts);
            assert_eq!(a, b, "{suite:?} kdr {kdr}: set before the first packet");
            // The elements really are encrypted (ID 2's stays clear).
            assert_ne!(b[0][32..50], hex::encode(&pkts[0][16..25]), "{suite:?}");
            // The second key (its header key derived by the setter too).
            for c in [&mut tx_p, &mut tx_s, &mut rx_p, &mut rx_s] {
                c.set_active_mki(&[2]).unwrap();
            }
            let a = run_through(&mut tx_p, &mut rx_p, &seqs(0x1240..0x1242));
            let b = run_through(&mut tx_s, &mut rx_s, &seqs(0x1240..0x1242));
            assert_eq!(a, b, "{suite:?} kdr {kdr}: second key");

            // Set in flight, after packets without it: from the next
            // packet on, the same bytes as the policy option (with a key
            // derivation rate, keys of the current epoch are cached
            // already and get their header key too).
            let (mut tx_s, mut rx_s) = (make(&|p| p), make(&|p| p));
            let mut tx_plain = make(&|p| p);
            let (first, rest) = pkts.split_at(6);
            let before = run_through(&mut tx_s, &mut rx_s, first);
            assert_eq!(before, run_through(&mut tx_plain, &mut make(&|p| p), first));
            tx_s.set_encrypted_extensions(&ids).unwrap();
            rx_s.set_encrypted_extensions(&ids).unwrap();
            let (mut tx_p, mut rx_p) = (make(&with), make(&with));
            let all_p = run_through(&mut tx_p, &mut rx_p, &pkts);
            let after = run_through(&mut tx_s, &mut rx_s, rest);
            assert_eq!(after, all_p[6..], "{suite:?} kdr {kdr}: set in flight");

            // Off again: the bytes of a context without it.
            tx_s.set_encrypted_extensions(&[]).unwrap();
            rx_s.set_encrypted_extensions(&[]).unwrap();
            assert!(!tx_s.encrypts_header_extensions());
            let p = seqs(0x2000..0x2001);
            let off = run_through(&mut tx_s, &mut rx_s, &p);
            let plain = run_through(&mut tx_plain, &mut make(&|p| p), &p);
            assert_eq!(off, plain, "{suite:?} kdr {kdr}: off again");
        }
    }
}

/// The setter gives libsrtp's RFC 6904 known answer, and a key added
/// after it gets its header key as one added to a policy-built context.
#[test]
fn set_encrypted_extensions_known_answer() {
    let (key, salt) = (h(KEY), h(SALT));
    let mut tx = ctx(Suite::AesCm128HmacSha1_80, &key, &salt, |p| p);
    tx.set_encrypted_extensions(&[1, 3, 4]).unwrap();
    assert_eq!(
        hex::encode(protect(&mut tx, &h(XTN_PLAIN)).unwrap()),
        hex::encode(h(XTN_CM128))
    );
    // Where SRTP is not encrypted the setter changes nothing, as the policy.
    for (suite, f) in [
        (
            Suite::AesCm128HmacSha1_80,
            (|p: Policy| p.encrypt_rtp(false)) as fn(Policy) -> Policy,
        ),
        (Suite::NullHmacSha1_80, |p: Policy| p),
    ] {
        let mut c = ctx(suite, &key, &salt, f);
        c.set_encrypted_extensions(&[1, 3, 4]).unwrap();
        assert!(!c.encrypts_header_extensions());
        let mut plain = ctx(suite, &key, &salt, f);
        assert_eq!(
            protect(&mut c, &h(XTN_PLAIN)),
            protect(&mut plain, &h(XTN_PLAIN))
        );
    }
}
