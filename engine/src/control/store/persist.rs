//! The node's side of the state store: every call's state written, sealed,
//! after each command that changed it (before the command's reply goes
//! out), and removed when the call ends.
//!
//! Why best effort: a node that loses its store must keep relaying and
//! answering; a failed write is counted and logged, and the next change of
//! the call writes its whole state again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::seal::{Kek, Keyring};
use super::{StateStore, StoreError};
use crate::config::StoreConfig;
use crate::control::calls::{CallObserver, CallRecord};

/// Writes call state to a store.
pub struct Persist {
    store: Box<dyn StateStore>,
    keys: Keyring,
    /// A hash of the state last written per call: a command that changed
    /// nothing (a query) writes nothing.
    last: Mutex<HashMap<String, u64>>,
    /// Call states written.
    pub written: AtomicU64,
    /// Calls removed.
    pub removed: AtomicU64,
    /// Writes or removals that failed.
    pub failed: AtomicU64,
    /// The last failure, for `/health`.
    pub last_error: Mutex<Option<String>>,
}

impl Persist {
    /// The store `cfg` names, or `None` when `[store] url` is unset. A
    /// store that cannot be reached now is not an error (writes are
    /// retried with each change); an unusable KEK file is.
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
        Ok(Some(Persist::new(
            Box::new(store),
            Keyring::new(current, previous),
        )))
    }

    /// Writes to `store`, sealing with `keys`.
    pub fn new(store: Box<dyn StateStore>, keys: Keyring) -> Persist {
        Persist {
            store,
            keys,
            last: Mutex::new(HashMap::new()),
            written: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn failure(&self, call_id: &str, e: &dyn std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let text = e.to_string();
        tracing::warn!(call_id = %call_id, error = %text, "state store write failed");
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(text);
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CallObserver for Persist {
    fn changed(&self, call_id: &str, call: &dyn CallRecord) {
        let state = match call.snapshot() {
            Ok(v) => v,
            Err(e) => return self.failure(call_id, &e),
        };
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&state).unwrap_or_default());
        let mut h = DefaultHasher::new();
        plain.hash(&mut h);
        let digest = h.finish();
        if self.last().get(call_id) == Some(&digest) {
            return;
        }
        let r = self
            .keys
            .seal(call_id, &plain)
            .map_err(StoreError::from)
            .and_then(|sealed| self.store.put_call(call_id, &sealed));
        match r {
            Ok(_) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                self.last().insert(call_id.to_string(), digest);
            }
            Err(e) => {
                // Written again, whole, at the call's next change.
                self.last().remove(call_id);
                self.failure(call_id, &e);
            }
        }
    }

    fn ended(&self, call_id: &str) {
        self.last().remove(call_id);
        match self.store.delete_call(call_id) {
            Ok(_) => {
                self.removed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.failure(call_id, &e),
        }
    }
}
