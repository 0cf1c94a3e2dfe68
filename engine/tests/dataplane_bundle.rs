//! BUNDLE in the data plane (RFC 8843): two data-plane calls (an audio
//! and a video section) share leg A's socket, as a browser's bundled
//! transport does, on every socket backend, on loopback:
//!
//! - the browser's SRTP reaches the right section's phone: by payload type
//!   for a new SSRC, by SSRC once one authenticated; its SRTCP by the
//!   sender SSRC;
//! - both phones' media leaves the one bundle port, under the one shared
//!   key, and the browser decrypts all of it;
//! - a phone that sends with an SSRC another section already sends with
//!   is dropped and counted before anything leaves: two sections under
//!   one key must never share an SSRC (keystream reuse);
//! - the owner section can go, and the other keeps the port.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rampart::dataplane::*;
use rampart::srtp::{Context, MasterKey, Policy, Suite};

mod support;

const AUDIO_PT: u8 = 111;
const VIDEO_PT: u8 = 96;

fn bind() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn rtp(pt: u8, ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 200, 0, 6];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[0u8; 20]);
    v
}

fn key() -> MasterKey {
    MasterKey::from_concatenated(Suite::AesCm128HmacSha1_80, &[7u8; 30]).unwrap()
}

fn ctx() -> Context {
    Context::new(Policy::new(Suite::AesCm128HmacSha1_80, key())).unwrap()
}

/// The browser's side of one section: SRTP both ways under the shared key.
fn srtp_leg(rtp_socket: RtpSocket, remote: Option<SocketAddr>) -> LegFlows {
    LegFlows {
        rtp_socket,
        rtcp_socket: None,
        rtcp_mux: true,
        remote_rtp: remote,
        remote_rtcp: None,
        latch: LatchMode::default(),
        srtp_in: Some(ctx()),
        srtp_out: Some(ctx()),
        forward: ForwardMode::default(),
        counters: std::sync::Arc::new(LegCounters::default()),
    }
}

fn protect(c: &mut Context, pkt: Vec<u8>) -> Vec<u8> {
    let len = pkt.len();
    let mut buf = pkt;
    buf.resize(len + 64, 0);
    let n = c.protect_rtp(&mut buf, len).unwrap();
    buf.truncate(n);
    buf
}

fn protect_rtcp(c: &mut Context, pkt: Vec<u8>) -> Vec<u8> {
    let len = pkt.len();
    let mut buf = pkt;
    buf.resize(len + 64, 0);
    let n = c.protect_rtcp(&mut buf, len).unwrap();
    buf.truncate(n);
    buf
}

/// Payloads a socket receives within the read timeout.
fn drain(s: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok((n, _)) = s.recv_from(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn scenario(backend: BackendKind) {
    let dp = DataPlane::start(DataPlaneConfig {
        workers: 2,
        backend,
        ..Default::default()
    })
    .unwrap();
    let (bundle, audio_b, video_b) = (bind(), bind(), bind());
    let (browser, phone_a, phone_v) = (bind(), bind(), bind());
    let port = bundle.local_addr().unwrap();
    let a_node = audio_b.local_addr().unwrap();
    let b = browser.local_addr().unwrap();
    dp.add_call(CallFlows {
        id: 1,
        legs: [
            srtp_leg(bundle.into(), Some(b)),
            support::plain_leg(audio_b, Some(phone_a.local_addr().unwrap()), true),
        ],
    })
    .unwrap();
    let video_addr = video_b.local_addr().unwrap();
    dp.add_call(CallFlows {
        id: 2,
        legs: [
            srtp_leg(
                RtpSocket::Bundled {
                    owner: 1,
                    payload_types: vec![VIDEO_PT, 97],
                },
                Some(b),
            ),
            support::plain_leg(video_b, Some(phone_v.local_addr().unwrap()), true),
        ],
    })
    .unwrap();
    // A bundle member whose owner is not running is refused.
    let stray = dp.add_call(CallFlows {
        id: 3,
        legs: [
            srtp_leg(
                RtpSocket::Bundled {
                    owner: 99,
                    payload_types: vec![],
                },
                None,
            ),
            support::plain_leg(bind(), None, true),
        ],
    });
    assert!(stray.is_err(), "{stray:?}");

    // The browser: one key each way, audio SSRC 0xA, video SSRC 0xB.
    let mut tx = ctx();
    for seq in 0..3u16 {
        browser
            .send_to(&protect(&mut tx, rtp(AUDIO_PT, 0xA, seq, b"audio")), port)
            .unwrap();
        browser
            .send_to(&protect(&mut tx, rtp(VIDEO_PT, 0xB, seq, b"video")), port)
            .unwrap();
    }
    // Once learned, the SSRC decides, whatever the payload type says.
    browser
        .send_to(&protect(&mut tx, rtp(AUDIO_PT, 0xB, 3, b"video")), port)
        .unwrap();
    let (got_a, got_v) = (drain(&phone_a), drain(&phone_v));
    assert_eq!(got_a.len(), 3, "audio phone");
    assert_eq!(got_v.len(), 4, "video phone");
    assert!(got_a.iter().all(|p| p.ends_with(b"audio")));
    assert!(got_v.iter().all(|p| p.ends_with(b"video")));
    // SRTCP by its sender SSRC: the video sender's report reaches video.
    browser
        .send_to(&protect_rtcp(&mut tx, rtcp_sr(0xB)), port)
        .unwrap();
    let got = drain(&phone_v);
    assert_eq!(got.len(), 1, "video RTCP");
    assert_eq!(got[0][1], 200);
    assert!(drain(&phone_a).is_empty());

    // Both phones toward the browser: all from the bundle port, all
    // decrypted with the one key.
    for seq in 0..3u16 {
        phone_a
            .send_to(&rtp(0, 0x1111, seq, b"from a"), a_node)
            .unwrap();
        phone_v
            .send_to(&rtp(VIDEO_PT, 0x2222, seq, b"from v"), video_addr)
            .unwrap();
    }
    let mut rx = ctx();
    let mut buf = [0u8; 1500];
    let mut heard = (0, 0);
    while let Ok((n, from)) = browser.recv_from(&mut buf) {
        assert_eq!(from, port);
        let m = rx.unprotect_rtp(&mut buf[..n]).expect("authenticates");
        if buf[..m].ends_with(b"from a") {
            heard.0 += 1;
        } else if buf[..m].ends_with(b"from v") {
            heard.1 += 1;
        }
    }
    assert_eq!(heard, (3, 3));

    // The video phone now uses the audio phone's SSRC: under the shared
    // key that would repeat keystream. Dropped before it leaves, counted.
    let collisions = || -> u64 {
        dp.worker_stats()
            .iter()
            .map(|w| w.bundle_ssrc_collisions.load(Ordering::Relaxed))
            .sum()
    };
    assert_eq!(collisions(), 0);
    phone_v
        .send_to(&rtp(VIDEO_PT, 0x1111, 9, b"collide"), video_addr)
        .unwrap();
    assert!(
        drain(&browser).is_empty(),
        "a colliding SSRC left the bundle"
    );
    wait_for("the collision counted", || collisions() == 1);

    // The owner section ends; the video section keeps the port both ways.
    dp.remove_call(1).unwrap();
    browser
        .send_to(&protect(&mut tx, rtp(VIDEO_PT, 0xB, 4, b"video")), port)
        .unwrap();
    assert_eq!(drain(&phone_v).len(), 1, "video after the owner left");
    phone_v
        .send_to(&rtp(VIDEO_PT, 0x2222, 3, b"from v"), video_addr)
        .unwrap();
    let (n, from) = browser
        .recv_from(&mut buf)
        .expect("video toward the browser");
    assert_eq!(from, port);
    rx.unprotect_rtp(&mut buf[..n]).expect("authenticates");
    // The audio phone's SSRC stays retired: no section may take it up
    // again under this key.
    phone_v
        .send_to(&rtp(VIDEO_PT, 0x1111, 10, b"collide"), video_addr)
        .unwrap();
    assert!(drain(&browser).is_empty());
    dp.remove_call(2).unwrap();
    // The last member gone, the port is closed.
    assert!(
        UdpSocket::bind(port).is_ok(),
        "the bundle socket stayed open"
    );
    dp.shutdown();
}

/// A member joins with a context that already sent (a call taken over:
/// its streams resumed from the other node): those SSRCs are the
/// member's from the start, and the owner may not take them up under the
/// shared key.
#[test]
fn a_member_keeps_the_ssrcs_its_context_already_sent() {
    let dp = DataPlane::start(DataPlaneConfig {
        workers: 1,
        ..Default::default()
    })
    .unwrap();
    let (bundle, audio_b, video_b) = (bind(), bind(), bind());
    let (browser, phone_a) = (bind(), bind());
    let a_node = audio_b.local_addr().unwrap();
    let b = browser.local_addr().unwrap();
    dp.add_call(CallFlows {
        id: 1,
        legs: [
            srtp_leg(bundle.into(), Some(b)),
            support::plain_leg(audio_b, Some(phone_a.local_addr().unwrap()), true),
        ],
    })
    .unwrap();
    let mut member = srtp_leg(
        RtpSocket::Bundled {
            owner: 1,
            payload_types: vec![VIDEO_PT],
        },
        Some(b),
    );
    // Its outbound context has sent SSRC 0x3333 already.
    let out = member.srtp_out.as_mut().unwrap();
    let _ = protect(out, rtp(VIDEO_PT, 0x3333, 7, b"before"));
    dp.add_call(CallFlows {
        id: 2,
        legs: [member, support::plain_leg(video_b, None, true)],
    })
    .unwrap();
    phone_a
        .send_to(&rtp(0, 0x3333, 1, b"audio"), a_node)
        .unwrap();
    assert!(
        drain(&browser).is_empty(),
        "the owner took up the member's SSRC"
    );
    wait_for("the collision counted", || {
        dp.worker_stats()
            .iter()
            .map(|w| w.bundle_ssrc_collisions.load(Ordering::Relaxed))
            .sum::<u64>()
            == 1
    });
    // Another SSRC goes through.
    phone_a
        .send_to(&rtp(0, 0x4444, 2, b"audio"), a_node)
        .unwrap();
    assert_eq!(drain(&browser).len(), 1);
    dp.shutdown();
}

#[test]
fn a_bundle_over_mmsg() {
    scenario(BackendKind::Mmsg);
}

#[test]
fn a_bundle_over_io_uring() {
    scenario(BackendKind::Uring);
}
