//! The io_uring ring and its provided-buffer ring, behind a safe surface.
//!
//! Soundness rests on one rule, enforced here: a packet buffer is either
//! the kernel's (in the provided-buffer ring, or read by an in-flight
//! `sendmsg`) or ours, never both, and Rust references are only ever made
//! to buffers that are ours. Every buffer has a state (`Kernel`, `User`,
//! `Sending`); [`Ring::buf_mut`] hands out a slice only for `User`, and
//! [`Ring::send`] / [`Ring::recycle`] move a `User` buffer back to the
//! kernel. The buffer memory is one raw allocation (never a `Vec` the
//! kernel writes behind our back), freed only after every operation that
//! could touch it has completed (see `Drop`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::GSO_MAX_SEGMENTS;

/// Header the kernel writes before each multishot `recvmsg` datagram
/// (`struct io_uring_recvmsg_out`).
const RECVMSG_OUT: usize = 16;
/// Room reserved for the source address (≥ `sockaddr_in6`).
pub const NAME_LEN: usize = 32;
/// Room reserved for control messages (`CMSG_SPACE(4)`, `SO_RXQ_OVFL`).
pub const CONTROL_LEN: usize = 24;
/// Where the datagram starts in a buffer.
pub const PAYLOAD_OFFSET: usize = RECVMSG_OUT + NAME_LEN + CONTROL_LEN;
/// The provided-buffer group id.
const BGID: u16 = 0;
/// Registered-file slots per ring: one per port a worker can hold (a
/// socket's slot is its token, below the port range's size). 512 KiB of
/// kernel memory.
const FIXED_SLOTS: u32 = 65_536;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BufState {
    Kernel,
    User,
    Sending,
}

/// Per-buffer `sendmsg` arguments; their addresses stay fixed (boxed
/// slice, never resized) while a send is in flight.
struct SendArgs {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
}

/// Arguments of one GSO `sendmsg` (several buffers, one destination, one
/// segment size); fixed addresses like [`SendArgs`].
struct GsoArgs {
    hdr: libc::msghdr,
    iovs: [libc::iovec; GSO_MAX_SEGMENTS],
    addr: libc::sockaddr_storage,
    cmsg: crate::cmsg::CmsgBuf,
    /// The buffers it sends, in order.
    bids: [u16; GSO_MAX_SEGMENTS],
    count: usize,
    busy: bool,
}

/// GSO sends in flight at once per ring; a run that finds none free is
/// sent datagram by datagram.
pub const GSO_SLOTS: u16 = 64;

/// Whether a multishot operation stays armed after the completion whose
/// CQE flags are `flags` (else it must be armed again).
pub fn more(flags: u32) -> bool {
    cqueue::more(flags)
}

/// What a send completion's result (CQE `res`) says: the bytes sent, or
/// why not.
pub fn send_result(res: i32) -> Result<usize, crate::SendError> {
    usize::try_from(res).map_err(|_| crate::SendError::from_errno(-res))
}

/// A datagram taken out of the buffer ring.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// The buffer id; the buffer is ours until sent or recycled.
    pub bid: u16,
    /// Datagram length (within the buffer's payload area).
    pub len: usize,
    /// Source address.
    pub src: Option<SocketAddr>,
    /// The datagram did not fit.
    pub truncated: bool,
    /// The socket's kernel drop counter, when reported.
    pub ovfl: Option<u32>,
}

/// An io_uring instance with a ring of `n` provided buffers of `slot`
/// bytes each.
pub struct Ring {
    ring: IoUring,
    /// The buffer ring entries (page-aligned, `n` entries).
    entries: NonNull<u8>,
    entries_layout: Layout,
    /// The packet buffers (`n * slot` bytes).
    data: NonNull<u8>,
    data_layout: Layout,
    n: u16,
    slot: usize,
    provide_len: u32,
    state: Box<[BufState]>,
    send_args: Box<[SendArgs]>,
    gso_args: Box<[GsoArgs]>,
    /// Template for multishot `recvmsg` (only the name and control sizes
    /// matter); boxed so its address is stable.
    recv_template: Box<libc::msghdr>,
    /// Our producer tail of the buffer ring.
    tail: u16,
    /// Operations submitted that may still touch our memory.
    inflight: usize,
    registered: bool,
    /// Slots in the registered-file table (0: none registered; sockets
    /// are then named by descriptor).
    fixed_slots: u32,
    /// `IORING_OP_SEND` takes a destination address (6.0+; checked by a
    /// later feature flag, 6.10's `IORING_FEAT_RECVSEND_BUNDLE`, the
    /// earliest the io-uring crate exposes): no `msghdr` to import per
    /// send.
    send_to: bool,
}

/// The soft `RLIMIT_NOFILE`, saturated to `u32`.
fn open_files_limit() -> u32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    u32::try_from(lim.rlim_cur).unwrap_or(u32::MAX)
}

/// How an operation names its socket: a registered-file slot (the kernel
/// skips the descriptor-table lookup and reference count per operation)
/// or a plain descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sock {
    /// A slot of the registered-file table.
    Fixed(u32),
    /// A descriptor.
    Fd(RawFd),
}

impl Ring {
    /// Sets up the ring (SQ of `sq_entries`) and registers `n` (a power of
    /// two) buffers of `slot` bytes; the kernel may fill `provide_len`
    /// bytes of each (the rest is tailroom).
    pub fn new(sq_entries: u32, n: u16, slot: usize, provide_len: usize) -> io::Result<Ring> {
        if !n.is_power_of_two() || provide_len > slot || provide_len <= PAYLOAD_OFFSET {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let cq = u32::from(n).max(sq_entries) * 4;
        // Deferred task work (6.1+): completions of the multishot receives
        // run only when this thread waits for them, in one go, instead of
        // interrupting it per datagram. It needs a single submitting
        // thread, which a worker is (the ring is made, used and dropped on
        // its thread). Older kernels refuse the flags; then the plain ring.
        let ring = match IoUring::builder()
            .setup_cqsize(cq)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(sq_entries)
        {
            Ok(r) => r,
            Err(_) => IoUring::builder().setup_cqsize(cq).build(sq_entries)?,
        };
        let send_to = ring.params().is_feature_recvsend_bundle();
        // The kernel caps the table at the open-files limit.
        let slots = FIXED_SLOTS.min(open_files_limit());
        let fixed_slots = if slots > 0 && ring.submitter().register_files_sparse(slots).is_ok() {
            slots
        } else {
            0
        };
        let entries_layout =
            Layout::from_size_align(usize::from(n) * size_of::<types::BufRingEntry>(), 4096)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let data_layout = Layout::from_size_align(usize::from(n) * slot, 64)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both layouts have non-zero size (n >= 1, slot > 0).
        let entries = NonNull::new(unsafe { alloc_zeroed(entries_layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // SAFETY: as above.
        let data = match NonNull::new(unsafe { alloc_zeroed(data_layout) }) {
            Some(d) => d,
            None => {
                // SAFETY: allocated just above with this layout.
                unsafe { dealloc(entries.as_ptr(), entries_layout) };
                return Err(io::Error::from(io::ErrorKind::OutOfMemory));
            }
        };
        // SAFETY: msghdr is plain data; all-zero is valid.
        let mut recv_template: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        recv_template.msg_namelen = NAME_LEN as libc::socklen_t;
        recv_template.msg_controllen = CONTROL_LEN as _;
        let send_args = (0..n)
            .map(|_| SendArgs {
                // SAFETY: plain data; all-zero is valid.
                hdr: unsafe { zeroed() },
                // SAFETY: plain data; all-zero is valid.
                iov: unsafe { zeroed() },
                // SAFETY: plain data; all-zero is valid.
                addr: unsafe { zeroed() },
            })
            .collect();
        let mut r = Ring {
            ring,
            entries,
            entries_layout,
            data,
            data_layout,
            n,
            slot,
            provide_len: provide_len as u32,
            state: vec![BufState::User; usize::from(n)].into_boxed_slice(),
            send_args,
            gso_args: (0..GSO_SLOTS)
                .map(|_| GsoArgs {
                    // SAFETY: plain data; all-zero is valid.
                    hdr: unsafe { zeroed() },
                    // SAFETY: plain data; all-zero is valid.
                    iovs: unsafe { zeroed() },
                    // SAFETY: plain data; all-zero is valid.
                    addr: unsafe { zeroed() },
                    cmsg: [0; 4],
                    bids: [0; GSO_MAX_SEGMENTS],
                    count: 0,
                    busy: false,
                })
                .collect(),
            recv_template,
            tail: 0,
            inflight: 0,
            registered: false,
            fixed_slots,
            send_to,
        };
        // SAFETY: the entries memory is page-aligned, holds n entries and
        // lives until after the ring is closed (Drop frees it last).
        unsafe {
            r.ring.submitter().register_buf_ring_with_flags(
                r.entries.as_ptr() as u64,
                n,
                BGID,
                0,
            )?;
        }
        r.registered = true;
        for bid in 0..n {
            r.give(bid);
        }
        r.publish();
        Ok(r)
    }

    /// Whether multishot `recvmsg` with provided buffers works here; the
    /// kernel answers an unsupported opcode or flag with an error CQE.
    pub fn probe() -> io::Result<()> {
        let mut p = io_uring::Probe::new();
        let ring = IoUring::new(8)?;
        ring.submitter().register_probe(&mut p)?;
        for op in [
            opcode::RecvMsg::CODE,
            opcode::SendMsg::CODE,
            opcode::PollAdd::CODE,
        ] {
            if !p.is_supported(op) {
                return Err(io::Error::from(io::ErrorKind::Unsupported));
            }
        }
        drop(ring);
        // Buffer-ring registration (5.19+) is checked by building one.
        Ring::new(8, 8, 2048, 1024).map(drop)
    }

    fn entry_ptr(&self, idx: u16) -> *mut types::BufRingEntry {
        // SAFETY: idx & (n - 1) < n entries, inside the entries allocation.
        unsafe {
            self.entries
                .as_ptr()
                .cast::<types::BufRingEntry>()
                .add(usize::from(idx & (self.n - 1)))
        }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < n (callers check), so the offset is inside data.
        unsafe { self.data.as_ptr().add(usize::from(bid) * self.slot) }
    }

    /// Puts a buffer in the ring (not yet visible to the kernel).
    fn give(&mut self, bid: u16) {
        let addr = self.buf_ptr(bid) as u64;
        let e = self.entry_ptr(self.tail);
        // SAFETY: e points at a ring entry the kernel does not read until
        // the tail is published past it; we write its three fields.
        unsafe {
            (*e).set_addr(addr);
            (*e).set_len(self.provide_len);
            (*e).set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        self.state[usize::from(bid)] = BufState::Kernel;
    }

    /// Makes the buffers given since the last publish visible.
    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry of the live
        // entries memory; it is a u16 the kernel reads, so we store it
        // atomically with release ordering after the entries were written.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries.as_ptr().cast()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Hands a buffer of ours back to the kernel's ring.
    pub fn recycle(&mut self, bid: u16) {
        if bid < self.n && self.state[usize::from(bid)] == BufState::User {
            self.give(bid);
            self.publish();
        }
    }

    /// The whole buffer `bid`, if it is ours, to read (several may be
    /// read at once: a batch's crypto reads many packets together).
    pub fn buf(&self, bid: u16) -> &[u8] {
        if bid >= self.n || self.state[usize::from(bid)] != BufState::User {
            return &[];
        }
        // SAFETY: the buffer is ours (state User): the kernel neither
        // reads nor writes it until we send or recycle it, and &self rules
        // out a mutable view (`buf_mut` takes &mut self) while this lives.
        unsafe { std::slice::from_raw_parts(self.buf_ptr(bid), self.slot) }
    }

    /// The whole buffer `bid`, if it is ours.
    pub fn buf_mut(&mut self, bid: u16) -> &mut [u8] {
        if bid >= self.n || self.state[usize::from(bid)] != BufState::User {
            return &mut [];
        }
        // SAFETY: the buffer is ours (state User): the kernel neither
        // reads nor writes it until we send or recycle it, and &mut self
        // makes this the only reference to it.
        unsafe { std::slice::from_raw_parts_mut(self.buf_ptr(bid), self.slot) }
    }

    fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: every SQE built by this type points only at memory
            // this Ring owns and keeps alive (and unaliased by Rust
            // references) until the operation's last CQE: the recv
            // template, send_args[bid], a busy gso_args slot and Sending
            // buffers.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.inflight += 1;
                return Ok(());
            }
            self.ring.submit()?;
        }
        Err(io::Error::from(io::ErrorKind::WouldBlock))
    }

    /// Registers `fd` in slot `slot` of the registered-file table and
    /// names it by that slot, or by descriptor where there is no table or
    /// the slot is out of it.
    pub fn register_socket(&mut self, slot: u32, fd: RawFd) -> Sock {
        if slot < self.fixed_slots
            && self
                .ring
                .submitter()
                .register_files_update(slot, &[fd])
                .is_ok()
        {
            Sock::Fixed(slot)
        } else {
            Sock::Fd(fd)
        }
    }

    /// Empties a registered-file slot (operations in flight keep their
    /// own reference to the file).
    pub fn unregister_socket(&mut self, sock: Sock) {
        if let Sock::Fixed(slot) = sock {
            let _ = self.ring.submitter().register_files_update(slot, &[-1]);
        }
    }

    /// Arms a multishot `recvmsg` on `sock` into the buffer ring.
    pub fn arm_recv(&mut self, sock: Sock, user_data: u64) -> io::Result<()> {
        let sqe = match sock {
            Sock::Fixed(i) => {
                opcode::RecvMsgMulti::new(types::Fixed(i), &*self.recv_template, BGID)
            }
            Sock::Fd(fd) => opcode::RecvMsgMulti::new(types::Fd(fd), &*self.recv_template, BGID),
        }
        .build()
        .user_data(user_data);
        self.push(&sqe)
    }

    /// Arms a multishot poll for readability on `fd`.
    pub fn arm_poll(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data);
        self.push(&sqe)
    }

    /// Cancels the operation(s) with `target` user data.
    pub fn cancel(&mut self, target: u64, user_data: u64) -> io::Result<()> {
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::user_data(target).all())
            .build()
            .user_data(user_data);
        self.push(&sqe)
    }

    /// Sends `len` bytes at `offset` of buffer `bid` (ours) from `sock` to
    /// `dest`. The buffer stays the kernel's until [`Ring::send_done`].
    pub fn send(
        &mut self,
        sock: Sock,
        bid: u16,
        offset: usize,
        len: usize,
        dest: &SocketAddr,
        user_data: u64,
    ) -> io::Result<()> {
        if bid >= self.n
            || self.state[usize::from(bid)] != BufState::User
            || offset + len > self.slot
        {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let base = self.buf_ptr(bid);
        let a = &mut self.send_args[usize::from(bid)];
        let namelen = crate::addr::sockaddr_from(dest, &mut a.addr);
        a.iov = libc::iovec {
            // SAFETY: offset + len <= slot (checked), inside the buffer.
            iov_base: unsafe { base.add(offset) }.cast(),
            iov_len: len,
        };
        let addr = (&a.addr as *const libc::sockaddr_storage).cast::<libc::sockaddr>();
        let sqe = if self.send_to {
            // `send` with an address: the kernel copies the address and
            // nothing else from us.
            let (ptr, len) = (a.iov.iov_base.cast::<u8>().cast_const(), len as u32);
            match sock {
                Sock::Fixed(i) => opcode::Send::new(types::Fixed(i), ptr, len)
                    .dest_addr(addr)
                    .dest_addr_len(namelen)
                    .build(),
                Sock::Fd(fd) => opcode::Send::new(types::Fd(fd), ptr, len)
                    .dest_addr(addr)
                    .dest_addr_len(namelen)
                    .build(),
            }
        } else {
            a.hdr.msg_name = addr.cast_mut().cast();
            a.hdr.msg_namelen = namelen;
            a.hdr.msg_iov = &mut a.iov;
            a.hdr.msg_iovlen = 1;
            a.hdr.msg_control = std::ptr::null_mut();
            a.hdr.msg_controllen = 0;
            a.hdr.msg_flags = 0;
            match sock {
                Sock::Fixed(i) => opcode::SendMsg::new(types::Fixed(i), &a.hdr).build(),
                Sock::Fd(fd) => opcode::SendMsg::new(types::Fd(fd), &a.hdr).build(),
            }
        }
        .user_data(user_data);
        self.state[usize::from(bid)] = BufState::Sending;
        match self.push(&sqe) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.state[usize::from(bid)] = BufState::User;
                Err(e)
            }
        }
    }

    /// A send of buffer `bid` completed: the buffer is ours again.
    pub fn send_done(&mut self, bid: u16) {
        if bid < self.n && self.state[usize::from(bid)] == BufState::Sending {
            self.state[usize::from(bid)] = BufState::User;
        }
    }

    /// Sends buffers `bids` (ours, each `len` bytes at `offset`) from
    /// `sock` to `dest` as one GSO `sendmsg` that the kernel cuts into
    /// `len`-byte datagrams, using GSO slot `slot`. The buffers stay the
    /// kernel's until [`Ring::segmented_done`].
    #[allow(clippy::too_many_arguments)]
    pub fn send_segmented(
        &mut self,
        slot: u16,
        sock: Sock,
        bids: &[u16],
        offset: usize,
        len: usize,
        dest: &SocketAddr,
        user_data: u64,
    ) -> io::Result<()> {
        let ok_slot = self
            .gso_args
            .get(usize::from(slot))
            .is_some_and(|g| !g.busy);
        let ok_bufs = bids
            .iter()
            .all(|&b| b < self.n && self.state[usize::from(b)] == BufState::User);
        if !ok_slot
            || !ok_bufs
            || bids.len() < 2
            || bids.len() > GSO_MAX_SEGMENTS
            || offset + len > self.slot
            || len == 0
            || len > usize::from(u16::MAX)
        {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        for (i, &b) in bids.iter().enumerate() {
            let base = self.buf_ptr(b);
            let g = &mut self.gso_args[usize::from(slot)];
            g.iovs[i] = libc::iovec {
                // SAFETY: offset + len <= slot (checked), inside buffer b.
                iov_base: unsafe { base.add(offset) }.cast(),
                iov_len: len,
            };
            g.bids[i] = b;
        }
        let g = &mut self.gso_args[usize::from(slot)];
        g.count = bids.len();
        let namelen = crate::addr::sockaddr_from(dest, &mut g.addr);
        g.hdr.msg_name = (&mut g.addr as *mut libc::sockaddr_storage).cast();
        g.hdr.msg_namelen = namelen;
        g.hdr.msg_iov = g.iovs.as_mut_ptr();
        g.hdr.msg_iovlen = bids.len() as _;
        g.hdr.msg_flags = 0;
        crate::cmsg::set_udp_segment(&mut g.hdr, &mut g.cmsg, len as u16);
        let sqe = match sock {
            Sock::Fixed(i) => opcode::SendMsg::new(types::Fixed(i), &g.hdr).build(),
            Sock::Fd(fd) => opcode::SendMsg::new(types::Fd(fd), &g.hdr).build(),
        }
        .user_data(user_data);
        g.busy = true;
        for &b in bids {
            self.state[usize::from(b)] = BufState::Sending;
        }
        match self.push(&sqe) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.gso_args[usize::from(slot)].busy = false;
                for &b in bids {
                    self.state[usize::from(b)] = BufState::User;
                }
                Err(e)
            }
        }
    }

    /// A GSO send finished: its buffers are ours again. Returns them, in
    /// the order sent.
    pub fn segmented_done(&mut self, slot: u16) -> ([u16; GSO_MAX_SEGMENTS], usize) {
        let Some(g) = self.gso_args.get_mut(usize::from(slot)) else {
            return ([0; GSO_MAX_SEGMENTS], 0);
        };
        if !g.busy {
            return ([0; GSO_MAX_SEGMENTS], 0);
        }
        g.busy = false;
        let (bids, count) = (g.bids, g.count);
        for &b in &bids[..count] {
            if b < self.n && self.state[usize::from(b)] == BufState::Sending {
                self.state[usize::from(b)] = BufState::User;
            }
        }
        (bids, count)
    }

    /// Takes the buffer of a receive completion (`flags` of its CQE) and
    /// parses what the kernel wrote into it.
    pub fn take_received(&mut self, res: i32, flags: u32) -> Option<Received> {
        let bid = cqueue::buffer_select(flags)?;
        if bid >= self.n || self.state[usize::from(bid)] != BufState::Kernel {
            return None;
        }
        self.state[usize::from(bid)] = BufState::User;
        let written = usize::try_from(res)
            .unwrap_or(0)
            .min(self.provide_len as usize);
        let buf = self.buf_mut(bid);
        if written < PAYLOAD_OFFSET {
            return Some(Received {
                bid,
                len: 0,
                src: None,
                truncated: true,
                ovfl: None,
            });
        }
        let word = |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let (namelen, controllen, payloadlen, msg_flags) = (word(0), word(4), word(8), word(12));
        let src = crate::addr::sockaddr_from_bytes(
            &buf[RECVMSG_OUT..RECVMSG_OUT + (namelen as usize).min(NAME_LEN)],
        );
        let control = &buf[RECVMSG_OUT + NAME_LEN
            ..RECVMSG_OUT + NAME_LEN + (controllen as usize).min(CONTROL_LEN)];
        let ovfl = crate::cmsg::parse_rxq_ovfl(control);
        let room = written - PAYLOAD_OFFSET;
        Some(Received {
            bid,
            len: (payloadlen as usize).min(room),
            src,
            truncated: msg_flags & (libc::MSG_TRUNC as u32) != 0 || payloadlen as usize > room,
            ovfl,
        })
    }

    /// Submits what is queued, without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        self.ring.submit()?;
        Ok(())
    }

    /// Submits what is queued and waits up to `timeout_ms` for at least
    /// one completion (a timeout or a signal is not an error).
    pub fn wait(&mut self, timeout_ms: u32) -> io::Result<()> {
        let ts = types::Timespec::new()
            .sec(u64::from(timeout_ms / 1000))
            .nsec((timeout_ms % 1000) * 1_000_000);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.raw_os_error() == Some(libc::EINTR) =>
            {
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The next completion: (user data, result, flags). Counts finished
    /// operations.
    pub fn next_completion(&mut self) -> Option<(u64, i32, u32)> {
        let cqe = self.ring.completion().next()?;
        if !cqueue::more(cqe.flags()) {
            self.inflight = self.inflight.saturating_sub(1);
        }
        Some((cqe.user_data(), cqe.result(), cqe.flags()))
    }

    /// Number of buffers.
    pub fn buffers(&self) -> u16 {
        self.n
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Cancel everything and wait (bounded) until no operation can
        // touch our memory any more; only then free it.
        if self.inflight > 0 {
            let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
                .build()
                .user_data(0);
            let _ = self.push(&cancel);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.inflight > 0 && Instant::now() < deadline {
            let _ = self.wait(10);
            while self.next_completion().is_some() {}
        }
        if self.inflight > 0 {
            // Something may still write into the buffers: leak them rather
            // than free memory the kernel could touch.
            tracing::error!(
                inflight = self.inflight,
                "io_uring ops did not finish; leaking buffers"
            );
            return;
        }
        if self.registered {
            let _ = self.ring.submitter().unregister_buf_ring(BGID);
        }
        // SAFETY: allocated in new() with these layouts; no operation is in
        // flight and the buffer ring is unregistered, so nothing refers to
        // them any more.
        unsafe {
            dealloc(self.data.as_ptr(), self.data_layout);
            dealloc(self.entries.as_ptr(), self.entries_layout);
        }
    }
}
