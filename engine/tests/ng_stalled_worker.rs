//! Signalling goes on while a data-plane worker is stalled.
//!
//! A command on a call waits, bounded, for its worker's ack. One stalled
//! worker must hold up only the commands on its own calls: ng commands on
//! other calls, new calls, listings, statistics and the HTTP API answer at
//! once. The stall comes from the data plane's `before_command` hook (a
//! test hook passed in the node's start, not a global setting of the node),
//! which sleeps on worker 0's thread while the test arms it.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart::control::Node;
use rampart::dataplane::TestHooks;
use support::ng::{get, l, m_lines, ng_config, ok, phone_sockets, s, sdp, Ng, B};

/// Armed: worker 0 sleeps [`STALL`] before its next command.
static STALL_ARMED: AtomicBool = AtomicBool::new(false);
/// Below the 5 s a command waits for a worker's ack.
const STALL: Duration = Duration::from_millis(4000);

fn stall_worker_0() {
    if std::thread::current().name() == Some("rampart-w0")
        && STALL_ARMED.swap(false, Ordering::SeqCst)
    {
        std::thread::sleep(STALL);
    }
}

fn items<'a>(cmd: &str, call: &str, sdp: &str) -> Vec<(&'a str, B)> {
    let mut v = vec![
        ("sdp", s(sdp)),
        ("rampart-device", s(support::TEST_DEVICE)),
        ("call-id", s(call)),
        ("received-from", l(&["IP4", "127.0.0.1"])),
        ("from-tag", s("tagA")),
    ];
    if cmd == "answer" {
        v.push(("to-tag", s("tagB")));
    }
    v.push(("command", s(cmd)));
    v
}

/// A plain-RTP media section for a phone on fresh sockets.
fn audio() -> (String, [std::net::UdpSocket; 2]) {
    let [rtp, rtcp] = phone_sockets(Duration::from_secs(2));
    (m_lines("audio", "RTP/AVP", "0", &rtp, &rtcp), [rtp, rtcp])
}

/// Offer and answer: the answer starts the call on a worker.
fn call(ng: &mut Ng, id: &str) -> Vec<std::net::UdpSocket> {
    let (ma, a) = audio();
    let (mb, b) = audio();
    ok(&ng.req(&items("offer", id, &sdp(1, &[ma]))));
    ok(&ng.req(&items("answer", id, &sdp(1, &[mb]))));
    a.into_iter().chain(b).collect()
}

#[test]
fn a_stalled_worker_does_not_stall_signalling_for_other_calls() {
    let node = Node::start_with_hooks(
        ng_config(45000, 2, "ng-stall"),
        TestHooks {
            before_command: Some(stall_worker_0),
            ..TestHooks::default()
        },
    )
    .expect("node starts");
    let ng_addr = node.info().ng.udp.expect("ng listens");
    let mut ng = Ng::new(ng_addr);
    // Call 1 lands on worker 0, call 2 on worker 1 (fewest calls first).
    let _p1 = call(&mut ng, "stall-1");
    let _p2 = call(&mut ng, "stall-2");

    // A re-offer moves call 1's caller; its answer moves the callee: the
    // answer updates call 1 on worker 0, which sleeps before it.
    let (moved, _s1) = audio();
    ok(&ng.req(&items("offer", "stall-1", &sdp(2, &[moved]))));
    STALL_ARMED.store(true, Ordering::SeqCst);
    let blocked = std::thread::spawn(move || {
        let mut ng = Ng::new(ng_addr);
        let (moved, _sockets) = audio();
        let t = Instant::now();
        let r = ng.req(&items("answer", "stall-1", &sdp(2, &[moved])));
        (r, t.elapsed())
    });
    // Let the stalled command reach the worker.
    let t0 = Instant::now();
    while STALL_ARMED.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !STALL_ARMED.load(Ordering::SeqCst),
        "worker 0 took the stalled command"
    );

    // Meanwhile, everything else answers at once.
    let started = Instant::now();
    assert_eq!(get(&ng.req(&[("command", s("ping"))]), "result"), "pong");
    let q = ng.req(&[("command", s("query")), ("call-id", s("stall-2"))]);
    ok(&q);
    // A re-offer and answer on call 2 change worker 1's call.
    let (m2, _s2) = audio();
    ok(&ng.req(&items("offer", "stall-2", &sdp(2, &[m2]))));
    let (m3, _s3) = audio();
    ok(&ng.req(&items("answer", "stall-2", &sdp(2, &[m3]))));
    // A new call's offer, the list and the statistics.
    let (m4, _s4) = audio();
    ok(&ng.req(&items("offer", "stall-3", &sdp(1, &[m4]))));
    let list = ng.req(&[("command", s("list"))]);
    ok(&list);
    ok(&ng.req(&[("command", s("statistics"))]));
    // The HTTP API: health, the call list, metrics.
    let api = node.info().api_addr;
    for path in ["/health", "/calls", "/metrics"] {
        let resp = support::http_get(api, path);
        assert!(resp.starts_with("HTTP/1.1 200"), "{path}: {resp}");
    }
    let calls = support::http_get(api, "/calls");
    assert!(
        calls.contains("stall-1") && calls.contains("stall-3"),
        "{calls}"
    );
    // Call 2 ends while call 1's command still waits.
    ok(&ng.req(&[
        ("command", s("delete")),
        ("call-id", s("stall-2")),
        ("delete delay", B::I(0)),
    ]));
    // All of that happened while the stalled command waited: none of it
    // waited for the stalled worker.
    assert!(
        !blocked.is_finished(),
        "signalling for other calls waited for the stalled worker ({:?})",
        started.elapsed()
    );

    // The stalled command completes once the worker wakes.
    let (r, waited) = blocked.join().unwrap();
    ok(&r);
    assert!(
        waited >= STALL / 2,
        "the command waited for its worker ({waited:?})"
    );
    // And call 1 takes commands again.
    ok(&ng.req(&[("command", s("query")), ("call-id", s("stall-1"))]));
    node.shutdown();
}
