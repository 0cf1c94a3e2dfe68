//! The ICE-lite agent on arbitrary datagrams: `stun::Message::parse` and,
//! when it succeeds, every accessor; then `IceLite::on_check`. Nothing may
//! panic; a datagram that is not an authentic check (which random bytes
//! cannot be: it needs the agent's password) is never answered and never
//! moves the selected pair; whatever the agent answers parses back with a
//! valid FINGERPRINT and MESSAGE-INTEGRITY.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::ice::lite::{Check, Credentials, IceLite};
use rampart::ice::stun::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let _ = (m.method(), m.class(), m.transaction_id(), m.username());
        let _ = (m.priority(), m.error_code(), m.xor_mapped_address());
        let _ = (m.verify_fingerprint(), m.verify_integrity(b"pwd"));
        assert!(m.attributes().count() <= data.len() / 4);
    }
    let creds = Credentials {
        ufrag: "fuzz".into(),
        pwd: "0123456789abcdefghijklmn".into(),
    };
    let mut agent = IceLite::new(creds.clone());
    let from = "198.51.100.1:5000".parse().unwrap();
    let mut out = Vec::new();
    match agent.on_check(data, from, 1, &mut out) {
        Ok(Check::Keepalive) | Err(_) => assert!(out.is_empty()),
        Ok(_) => {
            let r = Message::parse(&out).expect("our answer parses");
            assert!(r.verify_fingerprint() && r.verify_integrity(creds.pwd.as_bytes()));
        }
    }
    assert_eq!(agent.selected(), None, "random bytes never nominate");
});
