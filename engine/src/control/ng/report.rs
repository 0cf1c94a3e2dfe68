//! The `query` and `delete` reports: a call's streams, legs and counters in
//! rtpengine's layout (two streams per media, flagged RTP and RTCP).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::calls::LEG_COUNTERS;
use super::super::ng_bencode::{self as ben, Dict, Value};
use super::super::ng_call::NgCall;
use super::request::MAX_VIA_BRANCHES;

/// What one leg received, split as rtpengine reports it: RTP and RTCP.
pub(super) struct LegIn {
    rtp: [u64; 3],
    rtcp: [u64; 3],
    all: Value,
}

/// `[packets, bytes, errors]` as an ng `stats` dictionary.
pub(super) fn stats_dict(v: [u64; 3]) -> Value {
    let mut st = Dict::new();
    st.int("packets", v[0])
        .int("bytes", v[1])
        .int("errors", v[2]);
    st.into_value()
}

pub(super) fn leg_stats(c: &crate::dataplane::LegCounters) -> LegIn {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let errors = g(&c.auth_failures) + g(&c.replays) + g(&c.malformed) + g(&c.unknown_ssrc);
    let rtcp = [g(&c.rtcp_in), g(&c.rtcp_bytes_in), g(&c.rtcp_errors)];
    let rtp = [
        g(&c.packets_in).saturating_sub(rtcp[0]),
        g(&c.bytes_in).saturating_sub(rtcp[1]),
        errors.saturating_sub(rtcp[2]),
    ];
    let mut all = Dict::new();
    for (name, get) in LEG_COUNTERS.iter() {
        all.int(name, g(get(c)));
    }
    all.int("last_packet_ms", g(&c.last_packet_ms));
    LegIn {
        rtp,
        rtcp,
        all: all.into_value(),
    }
}

pub(super) fn endpoint(a: SocketAddr) -> Value {
    let mut d = Dict::new();
    d.str("family", if a.is_ipv4() { "IPv4" } else { "IPv6" })
        .str("address", a.ip().to_string())
        .int("port", u64::from(a.port()));
    d.into_value()
}

/// The `query` (and `delete`) answer for one call.
pub(super) fn call_report(call: &NgCall, reply: &mut Dict) {
    reply
        .int("created", call.created_ms / 1000)
        .int("created_us", call.created_ms.saturating_mul(1000))
        .int("last signal", call.last_signal_ms / 1000)
        .str("security", call.security().as_str())
        .int("rampart policy generation", call.sec.generation());
    let reports = call.stream_reports();
    let mut tags = Dict::new();
    let (mut rtp_t, mut rtcp_t) = ([0u64; 3], [0u64; 3]);
    for side in 0..2 {
        let tag = call.tags[side].clone().unwrap_or_default();
        let other = call.tags[1 - side].clone().unwrap_or_default();
        let mut medias = Vec::new();
        for r in &reports {
            let l = &r.legs[side];
            let li = leg_stats(&l.counters);
            for k in 0..3 {
                rtp_t[k] += li.rtp[k];
                rtcp_t[k] += li.rtcp[k];
            }
            // Two streams per media, as rtpengine lists them: RTP, then
            // RTCP (on the RTP port when muxed, else the next one).
            let mut s = Dict::new();
            s.int("local port", u64::from(l.local.port()))
                .set("local endpoint", endpoint(l.local))
                .set("stats", stats_dict(li.rtp))
                .set("flags", ben::string_list(vec!["RTP"]))
                .set("rampart stats", li.all);
            if let Some(a) = l.remote {
                s.set("advertised endpoint", endpoint(a));
            }
            if let Some(a) = l.latched.or(l.remote) {
                s.set("endpoint", endpoint(a));
            }
            let rtcp_local = if l.rtcp_mux {
                l.local
            } else {
                SocketAddr::new(l.local.ip(), l.local.port().wrapping_add(1))
            };
            let rtcp_peer = |a: SocketAddr| {
                if l.rtcp_mux {
                    a
                } else {
                    SocketAddr::new(a.ip(), a.port().wrapping_add(1))
                }
            };
            let mut sc = Dict::new();
            sc.int("local port", u64::from(rtcp_local.port()))
                .set("local endpoint", endpoint(rtcp_local))
                .set("stats", stats_dict(li.rtcp))
                .set("flags", ben::string_list(vec!["RTCP"]));
            if let Some(a) = l.remote {
                sc.set("advertised endpoint", endpoint(rtcp_peer(a)));
            }
            if let Some(a) = l.latched_rtcp.or(l.remote.map(rtcp_peer)) {
                sc.set("endpoint", endpoint(a));
            }
            let mut m = Dict::new();
            let mut flags = Vec::new();
            if l.rtcp_mux {
                flags.push("rtcp-mux");
            }
            if r.rejected {
                flags.push("rejected");
            }
            if r.relayed {
                flags.push("relayed");
            }
            m.int("index", r.index as u64)
                .str("type", r.kind.clone())
                .str("protocol", l.protocol.clone())
                .set(
                    "streams",
                    Value::List(vec![s.into_value(), sc.into_value()]),
                )
                .set("flags", ben::string_list(flags));
            if let Some(su) = l.suite {
                m.str("crypto suite", su.name());
            }
            medias.push(m.into_value());
        }
        let mut t = Dict::new();
        let (mode, who) = call.side_policy(side);
        if let Some(m) = mode {
            t.str("rampart security", m.as_str());
        }
        if let Some(d) = &who.device {
            t.str("rampart device", d.clone());
        }
        t.str(
            "rampart kind",
            who.kind.unwrap_or(crate::policy::LegKind::Phone).as_str(),
        );
        t.str("tag", tag.clone())
            .int("created", call.created_ms / 1000)
            .str("in dialogue with", other)
            .set("medias", Value::List(medias));
        tags.set(&tag, t.into_value());
    }
    let mut totals = Dict::new();
    totals
        .set("RTP", stats_dict(rtp_t))
        .set("RTCP", stats_dict(rtcp_t));
    reply
        .set("tags", tags.into_value())
        .set("totals", totals.into_value());
}

/// Remembers a via branch of the call, keeping the newest
/// [`MAX_VIA_BRANCHES`].
pub(super) fn add_branch(call: &mut NgCall, b: &Option<String>) {
    let Some(b) = b.as_ref().filter(|b| !b.is_empty()) else {
        return;
    };
    if call.branches.contains(b) {
        return;
    }
    if call.branches.len() >= MAX_VIA_BRANCHES {
        let excess = call.branches.len() + 1 - MAX_VIA_BRANCHES;
        call.branches.drain(..excess);
    }
    call.branches.push(b.clone());
}
