//! ng protocol conformance: a node started in-process is driven over UDP
//! (and TCP) with the dictionaries Kamailio's and OpenSIPS' rtpengine
//! modules send, in their key order, and media is then sent through it by
//! two "phones" (UDP sockets with `rampart::srtp` contexts built from the
//! `a=crypto` lines of the SDPs Rampart returned).
//!
//! Each test uses its own media port range and ng port 0, so tests run in
//! parallel.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use rampart::config::Config;
use rampart::control::ng_bencode::Value;
use rampart::control::sdes::CryptoAttr;
use rampart::control::sdp::Sdp;
use rampart::srtp::{Context, MasterKey, Policy, Suite};

mod support;

use support::ng::*;

// ---- ng client -----------------------------------------------------------

// ---- node and phones -----------------------------------------------------

fn config(port_min: u16) -> Config {
    ng_config(port_min, 2, "ng-conformance")
}

struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    keys: Vec<(u32, Suite, MasterKey)>,
}

fn phone() -> Phone {
    let [rtp, rtcp] = phone_sockets(Duration::from_millis(500));
    Phone {
        rtp,
        rtcp,
        keys: Vec::new(),
    }
}

impl Phone {
    fn port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    /// An SDP media section. `suites` empty: plain RTP.
    fn media(&mut self, kind: &str, proto: &str, suites: &[Suite], extra: &str) -> String {
        let mut m = m_lines(kind, proto, "0 8", &self.rtp, &self.rtcp);
        for (i, su) in suites.iter().enumerate() {
            let (line, k) = crypto_line(i as u32 + 1, *su, "");
            m.push_str(&line);
            self.keys.push((i as u32 + 1, *su, k));
        }
        m.push_str(extra);
        m
    }

    /// An answer's section: one crypto line (the given tag and suite).
    fn answer_media(&mut self, proto: &str, line: Option<(u32, Suite)>, extra: &str) -> String {
        let mut m = m_lines("audio", proto, "0", &self.rtp, &self.rtcp);
        if let Some((tag, su)) = line {
            let (line, k) = crypto_line(tag, su, "");
            m.push_str(&line);
            self.keys.push((tag, su, k));
        }
        m.push_str(extra);
        m
    }
}

/// Where Rampart wants media for section `i`, and its `a=crypto` lines.
fn target(sdp_text: &str, i: usize) -> (SocketAddr, Vec<CryptoAttr>, String, bool) {
    let sdp = Sdp::parse(sdp_text).expect("Rampart's SDP parses");
    let m = &sdp.media()[i];
    let ip = m.effective_connection(&sdp).unwrap().ip().unwrap();
    (
        SocketAddr::new(ip, m.port()),
        m.crypto().unwrap(),
        m.proto().to_string(),
        m.rtcp_mux(),
    )
}

fn ctx_from(attr: &CryptoAttr) -> Context {
    let su = attr.suite().unwrap();
    Context::new(Policy::new(su, attr.keys[0].to_master_key(su).unwrap())).unwrap()
}

/// Sends one RTP packet from `from` (protected with `tx` if any) to `to`
/// and checks that `rx_sock` gets it and that it unprotects with `rx`.
fn flow(
    from: &UdpSocket,
    to: SocketAddr,
    tx: Option<&mut Context>,
    rx_sock: &UdpSocket,
    rx: Option<&mut Context>,
    seq: u16,
    ssrc: u32,
) {
    let payload = format!("media {seq} {ssrc}").into_bytes();
    let mut pkt = rtp(seq, ssrc, &payload);
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = match tx {
        Some(c) => c.protect_rtp(&mut pkt, n).unwrap(),
        None => n,
    };
    let mut buf = vec![0u8; 2048];
    // A few tries: the first packets may race the data plane's setup.
    for _ in 0..5 {
        from.send_to(&pkt[..n], to).unwrap();
        if let Ok((got, _)) = rx_sock.recv_from(&mut buf) {
            let len = match rx {
                Some(c) => c.unprotect_rtp(&mut buf[..got]).expect("unprotects"),
                None => got,
            };
            assert_eq!(&buf[12..len], &payload[..], "payload relayed");
            return;
        }
    }
    panic!(
        "packet {seq} from {:?} to {to} never arrived",
        from.local_addr()
    );
}

fn offer_items<'a>(call: &str, sdp: &str, extra: Vec<(&'a str, B)>) -> Vec<(&'a str, B)> {
    // Kamailio's order: sdp, flags/options..., call-id, via-branch,
    // received-from, from-tag, command.
    let mut v = vec![("sdp", s(sdp))];
    v.extend(extra);
    v.push(("rampart-device", s(support::TEST_DEVICE)));
    v.push(("call-id", s(call)));
    v.push(("via-branch", s("z9hG4bK.1")));
    v.push(("received-from", l(&["IP4", "127.0.0.1"])));
    v.push(("from-tag", s("tagA")));
    v.push(("command", s("offer")));
    v
}

fn answer_items<'a>(call: &str, sdp: &str, extra: Vec<(&'a str, B)>) -> Vec<(&'a str, B)> {
    let mut v = vec![("sdp", s(sdp))];
    v.extend(extra);
    v.push(("rampart-device", s(support::TEST_DEVICE)));
    v.push(("call-id", s(call)));
    v.push(("received-from", l(&["IP4", "127.0.0.1"])));
    v.push(("from-tag", s("tagA")));
    v.push(("to-tag", s("tagB")));
    v.push(("command", s("answer")));
    v
}

// ---- tests ---------------------------------------------------------------

#[test]
fn ping_and_errors() {
    let mut c = config(41000);
    c.ng.max_request_bytes = 4096;
    let (_node, mut ng) = start(c);
    let r = ng.req(&[("command", s("ping"))]);
    assert_eq!(get(&r, "result"), "pong");
    let r = ng.req(&[("command", s("frobnicate"))]);
    assert_eq!(get(&r, "result"), "error");
    assert!(get(&r, "error-reason").contains("Unrecognized"));
    let r = ng.req(&[
        ("command", s("answer")),
        ("call-id", s("nope")),
        ("from-tag", s("x")),
        ("sdp", s("v=0")),
    ]);
    assert_eq!(get(&r, "result"), "error");
    // Not bencode.
    let r = ng.raw("c1", b"d7:command").unwrap();
    assert!(String::from_utf8_lossy(&r).contains("error"));
    // Too large.
    let big = "x".repeat(5000);
    let r = ng
        .raw("c2", &benc(&[("command", s("ping")), ("pad", s(&big))]))
        .unwrap();
    assert!(String::from_utf8_lossy(&r).contains("larger than"));
    // An unknown option is a warning, not a failure.
    let r = ng.req(&[("command", s("ping")), ("frobnication", s("yes"))]);
    assert_eq!(get(&r, "result"), "pong");
    assert!(get(&r, "warning").contains("frobnication"));
}

#[test]
fn savp_to_savp_different_suites() {
    let (_node, mut ng) = start(config(41200));
    let mut a = phone();
    let mut b = phone();
    let call = "savp-savp@test";
    let ma = a.media(
        "audio",
        "RTP/SAVP",
        &[Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32],
        "a=sendrecv\r\n",
    );
    let r = ng.req(&offer_items(
        call,
        &sdp(1, &[ma]),
        vec![
            ("ICE", s("remove")),
            ("flags", l(&["trust-address"])),
            ("replace", l(&["origin", "session-connection"])),
        ],
    ));
    ok(&r);
    let to_b = get(&r, "sdp").to_string();
    let (addr_b, lines_b, proto_b, _) = target(&to_b, 0);
    assert_eq!(proto_b, "RTP/SAVP");
    // A's suites first, in A's order, then the other allowed suites.
    let names: Vec<&str> = lines_b.iter().map(|c| c.suite_name.as_str()).collect();
    assert_eq!(
        &names[..2],
        &["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]
    );
    assert!(names.contains(&"AEAD_AES_256_GCM"), "{names:?}");
    // Rampart's keys are its own, not A's.
    for (_, _, k) in &a.keys {
        assert!(!to_b.contains(&inline(k)));
    }
    assert!(to_b.contains("a=sendrecv"));
    // B picks AES-256-GCM.
    let gcm = lines_b
        .iter()
        .find(|c| c.suite_name == "AEAD_AES_256_GCM")
        .unwrap();
    let mb = b.answer_media("RTP/SAVP", Some((gcm.tag, Suite::AeadAes256Gcm)), "");
    let r = ng.req(&answer_items(
        call,
        &sdp(1, &[mb]),
        vec![("ICE", s("remove"))],
    ));
    ok(&r);
    let to_a = get(&r, "sdp").to_string();
    let (addr_a, lines_a, proto_a, _) = target(&to_a, 0);
    assert_eq!(proto_a, "RTP/SAVP");
    assert_eq!(lines_a.len(), 1);
    assert_eq!(lines_a[0].tag, 1);
    assert_eq!(lines_a[0].suite_name, "AES_CM_128_HMAC_SHA1_80");

    // A -> B: A sends with its key (tag 1), B receives with Rampart's GCM key.
    let mut a_tx = ctx_key(a.keys[0].1, &a.keys[0].2);
    let mut b_rx = ctx_from(gcm);
    let mut b_tx = ctx_key(Suite::AeadAes256Gcm, &b.keys[0].2);
    let mut a_rx = ctx_from(&lines_a[0]);
    for seq in 1..=3 {
        flow(
            &a.rtp,
            addr_a,
            Some(&mut a_tx),
            &b.rtp,
            Some(&mut b_rx),
            seq,
            0x1111,
        );
        flow(
            &b.rtp,
            addr_b,
            Some(&mut b_tx),
            &a.rtp,
            Some(&mut a_rx),
            seq,
            0x2222,
        );
    }
    let q = ng.req(&[("call-id", s(call)), ("command", s("query"))]);
    ok(&q);
    assert_eq!(get(&q, "security"), "encrypted");
    let tags = q.get("tags").unwrap();
    let ma = &tags
        .get("tagA")
        .unwrap()
        .get("medias")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(get(ma, "crypto suite"), "AES_CM_128_HMAC_SHA1_80");
    let mb = &tags
        .get("tagB")
        .unwrap()
        .get("medias")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(get(mb, "crypto suite"), "AEAD_AES_256_GCM");
    let pk = ma.get("streams").unwrap().as_list().unwrap()[0]
        .get("stats")
        .unwrap()
        .get("packets")
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(pk >= 3, "{pk}");
    let lst = ng.req(&[("command", s("list"))]);
    assert!(lst
        .get("calls")
        .unwrap()
        .as_list()
        .unwrap()
        .iter()
        .any(|c| c.as_str() == Some(call)));
    let d = ng.req(&[
        ("call-id", s(call)),
        ("from-tag", s("tagA")),
        ("to-tag", s("tagB")),
        ("command", s("delete")),
    ]);
    ok(&d);
    assert!(d.get("totals").is_some());
    let q = ng.req(&[("call-id", s(call)), ("command", s("query"))]);
    assert_eq!(get(&q, "result"), "error");
}

#[test]
fn savp_to_avp_and_back() {
    let (_node, mut ng) = start(config(41400));
    // SAVP (A) -> AVP (B).
    let mut a = phone();
    let mut b = phone();
    let call = "savp-avp";
    let ma = a.media("audio", "RTP/SAVP", &[Suite::AesCm256HmacSha1_80], "");
    let r = ng.req(&offer_items(
        call,
        &sdp(1, &[ma]),
        vec![("transport-protocol", s("RTP/AVP"))],
    ));
    ok(&r);
    let (addr_b, lines_b, proto_b, _) = target(get(&r, "sdp"), 0);
    assert_eq!(proto_b, "RTP/AVP");
    assert!(lines_b.is_empty());
    let mb = b.answer_media("RTP/AVP", None, "");
    let r = ng.req(&answer_items(call, &sdp(1, &[mb]), vec![]));
    ok(&r);
    let (addr_a, lines_a, proto_a, _) = target(get(&r, "sdp"), 0);
    assert_eq!(proto_a, "RTP/SAVP");
    assert_eq!(lines_a[0].suite_name, "AES_256_CM_HMAC_SHA1_80");
    let mut a_tx = ctx_key(a.keys[0].1, &a.keys[0].2);
    let mut a_rx = ctx_from(&lines_a[0]);
    flow(&a.rtp, addr_a, Some(&mut a_tx), &b.rtp, None, 1, 7);
    flow(&b.rtp, addr_b, None, &a.rtp, Some(&mut a_rx), 1, 8);
    let q = ng.req(&[("call-id", s(call)), ("command", s("query"))]);
    assert_eq!(get(&q, "security"), "nonsecure");

    // AVP (A) -> SAVP (B): B gets every default suite.
    let mut a = phone();
    let mut b = phone();
    let call = "avp-savp";
    let ma = a.media("audio", "RTP/AVP", &[], "");
    let r = ng.req(&offer_items(
        call,
        &sdp(1, &[ma]),
        vec![
            ("transport-protocol", s("RTP/SAVP")),
            ("SDES", l(&["no-AES_256_CM_HMAC_SHA1_32"])),
        ],
    ));
    ok(&r);
    let (addr_b, lines_b, proto_b, _) = target(get(&r, "sdp"), 0);
    assert_eq!(proto_b, "RTP/SAVP");
    assert_eq!(lines_b.len(), 7, "8 defaults less the one refused");
    assert!(lines_b
        .iter()
        .all(|c| c.suite_name != "AES_256_CM_HMAC_SHA1_32"));
    let pick = lines_b
        .iter()
        .find(|c| c.suite_name == "AES_CM_128_HMAC_SHA1_32")
        .unwrap();
    let mb = b.answer_media("RTP/SAVP", Some((pick.tag, Suite::AesCm128HmacSha1_32)), "");
    let r = ng.req(&answer_items(call, &sdp(1, &[mb]), vec![]));
    ok(&r);
    let (addr_a, lines_a, proto_a, _) = target(get(&r, "sdp"), 0);
    assert_eq!(proto_a, "RTP/AVP");
    assert!(lines_a.is_empty());
    let mut b_rx = ctx_from(pick);
    let mut b_tx = ctx_key(Suite::AesCm128HmacSha1_32, &b.keys[0].2);
    flow(&a.rtp, addr_a, None, &b.rtp, Some(&mut b_rx), 1, 9);
    flow(&b.rtp, addr_b, Some(&mut b_tx), &a.rtp, None, 1, 10);
}

#[test]
fn retransmitted_cookie_is_not_executed_twice() {
    let (node, ng) = start(config(41600));
    let mut a = phone();
    let ma = a.media("audio", "RTP/SAVP", &[Suite::AesCm128HmacSha1_80], "");
    let items = offer_items("retrans", &sdp(1, &[ma]), vec![]);
    let r1 = ng.raw("same-cookie", &benc(&items)).unwrap();
    let r2 = ng.raw("same-cookie", &benc(&items)).unwrap();
    assert_eq!(r1, r2, "the retransmission gets the same reply");
    let c = &node.shared().ng.counters;
    assert_eq!(
        c.commands[1].load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one offer executed"
    );
    assert_eq!(c.cached.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn hold_unhold_and_rekey_keep_media() {
    let (_node, mut ng) = start(config(41800));
    let mut a = phone();
    let mut b = phone();
    let call = "hold";
    let ma = a.media(
        "audio",
        "RTP/SAVP",
        &[Suite::AesCm128HmacSha1_80],
        "a=sendrecv\r\n",
    );
    let r = ng.req(&offer_items(call, &sdp(1, &[ma]), vec![]));
    let (addr_b, lines_b, _, _) = target(get(&r, "sdp"), 0);
    let mb = b.answer_media(
        "RTP/SAVP",
        Some((lines_b[0].tag, Suite::AesCm128HmacSha1_80)),
        "a=sendrecv\r\n",
    );
    let r = ng.req(&answer_items(
        call,
        &sdp(1, std::slice::from_ref(&mb)),
        vec![],
    ));
    let (addr_a, lines_a, _, _) = target(get(&r, "sdp"), 0);
    let mut a_tx = ctx_key(a.keys[0].1, &a.keys[0].2);
    let mut a_rx = ctx_from(&lines_a[0]);
    let mut b_rx = ctx_from(&lines_b[0]);
    let mut b_tx = ctx_key(Suite::AesCm128HmacSha1_80, &b.keys[0].2);
    for seq in 1..=3 {
        flow(
            &a.rtp,
            addr_a,
            Some(&mut a_tx),
            &b.rtp,
            Some(&mut b_rx),
            seq,
            1,
        );
        flow(
            &b.rtp,
            addr_b,
            Some(&mut b_tx),
            &a.rtp,
            Some(&mut a_rx),
            seq,
            2,
        );
    }
    // Hold: A re-offers sendonly with the same key.
    let a_line = format!(
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
        inline(&a.keys[0].2)
    );
    let hold = format!(
        "m=audio {} RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n{a_line}a=sendonly\r\n",
        a.port()
    );
    let r = ng.req(&offer_items(call, &sdp(2, &[hold]), vec![]));
    ok(&r);
    let (addr_b2, lines_b2, _, _) = target(get(&r, "sdp"), 0);
    assert!(get(&r, "sdp").contains("a=sendonly"));
    assert_eq!(addr_b2, addr_b, "same ports on re-offer");
    assert_eq!(
        lines_b2[0].to_value(),
        lines_b[0].to_value(),
        "Rampart's key toward B is stable"
    );
    let mb_hold = mb.replace("a=sendrecv", "a=recvonly");
    let r = ng.req(&answer_items(call, &sdp(2, &[mb_hold]), vec![]));
    ok(&r);
    assert!(get(&r, "sdp").contains("a=recvonly"));
    let (_, lines_a2, _, _) = target(get(&r, "sdp"), 0);
    assert_eq!(lines_a2[0].to_value(), lines_a[0].to_value());
    // Media still flows, same contexts (ROC/replay state kept).
    flow(
        &a.rtp,
        addr_a,
        Some(&mut a_tx),
        &b.rtp,
        Some(&mut b_rx),
        4,
        1,
    );
    // Unhold with c=0.0.0.0 first, then back, and a new key from A.
    let zero = sdp(
        3,
        &[format!(
            "m=audio {} RTP/SAVP 0\r\n{a_line}a=sendrecv\r\n",
            a.port()
        )],
    )
    .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let r = ng.req(&offer_items(call, &zero, vec![]));
    ok(&r);
    assert!(
        get(&r, "sdp").contains("c=IN IP4 0.0.0.0"),
        "hold address passed on"
    );
    let r = ng.req(&answer_items(
        call,
        &sdp(3, std::slice::from_ref(&mb)),
        vec![],
    ));
    ok(&r);
    let new_key = fresh_key(Suite::AesCm128HmacSha1_80);
    let unhold = format!(
        "m=audio {} RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\na=sendrecv\r\n",
        a.port(),
        inline(&new_key)
    );
    let r = ng.req(&offer_items(call, &sdp(4, &[unhold]), vec![]));
    ok(&r);
    let r = ng.req(&answer_items(call, &sdp(4, &[mb]), vec![]));
    ok(&r);
    // A sends with its new key, continuing its sequence: B still decrypts
    // with the context it had (Rampart's key toward B did not change).
    let mut a_tx2 = ctx_key(Suite::AesCm128HmacSha1_80, &new_key);
    for seq in 5..=7 {
        flow(
            &a.rtp,
            addr_a,
            Some(&mut a_tx2),
            &b.rtp,
            Some(&mut b_rx),
            seq,
            1,
        );
        flow(
            &b.rtp,
            addr_b,
            Some(&mut b_tx),
            &a.rtp,
            Some(&mut a_rx),
            seq,
            2,
        );
    }
    let d = ng.req(&[("call-id", s(call)), ("command", s("delete"))]);
    ok(&d);
}

#[test]
fn rtcp_mux_demux_and_audio_video() {
    let (_node, mut ng) = start(config(42000));
    let mut a = phone();
    let mut b = phone();
    let mut av = phone(); // A's video
    let mut bv = phone(); // B's video
    let call = "av";
    let ma = a.media(
        "audio",
        "RTP/SAVP",
        &[Suite::AesCm128HmacSha1_80],
        "a=rtcp-mux\r\n",
    );
    let mv = av.media(
        "video",
        "RTP/SAVP",
        &[Suite::AesCm128HmacSha1_80],
        "a=rtcp-mux\r\n",
    );
    let r = ng.req(&offer_items(
        call,
        &sdp(1, &[ma, mv]),
        vec![("rtcp-mux", l(&["demux"]))],
    ));
    ok(&r);
    let to_b = get(&r, "sdp").to_string();
    let (addr_b, lines_b, _, mux_b) = target(&to_b, 0);
    let (addr_bv, lines_bv, _, _) = target(&to_b, 1);
    assert!(!mux_b, "demux: no rtcp-mux toward B");
    assert_ne!(addr_b.port(), addr_bv.port());
    let mb = b.answer_media("RTP/SAVP", Some((1, lines_b[0].suite().unwrap())), "");
    let mbv = bv
        .answer_media("RTP/SAVP", Some((1, lines_bv[0].suite().unwrap())), "")
        .replace("m=audio", "m=video");
    let r = ng.req(&answer_items(call, &sdp(1, &[mb, mbv]), vec![]));
    ok(&r);
    let to_a = get(&r, "sdp").to_string();
    let (addr_a, lines_a, _, mux_a) = target(&to_a, 0);
    let (addr_av, lines_av, _, _) = target(&to_a, 1);
    assert!(mux_a, "rtcp-mux accepted toward A");
    // Audio and video both relayed with their own keys.
    let mut a_tx = ctx_key(a.keys[0].1, &a.keys[0].2);
    let mut b_rx = ctx_from(&lines_b[0]);
    flow(
        &a.rtp,
        addr_a,
        Some(&mut a_tx),
        &b.rtp,
        Some(&mut b_rx),
        1,
        3,
    );
    let mut av_tx = ctx_key(av.keys[0].1, &av.keys[0].2);
    let mut bv_rx = ctx_from(&lines_bv[0]);
    flow(
        &av.rtp,
        addr_av,
        Some(&mut av_tx),
        &bv.rtp,
        Some(&mut bv_rx),
        1,
        4,
    );
    let mut bv_tx = ctx_key(bv.keys[0].1, &bv.keys[0].2);
    let mut av_rx = ctx_from(&lines_av[0]);
    flow(
        &bv.rtp,
        addr_bv,
        Some(&mut bv_tx),
        &av.rtp,
        Some(&mut av_rx),
        1,
        5,
    );
    assert_ne!(
        lines_b[0].to_value(),
        lines_bv[0].to_value(),
        "keys differ per section"
    );
    assert_ne!(
        lines_a[0].to_value(),
        lines_b[0].to_value(),
        "keys differ per leg"
    );
    // SRTCP from A on its RTP port (muxed) reaches B's RTCP socket.
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend_from_slice(&3u32.to_be_bytes());
    sr.extend_from_slice(&[0u8; 20]);
    let n = sr.len();
    sr.resize(n + 64, 0);
    let n = a_tx.protect_rtcp(&mut sr, n).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut got = None;
    for _ in 0..5 {
        a.rtp.send_to(&sr[..n], addr_a).unwrap();
        if let Ok((k, _)) = b.rtcp.recv_from(&mut buf) {
            got = Some(k);
            break;
        }
    }
    let k = got.expect("SRTCP demuxed to B's RTCP port");
    b_rx.unprotect_rtcp(&mut buf[..k])
        .expect("SRTCP unprotects at B");
    // query lists two streams per media, RTP then RTCP, as rtpengine
    // does; RTCP has its own packets and bytes (and is not counted under
    // RTP), and so do the totals.
    let q = ng.req(&[("call-id", s(call)), ("command", s("query"))]);
    ok(&q);
    let audio = |tag: &str| {
        q.get("tags")
            .unwrap()
            .get(tag)
            .unwrap()
            .get("medias")
            .unwrap()
            .as_list()
            .unwrap()[0]
            .clone()
    };
    let streams = |tag: &str| {
        audio(tag)
            .get("streams")
            .unwrap()
            .as_list()
            .unwrap()
            .to_vec()
    };
    let num = |v: &Value, path: &[&str]| {
        let mut v = v.clone();
        for k in path {
            v = v.get(k).unwrap_or_else(|| panic!("no {k}")).clone();
        }
        v.as_u64().unwrap()
    };
    let flag = |v: &Value| {
        v.get("flags").unwrap().as_list().unwrap()[0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (sa, sb) = (streams("tagA"), streams("tagB"));
    assert_eq!(sa.len(), 2);
    assert_eq!(sb.len(), 2);
    assert_eq!(
        (flag(&sa[0]), flag(&sa[1])),
        ("RTP".to_string(), "RTCP".to_string())
    );
    // Toward A RTCP is muxed (same port); toward B it is on the next port.
    assert_eq!(num(&sa[1], &["local port"]), num(&sa[0], &["local port"]));
    assert_eq!(
        num(&sb[1], &["local port"]),
        num(&sb[0], &["local port"]) + 1
    );
    let rtcp_pkts = num(&sa[1], &["stats", "packets"]);
    let rtcp_bytes = num(&sa[1], &["stats", "bytes"]);
    assert!(rtcp_pkts >= 1, "{rtcp_pkts}");
    assert_eq!(rtcp_bytes, rtcp_pkts * n as u64, "SRTCP bytes as received");
    assert_eq!(
        num(&sa[0], &["stats", "bytes"]) + rtcp_bytes,
        num(&sa[0], &["rampart stats", "bytes_in"]),
        "RTP bytes hold no RTCP"
    );
    let d = ng.req(&[
        ("call-id", s(call)),
        ("from-tag", s("tagA")),
        ("command", s("delete")),
    ]);
    ok(&d);
    assert!(num(&d, &["totals", "RTCP", "bytes"]) >= rtcp_bytes);
    assert!(num(&d, &["totals", "RTCP", "packets"]) >= rtcp_pkts);
}

#[test]
fn tcp_allow_list_and_limits() {
    let mut c = config(42200);
    c.ng.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    c.limits.max_calls = 1;
    let (node, mut ng) = start(c);
    // TCP: two requests in one write, answered in order.
    let mut t = TcpStream::connect(node.info().ng.tcp.unwrap()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut msg = b"t1 ".to_vec();
    msg.extend_from_slice(&benc(&[("command", s("ping"))]));
    msg.extend_from_slice(b"t2 ");
    msg.extend_from_slice(&benc(&[("command", s("ping"))]));
    t.write_all(&msg).unwrap();
    let want = b"t1 d6:result4:ponget2 d6:result4:ponge";
    let mut got = vec![0u8; want.len()];
    t.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], &want[..]);
    // Call limit.
    let mut a = phone();
    let ma = a.media("audio", "RTP/AVP", &[], "");
    ok(&ng.req(&offer_items(
        "one",
        &sdp(1, std::slice::from_ref(&ma)),
        vec![],
    )));
    let r = ng.req(&offer_items(
        "two",
        &sdp(1, std::slice::from_ref(&ma)),
        vec![],
    ));
    assert_eq!(get(&r, "result"), "error");
    assert!(get(&r, "error-reason").contains("limit"));
    // A module that supports it (Kamailio/OpenSIPS send `supports: ["load
    // limit"]`) gets rtpengine's `load limit` result and fails over.
    let r = ng.req(&offer_items(
        "three",
        &sdp(1, &[ma]),
        vec![("supports", l(&["load limit"]))],
    ));
    assert_eq!(get(&r, "result"), "load limit");
    assert!(get(&r, "error-reason").contains("limit"));
    drop(node);

    // A node that allows only 10.0.0.0/8 does not answer loopback.
    let mut c = config(42400);
    c.ng.allow = vec!["10.0.0.0/8".into()];
    let (node, ng) = start(c);
    ng.sock
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(ng.raw("x", &benc(&[("command", s("ping"))])).is_none());
    assert_eq!(
        node.shared()
            .ng
            .counters
            .refused_source
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn metrics_and_http_see_ng_calls() {
    let (node, mut ng) = start(config(42600));
    let mut a = phone();
    let ma = a.media("audio", "RTP/AVP", &[], "");
    ok(&ng.req(&offer_items("m1", &sdp(1, &[ma]), vec![])));
    let text = rampart::control::metrics::render(node.shared());
    assert!(text.contains("rampart_ng_calls_active 1"), "{text}");
    assert!(text.contains("rampart_calls_active 1"));
    // GET /health counts ng calls as rampart_calls_active does.
    let http_get = |path: &str| support::http_get(node.info().api_addr, path);
    let resp = http_get("/health");
    assert!(resp.contains("\"calls\":1"), "{resp}");
    // GET /calls lists it too, with its origin.
    let resp = http_get("/calls");
    let body = &resp[resp.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["calls"][0]["call_id"], "m1", "{v}");
    assert_eq!(v["calls"][0]["origin"], "ng", "{v}");
    assert_eq!(v["calls"][0]["media"][0]["type"], "audio", "{v}");
    let st = ng.req(&[("command", s("statistics"))]);
    ok(&st);
    let cur = st
        .get("statistics")
        .unwrap()
        .get("currentstatistics")
        .unwrap();
    assert_eq!(cur.get("sessionsown").unwrap().as_u64(), Some(1));
    // Unknown call: a warning, not an error, unless "fatal".
    let d = ng.req(&[("call-id", s("nope")), ("command", s("delete"))]);
    ok(&d);
    assert!(get(&d, "warning").contains("not found"));
    let d = ng.req(&[
        ("call-id", s("nope")),
        ("flags", l(&["fatal"])),
        ("command", s("delete")),
    ]);
    assert_eq!(get(&d, "result"), "error");
    let _ = B::I(0);
}

#[test]
fn early_media_answer_on_183_then_again_on_200() {
    // Kamailio calls rtpengine_answer for a 183 Session Progress with SDP
    // (early media: ringback, announcements) and again for the 200 OK,
    // usually with the same SDP. Media flows from the first answer on;
    // the second changes nothing: same keys toward A, no gap, no reset.
    let (_node, mut ng) = start(config(42800));
    let mut a = phone();
    let mut b = phone();
    let call = "early-media@test";
    let ma = a.media("audio", "RTP/SAVP", &[Suite::AesCm128HmacSha1_80], "");
    let r = ng.req(&offer_items(call, &sdp(1, &[ma]), vec![]));
    ok(&r);
    let (addr_b, lines_b, _, _) = target(get(&r, "sdp"), 0);
    let line = &lines_b[0];
    let mb = b.answer_media("RTP/SAVP", Some((line.tag, Suite::AesCm128HmacSha1_80)), "");
    let answer_sdp = sdp(1, &[mb]);
    // The 183.
    let r = ng.req(&answer_items(call, &answer_sdp, vec![]));
    ok(&r);
    let to_a_183 = get(&r, "sdp").to_string();
    let (addr_a, lines_a, _, _) = target(&to_a_183, 0);
    let mut a_tx = ctx_key(a.keys[0].1, &a.keys[0].2);
    let mut a_rx = ctx_from(&lines_a[0]);
    let mut b_tx = ctx_key(Suite::AesCm128HmacSha1_80, &b.keys[0].2);
    let mut b_rx = ctx_from(line);
    // Media both ways, sequence numbers `seqs`, with the same contexts.
    let mut both_ways = |seqs: std::ops::RangeInclusive<u16>| {
        for seq in seqs {
            let (tx, rx) = (Some(&mut b_tx), Some(&mut a_rx));
            flow(&b.rtp, addr_b, tx, &a.rtp, rx, seq, 0xb0b);
            let (tx, rx) = (Some(&mut a_tx), Some(&mut b_rx));
            flow(&a.rtp, addr_a, tx, &b.rtp, rx, seq, 0xa1a);
        }
    };
    // Early media: the callee's ringback reaches A, and A's media reaches B.
    both_ways(1..=3);
    // The 200 OK, same SDP.
    let r = ng.req(&answer_items(call, &answer_sdp, vec![]));
    ok(&r);
    let to_a_200 = get(&r, "sdp").to_string();
    let (addr_a2, lines_a2, _, _) = target(&to_a_200, 0);
    assert_eq!(addr_a2, addr_a, "same port toward A");
    assert_eq!(lines_a2[0].suite_name, lines_a[0].suite_name);
    assert_eq!(
        lines_a2[0].keys[0].key_salt(),
        lines_a[0].keys[0].key_salt(),
        "same key toward A"
    );
    // The same contexts go on: ROC and replay state were kept.
    both_ways(4..=6);
    // `statistics` reports the media rates (sampled once a second) while
    // media flows.
    let mut rate = 0;
    for round in 0..40u16 {
        both_ways(7 + 2 * round..=8 + 2 * round);
        let st = ng.req(&[("command", s("statistics"))]);
        ok(&st);
        let cur = st
            .get("statistics")
            .and_then(|v| v.get("currentstatistics"))
            .expect("currentstatistics");
        assert!(cur.get("errorrate").and_then(Value::as_u64).is_some());
        rate = cur.get("packetrate").and_then(Value::as_u64).unwrap_or(0);
        if rate > 0 {
            assert!(cur.get("byterate").and_then(Value::as_u64).unwrap_or(0) > rate);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rate > 0, "no packetrate while media flowed");
    let d = ng.req(&[("call-id", s(call)), ("command", s("delete"))]);
    ok(&d);
}

/// A plain RTCP sender report from `ssrc`.
fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0u8; 20]);
    p
}

/// Sends RTCP from `from` to `to` until `rx` gets it (a few tries).
fn rtcp_arrives(from: &UdpSocket, to: SocketAddr, rx: &UdpSocket, ssrc: u32) -> bool {
    let sr = rtcp_sr(ssrc);
    let mut buf = [0u8; 256];
    for _ in 0..5 {
        from.send_to(&sr, to).unwrap();
        while let Ok((n, _)) = rx.recv_from(&mut buf) {
            if buf[..n] == sr[..] {
                return true;
            }
        }
    }
    false
}

/// Offer from A and answer from B (plain RTP, `a=rtcp-mux` on both when
/// `mux`, SDP version `ver`); returns where each phone sends and whether
/// Rampart offered mux to B and accepted it toward A.
fn renegotiate(
    ng: &mut Ng,
    a: &mut Phone,
    b: &mut Phone,
    call: &str,
    ver: u32,
    mux: bool,
) -> (SocketAddr, SocketAddr, bool, bool) {
    let extra = if mux { "a=rtcp-mux\r\n" } else { "" };
    let r = ng.req(&offer_items(
        call,
        &sdp(ver, &[a.media("audio", "RTP/AVP", &[], extra)]),
        vec![],
    ));
    ok(&r);
    let (to_b, _, _, mux_b) = target(get(&r, "sdp"), 0);
    let r = ng.req(&answer_items(
        call,
        &sdp(ver, &[b.answer_media("RTP/AVP", None, extra)]),
        vec![],
    ));
    ok(&r);
    let (to_a, _, _, mux_a) = target(get(&r, "sdp"), 0);
    (to_b, to_a, mux_b, mux_a)
}

#[test]
fn rtcp_mux_changes_on_a_re_offer() {
    let (_node, mut ng) = start(config(43000));
    let mut a = phone();
    let mut b = phone();
    let call = "mux-change";
    // Without mux: RTCP from B reaches A's RTCP port.
    let (to_b, to_a, mux, _) = renegotiate(&mut ng, &mut a, &mut b, call, 1, false);
    assert!(!mux);
    flow(&a.rtp, to_a, None, &b.rtp, None, 1, 1);
    flow(&b.rtp, to_b, None, &a.rtp, None, 1, 2);
    let rtcp_port = |s: SocketAddr| SocketAddr::new(s.ip(), s.port() + 1);
    assert!(
        rtcp_arrives(&b.rtcp, rtcp_port(to_b), &a.rtcp, 2),
        "RTCP to A's RTCP port"
    );
    // A re-offer with a=rtcp-mux, answered with it: RTCP goes over the RTP
    // ports both ways.
    let (to_b, to_a, mux_b, mux_a) = renegotiate(&mut ng, &mut a, &mut b, call, 2, true);
    assert!(mux_b, "mux offered toward B");
    assert!(mux_a, "mux accepted toward A");
    assert!(
        rtcp_arrives(&b.rtp, to_b, &a.rtp, 3),
        "muxed RTCP to A's RTP port"
    );
    assert!(
        rtcp_arrives(&a.rtp, to_a, &b.rtp, 4),
        "muxed RTCP to B's RTP port"
    );
    flow(&a.rtp, to_a, None, &b.rtp, None, 2, 1);
    // And back without mux.
    let (to_b, _, mux, _) = renegotiate(&mut ng, &mut a, &mut b, call, 3, false);
    assert!(!mux);
    assert!(
        rtcp_arrives(&b.rtcp, rtcp_port(to_b), &a.rtcp, 5),
        "RTCP to A's RTCP port again"
    );
    flow(&b.rtp, to_b, None, &a.rtp, None, 3, 2);
}

#[test]
fn ng_errors_are_counted_by_kind() {
    let mut c = config(43400);
    // Four port pairs: one unanswered offer may hold two of them.
    c.media.port_max = c.media.port_min + 7;
    let (node, mut ng) = start(c);
    let mut a = phone();
    // Invalid: an answer for a call nobody offered.
    let r = ng.req(&answer_items(
        "nobody",
        &sdp(1, &[a.media("audio", "RTP/AVP", &[], "")]),
        vec![],
    ));
    assert_eq!(get(&r, "result"), "error");
    // Ports exhausted: a second call's offer.
    ok(&ng.req(&offer_items(
        "first",
        &sdp(1, &[a.media("audio", "RTP/AVP", &[], "")]),
        vec![],
    )));
    let r = ng.req(&offer_items(
        "second",
        &sdp(1, &[a.media("audio", "RTP/AVP", &[], "")]),
        vec![],
    ));
    assert!(
        get(&r, "error-reason").starts_with("Ran out of ports"),
        "{r:?}"
    );
    let text = rampart::control::metrics::render(node.shared());
    for (kind, n) in [
        ("invalid", 1),
        ("ports_exhausted", 1),
        ("policy_refused", 0),
    ] {
        let line = format!("rampart_ng_command_errors_total{{kind=\"{kind}\"}} {n}");
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
}
