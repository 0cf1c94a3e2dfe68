//! The WebRTC attributes of a media section: ICE (RFC 8839: `ice-ufrag`,
//! `ice-pwd`, `ice-lite`, `ice-options`, `candidate`) and DTLS-SRTP (RFC
//! 8122 `fingerprint`, RFC 4145/5763 `setup`), read from a peer's SDP and
//! written into Rampart's.
//!
//! Why apart from `media.rs`: these attributes may sit at session level
//! (a media section's own value wins, RFC 8839 §5.4 and RFC 8122 §5), and
//! what is read must say both what the peer offered and what Rampart can
//! use: a fingerprint under a hash Rampart does not check is "present but
//! unusable", never "absent" (a leg whose peer cannot be verified must not
//! pass for verified).

use std::net::SocketAddr;

use super::{Media, Sdp, DTLS_ATTRIBUTES, ICE_ATTRIBUTES};
use crate::dtls::{Fingerprint, Role};
use crate::ice::lite::Credentials;

/// `a=setup` (RFC 4145 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Setup {
    /// `active`: the side that starts the DTLS handshake.
    Active,
    /// `passive`: the side that waits for it.
    Passive,
    /// `actpass`: either (an offerer's usual value).
    ActPass,
    /// `holdconn`: no connection yet.
    HoldConn,
}

impl Setup {
    /// Parses the attribute's value (case-insensitive).
    pub fn parse(v: &str) -> Option<Setup> {
        match v.trim().to_ascii_lowercase().as_str() {
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            "actpass" => Some(Setup::ActPass),
            "holdconn" => Some(Setup::HoldConn),
            _ => None,
        }
    }

    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }

    /// What Rampart's DTLS role is as `a=setup`.
    pub fn of_role(r: Role) -> Setup {
        match r {
            Role::Active => Setup::Active,
            Role::Passive => Setup::Passive,
        }
    }
}

/// The answerer's DTLS role for the offerer's `a=setup` (RFC 5763 §5):
/// `actpass` leaves the choice to the answerer (`prefer`, else active, as
/// RFC 5763 recommends so that the offerer need not wait for the
/// answer); `active` and `passive` leave none; `holdconn` (or none) means
/// no handshake now.
pub fn answer_role(offer: Option<Setup>, prefer: Option<Role>) -> Option<Role> {
    match offer? {
        Setup::ActPass => Some(prefer.unwrap_or(Role::Active)),
        Setup::Active => Some(Role::Passive),
        Setup::Passive => Some(Role::Active),
        Setup::HoldConn => None,
    }
}

/// What a peer's media section says about ICE and DTLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerTransport {
    /// `a=ice-ufrag` and `a=ice-pwd` (media level, else session level).
    pub ice: Option<(String, String)>,
    /// `a=ice-lite` at session level.
    pub ice_lite: bool,
    /// `a=ice-options` names `trickle`.
    pub trickle: bool,
    /// The first usable `a=fingerprint` (SHA-256).
    pub fingerprint: Option<Fingerprint>,
    /// A fingerprint was given, but none under a hash Rampart checks.
    pub fingerprint_unusable: bool,
    /// `a=setup`.
    pub setup: Option<Setup>,
}

fn media_or_session<'a>(sdp: &'a Sdp, m: &'a Media, name: &str) -> Vec<&'a str> {
    let own: Vec<&str> = m
        .attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .filter_map(|(_, v)| v)
        .collect();
    if !own.is_empty() {
        return own;
    }
    sdp.attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .filter_map(|(_, v)| v)
        .collect()
}

impl PeerTransport {
    /// Reads media section `m` of `sdp`.
    pub fn of(sdp: &Sdp, m: &Media) -> PeerTransport {
        let one = |name: &str| {
            media_or_session(sdp, m, name)
                .first()
                .map(|v| v.trim().to_string())
        };
        let ice = match (one("ice-ufrag"), one("ice-pwd")) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Some((u, p)),
            _ => None,
        };
        let fingerprints = media_or_session(sdp, m, "fingerprint");
        let fingerprint = fingerprints.iter().find_map(|v| Fingerprint::parse_sdp(v));
        PeerTransport {
            ice,
            ice_lite: sdp
                .attributes()
                .any(|(n, _)| n.eq_ignore_ascii_case("ice-lite")),
            trickle: media_or_session(sdp, m, "ice-options").iter().any(|v| {
                v.split_whitespace()
                    .any(|o| o.eq_ignore_ascii_case("trickle"))
            }),
            fingerprint,
            fingerprint_unusable: fingerprint.is_none() && !fingerprints.is_empty(),
            setup: one("setup").as_deref().and_then(Setup::parse),
        }
    }
}

/// Rampart's side of a WebRTC media section.
#[derive(Clone, Copy, Debug)]
pub struct LocalTransport<'a> {
    /// ICE-lite credentials (none: ICE off for this leg).
    pub ice: Option<&'a Credentials>,
    /// Host candidates (component 1: RTP and RTCP muxed), best first.
    pub candidates: &'a [SocketAddr],
    /// The node certificate's fingerprint and the role taken (none: no
    /// DTLS on this leg).
    pub dtls: Option<(Fingerprint, Setup)>,
}

/// The priority of a host candidate of component 1 with local preference
/// `local_pref` (RFC 8445 §5.1.2.1: type preference 126 for host).
pub fn host_priority(local_pref: u16) -> u32 {
    (126 << 24) | (u32::from(local_pref) << 8) | 255
}

/// Writes `local` into media section `index` of `sdp`, replacing any ICE
/// and DTLS attributes there; `a=ice-lite` goes to session level once.
pub fn write_transport(sdp: &mut Sdp, index: usize, local: &LocalTransport<'_>) {
    // The peer's ICE and DTLS attributes, at session level and here.
    let theirs = || ICE_ATTRIBUTES.iter().chain(&DTLS_ATTRIBUTES);
    for name in theirs() {
        sdp.remove_attribute(name);
    }
    if local.ice.is_some() {
        sdp.add_attribute("ice-lite", None);
    }
    let Some(m) = sdp.media_mut().get_mut(index) else {
        return;
    };
    for name in theirs() {
        m.remove_attribute(name);
    }
    if let Some(c) = local.ice {
        m.add_attribute("ice-ufrag", Some(&c.ufrag));
        m.add_attribute("ice-pwd", Some(&c.pwd));
        for (i, a) in local.candidates.iter().enumerate() {
            let pref = u16::MAX.saturating_sub(i as u16);
            let line = format!(
                "{} 1 udp {} {} {} typ host",
                i + 1,
                host_priority(pref),
                a.ip(),
                a.port()
            );
            m.add_attribute("candidate", Some(&line));
        }
        m.add_attribute("end-of-candidates", None);
    }
    if let Some((fp, setup)) = local.dtls {
        m.add_attribute("fingerprint", Some(&fp.to_string()));
        m.add_attribute("setup", Some(setup.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aiortc 1.4's offer (addresses moved to the documentation ranges).
    const AIORTC_OFFER: &str = "v=0\r\no=- 4005533590 4005533590 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\na=msid-semantic:WMS *\r\nm=audio 42446 UDP/TLS/RTP/SAVPF 96 0 8\r\n\
c=IN IP4 198.51.100.2\r\na=sendrecv\r\na=mid:0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-mux\r\n\
a=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 198.51.100.2 42446 typ host\r\n\
a=candidate:d0bcf3d9c29a2bc887618212a1623bfa 1 udp 2130706431 2001:db8::2 35603 typ host\r\n\
a=end-of-candidates\r\na=ice-ufrag:kAFk\r\na=ice-pwd:YZfiPYgckyE0czU2ygfbHD\r\n\
a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
a=setup:actpass\r\n";

    /// Firefox-style: fingerprint, ufrag and pwd at session level;
    /// trickle; a SHA-1 fingerprint first.
    const SESSION_LEVEL: &str = "v=0\r\no=mozilla 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\r\n\
a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
a=ice-options:trickle\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpasswordsessionpw\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 109\r\nc=IN IP4 0.0.0.0\r\na=setup:ACTIVE\r\na=rtpmap:109 opus/48000/2\r\n";

    #[test]
    fn an_aiortc_offer_reads_as_ice_and_dtls() {
        let sdp = Sdp::parse(AIORTC_OFFER).unwrap();
        let p = PeerTransport::of(&sdp, &sdp.media()[0]);
        assert_eq!(
            p.ice,
            Some(("kAFk".into(), "YZfiPYgckyE0czU2ygfbHD".into()))
        );
        assert!(!p.ice_lite && !p.trickle && !p.fingerprint_unusable);
        assert_eq!(p.setup, Some(Setup::ActPass));
        let fp = p.fingerprint.unwrap();
        assert_eq!(fp.0[0], 0x99);
        assert_eq!(fp.0[31], 0xcb);
    }

    #[test]
    fn session_level_values_apply_and_an_unusable_hash_is_skipped() {
        let sdp = Sdp::parse(SESSION_LEVEL).unwrap();
        let p = PeerTransport::of(&sdp, &sdp.media()[0]);
        assert_eq!(p.ice.as_ref().map(|(u, _)| u.as_str()), Some("sess"));
        assert!(p.trickle);
        assert_eq!(p.setup, Some(Setup::Active));
        assert!(p.fingerprint.is_some() && !p.fingerprint_unusable);
        // Only a SHA-1 fingerprint: present, but nothing Rampart can check.
        let sha1_only = SESSION_LEVEL.replace(
            "a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n",
            "",
        );
        let sdp = Sdp::parse(&sha1_only).unwrap();
        let p = PeerTransport::of(&sdp, &sdp.media()[0]);
        assert!(p.fingerprint.is_none() && p.fingerprint_unusable);
        // No ICE at all.
        let plain = Sdp::parse("v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 198.51.100.1\r\n").unwrap();
        assert_eq!(
            PeerTransport::of(&plain, &plain.media()[0]),
            PeerTransport::default()
        );
    }

    #[test]
    fn the_answerer_role_follows_rfc_5763() {
        use Role::*;
        assert_eq!(answer_role(Some(Setup::ActPass), None), Some(Active));
        assert_eq!(
            answer_role(Some(Setup::ActPass), Some(Passive)),
            Some(Passive)
        );
        assert_eq!(
            answer_role(Some(Setup::Active), Some(Active)),
            Some(Passive)
        );
        assert_eq!(
            answer_role(Some(Setup::Passive), Some(Passive)),
            Some(Active)
        );
        assert_eq!(answer_role(Some(Setup::HoldConn), None), None);
        assert_eq!(answer_role(None, None), None);
        for s in ["active", "passive", "actpass", "holdconn"] {
            assert_eq!(Setup::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Setup::parse("bogus"), None);
    }

    #[test]
    fn what_is_written_reads_back_and_replaces_the_peers_attributes() {
        let mut sdp = Sdp::parse(AIORTC_OFFER).unwrap();
        let creds = Credentials {
            ufrag: "rmpt".into(),
            pwd: "0123456789abcdefghijklmn".into(),
        };
        let fp = Fingerprint([0xab; 32]);
        let cands: [SocketAddr; 2] = [
            "203.0.113.5:30000".parse().unwrap(),
            "[2001:db8::5]:30000".parse().unwrap(),
        ];
        write_transport(
            &mut sdp,
            0,
            &LocalTransport {
                ice: Some(&creds),
                candidates: &cands,
                dtls: Some((fp, Setup::Passive)),
            },
        );
        let text = sdp.to_string();
        assert_eq!(text.matches("a=ice-ufrag:").count(), 1, "{text}");
        assert_eq!(text.matches("a=fingerprint:").count(), 1, "{text}");
        assert_eq!(text.matches("a=ice-lite").count(), 1, "{text}");
        assert!(
            text.contains("a=candidate:1 1 udp 2130706431 203.0.113.5 30000 typ host"),
            "{text}"
        );
        assert!(
            text.contains("a=candidate:2 1 udp 2130706175 2001:db8::5 30000 typ host"),
            "{text}"
        );
        assert!(
            !text.contains("kAFk") && !text.contains("f957a233"),
            "the peer's ICE is gone"
        );
        let back = Sdp::parse(&text).unwrap();
        let p = PeerTransport::of(&back, &back.media()[0]);
        assert_eq!(p.ice, Some(("rmpt".into(), creds.pwd.clone())));
        assert!(p.ice_lite);
        assert_eq!((p.fingerprint, p.setup), (Some(fp), Some(Setup::Passive)));
        // ICE off and DTLS off: nothing of either stays.
        write_transport(
            &mut sdp,
            0,
            &LocalTransport {
                ice: None,
                candidates: &[],
                dtls: None,
            },
        );
        let text = sdp.to_string();
        for a in ["ice-", "candidate", "fingerprint", "setup"] {
            assert!(!text.contains(&format!("a={a}")), "{a}: {text}");
        }
    }

    #[test]
    fn host_priorities_follow_rfc_8445() {
        assert_eq!(host_priority(65535), 2_130_706_431);
        assert!(host_priority(65534) < host_priority(65535));
    }
}
