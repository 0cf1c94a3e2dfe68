//! The security plane of a running node: the policy in force, the trust
//! list, per-leg decisions for the HTTP and ng APIs, and the bookkeeping of
//! every call's security status (log line and counter on each change).
//!
//! Why one place: the HTTP API and the ng protocol describe a leg in
//! different words (a JSON `device`/`kind`/`security`, or `rampart-device`
//! keys and SDP crypto lines), but the decision and its reporting must be
//! the same. Both build a [`LegWho`] and a requested mode, call
//! [`LegWho::decide`] (which is [`decide_leg`] under the node's policy), and
//! report status changes through [`SecurityPlane::note`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::policy::{
    decide_leg, CallSecurity, ClusterMode, LegDecision, LegKind, LegSubject, Policy, PolicyError,
    SecurityMode,
};
use crate::srtp::Suite;
use crate::trust::{Ctl, TrustError, TrustReload, TrustReloader};

/// Every call status, in the order the counters are kept.
pub const STATUSES: [CallSecurity; 4] = [
    CallSecurity::Encrypted,
    CallSecurity::Authenticated,
    CallSecurity::Nonsecure,
    CallSecurity::Unknown,
];

/// The index of `s` in [`STATUSES`].
pub fn status_index(s: CallSecurity) -> usize {
    match s {
        CallSecurity::Encrypted => 0,
        CallSecurity::Authenticated => 1,
        CallSecurity::Nonsecure => 2,
        CallSecurity::Unknown => 3,
    }
}

/// The mode an SRTP suite gives a leg: encrypting suites are `encrypted`,
/// the NULL-cipher suites `authenticated`.
pub fn mode_of_suite(s: Suite) -> SecurityMode {
    if s.encrypts() {
        SecurityMode::Encrypted
    } else {
        SecurityMode::Authenticated
    }
}

/// Whom a leg faces, as a request described it: a device name and/or a
/// leg kind, and optionally the mode asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegWho {
    /// A registered device's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The leg kind (default: a phone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<LegKind>,
    /// The mode asked for explicitly (otherwise derived from the media
    /// request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityMode>,
}

impl LegWho {
    /// Whether the request said anything about the leg's subject.
    pub fn is_given(&self) -> bool {
        self.device.is_some() || self.kind.is_some()
    }

    /// The strongest mode this subject may have under `policy` (for capping
    /// a mode derived from an SDP offer, which lists capabilities rather
    /// than asks for one). `None`: unknown device or none named.
    pub fn ceiling(&self, policy: &Policy) -> Option<SecurityMode> {
        if !policy.enforced() {
            return None;
        }
        match (&self.device, self.kind) {
            (Some(d), _) => policy.device(d).map(|d| d.mode),
            (None, Some(k)) if k != LegKind::Phone => Some(policy.kind_max(k)),
            _ => None,
        }
    }

    /// Decides the leg under `policy`: `requested` is the mode asked for,
    /// `null_ok` whether the peer accepts `NULL_HMAC_SHA1_80`. The error is
    /// the text to return to the client.
    pub fn decide(
        &self,
        policy: &Policy,
        requested: SecurityMode,
        null_ok: bool,
    ) -> Result<LegDecision, String> {
        if let (Some(name), Some(kind)) = (&self.device, self.kind) {
            if let Some(d) = policy.device(name) {
                if d.kind != kind {
                    return Err(format!(
                        "device {name:?} is registered as a {} leg, not {kind}",
                        d.kind
                    ));
                }
            }
        }
        let unnamed = self.device.is_none() && self.kind.is_none_or(|k| k == LegKind::Phone);
        let subject = match (&self.device, self.kind) {
            (Some(d), _) => LegSubject::Device(d),
            (None, Some(k)) if k != LegKind::Phone => LegSubject::Kind(k),
            _ => LegSubject::Device(""),
        };
        decide_leg(policy, subject, requested, null_ok).map_err(|e| match e {
            PolicyError::UnknownDevice { .. } if unnamed => "the leg names no device (give a \
                registered device, or the kind of a non-phone endpoint); the cluster is in mixed \
                mode, where unknown devices are refused (allow_unknown_devices = false)"
                .to_string(),
            PolicyError::AboveDeviceMode { configured, .. } if unnamed => format!(
                "the leg names no device, so it is an unknown device, admitted as {configured} \
                 only; an {requested} leg is refused"
            ),
            e => e.to_string(),
        })
    }
}

/// The node's security state: policy, trust list, status counters.
pub struct SecurityPlane {
    policy: RwLock<Policy>,
    ctl: RwLock<Option<Ctl>>,
    changes: [AtomicU64; 4],
    trust_reload: TrustReloader,
}

impl SecurityPlane {
    /// A plane with this policy and (verified) trust list.
    pub fn new(policy: Policy, ctl: Option<Ctl>) -> SecurityPlane {
        SecurityPlane {
            policy: RwLock::new(policy),
            ctl: RwLock::new(ctl),
            changes: Default::default(),
            trust_reload: TrustReloader::default(),
        }
    }

    /// The trust-list reloader (configured at start, counters).
    pub fn trust_reloader(&self) -> &TrustReloader {
        &self.trust_reload
    }

    /// Re-reads and verifies the configured trust list and puts it in
    /// force (see [`TrustReloader::reload`]); the list in force stays on
    /// any error.
    pub fn reload_trust_list(&self) -> Result<TrustReload, TrustError> {
        self.trust_reload.reload(&self.ctl)
    }

    /// The policy in force.
    pub fn policy(&self) -> RwLockReadGuard<'_, Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The policy, for changes (devices, cluster mode).
    pub fn policy_mut(&self) -> RwLockWriteGuard<'_, Policy> {
        self.policy.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The cluster mode in force.
    pub fn cluster_mode(&self) -> ClusterMode {
        self.policy().cluster_mode()
    }

    /// Whether a valid trust list is loaded.
    pub fn has_ctl(&self) -> bool {
        self.ctl.read().map(|c| c.is_some()).unwrap_or(false)
    }

    /// The loaded trust list's version.
    pub fn ctl_version(&self) -> Option<u64> {
        self.ctl
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.version))
    }

    /// Records a change of a call's status (`change` as returned by
    /// [`crate::policy::CallSecurityState`]): logs it and counts it.
    pub fn note(&self, call_id: &str, old: CallSecurity, change: Option<CallSecurity>) {
        if let Some(new) = change {
            self.changes[status_index(new)].fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                call_id = %call_id,
                old = old.as_str(),
                new = new.as_str(),
                "call security status {old} -> {new}"
            );
        }
    }

    /// How many times a call's status changed to `s`.
    pub fn changes(&self, s: CallSecurity) -> u64 {
        self.changes[status_index(s)].load(Ordering::Relaxed)
    }
}
