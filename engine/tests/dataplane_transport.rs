//! The hand-over of a WebRTC leg's STUN and DTLS to the control plane
//! (`dataplane::transport`), on every socket backend, on loopback:
//!
//! - a leg switched to transport hands its STUN and DTLS datagrams over
//!   (call, leg, socket, source and bytes intact); a leg that is not drops
//!   them as before;
//! - `DataPlane::send_from` sends from the leg's own socket, so the peer
//!   sees the answer come from the port it talked to, and so does a clone
//!   of that socket (`DataPlane::leg_socket`);
//! - a flood of ClientHellos beyond the hand-over queue is dropped and
//!   counted, and media on the same call keeps being relayed meanwhile.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rampart::dataplane::relay::Channel;
use rampart::dataplane::*;

fn rtp(seq: u16) -> Vec<u8> {
    let mut v = vec![0x80, 0x00];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    v.extend_from_slice(&0x5eed_u32.to_be_bytes());
    v.extend_from_slice(b"media");
    v
}

mod support;

fn leg(socket: UdpSocket, remote: Option<std::net::SocketAddr>) -> LegFlows {
    support::plain_leg(socket, remote, true)
}

fn bind() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

const STUN: [u8; 20] = [
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];
const CLIENT_HELLO: [u8; 13] = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn scenario(backend: BackendKind) {
    let dp = DataPlane::start(DataPlaneConfig {
        workers: 1,
        backend,
        ..Default::default()
    })
    .unwrap();
    // A small queue, so the flood below overflows it.
    let (sink, handed) = crossbeam_channel::bounded(8);
    dp.set_transport_sink(&sink).unwrap();
    let (node_a, node_b, browser, phone) = (bind(), bind(), bind(), bind());
    let (a_addr, b_addr) = (node_a.local_addr().unwrap(), node_b.local_addr().unwrap());
    dp.add_call(CallFlows {
        id: 41,
        legs: [
            leg(node_a, Some(browser.local_addr().unwrap())),
            leg(node_b, Some(phone.local_addr().unwrap())),
        ],
    })
    .unwrap();
    let w = &dp.worker_stats()[0];

    // Not a transport leg yet: dropped, nothing handed over.
    browser.send_to(&STUN, a_addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(handed.try_recv().is_err());

    dp.update_leg(
        41,
        LegId::A,
        LegUpdate {
            transport: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    browser.send_to(&STUN, a_addr).unwrap();
    let d = handed
        .recv_timeout(Duration::from_secs(5))
        .expect("STUN handed over");
    assert_eq!((d.call_id, d.leg, d.channel), (41, LegId::A, Channel::Rtp));
    assert_eq!(d.from, browser.local_addr().unwrap());
    assert_eq!(d.bytes, STUN);
    // The answer leaves from the leg's own port.
    dp.send_from(41, LegId::A, Channel::Rtp, d.from, b"answer".to_vec())
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = browser.recv_from(&mut buf).expect("the answer");
    assert_eq!((&buf[..n], from), (&b"answer"[..], a_addr));
    // The worker counts the send after it returns: wait for the count.
    let end = Instant::now() + Duration::from_secs(5);
    while w.transport_out.load(Ordering::Relaxed) == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(w.transport_out.load(Ordering::Relaxed), 1);
    assert!(dp
        .send_from(99, LegId::A, Channel::Rtp, d.from, vec![1])
        .is_err());
    // A clone of the leg's socket sends from the same port, without the
    // worker.
    let clone = dp.leg_socket(41, LegId::A).unwrap();
    clone.send_to(b"direct", d.from).unwrap();
    let (n, from) = browser.recv_from(&mut buf).expect("the direct answer");
    assert_eq!((&buf[..n], from), (&b"direct"[..], a_addr));
    assert_eq!(
        w.transport_out.load(Ordering::Relaxed),
        1,
        "not the worker's"
    );
    assert!(dp.leg_socket(99, LegId::A).is_err());
    drop(clone);

    // A ClientHello flood beyond the queue, with media in between: the
    // overflow is counted, and every media packet is relayed.
    for i in 0..200u16 {
        browser.send_to(&CLIENT_HELLO, a_addr).unwrap();
        if i % 20 == 0 {
            browser.send_to(&rtp(i), a_addr).unwrap();
        }
    }
    let mut media = 0;
    let end = Instant::now() + Duration::from_secs(5);
    while media < 10 && Instant::now() < end {
        if let Ok((_, from)) = phone.recv_from(&mut buf) {
            assert_eq!(from, b_addr);
            media += 1;
        }
    }
    assert_eq!(media, 10, "media kept flowing through the flood");
    let end = Instant::now() + Duration::from_secs(5);
    while w.transport_in.load(Ordering::Relaxed) + w.transport_dropped.load(Ordering::Relaxed) < 201
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (taken, dropped) = (
        w.transport_in.load(Ordering::Relaxed),
        w.transport_dropped.load(Ordering::Relaxed),
    );
    assert_eq!(taken + dropped, 201, "every datagram counted once");
    assert!(
        taken <= 9 && dropped >= 192,
        "queue of 8: {taken} taken, {dropped} dropped"
    );
    dp.shutdown();
}

#[test]
fn transport_legs_hand_stun_and_dtls_over_on_mmsg() {
    scenario(BackendKind::Mmsg);
}

#[test]
fn transport_legs_hand_stun_and_dtls_over_on_io_uring() {
    scenario(BackendKind::Uring);
}
