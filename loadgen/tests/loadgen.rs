//! rampart-loadgen end to end at small scale: against an in-process Rampart
//! node (the binary, over the HTTP API, with JSON output; and the step
//! search as a library), and against a relay test double that forwards
//! packets, with and without flipping a byte of each.
//!
//! No timing assertions: only counts (what was sent arrived, intact; what
//! was tampered with failed authentication).

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::Node;
use rampart::srtp::Suite;
use rampart_loadgen::player::Pacing;
use rampart_loadgen::target::{self, CallSetup, LegSetup, Target, TargetSpec};
use rampart_loadgen::{runner, RunConfig, StepConfig};
use serde_json::Value;

/// The device every leg names: the node runs a mixed-mode cluster (its
/// security policy admits encrypted legs only for registered devices).
const DEVICE: &str = "LG-TEST-7970";

/// A trust list signed by a fresh token, in a temp dir named after `name`.
fn write_ctl(name: &str) -> std::path::PathBuf {
    use rampart::trust::ctl::unix_now;
    use rampart::trust::{sign_payload, CtlPayload, TokenAlg, TokenKey};
    let dir = std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t1 = TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap();
    let t2 = TokenKey::generate("sast2", TokenAlg::Ed25519).unwrap();
    let payload = CtlPayload {
        version: 1,
        issued_at: unix_now() as u64,
        entries: Vec::new(),
        tokens: vec![t1.info(), t2.info()],
    };
    let path = dir.join("ctl.json");
    std::fs::write(&path, sign_payload(&payload, &t1).unwrap().to_json()).unwrap();
    path
}

fn node_config(port_min: u16, port_max: u16) -> Config {
    use rampart::policy::{ClusterMode, DeviceConfig, LegKind, PolicyConfig, SecurityMode};
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_max;
    c.dataplane.workers = 1;
    c.security = PolicyConfig {
        enforce: true,
        cluster_mode: ClusterMode::Mixed,
        trust_list: Some(write_ctl(&format!("ctl-{port_min}"))),
        devices: vec![DeviceConfig {
            name: DEVICE.into(),
            model: "7970".into(),
            mode: SecurityMode::Encrypted,
            kind: LegKind::Phone,
        }],
        ..PolicyConfig::default()
    };
    c
}

#[test]
fn binary_against_in_process_rampart_delivers_everything_and_writes_json() {
    let node = Node::start(node_config(52000, 52099)).expect("node starts");
    let api = node.api_addr();
    let json = std::env::temp_dir().join(format!("loadgen-test-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&json);
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-loadgen"))
        .args(["run", "--target", &format!("rampart-http={api}")])
        .args(["--calls", "5", "--duration", "2", "--profile", "g711"])
        .args(["--device", DEVICE, "--no-progress"])
        .args(["--pid", &std::process::id().to_string()])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("delivered"), "summary table: {stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
        .expect("JSON parses");
    let _ = std::fs::remove_file(&json);
    // 5 calls x 2 directions x 100 packets (2 s at 50 pps).
    assert_eq!(v["sent"], 1000, "{v:#}");
    assert_eq!(v["delivered"], v["sent"], "{v:#}");
    for k in [
        "auth_failures",
        "corrupt",
        "misrouted",
        "unknown",
        "duplicates",
        "send_errors",
    ] {
        assert_eq!(v[k], 0, "{k}: {v:#}");
    }
    assert_eq!(v["delete_errors"], 0);
    assert_eq!(v["suites"][0], "AES_CM_128_HMAC_SHA1_80");
    assert_eq!(v["suites"][1], "AES_CM_128_HMAC_SHA1_32");
    assert!(v["latency"]["count"].as_u64() == Some(1000));
    assert!(v["target_cpu"]["cpu_us"].is_u64(), "{v:#}");
    // Every call was deleted.
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();
}

#[test]
fn a_node_that_takes_no_connection_hands_the_run_to_the_fallback_node() {
    let node = Node::start(node_config(52500, 52599)).expect("node starts");
    // A port nothing listens on: the first node of the set is "dead".
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let json = std::env::temp_dir().join(format!("loadgen-fallback-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-loadgen"))
        .args(["run", "--target", &format!("rampart-http={dead}")])
        .args(["--fallback", &node.api_addr().to_string()])
        .args(["--calls", "3", "--duration", "1", "--no-progress"])
        .args(["--device", DEVICE])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("calls with loss"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON")).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(v["delivered"], v["sent"], "{v:#}");
    assert_eq!(v["delete_errors"], 0, "{v:#}");
    let spread = &v["spread"];
    assert_eq!(spread["calls"], 3, "{v:#}");
    assert_eq!(spread["calls_with_loss"], 0, "{v:#}");
    assert_eq!(spread["call_lost_max"], 0, "{v:#}");
    // 50 packets a second: the longest gap is about one packet interval.
    assert!(spread["gap_max_ms"].as_f64().unwrap() > 0.0, "{v:#}");
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();
}

/// Runs the binary against `api` with `args`; returns the JSON report and
/// the HTML report's text.
fn run_binary(api: SocketAddr, tag: &str, args: &[&str]) -> (Value, String) {
    let dir = std::env::temp_dir();
    let id = format!("loadgen-{tag}-{}", std::process::id());
    let json = dir.join(format!("{id}.json"));
    let html = dir.join(format!("{id}.html"));
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&html);
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-loadgen"))
        .args(["run", "--target", &format!("rampart-http={api}")])
        .args(["--pid", &std::process::id().to_string(), "--no-progress"])
        .args(["--device", DEVICE])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen {args:?} failed\n{stdout}\n{stderr}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
        .expect("JSON parses");
    let h = std::fs::read_to_string(&html).expect("HTML written");
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&html);
    (v, h)
}

/// Nothing lost, nothing failed, RTCP verified, series and HTML present.
fn assert_clean(v: &Value, h: &str, what: &str) {
    assert!(v["sent"].as_u64().unwrap() > 0, "{what}: {v:#}");
    assert_eq!(v["delivered"], v["sent"], "{what}: {v:#}");
    for k in [
        "auth_failures",
        "corrupt",
        "misrouted",
        "unknown",
        "duplicates",
        "send_errors",
        "malformed",
        "rtcp_auth_failures",
        "rtcp_bad",
        "delete_errors",
    ] {
        assert_eq!(v[k], 0, "{what}: {k}: {v:#}");
    }
    assert!(v["rtcp_sent"].as_u64().unwrap() > 0, "{what}: {v:#}");
    assert_eq!(v["rtcp_delivered"], v["rtcp_sent"], "{what}: {v:#}");
    let series = v["series"].as_array().expect("time series");
    assert!(!series.is_empty(), "{what}: no series");
    for k in [
        "delivered_pps",
        "loss_pct",
        "p99_us",
        "target_cpu_us_per_packet",
    ] {
        assert!(series[0].get(k).is_some(), "{what}: series lacks {k}");
    }
    let sent: u64 = series.iter().map(|p| p["sent"].as_u64().unwrap()).sum();
    assert_eq!(
        sent,
        v["sent"].as_u64().unwrap(),
        "{what}: series covers every send"
    );
    assert!(v["latency_cdf"].as_array().is_some_and(|c| c.len() > 10));
    assert!(h.contains("<svg"), "{what}: HTML without SVG");
}

#[test]
fn every_profile_through_in_process_rampart() {
    let node = Node::start(node_config(52200, 52299)).expect("node starts");
    let api = node.api_addr();
    for (profile, calls) in [("g711", "3"), ("g729", "3"), ("opus", "3"), ("video", "2")] {
        let (v, h) = run_binary(
            api,
            profile,
            &[
                "--calls",
                calls,
                "--duration",
                "2s",
                "--profile",
                profile,
                "--rtcp-interval",
                "1s",
            ],
        );
        assert_clean(&v, &h, profile);
        assert_eq!(v["profile"]["name"], profile);
        if profile == "video" {
            // 2 calls x 2 directions x 2 s of 30 frames of 3-8 packets.
            let sent = v["sent"].as_u64().unwrap();
            assert!((4 * 2 * 30 * 3..=4 * 2 * 30 * 8).contains(&sent), "{sent}");
        } else {
            assert_eq!(v["sent"], 3 * 2 * 100, "{profile}");
        }
    }
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();
}

#[test]
fn verified_passthrough_through_in_process_rampart() {
    let node = Node::start(node_config(52400, 52499)).expect("node starts");
    let api = node.api_addr();
    // Leg B's suite is ignored: passthrough gives both legs leg A's.
    for suite in ["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"] {
        let (v, h) = run_binary(
            api,
            "passthrough",
            &[
                "--passthrough",
                "--suite-a",
                suite,
                "--calls",
                "3",
                "--duration",
                "2s",
                "--rtcp-interval",
                "1s",
            ],
        );
        assert_clean(&v, &h, suite);
        assert_eq!(v["suites"][0], suite);
        assert_eq!(v["suites"][1], suite);
    }
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();

    // Passthrough is an HTTP API request: an ng target is refused up front.
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-loadgen"))
        .args(["run", "--target", "ng=127.0.0.1:9", "--passthrough"])
        .args(["--calls", "1", "--duration", "1", "--no-progress"])
        .output()
        .expect("run loadgen");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HTTP API only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mixed_profiles_rtp_leg_other_suites_soak_and_compare() {
    let node = Node::start(node_config(52300, 52399)).expect("node starts");
    let api = node.api_addr();
    // Mixed traffic, a plain RTP leg A, setup rate, soak snapshots.
    let (v1, h1) = run_binary(
        api,
        "mixed",
        &[
            "--calls",
            "4",
            "--duration",
            "3s",
            "--profile",
            "g711,opus,g729,video",
            "--mode-a",
            "rtp",
            "--suite-b",
            "AES_256_CM_HMAC_SHA1_80",
            "--setup-rate",
            "50/s",
            "--rtcp-interval",
            "1s",
            "--soak",
            "--snapshot-every",
            "1s",
        ],
    );
    assert_clean(&v1, &h1, "mixed");
    assert_eq!(v1["suites"][0], "RTP");
    assert_eq!(v1["suites"][1], "AES_256_CM_HMAC_SHA1_80");
    assert_eq!(v1["profiles"].as_array().unwrap().len(), 4);
    let snaps = v1["snapshots"].as_array().expect("snapshots");
    assert_eq!(snaps.len(), 3, "{v1:#}");
    assert!(h1.contains("Snapshots"));
    // Any pair of suites, GCM included.
    let (v2, h2) = run_binary(
        api,
        "gcm",
        &[
            "--calls",
            "2",
            "--duration",
            "2",
            "--suite-a",
            "AEAD_AES_128_GCM",
            "--suite-b",
            "AES_CM_128_HMAC_SHA1_32",
            "--rtcp-interval",
            "1s",
        ],
    );
    assert_clean(&v2, &h2, "gcm");
    assert_eq!(v2["suites"][0], "AEAD_AES_128_GCM");
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();

    // compare draws the two side by side.
    let dir = std::env::temp_dir();
    let (a, b, out) = (
        dir.join(format!("lg-cmp-a-{}.json", std::process::id())),
        dir.join(format!("lg-cmp-b-{}.json", std::process::id())),
        dir.join(format!("lg-cmp-{}.html", std::process::id())),
    );
    std::fs::write(&a, v1.to_string()).unwrap();
    std::fs::write(&b, v2.to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rampart-loadgen"))
        .arg("compare")
        .args([&a, &b])
        .arg("--html")
        .arg(&out)
        .output()
        .expect("compare");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| target |"));
    let h = std::fs::read_to_string(&out).expect("compare HTML");
    assert!(h.matches("<svg").count() >= 3, "compare plots");
    assert!(h.contains("B / A"));
    for f in [a, b, out] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn step_search_against_in_process_rampart() {
    let node = Node::start(node_config(52100, 52199)).expect("node starts");
    let opts = target::CallOptions {
        device: Some(DEVICE.to_string()),
        ..Default::default()
    };
    let mut t = target::connect_with(TargetSpec::RampartHttp(node.api_addr()), 42, &opts).unwrap();
    t.ping().unwrap();
    let cfg = RunConfig::new("test", 2, Duration::from_secs(1));
    let step = StepConfig {
        start: 2,
        max: 4,
        factor: 2.0,
        max_steps: 2,
        threshold_pct: 100.0, // every step passes: this checks the mechanics
        pause: Duration::from_millis(50),
    };
    let r = runner::step_search(&cfg, &step, t.as_mut(), false).unwrap();
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps[0].calls, 2);
    assert_eq!(r.steps[1].calls, 4);
    assert_eq!(r.best_calls, Some(4));
    for s in &r.steps {
        assert_eq!(s.counters.delivered, s.counters.sent);
        assert_eq!(s.counters.auth_failures, 0);
    }
    let j = serde_json::to_string(&r).unwrap();
    let _: Value = serde_json::from_str(&j).unwrap();
    assert_eq!(node.shared().calls.len(None), 0);
    node.shutdown();
}

// ---- a relay test double ----------------------------------------------

/// Forwards leg A's packets to phone B and leg B's to phone A, unchanged
/// (same keys end to end) or with one payload byte flipped.
struct FakeRelay {
    legs: [SocketAddr; 2],
    phones: Arc<Mutex<Option<[SocketAddr; 2]>>>,
    deleted: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl FakeRelay {
    fn start(tamper: bool) -> FakeRelay {
        let socks = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        for s in &socks {
            s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        }
        let legs = [
            socks[0].local_addr().unwrap(),
            socks[1].local_addr().unwrap(),
        ];
        let phones: Arc<Mutex<Option<[SocketAddr; 2]>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, st) = (phones.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut buf = [0u8; 2048];
            let mut forwarded = 0u64;
            while !st.load(Ordering::Relaxed) && Instant::now() < deadline {
                for (i, s) in socks.iter().enumerate() {
                    for _ in 0..256 {
                        let Ok((n, _)) = s.recv_from(&mut buf) else {
                            break;
                        };
                        let Some(ph) = *p.lock().unwrap() else {
                            continue;
                        };
                        if tamper && n > 40 {
                            buf[40] ^= 0x01;
                        }
                        let other = 1 - i;
                        let _ = socks[other].send_to(&buf[..n], ph[other]);
                        forwarded += 1;
                    }
                }
            }
            forwarded
        });
        FakeRelay {
            legs,
            phones,
            deleted: Arc::new(Mutex::new(Vec::new())),
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

struct FakeTarget<'a>(&'a FakeRelay);

fn key(seed: u8) -> Vec<u8> {
    (0..30u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(seed))
        .collect()
}

impl Target for FakeTarget<'_> {
    fn create(&mut self, index: usize, a: SocketAddr, b: SocketAddr) -> Result<CallSetup, String> {
        *self.0.phones.lock().unwrap() = Some([a, b]);
        let s = Suite::AesCm128HmacSha1_80;
        // No re-encryption: what A sends with, B receives with, and back.
        let (ab, ba) = (key(index as u8), key(100 + index as u8));
        Ok(CallSetup {
            id: format!("fake-{index}"),
            legs: [
                LegSetup {
                    relay: self.0.legs[0],
                    suite: Some(s),
                    tx_key: ab.clone(),
                    rx_key: ba.clone(),
                },
                LegSetup {
                    relay: self.0.legs[1],
                    suite: Some(s),
                    tx_key: ba,
                    rx_key: ab,
                },
            ],
        })
    }
    fn delete(&mut self, id: &str) -> Result<(), String> {
        self.0.deleted.lock().unwrap().push(id.to_string());
        Ok(())
    }
    fn ping(&mut self) -> Result<(), String> {
        Ok(())
    }
}

fn through_fake_relay(tamper: bool) -> (rampart_loadgen::Report, Vec<String>, u64) {
    let relay = FakeRelay::start(tamper);
    let mut cfg = RunConfig::new("fake", 3, Duration::from_secs(1));
    cfg.drain = Duration::from_millis(300);
    // RTP only: the double forwards SRTCP too, and tampers with it.
    cfg.rtcp_interval = Duration::ZERO;
    let r = runner::run(&cfg, &mut FakeTarget(&relay)).expect("run");
    let deleted = relay.deleted.lock().unwrap().clone();
    let forwarded = relay.finish();
    (r, deleted, forwarded)
}

#[test]
fn honest_relay_double_delivers_everything() {
    let (r, deleted, forwarded) = through_fake_relay(false);
    let c = r.counters;
    assert_eq!(c.sent, 3 * 2 * 50);
    assert_eq!(forwarded, c.sent);
    assert_eq!(c.delivered, c.sent, "{}", r.table());
    assert_eq!(c.auth_failures, 0);
    assert_eq!(deleted.len(), 3);
}

#[test]
fn tampering_relay_double_is_caught_as_auth_failures() {
    let (r, deleted, forwarded) = through_fake_relay(true);
    let c = r.counters;
    assert_eq!(c.sent, 3 * 2 * 50);
    assert_eq!(forwarded, c.sent);
    assert_eq!(c.delivered, 0, "{}", r.table());
    assert_eq!(c.auth_failures, c.sent, "{}", r.table());
    assert_eq!(c.corrupt, 0);
    assert_eq!(r.loss_pct, 100.0);
    assert_eq!(deleted, vec!["fake-0", "fake-1", "fake-2"]);
}

/// Runs `calls` calls for 1 s through the relay double with `pacing`.
fn paced_through_fake_relay(calls: usize, pacing: Pacing) -> rampart_loadgen::Report {
    let relay = FakeRelay::start(false);
    let mut cfg = RunConfig::new("fake", calls, Duration::from_secs(1));
    cfg.drain = Duration::from_millis(300);
    cfg.rtcp_interval = Duration::ZERO;
    cfg.pacing = pacing;
    // Burst slots of 2 ms: ~20 of these calls' packets are due in each.
    cfg.tick = Duration::from_millis(2);
    let r = runner::run(&cfg, &mut FakeTarget(&relay)).expect("run");
    relay.finish();
    r
}

/// Even pacing hands the kernel one datagram per send, as independent
/// phones do; burst pacing hands it each slot's packets together. Counted
/// in send syscalls, not timed.
#[test]
fn even_pacing_sends_each_packet_alone_burst_pacing_batches() {
    let even = paced_through_fake_relay(100, Pacing::Even);
    let c = even.counters;
    assert_eq!(even.pacing, Pacing::Even);
    assert_eq!(c.sent, 100 * 2 * 50, "{}", even.table());
    // The double (a debug build, one packet per syscall, on a shared
    // 2-core machine) may drop a little; the shape is what this checks.
    assert!(c.delivered * 100 >= c.sent * 95, "{}", even.table());
    assert!(
        c.send_calls * 10 >= c.sent * 9,
        "even pacing: {} send syscalls for {} packets\n{}",
        c.send_calls,
        c.sent,
        even.table()
    );
    assert!(even.table().contains(" even ("), "{}", even.table());

    let burst = paced_through_fake_relay(100, Pacing::Burst);
    let c = burst.counters;
    assert_eq!(c.sent, 100 * 2 * 50, "{}", burst.table());
    assert!(c.delivered * 100 >= c.sent * 95, "{}", burst.table());
    assert!(
        c.send_calls * 3 <= c.sent,
        "burst pacing: {} send syscalls for {} packets\n{}",
        c.send_calls,
        c.sent,
        burst.table()
    );
}
