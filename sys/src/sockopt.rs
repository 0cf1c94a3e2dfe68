//! Socket options the crates above set on sockets they made themselves.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

use crate::cmsg::SO_RXQ_OVFL;

/// Sets one integer `SOL_SOCKET` option to 1.
fn enable(fd: RawFd, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size.
    crate::cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Asks the kernel to report, with each datagram, how many it dropped on
/// this socket because its receive queue was full ([`crate::RxMeta::ovfl`]).
pub fn enable_rxq_ovfl(fd: RawFd) -> io::Result<()> {
    enable(fd, SO_RXQ_OVFL)
}

/// Asks the kernel to stamp each received datagram with its arrival time
/// (`SO_TIMESTAMPNS`, CLOCK_REALTIME), read back as
/// [`crate::RxMeta::timestamp_ns`].
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    enable(fd, libc::SO_TIMESTAMPNS)
}
