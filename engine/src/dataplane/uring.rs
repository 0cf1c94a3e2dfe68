//! The io_uring backend: multishot `recvmsg` into a provided-buffer ring,
//! `send` (with the destination address) from the same buffer.
//!
//! Each socket has one multishot `recvmsg` armed; the kernel picks a free
//! buffer from the worker's provided-buffer ring for every datagram and
//! posts a completion naming it. The worker transforms the datagram in
//! place (the buffer has tailroom) and queues a send SQE that reads from
//! the same buffer; when the send completes the buffer goes back to the
//! ring. One `io_uring_enter` per round both submits the previous round's
//! sends and waits for the next completions, so there is no system call
//! per packet. No GSO here (each datagram is one send).
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
//! The unsafe half (ring memory, SQE lifetimes) is `sys::uring::Ring`.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use super::backend::{Backend, Handler, RECV_LEN, SLOT};
use super::counters::{add, inc};
use super::sys::uring::{Ring, Sock, PAYLOAD_OFFSET};
use super::sys::EventFd;
use super::{BackendKind, WorkerCounters};

const KIND_SHIFT: u32 = 62;
const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
const KIND_WAKE: u64 = 3;
const GEN_MASK: u32 = 0x3fff_ffff;

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
}

impl Default for SockInfo {
    fn default() -> SockInfo {
        SockInfo {
            sock: Sock::Fd(-1),
            gen: 0,
            live: false,
            armed: false,
            queued: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SendMeta {
    token: u32,
    gen: u32,
    len: usize,
    rtcp: bool,
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
            counters,
        };
        b.arm_wake()?;
        b.ring.submit()?;
        Ok(b)
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
        let info = self.socks.get(token as usize).copied().unwrap_or_default();
        let current = info.live && info.gen & GEN_MASK == gen;
        if !io_uring::cqueue::more(flags) && current {
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
        let buf = self.ring.buf_mut(r.bid);
        let Some(packet) = buf.get_mut(PAYLOAD_OFFSET..) else {
            self.ring.recycle(r.bid);
            return true;
        };
        let Some(tx) = h.on_packet(token, packet, r.len, src) else {
            self.ring.recycle(r.bid);
            return true;
        };
        let out = self
            .socks
            .get(tx.token as usize)
            .copied()
            .unwrap_or_default();
        if !out.live {
            h.on_send_failed(tx.token, false);
            self.ring.recycle(r.bid);
            return true;
        }
        self.sending[usize::from(r.bid)] = SendMeta {
            token: tx.token,
            gen: out.gen,
            len: tx.len,
            rtcp: tx.rtcp,
        };
        let ud = (KIND_SEND << KIND_SHIFT) | u64::from(r.bid);
        if self
            .ring
            .send(out.sock, r.bid, PAYLOAD_OFFSET, tx.len, &tx.dest, ud)
            .is_err()
        {
            h.on_send_failed(tx.token, true);
            self.ring.recycle(r.bid);
        }
        true
    }

    fn on_send<H: Handler>(&mut self, h: &mut H, ud: u64, res: i32) {
        let bid = (ud & 0xffff) as u16;
        self.ring.send_done(bid);
        let meta = self
            .sending
            .get(usize::from(bid))
            .copied()
            .unwrap_or_default();
        let info = self
            .socks
            .get(meta.token as usize)
            .copied()
            .unwrap_or_default();
        if info.live && info.gen == meta.gen {
            if res >= 0 {
                h.on_sent(meta.token, meta.len, meta.rtcp);
            } else {
                let errno = -res;
                h.on_send_failed(meta.token, errno == libc::EAGAIN || errno == libc::ENOBUFS);
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

    fn poll<H: Handler>(&mut self, h: &mut H, timeout_ms: i32) -> io::Result<()> {
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
                    if !io_uring::cqueue::more(flags) {
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
        // The sends queued this round go out at the start of the next wait
        // (the same system call).
        Ok(())
    }
}
