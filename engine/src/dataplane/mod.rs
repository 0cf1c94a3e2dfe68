//! The per-core relay data plane.
//!
//! One worker thread per core, shared nothing: a call's legs live on one
//! worker, so a packet never crosses threads. The control plane reaches a
//! worker only through a bounded channel (plus an `eventfd` wakeup) and
//! waits, bounded, for its ack; a worker never waits on the control plane.
//!
//! The packet path, per worker:
//!
//! ```text
//! socket ──batched recv──▶ preallocated buffer (packet | tailroom)
//!        flow lookup by socket token          Vec index, O(1), no lock
//!        relay::CallState::process            unprotect/verify in place, latch,
//!                                             protect in place (same buffer)
//!        ──batched send──▶ the other leg's socket, to its remote
//! ```
//!
//! The decisions live in [`relay`], a sans-I/O state machine tested
//! without sockets; the I/O lives in three backends behind one trait:
//! `recvmmsg`/`sendmmsg` over non-blocking sockets and level-triggered
//! epoll (with UDP GSO); io_uring (multishot `recvmsg` into a
//! provided-buffer ring, a `send` with the destination address from the
//! same buffer, sockets as registered files); and AF_XDP (an XDP program
//! steers the media ports' frames into one XSK per worker, which relays
//! them in place in the frame and sends them on its tx ring, below the
//! kernel's socket layer; `docs/xdp.md`). `auto` picks AF_XDP where the
//! media interface allows it, else io_uring where it works. Every system
//! call is in the `rampart-sys` crate, the only place `unsafe` is allowed;
//! what a failed call means comes back classified, not as an errno.
//!
//! The contract with the control plane is `docs/dataplane-contract.md`.

mod backend;
mod bundle;
mod checkpoints;
mod counters;
mod flows;
mod gso;
pub mod pacer;
pub mod relay;
mod select;
mod transport;
mod uring;
mod worker;
mod worker_start;
mod xdp;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

pub use counters::{LegCounters, LegStats, WorkerCounters, WorkerStats};
pub use flows::{CallFlows, KeyChange, LegFlows, LegUpdate, RtpSocket};
pub use transport::{TransportDatagram, TRANSPORT_QUEUE};
pub use xdp::{XdpAttach, XdpSettings};

/// Which I/O backend the workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Let the data plane choose: AF_XDP where the media interface allows
    /// it (not loopback), else io_uring where it works here (measured
    /// 14% cheaper per relayed packet than `recvmmsg`/`sendmmsg` at 1,000
    /// calls, the same at 100), else `recvmmsg`/`sendmmsg`, which works
    /// everywhere. [`DataPlane::backend_detail`] says what was tried.
    Auto,
    /// `recvmmsg`/`sendmmsg` over non-blocking sockets and epoll, with UDP
    /// GSO for runs of equal-size packets to one destination.
    Mmsg,
    /// io_uring: multishot `recvmsg` into a provided-buffer ring. Falls back
    /// to [`BackendKind::Mmsg`] (with a warning) where io_uring cannot be set
    /// up, e.g. under a container seccomp profile.
    Uring,
    /// AF_XDP: an XDP program steers the media ports' UDP into one XSK per
    /// worker (rx queue); the worker rewrites frames in place and sends
    /// them on the XSK's tx ring. Probes native zero-copy, native copy,
    /// generic copy, then falls back to [`BackendKind::Uring`] and
    /// [`BackendKind::Mmsg`].
    Xdp,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Mmsg => "mmsg",
            BackendKind::Uring => "uring",
            BackendKind::Xdp => "xdp",
        })
    }
}

/// Data-plane settings.
#[derive(Clone, Debug)]
pub struct DataPlaneConfig {
    /// Worker threads, at least 1.
    pub workers: usize,
    /// Pin worker `i` to CPU `i % ncpu`.
    pub pin_cpus: bool,
    /// The I/O backend wanted; [`DataPlane::backend`] says which runs.
    pub backend: BackendKind,
    /// Datagrams per receive/send batch (clamped to 1..=1024).
    pub batch_size: usize,
    /// Load-adaptive batching: under load a worker sleeps up to this tick
    /// between wake-ups so each serves many packets ([`pacer`]).
    pub batch_tick: pacer::BatchTick,
    /// Plain-RTP legs: how long (ms) the signalled address must have been
    /// silent before a packet from another address may latch (see
    /// [`LatchMode`]).
    pub latch_grace_ms: u64,
    /// AF_XDP settings (the interface, the attach mode).
    pub xdp: XdpSettings,
    /// The HMAC-SHA1 engine of the workers' batch crypto (`None`: what
    /// [`MacEngine::from_env`](crate::srtp::MacEngine::from_env) picks).
    pub mac_engine: Option<crate::srtp::MacEngine>,
    /// Test hooks (default: none). Not part of the API.
    #[doc(hidden)]
    pub hooks: TestHooks,
}

/// Default [`DataPlaneConfig::latch_grace_ms`]: 2 s. Long enough for a phone
/// that was just signalled to send its first packet; short enough that a
/// NATed phone whose signalled address is not its source is heard soon.
pub const DEFAULT_LATCH_GRACE_MS: u64 = 2000;

impl Default for DataPlaneConfig {
    fn default() -> Self {
        DataPlaneConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cpus: false,
            backend: BackendKind::Auto,
            batch_size: 32,
            batch_tick: pacer::BatchTick::default(),
            latch_grace_ms: DEFAULT_LATCH_GRACE_MS,
            xdp: XdpSettings::default(),
            mac_engine: None,
            hooks: TestHooks::default(),
        }
    }
}

/// Why a data-plane request failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum DataPlaneError {
    /// No call with this id on the data plane.
    UnknownCall(u64),
    /// The worker thread is gone (it panicked or was shut down).
    WorkerGone,
    /// The worker did not answer in time (its command queue is full or it
    /// is stuck); the request may still take effect.
    Timeout,
    /// A socket could not be set up (made non-blocking, registered).
    Io(std::io::Error),
    /// A call with this id is already on the data plane.
    DuplicateCall(u64),
    /// A key change was refused by the SRTP context (unknown MKI, key that
    /// does not match the suite, no SRTP context on that leg, ...).
    Srtp(crate::Error),
}

impl fmt::Display for DataPlaneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataPlaneError::UnknownCall(id) => write!(f, "unknown call {id}"),
            DataPlaneError::WorkerGone => f.write_str("data-plane worker is gone"),
            DataPlaneError::Timeout => f.write_str("data-plane worker did not answer in time"),
            DataPlaneError::Io(e) => write!(f, "data-plane socket error: {e}"),
            DataPlaneError::DuplicateCall(id) => write!(f, "call {id} already exists"),
            DataPlaneError::Srtp(e) => write!(f, "SRTP key change refused: {e}"),
        }
    }
}

impl std::error::Error for DataPlaneError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataPlaneError::Io(e) => Some(e),
            DataPlaneError::Srtp(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for DataPlaneError {
    fn from(e: std::io::Error) -> Self {
        DataPlaneError::Io(e)
    }
}

/// One of a call's two legs. A call has exactly two, so an index that
/// could be anything else is not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LegId {
    /// Leg A (the offerer's side; index 0).
    A,
    /// Leg B (index 1).
    B,
}

impl LegId {
    /// Both legs, A first.
    pub const BOTH: [LegId; 2] = [LegId::A, LegId::B];

    /// The other leg.
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }

    /// 0 for A, 1 for B (an index into a call's `[_; 2]` arrays).
    pub fn index(self) -> usize {
        match self {
            LegId::A => 0,
            LegId::B => 1,
        }
    }

    /// The leg of index 0 or 1; `None` for anything else.
    pub fn from_index(i: usize) -> Option<LegId> {
        match i {
            0 => Some(LegId::A),
            1 => Some(LegId::B),
            _ => None,
        }
    }
}

/// How the relay learns (and keeps) a leg's remote address. The HTTP API
/// names it the same way (`authenticated`, `first-packet`, `strict`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatchMode {
    /// Learn the remote from the first packet that authenticates (SRTP),
    /// and move it when an authenticated packet arrives from elsewhere
    /// (counted in `relatches`); a packet that fails parsing,
    /// authentication or the replay check never moves it. On a plain-RTP
    /// inbound leg, the plain-RTP rule below.
    ///
    /// Plain RTP (this mode and [`LatchMode::FirstPacket`]): packets carry
    /// no proof of origin, so the signalled address is preferred. A
    /// well-formed packet from the signalled address is always accepted and
    /// latches back to it (counted in `relatches`); one from another
    /// address latches only when nothing else is latched and the signalled
    /// address has been silent for [`DataPlaneConfig::latch_grace_ms`]
    /// (since the leg was set up, its signalled address changed, or it last
    /// sent), and is otherwise dropped (`dropped_latch_refused`); once
    /// latched elsewhere the latch moves only back to the signalled
    /// address (others: `dropped_strict_source`). A leg with no signalled
    /// address latches on its first well-formed packet.
    #[default]
    Authenticated,
    /// SRTP: latch once, on the first authenticated packet; never move
    /// afterwards: packets from other addresses are dropped
    /// (`dropped_strict_source`). Plain RTP: as
    /// [`LatchMode::Authenticated`].
    FirstPacket,
    /// Only the signalled address; packets from anywhere else are dropped
    /// (`dropped_strict_source`).
    Strict,
}

/// How packets received on a leg reach the other leg. The HTTP API names
/// it the same way (`transcode`, `verified-passthrough`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardMode {
    /// Unprotect with this leg's `srtp_in` (if any), protect with the other
    /// leg's `srtp_out` (if any): SRTP re-keying and SRTP/RTP bridging.
    #[default]
    Transcode,
    /// Both legs use the same keys: authenticate and replay-check with this
    /// leg's `srtp_in` (`verify_rtp`/`verify_rtcp`), forward the bytes
    /// unchanged.
    VerifiedPassthrough,
}

/// How long a control request waits for a worker's ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands queued per worker at most.
const COMMAND_QUEUE: usize = 1024;

type Ack = Sender<Result<(), DataPlaneError>>;

/// Who settles a new call: the worker when it took the call, or the
/// control plane when it stopped waiting (and forgot the call). Whoever
/// moves it from `PENDING` first wins, so a call is never left on a worker
/// that the control plane no longer knows about.
pub(crate) type AddClaim = Arc<std::sync::atomic::AtomicU8>;
/// [`AddClaim`] states.
pub(crate) const CLAIM_PENDING: u8 = 0;
pub(crate) const CLAIM_TAKEN: u8 = 1;
pub(crate) const CLAIM_ABANDONED: u8 = 2;

/// Moves `claim` from pending to `to`; false if the other side was first.
pub(crate) fn settle(claim: &AddClaim, to: u8) -> bool {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    claim
        .compare_exchange(CLAIM_PENDING, to, AcqRel, Acquire)
        .is_ok()
}

/// What the control plane asks of a worker.
pub(crate) enum Command {
    AddCall(Box<CallFlows>, Ack, AddClaim),
    UpdateLegs {
        call_id: u64,
        steps: Vec<(LegId, LegUpdate)>,
        ack: Ack,
    },
    /// Removes a call; with a sender, its last checkpoint goes there first.
    RemoveCall(u64, Ack, Option<Sender<[relay::LegCheckpoint; 2]>>),
    /// The [`relay::LegCheckpoint`]s of the calls named (all: `None`).
    Checkpoint(Option<Vec<u64>>, Sender<Vec<relay::CallCheckpoint>>),
    /// Where transport legs' STUN and DTLS datagrams go from now on.
    TransportSink(Sender<TransportDatagram>),
    /// Sends a datagram from a leg's socket (a STUN answer, a DTLS flight).
    SendFrom(Box<transport::SendFrom>),
    /// A clone of a leg's RTP socket (for the transport service's sends).
    LegSocket(
        u64,
        LegId,
        Sender<Result<std::net::UdpSocket, DataPlaneError>>,
    ),
    Shutdown,
}

struct WorkerHandle {
    commands: Sender<Command>,
    wake: Arc<rampart_sys::EventFd>,
    counters: Arc<WorkerCounters>,
    thread: Option<JoinHandle<()>>,
}

/// The running data plane: its workers and where each call lives.
pub struct DataPlane {
    backend: BackendKind,
    backend_detail: String,
    workers: Vec<WorkerHandle>,
    placement: Mutex<Placement>,
    ack_timeout: Duration,
}

/// Which worker holds which call, and how many calls each holds.
#[derive(Default)]
struct Placement {
    by_call: HashMap<u64, usize>,
    load: Vec<usize>,
}

impl Placement {
    fn remove(&mut self, id: u64) {
        if let Some(w) = self.by_call.remove(&id) {
            if let Some(l) = self.load.get_mut(w) {
                *l = l.saturating_sub(1);
            }
        }
    }
}

impl fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataPlane")
            .field("backend", &self.backend)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Test hooks, part of [`DataPlaneConfig`] (so they apply to one data
/// plane, not to every one a process starts). Not part of the API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TestHooks {
    /// Called by a worker before each control command it handles.
    pub before_command: Option<fn()>,
    /// How long a control request waits for a worker's ack (default 5 s).
    pub ack_timeout: Option<Duration>,
    /// Called once by every worker thread when it starts, before it serves
    /// any packet (the zero-allocation test marks worker threads with it).
    pub worker_start: Option<fn()>,
}

/// Fuzzing entry (`fuzz/fuzz_targets/xdp_frame.rs`): parses `data` as a
/// frame the AF_XDP socket received; when it parses, checks the payload
/// lies inside the frame, then writes reply headers (addresses swapped) in
/// front of the payload and checks they parse back to the same addresses
/// and length. Panics on a broken invariant. Not part of the API.
#[doc(hidden)]
pub fn fuzz_xdp_frame(data: &[u8]) {
    use xdp::frame;
    let Ok(f) = frame::parse(data) else { return };
    assert!(f.payload + f.len <= data.len(), "payload inside the frame");
    let hdr = frame::header_len(&f.src);
    let mut buf = vec![0u8; hdr + f.len];
    buf[hdr..].copy_from_slice(&data[f.payload..f.payload + f.len]);
    let l2 = frame::L2 {
        src: [2, 0, 0, 0, 0, 1],
        dst: [2, 0, 0, 0, 0, 2],
    };
    let start = frame::write_headers(&mut buf, hdr, f.len, f.dst, f.src, &l2, 7)
        .expect("a parsed frame's reply fits");
    assert_eq!(start, 0);
    let back = frame::parse(&buf).expect("written headers parse");
    assert_eq!((back.src, back.dst, back.len), (f.dst, f.src, f.len));
    assert_eq!(back.payload, hdr);
}

/// Whether io_uring (with the features the uring backend needs) can be set
/// up in this process. Used by tests; not part of the API.
#[doc(hidden)]
pub fn uring_probe() -> std::io::Result<()> {
    uring::probe()
}

impl DataPlane {
    /// Starts the workers and waits until each runs its backend.
    pub fn start(cfg: DataPlaneConfig) -> std::io::Result<DataPlane> {
        let workers = cfg.workers.max(1);
        let batch = cfg.batch_size.clamp(1, 1024);
        let resolved = select::resolve_backend(&cfg, workers);
        let mut backend = resolved.kind;
        let backend_detail = resolved.detail;
        let (xdp_shared, mut xdp_sockets) = match resolved.xdp {
            Some(setup) => (Some(setup.shared), setup.sockets),
            None => (None, Vec::new()),
        };
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hook = cfg.hooks.worker_start;
        let test_hooks = cfg.hooks;
        let mut handles: Vec<WorkerHandle> = Vec::with_capacity(workers);
        let mut started = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx): (Sender<Command>, Receiver<Command>) =
                crossbeam_channel::bounded(COMMAND_QUEUE);
            let wake = Arc::new(rampart_sys::EventFd::new()?);
            let counters = Arc::new(WorkerCounters::default());
            let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
            let spec = worker_start::WorkerSpec {
                index: i,
                cpu: cfg.pin_cpus.then_some(i % ncpu),
                backend,
                batch,
                latch_grace_ms: cfg.latch_grace_ms,
                mac_engine: cfg.mac_engine,
                commands: rx,
                wake: Arc::clone(&wake),
                counters: Arc::clone(&counters),
                ready: ready_tx,
                hook,
                before_command: test_hooks.before_command,
                batch_tick: cfg.batch_tick,
                xdp: xdp_shared.as_ref().map(|shared| worker_start::WorkerXdp {
                    shared: Arc::clone(shared),
                    socket: xdp_sockets.get_mut(i).and_then(Option::take),
                    queue: i as u32,
                }),
            };
            let thread = std::thread::Builder::new()
                .name(format!("rampart-w{i}"))
                .spawn(move || worker_start::run(spec))?;
            handles.push(WorkerHandle {
                commands: tx,
                wake,
                counters,
                thread: Some(thread),
            });
            started.push(ready_rx);
        }
        let mut failure = None;
        for (i, ready) in started.iter().enumerate() {
            match ready.recv_timeout(ACK_TIMEOUT) {
                Ok(Ok(kind)) => backend = kind,
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(std::io::Error::other(format!(
                        "data-plane worker {i} did not start"
                    )));
                }
            }
        }
        let plane = DataPlane {
            backend,
            backend_detail,
            workers: handles,
            placement: Mutex::new(Placement {
                by_call: HashMap::new(),
                load: vec![0; workers],
            }),
            ack_timeout: test_hooks.ack_timeout.unwrap_or(ACK_TIMEOUT),
        };
        if let Some(e) = failure {
            plane.shutdown();
            return Err(e);
        }
        tracing::info!(
            backend = %backend,
            detail = %plane.backend_detail,
            workers,
            batch,
            batch_tick_us = cfg.batch_tick.tick.as_micros() as u64,
            batch_tick_min_pps = cfg.batch_tick.min_pps,
            pin_cpus = cfg.pin_cpus,
            "data plane started"
        );
        Ok(plane)
    }

    /// The backend the workers actually run ([`BackendKind::Mmsg`],
    /// [`BackendKind::Uring`] or [`BackendKind::Xdp`]).
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// What runs and why, in one line: the AF_XDP mode and interface, or
    /// why a faster backend was not used.
    pub fn backend_detail(&self) -> &str {
        &self.backend_detail
    }

    /// Number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.placement
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a command to `worker` and waits, bounded, for its ack. With
    /// `claim` (a new call), giving up on the wait also settles the claim,
    /// unless the worker took the call first: then its ack is returned.
    fn request(
        &self,
        worker: usize,
        claim: Option<&AddClaim>,
        make: impl FnOnce(Ack) -> Command,
    ) -> Result<(), DataPlaneError> {
        let w = self.workers.get(worker).ok_or(DataPlaneError::WorkerGone)?;
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + self.ack_timeout;
        match w.commands.send_deadline(make(ack_tx), deadline) {
            Ok(()) => {}
            Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => {
                return Err(DataPlaneError::Timeout)
            }
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
                return Err(DataPlaneError::WorkerGone)
            }
        }
        w.wake.wake();
        match ack_rx.recv_deadline(deadline) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => match claim {
                Some(c) if !settle(c, CLAIM_ABANDONED) => {
                    // The worker took the call as we gave up: its ack is
                    // on its way (sent right after it settled the claim).
                    ack_rx
                        .recv_timeout(self.ack_timeout)
                        .unwrap_or(Err(DataPlaneError::Timeout))
                }
                _ => Err(DataPlaneError::Timeout),
            },
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                Err(DataPlaneError::WorkerGone)
            }
        }
    }

    /// Hands a call's sockets and keys to one worker (all legs on the same
    /// worker, the one with the fewest calls, or the bundle owner's for a
    /// leg that joins a bundle: [`RtpSocket::Bundled`]) and waits, bounded, for the
    /// worker's ack. On [`DataPlaneError::Timeout`] the call is forgotten
    /// here, and a worker that gets to it later drops it (closing its
    /// sockets) instead of relaying a call nobody can remove.
    pub fn add_call(&self, call: CallFlows) -> Result<(), DataPlaneError> {
        let id = call.id;
        let mut bundled_with = None;
        for leg in &call.legs {
            match &leg.rtp_socket {
                RtpSocket::Own(s) => s.set_nonblocking(true)?,
                RtpSocket::Bundled { owner, .. } => bundled_with = Some(*owner),
            }
            if let Some(s) = &leg.rtcp_socket {
                s.set_nonblocking(true)?;
            }
        }
        let worker = {
            let mut placement = self.placement();
            if placement.by_call.contains_key(&id) {
                return Err(DataPlaneError::DuplicateCall(id));
            }
            // A bundle's sections share a socket: one worker runs them all.
            let worker = match bundled_with {
                Some(owner) => *placement
                    .by_call
                    .get(&owner)
                    .ok_or(DataPlaneError::UnknownCall(owner))?,
                None => (0..placement.load.len())
                    .min_by_key(|&i| placement.load[i])
                    .unwrap_or(0),
            };
            placement.by_call.insert(id, worker);
            if let Some(l) = placement.load.get_mut(worker) {
                *l += 1;
            }
            worker
        };
        let claim: AddClaim = Arc::new(std::sync::atomic::AtomicU8::new(CLAIM_PENDING));
        let r = self.request(worker, Some(&claim), |ack| {
            Command::AddCall(Box::new(call), ack, Arc::clone(&claim))
        });
        if r.is_err() {
            self.placement().remove(id);
        }
        r
    }

    /// Changes one leg of a running call: remote addresses, latch and
    /// forward modes, keys. Waits, bounded, for the worker's ack.
    pub fn update_leg(
        &self,
        call_id: u64,
        leg: LegId,
        update: LegUpdate,
    ) -> Result<(), DataPlaneError> {
        self.update_legs(call_id, vec![(leg, update)])
    }

    /// Applies `steps` to a running call in order, all or none, between
    /// two packets (see [`relay::CallState::apply_all`]): a rekey whose
    /// key steps and forward modes change together. Waits, bounded, for
    /// the worker's ack.
    pub fn update_legs(
        &self,
        call_id: u64,
        steps: Vec<(LegId, LegUpdate)>,
    ) -> Result<(), DataPlaneError> {
        let worker = *self
            .placement()
            .by_call
            .get(&call_id)
            .ok_or(DataPlaneError::UnknownCall(call_id))?;
        self.request(worker, None, |ack| Command::UpdateLegs {
            call_id,
            steps,
            ack,
        })
    }

    /// Removes a call; the worker closes its sockets.
    pub fn remove_call(&self, call_id: u64) -> Result<(), DataPlaneError> {
        self.remove(call_id, None)
    }

    /// Removes a call, handing its last checkpoint to `checkpoint` first
    /// (read after its last packet, so it is exact).
    fn remove(
        &self,
        call_id: u64,
        checkpoint: Option<Sender<[relay::LegCheckpoint; 2]>>,
    ) -> Result<(), DataPlaneError> {
        let worker = *self
            .placement()
            .by_call
            .get(&call_id)
            .ok_or(DataPlaneError::UnknownCall(call_id))?;
        let r = self.request(worker, None, |ack| {
            Command::RemoveCall(call_id, ack, checkpoint)
        });
        if !matches!(r, Err(DataPlaneError::Timeout)) {
            self.placement().remove(call_id);
        }
        r
    }

    /// Per-worker totals, one entry per worker.
    pub fn worker_stats(&self) -> Vec<Arc<WorkerCounters>> {
        self.workers
            .iter()
            .map(|w| Arc::clone(&w.counters))
            .collect()
    }

    /// Stops: each worker finishes the batch in hand and exits; joins them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for w in &self.workers {
            // A full queue still ends the worker: dropping the sender below
            // disconnects the channel, which the worker treats as shutdown.
            let _ = w.commands.try_send(Command::Shutdown);
            w.wake.wake();
        }
        for w in &mut self.workers {
            let (dead_tx, _) = crossbeam_channel::bounded(1);
            // Replace the sender so the channel disconnects.
            drop(std::mem::replace(&mut w.commands, dead_tx));
            w.wake.wake();
            if let Some(t) = w.thread.take() {
                if t.join().is_err() {
                    tracing::error!("data-plane worker panicked");
                }
            }
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
