//! The control-plane side of WebRTC legs: one thread that takes the STUN
//! and DTLS datagrams the workers hand over, runs each leg's
//! [`Transport`], sends its answers from the leg's socket, and moves what
//! it learns into the data plane: the nominated address becomes the leg's
//! remote, and the handshake's keys its SRTP contexts.
//!
//! Why a thread of its own: a DTLS handshake costs milliseconds of
//! public-key work and runs on timers; the workers must not wait on it,
//! and the call service's command path need not either. A leg is
//! registered with placeholder contexts under random keys nobody knows,
//! so until its handshake finishes nothing it receives authenticates and
//! nothing is relayed (fail closed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::Transport;
use crate::dataplane::relay::Channel;
use crate::dataplane::{
    DataPlane, DataPlaneError, KeyChange, LegId, LegUpdate, TransportDatagram, TRANSPORT_QUEUE,
};
use crate::srtp::{Context, MasterKey, Policy, Suite};

/// How often handshakes' timers are looked at.
const TICK: Duration = Duration::from_millis(100);
/// Datagrams taken per wake-up at most.
const BURST: usize = 64;

/// What the service did, for `/health` and metrics.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    /// Datagrams taken from the workers.
    pub datagrams: AtomicU64,
    /// Datagrams for no registered leg (a leg just removed).
    pub unknown_leg: AtomicU64,
    /// Datagrams a transport dropped (forged checks, stray records).
    pub dropped: AtomicU64,
    /// Pairs nominated.
    pub nominations: AtomicU64,
    /// Handshakes finished and keyed.
    pub handshakes: AtomicU64,
    /// Handshakes failed (fingerprint mismatch, alert, no profile).
    pub handshake_failures: AtomicU64,
    /// Datagrams (STUN answers, DTLS flights) sent from a leg's socket.
    pub sent: AtomicU64,
    /// Of those, refused by the socket (a full send buffer; the peer or
    /// the DTLS timer sends again).
    pub send_failed: AtomicU64,
}

struct Leg {
    transport: Transport,
    /// The handshake keys the leg (else SDES does, and only ICE runs here).
    dtls: bool,
    failed: bool,
    /// The handshake's keys are in the worker.
    keyed: bool,
    /// What the worker was last told of the peer's ICE consent.
    consent: bool,
    /// Other data-plane calls bundled on this leg's transport (RFC 8843):
    /// its nomination, consent and keys go to their same leg too.
    members: Vec<u64>,
    /// A clone of the leg's RTP socket: the service sends its answers and
    /// flights itself, without waking the worker (`None`: through the
    /// worker, `DataPlane::send_from`).
    socket: Option<Arc<std::net::UdpSocket>>,
}

/// Told of each handshake that keyed a leg: data-plane call, leg, keys.
pub type KeyedHook = Box<dyn Fn(u64, LegId, &crate::dtls::SrtpKeys) + Send + Sync>;

/// The running service.
pub struct TransportService {
    legs: Arc<Mutex<HashMap<(u64, LegId), Leg>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dp: DataPlaneRef,
    cert: crate::dtls::Certificate,
    keyed: Arc<std::sync::OnceLock<KeyedHook>>,
    /// The origin of the thread's clock (ms since then).
    started: Instant,
    /// Its counters.
    pub counters: Arc<ServiceCounters>,
}

/// How the service reaches the data plane: one it shares, or the node's,
/// which the node takes out at shutdown.
#[derive(Clone)]
pub enum DataPlaneRef {
    /// A data plane of its own (tests, embedders).
    Owned(Arc<DataPlane>),
    /// The call service's slot (`None` once shut down).
    Shared(Arc<RwLock<Option<DataPlane>>>),
}

impl From<Arc<DataPlane>> for DataPlaneRef {
    fn from(dp: Arc<DataPlane>) -> DataPlaneRef {
        DataPlaneRef::Owned(dp)
    }
}

impl DataPlaneRef {
    fn with<R>(
        &self,
        f: impl FnOnce(&DataPlane) -> Result<R, DataPlaneError>,
    ) -> Result<R, DataPlaneError> {
        match self {
            DataPlaneRef::Owned(dp) => f(dp),
            DataPlaneRef::Shared(slot) => {
                let guard = slot.read().unwrap_or_else(|e| e.into_inner());
                match guard.as_ref() {
                    Some(dp) => f(dp),
                    None => Err(DataPlaneError::WorkerGone),
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A context under a fresh random key: what a leg holds until its
/// handshake gives it real keys (nothing authenticates under it).
pub fn placeholder() -> Result<Context, DataPlaneError> {
    let suite = Suite::AeadAes128Gcm;
    let mut k = zeroize::Zeroizing::new([0u8; 28]);
    getrandom::fill(&mut k[..])
        .map_err(|e| DataPlaneError::Io(std::io::Error::other(e.to_string())))?;
    let key = MasterKey::from_concatenated(suite, &k[..]).map_err(DataPlaneError::Srtp)?;
    Context::new(Policy::new(suite, key)).map_err(DataPlaneError::Srtp)
}

impl TransportService {
    /// Starts the service for `dp`, presenting `cert` in every handshake:
    /// the workers hand it transport legs' datagrams from now on.
    pub fn start(
        dp: impl Into<DataPlaneRef>,
        cert: crate::dtls::Certificate,
    ) -> Result<TransportService, DataPlaneError> {
        let dp: DataPlaneRef = dp.into();
        let (sink, rx) = crossbeam_channel::bounded(TRANSPORT_QUEUE);
        dp.with(|d| d.set_transport_sink(&sink))?;
        let legs: Arc<Mutex<HashMap<(u64, LegId), Leg>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(ServiceCounters::default());
        let keyed: Arc<std::sync::OnceLock<KeyedHook>> = Arc::default();
        let started = Instant::now();
        let thread = {
            let (legs, stop, counters, dp, hook) = (
                Arc::clone(&legs),
                Arc::clone(&stop),
                Arc::clone(&counters),
                dp.clone(),
                Arc::clone(&keyed),
            );
            std::thread::Builder::new()
                .name("rampart-webrtc".into())
                .spawn(move || run(&rx, &legs, &stop, (&counters, &hook), &dp, started))
                .map_err(DataPlaneError::Io)?
        };
        Ok(TransportService {
            legs,
            stop,
            thread: Mutex::new(Some(thread)),
            dp,
            cert,
            keyed,
            started,
            counters,
        })
    }

    /// Calls `hook` after each handshake that keyed a leg (once set, it
    /// stays: the node sets it when it keeps call state in a store).
    pub fn on_keyed(&self, hook: KeyedHook) {
        let _ = self.keyed.set(hook);
    }

    /// The certificate every handshake presents (its fingerprint goes in
    /// the SDP).
    pub fn certificate(&self) -> &crate::dtls::Certificate {
        &self.cert
    }

    /// Runs `transport` for `leg` of data-plane call `call_id`. With
    /// `dtls`, the handshake keys the leg: it is given placeholder
    /// contexts first (nothing relays until the handshake). Without, only
    /// ICE runs here and the leg keeps its (SDES or plain) keys. Either
    /// way its STUN and DTLS come here. A leg registered again (a new
    /// fingerprint or ICE credentials on a re-offer) starts over.
    pub fn add_leg(
        &self,
        call_id: u64,
        leg: LegId,
        transport: Transport,
        dtls: bool,
    ) -> Result<(), DataPlaneError> {
        // The socket of a leg that starts over is the same one.
        let kept = lock(&self.legs)
            .get(&(call_id, leg))
            .and_then(|l| l.socket.clone());
        let socket = match kept {
            Some(s) => Some(s),
            None => self
                .dp
                .with(|dp| dp.leg_socket(call_id, leg))
                .ok()
                .map(Arc::new),
        };
        lock(&self.legs).insert(
            (call_id, leg),
            Leg {
                transport,
                dtls,
                failed: false,
                keyed: false,
                consent: !dtls,
                members: Vec::new(),
                socket,
            },
        );
        let (srtp_in, srtp_out) = if dtls {
            (
                Some(KeyChange::Context(Some(placeholder()?))),
                Some(KeyChange::Context(Some(placeholder()?))),
            )
        } else {
            (None, None)
        };
        let r = self.dp.with(|dp| {
            dp.update_leg(
                call_id,
                leg,
                LegUpdate {
                    srtp_in,
                    srtp_out,
                    transport: Some(true),
                    // Nothing goes to a DTLS peer before its handshake:
                    // under placeholder keys it could only be noise to it.
                    consent: Some(!dtls),
                    ..Default::default()
                },
            )
        });
        if r.is_err() {
            lock(&self.legs).remove(&(call_id, leg));
        }
        r
    }

    /// [`TransportService::add_leg`] for a leg taken over from another
    /// node with its keys: `transport` runs ICE only, continuing the pair
    /// `selected` there nominated (consent fresh from now), and the leg's
    /// contexts stay as they are.
    pub fn add_resumed_leg(
        &self,
        call_id: u64,
        leg: LegId,
        mut transport: Transport,
        selected: Option<std::net::SocketAddr>,
    ) -> Result<(), DataPlaneError> {
        if let Some(sel) = selected {
            transport.resume_pair(sel, self.started.elapsed().as_millis() as u64);
        }
        self.add_leg(call_id, leg, transport, false)
    }

    /// Stops running `leg` of `call_id` here (it is no WebRTC leg any
    /// more): its worker keeps STUN and DTLS to itself again.
    pub fn remove_leg(&self, call_id: u64, leg: LegId) -> Result<(), DataPlaneError> {
        if lock(&self.legs).remove(&(call_id, leg)).is_none() {
            return Ok(());
        }
        self.dp.with(|dp| {
            dp.update_leg(
                call_id,
                leg,
                LegUpdate {
                    transport: Some(false),
                    consent: Some(true),
                    ..Default::default()
                },
            )
        })
    }

    /// Makes `members` (other data-plane calls whose `leg` joined the
    /// socket of `call_id`'s, [`crate::dataplane::RtpSocket::Bundled`])
    /// share this leg's transport: one ICE pair, one DTLS association,
    /// its keys in every member. A member new to the bundle gets what the
    /// transport has now (the selected pair, the keys, or placeholders
    /// until the handshake). Errors when the leg is not here.
    pub fn set_bundle(
        &self,
        call_id: u64,
        leg: LegId,
        members: Vec<u64>,
    ) -> Result<(), DataPlaneError> {
        let (new, keys, selected, dtls) = {
            let mut all = lock(&self.legs);
            let l = all
                .get_mut(&(call_id, leg))
                .ok_or(DataPlaneError::UnknownCall(call_id))?;
            let new: Vec<u64> = members
                .iter()
                .copied()
                .filter(|m| !l.members.contains(m))
                .collect();
            l.members = members;
            let selected = l.transport.ice().and_then(|i| i.selected());
            (new, l.transport.keys().cloned(), selected, l.dtls)
        };
        for m in new {
            let mut u = match (&keys, dtls) {
                (Some(k), _) => key_update(k)?,
                (None, true) => LegUpdate {
                    srtp_in: Some(KeyChange::Context(Some(placeholder()?))),
                    srtp_out: Some(KeyChange::Context(Some(placeholder()?))),
                    ..Default::default()
                },
                (None, false) => LegUpdate::default(),
            };
            u.remote_rtp = selected;
            u.consent = Some(keys.is_some() || !dtls);
            self.dp.with(|dp| dp.update_leg(m, leg, u))?;
        }
        Ok(())
    }

    /// Adds `member` to the bundle on `leg` of `call_id` (see
    /// [`TransportService::set_bundle`]).
    pub fn join_bundle(&self, call_id: u64, leg: LegId, member: u64) -> Result<(), DataPlaneError> {
        let mut members = lock(&self.legs)
            .get(&(call_id, leg))
            .ok_or(DataPlaneError::UnknownCall(call_id))?
            .members
            .clone();
        if !members.contains(&member) {
            members.push(member);
        }
        self.set_bundle(call_id, leg, members)
    }

    /// Legs running here now.
    pub fn leg_count(&self) -> usize {
        lock(&self.legs).len()
    }

    /// Forgets the legs of `call_id` (the call ended), and the call as a
    /// member of any bundle.
    pub fn remove_call(&self, call_id: u64) {
        let mut legs = lock(&self.legs);
        legs.retain(|(c, _), _| *c != call_id);
        for l in legs.values_mut() {
            l.members.retain(|m| *m != call_id);
        }
    }

    /// An ICE restart on a running leg: `agent` answers its checks from
    /// now on; its DTLS association and keys stay. False when the leg is
    /// not here.
    pub fn restart_ice(&self, call_id: u64, leg: LegId, agent: crate::ice::lite::IceLite) -> bool {
        match lock(&self.legs).get_mut(&(call_id, leg)) {
            Some(l) => {
                l.transport.restart_ice(agent);
                true
            }
            None => false,
        }
    }

    /// Whether `leg` of `call_id` finished its handshake and its worker
    /// holds the keys.
    pub fn is_keyed(&self, call_id: u64, leg: LegId) -> bool {
        lock(&self.legs)
            .get(&(call_id, leg))
            .is_some_and(|l| l.keyed)
    }

    /// Stops the thread (within one tick) and waits for it.
    pub fn stop(self) {
        self.halt();
    }

    /// [`TransportService::stop`] through a shared reference (the node
    /// stops it before taking its data plane out).
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

impl Drop for TransportService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(
    rx: &Receiver<TransportDatagram>,
    legs: &Mutex<HashMap<(u64, LegId), Leg>>,
    stop: &AtomicBool,
    (counters, hook): (&ServiceCounters, &std::sync::OnceLock<KeyedHook>),
    dp: &DataPlaneRef,
    start: Instant,
) {
    let mut next_tick = Instant::now() + TICK;
    while !stop.load(Ordering::Relaxed) {
        let now_ms = start.elapsed().as_millis() as u64;
        // Plans are made under the lock; the data plane (which may wait for
        // a worker's ack) is asked after it is released.
        let mut plans = Vec::new();
        let first = match rx.recv_deadline(next_tick) {
            Ok(d) => Some(d),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(d) = first {
            // What else is queued goes under the same lock (one wake-up
            // for a burst).
            let mut all = lock(legs);
            for d in std::iter::once(d).chain(rx.try_iter().take(BURST - 1)) {
                counters.datagrams.fetch_add(1, Ordering::Relaxed);
                match all.get_mut(&(d.call_id, d.leg)) {
                    Some(leg) => {
                        let o = leg.transport.on_datagram(&d.bytes, d.from, now_ms);
                        plans.push(plan(counters, d.call_id, d.leg, d.channel, leg, o));
                    }
                    None => {
                        counters.unknown_leg.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        // Timers run on time even while datagrams keep coming (a flood
        // must not hold up other legs' retransmissions).
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            let mut all = lock(legs);
            for (&(call_id, l), leg) in all.iter_mut() {
                if leg.failed {
                    continue;
                }
                if leg.dtls && leg.transport.keys().is_none() {
                    let o = leg.transport.on_timer();
                    plans.push(plan(counters, call_id, l, Channel::Rtp, leg, o));
                    continue;
                }
                // RFC 7675: no valid check from the pair for 30 s, no
                // media to it (and media again once checks return).
                let ok = leg.transport.may_send(now_ms);
                if ok != leg.consent {
                    leg.consent = ok;
                    tracing::info!(call = call_id, leg = ?l, consent = ok, "ICE consent changed");
                    let mut p = plan(
                        counters,
                        call_id,
                        l,
                        Channel::Rtp,
                        leg,
                        super::Outcome::default(),
                    );
                    p.consent = Some(ok);
                    plans.push(p);
                }
            }
        }
        for p in plans {
            let (call_id, leg) = (p.call_id, p.leg);
            if execute(dp, counters, p, hook.get()) {
                if let Some(l) = lock(legs).get_mut(&(call_id, leg)) {
                    l.keyed = true;
                    l.consent = true;
                }
            }
        }
    }
}

/// What to do for one leg once the lock is released.
struct Plan {
    call_id: u64,
    leg: LegId,
    channel: Channel,
    send: Vec<(Vec<u8>, std::net::SocketAddr)>,
    nominated: Option<std::net::SocketAddr>,
    /// New keys, exported by the handshake that just finished.
    keys: Option<crate::dtls::SrtpKeys>,
    /// The leg's bundle members (they get the same changes).
    members: Vec<u64>,
    /// Where to send from (see [`Leg::socket`]).
    socket: Option<Arc<std::net::UdpSocket>>,
    /// The peer's ICE consent changed.
    consent: Option<bool>,
}

/// Counts what a transport returned and turns it into a [`Plan`].
fn plan(
    counters: &ServiceCounters,
    call_id: u64,
    leg_id: LegId,
    channel: Channel,
    leg: &mut Leg,
    o: super::Outcome,
) -> Plan {
    if o.dropped.is_some() {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(super::Dropped::Dtls(e)) = &o.dropped {
        if !leg.failed {
            leg.failed = true;
            counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call = call_id, leg = ?leg_id, error = %e, "DTLS handshake failed");
        }
    }
    let keys = o.connected.then(|| leg.transport.keys().cloned()).flatten();
    Plan {
        call_id,
        leg: leg_id,
        channel,
        send: o.send,
        nominated: o.nominated,
        keys,
        consent: None,
        members: leg.members.clone(),
        socket: leg.socket.clone(),
    }
}

/// The update that puts exported `k` in a leg: both contexts or neither
/// (never a leg left in plain RTP).
fn key_update(k: &crate::dtls::SrtpKeys) -> Result<LegUpdate, DataPlaneError> {
    let suite = k.profile.suite();
    let ctx = |key: &MasterKey| Context::new(Policy::new(suite, key.clone()));
    Ok(LegUpdate {
        srtp_in: Some(KeyChange::Context(Some(
            ctx(&k.remote).map_err(DataPlaneError::Srtp)?,
        ))),
        srtp_out: Some(KeyChange::Context(Some(
            ctx(&k.local).map_err(DataPlaneError::Srtp)?,
        ))),
        // Keyed: media may go to the peer from now on.
        consent: Some(true),
        ..Default::default()
    })
}

/// Sends a plan's datagrams from the leg's socket, and moves a nomination
/// or new keys into the data plane; true when keys were installed.
fn execute(
    dp: &DataPlaneRef,
    counters: &ServiceCounters,
    p: Plan,
    hook: Option<&KeyedHook>,
) -> bool {
    if p.nominated.is_some() {
        counters.nominations.fetch_add(1, Ordering::Relaxed);
    }
    let legs = || std::iter::once(p.call_id).chain(p.members.iter().copied());
    if p.nominated.is_some() || p.consent.is_some() {
        for id in legs() {
            let _ = dp.with(|d| {
                d.update_leg(
                    id,
                    p.leg,
                    LegUpdate {
                        remote_rtp: p.nominated,
                        consent: p.consent,
                        ..Default::default()
                    },
                )
            });
        }
    }
    // Keys before the flight that finishes the handshake: a client sends
    // media as soon as it has our Finished, and its first packets must
    // meet the keys, not the placeholders. Every bundle member gets them
    // (contexts of its own under the one key: the worker keeps their
    // SSRCs apart).
    let install = |id: u64, keys: &crate::dtls::SrtpKeys| {
        key_update(keys).and_then(|u| dp.with(|d| d.update_leg(id, p.leg, u)))
    };
    let keyed = p.keys.as_ref().map(|keys| {
        match install(p.call_id, keys) {
            Ok(()) => {
                counters.handshakes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(call = p.call_id, leg = ?p.leg, profile = ?keys.profile, "DTLS-SRTP keyed");
                if let Some(h) = hook {
                    h(p.call_id, p.leg, keys);
                }
                // A member that cannot take the keys (it just ended)
                // costs the others nothing.
                for &id in &p.members {
                    match install(id, keys) {
                        Ok(()) => {
                            if let Some(h) = hook {
                                h(id, p.leg, keys);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(call = id, leg = ?p.leg, error = %e, "DTLS keys not installed in a bundle member")
                        }
                    }
                }
                true
            }
            Err(e) => {
                counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call = p.call_id, leg = ?p.leg, error = %e, "DTLS keys not installed");
                false
            }
        }
    });
    for (bytes, to) in p.send {
        match (&p.socket, p.channel) {
            (Some(sock), Channel::Rtp) => {
                let c = if sock.send_to(&bytes, to).is_ok() {
                    &counters.sent
                } else {
                    &counters.send_failed
                };
                c.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                let _ = dp.with(|d| d.send_from(p.call_id, p.leg, p.channel, to, bytes));
            }
        }
    }
    keyed.unwrap_or(false)
}
