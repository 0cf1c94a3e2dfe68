//! Sans-I/O tests of the relay: every mode, the latching rules, RTCP mux.

use super::*;
use crate::dataplane::LegCounters;
use crate::srtp::{Context, MasterKey, Policy, Suite};

const CM80: Suite = Suite::AesCm128HmacSha1_80;
const GCM: Suite = Suite::AeadAes128Gcm;

fn key(suite: Suite, seed: u8) -> MasterKey {
    MasterKey::new(
        suite,
        &vec![seed; suite.master_key_len()],
        &vec![seed ^ 0x5a; suite.master_salt_len()],
    )
    .unwrap()
}

fn ctx(suite: Suite, seed: u8) -> Context {
    Context::new(Policy::new(suite, key(suite, seed))).unwrap()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x00];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 200, 0, 6];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[7u8; 20]);
    v
}

struct Leg {
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    mux: bool,
    grace_ms: u64,
    latch: LatchMode,
    srtp_in: Option<Context>,
    srtp_out: Option<Context>,
    forward: ForwardMode,
}

impl Leg {
    fn plain(remote: Option<SocketAddr>) -> Leg {
        Leg {
            remote,
            remote_rtcp: None,
            mux: true,
            grace_ms: GRACE_MS,
            latch: LatchMode::Authenticated,
            srtp_in: None,
            srtp_out: None,
            forward: ForwardMode::Transcode,
        }
    }
    fn srtp(remote: Option<SocketAddr>, suite: Suite, seed_in: u8, seed_out: u8) -> Leg {
        Leg {
            srtp_in: Some(ctx(suite, seed_in)),
            srtp_out: Some(ctx(suite, seed_out)),
            ..Leg::plain(remote)
        }
    }
    fn build(self) -> (LegState, Arc<LegCounters>) {
        let counters = LegCounters::new();
        let state = LegState::new(LegParams {
            remote_rtp: self.remote,
            remote_rtcp: self.remote_rtcp,
            rtcp_mux: self.mux,
            rtcp_socket: !self.mux,
            latch: self.latch,
            srtp_in: self.srtp_in,
            srtp_out: self.srtp_out,
            forward: self.forward,
            counters: Arc::clone(&counters),
            latch_grace_ms: self.grace_ms,
            now_ms: 0,
        });
        (state, counters)
    }
}

fn call(a: Leg, b: Leg) -> (CallState, Arc<LegCounters>, Arc<LegCounters>) {
    let (a, ca) = a.build();
    let (b, cb) = b.build();
    (CallState::new(a, b), ca, cb)
}

/// Runs one packet through the relay; returns the verdict and the output
/// bytes when forwarded.
fn run(
    call: &mut CallState,
    leg: usize,
    channel: Channel,
    pkt: &[u8],
    src: SocketAddr,
) -> (Verdict, Vec<u8>) {
    run_at(call, leg, channel, pkt, src, 1234)
}

/// [`run`] at time `now_ms` (the legs were set up at 0).
fn run_at(
    call: &mut CallState,
    leg: usize,
    channel: Channel,
    pkt: &[u8],
    src: SocketAddr,
    now_ms: u64,
) -> (Verdict, Vec<u8>) {
    let mut buf = [0u8; 2048];
    buf[..pkt.len()].copy_from_slice(pkt);
    let leg = LegId::from_index(leg).expect("leg 0 or 1");
    let v = call.process(leg, channel, &mut buf, pkt.len(), src, now_ms);
    let out = match v {
        Verdict::Forward { len, .. } => buf[..len].to_vec(),
        Verdict::Drop(_) => Vec::new(),
    };
    (v, out)
}

fn protect(c: &mut Context, pkt: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    buf[..pkt.len()].copy_from_slice(pkt);
    let n = c.protect_rtp(&mut buf, pkt.len()).unwrap();
    buf[..n].to_vec()
}

fn protect_rtcp(c: &mut Context, pkt: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    buf[..pkt.len()].copy_from_slice(pkt);
    let n = c.protect_rtcp(&mut buf, pkt.len()).unwrap();
    buf[..n].to_vec()
}

fn unprotect(c: &mut Context, pkt: &[u8]) -> Vec<u8> {
    let mut v = pkt.to_vec();
    let n = c.unprotect_rtp(&mut v).unwrap();
    v.truncate(n);
    v
}

fn forwarded(v: Verdict) -> (usize, Channel, SocketAddr, bool) {
    match v {
        Verdict::Forward {
            leg,
            channel,
            dest,
            rtcp,
            ..
        } => (leg.index(), channel, dest, rtcp),
        Verdict::Drop(r) => panic!("dropped: {r:?}"),
    }
}

const PHONE_A: u16 = 40000;
const PHONE_B: u16 = 50000;
const ATTACKER: u16 = 6666;
/// The latch grace period of the test legs (ms; legs are set up at 0).
const GRACE_MS: u64 = 2000;

#[test]
fn srtp_to_srtp_rekeys_across_suites() {
    // A speaks CM80 with key 1 to us; we speak GCM with key 4 to B.
    let (mut c, ca, cb) = call(
        Leg::srtp(None, CM80, 1, 2),
        Leg::srtp(Some(addr(PHONE_B)), GCM, 3, 4),
    );
    let mut phone_a = ctx(CM80, 1);
    let mut phone_b_rx = ctx(GCM, 4);
    for seq in 0..5u16 {
        let plain = rtp(seq, 0xa, b"hello from a");
        let (v, out) = run(
            &mut c,
            0,
            Channel::Rtp,
            &protect(&mut phone_a, &plain),
            addr(PHONE_A),
        );
        let (leg, ch, dest, rtcp) = forwarded(v);
        assert_eq!(
            (leg, ch, dest, rtcp),
            (1, Channel::Rtp, addr(PHONE_B), false)
        );
        assert_eq!(unprotect(&mut phone_b_rx, &out), plain);
    }
    let a = ca.snapshot();
    assert_eq!(a.packets_in, 5);
    assert_eq!(a.latched_rtp, Some(addr(PHONE_A)));
    assert_eq!(a.last_packet_ms, 1234);
    assert_eq!(a.dropped_total(), 0);
    // And back: B (GCM key 3) to A (CM80 key 2), A now latched.
    let mut phone_b = ctx(GCM, 3);
    let mut phone_a_rx = ctx(CM80, 2);
    let plain = rtp(100, 0xb, b"hello from b");
    let (v, out) = run(
        &mut c,
        1,
        Channel::Rtp,
        &protect(&mut phone_b, &plain),
        addr(PHONE_B),
    );
    assert_eq!(forwarded(v).2, addr(PHONE_A));
    assert_eq!(unprotect(&mut phone_a_rx, &out), plain);
    assert_eq!(cb.snapshot().packets_in, 1);
}

#[test]
fn srtp_to_rtp_and_rtp_to_srtp_bridge() {
    let mut b = Leg::plain(Some(addr(PHONE_B)));
    b.latch = LatchMode::FirstPacket;
    let (mut c, _, _) = call(Leg::srtp(Some(addr(PHONE_A)), CM80, 1, 2), b);
    let mut phone_a = ctx(CM80, 1);
    let plain = rtp(7, 0xa, b"secret");
    let (v, out) = run(
        &mut c,
        0,
        Channel::Rtp,
        &protect(&mut phone_a, &plain),
        addr(PHONE_A),
    );
    forwarded(v);
    assert_eq!(out, plain, "SRTP -> RTP yields the plain packet");
    let plain_b = rtp(9, 0xb, b"plain from b");
    let (v, out) = run(&mut c, 1, Channel::Rtp, &plain_b, addr(PHONE_B));
    assert_eq!(forwarded(v).2, addr(PHONE_A));
    let mut phone_a_rx = ctx(CM80, 2);
    assert_eq!(unprotect(&mut phone_a_rx, &out), plain_b, "RTP -> SRTP");
}

/// Plain RTP has no replay check, so a bridge would hand the SRTP side the
/// same (SSRC, seq) twice: the second, with another payload, must be
/// dropped and counted, not encrypted under the same keystream (issue #10).
#[test]
fn bridged_rtp_duplicate_is_not_encrypted_twice() {
    for suite in [CM80, Suite::AeadAes128Gcm] {
        let mut b = Leg::plain(Some(addr(PHONE_B)));
        b.latch = LatchMode::FirstPacket;
        let (mut c, ca, _) = call(Leg::srtp(Some(addr(PHONE_A)), suite, 1, 2), b);
        let (v, _) = run(&mut c, 1, Channel::Rtp, &rtp(9, 0xb, b"one"), addr(PHONE_B));
        forwarded(v);
        let (v, out) = run(&mut c, 1, Channel::Rtp, &rtp(9, 0xb, b"two"), addr(PHONE_B));
        assert!(
            matches!(v, Verdict::Drop(DropReason::ProtectFailed)),
            "{v:?}"
        );
        assert!(out.is_empty());
        assert_eq!(
            ca.snapshot().dropped_protect_refused,
            1,
            "counted on the sending leg"
        );
        assert_eq!(ca.snapshot().dropped_other, 0);
        let (v, _) = run(
            &mut c,
            1,
            Channel::Rtp,
            &rtp(10, 0xb, b"three"),
            addr(PHONE_B),
        );
        forwarded(v);
    }
}

#[test]
fn rtp_to_rtp_forwards_unchanged_and_rejects_garbage() {
    let (mut c, ca, _) = call(Leg::plain(None), Leg::plain(Some(addr(PHONE_B))));
    let plain = rtp(1, 0xa, b"x");
    let (v, out) = run(&mut c, 0, Channel::Rtp, &plain, addr(PHONE_A));
    forwarded(v);
    assert_eq!(out, plain);
    // A truncated RTP header is malformed.
    let (v, _) = run(&mut c, 0, Channel::Rtp, &plain[..8], addr(PHONE_A));
    assert!(matches!(v, Verdict::Drop(DropReason::Malformed(_))));
    assert_eq!(ca.snapshot().malformed, 1);
}

#[test]
fn verified_passthrough_forwards_identical_bytes() {
    let mut a = Leg::srtp(None, GCM, 1, 1);
    a.forward = ForwardMode::VerifiedPassthrough;
    let (mut c, ca, _) = call(a, Leg::srtp(Some(addr(PHONE_B)), GCM, 1, 1));
    let mut phone_a = ctx(GCM, 1);
    let wire = protect(&mut phone_a, &rtp(1, 0xa, b"same bytes"));
    let (v, out) = run(&mut c, 0, Channel::Rtp, &wire, addr(PHONE_A));
    forwarded(v);
    assert_eq!(out, wire);
    // A tampered packet does not pass.
    let mut bad = protect(&mut phone_a, &rtp(2, 0xa, b"same bytes"));
    bad[14] ^= 1;
    let (v, _) = run(&mut c, 0, Channel::Rtp, &bad, addr(PHONE_A));
    assert_eq!(v, Verdict::Drop(DropReason::AuthFailed));
    // Replaying the first one does not pass either.
    let (v, _) = run(&mut c, 0, Channel::Rtp, &wire, addr(PHONE_A));
    assert_eq!(v, Verdict::Drop(DropReason::Replayed));
    let s = ca.snapshot();
    assert_eq!((s.auth_failures, s.replays), (1, 1));
}

#[test]
fn failures_never_move_the_latch_and_authenticated_moves_do() {
    let (mut c, ca, _) = call(
        Leg::srtp(None, CM80, 1, 2),
        Leg::srtp(Some(addr(PHONE_B)), CM80, 3, 4),
    );
    let mut phone_a = ctx(CM80, 1);
    let first = protect(&mut phone_a, &rtp(1, 0xa, b"payload"));
    forwarded(run(&mut c, 0, Channel::Rtp, &first, addr(PHONE_A)).0);
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), Some(addr(PHONE_A)));

    let evil = addr(ATTACKER);
    // Forged: a packet under a key the attacker made up.
    let mut forger = ctx(CM80, 99);
    let forged = protect(&mut forger, &rtp(2, 0xa, b"payload"));
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &forged, evil).0,
        Verdict::Drop(DropReason::AuthFailed)
    );
    // Tampered: a genuine packet with a flipped bit.
    let mut tampered = protect(&mut phone_a, &rtp(3, 0xa, b"payload"));
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &tampered, evil).0,
        Verdict::Drop(DropReason::AuthFailed)
    );
    // Replayed: the genuine first packet, again.
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &first, evil).0,
        Verdict::Drop(DropReason::Replayed)
    );
    // Truncated and garbage.
    let (v, _) = run(&mut c, 0, Channel::Rtp, &first[..10], evil);
    assert!(
        matches!(v, Verdict::Drop(DropReason::Malformed(_))),
        "{v:?}"
    );
    let (v, _) = run(&mut c, 0, Channel::Rtp, &[0xff; 40], evil);
    assert!(
        matches!(v, Verdict::Drop(DropReason::Malformed(_))),
        "{v:?}"
    );
    // STUN and DTLS on a media socket.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[0; 12]);
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &stun, evil).0,
        Verdict::Drop(DropReason::NotMedia)
    );
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &[22, 0xfe, 0xfd, 0], evil).0,
        Verdict::Drop(DropReason::NotMedia)
    );

    assert_eq!(
        c.leg(LegId::A).latched(Channel::Rtp),
        Some(addr(PHONE_A)),
        "latch never moved"
    );
    let s = ca.snapshot();
    assert_eq!(s.latched_rtp, Some(addr(PHONE_A)));
    assert_eq!(
        (s.auth_failures, s.replays, s.malformed, s.dropped_other),
        (2, 1, 2, 2)
    );
    assert_eq!(s.relatches, 0);

    // A genuine packet from a new address (NAT rebinding) moves the latch.
    let moved = addr(40002);
    let pkt = protect(&mut phone_a, &rtp(4, 0xa, b"payload"));
    forwarded(run(&mut c, 0, Channel::Rtp, &pkt, moved).0);
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), Some(moved));
    let s = ca.snapshot();
    assert_eq!((s.relatches, s.latched_rtp), (1, Some(moved)));
    // Traffic toward A now goes to the new address.
    let mut phone_b = ctx(CM80, 3);
    let (v, _) = run(
        &mut c,
        1,
        Channel::Rtp,
        &protect(&mut phone_b, &rtp(1, 0xb, b"hi")),
        addr(PHONE_B),
    );
    assert_eq!(forwarded(v).2, moved);
}

#[test]
fn strict_mode_only_accepts_the_signalled_address() {
    let mut a = Leg::srtp(Some(addr(PHONE_A)), CM80, 1, 2);
    a.latch = LatchMode::Strict;
    let (mut c, ca, _) = call(a, Leg::plain(Some(addr(PHONE_B))));
    let mut phone_a = ctx(CM80, 1);
    // Even a genuine packet from elsewhere is dropped, and state is untouched.
    let pkt = protect(&mut phone_a, &rtp(1, 0xa, b"p"));
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &pkt, addr(ATTACKER)).0,
        Verdict::Drop(DropReason::StrictSource)
    );
    // The same packet from the signalled address passes (it was not
    // recorded as received by the failed attempt).
    forwarded(run(&mut c, 0, Channel::Rtp, &pkt, addr(PHONE_A)).0);
    let s = ca.snapshot();
    assert_eq!((s.dropped_strict_source, s.relatches), (1, 0));
    assert_eq!(s.latched_rtp, Some(addr(PHONE_A)));
    // Toward a strict leg, only the signalled address is used.
    let (v, _) = run(&mut c, 1, Channel::Rtp, &rtp(1, 0xb, b"q"), addr(PHONE_B));
    assert_eq!(forwarded(v).2, addr(PHONE_A));
}

#[test]
fn first_packet_latch_on_plain_rtp_never_moves() {
    let (mut c, ca, _) = call(Leg::plain(None), Leg::plain(Some(addr(PHONE_B))));
    forwarded(run(&mut c, 0, Channel::Rtp, &rtp(1, 0xa, b"p"), addr(PHONE_A)).0);
    // Unauthenticated traffic from another address is refused, never latched.
    let (v, _) = run(&mut c, 0, Channel::Rtp, &rtp(2, 0xa, b"p"), addr(ATTACKER));
    assert_eq!(v, Verdict::Drop(DropReason::StrictSource));
    // Garbage before latching does not latch either.
    let (mut c2, ca2, _) = call(Leg::plain(None), Leg::plain(Some(addr(PHONE_B))));
    let (v, _) = run(&mut c2, 0, Channel::Rtp, &[0x80, 0], addr(ATTACKER));
    assert!(matches!(v, Verdict::Drop(DropReason::Malformed(_))));
    assert_eq!(ca2.snapshot().latched_rtp, None);
    let s = ca.snapshot();
    assert_eq!(
        (s.latched_rtp, s.dropped_strict_source, s.relatches),
        (Some(addr(PHONE_A)), 1, 0)
    );
}

#[test]
fn unlatched_failures_do_not_latch() {
    // Before anything latched, a forged packet must not set the latch.
    let (mut c, ca, _) = call(
        Leg::srtp(None, CM80, 1, 2),
        Leg::srtp(Some(addr(PHONE_B)), CM80, 3, 4),
    );
    let mut forger = ctx(CM80, 77);
    let forged = protect(&mut forger, &rtp(1, 0xa, b"p"));
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &forged, addr(ATTACKER)).0,
        Verdict::Drop(DropReason::AuthFailed)
    );
    assert_eq!(ca.snapshot().latched_rtp, None);
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), None);
}

#[test]
fn no_remote_is_dropped_and_counted_on_the_other_leg() {
    let (mut c, _, cb) = call(Leg::plain(None), Leg::plain(None));
    let (v, _) = run(&mut c, 0, Channel::Rtp, &rtp(1, 0xa, b"p"), addr(PHONE_A));
    assert_eq!(v, Verdict::Drop(DropReason::NoRemote));
    assert_eq!(cb.snapshot().dropped_no_remote, 1);
}

#[test]
fn rtcp_mux_demux_and_srtcp_rekey() {
    // A muxes RTCP on its RTP socket; B has a separate RTCP socket.
    let mut b = Leg::srtp(Some(addr(PHONE_B)), GCM, 3, 4);
    b.mux = false;
    let (mut c, ca, _) = call(Leg::srtp(None, CM80, 1, 2), b);
    let mut phone_a = ctx(CM80, 1);
    let sr = rtcp_sr(0xa);
    let wire = protect_rtcp(&mut phone_a, &sr);
    let (v, out) = run(&mut c, 0, Channel::Rtp, &wire, addr(PHONE_A));
    let (leg, ch, dest, rtcp) = forwarded(v);
    assert_eq!(
        (leg, ch, dest, rtcp),
        (1, Channel::Rtcp, addr(PHONE_B + 1), true)
    );
    let mut phone_b_rx = ctx(GCM, 4);
    let mut got = out.clone();
    let n = phone_b_rx.unprotect_rtcp(&mut got).unwrap();
    assert_eq!(&got[..n], &sr[..]);
    // RTCP latched separately from RTP.
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtcp), Some(addr(PHONE_A)));
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), None);
    assert_eq!(ca.snapshot().rtcp_in, 1);
    assert_eq!(ca.snapshot().rtcp_bytes_in, wire.len() as u64);
    // A replayed and a tampered SRTCP packet are RTCP errors (and counted
    // under their reason), never RTP's.
    run(&mut c, 0, Channel::Rtp, &wire, addr(PHONE_A));
    let mut tampered = protect_rtcp(&mut phone_a, &rtcp_sr(0xa));
    tampered[9] ^= 1;
    run(&mut c, 0, Channel::Rtp, &tampered, addr(PHONE_A));
    let st = ca.snapshot();
    assert_eq!((st.rtcp_in, st.rtcp_errors), (3, 2), "{st:?}");
    assert_eq!((st.replays, st.auth_failures), (1, 1), "{st:?}");

    // B's RTCP arrives on B's RTCP socket and goes out muxed to A.
    let mut phone_b = ctx(GCM, 3);
    let wire = protect_rtcp(&mut phone_b, &rtcp_sr(0xb));
    let (v, _) = run(&mut c, 1, Channel::Rtcp, &wire, addr(PHONE_B + 1));
    assert_eq!(forwarded(v), (0, Channel::Rtp, addr(PHONE_A), true));
    // RTP on B's RTCP socket is refused.
    let wire = protect(&mut phone_b, &rtp(1, 0xb, b"p"));
    let (v, _) = run(&mut c, 1, Channel::Rtcp, &wire, addr(PHONE_B + 1));
    assert_eq!(v, Verdict::Drop(DropReason::WrongSocket));
}

#[test]
fn rtcp_on_a_non_muxed_rtp_socket_is_refused() {
    let mut a = Leg::plain(None);
    a.mux = false;
    let (mut c, ca, _) = call(a, Leg::plain(Some(addr(PHONE_B))));
    let (v, _) = run(&mut c, 0, Channel::Rtp, &rtcp_sr(1), addr(PHONE_A));
    assert_eq!(v, Verdict::Drop(DropReason::WrongSocket));
    assert_eq!(ca.snapshot().dropped_other, 1);
    // On its own socket plain RTCP goes through.
    let (v, out) = run(&mut c, 0, Channel::Rtcp, &rtcp_sr(1), addr(PHONE_A + 1));
    assert_eq!(forwarded(v), (1, Channel::Rtp, addr(PHONE_B), true));
    assert_eq!(out, rtcp_sr(1));
}

#[test]
fn unknown_ssrc_is_counted() {
    let mut a = Leg::plain(None);
    a.srtp_in = Some(
        Context::new(Policy::new(CM80, key(CM80, 1)).ssrc(crate::srtp::SsrcPolicy::Specific(0xa)))
            .unwrap(),
    );
    let (mut c, ca, _) = call(a, Leg::plain(Some(addr(PHONE_B))));
    let mut phone = Context::new(Policy::new(CM80, key(CM80, 1))).unwrap();
    let pkt = protect(&mut phone, &rtp(1, 0xbad, b"p"));
    assert_eq!(
        run(&mut c, 0, Channel::Rtp, &pkt, addr(PHONE_A)).0,
        Verdict::Drop(DropReason::UnknownSsrc)
    );
    assert_eq!(ca.snapshot().unknown_ssrc, 1);
}

#[test]
fn updates_change_keys_addresses_and_modes() {
    let (mut c, ca, _) = call(
        Leg::srtp(None, CM80, 1, 2),
        Leg::srtp(Some(addr(PHONE_B)), CM80, 3, 4),
    );
    let mut phone_a = ctx(CM80, 1);
    forwarded(
        run(
            &mut c,
            0,
            Channel::Rtp,
            &protect(&mut phone_a, &rtp(1, 0xa, b"p")),
            addr(PHONE_A),
        )
        .0,
    );
    // Unknown MKI is refused and changes nothing.
    let r = c.leg_mut(LegId::A).apply(
        LegUpdate {
            srtp_out: Some(KeyChange::SetActiveMki(vec![9])),
            ..Default::default()
        },
        1234,
    );
    assert!(r.is_err());
    // Replace the inbound key (no MKI): the stream state is kept.
    c.leg_mut(LegId::A)
        .apply(
            LegUpdate {
                srtp_in: Some(KeyChange::Replace(key(CM80, 11))),
                ..Default::default()
            },
            1234,
        )
        .unwrap();
    let mut phone_a2 = ctx(CM80, 11);
    phone_a2.set_roc(0xa, 0).unwrap();
    forwarded(
        run(
            &mut c,
            0,
            Channel::Rtp,
            &protect(&mut phone_a2, &rtp(2, 0xa, b"p")),
            addr(PHONE_A),
        )
        .0,
    );
    // A new signalled address forgets the latch.
    c.leg_mut(LegId::A)
        .apply(
            LegUpdate {
                remote_rtp: Some(addr(41000)),
                latch: Some(LatchMode::Strict),
                ..Default::default()
            },
            1234,
        )
        .unwrap();
    assert_eq!(ca.snapshot().latched_rtp, None);
    let (v, _) = run(
        &mut c,
        0,
        Channel::Rtp,
        &protect(&mut phone_a2, &rtp(3, 0xa, b"p")),
        addr(PHONE_A),
    );
    assert_eq!(v, Verdict::Drop(DropReason::StrictSource));
    // Switching to plain RTP inbound.
    c.leg_mut(LegId::A)
        .apply(
            LegUpdate {
                srtp_in: Some(KeyChange::Context(None)),
                latch: Some(LatchMode::FirstPacket),
                ..Default::default()
            },
            1234,
        )
        .unwrap();
    let (v, out) = run(&mut c, 0, Channel::Rtp, &rtp(4, 0xa, b"plain"), addr(41000));
    forwarded(v);
    let mut phone_b_rx = ctx(CM80, 4);
    assert_eq!(unprotect(&mut phone_b_rx, &out), rtp(4, 0xa, b"plain"));
}

// ---- plain RTP: the signalled address is preferred ------------------------

fn dest_of(v: Verdict) -> SocketAddr {
    forwarded(v).2
}

/// B -> A at `now`: where the relay sends A's media.
fn toward_a(c: &mut CallState, now: u64) -> SocketAddr {
    dest_of(
        run_at(
            c,
            1,
            Channel::Rtp,
            &rtp(9, 0xb, b"to a"),
            addr(PHONE_B),
            now,
        )
        .0,
    )
}

#[test]
fn attacker_first_packet_does_not_latch_while_the_signalled_address_may_speak() {
    let (mut c, ca, _) = call(
        Leg::plain(Some(addr(PHONE_A))),
        Leg::plain(Some(addr(PHONE_B))),
    );
    let evil = addr(ATTACKER);
    // One 12-byte RTP packet before the phone speaks: refused, not
    // forwarded, nothing latched.
    let (v, _) = run_at(&mut c, 0, Channel::Rtp, &rtp(1, 0xe, b""), evil, 10);
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), None);
    // Still refused late in the grace period after set-up.
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(2, 0xe, b""),
        evil,
        GRACE_MS - 1,
    );
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    assert_eq!(toward_a(&mut c, GRACE_MS - 1), addr(PHONE_A));
    // The phone speaks: it latches, its media flows.
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(1, 0xa, b"hi"),
        addr(PHONE_A),
        1500,
    );
    assert_eq!(dest_of(v), addr(PHONE_B));
    // While it speaks, the attacker never latches, however long the call.
    for t in (1600..20_000).step_by(500) {
        let (v, _) = run_at(&mut c, 0, Channel::Rtp, &rtp(3, 0xe, b""), evil, t);
        assert_eq!(v, Verdict::Drop(DropReason::LatchRefused), "at {t}");
        forwarded(
            run_at(
                &mut c,
                0,
                Channel::Rtp,
                &rtp(4, 0xa, b"hi"),
                addr(PHONE_A),
                t + 1,
            )
            .0,
        );
    }
    assert_eq!(toward_a(&mut c, 20_000), addr(PHONE_A));
    let s = ca.snapshot();
    assert_eq!(s.latched_rtp, Some(addr(PHONE_A)));
    assert_eq!(s.dropped_latch_refused, 2 + 37);
    assert_eq!((s.relatches, s.dropped_strict_source), (0, 0));
    assert_eq!(s.dropped_total(), s.dropped_latch_refused);
}

#[test]
fn signalled_address_relatches_after_an_attacker_latched() {
    let (mut c, ca, _) = call(
        Leg::plain(Some(addr(PHONE_A))),
        Leg::plain(Some(addr(PHONE_B))),
    );
    let evil = addr(ATTACKER);
    // The phone was silent for the whole grace period (say, it starts
    // late): a packet from elsewhere latches (the NAT case cannot be told
    // apart from this).
    forwarded(run_at(&mut c, 0, Channel::Rtp, &rtp(1, 0xe, b""), evil, GRACE_MS).0);
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), Some(evil));
    assert_eq!(toward_a(&mut c, GRACE_MS), evil);
    // The real phone speaks: it wins the leg back at once.
    forwarded(
        run_at(
            &mut c,
            0,
            Channel::Rtp,
            &rtp(1, 0xa, b"hi"),
            addr(PHONE_A),
            GRACE_MS + 5,
        )
        .0,
    );
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), Some(addr(PHONE_A)));
    assert_eq!(toward_a(&mut c, GRACE_MS + 5), addr(PHONE_A));
    // And keeps it: the attacker is refused from now on.
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(2, 0xe, b""),
        evil,
        GRACE_MS + 10,
    );
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    let s = ca.snapshot();
    assert_eq!(
        (s.latched_rtp, s.relatches, s.dropped_latch_refused),
        (Some(addr(PHONE_A)), 1, 1)
    );
}

#[test]
fn nat_source_latches_after_the_grace_when_the_signalled_address_is_silent() {
    // The SDP says 10.0.0.5:4000 (a private address the relay cannot
    // reach); the phone's packets come from its NAT.
    let private = SocketAddr::from(([10, 0, 0, 5], 4000));
    let nat = addr(PHONE_A);
    let (mut c, ca, _) = call(Leg::plain(Some(private)), Leg::plain(Some(addr(PHONE_B))));
    // Within the grace: refused (the cost of the rule for NATed phones).
    let (v, _) = run_at(&mut c, 0, Channel::Rtp, &rtp(1, 0xa, b"x"), nat, 20);
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    assert_eq!(toward_a(&mut c, 20), private);
    // Garbage after the grace does not latch.
    let (v, _) = run_at(&mut c, 0, Channel::Rtp, &[0x80, 0, 1], nat, GRACE_MS);
    assert!(
        matches!(v, Verdict::Drop(DropReason::Malformed(_))),
        "{v:?}"
    );
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtp), None);
    // The first well-formed packet after the grace latches the NAT address.
    forwarded(run_at(&mut c, 0, Channel::Rtp, &rtp(2, 0xa, b"x"), nat, GRACE_MS).0);
    assert_eq!(toward_a(&mut c, GRACE_MS + 1), nat);
    // That latch does not move to a third address.
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(3, 0xe, b""),
        addr(ATTACKER),
        60_000,
    );
    assert_eq!(v, Verdict::Drop(DropReason::StrictSource));
    forwarded(run_at(&mut c, 0, Channel::Rtp, &rtp(4, 0xa, b"x"), nat, 60_001).0);
    let s = ca.snapshot();
    assert_eq!(
        (
            s.latched_rtp,
            s.dropped_latch_refused,
            s.dropped_strict_source,
            s.relatches
        ),
        (Some(nat), 1, 1, 0)
    );
}

#[test]
fn plain_rtcp_is_not_hijacked_by_the_first_packet() {
    // Separate RTCP sockets: the signalled RTCP address is RTP + 1.
    let mut a = Leg::plain(Some(addr(PHONE_A)));
    a.mux = false;
    let mut b = Leg::plain(Some(addr(PHONE_B)));
    b.mux = false;
    let (mut c, ca, _) = call(a, b);
    let evil = addr(ATTACKER);
    let to_a_rtcp = |c: &mut CallState, now| {
        let (v, _) = run_at(c, 1, Channel::Rtcp, &rtcp_sr(0xb), addr(PHONE_B + 1), now);
        forwarded(v)
    };
    // A first RTCP packet from the attacker: refused.
    let (v, _) = run_at(&mut c, 0, Channel::Rtcp, &rtcp_sr(0xe), evil, 10);
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtcp), None);
    assert_eq!(
        to_a_rtcp(&mut c, 10),
        (0, Channel::Rtcp, addr(PHONE_A + 1), true)
    );
    // The phone's RTP keeps the leg's signalled peer alive for RTCP too
    // (RTCP itself comes only every few seconds).
    for t in (1000..12_000).step_by(1000) {
        forwarded(
            run_at(
                &mut c,
                0,
                Channel::Rtp,
                &rtp(1, 0xa, b"x"),
                addr(PHONE_A),
                t,
            )
            .0,
        );
        let (v, _) = run_at(&mut c, 0, Channel::Rtcp, &rtcp_sr(0xe), evil, t + 500);
        assert_eq!(v, Verdict::Drop(DropReason::LatchRefused), "at {t}");
    }
    assert_eq!(c.leg(LegId::A).latched(Channel::Rtcp), None);
    // The phone silent for the grace: the attacker latches RTCP ...
    forwarded(run_at(&mut c, 0, Channel::Rtcp, &rtcp_sr(0xe), evil, 20_000).0);
    assert_eq!(to_a_rtcp(&mut c, 20_000).2, evil);
    // ... until the phone's own RTCP wins it back.
    forwarded(
        run_at(
            &mut c,
            0,
            Channel::Rtcp,
            &rtcp_sr(0xa),
            addr(PHONE_A + 1),
            20_100,
        )
        .0,
    );
    assert_eq!(
        c.leg(LegId::A).latched(Channel::Rtcp),
        Some(addr(PHONE_A + 1))
    );
    assert_eq!(to_a_rtcp(&mut c, 20_100).2, addr(PHONE_A + 1));
    let (v, _) = run_at(&mut c, 0, Channel::Rtcp, &rtcp_sr(0xe), evil, 20_200);
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    let s = ca.snapshot();
    assert_eq!((s.latched_rtcp, s.relatches), (Some(addr(PHONE_A + 1)), 1));
    assert_eq!(s.dropped_latch_refused, 1 + 11 + 1);
}

#[test]
fn strict_plain_leg_never_latches_elsewhere_even_after_the_grace() {
    let mut a = Leg::plain(Some(addr(PHONE_A)));
    a.latch = LatchMode::Strict;
    let (mut c, ca, _) = call(a, Leg::plain(Some(addr(PHONE_B))));
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(1, 0xe, b""),
        addr(ATTACKER),
        10 * GRACE_MS,
    );
    assert_eq!(v, Verdict::Drop(DropReason::StrictSource));
    assert_eq!(toward_a(&mut c, 10 * GRACE_MS), addr(PHONE_A));
    assert_eq!(ca.snapshot().dropped_strict_source, 1);
}

#[test]
fn a_new_signalled_address_restarts_the_grace_and_a_clock_step_back_does_not_open_it() {
    let (mut c, ca, _) = call(
        Leg::plain(Some(addr(PHONE_A))),
        Leg::plain(Some(addr(PHONE_B))),
    );
    let evil = addr(ATTACKER);
    // Re-signalled at 10 s: the new address gets a full grace period.
    c.leg_mut(LegId::A)
        .apply(
            LegUpdate {
                remote_rtp: Some(addr(PHONE_A + 2)),
                ..Default::default()
            },
            10_000,
        )
        .unwrap();
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &rtp(1, 0xe, b""),
        evil,
        10_000 + GRACE_MS - 1,
    );
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    // The wall clock steps back an hour: the grace restarts from there
    // rather than waiting an hour (or underflowing).
    let (v, _) = run_at(&mut c, 0, Channel::Rtp, &rtp(2, 0xe, b""), evil, 5_000);
    assert_eq!(v, Verdict::Drop(DropReason::LatchRefused));
    forwarded(
        run_at(
            &mut c,
            0,
            Channel::Rtp,
            &rtp(3, 0xe, b""),
            evil,
            5_000 + GRACE_MS,
        )
        .0,
    );
    assert_eq!(ca.snapshot().dropped_latch_refused, 2);
}

#[test]
fn srtp_legs_keep_latching_on_authenticated_packets_only() {
    // The grace does not apply to SRTP: a genuine packet from a new
    // address latches at once; a forged one never does.
    let (mut c, ca, _) = call(
        Leg::srtp(Some(addr(PHONE_A)), CM80, 1, 2),
        Leg::srtp(Some(addr(PHONE_B)), CM80, 3, 4),
    );
    let mut forger = ctx(CM80, 9);
    let forged = protect(&mut forger, &rtp(1, 0xa, b"p"));
    let (v, _) = run_at(
        &mut c,
        0,
        Channel::Rtp,
        &forged,
        addr(ATTACKER),
        10 * GRACE_MS,
    );
    assert_eq!(v, Verdict::Drop(DropReason::AuthFailed));
    let mut phone_a = ctx(CM80, 1);
    let pkt = protect(&mut phone_a, &rtp(1, 0xa, b"p"));
    forwarded(run_at(&mut c, 0, Channel::Rtp, &pkt, addr(PHONE_A + 4), 10).0);
    let s = ca.snapshot();
    assert_eq!(
        (s.latched_rtp, s.dropped_latch_refused),
        (Some(addr(PHONE_A + 4)), 0)
    );
}

fn mki_key(suite: Suite, seed: u8, mki: u8) -> MasterKey {
    key(suite, seed).with_mki(&[mki])
}

#[test]
fn a_batch_of_updates_is_applied_whole_or_not_at_all() {
    let s = Suite::AesCm128HmacSha1_80;
    let with_mki = |seed: u8| Some(Context::new(Policy::new(s, mki_key(s, seed, 1))).unwrap());
    let (mut c, _, _) = call(Leg::srtp(None, s, 1, 2), Leg::srtp(None, s, 3, 4));
    c.leg_mut(LegId::A).srtp_out = with_mki(2);
    let before = c.leg(LegId::A).srtp_out.as_ref().unwrap().key_count();
    // A key added, then activation of an MKI nobody added: refused whole,
    // the added key is not there either.
    let steps = vec![
        (
            LegId::A,
            LegUpdate {
                srtp_out: Some(KeyChange::AddKey(mki_key(s, 5, 2))),
                forward: Some(ForwardMode::VerifiedPassthrough),
                ..LegUpdate::default()
            },
        ),
        (
            LegId::A,
            LegUpdate {
                srtp_out: Some(KeyChange::SetActiveMki(vec![9])),
                ..LegUpdate::default()
            },
        ),
    ];
    assert!(c.apply_all(steps, 0).is_err());
    let out = c.leg(LegId::A).srtp_out.as_ref().unwrap();
    assert_eq!(out.key_count(), before, "nothing was applied");
    assert!(!out.has_mki(&[2]));
    assert_eq!(c.leg(LegId::A).forward, ForwardMode::Transcode);
    // The same batch with the right MKI goes through at once.
    let steps = vec![
        (
            LegId::A,
            LegUpdate {
                srtp_out: Some(KeyChange::AddKey(mki_key(s, 5, 2))),
                ..LegUpdate::default()
            },
        ),
        (
            LegId::A,
            LegUpdate {
                srtp_out: Some(KeyChange::SetActiveMki(vec![2])),
                ..LegUpdate::default()
            },
        ),
    ];
    c.apply_all(steps, 0).unwrap();
    assert!(c.leg(LegId::A).srtp_out.as_ref().unwrap().has_mki(&[2]));
    // A duplicate MKI is refused before anything changes.
    let dup = vec![(
        LegId::A,
        LegUpdate {
            srtp_out: Some(KeyChange::AddKey(mki_key(s, 6, 2))),
            ..LegUpdate::default()
        },
    )];
    assert!(c.apply_all(dup, 0).is_err());
}

#[test]
fn rtcp_mux_turns_on_and_off_where_the_leg_has_an_rtcp_socket() {
    // Leg A is muxed with an RTCP socket kept (as ng starts its legs);
    // leg B is muxed and has none.
    let (mut c, _, _) = call(
        Leg::plain(Some(addr(PHONE_A))),
        Leg::plain(Some(addr(PHONE_B))),
    );
    c.leg_mut(LegId::A).rtcp_socket = true;
    let sr = rtcp_sr(7);
    // RTCP from B goes to A's RTP address while A is muxed ...
    let (v, _) = run(&mut c, 1, Channel::Rtp, &sr, addr(PHONE_B));
    assert_eq!(forwarded(v), (0, Channel::Rtp, addr(PHONE_A), true));
    // ... and to A's RTCP port once A leaves mux.
    let demux = LegUpdate {
        rtcp_mux: Some(false),
        ..LegUpdate::default()
    };
    c.apply_all(vec![(LegId::A, demux)], 0).unwrap();
    let (v, _) = run(&mut c, 1, Channel::Rtp, &sr, addr(PHONE_B));
    assert_eq!(forwarded(v), (0, Channel::Rtcp, addr(PHONE_A + 1), true));
    // B has no RTCP socket: it cannot leave mux, and the batch is refused
    // whole.
    let steps = vec![
        (
            LegId::A,
            LegUpdate {
                rtcp_mux: Some(true),
                ..LegUpdate::default()
            },
        ),
        (
            LegId::B,
            LegUpdate {
                rtcp_mux: Some(false),
                ..LegUpdate::default()
            },
        ),
    ];
    assert!(c.apply_all(steps, 0).is_err());
    assert!(!c.leg(LegId::A).rtcp_mux(), "nothing was applied");
    assert!(c.leg(LegId::B).rtcp_mux());
}

#[test]
fn a_leg_whose_consent_ran_out_is_sent_nothing_until_it_is_back() {
    let (mut c, _, cb) = call(
        Leg::plain(Some(addr(PHONE_A))),
        Leg::plain(Some(addr(PHONE_B))),
    );
    let send = |c: &mut CallState| run(c, 0, Channel::Rtp, &rtp(1, 0xa, b"p"), addr(PHONE_A)).0;
    forwarded(send(&mut c));
    let consent = |c: &mut CallState, on: bool| {
        c.leg_mut(LegId::B)
            .apply(
                LegUpdate {
                    consent: Some(on),
                    ..Default::default()
                },
                1,
            )
            .unwrap()
    };
    consent(&mut c, false);
    assert_eq!(send(&mut c), Verdict::Drop(DropReason::NoRemote));
    assert_eq!(
        cb.dropped_no_remote
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    consent(&mut c, true);
    forwarded(send(&mut c));
}
