//! Property tests of the SRTP core over every suite, with and without MKI:
//! random keys, salts, SSRCs, ROCs, sequence numbers (often near 65535 so
//! they wrap), SRTCP indices, payload sizes 0..1400, CSRC lists and header
//! extensions, and the encrypt/no-encrypt and key-derivation-rate options.
//!
//! * roundtrip: a sender's protect and a separate receiver's unprotect give
//!   back the original bytes, and `verify_*` accepts without changing them;
//! * tamper: every single-bit flip tried is rejected, and the rejected packet
//!   changes no receiver state (fresh or established);
//! * replay: a shuffled batch inside the window unprotects exactly once,
//!   every second attempt is `Replayed`, and packets behind the window are
//!   `TooOld`;
//! * truncation: every shorter prefix (and a lengthened packet) is rejected;
//! * arbitrary or mutated bytes never panic, and never disturb the receiver.
//!
//! Case counts are kept so the file runs in well under 15 s in a debug build.

use proptest::prelude::*;
use proptest::sample::Index;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::Error;

// ---------------------------------------------------------------------------
// Configurations and packets.

/// One key set and policy, used to build a sender and any receivers.
#[derive(Clone, Debug)]
struct Setup {
    suite: Suite,
    key: [u8; 32],
    salt: [u8; 14],
    /// Empty: no MKI.
    mki: Vec<u8>,
    encrypt_rtp: bool,
    encrypt_rtcp: bool,
    window: usize,
    kdr: u64,
}

impl Setup {
    fn master(&self) -> MasterKey {
        let s = self.suite;
        let k = MasterKey::new(
            s,
            &self.key[..s.master_key_len()],
            &self.salt[..s.master_salt_len()],
        )
        .expect("key and salt lengths match the suite");
        if self.mki.is_empty() {
            k
        } else {
            k.with_mki(&self.mki)
        }
    }

    fn context(&self) -> Context {
        let policy = Policy::new(self.suite, self.master())
            .replay_window(self.window)
            .key_derivation_rate(self.kdr)
            .encrypt_rtp(self.encrypt_rtp || self.suite.is_aead())
            .encrypt_rtcp(self.encrypt_rtcp);
        Context::new(policy).expect("valid policy")
    }

    /// Whether protected RTCP has the E flag set.
    fn rtcp_encrypted(&self) -> bool {
        self.encrypt_rtcp && self.suite.encrypts()
    }

    fn rtp_trailer(&self) -> usize {
        self.mki.len() + self.suite.srtp_tag_len()
    }

    fn rtcp_trailer(&self) -> usize {
        4 + self.mki.len() + self.suite.srtcp_tag_len()
    }
}

fn suite() -> impl Strategy<Value = Suite> {
    prop::sample::select(Suite::ALL.to_vec())
}

fn mki() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![3 => Just(0usize), 3 => Just(4usize), 2 => 1usize..=8];
    (len, any::<[u8; 8]>()).prop_map(|(n, b)| b[..n].to_vec())
}

fn setup_with(suite: impl Strategy<Value = Suite>) -> impl Strategy<Value = Setup> {
    (
        suite,
        any::<[u8; 32]>(),
        any::<[u8; 14]>(),
        mki(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.8),
        prop_oneof![Just(64usize), Just(128), Just(1024)],
        prop_oneof![6 => Just(0u64), 1 => (0u32..=24).prop_map(|s| 1u64 << s)],
    )
        .prop_map(
            |(suite, key, salt, mki, encrypt_rtp, encrypt_rtcp, window, kdr)| Setup {
                suite,
                key,
                salt,
                mki,
                encrypt_rtp,
                encrypt_rtcp,
                window,
                kdr,
            },
        )
}

fn setup() -> impl Strategy<Value = Setup> {
    setup_with(suite())
}

/// Everything of an RTP header but the sequence number.
#[derive(Clone, Debug)]
struct RtpHdr {
    pt: u8,
    marker: bool,
    ts: u32,
    ssrc: u32,
    csrcs: Vec<u32>,
    /// Profile and data (a multiple of 4 bytes).
    ext: Option<(u16, Vec<u8>)>,
}

impl RtpHdr {
    fn packet(&self, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + 4 * 15 + 28 + payload.len());
        let x = if self.ext.is_some() { 0x10 } else { 0 };
        p.push(0x80 | x | self.csrcs.len() as u8);
        p.push((self.pt & 0x7f) | if self.marker { 0x80 } else { 0 });
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&self.ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in &self.csrcs {
            p.extend_from_slice(&c.to_be_bytes());
        }
        if let Some((profile, data)) = &self.ext {
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            p.extend_from_slice(data);
        }
        p.extend_from_slice(payload);
        p
    }

    fn header_len(&self) -> usize {
        12 + 4 * self.csrcs.len() + self.ext.as_ref().map_or(0, |(_, d)| 4 + d.len())
    }
}

fn rtp_hdr() -> impl Strategy<Value = RtpHdr> {
    let csrcs =
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(any::<u32>(), 1..=15)];
    let ext = prop_oneof![
        3 => Just(None),
        1 => (any::<u16>(), 0usize..=6, any::<[u8; 24]>())
            .prop_map(|(profile, words, b)| Some((profile, b[..4 * words].to_vec()))),
    ];
    (
        any::<u8>(),
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
        csrcs,
        ext,
    )
        .prop_map(|(pt, marker, ts, ssrc, csrcs, ext)| RtpHdr {
            pt,
            marker,
            ts,
            ssrc,
            csrcs,
            ext,
        })
}

/// A sequence number, often close enough to 65535 to wrap within a few
/// packets.
fn seq() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => any::<u16>(),
        1 => 65_400u16..=65_535,
        1 => 65_532u16..=65_535,
        1 => 0u16..=8,
    ]
}

/// A rollover counter to start from (never `u32::MAX`, so one wrap fits).
fn roc() -> impl Strategy<Value = u32> {
    prop_oneof![2 => Just(0u32), 1 => 0..u32::MAX, 1 => (u32::MAX - 2)..u32::MAX]
}

/// A first SRTCP index, sometimes near the 31-bit limit.
fn rtcp_index() -> impl Strategy<Value = u32> {
    prop_oneof![2 => Just(0u32), 1 => 0u32..0x7fff_0000, 1 => 0x7ffe_0000u32..0x7fff_0000]
}

fn payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// The first word of an RTCP packet other than the length: V=2, P=0,
/// count, packet type.
#[derive(Clone, Debug)]
struct RtcpHdr {
    count: u8,
    pt: u8,
    ssrc: u32,
}

impl RtcpHdr {
    /// One RTCP packet with this header and `body` (cut to whole words).
    fn packet(&self, body: &[u8]) -> Vec<u8> {
        let body = &body[..body.len() / 4 * 4];
        let words = (8 + body.len()) / 4 - 1;
        let mut p = Vec::with_capacity(8 + body.len());
        p.push(0x80 | (self.count & 0x1f));
        p.push(self.pt);
        p.extend_from_slice(&(words as u16).to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(body);
        p
    }
}

fn rtcp_hdr() -> impl Strategy<Value = RtcpHdr> {
    (0u8..32, 200u8..=207, any::<u32>()).prop_map(|(count, pt, ssrc)| RtcpHdr { count, pt, ssrc })
}

/// RTP or RTCP, for the tests that run the same property over both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rtp,
    Rtcp,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Rtp), Just(Kind::Rtcp)]
}

/// A plain packet of either kind: (kind, header strategy output, first
/// sequence number, packets to send).
#[derive(Clone, Debug)]
struct Flow {
    kind: Kind,
    rtp: RtpHdr,
    rtcp: RtcpHdr,
    seq: u16,
    roc: u32,
    rtcp_index: u32,
}

impl Flow {
    fn ssrc(&self) -> u32 {
        match self.kind {
            Kind::Rtp => self.rtp.ssrc,
            Kind::Rtcp => self.rtcp.ssrc,
        }
    }

    /// The `i`-th plain packet of the flow with `payload`.
    fn plain(&self, i: u16, payload: &[u8]) -> Vec<u8> {
        match self.kind {
            Kind::Rtp => self.rtp.packet(self.seq.wrapping_add(i), payload),
            Kind::Rtcp => self.rtcp.packet(payload),
        }
    }

    /// Sets the ROC or SRTCP index a context starts from. A ROC of 0 is left
    /// implicit, so such a receiver starts with no stream at all.
    fn prime(&self, ctx: &mut Context, sender: bool) {
        match self.kind {
            Kind::Rtp if self.roc == 0 => {}
            Kind::Rtp => ctx.set_roc(self.ssrc(), self.roc).unwrap(),
            Kind::Rtcp if sender => ctx.set_rtcp_index(self.ssrc(), self.rtcp_index).unwrap(),
            Kind::Rtcp => {}
        }
    }
}

fn flow_of(kind: impl Strategy<Value = Kind>) -> impl Strategy<Value = Flow> {
    (kind, rtp_hdr(), rtcp_hdr(), seq(), roc(), rtcp_index()).prop_map(
        |(kind, rtp, rtcp, seq, roc, rtcp_index)| Flow {
            kind,
            rtp,
            rtcp,
            seq,
            roc,
            rtcp_index,
        },
    )
}

fn flow() -> impl Strategy<Value = Flow> {
    flow_of(kind())
}

// ---------------------------------------------------------------------------
// Helpers.

fn protect(ctx: &mut Context, kind: Kind, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.max_trailer_len(), 0xa5);
    let n = match kind {
        Kind::Rtp => ctx.protect_rtp(&mut buf, plain.len()),
        Kind::Rtcp => ctx.protect_rtcp(&mut buf, plain.len()),
    }
    .unwrap_or_else(|e| panic!("protect {kind:?} failed: {e:?}"));
    buf.truncate(n);
    buf
}

/// Unprotects a copy of `packet`; the plain bytes on success.
fn unprotect(ctx: &mut Context, kind: Kind, packet: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = packet.to_vec();
    let n = match kind {
        Kind::Rtp => ctx.unprotect_rtp(&mut buf)?,
        Kind::Rtcp => ctx.unprotect_rtcp(&mut buf)?,
    };
    assert!(n <= packet.len());
    buf.truncate(n);
    Ok(buf)
}

/// Verifies a copy of `packet`; on success the bytes must be unchanged.
fn verify(ctx: &mut Context, kind: Kind, packet: &[u8]) -> Result<usize, Error> {
    let mut buf = packet.to_vec();
    let n = match kind {
        Kind::Rtp => ctx.verify_rtp(&mut buf)?,
        Kind::Rtcp => ctx.verify_rtcp(&mut buf)?,
    };
    assert_eq!(buf, packet, "verify_{kind:?} changed the packet bytes");
    assert!(n <= packet.len());
    Ok(n)
}

/// A small xorshift for shuffles driven by a proptest seed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// Flips bit `bit` of a copy of `packet`.
fn flipped(packet: &[u8], bit: usize) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[bit / 8] ^= 1 << (bit % 8);
    p
}

/// Picks a bit to flip: anywhere, in the first 16 bytes (headers, SRTCP
/// index of short packets), or in the last 32 (MKI, tag, E flag and index).
fn pick_bit(len: usize, region: u8, at: Index) -> usize {
    let bits = len * 8;
    match region % 3 {
        0 => at.index(bits),
        1 => at.index(bits.min(16 * 8)),
        _ => {
            let tail = bits.min(32 * 8);
            bits - tail + at.index(tail)
        }
    }
}

fn flips() -> impl Strategy<Value = Vec<(u8, Index)>> {
    prop::collection::vec((any::<u8>(), any::<Index>()), 1..=24)
}

// ---------------------------------------------------------------------------
// Properties.

/// `cases` cases; the whole file stays well under 15 s in a debug build.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Protect with a sender, unprotect with a separate receiver: the original
    /// bytes, in order across the sequence-number wrap; the wire layout (clear
    /// header, MKI and E flag/index placement) is the RFC's; verify accepts
    /// without touching the bytes.
    #[test]
    fn roundtrip(
        s in setup(),
        f in flow(),
        payloads in prop::collection::vec(payload(1400), 1..=4),
    ) {
        let mut tx = s.context();
        let mut rx = s.context();
        let mut vx = s.context();
        f.prime(&mut tx, true);
        f.prime(&mut rx, false);
        f.prime(&mut vx, false);
        let ssrc = f.ssrc();
        for (i, body) in payloads.iter().enumerate() {
            let plain = f.plain(i as u16, body);
            let wire = protect(&mut tx, f.kind, &plain);
            let len = plain.len();
            match f.kind {
                Kind::Rtp => {
                    prop_assert_eq!(wire.len(), len + s.rtp_trailer());
                    let hl = f.rtp.header_len();
                    prop_assert_eq!(&wire[..hl], &plain[..hl], "RTP header stays clear");
                    let mki_at = if s.suite.is_aead() { wire.len() - s.mki.len() } else { len };
                    prop_assert_eq!(&wire[mki_at..mki_at + s.mki.len()], &s.mki[..]);
                    if !s.suite.encrypts() || (!s.encrypt_rtp && !s.suite.is_aead()) {
                        prop_assert_eq!(&wire[..len], &plain[..], "unencrypted SRTP payload");
                    }
                }
                Kind::Rtcp => {
                    prop_assert_eq!(wire.len(), len + s.rtcp_trailer());
                    prop_assert_eq!(&wire[..8], &plain[..8], "RTCP header stays clear");
                    let e_at = if s.suite.is_aead() { len + 16 } else { len };
                    let e_word = u32::from_be_bytes(wire[e_at..e_at + 4].try_into().unwrap());
                    let index = f.rtcp_index + i as u32;
                    prop_assert_eq!(e_word, ((s.rtcp_encrypted() as u32) << 31) | index);
                    prop_assert_eq!(&wire[e_at + 4..e_at + 4 + s.mki.len()], &s.mki[..]);
                    if !s.rtcp_encrypted() {
                        prop_assert_eq!(&wire[..len], &plain[..], "unencrypted SRTCP payload");
                    }
                }
            }
            prop_assert_eq!(verify(&mut vx, f.kind, &wire), Ok(len));
            prop_assert_eq!(unprotect(&mut rx, f.kind, &wire), Ok(plain));
            if f.kind == Kind::Rtp {
                prop_assert_eq!(rx.roc(ssrc), tx.roc(ssrc));
                prop_assert_eq!(vx.roc(ssrc), tx.roc(ssrc));
            }
        }
        let n = payloads.len() as u64;
        let (p, u) = match f.kind {
            Kind::Rtp => (tx.stats().rtp_protected, rx.stats().rtp_unprotected),
            Kind::Rtcp => (tx.stats().rtcp_protected, rx.stats().rtcp_unprotected),
        };
        prop_assert_eq!((p, u), (n, n));
        prop_assert_eq!(rx.stats().auth_failures + rx.stats().replays + rx.stats().malformed, 0);
    }

}

proptest! {
    #![proptest_config(config(1024))]

    /// Every single-bit flip tried is rejected, by a fresh receiver (which
    /// then holds no stream) and by an established one (whose ROC does not
    /// move); afterwards the untampered packets still unprotect, once.
    #[test]
    fn bit_flips_rejected_without_state_change(
        s in setup(),
        f in flow(),
        body_a in payload(1400),
        body_b in payload(300),
        flips_a in flips(),
        flips_b in flips(),
    ) {
        let mut tx = s.context();
        f.prime(&mut tx, true);
        let plain_a = f.plain(0, &body_a);
        let plain_b = f.plain(1, &body_b);
        let a = protect(&mut tx, f.kind, &plain_a);
        let b = protect(&mut tx, f.kind, &plain_b);
        let ssrc = f.ssrc();
        let tag_len = match f.kind {
            Kind::Rtp => s.suite.srtp_tag_len(),
            Kind::Rtcp => s.suite.srtcp_tag_len(),
        };
        // Where the tag starts. AEAD: ... tag | [E+index] | MKI; else at the end.
        let tag_at = |len: usize| if s.suite.is_aead() {
            len - s.mki.len() - if f.kind == Kind::Rtcp { 4 } else { 0 } - 16
        } else {
            len - tag_len
        };

        // A fresh receiver.
        let mut rx = s.context();
        f.prime(&mut rx, false);
        let streams = rx.stream_count();
        let roc = rx.roc(ssrc);
        for &(region, at) in &flips_a {
            let bit = pick_bit(a.len(), region, at);
            let bad = flipped(&a, bit);
            let r = unprotect(&mut rx, f.kind, &bad);
            prop_assert!(r.is_err(), "flip of bit {} accepted: {:?}", bit, r);
            let t = tag_at(a.len());
            if (t..t + tag_len).contains(&(bit / 8)) {
                prop_assert_eq!(r, Err(Error::AuthFailed), "tag bit {}", bit);
            }
            prop_assert!(verify(&mut rx, f.kind, &bad).is_err(), "verify of flip {}", bit);
            prop_assert_eq!(rx.stream_count(), streams);
            prop_assert_eq!(rx.roc(ssrc), roc);
        }
        prop_assert_eq!(unprotect(&mut rx, f.kind, &a), Ok(plain_a.clone()));

        // The same receiver, now established with packet A.
        let roc = rx.roc(ssrc);
        for &(region, at) in &flips_b {
            let bit = pick_bit(b.len(), region, at);
            let bad = flipped(&b, bit);
            prop_assert!(unprotect(&mut rx, f.kind, &bad).is_err(), "flip of bit {}", bit);
            prop_assert!(verify(&mut rx, f.kind, &bad).is_err(), "verify of flip {}", bit);
            prop_assert_eq!(rx.stream_count(), 1);
            prop_assert_eq!(rx.roc(ssrc), roc);
        }
        prop_assert_eq!(unprotect(&mut rx, f.kind, &b), Ok(plain_b));
        prop_assert_eq!(unprotect(&mut rx, f.kind, &a), Err(Error::Replayed));
        prop_assert_eq!(unprotect(&mut rx, f.kind, &b), Err(Error::Replayed));
    }

}

proptest! {
    #![proptest_config(config(768))]

    /// A batch inside the replay window, delivered shuffled after the first
    /// packet, unprotects exactly once per packet; every second attempt (at
    /// once, and in a second shuffled pass, by unprotect and by verify) is
    /// `Replayed`. After the window moves on past them they are `TooOld`, as
    /// is a packet that never arrived.
    #[test]
    fn replays_rejected_reordering_accepted_once(
        s in setup(),
        f in flow(),
        n in 1usize..64,
        body in payload(48),
        seed in any::<u64>(),
        seed2 in any::<u64>(),
    ) {
        let mut tx = s.context();
        let mut rx = s.context();
        f.prime(&mut tx, true);
        f.prime(&mut rx, false);
        let kind = f.kind;
        // Packet 0 first (it fixes the ROC for the receiver), then 1..=n
        // shuffled; n + 1 is held back.
        let plains: Vec<Vec<u8>> = (0..=n + 1)
            .map(|i| f.plain(i as u16, &body[..(i * 7) % (body.len() + 1)]))
            .collect();
        let wires: Vec<Vec<u8>> = plains.iter().map(|p| protect(&mut tx, kind, p)).collect();
        let held = n + 1;
        prop_assert_eq!(unprotect(&mut rx, kind, &wires[0]), Ok(plains[0].clone()));
        let mut order: Vec<usize> = (1..=n).collect();
        shuffle(&mut order, seed);
        for &i in &order {
            prop_assert_eq!(unprotect(&mut rx, kind, &wires[i]), Ok(plains[i].clone()), "packet {}", i);
            prop_assert_eq!(unprotect(&mut rx, kind, &wires[i]), Err(Error::Replayed), "packet {}", i);
        }
        let mut order: Vec<usize> = (0..=n).collect();
        shuffle(&mut order, seed2);
        for &i in &order {
            prop_assert_eq!(unprotect(&mut rx, kind, &wires[i]), Err(Error::Replayed), "packet {}", i);
            prop_assert_eq!(verify(&mut rx, kind, &wires[i]), Err(Error::Replayed), "packet {}", i);
        }
        prop_assert_eq!(rx.stats().replays, 3 * n as u64 + 2);

        // Move the window past everything: the held-back packet and the old
        // ones are now too old.
        let jump = match kind {
            Kind::Rtp => f.plain((n + 1 + s.window) as u16, &body),
            Kind::Rtcp => {
                let next = f.rtcp_index + (n + 1 + s.window) as u32;
                tx.set_rtcp_index(f.ssrc(), next).unwrap();
                f.plain(0, &body)
            }
        };
        let jw = protect(&mut tx, kind, &jump);
        prop_assert_eq!(unprotect(&mut rx, kind, &jw), Ok(jump));
        prop_assert_eq!(unprotect(&mut rx, kind, &wires[held]), Err(Error::TooOld));
        prop_assert_eq!(unprotect(&mut rx, kind, &wires[0]), Err(Error::TooOld));
        prop_assert_eq!(unprotect(&mut rx, kind, &jw), Err(Error::Replayed));
    }

}

proptest! {
    #![proptest_config(config(768))]

    /// Every truncation of a protected packet, and the packet with a byte
    /// appended, is rejected without panic and without a state change; the
    /// whole packet then still unprotects.
    #[test]
    fn truncations_rejected(
        s in setup(),
        f in flow(),
        body in payload(200),
        big in payload(1400),
        cuts in prop::collection::vec(any::<Index>(), 8),
    ) {
        let mut tx = s.context();
        f.prime(&mut tx, true);
        let plain = f.plain(0, &body);
        let wire = protect(&mut tx, f.kind, &plain);
        let plain_big = f.plain(1, &big);
        let wire_big = protect(&mut tx, f.kind, &plain_big);
        let mut rx = s.context();
        f.prime(&mut rx, false);
        let streams = rx.stream_count();
        // The small packet at every length, the big one at sampled lengths
        // and just short of whole.
        let mut cases: Vec<(&[u8], usize)> = (0..wire.len()).map(|l| (&wire[..], l)).collect();
        cases.extend(cuts.iter().map(|c| (&wire_big[..], c.index(wire_big.len()))));
        cases.extend((1..=4).map(|d| (&wire_big[..], wire_big.len() - d)));
        for (w, l) in cases {
            prop_assert!(unprotect(&mut rx, f.kind, &w[..l]).is_err(), "length {}", l);
            prop_assert!(verify(&mut rx, f.kind, &w[..l]).is_err(), "length {}", l);
            prop_assert_eq!(rx.stream_count(), streams);
        }
        let mut longer = wire.clone();
        longer.push(0);
        prop_assert!(unprotect(&mut rx, f.kind, &longer).is_err());
        prop_assert_eq!(unprotect(&mut rx, f.kind, &wire), Ok(plain));
        prop_assert_eq!(unprotect(&mut rx, f.kind, &wire_big), Ok(plain_big));
    }

}

proptest! {
    #![proptest_config(config(1024))]

    /// Arbitrary bytes, and valid packets with bytes overwritten, given to
    /// unprotect and verify (RTP and RTCP) never panic, are never accepted
    /// when they differ from what was sent, and leave a fresh and an
    /// established receiver able to take the next real packet.
    #[test]
    fn arbitrary_bytes_never_panic(
        s in setup(),
        f in flow(),
        junk in prop::collection::vec(
            prop_oneof![
                2 => prop::collection::vec(any::<u8>(), 0..1500),
                // Looks like RTP/RTCP (V=2) so parsing goes further.
                2 => (any::<u8>(), prop::collection::vec(any::<u8>(), 0..200))
                    .prop_map(|(b0, mut v)| { v.insert(0, 0x80 | (b0 & 0x3f)); v }),
            ],
            1..=6,
        ),
        edits in prop::collection::vec((any::<Index>(), any::<u8>()), 1..=4),
        body in payload(200),
    ) {
        let mut tx = s.context();
        f.prime(&mut tx, true);
        let plains: Vec<Vec<u8>> = (0..3).map(|i| f.plain(i, &body)).collect();
        let wires: Vec<Vec<u8>> = plains.iter().map(|p| protect(&mut tx, f.kind, p)).collect();
        let mut fresh = s.context();
        let mut est = s.context();
        f.prime(&mut fresh, false);
        f.prime(&mut est, false);
        prop_assert_eq!(unprotect(&mut est, f.kind, &wires[0]), Ok(plains[0].clone()));

        let mut mutated = wires[1].clone();
        for (at, v) in &edits {
            let i = at.index(mutated.len());
            mutated[i] = *v;
        }
        let mut inputs = junk.clone();
        inputs.push(mutated.clone());
        for bytes in &inputs {
            for ctx in [&mut fresh, &mut est] {
                for k in [Kind::Rtp, Kind::Rtcp] {
                    let r = unprotect(ctx, k, bytes);
                    let v = verify(ctx, k, bytes);
                    if bytes != &wires[1] {
                        prop_assert!(r.is_err() && v.is_err(), "{:?} accepted: {:?} {:?}", k, r, v);
                    }
                }
            }
        }
        if mutated == wires[1] {
            // The edits changed nothing: the packet was legitimately taken.
            prop_assert_eq!(unprotect(&mut est, f.kind, &wires[2]), Ok(plains[2].clone()));
        } else {
            prop_assert_eq!(unprotect(&mut est, f.kind, &wires[1]), Ok(plains[1].clone()));
            prop_assert_eq!(unprotect(&mut fresh, f.kind, &wires[0]), Ok(plains[0].clone()));
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Each suite explicitly, with and without a 4-byte MKI, so that no
    /// suite/MKI pair depends on the random draw above.
    #[test]
    fn every_suite_and_mki_roundtrips_and_rejects_flips(
        setups in prop::collection::vec(setup(), Suite::ALL.len()),
        f in flow(),
        body in payload(1400),
        at in any::<Index>(),
    ) {
        for (suite, s) in Suite::ALL.iter().zip(&setups) {
            for mki in [Vec::new(), vec![0xde, 0xad, 0xbe, 0xef]] {
                let s = Setup { suite: *suite, mki, ..s.clone() };
                let mut tx = s.context();
                let mut rx = s.context();
                f.prime(&mut tx, true);
                f.prime(&mut rx, false);
                let plain = f.plain(0, &body);
                let wire = protect(&mut tx, f.kind, &plain);
                let bad = flipped(&wire, at.index(wire.len() * 8));
                prop_assert!(unprotect(&mut rx, f.kind, &bad).is_err(), "{:?}", suite);
                prop_assert_eq!(unprotect(&mut rx, f.kind, &wire), Ok(plain), "{:?}", suite);
                prop_assert_eq!(unprotect(&mut rx, f.kind, &wire), Err(Error::Replayed));
            }
        }
    }
}
