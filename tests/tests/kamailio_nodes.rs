//! Two Rampart nodes in one Kamailio `rtpengine_sock` set, sharing one
//! state store, and what happens to a call when its node dies.
//!
//! The test starts its own `redis-server` (loopback, no persistence) and two
//! Rampart nodes in-process, A and B: each with its own ng and API port, both
//! with media on 127.0.0.2 but in different port ranges (A 43600-43699,
//! B 43700-43799), both on the same store (same URL, prefix and key file,
//! node ids `a` and `b`, heartbeat 100 ms, dead after 600 ms, media
//! checkpoints every 200 ms). Kamailio (Debian's 5.6, `rtpengine` module)
//! runs `tests/kamailio/kamailio-nodes.cfg`: both nodes in one set, short ng
//! timeouts (500 ms, one try), and every media command tried on the call's
//! own node first, then on any live node (a second set holding the same
//! nodes: see docs/kamailio.md, "Two nodes in one set", for why the module
//! needs that). Each node's ng port is behind a tap that records what
//! Kamailio sent it and what it answered.
//!
//! The call: INVITE / 200 / ACK through Kamailio with SRTP offers, as in
//! `kamailio_e2e.rs`; the taps tell which node took it. SRTP flows both
//! ways (one packet each way every 20 ms). Then that node dies (its
//! `NodeHandle` is dropped: a node that stops leaves its calls in the store
//! for another node to adopt), and:
//!
//! 1. media resumes through the same Rampart ports, under the keys the SDP
//!    gave, within 5 s: the survivor adopts the dead node's calls once its
//!    heartbeat has been still for `dead_after_ms`, binding the dead node's
//!    ports and keys. The gap is measured and printed;
//! 2. Kamailio's next commands for the call (a re-INVITE's offer and answer,
//!    then the BYE's delete) reach the survivor, which knows the call: each
//!    is answered `ok`, the re-INVITE keeps the call's ports, and after the
//!    BYE the survivor's `/health` counts no call.
//!
//! No Kamailio (or no redis-server) on the machine: the test prints a SKIP
//! line and passes, unless `RAMPART_REQUIRE_KAMAILIO=1` (then it fails).
//! `scripts/test` installs `kamailio`, `kamailio-extra-modules` and
//! `redis-server`. `RAMPART_KAMAILIO` names another binary;
//! `RAMPART_KAMAILIO_LOG=1` prints Kamailio's log. Everything is loopback
//! and every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::{Node, NodeHandle};
use rampart::srtp::Context;

mod kamailio_support;
use kamailio_support::*;

const TEMPLATE: &str = include_str!("../kamailio/kamailio-nodes.cfg");

/// The nodes' names (`[store] node_id`) and media port ranges.
const NODE_IDS: [&str; 2] = ["a", "b"];
const RANGES: [(u16, u16); 2] = [(43600, 43699), (43700, 43799)];
const HEARTBEAT_MS: u64 = 100;
const DEAD_AFTER_MS: u64 = 600;
const CHECKPOINT_MS: u64 = 200;
/// Media must flow again within this long after the node died.
const RESUME_WITHIN: Duration = Duration::from_secs(5);
/// One packet each way this often.
const PACKET_EVERY: Duration = Duration::from_millis(20);

/// A directory for the KEK file, Kamailio's configuration and log;
/// removed when dropped, whatever happened (it holds a key).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- the store -----------------------------------------------------------

/// A redis-server of this test's own: loopback, nothing written to disk;
/// killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// `None`: no `redis-server` to run.
    fn start(dir: &Path) -> Option<Redis> {
        let port = free_tcp_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut r = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            if let Ok(Some(st)) = r.child.try_wait() {
                panic!("redis-server exited ({st}) on port {port}");
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind((PHONE_IP, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The key-encryption key both nodes seal call state with: 64 hex digits,
/// mode 0600.
fn kek_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("kek.hex");
    let mut kek = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut kek))
        .expect("random bytes");
    let hex = hex::encode(kek);
    std::fs::write(&path, hex).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

// ---- Rampart -------------------------------------------------------------

fn start_node(i: usize, store_url: &str, kek: &Path, prefix: &str) -> NodeHandle {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.addresses = vec![IpAddr::V4(MEDIA_IP)];
    (c.media.port_min, c.media.port_max) = RANGES[i];
    c.dataplane.workers = 1;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.store.url = Some(store_url.to_string());
    c.store.kek_file = Some(kek.to_path_buf());
    c.store.prefix = prefix.to_string();
    c.store.node_id = NODE_IDS[i].into();
    c.store.heartbeat_ms = HEARTBEAT_MS;
    c.store.dead_after_ms = DEAD_AFTER_MS;
    c.store.checkpoint_ms = CHECKPOINT_MS;
    Node::start(c).unwrap_or_else(|e| panic!("Rampart node {} starts: {e}", NODE_IDS[i]))
}

/// `GET /health` as JSON.
fn health(api: SocketAddr) -> serde_json::Value {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("GET /health on {api}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("health JSON ({e}): {out}"))
}

fn health_calls(api: SocketAddr) -> u64 {
    let h = health(api);
    h["calls"]
        .as_u64()
        .unwrap_or_else(|| panic!("health has calls: {h}"))
}

fn in_range(i: usize, a: SocketAddr) -> bool {
    (RANGES[i].0..=RANGES[i].1).contains(&a.port())
}

// ---- media: one SRTP stream, one way --------------------------------------

/// SRTP from one phone through Rampart to the other: what was sent, and
/// when each packet arrived intact (from the Rampart port the receiver's
/// SDP named, authenticated under the key it gave).
struct Flow<'a> {
    name: &'static str,
    from: &'a UdpSocket,
    to: SocketAddr,
    tx: Context,
    rx_sock: &'a UdpSocket,
    rx_from: SocketAddr,
    rx: Context,
    ssrc: u32,
    seq: u16,
    sent: usize,
    got: Vec<Instant>,
    bad: Vec<String>,
}

impl Flow<'_> {
    fn send(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        let payload = format!("kamailio nodes media {} {:08x}", self.seq, self.ssrc);
        let mut pkt = rtp_packet(self.seq, self.ssrc, payload.as_bytes());
        let n = pkt.len();
        pkt.resize(n + 64, 0);
        let n = self.tx.protect_rtp(&mut pkt, n).unwrap();
        // To a dead node's port this may fail (ICMP); that is the point.
        let _ = self.from.send_to(&pkt[..n], self.to);
        self.sent += 1;
    }

    /// Takes in every packet waiting on the receiving socket.
    fn drain(&mut self) {
        let mut buf = [0u8; 2048];
        self.rx_sock.set_nonblocking(true).unwrap();
        for _ in 0..1000 {
            match self.rx_sock.recv_from(&mut buf) {
                Ok((n, src)) => self.take(&mut buf[..n], src),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
        self.rx_sock.set_nonblocking(false).unwrap();
    }

    fn take(&mut self, pkt: &mut [u8], src: SocketAddr) {
        if src != self.rx_from {
            self.bad.push(format!(
                "{}: a packet from {src}, not {}",
                self.name, self.rx_from
            ));
            return;
        }
        let header: Vec<u8> = pkt.get(..12).unwrap_or_default().to_vec();
        match self.rx.unprotect_rtp(pkt) {
            Ok(len) => {
                let seq = u16::from_be_bytes([header[2], header[3]]);
                let want = format!("kamailio nodes media {seq} {:08x}", self.ssrc);
                if header[8..12] != self.ssrc.to_be_bytes() || &pkt[12..len] != want.as_bytes() {
                    self.bad
                        .push(format!("{}: packet {seq} relayed altered", self.name));
                } else {
                    self.got.push(Instant::now());
                }
            }
            Err(e) => self
                .bad
                .push(format!("{}: a packet did not unprotect ({e:?})", self.name)),
        }
    }

    fn stats(&self) -> String {
        format!(
            "{}: sent {}, arrived intact {}, bad {:?}",
            self.name,
            self.sent,
            self.got.len(),
            self.bad
        )
    }
}

/// One packet each way every [`PACKET_EVERY`], taking in what arrives,
/// until `done` holds (true) or `deadline` passes (false).
fn pump(
    fa: &mut Flow,
    fb: &mut Flow,
    deadline: Instant,
    done: impl Fn(&Flow, &Flow) -> bool,
) -> bool {
    let mut next = Instant::now();
    loop {
        fa.send();
        fb.send();
        next += PACKET_EVERY;
        loop {
            fa.drain();
            fb.drain();
            if done(fa, fb) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if now >= next {
                break;
            }
            std::thread::sleep(Duration::from_millis(2).min(next - now));
        }
    }
}

// ---- the test ------------------------------------------------------------

fn skip(why: &str) {
    if std::env::var("RAMPART_REQUIRE_KAMAILIO").is_ok_and(|v| v == "1") {
        panic!("RAMPART_REQUIRE_KAMAILIO=1 but {why}");
    }
    println!(
        "SKIP kamailio_nodes: {why} (apt-get install kamailio kamailio-extra-modules \
         redis-server, or set RAMPART_KAMAILIO)"
    );
}

#[test]
fn two_nodes_in_one_set_a_call_survives_its_node() {
    let Some(bin) = find_kamailio() else {
        return skip("kamailio not installed");
    };
    let pid = std::process::id();
    let dir = TempDir::new(&format!("rampart-kamailio-nodes-{pid}"));
    let dir = &dir.0;
    let Some(redis) = Redis::start(dir) else {
        return skip("redis-server not installed");
    };
    let kek = kek_file(dir);
    let prefix = format!("kam-{pid}");

    // ---- two nodes on one store, each behind a tap ----
    let mut nodes: [Option<NodeHandle>; 2] =
        [0, 1].map(|i| Some(start_node(i, &redis.url(), &kek, &prefix)));
    let info = |n: &Option<NodeHandle>| {
        let i = n.as_ref().unwrap().info();
        (i.api_addr, i.ng.udp.expect("ng listens"))
    };
    let (api, ng): (Vec<SocketAddr>, Vec<SocketAddr>) = nodes.iter().map(info).unzip();
    let taps = [Tap::start("a", ng[0]), Tap::start("b", ng[1])];
    let all = [&taps[0], &taps[1]];
    for (i, a) in api.iter().enumerate() {
        println!(
            "node {}: ng {} (tap {}), api {a}, media {MEDIA_IP}:{}-{}, health {}",
            NODE_IDS[i],
            ng[i],
            taps[i].addr,
            RANGES[i].0,
            RANGES[i].1,
            health(*a)
        );
    }

    // ---- Kamailio with both nodes in one set ----
    let uac = Ua::new();
    let uas = Ua::new();
    let sip_port = free_udp_port();
    let proxy = SocketAddr::new(IpAddr::V4(PHONE_IP), sip_port);
    let cfg_path = dir.join("kamailio.cfg");
    let cfg = TEMPLATE
        .replace("@SIP_PORT@", &sip_port.to_string())
        .replace("@NG_A@", &taps[0].addr.to_string())
        .replace("@NG_B@", &taps[1].addr.to_string())
        .replace("@UAS_PORT@", &uas.port().to_string());
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut kam = Kamailio::start(&bin, &cfg_path, &dir.join("kamailio.log"));

    wait_until_ready(&mut kam, &uac, proxy, "kamailio-nodes");
    for t in &taps {
        assert!(
            t.exchanges()
                .iter()
                .any(|e| command_of(e) == "ping" && result_of(e) == "pong"),
            "Kamailio pinged node {} at start:\n{}",
            t.name,
            dump_all(&all)
        );
    }

    let a = Phone::new();
    let b = Phone::new();
    let call_id = format!("kam-nodes-{pid}@127.0.0.1");
    let uac_port = uac.port();
    let uas_contact = format!("<sip:bob@127.0.0.1:{}>", uas.port());

    // ---- INVITE: UAC -> Kamailio (rtpengine_offer) -> UAS ----
    uac.send(
        proxy,
        &alice_invite(
            sip_port,
            uac_port,
            &call_id,
            "rampart-kamailio-nodes UAC",
            &a.sdp(1001, 1, 1),
        ),
    );
    let inv = uas.wait("INVITE at the UAS", &mut kam, &all, |m| {
        m.method() == Some("INVITE")
    });
    // Which node took the call.
    let took: Vec<usize> = (0..2)
        .filter(|&i| {
            call_exchanges(&taps[i], 0, &call_id)
                .iter()
                .any(|e| command_of(e) == "offer" && result_of(e) == "ok")
        })
        .collect();
    assert_eq!(
        took.len(),
        1,
        "one node took the offer:\n{}",
        dump_all(&all)
    );
    let owner = took[0];
    let other = 1 - owner;
    println!(
        "call {call_id} is on node {} (the other node is {})",
        NODE_IDS[owner], NODE_IDS[other]
    );
    let to_b = target(&inv.body);
    assert_eq!(to_b.rtp.ip(), IpAddr::V4(MEDIA_IP), "{}", inv.body);
    assert!(
        in_range(owner, to_b.rtp) && in_range(owner, to_b.rtcp),
        "INVITE's SDP names node {}'s ports:\n{}",
        NODE_IDS[owner],
        inv.body
    );
    assert_eq!(
        to_b.origin,
        Some(IpAddr::V4(MEDIA_IP)),
        "replace-origin: o= names Rampart:\n{}",
        inv.body
    );
    assert!(!inv.body.contains(&a.inline()), "{}", inv.body);
    let b_pick = to_b.crypto[0].clone();

    // ---- 200 OK: UAS -> Kamailio (rtpengine_answer) -> UAC ----
    uas.send(
        inv.from,
        &response(
            &inv,
            "200 OK",
            "bob-tag",
            Some(&uas_contact),
            &b.sdp(2002, 1, b_pick.tag),
        ),
    );
    let ok = uac.wait("200 OK to the INVITE at the UAC", &mut kam, &all, |m| {
        m.status() == Some(200) && m.cseq_method() == "INVITE"
    });
    let to_a = target(&ok.body);
    assert_eq!(to_a.rtp.ip(), IpAddr::V4(MEDIA_IP), "{}", ok.body);
    assert!(
        in_range(owner, to_a.rtp) && in_range(owner, to_a.rtcp),
        "200 OK's SDP names node {}'s ports:\n{}",
        NODE_IDS[owner],
        ok.body
    );
    assert_ne!(to_a.rtp, to_b.rtp);
    assert!(
        !ok.body.contains(&b.inline()) && !ok.body.contains(&a.inline()),
        "{}",
        ok.body
    );
    let answered: Vec<String> = call_exchanges(&taps[owner], 0, &call_id)
        .iter()
        .map(|e| format!("{} {}", command_of(e), result_of(e)))
        .collect();
    assert_eq!(
        answered,
        ["offer ok", "answer ok"],
        "node {} got the offer and the answer:\n{}",
        NODE_IDS[owner],
        dump_all(&all)
    );
    assert!(
        call_exchanges(&taps[other], 0, &call_id).is_empty(),
        "node {} heard nothing of the call:\n{}",
        NODE_IDS[other],
        dump_all(&all)
    );

    // ---- in-dialog requests: ACK, re-INVITE, BYE (Route from Record-Route) ----
    let dialog = AliceDialog::new(&ok, &call_id, uac_port, uas.port());
    uac.send(proxy, &dialog.request("ACK", 1, "z9hG4bK-ack-1", ""));
    uas.wait("ACK at the UAS", &mut kam, &all, |m| {
        m.method() == Some("ACK")
    });
    assert_eq!(
        health_calls(api[owner]),
        1,
        "node {} has the call",
        NODE_IDS[owner]
    );

    // ---- media both ways through the call's node ----
    let mut fa = Flow {
        name: "caller->callee",
        from: &a.rtp,
        to: to_a.rtp,
        tx: a.tx(),
        rx_sock: &b.rtp,
        rx_from: to_b.rtp,
        rx: rx_ctx(&b_pick),
        ssrc: 0xA11CE,
        seq: 0,
        sent: 0,
        got: Vec::new(),
        bad: Vec::new(),
    };
    let mut fb = Flow {
        name: "callee->caller",
        from: &b.rtp,
        to: to_b.rtp,
        tx: b.tx(),
        rx_sock: &a.rtp,
        rx_from: to_a.rtp,
        rx: rx_ctx(&to_a.crypto[0]),
        ssrc: 0xB0B,
        seq: 1000,
        sent: 0,
        got: Vec::new(),
        bad: Vec::new(),
    };
    let flowing = pump(
        &mut fa,
        &mut fb,
        Instant::now() + Duration::from_secs(3),
        |x, y| x.got.len() >= 10 && y.got.len() >= 10,
    );
    assert!(
        flowing && fa.bad.is_empty() && fb.bad.is_empty(),
        "SRTP through node {}:\n{}\n{}",
        NODE_IDS[owner],
        fa.stats(),
        fb.stats()
    );
    flow_rtcp(&a.rtcp, to_a.rtcp, &mut fa.tx, &b.rtcp, &mut fa.rx, 0xA11CE);
    flow_rtcp(&b.rtcp, to_b.rtcp, &mut fb.tx, &a.rtcp, &mut fb.rx, 0xB0B);
    // Let a media checkpoint reach the store.
    pump(
        &mut fa,
        &mut fb,
        Instant::now() + Duration::from_millis(2 * CHECKPOINT_MS),
        |_, _| false,
    );
    println!("before the failure: {}; {}", fa.stats(), fb.stats());

    // ---- the call's node dies ----
    let taps_before = [taps[0].exchanges().len(), taps[1].exchanges().len()];
    let t_kill = Instant::now();
    drop(nodes[owner].take());
    let stopped_in = t_kill.elapsed();
    // What the dead node relayed before it stopped is in the sockets now.
    fa.drain();
    fb.drain();
    let t_dead = Instant::now();
    let mark = (fa.got.len(), fb.got.len());
    let last_before = [fa.got.last().copied(), fb.got.last().copied()];
    println!(
        "node {} stopped (NodeHandle dropped) in {stopped_in:?}; node {} health: {}",
        NODE_IDS[owner],
        NODE_IDS[other],
        health(api[other])
    );

    // 1. Media resumes through the same ports, under the same keys.
    let resumed = pump(&mut fa, &mut fb, t_dead + RESUME_WITHIN, |x, y| {
        x.got.len() >= mark.0 + 5 && y.got.len() >= mark.1 + 5
    });
    assert!(
        resumed && fa.bad.is_empty() && fb.bad.is_empty(),
        "media did not resume through {} / {} within {RESUME_WITHIN:?} of node {}'s death \
         (node {} should adopt the call after dead_after_ms = {DEAD_AFTER_MS}):\n{}\n{}\n\
         node {} health: {}",
        to_a.rtp,
        to_b.rtp,
        NODE_IDS[owner],
        NODE_IDS[other],
        fa.stats(),
        fb.stats(),
        NODE_IDS[other],
        health(api[other])
    );
    for (f, m, last) in [(&fa, mark.0, last_before[0]), (&fb, mark.1, last_before[1])] {
        let Some(&first_after) = f.got.get(m) else {
            continue;
        };
        println!(
            "media gap {}: {:?} from the last packet through node {} to the first through \
             node {} ({:?} after the node had stopped)",
            f.name,
            last.map(|l| first_after - l),
            NODE_IDS[owner],
            NODE_IDS[other],
            first_after - t_dead
        );
    }
    flow_rtcp(&a.rtcp, to_a.rtcp, &mut fa.tx, &b.rtcp, &mut fa.rx, 0xA11CE);
    flow_rtcp(&b.rtcp, to_b.rtcp, &mut fb.tx, &a.rtcp, &mut fb.rx, 0xB0B);
    let h = health(api[other]);
    println!("node {} after the takeover: {h}", NODE_IDS[other]);
    assert_eq!(
        h["calls"], 1,
        "node {} has adopted the call: {h}",
        NODE_IDS[other]
    );

    // 2. Kamailio's next commands for the call reach the survivor.
    // re-INVITE (same media, new SDP version): rtpengine_offer and, on the
    // 200 OK, rtpengine_answer.
    let t_reinvite = Instant::now();
    uac.send(
        proxy,
        &dialog.request("INVITE", 2, "z9hG4bK-reinv-1", &a.sdp(1001, 2, 1)),
    );
    let reinv = uas.wait("re-INVITE at the UAS", &mut kam, &all, |m| {
        m.method() == Some("INVITE") && m.header("CSeq").is_some_and(|c| c.starts_with("2 "))
    });
    println!(
        "the re-INVITE went through Kamailio in {:?}",
        t_reinvite.elapsed()
    );
    let to_b2 = target(&reinv.body);
    assert_eq!(
        (to_b2.rtp, to_b2.rtcp),
        (to_b.rtp, to_b.rtcp),
        "the re-INVITE keeps the call's ports:\n{}\nng exchanges:\n{}",
        reinv.body,
        dump_all(&all)
    );
    uas.send(
        reinv.from,
        &response(
            &reinv,
            "200 OK",
            "bob-tag",
            Some(&uas_contact),
            &b.sdp(2002, 2, to_b2.crypto[0].tag),
        ),
    );
    let ok2 = uac.wait("200 OK to the re-INVITE at the UAC", &mut kam, &all, |m| {
        m.status() == Some(200)
            && m.cseq_method() == "INVITE"
            && m.header("CSeq").is_some_and(|c| c.starts_with("2 "))
    });
    let to_a2 = target(&ok2.body);
    assert_eq!(
        (to_a2.rtp, to_a2.rtcp),
        (to_a.rtp, to_a.rtcp),
        "the re-INVITE's answer keeps the call's ports:\n{}",
        ok2.body
    );
    uac.send(proxy, &dialog.request("ACK", 2, "z9hG4bK-ack-2", ""));
    uas.wait("ACK to the re-INVITE at the UAS", &mut kam, &all, |m| {
        m.method() == Some("ACK")
    });
    // Media goes on under the keys the new SDPs gave.
    fa.rx = rx_ctx(&to_b2.crypto[0]);
    fb.rx = rx_ctx(&to_a2.crypto[0]);
    let mark = (fa.got.len(), fb.got.len());
    let flowing = pump(
        &mut fa,
        &mut fb,
        Instant::now() + Duration::from_secs(3),
        |x, y| x.got.len() >= mark.0 + 5 && y.got.len() >= mark.1 + 5,
    );
    assert!(
        flowing && fa.bad.is_empty() && fb.bad.is_empty(),
        "media after the re-INVITE:\n{}\n{}",
        fa.stats(),
        fb.stats()
    );

    // BYE: rtpengine_delete.
    uac.send(proxy, &dialog.request("BYE", 3, "z9hG4bK-bye-1", ""));
    let bye = uas.wait("BYE at the UAS", &mut kam, &all, |m| {
        m.method() == Some("BYE")
    });
    uas.send(bye.from, &response(&bye, "200 OK", "bob-tag", None, ""));
    uac.wait("200 OK to the BYE at the UAC", &mut kam, &all, |m| {
        m.status() == Some(200) && m.cseq_method() == "BYE"
    });

    // What each node heard of the call after the failure.
    let after: Vec<Vec<String>> = (0..2)
        .map(|i| {
            call_exchanges(&taps[i], taps_before[i], &call_id)
                .iter()
                .map(|e| format!("{} {}", command_of(e), result_of(e)))
                .collect()
        })
        .collect();
    println!(
        "after the failure, Kamailio sent node {} (dead): {:?}; node {}: {:?}",
        NODE_IDS[owner], after[owner], NODE_IDS[other], after[other]
    );
    assert_eq!(
        after[other],
        ["offer ok", "answer ok", "delete ok"],
        "node {} served the call's next commands:\n{}",
        NODE_IDS[other],
        dump_all(&all)
    );
    assert!(
        after[owner].iter().all(|x| x.ends_with("(no reply)")),
        "the dead node answered nothing: {:?}",
        after[owner]
    );
    assert_eq!(
        health_calls(api[other]),
        0,
        "rtpengine_delete on node {} ended the call",
        NODE_IDS[other]
    );
    // Media after the BYE goes nowhere.
    let mark = (fa.got.len(), fb.got.len());
    pump(
        &mut fa,
        &mut fb,
        Instant::now() + Duration::from_millis(200),
        |_, _| false,
    );
    assert_eq!(
        (fa.got.len(), fb.got.len()),
        mark,
        "no media after the delete"
    );

    // ---- what the module sent, and what it logged ----
    kam.stop();
    let log = kam.log_text();
    print!("ng exchanges:\n{}", dump_all(&all));
    for e in taps.iter().flat_map(|t| t.exchanges()) {
        if let Some(w) = e.reply.as_ref().and_then(|r| vstr(r, "warning")) {
            println!("WARNING from Rampart to {}: {w}", command_of(&e));
        }
    }
    if std::env::var_os("RAMPART_KAMAILIO_LOG").is_some() {
        println!("kamailio log:\n{log}");
    }
    let notable: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("ERROR")
                || l.contains("WARNING")
                || l.contains(": offer ")
                || l.contains(": answer ")
                || l.contains(": delete ")
        })
        .collect();
    println!(
        "kamailio, the media commands and its errors:\n{}",
        notable.join("\n")
    );
    drop(taps);
    drop(nodes);
    drop(redis);
}
