//! Secrets never reach the logs: a node logging everything (TRACE, into a
//! buffer) runs calls over HTTP and ng with node-generated and supplied
//! keys, rekeys, re-offers and deletes; then no key the test saw (base64
//! as on the wire, nor the hex of the key or salt bytes) may appear in
//! what was logged.
//!
//! One test per binary: the tracing subscriber is process-global.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits, Value as BVal};
use rampart::control::sdp::Sdp;
use rampart::control::Node;
use rampart::policy::SecurityMode;
use serde_json::{json, Value};

mod support;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &Value) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.to_string();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 2"), "{head}\n{rest}");
    serde_json::from_str(rest).unwrap()
}

fn ng(sock: &UdpSocket, to: SocketAddr, n: u32, items: &[(&str, &str)]) -> BVal {
    let mut msg = format!("log{n} d").into_bytes();
    for (k, v) in items {
        for x in [k, v] {
            msg.extend_from_slice(format!("{}:", x.len()).as_bytes());
            msg.extend_from_slice(x.as_bytes());
        }
    }
    msg.push(b'e');
    sock.send_to(&msg, to).unwrap();
    let mut buf = vec![0u8; 65536];
    let (len, _) = sock.recv_from(&mut buf).unwrap();
    let sp = buf.iter().position(|&b| b == b' ').unwrap();
    let v = ben::decode(&buf[sp + 1..len], &Limits::default()).unwrap();
    assert_eq!(v.get("result").and_then(BVal::as_str), Some("ok"), "{v:?}");
    v
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    STANDARD.encode(b)
}

/// Every `inline:` key in an SDP.
fn inline_keys(sdp: &str) -> Vec<String> {
    let parsed = Sdp::parse(sdp).unwrap();
    let mut out = Vec::new();
    for m in parsed.media() {
        for a in m.crypto().unwrap() {
            let su = a.suite().unwrap();
            for k in &a.keys {
                let mk = k.to_master_key(su).unwrap();
                let mut raw = mk.key_bytes().to_vec();
                raw.extend_from_slice(mk.salt_bytes());
                out.push(STANDARD.encode(raw));
            }
        }
    }
    out
}

fn sdp(port: u16, ver: u32, key: &str) -> String {
    format!(
        "v=0\r\no=- 1 {ver} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"
    )
}

#[test]
fn no_key_material_in_the_logs() {
    let buf = Buf::default();
    let w = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .init();

    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = 44000;
    c.media.port_max = 44199;
    c.dataplane.workers = 2;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.security = support::mixed("sec-logs");
    c.security.devices.push(support::device(
        "SEP-LOG-7960",
        "7960",
        SecurityMode::Authenticated,
    ));
    let node = Node::start(c).unwrap();
    let api = node.api_addr();
    let ng_addr = node.info().ng.udp.unwrap();
    let mut keys: Vec<String> = Vec::new();
    let collect = |v: &Value, keys: &mut Vec<String>| {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k == "key" {
                            if let Some(s) = x.as_str() {
                                out.push(s.to_string());
                            }
                        }
                        walk(x, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(v, keys);
    };

    // HTTP: generated keys, supplied keys, NULL-cipher keys.
    let dev = support::TEST_DEVICE;
    let v = http(
        api,
        "POST",
        "/calls",
        &json!({"call_id": "gen", "legs": [
        {"device": dev}, {"device": dev, "suite": "AEAD_AES_256_GCM"}]}),
    );
    collect(&v, &mut keys);
    let (k1, k2) = (random_b64(30), random_b64(30));
    keys.extend([k1.clone(), k2.clone()]);
    let v = http(
        api,
        "POST",
        "/calls",
        &json!({"call_id": "sup", "legs": [
        {"device": dev, "keys": {"inbound": {"key": k1}, "outbound": {"key": k2}}},
        {"device": "SEP-LOG-7960", "security": "authenticated", "null_cipher": true}]}),
    );
    collect(&v, &mut keys);
    // Rekeys: generated, supplied, with an MKI.
    let v = http(
        api,
        "PATCH",
        "/calls/gen/legs/0",
        &json!({"rekey": {"direction": "outbound"}}),
    );
    collect(&v, &mut keys);
    let k3 = random_b64(30);
    keys.push(k3.clone());
    let v = http(
        api,
        "PATCH",
        "/calls/sup/legs/0",
        &json!({"rekey": {"direction": "inbound", "key": k3}}),
    );
    collect(&v, &mut keys);
    for id in ["gen", "sup"] {
        let v = http(api, "DELETE", &format!("/calls/{id}"), &json!({}));
        collect(&v, &mut keys);
    }

    // ng: supplied keys in offers and answers, Rampart's in its SDPs;
    // a re-offer with a new key; delete.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (ka, kb, ka2) = (random_b64(30), random_b64(30), random_b64(30));
    keys.extend([ka.clone(), kb.clone(), ka2.clone()]);
    let r = ng(
        &sock,
        ng_addr,
        1,
        &[
            ("command", "offer"),
            ("call-id", "ngl"),
            ("from-tag", "a"),
            ("rampart-device", dev),
            ("sdp", &sdp(40000, 1, &ka)),
        ],
    );
    keys.extend(inline_keys(r.get("sdp").and_then(BVal::as_str).unwrap()));
    let r = ng(
        &sock,
        ng_addr,
        2,
        &[
            ("command", "answer"),
            ("call-id", "ngl"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("rampart-device", dev),
            ("sdp", &sdp(40002, 1, &kb)),
        ],
    );
    keys.extend(inline_keys(r.get("sdp").and_then(BVal::as_str).unwrap()));
    let r = ng(
        &sock,
        ng_addr,
        3,
        &[
            ("command", "offer"),
            ("call-id", "ngl"),
            ("from-tag", "a"),
            ("sdp", &sdp(40000, 2, &ka2)),
        ],
    );
    keys.extend(inline_keys(r.get("sdp").and_then(BVal::as_str).unwrap()));
    let r = ng(
        &sock,
        ng_addr,
        4,
        &[
            ("command", "answer"),
            ("call-id", "ngl"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", &sdp(40002, 2, &kb)),
        ],
    );
    keys.extend(inline_keys(r.get("sdp").and_then(BVal::as_str).unwrap()));
    ng(
        &sock,
        ng_addr,
        5,
        &[("command", "query"), ("call-id", "ngl")],
    );
    ng(
        &sock,
        ng_addr,
        6,
        &[("command", "delete"), ("call-id", "ngl")],
    );
    node.shutdown();

    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    assert!(logs.contains("call created"), "the capture works");
    assert!(
        logs.contains("call security status"),
        "status changes are logged"
    );
    keys.sort();
    keys.dedup();
    assert!(keys.len() >= 12, "only {} keys collected", keys.len());
    for k in &keys {
        let raw = STANDARD.decode(k).unwrap();
        assert!(!logs.contains(k.as_str()), "a key (base64) was logged");
        assert!(
            !logs.contains(k.trim_end_matches('=')),
            "a key (unpadded base64) was logged"
        );
        // The master key alone, and key+salt, as hex in either case, and
        // as a Rust byte-array Debug rendering.
        for part in [&raw[..16], &raw[..]] {
            let h = hex::encode(part);
            assert!(!logs.contains(&h), "a key (hex) was logged");
            assert!(!logs.contains(&h.to_uppercase()), "a key (HEX) was logged");
            let dbg = format!("{:?}", &part[..8]);
            assert!(
                !logs.contains(&dbg[1..dbg.len() - 1]),
                "a key (bytes) was logged"
            );
        }
    }
}
