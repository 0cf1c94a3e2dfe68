//! Reloading the trust list while the node runs (SIGHUP or
//! `POST /policy/trust-list/reload`).
//!
//! Why here and why this way: revoking a call agent means signing a new
//! list without it, and that must take effect without a restart, including
//! for the agent's connections that are already open. A reload re-reads the
//! configured file and verifies it exactly as at start ([`verify_ctl`]:
//! format, two tokens, signature, signer pinned by the last accepted list,
//! no older version, no reused version, valid certificates). Only a list
//! that passes every check is recorded in the state file and swapped in;
//! a bad file changes nothing and is reported. The prior the new list is
//! checked against is the newer of the state file and the list running, so
//! deleting the state file cannot open the door to a rollback either.
//! After the swap the control channel's verifier gets the new call agents
//! and connections of agents no longer named are ended
//! ([`TlsConnections::close_unlisted`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde::Serialize;

use super::connections::TlsConnections;
use super::ctl::{unix_now, verify_ctl, Ctl, CtlState};
use super::secret::hex;
use super::tls::CtlClientVerifier;
use super::{default_state_path, Role, TrustError};

/// A trust-list entry as a reload report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadedEntry {
    /// The role.
    pub role: Role,
    /// The subject.
    pub subject: String,
    /// The certificate's SHA-256, hex.
    pub sha256: String,
}

/// What a successful reload changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustReload {
    /// The version that was in force before (`None`: no list was loaded).
    pub old_version: Option<u64>,
    /// The version now in force.
    pub new_version: u64,
    /// Whether the list differs from the one in force before (the same
    /// file reloaded is not a change).
    pub changed: bool,
    /// The token that signed the new list.
    pub signer: String,
    /// Entries the new list has and the old one had not.
    pub added: Vec<ReloadedEntry>,
    /// Entries the old list had and the new one has not.
    pub removed: Vec<ReloadedEntry>,
    /// Control-channel connections ended because their client is no longer
    /// a listed call agent.
    pub connections_closed: usize,
}

impl TrustReload {
    /// The report for replacing `old` with `new` (no connections closed
    /// yet).
    pub fn between(old: Option<&Ctl>, new: &Ctl) -> TrustReload {
        let entries = |c: Option<&Ctl>| -> Vec<ReloadedEntry> {
            c.map(|c| {
                c.entries
                    .iter()
                    .map(|e| ReloadedEntry {
                        role: e.role,
                        subject: e.subject.clone(),
                        sha256: hex(&e.sha256),
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let (before, after) = (entries(old), entries(Some(new)));
        let missing = |from: &[ReloadedEntry], other: &[ReloadedEntry]| -> Vec<ReloadedEntry> {
            from.iter()
                .filter(|e| {
                    !other
                        .iter()
                        .any(|o| o.role == e.role && o.sha256 == e.sha256)
                })
                .cloned()
                .collect()
        };
        TrustReload {
            old_version: old.map(|c| c.version),
            new_version: new.version,
            changed: old.map(|c| c.payload_sha256) != Some(new.payload_sha256),
            signer: new.signer.clone(),
            added: missing(&after, &before),
            removed: missing(&before, &after),
            connections_closed: 0,
        }
    }
}

/// Where the trust list comes from: its file and its state file.
#[derive(Clone, Debug)]
struct Source {
    ctl: PathBuf,
    state: PathBuf,
}

/// Reloads a node's trust list and keeps the reload counters.
#[derive(Debug, Default)]
pub struct TrustReloader {
    source: OnceLock<Source>,
    tls: OnceLock<Arc<TlsConnections>>,
    /// One reload at a time, so two cannot interleave their swaps.
    serial: Mutex<()>,
    ok: AtomicU64,
    failed: AtomicU64,
    closed: AtomicU64,
}

impl TrustReloader {
    /// Sets where the list is read from (`ctl_path`, `[security]
    /// trust_list`; `state_path`, default [`default_state_path`]) and, when
    /// the control channel runs TLS, its client verifier. Returns the
    /// connection registry to serve the channel with
    /// ([`super::serve_tls_tracked`]). Only the first call counts.
    pub fn configure(
        &self,
        ctl_path: Option<&Path>,
        state_path: Option<&Path>,
        verifier: Option<Arc<CtlClientVerifier>>,
    ) -> Option<Arc<TlsConnections>> {
        if let Some(ctl) = ctl_path {
            let _ = self.source.set(Source {
                ctl: ctl.to_path_buf(),
                state: state_path.map_or_else(|| default_state_path(ctl), Path::to_path_buf),
            });
        }
        let conns = Arc::new(TlsConnections::new(verifier?));
        Some(self.tls.get_or_init(|| conns).clone())
    }

    /// Re-reads and verifies the configured list; if it passes, records it
    /// in the state file, swaps it into `running`, gives the verifier its
    /// call agents and ends the connections of agents it no longer names.
    /// On any error `running` is left as it was. Logged and counted either
    /// way.
    pub fn reload(&self, running: &RwLock<Option<Ctl>>) -> Result<TrustReload, TrustError> {
        let _one = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let r = self.swap(running);
        match &r {
            Ok(r) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.closed
                    .fetch_add(r.connections_closed as u64, Ordering::Relaxed);
                tracing::info!(
                    old_version = ?r.old_version,
                    new_version = r.new_version,
                    changed = r.changed,
                    added = r.added.len(),
                    removed = r.removed.len(),
                    connections_closed = r.connections_closed,
                    "trust list reloaded"
                );
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "trust list reload refused; the list in force stays");
            }
        }
        r
    }

    fn swap(&self, running: &RwLock<Option<Ctl>>) -> Result<TrustReload, TrustError> {
        let src = self.source.get().ok_or(TrustError::NotConfigured)?;
        let text = std::fs::read_to_string(&src.ctl).map_err(|e| TrustError::io(&src.ctl, e))?;
        let old = running.read().unwrap_or_else(|e| e.into_inner()).clone();
        let prior = match (CtlState::load(&src.state)?, old.as_ref().map(Ctl::state)) {
            (Some(f), Some(r)) => Some(if r.version > f.version { r } else { f }),
            (f, r) => f.or(r),
        };
        let new = verify_ctl(&text, prior.as_ref(), unix_now())?;
        let state = new.state();
        if prior.as_ref() != Some(&state) {
            state.save(&src.state)?;
        }
        let mut report = TrustReload::between(old.as_ref(), &new);
        if let Some(conns) = self.tls.get() {
            conns.verifier().reload(&new);
        }
        *running.write().unwrap_or_else(|e| e.into_inner()) = Some(new);
        if let Some(conns) = self.tls.get() {
            report.connections_closed = conns.close_unlisted();
        }
        Ok(report)
    }

    /// Reloads that put a list in force.
    pub fn reloads_ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Reloads refused (the list in force stayed).
    pub fn reloads_failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Control-channel connections ended by reloads.
    pub fn connections_closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::TrustedEntry;

    fn entry(role: Role, subject: &str, fp: u8) -> TrustedEntry {
        TrustedEntry {
            role,
            subject: subject.into(),
            sha256: [fp; 32],
            cert_der: None,
            not_after: None,
        }
    }

    fn ctl(version: u64, entries: Vec<TrustedEntry>) -> Ctl {
        Ctl {
            version,
            issued_at: 0,
            signer: "sast1".into(),
            entries,
            tokens: Vec::new(),
            payload_sha256: [version as u8; 32],
        }
    }

    #[test]
    fn report_names_entries_added_and_removed_by_role_and_fingerprint() {
        let old = ctl(
            1,
            vec![
                entry(Role::CallAgent, "a", 1),
                entry(Role::CallAgent, "b", 2),
            ],
        );
        // b leaves; c comes; a's certificate moves to another role.
        let new = ctl(
            2,
            vec![
                entry(Role::CallAgent, "a", 1),
                entry(Role::MediaNode, "a", 1),
                entry(Role::CallAgent, "c", 3),
            ],
        );
        let r = TrustReload::between(Some(&old), &new);
        assert_eq!(
            (r.old_version, r.new_version, r.changed),
            (Some(1), 2, true)
        );
        let names = |v: &[ReloadedEntry]| {
            v.iter()
                .map(|e| format!("{}:{}", e.role, e.subject))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&r.added), ["media-node:a", "call-agent:c"]);
        assert_eq!(names(&r.removed), ["call-agent:b"]);
        assert_eq!(r.removed[0].sha256, hex(&[2; 32]));

        let same = TrustReload::between(Some(&new), &new);
        assert!(!same.changed && same.added.is_empty() && same.removed.is_empty());
        let first = TrustReload::between(None, &old);
        assert_eq!((first.old_version, first.added.len()), (None, 2));
    }
}
