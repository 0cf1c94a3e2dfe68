//! What the phones saw: per-stream delivery bookkeeping (unique, duplicate,
//! reordered, RFC 3550 jitter) and per-run counters and latency histogram.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Counters summed over streams and threads.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    /// Packets handed to the kernel.
    pub sent: u64,
    /// Packets the kernel refused.
    pub send_errors: u64,
    /// Packets that arrived, authenticated, decrypted and checked, once each.
    pub delivered: u64,
    /// Copies of a packet already delivered (SRTP replay check or ours).
    pub duplicates: u64,
    /// Delivered packets older than the newest already delivered.
    pub reordered: u64,
    /// SRTP authentication failures.
    pub auth_failures: u64,
    /// Packets too old for the SRTP replay window.
    pub too_old: u64,
    /// Packets that authenticated but whose content was wrong.
    pub corrupt: u64,
    /// Packets for another call or direction than the socket/SSRC said.
    pub misrouted: u64,
    /// Datagrams from an unknown SSRC and source.
    pub unknown: u64,
    /// Datagrams too short, truncated, or otherwise not SRTP.
    pub malformed: u64,
    /// Sends more than 1 ms after their due time (loadgen falling behind).
    pub late_sends: u64,
    /// RTCP sender reports sent (SRTCP on SRTP legs), counted apart from
    /// the RTP counters above.
    #[serde(default)]
    pub rtcp_sent: u64,
    /// Sender reports that arrived, authenticated and checked (right SSRC,
    /// type and length).
    #[serde(default)]
    pub rtcp_delivered: u64,
    /// SRTCP authentication failures.
    #[serde(default)]
    pub rtcp_auth_failures: u64,
    /// RTCP that authenticated but was not the report sent, or was
    /// replayed, or came on the wrong socket.
    #[serde(default)]
    pub rtcp_bad: u64,
    /// Send syscalls (`sendmmsg`) the players made: with even pacing about
    /// one per packet, with burst pacing one per slot and socket.
    #[serde(default)]
    pub send_calls: u64,
}

impl Counters {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &Counters) {
        self.sent += o.sent;
        self.send_calls += o.send_calls;
        self.send_errors += o.send_errors;
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.reordered += o.reordered;
        self.auth_failures += o.auth_failures;
        self.too_old += o.too_old;
        self.corrupt += o.corrupt;
        self.misrouted += o.misrouted;
        self.unknown += o.unknown;
        self.malformed += o.malformed;
        self.late_sends += o.late_sends;
        self.rtcp_sent += o.rtcp_sent;
        self.rtcp_delivered += o.rtcp_delivered;
        self.rtcp_auth_failures += o.rtcp_auth_failures;
        self.rtcp_bad += o.rtcp_bad;
    }

    /// Packets sent but never delivered.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.delivered)
    }
}

/// One receiving stream (one call, one direction).
pub struct StreamRx {
    seen: Vec<u64>,
    packets: u64,
    highest: Option<u64>,
    prev_transit: Option<i64>,
    delivered: u64,
    last_arrival_ns: Option<u64>,
    max_gap_ns: u64,
    /// RFC 3550 interarrival jitter, ns.
    pub jitter_ns: f64,
}

/// What recording one packet found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First copy.
    New {
        /// Older than the newest delivered.
        reordered: bool,
    },
    /// Already delivered.
    Duplicate,
    /// Sequence beyond what was ever sent (corrupt).
    OutOfRange,
}

impl StreamRx {
    /// A stream that will carry at most `packets` packets.
    pub fn new(packets: u64) -> StreamRx {
        StreamRx {
            seen: vec![0; (packets as usize).div_ceil(64).max(1)],
            packets,
            highest: None,
            prev_transit: None,
            delivered: 0,
            last_arrival_ns: None,
            max_gap_ns: 0,
            jitter_ns: 0.0,
        }
    }

    /// Distinct packets delivered.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Longest time between two deliveries, ns: the stream's worst outage
    /// as the phone heard it (a node's takeover shows here).
    pub fn max_gap_ns(&self) -> u64 {
        self.max_gap_ns
    }

    /// Packets the stream carries at most.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Records packet `seq` that arrived at `arrival_ns` and whose RTP
    /// timestamp corresponds to `nominal_ns` (its due time); updates the
    /// jitter estimate (RFC 3550 A.8, in ns instead of timestamp units).
    pub fn record(&mut self, seq: u64, arrival_ns: u64, nominal_ns: u64) -> Seen {
        if seq >= self.packets {
            return Seen::OutOfRange;
        }
        let (w, b) = ((seq / 64) as usize, seq % 64);
        let Some(word) = self.seen.get_mut(w) else {
            return Seen::OutOfRange;
        };
        if *word & (1 << b) != 0 {
            return Seen::Duplicate;
        }
        *word |= 1 << b;
        self.delivered += 1;
        if let Some(last) = self.last_arrival_ns {
            self.max_gap_ns = self.max_gap_ns.max(arrival_ns.saturating_sub(last));
        }
        self.last_arrival_ns = Some(self.last_arrival_ns.unwrap_or(0).max(arrival_ns));
        let reordered = self.highest.is_some_and(|h| seq < h);
        if !reordered {
            self.highest = Some(seq);
        }
        let transit = arrival_ns as i64 - nominal_ns as i64;
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.prev_transit = Some(transit);
        Seen::New { reordered }
    }
}

/// What one call's phones got, both directions together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallOutcome {
    /// RTP packets its phones sent.
    pub sent: u64,
    /// Of those, delivered (once each).
    pub delivered: u64,
    /// Longest time between two deliveries on either stream, ns.
    pub max_gap_ns: u64,
}

/// How loss and outages spread over the calls: a run's total loss says
/// how much, this says whether every call lost a little or a few calls
/// lost a lot (a node dying mid-call shows here as each call's gap).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    /// Calls measured.
    pub calls: usize,
    /// Calls that lost at least one RTP packet.
    pub calls_with_loss: usize,
    /// Most packets one call lost.
    pub call_lost_max: u64,
    /// Median of the packets lost per call.
    pub call_lost_p50: u64,
    /// Longest gap between two deliveries of one stream, ms: median over
    /// calls.
    pub gap_p50_ms: f64,
    /// The same, 99th percentile over calls.
    pub gap_p99_ms: f64,
    /// The same, worst call.
    pub gap_max_ms: f64,
}

impl Spread {
    /// The spread over `calls`.
    pub fn of(calls: &[CallOutcome]) -> Spread {
        if calls.is_empty() {
            return Spread::default();
        }
        let mut lost: Vec<u64> = calls
            .iter()
            .map(|c| c.sent.saturating_sub(c.delivered))
            .collect();
        let mut gaps: Vec<u64> = calls.iter().map(|c| c.max_gap_ns).collect();
        lost.sort_unstable();
        gaps.sort_unstable();
        let at = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        let ms = |ns: u64| ns as f64 / 1e6;
        Spread {
            calls: calls.len(),
            calls_with_loss: lost.iter().filter(|&&l| l > 0).count(),
            call_lost_max: at(&lost, 1.0),
            call_lost_p50: at(&lost, 0.5),
            gap_p50_ms: ms(at(&gaps, 0.5)),
            gap_p99_ms: ms(at(&gaps, 0.99)),
            gap_max_ms: ms(at(&gaps, 1.0)),
        }
    }
}

/// Latency histogram, ns, 1 ns .. 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static histogram bounds")
}

/// Latency percentiles, µs.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th.
    pub p99_us: f64,
    /// 99.9th.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    /// From a histogram of ns.
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_reordering_range() {
        let mut s = StreamRx::new(100);
        assert_eq!(s.record(0, 10, 0), Seen::New { reordered: false });
        assert_eq!(s.record(2, 30, 20), Seen::New { reordered: false });
        assert_eq!(s.record(1, 31, 10), Seen::New { reordered: true });
        assert_eq!(s.record(1, 32, 10), Seen::Duplicate);
        assert_eq!(s.record(100, 40, 0), Seen::OutOfRange);
        assert!(s.jitter_ns > 0.0);
    }

    #[test]
    fn the_longest_gap_between_deliveries_is_kept() {
        let mut s = StreamRx::new(10);
        for (seq, at) in [(0, 0), (1, 20), (2, 40), (6, 900), (7, 920), (5, 925)] {
            s.record(seq, at, seq * 20);
        }
        assert_eq!(s.delivered(), 6);
        // 40 -> 900; the late packet 5 at 925 is no new gap.
        assert_eq!(s.max_gap_ns(), 860);
    }

    #[test]
    fn the_spread_names_the_calls_that_lost() {
        let ok = CallOutcome {
            sent: 100,
            delivered: 100,
            max_gap_ns: 20_000_000,
        };
        let hit = CallOutcome {
            sent: 100,
            delivered: 60,
            max_gap_ns: 820_000_000,
        };
        let s = Spread::of(&[ok, ok, hit]);
        assert_eq!(
            (s.calls, s.calls_with_loss, s.call_lost_max, s.call_lost_p50),
            (3, 1, 40, 0)
        );
        assert_eq!((s.gap_p50_ms, s.gap_max_ms), (20.0, 820.0));
        assert_eq!(Spread::of(&[]), Spread::default());
    }

    #[test]
    fn constant_transit_means_zero_jitter() {
        let mut s = StreamRx::new(10);
        for i in 0..10 {
            s.record(i, i * 20_000_000 + 500, i * 20_000_000);
        }
        assert_eq!(s.jitter_ns, 0.0);
    }
}
