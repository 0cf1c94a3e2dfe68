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
