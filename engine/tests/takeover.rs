//! Takeover between nodes sharing a real Redis (started and stopped here;
//! loopback only): `rampart run` processes killed with SIGKILL mid-call,
//! across the RTP sequence wrap, while two phones keep sending SRTP and
//! SRTCP and check everything they receive; a Redis restart under load;
//! both nodes killed and started again; a drain.
//!
//! The phones are UDP sockets with `rampart::srtp` contexts built from the
//! SDES keys in the SDP Rampart returned. They send every 4 ms per
//! direction, an SRTCP report every 80 ms, and count what arrives:
//! authentication failures, replays, the longest silence (the takeover
//! gap), and the SRTCP indexes (each must be higher than the last).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart::config::{Config, HaRole};
use rampart::control::sdes::CryptoAttr;
use rampart::control::sdp::Sdp;
use rampart::srtp::{Context, Policy, Suite};

use support::ng::*;
use support::redis::{free_port, Redis};
use support::{http_get, http_send, start_line_api, start_line_ng, Running};

const SUITE: Suite = Suite::AesCm128HmacSha1_80;
/// Between two packets of one phone.
const TICK: Duration = Duration::from_millis(4);

/// A Redis and the KEK file every node of a test shares.
struct Cluster {
    redis: Option<Redis>,
    redis_port: u16,
    dir: PathBuf,
    kek: PathBuf,
    prefix: String,
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = support::temp_dir(name);
        let redis_port = free_port();
        let redis = Redis::start(&dir, redis_port);
        let kek = dir.join("kek.hex");
        std::fs::write(&kek, "3c".repeat(32)).unwrap();
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
        Cluster {
            redis: Some(redis),
            redis_port,
            dir,
            kek,
            prefix: format!("{name}-{}", std::process::id()),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.redis_port)
    }

    /// Starts node `id` as a `rampart run` process with media ports from
    /// `port_min`.
    fn node(&self, id: &str, role: HaRole, port_min: u16) -> Node {
        self.node_with_ports(id, role, port_min, port_min + 199)
    }

    /// [`Cluster::node`] with media ports `port_min..=port_max`.
    fn node_with_ports(&self, id: &str, role: HaRole, port_min: u16, port_max: u16) -> Node {
        let mut c: Config = ng_config(port_min, 1, &format!("takeover-{id}"));
        c.media.port_max = port_max;
        c.media.addresses = vec!["127.0.0.1".parse().unwrap()];
        c.store.url = Some(self.url());
        c.store.kek_file = Some(self.kek.clone());
        c.store.prefix = self.prefix.clone();
        c.store.node_id = id.into();
        c.store.role = role;
        c.store.heartbeat_ms = 100;
        c.store.dead_after_ms = 500;
        c.store.checkpoint_ms = 200;
        let path = self.dir.join(format!("node-{id}-{port_min}.toml"));
        std::fs::write(&path, toml::to_string(&c).expect("config as TOML")).unwrap();
        Node::start(&path)
    }
}

/// A `rampart run` process.
struct Node {
    proc: Running,
    ng: SocketAddr,
    api: SocketAddr,
}

impl Node {
    fn start(config: &Path) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.arg("run").arg("--config").arg(config);
        let (proc, line) = Running::start(cmd);
        Node {
            proc,
            ng: start_line_ng(&line, "udp:"),
            api: start_line_api(&line),
        }
    }

    /// SIGKILL: no goodbye, no last write.
    fn kill9(mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }

    fn health(&self) -> serde_json::Value {
        let r = http_get(self.api, "/health");
        let body = &r[r.find("\r\n\r\n").map_or(0, |i| i + 4)..];
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/health ({e}): {r}"))
    }
}

/// One phone: its sockets and its SRTP contexts.
struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// Where it sends (Rampart's RTP address facing it).
    to: SocketAddr,
    tx: Context,
    rx: Context,
    ssrc: u32,
    seq: u16,
    /// What it received.
    got: u64,
    auth_failures: u64,
    replays: u64,
    last_rx: Option<Instant>,
    longest_gap: Duration,
    srtcp_got: u64,
    srtcp_failures: u64,
    last_srtcp_index: Option<u32>,
}

fn ctx_from(attr: &CryptoAttr) -> Context {
    let su = attr.suite().unwrap();
    Context::new(Policy::new(su, attr.keys[0].to_master_key(su).unwrap())).unwrap()
}

/// Where Rampart wants media in `sdp_text`, and its crypto lines.
fn target(sdp_text: &str) -> (SocketAddr, Vec<CryptoAttr>) {
    let sdp = Sdp::parse(sdp_text).expect("Rampart's SDP parses");
    let m = &sdp.media()[0];
    let ip = m.effective_connection(&sdp).unwrap().ip().unwrap();
    (SocketAddr::new(ip, m.port()), m.crypto().unwrap())
}

fn items<'a>(cmd: &str, call: &str, sdp_text: &str) -> Vec<(&'a str, B)> {
    let mut v = vec![
        ("sdp", s(sdp_text)),
        ("rampart-device", s(support::TEST_DEVICE)),
        ("call-id", s(call)),
        ("received-from", l(&["IP4", "127.0.0.1"])),
        ("from-tag", s("tag-1")),
    ];
    if cmd == "answer" {
        v.push(("to-tag", s("tag-2")));
    }
    v.push(("command", s(cmd)));
    v
}

/// Sets up an SDES-SRTP call through the node at `ng`; returns its two
/// phones, sequence numbers starting at `seq`.
fn call(ng: SocketAddr, id: &str, seq: u16) -> [Phone; 2] {
    let mut ng = Ng::new(ng);
    let [p1_rtp, p1_rtcp] = phone_sockets(Duration::from_millis(1));
    let [p2_rtp, p2_rtcp] = phone_sockets(Duration::from_millis(1));
    let (line1, k1) = crypto_line(1, SUITE, "");
    let m1 = m_lines("audio", "RTP/SAVP", "0", &p1_rtp, &p1_rtcp) + &line1;
    let r = ng.req(&items("offer", id, &sdp(1, &[m1])));
    ok(&r);
    let (to_p2, lines_to_p2) = target(get(&r, "sdp"));
    let line_p2 = lines_to_p2
        .iter()
        .find(|c| c.suite_name == SUITE.name())
        .expect("Rampart offers the suite");
    let (line2, k2) = crypto_line(line_p2.tag, SUITE, "");
    let m2 = m_lines("audio", "RTP/SAVP", "0", &p2_rtp, &p2_rtcp) + &line2;
    let r = ng.req(&items("answer", id, &sdp(1, &[m2])));
    ok(&r);
    let (to_p1, lines_to_p1) = target(get(&r, "sdp"));
    let phone = |rtp: UdpSocket, rtcp: UdpSocket, to, tx, rx, ssrc| {
        rtp.set_nonblocking(true).unwrap();
        rtcp.set_nonblocking(true).unwrap();
        Phone {
            rtp,
            rtcp,
            to,
            tx,
            rx,
            ssrc,
            seq,
            got: 0,
            auth_failures: 0,
            replays: 0,
            last_rx: None,
            longest_gap: Duration::ZERO,
            srtcp_got: 0,
            srtcp_failures: 0,
            last_srtcp_index: None,
        }
    };
    [
        phone(
            p1_rtp,
            p1_rtcp,
            to_p1,
            ctx_key(SUITE, &k1),
            ctx_from(&lines_to_p1[0]),
            0x1111_0001,
        ),
        phone(
            p2_rtp,
            p2_rtcp,
            to_p2,
            ctx_key(SUITE, &k2),
            ctx_from(line_p2),
            0x2222_0002,
        ),
    ]
}

fn srtcp_index(pkt: &[u8]) -> u32 {
    let at = pkt.len() - SUITE.srtcp_tag_len() - 4;
    u32::from_be_bytes(pkt[at..at + 4].try_into().unwrap()) & 0x7fff_ffff
}

impl Phone {
    fn send(&mut self, report: bool) {
        let payload = format!("media {} {:08x}", self.seq, self.ssrc).into_bytes();
        let mut pkt = rtp(self.seq, self.ssrc, &payload);
        let n = pkt.len();
        pkt.resize(n + 64, 0);
        let n = self.tx.protect_rtp(&mut pkt, n).expect("protect");
        let _ = self.rtp.send_to(&pkt[..n], self.to);
        self.seq = self.seq.wrapping_add(1);
        if report {
            let mut sr = vec![0x80, 200, 0, 6];
            sr.extend_from_slice(&self.ssrc.to_be_bytes());
            sr.extend_from_slice(&[0u8; 20]);
            let n = sr.len();
            sr.resize(n + 64, 0);
            let n = self.tx.protect_rtcp(&mut sr, n).expect("protect rtcp");
            let mut to = self.to;
            to.set_port(to.port() + 1);
            let _ = self.rtcp.send_to(&sr[..n], to);
        }
    }

    fn receive(&mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.rtp.recv_from(&mut buf) {
            match self.rx.unprotect_rtp(&mut buf[..n]) {
                Ok(_) => {
                    let now = Instant::now();
                    if let Some(t) = self.last_rx {
                        self.longest_gap = self.longest_gap.max(now - t);
                    }
                    self.last_rx = Some(now);
                    self.got += 1;
                }
                Err(rampart::Error::Replayed) | Err(rampart::Error::TooOld) => self.replays += 1,
                Err(_) => self.auth_failures += 1,
            }
        }
        while let Ok((n, _)) = self.rtcp.recv_from(&mut buf) {
            let index = srtcp_index(&buf[..n]);
            match self.rx.unprotect_rtcp(&mut buf[..n]) {
                Ok(_) => {
                    assert!(
                        self.last_srtcp_index.is_none_or(|l| index > l),
                        "SRTCP index {index} after {:?}",
                        self.last_srtcp_index
                    );
                    self.last_srtcp_index = Some(index);
                    self.srtcp_got += 1;
                }
                Err(_) => self.srtcp_failures += 1,
            }
        }
    }

    /// Forgets the longest gap (a new phase starts).
    fn new_phase(&mut self) {
        self.longest_gap = Duration::ZERO;
    }
}

/// Both phones send `steps` packets each (and a report every 20), and
/// receive; `at(step)` runs before each step.
fn talk(phones: &mut [Phone; 2], steps: usize, mut at: impl FnMut(usize, &mut [Phone; 2])) {
    let mut next = Instant::now();
    for i in 0..steps {
        at(i, phones);
        for p in phones.iter_mut() {
            p.send(i % 20 == 0);
        }
        next += TICK;
        while Instant::now() < next {
            for p in phones.iter_mut() {
                p.receive();
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let end = Instant::now() + Duration::from_millis(100);
    while Instant::now() < end {
        for p in phones.iter_mut() {
            p.receive();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_clean(phones: &[Phone; 2], what: &str) {
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(
            p.auth_failures, 0,
            "{what}: phone {i} saw authentication failures"
        );
        assert_eq!(p.replays, 0, "{what}: phone {i} saw replays");
        assert_eq!(p.srtcp_failures, 0, "{what}: phone {i} saw SRTCP failures");
        assert!(p.srtcp_got > 0, "{what}: phone {i} got no SRTCP");
    }
}

#[test]
fn kill_9_across_the_roc_wrap_loses_no_srtp() {
    let cl = Cluster::new("takeover-kill");
    let a = cl.node("a", HaRole::Active, 46200);
    let b = cl.node("b", HaRole::Standby, 46400);
    let mut phones = call(a.ng, "wrap@takeover", 65_300);
    // Phase 1: through node a; killed at sequence 65,500, before the wrap.
    let mut a = Some(a);
    let mut killed_at = None;
    talk(&mut phones, 1_000, |i, ph| {
        if ph[0].seq == 65_500 {
            if let Some(a) = a.take() {
                a.kill9();
                killed_at = Some(i);
                for p in ph.iter_mut() {
                    p.new_phase();
                }
            }
        }
    });
    assert!(killed_at.is_some());
    assert!(
        phones[0].seq < 65_300,
        "the sequence wrapped after the kill"
    );
    assert_clean(&phones, "after the first takeover");
    let gap1 = phones.iter().map(|p| p.longest_gap).max().unwrap();
    let h = b.health();
    assert_eq!(h["ha"]["adopted"], 1, "{h}");
    assert!(
        gap1 < Duration::from_secs(3),
        "media resumed after {gap1:?}"
    );
    let got_after_first: Vec<u64> = phones.iter().map(|p| p.got).collect();
    assert!(
        got_after_first.iter().all(|&g| g > 500),
        "{got_after_first:?}"
    );

    // Node a comes back (a new instance) and node b is killed later: a
    // takes the call back from b's checkpoints.
    let a = cl.node("a", HaRole::Active, 46200);
    for p in phones.iter_mut() {
        p.new_phase();
    }
    let mut b = Some(b);
    talk(&mut phones, 800, |i, ph| {
        if i == 300 {
            if let Some(b) = b.take() {
                b.kill9();
                for p in ph.iter_mut() {
                    p.new_phase();
                }
            }
        }
    });
    assert_clean(&phones, "after the second takeover");
    let gap2 = phones.iter().map(|p| p.longest_gap).max().unwrap();
    let h = a.health();
    assert_eq!(h["ha"]["adopted"], 1, "{h}");
    assert!(
        gap2 < Duration::from_secs(3),
        "media resumed after {gap2:?}"
    );
    for (p, before) in phones.iter().zip(&got_after_first) {
        assert!(p.got > before + 300, "media after the second takeover");
    }
    println!(
        "takeover gaps: {} ms (a killed at seq 65,500, b took over), {} ms (b killed, a took over); \
         phones got {} and {} packets, 0 auth failures, 0 replays, SRTCP {} and {} reports, indexes increasing",
        gap1.as_millis(),
        gap2.as_millis(),
        phones[0].got,
        phones[1].got,
        phones[0].srtcp_got,
        phones[1].srtcp_got,
    );
}

/// An ng request's `result` (and error reason) from the node at `ng`.
fn ng_result(ng: SocketAddr, cmd: &str, call: &str) -> String {
    let mut ng = Ng::new(ng);
    let r = ng.req(&[
        ("command", s(cmd)),
        ("call-id", s(call)),
        ("delete delay", B::I(0)),
    ]);
    format!("{} {r:?}", get(&r, "result"))
}

#[test]
fn both_nodes_killed_and_restarted_restore_calls_and_deleted_calls_stay_deleted() {
    let cl = Cluster::new("takeover-restart");
    let a = cl.node("a", HaRole::Active, 46600);
    let b = cl.node("b", HaRole::Standby, 46800);
    let mut kept = call(a.ng, "kept@takeover", 1_000);
    let _gone = call(a.ng, "gone@takeover", 2_000);
    talk(&mut kept, 50, |_, _| {});
    assert!(ng_result(a.ng, "delete", "gone@takeover").starts_with("ok"));
    std::thread::sleep(Duration::from_millis(400)); // a checkpoint
    a.kill9();
    b.kill9();
    // Node a starts again: its earlier life's calls come back at once.
    let a = cl.node("a", HaRole::Active, 46600);
    let kept_q = ng_result(a.ng, "query", "kept@takeover");
    assert!(kept_q.starts_with("ok"), "{kept_q}\n{}", a.health());
    let gone = ng_result(a.ng, "query", "gone@takeover");
    assert!(gone.contains("Unknown call-id"), "{gone}");
    for p in kept.iter_mut() {
        p.new_phase();
    }
    let before: Vec<u64> = kept.iter().map(|p| p.got).collect();
    talk(&mut kept, 200, |_, _| {});
    assert_clean(&kept, "after both nodes restarted");
    for (p, b) in kept.iter().zip(before) {
        assert!(p.got > b + 150, "media runs again");
    }
    assert_eq!(a.health()["calls"], 1);
}

#[test]
fn a_redis_restart_under_load_loses_no_call_and_no_event() {
    use rampart::control::store::redis::RedisStore;
    use rampart::control::store::{EventId, EventKind, StateStore};
    let mut cl = Cluster::new("takeover-redis");
    let a = cl.node("a", HaRole::Active, 48000);
    let b = cl.node("b", HaRole::Standby, 48200);
    let mut phones = call(a.ng, "steady@takeover", 30_000);
    let st = RedisStore::new(&cl.url(), &cl.prefix).unwrap();
    let log_before = st.events_after(&EventId::default(), 1000).unwrap();
    let mut redis_down_at = None;
    let mut during = None;
    talk(&mut phones, 900, |i, _| {
        if i == 100 {
            // Down for longer than dead_after_ms: no node may take
            // another's calls for that.
            cl.redis.take();
            redis_down_at = Some(Instant::now());
        }
        if i == 200 {
            // Signalling goes on while the store is away: a new call,
            // written when the store is back.
            let r = ng_result(a.ng, "query", "steady@takeover");
            assert!(r.starts_with("ok"), "{r}");
            during = Some(call(a.ng, "during@takeover", 50_000));
        }
        if i == 400 {
            cl.redis = Some(Redis::start(&cl.dir, cl.redis_port));
        }
    });
    assert!(redis_down_at.is_some());
    assert_clean(&phones, "across a Redis restart");
    let gap = phones.iter().map(|p| p.longest_gap).max().unwrap();
    assert!(gap < Duration::from_millis(250), "media stalled {gap:?}");
    assert_eq!(b.health()["ha"]["adopted"], 0, "nobody took a call over");
    assert_eq!(a.health()["ha"]["dropped_fenced"], 0);
    assert_eq!(a.health()["ha"]["store_connected"], true);
    // Every event from before is still there, in order, and the call too.
    let log_after = st.events_after(&EventId::default(), 1000).unwrap();
    assert_eq!(&log_after[..log_before.len()], &log_before[..]);
    assert!(log_after.iter().any(|e| e.kind == EventKind::Put));
    assert!(during.is_some());
    let owners = st.owners().unwrap();
    assert_eq!(
        owners.len(),
        2,
        "the call made while Redis was down is stored: {owners:?}"
    );
    assert!(
        owners.iter().all(|(_, o)| o.starts_with("a/")),
        "{owners:?}"
    );
    assert!(log_after
        .iter()
        .any(|e| e.call_id == "during@takeover" && e.kind == EventKind::Put));
}

#[test]
fn a_drain_hands_calls_to_the_other_node() {
    let cl = Cluster::new("takeover-drain");
    let a = cl.node("a", HaRole::Active, 48400);
    let b = cl.node("b", HaRole::Active, 48600);
    let mut phones = call(a.ng, "drained@takeover", 40_000);
    talk(&mut phones, 100, |_, _| {});
    // POST /ha/drain on a.
    let r = support::http_request(a.api, "POST", "/ha/drain");
    assert!(r.contains("\"handed_off\":1"), "{r}");
    for p in phones.iter_mut() {
        p.new_phase();
    }
    talk(&mut phones, 400, |_, _| {});
    assert_clean(&phones, "after a drain");
    let gap = phones.iter().map(|p| p.longest_gap).max().unwrap();
    assert!(gap < Duration::from_secs(2), "{gap:?}");
    assert_eq!(b.health()["ha"]["adopted"], 1);
    assert_eq!(a.health()["calls"], 0);
    // The drained node takes no new call; the other does.
    let [p_rtp, p_rtcp] = phone_sockets(Duration::from_millis(100));
    let (line, _) = crypto_line(1, SUITE, "");
    let m = m_lines("audio", "RTP/SAVP", "0", &p_rtp, &p_rtcp) + &line;
    let r = Ng::new(a.ng).req(&items(
        "offer",
        "new@takeover",
        &sdp(1, std::slice::from_ref(&m)),
    ));
    assert!(get(&r, "error-reason").contains("draining"), "{r:?}");
    ok(&Ng::new(b.ng).req(&items("offer", "new@takeover", &sdp(1, &[m]))));
    println!(
        "drain: media moved to the other node with a gap of {} ms",
        gap.as_millis()
    );
}

/// Takes over `n` calls at once: the adopter's heartbeat must keep
/// reaching the store all through the pass, or the other nodes would
/// judge it dead while it works (before the fix, a pass over 1,000 calls
/// silenced it for 2.3 s, longer than `dead_after_ms`).
#[test]
fn a_long_takeover_pass_keeps_the_adopters_heartbeat_going() {
    const CALLS: usize = 250;
    let cl = Cluster::new("takeover-many");
    // Both nodes on one range (2 ports a call with rtcp-mux).
    let a = cl.node_with_ports("a", HaRole::Active, 50400, 51599);
    let b = cl.node_with_ports("b", HaRole::Active, 50400, 51599);
    for i in 0..CALLS {
        let leg = |port: u16| {
            serde_json::json!({
                "suite": SUITE.name(), "rtcp_mux": true,
                "remote": format!("127.0.0.1:{port}"), "device": support::TEST_DEVICE,
            })
        };
        let body = serde_json::json!({"call_id": format!("many-{i}"), "legs": [leg(9), leg(7)]});
        let r = http_send(a.api, "POST", "/calls", &body.to_string());
        assert!(r.starts_with("HTTP/1.1 201"), "call {i}: {r}");
    }
    std::thread::sleep(Duration::from_millis(400)); // a checkpoint
    a.kill9();
    let deadline = Instant::now() + Duration::from_secs(60);
    let h = loop {
        let h = b.health();
        if h["calls"] == CALLS || Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(h["calls"], CALLS, "{h:#}");
    assert_eq!(h["ha"]["adopt_failed"], 0, "{h:#}");
    let gap = h["ha"]["longest_heartbeat_gap_ms"].as_u64().unwrap();
    // dead_after_ms is 500 (heartbeat 100).
    assert!(gap < 400, "the adopter went silent for {gap} ms: {h:#}");
    println!(
        "{CALLS} calls taken over in {} ms (from a's last heartbeat); b's longest heartbeat gap {gap} ms",
        h["ha"]["last_takeover_ms"]
    );
}
