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
//! Replies are cached by (source address, cookie, body hash) for
//! `cookie_cache_secs`, within `reply_cache_bytes`, so a retransmitted offer
//! is answered again rather than executed twice, and nobody else's request
//! with the same cookie gets that reply (it carries keys). Commands run one
//! at a time under one lock, which also makes a retransmission that arrives
//! while its original is running wait for, and get, the original's reply.
//!
//! Hostile input: request data is never recursed on (a `flags` entry
//! `flags=...` is an error), flags and list entries are counted and bounded
//! ([`MAX_LIST_ITEMS`], [`MAX_FLAG_BYTES`]), request text echoed in warnings
//! and errors is cut short, every number from a request is used with
//! saturating arithmetic, a reply too large to send is not sent, not cached,
//! and the offer that made it is rolled back. A panic while handling one
//! request becomes an error reply (counted in `panics`); housekeeping runs on
//! its own thread. ng TCP closes idle connections and caps connections per
//! source.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::calls::{
    now_ms, AdmitError, CallRecord, CallStore, EndReason, Origin, Shared, Slot, LEG_COUNTERS,
};
use super::ng_bencode::{self as ben, Dict, Limits, Scan, Scanner, Value};
use super::ng_call::{MediaOpts, NgCall, NgError};
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
    /// Requests whose handling panicked (answered with an error; the node
    /// and the ng listener go on).
    pub panics: AtomicU64,
    /// Replies too large to send (answered with a short error instead; an
    /// offer that created a call is rolled back).
    pub replies_too_large: AtomicU64,
    /// ng TCP connections refused: the total or the per-source cap was
    /// reached.
    pub tcp_refused: AtomicU64,
    /// ng TCP connections closed after `tcp_idle_secs` without a request.
    pub tcp_idle_closed: AtomicU64,
    /// Bytes the ng TCP framing examined (a measure of its work: about the
    /// bytes received, however they were split into reads).
    pub tcp_scan_work: AtomicU64,
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

/// What a cached reply is filed under: who asked, with which cookie, and a
/// keyed hash of the request body. A request reusing another client's
/// cookie (or the same client's cookie with another body) is not answered
/// from the cache.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    src: SocketAddr,
    cookie: Vec<u8>,
    body: u64,
}

impl CacheKey {
    /// Bytes an entry holds besides its reply: the key twice (map and
    /// expiry queue) and the bookkeeping around them.
    fn cost(&self, reply_len: usize) -> usize {
        reply_len
            .saturating_add(self.cookie.len().saturating_mul(2))
            .saturating_add(CACHE_ENTRY_OVERHEAD)
    }
}

struct Cache {
    replies: HashMap<CacheKey, (u64, Vec<u8>)>,
    /// Requests being handled: a retransmission of one waits for its reply.
    in_flight: HashSet<CacheKey>,
    order: VecDeque<(u64, CacheKey)>,
    /// Bytes held (see [`CacheKey::cost`]), at most `budget`.
    bytes: usize,
    budget: usize,
}

/// Entries at most, whatever their size.
const CACHE_MAX: usize = 200_000;
/// Bytes counted per cache entry beyond its reply and cookie.
const CACHE_ENTRY_OVERHEAD: usize = 128;

impl Cache {
    fn get(&self, key: &CacheKey, now: u64) -> Option<&Vec<u8>> {
        self.replies
            .get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r)
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some((_, r)) = self.replies.remove(key) {
            self.bytes = self.bytes.saturating_sub(key.cost(r.len()));
        }
    }

    fn put(&mut self, key: CacheKey, reply: Vec<u8>, expires: u64) {
        let cost = key.cost(reply.len());
        if cost > self.budget {
            return;
        }
        self.remove(&key);
        while self.order.len() >= CACHE_MAX || self.bytes.saturating_add(cost) > self.budget {
            let Some((_, k)) = self.order.pop_front() else {
                break;
            };
            self.remove(&k);
        }
        self.bytes = self.bytes.saturating_add(cost);
        self.order.push_back((expires, key.clone()));
        self.replies.insert(key, (expires, reply));
    }

    fn expire(&mut self, now: u64) {
        while let Some((exp, _)) = self.order.front() {
            if *exp > now {
                break;
            }
            if let Some((_, k)) = self.order.pop_front() {
                if self.replies.get(&k).is_some_and(|(e, _)| *e <= now) {
                    self.remove(&k);
                }
            }
        }
    }
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
    cache: Mutex<Cache>,
    /// Signalled when a request leaves `in_flight`.
    cache_done: Condvar,
    calls: Arc<CallStore>,
    rates: Mutex<Rates>,
    allow: Vec<Cidr>,
    limits: Limits,
    max_request: usize,
    /// Keys the body hash of the reply cache.
    hasher: RandomState,
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
    /// Entries of list-valued options (`flags`, `replace`, `SDES`, ...)
    /// seen so far, against [`MAX_LIST_ITEMS`].
    list_items: usize,
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

/// Entries of list-valued options (`flags`, `replace`, `SDES`, `rtcp-mux`,
/// `supports`) a request may carry, all options together.
pub const MAX_LIST_ITEMS: usize = 256;
/// Bytes one entry of a list-valued option (one flag) may have.
pub const MAX_FLAG_BYTES: usize = 512;
/// Characters of request text echoed in a warning or an error.
const ECHO_CHARS: usize = 64;
/// Warnings a reply names (the rest are counted).
const MAX_WARNINGS: usize = 16;
/// Bytes of `warning` and `error-reason` at most.
const MAX_REASON_BYTES: usize = 2048;
/// Via branches a call keeps (the oldest are forgotten).
pub const MAX_VIA_BRANCHES: usize = 32;
/// Bytes of a via branch at most.
const MAX_BRANCH_BYTES: usize = 256;

/// Request text as echoed in a warning or an error: quoted, escaped, and
/// cut after [`ECHO_CHARS`] characters (a key of 60 KB of control bytes
/// must not become a 300 KB reply).
fn shown(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == ECHO_CHARS {
            out.push_str(&format!("...\" ({} bytes)", s.len()));
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut n = max;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s.push_str("...");
    }
    s
}

/// The entries of a list-valued option (a list, or one whitespace-separated
/// string), counted against [`MAX_LIST_ITEMS`] for the whole request and
/// each at most [`MAX_FLAG_BYTES`].
fn texts(req: &mut Request, key: &str, v: &Value) -> Result<Vec<String>, NgError> {
    let mut out = Vec::new();
    let mut add = |req: &mut Request, t: &str| {
        req.list_items = req.list_items.saturating_add(1);
        if req.list_items > MAX_LIST_ITEMS {
            return Err(NgError::new(format!(
                "more than {MAX_LIST_ITEMS} flags and list entries in one request"
            )));
        }
        if t.len() > MAX_FLAG_BYTES {
            return Err(NgError::new(format!(
                "{key} entry of {} bytes is longer than the {MAX_FLAG_BYTES} allowed",
                t.len()
            )));
        }
        out.push(t.to_string());
        Ok(())
    };
    match v {
        Value::List(items) => {
            for t in items.iter().filter_map(text) {
                add(req, &t)?;
            }
        }
        other => {
            if let Some(t) = text(other) {
                for w in t.split_whitespace() {
                    add(req, w)?;
                }
            }
        }
    }
    Ok(out)
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
            req.warnings.push(format!(
                "SDES suite {} is not supported; ignored",
                shown(name)
            ));
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
                req.warnings.push(format!(
                    "SDES option {} is not supported; ignored",
                    shown(v)
                ));
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
        _ => req.warnings.push(format!(
            "rtcp-mux option {} is not supported; ignored",
            shown(v)
        )),
    }
}

fn replace(req: &mut Request, v: &str) {
    match norm(v).as_str() {
        "origin" => req.media.replace_origin = true,
        // Rampart always rewrites the session-level c= line.
        "session connection" => {}
        _ => req.warnings.push(format!(
            "replace option {} is not supported; ignored",
            shown(v)
        )),
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
        _ => Err(NgError::new(format!(
            "unknown transport-protocol {}",
            shown(v)
        ))),
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
        // `key=value` sets an option, but never `flags` again: request data
        // is not recursed on (`flags=flags=...` nested thousands of times
        // overflowed the thread's stack).
        if norm(k) == "flags" {
            return Err(NgError::new("a flag may not set flags (flags=...)"));
        }
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
                    .push(format!("flag {} is not supported; ignored", shown(f)));
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
        "via branch" => {
            let b = text(v).unwrap_or_default();
            if b.len() > MAX_BRANCH_BYTES || b.chars().any(char::is_control) {
                return Err(NgError::new(format!(
                    "via-branch must be at most {MAX_BRANCH_BYTES} printable characters"
                )));
            }
            req.via_branch = Some(b);
        }
        "sdp" => {
            req.sdp = Some(text(v).ok_or_else(|| NgError::new("the sdp value is not UTF-8 text"))?)
        }
        "flags" => {
            for f in texts(req, "flags", v)? {
                flag(req, &f)?;
            }
        }
        "replace" => {
            for r in texts(req, "replace", v)? {
                replace(req, &r);
            }
        }
        "transport protocol" => transport(req, &one())?,
        "ice" => {
            let val = one().to_ascii_lowercase();
            if val != "remove" {
                req.warnings.push(format!(
                    "ICE={} is not supported: ICE attributes are removed",
                    shown(&val)
                ));
            }
        }
        "dtls" => {
            let val = one().to_ascii_lowercase();
            if !matches!(val.as_str(), "off" | "no" | "disable") {
                req.warnings.push(format!(
                    "DTLS={} is not supported: DTLS-SRTP is not offered",
                    shown(&val)
                ));
            }
        }
        "sdes" => {
            for s in texts(req, "SDES", v)? {
                sdes(req, &s);
            }
        }
        "rtcp mux" => {
            for s in texts(req, "rtcp-mux", v)? {
                rtcp_mux(req, &s);
            }
        }
        // One media interface per address family: nothing to choose.
        "direction" | "received from" | "media address" => {}
        "address family" => {
            req.media.family_v6 = match one().to_ascii_uppercase().as_str() {
                "IP4" => Some(false),
                "IP6" => Some(true),
                other => {
                    return Err(NgError::new(format!(
                        "unknown address family {}",
                        shown(other)
                    )))
                }
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
            for s in texts(req, "supports", v)? {
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
            .push(format!("option {} is not supported; ignored", shown(key))),
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
                "unknown rampart-kind {}; known: {}",
                shown(v),
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
                "unknown rampart-security {}; use nonsecure, authenticated or encrypted",
                shown(v)
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

/// What one leg received, split as rtpengine reports it: RTP and RTCP.
struct LegIn {
    rtp: [u64; 3],
    rtcp: [u64; 3],
    all: Value,
}

/// `[packets, bytes, errors]` as an ng `stats` dictionary.
fn stats_dict(v: [u64; 3]) -> Value {
    let mut st = Dict::new();
    st.int("packets", v[0])
        .int("bytes", v[1])
        .int("errors", v[2]);
    st.into_value()
}

fn leg_stats(c: &crate::dataplane::LegCounters) -> LegIn {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let errors = g(&c.auth_failures) + g(&c.replays) + g(&c.malformed) + g(&c.unknown_ssrc);
    let rtcp = [g(&c.rtcp_in), g(&c.rtcp_bytes_in), g(&c.rtcp_errors)];
    let rtp = [
        g(&c.packets_in).saturating_sub(rtcp[0]),
        g(&c.bytes_in).saturating_sub(rtcp[1]),
        errors.saturating_sub(rtcp[2]),
    ];
    let mut all = Dict::new();
    for (name, get) in LEG_COUNTERS.iter() {
        all.int(name, g(get(c)));
    }
    all.int("last_packet_ms", g(&c.last_packet_ms));
    LegIn {
        rtp,
        rtcp,
        all: all.into_value(),
    }
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
    let (mut rtp_t, mut rtcp_t) = ([0u64; 3], [0u64; 3]);
    for side in 0..2 {
        let tag = call.tags[side].clone().unwrap_or_default();
        let other = call.tags[1 - side].clone().unwrap_or_default();
        let mut medias = Vec::new();
        for r in &reports {
            let l = &r.legs[side];
            let li = leg_stats(&l.counters);
            for k in 0..3 {
                rtp_t[k] += li.rtp[k];
                rtcp_t[k] += li.rtcp[k];
            }
            // Two streams per media, as rtpengine lists them: RTP, then
            // RTCP (on the RTP port when muxed, else the next one).
            let mut s = Dict::new();
            s.int("local port", u64::from(l.local.port()))
                .set("local endpoint", endpoint(l.local))
                .set("stats", stats_dict(li.rtp))
                .set("flags", ben::string_list(vec!["RTP"]))
                .set("rampart stats", li.all);
            if let Some(a) = l.remote {
                s.set("advertised endpoint", endpoint(a));
            }
            if let Some(a) = l.latched.or(l.remote) {
                s.set("endpoint", endpoint(a));
            }
            let rtcp_local = if l.rtcp_mux {
                l.local
            } else {
                SocketAddr::new(l.local.ip(), l.local.port().wrapping_add(1))
            };
            let rtcp_peer = |a: SocketAddr| {
                if l.rtcp_mux {
                    a
                } else {
                    SocketAddr::new(a.ip(), a.port().wrapping_add(1))
                }
            };
            let mut sc = Dict::new();
            sc.int("local port", u64::from(rtcp_local.port()))
                .set("local endpoint", endpoint(rtcp_local))
                .set("stats", stats_dict(li.rtcp))
                .set("flags", ben::string_list(vec!["RTCP"]));
            if let Some(a) = l.remote {
                sc.set("advertised endpoint", endpoint(rtcp_peer(a)));
            }
            if let Some(a) = l.latched_rtcp.or(l.remote.map(rtcp_peer)) {
                sc.set("endpoint", endpoint(a));
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
                .set(
                    "streams",
                    Value::List(vec![s.into_value(), sc.into_value()]),
                )
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
    let mut totals = Dict::new();
    totals
        .set("RTP", stats_dict(rtp_t))
        .set("RTCP", stats_dict(rtcp_t));
    reply
        .set("tags", tags.into_value())
        .set("totals", totals.into_value());
}

/// Remembers a via branch of the call, keeping the newest
/// [`MAX_VIA_BRANCHES`].
fn add_branch(call: &mut NgCall, b: &Option<String>) {
    let Some(b) = b.as_ref().filter(|b| !b.is_empty()) else {
        return;
    };
    if call.branches.contains(b) {
        return;
    }
    if call.branches.len() >= MAX_VIA_BRANCHES {
        let excess = call.branches.len() + 1 - MAX_VIA_BRANCHES;
        call.branches.drain(..excess);
    }
    call.branches.push(b.clone());
}

/// `cookie SP body`: the cookie (1 to 256 bytes, no control characters) and
/// the body, or `None` when `msg` has no acceptable cookie.
fn split_cookie(msg: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = msg
        .iter()
        .take(257)
        .position(|&b| b == b' ')
        .filter(|&n| n > 0)?;
    let cookie = &msg[..sp];
    if cookie.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some((cookie, &msg[sp + 1..]))
}

/// `cookie SP bencode(v)`.
fn frame(cookie: &[u8], v: Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    out.extend_from_slice(&ben::encode(&v));
    out
}

/// An error reply, its reason cut to [`MAX_REASON_BYTES`].
fn error(reason: String) -> Value {
    let mut d = Dict::new();
    d.str("result", "error")
        .str("error-reason", cut(reason, MAX_REASON_BYTES));
    d.into_value()
}

/// The `warning` of a reply: the first [`MAX_WARNINGS`] warnings (the rest
/// counted), at most [`MAX_REASON_BYTES`].
fn warning_text(warnings: &[String]) -> String {
    let mut w = warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if warnings.len() > MAX_WARNINGS {
        w.push_str(&format!("; and {} more", warnings.len() - MAX_WARNINGS));
    }
    cut(w, MAX_REASON_BYTES)
}

/// Runs `f` (the handling of `msg`); a panic in it is caught, counted and
/// answered as an error with `msg`'s cookie.
fn guarded(
    counters: &NgCounters,
    msg: &[u8],
    f: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            counters.panics.fetch_add(1, Ordering::Relaxed);
            counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("an ng request panicked; answered with an error");
            let (cookie, _) = split_cookie(msg)?;
            Some(frame(
                cookie,
                error("internal error while handling the request".into()),
            ))
        }
    }
}

impl NgState {
    /// State for a node with this configuration.
    pub fn new(cfg: &crate::config::NgConfig, calls: Arc<CallStore>) -> NgState {
        NgState {
            cache: Mutex::new(Cache {
                replies: HashMap::new(),
                in_flight: HashSet::new(),
                order: VecDeque::new(),
                bytes: 0,
                budget: cfg.reply_cache_bytes,
            }),
            cache_done: Condvar::new(),
            calls,
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
            hasher: RandomState::new(),
            counters: NgCounters::default(),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether requests from `ip` are answered.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(ip))
    }

    /// ng calls running.
    pub fn call_count(&self) -> usize {
        self.calls.len(Some(Origin::Ng))
    }

    /// The cached reply to `key`, waiting (bounded) while the same request
    /// is being handled; or `None` after registering `key` as in flight
    /// (the caller then handles it and must call [`NgState::done`]).
    fn cached_or_claim(&self, key: &CacheKey, now: u64) -> Option<Vec<u8>> {
        let deadline = Instant::now() + RETRANSMIT_WAIT;
        let mut c = self.cache();
        loop {
            if let Some(r) = c.get(key, now) {
                return Some(r.clone());
            }
            if c.in_flight.insert(key.clone()) {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The original is stuck: answer the retransmission by
                // handling it too (the command is idempotent per call).
                return None;
            }
            c = self
                .cache_done
                .wait_timeout(c, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Ends the in-flight mark of `key`, caching `reply` if given.
    fn done(&self, key: &CacheKey, reply: Option<(Vec<u8>, u64)>) {
        let mut c = self.cache();
        c.in_flight.remove(key);
        if let Some((out, expires)) = reply {
            c.put(key.clone(), out, expires);
        }
        drop(c);
        self.cache_done.notify_all();
    }

    /// Handles one request (`cookie SP bencode`) from `src`; returns the
    /// reply, or `None` when there is nothing to answer (no cookie). A reply
    /// longer than `max_reply` bytes (one UDP datagram) is replaced by a
    /// short error, not cached, and an offer that created a call for it is
    /// rolled back (the call and its ports freed).
    pub fn handle(
        &self,
        s: &Shared,
        src: SocketAddr,
        msg: &[u8],
        max_reply: usize,
    ) -> Option<Vec<u8>> {
        let (cookie, body) = split_cookie(msg).or_else(|| {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            None
        })?;
        if msg.len() > self.max_request {
            self.counters.refused_size.fetch_add(1, Ordering::Relaxed);
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return Some(frame(
                cookie,
                error(format!(
                    "request of {} bytes is larger than the {} allowed",
                    msg.len(),
                    self.max_request
                )),
            ));
        }
        let now = now_ms();
        let key = self.cache_key(src, cookie, body);
        if let Some(r) = self.cached_or_claim(&key, now) {
            self.counters.cached.fetch_add(1, Ordering::Relaxed);
            return Some(r);
        }
        // Unmarks the request also if handling it panics.
        struct InFlight<'a> {
            ng: &'a NgState,
            key: &'a CacheKey,
            reply: Option<(Vec<u8>, u64)>,
        }
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.ng.done(self.key, self.reply.take());
            }
        }
        let mut mark = InFlight {
            ng: self,
            key: &key,
            reply: None,
        };
        let out = self.answer_request(s, cookie, body, max_reply);
        let ttl = s.config.ng.cookie_cache_secs;
        if ttl > 0 && out.len() <= max_reply {
            mark.reply = Some((out.clone(), now.saturating_add(ttl.saturating_mul(1000))));
        }
        drop(mark);
        Some(out)
    }

    /// The framed reply to one request body.
    fn answer_request(&self, s: &Shared, cookie: &[u8], body: &[u8], max_reply: usize) -> Vec<u8> {
        let mut created = None;
        let reply = match ben::decode(body, &self.limits) {
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                error(format!("Could not decode the request: {e}"))
            }
            Ok(v) => match parse_request(&v) {
                Err(e) => error(e.to_string()),
                Ok(req) => {
                    let ci = COMMANDS
                        .iter()
                        .position(|c| *c == req.command)
                        .unwrap_or(COMMANDS.len() - 1);
                    self.counters.commands[ci].fetch_add(1, Ordering::Relaxed);
                    let mut warnings = req.warnings.clone();
                    match self.run(s, req, &mut warnings, &mut created) {
                        Ok(mut d) => {
                            if !warnings.is_empty() {
                                d.str("warning", warning_text(&warnings));
                            }
                            d.into_value()
                        }
                        Err(e) => error(e.to_string()),
                    }
                }
            },
        };
        let mut is_error = reply.get("result").and_then(Value::as_str) == Some("error");
        let mut out = frame(cookie, reply);
        if out.len() > max_reply {
            is_error = true;
            self.counters
                .replies_too_large
                .fetch_add(1, Ordering::Relaxed);
            if let Some((id, slot)) = created.take() {
                end_unborn(s, &id, &slot);
                s.totals.refused_invalid.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call_id = %id, bytes = out.len(), "ng offer rolled back: its reply is too large to send");
            }
            out = frame(
                cookie,
                error(format!(
                    "the reply of {} bytes is larger than the {max_reply} that can be sent; nothing was done",
                    out.len()
                )),
            );
        }
        if let Some((id, _)) = created {
            s.totals.created.fetch_add(1, Ordering::Relaxed);
            self.counters.calls_created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(call_id = %id, "ng call created");
        }
        if is_error {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    /// Forgets the cached reply to `msg` from `src` (it could not be sent,
    /// so a retransmission should not be answered from the cache as if it
    /// had been).
    pub fn forget(&self, src: SocketAddr, msg: &[u8]) {
        if let Some((cookie, body)) = split_cookie(msg) {
            let key = self.cache_key(src, cookie, body);
            self.cache().remove(&key);
        }
    }

    /// What the reply to `cookie SP body` from `src` is cached under.
    fn cache_key(&self, src: SocketAddr, cookie: &[u8], body: &[u8]) -> CacheKey {
        CacheKey {
            src,
            cookie: cookie.to_vec(),
            body: self.hasher.hash_one(body),
        }
    }

    /// [`NgState::handle`], with a panic while handling the request caught
    /// and answered as an error (counted in `panics`): one request must
    /// never take the process or the listener down.
    pub fn handle_guarded(
        &self,
        s: &Shared,
        src: SocketAddr,
        msg: &[u8],
        max_reply: usize,
    ) -> Option<Vec<u8>> {
        guarded(&self.counters, msg, || self.handle(s, src, msg, max_reply))
    }

    /// Bytes the reply cache holds (at most `[ng] reply_cache_bytes`).
    pub fn reply_cache_bytes(&self) -> usize {
        self.cache().bytes
    }

    /// Via branches the call `call_id` keeps, if it exists.
    pub fn via_branch_count(&self, call_id: &str) -> Option<usize> {
        let slot = self.calls.get(call_id)?;
        slot.command(|rec| ng_call_of(rec).map(|c| c.branches.len()))
            .flatten()
    }

    fn run(
        &self,
        s: &Shared,
        req: Request,
        warnings: &mut Vec<String>,
        created: &mut Option<(String, Arc<Slot>)>,
    ) -> Result<Dict, NgError> {
        match req.command.as_str() {
            "ping" => {
                let mut reply = Dict::new();
                reply.str("result", "pong");
                Ok(reply)
            }
            "offer" => offer(s, req, warnings, created),
            "answer" => answer(s, req, warnings),
            "delete" => delete(s, req, warnings),
            "query" => query(s, req),
            "list" => Ok(list(s, req)),
            "statistics" => Ok(self.statistics(s)),
            other => Err(NgError::new(format!(
                "Unrecognized command {}",
                shown(other)
            ))),
        }
    }

    /// The `statistics` reply.
    fn statistics(&self, s: &Shared) -> Dict {
        let own = s.calls.len(Some(Origin::Ng)) as u64;
        let all = s.calls.len(None) as u64;
        let t = &s.totals;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut cur = Dict::new();
        let (packets, bytes, errors) = self.rates.lock().map(|r| r.per_sec).unwrap_or_default();
        cur.int("sessionsown", own)
            .int("sessionsforeign", 0)
            .int("sessionstotal", all)
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
                g(&t.timed_out_no_media) + g(&t.timed_out_max_duration) + g(&t.timed_out_offer),
            )
            .int("finalsessions", g(&t.deleted));
        let mut ctl = Dict::new();
        for (i, c) in COMMANDS.iter().enumerate() {
            ctl.int(c, g(&self.counters.commands[i]));
        }
        ctl.int("errors", g(&self.counters.errors))
            .int("cached", g(&self.counters.cached))
            .int("panics", g(&self.counters.panics));
        let mut st = Dict::new();
        st.set("currentstatistics", cur.into_value())
            .set("totalstatistics", tot.into_value())
            .set("controlstatistics", ctl.into_value());
        let mut reply = Dict::new();
        reply.str("result", "ok").set("statistics", st.into_value());
        reply
    }

    /// Housekeeping: samples the media rates and expires cached replies.
    /// (Calls end through the node's reaper, [`Shared::reap`].)
    pub fn tick(&self, s: &Shared) {
        let now = now_ms();
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
        self.cache().expire(now);
    }
}

/// How long a retransmission waits for the original request's reply.
const RETRANSMIT_WAIT: Duration = Duration::from_secs(6);

/// The ng call in a record, `None` for a call made over HTTP.
fn ng_call_of(rec: &mut dyn CallRecord) -> Option<&mut NgCall> {
    rec.as_any_mut().downcast_mut::<NgCall>()
}

/// Runs `f` on the ng call `id` after the commands in flight on it.
fn with_ng_call<R>(
    s: &Shared,
    id: &str,
    f: impl FnOnce(&mut NgCall) -> Result<R, NgError>,
) -> Result<R, NgError> {
    let unknown = || NgError::new("Unknown call-id");
    let slot = s
        .calls
        .get(id)
        .filter(|sl| sl.origin == Origin::Ng)
        .ok_or_else(unknown)?;
    slot.command(|rec| ng_call_of(rec).map(f))
        .flatten()
        .unwrap_or_else(|| Err(unknown()))
}

/// Ends a call whose first offer failed (not counted as an ended call).
fn end_unborn(s: &Shared, id: &str, slot: &Arc<Slot>) {
    if s.calls.remove_slot(id, slot) {
        if let Some(rec) = slot.take() {
            s.release(id, rec.as_ref(), None);
        }
    }
}

/// The call `call_id` for an offer: the running ng call, or a new one
/// admitted under the call limit (`true`).
fn offer_target(
    s: &Shared,
    call_id: &str,
    load_limit: bool,
) -> Result<Result<(Arc<Slot>, bool), Dict>, NgError> {
    if let Some(slot) = s.calls.get(call_id) {
        if slot.origin != Origin::Ng {
            return Err(NgError::new("call exists"));
        }
        return Ok(Ok((slot, false)));
    }
    match s.calls.admit(call_id) {
        Ok(()) => {
            let generation = s.security.policy().generation();
            let offer_timeout_ms = s.config.ng.offer_timeout_secs.saturating_mul(1000);
            let call = NgCall::new(call_id, generation, offer_timeout_ms);
            Ok(Ok((
                s.calls.commit(call_id, Origin::Ng, Box::new(call)),
                true,
            )))
        }
        Err(AdmitError::Limit(n)) => {
            s.totals.refused_limit.fetch_add(1, Ordering::Relaxed);
            let reason = format!("Parallel session limit reached ({n} calls)");
            if load_limit {
                let mut reply = Dict::new();
                reply
                    .str("result", "load limit")
                    .str("error-reason", reason);
                return Ok(Err(reply));
            }
            Err(NgError::new(reason))
        }
        Err(AdmitError::Exists) => Err(NgError::new("call exists")),
    }
}

fn offer(
    s: &Shared,
    req: Request,
    warnings: &mut Vec<String>,
    created: &mut Option<(String, Arc<Slot>)>,
) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?.to_string();
    check_call_id(&call_id)?;
    let from_tag = need(&req.from_tag, "from-tag")?.to_string();
    let sdp = need(&req.sdp, "SDP body")?;
    let (slot, new) = match offer_target(s, &call_id, req.supports_load_limit)? {
        Ok(t) => t,
        Err(load_limit) => return Ok(load_limit),
    };
    let r = slot
        .command(|rec| {
            ng_call_of(rec).map(|call| {
                call.delete_at_ms = None;
                add_branch(call, &req.via_branch);
                call.offer(s, &from_tag, sdp, &req.media, warnings)
            })
        })
        .flatten()
        .unwrap_or_else(|| Err(NgError::new("Unknown call-id")));
    match r {
        Ok(out) => {
            if new {
                // Counted by `answer_request` once the reply fits.
                *created = Some((call_id, slot));
            }
            let mut reply = Dict::new();
            reply.str("result", "ok").str("sdp", out);
            Ok(reply)
        }
        Err(e) => {
            if matches!(e, NgError::PolicyRefused(_)) {
                tracing::warn!(call_id = %call_id, reason = %e, "ng offer refused");
            }
            if new {
                let refused = match e {
                    NgError::PortsExhausted(_) => &s.totals.refused_ports,
                    NgError::PolicyRefused(_) => &s.totals.refused_policy,
                    _ => &s.totals.refused_invalid,
                };
                refused.fetch_add(1, Ordering::Relaxed);
                end_unborn(s, &call_id, &slot);
            }
            Err(e)
        }
    }
}

fn answer(s: &Shared, req: Request, warnings: &mut Vec<String>) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    need(&req.from_tag, "from-tag")?;
    let sdp = need(&req.sdp, "SDP body")?;
    let out = with_ng_call(s, call_id, |call| {
        add_branch(call, &req.via_branch);
        call.answer(s, req.to_tag.as_deref(), sdp, &req.media, warnings)
    })
    .inspect_err(|e| {
        if matches!(e, NgError::PolicyRefused(_)) {
            s.totals.refused_policy.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %call_id, reason = %e, "ng answer refused");
        }
    })?;
    let mut reply = Dict::new();
    reply.str("result", "ok").str("sdp", out);
    Ok(reply)
}

fn delete(s: &Shared, req: Request, warnings: &mut Vec<String>) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    let delay = req.delete_delay.unwrap_or(s.config.ng.delete_delay_secs);
    let mut reply = Dict::new();
    reply.str("result", "ok");
    let found = with_ng_call(s, call_id, |c| {
        let tag_ok = |t: &Option<String>| t.as_deref().is_none_or(|t| c.has_tag(t));
        let matches = req.all
            || (tag_ok(&req.from_tag)
                && tag_ok(&req.to_tag)
                && req.via_branch.as_deref().is_none_or(|b| {
                    req.from_tag.is_some()
                        || c.tags[1].is_none()
                        || c.branches.iter().any(|x| x == b)
                }));
        if matches {
            if delay > 0 {
                // Saturating: `delete delay` comes from the request
                // (2^64-1 must neither panic nor wrap to "now").
                c.delete_at_ms = Some(now_ms().saturating_add(delay.saturating_mul(1000)));
            }
            call_report(c, &mut reply);
        }
        Ok(matches)
    })
    .unwrap_or(false);
    if !found {
        let m = "Call-ID not found or tags didn't match";
        if req.fatal {
            return Err(NgError::new(m));
        }
        warnings.push(m.into());
        let mut reply = Dict::new();
        reply.str("result", "ok");
        return Ok(reply);
    }
    if delay == 0 {
        s.end_call(call_id, EndReason::Deleted);
    }
    Ok(reply)
}

fn query(s: &Shared, req: Request) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    let mut reply = Dict::new();
    reply.str("result", "ok");
    with_ng_call(s, call_id, |c| {
        call_report(c, &mut reply);
        Ok(())
    })?;
    Ok(reply)
}

fn list(s: &Shared, req: Request) -> Dict {
    let limit = usize::try_from(req.limit.unwrap_or(32)).unwrap_or(usize::MAX);
    let mut ids: Vec<(u64, String)> = s
        .calls
        .views(Some(Origin::Ng))
        .into_iter()
        .map(|v| (v.created_ms, v.id))
        .collect();
    ids.sort();
    let mut reply = Dict::new();
    reply.str("result", "ok").set(
        "calls",
        ben::string_list(ids.into_iter().take(limit).map(|(_, id)| id)),
    );
    reply
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
/// The largest UDP payload (IPv4: 65,535 - 20 - 8): a longer reply cannot
/// be sent in one datagram.
pub const MAX_UDP_REPLY: usize = 65_507;
/// The largest reply over TCP.
const MAX_TCP_REPLY: usize = 1 << 20;

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
    // Housekeeping on its own thread: a slow or failed request never holds
    // up call timeouts, and a flood of requests never starves them.
    let s = shared.clone();
    threads.push(
        std::thread::Builder::new()
            .name("rampart-ng-tick".into())
            .spawn(move || tick_loop(s))?,
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
    while !s.shutting_down.load(Ordering::SeqCst) {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                let msg = &buf[..n];
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%src, "ng request from a source not in [ng] allow dropped");
                } else if let Some(reply) = s.ng.handle_guarded(&s, src, msg, MAX_UDP_REPLY) {
                    if let Err(e) = sock.send_to(&reply, src) {
                        tracing::warn!(%src, error = %e, "cannot send an ng reply");
                        s.ng.forget(src, msg);
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
    }
}

/// Runs [`NgState::tick`] every [`TICK`] until shutdown; a panic in one
/// tick is caught and counted, and the next tick runs.
fn tick_loop(s: Arc<Shared>) {
    while !s.shutting_down.load(Ordering::SeqCst) {
        std::thread::sleep(TICK);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.ng.tick(&s))).is_err() {
            s.ng.counters.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!("ng housekeeping panicked; it runs again at the next tick");
        }
    }
}

/// Open ng TCP connections, in total and per source address.
#[derive(Default)]
struct TcpConns {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Holds one connection's place in [`TcpConns`]; gives it back when the
/// connection ends (also when its thread panics).
struct TcpSlot {
    conns: Arc<Mutex<TcpConns>>,
    ip: IpAddr,
}

impl TcpSlot {
    /// Takes a place for a connection from `ip`, unless the total or the
    /// per-source cap is reached.
    fn take(conns: &Arc<Mutex<TcpConns>>, ip: IpAddr, per_source: usize) -> Option<TcpSlot> {
        let mut c = conns.lock().unwrap_or_else(|e| e.into_inner());
        let mine = c.by_source.get(&ip).copied().unwrap_or(0);
        if c.total >= MAX_TCP_CONNECTIONS || mine >= per_source {
            return None;
        }
        c.total += 1;
        c.by_source.insert(ip, mine + 1);
        Some(TcpSlot {
            conns: conns.clone(),
            ip,
        })
    }
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_source.remove(&self.ip);
            }
        }
    }
}

fn tcp_loop(s: Arc<Shared>, l: TcpListener) {
    let conns = Arc::new(Mutex::new(TcpConns::default()));
    let per_source = s.config.ng.tcp_max_per_source;
    while !s.shutting_down.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((stream, src)) => {
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Some(slot) = TcpSlot::take(&conns, src.ip(), per_source) else {
                    s.ng.counters.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%src, "too many ng TCP connections (in total or from this source); refused");
                    continue;
                };
                let s2 = s.clone();
                let r = std::thread::Builder::new()
                    .name("rampart-ng-tcp-conn".into())
                    .spawn(move || {
                        let _slot = slot;
                        tcp_conn(&s2, stream, src);
                    });
                if let Err(e) = r {
                    tracing::warn!(%src, error = %e, "cannot start an ng TCP connection thread");
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
///
/// The framing is incremental ([`Scanner`]): each read goes on where the
/// last stopped. The connection is closed after `tcp_idle_secs` with no
/// bytes, or with a message begun and not finished (a slow sender holds a
/// connection no longer than an idle one).
fn tcp_conn(s: &Shared, mut stream: TcpStream, src: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL * 2));
    let max = s.config.ng.max_request_bytes;
    let idle = match s.config.ng.tcp_idle_secs {
        0 => None,
        n => Some(Duration::from_secs(n)),
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16384];
    // The scan of the message at the front of `buf`, resumed on each read.
    let mut scanner: Option<Scanner> = None;
    let mut last_rx = Instant::now();
    let mut started: Option<Instant> = None;
    while !s.shutting_down.load(Ordering::SeqCst) {
        // Answer every whole message in the buffer.
        loop {
            let Some(sp) = buf.iter().take(257).position(|&b| b == b' ') else {
                if buf.len() > 256 {
                    return; // no cookie: not ng
                }
                break;
            };
            let sc = scanner.get_or_insert_with(Scanner::new);
            let before = sc.work();
            let r = sc.resume(&buf[sp + 1..], &s.ng.limits);
            let work = sc.work().saturating_sub(before) as u64;
            s.ng.counters
                .tcp_scan_work
                .fetch_add(work, Ordering::Relaxed);
            match r {
                Ok(Scan::Complete(end)) => {
                    scanner = None;
                    let total = sp + 1 + end;
                    let msg: Vec<u8> = buf.drain(..total).collect();
                    started = (!buf.is_empty()).then(Instant::now);
                    if let Some(r) = s.ng.handle_guarded(s, src, &msg, MAX_TCP_REPLY) {
                        if stream.write_all(&r).is_err() {
                            return;
                        }
                    }
                }
                Ok(Scan::Incomplete) if buf.len() <= max => break,
                _ => {
                    // Too large or not bencode: answer once through the
                    // normal path (which reports why), then close.
                    let mut msg = std::mem::take(&mut buf);
                    msg.truncate(max + 1);
                    if let Some(r) = s.ng.handle_guarded(s, src, &msg, MAX_TCP_REPLY) {
                        let _ = stream.write_all(&r);
                    }
                    return;
                }
            }
        }
        if let Some(idle) = idle {
            if last_rx.elapsed() >= idle || started.is_some_and(|t| t.elapsed() >= idle) {
                s.ng.counters
                    .tcp_idle_closed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src, "ng TCP connection idle; closed");
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                if buf.is_empty() {
                    started = Some(Instant::now());
                }
                buf.extend_from_slice(&chunk[..n]);
                last_rx = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// The ng request path without a node, for fuzzing: splits the cookie,
/// scans and decodes the bencode (one shot and resumed in pieces, which
/// must agree), and parses the command and its options. Panics only on a
/// bug.
#[doc(hidden)]
pub fn fuzz_ng_request(data: &[u8]) {
    let limits = Limits {
        max_bytes: 65536,
        ..Limits::default()
    };
    let Some((_, body)) = split_cookie(data) else {
        return;
    };
    // Resumed in pieces of 1..=64 bytes (from the cookie's length), the
    // scan must reach the same verdict as in one go.
    let piece = data.len() % 64 + 1;
    let once = ben::scan(body, &limits);
    let mut sc = Scanner::new();
    let mut end = 0;
    let resumed = loop {
        end = (end + piece).min(body.len());
        match sc.resume(&body[..end], &limits) {
            Ok(Scan::Incomplete) if end < body.len() => continue,
            r => break r,
        }
    };
    assert_eq!(once.is_ok(), resumed.is_ok(), "{once:?} vs {resumed:?}");
    if let (Ok(a), Ok(b)) = (&once, &resumed) {
        assert_eq!(a, b);
    }
    assert!(sc.work() <= 2 * body.len() + (body.len() / piece + 1) * 64 + 64);
    let Ok(v) = ben::decode(body, &limits) else {
        return;
    };
    if let Ok(req) = parse_request(&v) {
        assert!(req.list_items <= MAX_LIST_ITEMS);
        let w = warning_text(&req.warnings);
        assert!(w.len() <= MAX_REASON_BYTES + 3);
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

    fn parse(body: &[u8]) -> Result<Request, NgError> {
        parse_request(&ben::decode(body, &Limits::default()).unwrap())
    }

    #[test]
    fn nested_flags_are_an_error_not_recursion() {
        let f = format!("{}fatal", "flags=".repeat(6000));
        let body = format!("d7:command4:ping5:flagsl{}:{f}ee", f.len());
        let e = parse(body.as_bytes()).err().expect("an error");
        assert!(e.to_string().contains("flags"), "{e}");
        // One level of `key=value` is still an option.
        let r = parse(b"d7:command4:ping5:flagsl10:ICE=remove19:rampart-device=SEP1ee").unwrap();
        assert_eq!(r.media.me.device.as_deref(), Some("SEP1"));
    }

    #[test]
    fn echoed_text_is_cut_short() {
        let key = "\u{1}".repeat(60_000);
        let shown = shown(&key);
        assert!(shown.len() < 64 * 6 + 32, "{}", shown.len());
        assert!(shown.ends_with("(60000 bytes)"), "{shown}");
        assert_eq!(super::shown("a\"b"), "\"a\\\"b\"");
        let many: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let w = warning_text(&many);
        assert!(w.ends_with("and 84 more"), "{w}");
        let long = vec!["é".repeat(5000)];
        assert!(warning_text(&long).len() <= MAX_REASON_BYTES + 3);
    }

    #[test]
    fn a_panicking_request_is_answered_with_an_error() {
        let c = NgCounters::default();
        let r = guarded(&c, b"k1 d7:command4:pinge", || panic!("boom")).unwrap();
        assert!(r.starts_with(b"k1 d12:error-reason"), "{r:?}");
        assert_eq!(c.panics.load(Ordering::Relaxed), 1);
        assert_eq!(c.errors.load(Ordering::Relaxed), 1);
        // Without a cookie there is nothing to answer.
        assert!(guarded(&c, b"nocookie", || panic!("boom")).is_none());
        assert_eq!(
            guarded(&c, b"k1 x", || Some(b"ok".to_vec())),
            Some(b"ok".to_vec())
        );
    }

    #[test]
    fn cache_keeps_to_its_byte_budget() {
        let mut c = Cache {
            replies: HashMap::new(),
            in_flight: HashSet::new(),
            order: VecDeque::new(),
            bytes: 0,
            budget: 10_000,
        };
        let key = |i: u16| CacheKey {
            src: SocketAddr::from(([127, 0, 0, 1], i)),
            cookie: b"c".to_vec(),
            body: 7,
        };
        for i in 0..100 {
            c.put(key(i), vec![0u8; 1000], 1_000_000);
            assert!(c.bytes <= 10_000, "{}", c.bytes);
        }
        assert!(c.get(&key(99), 0).is_some());
        assert!(c.get(&key(0), 0).is_none(), "the oldest went first");
        // Another source with the same cookie and body is another entry.
        assert!(c.get(&key(1000), 0).is_none());
        // Larger than the whole budget: not cached.
        c.put(key(500), vec![0u8; 20_000], 1_000_000);
        assert!(c.get(&key(500), 0).is_none());
        c.expire(2_000_000);
        assert_eq!(c.bytes, 0);
        assert!(c.replies.is_empty());
    }

    #[test]
    fn via_branches_keep_the_newest() {
        let mut call = NgCall::new("c", 0, 0);
        for i in 0..100 {
            add_branch(&mut call, &Some(format!("b{i}")));
        }
        assert_eq!(call.branches.len(), MAX_VIA_BRANCHES);
        assert_eq!(call.branches.last().map(String::as_str), Some("b99"));
        assert_eq!(call.branches[0], format!("b{}", 100 - MAX_VIA_BRANCHES));
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
