//! The call service: one store of calls for the HTTP API, ng and the C ABI.
//!
//! Why one service: whatever made a call (a switch over ng, an
//! application over HTTP, a program linking librampart), it takes a slot
//! under the same call limit, gets data-plane ids from the same allocator,
//! keys its legs through the same [`install`] step (contexts, flows, and
//! [`install::reconcile`] of what runs against what is wanted), is listed,
//! counted and reaped by the same code, and ends through the same
//! [`CallService::end_call`]. The front-ends (`api`, `ng`, librampart) only
//! translate their protocol into calls on this service.
//!
//! Each call's record is a [`CallRecord`]: an HTTP call of two legs
//! ([`super::api::record::Call`]) or an ng call of offer/answer media sections
//! ([`super::ng_call::NgCall`]). The store never holds a lock across a
//! data-plane wait (see [`store`]).

pub mod install;
pub mod store;
pub mod webrtc;

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::dataplane::relay::CallCheckpoint;
use crate::dataplane::{DataPlane, DataPlaneError, LegCounters, LegId};
use crate::policy::CallSecurity;

use super::ports::{BoundPorts, PortPool};
pub use store::{CallStore, Slot};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The HTTP/JSON API.
    Http,
    /// A switch over the ng protocol.
    Ng,
    /// A program linking librampart's embedding API.
    Embedded,
}

impl Origin {
    /// The name in listings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::Ng => "ng",
            Origin::Embedded => "embedded",
        }
    }
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// `DELETE /calls/{id}`, an ng `delete`, or its delay running out.
    Deleted,
    /// No media for the configured time.
    NoMedia,
    /// The maximum call duration.
    MaxDuration,
    /// An ng offer never answered within `[ng] offer_timeout_secs`.
    OfferTimeout,
}

impl EndReason {
    /// API / log name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::NoMedia => "no_media",
            EndReason::MaxDuration => "max_duration",
            EndReason::OfferTimeout => "offer_timeout",
        }
    }
}

/// Why a call cannot be admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum AdmitError {
    /// `max_calls` calls are running or being created.
    Limit(usize),
    /// A call with this id exists or is being created.
    Exists,
}

/// A call as listings, metrics and the reaper see it, without waiting for
/// a command in flight on it.
#[derive(Clone)]
pub struct CallView {
    /// The call id (the SIP Call-ID for ng calls).
    pub id: String,
    /// What made it.
    pub origin: Origin,
    /// Creation, unix ms.
    pub created_ms: u64,
    /// The last signalling that changed it, unix ms.
    pub last_signal_ms: u64,
    /// Its security status.
    pub security: CallSecurity,
    /// The policy generation it was admitted under.
    pub generation: u64,
    /// The counters of every leg the data plane relays.
    pub counters: Vec<Arc<LegCounters>>,
    /// Its data-plane calls (the ids its media checkpoints are read by).
    pub dp_ids: Vec<u64>,
    /// When a command may be due on its own (an ng delete delay, an
    /// unanswered offer), unix ms: the reaper then runs
    /// [`CallRecord::housekeeping`].
    pub due_ms: Option<u64>,
    /// The origin's own fields for `GET /calls` (legs; tags and media).
    pub listing: Value,
}

impl CallView {
    /// Unix ms of the newest packet on any leg, or of the last signalling.
    pub fn last_activity_ms(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.last_packet_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
            .max(self.last_signal_ms)
            .max(self.created_ms)
    }
}

/// What a call holds that must go back when it ends.
pub struct Resources {
    /// Its data-plane calls.
    pub dp_ids: Vec<u64>,
    /// Its local RTP ports (each with its RTCP port).
    pub ports: Vec<SocketAddr>,
    /// Counters of the legs the data plane relays, folded into the totals.
    pub counters: Vec<Arc<LegCounters>>,
}

/// One call's record, whatever made it.
pub trait CallRecord: Send + 'static {
    /// The view readers get.
    fn view(&self) -> CallView;
    /// What the call holds.
    fn resources(&self) -> Resources;
    /// The call's state as a plain value: everything needed to run it
    /// again (addresses, keys and key history, negotiation state, policy
    /// decisions), without sockets or counters. It holds key material:
    /// for persistence only, never for logs or API answers.
    fn snapshot(&self) -> Result<Value, serde_json::Error>;
    /// Work due on its own at `now` (see [`CallView::due_ms`]); returns a
    /// reason to end the call.
    fn housekeeping(&mut self, _s: &CallService, _now: u64) -> Option<EndReason> {
        None
    }
    /// Calls bundled on this one's legs (they end with it).
    fn bundle_members(&self) -> Vec<String> {
        Vec::new()
    }
    /// For the front-end that made it.
    fn as_any(&self) -> &dyn Any;
    /// For the front-end that made it.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The handshake of `leg` of its data-plane call `dp_id` exported
    /// `keys`: kept in the call's state (so the call survives its node).
    /// False when the call has no such leg.
    fn dtls_keyed(&mut self, _dp_id: u64, _leg: LegId, _keys: &crate::dtls::SrtpKeys) -> bool {
        false
    }
}

/// Told of every change of every call: a command that ran on it (after
/// the command, before its reply is sent), a new call, an ended call. The
/// state store's writer ([`super::store::persist::Persist`]) is one.
pub trait CallObserver: Send + Sync {
    /// `call` was created or a command ran on it.
    fn changed(&self, call_id: &str, call: &dyn CallRecord);
    /// The call ended.
    fn ended(&self, call_id: &str);
}

/// Sums of leg counters of calls that ended, so totals survive deletion.
#[derive(Default)]
pub struct Totals {
    /// Sums by counter name (see [`LEG_COUNTERS`]).
    pub sums: [AtomicU64; LEG_COUNTERS.len()],
    /// Calls created.
    pub created: AtomicU64,
    /// Calls deleted (API, ng).
    pub deleted: AtomicU64,
    /// Calls ended for no media.
    pub timed_out_no_media: AtomicU64,
    /// Calls ended at the maximum duration.
    pub timed_out_max_duration: AtomicU64,
    /// ng calls ended because their offer was never answered in time.
    pub timed_out_offer: AtomicU64,
    /// Creates refused: call limit.
    pub refused_limit: AtomicU64,
    /// Creates refused: ports exhausted.
    pub refused_ports: AtomicU64,
    /// Creates refused: bad request.
    pub refused_invalid: AtomicU64,
    /// Creates (and ng offers/answers) refused by the security policy.
    pub refused_policy: AtomicU64,
}

impl Totals {
    /// Adds a leg's counters to the sums (the leg stops counting here).
    pub fn fold(&self, c: &LegCounters) {
        for (i, (_, get)) in LEG_COUNTERS.iter().enumerate() {
            self.sums[i].fetch_add(get(c).load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// The counter of calls ended for `reason`.
    pub fn ended(&self, reason: EndReason) -> &AtomicU64 {
        match reason {
            EndReason::Deleted => &self.deleted,
            EndReason::NoMedia => &self.timed_out_no_media,
            EndReason::MaxDuration => &self.timed_out_max_duration,
            EndReason::OfferTimeout => &self.timed_out_offer,
        }
    }
}

/// Runs `f`, which may wait (bounded) for a worker, without stalling the
/// async runtime when called from one of its worker threads.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Reads one leg counter.
pub type CounterFn = fn(&LegCounters) -> &AtomicU64;

/// Every leg counter by a stable name.
pub const LEG_COUNTERS: [(&str, CounterFn); 20] = [
    ("packets_in", |c| &c.packets_in),
    ("bytes_in", |c| &c.bytes_in),
    ("packets_out", |c| &c.packets_out),
    ("bytes_out", |c| &c.bytes_out),
    ("rtcp_in", |c| &c.rtcp_in),
    ("rtcp_out", |c| &c.rtcp_out),
    ("rtcp_bytes_in", |c| &c.rtcp_bytes_in),
    ("rtcp_bytes_out", |c| &c.rtcp_bytes_out),
    ("rtcp_errors", |c| &c.rtcp_errors),
    ("auth_failures", |c| &c.auth_failures),
    ("replays", |c| &c.replays),
    ("malformed", |c| &c.malformed),
    ("unknown_ssrc", |c| &c.unknown_ssrc),
    ("dropped_no_remote", |c| &c.dropped_no_remote),
    ("dropped_strict_source", |c| &c.dropped_strict_source),
    ("dropped_latch_refused", |c| &c.dropped_latch_refused),
    ("dropped_overload", |c| &c.dropped_overload),
    ("dropped_protect_refused", |c| &c.dropped_protect_refused),
    ("dropped_other", |c| &c.dropped_other),
    ("relatches", |c| &c.relatches),
];

/// Node-wide leg counters (ended calls plus live HTTP and ng calls), in
/// [`LEG_COUNTERS`] order, with the running calls and legs.
pub(crate) struct LegTotals {
    sums: Vec<u64>,
    /// Calls running.
    pub calls: usize,
    /// Legs running.
    pub legs: usize,
}

impl LegTotals {
    /// Sums every leg's counters now, from the calls' views (never
    /// waiting for a command in flight).
    pub(crate) fn now(s: &CallService) -> LegTotals {
        let mut sums: Vec<u64> = s.totals.sums.iter().map(load).collect();
        let (mut calls, mut legs) = (0, 0);
        s.calls.for_each_view(|v| {
            calls += 1;
            for c in &v.counters {
                legs += 1;
                for (i, (_, get)) in LEG_COUNTERS.iter().enumerate() {
                    sums[i] += load(get(c));
                }
            }
        });
        LegTotals { sums, calls, legs }
    }

    /// The sum of the counter called `name` (0 for an unknown name).
    pub(crate) fn get(&self, name: &str) -> u64 {
        LEG_COUNTERS
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| self.sums[i])
            .unwrap_or(0)
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// The call service: the store, the ports, the data plane and the totals,
/// with the configuration the node started with. The front-ends reach it
/// through [`super::shared::Shared`], which derefs to it.
pub struct CallService {
    /// The configuration the node started with.
    pub config: Config,
    /// Every call.
    pub calls: Arc<CallStore>,
    /// Media ports.
    pub ports: Mutex<PortPool>,
    /// The data plane; taken out at shutdown.
    pub dataplane: Arc<RwLock<Option<DataPlane>>>,
    /// WebRTC legs' ICE and DTLS (`None`: `[webrtc] enabled = false`).
    pub webrtc: Option<crate::webrtc::TransportService>,
    /// Counters of the control plane.
    pub totals: Totals,
    /// Sockets bound for calls but not yet handed to the data plane (an ng
    /// offer's sections until the answer), by local RTP address: the
    /// records themselves hold addresses only, so they stay plain values.
    pub reserved: Mutex<HashMap<SocketAddr, BoundPorts>>,
}

impl CallService {
    /// Runs `f` on the data plane from async code without stalling the
    /// runtime (the data plane's calls wait, bounded, for a worker's ack).
    pub fn with_dataplane<R>(
        &self,
        f: impl FnOnce(&DataPlane) -> Result<R, DataPlaneError>,
    ) -> Result<R, DataPlaneError> {
        blocking(|| {
            let guard = self.dataplane.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(dp) => f(dp),
                None => Err(DataPlaneError::WorkerGone),
            }
        })
    }

    /// Keeps the keys a handshake exported for `leg` of data-plane call
    /// `dp_id` in its call's state (which the store then writes).
    pub fn keep_dtls_keys(&self, dp_id: u64, leg: LegId, keys: &crate::dtls::SrtpKeys) {
        for (_, slot) in self.calls.slots() {
            if slot.with_view(|v| v.dp_ids.contains(&dp_id)) {
                slot.command(|rec| rec.dtls_keyed(dp_id, leg, keys));
                return;
            }
        }
    }

    /// The node certificate's fingerprint, when WebRTC legs are on.
    pub fn dtls_fingerprint(&self) -> Option<crate::dtls::Fingerprint> {
        self.webrtc.as_ref().map(|w| w.certificate().fingerprint())
    }

    /// Keeps bound sockets until the data plane takes them.
    pub fn keep_reserved(&self, b: BoundPorts) {
        self.reserved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(b.rtp_addr, b);
    }

    /// Takes the sockets reserved at `rtp`.
    pub fn take_reserved(&self, rtp: SocketAddr) -> Option<BoundPorts> {
        self.reserved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&rtp)
    }

    /// Closes the sockets reserved at `rtp` (if any) and gives the pair
    /// back to the pool.
    pub fn release_port(&self, rtp: SocketAddr) {
        drop(self.take_reserved(rtp));
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(rtp);
    }

    /// Frees what `call` holds: its data-plane calls, its ports, and folds
    /// its counters into the totals. Counts the end by `reason` (`None`: a
    /// call whose creation failed, not counted).
    pub fn release(&self, id: &str, call: &dyn CallRecord, reason: Option<EndReason>) {
        // Out of the state store first: no command can run on the call any
        // more (its record was taken after the commands in flight).
        if let Some(o) = self.calls.observer() {
            o.ended(id);
        }
        // Members first: the owner's socket closes with the last of them.
        for m in call.bundle_members() {
            self.end_call(&m, reason.unwrap_or(EndReason::Deleted));
        }
        self.free(id, call, false);
        if let Some(reason) = reason {
            self.totals.ended(reason).fetch_add(1, Ordering::Relaxed);
            let v = call.view();
            let packets_in: u64 = call
                .resources()
                .counters
                .iter()
                .map(|c| c.packets_in.load(Ordering::Relaxed))
                .sum();
            tracing::info!(
                call_id = %id,
                origin = v.origin.as_str(),
                reason = reason.as_str(),
                duration_ms = now_ms().saturating_sub(v.created_ms),
                packets_in,
                "call ended"
            );
        }
    }

    /// Frees what `call` holds here (data-plane calls, ports; counters
    /// folded into the totals) without ending it in the state store. With
    /// `checkpoints`, each data-plane call's last checkpoint (read after
    /// its last packet) is returned.
    fn free(&self, id: &str, call: &dyn CallRecord, checkpoints: bool) -> Vec<CallCheckpoint> {
        let r = call.resources();
        let mut last = Vec::new();
        for dp_id in &r.dp_ids {
            if let Some(w) = &self.webrtc {
                w.remove_call(*dp_id);
            }
            let removed = self.with_dataplane(|dp| {
                if checkpoints {
                    last.push((*dp_id, dp.remove_call_checkpointed(*dp_id)?));
                    Ok(())
                } else {
                    dp.remove_call(*dp_id)
                }
            });
            if let Err(e) = removed {
                tracing::warn!(call_id = %id, error = %e, "data plane could not remove a call");
            }
        }
        for a in &r.ports {
            self.release_port(*a);
        }
        for c in &r.counters {
            self.totals.fold(c);
        }
        last
    }

    /// Stops serving the call `id` here without ending it: its flows and
    /// ports are freed, the state store keeps it (another node serves it,
    /// or a drain hands it off). Returns each data-plane call's last
    /// checkpoint, `None` if there was no such call.
    pub fn forget_call(&self, id: &str) -> Option<Vec<CallCheckpoint>> {
        let slot = self.calls.remove(id)?;
        let record = slot.take()?;
        for m in record.bundle_members() {
            self.forget_call(&m);
        }
        Some(self.free(id, record.as_ref(), true))
    }

    /// Ends the call `id`: out of the store, its resources freed, the end
    /// counted. Returns its record (counters final), `None` if no such call.
    pub fn end_call(&self, id: &str, reason: EndReason) -> Option<Box<dyn CallRecord>> {
        let slot = self.calls.remove(id)?;
        let record = slot.take()?;
        self.release(id, record.as_ref(), Some(reason));
        Some(record)
    }

    /// One reaper pass: ends calls with no media for too long, older than
    /// the maximum duration, or whose own housekeeping says so (an ng
    /// delete delay ran out, an offer never answered). Returns how many it
    /// ended. A call with a command in flight is visited at the next pass.
    pub fn reap(&self) -> usize {
        let now = now_ms();
        let no_media_ms = self.config.timeouts.no_media_secs.saturating_mul(1000);
        let max_ms = self.config.timeouts.max_call_secs.saturating_mul(1000);
        let mut ended = 0;
        for (id, slot) in self.calls.slots() {
            let (due, created_ms, active_ms) = slot.with_view(|v| {
                (
                    v.due_ms.is_some_and(|t| t <= now),
                    v.created_ms,
                    v.last_activity_ms(),
                )
            });
            let reason = match due.then(|| slot.try_command(|c| c.housekeeping(self, now))) {
                Some(Some(Some(r))) => Some(r),
                _ if max_ms > 0 && now.saturating_sub(created_ms) >= max_ms => {
                    Some(EndReason::MaxDuration)
                }
                _ if no_media_ms > 0 && now.saturating_sub(active_ms) >= no_media_ms => {
                    Some(EndReason::NoMedia)
                }
                _ => None,
            };
            let Some(reason) = reason else { continue };
            if self.calls.remove_slot(&id, &slot) {
                if let Some(record) = slot.take() {
                    self.release(&id, record.as_ref(), Some(reason));
                    ended += 1;
                }
            }
        }
        ended
    }
}
