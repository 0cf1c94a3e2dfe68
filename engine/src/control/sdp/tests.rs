use super::line::redact;
use super::*;
use crate::control::sdes::{CryptoAttr, InlineKey};
use crate::srtp::Suite;
use proptest::prelude::*;
use std::net::IpAddr;

#[test]
fn rejected_media_is_appended_with_port_zero() {
    let mut sdp = Sdp::parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 0\r\n",
    )
    .unwrap();
    sdp.push_rejected_media("video", "RTP/SAVP", &["96".into(), "97".into()]);
    sdp.push_rejected_media("bad kind", "", &[]);
    let text = sdp.to_string();
    assert!(
        text.ends_with("m=video 0 RTP/SAVP 96 97\r\nm=- 0 - 0\r\n"),
        "{text}"
    );
    let back = Sdp::parse(&text).unwrap();
    assert_eq!(back.media().len(), 3);
    assert!(back.media()[1].is_rejected() && back.media()[2].is_rejected());
}

/// Joins lines with CRLF, with a final CRLF.
fn crlf(lines: &[&str]) -> String {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n");
    s
}

const KEY1: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
const KEY2: &str = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj";

/// An Asterisk-style SDES offer: audio + video, two crypto lines each.
fn asterisk() -> String {
    crlf(&[
            "v=0",
            "o=- 1122334455 1122334455 IN IP4 192.0.2.10",
            "s=Asterisk",
            "c=IN IP4 192.0.2.10",
            "t=0 0",
            "m=audio 10000 RTP/SAVP 0 8 101",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:4",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=maxptime:150",
            "a=sendrecv",
            "m=video 10002 RTP/SAVP 99",
            "b=AS:384",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "a=rtpmap:99 H264/90000",
            "a=fmtp:99 profile-level-id=42e01f;packetization-mode=1",
            "a=rtcp:10003",
            "a=sendrecv",
        ])
}

/// A Chrome-style WebRTC offer: BUNDLE, ICE, DTLS, rtcp-mux, IPv4.
fn webrtc() -> String {
    crlf(&[
            "v=0",
            "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS stream0",
            "a=ice-options:trickle",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            "c=IN IP4 203.0.113.5",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0",
            "a=candidate:842163049 1 udp 1686052607 203.0.113.5 46243 typ srflx raddr 192.168.0.196 rport 46243 generation 0",
            "a=end-of-candidates",
            "a=ice-ufrag:EsAw",
            "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F",
            "a=setup:actpass",
            "a=tls-id:89J2LRATQ3ULA24G9AHWVR31VJWSLB68",
            "a=mid:0",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=sendrecv",
            "a=msid:stream0 track0",
            "a=rtcp-mux",
            "a=rtpmap:111 opus/48000/2",
            "a=rtcp-fb:111 transport-cc",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:63 red/48000/2",
            "a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6",
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
            "c=IN IP4 203.0.113.5",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:EsAw",
            "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
            "a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F",
            "a=setup:actpass",
            "a=dtls-id:1",
            "a=mid:1",
            "a=sendonly",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtpmap:96 VP8/90000",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=96",
        ])
}

/// A FreeSWITCH-style answer over IPv6 with a rejected video stream,
/// LF line endings and a full a=rtcp.
fn freeswitch_lf() -> String {
    [
            "v=0",
            "o=FreeSWITCH 1700000000 1700000001 IN IP6 2001:db8::10",
            "s=FreeSWITCH",
            "c=IN IP6 2001:db8::10",
            "t=0 0",
            "m=audio 16384 RTP/SAVP 9 101",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=ptime:20",
            "a=recvonly",
            "a=rtcp:16385 IN IP6 2001:db8::10",
            "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ==",
            "m=video 0 RTP/SAVP 96",
            "",
        ]
        .join("\n")
}

/// A Kamailio/rtpengine-style plain RTP offer with session-level
/// direction, media c= overriding the session one, multicast-style ttl.
fn kamailio() -> String {
    crlf(&[
        "v=0",
        "o=user1 53655765 2353687637 IN IP4 198.51.100.1",
        "s=-",
        "i=A call",
        "c=IN IP4 198.51.100.1",
        "t=0 0",
        "a=sendonly",
        "m=audio 6000 RTP/AVP 0 101",
        "i=main audio",
        "c=IN IP4 198.51.100.7/127",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=X-nat:0",
        "m=audio 6002/2 RTP/AVP 0",
        "a=rtcp:7000 IN IP4 host.example.com",
    ])
}

fn all_samples() -> Vec<String> {
    vec![asterisk(), webrtc(), freeswitch_lf(), kamailio()]
}

fn parse(s: &str) -> Sdp {
    Sdp::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn err(s: &str) -> SdpError {
    Sdp::parse(s).expect_err("should fail")
}

fn c4(a: &str) -> Connection {
    Connection {
        addr_type: AddrType::Ip4,
        address: a.into(),
    }
}

/// The lines of `after` that differ from `before`, as (removed, added).
fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    let removed = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|s| s.to_string())
        .collect();
    let added = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|s| s.to_string())
        .collect();
    (removed, added)
}

#[test]
fn samples_round_trip_byte_for_byte() {
    for s in all_samples() {
        let sdp = parse(&s);
        assert_eq!(sdp.to_string(), s);
        assert_eq!(parse(&sdp.to_string()), sdp);
    }
    // No final newline, trailing empty lines, mixed endings.
    for s in [
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0",
        "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\ns=-\r\nm=audio 1 RTP/AVP 0\na=x\r\n\r\n\n",
    ] {
        assert_eq!(parse(s).to_string(), s);
    }
}

#[test]
fn asterisk_fields() {
    let sdp = parse(&asterisk());
    assert_eq!(sdp.origin_address(), Some(c4("192.0.2.10")));
    assert_eq!(sdp.connection(), Some(c4("192.0.2.10")));
    assert_eq!(sdp.direction(), None);
    let m = sdp.media();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].kind(), m[0].port(), m[0].proto()),
        ("audio", 10000, "RTP/SAVP")
    );
    assert_eq!(m[0].formats(), &["0", "8", "101"]);
    assert_eq!(m[0].port_count(), None);
    assert!(m[0].is_srtp() && !m[0].is_rejected());
    assert_eq!(m[0].connection(), None);
    assert_eq!(m[0].effective_connection(&sdp), Some(c4("192.0.2.10")));
    assert_eq!(m[0].direction(), Some(Direction::SendRecv));
    assert_eq!(m[0].rtcp(), None);
    assert!(!m[0].rtcp_mux());
    let c = m[0].crypto().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].tag, 1);
    assert_eq!(c[0].suite().unwrap(), Suite::AesCm128HmacSha1_80);
    assert_eq!(c[1].suite().unwrap(), Suite::AesCm128HmacSha1_32);
    assert_eq!(c[1].keys[0].mki, Some((1, 4)));
    assert_eq!(m[1].kind(), "video");
    assert_eq!(m[1].rtcp(), Some((10003, None)));
    assert_eq!(m[1].crypto().unwrap().len(), 1);
    let attrs: Vec<_> = m[1].attributes().collect();
    assert_eq!(attrs[0].0, "crypto");
    assert_eq!(attrs[1], ("rtpmap", Some("99 H264/90000")));
    assert_eq!(attrs[4], ("sendrecv", None));
}

#[test]
fn webrtc_fields_and_ice_dtls_removal() {
    let s = webrtc();
    let mut sdp = parse(&s);
    let m = &sdp.media()[0];
    assert_eq!(m.proto(), "UDP/TLS/RTP/SAVPF");
    assert!(m.is_srtp() && m.rtcp_mux());
    assert_eq!(m.rtcp(), Some((9, Some(c4("0.0.0.0")))));
    assert!(m.rtcp().unwrap().1.unwrap().is_unspecified());
    assert_eq!(m.connection(), Some(c4("203.0.113.5")));
    assert_eq!(sdp.media()[1].direction(), Some(Direction::SendOnly));
    assert_eq!(m.crypto().unwrap(), vec![]);

    sdp.remove_ice();
    let t = sdp.to_string();
    for gone in [
        "a=candidate",
        "a=end-of-candidates",
        "a=ice-ufrag",
        "a=ice-pwd",
        "a=ice-options",
    ] {
        assert!(!t.contains(gone), "{gone} still in\n{t}");
    }
    let (removed, added) = diff(&s, &t);
    assert!(added.is_empty());
    assert_eq!(removed.len(), 9, "{removed:?}");
    assert!(t.contains("a=fingerprint:") && t.contains("a=setup:actpass"));

    sdp.remove_dtls();
    let u = sdp.to_string();
    for gone in ["a=fingerprint", "a=setup", "a=tls-id", "a=dtls-id"] {
        assert!(!u.contains(gone), "{gone} still in\n{u}");
    }
    // Everything else is untouched and in order.
    let expect: String = s
        .split_inclusive("\r\n")
        .filter(|l| {
            ![
                "a=candidate",
                "a=end-of-candidates",
                "a=ice-",
                "a=fingerprint",
                "a=setup",
                "a=tls-id",
                "a=dtls-",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(u, expect);
    assert_eq!(parse(&u), sdp);
}

#[test]
fn freeswitch_lf_ipv6_rejected_stream() {
    let s = freeswitch_lf();
    let mut sdp = parse(&s);
    let v6 = Connection {
        addr_type: AddrType::Ip6,
        address: "2001:db8::10".into(),
    };
    assert_eq!(sdp.origin_address(), Some(v6.clone()));
    assert_eq!(v6.ip(), Some("2001:db8::10".parse().unwrap()));
    let a = &sdp.media()[0];
    assert_eq!(a.rtcp(), Some((16385, Some(v6.clone()))));
    assert_eq!(a.direction(), Some(Direction::RecvOnly));
    let c = a.crypto().unwrap();
    assert_eq!(c[0].suite().unwrap(), Suite::AesCm256HmacSha1_80);
    assert_eq!(c[0].master_keys().unwrap()[0].key_len(), 32);
    let v = &sdp.media()[1];
    assert!(v.is_rejected());
    assert_eq!(v.effective_connection(&sdp), Some(v6));

    // Added lines use LF like the input.
    sdp.media_mut()[1].add_attribute("inactive", None);
    sdp.media_mut()[0].set_rtcp_mux(true);
    let t = sdp.to_string();
    assert!(!t.contains('\r'));
    assert!(t.ends_with("m=video 0 RTP/SAVP 96\na=inactive\n"), "{t}");
    assert!(t.contains("inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ==\na=rtcp-mux\nm=video"));
}

#[test]
fn kamailio_session_direction_and_media_connection() {
    let sdp = parse(&kamailio());
    assert_eq!(sdp.direction(), Some(Direction::SendOnly));
    let m = &sdp.media()[0];
    assert_eq!(m.direction(), None);
    assert_eq!(m.effective_direction(&sdp), Direction::SendOnly);
    // The /ttl is not part of the address.
    assert_eq!(m.connection(), Some(c4("198.51.100.7")));
    assert_eq!(m.effective_connection(&sdp), Some(c4("198.51.100.7")));
    assert!(!m.is_srtp());
    let m2 = &sdp.media()[1];
    assert_eq!((m2.port(), m2.port_count()), (6002, Some(2)));
    assert_eq!(m2.effective_connection(&sdp), Some(c4("198.51.100.1")));
    let (port, host) = m2.rtcp().unwrap();
    assert_eq!(port, 7000);
    let host = host.unwrap();
    assert_eq!(host.address, "host.example.com");
    assert_eq!(host.ip(), None);
    let attrs: Vec<_> = sdp.attributes().collect();
    assert_eq!(attrs, vec![("sendonly", None)]);
}

#[test]
fn rewrite_port_proto_and_connections() {
    let s = asterisk();
    let mut sdp = parse(&s);
    let relay = c4("203.0.113.99");
    sdp.set_origin_address(&relay);
    sdp.bump_origin_version();
    sdp.set_connection(Some(&relay));
    {
        let m = &mut sdp.media_mut()[0];
        m.set_port(30000);
        m.set_proto("RTP/AVP");
        assert!(!m.is_srtp());
        assert_eq!(m.port(), 30000);
    }
    sdp.media_mut()[1].set_connection(Some(&c4("203.0.113.100")));
    let t = sdp.to_string();
    let (removed, added) = diff(&s, &t);
    assert_eq!(
        removed,
        vec![
            "o=- 1122334455 1122334455 IN IP4 192.0.2.10\r\n",
            "c=IN IP4 192.0.2.10\r\n",
            "m=audio 10000 RTP/SAVP 0 8 101\r\n",
        ]
    );
    assert_eq!(
        added,
        vec![
            "o=- 1122334455 1122334456 IN IP4 203.0.113.99\r\n",
            "c=IN IP4 203.0.113.99\r\n",
            "m=audio 30000 RTP/AVP 0 8 101\r\n",
            "c=IN IP4 203.0.113.100\r\n",
        ]
    );
    // The media c= went right after the m= line (no i=).
    assert!(t.contains("m=video 10002 RTP/SAVP 99\r\nc=IN IP4 203.0.113.100\r\nb=AS:384\r\n"));
    assert_eq!(parse(&t), sdp);
    assert_eq!(
        sdp.media()[1].effective_connection(&sdp),
        Some(c4("203.0.113.100"))
    );

    // Remove the session c=; insert it back before t=.
    sdp.set_connection(None);
    assert_eq!(sdp.connection(), None);
    sdp.set_connection(Some(&Connection::new("2001:db8::1".parse().unwrap())));
    assert!(sdp
        .to_string()
        .contains("s=Asterisk\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"));

    // Media c= after i=, and replacing multiple c= lines.
    let mut k = parse(&kamailio());
    k.media_mut()[1].set_connection(Some(&relay));
    assert!(k
        .to_string()
        .contains("m=audio 6002/2 RTP/AVP 0\r\nc=IN IP4 203.0.113.99\r\na=rtcp"));
    k.media_mut()[0].set_connection(Some(&relay));
    assert!(k
        .to_string()
        .contains("i=main audio\r\nc=IN IP4 203.0.113.99\r\na=rtpmap:0"));
    k.media_mut()[0].set_connection(None);
    assert_eq!(k.media()[0].connection(), None);
    // Port count is kept when the port changes.
    k.media_mut()[1].set_port(40000);
    assert!(k.to_string().contains("m=audio 40000/2 RTP/AVP 0\r\n"));
}

#[test]
fn bump_origin_version_carries() {
    let mut sdp = parse("v=0\r\no=alice 1 999 IN IP4 192.0.2.1\r\ns=-\r\n");
    sdp.bump_origin_version();
    assert!(sdp
        .to_string()
        .contains("o=alice 1 1000 IN IP4 192.0.2.1\r\n"));
    let mut big = parse("v=0\no=- 1 99999999999999999999999 IN IP4 a.example\ns=-\n");
    big.bump_origin_version();
    assert!(big
        .to_string()
        .contains("o=- 1 100000000000000000000000 IN IP4 a.example\n"));
    assert_eq!(big.origin_address(), Some(c4("a.example")));
}

#[test]
fn rewrite_rtcp_mux_direction() {
    let s = asterisk();
    let mut sdp = parse(&s);
    let relay = c4("203.0.113.99");
    // Replace in place.
    sdp.media_mut()[1].set_rtcp(Some((30003, Some(&relay))));
    assert!(sdp
            .to_string()
            .contains("a=fmtp:99 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp:30003 IN IP4 203.0.113.99\r\na=sendrecv\r\n"));
    assert_eq!(sdp.media()[1].rtcp(), Some((30003, Some(relay.clone()))));
    // Insert at the end when missing; remove.
    sdp.media_mut()[0].set_rtcp(Some((30001, None)));
    assert!(sdp
        .to_string()
        .contains("a=sendrecv\r\na=rtcp:30001\r\nm=video"));
    sdp.media_mut()[0].set_rtcp(None);
    assert_eq!(sdp.media()[0].rtcp(), None);
    // rtcp-mux on (once) and off.
    sdp.media_mut()[0].set_rtcp_mux(true);
    sdp.media_mut()[0].set_rtcp_mux(true);
    assert_eq!(sdp.to_string().matches("a=rtcp-mux").count(), 1);
    assert!(sdp.media()[0].rtcp_mux());
    sdp.media_mut()[0].set_rtcp_mux(false);
    assert!(!sdp.media()[0].rtcp_mux());
    // Direction replaced in place.
    sdp.media_mut()[0].set_direction(Direction::SendOnly);
    assert!(sdp
        .to_string()
        .contains("a=maxptime:150\r\na=sendonly\r\nm=video"));
    assert_eq!(sdp.media()[0].direction(), Some(Direction::SendOnly));
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    // Back to the input exactly.
    sdp.media_mut()[0].set_direction(Direction::SendRecv);
    sdp.media_mut()[1].set_rtcp(Some((10003, None)));
    assert_eq!(sdp.to_string(), s);

    // Session direction: set, replace, remove; several media-level
    // direction lines collapse into one.
    let mut k = parse(&kamailio());
    k.set_direction(Some(Direction::Inactive));
    assert!(k.to_string().contains("t=0 0\r\na=inactive\r\nm=audio"));
    k.set_direction(None);
    assert_eq!(k.direction(), None);
    k.media_mut()[0].add_attribute("recvonly", None);
    k.media_mut()[0].add_attribute("sendonly", None);
    k.media_mut()[0].set_direction(Direction::SendRecv);
    assert_eq!(k.to_string().matches("a=sendrecv").count(), 1);
    assert!(!k.to_string().contains("only"));
}

#[test]
fn rewrite_crypto() {
    let s = asterisk();
    let mut sdp = parse(&s);
    let mut key = InlineKey::new(&[0x42; 30]);
    key.lifetime = Some(1 << 31);
    key.mki = Some((1, 1));
    let mut ours = CryptoAttr::new(1, Suite::AesCm128HmacSha1_80, vec![key]);
    ours.session_params.push("UNENCRYPTED_SRTCP".into());
    sdp.media_mut()[0].set_crypto(std::slice::from_ref(&ours));
    let t = sdp.to_string();
    // Both old lines replaced by one, at the first one's place.
    assert!(t.contains(
            "m=audio 10000 RTP/SAVP 0 8 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC|2^31|1:1 UNENCRYPTED_SRTCP\r\na=rtpmap:0"
        ), "{t}");
    assert_eq!(t.matches("a=crypto:").count(), 2);
    assert_eq!(sdp.media()[0].crypto().unwrap(), vec![ours.clone()]);
    // Remove, then insert at the end of the section.
    sdp.media_mut()[1].set_crypto(&[]);
    assert!(sdp.media()[1].crypto().unwrap().is_empty());
    sdp.media_mut()[1].set_crypto(&[ours.clone(), ours.clone()]);
    assert!(sdp.to_string().ends_with(&format!(
        "a=sendrecv\r\na=crypto:{v}\r\na=crypto:{v}\r\n",
        v = ours.to_value()
    )));
    assert_eq!(parse(&sdp.to_string()), sdp);
}

#[test]
fn attributes_add_remove() {
    let mut sdp = parse(&asterisk());
    let m = &mut sdp.media_mut()[0];
    assert_eq!(m.remove_attribute("rtpmap"), 3);
    assert_eq!(m.remove_attribute("RTPMAP"), 0);
    assert_eq!(m.remove_attribute("PTIME"), 1);
    m.add_attribute("label", Some("1"));
    // A value cannot inject lines.
    m.add_attribute("x-evil\r\na=inject", Some("v\r\nm=audio 1 RTP/AVP 0"));
    let names: Vec<_> = m.attributes().map(|a| a.0).collect();
    assert_eq!(
        names,
        vec![
            "crypto",
            "crypto",
            "fmtp",
            "maxptime",
            "sendrecv",
            "label",
            "x-evila=inject"
        ]
    );
    let t = sdp.to_string();
    let again = parse(&t);
    assert_eq!(again, sdp);
    assert_eq!(again.media().len(), 2);
    sdp.add_attribute("tool", Some("rampart"));
    sdp.add_attribute("ice-lite", None);
    assert_eq!(sdp.attributes().count(), 2);
    assert!(sdp
        .to_string()
        .contains("t=0 0\r\na=tool:rampart\r\na=ice-lite\r\nm=audio"));
    sdp.remove_ice();
    assert_eq!(sdp.remove_attribute("tool"), 1);
    assert_eq!(sdp.attributes().count(), 0);
}

#[test]
fn no_final_newline_then_append() {
    let s = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\na=sendrecv";
    let mut sdp = parse(s);
    assert_eq!(sdp.to_string(), s);
    sdp.media_mut()[0].add_attribute("rtcp-mux", None);
    let t = sdp.to_string();
    assert_eq!(t, format!("{s}\r\na=rtcp-mux"));
    assert_eq!(parse(&t), sdp);
    sdp.media_mut()[0].remove_attribute("rtcp-mux");
    assert_eq!(sdp.to_string(), s);
}

#[test]
fn connection_helpers() {
    assert_eq!(c4("::1").ip(), None);
    assert_eq!(c4("example.com").ip(), None);
    assert_eq!(c4("10.0.0.1").ip(), Some("10.0.0.1".parse().unwrap()));
    let c = Connection::from("2001:db8::2".parse::<IpAddr>().unwrap());
    assert_eq!(c.addr_type, AddrType::Ip6);
    assert_eq!(c.to_string(), "IN IP6 2001:db8::2");
    assert_eq!(AddrType::Ip4.as_str(), "IP4");
    assert_eq!(Direction::from_name("SENDONLY"), Some(Direction::SendOnly));
    assert_eq!(Direction::from_name("sendonlyx"), None);
    assert_eq!(Direction::Inactive.as_str(), "inactive");
    // Lower-case address types and a foreign network type.
    let sdp = parse("v=0\r\no=- 1 1 ATM NSAP 47.0005\r\ns=-\r\nc=in ip4 192.0.2.1\r\n");
    assert_eq!(sdp.origin_address(), None);
    assert_eq!(sdp.connection(), Some(c4("192.0.2.1")));
}

#[test]
fn debug_redacts_keys() {
    let sdp = parse(&asterisk());
    let w = parse(&webrtc());
    let k = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nk=clear:secret123\r\n");
    let d = format!("{sdp:?} {w:?} {k:?} {:?}", sdp.media()[0]);
    assert!(!d.contains(KEY1) && !d.contains(KEY2), "{d}");
    assert!(
        !d.contains("P2uYro0UCOQ4zxjKXaWCBui1") && !d.contains("secret123"),
        "{d}"
    );
    assert!(
        d.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:<redacted>|2^20|1:4"),
        "{d}"
    );
    assert_eq!(
        redact("a=crypto:1 X inline:abc|1:1;INLINE:def|2:1 P"),
        "a=crypto:1 X inline:<redacted>|1:1;INLINE:<redacted>|2:1 P"
    );
}

#[test]
fn errors_name_the_line() {
    let ok_head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    let cases: Vec<(String, usize, &str)> = vec![
        ("".into(), 0, "empty SDP"),
        ("\r\n\r\n".into(), 0, "empty SDP"),
        (
            "o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n".into(),
            1,
            "first line must be v=0",
        ),
        ("v=1\r\n".into(), 1, "unsupported SDP version \"1\""),
        ("v=0\r\ns=-\r\n".into(), 0, "missing o= line"),
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n".into(),
            0,
            "missing s= line",
        ),
        ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n".into(), 2, "o= must be"),
        (
            "v=0\r\no=- 1 x IN IP4 1.2.3.4\r\ns=-\r\n".into(),
            2,
            "session version \"x\"",
        ),
        (
            "v=0\r\no=- 1 1 IN IP5 1.2.3.4\r\ns=-\r\n".into(),
            2,
            "unsupported address type \"IP5\"",
        ),
        (
            format!("{ok_head}o=- 1 1 IN IP4 1.2.3.4\r\n"),
            4,
            "second o= line",
        ),
        (format!("{ok_head}s=again\r\n"), 4, "second s= line"),
        (format!("{ok_head}v=0\r\n"), 4, "only as the first line"),
        (format!("{ok_head}c=IN IP4\r\n"), 4, "c= must be"),
        (
            format!("{ok_head}c=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.5\r\n"),
            5,
            "second session-level c=",
        ),
        (
            format!("{ok_head}c=IN IP4 /127\r\n"),
            4,
            "empty connection address",
        ),
        (
            format!("{ok_head}t=0 0\r\nm=audio 70000 RTP/AVP 0\r\n"),
            5,
            "invalid m= port \"70000\"",
        ),
        (
            format!("{ok_head}m=audio +5 RTP/AVP 0\r\n"),
            4,
            "invalid m= port",
        ),
        (
            format!("{ok_head}m=audio 5000/0 RTP/AVP 0\r\n"),
            4,
            "invalid m= port count \"0\"",
        ),
        (format!("{ok_head}m=audio 5000\r\n"), 4, "m= must be"),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\nc=IN IP6\r\n"),
            5,
            "c= must be",
        ),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\ns=x\r\n"),
            5,
            "s= is allowed only at session level",
        ),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\no=x\r\n"),
            5,
            "o= is allowed only at session level",
        ),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\na=rtcp:x\r\n"),
            5,
            "a=rtcp must start with a port",
        ),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\na=rtcp:5001 IN IP4\r\n"),
            5,
            "a=rtcp must be",
        ),
        (
            format!("{ok_head}m=audio 5000 RTP/AVP 0\r\na=rtcp\r\n"),
            5,
            "a=rtcp must start with a port",
        ),
        (
            format!("{ok_head}garbage\r\n"),
            4,
            "expected \"<type>=<value>\"",
        ),
        (format!("{ok_head}ab=1\r\n"), 4, "expected"),
        (format!("{ok_head}1=1\r\n"), 4, "expected"),
        (format!("{ok_head}=x\r\n"), 4, "expected"),
        (format!("{ok_head}\r\nt=0 0\r\n"), 4, "empty line"),
        (
            format!("{ok_head}a=x\ry\r\n"),
            4,
            "carriage return inside a line",
        ),
        (format!("{ok_head}a=x\0y\r\n"), 4, "control character"),
        (
            format!("{ok_head}a={}\r\n", "x".repeat(MAX_LINE_LEN)),
            4,
            "longer than the 4096 allowed",
        ),
        (
            format!("{ok_head}a={}\r\n", "x".repeat(MAX_SDP_LEN)),
            0,
            "more than the 65536 allowed",
        ),
    ];
    for (input, line, want) in cases {
        let e = err(&input);
        assert_eq!(e.line, line, "{input:?}: {e}");
        assert!(
            e.message.contains(want),
            "{input:?}: got {e}, want {want:?}"
        );
    }
    // A line of exactly the limit is fine.
    assert!(Sdp::parse(&format!("{ok_head}a={}\r\n", "x".repeat(MAX_LINE_LEN - 2))).is_ok());
    // Display.
    let e = err(&format!("{ok_head}garbage\r\n"));
    assert!(e.to_string().starts_with("SDP line 4: expected"), "{e}");
    let _: &dyn std::error::Error = &e;
}

#[test]
fn media_section_limit() {
    let mut s = String::from("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n");
    for i in 0..MAX_MEDIA {
        s.push_str(&format!("m=audio {} RTP/AVP 0\r\n", 2000 + 2 * i));
    }
    assert_eq!(parse(&s).media().len(), MAX_MEDIA);
    s.push_str("m=audio 9000 RTP/AVP 0\r\n");
    let e = err(&s);
    assert_eq!(e.line, 4 + MAX_MEDIA + 1);
    assert!(e.message.contains("more than 64 media sections"), "{e}");
}

#[test]
fn parse_bytes_checks_utf8() {
    let mut b = asterisk().into_bytes();
    assert_eq!(Sdp::parse_bytes(&b).unwrap().to_string(), asterisk());
    // Put an invalid byte on line 3 (s=Asterisk).
    let pos = b.windows(3).position(|w| w == b"Ast").unwrap();
    b[pos] = 0xff;
    let e = Sdp::parse_bytes(&b).unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (3, "not valid UTF-8"));
    let big = vec![b'a'; MAX_SDP_LEN + 1];
    assert_eq!(Sdp::parse_bytes(&big).unwrap_err().line, 0);
}

#[test]
fn bad_crypto_line_is_named() {
    let s = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 5000 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:32",
        "a=crypto:3 FOO_BAR inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
    ]);
    let sdp = parse(&s);
    let e = sdp.media()[0].crypto().unwrap_err();
    assert_eq!(e.line, 8);
    assert_eq!(
        e.to_string(),
        "SDP line 8: a=crypto: MKI length 32 is not supported (Rampart supports 1 to 8 bytes)"
    );
    let each = sdp.media()[0].crypto_lines();
    assert_eq!(each.len(), 3);
    assert_eq!(each[0].0, 7);
    assert!(each[0].1.is_ok() && each[1].1.is_err());
    // An unknown suite parses; suite() says why it is unusable.
    let foo = each[2].1.as_ref().unwrap();
    assert_eq!(
        foo.suite().unwrap_err().0,
        "unknown crypto suite \"FOO_BAR\""
    );
}

// ---- property tests ----

/// Lines that may appear in an SDP, valid and odd.
fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a=rtpmap:0 PCMU/8000".to_string()),
        Just("a=sendrecv".to_string()),
        Just("a=recvonly".to_string()),
        Just("a=rtcp-mux".to_string()),
        Just("a=rtcp:9 IN IP4 0.0.0.0".to_string()),
        Just("a=rtcp:5001".to_string()),
        Just("a=ice-ufrag:abcd".to_string()),
        Just("a=candidate:1 1 udp 1 192.0.2.1 5000 typ host".to_string()),
        Just("a=fingerprint:sha-256 AA:BB".to_string()),
        Just("a=setup:actpass".to_string()),
        Just("a=dtls-id:1".to_string()),
        Just(format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^20|1:4"
        )),
        Just("a=crypto:9 BAD".to_string()),
        Just("c=IN IP4 192.0.2.7".to_string()),
        Just("c=IN IP6 ::1".to_string()),
        Just("b=AS:64".to_string()),
        Just("i=info".to_string()),
        (1u16..65535, 0u16..3).prop_map(|(p, c)| if c == 0 {
            format!("m=audio {p} RTP/AVP 0 8")
        } else {
            format!("m=video {p}/{c} RTP/SAVPF 96")
        }),
        "[a-z]=[ -~]{0,20}",
        "a=[a-z-]{1,10}(:[ -~]{0,20})?",
    ]
}

fn sdp_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((body_line(), 0u8..3), 0..30),
        0u8..3,
        0usize..3,
    )
        .prop_map(|(lines, head_eol, trailer)| {
            let e = |k: u8| match k {
                0 => "\r\n",
                1 => "\n",
                _ => "",
            };
            let mut s = format!(
                "v=0{e}o=- 1 1 IN IP4 192.0.2.1{e}s=-{e}t=0 0{e}",
                e = if head_eol == 1 { "\n" } else { "\r\n" }
            );
            let n = lines.len();
            for (i, (l, k)) in lines.into_iter().enumerate() {
                s.push_str(&l);
                // Only the last line may lack an ending.
                s.push_str(if k == 2 && i + 1 < n { "\r\n" } else { e(k) });
            }
            if !s.ends_with('\n') {
                return s;
            }
            for _ in 0..trailer {
                s.push_str("\r\n");
            }
            s
        })
}

/// Applies a rewrite chosen by `op` to media section `i`.
fn rewrite(sdp: &mut Sdp, op: u8, i: usize) {
    let relay = c4("203.0.113.1");
    let n = sdp.media().len();
    match op {
        0 => sdp.set_connection(Some(&relay)),
        1 => sdp.set_connection(None),
        2 => sdp.set_origin_address(&relay),
        3 => sdp.bump_origin_version(),
        4 => sdp.remove_ice(),
        5 => sdp.remove_dtls(),
        6 => sdp.set_direction(Some(Direction::Inactive)),
        7 => sdp.add_attribute("x", Some("y")),
        _ if n == 0 => {}
        _ => {
            let m = &mut sdp.media_mut()[i % n];
            match op {
                8 => m.set_port(0),
                9 => m.set_proto("RTP/SAVP"),
                10 => m.set_connection(Some(&relay)),
                11 => m.set_connection(None),
                12 => m.set_rtcp(Some((5001, Some(&relay)))),
                13 => m.set_rtcp(None),
                14 => m.set_rtcp_mux(true),
                15 => m.set_rtcp_mux(false),
                16 => m.set_direction(Direction::SendOnly),
                17 => m.set_crypto(&[CryptoAttr::new(
                    2,
                    Suite::AesCm128HmacSha1_32,
                    vec![InlineKey::new(&[7; 30])],
                )]),
                18 => m.set_crypto(&[]),
                19 => {
                    m.remove_attribute("rtpmap");
                }
                _ => m.add_attribute("label", Some("1")),
            }
        }
    }
}

proptest! {
    #[test]
    fn generated_sdp_round_trips(s in sdp_text()) {
        if let Ok(sdp) = Sdp::parse(&s) {
            let t = sdp.to_string();
            prop_assert_eq!(&t, &s);
            prop_assert_eq!(Sdp::parse(&t).unwrap(), sdp);
        }
    }

    #[test]
    fn rewritten_sdp_reparses_equal(
        s in sdp_text(),
        ops in proptest::collection::vec((0u8..21, 0usize..8), 0..12),
    ) {
        if let Ok(mut sdp) = Sdp::parse(&s) {
            for (op, i) in ops {
                rewrite(&mut sdp, op, i);
                let again = Sdp::parse(&sdp.to_string());
                prop_assert!(again.is_ok(), "{:?}\n{}", again, sdp);
                prop_assert_eq!(again.unwrap(), sdp.clone());
            }
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "(?s).{0,600}") {
        if let Ok(sdp) = Sdp::parse(&s) {
            prop_assert_eq!(sdp.to_string(), s);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(sdp) = Sdp::parse_bytes(&b) {
            prop_assert_eq!(sdp.to_string().into_bytes(), b);
        }
    }

    #[test]
    fn sdp_like_strings_never_panic(
        s in "v=0\r?\n(([a-z]|[A-Z0-9 =]{0,2})=[ -~\t\r]{0,40}\r?\n?){0,20}"
    ) {
        if let Ok(sdp) = Sdp::parse(&s) {
            prop_assert_eq!(sdp.to_string(), s.clone());
            for m in sdp.media() {
                let _ = (m.crypto(), m.rtcp(), m.connection(), m.effective_connection(&sdp));
            }
            let _ = (sdp.origin_address(), sdp.connection(), sdp.direction());
        }
    }
}
