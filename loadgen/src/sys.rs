//! The only module with `unsafe`: batched UDP syscalls (sendmmsg/recvmmsg),
//! ppoll, the SIGINT/SIGTERM flag and sysconf. Everything else in the crate
//! is safe code over these wrappers.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bytes per packet buffer: RTP header + payload + SRTP trailer, with room.
pub const BUF_LEN: usize = 1536;

/// Converts a socket address to a `sockaddr_storage` and its length.
fn to_storage(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
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
            // SAFETY: sockaddr_storage is larger than and suitably aligned
            // for sockaddr_in; we write exactly one sockaddr_in at its start.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            (ss, size_of::<libc::sockaddr_in>() as libc::socklen_t)
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
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (ss, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Reads a socket address back from a `sockaddr_storage` the kernel filled.
fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is aligned for it.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
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

/// A batch of outgoing datagrams for one socket, each with its own
/// destination, sent with one `sendmmsg` per flush.
pub struct SendBatch {
    bufs: Vec<[u8; BUF_LEN]>,
    lens: Vec<usize>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    n: usize,
}

impl SendBatch {
    /// A batch of at most `cap` datagrams.
    pub fn new(cap: usize) -> SendBatch {
        let cap = cap.max(1);
        SendBatch {
            bufs: vec![[0u8; BUF_LEN]; cap],
            lens: vec![0; cap],
            // SAFETY: plain old data; all-zero is valid.
            addrs: vec![unsafe { zeroed() }; cap],
            addr_lens: vec![0; cap],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                cap
            ],
            // SAFETY: plain old data; all-zero (null pointers, zero lengths) is valid.
            hdrs: vec![unsafe { zeroed() }; cap],
            n: 0,
        }
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// True when no more datagrams fit.
    pub fn is_full(&self) -> bool {
        self.n == self.bufs.len()
    }

    /// The next free buffer; commit it with [`SendBatch::push`].
    /// Panics if the batch is full (callers check [`SendBatch::is_full`]).
    pub fn next_buf(&mut self) -> &mut [u8; BUF_LEN] {
        &mut self.bufs[self.n]
    }

    /// Queues the buffer last returned by `next_buf`, `len` bytes, to `dest`.
    pub fn push(&mut self, len: usize, dest: &SocketAddr) {
        let (ss, sl) = to_storage(dest);
        self.addrs[self.n] = ss;
        self.addr_lens[self.n] = sl;
        self.lens[self.n] = len.min(BUF_LEN);
        self.n += 1;
    }

    /// Sends everything queued on `fd` (blocking socket: the kernel may wait
    /// for buffer space). Returns (sent, failed). Bounded: at most one
    /// syscall per queued datagram.
    pub fn flush(&mut self, fd: RawFd) -> (usize, usize) {
        let n = self.n;
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.lens[i],
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            h.msg_hdr.msg_namelen = self.addr_lens[i];
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        let (mut off, mut failed, mut tries) = (0usize, 0usize, 0usize);
        while off < n && tries < n + 4 {
            tries += 1;
            // SAFETY: hdrs[off..n] point at iovecs, buffers and addresses
            // owned by `self`, which outlive the call and are not moved
            // during it; lengths are within the buffers.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr().add(off),
                    (n - off) as libc::c_uint,
                    0,
                )
            };
            if r > 0 {
                off += r as usize;
            } else if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // The datagram at `off` could not be sent (e.g. ECONNREFUSED
                // from an earlier ICMP error, ENOBUFS): skip it.
                off += 1;
                failed += 1;
            }
        }
        failed += n - off;
        self.n = 0;
        (n - failed, failed)
    }
}

/// Asks the kernel to stamp each received datagram with its arrival time
/// (`SO_TIMESTAMPNS`, CLOCK_REALTIME), read back by [`RecvBatch::get`].
/// Returns whether the socket accepted it.
pub fn enable_rx_timestamps(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: the option value points at a live c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// Control-message room per datagram (one timespec cmsg, 8-byte aligned).
const CTRL_WORDS: usize = 8;

/// Buffers for one `recvmmsg` call.
pub struct RecvBatch {
    bufs: Vec<[u8; BUF_LEN]>,
    ctrl: Vec<[u64; CTRL_WORDS]>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    n: usize,
}

impl RecvBatch {
    /// Room for `cap` datagrams per call.
    pub fn new(cap: usize) -> RecvBatch {
        let cap = cap.max(1);
        RecvBatch {
            bufs: vec![[0u8; BUF_LEN]; cap],
            ctrl: vec![[0u64; CTRL_WORDS]; cap],
            // SAFETY: plain old data; all-zero is valid.
            addrs: vec![unsafe { zeroed() }; cap],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                cap
            ],
            // SAFETY: plain old data; all-zero is valid.
            hdrs: vec![unsafe { zeroed() }; cap],
            n: 0,
        }
    }

    /// Receives what is waiting on `fd` without blocking (MSG_DONTWAIT).
    /// Returns how many datagrams arrived (0 when none).
    pub fn recv(&mut self, fd: RawFd) -> usize {
        let cap = self.bufs.len();
        for i in 0..cap {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: BUF_LEN,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.ctrl[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_controllen = (CTRL_WORDS * 8) as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at a buffer, iovec and address owned
        // by `self`, valid and unmoved for the duration of the call; the
        // iovec lengths are the buffers' lengths.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                cap as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.n = if r > 0 { r as usize } else { 0 };
        self.n
    }

    /// Datagram `i` of the last `recv`: its bytes (mutable, to decrypt in
    /// place), its source address, whether it was truncated (`MSG_TRUNC`),
    /// and the kernel's arrival time (CLOCK_REALTIME ns) when
    /// [`enable_rx_timestamps`] is on.
    pub fn get(&mut self, i: usize) -> (&mut [u8], Option<SocketAddr>, bool, Option<u64>) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(BUF_LEN);
        let trunc = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let src = from_storage(&self.addrs[i]);
        let mut ts = None;
        #[allow(clippy::unnecessary_cast)] // usize on glibc, u32 on musl
        if h.msg_hdr.msg_controllen as usize >= size_of::<libc::cmsghdr>() {
            // SAFETY: the kernel filled msg_control (our buffer, 8-byte
            // aligned) with msg_controllen bytes of cmsgs; CMSG_FIRSTHDR/
            // CMSG_NXTHDR stay within that length, and CMSG_DATA of an
            // SCM_TIMESTAMPNS cmsg holds one timespec (read unaligned).
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                        && (*c).cmsg_len as usize
                            >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
                    {
                        let t: libc::timespec =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                        ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
                        break;
                    }
                    c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
                }
            }
        }
        (&mut self.bufs[i][..len], src, trunc, ts)
    }
}

/// Sets the calling thread's timer slack (how late the kernel may end its
/// sleeps to group wake-ups; 50 µs by default) to `ns`, so that even pacing
/// sends at the due time. Best effort: returns whether the kernel took it.
pub fn set_timer_slack_ns(ns: u64) -> bool {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument by value and
    // touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    r == 0
}

/// Waits until one of `fds` is readable or `timeout` passed. Returns
/// whether something is readable.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> bool {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `p` is a valid array of `p.len()` pollfds, `ts` a valid
    // timespec; a null sigmask leaves the signal mask as it is.
    let r = unsafe {
        libc::ppoll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    r > 0
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that set the stop flag (read with
/// [`stop_requested`]), so a run ends its calls on Ctrl-C.
pub fn install_stop_handler() {
    // SAFETY: `on_signal` is an `extern "C"` function that only stores to
    // an atomic, which is async-signal-safe; sigaction is given a zeroed,
    // then filled, struct.
    unsafe {
        let mut sa: libc::sigaction = zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// True once SIGINT/SIGTERM arrived (or [`request_stop`] was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Sets the stop flag as a signal would.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Clock ticks per second for /proc times (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
