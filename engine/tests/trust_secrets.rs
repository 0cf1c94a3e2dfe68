//! Secrets on disk: token keys, the CA key and issued keys are written with
//! mode 0600 (public halves 0644), never over an existing file, and load
//! back; key material is held in zeroizing types.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rampart::trust::capf::{role_in_cert, CA_CERT_FILE, CA_KEY_FILE};
use rampart::trust::secret::{hex, write_secret};
use rampart::trust::{IssueRequest, NodeCa, Role, TokenAlg, TokenKey, TrustError};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn tempdir(tag: &str) -> PathBuf {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let d = std::env::temp_dir().join(format!("rampart-secrets-{tag}-{}", hex(&rnd)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn token_keys_are_0600_and_load_back() {
    let dir = tempdir("token");
    for (id, alg) in [("ed", TokenAlg::Ed25519), ("ec", TokenAlg::EcdsaP256)] {
        let k = TokenKey::generate(id, alg).unwrap();
        let (key, public) = k.save(&dir).unwrap();
        assert_eq!(key, dir.join(format!("{id}.key")));
        assert_eq!(mode(&key), 0o600, "{}", key.display());
        assert_eq!(mode(&public), 0o644);
        let back = TokenKey::load(&key).unwrap();
        assert_eq!(back.id(), id);
        assert_eq!(back.alg(), alg);
        assert_eq!(back.public_key(), k.public_key());
        // Never overwritten.
        assert!(matches!(k.save(&dir), Err(TrustError::Exists(_))));
    }
}

#[test]
fn write_secret_is_0600_and_never_overwrites() {
    let dir = tempdir("plain");
    let p = dir.join("x.key");
    write_secret(&p, b"secret").unwrap();
    assert_eq!(mode(&p), 0o600);
    assert!(matches!(
        write_secret(&p, b"again"),
        Err(TrustError::Exists(_))
    ));
    assert_eq!(std::fs::read(&p).unwrap(), b"secret");
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn ca_and_issued_keys_are_0600() {
    let dir = tempdir("ca");
    let ca = NodeCa::create_in(&dir, "test CA", 30).unwrap();
    assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(CA_CERT_FILE)), 0o644);
    assert!(matches!(
        NodeCa::create_in(&dir, "again", 30),
        Err(TrustError::Exists(_))
    ));
    let loaded = NodeCa::load(&dir).unwrap();
    assert_eq!(loaded.cert_der(), ca.cert_der());
    let out = dir.join("issued");
    let req = IssueRequest::for_days("kamailio-1", Role::CallAgent, 5);
    let (issued, crt, key) = loaded.issue_to_dir(&req, &out).unwrap();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&crt), 0o644);
    assert_eq!(role_in_cert(&issued.cert_der), Some(Role::CallAgent));
    // The key is held in a zeroizing buffer.
    let _: &zeroize::Zeroizing<String> = &issued.key_pem;
    assert!(matches!(
        loaded.issue_to_dir(&req, &out),
        Err(TrustError::Exists(_))
    ));
    // Names that are not file names are refused.
    let bad = IssueRequest::for_days("../evil", Role::CallAgent, 5);
    assert!(loaded.issue_to_dir(&bad, &out).is_err());
}
