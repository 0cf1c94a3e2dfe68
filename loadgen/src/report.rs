//! The run's report: one JSON document and a summary table.

use serde::{Deserialize, Serialize};

use crate::payload::Profile;
use crate::player::Pacing;
use crate::series::{Point, Snapshot};
use crate::stats::{Counters, Latency, Spread};

/// CPU used by a process over the measured window.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// Process id (`None`: loadgen itself).
    pub pid: Option<u32>,
    /// CPU time used in the window, µs (utime + stime, 10 ms ticks typically).
    pub cpu_us: u64,
    /// cpu_us / window: cores kept busy.
    pub cores: f64,
    /// CPU-µs per packet (target: per relayed = delivered packet; loadgen:
    /// per packet sent, which includes its receive and check).
    pub us_per_packet: f64,
}

/// One measured run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// A name for tables (`--label`; default: the target's kind).
    pub label: String,
    /// `kind=addr` of the control interface.
    pub target: String,
    /// Calls asked for.
    pub calls: usize,
    /// Profile (the first, when calls play several).
    pub profile: Profile,
    /// Profiles the calls play, in turn (`g711`, `g729`, `opus`, `video`).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Suites of leg A and leg B (`RTP` for a plain RTP leg).
    pub suites: [String; 2],
    /// Player threads.
    pub threads: usize,
    /// The traffic shape: `even` (each packet at its own time, one
    /// datagram per send) or `burst` (each slot's packets in one
    /// `sendmmsg`). Reports from before the option say `burst`.
    #[serde(default = "burst")]
    pub pacing: Pacing,
    /// Sending time asked for, s.
    pub duration_s: f64,
    /// Sending time taken (first to last send), s; rates are over this.
    pub send_window_s: f64,
    /// More than 1 % of sends were over 1 ms late, or one over 100 ms: the
    /// load generator (or the machine) could not keep the schedule, so the
    /// run measures the machine as much as the relay.
    pub loadgen_behind: bool,
    /// Measured window (sending + drain), s.
    pub window_s: f64,
    /// Time to set up all calls, ms.
    pub setup_ms: f64,
    /// Calls whose delete failed.
    pub delete_errors: usize,
    /// Ended early by a signal or stop request.
    pub stopped_early: bool,
    /// Counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Packets sent but not delivered.
    pub lost: u64,
    /// lost / sent, percent.
    pub loss_pct: f64,
    /// How the loss and the longest gaps spread over the calls.
    #[serde(default)]
    pub spread: Spread,
    /// Packets per second offered to the relay (both directions).
    pub offered_pps: f64,
    /// Packets per second delivered through the relay.
    pub delivered_pps: f64,
    /// One-way latency through the relay (send to receive, same clock).
    pub latency: Latency,
    /// RFC 3550 interarrival jitter, mean over streams, µs.
    pub jitter_mean_us: f64,
    /// RFC 3550 interarrival jitter, largest stream, µs.
    pub jitter_max_us: f64,
    /// Largest lag of a send behind its schedule, µs (loadgen falling
    /// behind shows here and in `late_sends`).
    pub max_send_lag_us: f64,
    /// The target's CPU (when `--pid` was given).
    pub target_cpu: Option<Cpu>,
    /// Loadgen's own CPU.
    pub loadgen_cpu: Cpu,
    /// Packets per second one loadgen core sustains at this per-packet
    /// cost (sent, with their receive), 1e6 / loadgen µs per packet.
    pub loadgen_pps_per_core: f64,
    /// Calls set up per second asked for (0: as fast as possible).
    #[serde(default)]
    pub setup_rate: f64,
    /// Interval of each stream's RTCP sender reports, s (0: none).
    #[serde(default)]
    pub rtcp_interval_s: f64,
    /// Latency CDF: (µs, cumulative fraction) points.
    #[serde(default)]
    pub latency_cdf: Vec<[f64; 2]>,
    /// Snapshot period, s (0: none).
    #[serde(default)]
    pub snapshot_every_s: u64,
    /// Per-second time series over the sending time.
    #[serde(default)]
    pub series: Vec<Point>,
    /// Snapshots every `snapshot_every_s` (soak runs).
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
}

fn burst() -> Pacing {
    Pacing::Burst
}

impl Report {
    /// The summary table.
    pub fn table(&self) -> String {
        let mut rows = self.run_rows();
        rows.extend(self.packet_rows());
        rows.extend(self.cpu_rows());
        let c = &self.counters;
        if c.send_errors > 0 || self.delete_errors > 0 || self.stopped_early {
            rows.push((
                "problems",
                format!(
                    "send errors {}, delete errors {}{}",
                    c.send_errors,
                    self.delete_errors,
                    if self.stopped_early {
                        ", stopped early"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out: String = rows
            .iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect();
        if !self.snapshots.is_empty() {
            out.push_str(&format!("snapshots (every {} s):\n", self.snapshot_every_s));
            for sn in &self.snapshots {
                out.push_str("  ");
                out.push_str(&sn.line());
                out.push('\n');
            }
        }
        out
    }
    /// Rows about the run itself: target, calls, timing, pacing.
    fn run_rows(&self) -> Vec<(&'static str, String)> {
        let c = &self.counters;
        vec![
            ("target", format!("{} ({})", self.label, self.target)),
            (
                "calls",
                format!(
                    "{} ({}, leg A {} / leg B {}, {} thread{})",
                    self.calls,
                    if self.profiles.is_empty() {
                        self.profile.name.to_string()
                    } else {
                        self.profiles.join("+")
                    },
                    self.suites[0],
                    self.suites[1],
                    self.threads,
                    if self.threads == 1 { "" } else { "s" }
                ),
            ),
            (
                "duration",
                format!(
                    "{:.1} s sending ({:.1} s taken), {:.1} s measured, setup {:.0} ms",
                    self.duration_s, self.send_window_s, self.window_s, self.setup_ms
                ),
            ),
            (
                "pacing",
                format!(
                    "{} ({} send syscalls, {:.2} packets each)",
                    self.pacing.name(),
                    c.send_calls,
                    (c.sent + c.rtcp_sent) as f64 / c.send_calls.max(1) as f64
                ),
            ),
        ]
    }

    /// Rows about the packets: sent, delivered, lost, errors, latency,
    /// jitter and RTCP.
    fn packet_rows(&self) -> Vec<(&'static str, String)> {
        let c = &self.counters;
        let mut rows = vec![
            ("sent", format!("{} ({:.0} pps)", c.sent, self.offered_pps)),
            (
                "delivered",
                format!("{} ({:.0} pps)", c.delivered, self.delivered_pps),
            ),
            ("lost", format!("{} ({:.4} %)", self.lost, self.loss_pct)),
            (
                "calls with loss",
                format!(
                    "{} of {} (most lost by one call {}, median {})",
                    self.spread.calls_with_loss,
                    self.spread.calls,
                    self.spread.call_lost_max,
                    self.spread.call_lost_p50
                ),
            ),
            (
                "longest gap ms",
                format!(
                    "per call: p50 {:.1}  p99 {:.1}  max {:.1}",
                    self.spread.gap_p50_ms, self.spread.gap_p99_ms, self.spread.gap_max_ms
                ),
            ),
            (
                "dup / reord / late",
                format!("{} / {} / {}", c.duplicates, c.reordered, c.too_old),
            ),
            (
                "auth fail / corrupt",
                format!("{} / {}", c.auth_failures, c.corrupt),
            ),
            (
                "misrouted / unknown",
                format!(
                    "{} / {} (malformed {})",
                    c.misrouted, c.unknown, c.malformed
                ),
            ),
            (
                "latency µs",
                format!(
                    "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
                    self.latency.p50_us,
                    self.latency.p90_us,
                    self.latency.p99_us,
                    self.latency.p999_us,
                    self.latency.max_us
                ),
            ),
            (
                "jitter µs",
                format!(
                    "mean {:.1}  max {:.1}",
                    self.jitter_mean_us, self.jitter_max_us
                ),
            ),
        ];
        rows.push((
            "RTCP reports",
            format!(
                "sent {}  verified {}  auth fail {}  bad {}",
                c.rtcp_sent, c.rtcp_delivered, c.rtcp_auth_failures, c.rtcp_bad
            ),
        ));
        rows
    }

    /// Rows about CPU: the target's, loadgen's, and whether loadgen kept up.
    fn cpu_rows(&self) -> Vec<(&'static str, String)> {
        let c = &self.counters;
        let mut rows = Vec::new();
        if let Some(t) = &self.target_cpu {
            rows.push((
                "target CPU",
                format!(
                    "{:.3} CPU-µs/packet ({:.2} cores, pid {})",
                    t.us_per_packet,
                    t.cores,
                    t.pid.unwrap_or(0)
                ),
            ));
        }
        rows.push((
            "loadgen CPU",
            format!(
                "{:.3} CPU-µs/packet ({:.2} cores, ~{:.0} pps per core; {} late sends, max lag {:.0} µs)",
                self.loadgen_cpu.us_per_packet,
                self.loadgen_cpu.cores,
                self.loadgen_pps_per_core,
                c.late_sends,
                self.max_send_lag_us
            ),
        ));
        if self.loadgen_behind {
            rows.push((
                "WARNING",
                "loadgen fell behind its schedule (CPU-starved machine?): rates and loss measure the machine too".into(),
            ));
        }
        rows
    }
}

/// A step search: runs at increasing call counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepReport {
    /// Loss threshold, percent.
    pub threshold_pct: f64,
    /// Each run, in order.
    pub steps: Vec<Report>,
    /// Highest call count whose loss was at or under the threshold.
    pub best_calls: Option<usize>,
    /// Lowest call count whose loss was over it.
    pub first_fail_calls: Option<usize>,
}

impl StepReport {
    /// One line per step and the verdict.
    pub fn table(&self) -> String {
        let mut s =
            String::from("calls   delivered pps   loss %    p99 µs   target CPU-µs/pkt  verdict\n");
        for r in &self.steps {
            s.push_str(&format!(
                "{:<7} {:>13.0} {:>8.4} {:>9.1} {:>18} {}\n",
                r.calls,
                r.delivered_pps,
                r.loss_pct,
                r.latency.p99_us,
                r.target_cpu
                    .map(|c| format!("{:.3}", c.us_per_packet))
                    .unwrap_or_else(|| "-".into()),
                if r.loss_pct <= self.threshold_pct && !r.stopped_early {
                    "ok"
                } else {
                    "over"
                }
            ));
        }
        s.push_str(&match self.best_calls {
            Some(n) => format!(
                "highest call count with loss <= {} %: {n}\n",
                self.threshold_pct
            ),
            None => format!("no call count had loss <= {} %\n", self.threshold_pct),
        });
        s
    }
}

/// One markdown table over several reports: target | pacing | calls |
/// delivered pps | loss % | CPU-µs/packet | p50 µs | p99 µs, then, for each
/// pacing and call count with both an `ng=` and a `rampart-http=` report, a
/// ratio row (ng CPU-µs/packet over Rampart's).
pub fn markdown_table(reports: &[Report]) -> String {
    let mut s = String::from(
        "| target | pacing | calls | delivered pps | loss % | CPU-µs/packet | p50 µs | p99 µs |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let cpu = |r: &Report| r.target_cpu.map(|c| c.us_per_packet);
    for r in reports {
        s.push_str(&format!(
            "| {}{} | {} | {} | {:.0} | {:.3} | {} | {:.1} | {:.1} |\n",
            r.label,
            if r.loadgen_behind { " ⚠" } else { "" },
            r.pacing.name(),
            r.calls,
            r.delivered_pps,
            r.loss_pct,
            cpu(r).map_or("-".into(), |c| format!("{c:.2}")),
            r.latency.p50_us,
            r.latency.p99_us
        ));
    }
    let mut keys: Vec<(Pacing, usize)> = reports.iter().map(|r| (r.pacing, r.calls)).collect();
    keys.sort_unstable_by_key(|&(p, n)| (p.name(), n));
    keys.dedup();
    for (pacing, n) in keys {
        let find = |p: &str| {
            reports
                .iter()
                .find(|r| r.calls == n && r.pacing == pacing && r.target.starts_with(p))
                .and_then(cpu)
        };
        if let (Some(ng), Some(rp)) = (find("ng="), find("rampart-http=")) {
            if rp > 0.0 {
                s.push_str(&format!(
                    "| **ratio** rtpengine / Rampart CPU-µs per packet | {} | {n} | | | **{:.2}×** | | |\n",
                    pacing.name(),
                    ng / rp
                ));
            }
        }
    }
    if reports.iter().any(|r| r.loadgen_behind) {
        s.push_str("\n⚠ loadgen fell behind its schedule in this run (CPU-starved machine): its numbers measure the machine as much as the relay.\n");
    }
    s
}
