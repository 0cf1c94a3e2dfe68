//! A hostile flood on the ng port while media flows (issue #10, "Also").
//!
//! The release-shaped node (the `rampart` binary, one worker, ng on UDP and
//! TCP) carries one plain-RTP call between two phones on loopback. For a
//! bounded few seconds, several attackers on the same host then send what
//! an adversarial review found to hurt the node:
//!
//! * `flags=flags=…` nested thousands of times (used to overflow the ng
//!   thread's stack and abort the process);
//! * pings whose keys are 60 KB of control bytes, each with a fresh cookie
//!   (replies echoed them escaped and the reply cache kept them all: the
//!   node grew by hundreds of MB in seconds);
//! * numbers at the edge (`delete-delay` 2^64−1), garbage, half messages;
//! * idle and trickling TCP connections (used to lock out other clients).
//!
//! Throughout and afterwards the test checks that the process lives, the
//! call's media keeps flowing, ng keeps answering (UDP, and TCP from a
//! client that did not take part in the attack), its resident memory stays
//! bounded, and a new call can still be set up. No timing is asserted:
//! every loop is bounded in count and time, and the checks are about what
//! arrived and what was answered.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart::control::ng_bencode::{self as ben, Limits, Value};
use rampart::control::sdp::Sdp;

mod support;

use support::Running;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// How long the attackers run.
const FLOOD: Duration = Duration::from_secs(5);
/// Upper bound on what each attacker sends, whatever the machine's speed.
const MAX_PER_ATTACKER: u64 = 20_000;

/// Starts the node; returns it with its ng UDP and TCP addresses and its
/// API address.
fn start_node() -> (Running, SocketAddr, SocketAddr, SocketAddr) {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        "--http-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--ng-enable",
        "--ng-listen-udp",
        "127.0.0.1:0",
        "--ng-listen-tcp",
        "127.0.0.1:0",
        "--port-min",
        "45200",
        "--port-max",
        "45599",
    ])
    .env_remove("RAMPART_CONFIG");
    let (node, line) = Running::start(cmd);
    let udp = support::start_line_ng(&line, "udp:");
    let tcp = support::start_line_ng(&line, "tcp:");
    (node, udp, tcp, support::start_line_api(&line))
}

/// The node's `/metrics` text.
fn metrics(api: SocketAddr) -> String {
    let mut c = TcpStream::connect(api).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// The value of one unlabelled series in a metrics text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn bstr(out: &mut Vec<u8>, x: &[u8]) {
    out.extend_from_slice(format!("{}:", x.len()).as_bytes());
    out.extend_from_slice(x);
}

/// A bencoded dictionary of string values, in the given order.
fn dict(items: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"d".to_vec();
    for (k, v) in items {
        bstr(&mut out, k.as_bytes());
        bstr(&mut out, v);
    }
    out.push(b'e');
    out
}

/// A legitimate ng client on UDP.
struct Client {
    sock: UdpSocket,
    to: SocketAddr,
    n: u64,
}

impl Client {
    fn new(to: SocketAddr) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Client { sock, to, n: 0 }
    }

    /// Sends a request (retrying, as a switch does, with the same cookie)
    /// and returns the decoded reply; `None` after a few unanswered tries.
    fn req(&mut self, body: &[u8]) -> Option<Value> {
        self.n += 1;
        let cookie = format!("legit-{}-{}", std::process::id(), self.n);
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend_from_slice(body);
        let mut buf = vec![0u8; 65536];
        for _ in 0..10 {
            self.sock.send_to(&msg, self.to).unwrap();
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                    break;
                };
                let r = &buf[..n];
                let Some(sp) = r.iter().position(|&b| b == b' ') else {
                    continue;
                };
                if &r[..sp] != cookie.as_bytes() {
                    continue; // a late reply to an earlier try
                }
                return ben::decode(&r[sp + 1..], &Limits::default()).ok();
            }
        }
        None
    }

    fn ping(&mut self) -> bool {
        self.req(&dict(&[("command", b"ping")]))
            .is_some_and(|v| v.get("result").and_then(Value::as_str) == Some("pong"))
    }
}

fn result(v: &Value) -> &str {
    v.get("result").and_then(Value::as_str).unwrap_or("")
}

/// Where the node wants media for the first section of `sdp`.
fn media_target(sdp: &str) -> SocketAddr {
    let sdp = Sdp::parse(sdp).expect("Rampart's SDP parses");
    let m = &sdp.media()[0];
    SocketAddr::new(
        m.effective_connection(&sdp).unwrap().ip().unwrap(),
        m.port(),
    )
}

fn phone_sdp(rtp: &UdpSocket) -> String {
    let port = rtp.local_addr().unwrap().port();
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// Sets up a plain-RTP call; returns (A's socket, where A sends, B's
/// socket, where B sends).
fn setup_call(ng: &mut Client, call_id: &str) -> (UdpSocket, SocketAddr, UdpSocket, SocketAddr) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    let offer = ng
        .req(&dict(&[
            ("sdp", phone_sdp(&a).as_bytes()),
            ("call-id", call_id.as_bytes()),
            ("from-tag", b"tagA"),
            ("command", b"offer"),
        ]))
        .expect("offer answered");
    assert_eq!(result(&offer), "ok", "{offer:?}");
    let to_from_b = media_target(offer.get("sdp").and_then(Value::as_str).unwrap());
    let answer = ng
        .req(&dict(&[
            ("sdp", phone_sdp(&b).as_bytes()),
            ("call-id", call_id.as_bytes()),
            ("from-tag", b"tagA"),
            ("to-tag", b"tagB"),
            ("command", b"answer"),
        ]))
        .expect("answer answered");
    assert_eq!(result(&answer), "ok", "{answer:?}");
    let to_from_a = media_target(answer.get("sdp").and_then(Value::as_str).unwrap());
    (a, to_from_a, b, to_from_b)
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x5eed_f100u32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// The nested-flags datagram body: `flags=flags=…=x` `depth` deep.
fn nested_flags(depth: usize) -> Vec<u8> {
    let mut f = "flags=".repeat(depth).into_bytes();
    f.push(b'x');
    let mut out = b"d7:command4:ping5:flagsl".to_vec();
    bstr(&mut out, &f);
    out.extend_from_slice(b"ee");
    out
}

/// Runs `f(i)` in a thread until the flood ends or `MAX_PER_ATTACKER`.
fn attacker(
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
    mut f: impl FnMut(u64) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    let sent = sent.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + FLOOD;
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < end && i < MAX_PER_ATTACKER {
            f(i);
            i += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    })
}

#[test]
fn hostile_ng_flood_leaves_media_ng_and_memory_intact() {
    let (mut node, ng_udp, ng_tcp, api) = start_node();
    let mut ng = Client::new(ng_udp);
    assert!(ng.ping(), "node answers ping before the flood");

    // The call whose media must survive, flowing A -> B all along.
    let (a, a_to, b, _b_to) = setup_call(&mut ng, "flood-victim-call");
    let stop = Arc::new(AtomicBool::new(false));
    let media_sent = Arc::new(AtomicU64::new(0));
    let media = {
        let (stop, sent) = (stop.clone(), media_sent.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + FLOOD + Duration::from_secs(2);
            let mut seq = 0u16;
            while !stop.load(Ordering::Relaxed) && Instant::now() < end && seq < 4000 {
                a.send_to(&rtp(seq), a_to).unwrap();
                seq += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(4));
            }
        })
    };
    let media_got = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (stop, got) = (stop.clone(), media_got.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let end = Instant::now() + FLOOD + Duration::from_secs(4);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                if let Ok((n, _)) = b.recv_from(&mut buf) {
                    if n == 172 && buf[12..n].iter().all(|&x| x == 0xd5) {
                        got.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // Media flows before the attack starts.
    let t = Instant::now();
    while media_got.load(Ordering::Relaxed) < 20 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        media_got.load(Ordering::Relaxed) >= 20,
        "media flows before the flood"
    );
    let rss_before = node.rss_kib();

    let sent = Arc::new(AtomicU64::new(0));
    let flood_stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    let udp_attacker = || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    // 1. Nested flags, 6,000 deep (a 36 KB datagram).
    {
        let s = udp_attacker();
        let body = nested_flags(6000);
        attackers.push(attacker(&flood_stop, &sent, move |i| {
            let mut m = format!("nest{i} ").into_bytes();
            m.extend_from_slice(&body);
            let _ = s.send_to(&m, ng_udp);
            let mut sink = [0u8; 65536];
            while s.recv_from(&mut sink).is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }));
    }
    // 2. Pings with a 60 KB key of control bytes, a fresh cookie each.
    {
        let s = udp_attacker();
        let mut body = b"d7:command4:ping".to_vec();
        bstr(&mut body, &[1u8; 60_000]);
        bstr(&mut body, b"x");
        body.push(b'e');
        attackers.push(attacker(&flood_stop, &sent, move |i| {
            let mut m = format!("bloat{i} ").into_bytes();
            m.extend_from_slice(&body);
            let _ = s.send_to(&m, ng_udp);
            let mut sink = [0u8; 65536];
            while s.recv_from(&mut sink).is_ok() {}
            std::thread::sleep(Duration::from_millis(1));
        }));
    }
    // 3. Numbers at the edge, garbage, half messages, unknown calls.
    {
        let s = udp_attacker();
        attackers.push(attacker(&flood_stop, &sent, move |i| {
            let m: Vec<u8> = match i % 6 {
                0 => {
                    let mut m = format!("edge{i} ").into_bytes();
                    m.extend_from_slice(&dict(&[
                        ("command", b"delete"),
                        ("call-id", b"flood-victim-call-not"),
                        ("from-tag", b"tagA"),
                        ("delete-delay", b"18446744073709551615"),
                    ]));
                    m
                }
                1 => format!("edge{i} d7:command6:delete7:call-id3:zzz12:delete-delayi18446744073709551615ee").into_bytes(),
                2 => format!("edge{i} d7:command4:pi").into_bytes(),
                3 => format!("edge{i} {}", "l".repeat(5000)).into_bytes(),
                4 => (0..1400u32).map(|x| (x.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
                _ => format!("edge{i} d7:command5:query7:call-id17:flood-victim-calle").into_bytes(),
            };
            let _ = s.send_to(&m, ng_udp);
            let mut sink = [0u8; 65536];
            while s.recv_from(&mut sink).is_ok() {}
            std::thread::sleep(Duration::from_millis(2));
        }));
    }
    // 4. Idle TCP connections (more than the node's connection limit),
    //    and one that trickles a large message in small pieces.
    let mut idle = Vec::new();
    for _ in 0..80 {
        if let Ok(c) = TcpStream::connect_timeout(&ng_tcp, Duration::from_millis(500)) {
            idle.push(c);
        }
    }
    {
        attackers.push(attacker(&flood_stop, &sent, move |_| {
            let Ok(mut c) = TcpStream::connect_timeout(&ng_tcp, Duration::from_millis(500)) else {
                std::thread::sleep(Duration::from_millis(50));
                return;
            };
            let _ = c.set_write_timeout(Some(Duration::from_millis(200)));
            let mut msg = b"trickle d".to_vec();
            for k in 0..900 {
                bstr(&mut msg, format!("k{k:05}").as_bytes());
                bstr(
                    &mut msg,
                    b"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
                );
            }
            let t = Instant::now();
            for piece in msg.chunks(64) {
                if c.write_all(piece).is_err() || t.elapsed() > Duration::from_secs(2) {
                    break;
                }
            }
        }));
    }

    // While the attack runs: ng keeps answering the legitimate client.
    let mut pings = (0u32, 0u32);
    let t = Instant::now();
    while t.elapsed() < FLOOD && pings.0 < 50 {
        pings.0 += 1;
        if ng.ping() {
            pings.1 += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for a in attackers {
        a.join().unwrap();
    }
    let attack_requests = sent.load(Ordering::Relaxed);
    let rss_after = node.rss_kib();
    assert!(
        node.alive(),
        "the node died under {attack_requests} hostile requests"
    );
    assert!(
        pings.1 * 10 >= pings.0 * 9,
        "ng answered {} of {} pings during the flood",
        pings.1,
        pings.0
    );

    // After the attack: ng answers on UDP ...
    assert!(ng.ping(), "ng answers after the flood");
    // ... and on TCP, to a client that did not take part (127.0.0.2),
    // while the attacker's idle connections are still open.
    let tcp_ok = {
        let mut ok = false;
        let t = Instant::now();
        while !ok && t.elapsed() < Duration::from_secs(10) {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            if sock
                .connect_timeout(&ng_tcp.into(), Duration::from_millis(500))
                .is_ok()
            {
                let mut c: TcpStream = sock.into();
                c.set_read_timeout(Some(Duration::from_millis(1000)))
                    .unwrap();
                let _ = c.write_all(b"tcp1 d7:command4:pinge");
                let mut buf = [0u8; 64];
                if let Ok(n) = c.read(&mut buf) {
                    ok = &buf[..n] == b"tcp1 d6:result4:ponge";
                }
            }
            if !ok {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        ok
    };
    assert!(
        tcp_ok,
        "ng answers on TCP after the flood, with {} idle connections open",
        idle.len()
    );
    drop(idle);

    // ... a new call can be set up and the old one still relays.
    let (c, c_to, d, _) = setup_call(&mut ng, "flood-after-call");
    let mut buf = [0u8; 2048];
    let mut got_new = false;
    for seq in 0..20 {
        c.send_to(&rtp(seq), c_to).unwrap();
        if d.recv_from(&mut buf).is_ok() {
            got_new = true;
            break;
        }
    }
    assert!(got_new, "a call set up after the flood relays media");

    media.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    let (tx, rx) = (
        media_sent.load(Ordering::Relaxed),
        media_got.load(Ordering::Relaxed),
    );
    assert!(
        rx * 100 >= tx * 95,
        "media through the flood: {rx} of {tx} packets arrived"
    );
    // What the node counted: errors answered, TCP connections over the
    // per-source cap refused, and no request handler panicked.
    let m = metrics(api);
    assert!(metric(&m, "rampart_ng_errors_total") > 0, "{m}");
    assert!(metric(&m, "rampart_ng_tcp_refused_total") > 0, "{m}");
    assert_eq!(metric(&m, "rampart_ng_panics_total"), 0, "{m}");
    metric(&m, "rampart_ng_replies_too_large_total");
    metric(&m, "rampart_ng_tcp_idle_closed_total");
    // Memory stays bounded: the reply cache and TCP buffers have budgets.
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    eprintln!(
        "flood: {attack_requests} hostile requests; media {rx}/{tx}; pings {}/{}; rss {} -> {} KiB",
        pings.1, pings.0, rss_before, rss_after
    );
    assert!(
        grown_mib < 128,
        "resident memory grew by {grown_mib} MiB under the flood ({rss_before} -> {rss_after} KiB)"
    );
}
