//! An ng client for the integration tests (bencoded requests in a given
//! key order, as the Kamailio and OpenSIPS modules send them), and the
//! SDP, SDES and RTP helpers the ng tests share.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits, Value};
use rampart::control::{Node, NodeHandle};
use rampart::srtp::{Context, MasterKey, Policy, Suite};

/// A bencoded value of a request: string, list of strings, integer.
pub enum B {
    S(String),
    L(Vec<String>),
    I(i64),
}

pub fn s(v: &str) -> B {
    B::S(v.to_string())
}

pub fn l(v: &[&str]) -> B {
    B::L(v.iter().map(|x| x.to_string()).collect())
}

/// Encodes a dictionary keeping the given key order (as the modules do).
pub fn benc(items: &[(&str, B)]) -> Vec<u8> {
    fn str_(out: &mut Vec<u8>, x: &str) {
        out.extend_from_slice(format!("{}:", x.len()).as_bytes());
        out.extend_from_slice(x.as_bytes());
    }
    let mut out = b"d".to_vec();
    for (k, v) in items {
        str_(&mut out, k);
        match v {
            B::S(x) => str_(&mut out, x),
            B::I(n) => out.extend_from_slice(format!("i{n}e").as_bytes()),
            B::L(xs) => {
                out.push(b'l');
                for x in xs {
                    str_(&mut out, x);
                }
                out.push(b'e');
            }
        }
    }
    out.push(b'e');
    out
}

pub struct Ng {
    pub sock: UdpSocket,
    pub to: SocketAddr,
    pub n: u32,
}

impl Ng {
    pub fn new(to: SocketAddr) -> Ng {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ng { sock, to, n: 0 }
    }

    pub fn raw(&self, cookie: &str, body: &[u8]) -> Option<Vec<u8>> {
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend_from_slice(body);
        self.sock.send_to(&msg, self.to).unwrap();
        let mut buf = vec![0u8; 65536];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    pub fn req_cookie(&self, cookie: &str, items: &[(&str, B)]) -> Value {
        let r = self.raw(cookie, &benc(items)).expect("ng reply");
        let (c, body) = r.split_at(r.iter().position(|&b| b == b' ').unwrap());
        assert_eq!(c, cookie.as_bytes(), "cookie echoed");
        ben::decode(&body[1..], &Limits::default()).expect("reply is bencode")
    }

    pub fn req(&mut self, items: &[(&str, B)]) -> Value {
        self.n += 1;
        let cookie = format!("{}_{}", std::process::id(), self.n);
        self.req_cookie(&cookie, items)
    }
}

pub fn get<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {k:?} in {v:?}"))
}

pub fn fresh_key(suite: Suite) -> MasterKey {
    let n = suite.master_key_len() + suite.master_salt_len();
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    MasterKey::from_concatenated(suite, &b).unwrap()
}

pub fn inline(k: &MasterKey) -> String {
    let mut raw = k.key_bytes().to_vec();
    raw.extend_from_slice(k.salt_bytes());
    STANDARD.encode(raw)
}

/// A phone's RTP and RTCP sockets on loopback, reads bounded by `timeout`.
pub fn phone_sockets(timeout: Duration) -> [UdpSocket; 2] {
    [0, 1].map(|_| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(timeout)).unwrap();
        s
    })
}

/// The `m=`, `a=rtpmap` and `a=rtcp` lines of a media section for the
/// phone whose sockets are `rtp` and `rtcp`.
pub fn m_lines(kind: &str, proto: &str, fmts: &str, rtp: &UdpSocket, rtcp: &UdpSocket) -> String {
    format!(
        "m={kind} {} {proto} {fmts}\r\na=rtpmap:0 PCMU/8000\r\na=rtcp:{}\r\n",
        rtp.local_addr().unwrap().port(),
        rtcp.local_addr().unwrap().port()
    )
}

/// An `a=crypto` line with a fresh key of `suite` (and `params` after the
/// key), and that key.
pub fn crypto_line(tag: u32, suite: Suite, params: &str) -> (String, MasterKey) {
    let k = fresh_key(suite);
    let line = format!(
        "a=crypto:{tag} {} inline:{}{params}\r\n",
        suite.name(),
        inline(&k)
    );
    (line, k)
}

pub fn sdp(ver: u32, media: &[String]) -> String {
    format!(
        "v=0\r\no=- 1545997027 {ver} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{}",
        media.concat()
    )
}

pub fn ctx_key(su: Suite, k: &MasterKey) -> Context {
    Context::new(Policy::new(su, k.clone())).unwrap()
}

pub fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Asserts a reply says `result: ok`.
pub fn ok(v: &Value) {
    assert_eq!(get(v, "result"), "ok", "{v:?}");
}

/// A node config for ng tests: API and ng on loopback port 0, 200 media
/// ports from `port_min`, `workers` workers, and a mixed-mode cluster (a
/// fresh trust list named after `name`) so legs may be SRTP; every offer
/// and answer names the test device (`rampart-device`).
pub fn ng_config(port_min: u16, workers: usize, name: &str) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_min + 199;
    c.dataplane.workers = workers;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.security = super::mixed(&format!("{name}-{port_min}"));
    c
}

/// Starts a node and an ng client for it.
pub fn start(c: Config) -> (NodeHandle, Ng) {
    let node = Node::start(c).expect("node starts");
    let ng = Ng::new(node.info().ng.udp.expect("ng listens"));
    (node, ng)
}
