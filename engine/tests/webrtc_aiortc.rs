//! ICE-lite and DTLS-SRTP against a WebRTC stack nobody here wrote:
//! aiortc (Debian's `python3-aiortc`: full ICE through aioice, DTLS-SRTP
//! with an ECDSA certificate, libsrtp through pylibsrtp) offers audio;
//! Rampart's [`Transport`] answers as the ICE-lite, DTLS-passive side on
//! one UDP port, follows aiortc's nomination, finishes the handshake with
//! the fingerprint from the offer, then both sides send SRTP for three
//! seconds: Rampart unprotects aiortc's packets with the exported keys,
//! and aiortc reports the packets it decrypted from Rampart.
//!
//! aioice never offers loopback candidates, so the two sides sit in two
//! network namespaces joined by a veth (documentation addresses,
//! `support::netns`): aiortc in the phones' namespace, the transport's
//! socket in the node's. Every wait is bounded.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rampart::control::sdp::webrtc::{
    answer_role, write_transport, LocalTransport, PeerTransport, Setup,
};
use rampart::control::sdp::Sdp;
use rampart::dtls::{Certificate, Endpoint, Fingerprint, Role};
use rampart::ice::lite::{Credentials, IceLite};
use rampart::rtp::{classify, PacketKind};
use rampart::srtp::{Context, Policy};
use rampart::webrtc::Transport;
use support::netns::{node_ip4, Ns, Topology};
use support::webrtc::{node_config, plain_phone, start_node};

const PYTHON: &str = "/usr/bin/python3";
/// Bound on a call with aiortc, report included.
const LIMIT: Duration = Duration::from_secs(45);
const SECONDS: &str = "3";

/// The answer: audio PCMU on `port`, with the ICE-lite and DTLS
/// attributes written by `sdp::webrtc::write_transport`.
fn answer(
    offer: &str,
    port: u16,
    ice: &Credentials,
    fingerprint: Fingerprint,
    role: Role,
) -> String {
    answer_bundled(offer, port, (ice, fingerprint, role), None)
}

/// [`answer`], and with `video` (its payload type) a video section on the
/// same port, both in one BUNDLE group, each with the transport.
fn answer_bundled(
    offer: &str,
    port: u16,
    (ice, fingerprint, role): (&Credentials, Fingerprint, Role),
    video: Option<u8>,
) -> String {
    let ip = node_ip4();
    let mids: Vec<&str> = offer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .collect();
    let mid = mids.first().copied().unwrap_or("0");
    let (group, video_section) = match video {
        Some(pt) => {
            let vmid = mids.get(1).copied().unwrap_or("1");
            (
                format!("{mid} {vmid}"),
                format!(
                    "m=video {port} UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 {ip}\r\na=mid:{vmid}\r\n\
                     a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:{pt} VP8/90000\r\n"
                ),
            )
        }
        None => (mid.to_string(), String::new()),
    };
    let text = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {group}\r\n\
         m=audio {port} UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 {ip}\r\na=mid:{mid}\r\na=sendrecv\r\n\
         a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n{video_section}"
    );
    let mut sdp = Sdp::parse(&text).unwrap();
    let local = LocalTransport {
        ice: Some(ice),
        candidates: &[SocketAddr::new(ip, port)],
        dtls: Some((fingerprint, Setup::of_role(role))),
    };
    for i in 0..sdp.media().len() {
        write_transport(&mut sdp, i, &local);
    }
    sdp.to_string()
}

fn aiortc_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import aiortc"])
        .status()
        .is_ok_and(|s| s.success())
}

/// aiortc started in the phones' namespace, its offer read.
struct Aiortc {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    offer: String,
}

impl Aiortc {
    fn start(topo: &Topology) -> Aiortc {
        Aiortc::start_for(topo, SECONDS)
    }

    /// [`Aiortc::start`] with `seconds` of media once connected.
    fn start_for(topo: &Topology, seconds: &str) -> Aiortc {
        Aiortc::spawn(topo, &[seconds])
    }

    /// aiortc with `args` (seconds, then `video` for a video track too).
    fn spawn(topo: &Topology, args: &[&str]) -> Aiortc {
        assert!(
            aiortc_available(),
            "{PYTHON} cannot import aiortc (scripts/test installs python3-aiortc)"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webrtc/aiortc_peer.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &topo.ns_name(Ns::Phones), PYTHON, script])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ip netns exec python3");
        let (tx, lines) = mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let first: serde_json::Value = serde_json::from_str(
            &lines
                .recv_timeout(Duration::from_secs(30))
                .expect("aiortc's offer"),
        )
        .unwrap();
        let stdin = child.stdin.take().unwrap();
        Aiortc {
            child,
            stdin,
            lines,
            offer: first["offer"].as_str().unwrap().to_string(),
        }
    }

    /// Its final report, once it has printed it.
    fn report(&self) -> Option<serde_json::Value> {
        let line = self.lines.try_recv().ok()?;
        Some(serde_json::from_str(&line).expect("aiortc's report is JSON"))
    }

    fn answer(&mut self, sdp: &str) {
        writeln!(self.stdin, "{}", serde_json::json!({ "answer": sdp })).unwrap();
    }

    /// A transport answering the offer: ICE-lite, DTLS in the role
    /// `answer_role` picks (passive preferred), with `cert`.
    fn transport(&self, cert: &Certificate, port: u16) -> (Transport, String, Role) {
        let parsed = Sdp::parse(&self.offer).expect("aiortc's offer parses");
        let peer_t = PeerTransport::of(&parsed, &parsed.media()[0]);
        let their_fp = peer_t.fingerprint.expect("a sha-256 fingerprint");
        let (their_ufrag, _) = peer_t.ice.clone().expect("ICE credentials");
        assert_eq!(peer_t.setup, Some(Setup::ActPass));
        let role = answer_role(peer_t.setup, Some(Role::Passive)).unwrap();
        let creds = Credentials::generate().unwrap();
        let mut ice = IceLite::new(creds.clone());
        ice.set_remote_ufrag(&their_ufrag);
        let dtls = Endpoint::new(cert, role, their_fp).unwrap();
        let sdp = answer(&self.offer, port, &creds, cert.fingerprint(), role);
        (Transport::new(Some(ice), Some(dtls), None), sdp, role)
    }
}

impl Drop for Aiortc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn aiortc_calls_through_ice_lite_and_dtls_srtp_both_ways() {
    let Some(topo) = Topology::new("webrtc-aiortc") else {
        return;
    };
    let mut peer = Aiortc::start(&topo);
    let sock = topo.udp(Ns::Node, node_ip4(), Duration::from_millis(10));
    let port = sock.local_addr().unwrap().port();
    let cert = Certificate::generate("rampart").unwrap();
    let (mut t, sdp, _) = peer.transport(&cert, port);
    peer.answer(&sdp);
    let lines = &peer.lines;

    let (mut rx, mut txc): (Option<Context>, Option<Context>) = (None, None);
    let (mut got, mut auth_failures, mut rtcp_got, mut sent) = (0u64, 0u64, 0u64, 0u64);
    let mut nominated: Option<SocketAddr> = None;
    let mut next_send = Instant::now();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let deadline = start + Duration::from_secs(45);
    let result = loop {
        if let Ok(l) = lines.try_recv() {
            break serde_json::from_str::<serde_json::Value>(&l).unwrap();
        }
        assert!(Instant::now() < deadline, "aiortc never reported");
        let mut outs = Vec::new();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let pkt = &mut buf[..n];
                match classify(pkt) {
                    PacketKind::Stun | PacketKind::Dtls => {
                        let o = t.on_datagram(pkt, from, start.elapsed().as_millis() as u64);
                        nominated = o.nominated.or(nominated);
                        if o.connected {
                            let k = t.keys().unwrap();
                            let suite = k.profile.suite();
                            rx = Some(Context::new(Policy::new(suite, k.remote.clone())).unwrap());
                            txc = Some(Context::new(Policy::new(suite, k.local.clone())).unwrap());
                        }
                        outs = o.send;
                    }
                    PacketKind::Rtp => match rx.as_mut().map(|c| c.unprotect_rtp(pkt)) {
                        Some(Ok(_)) => got += 1,
                        Some(Err(_)) => auth_failures += 1,
                        None => {}
                    },
                    PacketKind::Rtcp => {
                        if let Some(Ok(_)) = rx.as_mut().map(|c| c.unprotect_rtcp(pkt)) {
                            rtcp_got += 1;
                        }
                    }
                    PacketKind::Unknown => {}
                }
            }
            Err(_) => outs = t.on_timer().send,
        }
        for (d, to) in outs {
            sock.send_to(&d, to).unwrap();
        }
        // Rampart's own audio toward aiortc: PCMU silence every 20 ms.
        if let (Some(c), Some(to)) = (txc.as_mut(), nominated) {
            if Instant::now() >= next_send && t.may_send(start.elapsed().as_millis() as u64) {
                next_send += Duration::from_millis(20);
                let seq = sent as u16;
                let mut pkt = vec![0x80, 0x00];
                pkt.extend_from_slice(&seq.to_be_bytes());
                pkt.extend_from_slice(&((sent * 160) as u32).to_be_bytes());
                pkt.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
                pkt.extend(std::iter::repeat_n(0xff, 160));
                let n = pkt.len();
                pkt.resize(n + 32, 0);
                let len = c.protect_rtp(&mut pkt, n).unwrap();
                sock.send_to(&pkt[..len], to).unwrap();
                sent += 1;
            }
        }
    };
    println!(
        "aiortc: {result}; Rampart: nominated {nominated:?}, profile {:?}, \
         {got} SRTP and {rtcp_got} SRTCP packets from aiortc, {auth_failures} failed, {sent} sent",
        t.keys().map(|k| k.profile)
    );
    assert_eq!(result["state"], "connected", "{result}");
    assert!(nominated.is_some(), "aiortc nominated the pair");
    assert!(t.keys().is_some(), "the DTLS handshake finished");
    assert_eq!(auth_failures, 0);
    assert!(got >= 50, "{got} SRTP packets from aiortc");
    assert!(
        result["inbound_packets"].as_u64().unwrap_or(0) >= 50,
        "aiortc decrypted Rampart's SRTP: {result}"
    );
}

/// The whole path through the data plane: aiortc on leg A (ICE-lite,
/// DTLS-SRTP run by `TransportService` from the datagrams the worker hands
/// over), a plain-RTP phone on leg B. The worker relays nothing of leg A
/// until the handshake keys it; then aiortc's SRTP reaches the phone as
/// plain RTP, and the phone's RTP reaches aiortc as SRTP under the
/// exported keys (aiortc decrypts and counts it).
#[test]
fn aiortc_through_the_data_plane_to_a_plain_rtp_phone() {
    use rampart::dataplane::*;
    use rampart::webrtc::TransportService;
    use std::sync::Arc;

    let Some(topo) = Topology::new("webrtc-dp") else {
        return;
    };
    let mut peer = Aiortc::start(&topo);
    let (leg_a, leg_b, phone) = (
        topo.udp(Ns::Node, node_ip4(), Duration::from_millis(10)),
        topo.udp(Ns::Node, node_ip4(), Duration::from_millis(10)),
        topo.udp(Ns::Node, node_ip4(), Duration::from_millis(10)),
    );
    let (port, b_addr) = (
        leg_a.local_addr().unwrap().port(),
        leg_b.local_addr().unwrap(),
    );
    let leg = |socket, remote| support::plain_leg(socket, remote, true);
    let dp = {
        let _in = topo.enter(Ns::Node);
        Arc::new(
            DataPlane::start(DataPlaneConfig {
                workers: 1,
                backend: BackendKind::Mmsg,
                ..Default::default()
            })
            .unwrap(),
        )
    };
    let counters_a = Arc::new(LegCounters::default());
    let mut a = leg(leg_a, None);
    a.counters = Arc::clone(&counters_a);
    dp.add_call(CallFlows {
        id: 7,
        legs: [a, leg(leg_b, Some(phone.local_addr().unwrap()))],
    })
    .unwrap();
    let cert = Certificate::generate("rampart").unwrap();
    let service = TransportService::start(Arc::clone(&dp), cert.clone()).unwrap();
    let (t, sdp, _) = peer.transport(&cert, port);
    service.add_leg(7, LegId::A, t, true).unwrap();
    peer.answer(&sdp);

    // The phone: plain PCMU every 20 ms once leg A is keyed; it counts
    // what arrives from leg B.
    let (result, got, sent) = plain_phone(
        &phone,
        b_addr,
        0x0ff1_ce00,
        LIMIT,
        || peer.report(),
        |_| service.is_keyed(7, LegId::A),
    );
    let c = &service.counters;
    let (handshakes, nominations, failures) = (
        c.handshakes.load(std::sync::atomic::Ordering::Relaxed),
        c.nominations.load(std::sync::atomic::Ordering::Relaxed),
        c.handshake_failures
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let stats = counters_a.snapshot();
    println!(
        "aiortc: {result}; data plane: {handshakes} handshake(s), {nominations} nomination(s), \
         phone got {got} RTP from aiortc, sent {sent}; leg A: {stats:?}"
    );
    service.stop();
    assert_eq!(result["state"], "connected", "{result}");
    assert_eq!((handshakes, failures), (1, 0));
    assert!(nominations >= 1);
    assert!(got >= 50, "aiortc's SRTP reached the phone as RTP: {got}");
    assert!(
        result["inbound_packets"].as_u64().unwrap_or(0) >= 50,
        "the phone's RTP reached aiortc as SRTP it decrypted: {result}"
    );
}

/// The call as a switch makes it: aiortc offers through ng with the flags
/// Kamailio sends toward a SIP phone (`transport-protocol: RTP/SAVP` or
/// `RTP/AVP`, `ICE: remove`, `DTLS: off`, `rtcp-mux: demux`); the phone
/// sees an SDES (or plain) offer and answers with no flags; the answer
/// Rampart returns to aiortc restores UDP/TLS/RTP/SAVPF, ICE-lite, the
/// node's fingerprint and DTLS role, and rtcp-mux. Then audio both ways:
/// the phone verifies every SRTP packet under the key Rampart offered it
/// (or takes plain RTP), and aiortc counts what it decrypted under the
/// DTLS-exported keys.
fn aiortc_through_the_node_to_a_phone(
    tag: &str,
    phone_srtp: bool,
    twist: Twist,
) -> Option<NodeRun> {
    use std::sync::atomic::Ordering::Relaxed;
    use support::ng::{get, l, ok, s};

    let topo = Topology::new(tag)?;
    let mut peer = Aiortc::start(&topo);
    if twist == Twist::WrongFingerprint {
        // One byte of aiortc's fingerprint changed on its way to Rampart.
        let at = peer.offer.find("a=fingerprint:sha-256 ").unwrap() + 22;
        let byte = if &peer.offer[at..at + 2] == "00" {
            "11"
        } else {
            "00"
        };
        peer.offer.replace_range(at..at + 2, byte);
    }
    let ip = node_ip4();
    let (node, mut ng, phone) = start_node(&topo, node_config());
    // For the proxy or the flood: sockets in the node's namespace.
    let spare = {
        let _in = topo.enter(Ns::Node);
        [0; 3].map(|_| std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap())
    };
    let call_id = format!("{tag}-1");
    let r = ng.req(&[
        ("command", s("offer")),
        ("call-id", s(&call_id)),
        ("from-tag", s("browser")),
        ("sdp", s(&peer.offer)),
        (
            "transport-protocol",
            s(if phone_srtp { "RTP/SAVP" } else { "RTP/AVP" }),
        ),
        ("ICE", s("remove")),
        ("DTLS", s("off")),
        ("rtcp-mux", l(&["demux"])),
    ]);
    ok(&r);
    let to_phone = get(&r, "sdp").to_string();
    assert!(!to_phone.contains("a=ice-") && !to_phone.contains("a=fingerprint"));
    // The phone reads Rampart's offer: the port, and the key toward it.
    let offered = Sdp::parse(&to_phone).unwrap();
    let m = &offered.media()[0];
    let b_addr = SocketAddr::new(ip, m.port());
    let phone_port = phone.local_addr().unwrap().port();
    let (answer, mut contexts) = if phone_srtp {
        assert_eq!(m.proto(), "RTP/SAVP", "{to_phone}");
        let line = m.crypto().unwrap().remove(0);
        let suite = line.suite().unwrap();
        let from_rampart = line.keys[0].to_master_key(suite).unwrap();
        let phone_key = support::ng::fresh_key(suite);
        let answer = format!(
            "v=0\r\no=- 7 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {phone_port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=crypto:{} {} inline:{}\r\n",
            line.tag,
            suite.name(),
            support::ng::inline(&phone_key),
        );
        let tx = Context::new(Policy::new(suite, phone_key)).unwrap();
        let rx = Context::new(Policy::new(suite, from_rampart)).unwrap();
        (answer, Some((tx, rx)))
    } else {
        assert_eq!(m.proto(), "RTP/AVP", "{to_phone}");
        assert!(m.crypto().unwrap().is_empty());
        let answer = format!(
            "v=0\r\no=- 7 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {phone_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        (answer, None)
    };
    // Under loss Rampart takes the active role, so that its own
    // retransmission timers must bring its flights through.
    let role = if twist == Twist::LossyProxy {
        "active"
    } else {
        "passive"
    };
    let r = ng.req(&[
        ("command", s("answer")),
        ("call-id", s(&call_id)),
        ("from-tag", s("browser")),
        ("to-tag", s("phone")),
        ("sdp", s(&answer)),
        ("DTLS", s(role)),
    ]);
    ok(&r);
    let to_browser = get(&r, "sdp").to_string();
    assert!(
        to_browser.contains(&format!("a=setup:{role}")),
        "{to_browser}"
    );
    for line in [
        "UDP/TLS/RTP/SAVPF",
        "a=ice-lite",
        "a=ice-ufrag:",
        "a=candidate:",
        "a=rtcp-mux",
    ] {
        assert!(to_browser.contains(line), "{line} missing: {to_browser}");
    }
    assert!(!to_browser.contains("a=crypto"), "{to_browser}");
    let fp = node.shared().dtls_fingerprint().unwrap();
    assert!(to_browser.contains(&format!("a=fingerprint:{fp}")));
    let a_port = Sdp::parse(&to_browser).unwrap().media()[0].port();
    let a_addr = SocketAddr::new(ip, a_port);
    let [front, back, flood] = spare;
    let proxy = (twist == Twist::LossyProxy).then(|| {
        // aiortc is sent to the proxy's port instead of the leg's.
        let p = front.local_addr().unwrap().port();
        let to = to_browser
            .replace(&format!(" {a_port} typ host"), &format!(" {p} typ host"))
            .replace(&format!("m=audio {a_port} "), &format!("m=audio {p} "));
        (LossyProxy::start(front, back, a_addr), to)
    });
    let to_browser = proxy.as_ref().map_or(to_browser, |(_, t)| t.clone());
    peer.answer(&to_browser);
    let mut flooding: Option<std::thread::JoinHandle<u64>> = None;

    // The phone: PCMU every 20 ms; every packet from Rampart verified.
    let (mut got, mut failed, mut sent) = (0u64, 0u64, 0u64);
    let mut next = Instant::now();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(45);
    let result = loop {
        if let Ok(l) = peer.lines.try_recv() {
            break serde_json::from_str::<serde_json::Value>(&l).unwrap();
        }
        assert!(Instant::now() < deadline, "aiortc never reported");
        if let Ok((n, from)) = phone.recv_from(&mut buf) {
            if from == b_addr && classify(&buf[..n]) == PacketKind::Rtp {
                match contexts
                    .as_mut()
                    .map(|(_, rx)| rx.unprotect_rtp(&mut buf[..n]))
                {
                    Some(Err(_)) => failed += 1,
                    _ => got += 1,
                }
            }
        }
        let keyed = support::webrtc::handshakes(&node);
        if twist == Twist::HelloFlood && keyed == 1 && flooding.is_none() {
            let f = flood.try_clone().unwrap();
            flooding = Some(std::thread::spawn(move || hello_flood(&f, a_addr)));
        }
        if Instant::now() >= next {
            next += Duration::from_millis(20);
            let mut pkt = support::ng::rtp(sent as u16, 0x0ff1_ce01, &[0xff; 160]);
            if let Some((tx, _)) = contexts.as_mut() {
                let n = pkt.len();
                pkt.resize(n + 32, 0);
                let len = tx.protect_rtp(&mut pkt, n).unwrap();
                pkt.truncate(len);
            }
            phone.send_to(&pkt, b_addr).unwrap();
            sent += 1;
        }
    };
    let w = node.shared().webrtc.as_ref().unwrap();
    let c = &w.counters;
    let (metrics, health) = {
        let _in = topo.enter(Ns::Node);
        let api = node.info().api_addr;
        (
            support::http_get(api, "/metrics"),
            support::http_get(api, "/health"),
        )
    };
    let run = NodeRun {
        metrics,
        health,
        result,
        handshakes: c.handshakes.load(Relaxed),
        failures: c.handshake_failures.load(Relaxed),
        got,
        failed,
        flood_sent: flooding.map_or(0, |t| t.join().unwrap()),
        transport_dropped: c.dropped.load(Relaxed),
        proxy_dropped: proxy.map_or(0, |(p, _)| p.stop()),
    };
    println!(
        "aiortc: {}; node: {} handshake(s) ({} failed), {} nomination(s), {} STUN/DTLS \
         dropped by the transports; phone got {got} packets from aiortc ({failed} failed to \
         verify), sent {sent}; {} ClientHellos flooded; {} DTLS records dropped by the proxy",
        run.result,
        run.handshakes,
        run.failures,
        c.nominations.load(Relaxed),
        run.transport_dropped,
        run.flood_sent,
        run.proxy_dropped,
    );
    let r = ng.req(&[
        ("command", s("delete")),
        ("call-id", s(&call_id)),
        ("from-tag", s("browser")),
    ]);
    ok(&r);
    assert_eq!(w.leg_count(), 0, "the call's WebRTC leg is gone with it");
    node.shutdown();
    Some(run)
}

/// What a run through the node came to.
struct NodeRun {
    /// `GET /metrics` and `GET /health` at the end of the call.
    metrics: String,
    health: String,
    /// aiortc's report.
    result: serde_json::Value,
    handshakes: u64,
    failures: u64,
    /// Packets from aiortc the phone got (verified, for SRTP).
    got: u64,
    /// Packets the phone could not verify.
    failed: u64,
    flood_sent: u64,
    transport_dropped: u64,
    proxy_dropped: u64,
}

impl NodeRun {
    /// Audio went both ways through one handshake.
    fn assert_audio_both_ways(&self) {
        assert!(
            self.metrics
                .contains("rampart_webrtc_handshakes_total{result=\"keyed\"} 1"),
            "{}",
            self.metrics
        );
        let body = self.health.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let h: serde_json::Value = serde_json::from_str(body).expect("/health is JSON");
        assert_eq!(h["webrtc"]["handshakes"], 1, "{h}");
        assert!(h["webrtc"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha-256 ")));
        assert!(
            h["webrtc"]["openssl"]
                .as_str()
                .is_some_and(|v| v.starts_with("OpenSSL 3.")),
            "{h}"
        );
        let r = &self.result;
        assert_eq!(r["state"], "connected", "{r}");
        assert_eq!((self.handshakes, self.failures), (1, 0));
        assert_eq!(self.failed, 0);
        assert!(
            self.got >= 50,
            "aiortc's audio reached the phone: {}",
            self.got
        );
        assert!(
            r["inbound_packets"].as_u64().unwrap_or(0) >= 50,
            "the phone's audio reached aiortc under the DTLS keys: {r}"
        );
    }
}

/// What is done to the call on its way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Twist {
    None,
    /// Rampart is given a fingerprint that is not aiortc's.
    WrongFingerprint,
    /// aiortc reaches Rampart through a proxy dropping 30 % of DTLS
    /// records both ways.
    LossyProxy,
    /// 20,000 ClientHellos hit the WebRTC leg's port once it is keyed.
    HelloFlood,
}

/// A UDP proxy between aiortc and the leg's port that drops the first
/// DTLS record each way and 30 % of the others (seeded), and passes
/// everything else.
struct LossyProxy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl LossyProxy {
    fn start(front: std::net::UdpSocket, back: std::net::UdpSocket, leg: SocketAddr) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        back.connect(leg).unwrap();
        let t = Duration::from_millis(50);
        front.set_read_timeout(Some(t)).unwrap();
        back.set_read_timeout(Some(t)).unwrap();
        let (front2, back2) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let pass = |seed: u64| {
            let (mut x, mut first) = (seed, true);
            move |pkt: &[u8]| {
                if classify(pkt) != PacketKind::Dtls {
                    return true;
                }
                // The first record each way is always lost (only the
                // sender's timer brings its flight again); then 30 %,
                // by xorshift: the same drops every run.
                if std::mem::take(&mut first) {
                    return false;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % 10 >= 3
            }
        };
        let (s1, c1) = (Arc::clone(&stop), Arc::clone(&client));
        let mut p1 = pass(0x9e37_79b9_7f4a_7c15);
        let up = std::thread::spawn(move || {
            let (mut buf, mut dropped) = ([0u8; 2048], 0);
            while !s1.load(Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    *c1.lock().unwrap() = Some(from);
                    if p1(&buf[..n]) {
                        let _ = back.send(&buf[..n]);
                    } else {
                        dropped += 1;
                    }
                }
            }
            dropped
        });
        let (s2, c2) = (Arc::clone(&stop), client);
        let mut p2 = pass(0x2545_f491_4f6c_dd1d);
        let down = std::thread::spawn(move || {
            let (mut buf, mut dropped) = ([0u8; 2048], 0);
            while !s2.load(Relaxed) {
                if let Ok(n) = back2.recv(&mut buf) {
                    let to = *c2.lock().unwrap();
                    match to {
                        Some(to) if p2(&buf[..n]) => {
                            let _ = front2.send_to(&buf[..n], to);
                        }
                        _ => dropped += 1,
                    }
                }
            }
            dropped
        });
        LossyProxy {
            stop,
            threads: vec![up, down],
        }
    }

    /// Stops it; the DTLS records it dropped.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

/// 20,000 ClientHello-shaped records from a stranger to `to`; how many
/// were sent.
fn hello_flood(sock: &std::net::UdpSocket, to: SocketAddr) -> u64 {
    let mut hello = vec![
        22u8, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70, 1, 0, 0, 0x64,
    ];
    hello.resize(125, 0x5a);
    let mut sent = 0;
    for _ in 0..20_000 {
        if sock.send_to(&hello, to).is_ok() {
            sent += 1;
        }
    }
    sent
}

#[test]
fn aiortc_calls_an_sdes_phone_through_the_node_over_ng() {
    if let Some(run) = aiortc_through_the_node_to_a_phone("webrtc-ng-sdes", true, Twist::None) {
        run.assert_audio_both_ways();
    }
}

#[test]
fn aiortc_calls_a_plain_rtp_phone_through_the_node_over_ng() {
    if let Some(run) = aiortc_through_the_node_to_a_phone("webrtc-ng-rtp", false, Twist::None) {
        run.assert_audio_both_ways();
    }
}

/// Fail closed: a certificate that does not match the SDP fingerprint
/// ends the handshake, counted, and no audio crosses either way.
#[test]
fn a_wrong_fingerprint_gets_no_media_and_is_counted() {
    let Some(run) =
        aiortc_through_the_node_to_a_phone("webrtc-ng-fp", false, Twist::WrongFingerprint)
    else {
        return;
    };
    assert_ne!(run.result["state"], "connected", "{}", run.result);
    assert_eq!((run.handshakes, run.failures), (0, 1));
    assert!(
        run.metrics
            .contains("rampart_webrtc_handshakes_total{result=\"failed\"} 1"),
        "{}",
        run.metrics
    );
    assert_eq!(run.got, 0, "nothing of aiortc's reached the phone");
    assert_eq!(
        run.result["inbound_packets"].as_u64(),
        Some(0),
        "{}",
        run.result
    );
}

/// DTLS retransmission: with 30 % of the records lost both ways the
/// handshake (Rampart active, so its own timers resend its flights)
/// still completes and audio flows.
#[test]
fn dtls_completes_through_a_proxy_that_drops_records() {
    if let Some(run) =
        aiortc_through_the_node_to_a_phone("webrtc-ng-loss", false, Twist::LossyProxy)
    {
        assert!(run.proxy_dropped >= 1, "the proxy dropped DTLS records");
        run.assert_audio_both_ways();
    }
}

/// 20,000 ClientHellos from a stranger at the keyed leg's port: dropped
/// (not from the nominated pair, or the hand-over queue full), and the
/// call's audio goes on both ways.
#[test]
fn a_clienthello_flood_does_not_disturb_an_established_call() {
    if let Some(run) =
        aiortc_through_the_node_to_a_phone("webrtc-ng-flood", true, Twist::HelloFlood)
    {
        assert_eq!(run.flood_sent, 20_000);
        assert!(run.transport_dropped >= 1, "the flood was dropped");
        run.assert_audio_both_ways();
    }
}

/// The HTTP API's leg options: a switch that writes its own SDP creates
/// the call with leg A `{dtls: {fingerprint, setup}, ice: {ufrag}}` from
/// aiortc's offer and leg B a plain-RTP phone, and builds aiortc's
/// answer from what the create answer returns (Rampart's ICE-lite
/// credentials and candidate, the node's fingerprint, the `a=setup` it
/// takes). aiortc connects, and audio flows both ways.
#[test]
fn aiortc_calls_a_phone_through_a_call_made_over_http() {
    use std::sync::atomic::Ordering::Relaxed;

    let Some(topo) = Topology::new("webrtc-http") else {
        return;
    };
    let mut peer = Aiortc::start(&topo);
    let (node, _ng, phone) = start_node(&topo, node_config());
    let api = node.info().api_addr;
    let offer = Sdp::parse(&peer.offer).unwrap();
    let theirs = PeerTransport::of(&offer, &offer.media()[0]);
    let body = serde_json::json!({
        "call_id": "webrtc-http-1",
        "legs": [
            {
                "dtls": {
                    "fingerprint": theirs.fingerprint.unwrap().to_string(),
                    "setup": "actpass",
                },
                "ice": {"ufrag": theirs.ice.as_ref().unwrap().0},
                "rtcp_mux": true,
            },
            {"mode": "rtp", "remote": phone.local_addr().unwrap().to_string()},
        ],
    });
    let resp = {
        let _in = topo.enter(Ns::Node);
        support::http_send(api, "POST", "/calls", &body.to_string())
    };
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let created: serde_json::Value =
        serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap();
    let a = &created["legs"][0];
    assert_eq!(a["mode"], "dtls", "{created}");
    assert_eq!(a["security"], "encrypted");
    let w = &a["webrtc"];
    let creds = Credentials {
        ufrag: w["ice"]["ufrag"].as_str().unwrap().into(),
        pwd: w["ice"]["pwd"].as_str().unwrap().into(),
    };
    let fp = Fingerprint::parse_sdp(w["dtls"]["fingerprint"].as_str().unwrap()).unwrap();
    assert_eq!(Some(fp), node.shared().dtls_fingerprint());
    assert_eq!(w["dtls"]["setup"], "passive");
    let a_port: SocketAddr = a["local"].as_str().unwrap().parse().unwrap();
    let b_addr: SocketAddr = created["legs"][1]["local"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    peer.answer(&answer(
        &peer.offer,
        a_port.port(),
        &creds,
        fp,
        Role::Passive,
    ));

    let (result, got, sent) = plain_phone(
        &phone,
        b_addr,
        0x0ff1_ce02,
        LIMIT,
        || peer.report(),
        |_| true,
    );
    let c = &node.shared().webrtc.as_ref().unwrap().counters;
    let handshakes = c.handshakes.load(Relaxed);
    println!("aiortc: {result}; {handshakes} handshake(s); phone got {got}, sent {sent}");
    let del = {
        let _in = topo.enter(Ns::Node);
        support::http_request(api, "DELETE", "/calls/webrtc-http-1")
    };
    assert!(del.starts_with("HTTP/1.1 200"), "{del}");
    node.shutdown();
    assert_eq!(result["state"], "connected", "{result}");
    assert_eq!(handshakes, 1);
    assert!(got >= 50, "aiortc's audio reached the phone: {got}");
    assert!(
        result["inbound_packets"].as_u64().unwrap_or(0) >= 50,
        "the phone's audio reached aiortc under the DTLS keys: {result}"
    );
}

/// A WebRTC call survives its node: two nodes share a Redis store (in the
/// node namespace), the media address and the port range. aiortc calls a
/// plain-RTP phone through node A over ng; once the leg is keyed and audio
/// flows, node A stops (its calls stay in the store), and node B adopts
/// the call: the same ports, the same ICE credentials (aiortc's consent
/// checks go on being answered), and the SRTP contexts rebuilt from the
/// exported DTLS keys kept in the call's sealed state, resumed past the
/// media checkpoint. No new handshake: aiortc never knows. Audio goes on
/// both ways through node B.
#[test]
fn a_webrtc_call_survives_its_node() {
    webrtc_call_survives_its_node("webrtc-ha", false);
}

/// The same with audio and video bundled on one port: node B restores
/// both sections on one socket, the video section joined to the audio
/// section's, and the kept keys go on in both.
#[test]
fn a_bundled_webrtc_call_survives_its_node() {
    webrtc_call_survives_its_node("webrtc-ha-b", true);
}

fn webrtc_call_survives_its_node(tag: &str, video: bool) {
    use rampart::control::Node;
    use std::sync::atomic::Ordering::Relaxed;

    let Some(topo) = Topology::new(tag) else {
        return;
    };
    let mut peer = if video {
        Aiortc::spawn(&topo, &["8", "video"])
    } else {
        Aiortc::start_for(&topo, "8")
    };
    let dir = support::temp_dir(tag);
    let kek = dir.join("kek.hex");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&kek, "5a".repeat(32)).unwrap();
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = |id: &str| {
        let mut c = node_config();
        c.store.url = Some("redis://127.0.0.1:6399/".into());
        c.store.kek_file = Some(kek.clone());
        c.store.prefix = format!("{tag}-{}", std::process::id());
        c.store.node_id = id.into();
        c.store.heartbeat_ms = 100;
        c.store.dead_after_ms = 500;
        c.store.checkpoint_ms = 200;
        c
    };
    let (_redis, node_a, node_b, mut ng, phone, video_phone) = {
        let _in = topo.enter(Ns::Node);
        let redis = support::redis::Redis::start(&dir, 6399);
        let a = Node::start(config("a")).expect("node a starts");
        let b = Node::start(config("b")).expect("node b starts");
        let ng = support::webrtc::ng_client(&a);
        let phones = (
            support::webrtc::phone_socket(),
            support::webrtc::phone_socket(),
        );
        (redis, a, b, ng, phones.0, phones.1)
    };
    let phones: Vec<&std::net::UdpSocket> = if video {
        vec![&phone, &video_phone]
    } else {
        vec![&phone]
    };
    let (relays, answer) =
        support::webrtc::browser_calls_plain_phones(&mut ng, "webrtc-ha-1", &peer.offer, &phones);
    let b_addr = relays[0];
    peer.answer(&answer);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let video_side = video.then(|| {
        assert!(answer.contains("a=group:BUNDLE"), "{answer}");
        let pt: u8 = peer
            .offer
            .lines()
            .find(|l| l.starts_with("m=video"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|p| p.parse().ok())
            .unwrap();
        let (stop, sock, to) = (stop.clone(), video_phone.try_clone().unwrap(), relays[1]);
        std::thread::spawn(move || support::webrtc::video_phone(&sock, to, pt, &stop))
    });

    // A second of audio through node A (its keys have reached the store
    // by then), then node A goes; node B adopts the call.
    let mut node_a = Some(node_a);
    let mut got_at_stop: Option<u64> = None;
    let (result, got, sent) = plain_phone(
        &phone,
        b_addr,
        0x0ff1_ce03,
        Duration::from_secs(60),
        || peer.report(),
        |got| {
            if got_at_stop.is_none() && got >= 50 {
                let a = node_a.take().unwrap();
                let keyed = support::webrtc::handshakes(&a);
                assert_eq!(keyed, 1);
                std::thread::sleep(Duration::from_millis(300));
                a.shutdown();
                got_at_stop = Some(got);
            }
            true
        },
    );
    stop.store(true, Relaxed);
    let video_got = video_side.map(|t| t.join().unwrap());
    let got_before = got_at_stop.expect("node A was stopped");
    let got_after = got - got_before;
    let wb = std::sync::Arc::clone(&node_b.shared().webrtc.as_ref().unwrap().counters);
    let health = {
        let _in = topo.enter(Ns::Node);
        support::http_get(node_b.info().api_addr, "/health")
    };
    println!(
        "aiortc: {result}; phone got {got_before} packets through node A, {got_after} through \
         node B (sent {sent}); node B: {} handshakes, {} STUN/DTLS datagrams; {}",
        wb.handshakes.load(Relaxed),
        wb.datagrams.load(Relaxed),
        health.lines().last().unwrap_or("")
    );
    node_b.shutdown();
    assert_eq!(result["state"], "connected", "{result}");
    assert!(
        got_after >= 100,
        "aiortc's audio reached the phone through node B: {got_after}"
    );
    assert_eq!(wb.handshakes.load(Relaxed), 0, "no new handshake");
    assert!(
        wb.datagrams.load(Relaxed) >= 1,
        "node B answered aiortc's consent checks"
    );
    // 8 s of audio at 50 packets/s: most of it decrypted by aiortc after
    // the takeover, under keys node B never negotiated.
    assert!(
        result["inbound_packets"].as_u64().unwrap_or(0) >= 250,
        "the phone's audio reached aiortc through node B: {result}"
    );
    if let Some(v) = video_got {
        // Most of 8 s of video after the takeover, both ways, on the one
        // port node B restored.
        assert!(v >= 150, "aiortc's video reached the video phone: {v}");
        let k = &result["by_kind"]["video"];
        assert!(
            k["in"].as_u64().unwrap_or(0) >= 250,
            "the video phone's packets reached aiortc through node B: {result}"
        );
    }
}

/// BUNDLE (RFC 8843) through the node: aiortc offers audio and video with
/// `a=group:BUNDLE 0 1` toward two plain phones (one per section), as
/// Kamailio sends it. Rampart's answer takes the group: aiortc moves
/// both sections onto one transport, one handshake keys both, and the
/// one port carries both ways of both sections, told apart by the worker.
#[test]
fn aiortc_bundles_audio_and_video_on_one_port() {
    use support::ng::{get, l, ok, s};
    let Some(topo) = Topology::new("webrtc-bundle") else {
        return;
    };
    let mut peer = Aiortc::spawn(&topo, &[SECONDS, "video"]);
    assert!(peer.offer.contains("a=group:BUNDLE 0 1"), "{}", peer.offer);
    let ip = node_ip4();
    let (node, mut ng, audio_phone) = start_node(&topo, node_config());
    let video_phone = {
        let _in = topo.enter(Ns::Node);
        support::webrtc::phone_socket()
    };
    let r = ng.req(&[
        ("command", s("offer")),
        ("call-id", s("bundle-1")),
        ("from-tag", s("browser")),
        ("sdp", s(&peer.offer)),
        ("transport-protocol", s("RTP/AVP")),
        ("ICE", s("remove")),
        ("DTLS", s("off")),
        ("rtcp-mux", l(&["demux"])),
    ]);
    ok(&r);
    let to_phones = Sdp::parse(get(&r, "sdp")).unwrap();
    assert_eq!(to_phones.media().len(), 2);
    let relay = |i: usize| SocketAddr::new(ip, to_phones.media()[i].port());
    assert_ne!(relay(0), relay(1), "the phones get a port per section");
    let video_pt: u8 = to_phones.media()[1].formats()[0].parse().unwrap();
    let answer = format!(
        "v=0\r\no=- 7 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         m=video {} RTP/AVP {video_pt}\r\na=rtpmap:{video_pt} VP8/90000\r\n",
        audio_phone.local_addr().unwrap().port(),
        video_phone.local_addr().unwrap().port(),
    );
    let r = ng.req(&[
        ("command", s("answer")),
        ("call-id", s("bundle-1")),
        ("from-tag", s("browser")),
        ("to-tag", s("phone")),
        ("sdp", s(&answer)),
    ]);
    ok(&r);
    let to_browser = get(&r, "sdp").to_string();
    assert!(to_browser.contains("a=group:BUNDLE 0 1"), "{to_browser}");
    let parsed = Sdp::parse(&to_browser).unwrap();
    assert_eq!(
        parsed.media()[0].port(),
        parsed.media()[1].port(),
        "{to_browser}"
    );
    peer.answer(&to_browser);

    // Both phones send (PCMU; the video phone VP8's payload type) and
    // count what reaches them from aiortc.
    let (mut got, mut sent) = ([0u64; 2], 0u64);
    let mut next = Instant::now();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + LIMIT;
    let result = loop {
        if let Some(r) = peer.report() {
            break r;
        }
        assert!(Instant::now() < deadline, "aiortc never reported");
        for (i, phone) in [&audio_phone, &video_phone].into_iter().enumerate() {
            if let Ok((n, from)) = phone.recv_from(&mut buf) {
                if from == relay(i) && classify(&buf[..n]) == PacketKind::Rtp {
                    got[i] += 1;
                }
            }
        }
        if Instant::now() >= next {
            next += Duration::from_millis(20);
            let a = support::ng::rtp(sent as u16, 0x0a0d_1001, &[0xff; 160]);
            let _ = audio_phone.send_to(&a, relay(0));
            let mut v = support::ng::rtp(sent as u16, 0x0f1d_e002, &[0x10, 0, 0, 0x9d, 1, 0x2a]);
            v[1] = video_pt;
            let _ = video_phone.send_to(&v, relay(1));
            sent += 1;
        }
    };
    let handshakes = support::webrtc::handshakes(&node);
    let legs = node.shared().webrtc.as_ref().unwrap().leg_count();
    let service_sent = node
        .shared()
        .webrtc
        .as_ref()
        .unwrap()
        .counters
        .sent
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        service_sent > 0,
        "the service sent its answers and flights itself"
    );
    println!(
        "aiortc: {result}; phones got audio {} / video {} from aiortc, sent {sent} each; \
         {handshakes} handshake(s), {legs} transport leg(s)",
        got[0], got[1]
    );
    assert_eq!(result["state"], "connected", "{result}");
    assert_eq!(result["transports"], 1, "aiortc bundled: {result}");
    assert_eq!(handshakes, 1, "one handshake keys both sections");
    assert_eq!(legs, 1, "one transport runs for the bundle");
    for kind in ["audio", "video"] {
        let k = &result["by_kind"][kind];
        assert!(
            k["in"].as_u64().unwrap_or(0) > 50,
            "aiortc got little {kind}: {result}"
        );
    }
    assert!(got[0] > 50 && got[1] > 20, "the phones got {got:?}");
    // Nothing of one section reached the other's phone (aiortc's count
    // is read a moment before it stops sending: a packet or two more).
    for (i, kind) in ["audio", "video"].into_iter().enumerate() {
        let out = result["by_kind"][kind]["out"].as_u64().unwrap_or(0);
        assert!(
            got[i] <= out + 5,
            "the {kind} phone got {} of aiortc's {out}",
            got[i]
        );
    }
    let r = ng.req(&[
        ("command", s("delete")),
        ("call-id", s("bundle-1")),
        ("from-tag", s("browser")),
    ]);
    ok(&r);
    node.shutdown();
}

/// BUNDLE over the HTTP API: aiortc offers audio and video; the switch
/// makes one call per section, the video call's browser leg joining the
/// audio call's (`bundle`), and writes one answer with both sections on
/// the audio leg's port. One transport, one handshake, both kinds both
/// ways.
#[test]
fn aiortc_bundles_through_calls_made_over_http() {
    use std::sync::atomic::Ordering::Relaxed;

    let Some(topo) = Topology::new("webrtc-http-b") else {
        return;
    };
    let mut peer = Aiortc::spawn(&topo, &[SECONDS, "video"]);
    let (node, _ng, phone) = start_node(&topo, node_config());
    let video_phone = {
        let _in = topo.enter(Ns::Node);
        support::webrtc::phone_socket()
    };
    let api = node.info().api_addr;
    let offer = Sdp::parse(&peer.offer).unwrap();
    let theirs = PeerTransport::of(&offer, &offer.media()[0]);
    let video_pt: u8 = offer.media()[1].formats()[0].parse().unwrap();
    let create = |body: serde_json::Value| {
        let resp = {
            let _in = topo.enter(Ns::Node);
            support::http_send(api, "POST", "/calls", &body.to_string())
        };
        assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
        serde_json::from_str::<serde_json::Value>(resp.split_once("\r\n\r\n").unwrap().1).unwrap()
    };
    let audio = create(serde_json::json!({
        "call_id": "http-audio",
        "legs": [
            {
                "dtls": {"fingerprint": theirs.fingerprint.unwrap().to_string(), "setup": "actpass"},
                "ice": {"ufrag": theirs.ice.as_ref().unwrap().0},
                "rtcp_mux": true,
            },
            {"mode": "rtp", "remote": phone.local_addr().unwrap().to_string()},
        ],
    }));
    let video = create(serde_json::json!({
        "call_id": "http-video",
        "legs": [
            {"bundle": {"call_id": "http-audio", "leg": 0, "payload_types": [video_pt]}, "rtcp_mux": true},
            {"mode": "rtp", "remote": video_phone.local_addr().unwrap().to_string()},
        ],
    }));
    let a = &audio["legs"][0];
    assert_eq!(video["legs"][0]["local"], a["local"], "one port");
    let w = &a["webrtc"];
    let creds = Credentials {
        ufrag: w["ice"]["ufrag"].as_str().unwrap().into(),
        pwd: w["ice"]["pwd"].as_str().unwrap().into(),
    };
    let fp = Fingerprint::parse_sdp(w["dtls"]["fingerprint"].as_str().unwrap()).unwrap();
    let port: SocketAddr = a["local"].as_str().unwrap().parse().unwrap();
    let relay = |c: &serde_json::Value| -> SocketAddr {
        c["legs"][1]["local"].as_str().unwrap().parse().unwrap()
    };
    let (audio_relay, video_relay) = (relay(&audio), relay(&video));
    peer.answer(&answer_bundled(
        &peer.offer,
        port.port(),
        (&creds, fp, Role::Passive),
        Some(video_pt),
    ));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let video_side = {
        let (stop, sock) = (stop.clone(), video_phone.try_clone().unwrap());
        std::thread::spawn(move || {
            support::webrtc::video_phone(&sock, video_relay, video_pt, &stop)
        })
    };
    let (result, got, sent) = plain_phone(
        &phone,
        audio_relay,
        0x0ff1_ce04,
        LIMIT,
        || peer.report(),
        |_| true,
    );
    stop.store(true, Relaxed);
    let video_got = video_side.join().unwrap();
    let svc = node.shared().webrtc.as_ref().unwrap();
    let handshakes = svc.counters.handshakes.load(Relaxed);
    let legs = svc.leg_count();
    println!(
        "aiortc: {result}; {handshakes} handshake(s), {legs} transport leg(s); phones got \
         audio {got} (sent {sent}), video {video_got}"
    );
    let del = {
        let _in = topo.enter(Ns::Node);
        support::http_request(api, "DELETE", "/calls/http-audio")
    };
    assert!(del.starts_with("HTTP/1.1 200"), "{del}");
    assert_eq!(
        node.shared().calls.len(None),
        0,
        "the video call ended with it"
    );
    node.shutdown();
    assert_eq!(result["state"], "connected", "{result}");
    assert_eq!(result["transports"], 1, "{result}");
    assert_eq!((handshakes, legs), (1, 1));
    assert!(
        got >= 50 && video_got >= 20,
        "the phones got {got} / {video_got}"
    );
    for kind in ["audio", "video"] {
        assert!(
            result["by_kind"][kind]["in"].as_u64().unwrap_or(0) >= 50,
            "aiortc got {kind}: {result}"
        );
    }
}
