//! A worker thread's start: what it is given, and which I/O backend it
//! serves with (AF_XDP → io_uring → recvmmsg/sendmmsg, each falling back
//! to the next when its setup fails on this machine, with the reason
//! logged). The packet loop itself is `worker::serve`.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::backend::MmsgBackend;
use super::pacer::BatchTick;
use super::uring::UringBackend;
use super::worker::serve;
use super::xdp::{XdpBackend, XdpShared};
use super::{BackendKind, Command, WorkerCounters};

/// What a worker thread needs to start.
pub(crate) struct WorkerSpec {
    pub index: usize,
    pub cpu: Option<usize>,
    pub backend: BackendKind,
    pub batch: usize,
    /// Plain-RTP latch grace period (ms) for the legs of this worker.
    pub latch_grace_ms: u64,
    /// The batch crypto's HMAC-SHA1 engine (`None`: auto).
    pub mac_engine: Option<crate::srtp::MacEngine>,
    pub commands: Receiver<Command>,
    pub wake: Arc<rampart_sys::EventFd>,
    pub counters: Arc<WorkerCounters>,
    pub ready: Sender<std::io::Result<BackendKind>>,
    pub hook: Option<fn()>,
    /// Test hook: called before each command.
    pub before_command: Option<fn()>,
    /// Load-adaptive batching policy.
    pub batch_tick: BatchTick,
    /// The AF_XDP parts when the data plane runs on AF_XDP.
    pub xdp: Option<WorkerXdp>,
}

/// A worker's share of the AF_XDP setup.
pub(crate) struct WorkerXdp {
    /// The program and maps.
    pub shared: Arc<XdpShared>,
    /// This worker's queue's socket (`None`: more workers than queues).
    pub socket: Option<rampart_sys::xsk::Xsk>,
    /// The queue the socket is bound to.
    pub queue: u32,
}

/// The worker thread's body.
pub(crate) fn run(mut spec: WorkerSpec) {
    if let Some(hook) = spec.hook {
        hook();
    }
    if let Some(cpu) = spec.cpu {
        if let Err(e) = rampart_sys::pin_to_cpu(cpu) {
            tracing::warn!(worker = spec.index, cpu, error = %e, "could not pin worker");
        }
    }
    if spec.backend == BackendKind::Xdp {
        if let Some(x) = spec.xdp.take() {
            let inner = MmsgBackend::new(
                spec.batch,
                Arc::clone(&spec.wake),
                Arc::clone(&spec.counters),
            );
            match inner.and_then(|inner| {
                XdpBackend::new(
                    inner,
                    x.shared,
                    x.socket,
                    x.queue,
                    Arc::clone(&spec.counters),
                )
            }) {
                Ok(b) => return serve(b, spec),
                Err(e) => tracing::warn!(
                    worker = spec.index,
                    error = %e,
                    "AF_XDP worker setup failed, falling back to recvmmsg/sendmmsg"
                ),
            }
        }
    }
    if spec.backend == BackendKind::Uring {
        match UringBackend::new(
            spec.batch,
            Arc::clone(&spec.wake),
            Arc::clone(&spec.counters),
        ) {
            Ok(b) => return serve(b, spec),
            Err(e) => tracing::warn!(
                worker = spec.index,
                error = %e,
                "io_uring setup failed, falling back to recvmmsg/sendmmsg"
            ),
        }
    }
    match MmsgBackend::new(
        spec.batch,
        Arc::clone(&spec.wake),
        Arc::clone(&spec.counters),
    ) {
        Ok(b) => serve(b, spec),
        Err(e) => {
            let _ = spec.ready.send(Err(e));
        }
    }
}
