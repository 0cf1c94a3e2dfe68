//! Prometheus text exposition of the node's counters.
//!
//! Why hand-written: the format is a few lines of text, and the numbers are
//! already atomics owned by the data plane (per worker, per leg) and the
//! control plane (calls, ports, timeouts); a metrics registry crate would
//! only copy them. Leg totals add the counters of ended calls (folded in at
//! call end) to those of live calls, so they never go backwards.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::calls::LegTotals;
use super::shared::Shared;
use crate::dataplane::WorkerCounters;

/// The exposition text being written: one family (its `HELP` and `TYPE`
/// lines, then its samples) per call.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.family(name, kind, help);
        let _ = writeln!(self.0, "{name} {v}");
    }

    /// A family of samples told apart by one label.
    fn labelled<L, V, I>(&mut self, name: &str, kind: &str, help: &str, label: &str, rows: I)
    where
        L: std::fmt::Display,
        V: std::fmt::Display,
        I: IntoIterator<Item = (L, V)>,
    {
        self.family(name, kind, help);
        for (l, v) in rows {
            let _ = writeln!(self.0, "{name}{{{label}=\"{l}\"}} {v}");
        }
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Renders every series.
pub fn render(s: &Shared) -> String {
    let mut out = Exposition(String::with_capacity(4096));
    let totals = LegTotals::now(s);
    node_and_calls(&mut out, s, &totals);
    security(&mut out, s);
    ports_and_media(&mut out, s, &totals);
    ng(&mut out, s);
    store(&mut out, s);
    webrtc(&mut out, s);
    workers(&mut out, s);
    out.0
}

/// WebRTC legs: their STUN and DTLS, nominations and handshakes.
fn webrtc(out: &mut Exposition, s: &Shared) {
    let Some(w) = s.webrtc.as_ref() else {
        return;
    };
    let c = &w.counters;
    out.single(
        "rampart_webrtc_legs",
        "gauge",
        "Legs whose ICE or DTLS-SRTP the transport service runs.",
        w.leg_count() as u64,
    );
    out.labelled(
        "rampart_webrtc_datagrams_total",
        "counter",
        "STUN and DTLS datagrams the workers handed over: taken, for no leg (one just removed), \
         dropped by the leg's transport (forged checks, records from an unnominated address).",
        "result",
        [
            ("taken", &c.datagrams),
            ("unknown_leg", &c.unknown_leg),
            ("dropped", &c.dropped),
        ]
        .map(|(r, a)| (r, load(a))),
    );
    out.single(
        "rampart_webrtc_nominations_total",
        "counter",
        "ICE pairs nominated (USE-CANDIDATE).",
        load(&c.nominations),
    );
    out.labelled(
        "rampart_webrtc_handshakes_total",
        "counter",
        "DTLS-SRTP handshakes that keyed a leg, and that failed (fingerprint mismatch, alert, \
         no common profile, keys not installed).",
        "result",
        [("keyed", &c.handshakes), ("failed", &c.handshake_failures)].map(|(r, a)| (r, load(a))),
    );
}

/// The node, its calls and their ends and refusals.
fn node_and_calls(out: &mut Exposition, s: &Shared, totals: &LegTotals) {
    out.family("rampart_info", "gauge", "Node version and I/O backend.");
    let backend = serde_json::to_value(s.backend)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out.0,
        "rampart_info{{version=\"{}\",backend=\"{backend}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out.single(
        "rampart_workers",
        "gauge",
        "Data-plane worker threads.",
        s.workers,
    );
    out.single(
        "rampart_calls_active",
        "gauge",
        "Calls running.",
        totals.calls,
    );
    out.single(
        "rampart_legs_active",
        "gauge",
        "Call legs running.",
        totals.legs,
    );
    out.single(
        "rampart_calls_max",
        "gauge",
        "Configured call limit.",
        s.config.limits.max_calls,
    );
    let t = &s.totals;
    out.single(
        "rampart_calls_created_total",
        "counter",
        "Calls created.",
        load(&t.created),
    );
    out.single(
        "rampart_calls_deleted_total",
        "counter",
        "Calls deleted through the API.",
        load(&t.deleted),
    );
    out.labelled(
        "rampart_calls_timed_out_total",
        "counter",
        "Calls the node ended by itself, by reason.",
        "reason",
        [
            ("no_media", &t.timed_out_no_media),
            ("max_duration", &t.timed_out_max_duration),
            ("offer_timeout", &t.timed_out_offer),
        ]
        .map(|(r, a)| (r, load(a))),
    );
    out.labelled(
        "rampart_calls_refused_total",
        "counter",
        "Call creations refused, by reason.",
        "reason",
        [
            ("call_limit", &t.refused_limit),
            ("ports_exhausted", &t.refused_ports),
            ("invalid", &t.refused_invalid),
            ("policy", &t.refused_policy),
        ]
        .map(|(r, a)| (r, load(a))),
    );
}

/// The security plane: cluster mode, policy generation, call status.
fn security(out: &mut Exposition, s: &Shared) {
    let (mode, generation) = {
        let p = s.security.policy();
        (p.cluster_mode(), p.generation())
    };
    out.labelled(
        "rampart_cluster_security_mode",
        "gauge",
        "The cluster security mode in force (1 for the current mode).",
        "mode",
        [
            crate::policy::ClusterMode::Nonsecure,
            crate::policy::ClusterMode::Mixed,
        ]
        .map(|m| (m.as_str(), u8::from(m == mode))),
    );
    out.single(
        "rampart_policy_generation",
        "gauge",
        "The security policy generation (goes up on each mode change).",
        generation,
    );
    let mut by_status = [0u64; 4];
    s.calls.for_each_view(|v| {
        by_status[super::security::status_index(v.security)] += 1;
    });
    out.labelled(
        "rampart_calls_by_security",
        "gauge",
        "Calls running, by security status.",
        "status",
        super::security::STATUSES.iter().zip(by_status),
    );
    out.labelled(
        "rampart_call_security_changes_total",
        "counter",
        "Changes of a call's security status, by the new status.",
        "status",
        super::security::STATUSES.map(|st| (st, s.security.changes(st))),
    );
    trust_list(out, s);
}

/// The trust list in force and its reloads.
fn trust_list(out: &mut Exposition, s: &Shared) {
    out.single(
        "rampart_trust_list_version",
        "gauge",
        "The version of the trust list in force (0: none loaded).",
        s.security.ctl_version().unwrap_or(0),
    );
    let r = s.security.trust_reloader();
    out.labelled(
        "rampart_trust_list_reloads_total",
        "counter",
        "Trust-list reloads (SIGHUP, POST /policy/trust-list/reload), by result.",
        "result",
        [("ok", r.reloads_ok()), ("failed", r.reloads_failed())],
    );
    out.single(
        "rampart_trust_list_connections_closed_total",
        "counter",
        "Control-channel TLS connections ended because a reloaded trust list no longer names \
         their client.",
        r.connections_closed(),
    );
}

/// Ports, and the media the legs carried (node-wide leg totals).
fn ports_and_media(out: &mut Exposition, s: &Shared, totals: &LegTotals) {
    out.family(
        "rampart_port_pairs",
        "gauge",
        "Media port pairs (even RTP + odd RTCP) per address.",
    );
    for u in s.ports.lock().unwrap_or_else(|e| e.into_inner()).usage() {
        for (state, n) in [("used", u.used), ("free", u.free)] {
            let _ = writeln!(
                out.0,
                "rampart_port_pairs{{address=\"{}\",state=\"{state}\"}} {n}",
                u.address
            );
        }
    }
    let sum = |name: &str| totals.get(name);
    let by_direction = |inn: &str, outn: &str| [("in", sum(inn)), ("out", sum(outn))];
    for (name, help, inn, outn) in [
        (
            "rampart_packets_total",
            "RTP+RTCP packets by direction (in: from a leg's peer that passed checks; out: sent to a leg's peer).",
            "packets_in",
            "packets_out",
        ),
        ("rampart_bytes_total", "Bytes by direction.", "bytes_in", "bytes_out"),
        ("rampart_rtcp_packets_total", "RTCP packets by direction.", "rtcp_in", "rtcp_out"),
        ("rampart_rtcp_bytes_total", "RTCP bytes by direction.", "rtcp_bytes_in", "rtcp_bytes_out"),
    ] {
        out.labelled(name, "counter", help, "direction", by_direction(inn, outn));
    }
    out.labelled(
        "rampart_drops_total",
        "counter",
        "Packets dropped on legs, by reason.",
        "reason",
        [
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
        ]
        .map(|(reason, field)| (reason, sum(field))),
    );
    out.single(
        "rampart_relatches_total",
        "counter",
        "Remote address changes learned by latching.",
        sum("relatches"),
    );
}

/// The state store's writes, when one is configured.
fn store(out: &mut Exposition, s: &Shared) {
    let Some(p) = &s.persist else { return };
    out.labelled(
        "rampart_store_writes_total",
        "counter",
        "Call states written to the state store, calls removed from it, writes that failed.",
        "result",
        [
            ("written", &p.written),
            ("removed", &p.removed),
            ("failed", &p.failed),
            ("fenced", &p.fenced_writes),
        ]
        .map(|(r, a)| (r, load(a))),
    );
    let Some(h) = &s.ha else { return };
    let v = h.health();
    out.single(
        "rampart_store_connected",
        "gauge",
        "1 while the state store answers the node's heartbeats.",
        u8::from(v["store_connected"].as_bool().unwrap_or(false)),
    );
    out.single(
        "rampart_ha_draining",
        "gauge",
        "1 while the node drains (refuses new calls, hands its calls off).",
        u8::from(h.draining.load(Ordering::Relaxed)),
    );
    let peers = v["peers"].as_array().cloned().unwrap_or_default();
    out.labelled(
        "rampart_ha_peer_alive",
        "gauge",
        "1 while another node's heartbeat moves, by node id.",
        "node",
        peers.iter().map(|p| {
            (
                p["node_id"].as_str().unwrap_or("").to_string(),
                u8::from(p["alive"].as_bool().unwrap_or(false)),
            )
        }),
    );
    out.labelled(
        "rampart_ha_calls_total",
        "counter",
        "Calls taken over from other nodes, takeovers that failed, calls dropped because \
         another node owns them, calls handed off by a drain.",
        "event",
        [
            ("adopted", &h.adopted),
            ("adopt_failed", &h.adopt_failed),
            ("dropped_fenced", &h.dropped_fenced),
            ("handed_off", &h.handed_off),
        ]
        .map(|(r, a)| (r, load(a))),
    );
    out.labelled(
        "rampart_ha_media_checkpoints_total",
        "counter",
        "Media checkpoints (ROC, highest indexes, SRTCP index) written, and writes that failed.",
        "result",
        [("written", &h.media_written), ("failed", &h.media_failed)].map(|(r, a)| (r, load(a))),
    );
    out.single(
        "rampart_ha_heartbeat_failures_total",
        "counter",
        "Heartbeats the state store did not take.",
        load(&h.heartbeat_failed),
    );
    out.single(
        "rampart_ha_last_takeover_ms",
        "gauge",
        "From the last heartbeat seen of a dead node to its call running here, for the last takeover.",
        load(&h.last_takeover_ms),
    );
    out.single(
        "rampart_ha_heartbeat_gap_max_ms",
        "gauge",
        "Longest time between two of this node's heartbeats reaching the store while connected (near dead_after_ms, other nodes would take its calls).",
        load(&h.longest_beat_gap_ms),
    );
}

/// The ng protocol's calls, requests and refusals.
fn ng(out: &mut Exposition, s: &Shared) {
    out.single(
        "rampart_ng_calls_active",
        "gauge",
        "Calls made over the ng protocol (also in rampart_calls_active).",
        s.calls.len(Some(super::calls::Origin::Ng)),
    );
    let ngc = &s.ng.counters;
    out.labelled(
        "rampart_ng_requests_total",
        "counter",
        "ng requests by command.",
        "command",
        super::ng::COMMANDS
            .iter()
            .zip(&ngc.commands)
            .map(|(c, a)| (c, load(a))),
    );
    out.single(
        "rampart_ng_errors_total",
        "counter",
        "ng replies with result error.",
        load(&ngc.errors),
    );
    out.labelled(
        "rampart_ng_command_errors_total",
        "counter",
        "ng commands refused, by kind (invalid request, ports exhausted, policy).",
        "kind",
        super::ng::NG_ERROR_KINDS
            .iter()
            .zip(&ngc.errors_by_kind)
            .map(|(k, a)| (k, load(a))),
    );
    out.single(
        "rampart_ng_cached_replies_total",
        "counter",
        "ng retransmissions answered from the cookie cache.",
        load(&ngc.cached),
    );
    out.labelled(
        "rampart_ng_requests_refused_total",
        "counter",
        "ng requests refused: source not allowed (dropped), too large, malformed.",
        "reason",
        [
            ("source", &ngc.refused_source),
            ("too_large", &ngc.refused_size),
            ("malformed", &ngc.malformed),
        ]
        .map(|(r, a)| (r, load(a))),
    );
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
        out.single(name, "counter", help, load(a));
    }
}

/// The data-plane workers' own counters, one sample per worker.
fn workers(out: &mut Exposition, s: &Shared) {
    let workers = s
        .dataplane
        .read()
        .ok()
        .and_then(|g| g.as_ref().map(|dp| dp.worker_stats()))
        .unwrap_or_default();
    type Get = fn(&WorkerCounters) -> u64;
    let families: [(&str, &str, &str, Get); 16] = [
        ("rampart_worker_packets_relayed_total", "counter", "Packets relayed, per worker.", |w| load(&w.packets_relayed)),
        ("rampart_worker_packets_dropped_total", "counter", "Packets dropped, per worker.", |w| load(&w.packets_dropped)),
        ("rampart_worker_batches_total", "counter", "I/O batches, per worker.", |w| load(&w.batches)),
        ("rampart_worker_send_calls_total", "counter", "Send operations (system calls, or io_uring sends), per worker.", |w| load(&w.send_calls)),
        ("rampart_worker_gso_sends_total", "counter", "Sends that carried several datagrams as one UDP GSO send, per worker.", |w| load(&w.gso_sends)),
        ("rampart_worker_batch_ticks_total", "counter", "Times the worker slept one batching tick under load (load-adaptive batching), per worker.", |w| load(&w.batch_ticks)),
        ("rampart_worker_kernel_drops_total", "counter", "Packets the kernel dropped because the worker fell behind (a socket's receive queue, or its AF_XDP rings, full), per worker.", |w| load(&w.kernel_drops)),
        ("rampart_worker_xdp_rx_total", "counter", "Frames received through the worker's AF_XDP socket, per worker.", |w| load(&w.xdp_rx)),
        ("rampart_worker_xdp_tx_total", "counter", "Frames sent through the worker's AF_XDP tx ring, per worker.", |w| load(&w.xdp_tx)),
        ("rampart_worker_xdp_slow_tx_total", "counter", "Packets of the AF_XDP path sent through the kernel socket instead (next hop unresolved or on another interface), per worker.", |w| load(&w.xdp_slow_tx)),
        ("rampart_worker_xdp_rx_rejected_total", "counter", "Frames steered to the AF_XDP socket that were not for a leg, per worker.", |w| load(&w.xdp_rx_rejected)),
        ("rampart_worker_xdp_tx_ring_full_total", "counter", "Packets dropped because the AF_XDP tx ring was full, per worker.", |w| load(&w.xdp_tx_ring_full)),
        ("rampart_worker_srtp_tags_multibuffer_total", "counter", "HMAC-SHA1 tags of SRTP/SRTCP packets a multi-buffer engine (AVX-512, AVX2) computed several at once for a receive batch, per worker.", |w| load(&w.srtp_tags_multibuffer)),
        ("rampart_worker_srtp_tags_single_total", "counter", "HMAC-SHA1 tags of a receive batch computed one at a time (too few to fill a vector call, or engine single), per worker.", |w| load(&w.srtp_tags_single)),
        ("rampart_worker_bundle_ssrc_collisions_total", "counter", "Packets dropped before they left a BUNDLE socket because another section on it sends with their SSRC (one key: the same SSRC twice would repeat keystream), per worker.", |w| load(&w.bundle_ssrc_collisions)),
        ("rampart_worker_calls", "gauge", "Calls owned, per worker.", |w| load(&w.calls)),
    ];
    for (name, kind, help, get) in families {
        out.labelled(
            name,
            kind,
            help,
            "worker",
            workers.iter().enumerate().map(|(i, w)| (i, get(w))),
        );
    }
}
