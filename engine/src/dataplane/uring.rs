//! The io_uring backend: multishot `recvmsg` into a provided-buffer ring,
//! `send` (with the destination address) from the same buffer.
//!
//! Each socket has one multishot `recvmsg` armed; the kernel picks a free
//! buffer from the worker's provided-buffer ring for every datagram and
//! posts a completion naming it. The worker transforms the datagram in
//! place (the buffer has tailroom); when the round's completions are
//! drained, it queues the sends, each reading from the buffer it was
//! received into: a run of equal-size datagrams from one socket to one
//! destination (a burst, such as a video frame) as one GSO `sendmsg` over
//! those buffers, anything else as one `send` each. When a send completes
//! its buffers go back to the ring. One `io_uring_enter` per round both
//! submits the previous round's sends and waits for the next completions,
//! so there is no system call per packet.
//!
//! What made it cheaper than `recvmmsg`/`sendmmsg` (measured with
//! `loadgen/bench.sh`, 1,000 calls: 6.6 → 5.5 CPU-µs per relayed packet,
//! against 6.5 for mmsg): `IORING_OP_SEND` with an address instead of
//! `sendmsg` (no `msghdr` to copy in and check per packet), sockets as
//! registered files (no descriptor lookup per operation), deferred task
//! work, and no separate submit call per round. Tried and dropped: a
//! coalescing wait (`min_wait_usec`), which doubled the CPU per packet at
//! 100 calls.
//!
//! The unsafe half (ring memory, SQE lifetimes) is `rampart_sys::uring::Ring`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;

use rampart_sys::uring::{self, Ring, Sock, GSO_SLOTS, PAYLOAD_OFFSET};
use rampart_sys::EventFd;

use super::backend::{Arrival, Backend, Handler, RxBatch, Tx, RECV_LEN, SLOT};
use super::counters::{add, inc};
use super::gso::{self, Outgoing};
use super::{BackendKind, WorkerCounters};

const KIND_SHIFT: u32 = 62;
const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
const KIND_WAKE: u64 = 3;
const GEN_MASK: u32 = 0x3fff_ffff;
/// In a send's user data: the low 16 bits name a GSO slot, not a buffer.
const SEND_GSO: u64 = 1 << 32;

fn recv_ud(token: u32, gen: u32) -> u64 {
    (KIND_RECV << KIND_SHIFT) | (u64::from(gen & GEN_MASK) << 32) | u64::from(token)
}

/// Checks that io_uring, multishot `recvmsg` and buffer rings work here.
///
/// Runs in a short-lived thread of its own, so that whatever io_uring
/// leaves behind on the probing thread (task work that can interrupt a
/// blocking system call with `EINTR`) never touches the caller's thread.
pub(crate) fn probe() -> io::Result<()> {
    std::thread::Builder::new()
        .name("rampart-uring-probe".into())
        .spawn(Ring::probe)?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("io_uring probe panicked")))
}

#[derive(Clone, Copy, Debug)]
struct SockInfo {
    sock: Sock,
    gen: u32,
    live: bool,
    armed: bool,
    /// Waiting in `rearm` (so it is queued once).
    queued: bool,
    /// UDP GSO works on this socket (until the kernel refuses it once).
    gso: bool,
}

impl Default for SockInfo {
    fn default() -> SockInfo {
        SockInfo {
            sock: Sock::Fd(-1),
            gen: 0,
            live: false,
            armed: false,
            queued: false,
            gso: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct SendMeta {
    token: u32,
    gen: u32,
    len: usize,
    rtcp: bool,
    dest: SocketAddr,
}

impl Default for SendMeta {
    fn default() -> SendMeta {
        SendMeta {
            token: u32::MAX,
            gen: 0,
            len: 0,
            rtcp: false,
            dest: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

/// A round's datagrams, in the ring's provided buffers (the datagram
/// starts at `PAYLOAD_OFFSET` of its buffer).
struct RingBatch<'a> {
    ring: &'a mut Ring,
    arrived: &'a [(u16, Arrival)],
}

impl RxBatch for RingBatch<'_> {
    fn count(&self) -> usize {
        self.arrived.len()
    }

    fn arrival(&self, i: usize) -> Arrival {
        self.arrived[i].1
    }

    fn buf(&self, i: usize) -> &[u8] {
        self.ring
            .buf(self.arrived[i].0)
            .get(PAYLOAD_OFFSET..)
            .unwrap_or(&[])
    }

    fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        self.ring
            .buf_mut(self.arrived[i].0)
            .get_mut(PAYLOAD_OFFSET..)
            .unwrap_or(&mut [])
    }
}

/// The io_uring backend of one worker.
pub(crate) struct UringBackend {
    ring: Ring,
    wake: Arc<EventFd>,
    wake_armed: bool,
    socks: Vec<SockInfo>,
    sending: Vec<SendMeta>,
    rearm: Vec<u32>,
    max_completions: usize,
    /// Buffers transformed this round, waiting to be sent (in completion
    /// order) when the round's completions are drained, so that runs to
    /// one destination can go out as one GSO send.
    pending: Vec<u16>,
    /// Free GSO slots.
    gso_free: Vec<u16>,
    /// Datagrams received this round, processed together when the round's
    /// completions are drained: (buffer, arrival). At most one per buffer.
    arrived: Vec<(u16, Arrival)>,
    /// The handler's verdicts, one per arrival.
    verdicts: Vec<Option<Tx>>,

    counters: Arc<WorkerCounters>,
}

impl UringBackend {
    pub(crate) fn new(
        batch: usize,
        wake: Arc<EventFd>,
        counters: Arc<WorkerCounters>,
    ) -> io::Result<UringBackend> {
        // Buffers are shared by every socket's multishot receive: with
        // thousands of sockets a small ring runs dry in bursts, which ends
        // multishots (ENOBUFS) and costs re-arms. 4096 slots (~8.5 MB) for
        // the default batch of 32.
        let n = (batch * 128).next_power_of_two().clamp(1024, 8192) as u16;
        // The kernel fills at most RECV_LEN + PAYLOAD_OFFSET... of a slot
        // and the datagram starts at PAYLOAD_OFFSET, so a full datagram
        // still leaves the SRTP trailer's room at the end of the slot.
        let slot = SLOT + PAYLOAD_OFFSET;
        let ring = Ring::new(u32::from(n), n, slot, RECV_LEN + PAYLOAD_OFFSET)?;
        let mut b = UringBackend {
            sending: vec![SendMeta::default(); usize::from(ring.buffers())],
            ring,
            wake,
            wake_armed: false,
            socks: Vec::with_capacity(256),
            rearm: Vec::with_capacity(256),
            max_completions: usize::from(n) * 4,
            pending: Vec::with_capacity(usize::from(n)),
            arrived: Vec::with_capacity(usize::from(n)),
            verdicts: Vec::with_capacity(usize::from(n)),
            gso_free: (0..GSO_SLOTS).rev().collect(),
            counters,
        };
        b.arm_wake()?;
        b.ring.submit()?;
        Ok(b)
    }

    /// What the table holds for socket `token` (a dead entry if none).
    fn sock_info(&self, token: u32) -> SockInfo {
        self.socks.get(token as usize).copied().unwrap_or_default()
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let fd = self.wake.raw();
        self.ring.arm_poll(fd, KIND_WAKE << KIND_SHIFT)?;
        self.wake_armed = true;
        Ok(())
    }

    fn arm(&mut self, token: u32) {
        let Some(s) = self.socks.get(token as usize).copied() else {
            return;
        };
        if !s.live || s.armed {
            return;
        }
        if self.ring.arm_recv(s.sock, recv_ud(token, s.gen)).is_ok() {
            self.socks[token as usize].armed = true;
        } else {
            self.queue_rearm(token);
        }
    }

    /// Queues a socket whose multishot receive must be armed again. Every
    /// socket fits (the list's capacity follows the socket table, reserved
    /// when a socket is added), so none is ever forgotten and the packet
    /// path never grows the list.
    fn queue_rearm(&mut self, token: u32) {
        if let Some(s) = self.socks.get_mut(token as usize) {
            if !s.queued {
                s.queued = true;
                self.rearm.push(token);
            }
        }
    }

    fn on_recv<H: Handler>(&mut self, h: &mut H, ud: u64, res: i32, flags: u32) -> bool {
        let token = (ud & 0xffff_ffff) as u32;
        let gen = ((ud >> 32) as u32) & GEN_MASK;
        let info = self.sock_info(token);
        let current = info.live && info.gen & GEN_MASK == gen;
        if !uring::more(flags) && current {
            // The multishot ended (no free buffer, an error): arm it again
            // next round.
            self.socks[token as usize].armed = false;
            self.queue_rearm(token);
        }
        let Some(r) = self.ring.take_received(res, flags) else {
            return false;
        };
        if !current {
            self.ring.recycle(r.bid);
            return false;
        }
        if let Some(total) = r.ovfl {
            h.on_rx_overflow(token, total);
        }
        let src = match r.src {
            Some(s) if !r.truncated => s,
            _ => {
                h.on_truncated(token);
                self.ring.recycle(r.bid);
                return true;
            }
        };
        if self.ring.buf(r.bid).len() <= PAYLOAD_OFFSET {
            self.ring.recycle(r.bid);
            return true;
        }
        // At most one entry per buffer: the capacity is the number of
        // buffers, so this never allocates.
        let len = r.len;
        self.arrived.push((r.bid, Arrival { token, len, src }));
        true
    }

    /// Hands this round's datagrams to the handler as one batch, then
    /// queues each one's send (or recycles its buffer).
    fn process_arrivals<H: Handler>(&mut self, h: &mut H) {
        if self.arrived.is_empty() {
            return;
        }
        self.verdicts.clear();
        self.verdicts.resize(self.arrived.len(), None);
        let mut batch = RingBatch {
            ring: &mut self.ring,
            arrived: &self.arrived,
        };
        h.on_batch(&mut batch, &mut self.verdicts);
        for k in 0..self.arrived.len() {
            let bid = self.arrived[k].0;
            let Some(tx) = self.verdicts[k] else {
                self.ring.recycle(bid);
                continue;
            };
            let out = self.sock_info(tx.token);
            if !out.live {
                h.on_send_failed(tx.token, false);
                self.ring.recycle(bid);
                continue;
            }
            self.sending[usize::from(bid)] = SendMeta {
                token: tx.token,
                gen: out.gen,
                len: tx.len,
                rtcp: tx.rtcp,
                dest: tx.dest,
            };
            // At most one pending entry per buffer: the capacity is the
            // number of buffers, so this never allocates.
            self.pending.push(bid);
        }
        self.arrived.clear();
    }

    /// Sends buffer `bid` (its `sending` entry says where) on its own.
    fn send_one<H: Handler>(&mut self, h: &mut H, bid: u16) {
        let m = self.sending[usize::from(bid)];
        let out = self.sock_info(m.token);
        if !out.live || out.gen != m.gen {
            h.on_send_failed(m.token, false);
            self.ring.recycle(bid);
            return;
        }
        let ud = (KIND_SEND << KIND_SHIFT) | u64::from(bid);
        if self
            .ring
            .send(out.sock, bid, PAYLOAD_OFFSET, m.len, &m.dest, ud)
            .is_err()
        {
            h.on_send_failed(m.token, true);
            self.ring.recycle(bid);
        }
    }

    /// Sends what this round transformed: each run of equal-size
    /// datagrams from one socket to one destination (consecutive in
    /// completion order, as a burst on one socket arrives) as one GSO
    /// send, the rest one by one. Order per socket is kept.
    fn flush_sends<H: Handler>(&mut self, h: &mut H) {
        let n = self.pending.len();
        let mut i = 0;
        while i < n {
            let first = self.sending[usize::from(self.pending[i])];
            let out = self.sock_info(first.token);
            let sending = &self.sending;
            let run = gso::run_len(
                self.pending[i..].iter().map(|&b| {
                    let m = sending[usize::from(b)];
                    Outgoing {
                        token: m.token,
                        dest: m.dest,
                        len: m.len,
                    }
                }),
                out.gso && out.live,
            );
            let j = i + run.max(1);
            let mut sent = false;
            if j - i >= 2 {
                if let Some(slot) = self.gso_free.pop() {
                    let ud = (KIND_SEND << KIND_SHIFT) | SEND_GSO | u64::from(slot);
                    if self
                        .ring
                        .send_segmented(
                            slot,
                            out.sock,
                            &self.pending[i..j],
                            PAYLOAD_OFFSET,
                            first.len,
                            &first.dest,
                            ud,
                        )
                        .is_ok()
                    {
                        sent = true;
                    } else {
                        self.gso_free.push(slot);
                    }
                }
            }
            if !sent {
                for k in i..j {
                    let bid = self.pending[k];
                    self.send_one(h, bid);
                }
            }
            i = j;
        }
        self.pending.clear();
    }

    /// A GSO send completed: account (or retry one by one) every datagram.
    fn on_gso_send<H: Handler>(&mut self, h: &mut H, slot: u16, res: i32) {
        let (bids, count) = self.ring.segmented_done(slot);
        let Some(&b0) = bids[..count].first() else {
            return;
        };
        // The slot was taken from the free list when this send was queued.
        self.gso_free.push(slot);
        inc(&self.counters.send_calls);
        let first = self.sending[usize::from(b0)];
        let info = self.sock_info(first.token);
        let current = info.live && info.gen == first.gen;
        let result = uring::send_result(res);
        match &result {
            Err(e) if current && e.refuses_gso() => {
                // The kernel or device refuses GSO: stop using it on this
                // socket and send these datagrams one by one.
                self.socks[first.token as usize].gso = false;
                tracing::debug!(
                    token = first.token,
                    error = %e,
                    "UDP GSO refused; sending individually"
                );
                for &b in &bids[..count] {
                    self.send_one(h, b);
                }
                return;
            }
            _ => {}
        }
        if result.is_ok() && current {
            inc(&self.counters.gso_sends);
        }
        for &b in &bids[..count] {
            let m = self.sending[usize::from(b)];
            if current {
                match &result {
                    Ok(_) => h.on_sent(m.token, m.len, m.rtcp),
                    Err(e) => h.on_send_failed(m.token, e.is_congestion()),
                }
            }
            self.ring.recycle(b);
        }
    }

    fn on_send<H: Handler>(&mut self, h: &mut H, ud: u64, res: i32) {
        if ud & SEND_GSO != 0 {
            return self.on_gso_send(h, (ud & 0xffff) as u16, res);
        }
        let bid = (ud & 0xffff) as u16;
        self.ring.send_done(bid);
        let meta = self
            .sending
            .get(usize::from(bid))
            .copied()
            .unwrap_or_default();
        let info = self.sock_info(meta.token);
        if info.live && info.gen == meta.gen {
            match uring::send_result(res) {
                Ok(_) => h.on_sent(meta.token, meta.len, meta.rtcp),
                Err(e) => h.on_send_failed(meta.token, e.is_congestion()),
            }
        }
        inc(&self.counters.send_calls);
        self.ring.recycle(bid);
    }
}

impl Backend for UringBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Uring
    }

    fn add_socket(&mut self, token: u32, fd: RawFd) -> io::Result<()> {
        let t = token as usize;
        if self.socks.len() <= t {
            self.socks.resize(t + 1, SockInfo::default());
        }
        if self.rearm.capacity() < self.socks.len() {
            self.rearm.reserve(self.socks.len() - self.rearm.len());
        }
        let gen = self.socks[t].gen;
        let sock = self.ring.register_socket(token, fd);
        self.socks[t] = SockInfo {
            sock,
            gen,
            live: true,
            armed: false,
            queued: false,
            gso: true,
        };
        self.ring.arm_recv(sock, recv_ud(token, gen))?;
        self.socks[t].armed = true;
        self.ring.submit()
    }

    fn remove_socket(&mut self, token: u32, _fd: RawFd) {
        let Some(s) = self.socks.get_mut(token as usize) else {
            return;
        };
        let (gen, armed, sock) = (s.gen, s.armed, s.sock);
        s.live = false;
        s.armed = false;
        s.gen = s.gen.wrapping_add(1) & GEN_MASK;
        if armed {
            // The kernel holds its own reference to the socket until the
            // multishot receive is cancelled; stale completions are
            // recognised by the generation and their buffers recycled.
            let _ = self.ring.cancel(recv_ud(token, gen), 0);
        }
        let _ = self.ring.submit();
        self.ring.unregister_socket(sock);
    }

    fn submit(&mut self) -> io::Result<()> {
        self.ring.submit()
    }

    fn poll<H: Handler>(&mut self, h: &mut H, timeout_ms: i32) -> io::Result<u64> {
        if !self.wake_armed {
            self.arm_wake()?;
        }
        let pending = self.rearm.len();
        for i in 0..pending {
            let token = self.rearm[i];
            if let Some(s) = self.socks.get_mut(token as usize) {
                s.queued = false;
            }
            self.arm(token);
        }
        self.rearm.drain(..pending);
        self.ring.wait(timeout_ms.max(0) as u32)?;
        h.begin_batch();
        let mut received = 0u64;
        for _ in 0..self.max_completions {
            let Some((ud, res, flags)) = self.ring.next_completion() else {
                break;
            };
            match ud >> KIND_SHIFT {
                KIND_RECV if self.on_recv(h, ud, res, flags) => received += 1,
                KIND_RECV => {}
                KIND_SEND => self.on_send(h, ud, res),
                KIND_WAKE => {
                    self.wake.drain();
                    if !uring::more(flags) {
                        self.wake_armed = false;
                    }
                }
                _ => {}
            }
        }
        if received > 0 {
            inc(&self.counters.batches);
            add(&self.counters.packets_received, received);
        }
        self.process_arrivals(h);
        self.flush_sends(h);
        // The sends queued this round go out at the start of the next wait
        // (the same system call), or at `submit` before a batching tick.
        Ok(received)
    }
}
