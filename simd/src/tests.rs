//! Every engine against the `hmac` crate, on lengths around every block
//! boundary, mixed lengths and keys per call, and partly filled calls.

use super::*;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha1::Sha1;

/// The pad states of `key` (keys up to 64 bytes), computed from the
/// reference SHA-1.
fn pads(key: &[u8]) -> ([u32; 5], [u32; 5]) {
    let state = |pad: u8| {
        let mut block = [pad; 64];
        for (b, k) in block.iter_mut().zip(key) {
            *b ^= k;
        }
        let mut s = SHA1_IV;
        sha1::compress(&mut s, &[block.into()]);
        s
    };
    (state(0x36), state(0x5c))
}

fn reference(key: &[u8], data: &[u8], trailer: &[u8]) -> [u8; 20] {
    let mut m = Hmac::<Sha1>::new_from_slice(key).unwrap();
    m.update(data);
    m.update(trailer);
    m.finalize().into_bytes().into()
}

fn engines() -> Vec<Lanes> {
    let e: Vec<Lanes> = [Lanes::X16Avx512, Lanes::X8Avx2]
        .into_iter()
        .filter(|l| l.available())
        .collect();
    // These machines have both; a CPU without them would test nothing.
    assert!(
        std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some() || e.len() == 2,
        "this CPU lacks AVX2 or AVX-512: {e:?}"
    );
    e
}

/// Runs `cases` through `lanes` in calls of up to its width and checks
/// each against the reference.
fn check(lanes: Lanes, cases: &[(Vec<u8>, Vec<u8>, Vec<u8>)]) {
    let keyed: Vec<_> = cases.iter().map(|(k, _, _)| pads(k)).collect();
    for (chunk, keys) in cases.chunks(lanes.width()).zip(keyed.chunks(lanes.width())) {
        let inputs: Vec<HmacInput<'_>> = chunk
            .iter()
            .zip(keys)
            .map(|((_, d, t), (i, o))| HmacInput {
                inner: i,
                outer: o,
                data: d,
                trailer: t,
            })
            .collect();
        let mut out = vec![[0u8; 20]; inputs.len()];
        hmac_sha1(lanes, &inputs, &mut out).unwrap();
        for ((k, d, t), mac) in chunk.iter().zip(&out) {
            assert_eq!(*mac, reference(k, d, t), "{lanes:?} len {}", d.len());
        }
    }
}

#[test]
fn every_length_up_to_300_and_mtu_sizes() {
    let data: Vec<u8> = (0..1600u32).map(|i| (i * 31 + 7) as u8).collect();
    for lanes in engines() {
        let mut cases = Vec::new();
        for len in (0..300).chain([1188, 1200, 1472, 1500, 1600]) {
            for trailer in [&[][..], &[1, 2, 3, 4][..]] {
                let key = vec![len as u8 ^ 0x5a; 20];
                cases.push((key, data[..len].to_vec(), trailer.to_vec()));
            }
        }
        check(lanes, &cases);
    }
}

#[test]
fn one_input_and_long_trailers() {
    for lanes in engines() {
        check(lanes, &[(vec![7; 20], b"abc".to_vec(), vec![])]);
        check(
            lanes,
            &[(vec![7; 64], vec![9; 63], vec![3; MAX_TRAILER_LEN])],
        );
    }
}

#[test]
fn refusals() {
    let (i, o) = pads(b"k");
    let input = HmacInput {
        inner: &i,
        outer: &o,
        data: b"x",
        trailer: &[0; MAX_TRAILER_LEN + 1],
    };
    let mut out = [[0u8; 20]; 17];
    for lanes in engines() {
        assert_eq!(
            hmac_sha1(lanes, &[input], &mut out),
            Err(Refused::TrailerTooLong)
        );
        let ok = HmacInput {
            trailer: &[],
            ..input
        };
        let many = vec![ok; lanes.width() + 1];
        assert_eq!(hmac_sha1(lanes, &many, &mut out), Err(Refused::TooMany));
        assert_eq!(
            hmac_sha1(lanes, &[ok, ok], &mut out[..1]),
            Err(Refused::TooMany)
        );
        assert_eq!(hmac_sha1(lanes, &[], &mut out), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// A call of random size, each lane with its own key, length and
    /// trailer.
    #[test]
    fn mixed_calls_match_the_reference(
        cases in prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 0..=64),
                prop::collection::vec(any::<u8>(), 0..1300),
                prop::collection::vec(any::<u8>(), 0..=4),
            ),
            1..=16,
        )
    ) {
        for lanes in engines() {
            check(lanes, &cases);
        }
    }
}

mod aes_ctr {
    use crate::aes::AesCtrKey;
    use aes::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    use proptest::prelude::*;

    fn reference(key: &[u8], iv: &[u8; 16], offset: usize, data: &mut [u8]) {
        macro_rules! run {
            ($c:ty) => {{
                let mut c = ctr::Ctr128BE::<$c>::new_from_slices(key, iv).unwrap();
                c.seek(offset as u64);
                c.apply_keystream(data);
            }};
        }
        match key.len() {
            16 => run!(aes::Aes128),
            24 => run!(aes::Aes192),
            _ => run!(aes::Aes256),
        }
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 16),
            proptest::collection::vec(any::<u8>(), 24),
            proptest::collection::vec(any::<u8>(), 32),
        ]
    }

    /// These machines have VAES; a CPU without it would test nothing.
    fn must_have() {
        assert!(
            std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some() || AesCtrKey::available(),
            "this CPU lacks VAES or AVX-512"
        );
    }

    #[test]
    fn fips_197_known_answers() {
        must_have();
        if !AesCtrKey::available() {
            return;
        }
        // FIPS-197 appendix C: the keystream of counter block = plaintext
        // 00112233..ff is the cipher's output on that block.
        let pt: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
        for (klen, ct) in [
            (16, "69c4e0d86a7b0430d8cdb78070b4c55a"),
            (24, "dda97ca4864cdfe06eaf70a0ec0d7191"),
            (32, "8ea2b7ca516745bfeafc49904b496089"),
        ] {
            let key: Vec<u8> = (0..klen as u8).collect();
            let k = AesCtrKey::new(&key).unwrap();
            let mut block = [0u8; 16];
            k.ctr_xor(&pt, &mut block);
            let hex: String = block.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, ct, "AES-{}", klen * 8);
        }
    }

    #[test]
    fn every_length_and_offset_up_to_300() {
        must_have();
        if !AesCtrKey::available() {
            return;
        }
        for klen in [16, 24, 32] {
            let key: Vec<u8> = (0..klen as u8).map(|b| b.wrapping_mul(37)).collect();
            let k = AesCtrKey::new(&key).unwrap();
            let iv: [u8; 16] = core::array::from_fn(|i| 0xf0 ^ i as u8);
            for len in 0..=300 {
                for offset in [0, 1, 15, 16, 17, 100] {
                    let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                    let (mut ours, mut theirs) = (plain.clone(), plain.clone());
                    k.ctr_xor_at(&iv, offset, &mut ours);
                    reference(&key, &iv, offset, &mut theirs);
                    assert_eq!(ours, theirs, "key {klen} len {len} offset {offset}");
                    if offset == 0 {
                        let mut again = plain.clone();
                        k.ctr_xor(&iv, &mut again);
                        assert_eq!(again, theirs);
                    }
                }
            }
        }
    }

    #[test]
    fn counter_wraps_as_a_128_bit_big_endian_number() {
        must_have();
        if !AesCtrKey::available() {
            return;
        }
        let key = [7u8; 16];
        let k = AesCtrKey::new(&key).unwrap();
        let mut low_wrap = [0u8; 16];
        low_wrap[8..].fill(0xff);
        low_wrap[15] = 0xfd;
        for iv in [[0xff; 16], low_wrap, {
            let mut iv = [0xff; 16];
            iv[0] = 0;
            iv[15] = 0xf0;
            iv
        }] {
            for len in [1, 16, 64, 65, 200, 1500] {
                let (mut ours, mut theirs) = (vec![0u8; len], vec![0u8; len]);
                k.ctr_xor(&iv, &mut ours);
                reference(&key, &iv, 0, &mut theirs);
                assert_eq!(ours, theirs, "iv {iv:02x?} len {len}");
            }
        }
    }

    #[test]
    fn refuses_other_key_lengths() {
        for n in [0, 15, 17, 31, 33, 64] {
            assert!(AesCtrKey::new(&vec![0; n]).is_none());
        }
    }

    proptest! {
        #[test]
        fn matches_rustcrypto(
            key in key(),
            iv in any::<[u8; 16]>(),
            offset in 0usize..2000,
            data in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            if AesCtrKey::available() {
                let k = AesCtrKey::new(&key).unwrap();
                let (mut ours, mut theirs) = (data.clone(), data);
                k.ctr_xor_at(&iv, offset, &mut ours);
                reference(&key, &iv, offset, &mut theirs);
                prop_assert_eq!(ours, theirs);
            }
        }
    }
}

mod aes_gcm {
    use crate::gcm::GcmKey;
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use proptest::prelude::*;

    fn reference(key: &[u8], nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let tag = if key.len() == 16 {
            aes_gcm::Aes128Gcm::new_from_slice(key)
                .unwrap()
                .encrypt_in_place_detached(n, aad, data)
        } else {
            aes_gcm::Aes256Gcm::new_from_slice(key)
                .unwrap()
                .encrypt_in_place_detached(n, aad, data)
        };
        tag.unwrap().into()
    }

    fn available() -> bool {
        assert!(
            std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some() || GcmKey::available(),
            "this CPU lacks VAES, VPCLMULQDQ or AVX-512"
        );
        GcmKey::available()
    }

    /// McGrew and Viega's GCM spec, test cases 3 and 4 (AES-128) and 16
    /// (AES-256, with additional data).
    #[test]
    fn gcm_spec_known_answers() {
        if !available() {
            return;
        }
        let h = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let nonce: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
        let k = GcmKey::new(&h("feffe9928665731c6d6a8f9467308308")).unwrap();
        let mut d = pt.clone();
        let tag = k.seal(&nonce, &aad, &mut d);
        assert_eq!(tag.to_vec(), h("5bc94fbc3221a5db94fae95ae7121a47"));
        assert_eq!(d, h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"));
        let k = GcmKey::new(&h(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        ))
        .unwrap();
        let mut d = pt.clone();
        let tag = k.seal(&nonce, &aad, &mut d);
        assert_eq!(tag.to_vec(), h("76fc6ece0f4e1768cddf8853bb2d551b"));
        assert!(k.open(&nonce, &aad, &mut d, &tag));
        assert_eq!(d, pt);
    }

    #[test]
    fn every_length_up_to_300_and_aad_to_40() {
        if !available() {
            return;
        }
        for klen in [16, 32] {
            let key: Vec<u8> = (0..klen as u8).map(|b| b.wrapping_mul(91)).collect();
            let k = GcmKey::new(&key).unwrap();
            let nonce: [u8; 12] = core::array::from_fn(|i| i as u8 ^ 0x3c);
            for len in 0..=300 {
                for aad_len in [0, 1, 12, 16, 17, 28, 40] {
                    let aad: Vec<u8> = (0..aad_len).map(|i| (i * 13) as u8).collect();
                    let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                    let (mut ours, mut theirs) = (plain.clone(), plain.clone());
                    let tag = k.seal(&nonce, &aad, &mut ours);
                    let want = reference(&key, &nonce, &aad, &mut theirs);
                    assert_eq!(
                        (ours.clone(), tag),
                        (theirs, want),
                        "len {len} aad {aad_len}"
                    );
                    assert!(k.open(&nonce, &aad, &mut ours, &tag));
                    assert_eq!(ours, plain);
                }
            }
        }
    }

    #[test]
    fn a_wrong_tag_fails_and_changes_nothing() {
        if !available() {
            return;
        }
        let k = GcmKey::new(&[9; 16]).unwrap();
        let nonce = [1u8; 12];
        let mut d = vec![0x55u8; 160];
        let tag = k.seal(&nonce, b"header", &mut d);
        let sealed = d.clone();
        assert!(k.check(&nonce, b"header", &d, &tag));
        for bit in 0..128 {
            let mut t = tag;
            t[bit / 8] ^= 1 << (bit % 8);
            assert!(!k.check(&nonce, b"header", &d, &t));
            assert!(!k.open(&nonce, b"header", &mut d, &t));
            assert_eq!(d, sealed);
        }
        let mut other_aad = d.clone();
        assert!(!k.open(&nonce, b"Header", &mut other_aad, &tag));
        d[159] ^= 1;
        assert!(!k.open(&nonce, b"header", &mut d, &tag));
    }

    #[test]
    fn refuses_other_key_lengths() {
        for n in [0, 15, 17, 24, 31, 33] {
            assert!(GcmKey::new(&vec![0; n]).is_none());
        }
    }

    proptest! {
        #[test]
        fn matches_rustcrypto(
            wide in any::<bool>(),
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300),
            data in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            if available() {
                let key = if wide { &key[..] } else { &key[..16] };
                let k = GcmKey::new(key).unwrap();
                let (mut ours, mut theirs) = (data.clone(), data.clone());
                let tag = k.seal(&nonce, &aad, &mut ours);
                let want = reference(key, &nonce, &aad, &mut theirs);
                prop_assert_eq!(&ours, &theirs);
                prop_assert_eq!(tag, want);
                prop_assert!(k.open(&nonce, &aad, &mut ours, &tag));
                prop_assert_eq!(ours, data);
            }
        }
    }
}
