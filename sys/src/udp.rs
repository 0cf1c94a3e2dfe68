//! Batched UDP: `recvmmsg`/`sendmmsg` over preallocated header arrays (no
//! allocation per call), with GSO on send, and one plain `sendto`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use crate::addr::{sockaddr_from, sockaddr_to};
use crate::cmsg::{parse_rx_timestamp, parse_rxq_ovfl, set_udp_segment, CmsgBuf, RxCmsgBuf};
use crate::SendError;

/// One `sendto` of `buf` to `dest` (non-blocking). The slow path of the
/// AF_XDP backend: frames it cannot build itself go through the leg's
/// kernel socket.
pub fn send_to(fd: RawFd, buf: &[u8], dest: &SocketAddr) -> Result<usize, SendError> {
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
        Err(SendError::last())
    } else {
        Ok(r as usize)
    }
}

/// What `recvmmsg` said about one datagram.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxMeta {
    /// Bytes received (at most the receive length).
    pub len: usize,
    /// Where it came from.
    pub src: Option<SocketAddr>,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// The socket's cumulative kernel drop counter, when reported
    /// ([`crate::enable_rxq_ovfl`]).
    pub ovfl: Option<u32>,
    /// The kernel's arrival time (CLOCK_REALTIME ns), when reported
    /// ([`crate::enable_rx_timestamps`]).
    pub timestamp_ns: Option<u64>,
}

/// The arrays a batched call points the kernel at, allocated once: `n`
/// message headers, iovecs, addresses and control buffers of type `C`.
struct MsgArrays<C> {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<C>,
}

impl<C: Copy> MsgArrays<C> {
    /// Room for `n` (at least one) of each; control buffers start as `cmsg`.
    fn new(n: usize, cmsg: C) -> MsgArrays<C> {
        let n = n.max(1);
        MsgArrays {
            // SAFETY: mmsghdr, iovec and sockaddr_storage are plain data for
            // which all-zero is valid (null pointers, zero lengths).
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            names: (0..n).map(|_| unsafe { zeroed() }).collect(),
            cmsgs: vec![cmsg; n],
        }
    }
}

/// Preallocated `recvmmsg` state for up to `n` datagrams.
pub struct MmsgRx {
    a: MsgArrays<RxCmsgBuf>,
}

impl MmsgRx {
    /// Room for `n` datagrams per call (at least one).
    pub fn new(n: usize) -> MmsgRx {
        MmsgRx {
            a: MsgArrays::new(n, [0; 8]),
        }
    }

    /// Receives up to `out.len()` datagrams (non-blocking) into consecutive
    /// `slot`-byte slots of `data`, at most `recv_len` bytes each. Returns
    /// how many arrived (0 when the socket is empty).
    pub fn recv(
        &mut self,
        fd: RawFd,
        data: &mut [u8],
        slot: usize,
        recv_len: usize,
        out: &mut [RxMeta],
    ) -> io::Result<usize> {
        let n = out
            .len()
            .min(self.a.hdrs.len())
            .min(data.len() / slot.max(1));
        if n == 0 {
            return Ok(0);
        }
        let recv_len = recv_len.min(slot);
        let base = data.as_mut_ptr();
        for i in 0..n {
            self.a.iovs[i] = libc::iovec {
                // SAFETY: i * slot + recv_len <= n * slot <= data.len(), so
                // the pointer stays inside `data`.
                iov_base: unsafe { base.add(i * slot) }.cast(),
                iov_len: recv_len,
            };
            let h = &mut self.a.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.a.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.a.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.a.cmsgs[i].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = size_of::<RxCmsgBuf>() as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at live, exclusively borrowed
        // buffers (data through iovs, names, cmsgs) of the stated sizes,
        // which outlive this call; the kernel fills at most n headers.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.a.hdrs.as_mut_ptr(),
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
            let h = &self.a.hdrs[i];
            #[allow(clippy::unnecessary_cast)] // socklen_t on some targets
            let control_len = (h.msg_hdr.msg_controllen as usize).min(size_of::<RxCmsgBuf>());
            // SAFETY: the cmsg buffer is a live [u64; 8]; viewing its first
            // control_len (<= 64) bytes as u8 is in bounds.
            let control = unsafe {
                std::slice::from_raw_parts(self.a.cmsgs[i].as_ptr().cast::<u8>(), control_len)
            };
            *slot_meta = RxMeta {
                len: (h.msg_len as usize).min(recv_len),
                src: sockaddr_to(&self.a.names[i], h.msg_hdr.msg_namelen as usize),
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                ovfl: parse_rxq_ovfl(control),
                timestamp_ns: parse_rx_timestamp(control),
            };
        }
        Ok(got)
    }
}

/// One datagram (or GSO super-datagram) for [`MmsgTx::send`]: `count`
/// entries of the slot list starting at `first`, to `dest`; with
/// `segment > 0` they go as one GSO send of that segment size.
#[derive(Clone, Copy, Debug)]
pub struct TxGroup {
    /// The first entry of the slot list.
    pub first: usize,
    /// How many entries, from `first`.
    pub count: usize,
    /// The GSO segment size; 0 for a plain datagram.
    pub segment: u16,
    /// Where it goes.
    pub dest: SocketAddr,
}

/// Preallocated `sendmmsg` state.
pub struct MmsgTx {
    a: MsgArrays<CmsgBuf>,
    /// `sendmmsg` flags: `MSG_DONTWAIT`, or 0 to wait for room.
    flags: libc::c_int,
}

impl MmsgTx {
    /// Room for `n` groups and `n` slot entries per call (at least one);
    /// sends never wait for send-buffer room (a relay drops instead).
    pub fn new(n: usize) -> MmsgTx {
        MmsgTx {
            a: MsgArrays::new(n, [0; 4]),
            flags: libc::MSG_DONTWAIT,
        }
    }

    /// As [`MmsgTx::new`], but on a blocking socket the kernel may wait for
    /// send-buffer room (a load generator wants every datagram to go, not
    /// to be dropped for congestion).
    pub fn waiting(n: usize) -> MmsgTx {
        MmsgTx {
            flags: 0,
            ..MmsgTx::new(n)
        }
    }

    /// Sends `groups` from `fd` in one `sendmmsg`. Entry `k` of the slot
    /// list is `spans[k] = (offset, len)` into `data`. Returns how many
    /// groups the kernel took (the first one failing is an `Err`).
    pub fn send(
        &mut self,
        fd: RawFd,
        data: &[u8],
        spans: &[(usize, usize)],
        groups: &[TxGroup],
    ) -> Result<usize, SendError> {
        let ng = groups.len().min(self.a.hdrs.len());
        if ng == 0 {
            return Ok(0);
        }
        let mut iov_at = 0usize;
        let mut built = 0usize;
        for (g, grp) in groups.iter().take(ng).enumerate() {
            if grp.count == 0 || iov_at + grp.count > self.a.iovs.len() {
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
                self.a.iovs[iov_at] = libc::iovec {
                    // SAFETY: off + len <= data.len() (clamped above). The
                    // kernel only reads through this pointer.
                    iov_base: unsafe { data.as_ptr().add(off) } as *mut libc::c_void,
                    iov_len: len,
                };
                iov_at += 1;
            }
            let namelen = sockaddr_from(&grp.dest, &mut self.a.names[g]);
            let h = &mut self.a.hdrs[g];
            h.msg_hdr.msg_name = (&mut self.a.names[g] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = namelen;
            h.msg_hdr.msg_iov = &mut self.a.iovs[first_iov];
            h.msg_hdr.msg_iovlen = grp.count as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
            if grp.segment > 0 {
                set_udp_segment(&mut h.msg_hdr, &mut self.a.cmsgs[g], grp.segment);
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
                self.a.hdrs.as_mut_ptr(),
                built as libc::c_uint,
                self.flags,
            )
        };
        if r < 0 {
            return Err(SendError::last());
        }
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn pair() -> (UdpSocket, UdpSocket, SocketAddr) {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = rx.local_addr().unwrap();
        (tx, rx, dest)
    }

    fn one(first: usize, count: usize, segment: u16, dest: SocketAddr) -> TxGroup {
        TxGroup {
            first,
            count,
            segment,
            dest,
        }
    }

    #[test]
    fn a_batch_goes_out_in_one_sendmmsg_and_comes_back_with_its_metadata() {
        let (tx, rx, dest) = pair();
        crate::enable_rx_timestamps(rx.as_raw_fd()).unwrap();
        crate::enable_rxq_ovfl(rx.as_raw_fd()).unwrap();
        let data: Vec<u8> = (0..30u8).collect();
        let spans = [(0, 10), (10, 20)];
        let groups = [one(0, 1, 0, dest), one(1, 1, 0, dest)];
        let mut mtx = MmsgTx::new(4);
        assert_eq!(mtx.send(tx.as_raw_fd(), &data, &spans, &groups).unwrap(), 2);
        let (mut mrx, mut buf, mut meta) =
            (MmsgRx::new(4), vec![0u8; 4 * 64], [RxMeta::default(); 4]);
        // Loopback delivers during the send: both are queued already.
        assert_eq!(
            mrx.recv(rx.as_raw_fd(), &mut buf, 64, 64, &mut meta)
                .unwrap(),
            2
        );
        assert_eq!((meta[0].len, meta[1].len), (10, 20));
        assert_eq!(&buf[..10], &data[..10]);
        assert_eq!(&buf[64..84], &data[10..]);
        assert_eq!(meta[0].src, Some(tx.local_addr().unwrap()));
        assert!(!meta[0].truncated && meta[0].timestamp_ns.is_some());
        // The drop counter comes only once the kernel dropped something.
        assert_eq!(meta[1].ovfl, None);
        // Nothing left: a would-block receive is 0, not an error.
        assert_eq!(
            mrx.recv(rx.as_raw_fd(), &mut buf, 64, 64, &mut meta)
                .unwrap(),
            0
        );
    }

    #[test]
    fn gso_cuts_one_send_into_segments_and_long_datagrams_are_truncated() {
        let (tx, rx, dest) = pair();
        let data = [7u8; 25];
        let mut mtx = MmsgTx::new(4);
        let spans = [(0, 10), (10, 10), (20, 5)];
        let sent = mtx.send(tx.as_raw_fd(), &data, &spans, &[one(0, 3, 10, dest)]);
        assert_eq!(sent.unwrap(), 1);
        let (mut mrx, mut buf, mut meta) =
            (MmsgRx::new(4), vec![0u8; 4 * 64], [RxMeta::default(); 4]);
        assert_eq!(
            mrx.recv(rx.as_raw_fd(), &mut buf, 64, 8, &mut meta)
                .unwrap(),
            3
        );
        let got: Vec<(usize, bool)> = meta[..3].iter().map(|m| (m.len, m.truncated)).collect();
        assert_eq!(got, [(8, true), (8, true), (5, false)]);
    }

    #[test]
    fn send_to_reports_a_classified_error() {
        let (tx, _rx, dest) = pair();
        assert_eq!(send_to(tx.as_raw_fd(), b"hi", &dest).unwrap(), 2);
        let too_big = vec![0u8; 70_000];
        let e = send_to(tx.as_raw_fd(), &too_big, &dest).unwrap_err();
        assert!(matches!(e, SendError::MessageTooBig), "{e:?}");
    }
}
