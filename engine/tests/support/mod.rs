//! Helpers shared by the integration tests: a mixed-mode `[security]`
//! section with a trust list made on the spot (two fresh tokens, signed by
//! one), so tests can exercise SRTP calls under the security policy.

#![allow(dead_code)]

pub mod ng;

use std::path::PathBuf;

use rampart::policy::{ClusterMode, DeviceConfig, LegKind, PolicyConfig, SecurityMode};
use rampart::trust::ctl::unix_now;
use rampart::trust::{sign_payload, CtlEntry, CtlPayload, TokenAlg, TokenKey};

/// The device the HTTP and ng tests name on every leg: a 7970 configured
/// encrypted (so it may have any mode).
pub const TEST_DEVICE: &str = "SEP-TEST-7970";

/// A fresh directory under the system temp dir (removed first if present).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a trust list with `entries` signed by the first of two fresh
/// tokens into `dir/ctl.json`; returns its path.
pub fn write_ctl(dir: &std::path::Path, entries: Vec<CtlEntry>) -> PathBuf {
    let t1 = TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap();
    let t2 = TokenKey::generate("sast2", TokenAlg::Ed25519).unwrap();
    let payload = CtlPayload {
        version: 1,
        issued_at: unix_now() as u64,
        entries,
        tokens: vec![t1.info(), t2.info()],
    };
    let path = dir.join("ctl.json");
    std::fs::write(&path, sign_payload(&payload, &t1).unwrap().to_json()).unwrap();
    path
}

/// A device table row.
pub fn device(name: &str, model: &str, mode: SecurityMode) -> DeviceConfig {
    DeviceConfig {
        name: name.into(),
        model: model.into(),
        mode,
        kind: LegKind::Phone,
    }
}

/// A mixed-mode section with a fresh trust list in a temp dir named after
/// `name`, and [`TEST_DEVICE`] registered.
pub fn mixed(name: &str) -> PolicyConfig {
    let dir = temp_dir(name);
    PolicyConfig {
        enforce: true,
        cluster_mode: ClusterMode::Mixed,
        trust_list: Some(write_ctl(&dir, Vec::new())),
        devices: vec![device(TEST_DEVICE, "7970", SecurityMode::Encrypted)],
        ..PolicyConfig::default()
    }
}
