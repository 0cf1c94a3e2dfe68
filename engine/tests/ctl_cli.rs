//! The trust-plane CLI end to end: `rampart ctl token-new | sign | verify |
//! show` and `rampart capf ca-new | issue`, run as the built binary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run rampart")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "rampart {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str], code: i32) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "rampart {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn tempdir() -> PathBuf {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let tag: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let d = std::env::temp_dir().join(format!("rampart-ctl-cli-{tag}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn payload(version: u64, tokens: &[&str]) -> String {
    let mut t = format!(
        "version = {version}\n\n[[entries]]\nrole = \"call-agent\"\nsubject = \"kamailio-1\"\ncert_file = \"certs/kamailio-1.crt\"\n\n[[entries]]\nrole = \"media-node\"\ncert_file = \"certs/relay-1.crt\"\n\n"
    );
    for id in tokens {
        t.push_str(&format!(
            "[[tokens]]\npublic_key_file = \"tokens/{id}.pub\"\n\n"
        ));
    }
    t
}

#[test]
fn ctl_and_capf_round_trip() {
    let dir = tempdir();
    let tokens = dir.join("tokens");
    let ca = dir.join("ca");
    let certs = dir.join("certs");

    // Two tokens, one of each algorithm.
    let out = ok(&["ctl", "token-new", "--out", s(&tokens), "--id", "sast1"]);
    assert!(out.contains("sast1") && out.contains("ed25519"), "{out}");
    ok(&[
        "ctl",
        "token-new",
        "--out",
        s(&tokens),
        "--id",
        "sast2",
        "--alg",
        "ecdsa-p256",
    ]);
    for id in ["sast1", "sast2"] {
        assert_eq!(mode(&tokens.join(format!("{id}.key"))), 0o600);
        assert!(tokens.join(format!("{id}.pub")).exists());
    }
    let pem = std::fs::read_to_string(tokens.join("sast1.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    // Never overwrites a token.
    let err = fails(
        &["ctl", "token-new", "--out", s(&tokens), "--id", "sast1"],
        1,
    );
    assert!(err.contains("exists"), "{err}");
    fails(
        &[
            "ctl",
            "token-new",
            "--out",
            s(&tokens),
            "--id",
            "x",
            "--alg",
            "rsa",
        ],
        2,
    );

    // Node CA and two certificates.
    let out = ok(&["capf", "ca-new", "--out", s(&ca)]);
    assert!(out.contains("sha256"), "{out}");
    assert_eq!(mode(&ca.join("ca.key")), 0o600);
    let out = ok(&[
        "capf",
        "issue",
        "--ca",
        s(&ca),
        "--name",
        "kamailio-1",
        "--role",
        "call-agent",
        "--out",
        s(&certs),
        "--days",
        "30",
    ]);
    assert!(out.contains("call-agent"), "{out}");
    ok(&[
        "capf",
        "issue",
        "--ca",
        s(&ca),
        "--name",
        "relay-1",
        "--role",
        "media-node",
        "--out",
        s(&certs),
    ]);
    assert_eq!(mode(&certs.join("kamailio-1.key")), 0o600);
    let agent_pem = std::fs::read_to_string(certs.join("kamailio-1.crt")).unwrap();
    let agent_der = rampart::trust::secret::pem_decode(&agent_pem, "CERTIFICATE").unwrap();
    assert_eq!(
        rampart::trust::capf::role_in_cert(&agent_der),
        Some(rampart::trust::Role::CallAgent)
    );
    fails(
        &[
            "capf",
            "issue",
            "--ca",
            s(&ca),
            "--name",
            "x",
            "--role",
            "admin",
            "--out",
            s(&certs),
        ],
        2,
    );

    // Sign version 2, verify, show.
    let src = dir.join("ctl.toml");
    let ctl = dir.join("ctl.json");
    let state = dir.join("ctl.state");
    std::fs::write(&src, payload(2, &["sast1", "sast2"])).unwrap();
    let out = ok(&[
        "ctl",
        "sign",
        "--payload",
        s(&src),
        "--token",
        s(&tokens.join("sast1.key")),
        "--out",
        s(&ctl),
    ]);
    assert!(out.contains("version 2"), "{out}");
    let out = ok(&["ctl", "verify", s(&ctl)]);
    assert!(
        out.starts_with("OK") && out.contains("rollback not checked"),
        "{out}"
    );
    let out = ok(&["ctl", "verify", s(&ctl), "--state", s(&state)]);
    assert!(out.starts_with("OK"), "{out}");
    assert!(state.exists());
    let out = ok(&["ctl", "show", s(&ctl)]);
    for needle in [
        "version:   2",
        "sast1",
        "sast2",
        "ecdsa-p256",
        "call-agent",
        "kamailio-1",
        "media-node",
        "signature: valid",
    ] {
        assert!(out.contains(needle), "{needle:?} missing in:\n{out}");
    }
    // The library reads what the CLI wrote.
    let lib = rampart::trust::load_ctl(&ctl, Some(&dir.join("lib.state"))).unwrap();
    let fp = rampart::trust::secret::sha256(&agent_der);
    assert!(lib.allows(&fp, rampart::trust::Role::CallAgent));

    // Rollback: version 1, validly signed by the other token, is refused
    // against the recorded state.
    let old = dir.join("ctl-v1.json");
    std::fs::write(&src, payload(1, &["sast1", "sast2"])).unwrap();
    ok(&[
        "ctl",
        "sign",
        "--payload",
        s(&src),
        "--token",
        s(&tokens.join("sast2.key")),
        "--out",
        s(&old),
    ]);
    let err = fails(&["ctl", "verify", s(&old), "--state", s(&state)], 1);
    assert!(err.contains("rollback"), "{err}");

    // Tampering with the file is caught by verify and shown by show.
    let text = std::fs::read_to_string(&ctl).unwrap();
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, text.replace("kamailio-1", "kamailio-9")).unwrap();
    let err = fails(&["ctl", "verify", s(&tampered)], 1);
    assert!(err.contains("altered"), "{err}");
    let out = ok(&["ctl", "show", s(&tampered)]);
    assert!(out.contains("signature: INVALID"), "{out}");

    // A payload with one token only is not signed.
    std::fs::write(&src, payload(3, &["sast1"])).unwrap();
    let err = fails(
        &[
            "ctl",
            "sign",
            "--payload",
            s(&src),
            "--token",
            s(&tokens.join("sast1.key")),
            "--out",
            s(&dir.join("one.json")),
        ],
        1,
    );
    assert!(err.contains("at least two"), "{err}");
    assert!(!dir.join("one.json").exists());

    // A token the payload does not register cannot sign it.
    ok(&["ctl", "token-new", "--out", s(&tokens), "--id", "outsider"]);
    std::fs::write(&src, payload(3, &["sast1", "sast2"])).unwrap();
    let err = fails(
        &[
            "ctl",
            "sign",
            "--payload",
            s(&src),
            "--token",
            s(&tokens.join("outsider.key")),
            "--out",
            s(&dir.join("x.json")),
        ],
        1,
    );
    assert!(err.contains("outsider"), "{err}");

    let _ = std::fs::remove_dir_all(&dir);
}
