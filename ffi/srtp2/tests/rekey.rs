//! No SRTP index is sealed twice under one key through the drop-in's
//! rekeying calls, where libsrtp would: `srtp_update` back to a key the
//! stream ran with before (A → B → A), and `srtp_add_stream` again for an
//! SSRC with a key its stream already used. With keys the stream never
//! ran with, both keep libsrtp's behaviour (an index below the highest may
//! be sealed again: it is new keystream).

use rampart_srtp2::abi::*;
use rampart_srtp2::*;
use std::ptr::null_mut;

const SSRC: u32 = 0x0102_0304;

fn policy(key: &mut [u8; 30]) -> srtp_policy_t {
    let mut p = srtp_policy_t {
        ssrc: srtp_ssrc_t {
            r#type: ssrc_specific,
            value: SSRC,
        },
        rtp: Default::default(),
        rtcp: Default::default(),
        key: key.as_mut_ptr(),
        keys: null_mut(),
        num_master_keys: 0,
        deprecated_ekt: null_mut(),
        window_size: 0,
        allow_repeat_tx: 0,
        enc_xtn_hdr: null_mut(),
        enc_xtn_hdr_count: 0,
        next: null_mut(),
    };
    srtp_crypto_policy_set_rtp_default(&mut p.rtp);
    srtp_crypto_policy_set_rtcp_default(&mut p.rtcp);
    p
}

fn protect(s: *mut srtp_ctx_t, seq: u16) -> srtp_err_status_t {
    let mut b = vec![0x80, 0, (seq >> 8) as u8, seq as u8, 0, 0, 0, 0];
    b.extend_from_slice(&SSRC.to_be_bytes());
    b.extend_from_slice(b"twenty ms");
    let mut n = b.len() as i32;
    b.resize(b.len() + SRTP_MAX_TRAILER_LEN, 0);
    srtp_protect(s, b.as_mut_ptr().cast(), &mut n)
}

#[test]
fn an_update_back_to_an_earlier_key_keeps_its_indexes_spent() {
    let (mut a, mut b) = ([1u8; 30], [2u8; 30]);
    let mut s = null_mut();
    assert_eq!(srtp_create(&mut s, &policy(&mut a)), srtp_err_status_ok);
    for seq in 1..=3 {
        assert_eq!(protect(s, seq), srtp_err_status_ok);
    }
    // A new key: index 2 is fresh keystream under it (libsrtp's update).
    assert_eq!(srtp_update(s, &policy(&mut b)), srtp_err_status_ok);
    assert_eq!(protect(s, 2), srtp_err_status_ok);
    // Back to A: index 2 was sealed under A already.
    assert_eq!(srtp_update(s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(protect(s, 2), srtp_err_status_replay_fail);
    assert_eq!(protect(s, 4), srtp_err_status_ok);
    srtp_dealloc(s);
}

#[test]
fn a_stream_added_again_with_its_key_continues_its_indexes() {
    let (mut a, mut c) = ([1u8; 30], [3u8; 30]);
    let mut s = null_mut();
    assert_eq!(srtp_create(&mut s, null_mut()), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(protect(s, 7), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(
        protect(s, 7),
        srtp_err_status_replay_fail,
        "index 7 again under A"
    );
    // Another key: a fresh stream, as libsrtp's.
    assert_eq!(srtp_add_stream(s, &policy(&mut c)), srtp_err_status_ok);
    assert_eq!(protect(s, 7), srtp_err_status_ok);
    // And A once more: it remembers where A's stream stood through C's,
    // even past C's highest index.
    assert_eq!(srtp_add_stream(s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(protect(s, 7), srtp_err_status_replay_fail);
    srtp_dealloc(s);

    // A reached 1000 before C replaced it; C only 5.
    let mut s = null_mut();
    assert_eq!(srtp_create(&mut s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(protect(s, 1000), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut c)), srtp_err_status_ok);
    assert_eq!(protect(s, 5), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut a)), srtp_err_status_ok);
    assert_ne!(
        protect(s, 900),
        srtp_err_status_ok,
        "index 900 was spent under A"
    );
    assert_eq!(protect(s, 1001), srtp_err_status_ok);
    srtp_dealloc(s);
}

#[test]
fn a_key_coming_back_continues_past_where_its_stream_stood() {
    // A reached 1000 before C replaced its stream; C only 5: A comes back
    // past where A's stream stood, not C's.
    let (mut a, mut c) = ([1u8; 30], [3u8; 30]);
    let mut s = null_mut();
    assert_eq!(srtp_create(&mut s, &policy(&mut a)), srtp_err_status_ok);
    assert_eq!(protect(s, 1000), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut c)), srtp_err_status_ok);
    assert_eq!(protect(s, 5), srtp_err_status_ok);
    assert_eq!(srtp_add_stream(s, &policy(&mut a)), srtp_err_status_ok);
    assert_ne!(
        protect(s, 990),
        srtp_err_status_ok,
        "index 990 spent under A"
    );
    assert_eq!(protect(s, 1001), srtp_err_status_ok);
    srtp_dealloc(s);
}
