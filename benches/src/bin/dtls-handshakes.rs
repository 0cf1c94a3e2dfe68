//! What one DTLS-SRTP handshake costs Rampart's endpoint (issue #14),
//! per side, for the certificates peers present: ECDSA P-256 (browsers,
//! and Rampart's own) and RSA-2048/4096 (SIP servers).
//!
//! `cargo run --release -p rampart-benches --bin dtls-handshakes [-- --handshakes N]`
//!
//! Pairs of `rampart::dtls::Endpoint` handshake in memory on one thread (no
//! socket, no loss), and the time spent inside each side's calls is
//! summed: the thread does nothing else, so this is CPU time. The server
//! side is what a node pays per WebRTC call it answers as passive; the
//! client side what it pays as active. Each handshake includes the key
//! export. Bounded: `--handshakes` per row (default 200; RSA-4096 rows a
//! quarter of it).
//!
//! Not measured here: rtpengine's cost per handshake (it needs ng offers
//! with DTLS and a DTLS client against its media ports), which issue #14
//! asks to compare; see docs/webrtc.md.

use std::time::{Duration, Instant};

use rampart::dtls::{Certificate, Endpoint, Role};

fn rsa(bits: u32) -> Certificate {
    // The openssl crate comes with rampart; a throwaway RSA certificate
    // made by the tool keeps this binary free of a direct dependency.
    let dir = std::env::temp_dir().join(format!("dtls-bench-{}-{bits}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=bench", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let c = Certificate::from_pem(
        &std::fs::read(&cert).unwrap(),
        &std::fs::read(&key).unwrap(),
    )
    .expect("certificate");
    let _ = std::fs::remove_dir_all(&dir);
    c
}

/// One handshake between a client presenting `client` and a server
/// presenting `server`; the time spent in each side's calls.
fn handshake(server: &Certificate, client: &Certificate) -> (Duration, Duration) {
    let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    let mut s = Endpoint::new(server, Role::Passive, client.fingerprint()).unwrap();
    ts += t.elapsed();
    let t = Instant::now();
    let mut c = Endpoint::new(client, Role::Active, server.fingerprint()).unwrap();
    tc += t.elapsed();
    for _ in 0..64 {
        while let Some(d) = c.poll_datagram() {
            let t = Instant::now();
            s.on_datagram(&d).unwrap();
            ts += t.elapsed();
        }
        while let Some(d) = s.poll_datagram() {
            let t = Instant::now();
            c.on_datagram(&d).unwrap();
            tc += t.elapsed();
        }
        if s.is_connected() && c.is_connected() {
            assert!(s.keys().is_some() && c.keys().is_some());
            return (ts, tc);
        }
    }
    panic!("no handshake within 64 rounds");
}

fn main() {
    let mut n = 200usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--handshakes") {
        n = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(n)
            .clamp(1, 10_000);
    }
    let ecdsa = Certificate::generate("bench-ecdsa").unwrap();
    let peer = Certificate::generate("bench-peer").unwrap();
    let (rsa2k, rsa4k) = (rsa(2048), rsa(4096));
    println!("| server certificate | client certificate | handshakes | server µs/handshake | client µs/handshake | server handshakes/s per core |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name_s, server, name_c, client, count) in [
        ("ECDSA P-256", &ecdsa, "ECDSA P-256", &peer, n),
        ("RSA-2048", &rsa2k, "ECDSA P-256", &peer, n),
        ("ECDSA P-256", &ecdsa, "RSA-2048", &rsa2k, n),
        ("RSA-4096", &rsa4k, "ECDSA P-256", &peer, n.div_ceil(4)),
    ] {
        // One warm-up.
        let _ = handshake(server, client);
        let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..count {
            let (s, c) = handshake(server, client);
            ts += s;
            tc += c;
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / count as f64;
        println!(
            "| {name_s} | {name_c} | {count} | {:.0} | {:.0} | {:.0} |",
            per(ts),
            per(tc),
            1e6 / per(ts)
        );
    }
}
