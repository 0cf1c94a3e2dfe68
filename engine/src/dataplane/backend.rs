//! The I/O backend trait and the `recvmmsg`/`sendmmsg` backend.
//!
//! A backend owns the waiting and the batched I/O; the worker's flow table
//! (a [`Handler`]) owns the decisions. Per ready socket the mmsg backend
//! makes one `recvmmsg` (up to the batch size) into preallocated slots of
//! one slab; the datagrams of all the sockets one wait found ready (up to
//! four `recvmmsg`s' worth) go to the handler as one batch, which
//! transforms each in place and says where it goes; then one `sendmmsg`
//! per destination socket, with runs of equal-size datagrams to one
//! address folded into one UDP GSO send.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;

use rampart_sys::{Epoll, EventFd, MmsgRx, MmsgTx, RxMeta, TxGroup};

use super::counters::{add, inc};
use super::gso::{self, Outgoing};
use super::{BackendKind, WorkerCounters};

/// Bytes per packet buffer.
pub(crate) const SLOT: usize = 2048;
/// Bytes a datagram may have: the rest of the slot is tailroom for the
/// SRTP/SRTCP trailer protect appends.
pub(crate) const RECV_LEN: usize = SLOT - crate::srtp::MAX_TRAILER_LEN;
/// `recvmmsg` calls' worth of slots in the mmsg backend's slab: the ready
/// sockets of one wait are read into it and processed as one batch.
const SLAB_READS: usize = 4;
/// The epoll token of the worker's wakeup eventfd.
const WAKE_TOKEN: u64 = u64::MAX;

/// Where a processed datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tx {
    /// Token of the socket that sends it.
    pub token: u32,
    /// Destination.
    pub dest: SocketAddr,
    /// Bytes, from the start of the buffer.
    pub len: usize,
    /// RTCP (for the counters).
    pub rtcp: bool,
}

/// A received datagram of a batch: the socket it came on, its length (the
/// rest of its buffer is tailroom for the SRTP trailer) and its source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    /// Token of the socket that received it.
    pub token: u32,
    /// Bytes received, from the start of its buffer.
    pub len: usize,
    /// Where it came from.
    pub src: SocketAddr,
}

/// The datagrams a backend received in one go, in its own buffers. The
/// handler reads several at once (a batch's crypto hashes many packets
/// together) and changes one at a time.
pub(crate) trait RxBatch {
    /// Datagrams in the batch.
    fn count(&self) -> usize;
    /// Datagram `i`'s socket, length and source.
    fn arrival(&self, i: usize) -> Arrival;
    /// Datagram `i`'s whole buffer (datagram, then tailroom).
    fn buf(&self, i: usize) -> &[u8];
    /// Datagram `i`'s whole buffer, to change.
    fn buf_mut(&mut self, i: usize) -> &mut [u8];
}

/// The worker's side of the packet loop: decisions and counters.
pub(crate) trait Handler {
    /// A batch starts (read the clock once).
    fn begin_batch(&mut self);
    /// Every datagram of `batch` arrived (see [`Arrival`]): transform each
    /// in place and say where it goes in `out[i]` (`None`: dropped).
    /// `out` has at least `batch.count()` entries.
    fn on_batch<B: RxBatch>(&mut self, batch: &mut B, out: &mut [Option<Tx>]);
    /// A datagram too long for a buffer (or without a source) arrived.
    fn on_truncated(&mut self, token: u32);
    /// The socket's cumulative kernel drop counter.
    fn on_rx_overflow(&mut self, token: u32, total: u32);
    /// A datagram was sent from `token`.
    fn on_sent(&mut self, token: u32, len: usize, rtcp: bool);
    /// A datagram from `token` could not be sent.
    fn on_send_failed(&mut self, token: u32, overload: bool);
}

/// Batched I/O over a worker's sockets.
pub(crate) trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Starts receiving on a socket.
    fn add_socket(&mut self, token: u32, fd: RawFd) -> io::Result<()>;
    /// Stops receiving on a socket (before it is closed).
    fn remove_socket(&mut self, token: u32, fd: RawFd);
    /// Waits up to `timeout_ms` (or until the wakeup fd rings), then
    /// receives, processes and sends what is ready. Returns how many
    /// datagrams it received.
    fn poll<H: Handler>(&mut self, h: &mut H, timeout_ms: i32) -> io::Result<u64>;
    /// Hands the kernel the sends that `poll` queued but left for the next
    /// wait's system call (before the worker sleeps on a batching tick).
    fn submit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The mmsg backend's batch: datagrams in fixed slots of one buffer.
struct SlabBatch<'a> {
    data: &'a mut [u8],
    arrivals: &'a [(usize, Arrival)],
}

impl RxBatch for SlabBatch<'_> {
    fn count(&self) -> usize {
        self.arrivals.len()
    }

    fn arrival(&self, i: usize) -> Arrival {
        self.arrivals[i].1
    }

    fn buf(&self, i: usize) -> &[u8] {
        let slot = self.arrivals[i].0;
        &self.data[slot * SLOT..(slot + 1) * SLOT]
    }

    fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        let slot = self.arrivals[i].0;
        &mut self.data[slot * SLOT..(slot + 1) * SLOT]
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SockInfo {
    fd: RawFd,
    live: bool,
    gso: bool,
}

/// The `recvmmsg`/`sendmmsg` + level-triggered epoll backend.
pub(crate) struct MmsgBackend {
    epoll: Epoll,
    wake: Arc<EventFd>,
    rx: MmsgRx,
    tx: MmsgTx,
    data: Vec<u8>,
    meta: Vec<RxMeta>,
    batch: usize,
    socks: Vec<SockInfo>,
    /// Processed datagrams of the batch in hand: (slot, where to).
    out: Vec<(usize, Tx)>,
    /// The batch in hand's datagrams for the handler: (slot, arrival).
    arrivals: Vec<(usize, Arrival)>,
    /// The handler's verdicts, one per arrival.
    verdicts: Vec<Option<Tx>>,
    done: Vec<bool>,
    spans: Vec<(usize, usize)>,
    entries: Vec<(usize, bool)>,
    /// This socket's datagrams of the batch, for the GSO grouping.
    outgoing: Vec<Outgoing>,
    groups: Vec<TxGroup>,
    counters: Arc<WorkerCounters>,
}

impl MmsgBackend {
    pub(crate) fn new(
        batch: usize,
        wake: Arc<EventFd>,
        counters: Arc<WorkerCounters>,
    ) -> io::Result<MmsgBackend> {
        let epoll = Epoll::new(batch.max(64))?;
        epoll.add(wake.raw(), WAKE_TOKEN)?;
        // The slab holds several sockets' `recvmmsg` (see `poll`).
        let slots = batch * SLAB_READS;
        Ok(MmsgBackend {
            epoll,
            wake,
            rx: MmsgRx::new(batch),
            tx: MmsgTx::new(slots),
            data: vec![0u8; slots * SLOT],
            meta: vec![RxMeta::default(); slots],
            batch,
            socks: Vec::with_capacity(256),
            out: Vec::with_capacity(slots),
            arrivals: Vec::with_capacity(slots),
            verdicts: Vec::with_capacity(slots),
            done: Vec::with_capacity(slots),
            spans: Vec::with_capacity(slots),
            entries: Vec::with_capacity(slots),
            outgoing: Vec::with_capacity(slots),
            groups: Vec::with_capacity(slots),
            counters,
        })
    }

    /// Adds another fd (the AF_XDP socket) to the wait under `token`
    /// (above `u32::MAX`, so it is never taken for a socket's token).
    pub(crate) fn watch(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.epoll.add(fd, token)
    }

    /// Hands the datagrams gathered so far to the handler as one batch,
    /// then sends what it relays.
    fn process<H: Handler>(&mut self, h: &mut H) {
        if self.arrivals.is_empty() {
            return;
        }
        self.verdicts.clear();
        self.verdicts.resize(self.arrivals.len(), None);
        let mut batch = SlabBatch {
            data: &mut self.data,
            arrivals: &self.arrivals,
        };
        h.on_batch(&mut batch, &mut self.verdicts);
        for (&(slot, _), tx) in self.arrivals.iter().zip(&self.verdicts) {
            if let Some(tx) = tx {
                self.out.push((slot, *tx));
            }
        }
        self.arrivals.clear();
        if !self.out.is_empty() {
            self.flush(h);
        }
    }

    /// Sends the processed datagrams of the batch in hand, one `sendmmsg`
    /// per sending socket.
    fn flush<H: Handler>(&mut self, h: &mut H) {
        let n = self.out.len();
        self.done.clear();
        self.done.resize(n, false);
        for start in 0..n {
            if self.done[start] {
                continue;
            }
            let token = self.out[start].1.token;
            self.spans.clear();
            self.entries.clear();
            self.outgoing.clear();
            self.groups.clear();
            let info = self.socks.get(token as usize).copied().unwrap_or_default();
            // This socket's datagrams, in order...
            for k in start..n {
                let (slot, tx) = self.out[k];
                if self.done[k] || tx.token != token {
                    continue;
                }
                self.done[k] = true;
                self.spans.push((slot * SLOT, tx.len));
                self.entries.push((tx.len, tx.rtcp));
                self.outgoing.push(Outgoing {
                    token,
                    dest: tx.dest,
                    len: tx.len,
                });
            }
            // ...folded into GSO groups (runs of equal-size datagrams to
            // one address).
            let mut i = 0;
            while i < self.outgoing.len() {
                let count = gso::run_len(self.outgoing[i..].iter().copied(), info.gso).max(1);
                let first = self.outgoing[i];
                self.groups.push(TxGroup {
                    first: i,
                    count,
                    segment: if count > 1 { first.len as u16 } else { 0 },
                    dest: first.dest,
                });
                i += count;
            }
            if !info.live {
                for _ in 0..self.entries.len() {
                    h.on_send_failed(token, false);
                }
                continue;
            }
            self.send_groups(h, token, info.fd);
        }
        self.out.clear();
    }

    fn fail_groups<H: Handler>(
        &self,
        h: &mut H,
        token: u32,
        from: usize,
        to: usize,
        overload: bool,
    ) {
        for g in &self.groups[from..to] {
            for _ in 0..g.count {
                h.on_send_failed(token, overload);
            }
        }
    }

    fn send_groups<H: Handler>(&mut self, h: &mut H, token: u32, fd: RawFd) {
        let mut g = 0usize;
        // Each round either advances `g` or turns GSO off (once), so the
        // loop ends after at most 2 * groups rounds.
        let mut rounds = 0usize;
        while g < self.groups.len() && rounds <= 2 * self.groups.len() + 2 {
            rounds += 1;
            inc(&self.counters.send_calls);
            match self.tx.send(fd, &self.data, &self.spans, &self.groups[g..]) {
                Ok(0) => {
                    self.fail_groups(h, token, g, self.groups.len(), true);
                    return;
                }
                Ok(k) => {
                    for grp in &self.groups[g..g + k] {
                        if grp.segment > 0 {
                            inc(&self.counters.gso_sends);
                        }
                        for e in &self.entries[grp.first..grp.first + grp.count] {
                            h.on_sent(token, e.0, e.1);
                        }
                    }
                    g += k;
                }
                Err(e) => {
                    let gso = self.groups[g].segment > 0;
                    if e.is_congestion() {
                        // The socket's send buffer (or the device queue) is
                        // full: drop what is left for it, keep serving.
                        self.fail_groups(h, token, g, self.groups.len(), true);
                        return;
                    } else if gso && e.refuses_gso() {
                        // The kernel or device refuses GSO: stop using it on
                        // this socket and send the rest one by one.
                        if let Some(s) = self.socks.get_mut(token as usize) {
                            s.gso = false;
                        }
                        tracing::debug!(token, error = %e, "UDP GSO refused; sending individually");
                        // Rare path (once per socket): allocation allowed.
                        let mut rebuilt = Vec::with_capacity(self.spans.len());
                        for grp in &self.groups[g..] {
                            for k in grp.first..grp.first + grp.count {
                                rebuilt.push(TxGroup {
                                    first: k,
                                    count: 1,
                                    segment: 0,
                                    dest: grp.dest,
                                });
                            }
                        }
                        self.groups.truncate(g);
                        self.groups.extend(rebuilt);
                    } else {
                        self.fail_groups(h, token, g, g + 1, false);
                        g += 1;
                    }
                }
            }
        }
    }
}

impl Backend for MmsgBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Mmsg
    }

    fn add_socket(&mut self, token: u32, fd: RawFd) -> io::Result<()> {
        let t = token as usize;
        if self.socks.len() <= t {
            self.socks.resize(t + 1, SockInfo::default());
        }
        self.epoll.add(fd, u64::from(token))?;
        self.socks[t] = SockInfo {
            fd,
            live: true,
            gso: true,
        };
        Ok(())
    }

    fn remove_socket(&mut self, token: u32, fd: RawFd) {
        let _ = self.epoll.delete(fd);
        if let Some(s) = self.socks.get_mut(token as usize) {
            *s = SockInfo::default();
        }
    }

    fn poll<H: Handler>(&mut self, h: &mut H, timeout_ms: i32) -> io::Result<u64> {
        let ready = self.epoll.wait(timeout_ms)?;
        let mut received = 0u64;
        // The datagrams of every ready socket go into one slab and to the
        // handler as one batch (its crypto runs across them: phones send
        // one packet at a time, each on its own socket); a full slab is
        // handed over and sent before the next socket is read.
        let slots = self.meta.len();
        let mut used = 0usize;
        self.arrivals.clear();
        h.begin_batch();
        for i in 0..ready {
            let token = self.epoll.token(i);
            if token == WAKE_TOKEN {
                self.wake.drain();
                continue;
            }
            if token > u64::from(u32::MAX) {
                // Another backend's fd (the AF_XDP socket): its owner
                // serves it after this wait.
                continue;
            }
            let token = token as u32;
            let info = match self.socks.get(token as usize) {
                Some(s) if s.live => *s,
                _ => continue,
            };
            if used + self.batch > slots {
                self.process(h);
                used = 0;
            }
            let got = match self.rx.recv(
                info.fd,
                &mut self.data[used * SLOT..],
                SLOT,
                RECV_LEN,
                &mut self.meta[used..used + self.batch],
            ) {
                Ok(n) => n,
                // A pending socket error (ICMP) is consumed by the failed
                // call; the next round reads on.
                Err(_) => continue,
            };
            if got == 0 {
                continue;
            }
            inc(&self.counters.batches);
            add(&self.counters.packets_received, got as u64);
            received += got as u64;
            for j in used..used + got {
                let m = self.meta[j];
                if let Some(total) = m.ovfl {
                    h.on_rx_overflow(token, total);
                }
                match m.src {
                    Some(src) if !m.truncated => {
                        let len = m.len;
                        self.arrivals.push((j, Arrival { token, len, src }));
                    }
                    _ => h.on_truncated(token),
                }
            }
            used += got;
        }
        self.process(h);
        Ok(received)
    }
}
