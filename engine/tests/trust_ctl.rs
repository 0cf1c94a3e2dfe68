//! The Certificate Trust List: a valid list verifies; a tampered payload, a
//! tampered signature, an unknown signer, a single token, a rollback, a
//! reused version, a signer the previous list did not trust and an expired
//! certificate are each refused with their own error; the mixed-mode start
//! check; the payload source format.

use base64::Engine;
use rampart::policy::ClusterMode;
use rampart::trust::ctl::{unix_now, SIGNING_CONTEXT};
use rampart::trust::secret::{hex, write_public};
use rampart::trust::{
    default_state_path, load_ctl, require_ctl_for_mixed, sign_payload, verify_ctl, CtlEntry,
    CtlPayload, CtlSource, CtlState, IssueRequest, NodeCa, Role, SignedCtl, TokenAlg, TokenKey,
    TrustError,
};
use time::{Duration, OffsetDateTime};

struct Fixture {
    ca: NodeCa,
    a: TokenKey,
    b: TokenKey,
    agent_pem: String,
    agent_fp: [u8; 32],
}

fn fixture() -> Fixture {
    let (ca, _key) = NodeCa::generate("test CA", 30).unwrap();
    let agent = ca
        .issue(&IssueRequest::for_days("kamailio-1", Role::CallAgent, 10))
        .unwrap();
    Fixture {
        ca,
        a: TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap(),
        b: TokenKey::generate("sast2", TokenAlg::EcdsaP256).unwrap(),
        agent_pem: agent.cert_pem.clone(),
        agent_fp: agent.sha256,
    }
}

fn payload(f: &Fixture, version: u64) -> CtlPayload {
    CtlPayload {
        version,
        issued_at: 1_700_000_000,
        entries: vec![
            CtlEntry {
                role: Role::CallAgent,
                subject: "kamailio-1".into(),
                cert_pem: Some(f.agent_pem.clone()),
                sha256: None,
            },
            CtlEntry {
                role: Role::MediaNode,
                subject: "relay-2".into(),
                cert_pem: None,
                sha256: Some(hex(&[7u8; 32])),
            },
        ],
        tokens: vec![f.a.info(), f.b.info()],
    }
}

fn signed(f: &Fixture, version: u64) -> String {
    sign_payload(&payload(f, version), &f.a).unwrap().to_json()
}

fn now() -> i64 {
    unix_now()
}

#[test]
fn valid_list_verifies_with_either_token() {
    let f = fixture();
    for key in [&f.a, &f.b] {
        let text = sign_payload(&payload(&f, 1), key).unwrap().to_json();
        let ctl = verify_ctl(&text, None, now()).unwrap();
        assert_eq!(ctl.version, 1);
        assert_eq!(ctl.signer, key.id());
        assert_eq!(ctl.entries.len(), 2);
        assert!(ctl.allows(&f.agent_fp, Role::CallAgent));
        assert!(!ctl.allows(&f.agent_fp, Role::MediaNode));
        assert!(ctl.allows(&[7u8; 32], Role::MediaNode));
        assert_eq!(ctl.fingerprints(Role::CallAgent).count(), 1);
    }
}

#[test]
fn tampered_payload_is_refused() {
    let f = fixture();
    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    // Still valid JSON, still a valid payload: only the signature catches it.
    file.payload = file.payload.replace("relay-2", "relay-X");
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");
    assert!(e.to_string().contains("altered"), "{e}");

    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    file.payload = file.payload.replace("\"version\":1", "\"version\":9");
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");
}

#[test]
fn tampered_signature_is_refused() {
    let f = fixture();
    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64.decode(&file.signature.value).unwrap();
    sig[10] ^= 1;
    file.signature.value = b64.encode(&sig);
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");

    file.signature.value = "not base64 !!".into();
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::MalformedSignature(_)), "{e}");

    // A signature block claiming the other algorithm.
    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    file.signature.algorithm = TokenAlg::EcdsaP256;
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::AlgorithmMismatch { .. }), "{e}");
}

#[test]
fn unknown_signer_is_refused() {
    let f = fixture();
    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    file.signature.token = "ghost".into();
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(
        matches!(e, TrustError::UnknownSigner { ref signer } if signer == "ghost"),
        "{e}"
    );
    assert!(e.to_string().contains("ghost"));

    // An outsider's key cannot sign a list that does not register it...
    let outsider = TokenKey::generate("mallory", TokenAlg::Ed25519).unwrap();
    assert!(matches!(
        sign_payload(&payload(&f, 1), &outsider),
        Err(TrustError::UnknownSigner { .. })
    ));
    // ...and a signature made with it under a registered id fails.
    let mut file: SignedCtl = serde_json::from_str(&signed(&f, 1)).unwrap();
    let mut msg = SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(file.payload.as_bytes());
    let forged = TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap();
    file.signature.value =
        base64::engine::general_purpose::STANDARD.encode(forged.sign(&msg).unwrap());
    let e = verify_ctl(&file.to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");
}

#[test]
fn one_token_only_is_refused() {
    let f = fixture();
    let mut p = payload(&f, 1);
    p.tokens.truncate(1);
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::TooFewTokens { count: 1 }), "{e}");
    assert!(e.to_string().contains("at least two"), "{e}");

    // The same token twice is still one token.
    let mut p = payload(&f, 1);
    p.tokens = vec![f.a.info(), f.a.info()];
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadToken(_)), "{e}");
    let mut second = f.a.info();
    second.id = "copy".into();
    p.tokens = vec![f.a.info(), second];
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadToken(_)), "{e}");
}

#[test]
fn token_key_off_the_p256_curve_is_refused() {
    // A list signed properly by token A that registers, as its second
    // token, a P-256 "key" that is no point on the curve: that second token
    // could never sign anything, so the list has one usable token, not two.
    let f = fixture();
    let mut p = payload(&f, 1);
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&p.tokens[1].public_key)
        .unwrap();
    assert_eq!((raw.len(), raw[0]), (65, 0x04));
    raw[64] ^= 1; // y no longer matches x
    p.tokens[1].public_key = base64::engine::general_purpose::STANDARD.encode(&raw);
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadToken(_)), "{e}");
    assert!(
        e.to_string().contains("not a point on the P-256 curve"),
        "{e}"
    );
    assert!(e.to_string().contains("sast2"), "{e}");
    // Coordinates of all ones (above the field prime) too.
    p.tokens[1].public_key = base64::engine::general_purpose::STANDARD.encode({
        let mut k = vec![0xffu8; 65];
        k[0] = 0x04;
        k
    });
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadToken(_)), "{e}");
}

#[test]
fn rollback_is_refused_and_state_is_persisted() {
    let f = fixture();
    let dir = tempdir("rollback");
    let path = dir.join("ctl.json");
    let state = dir.join("ctl.state");
    write_public(&path, signed(&f, 2).as_bytes(), true).unwrap();
    assert_eq!(load_ctl(&path, Some(&state)).unwrap().version, 2);
    let st = CtlState::load(&state).unwrap().unwrap();
    assert_eq!(st.version, 2);
    assert_eq!(st.tokens.len(), 2);
    // Loading the same list again is fine.
    load_ctl(&path, Some(&state)).unwrap();

    // An older, validly signed list is a rollback.
    write_public(&path, signed(&f, 1).as_bytes(), true).unwrap();
    let e = load_ctl(&path, Some(&state)).unwrap_err();
    assert!(
        matches!(
            e,
            TrustError::Rollback {
                version: 1,
                last: 2
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("rollback"), "{e}");
    assert_eq!(
        CtlState::load(&state).unwrap().unwrap().version,
        2,
        "state kept"
    );

    // Version 2 with other content is refused too.
    let mut p = payload(&f, 2);
    p.entries.pop();
    write_public(
        &path,
        sign_payload(&p, &f.b).unwrap().to_json().as_bytes(),
        true,
    )
    .unwrap();
    let e = load_ctl(&path, Some(&state)).unwrap_err();
    assert!(matches!(e, TrustError::VersionReused { version: 2 }), "{e}");

    // A newer one is accepted and recorded.
    write_public(&path, signed(&f, 3).as_bytes(), true).unwrap();
    load_ctl(&path, Some(&state)).unwrap();
    assert_eq!(CtlState::load(&state).unwrap().unwrap().version, 3);

    // Default state path: next to the list.
    assert_eq!(default_state_path(&path), dir.join("ctl.json.state"));
    load_ctl(&path, None).unwrap();
    assert!(dir.join("ctl.json.state").exists());
}

#[test]
fn a_new_list_must_be_signed_by_a_token_the_old_one_trusted() {
    let f = fixture();
    let first = verify_ctl(&signed(&f, 1), None, now()).unwrap().state();
    let c = TokenKey::generate("new1", TokenAlg::Ed25519).unwrap();
    let d = TokenKey::generate("new2", TokenAlg::Ed25519).unwrap();
    let mut p = payload(&f, 2);
    p.tokens = vec![c.info(), d.info()];
    let text = sign_payload(&p, &c).unwrap().to_json();
    let e = verify_ctl(&text, Some(&first), now()).unwrap_err();
    assert!(
        matches!(
            e,
            TrustError::UntrustedSigner {
                last_version: 1,
                ..
            }
        ),
        "{e}"
    );
    // Rotation: the old token signs a list that registers the new ones.
    p.tokens = vec![f.a.info(), c.info(), d.info()];
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let second = verify_ctl(&text, Some(&first), now()).unwrap().state();
    p.version = 3;
    p.tokens = vec![c.info(), d.info()];
    let text = sign_payload(&p, &d).unwrap().to_json();
    verify_ctl(&text, Some(&second), now()).unwrap();
}

#[test]
fn expired_certificate_is_refused() {
    let f = fixture();
    let now_t = OffsetDateTime::now_utc();
    let expired =
        f.ca.issue(&IssueRequest {
            name: "old-agent".into(),
            role: Role::CallAgent,
            not_before: now_t - Duration::days(30),
            not_after: now_t - Duration::days(1),
        })
        .unwrap();
    let mut p = payload(&f, 1);
    p.entries.push(CtlEntry {
        role: Role::CallAgent,
        subject: "old-agent".into(),
        cert_pem: Some(expired.cert_pem.clone()),
        sha256: None,
    });
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(
        matches!(e, TrustError::CertExpired { ref subject, .. } if subject == "old-agent"),
        "{e}"
    );
    assert!(e.to_string().contains("expired"), "{e}");

    // Not yet valid.
    let future =
        f.ca.issue(&IssueRequest {
            name: "future".into(),
            role: Role::CallAgent,
            not_before: now_t + Duration::days(2),
            not_after: now_t + Duration::days(30),
        })
        .unwrap();
    let mut p = payload(&f, 1);
    p.entries[0].cert_pem = Some(future.cert_pem);
    let text = sign_payload(&p, &f.a).unwrap().to_json();
    let e = verify_ctl(&text, None, now()).unwrap_err();
    assert!(matches!(e, TrustError::CertNotYetValid { .. }), "{e}");
}

#[test]
fn entry_checks() {
    let f = fixture();
    let mut p = payload(&f, 1);
    p.entries[0].sha256 = Some(hex(&[1u8; 32]));
    let e = verify_ctl(&sign_payload(&p, &f.a).unwrap().to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadEntry { .. }), "{e}");
    assert!(e.to_string().contains("does not match"), "{e}");

    let mut p = payload(&f, 1);
    p.entries[1].sha256 = None;
    let e = verify_ctl(&sign_payload(&p, &f.a).unwrap().to_json(), None, now()).unwrap_err();
    assert!(matches!(e, TrustError::BadEntry { .. }), "{e}");

    // A fingerprint that matches its certificate is fine.
    let mut p = payload(&f, 1);
    p.entries[0].sha256 = Some(hex(&f.agent_fp).to_uppercase());
    verify_ctl(&sign_payload(&p, &f.a).unwrap().to_json(), None, now()).unwrap();
}

#[test]
fn malformed_files_are_refused() {
    for text in [
        "",
        "{}",
        "not json",
        r#"{"format":"other","payload":"{}","signature":{"token":"a","algorithm":"ed25519","value":""}}"#,
    ] {
        let e = verify_ctl(text, None, now()).unwrap_err();
        assert!(matches!(e, TrustError::Malformed(_)), "{text}: {e}");
    }
}

#[test]
fn mixed_mode_requires_a_valid_list() {
    let f = fixture();
    let e = require_ctl_for_mixed(ClusterMode::Mixed, None, None).unwrap_err();
    assert!(matches!(e, TrustError::MixedNeedsCtl));
    assert!(e.to_string().contains("refusing to start"), "{e}");

    let dir = tempdir("mixed");
    let path = dir.join("ctl.json");
    let state = dir.join("s");
    let e = require_ctl_for_mixed(ClusterMode::Mixed, Some(&path), Some(&state)).unwrap_err();
    assert!(matches!(e, TrustError::MixedCtlInvalid(_)), "{e}");
    assert!(e.to_string().contains("ctl.json"), "{e}");

    let mut p = payload(&f, 1);
    p.tokens.truncate(1);
    write_public(
        &path,
        sign_payload(&p, &f.a).unwrap().to_json().as_bytes(),
        true,
    )
    .unwrap();
    let e = require_ctl_for_mixed(ClusterMode::Mixed, Some(&path), Some(&state)).unwrap_err();
    assert!(e.to_string().contains("at least two"), "{e}");

    write_public(&path, signed(&f, 1).as_bytes(), true).unwrap();
    let ctl = require_ctl_for_mixed(ClusterMode::Mixed, Some(&path), Some(&state))
        .unwrap()
        .unwrap();
    assert_eq!(ctl.version, 1);
    assert!(require_ctl_for_mixed(ClusterMode::Nonsecure, None, None)
        .unwrap()
        .is_none());
    assert!(
        require_ctl_for_mixed(ClusterMode::Nonsecure, Some(&path), Some(&state))
            .unwrap()
            .is_some()
    );
}

#[test]
fn payload_source_resolves_files() {
    let f = fixture();
    let dir = tempdir("source");
    let (_, pub_a) = f.a.save(&dir.join("tokens")).unwrap();
    std::fs::write(dir.join("agent.crt"), &f.agent_pem).unwrap();
    let src = format!(
        r#"
version = 5
[[entries]]
role = "call-agent"
cert_file = "agent.crt"

[[entries]]
role = "tftp"
subject = "tftp-1"
sha256 = "{}"

[[tokens]]
public_key_file = "tokens/{}"

{}"#,
        hex(&[9u8; 32]),
        pub_a.file_name().unwrap().to_string_lossy(),
        f.b.info().to_pub_file()
    );
    let src_path = dir.join("ctl.toml");
    std::fs::write(&src_path, src).unwrap();
    let p = CtlSource::load(&src_path, 1234).unwrap();
    assert_eq!(p.version, 5);
    assert_eq!(p.issued_at, 1234);
    assert_eq!(p.tokens, vec![f.a.info(), f.b.info()]);
    assert!(
        p.entries[0].subject.contains("kamailio-1"),
        "{}",
        p.entries[0].subject
    );
    let ctl = verify_ctl(&sign_payload(&p, &f.b).unwrap().to_json(), None, now()).unwrap();
    assert!(ctl.allows(&f.agent_fp, Role::CallAgent));
    assert!(ctl.allows(&[9u8; 32], Role::Tftp));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[[entries]]\nsubject = \"x\"\nsha256 = \"00\"\n",
    )
    .unwrap();
    assert!(matches!(
        CtlSource::load(&bad, 0),
        Err(TrustError::Malformed(_))
    ));
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let d = std::env::temp_dir().join(format!("rampart-trust-{tag}-{}", hex(&rnd)));
    std::fs::create_dir_all(&d).unwrap();
    d
}
