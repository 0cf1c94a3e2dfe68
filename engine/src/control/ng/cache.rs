//! The reply cache: retransmitted requests are answered, not run again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

/// What a cached reply is filed under: who asked, with which cookie, and a
/// keyed hash of the request body. A request reusing another client's
/// cookie (or the same client's cookie with another body) is not answered
/// from the cache.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) src: SocketAddr,
    pub(super) cookie: Vec<u8>,
    pub(super) body: u64,
}

impl CacheKey {
    /// Bytes an entry holds besides its reply: the key twice (map and
    /// expiry queue) and the bookkeeping around them.
    pub(super) fn cost(&self, reply_len: usize) -> usize {
        reply_len
            .saturating_add(self.cookie.len().saturating_mul(2))
            .saturating_add(CACHE_ENTRY_OVERHEAD)
    }
}

pub(super) struct Cache {
    pub(super) replies: HashMap<CacheKey, (u64, Vec<u8>)>,
    /// Requests being handled: a retransmission of one waits for its reply.
    pub(super) in_flight: HashSet<CacheKey>,
    pub(super) order: VecDeque<(u64, CacheKey)>,
    /// Bytes held (see [`CacheKey::cost`]), at most `budget`.
    pub(super) bytes: usize,
    pub(super) budget: usize,
}

/// Entries at most, whatever their size.
pub(super) const CACHE_MAX: usize = 200_000;
/// Bytes counted per cache entry beyond its reply and cookie.
pub(super) const CACHE_ENTRY_OVERHEAD: usize = 128;

impl Cache {
    pub(super) fn get(&self, key: &CacheKey, now: u64) -> Option<&Vec<u8>> {
        self.replies
            .get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r)
    }

    pub(super) fn remove(&mut self, key: &CacheKey) {
        if let Some((_, r)) = self.replies.remove(key) {
            self.bytes = self.bytes.saturating_sub(key.cost(r.len()));
        }
    }

    pub(super) fn put(&mut self, key: CacheKey, reply: Vec<u8>, expires: u64) {
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

    pub(super) fn expire(&mut self, now: u64) {
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
