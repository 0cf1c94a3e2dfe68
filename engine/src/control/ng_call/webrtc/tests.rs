//! WebRTC legs negotiated without sockets: the usual calls in both
//! directions with the flags Kamailio sends, and the refusals.

use super::super::tests::MadeUpPorts;
use super::*;
use crate::control::sdp::webrtc::PeerTransport;
use crate::dtls::Profile;

/// aiortc's offer (documentation addresses): full ICE, DTLS actpass,
/// rtcp-mux, BUNDLE with one section.
const WEBRTC_OFFER: &str = "v=0\r\no=- 4005533590 4005533590 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\na=msid-semantic:WMS *\r\nm=audio 42446 UDP/TLS/RTP/SAVPF 0 8\r\n\
c=IN IP4 198.51.100.2\r\na=sendrecv\r\na=mid:0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-mux\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 198.51.100.2 42446 typ host\r\n\
a=end-of-candidates\r\na=ice-ufrag:kAFk\r\na=ice-pwd:YZfiPYgckyE0czU2ygfbHD\r\n\
a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
a=setup:actpass\r\n";

/// A SIP phone's SDES offer or answer on `port`.
fn sip_sdp(port: u16, key: &MasterKey) -> String {
    let line = CryptoAttr::new(
        1,
        Suite::AesCm128HmacSha1_80,
        vec![InlineKey::from_master_key(key)],
    )
    .to_value();
    format!(
        "v=0\r\no=- 2 1 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
         m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:{line}\r\n"
    )
}

fn phone_key() -> MasterKey {
    MasterKey::new(Suite::AesCm128HmacSha1_80, &[7; 16], &[8; 14]).unwrap()
}

fn config() -> (Config, crate::policy::Policy) {
    let mut cfg = Config::default();
    cfg.media.addresses = vec!["203.0.113.1".parse().unwrap()];
    let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
    (cfg, policy)
}

fn node_fingerprint() -> Fingerprint {
    Fingerprint([0x42; 32])
}

/// A negotiation on a node whose certificate is [`node_fingerprint`].
fn with_dtls<'a>(cfg: &'a Config, policy: &'a crate::policy::Policy) -> Negotiation<'a> {
    let mut neg = Negotiation::new(cfg, policy);
    neg.dtls = Some(node_fingerprint());
    neg
}

fn has(sdp: &str, line: &str) -> bool {
    sdp.lines().any(|l| l.trim_end() == line)
}

fn has_prefix(sdp: &str, prefix: &str) -> bool {
    sdp.lines().any(|l| l.starts_with(prefix))
}

/// The offer a browser makes when its peer is a SIP phone, as Kamailio
/// sends it: `transport-protocol: RTP/SAVP`, `ICE: remove`, `DTLS: off`,
/// `rtcp-mux: demux`. The SIP side sees plain SDES; the answer Rampart
/// writes back restores the browser's profile, ICE, DTLS and mux.
#[test]
fn a_webrtc_offer_to_a_sip_phone_is_answered_as_webrtc() {
    let (cfg, policy) = config();
    let mut call = NgCall::new("w2s", 0, 0);
    let mut ports = MadeUpPorts::default();
    let mut warnings = Vec::new();
    let offer_opts = MediaOpts {
        transport_protocol: Some("RTP/SAVP".into()),
        ice: IceFlag::Remove,
        dtls: DtlsFlag::Off,
        mux_demux: true,
        sdes_only: vec![Suite::AesCm128HmacSha1_80],
        ..Default::default()
    };
    let mut neg = with_dtls(&cfg, &policy);
    let to_sip = call
        .offer(
            &mut neg,
            &mut ports,
            "browser",
            WEBRTC_OFFER,
            (&offer_opts, &mut warnings),
        )
        .unwrap();
    // The SIP phone sees SDES and nothing of WebRTC.
    assert!(has(&to_sip, "m=audio 30002 RTP/SAVP 0 8"), "{to_sip}");
    assert!(has_prefix(&to_sip, "a=crypto:1 AES_CM_128_HMAC_SHA1_80"));
    for gone in [
        "a=ice-",
        "a=candidate",
        "a=fingerprint",
        "a=setup",
        "a=rtcp-mux",
    ] {
        assert!(!has_prefix(&to_sip, gone), "{gone} in {to_sip}");
    }
    let ours_to_sip = Sdp::parse(&to_sip).unwrap().media()[0].crypto().unwrap()[0].keys[0]
        .to_master_key(Suite::AesCm128HmacSha1_80)
        .unwrap();

    // The phone answers plain SDES, with no flags.
    let answered = call
        .answer(
            &mut neg,
            Some("phone"),
            &sip_sdp(6000, &phone_key()),
            (&MediaOpts::default(), &mut warnings),
        )
        .unwrap();
    let a = &answered.sdp;
    assert!(has(a, "m=audio 30000 UDP/TLS/RTP/SAVPF 0"), "{a}");
    assert!(!has_prefix(a, "a=crypto"), "{a}");
    assert!(has(a, "a=ice-lite") && has(a, "a=rtcp-mux") && has(a, "a=mid:0"));
    // Its one-section group taken (a max-bundle browser insists on one).
    assert!(has(a, "a=group:BUNDLE 0"), "{a}");
    assert!(has(a, "a=setup:passive"), "{a}");
    assert!(has(
        a,
        "a=candidate:1 1 udp 2130706431 203.0.113.1 30000 typ host"
    ));
    assert!(has(a, &format!("a=fingerprint:{}", node_fingerprint())));
    // What the browser reads back is what the leg's transport will check.
    let parsed = Sdp::parse(a).unwrap();
    let ours = PeerTransport::of(&parsed, &parsed.media()[0]);
    let [browser, phone] = &call.streams[0].legs;
    let w = &browser.webrtc;
    assert_eq!(
        ours.ice.map(|(u, _)| u),
        w.ice.as_ref().map(|c| c.ufrag.clone())
    );
    assert_eq!(w.peer_ufrag.as_deref(), Some("kAFk"));
    assert!(w.dtls && w.role == Some(Role::Passive));
    assert_eq!(w.peer_fingerprint.map(|f| f.0[0]), Some(0x99));
    assert!(
        !w.profiles.is_empty(),
        "policy's DTLS profiles: {:?}",
        w.profiles
    );
    // The browser's leg is keyed by its handshake, the phone's by SDES.
    assert!(browser.want.srtp.is_none() && browser.mux);
    assert_eq!(browser.want.remote_rtp, None, "learned from ICE");
    let kp = phone.want.srtp.as_ref().unwrap();
    assert!(crate::control::keys::same_key(&kp.inbound, &phone_key()));
    assert!(crate::control::keys::same_key(&kp.outbound, &ours_to_sip));
    assert!(!phone.webrtc.active());
    assert_eq!(
        answered.decision.security,
        SecurityMode::Encrypted,
        "the SIP side"
    );
    assert_eq!(
        call.decisions[0].as_ref().map(|d| d.security),
        Some(SecurityMode::Encrypted),
        "a DTLS leg is encrypted"
    );
    assert!(warnings.is_empty(), "{warnings:?}");

    // A re-offer from the browser with the same ICE and certificate keeps
    // Rampart's credentials: no ICE restart, no new handshake.
    let creds = w.ice.clone();
    let mut neg = with_dtls(&cfg, &policy);
    call.offer(
        &mut neg,
        &mut ports,
        "browser",
        WEBRTC_OFFER,
        (&offer_opts, &mut warnings),
    )
    .unwrap();
    assert_eq!(call.streams[0].legs[0].webrtc.ice, creds);
    // An ICE restart (a new ufrag from the browser): Rampart answers with
    // new credentials of its own; the certificate, so DTLS, is the same.
    let restart = WEBRTC_OFFER.replace("a=ice-ufrag:kAFk", "a=ice-ufrag:rst2");
    let mut neg = with_dtls(&cfg, &policy);
    call.offer(
        &mut neg,
        &mut ports,
        "browser",
        &restart,
        (&offer_opts, &mut warnings),
    )
    .unwrap();
    let w = &call.streams[0].legs[0].webrtc;
    assert_ne!(w.ice, creds);
    assert_eq!(w.peer_ufrag.as_deref(), Some("rst2"));
    assert_eq!(w.peer_fingerprint.map(|f| f.0[0]), Some(0x99));
}

/// A SIP phone calls a browser: Kamailio asks for
/// `transport-protocol: UDP/TLS/RTP/SAVPF`, `ICE: force`, `rtcp-mux:
/// require`, `SDES: off`. The browser answers `a=setup:active` from
/// `c=0.0.0.0` (RFC 8840), which is no hold, and (here) leaves
/// `a=rtcp-mux` out, which `require` overrides.
#[test]
fn a_sip_offer_to_a_browser_offers_ice_and_dtls() {
    let (cfg, policy) = config();
    let mut call = NgCall::new("s2w", 0, 0);
    let mut ports = MadeUpPorts::default();
    let mut warnings = Vec::new();
    let opts = MediaOpts {
        transport_protocol: Some("UDP/TLS/RTP/SAVPF".into()),
        ice: IceFlag::Force,
        mux_offer: true,
        mux_require: true,
        sdes_off: true,
        generate_mid: true,
        ..Default::default()
    };
    let mut neg = with_dtls(&cfg, &policy);
    let to_browser = call
        .offer(
            &mut neg,
            &mut ports,
            "phone",
            &sip_sdp(6000, &phone_key()),
            (&opts, &mut warnings),
        )
        .unwrap();
    let t = &to_browser;
    assert!(has(t, "m=audio 30002 UDP/TLS/RTP/SAVPF 0"), "{t}");
    assert!(!has_prefix(t, "a=crypto"), "{t}");
    for line in [
        "a=setup:actpass",
        "a=ice-lite",
        "a=rtcp-mux",
        "a=mid:0",
        "a=group:BUNDLE 0",
    ] {
        assert!(has(t, line), "{line} missing: {t}");
    }
    assert!(has_prefix(t, "a=ice-ufrag:") && has_prefix(t, "a=candidate:1 1 udp"));

    let browser_answer = "v=0\r\no=- 9 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
        a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpw\r\na=ice-options:trickle\r\n\
        a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
        a=setup:active\r\n";
    let answered = call
        .answer(
            &mut neg,
            Some("browser"),
            browser_answer,
            (&MediaOpts::default(), &mut warnings),
        )
        .unwrap();
    let a = &answered.sdp;
    // The phone gets SDES back, Rampart's address, no WebRTC.
    assert!(has(a, "m=audio 30000 RTP/SAVP 0"), "{a}");
    assert!(has(a, "c=IN IP4 203.0.113.1"), "not on hold: {a}");
    assert!(has_prefix(a, "a=crypto:1 AES_CM_128_HMAC_SHA1_80"));
    assert!(!has_prefix(a, "a=ice-") && !has_prefix(a, "a=fingerprint"));
    let [phone, browser] = &call.streams[0].legs;
    assert!(phone.want.srtp.is_some() && !phone.webrtc.active());
    let w = &browser.webrtc;
    assert!(w.dtls && w.role == Some(Role::Passive), "its setup:active");
    assert_eq!(w.peer_ufrag.as_deref(), Some("brws"));
    assert!(browser.want.srtp.is_none() && browser.mux);
    assert_eq!(browser.want.remote_rtp, None);
    assert_eq!(answered.decision.security, SecurityMode::Encrypted);
    assert!(
        warnings.iter().any(|w| w.contains("trickle")),
        "{warnings:?}"
    );
}

#[test]
fn dtls_without_a_fingerprint_to_check_is_refused() {
    let (cfg, policy) = config();
    let offer = |text: &str, dtls: Option<Fingerprint>| {
        let mut neg = Negotiation::new(&cfg, &policy);
        neg.dtls = dtls;
        NgCall::new("x", 0, 0).offer(
            &mut neg,
            &mut MadeUpPorts::default(),
            "a",
            text,
            (&MediaOpts::default(), &mut Vec::new()),
        )
    };
    let fp = Some(node_fingerprint());
    let sha1 = WEBRTC_OFFER.replace(
        "a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB",
        "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33",
    );
    let e = offer(&sha1, fp).unwrap_err().to_string();
    assert!(e.contains("no sha-256 a=fingerprint"), "{e}");
    let none: String = WEBRTC_OFFER
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert!(offer(&none, fp).is_err());
    let e = offer(WEBRTC_OFFER, None).unwrap_err().to_string();
    assert!(e.contains("[webrtc] enabled = false"), "{e}");
    // Passed through as DTLS by default: the other side is offered DTLS.
    let out = offer(WEBRTC_OFFER, fp).unwrap();
    assert!(has_prefix(&out, "m=audio 30002 UDP/TLS/RTP/SAVPF"), "{out}");
    assert!(has(&out, "a=setup:actpass") && has_prefix(&out, "a=ice-ufrag:"));

    // An answer refusing the DTLS that was offered, without keys of its own.
    let mut neg = Negotiation::new(&cfg, &policy);
    neg.dtls = fp;
    let mut call = NgCall::new("y", 0, 0);
    call.offer(
        &mut neg,
        &mut MadeUpPorts::default(),
        "a",
        WEBRTC_OFFER,
        (&MediaOpts::default(), &mut Vec::new()),
    )
    .unwrap();
    let no_fp = "v=0\r\no=- 9 2 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
        m=audio 7000 UDP/TLS/RTP/SAVPF 0\r\na=setup:active\r\n";
    let e = call
        .answer(
            &mut neg,
            Some("b"),
            no_fp,
            (&MediaOpts::default(), &mut Vec::new()),
        )
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref().is_some_and(|e| e.contains("a=fingerprint")),
        "{e:?}"
    );
}

/// Policy that allows only AES-256-GCM: the DTLS leg is given that one
/// profile (its handshake cannot settle on another); a policy with no
/// suite a DTLS-SRTP profile negotiates refuses the WebRTC offer.
#[test]
fn a_dtls_leg_negotiates_only_what_policy_allows() {
    let (mut cfg, _) = config();
    let sec = &mut cfg.security;
    sec.enforce = true;
    sec.cluster_mode = crate::policy::ClusterMode::Mixed;
    sec.srtp_suites = vec!["AEAD_AES_256_GCM".into()];
    sec.devices.push(crate::policy::DeviceConfig {
        name: "SEP0000000000AA".into(),
        model: "7970".into(),
        mode: SecurityMode::Encrypted,
        kind: crate::policy::LegKind::Phone,
    });
    let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
    let who = LegWho {
        device: Some("SEP0000000000AA".into()),
        ..Default::default()
    };
    let mut call = NgCall::new("gcm", 0, 0);
    let mut ports = MadeUpPorts::default();
    let mut neg = with_dtls(&cfg, &policy);
    let opts = MediaOpts {
        transport_protocol: Some("RTP/SAVP".into()),
        dtls: DtlsFlag::Off,
        me: who.clone(),
        peer: who.clone(),
        ..Default::default()
    };
    let to_sip = call
        .offer(
            &mut neg,
            &mut ports,
            "browser",
            WEBRTC_OFFER,
            (&opts, &mut Vec::new()),
        )
        .unwrap();
    let line = Sdp::parse(&to_sip).unwrap().media()[0].crypto().unwrap()[0].clone();
    let key = MasterKey::new(Suite::AeadAes256Gcm, &[7; 32], &[8; 12]).unwrap();
    let answer = format!(
        "v=0\r\no=- 2 1 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
         m=audio 6000 RTP/SAVP 0\r\na=crypto:{}\r\n",
        CryptoAttr::new(
            line.tag,
            Suite::AeadAes256Gcm,
            vec![InlineKey::from_master_key(&key)]
        )
        .to_value()
    );
    let answer_opts = MediaOpts {
        me: who,
        ..Default::default()
    };
    call.answer(
        &mut neg,
        Some("phone"),
        &answer,
        (&answer_opts, &mut Vec::new()),
    )
    .unwrap();
    assert_eq!(
        call.streams[0].legs[0].webrtc.profiles,
        vec![Profile::AeadAes256Gcm]
    );
    // No DTLS-SRTP profile among the allowed suites: the offer is refused.
    cfg.security.srtp_suites = vec!["AES_256_CM_HMAC_SHA1_80".into()];
    let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
    let mut neg = with_dtls(&cfg, &policy);
    let e = NgCall::new("cm256", 0, 0)
        .offer(
            &mut neg,
            &mut MadeUpPorts::default(),
            "browser",
            WEBRTC_OFFER,
            (&opts, &mut Vec::new()),
        )
        .unwrap_err();
    assert!(matches!(e, NgError::PolicyRefused(_)), "{e}");
}

/// A browser's audio+video offer with BUNDLE: `max-bundle` (video
/// `a=bundle-only` on port 0, as Chrome writes it) or `balanced` (video
/// on a port of its own).
fn bundle_offer(max_bundle: bool) -> String {
    let video = if max_bundle {
        "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 198.51.100.2\r\na=bundle-only\r\n"
    } else {
        "m=video 42448 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 198.51.100.2\r\n\
         a=candidate:1 1 udp 2130706431 198.51.100.2 42448 typ host\r\n"
    };
    let transport = "a=ice-ufrag:kAFk\r\na=ice-pwd:YZfiPYgckyE0czU2ygfbHD\r\n\
a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
a=setup:actpass\r\n";
    format!(
        "v=0\r\no=- 4005533590 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=group:LS 0 1\r\na=msid-semantic:WMS *\r\n\
         m=audio 42446 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 198.51.100.2\r\na=mid:0\r\na=rtcp-mux\r\n\
         a=rtpmap:111 opus/48000/2\r\n\
         a=candidate:1 1 udp 2130706431 198.51.100.2 42446 typ host\r\n{transport}\
         {video}a=mid:1\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n{transport}"
    )
}

/// A browser bundles audio and video on one transport and calls a SIP
/// phone with a port per section: the phone sees two ordinary SDES
/// sections and no BUNDLE; the browser's answer groups both sections on
/// one port with one set of ICE credentials and one fingerprint, and
/// only the first section's leg runs a transport.
#[test]
fn a_bundled_webrtc_offer_shares_one_port_toward_the_browser() {
    for max_bundle in [true, false] {
        let (cfg, policy) = config();
        let mut call = NgCall::new("bundle", 0, 0);
        let mut ports = MadeUpPorts::default();
        let mut warnings = Vec::new();
        let offer_opts = MediaOpts {
            transport_protocol: Some("RTP/SAVP".into()),
            ice: IceFlag::Remove,
            dtls: DtlsFlag::Off,
            mux_demux: true,
            ..Default::default()
        };
        let mut neg = with_dtls(&cfg, &policy);
        let to_sip = call
            .offer(
                &mut neg,
                &mut ports,
                "browser",
                &bundle_offer(max_bundle),
                (&offer_opts, &mut warnings),
            )
            .unwrap();
        // The phone: two sections on two ports, no BUNDLE left.
        assert!(has(&to_sip, "m=audio 30002 RTP/SAVP 111"), "{to_sip}");
        assert!(has(&to_sip, "m=video 30006 RTP/SAVP 96 97"), "{to_sip}");
        assert!(!has_prefix(&to_sip, "a=group:BUNDLE"), "{to_sip}");
        assert!(has(&to_sip, "a=group:LS 0 1"), "other groups stay");
        assert!(!has_prefix(&to_sip, "a=bundle-only"), "{to_sip}");
        // The video section's own browser-side port went back.
        assert!(!ports.reserved.iter().any(|a| a.port() == 30004));
        assert_eq!(call.streams[1].legs[0].bundle, Some(0));
        assert_eq!(call.streams[1].legs[0].local_rtp.port(), 30000);

        let sip = Sdp::parse(&to_sip).unwrap();
        let key_line = |i: usize| {
            let offered = sip.media()[i].crypto().unwrap().remove(0);
            let suite = offered.suite().unwrap();
            let k = crate::control::keys::generate(suite).unwrap();
            CryptoAttr::new(1, suite, vec![InlineKey::from_master_key(&k)]).to_value()
        };
        let answer_sdp = format!(
            "v=0\r\no=- 2 1 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
             m=audio 6000 RTP/SAVP 111\r\na=crypto:{}\r\n\
             m=video 6002 RTP/SAVP 96\r\na=crypto:{}\r\n",
            key_line(0),
            key_line(1)
        );
        let answered = call
            .answer(
                &mut neg,
                Some("phone"),
                &answer_sdp,
                (&MediaOpts::default(), &mut warnings),
            )
            .unwrap();
        let a = &answered.sdp;
        assert!(has(a, "a=group:BUNDLE 0 1"), "{a}");
        assert!(has(a, "m=audio 30000 UDP/TLS/RTP/SAVPF 111"), "{a}");
        assert!(has(a, "m=video 30000 UDP/TLS/RTP/SAVPF 96"), "{a}");
        let parsed = Sdp::parse(a).unwrap();
        let (ta, tv) = (
            PeerTransport::of(&parsed, &parsed.media()[0]),
            PeerTransport::of(&parsed, &parsed.media()[1]),
        );
        assert!(ta.ice.is_some() && ta.fingerprint.is_some());
        assert_eq!(ta.ice, tv.ice, "one set of ICE credentials");
        assert_eq!(ta.fingerprint, tv.fingerprint);
        assert_eq!(ta.setup, tv.setup);
        assert_eq!(
            ta.ice.map(|(u, _)| u),
            call.streams[0].legs[0]
                .webrtc
                .ice
                .as_ref()
                .map(|c| c.ufrag.clone())
        );
        let video = &call.streams[1].legs[0];
        assert!(video.mux && video.webrtc.dtls, "bundled: muxed, DTLS-keyed");
        // The port is released once, as the owner's.
        let res = call.resources();
        assert_eq!(res.ports.iter().filter(|p| p.port() == 30000).count(), 1);
        assert_eq!(res.ports.len(), 3);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}

/// BUNDLE needs the node's WebRTC: without it, the group is not taken
/// and a `bundle-only` section stays rejected.
#[test]
fn without_webrtc_a_bundle_is_not_taken() {
    let sdp = Sdp::parse(&bundle_offer(true)).unwrap();
    let off = super::super::bundle::offered(&sdp, false);
    assert_eq!(
        (off.follows, off.owners),
        (vec![None, None], vec![false, false])
    );
    let on = super::super::bundle::offered(&sdp, true);
    assert_eq!(
        (on.follows, on.owners),
        (vec![None, Some(0)], vec![true, false])
    );
}

/// A SIP phone with audio and video calls a browser: Rampart offers the
/// browser BUNDLE (one port, `a=mid` on every section), the phone keeps a
/// port per section. A browser answer that takes the group runs both
/// sections on the one port; one that leaves video out of it gets video
/// rejected, with a warning (it has no port of its own toward it).
#[test]
fn a_sip_offer_with_video_is_bundled_toward_the_browser() {
    for taken in [true, false] {
        let (cfg, policy) = config();
        let mut call = NgCall::new("s2w-bundle", 0, 0);
        let mut ports = MadeUpPorts::default();
        let mut warnings = Vec::new();
        let opts = MediaOpts {
            transport_protocol: Some("UDP/TLS/RTP/SAVPF".into()),
            ice: IceFlag::Force,
            mux_offer: true,
            mux_require: true,
            sdes_off: true,
            ..Default::default()
        };
        let phone_offer =
            "v=0\r\no=- 2 1 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
            m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
            m=video 6002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
        let mut neg = with_dtls(&cfg, &policy);
        let t = call
            .offer(
                &mut neg,
                &mut ports,
                "phone",
                phone_offer,
                (&opts, &mut warnings),
            )
            .unwrap();
        assert!(has(&t, "a=group:BUNDLE 0 1"), "{t}");
        assert!(has(&t, "m=audio 30002 UDP/TLS/RTP/SAVPF 0"), "{t}");
        assert!(has(&t, "m=video 30002 UDP/TLS/RTP/SAVPF 96"), "{t}");
        assert!(has(&t, "a=mid:0") && has(&t, "a=mid:1"), "{t}");
        assert!(!ports.reserved.iter().any(|a| a.port() == 30006));
        let parsed = Sdp::parse(&t).unwrap();
        let (ta, tv) = (
            PeerTransport::of(&parsed, &parsed.media()[0]),
            PeerTransport::of(&parsed, &parsed.media()[1]),
        );
        assert!(ta.ice.is_some() && ta.ice == tv.ice && ta.fingerprint == tv.fingerprint);
        assert_eq!(call.streams[1].legs[1].bundle, Some(0));

        let transport = "a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpw\r\n\
            a=fingerprint:sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB\r\n\
            a=setup:active\r\na=rtcp-mux\r\n";
        let group = if taken { "a=group:BUNDLE 0 1\r\n" } else { "" };
        let browser_answer = format!(
            "v=0\r\no=- 9 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{group}\
             m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n{transport}\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n{transport}"
        );
        let answered = call
            .answer(
                &mut neg,
                Some("browser"),
                &browser_answer,
                (&MediaOpts::default(), &mut warnings),
            )
            .unwrap();
        let a = &answered.sdp;
        assert!(has(a, "m=audio 30000 RTP/AVP 0"), "{a}");
        assert!(
            !has_prefix(a, "a=group:BUNDLE"),
            "the phone sees no BUNDLE: {a}"
        );
        if taken {
            assert!(has(a, "m=video 30004 RTP/AVP 96"), "{a}");
            assert!(!call.streams[1].rejected);
            let video = &call.streams[1].legs[1];
            assert!(video.mux && video.webrtc.dtls, "bundled: muxed, DTLS-keyed");
            assert!(
                warnings.iter().all(|w| !w.contains("BUNDLE")),
                "{warnings:?}"
            );
        } else {
            assert!(has_prefix(a, "m=video 0 "), "{a}");
            assert!(call.streams[1].rejected);
            assert!(
                warnings.iter().any(|w| w.contains("BUNDLE")),
                "{warnings:?}"
            );
        }
        assert_eq!(call.resources().ports.len(), 3);
    }
}

/// A bundle-only section before the group's first live one (the owner)
/// stays rejected: it cannot share a transport read after it. (It made
/// the offer index past the sections read so far.)
#[test]
fn a_bundle_only_section_before_its_owner_stays_rejected() {
    let (cfg, policy) = config();
    let mut call = NgCall::new("bundle-order", 0, 0);
    let mut ports = MadeUpPorts::default();
    let mut warnings = Vec::new();
    // The video section first, bundle-only; the audio section owns.
    let offer = bundle_offer(true);
    let (head, rest) = offer.split_at(offer.find("m=audio").unwrap());
    let (audio, video) = rest.split_at(rest.find("m=video").unwrap());
    let swapped = format!("{head}{video}{audio}");
    let mut neg = with_dtls(&cfg, &policy);
    let to_sip = call
        .offer(
            &mut neg,
            &mut ports,
            "browser",
            &swapped,
            (&MediaOpts::default(), &mut warnings),
        )
        .unwrap();
    let sdp = Sdp::parse(&to_sip).unwrap();
    assert!(sdp.media()[0].is_rejected(), "{to_sip}");
    assert!(!sdp.media()[1].is_rejected(), "{to_sip}");
    assert_eq!(call.streams[0].legs[0].bundle, None);
}
