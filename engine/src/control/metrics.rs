//! Prometheus text exposition of the node's counters.
//!
//! Why hand-written: the format is a few lines of text, and the numbers are
//! already atomics owned by the data plane (per worker, per leg) and the
//! control plane (calls, ports, timeouts); a metrics registry crate would
//! only copy them. Leg totals add the counters of ended calls (folded in at
//! call end) to those of live calls, so they never go backwards.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::node::Shared;
use super::registry::LEG_COUNTERS;
use crate::dataplane::WorkerCounters;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Node-wide leg counters (ended calls plus live HTTP and ng calls), in
/// [`LEG_COUNTERS`] order, with the running calls and legs.
pub(crate) struct LegTotals {
    sums: Vec<u64>,
    /// Calls running.
    pub calls: usize,
    /// Legs running.
    pub legs: usize,
}

impl LegTotals {
    /// Sums every leg's counters now. Takes the registry and ng locks in
    /// turn: call it holding neither.
    pub(crate) fn now(s: &Shared) -> LegTotals {
        let mut sums: Vec<u64> = s.totals.sums.iter().map(load).collect();
        let (calls, legs) = {
            let reg = s.registry.lock().unwrap_or_else(|e| e.into_inner());
            for c in reg.calls() {
                for l in &c.legs {
                    for (i, (_, get)) in LEG_COUNTERS.iter().enumerate() {
                        sums[i] += load(get(&l.counters));
                    }
                }
            }
            (reg.len(), reg.len() * 2)
        };
        // ng calls: one data-plane call (two legs) per relayed media section.
        let ng_legs = s.ng.leg_counters();
        for c in &ng_legs {
            for (i, (_, get)) in LEG_COUNTERS.iter().enumerate() {
                sums[i] += load(get(c));
            }
        }
        LegTotals {
            sums,
            calls: calls + s.ng.call_count(),
            legs: legs + ng_legs.len(),
        }
    }

    /// The sum of the counter called `name` (0 for an unknown name).
    pub(crate) fn get(&self, name: &str) -> u64 {
        LEG_COUNTERS
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| self.sums[i])
            .unwrap_or(0)
    }
}

/// Renders every series.
pub fn render(s: &Shared) -> String {
    let mut out = String::with_capacity(4096);
    let totals = LegTotals::now(s);
    let (calls, legs) = (totals.calls, totals.legs);
    let sum = |name: &str| totals.get(name);

    family(
        &mut out,
        "rampart_info",
        "gauge",
        "Node version and I/O backend.",
    );
    let backend = serde_json::to_value(s.backend)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "rampart_info{{version=\"{}\",backend=\"{backend}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    family(
        &mut out,
        "rampart_workers",
        "gauge",
        "Data-plane worker threads.",
    );
    let _ = writeln!(out, "rampart_workers {}", s.workers);

    family(&mut out, "rampart_calls_active", "gauge", "Calls running.");
    let _ = writeln!(out, "rampart_calls_active {calls}");
    family(
        &mut out,
        "rampart_legs_active",
        "gauge",
        "Call legs running.",
    );
    let _ = writeln!(out, "rampart_legs_active {legs}");
    family(
        &mut out,
        "rampart_calls_max",
        "gauge",
        "Configured call limit.",
    );
    let _ = writeln!(out, "rampart_calls_max {}", s.config.limits.max_calls);

    let t = &s.totals;
    family(
        &mut out,
        "rampart_calls_created_total",
        "counter",
        "Calls created.",
    );
    let _ = writeln!(out, "rampart_calls_created_total {}", load(&t.created));
    family(
        &mut out,
        "rampart_calls_deleted_total",
        "counter",
        "Calls deleted through the API.",
    );
    let _ = writeln!(out, "rampart_calls_deleted_total {}", load(&t.deleted));
    family(
        &mut out,
        "rampart_calls_timed_out_total",
        "counter",
        "Calls the node ended by itself, by reason.",
    );
    let _ = writeln!(
        out,
        "rampart_calls_timed_out_total{{reason=\"no_media\"}} {}",
        load(&t.timed_out_no_media)
    );
    let _ = writeln!(
        out,
        "rampart_calls_timed_out_total{{reason=\"max_duration\"}} {}",
        load(&t.timed_out_max_duration)
    );
    let _ = writeln!(
        out,
        "rampart_calls_timed_out_total{{reason=\"offer_timeout\"}} {}",
        load(&t.timed_out_offer)
    );
    family(
        &mut out,
        "rampart_calls_refused_total",
        "counter",
        "Call creations refused, by reason.",
    );
    let _ = writeln!(
        out,
        "rampart_calls_refused_total{{reason=\"call_limit\"}} {}",
        load(&t.refused_limit)
    );
    let _ = writeln!(
        out,
        "rampart_calls_refused_total{{reason=\"ports_exhausted\"}} {}",
        load(&t.refused_ports)
    );
    let _ = writeln!(
        out,
        "rampart_calls_refused_total{{reason=\"invalid\"}} {}",
        load(&t.refused_invalid)
    );
    let _ = writeln!(
        out,
        "rampart_calls_refused_total{{reason=\"policy\"}} {}",
        load(&t.refused_policy)
    );

    // The security plane: cluster mode, policy generation, call status.
    let (mode, generation) = {
        let p = s.security.policy();
        (p.cluster_mode(), p.generation())
    };
    family(
        &mut out,
        "rampart_cluster_security_mode",
        "gauge",
        "The cluster security mode in force (1 for the current mode).",
    );
    for m in [
        crate::policy::ClusterMode::Nonsecure,
        crate::policy::ClusterMode::Mixed,
    ] {
        let _ = writeln!(
            out,
            "rampart_cluster_security_mode{{mode=\"{}\"}} {}",
            m.as_str(),
            u8::from(m == mode)
        );
    }
    family(
        &mut out,
        "rampart_policy_generation",
        "gauge",
        "The security policy generation (goes up on each mode change).",
    );
    let _ = writeln!(out, "rampart_policy_generation {generation}");
    let mut by_status = [0u64; 4];
    {
        let reg = s.registry.lock().unwrap_or_else(|e| e.into_inner());
        for c in reg.calls() {
            by_status[super::security::status_index(c.security())] += 1;
        }
    }
    for st in s.ng.statuses() {
        by_status[super::security::status_index(st)] += 1;
    }
    family(
        &mut out,
        "rampart_calls_by_security",
        "gauge",
        "Calls running, by security status.",
    );
    for (i, st) in super::security::STATUSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "rampart_calls_by_security{{status=\"{st}\"}} {}",
            by_status[i]
        );
    }
    family(
        &mut out,
        "rampart_call_security_changes_total",
        "counter",
        "Changes of a call's security status, by the new status.",
    );
    for st in super::security::STATUSES {
        let _ = writeln!(
            out,
            "rampart_call_security_changes_total{{status=\"{st}\"}} {}",
            s.security.changes(st)
        );
    }

    family(
        &mut out,
        "rampart_port_pairs",
        "gauge",
        "Media port pairs (even RTP + odd RTCP) per address.",
    );
    for u in s.ports.lock().unwrap_or_else(|e| e.into_inner()).usage() {
        let _ = writeln!(
            out,
            "rampart_port_pairs{{address=\"{}\",state=\"used\"}} {}",
            u.address, u.used
        );
        let _ = writeln!(
            out,
            "rampart_port_pairs{{address=\"{}\",state=\"free\"}} {}",
            u.address, u.free
        );
    }

    family(&mut out, "rampart_packets_total", "counter", "RTP+RTCP packets by direction (in: from a leg's peer that passed checks; out: sent to a leg's peer).");
    let _ = writeln!(
        out,
        "rampart_packets_total{{direction=\"in\"}} {}",
        sum("packets_in")
    );
    let _ = writeln!(
        out,
        "rampart_packets_total{{direction=\"out\"}} {}",
        sum("packets_out")
    );
    family(
        &mut out,
        "rampart_bytes_total",
        "counter",
        "Bytes by direction.",
    );
    let _ = writeln!(
        out,
        "rampart_bytes_total{{direction=\"in\"}} {}",
        sum("bytes_in")
    );
    let _ = writeln!(
        out,
        "rampart_bytes_total{{direction=\"out\"}} {}",
        sum("bytes_out")
    );
    family(
        &mut out,
        "rampart_rtcp_packets_total",
        "counter",
        "RTCP packets by direction.",
    );
    let _ = writeln!(
        out,
        "rampart_rtcp_packets_total{{direction=\"in\"}} {}",
        sum("rtcp_in")
    );
    let _ = writeln!(
        out,
        "rampart_rtcp_packets_total{{direction=\"out\"}} {}",
        sum("rtcp_out")
    );
    family(
        &mut out,
        "rampart_rtcp_bytes_total",
        "counter",
        "RTCP bytes by direction.",
    );
    let _ = writeln!(
        out,
        "rampart_rtcp_bytes_total{{direction=\"in\"}} {}",
        sum("rtcp_bytes_in")
    );
    let _ = writeln!(
        out,
        "rampart_rtcp_bytes_total{{direction=\"out\"}} {}",
        sum("rtcp_bytes_out")
    );
    family(
        &mut out,
        "rampart_drops_total",
        "counter",
        "Packets dropped on legs, by reason.",
    );
    for (reason, field) in [
        ("auth_failed", "auth_failures"),
        ("replay", "replays"),
        ("malformed", "malformed"),
        ("unknown_ssrc", "unknown_ssrc"),
        ("no_remote", "dropped_no_remote"),
        ("strict_source", "dropped_strict_source"),
        ("latch_refused", "dropped_latch_refused"),
        ("overload", "dropped_overload"),
        ("protect_refused", "dropped_protect_refused"),
        ("other", "dropped_other"),
    ] {
        let _ = writeln!(
            out,
            "rampart_drops_total{{reason=\"{reason}\"}} {}",
            sum(field)
        );
    }
    family(
        &mut out,
        "rampart_relatches_total",
        "counter",
        "Remote address changes learned by latching.",
    );
    let _ = writeln!(out, "rampart_relatches_total {}", sum("relatches"));

    family(
        &mut out,
        "rampart_ng_calls_active",
        "gauge",
        "Calls made over the ng protocol (also in rampart_calls_active).",
    );
    let _ = writeln!(out, "rampart_ng_calls_active {}", s.ng.call_count());
    let ngc = &s.ng.counters;
    family(
        &mut out,
        "rampart_ng_requests_total",
        "counter",
        "ng requests by command.",
    );
    for (i, c) in super::ng::COMMANDS.iter().enumerate() {
        let _ = writeln!(
            out,
            "rampart_ng_requests_total{{command=\"{c}\"}} {}",
            load(&ngc.commands[i])
        );
    }
    family(
        &mut out,
        "rampart_ng_errors_total",
        "counter",
        "ng replies with result error.",
    );
    let _ = writeln!(out, "rampart_ng_errors_total {}", load(&ngc.errors));
    family(
        &mut out,
        "rampart_ng_cached_replies_total",
        "counter",
        "ng retransmissions answered from the cookie cache.",
    );
    let _ = writeln!(out, "rampart_ng_cached_replies_total {}", load(&ngc.cached));
    family(
        &mut out,
        "rampart_ng_requests_refused_total",
        "counter",
        "ng requests refused: source not allowed (dropped), too large, malformed.",
    );
    for (reason, a) in [
        ("source", &ngc.refused_source),
        ("too_large", &ngc.refused_size),
        ("malformed", &ngc.malformed),
    ] {
        let _ = writeln!(
            out,
            "rampart_ng_requests_refused_total{{reason=\"{reason}\"}} {}",
            load(a)
        );
    }
    for (name, help, a) in [
        (
            "rampart_ng_panics_total",
            "ng requests whose handling panicked (answered with an error; ng goes on).",
            &ngc.panics,
        ),
        (
            "rampart_ng_replies_too_large_total",
            "ng replies too large to send (a short error instead; an offer is rolled back).",
            &ngc.replies_too_large,
        ),
        (
            "rampart_ng_tcp_refused_total",
            "ng TCP connections refused at the total or per-source cap.",
            &ngc.tcp_refused,
        ),
        (
            "rampart_ng_tcp_idle_closed_total",
            "ng TCP connections closed after tcp_idle_secs without a whole request.",
            &ngc.tcp_idle_closed,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", load(a));
    }

    let workers = s
        .dataplane
        .read()
        .ok()
        .and_then(|g| g.as_ref().map(|dp| dp.worker_stats()))
        .unwrap_or_default();
    family(
        &mut out,
        "rampart_worker_packets_relayed_total",
        "counter",
        "Packets relayed, per worker.",
    );
    for (i, w) in workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "rampart_worker_packets_relayed_total{{worker=\"{i}\"}} {}",
            load(&w.packets_relayed)
        );
    }
    family(
        &mut out,
        "rampart_worker_packets_dropped_total",
        "counter",
        "Packets dropped, per worker.",
    );
    for (i, w) in workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "rampart_worker_packets_dropped_total{{worker=\"{i}\"}} {}",
            load(&w.packets_dropped)
        );
    }
    for (name, help, get) in [
        (
            "rampart_worker_batches_total",
            "I/O batches, per worker.",
            (|w| load(&w.batches)) as fn(&WorkerCounters) -> u64,
        ),
        (
            "rampart_worker_send_calls_total",
            "Send operations (system calls, or io_uring sends), per worker.",
            |w| load(&w.send_calls),
        ),
        (
            "rampart_worker_gso_sends_total",
            "Sends that carried several datagrams as one UDP GSO send, per worker.",
            |w| load(&w.gso_sends),
        ),
        (
            "rampart_worker_batch_ticks_total",
            "Times the worker slept one batching tick under load (load-adaptive batching), per worker.",
            |w| load(&w.batch_ticks),
        ),
        (
            "rampart_worker_xdp_rx_total",
            "Frames received through the worker's AF_XDP socket, per worker.",
            |w| load(&w.xdp_rx),
        ),
        (
            "rampart_worker_xdp_tx_total",
            "Frames sent through the worker's AF_XDP tx ring, per worker.",
            |w| load(&w.xdp_tx),
        ),
        (
            "rampart_worker_xdp_slow_tx_total",
            "Packets of the AF_XDP path sent through the kernel socket instead (next hop unresolved or on another interface), per worker.",
            |w| load(&w.xdp_slow_tx),
        ),
        (
            "rampart_worker_xdp_rx_rejected_total",
            "Frames steered to the AF_XDP socket that were not for a leg, per worker.",
            |w| load(&w.xdp_rx_rejected),
        ),
        (
            "rampart_worker_xdp_tx_ring_full_total",
            "Packets dropped because the AF_XDP tx ring was full, per worker.",
            |w| load(&w.xdp_tx_ring_full),
        ),
    ] {
        family(&mut out, name, "counter", help);
        for (i, w) in workers.iter().enumerate() {
            let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {}", get(w));
        }
    }
    family(
        &mut out,
        "rampart_worker_calls",
        "gauge",
        "Calls owned, per worker.",
    );
    for (i, w) in workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "rampart_worker_calls{{worker=\"{i}\"}} {}",
            load(&w.calls)
        );
    }
    out
}
