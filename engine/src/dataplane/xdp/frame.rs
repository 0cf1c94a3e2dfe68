//! Ethernet/IP/UDP framing for the AF_XDP backend: parse a received frame,
//! write the headers in front of a payload, and the Internet checksum.
//!
//! Why this exists: an AF_XDP socket receives whole Ethernet frames and
//! transmits whole Ethernet frames. The kernel's UDP stack, which would
//! otherwise strip and build these headers, is bypassed, so the backend
//! must find the UDP payload and its addresses itself, and must build the
//! Ethernet, IPv4 or IPv6, and UDP headers the kernel would have built
//! (in the frame's headroom, in front of the payload, without copying it).
//!
//! Checksums: the IPv4 header checksum is verified on receive (it is 20
//! bytes, and a bad header could misdirect the packet). The UDP checksum is
//! **not** verified on receive: frames from a local sender over veth arrive
//! in `CHECKSUM_PARTIAL` state, whose checksum field holds only the
//! pseudo-header sum (docs/xdp-spike.md, gotcha 3), and SRTP authentication
//! covers the payload anyway. On send the full UDP checksum is **always**
//! computed (pseudo-header, UDP header and payload; a result of 0 is sent as
//! 0xffff), because no NIC offload fills it in for an AF_XDP frame and the
//! receiver's kernel verifies it.
//!
//! What `parse` accepts is what the steering program redirects (Ethernet II
//! without VLAN; IPv4 with a 20-byte header, not a fragment, protocol UDP;
//! IPv6 with UDP as the next header); everything else the program passes to
//! the kernel. Everything here is pure, allocation-free and panic-free on any
//! input: hostile frames get a [`Reject`].
#![forbid(unsafe_code)]
// Used by the xdp backend (lead's branch).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Ethernet II header bytes (no VLAN tag).
const ETH_HLEN: usize = 14;
/// IPv4 header bytes without options (IHL = 5).
const IPV4_HLEN: usize = 20;
/// IPv6 fixed header bytes.
const IPV6_HLEN: usize = 40;
/// UDP header bytes.
const UDP_HLEN: usize = 8;
/// Ethernet + IPv4 + UDP header bytes.
const V4_HEADERS: usize = ETH_HLEN + IPV4_HLEN + UDP_HLEN;
/// Ethernet + IPv6 + UDP header bytes.
const V6_HEADERS: usize = ETH_HLEN + IPV6_HLEN + UDP_HLEN;
/// Ethertype of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Ethertype of an 802.1Q VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethertype of an 802.1ad (QinQ) service tag.
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IP protocol number of UDP.
const IPPROTO_UDP: u8 = 17;
/// IPv4 "don't fragment" flag in the flags/offset field.
const IPV4_DF: u16 = 0x4000;
/// IPv4 "more fragments" flag and fragment offset bits.
const IPV4_MF_OFFSET: u16 = 0x3fff;
/// TTL (IPv4) and hop limit (IPv6) of sent packets, the Linux default.
const TTL: u8 = 64;

/// What [`parse`] found in a received Ethernet frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UdpFrame {
    /// The sender: IP source address and UDP source port (IPv6: flow info
    /// and scope id 0).
    pub src: SocketAddr,
    /// The destination: IP destination address and UDP destination port.
    pub dst: SocketAddr,
    /// Offset of the UDP payload from the start of the frame.
    pub payload: usize,
    /// UDP payload bytes (from the UDP length field; Ethernet padding and
    /// any bytes beyond the UDP length are not counted).
    pub len: usize,
}

/// Why a frame was not parsed, or why headers could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// The frame ends before its headers, or before the length its IP
    /// header declares.
    Truncated,
    /// The ethertype is a VLAN tag (802.1Q or 802.1ad).
    Vlan,
    /// The ethertype is neither IPv4 nor IPv6 (ARP, …).
    NotIp,
    /// The IP version field does not match the ethertype.
    BadVersion,
    /// IPv4 header with options (IHL > 5): the steering program passes
    /// these to the kernel.
    IpOptions,
    /// An IPv4 fragment (MF set or a non-zero offset).
    Fragment,
    /// The IP protocol (IPv4) or next header (IPv6) is not UDP; this
    /// includes every IPv6 extension header.
    NotUdp,
    /// The IPv4 header checksum does not verify.
    BadIpChecksum,
    /// Inconsistent length fields: IHL < 5, an IP length too short for a
    /// UDP header, or a UDP length below 8 or beyond the IP payload.
    BadLength,
    /// `write_headers`: source and destination are of different families.
    FamilyMismatch,
    /// `write_headers`: fewer than `header_len` bytes before the payload.
    NoHeadroom,
    /// `write_headers`: the payload runs past the end of the buffer.
    NoRoom,
    /// `write_headers`: the datagram exceeds the 16-bit IP length field.
    TooLong,
}

/// MACs for the Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct L2 {
    /// Our interface's MAC.
    pub src: [u8; 6],
    /// The next hop's MAC.
    pub dst: [u8; 6],
}

/// The `N` bytes of `b` at `at`, as an array, if they are all there.
fn array<const N: usize>(b: &[u8], at: usize) -> Option<&[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A big-endian `u16` from two bytes.
fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// Parses a received Ethernet frame down to its UDP payload.
///
/// Accepts Ethernet II (no VLAN) carrying IPv4 (IHL = 5, not a fragment,
/// protocol UDP, header checksum verified, total length within the frame)
/// or IPv6 (next header UDP, payload length within the frame), with a UDP
/// length of at least 8 and at most the IP payload. Bytes beyond the IP
/// length (Ethernet padding of short frames) are ignored. A UDP length
/// shorter than the IP payload is accepted and used, as the kernel does
/// (`udp_rcv` trims). The UDP checksum is not verified (module docs).
pub(crate) fn parse(frame: &[u8]) -> Result<UdpFrame, Reject> {
    let eth: &[u8; ETH_HLEN] = array(frame, 0).ok_or(Reject::Truncated)?;
    match be16(eth[12], eth[13]) {
        ETHERTYPE_IPV4 => parse_v4(frame),
        ETHERTYPE_IPV6 => parse_v6(frame),
        ETHERTYPE_VLAN | ETHERTYPE_QINQ => Err(Reject::Vlan),
        _ => Err(Reject::NotIp),
    }
}

/// [`parse`] after an IPv4 ethertype.
fn parse_v4(frame: &[u8]) -> Result<UdpFrame, Reject> {
    let ip: &[u8; IPV4_HLEN] = array(frame, ETH_HLEN).ok_or(Reject::Truncated)?;
    if ip[0] >> 4 != 4 {
        return Err(Reject::BadVersion);
    }
    match ip[0] & 0x0f {
        5 => {}
        0..=4 => return Err(Reject::BadLength),
        _ => return Err(Reject::IpOptions),
    }
    if fold(sum(0, ip)) != 0xffff {
        return Err(Reject::BadIpChecksum);
    }
    if be16(ip[6], ip[7]) & IPV4_MF_OFFSET != 0 {
        return Err(Reject::Fragment);
    }
    if ip[9] != IPPROTO_UDP {
        return Err(Reject::NotUdp);
    }
    let total = usize::from(be16(ip[2], ip[3]));
    if total > frame.len().saturating_sub(ETH_HLEN) {
        return Err(Reject::Truncated);
    }
    let ip_payload = total.checked_sub(IPV4_HLEN).ok_or(Reject::BadLength)?;
    let udp_at = ETH_HLEN + IPV4_HLEN;
    let (sport, dport, len) = udp(frame, udp_at, ip_payload)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Ok(UdpFrame {
        src: SocketAddr::V4(SocketAddrV4::new(src, sport)),
        dst: SocketAddr::V4(SocketAddrV4::new(dst, dport)),
        payload: udp_at + UDP_HLEN,
        len,
    })
}

/// [`parse`] after an IPv6 ethertype.
fn parse_v6(frame: &[u8]) -> Result<UdpFrame, Reject> {
    let ip: &[u8; IPV6_HLEN] = array(frame, ETH_HLEN).ok_or(Reject::Truncated)?;
    if ip[0] >> 4 != 6 {
        return Err(Reject::BadVersion);
    }
    if ip[6] != IPPROTO_UDP {
        return Err(Reject::NotUdp);
    }
    let ip_payload = usize::from(be16(ip[4], ip[5]));
    if ip_payload > frame.len().saturating_sub(ETH_HLEN + IPV6_HLEN) {
        return Err(Reject::Truncated);
    }
    let udp_at = ETH_HLEN + IPV6_HLEN;
    let (sport, dport, len) = udp(frame, udp_at, ip_payload)?;
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    Ok(UdpFrame {
        src: SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(src), sport, 0, 0)),
        dst: SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(dst), dport, 0, 0)),
        payload: udp_at + UDP_HLEN,
        len,
    })
}

/// The UDP header at `at`, inside an IP payload of `ip_payload` bytes
/// (already checked to lie within the frame): source port, destination
/// port, payload bytes.
fn udp(frame: &[u8], at: usize, ip_payload: usize) -> Result<(u16, u16, usize), Reject> {
    if ip_payload < UDP_HLEN {
        return Err(Reject::BadLength);
    }
    let h: &[u8; UDP_HLEN] = array(frame, at).ok_or(Reject::Truncated)?;
    let udp_len = usize::from(be16(h[4], h[5]));
    if !(UDP_HLEN..=ip_payload).contains(&udp_len) {
        return Err(Reject::BadLength);
    }
    Ok((be16(h[0], h[1]), be16(h[2], h[3]), udp_len - UDP_HLEN))
}

/// Ethernet + IP + UDP header bytes for this address family: 42 (v4) or
/// 62 (v6).
pub(crate) fn header_len(dst: &SocketAddr) -> usize {
    match dst {
        SocketAddr::V4(_) => V4_HEADERS,
        SocketAddr::V6(_) => V6_HEADERS,
    }
}

/// Writes Ethernet, IP and UDP headers into `buf[at - header_len(dst) ..
/// at]` in front of the payload `buf[at .. at + len]`, with a correct IPv4
/// header checksum and a full UDP checksum (never 0 on the wire; mandatory
/// on IPv6). IPv4: TOS 0, DF set, the given identification, TTL 64. IPv6:
/// traffic class 0, flow label 0, hop limit 64. Returns the frame's start
/// offset (the frame is `buf[start .. at + len]`).
///
/// TOS/traffic class is 0 because the engine's sockets set no DSCP either:
/// the XDP path sends what the socket path would.
pub(crate) fn write_headers(
    buf: &mut [u8],
    at: usize,
    len: usize,
    src: SocketAddr,
    dst: SocketAddr,
    l2: &L2,
    ip_id: u16,
) -> Result<usize, Reject> {
    // Header checksums are summed from the field values, not read back from
    // the bytes just written: wide loads over narrow fresh stores stall
    // store-to-load forwarding (measured back to back, quiet machine: about
    // 19 ns for a 214-byte IPv4 frame, 25 ns with the IPv4 header read back).
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            let start = at.checked_sub(V4_HEADERS).ok_or(Reject::NoHeadroom)?;
            let (hdr, payload) = place::<V4_HEADERS>(buf, start, len)?;
            let udp_len = u16::try_from(len + UDP_HLEN).map_err(|_| Reject::TooLong)?;
            let total = udp_len
                .checked_add(IPV4_HLEN as u16)
                .ok_or(Reject::TooLong)?;
            let (s_ip, d_ip) = (u32::from(*s.ip()), u32::from(*d.ip()));
            let addrs = u64::from(s_ip) + u64::from(d_ip);
            let ttl_proto = u16::from_be_bytes([TTL, IPPROTO_UDP]);
            let ip_sum = addrs
                + 0x4500
                + u64::from(total)
                + u64::from(ip_id)
                + u64::from(IPV4_DF)
                + u64::from(ttl_proto);
            ethernet(hdr, l2, ETHERTYPE_IPV4);
            hdr[14..16].copy_from_slice(&[0x45, 0]);
            hdr[16..18].copy_from_slice(&total.to_be_bytes());
            hdr[18..20].copy_from_slice(&ip_id.to_be_bytes());
            hdr[20..22].copy_from_slice(&IPV4_DF.to_be_bytes());
            hdr[22..24].copy_from_slice(&ttl_proto.to_be_bytes());
            hdr[24..26].copy_from_slice(&(!fold(ip_sum)).to_be_bytes());
            hdr[26..30].copy_from_slice(&s_ip.to_be_bytes());
            hdr[30..34].copy_from_slice(&d_ip.to_be_bytes());
            udp_header(hdr, addrs, s.port(), d.port(), udp_len, payload);
            Ok(start)
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            let start = at.checked_sub(V6_HEADERS).ok_or(Reject::NoHeadroom)?;
            let (hdr, payload) = place::<V6_HEADERS>(buf, start, len)?;
            let udp_len = u16::try_from(len + UDP_HLEN).map_err(|_| Reject::TooLong)?;
            let (s_ip, d_ip) = (u128::from(*s.ip()), u128::from(*d.ip()));
            let addrs = [s_ip >> 64, s_ip, d_ip >> 64, d_ip]
                .into_iter()
                .fold(0, |acc, half| add(acc, half as u64));
            ethernet(hdr, l2, ETHERTYPE_IPV6);
            // Version 6, traffic class 0, flow label 0.
            hdr[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
            hdr[18..20].copy_from_slice(&udp_len.to_be_bytes());
            hdr[20..22].copy_from_slice(&[IPPROTO_UDP, TTL]);
            hdr[22..38].copy_from_slice(&s_ip.to_be_bytes());
            hdr[38..54].copy_from_slice(&d_ip.to_be_bytes());
            udp_header(hdr, addrs, s.port(), d.port(), udp_len, payload);
            Ok(start)
        }
        _ => Err(Reject::FamilyMismatch),
    }
}

/// Splits `buf[start ..]` into the `H` header bytes and the `len` payload
/// bytes after them.
fn place<const H: usize>(
    buf: &mut [u8],
    start: usize,
    len: usize,
) -> Result<(&mut [u8; H], &mut [u8]), Reject> {
    let end = start
        .checked_add(H)
        .and_then(|e| e.checked_add(len))
        .ok_or(Reject::NoRoom)?;
    let frame = buf.get_mut(start..end).ok_or(Reject::NoRoom)?;
    frame.split_first_chunk_mut::<H>().ok_or(Reject::NoRoom)
}

/// Writes the Ethernet header at the start of `hdr`.
fn ethernet(hdr: &mut [u8], l2: &L2, ethertype: u16) {
    if let Some(eth) = hdr.first_chunk_mut::<ETH_HLEN>() {
        eth[0..6].copy_from_slice(&l2.dst);
        eth[6..12].copy_from_slice(&l2.src);
        eth[12..14].copy_from_slice(&ethertype.to_be_bytes());
    }
}

/// Writes the UDP header (the last 8 bytes of `hdr`) with its checksum over
/// the pseudo-header (`addrs`: the one's-complement sum of the source and
/// destination addresses), the UDP header and `payload`.
fn udp_header<const H: usize>(
    hdr: &mut [u8; H],
    addrs: u64,
    sport: u16,
    dport: u16,
    udp_len: u16,
    payload: &[u8],
) {
    // Pseudo-header protocol and length, then the header's own fields
    // (its length again, checksum 0).
    let head = add(
        addrs,
        u64::from(IPPROTO_UDP) + 2 * u64::from(udp_len) + u64::from(sport) + u64::from(dport),
    );
    let check = match !fold(sum(head, payload)) {
        0 => 0xffff,
        c => c,
    };
    if let Some(h) = hdr.last_chunk_mut::<UDP_HLEN>() {
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&udp_len.to_be_bytes());
        h[6..8].copy_from_slice(&check.to_be_bytes());
    }
}

/// `acc + v` in one's-complement arithmetic (end-around carry).
fn add(acc: u64, v: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(v);
    s + u64::from(carry)
}

/// Adds `data` to the one's-complement accumulator `acc` (RFC 1071), eight
/// bytes at a time with end-around carry. `data` must start at an even
/// offset of the checksummed run (an odd final byte is padded with zero).
/// Any 64-bit accumulator folds to the right 16-bit sum, since 2^16 ≡ 1
/// modulo 0xffff, so partial sums of even-length runs can be chained.
fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let chunks = data.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc = add(acc, u64::from_be_bytes(w));
    }
    // The last 0..=7 bytes, from fixed-size pieces (a variable-length copy
    // would call memcpy). Only a byte's position within its 16-bit word
    // matters to the sum; an odd last byte is the high byte of its word
    // (RFC 1071 zero padding).
    let mut tail = 0u64;
    let mut rest = rest;
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        tail |= u64::from(u32::from_be_bytes(*w)) << 32;
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        tail |= u64::from(u16::from_be_bytes(*w)) << 16;
        rest = r;
    }
    if let Some(&b) = rest.first() {
        tail |= u64::from(b) << 8;
    }
    add(acc, tail)
}

/// Folds a 64-bit one's-complement accumulator to 16 bits (not inverted).
fn fold(acc: u64) -> u16 {
    let s = (acc >> 32) + (acc & 0xffff_ffff);
    let s = (s >> 32) + (s & 0xffff_ffff);
    let s = (s >> 16) + (s & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L2_TEST: L2 = L2 {
        src: [2, 0, 0, 0, 0, 1],
        dst: [2, 0, 0, 0, 0, 2],
    };

    /// RFC 1071 the slow, obvious way: 16-bit big-endian words, an odd
    /// final byte padded with zero, carries folded. Not inverted.
    fn rfc1071(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = if i + 1 < data.len() {
                u32::from(data[i + 1])
            } else {
                0
            };
            s += hi | lo;
            s = (s & 0xffff) + (s >> 16);
            i += 2;
        }
        s as u16
    }

    /// Builds a frame byte by byte from the RFCs (RFC 791, 8200, 768),
    /// independently of `write_headers`.
    fn reference_frame(
        src: SocketAddr,
        dst: SocketAddr,
        l2: &L2,
        ip_id: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let udp_len = (8 + payload.len()) as u16;
        let mut f = Vec::new();
        f.extend_from_slice(&l2.dst);
        f.extend_from_slice(&l2.src);
        let mut pseudo = Vec::new();
        match (src.ip(), dst.ip()) {
            (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00]);
                let mut ip = vec![0x45, 0x00];
                ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
                ip.extend_from_slice(&ip_id.to_be_bytes());
                ip.extend_from_slice(&[0x40, 0x00, 64, 17, 0, 0]);
                ip.extend_from_slice(&s.octets());
                ip.extend_from_slice(&d.octets());
                let c = !rfc1071(&ip);
                ip[10] = (c >> 8) as u8;
                ip[11] = c as u8;
                f.extend_from_slice(&ip);
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, 17]);
                pseudo.extend_from_slice(&udp_len.to_be_bytes());
            }
            (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd]);
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&udp_len.to_be_bytes());
                f.extend_from_slice(&[17, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&u32::from(udp_len).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 17]);
            }
            _ => panic!("mixed families"),
        }
        let mut udp = Vec::new();
        udp.extend_from_slice(&src.port().to_be_bytes());
        udp.extend_from_slice(&dst.port().to_be_bytes());
        udp.extend_from_slice(&udp_len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        let mut all = pseudo;
        all.extend_from_slice(&udp);
        let c = match !rfc1071(&all) {
            0 => 0xffff,
            c => c,
        };
        udp[6] = (c >> 8) as u8;
        udp[7] = c as u8;
        f.extend_from_slice(&udp);
        f
    }

    /// A frame built by `write_headers` around `payload`.
    fn built(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let src: SocketAddr = src.parse().unwrap();
        let dst: SocketAddr = dst.parse().unwrap();
        let at = header_len(&dst);
        let mut buf = vec![0u8; at + payload.len()];
        buf[at..].copy_from_slice(payload);
        let start = write_headers(&mut buf, at, payload.len(), src, dst, &L2_TEST, 7).unwrap();
        assert_eq!(start, 0);
        buf
    }

    /// An IPv4 test frame: 198.51.100.1:5004 → 203.0.113.7:40000.
    fn v4(payload: &[u8]) -> Vec<u8> {
        built("198.51.100.1:5004", "203.0.113.7:40000", payload)
    }

    /// An IPv6 test frame: [2001:db8::1]:5004 → [2001:db8::2:ab]:40000.
    fn v6(payload: &[u8]) -> Vec<u8> {
        built("[2001:db8::1]:5004", "[2001:db8::2:ab]:40000", payload)
    }

    /// Recomputes the IPv4 header checksum after a test edits the header.
    fn fix_ip_checksum(f: &mut [u8]) {
        f[24] = 0;
        f[25] = 0;
        let c = !rfc1071(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }

    /// Folded sum of the UDP pseudo-header, header and payload of a
    /// parsed frame: 0xffff when the UDP checksum is right.
    fn udp_verify(f: &[u8]) -> u16 {
        let p = parse(f).unwrap();
        let udp = &f[p.payload - 8..p.payload + p.len];
        let mut all = Vec::new();
        match f[12] {
            0x08 => {
                all.extend_from_slice(&f[26..34]);
                all.extend_from_slice(&[0, 17]);
                all.extend_from_slice(&(udp.len() as u16).to_be_bytes());
            }
            _ => {
                all.extend_from_slice(&f[22..54]);
                all.extend_from_slice(&(udp.len() as u32).to_be_bytes());
                all.extend_from_slice(&[0, 0, 0, 17]);
            }
        }
        all.extend_from_slice(udp);
        rfc1071(&all)
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ipv4_header_checksum_known_answer() {
        // The classic worked example (Wikipedia, "IPv4 header checksum").
        let mut h = hex("450000730000400040110000c0a80001c0a800c7");
        assert_eq!(!fold(sum(0, &h)), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(fold(sum(0, &h)), 0xffff);
    }

    #[test]
    fn writes_known_ipv4_frame() {
        // Expected bytes computed by an independent Python script
        // (struct.pack + RFC 1071): IP checksum 0xc259, UDP 0x3482.
        let src: SocketAddr = "198.51.100.1:5004".parse().unwrap();
        let dst: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let mut f = [0u8; 42 + 7];
        f[42..].copy_from_slice(b"rampart");
        assert_eq!(
            write_headers(&mut f, 42, 7, src, dst, &L2_TEST, 0x1234),
            Ok(0)
        );
        let want = hex(concat!(
            "020000000002020000000001",
            "0800",
            "4500002312344000",
            "4011c259c6336401cb007107",
            "138c9c40000f3482",
            "72616d70617274"
        ));
        assert_eq!(f[..], want[..]);
        assert_eq!(rfc1071(&f[14..34]), 0xffff);
        assert_eq!(udp_verify(&f), 0xffff);
    }

    #[test]
    fn writes_known_ipv6_frame() {
        // Expected bytes from the same independent Python script: UDP 0x1d7a.
        let f = v6(b"rampart!!");
        let want = hex(concat!(
            "02000000000202000000000186dd",
            "6000000000111140",
            "20010db8000000000000000000000001",
            "20010db80000000000000000000200ab",
            "138c9c4000111d7a",
            "72616d706172742121"
        ));
        assert_eq!(f, want);
        assert_eq!(udp_verify(&f), 0xffff);
    }

    #[test]
    fn parses_spike_frame_with_partial_udp_checksum() {
        // docs/xdp-spike.md, first frame (214 bytes): its UDP checksum 0x5530
        // is only the pseudo-header sum (CHECKSUM_PARTIAL from veth). The
        // elided IP id/flags/TTL are filled in here; the payload is unknown.
        let mut f = hex(concat!(
            "5a1856c3fa72c63f00084575",
            "0800",
            "450000c800004000",
            "40110000c6336401c6336402",
            "86c70fa000b45530"
        ));
        fix_ip_checksum(&mut f);
        f.resize(214, 0x5a);
        assert_eq!(
            rfc1071(&hex("c6336401c6336402001100b4")),
            0x5530,
            "the field is the folded pseudo-header sum"
        );
        assert_ne!(udp_verify(&f), 0xffff, "so the real checksum fails");
        let p = parse(&f).unwrap();
        assert_eq!(p.src, "198.51.100.1:34503".parse().unwrap());
        assert_eq!(p.dst, "198.51.100.2:4000".parse().unwrap());
        assert_eq!((p.payload, p.len), (42, 172));
    }

    #[test]
    fn parse_finds_payload() {
        let f = v4(b"hello");
        let p = parse(&f).unwrap();
        assert_eq!(&f[p.payload..p.payload + p.len], b"hello");
        let f = v6(b"hello6");
        let p = parse(&f).unwrap();
        assert_eq!(&f[p.payload..p.payload + p.len], b"hello6");
        assert_eq!(p.src, "[2001:db8::1]:5004".parse().unwrap());
        assert_eq!(p.dst, "[2001:db8::2:ab]:40000".parse().unwrap());
    }

    #[test]
    fn rejects_short_frames_at_every_length() {
        for f in [v4(b"0123456789"), v6(b"0123456789")] {
            for n in 0..f.len() {
                assert_eq!(parse(&f[..n]), Err(Reject::Truncated), "length {n}");
            }
            assert!(parse(&f).is_ok());
        }
    }

    #[test]
    fn accepts_ethernet_padding() {
        // 42 + 4 bytes is padded to the 60-byte Ethernet minimum.
        let mut f = v4(b"abcd");
        f.resize(60, 0xee);
        let p = parse(&f).unwrap();
        assert_eq!((p.payload, p.len), (42, 4));
        let mut f = v6(b"");
        f.resize(80, 0xee);
        let p = parse(&f).unwrap();
        assert_eq!((p.payload, p.len), (62, 0));
    }

    #[test]
    fn accepts_udp_length_shorter_than_ip_payload() {
        // As the kernel does (udp_rcv trims to the UDP length).
        let mut f = v4(b"abcdef");
        f[38..40].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(parse(&f).unwrap().len, 2);
        let mut f = v6(b"abcdef");
        f[58..60].copy_from_slice(&11u16.to_be_bytes());
        assert_eq!(parse(&f).unwrap().len, 3);
    }

    #[test]
    fn rejects_vlan_and_non_ip() {
        for (ethertype, want) in [
            (0x8100u16, Reject::Vlan),
            (0x88a8, Reject::Vlan),
            (0x0806, Reject::NotIp), // ARP
            (0x88cc, Reject::NotIp), // LLDP
        ] {
            let mut f = v4(b"x");
            f[12..14].copy_from_slice(&ethertype.to_be_bytes());
            assert_eq!(parse(&f), Err(want), "{ethertype:#06x}");
        }
    }

    #[test]
    fn rejects_wrong_ip_version() {
        let mut f = v4(b"x");
        f[14] = 0x65;
        fix_ip_checksum(&mut f);
        assert_eq!(parse(&f), Err(Reject::BadVersion));
        let mut f = v6(b"x");
        f[14] = 0x40;
        assert_eq!(parse(&f), Err(Reject::BadVersion));
    }

    #[test]
    fn rejects_ipv4_options_and_short_ihl() {
        let mut f = v4(b"0123456789");
        f[14] = 0x46;
        assert_eq!(parse(&f), Err(Reject::IpOptions));
        f[14] = 0x44;
        assert_eq!(parse(&f), Err(Reject::BadLength));
    }

    #[test]
    fn rejects_fragments() {
        for flags in [0x2000u16, 0x0001, 0x1fff, 0x6000, 0x4001] {
            let mut f = v4(b"x");
            f[20..22].copy_from_slice(&flags.to_be_bytes());
            fix_ip_checksum(&mut f);
            assert_eq!(parse(&f), Err(Reject::Fragment), "{flags:#06x}");
        }
        let mut f = v4(b"x");
        f[20..22].copy_from_slice(&0u16.to_be_bytes()); // DF clear: fine
        fix_ip_checksum(&mut f);
        assert!(parse(&f).is_ok());
    }

    #[test]
    fn rejects_bad_ipv4_header_checksum() {
        let f = v4(b"x");
        for i in 14..34 {
            let mut g = f.clone();
            g[i] ^= 0x01;
            assert!(parse(&g).is_err(), "flipped byte {i}");
        }
        let mut g = f.clone();
        g[25] ^= 0x80;
        assert_eq!(parse(&g), Err(Reject::BadIpChecksum));
        let mut g = f;
        g[22] = 1; // TTL changed, checksum not updated
        assert_eq!(parse(&g), Err(Reject::BadIpChecksum));
    }

    #[test]
    fn rejects_non_udp_and_ipv6_extension_headers() {
        let mut f = v4(b"x");
        f[23] = 6; // TCP
        fix_ip_checksum(&mut f);
        assert_eq!(parse(&f), Err(Reject::NotUdp));
        for nh in [0u8, 43, 44, 60, 6, 58] {
            let mut f = v6(b"x");
            f[20] = nh;
            assert_eq!(parse(&f), Err(Reject::NotUdp), "next header {nh}");
        }
    }

    #[test]
    fn rejects_ip_length_beyond_frame() {
        let mut f = v4(b"abcd");
        f[16..18].copy_from_slice(&(20 + 8 + 5u16).to_be_bytes());
        fix_ip_checksum(&mut f);
        assert_eq!(parse(&f), Err(Reject::Truncated));
        let mut f = v6(b"abcd");
        f[18..20].copy_from_slice(&13u16.to_be_bytes());
        assert_eq!(parse(&f), Err(Reject::Truncated));
    }

    #[test]
    fn rejects_ip_length_too_short_for_udp() {
        let mut f = v4(b"abcd");
        for total in [0u16, 19, 20, 27] {
            f[16..18].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(&mut f);
            assert_eq!(parse(&f), Err(Reject::BadLength), "total {total}");
        }
        let mut f = v6(b"abcd");
        f[18..20].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(parse(&f), Err(Reject::BadLength));
    }

    #[test]
    fn rejects_udp_length_beyond_ip_payload_or_below_8() {
        for (mut f, at) in [(v4(b"abcd"), 38), (v6(b"abcd"), 58)] {
            // Ethernet padding must not count: pad, then claim one more byte.
            f.resize(f.len() + 20, 0);
            for (udp_len, ok) in [
                (13u16, false),
                (12, true),
                (8, true),
                (7, false),
                (0, false),
            ] {
                f[at..at + 2].copy_from_slice(&udp_len.to_be_bytes());
                assert_eq!(parse(&f).is_ok(), ok, "udp length {udp_len}");
                if !ok {
                    assert_eq!(parse(&f), Err(Reject::BadLength));
                }
            }
        }
    }

    #[test]
    fn write_rejects_family_mismatch() {
        let mut buf = [0u8; 128];
        let v4: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(
            write_headers(&mut buf, 64, 4, v4, v6, &L2_TEST, 0),
            Err(Reject::FamilyMismatch)
        );
        assert_eq!(
            write_headers(&mut buf, 64, 4, v6, v4, &L2_TEST, 0),
            Err(Reject::FamilyMismatch)
        );
    }

    #[test]
    fn write_rejects_missing_room() {
        let mut buf = [0u8; 100];
        let a: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let w = |buf: &mut [u8], at, len| write_headers(buf, at, len, a, a, &L2_TEST, 0);
        assert_eq!(w(&mut buf, 41, 0), Err(Reject::NoHeadroom));
        assert_eq!(w(&mut buf, 42, 59), Err(Reject::NoRoom));
        assert_eq!(w(&mut buf, 42, usize::MAX), Err(Reject::NoRoom));
        assert_eq!(w(&mut buf, usize::MAX, 1), Err(Reject::NoRoom));
        assert_eq!(w(&mut buf, 42, 58), Ok(0));
        assert_eq!(w(&mut buf, 100, 0), Ok(58));
    }

    #[test]
    fn write_rejects_too_long() {
        let v4: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let mut buf = vec![0u8; 62 + 65_536];
        // IPv4: total length 20 + 8 + len <= 65535.
        assert!(write_headers(&mut buf, 42, 65_507, v4, v4, &L2_TEST, 0).is_ok());
        assert_eq!(
            write_headers(&mut buf, 42, 65_508, v4, v4, &L2_TEST, 0),
            Err(Reject::TooLong)
        );
        // IPv6: payload length 8 + len <= 65535.
        assert!(write_headers(&mut buf, 62, 65_527, v6, v6, &L2_TEST, 0).is_ok());
        assert_eq!(
            write_headers(&mut buf, 62, 65_528, v6, v6, &L2_TEST, 0),
            Err(Reject::TooLong)
        );
    }

    #[test]
    fn udp_checksum_zero_is_sent_as_ffff() {
        // Search for a 2-byte payload whose UDP checksum computes to 0.
        let a: SocketAddr = "198.51.100.1:5004".parse().unwrap();
        let b: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let mut found = false;
        for x in 0..=u16::MAX {
            let mut buf = [0u8; 44];
            buf[42..].copy_from_slice(&x.to_be_bytes());
            write_headers(&mut buf, 42, 2, a, b, &L2_TEST, 0).unwrap();
            assert_ne!(buf[40..42], [0, 0]);
            if buf[40..42] == [0xff, 0xff] {
                found = true;
                assert_eq!(udp_verify(&buf), 0xffff);
            }
        }
        assert!(found);
    }

    /// Any IPv4 or IPv6 (source, destination) pair of one family.
    fn addr_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<[u8; 4]>(),
                any::<u16>()
            )
                .prop_map(|(s, sp, d, dp)| (
                    SocketAddr::from((Ipv4Addr::from(s), sp)),
                    SocketAddr::from((Ipv4Addr::from(d), dp))
                )),
            (
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<[u8; 16]>(),
                any::<u16>()
            )
                .prop_map(|(s, sp, d, dp)| (
                    SocketAddr::from((Ipv6Addr::from(s), sp)),
                    SocketAddr::from((Ipv6Addr::from(d), dp))
                )),
        ]
    }

    proptest! {
        #[test]
        fn prop_write_then_parse_round_trips(
            (src, dst) in addr_pair(),
            payload in prop::collection::vec(any::<u8>(), 0..1600),
            head in 0usize..80,
            tail in 0usize..40,
            ip_id in any::<u16>(),
            l2 in any::<([u8; 6], [u8; 6])>(),
        ) {
            let l2 = L2 { src: l2.0, dst: l2.1 };
            let at = head + header_len(&dst);
            let mut buf = vec![0xa5u8; at + payload.len() + tail];
            buf[at..at + payload.len()].copy_from_slice(&payload);
            let start = write_headers(&mut buf, at, payload.len(), src, dst, &l2, ip_id).unwrap();
            prop_assert_eq!(start, head);
            let end = at + payload.len();
            let frame = &buf[start..end];
            // Byte for byte what an independent construction gives.
            prop_assert_eq!(frame, &reference_frame(src, dst, &l2, ip_id, &payload)[..]);
            let p = parse(frame).unwrap();
            prop_assert_eq!(p, UdpFrame { src, dst, payload: at - start, len: payload.len() });
            prop_assert_eq!(&frame[p.payload..p.payload + p.len], &payload[..]);
            // Trailing bytes (padding) change nothing.
            prop_assert_eq!(parse(&buf[start..]), Ok(p));
            prop_assert_eq!(udp_verify(frame), 0xffff);
            if src.is_ipv4() {
                prop_assert_eq!(rfc1071(&frame[14..34]), 0xffff);
            }
        }

        #[test]
        fn prop_parse_arbitrary_bytes_never_panics(f in prop::collection::vec(any::<u8>(), 0..160)) {
            if let Ok(p) = parse(&f) {
                prop_assert!(p.payload + p.len <= f.len());
            }
        }

        #[test]
        fn prop_parse_mutated_frames_never_panics(
            v6_frame in any::<bool>(),
            payload in prop::collection::vec(any::<u8>(), 0..64),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            keep in any::<prop::sample::Index>(),
        ) {
            let mut f = if v6_frame { v6(&payload) } else { v4(&payload) };
            for (i, b) in edits {
                let i = i.index(f.len());
                f[i] = b;
            }
            let n = keep.index(f.len() + 1);
            if let Ok(p) = parse(&f[..n]) {
                prop_assert!(p.payload + p.len <= n);
            }
        }

        #[test]
        fn prop_write_without_room_errs(
            (src, dst) in addr_pair(),
            buf_len in 0usize..200,
            at in prop_oneof![0usize..300, Just(usize::MAX), Just(usize::MAX - 61)],
            len in prop_oneof![0usize..300, Just(usize::MAX), Just(usize::MAX - 61)],
        ) {
            let mut buf = vec![0u8; buf_len];
            let hlen = header_len(&dst);
            let r = write_headers(&mut buf, at, len, src, dst, &L2_TEST, 0);
            let fits = at >= hlen && at.checked_add(len).is_some_and(|e| e <= buf_len);
            if fits {
                prop_assert_eq!(r, Ok(at - hlen));
            } else {
                prop_assert!(r == Err(Reject::NoHeadroom) || r == Err(Reject::NoRoom), "{:?}", r);
            }
        }

        #[test]
        fn prop_fast_sum_matches_rfc1071(
            data in prop::collection::vec(any::<u8>(), 0..700),
            off in 0usize..9,
            split in any::<prop::sample::Index>(),
        ) {
            let d = &data[off.min(data.len())..];
            prop_assert_eq!(fold(sum(0, d)), rfc1071(d));
            // Chaining at an even split point equals one pass.
            let k = split.index(d.len() + 1) & !1;
            prop_assert_eq!(fold(sum(sum(0, &d[..k]), &d[k..])), rfc1071(d));
        }

        #[test]
        fn prop_fast_sum_of_all_ones(n in 0usize..300) {
            let d = vec![0xffu8; n];
            prop_assert_eq!(fold(sum(0, &d)), rfc1071(&d));
        }
    }
}
