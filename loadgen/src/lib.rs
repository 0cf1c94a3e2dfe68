//! `rampart-loadgen`: drives real SRTP calls through a media relay and
//! reports what arrived.
//!
//! - [`target`]: call setup through the relay's control interface
//!   (Rampart's HTTP API, or the ng protocol of rtpengine), with
//!   [`bencode`], [`sdp`] and [`http`] underneath.
//! - [`player`]: the phones: paced, batched SRTP senders and checking
//!   receivers over [`batch`] (`sendmmsg`/`recvmmsg` through rampart-sys).
//! - [`payload`]: the packets and the traffic profiles (G.711, G.729,
//!   Opus-like, video).
//! - [`stats`], [`series`], [`cpu`], [`report`], [`html`]: what was
//!   measured (totals, per-second series, snapshots) and how it is shown
//!   (table, JSON, HTML with SVG plots).
//! - [`runner`]: one measured run, and the step search over call counts.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod bencode;
pub mod cpu;
pub mod html;
pub mod http;
pub mod payload;
pub mod player;
pub mod report;
pub mod runner;
pub mod sdp;
pub mod series;
pub mod stats;
pub mod target;

pub use report::{Report, StepReport};
pub use runner::{run, step_search, RunConfig, StepConfig};
pub use target::{CallSetup, LegMode, LegSetup, Target, TargetSpec};

/// Parses a duration: `90`, `90s`, `500ms`, `10m`, `1h`, `1.5h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 10s, 5m, 1h)"))?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "s" | "sec" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?} (ms, s, m, h)")),
    };
    if !(0.0..1e7).contains(&secs) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Parses a rate: `50`, `50/s`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches("/s")
        .trim()
        .parse()
        .map_err(|_| format!("bad rate {s:?} (e.g. 200/s)"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("bad rate {s:?}"))
    }
}

/// Reads a JSON report of `run`: a single run, or a step search (its
/// highest passing step, else its last).
pub fn load_report(path: &std::path::Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if v.get("steps").is_some() {
        let s: StepReport =
            serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))?;
        let pick = s
            .best_calls
            .and_then(|n| s.steps.iter().rev().find(|r| r.calls == n))
            .or(s.steps.last())
            .cloned();
        return pick.ok_or_else(|| format!("{}: step search without steps", path.display()));
    }
    serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("x").is_err());
        assert_eq!(parse_rate("200/s").unwrap(), 200.0);
        assert_eq!(parse_rate("7").unwrap(), 7.0);
        assert!(parse_rate("-1").is_err());
    }
}
