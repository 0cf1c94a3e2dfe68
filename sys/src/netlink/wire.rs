//! The netlink wire format: building requests and parsing replies over
//! byte slices, in safe, bounds-checked code (no `unsafe` here), so a
//! truncated or hostile reply is an error, never a panic or an
//! out-of-bounds read. The constants are the kernel's (linux/netlink.h,
//! linux/rtnetlink.h, linux/neighbour.h, linux/if_link.h).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Link, Neigh, Route};

/// `struct nlmsghdr` size.
pub(super) const NLMSG_HDRLEN: usize = 16;
/// `struct nlattr` / `struct rtattr` header size.
pub(super) const NLA_HDRLEN: usize = 4;
/// Attribute type bits (without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`).
pub(super) const NLA_TYPE_MASK: u16 = 0x3fff;

/// Nothing, skip it (message types and flags: linux/netlink.h).
pub(super) const NLMSG_NOOP: u16 = 1;
/// An error, or with error 0 an acknowledgement.
pub(super) const NLMSG_ERROR: u16 = 2;
/// End of a multipart (dump) reply.
pub(super) const NLMSG_DONE: u16 = 3;
/// Data lost.
pub(super) const NLMSG_OVERRUN: u16 = 4;
/// A request.
pub(super) const NLM_F_REQUEST: u16 = 0x1;
/// Part of a multipart reply.
pub(super) const NLM_F_MULTI: u16 = 0x2;
/// Ask for an acknowledgement.
pub(super) const NLM_F_ACK: u16 = 0x4;
/// The dump changed while it was being read.
pub(super) const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_ROOT | NLM_F_MATCH`: dump the whole table.
pub(super) const NLM_F_DUMP: u16 = 0x300;
/// Create the object if it does not exist.
pub(super) const NLM_F_CREATE: u16 = 0x400;

/// A link, reply to `RTM_GETLINK` (rtnetlink types: linux/rtnetlink.h).
pub(super) const RTM_NEWLINK: u16 = 16;
/// Get one link.
pub(super) const RTM_GETLINK: u16 = 18;
/// An address (reply to `RTM_GETADDR`).
pub(super) const RTM_NEWADDR: u16 = 20;
/// Dump addresses.
pub(super) const RTM_GETADDR: u16 = 22;
/// A route (reply to `RTM_GETROUTE`).
pub(super) const RTM_NEWROUTE: u16 = 24;
/// Look up the route to one destination.
pub(super) const RTM_GETROUTE: u16 = 26;
/// A neighbour (reply to `RTM_GETNEIGH`; also the resolve request).
pub(super) const RTM_NEWNEIGH: u16 = 28;
/// Get one neighbour.
pub(super) const RTM_GETNEIGH: u16 = 30;

/// `IFLA_ADDRESS`: the link-layer address.
pub(super) const IFLA_ADDRESS: u16 = 1;
/// `IFLA_IFNAME`: the interface name (NUL-terminated).
pub(super) const IFLA_IFNAME: u16 = 3;
/// `IFLA_MTU`: u32.
pub(super) const IFLA_MTU: u16 = 4;
/// `IFLA_EXT_MASK`: u32 filter for `RTM_GETLINK`.
pub(super) const IFLA_EXT_MASK: u16 = 29;
/// `RTEXT_FILTER_SKIP_STATS`: leave the statistics out of the link reply.
pub(super) const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// `IFA_ADDRESS`: the (peer, on point-to-point links) address.
pub(super) const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`: the local address (IPv4).
pub(super) const IFA_LOCAL: u16 = 2;
/// `RTA_DST`: destination.
pub(super) const RTA_DST: u16 = 1;
/// `RTA_OIF`: output interface, u32.
pub(super) const RTA_OIF: u16 = 4;
/// `RTA_GATEWAY`: next hop, same family as the route.
pub(super) const RTA_GATEWAY: u16 = 5;
/// `RTA_PREFSRC`: preferred source address.
pub(super) const RTA_PREFSRC: u16 = 7;
/// `RTA_VIA`: next hop of another family (u16 family, then the address).
pub(super) const RTA_VIA: u16 = 18;
/// `NDA_DST`: the neighbour's IP address.
pub(super) const NDA_DST: u16 = 1;
/// `NDA_LLADDR`: the neighbour's link-layer address.
pub(super) const NDA_LLADDR: u16 = 2;
/// `RTN_UNICAST` route type.
pub(super) const RTN_UNICAST: u8 = 1;
/// `RTN_LOCAL`: the destination is one of our own addresses.
pub(super) const RTN_LOCAL: u8 = 2;
/// `NTF_USE`: "use" the entry, so the kernel resolves it if needed.
pub(super) const NTF_USE: u8 = 0x01;
/// `IFF_UP` (administratively up).
pub(super) const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
pub(super) const IFF_LOOPBACK: u32 = 0x8;

/// One netlink message inside a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NlMsg<'a> {
    /// `nlmsg_type`.
    pub(super) ty: u16,
    /// `nlmsg_flags`.
    pub(super) flags: u16,
    /// `nlmsg_seq`.
    pub(super) seq: u32,
    /// The bytes after the header, up to `nlmsg_len`.
    pub(super) payload: &'a [u8],
}

/// Whether a request's reply is complete after a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// More datagrams belong to the reply.
    More,
    /// The reply is complete.
    Done,
}

/// An `InvalidData` error for a malformed message.
pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"))
}

/// An `InvalidInput` error for a bad argument.
pub(super) fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("netlink: {what}"))
}

/// Rounds up to netlink's 4-byte alignment (saturating: an absurd length
/// then fails the bounds checks instead of wrapping).
pub(super) fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// `N` bytes at `at`, if in bounds.
pub(super) fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A host-order u16 at `at`.
pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes_at(b, at).map(u16::from_ne_bytes)
}

/// A host-order u32 at `at`.
pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_ne_bytes)
}

/// A host-order i32 at `at`.
pub(super) fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    bytes_at(b, at).map(i32::from_ne_bytes)
}

/// A u32 attribute value (exactly 4 bytes).
pub(super) fn attr_u32(data: &[u8], what: &str) -> io::Result<u32> {
    if data.len() != 4 {
        return Err(bad(&format!("{what}: {} bytes, want 4", data.len())));
    }
    u32_at(data, 0).ok_or_else(|| bad(what))
}

/// An address attribute of `family` (4 or 16 bytes as the family says).
pub(super) fn attr_ip(family: u8, data: &[u8]) -> io::Result<IpAddr> {
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
pub(super) struct IpBytes {
    /// `AF_INET` or `AF_INET6`.
    pub(super) family: u8,
    /// The address in network order, in the first `len` bytes.
    pub(super) bytes: [u8; 16],
    /// 4 or 16.
    pub(super) len: usize,
}

impl IpBytes {
    /// The family and bytes of `ip`.
    pub(super) fn of(ip: &IpAddr) -> IpBytes {
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
    pub(super) fn octets(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// An interface index as the kernel's `int`.
pub(super) fn ifindex_i32(ifindex: u32) -> io::Result<i32> {
    i32::try_from(ifindex).map_err(|_| invalid("interface index out of range"))
}

/// `struct rtmsg` for a route lookup.
pub(super) fn rtmsg(family: u8, dst_len: u8) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = family;
    m[1] = dst_len;
    m
}

/// `struct ndmsg`.
pub(super) fn ndmsg(family: u8, ifindex: i32, state: u16, flags: u8) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = family;
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..10].copy_from_slice(&state.to_ne_bytes());
    m[10] = flags;
    m
}

/// `struct ifinfomsg` for one index.
pub(super) fn ifinfomsg(index: i32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

/// `struct ifaddrmsg` for a dump of one family.
pub(super) fn ifaddrmsg(family: u8) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = family;
    m
}

/// Builds one request into `m` (cleared first): header, fixed part,
/// attributes, each 4-aligned. Reallocates only when the request is longer
/// than `m`'s capacity, which [`REQ_BUF`] covers for every request here.
pub(super) fn build_request(
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
pub(super) fn split_msg(buf: &[u8]) -> io::Result<(NlMsg<'_>, &[u8])> {
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
pub(super) struct Attrs<'a> {
    /// Bytes not yet parsed.
    pub(super) rest: &'a [u8],
}

/// The attributes of `payload` after a fixed header of `fixed` bytes
/// (an error when the payload is shorter than the header).
pub(super) fn attrs(payload: &[u8], fixed: usize) -> io::Result<Attrs<'_>> {
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
pub(super) fn parse_route(p: &[u8]) -> io::Result<Route> {
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
pub(super) struct NeighMsg {
    /// `ndm_ifindex`.
    pub(super) ifindex: u32,
    /// `NDA_DST`, when present.
    pub(super) dst: Option<IpAddr>,
    /// MAC and state.
    pub(super) neigh: Neigh,
}

/// Parses an `RTM_NEWNEIGH` payload (`struct ndmsg` + attributes). A
/// link-layer address that is not 6 bytes (not Ethernet) is an error.
pub(super) fn parse_neigh(p: &[u8]) -> io::Result<NeighMsg> {
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
pub(super) fn parse_link(p: &[u8]) -> io::Result<(u32, Link)> {
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
pub(super) fn parse_addr(p: &[u8]) -> io::Result<(u32, Option<IpAddr>)> {
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
pub(super) fn parse_error(p: &[u8]) -> io::Result<i32> {
    i32_at(p, 0).ok_or_else(|| bad("truncated NLMSG_ERROR"))
}

/// An `io::Error` for a kernel errno given as a negative number.
pub(super) fn errno_error(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e.checked_neg().unwrap_or(i32::MAX).abs())
}

/// Walks one received datagram for the request with sequence number `seq`:
/// messages of other sequence numbers (replies to earlier, abandoned
/// requests) are skipped, errors become `Err`, an ack or `NLMSG_DONE` ends
/// the reply, and every data message goes to `on_msg` (one without
/// `NLM_F_MULTI` is a whole reply by itself).
pub(super) fn process(
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
