//! Per-leg and per-worker counters.
//!
//! Every counter is an [`AtomicU64`] written by exactly one thread, the
//! worker that owns the call, with a plain `store(load + n)` (no locked
//! read-modify-write on the hot path), and read by anyone with
//! [`Ordering::Relaxed`]. The latched addresses sit behind a [`Mutex`] that
//! the worker touches only when a latch changes, never per packet.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Adds `n` to a single-writer counter (a relaxed load and store, no lock
/// prefix).
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Adds one to a single-writer counter.
#[inline]
pub(crate) fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

/// Sets a latched-address slot; called only when the latch changes.
pub(crate) fn set_addr(slot: &Mutex<Option<SocketAddr>>, addr: Option<SocketAddr>) {
    let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = addr;
}

fn get_addr(slot: &Mutex<Option<SocketAddr>>) -> Option<SocketAddr> {
    *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counters of one call leg. The control plane creates them with
/// [`LegCounters::new`], keeps a clone of the `Arc` and reads them at any
/// time; the owning worker is the only writer.
///
/// "In" is what the leg's peer sent to the relay, "out" what the relay sent
/// to the leg's peer.
#[derive(Debug, Default)]
pub struct LegCounters {
    /// Datagrams received on the leg's sockets (RTP and RTCP, including
    /// the ones later dropped).
    pub packets_in: AtomicU64,
    /// Bytes of the datagrams counted in `packets_in`, as received.
    pub bytes_in: AtomicU64,
    /// Datagrams sent to the leg's peer (RTP and RTCP).
    pub packets_out: AtomicU64,
    /// Bytes of the datagrams counted in `packets_out`, as sent.
    pub bytes_out: AtomicU64,
    /// RTCP/SRTCP datagrams received (also counted in `packets_in`).
    pub rtcp_in: AtomicU64,
    /// RTCP/SRTCP datagrams sent (also counted in `packets_out`).
    pub rtcp_out: AtomicU64,
    /// Bytes of the datagrams counted in `rtcp_in` (also in `bytes_in`).
    pub rtcp_bytes_in: AtomicU64,
    /// Bytes of the datagrams counted in `rtcp_out` (also in `bytes_out`).
    pub rtcp_bytes_out: AtomicU64,
    /// Received RTCP/SRTCP packets dropped as forged, replayed, malformed
    /// or of an SSRC not accepted (also counted under that reason).
    pub rtcp_errors: AtomicU64,
    /// Received packets whose SRTP/SRTCP tag did not verify, or whose MKI
    /// names no key.
    pub auth_failures: AtomicU64,
    /// Received packets refused as replays or as too old for the window.
    pub replays: AtomicU64,
    /// Received packets that did not parse: truncated, bad version, not
    /// RTP/RTCP by their first byte, longer than a receive buffer.
    pub malformed: AtomicU64,
    /// Received packets of an SSRC the inbound context does not accept.
    pub unknown_ssrc: AtomicU64,
    /// Packets that could not be sent to this leg because its remote
    /// address is not known yet.
    pub dropped_no_remote: AtomicU64,
    /// Received packets dropped because they came from an address other
    /// than the signalled one (strict mode) or the latched one (a
    /// first-packet latch, which never moves).
    pub dropped_strict_source: AtomicU64,
    /// Received plain-RTP packets dropped because they came from an address
    /// other than the signalled one while the signalled address may still
    /// speak (it sent within the latch grace period, or the leg is younger
    /// than that): refused latches.
    pub dropped_latch_refused: AtomicU64,
    /// Packets lost to overload: sends toward this leg refused with
    /// `EAGAIN`/`ENOBUFS`, plus datagrams the kernel dropped on this leg's
    /// sockets because their receive queue was full (`SO_RXQ_OVFL`).
    pub dropped_overload: AtomicU64,
    /// Packets the outbound SRTP context refused to protect toward this
    /// leg: a packet index it already used (a repeated SSRC and sequence,
    /// which would reuse keystream), one behind its window, or an
    /// exhausted key.
    pub dropped_protect_refused: AtomicU64,
    /// Packets dropped for any other reason: STUN/DTLS on a media socket,
    /// RTCP on a non-muxed RTP socket, send errors other than overload.
    pub dropped_other: AtomicU64,
    /// How many times a latched address moved: an authenticated packet
    /// from a new address (SRTP), or a plain-RTP packet from the signalled
    /// address (or, after the grace, from elsewhere) replacing another
    /// latch.
    pub relatches: AtomicU64,
    /// Unix time in ms of the last received packet that passed every check
    /// (0: none yet).
    pub last_packet_ms: AtomicU64,
    /// The peer's RTP address the relay latched on (`None`: not latched).
    pub latched_rtp: Mutex<Option<SocketAddr>>,
    /// The peer's RTCP address the relay latched on (`None`: not latched).
    pub latched_rtcp: Mutex<Option<SocketAddr>>,
}

/// A plain copy of [`LegCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegStats {
    /// See [`LegCounters::packets_in`].
    pub packets_in: u64,
    /// See [`LegCounters::bytes_in`].
    pub bytes_in: u64,
    /// See [`LegCounters::packets_out`].
    pub packets_out: u64,
    /// See [`LegCounters::bytes_out`].
    pub bytes_out: u64,
    /// See [`LegCounters::rtcp_in`].
    pub rtcp_in: u64,
    /// See [`LegCounters::rtcp_out`].
    pub rtcp_out: u64,
    /// See [`LegCounters::rtcp_bytes_in`].
    #[serde(default)]
    pub rtcp_bytes_in: u64,
    /// See [`LegCounters::rtcp_bytes_out`].
    #[serde(default)]
    pub rtcp_bytes_out: u64,
    /// See [`LegCounters::rtcp_errors`].
    #[serde(default)]
    pub rtcp_errors: u64,
    /// See [`LegCounters::auth_failures`].
    pub auth_failures: u64,
    /// See [`LegCounters::replays`].
    pub replays: u64,
    /// See [`LegCounters::malformed`].
    pub malformed: u64,
    /// See [`LegCounters::unknown_ssrc`].
    pub unknown_ssrc: u64,
    /// See [`LegCounters::dropped_no_remote`].
    pub dropped_no_remote: u64,
    /// See [`LegCounters::dropped_strict_source`].
    pub dropped_strict_source: u64,
    /// See [`LegCounters::dropped_latch_refused`].
    pub dropped_latch_refused: u64,
    /// See [`LegCounters::dropped_overload`].
    pub dropped_overload: u64,
    /// See [`LegCounters::dropped_protect_refused`].
    #[serde(default)]
    pub dropped_protect_refused: u64,
    /// See [`LegCounters::dropped_other`].
    pub dropped_other: u64,
    /// See [`LegCounters::relatches`].
    pub relatches: u64,
    /// See [`LegCounters::last_packet_ms`].
    pub last_packet_ms: u64,
    /// See [`LegCounters::latched_rtp`].
    pub latched_rtp: Option<SocketAddr>,
    /// See [`LegCounters::latched_rtcp`].
    pub latched_rtcp: Option<SocketAddr>,
}

impl LegCounters {
    /// Fresh zeroed counters, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Reads every counter (relaxed) into a plain struct.
    pub fn snapshot(&self) -> LegStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LegStats {
            packets_in: r(&self.packets_in),
            bytes_in: r(&self.bytes_in),
            packets_out: r(&self.packets_out),
            bytes_out: r(&self.bytes_out),
            rtcp_in: r(&self.rtcp_in),
            rtcp_out: r(&self.rtcp_out),
            rtcp_bytes_in: r(&self.rtcp_bytes_in),
            rtcp_bytes_out: r(&self.rtcp_bytes_out),
            rtcp_errors: r(&self.rtcp_errors),
            auth_failures: r(&self.auth_failures),
            replays: r(&self.replays),
            malformed: r(&self.malformed),
            unknown_ssrc: r(&self.unknown_ssrc),
            dropped_no_remote: r(&self.dropped_no_remote),
            dropped_strict_source: r(&self.dropped_strict_source),
            dropped_latch_refused: r(&self.dropped_latch_refused),
            dropped_overload: r(&self.dropped_overload),
            dropped_protect_refused: r(&self.dropped_protect_refused),
            dropped_other: r(&self.dropped_other),
            relatches: r(&self.relatches),
            last_packet_ms: r(&self.last_packet_ms),
            latched_rtp: get_addr(&self.latched_rtp),
            latched_rtcp: get_addr(&self.latched_rtcp),
        }
    }
}

impl LegStats {
    /// Every drop of the leg, all reasons summed.
    pub fn dropped_total(&self) -> u64 {
        self.auth_failures
            + self.replays
            + self.malformed
            + self.unknown_ssrc
            + self.dropped_no_remote
            + self.dropped_strict_source
            + self.dropped_latch_refused
            + self.dropped_overload
            + self.dropped_protect_refused
            + self.dropped_other
    }
}

/// Totals of one worker thread; written only by that worker.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Datagrams received on the worker's sockets.
    pub packets_received: AtomicU64,
    /// Datagrams sent onward successfully.
    pub packets_relayed: AtomicU64,
    /// Datagrams dropped, every reason (the kernel's receive-queue drops
    /// are in `kernel_drops` instead).
    pub packets_dropped: AtomicU64,
    /// Datagrams the kernel dropped on the worker's sockets because their
    /// receive queue was full (from `SO_RXQ_OVFL`); on AF_XDP also the
    /// frames dropped because the worker's XSK rx ring was full or had no
    /// free frame (`XDP_STATISTICS`).
    pub kernel_drops: AtomicU64,
    /// Receive batches that held at least one datagram.
    pub batches: AtomicU64,
    /// Send system calls (or submissions) made.
    pub send_calls: AtomicU64,
    /// GSO super-datagrams sent (each replacing several sends).
    pub gso_sends: AtomicU64,
    /// Sleeps of one batching tick under load (see `dataplane::pacer`).
    pub batch_ticks: AtomicU64,
    /// AF_XDP: frames received through the worker's XSK (also counted in
    /// `packets_received`).
    pub xdp_rx: AtomicU64,
    /// AF_XDP: frames sent through the XSK's tx ring.
    pub xdp_tx: AtomicU64,
    /// AF_XDP: packets the XSK path sent through the leg's kernel socket
    /// instead (next hop unresolved or on another interface, over the MTU).
    pub xdp_slow_tx: AtomicU64,
    /// AF_XDP: frames steered to the XSK that were not for a leg (did not
    /// parse, no socket on the port, another local address).
    pub xdp_rx_rejected: AtomicU64,
    /// AF_XDP: packets dropped because the tx ring was full.
    pub xdp_tx_ring_full: AtomicU64,
    /// STUN and DTLS datagrams of transport legs handed to the control
    /// plane.
    pub transport_in: AtomicU64,
    /// Of those, dropped because the hand-over queue was full (a flood) or
    /// no one takes them.
    pub transport_dropped: AtomicU64,
    /// Datagrams sent from a leg's socket for the control plane.
    pub transport_out: AtomicU64,
    /// Of those, not sent (the leg is gone, the socket refused).
    pub transport_out_failed: AtomicU64,
    /// Packets dropped before they left a BUNDLE socket because another
    /// section on it already sends with their SSRC (the sections share
    /// one key: the same SSRC twice would repeat keystream).
    pub bundle_ssrc_collisions: AtomicU64,
    /// HMAC-SHA1 tags of SRTP/SRTCP packets computed several at once by a
    /// multi-buffer engine (AVX-512, AVX2) for a receive batch, received
    /// and sent (`srtp::batch`).
    pub srtp_tags_multibuffer: AtomicU64,
    /// Of a receive batch's HMAC-SHA1 tags, those computed one at a time
    /// (too few in the batch to fill a vector call, or engine `single`).
    pub srtp_tags_single: AtomicU64,
    /// Calls the worker holds now.
    pub calls: AtomicU64,
    /// Control commands handled.
    pub commands: AtomicU64,
}

/// A plain copy of [`WorkerCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerStats {
    /// See [`WorkerCounters::packets_received`].
    pub packets_received: u64,
    /// See [`WorkerCounters::packets_relayed`].
    pub packets_relayed: u64,
    /// See [`WorkerCounters::packets_dropped`].
    pub packets_dropped: u64,
    /// See [`WorkerCounters::kernel_drops`].
    pub kernel_drops: u64,
    /// See [`WorkerCounters::batches`].
    pub batches: u64,
    /// See [`WorkerCounters::send_calls`].
    pub send_calls: u64,
    /// See [`WorkerCounters::gso_sends`].
    pub gso_sends: u64,
    /// See [`WorkerCounters::batch_ticks`].
    #[serde(default)]
    pub batch_ticks: u64,
    /// See [`WorkerCounters::xdp_rx`].
    #[serde(default)]
    pub xdp_rx: u64,
    /// See [`WorkerCounters::xdp_tx`].
    #[serde(default)]
    pub xdp_tx: u64,
    /// See [`WorkerCounters::xdp_slow_tx`].
    #[serde(default)]
    pub xdp_slow_tx: u64,
    /// See [`WorkerCounters::xdp_rx_rejected`].
    #[serde(default)]
    pub xdp_rx_rejected: u64,
    /// See [`WorkerCounters::xdp_tx_ring_full`].
    #[serde(default)]
    pub xdp_tx_ring_full: u64,
    /// See [`WorkerCounters::srtp_tags_multibuffer`].
    #[serde(default)]
    pub srtp_tags_multibuffer: u64,
    /// See [`WorkerCounters::srtp_tags_single`].
    #[serde(default)]
    pub srtp_tags_single: u64,
    /// See [`WorkerCounters::calls`].
    pub calls: u64,
    /// See [`WorkerCounters::commands`].
    pub commands: u64,
}

impl WorkerCounters {
    /// Reads every counter (relaxed) into a plain struct.
    pub fn snapshot(&self) -> WorkerStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerStats {
            packets_received: r(&self.packets_received),
            packets_relayed: r(&self.packets_relayed),
            packets_dropped: r(&self.packets_dropped),
            kernel_drops: r(&self.kernel_drops),
            batches: r(&self.batches),
            send_calls: r(&self.send_calls),
            gso_sends: r(&self.gso_sends),
            batch_ticks: r(&self.batch_ticks),
            xdp_rx: r(&self.xdp_rx),
            xdp_tx: r(&self.xdp_tx),
            xdp_slow_tx: r(&self.xdp_slow_tx),
            xdp_rx_rejected: r(&self.xdp_rx_rejected),
            xdp_tx_ring_full: r(&self.xdp_tx_ring_full),
            srtp_tags_multibuffer: r(&self.srtp_tags_multibuffer),
            srtp_tags_single: r(&self.srtp_tags_single),
            calls: r(&self.calls),
            commands: r(&self.commands),
        }
    }
}
