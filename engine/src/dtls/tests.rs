//! Two endpoints against each other, in process: both roles, both key
//! types, a wrong fingerprint, lost datagrams, garbage.

use std::time::{Duration, Instant};

use super::*;
use crate::srtp::{Context, Policy};
use proptest::prelude::*;

/// Moves datagrams between `a` and `b` until both are connected or one
/// fails; `drop` decides (by datagram number) which are lost. Bounded by
/// `limit`; the timers run every 50 ms.
fn pump(
    a: &mut Endpoint,
    b: &mut Endpoint,
    mut drop: impl FnMut(usize) -> bool,
    limit: Duration,
) -> Result<(), DtlsError> {
    let end = Instant::now() + limit;
    let mut n = 0;
    while Instant::now() < end {
        let mut moved = false;
        while let Some(d) = a.poll_datagram() {
            moved = true;
            n += 1;
            if !drop(n) {
                b.on_datagram(&d)?;
            }
        }
        while let Some(d) = b.poll_datagram() {
            moved = true;
            n += 1;
            if !drop(n) {
                a.on_datagram(&d)?;
            }
        }
        if a.is_connected() && b.is_connected() {
            return Ok(());
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(50));
            a.on_timer()?;
            b.on_timer()?;
        }
    }
    Err(DtlsError::Handshake("the test's time ran out".into()))
}

fn rsa_certificate(bits: u32) -> Certificate {
    use openssl::rsa::Rsa;
    use openssl::x509::X509;
    let key = openssl::pkey::PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "rsa-peer").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let x509 = b.build();
    Certificate::from_pem(
        &x509.to_pem().unwrap(),
        &key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap()
}

/// What `local` protects, `remote` (the other side's) unprotects.
fn keys_carry_media(sender: &SrtpKeys, receiver: &SrtpKeys) {
    let suite = sender.profile.suite();
    let mut tx = Context::new(Policy::new(suite, sender.local.clone())).unwrap();
    let mut rx = Context::new(Policy::new(suite, receiver.remote.clone())).unwrap();
    let mut pkt = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
    pkt.extend_from_slice(b"hello over dtls-srtp");
    let n = pkt.len();
    pkt.resize(n + 32, 0);
    let len = tx.protect_rtp(&mut pkt, n).unwrap();
    let plain = rx.unprotect_rtp(&mut pkt[..len]).unwrap();
    assert_eq!(&pkt[12..plain], b"hello over dtls-srtp");
}

#[test]
fn both_roles_connect_and_export_crosswise_keys() {
    let (ca, cb) = (
        Certificate::generate("a").unwrap(),
        Certificate::generate("b").unwrap(),
    );
    let mut a = Endpoint::new(&ca, Role::Active, cb.fingerprint()).unwrap();
    let mut b = Endpoint::new(&cb, Role::Passive, ca.fingerprint()).unwrap();
    pump(&mut a, &mut b, |_| false, Duration::from_secs(10)).unwrap();
    let (ka, kb) = (a.keys().unwrap(), b.keys().unwrap());
    assert_eq!(ka.profile, Profile::AeadAes128Gcm, "first preference");
    assert_eq!(ka.profile, kb.profile);
    assert_eq!(ka.local.key_bytes(), kb.remote.key_bytes());
    assert_eq!(ka.local.salt_bytes(), kb.remote.salt_bytes());
    assert_eq!(ka.remote.key_bytes(), kb.local.key_bytes());
    assert_ne!(ka.local.key_bytes(), ka.remote.key_bytes());
    keys_carry_media(ka, kb);
    keys_carry_media(kb, ka);
}

#[test]
fn only_the_profiles_policy_allows_are_negotiated() {
    let (ca, cb) = (
        Certificate::generate("a").unwrap(),
        Certificate::generate("b").unwrap(),
    );
    // A client offering everything against a server allowed one profile.
    let only = [Profile::AesCm128Sha1_80];
    let mut a = Endpoint::new(&ca, Role::Active, cb.fingerprint()).unwrap();
    let mut b = Endpoint::with_profiles(&cb, Role::Passive, ca.fingerprint(), &only).unwrap();
    pump(&mut a, &mut b, |_| false, Duration::from_secs(10)).unwrap();
    assert_eq!(a.keys().unwrap().profile, Profile::AesCm128Sha1_80);
    assert_eq!(b.keys().unwrap().profile, Profile::AesCm128Sha1_80);
    // Nothing in common: no keys on either side.
    let mut a = Endpoint::with_profiles(
        &ca,
        Role::Active,
        cb.fingerprint(),
        &[Profile::AeadAes256Gcm],
    )
    .unwrap();
    let mut b = Endpoint::with_profiles(&cb, Role::Passive, ca.fingerprint(), &only).unwrap();
    assert!(pump(&mut a, &mut b, |_| false, Duration::from_secs(5)).is_err());
    assert!(a.keys().is_none() && b.keys().is_none());
    assert!(Endpoint::with_profiles(&ca, Role::Active, cb.fingerprint(), &[]).is_err());
}

/// Without ICE a passive endpoint answers anyone: with the cookie
/// exchange its first answer is a HelloVerifyRequest smaller than the
/// ClientHello (nothing to amplify toward a spoofed source), and the
/// certificate flight follows only the echoed cookie; a wrong cookie ends
/// the association without it.
#[test]
fn a_cookie_exchange_answers_a_clienthello_with_less_than_it_got() {
    let (ca, cb) = (
        Certificate::generate("a").unwrap(),
        Certificate::generate("b").unwrap(),
    );
    let pair = || {
        let client = Endpoint::new(&ca, Role::Active, cb.fingerprint()).unwrap();
        let server =
            Endpoint::with_options(&cb, Role::Passive, ca.fingerprint(), &Profile::ALL, true)
                .unwrap();
        (client, server)
    };
    let drain =
        |e: &mut Endpoint| -> Vec<Vec<u8>> { std::iter::from_fn(|| e.poll_datagram()).collect() };

    let (mut client, mut server) = pair();
    let hello = client.poll_datagram().expect("a ClientHello");
    server.on_datagram(&hello).unwrap();
    let answer = drain(&mut server);
    assert_eq!(answer.len(), 1, "one datagram");
    let hvr = &answer[0];
    assert_eq!((hvr[0], hvr[13]), (22, 3), "a HelloVerifyRequest");
    assert!(hvr.len() < hello.len(), "{} < {}", hvr.len(), hello.len());
    client.on_datagram(hvr).unwrap();
    pump(&mut client, &mut server, |_| false, Duration::from_secs(10)).unwrap();
    let (kc, ks) = (client.keys().unwrap(), server.keys().unwrap());
    assert_eq!(kc.local.key_bytes(), ks.remote.key_bytes());

    // The same with the echoed cookie's first byte changed on the way
    // (after the random and the session id): no certificate flight.
    let (mut client, mut server) = pair();
    let hello = client.poll_datagram().unwrap();
    server.on_datagram(&hello).unwrap();
    for d in drain(&mut server) {
        client.on_datagram(&d).unwrap();
    }
    let mut forged = client.poll_datagram().expect("ClientHello with cookie");
    let sid = usize::from(forged[59]);
    assert_eq!(usize::from(forged[60 + sid]), 16, "our cookie length");
    forged[61 + sid] ^= 0xff;
    assert!(server.on_datagram(&forged).is_err(), "a wrong cookie fails");
    assert!(drain(&mut server).iter().all(|d| d.len() < hello.len()));
    assert!(server.keys().is_none());
}

#[test]
fn an_rsa_peer_connects_in_both_roles() {
    let ours = Certificate::generate("rampart").unwrap();
    let rsa = rsa_certificate(2048);
    for role in [Role::Active, Role::Passive] {
        let other = match role {
            Role::Active => Role::Passive,
            Role::Passive => Role::Active,
        };
        let mut a = Endpoint::new(&ours, role, rsa.fingerprint()).unwrap();
        let mut b = Endpoint::new(&rsa, other, ours.fingerprint()).unwrap();
        pump(&mut a, &mut b, |_| false, Duration::from_secs(10)).unwrap();
        keys_carry_media(a.keys().unwrap(), b.keys().unwrap());
    }
}

#[test]
fn a_wrong_fingerprint_fails_the_handshake_closed() {
    let (ca, cb, stranger) = (
        Certificate::generate("a").unwrap(),
        Certificate::generate("b").unwrap(),
        Certificate::generate("mallory").unwrap(),
    );
    // b expects someone else than a.
    let mut a = Endpoint::new(&ca, Role::Active, cb.fingerprint()).unwrap();
    let mut b = Endpoint::new(&cb, Role::Passive, stranger.fingerprint()).unwrap();
    let r = pump(&mut a, &mut b, |_| false, Duration::from_secs(5));
    assert!(r.is_err());
    assert!(!b.is_connected() && b.keys().is_none());
    assert_eq!(b.on_timer(), Err(DtlsError::FingerprintMismatch));
    // And the other way: a expects a stranger.
    let mut a = Endpoint::new(&ca, Role::Active, stranger.fingerprint()).unwrap();
    let mut b = Endpoint::new(&cb, Role::Passive, ca.fingerprint()).unwrap();
    assert!(pump(&mut a, &mut b, |_| false, Duration::from_secs(5)).is_err());
    assert_eq!(a.on_timer(), Err(DtlsError::FingerprintMismatch));
    assert!(a.keys().is_none());
}

#[test]
fn lost_flights_are_sent_again_when_the_timer_runs_out() {
    let (ca, cb) = (
        Certificate::generate("a").unwrap(),
        Certificate::generate("b").unwrap(),
    );
    let mut a = Endpoint::new(&ca, Role::Active, cb.fingerprint()).unwrap();
    let mut b = Endpoint::new(&cb, Role::Passive, ca.fingerprint()).unwrap();
    // Lose the first ClientHello and the server's first flight.
    let mut lost = 0;
    pump(
        &mut a,
        &mut b,
        |n| {
            let l = n == 1 || n == 3;
            lost += usize::from(l);
            l
        },
        Duration::from_secs(15),
    )
    .unwrap();
    assert_eq!(lost, 2);
    keys_carry_media(a.keys().unwrap(), b.keys().unwrap());
}

#[test]
fn sdp_fingerprints_round_trip_and_refuse_what_cannot_be_checked() {
    let c = Certificate::generate("x").unwrap();
    let f = c.fingerprint();
    let s = f.to_string();
    assert!(
        s.starts_with("sha-256 ") && s.len() == 8 + 32 * 3 - 1,
        "{s}"
    );
    assert_eq!(Fingerprint::parse_sdp(&s), Some(f));
    assert_eq!(
        Fingerprint::parse_sdp(&s.to_lowercase().replace("sha-256", "SHA-256")),
        Some(f)
    );
    assert_eq!(Fingerprint::parse_sdp(&s.replace("sha-256", "sha-1")), None);
    assert_eq!(Fingerprint::parse_sdp(&s[..s.len() - 3]), None);
    assert_eq!(Fingerprint::parse_sdp(&format!("{s}:00")), None);
    assert_eq!(Fingerprint::parse_sdp("sha-256 zz"), None);
    // A kept certificate is the same certificate.
    let again = Certificate::from_pem(&c.cert_pem().unwrap(), &c.key_pem().unwrap()).unwrap();
    assert_eq!(again.fingerprint(), f);
    let other = Certificate::generate("y").unwrap();
    assert!(Certificate::from_pem(&c.cert_pem().unwrap(), &other.key_pem().unwrap()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn garbage_never_panics_and_never_connects(
        d in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)
    ) {
        let c = Certificate::generate("p").unwrap();
        let mut e = Endpoint::new(&c, Role::Passive, c.fingerprint()).unwrap();
        for x in &d {
            let _ = e.on_datagram(x);
        }
        let _ = e.on_timer();
        prop_assert!(!e.is_connected());
        prop_assert!(e.keys().is_none());
    }
}
