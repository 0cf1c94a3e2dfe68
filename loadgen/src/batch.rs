//! Batches of datagrams for one socket: what the players send with one
//! `sendmmsg` and receive with one `recvmmsg`. Safe code over rampart-sys
//! (the workspace's one syscall crate); the buffers are allocated once per
//! batch, so a running player does not allocate per packet.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use rampart_sys::{MmsgRx, MmsgTx, RxMeta, SendError, TxGroup};

/// Bytes per packet buffer: RTP header + payload + SRTP trailer, with room.
pub const BUF_LEN: usize = 1536;

/// A batch of outgoing datagrams for one socket, each with its own
/// destination, sent with one `sendmmsg` per flush.
pub struct SendBatch {
    /// `cap` buffers of [`BUF_LEN`] bytes, back to back.
    data: Vec<u8>,
    /// (offset, length) in `data` of each queued datagram.
    spans: Vec<(usize, usize)>,
    /// One group (one datagram, no GSO) per queued datagram.
    groups: Vec<TxGroup>,
    tx: MmsgTx,
    cap: usize,
}

impl SendBatch {
    /// A batch of at most `cap` datagrams.
    pub fn new(cap: usize) -> SendBatch {
        let cap = cap.max(1);
        SendBatch {
            data: vec![0; cap * BUF_LEN],
            spans: Vec::with_capacity(cap),
            groups: Vec::with_capacity(cap),
            tx: MmsgTx::waiting(cap),
            cap,
        }
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// True when no more datagrams fit.
    pub fn is_full(&self) -> bool {
        self.groups.len() == self.cap
    }

    /// The next free buffer ([`BUF_LEN`] bytes); commit it with
    /// [`SendBatch::push`]. Panics if the batch is full (callers check
    /// [`SendBatch::is_full`]).
    pub fn next_buf(&mut self) -> &mut [u8] {
        let at = self.groups.len() * BUF_LEN;
        &mut self.data[at..at + BUF_LEN]
    }

    /// Queues the buffer last returned by `next_buf`, `len` bytes, to `dest`.
    pub fn push(&mut self, len: usize, dest: &SocketAddr) {
        let k = self.groups.len();
        self.spans.push((k * BUF_LEN, len.min(BUF_LEN)));
        self.groups.push(TxGroup {
            first: k,
            count: 1,
            segment: 0,
            dest: *dest,
        });
    }

    /// Sends everything queued on `fd` (blocking socket: the kernel may wait
    /// for buffer space). Returns (sent, failed). Bounded: at most one
    /// syscall per queued datagram, plus a few retries after signals.
    pub fn flush(&mut self, fd: RawFd) -> (usize, usize) {
        let n = self.groups.len();
        let (mut off, mut failed, mut tries) = (0usize, 0usize, 0usize);
        while off < n && tries < n + 4 {
            tries += 1;
            match self
                .tx
                .send(fd, &self.data, &self.spans, &self.groups[off..])
            {
                Ok(k) if k > 0 => off += k,
                Err(SendError::Interrupted) => continue,
                // The datagram at `off` could not be sent (e.g. refused
                // after an earlier ICMP error, no buffer space): skip it.
                _ => {
                    off += 1;
                    failed += 1;
                }
            }
        }
        failed += n - off;
        self.spans.clear();
        self.groups.clear();
        (n - failed, failed)
    }
}

/// Buffers for one `recvmmsg` call.
pub struct RecvBatch {
    /// One [`BUF_LEN`] slot per datagram, back to back.
    data: Vec<u8>,
    /// What the kernel said about each datagram of the last call.
    meta: Vec<RxMeta>,
    rx: MmsgRx,
}

impl RecvBatch {
    /// Room for `cap` datagrams per call.
    pub fn new(cap: usize) -> RecvBatch {
        let cap = cap.max(1);
        RecvBatch {
            data: vec![0; cap * BUF_LEN],
            meta: vec![RxMeta::default(); cap],
            rx: MmsgRx::new(cap),
        }
    }

    /// Receives what is waiting on `fd` without blocking (MSG_DONTWAIT).
    /// Returns how many datagrams arrived (0 when none, or on an error).
    pub fn recv(&mut self, fd: RawFd) -> usize {
        self.rx
            .recv(fd, &mut self.data, BUF_LEN, BUF_LEN, &mut self.meta)
            .unwrap_or(0)
    }

    /// Datagram `i` of the last `recv`: its bytes (mutable, to decrypt in
    /// place), its source address, whether it was truncated (`MSG_TRUNC`),
    /// and the kernel's arrival time (CLOCK_REALTIME ns) when
    /// [`rampart_sys::enable_rx_timestamps`] is on.
    pub fn get(&mut self, i: usize) -> (&mut [u8], Option<SocketAddr>, bool, Option<u64>) {
        let m = self.meta[i];
        let at = i * BUF_LEN;
        (
            &mut self.data[at..at + m.len],
            m.src,
            m.truncated,
            m.timestamp_ns,
        )
    }
}
