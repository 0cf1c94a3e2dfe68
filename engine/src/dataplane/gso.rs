//! UDP GSO grouping: which consecutive datagrams may leave as one send.
//!
//! Why one function: the mmsg and io_uring backends both fold a run of
//! equal-size datagrams from one socket to one destination (a burst, such
//! as a video frame) into one UDP GSO send, and the rule for what may be
//! folded (same socket, same destination, same size, within the kernel's
//! segment and byte limits) must be the same everywhere. Pure, so it is
//! tested without sockets.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use rampart_sys::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};

/// One datagram waiting to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// The sending socket's token.
    pub token: u32,
    /// Destination.
    pub dest: SocketAddr,
    /// Bytes.
    pub len: usize,
}

/// How many datagrams, from the first of `items` on, may go out as one GSO
/// send: the run of datagrams equal to the first in socket, destination
/// and size, at most [`GSO_MAX_SEGMENTS`] of them and [`GSO_MAX_BYTES`] in
/// all, with a size that fits the kernel's 16-bit segment size. 1 when
/// `gso` is off or the first datagram cannot be grouped; 0 when `items` is
/// empty.
pub(crate) fn run_len<I: IntoIterator<Item = Outgoing>>(items: I, gso: bool) -> usize {
    let mut it = items.into_iter();
    let Some(first) = it.next() else { return 0 };
    if !gso || first.len == 0 || first.len > usize::from(u16::MAX) {
        return 1;
    }
    let mut n = 1;
    for o in it {
        if n >= GSO_MAX_SEGMENTS
            || (n + 1) * first.len > GSO_MAX_BYTES
            || o.token != first.token
            || o.dest != first.dest
            || o.len != first.len
        {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn o(token: u32, port: u16, len: usize) -> Outgoing {
        Outgoing {
            token,
            dest: SocketAddr::from(([198, 51, 100, 1], port)),
            len,
        }
    }

    #[test]
    fn a_run_of_equal_datagrams_is_one_send() {
        let v = [o(1, 5, 172), o(1, 5, 172), o(1, 5, 172), o(1, 5, 100)];
        assert_eq!(run_len(v, true), 3);
        assert_eq!(run_len(v[3..].iter().copied(), true), 1);
        assert_eq!(run_len(std::iter::empty(), true), 0);
    }

    #[test]
    fn another_socket_destination_or_size_ends_the_run() {
        assert_eq!(run_len([o(1, 5, 172), o(2, 5, 172)], true), 1);
        assert_eq!(run_len([o(1, 5, 172), o(1, 6, 172)], true), 1);
        assert_eq!(run_len([o(1, 5, 172), o(1, 5, 173)], true), 1);
    }

    #[test]
    fn gso_off_sends_one_by_one() {
        assert_eq!(run_len([o(1, 5, 172), o(1, 5, 172)], false), 1);
    }

    #[test]
    fn the_kernel_limits_bound_a_run() {
        let many = vec![o(1, 5, 100); 200];
        assert_eq!(run_len(many.iter().copied(), true), GSO_MAX_SEGMENTS);
        let big = vec![o(1, 5, 1400); 200];
        let n = run_len(big.iter().copied(), true);
        assert!(
            n * 1400 <= GSO_MAX_BYTES && (n + 1) * 1400 > GSO_MAX_BYTES,
            "{n}"
        );
        assert_eq!(run_len([o(1, 5, 70_000), o(1, 5, 70_000)], true), 1);
        assert_eq!(run_len([o(1, 5, 0), o(1, 5, 0)], true), 1);
    }

    proptest! {
        /// A run is never empty for a non-empty input, never longer than the
        /// input, holds only datagrams equal to the first (socket,
        /// destination, size), respects the kernel's limits, and stops only
        /// where the next datagram could not join it.
        #[test]
        fn runs_are_maximal_and_within_limits(
            items in proptest::collection::vec((0u32..3, 0u16..3, prop_oneof![Just(172usize), Just(1200), 1usize..2000]), 0..120),
            gso: bool,
        ) {
            let v: Vec<Outgoing> = items.iter().map(|&(t, p, l)| o(t, p, l)).collect();
            let n = run_len(v.iter().copied(), gso);
            prop_assert_eq!(n == 0, v.is_empty());
            prop_assert!(n <= v.len());
            if n > 1 {
                prop_assert!(gso);
                prop_assert!(n <= GSO_MAX_SEGMENTS && n * v[0].len <= GSO_MAX_BYTES);
                prop_assert!(v[..n].iter().all(|x| *x == v[0]));
            }
            if gso && n >= 1 && n < v.len() && v[0].len > 0 {
                let joinable = v[n] == v[0]
                    && n < GSO_MAX_SEGMENTS
                    && (n + 1) * v[0].len <= GSO_MAX_BYTES;
                prop_assert!(!joinable, "stopped early at {}", n);
            }
        }
    }
}
