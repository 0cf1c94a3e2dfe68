//! Interface facts outside rtnetlink: the index of a name
//! (`if_nametoindex`) and a device's queue counts (the ethtool channels
//! ioctl), since an XSK binds one (device, queue) pair.

use std::ffi::CString;
use std::io;
use std::mem::zeroed;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::wire::invalid;
use crate::cvt;

/// `ETHTOOL_GCHANNELS` (linux/ethtool.h).
const ETHTOOL_GCHANNELS: u32 = 0x3c;
/// `ETHTOOL_SCHANNELS` (the channel tests).
#[cfg(test)]
const ETHTOOL_SCHANNELS: u32 = 0x3d;

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
pub(super) fn set_channels(ifname: &str, rx: u32, tx: u32) -> io::Result<()> {
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
