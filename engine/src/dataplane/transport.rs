//! The hand-over of a WebRTC leg's STUN and DTLS to the control plane, and
//! back.
//!
//! Why: ICE answers and DTLS handshakes are rare, slow (a handshake costs
//! milliseconds of public-key work) and stateful beyond a packet; on the
//! worker they would stall every other call's media. So a worker only
//! copies such a datagram into a bounded queue (a full queue drops and
//! counts: a flood of ClientHellos costs the worker a copy each and
//! reaches no established call), and the control plane answers through
//! [`DataPlane::send_from`], which the leg's own worker sends from the
//! leg's socket (the peer sees the answer come from the port it talked
//! to), or sends itself from a clone of that socket
//! ([`DataPlane::leg_socket`]): a DTLS flight then costs the worker
//! nothing, not even a wake-up. Keys and a nominated address come back as
//! ordinary [`super::LegUpdate`]s.

use std::net::SocketAddr;

use crossbeam_channel::Sender;

use super::relay::Channel;
use super::{Command, DataPlane, DataPlaneError, LegId};

/// Datagrams waiting for the control plane at most (all workers
/// together): beyond, they are dropped and counted
/// (`WorkerCounters::transport_dropped`).
pub const TRANSPORT_QUEUE: usize = 4096;

/// A STUN or DTLS datagram that arrived on a transport leg.
#[derive(Debug)]
pub struct TransportDatagram {
    /// The data-plane call.
    pub call_id: u64,
    /// Its leg.
    pub leg: LegId,
    /// The socket it came on.
    pub channel: Channel,
    /// Its source.
    pub from: SocketAddr,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A datagram the control plane sends from a leg's socket.
#[derive(Debug)]
pub(crate) struct SendFrom {
    pub call_id: u64,
    pub leg: LegId,
    pub channel: Channel,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

impl DataPlane {
    /// Where every worker hands transport legs' STUN and DTLS datagrams
    /// (a bounded channel, [`TRANSPORT_QUEUE`]).
    pub fn set_transport_sink(
        &self,
        sink: &Sender<TransportDatagram>,
    ) -> Result<(), DataPlaneError> {
        for w in &self.workers {
            w.commands
                .try_send(Command::TransportSink(sink.clone()))
                .map_err(|_| DataPlaneError::Timeout)?;
            w.wake.wake();
        }
        Ok(())
    }

    /// The worker that runs call `call_id`.
    fn worker_of(&self, call_id: u64) -> Result<&super::WorkerHandle, DataPlaneError> {
        let worker = self
            .placement
            .lock()
            .map_err(|_| DataPlaneError::WorkerGone)?
            .by_call
            .get(&call_id)
            .copied()
            .ok_or(DataPlaneError::UnknownCall(call_id))?;
        self.workers.get(worker).ok_or(DataPlaneError::WorkerGone)
    }

    /// Sends `bytes` to `to` from the socket `channel` of `leg` of call
    /// `call_id` (its worker sends it; no ack: a lost answer is
    /// retransmitted by the peer, and failures are counted).
    pub fn send_from(
        &self,
        call_id: u64,
        leg: LegId,
        channel: Channel,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<(), DataPlaneError> {
        let w = self.worker_of(call_id)?;
        let cmd = Command::SendFrom(Box::new(SendFrom {
            call_id,
            leg,
            channel,
            to,
            bytes,
        }));
        w.commands
            .try_send(cmd)
            .map_err(|_| DataPlaneError::Timeout)?;
        w.wake.wake();
        Ok(())
    }

    /// A clone of the RTP socket of `leg` of call `call_id` (the same
    /// open socket: what is sent from it leaves the leg's port). Whoever
    /// holds it keeps the port open: drop it with the leg. Waits, bounded,
    /// for the worker.
    pub fn leg_socket(
        &self,
        call_id: u64,
        leg: LegId,
    ) -> Result<std::net::UdpSocket, DataPlaneError> {
        let w = self.worker_of(call_id)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let deadline = std::time::Instant::now() + self.ack_timeout;
        w.commands
            .send_deadline(Command::LegSocket(call_id, leg, tx), deadline)
            .map_err(|_| DataPlaneError::Timeout)?;
        w.wake.wake();
        rx.recv_deadline(deadline)
            .map_err(|_| DataPlaneError::Timeout)?
    }
}
