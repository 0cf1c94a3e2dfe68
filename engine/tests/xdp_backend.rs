//! The AF_XDP backend on a veth topology made by the test (network
//! namespaces; needs root, as CI has): which mode the probe picks and why,
//! that media really goes through the XSK (its counters), and each
//! fallback: zero-copy refused (veth) → copy, generic forced, loopback →
//! io_uring, another interface → the kernel socket, a queue the XSK is not
//! bound to → the kernel socket, no BPF privilege → io_uring, no native
//! XDP (a bridge) → generic mode, a wildcard media address and no
//! interface named → io_uring with the reason. The relay
//! scenarios (re-key, bridge, passthrough, latching, RTCP, overload) run on
//! xdp in `dataplane_e2e::netns_xdp`.

mod support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use rampart::dataplane::{
    BackendKind, CallFlows, DataPlane, DataPlaneConfig, ForwardMode, LatchMode, LegCounters,
    LegFlows, WorkerStats, XdpAttach, XdpSettings,
};
use support::netns::{self, Ns, Topology, NODE_IF0};

const WAIT: Duration = Duration::from_secs(3);

fn settings(attach: XdpAttach) -> XdpSettings {
    XdpSettings {
        interface: Some(NODE_IF0.to_string()),
        media_address: Some(netns::node_ip4()),
        attach,
        zero_copy: true,
    }
}

/// Starts a one-worker data plane inside the node namespace.
fn start(topo: &Topology, backend: BackendKind, xdp: XdpSettings, workers: usize) -> DataPlane {
    let _in = topo.enter(Ns::Node);
    DataPlane::start(DataPlaneConfig {
        workers,
        backend,
        xdp,
        ..Default::default()
    })
    .expect("data plane starts")
}

/// A plain-RTP leg: the node's socket (in the node namespace, on `node`)
/// and the phone's (in `ns`, on `phone`), the phone's address signalled.
fn leg(topo: &Topology, node: IpAddr, ns: Ns, phone: IpAddr) -> (LegFlows, UdpSocket, SocketAddr) {
    let node_sock = topo.udp(Ns::Node, node, WAIT);
    let node_addr = node_sock.local_addr().unwrap();
    let phone_sock = topo.udp(ns, phone, WAIT);
    let flows = LegFlows {
        rtp_socket: node_sock.into(),
        rtcp_socket: None,
        rtcp_mux: false,
        remote_rtp: Some(phone_sock.local_addr().unwrap()),
        remote_rtcp: None,
        latch: LatchMode::Authenticated,
        srtp_in: None,
        srtp_out: None,
        forward: ForwardMode::Transcode,
        counters: LegCounters::new(),
    };
    (flows, phone_sock, node_addr)
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(seq as u8, 160));
    p
}

struct Pair {
    a: UdpSocket,
    b: UdpSocket,
    to_a: SocketAddr,
    to_b: SocketAddr,
    counters: [Arc<LegCounters>; 2],
}

fn call(
    dp: &DataPlane,
    id: u64,
    a: (LegFlows, UdpSocket, SocketAddr),
    b: (LegFlows, UdpSocket, SocketAddr),
) -> Pair {
    let counters = [Arc::clone(&a.0.counters), Arc::clone(&b.0.counters)];
    dp.add_call(CallFlows {
        id,
        legs: [a.0, b.0],
    })
    .unwrap();
    Pair {
        a: a.1,
        b: b.1,
        to_a: a.2,
        to_b: b.2,
        counters,
    }
}

/// `n` packets each way, one at a time; every one must arrive intact.
fn exchange(p: &Pair, n: u16) {
    let mut buf = [0u8; 2048];
    for seq in 0..n {
        let pkt = rtp(seq, 0x1111);
        p.a.send_to(&pkt, p.to_a).unwrap();
        let (len, from) = p.b.recv_from(&mut buf).expect("A→B packet arrives");
        assert_eq!(&buf[..len], &pkt[..], "A→B bytes");
        assert_eq!(from, p.to_b, "B hears the node from B's leg socket");
        let pkt = rtp(seq, 0x2222);
        p.b.send_to(&pkt, p.to_b).unwrap();
        let (len, from) = p.a.recv_from(&mut buf).expect("B→A packet arrives");
        assert_eq!(&buf[..len], &pkt[..], "B→A bytes");
        assert_eq!(from, p.to_a);
    }
}

/// Exchanges single packets until both directions go out on the XSK's tx
/// ring: until then a next hop the node has not resolved yet takes the
/// slow path (the kernel resolves it; the backend asks again after 100 ms).
/// Bounded: 60 rounds, 50 ms apart.
fn warm_up(dp: &DataPlane, p: &Pair) {
    for _ in 0..60 {
        let before = stats(dp).xdp_tx;
        exchange(p, 1);
        if stats(dp).xdp_tx == before + 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the XSK path never carried both directions: {:?}",
        stats(dp)
    );
}

fn stats(dp: &DataPlane) -> WorkerStats {
    let mut t = WorkerStats::default();
    for w in dp.worker_stats() {
        let s = w.snapshot();
        t.packets_received += s.packets_received;
        t.packets_relayed += s.packets_relayed;
        t.xdp_rx += s.xdp_rx;
        t.xdp_tx += s.xdp_tx;
        t.xdp_slow_tx += s.xdp_slow_tx;
        t.xdp_rx_rejected += s.xdp_rx_rejected;
    }
    t
}

#[test]
fn xdp_runs_in_copy_mode_on_veth_and_media_goes_through_the_xsk() {
    let Some(topo) = Topology::new("xdp-copy") else {
        return;
    };
    let dp = start(&topo, BackendKind::Xdp, settings(XdpAttach::Auto), 1);
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    let detail = dp.backend_detail().to_string();
    assert!(detail.contains("xdp native copy on rn0"), "{detail}");
    // veth has no zero-copy: the probe tried it first and says why not.
    assert!(detail.contains("EOPNOTSUPP"), "{detail}");

    let a = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(0));
    let b = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(1));
    let p = call(&dp, 1, a, b);
    warm_up(&dp, &p);
    let before = stats(&dp);
    let legs = [0, 1].map(|i| p.counters[i].snapshot());
    exchange(&p, 50);
    let s = stats(&dp);
    // Every packet came in through the XSK and went out on its tx ring.
    assert_eq!(s.xdp_rx - before.xdp_rx, 100, "{s:?}");
    assert_eq!(s.xdp_tx - before.xdp_tx, 100, "{s:?}");
    assert_eq!(s.xdp_slow_tx, before.xdp_slow_tx, "{s:?}");
    assert_eq!(s.packets_relayed - before.packets_relayed, 100, "{s:?}");
    assert_eq!(s.xdp_rx_rejected, 0, "{s:?}");
    assert_eq!(p.counters[0].snapshot().packets_in - legs[0].packets_in, 50);
    assert_eq!(
        p.counters[1].snapshot().packets_out - legs[1].packets_out,
        50
    );
    dp.shutdown();
    // The program is gone with the data plane.
    let link = topo.ip(Ns::Node, &["link", "show", "dev", NODE_IF0]);
    assert!(!link.contains("prog/xdp"), "program still attached: {link}");
}

#[test]
fn xdp_over_ipv6() {
    let Some(topo) = Topology::new("xdp-v6") else {
        return;
    };
    let dp = start(&topo, BackendKind::Xdp, settings(XdpAttach::Auto), 1);
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    let a = leg(&topo, netns::node_ip6(), Ns::Phones, netns::phone_ip6(0));
    let b = leg(&topo, netns::node_ip6(), Ns::Phones, netns::phone_ip6(1));
    let p = call(&dp, 1, a, b);
    warm_up(&dp, &p);
    let before = stats(&dp);
    exchange(&p, 30);
    let s = stats(&dp);
    assert_eq!(s.xdp_rx - before.xdp_rx, 60, "{s:?}");
    assert_eq!(s.xdp_tx - before.xdp_tx, 60, "{s:?}");
    dp.shutdown();
}

#[test]
fn xdp_generic_mode_when_forced() {
    let Some(topo) = Topology::new("xdp-generic") else {
        return;
    };
    let dp = start(&topo, BackendKind::Xdp, settings(XdpAttach::Generic), 1);
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    assert!(
        dp.backend_detail().contains("xdp generic copy on rn0"),
        "{}",
        dp.backend_detail()
    );
    let link = topo.ip(Ns::Node, &["link", "show", "dev", NODE_IF0]);
    assert!(link.contains("xdpgeneric"), "{link}");
    let a = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(0));
    let b = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(1));
    let p = call(&dp, 1, a, b);
    warm_up(&dp, &p);
    let before = stats(&dp);
    exchange(&p, 30);
    assert_eq!(stats(&dp).xdp_tx - before.xdp_tx, 60, "{:?}", stats(&dp));
    dp.shutdown();
}

#[test]
fn native_refused_falls_back_to_generic_mode() {
    let Some(topo) = Topology::new("xdp-bridge") else {
        return;
    };
    // A bridge has no native XDP: the probe must say so and
    // attach in generic mode.
    topo.ip(Ns::Node, &["link", "add", "rd0", "type", "bridge"]);
    topo.ip(Ns::Node, &["addr", "add", "203.0.113.77/32", "dev", "rd0"]);
    topo.ip(Ns::Node, &["link", "set", "rd0", "up"]);
    let dp = start(
        &topo,
        BackendKind::Xdp,
        XdpSettings {
            interface: None,
            media_address: Some(IpAddr::from([203, 0, 113, 77])),
            attach: XdpAttach::Auto,
            zero_copy: true,
        },
        1,
    );
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    let detail = dp.backend_detail().to_string();
    assert!(detail.contains("xdp generic copy on rd0"), "{detail}");
    assert!(detail.contains("Native attach"), "{detail}");
    dp.shutdown();
}

#[test]
fn a_wildcard_media_address_needs_an_interface() {
    let dp = DataPlane::start(DataPlaneConfig {
        workers: 1,
        backend: BackendKind::Xdp,
        xdp: XdpSettings {
            media_address: Some(IpAddr::from([0, 0, 0, 0])),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    assert_ne!(dp.backend(), BackendKind::Xdp);
    assert!(
        dp.backend_detail().contains("xdp_interface"),
        "{}",
        dp.backend_detail()
    );
    dp.shutdown();
}

#[test]
fn auto_on_loopback_runs_uring_and_says_why() {
    let dp = DataPlane::start(DataPlaneConfig {
        workers: 1,
        backend: BackendKind::Auto,
        xdp: XdpSettings {
            media_address: Some(IpAddr::from([127, 0, 0, 1])),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    assert_ne!(dp.backend(), BackendKind::Xdp);
    assert!(
        dp.backend_detail().contains("loopback"),
        "{}",
        dp.backend_detail()
    );
    dp.shutdown();
}

#[test]
fn a_leg_on_another_interface_takes_the_kernel_path() {
    let Some(topo) = Topology::new("xdp-2if") else {
        return;
    };
    let dp = start(&topo, BackendKind::Xdp, settings(XdpAttach::Auto), 1);
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    // A on rn0 (the XSK's interface), B behind rn1.
    let a = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(0));
    let b = leg(&topo, netns::node2_ip4(), Ns::Phones2, netns::phone2_ip4());
    let p = call(&dp, 1, a, b);
    exchange(&p, 30);
    let s = stats(&dp);
    // A's packets arrive on the XSK and leave toward B through B's kernel
    // socket; B's arrive on the kernel socket (no XDP on rn1).
    assert!(s.xdp_rx >= 30, "{s:?}");
    assert!(s.xdp_slow_tx >= 30, "{s:?}");
    assert!(s.packets_received >= 60, "{s:?}");
    dp.shutdown();
}

#[test]
fn a_queue_without_an_xsk_goes_through_the_kernel_socket() {
    let Some(topo) = Topology::new("xdp-queues") else {
        return;
    };
    // Two queues on both ends; one worker binds an XSK on queue 0 only.
    topo.exec(Ns::Node, &["ethtool", "-L", NODE_IF0, "rx", "2", "tx", "2"]);
    topo.exec(Ns::Phones, &["ethtool", "-L", "rp0", "rx", "2", "tx", "2"]);
    let dp = start(&topo, BackendKind::Xdp, settings(XdpAttach::Native), 1);
    assert!(
        dp.backend_detail().contains("(1 of 2 queues)"),
        "{}",
        dp.backend_detail()
    );
    // Many phone sockets: their flows hash over both tx queues of rp0.
    let mut pairs = Vec::new();
    for id in 0..8 {
        let a = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(0));
        let b = leg(&topo, netns::node_ip4(), Ns::Phones, netns::phone_ip4(1));
        pairs.push(call(&dp, id, a, b));
    }
    for p in &pairs {
        exchange(p, 10);
    }
    let s = stats(&dp);
    assert_eq!(s.packets_received, 160, "{s:?}");
    // Both paths carried media.
    assert!(s.xdp_rx > 0 && s.xdp_rx < 160, "{s:?}");
    dp.shutdown();
}

#[test]
fn without_bpf_privilege_the_node_falls_back_to_io_uring() {
    let Some(topo) = Topology::new("xdp-noperm") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_rampart");
    let node = topo.ns_name(Ns::Node);
    // The node without CAP_BPF / CAP_NET_ADMIN / CAP_SYS_ADMIN: loading
    // the program is refused, the node says so and runs io_uring.
    let mut child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &node,
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-bpf,-net_admin,-sys_admin,-perfmon",
            "--",
        ])
        .args([
            bin,
            "run",
            "--backend",
            "xdp",
            "--workers",
            "1",
            "--media-address",
            "198.51.100.2",
            "--http-listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn rampart");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("backend uring") || line.contains("backend mmsg"),
        "{line}"
    );
    assert!(line.contains("xdp:") && line.contains("EPERM"), "{line}");
}
