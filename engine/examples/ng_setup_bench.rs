//! Call setup over the ng protocol: offer + answer + delete latency and calls
//! set up per second, against a node started in-process, over real UDP.
//!
//! ```sh
//! cargo run --release -p rampart --example ng_setup_bench -- [CALLS] [savp|avp] [NG_ADDR]
//! ```
//!
//! Each call is an SRTP offer from A (two suites), an answer from B picking
//! one, and a delete, one after another, from one client socket, as a
//! switch's rtpengine module would send them. Prints a table of latencies
//! (µs) and the rate. With `NG_ADDR` (e.g. rtpengine's `--listen-ng`) the
//! same client measures that server instead of an in-process node, so both
//! can be compared in one run (`loadgen/ng-setup-bench.sh`).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits};
use rampart::control::Node;

fn benc(items: &[(&str, &str)], list: Option<(&str, &[&str])>) -> Vec<u8> {
    let mut out = b"d".to_vec();
    let mut put = |x: &str| {
        out.extend_from_slice(format!("{}:", x.len()).as_bytes());
        out.extend_from_slice(x.as_bytes());
    };
    for (k, v) in items {
        put(k);
        put(v);
    }
    if let Some((k, vs)) = list {
        put(k);
        out.push(b'l');
        for v in vs {
            out.extend_from_slice(format!("{}:{v}", v.len()).as_bytes());
        }
        out.push(b'e');
    }
    out.push(b'e');
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let savp = args.next().as_deref() != Some("avp");
    let external: Option<SocketAddr> = args.next().map(|a| a.parse().expect("NG_ADDR is ip:port"));
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = 20000;
    c.media.port_max = 29999;
    c.dataplane.workers = 2;
    c.limits.max_calls = calls.max(1) + 10;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.log.level = "warn".into();
    let node = match external {
        Some(_) => None,
        None => Some(Node::start(c).expect("node starts")),
    };
    let to: SocketAddr = match (&node, external) {
        (_, Some(a)) => a,
        (Some(n), None) => n.info().ng.udp.unwrap(),
        (None, None) => unreachable!("a node runs when no address is given"),
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut n = 0u64;
    let mut send = |body: Vec<u8>| -> (Duration, bool) {
        n += 1;
        let mut msg = format!("b{n} ").into_bytes();
        msg.extend_from_slice(&body);
        let t = Instant::now();
        sock.send_to(&msg, to).unwrap();
        let (k, _) = sock.recv_from(&mut buf).expect("reply");
        let el = t.elapsed();
        let reply = &buf[..k];
        let sp = reply.iter().position(|&b| b == b' ').unwrap_or(0);
        let v = ben::decode(&reply[sp + 1..], &Limits::default()).expect("bencode reply");
        let okay = v.get("result").and_then(|r| r.as_str()) == Some("ok");
        if !okay && n < 5 {
            eprintln!("reply: {v:?}");
        }
        (el, okay)
    };
    let (proto, crypto_a, crypto_b) = if savp {
        (
            "RTP/SAVP",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n",
        )
    } else {
        ("RTP/AVP", "", "")
    };
    let sdp = |port: u16, crypto: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} {proto} 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n{crypto}a=sendrecv\r\n"
        )
    };
    let sdp_a = sdp(4000, crypto_a);
    let sdp_b = sdp(5000, crypto_b);
    let mut offer = Vec::with_capacity(calls);
    let mut answer = Vec::with_capacity(calls);
    let mut delete = Vec::with_capacity(calls);
    let mut failures = 0usize;
    let start = Instant::now();
    for i in 0..calls {
        let id = format!("bench-{i}@rampart");
        let (t, o1) = send(benc(
            &[
                ("sdp", &sdp_a),
                ("ICE", "remove"),
                ("call-id", &id),
                ("via-branch", "z9hG4bK1"),
                ("from-tag", "fa"),
                ("command", "offer"),
            ],
            Some(("flags", &["trust-address"])),
        ));
        offer.push(t);
        let (t, o2) = send(benc(
            &[
                ("sdp", &sdp_b),
                ("ICE", "remove"),
                ("call-id", &id),
                ("from-tag", "fa"),
                ("to-tag", "tb"),
                ("command", "answer"),
            ],
            None,
        ));
        answer.push(t);
        let (t, o3) = send(benc(
            &[("call-id", &id), ("from-tag", "fa"), ("command", "delete")],
            None,
        ));
        delete.push(t);
        if !(o1 && o2 && o3) {
            failures += 1;
        }
    }
    let total = start.elapsed();
    let oa: Vec<Duration> = offer.iter().zip(&answer).map(|(a, b)| *a + *b).collect();
    println!(
        "ng setup over UDP: {calls} calls ({}), offer+answer+delete sequential, 1 client",
        if savp {
            "SRTP SAVP<->SAVP"
        } else {
            "RTP AVP<->AVP"
        }
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "op", "mean µs", "p50 µs", "p90 µs", "p99 µs", "max µs"
    );
    for (name, v) in [
        ("offer", &offer),
        ("answer", &answer),
        ("offer+answer", &oa),
        ("delete", &delete),
    ] {
        let mut us: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| us[((us.len() as f64 - 1.0) * p).round() as usize];
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        println!(
            "{:<16} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            name,
            mean,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            us[us.len() - 1]
        );
    }
    println!(
        "{calls} calls set up and torn down in {:.3} s: {:.0} calls/s; failures: {failures}",
        total.as_secs_f64(),
        calls as f64 / total.as_secs_f64()
    );
    println!(
        "targets: offer+answer mean <= 100 µs: {}; 10,000 calls < 2 s: {}",
        if oa.iter().map(|d| d.as_secs_f64()).sum::<f64>() / oa.len() as f64 <= 100e-6 {
            "met"
        } else {
            "MISSED"
        },
        if total.as_secs_f64() * 10_000.0 / calls as f64 <= 2.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    if let Some(node) = node {
        node.shutdown();
    }
}
