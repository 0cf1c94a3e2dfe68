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
//! than [`RECV_BUF`], which these small replies never are). Errors may
//! allocate their message. [`Netlink::link_get`] (the name `String`) and
//! [`Netlink::addr_owner`] are start-up calls and are not held to this.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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

/// `struct nlmsghdr` size.
const NLMSG_HDRLEN: usize = 16;
/// `struct nlattr` / `struct rtattr` header size.
const NLA_HDRLEN: usize = 4;
/// Attribute type bits (without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Nothing, skip it (message types and flags: linux/netlink.h).
const NLMSG_NOOP: u16 = 1;
/// An error, or with error 0 an acknowledgement.
const NLMSG_ERROR: u16 = 2;
/// End of a multipart (dump) reply.
const NLMSG_DONE: u16 = 3;
/// Data lost.
const NLMSG_OVERRUN: u16 = 4;
/// A request.
const NLM_F_REQUEST: u16 = 0x1;
/// Part of a multipart reply.
const NLM_F_MULTI: u16 = 0x2;
/// Ask for an acknowledgement.
const NLM_F_ACK: u16 = 0x4;
/// The dump changed while it was being read.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_ROOT | NLM_F_MATCH`: dump the whole table.
const NLM_F_DUMP: u16 = 0x300;
/// Create the object if it does not exist.
const NLM_F_CREATE: u16 = 0x400;

/// A link, reply to `RTM_GETLINK` (rtnetlink types: linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
/// Get one link.
const RTM_GETLINK: u16 = 18;
/// An address (reply to `RTM_GETADDR`).
const RTM_NEWADDR: u16 = 20;
/// Dump addresses.
const RTM_GETADDR: u16 = 22;
/// A route (reply to `RTM_GETROUTE`).
const RTM_NEWROUTE: u16 = 24;
/// Look up the route to one destination.
const RTM_GETROUTE: u16 = 26;
/// A neighbour (reply to `RTM_GETNEIGH`; also the resolve request).
const RTM_NEWNEIGH: u16 = 28;
/// Get one neighbour.
const RTM_GETNEIGH: u16 = 30;

/// `IFLA_ADDRESS`: the link-layer address.
const IFLA_ADDRESS: u16 = 1;
/// `IFLA_IFNAME`: the interface name (NUL-terminated).
const IFLA_IFNAME: u16 = 3;
/// `IFLA_MTU`: u32.
const IFLA_MTU: u16 = 4;
/// `IFLA_EXT_MASK`: u32 filter for `RTM_GETLINK`.
const IFLA_EXT_MASK: u16 = 29;
/// `RTEXT_FILTER_SKIP_STATS`: leave the statistics out of the link reply.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// `IFA_ADDRESS`: the (peer, on point-to-point links) address.
const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`: the local address (IPv4).
const IFA_LOCAL: u16 = 2;
/// `RTA_DST`: destination.
const RTA_DST: u16 = 1;
/// `RTA_OIF`: output interface, u32.
const RTA_OIF: u16 = 4;
/// `RTA_GATEWAY`: next hop, same family as the route.
const RTA_GATEWAY: u16 = 5;
/// `RTA_PREFSRC`: preferred source address.
const RTA_PREFSRC: u16 = 7;
/// `RTA_VIA`: next hop of another family (u16 family, then the address).
const RTA_VIA: u16 = 18;
/// `NDA_DST`: the neighbour's IP address.
const NDA_DST: u16 = 1;
/// `NDA_LLADDR`: the neighbour's link-layer address.
const NDA_LLADDR: u16 = 2;
/// `RTN_UNICAST` route type.
const RTN_UNICAST: u8 = 1;
/// `RTN_LOCAL`: the destination is one of our own addresses.
const RTN_LOCAL: u8 = 2;
/// `NTF_USE`: "use" the entry, so the kernel resolves it if needed.
const NTF_USE: u8 = 0x01;
/// `IFF_UP` (administratively up).
const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
const IFF_LOOPBACK: u32 = 0x8;

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

/// `ETHTOOL_GCHANNELS` (linux/ethtool.h).
const ETHTOOL_GCHANNELS: u32 = 0x3c;
/// `ETHTOOL_SCHANNELS` (the channel tests).
#[cfg(test)]
const ETHTOOL_SCHANNELS: u32 = 0x3d;

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

/// A device's queue counts (`ETHTOOL_GCHANNELS`): current and maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Channels {
    /// RX-only channels.
    pub rx: u32,
    /// TX-only channels.
    pub tx: u32,
    /// Combined RX/TX channels.
    pub combined: u32,
    /// Most RX-only channels the device allows.
    pub max_rx: u32,
    /// Most TX-only channels the device allows.
    pub max_tx: u32,
    /// Most combined channels the device allows.
    pub max_combined: u32,
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

/// Turns a negative libc result into the thread's errno.
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| invalid("interface name contains NUL"))?;
    // SAFETY: c is a live NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error().unwrap_or(0) == 0 {
            io::Error::from_raw_os_error(libc::ENODEV)
        } else {
            e
        });
    }
    Ok(index)
}

/// `struct ethtool_channels` (linux/ethtool.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct EthtoolChannels {
    /// `ETHTOOL_GCHANNELS` or `ETHTOOL_SCHANNELS`.
    cmd: u32,
    /// Most RX-only channels.
    max_rx: u32,
    /// Most TX-only channels.
    max_tx: u32,
    /// Most "other" channels.
    max_other: u32,
    /// Most combined channels.
    max_combined: u32,
    /// RX-only channels.
    rx_count: u32,
    /// TX-only channels.
    tx_count: u32,
    /// "Other" channels.
    other_count: u32,
    /// Combined channels.
    combined_count: u32,
}

/// Runs one `SIOCETHTOOL` channels command on `ifname`.
fn ethtool_channels(ifname: &str, ch: &mut EthtoolChannels) -> io::Result<()> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(invalid("bad interface name"));
    }
    // SAFETY: ifreq is plain data (a name array and a union of plain data
    // and pointers); all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (ch as *mut EthtoolChannels).cast();
    // SAFETY: socket() takes no pointers; a non-negative result is a new fd.
    let raw =
        cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: raw was just returned by socket() and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    ioctl_ethtool(sock.as_raw_fd(), &mut ifr)
}

/// `ioctl(fd, SIOCETHTOOL, ifr)`.
fn ioctl_ethtool(fd: RawFd, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: ifr is a live ifreq with a NUL-terminated name whose data
    // pointer points at a live, exclusively borrowed ethtool_channels (the
    // caller's), which is the struct the kernel reads and writes for the
    // channels commands; all of it outlives the call.
    cvt(unsafe { libc::ioctl(fd, libc::SIOCETHTOOL as _, ifr as *mut libc::ifreq) })?;
    Ok(())
}

/// ETHTOOL_GCHANNELS through SIOCETHTOOL (what `ethtool -l` shows).
pub fn get_channels(ifname: &str) -> io::Result<Channels> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    ethtool_channels(ifname, &mut ch)?;
    Ok(Channels {
        rx: ch.rx_count,
        tx: ch.tx_count,
        combined: ch.combined_count,
        max_rx: ch.max_rx,
        max_tx: ch.max_tx,
        max_combined: ch.max_combined,
    })
}

/// ETHTOOL_SCHANNELS through SIOCETHTOOL (`ethtool -L ifname rx N tx M`);
/// the other counts stay as they are. (The node never changes an
/// interface's queues; the tests do.)
#[cfg(test)]
pub fn set_channels(ifname: &str, rx: u32, tx: u32) -> io::Result<()> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    ethtool_channels(ifname, &mut ch)?;
    ch.cmd = ETHTOOL_SCHANNELS;
    ch.rx_count = rx;
    ch.tx_count = tx;
    ethtool_channels(ifname, &mut ch)
}

// ---- pure message building and parsing (safe, bounds-checked) ----

/// One netlink message inside a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NlMsg<'a> {
    /// `nlmsg_type`.
    ty: u16,
    /// `nlmsg_flags`.
    flags: u16,
    /// `nlmsg_seq`.
    seq: u32,
    /// The bytes after the header, up to `nlmsg_len`.
    payload: &'a [u8],
}

/// Whether a request's reply is complete after a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// More datagrams belong to the reply.
    More,
    /// The reply is complete.
    Done,
}

/// An `InvalidData` error for a malformed message.
fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"))
}

/// An `InvalidInput` error for a bad argument.
fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("netlink: {what}"))
}

/// Rounds up to netlink's 4-byte alignment (saturating: an absurd length
/// then fails the bounds checks instead of wrapping).
fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// `N` bytes at `at`, if in bounds.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A host-order u16 at `at`.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes_at(b, at).map(u16::from_ne_bytes)
}

/// A host-order u32 at `at`.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_ne_bytes)
}

/// A host-order i32 at `at`.
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    bytes_at(b, at).map(i32::from_ne_bytes)
}

/// A u32 attribute value (exactly 4 bytes).
fn attr_u32(data: &[u8], what: &str) -> io::Result<u32> {
    if data.len() != 4 {
        return Err(bad(&format!("{what}: {} bytes, want 4", data.len())));
    }
    u32_at(data, 0).ok_or_else(|| bad(what))
}

/// An address attribute of `family` (4 or 16 bytes as the family says).
fn attr_ip(family: u8, data: &[u8]) -> io::Result<IpAddr> {
    match (family as libc::c_int, data.len()) {
        (libc::AF_INET, 4) => bytes_at::<4>(data, 0)
            .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
            .ok_or_else(|| bad("address")),
        (libc::AF_INET6, 16) => bytes_at::<16>(data, 0)
            .map(|o| IpAddr::V6(Ipv6Addr::from(o)))
            .ok_or_else(|| bad("address")),
        (f, n) => Err(bad(&format!("address of {n} bytes for family {f}"))),
    }
}

/// The address family and bytes of an IP address, on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpBytes {
    /// `AF_INET` or `AF_INET6`.
    family: u8,
    /// The address in network order, in the first `len` bytes.
    bytes: [u8; 16],
    /// 4 or 16.
    len: usize,
}

impl IpBytes {
    /// The family and bytes of `ip`.
    fn of(ip: &IpAddr) -> IpBytes {
        let mut bytes = [0u8; 16];
        match ip {
            IpAddr::V4(a) => {
                bytes[..4].copy_from_slice(&a.octets());
                IpBytes {
                    family: libc::AF_INET as u8,
                    bytes,
                    len: 4,
                }
            }
            IpAddr::V6(a) => IpBytes {
                family: libc::AF_INET6 as u8,
                bytes: a.octets(),
                len: 16,
            },
        }
    }

    /// The address bytes (4 or 16).
    fn octets(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// An interface index as the kernel's `int`.
fn ifindex_i32(ifindex: u32) -> io::Result<i32> {
    i32::try_from(ifindex).map_err(|_| invalid("interface index out of range"))
}

/// `struct rtmsg` for a route lookup.
fn rtmsg(family: u8, dst_len: u8) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = family;
    m[1] = dst_len;
    m
}

/// `struct ndmsg`.
fn ndmsg(family: u8, ifindex: i32, state: u16, flags: u8) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = family;
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..10].copy_from_slice(&state.to_ne_bytes());
    m[10] = flags;
    m
}

/// `struct ifinfomsg` for one index.
fn ifinfomsg(index: i32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

/// `struct ifaddrmsg` for a dump of one family.
fn ifaddrmsg(family: u8) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = family;
    m
}

/// Builds one request into `m` (cleared first): header, fixed part,
/// attributes, each 4-aligned. Reallocates only when the request is longer
/// than `m`'s capacity, which [`REQ_BUF`] covers for every request here.
fn build_request(
    m: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    fixed: &[u8],
    attrs: &[(u16, &[u8])],
) -> io::Result<()> {
    let mut len = NLMSG_HDRLEN + align4(fixed.len());
    for (_, data) in attrs {
        if data.len() > usize::from(u16::MAX) - NLA_HDRLEN {
            return Err(invalid("attribute too long"));
        }
        len += align4(NLA_HDRLEN + data.len());
    }
    let total = u32::try_from(len).map_err(|_| invalid("request too long"))?;
    m.clear();
    m.reserve(len); // a no-op within the capacity reserved in `open`
    m.extend_from_slice(&total.to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it
    m.extend_from_slice(fixed);
    m.resize(align4(m.len()), 0);
    for (ty, data) in attrs {
        let alen = (NLA_HDRLEN + data.len()) as u16; // checked above
        m.extend_from_slice(&alen.to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(data);
        m.resize(align4(m.len()), 0);
    }
    debug_assert_eq!(m.len(), len);
    Ok(())
}

/// Splits the first message off a datagram: the message and what follows.
fn split_msg(buf: &[u8]) -> io::Result<(NlMsg<'_>, &[u8])> {
    let len = u32_at(buf, 0).ok_or_else(|| bad("truncated message header"))? as usize;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(bad(&format!(
            "message length {len} outside 16..={}",
            buf.len()
        )));
    }
    let msg = NlMsg {
        ty: u16_at(buf, 4).ok_or_else(|| bad("truncated message header"))?,
        flags: u16_at(buf, 6).ok_or_else(|| bad("truncated message header"))?,
        seq: u32_at(buf, 8).ok_or_else(|| bad("truncated message header"))?,
        payload: buf
            .get(NLMSG_HDRLEN..len)
            .ok_or_else(|| bad("truncated message"))?,
    };
    let rest = buf.get(align4(len)..).unwrap_or(&[]);
    Ok((msg, rest))
}

/// The attributes following a fixed header: `(type, data)` items, an
/// error item (then the end) for a malformed one.
#[derive(Clone, Debug)]
struct Attrs<'a> {
    /// Bytes not yet parsed.
    rest: &'a [u8],
}

/// The attributes of `payload` after a fixed header of `fixed` bytes
/// (an error when the payload is shorter than the header).
fn attrs(payload: &[u8], fixed: usize) -> io::Result<Attrs<'_>> {
    if payload.len() < fixed {
        return Err(bad(&format!(
            "payload of {} bytes, header needs {fixed}",
            payload.len()
        )));
    }
    Ok(Attrs {
        rest: payload.get(align4(fixed)..).unwrap_or(&[]),
    })
}

impl<'a> Iterator for Attrs<'a> {
    type Item = io::Result<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let parsed = (|| {
            let len = u16_at(rest, 0).ok_or_else(|| bad("truncated attribute"))? as usize;
            let ty = u16_at(rest, 2).ok_or_else(|| bad("truncated attribute"))? & NLA_TYPE_MASK;
            if len < NLA_HDRLEN || len > rest.len() {
                return Err(bad(&format!(
                    "attribute length {len} outside 4..={}",
                    rest.len()
                )));
            }
            let data = rest
                .get(NLA_HDRLEN..len)
                .ok_or_else(|| bad("truncated attribute"))?;
            Ok((ty, data, rest.get(align4(len)..).unwrap_or(&[])))
        })();
        match parsed {
            Ok((ty, data, next)) => {
                self.rest = next;
                Some(Ok((ty, data)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses an `RTM_NEWROUTE` payload (`struct rtmsg` + attributes).
fn parse_route(p: &[u8]) -> io::Result<Route> {
    let mut it = attrs(p, 12)?;
    let family = *p.first().ok_or_else(|| bad("route"))?;
    let rtm_type = *p.get(7).ok_or_else(|| bad("route"))?;
    if family as libc::c_int != libc::AF_INET && family as libc::c_int != libc::AF_INET6 {
        return Err(bad(&format!("route of family {family}")));
    }
    let mut route = Route {
        oif: 0,
        gateway: None,
        prefsrc: None,
        local: rtm_type == RTN_LOCAL,
    };
    for a in &mut it {
        let (ty, data) = a?;
        match ty {
            RTA_OIF => route.oif = attr_u32(data, "RTA_OIF")?,
            RTA_GATEWAY => route.gateway = Some(attr_ip(family, data)?),
            RTA_PREFSRC => route.prefsrc = Some(attr_ip(family, data)?),
            RTA_VIA => {
                let via_family = u16_at(data, 0).ok_or_else(|| bad("RTA_VIA"))?;
                let via_family = u8::try_from(via_family).map_err(|_| bad("RTA_VIA family"))?;
                route.gateway = Some(attr_ip(via_family, data.get(2..).unwrap_or(&[]))?);
            }
            _ => {}
        }
    }
    match rtm_type {
        RTN_LOCAL => Ok(route),
        RTN_UNICAST if route.oif != 0 => Ok(route),
        RTN_UNICAST => Err(bad("unicast route without an output interface")),
        t => Err(io::Error::other(format!(
            "netlink: route of type {t} (neither unicast nor local)"
        ))),
    }
}

/// A parsed `RTM_NEWNEIGH` payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NeighMsg {
    /// `ndm_ifindex`.
    ifindex: u32,
    /// `NDA_DST`, when present.
    dst: Option<IpAddr>,
    /// MAC and state.
    neigh: Neigh,
}

/// Parses an `RTM_NEWNEIGH` payload (`struct ndmsg` + attributes). A
/// link-layer address that is not 6 bytes (not Ethernet) is an error.
fn parse_neigh(p: &[u8]) -> io::Result<NeighMsg> {
    let mut it = attrs(p, 12)?;
    let family = *p.first().ok_or_else(|| bad("neighbour"))?;
    let ifindex = u32_at(p, 4).ok_or_else(|| bad("neighbour"))?;
    let state = u16_at(p, 8).ok_or_else(|| bad("neighbour"))?;
    let mut msg = NeighMsg {
        ifindex,
        dst: None,
        neigh: Neigh { mac: [0; 6], state },
    };
    for a in &mut it {
        let (ty, data) = a?;
        match ty {
            NDA_DST => msg.dst = Some(attr_ip(family, data)?),
            NDA_LLADDR => {
                msg.neigh.mac = data
                    .try_into()
                    .map_err(|_| bad(&format!("link-layer address of {} bytes", data.len())))?;
            }
            _ => {}
        }
    }
    Ok(msg)
}

/// Parses an `RTM_NEWLINK` payload (`struct ifinfomsg` + attributes):
/// the index and the link.
fn parse_link(p: &[u8]) -> io::Result<(u32, Link)> {
    let mut it = attrs(p, 16)?;
    let index = u32_at(p, 4).ok_or_else(|| bad("link"))?;
    let flags = u32_at(p, 8).ok_or_else(|| bad("link"))?;
    let mut name = None;
    let mut link = Link {
        name: String::new(),
        mac: [0; 6],
        mtu: 0,
        loopback: flags & IFF_LOOPBACK != 0,
        up: flags & IFF_UP != 0,
    };
    for a in &mut it {
        let (ty, data) = a?;
        match ty {
            IFLA_IFNAME => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                let raw = data.get(..end).unwrap_or(&[]);
                name = Some(String::from_utf8_lossy(raw).into_owned());
            }
            IFLA_ADDRESS => {
                if let Ok(mac) = <[u8; 6]>::try_from(data) {
                    link.mac = mac;
                }
            }
            IFLA_MTU => link.mtu = attr_u32(data, "IFLA_MTU")?,
            _ => {}
        }
    }
    link.name = name.ok_or_else(|| bad("link without a name"))?;
    Ok((index, link))
}

/// Parses an `RTM_NEWADDR` payload (`struct ifaddrmsg` + attributes): the
/// interface index and the local address (`IFA_LOCAL`, else
/// `IFA_ADDRESS`, which is the local one on IPv6).
fn parse_addr(p: &[u8]) -> io::Result<(u32, Option<IpAddr>)> {
    let mut it = attrs(p, 8)?;
    let family = *p.first().ok_or_else(|| bad("address"))?;
    let index = u32_at(p, 4).ok_or_else(|| bad("address"))?;
    let (mut local, mut address) = (None, None);
    for a in &mut it {
        let (ty, data) = a?;
        match ty {
            IFA_LOCAL => local = Some(attr_ip(family, data)?),
            IFA_ADDRESS => address = Some(attr_ip(family, data)?),
            _ => {}
        }
    }
    Ok((index, local.or(address)))
}

/// The negative errno (or 0, an ack) at the start of an `NLMSG_ERROR`.
fn parse_error(p: &[u8]) -> io::Result<i32> {
    i32_at(p, 0).ok_or_else(|| bad("truncated NLMSG_ERROR"))
}

/// An `io::Error` for a kernel errno given as a negative number.
fn errno_error(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e.checked_neg().unwrap_or(i32::MAX).abs())
}

/// Walks one received datagram for the request with sequence number `seq`:
/// messages of other sequence numbers (replies to earlier, abandoned
/// requests) are skipped, errors become `Err`, an ack or `NLMSG_DONE` ends
/// the reply, and every data message goes to `on_msg` (one without
/// `NLM_F_MULTI` is a whole reply by itself).
fn process(
    buf: &[u8],
    seq: u32,
    on_msg: &mut dyn FnMut(NlMsg<'_>) -> io::Result<()>,
) -> io::Result<Step> {
    let mut rest = buf;
    let mut step = Step::More;
    while !rest.is_empty() {
        let (m, next) = split_msg(rest)?;
        rest = next;
        if m.seq != seq {
            continue;
        }
        match m.ty {
            NLMSG_NOOP => {}
            NLMSG_ERROR => {
                return match parse_error(m.payload)? {
                    0 => Ok(Step::Done),
                    e => Err(errno_error(e)),
                };
            }
            NLMSG_DONE => {
                // Since 4.x the kernel puts the dump's result here.
                return match i32_at(m.payload, 0) {
                    Some(e) if e < 0 => Err(errno_error(e)),
                    _ => Ok(Step::Done),
                };
            }
            NLMSG_OVERRUN => return Err(bad("overrun")),
            _ => {
                on_msg(m)?;
                if m.flags & NLM_F_MULTI == 0 {
                    step = Step::Done;
                }
            }
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ---- hand-made messages ----

    /// One attribute, padded.
    fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(data);
        a.resize(align4(a.len()), 0);
        a
    }

    /// One whole message (header + payload), padded.
    fn msg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&4242u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    /// An `rtmsg` of `family` and `rtm_type` followed by `attrs`.
    fn route_payload(family: u8, rtm_type: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = rtmsg(family, 32).to_vec();
        p[7] = rtm_type;
        for a in attrs {
            p.extend_from_slice(a);
        }
        p
    }

    const V4: u8 = libc::AF_INET as u8;
    const V6: u8 = libc::AF_INET6 as u8;

    /// Collects every data message `process` hands over.
    fn run(buf: &[u8], seq: u32) -> (io::Result<Step>, Vec<(u16, Vec<u8>)>) {
        let mut got = Vec::new();
        let r = process(buf, seq, &mut |m| {
            got.push((m.ty, m.payload.to_vec()));
            Ok(())
        });
        (r, got)
    }

    #[test]
    fn request_layout_is_the_kernels() {
        let rtm = rtmsg(V4, 32);
        let mut req = Vec::with_capacity(REQ_BUF);
        build_request(
            &mut req,
            RTM_GETROUTE,
            NLM_F_REQUEST,
            7,
            &rtm,
            &[(RTA_DST, &[198, 51, 100, 2])],
        )
        .unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&36u32.to_ne_bytes()); // 16 + 12 + 8
        want.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
        want.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        want.extend_from_slice(&7u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[V4, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&8u16.to_ne_bytes());
        want.extend_from_slice(&RTA_DST.to_ne_bytes());
        want.extend_from_slice(&[198, 51, 100, 2]);
        assert_eq!(req, want);
        // Odd-length data is padded, and the header length counts the pad;
        // the buffer is cleared first (this request is shorter than the last).
        build_request(&mut req, 1, 0, 1, &[1, 2, 3], &[(9, &[5])]).unwrap();
        assert_eq!(req.len(), 16 + 4 + 8);
        assert_eq!(u32_at(&req, 0), Some(28));
        assert_eq!(u16_at(&req, 20), Some(5)); // attribute length excludes the pad
        let big = vec![0u8; 70_000];
        assert!(build_request(&mut req, 1, 0, 1, &[], &[(1, &big)]).is_err());
    }

    /// Every request the calls build fits the buffer `open` reserves, so
    /// building one never reallocates (same pointer, same capacity).
    #[test]
    fn requests_fit_the_reserved_buffer() {
        let mut req = Vec::with_capacity(REQ_BUF);
        let (ptr, cap) = (req.as_ptr(), req.capacity());
        let v6 = IpBytes::of(&"2001:db8::1".parse().unwrap());
        let mask = RTEXT_FILTER_SKIP_STATS.to_ne_bytes();
        /// Message type, fixed part, attributes.
        type Request<'a> = (u16, &'a [u8], &'a [(u16, &'a [u8])]);
        let requests: [Request<'_>; 5] = [
            (RTM_GETROUTE, &rtmsg(V6, 128), &[(RTA_DST, v6.octets())]),
            (RTM_GETNEIGH, &ndmsg(V6, 1, 0, 0), &[(NDA_DST, v6.octets())]),
            (
                RTM_NEWNEIGH,
                &ndmsg(V6, 1, 0, NTF_USE),
                &[(NDA_DST, v6.octets())],
            ),
            (RTM_GETLINK, &ifinfomsg(1), &[(IFLA_EXT_MASK, &mask)]),
            (RTM_GETADDR, &ifaddrmsg(V6), &[]),
        ];
        for (ty, fixed, attrs) in requests {
            build_request(&mut req, ty, NLM_F_REQUEST, 1, fixed, attrs).unwrap();
            assert!(req.len() <= 52, "{ty}: {} bytes", req.len());
            assert_eq!((req.as_ptr(), req.capacity()), (ptr, cap), "{ty}");
        }
    }

    #[test]
    fn ip_bytes_are_the_address() {
        let v4 = IpBytes::of(&"198.51.100.2".parse().unwrap());
        assert_eq!((v4.family, v4.octets()), (V4, &[198u8, 51, 100, 2][..]));
        let a6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let v6 = IpBytes::of(&IpAddr::V6(a6));
        assert_eq!((v6.family, v6.octets()), (V6, &a6.octets()[..]));
    }

    #[test]
    fn messages_split_and_reject_bad_lengths() {
        let mut two = msg(100, NLM_F_MULTI, 1, &[1, 2, 3]);
        two.extend(msg(101, NLM_F_MULTI, 1, &[]));
        let (a, rest) = split_msg(&two).unwrap();
        assert_eq!(
            (a.ty, a.flags, a.seq, a.payload),
            (100, NLM_F_MULTI, 1, &[1u8, 2, 3][..])
        );
        let (b, rest) = split_msg(rest).unwrap();
        assert_eq!((b.ty, b.payload.len(), rest.len()), (101, 0, 0));

        assert!(split_msg(&[]).is_err());
        assert!(split_msg(&two[..10]).is_err(), "header cut short");
        let mut short = two.clone();
        short[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(split_msg(&short).is_err(), "nlmsg_len below the header");
        let mut long = msg(100, 0, 1, &[0; 8]);
        long[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(split_msg(&long).is_err(), "nlmsg_len past the datagram");
        long[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(split_msg(&long).is_err());
    }

    #[test]
    fn attributes_parse_and_reject_bad_lengths() {
        let mut p = vec![0u8; 8]; // a fixed header
        p.extend(attr(1, &[10, 20, 30])); // padded to 8
        p.extend(attr(0x8002, &[7; 4])); // NLA_F_NESTED is masked off
        let got: Vec<_> = attrs(&p, 8).unwrap().map(|a| a.unwrap()).collect();
        assert_eq!(got, vec![(1, &[10u8, 20, 30][..]), (2, &[7u8; 4][..])]);

        assert!(
            attrs(&p[..5], 8).is_err(),
            "payload shorter than its header"
        );
        // Attribute length below its own header: error, then the end.
        let mut bad_len = vec![0u8; 8];
        bad_len.extend_from_slice(&2u16.to_ne_bytes());
        bad_len.extend_from_slice(&1u16.to_ne_bytes());
        let mut it = attrs(&bad_len, 8).unwrap();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // Attribute length past the payload.
        let mut past = vec![0u8; 8];
        past.extend(attr(1, &[1, 2, 3, 4]));
        past[8..10].copy_from_slice(&200u16.to_ne_bytes());
        assert!(attrs(&past, 8).unwrap().any(|a| a.is_err()));
        // Trailing bytes too few for an attribute header.
        let mut tail = vec![0u8; 8];
        tail.extend(attr(1, &[1, 2, 3, 4]));
        tail.extend_from_slice(&[1, 2]);
        let items: Vec<_> = attrs(&tail, 8).unwrap().collect();
        assert!(items[0].is_ok() && items[1].is_err());
    }

    #[test]
    fn route_replies_parse() {
        let on_link = route_payload(
            V4,
            RTN_UNICAST,
            &[
                attr(RTA_DST, &[198, 51, 100, 2]),
                attr(RTA_OIF, &3u32.to_ne_bytes()),
                attr(RTA_PREFSRC, &[198, 51, 100, 1]),
                attr(15 /* RTA_TABLE */, &254u32.to_ne_bytes()),
            ],
        );
        assert_eq!(
            parse_route(&on_link).unwrap(),
            Route {
                oif: 3,
                gateway: None,
                prefsrc: Some("198.51.100.1".parse().unwrap()),
                local: false
            }
        );
        let gw6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let via_gw = route_payload(
            V6,
            RTN_UNICAST,
            &[
                attr(RTA_OIF, &4u32.to_ne_bytes()),
                attr(RTA_GATEWAY, &gw6.octets()),
            ],
        );
        let r = parse_route(&via_gw).unwrap();
        assert_eq!(
            (r.oif, r.gateway, r.local),
            (4, Some(IpAddr::V6(gw6)), false)
        );
        // RTA_VIA: an IPv4 route with an IPv6 next hop (RFC 5549).
        let mut via = (V6 as u16).to_ne_bytes().to_vec();
        via.extend_from_slice(&gw6.octets());
        let p = route_payload(
            V4,
            RTN_UNICAST,
            &[attr(RTA_OIF, &4u32.to_ne_bytes()), attr(RTA_VIA, &via)],
        );
        assert_eq!(parse_route(&p).unwrap().gateway, Some(IpAddr::V6(gw6)));
        // RTN_LOCAL.
        let local = route_payload(V4, RTN_LOCAL, &[attr(RTA_OIF, &1u32.to_ne_bytes())]);
        assert!(parse_route(&local).unwrap().local);

        // Errors, not panics.
        assert!(parse_route(&on_link[..11]).is_err(), "short rtmsg");
        let bad_gw = route_payload(
            V4,
            RTN_UNICAST,
            &[
                attr(RTA_OIF, &3u32.to_ne_bytes()),
                attr(RTA_GATEWAY, &[1, 2, 3]),
            ],
        );
        assert!(parse_route(&bad_gw).is_err(), "3-byte IPv4 gateway");
        let bad_oif = route_payload(V4, RTN_UNICAST, &[attr(RTA_OIF, &[1, 2])]);
        assert!(parse_route(&bad_oif).is_err(), "2-byte RTA_OIF");
        let no_oif = route_payload(V4, RTN_UNICAST, &[]);
        assert!(parse_route(&no_oif).is_err());
        let unreachable = route_payload(V4, 7, &[attr(RTA_OIF, &3u32.to_ne_bytes())]);
        assert!(parse_route(&unreachable).is_err());
        let family = route_payload(99, RTN_UNICAST, &[attr(RTA_OIF, &3u32.to_ne_bytes())]);
        assert!(parse_route(&family).is_err());
        let short_via = route_payload(
            V4,
            RTN_UNICAST,
            &[attr(RTA_OIF, &4u32.to_ne_bytes()), attr(RTA_VIA, &[10])],
        );
        assert!(parse_route(&short_via).is_err());
    }

    #[test]
    fn neighbour_replies_parse_and_usable_follows_state() {
        let mac = [2, 0, 0, 0, 0, 2];
        let mut p = ndmsg(V4, 5, NUD_REACHABLE, 0).to_vec();
        p.extend(attr(NDA_DST, &[198, 51, 100, 2]));
        p.extend(attr(NDA_LLADDR, &mac));
        let n = parse_neigh(&p).unwrap();
        assert_eq!(n.ifindex, 5);
        assert_eq!(n.dst, Some("198.51.100.2".parse().unwrap()));
        assert_eq!(
            n.neigh,
            Neigh {
                mac,
                state: NUD_REACHABLE
            }
        );
        assert!(n.neigh.usable());

        for (state, usable) in [
            (NUD_INCOMPLETE, false),
            (NUD_FAILED, false),
            (0, false),
            (NUD_REACHABLE, true),
            (NUD_STALE, true),
            (NUD_DELAY, true),
            (NUD_PROBE, true),
            (NUD_PERMANENT, true),
            (NUD_NOARP, true),
        ] {
            assert_eq!(Neigh { mac, state }.usable(), usable, "state {state:#x}");
            assert!(
                !Neigh { mac: [0; 6], state }.usable(),
                "zero mac, state {state:#x}"
            );
        }

        // INCOMPLETE entries come without NDA_LLADDR.
        let mut inc = ndmsg(V4, 5, NUD_INCOMPLETE, 0).to_vec();
        inc.extend(attr(NDA_DST, &[198, 51, 100, 2]));
        assert_eq!(parse_neigh(&inc).unwrap().neigh.mac, [0; 6]);
        let mut odd = ndmsg(V4, 5, NUD_REACHABLE, 0).to_vec();
        odd.extend(attr(NDA_LLADDR, &[1, 2, 3, 4, 5]));
        assert!(parse_neigh(&odd).is_err(), "5-byte lladdr");
        assert!(parse_neigh(&p[..8]).is_err(), "short ndmsg");
    }

    #[test]
    fn link_and_address_replies_parse() {
        let mut p = ifinfomsg(7).to_vec();
        p[8..12].copy_from_slice(&(IFF_UP | 0x40).to_ne_bytes());
        p.extend(attr(IFLA_IFNAME, b"veth0\0"));
        p.extend(attr(IFLA_ADDRESS, &[2, 1, 2, 3, 4, 5]));
        p.extend(attr(IFLA_MTU, &1500u32.to_ne_bytes()));
        let (index, link) = parse_link(&p).unwrap();
        assert_eq!(index, 7);
        assert_eq!(
            link,
            Link {
                name: "veth0".into(),
                mac: [2, 1, 2, 3, 4, 5],
                mtu: 1500,
                loopback: false,
                up: true
            }
        );
        let mut lo = ifinfomsg(1).to_vec();
        lo[8..12].copy_from_slice(&IFF_LOOPBACK.to_ne_bytes());
        lo.extend(attr(IFLA_IFNAME, b"lo\0"));
        let (_, l) = parse_link(&lo).unwrap();
        assert!(l.loopback && !l.up && l.mac == [0; 6]);
        assert!(parse_link(&ifinfomsg(1)).is_err(), "no name");
        let mut bad_mtu = ifinfomsg(1).to_vec();
        bad_mtu.extend(attr(IFLA_IFNAME, b"x\0"));
        bad_mtu.extend(attr(IFLA_MTU, &[1]));
        assert!(parse_link(&bad_mtu).is_err());

        // IPv4: IFA_LOCAL wins over IFA_ADDRESS (the peer on point-to-point).
        let mut a = ifaddrmsg(V4).to_vec();
        a[4..8].copy_from_slice(&9u32.to_ne_bytes());
        a.extend(attr(IFA_ADDRESS, &[10, 0, 0, 2]));
        a.extend(attr(IFA_LOCAL, &[10, 0, 0, 1]));
        assert_eq!(
            parse_addr(&a).unwrap(),
            (9, Some("10.0.0.1".parse().unwrap()))
        );
        let mut a6 = ifaddrmsg(V6).to_vec();
        a6[4..8].copy_from_slice(&3u32.to_ne_bytes());
        a6.extend(attr(
            IFA_ADDRESS,
            &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        ));
        assert_eq!(
            parse_addr(&a6).unwrap(),
            (3, Some("2001:db8::1".parse().unwrap()))
        );
        let mut wrong = ifaddrmsg(V6).to_vec();
        wrong.extend(attr(IFA_ADDRESS, &[1, 2, 3, 4]));
        assert!(
            parse_addr(&wrong).is_err(),
            "IPv4-sized address in an IPv6 message"
        );
    }

    #[test]
    fn replies_skip_stale_sequence_numbers_and_end_correctly() {
        // A stale reply (seq 4) ahead of ours (seq 5): only ours is seen.
        let mut d = msg(RTM_NEWROUTE, 0, 4, &[1; 12]);
        d.extend(msg(RTM_NEWROUTE, 0, 5, &[2; 12]));
        let (r, got) = run(&d, 5);
        assert_eq!(r.unwrap(), Step::Done);
        assert_eq!(got, vec![(RTM_NEWROUTE, vec![2; 12])]);
        // Only stale messages: the reply is still to come.
        let (r, got) = run(&msg(RTM_NEWROUTE, 0, 4, &[]), 5);
        assert_eq!((r.unwrap(), got.len()), (Step::More, 0));
        // A dump: NLM_F_MULTI parts, then NLMSG_DONE.
        let (r, got) = run(&msg(RTM_NEWADDR, NLM_F_MULTI, 5, &[0; 8]), 5);
        assert_eq!((r.unwrap(), got.len()), (Step::More, 1));
        let mut d = msg(RTM_NEWADDR, NLM_F_MULTI, 5, &[0; 8]);
        d.extend(msg(NLMSG_DONE, NLM_F_MULTI, 5, &0i32.to_ne_bytes()));
        assert_eq!(run(&d, 5).0.unwrap(), Step::Done);
        // A dump that failed: NLMSG_DONE carries the error.
        let e = run(
            &msg(NLMSG_DONE, NLM_F_MULTI, 5, &(-libc::EINTR).to_ne_bytes()),
            5,
        )
        .0;
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EINTR));
        // NLMSG_ERROR: 0 is an ack, a negative errno an error.
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend(&[0u8; 16]); // the echoed request header
        assert_eq!(run(&msg(NLMSG_ERROR, 0, 5, &ack), 5).0.unwrap(), Step::Done);
        let mut err = (-libc::ENETUNREACH).to_ne_bytes().to_vec();
        err.extend(&[0u8; 16]);
        let e = run(&msg(NLMSG_ERROR, 0, 5, &err), 5).0.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH));
        // A stale error is not ours.
        assert_eq!(run(&msg(NLMSG_ERROR, 0, 4, &err), 5).0.unwrap(), Step::More);
        // Truncated NLMSG_ERROR and a broken datagram are errors.
        assert!(run(&msg(NLMSG_ERROR, 0, 5, &[1, 2]), 5).0.is_err());
        let mut broken = msg(RTM_NEWROUTE, 0, 5, &[0; 12]);
        broken.truncate(20);
        assert!(run(&broken, 5).0.is_err());
        assert!(errno_error(i32::MIN).raw_os_error().is_some());
    }

    /// Runs every parser over every message of `buf`, as the live code would.
    fn parse_everything(buf: &[u8], seq: u32) {
        let _ = process(buf, seq, &mut |m| {
            let _ = parse_route(m.payload);
            let _ = parse_neigh(m.payload);
            let _ = parse_link(m.payload);
            let _ = parse_addr(m.payload);
            let _ = parse_error(m.payload);
            let _ = attrs(m.payload, 0).map(|it| it.count());
            Ok(())
        });
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512), seq in 0u32..4) {
            parse_everything(&buf, seq);
        }

        #[test]
        fn well_framed_random_messages_never_panic(
            parts in proptest::collection::vec(
                (prop_oneof![Just(NLMSG_ERROR), Just(NLMSG_DONE), Just(RTM_NEWROUTE),
                             Just(RTM_NEWNEIGH), Just(RTM_NEWLINK), Just(RTM_NEWADDR), any::<u16>()],
                 any::<u16>(),
                 proptest::collection::vec(any::<u8>(), 0..24),
                 proptest::collection::vec((0u16..20, proptest::collection::vec(any::<u8>(), 0..20)), 0..6)),
                0..5)
        ) {
            let mut d = Vec::new();
            for (ty, flags, fixed, attrs_in) in &parts {
                let mut p = fixed.clone();
                for (t, data) in attrs_in {
                    p.extend(attr(*t, data));
                }
                d.extend(msg(*ty, *flags, 1, &p));
            }
            parse_everything(&d, 1);
        }
    }

    // ---- live tests in a pair of network namespaces ----

    use std::process::Command;

    /// Runs `ip` with `args`: stdout, or a message with stderr.
    fn ip(args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Two namespaces `rxs-<pid>-<tag>-a` / `-b` joined by a veth pair
    /// (`nlv0` in a: 198.51.100.1/24, 2001:db8::1/64; `nlv1` in b: .2, ::2;
    /// 4 rx/tx queues each); both are deleted on drop.
    struct NsPair {
        /// Namespace of `nlv0`.
        a: String,
        /// Namespace of `nlv1`.
        b: String,
    }

    impl NsPair {
        /// Builds the pair; `None` (after a note) only when it cannot be
        /// built and `RAMPART_XDP_ALLOW_SKIP=1`, else a failing panic.
        fn new(tag: &str) -> Option<NsPair> {
            let base = format!("rxs-{}-{tag}", std::process::id());
            let pair = NsPair {
                a: format!("{base}-a"),
                b: format!("{base}-b"),
            };
            match pair.build() {
                Ok(()) => Some(pair),
                Err(e) if std::env::var("RAMPART_XDP_ALLOW_SKIP").as_deref() == Ok("1") => {
                    eprintln!("SKIPPED (RAMPART_XDP_ALLOW_SKIP=1): {e}");
                    None
                }
                Err(e) => panic!(
                    "cannot build the test namespaces: {e}\n\
                     these tests need root and iproute2 (`ip`); \
                     set RAMPART_XDP_ALLOW_SKIP=1 to skip them"
                ),
            }
        }

        /// The `ip` commands that make the topology.
        fn build(&self) -> Result<(), String> {
            let (a, b) = (self.a.as_str(), self.b.as_str());
            for ns in [a, b] {
                ip(&["netns", "add", ns])?;
                // No DAD: IPv6 neighbour solicitations come from the
                // link-local address, and none go out while it is tentative.
                in_ns(ns, || {
                    for conf in ["all", "default"] {
                        let knob = format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad");
                        std::fs::write(&knob, "0").map_err(|e| format!("{knob}: {e}"))?;
                    }
                    Ok::<(), String>(())
                })?;
            }
            #[rustfmt::skip]
            ip(&["-n", a, "link", "add", "nlv0", "numtxqueues", "4", "numrxqueues", "4",
                 "type", "veth", "peer", "name", "nlv1", "netns", b,
                 "numtxqueues", "4", "numrxqueues", "4"])?;
            for (ns, dev, v4, v6) in [
                (a, "nlv0", "198.51.100.1/24", "2001:db8::1/64"),
                (b, "nlv1", "198.51.100.2/24", "2001:db8::2/64"),
            ] {
                ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
                ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            // The carrier comes up asynchronously (linkwatch, up to ~1 s);
            // until then IPv6 neighbour discovery sends nothing useful.
            let deadline = Instant::now() + Duration::from_secs(5);
            for (ns, dev) in [(a, "nlv0"), (b, "nlv1")] {
                loop {
                    let out = ip(&["-n", ns, "-br", "link", "show", "dev", dev])?;
                    if out.split_whitespace().nth(1) == Some("UP") {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("{dev} in {ns} not UP within 5 s: {out}"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Ok(())
        }
    }

    impl Drop for NsPair {
        fn drop(&mut self) {
            let _ = ip(&["netns", "del", &self.a]);
            let _ = ip(&["netns", "del", &self.b]);
        }
    }

    /// Runs `f` on a fresh thread that has entered namespace `ns`, so the
    /// test harness's thread keeps its own namespace.
    fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(format!("/var/run/netns/{ns}"))
                    .unwrap_or_else(|e| panic!("open netns {ns}: {e}"));
                // SAFETY: setns takes an fd we hold open and a flag; it
                // changes only this (spawned, short-lived) thread.
                let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns {ns}: {}", io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The MAC of `dev` in `ns` as `ip -br link` prints it.
    fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
        let out = ip(&["-n", ns, "-br", "link", "show", "dev", dev]).unwrap();
        let text = out
            .split_whitespace()
            .nth(2)
            .expect("ip -br link: no mac column");
        let mut mac = [0u8; 6];
        let mut n = 0;
        for (m, part) in mac.iter_mut().zip(text.split(':')) {
            *m = u8::from_str_radix(part, 16).expect("mac byte");
            n += 1;
        }
        assert_eq!(n, 6, "mac {text}");
        mac
    }

    /// Polls `neigh_get` until the entry is usable (at most 2 s).
    fn wait_usable(nl: &mut Netlink, ifindex: u32, ip: IpAddr) -> Option<Neigh> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(n) = nl.neigh_get(ifindex, ip).unwrap() {
                if n.usable() {
                    return Some(n);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Parses an address literal.
    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn live_link_and_addr_owner() {
        let Some(ns) = NsPair::new("nlk") else { return };
        let want_mac = mac_of(&ns.a, "nlv0");
        in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let idx = if_index("nlv0").unwrap();
            let link = nl.link_get(idx).unwrap();
            assert_eq!(link.name, "nlv0");
            assert_eq!(link.mac, want_mac);
            assert_ne!(link.mac, [0; 6]);
            assert_eq!(link.mtu, 1500);
            assert!(link.up && !link.loopback, "{link:?}");
            let lo = nl.link_get(if_index("lo").unwrap()).unwrap();
            assert!(lo.loopback && lo.up && lo.name == "lo", "{lo:?}");

            assert_eq!(nl.addr_owner(a("198.51.100.1")).unwrap(), Some(idx));
            assert_eq!(nl.addr_owner(a("2001:db8::1")).unwrap(), Some(idx));
            assert_eq!(nl.addr_owner(a("127.0.0.1")).unwrap(), Some(lo_index()));
            assert_eq!(nl.addr_owner(a("203.0.113.9")).unwrap(), None);
            assert_eq!(
                nl.addr_owner(a("198.51.100.2")).unwrap(),
                None,
                "the peer's"
            );
            assert_eq!(nl.addr_owner(a("2001:db8::9")).unwrap(), None);
        });
    }

    /// Index of `lo` in the calling thread's namespace.
    fn lo_index() -> u32 {
        if_index("lo").unwrap()
    }

    #[test]
    fn live_route_get_v4_v6() {
        let Some(ns) = NsPair::new("nrt") else { return };
        ip(&[
            "-n",
            &ns.a,
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "198.51.100.2",
        ])
        .unwrap();
        ip(&[
            "-n",
            &ns.a,
            "-6",
            "route",
            "add",
            "2001:db8:5::/64",
            "via",
            "2001:db8::2",
        ])
        .unwrap();
        in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let idx = if_index("nlv0").unwrap();
            let r = nl.route_get(a("198.51.100.2")).unwrap();
            assert_eq!(
                r,
                Route {
                    oif: idx,
                    gateway: None,
                    prefsrc: Some(a("198.51.100.1")),
                    local: false
                }
            );
            let r = nl.route_get(a("198.51.100.1")).unwrap();
            assert!(r.local, "own address: {r:?}");
            assert_eq!(r.oif, lo_index());
            let r = nl.route_get(a("203.0.113.9")).unwrap();
            assert_eq!(
                (r.oif, r.gateway, r.local),
                (idx, Some(a("198.51.100.2")), false)
            );

            let r = nl.route_get(a("2001:db8::2")).unwrap();
            assert_eq!((r.oif, r.gateway, r.local), (idx, None, false), "{r:?}");
            let r = nl.route_get(a("2001:db8::1")).unwrap();
            assert!(r.local, "own address: {r:?}");
            let r = nl.route_get(a("2001:db8:5::9")).unwrap();
            assert_eq!(
                (r.oif, r.gateway, r.local),
                (idx, Some(a("2001:db8::2")), false)
            );
        });
    }

    #[test]
    fn live_neigh_permanent_entry() {
        let Some(ns) = NsPair::new("nnp") else { return };
        let peer = a("198.51.100.2");
        let idx = in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let idx = if_index("nlv0").unwrap();
            let before = nl.neigh_get(idx, peer).unwrap();
            assert!(!matches!(before, Some(n) if n.usable()), "{before:?}");
            idx
        });
        #[rustfmt::skip]
        ip(&["-n", &ns.a, "neigh", "replace", "198.51.100.2", "lladdr", "02:00:00:00:00:02",
             "dev", "nlv0", "nud", "permanent"]).unwrap();
        in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let n = nl
                .neigh_get(idx, peer)
                .unwrap()
                .expect("entry after ip neigh replace");
            assert_eq!(
                n,
                Neigh {
                    mac: [2, 0, 0, 0, 0, 2],
                    state: NUD_PERMANENT
                }
            );
            assert!(n.usable());
            // Resolving a permanent entry leaves it alone.
            nl.neigh_resolve(idx, peer).unwrap();
            assert_eq!(nl.neigh_get(idx, peer).unwrap(), Some(n));
        });
    }

    #[test]
    fn live_neigh_resolve_v4_v6() {
        let Some(ns) = NsPair::new("nnr") else { return };
        let peer_mac = mac_of(&ns.b, "nlv1");
        in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let idx = if_index("nlv0").unwrap();
            for peer in [a("198.51.100.2"), a("2001:db8::2")] {
                let before = nl.neigh_get(idx, peer).unwrap();
                assert!(
                    !matches!(before, Some(n) if n.usable()),
                    "{peer}: {before:?}"
                );
                nl.neigh_resolve(idx, peer).unwrap();
                let n = wait_usable(&mut nl, idx, peer).unwrap_or_else(|| {
                    let now = nl.neigh_get(idx, peer);
                    panic!("{peer} not resolved within 2 s (entry now {now:?})")
                });
                assert_eq!(n.mac, peer_mac, "{peer}: {n:?}");
            }
        });
    }

    #[test]
    fn live_channels_get_set() {
        let Some(ns) = NsPair::new("nch") else { return };
        in_ns(&ns.a, || {
            let ch = get_channels("nlv0").unwrap();
            assert!(ch.rx >= 1 && ch.tx >= 1, "{ch:?}");
            assert_eq!((ch.max_rx, ch.max_tx), (4, 4), "{ch:?}");
            set_channels("nlv0", 2, 2).unwrap();
            let ch = get_channels("nlv0").unwrap();
            assert_eq!((ch.rx, ch.tx), (2, 2), "{ch:?}");
            assert!(set_channels("nlv0", 64, 64).is_err(), "above the maximum");
        });
        in_ns(&ns.b, || {
            set_channels("nlv1", 2, 2).unwrap();
            let ch = get_channels("nlv1").unwrap();
            assert_eq!((ch.rx, ch.tx), (2, 2), "{ch:?}");
        });
    }

    #[test]
    fn live_errors_are_errors() {
        let Some(ns) = NsPair::new("ner") else { return };
        in_ns(&ns.a, || {
            let mut nl = Netlink::open().unwrap();
            let e = nl.route_get(a("203.0.113.9")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH), "{e}");
            assert!(nl.link_get(9999).is_err());
            assert!(nl.neigh_get(9999, a("198.51.100.2")).is_err());
            assert!(nl.neigh_resolve(9999, a("198.51.100.2")).is_err());
            assert!(nl.link_get(u32::MAX).is_err());
            assert!(if_index("nope0").is_err());
            assert_eq!(
                if_index("a\0b").unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            assert!(get_channels("nope0").is_err());
            assert!(get_channels("").is_err());
            assert!(get_channels("a-name-far-too-long").is_err());
            // The socket still works after errors (no stale reply confuses it).
            let idx = if_index("nlv0").unwrap();
            assert_eq!(nl.route_get(a("198.51.100.2")).unwrap().oif, idx);
        });
    }
}
