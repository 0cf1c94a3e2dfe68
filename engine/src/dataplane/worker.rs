//! One worker thread: its flow table, its commands, its packet loop.
//!
//! The flow table maps a socket token (an index into a `Vec`) to the call
//! and leg that own the socket, and a call slot (another index) to the
//! call's relay state: a packet's lookup is two indexed loads, no hash, no
//! lock. Commands from the control plane are drained (non-blocking, a
//! bounded number per round) between batches; acks go back on per-request
//! bounded channels with `try_send`, so the worker never waits on anyone.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, TryRecvError};

use super::backend::{Backend, Handler, RxBatch, Tx};
use super::bundle::{Bundle, BUNDLE_MAX_SSRCS};
use super::counters::{add, inc};
use super::pacer::Pacer;
use super::relay::{CallState, Channel, LegParams, LegState, Verdict};
use super::transport::SendFrom;
use super::worker_start::WorkerSpec;
use crate::srtp::Batcher;

#[path = "worker_batch.rs"]
mod batch;
use super::{
    settle, CallFlows, Command, DataPlaneError, LegFlows, LegId, TransportDatagram, WorkerCounters,
    CLAIM_TAKEN,
};

/// How long a worker waits for packets before it looks at its command
/// queue anyway (the eventfd wakes it sooner).
const POLL_TIMEOUT_MS: i32 = 100;
/// Non-blocking polls at most that drain what piled up during a batching
/// tick (each takes what one wait hands over).
const MAX_DRAIN_POLLS: usize = 64;
/// Commands handled per round at most, so packets keep flowing.
const COMMANDS_PER_ROUND: usize = 64;

/// Serves `backend` until the command channel closes (the worker's
/// loop; `worker_start::run` picks the backend).
pub(super) fn serve<B: Backend>(mut backend: B, spec: WorkerSpec) {
    let kind = backend.kind();
    let _ = spec.ready.send(Ok(kind));
    tracing::info!(worker = spec.index, backend = %kind, "data-plane worker running");
    let mut pacer = Pacer::new(spec.batch_tick);
    if !spec.batch_tick.tick.is_zero() {
        // Sleeps of a tick end on time, not up to 50 µs late.
        if let Err(e) = rampart_sys::set_timer_slack(1_000) {
            tracing::warn!(worker = spec.index, error = %e, "could not set the timer slack");
        }
    }
    let clock = Instant::now();
    let mut table = Table::new(Arc::clone(&spec.counters), spec.latch_grace_ms);
    if let Some(engine) = spec.mac_engine {
        // The config checked that this CPU runs it.
        table.batcher = Batcher::with_engine(engine).ok().or(table.batcher);
    }
    'outer: loop {
        for _ in 0..COMMANDS_PER_ROUND {
            match spec.commands.try_recv() {
                Ok(cmd) => {
                    if let Some(hook) = spec.before_command {
                        hook();
                    }
                    if !table.command(cmd, &mut backend) {
                        break 'outer;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break 'outer,
            }
        }
        match backend.poll(&mut table, POLL_TIMEOUT_MS) {
            Ok(mut received) => {
                if pacer.ticking() && received > 0 {
                    // After a tick, drain: the kernel hands over a bounded
                    // amount of deferred receive work per wait, so one
                    // wait may leave packets behind (measured: a standing
                    // backlog of milliseconds without this).
                    for _ in 0..MAX_DRAIN_POLLS {
                        match backend.poll(&mut table, 0) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => received += n,
                        }
                    }
                }
                // Under load, let packets pile up for one tick so the next
                // wake-up serves many (see `pacer`); idle, wait at once.
                let now = clock.elapsed().as_nanos() as u64;
                if let Some(sleep) = pacer.after_round(now, now, received) {
                    if backend.submit().is_ok() {
                        inc(&spec.counters.batch_ticks);
                        std::thread::sleep(sleep);
                    }
                }
            }
            Err(e) => {
                tracing::error!(worker = spec.index, error = %e, "data-plane poll failed");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
    // Stop receiving before the sockets close.
    table.remove_all(&mut backend);
    drop(backend);
    tracing::info!(worker = spec.index, "data-plane worker stopped");
}

struct SockEntry {
    socket: UdpSocket,
    /// The call (slot) and leg that own the socket: they take its STUN
    /// and DTLS, and its packets when it is no bundle.
    call: usize,
    leg: LegId,
    channel: Channel,
    ovfl_seen: u32,
    /// Other calls' legs that share the socket (BUNDLE).
    bundle: Option<Box<Bundle>>,
}

struct CallEntry {
    id: u64,
    state: CallState,
    /// Socket token per leg and channel.
    tokens: [[Option<u32>; 2]; 2],
    /// Per leg: its STUN and DTLS go to the transport sink.
    transport: [bool; 2],
}

/// The worker's flow table.
struct Table {
    socks: Vec<Option<SockEntry>>,
    free_socks: Vec<u32>,
    calls: Vec<Option<CallEntry>>,
    free_calls: Vec<usize>,
    by_id: HashMap<u64, usize>,
    now_ms: u64,
    latch_grace_ms: u64,
    counters: Arc<WorkerCounters>,
    transport_sink: Option<Sender<TransportDatagram>>,
    /// The batch crypto's queues and engine (`worker_batch`); taken out
    /// while a batch runs.
    batcher: Option<Batcher>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Table {
    fn new(counters: Arc<WorkerCounters>, latch_grace_ms: u64) -> Table {
        Table {
            socks: Vec::with_capacity(256),
            free_socks: Vec::new(),
            calls: Vec::with_capacity(128),
            free_calls: Vec::new(),
            by_id: HashMap::new(),
            now_ms: now_ms(),
            latch_grace_ms,
            counters,
            transport_sink: None,
            batcher: Some(Batcher::new()),
        }
    }

    /// Handles one command; `false` means stop.
    fn command<B: Backend>(&mut self, cmd: Command, backend: &mut B) -> bool {
        inc(&self.counters.commands);
        // The clock may be stale after an idle wait; a new leg's latch
        // grace period starts now, not at the last batch.
        self.now_ms = now_ms();
        match cmd {
            Command::AddCall(flows, ack, claim) => {
                let id = flows.id;
                let mut r = self.add_call(*flows, backend);
                if r.is_ok() && !settle(&claim, CLAIM_TAKEN) {
                    // The control plane stopped waiting and forgot this
                    // call: nobody could ever remove it, so drop it now.
                    if let Some(slot) = self.by_id.remove(&id) {
                        self.drop_call(slot, backend);
                    }
                    tracing::warn!(
                        call = id,
                        "call reached the worker after its request timed out; dropped"
                    );
                    r = Err(DataPlaneError::Timeout);
                }
                let _ = ack.try_send(r);
            }
            Command::UpdateLegs {
                call_id,
                steps,
                ack,
            } => {
                let r = match self.by_id.get(&call_id) {
                    None => Err(DataPlaneError::UnknownCall(call_id)),
                    Some(&slot) => match self.calls[slot].as_mut() {
                        Some(c) => {
                            let transport: Vec<(LegId, bool)> = steps
                                .iter()
                                .filter_map(|(l, u)| Some((*l, u.transport?)))
                                .collect();
                            let r = c.state.apply_all(steps, self.now_ms);
                            if r.is_ok() {
                                for (l, on) in transport {
                                    c.transport[l.index()] = on;
                                }
                            }
                            r.map_err(DataPlaneError::Srtp)
                        }
                        None => Err(DataPlaneError::UnknownCall(call_id)),
                    },
                };
                let _ = ack.try_send(r);
            }
            Command::RemoveCall(call_id, ack, checkpoint) => {
                let r = match self.by_id.remove(&call_id) {
                    Some(slot) => {
                        if let (Some(tx), Some(Some(c))) = (checkpoint, self.calls.get(slot)) {
                            let _ = tx.try_send(c.state.checkpoint());
                        }
                        self.drop_call(slot, backend);
                        Ok(())
                    }
                    None => Err(DataPlaneError::UnknownCall(call_id)),
                };
                let _ = ack.try_send(r);
            }
            Command::Checkpoint(only, reply) => {
                let read = |id: u64| {
                    let slot = *self.by_id.get(&id)?;
                    let c = self.calls.get(slot)?.as_ref()?;
                    Some((id, c.state.checkpoint()))
                };
                let out = match only {
                    Some(ids) => ids.into_iter().filter_map(read).collect(),
                    None => self.by_id.keys().filter_map(|&id| read(id)).collect(),
                };
                let _ = reply.try_send(out);
            }
            Command::TransportSink(sink) => self.transport_sink = Some(sink),
            Command::SendFrom(s) => self.send_from(&s),
            Command::LegSocket(call_id, leg, reply) => {
                let sock = self
                    .by_id
                    .get(&call_id)
                    .and_then(|&slot| self.calls.get(slot)?.as_ref())
                    .and_then(|c| c.tokens[leg.index()][Channel::Rtp as usize])
                    .and_then(|t| self.socks.get(t as usize)?.as_ref())
                    .ok_or(DataPlaneError::UnknownCall(call_id))
                    .and_then(|e| e.socket.try_clone().map_err(DataPlaneError::Io));
                let _ = reply.try_send(sock);
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// Sends a datagram for the control plane from a leg's socket.
    fn send_from(&mut self, s: &SendFrom) {
        let sent = self
            .by_id
            .get(&s.call_id)
            .and_then(|&slot| self.calls.get(slot)?.as_ref())
            .and_then(|c| c.tokens[s.leg.index()][s.channel as usize])
            .and_then(|t| self.socks.get(t as usize)?.as_ref())
            .is_some_and(|e| e.socket.send_to(&s.bytes, s.to).is_ok());
        inc(if sent {
            &self.counters.transport_out
        } else {
            &self.counters.transport_out_failed
        });
    }

    /// Hands a STUN or DTLS datagram of a transport leg over (a copy);
    /// false when the leg is not one, or nobody takes it.
    fn hand_over(
        &self,
        slot: usize,
        leg: LegId,
        channel: Channel,
        src: SocketAddr,
        pkt: &[u8],
    ) -> bool {
        let Some(Some(call)) = self.calls.get(slot) else {
            return false;
        };
        if !call.transport[leg.index()] {
            return false;
        }
        // A full queue (a flood) is seen before the copy is made.
        let taken = self.transport_sink.as_ref().is_some_and(|sink| {
            !sink.is_full()
                && sink
                    .try_send(TransportDatagram {
                        call_id: call.id,
                        leg,
                        channel,
                        from: src,
                        bytes: pkt.to_vec(),
                    })
                    .is_ok()
        });
        inc(if taken {
            &self.counters.transport_in
        } else {
            &self.counters.transport_dropped
        });
        taken
    }

    fn alloc_sock(&mut self, entry: SockEntry) -> u32 {
        match self.free_socks.pop() {
            Some(t) => {
                self.socks[t as usize] = Some(entry);
                t
            }
            None => {
                self.socks.push(Some(entry));
                (self.socks.len() - 1) as u32
            }
        }
    }

    fn add_call<B: Backend>(
        &mut self,
        flows: CallFlows,
        backend: &mut B,
    ) -> Result<(), DataPlaneError> {
        if self.by_id.contains_key(&flows.id) {
            return Err(DataPlaneError::DuplicateCall(flows.id));
        }
        let slot = self.free_calls.pop().unwrap_or_else(|| {
            self.calls.push(None);
            self.calls.len() - 1
        });
        let CallFlows { id, legs } = flows;
        let mut tokens = [[None; 2]; 2];
        let mut failure = None;
        let [leg_a, leg_b] = legs;
        let a = self.register_leg(slot, LegId::A, leg_a, backend, &mut tokens, &mut failure);
        let b = self.register_leg(slot, LegId::B, leg_b, backend, &mut tokens, &mut failure);
        self.calls[slot] = Some(CallEntry {
            id,
            state: CallState::new(a, b),
            tokens,
            transport: [false; 2],
        });
        if let Some(e) = failure {
            self.drop_call(slot, backend);
            return Err(DataPlaneError::Io(e));
        }
        self.by_id.insert(id, slot);
        inc(&self.counters.calls);
        Ok(())
    }

    /// Registers a leg's sockets (unless an earlier one failed) and builds
    /// its relay state.
    fn register_leg<B: Backend>(
        &mut self,
        slot: usize,
        li: LegId,
        leg: LegFlows,
        backend: &mut B,
        tokens: &mut [[Option<u32>; 2]; 2],
        failure: &mut Option<std::io::Error>,
    ) -> LegState {
        let rtcp_socket = leg.rtcp_socket.is_some();
        let rtcp_mux = leg.rtcp_mux || !rtcp_socket;
        let own = match leg.rtp_socket {
            super::RtpSocket::Own(s) => Some(s),
            super::RtpSocket::Bundled {
                owner,
                payload_types,
            } => {
                // Streams its context already sent (a call taken over):
                // their SSRCs are this member's under the shared key.
                let sent: Vec<u32> = leg
                    .srtp_out
                    .as_ref()
                    .map(|c| c.checkpoint().iter().map(|st| st.ssrc).collect())
                    .unwrap_or_default();
                if failure.is_none() {
                    match self.join_bundle(slot, li, owner, (payload_types, sent)) {
                        Ok(token) => tokens[li.index()][Channel::Rtp as usize] = Some(token),
                        Err(e) => *failure = Some(e),
                    }
                }
                None
            }
        };
        let socks = [
            own.map(|s| (s, Channel::Rtp)),
            leg.rtcp_socket.map(|s| (s, Channel::Rtcp)),
        ];
        for (socket, channel) in socks.into_iter().flatten() {
            if failure.is_some() {
                continue;
            }
            let fd = socket.as_raw_fd();
            if let Err(e) = socket.set_nonblocking(true) {
                *failure = Some(e);
                continue;
            }
            // The kernel drop counter is a nicety; go on without it.
            let _ = rampart_sys::enable_rxq_ovfl(fd);
            let token = self.alloc_sock(SockEntry {
                socket,
                call: slot,
                leg: li,
                channel,
                ovfl_seen: 0,
                bundle: None,
            });
            tokens[li.index()][channel as usize] = Some(token);
            if let Err(e) = backend.add_socket(token, fd) {
                *failure = Some(e);
            }
        }
        LegState::new(LegParams {
            remote_rtp: leg.remote_rtp,
            remote_rtcp: leg.remote_rtcp,
            rtcp_mux,
            rtcp_socket,
            latch: leg.latch,
            srtp_in: leg.srtp_in,
            srtp_out: leg.srtp_out,
            forward: leg.forward,
            counters: leg.counters,
            latch_grace_ms: self.latch_grace_ms,
            now_ms: self.now_ms,
        })
    }

    /// Makes leg `li` of the call in `slot` a member of the bundle on the
    /// RTP socket of the same leg of call `owner`, with the payload types
    /// its peer sends and the SSRCs its context already sent with;
    /// returns that token.
    fn join_bundle(
        &mut self,
        slot: usize,
        li: LegId,
        owner: u64,
        (mut payload_types, sent): (Vec<u8>, Vec<u32>),
    ) -> std::io::Result<u32> {
        let token = self
            .by_id
            .get(&owner)
            .and_then(|&o| self.calls.get(o)?.as_ref())
            .and_then(|c| c.tokens[li.index()][Channel::Rtp as usize])
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("bundle owner {owner} is not on this worker"),
                )
            })?;
        let entry = self
            .socks
            .get_mut(token as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| std::io::Error::other("bundle socket gone"))?;
        let owner_slot = entry.call;
        let bundle = entry.bundle.get_or_insert_with(|| {
            // The owner may have sent already: its SSRCs are its own.
            let mut b = Box::<Bundle>::default();
            if let Some(Some(c)) = self.calls.get(owner_slot) {
                let sent = c.state.leg(li).checkpoint().outbound;
                b.ssrc_out = sent.iter().map(|st| (st.ssrc, owner_slot)).collect();
            }
            b
        });
        for ssrc in sent {
            // One taken by another section stays theirs (this member's
            // packets with it are then refused).
            if !bundle.ssrc_out.iter().any(|e| e.0 == ssrc) {
                bundle.ssrc_out.push((ssrc, slot));
            }
        }
        // At most the 128 payload types there are: the demux scans them.
        payload_types.retain(|pt| *pt < 128);
        payload_types.sort_unstable();
        payload_types.dedup();
        bundle.members.push((slot, li, payload_types));
        Ok(token)
    }

    /// Frees the call in `slot`'s sockets. A bundle socket stays while
    /// other members use it: the call leaves the bundle, and if it owned
    /// the socket, the next member takes it over.
    fn free_tokens<B: Backend>(
        &mut self,
        slot: usize,
        tokens: &[[Option<u32>; 2]; 2],
        backend: &mut B,
    ) {
        for t in tokens.iter().flatten().flatten() {
            if let Some(Some(entry)) = self.socks.get_mut(*t as usize) {
                if let Some(b) = entry.bundle.as_mut() {
                    b.forget(slot);
                    if entry.call == slot && !b.members.is_empty() {
                        let (next, leg, _) = b.members.remove(0);
                        b.ssrc_in.retain(|e| e.1 != next);
                        (entry.call, entry.leg) = (next, leg);
                    }
                    if entry.call != slot {
                        continue;
                    }
                }
            }
            if let Some(entry) = self.socks.get_mut(*t as usize).and_then(Option::take) {
                backend.remove_socket(*t, entry.socket.as_raw_fd());
                drop(entry);
                self.free_socks.push(*t);
            }
        }
    }

    fn drop_call<B: Backend>(&mut self, slot: usize, backend: &mut B) {
        if let Some(call) = self.calls.get_mut(slot).and_then(Option::take) {
            self.free_tokens(slot, &call.tokens, backend);
            if self.by_id.get(&call.id) == Some(&slot) {
                self.by_id.remove(&call.id);
            }
            self.free_calls.push(slot);
            let n = self
                .counters
                .calls
                .load(std::sync::atomic::Ordering::Relaxed);
            self.counters
                .calls
                .store(n.saturating_sub(1), std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn remove_all<B: Backend>(&mut self, backend: &mut B) {
        let slots: Vec<usize> = self.by_id.values().copied().collect();
        for slot in slots {
            self.drop_call(slot, backend);
        }
    }

    fn leg_of(&self, token: u32) -> Option<(&CallEntry, LegId)> {
        let s = self.socks.get(token as usize)?.as_ref()?;
        let call = self.calls.get(s.call)?.as_ref()?;
        Some((call, s.leg))
    }

    fn dropped(&self) {
        inc(&self.counters.packets_dropped);
    }

    /// Remembers that `ssrc`, received on bundle socket `token`, is the
    /// section of (`slot`, `leg`): its packet authenticated there.
    fn learn_ssrc(&mut self, token: u32, ssrc: u32, slot: usize, leg: LegId) {
        if let Some(Some(SockEntry {
            bundle: Some(b), ..
        })) = self.socks.get_mut(token as usize)
        {
            if b.ssrc_in.len() < BUNDLE_MAX_SSRCS && !b.ssrc_in.iter().any(|e| e.0 == ssrc) {
                b.ssrc_in.push((ssrc, slot, leg));
            }
        }
    }

    /// Whether the call in `slot` may send `pkt` on socket `token`: always,
    /// unless the socket is a bundle and another section sends with the
    /// packet's SSRC (dropped and counted). A packet leaving a bundle is
    /// counted out here: the send completions name the socket, not the
    /// section.
    fn bundle_send(&mut self, token: u32, slot: usize, leg: LegId, pkt: &[u8], rtcp: bool) -> bool {
        let Some(Some(SockEntry {
            bundle: Some(b), ..
        })) = self.socks.get_mut(token as usize)
        else {
            return true;
        };
        let ok = b.may_send(slot, pkt, rtcp);
        if let Some(Some(call)) = self.calls.get(slot) {
            let c = call.state.leg(leg).counters();
            if ok {
                inc(&c.packets_out);
                add(&c.bytes_out, pkt.len() as u64);
                if rtcp {
                    inc(&c.rtcp_out);
                    add(&c.rtcp_bytes_out, pkt.len() as u64);
                }
            } else {
                inc(&c.dropped_other);
            }
        }
        if !ok {
            inc(&self.counters.bundle_ssrc_collisions);
            self.dropped();
        }
        ok
    }

    /// Whether socket `token` is shared by a bundle.
    fn is_bundle(&self, token: u32) -> bool {
        matches!(
            self.socks.get(token as usize),
            Some(Some(SockEntry {
                bundle: Some(_),
                ..
            }))
        )
    }
}

impl Handler for Table {
    fn begin_batch(&mut self) {
        self.now_ms = now_ms();
    }

    fn on_batch<B: RxBatch>(&mut self, batch: &mut B, out: &mut [Option<Tx>]) {
        self.run_batch(batch, out);
    }

    fn on_truncated(&mut self, token: u32) {
        if let Some((call, leg)) = self.leg_of(token) {
            let c = call.state.leg(leg).counters();
            inc(&c.packets_in);
            inc(&c.malformed);
        }
        self.dropped();
    }

    fn on_rx_overflow(&mut self, token: u32, total: u32) {
        let Some(Some(s)) = self.socks.get_mut(token as usize) else {
            return;
        };
        let delta = total.wrapping_sub(s.ovfl_seen);
        if delta == 0 || delta > u32::MAX / 2 {
            return;
        }
        s.ovfl_seen = total;
        let (slot, leg) = (s.call, s.leg);
        if let Some(Some(call)) = self.calls.get(slot) {
            add(
                &call.state.leg(leg).counters().dropped_overload,
                u64::from(delta),
            );
        }
        add(&self.counters.kernel_drops, u64::from(delta));
    }

    fn on_sent(&mut self, token: u32, len: usize, rtcp: bool) {
        if self.is_bundle(token) {
            // Counted per section when it was handed over (bundle_send).
            inc(&self.counters.packets_relayed);
            return;
        }
        if let Some((call, leg)) = self.leg_of(token) {
            let c = call.state.leg(leg).counters();
            inc(&c.packets_out);
            add(&c.bytes_out, len as u64);
            if rtcp {
                inc(&c.rtcp_out);
                add(&c.rtcp_bytes_out, len as u64);
            }
        }
        inc(&self.counters.packets_relayed);
    }

    fn on_send_failed(&mut self, token: u32, overload: bool) {
        if let Some((call, leg)) = self.leg_of(token) {
            let c = call.state.leg(leg).counters();
            if overload {
                inc(&c.dropped_overload);
            } else {
                inc(&c.dropped_other);
            }
        }
        self.dropped();
    }
}
