//! The ng protocol's own state: its counters, the reply cache and the
//! media rates of `statistics`.
//!
//! Why apart from `ng`: the node's shared state holds it, and the ng
//! front-end (which takes that shared state) runs commands with it; kept
//! here, it depends on the call store only, so no import cycle runs
//! through the shared state.

mod cache;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::calls::{CallStore, LegTotals, Origin};
use super::ng_bencode::Limits;
use crate::cidr::Cidr;
pub(crate) use cache::{Cache, CacheKey, MAX_RETRANSMIT_WAITERS};

/// What [`NgState::cached_or_claim`] found.
pub(crate) enum Claim {
    /// The reply, from the cache.
    Cached(Vec<u8>),
    /// The request is this caller's to handle.
    Mine,
    /// The same request is in flight and enough copies already wait for
    /// it: drop this one unanswered.
    Busy,
}

/// How long a retransmission waits for the original request's reply.
const RETRANSMIT_WAIT: Duration = Duration::from_secs(6);

/// Counters of the ng protocol, for metrics and `statistics`.
#[derive(Default)]
pub struct NgCounters {
    /// Requests by command: ping, offer, answer, delete, query, list,
    /// statistics, other.
    pub commands: [AtomicU64; 8],
    /// Replies with `result: error`.
    pub errors: AtomicU64,
    /// Commands refused, by [`super::ng_call::NgError::kind`] (in
    /// [`NG_ERROR_KINDS`] order).
    pub errors_by_kind: [AtomicU64; 3],
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

/// [`super::ng_call::NgError`] kinds, in the order of
/// [`NgCounters::errors_by_kind`].
pub const NG_ERROR_KINDS: [&str; 3] = ["invalid", "ports_exhausted", "policy_refused"];

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

/// Node-wide media rates for `statistics`, sampled by the housekeeping
/// tick at most once a second.
#[derive(Default)]
pub(crate) struct Rates {
    /// (ms, packets in, bytes in, errors) at the last sample.
    pub(crate) last: Option<(u64, u64, u64, u64)>,
    /// Per second over the last interval: packets, bytes, errors.
    pub(crate) per_sec: (u64, u64, u64),
}

/// Counters that make the `errorrate`: packets refused on arrival.
const ERROR_COUNTERS: [&str; 4] = ["auth_failures", "replays", "malformed", "unknown_ssrc"];

impl Rates {
    pub(crate) fn sample(&mut self, now_ms: u64, t: &LegTotals) {
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
    pub(crate) cache: Mutex<Cache>,
    /// Signalled when a request leaves `in_flight`.
    pub(crate) cache_done: Condvar,
    pub(crate) calls: Arc<CallStore>,
    pub(crate) rates: Mutex<Rates>,
    pub(crate) allow: Vec<Cidr>,
    pub(crate) limits: Limits,
    pub(crate) max_request: usize,
    /// Keys the body hash of the reply cache.
    pub(crate) hasher: RandomState,
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

impl NgState {
    /// State for a node with this configuration.
    pub fn new(cfg: &crate::config::NgConfig, calls: Arc<CallStore>) -> NgState {
        NgState {
            cache: Mutex::new(Cache {
                replies: HashMap::new(),
                in_flight: HashSet::new(),
                waiting: 0,
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

    pub(crate) fn cache(&self) -> MutexGuard<'_, Cache> {
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
    pub(crate) fn cached_or_claim(&self, key: &CacheKey, now: u64) -> Claim {
        let deadline = Instant::now() + RETRANSMIT_WAIT;
        let mut c = self.cache();
        let mut waiting = false;
        let claim = loop {
            if let Some(r) = c.get(key, now) {
                break Claim::Cached(r.clone());
            }
            if c.in_flight.insert(key.clone()) {
                break Claim::Mine;
            }
            if !waiting {
                if c.waiting >= MAX_RETRANSMIT_WAITERS {
                    return Claim::Busy;
                }
                c.waiting += 1;
                waiting = true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The original is stuck: answer the retransmission by
                // handling it too (the command is idempotent per call).
                break Claim::Mine;
            }
            c = self
                .cache_done
                .wait_timeout(c, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        };
        if waiting {
            c.waiting -= 1;
        }
        claim
    }

    /// Ends the in-flight mark of `key`, caching `reply` if given.
    pub(crate) fn done(&self, key: &CacheKey, reply: Option<(Vec<u8>, u64)>) {
        let mut c = self.cache();
        c.in_flight.remove(key);
        if let Some((out, expires)) = reply {
            c.put(key.clone(), out, expires);
        }
        drop(c);
        self.cache_done.notify_all();
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
    pub(crate) fn cache_key(&self, src: SocketAddr, cookie: &[u8], body: &[u8]) -> CacheKey {
        CacheKey {
            src,
            cookie: cookie.to_vec(),
            body: self.hasher.hash_one(body),
        }
    }

    /// Bytes the reply cache holds (at most `[ng] reply_cache_bytes`).
    pub fn reply_cache_bytes(&self) -> usize {
        self.cache().bytes
    }
}

/// `cookie SP body`: the cookie (1 to 256 bytes, no control characters) and
/// the body, or `None` when `msg` has no acceptable cookie.
pub(crate) fn split_cookie(msg: &[u8]) -> Option<(&[u8], &[u8])> {
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
