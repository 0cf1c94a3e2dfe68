//! The record of a call made through the HTTP API or librampart: two
//! legs, each with its keys, ports and policy decision.
//!
//! Why its own record: an HTTP call is created whole (both legs' keys in
//! one request) and changed one leg at a time, unlike an ng call, which is
//! negotiated section by section; both live in the one call store
//! ([`crate::control::calls`]). The data plane owns packet counters; a leg here
//! keeps an `Arc` of them, so queries merge both without asking the
//! workers.
//!
//! Key material lives here (in zeroizing [`MasterKey`]s) only as long as the
//! call does: it is needed to decide verified passthrough and to validate
//! rekeys. It is never logged (no `Debug` on these types).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dataplane::{ForwardMode, LatchMode, LegCounters};
use crate::policy::{CallSecurity, CallSecurityState, LegKind, SecurityMode};
use crate::srtp::{MasterKey, Suite};

use super::super::calls::{CallRecord, CallView, Origin, Resources};
use super::super::keys::same_key;

/// Whether a leg speaks SRTP or plain RTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LegMode {
    /// SRTP/SRTCP.
    #[default]
    Srtp,
    /// Plain RTP/RTCP.
    Rtp,
    /// SRTP/SRTCP keyed by a DTLS-SRTP handshake with the leg's peer.
    Dtls,
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
#[derive(Clone, Serialize, Deserialize)]
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
#[derive(Clone, Serialize, Deserialize)]
pub struct LegKeys {
    /// The suite.
    pub suite: Suite,
    /// Keys the leg's peer uses toward the node.
    pub inbound: KeyState,
    /// Keys the node uses toward the leg's peer.
    pub outbound: KeyState,
    /// RFC 9335 cryptex with the leg's peer.
    #[serde(default)]
    pub cryptex: bool,
    /// RFC 6904: the header extension IDs encrypted with the leg's peer.
    #[serde(default)]
    pub encrypted_extensions: Vec<u8>,
}

impl LegKeys {
    /// What the data plane should run for these keys.
    pub fn wanted(&self) -> super::super::calls::install::WantedKeys {
        super::super::calls::install::WantedKeys {
            suite: self.suite,
            inbound: self.inbound.current.clone(),
            inbound_kdr: 0,
            outbound: self.outbound.current.clone(),
            cryptex: self.cryptex,
            encrypted_extensions: self.encrypted_extensions.clone(),
        }
    }
}

/// One call leg.
#[derive(Serialize, Deserialize)]
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
    /// SRTP keys, `None` for an RTP or DTLS leg.
    pub keys: Option<LegKeys>,
    /// ICE and DTLS-SRTP with the leg's peer.
    #[serde(default)]
    pub webrtc: crate::control::calls::webrtc::WebrtcLeg,
    /// BUNDLE: the call leg whose port and transport this leg shares
    /// (`local_rtp` is that leg's).
    #[serde(default)]
    pub bundle: Option<BundleRef>,
    /// Data-plane counters (shared with the owning worker).
    /// Data-plane counters (shared with the owning worker; not part of the
    /// stored state: a restored call counts from zero).
    #[serde(skip, default = "LegCounters::new")]
    pub counters: Arc<LegCounters>,
}

impl Leg {
    /// What the data plane should run for this leg.
    pub fn wanted(&self) -> super::super::calls::install::WantedLeg {
        super::super::calls::install::WantedLeg {
            remote_rtp: self.remote_rtp,
            remote_rtcp: self.remote_rtcp,
            latch: self.latch,
            srtp: self.keys.as_ref().map(|k| k.wanted()),
            forward: self.forward,
            rtcp_mux: self.rtcp_mux,
        }
    }

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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LegPolicy {
    /// Whom the leg faces, as the request said.
    pub who: super::super::security::LegWho,
    /// The mode asked for (explicit or derived from the media request).
    pub requested: SecurityMode,
    /// The mode the leg counts as toward the call's status.
    pub security: SecurityMode,
}

/// The leg a bundled leg shares its port and transport with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleRef {
    /// The owner's call id.
    pub call_id: String,
    /// The owner's leg.
    pub leg: usize,
    /// The payload types this leg's peer sends.
    pub payload_types: Vec<u8>,
}

/// A call: two legs and their data-plane identity.
#[derive(Serialize, Deserialize)]
pub struct Call {
    /// The API's call id.
    pub id: String,
    /// The HTTP API or librampart.
    pub origin: Origin,
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
    /// Calls with a leg bundled on one of this call's legs: they end
    /// with it (they have no port or transport of their own).
    #[serde(default)]
    pub bundle_members: Vec<String>,
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

/// One leg as the API shows it: `keys` only in answers that hand keys
/// out, `stats` only where asked for.
pub fn leg_json(i: usize, l: &Leg, keys: Option<Value>, stats: bool) -> Value {
    let mut v = json!({
        "index": i,
        "mode": l.mode,
        "family": l.family,
        "suite": l.suite().map(|s| s.name()),
        "local": l.local_rtp.to_string(),
        "local_rtcp": l.local_rtcp.to_string(),
        "rtcp_mux": l.rtcp_mux,
        "remote": l.remote_rtp.map(|a| a.to_string()),
        "remote_rtcp": l.remote_rtcp.map(|a| a.to_string()),
        "latch": l.latch,
        "forward": l.forward,
        "replay_window": l.keys.as_ref().map(|_| l.replay_window),
        "cryptex": l.keys.as_ref().is_some_and(|k| k.cryptex),
        "encrypted_extensions": l.keys.as_ref().map(|k| k.encrypted_extensions.clone()).unwrap_or_default(),
    });
    if let Some(k) = keys {
        v["keys"] = k;
    }
    let w = &l.webrtc;
    if w.active() {
        v["webrtc"] = json!({
            "ice": w.ice.as_ref().map(|c| json!({"ufrag": c.ufrag})),
            "dtls": w.dtls.then(|| json!({
                "peer_fingerprint": w.peer_fingerprint.map(|f| f.to_string()),
                "role": w.role,
            })),
        });
    }
    if let Some(b) = &l.bundle {
        v["bundle"] = json!({"call_id": b.call_id, "leg": b.leg, "payload_types": b.payload_types});
    }
    if stats {
        v["stats"] = serde_json::to_value(l.counters.snapshot()).unwrap_or(Value::Null);
    }
    v
}

/// Adds what the policy decided for a leg to its JSON.
pub fn add_policy_json(v: &mut Value, p: &LegPolicy) {
    v["security"] = json!(p.security);
    v["requested_security"] = json!(p.requested);
    v["device"] = json!(p.who.device);
    v["kind"] = json!(p.who.kind.unwrap_or(LegKind::Phone));
}

impl Call {
    /// Both legs as the API shows them (no keys).
    pub fn legs_json(&self, stats: bool) -> Value {
        Value::Array(
            self.legs
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut v = leg_json(i, l, None, stats);
                    add_policy_json(&mut v, &self.policy[i]);
                    v
                })
                .collect(),
        )
    }

    /// The call as `GET /calls/{id}` shows it.
    pub fn json(&self, stats: bool) -> Value {
        let now = super::super::calls::now_ms();
        json!({
            "call_id": self.id,
            "security": self.security(),
            "policy_generation": self.security.generation(),
            "created_ms": self.created_ms,
            "age_ms": now.saturating_sub(self.created_ms),
            "idle_ms": now.saturating_sub(self.last_activity_ms()),
            "legs": self.legs_json(stats),
        })
    }
}

impl CallRecord for Call {
    fn view(&self) -> CallView {
        CallView {
            id: self.id.clone(),
            origin: self.origin,
            created_ms: self.created_ms,
            last_signal_ms: self.created_ms,
            security: self.security(),
            generation: self.security.generation(),
            counters: self.legs.iter().map(|l| l.counters.clone()).collect(),
            dp_ids: vec![self.dp_id],
            due_ms: None,
            listing: json!({ "legs": self.legs_json(false) }),
        }
    }

    fn snapshot(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn resources(&self) -> Resources {
        Resources {
            dp_ids: vec![self.dp_id],
            // A bundled leg's port is its owner's.
            ports: self
                .legs
                .iter()
                .filter(|l| l.bundle.is_none())
                .map(|l| l.local_rtp)
                .collect(),
            counters: self.legs.iter().map(|l| l.counters.clone()).collect(),
        }
    }

    fn bundle_members(&self) -> Vec<String> {
        self.bundle_members.clone()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn dtls_keyed(
        &mut self,
        dp_id: u64,
        leg: crate::dataplane::LegId,
        keys: &crate::dtls::SrtpKeys,
    ) -> bool {
        let l = &mut self.legs[leg.index()];
        if self.dp_id != dp_id || !l.webrtc.dtls {
            return false;
        }
        l.webrtc.keys = Some(keys.clone());
        true
    }
}
