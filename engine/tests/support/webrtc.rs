//! What the WebRTC tests through a node share: a node in the node
//! namespace with ng on its loopback, an ng client and a plain-RTP phone
//! there, and the phone's side of a call (PCMU every 20 ms, counting what
//! the relay sends it) until the WebRTC peer reports.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::{Node, NodeHandle};
use rampart::rtp::{classify, PacketKind};

use super::netns::{node_ip4, Ns, Topology};
use super::ng::Ng;

/// A node's configuration for these tests: the node address, ports
/// 40000-40099 (the namespace is the test's own), one worker, the API
/// and ng on the namespace's loopback.
pub fn node_config() -> Config {
    let mut c = Config::default();
    c.media.addresses = vec![node_ip4()];
    c.media.port_min = 40000;
    c.media.port_max = 40099;
    c.dataplane.workers = 1;
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c
}

/// An ng client for `node`, made in the node namespace.
pub fn ng_client(node: &NodeHandle) -> Ng {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    Ng {
        sock,
        to: node.info().ng.udp.expect("ng listens"),
        n: 0,
    }
}

/// A node started with `config` in the node namespace, an ng client for
/// it, and a plain-RTP phone's socket on the node address.
pub fn start_node(topo: &Topology, config: Config) -> (NodeHandle, Ng, UdpSocket) {
    let _in = topo.enter(Ns::Node);
    let node = Node::start(config).expect("node starts");
    let ng = ng_client(&node);
    (node, ng, phone_socket())
}

/// A phone's socket on the node address (call in the node namespace).
pub fn phone_socket() -> UdpSocket {
    let phone = UdpSocket::bind(SocketAddr::new(node_ip4(), 0)).unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    phone
}

/// The phone's side of a call: PCMU with SSRC `ssrc` to `relay` every
/// 20 ms while `tick` (told the packets received so far) says it may
/// send, counting the RTP that comes from `relay`, until `report` has the
/// peer's report (or `limit` passes: a panic). The report, the packets
/// received and sent.
pub fn plain_phone(
    phone: &UdpSocket,
    relay: SocketAddr,
    ssrc: u32,
    limit: Duration,
    mut report: impl FnMut() -> Option<serde_json::Value>,
    mut tick: impl FnMut(u64) -> bool,
) -> (serde_json::Value, u64, u64) {
    let (mut got, mut sent) = (0u64, 0u64);
    let mut next = Instant::now();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + limit;
    loop {
        if let Some(r) = report() {
            return (r, got, sent);
        }
        assert!(Instant::now() < deadline, "the peer never reported");
        if let Ok((n, from)) = phone.recv_from(&mut buf) {
            if from == relay && classify(&buf[..n]) == PacketKind::Rtp {
                got += 1;
            }
        }
        if !tick(got) {
            next = Instant::now();
        } else if Instant::now() >= next {
            next += Duration::from_millis(20);
            let pkt = super::ng::rtp(sent as u16, ssrc, &[0xff; 160]);
            let _ = phone.send_to(&pkt, relay);
            sent += 1;
        }
    }
}

/// The call as Kamailio makes it for a browser calling a plain-RTP phone:
/// the browser's `offer` over ng with `transport-protocol: RTP/AVP`,
/// `ICE: remove`, `DTLS: off`, `rtcp-mux: demux`, then the phone's PCMU
/// answer (from `phone`) with no flags. Rampart's address toward the
/// phone, and the answer Rampart wrote for the browser.
pub fn browser_calls_plain_phone(
    ng: &mut Ng,
    call_id: &str,
    offer: &str,
    phone: &UdpSocket,
) -> (SocketAddr, String) {
    let (relays, answer) = browser_calls_plain_phones(ng, call_id, offer, &[phone]);
    (relays[0], answer)
}

/// [`browser_calls_plain_phone`] with a phone per media section: section
/// `i` is answered from `phones[i]`, audio with PCMU, another kind with
/// the first payload type offered. Rampart's address toward each phone,
/// and the answer Rampart wrote for the browser.
pub fn browser_calls_plain_phones(
    ng: &mut Ng,
    call_id: &str,
    offer: &str,
    phones: &[&UdpSocket],
) -> (Vec<SocketAddr>, String) {
    use super::ng::{get, l, ok, s};
    let r = ng.req(&[
        ("command", s("offer")),
        ("call-id", s(call_id)),
        ("from-tag", s("browser")),
        ("sdp", s(offer)),
        ("transport-protocol", s("RTP/AVP")),
        ("ICE", s("remove")),
        ("DTLS", s("off")),
        ("rtcp-mux", l(&["demux"])),
    ]);
    ok(&r);
    let to_phone = rampart::control::sdp::Sdp::parse(get(&r, "sdp")).expect("SDP toward the phone");
    let ip = node_ip4();
    let relays = (0..phones.len())
        .map(|i| SocketAddr::new(ip, to_phone.media()[i].port()))
        .collect();
    let mut answer = format!("v=0\r\no=- 7 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n");
    for (m, phone) in to_phone.media().iter().zip(phones) {
        let port = phone.local_addr().unwrap().port();
        let pt = if m.kind() == "audio" {
            "0"
        } else {
            m.formats()[0].as_str()
        };
        answer.push_str(&format!(
            "m={} {port} RTP/AVP {pt}\r\na=sendrecv\r\n",
            m.kind()
        ));
        // The payload type's rtpmap, as offered.
        let rtpmap = m
            .attributes()
            .filter(|(n, _)| *n == "rtpmap")
            .filter_map(|(_, v)| v)
            .find(|v| v.split_whitespace().next() == Some(pt));
        answer.push_str(&format!("a=rtpmap:{}\r\n", rtpmap.unwrap_or("0 PCMU/8000")));
    }
    let r = ng.req(&[
        ("command", s("answer")),
        ("call-id", s(call_id)),
        ("from-tag", s("browser")),
        ("to-tag", s("phone")),
        ("sdp", s(&answer)),
    ]);
    ok(&r);
    (relays, get(&r, "sdp").to_string())
}

/// The handshakes that keyed a leg on `node`.
pub fn handshakes(node: &NodeHandle) -> u64 {
    let w = node.shared().webrtc.as_ref().expect("WebRTC on");
    w.counters
        .handshakes
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The video phone: a packet every 20 ms with VP8's payload type `pt` to
/// `to`, counting the RTP that comes back from `to`, until `stop`.
pub fn video_phone(
    sock: &std::net::UdpSocket,
    to: std::net::SocketAddr,
    pt: u8,
    stop: &std::sync::atomic::AtomicBool,
) -> u64 {
    let (mut got, mut seq) = (0u64, 0u16);
    let mut next = std::time::Instant::now();
    let mut buf = [0u8; 2048];
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from == to && n > 12 && buf[1] & 0x7f == pt {
                got += 1;
            }
        }
        if std::time::Instant::now() >= next {
            next += Duration::from_millis(20);
            let mut v = super::ng::rtp(seq, 0x0f1d_e003, &[0x10, 0, 0, 0x9d, 1, 0x2a]);
            v[1] = pt;
            let _ = sock.send_to(&v, to);
            seq = seq.wrapping_add(1);
        }
    }
    got
}
