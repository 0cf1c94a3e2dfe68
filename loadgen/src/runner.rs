//! One measured run (set up calls, play them, measure, tear down) and the
//! step search over call counts.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::cpu;
use crate::payload::Profile;
use crate::player::{Player, PlayerResult, Schedule};
use crate::report::{Cpu, Report, StepReport};
use crate::stats::{new_histogram, Counters, Latency};
use crate::sys;
use crate::target::{CallSetup, Target};

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
    /// Media profile.
    pub profile: Profile,
    /// Player threads.
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
    /// Shortest sleep of a player between turns (send slot length).
    pub tick: Duration,
}

impl RunConfig {
    /// Defaults for `calls` calls of `duration`, named `label`.
    pub fn new(label: impl Into<String>, calls: usize, duration: Duration) -> RunConfig {
        RunConfig {
            target: String::new(),
            label: label.into(),
            calls,
            duration,
            profile: crate::payload::G711,
            threads: 1,
            pid: None,
            drain: Duration::from_millis(500),
            local_ip: IpAddr::from([127, 0, 0, 1]),
            batch: 64,
            allow_remote: false,
            tick: Duration::from_micros(200),
        }
    }
}

/// Largest number of calls one run sets up.
pub const MAX_CALLS: usize = 100_000;
/// Longest sending time of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

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

/// Runs one measurement. Calls are deleted at the end, and on error or stop.
pub fn run(cfg: &RunConfig, target: &mut dyn Target) -> Result<Report, String> {
    if cfg.calls == 0 || cfg.calls > MAX_CALLS {
        return Err(format!("calls must be 1..={MAX_CALLS}"));
    }
    if cfg.duration.is_zero() || cfg.duration > MAX_DURATION {
        return Err(format!(
            "duration must be > 0 and <= {} s",
            MAX_DURATION.as_secs()
        ));
    }
    if !cfg.allow_remote && !cfg.local_ip.is_loopback() {
        return Err(format!(
            "local address {} is not loopback (use --allow-remote)",
            cfg.local_ip
        ));
    }
    let threads = cfg.threads.clamp(1, 64).min(cfg.calls);
    let mut socks = Vec::with_capacity(threads);
    for _ in 0..threads {
        socks.push([phone_socket(cfg.local_ip)?, phone_socket(cfg.local_ip)?]);
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

    // Set up the calls.
    let t0 = Instant::now();
    let mut calls: Vec<(usize, CallSetup)> = Vec::with_capacity(cfg.calls);
    for i in 0..cfg.calls {
        if sys::stop_requested() {
            teardown(target, &calls);
            return Err("stopped during call setup".into());
        }
        let [a, b] = addrs[i % threads];
        match target.create(i, a, b) {
            Ok(c) => {
                let remote = c
                    .legs
                    .iter()
                    .find(|l| !l.relay.ip().is_loopback() && !cfg.allow_remote)
                    .map(|l| l.relay);
                calls.push((i, c));
                if let Some(r) = remote {
                    teardown(target, &calls);
                    return Err(format!(
                        "the relay gave a non-loopback media address {r} (use --allow-remote)"
                    ));
                }
            }
            Err(e) => {
                teardown(target, &calls);
                return Err(format!("call {i} setup: {e}"));
            }
        }
    }
    let setup_ms = t0.elapsed().as_secs_f64() * 1000.0;

    // Players.
    let packets = (cfg.duration.as_nanos() as u64).div_ceil(cfg.profile.period_ns());
    let ssrc_base = (crate::target::new_run_id() as u32) & 0xfff0_0000;
    let mut players = Vec::with_capacity(threads);
    for (t, pair) in socks.into_iter().enumerate() {
        let mine: Vec<(usize, CallSetup)> = calls
            .iter()
            .filter(|(i, _)| i % threads == t)
            .cloned()
            .collect();
        match Player::new(pair, cfg.profile, &mine, cfg.calls, ssrc_base, packets) {
            Ok(p) => players.push(p),
            Err(e) => {
                teardown(target, &calls);
                return Err(e);
            }
        }
    }
    let base = Instant::now();
    let base_wall_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let sched = Schedule {
        base,
        base_wall_ns,
        tick: cfg.tick,
        start_ns: 100_000_000,
        packets,
        drain: cfg.drain,
        batch: cfg.batch.clamp(1, 1024),
    };
    let stop = AtomicBool::new(false);
    let mut cpu0 = (None, 0u64, base);
    let results: Vec<PlayerResult> = std::thread::scope(|sc| {
        let handles: Vec<_> = players
            .into_iter()
            .map(|p| {
                let (sched, stop) = (&sched, &stop);
                sc.spawn(move || p.run(sched, stop))
            })
            .collect();
        // Sample CPU right at the start of the window.
        let start = base + Duration::from_nanos(sched.start_ns);
        if let Some(d) = start.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        cpu0 = (
            cfg.pid.and_then(|p| cpu::process_cpu_us(Some(p)).ok()),
            cpu::process_cpu_us(None).unwrap_or(0),
            Instant::now(),
        );
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let t_end = Instant::now();
    let target_cpu1 = cfg.pid.and_then(|p| cpu::process_cpu_us(Some(p)).ok());
    let self_cpu1 = cpu::process_cpu_us(None).unwrap_or(0);
    let window = t_end.duration_since(cpu0.2).as_secs_f64().max(1e-9);

    let delete_errors = teardown(target, &calls);
    if results.len() != threads {
        return Err("a player thread panicked".into());
    }

    // Merge.
    let mut counters = Counters::default();
    let mut hist = new_histogram();
    let mut jitters = Vec::new();
    let mut max_lag = 0u64;
    let mut last_send = 0u64;
    for r in &results {
        last_send = last_send.max(r.last_send_ns);
        counters.add(&r.counters);
        let _ = hist.add(&r.latency);
        jitters.extend_from_slice(&r.jitter_ns);
        max_lag = max_lag.max(r.max_send_lag_ns);
    }
    let stopped_early = sys::stop_requested() || counters.sent < packets * 2 * cfg.calls as u64;
    // The sending window actually taken (longer than asked when the
    // players fell behind).
    let send_s = cfg
        .duration
        .as_secs_f64()
        .max(last_send.saturating_sub(sched.start_ns) as f64 / 1e9);
    let loadgen_behind = counters.late_sends * 100 > counters.sent.max(1) || max_lag > 100_000_000;
    let lost = counters.lost();
    let loss_pct = if counters.sent > 0 {
        lost as f64 * 100.0 / counters.sent as f64
    } else {
        0.0
    };
    let target_cpu = match (cpu0.0, target_cpu1) {
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
    let self_us = self_cpu1.saturating_sub(cpu0.1);
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
    let suites = calls
        .first()
        .map(|(_, c)| {
            [
                c.legs[0].suite.name().to_string(),
                c.legs[1].suite.name().to_string(),
            ]
        })
        .unwrap_or_default();
    Ok(Report {
        label: cfg.label.clone(),
        target: cfg.target.clone(),
        calls: cfg.calls,
        profile: cfg.profile,
        suites,
        threads,
        duration_s: cfg.duration.as_secs_f64(),
        send_window_s: send_s,
        loadgen_behind,
        window_s: window,
        setup_ms,
        delete_errors,
        stopped_early,
        counters,
        lost,
        loss_pct,
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
    })
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
