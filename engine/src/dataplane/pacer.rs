//! Load-adaptive batching: when to let packets pile up before the next
//! wait.
//!
//! Phones do not coordinate, so under realistic traffic every datagram
//! arrives on its own and a worker that blocks until "something is ready"
//! wakes once per packet: the wake-up (interrupt, scheduler, the system
//! call's entry and exit) then costs more than the relay's own work. Under
//! load it is cheaper to wake on a short tick and drain everything that
//! arrived since: one wake-up serves many packets, at the price of up to
//! one tick of added latency. When idle the tick buys nothing (there is
//! nothing to share a wake-up with) and only adds latency, so the pacer
//! ticks only while the measured arrival rate is high, and wakes per packet
//! otherwise.
//!
//! Sans-I/O: the worker tells the pacer what each round received and when,
//! and the pacer answers how long to sleep before the next wait. The added
//! latency is bounded by the tick (configuration), and the pacer never asks
//! for a sleep after a round that received nothing. After a tick the worker
//! drains with non-blocking polls until one finds nothing: the kernel
//! (6.x, io_uring with deferred task work) hands over a bounded number of
//! receives per wait, and without the drain a tick left a standing backlog
//! of milliseconds.
//!
//! Measured (`loadgen/bench.sh`, `TICKS`; 2-core VM, 1,000 G.711 calls
//! re-keyed, even pacing, 100k pps on one worker): a 200 µs tick costs
//! 5.99–6.55 CPU-µs per packet against 6.47–6.95 without, 6–7 % less, and
//! moves the median added latency from ~30 µs to ~160 µs. That saving is
//! small next to the kernel's own ~3.1 µs per UDP send + receive here, so
//! the tick is off by default (`[dataplane] batch_tick_us = 0`) and is an
//! operator's choice of CPU against latency.

#![forbid(unsafe_code)]

use std::time::Duration;

/// Length of the window over which the arrival rate is measured, ns.
const RATE_WINDOW_NS: u64 = 10_000_000;

/// The batching policy of one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchTick {
    /// Longest time a packet may wait for the tick (0: never tick, wake per
    /// packet).
    pub tick: Duration,
    /// Arrival rate (packets per second, per worker) at or above which the
    /// worker ticks; it stops below half of it.
    pub min_pps: u64,
}

impl Default for BatchTick {
    fn default() -> Self {
        BatchTick {
            tick: Duration::ZERO,
            min_pps: 20_000,
        }
    }
}

/// Decides, round by round, whether the worker sleeps before its next wait.
#[derive(Debug)]
pub struct Pacer {
    tick_ns: u64,
    enter_pps: u64,
    leave_pps: u64,
    window_start_ns: u64,
    window_packets: u64,
    ticking: bool,
    /// The rate measured over the last whole window, packets per second.
    rate_pps: u64,
}

impl Pacer {
    /// A pacer with the given policy.
    pub fn new(policy: BatchTick) -> Pacer {
        Pacer {
            tick_ns: u64::try_from(policy.tick.as_nanos()).unwrap_or(u64::MAX),
            enter_pps: policy.min_pps,
            leave_pps: policy.min_pps / 2,
            window_start_ns: 0,
            window_packets: 0,
            ticking: false,
            rate_pps: 0,
        }
    }

    /// Whether the worker is ticking (under load) rather than waking per
    /// packet.
    pub fn ticking(&self) -> bool {
        self.ticking
    }

    /// The arrival rate measured over the last whole window, packets per
    /// second.
    pub fn rate_pps(&self) -> u64 {
        self.rate_pps
    }

    /// A round that woke at `woke_ns` received `packets`; it is now
    /// `now_ns` (both on one monotonic clock). Returns how long to sleep
    /// before the next wait, so that wake-ups are at least one tick apart
    /// while the rate is high; `None` to wait at once.
    pub fn after_round(&mut self, woke_ns: u64, now_ns: u64, packets: u64) -> Option<Duration> {
        if self.tick_ns == 0 {
            return None;
        }
        self.window_packets = self.window_packets.saturating_add(packets);
        let elapsed = now_ns.saturating_sub(self.window_start_ns);
        if elapsed >= RATE_WINDOW_NS {
            self.rate_pps = self
                .window_packets
                .saturating_mul(1_000_000_000)
                .checked_div(elapsed)
                .unwrap_or(0);
            self.ticking = if self.ticking {
                self.rate_pps >= self.leave_pps
            } else {
                self.rate_pps >= self.enter_pps
            };
            self.window_start_ns = now_ns;
            self.window_packets = 0;
        }
        if !self.ticking || packets == 0 {
            return None;
        }
        let next_wake = woke_ns.saturating_add(self.tick_ns);
        (next_wake > now_ns).then(|| Duration::from_nanos(next_wake - now_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    fn pacer(tick_us: u64, min_pps: u64) -> Pacer {
        Pacer::new(BatchTick {
            tick: Duration::from_micros(tick_us),
            min_pps,
        })
    }

    /// Feeds rounds of `per_round` packets every `gap_ns` for `for_ns`;
    /// returns the pacer and the last answer.
    fn feed(
        p: &mut Pacer,
        start: u64,
        gap_ns: u64,
        per_round: u64,
        for_ns: u64,
    ) -> Option<Duration> {
        let mut t = start;
        let mut last = None;
        while t < start + for_ns {
            last = p.after_round(t, t + US, per_round);
            t += gap_ns;
        }
        last
    }

    #[test]
    fn off_never_sleeps() {
        let mut p = pacer(0, 1);
        assert_eq!(feed(&mut p, 0, 5 * US, 10, 50_000_000), None);
        assert!(!p.ticking());
    }

    #[test]
    fn idle_wakes_per_packet() {
        // 1,000 pps: far below the threshold.
        let mut p = pacer(100, 20_000);
        assert_eq!(feed(&mut p, 0, 1_000 * US, 1, 100_000_000), None);
        assert!(!p.ticking());
        assert!(
            p.rate_pps() > 500 && p.rate_pps() < 2_000,
            "{}",
            p.rate_pps()
        );
    }

    #[test]
    fn under_load_sleeps_until_one_tick_after_the_wake() {
        // 100,000 pps, one packet per wake-up (every 10 µs).
        let mut p = pacer(100, 20_000);
        feed(&mut p, 0, 10 * US, 1, 20_000_000);
        assert!(p.ticking(), "rate {}", p.rate_pps());
        // Woke at t, now t + 1 µs: sleep the rest of the tick.
        let t = 30_000_000;
        assert_eq!(
            p.after_round(t, t + US, 3),
            Some(Duration::from_nanos(99 * US))
        );
        // A round that took longer than the tick: wait at once.
        assert_eq!(p.after_round(t, t + 150 * US, 3), None);
        // A round that received nothing (a timeout, a command): no sleep.
        assert_eq!(p.after_round(t, t + US, 0), None);
    }

    #[test]
    fn sleep_is_bounded_by_the_tick() {
        let mut p = pacer(200, 1_000);
        feed(&mut p, 0, 50 * US, 5, 30_000_000);
        assert!(p.ticking());
        for lag in [0, 1, 50, 199, 200, 10_000] {
            let t = 40_000_000;
            let s = p.after_round(t, t + lag * US, 1);
            assert!(s.is_none_or(|d| d <= Duration::from_micros(200)), "{s:?}");
        }
    }

    #[test]
    fn hysteresis_leaves_below_half_the_threshold() {
        let mut p = pacer(100, 20_000);
        feed(&mut p, 0, 10 * US, 1, 20_000_000); // 100k pps
        assert!(p.ticking());
        // 15k pps: below the threshold, above half of it: keeps ticking.
        feed(&mut p, 20_000_000, 70 * US, 1, 30_000_000);
        assert!(p.ticking(), "rate {}", p.rate_pps());
        // 5k pps: stops.
        feed(&mut p, 50_000_000, 200 * US, 1, 30_000_000);
        assert!(!p.ticking(), "rate {}", p.rate_pps());
    }

    #[test]
    fn hostile_clock_values_do_not_panic() {
        let mut p = pacer(100, 1);
        for (w, n) in [(u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX), (5, 1)] {
            let _ = p.after_round(w, n, u64::MAX);
        }
    }
}
