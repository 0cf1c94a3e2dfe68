//! One measured run (set up calls, play them, measure, tear down) and the
//! step search over call counts.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use socket2::{Domain, Protocol, Socket, Type};

use crate::cpu;
use crate::payload::Profile;
use crate::player::{Pacing, Player, PlayerResult, Schedule};
use crate::report::{Cpu, Report, StepReport};
use crate::series::{Live, Timeline, WallSample};
use crate::stats::{new_histogram, CallOutcome, Counters, Latency, Spread};
use crate::target::{CallSetup, Target};
use rampart_sys as sys;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Name for tables.
    pub label: String,
    /// `kind=addr` of the target, for reports.
    pub target: String,
    /// Calls.
    pub calls: usize,
    /// Sending time.
    pub duration: Duration,
    /// Media profiles: call `i` plays `profiles[i % len]`.
    pub profiles: Vec<Profile>,
    /// Player threads (0: automatic, see [`auto_threads`]).
    pub threads: usize,
    /// Target process for CPU accounting.
    pub pid: Option<u32>,
    /// Receive time after the last send.
    pub drain: Duration,
    /// Address the phones bind to (and announce).
    pub local_ip: IpAddr,
    /// Packets per batched syscall.
    pub batch: usize,
    /// Allow non-loopback relay media addresses.
    pub allow_remote: bool,
    /// Shortest sleep of a player between turns (send slot length, burst
    /// pacing).
    pub tick: Duration,
    /// The traffic shape (default: even, as independent phones send).
    pub pacing: Pacing,
    /// Calls set up per second (0: as fast as the target answers).
    pub setup_rate: f64,
    /// Interval between each stream's RTCP sender reports (zero: none).
    pub rtcp_interval: Duration,
    /// Snapshot period in seconds (0: no snapshots).
    pub snapshot_every: u64,
    /// Draw a live progress line on stderr (when it is a terminal).
    pub progress: bool,
}

impl RunConfig {
    /// Defaults for `calls` calls of `duration`, named `label`.
    pub fn new(label: impl Into<String>, calls: usize, duration: Duration) -> RunConfig {
        RunConfig {
            target: String::new(),
            label: label.into(),
            calls,
            duration,
            profiles: vec![crate::payload::G711],
            threads: 1,
            pid: None,
            drain: Duration::from_millis(500),
            local_ip: IpAddr::from([127, 0, 0, 1]),
            batch: 64,
            allow_remote: false,
            tick: Duration::from_micros(200),
            pacing: Pacing::Even,
            setup_rate: 0.0,
            rtcp_interval: Duration::from_secs(5),
            snapshot_every: 0,
            progress: false,
        }
    }
}

/// Largest number of calls one run sets up.
pub const MAX_CALLS: usize = 100_000;
/// Longest sending time of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Calls one player thread is given when threads are chosen automatically.
pub const CALLS_PER_THREAD: usize = 500;

/// Threads for `calls` calls: one per [`CALLS_PER_THREAD`] calls, at most
/// one per core.
pub fn auto_threads(calls: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    calls.div_ceil(CALLS_PER_THREAD).clamp(1, cores.max(1))
}

fn phone_socket(ip: IpAddr) -> Result<UdpSocket, String> {
    let s = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(|e| format!("socket: {e}"))?;
    // Big buffers: bursts of a thousand calls' packets must not overflow.
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.bind(&SocketAddr::new(ip, 0).into())
        .map_err(|e| format!("bind {ip}: {e}"))?;
    Ok(s.into())
}

/// Deletes calls; returns how many deletes failed.
fn teardown(target: &mut dyn Target, calls: &[(usize, CallSetup)]) -> usize {
    calls
        .iter()
        .filter(|(_, c)| match target.delete(&c.id) {
            Ok(()) => false,
            Err(e) => {
                eprintln!("loadgen: delete {}: {e}", c.id);
                true
            }
        })
        .count()
}

fn bar(progress: bool, len: u64, template: &str) -> ProgressBar {
    let target = if progress {
        ProgressDrawTarget::stderr_with_hz(4)
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(st) = ProgressStyle::with_template(template) {
        pb.set_style(st.progress_chars("=> "));
    }
    pb
}

/// Prints above the progress bar, or to stderr when it is hidden.
fn say(pb: &ProgressBar, line: &str) {
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

/// Latency CDF points (µs, cumulative fraction) from a histogram of ns.
pub fn cdf_points(h: &Histogram<u64>) -> Vec<[f64; 2]> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut qs: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
    qs.extend([0.995, 0.999, 0.9995, 0.9999, 0.99999]);
    qs.sort_by(f64::total_cmp);
    let mut out: Vec<[f64; 2]> = qs
        .into_iter()
        .map(|q| [h.value_at_quantile(q) as f64 / 1000.0, q])
        .collect();
    out.push([h.max() as f64 / 1000.0, 1.0]);
    out
}

/// Runs one measurement. Calls are deleted at the end, and on error or stop.
pub fn run(cfg: &RunConfig, target: &mut dyn Target) -> Result<Report, String> {
    check(cfg)?;
    let threads = if cfg.threads == 0 {
        auto_threads(cfg.calls)
    } else {
        cfg.threads
    }
    .clamp(1, 64)
    .min(cfg.calls);
    let (socks, addrs) = phone_sockets(cfg.local_ip, threads)?;

    // Set up the calls (at most `setup_rate` per second).
    let t0 = Instant::now();
    let calls = set_up_calls(cfg, target, &addrs)?;
    let setup_ms = t0.elapsed().as_secs_f64() * 1000.0;

    // Players.
    let sched = schedule(cfg);
    let ssrc_base = (crate::target::new_run_id() as u32) & 0xfff0_0000;
    let mut players = Vec::with_capacity(threads);
    for (t, pair) in socks.into_iter().enumerate() {
        let mine: Vec<(usize, CallSetup)> = calls
            .iter()
            .filter(|(i, _)| i % threads == t)
            .cloned()
            .collect();
        match Player::new(pair, &cfg.profiles, &mine, cfg.calls, ssrc_base, &sched) {
            Ok(p) => players.push(p),
            Err(e) => {
                teardown(target, &calls);
                return Err(e);
            }
        }
    }
    let expected: u64 = players.iter().map(|p| p.expected()).sum();
    let secs = cfg.duration.as_secs_f64().ceil() as u64;
    let drain_secs = cfg.drain.as_secs_f64().ceil() as u64;
    let timeline = Timeline::new(secs + drain_secs + 10, cfg.snapshot_every);
    let pb = bar(
        cfg.progress,
        secs,
        "[{elapsed_precise}] [{bar:30}] {pos}/{len} s  {msg}",
    );
    let (results, cpu0) = play(cfg, players, &sched, &timeline, &pb);
    let cpu1 = CpuMark::now(cfg.pid);
    pb.finish_and_clear();

    let delete_errors = teardown(target, &calls);
    if results.len() != threads {
        return Err("a player thread panicked".into());
    }
    let (series, snapshots, fresh) = timeline.finish(secs);
    for sn in &fresh {
        say(&pb, &sn.line());
    }
    let leg_name = |l: &crate::target::LegSetup| l.suite.map_or("RTP", |s| s.name()).to_string();
    let suites = calls
        .first()
        .map(|(_, c)| [leg_name(&c.legs[0]), leg_name(&c.legs[1])])
        .unwrap_or_default();
    Ok(report(
        cfg,
        Measured {
            threads,
            suites,
            setup_ms,
            delete_errors,
            expected,
            start_ns: sched.start_ns,
            merged: Merged::of(&results),
            cpu0,
            cpu1,
            series,
            snapshots,
        },
    ))
}

/// The run parameters [`run`] refuses before it sets anything up.
fn check(cfg: &RunConfig) -> Result<(), String> {
    if cfg.calls == 0 || cfg.calls > MAX_CALLS {
        return Err(format!("calls must be 1..={MAX_CALLS}"));
    }
    if cfg.duration.is_zero() || cfg.duration > MAX_DURATION {
        return Err(format!(
            "duration must be > 0 and <= {} s",
            MAX_DURATION.as_secs()
        ));
    }
    if cfg.profiles.is_empty() {
        return Err("no profile".into());
    }
    if !cfg.allow_remote && !cfg.local_ip.is_loopback() {
        return Err(format!(
            "local address {} is not loopback (use --allow-remote)",
            cfg.local_ip
        ));
    }
    Ok(())
}

/// One pair of phone sockets per player thread, and their addresses.
type PhoneSockets = (Vec<[UdpSocket; 2]>, Vec<[SocketAddr; 2]>);

/// Binds the phone sockets of `threads` player threads on `ip`.
fn phone_sockets(ip: IpAddr, threads: usize) -> Result<PhoneSockets, String> {
    let mut socks = Vec::with_capacity(threads);
    for _ in 0..threads {
        socks.push([phone_socket(ip)?, phone_socket(ip)?]);
    }
    let addrs: Vec<[SocketAddr; 2]> = socks
        .iter()
        .map(|[a, b]| {
            Ok([
                a.local_addr().map_err(|e| e.to_string())?,
                b.local_addr().map_err(|e| e.to_string())?,
            ])
        })
        .collect::<Result<_, String>>()?;
    Ok((socks, addrs))
}

/// Sets up `cfg.calls` calls, call `i` on the phone sockets `addrs[i %
/// threads]`, at most `setup_rate` per second. On a stop, an error or a
/// non-loopback relay address (unless allowed) the calls made so far are
/// deleted.
fn set_up_calls(
    cfg: &RunConfig,
    target: &mut dyn Target,
    addrs: &[[SocketAddr; 2]],
) -> Result<Vec<(usize, CallSetup)>, String> {
    let t0 = Instant::now();
    let setup_bar = bar(
        cfg.progress,
        cfg.calls as u64,
        "setup {pos}/{len} calls [{elapsed_precise}] [{bar:30}] {msg}",
    );
    let mut calls: Vec<(usize, CallSetup)> = Vec::with_capacity(cfg.calls);
    let fail = |target: &mut dyn Target, calls: &[(usize, CallSetup)], e: String| {
        setup_bar.finish_and_clear();
        teardown(target, calls);
        Err(e)
    };
    for i in 0..cfg.calls {
        if cfg.setup_rate > 0.0 {
            let due = t0 + Duration::from_secs_f64(i as f64 / cfg.setup_rate);
            // Bounded: the wait is at most calls / rate, checked for stops
            // every 100 ms.
            while let Some(d) = due.checked_duration_since(Instant::now()) {
                if sys::stop_requested() {
                    break;
                }
                std::thread::sleep(d.min(Duration::from_millis(100)));
            }
        }
        if sys::stop_requested() {
            return fail(target, &calls, "stopped during call setup".into());
        }
        let [a, b] = addrs[i % addrs.len()];
        match target.create(i, a, b) {
            Ok(c) => {
                let remote = c
                    .legs
                    .iter()
                    .find(|l| !l.relay.ip().is_loopback() && !cfg.allow_remote)
                    .map(|l| l.relay);
                calls.push((i, c));
                if let Some(r) = remote {
                    return fail(
                        target,
                        &calls,
                        format!(
                            "the relay gave a non-loopback media address {r} (use --allow-remote)"
                        ),
                    );
                }
            }
            Err(e) => return fail(target, &calls, format!("call {i} setup: {e}")),
        }
        setup_bar.inc(1);
    }
    setup_bar.finish_and_clear();
    Ok(calls)
}

/// The players' schedule, based now: sending starts 100 ms from now.
fn schedule(cfg: &RunConfig) -> Schedule {
    let base = Instant::now();
    let base_wall_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Schedule {
        base,
        base_wall_ns,
        tick: cfg.tick,
        start_ns: 100_000_000,
        duration_ns: cfg.duration.as_nanos() as u64,
        rtcp_interval_ns: cfg.rtcp_interval.as_nanos() as u64,
        drain: cfg.drain,
        batch: cfg.batch.clamp(1, 1024),
        pacing: cfg.pacing,
    }
}

/// CPU time used so far by the target (if its pid is known) and by
/// loadgen, and when it was read.
#[derive(Clone, Copy)]
struct CpuMark {
    target_us: Option<u64>,
    self_us: u64,
    at: Instant,
}

impl CpuMark {
    fn now(pid: Option<u32>) -> CpuMark {
        CpuMark {
            target_us: pid.and_then(|p| cpu::process_cpu_us(Some(p)).ok()),
            self_us: cpu::process_cpu_us(None).unwrap_or(0),
            at: Instant::now(),
        }
    }
}

/// Runs the players, one thread each, while this thread samples every
/// second of the schedule ([`sample_seconds`]). Returns the players'
/// results (fewer than players if one panicked) and the CPU at the start of
/// the measured window.
fn play(
    cfg: &RunConfig,
    players: Vec<Player>,
    sched: &Schedule,
    timeline: &Timeline,
    pb: &ProgressBar,
) -> (Vec<PlayerResult>, CpuMark) {
    let live = Live::default();
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let handles: Vec<_> = players
            .into_iter()
            .map(|p| {
                let (live, stop) = (&live, &stop);
                sc.spawn(move || p.run(sched, stop, live, timeline))
            })
            .collect();
        // Sample CPU right at the start of the window.
        let start = sched.base + Duration::from_nanos(sched.start_ns);
        if let Some(d) = start.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let cpu0 = CpuMark::now(cfg.pid);
        let all_done = || handles.iter().all(|h| h.is_finished());
        sample_seconds(cfg, start, cpu0, &live, timeline, pb, all_done);
        let results = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        (results, cpu0)
    })
}

/// The sampler: every second of the schedule, the packets that arrived
/// and the CPU used; the progress line every 250 ms. Bounded: by the
/// second count and the players' hard deadline (`all_done`).
fn sample_seconds(
    cfg: &RunConfig,
    start: Instant,
    cpu0: CpuMark,
    live: &Live,
    timeline: &Timeline,
    pb: &ProgressBar,
    all_done: impl Fn() -> bool,
) {
    let secs = cfg.duration.as_secs_f64().ceil() as u64;
    let drain_secs = cfg.drain.as_secs_f64().ceil() as u64;
    let (mut prev, mut prev_d) = (cpu0, 0u64);
    let mut sec = 0u64;
    let last_sec = timeline.max_secs;
    let (mut pps_shown, mut last_upd) = (0.0, (Instant::now(), 0u64));
    while sec < last_sec {
        let all_done = all_done();
        let boundary = start + Duration::from_secs(sec + 1);
        let now = Instant::now();
        if now >= boundary || all_done {
            let cpu1 = CpuMark::now(cfg.pid);
            let (_, d1, _, _) = live.get();
            timeline.wall(
                sec,
                WallSample {
                    delivered: d1 - prev_d,
                    target_cpu_us: match (prev.target_us, cpu1.target_us) {
                        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                        _ => None,
                    },
                    loadgen_cpu_us: cpu1.self_us.saturating_sub(prev.self_us),
                },
            );
            (prev, prev_d) = (cpu1, d1);
            for sn in timeline.finalize((sec + 1).saturating_sub(1 + drain_secs)) {
                say(pb, &sn.line());
            }
            sec += 1;
            if all_done {
                break;
            }
            continue;
        }
        let (sent, delivered, auth, rtcp) = live.get();
        let dt = last_upd.0.elapsed().as_secs_f64();
        if dt >= 0.9 {
            pps_shown = (delivered - last_upd.1) as f64 / dt;
            last_upd = (Instant::now(), delivered);
        }
        let loss = if sent > 0 {
            sent.saturating_sub(delivered) as f64 * 100.0 / sent as f64
        } else {
            0.0
        };
        let p99 = timeline
            .last()
            .map_or("-".into(), |p| format!("{:.0} µs", p.p99_us));
        pb.set_position(sec.min(secs));
        pb.set_message(format!(
            "calls {}  {:.0} pps  loss {:.3} %  p99 {}  auth-fail {}  rtcp {}",
            cfg.calls, pps_shown, loss, p99, auth, rtcp
        ));
        std::thread::sleep(
            boundary
                .saturating_duration_since(now)
                .min(Duration::from_millis(250)),
        );
    }
}

/// The players' results added up.
struct Merged {
    counters: Counters,
    calls: Vec<CallOutcome>,
    hist: Histogram<u64>,
    jitters: Vec<f64>,
    max_lag: u64,
    last_send: u64,
}

impl Merged {
    fn of(results: &[PlayerResult]) -> Merged {
        let mut m = Merged {
            counters: Counters::default(),
            calls: Vec::new(),
            hist: new_histogram(),
            jitters: Vec::new(),
            max_lag: 0,
            last_send: 0,
        };
        for r in results {
            m.last_send = m.last_send.max(r.last_send_ns);
            m.counters.add(&r.counters);
            m.calls.extend_from_slice(&r.calls);
            let _ = m.hist.add(&r.latency);
            m.jitters.extend_from_slice(&r.jitter_ns);
            m.max_lag = m.max_lag.max(r.max_send_lag_ns);
        }
        m
    }
}

/// What [`run`] measured, for [`report`].
struct Measured {
    threads: usize,
    suites: [String; 2],
    setup_ms: f64,
    delete_errors: usize,
    expected: u64,
    start_ns: u64,
    merged: Merged,
    cpu0: CpuMark,
    cpu1: CpuMark,
    series: Vec<crate::series::Point>,
    snapshots: Vec<crate::series::Snapshot>,
}

/// The report of one run: rates over the sending window actually taken,
/// loss, latency, jitter and CPU per packet.
fn report(cfg: &RunConfig, m: Measured) -> Report {
    let Merged {
        counters,
        calls,
        hist,
        jitters,
        max_lag,
        last_send,
    } = m.merged;
    let window = m.cpu1.at.duration_since(m.cpu0.at).as_secs_f64().max(1e-9);
    let stopped_early = sys::stop_requested() || counters.sent < m.expected;
    // The sending window actually taken (longer than asked when the
    // players fell behind; shorter when stopped).
    let taken = last_send.saturating_sub(m.start_ns) as f64 / 1e9;
    let send_s = if stopped_early {
        taken
    } else {
        cfg.duration.as_secs_f64().max(taken)
    }
    .max(1e-9);
    let loadgen_behind = counters.late_sends * 100 > counters.sent.max(1) || max_lag > 100_000_000;
    let lost = counters.lost();
    let loss_pct = if counters.sent > 0 {
        lost as f64 * 100.0 / counters.sent as f64
    } else {
        0.0
    };
    let target_cpu = match (m.cpu0.target_us, m.cpu1.target_us) {
        (Some(a), Some(b)) => {
            let us = b.saturating_sub(a);
            Some(Cpu {
                pid: cfg.pid,
                cpu_us: us,
                cores: us as f64 / 1e6 / window,
                us_per_packet: us as f64 / counters.delivered.max(1) as f64,
            })
        }
        _ => None,
    };
    let self_us = m.cpu1.self_us.saturating_sub(m.cpu0.self_us);
    let loadgen_cpu = Cpu {
        pid: None,
        cpu_us: self_us,
        cores: self_us as f64 / 1e6 / window,
        us_per_packet: self_us as f64 / counters.sent.max(1) as f64,
    };
    let jitter_mean_us = if jitters.is_empty() {
        0.0
    } else {
        jitters.iter().sum::<f64>() / jitters.len() as f64 / 1000.0
    };
    let jitter_max_us = jitters.iter().cloned().fold(0.0, f64::max) / 1000.0;
    Report {
        label: cfg.label.clone(),
        target: cfg.target.clone(),
        calls: cfg.calls,
        profile: cfg.profiles[0],
        profiles: cfg.profiles.iter().map(|p| p.name.to_string()).collect(),
        suites: m.suites,
        threads: m.threads,
        pacing: cfg.pacing,
        duration_s: cfg.duration.as_secs_f64(),
        send_window_s: send_s,
        loadgen_behind,
        window_s: window,
        setup_ms: m.setup_ms,
        delete_errors: m.delete_errors,
        stopped_early,
        counters,
        lost,
        loss_pct,
        spread: Spread::of(&calls),
        offered_pps: counters.sent as f64 / send_s,
        delivered_pps: counters.delivered as f64 / send_s,
        latency: Latency::from_histogram(&hist),
        jitter_mean_us,
        jitter_max_us,
        max_send_lag_us: max_lag as f64 / 1000.0,
        target_cpu,
        loadgen_cpu,
        loadgen_pps_per_core: if loadgen_cpu.us_per_packet > 0.0 {
            1e6 / loadgen_cpu.us_per_packet
        } else {
            0.0
        },
        setup_rate: cfg.setup_rate,
        rtcp_interval_s: cfg.rtcp_interval.as_secs_f64(),
        latency_cdf: cdf_points(&hist),
        snapshot_every_s: cfg.snapshot_every,
        series: m.series,
        snapshots: m.snapshots,
    }
}

/// How the step search proceeds.
#[derive(Clone, Debug)]
pub struct StepConfig {
    /// First call count.
    pub start: usize,
    /// Call counts never exceed this.
    pub max: usize,
    /// Growth factor between passing steps (> 1).
    pub factor: f64,
    /// Most runs in all (growing and refining).
    pub max_steps: usize,
    /// Loss threshold, percent.
    pub threshold_pct: f64,
    /// Pause between runs, so the relay settles.
    pub pause: Duration,
}

impl Default for StepConfig {
    fn default() -> Self {
        StepConfig {
            start: 100,
            max: 20_000,
            factor: 2.0,
            max_steps: 8,
            threshold_pct: 0.1,
            pause: Duration::from_millis(500),
        }
    }
}

/// Increases calls until loss exceeds the threshold, then bisects between
/// the last passing and the first failing count (to within 10 %), within
/// `max_steps` runs. Each run is printed as it ends when `verbose`.
pub fn step_search(
    cfg: &RunConfig,
    step: &StepConfig,
    target: &mut dyn Target,
    verbose: bool,
) -> Result<StepReport, String> {
    let mut out = StepReport {
        threshold_pct: step.threshold_pct,
        steps: Vec::new(),
        best_calls: None,
        first_fail_calls: None,
    };
    let max = step.max.clamp(1, MAX_CALLS);
    let factor = if step.factor > 1.0 { step.factor } else { 2.0 };
    let mut n = step.start.clamp(1, max);
    for i in 0..step.max_steps.clamp(1, 50) {
        if sys::stop_requested() {
            break;
        }
        if i > 0 {
            std::thread::sleep(step.pause);
        }
        let mut c = cfg.clone();
        c.calls = n;
        let r = run(&c, target)?;
        let pass = r.loss_pct <= step.threshold_pct && !r.stopped_early;
        if verbose {
            eprintln!(
                "step {}: {} calls, {:.0} pps delivered, loss {:.4} % -> {}",
                i + 1,
                n,
                r.delivered_pps,
                r.loss_pct,
                if pass { "ok" } else { "over" }
            );
        }
        out.steps.push(r);
        if pass {
            out.best_calls = Some(out.best_calls.map_or(n, |b| b.max(n)));
        } else {
            out.first_fail_calls = Some(out.first_fail_calls.map_or(n, |f| f.min(n)));
        }
        n = match (out.best_calls, out.first_fail_calls) {
            (Some(lo), Some(hi)) => {
                if hi <= lo + (lo / 10).max(1) {
                    break;
                }
                (lo + hi) / 2
            }
            (Some(lo), None) => {
                if lo >= max {
                    break;
                }
                (((lo as f64) * factor).ceil() as usize).min(max)
            }
            (None, Some(hi)) => {
                if hi <= 1 {
                    break;
                }
                hi / 2
            }
            (None, None) => break,
        };
    }
    Ok(out)
}
