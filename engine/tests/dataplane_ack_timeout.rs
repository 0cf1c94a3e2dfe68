//! A worker that gets to a new call only after the control plane stopped
//! waiting for it must not keep the call: the control plane has forgotten
//! it, so nobody could ever remove it (its sockets and ports would leak).
//!
//! Its own test binary: the hooks it installs (a worker that sleeps before
//! each command, a short ack timeout) apply to every data plane started in
//! the process afterwards.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart::dataplane::*;

fn leg(socket: UdpSocket) -> LegFlows {
    LegFlows {
        rtp_socket: socket,
        rtcp_socket: None,
        remote_rtp: None,
        remote_rtcp: None,
        latch: LatchMode::default(),
        srtp_in: None,
        srtp_out: None,
        forward: ForwardMode::default(),
        counters: Arc::new(LegCounters::default()),
    }
}

fn slow_worker() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn a_call_that_arrives_after_the_timeout_is_dropped_not_leaked() {
    set_test_hooks(TestHooks {
        before_command: Some(slow_worker),
        ack_timeout: Some(Duration::from_millis(50)),
    });
    for backend in [BackendKind::Mmsg, BackendKind::Auto] {
        let dp = DataPlane::start(DataPlaneConfig {
            workers: 1,
            pin_cpus: false,
            backend,
            batch_size: 32,
        })
        .unwrap();
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
