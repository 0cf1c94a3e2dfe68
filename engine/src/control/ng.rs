//! The ng control protocol of rtpengine, as Kamailio's and OpenSIPS'
//! rtpengine modules speak it (documented in `docs/ng.md`).
//!
//! Why speak it: every deployment that drives rtpengine today can point its
//! `rtpengine_sock` at Rampart. A request is `cookie SP bencoded-dict`
//! (one UDP datagram, or a stream of them over TCP); the reply is
//! `cookie SP bencoded-dict` with `result` = `ok` | `pong` | `error` (and
//! `error-reason`), plus `warning` when an option Rampart does not support
//! was ignored, the way rtpengine does.
//!
//! Security: ng has no authentication, and an offer's reply carries SRTP
//! keys. The listener is off unless enabled, binds loopback by default, and
//! requests from sources outside `[ng] allow` are dropped unanswered
//! (counted). Requests above `max_request_bytes` and bencode deeper or
//! larger than the bounds in [`ng_bencode`](super::ng_bencode) get an error.
//!
//! Replies are cached by cookie for `cookie_cache_secs`, so a retransmitted
//! offer is answered again rather than executed twice. Commands run one at a
//! time under one lock, which also makes a retransmission that arrives while
//! its original is running wait for, and get, the original's reply.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ng_bencode::{self as ben, Dict, Limits, Scan, Value};
use super::ng_call::{MediaOpts, NgCall, NgError};
use super::node::{now_ms, EndReason, Shared};
use super::registry::{AdmitError, LEG_COUNTERS};
use crate::srtp::Suite;

/// A source network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `192.0.2.0/24`, `2001:db8::/32` or a bare address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in the network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Counters of the ng protocol, for metrics and `statistics`.
#[derive(Default)]
pub struct NgCounters {
    /// Requests by command: ping, offer, answer, delete, query, list,
    /// statistics, other.
    pub commands: [AtomicU64; 8],
    /// Replies with `result: error`.
    pub errors: AtomicU64,
    /// Replies served from the cookie cache.
    pub cached: AtomicU64,
    /// Requests dropped: source not in `allow`.
    pub refused_source: AtomicU64,
    /// Requests refused: too large.
    pub refused_size: AtomicU64,
    /// Requests refused: not `cookie SP bencode`.
    pub malformed: AtomicU64,
    /// ng calls created.
    pub calls_created: AtomicU64,
}

/// Command names in the order of [`NgCounters::commands`].
pub const COMMANDS: [&str; 8] = [
    "ping",
    "offer",
    "answer",
    "delete",
    "query",
    "list",
    "statistics",
    "other",
];

struct Cache {
    replies: HashMap<Vec<u8>, (u64, Vec<u8>)>,
    order: VecDeque<(u64, Vec<u8>)>,
}

const CACHE_MAX: usize = 200_000;

impl Cache {
    fn get(&self, cookie: &[u8], now: u64) -> Option<&Vec<u8>> {
        self.replies
            .get(cookie)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r)
    }

    fn put(&mut self, cookie: &[u8], reply: Vec<u8>, expires: u64) {
        while self.order.len() >= CACHE_MAX {
            if let Some((_, c)) = self.order.pop_front() {
                self.replies.remove(&c);
            }
        }
        self.replies.insert(cookie.to_vec(), (expires, reply));
        self.order.push_back((expires, cookie.to_vec()));
    }

    fn expire(&mut self, now: u64) {
        while let Some((exp, _)) = self.order.front() {
            if *exp > now {
                break;
            }
            if let Some((_, c)) = self.order.pop_front() {
                if self.replies.get(&c).is_some_and(|(e, _)| *e <= now) {
                    self.replies.remove(&c);
                }
            }
        }
    }
}

struct Inner {
    calls: HashMap<String, NgCall>,
    cache: Cache,
}

/// Node-wide media rates for `statistics`, sampled by the housekeeping
/// tick at most once a second.
#[derive(Default)]
struct Rates {
    /// (ms, packets in, bytes in, errors) at the last sample.
    last: Option<(u64, u64, u64, u64)>,
    /// Per second over the last interval: packets, bytes, errors.
    per_sec: (u64, u64, u64),
}

/// Counters that make the `errorrate`: packets refused on arrival.
const ERROR_COUNTERS: [&str; 4] = ["auth_failures", "replays", "malformed", "unknown_ssrc"];

impl Rates {
    fn sample(&mut self, now_ms: u64, t: &super::metrics::LegTotals) {
        let errors = ERROR_COUNTERS.iter().map(|n| t.get(n)).sum();
        let cur = (now_ms, t.get("packets_in"), t.get("bytes_in"), errors);
        if let Some(last) = self.last {
            let dt = cur.0.saturating_sub(last.0);
            if dt < 1000 {
                return;
            }
            let rate = |a: u64, b: u64| a.saturating_sub(b).saturating_mul(1000) / dt;
            self.per_sec = (
                rate(cur.1, last.1),
                rate(cur.2, last.2),
                rate(cur.3, last.3),
            );
        }
        self.last = Some(cur);
    }
}

/// The ng protocol's state: its calls, the reply cache, its counters.
pub struct NgState {
    inner: Mutex<Inner>,
    rates: Mutex<Rates>,
    allow: Vec<Cidr>,
    limits: Limits,
    max_request: usize,
    /// Counters.
    pub counters: NgCounters,
}

/// What the node reports about its ng listeners.
#[derive(Clone, Debug, Default)]
pub struct NgAddrs {
    /// The UDP address, if serving.
    pub udp: Option<SocketAddr>,
    /// The TCP address, if serving.
    pub tcp: Option<SocketAddr>,
}

/// A parsed ng request.
#[derive(Default)]
struct Request {
    command: String,
    call_id: Option<String>,
    from_tag: Option<String>,
    to_tag: Option<String>,
    via_branch: Option<String>,
    sdp: Option<String>,
    delete_delay: Option<u64>,
    limit: Option<u64>,
    fatal: bool,
    all: bool,
    media: MediaOpts,
    warnings: Vec<String>,
    /// The client listed `supports: ["load limit"]` (Kamailio, OpenSIPS):
    /// at the call limit it gets `result: "load limit"`, as from rtpengine,
    /// and fails over to the next relay instead of failing the call.
    supports_load_limit: bool,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::ByteStr(b) => String::from_utf8(b.to_vec()).ok(),
        Value::Int(_) => v
            .as_i64()
            .map(|n| n.to_string())
            .or_else(|| v.as_u64().map(|n| n.to_string())),
        _ => None,
    }
}

fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().filter_map(text).collect(),
        other => text(other)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn norm(k: &str) -> String {
    k.trim()
        .chars()
        .map(|c| match c {
            '-' | '_' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn suite_arg(name: &str, req: &mut Request) -> Option<Suite> {
    match Suite::from_name(&name.to_ascii_uppercase()) {
        Ok(s) => Some(s),
        Err(_) => {
            req.warnings
                .push(format!("SDES suite {name} is not supported; ignored"));
            None
        }
    }
}

fn sdes(req: &mut Request, v: &str) {
    let lv = v.to_ascii_lowercase();
    match lv.as_str() {
        "off" | "no" | "disable" => req.media.sdes_off = true,
        "on" | "yes" | "enable" => {}
        "nonew" => req.media.sdes_nonew = true,
        "lifetime" => req.media.sdes_lifetime = true,
        // Rampart always writes padded base64, which every peer accepts.
        "pad" => {}
        _ => {
            if let Some(s) = lv.strip_prefix("no-") {
                if let Some(s) = suite_arg(s, req) {
                    req.media.sdes_no.push(s);
                }
            } else if let Some(s) = lv.strip_prefix("only-") {
                if let Some(s) = suite_arg(s, req) {
                    req.media.sdes_only.push(s);
                }
            } else {
                req.warnings
                    .push(format!("SDES option {v:?} is not supported; ignored"));
            }
        }
    }
}

fn rtcp_mux(req: &mut Request, v: &str) {
    match v.to_ascii_lowercase().as_str() {
        "offer" => req.media.mux_offer = true,
        "accept" => req.media.mux_accept = true,
        "demux" => req.media.mux_demux = true,
        "reject" => req.media.mux_reject = true,
        _ => req
            .warnings
            .push(format!("rtcp-mux option {v:?} is not supported; ignored")),
    }
}

fn replace(req: &mut Request, v: &str) {
    match norm(v).as_str() {
        "origin" => req.media.replace_origin = true,
        // Rampart always rewrites the session-level c= line.
        "session connection" => {}
        _ => req
            .warnings
            .push(format!("replace option {v:?} is not supported; ignored")),
    }
}

fn transport(req: &mut Request, v: &str) -> Result<(), NgError> {
    let up = v.to_ascii_uppercase();
    match up.as_str() {
        "RTP/AVP" | "RTP/SAVP" | "RTP/AVPF" | "RTP/SAVPF" => {
            req.media.transport_protocol = Some(up);
            Ok(())
        }
        "UDP/TLS/RTP/SAVP" | "UDP/TLS/RTP/SAVPF" => Err(NgError::new(
            "transport-protocol UDP/TLS/RTP/SAVP(F): DTLS-SRTP is not supported",
        )),
        _ => Err(NgError::new(format!("unknown transport-protocol {v:?}"))),
    }
}

/// Flags that need no action (Rampart's behaviour already matches, or the
/// flag concerns rtpengine features Rampart has no equivalent for that do
/// not change the media path).
const QUIET_FLAGS: &[&str] = &[
    "trust address",
    "sip source address",
    "symmetric",
    "asymmetric",
    "port latching",
    "media handover",
    "no port latching",
    "loop protect",
    "full rtcp attribute",
    "generate mid",
    "strip extmap",
];

fn flag(req: &mut Request, f: &str) -> Result<(), NgError> {
    let n = norm(f);
    if let Some((k, v)) = f.split_once('=') {
        return option(req, k, &Value::ByteStr(v.as_bytes().into()));
    }
    match n.as_str() {
        "strict source" => req.media.strict_source = true,
        "fatal" => req.fatal = true,
        "all" => req.all = true,
        "rtp/avp" | "rtp/savp" | "rtp/avpf" | "rtp/savpf" => transport(req, f)?,
        _ if QUIET_FLAGS.contains(&n.as_str()) => {}
        _ => {
            if let Some(v) = n.strip_prefix("sdes ") {
                sdes(req, &v.replace(' ', "-"));
            } else if let Some(v) = n.strip_prefix("rtcp mux ") {
                rtcp_mux(req, v);
            } else if let Some(v) = n.strip_prefix("replace ") {
                replace(req, v);
            } else {
                req.warnings
                    .push(format!("flag {f:?} is not supported; ignored"));
            }
        }
    }
    Ok(())
}

fn option(req: &mut Request, key: &str, v: &Value) -> Result<(), NgError> {
    let k = norm(key);
    let one = || text(v).unwrap_or_default();
    match k.as_str() {
        "command" => req.command = one().to_ascii_lowercase(),
        "call id" => req.call_id = text(v),
        "from tag" => req.from_tag = text(v),
        "to tag" => req.to_tag = text(v),
        "via branch" => req.via_branch = text(v),
        "sdp" => {
            req.sdp = Some(text(v).ok_or_else(|| NgError::new("the sdp value is not UTF-8 text"))?)
        }
        "flags" => {
            for f in texts(v) {
                flag(req, &f)?;
            }
        }
        "replace" => {
            for r in texts(v) {
                replace(req, &r);
            }
        }
        "transport protocol" => transport(req, &one())?,
        "ice" => {
            let val = one().to_ascii_lowercase();
            if val != "remove" {
                req.warnings.push(format!(
                    "ICE={val} is not supported: ICE attributes are removed"
                ));
            }
        }
        "dtls" => {
            let val = one().to_ascii_lowercase();
            if !matches!(val.as_str(), "off" | "no" | "disable") {
                req.warnings.push(format!(
                    "DTLS={val} is not supported: DTLS-SRTP is not offered"
                ));
            }
        }
        "sdes" => {
            for s in texts(v) {
                sdes(req, &s);
            }
        }
        "rtcp mux" => {
            for s in texts(v) {
                rtcp_mux(req, &s);
            }
        }
        // One media interface per address family: nothing to choose.
        "direction" | "received from" | "media address" => {}
        "address family" => {
            req.media.family_v6 = match one().to_ascii_uppercase().as_str() {
                "IP4" => Some(false),
                "IP6" => Some(true),
                other => return Err(NgError::new(format!("unknown address family {other:?}"))),
            }
        }
        "delete delay" => {
            req.delete_delay = Some(
                one()
                    .parse()
                    .map_err(|_| NgError::new("delete-delay must be a number of seconds"))?,
            )
        }
        "supports" => {
            for s in texts(v) {
                if s.eq_ignore_ascii_case("load limit") {
                    req.supports_load_limit = true;
                }
            }
        }
        "rampart device" => req.media.me.device = Some(device_name(&one())?),
        "rampart peer device" => req.media.peer.device = Some(device_name(&one())?),
        "rampart kind" => req.media.me.kind = Some(leg_kind(&one())?),
        "rampart peer kind" => req.media.peer.kind = Some(leg_kind(&one())?),
        "rampart security" => req.media.me.security = Some(security_mode(&one())?),
        "rampart peer security" => req.media.peer.security = Some(security_mode(&one())?),
        "limit" => {
            req.limit = Some(
                one()
                    .parse()
                    .map_err(|_| NgError::new("limit must be a number"))?,
            )
        }
        _ => req
            .warnings
            .push(format!("option {key:?} is not supported; ignored")),
    }
    Ok(())
}

fn device_name(v: &str) -> Result<String, NgError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(NgError::new(
            "rampart-device must be 1 to 128 printable characters",
        ));
    }
    Ok(v.to_string())
}

fn leg_kind(v: &str) -> Result<crate::policy::LegKind, NgError> {
    let n = v.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    crate::policy::LegKind::ALL
        .into_iter()
        .find(|k| k.as_str() == n)
        .ok_or_else(|| {
            let all: Vec<&str> = crate::policy::LegKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            NgError::new(format!(
                "unknown rampart-kind {v:?}; known: {}",
                all.join(", ")
            ))
        })
}

fn security_mode(v: &str) -> Result<crate::policy::SecurityMode, NgError> {
    let n = v.trim().to_ascii_lowercase();
    crate::policy::SecurityMode::ALL
        .into_iter()
        .find(|m| m.as_str() == n)
        .ok_or_else(|| {
            NgError::new(format!(
                "unknown rampart-security {v:?}; use nonsecure, authenticated or encrypted"
            ))
        })
}

fn parse_request(v: &Value) -> Result<Request, NgError> {
    let Value::Dict(d) = v else {
        return Err(NgError::new("the request is not a dictionary"));
    };
    let mut req = Request::default();
    for (k, v) in d {
        let key = String::from_utf8_lossy(k);
        option(&mut req, &key, v)?;
    }
    if req.command.is_empty() {
        return Err(NgError::new("No command given"));
    }
    Ok(req)
}

fn need<'a>(v: &'a Option<String>, what: &str) -> Result<&'a str, NgError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(NgError::new(format!("No {what} given"))),
    }
}

fn check_call_id(id: &str) -> Result<(), NgError> {
    if id.len() > 256 || id.chars().any(char::is_control) {
        return Err(NgError::new(
            "call-id must be 1 to 256 printable characters",
        ));
    }
    Ok(())
}

fn leg_stats(c: &crate::dataplane::LegCounters) -> (Value, Value, u64, u64, u64, u64) {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let errors = g(&c.auth_failures) + g(&c.replays) + g(&c.malformed) + g(&c.unknown_ssrc);
    let rtcp = g(&c.rtcp_in);
    let pkts = g(&c.packets_in).saturating_sub(rtcp);
    let mut st = Dict::new();
    st.int("packets", pkts)
        .int("bytes", g(&c.bytes_in))
        .int("errors", errors);
    let mut all = Dict::new();
    for (name, get) in LEG_COUNTERS.iter() {
        all.int(name, g(get(c)));
    }
    all.int("last_packet_ms", g(&c.last_packet_ms));
    (
        st.into_value(),
        all.into_value(),
        pkts,
        g(&c.bytes_in),
        errors,
        rtcp,
    )
}

fn endpoint(a: SocketAddr) -> Value {
    let mut d = Dict::new();
    d.str("family", if a.is_ipv4() { "IPv4" } else { "IPv6" })
        .str("address", a.ip().to_string())
        .int("port", u64::from(a.port()));
    d.into_value()
}

/// The `query` (and `delete`) answer for one call.
fn call_report(call: &NgCall, reply: &mut Dict) {
    reply
        .int("created", call.created_ms / 1000)
        .int("created_us", call.created_ms.saturating_mul(1000))
        .int("last signal", call.last_signal_ms / 1000)
        .str("security", call.security().as_str())
        .int("rampart policy generation", call.sec.generation());
    let reports = call.stream_reports();
    let mut tags = Dict::new();
    let (mut rtp_p, mut rtp_b, mut errs, mut rtcp_p) = (0u64, 0u64, 0u64, 0u64);
    for side in 0..2 {
        let tag = call.tags[side].clone().unwrap_or_default();
        let other = call.tags[1 - side].clone().unwrap_or_default();
        let mut medias = Vec::new();
        for r in &reports {
            let l = &r.legs[side];
            let (stats, all, p, b, e, rc) = leg_stats(&l.counters);
            rtp_p += p;
            rtp_b += b;
            errs += e;
            rtcp_p += rc;
            let mut s = Dict::new();
            s.int("local port", u64::from(l.local.port()))
                .set("local endpoint", endpoint(l.local))
                .set("stats", stats)
                .set("rampart stats", all);
            if let Some(a) = l.remote {
                s.set("advertised endpoint", endpoint(a));
            }
            if let Some(a) = l.latched.or(l.remote) {
                s.set("endpoint", endpoint(a));
            }
            let mut m = Dict::new();
            let mut flags = Vec::new();
            if l.rtcp_mux {
                flags.push("rtcp-mux");
            }
            if r.rejected {
                flags.push("rejected");
            }
            if r.relayed {
                flags.push("relayed");
            }
            m.int("index", r.index as u64)
                .str("type", r.kind.clone())
                .str("protocol", l.protocol.clone())
                .set("streams", Value::List(vec![s.into_value()]))
                .set("flags", ben::string_list(flags));
            if let Some(su) = l.suite {
                m.str("crypto suite", su.name());
            }
            medias.push(m.into_value());
        }
        let mut t = Dict::new();
        let (mode, who) = call.side_policy(side);
        if let Some(m) = mode {
            t.str("rampart security", m.as_str());
        }
        if let Some(d) = &who.device {
            t.str("rampart device", d.clone());
        }
        t.str(
            "rampart kind",
            who.kind.unwrap_or(crate::policy::LegKind::Phone).as_str(),
        );
        t.str("tag", tag.clone())
            .int("created", call.created_ms / 1000)
            .str("in dialogue with", other)
            .set("medias", Value::List(medias));
        tags.set(&tag, t.into_value());
    }
    let mut rtp = Dict::new();
    rtp.int("packets", rtp_p)
        .int("bytes", rtp_b)
        .int("errors", errs);
    let mut rtcp = Dict::new();
    rtcp.int("packets", rtcp_p).int("bytes", 0).int("errors", 0);
    let mut totals = Dict::new();
    totals
        .set("RTP", rtp.into_value())
        .set("RTCP", rtcp.into_value());
    reply
        .set("tags", tags.into_value())
        .set("totals", totals.into_value());
}

impl NgState {
    /// State for a node with this configuration.
    pub fn new(cfg: &crate::config::NgConfig) -> NgState {
        NgState {
            inner: Mutex::new(Inner {
                calls: HashMap::new(),
                cache: Cache {
                    replies: HashMap::new(),
                    order: VecDeque::new(),
                },
            }),
            rates: Mutex::new(Rates::default()),
            allow: cfg
                .allow
                .iter()
                .filter_map(|a| Cidr::parse(a).ok())
                .collect(),
            limits: Limits {
                max_bytes: cfg.max_request_bytes,
                ..Limits::default()
            },
            max_request: cfg.max_request_bytes,
            counters: NgCounters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether requests from `ip` are answered.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(ip))
    }

    /// ng calls running.
    pub fn call_count(&self) -> usize {
        self.lock().calls.len()
    }

    /// (call id, policy generation admitted under) of every ng call.
    pub fn generations(&self) -> Vec<(String, u64)> {
        self.lock()
            .calls
            .values()
            .map(|c| (c.call_id.clone(), c.sec.generation()))
            .collect()
    }

    /// The security status of every ng call.
    pub fn statuses(&self) -> Vec<crate::policy::CallSecurity> {
        self.lock().calls.values().map(|c| c.security()).collect()
    }

    /// Media sections relayed and legs, for metrics.
    pub fn leg_counters(&self) -> Vec<Arc<crate::dataplane::LegCounters>> {
        self.lock()
            .calls
            .values()
            .flat_map(|c| c.stream_reports())
            .filter(|r| r.relayed)
            .flat_map(|r| r.legs.map(|l| l.counters))
            .collect()
    }

    /// Handles one request (`cookie SP bencode`); returns the reply, or
    /// `None` when there is nothing to answer (no cookie).
    pub fn handle(&self, s: &Shared, msg: &[u8]) -> Option<Vec<u8>> {
        let sp = msg.iter().take(257).position(|&b| b == b' ');
        let Some(sp) = sp.filter(|&n| n > 0) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let cookie = &msg[..sp];
        if cookie.iter().any(|b| b.is_ascii_control()) {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let body = &msg[sp + 1..];
        let frame = |v: Value| {
            let mut out = Vec::with_capacity(cookie.len() + 64);
            out.extend_from_slice(cookie);
            out.push(b' ');
            out.extend_from_slice(&ben::encode(&v));
            out
        };
        let error = |reason: String| {
            let mut d = Dict::new();
            d.str("result", "error").str("error-reason", reason);
            d.into_value()
        };
        if msg.len() > self.max_request {
            self.counters.refused_size.fetch_add(1, Ordering::Relaxed);
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return Some(frame(error(format!(
                "request of {} bytes is larger than the {} allowed",
                msg.len(),
                self.max_request
            ))));
        }
        let now = now_ms();
        let mut inner = self.lock();
        if let Some(r) = inner.cache.get(cookie, now) {
            self.counters.cached.fetch_add(1, Ordering::Relaxed);
            return Some(r.clone());
        }
        let reply = match ben::decode(body, &self.limits) {
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                error(format!("Could not decode the request: {e}"))
            }
            Ok(v) => match parse_request(&v) {
                Err(e) => error(e.0),
                Ok(req) => {
                    let ci = COMMANDS
                        .iter()
                        .position(|c| *c == req.command)
                        .unwrap_or(COMMANDS.len() - 1);
                    self.counters.commands[ci].fetch_add(1, Ordering::Relaxed);
                    let mut warnings = req.warnings.clone();
                    match self.run(s, &mut inner, req, &mut warnings) {
                        Ok(mut d) => {
                            if !warnings.is_empty() {
                                d.str("warning", warnings.join("; "));
                            }
                            d.into_value()
                        }
                        Err(e) => error(e.0),
                    }
                }
            },
        };
        if reply.get("result").and_then(Value::as_str) == Some("error") {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        let out = frame(reply);
        let ttl = s.config.ng.cookie_cache_secs;
        if ttl > 0 {
            inner
                .cache
                .put(cookie, out.clone(), now + ttl.saturating_mul(1000));
        }
        Some(out)
    }

    fn run(
        &self,
        s: &Shared,
        inner: &mut Inner,
        req: Request,
        warnings: &mut Vec<String>,
    ) -> Result<Dict, NgError> {
        let mut reply = Dict::new();
        match req.command.as_str() {
            "ping" => {
                reply.str("result", "pong");
            }
            "offer" => {
                let call_id = need(&req.call_id, "call-id")?.to_string();
                check_call_id(&call_id)?;
                let from_tag = need(&req.from_tag, "from-tag")?.to_string();
                let sdp = need(&req.sdp, "SDP body")?;
                let new = !inner.calls.contains_key(&call_id);
                if new {
                    let admitted = s
                        .registry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .admit_external();
                    match admitted {
                        Ok(()) => {}
                        Err(AdmitError::Limit(n)) => {
                            s.totals.refused_limit.fetch_add(1, Ordering::Relaxed);
                            let reason = format!("Parallel session limit reached ({n} calls)");
                            if req.supports_load_limit {
                                reply
                                    .str("result", "load limit")
                                    .str("error-reason", reason);
                                return Ok(reply);
                            }
                            return Err(NgError::new(reason));
                        }
                        Err(AdmitError::Exists) => return Err(NgError::new("call exists")),
                    }
                    let generation = s.security.policy().generation();
                    inner
                        .calls
                        .insert(call_id.clone(), NgCall::new(&call_id, generation));
                }
                let call = inner
                    .calls
                    .get_mut(&call_id)
                    .ok_or_else(|| NgError::new("internal: call vanished"))?;
                call.delete_at_ms = None;
                if let Some(b) = &req.via_branch {
                    if !call.branches.contains(b) {
                        call.branches.push(b.clone());
                    }
                }
                match call.offer(s, &from_tag, sdp, &req.media, warnings) {
                    Ok(out) => {
                        if new {
                            s.totals.created.fetch_add(1, Ordering::Relaxed);
                            self.counters.calls_created.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(call_id = %call_id, "ng call created");
                        }
                        reply.str("result", "ok").str("sdp", out);
                    }
                    Err(e) => {
                        if e.0.starts_with(super::ng_call::POLICY_REFUSED) {
                            tracing::warn!(call_id = %call_id, reason = %e.0, "ng offer refused");
                        }
                        if new {
                            if e.0.starts_with("Ran out of ports") {
                                s.totals.refused_ports.fetch_add(1, Ordering::Relaxed);
                            } else if e.0.starts_with(super::ng_call::POLICY_REFUSED) {
                                s.totals.refused_policy.fetch_add(1, Ordering::Relaxed);
                            } else {
                                s.totals.refused_invalid.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(c) = inner.calls.remove(&call_id) {
                                c.teardown(s, None);
                            }
                        }
                        return Err(e);
                    }
                }
            }
            "answer" => {
                let call_id = need(&req.call_id, "call-id")?;
                need(&req.from_tag, "from-tag")?;
                let sdp = need(&req.sdp, "SDP body")?;
                let call = inner
                    .calls
                    .get_mut(call_id)
                    .ok_or_else(|| NgError::new("Unknown call-id"))?;
                if let Some(b) = &req.via_branch {
                    if !call.branches.contains(b) {
                        call.branches.push(b.clone());
                    }
                }
                let out = call
                    .answer(s, req.to_tag.as_deref(), sdp, &req.media, warnings)
                    .inspect_err(|e| {
                        if e.0.starts_with(super::ng_call::POLICY_REFUSED) {
                            s.totals.refused_policy.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(call_id = %call_id, reason = %e.0, "ng answer refused");
                        }
                    })?;
                reply.str("result", "ok").str("sdp", out);
            }
            "delete" => {
                let call_id = need(&req.call_id, "call-id")?;
                let found = inner.calls.get(call_id).is_some_and(|c| {
                    let tag_ok = |t: &Option<String>| t.as_deref().is_none_or(|t| c.has_tag(t));
                    req.all
                        || (tag_ok(&req.from_tag)
                            && tag_ok(&req.to_tag)
                            && req.via_branch.as_deref().is_none_or(|b| {
                                req.from_tag.is_some()
                                    || c.tags[1].is_none()
                                    || c.branches.iter().any(|x| x == b)
                            }))
                });
                if !found {
                    let m = "Call-ID not found or tags didn't match";
                    if req.fatal {
                        return Err(NgError::new(m));
                    }
                    warnings.push(m.into());
                    reply.str("result", "ok");
                    return Ok(reply);
                }
                let delay = req.delete_delay.unwrap_or(s.config.ng.delete_delay_secs);
                reply.str("result", "ok");
                if delay == 0 {
                    if let Some(c) = inner.calls.remove(call_id) {
                        call_report(&c, &mut reply);
                        c.teardown(s, Some(EndReason::Deleted));
                    }
                } else if let Some(c) = inner.calls.get_mut(call_id) {
                    c.delete_at_ms = Some(now_ms() + delay.saturating_mul(1000));
                    call_report(c, &mut reply);
                }
            }
            "query" => {
                let call_id = need(&req.call_id, "call-id")?;
                let c = inner
                    .calls
                    .get(call_id)
                    .ok_or_else(|| NgError::new("Unknown call-id"))?;
                reply.str("result", "ok");
                call_report(c, &mut reply);
            }
            "list" => {
                let limit = req.limit.unwrap_or(32) as usize;
                let mut ids: Vec<(&u64, &String)> = inner
                    .calls
                    .values()
                    .map(|c| (&c.created_ms, &c.call_id))
                    .collect();
                ids.sort();
                reply.str("result", "ok").set(
                    "calls",
                    ben::string_list(ids.into_iter().take(limit).map(|(_, id)| id.clone())),
                );
            }
            "statistics" => {
                let own = inner.calls.len() as u64;
                let http = s.registry.lock().map(|r| r.len()).unwrap_or(0) as u64;
                let t = &s.totals;
                let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
                let mut cur = Dict::new();
                let (packets, bytes, errors) =
                    self.rates.lock().map(|r| r.per_sec).unwrap_or_default();
                cur.int("sessionsown", own)
                    .int("sessionsforeign", 0)
                    .int("sessionstotal", own + http)
                    .int("transcodedmedia", 0)
                    .int("packetrate", packets)
                    .int("byterate", bytes)
                    .int("errorrate", errors);
                let mut tot = Dict::new();
                tot.int("uptime", now_ms().saturating_sub(s.started_ms) / 1000)
                    .int("managedsessions", g(&t.created))
                    .int(
                        "rejectedsessions",
                        g(&t.refused_limit) + g(&t.refused_ports) + g(&t.refused_invalid),
                    )
                    .int(
                        "timeoutsessions",
                        g(&t.timed_out_no_media) + g(&t.timed_out_max_duration),
                    )
                    .int("finalsessions", g(&t.deleted));
                let mut ctl = Dict::new();
                for (i, c) in COMMANDS.iter().enumerate() {
                    ctl.int(c, g(&self.counters.commands[i]));
                }
                ctl.int("errors", g(&self.counters.errors))
                    .int("cached", g(&self.counters.cached));
                let mut st = Dict::new();
                st.set("currentstatistics", cur.into_value())
                    .set("totalstatistics", tot.into_value())
                    .set("controlstatistics", ctl.into_value());
                reply.str("result", "ok").set("statistics", st.into_value());
            }
            other => return Err(NgError::new(format!("Unrecognized command {other:?}"))),
        }
        Ok(reply)
    }

    /// Housekeeping: expires cached replies, ends calls whose delete delay
    /// ran out, and calls with no media or past the maximum duration
    /// (`[timeouts]`). Returns how many calls it ended.
    pub fn tick(&self, s: &Shared) -> usize {
        let now = now_ms();
        // Media rates (before taking the calls' lock: the totals take it).
        let due = self
            .rates
            .lock()
            .map(|r| r.last.is_none_or(|l| now.saturating_sub(l.0) >= 1000))
            .unwrap_or(false);
        if due {
            let totals = super::metrics::LegTotals::now(s);
            if let Ok(mut r) = self.rates.lock() {
                r.sample(now, &totals);
            }
        }
        let no_media_ms = s.config.timeouts.no_media_secs.saturating_mul(1000);
        let max_ms = s.config.timeouts.max_call_secs.saturating_mul(1000);
        let mut inner = self.lock();
        inner.cache.expire(now);
        let victims: Vec<(String, EndReason)> = inner
            .calls
            .values_mut()
            .filter_map(|c| {
                if c.delete_at_ms.is_some_and(|t| t <= now) {
                    Some((c.call_id.clone(), EndReason::Deleted))
                } else if c.offer_timed_out(s, now) {
                    Some((c.call_id.clone(), EndReason::NoMedia))
                } else if max_ms > 0 && now.saturating_sub(c.created_ms) >= max_ms {
                    Some((c.call_id.clone(), EndReason::MaxDuration))
                } else if no_media_ms > 0 && now.saturating_sub(c.last_activity_ms()) >= no_media_ms
                {
                    Some((c.call_id.clone(), EndReason::NoMedia))
                } else {
                    None
                }
            })
            .collect();
        let n = victims.len();
        for (id, why) in victims {
            if let Some(c) = inner.calls.remove(&id) {
                c.teardown(s, Some(why));
            }
        }
        n
    }
}

/// The running ng listeners.
pub struct NgServers {
    /// Where they listen.
    pub addrs: NgAddrs,
    threads: Vec<JoinHandle<()>>,
}

impl NgServers {
    /// Waits for the listener threads, which stop once the node's
    /// `shutting_down` is set.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

const POLL: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(250);
const MAX_TCP_CONNECTIONS: usize = 64;

/// Binds the configured ng listeners and starts their threads.
pub fn start(shared: &Arc<Shared>) -> std::io::Result<NgServers> {
    let cfg = &shared.config.ng;
    let mut threads = Vec::new();
    let mut addrs = NgAddrs::default();
    let udp = UdpSocket::bind(cfg.listen)?;
    udp.set_read_timeout(Some(POLL))?;
    addrs.udp = Some(udp.local_addr()?);
    let tcp = match cfg.tcp_listen {
        Some(a) => {
            let l = TcpListener::bind(a)?;
            l.set_nonblocking(true)?;
            addrs.tcp = Some(l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let s = shared.clone();
    threads.push(
        std::thread::Builder::new()
            .name("rampart-ng-udp".into())
            .spawn(move || udp_loop(s, udp))?,
    );
    if let Some(l) = tcp {
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("rampart-ng-tcp".into())
                .spawn(move || tcp_loop(s, l))?,
        );
    }
    if !addrs.udp.is_some_and(|a| a.ip().is_loopback()) {
        tracing::warn!(
            listen = ?addrs.udp,
            "ng listens beyond loopback: ng has no authentication; only [ng] allow protects it"
        );
    }
    tracing::info!(udp = ?addrs.udp, tcp = ?addrs.tcp, "ng protocol listening");
    Ok(NgServers { addrs, threads })
}

fn udp_loop(s: Arc<Shared>, sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    let mut last_tick = Instant::now();
    while !s.shutting_down.load(Ordering::SeqCst) {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%src, "ng request from a source not in [ng] allow dropped");
                } else if let Some(reply) = s.ng.handle(&s, &buf[..n]) {
                    if let Err(e) = sock.send_to(&reply, src) {
                        tracing::warn!(%src, error = %e, "cannot send an ng reply");
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "ng UDP receive failed");
                std::thread::sleep(POLL);
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            s.ng.tick(&s);
        }
    }
}

fn tcp_loop(s: Arc<Shared>, l: TcpListener) {
    let active = Arc::new(AtomicUsize::new(0));
    while !s.shutting_down.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((stream, src)) => {
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if active.load(Ordering::SeqCst) >= MAX_TCP_CONNECTIONS {
                    tracing::warn!(%src, "too many ng TCP connections; refused");
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let s2 = s.clone();
                let a2 = active.clone();
                let r = std::thread::Builder::new()
                    .name("rampart-ng-tcp-conn".into())
                    .spawn(move || {
                        tcp_conn(&s2, stream);
                        a2.fetch_sub(1, Ordering::SeqCst);
                    });
                if r.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL / 2),
            Err(e) => {
                tracing::warn!(error = %e, "ng TCP accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Reads `cookie SP bencode` messages from a TCP stream (no length
/// prefix: each ends where its bencoded dictionary ends) and answers each.
fn tcp_conn(s: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL * 2));
    let max = s.config.ng.max_request_bytes;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16384];
    while !s.shutting_down.load(Ordering::SeqCst) {
        // Answer every whole message in the buffer.
        loop {
            let Some(sp) = buf.iter().take(257).position(|&b| b == b' ') else {
                if buf.len() > 256 {
                    return; // no cookie: not ng
                }
                break;
            };
            match ben::scan(&buf[sp + 1..], &s.ng.limits) {
                Ok(Scan::Complete(end)) => {
                    let total = sp + 1 + end;
                    let msg: Vec<u8> = buf.drain(..total).collect();
                    if let Some(r) = s.ng.handle(s, &msg) {
                        if stream.write_all(&r).is_err() {
                            return;
                        }
                    }
                }
                Ok(Scan::Incomplete) if buf.len() <= max => break,
                _ => {
                    // Too large or not bencode: answer once through the
                    // normal path (which reports why), then close.
                    let mut msg = buf.clone();
                    msg.truncate(max + 1);
                    if let Some(r) = s.ng.handle(s, &msg) {
                        let _ = stream.write_all(&r);
                    }
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let c = Cidr::parse("::1").unwrap();
        assert!(c.contains("::1".parse().unwrap()));
        assert!(!c.contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("192.0.2.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    #[test]
    fn request_options() {
        fn bs(out: &mut Vec<u8>, x: &str) {
            out.extend_from_slice(format!("{}:{x}", x.len()).as_bytes());
        }
        let mut b = b"d".to_vec();
        for (k, v) in [
            ("command", &["offer"][..]),
            ("flags", &["trust-address", "SDES-off"][..]),
            ("replace", &["origin"][..]),
            ("SDES", &["no-AEAD_AES_128_GCM", "nonew"][..]),
            ("rtcp-mux", &["demux"][..]),
            ("address family", &["IP6"][..]),
            ("transport-protocol", &["RTP/SAVP"][..]),
            ("record", &["call"][..]),
        ] {
            bs(&mut b, k);
            if matches!(k, "flags" | "replace" | "SDES" | "rtcp-mux") {
                b.push(b'l');
                for x in v {
                    bs(&mut b, x);
                }
                b.push(b'e');
            } else {
                bs(&mut b, v[0]);
            }
        }
        b.extend_from_slice(b"12:delete-delayi5ee");
        let v = ben::decode(&b, &Limits::default()).unwrap();
        let r = parse_request(&v).unwrap();
        assert_eq!(r.command, "offer");
        assert!(r.media.sdes_off && r.media.sdes_nonew && r.media.mux_demux);
        assert!(r.media.replace_origin);
        assert_eq!(r.media.sdes_no, vec![Suite::AeadAes128Gcm]);
        assert_eq!(r.media.family_v6, Some(true));
        assert_eq!(r.delete_delay, Some(5));
        assert_eq!(r.media.transport_protocol.as_deref(), Some("RTP/SAVP"));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("record"));
    }
}
