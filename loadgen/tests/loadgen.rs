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
use rampart_loadgen::target::{self, CallSetup, LegSetup, Target, TargetSpec};
use rampart_loadgen::{runner, RunConfig, StepConfig};
use serde_json::Value;

fn node_config(port_min: u16, port_max: u16) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_max;
    c.dataplane.workers = 1;
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
    assert_eq!(node.shared().registry.lock().unwrap().calls().count(), 0);
    node.shutdown();
}

#[test]
fn step_search_against_in_process_rampart() {
    let node = Node::start(node_config(52100, 52199)).expect("node starts");
    let mut t = target::connect(TargetSpec::RampartHttp(node.api_addr()), 42).unwrap();
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
    assert_eq!(node.shared().registry.lock().unwrap().calls().count(), 0);
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
                    suite: s,
                    tx_key: ab.clone(),
                    rx_key: ba.clone(),
                },
                LegSetup {
                    relay: self.0.legs[1],
                    suite: s,
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
