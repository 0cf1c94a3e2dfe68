//! Every system call of Rampart, and the one crate of the workspace where
//! `unsafe` is allowed (as quinn-udp is to quinn). Each `unsafe` block says
//! why it is sound; the crates above it (the engine's data plane, loadgen,
//! the benches, the tests' namespace helper) are safe Rust.
//!
//! Why a crate of its own: the same batched-UDP code served the engine,
//! loadgen and a benchmark, written three times; here it is written once,
//! and the `unsafe_code` lint can deny `unsafe` everywhere else. What the
//! callers see of a failed call is a classified outcome ([`SendError`]),
//! not an errno: the decision "the socket is congested, drop and go on"
//! versus "the device refuses GSO, send one by one" is made here, once.
//!
//! What is here: epoll, eventfd and `ppoll` ([`Epoll`], [`EventFd`],
//! [`poll_readable`]); CPU pinning, timer slack, `setns` and thread CPU
//! time; socket options; `recvmmsg`/`sendmmsg` with their preallocated
//! header arrays ([`MmsgRx`], [`MmsgTx`]; GSO via the `UDP_SEGMENT` cmsg,
//! kernel drop counter via `SO_RXQ_OVFL`, arrival times via
//! `SO_TIMESTAMPNS`); in [`uring`] the io_uring ring with its
//! provided-buffer ring; for the AF_XDP backend, in [`bpf`] the XDP
//! steering program with its maps and `bpf(2)` calls, in [`xsk`] the AF_XDP
//! socket with its UMEM and rings, and in [`netlink`] the
//! route/neighbour/link queries that give the frames it builds their
//! next-hop MAC.
#![allow(unsafe_code)]
#![warn(missing_docs)]

pub mod bpf;
pub mod netlink;
pub mod uring;
pub mod xsk;

mod addr;
mod cmsg;
mod event;
mod outcome;
mod process;
mod sockopt;
mod thread;
mod udp;

pub use addr::local_addr;
pub use cmsg::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
pub use event::{poll_readable, Epoll, EventFd};
pub use outcome::{errno_name, SendError};
pub use process::{clock_ticks_per_sec, install_stop_handler, request_stop, stop_requested};
pub use sockopt::{enable_rx_timestamps, enable_rxq_ovfl};
pub use thread::{pin_to_cpu, set_timer_slack, setns_net, thread_cpu_ns};
pub use udp::{send_to, MmsgRx, MmsgTx, RxMeta, TxGroup};

use std::io;

/// A libc return value as a `Result` (negative: `errno`).
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
