//! Hostile input through the drop-in's sessions (the safe Rust API under
//! the exports): arbitrary bytes as SRTP, SRTCP, RTP and RTCP on every
//! kind of stream (template and specific, with and without MKIs, each
//! suite) never panic, never report a length past the buffer, and a
//! refused packet is left as it came; a packet protected by one session
//! unprotects in its peer and any single flipped bit is refused.

use proptest::prelude::*;
use rampart_srtp2::abi::*;
use rampart_srtp2::*;
use std::ptr::null_mut;

/// A sender and receiver pair for `setter` (0..6), template or specific,
/// with or without an MKI, through the C entry points.
fn pair(setter: u8, specific: bool, mki: bool) -> (*mut srtp_ctx_t, *mut srtp_ctx_t) {
    let mut key = [0x5au8; 64];
    let mut mki_id = [7u8, 9];
    let mut master = srtp_master_key_t {
        key: key.as_mut_ptr(),
        mki_id: mki_id.as_mut_ptr(),
        mki_size: 2,
    };
    let mut keys = [&mut master as *mut srtp_master_key_t];
    let make = |ty: i32, key: &mut [u8; 64], keys: &mut [*mut srtp_master_key_t; 1]| {
        let mut p = srtp_policy_t {
            ssrc: srtp_ssrc_t {
                r#type: if specific { ssrc_specific } else { ty },
                value: 0x1234,
            },
            rtp: Default::default(),
            rtcp: Default::default(),
            key: if mki { null_mut() } else { key.as_mut_ptr() },
            keys: if mki { keys.as_mut_ptr() } else { null_mut() },
            num_master_keys: mki as _,
            deprecated_ekt: null_mut(),
            window_size: 0,
            allow_repeat_tx: 0,
            enc_xtn_hdr: null_mut(),
            enc_xtn_hdr_count: 0,
            next: null_mut(),
        };
        let set = match setter {
            0 => srtp_crypto_policy_set_rtp_default,
            1 => srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
            2 => srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
            3 => srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32,
            4 => srtp_crypto_policy_set_aes_gcm_128_16_auth,
            5 => srtp_crypto_policy_set_aes_gcm_256_16_auth,
            _ => srtp_crypto_policy_set_null_cipher_hmac_sha1_80,
        };
        set(&mut p.rtp);
        let rtcp = if setter == 1 || setter == 3 {
            if setter == 1 {
                srtp_crypto_policy_set_rtcp_default
            } else {
                srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80
            }
        } else {
            set
        };
        rtcp(&mut p.rtcp);
        let mut s = null_mut();
        assert_eq!(srtp_create(&mut s, &p), srtp_err_status_ok);
        s
    };
    let tx = make(ssrc_any_outbound, &mut key, &mut keys);
    let rx = make(ssrc_any_inbound, &mut key, &mut keys);
    (tx, rx)
}

fn call(
    f: extern "C" fn(*mut srtp_ctx_t, *mut std::ffi::c_void, *mut i32) -> srtp_err_status_t,
    s: *mut srtp_ctx_t,
    buf: &mut [u8],
    len: usize,
) -> (srtp_err_status_t, usize) {
    let mut n = len as i32;
    let st = f(s, buf.as_mut_ptr().cast(), &mut n);
    (st, n as usize)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_or_handled_without_panic(
        setter in 0u8..7, specific: bool, mki: bool,
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ssrc_at_8 in any::<bool>(), version_ok in any::<bool>(),
    ) {
        let (tx, rx) = pair(setter, specific, mki);
        let mut b = bytes.clone();
        if version_ok && !b.is_empty() { b[0] = 0x80 | (b[0] & 0x3f); }
        if ssrc_at_8 && b.len() >= 12 { b[8..12].copy_from_slice(&0x1234u32.to_be_bytes()); }
        for f in [srtp_unprotect as extern "C" fn(_, _, _) -> _, srtp_unprotect_rtcp] {
            let mut buf = b.clone();
            let (st, n) = call(f, rx, &mut buf, b.len());
            if st == srtp_err_status_ok {
                prop_assert!(n <= b.len());
            } else {
                prop_assert_eq!(&buf, &b, "a refused packet was changed (status {})", st);
            }
        }
        for f in [srtp_protect as extern "C" fn(_, _, _) -> _, srtp_protect_rtcp] {
            let mut buf = b.clone();
            buf.resize(b.len() + SRTP_MAX_TRAILER_LEN, 0);
            let (st, n) = call(f, tx, &mut buf, b.len());
            if st == srtp_err_status_ok {
                prop_assert!(n <= b.len() + 32);
            }
        }
        srtp_dealloc(tx);
        srtp_dealloc(rx);
    }

    #[test]
    fn protected_packets_open_and_any_flipped_bit_is_refused(
        setter in 0u8..7, specific: bool,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        seq: u16, flip in any::<usize>(),
    ) {
        let (tx, rx) = pair(setter, specific, false);
        let mut pkt = vec![0x80, 0x60, (seq >> 8) as u8, seq as u8, 0, 0, 0, 1, 0, 0, 0x12, 0x34];
        pkt.extend_from_slice(&payload);
        let mut buf = pkt.clone();
        buf.resize(pkt.len() + SRTP_MAX_TRAILER_LEN, 0);
        let (st, n) = call(srtp_protect, tx, &mut buf, pkt.len());
        prop_assert_eq!(st, srtp_err_status_ok);
        buf.truncate(n);
        let mut bad = buf.clone();
        let bit = flip % (bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        let (st, _) = call(srtp_unprotect, rx, &mut bad.clone(), bad.len());
        prop_assert_ne!(st, srtp_err_status_ok, "a flipped bit {} was accepted", bit);
        let (st, m) = call(srtp_unprotect, rx, &mut buf, n);
        prop_assert_eq!(st, srtp_err_status_ok);
        prop_assert_eq!(&buf[..m], &pkt[..]);
        srtp_dealloc(tx);
        srtp_dealloc(rx);
    }
}
