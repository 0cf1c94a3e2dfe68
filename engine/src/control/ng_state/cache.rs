//! The reply cache: retransmitted requests are answered, not run again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

/// What a cached reply is filed under: who asked, with which cookie, and a
/// keyed hash of the request body. A request reusing another client's
/// cookie (or the same client's cookie with another body) is not answered
/// from the cache.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) src: SocketAddr,
    pub(crate) cookie: Vec<u8>,
    pub(crate) body: u64,
}

impl CacheKey {
    /// Bytes an entry holds besides its reply: the key twice (map and
    /// expiry queue) and the bookkeeping around them.
    pub(crate) fn cost(&self, reply_len: usize) -> usize {
        reply_len
            .saturating_add(self.cookie.len().saturating_mul(2))
            .saturating_add(CACHE_ENTRY_OVERHEAD)
    }
}

pub(crate) struct Cache {
    pub(crate) replies: HashMap<CacheKey, (u64, Vec<u8>)>,
    /// Requests being handled: a retransmission of one waits for its reply.
    pub(crate) in_flight: HashSet<CacheKey>,
    /// Retransmissions waiting for their original's reply (each holds a
    /// request slot), at most [`MAX_RETRANSMIT_WAITERS`].
    pub(crate) waiting: usize,
    pub(crate) order: VecDeque<(u64, CacheKey)>,
    /// Bytes held (see [`CacheKey::cost`]), at most `budget`.
    pub(crate) bytes: usize,
    pub(crate) budget: usize,
}

/// Entries at most, whatever their size.
pub(crate) const CACHE_MAX: usize = 200_000;
/// Bytes counted per cache entry beyond its reply and cookie.
pub(crate) const CACHE_ENTRY_OVERHEAD: usize = 128;

impl Cache {
    pub(crate) fn get(&self, key: &CacheKey, now: u64) -> Option<&Vec<u8>> {
        self.replies
            .get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r)
    }

    pub(crate) fn remove(&mut self, key: &CacheKey) {
        if let Some((_, r)) = self.replies.remove(key) {
            self.bytes = self.bytes.saturating_sub(key.cost(r.len()));
        }
    }

    pub(crate) fn put(&mut self, key: CacheKey, reply: Vec<u8>, expires: u64) {
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

    pub(crate) fn expire(&mut self, now: u64) {
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

/// Retransmissions that may wait at once for the reply of a request in
/// flight; more are dropped unanswered (their sender retransmits again and
/// gets the cached reply), so duplicates cannot hold every request slot.
pub(crate) const MAX_RETRANSMIT_WAITERS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_to_its_byte_budget() {
        let mut c = Cache {
            replies: HashMap::new(),
            in_flight: HashSet::new(),
            waiting: 0,
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
}
