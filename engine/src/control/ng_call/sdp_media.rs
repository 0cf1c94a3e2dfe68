//! Reading and writing the media sections of an SDP for ng: addresses,
//! profiles, the peer's `a=crypto` lines, the rewritten `m=` line.

use super::*;

pub(super) fn media_address(
    cfg: &Config,
    v6: bool,
    warnings: &mut Vec<String>,
) -> Result<IpAddr, NgError> {
    let addrs = &cfg.media.addresses;
    let ip = match addrs.iter().find(|a| a.is_ipv6() == v6) {
        Some(a) => *a,
        None => {
            let a = *addrs
                .first()
                .ok_or_else(|| NgError::new("no media address configured"))?;
            warnings.push(format!(
                "no {} media address configured; using {a}",
                if v6 { "IPv6" } else { "IPv4" }
            ));
            a
        }
    };
    if ip.is_unspecified() {
        return Err(NgError::new(format!(
            "media address {ip} cannot be announced in SDP; configure a concrete address"
        )));
    }
    Ok(ip)
}

pub(super) fn normalize_proto(p: &str) -> String {
    // DTLS-SRTP is not supported: a UDP/TLS profile becomes the SDES one.
    let up = p.to_ascii_uppercase();
    match up.as_str() {
        "UDP/TLS/RTP/SAVP" => "RTP/SAVP".into(),
        "UDP/TLS/RTP/SAVPF" => "RTP/SAVPF".into(),
        _ => p.to_string(),
    }
}

pub(super) fn proto_is_srtp(p: &str) -> bool {
    p.to_ascii_uppercase().contains("SAVP")
}

/// The plain (or secure) twin of a profile: `RTP/SAVPF` ↔ `RTP/AVPF`.
pub(super) fn proto_with_srtp(p: &str, srtp: bool) -> String {
    let feedback = p.to_ascii_uppercase().ends_with('F');
    match (srtp, feedback) {
        (true, true) => "RTP/SAVPF",
        (true, false) => "RTP/SAVP",
        (false, true) => "RTP/AVPF",
        (false, false) => "RTP/AVP",
    }
    .to_string()
}

pub(super) fn remote_of(m: &Media, sdp: &Sdp) -> (Option<SocketAddr>, Option<SocketAddr>, bool) {
    let conn = m.effective_connection(sdp);
    let ip = conn.as_ref().and_then(Connection::ip);
    let hold = conn.as_ref().is_some_and(Connection::is_unspecified);
    let Some(ip) = ip.filter(|ip| !ip.is_unspecified()) else {
        return (None, None, hold);
    };
    let rtp = SocketAddr::new(ip, m.port());
    let rtcp = m.rtcp().map(|(port, c)| {
        let cip = c
            .as_ref()
            .and_then(Connection::ip)
            .filter(|i| !i.is_unspecified())
            .unwrap_or(ip);
        SocketAddr::new(cip, port)
    });
    (Some(rtp), rtcp, hold)
}

pub(super) fn peer_lines(m: &Media, warnings: &mut Vec<String>) -> Result<Vec<PeerLine>, NgError> {
    let mut out = Vec::new();
    for (line, r) in m.crypto_lines() {
        let attr = match r {
            Ok(a) => a,
            Err(e) => {
                warnings.push(format!("a=crypto on SDP line {line} ignored: {e}"));
                continue;
            }
        };
        let Ok(suite) = attr.suite() else {
            continue; // a suite Rampart does not implement: not chosen
        };
        if attr.unencrypted_srtp() || attr.unencrypted_srtcp() || attr.unauthenticated_srtp() {
            warnings.push(format!(
                "a=crypto tag {} ignored: UNENCRYPTED_*/UNAUTHENTICATED_* session parameters are not supported",
                attr.tag
            ));
            continue;
        }
        if attr.keys.len() > 1 {
            warnings.push(format!(
                "a=crypto tag {}: only the first of {} keys is used",
                attr.tag,
                attr.keys.len()
            ));
        }
        let Some(k) = attr.keys.first() else {
            continue;
        };
        // RFC 4568 §6.3.1: the peer derives session keys every 2^n packets;
        // a receiver that ignored it would fail every packet after the first
        // 2^n. A value out of 0..=24 makes the line unusable.
        let kdr = match attr.kdr() {
            Ok(r) => r.unwrap_or(0),
            Err(e) => {
                warnings.push(format!("a=crypto tag {} ignored: {e}", attr.tag));
                continue;
            }
        };
        match k.to_master_key(suite) {
            Ok(key) => out.push(PeerLine {
                tag: attr.tag,
                suite,
                key,
                kdr,
            }),
            Err(e) => warnings.push(format!("a=crypto tag {} ignored: {e}", attr.tag)),
        }
    }
    Ok(out)
}

pub(super) fn allowed_suites(cfg: &Config, o: &MediaOpts) -> Vec<Suite> {
    let base: Vec<Suite> = if o.sdes_only.is_empty() {
        cfg.ng
            .sdes_suites
            .iter()
            .filter_map(|n| Suite::from_name(n).ok())
            .collect()
    } else {
        o.sdes_only.clone()
    };
    base.into_iter()
        .filter(|s| !o.sdes_no.contains(s))
        .collect()
}

pub(super) fn sdp_error(what: &str, e: crate::control::sdp::SdpError) -> NgError {
    NgError::new(format!("Failed to parse SDP ({what}): {e}"))
}

pub(super) fn rewrite(
    m: &mut Media,
    port: u16,
    conn: &Connection,
    proto: &str,
    crypto: &[CryptoAttr],
    mux: bool,
) {
    m.set_port(port);
    if m.connection().is_some() {
        m.set_connection(Some(conn));
    }
    m.set_proto(proto);
    m.set_crypto(crypto);
    m.set_rtcp_mux(mux);
    if !conn.is_unspecified() {
        m.set_rtcp(Some((if mux { port } else { port.wrapping_add(1) }, None)));
    }
}

pub(super) fn side_of(tags: &[Option<String>; 2], tag: &str) -> Option<usize> {
    tags.iter().position(|t| t.as_deref() == Some(tag))
}
