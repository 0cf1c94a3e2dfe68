//! The call store: every call the node runs, whatever made it.
//!
//! Why two locks per call and none across the data plane: commands on a
//! call (an ng offer, an HTTP rekey) wait, bounded, for a data-plane
//! worker's ack; a stalled worker must stall only the commands on its own
//! calls, never signalling for other calls, listings, metrics or the
//! reaper. So the store's map lock is held only to find, insert or remove
//! a slot; a call's `op` lock serialises the commands on that one call (as
//! rtpengine's per-call lock does) and is the only lock held while a
//! worker is awaited; and the call's `state` lock guards its record and a
//! [`CallView`] of it, each held only for memory operations. A command
//! takes the record out of its slot, works on it with the slot unlocked,
//! and puts it back with a fresh view; readers of many calls read views.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::{AdmitError, CallObserver, CallRecord, CallView, Origin};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One live call.
pub struct Slot {
    /// What made the call.
    pub origin: Origin,
    id: String,
    observer: Option<Arc<dyn CallObserver>>,
    /// Serialises commands on this call (held across data-plane waits).
    op: Mutex<()>,
    state: Mutex<SlotState>,
}

struct SlotState {
    /// `None` while a command works on the record, or once the call ended.
    record: Option<Box<dyn CallRecord>>,
    view: CallView,
}

/// Puts a record back in its slot (with a fresh view) when a command ends,
/// also when it unwinds: a panicking request must not lose the call (its
/// ports and data-plane flows would leak).
struct PutBack<'a> {
    slot: &'a Slot,
    record: Option<Box<dyn CallRecord>>,
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            // The command's changes reach the store before its reply
            // (not while unwinding from a panic: the call goes back as
            // it is, and its next command writes it).
            if let Some(o) = self
                .slot
                .observer
                .as_ref()
                .filter(|_| !std::thread::panicking())
            {
                o.changed(&self.slot.id, r.as_ref());
            }
            let mut st = lock(&self.slot.state);
            st.view = r.view();
            st.record = Some(r);
        }
    }
}

impl Slot {
    fn new(
        id: &str,
        origin: Origin,
        record: Box<dyn CallRecord>,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Slot {
        if let Some(o) = &observer {
            o.changed(id, record.as_ref());
        }
        Slot {
            origin,
            id: id.to_string(),
            observer,
            op: Mutex::new(()),
            state: Mutex::new(SlotState {
                view: record.view(),
                record: Some(record),
            }),
        }
    }

    /// The call as readers see it, as of the end of the last command.
    pub fn view(&self) -> CallView {
        lock(&self.state).view.clone()
    }

    /// Reads the call's view in place (no copy of its listing).
    pub fn with_view<R>(&self, f: impl FnOnce(&CallView) -> R) -> R {
        f(&lock(&self.state).view)
    }

    /// Runs `f` on the call's record, after the commands before it on this
    /// call; `None` if the call ended meanwhile.
    pub fn command<R>(&self, f: impl FnOnce(&mut dyn CallRecord) -> R) -> Option<R> {
        let _op = lock(&self.op);
        self.run(f)
    }

    /// [`Slot::command`], or `None` at once when a command is in flight
    /// on this call (housekeeping comes back at its next pass).
    pub fn try_command<R>(&self, f: impl FnOnce(&mut dyn CallRecord) -> R) -> Option<R> {
        let _op = match self.op.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        self.run(f)
    }

    fn run<R>(&self, f: impl FnOnce(&mut dyn CallRecord) -> R) -> Option<R> {
        let record = lock(&self.state).record.take()?;
        let mut put = PutBack {
            slot: self,
            record: Some(record),
        };
        let r = put.record.as_deref_mut().map(f);
        drop(put);
        r
    }

    /// Takes the record for good (the call is ending), after any command
    /// in flight on it.
    pub fn take(&self) -> Option<Box<dyn CallRecord>> {
        let _op = lock(&self.op);
        lock(&self.state).record.take()
    }
}

struct Inner {
    calls: HashMap<String, Arc<Slot>>,
    /// Ids being created: reserved against duplicates and the limit.
    pending: HashSet<String>,
    max_calls: usize,
    next_dp_id: u64,
}

/// Every call, the ids being created, the call limit and the data-plane
/// id allocator: one admission path for the HTTP API, ng and the C ABI.
pub struct CallStore {
    inner: Mutex<Inner>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl CallStore {
    /// An empty store admitting at most `max_calls` calls.
    pub fn new(max_calls: usize) -> CallStore {
        CallStore::with_observer(max_calls, None)
    }

    /// A store whose every change is told to `observer` (the state
    /// store's writer).
    pub fn with_observer(max_calls: usize, observer: Option<Arc<dyn CallObserver>>) -> CallStore {
        CallStore {
            inner: Mutex::new(Inner {
                calls: HashMap::new(),
                pending: HashSet::new(),
                max_calls,
                next_dp_id: 1,
            }),
            observer,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Reserves `id` for a call being created: it counts against the call
    /// limit until [`CallStore::commit`] or [`CallStore::abandon`].
    pub fn admit(&self, id: &str) -> Result<(), AdmitError> {
        let mut g = self.lock();
        if g.calls.contains_key(id) || g.pending.contains(id) {
            return Err(AdmitError::Exists);
        }
        if g.calls.len() + g.pending.len() >= g.max_calls {
            return Err(AdmitError::Limit(g.max_calls));
        }
        g.pending.insert(id.to_string());
        Ok(())
    }

    /// Drops a reservation whose creation failed.
    pub fn abandon(&self, id: &str) {
        self.lock().pending.remove(id);
    }

    /// Turns the reservation of `id` into a live call.
    pub fn commit(&self, id: &str, origin: Origin, record: Box<dyn CallRecord>) -> Arc<Slot> {
        let slot = Arc::new(Slot::new(id, origin, record, self.observer.clone()));
        let mut g = self.lock();
        g.pending.remove(id);
        g.calls.insert(id.to_string(), Arc::clone(&slot));
        slot
    }

    /// Who is told of every change (the state store's writer).
    pub fn observer(&self) -> Option<&Arc<dyn CallObserver>> {
        self.observer.as_ref()
    }

    /// A fresh data-plane call id, unique across every call.
    pub fn alloc_dp_id(&self) -> u64 {
        let mut g = self.lock();
        let id = g.next_dp_id;
        g.next_dp_id += 1;
        id
    }

    /// The live call `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Slot>> {
        self.lock().calls.get(id).cloned()
    }

    /// Takes the call `id` out of the store (its record stays in the slot
    /// for whoever ends it).
    pub fn remove(&self, id: &str) -> Option<Arc<Slot>> {
        self.lock().calls.remove(id)
    }

    /// Takes `id` out only if it is still `slot` (not a newer call that
    /// reused the id).
    pub fn remove_slot(&self, id: &str, slot: &Arc<Slot>) -> bool {
        let mut g = self.lock();
        if g.calls.get(id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            g.calls.remove(id);
            true
        } else {
            false
        }
    }

    /// Every live call with its slot.
    pub fn slots(&self) -> Vec<(String, Arc<Slot>)> {
        self.lock()
            .calls
            .iter()
            .map(|(id, s)| (id.clone(), Arc::clone(s)))
            .collect()
    }

    /// `f` over the view of every live call, in no order, without copying
    /// the views.
    pub fn for_each_view(&self, mut f: impl FnMut(&CallView)) {
        for (_, s) in self.slots() {
            s.with_view(&mut f);
        }
    }

    /// Views of every live call (of one origin, or all), in no order.
    pub fn views(&self, origin: Option<Origin>) -> Vec<CallView> {
        self.slots()
            .into_iter()
            .filter(|(_, s)| origin.is_none_or(|o| s.origin == o))
            .map(|(_, s)| s.view())
            .collect()
    }

    /// Live calls (of one origin, or all).
    pub fn len(&self, origin: Option<Origin>) -> usize {
        let g = self.lock();
        match origin {
            None => g.calls.len(),
            Some(o) => g.calls.values().filter(|s| s.origin == o).count(),
        }
    }
}
