//! Measurements over time: live counters for the progress line, a
//! per-second time series and periodic snapshots (soak runs).
//!
//! Players count each packet in the second it was *due* (its send second),
//! sent and delivered alike, so a second's loss is exact once its packets
//! had time to arrive; its latency histogram is kept only until then
//! ([`Timeline::finalize`]), so memory stays bounded however long the run.
//! The sampler (the runner's main thread) adds, per wall-clock second, the
//! packets that arrived and the target's and loadgen's CPU time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Counters the players add to as they go (for the progress line).
#[derive(Default, Debug)]
pub struct Live {
    /// RTP packets sent.
    pub sent: AtomicU64,
    /// RTP packets delivered.
    pub delivered: AtomicU64,
    /// SRTP + SRTCP authentication failures.
    pub auth_failures: AtomicU64,
    /// RTCP reports delivered.
    pub rtcp_delivered: AtomicU64,
}

impl Live {
    /// Adds deltas.
    pub fn add(&self, sent: u64, delivered: u64, auth: u64, rtcp: u64) {
        for (a, d) in [
            (&self.sent, sent),
            (&self.delivered, delivered),
            (&self.auth_failures, auth),
            (&self.rtcp_delivered, rtcp),
        ] {
            if d > 0 {
                a.fetch_add(d, Ordering::Relaxed);
            }
        }
    }

    /// (sent, delivered, auth failures, rtcp delivered).
    pub fn get(&self) -> (u64, u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
            self.auth_failures.load(Ordering::Relaxed),
            self.rtcp_delivered.load(Ordering::Relaxed),
        )
    }
}

/// Latency histogram of one second, µs, 1 µs .. 60 s, 2 digits.
pub fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("static histogram bounds")
}

/// One second's accumulator (by send second).
pub struct SecAcc {
    /// Packets due in this second and sent.
    pub sent: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Their latency, µs.
    pub hist: Histogram<u64>,
}

impl SecAcc {
    /// Empty.
    pub fn new() -> SecAcc {
        SecAcc {
            sent: 0,
            delivered: 0,
            hist: second_histogram(),
        }
    }
}

impl Default for SecAcc {
    fn default() -> Self {
        SecAcc::new()
    }
}

/// One point of the time series.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Seconds since the first send (this point covers `[t, t+1)`).
    pub t: u64,
    /// RTP packets due in this second and sent.
    pub sent: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Their loss, percent.
    pub loss_pct: f64,
    /// Their one-way latency, 99th percentile, µs.
    pub p99_us: f64,
    /// Packets that arrived in this wall-clock second, per second.
    pub delivered_pps: f64,
    /// Target CPU-µs per packet that arrived in this second.
    pub target_cpu_us_per_packet: Option<f64>,
    /// Target CPU time in this second, µs.
    pub target_cpu_us: Option<u64>,
    /// Loadgen CPU time in this second, µs.
    pub loadgen_cpu_us: u64,
}

/// Aggregate over `snapshot_every` seconds (soak runs).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Start, seconds since the first send.
    pub t_start: u64,
    /// End (exclusive).
    pub t_end: u64,
    /// Packets due in the window and sent.
    pub sent: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Loss, percent.
    pub loss_pct: f64,
    /// Latency percentiles, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Largest, µs.
    pub max_us: f64,
    /// Mean delivered packets per second (by arrival).
    pub delivered_pps: f64,
    /// Target CPU-µs per delivered packet over the window.
    pub target_cpu_us_per_packet: Option<f64>,
}

impl Snapshot {
    /// One line for the console.
    pub fn line(&self) -> String {
        format!(
            "snapshot {:>5}-{:<5}s  {:>9.0} pps  loss {:.4} %  p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs{}",
            self.t_start,
            self.t_end,
            self.delivered_pps,
            self.loss_pct,
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.target_cpu_us_per_packet
                .map(|c| format!("  target {c:.3} CPU-µs/pkt"))
                .unwrap_or_default()
        )
    }
}

/// Wall-clock sample for one second (from the sampler).
#[derive(Clone, Copy, Debug, Default)]
pub struct WallSample {
    /// Packets that arrived in the second.
    pub delivered: u64,
    /// Target CPU µs in the second.
    pub target_cpu_us: Option<u64>,
    /// Loadgen CPU µs in the second.
    pub loadgen_cpu_us: u64,
}

struct Inner {
    open: BTreeMap<u64, SecAcc>,
    wall: BTreeMap<u64, WallSample>,
    done: Vec<Point>,
    finalized_below: u64,
    snap_every: u64,
    snap: Option<(u64, SecAcc, u64, Option<u64>)>,
    snapshots: Vec<Snapshot>,
}

/// The shared time series.
pub struct Timeline {
    inner: Mutex<Inner>,
    /// Highest second index kept (bounds memory and loops).
    pub max_secs: u64,
}

impl Timeline {
    /// A timeline of at most `max_secs` seconds, with snapshots every
    /// `snapshot_every` seconds (0: none).
    pub fn new(max_secs: u64, snapshot_every: u64) -> Timeline {
        Timeline {
            inner: Mutex::new(Inner {
                open: BTreeMap::new(),
                wall: BTreeMap::new(),
                done: Vec::new(),
                finalized_below: 0,
                snap_every: snapshot_every,
                snap: None,
                snapshots: Vec::new(),
            }),
            max_secs,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Merges a player's accumulators (and clears them).
    pub fn merge(&self, local: &mut BTreeMap<u64, SecAcc>) {
        if local.is_empty() {
            return;
        }
        let mut g = self.lock();
        for (s, a) in std::mem::take(local) {
            if s >= self.max_secs {
                continue;
            }
            let e = g.open.entry(s).or_default();
            e.sent += a.sent;
            e.delivered += a.delivered;
            let _ = e.hist.add(&a.hist);
        }
    }

    /// Records the sampler's wall-clock second `s`.
    pub fn wall(&self, s: u64, w: WallSample) {
        if s < self.max_secs {
            self.lock().wall.insert(s, w);
        }
    }

    /// Turns the seconds below `below` into points (their histograms are
    /// dropped); returns snapshots completed by that.
    pub fn finalize(&self, below: u64) -> Vec<Snapshot> {
        let mut g = self.lock();
        let below = below.min(self.max_secs);
        let mut out = Vec::new();
        while g.finalized_below < below {
            let s = g.finalized_below;
            g.finalized_below += 1;
            let acc = g.open.remove(&s).unwrap_or_default();
            let w = g.wall.get(&s).copied().unwrap_or_default();
            let p = Point {
                t: s,
                sent: acc.sent,
                delivered: acc.delivered,
                loss_pct: if acc.sent > 0 {
                    acc.sent.saturating_sub(acc.delivered) as f64 * 100.0 / acc.sent as f64
                } else {
                    0.0
                },
                p99_us: if acc.hist.is_empty() {
                    0.0
                } else {
                    acc.hist.value_at_quantile(0.99) as f64
                },
                delivered_pps: w.delivered as f64,
                target_cpu_us_per_packet: w
                    .target_cpu_us
                    .map(|c| c as f64 / w.delivered.max(1) as f64),
                target_cpu_us: w.target_cpu_us,
                loadgen_cpu_us: w.loadgen_cpu_us,
            };
            g.done.push(p);
            if g.snap_every > 0 {
                let every = g.snap_every;
                let start = s / every * every;
                if !matches!(&g.snap, Some(x) if x.0 == start) {
                    g.snap = Some((start, SecAcc::new(), 0, None));
                }
                let sn = g.snap.as_mut().expect("just set");
                sn.1.sent += acc.sent;
                sn.1.delivered += acc.delivered;
                let _ = sn.1.hist.add(&acc.hist);
                sn.2 += w.delivered;
                if let Some(c) = w.target_cpu_us {
                    sn.3 = Some(sn.3.unwrap_or(0) + c);
                }
                if s + 1 == start + every {
                    let sn = g.snap.take().expect("just set");
                    let snap = snapshot(sn, s + 1);
                    g.snapshots.push(snap);
                    out.push(snap);
                }
            }
        }
        out
    }

    /// Finalizes everything up to `end` seconds, closing a partial
    /// snapshot; returns (points, snapshots, snapshots completed now).
    pub fn finish(&self, end: u64) -> (Vec<Point>, Vec<Snapshot>, Vec<Snapshot>) {
        let mut fresh = self.finalize(end);
        let mut g = self.lock();
        if let Some(sn) = g.snap.take() {
            let end = g.finalized_below;
            if end > sn.0 {
                let snap = snapshot(sn, end);
                g.snapshots.push(snap);
                fresh.push(snap);
            }
        }
        (g.done.clone(), g.snapshots.clone(), fresh)
    }

    /// The last finalized point.
    pub fn last(&self) -> Option<Point> {
        self.lock().done.last().copied()
    }
}

fn snapshot(sn: (u64, SecAcc, u64, Option<u64>), end: u64) -> Snapshot {
    let (start, acc, arrived, cpu) = sn;
    let secs = end.saturating_sub(start).max(1);
    let q = |x: f64| {
        if acc.hist.is_empty() {
            0.0
        } else {
            acc.hist.value_at_quantile(x) as f64
        }
    };
    Snapshot {
        t_start: start,
        t_end: end,
        sent: acc.sent,
        delivered: acc.delivered,
        loss_pct: if acc.sent > 0 {
            acc.sent.saturating_sub(acc.delivered) as f64 * 100.0 / acc.sent as f64
        } else {
            0.0
        },
        p50_us: q(0.5),
        p99_us: q(0.99),
        max_us: if acc.hist.is_empty() {
            0.0
        } else {
            acc.hist.max() as f64
        },
        delivered_pps: arrived as f64 / secs as f64,
        target_cpu_us_per_packet: cpu.map(|c| c as f64 / arrived.max(1) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_snapshots() {
        let t = Timeline::new(100, 2);
        let mut local = BTreeMap::new();
        for s in 0..5u64 {
            let a: &mut SecAcc = local.entry(s).or_default();
            a.sent = 100;
            a.delivered = 100 - s;
            for v in 1..=100 {
                a.hist.record(v).unwrap();
            }
            t.wall(
                s,
                WallSample {
                    delivered: 100,
                    target_cpu_us: Some(1000),
                    loadgen_cpu_us: 10,
                },
            );
        }
        t.merge(&mut local);
        assert!(local.is_empty());
        let snaps = t.finalize(3);
        assert_eq!(snaps.len(), 1);
        assert_eq!((snaps[0].t_start, snaps[0].t_end), (0, 2));
        let (pts, all, fresh) = t.finish(5);
        assert_eq!(pts.len(), 5);
        assert_eq!(pts[2].loss_pct, 2.0);
        assert_eq!(pts[0].target_cpu_us_per_packet, Some(10.0));
        assert!((99.0..=100.0).contains(&pts[0].p99_us));
        assert_eq!(all.len(), 3);
        assert_eq!(fresh.len(), 2);
        assert_eq!((all[2].t_start, all[2].t_end), (4, 5));
    }
}
