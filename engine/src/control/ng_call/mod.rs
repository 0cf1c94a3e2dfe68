//! ng calls: offer/answer over SDP, one data-plane call per media section.
//!
//! Why its own model: an ng call is driven by SDP, one side at a time. An
//! offer from peer X (identified by its tag) reserves ports facing both
//! peers for each media section, remembers X's `a=crypto` lines and offers
//! peer Y Rampart's own address, ports and keys; the answer from Y picks a
//! suite, and only then are both sides' keys known, so the data-plane call
//! for each media section is created at answer time (early media before the
//! answer is not relayed). Later offers and answers (re-INVITE, hold,
//! a moved peer, new keys) change the running data-plane calls with
//! `update_leg`, which keeps ROC and replay state.
//!
//! Data-plane leg 0 always faces the side that created the call (its
//! from-tag), leg 1 the other side. For each leg, `inbound` is the key the
//! leg's peer sends with (read from its SDP) and `outbound` the key Rampart
//! sends with toward it (fresh from the OS CSPRNG, one per leg, direction,
//! media section and suite, so a key is never used on two legs). Rampart's
//! keys toward a peer stay the same across re-offers unless the suite
//! changes, so a re-INVITE does not force a rekey.
//!
//! A master key is never installed twice in a fresh SRTP context: a fresh
//! context starts its ROC, SRTP index and SRTCP index at 0, so the same key
//! in a second fresh context repeats keystream (AES-CM) or nonces (GCM)
//! under the same SSRC. When a running outbound context is replaced by a
//! fresh one (the suite changed) or dropped (plain RTP, section rejected),
//! its key is retired: the next offer of that suite carries a new key. Each
//! leg also remembers digests of the outbound keys it installed fresh and
//! refuses to install one again (defence in depth).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::dataplane::{CallFlows, LatchMode, LegCounters, LegFlows, LegId};
use crate::policy::{
    CallSecurity, CallSecurityState, ClusterMode, LegDecision, Media as PolicyMedia, SecurityMode,
};
use crate::srtp::{MasterKey, Suite};

use super::calls::install::{self, InstallError, WantedKeys, WantedLeg};
use super::calls::{now_ms, CallRecord, CallService, CallView, EndReason, Origin, Resources};
use super::keys::generate;
use super::ports::{bind_pair, PortError};
use super::sdes::{CryptoAttr, InlineKey};
use super::sdp::{Connection, Media, Sdp};
use super::security::{mode_of_suite, LegWho};

mod answer;
mod apply;
mod bundle;
mod cryptex;
mod hdrext;
mod negotiate;
mod offer;
mod restore;
mod sdp_media;
mod webrtc;

use apply::{start_stream, stop_rejected, update_stream};
pub use negotiate::{negotiate_sdp, Negotiated};
use sdp_media::*;
use webrtc::WebrtcLeg;
pub use webrtc::{DtlsFlag, IceFlag};

/// Why an ng request cannot be carried out. `Display` writes the
/// `error-reason` text (rtpengine's words where rtpengine has them, e.g.
/// "Ran out of ports"); the variant is what the node acts and counts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NgError {
    /// The request, its flags or its SDP cannot be carried out.
    Invalid(String),
    /// No port pair left on the media address.
    PortsExhausted(String),
    /// The security policy refused a leg or the call.
    PolicyRefused(String),
}

impl NgError {
    /// An [`NgError::Invalid`] with this text.
    pub fn new(m: impl Into<String>) -> NgError {
        NgError::Invalid(m.into())
    }

    /// The kind's name, as metrics label it (see
    /// [`super::ng_state::NG_ERROR_KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            NgError::Invalid(_) => "invalid",
            NgError::PortsExhausted(_) => "ports_exhausted",
            NgError::PolicyRefused(_) => "policy_refused",
        }
    }
}

impl std::fmt::Display for NgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NgError::Invalid(m) => f.write_str(m),
            NgError::PortsExhausted(m) => write!(f, "Ran out of ports: {m}"),
            NgError::PolicyRefused(m) => write!(f, "{POLICY_REFUSED}{m}"),
        }
    }
}

impl std::error::Error for NgError {}

/// The options of an offer or answer that change what Rampart does.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MediaOpts {
    /// `transport-protocol`: the profile toward the receiving peer.
    pub transport_protocol: Option<String>,
    /// `SDES: off`: no `a=crypto` toward the receiving peer.
    pub sdes_off: bool,
    /// `SDES: no-<SUITE>`.
    pub sdes_no: Vec<Suite>,
    /// `SDES: only-<SUITE>`.
    pub sdes_only: Vec<Suite>,
    /// `SDES: nonew`: offer only suites the other peer offered.
    pub sdes_nonew: bool,
    /// `SDES: lifetime`: generated keys carry a `|2^31` lifetime.
    pub sdes_lifetime: bool,
    /// `rtcp-mux: offer`.
    pub mux_offer: bool,
    /// `rtcp-mux: require`: offered, and used even when the answer does
    /// not repeat `a=rtcp-mux`.
    #[serde(default)]
    pub mux_require: bool,
    /// `rtcp-mux: accept`.
    pub mux_accept: bool,
    /// `rtcp-mux: demux`.
    pub mux_demux: bool,
    /// `rtcp-mux: reject`.
    pub mux_reject: bool,
    /// `replace: origin`.
    pub replace_origin: bool,
    /// `address family`: `Some(true)` for IP6.
    pub family_v6: Option<bool>,
    /// `flags: strict-source`.
    pub strict_source: bool,
    /// `ICE`.
    #[serde(default)]
    pub ice: IceFlag,
    /// `DTLS`.
    #[serde(default)]
    pub dtls: DtlsFlag,
    /// `flags: generate-mid`: an `a=mid` for every section that has none.
    #[serde(default)]
    pub generate_mid: bool,
    /// `rampart-device`, `rampart-kind`, `rampart-security`: whom the peer
    /// that sent this SDP is (the offerer in an offer, the answerer in an
    /// answer), and the mode it asks for.
    pub me: LegWho,
    /// `rampart-peer-device`, `rampart-peer-kind`, `rampart-peer-security`
    /// (offers): whom the receiving peer is, so the offer toward it carries
    /// what policy allows it.
    pub peer: LegWho,
}

/// Where an offer's media sections get their ports: the call service's
/// pool and bound sockets ([`ServicePorts`]), or anything else a test
/// gives (offer and answer never touch a socket themselves).
pub trait PortSource {
    /// Reserves a port pair on `ip` for a new section; its RTP address.
    fn reserve(&mut self, ip: IpAddr) -> Result<SocketAddr, NgError>;
    /// Reserves again the pair at `rtp` (still the call's in the pool),
    /// for a rejected section that comes back.
    fn reopen(&mut self, rtp: SocketAddr) -> Result<(), NgError>;
    /// Gives the pair at `rtp` back.
    fn release(&mut self, rtp: SocketAddr);
    /// The offer with the pair at `rtp` was answered: it leaves the
    /// unanswered share of the pool.
    fn confirm(&mut self, rtp: SocketAddr);
}

/// The call service's ports: pairs from its pool, their sockets bound and
/// kept in its reservations until the data plane takes them.
pub struct ServicePorts<'a> {
    service: &'a CallService,
}

impl<'a> ServicePorts<'a> {
    /// The ports of `service`.
    pub fn new(service: &'a CallService) -> ServicePorts<'a> {
        ServicePorts { service }
    }
}

impl PortSource for ServicePorts<'_> {
    fn reserve(&mut self, ip: IpAddr) -> Result<SocketAddr, NgError> {
        let s = self.service;
        let bound = {
            let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
            let pct = s.config.ng.max_unanswered_port_percent;
            if let Some((held, limit)) = pool.unanswered_full(ip, pct) {
                return Err(NgError::PortsExhausted(format!(
                    "offers not answered yet hold {held} port pairs on {ip}, the limit is \
                     {limit} ({pct} % of the pool, [ng] max_unanswered_port_percent)"
                )));
            }
            pool.allocate_unanswered(ip, false).map_err(|e| match e {
                PortError::Exhausted { .. } => NgError::PortsExhausted(e.to_string()),
                PortError::UnknownAddress(_) => NgError::new(e.to_string()),
            })?
        };
        let rtp = bound.rtp_addr;
        s.keep_reserved(bound);
        Ok(rtp)
    }

    fn reopen(&mut self, rtp: SocketAddr) -> Result<(), NgError> {
        let bound = bind_pair(rtp)
            .map_err(|e| NgError::new(format!("cannot reopen media port {rtp}: {e}")))?;
        self.service.keep_reserved(bound);
        Ok(())
    }

    fn release(&mut self, rtp: SocketAddr) {
        self.service.release_port(rtp);
    }

    fn confirm(&mut self, rtp: SocketAddr) {
        self.service
            .ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .confirm(rtp);
    }
}

/// What offer and answer decide with: the node's configuration and the
/// security policy in force. Changes of the call's security status are
/// collected here for the caller to log and count.
pub struct Negotiation<'a> {
    /// The node's configuration.
    pub config: &'a Config,
    /// The security policy in force.
    pub policy: &'a crate::policy::Policy,
    /// (old, new) status changes the negotiation made, in order.
    pub status_changes: Vec<(CallSecurity, Option<CallSecurity>)>,
    /// The node certificate's fingerprint (`None`: no DTLS-SRTP here).
    pub dtls: Option<crate::dtls::Fingerprint>,
}

impl<'a> Negotiation<'a> {
    /// A negotiation under `config` and `policy`.
    pub fn new(config: &'a Config, policy: &'a crate::policy::Policy) -> Negotiation<'a> {
        Negotiation {
            config,
            policy,
            status_changes: Vec::new(),
            dtls: None,
        }
    }
}

/// The `error-reason` prefix of policy refusals (counted apart).
pub const POLICY_REFUSED: &str = "security policy: ";

fn policy_err(m: String) -> NgError {
    NgError::PolicyRefused(m)
}

/// Overwrites what `from` says about a side.
fn merge_who(into: &mut LegWho, from: &LegWho) {
    if from.device.is_some() {
        into.device = from.device.clone();
    }
    if from.kind.is_some() {
        into.kind = from.kind;
    }
    if from.security.is_some() {
        into.security = from.security;
    }
}

/// A mode derived from an SDP (which lists capabilities) capped at what
/// the subject may have.
/// Points the session-level `c=` at Rampart (`conn`), unless the whole
/// session is on hold with `c=0.0.0.0`, which is passed on as it is; adds
/// one when some media section relies on a session `c=` that is missing.
fn rewrite_session_connection(sdp: &mut Sdp, session_hold: bool, conn: &Connection) {
    if sdp.connection().is_some() {
        let all_hold = session_hold
            && sdp
                .connection()
                .as_ref()
                .is_some_and(Connection::is_unspecified);
        if !all_hold {
            sdp.set_connection(Some(conn));
        }
    } else if sdp.media().iter().any(|m| m.connection().is_none()) {
        sdp.set_connection(Some(conn));
    }
}

fn cap(mode: SecurityMode, ceiling: Option<SecurityMode>) -> SecurityMode {
    ceiling.map_or(mode, |c| mode.min(c))
}

/// A peer's `a=crypto` line Rampart can use.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct PeerLine {
    tag: u32,
    suite: Suite,
    key: MasterKey,
    /// The key derivation rate of the line (`KDR=n`: 2^n; 0 without).
    kdr: u64,
}

/// The SRTP keys of one leg (the peer's key derivation rate from SDES
/// `KDR=`; Rampart's own keys use rate 0: its lines carry no `KDR`).
type SrtpKeys = WantedKeys;

/// What the data plane runs (or should run) for one leg.
type LegState = WantedLeg;

/// One media section's side facing one peer.
#[derive(serde::Serialize, serde::Deserialize)]
struct StreamLeg {
    local_rtp: SocketAddr,
    /// The peer's profile as it wrote it (`RTP/SAVP`, ...).
    peer_proto: String,
    /// Lines from the peer's offer (empty: plain RTP, or not an offerer).
    peer_lines: Vec<PeerLine>,
    /// The peer offered `a=rtcp-mux`.
    peer_offered_mux: bool,
    /// The peer offered RFC 9335 cryptex (see `cryptex`).
    #[serde(default)]
    peer_cryptex: bool,
    /// Rampart offered cryptex to this peer.
    #[serde(default)]
    offered_cryptex: bool,
    /// RFC 6904: the extension IDs the peer offered to encrypt (see
    /// `hdrext`).
    #[serde(default)]
    peer_encrypted: Vec<u8>,
    /// The IDs Rampart offered this peer to encrypt.
    #[serde(default)]
    offered_encrypted: Vec<u8>,
    /// What Rampart offered this peer: tags and suites (empty: plain RTP).
    offered: Vec<(u32, Suite)>,
    /// Rampart offered `a=rtcp-mux` to this peer.
    offered_mux: bool,
    /// Rampart's keys toward this peer, one per suite, kept across offers
    /// until retired (see the module doc).
    our_keys: Vec<(Suite, MasterKey)>,
    /// SHA-256 digests of the outbound keys installed in a fresh context on
    /// this leg (the newest [`MAX_FRESH_DIGESTS`]).
    fresh_digests: Vec<[u8; 32]>,
    /// The same for the peer's keys installed in a fresh inbound context.
    fresh_in_digests: Vec<[u8; 32]>,
    /// RTCP multiplexed with this peer.
    mux: bool,
    /// What should run for this leg after the negotiation in progress.
    want: LegState,
    /// What the data plane runs.
    installed: Option<LegState>,
    /// ICE and DTLS-SRTP toward this peer.
    #[serde(default)]
    webrtc: WebrtcLeg,
    /// BUNDLE: the section whose port and transport this leg shares
    /// (`local_rtp` is that section's; see `bundle`).
    #[serde(default)]
    bundle: Option<usize>,
    /// BUNDLE: this leg's section owns a group toward the peer (written
    /// as `a=group:BUNDLE` in the SDP to it, even alone).
    #[serde(default)]
    bundle_tag: bool,
    /// Runtime counters (not part of the stored state; a restored call
    /// counts from zero).
    #[serde(skip, default = "LegCounters::new")]
    counters: Arc<LegCounters>,
}

impl StreamLeg {
    fn new(local_rtp: SocketAddr) -> StreamLeg {
        StreamLeg {
            local_rtp,
            peer_proto: String::new(),
            peer_lines: Vec::new(),
            peer_offered_mux: false,
            peer_cryptex: false,
            offered_cryptex: false,
            peer_encrypted: Vec::new(),
            offered_encrypted: Vec::new(),
            offered: Vec::new(),
            offered_mux: false,
            our_keys: Vec::new(),
            fresh_digests: Vec::new(),
            fresh_in_digests: Vec::new(),
            mux: false,
            want: LegState::default(),
            installed: None,
            webrtc: WebrtcLeg::default(),
            bundle: None,
            bundle_tag: false,
            counters: LegCounters::new(),
        }
    }

    fn our_key(&mut self, suite: Suite, lifetime: bool) -> Result<MasterKey, NgError> {
        if let Some((_, k)) = self.our_keys.iter().find(|(s, _)| *s == suite) {
            return Ok(k.clone());
        }
        let mut k = generate(suite).map_err(|e| NgError::new(e.to_string()))?;
        if lifetime {
            k = k.with_lifetime(1 << 31);
        }
        self.our_keys.push((suite, k.clone()));
        Ok(k)
    }

    /// Forgets Rampart's key for `suite`: it ran in a context that is gone,
    /// so a later context for the suite gets a fresh key.
    fn retire(&mut self, suite: Suite) {
        self.our_keys.retain(|(s, _)| *s != suite);
    }

    /// Records that `key` goes into a fresh outbound context, refusing a key
    /// this leg already installed fresh (it would restart the indexes under
    /// the same key: keystream and nonce reuse).
    fn note_fresh_outbound(&mut self, key: &MasterKey) -> Result<(), NgError> {
        let d = key_digest(key);
        if self.fresh_digests.contains(&d) {
            return Err(NgError::new(
                "internal: refusing to install an outbound SRTP key in a second fresh context",
            ));
        }
        if self.fresh_digests.len() >= MAX_FRESH_DIGESTS {
            self.fresh_digests.remove(0);
        }
        self.fresh_digests.push(d);
        Ok(())
    }

    /// Records the peer's `key` going into a fresh inbound context. A key
    /// seen fresh before cannot be refused (it is the peer's), but its new
    /// context starts with an empty replay window, so the peer's old
    /// packets under that key could be replayed: say so.
    fn note_fresh_inbound(&mut self, key: &MasterKey, warnings: &mut Vec<String>) {
        let d = key_digest(key);
        if self.fresh_in_digests.contains(&d) {
            tracing::warn!("an ng peer reuses an SRTP key in a new context");
            warnings.push(
                "the peer sends with an SRTP key it used before in a context that ended: the new \
                 context's replay window starts empty, so old packets could be replayed; peers \
                 should send a new key"
                    .into(),
            );
            return;
        }
        if self.fresh_in_digests.len() >= MAX_FRESH_DIGESTS {
            self.fresh_in_digests.remove(0);
        }
        self.fresh_in_digests.push(d);
    }
}

/// Digests of fresh outbound keys remembered per leg.
const MAX_FRESH_DIGESTS: usize = 64;

/// SHA-256 over a key's bytes, salt and MKI: a fingerprint that does not
/// keep the key itself.
fn key_digest(k: &MasterKey) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(k.key_bytes());
    ctx.update(k.salt_bytes());
    ctx.update(k.mki());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// One media section (`m=` line): a data-plane call of its own.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Stream {
    kind: String,
    /// The formats of the offer's `m=` line (for a rejected line in the
    /// answer when the answerer left the section out).
    formats: Vec<String>,
    dp_id: Option<u64>,
    /// Both legs' sockets are reserved (in the call service) until the
    /// data plane takes them.
    reserved: bool,
    legs: [StreamLeg; 2],
    rejected: bool,
}

/// A call made over ng.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct NgCall {
    /// The SIP Call-ID.
    pub call_id: String,
    /// Creation time, unix ms.
    pub created_ms: u64,
    /// Last offer/answer, unix ms.
    pub last_signal_ms: u64,
    /// The tag of each side (side 0 made the call).
    pub tags: [Option<String>; 2],
    /// Via branches seen.
    pub branches: Vec<String>,
    streams: Vec<Stream>,
    /// The side whose offer awaits an answer.
    pending_offerer: Option<usize>,
    /// Since when (unix ms) an offer has awaited its answer: the first of
    /// the offers made since the last answer (re-offers do not move it).
    pending_since_ms: Option<u64>,
    /// An answer went through at least once.
    answered: bool,
    /// Media sections the last answer covered: sections past them belong
    /// to a re-offer still pending.
    settled_streams: usize,
    last_offerer: usize,
    pending_opts: MediaOpts,
    /// When a delayed delete tears the call down, unix ms.
    pub delete_at_ms: Option<u64>,
    /// Whom each side faces, as the requests said.
    who: [LegWho; 2],
    /// What the policy decided for each side (all media sections).
    decisions: [Option<LegDecision>; 2],
    /// The policy generation of the decisions of the pending offer.
    pending_generation: u64,
    /// The call's security status (legs: side 0 and side 1).
    pub sec: CallSecurityState,
    /// `[ng] offer_timeout_secs` in ms (0: none).
    offer_timeout_ms: u64,
}

impl NgCall {
    /// A new call admitted under policy `generation`, counted against the
    /// call limit by the caller.
    pub fn new(call_id: &str, generation: u64, offer_timeout_ms: u64) -> NgCall {
        let now = now_ms();
        NgCall {
            call_id: call_id.to_string(),
            created_ms: now,
            last_signal_ms: now,
            tags: [None, None],
            branches: Vec::new(),
            streams: Vec::new(),
            pending_offerer: None,
            pending_since_ms: None,
            answered: false,
            settled_streams: 0,
            last_offerer: 0,
            pending_opts: MediaOpts::default(),
            delete_at_ms: None,
            who: Default::default(),
            decisions: [None, None],
            pending_generation: generation,
            sec: CallSecurityState::new(generation),
            offer_timeout_ms,
        }
    }

    /// Whether some side carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        side_of(&self.tags, tag).is_some()
    }

    /// Starts the data-plane calls not started yet and brings running ones
    /// to the negotiated state (after [`NgCall::answer`]).
    pub fn install(&mut self, s: &CallService, warnings: &mut Vec<String>) -> Result<(), NgError> {
        let window = s.config.srtp.replay_window;
        for i in 0..self.streams.len() {
            // A bundled leg joins its owner's socket (started before it).
            let owners = [0, 1].map(|l| {
                self.streams[i].legs[l]
                    .bundle
                    .and_then(|o| self.streams.get(o)?.dp_id)
            });
            let st = &mut self.streams[i];
            if st.rejected {
                stop_rejected(s, st);
                continue;
            }
            match st.dp_id {
                None => start_stream(s, st, owners, window, warnings)?,
                Some(id) => update_stream(s, st, id, window, warnings)?,
            }
        }
        self.sync_bundles(s)
    }

    /// Housekeeping for offers never answered (`[ng] offer_timeout_secs`,
    /// counted from the first offer since the last answer): returns `true`
    /// when the call was never answered and should end; for an answered
    /// call, frees the sections the pending re-offer added (their ports go
    /// back to the pool; a late answer is then refused for its extra
    /// sections). The ng housekeeping tick calls it once per call.
    pub fn offer_timed_out(&mut self, ports: &mut dyn PortSource, now: u64) -> bool {
        let t = self.offer_timeout_ms;
        let Some(since) = self.pending_since_ms else {
            return false;
        };
        if t == 0 || now.saturating_sub(since) < t {
            return false;
        }
        if !self.answered {
            tracing::info!(call_id = %self.call_id, "ng offer never answered: ending the call");
            return true;
        }
        self.pending_since_ms = None;
        while self.streams.len() > self.settled_streams
            && self
                .streams
                .last()
                .is_some_and(|st| st.dp_id.is_none() && st.reserved)
        {
            if let Some(st) = self.streams.pop() {
                for l in st.legs.iter().filter(|l| l.bundle.is_none()) {
                    ports.release(l.local_rtp);
                }
            }
        }
        false
    }

    /// Unix ms of the newest media packet on any leg, or the last signal.
    pub fn last_activity_ms(&self) -> u64 {
        self.streams
            .iter()
            .flat_map(|st| st.legs.iter())
            .map(|l| l.counters.last_packet_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
            .max(self.last_signal_ms)
    }

    /// The call's security status, from the policy decisions of both
    /// sides ([`CallSecurityState`]): `unknown` until the first answer and
    /// while a re-offer awaits its answer.
    pub fn security(&self) -> CallSecurity {
        self.sec.status()
    }

    /// What one side (0: the caller) was decided, and whom it faces.
    pub fn side_policy(&self, side: usize) -> (Option<SecurityMode>, &LegWho) {
        (
            self.decisions[side].as_ref().map(|d| d.security),
            &self.who[side],
        )
    }

    /// Media sections, for queries: per section and side, what runs.
    pub fn stream_reports(&self) -> Vec<StreamReport> {
        self.streams
            .iter()
            .enumerate()
            .map(|(i, st)| StreamReport {
                index: i + 1,
                kind: st.kind.clone(),
                relayed: st.dp_id.is_some() && !st.rejected,
                rejected: st.rejected,
                legs: [0, 1].map(|li| {
                    let l = &st.legs[li];
                    let inst = l.installed.as_ref().unwrap_or(&l.want);
                    LegReport {
                        local: l.local_rtp,
                        remote: inst.remote_rtp,
                        latched: l.counters.latched_rtp.lock().map(|g| *g).unwrap_or(None),
                        latched_rtcp: l.counters.latched_rtcp.lock().map(|g| *g).unwrap_or(None),
                        protocol: l.peer_proto.clone(),
                        suite: inst.srtp.as_ref().map(|k| k.suite),
                        rtcp_mux: l.mux,
                        counters: l.counters.clone(),
                    }
                }),
            })
            .collect()
    }
}

impl CallRecord for NgCall {
    fn view(&self) -> CallView {
        let reports = self.stream_reports();
        let offer_due = self
            .pending_since_ms
            .filter(|_| self.offer_timeout_ms > 0)
            .map(|t| t.saturating_add(self.offer_timeout_ms));
        let due_ms = match (self.delete_at_ms, offer_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        CallView {
            id: self.call_id.clone(),
            origin: Origin::Ng,
            created_ms: self.created_ms,
            last_signal_ms: self.last_signal_ms,
            security: self.security(),
            generation: self.sec.generation(),
            counters: reports
                .iter()
                .filter(|r| r.relayed)
                .flat_map(|r| r.legs.iter().map(|l| l.counters.clone()))
                .collect(),
            dp_ids: self.streams.iter().filter_map(|st| st.dp_id).collect(),
            due_ms,
            listing: serde_json::json!({
                "tags": self.tags,
                "media": reports
                    .iter()
                    .map(|r| serde_json::json!({"type": r.kind, "relayed": r.relayed}))
                    .collect::<Vec<_>>(),
            }),
        }
    }

    fn snapshot(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn resources(&self) -> Resources {
        Resources {
            dp_ids: self.streams.iter().filter_map(|st| st.dp_id).collect(),
            ports: self
                .streams
                .iter()
                .flat_map(|st| st.legs.iter())
                .filter(|l| l.bundle.is_none())
                .map(|l| l.local_rtp)
                .collect(),
            counters: self
                .streams
                .iter()
                .filter(|st| st.dp_id.is_some())
                .flat_map(|st| st.legs.iter().map(|l| l.counters.clone()))
                .collect(),
        }
    }

    fn housekeeping(&mut self, s: &CallService, now: u64) -> Option<EndReason> {
        if self.delete_at_ms.is_some_and(|t| t <= now) {
            Some(EndReason::Deleted)
        } else if self.offer_timed_out(&mut ServicePorts::new(s), now) {
            Some(EndReason::OfferTimeout)
        } else {
            None
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn dtls_keyed(&mut self, dp_id: u64, leg: LegId, keys: &crate::dtls::SrtpKeys) -> bool {
        match self.streams.iter_mut().find(|st| st.dp_id == Some(dp_id)) {
            Some(st) if st.legs[leg.index()].webrtc.dtls => {
                st.legs[leg.index()].webrtc.keys = Some(keys.clone());
                true
            }
            _ => false,
        }
    }
}

/// One media section of a call, for `query`.
pub struct StreamReport {
    /// 1-based index of the `m=` line.
    pub index: usize,
    /// `audio`, `video`, ...
    pub kind: String,
    /// Whether the data plane relays it (after the answer).
    pub relayed: bool,
    /// Whether it was rejected (port 0).
    pub rejected: bool,
    /// Side 0 and side 1.
    pub legs: [LegReport; 2],
}

/// One side of a media section, for `query`.
pub struct LegReport {
    /// Rampart's RTP address facing this peer.
    pub local: SocketAddr,
    /// The peer's signalled RTP address.
    pub remote: Option<SocketAddr>,
    /// The address media was latched from.
    pub latched: Option<SocketAddr>,
    /// The address RTCP was latched from.
    pub latched_rtcp: Option<SocketAddr>,
    /// The peer's RTP profile.
    pub protocol: String,
    /// The SRTP suite, `None` for plain RTP.
    pub suite: Option<Suite>,
    /// RTCP multiplexed.
    pub rtcp_mux: bool,
    /// The data plane's counters.
    pub counters: Arc<LegCounters>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports from thin air: offer and answer run without a socket.
    #[derive(Default)]
    pub(super) struct MadeUpPorts {
        next: u16,
        pub(super) reserved: Vec<SocketAddr>,
        pub(super) confirmed: Vec<SocketAddr>,
    }

    impl PortSource for MadeUpPorts {
        fn reserve(&mut self, ip: IpAddr) -> Result<SocketAddr, NgError> {
            let a = SocketAddr::new(ip, 30000 + 2 * self.next);
            self.next += 1;
            self.reserved.push(a);
            Ok(a)
        }
        fn reopen(&mut self, rtp: SocketAddr) -> Result<(), NgError> {
            self.reserved.push(rtp);
            Ok(())
        }
        fn release(&mut self, rtp: SocketAddr) {
            self.reserved.retain(|a| *a != rtp);
        }
        fn confirm(&mut self, rtp: SocketAddr) {
            self.confirmed.push(rtp);
        }
    }

    fn crypto_of(sdp: &str) -> (u16, CryptoAttr) {
        let sdp = Sdp::parse(sdp).unwrap();
        let m = &sdp.media()[0];
        (m.port(), m.crypto().unwrap().remove(0))
    }

    #[test]
    fn offer_and_answer_negotiate_without_sockets() {
        let mut cfg = Config::default();
        cfg.media.addresses = vec!["203.0.113.1".parse().unwrap()];
        let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
        let suite = Suite::AesCm128HmacSha1_80;
        let key_a = MasterKey::new(suite, &[1; 16], &[2; 14]).unwrap();
        let key_b = MasterKey::new(suite, &[3; 16], &[4; 14]).unwrap();
        let line = |tag: u32, k: &MasterKey| {
            CryptoAttr::new(tag, suite, vec![InlineKey::from_master_key(k)]).to_value()
        };
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/SAVP 0\r\na=crypto:{}\r\n",
            line(1, &key_a)
        );
        let mut call = NgCall::new("pure", 0, 0);
        let mut ports = MadeUpPorts::default();
        let mut warnings = Vec::new();
        let opts = MediaOpts::default();
        let mut neg = Negotiation::new(&cfg, &policy);
        let to_b = call
            .offer(
                &mut neg,
                &mut ports,
                "tag-a",
                &offer,
                (&opts, &mut warnings),
            )
            .unwrap();
        // Toward B: Rampart's address, the B-side port, Rampart's own key.
        assert!(to_b.contains("c=IN IP4 203.0.113.1"), "{to_b}");
        let (port_b, ours_to_b) = crypto_of(&to_b);
        assert_eq!(port_b, 30002, "the second reserved pair faces B");
        let ours_to_b = ours_to_b.keys[0].to_master_key(suite).unwrap();
        assert!(!crate::control::keys::same_key(&ours_to_b, &key_a));
        assert_eq!(ports.reserved.len(), 2);
        assert!(
            call.streams[0].dp_id.is_none(),
            "nothing runs before the answer"
        );

        let answer = format!(
            "v=0\r\no=- 2 1 IN IP4 198.51.100.2\r\ns=-\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\n\
             m=audio 5000 RTP/SAVP 0\r\na=crypto:{}\r\n",
            line(1, &key_b)
        );
        let answered = call
            .answer(&mut neg, Some("tag-b"), &answer, (&opts, &mut warnings))
            .unwrap();
        let (port_a, ours_to_a) = crypto_of(&answered.sdp);
        assert_eq!(port_a, 30000);
        let ours_to_a = ours_to_a.keys[0].to_master_key(suite).unwrap();
        // What should run: each leg's peer's key in, Rampart's out, the
        // signalled addresses as remotes.
        let [a, b] = &call.streams[0].legs;
        let (ka, kb) = (a.want.srtp.as_ref().unwrap(), b.want.srtp.as_ref().unwrap());
        assert!(crate::control::keys::same_key(&ka.inbound, &key_a));
        assert!(crate::control::keys::same_key(&ka.outbound, &ours_to_a));
        assert!(crate::control::keys::same_key(&kb.inbound, &key_b));
        assert!(crate::control::keys::same_key(&kb.outbound, &ours_to_b));
        assert_eq!(
            a.want.remote_rtp,
            Some("198.51.100.1:4000".parse().unwrap())
        );
        assert_eq!(
            b.want.remote_rtp,
            Some("198.51.100.2:5000".parse().unwrap())
        );
        let mut changes = neg.status_changes;
        call.settle_answer(&mut changes, &mut ports, answered.decision);
        assert_eq!(
            ports.confirmed.len(),
            2,
            "both pairs leave the unanswered share"
        );
        assert!(call.pending_offerer.is_none());
        assert!(warnings.is_empty(), "{warnings:?}");

        // The call's state is a plain value: it round-trips, keys and all.
        let stored = call.snapshot().unwrap();
        let back: NgCall = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(back.snapshot().unwrap(), stored);
        let kb_back = back.streams[0].legs[1].want.srtp.as_ref().unwrap();
        assert!(crate::control::keys::same_key(&kb_back.inbound, &key_b));
        assert_eq!(back.tags, call.tags);
    }

    #[test]
    fn ng_errors_write_rtpengine_texts_and_keep_their_kind() {
        let ports = NgError::PortsExhausted("no pair on 127.0.0.1".into());
        assert_eq!(ports.to_string(), "Ran out of ports: no pair on 127.0.0.1");
        let policy = policy_err("leg B must be encrypted".into());
        assert!(matches!(policy, NgError::PolicyRefused(_)));
        assert_eq!(
            policy.to_string(),
            "security policy: leg B must be encrypted"
        );
        assert_eq!(
            NgError::new("Unknown call-id").to_string(),
            "Unknown call-id"
        );
    }

    const OFFER: &str =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
        m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 \
        inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=10\r\n\
        m=video 4002 RTP/SAVPF 96\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 \
        inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n";
    const ANSWER: &str =
        "v=0\r\no=- 2 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
        m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 \
        inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5 KDR=4\r\n";

    #[test]
    fn pure_negotiation_rewrites_and_rejects_missing_sections() {
        let n = negotiate_sdp(OFFER.as_bytes(), Some(ANSWER.as_bytes())).unwrap();
        let offer = Sdp::parse(&n.offer_out).unwrap();
        assert_eq!(offer.media().len(), 2);
        assert!(!n
            .offer_out
            .contains("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"));
        let answer = Sdp::parse(n.answer_out.as_deref().unwrap()).unwrap();
        assert_eq!(answer.media().len(), 2, "one m= line per offered section");
        assert!(answer.media()[1].is_rejected());
        // A bad KDR in the answer is refused; one in the offer skips the line.
        let bad = ANSWER.replace("KDR=4", "KDR=25");
        assert!(negotiate_sdp(OFFER.as_bytes(), Some(bad.as_bytes())).is_err());
        let n = negotiate_sdp(OFFER.replace("KDR=10", "KDR=99").as_bytes(), None).unwrap();
        assert!(
            n.warnings.iter().any(|w| w.contains("KDR")),
            "{:?}",
            n.warnings
        );
    }
}
