//! The lite agent against checks a full agent would send.

use super::*;
use crate::ice::stun::{attr, Class, Message, Writer, BINDING};
use proptest::prelude::*;

const PEER: &str = "198.51.100.7:40000";

fn ours() -> Credentials {
    Credentials {
        ufrag: "rmpt".into(),
        pwd: "0123456789abcdefghijklmn".into(),
    }
}

/// A check as a full (controlling) agent sends it.
fn check(username: &[u8], key: &[u8], use_candidate: bool, role: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out, BINDING, Class::Request, [7; 12]);
    w.attr(attr::USERNAME, username)
        .attr(attr::PRIORITY, &0x6e00_01ffu32.to_be_bytes())
        .attr(role, &[1, 2, 3, 4, 5, 6, 7, 8]);
    if use_candidate {
        w.attr(attr::USE_CANDIDATE, &[]);
    }
    w.integrity(key).fingerprint();
    out
}

fn good(use_candidate: bool) -> Vec<u8> {
    check(
        b"rmpt:brws",
        ours().pwd.as_bytes(),
        use_candidate,
        attr::ICE_CONTROLLING,
    )
}

#[test]
fn an_authentic_check_is_answered_and_its_nomination_selects_the_pair() {
    let mut a = IceLite::new(ours());
    a.set_remote_ufrag("brws");
    let from: SocketAddr = PEER.parse().unwrap();
    let mut out = Vec::new();
    assert_eq!(
        a.on_check(&good(false), from, 1_000, &mut out),
        Ok(Check::Answered { nominated: false })
    );
    assert_eq!(a.selected(), None, "no nomination yet");
    let r = Message::parse(&out).unwrap();
    assert_eq!((r.method(), r.class()), (BINDING, Class::Success));
    assert_eq!(r.transaction_id(), [7; 12]);
    assert_eq!(r.xor_mapped_address(), Some(from));
    assert!(r.verify_integrity(ours().pwd.as_bytes()));
    assert!(r.verify_fingerprint());

    assert_eq!(
        a.on_check(&good(true), from, 2_000, &mut out),
        Ok(Check::Answered { nominated: true })
    );
    assert_eq!(a.selected(), Some(from));
    assert_eq!(a.consent(2_000 + CONSENT_TIMEOUT_MS), Consent::Fresh);
    assert_eq!(a.consent(2_001 + CONSENT_TIMEOUT_MS), Consent::Expired);
    // A consent refresh (a check without USE-CANDIDATE) from the pair.
    a.on_check(&good(false), from, 20_000, &mut out).unwrap();
    assert_eq!(a.consent(40_000), Consent::Fresh);
}

#[test]
fn checks_that_fail_anything_are_dropped_and_move_nothing() {
    let mut a = IceLite::new(ours());
    a.set_remote_ufrag("brws");
    let from: SocketAddr = PEER.parse().unwrap();
    let other: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let mut out = Vec::new();
    a.on_check(&good(true), from, 0, &mut out).unwrap();
    let bad_key = check(
        b"rmpt:brws",
        b"not-the-password-at-all",
        true,
        attr::ICE_CONTROLLING,
    );
    let wrong_user = check(
        b"rmpt:evil",
        ours().pwd.as_bytes(),
        true,
        attr::ICE_CONTROLLING,
    );
    let other_ufrag = check(
        b"xxxx:brws",
        ours().pwd.as_bytes(),
        true,
        attr::ICE_CONTROLLING,
    );
    let mut no_fingerprint = Vec::new();
    Writer::new(&mut no_fingerprint, BINDING, Class::Request, [1; 12])
        .attr(attr::USERNAME, b"rmpt:brws")
        .attr(attr::USE_CANDIDATE, &[])
        .integrity(ours().pwd.as_bytes());
    let mut flipped = good(true);
    let n = flipped.len();
    flipped[n - 9] ^= 0x01; // in the integrity tag; fingerprint recomputed below
    let crc = crc32fast::hash(&flipped[..n - 8]) ^ 0x5354_554e;
    flipped[n - 4..].copy_from_slice(&crc.to_be_bytes());
    for (what, pkt, why) in [
        ("bad integrity", bad_key, CheckDrop::Integrity),
        ("tampered tag", flipped, CheckDrop::Integrity),
        (
            "their ufrag is not the peer's",
            wrong_user,
            CheckDrop::Username,
        ),
        ("not our ufrag", other_ufrag, CheckDrop::Username),
        ("no fingerprint", no_fingerprint, CheckDrop::Fingerprint),
    ] {
        assert_eq!(a.on_check(&pkt, other, 1, &mut out), Err(why), "{what}");
        assert!(out.is_empty(), "{what}: no answer");
        assert_eq!(a.selected(), Some(from), "{what}: the pair did not move");
    }
    assert_eq!(
        a.on_check(&[0x80, 0, 0, 0], other, 1, &mut out),
        Err(CheckDrop::Malformed(crate::ice::stun::StunError::Truncated))
    );
}

#[test]
fn a_peer_claiming_the_controlled_role_gets_487() {
    let mut a = IceLite::new(ours());
    let pkt = check(
        b"rmpt:brws",
        ours().pwd.as_bytes(),
        true,
        attr::ICE_CONTROLLED,
    );
    let mut out = Vec::new();
    let from: SocketAddr = PEER.parse().unwrap();
    assert_eq!(a.on_check(&pkt, from, 0, &mut out), Ok(Check::RoleConflict));
    let r = Message::parse(&out).unwrap();
    assert_eq!((r.class(), r.error_code()), (Class::Error, Some(487)));
    assert!(r.verify_integrity(ours().pwd.as_bytes()) && r.verify_fingerprint());
    assert_eq!(a.selected(), None);
}

#[test]
fn before_the_answer_any_peer_ufrag_is_taken_and_indications_are_keepalives() {
    let mut a = IceLite::new(ours());
    let mut out = Vec::new();
    let from: SocketAddr = PEER.parse().unwrap();
    assert!(matches!(
        a.on_check(&good(false), from, 0, &mut out),
        Ok(Check::Answered { .. })
    ));
    let mut ind = Vec::new();
    Writer::new(&mut ind, BINDING, Class::Indication, [2; 12]).fingerprint();
    assert_eq!(a.on_check(&ind, from, 0, &mut out), Ok(Check::Keepalive));
    assert!(out.is_empty());
}

#[test]
fn generated_credentials_are_ice_chars_of_the_right_length_and_differ() {
    let a = Credentials::generate().unwrap();
    let b = Credentials::generate().unwrap();
    assert_eq!((a.ufrag.len(), a.pwd.len()), (8, 24));
    assert!(a
        .ufrag
        .bytes()
        .chain(a.pwd.bytes())
        .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/'));
    assert_ne!(a, b);
    assert!(
        !format!("{a:?}").contains(&a.pwd),
        "the password stays out of logs"
    );
}

proptest! {
    #[test]
    fn nothing_unauthenticated_moves_the_pair(
        pkt in proptest::collection::vec(any::<u8>(), 0..120),
        use_candidate in any::<bool>(),
    ) {
        let mut a = IceLite::new(ours());
        let from: SocketAddr = PEER.parse().unwrap();
        let mut out = Vec::new();
        a.on_check(&good(true), from, 0, &mut out).unwrap();
        // Random bytes, and a check keyed with a password that is not ours.
        let forged = check(b"rmpt:brws", b"0123456789abcdefghijklmX", use_candidate, attr::ICE_CONTROLLING);
        let other: SocketAddr = "203.0.113.1:1".parse().unwrap();
        for p in [pkt, forged] {
            let r = a.on_check(&p, other, 5, &mut out);
            prop_assert!(r.is_err() || r == Ok(Check::Keepalive), "{:?}", r);
            prop_assert_eq!(a.selected(), Some(from));
        }
    }
}
