//! ng offer/answer under hostile or careless signalling: keys across suite
//! switches, short answers, unanswered offers and the port pool, SDES
//! session parameters. A node is started in-process and driven over UDP;
//! media is checked with `rampart::srtp` contexts built from the SDPs.
//!
//! Each test uses its own media port range (52000 and up) and ng port 0.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use rampart::config::Config;
use rampart::control::ng_bencode::Value;
use rampart::control::sdes::CryptoAttr;
use rampart::control::sdp::Sdp;
use rampart::srtp::{Context, MasterKey, Policy, Suite};

mod support;

use support::ng::*;

// ---- ng client -----------------------------------------------------------

fn config(port_min: u16) -> Config {
    ng_config(port_min, 1, "ng-negotiation")
}

// ---- phones and SDP ------------------------------------------------------

struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

fn phone() -> Phone {
    let [rtp, rtcp] = phone_sockets(Duration::from_millis(300));
    Phone { rtp, rtcp }
}

impl Phone {
    /// A media section of `kind` with one `a=crypto` line per suite (tags
    /// 1, 2, ...) and the keys it used. No suites: plain RTP.
    fn media(&self, kind: &str, suites: &[Suite], params: &str) -> (String, Vec<MasterKey>) {
        let proto = if suites.is_empty() {
            "RTP/AVP"
        } else {
            "RTP/SAVP"
        };
        let mut m = m_lines(kind, proto, "0", &self.rtp, &self.rtcp);
        let mut keys = Vec::new();
        for (i, su) in suites.iter().enumerate() {
            let (line, k) = crypto_line(i as u32 + 1, *su, params);
            m.push_str(&line);
            keys.push(k);
        }
        (m, keys)
    }

    /// An answer's section: the line with `tag` for `suite`, or plain RTP.
    fn answer(&self, kind: &str, line: Option<(u32, Suite)>) -> (String, Option<MasterKey>) {
        let proto = if line.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        };
        let mut m = m_lines(kind, proto, "0", &self.rtp, &self.rtcp);
        let mut key = None;
        if let Some((tag, su)) = line {
            let (line, k) = crypto_line(tag, su, "");
            m.push_str(&line);
            key = Some(k);
        }
        (m, key)
    }
}

/// Section `i` of Rampart's SDP: where it wants media, its crypto lines.
fn target(sdp_text: &str, i: usize) -> (SocketAddr, Vec<CryptoAttr>) {
    let sdp = Sdp::parse(sdp_text).expect("Rampart's SDP parses");
    let m = &sdp.media()[i];
    let ip = m.effective_connection(&sdp).unwrap().ip().unwrap();
    (SocketAddr::new(ip, m.port()), m.crypto().unwrap())
}

fn line_for(lines: &[CryptoAttr], su: Suite) -> &CryptoAttr {
    lines
        .iter()
        .find(|c| c.suite().ok() == Some(su))
        .unwrap_or_else(|| panic!("no {} line in {lines:?}", su.name()))
}

fn ctx_from(attr: &CryptoAttr) -> Context {
    let su = attr.suite().unwrap();
    ctx_key(su, &attr.keys[0].to_master_key(su).unwrap())
}

fn key_of(attr: &CryptoAttr) -> Vec<u8> {
    attr.keys[0].key_salt().to_vec()
}

/// Sends one RTP packet (protected with `tx` if any) from `from` to `to`
/// and returns what `rx_sock` receives, unprotected with `rx` if any
/// (`None`: nothing arrived).
fn send(
    from: &UdpSocket,
    to: SocketAddr,
    tx: Option<&mut Context>,
    rx_sock: &UdpSocket,
    rx: Option<&mut Context>,
    seq: u16,
    ssrc: u32,
) -> Option<Vec<u8>> {
    let payload = format!("media {seq} {ssrc}").into_bytes();
    let mut pkt = rtp(seq, ssrc, &payload);
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = match tx {
        Some(c) => c.protect_rtp(&mut pkt, n).unwrap(),
        None => n,
    };
    let mut buf = vec![0u8; 2048];
    from.send_to(&pkt[..n], to).unwrap();
    let (got, _) = rx_sock.recv_from(&mut buf).ok()?;
    let len = match rx {
        Some(c) => c.unprotect_rtp(&mut buf[..got]).expect("unprotects"),
        None => got,
    };
    Some(buf[12..len].to_vec())
}

/// [`send`] with a few tries (the first packets may race the data plane's
/// setup) and a check of the payload.
fn flow(
    from: &UdpSocket,
    to: SocketAddr,
    mut tx: Option<&mut Context>,
    rx_sock: &UdpSocket,
    mut rx: Option<&mut Context>,
    seq: u16,
    ssrc: u32,
) {
    for _ in 0..5 {
        if let Some(p) = send(
            from,
            to,
            tx.as_deref_mut(),
            rx_sock,
            rx.as_deref_mut(),
            seq,
            ssrc,
        ) {
            assert_eq!(p, format!("media {seq} {ssrc}").into_bytes());
            return;
        }
    }
    panic!("packet {seq} never arrived");
}

fn offer(
    call: &str,
    from: &str,
    sdp: &str,
    extra: Vec<(&'static str, B)>,
) -> Vec<(&'static str, B)> {
    let mut v = vec![("sdp", s(sdp))];
    v.extend(extra);
    v.push(("rampart-device", s(support::TEST_DEVICE)));
    v.push(("rampart-peer-device", s(support::TEST_DEVICE)));
    v.push(("call-id", s(call)));
    v.push(("from-tag", s(from)));
    v.push(("command", s("offer")));
    v
}

fn answer(call: &str, from: &str, to: &str, sdp: &str) -> Vec<(&'static str, B)> {
    vec![
        ("sdp", s(sdp)),
        ("rampart-device", s(support::TEST_DEVICE)),
        ("call-id", s(call)),
        ("from-tag", s(from)),
        ("to-tag", s(to)),
        ("command", s("answer")),
    ]
}

fn delete(ng: &mut Ng, call: &str) {
    ok(&ng.req(&[
        ("call-id", s(call)),
        ("delete-delay", B::I(0)),
        ("command", s("delete")),
    ]));
}

// ---- 2b: keys across suite switches --------------------------------------

/// GCM → AES-CM → GCM: the second GCM context is fresh (ROC, SRTP and
/// SRTCP indexes at 0), so it must not get the first GCM context's key, or
/// the same SSRC and index would be encrypted twice under one key.
#[test]
fn suite_switch_back_never_reinstalls_a_key_in_a_fresh_context() {
    let (_node, mut ng) = start(config(52000));
    let (a, b) = (phone(), phone());
    let call = "suite-switch@test";
    let gcm = Suite::AeadAes128Gcm;
    let cm = Suite::AesCm128HmacSha1_80;
    let mut out_to_b = Vec::new(); // Rampart's outbound keys toward B
    let mut out_to_a = Vec::new();
    for (ver, su) in [(1, gcm), (2, cm), (3, gcm)] {
        let (ma, ka) = a.media("audio", &[su], "");
        let r = ng.req(&offer(call, "tagA", &sdp(ver, &[ma]), vec![]));
        ok(&r);
        let (addr_b, lines_b) = target(get(&r, "sdp"), 0);
        let to_b = line_for(&lines_b, su).clone();
        let (mb, kb) = b.answer("audio", Some((to_b.tag, su)));
        let r = ng.req(&answer(call, "tagA", "tagB", &sdp(ver, &[mb])));
        ok(&r);
        let (addr_a, lines_a) = target(get(&r, "sdp"), 0);
        assert_eq!(lines_a.len(), 1);
        out_to_b.push(key_of(&to_b));
        out_to_a.push(key_of(&lines_a[0]));
        // Media both ways, seq 10..12 each time: the same SSRCs and indexes
        // again, which only fresh keys make safe.
        let mut a_tx = ctx_key(su, &ka[0]);
        let mut b_rx = ctx_from(&to_b);
        let mut b_tx = ctx_key(su, kb.as_ref().unwrap());
        let mut a_rx = ctx_from(&lines_a[0]);
        for s in 10..13 {
            flow(
                &a.rtp,
                addr_a,
                Some(&mut a_tx),
                &b.rtp,
                Some(&mut b_rx),
                s,
                0xa,
            );
            flow(
                &b.rtp,
                addr_b,
                Some(&mut b_tx),
                &a.rtp,
                Some(&mut a_rx),
                s,
                0xb,
            );
        }
    }
    assert_ne!(
        out_to_b[0], out_to_b[2],
        "GCM key toward B reinstalled fresh"
    );
    assert_ne!(
        out_to_a[0], out_to_a[2],
        "GCM key toward A reinstalled fresh"
    );
    let all_b: HashSet<_> = out_to_b.iter().collect();
    let all_a: HashSet<_> = out_to_a.iter().collect();
    assert_eq!(all_b.len(), 3);
    assert_eq!(all_a.len(), 3);
    delete(&mut ng, call);
}

/// SRTP → plain RTP → SRTP with the same suite: the second SRTP context is
/// fresh as well and gets a new key.
#[test]
fn srtp_off_and_on_again_gets_a_fresh_key() {
    let (_node, mut ng) = start(config(52200));
    let (a, b) = (phone(), phone());
    let call = "srtp-off-on@test";
    let su = Suite::AesCm128HmacSha1_80;
    let mut keys = Vec::new();
    for (ver, srtp) in [(1, true), (2, false), (3, true)] {
        let suites: &[Suite] = if srtp { &[su] } else { &[] };
        let (ma, _) = a.media("audio", suites, "");
        let r = ng.req(&offer(call, "tagA", &sdp(ver, &[ma]), vec![]));
        ok(&r);
        let (_, lines_b) = target(get(&r, "sdp"), 0);
        let pick = srtp.then(|| line_for(&lines_b, su).clone());
        let (mb, _) = b.answer("audio", pick.as_ref().map(|c| (c.tag, su)));
        ok(&ng.req(&answer(call, "tagA", "tagB", &sdp(ver, &[mb]))));
        if let Some(c) = pick {
            keys.push(key_of(&c));
        }
    }
    assert_ne!(keys[0], keys[1], "key toward B reinstalled after plain RTP");
    delete(&mut ng, call);
}

mod reoffer_model {
    //! Arbitrary re-offer sequences: after every answer, Rampart's outbound
    //! key toward each side is read from the SDPs it produced. A context is
    //! fresh when the suite changed (or SRTP starts); a fresh context's
    //! key must never have been installed fresh before on that side.

    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as PtConfig, TestRunner};

    const SUITES: [Suite; 3] = [
        Suite::AeadAes128Gcm,
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
    ];

    #[derive(Clone, Debug)]
    struct Step {
        /// Side 0 (tagA) or 1 (tagB) re-offers.
        offerer: usize,
        /// Indexes into SUITES the offerer lists (empty: plain RTP).
        offered: Vec<usize>,
        /// Which of the lines offered to the answerer it picks (mod len);
        /// `None`: it answers plain RTP where it may.
        pick: Option<usize>,
        /// SDES flags of the offer.
        flags: u8,
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            0usize..2,
            proptest::collection::vec(0usize..3, 0..3),
            proptest::option::weighted(0.85, 0usize..8),
            0u8..4,
        )
            .prop_map(|(offerer, mut offered, pick, flags)| {
                offered.dedup();
                Step {
                    offerer,
                    offered,
                    pick,
                    flags,
                }
            })
    }

    #[test]
    fn no_key_is_installed_in_two_fresh_contexts_across_reoffers() {
        // No policy enforcement: plain and SRTP answers are all allowed.
        let mut c = config(52400);
        c.security = Default::default();
        let (_node, ng) = start(c);
        let ng = std::cell::RefCell::new(ng);
        let n = std::cell::Cell::new(0u32);
        let phones = [phone(), phone()];
        let tags = ["tagA", "tagB"];
        let mut runner = TestRunner::new(PtConfig {
            cases: 40,
            ..PtConfig::default()
        });
        runner
            .run(&proptest::collection::vec(step(), 1..9), |steps| {
                n.set(n.get() + 1);
                let call = format!("model-{}@test", n.get());
                let mut ng = ng.borrow_mut();
                // Per side: the running outbound (suite, key) and every
                // key installed in a fresh context.
                let mut running: [Option<(Suite, Vec<u8>)>; 2] = [None, None];
                let mut fresh: [HashSet<Vec<u8>>; 2] = Default::default();
                let mut answered = false;
                for (i, st) in steps.iter().enumerate() {
                    let ver = i as u32 + 1;
                    // Until an answer went through, offers come from tagA.
                    let x = if answered { st.offerer } else { 0 };
                    let y = 1 - x;
                    let suites: Vec<Suite> = st.offered.iter().map(|&j| SUITES[j]).collect();
                    let (m, _) = phones[x].media("audio", &suites, "");
                    let mut extra = Vec::new();
                    match st.flags {
                        1 => extra.push(("SDES", l(&["nonew"]))),
                        2 => extra.push(("SDES", l(&["no-AEAD_AES_128_GCM"]))),
                        3 => extra.push(("SDES", l(&["off"]))),
                        _ => {}
                    }
                    let r = ng.req(&offer(&call, tags[x], &sdp(ver, &[m]), extra));
                    if get(&r, "result") != "ok" {
                        continue; // refused (e.g. nothing left to offer)
                    }
                    let (_, to_y) = target(get(&r, "sdp"), 0);
                    let pick = match st.pick {
                        Some(p) if !to_y.is_empty() => Some(to_y[p % to_y.len()].clone()),
                        _ => None,
                    };
                    let (m, _) = phones[y]
                        .answer("audio", pick.as_ref().map(|c| (c.tag, c.suite().unwrap())));
                    let r = ng.req(&answer(&call, tags[x], tags[y], &sdp(ver, &[m])));
                    if get(&r, "result") != "ok" {
                        continue; // e.g. plain RTP answered to SRTP
                    }
                    answered = true;
                    let (_, to_x) = target(get(&r, "sdp"), 0);
                    let now = [(x, to_x.first().cloned()), (y, pick)];
                    for (side, line) in now {
                        let new = line.map(|c| (c.suite().unwrap(), key_of(&c)));
                        if let Some((su, key)) = &new {
                            let is_fresh = running[side].as_ref().is_none_or(|(s, _)| s != su);
                            if is_fresh {
                                prop_assert!(
                                    fresh[side].insert(key.clone()),
                                    "step {i}: a key toward side {side} installed in a \
                                     second fresh context ({})",
                                    su.name()
                                );
                            }
                        }
                        running[side] = new;
                    }
                }
                delete(&mut ng, &call);
                Ok(())
            })
            .unwrap();
    }
}

// ---- 7: short answers ----------------------------------------------------

fn warning(v: &Value) -> String {
    v.get("warning")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Nothing arrives on `sock` within its read timeout.
fn silent(sock: &UdpSocket) -> bool {
    let mut buf = [0u8; 2048];
    sock.recv_from(&mut buf).is_err()
}

/// An offer with audio and video answered with audio only: the video
/// section is rejected (port 0 toward the offerer) and never relayed,
/// where it used to run with no crypto on the answerer's side.
#[test]
fn short_answer_rejects_missing_sections_and_never_relays_them() {
    let (_node, mut ng) = start(config(52600));
    let (a_audio, a_video, b_audio, b_video) = (phone(), phone(), phone(), phone());
    let su = Suite::AesCm128HmacSha1_80;
    let call = "short-answer@test";
    let (ma, ka) = a_audio.media("audio", &[su], "");
    let (mv, _) = a_video.media("video", &[su], "");
    let r = ng.req(&offer(call, "tagA", &sdp(1, &[ma, mv]), vec![]));
    ok(&r);
    let to_b = get(&r, "sdp").to_string();
    let (audio_b, lines_b) = target(&to_b, 0);
    let (video_b, _) = target(&to_b, 1);
    let to_b_line = line_for(&lines_b, su).clone();
    let (mb, kb) = b_audio.answer("audio", Some((to_b_line.tag, su)));
    let r = ng.req(&answer(call, "tagA", "tagB", &sdp(1, &[mb])));
    ok(&r);
    assert!(warning(&r).contains("rejected"), "{r:?}");
    let to_a = Sdp::parse(get(&r, "sdp")).unwrap();
    assert_eq!(to_a.media().len(), 2, "as many m= lines as the offer");
    assert_eq!(to_a.media()[1].port(), 0, "the missing section is rejected");
    assert_eq!(to_a.media()[1].kind(), "video");
    // Audio runs.
    let (audio_a, lines_a) = target(get(&r, "sdp"), 0);
    let mut a_tx = ctx_key(su, &ka[0]);
    let mut b_rx = ctx_from(&to_b_line);
    flow(
        &a_audio.rtp,
        audio_a,
        Some(&mut a_tx),
        &b_audio.rtp,
        Some(&mut b_rx),
        1,
        0xa,
    );
    let mut b_tx = ctx_key(su, kb.as_ref().unwrap());
    let mut a_rx = ctx_from(&lines_a[0]);
    flow(
        &b_audio.rtp,
        audio_b,
        Some(&mut b_tx),
        &a_audio.rtp,
        Some(&mut a_rx),
        1,
        0xb,
    );
    // Plain RTP to the video port facing B never reaches A.
    for seq in 1..4 {
        b_video
            .rtp
            .send_to(&rtp(seq, 0xbad, b"plain"), video_b)
            .unwrap();
    }
    assert!(silent(&a_video.rtp), "an unanswered section was relayed");
    delete(&mut ng, call);
}

/// A running video section rejected by a re-offer (port 0) stops being
/// relayed; a later re-offer brings it back on the same ports, with fresh
/// keys.
#[test]
fn section_rejected_in_a_reoffer_stops_and_can_come_back() {
    let (_node, mut ng) = start(config(52800));
    let (a_audio, a_video, b_audio, b_video) = (phone(), phone(), phone(), phone());
    let su = Suite::AesCm128HmacSha1_80;
    let call = "reject-reoffer@test";
    let mut video_keys = Vec::new();
    let mut video_b_port = None;
    for (ver, video_on) in [(1, true), (2, false), (3, true)] {
        let (ma, _) = a_audio.media("audio", &[su], "");
        let (mut mv, kv) = a_video.media("video", &[su], "");
        if !video_on {
            mv = "m=video 0 RTP/SAVP 0\r\n".to_string();
        }
        let r = ng.req(&offer(call, "tagA", &sdp(ver, &[ma, mv]), vec![]));
        ok(&r);
        let to_b = get(&r, "sdp").to_string();
        let (_, la) = target(&to_b, 0);
        let (mb, _) = b_audio.answer("audio", Some((line_for(&la, su).tag, su)));
        if video_on {
            let (video_b, lv) = target(&to_b, 1);
            video_b_port = Some(video_b);
            let to_b_line = line_for(&lv, su).clone();
            let (mbv, _) = b_video.answer("video", Some((to_b_line.tag, su)));
            let r = ng.req(&answer(call, "tagA", "tagB", &sdp(ver, &[mb, mbv])));
            ok(&r);
            video_keys.push(key_of(&to_b_line));
            let mut a_tx = ctx_key(su, &kv[0]);
            let mut b_rx = ctx_from(&to_b_line);
            let (video_a, _) = target(get(&r, "sdp"), 1);
            flow(
                &a_video.rtp,
                video_a,
                Some(&mut a_tx),
                &b_video.rtp,
                Some(&mut b_rx),
                5,
                0xc,
            );
        } else {
            let mbv = "m=video 0 RTP/SAVP 0\r\n".to_string();
            let r = ng.req(&answer(call, "tagA", "tagB", &sdp(ver, &[mb, mbv])));
            ok(&r);
            assert_eq!(target(get(&r, "sdp"), 1).0.port(), 0);
            for seq in 6..9 {
                let pkt = rtp(seq, 0xbad, b"plain");
                b_video.rtp.send_to(&pkt, video_b_port.unwrap()).unwrap();
            }
            assert!(silent(&a_video.rtp), "a rejected section was relayed");
        }
    }
    assert_ne!(video_keys[0], video_keys[1], "video key reinstalled fresh");
    delete(&mut ng, call);
}

// ---- 5: unanswered offers and the port pool ------------------------------

fn error_reason(v: &Value) -> String {
    assert_eq!(get(v, "result"), "error", "{v:?}");
    get(v, "error-reason").to_string()
}

/// Media sections of side `tag` in a `query` reply.
fn medias(ng: &mut Ng, call: &str, tag: &str) -> Option<usize> {
    let q = ng.req(&[("call-id", s(call)), ("command", s("query"))]);
    if get(&q, "result") != "ok" {
        return None;
    }
    Some(
        q.get("tags")?
            .get(tag)?
            .get("medias")?
            .as_list()
            .map_or(0, |l| l.len()),
    )
}

/// One offer used to reserve two port pairs for each of up to 64 `m=`
/// lines; now a call has at most `[ng] max_media_sections` (16).
#[test]
fn offer_with_more_media_sections_than_the_cap_is_refused() {
    let (_node, mut ng) = start(config(53000));
    let a = phone();
    let many = |n: usize| -> Vec<String> { (0..n).map(|_| a.media("audio", &[], "").0).collect() };
    let r = ng.req(&offer("many@test", "tagA", &sdp(1, &many(17)), vec![]));
    let e = error_reason(&r);
    assert!(e.contains("max_media_sections"), "{e}");
    assert_eq!(
        medias(&mut ng, "many@test", "tagA"),
        None,
        "no call left behind"
    );
    // At the cap it works, and a re-offer cannot grow past it.
    ok(&ng.req(&offer("many@test", "tagA", &sdp(1, &many(16)), vec![])));
    let r = ng.req(&offer("many@test", "tagA", &sdp(2, &many(17)), vec![]));
    assert!(error_reason(&r).contains("max_media_sections"));
    delete(&mut ng, "many@test");
}

/// Offers that are never answered may hold at most half the pool (default
/// `[ng] max_unanswered_port_percent`): the pairs are counted, not only the
/// calls; an answered offer's pairs no longer count.
#[test]
fn unanswered_offers_never_take_the_whole_port_pool() {
    // 200 ports: 100 pairs, of which unanswered offers may hold 50.
    let (_node, mut ng) = start(config(53200));
    let (a, b) = (phone(), phone());
    let (m, _) = a.media("audio", &[], "");
    for i in 0..25 {
        ok(&ng.req(&offer(
            &format!("idle-{i}@test"),
            "tagA",
            &sdp(1, std::slice::from_ref(&m)),
            vec![],
        )));
    }
    let r = ng.req(&offer(
        "idle-25@test",
        "tagA",
        &sdp(1, std::slice::from_ref(&m)),
        vec![],
    ));
    let e = error_reason(&r);
    assert!(
        e.starts_with("Ran out of ports") && e.contains("max_unanswered_port_percent"),
        "{e}"
    );
    // Answering one frees its share for a new offer.
    let (mb, _) = b.answer("audio", None);
    ok(&ng.req(&answer("idle-0@test", "tagA", "tagB", &sdp(1, &[mb]))));
    ok(&ng.req(&offer("idle-25@test", "tagA", &sdp(1, &[m]), vec![])));
    for i in 0..26 {
        delete(&mut ng, &format!("idle-{i}@test"));
    }
}

/// A call whose offer is never answered ends `[ng] offer_timeout_secs`
/// after its first offer; re-offers do not keep it alive.
#[test]
fn unanswered_offer_times_out_from_its_first_offer() {
    let mut c = config(53400);
    c.ng.offer_timeout_secs = 2;
    let (node, mut ng) = start(c);
    let a = phone();
    let call = "never-answered@test";
    // Re-offer every 300 ms: were the timeout counted from the last offer,
    // the call would live as long as the re-offers go on. It ends about
    // 2 s after the first (the housekeeping tick is once a second); 8 s
    // of re-offers leave room for a slow machine.
    let t0 = std::time::Instant::now();
    let mut ver = 1;
    let mut ended = false;
    while t0.elapsed() < Duration::from_secs(8) {
        if ver > 1 && medias(&mut ng, call, "tagA").is_none() {
            ended = true;
            break;
        }
        let (m, _) = a.media("audio", &[], "");
        ok(&ng.req(&offer(call, "tagA", &sdp(ver, &[m]), vec![])));
        ver += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(ended, "re-offers kept an unanswered call alive for 8 s");
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "ended before its timeout: {:?}",
        t0.elapsed()
    );
    // Counted under its own end reason.
    let text = rampart::control::metrics::render(node.shared());
    assert!(
        text.contains("rampart_calls_timed_out_total{reason=\"offer_timeout\"} 1"),
        "{text}"
    );
    assert!(text.contains("rampart_calls_timed_out_total{reason=\"no_media\"} 0"));
}

/// An answered call keeps running when a re-offer is never answered, but the
/// sections that re-offer added give their ports back after the timeout.
#[test]
fn sections_of_an_unanswered_reoffer_are_freed_after_the_timeout() {
    let mut c = config(53600);
    c.ng.offer_timeout_secs = 1;
    let (_node, mut ng) = start(c);
    let (a, a_video, b) = (phone(), phone(), phone());
    let call = "reoffer-video@test";
    let (m, _) = a.media("audio", &[], "");
    ok(&ng.req(&offer(
        call,
        "tagA",
        &sdp(1, std::slice::from_ref(&m)),
        vec![],
    )));
    let (mb, _) = b.answer("audio", None);
    ok(&ng.req(&answer(call, "tagA", "tagB", &sdp(1, &[mb]))));
    let (mv, _) = a_video.media("video", &[], "");
    ok(&ng.req(&offer(call, "tagA", &sdp(2, &[m, mv]), vec![])));
    assert_eq!(medias(&mut ng, call, "tagA"), Some(2));
    // Freed 1-2 s after the re-offer (the tick is once a second); waited
    // for with room for a slow machine.
    let t0 = std::time::Instant::now();
    while medias(&mut ng, call, "tagA") != Some(1) && t0.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "freed before the timeout"
    );
    assert_eq!(
        medias(&mut ng, call, "tagA"),
        Some(1),
        "video ports not freed"
    );
    delete(&mut ng, call);
}

// ---- 15: SDES KDR --------------------------------------------------------

/// A peer that announces `KDR=n` derives new session keys every 2^n
/// packets; the relay must do the same on receive or every packet after the
/// first 2^n fails to authenticate. Both directions: the offerer's line
/// (KDR=4) and the answerer's (KDR=3), packets well past the first epochs,
/// protected by independent contexts built with that rate.
#[test]
fn sdes_kdr_is_honoured_on_receive() {
    let (_node, mut ng) = start(config(53800));
    let (a, b) = (phone(), phone());
    let su = Suite::AesCm128HmacSha1_80;
    let call = "kdr@test";
    let (ma, ka) = a.media("audio", &[su], " KDR=4");
    let r = ng.req(&offer(call, "tagA", &sdp(1, &[ma]), vec![]));
    ok(&r);
    let (addr_b, lines_b) = target(get(&r, "sdp"), 0);
    let to_b = line_for(&lines_b, su).clone();
    assert!(
        to_b.session_params.is_empty(),
        "Rampart's own keys use rate 0"
    );
    let kb = fresh_key(su);
    let mb = format!(
        "m=audio {} RTP/SAVP 0\r\na=rtcp:{}\r\na=crypto:{} {} inline:{} KDR=3\r\n",
        b.rtp.local_addr().unwrap().port(),
        b.rtcp.local_addr().unwrap().port(),
        to_b.tag,
        su.name(),
        inline(&kb)
    );
    let r = ng.req(&answer(call, "tagA", "tagB", &sdp(1, &[mb])));
    ok(&r);
    let (addr_a, lines_a) = target(get(&r, "sdp"), 0);
    let mut a_tx = Context::new(Policy::new(su, ka[0].clone()).key_derivation_rate(16)).unwrap();
    let mut b_tx = Context::new(Policy::new(su, kb).key_derivation_rate(8)).unwrap();
    let mut b_rx = ctx_from(&to_b);
    let mut a_rx = ctx_from(&lines_a[0]);
    // Indexes 1..=40: three KDR=4 epochs, five KDR=3 epochs.
    for seq in 1..=40 {
        flow(
            &a.rtp,
            addr_a,
            Some(&mut a_tx),
            &b.rtp,
            Some(&mut b_rx),
            seq,
            0xa,
        );
        flow(
            &b.rtp,
            addr_b,
            Some(&mut b_tx),
            &a.rtp,
            Some(&mut a_rx),
            seq,
            0xb,
        );
    }
    // A line with a KDR out of 0..=24 is not used (a warning says why).
    let (bad, _) = a.media("audio", &[su], " KDR=25");
    let r = ng.req(&offer("kdr-bad@test", "tagA", &sdp(1, &[bad]), vec![]));
    assert!(error_reason(&r).contains("a=crypto"), "{r:?}");
    delete(&mut ng, call);
}

/// Pairs of a section the answer rejected are the call's, not an
/// unanswered offer's: answered calls with a declined video section must
/// not use up the unanswered share and lock out new offers.
#[test]
fn answered_calls_with_rejected_sections_do_not_count_as_unanswered() {
    let mut c = config(54000);
    c.ng.max_unanswered_port_percent = 20; // 20 of 100 pairs
    let (_node, mut ng) = start(c);
    let (a, a_video, b) = (phone(), phone(), phone());
    let (m, _) = a.media("audio", &[], "");
    let (mv, _) = a_video.media("video", &[], "");
    let (mb, _) = b.answer("audio", None);
    let declined = "m=video 0 RTP/AVP 0\r\n".to_string();
    for i in 0..12 {
        let call = format!("declined-{i}@test");
        ok(&ng.req(&offer(
            &call,
            "tagA",
            &sdp(1, &[m.clone(), mv.clone()]),
            vec![],
        )));
        ok(&ng.req(&answer(
            &call,
            "tagA",
            "tagB",
            &sdp(1, &[mb.clone(), declined.clone()]),
        )));
    }
    ok(&ng.req(&offer(
        "new@test",
        "tagA",
        &sdp(1, &[m.clone(), mv]),
        vec![],
    )));
    for i in 0..12 {
        delete(&mut ng, &format!("declined-{i}@test"));
    }
    delete(&mut ng, "new@test");
}

/// The peer's side of the rule: a peer that sends with a key it already used
/// in a context that ended (GCM → AES-CM → GCM with its first GCM key) gets
/// a fresh inbound context whose replay window is empty. Rampart cannot
/// choose the peer's key, but it says so in the reply.
#[test]
fn peer_reusing_its_key_in_a_new_context_is_warned() {
    let (_node, mut ng) = start(config(54200));
    let (a, b) = (phone(), phone());
    let call = "peer-reuse@test";
    let gcm = Suite::AeadAes128Gcm;
    let cm = Suite::AesCm128HmacSha1_80;
    let a_gcm = fresh_key(gcm);
    let mut warnings = Vec::new();
    for (ver, su) in [(1, gcm), (2, cm), (3, gcm)] {
        let k = if su == gcm {
            a_gcm.clone()
        } else {
            fresh_key(su)
        };
        let ma = format!(
            "m=audio {} RTP/SAVP 0\r\na=crypto:1 {} inline:{}\r\n",
            a.rtp.local_addr().unwrap().port(),
            su.name(),
            inline(&k)
        );
        let r = ng.req(&offer(call, "tagA", &sdp(ver, &[ma]), vec![]));
        ok(&r);
        let (_, lines_b) = target(get(&r, "sdp"), 0);
        let (mb, _) = b.answer("audio", Some((line_for(&lines_b, su).tag, su)));
        let r = ng.req(&answer(call, "tagA", "tagB", &sdp(ver, &[mb])));
        ok(&r);
        warnings.push(warning(&r));
    }
    assert!(!warnings[0].contains("replay") && !warnings[1].contains("replay"));
    assert!(warnings[2].contains("replay"), "{warnings:?}");
    delete(&mut ng, call);
}

// ---- RFC 9335 cryptex over ng --------------------------------------------

/// A phone that offers cryptex and one that does not answer it: over real
/// ng, Rampart offers cryptex to B, answers it to A, and bridges: A's
/// header extension and CSRCs travel encrypted on A's leg and arrive at B
/// in the clear, and B's come back encrypted toward A.
#[test]
fn a_cryptex_offerer_is_bridged_over_ng_to_a_phone_without_it() {
    let (_node, mut ng) = start(config(54400));
    let (a, b) = (phone(), phone());
    let su = Suite::AesCm128HmacSha1_80;
    let (m, keys_a) = a.media("audio", &[su], "");
    let offer_sdp = sdp(1, &[m + "a=cryptex\r\n"]);
    let r = ng.req(&offer("cx-1", "ta", &offer_sdp, vec![]));
    ok(&r);
    let to_b = get(&r, "sdp").to_string();
    assert!(to_b.contains("a=cryptex"), "offered toward B:\n{to_b}");
    let (rampart_b, lines_b) = target(&to_b, 0);
    let (m, key_b) = b.answer("audio", Some((1, su)));
    let r = ng.req(&answer("cx-1", "ta", "tb", &sdp(1, &[m])));
    ok(&r);
    let to_a = get(&r, "sdp").to_string();
    assert!(to_a.contains("a=cryptex"), "answered to A:\n{to_a}");
    let (rampart_a, lines_a) = target(&to_a, 0);
    let with = |k: &MasterKey| Context::new(Policy::new(su, k.clone()).cryptex(true)).unwrap();
    let mut a_tx = with(&keys_a[0]);
    let mut a_rx = with(&lines_a[0].keys[0].to_master_key(su).unwrap());
    let mut b_tx = ctx_key(su, key_b.as_ref().unwrap());
    let mut b_rx = ctx_from(line_for(&lines_b, su));
    let pkt = |seq: u16, ssrc: u32| {
        // Two CSRCs and a one-byte extension (id 1, one byte).
        let mut p = vec![0x92, 0x00, (seq >> 8) as u8, seq as u8, 0, 0, 0, 1];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2, 0xbe, 0xde, 0, 1, 0x10, 0x55, 0, 0]);
        p.extend_from_slice(b"voice");
        p
    };
    let relay = |from: &UdpSocket,
                 to: SocketAddr,
                 tx: &mut Context,
                 rx_sock: &UdpSocket,
                 rx: &mut Context,
                 ssrc: u32,
                 expect_cryptex: bool| {
        for seq in 1..6u16 {
            let plain = pkt(seq, ssrc);
            let mut w = plain.clone();
            let n = w.len();
            w.resize(n + 64, 0);
            let n = tx.protect_rtp(&mut w, n).unwrap();
            from.send_to(&w[..n], to).unwrap();
            let mut buf = [0u8; 2048];
            if let Ok((got, _)) = rx_sock.recv_from(&mut buf) {
                let profile = [buf[20], buf[21]];
                assert_eq!(
                    profile == [0xc0, 0xde],
                    expect_cryptex,
                    "on the wire: {:02x?}",
                    &buf[..got]
                );
                let len = rx
                    .unprotect_rtp(&mut buf[..got])
                    .expect("relayed packet opens");
                assert_eq!(&buf[..len], &plain[..], "intact");
                return;
            }
        }
        panic!("nothing relayed");
    };
    // A → B: cryptex on A's leg (the phone's own), clear on B's.
    relay(
        &a.rtp,
        rampart_a,
        &mut a_tx,
        &b.rtp,
        &mut b_rx,
        0x0a0a_0a0a,
        false,
    );
    // B → A: Rampart seals cryptex toward A.
    relay(
        &b.rtp,
        rampart_b,
        &mut b_tx,
        &a.rtp,
        &mut a_rx,
        0x0b0b_0b0b,
        true,
    );
    delete(&mut ng, "cx-1");
}
