//! Hostile ng requests (issue #10): each test sends what an attacker on
//! the same host would, to a node started in-process, and checks that the
//! node answers with a clear error (or not at all where that is the rule),
//! keeps its bounds, and goes on answering everyone else.
//!
//! Each test uses its own media port range (47000-47999) and ng port 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits, Value};
use rampart::control::{Node, NodeHandle};

mod support;

// ---- a small ng client ---------------------------------------------------

enum B {
    S(Vec<u8>),
    L(Vec<Vec<u8>>),
    I(u64),
}

fn s(v: &str) -> B {
    B::S(v.as_bytes().to_vec())
}

fn bstr(out: &mut Vec<u8>, x: &[u8]) {
    out.extend_from_slice(format!("{}:", x.len()).as_bytes());
    out.extend_from_slice(x);
}

/// A dictionary in the given key order.
fn benc(items: &[(&[u8], B)]) -> Vec<u8> {
    let mut out = b"d".to_vec();
    for (k, v) in items {
        bstr(&mut out, k);
        match v {
            B::S(x) => bstr(&mut out, x),
            B::I(n) => out.extend_from_slice(format!("i{n}e").as_bytes()),
            B::L(xs) => {
                out.push(b'l');
                for x in xs {
                    bstr(&mut out, x);
                }
                out.push(b'e');
            }
        }
    }
    out.push(b'e');
    out
}

fn ping() -> Vec<u8> {
    benc(&[(b"command", s("ping"))])
}

struct Ng {
    sock: UdpSocket,
    to: SocketAddr,
}

impl Ng {
    fn new(to: SocketAddr) -> Ng {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ng { sock, to }
    }

    /// Sends `cookie SP body`; the raw reply, or `None` if none came.
    fn raw(&self, cookie: &str, body: &[u8]) -> Option<Vec<u8>> {
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend_from_slice(body);
        self.sock.send_to(&msg, self.to).unwrap();
        let mut buf = vec![0u8; 65536];
        self.sock
            .recv_from(&mut buf)
            .ok()
            .map(|(n, _)| buf[..n].to_vec())
    }

    /// Sends and decodes the reply (which must come, with the cookie).
    fn req(&self, cookie: &str, body: &[u8]) -> Value {
        let r = self
            .raw(cookie, body)
            .unwrap_or_else(|| panic!("no ng reply to {cookie}"));
        decode_reply(cookie, &r)
    }
}

fn decode_reply(cookie: &str, r: &[u8]) -> Value {
    let sp = r.iter().position(|&b| b == b' ').expect("cookie SP");
    assert_eq!(&r[..sp], cookie.as_bytes(), "cookie echoed");
    ben::decode(&r[sp + 1..], &Limits::default()).expect("reply is bencode")
}

fn get<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {k:?} in {v:?}"))
}

fn config(port_min: u16) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_min + 99;
    c.dataplane.workers = 1;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.security = support::mixed(&format!("ng-hostile-{port_min}"));
    c
}

fn start(c: Config) -> (NodeHandle, Ng) {
    let node = Node::start(c).expect("node starts");
    let ng = Ng::new(node.info().ng.udp.expect("ng listens"));
    (node, ng)
}

fn assert_pings(ng: &Ng, tag: &str) {
    let r = ng.req(&format!("ping-{tag}"), &ping());
    assert_eq!(get(&r, "result"), "pong", "{r:?}");
}

/// Media port pairs in use on the node.
fn ports_used(node: &NodeHandle) -> usize {
    node.shared()
        .ports
        .lock()
        .unwrap()
        .usage()
        .iter()
        .map(|u| u.used)
        .sum()
}

/// A plain-RTP SDP with `sections` audio sections and `pad` bytes of
/// session-level `a=x-pad` lines.
fn sdp(sections: usize, srtp: bool, pad: usize) -> String {
    let mut t =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n".to_string();
    let mut left = pad;
    while left > 0 {
        let n = left.min(4000);
        t.push_str(&format!("a=x-pad:{}\r\n", "p".repeat(n)));
        left -= n;
    }
    for i in 0..sections {
        let port = 20000 + 2 * i;
        if srtp {
            t.push_str(&format!(
                "m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
            ));
        } else {
            t.push_str(&format!(
                "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            ));
        }
    }
    t
}

fn offer(call: &str, sdp_text: &str, extra: Vec<(&'static [u8], B)>) -> Vec<u8> {
    let mut v: Vec<(&[u8], B)> = vec![(b"sdp", s(sdp_text))];
    v.extend(extra);
    v.push((b"rampart-device", s(support::TEST_DEVICE)));
    v.push((b"call-id", s(call)));
    v.push((b"from-tag", s("tagA")));
    v.push((b"command", s("offer")));
    benc(&v)
}

// ---- item 1: nested flags ------------------------------------------------

/// `flags=flags=...=x` nested 6,000 times in one 36 KB datagram: before,
/// `flag()` → `option("flags")` → `flag()` recursed once per level until the
/// ng thread's stack overflowed and the process aborted.
fn nested_flags() -> Vec<u8> {
    let f = format!("{}strict-source", "flags=".repeat(6000));
    benc(&[
        (b"command", s("ping")),
        (b"flags", B::L(vec![f.into_bytes()])),
    ])
}

#[test]
fn nested_flags_do_not_overflow_the_stack() {
    let mut c = config(47000);
    c.ng.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    let (node, ng) = start(c);
    let body = nested_flags();
    assert!(body.len() > 36_000 && body.len() < 65_000);
    let r = ng.req("nest-udp", &body);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("flags"), "{r:?}");
    assert_pings(&ng, "after-udp");

    // The same over TCP, on one connection that then goes on working.
    let mut t = TcpStream::connect(node.info().ng.tcp.unwrap()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut msg = b"nest-tcp ".to_vec();
    msg.extend_from_slice(&body);
    msg.extend_from_slice(b"p2 ");
    msg.extend_from_slice(&ping());
    t.write_all(&msg).unwrap();
    let mut got = Vec::new();
    let want_tail = b"p2 d6:result4:ponge";
    let mut chunk = [0u8; 4096];
    while !got.ends_with(want_tail) {
        let n = t.read(&mut chunk).expect("TCP replies");
        assert!(
            n > 0,
            "TCP connection closed: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
    let first = &got[..got.len() - want_tail.len()];
    let r = decode_reply("nest-tcp", first);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert_pings(&ng, "after-tcp");
}

#[test]
fn flag_count_and_length_are_capped() {
    let (_node, ng) = start(config(47100));
    // 300 flags (in a list): a clear error, not 300 warnings.
    let many: Vec<Vec<u8>> = (0..300).map(|i| format!("x-{i}").into_bytes()).collect();
    let r = ng.req(
        "many",
        &benc(&[(b"command", s("ping")), (b"flags", B::L(many))]),
    );
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("more than 256"), "{r:?}");
    // The same as one whitespace-separated string.
    let words = (0..300)
        .map(|i| format!("x-{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let r = ng.req(
        "words",
        &benc(&[(b"command", s("ping")), (b"flags", s(&words))]),
    );
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    // One flag of 10 KB.
    let long = format!("rampart-device={}", "d".repeat(10_000));
    let r = ng.req(
        "long",
        &benc(&[
            (b"command", s("ping")),
            (b"flags", B::L(vec![long.into_bytes()])),
        ]),
    );
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("longer than"), "{r:?}");
    // Ordinary flags, including `key=value` ones, still work.
    let r = ng.req(
        "fine",
        &benc(&[
            (b"command", s("ping")),
            (
                b"flags",
                B::L(vec![b"trust-address".to_vec(), b"ICE=remove".to_vec()]),
            ),
        ]),
    );
    assert_eq!(get(&r, "result"), "pong", "{r:?}");
    assert_pings(&ng, "after");
}

// ---- item 4: the reply cache ---------------------------------------------

#[test]
fn hostile_pings_keep_the_reply_cache_within_its_budget() {
    let mut c = config(47200);
    c.ng.reply_cache_bytes = 64 * 1024;
    let (node, ng) = start(c);
    // A 60 KB key of \x01 bytes: echoed escaped in full it made a 300 KB
    // reply that could not be sent, and was cached anyway.
    let key = vec![1u8; 60_000];
    let body = benc(&[(b"command", s("ping")), (&key[..], s("v"))]);
    for i in 0..100 {
        let cookie = format!("big-{i}");
        let r = ng
            .raw(&cookie, &body)
            .unwrap_or_else(|| panic!("no reply to hostile ping {i}"));
        assert!(r.len() < 4096, "reply of {} bytes echoes the key", r.len());
        let v = decode_reply(&cookie, &r);
        assert_eq!(get(&v, "result"), "pong");
        assert!(get(&v, "warning").contains("not supported"));
        let held = node.shared().ng.reply_cache_bytes();
        assert!(held <= 64 * 1024, "cache holds {held} bytes");
    }
    assert!(
        node.shared().ng.reply_cache_bytes() > 0,
        "replies are cached"
    );
    assert_pings(&ng, "after");
}

#[test]
fn cookie_reuse_from_another_client_gets_no_cached_reply() {
    let (node, a) = start(config(47300));
    let b = Ng::new(a.to);
    let call = offer("cookie-reuse@test", &sdp(1, true, 0), vec![]);
    let r = a.req("shared-cookie", &call);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    assert!(
        get(&r, "sdp").contains("a=crypto"),
        "the reply carries keys"
    );

    // Another client, same cookie: its own request is run, it never sees
    // A's reply (with Rampart's keys).
    let other = b.raw("shared-cookie", &ping()).expect("B answered");
    assert!(!String::from_utf8_lossy(&other).contains("inline:"));
    assert_eq!(
        get(&decode_reply("shared-cookie", &other), "result"),
        "pong"
    );
    // The same body from B as well: run again (a re-offer), not A's bytes
    // from the cache.
    let cached_before = node.shared().ng.counters.cached.load(Ordering::Relaxed);
    let _ = b.req("shared-cookie", &call);
    assert_eq!(
        node.shared().ng.counters.cached.load(Ordering::Relaxed),
        cached_before
    );
    // A's own retransmission still gets A's reply from the cache, byte for
    // byte, and the call is not offered twice.
    let first = a.raw("again", &call).unwrap();
    let again = a.raw("again", &call).unwrap();
    assert_eq!(first, again);
    assert_eq!(
        node.shared().ng.counters.cached.load(Ordering::Relaxed),
        cached_before + 1
    );
    // Same client, same cookie, another body: not the cached reply.
    let r = a.req("again", &ping());
    assert_eq!(get(&r, "result"), "pong");
}

// ---- item 6: a reply too large to send -----------------------------------

#[test]
fn offer_whose_reply_cannot_be_sent_is_rolled_back() {
    let (node, ng) = start(config(47400));
    // Six SAVP sections with one suite each: the offer toward B lists every
    // configured suite (~3 KB more); padded so that the request fits in a
    // datagram and the reply does not.
    let mut pad = 60_000;
    let mut body;
    loop {
        body = offer("too-big@test", &sdp(6, true, pad), vec![]);
        if body.len() + "big ".len() >= 64_700 {
            break;
        }
        pad += 64_700 - body.len() - 4;
    }
    assert!(body.len() < 65_000, "{}", body.len());
    let r = ng.req("big", &body);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("larger than"), "{r:?}");
    // Nothing stays behind: no call, no ports.
    assert_eq!(node.shared().ng.call_count(), 0);
    assert_eq!(ports_used(&node), 0);
    let q = benc(&[(b"command", s("query")), (b"call-id", s("too-big@test"))]);
    assert_eq!(get(&ng.req("q", &q), "result"), "error");
    assert_eq!(
        node.shared()
            .ng
            .counters
            .replies_too_large
            .load(Ordering::Relaxed),
        1
    );
    // A retransmission is not answered from a cache of the unsent reply.
    let r = ng.req("big", &body);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert_eq!(ports_used(&node), 0);
    // An offer of ordinary size still works.
    let r = ng.req("small", &offer("small@test", &sdp(1, true, 0), vec![]));
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
}

// ---- item 8: numbers from a request --------------------------------------

#[test]
fn delete_delay_of_u64_max_neither_panics_nor_deletes_at_once() {
    let (node, ng) = start(config(47500));
    let r = ng.req("o", &offer("delay@test", &sdp(1, false, 0), vec![]));
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let del = benc(&[
        (b"call-id", s("delay@test")),
        (b"from-tag", s("tagA")),
        (b"delete-delay", B::I(u64::MAX)),
        (b"command", s("delete")),
    ]);
    let r = ng.req("d", &del);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    // Housekeeping has run (every 250 ms) and the call is still there: the
    // delay did not wrap around to "now".
    std::thread::sleep(Duration::from_millis(700));
    let q = benc(&[(b"command", s("query")), (b"call-id", s("delay@test"))]);
    assert_eq!(get(&ng.req("q", &q), "result"), "ok");
    assert_eq!(node.shared().ng.call_count(), 1);
    // `list` with the largest limit.
    let r = ng.req(
        "l",
        &benc(&[(b"command", s("list")), (b"limit", B::I(u64::MAX))]),
    );
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    assert_pings(&ng, "after");
}

// ---- item 12: via branches -----------------------------------------------

#[test]
fn via_branches_per_call_are_capped() {
    let (node, ng) = start(config(47600));
    let text = sdp(1, false, 0);
    for i in 0..100 {
        let branch = format!("z9hG4bK.{i}");
        let r = ng.req(
            &format!("o{i}"),
            &offer("branches@test", &text, vec![(b"via-branch", s(&branch))]),
        );
        assert_eq!(get(&r, "result"), "ok", "{r:?}");
    }
    let n = node.shared().ng.via_branch_count("branches@test").unwrap();
    assert!(n <= 32, "{n} via branches kept");
    // A via branch of 10 KB is refused.
    let r = ng.req(
        "long",
        &offer(
            "branches@test",
            &text,
            vec![(b"via-branch", s(&"b".repeat(10_000)))],
        ),
    );
    assert_eq!(get(&r, "result"), "error", "{r:?}");
}

// ---- item 9: ng TCP ------------------------------------------------------

fn tcp_ping(to: SocketAddr, from: Option<&str>) -> std::io::Result<Vec<u8>> {
    let t = match from {
        None => TcpStream::connect_timeout(&to, Duration::from_secs(2))?,
        Some(ip) => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            let local: SocketAddr = format!("{ip}:0").parse().unwrap();
            sock.bind(&local.into())?;
            sock.connect_timeout(&to.into(), Duration::from_secs(2))?;
            sock.into()
        }
    };
    let mut t = t;
    t.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut msg = b"tp ".to_vec();
    msg.extend_from_slice(&ping());
    t.write_all(&msg)?;
    let want = b"tp d6:result4:ponge";
    let mut got = vec![0u8; want.len()];
    t.read_exact(&mut got)?;
    Ok(got)
}

fn tcp_node(port_min: u16, idle: u64, per_source: usize) -> (NodeHandle, SocketAddr) {
    let mut c = config(port_min);
    c.ng.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    c.ng.tcp_idle_secs = idle;
    c.ng.tcp_max_per_source = per_source;
    let node = Node::start(c).expect("node starts");
    let addr = node.info().ng.tcp.unwrap();
    (node, addr)
}

#[test]
fn idle_tcp_connections_are_closed_and_new_clients_served() {
    let (node, addr) = tcp_node(47700, 1, 64);
    // 64 connections that never send a byte fill every place.
    let idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // After the idle timeout they are closed and a new client is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tcp_ping(addr, None) {
            Ok(r) => {
                assert_eq!(&r[..], b"tp d6:result4:ponge");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "never served: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    for mut t in idle {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(t.read(&mut b), Ok(0) | Err(_)), "closed");
    }
    assert!(
        node.shared()
            .ng
            .counters
            .tcp_idle_closed
            .load(Ordering::Relaxed)
            >= 64
    );
}

#[test]
fn tcp_connections_are_capped_per_source() {
    let (node, addr) = tcp_node(47800, 30, 2);
    // Two connections, each answered once (so both hold their places).
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut t = TcpStream::connect(addr).unwrap();
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut msg = b"tp ".to_vec();
            msg.extend_from_slice(&ping());
            t.write_all(&msg).unwrap();
            let mut got = [0u8; 19];
            t.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"tp d6:result4:ponge");
            t
        })
        .collect();
    assert!(tcp_ping(addr, None).is_err(), "a third from 127.0.0.1");
    assert_eq!(
        node.shared()
            .ng
            .counters
            .tcp_refused
            .load(Ordering::Relaxed),
        1
    );
    // Another source is served.
    assert_eq!(
        &tcp_ping(addr, Some("127.0.0.2")).expect("127.0.0.2 served")[..],
        b"tp d6:result4:ponge"
    );
    drop(held);
    // Once they are gone, 127.0.0.1 is served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tcp_ping(addr, None).is_err() {
        assert!(Instant::now() < deadline, "127.0.0.1 never served again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tcp_message_in_small_pieces_is_scanned_about_once() {
    let (node, addr) = tcp_node(47900, 30, 16);
    // ~62 KB: a ping with 1,900 keys, sent 64 bytes at a time.
    let mut items: Vec<(Vec<u8>, B)> = vec![(b"command".to_vec(), s("ping"))];
    for i in 0..1900 {
        items.push((format!("unknown-option-{i:010}").into_bytes(), B::I(i)));
    }
    let refs: Vec<(&[u8], B)> = items
        .iter()
        .map(|(k, v)| {
            (
                &k[..],
                match v {
                    B::I(n) => B::I(*n),
                    B::S(x) => B::S(x.clone()),
                    B::L(x) => B::L(x.clone()),
                },
            )
        })
        .collect();
    let mut msg = b"pieces ".to_vec();
    msg.extend_from_slice(&benc(&refs));
    assert!(msg.len() > 60_000 && msg.len() < 65_000, "{}", msg.len());
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_nodelay(true).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for piece in msg.chunks(64) {
        t.write_all(piece).unwrap();
        // Let the node read the pieces one by one, as a slow sender's.
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let body_at = b"pieces ".len();
    while got.len() <= body_at
        || !matches!(
            ben::scan(&got[body_at..], &Limits::default()),
            Ok(ben::Scan::Complete(_))
        )
    {
        let n = t.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&chunk[..n]);
    }
    let r = decode_reply("pieces", &got);
    assert_eq!(get(&r, "result"), "pong");
    // The work is counted, not timed: the framing examined about each
    // received byte once (rescanning the buffer on every read was
    // quadratic: hundreds of times the length here).
    let work = node
        .shared()
        .ng
        .counters
        .tcp_scan_work
        .load(Ordering::Relaxed) as usize;
    assert!(
        work <= 3 * msg.len(),
        "framing examined {work} bytes for a {}-byte message",
        msg.len()
    );
}
