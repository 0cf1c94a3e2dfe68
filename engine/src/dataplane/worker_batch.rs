//! The worker's receive batch, run through the SRTP batch path
//! (`srtp::batch`).
//!
//! Why here and not packet by packet: with HMAC-SHA1 suites the tag is most
//! of a relayed packet's crypto, and the multi-buffer engines hash 8 or 16
//! packets at once. So a batch runs in three steps, each over all of its
//! packets (64 at most at a time):
//!
//! 1. **Guess.** For each datagram, the MAC its receiving leg would check,
//!    from the state before the batch: nothing is counted or changed.
//! 2. **Relay.** Each datagram, in arrival order, goes through exactly the
//!    relay's single-packet steps (`CallState::process_in_batch`). Where
//!    the receive step would compute the MAC it takes the guessed one, but
//!    only if that was computed over these very bytes, with this key and
//!    ROC; otherwise it computes it as always. The send step leaves the tag
//!    to the batch. So every verdict, counter, latch and replay window is
//!    what the packet-by-packet path gives.
//! 3. **Tags.** The outbound tags are computed together and written into
//!    the packets, before the backend sends any of them.

use std::net::SocketAddr;

use super::{Table, Verdict};
use crate::dataplane::backend::{RxBatch, Tx};
use crate::dataplane::counters::{add, inc};
use crate::dataplane::relay::{Channel, DropReason, Received};
use crate::dataplane::LegId;
use crate::srtp::batch::{InBatch, PacketBufs};
use crate::srtp::{Batcher, MAX_BATCH};

/// Which call and leg a datagram goes to, and the SSRC a bundle learns
/// from it if it is genuine.
#[derive(Clone, Copy)]
struct Route {
    slot: usize,
    leg: LegId,
    channel: Channel,
    learn: Option<u32>,
}

/// A chunk of the backend's batch, from `start`, as the SRTP batch's
/// packet buffers.
struct Chunk<'a, B> {
    batch: &'a mut B,
    start: usize,
}

impl<B: RxBatch> PacketBufs for Chunk<'_, B> {
    fn buf_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        (self.start + i < self.batch.count()).then(|| self.batch.buf_mut(self.start + i))
    }
}

impl Table {
    /// Relays every datagram of `batch` (see the module docs); `out[i]`
    /// says where datagram i goes.
    pub(super) fn run_batch<B: RxBatch>(&mut self, batch: &mut B, out: &mut [Option<Tx>]) {
        let n = batch.count().min(out.len());
        let Some(mut batcher) = self.batcher.take() else {
            return;
        };
        let mut start = 0;
        while start < n {
            let end = (start + MAX_BATCH).min(n);
            self.run_chunk(&mut batcher, batch, start, &mut out[start..end]);
            start = end;
        }
        self.batcher = Some(batcher);
    }

    fn run_chunk<B: RxBatch>(
        &mut self,
        batcher: &mut Batcher,
        batch: &mut B,
        start: usize,
        out: &mut [Option<Tx>],
    ) {
        let (engine, rx, tx) = batcher.parts();
        rx.reset();
        tx.reset();
        // 1. Guess each datagram's MAC from the state before the batch.
        for k in 0..out.len() {
            let a = batch.arrival(start + k);
            let buf = batch.buf(start + k);
            let pkt = &buf[..a.len.min(buf.len())];
            let Some(r) = self.route_of(a.token, pkt) else {
                continue;
            };
            if let Some(Some(call)) = self.calls.get(r.slot) {
                call.state.speculate((r.leg, r.channel), pkt, rx, k);
            }
        }
        let view: &B = batch;
        let (mut multi, mut single) = rx.compute(engine, |k| view.buf(start + k));
        // 2. Relay each, in order, exactly as alone.
        for (k, verdict) in out.iter_mut().enumerate() {
            let a = batch.arrival(start + k);
            let crypto = InBatch {
                hint: rx.hint(k),
                defer: Some((&mut *tx, k)),
            };
            *verdict = self.relay_one(a.token, batch.buf_mut(start + k), a.len, a.src, crypto);
        }
        // 3. The outbound tags, before anything is sent.
        let view: &B = batch;
        let (m, s) = tx.compute(engine, |k| view.buf(start + k));
        tx.write_tags(&mut Chunk { batch, start });
        (multi, single) = (multi + m, single + s);
        if multi > 0 {
            add(&self.counters.srtp_tags_multibuffer, multi as u64);
        }
        if single > 0 {
            add(&self.counters.srtp_tags_single, single as u64);
        }
    }

    /// Where a datagram on socket `token` goes; `None` for a socket the
    /// table no longer has. Reads only.
    fn route_of(&self, token: u32, pkt: &[u8]) -> Option<Route> {
        let s = self.socks.get(token as usize)?.as_ref()?;
        let mut r = Route {
            slot: s.call,
            leg: s.leg,
            channel: s.channel,
            learn: None,
        };
        if let Some(b) = &s.bundle {
            let (member, ssrc) = b.member_of(pkt);
            if let Some((slot, leg)) = member {
                (r.slot, r.leg) = (slot, leg);
            }
            r.learn = ssrc;
        }
        Some(r)
    }

    /// Relays one datagram `buf[..len]` from `src` that arrived on `token`
    /// (the relay's steps, with its share of the batch's crypto).
    fn relay_one(
        &mut self,
        token: u32,
        buf: &mut [u8],
        len: usize,
        src: SocketAddr,
        crypto: InBatch<'_>,
    ) -> Option<Tx> {
        let Some(r) = self.route_of(token, &buf[..len.min(buf.len())]) else {
            self.dropped();
            return None;
        };
        let Some(Some(call)) = self.calls.get_mut(r.slot) else {
            self.dropped();
            return None;
        };
        let received = Received {
            leg: r.leg,
            channel: r.channel,
            src,
            now_ms: self.now_ms,
        };
        match call.state.process_in_batch(received, buf, len, crypto) {
            Verdict::Forward {
                len,
                leg: out_leg,
                channel,
                dest,
                rtcp,
            } => {
                let Some(out) = call.tokens[out_leg.index()][channel as usize] else {
                    inc(&call.state.leg(out_leg).counters().dropped_other);
                    self.dropped();
                    return None;
                };
                if let Some(ssrc) = r.learn {
                    self.learn_ssrc(token, ssrc, r.slot, r.leg);
                }
                self.bundle_send(out, r.slot, out_leg, &buf[..len.min(buf.len())], rtcp)
                    .then_some(Tx {
                        token: out,
                        dest,
                        len,
                        rtcp,
                    })
            }
            Verdict::Drop(DropReason::NotMedia) => {
                let (slot, leg, channel) = (r.slot, r.leg, r.channel);
                if !self.hand_over(slot, leg, channel, src, &buf[..len.min(buf.len())]) {
                    self.dropped();
                }
                None
            }
            Verdict::Drop(_) => {
                self.dropped();
                None
            }
        }
    }
}
