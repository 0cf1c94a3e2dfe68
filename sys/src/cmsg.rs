//! Control messages (cmsgs): the `UDP_SEGMENT` one a GSO send carries, and
//! reading the `SO_RXQ_OVFL` drop counter and `SO_TIMESTAMPNS` arrival time
//! out of what a receive wrote, aligned or not (io_uring lays them out in
//! its buffers without alignment).

use std::mem::size_of;

/// `SO_RXQ_OVFL` (asm-generic/socket.h; x86, arm, riscv).
pub(crate) const SO_RXQ_OVFL: libc::c_int = 40;
/// `UDP_SEGMENT` (linux/udp.h): UDP GSO segment size, as a cmsg.
const UDP_SEGMENT: libc::c_int = 103;
/// Most segments the kernel takes in one GSO send (`UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes of one GSO send.
pub const GSO_MAX_BYTES: usize = 65_000;

/// Room for one cmsg carrying a `u32` (or a `u16`), 8-byte aligned: a
/// send's `UDP_SEGMENT`.
pub(crate) type CmsgBuf = [u64; 4];

/// Room for what a receive may carry: the `SO_RXQ_OVFL` counter
/// (`CMSG_SPACE(4)` = 24 bytes) and an `SO_TIMESTAMPNS` timespec
/// (`CMSG_SPACE(16)` = 32 bytes), 8-byte aligned.
pub(crate) type RxCmsgBuf = [u64; 8];

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

/// Reads the `SO_RXQ_OVFL` counter out of raw cmsg bytes (8-byte aligned
/// or not).
pub(crate) fn parse_rxq_ovfl(control: &[u8]) -> Option<u32> {
    let d = find_cmsg(control, libc::SOL_SOCKET, SO_RXQ_OVFL, 4)?;
    Some(u32::from_ne_bytes([d[0], d[1], d[2], d[3]]))
}

/// Reads the `SO_TIMESTAMPNS` arrival time (CLOCK_REALTIME, ns) out of raw
/// cmsg bytes.
pub(crate) fn parse_rx_timestamp(control: &[u8]) -> Option<u64> {
    let d = find_cmsg(
        control,
        libc::SOL_SOCKET,
        libc::SCM_TIMESTAMPNS,
        size_of::<libc::timespec>(),
    )?;
    // SAFETY: `d` holds at least size_of::<timespec>() bytes (find_cmsg
    // checked); read_unaligned copies a plain-data timespec out of them.
    let t: libc::timespec = unsafe { std::ptr::read_unaligned(d.as_ptr().cast()) };
    Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64)
}

/// The data of the first cmsg of `level`/`ty` with at least `min_len` data
/// bytes (`None` also for a malformed control buffer).
fn find_cmsg(control: &[u8], level: libc::c_int, ty: libc::c_int, min_len: usize) -> Option<&[u8]> {
    let hdr = size_of::<libc::cmsghdr>();
    let mut at = 0usize;
    while at + hdr <= control.len() {
        // SAFETY: hdr bytes at `at` are in bounds; read_unaligned copies a
        // plain-data cmsghdr out of them.
        let c: libc::cmsghdr = unsafe { std::ptr::read_unaligned(control.as_ptr().add(at).cast()) };
        #[allow(clippy::unnecessary_cast)] // usize on glibc, u32 on musl
        let clen = c.cmsg_len as usize;
        if clen < hdr || at + clen > control.len() {
            return None;
        }
        if c.cmsg_level == level && c.cmsg_type == ty && clen >= hdr + min_len {
            return Some(&control[at + hdr..at + clen]);
        }
        at += (clen + 7) & !7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One cmsg as the kernel lays it out: header, data, padding to 8.
    fn cmsg(level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Vec<u8> {
        let hdr = size_of::<libc::cmsghdr>();
        let mut b = Vec::new();
        b.extend_from_slice(&(hdr + data.len()).to_ne_bytes()[..size_of::<usize>()]);
        b.extend_from_slice(&level.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.resize(hdr, 0);
        b.extend_from_slice(data);
        b.resize((b.len() + 7) & !7, 0);
        b
    }

    #[test]
    fn timestamp_and_drop_counter_parse_aligned_or_not() {
        let mut ts = Vec::new();
        ts.extend_from_slice(&2i64.to_ne_bytes());
        ts.extend_from_slice(&5i64.to_ne_bytes());
        let mut control = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts);
        control.extend(cmsg(libc::SOL_SOCKET, SO_RXQ_OVFL, &7u32.to_ne_bytes()));
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&control);
        for c in [&control[..], &shifted[1..]] {
            assert_eq!(parse_rx_timestamp(c), Some(2_000_000_005));
            assert_eq!(parse_rxq_ovfl(c), Some(7));
        }
        // Cut inside the second cmsg: the first still reads, the rest is
        // malformed and reads as absent.
        assert_eq!(parse_rx_timestamp(&control[..40]), Some(2_000_000_005));
        assert_eq!(parse_rxq_ovfl(&control[..40]), None);
        assert_eq!(parse_rxq_ovfl(&[]), None);
    }
}
