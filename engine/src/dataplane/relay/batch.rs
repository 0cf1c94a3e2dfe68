//! The relay's side of a batch (`srtp::batch`, run by the worker's
//! `worker_batch`): which MAC a received datagram will be checked with,
//! judged before the batch from the leg's state.

use std::net::SocketAddr;

use super::{CallState, Channel, LegId};
use crate::rtp::{self, PacketKind};
use crate::srtp::batch::MacQueue;

/// Where and when a datagram arrived: the leg and socket, its source and
/// the worker's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    /// The leg whose socket received it.
    pub leg: LegId,
    /// Which of its sockets.
    pub channel: Channel,
    /// The source address.
    pub src: SocketAddr,
    /// The worker's clock, in milliseconds.
    pub now_ms: u64,
}

impl CallState {
    /// Queues the MAC job of a datagram that arrived on leg `leg`'s
    /// `channel` socket into `queue` (packet `k` of the chunk), judged
    /// before the batch runs (see `srtp::batch`): nothing unless the leg
    /// authenticates and the datagram demuxes to SRTP or SRTCP there.
    /// Changes nothing and counts nothing.
    pub(crate) fn speculate(
        &self,
        (leg, channel): (LegId, Channel),
        packet: &[u8],
        queue: &mut MacQueue,
        k: usize,
    ) {
        let rx = self.leg(leg);
        let Some(ctx) = rx.srtp_in.as_ref() else {
            return;
        };
        let rtcp = match (rtp::classify(packet), channel) {
            (PacketKind::Rtp, Channel::Rtp) => false,
            (PacketKind::Rtcp, Channel::Rtcp) => true,
            (PacketKind::Rtcp, Channel::Rtp) if rx.rtcp_mux => true,
            _ => return,
        };
        ctx.speculate(rtcp, packet, queue, k);
    }
}
