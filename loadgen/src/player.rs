//! The phones. Each player thread owns two UDP sockets (the "A side" and
//! the "B side" of its calls: every leg A of its calls has the A socket as
//! its remote, every leg B the B socket) and all SRTP contexts of its calls.
//! It sends every stream's packets at that stream's phase within the
//! packet interval (streams spread evenly, no synchronized bursts), in
//! batches with `sendmmsg`, and receives with `recvmmsg`, unprotecting each
//! packet with the receiving phone's context and checking it.
//!
//! Sends are ordered by a heap of due times (each stream's next RTP packet
//! and next RTCP sender report), so profiles with irregular timing (video
//! frames, mixed profiles) stay paced; streams are phase-shifted evenly
//! within their packet (or frame) interval and the RTCP interval.
//!
//! Bounded: each stream sends exactly the packets its profile has due in
//! the sending time; the loop ends at the drain deadline, or at a hard
//! deadline, or on a stop request, or after a fixed number of turns.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::Error;

use crate::batch::{RecvBatch, SendBatch};
use crate::payload::{self, Fields, Profile};
use crate::series::{Live, SecAcc, Timeline};
use crate::stats::{new_histogram, CallOutcome, Counters, Seen, StreamRx};
use crate::target::CallSetup;
use rampart_sys as sys;

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
    rtcp_phase_ns: u64,
    profile: Profile,
    packets: u64,
    seq: u64,
    octets: u64,
    /// `None`: plain RTP.
    ctx: Option<Context>,
}

/// One receiving stream.
struct Rx {
    call: u32,
    dir: u8,
    ssrc: u32,
    side: usize,
    phase_ns: u64,
    profile: Profile,
    ctx: Option<Context>,
    stream: StreamRx,
}

/// How a player hands due packets to the kernel: the traffic shape the
/// relay sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// Each packet leaves at its own due time, one datagram per send
    /// syscall, as independent phones send: only packets due within
    /// [`EVEN_COALESCE_NS`] of each other share a syscall. The relay sees
    /// packets one by one and batches only if it does so itself.
    #[default]
    Even,
    /// The packets due in each send slot (`--tick-us`) leave together in
    /// one `sendmmsg`: the relay receives bursts and batches for free.
    /// Cheaper for the load generator, but no real phone population sends
    /// like this.
    Burst,
}

/// Even pacing: packets due within this many ns of the first in a group
/// share one `sendmmsg` (phones that happen to send at the same µs).
pub const EVEN_COALESCE_NS: u64 = 5_000;

impl Pacing {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Even => "even",
            Pacing::Burst => "burst",
        }
    }
}

impl std::str::FromStr for Pacing {
    type Err = String;
    fn from_str(s: &str) -> Result<Pacing, String> {
        match s {
            "even" => Ok(Pacing::Even),
            "burst" => Ok(Pacing::Burst),
            _ => Err(format!("pacing must be even or burst, not {s:?}")),
        }
    }
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
    /// Sending time, ns: each stream sends the packets its profile has
    /// due in `[start_ns, start_ns + duration_ns)`.
    pub duration_ns: u64,
    /// Interval between a stream's RTCP sender reports, ns (0: none).
    pub rtcp_interval_ns: u64,
    /// How long to keep receiving after the last send.
    pub drain: Duration,
    /// Packets per `sendmmsg`/`recvmmsg`.
    pub batch: usize,
    /// The traffic shape.
    pub pacing: Pacing,
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
    /// RTP packets the streams were to send in all.
    pub expected: u64,
    /// Each call's loss and longest gap.
    pub calls: Vec<CallOutcome>,
}

/// One player thread's calls and sockets, ready to run.
pub struct Player {
    socks: [UdpSocket; 2],
    tx: Vec<Tx>,
    rx: Vec<Rx>,
    by_ssrc: HashMap<u32, usize>,
    by_src: HashMap<(usize, SocketAddr), usize>,
}

fn context(suite: Option<Suite>, key: &[u8], window: usize) -> Result<Option<Context>, String> {
    let Some(suite) = suite else {
        return Ok(None);
    };
    let k = MasterKey::from_concatenated(suite, key)
        .map_err(|e| format!("bad key for {}: {e:?}", suite.name()))?;
    Context::new(Policy::new(suite, k).replay_window(window).max_streams(4))
        .map(Some)
        .map_err(|e| format!("SRTP context: {e:?}"))
}

/// The SSRC of a call's stream: distinct per call and direction.
pub fn ssrc_for(base: u32, call: u32, dir: u8) -> u32 {
    base.wrapping_add(call.wrapping_mul(2))
        .wrapping_add(dir as u32)
}

/// Sends one side's queued packets in one `sendmmsg`, counting the call
/// and any packet the kernel refused.
fn flush_side(sb: &mut SendBatch, fd: std::os::fd::RawFd, c: &mut Counters) {
    let (_, failed) = sb.flush(fd);
    c.sent -= failed as u64;
    c.send_errors += failed as u64;
    c.send_calls += 1;
}

/// Heap entry: (due ns, stream index, is RTCP).
type Due = Reverse<(u64, u32, bool)>;

impl Player {
    /// A player for `calls` (index, setup), using `socks` (A side, B side).
    /// Call `i` plays `profiles[i % len]`; `total_calls` spreads the phases
    /// over all threads' calls (within each profile's packet or frame
    /// interval, and within the RTCP interval).
    pub fn new(
        socks: [UdpSocket; 2],
        profiles: &[Profile],
        calls: &[(usize, CallSetup)],
        total_calls: usize,
        ssrc_base: u32,
        s: &Schedule,
    ) -> Result<Player, String> {
        if profiles.is_empty() {
            return Err("no profile".into());
        }
        let streams = (2 * total_calls.max(1)) as u64;
        let mut p = Player {
            socks,
            tx: Vec::with_capacity(calls.len() * 2),
            rx: Vec::with_capacity(calls.len() * 2),
            by_ssrc: HashMap::with_capacity(calls.len() * 2),
            by_src: HashMap::with_capacity(calls.len() * 2),
        };
        for (idx, c) in calls {
            let call = *idx as u32;
            let profile = profiles[*idx % profiles.len()];
            let packets = profile.packets_in(s.duration_ns);
            let [a, b] = &c.legs;
            let k = |dir: u8| *idx as u64 * 2 + dir as u64;
            // dir 0: phone A -> relay leg A ... relay leg B -> phone B.
            // dir 1: phone B -> relay leg B ... relay leg A -> phone A.
            for (dir, from, to, from_side, to_side) in
                [(0u8, a, b, SIDE_A, SIDE_B), (1u8, b, a, SIDE_B, SIDE_A)]
            {
                let ssrc = ssrc_for(ssrc_base, call, dir);
                let phase_ns = k(dir) * profile.period_ns() / streams;
                p.tx.push(Tx {
                    call,
                    dir,
                    ssrc,
                    side: from_side,
                    dest: from.relay,
                    phase_ns,
                    rtcp_phase_ns: k(dir) * s.rtcp_interval_ns / streams,
                    profile,
                    packets,
                    seq: 0,
                    octets: 0,
                    ctx: context(from.suite, &from.tx_key, 128)?,
                });
                let i = p.rx.len();
                p.rx.push(Rx {
                    call,
                    dir,
                    ssrc,
                    side: to_side,
                    phase_ns,
                    profile,
                    ctx: context(to.suite, &to.rx_key, 1024)?,
                    stream: StreamRx::new(packets),
                });
                p.by_ssrc.insert(ssrc, i);
                p.by_src.insert((to_side, to.relay), i);
            }
        }
        Ok(p)
    }

    /// RTP packets all streams of this player will send.
    pub fn expected(&self) -> u64 {
        self.tx.iter().map(|t| t.packets).sum()
    }

    /// Runs the schedule; returns what was measured. `stop` (and SIGINT)
    /// ends the sending early; receiving then drains as usual. Progress
    /// goes to `live` as it happens and to `timeline` every 250 ms.
    pub fn run(
        mut self,
        s: &Schedule,
        stop: &AtomicBool,
        live: &Live,
        timeline: &Timeline,
    ) -> PlayerResult {
        let expected = self.expected();
        let mut pb = Playback::new(&self, s);
        let send_end = s.start_ns + s.duration_ns;
        let drain_ns = s.drain.as_nanos() as u64;
        let hard_deadline = send_end + drain_ns + 5_000_000_000;
        let mut drain_deadline = send_end + drain_ns;
        let mut iterations = 0u64;
        let mut stopped = false;
        let mut next_merge = s.start_ns;
        // Upper bound on loop turns: one per packet sent, plus one per
        // 50 µs of wall time, with room.
        let max_iterations =
            expected + pb.heap.len() as u64 + (hard_deadline - s.start_ns) / 50_000 + 1_000_000;
        loop {
            iterations += 1;
            let now = s.now_ns();
            if !stopped && (stop.load(Ordering::Relaxed) || sys::stop_requested()) {
                stopped = true;
                pb.heap.clear();
                drain_deadline = now + drain_ns;
            }
            pb.send_due(&mut self.tx, now, s, send_end);
            pb.flush_all(s);
            self.receive(&mut pb, s);
            pb.report_live(live);
            let now = s.now_ns();
            if now >= next_merge {
                timeline.merge(&mut pb.secs);
                next_merge = now + 250_000_000;
            }
            if (pb.heap.is_empty() && now >= drain_deadline)
                || now >= hard_deadline
                || iterations >= max_iterations
            {
                break;
            }
            // Wait for the next send or a packet.
            let next = match pb.heap.peek() {
                Some(&Reverse((due, _, _))) => due,
                None => drain_deadline,
            };
            pb.wait(next, now, s);
        }
        timeline.merge(&mut pb.secs);
        let jitter_ns = self
            .rx
            .iter()
            .filter(|r| r.stream.jitter_ns > 0.0)
            .map(|r| r.stream.jitter_ns)
            .collect();
        PlayerResult {
            counters: pb.c,
            latency: pb.hist,
            jitter_ns,
            max_send_lag_ns: pb.max_lag,
            last_send_ns: pb.last_send,
            expected,
            calls: self.call_outcomes(),
        }
    }

    /// Each call's packets sent and delivered (both directions) and its
    /// longest gap between deliveries.
    fn call_outcomes(&self) -> Vec<CallOutcome> {
        let mut calls: BTreeMap<u32, CallOutcome> = BTreeMap::new();
        for t in &self.tx {
            calls.entry(t.call).or_default().sent += t.seq;
        }
        for r in &self.rx {
            let c = calls.entry(r.call).or_default();
            c.delivered += r.stream.delivered();
            c.max_gap_ns = c.max_gap_ns.max(r.stream.max_gap_ns());
        }
        calls.into_values().collect()
    }

    /// Receives what is waiting on both sockets (bounded per turn).
    #[allow(clippy::needless_range_loop)] // `side` indexes sockets and batches together
    fn receive(&mut self, pb: &mut Playback, s: &Schedule) {
        for side in 0..2 {
            for _ in 0..64 {
                let n = pb.rb.recv(pb.fds[side]);
                if n == 0 {
                    break;
                }
                let now = s.now_ns();
                for i in 0..n {
                    self.on_packet(
                        &mut pb.rb,
                        i,
                        side,
                        now,
                        s,
                        &mut pb.c,
                        &mut pb.hist,
                        &mut pb.secs,
                    );
                }
                if n < s.batch {
                    break;
                }
            }
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
        secs: &mut BTreeMap<u64, SecAcc>,
    ) {
        let (pkt, src, trunc, stamp) = rb.get(i);
        let arrival = stamp.unwrap_or_else(|| s.wall(now));
        if trunc || pkt.len() < 8 {
            c.malformed += 1;
            return;
        }
        if payload::is_rtcp(pkt) {
            self.on_rtcp(pkt, side, c);
            return;
        }
        if pkt.len() < payload::RTP_HEADER {
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
        let len = match &mut r.ctx {
            None => pkt.len(),
            Some(ctx) => match ctx.unprotect_rtp(pkt) {
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
            },
        };
        let Some(f) = payload::check(&pkt[..len], &r.profile, r.ssrc) else {
            c.corrupt += 1;
            return;
        };
        if f.call != r.call || f.dir != r.dir {
            c.misrouted += 1;
            return;
        }
        let offset = r.profile.slot(f.seq).offset_ns;
        let due = s.start_ns + r.phase_ns + offset;
        match r.stream.record(f.seq, arrival, s.wall(due)) {
            Seen::New { reordered } => {
                c.delivered += 1;
                if reordered {
                    c.reordered += 1;
                }
                let lat = arrival.saturating_sub(f.sent_ns).max(1);
                hist.saturating_record(lat);
                let acc = secs.entry(offset / 1_000_000_000).or_default();
                acc.delivered += 1;
                acc.hist.saturating_record((lat / 1000).max(1));
            }
            Seen::Duplicate => c.duplicates += 1,
            Seen::OutOfRange => c.corrupt += 1,
        }
    }

    /// A sender report (SRTCP on SRTP legs): authenticated, checked, and
    /// counted apart from RTP.
    fn on_rtcp(&mut self, pkt: &mut [u8], side: usize, c: &mut Counters) {
        let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let Some(&idx) = self.by_ssrc.get(&ssrc) else {
            c.rtcp_bad += 1;
            return;
        };
        let r = &mut self.rx[idx];
        if r.side != side {
            c.rtcp_bad += 1;
            return;
        }
        let len = match &mut r.ctx {
            None => pkt.len(),
            Some(ctx) => match ctx.unprotect_rtcp(pkt) {
                Ok(n) => n,
                Err(Error::AuthFailed) => {
                    c.rtcp_auth_failures += 1;
                    return;
                }
                Err(_) => {
                    c.rtcp_bad += 1;
                    return;
                }
            },
        };
        match payload::check_sr(&pkt[..len], r.ssrc) {
            Some(n) if (n as u64) <= r.stream.packets() => c.rtcp_delivered += 1,
            _ => c.rtcp_bad += 1,
        }
    }
}

/// The state of one [`Player::run`]: send and receive batches, the heap of
/// due sends, counters and measurements so far.
struct Playback {
    fds: [RawFd; 2],
    /// The kernel stamps arrivals on both sockets.
    stamped: bool,
    /// Even pacing.
    even: bool,
    sb: [SendBatch; 2],
    rb: RecvBatch,
    c: Counters,
    /// The counters last added to [`Live`].
    reported: Counters,
    secs: BTreeMap<u64, SecAcc>,
    hist: Histogram<u64>,
    max_lag: u64,
    last_send: u64,
    /// Every send, in due order: each stream's next RTP packet and next
    /// sender report.
    heap: BinaryHeap<Due>,
}

impl Playback {
    /// Sets up the sockets (arrival stamps, timer slack) and queues each
    /// stream's first RTP packet and first sender report.
    fn new(p: &Player, s: &Schedule) -> Playback {
        let fds = [p.socks[0].as_raw_fd(), p.socks[1].as_raw_fd()];
        // With kernel arrival stamps, latency does not depend on when we
        // read: sleep in ticks instead of waking for every packet.
        let stamped = fds.iter().all(|&fd| sys::enable_rx_timestamps(fd).is_ok());
        let even = s.pacing == Pacing::Even;
        if even {
            // Sleeps end at the due time, not up to 50 µs (the default
            // timer slack) later.
            let _ = sys::set_timer_slack(1);
        }
        let mut heap: BinaryHeap<Due> = BinaryHeap::with_capacity(p.tx.len() * 2);
        for (i, t) in p.tx.iter().enumerate() {
            if t.packets > 0 {
                heap.push(Reverse((
                    s.start_ns + t.phase_ns + t.profile.slot(0).offset_ns,
                    i as u32,
                    false,
                )));
            }
            if s.rtcp_interval_ns > 0 && t.rtcp_phase_ns < s.duration_ns {
                heap.push(Reverse((s.start_ns + t.rtcp_phase_ns, i as u32, true)));
            }
        }
        Playback {
            fds,
            stamped,
            even,
            sb: [SendBatch::new(s.batch), SendBatch::new(s.batch)],
            rb: RecvBatch::new(s.batch),
            c: Counters::default(),
            reported: Counters::default(),
            secs: BTreeMap::new(),
            hist: new_histogram(),
            max_lag: 0,
            last_send: s.start_ns,
            heap,
        }
    }

    /// Sends what is due, at most 4 batches per turn, so a player that
    /// fell behind still receives between bursts (its own receive buffer
    /// must not overflow and pass for relay loss).
    fn send_due(&mut self, tx: &mut [Tx], now: u64, s: &Schedule, send_end: u64) {
        let mut budget = 4 * s.batch;
        while budget > 0 {
            let Some(&Reverse((due, i, rtcp))) = self.heap.peek() else {
                break;
            };
            if due > now {
                break;
            }
            self.heap.pop();
            budget -= 1;
            let t = &mut tx[i as usize];
            if self.sb[t.side].is_full() {
                flush_side(&mut self.sb[t.side], self.fds[t.side], &mut self.c);
            }
            let lag = now - due;
            self.max_lag = self.max_lag.max(lag);
            if lag > 1_000_000 {
                self.c.late_sends += 1;
            }
            let wall = s.wall(s.now_ns());
            if rtcp {
                self.send_report(t, i, due, wall, s, send_end);
            } else {
                self.send_media(t, i, due, wall, s);
            }
            if self.even {
                self.even_flush(due, s);
            }
        }
    }

    /// Queues stream `t`'s sender report due at `due`, and its next one.
    fn send_report(&mut self, t: &mut Tx, i: u32, due: u64, wall: u64, s: &Schedule, end: u64) {
        let buf = self.sb[t.side].next_buf();
        let ts = t.profile.slot(t.seq.saturating_sub(1)).rtp_ts;
        let len = payload::write_sr(buf, t.ssrc, wall, ts, t.seq as u32, t.octets as u32);
        let r = match &mut t.ctx {
            Some(ctx) => ctx.protect_rtcp(buf, len),
            None => Ok(len),
        };
        // Failed sends of reports are rare; counted as RTP send errors
        // would mislead, so they are not counted.
        if let Ok(n) = r {
            self.sb[t.side].push(n, &t.dest);
            self.c.rtcp_sent += 1;
        }
        let next = due + s.rtcp_interval_ns;
        if next < end {
            self.heap.push(Reverse((next, i, true)));
        }
    }

    /// Queues stream `t`'s RTP packet due at `due`, and its next one.
    fn send_media(&mut self, t: &mut Tx, i: u32, due: u64, wall: u64, s: &Schedule) {
        let buf = self.sb[t.side].next_buf();
        let f = Fields {
            call: t.call,
            dir: t.dir,
            seq: t.seq,
            sent_ns: wall,
        };
        let len = payload::write(buf, &t.profile, t.ssrc, &f);
        let r = match &mut t.ctx {
            Some(ctx) => ctx.protect_rtp(buf, len),
            None => Ok(len),
        };
        match r {
            Ok(n) => {
                self.sb[t.side].push(n, &t.dest);
                self.c.sent += 1;
                // By the stream's own schedule (phase left out), so every
                // packet falls in [0, duration).
                self.secs
                    .entry((due - s.start_ns - t.phase_ns) / 1_000_000_000)
                    .or_default()
                    .sent += 1;
            }
            Err(_) => self.c.send_errors += 1,
        }
        t.octets += (len - payload::RTP_HEADER) as u64;
        t.seq += 1;
        if t.seq < t.packets {
            let next = s.start_ns + t.phase_ns + t.profile.slot(t.seq).offset_ns;
            self.heap.push(Reverse((next, i, false)));
        }
    }

    /// Sends what both sides have queued; notes when.
    fn flush_all(&mut self, s: &Schedule) {
        for side in 0..2 {
            if !self.sb[side].is_empty() {
                flush_side(&mut self.sb[side], self.fds[side], &mut self.c);
                self.last_send = s.now_ns();
            }
        }
    }

    /// Even pacing: sends what is queued unless the next due packet belongs
    /// to the same instant (due within [`EVEN_COALESCE_NS`] of `due`).
    fn even_flush(&mut self, due: u64, s: &Schedule) {
        let same_instant = self.heap.peek().is_some_and(|&Reverse((next, _, _))| {
            next <= due + EVEN_COALESCE_NS && next <= s.now_ns()
        });
        if !same_instant {
            self.flush_all(s);
        }
    }

    /// Adds what changed since the last call to `live`.
    fn report_live(&mut self, live: &Live) {
        let (c, r) = (&self.c, &self.reported);
        live.add(
            c.sent - r.sent,
            c.delivered - r.delivered,
            (c.auth_failures + c.rtcp_auth_failures) - (r.auth_failures + r.rtcp_auth_failures),
            c.rtcp_delivered - r.rtcp_delivered,
        );
        self.reported = self.c;
    }

    /// Sleeps until `next` (the next send or the drain deadline), or until
    /// a packet arrives when the kernel does not stamp arrivals.
    fn wait(&self, next: u64, now: u64, s: &Schedule) {
        if self.even {
            // Wake at the next due time (receive times come from kernel
            // stamps when there are any, so reading late does not blur
            // latency; without stamps, wait on the sockets).
            if next > now {
                let wait = Duration::from_nanos((next - now).min(5_000_000));
                if self.stamped {
                    std::thread::sleep(wait);
                } else {
                    sys::poll_readable(&self.fds, wait);
                }
            }
        } else if self.stamped {
            let tick = s.tick.as_nanos() as u64;
            let wait = next.saturating_sub(now).clamp(tick, 5_000_000.max(tick));
            std::thread::sleep(Duration::from_nanos(wait));
        } else if next > now {
            let wait = Duration::from_nanos((next - now).min(5_000_000));
            sys::poll_readable(&self.fds, wait);
        }
    }
}
