//! A relay's cost of WebRTC calls (issue #14), measured from outside the
//! same way for Rampart and rtpengine: DTLS-SRTP handshakes per second of
//! the relay's CPU, the set-up latency of a call, and the relay's CPU per
//! SRTP packet on DTLS-keyed legs beside SDES-keyed ones.
//!
//! ```sh
//! dtls-relay --ng 127.0.0.1:2223 --pid PID --label rampart [--calls 400]
//!     [--concurrency 8] [--latency-calls 40] [--packets 100] [--pps 20000]
//!     [--mode dtls|sdes]
//! ```
//! (`loadgen/bench-dtls.sh` starts both relays and runs it against each.)
//!
//! Each call is what Kamailio sends for a browser calling a SIP phone: an
//! offer from the browser side (`UDP/TLS/RTP/SAVPF`, a SHA-256
//! fingerprint, `a=setup:active`, no ICE) with `transport-protocol:
//! RTP/AVP`, `ICE: remove`, `DTLS: off`, `rtcp-mux: demux`, and the
//! phone's plain answer. The relay is then the DTLS server on the
//! browser leg; this program is the client (Rampart's own DTLS endpoint,
//! an ECDSA P-256 certificate, as browsers use), on its own UDP socket per
//! call.
//!
//! Phases, each timed apart:
//! 1. latency: `--latency-calls` calls one after the other, each offer,
//!    answer and handshake to the end (what a caller waits for before
//!    media can flow);
//! 2. set-up: `--calls` calls offered and answered;
//! 3. handshakes: all of them, `--concurrency` at a time; the relay's
//!    process CPU (user + system from /proc, all its threads) over this
//!    phase divided by the handshakes done is its CPU per handshake;
//! 4. media: `--packets` SRTP packets per call from the browser side under
//!    the exported keys, one `sendto` per packet, round robin over the
//!    calls at `--pps`; the relay's CPU over the window per packet the
//!    phones received.
//!
//! With `--mode sdes` the browser side offers `RTP/SAVP` with an
//! `a=crypto` line instead (no handshake): the SRTP cost to compare with.
//! Prints one JSON line. Bounded: every wait has a deadline.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rampart::control::ng_bencode::{self as ben, Limits};
use rampart::dtls::{Certificate, Endpoint, Fingerprint, Role};
use rampart::srtp::{Context, MasterKey, Policy, Suite};

struct Args {
    ng: SocketAddr,
    pid: u32,
    label: String,
    calls: usize,
    concurrency: usize,
    latency_calls: usize,
    packets: usize,
    pps: u64,
    sdes: bool,
}

fn args() -> Args {
    let mut a = Args {
        ng: "127.0.0.1:2223".parse().unwrap(),
        pid: 0,
        label: "relay".into(),
        calls: 400,
        concurrency: 8,
        latency_calls: 40,
        packets: 100,
        pps: 20_000,
        sdes: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--ng" => a.ng = v().parse().expect("--ng ip:port"),
            "--pid" => a.pid = v().parse().expect("--pid"),
            "--label" => a.label = v(),
            "--calls" => a.calls = v().parse().expect("--calls"),
            "--concurrency" => a.concurrency = v().parse().expect("--concurrency"),
            "--latency-calls" => a.latency_calls = v().parse().expect("--latency-calls"),
            "--packets" => a.packets = v().parse().expect("--packets"),
            "--pps" => a.pps = v().parse().expect("--pps"),
            "--mode" => a.sdes = v() == "sdes",
            other => panic!("unknown option {other}"),
        }
    }
    a
}

/// The relay's process CPU (user + system, all threads), µs.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the relay runs");
    let after = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the name).
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks * 1_000_000 / 100
}

/// Each thread's CPU (user + system), µs, by thread name.
fn threads_us(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        *out.entry(name).or_insert(0) += ticks * 1_000_000 / 100;
    }
    out
}

/// What each thread (by name) spent between two [`threads_us`] samples,
/// per `n`.
fn threads_per(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    n: usize,
) -> serde_json::Value {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0 && n > 0).then(|| (k.clone(), serde_json::json!(d as f64 / n as f64)))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// One ng client socket.
struct Ng {
    sock: UdpSocket,
    to: SocketAddr,
    n: u64,
}

impl Ng {
    fn new(to: SocketAddr) -> Ng {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ng { sock, to, n: 0 }
    }

    /// Sends a request (string values, and `rtcp-mux` as a list when
    /// given); the reply's `sdp`, or why not.
    fn req(&mut self, items: &[(&str, &str)], mux: Option<&str>) -> Result<String, String> {
        let mut body = b"d".to_vec();
        let put = |x: &str, out: &mut Vec<u8>| {
            out.extend_from_slice(format!("{}:", x.len()).as_bytes());
            out.extend_from_slice(x.as_bytes());
        };
        for (k, v) in items {
            put(k, &mut body);
            put(v, &mut body);
        }
        if let Some(m) = mux {
            put("rtcp-mux", &mut body);
            body.push(b'l');
            put(m, &mut body);
            body.push(b'e');
        }
        body.push(b'e');
        self.n += 1;
        let cookie = format!("d{}_{} ", std::process::id(), self.n);
        let mut msg = cookie.clone().into_bytes();
        msg.extend_from_slice(&body);
        self.sock
            .send_to(&msg, self.to)
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let n = loop {
            let (n, _) = self.sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
            if buf[..n].starts_with(cookie.as_bytes()) {
                break n;
            }
        };
        let v =
            ben::decode(&buf[cookie.len()..n], &Limits::default()).map_err(|e| e.to_string())?;
        if v.get("result").and_then(|r| r.as_str()) != Some("ok") {
            return Err(format!("{v:?}"));
        }
        Ok(v.get("sdp")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string())
    }
}

/// One call: the browser side's socket, the phone's, and what the relay
/// answered.
struct Call {
    id: String,
    browser: UdpSocket,
    phone: UdpSocket,
    relay: SocketAddr,
    fingerprint: Option<Fingerprint>,
    /// The browser side's SRTP key (SDES mode, or exported after the
    /// handshake).
    key: Option<(Suite, MasterKey)>,
}

const SDES_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn attr<'a>(sdp: &'a str, prefix: &str) -> Option<&'a str> {
    sdp.lines().find_map(|l| l.trim_end().strip_prefix(prefix))
}

/// Offers and answers call `i`; `offer_ms` and `answer` timings aside.
fn set_up(ng: &mut Ng, i: usize, fp: Fingerprint, sdes: bool) -> Result<Call, String> {
    let id = format!("dtls-bench-{}-{i}", std::process::id());
    let bind = || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    };
    let (browser, phone) = (bind(), bind());
    let port = |s: &UdpSocket| s.local_addr().unwrap().port();
    let head = |o: usize| {
        format!("v=0\r\no=- {o} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
    };
    let offer = if sdes {
        format!(
            "{}m=audio {} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{SDES_KEY}\r\n",
            head(i),
            port(&browser)
        )
    } else {
        format!(
            "{}m=audio {} UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n\
             a=rtcp-mux\r\na=fingerprint:{fp}\r\na=setup:active\r\n",
            head(i),
            port(&browser)
        )
    };
    let mut items = vec![
        ("command", "offer"),
        ("call-id", id.as_str()),
        ("from-tag", "browser"),
        ("sdp", offer.as_str()),
        ("transport-protocol", "RTP/AVP"),
        ("ICE", "remove"),
    ];
    if !sdes {
        items.push(("DTLS", "off"));
    }
    ng.req(&items, (!sdes).then_some("demux"))?;
    let answer = format!(
        "{}m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        head(i + 1),
        port(&phone)
    );
    let back = ng.req(
        &[
            ("command", "answer"),
            ("call-id", id.as_str()),
            ("from-tag", "browser"),
            ("to-tag", "phone"),
            ("sdp", answer.as_str()),
        ],
        None,
    )?;
    let m = attr(&back, "m=audio ").ok_or("no m= line in the answer")?;
    let relay_port: u16 = m
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("no port")?;
    let fingerprint = attr(&back, "a=fingerprint:").and_then(Fingerprint::parse_sdp);
    if !sdes && fingerprint.is_none() {
        return Err(format!("no sha-256 fingerprint in the answer: {back}"));
    }
    let key = sdes.then(|| {
        let raw = base64_decode(SDES_KEY);
        let su = Suite::AesCm128HmacSha1_80;
        (su, MasterKey::from_concatenated(su, &raw).unwrap())
    });
    Ok(Call {
        id,
        browser,
        phone,
        relay: SocketAddr::new([127, 0, 0, 1].into(), relay_port),
        fingerprint,
        key,
    })
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = T.iter().position(|&t| t == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The handshake of `call` as the DTLS client; its wall time, with the
/// exported key kept in the call.
fn handshake(call: &mut Call, cert: &Certificate) -> Result<Duration, String> {
    let t = Instant::now();
    let fp = call.fingerprint.ok_or("no fingerprint")?;
    let mut ep = Endpoint::new(cert, Role::Active, fp).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let deadline = t + Duration::from_secs(10);
    loop {
        while let Some(d) = ep.poll_datagram() {
            let _ = call.browser.send_to(&d, call.relay);
        }
        if ep.is_connected() {
            call.key = ep.keys().map(|k| (k.profile.suite(), k.local.clone()));
            return Ok(t.elapsed());
        }
        if Instant::now() > deadline {
            return Err("handshake timed out".into());
        }
        match call.browser.recv_from(&mut buf) {
            Ok((n, _)) => {
                ep.on_datagram(&buf[..n]).map_err(|e| e.to_string())?;
            }
            Err(_) => {
                ep.on_timer().map_err(|e| e.to_string())?;
            }
        }
    }
}

fn delete(ng: &mut Ng, id: &str) {
    let _ = ng.req(
        &[
            ("command", "delete"),
            ("call-id", id),
            ("from-tag", "browser"),
        ],
        None,
    );
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let a = args();
    let cert = Certificate::generate("dtls-relay-bench").expect("certificate");
    let fp = cert.fingerprint();
    let mut ng = Ng::new(a.ng);

    // 1. Set-up latency, one call at a time.
    let (mut setup_ms, mut ng_ms) = (Vec::new(), Vec::new());
    for i in 0..a.latency_calls {
        let t = Instant::now();
        let mut c = set_up(&mut ng, 1_000_000 + i, fp, a.sdes).expect("set-up");
        ng_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if !a.sdes {
            handshake(&mut c, &cert).expect("handshake");
        }
        setup_ms.push(t.elapsed().as_secs_f64() * 1e3);
        delete(&mut ng, &c.id);
    }

    // 2. Offers and answers.
    let mut calls = Vec::with_capacity(a.calls);
    for i in 0..a.calls {
        calls.push(set_up(&mut ng, i, fp, a.sdes).expect("set-up"));
    }

    // 3. The handshakes, `concurrency` at a time.
    let threads_before = threads_us(a.pid);
    let (hs_cpu, hs_wall, hs_failed, mut hs_ms) = if a.sdes {
        (0, Duration::ZERO, 0, Vec::new())
    } else {
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Call>>> =
            calls.drain(..).map(|c| Mutex::new(Some(c))).collect();
        let times = Mutex::new(Vec::new());
        let failed = AtomicUsize::new(0);
        let (c0, t0) = (cpu_us(a.pid), Instant::now());
        std::thread::scope(|s| {
            for _ in 0..a.concurrency.max(1) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(i) else { break };
                    let mut c = slot.lock().unwrap().take().unwrap();
                    match handshake(&mut c, &cert) {
                        Ok(d) => times.lock().unwrap().push(d.as_secs_f64() * 1e3),
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("call {i}: {e}");
                            }
                        }
                    }
                    *slot.lock().unwrap() = Some(c);
                });
            }
        });
        let (cpu, wall) = (cpu_us(a.pid) - c0, t0.elapsed());
        calls = slots
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap())
            .collect();
        (cpu, wall, failed.into_inner(), times.into_inner().unwrap())
    };
    let handshakes = hs_ms.len();
    let hs_threads = threads_per(&threads_before, &threads_us(a.pid), handshakes);

    // 4. SRTP from the browser side, one packet per sendto, round robin.
    let mut ctx: Vec<Option<Context>> = calls
        .iter()
        .map(|c| {
            c.key
                .clone()
                .map(|(su, k)| Context::new(Policy::new(su, k)).unwrap())
        })
        .collect();
    let total = a.packets * calls.len();
    let gap = Duration::from_nanos(1_000_000_000 / a.pps.max(1));
    let (c0, t0) = (cpu_us(a.pid), Instant::now());
    let (mut sent, mut received) = (0usize, 0usize);
    let mut pkt = Vec::with_capacity(256);
    for n in 0..total {
        let i = n % calls.len();
        let Some(cx) = ctx[i].as_mut() else { continue };
        let seq = (n / calls.len()) as u16;
        pkt.clear();
        pkt.extend_from_slice(&[0x80, 0]);
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend_from_slice(&(0x5eed_0000u32 + i as u32).to_be_bytes());
        pkt.extend(std::iter::repeat_n(0xffu8, 160));
        let len = pkt.len();
        pkt.resize(len + 16, 0);
        let Ok(out) = cx.protect_rtp(&mut pkt, len) else {
            continue;
        };
        let _ = calls[i].browser.send_to(&pkt[..out], calls[i].relay);
        sent += 1;
        let due = t0 + gap * (n as u32 + 1);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        // Drain the phones now and then (their buffers are small).
        if n % 512 == 511 {
            received += drain(&calls);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let (media_cpu, media_wall) = (cpu_us(a.pid) - c0, t0.elapsed());
    received += drain(&calls);
    for c in &calls {
        delete(&mut ng, &c.id);
    }
    let per = |cpu: u64, n: usize| if n == 0 { 0.0 } else { cpu as f64 / n as f64 };
    println!(
        "{}",
        serde_json::json!({
            "label": a.label,
            "mode": if a.sdes { "sdes" } else { "dtls" },
            "calls": a.calls,
            "concurrency": a.concurrency,
            "handshakes": handshakes,
            "handshakes_failed": hs_failed,
            "relay_cpu_us_per_handshake": per(hs_cpu, handshakes),
            "relay_thread_cpu_us_per_handshake": hs_threads,
            "handshakes_per_relay_cpu_second": if hs_cpu == 0 { 0.0 } else { handshakes as f64 * 1e6 / hs_cpu as f64 },
            "handshakes_per_second_wall": handshakes as f64 / hs_wall.as_secs_f64().max(1e-9),
            "handshake_ms_p50": percentile(&mut hs_ms, 0.5),
            "handshake_ms_p99": percentile(&mut hs_ms, 0.99),
            "setup_ms_p50": percentile(&mut setup_ms, 0.5),
            "setup_ms_p99": percentile(&mut setup_ms, 0.99),
            "offer_answer_ms_p50": percentile(&mut ng_ms, 0.5),
            "srtp_sent": sent,
            "srtp_received": received,
            "relay_cpu_us_per_packet": per(media_cpu, received),
            "media_seconds": media_wall.as_secs_f64(),
        })
    );
}

/// Reads what the phones got since the last drain; how many.
fn drain(calls: &[Call]) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    for c in calls {
        c.phone.set_nonblocking(true).unwrap();
        while c.phone.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        c.phone.set_nonblocking(false).unwrap();
    }
    n
}
