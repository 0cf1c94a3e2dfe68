//! The sans-I/O relay: what to do with one received datagram.
//!
//! A [`CallState`] holds a call's two legs ([`LegState`]): their SRTP
//! contexts, forward and latch modes, signalled and latched remote
//! addresses and counters. [`CallState::process`] takes a datagram that
//! arrived on one leg's socket, in a buffer with tailroom, checks it,
//! transforms it in place and returns a [`Verdict`]: send `len` bytes of the
//! same buffer from the other leg's socket to an address, or drop it (the
//! reason is already counted). No I/O, no allocation, no lock (except the
//! latched-address mutex, touched only when a latch changes).
//!
//! The rules (`docs/dataplane-contract.md`):
//!
//! * Demux by first byte (RFC 7983, RFC 5761): RTP on the RTP socket, RTCP
//!   on the RTCP socket, or either on a muxed RTP socket. STUN and DTLS are
//!   dropped as `dropped_other`, anything else as `malformed`.
//! * Checks run before any state moves: the source check (strict, the
//!   signalled-address preference of a plain-RTP leg, or a first-packet
//!   latch that never moves), then parse, authentication and replay
//!   (`unprotect`/`verify` with the receiving leg's `srtp_in`).
//! * Only a packet that passed every check may latch or move a remote
//!   address (RTP Bleed): forged, tampered, replayed, truncated or garbage
//!   packets never do. RTP and RTCP latch separately.
//! * A plain-RTP leg cannot authenticate its packets, so it prefers the
//!   signalled (SDP) address: a packet from it is always accepted and
//!   latches back to it; a packet from anywhere else latches only once the
//!   signalled address has been silent for the latch grace period
//!   ([`LegParams::latch_grace_ms`], measured from the leg's set-up or the
//!   signalled address's last packet), and is otherwise dropped and
//!   counted (`dropped_latch_refused`). Once latched elsewhere, the latch
//!   moves only back to the signalled address.
//! * The packet is then protected with the other leg's `srtp_out` (or
//!   forwarded unchanged in verified passthrough) and sent to the other
//!   leg's latched, else signalled, address; none known: `dropped_no_remote`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::counters::{add, inc, set_addr};
use super::{ForwardMode, KeyChange, LatchMode, LegCounters, LegId, LegUpdate};
use crate::error::MalformedKind;
use crate::rtp::{self, PacketKind};
use crate::srtp::batch::{Defer, InBatch, MacJob};
use crate::srtp::{BatchOp, Context};
use crate::Error;

mod batch;
mod checkpoint;
mod keys;
pub(crate) use batch::Received;
pub use checkpoint::{CallCheckpoint, LegCheckpoint};
use keys::{apply_key_change, check_key_changes};

/// Which of a leg's sockets: the RTP socket (which also carries muxed
/// RTCP) or the separate RTCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The RTP socket.
    Rtp = 0,
    /// The separate RTCP socket (RTP port + 1).
    Rtcp = 1,
}

/// Why a datagram was dropped (already counted on the leg).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not RTP/RTCP by its first bytes, or not a well-formed packet.
    Malformed(MalformedKind),
    /// STUN or DTLS on a media socket.
    NotMedia,
    /// RTP on the RTCP socket, or RTCP on a non-muxed RTP socket.
    WrongSocket,
    /// From an address other than the signalled (strict) or latched
    /// (first-packet) one.
    StrictSource,
    /// Plain RTP from an address other than the signalled one while the
    /// signalled address may still speak (within the latch grace period).
    LatchRefused,
    /// The SRTP/SRTCP tag did not verify, or the MKI names no key.
    AuthFailed,
    /// A replay, or too old for the replay window.
    Replayed,
    /// An SSRC the inbound context does not accept.
    UnknownSsrc,
    /// The inbound key is exhausted, or another inbound error.
    InboundOther,
    /// The other leg has no remote address yet.
    NoRemote,
    /// Protect with the other leg's `srtp_out` failed (key exhausted,
    /// stream limit).
    ProtectFailed,
}

/// What to do with a processed datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` from `leg`'s `channel` socket to `dest`.
    Forward {
        /// Bytes to send, from the start of the buffer.
        len: usize,
        /// The leg whose socket sends (the other leg).
        leg: LegId,
        /// Which of that leg's sockets sends.
        channel: Channel,
        /// Where to.
        dest: SocketAddr,
        /// Whether the packet is RTCP (for `rtcp_out`).
        rtcp: bool,
    },
    /// Drop it; the reason was counted.
    Drop(DropReason),
}

/// The socket-free settings of one leg, to build a [`LegState`].
pub struct LegParams {
    /// Signalled RTP address of the peer.
    pub remote_rtp: Option<SocketAddr>,
    /// Signalled RTCP address (`None`: RTP port + 1, or the RTP address when
    /// muxed).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP muxed on the RTP socket (RFC 5761).
    pub rtcp_mux: bool,
    /// The leg has an RTCP socket of its own (it can leave mux).
    pub rtcp_socket: bool,
    /// Latch mode.
    pub latch: LatchMode,
    /// Inbound keys (`None`: plain RTP).
    pub srtp_in: Option<Context>,
    /// Outbound keys (`None`: send plain RTP).
    pub srtp_out: Option<Context>,
    /// How packets received on this leg reach the other leg.
    pub forward: ForwardMode,
    /// The leg's counters.
    pub counters: Arc<LegCounters>,
    /// Plain-RTP legs: how long (ms) the signalled address must have been
    /// silent before a packet from another address may latch.
    pub latch_grace_ms: u64,
    /// When the leg was set up (the clock of `process`'s `now_ms`); the
    /// grace period first runs from here.
    pub now_ms: u64,
}

/// One leg's relay state.
pub struct LegState {
    srtp_in: Option<Context>,
    srtp_out: Option<Context>,
    forward: ForwardMode,
    latch: LatchMode,
    remote: [Option<SocketAddr>; 2],
    latched: [Option<SocketAddr>; 2],
    rtcp_mux: bool,
    rtcp_socket: bool,
    counters: Arc<LegCounters>,
    /// ICE consent ran out: nothing is sent to the peer.
    consent_lost: bool,
    latch_grace_ms: u64,
    /// When the signalled address last sent a genuine packet (RTP or RTCP),
    /// or the leg was set up, or its signalled address changed.
    signalled_heard_ms: u64,
}

/// What the source check decided.
enum Source {
    /// Go on with the packet.
    Ok,
    /// Wrong source (strict, or a latch that does not move).
    Wrong,
    /// A plain-RTP latch away from the signalled address, refused within
    /// the grace period.
    LatchRefused,
}

impl LegState {
    /// A leg with nothing latched yet.
    pub fn new(p: LegParams) -> LegState {
        set_addr(&p.counters.latched_rtp, None);
        set_addr(&p.counters.latched_rtcp, None);
        LegState {
            srtp_in: p.srtp_in,
            srtp_out: p.srtp_out,
            forward: p.forward,
            latch: p.latch,
            remote: [p.remote_rtp, p.remote_rtcp],
            latched: [None, None],
            rtcp_mux: p.rtcp_mux,
            rtcp_socket: p.rtcp_socket,
            counters: p.counters,
            consent_lost: false,
            latch_grace_ms: p.latch_grace_ms,
            signalled_heard_ms: p.now_ms,
        }
    }

    /// The leg's counters.
    pub fn counters(&self) -> &Arc<LegCounters> {
        &self.counters
    }

    /// The latched RTP (`Channel::Rtp`) or RTCP (`Channel::Rtcp`) address.
    pub fn latched(&self, which: Channel) -> Option<SocketAddr> {
        self.latched[which as usize]
    }

    /// RTCP muxed on the RTP socket.
    pub fn rtcp_mux(&self) -> bool {
        self.rtcp_mux
    }

    /// The signalled address packets of this kind must come from in strict
    /// mode (and the fallback destination).
    fn signalled(&self, rtcp: bool) -> Option<SocketAddr> {
        if !rtcp {
            return self.remote[0];
        }
        self.remote[1].or_else(|| {
            let rtp = self.remote[0]?;
            Some(if self.rtcp_mux {
                rtp
            } else {
                port_plus_one(rtp)
            })
        })
    }

    /// Where to send a packet to this leg's peer.
    fn destination(&self, rtcp: bool) -> Option<SocketAddr> {
        if self.latch == LatchMode::Strict {
            return self.signalled(rtcp);
        }
        if !rtcp {
            return self.latched[0].or(self.remote[0]);
        }
        self.latched[1].or(self.remote[1]).or_else(|| {
            let rtp = self.latched[0].or(self.remote[0])?;
            Some(if self.rtcp_mux {
                rtp
            } else {
                port_plus_one(rtp)
            })
        })
    }

    /// Whether a latched address may move (only on authenticated packets,
    /// in the authenticated mode, on an SRTP leg).
    fn may_relatch(&self) -> bool {
        self.latch == LatchMode::Authenticated && self.srtp_in.is_some()
    }

    /// The source check, before the packet is parsed. Plain RTP (not
    /// strict): the signalled address always passes; an address already
    /// latched passes; a new address passes only when nothing else was
    /// latched and the signalled address (if any) has been silent for the
    /// grace period.
    fn check_source(&mut self, ch: usize, rtcp: bool, src: SocketAddr, now_ms: u64) -> Source {
        let verdict = |ok: bool| if ok { Source::Ok } else { Source::Wrong };
        if self.latch == LatchMode::Strict {
            return verdict(self.signalled(rtcp) == Some(src));
        }
        if self.may_relatch() {
            return Source::Ok;
        }
        let latched = self.latched[ch];
        if self.srtp_in.is_some() {
            return verdict(!matches!(latched, Some(l) if l != src));
        }
        let signalled = self.signalled(rtcp);
        if signalled == Some(src) || latched == Some(src) {
            return Source::Ok;
        }
        let Some(signalled) = signalled else {
            // Nothing signalled to prefer: the first packet latches.
            return verdict(latched.is_none());
        };
        if latched.is_some_and(|l| l != signalled) {
            // Latched elsewhere after the grace: that latch does not move
            // (except back to the signalled address).
            return Source::Wrong;
        }
        if now_ms < self.signalled_heard_ms {
            // The clock went back: restart the grace rather than wait for
            // the clock to catch up.
            self.signalled_heard_ms = now_ms;
        }
        if now_ms.saturating_sub(self.signalled_heard_ms) >= self.latch_grace_ms {
            Source::Ok
        } else {
            Source::LatchRefused
        }
    }

    fn set_latch(&mut self, ch: usize, addr: Option<SocketAddr>) {
        self.latched[ch] = addr;
        let slot = if ch == 0 {
            &self.counters.latched_rtp
        } else {
            &self.counters.latched_rtcp
        };
        set_addr(slot, addr);
    }

    /// Records an accepted packet's source.
    fn latch_on(&mut self, ch: usize, src: SocketAddr) {
        match self.latched[ch] {
            Some(l) if l == src => {}
            None => self.set_latch(ch, Some(src)),
            Some(_) => {
                // The source check ran before: strict and first-packet
                // latches cannot get here with a new source; an
                // authenticated SRTP leg, and a plain-RTP leg moving to or
                // (after the grace) from its signalled address, can.
                if self.may_relatch() || self.srtp_in.is_none() {
                    inc(&self.counters.relatches);
                    self.set_latch(ch, Some(src));
                }
            }
        }
    }

    /// Applies a control-plane update at `now_ms` (the clock of
    /// [`CallState::process`]). Key changes are checked first, so a refused
    /// change leaves the leg as it was. A new signalled address restarts
    /// the latch grace period.
    pub fn apply(&mut self, u: LegUpdate, now_ms: u64) -> Result<(), Error> {
        let LegUpdate {
            remote_rtp,
            remote_rtcp,
            latch,
            srtp_in,
            srtp_out,
            forward,
            rtcp_mux,
            // The worker's concern (where STUN and DTLS go), not the relay's.
            transport: _,
            consent,
            cryptex,
            encrypted_extensions,
        } = u;
        if let Some(c) = consent {
            self.consent_lost = !c;
        }
        if let Some(mux) = rtcp_mux {
            if !mux && !self.rtcp_socket {
                return Err(NO_RTCP_SOCKET);
            }
            if mux != self.rtcp_mux {
                self.rtcp_mux = mux;
                self.remote[1] = None;
                self.set_latch(1, None);
            }
        }
        if let Some(change) = srtp_in {
            apply_key_change(&mut self.srtp_in, change)?;
        }
        if let Some(change) = srtp_out {
            apply_key_change(&mut self.srtp_out, change)?;
        }
        if let Some(on) = cryptex {
            for ctx in [&mut self.srtp_in, &mut self.srtp_out]
                .into_iter()
                .flatten()
            {
                ctx.set_cryptex(on);
            }
        }
        if let Some(ids) = encrypted_extensions {
            for ctx in [&mut self.srtp_in, &mut self.srtp_out]
                .into_iter()
                .flatten()
            {
                ctx.set_encrypted_extensions(&ids)?;
            }
        }
        if let Some(addr) = remote_rtp {
            if self.remote[0] != Some(addr) {
                self.remote[0] = Some(addr);
                self.signalled_heard_ms = now_ms;
                self.set_latch(0, None);
                if self.remote[1].is_none() {
                    self.set_latch(1, None);
                }
            }
        }
        if let Some(addr) = remote_rtcp {
            if self.remote[1] != Some(addr) {
                self.remote[1] = Some(addr);
                self.signalled_heard_ms = now_ms;
                self.set_latch(1, None);
            }
        }
        if let Some(mode) = latch {
            self.latch = mode;
            if mode == LatchMode::Strict {
                for ch in 0..2 {
                    let want = self.signalled(ch == 1);
                    if self.latched[ch].is_some() && self.latched[ch] != want {
                        self.set_latch(ch, None);
                    }
                }
            }
        }
        if let Some(f) = forward {
            self.forward = f;
        }
        Ok(())
    }
}

/// A leg without an RTCP socket cannot leave RTCP mux.
const NO_RTCP_SOCKET: Error =
    Error::InvalidConfig("the leg has no RTCP socket: it cannot leave RTCP mux");

fn port_plus_one(mut a: SocketAddr) -> SocketAddr {
    a.set_port(a.port().wrapping_add(1));
    a
}

/// A call: two legs.
pub struct CallState {
    legs: [LegState; 2],
}

impl CallState {
    /// A call of legs A (index 0) and B (index 1).
    pub fn new(a: LegState, b: LegState) -> CallState {
        CallState { legs: [a, b] }
    }

    /// Applies `steps` in order, all or none: every key change is checked
    /// against the contexts first, so a refused step leaves the call as it
    /// was. The worker runs this between two packets, so no packet sees
    /// half of a rekey (an MKI key added but not yet active, one leg's
    /// forward mode changed and not the other's).
    pub fn apply_all(&mut self, steps: Vec<(LegId, LegUpdate)>, now_ms: u64) -> Result<(), Error> {
        for leg in LegId::BOTH {
            let l = self.leg(leg);
            let of = |inbound: bool| {
                steps
                    .iter()
                    .filter(move |(id, _)| *id == leg)
                    .filter_map(move |(_, u)| {
                        if inbound {
                            u.srtp_in.as_ref()
                        } else {
                            u.srtp_out.as_ref()
                        }
                    })
            };
            check_key_changes(l.srtp_in.as_ref(), of(true))?;
            check_key_changes(l.srtp_out.as_ref(), of(false))?;
            let demux = steps
                .iter()
                .any(|(id, u)| *id == leg && u.rtcp_mux == Some(false));
            if demux && !l.rtcp_socket {
                return Err(NO_RTCP_SOCKET);
            }
        }
        for (leg, u) in steps {
            self.leg_mut(leg).apply(u, now_ms)?;
        }
        Ok(())
    }

    /// One leg.
    pub fn leg(&self, leg: LegId) -> &LegState {
        &self.legs[leg.index()]
    }

    /// One leg, mutably.
    pub fn leg_mut(&mut self, leg: LegId) -> &mut LegState {
        &mut self.legs[leg.index()]
    }

    /// Processes the datagram `buf[..len]` received on leg `leg`'s
    /// `channel` socket from `src`, in place; `buf[len..]` is tailroom for
    /// the SRTP trailer. Counts everything on the legs' counters (except
    /// `packets_out`/`bytes_out`/`rtcp_out`, which the I/O layer counts
    /// once the send succeeded).
    pub fn process(
        &mut self,
        leg: LegId,
        channel: Channel,
        buf: &mut [u8],
        len: usize,
        src: SocketAddr,
        now_ms: u64,
    ) -> Verdict {
        let packet = Received {
            leg,
            channel,
            src,
            now_ms,
        };
        self.process_in_batch(packet, buf, len, InBatch::default())
    }

    /// [`process`](Self::process) for a packet of a batch (`srtp::batch`):
    /// the same steps and results, with the MAC the batch computed for it
    /// beforehand (used only if it is this packet's) and its outbound tag
    /// left to the batch. The caller writes the tags before the packet
    /// leaves.
    pub(crate) fn process_in_batch(
        &mut self,
        packet: Received,
        buf: &mut [u8],
        len: usize,
        crypto: InBatch<'_>,
    ) -> Verdict {
        let Received {
            leg,
            channel,
            src,
            now_ms,
        } = packet;
        let [a, b] = &mut self.legs;
        let (rx, tx) = match leg {
            LegId::A => (a, b),
            LegId::B => (b, a),
        };
        let len = len.min(buf.len());
        let c = &*rx.counters;
        inc(&c.packets_in);
        add(&c.bytes_in, len as u64);
        match relay(rx, tx, (channel, src, now_ms), buf, len, crypto) {
            Ok(out) => Verdict::Forward {
                len: out.len,
                leg: leg.other(),
                channel: out.channel,
                dest: out.dest,
                rtcp: out.rtcp,
            },
            Err(reason) => Verdict::Drop(reason),
        }
    }
}

/// Where a relayed packet goes: the fields of [`Verdict::Forward`] that
/// [`relay`] decides.
struct Outbound {
    len: usize,
    channel: Channel,
    dest: SocketAddr,
    rtcp: bool,
}

/// The steps of [`CallState::process`] for a packet that leg `rx` received
/// and leg `tx` sends on, in the order that keeps state safe: nothing about
/// `rx` (latch, liveness) changes before the packet is known genuine. Each
/// step counts its own drops.
#[inline]
fn relay(
    rx: &mut LegState,
    tx: &mut LegState,
    (channel, src, now_ms): (Channel, SocketAddr, u64),
    buf: &mut [u8],
    len: usize,
    crypto: InBatch<'_>,
) -> Result<Outbound, DropReason> {
    // 1. Demux by first byte.
    let rtcp = rx.demux(channel, &buf[..len])?;
    let ch = usize::from(rtcp);
    // 2. Source check: strict, the signalled-address preference of a
    // plain leg, or a latch that never moves.
    rx.admit_source(ch, rtcp, src, now_ms)?;
    // 3. Parse, authenticate, replay-check (and decrypt when re-keying).
    let plain_len = rx.open_inbound(&mut buf[..len], rtcp, crypto.hint)?;
    // 4. The packet is genuine: latch, and note the time.
    rx.heard_genuine(ch, rtcp, src, now_ms);
    // 5. Where to, and from which socket of the other leg.
    let (channel, dest) = tx.route(rtcp)?;
    // 6. Protect for the other leg (or pass the bytes through).
    let len = tx.seal_outbound(rx.forward, rtcp, (buf, len, plain_len), crypto.defer)?;
    Ok(Outbound {
        len,
        channel,
        dest,
        rtcp,
    })
}

/// The steps of [`relay`], each on the leg it concerns.
impl LegState {
    /// Demuxes by first byte: whether the packet is RTCP, or why it is
    /// dropped (counted).
    #[inline]
    fn demux(&self, channel: Channel, packet: &[u8]) -> Result<bool, DropReason> {
        let c = &*self.counters;
        let rtcp = match (rtp::classify(packet), channel) {
            (PacketKind::Rtp, Channel::Rtp) => false,
            (PacketKind::Rtcp, Channel::Rtcp) => true,
            (PacketKind::Rtcp, Channel::Rtp) if self.rtcp_mux => true,
            (PacketKind::Rtcp, Channel::Rtp) | (PacketKind::Rtp, Channel::Rtcp) => {
                inc(&c.dropped_other);
                return Err(DropReason::WrongSocket);
            }
            (PacketKind::Stun | PacketKind::Dtls, _) => {
                inc(&c.dropped_other);
                return Err(DropReason::NotMedia);
            }
            (PacketKind::Unknown, _) => {
                inc(&c.malformed);
                let kind = if packet.len() < 2 {
                    MalformedKind::Truncated
                } else {
                    MalformedKind::BadVersion
                };
                return Err(DropReason::Malformed(kind));
            }
        };
        if rtcp {
            inc(&c.rtcp_in);
            add(&c.rtcp_bytes_in, packet.len() as u64);
        }
        Ok(rtcp)
    }

    /// [`check_source`](Self::check_source), with a refusal counted.
    #[inline]
    fn admit_source(
        &mut self,
        ch: usize,
        rtcp: bool,
        src: SocketAddr,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        match self.check_source(ch, rtcp, src, now_ms) {
            Source::Ok => Ok(()),
            Source::Wrong => {
                inc(&self.counters.dropped_strict_source);
                Err(DropReason::StrictSource)
            }
            Source::LatchRefused => {
                inc(&self.counters.dropped_latch_refused);
                Err(DropReason::LatchRefused)
            }
        }
    }

    /// Parses, authenticates and replay-checks the received `packet` (and
    /// decrypts it when re-keying); returns the length to protect for the
    /// other leg.
    #[inline]
    /// `hint`: the MAC a batch computed for it (see `srtp::batch`).
    fn open_inbound(
        &mut self,
        packet: &mut [u8],
        rtcp: bool,
        hint: Option<&MacJob>,
    ) -> Result<usize, DropReason> {
        let len = packet.len();
        let op = match (self.forward, rtcp) {
            (ForwardMode::Transcode, false) => BatchOp::UnprotectRtp,
            (ForwardMode::Transcode, true) => BatchOp::UnprotectRtcp,
            (ForwardMode::VerifiedPassthrough, false) => BatchOp::VerifyRtp,
            (ForwardMode::VerifiedPassthrough, true) => BatchOp::VerifyRtcp,
        };
        let inbound = match (&mut self.srtp_in, self.forward) {
            (Some(ctx), ForwardMode::Transcode) => ctx.open_hinted(op, packet, hint),
            (Some(ctx), ForwardMode::VerifiedPassthrough) => {
                ctx.open_hinted(op, packet, hint).map(|_| len)
            }
            (None, _) if !rtcp => rtp::rtp_header_len(packet).map(|_| len),
            (None, _) => rtp::validate_compound(packet).map(|_| len),
        };
        inbound.map_err(|e| count_inbound_error(&self.counters, e, rtcp))
    }

    /// Latches on a genuine packet's source and notes when it was heard.
    #[inline]
    fn heard_genuine(&mut self, ch: usize, rtcp: bool, src: SocketAddr, now_ms: u64) {
        if self.signalled(rtcp) == Some(src) {
            self.signalled_heard_ms = now_ms;
        }
        self.latch_on(ch, src);
        self.counters
            .last_packet_ms
            .store(now_ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The socket of this (sending) leg and the destination for a packet,
    /// or `NoRemote` (counted).
    #[inline]
    fn route(&self, rtcp: bool) -> Result<(Channel, SocketAddr), DropReason> {
        let channel = if rtcp && !self.rtcp_mux {
            Channel::Rtcp
        } else {
            Channel::Rtp
        };
        match self.destination(rtcp) {
            Some(dest) if !self.consent_lost => Ok((channel, dest)),
            _ => {
                inc(&self.counters.dropped_no_remote);
                Err(DropReason::NoRemote)
            }
        }
    }

    /// Protects the packet for this (sending) leg's peer, or passes the
    /// received bytes (`len`) through; returns the length to send. With
    /// `defer`, the tag is left to the batch.
    #[inline]
    fn seal_outbound(
        &mut self,
        forward: ForwardMode,
        rtcp: bool,
        (buf, len, plain_len): (&mut [u8], usize, usize),
        defer: Defer<'_>,
    ) -> Result<usize, DropReason> {
        let ctx = match (forward, &mut self.srtp_out) {
            (ForwardMode::VerifiedPassthrough, _) => return Ok(len),
            (ForwardMode::Transcode, None) => return Ok(plain_len),
            (ForwardMode::Transcode, Some(ctx)) => ctx,
        };
        let r = match (defer, rtcp) {
            (Some((q, i)), _) => ctx.protect_deferred(rtcp, (buf, plain_len), q, i),
            (None, true) => ctx.protect_rtcp(buf, plain_len),
            (None, false) => ctx.protect_rtp(buf, plain_len),
        };
        r.map_err(|_| {
            inc(&self.counters.dropped_protect_refused);
            DropReason::ProtectFailed
        })
    }
}

/// Counts why a received packet failed to open and names the drop.
fn count_inbound_error(c: &LegCounters, e: Error, rtcp: bool) -> DropReason {
    if rtcp
        && matches!(
            e,
            Error::AuthFailed
                | Error::UnknownMki
                | Error::Replayed
                | Error::TooOld
                | Error::Malformed(_)
                | Error::UnknownSsrc(_)
                | Error::TooManyStreams { .. }
        )
    {
        inc(&c.rtcp_errors);
    }
    match e {
        Error::AuthFailed | Error::UnknownMki => {
            inc(&c.auth_failures);
            DropReason::AuthFailed
        }
        Error::Replayed | Error::TooOld => {
            inc(&c.replays);
            DropReason::Replayed
        }
        Error::Malformed(kind) => {
            inc(&c.malformed);
            DropReason::Malformed(kind)
        }
        Error::UnknownSsrc(_) | Error::TooManyStreams { .. } => {
            inc(&c.unknown_ssrc);
            DropReason::UnknownSsrc
        }
        _ => {
            inc(&c.dropped_other);
            DropReason::InboundOther
        }
    }
}

#[cfg(test)]
mod tests;
