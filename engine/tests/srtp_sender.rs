//! The sender never uses a packet index twice (issue #10, item 2a).
//!
//! A sender that is handed the same SSRC and sequence number twice (an
//! RTP→SRTP bridge relaying a plain-RTP duplicate, a restarted source) must
//! not encrypt a second plaintext under the same keystream (AES-CM:
//! C1⊕C2 = P1⊕P2) or the same GCM nonce (which leaks the GHASH key). Like
//! libsrtp, protect keeps a replay window of the indexes it has used and
//! refuses an index already used or behind the window; the SRTCP index never
//! wraps and never moves back.

use proptest::prelude::*;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::Error;

const SSRC: u32 = 0x1234_5678;

fn ctx(suite: Suite) -> Context {
    let key = MasterKey::new(
        suite,
        &[0x42; 32][..suite.master_key_len()],
        &[0x17; 14][..suite.master_salt_len()],
    )
    .unwrap();
    Context::new(Policy::new(suite, key)).unwrap()
}

fn rtp(ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&1000u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn rtcp(ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 0];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn protect_rtp(c: &mut Context, ssrc: u32, seq: u16, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = rtp(ssrc, seq, payload);
    let len = buf.len();
    buf.resize(len + 64, 0);
    let n = c.protect_rtp(&mut buf, len)?;
    buf.truncate(n);
    Ok(buf)
}

fn protect_rtcp(c: &mut Context, ssrc: u32, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = rtcp(ssrc, payload);
    let len = buf.len();
    buf.resize(len + 64, 0);
    let n = c.protect_rtcp(&mut buf, len)?;
    buf.truncate(n);
    Ok(buf)
}

const SUITES: [Suite; 3] = [
    Suite::AesCm128HmacSha1_80,
    Suite::AeadAes128Gcm,
    Suite::AeadAes256Gcm,
];

#[test]
fn same_ssrc_and_seq_protected_twice_is_refused() {
    for suite in SUITES {
        let mut c = ctx(suite);
        let first = protect_rtp(&mut c, SSRC, 10, b"first plaintext!").unwrap();
        let again = protect_rtp(&mut c, SSRC, 10, b"other plaintext!");
        assert_eq!(again, Err(Error::Replayed), "{suite:?}");
        // Even the very same bytes are refused: the index is spent.
        let same = protect_rtp(&mut c, SSRC, 10, b"first plaintext!");
        assert_eq!(same, Err(Error::Replayed), "{suite:?}");
        let s = c.stats();
        assert_eq!((s.rtp_protected, s.protect_replays), (1, 2), "{suite:?}");
        assert_eq!(s.replays, 0, "receive replays are counted apart");
        assert!(!first.is_empty());
        // The stream goes on with fresh indexes.
        protect_rtp(&mut c, SSRC, 11, b"next").unwrap();
    }
}

#[test]
fn allow_repeat_tx_reseals_a_used_index_but_not_one_behind_the_window() {
    // libsrtp's `allow_repeat_tx`: a retransmission of the same packet may
    // be sealed again (same plaintext, same ciphertext); nothing else moves.
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
        let key = MasterKey::new(
            suite,
            &[0x42; 32][..suite.master_key_len()],
            &[0x17; 14][..suite.master_salt_len()],
        )
        .unwrap();
        let mut c = Context::new(Policy::new(suite, key).allow_repeat_tx(true)).unwrap();
        let first = protect_rtp(&mut c, SSRC, 5, b"same packet").unwrap();
        assert_eq!(
            protect_rtp(&mut c, SSRC, 5, b"same packet").unwrap(),
            first,
            "{suite:?}"
        );
        protect_rtp(&mut c, SSRC, 1000, b"later").unwrap();
        assert_eq!(
            protect_rtp(&mut c, SSRC, 5, b"same packet"),
            Err(Error::TooOld),
            "{suite:?}"
        );
        // Without the flag the repeat is refused (the default).
        assert_eq!(
            protect_rtp(&mut ctx(suite), SSRC, 5, b"x").map(|_| ()),
            Ok(())
        );
    }
}

#[test]
fn index_behind_the_sender_window_is_refused() {
    for suite in SUITES {
        let mut c = ctx(suite);
        protect_rtp(&mut c, SSRC, 1000, b"x").unwrap();
        // The default window is 128 packets: 1000 - 128 is behind it.
        assert_eq!(
            protect_rtp(&mut c, SSRC, 1000 - 128, b"y"),
            Err(Error::TooOld),
            "{suite:?}"
        );
        assert_eq!(c.stats().protect_replays, 1);
    }
}

#[test]
fn reordered_unused_index_within_window_is_allowed_once() {
    for suite in SUITES {
        let mut c = ctx(suite);
        protect_rtp(&mut c, SSRC, 100, b"a").unwrap();
        protect_rtp(&mut c, SSRC, 95, b"b").unwrap();
        protect_rtp(&mut c, SSRC, 99, b"c").unwrap();
        assert_eq!(protect_rtp(&mut c, SSRC, 95, b"d"), Err(Error::Replayed));
        assert_eq!(protect_rtp(&mut c, SSRC, 100, b"e"), Err(Error::Replayed));
        // Another SSRC has its own indexes.
        protect_rtp(&mut c, SSRC + 1, 95, b"f").unwrap();
        assert_eq!(c.stats().rtp_protected, 4, "{suite:?}");
    }
}

#[test]
fn index_reuse_is_refused_across_a_rollover() {
    let mut c = ctx(Suite::AesCm128HmacSha1_80);
    protect_rtp(&mut c, SSRC, 65535, b"a").unwrap();
    protect_rtp(&mut c, SSRC, 0, b"b").unwrap(); // ROC 1
    assert_eq!(c.roc(SSRC), Some(1));
    // 65535 late (ROC 0): already used.
    assert_eq!(protect_rtp(&mut c, SSRC, 65535, b"c"), Err(Error::Replayed));
    assert_eq!(protect_rtp(&mut c, SSRC, 0, b"d"), Err(Error::Replayed));
}

#[test]
fn sending_stream_roc_cannot_move_back() {
    let mut c = ctx(Suite::AeadAes128Gcm);
    c.set_roc(SSRC, 5).unwrap();
    protect_rtp(&mut c, SSRC, 7, b"a").unwrap();
    assert!(matches!(c.set_roc(SSRC, 4), Err(Error::InvalidConfig(_))));
    assert_eq!(protect_rtp(&mut c, SSRC, 7, b"b"), Err(Error::Replayed));
    // Forward is fine.
    c.set_roc(SSRC, 6).unwrap();
    protect_rtp(&mut c, SSRC, 8, b"c").unwrap();
}

#[test]
fn sending_stream_is_not_forgotten() {
    let mut c = ctx(Suite::AesCm128HmacSha1_80);
    protect_rtp(&mut c, SSRC, 7, b"a").unwrap();
    assert!(!c.remove_stream(SSRC), "a sending stream is kept");
    assert_eq!(protect_rtp(&mut c, SSRC, 7, b"b"), Err(Error::Replayed));
}

#[test]
fn srtcp_index_is_never_reused_or_wrapped() {
    for suite in SUITES {
        let mut c = ctx(suite);
        c.set_rtcp_index(SSRC, 0x7fff_fffe).unwrap();
        let a = protect_rtcp(&mut c, SSRC, b"report one").unwrap();
        let b = protect_rtcp(&mut c, SSRC, b"report two").unwrap();
        let idx = |p: &[u8]| {
            let at = if suite.is_aead() {
                p.len() - 4
            } else {
                p.len() - 4 - suite.srtcp_tag_len()
            };
            u32::from_be_bytes(p[at..at + 4].try_into().unwrap()) & 0x7fff_ffff
        };
        assert_eq!((idx(&a), idx(&b)), (0x7fff_fffe, 0x7fff_ffff));
        // 2^31 - 1 was the last: refused, not wrapped to 0.
        assert_eq!(
            protect_rtcp(&mut c, SSRC, b"report three"),
            Err(Error::KeyExhausted),
            "{suite:?}"
        );
        assert_eq!(c.rtcp_index(SSRC), Some(0x8000_0000));
        // Nor can the index be moved back to a used value.
        assert!(matches!(
            c.set_rtcp_index(SSRC, 0),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(c.stats().rtcp_protected, 2);
    }
}

#[test]
fn srtcp_index_moved_back_is_refused() {
    let mut c = ctx(Suite::AesCm128HmacSha1_80);
    for _ in 0..3 {
        protect_rtcp(&mut c, SSRC, b"r").unwrap();
    }
    assert!(c.set_rtcp_index(SSRC, 1).is_err());
    assert_eq!(c.rtcp_index(SSRC), Some(3));
    c.set_rtcp_index(SSRC, 10).unwrap();
    protect_rtcp(&mut c, SSRC, b"r").unwrap();
    assert_eq!(c.rtcp_index(SSRC), Some(11));
}

/// One call on the sender.
#[derive(Clone, Debug)]
enum Op {
    Rtp { ssrc: u8, seq: u16, fill: u8 },
    Rtcp { ssrc: u8, fill: u8 },
    SetRoc { ssrc: u8, roc: u32 },
    SetRtcpIndex { ssrc: u8, index: u32 },
    Remove { ssrc: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    // Few SSRCs and a narrow band of sequence numbers (around a wrap), so
    // repeats are frequent.
    let seq = prop_oneof![0u16..40, 65500u16..=65535, any::<u16>()];
    prop_oneof![
        6 => (0u8..2, seq, any::<u8>()).prop_map(|(ssrc, seq, fill)| Op::Rtp { ssrc, seq, fill }),
        2 => (0u8..2, any::<u8>()).prop_map(|(ssrc, fill)| Op::Rtcp { ssrc, fill }),
        1 => (0u8..2, 0u32..3).prop_map(|(ssrc, roc)| Op::SetRoc { ssrc, roc }),
        1 => (0u8..2, 0u32..6).prop_map(|(ssrc, index)| Op::SetRtcpIndex { ssrc, index }),
        1 => (0u8..2).prop_map(|ssrc| Op::Remove { ssrc }),
    ]
}

/// The keystream a protect used: ciphertext XOR plaintext over 32 bytes
/// (GCM's payload is CTR-encrypted too). Two packets share it only if
/// they share (SSRC, index) under one key.
fn keystream(plain: &[u8], cipher: &[u8], at: usize) -> Vec<u8> {
    plain[at..at + 32]
        .iter()
        .zip(&cipher[at..at + 32])
        .map(|(p, c)| p ^ c)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Over arbitrary sequences of protect calls (and ROC / SRTCP index
    /// changes, stream removals), no two successful protects share a
    /// (SSRC, index): no keystream is ever produced twice.
    #[test]
    fn no_two_protects_share_a_keystream(
        gcm in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let suite = if gcm { Suite::AeadAes128Gcm } else { Suite::AesCm128HmacSha1_80 };
        let mut c = ctx(suite);
        let mut seen = std::collections::HashSet::new();
        for op in ops {
            match op {
                Op::Rtp { ssrc, seq, fill } => {
                    let ssrc = SSRC + ssrc as u32;
                    let payload = [fill; 32];
                    if let Ok(p) = protect_rtp(&mut c, ssrc, seq, &payload) {
                        let ks = keystream(&rtp(ssrc, seq, &payload), &p, 12);
                        prop_assert!(seen.insert((false, ssrc, ks)), "RTP keystream reused");
                    }
                }
                Op::Rtcp { ssrc, fill } => {
                    let ssrc = SSRC + ssrc as u32;
                    let payload = [fill; 32];
                    if let Ok(p) = protect_rtcp(&mut c, ssrc, &payload) {
                        let ks = keystream(&rtcp(ssrc, &payload), &p, 8);
                        prop_assert!(seen.insert((true, ssrc, ks)), "SRTCP keystream reused");
                    }
                }
                Op::SetRoc { ssrc, roc } => {
                    let _ = c.set_roc(SSRC + ssrc as u32, roc);
                }
                Op::SetRtcpIndex { ssrc, index } => {
                    let _ = c.set_rtcp_index(SSRC + ssrc as u32, index);
                }
                Op::Remove { ssrc } => {
                    c.remove_stream(SSRC + ssrc as u32);
                }
            }
        }
    }
}

/// The index of an SRTCP packet (the 31 bits after the E flag).
fn srtcp_index(pkt: &[u8], suite: Suite) -> u32 {
    let tag = suite.srtcp_tag_len();
    let at = if suite.params().cipher == rampart::srtp::CipherKind::AesGcm {
        pkt.len() - 4
    } else {
        pkt.len() - tag - 4
    };
    u32::from_be_bytes(pkt[at..at + 4].try_into().unwrap()) & 0x7fff_ffff
}

// A node that takes a call over resumes each stream from the other node's
// checkpoint (issue #13): across the ROC wrap the receiver keeps
// authenticating, the sender never protects an index at or below the
// checkpoint again, and SRTCP jumps ahead by the margin.
#[test]
fn a_stream_resumed_from_a_checkpoint_continues_across_the_roc_wrap() {
    for suite in SUITES {
        let (mut old_tx, mut phone_rx) = (ctx(suite), ctx(suite));
        for seq in 65_000u16..=65_500 {
            let p = protect_rtp(&mut old_tx, SSRC, seq, b"before").unwrap();
            let mut p = p.clone();
            phone_rx.unprotect_rtp(&mut p).unwrap();
        }
        let mut sent_rtcp = Vec::new();
        for _ in 0..3 {
            let p = protect_rtcp(&mut old_tx, SSRC, b"report").unwrap();
            sent_rtcp.push(srtcp_index(&p, suite));
            phone_rx.unprotect_rtcp(&mut p.clone()).unwrap();
        }
        let cp = old_tx.checkpoint();
        assert_eq!(cp.len(), 1);
        assert_eq!(cp[0].rtp_highest, Some(65_500));
        assert!(cp[0].sent);

        // A fresh context under the same key, resumed: what a restored
        // stream without the checkpoint would do is the old failure
        // (ROC 0 after the wrap), so check both.
        let mut new_tx = ctx(suite);
        new_tx.resume(&cp, 100).unwrap();
        for seq in [65_400u16, 65_500] {
            assert!(
                protect_rtp(&mut new_tx, SSRC, seq, b"again").is_err(),
                "{suite:?}: index {seq} protected twice"
            );
        }
        for seq in (65_501u32..=65_535).chain(0..200) {
            let p = protect_rtp(&mut new_tx, SSRC, seq as u16, b"after").unwrap();
            phone_rx
                .unprotect_rtp(&mut p.clone())
                .unwrap_or_else(|e| panic!("{suite:?}: seq {seq} after the resume: {e}"));
        }
        assert_eq!(new_tx.roc(SSRC), Some(1));
        let p = protect_rtcp(&mut new_tx, SSRC, b"report").unwrap();
        let idx = srtcp_index(&p, suite);
        assert!(idx >= sent_rtcp[2] + 100, "{suite:?}: SRTCP index {idx}");
        phone_rx.unprotect_rtcp(&mut p.clone()).unwrap();

        // Without the checkpoint, the same fresh context starts at ROC 0
        // and the phone refuses what it sends after the wrap.
        let mut naive = ctx(suite);
        let p = protect_rtp(&mut naive, SSRC, 300, b"naive").unwrap();
        assert!(phone_rx.unprotect_rtp(&mut p.clone()).is_err());
    }
}

// The receiving side of a takeover: a resumed inbound context accepts the
// phone's next packets across the wrap and refuses everything the old
// context had accepted, RTP and SRTCP.
#[test]
fn a_resumed_receiver_refuses_what_the_old_one_accepted() {
    for suite in SUITES {
        let (mut phone_tx, mut old_rx) = (ctx(suite), ctx(suite));
        let mut seen = Vec::new();
        for seq in 65_400u16..=65_530 {
            let p = protect_rtp(&mut phone_tx, SSRC, seq, b"x").unwrap();
            old_rx.unprotect_rtp(&mut p.clone()).unwrap();
            seen.push(p);
        }
        let r = protect_rtcp(&mut phone_tx, SSRC, b"r").unwrap();
        old_rx.unprotect_rtcp(&mut r.clone()).unwrap();
        let mut new_rx = ctx(suite);
        new_rx.resume(&old_rx.checkpoint(), 100).unwrap();
        for p in seen.iter().rev().take(100) {
            assert!(
                new_rx.unprotect_rtp(&mut p.clone()).is_err(),
                "{suite:?}: replay"
            );
        }
        assert!(
            new_rx.unprotect_rtcp(&mut r.clone()).is_err(),
            "{suite:?}: SRTCP replay"
        );
        for seq in (65_531u32..=65_535).chain(0..50) {
            let p = protect_rtp(&mut phone_tx, SSRC, seq as u16, b"y").unwrap();
            new_rx.unprotect_rtp(&mut p.clone()).unwrap();
        }
        let r = protect_rtcp(&mut phone_tx, SSRC, b"r").unwrap();
        new_rx.unprotect_rtcp(&mut r.clone()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    // Wherever the checkpoint is taken (any ROC, any sequence number), a
    // sender resumed from it never reuses an index the old sender used
    // after it, up to the margin, and the phone accepts what it sends.
    #[test]
    fn resumed_senders_never_reuse_an_index(
        roc in 0u32..4, start in any::<u16>(), before in 1usize..300, lag in 0usize..200,
    ) {
        let suite = Suite::AesCm128HmacSha1_80;
        let (mut old_tx, mut phone_rx) = (ctx(suite), ctx(suite));
        old_tx.set_roc(SSRC, roc).unwrap();
        phone_rx.set_roc(SSRC, roc).unwrap();
        let mut seq = start;
        let mut used = std::collections::HashSet::new();
        let mut cp = None;
        for i in 0..before + lag {
            if i == before {
                cp = Some(old_tx.checkpoint());
            }
            let p = protect_rtp(&mut old_tx, SSRC, seq, b"o").unwrap();
            phone_rx.unprotect_rtp(&mut p.clone()).unwrap();
            used.insert(seq);
            seq = seq.wrapping_add(1);
        }
        let cp = cp.unwrap_or_else(|| old_tx.checkpoint());
        let mut new_tx = ctx(suite);
        new_tx.resume(&cp, 1000).unwrap();
        // The phone keeps counting from where it was.
        for _ in 0..100 {
            let p = protect_rtp(&mut new_tx, SSRC, seq, b"n").unwrap();
            prop_assert!(phone_rx.unprotect_rtp(&mut p.clone()).is_ok());
            seq = seq.wrapping_add(1);
        }
    }
}

// A stream the old context started after its last checkpoint is not in
// the checkpoint: the resumed context still starts its SRTCP past the
// margin, so no SRTCP index the old one may have used comes again.
#[test]
fn a_stream_missing_from_the_checkpoint_starts_srtcp_past_the_margin() {
    let suite = Suite::AesCm128HmacSha1_80;
    let mut old_tx = ctx(suite);
    let cp = old_tx.checkpoint();
    let mut used = Vec::new();
    for _ in 0..5 {
        used.push(srtcp_index(
            &protect_rtcp(&mut old_tx, 0xabcd, b"late").unwrap(),
            suite,
        ));
    }
    let mut new_tx = ctx(suite);
    new_tx.resume(&cp, 500).unwrap();
    let idx = srtcp_index(&protect_rtcp(&mut new_tx, 0xabcd, b"late").unwrap(), suite);
    assert!(idx >= 500 && !used.contains(&idx), "{idx} vs {used:?}");
}
