//! Real-client interop: Debian's Kamailio (5.6) with its `rtpengine` module
//! drives Rampart over the ng protocol, and media flows through Rampart.
//!
//! The test starts a Rampart node in-process (ng on an ephemeral loopback
//! port, media on 127.0.0.2 so that Rampart's address is told apart from
//! the phones' 127.0.0.1), writes `tests/kamailio/kamailio.cfg` with the
//! ports filled in and runs `kamailio -DD -E` as a child (its own process
//! group, stopped at the end whatever happens). Kamailio's ng datagrams go
//! through a tap (a UDP relay in this process) so the test can show what the
//! module sent and what Rampart answered, warnings included.
//!
//! Two raw-UDP SIP user agents play the call: the UAC sends an INVITE with
//! an SRTP offer (RTP/SAVP, `a=crypto` AES_CM_128_HMAC_SHA1_80) to
//! Kamailio, which calls `rtpengine_offer` and forwards to the UAS; the UAS
//! checks the SDP names Rampart's address, ports and keys (not the
//! caller's), answers 200 OK with its own SRTP SDP, and Kamailio's
//! `rtpengine_answer` rewrites that for the UAC, which checks it likewise.
//! SRTP (and SRTCP) then goes both ways through Rampart and must arrive
//! intact under the keys each side learnt from its SDP. ACK and BYE go
//! through Kamailio (Record-Route); the BYE's `rtpengine_delete` must end
//! the call (`GET /health` counts it, ng calls included).
//!
//! No Kamailio on the machine: the test prints a SKIP line and passes,
//! unless `RAMPART_REQUIRE_KAMAILIO=1` (then it fails). `scripts/test`
//! installs `kamailio` and `kamailio-extra-modules`. `RAMPART_KAMAILIO`
//! names another binary; `RAMPART_KAMAILIO_LOG=1` prints Kamailio's log.
//! Everything is loopback and every wait is bounded.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use rampart::config::Config;
use rampart::control::{Node, NodeHandle};

mod kamailio_support;
use kamailio_support::*;

const TEMPLATE: &str = include_str!("../kamailio/kamailio.cfg");

const PORT_MIN: u16 = 43400;
const PORT_MAX: u16 = 43599;

// ---- Rampart -------------------------------------------------------------

fn start_rampart() -> NodeHandle {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.addresses = vec![IpAddr::V4(MEDIA_IP)];
    c.media.port_min = PORT_MIN;
    c.media.port_max = PORT_MAX;
    c.dataplane.workers = 1;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    Node::start(c).expect("Rampart starts")
}

/// `GET /health` → the "calls" count.
fn health_calls(api: SocketAddr) -> u64 {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("health JSON ({e}): {out}"));
    v["calls"].as_u64().expect("health has calls")
}

fn in_range(a: SocketAddr) -> bool {
    (PORT_MIN..=PORT_MAX).contains(&a.port())
}

// ---- the test ------------------------------------------------------------

#[test]
fn kamailio_rtpengine_module_drives_rampart() {
    let Some(bin) = find_kamailio() else {
        if std::env::var("RAMPART_REQUIRE_KAMAILIO").is_ok_and(|v| v == "1") {
            panic!("RAMPART_REQUIRE_KAMAILIO=1 but no kamailio binary was found");
        }
        println!(
            "SKIP kamailio_e2e: kamailio not installed \
             (apt-get install kamailio kamailio-extra-modules, or set RAMPART_KAMAILIO)"
        );
        return;
    };

    let node = start_rampart();
    let api = node.info().api_addr;
    let ng = node.info().ng.udp.expect("ng listens");
    let tap = Tap::start("rampart", ng);

    let uac = Ua::new();
    let uas = Ua::new();
    let sip_port = free_udp_port();
    let proxy = SocketAddr::new(IpAddr::V4(PHONE_IP), sip_port);

    let dir = std::env::temp_dir().join(format!("rampart-kamailio-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg_path = dir.join("kamailio.cfg");
    let cfg = TEMPLATE
        .replace("@SIP_PORT@", &sip_port.to_string())
        .replace("@NG_ADDR@", &format!("udp:{}", tap.addr))
        .replace("@UAS_PORT@", &uas.port().to_string());
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut kam = Kamailio::start(&bin, &cfg_path, &dir.join("kamailio.log"));

    wait_until_ready(&mut kam, &uac, proxy, "kamailio-e2e");

    let a = Phone::new();
    let b = Phone::new();
    let call_id = format!("kam-e2e-{}@127.0.0.1", std::process::id());
    let uac_port = uac.port();

    // ---- INVITE: UAC -> Kamailio (rtpengine_offer) -> UAS ----
    let offer = a.sdp(1001, 1, 1);
    uac.send(
        proxy,
        &alice_invite(
            sip_port,
            uac_port,
            &call_id,
            "rampart-kamailio-e2e UAC",
            &offer,
        ),
    );
    let inv = uas.wait("INVITE at the UAS", &mut kam, &[&tap], |m| {
        m.method() == Some("INVITE")
    });
    assert!(
        !inv.all("Record-Route").is_empty(),
        "Kamailio record-routes"
    );
    let to_b = target(&inv.body);
    assert_eq!(
        to_b.rtp.ip(),
        IpAddr::V4(MEDIA_IP),
        "INVITE's SDP names Rampart's address:\n{}",
        inv.body
    );
    assert_eq!(
        to_b.origin,
        Some(IpAddr::V4(MEDIA_IP)),
        "replace-origin: o= names Rampart:\n{}",
        inv.body
    );
    assert!(in_range(to_b.rtp) && in_range(to_b.rtcp), "{}", inv.body);
    assert_ne!(to_b.rtp.port(), a.rtp.local_addr().unwrap().port());
    assert!(
        !inv.body.contains(&a.inline()),
        "the caller's key must not reach the callee:\n{}",
        inv.body
    );
    let names: Vec<&str> = to_b.crypto.iter().map(|c| c.suite_name.as_str()).collect();
    assert_eq!(names[0], SUITE.name(), "caller's suite first: {names:?}");
    for l in [
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(inv.body.contains(l), "{l} kept:\n{}", inv.body);
    }
    let b_pick = to_b.crypto[0].clone();

    // ---- 200 OK: UAS -> Kamailio (rtpengine_answer) -> UAC ----
    let answer = b.sdp(2002, 1, b_pick.tag);
    let uas_contact = format!("<sip:bob@127.0.0.1:{}>", uas.port());
    uas.send(
        inv.from,
        &response(&inv, "200 OK", "bob-tag", Some(&uas_contact), &answer),
    );
    let ok = uac.wait("200 OK to the INVITE at the UAC", &mut kam, &[&tap], |m| {
        m.status() == Some(200) && m.cseq_method() == "INVITE"
    });
    let to_a = target(&ok.body);
    assert_eq!(
        to_a.rtp.ip(),
        IpAddr::V4(MEDIA_IP),
        "200 OK's SDP names Rampart's address:\n{}",
        ok.body
    );
    assert_eq!(to_a.origin, Some(IpAddr::V4(MEDIA_IP)), "{}", ok.body);
    assert!(in_range(to_a.rtp) && in_range(to_a.rtcp), "{}", ok.body);
    assert_ne!(to_a.rtp.port(), b.rtp.local_addr().unwrap().port());
    assert_ne!(to_a.rtp.port(), to_b.rtp.port());
    assert!(
        !ok.body.contains(&b.inline()) && !ok.body.contains(&a.inline()),
        "neither phone's key comes back in the answer:\n{}",
        ok.body
    );
    assert_eq!(to_a.crypto.len(), 1, "{}", ok.body);
    assert_eq!(to_a.crypto[0].tag, 1);
    assert_eq!(to_a.crypto[0].suite_name, SUITE.name());

    // ---- ACK through Kamailio (Route from Record-Route) ----
    let dialog = AliceDialog::new(&ok, &call_id, uac_port, uas.port());
    uac.send(proxy, &dialog.request("ACK", 1, "z9hG4bK-ack-1", ""));
    uas.wait("ACK at the UAS", &mut kam, &[&tap], |m| {
        m.method() == Some("ACK")
    });
    assert_eq!(health_calls(api), 1, "GET /health counts the ng call");

    // ---- media both ways, SRTP and SRTCP ----
    let mut a_tx = a.tx();
    let mut b_rx = rx_ctx(&b_pick);
    let mut b_tx = b.tx();
    let mut a_rx = rx_ctx(&to_a.crypto[0]);
    for seq in 1..=5u16 {
        flow_rtp(&a.rtp, to_a.rtp, &mut a_tx, &b.rtp, &mut b_rx, seq, 0xA11CE);
        flow_rtp(
            &b.rtp,
            to_b.rtp,
            &mut b_tx,
            &a.rtp,
            &mut a_rx,
            100 + seq,
            0xB0B,
        );
    }
    flow_rtcp(&a.rtcp, to_a.rtcp, &mut a_tx, &b.rtcp, &mut b_rx, 0xA11CE);
    flow_rtcp(&b.rtcp, to_b.rtcp, &mut b_tx, &a.rtcp, &mut a_rx, 0xB0B);

    // ---- BYE through Kamailio (rtpengine_delete) ----
    uac.send(proxy, &dialog.request("BYE", 2, "z9hG4bK-bye-1", ""));
    let bye = uas.wait("BYE at the UAS", &mut kam, &[&tap], |m| {
        m.method() == Some("BYE")
    });
    uas.send(bye.from, &response(&bye, "200 OK", "bob-tag", None, ""));
    uac.wait("200 OK to the BYE at the UAC", &mut kam, &[&tap], |m| {
        m.status() == Some(200) && m.cseq_method() == "BYE"
    });
    assert_eq!(health_calls(api), 0, "rtpengine_delete ended the call");

    // Media after the BYE goes nowhere.
    let mut pkt = rtp_packet(50, 0xA11CE, b"late");
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = a_tx.protect_rtp(&mut pkt, n).unwrap();
    a.rtp.send_to(&pkt[..n], to_a.rtp).unwrap();
    let mut buf = [0u8; 2048];
    assert!(b.rtp.recv_from(&mut buf).is_err(), "no media after delete");

    // ---- what the module sent and what Rampart answered ----
    kam.stop();
    let log = kam.log_text();
    let exchanges = tap.exchanges();
    print!("ng exchanges between Kamailio and Rampart:\n{}", tap.dump());
    let commands: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| vstr(&e.request, "command"))
        .collect();
    for c in ["ping", "offer", "answer", "delete"] {
        assert!(commands.contains(&c), "Kamailio sent {c}: {commands:?}");
    }
    for e in &exchanges {
        let cmd = vstr(&e.request, "command").unwrap_or("?");
        let r = e
            .reply
            .as_ref()
            .unwrap_or_else(|| panic!("Rampart answered {cmd}"));
        let result = vstr(r, "result").unwrap_or("");
        assert!(result == "ok" || result == "pong", "{cmd} → {}", show(r));
        if let Some(w) = vstr(r, "warning") {
            println!("WARNING from Rampart to {cmd}: {w}");
        }
    }
    if std::env::var_os("RAMPART_KAMAILIO_LOG").is_some() {
        println!("kamailio log:\n{log}");
    }
    let kam_issues: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARNING"))
        .collect();
    if !kam_issues.is_empty() {
        println!("kamailio errors/warnings:\n{}", kam_issues.join("\n"));
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("rtpengine") && l.contains("ERROR")),
        "the rtpengine module logged an error:\n{log}"
    );
    drop(tap);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
