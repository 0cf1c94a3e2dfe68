//! The phones. Each player thread owns two UDP sockets (the "A side" and
//! the "B side" of its calls: every leg A of its calls has the A socket as
//! its remote, every leg B the B socket) and all SRTP contexts of its calls.
//! It sends every stream's packets at that stream's phase within the
//! packet interval (streams spread evenly, no synchronized bursts), in
//! batches with `sendmmsg`, and receives with `recvmmsg`, unprotecting each
//! packet with the receiving phone's context and checking it.
//!
//! Bounded: each stream sends exactly `packets` packets; the loop ends at
//! the drain deadline, or at a hard deadline, or on a stop request.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::Error;

use crate::payload::{self, Fields, Profile};
use crate::stats::{new_histogram, Counters, Seen, StreamRx};
use crate::sys::{self, RecvBatch, SendBatch};
use crate::target::CallSetup;

/// Side index of the A socket.
pub const SIDE_A: usize = 0;
/// Side index of the B socket.
pub const SIDE_B: usize = 1;

/// One sending stream.
struct Tx {
    call: u32,
    dir: u8,
    ssrc: u32,
    side: usize,
    dest: SocketAddr,
    phase_ns: u64,
    ctx: Context,
}

/// One receiving stream.
struct Rx {
    call: u32,
    dir: u8,
    ssrc: u32,
    side: usize,
    phase_ns: u64,
    ctx: Context,
    stream: StreamRx,
}

/// Timing shared by all player threads.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The clock base: the schedule counts ns since this instant.
    pub base: Instant,
    /// CLOCK_REALTIME at `base`, ns: send timestamps are `base_wall_ns` plus
    /// monotonic time since `base`, comparable with the kernel's receive
    /// timestamps.
    pub base_wall_ns: u64,
    /// Shortest sleep between loop turns when the kernel stamps arrivals
    /// (sends are then grouped into slots of this length, spread evenly).
    pub tick: Duration,
    /// Offset of the first packet from `base`, ns.
    pub start_ns: u64,
    /// Packets per stream.
    pub packets: u64,
    /// How long to keep receiving after the last send.
    pub drain: Duration,
    /// Packets per `sendmmsg`/`recvmmsg`.
    pub batch: usize,
}

impl Schedule {
    /// ns since the base.
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Wall-clock ns for a schedule time.
    pub fn wall(&self, mono_ns: u64) -> u64 {
        self.base_wall_ns + mono_ns
    }
}

/// What one player thread measured.
pub struct PlayerResult {
    /// Counters.
    pub counters: Counters,
    /// One-way latency, ns.
    pub latency: Histogram<u64>,
    /// Final jitter of each receiving stream that got at least 2 packets, ns.
    pub jitter_ns: Vec<f64>,
    /// Largest lag of a send behind its due time, ns.
    pub max_send_lag_ns: u64,
    /// When the last packet was sent, ns since the base.
    pub last_send_ns: u64,
}

/// One player thread's calls and sockets, ready to run.
pub struct Player {
    socks: [UdpSocket; 2],
    profile: Profile,
    tx: Vec<Tx>,
    rx: Vec<Rx>,
    by_ssrc: HashMap<u32, usize>,
    by_src: HashMap<(usize, SocketAddr), usize>,
}

fn context(suite: Suite, key: &[u8], window: usize) -> Result<Context, String> {
    let k = MasterKey::from_concatenated(suite, key)
        .map_err(|e| format!("bad key for {}: {e:?}", suite.name()))?;
    Context::new(Policy::new(suite, k).replay_window(window).max_streams(4))
        .map_err(|e| format!("SRTP context: {e:?}"))
}

/// The SSRC of a call's stream: distinct per call and direction.
pub fn ssrc_for(base: u32, call: u32, dir: u8) -> u32 {
    base.wrapping_add(call.wrapping_mul(2))
        .wrapping_add(dir as u32)
}

impl Player {
    /// A player for `calls` (index, setup), using `socks` (A side, B side).
    /// `total_calls` spreads the phases over all threads' calls.
    pub fn new(
        socks: [UdpSocket; 2],
        profile: Profile,
        calls: &[(usize, CallSetup)],
        total_calls: usize,
        ssrc_base: u32,
        packets: u64,
    ) -> Result<Player, String> {
        let streams = (2 * total_calls.max(1)) as u64;
        let period = profile.period_ns();
        let phase = |call: usize, dir: u8| (call as u64 * 2 + dir as u64) * period / streams;
        let mut p = Player {
            socks,
            profile,
            tx: Vec::with_capacity(calls.len() * 2),
            rx: Vec::with_capacity(calls.len() * 2),
            by_ssrc: HashMap::with_capacity(calls.len() * 2),
            by_src: HashMap::with_capacity(calls.len() * 2),
        };
        for (idx, c) in calls {
            let call = *idx as u32;
            let [a, b] = &c.legs;
            // dir 0: phone A -> relay leg A ... relay leg B -> phone B.
            // dir 1: phone B -> relay leg B ... relay leg A -> phone A.
            for (dir, from, to, from_side, to_side) in
                [(0u8, a, b, SIDE_A, SIDE_B), (1u8, b, a, SIDE_B, SIDE_A)]
            {
                let ssrc = ssrc_for(ssrc_base, call, dir);
                p.tx.push(Tx {
                    call,
                    dir,
                    ssrc,
                    side: from_side,
                    dest: from.relay,
                    phase_ns: phase(*idx, dir),
                    ctx: context(from.suite, &from.tx_key, 128)?,
                });
                let i = p.rx.len();
                p.rx.push(Rx {
                    call,
                    dir,
                    ssrc,
                    side: to_side,
                    phase_ns: phase(*idx, dir),
                    ctx: context(to.suite, &to.rx_key, 1024)?,
                    stream: StreamRx::new(packets),
                });
                p.by_ssrc.insert(ssrc, i);
                p.by_src.insert((to_side, to.relay), i);
            }
        }
        // Send in phase order.
        p.tx.sort_by_key(|t| t.phase_ns);
        Ok(p)
    }

    /// Runs the schedule; returns what was measured. `stop` (and SIGINT)
    /// ends the sending early; receiving then drains as usual.
    #[allow(clippy::needless_range_loop)] // `side` indexes sockets and batches together
    pub fn run(mut self, s: &Schedule, stop: &AtomicBool) -> PlayerResult {
        let period = self.profile.period_ns();
        let fds = [self.socks[0].as_raw_fd(), self.socks[1].as_raw_fd()];
        // With kernel arrival stamps, latency does not depend on when we
        // read: sleep in ticks instead of waking for every packet.
        let stamped = fds.iter().all(|&fd| sys::enable_rx_timestamps(fd));
        let mut sb = [SendBatch::new(s.batch), SendBatch::new(s.batch)];
        let mut rb = RecvBatch::new(s.batch);
        let mut c = Counters::default();
        let mut hist = new_histogram();
        let mut max_lag = 0u64;
        let mut last_send = s.start_ns;
        let mut rounds = if self.tx.is_empty() { 0 } else { s.packets };
        let (mut round, mut cur) = (0u64, 0usize);
        let send_end = s.start_ns + s.packets * period;
        let drain_ns = s.drain.as_nanos() as u64;
        let hard_deadline = send_end + drain_ns + 5_000_000_000;
        let mut drain_deadline = send_end + drain_ns;
        let mut iterations = 0u64;
        // Upper bound on loop turns: one per packet sent, plus one per
        // 50 µs of wall time, with room.
        let max_iterations =
            s.packets * self.tx.len() as u64 + (hard_deadline - s.start_ns) / 50_000 + 1_000_000;
        loop {
            iterations += 1;
            let now = s.now_ns();
            if round < rounds && (stop.load(Ordering::Relaxed) || sys::stop_requested()) {
                rounds = round;
                drain_deadline = now + drain_ns;
            }
            // Send what is due, at most 4 batches per turn, so a player
            // that fell behind still receives between bursts (its own
            // receive buffer must not overflow and pass for relay loss).
            let mut budget = 4 * s.batch;
            while round < rounds && budget > 0 {
                budget -= 1;
                let t = &mut self.tx[cur];
                let due = s.start_ns + round * period + t.phase_ns;
                if due > now {
                    break;
                }
                if sb[t.side].is_full() {
                    let (_, failed) = sb[t.side].flush(fds[t.side]);
                    c.sent -= failed as u64;
                    c.send_errors += failed as u64;
                }
                let lag = now - due;
                max_lag = max_lag.max(lag);
                if lag > 1_000_000 {
                    c.late_sends += 1;
                }
                let f = Fields {
                    call: t.call,
                    dir: t.dir,
                    seq: round,
                    sent_ns: s.wall(s.now_ns()),
                };
                let buf = sb[t.side].next_buf();
                let len = payload::write(buf, &self.profile, t.ssrc, &f);
                match t.ctx.protect_rtp(buf, len) {
                    Ok(n) => {
                        sb[t.side].push(n, &t.dest);
                        c.sent += 1;
                    }
                    Err(_) => c.send_errors += 1,
                }
                cur += 1;
                if cur == self.tx.len() {
                    cur = 0;
                    round += 1;
                }
            }
            for side in 0..2 {
                if !sb[side].is_empty() {
                    let (_, failed) = sb[side].flush(fds[side]);
                    c.sent -= failed as u64;
                    c.send_errors += failed as u64;
                    last_send = s.now_ns();
                }
            }
            // Receive what is waiting (bounded per turn).
            for side in 0..2 {
                for _ in 0..64 {
                    let n = rb.recv(fds[side]);
                    if n == 0 {
                        break;
                    }
                    let now = s.now_ns();
                    for i in 0..n {
                        self.on_packet(&mut rb, i, side, now, s, &mut c, &mut hist);
                    }
                    if n < s.batch {
                        break;
                    }
                }
            }
            let now = s.now_ns();
            if (round >= rounds && now >= drain_deadline)
                || now >= hard_deadline
                || iterations >= max_iterations
            {
                break;
            }
            // Wait for the next send or a packet.
            let next = if round < rounds {
                s.start_ns + round * period + self.tx[cur].phase_ns
            } else {
                drain_deadline
            };
            if stamped {
                let tick = s.tick.as_nanos() as u64;
                let wait = next.saturating_sub(now).clamp(tick, 5_000_000.max(tick));
                std::thread::sleep(Duration::from_nanos(wait));
            } else if next > now {
                let wait = Duration::from_nanos((next - now).min(5_000_000));
                sys::poll_readable(&fds, wait);
            }
        }
        let jitter_ns = self
            .rx
            .iter()
            .filter(|r| r.stream.jitter_ns > 0.0)
            .map(|r| r.stream.jitter_ns)
            .collect();
        PlayerResult {
            counters: c,
            latency: hist,
            jitter_ns,
            max_send_lag_ns: max_lag,
            last_send_ns: last_send,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_packet(
        &mut self,
        rb: &mut RecvBatch,
        i: usize,
        side: usize,
        now: u64,
        s: &Schedule,
        c: &mut Counters,
        hist: &mut Histogram<u64>,
    ) {
        let (pkt, src, trunc, stamp) = rb.get(i);
        let arrival = stamp.unwrap_or_else(|| s.wall(now));
        if trunc || pkt.len() < payload::RTP_HEADER {
            c.malformed += 1;
            return;
        }
        let ssrc = payload::ssrc_of(pkt).unwrap_or(0);
        let idx = match self.by_ssrc.get(&ssrc) {
            Some(&i) => i,
            None => match src.and_then(|a| self.by_src.get(&(side, a))) {
                Some(&i) => i,
                None => {
                    c.unknown += 1;
                    return;
                }
            },
        };
        let r = &mut self.rx[idx];
        if r.side != side {
            c.misrouted += 1;
            return;
        }
        let len = match r.ctx.unprotect_rtp(pkt) {
            Ok(n) => n,
            Err(Error::AuthFailed) => {
                c.auth_failures += 1;
                return;
            }
            Err(Error::Replayed) => {
                c.duplicates += 1;
                return;
            }
            Err(Error::TooOld) => {
                c.too_old += 1;
                return;
            }
            Err(_) => {
                c.malformed += 1;
                return;
            }
        };
        let Some(f) = payload::check(&pkt[..len], &self.profile, r.ssrc) else {
            c.corrupt += 1;
            return;
        };
        if f.call != r.call || f.dir != r.dir {
            c.misrouted += 1;
            return;
        }
        let nominal = s.wall(s.start_ns + f.seq * self.profile.period_ns() + r.phase_ns);
        match r.stream.record(f.seq, arrival, nominal) {
            Seen::New { reordered } => {
                c.delivered += 1;
                if reordered {
                    c.reordered += 1;
                }
                hist.saturating_record(arrival.saturating_sub(f.sent_ns).max(1));
            }
            Seen::Duplicate => c.duplicates += 1,
            Seen::OutOfRange => c.corrupt += 1,
        }
    }
}
