//! What happens when a worker stalls (a test hook makes it sleep before
//! each control command):
//!
//! - a new call that reaches the worker only after the control plane
//!   stopped waiting for it is dropped, not kept: the control plane has
//!   forgotten it, so nobody could ever remove it (its ports would leak);
//! - datagrams that overflow a socket's receive queue meanwhile are
//!   counted from `SO_RXQ_OVFL` (per leg and per worker), and the socket
//!   keeps being served afterwards;
//! - on AF_XDP (across the veth topology of `support/netns.rs`), frames
//!   the kernel drops because the XSK's rx ring or fill ring ran out are
//!   counted per worker, and the XSK keeps being served.
//!
//! The hooks are part of each data plane's configuration, so these tests
//! run side by side with any other.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart::dataplane::*;
use support::netns::{self, Ns, Topology};

mod support;

fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x00];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    v.extend_from_slice(&0x5eed_u32.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn leg(socket: UdpSocket) -> LegFlows {
    support::plain_leg(socket, None, false)
}

fn slow_worker() {
    std::thread::sleep(Duration::from_millis(300));
}

/// A data plane of one worker on `backend`, whose worker sleeps before
/// each command; requests wait `ack_timeout` (default: 5 s).
fn stalling_plane(backend: BackendKind, ack_timeout: Option<Duration>) -> DataPlane {
    DataPlane::start(DataPlaneConfig {
        hooks: TestHooks {
            before_command: Some(slow_worker),
            ack_timeout,
            ..Default::default()
        },
        workers: 1,
        pin_cpus: false,
        backend,
        batch_size: 32,
        xdp: XdpSettings {
            interface: Some(netns::NODE_IF0.to_string()),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

/// Sets up call 9 (leg A from `phone_a` on `node_a`, leg B to `phone_b` on
/// `node_b`), relays a first packet, then stalls the worker 300 ms (a
/// command, behind the hook) while phone A sends `flood` packets; drains
/// what was relayed, and checks the leg is still served afterwards (three
/// late packets arrive). Returns leg A's counters and how many flood
/// packets arrived.
fn flood_a_stalled_worker(
    dp: &DataPlane,
    [node_a, node_b]: [UdpSocket; 2],
    [phone_a, phone_b]: [UdpSocket; 2],
    flood: u32,
    what: &str,
) -> (Arc<LegCounters>, u32) {
    let wait = Duration::from_secs(5);
    phone_b.set_read_timeout(Some(wait)).unwrap();
    let to_node_a = node_a.local_addr().unwrap();
    let leg_a = leg(node_a);
    let counters_a = Arc::clone(&leg_a.counters);
    let mut leg_b = leg(node_b);
    leg_b.remote_rtp = Some(phone_b.local_addr().unwrap());
    dp.add_call(CallFlows {
        id: 9,
        legs: [leg_a, leg_b],
    })
    .unwrap();
    let mut buf = [0u8; 2048];
    let mut seq = 1u16;
    phone_a.send_to(&rtp(seq, b"first"), to_node_a).unwrap();
    let n = phone_b.recv(&mut buf).unwrap();
    assert_eq!(&buf[12..n], b"first");
    std::thread::scope(|scope| {
        // A command that stalls the worker (the hook sleeps 300 ms before
        // it) while phone A floods leg A.
        let stall = scope.spawn(|| dp.update_leg(9, LegId::A, LegUpdate::default()));
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..flood {
            seq = seq.wrapping_add(1);
            let _ = phone_a.send_to(&rtp(seq, &[0x55; 160]), to_node_a);
        }
        stall.join().unwrap().unwrap();
    });
    // Whatever fit in the queue is relayed; the rest was dropped by the
    // kernel and is counted once the worker reads the next datagram.
    phone_b
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut relayed = 0u32;
    while phone_b.recv(&mut buf).is_ok() {
        relayed += 1;
    }
    phone_b.set_read_timeout(Some(wait)).unwrap();
    // The leg is still served.
    for i in 0..3u8 {
        seq = seq.wrapping_add(1);
        let payload = [b'l', b'a', b't', b'e', i];
        phone_a.send_to(&rtp(seq, &payload), to_node_a).unwrap();
        let n = phone_b.recv(&mut buf).unwrap();
        assert_eq!(&buf[12..n], &payload, "{what}: relayed after the overflow");
    }
    (counters_a, relayed)
}

#[test]
fn xsk_ring_overflow_is_counted_and_the_xsk_kept() {
    let Some(topo) = Topology::new("stall-xdp") else {
        return;
    };
    let dp = {
        let _in = topo.enter(Ns::Node);
        stalling_plane(BackendKind::Xdp, None)
    };
    assert_eq!(dp.backend(), BackendKind::Xdp, "{}", dp.backend_detail());
    let wait = Duration::from_secs(5);
    let node = [0, 1].map(|_| topo.udp(Ns::Node, netns::node_ip4(), wait));
    let phones = [0, 1].map(|i| topo.udp(Ns::Phones, netns::phone_ip4(i), wait));
    // More than the XSK's rings hold (4,096 frames each).
    let (_, relayed) = flood_a_stalled_worker(&dp, node, phones, 10_000, "xdp");
    let w = dp.worker_stats()[0].snapshot();
    assert!(w.xdp_rx > 0, "{w:?}");
    assert!(
        w.kernel_drops > 0,
        "drops counted: {w:?} (relayed {relayed})"
    );
    // Nothing is lost without a trace: what the phone sent was either
    // received through the XSK or counted as dropped by the kernel (the
    // veth itself may drop some too, before XDP: those are not ours).
    assert!(w.xdp_rx + w.kernel_drops <= 10_005, "{w:?}");
    dp.shutdown();
}

#[test]
fn a_call_that_arrives_after_the_timeout_is_dropped_not_leaked() {
    for backend in [BackendKind::Mmsg, BackendKind::Auto] {
        let dp = stalling_plane(backend, Some(Duration::from_millis(50)));
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addrs = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let r = dp.add_call(CallFlows {
            id: 7,
            legs: [leg(a), leg(b)],
        });
        assert!(matches!(r, Err(DataPlaneError::Timeout)), "{r:?}");
        // The control plane forgot the call...
        assert!(matches!(
            dp.remove_call(7),
            Err(DataPlaneError::UnknownCall(7))
        ));
        // ...and the worker, once it gets to it, drops it: it holds no
        // call and the ports are free again (bounded wait).
        let w = Arc::clone(&dp.worker_stats()[0]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = w.snapshot();
            let free = addrs.iter().all(|&x| UdpSocket::bind(x).is_ok());
            if s.commands >= 1 && s.calls == 0 && free {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend}: the late call was kept: {s:?}, ports free: {free}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        dp.shutdown();
    }
}

#[test]
fn receive_queue_overflow_is_counted_and_the_socket_kept() {
    for backend in [BackendKind::Mmsg, BackendKind::Auto] {
        let dp = stalling_plane(backend, None);
        let node_a = UdpSocket::bind("127.0.0.1:0").unwrap();
        // A small receive queue (the kernel rounds it up to a few packets).
        socket2::SockRef::from(&node_a)
            .set_recv_buffer_size(2048)
            .unwrap();
        let node_b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let phones = [0, 1].map(|_| UdpSocket::bind("127.0.0.1:0").unwrap());
        let what = backend.to_string();
        let (counters_a, _) = flood_a_stalled_worker(&dp, [node_a, node_b], phones, 3_000, &what);
        let a = counters_a.snapshot();
        let w = dp.worker_stats()[0].snapshot();
        assert!(a.dropped_overload > 0, "{backend}: {a:?}");
        assert!(w.kernel_drops > 0, "{backend}: {w:?}");
        assert_eq!(w.kernel_drops, a.dropped_overload, "{backend}");
        dp.shutdown();
    }
}
