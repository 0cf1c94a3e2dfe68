//! Every system call of the data plane, and the only place in the crate
//! where `unsafe` is allowed (quinn-udp style). Each `unsafe` block says
//! why it is sound. Above this module the data plane is safe Rust.
//!
//! What is here: epoll, eventfd, CPU pinning, socket options,
//! `recvmmsg`/`sendmmsg` with their preallocated header arrays (GSO via the
//! `UDP_SEGMENT` cmsg, kernel drop counter via `SO_RXQ_OVFL`), in
//! [`uring`] the io_uring ring with its provided-buffer ring; for the
//! AF_XDP backend, in [`bpf`] the XDP steering program with its maps and
//! `bpf(2)` calls, in [`xsk`] the AF_XDP socket with its UMEM and rings,
//! and in [`netlink`] the route/neighbour/link queries that give the
//! frames it builds their next-hop MAC.
#![allow(unsafe_code)]

pub(crate) mod bpf;
pub(crate) mod netlink;
pub(crate) mod uring;
pub(crate) mod xsk;

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `SO_RXQ_OVFL` (asm-generic/socket.h; x86, arm, riscv).
const SO_RXQ_OVFL: libc::c_int = 40;
/// `UDP_SEGMENT` (linux/udp.h): UDP GSO segment size, as a cmsg.
const UDP_SEGMENT: libc::c_int = 103;
/// Most segments the kernel takes in one GSO send (`UDP_MAX_SEGMENTS`).
pub(crate) const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes of one GSO send.
pub(crate) const GSO_MAX_BYTES: usize = 65_000;

/// Room for one cmsg carrying a `u32` (or a `u16`), 8-byte aligned.
pub(crate) type CmsgBuf = [u64; 4];

/// Points `hdr`'s control data at `cm`, holding one `UDP_SEGMENT` cmsg:
/// the kernel cuts the datagram into `segment`-byte datagrams (GSO).
pub(crate) fn set_udp_segment(hdr: &mut libc::msghdr, cm: &mut CmsgBuf, segment: u16) {
    *cm = [0; 4];
    hdr.msg_control = cm.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
    // SAFETY: the control buffer is live, 8-byte aligned and holds
    // CMSG_SPACE(2) = 24 <= 32 bytes, so the first header and its 2 data
    // bytes fit; msg_control/msg_controllen describe exactly that buffer.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(hdr);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(2) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A non-blocking eventfd, the control plane's doorbell to a worker.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // fd we own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: fd was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Rings the doorbell (never blocks; a saturated counter is still
    /// readable, so an error here loses nothing).
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an fd we own.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                size_of::<u64>(),
            )
        };
    }

    /// Resets the counter (non-blocking; nothing to read is fine).
    pub(crate) fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                size_of::<u64>(),
            )
        };
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A level-triggered epoll set whose events carry a `u64` token.
pub(crate) struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub(crate) fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: no pointers; a non-negative result is a new fd we own.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: fd was just returned by epoll_create1.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a live epoll_event; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: ev is live (older kernels want a non-null pointer).
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` and returns how many events are in
    /// [`Epoll::token`]`(0..n)`; `EINTR` is 0 events.
    pub(crate) fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        let cap = self.events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: the kernel writes at most `cap` events into our buffer,
        // which holds that many.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    pub(crate) fn token(&self, i: usize) -> u64 {
        self.events[i].u64
    }
}

/// Asks the kernel to report, with each datagram, how many it dropped on
/// this socket because its receive queue was full.
pub(crate) fn enable_rxq_ovfl(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Pins the calling thread to one CPU.
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: cpu is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a live cpu_set_t and its size; 0 is this thread.
    cvt(unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(())
}

/// Sets how late the kernel may end the calling thread's sleeps (its timer
/// slack, 50 µs by default), so a batching tick of tens of µs is kept.
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes one integer by value and touches no
    // memory of ours.
    cvt(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) })?;
    Ok(())
}

/// Encodes a socket address for the kernel.
pub(crate) fn sockaddr_from(
    addr: &SocketAddr,
    out: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in; we write one whole sockaddr_in at its start.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Decodes a socket address the kernel wrote (`None`: not IPv4/IPv6).
pub(crate) fn sockaddr_to(raw: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    match raw.ss_family as libc::c_int {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is aligned for it.
            let sin: &libc::sockaddr_in =
                unsafe { &*(raw as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(raw as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The address a socket is bound to (`getsockname`).
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut raw: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live storage.
    cvt(unsafe {
        libc::getsockname(
            fd,
            (&mut raw as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    sockaddr_to(&raw, len as usize)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
}

/// One `sendto` of `buf` to `dest` (non-blocking). The slow path of the
/// AF_XDP backend: frames it cannot build itself go through the leg's
/// kernel socket.
pub(crate) fn send_to(fd: RawFd, buf: &[u8], dest: &SocketAddr) -> io::Result<usize> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut raw: libc::sockaddr_storage = unsafe { zeroed() };
    let len = sockaddr_from(dest, &mut raw);
    // SAFETY: `buf` is a live slice of `buf.len()` bytes; the address is
    // a live sockaddr_storage holding `len` meaningful bytes.
    let r = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&raw as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Decodes an address from raw bytes (as io_uring lays them out, without
/// alignment).
pub(crate) fn sockaddr_from_bytes(bytes: &[u8]) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut raw: libc::sockaddr_storage = unsafe { zeroed() };
    let n = bytes.len().min(size_of::<libc::sockaddr_storage>());
    // SAFETY: copies n <= size_of(storage) bytes into the live storage;
    // the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            (&mut raw as *mut libc::sockaddr_storage).cast::<u8>(),
            n,
        )
    };
    sockaddr_to(&raw, n)
}

/// Reads the `SO_RXQ_OVFL` counter out of raw cmsg bytes (8-byte aligned
/// or not).
pub(crate) fn parse_rxq_ovfl(control: &[u8]) -> Option<u32> {
    let hdr = size_of::<libc::cmsghdr>();
    let mut at = 0usize;
    while at + hdr <= control.len() {
        // SAFETY: hdr bytes at `at` are in bounds; read_unaligned copies a
        // plain-data cmsghdr out of them.
        let c: libc::cmsghdr = unsafe { std::ptr::read_unaligned(control.as_ptr().add(at).cast()) };
        let clen = c.cmsg_len as usize;
        if clen < hdr || at + clen > control.len() {
            return None;
        }
        if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == SO_RXQ_OVFL && clen >= hdr + 4 {
            let d = &control[at + hdr..at + hdr + 4];
            return Some(u32::from_ne_bytes([d[0], d[1], d[2], d[3]]));
        }
        at += (clen + 7) & !7;
    }
    None
}

/// What `recvmmsg` said about one datagram.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RxMeta {
    /// Bytes received (at most the receive length).
    pub len: usize,
    /// Where it came from.
    pub src: Option<SocketAddr>,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// The socket's cumulative kernel drop counter, when reported.
    pub ovfl: Option<u32>,
}

/// Preallocated `recvmmsg` state for up to `n` datagrams.
pub(crate) struct MmsgRx {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<CmsgBuf>,
}

impl MmsgRx {
    pub(crate) fn new(n: usize) -> MmsgRx {
        let n = n.max(1);
        MmsgRx {
            // SAFETY: mmsghdr, iovec and sockaddr_storage are plain data for
            // which all-zero is valid (null pointers, zero lengths).
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            names: (0..n).map(|_| unsafe { zeroed() }).collect(),
            cmsgs: vec![[0u64; 4]; n],
        }
    }

    /// Receives up to `out.len()` datagrams (non-blocking) into consecutive
    /// `slot`-byte slots of `data`, at most `recv_len` bytes each. Returns
    /// how many arrived (0 when the socket is empty).
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        data: &mut [u8],
        slot: usize,
        recv_len: usize,
        out: &mut [RxMeta],
    ) -> io::Result<usize> {
        let n = out.len().min(self.hdrs.len()).min(data.len() / slot.max(1));
        if n == 0 {
            return Ok(0);
        }
        let recv_len = recv_len.min(slot);
        let base = data.as_mut_ptr();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                // SAFETY: i * slot + recv_len <= n * slot <= data.len(), so
                // the pointer stays inside `data`.
                iov_base: unsafe { base.add(i * slot) }.cast(),
                iov_len: recv_len,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = size_of::<CmsgBuf>() as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at live, exclusively borrowed
        // buffers (data through iovs, names, cmsgs) of the stated sizes,
        // which outlive this call; the kernel fills at most n headers.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let got = r as usize;
        for (i, slot_meta) in out.iter_mut().enumerate().take(got) {
            let h = &self.hdrs[i];
            #[allow(clippy::unnecessary_cast)] // socklen_t on some targets
            let control_len = (h.msg_hdr.msg_controllen as usize).min(size_of::<CmsgBuf>());
            // SAFETY: the cmsg buffer is a live [u64; 4]; viewing its first
            // control_len (<= 32) bytes as u8 is in bounds.
            let control = unsafe {
                std::slice::from_raw_parts(self.cmsgs[i].as_ptr().cast::<u8>(), control_len)
            };
            *slot_meta = RxMeta {
                len: (h.msg_len as usize).min(recv_len),
                src: sockaddr_to(&self.names[i], h.msg_hdr.msg_namelen as usize),
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                ovfl: parse_rxq_ovfl(control),
            };
        }
        Ok(got)
    }
}

/// One datagram (or GSO super-datagram) for [`MmsgTx::send`]: `count`
/// entries of the slot list starting at `first`, to `dest`; with
/// `segment > 0` they go as one GSO send of that segment size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxGroup {
    pub first: usize,
    pub count: usize,
    pub segment: u16,
    pub dest: SocketAddr,
}

/// Preallocated `sendmmsg` state.
pub(crate) struct MmsgTx {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<CmsgBuf>,
}

impl MmsgTx {
    pub(crate) fn new(n: usize) -> MmsgTx {
        let n = n.max(1);
        MmsgTx {
            // SAFETY: plain data, all-zero valid (see MmsgRx::new).
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            names: (0..n).map(|_| unsafe { zeroed() }).collect(),
            cmsgs: vec![[0u64; 4]; n],
        }
    }

    /// Sends `groups` from `fd` in one `sendmmsg`. Entry `k` of the slot
    /// list is `spans[k] = (offset, len)` into `data`. Returns how many
    /// groups the kernel took (the first one failing is an `Err`).
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        data: &[u8],
        spans: &[(usize, usize)],
        groups: &[TxGroup],
    ) -> io::Result<usize> {
        let ng = groups.len().min(self.hdrs.len());
        if ng == 0 {
            return Ok(0);
        }
        let mut iov_at = 0usize;
        let mut built = 0usize;
        for (g, grp) in groups.iter().take(ng).enumerate() {
            if grp.count == 0 || iov_at + grp.count > self.iovs.len() {
                break;
            }
            let first_iov = iov_at;
            for k in grp.first..grp.first + grp.count {
                let (off, len) = spans.get(k).copied().unwrap_or((0, 0));
                let len = if off <= data.len() {
                    len.min(data.len() - off)
                } else {
                    0
                };
                let off = off.min(data.len());
                self.iovs[iov_at] = libc::iovec {
                    // SAFETY: off + len <= data.len() (clamped above). The
                    // kernel only reads through this pointer.
                    iov_base: unsafe { data.as_ptr().add(off) } as *mut libc::c_void,
                    iov_len: len,
                };
                iov_at += 1;
            }
            let namelen = sockaddr_from(&grp.dest, &mut self.names[g]);
            let h = &mut self.hdrs[g];
            h.msg_hdr.msg_name = (&mut self.names[g] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = namelen;
            h.msg_hdr.msg_iov = &mut self.iovs[first_iov];
            h.msg_hdr.msg_iovlen = grp.count as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
            if grp.segment > 0 {
                set_udp_segment(&mut h.msg_hdr, &mut self.cmsgs[g], grp.segment);
            } else {
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
            }
            built += 1;
        }
        if built == 0 {
            return Ok(0);
        }
        // SAFETY: the first `built` headers point at live buffers (iovs
        // into `data`, names, cmsgs) that outlive the call; the kernel
        // reads them and writes only msg_len.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                built as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }
}
