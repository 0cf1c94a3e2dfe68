//! The ng control protocol of rtpengine, as Kamailio's and OpenSIPS'
//! rtpengine modules speak it (documented in `docs/ng.md`).
//!
//! Why speak it: every deployment that drives rtpengine today can point its
//! `rtpengine_sock` at Rampart. A request is `cookie SP bencoded-dict`
//! (one UDP datagram, or a stream of them over TCP); the reply is
//! `cookie SP bencoded-dict` with `result` = `ok` | `pong` | `error` (and
//! `error-reason`), plus `warning` when an option Rampart does not support
//! was ignored, the way rtpengine does.
//!
//! Security: ng has no authentication, and an offer's reply carries SRTP
//! keys. The listener is off unless enabled, binds loopback by default, and
//! requests from sources outside `[ng] allow` are dropped unanswered
//! (counted). Requests above `max_request_bytes` and bencode deeper or
//! larger than the bounds in [`ng_bencode`](super::ng_bencode) get an error.
//!
//! Replies are cached by (source address, cookie, body hash) for
//! `cookie_cache_secs`, within `reply_cache_bytes`, so a retransmitted offer
//! is answered again rather than executed twice, and nobody else's request
//! with the same cookie gets that reply (it carries keys). A retransmission
//! that arrives while its original is running waits for, and gets, the
//! original's reply. Commands on different calls run at once (no lock is
//! shared between calls, see `calls::store`); commands on one call run in
//! order.
//!
//! Layout: [`request`] parses, [`commands`] runs the call commands on the
//! call store, [`report`] writes `query`/`delete` reports, [`cache`] keeps
//! replies, [`server`] serves UDP and TCP on the node's runtime; this file
//! ties them together (`handle`) and keeps the counters.
//!
//! Hostile input: request data is never recursed on (a `flags` entry
//! `flags=...` is an error), flags and list entries are counted and bounded
//! ([`MAX_LIST_ITEMS`], [`MAX_FLAG_BYTES`]), request text echoed in warnings
//! and errors is cut short, every number from a request is used with
//! saturating arithmetic, a reply too large to send is not sent, not cached,
//! and the offer that made it is rolled back. A panic while handling one
//! request becomes an error reply (counted in `panics`); housekeeping runs in
//! its own task. ng TCP closes idle connections and caps connections per
//! source.

mod commands;
mod report;
mod request;
pub mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::calls::{now_ms, LegTotals, Origin, Slot};
use super::ng_bencode::{self as ben, Dict, Limits, Scan, Scanner, Value};
use super::ng_call::{NgCall, NgError};
use super::ng_state::{split_cookie, CacheKey, Claim};
use super::shared::Shared;
use commands::{answer, delete, end_unborn, list, offer, query};
use request::{cut, parse_request, shown, Request, MAX_REASON_BYTES, MAX_WARNINGS};

pub use super::ng_state::{NgAddrs, NgCounters, NgState, COMMANDS, NG_ERROR_KINDS};
pub use crate::cidr::Cidr;
pub use request::{MAX_FLAG_BYTES, MAX_LIST_ITEMS, MAX_VIA_BRANCHES};
pub use server::{start, NgServers, MAX_UDP_REPLY};

/// `cookie SP bencode(v)`.
fn frame(cookie: &[u8], v: Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    out.extend_from_slice(&ben::encode(&v));
    out
}

/// An error reply, its reason cut to [`MAX_REASON_BYTES`].
fn error(reason: String) -> Value {
    let mut d = Dict::new();
    d.str("result", "error")
        .str("error-reason", cut(reason, MAX_REASON_BYTES));
    d.into_value()
}

/// The `warning` of a reply: the first [`MAX_WARNINGS`] warnings (the rest
/// counted), at most [`MAX_REASON_BYTES`].
fn warning_text(warnings: &[String]) -> String {
    let mut w = warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if warnings.len() > MAX_WARNINGS {
        w.push_str(&format!("; and {} more", warnings.len() - MAX_WARNINGS));
    }
    cut(w, MAX_REASON_BYTES)
}

/// Runs `f` (the handling of `msg`); a panic in it is caught, counted and
/// answered as an error with `msg`'s cookie.
fn guarded(
    counters: &NgCounters,
    msg: &[u8],
    f: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            counters.panics.fetch_add(1, Ordering::Relaxed);
            counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("an ng request panicked; answered with an error");
            let (cookie, _) = split_cookie(msg)?;
            Some(frame(
                cookie,
                error("internal error while handling the request".into()),
            ))
        }
    }
}

impl NgState {
    /// Via branches the call `call_id` keeps, if it exists.
    pub fn via_branch_count(&self, call_id: &str) -> Option<usize> {
        let slot = self.calls.get(call_id)?;
        slot.command(|rec| {
            rec.as_any()
                .downcast_ref::<NgCall>()
                .map(|c| c.branches.len())
        })
        .flatten()
    }

    /// Handles one request (`cookie SP bencode`) from `src`; returns the
    /// reply, or `None` when there is nothing to answer (no cookie). A reply
    /// longer than `max_reply` bytes (one UDP datagram) is replaced by a
    /// short error, not cached, and an offer that created a call for it is
    /// rolled back (the call and its ports freed).
    pub fn handle(
        &self,
        s: &Shared,
        src: SocketAddr,
        msg: &[u8],
        max_reply: usize,
    ) -> Option<Vec<u8>> {
        let (cookie, body) = split_cookie(msg).or_else(|| {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            None
        })?;
        if msg.len() > self.max_request {
            self.counters.refused_size.fetch_add(1, Ordering::Relaxed);
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return Some(frame(
                cookie,
                error(format!(
                    "request of {} bytes is larger than the {} allowed",
                    msg.len(),
                    self.max_request
                )),
            ));
        }
        let now = now_ms();
        let key = self.cache_key(src, cookie, body);
        match self.cached_or_claim(&key, now) {
            Claim::Cached(r) => {
                self.counters.cached.fetch_add(1, Ordering::Relaxed);
                return Some(r);
            }
            Claim::Busy => return None,
            Claim::Mine => {}
        }
        // Unmarks the request also if handling it panics.
        struct InFlight<'a> {
            ng: &'a NgState,
            key: &'a CacheKey,
            reply: Option<(Vec<u8>, u64)>,
        }
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.ng.done(self.key, self.reply.take());
            }
        }
        let mut mark = InFlight {
            ng: self,
            key: &key,
            reply: None,
        };
        let out = self.answer_request(s, cookie, body, max_reply);
        let ttl = s.config.ng.cookie_cache_secs;
        if ttl > 0 && out.len() <= max_reply {
            mark.reply = Some((out.clone(), now.saturating_add(ttl.saturating_mul(1000))));
        }
        drop(mark);
        Some(out)
    }

    /// The framed reply to one request body.
    fn answer_request(&self, s: &Shared, cookie: &[u8], body: &[u8], max_reply: usize) -> Vec<u8> {
        let mut created = None;
        let reply = match ben::decode(body, &self.limits) {
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                error(format!("Could not decode the request: {e}"))
            }
            Ok(v) => match parse_request(&v) {
                Err(e) => error(e.to_string()),
                Ok(req) => {
                    let ci = COMMANDS
                        .iter()
                        .position(|c| *c == req.command)
                        .unwrap_or(COMMANDS.len() - 1);
                    self.counters.commands[ci].fetch_add(1, Ordering::Relaxed);
                    let mut warnings = req.warnings.clone();
                    match self.run(s, req, &mut warnings, &mut created) {
                        Ok(mut d) => {
                            if !warnings.is_empty() {
                                d.str("warning", warning_text(&warnings));
                            }
                            d.into_value()
                        }
                        Err(e) => {
                            if let Some(i) = NG_ERROR_KINDS.iter().position(|k| *k == e.kind()) {
                                self.counters.errors_by_kind[i].fetch_add(1, Ordering::Relaxed);
                            }
                            error(e.to_string())
                        }
                    }
                }
            },
        };
        let mut is_error = reply.get("result").and_then(Value::as_str) == Some("error");
        let mut out = frame(cookie, reply);
        if out.len() > max_reply {
            is_error = true;
            self.counters
                .replies_too_large
                .fetch_add(1, Ordering::Relaxed);
            if let Some((id, slot)) = created.take() {
                end_unborn(s, &id, &slot);
                s.totals.refused_invalid.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call_id = %id, bytes = out.len(), "ng offer rolled back: its reply is too large to send");
            }
            out = frame(
                cookie,
                error(format!(
                    "the reply of {} bytes is larger than the {max_reply} that can be sent; nothing was done",
                    out.len()
                )),
            );
        }
        if let Some((id, _)) = created {
            s.totals.created.fetch_add(1, Ordering::Relaxed);
            self.counters.calls_created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(call_id = %id, "ng call created");
        }
        if is_error {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    /// [`NgState::handle`], with a panic while handling the request caught
    /// and answered as an error (counted in `panics`): one request must
    /// never take the process or the listener down.
    pub fn handle_guarded(
        &self,
        s: &Shared,
        src: SocketAddr,
        msg: &[u8],
        max_reply: usize,
    ) -> Option<Vec<u8>> {
        guarded(&self.counters, msg, || self.handle(s, src, msg, max_reply))
    }

    fn run(
        &self,
        s: &Shared,
        req: Request,
        warnings: &mut Vec<String>,
        created: &mut Option<(String, Arc<Slot>)>,
    ) -> Result<Dict, NgError> {
        match req.command.as_str() {
            "ping" => {
                let mut reply = Dict::new();
                reply.str("result", "pong");
                Ok(reply)
            }
            "offer" => offer(s, req, warnings, created),
            "answer" => answer(s, req, warnings),
            "delete" => delete(s, req, warnings),
            "query" => query(s, req),
            "list" => Ok(list(s, req)),
            "statistics" => Ok(self.statistics(s)),
            other => Err(NgError::new(format!(
                "Unrecognized command {}",
                shown(other)
            ))),
        }
    }

    /// The `statistics` reply.
    fn statistics(&self, s: &Shared) -> Dict {
        let own = s.calls.len(Some(Origin::Ng)) as u64;
        let all = s.calls.len(None) as u64;
        let t = &s.totals;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut cur = Dict::new();
        let (packets, bytes, errors) = self.rates.lock().map(|r| r.per_sec).unwrap_or_default();
        cur.int("sessionsown", own)
            .int("sessionsforeign", 0)
            .int("sessionstotal", all)
            .int("transcodedmedia", 0)
            .int("packetrate", packets)
            .int("byterate", bytes)
            .int("errorrate", errors);
        let mut tot = Dict::new();
        tot.int("uptime", now_ms().saturating_sub(s.started_ms) / 1000)
            .int("managedsessions", g(&t.created))
            .int(
                "rejectedsessions",
                g(&t.refused_limit) + g(&t.refused_ports) + g(&t.refused_invalid),
            )
            .int(
                "timeoutsessions",
                g(&t.timed_out_no_media) + g(&t.timed_out_max_duration) + g(&t.timed_out_offer),
            )
            .int("finalsessions", g(&t.deleted));
        let mut ctl = Dict::new();
        for (i, c) in COMMANDS.iter().enumerate() {
            ctl.int(c, g(&self.counters.commands[i]));
        }
        ctl.int("errors", g(&self.counters.errors))
            .int("cached", g(&self.counters.cached))
            .int("panics", g(&self.counters.panics));
        let mut st = Dict::new();
        st.set("currentstatistics", cur.into_value())
            .set("totalstatistics", tot.into_value())
            .set("controlstatistics", ctl.into_value());
        let mut reply = Dict::new();
        reply.str("result", "ok").set("statistics", st.into_value());
        reply
    }

    /// Housekeeping: samples the media rates and expires cached replies.
    /// (Calls end through the node's reaper, [`Shared::reap`].)
    pub fn tick(&self, s: &Shared) {
        let now = now_ms();
        let due = self
            .rates
            .lock()
            .map(|r| r.last.is_none_or(|l| now.saturating_sub(l.0) >= 1000))
            .unwrap_or(false);
        if due {
            let totals = LegTotals::now(s);
            if let Ok(mut r) = self.rates.lock() {
                r.sample(now, &totals);
            }
        }
        self.cache().expire(now);
    }
}

/// The ng request path without a node, for fuzzing: splits the cookie,
/// scans and decodes the bencode (one shot and resumed in pieces, which
/// must agree), and parses the command and its options. Panics only on a
/// bug.
#[doc(hidden)]
pub fn fuzz_ng_request(data: &[u8]) {
    let limits = Limits {
        max_bytes: 65536,
        ..Limits::default()
    };
    let Some((_, body)) = split_cookie(data) else {
        return;
    };
    // Resumed in pieces of 1..=64 bytes (from the cookie's length), the
    // scan must reach the same verdict as in one go.
    let piece = data.len() % 64 + 1;
    let once = ben::scan(body, &limits);
    let mut sc = Scanner::new();
    let mut end = 0;
    let resumed = loop {
        end = (end + piece).min(body.len());
        match sc.resume(&body[..end], &limits) {
            Ok(Scan::Incomplete) if end < body.len() => continue,
            r => break r,
        }
    };
    assert_eq!(once.is_ok(), resumed.is_ok(), "{once:?} vs {resumed:?}");
    if let (Ok(a), Ok(b)) = (&once, &resumed) {
        assert_eq!(a, b);
    }
    assert!(sc.work() <= 2 * body.len() + (body.len() / piece + 1) * 64 + 64);
    let Ok(v) = ben::decode(body, &limits) else {
        return;
    };
    if let Ok(req) = parse_request(&v) {
        assert!(req.list_items <= MAX_LIST_ITEMS);
        let w = warning_text(&req.warnings);
        assert!(w.len() <= MAX_REASON_BYTES + 3);
    }
}

#[cfg(test)]
mod tests {
    use super::report::add_branch;
    use super::*;
    use crate::control::ng_call::NgCall;
    use crate::srtp::Suite;

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let c = Cidr::parse("::1").unwrap();
        assert!(c.contains("::1".parse().unwrap()));
        assert!(!c.contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("192.0.2.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    fn parse(body: &[u8]) -> Result<Request, NgError> {
        parse_request(&ben::decode(body, &Limits::default()).unwrap())
    }

    #[test]
    fn nested_flags_are_an_error_not_recursion() {
        let f = format!("{}fatal", "flags=".repeat(6000));
        let body = format!("d7:command4:ping5:flagsl{}:{f}ee", f.len());
        let e = parse(body.as_bytes()).err().expect("an error");
        assert!(e.to_string().contains("flags"), "{e}");
        // One level of `key=value` is still an option.
        let r = parse(b"d7:command4:ping5:flagsl10:ICE=remove19:rampart-device=SEP1ee").unwrap();
        assert_eq!(r.media.me.device.as_deref(), Some("SEP1"));
    }

    #[test]
    fn echoed_text_is_cut_short() {
        let key = "\u{1}".repeat(60_000);
        let shown = shown(&key);
        assert!(shown.len() < 64 * 6 + 32, "{}", shown.len());
        assert!(shown.ends_with("(60000 bytes)"), "{shown}");
        assert_eq!(super::shown("a\"b"), "\"a\\\"b\"");
        let many: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let w = warning_text(&many);
        assert!(w.ends_with("and 84 more"), "{w}");
        let long = vec!["é".repeat(5000)];
        assert!(warning_text(&long).len() <= MAX_REASON_BYTES + 3);
    }

    #[test]
    fn a_panicking_request_is_answered_with_an_error() {
        let c = NgCounters::default();
        let r = guarded(&c, b"k1 d7:command4:pinge", || panic!("boom")).unwrap();
        assert!(r.starts_with(b"k1 d12:error-reason"), "{r:?}");
        assert_eq!(c.panics.load(Ordering::Relaxed), 1);
        assert_eq!(c.errors.load(Ordering::Relaxed), 1);
        // Without a cookie there is nothing to answer.
        assert!(guarded(&c, b"nocookie", || panic!("boom")).is_none());
        assert_eq!(
            guarded(&c, b"k1 x", || Some(b"ok".to_vec())),
            Some(b"ok".to_vec())
        );
    }

    #[test]
    fn via_branches_keep_the_newest() {
        let mut call = NgCall::new("c", 0, 0);
        for i in 0..100 {
            add_branch(&mut call, &Some(format!("b{i}")));
        }
        assert_eq!(call.branches.len(), MAX_VIA_BRANCHES);
        assert_eq!(call.branches.last().map(String::as_str), Some("b99"));
        assert_eq!(call.branches[0], format!("b{}", 100 - MAX_VIA_BRANCHES));
    }

    #[test]
    fn request_options() {
        fn bs(out: &mut Vec<u8>, x: &str) {
            out.extend_from_slice(format!("{}:{x}", x.len()).as_bytes());
        }
        let mut b = b"d".to_vec();
        for (k, v) in [
            ("command", &["offer"][..]),
            ("flags", &["trust-address", "SDES-off"][..]),
            ("replace", &["origin"][..]),
            ("SDES", &["no-AEAD_AES_128_GCM", "nonew"][..]),
            ("rtcp-mux", &["demux"][..]),
            ("address family", &["IP6"][..]),
            ("transport-protocol", &["RTP/SAVP"][..]),
            ("record", &["call"][..]),
        ] {
            bs(&mut b, k);
            if matches!(k, "flags" | "replace" | "SDES" | "rtcp-mux") {
                b.push(b'l');
                for x in v {
                    bs(&mut b, x);
                }
                b.push(b'e');
            } else {
                bs(&mut b, v[0]);
            }
        }
        b.extend_from_slice(b"12:delete-delayi5ee");
        let v = ben::decode(&b, &Limits::default()).unwrap();
        let r = parse_request(&v).unwrap();
        assert_eq!(r.command, "offer");
        assert!(r.media.sdes_off && r.media.sdes_nonew && r.media.mux_demux);
        assert!(r.media.replace_origin);
        assert_eq!(r.media.sdes_no, vec![Suite::AeadAes128Gcm]);
        assert_eq!(r.media.family_v6, Some(true));
        assert_eq!(r.delete_delay, Some(5));
        assert_eq!(r.media.transport_protocol.as_deref(), Some("RTP/SAVP"));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("record"));
    }
}
