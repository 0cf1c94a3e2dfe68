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
use super::calls::{now_ms, CallRecord, CallView, EndReason, Origin, Resources, Shared};
use super::keys::generate;
use super::ports::{bind_pair, BoundPorts, PortError};
use super::sdes::{CryptoAttr, InlineKey};
use super::sdp::{Connection, Media, Sdp};
use super::security::{mode_of_suite, LegWho};

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
#[derive(Clone, Debug, Default)]
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
    /// `rampart-device`, `rampart-kind`, `rampart-security`: whom the peer
    /// that sent this SDP is (the offerer in an offer, the answerer in an
    /// answer), and the mode it asks for.
    pub me: LegWho,
    /// `rampart-peer-device`, `rampart-peer-kind`, `rampart-peer-security`
    /// (offers): whom the receiving peer is, so the offer toward it carries
    /// what policy allows it.
    pub peer: LegWho,
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
#[derive(Clone)]
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
struct StreamLeg {
    local_rtp: SocketAddr,
    /// The peer's profile as it wrote it (`RTP/SAVP`, ...).
    peer_proto: String,
    /// Lines from the peer's offer (empty: plain RTP, or not an offerer).
    peer_lines: Vec<PeerLine>,
    /// The peer offered `a=rtcp-mux`.
    peer_offered_mux: bool,
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
    counters: Arc<LegCounters>,
}

impl StreamLeg {
    fn new(local_rtp: SocketAddr) -> StreamLeg {
        StreamLeg {
            local_rtp,
            peer_proto: String::new(),
            peer_lines: Vec::new(),
            peer_offered_mux: false,
            offered: Vec::new(),
            offered_mux: false,
            our_keys: Vec::new(),
            fresh_digests: Vec::new(),
            fresh_in_digests: Vec::new(),
            mux: false,
            want: LegState::default(),
            installed: None,
            counters: LegCounters::new(),
        }
    }

    fn our_key(&mut self, suite: Suite, lifetime: bool) -> Result<MasterKey, NgError> {
        if let Some((_, k)) = self.our_keys.iter().find(|(s, _)| *s == suite) {
            return Ok(k.clone());
        }
        let mut k = generate(suite).map_err(|e| NgError::new(e.0))?;
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
pub struct Stream {
    kind: String,
    /// The formats of the offer's `m=` line (for a rejected line in the
    /// answer when the answerer left the section out).
    formats: Vec<String>,
    dp_id: Option<u64>,
    /// Sockets reserved until the data plane takes them.
    ports: Option<[BoundPorts; 2]>,
    legs: [StreamLeg; 2],
    rejected: bool,
}

/// A call made over ng.
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

fn media_address(cfg: &Config, v6: bool, warnings: &mut Vec<String>) -> Result<IpAddr, NgError> {
    let addrs = &cfg.media.addresses;
    let ip = match addrs.iter().find(|a| a.is_ipv6() == v6) {
        Some(a) => *a,
        None => {
            let a = *addrs
                .first()
                .ok_or_else(|| NgError::new("no media address configured"))?;
            warnings.push(format!(
                "no {} media address configured; using {a}",
                if v6 { "IPv6" } else { "IPv4" }
            ));
            a
        }
    };
    if ip.is_unspecified() {
        return Err(NgError::new(format!(
            "media address {ip} cannot be announced in SDP; configure a concrete address"
        )));
    }
    Ok(ip)
}

/// A port pair for a new media section of an offer: held as unanswered
/// (counted against `[ng] max_unanswered_port_percent`) until the answer.
fn allocate_pair(s: &Shared, ip: IpAddr) -> Result<BoundPorts, NgError> {
    let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
    let pct = s.config.ng.max_unanswered_port_percent;
    if let Some((held, limit)) = pool.unanswered_full(ip, pct) {
        return Err(NgError::new(format!(
            "Ran out of ports: offers not answered yet hold {held} port pairs on {ip}, the \
             limit is {limit} ({pct} % of the pool, [ng] max_unanswered_port_percent)"
        )));
    }
    pool.allocate_unanswered(ip, false).map_err(|e| match e {
        PortError::Exhausted { .. } => NgError::PortsExhausted(e.to_string()),
        PortError::UnknownAddress(_) => NgError::new(e.to_string()),
    })
}

fn normalize_proto(p: &str) -> String {
    // DTLS-SRTP is not supported: a UDP/TLS profile becomes the SDES one.
    let up = p.to_ascii_uppercase();
    match up.as_str() {
        "UDP/TLS/RTP/SAVP" => "RTP/SAVP".into(),
        "UDP/TLS/RTP/SAVPF" => "RTP/SAVPF".into(),
        _ => p.to_string(),
    }
}

fn proto_is_srtp(p: &str) -> bool {
    p.to_ascii_uppercase().contains("SAVP")
}

/// The plain (or secure) twin of a profile: `RTP/SAVPF` ↔ `RTP/AVPF`.
fn proto_with_srtp(p: &str, srtp: bool) -> String {
    let feedback = p.to_ascii_uppercase().ends_with('F');
    match (srtp, feedback) {
        (true, true) => "RTP/SAVPF",
        (true, false) => "RTP/SAVP",
        (false, true) => "RTP/AVPF",
        (false, false) => "RTP/AVP",
    }
    .to_string()
}

fn remote_of(m: &Media, sdp: &Sdp) -> (Option<SocketAddr>, Option<SocketAddr>, bool) {
    let conn = m.effective_connection(sdp);
    let ip = conn.as_ref().and_then(Connection::ip);
    let hold = conn.as_ref().is_some_and(Connection::is_unspecified);
    let Some(ip) = ip.filter(|ip| !ip.is_unspecified()) else {
        return (None, None, hold);
    };
    let rtp = SocketAddr::new(ip, m.port());
    let rtcp = m.rtcp().map(|(port, c)| {
        let cip = c
            .as_ref()
            .and_then(Connection::ip)
            .filter(|i| !i.is_unspecified())
            .unwrap_or(ip);
        SocketAddr::new(cip, port)
    });
    (Some(rtp), rtcp, hold)
}

fn peer_lines(m: &Media, warnings: &mut Vec<String>) -> Result<Vec<PeerLine>, NgError> {
    let mut out = Vec::new();
    for (line, r) in m.crypto_lines() {
        let attr = match r {
            Ok(a) => a,
            Err(e) => {
                warnings.push(format!("a=crypto on SDP line {line} ignored: {e}"));
                continue;
            }
        };
        let Ok(suite) = attr.suite() else {
            continue; // a suite Rampart does not implement: not chosen
        };
        if attr.unencrypted_srtp() || attr.unencrypted_srtcp() || attr.unauthenticated_srtp() {
            warnings.push(format!(
                "a=crypto tag {} ignored: UNENCRYPTED_*/UNAUTHENTICATED_* session parameters are not supported",
                attr.tag
            ));
            continue;
        }
        if attr.keys.len() > 1 {
            warnings.push(format!(
                "a=crypto tag {}: only the first of {} keys is used",
                attr.tag,
                attr.keys.len()
            ));
        }
        let Some(k) = attr.keys.first() else {
            continue;
        };
        // RFC 4568 §6.3.1: the peer derives session keys every 2^n packets;
        // a receiver that ignored it would fail every packet after the first
        // 2^n. A value out of 0..=24 makes the line unusable.
        let kdr = match attr.kdr() {
            Ok(r) => r.unwrap_or(0),
            Err(e) => {
                warnings.push(format!("a=crypto tag {} ignored: {e}", attr.tag));
                continue;
            }
        };
        match k.to_master_key(suite) {
            Ok(key) => out.push(PeerLine {
                tag: attr.tag,
                suite,
                key,
                kdr,
            }),
            Err(e) => warnings.push(format!("a=crypto tag {} ignored: {e}", attr.tag)),
        }
    }
    Ok(out)
}

fn allowed_suites(cfg: &Config, o: &MediaOpts) -> Vec<Suite> {
    let base: Vec<Suite> = if o.sdes_only.is_empty() {
        cfg.ng
            .sdes_suites
            .iter()
            .filter_map(|n| Suite::from_name(n).ok())
            .collect()
    } else {
        o.sdes_only.clone()
    };
    base.into_iter()
        .filter(|s| !o.sdes_no.contains(s))
        .collect()
}

fn sdp_error(what: &str, e: super::sdp::SdpError) -> NgError {
    NgError::new(format!("Failed to parse SDP ({what}): {e}"))
}

fn rewrite(
    m: &mut Media,
    port: u16,
    conn: &Connection,
    proto: &str,
    crypto: &[CryptoAttr],
    mux: bool,
) {
    m.set_port(port);
    if m.connection().is_some() {
        m.set_connection(Some(conn));
    }
    m.set_proto(proto);
    m.set_crypto(crypto);
    m.set_rtcp_mux(mux);
    if !conn.is_unspecified() {
        m.set_rtcp(Some((if mux { port } else { port.wrapping_add(1) }, None)));
    }
}

fn side_of(tags: &[Option<String>; 2], tag: &str) -> Option<usize> {
    tags.iter().position(|t| t.as_deref() == Some(tag))
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

    /// Handles an offer from the peer tagged `from_tag`: returns the SDP to
    /// send to the other peer.
    pub fn offer(
        &mut self,
        s: &Shared,
        from_tag: &str,
        sdp_text: &str,
        o: &MediaOpts,
        warnings: &mut Vec<String>,
    ) -> Result<String, NgError> {
        let cfg = &s.config;
        let mut sdp = Sdp::parse(sdp_text).map_err(|e| sdp_error("offer", e))?;
        // Each section holds two port pairs from the offer on.
        let max = cfg.ng.max_media_sections;
        if sdp.media().len() > max || self.streams.len() > max {
            return Err(NgError::new(format!(
                "the offer has {} media sections; a call may have at most {max} \
                 ([ng] max_media_sections)",
                sdp.media().len().max(self.streams.len())
            )));
        }
        let x = match side_of(&self.tags, from_tag) {
            Some(x) => x,
            None if self.tags[0].is_none() => 0,
            None if self.tags[1].is_none()
                && self.pending_offerer.is_none()
                && !self.streams.is_empty() =>
            {
                1
            }
            None => {
                warnings.push("offer from an unknown tag replaces the calling side".into());
                0
            }
        };
        let y = 1 - x;
        let had_ice = sdp
            .attributes()
            .any(|(n, _)| n.starts_with("ice-") || n == "candidate")
            || sdp.media().iter().any(|m| {
                m.attributes()
                    .any(|(n, _)| n == "candidate" || n.starts_with("ice-"))
            });
        if had_ice {
            warnings.push("ICE is not supported: candidates and ICE attributes removed".into());
        }
        sdp.remove_ice();
        sdp.remove_dtls();
        // Read everything from the offer before rewriting it.
        struct In {
            rejected: bool,
            v6: bool,
            proto: String,
            lines: Vec<PeerLine>,
            mux: bool,
            remote: (Option<SocketAddr>, Option<SocketAddr>, bool),
            kind: String,
            formats: Vec<String>,
        }
        let mut ins = Vec::with_capacity(sdp.media().len());
        for m in sdp.media() {
            let conn = m.effective_connection(&sdp);
            let v6 = conn
                .as_ref()
                .map(|c| matches!(c.addr_type, super::sdp::AddrType::Ip6))
                .unwrap_or(false);
            let proto = normalize_proto(m.proto());
            let lines = if proto_is_srtp(&proto) {
                let l = peer_lines(m, warnings)?;
                if l.is_empty() && !m.is_rejected() {
                    return Err(NgError::new(
                        if m.proto().to_ascii_uppercase().contains("TLS") {
                            "DTLS-SRTP is not supported (no usable a=crypto line)".to_string()
                        } else {
                            format!(
                                "no usable a=crypto line in the offer's {} section",
                                m.kind()
                            )
                        },
                    ));
                }
                l
            } else {
                Vec::new()
            };
            ins.push(In {
                rejected: m.is_rejected(),
                v6,
                proto,
                lines,
                mux: m.rtcp_mux(),
                remote: remote_of(m, &sdp),
                kind: m.kind().to_string(),
                formats: m.formats().to_vec(),
            });
        }
        if ins.is_empty() {
            return Err(NgError::new("the offer has no media section"));
        }
        // The security policy: the offerer's side is decided from its
        // offer (the best suite it lists, capped at what its device or kind
        // may have, unless it asked for a mode); the other side now if its
        // subject is known (or the cluster is nonsecure), else at the answer.
        let mut who = self.who.clone();
        merge_who(&mut who[x], &o.me);
        merge_who(&mut who[y], &o.peer);
        let (dx, dy, generation) = {
            let policy = s.security.policy();
            let live: Vec<&In> = ins.iter().filter(|i| !i.rejected).collect();
            let derived = live
                .iter()
                .map(|i| {
                    if i.lines.is_empty() {
                        SecurityMode::Nonsecure
                    } else if i.lines.iter().any(|l| l.suite.encrypts()) {
                        SecurityMode::Encrypted
                    } else {
                        SecurityMode::Authenticated
                    }
                })
                .min()
                .unwrap_or(SecurityMode::Nonsecure);
            let null_x = !live.is_empty()
                && live
                    .iter()
                    .all(|i| i.lines.iter().any(|l| l.suite == PolicyMedia::NULL_SUITE));
            let req_x = who[x]
                .security
                .unwrap_or_else(|| cap(derived, who[x].ceiling(&policy)));
            let dx = who[x]
                .decide(&policy, req_x, null_x)
                .map_err(|m| policy_err(format!("the offering side: {m}")))?;
            let y_srtp_any = !o.sdes_off
                && live
                    .iter()
                    .any(|i| proto_is_srtp(o.transport_protocol.as_deref().unwrap_or(&i.proto)));
            let dy = if who[y].is_given()
                || who[y].security.is_some()
                || (policy.enforced() && policy.cluster_mode() == ClusterMode::Nonsecure)
            {
                let req_y = who[y].security.unwrap_or(if y_srtp_any {
                    cap(SecurityMode::Encrypted, who[y].ceiling(&policy))
                } else {
                    SecurityMode::Nonsecure
                });
                Some(
                    who[y]
                        .decide(&policy, req_y, true)
                        .map_err(|m| policy_err(format!("the receiving side: {m}")))?,
                )
            } else {
                None
            };
            (dx, dy, policy.generation())
        };
        for w in dx
            .warning
            .iter()
            .chain(dy.as_ref().and_then(|d| d.warning.as_ref()))
        {
            warnings.push(w.clone());
        }
        // What the offer toward the other side may carry.
        let y_media = match &dy {
            Some(d) => d.media.clone(),
            None if dx.media == PolicyMedia::NullCipher => PolicyMedia::NullCipher,
            None => PolicyMedia::Srtp(s.security.policy().srtp_suites().to_vec()),
        };
        for inp in ins.iter_mut().filter(|i| !i.rejected) {
            if inp.lines.is_empty() {
                continue;
            }
            inp.lines.retain(|l| dx.media.allows(l.suite));
            if inp.lines.is_empty() && dx.media.needs_keys() {
                return Err(policy_err(format!(
                    "none of the offer's a=crypto suites is allowed for an {} leg (see [security] \
                     srtp_suites and authenticated_media)",
                    dx.security
                )));
            }
        }
        let x_v6 = ins
            .iter()
            .find(|i| !i.rejected)
            .map(|i| i.v6)
            .unwrap_or(false);
        let y_v6 = o.family_v6.unwrap_or(x_v6);
        let ip_x = media_address(cfg, x_v6, warnings)?;
        let ip_y = media_address(cfg, y_v6, warnings)?;
        // New media sections get ports for both sides.
        while self.streams.len() < ins.len() {
            // Sections of an offer that fails later still time out.
            self.pending_since_ms.get_or_insert_with(now_ms);
            let i = self.streams.len();
            let a = allocate_pair(s, if x == 0 { ip_x } else { ip_y })?;
            let b = match allocate_pair(s, if x == 0 { ip_y } else { ip_x }) {
                Ok(b) => b,
                Err(e) => {
                    s.ports
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .release(a.rtp_addr);
                    return Err(e);
                }
            };
            self.streams.push(Stream {
                kind: ins[i].kind.clone(),
                formats: Vec::new(),
                dp_id: None,
                legs: [StreamLeg::new(a.rtp_addr), StreamLeg::new(b.rtp_addr)],
                ports: Some([a, b]),
                rejected: false,
            });
        }
        let allowed = allowed_suites(cfg, o);
        let conn_y = Connection::new(self.streams[0].legs[y].local_rtp.ip());
        let mut session_hold = false;
        for (i, (inp, m)) in ins.iter().zip(sdp.media_mut().iter_mut()).enumerate() {
            let st = &mut self.streams[i];
            st.rejected = inp.rejected;
            st.formats.clone_from(&inp.formats);
            if inp.rejected {
                continue;
            }
            if st.dp_id.is_none() && st.ports.is_none() {
                // A section rejected while it ran comes back: its ports
                // are still reserved for this call; open them again.
                let bind = |a: SocketAddr| {
                    bind_pair(a)
                        .map_err(|e| NgError::new(format!("cannot reopen media port {a}: {e}")))
                };
                st.ports = Some([bind(st.legs[0].local_rtp)?, bind(st.legs[1].local_rtp)?]);
            }
            let (rtp, rtcp, hold) = inp.remote;
            session_hold |= hold;
            {
                let lx = &mut st.legs[x];
                lx.peer_proto = inp.proto.clone();
                lx.peer_lines = inp.lines.clone();
                lx.peer_offered_mux = inp.mux;
                if !hold {
                    lx.want.remote_rtp = rtp;
                    lx.want.remote_rtcp = if inp.mux { None } else { rtcp };
                }
                lx.want.latch = if o.strict_source {
                    LatchMode::Strict
                } else {
                    LatchMode::Authenticated
                };
            }
            let out_proto = match &o.transport_protocol {
                Some(p) => p.clone(),
                None => inp.proto.clone(),
            };
            let mut y_srtp = proto_is_srtp(&out_proto);
            if y_srtp && (o.sdes_off || y_media == PolicyMedia::Rtp) {
                y_srtp = false;
            }
            let out_proto = proto_with_srtp(&out_proto, y_srtp);
            let ly_offer: Vec<Suite> = if !y_srtp {
                Vec::new()
            } else if y_media == PolicyMedia::NullCipher {
                vec![PolicyMedia::NULL_SUITE]
            } else if inp.lines.is_empty() {
                allowed.clone()
            } else {
                let mut v: Vec<Suite> = Vec::new();
                for l in &inp.lines {
                    if allowed.contains(&l.suite) && !v.contains(&l.suite) {
                        v.push(l.suite);
                    }
                }
                if !o.sdes_nonew {
                    for a in &allowed {
                        if !v.contains(a) {
                            v.push(*a);
                        }
                    }
                }
                v
            };
            let ly_offer: Vec<Suite> = ly_offer
                .into_iter()
                .filter(|su| y_media.allows(*su))
                .collect();
            if y_srtp && ly_offer.is_empty() {
                return Err(NgError::new(
                    "no SRTP crypto suite left to offer (check the SDES flags and ng.sdes_suites)",
                ));
            }
            let ly = &mut st.legs[y];
            let mut lines = Vec::with_capacity(ly_offer.len());
            ly.offered.clear();
            for (n, suite) in ly_offer.iter().enumerate() {
                let k = ly.our_key(*suite, o.sdes_lifetime)?;
                let tag = n as u32 + 1;
                ly.offered.push((tag, *suite));
                lines.push(CryptoAttr::new(
                    tag,
                    *suite,
                    vec![InlineKey::from_master_key(&k)],
                ));
            }
            ly.offered_mux = (inp.mux || o.mux_offer) && !o.mux_demux && !o.mux_reject;
            let port = ly.local_rtp.port();
            let conn = if hold {
                Connection::new(if y_v6 {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                })
            } else {
                conn_y.clone()
            };
            rewrite(m, port, &conn, &out_proto, &lines, ly.offered_mux);
            for l in lines.iter_mut() {
                l.keys.clear(); // drop the key copies now
            }
        }
        rewrite_session_connection(&mut sdp, session_hold, &conn_y);
        if o.replace_origin {
            sdp.set_origin_address(&conn_y);
        }
        if self.tags[x].is_none() {
            self.tags[x] = Some(from_tag.to_string());
        }
        self.pending_since_ms.get_or_insert_with(now_ms);
        self.pending_offerer = Some(x);
        self.last_offerer = x;
        self.pending_opts = o.clone();
        self.last_signal_ms = now_ms();
        self.who = who;
        self.decisions = [None, None];
        self.decisions[x] = Some(dx);
        self.decisions[y] = dy;
        self.pending_generation = generation;
        // The offering side is re-negotiating until the answer settles it.
        let old = self.sec.status();
        let change = self.sec.leg_renegotiating(x);
        s.security.note(&self.call_id, old, change);
        Ok(sdp.to_string())
    }

    /// Handles the answer from the peer tagged `to_tag` to the pending
    /// offer: returns the SDP for the offerer and starts or updates the
    /// data-plane calls.
    pub fn answer(
        &mut self,
        s: &Shared,
        to_tag: Option<&str>,
        sdp_text: &str,
        o: &MediaOpts,
        warnings: &mut Vec<String>,
    ) -> Result<String, NgError> {
        let cfg = &s.config;
        let mut sdp = Sdp::parse(sdp_text).map_err(|e| sdp_error("answer", e))?;
        let x = self.pending_offerer.unwrap_or(self.last_offerer);
        let y = 1 - x;
        if let Some(t) = to_tag {
            match &self.tags[y] {
                Some(old) if old != t => {
                    warnings.push(format!("answer from tag {t} replaces tag {old}"));
                    self.tags[y] = Some(t.to_string());
                }
                None => self.tags[y] = Some(t.to_string()),
                _ => {}
            }
        }
        sdp.remove_ice();
        sdp.remove_dtls();
        if sdp.media().len() > self.streams.len() {
            return Err(NgError::new(format!(
                "the answer has {} media sections, the offer had {}",
                sdp.media().len(),
                self.streams.len()
            )));
        }
        let po = self.pending_opts.clone();
        struct In {
            rejected: bool,
            proto: String,
            crypto: Vec<CryptoAttr>,
            mux: bool,
            remote: (Option<SocketAddr>, Option<SocketAddr>, bool),
        }
        let mut ins = Vec::new();
        for m in sdp.media() {
            ins.push(In {
                rejected: m.is_rejected(),
                proto: normalize_proto(m.proto()),
                crypto: m.crypto().map_err(|e| sdp_error("answer", e))?,
                mux: m.rtcp_mux(),
                remote: remote_of(m, &sdp),
            });
        }
        // The security policy for the answering side: the suite it chose
        // (or plain RTP) must fit what policy allows its device or kind.
        merge_who(&mut self.who[y], &o.me);
        let chosen: Vec<Option<Suite>> = ins
            .iter()
            .enumerate()
            .filter(|(i, inp)| !inp.rejected && !self.streams[*i].rejected)
            .map(|(i, inp)| {
                let ly = &self.streams[i].legs[y];
                if ly.offered.is_empty() {
                    return None;
                }
                inp.crypto.first().and_then(|line| {
                    ly.offered
                        .iter()
                        .find(|(t, _)| *t == line.tag)
                        .map(|&(_, su)| su)
                })
            })
            .collect();
        let fits = |d: &LegDecision| {
            chosen.iter().all(|c| match c {
                Some(su) => d.media.allows(*su),
                None => !d.media.needs_keys(),
            })
        };
        let dy = match &self.decisions[y] {
            Some(d) if o.me.security.is_none() && fits(d) => d.clone(),
            _ => {
                let derived = chosen
                    .iter()
                    .map(|c| c.map_or(SecurityMode::Nonsecure, mode_of_suite))
                    .min()
                    .unwrap_or(SecurityMode::Nonsecure);
                let null_y = !chosen.is_empty()
                    && chosen.iter().all(|c| *c == Some(PolicyMedia::NULL_SUITE));
                let req = self.who[y].security.unwrap_or(derived);
                let policy = s.security.policy();
                let d = self.who[y]
                    .decide(&policy, req, null_y)
                    .map_err(|m| policy_err(format!("the answering side: {m}")))?;
                if !fits(&d) {
                    return Err(policy_err(format!(
                        "the answer's media ({}) does not fit the {} leg policy gives the \
                         answering side",
                        chosen
                            .iter()
                            .map(|c| c.map_or("RTP", |su| su.name()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        d.security
                    )));
                }
                if let Some(w) = &d.warning {
                    warnings.push(w.clone());
                }
                d
            }
        };
        let conn_x = Connection::new(
            self.streams
                .first()
                .map(|st| st.legs[x].local_rtp.ip())
                .ok_or_else(|| NgError::new("no media to answer"))?,
        );
        let mut session_hold = false;
        for (i, (inp, m)) in ins.iter().zip(sdp.media_mut().iter_mut()).enumerate() {
            let st = &mut self.streams[i];
            if st.rejected || inp.rejected {
                st.rejected = true;
                m.set_port(0);
                m.set_crypto(&[]);
                continue;
            }
            let (rtp, rtcp, hold) = inp.remote;
            session_hold |= hold;
            // The answerer's side.
            let y_keys = {
                let ly = &mut st.legs[y];
                ly.peer_proto = inp.proto.clone();
                ly.mux = ly.offered_mux && inp.mux;
                if !hold {
                    ly.want.remote_rtp = rtp;
                    ly.want.remote_rtcp = if ly.mux { None } else { rtcp };
                }
                ly.want.latch = if o.strict_source || po.strict_source {
                    LatchMode::Strict
                } else {
                    LatchMode::Authenticated
                };
                if ly.offered.is_empty() {
                    if !inp.crypto.is_empty() {
                        warnings.push("a=crypto in the answer ignored: none was offered".into());
                    }
                    None
                } else if let Some(line) = inp.crypto.first() {
                    let Some(&(_, suite)) = ly.offered.iter().find(|(t, _)| *t == line.tag) else {
                        return Err(NgError::new(format!(
                            "the answer's a=crypto tag {} was not offered",
                            line.tag
                        )));
                    };
                    if line.suite().ok() != Some(suite) {
                        return Err(NgError::new(format!(
                            "the answer's a=crypto tag {} names {} but {} was offered with it",
                            line.tag,
                            line.suite_name,
                            suite.name()
                        )));
                    }
                    let inbound = line
                        .keys
                        .first()
                        .ok_or_else(|| NgError::new("a=crypto without a key"))?
                        .to_master_key(suite)
                        .map_err(|e| NgError::new(format!("the answer's a=crypto: {e}")))?;
                    let inbound_kdr = line
                        .kdr()
                        .map_err(|e| NgError::new(format!("the answer's a=crypto: {e}")))?
                        .unwrap_or(0);
                    let outbound = ly.our_key(suite, po.sdes_lifetime)?;
                    Some(SrtpKeys {
                        suite,
                        inbound,
                        inbound_kdr,
                        outbound,
                    })
                } else if proto_is_srtp(&inp.proto) {
                    return Err(NgError::new(
                        "the answer is SRTP but has no a=crypto line (DTLS-SRTP is not supported)",
                    ));
                } else {
                    None // the answerer chose plain RTP
                }
            };
            let y_suite = y_keys.as_ref().map(|k| k.suite);
            let y_mux = st.legs[y].mux;
            st.legs[y].want.srtp = y_keys;
            // The offerer's side.
            let lx = &mut st.legs[x];
            let x_line = if lx.peer_lines.is_empty() {
                None
            } else {
                let pick = lx
                    .peer_lines
                    .iter()
                    .find(|l| Some(l.suite) == y_suite)
                    .or_else(|| lx.peer_lines.first())
                    .cloned();
                pick
            };
            let mut crypto = Vec::new();
            lx.want.srtp = match x_line {
                Some(l) => {
                    let outbound = lx.our_key(l.suite, po.sdes_lifetime || o.sdes_lifetime)?;
                    crypto.push(CryptoAttr::new(
                        l.tag,
                        l.suite,
                        vec![InlineKey::from_master_key(&outbound)],
                    ));
                    Some(SrtpKeys {
                        suite: l.suite,
                        inbound: l.key,
                        inbound_kdr: l.kdr,
                        outbound,
                    })
                }
                None => None,
            };
            lx.mux =
                lx.peer_offered_mux && !po.mux_reject && (po.mux_accept || po.mux_demux || y_mux);
            let lx = &st.legs[x];
            let proto = if lx.peer_proto.is_empty() {
                proto_with_srtp(&inp.proto, lx.want.srtp.is_some())
            } else if lx.want.srtp.is_none() && proto_is_srtp(&lx.peer_proto) {
                // Policy gave the offerer plain RTP (a downgrade, with a
                // warning): answer with the plain profile.
                proto_with_srtp(&lx.peer_proto, false)
            } else {
                lx.peer_proto.clone()
            };
            let conn = if hold {
                Connection::new(if conn_x.ip().is_some_and(|i| i.is_ipv6()) {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                })
            } else {
                conn_x.clone()
            };
            rewrite(m, lx.local_rtp.port(), &conn, &proto, &crypto, lx.mux);
        }
        // RFC 3264 §6: the answer has as many m= lines as the offer. A
        // section the answerer left out is rejected (port 0 toward the
        // offerer) and never relayed: it would otherwise run with the
        // offer's side only (an SRTP section relayed as plain RTP).
        let answered = ins.len();
        for (i, st) in self.streams.iter_mut().enumerate().skip(answered) {
            if !st.rejected {
                warnings.push(format!(
                    "the answer has no {} section for m= line {} of the offer: rejected (port 0)",
                    st.kind,
                    i + 1
                ));
            }
            st.rejected = true;
            let proto = st.legs[x].peer_proto.clone();
            sdp.push_rejected_media(&st.kind, &proto, &st.formats);
        }
        rewrite_session_connection(&mut sdp, session_hold, &conn_x);
        if o.replace_origin || po.replace_origin {
            sdp.set_origin_address(&conn_x);
        }
        let out = sdp.to_string();
        self.apply(s, cfg, warnings)?;
        self.pending_offerer = None;
        self.pending_since_ms = None;
        self.answered = true;
        self.settled_streams = self.streams.len();
        // Answered: every section's pairs (relayed or rejected) leave the
        // unanswered share of the pool.
        {
            let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
            for st in &self.streams {
                for l in &st.legs {
                    pool.confirm(l.local_rtp);
                }
            }
        }
        self.last_signal_ms = now_ms();
        // Both sides settle at what policy decided.
        let mx = self.decisions[x]
            .as_ref()
            .map_or(SecurityMode::Nonsecure, |d| d.security);
        let my = dy.security;
        self.decisions[y] = Some(dy);
        self.sec.readmit(self.pending_generation);
        for (side, mode) in [(x, mx), (y, my)] {
            let old = self.sec.status();
            let change = self.sec.leg_settled(side, mode);
            s.security.note(&self.call_id, old, change);
        }
        Ok(out)
    }

    /// Starts the data-plane calls not started yet and brings running ones
    /// to the negotiated state.
    fn apply(
        &mut self,
        s: &Shared,
        cfg: &Config,
        warnings: &mut Vec<String>,
    ) -> Result<(), NgError> {
        let window = cfg.srtp.replay_window;
        for st in &mut self.streams {
            if st.rejected {
                stop_rejected(s, st);
                continue;
            }
            match st.dp_id {
                None => start_stream(s, st, window, warnings)?,
                Some(id) => update_stream(s, st, id, window, warnings)?,
            }
        }
        Ok(())
    }

    /// Housekeeping for offers never answered (`[ng] offer_timeout_secs`,
    /// counted from the first offer since the last answer): returns `true`
    /// when the call was never answered and should end; for an answered
    /// call, frees the sections the pending re-offer added (their ports go
    /// back to the pool; a late answer is then refused for its extra
    /// sections). The ng housekeeping tick calls it once per call.
    pub fn offer_timed_out(&mut self, s: &Shared, now: u64) -> bool {
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
        let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
        while self.streams.len() > self.settled_streams
            && self
                .streams
                .last()
                .is_some_and(|st| st.dp_id.is_none() && st.ports.is_some())
        {
            if let Some(st) = self.streams.pop() {
                drop(st.ports);
                for l in &st.legs {
                    pool.release(l.local_rtp);
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

    fn resources(&self) -> Resources {
        Resources {
            dp_ids: self.streams.iter().filter_map(|st| st.dp_id).collect(),
            ports: self
                .streams
                .iter()
                .flat_map(|st| st.legs.iter().map(|l| l.local_rtp))
                .collect(),
            counters: self
                .streams
                .iter()
                .filter(|st| st.dp_id.is_some())
                .flat_map(|st| st.legs.iter().map(|l| l.counters.clone()))
                .collect(),
        }
    }

    fn housekeeping(&mut self, s: &Shared, now: u64) -> Option<EndReason> {
        if self.delete_at_ms.is_some_and(|t| t <= now) {
            Some(EndReason::Deleted)
        } else if self.offer_timed_out(s, now) {
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
}

fn install_error(e: InstallError) -> NgError {
    NgError::new(e.0)
}

fn dataplane_error(e: crate::dataplane::DataPlaneError) -> NgError {
    NgError::new(format!("data plane: {e}"))
}

/// A rejected section is never relayed: stops a running one (its ports
/// stay reserved for the call, its keys retire).
fn stop_rejected(s: &Shared, st: &mut Stream) {
    let Some(id) = st.dp_id.take() else {
        return;
    };
    if let Err(e) = s.with_dataplane(|dp| dp.remove_call(id)) {
        tracing::warn!(error = %e, "data plane could not remove a rejected ng stream");
    }
    for leg in &mut st.legs {
        s.totals.fold(&leg.counters);
        leg.counters = LegCounters::new();
        if let Some(k) = leg.installed.take().and_then(|i| i.srtp) {
            leg.retire(k.suite);
        }
    }
}

/// Starts the data-plane call of a section on its reserved sockets.
fn start_stream(
    s: &Shared,
    st: &mut Stream,
    window: usize,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    let Some(ports) = st.ports.take() else {
        return Ok(());
    };
    let mut flows = Vec::with_capacity(2);
    for (leg, bound) in st.legs.iter_mut().zip(ports) {
        if let Some(k) = &leg.want.srtp {
            let (out, inb) = (k.outbound.clone(), k.inbound.clone());
            leg.note_fresh_outbound(&out)?;
            leg.note_fresh_inbound(&inb, warnings);
        }
        let rtcp = if leg.mux { None } else { bound.rtcp };
        flows.push(
            install::leg_flows(&leg.want, bound.rtp, rtcp, window, leg.counters.clone())
                .map_err(install_error)?,
        );
    }
    let Ok(legs) = <[LegFlows; 2]>::try_from(flows) else {
        return Err(NgError::new("internal: leg count"));
    };
    let id = s.calls.alloc_dp_id();
    s.with_dataplane(|dp| dp.add_call(CallFlows { id, legs }))
        .map_err(dataplane_error)?;
    st.dp_id = Some(id);
    for leg in &mut st.legs {
        leg.installed = Some(leg.want.clone());
    }
    Ok(())
}

/// Brings a running section to what was negotiated: per leg, the key
/// bookkeeping of [`install::freshness`], then [`install::reconcile`];
/// both legs' updates go to the worker as one.
fn update_stream(
    s: &Shared,
    st: &mut Stream,
    id: u64,
    window: usize,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    let mut steps = Vec::new();
    for leg_id in LegId::BOTH {
        let leg = &mut st.legs[leg_id.index()];
        let Some(old) = leg.installed.clone() else {
            continue;
        };
        let fresh = install::freshness(&old, &leg.want);
        if let Some(k) = &fresh.outbound {
            leg.note_fresh_outbound(k)?;
        }
        if let Some(k) = &fresh.inbound {
            leg.note_fresh_inbound(k, warnings);
        }
        if let Some(su) = fresh.retired {
            leg.retire(su);
        }
        if let Some(u) = install::reconcile(&old, &leg.want, window).map_err(install_error)? {
            steps.push((leg_id, u));
        }
    }
    if !steps.is_empty() {
        s.with_dataplane(|dp| dp.update_legs(id, steps))
            .map_err(dataplane_error)?;
    }
    for leg in &mut st.legs {
        leg.installed = Some(install::installed_after(leg.installed.as_ref(), &leg.want));
    }
    Ok(())
}

/// What [`negotiate_sdp`] produced: the offer as rewritten toward the
/// answerer and the answer as rewritten toward the offerer.
pub struct Negotiated {
    /// The offer toward the answerer.
    pub offer_out: String,
    /// The answer toward the offerer, `None` without an answer or when it
    /// was refused.
    pub answer_out: Option<String>,
    /// Warnings, as an ng reply would carry them.
    pub warnings: Vec<String>,
}

/// The pure part of an ng offer/answer over untrusted bytes, with no ports,
/// no data plane and fixed (non-secret) keys: the offer is parsed, its
/// `a=crypto` lines read (suites, keys, `KDR`, session parameters), each
/// section rewritten toward the answerer the way [`NgCall::offer`] does;
/// the answer is parsed, its chosen lines checked against what was
/// offered, missing sections rejected, and rewritten toward the offerer.
/// For the `sdp_offer_answer` fuzz target and tests: it must never panic.
pub fn negotiate_sdp(offer: &[u8], answer: Option<&[u8]>) -> Result<Negotiated, NgError> {
    fn fixed_key(suite: Suite) -> Result<MasterKey, NgError> {
        let n = suite.master_key_len() + suite.master_salt_len();
        let bytes = [0x5au8; 46];
        MasterKey::from_concatenated(suite, bytes.get(..n).unwrap_or(&bytes))
            .map_err(|e| NgError::new(e.to_string()))
    }
    let mut warnings = Vec::new();
    let here = Connection::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let mut sdp = Sdp::parse_bytes(offer).map_err(|e| sdp_error("offer", e))?;
    if sdp.media().len() > super::sdp::MAX_MEDIA {
        return Err(NgError::new("too many media sections"));
    }
    sdp.remove_ice();
    sdp.remove_dtls();
    // Per section: (proto, offered (tag, suite), formats, kind).
    let mut offered = Vec::new();
    let mut reads = Vec::new();
    for m in sdp.media() {
        let proto = normalize_proto(m.proto());
        let lines = if proto_is_srtp(&proto) {
            peer_lines(m, &mut warnings)?
        } else {
            Vec::new()
        };
        let _ = remote_of(m, &sdp);
        reads.push((proto, lines, m.rtcp_mux(), m.is_rejected()));
    }
    for (i, ((proto, lines, mux, rejected), m)) in
        reads.iter().zip(sdp.media_mut().iter_mut()).enumerate()
    {
        let port = 40000u16.saturating_add(u16::try_from(i).unwrap_or(0).saturating_mul(2));
        let mut crypto = Vec::new();
        let mut tags = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            let tag = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
            crypto.push(CryptoAttr::new(
                tag,
                l.suite,
                vec![InlineKey::from_master_key(&fixed_key(l.suite)?)],
            ));
            tags.push((tag, l.suite));
        }
        if !rejected {
            rewrite(
                m,
                port,
                &here,
                &proto_with_srtp(proto, !lines.is_empty()),
                &crypto,
                *mux,
            );
        }
        offered.push((
            tags,
            proto.clone(),
            m.formats().to_vec(),
            m.kind().to_string(),
        ));
    }
    rewrite_session_connection(&mut sdp, false, &here);
    sdp.set_origin_address(&here);
    let offer_out = sdp.to_string();
    let Some(answer) = answer else {
        return Ok(Negotiated {
            offer_out,
            answer_out: None,
            warnings,
        });
    };
    let mut sdp = Sdp::parse_bytes(answer).map_err(|e| sdp_error("answer", e))?;
    sdp.remove_ice();
    sdp.remove_dtls();
    if sdp.media().len() > offered.len() {
        return Err(NgError::new(
            "the answer has more media sections than the offer",
        ));
    }
    for m in sdp.media() {
        let _ = remote_of(m, &sdp);
    }
    for (m, (tags, _, _, _)) in sdp.media_mut().iter_mut().zip(&offered) {
        if m.is_rejected() {
            m.set_crypto(&[]);
            continue;
        }
        let crypto = m.crypto().map_err(|e| sdp_error("answer", e))?;
        let mut out = Vec::new();
        if let Some(line) = crypto.first() {
            let Some(&(_, suite)) = tags.iter().find(|(t, _)| *t == line.tag) else {
                return Err(NgError::new("the answer's a=crypto tag was not offered"));
            };
            if line.suite().ok() != Some(suite) {
                return Err(NgError::new("the answer's a=crypto suite does not match"));
            }
            let k = line
                .keys
                .first()
                .ok_or_else(|| NgError::new("a=crypto without a key"))?;
            k.to_master_key(suite)
                .map_err(|e| NgError::new(e.to_string()))?;
            line.kdr().map_err(|e| NgError::new(e.to_string()))?;
            out.push(CryptoAttr::new(
                line.tag,
                suite,
                vec![InlineKey::from_master_key(&fixed_key(suite)?)],
            ));
        }
        let proto = m.proto().to_string();
        let mux = m.rtcp_mux();
        rewrite(m, 42000, &here, &proto, &out, mux);
    }
    for (_, proto, formats, kind) in offered.iter().skip(sdp.media().len()) {
        sdp.push_rejected_media(kind, proto, formats);
    }
    rewrite_session_connection(&mut sdp, false, &here);
    Ok(Negotiated {
        offer_out,
        answer_out: Some(sdp.to_string()),
        warnings,
    })
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
