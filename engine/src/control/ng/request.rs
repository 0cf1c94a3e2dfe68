//! Parsing an ng request: the command, its call identity, SDP, and the
//! options and flags Kamailio and OpenSIPS send, each bounded.

use super::super::ng_bencode::Value;
use super::super::ng_call::{DtlsFlag, IceFlag, MediaOpts, NgError};
use crate::srtp::Suite;

/// A parsed ng request.
#[derive(Default)]
pub(super) struct Request {
    pub(super) command: String,
    pub(super) call_id: Option<String>,
    pub(super) from_tag: Option<String>,
    pub(super) to_tag: Option<String>,
    pub(super) via_branch: Option<String>,
    pub(super) sdp: Option<String>,
    /// Entries of list-valued options (`flags`, `replace`, `SDES`, ...)
    /// seen so far, against [`MAX_LIST_ITEMS`].
    pub(super) list_items: usize,
    pub(super) delete_delay: Option<u64>,
    pub(super) limit: Option<u64>,
    pub(super) fatal: bool,
    pub(super) all: bool,
    pub(super) media: MediaOpts,
    pub(super) warnings: Vec<String>,
    /// The client listed `supports: ["load limit"]` (Kamailio, OpenSIPS):
    /// at the call limit it gets `result: "load limit"`, as from rtpengine,
    /// and fails over to the next relay instead of failing the call.
    pub(super) supports_load_limit: bool,
}

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::ByteStr(b) => String::from_utf8(b.to_vec()).ok(),
        Value::Int(_) => v
            .as_i64()
            .map(|n| n.to_string())
            .or_else(|| v.as_u64().map(|n| n.to_string())),
        _ => None,
    }
}

/// Entries of list-valued options (`flags`, `replace`, `SDES`, `rtcp-mux`,
/// `supports`) a request may carry, all options together.
pub const MAX_LIST_ITEMS: usize = 256;
/// Bytes one entry of a list-valued option (one flag) may have.
pub const MAX_FLAG_BYTES: usize = 512;
/// Characters of request text echoed in a warning or an error.
pub(super) const ECHO_CHARS: usize = 64;
/// Warnings a reply names (the rest are counted).
pub(super) const MAX_WARNINGS: usize = 16;
/// Bytes of `warning` and `error-reason` at most.
pub(super) const MAX_REASON_BYTES: usize = 2048;
/// Via branches a call keeps (the oldest are forgotten).
pub const MAX_VIA_BRANCHES: usize = 32;
/// Bytes of a via branch at most.
pub(super) const MAX_BRANCH_BYTES: usize = 256;

/// Request text as echoed in a warning or an error: quoted, escaped, and
/// cut after [`ECHO_CHARS`] characters (a key of 60 KB of control bytes
/// must not become a 300 KB reply).
pub(super) fn shown(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == ECHO_CHARS {
            out.push_str(&format!("...\" ({} bytes)", s.len()));
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(super) fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut n = max;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s.push_str("...");
    }
    s
}

/// The entries of a list-valued option (a list, or one whitespace-separated
/// string), counted against [`MAX_LIST_ITEMS`] for the whole request and
/// each at most [`MAX_FLAG_BYTES`].
pub(super) fn texts(req: &mut Request, key: &str, v: &Value) -> Result<Vec<String>, NgError> {
    let mut out = Vec::new();
    let mut add = |req: &mut Request, t: &str| {
        req.list_items = req.list_items.saturating_add(1);
        if req.list_items > MAX_LIST_ITEMS {
            return Err(NgError::new(format!(
                "more than {MAX_LIST_ITEMS} flags and list entries in one request"
            )));
        }
        if t.len() > MAX_FLAG_BYTES {
            return Err(NgError::new(format!(
                "{key} entry of {} bytes is longer than the {MAX_FLAG_BYTES} allowed",
                t.len()
            )));
        }
        out.push(t.to_string());
        Ok(())
    };
    match v {
        Value::List(items) => {
            for t in items.iter().filter_map(text) {
                add(req, &t)?;
            }
        }
        other => {
            if let Some(t) = text(other) {
                for w in t.split_whitespace() {
                    add(req, w)?;
                }
            }
        }
    }
    Ok(out)
}

pub(super) fn norm(k: &str) -> String {
    k.trim()
        .chars()
        .map(|c| match c {
            '-' | '_' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

pub(super) fn suite_arg(name: &str, req: &mut Request) -> Option<Suite> {
    match Suite::from_name(&name.to_ascii_uppercase()) {
        Ok(s) => Some(s),
        Err(_) => {
            req.warnings.push(format!(
                "SDES suite {} is not supported; ignored",
                shown(name)
            ));
            None
        }
    }
}

pub(super) fn sdes(req: &mut Request, v: &str) {
    let lv = v.to_ascii_lowercase();
    match lv.as_str() {
        "off" | "no" | "disable" => req.media.sdes_off = true,
        "on" | "yes" | "enable" => {}
        "nonew" => req.media.sdes_nonew = true,
        "lifetime" => req.media.sdes_lifetime = true,
        // Rampart always writes padded base64, which every peer accepts.
        "pad" => {}
        _ => {
            if let Some(s) = lv.strip_prefix("no-") {
                if let Some(s) = suite_arg(s, req) {
                    req.media.sdes_no.push(s);
                }
            } else if let Some(s) = lv.strip_prefix("only-") {
                if let Some(s) = suite_arg(s, req) {
                    req.media.sdes_only.push(s);
                }
            } else {
                req.warnings.push(format!(
                    "SDES option {} is not supported; ignored",
                    shown(v)
                ));
            }
        }
    }
}

pub(super) fn rtcp_mux(req: &mut Request, v: &str) {
    match v.to_ascii_lowercase().as_str() {
        "offer" => req.media.mux_offer = true,
        // WebRTC peers: offered, and used even if the answer leaves it out.
        "require" => {
            req.media.mux_offer = true;
            req.media.mux_require = true;
        }
        "accept" => req.media.mux_accept = true,
        "demux" => req.media.mux_demux = true,
        "reject" => req.media.mux_reject = true,
        _ => req.warnings.push(format!(
            "rtcp-mux option {} is not supported; ignored",
            shown(v)
        )),
    }
}

pub(super) fn replace(req: &mut Request, v: &str) {
    match norm(v).as_str() {
        "origin" => req.media.replace_origin = true,
        // Rampart always rewrites the session-level c= line.
        "session connection" => {}
        _ => req.warnings.push(format!(
            "replace option {} is not supported; ignored",
            shown(v)
        )),
    }
}

pub(super) fn transport(req: &mut Request, v: &str) -> Result<(), NgError> {
    let up = v.to_ascii_uppercase();
    match up.as_str() {
        "RTP/AVP" | "RTP/SAVP" | "RTP/AVPF" | "RTP/SAVPF" | "UDP/TLS/RTP/SAVP"
        | "UDP/TLS/RTP/SAVPF" => {
            req.media.transport_protocol = Some(up);
            Ok(())
        }
        _ => Err(NgError::new(format!(
            "unknown transport-protocol {}",
            shown(v)
        ))),
    }
}

/// `ICE=...` as rtpengine spells it.
pub(super) fn ice(req: &mut Request, v: &str) {
    req.media.ice = match norm(v).as_str() {
        "remove" => IceFlag::Remove,
        "force" => IceFlag::Force,
        "default" => IceFlag::Default,
        _ => {
            req.warnings.push(format!(
                "ICE={} is not supported; ICE follows the offer (default)",
                shown(v)
            ));
            IceFlag::Default
        }
    }
}

/// `DTLS=...` as rtpengine spells it.
pub(super) fn dtls(req: &mut Request, v: &str) {
    req.media.dtls = match norm(v).as_str() {
        "off" | "no" | "disable" => DtlsFlag::Off,
        "passive" => DtlsFlag::Passive,
        "active" => DtlsFlag::Active,
        _ => {
            req.warnings.push(format!(
                "DTLS={} is not supported; DTLS follows the offer",
                shown(v)
            ));
            DtlsFlag::Default
        }
    }
}

/// Flags that need no action (Rampart's behaviour already matches, or the
/// flag concerns rtpengine features Rampart has no equivalent for that do
/// not change the media path).
pub(super) const QUIET_FLAGS: &[&str] = &[
    "trust address",
    "sip source address",
    "symmetric",
    "asymmetric",
    "port latching",
    "media handover",
    "no port latching",
    "loop protect",
    "full rtcp attribute",
    "strip extmap",
];

pub(super) fn flag(req: &mut Request, f: &str) -> Result<(), NgError> {
    let n = norm(f);
    if let Some((k, v)) = f.split_once('=') {
        // `key=value` sets an option, but never `flags` again: request data
        // is not recursed on (`flags=flags=...` nested thousands of times
        // overflowed the thread's stack).
        if norm(k) == "flags" {
            return Err(NgError::new("a flag may not set flags (flags=...)"));
        }
        return option(req, k, &Value::ByteStr(v.as_bytes().into()));
    }
    match n.as_str() {
        "strict source" => req.media.strict_source = true,
        "generate mid" => req.media.generate_mid = true,
        "fatal" => req.fatal = true,
        "all" => req.all = true,
        "rtp/avp" | "rtp/savp" | "rtp/avpf" | "rtp/savpf" | "udp/tls/rtp/savp"
        | "udp/tls/rtp/savpf" => transport(req, f)?,
        _ if QUIET_FLAGS.contains(&n.as_str()) => {}
        _ => {
            if let Some(v) = n.strip_prefix("sdes ") {
                sdes(req, &v.replace(' ', "-"));
            } else if let Some(v) = n.strip_prefix("rtcp mux ") {
                rtcp_mux(req, v);
            } else if let Some(v) = n.strip_prefix("replace ") {
                replace(req, v);
            } else {
                req.warnings
                    .push(format!("flag {} is not supported; ignored", shown(f)));
            }
        }
    }
    Ok(())
}

pub(super) fn option(req: &mut Request, key: &str, v: &Value) -> Result<(), NgError> {
    let k = norm(key);
    let one = || text(v).unwrap_or_default();
    match k.as_str() {
        "command" => req.command = one().to_ascii_lowercase(),
        "call id" => req.call_id = text(v),
        "from tag" => req.from_tag = text(v),
        "to tag" => req.to_tag = text(v),
        "via branch" => {
            let b = text(v).unwrap_or_default();
            if b.len() > MAX_BRANCH_BYTES || b.chars().any(char::is_control) {
                return Err(NgError::new(format!(
                    "via-branch must be at most {MAX_BRANCH_BYTES} printable characters"
                )));
            }
            req.via_branch = Some(b);
        }
        "sdp" => {
            req.sdp = Some(text(v).ok_or_else(|| NgError::new("the sdp value is not UTF-8 text"))?)
        }
        "flags" => {
            for f in texts(req, "flags", v)? {
                flag(req, &f)?;
            }
        }
        "replace" => {
            for r in texts(req, "replace", v)? {
                replace(req, &r);
            }
        }
        "transport protocol" => transport(req, &one())?,
        "ice" => ice(req, &one()),
        "dtls" => dtls(req, &one()),
        "sdes" => {
            for s in texts(req, "SDES", v)? {
                sdes(req, &s);
            }
        }
        "rtcp mux" => {
            for s in texts(req, "rtcp-mux", v)? {
                rtcp_mux(req, &s);
            }
        }
        // One media interface per address family: nothing to choose.
        "direction" | "received from" | "media address" => {}
        "address family" => {
            req.media.family_v6 = match one().to_ascii_uppercase().as_str() {
                "IP4" => Some(false),
                "IP6" => Some(true),
                other => {
                    return Err(NgError::new(format!(
                        "unknown address family {}",
                        shown(other)
                    )))
                }
            }
        }
        "delete delay" => {
            req.delete_delay = Some(
                one()
                    .parse()
                    .map_err(|_| NgError::new("delete-delay must be a number of seconds"))?,
            )
        }
        "supports" => {
            for s in texts(req, "supports", v)? {
                if s.eq_ignore_ascii_case("load limit") {
                    req.supports_load_limit = true;
                }
            }
        }
        "rampart device" => req.media.me.device = Some(device_name(&one())?),
        "rampart peer device" => req.media.peer.device = Some(device_name(&one())?),
        "rampart kind" => req.media.me.kind = Some(leg_kind(&one())?),
        "rampart peer kind" => req.media.peer.kind = Some(leg_kind(&one())?),
        "rampart security" => req.media.me.security = Some(security_mode(&one())?),
        "rampart peer security" => req.media.peer.security = Some(security_mode(&one())?),
        "limit" => {
            req.limit = Some(
                one()
                    .parse()
                    .map_err(|_| NgError::new("limit must be a number"))?,
            )
        }
        _ => req
            .warnings
            .push(format!("option {} is not supported; ignored", shown(key))),
    }
    Ok(())
}

pub(super) fn device_name(v: &str) -> Result<String, NgError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(NgError::new(
            "rampart-device must be 1 to 128 printable characters",
        ));
    }
    Ok(v.to_string())
}

pub(super) fn leg_kind(v: &str) -> Result<crate::policy::LegKind, NgError> {
    let n = v.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    crate::policy::LegKind::ALL
        .into_iter()
        .find(|k| k.as_str() == n)
        .ok_or_else(|| {
            let all: Vec<&str> = crate::policy::LegKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            NgError::new(format!(
                "unknown rampart-kind {}; known: {}",
                shown(v),
                all.join(", ")
            ))
        })
}

pub(super) fn security_mode(v: &str) -> Result<crate::policy::SecurityMode, NgError> {
    let n = v.trim().to_ascii_lowercase();
    crate::policy::SecurityMode::ALL
        .into_iter()
        .find(|m| m.as_str() == n)
        .ok_or_else(|| {
            NgError::new(format!(
                "unknown rampart-security {}; use nonsecure, authenticated or encrypted",
                shown(v)
            ))
        })
}

pub(super) fn parse_request(v: &Value) -> Result<Request, NgError> {
    let Value::Dict(d) = v else {
        return Err(NgError::new("the request is not a dictionary"));
    };
    let mut req = Request::default();
    for (k, v) in d {
        let key = String::from_utf8_lossy(k);
        option(&mut req, &key, v)?;
    }
    if req.command.is_empty() {
        return Err(NgError::new("No command given"));
    }
    Ok(req)
}

pub(super) fn need<'a>(v: &'a Option<String>, what: &str) -> Result<&'a str, NgError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(NgError::new(format!("No {what} given"))),
    }
}

pub(super) fn check_call_id(id: &str) -> Result<(), NgError> {
    if id.len() > 256 || id.chars().any(char::is_control) {
        return Err(NgError::new(
            "call-id must be 1 to 256 printable characters",
        ));
    }
    Ok(())
}
