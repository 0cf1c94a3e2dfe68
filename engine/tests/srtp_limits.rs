//! Bounds on what a peer (or a forger) can make one SRTP context hold or
//! compute (issue #10, items 12 and 17): master keys per context, SSRC
//! streams and their memory, and key derivations on the packet path with a
//! non-zero key derivation rate.

use rampart::srtp::{
    stream_state_bytes, Context, MasterKey, Policy, Suite, DEFAULT_MAX_STREAMS, MAX_KEYS,
    MAX_STREAM_STATE_BYTES,
};
use rampart::Error;

const CM80: Suite = Suite::AesCm128HmacSha1_80;
const GCM: Suite = Suite::AeadAes128Gcm;
const SSRC: u32 = 0xdead_beef;

fn key(suite: Suite, seed: u8) -> MasterKey {
    MasterKey::new(
        suite,
        &[seed; 32][..suite.master_key_len()],
        &[seed ^ 0x5a; 14][..suite.master_salt_len()],
    )
    .unwrap()
}

fn rtp(ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn protect(c: &mut Context, ssrc: u32, seq: u16) -> Result<Vec<u8>, Error> {
    let mut buf = rtp(ssrc, seq, b"twenty bytes of data");
    let len = buf.len();
    buf.resize(len + 64, 0);
    let n = c.protect_rtp(&mut buf, len)?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect(c: &mut Context, pkt: &[u8]) -> Result<usize, Error> {
    c.unprotect_rtp(&mut pkt.to_vec())
}

// ---------------------------------------------------------------------------
// Item 12: master keys per context.

#[test]
fn repeated_mki_rekeys_keep_at_most_max_keys() {
    let mut tx = Context::new(Policy::new(CM80, key(CM80, 0).with_mki(&[0, 0]))).unwrap();
    let mut rx = Context::new(Policy::new(CM80, key(CM80, 0).with_mki(&[0, 0]))).unwrap();
    for i in 1..=200u16 {
        let mki = i.to_be_bytes();
        tx.add_key(key(CM80, i as u8).with_mki(&mki)).unwrap();
        rx.add_key(key(CM80, i as u8).with_mki(&mki)).unwrap();
        assert!(tx.key_count() <= MAX_KEYS && rx.key_count() <= MAX_KEYS);
    }
    assert_eq!((tx.key_count(), rx.key_count()), (MAX_KEYS, MAX_KEYS));
    assert_eq!(rx.stats().keys_evicted, 200 + 1 - MAX_KEYS as u64);
    // The active key (MKI 0) survived: packets under it still go through.
    let p = protect(&mut tx, SSRC, 1).unwrap();
    unprotect(&mut rx, &p).unwrap();
    // The newest keys are there, the oldest inactive ones are gone.
    tx.set_active_mki(&200u16.to_be_bytes()).unwrap();
    let p = protect(&mut tx, SSRC, 2).unwrap();
    unprotect(&mut rx, &p).unwrap();
    assert_eq!(
        tx.set_active_mki(&100u16.to_be_bytes()),
        Err(Error::UnknownMki)
    );
    // A packet under an evicted MKI is refused as unknown.
    let mut old = Context::new(Policy::new(
        CM80,
        key(CM80, 100).with_mki(&100u16.to_be_bytes()),
    ))
    .unwrap();
    let p = protect(&mut old, SSRC, 3).unwrap();
    assert_eq!(unprotect(&mut rx, &p), Err(Error::UnknownMki));
}

#[test]
fn policy_with_too_many_keys_is_refused() {
    let mut p = Policy::new(CM80, key(CM80, 0).with_mki(&[0]));
    for i in 1..=MAX_KEYS as u8 {
        p = p.add_key(key(CM80, i).with_mki(&[i]));
    }
    assert!(matches!(Context::new(p), Err(Error::InvalidConfig(_))));
}

// ---------------------------------------------------------------------------
// Item 12: SSRC streams per context and their memory.

#[test]
fn template_context_creates_at_most_the_default_streams() {
    assert_eq!(DEFAULT_MAX_STREAMS, 256);
    let mut tx = Context::new(Policy::new(CM80, key(CM80, 1))).unwrap();
    let mut rx = Context::new(Policy::new(CM80, key(CM80, 1))).unwrap();
    let mut refused = None;
    for ssrc in 0..DEFAULT_MAX_STREAMS as u32 + 10 {
        match protect(&mut tx, ssrc, 1) {
            Ok(p) => unprotect(&mut rx, &p).unwrap(),
            Err(e) => {
                refused.get_or_insert((ssrc, e));
                continue;
            }
        };
    }
    assert_eq!(
        refused,
        Some((256, Error::TooManyStreams { limit: 256 })),
        "the sender refuses (never evicts) a new SSRC once full"
    );
    assert_eq!((tx.stream_count(), rx.stream_count()), (256, 256));
    // The receiver refuses too, unauthenticated or not: a sender with a
    // bigger table cannot push it past its bound.
    let mut big = Context::new(Policy::new(CM80, key(CM80, 1)).max_streams(300)).unwrap();
    let p = protect(&mut big, 999, 1).unwrap();
    assert_eq!(
        unprotect(&mut rx, &p),
        Err(Error::TooManyStreams { limit: 256 })
    );
    assert_eq!(rx.stream_count(), 256);
}

#[test]
fn stream_memory_per_context_is_bounded() {
    // The case: 4096 streams at a 32768-packet window (~34 MB).
    let p = Policy::new(CM80, key(CM80, 1))
        .replay_window(32768)
        .max_streams(4096);
    assert!(matches!(Context::new(p), Err(Error::InvalidConfig(_))));
    // The defaults fit at any window and key derivation rate.
    for window in [64, 128, 1024, 32768] {
        for kdr in [0, 1 << 16] {
            let per = stream_state_bytes(window, kdr != 0);
            assert!(
                DEFAULT_MAX_STREAMS * per <= MAX_STREAM_STATE_BYTES,
                "{window} {kdr}"
            );
            Context::new(
                Policy::new(CM80, key(CM80, 1))
                    .replay_window(window)
                    .key_derivation_rate(kdr),
            )
            .unwrap();
        }
    }
    // Many streams are still possible at a small window.
    Context::new(Policy::new(CM80, key(CM80, 1)).max_streams(4096)).unwrap();
    assert!(stream_state_bytes(32768, false) >= 2 * 32768 / 8);
}

// ---------------------------------------------------------------------------
// Item 17: key derivations with a non-zero key derivation rate.

const KDR: u64 = 1 << 4;

fn kdr_pair(suite: Suite) -> (Context, Context) {
    let c = || Context::new(Policy::new(suite, key(suite, 9)).key_derivation_rate(KDR)).unwrap();
    (c(), c())
}

/// A packet with a valid-looking header and garbage where the ciphertext
/// and tag go: it can only fail authentication.
fn forged(seq: u16) -> Vec<u8> {
    forged_from(SSRC, seq)
}

fn forged_from(ssrc: u32, seq: u16) -> Vec<u8> {
    rtp(ssrc, seq, &[0xa5; 40])
}

#[test]
fn forged_packets_in_a_new_epoch_cost_one_derivation() {
    for suite in [CM80, GCM] {
        let (mut tx, mut rx) = kdr_pair(suite);
        for seq in 0..10 {
            let p = protect(&mut tx, SSRC, seq).unwrap();
            unprotect(&mut rx, &p).unwrap();
        }
        assert_eq!(
            rx.stats().key_derivations,
            0,
            "epoch 0 uses the slot's keys"
        );
        // 1000 forgeries in epoch 1 (seq 16..32).
        for i in 0..1000u16 {
            assert_eq!(
                unprotect(&mut rx, &forged(16 + i % 16)),
                Err(Error::AuthFailed)
            );
        }
        assert_eq!(
            rx.stats().key_derivations,
            1,
            "{suite:?}: derived once, shared"
        );
        // Nothing was committed: epoch 0 still verifies, then the real
        // epoch-1 packet authenticates with the pending keys.
        let p = protect(&mut tx, SSRC, 10).unwrap();
        unprotect(&mut rx, &p).unwrap();
        for seq in 16..20 {
            let p = protect(&mut tx, SSRC, seq).unwrap();
            unprotect(&mut rx, &p).unwrap();
        }
        assert_eq!(rx.stats().key_derivations, 1);
        assert_eq!(rx.stats().auth_failures, 1000);
    }
}

#[test]
fn forged_packets_from_new_ssrcs_in_one_epoch_cost_one_derivation() {
    for suite in [CM80, GCM] {
        let (_, mut rx) = kdr_pair(suite);
        // 1000 forgeries, each from another SSRC (no stream), all in epoch 3.
        for i in 0..1000u32 {
            let p = forged_from(0x1000 + i, 3 * 16 + (i % 16) as u16);
            assert_eq!(unprotect(&mut rx, &p), Err(Error::AuthFailed));
        }
        assert_eq!(rx.stats().key_derivations, 1, "{suite:?}");
        assert_eq!(rx.stream_count(), 0);
    }
}

#[test]
fn a_forged_packet_never_costs_more_than_one_derivation() {
    for suite in [CM80, GCM] {
        let (mut tx, mut rx) = kdr_pair(suite);
        let p = protect(&mut tx, SSRC, 0).unwrap();
        unprotect(&mut rx, &p).unwrap();
        // Each forgery names another epoch, twice in a row: the second of
        // each pair reuses the pending keys.
        let n = 1000u64;
        for k in 0..n {
            let seq = (32 + 16 * (k / 2)) as u16 % 32768;
            assert_eq!(unprotect(&mut rx, &forged(seq)), Err(Error::AuthFailed));
        }
        assert_eq!(rx.stats().key_derivations, n / 2, "{suite:?}");
        // The genuine stream is undisturbed, through the next epochs.
        for seq in 1..40 {
            let p = protect(&mut tx, SSRC, seq).unwrap();
            unprotect(&mut rx, &p).unwrap();
        }
    }
}

#[test]
fn authenticated_late_and_jumping_packets_still_derive() {
    let (mut tx, mut rx) = kdr_pair(CM80);
    let mut held = Vec::new();
    for seq in 0..200u16 {
        let p = protect(&mut tx, SSRC, seq).unwrap();
        if seq % 20 == 15 {
            held.push(p); // delivered late, from an older epoch
        } else if !(100..=160).contains(&seq) {
            unprotect(&mut rx, &p).unwrap(); // 100..=160 lost: a jump
        }
    }
    for p in held.iter().rev().take(3) {
        // Within the window, from the current and two older epochs.
        unprotect(&mut rx, p).unwrap();
    }
    assert!(rx.stats().rtp_unprotected >= 130);
}

/// Cached derived keys name their master key by slot; a rekey that moves
/// the slots must not leave keys of another master key behind.
#[test]
fn rekey_forgets_derived_keys_of_other_master_keys() {
    let mk = |seed: u8, mki: u8| key(CM80, seed).with_mki(&[mki]);
    let pol = |k| Policy::new(CM80, k).key_derivation_rate(KDR);
    let mut rx = Context::new(pol(mk(1, 1)).add_key(mk(2, 2))).unwrap();
    // A forgery under MKI 2 (slot 1) in epoch 1 for a new SSRC: pending.
    // header | payload | MKI 2 | 10-byte tag
    let mut f = forged(16);
    let at = f.len() - 10 - 1;
    f[at] = 2;
    assert_eq!(unprotect(&mut rx, &f), Err(Error::AuthFailed));
    // MKI 1 goes; MKI 3 (another master key) takes slot 1.
    rx.set_active_mki(&[2]).unwrap();
    rx.remove_key(&[1]).unwrap();
    rx.add_key(mk(3, 3)).unwrap();
    let mut tx = Context::new(pol(mk(3, 3))).unwrap();
    let p = protect(&mut tx, SSRC, 16).unwrap();
    unprotect(&mut rx, &p).unwrap();
}
