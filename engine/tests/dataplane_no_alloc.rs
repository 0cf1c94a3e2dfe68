//! Proves the packet path makes zero heap allocations per relayed packet
//! in steady state, through the real worker loop and sockets.
//!
//! A counting global allocator counts only while armed, and only on
//! threads marked as data-plane workers (the worker start hook marks them),
//! so the test's own phone code may allocate freely. The mmsg and io_uring
//! backends run on loopback; the AF_XDP backend across the veth topology
//! of `support/netns.rs` (root), with its next-hop cache refreshed during
//! the measured window.
#![allow(unsafe_code)] // a counting global allocator

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rampart::dataplane::*;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use support::netns::{self, Ns, Topology};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if ARMED.load(Ordering::Relaxed) && IS_WORKER.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counting touches only atomics and a const-initialised thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mark_worker() {
    IS_WORKER.with(|w| w.set(true));
}

const WAIT: Duration = Duration::from_secs(10);

fn ctx(suite: Suite, seed: u8) -> Context {
    let k = MasterKey::new(
        suite,
        &vec![seed; suite.master_key_len()],
        &vec![seed; suite.master_salt_len()],
    )
    .unwrap();
    Context::new(Policy::new(suite, k)).unwrap()
}

/// Where the sockets live: loopback, or the namespace topology (node
/// sockets on the node's `rn0` address, phones on the phones' link).
struct Net(Option<Topology>);

impl Net {
    fn node(&self) -> UdpSocket {
        match &self.0 {
            None => bind(),
            Some(t) => t.udp(Ns::Node, netns::node_ip4(), WAIT),
        }
    }

    fn phone(&self, n: usize) -> UdpSocket {
        match &self.0 {
            None => bind(),
            Some(t) => t.udp(Ns::Phones, netns::phone_ip4(n), WAIT),
        }
    }
}

fn bind() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn rtp(seq: u16, ssrc: u32, buf: &mut [u8]) -> usize {
    buf[0] = 0x80;
    buf[1] = 0x60;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[12..172].fill(seq as u8);
    172
}

fn rtcp(ssrc: u32, buf: &mut [u8]) -> usize {
    buf[..4].copy_from_slice(&[0x80, 201, 0, 1]);
    buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
    8
}

fn recv(sock: &UdpSocket, buf: &mut [u8]) -> usize {
    for _ in 0..100 {
        match sock.recv_from(buf) {
            Ok((n, _)) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("not relayed in time: {e}"),
        }
    }
    panic!("recv kept being interrupted")
}

fn relay_without_allocating(kind: BackendKind) {
    let net = if kind == BackendKind::Xdp {
        match Topology::new("no-alloc") {
            Some(t) => Net(Some(t)),
            None => return,
        }
    } else {
        Net(None)
    };
    let dp = {
        let _in = net.0.as_ref().map(|t| t.enter(Ns::Node));
        DataPlane::start(DataPlaneConfig {
            workers: 1,
            pin_cpus: false,
            backend: kind,
            batch_size: 32,
            xdp: XdpSettings {
                interface: Some(netns::NODE_IF0.to_string()),
                ..Default::default()
            },
            hooks: TestHooks {
                worker_start: Some(mark_worker),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
    };
    if kind == BackendKind::Uring && dp.backend() != BackendKind::Uring {
        eprintln!("io_uring unavailable; skipping the uring variant");
        return;
    }
    if kind == BackendKind::Xdp {
        assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    }
    let (node_a, node_b) = (net.node(), net.node());
    let (phone_a, phone_b) = (net.phone(0), net.phone(1));
    let to_a = node_a.local_addr().unwrap();
    let (ca, cb) = (LegCounters::new(), LegCounters::new());
    let suite_a = Suite::AesCm128HmacSha1_80;
    let suite_b = Suite::AeadAes128Gcm;
    dp.add_call(CallFlows {
        id: 1,
        legs: [
            LegFlows {
                rtp_socket: node_a.into(),
                rtcp_socket: None,
                rtcp_mux: false,
                remote_rtp: None,
                remote_rtcp: None,
                latch: LatchMode::Authenticated,
                srtp_in: Some(ctx(suite_a, 1)),
                srtp_out: Some(ctx(suite_a, 2)),
                forward: ForwardMode::Transcode,
                counters: ca.clone(),
            },
            LegFlows {
                rtp_socket: node_b.into(),
                rtcp_socket: None,
                rtcp_mux: false,
                remote_rtp: Some(phone_b.local_addr().unwrap()),
                remote_rtcp: None,
                latch: LatchMode::Authenticated,
                srtp_in: Some(ctx(suite_b, 3)),
                srtp_out: Some(ctx(suite_b, 4)),
                forward: ForwardMode::Transcode,
                counters: cb.clone(),
            },
        ],
    })
    .unwrap();
    let mut tx_a = ctx(suite_a, 1);
    let mut rx_b = ctx(suite_b, 4);
    let mut buf = [0u8; 2048];
    let mut seq = 0u16;
    let mut relay = |n: usize, seq: &mut u16| {
        let mut sent = 0usize;
        while sent < n {
            let burst = (n - sent).min(16);
            for k in 0..burst {
                let len = if k == 7 {
                    rtcp(0xaaaa, &mut buf)
                } else {
                    *seq = seq.wrapping_add(1);
                    rtp(*seq, 0xaaaa, &mut buf)
                };
                let len = if k == 7 {
                    tx_a.protect_rtcp(&mut buf, len).unwrap()
                } else {
                    tx_a.protect_rtp(&mut buf, len).unwrap()
                };
                phone_a.send_to(&buf[..len], to_a).unwrap();
            }
            for k in 0..burst {
                let len = recv(&phone_b, &mut buf);
                let r = if k == 7 {
                    rx_b.unprotect_rtcp(&mut buf[..len])
                } else {
                    rx_b.unprotect_rtp(&mut buf[..len])
                };
                r.expect("authentic at B");
            }
            sent += burst;
        }
    };
    // Warm-up: streams, latches, lazily grown state (on xdp: the next
    // hop, resolved once the kernel has; see `HOP_RETRY`).
    relay(500, &mut seq);
    let settle = |want: u64| {
        let deadline = Instant::now() + WAIT;
        while cb.snapshot().packets_out != want {
            assert!(Instant::now() < deadline, "counters did not settle");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    settle(500);
    let mut warm = 500u64;
    if kind == BackendKind::Xdp {
        std::thread::sleep(Duration::from_millis(200));
        relay(100, &mut seq);
        warm += 100;
        settle(warm);
    }
    ALLOCS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    relay(5_000, &mut seq);
    if kind == BackendKind::Xdp {
        // Past the next-hop cache's lifetime: the refresh (netlink route
        // and neighbour queries) runs inside the measured window too.
        std::thread::sleep(Duration::from_millis(5_200));
        relay(200, &mut seq);
        warm += 200;
    }
    settle(warm + 5_000);
    ARMED.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    eprintln!(
        "{}: {allocs} allocations on the worker for 5000 relayed packets; worker {:?}",
        dp.backend(),
        dp.worker_stats()[0].snapshot()
    );
    let a = ca.snapshot();
    assert_eq!(a.dropped_total(), 0, "{a:?}");
    assert_eq!(cb.snapshot().packets_out, warm + 5_000);
    if kind == BackendKind::Xdp {
        let w = dp.worker_stats()[0].snapshot();
        assert!(w.xdp_tx >= 5_000, "the XSK path carried the packets: {w:?}");
    }
    assert_eq!(
        allocs, 0,
        "{allocs} heap allocations on the worker while relaying 5000 packets"
    );
    // Positive control: the counter does see the worker's allocations
    // (tearing a call down allocates on the worker thread).
    ARMED.store(true, Ordering::SeqCst);
    dp.remove_call(1).unwrap();
    ARMED.store(false, Ordering::SeqCst);
    assert!(
        ALLOCS.load(Ordering::SeqCst) > 0,
        "the counting allocator saw no worker allocation at all"
    );
    ALLOCS.store(0, Ordering::SeqCst);
    dp.shutdown();
}

#[test]
fn zero_allocations_per_packet() {
    // One test so the armed window sees one data plane at a time.
    relay_without_allocating(BackendKind::Mmsg);
    relay_without_allocating(BackendKind::Uring);
    relay_without_allocating(BackendKind::Xdp);
}
