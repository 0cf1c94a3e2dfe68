//! Kernel routing state over NETLINK_ROUTE (route, neighbour, link, address
//! owner), a neighbour-resolve request, and the ethtool channel ioctl.
//!
//! Why: the AF_XDP backend builds whole Ethernet frames itself, so it needs
//! what the kernel's stack works out for an ordinary socket: the interface a
//! destination leaves by, the next hop, and that next hop's MAC. We *ask*
//! the kernel for each of these instead of keeping tables of our own, so the
//! kernel's tables stay the source of truth; a missing neighbour is resolved
//! by the kernel (`RTM_NEWNEIGH` with `NTF_USE`), not by us sending ARP or
//! neighbour solicitations. The channel ioctl sets how many queues a device
//! has, since an XSK binds one (device, queue) pair.
//!
//! How: one blocking NETLINK_ROUTE socket per [`Netlink`], in the network
//! namespace of the thread that opened it. Requests are built and replies
//! parsed over byte slices with bounds-checked safe code, so a truncated or
//! hostile reply is an error, never a panic or an out-of-bounds read; only
//! the system calls are `unsafe`. Every call is bounded in time (a receive
//! timeout plus a per-call deadline), replies to earlier requests (stale
//! sequence numbers) are skipped, and datagrams not sent by the kernel are
//! dropped.
//!
//! Allocation: the AF_XDP backend calls [`Netlink::route_get`],
//! [`Netlink::neigh_get`] and [`Netlink::neigh_resolve`] from its packet
//! path (next-hop cache misses and refreshes), so on success these three do
//! not touch the heap after [`Netlink::open`]: requests are built in a
//! buffer `open` reserves (cleared and refilled within its capacity),
//! addresses travel as fixed arrays, and replies are read into a reused
//! receive buffer and parsed in place (it grows only for a datagram larger
//! than `RECV_BUF` (32 KiB), which these small replies never are). Errors may
//! allocate their message. [`Netlink::link_get`] (the name `String`) and
//! [`Netlink::addr_owner`] are start-up calls and are not held to this.

mod ethtool;
mod wire;

use std::io;
use std::mem::{size_of, zeroed};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::cvt;
use wire::*;

pub use ethtool::{get_channels, if_index, Channels};

/// How long one `recv` may block.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one request may wait for its whole reply.
const CALL_DEADLINE: Duration = Duration::from_secs(2);
/// Initial receive buffer; it grows to fit any larger datagram.
const RECV_BUF: usize = 32 * 1024;
/// Request buffer capacity reserved by [`Netlink::open`]. The largest
/// request built here is 52 bytes (16 header + 16 `ifinfomsg` or 12 for the
/// others, + one attribute of at most 4 + 16); the rest is headroom, so
/// building a request never reallocates.
const REQ_BUF: usize = 128;

/// Being resolved (neighbour states `NUD_*`, linux/neighbour.h, as in
/// [`Neigh::state`]; the whole set, for reading it).
#[allow(dead_code)]
pub const NUD_INCOMPLETE: u16 = 0x01;
/// Confirmed recently.
pub const NUD_REACHABLE: u16 = 0x02;
/// Not confirmed recently; still usable (the kernel re-probes when used).
pub const NUD_STALE: u16 = 0x04;
/// Waiting before probing.
pub const NUD_DELAY: u16 = 0x08;
/// Being probed.
pub const NUD_PROBE: u16 = 0x10;
/// Resolution failed.
#[allow(dead_code)]
pub const NUD_FAILED: u16 = 0x20;
/// No resolution needed on this device.
pub const NUD_NOARP: u16 = 0x40;
/// Configured statically.
pub const NUD_PERMANENT: u16 = 0x80;

/// The kernel's answer to "how do I reach this destination" (`RTM_GETROUTE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Output interface index (the loopback device for a local destination).
    pub oif: u32,
    /// Next hop, when the destination is not on-link (else the destination
    /// itself is the next hop).
    pub gateway: Option<IpAddr>,
    /// Source address the kernel would use, when it says.
    pub prefsrc: Option<IpAddr>,
    /// The destination is one of our own addresses (`RTN_LOCAL`).
    pub local: bool,
}

/// A neighbour table entry (`RTM_GETNEIGH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neigh {
    /// Link-layer address; all zero when the kernel has none yet.
    pub mac: [u8; 6],
    /// `NUD_*` state bits.
    pub state: u16,
}

impl Neigh {
    /// The entry can address frames now: a usable state (REACHABLE, STALE,
    /// DELAY, PROBE, PERMANENT or NOARP) and a non-zero MAC.
    pub fn usable(&self) -> bool {
        let ok = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;
        self.state & ok != 0 && self.mac != [0; 6]
    }
}

/// One network interface (`RTM_GETLINK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Link-layer address; all zero when it is not a 6-byte (Ethernet) one.
    pub mac: [u8; 6],
    /// MTU in bytes (0 when the kernel did not say).
    pub mtu: u32,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// `IFF_UP`: administratively up (says nothing about carrier).
    pub up: bool,
}

/// A NETLINK_ROUTE socket, in the network namespace of the thread that
/// opened it. Calls are synchronous: one request, then its whole reply.
#[derive(Debug)]
pub struct Netlink {
    /// The socket.
    fd: OwnedFd,
    /// Sequence number of the last request.
    seq: u32,
    /// Receive buffer (grows to the largest datagram seen).
    buf: Vec<u8>,
    /// Request buffer, reused by every call ([`REQ_BUF`] bytes reserved).
    req: Vec<u8>,
}

impl Netlink {
    /// Opens and binds a NETLINK_ROUTE socket with a 1 s receive timeout.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: socket() takes no pointers; a non-negative result is a new
        // fd that nobody else owns.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: raw was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: RECV_TIMEOUT.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: passes a pointer to a live timeval and its exact size.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        let sa = kernel_addr();
        // SAFETY: passes a pointer to a live sockaddr_nl and its exact size;
        // nl_pid 0 lets the kernel pick our port id.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(Netlink {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
            req: Vec::with_capacity(REQ_BUF),
        })
    }

    /// RTM_GETROUTE for one destination: the route the kernel would use to
    /// send to `dst` (no source address or input interface given, so
    /// link-local IPv6 destinations are not supported). A destination the
    /// kernel cannot reach is an error (e.g. `ENETUNREACH`), and so is a
    /// route that is neither unicast nor local (broadcast, multicast...).
    ///
    /// Allocation-free on success (see the module documentation).
    pub fn route_get(&mut self, dst: IpAddr) -> io::Result<Route> {
        let ip = IpBytes::of(&dst);
        let rtm = rtmsg(ip.family, (ip.len * 8) as u8);
        let mut route = None;
        self.exchange(RTM_GETROUTE, 0, &rtm, &[(RTA_DST, ip.octets())], &mut |m| {
            if m.ty == RTM_NEWROUTE {
                route = Some(parse_route(m.payload)?);
            }
            Ok(())
        })?;
        route.ok_or_else(|| bad("RTM_GETROUTE reply without a route"))
    }

    /// The neighbour entry for `ip` on `ifindex`, if any (`RTM_GETNEIGH`;
    /// the kernel's "no such entry" is `Ok(None)`). Allocation-free on
    /// success, `Ok(None)` included (see the module documentation).
    pub fn neigh_get(&mut self, ifindex: u32, ip: IpAddr) -> io::Result<Option<Neigh>> {
        let ip = IpBytes::of(&ip);
        let ndm = ndmsg(ip.family, ifindex_i32(ifindex)?, 0, 0);
        let mut neigh = None;
        let r = self.exchange(RTM_GETNEIGH, 0, &ndm, &[(NDA_DST, ip.octets())], &mut |m| {
            if m.ty == RTM_NEWNEIGH {
                neigh = Some(parse_neigh(m.payload)?.neigh);
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(neigh),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the kernel to resolve `ip` on `ifindex` (RTM_NEWNEIGH with
    /// `NTF_USE`, creating the entry if needed), without waiting for the
    /// answer: poll [`Netlink::neigh_get`]. STALE entries get re-probed.
    ///
    /// PERMANENT and NOARP entries are left alone (no request is sent):
    /// since Linux 5.16 (seen on 6.18) `NTF_USE` clears `NUD_PERMANENT`, so it would turn
    /// an administrator's static entry into a dynamic one that the kernel
    /// then re-learns from the wire.
    ///
    /// Allocation-free on success (see the module documentation).
    pub fn neigh_resolve(&mut self, ifindex: u32, ip: IpAddr) -> io::Result<()> {
        if let Some(n) = self.neigh_get(ifindex, ip)? {
            if n.state & (NUD_PERMANENT | NUD_NOARP) != 0 {
                return Ok(());
            }
        }
        let ip = IpBytes::of(&ip);
        let ndm = ndmsg(ip.family, ifindex_i32(ifindex)?, 0, NTF_USE);
        self.exchange(
            RTM_NEWNEIGH,
            NLM_F_ACK | NLM_F_CREATE,
            &ndm,
            &[(NDA_DST, ip.octets())],
            &mut |_| Ok(()),
        )
    }

    /// One interface by index (`RTM_GETLINK`, statistics left out).
    ///
    /// Allocates (the link's name is a `String`): a start-up call, not for
    /// the packet path.
    pub fn link_get(&mut self, ifindex: u32) -> io::Result<Link> {
        let ifi = ifinfomsg(ifindex_i32(ifindex)?);
        let mask = RTEXT_FILTER_SKIP_STATS.to_ne_bytes();
        let mut link = None;
        self.exchange(RTM_GETLINK, 0, &ifi, &[(IFLA_EXT_MASK, &mask)], &mut |m| {
            if m.ty == RTM_NEWLINK {
                link = Some(parse_link(m.payload)?.1);
            }
            Ok(())
        })?;
        link.ok_or_else(|| bad("RTM_GETLINK reply without a link"))
    }

    /// Which interface holds local address `ip`, if any (`RTM_GETADDR`
    /// dump of that family; a dump the kernel flags as interrupted by a
    /// change is read again, up to three times).
    ///
    /// A start-up call, not for the packet path: it is not held to the
    /// no-allocation rule (a dump may grow the receive buffer).
    pub fn addr_owner(&mut self, ip: IpAddr) -> io::Result<Option<u32>> {
        let ifa = ifaddrmsg(IpBytes::of(&ip).family);
        for _ in 0..3 {
            let mut owner = None;
            let mut interrupted = false;
            self.exchange(RTM_GETADDR, NLM_F_DUMP, &ifa, &[], &mut |m| {
                interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                if m.ty == RTM_NEWADDR && owner.is_none() {
                    let (index, addr) = parse_addr(m.payload)?;
                    if addr == Some(ip) {
                        owner = Some(index);
                    }
                }
                Ok(())
            })?;
            if !interrupted {
                return Ok(owner);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "netlink: address dump kept changing while read",
        ))
    }

    /// Sends one request and feeds every message of its reply to `on_msg`,
    /// until the reply is complete (single message, `NLMSG_DONE`, or ack).
    /// The request is built in `self.req` and the reply read into
    /// `self.buf`, both reused: no allocation on success.
    fn exchange(
        &mut self,
        ty: u16,
        flags: u16,
        fixed: &[u8],
        attrs: &[(u16, &[u8])],
        on_msg: &mut dyn FnMut(NlMsg<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        build_request(&mut self.req, ty, flags | NLM_F_REQUEST, seq, fixed, attrs)?;
        self.send(&self.req)?;
        let deadline = Instant::now() + CALL_DEADLINE;
        loop {
            if Instant::now() > deadline {
                return Err(timed_out());
            }
            let Some(n) = self.recv()? else { continue };
            let datagram = self.buf.get(..n).unwrap_or(&[]);
            if process(datagram, seq, on_msg)? == Step::Done {
                return Ok(());
            }
        }
    }

    /// Sends one whole request to the kernel.
    fn send(&self, req: &[u8]) -> io::Result<()> {
        let sa = kernel_addr();
        // SAFETY: req is a live byte slice of the given length; sa is a live
        // sockaddr_nl of the given size. The kernel only reads both.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != req.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "netlink: short send",
            ));
        }
        Ok(())
    }

    /// Receives one datagram into `self.buf` (grown to fit it first).
    /// `Ok(None)`: interrupted, or not from the kernel (dropped); a receive
    /// timeout is `TimedOut`.
    fn recv(&mut self) -> io::Result<Option<usize>> {
        let fd = self.fd.as_raw_fd();
        // With MSG_PEEK | MSG_TRUNC netlink returns the datagram's full
        // length without consuming it.
        // SAFETY: a zero-length buffer: the kernel writes nothing.
        let want = unsafe {
            libc::recv(
                fd,
                self.buf.as_mut_ptr().cast(),
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC,
            )
        };
        let want = match recv_result(want)? {
            Some(n) => n,
            None => return Ok(None),
        };
        if want > self.buf.len() {
            self.buf.resize(want, 0);
        }
        // SAFETY: sockaddr_nl is plain data; all-zero is valid.
        let mut from: libc::sockaddr_nl = unsafe { zeroed() };
        let mut from_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: the kernel writes at most buf.len() bytes into the live,
        // exclusively borrowed buffer, and at most from_len bytes into the
        // live sockaddr_nl, updating from_len.
        let got = unsafe {
            libc::recvfrom(
                fd,
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut from_len,
            )
        };
        let got = match recv_result(got)? {
            Some(n) => n.min(self.buf.len()),
            None => return Ok(None),
        };
        if from.nl_family as libc::c_int != libc::AF_NETLINK || from.nl_pid != 0 {
            // Another process can unicast to our port: only the kernel counts.
            return Ok(None);
        }
        Ok(Some(got))
    }
}

/// The kernel's netlink address (port 0, no groups).
fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa
}

/// Maps a `recv` result: `EINTR` is `None`, a timeout is `TimedOut`.
fn recv_result(r: isize) -> io::Result<Option<usize>> {
    if r >= 0 {
        return Ok(Some(r as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::Interrupted => Ok(None),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(timed_out()),
        _ => Err(e),
    }
}

/// The error for a reply that did not come in time.
fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "netlink: no complete reply from the kernel in time",
    )
}

#[cfg(test)]
mod tests;
