//! Takeover: nodes sharing a state store watch each other's heartbeats and
//! adopt the calls of a node that died, drained or restarted, without
//! breaking SRTP (see `docs/state-store.md`).
//!
//! Why one loop: a node's heartbeat, its view of the others, adoption,
//! media checkpoints and fencing all depend on whether the store answers
//! now, so one thread (`rampart-ha`) does them in order every
//! `[store] heartbeat_ms`, and the front-ends only ask it to adopt a call a
//! command names ([`Ha::adopt_on_demand`]).
//!
//! Liveness is judged by what this node saw, never by a clock in the
//! store: a peer is dead when its heartbeat counter has not moved for
//! `dead_after_ms` while this node was connected the whole time (a store
//! that restarted, or a link that came back, starts the count again, so a
//! Redis restart never looks like every node dying). Adoption is fenced:
//! a call changes hands only by a compare-and-set of its owner token
//! (`node/instance`), and every write names the writer's token, so two
//! nodes never both serve a call: the loser of a race, or a node that was
//! cut off while its calls were adopted, finds its writes refused and
//! drops the call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::calls::{now_ms, CallRecord, CallService};
use super::store::media::{MediaCheckpoint, MAX_SRTCP_PER_SEC};
use super::store::persist::Persist;
use super::store::{media_aad, StoreError};
use crate::config::HaRole;
use crate::dataplane::relay::{CallCheckpoint, LegCheckpoint};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What this node last saw of another.
struct Peer {
    instance: String,
    beat: u64,
    /// When its heartbeat last moved (or this node's view restarted).
    changed: Instant,
    draining: bool,
    /// Calls it handed off so far (a drain): a change means calls to adopt.
    handed_off: u64,
    /// Whether the owners were read since this node judged it dead.
    dead_seen: bool,
}

#[derive(Default)]
struct View {
    /// Since when the store has answered without a break.
    connected_since: Option<Instant>,
    peers: HashMap<String, Peer>,
    beat: u64,
    /// A digest of the media checkpoint last written per call.
    media_last: HashMap<String, u64>,
    last_checkpoint: Option<Instant>,
    /// The owners should be read at the next pass: something changed
    /// hands (a peer died, restarted or handed calls off; this node
    /// connected, or has watched long enough to judge; an adoption is
    /// to be tried again).
    scan: bool,
    /// Whether the owners were read since this node had watched for
    /// `dead_after_ms` after connecting.
    judged: bool,
    last_scan: Option<Instant>,
    /// When this node's heartbeat last reached the store.
    last_beat: Option<Instant>,
}

/// Adoptions whose first media checkpoint is read and written together
/// (one worker request, one store round trip).
const CHECKPOINT_ADOPTED_EVERY: usize = 64;

/// What one adoption came to.
enum Adoption {
    /// The call was running here already.
    Here,
    /// Taken over now; its new data-plane ids, whose first checkpoint is
    /// still to be written.
    Taken(Vec<u64>),
    /// Not taken (owned elsewhere, or it failed).
    Not,
}

/// The owners are read at least this often even when nothing seems to
/// change hands (a call whose owner never wrote a heartbeat).
const SCAN_AT_LEAST_EVERY: Duration = Duration::from_secs(10);

/// Turns a stored call (`{"origin", "call"}`) and its media checkpoint
/// into a record running on this node (`control::restore`: it knows the
/// record types, which know nothing of takeover).
pub type Restorer =
    fn(&CallService, &Value, Option<&MediaCheckpoint>) -> Result<Box<dyn CallRecord>, String>;

/// The takeover side of a node with a state store.
pub struct Ha {
    persist: Arc<Persist>,
    restore: Restorer,
    /// Active or standby.
    pub role: HaRole,
    heartbeat: Duration,
    dead_after: Duration,
    checkpoint: Duration,
    view: Mutex<View>,
    /// Serialises adoptions (the loop's and the front-ends').
    adopting: Mutex<()>,
    stop: AtomicBool,
    /// Refusing new calls and handing the running ones off.
    pub draining: AtomicBool,
    /// Calls taken over from other nodes (or this node's earlier life).
    pub adopted: AtomicU64,
    /// Takeovers that failed (ports taken, store errors).
    pub adopt_failed: AtomicU64,
    /// Calls dropped because another node owns them.
    pub dropped_fenced: AtomicU64,
    /// Calls handed off by a drain.
    pub handed_off: AtomicU64,
    /// Media checkpoints written.
    pub media_written: AtomicU64,
    /// Media checkpoint writes that failed.
    pub media_failed: AtomicU64,
    /// Heartbeats the store did not take.
    pub heartbeat_failed: AtomicU64,
    /// How long the last takeover took, from the owner's last heartbeat
    /// seen to its calls running here, ms.
    pub last_takeover_ms: AtomicU64,
    /// Longest time between two of this node's heartbeats reaching the
    /// store while connected, ms (over `dead_after_ms`, the other nodes
    /// would have judged this one dead).
    pub longest_beat_gap_ms: AtomicU64,
    /// Why the last takeover failed, for `/health`.
    last_adopt_error: Mutex<Option<String>>,
}

/// How long a command naming a call that may be taken over waits for the
/// dead owner's ports to come free.
const PORTS_FREE_WAIT: Duration = Duration::from_secs(5);

/// What a node may do with the calls of an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Take them over: handed off, this node's earlier life, or dead.
    Take,
    /// Leave them: the owner's heartbeat moves.
    Alive,
    /// Not known yet: this node has not watched long enough, the owner's
    /// heartbeat has stalled for less than `dead_after_ms`, or this node
    /// is taking the calls over right now.
    Unknown,
}

/// An owner token's node and instance.
fn split_owner(owner: &str) -> (&str, &str) {
    owner.rsplit_once('/').unwrap_or((owner, ""))
}

/// What a call's streams stand at, to skip writing a checkpoint that did
/// not move (hashed as they are: no serialization for a call that is
/// quiet).
fn digest(streams: &std::collections::BTreeMap<u64, [LegCheckpoint; 2]>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    streams.hash(&mut h);
    h.finish()
}

impl Ha {
    /// Takeover for a node writing through `persist`, as `cfg` says.
    pub fn new(persist: Arc<Persist>, cfg: &crate::config::StoreConfig, restore: Restorer) -> Ha {
        Ha {
            persist,
            restore,
            role: cfg.role,
            heartbeat: Duration::from_millis(cfg.heartbeat_ms.max(1)),
            dead_after: Duration::from_millis(cfg.dead_after_ms.max(2)),
            checkpoint: Duration::from_millis(cfg.checkpoint_ms.max(1)),
            view: Mutex::new(View::default()),
            adopting: Mutex::new(()),
            stop: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            adopted: AtomicU64::new(0),
            adopt_failed: AtomicU64::new(0),
            dropped_fenced: AtomicU64::new(0),
            handed_off: AtomicU64::new(0),
            media_written: AtomicU64::new(0),
            media_failed: AtomicU64::new(0),
            heartbeat_failed: AtomicU64::new(0),
            last_takeover_ms: AtomicU64::new(0),
            longest_beat_gap_ms: AtomicU64::new(0),
            last_adopt_error: Mutex::new(None),
        }
    }

    /// This node's owner token.
    pub fn me(&self) -> &str {
        &self.persist.me
    }

    /// Why a new call is refused, if it is.
    pub fn refusal(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            Some("this node is draining: it takes no new calls")
        } else if self.role == HaRole::Standby {
            Some("this node is a standby: it takes no new calls")
        } else {
            None
        }
    }

    /// Starts the loop on its own thread.
    pub fn spawn<S>(self: &Arc<Self>, s: Arc<S>) -> std::io::Result<std::thread::JoinHandle<()>>
    where
        S: std::ops::Deref<Target = CallService> + Send + Sync + 'static,
    {
        let ha = Arc::clone(self);
        std::thread::Builder::new()
            .name("rampart-ha".into())
            .spawn(move || {
                while !ha.stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    ha.tick(&s);
                    let spent = t0.elapsed();
                    std::thread::sleep(ha.heartbeat.saturating_sub(spent));
                }
            })
    }

    /// Asks the loop to stop (it stops within one heartbeat).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// One pass: heartbeat, peers, catching up, fencing, adoption, media
    /// checkpoints.
    pub fn tick(&self, s: &CallService) {
        if !self.beat(s) {
            return;
        }
        self.catch_up(s);
        for id in self.persist.take_fenced() {
            self.drop_fenced(s, &id);
        }
        let scan = {
            let mut v = lock(&self.view);
            let due = v.scan
                || v.last_scan
                    .is_none_or(|t| t.elapsed() >= SCAN_AT_LEAST_EVERY);
            if due {
                v.scan = false;
                v.last_scan = Some(Instant::now());
            }
            due
        };
        if scan {
            match self.persist.bulk.owners() {
                Ok(owners) => {
                    if !self.settle_owners(s, owners) {
                        lock(&self.view).scan = true;
                    }
                }
                Err(e) => self.lost_store(&e),
            }
        }
        let due = {
            let v = lock(&self.view);
            v.last_checkpoint
                .is_none_or(|t| t.elapsed() >= self.checkpoint)
        };
        if due {
            self.checkpoint_all(s);
        }
    }

    fn lost_store(&self, e: &StoreError) {
        let mut v = lock(&self.view);
        if v.connected_since.take().is_some() {
            tracing::warn!(error = %e, "state store lost: relaying on, catching up when it returns");
        }
    }

    /// Writes this node's heartbeat and reads everyone's. Returns whether
    /// the store answered.
    fn beat(&self, s: &CallService) -> bool {
        let beat = {
            let mut v = lock(&self.view);
            v.beat += 1;
            v.beat
        };
        let (_, instance) = split_owner(self.me());
        let info = json!({
            "instance": instance,
            "beat": beat,
            "ms": now_ms(),
            "role": self.role.as_str(),
            "draining": self.draining.load(Ordering::Relaxed),
            "handed_off": self.handed_off.load(Ordering::Relaxed),
            "calls": s.calls.len(None),
        })
        .to_string();
        let nodes = self
            .persist
            .bulk
            .heartbeat(&self.persist.node_id, &info)
            .and_then(|()| self.persist.bulk.nodes());
        let nodes = match nodes {
            Ok(n) => n,
            Err(e) => {
                self.heartbeat_failed.fetch_add(1, Ordering::Relaxed);
                self.lost_store(&e);
                return false;
            }
        };
        let now = Instant::now();
        let mut v = lock(&self.view);
        let fresh = v.connected_since.is_none();
        if let (false, Some(last)) = (fresh, v.last_beat) {
            let gap = now.duration_since(last).as_millis() as u64;
            self.longest_beat_gap_ms.fetch_max(gap, Ordering::Relaxed);
        }
        v.last_beat = Some(now);
        if fresh {
            v.connected_since = Some(now);
            v.scan = true;
            v.judged = false;
            tracing::info!("state store connected");
        }
        let long_enough = v
            .connected_since
            .is_some_and(|t| now.duration_since(t) >= self.dead_after);
        if long_enough && !v.judged {
            v.judged = true;
            v.scan = true;
        }
        for (id, info) in nodes {
            if id == self.persist.node_id {
                continue;
            }
            let info: Value = serde_json::from_str(&info).unwrap_or(Value::Null);
            let instance = info["instance"].as_str().unwrap_or("").to_string();
            let b = info["beat"].as_u64().unwrap_or(0);
            let draining = info["draining"].as_bool().unwrap_or(false);
            let handed_off = info["handed_off"].as_u64().unwrap_or(0);
            // A heartbeat that moved (or a view that restarted) starts the
            // peer's count again; a new or restarted node (its earlier
            // instance's calls) or calls handed off are worth a scan.
            let (moved, kept) = match v.peers.get(&id) {
                Some(p) => (
                    p.instance != instance || p.handed_off != handed_off,
                    (p.instance == instance && p.beat == b && !fresh)
                        .then_some((p.changed, p.dead_seen)),
                ),
                None => (true, None),
            };
            let (changed, dead_seen) = kept.unwrap_or((now, false));
            if moved {
                v.scan = true;
            }
            let dead = long_enough && now.duration_since(changed) >= self.dead_after;
            if dead && !dead_seen {
                v.scan = true;
            }
            v.peers.insert(
                id,
                Peer {
                    instance,
                    beat: b,
                    changed,
                    draining,
                    handed_off,
                    dead_seen: dead_seen || dead,
                },
            );
        }
        true
    }

    /// A heartbeat now if one is due: long passes (adopting or handing off
    /// a thousand calls) must not look like this node dying.
    fn beat_if_due(&self, s: &CallService) {
        let due = lock(&self.view)
            .last_beat
            .is_none_or(|t| t.elapsed() >= self.heartbeat);
        if due {
            self.beat(s);
        }
    }

    /// What may be done with the calls `owner` holds.
    fn verdict(&self, owner: &str) -> Verdict {
        if owner.is_empty() {
            // Handed off by a drain.
            return Verdict::Take;
        }
        if owner == self.me() {
            // Owned here but not running here: this node is taking it
            // over right now (claimed, not yet started).
            return Verdict::Unknown;
        }
        let (node, instance) = split_owner(owner);
        if node == self.persist.node_id {
            // This node's earlier life.
            return Verdict::Take;
        }
        let v = lock(&self.view);
        let Some(watched) = v.connected_since.map(|t| t.elapsed()) else {
            return Verdict::Unknown;
        };
        let long_enough = watched >= self.dead_after;
        match v.peers.get(node) {
            // The node restarted: its earlier instance is gone.
            Some(p) if p.instance != instance => Verdict::Take,
            Some(p) if p.changed.elapsed() >= self.dead_after && long_enough => Verdict::Take,
            // A heartbeat that moved within the last two beats: alive.
            Some(p) if long_enough && p.changed.elapsed() < self.heartbeat * 2 => Verdict::Alive,
            Some(_) => Verdict::Unknown,
            None if long_enough => Verdict::Take,
            None => Verdict::Unknown,
        }
    }

    /// Writes again what failed while the store was away: call states,
    /// removals.
    fn catch_up(&self, s: &CallService) {
        self.persist.retry_removals();
        for id in self.persist.take_dirty() {
            if let Some(slot) = s.calls.get(&id) {
                slot.try_command(|c| {
                    use super::calls::CallObserver;
                    self.persist.changed(&id, c)
                });
            }
        }
    }

    /// Drops the calls held here that another node owns, adopts those
    /// that may be taken. Returns false when an adoption failed (to be
    /// tried at the next pass).
    fn settle_owners(&self, s: &CallService, owners: Vec<(String, String)>) -> bool {
        let draining = self.draining.load(Ordering::Relaxed);
        let mut settled = true;
        let mut taken = Vec::new();
        for (call_id, owner) in owners {
            self.beat_if_due(s);
            if taken.len() >= CHECKPOINT_ADOPTED_EVERY {
                self.checkpoint_adopted(s, std::mem::take(&mut taken));
            }
            if s.calls.get(&call_id).is_some() {
                if owner != self.me() && !owner.is_empty() {
                    self.drop_fenced(s, &call_id);
                }
                continue;
            }
            if draining || self.verdict(&owner) != Verdict::Take {
                continue;
            }
            match self.take_over(s, &call_id, &owner) {
                Adoption::Taken(ids) => taken.push((call_id, ids)),
                Adoption::Here => {}
                Adoption::Not => settled = false,
            }
        }
        self.checkpoint_adopted(s, taken);
        settled
    }

    /// The first media checkpoint of calls just taken over, read and
    /// written at once: a second takeover must find each call's streams
    /// under the data-plane ids its stored state now names.
    fn checkpoint_adopted(&self, s: &CallService, taken: Vec<(String, Vec<u64>)>) {
        if taken.is_empty() {
            return;
        }
        let ids: Vec<u64> = taken
            .iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        let mut by_dp: HashMap<u64, _> = s
            .with_dataplane(|dp| Ok(dp.checkpoints(Some(&ids))))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let calls = taken
            .into_iter()
            .map(|(call_id, ids)| {
                let cps = ids
                    .into_iter()
                    .filter_map(|id| Some((id, by_dp.remove(&id)?)))
                    .collect();
                (call_id, cps)
            })
            .collect();
        self.write_media(s, calls, true);
    }

    /// Stops serving a call another node owns (without touching the
    /// store: it is the other node's now).
    fn drop_fenced(&self, s: &CallService, call_id: &str) {
        if s.forget_call(call_id).is_some() {
            self.persist.forget(call_id);
            self.dropped_fenced.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %call_id, "another node serves this call now: dropped here");
        }
    }

    /// A command named a call this node does not hold: adopt it from the
    /// store if its owner is dead or handed it off. An owner whose
    /// heartbeat still moves keeps the call (answered at once); one whose
    /// heartbeat has stalled, not yet for `dead_after_ms`, is waited for
    /// (at most `dead_after_ms` and two heartbeats). Returns whether the
    /// call runs here now.
    pub fn adopt_on_demand(&self, s: &CallService, call_id: &str) -> bool {
        let start = Instant::now();
        let verdict_by = start + self.dead_after + self.heartbeat * 2;
        loop {
            if s.calls.get(call_id).is_some() {
                return true;
            }
            let owner = match self.persist.bulk.load_call(call_id) {
                Ok(c) if c.state.is_some() => c.owner.unwrap_or_default(),
                _ => return false,
            };
            let deadline = match self.verdict(&owner) {
                Verdict::Alive => return false,
                Verdict::Take if self.adopt(s, call_id, &owner) => return true,
                // The call may be taken but did not start: a port the dead
                // owner held can take a while to come free (the kernel
                // tears a killed process's io_uring down asynchronously).
                Verdict::Take => start + PORTS_FREE_WAIT,
                Verdict::Unknown => verdict_by,
            };
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(self.heartbeat);
        }
    }

    /// Takes `call_id` over: claims it from `expected` (its owner as
    /// listed), reads its state and media checkpoint, binds its ports and
    /// runs it with its streams resumed. Returns whether it runs here.
    fn adopt(&self, s: &CallService, call_id: &str, expected: &str) -> bool {
        match self.take_over(s, call_id, expected) {
            Adoption::Here => true,
            Adoption::Taken(ids) => {
                self.checkpoint_adopted(s, vec![(call_id.to_string(), ids)]);
                true
            }
            Adoption::Not => false,
        }
    }

    /// [`Ha::adopt`] without the first checkpoint (the caller writes it,
    /// for one call or a batch).
    fn take_over(&self, s: &CallService, call_id: &str, expected: &str) -> Adoption {
        let _one = lock(&self.adopting);
        if s.calls.get(call_id).is_some() {
            return Adoption::Here;
        }
        let t0 = Instant::now();
        let stored = match self.persist.bulk.load_call(call_id) {
            Ok(c) => c,
            Err(e) => {
                self.lost_store(&e);
                return Adoption::Not;
            }
        };
        let (Some(sealed), owner) = (stored.state, stored.owner.unwrap_or_default()) else {
            return Adoption::Not;
        };
        if expected != owner {
            return Adoption::Not;
        }
        if s.calls.admit(call_id).is_err() {
            return Adoption::Not;
        }
        let fail = |why: String| {
            s.calls.abandon(call_id);
            self.adopt_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %call_id, error = %why, "could not take the call over");
            *lock(&self.last_adopt_error) = Some(format!("{call_id}: {why}"));
            Adoption::Not
        };
        let state = match self.persist.open_state(call_id, &sealed) {
            Ok(v) => v,
            Err(e) => return fail(e.to_string()),
        };
        let media: Option<MediaCheckpoint> = stored.media.as_deref().and_then(|m| {
            let plain = self.persist.keys.open(&media_aad(call_id), m).ok()?;
            serde_json::from_slice(&plain).ok()
        });
        match self.persist.bulk.claim(call_id, &owner, self.me()) {
            Ok(true) => {}
            Ok(false) => {
                s.calls.abandon(call_id);
                return Adoption::Not;
            }
            Err(e) => return fail(e.to_string()),
        }
        let record = match (self.restore)(s, &state, media.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                // Give the call back for another node to try.
                let _ = self.persist.bulk.claim(call_id, self.me(), &owner);
                return fail(e);
            }
        };
        let view = record.view();
        s.calls.commit(call_id, view.origin, record);
        self.adopted.fetch_add(1, Ordering::Relaxed);
        let origin = view.origin;
        let took = t0.elapsed().as_millis() as u64;
        let since = {
            let v = lock(&self.view);
            v.peers
                .get(split_owner(&owner).0)
                .map(|p| p.changed.elapsed().as_millis() as u64)
        };
        self.last_takeover_ms
            .store(since.unwrap_or(took), Ordering::Relaxed);
        tracing::info!(
            call_id = %call_id,
            from = %owner,
            origin = origin.as_str(),
            restore_ms = took,
            checkpoint = media.is_some(),
            "call taken over"
        );
        Adoption::Taken(view.dp_ids)
    }

    /// Reads every call's checkpoint from the workers and writes those
    /// that moved.
    fn checkpoint_all(&self, s: &CallService) {
        let Ok(all) = s.with_dataplane(|dp| Ok(dp.checkpoints(None))) else {
            return;
        };
        let mut by_dp: HashMap<u64, _> = all.into_iter().collect();
        let mut calls = Vec::new();
        for (call_id, slot) in s.calls.slots() {
            let ids = slot.with_view(|v| v.dp_ids.clone());
            let cps = ids
                .into_iter()
                .filter_map(|id| Some((id, by_dp.remove(&id)?)))
                .collect();
            calls.push((call_id, cps));
        }
        let live: std::collections::HashSet<&String> = calls.iter().map(|(id, _)| id).collect();
        {
            let mut v = lock(&self.view);
            v.media_last.retain(|k, _| live.contains(k));
            v.last_checkpoint = Some(Instant::now());
        }
        self.write_media(s, calls, false);
    }

    /// Seals and writes media checkpoints (per call, each data-plane
    /// call's legs), all in one round trip; unless `force`, only those
    /// that moved since the last write. A call the store says another
    /// node owns is dropped here.
    fn write_media(&self, s: &CallService, calls: Vec<(String, Vec<CallCheckpoint>)>, force: bool) {
        let now = now_ms();
        let mut items = Vec::with_capacity(calls.len());
        let mut digests = Vec::with_capacity(calls.len());
        for (call_id, cps) in calls {
            let cp = MediaCheckpoint {
                taken_ms: now,
                streams: cps.into_iter().collect(),
            };
            let d = digest(&cp.streams);
            if !force && lock(&self.view).media_last.get(&call_id) == Some(&d) {
                continue;
            }
            let mut plain = Vec::with_capacity(1024);
            let sealed = serde_json::to_writer(&mut plain, &cp)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
                .and_then(|()| Ok(self.persist.keys.seal(&media_aad(&call_id), &plain)?));
            match sealed {
                Ok(sealed) => {
                    items.push((call_id.clone(), sealed));
                    digests.push((call_id, d));
                }
                Err(_) => {
                    self.media_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let results = self.persist.bulk.put_media(&items, self.me());
        for ((call_id, d), r) in digests.into_iter().zip(results) {
            match r {
                Ok(()) => {
                    self.media_written.fetch_add(1, Ordering::Relaxed);
                    lock(&self.view).media_last.insert(call_id, d);
                }
                Err(StoreError::Fenced(_)) => self.drop_fenced(s, &call_id),
                Err(_) => {
                    self.media_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Stops taking new calls and hands every call off: relaying stopped
    /// here, its last checkpoint (read after its last packet) written, its
    /// owner emptied so another node adopts it at its next pass. Returns
    /// how many calls were handed off.
    pub fn drain(&self, s: &CallService) -> usize {
        self.draining.store(true, Ordering::Relaxed);
        self.beat(s);
        let mut n = 0;
        for (call_id, _) in s.calls.slots() {
            self.beat_if_due(s);
            let Some(cps) = s.forget_call(&call_id) else {
                continue;
            };
            self.persist.forget(&call_id);
            self.write_media(s, vec![(call_id.clone(), cps)], true);
            match self.persist.bulk.release(&call_id, self.me()) {
                Ok(true) => {
                    n += 1;
                    self.handed_off.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(call_id = %call_id, error = %e, "drain: could not hand the call off")
                }
            }
        }
        // The other nodes read the owners when the count moves.
        self.beat(s);
        tracing::info!(calls = n, "drained: calls handed off to the other nodes");
        n
    }

    /// Store and replication state for `/health`.
    pub fn health(&self) -> Value {
        let v = lock(&self.view);
        let peers: Vec<Value> = v
            .peers
            .iter()
            .map(|(id, p)| {
                json!({
                    "node_id": id,
                    "alive": p.changed.elapsed() < self.dead_after,
                    "draining": p.draining,
                    "heartbeat_age_ms": p.changed.elapsed().as_millis() as u64,
                })
            })
            .collect();
        json!({
            "node_id": self.persist.node_id,
            "owner_token": self.me(),
            "role": self.role.as_str(),
            "draining": self.draining.load(Ordering::Relaxed),
            "store_connected": v.connected_since.is_some(),
            "peers": peers,
            "adopted": self.adopted.load(Ordering::Relaxed),
            "adopt_failed": self.adopt_failed.load(Ordering::Relaxed),
            "dropped_fenced": self.dropped_fenced.load(Ordering::Relaxed),
            "handed_off": self.handed_off.load(Ordering::Relaxed),
            "media_checkpoints_written": self.media_written.load(Ordering::Relaxed),
            "media_checkpoint_failures": self.media_failed.load(Ordering::Relaxed),
            "heartbeat_failures": self.heartbeat_failed.load(Ordering::Relaxed),
            "last_takeover_ms": self.last_takeover_ms.load(Ordering::Relaxed),
            "longest_heartbeat_gap_ms": self.longest_beat_gap_ms.load(Ordering::Relaxed),
            "last_adopt_error": lock(&self.last_adopt_error).clone(),
            "max_srtcp_per_sec": MAX_SRTCP_PER_SEC,
        })
    }
}
