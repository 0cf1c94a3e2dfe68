//! The HTTP control API end to end: a node started in-process, driven over
//! real HTTP/1.1 (a tiny client on `std::net::TcpStream`), with SRTP/RTP
//! media sent through it from two "phone" sockets; and the `rampart` binary
//! started and stopped with SIGTERM.
//!
//! Every test uses its own media port range and an API on port 0, so tests
//! run in parallel without colliding.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart::config::Config;
use rampart::control::{Node, NodeHandle};
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use serde_json::{json, Value};

mod support;

// ---- a tiny HTTP/1.1 client ---------------------------------------------

struct Resp {
    status: u16,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    let s = TcpStream::connect(addr).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    http_on(s, &addr.to_string(), method, path, body)
}

/// One request over an API Unix socket.
fn http_unix(path: &std::path::Path, method: &str, path_q: &str, body: Option<&str>) -> Resp {
    let s = std::os::unix::net::UnixStream::connect(path).expect("connect to API socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    http_on(s, "localhost", method, path_q, body)
}

fn http_on(
    mut s: impl Read + Write,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Resp {
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, rest) = text.split_once("\r\n\r\n").expect("header end");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut r = rest;
        loop {
            let (len, after) = r.split_once("\r\n").expect("chunk size");
            let n = usize::from_str_radix(len.trim(), 16).expect("chunk size hex");
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            r = &after[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    Resp { status, body }
}

/// POSTs `body`; legs of a new call that name no device or kind get the
/// test device (the node runs a mixed-mode cluster, see `config`).
fn post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    let mut body = body.clone();
    if path == "/calls" {
        if let Some(legs) = body.get_mut("legs").and_then(Value::as_array_mut) {
            for l in legs.iter_mut().filter_map(Value::as_object_mut) {
                if !l.contains_key("device") && !l.contains_key("kind") {
                    l.insert("device".into(), json!(support::TEST_DEVICE));
                }
            }
        }
    }
    http(addr, "POST", path, Some(&body.to_string()))
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.body);
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "body: {}", r.body);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without message: {}",
        r.body
    );
}

// ---- node and media helpers ---------------------------------------------

fn config(port_min: u16, port_max: u16) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_max;
    c.dataplane.workers = 2;
    // A mixed-mode cluster (with a trust list) so legs may be SRTP.
    c.security = support::mixed(&format!("http-api-{port_min}"));
    c
}

fn start(c: Config) -> (NodeHandle, SocketAddr) {
    let node = Node::start(c).expect("node starts");
    let api = node.api_addr();
    (node, api)
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

fn key_of(v: &Value, suite: Suite) -> MasterKey {
    let raw = STANDARD
        .decode(v["key"].as_str().expect("key present"))
        .unwrap();
    let mut k = MasterKey::from_concatenated(suite, &raw).unwrap();
    if let Some(m) = v["mki"].as_str() {
        k = k.with_mki(&hex::decode(m).unwrap());
    }
    k
}

fn ctx(v: &Value, suite: Suite) -> Context {
    Context::new(Policy::new(suite, key_of(v, suite))).unwrap()
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    // Receiver report, no report blocks: V=2, RC=0, PT=201, length 1.
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

fn addr(v: &Value) -> SocketAddr {
    v.as_str().expect("address").parse().expect("ip:port")
}

/// Sends packets (fresh sequence numbers each try) until one arrives at
/// `to`, and returns the received packet after `open` processed it.
/// `make(i)` builds the plain packet; `seal` protects it (or not).
#[allow(clippy::too_many_arguments)]
fn relay_one(
    from: &UdpSocket,
    dest: SocketAddr,
    to: &UdpSocket,
    make: &dyn Fn(u16) -> Vec<u8>,
    seal: &mut dyn FnMut(&mut Vec<u8>),
    open: &mut dyn FnMut(&mut [u8]) -> usize,
) -> (Vec<u8>, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut i = 0u16;
    while Instant::now() < deadline {
        i += 1;
        let plain = make(i);
        let mut wire = plain.clone();
        seal(&mut wire);
        from.send_to(&wire, dest).unwrap();
        let mut buf = [0u8; 2048];
        if let Ok((n, _)) = to.recv_from(&mut buf) {
            let len = open(&mut buf[..n]);
            return (plain, buf[..len].to_vec());
        }
    }
    panic!(
        "no packet relayed from {:?} to {:?} within 5 s",
        from.local_addr(),
        to.local_addr()
    );
}

fn srtp_seal(c: &mut Context) -> impl FnMut(&mut Vec<u8>) + '_ {
    move |p: &mut Vec<u8>| {
        let len = p.len();
        p.resize(len + 64, 0);
        let n = c.protect_rtp(p, len).expect("protect");
        p.truncate(n);
    }
}

fn srtp_open(c: &mut Context) -> impl FnMut(&mut [u8]) -> usize + '_ {
    move |p: &mut [u8]| {
        c.unprotect_rtp(p)
            .expect("relayed SRTP authenticates and decrypts")
    }
}

fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

// ---- tests ----------------------------------------------------------------

#[test]
fn srtp_to_srtp_with_different_suites_moves_media_both_ways() {
    let (node, api) = start(config(41000, 41099));
    let (pa, pa_rtcp, pb) = (phone(), phone(), phone());
    let r = post(
        api,
        "/calls",
        &json!({
            "call_id": "suites-1",
            "legs": [
                {"suite": "AES_CM_128_HMAC_SHA1_80", "remote": pa.local_addr().unwrap().to_string(),
                 "remote_rtcp": pa_rtcp.local_addr().unwrap().to_string()},
                {"mode": "srtp", "suite": "AEAD_AES_256_GCM", "rtcp_mux": true,
                 "remote": pb.local_addr().unwrap().to_string()}
            ]
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["call_id"], "suites-1");
    assert_eq!(v["security"], "encrypted");
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    assert_eq!(la["suite"], "AES_CM_128_HMAC_SHA1_80");
    assert_eq!(lb["suite"], "AEAD_AES_256_GCM");
    assert_eq!(la["forward"], "transcode");
    let a_local = addr(&la["local"]);
    assert_eq!(a_local.port() % 2, 0, "RTP port is even");
    assert_eq!(addr(&la["local_rtcp"]).port(), a_local.port() + 1);
    assert_eq!(lb["rtcp_mux"], true);
    assert_eq!(lb["local_rtcp"], lb["local"]);
    for l in [la, lb] {
        for d in ["inbound", "outbound"] {
            assert_eq!(l["keys"][d]["generated"], true);
        }
    }
    let (sa, sb) = (Suite::AesCm128HmacSha1_80, Suite::AeadAes256Gcm);
    // Phone A encrypts with leg A's inbound key, decrypts with its outbound.
    let mut a_tx = ctx(&la["keys"]["inbound"], sa);
    let mut a_rx = ctx(&la["keys"]["outbound"], sa);
    let mut b_tx = ctx(&lb["keys"]["inbound"], sb);
    let mut b_rx = ctx(&lb["keys"]["outbound"], sb);

    let payload = b"hello from phone A, 20 ms of audio".to_vec();
    let (plain, got) = relay_one(
        &pa,
        a_local,
        &pb,
        &|i| rtp(i, 0x1111_1111, &payload),
        &mut srtp_seal(&mut a_tx),
        &mut srtp_open(&mut b_rx),
    );
    assert_eq!(got, plain, "A→B payload intact");

    let payload = b"and back from phone B".to_vec();
    let (plain, got) = relay_one(
        &pb,
        addr(&lb["local"]),
        &pa,
        &|i| rtp(i, 0x2222_2222, &payload),
        &mut srtp_seal(&mut b_tx),
        &mut srtp_open(&mut a_rx),
    );
    assert_eq!(got, plain, "B→A payload intact");

    // SRTCP: B (muxed) → A's RTCP address.
    let (plain, got) = relay_one(
        &pb,
        addr(&lb["local"]),
        &pa_rtcp,
        &|_| rtcp_rr(0x2222_2222),
        &mut |p: &mut Vec<u8>| {
            let len = p.len();
            p.resize(len + 64, 0);
            let n = b_tx.protect_rtcp(p, len).unwrap();
            p.truncate(n);
        },
        &mut |p: &mut [u8]| a_rx.unprotect_rtcp(p).expect("relayed SRTCP opens"),
    );
    assert_eq!(got, plain, "SRTCP B→A intact");

    // The call's stats show packets on both legs; keys never appear.
    let g = http(api, "GET", "/calls/suites-1", None);
    assert_eq!(g.status, 200);
    assert!(
        !g.body.contains("\"key\""),
        "GET must not reveal keys: {}",
        g.body
    );
    let gv = g.json();
    assert!(gv["legs"][0]["stats"]["packets_in"].as_u64().unwrap() >= 1);
    assert!(gv["legs"][1]["stats"]["packets_in"].as_u64().unwrap() >= 2);

    let d = http(api, "DELETE", "/calls/suites-1", None);
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.json()["ended"], "deleted");
    assert!(!d.body.contains("\"key\""));
    assert_error(
        &http(api, "GET", "/calls/suites-1", None),
        404,
        "unknown_call",
    );
    node.shutdown();
}

#[test]
fn srtp_to_rtp_bridge() {
    let (node, api) = start(config(41100, 41199));
    let (pa, pb) = (phone(), phone());
    let key_a_in = STANDARD.encode([7u8; 30]);
    let r = post(
        api,
        "/calls",
        &json!({"legs": [
            {"mode": "srtp", "remote": pa.local_addr().unwrap().to_string(),
             "keys": {"inbound": {"key": key_a_in}}},
            {"mode": "rtp", "remote": pb.local_addr().unwrap().to_string()}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["security"], "nonsecure");
    let id = v["call_id"].as_str().unwrap().to_string();
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    assert_eq!(la["keys"]["inbound"]["key"], key_a_in.as_str());
    assert_eq!(la["keys"]["inbound"]["generated"], false);
    assert_eq!(la["keys"]["outbound"]["generated"], true);
    assert!(lb.get("keys").is_none(), "an RTP leg has no keys");
    let s = Suite::AesCm128HmacSha1_80;
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    let mut a_rx = ctx(&la["keys"]["outbound"], s);

    let (plain, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp(i, 0xa, b"secure to plain"),
        &mut srtp_seal(&mut a_tx),
        &mut |p: &mut [u8]| p.len(),
    );
    assert_eq!(got, plain, "SRTP→RTP decrypted");
    let (plain, got) = relay_one(
        &pb,
        addr(&lb["local"]),
        &pa,
        &|i| rtp(i, 0xb, b"plain to secure"),
        &mut |_p: &mut Vec<u8>| {},
        &mut srtp_open(&mut a_rx),
    );
    assert_eq!(got, plain, "RTP→SRTP encrypted");

    let list = http(api, "GET", "/calls", None);
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("\"key\""));
    assert_eq!(list.json()["calls"][0]["call_id"], id.as_str());
    assert_eq!(
        http(api, "DELETE", &format!("/calls/{id}"), None).status,
        200
    );
    assert_eq!(http(api, "GET", "/calls", None).json()["count"], 0);
    node.shutdown();
}

#[test]
fn ipv4_leg_to_ipv6_leg() {
    let Ok(pb) = UdpSocket::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    };
    pb.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut c = config(42000, 42099);
    c.media.addresses = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let (node, api) = start(c);
    let pa = phone();
    let r = post(
        api,
        "/calls",
        &json!({"legs": [
            {"family": "ipv4", "remote": pa.local_addr().unwrap().to_string()},
            {"family": "ipv6", "mode": "rtp", "remote": pb.local_addr().unwrap().to_string()}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    assert!(addr(&la["local"]).is_ipv4());
    assert!(addr(&lb["local"]).is_ipv6());
    let s = Suite::AesCm128HmacSha1_80;
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    let (plain, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp(i, 0xe, b"v4 to v6"),
        &mut srtp_seal(&mut a_tx),
        &mut |p: &mut [u8]| p.len(),
    );
    assert_eq!(got, plain);
    // A remote of the wrong family is refused.
    let bad = post(
        api,
        "/calls",
        &json!({"legs": [{"family": "ipv6", "remote": "127.0.0.1:4000"}, {}]}),
    );
    assert_error(&bad, 400, "invalid_request");
    node.shutdown();
}

#[test]
fn passthrough_forwards_verified_bytes_unchanged() {
    let (node, api) = start(config(41200, 41299));
    let (pa, pb) = (phone(), phone());
    let r = post(
        api,
        "/calls",
        &json!({"passthrough": true, "legs": [
            {"remote": pa.local_addr().unwrap().to_string()},
            {"remote": pb.local_addr().unwrap().to_string()}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    assert_eq!(la["forward"], "verified-passthrough");
    assert_eq!(lb["forward"], "verified-passthrough");
    assert_eq!(la["keys"]["inbound"]["key"], lb["keys"]["outbound"]["key"]);
    let s = Suite::AesCm128HmacSha1_80;
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    let mut b_rx = ctx(&lb["keys"]["outbound"], s);
    let sent = std::cell::RefCell::new(Vec::new());
    let (_, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp(i, 0xc, b"end to end"),
        &mut |p: &mut Vec<u8>| {
            srtp_seal(&mut a_tx)(p);
            *sent.borrow_mut() = p.clone();
        },
        &mut |p: &mut [u8]| {
            assert_eq!(&p[..], &sent.borrow()[..], "bytes forwarded unchanged");
            b_rx.unprotect_rtp(p).unwrap()
        },
    );
    assert_eq!(&got[12..], b"end to end");
    // Passthrough with only one SRTP leg is refused.
    let bad = post(
        api,
        "/calls",
        &json!({"passthrough": true, "legs": [{}, {"mode": "rtp"}]}),
    );
    assert_error(&bad, 400, "invalid_request");
    node.shutdown();
}

#[test]
fn rekey_outbound_with_a_generated_key() {
    let (node, api) = start(config(41300, 41399));
    let (pa, pb) = (phone(), phone());
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "rekey", "legs": [
            {"remote": pa.local_addr().unwrap().to_string()},
            {"remote": pb.local_addr().unwrap().to_string()}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let s = Suite::AesCm128HmacSha1_80;
    let la = &v["legs"][0];
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    let p = http(
        api,
        "PATCH",
        "/calls/rekey/legs/1",
        Some(&json!({"rekey": {"direction": "outbound"}}).to_string()),
    );
    assert_eq!(p.status, 200, "{}", p.body);
    let pv = p.json();
    let new_key = &pv["leg"]["keys"]["outbound"];
    assert_eq!(new_key["generated"], true);
    assert_ne!(new_key["key"], v["legs"][1]["keys"]["outbound"]["key"]);
    let mut b_rx = ctx(new_key, s);
    let (plain, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp(i, 0xd, b"after rekey"),
        &mut srtp_seal(&mut a_tx),
        &mut srtp_open(&mut b_rx),
    );
    assert_eq!(got, plain);
    // New remote for leg 0; invalid leg index; unknown call.
    let p = http(
        api,
        "PATCH",
        "/calls/rekey/legs/0",
        Some(r#"{"remote":"127.0.0.1:9"}"#),
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["leg"]["remote"], "127.0.0.1:9");
    assert_error(
        &http(
            api,
            "PATCH",
            "/calls/rekey/legs/2",
            Some(r#"{"remote":"127.0.0.1:9"}"#),
        ),
        400,
        "invalid_leg",
    );
    assert_error(
        &http(
            api,
            "PATCH",
            "/calls/nope/legs/0",
            Some(r#"{"remote":"127.0.0.1:9"}"#),
        ),
        404,
        "unknown_call",
    );
    assert_error(
        &http(
            api,
            "PATCH",
            "/calls/rekey/legs/0",
            Some(r#"{"rekey":{"direction":"inbound","key":"AAAA"}}"#),
        ),
        400,
        "invalid_key",
    );
    node.shutdown();
}

/// Creates call `id` whose leg B sends under an MKI (01); returns the
/// answer.
fn call_with_outbound_mki(api: SocketAddr, id: &str, pa: &UdpSocket, pb: &UdpSocket) -> Value {
    let r = post(
        api,
        "/calls",
        &json!({"call_id": id, "legs": [
            {"remote": pa.local_addr().unwrap().to_string()},
            {"remote": pb.local_addr().unwrap().to_string(),
             "keys": {"outbound": {"mki": "01"}}}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// Adds an outbound key with `mki` (hex) to leg B of call `id`, switching
/// the sender to it when `activate`.
fn rekey_outbound_mki(api: SocketAddr, id: &str, mki: &str, activate: bool) -> Resp {
    let mut rekey = json!({"direction": "outbound", "mki": mki});
    if activate {
        rekey["activate"] = json!(true);
    }
    http(
        api,
        "PATCH",
        &format!("/calls/{id}/legs/1"),
        Some(&json!({ "rekey": rekey }).to_string()),
    )
}

/// Relays one RTP packet from phone A to phone B and checks that it went
/// out under `mki` (one byte) and unprotects with `b_rx`.
fn relayed_under_mki(
    pa: &UdpSocket,
    la: &Value,
    pb: &UdpSocket,
    a_tx: &mut Context,
    b_rx: &mut Context,
    mki: u8,
) {
    let (plain, got) = relay_one(
        pa,
        addr(&la["local"]),
        pb,
        &|i| rtp(i, 0xf, b"under the new MKI"),
        &mut srtp_seal(a_tx),
        &mut |p: &mut [u8]| {
            let n = p.len();
            assert_eq!(&p[n - 10 - 1..n - 10], &[mki], "MKI {mki:02x} on the wire");
            b_rx.unprotect_rtp(p).unwrap()
        },
    );
    assert_eq!(got, plain);
}

#[test]
fn hitless_rekey_with_mki() {
    let (node, api) = start(config(42100, 42199));
    let (pa, pb) = (phone(), phone());
    let v = call_with_outbound_mki(api, "mki", &pa, &pb);
    let s = Suite::AesCm128HmacSha1_80;
    let la = &v["legs"][0];
    let old = &v["legs"][1]["keys"]["outbound"];
    assert_eq!(old["mki"], "01");
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    // Add MKI 02 and switch the sender to it.
    let p = rekey_outbound_mki(api, "mki", "02", true);
    assert_eq!(p.status, 200, "{}", p.body);
    let new_key = p.json()["leg"]["keys"]["outbound"].clone();
    assert_eq!(new_key["mki"], "02");
    // Phone B knows both keys; packets now come under MKI 02.
    let mut b_rx = ctx(old, s);
    b_rx.add_key(key_of(&new_key, s)).unwrap();
    relayed_under_mki(&pa, la, &pb, &mut a_tx, &mut b_rx, 2);
    // Reusing an MKI is refused.
    assert_error(
        &rekey_outbound_mki(api, "mki", "01", false),
        400,
        "invalid_key",
    );
    node.shutdown();
}

#[test]
fn repeated_mki_rekeys_keep_a_bounded_key_list() {
    // 40 rekeys that add an MKI each (issue #10 item 12): the leg keeps
    // at most MAX_KEYS keys, like its SRTP context (oldest non-active one
    // evicted), so memory stays bounded; an evicted MKI may be used again,
    // one still held may not, and media flows under the newest key.
    let (node, api) = start(config(42300, 42399));
    let (pa, pb) = (phone(), phone());
    let v = call_with_outbound_mki(api, "many-mki", &pa, &pb);
    let s = Suite::AesCm128HmacSha1_80;
    let la = &v["legs"][0];
    let mut a_tx = ctx(&la["keys"]["inbound"], s);
    let mut last = Value::Null;
    for m in 2..=41u8 {
        let p = rekey_outbound_mki(api, "many-mki", &format!("{m:02x}"), true);
        assert_eq!(p.status, 200, "rekey {m}: {}", p.body);
        last = p.json()["leg"]["keys"]["outbound"].clone();
    }
    // MKI 0x10 was evicted long ago (only the newest 16 are held): usable
    // again; 0x29 (the active one) and 0x20 are still held: refused.
    let again = |mki: &str| rekey_outbound_mki(api, "many-mki", mki, false);
    assert_error(&again("29"), 400, "invalid_key");
    assert_error(&again("20"), 400, "invalid_key");
    let back = again("10");
    assert_eq!(back.status, 200, "{}", back.body);
    // Media goes out under the active (newest activated) MKI 0x29.
    let mut b_rx = ctx(&last, s);
    relayed_under_mki(&pa, la, &pb, &mut a_tx, &mut b_rx, 0x29);
    node.shutdown();
}

#[test]
fn bad_requests_get_json_errors() {
    let (node, api) = start(config(41400, 41499));
    let two = |a: Value, b: Value| json!({"legs": [a, b]});
    // Malformed JSON, empty body, wrong shape, unknown field.
    let r = http(api, "POST", "/calls", Some("{\"legs\": [}"));
    assert_error(&r, 400, "bad_json");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 1"));
    assert_error(&http(api, "POST", "/calls", None), 400, "bad_json");
    assert_error(
        &http(api, "POST", "/calls", Some("[1,2]")),
        400,
        "invalid_request",
    );
    assert_error(
        &post(api, "/calls", &json!({"legs": [{}, {}], "bogus": 1})),
        400,
        "invalid_request",
    );
    assert_error(
        &post(api, "/calls", &json!({"legs": [{}]})),
        400,
        "invalid_request",
    );
    assert_error(
        &post(api, "/calls", &two(json!({"mode": "zrtp"}), json!({}))),
        400,
        "invalid_request",
    );
    // Unknown suite.
    let r = post(
        api,
        "/calls",
        &two(json!({"suite": "AES_CM_129_HMAC_SHA1_80"}), json!({})),
    );
    assert_error(&r, 400, "invalid_suite");
    assert!(r.body.contains("AES_CM_129_HMAC_SHA1_80"));
    // Key of the wrong length for the suite; bad base64; bad MKI.
    let short = STANDARD.encode([1u8; 16]);
    let r = post(
        api,
        "/calls",
        &two(json!({"keys": {"inbound": {"key": short}}}), json!({})),
    );
    assert_error(&r, 400, "invalid_key");
    assert!(r.body.contains("30 bytes"), "{}", r.body);
    let gcm = STANDARD.encode([1u8; 30]); // AEAD_AES_128_GCM needs 16 + 12
    assert_error(
        &post(
            api,
            "/calls",
            &two(
                json!({"suite": "AEAD_AES_128_GCM", "keys": {"outbound": {"key": gcm}}}),
                json!({}),
            ),
        ),
        400,
        "invalid_key",
    );
    assert_error(
        &post(
            api,
            "/calls",
            &two(json!({"keys": {"inbound": {"key": "***"}}}), json!({})),
        ),
        400,
        "invalid_key",
    );
    assert_error(
        &post(
            api,
            "/calls",
            &two(json!({"keys": {"inbound": {"mki": "xyz"}}}), json!({})),
        ),
        400,
        "invalid_key",
    );
    // RTP leg with keys; IPv6 leg on an IPv4-only node; bad replay window.
    assert_error(
        &post(
            api,
            "/calls",
            &two(json!({"mode": "rtp", "keys": {}}), json!({})),
        ),
        400,
        "invalid_request",
    );
    assert_error(
        &post(api, "/calls", &two(json!({"family": "ipv6"}), json!({}))),
        400,
        "family_unavailable",
    );
    assert_error(
        &post(api, "/calls", &two(json!({"replay_window": 3}), json!({}))),
        400,
        "invalid_request",
    );
    // Unknown call, duplicate id, unknown route, wrong method.
    assert_error(&http(api, "GET", "/calls/nope", None), 404, "unknown_call");
    assert_error(
        &http(api, "DELETE", "/calls/nope", None),
        404,
        "unknown_call",
    );
    assert_eq!(
        post(api, "/calls", &json!({"call_id": "dup", "legs": [{}, {}]})).status,
        201
    );
    assert_error(
        &post(api, "/calls", &json!({"call_id": "dup", "legs": [{}, {}]})),
        409,
        "call_exists",
    );
    assert_error(
        &post(api, "/calls", &json!({"call_id": "a b", "legs": [{}, {}]})),
        400,
        "invalid_request",
    );
    assert_error(&http(api, "GET", "/nowhere", None), 404, "not_found");
    assert_error(
        &http(api, "PUT", "/calls", Some("{}")),
        405,
        "method_not_allowed",
    );
    // Refusals were counted; the one call made is the only one running.
    let m = http(api, "GET", "/metrics", None).body;
    assert!(metric(&m, "rampart_calls_refused_total{reason=\"invalid\"}").unwrap() >= 15);
    assert_eq!(metric(&m, "rampart_calls_active"), Some(1));
    node.shutdown();
}

#[test]
fn dot_call_ids_unreachable_by_url_are_refused() {
    // `/calls/.` and `/calls/..` are dot-segments: clients and proxies
    // normalise them away, so a call with such an id could never be read,
    // patched or deleted by URL. Refused at create, with a clear message.
    let (node, api) = start(config(42200, 42249));
    for id in [".", "..", "...", "...."] {
        let r = post(api, "/calls", &json!({"call_id": id, "legs": [{}, {}]}));
        assert_error(&r, 400, "invalid_request");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("dots"), "{id:?}: {msg}");
    }
    // Dots inside an id are fine (and the call is reachable by URL).
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "a.b..c", "legs": [{}, {}]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(http(api, "GET", "/calls/a.b..c", None).status, 200);
    assert_eq!(http(api, "DELETE", "/calls/a.b..c", None).status, 200);
    let list = http(api, "GET", "/calls", None).json();
    assert_eq!(list["calls"].as_array().map(Vec::len), Some(0), "{list}");
    node.shutdown();
}

#[test]
fn plain_http_api_off_loopback_is_refused_before_binding() {
    // The binary: `check-config` (which never binds) and `run` exit 2 with
    // the message; `check-config` first, so that a node that did not refuse
    // fails here without binding anything.
    for cmd in ["check-config", "run"] {
        let out = Command::new(BIN)
            .args([cmd, "--http-listen", "0.0.0.0:0"])
            .env_remove("RAMPART_CONFIG")
            .env_remove("RAMPART_ALLOW_INSECURE_HTTP")
            .env_remove("RAMPART_HTTP_UNIX_SOCKET")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(
            err.contains("0.0.0.0:0 is not a loopback address"),
            "{cmd}: {err}"
        );
        assert!(err.contains("--allow-insecure-http"), "{cmd}: {err}");
    }
    // The explicit opt-in passes the check (not started: no traffic ever
    // leaves loopback in these tests).
    let out = Command::new(BIN)
        .args([
            "check-config",
            "--http-listen",
            "0.0.0.0:0",
            "--allow-insecure-http",
        ])
        .env_remove("RAMPART_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("allow_insecure_remote = true"));
    // In process: the node refuses the configuration before binding.
    let mut c = config(42250, 42299);
    c.api.listen = "0.0.0.0:0".parse().unwrap();
    let e = Node::start(c.clone()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("not a loopback address"), "{e}");
    assert!(e.contains("allow_insecure_remote"), "{e}");
    c.api.allow_insecure_remote = true;
    c.validate().unwrap();
}

#[test]
fn api_over_a_unix_socket_with_the_configured_mode() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = std::env::temp_dir().join(format!("rampart-api-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("api.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let mut c = config(42300, 42349);
    c.api.unix_socket = Some(sock.clone());
    c.api.unix_socket_mode = "0660".into();
    let node = Node::start(c).expect("node starts on a Unix socket");
    assert_eq!(node.info().api_unix.as_deref(), Some(sock.as_path()));
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    // Requests work over it: health, and a call created and deleted.
    let r = http_unix(&sock, "GET", "/health", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = json!({"call_id": "over-unix", "legs": [
        {"mode": "rtp", "device": support::TEST_DEVICE},
        {"mode": "rtp", "device": support::TEST_DEVICE}]});
    let r = http_unix(&sock, "POST", "/calls", Some(&body.to_string()));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        http_unix(&sock, "GET", "/calls/over-unix", None).status,
        200
    );
    assert_eq!(
        http_unix(&sock, "DELETE", "/calls/over-unix", None).status,
        200
    );
    node.shutdown();
    assert!(!sock.exists(), "socket file removed at shutdown");

    // Something that is not a socket at the path is never removed.
    std::fs::write(&sock, b"not a socket").unwrap();
    let mut c = config(42300, 42349);
    c.api.unix_socket = Some(sock.clone());
    let e = Node::start(c).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&sock).unwrap(), b"not a socket");
    // A mode that lets every local user connect is refused.
    let mut c = config(42300, 42349);
    c.api.unix_socket = Some(dir.join("other.sock"));
    c.api.unix_socket_mode = "0666".into();
    let e = Node::start(c).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("lets every local user connect"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_exhaustion_is_a_distinct_error() {
    // Two even/odd pairs: 41502/41503 and 41504/41505, i.e. one call.
    let (node, api) = start(config(41501, 41505));
    let first = post(api, "/calls", &json!({"call_id": "one", "legs": [{}, {}]}));
    assert_eq!(first.status, 201, "{}", first.body);
    let r = post(api, "/calls", &json!({"legs": [{}, {"mode": "rtp"}]}));
    assert_error(&r, 503, "ports_exhausted");
    let m = http(api, "GET", "/metrics", None).body;
    assert_eq!(
        metric(
            &m,
            "rampart_port_pairs{address=\"127.0.0.1\",state=\"free\"}"
        ),
        Some(0)
    );
    assert_eq!(
        metric(
            &m,
            "rampart_calls_refused_total{reason=\"ports_exhausted\"}"
        ),
        Some(1)
    );
    // Deleting the call gives its ports back.
    assert_eq!(http(api, "DELETE", "/calls/one", None).status, 200);
    let again = post(api, "/calls", &json!({"legs": [{}, {}]}));
    assert_eq!(again.status, 201, "{}", again.body);
    node.shutdown();
}

#[test]
fn call_limit_is_enforced() {
    let mut c = config(41600, 41699);
    c.limits.max_calls = 2;
    let (node, api) = start(c);
    for _ in 0..2 {
        assert_eq!(post(api, "/calls", &json!({"legs": [{}, {}]})).status, 201);
    }
    assert_error(
        &post(api, "/calls", &json!({"legs": [{}, {}]})),
        429,
        "call_limit",
    );
    let m = http(api, "GET", "/metrics", None).body;
    assert_eq!(
        metric(&m, "rampart_calls_refused_total{reason=\"call_limit\"}"),
        Some(1)
    );
    node.shutdown();
}

#[test]
fn metrics_and_health() {
    let (node, api) = start(config(41700, 41799));
    let h = http(api, "GET", "/health", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    assert_eq!(h.json()["workers"], 2);
    // Which backend runs, and why not AF_XDP: the media address is on
    // loopback here.
    let detail = h.json()["backend_detail"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_ne!(h.json()["backend"], "xdp");
    assert!(detail.contains("loopback"), "{detail}");
    let (pa, pb) = (phone(), phone());
    let v = post(
        api,
        "/calls",
        &json!({"legs": [
            {"remote": pa.local_addr().unwrap().to_string()},
            {"mode": "rtp", "remote": pb.local_addr().unwrap().to_string()}
        ]}),
    )
    .json();
    // A forged SRTP packet is dropped and counted; a plain one is relayed.
    let la = addr(&v["legs"][0]["local"]);
    pa.send_to(&rtp(1, 5, &[0u8; 30]), la).unwrap();
    let _ = relay_one(
        &pb,
        addr(&v["legs"][1]["local"]),
        &pa,
        &|i| rtp(i, 6, b"x"),
        &mut |_p: &mut Vec<u8>| {},
        &mut |p: &mut [u8]| p.len(),
    );
    // The worker counts a packet out once its send returned, which can be
    // after the phone got it: read the metrics until it did (bounded).
    let deadline = Instant::now() + Duration::from_secs(2);
    let m = loop {
        let r = http(api, "GET", "/metrics", None);
        assert_eq!(r.status, 200);
        let out = metric(&r.body, "rampart_packets_total{direction=\"out\"}");
        if out.is_some_and(|n| n >= 1) || Instant::now() > deadline {
            break r.body;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for series in [
        "rampart_calls_active",
        "rampart_legs_active",
        "rampart_calls_created_total",
        "rampart_calls_timed_out_total{reason=\"no_media\"}",
        "rampart_port_pairs{address=\"127.0.0.1\",state=\"used\"}",
        "rampart_port_pairs{address=\"127.0.0.1\",state=\"free\"}",
        "rampart_packets_total{direction=\"in\"}",
        "rampart_packets_total{direction=\"out\"}",
        "rampart_drops_total{reason=\"auth_failed\"}",
        "rampart_drops_total{reason=\"no_remote\"}",
        "rampart_worker_packets_relayed_total{worker=\"0\"}",
        "rampart_worker_packets_relayed_total{worker=\"1\"}",
        "rampart_worker_packets_dropped_total{worker=\"0\"}",
        "rampart_worker_send_calls_total{worker=\"0\"}",
        "rampart_worker_gso_sends_total{worker=\"1\"}",
        "rampart_worker_kernel_drops_total{worker=\"0\"}",
        "rampart_worker_bundle_ssrc_collisions_total{worker=\"0\"}",
        "rampart_worker_xdp_rx_total{worker=\"1\"}",
        "rampart_rtcp_bytes_total{direction=\"in\"}",
    ] {
        assert!(
            metric(&m, series).is_some(),
            "missing series {series} in:\n{m}"
        );
    }
    assert!(m.contains("# TYPE rampart_packets_total counter"));
    assert_eq!(metric(&m, "rampart_calls_active"), Some(1));
    assert_eq!(metric(&m, "rampart_legs_active"), Some(2));
    assert_eq!(
        metric(
            &m,
            "rampart_port_pairs{address=\"127.0.0.1\",state=\"used\"}"
        ),
        Some(2)
    );
    assert_eq!(
        metric(
            &m,
            "rampart_port_pairs{address=\"127.0.0.1\",state=\"free\"}"
        ),
        Some(48)
    );
    assert!(metric(&m, "rampart_packets_total{direction=\"out\"}").unwrap() >= 1);
    let relayed: u64 = (0..2)
        .filter_map(|w| {
            metric(
                &m,
                &format!("rampart_worker_packets_relayed_total{{worker=\"{w}\"}}"),
            )
        })
        .sum();
    assert!(relayed >= 1);
    node.shutdown();
}

#[test]
fn no_media_timeout_ends_the_call() {
    let mut c = config(41800, 41899);
    c.timeouts.no_media_secs = 1;
    let (node, api) = start(c);
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "quiet", "legs": [{}, {}]}),
    );
    assert_eq!(r.status, 201);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let g = http(api, "GET", "/calls/quiet", None);
        if g.status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "call not timed out within 5 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = http(api, "GET", "/metrics", None).body;
    assert_eq!(
        metric(&m, "rampart_calls_timed_out_total{reason=\"no_media\"}"),
        Some(1)
    );
    assert_eq!(metric(&m, "rampart_calls_active"), Some(0));
    assert_eq!(
        metric(
            &m,
            "rampart_port_pairs{address=\"127.0.0.1\",state=\"used\"}"
        ),
        Some(0)
    );
    node.shutdown();
}

#[test]
fn api_refuses_requests_after_shutdown() {
    let (node, api) = start(config(41900, 41949));
    assert_eq!(http(api, "GET", "/health", None).status, 200);
    node.shutdown();
    assert!(
        TcpStream::connect(api).is_err(),
        "API still accepting after shutdown"
    );
}

// ---- the binary ------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

#[test]
fn binary_version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains(env!("CARGO_PKG_VERSION")), "{s}");
}

#[test]
fn binary_runs_with_defaults_and_exits_0_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["run", "--http-listen", "127.0.0.1:0"])
        .env_remove("RAMPART_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("media 127.0.0.1 ports 30000-39999"), "{line}");
    assert!(line.contains("backend "), "{line}");
    let api = support::start_line_api(&line);
    assert_eq!(http(api, "GET", "/health", None).status, 200);
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rampart did not exit within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}; stderr:\n{err}");
    assert!(err.contains("node started"), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(err.contains("shutdown complete"), "{err}");
}

#[test]
fn binary_config_precedence_and_unknown_keys() {
    let dir = std::env::temp_dir().join(format!("rampart-http-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[limits]\nmax_calls = 5\n[timeouts]\nno_media_secs = 7\n",
    )
    .unwrap();
    let check = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(BIN);
        c.arg("check-config").args(args);
        for k in [
            "RAMPART_MAX_CALLS",
            "RAMPART_CONFIG",
            "RAMPART_NO_MEDIA_TIMEOUT",
        ] {
            c.env_remove(k);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let g = good.to_str().unwrap();
    // file > default
    let out = check(&["--config", g], &[]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        s.contains("max_calls = 5") && s.contains("no_media_secs = 7"),
        "{s}"
    );
    // env > file
    let out = check(&["--config", g], &[("RAMPART_MAX_CALLS", "6")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_calls = 6"));
    // flag > env
    let out = check(
        &["--config", g, "--max-calls", "8"],
        &[("RAMPART_MAX_CALLS", "6")],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("max_calls = 8") && s.contains("no_media_secs = 7"),
        "{s}"
    );
    // Unknown key: exit 2 with a message naming it.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_cals = 5\n").unwrap();
    let out = check(&["--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("max_cals"), "{e}");
    // `run` refuses it too.
    let out = Command::new(BIN)
        .args([
            "run",
            "--config",
            bad.to_str().unwrap(),
            "--http-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn call_state_is_a_plain_value() {
    let (node, api) = start(config(45600, 45699));
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "stored", "legs": [
            {"keys": {"inbound": {"mki": "01"}, "outbound": {"mki": "01"}}},
            {"mode": "rtp"}
        ]}),
    );
    assert_eq!(r.status, 201);
    // A rekey adds a second MKI: the key history is part of the state.
    let r = http(
        api,
        "PATCH",
        "/calls/stored/legs/0",
        Some(r#"{"rekey": {"direction": "inbound", "mki": "02"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let slot = node.shared().calls.get("stored").expect("stored");
    let stored = slot.command(|c| c.snapshot().unwrap()).unwrap();
    let back: rampart::control::api::record::Call =
        serde_json::from_value(stored.clone()).expect("the state reads back");
    use rampart::control::calls::CallRecord;
    assert_eq!(back.snapshot().unwrap(), stored, "it round-trips");
    let mkis = &stored["legs"][0]["keys"]["inbound"]["mkis"];
    assert_eq!(mkis.as_array().map(Vec::len), Some(2), "{stored}");
    assert_eq!(stored["origin"], "http");
    assert!(
        stored["legs"][0].get("counters").is_none(),
        "no runtime counters"
    );
    node.shutdown();
}

/// WebRTC leg options: a DTLS leg (`dtls: {fingerprint, setup}`) with
/// ICE-lite (`ice: {ufrag}`) is created as mode `dtls`, counted
/// encrypted, and the create answer carries what the client's SDP needs
/// (Rampart's ICE credentials and candidate, the node's fingerprint, the
/// `a=setup` it takes). Views never show the ICE password; a DTLS leg
/// cannot be rekeyed; malformed options are refused with a clear error.
#[test]
fn webrtc_leg_options_are_checked_and_answered() {
    let (node, api) = start(config(44700, 44799));
    let fp = "sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB";
    let pb = phone();
    let plain = json!({"mode": "rtp", "security": "nonsecure", "remote": pb.local_addr().unwrap().to_string()});
    let leg = |dtls: Value| json!({"dtls": dtls, "ice": {"ufrag": "brws"}, "rtcp_mux": true});
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "wr-1", "legs": [leg(json!({"fingerprint": fp, "setup": "active"})), plain]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let a = &v["legs"][0];
    assert_eq!(a["mode"], "dtls");
    assert_eq!(a["security"], "encrypted");
    assert!(a["keys"].is_null(), "no SDES keys for a DTLS leg: {a}");
    let w = &a["webrtc"];
    assert_eq!(w["dtls"]["setup"], "passive", "the peer is active");
    let ours = node.shared().dtls_fingerprint().unwrap().to_string();
    assert_eq!(w["dtls"]["fingerprint"], ours);
    let pwd = w["ice"]["pwd"].as_str().unwrap().to_string();
    assert_eq!(pwd.len(), 24);
    assert_eq!(w["ice"]["ufrag"].as_str().map(str::len), Some(8));
    assert_eq!(
        w["ice"]["candidates"][0],
        a["local"].as_str().unwrap().replace(':', " ")
    );
    // A view: the peer's fingerprint and Rampart's role, never the password.
    let view = http(api, "GET", "/calls/wr-1", None);
    assert_eq!(view.status, 200);
    assert!(!view.body.contains(&pwd), "{}", view.body);
    assert!(view.body.contains("99:A7:AA"), "{}", view.body);
    // Keys come from the handshake only.
    let rk = http(
        api,
        "PATCH",
        "/calls/wr-1/legs/0",
        Some(&json!({"rekey": {"direction": "outbound"}}).to_string()),
    );
    assert_error(&rk, 400, "invalid_request");
    assert!(rk.body.contains("DTLS-SRTP handshake"), "{}", rk.body);
    assert_eq!(
        http(api, "DELETE", "/calls/wr-1", None).status,
        200,
        "deleted"
    );
    assert_eq!(node.shared().webrtc.as_ref().unwrap().leg_count(), 0);

    // Refused: a fingerprint Rampart cannot check, a bad setup, keys or a
    // suite of its own, mode rtp with DTLS, mode dtls without a peer.
    let plain = json!({"mode": "rtp", "security": "nonsecure"});
    for (bad, why) in [
        (leg(json!({"fingerprint": "sha-1 00:11"})), "sha-1"),
        (
            leg(json!({"fingerprint": fp, "setup": "sometimes"})),
            "setup",
        ),
        (
            json!({"dtls": {"fingerprint": fp}, "suite": "AES_CM_128_HMAC_SHA1_80"}),
            "suite",
        ),
        (
            json!({"dtls": {"fingerprint": fp}, "mode": "rtp"}),
            "mode rtp",
        ),
        (json!({"mode": "dtls"}), "no peer"),
    ] {
        let r = post(api, "/calls", &json!({"legs": [bad, plain.clone()]}));
        assert_eq!(r.status, 400, "{why}: {}", r.body);
    }
    node.shutdown();

    // A node with WebRTC off says so.
    let mut c = config(44800, 44899);
    c.webrtc.enabled = false;
    let (node, api) = start(c);
    let r = post(
        api,
        "/calls",
        &json!({"legs": [leg(json!({"fingerprint": fp})), plain]}),
    );
    assert_error(&r, 400, "webrtc_disabled");
    node.shutdown();
}

/// BUNDLE over the API: a second call's leg joins the first call's DTLS
/// leg (`bundle`): it gets that leg's port and ICE/DTLS (one transport
/// runs), no port of its own; what a bundled leg may not carry is
/// refused; the member can end alone (the owner's port stays bound), and
/// the owner ends its members with it (then the port is free).
#[test]
fn a_leg_bundles_onto_another_calls_dtls_leg() {
    let (node, api) = start(config(45530, 45569));
    let fp = "sha-256 99:A7:AA:85:E7:30:D5:2B:26:24:95:D9:30:A5:E5:DB:E6:71:05:55:AD:0E:5E:F6:B9:90:7D:C9:06:0B:6D:CB";
    let plain = || json!({"mode": "rtp", "security": "nonsecure"});
    let owner = json!({"dtls": {"fingerprint": fp}, "ice": {"ufrag": "brws"}, "rtcp_mux": true});
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "b-audio", "legs": [owner, plain()]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json();
    let port = a["legs"][0]["local"].as_str().unwrap().to_string();
    let member = |call: &str, leg: usize| json!({"bundle": {"call_id": call, "leg": leg, "payload_types": [96, 97]}, "rtcp_mux": true});
    let create_member = || {
        post(
            api,
            "/calls",
            &json!({"call_id": "b-video", "legs": [member("b-audio", 0), plain()]}),
        )
    };
    let r = create_member();
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let m = &v["legs"][0];
    assert_eq!(m["local"], port.as_str(), "the owner's port");
    assert_eq!(m["mode"], "dtls");
    assert_eq!(m["security"], "encrypted");
    assert_eq!(m["bundle"]["call_id"], "b-audio");
    assert_eq!(
        m["webrtc"]["ice"], a["legs"][0]["webrtc"]["ice"],
        "the owner's ICE credentials and candidate"
    );
    let w = node.shared().webrtc.as_ref().unwrap();
    assert_eq!(w.leg_count(), 1, "one transport for both");

    // Refused: no such call or leg, a leg that is not DTLS, a transport,
    // keys or address of its own, no rtcp-mux, a bundled owner.
    let refused = [
        (member("nope", 0), "no API call"),
        (member("b-audio", 2), "0 or 1"),
        (member("b-audio", 1), "DTLS-SRTP leg"),
        (member("b-video", 0), "DTLS-SRTP leg"),
        (
            json!({"bundle": {"call_id": "b-audio", "leg": 0}, "rtcp_mux": true, "suite": "AES_CM_128_HMAC_SHA1_80"}),
            "give no",
        ),
        (
            json!({"bundle": {"call_id": "b-audio", "leg": 0}, "rtcp_mux": true, "remote": "203.0.113.7:4000"}),
            "give no",
        ),
        (
            json!({"bundle": {"call_id": "b-audio", "leg": 0}}),
            "rtcp_mux",
        ),
    ];
    for (bad, why) in refused {
        let r = post(api, "/calls", &json!({"legs": [bad, plain()]}));
        assert_eq!(r.status, 400, "{why}: {}", r.body);
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }

    // The member ends alone: the owner runs on, its port still bound.
    assert_eq!(http(api, "DELETE", "/calls/b-video", None).status, 200);
    assert_eq!(http(api, "GET", "/calls/b-audio", None).status, 200);
    assert!(
        std::net::UdpSocket::bind(port.as_str()).is_err(),
        "the owner's port is still the owner's"
    );
    // The owner ends its members with it, and its port is free.
    assert_eq!(create_member().status, 201);
    assert_eq!(http(api, "DELETE", "/calls/b-audio", None).status, 200);
    assert_eq!(
        http(api, "GET", "/calls/b-video", None).status,
        404,
        "ended with its owner"
    );
    assert_eq!(w.leg_count(), 0);
    assert!(
        std::net::UdpSocket::bind(port.as_str()).is_ok(),
        "the port was closed"
    );
    node.shutdown();
}

/// RTP with two CSRCs and a one-byte header extension (RFC 8285).
fn rtp_with_extension(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x92, 0x00]; // V=2, X=1, CC=2
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    p.extend_from_slice(&0x1a1b_1c1du32.to_be_bytes());
    // 0xBEDE, 2 words: id 1 len 1 (audio level 0x7f at offset 25), id 3
    // len 3 (offsets 27..30), two padding bytes.
    p.extend_from_slice(&[0xbe, 0xde, 0, 2, 0x10, 0x7f, 0x32, 1, 2, 3, 0, 0]);
    p.extend_from_slice(b"twenty milliseconds of speech");
    p
}

#[test]
fn a_cryptex_leg_is_bridged_to_a_leg_without_it() {
    let (node, api) = start(config(45900, 45949));
    let (pa, pb) = (phone(), phone());
    let r = post(
        api,
        "/calls",
        &json!({
            "call_id": "cryptex-1",
            "legs": [
                {"suite": "AES_CM_128_HMAC_SHA1_80", "rtcp_mux": true, "cryptex": true,
                 "remote": pa.local_addr().unwrap().to_string()},
                {"suite": "AEAD_AES_128_GCM", "rtcp_mux": true,
                 "remote": pb.local_addr().unwrap().to_string()}
            ]
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    let (sa, sb) = (Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm);
    let cryptex = |k: &Value| Context::new(Policy::new(sa, key_of(k, sa)).cryptex(true)).unwrap();
    let (mut a_tx, mut a_rx) = (
        cryptex(&la["keys"]["inbound"]),
        cryptex(&la["keys"]["outbound"]),
    );
    let (mut b_tx, mut b_rx) = (
        ctx(&lb["keys"]["inbound"], sb),
        ctx(&lb["keys"]["outbound"], sb),
    );

    // A (cryptex) → B (none): B gets its extension and CSRCs in the clear.
    let mut sealed_by_a = Vec::new();
    let (plain, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp_with_extension(i, 0x3333_3333),
        &mut |p: &mut Vec<u8>| {
            srtp_seal(&mut a_tx)(p);
            sealed_by_a = p.clone();
        },
        &mut srtp_open(&mut b_rx),
    );
    assert_eq!(&sealed_by_a[20..22], &[0xc0, 0xde], "phone A sends cryptex");
    assert_ne!(
        &sealed_by_a[12..20],
        &plain[12..20],
        "CSRCs encrypted on leg A"
    );
    assert_eq!(
        got, plain,
        "A→B: extension and CSRCs arrive in the clear, intact"
    );

    // B → A: Rampart encrypts B's clear extension and CSRCs toward A.
    let mut wire_to_a = Vec::new();
    let (plain, got) = relay_one(
        &pb,
        addr(&lb["local"]),
        &pa,
        &|i| rtp_with_extension(i, 0x4444_4444),
        &mut srtp_seal(&mut b_tx),
        &mut |p: &mut [u8]| {
            wire_to_a = p.to_vec();
            a_rx.unprotect_rtp(p).expect("leg A's cryptex packet opens")
        },
    );
    assert_eq!(
        &wire_to_a[20..22],
        &[0xc0, 0xde],
        "Rampart sends cryptex on leg A"
    );
    assert_ne!(
        &wire_to_a[24..32],
        &plain[24..32],
        "extension body encrypted toward A"
    );
    assert_eq!(got, plain, "B→A intact after A decrypts");
    let v = http(api, "GET", "/calls/cryptex-1", None).json();
    assert_eq!(v["legs"][0]["cryptex"], true, "{v}");
    assert_eq!(v["legs"][1]["cryptex"], false, "{v}");
    // Refused, never ignored: on an RTP leg, and an extension ID 0.
    for (leg, what) in [
        (json!({"mode": "rtp", "cryptex": true}), "SDES-keyed SRTP"),
        (json!({"encrypted_extensions": [0, 3]}), "1-255"),
    ] {
        let r = post(
            api,
            "/calls",
            &json!({"call_id": "cryptex-bad", "legs": [leg, {}]}),
        );
        assert_error(&r, 400, "invalid_request");
        assert!(r.body.contains(what), "{}", r.body);
    }
    node.shutdown();
}

#[test]
fn an_encrypted_extension_leg_is_bridged_to_a_leg_in_the_clear() {
    // RFC 6904: leg A encrypts extension 1 (audio level), leg B does not.
    let (node, api) = start(config(45950, 45999));
    let (pa, pb) = (phone(), phone());
    let r = post(
        api,
        "/calls",
        &json!({
            "call_id": "hdrext-1",
            "legs": [
                {"suite": "AES_CM_128_HMAC_SHA1_80", "rtcp_mux": true, "encrypted_extensions": [1],
                 "remote": pa.local_addr().unwrap().to_string()},
                {"suite": "AES_CM_128_HMAC_SHA1_80", "rtcp_mux": true,
                 "remote": pb.local_addr().unwrap().to_string()}
            ]
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let (la, lb) = (&v["legs"][0], &v["legs"][1]);
    assert_eq!(la["encrypted_extensions"], json!([1]), "{v}");
    let s = Suite::AesCm128HmacSha1_80;
    let enc = |k: &Value| {
        Context::new(Policy::new(s, key_of(k, s)).encrypt_header_extensions(&[1])).unwrap()
    };
    let (mut a_tx, mut a_rx) = (enc(&la["keys"]["inbound"]), enc(&la["keys"]["outbound"]));
    let (mut b_tx, mut b_rx) = (
        ctx(&lb["keys"]["inbound"], s),
        ctx(&lb["keys"]["outbound"], s),
    );
    let mut sealed_by_a = Vec::new();
    let (plain, got) = relay_one(
        &pa,
        addr(&la["local"]),
        &pb,
        &|i| rtp_with_extension(i, 0x5555_5555),
        &mut |p: &mut Vec<u8>| {
            srtp_seal(&mut a_tx)(p);
            sealed_by_a = p.clone();
        },
        &mut srtp_open(&mut b_rx),
    );
    assert_ne!(sealed_by_a[25], plain[25], "phone A encrypts extension 1");
    assert_eq!(got, plain, "A→B: extension 1 arrives in the clear");
    let mut wire_to_a = Vec::new();
    let (plain, got) = relay_one(
        &pb,
        addr(&lb["local"]),
        &pa,
        &|i| rtp_with_extension(i, 0x6666_6666),
        &mut srtp_seal(&mut b_tx),
        &mut |p: &mut [u8]| {
            wire_to_a = p.to_vec();
            a_rx.unprotect_rtp(p).expect("leg A's packet opens")
        },
    );
    assert_ne!(
        wire_to_a[25], plain[25],
        "Rampart encrypts extension 1 toward A"
    );
    assert_eq!(
        wire_to_a[26..30],
        plain[26..30],
        "extension 3 stays in the clear"
    );
    assert_eq!(got, plain, "B→A intact");
    node.shutdown();
}

#[test]
fn a_policy_that_requires_cryptex_refuses_srtp_legs_without_it() {
    let mut c = config(45500, 45519);
    c.security.require_cryptex = true;
    let (node, api) = start(c);
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "req-1", "legs": [{"cryptex": true}, {}]}),
    );
    assert_error(&r, 403, "policy_refused");
    assert!(r.body.contains("requires cryptex"), "{}", r.body);
    let r = post(
        api,
        "/calls",
        &json!({"call_id": "req-2", "legs": [{"cryptex": true}, {"cryptex": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    node.shutdown();
}
