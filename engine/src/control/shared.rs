//! What the front-ends share: the call service, the ng state, the
//! security plane and what the node reports about itself.
//!
//! Why its own module: the call service ([`super::calls`]) knows nothing
//! of ng or HTTP, and ng's own state ([`super::ng_state`]) nothing of the
//! front-ends; this struct only puts them side by side, so no module that
//! `Shared` holds has to import the module that defines it.

use std::sync::atomic::AtomicBool;

use crate::dataplane::BackendKind;

use super::calls::CallService;

/// State shared by the front-ends (HTTP, ng, librampart) and the reaper.
/// Derefs to the [`CallService`] (`s.calls`, `s.config`, `s.end_call`).
pub struct Shared {
    /// The calls, ports, data plane, totals and configuration.
    pub service: CallService,
    /// The backend actually running.
    pub backend: BackendKind,
    /// What runs and why (the AF_XDP mode, or why it is not used).
    pub backend_detail: String,
    /// Worker threads.
    pub workers: usize,
    /// Set once shutdown began: the API answers 503.
    pub shutting_down: AtomicBool,
    /// Node start, unix ms.
    pub started_ms: u64,
    /// The ng protocol's reply cache and counters.
    pub ng: super::ng_state::NgState,
    /// The security policy, trust list and call-status bookkeeping.
    pub security: super::security::SecurityPlane,
    /// The state store's writer, when `[store] url` is set.
    pub persist: Option<std::sync::Arc<super::store::persist::Persist>>,
    /// Takeover between nodes sharing the store, when it is set.
    pub ha: Option<std::sync::Arc<super::ha::Ha>>,
}

impl Shared {
    /// Why this node refuses new calls now (a standby, a drain), if it
    /// does.
    pub fn new_call_refusal(&self) -> Option<&'static str> {
        self.ha.as_ref().and_then(|h| h.refusal())
    }

    /// A command named `call_id`, which this node does not hold: takes it
    /// over from the store when its owner died or handed it off. Returns
    /// whether the call runs here now.
    pub fn adopt_named(&self, call_id: &str) -> bool {
        self.calls.get(call_id).is_some()
            || self
                .ha
                .as_ref()
                .is_some_and(|h| h.adopt_on_demand(self, call_id))
    }
}

impl std::ops::Deref for Shared {
    type Target = CallService;

    fn deref(&self) -> &CallService {
        &self.service
    }
}
