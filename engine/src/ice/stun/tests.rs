//! RFC 5769 known answers, and properties of the view and the writer.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// RFC 5769 §2.1, the sample request (short-term credentials).
const SAMPLE_REQUEST: &str = "0001 0058 2112a442 b7e7a701 bc34d686 fa87dfae
    8022 0010 5354554e 20746573 7420636c 69656e74
    0024 0004 6e0001ff
    8029 0008 932ff9b1 51263b36
    0006 0009 6576746a 3a683676 59202020
    0008 0014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
    8028 0004 e57a3bcf";

#[test]
fn rfc5769_sample_request_verifies_and_reads() {
    let b = hex(SAMPLE_REQUEST);
    let m = Message::parse(&b).unwrap();
    assert_eq!((m.method(), m.class()), (BINDING, Class::Request));
    assert_eq!(m.transaction_id(), TID);
    assert_eq!(m.username(), Some(&b"evtj:h6vY"[..]));
    assert_eq!(m.priority(), Some(0x6e00_01ff));
    assert!(m.has(attr::ICE_CONTROLLED));
    assert!(m.verify_fingerprint());
    assert!(m.verify_integrity(PASSWORD));
    assert!(!m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBu"));
    // One bit flipped anywhere before the fingerprint breaks both.
    let mut bad = b.clone();
    bad[30] ^= 1;
    let m = Message::parse(&bad).unwrap();
    assert!(!m.verify_fingerprint());
    assert!(!m.verify_integrity(PASSWORD));
}

#[test]
fn the_writer_rebuilds_the_rfc5769_request_byte_for_byte() {
    let mut out = Vec::new();
    let mut ice_controlled = [0u8; 8];
    ice_controlled.copy_from_slice(&hex("932ff9b1 51263b36"));
    Writer::new(&mut out, BINDING, Class::Request, TID)
        .attr_padded(attr::SOFTWARE, b"STUN test client", 0x20)
        .attr(attr::PRIORITY, &0x6e00_01ffu32.to_be_bytes())
        .attr(attr::ICE_CONTROLLED, &ice_controlled)
        .attr_padded(attr::USERNAME, b"evtj:h6vY", 0x20)
        .integrity(PASSWORD)
        .fingerprint();
    assert_eq!(out, hex(SAMPLE_REQUEST));
}

#[test]
fn rfc5769_xor_mapped_addresses() {
    // §2.2: 192.0.2.1:32853; §2.3: [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    for (addr, value) in [
        ("192.0.2.1:32853", "0001a147 e112a643"),
        (
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
            "0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9",
        ),
    ] {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut out = Vec::new();
        Writer::new(&mut out, BINDING, Class::Success, TID).xor_mapped_address(addr);
        assert_eq!(&out[HEADER + 4..], &hex(value)[..], "{addr}");
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.xor_mapped_address(), Some(addr));
        assert_eq!(m.class(), Class::Success);
    }
}

#[test]
fn message_types_interleave_class_and_method() {
    assert_eq!(message_type(BINDING, Class::Request), 0x0001);
    assert_eq!(message_type(BINDING, Class::Indication), 0x0011);
    assert_eq!(message_type(BINDING, Class::Success), 0x0101);
    assert_eq!(message_type(BINDING, Class::Error), 0x0111);
    assert_eq!(message_type(0x0fff, Class::Request), 0x3eef);
}

#[test]
fn malformed_framing_is_refused() {
    let b = hex(SAMPLE_REQUEST);
    assert_eq!(Message::parse(&b[..19]).unwrap_err(), StunError::Truncated);
    let mut cookie = b.clone();
    cookie[4] ^= 1;
    assert_eq!(Message::parse(&cookie).unwrap_err(), StunError::NotStun);
    let mut rtp = b.clone();
    rtp[0] = 0x80;
    assert_eq!(Message::parse(&rtp).unwrap_err(), StunError::NotStun);
    assert_eq!(
        Message::parse(&b[..b.len() - 4]).unwrap_err(),
        StunError::BadLength
    );
    // An attribute claiming more than the message holds.
    let mut long = b.clone();
    long[HEADER + 3] = 0xff;
    assert_eq!(Message::parse(&long).unwrap_err(), StunError::BadAttribute);
}

#[test]
fn attributes_after_integrity_are_not_read() {
    let mut out = Vec::new();
    Writer::new(&mut out, BINDING, Class::Request, TID)
        .attr(attr::USERNAME, b"a:b")
        .integrity(b"k")
        .attr(attr::USE_CANDIDATE, &[])
        .fingerprint();
    let m = Message::parse(&out).unwrap();
    assert!(m.verify_integrity(b"k"));
    assert!(m.verify_fingerprint());
    assert!(!m.has(attr::USE_CANDIDATE), "not covered by the integrity");
}

proptest! {
    #[test]
    fn parsing_anything_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::parse(&b) {
            let _ = (m.method(), m.class(), m.username(), m.priority(), m.error_code());
            let _ = (m.xor_mapped_address(), m.verify_fingerprint(), m.verify_integrity(b"k"));
            prop_assert!(m.attributes().count() <= b.len() / 4);
        }
    }

    #[test]
    fn what_the_writer_builds_parses_back(
        attrs in proptest::collection::vec((0u16..0x7fff, proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
        key in proptest::collection::vec(any::<u8>(), 1..40),
        tid in any::<[u8; 12]>(),
    ) {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, BINDING, Class::Request, tid);
        let attrs: Vec<_> = attrs
            .into_iter()
            .filter(|(t, _)| *t != attr::MESSAGE_INTEGRITY && *t != attr::FINGERPRINT)
            .collect();
        for (t, v) in &attrs {
            w.attr(*t, v);
        }
        w.integrity(&key).fingerprint();
        let m = Message::parse(&out).unwrap();
        prop_assert_eq!(m.transaction_id(), tid);
        prop_assert!(m.verify_integrity(&key));
        prop_assert!(m.verify_fingerprint());
        let read: Vec<_> = m.attributes().map(|(_, t, v)| (t, v.to_vec())).collect();
        prop_assert_eq!(&read[..attrs.len()], &attrs[..]);
    }
}
