//! The node's side of the state store: every call's state written, sealed,
//! after each command that changed it (before the command's reply goes
//! out), and removed when the call ends; every write fenced by this node's
//! owner token.
//!
//! Why best effort: a node that loses its store must keep relaying and
//! answering; a failed write is counted and logged, the call is marked
//! dirty, and the takeover loop ([`super::super::ha`]) writes it whole
//! again once the store answers. Why fenced: a node that was cut off while
//! another adopted its calls must not overwrite the adopter's state; the
//! store refuses it, and the call is dropped here
//! ([`Persist::take_fenced`]).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::seal::{Kek, Keyring};
use super::{StateStore, StoreError};
use crate::config::StoreConfig;
use crate::control::calls::{CallObserver, CallRecord};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes call state to a store.
pub struct Persist {
    /// The store, for the writes of commands (before their replies).
    pub store: Arc<dyn StateStore>,
    /// The same store over its own connection, for the takeover loop's
    /// bulk reads and media checkpoints: a command's write never waits
    /// behind them.
    pub bulk: Arc<dyn StateStore>,
    /// The keys every record is sealed with.
    pub keys: Arc<Keyring>,
    /// This node's name.
    pub node_id: String,
    /// This node's owner token, `node_id/instance` (a new instance at
    /// every start).
    pub me: String,
    /// A hash of the state last written per call: a command that changed
    /// nothing (a query) writes nothing.
    last: Mutex<HashMap<String, u64>>,
    /// Calls whose last write failed: written again when the store
    /// answers.
    dirty: Mutex<HashSet<String>>,
    /// Calls the store says another node owns: dropped here.
    fenced: Mutex<HashSet<String>>,
    /// Calls that ended while the store did not answer: removed when it
    /// does (or they would come back at the next restore).
    unremoved: Mutex<HashSet<String>>,
    /// Call states written.
    pub written: AtomicU64,
    /// Calls removed.
    pub removed: AtomicU64,
    /// Writes or removals that failed.
    pub failed: AtomicU64,
    /// Writes the store refused because another node owns the call.
    pub fenced_writes: AtomicU64,
    /// The last failure, for `/health`.
    pub last_error: Mutex<Option<String>>,
}

/// A fresh instance id: 64 random bits in hex.
fn instance_id() -> String {
    let mut b = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
        b = (super::super::calls::now_ms() ^ std::process::id() as u64).to_be_bytes();
    }
    format!("{:016x}", u64::from_be_bytes(b))
}

/// The host's name, the default node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rampart".into())
}

impl Persist {
    /// The store `cfg` names, or `None` when `[store] url` is unset. A
    /// store that cannot be reached now is not an error (writes are
    /// retried); an unusable KEK file is.
    pub fn from_config(cfg: &StoreConfig) -> Result<Option<Persist>, StoreError> {
        let Some(url) = &cfg.url else {
            return Ok(None);
        };
        let Some(kek_file) = &cfg.kek_file else {
            return Err(StoreError::Backend("store.url needs store.kek_file".into()));
        };
        let current = Kek::from_file(cfg.kek_id, kek_file)?;
        let previous = match &cfg.previous_kek_file {
            Some(p) => vec![Kek::from_file(cfg.previous_kek_id, p)?],
            None => Vec::new(),
        };
        let prefix = if cfg.prefix.is_empty() {
            "rampart"
        } else {
            &cfg.prefix
        };
        let store = super::redis::RedisStore::new(url, prefix)?;
        let bulk = super::redis::RedisStore::new(url, prefix)?;
        let node_id = if cfg.node_id.is_empty() {
            host_name()
        } else {
            cfg.node_id.clone()
        };
        let mut p = Persist::new(Arc::new(store), Keyring::new(current, previous), &node_id);
        p.bulk = Arc::new(bulk);
        Ok(Some(p))
    }

    /// Writes to `store` as node `node_id` (a new instance), sealing with
    /// `keys`.
    pub fn new(store: Arc<dyn StateStore>, keys: Keyring, node_id: &str) -> Persist {
        Persist {
            bulk: Arc::clone(&store),
            store,
            keys: Arc::new(keys),
            node_id: node_id.to_string(),
            me: format!("{node_id}/{}", instance_id()),
            last: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            fenced: Mutex::new(HashSet::new()),
            unremoved: Mutex::new(HashSet::new()),
            written: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            fenced_writes: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn failure(&self, call_id: &str, e: &StoreError) {
        if let StoreError::Fenced(owner) = e {
            self.fenced_writes.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %call_id, owner = %owner, "another node owns this call: dropping it here");
            lock(&self.fenced).insert(call_id.to_string());
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        let text = e.to_string();
        tracing::warn!(call_id = %call_id, error = %text, "state store write failed");
        *lock(&self.last_error) = Some(text);
    }

    /// The calls the store refused because another node owns them (taken:
    /// the caller drops them).
    pub fn take_fenced(&self) -> Vec<String> {
        lock(&self.fenced).drain().collect()
    }

    /// The calls whose last write failed (taken: the caller writes them
    /// again).
    pub fn take_dirty(&self) -> Vec<String> {
        lock(&self.dirty).drain().collect()
    }

    /// Removes the calls whose removal failed; returns how many are still
    /// left.
    pub fn retry_removals(&self) -> usize {
        let pending: Vec<String> = lock(&self.unremoved).drain().collect();
        for id in pending {
            self.ended(&id);
        }
        lock(&self.unremoved).len()
    }

    /// Forgets what was written for `call_id` (a call this node no longer
    /// serves).
    pub fn forget(&self, call_id: &str) {
        lock(&self.last).remove(call_id);
        lock(&self.dirty).remove(call_id);
    }

    /// The stored form of `call`: its origin and its snapshot.
    pub fn stored_form(call: &dyn CallRecord) -> Result<serde_json::Value, serde_json::Error> {
        Ok(serde_json::json!({
            "origin": call.view().origin,
            "call": call.snapshot()?,
        }))
    }

    /// Opens a sealed call state.
    pub fn open_state(
        &self,
        call_id: &str,
        sealed: &[u8],
    ) -> Result<serde_json::Value, StoreError> {
        let plain = self.keys.open(call_id, sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("call {call_id}: {e}")))
    }
}

impl CallObserver for Persist {
    fn changed(&self, call_id: &str, call: &dyn CallRecord) {
        let state = match Persist::stored_form(call) {
            Ok(v) => v,
            Err(e) => return self.failure(call_id, &StoreError::Corrupt(e.to_string())),
        };
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&state).unwrap_or_default());
        let mut h = DefaultHasher::new();
        plain.hash(&mut h);
        let digest = h.finish();
        if lock(&self.last).get(call_id) == Some(&digest) {
            return;
        }
        let r = self
            .keys
            .seal(call_id, &plain)
            .map_err(StoreError::from)
            .and_then(|sealed| self.store.put_call(call_id, &sealed, &self.me));
        match r {
            Ok(_) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                lock(&self.last).insert(call_id.to_string(), digest);
                lock(&self.dirty).remove(call_id);
            }
            Err(e) => {
                lock(&self.last).remove(call_id);
                if !matches!(e, StoreError::Fenced(_)) {
                    lock(&self.dirty).insert(call_id.to_string());
                }
                self.failure(call_id, &e);
            }
        }
    }

    fn ended(&self, call_id: &str) {
        self.forget(call_id);
        match self.store.delete_call(call_id, &self.me) {
            Ok(_) => {
                self.removed.fetch_add(1, Ordering::Relaxed);
            }
            Err(StoreError::Fenced(_)) => {}
            Err(e) => {
                lock(&self.unremoved).insert(call_id.to_string());
                self.failure(call_id, &e);
            }
        }
    }
}
