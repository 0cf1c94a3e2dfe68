//! The call registry: the control plane's truth about calls and legs.
//!
//! Why separate from the API: the HTTP handlers, the timeout reaper and the
//! metrics all read and change the same calls; keeping the records (and the
//! admission bookkeeping: the call limit, ids being created) behind one
//! small lock-protected type makes that sharing explicit. The data plane
//! owns packet counters; a leg here keeps an `Arc` of them, so queries merge
//! both without asking the workers.
//!
//! Key material lives here (in zeroizing [`MasterKey`]s) only as long as the
//! call does: it is needed to decide verified passthrough and to validate
//! rekeys. It is never logged (no `Debug` on these types).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dataplane::{ForwardMode, LatchMode, LegCounters};
use crate::policy::{CallSecurity, CallSecurityState, SecurityMode};
use crate::srtp::{MasterKey, Suite};

use super::keys::same_key;

/// Whether a leg speaks SRTP or plain RTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LegMode {
    /// SRTP/SRTCP.
    #[default]
    Srtp,
    /// Plain RTP/RTCP.
    Rtp,
}

/// The address family a leg asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    #[default]
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// One direction's keys as the control plane tracks them.
#[derive(Clone)]
pub struct KeyState {
    /// The key used to decide passthrough: the newest key for inbound, the
    /// active key for outbound.
    pub current: MasterKey,
    /// MKIs the context holds (empty when keys carry no MKI), oldest
    /// first; at most [`crate::srtp::MAX_KEYS`], as in the context.
    pub mkis: Vec<Vec<u8>>,
    /// The MKI the context protects with (its active key).
    pub active_mki: Vec<u8>,
}

impl KeyState {
    /// State for a context built from one key.
    pub fn new(key: MasterKey) -> KeyState {
        let mkis = if key.mki().is_empty() {
            Vec::new()
        } else {
            vec![key.mki().to_vec()]
        };
        let active_mki = key.mki().to_vec();
        KeyState {
            current: key,
            mkis,
            active_mki,
        }
    }

    /// Records a key added to the context, and forgets the MKI the context
    /// evicts to make room, as [`crate::srtp::Context::add_key`] does (the
    /// oldest key that is not the active one), so the list stays bounded
    /// by repeated rekeys and an evicted MKI may be used again.
    pub fn push_mki(&mut self, mki: Vec<u8>) {
        if self.mkis.len() >= crate::srtp::MAX_KEYS {
            let oldest = usize::from(self.mkis.first() == Some(&self.active_mki));
            if oldest < self.mkis.len() {
                self.mkis.remove(oldest);
            }
        }
        self.mkis.push(mki);
    }

    /// The MKI length of the context's keys (0: no MKI).
    pub fn mki_len(&self) -> usize {
        self.current.mki().len()
    }
}

/// The SRTP side of a leg.
#[derive(Clone)]
pub struct LegKeys {
    /// The suite.
    pub suite: Suite,
    /// Keys the leg's peer uses toward the node.
    pub inbound: KeyState,
    /// Keys the node uses toward the leg's peer.
    pub outbound: KeyState,
}

/// One call leg.
pub struct Leg {
    /// SRTP or RTP.
    pub mode: LegMode,
    /// Address family.
    pub family: Family,
    /// Local RTP address.
    pub local_rtp: SocketAddr,
    /// Local RTCP address (equal to `local_rtp` with rtcp-mux).
    pub local_rtcp: SocketAddr,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// Signalled remote RTP address.
    pub remote_rtp: Option<SocketAddr>,
    /// Signalled remote RTCP address.
    pub remote_rtcp: Option<SocketAddr>,
    /// Latching.
    pub latch: LatchMode,
    /// How packets received on this leg are forwarded.
    pub forward: ForwardMode,
    /// Replay window of the inbound context.
    pub replay_window: usize,
    /// SRTP keys, `None` for an RTP leg.
    pub keys: Option<LegKeys>,
    /// Data-plane counters (shared with the owning worker).
    pub counters: Arc<LegCounters>,
}

impl Leg {
    /// The suite, if SRTP.
    pub fn suite(&self) -> Option<Suite> {
        self.keys.as_ref().map(|k| k.suite)
    }
}

/// Decides how packets received on `rx` reach `tx`: verified passthrough
/// when `rx`'s inbound key is `tx`'s outbound key (same suite, key, salt and
/// MKI), else transcode.
pub fn forward_mode(rx: Option<&LegKeys>, tx: Option<&LegKeys>) -> ForwardMode {
    match (rx, tx) {
        (Some(a), Some(b))
            if a.suite == b.suite && same_key(&a.inbound.current, &b.outbound.current) =>
        {
            ForwardMode::VerifiedPassthrough
        }
        _ => ForwardMode::Transcode,
    }
}

/// What the policy decided for one leg, kept for reporting.
#[derive(Clone, Debug)]
pub struct LegPolicy {
    /// Whom the leg faces, as the request said.
    pub who: super::security::LegWho,
    /// The mode asked for (explicit or derived from the media request).
    pub requested: SecurityMode,
    /// The mode the leg counts as toward the call's status.
    pub security: SecurityMode,
}

/// A call: two legs and their data-plane identity.
pub struct Call {
    /// The API's call id.
    pub id: String,
    /// The data plane's id.
    pub dp_id: u64,
    /// Creation time, unix ms.
    pub created_ms: u64,
    /// Leg A and leg B.
    pub legs: [Leg; 2],
    /// What the policy decided for each leg.
    pub policy: [LegPolicy; 2],
    /// The call's security status and the policy generation it was
    /// admitted under.
    pub security: CallSecurityState,
}

impl Call {
    /// The security status (from [`CallSecurityState`]).
    pub fn security(&self) -> CallSecurity {
        self.security.status()
    }

    /// Unix ms of the newest packet on any leg, or creation time if none.
    pub fn last_activity_ms(&self) -> u64 {
        self.legs
            .iter()
            .map(|l| l.counters.last_packet_ms.load(Ordering::Relaxed))
            .max()
            .filter(|&t| t != 0)
            .unwrap_or(self.created_ms)
            .max(self.created_ms)
    }
}

/// Why a call cannot be admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum AdmitError {
    /// `max_calls` calls are running or being created.
    Limit(usize),
    /// A call with this id exists or is being created.
    Exists,
}

/// Sums of leg counters of calls that ended, so totals survive deletion.
#[derive(Default)]
pub struct Totals {
    /// Sums by counter name (see [`LEG_COUNTERS`]).
    pub sums: [AtomicU64; LEG_COUNTERS.len()],
    /// Calls created.
    pub created: AtomicU64,
    /// Calls deleted through the API.
    pub deleted: AtomicU64,
    /// Calls ended for no media.
    pub timed_out_no_media: AtomicU64,
    /// Calls ended at the maximum duration.
    pub timed_out_max_duration: AtomicU64,
    /// ng calls ended because their offer was never answered in time.
    pub timed_out_offer: AtomicU64,
    /// Creates refused: call limit.
    pub refused_limit: AtomicU64,
    /// Creates refused: ports exhausted.
    pub refused_ports: AtomicU64,
    /// Creates refused: bad request.
    pub refused_invalid: AtomicU64,
    /// Creates (and ng offers/answers) refused by the security policy.
    pub refused_policy: AtomicU64,
}

/// Reads one leg counter.
pub type CounterFn = fn(&LegCounters) -> &AtomicU64;

/// Every leg counter by a stable name.
pub const LEG_COUNTERS: [(&str, CounterFn); 20] = [
    ("packets_in", |c| &c.packets_in),
    ("bytes_in", |c| &c.bytes_in),
    ("packets_out", |c| &c.packets_out),
    ("bytes_out", |c| &c.bytes_out),
    ("rtcp_in", |c| &c.rtcp_in),
    ("rtcp_out", |c| &c.rtcp_out),
    ("rtcp_bytes_in", |c| &c.rtcp_bytes_in),
    ("rtcp_bytes_out", |c| &c.rtcp_bytes_out),
    ("rtcp_errors", |c| &c.rtcp_errors),
    ("auth_failures", |c| &c.auth_failures),
    ("replays", |c| &c.replays),
    ("malformed", |c| &c.malformed),
    ("unknown_ssrc", |c| &c.unknown_ssrc),
    ("dropped_no_remote", |c| &c.dropped_no_remote),
    ("dropped_strict_source", |c| &c.dropped_strict_source),
    ("dropped_latch_refused", |c| &c.dropped_latch_refused),
    ("dropped_overload", |c| &c.dropped_overload),
    ("dropped_protect_refused", |c| &c.dropped_protect_refused),
    ("dropped_other", |c| &c.dropped_other),
    ("relatches", |c| &c.relatches),
];

/// All calls, and the ids being created.
///
/// Calls made through the ng protocol live in the ng module (one ng call
/// holds one data-plane call per media section); the registry only counts
/// them ([`Registry::admit_external`]) so that `max_calls` bounds both
/// kinds together, and hands out their data-plane ids so that ids never
/// collide on the data plane.
pub struct Registry {
    calls: HashMap<String, Call>,
    pending: HashSet<String>,
    max_calls: usize,
    next_dp_id: u64,
    external: usize,
}

impl Registry {
    /// An empty registry admitting at most `max_calls` calls.
    pub fn new(max_calls: usize) -> Registry {
        Registry {
            calls: HashMap::new(),
            pending: HashSet::new(),
            max_calls,
            next_dp_id: 1,
            external: 0,
        }
    }

    /// Counts one call kept outside the registry (an ng call) against the
    /// call limit.
    pub fn admit_external(&mut self) -> Result<(), AdmitError> {
        if self.calls.len() + self.pending.len() + self.external >= self.max_calls {
            return Err(AdmitError::Limit(self.max_calls));
        }
        self.external += 1;
        Ok(())
    }

    /// Ends one call counted by [`Registry::admit_external`].
    pub fn release_external(&mut self) {
        self.external = self.external.saturating_sub(1);
    }

    /// Calls kept outside the registry (ng calls).
    pub fn external_len(&self) -> usize {
        self.external
    }

    /// A fresh data-plane call id (unique across HTTP and ng calls).
    pub fn alloc_dp_id(&mut self) -> u64 {
        let dp = self.next_dp_id;
        self.next_dp_id += 1;
        dp
    }

    /// Reserves `id` for a call being created (counts against the limit)
    /// and returns its data-plane id.
    pub fn admit(&mut self, id: &str) -> Result<u64, AdmitError> {
        if self.calls.contains_key(id) || self.pending.contains(id) {
            return Err(AdmitError::Exists);
        }
        if self.calls.len() + self.pending.len() + self.external >= self.max_calls {
            return Err(AdmitError::Limit(self.max_calls));
        }
        self.pending.insert(id.to_string());
        let dp = self.next_dp_id;
        self.next_dp_id += 1;
        Ok(dp)
    }

    /// Drops a reservation whose creation failed.
    pub fn abandon(&mut self, id: &str) {
        self.pending.remove(id);
    }

    /// Turns a reservation into a live call.
    pub fn commit(&mut self, call: Call) {
        self.pending.remove(&call.id);
        self.calls.insert(call.id.clone(), call);
    }

    /// The call with this id.
    pub fn get(&self, id: &str) -> Option<&Call> {
        self.calls.get(id)
    }

    /// The call with this id, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Call> {
        self.calls.get_mut(id)
    }

    /// Removes a call.
    pub fn remove(&mut self, id: &str) -> Option<Call> {
        self.calls.remove(id)
    }

    /// Live calls, in no order.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    /// Number of live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is live.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}
