//! Batch SRTP (`srtp::batch`) against the single-packet functions: two
//! identical sets of contexts, one driven packet by packet, the other in
//! batches of random sizes, must give the same result for every packet, the
//! same bytes in every buffer and the same context state afterwards, with
//! every HMAC-SHA1 engine this CPU runs. The traffic mixes suites (GCM,
//! NULL, 32-bit tags, MKIs, a key derivation rate, header encryption),
//! RTP and RTCP, sequence jumps across the ROC, and hostile packets:
//! forged, replayed, truncated, garbage and misdirected.

mod support;

use proptest::prelude::*;
use rampart::srtp::{
    BatchOp, BatchPacket, Batcher, Context, MacEngine, MasterKey, Policy, Suite, MAX_BATCH,
};
use rampart::Error;
use support::batch::engines;

/// How one context pair is keyed: suite, MKI, key derivation rate,
/// header extensions encrypted (RFC 6904 ID 1, or cryptex).
#[derive(Clone, Debug)]
struct Keying {
    suite: Suite,
    key_seed: u8,
    mki: bool,
    kdr: bool,
    header: u8,
}

fn keying() -> impl Strategy<Value = Keying> {
    (
        0..Suite::ALL.len(),
        any::<u8>(),
        any::<bool>(),
        0..8u8,
        0..4u8,
    )
        .prop_map(|(s, key_seed, mki, kdr, header)| Keying {
            suite: Suite::ALL[s],
            key_seed,
            mki,
            kdr: kdr == 0,
            header,
        })
}

impl Keying {
    fn context(&self) -> Context {
        let p = self.suite.params();
        let key: Vec<u8> = (0..p.master_key_len)
            .map(|i| self.key_seed.wrapping_mul(31).wrapping_add(i as u8))
            .collect();
        let salt: Vec<u8> = (0..p.master_salt_len)
            .map(|i| self.key_seed ^ (i as u8 * 7))
            .collect();
        let mut mk = MasterKey::new(self.suite, &key, &salt).unwrap();
        if self.mki {
            mk = mk.with_mki(&[self.key_seed, 1]);
        }
        let mut policy = Policy::new(self.suite, mk);
        if self.kdr {
            policy = policy.key_derivation_rate(1 << 8);
        }
        policy = match self.header {
            1 => policy.encrypt_header_extensions(&[1]),
            2 => policy.cryptex(true),
            _ => policy,
        };
        Context::new(policy).unwrap()
    }
}

/// One packet to send: which pair, RTP or RTCP, SSRC choice, sequence
/// step, payload length, with a header extension.
#[derive(Clone, Debug)]
struct Send {
    pair: usize,
    rtcp: bool,
    ssrc: u32,
    step: u16,
    len: usize,
    ext: bool,
}

fn send() -> impl Strategy<Value = Send> {
    (
        any::<usize>(),
        0..6u8,
        0..3u32,
        prop_oneof![8 => Just(1u16), 1 => Just(0u16), 1 => 2..40u16, 1 => 30000..40000u16],
        prop_oneof![4 => 140..180usize, 2 => 0..64usize, 2 => 1100..1300usize],
        any::<bool>(),
    )
        .prop_map(|(pair, r, ssrc, step, len, ext)| Send {
            pair,
            rtcp: r == 0,
            ssrc: 0x1000 + ssrc,
            step,
            len,
            ext,
        })
}

/// What the receive side does with each protected packet.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Deliver,
    Verify,
    Replay,
    Flip(usize),
    Truncate(usize),
    Garbage,
    OtherPair,
    Drop,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        10 => Just(Fate::Deliver),
        2 => Just(Fate::Verify),
        2 => Just(Fate::Replay),
        2 => any::<usize>().prop_map(Fate::Flip),
        1 => any::<usize>().prop_map(Fate::Truncate),
        1 => Just(Fate::Garbage),
        1 => Just(Fate::OtherPair),
        1 => Just(Fate::Drop),
    ]
}

fn rtp_packet(ssrc: u32, seq: u16, len: usize, ext: bool) -> Vec<u8> {
    let mut p = vec![0x80, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    if ext {
        p[0] |= 0x10;
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
    }
    p.extend((0..len).map(|i| (i as u8).wrapping_mul(13) ^ seq as u8));
    p
}

fn rtcp_packet(ssrc: u32, len: usize) -> Vec<u8> {
    let words = (len / 4).min(200);
    let mut p = vec![0x80, 201];
    p.extend_from_slice(&(words as u16 + 1).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..words * 4).map(|i| i as u8));
    p
}

/// One side's contexts (senders 0..n, receivers n..2n) and a log of what
/// happened, to compare.
struct Side {
    contexts: Vec<Context>,
}

impl Side {
    fn new(keyings: &[Keying]) -> Side {
        let mut contexts: Vec<Context> = keyings.iter().map(Keying::context).collect();
        contexts.extend(keyings.iter().map(Keying::context));
        Side { contexts }
    }

    fn sequential(
        &mut self,
        op: BatchOp,
        context: usize,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, Error> {
        let Some(ctx) = self.contexts.get_mut(context) else {
            return Err(Error::InvalidConfig("batch packet names no context"));
        };
        match op {
            BatchOp::ProtectRtp => ctx.protect_rtp(buf, len),
            BatchOp::ProtectRtcp => ctx.protect_rtcp(buf, len),
            BatchOp::UnprotectRtp => ctx.unprotect_rtp(&mut buf[..len]),
            BatchOp::UnprotectRtcp => ctx.unprotect_rtcp(&mut buf[..len]),
            BatchOp::VerifyRtp => ctx.verify_rtp(&mut buf[..len]),
            BatchOp::VerifyRtcp => ctx.verify_rtcp(&mut buf[..len]),
        }
    }

    fn state(&self, ssrcs: &[u32]) -> Vec<String> {
        self.contexts
            .iter()
            .map(|c| {
                let rocs: Vec<_> = ssrcs.iter().map(|&s| c.roc(s)).collect();
                format!("{:?} streams={} rocs={rocs:?}", c.stats(), c.stream_count())
            })
            .collect()
    }
}

/// One operation of a run, with its buffer.
#[derive(Clone)]
struct Op {
    op: BatchOp,
    context: usize,
    buf: Vec<u8>,
    len: usize,
}

/// Runs `ops` on `seq` one by one and on `bat` in batches of the sizes
/// `splits` cycles through; requires identical results and buffers.
/// Returns each operation's buffer and result (from the sequential side).
fn both(
    seq: &mut Side,
    bat: &mut Side,
    batcher: &mut Batcher,
    ops: &[Op],
    splits: &[usize],
) -> Vec<(Vec<u8>, Result<usize, Error>)> {
    let mut out = Vec::new();
    let mut want = Vec::new();
    for o in ops {
        let mut b = o.buf.clone();
        let r = seq.sequential(o.op, o.context, &mut b, o.len);
        want.push((b, r));
    }
    let mut bufs: Vec<Vec<u8>> = ops.iter().map(|o| o.buf.clone()).collect();
    let mut at = 0;
    let mut k = 0;
    let mut results = Vec::new();
    while at < ops.len() {
        let n = splits[k % splits.len()].clamp(1, ops.len() - at);
        k += 1;
        let mut batch: Vec<BatchPacket<'_>> = ops[at..at + n]
            .iter()
            .zip(bufs[at..at + n].iter_mut())
            .map(|(o, b)| BatchPacket::new(o.op, o.context, b, o.len))
            .collect();
        batcher.run(&mut bat.contexts, &mut batch);
        results.extend(batch.into_iter().map(|p| p.result));
        at += n;
    }
    for (i, ((wb, wr), (gb, gr))) in want.iter().zip(bufs.iter().zip(&results)).enumerate() {
        assert_eq!(
            wr, gr,
            "op {i} ({:?} on {}): result",
            ops[i].op, ops[i].context
        );
        assert_eq!(
            hex::encode(wb),
            hex::encode(gb),
            "op {i} ({:?}): bytes",
            ops[i].op
        );
        out.push((wb.clone(), wr.clone()));
    }
    out
}

fn run_case(
    keyings: &[Keying],
    sends: &[Send],
    fates: &[Fate],
    splits: &[usize],
    engine: MacEngine,
) {
    let mut batcher = Batcher::with_engine(engine).unwrap();
    let n = keyings.len();
    let mut seq = Side::new(keyings);
    let mut bat = Side::new(keyings);
    // Send: each SSRC of each pair counts its own sequence numbers.
    let mut seqs = vec![[0u16; 3]; n];
    let ops: Vec<Op> = sends
        .iter()
        .map(|s| {
            let pair = s.pair % n;
            let si = (s.ssrc - 0x1000) as usize;
            seqs[pair][si] = seqs[pair][si].wrapping_add(s.step);
            let plain = if s.rtcp {
                rtcp_packet(s.ssrc, s.len)
            } else {
                rtp_packet(s.ssrc, seqs[pair][si], s.len, s.ext)
            };
            let len = plain.len();
            let mut buf = plain;
            buf.resize(len + 40, 0xee);
            Op {
                op: if s.rtcp {
                    BatchOp::ProtectRtcp
                } else {
                    BatchOp::ProtectRtp
                },
                context: pair,
                buf,
                len,
            }
        })
        .collect();
    let sent = both(&mut seq, &mut bat, &mut batcher, &ops, splits);
    // Receive, with what happens to packets on the way, and a few new
    // packets sent in the same batches (a relay's shape).
    let mut rx = Vec::new();
    for (i, ((buf, result), send_op)) in sent.iter().zip(&ops).enumerate() {
        let Ok(len) = *result else { continue };
        let rtcp = send_op.op == BatchOp::ProtectRtcp;
        let pair = send_op.context;
        let fate = fates[i % fates.len()];
        let (op_rtp, op_rtcp) = match fate {
            Fate::Verify => (BatchOp::VerifyRtp, BatchOp::VerifyRtcp),
            _ => (BatchOp::UnprotectRtp, BatchOp::UnprotectRtcp),
        };
        let op = if rtcp { op_rtcp } else { op_rtp };
        let mut wire = buf[..len].to_vec();
        let mut context = n + pair;
        match fate {
            Fate::Drop => continue,
            Fate::Flip(at) => wire[at % len] ^= 1 << (at % 8),
            Fate::Truncate(at) => wire.truncate(at % len),
            Fate::Garbage => wire
                .iter_mut()
                .enumerate()
                .for_each(|(k, b)| *b ^= k as u8 | 1),
            Fate::OtherPair => context = n + (pair + 1) % n,
            _ => {}
        }
        let len = wire.len();
        rx.push(Op {
            op,
            context,
            buf: wire.clone(),
            len,
        });
        if let Fate::Replay = fate {
            rx.push(Op {
                op,
                context,
                buf: wire,
                len,
            });
        }
        if i % 5 == 0 {
            let again = &ops[i];
            rx.push(again.clone());
        }
    }
    // Some reordering: swap neighbours every seventh packet.
    for i in (1..rx.len()).step_by(7) {
        rx.swap(i - 1, i);
    }
    both(&mut seq, &mut bat, &mut batcher, &rx, splits);
    let ssrcs = [0x1000, 0x1001, 0x1002];
    assert_eq!(seq.state(&ssrcs), bat.state(&ssrcs), "context state");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Batch results are the sequential results, packet for packet.
    #[test]
    fn batches_equal_the_sequential_path(
        keyings in prop::collection::vec(keying(), 1..5),
        sends in prop::collection::vec(send(), 1..160),
        fates in prop::collection::vec(fate(), 1..20),
        splits in prop::collection::vec(1..=MAX_BATCH + 8, 1..6),
    ) {
        for engine in engines() {
            run_case(&keyings, &sends, &fates, &splits, engine);
        }
    }
}

/// The common case, large: one suite, many streams, full batches, every
/// packet genuine (the vector engines run full).
#[test]
fn full_batches_of_genuine_traffic() {
    let keyings: Vec<Keying> = (0..8)
        .map(|k| Keying {
            suite: Suite::AesCm128HmacSha1_80,
            key_seed: k,
            mki: false,
            kdr: false,
            header: 0,
        })
        .collect();
    let sends: Vec<Send> = (0..2000)
        .map(|i| Send {
            pair: i % 8,
            rtcp: i % 50 == 0,
            ssrc: 0x1000 + (i % 3) as u32,
            step: 1,
            len: 160,
            ext: false,
        })
        .collect();
    for engine in engines() {
        run_case(
            &keyings,
            &sends,
            &[Fate::Deliver],
            &[MAX_BATCH, 32, 16, 7],
            engine,
        );
    }
}

/// A packet naming no context, and an unprotect length past its buffer,
/// are refused in the batch without touching the others.
#[test]
fn bad_packet_descriptions_are_refused() {
    let k = Keying {
        suite: Suite::AesCm128HmacSha1_80,
        key_seed: 9,
        mki: false,
        kdr: false,
        header: 0,
    };
    let mut contexts = vec![k.context()];
    let mut a = rtp_packet(1, 1, 160, false);
    let len = a.len();
    a.resize(len + 16, 0);
    let mut b = a.clone();
    let mut c = vec![0u8; 20];
    let mut batch = vec![
        BatchPacket::new(BatchOp::ProtectRtp, 0, &mut a, len),
        BatchPacket::new(BatchOp::ProtectRtp, 7, &mut b, len),
        BatchPacket::new(BatchOp::UnprotectRtp, 0, &mut c, 21),
    ];
    Batcher::new().run(&mut contexts, &mut batch);
    assert_eq!(batch[0].result, Ok(len + 10));
    assert!(matches!(batch[1].result, Err(Error::InvalidConfig(_))));
    assert_eq!(
        batch[2].result,
        Err(Error::BufferTooSmall {
            needed: 21,
            available: 20
        })
    );
}

/// Each engine is reachable: `with_engine` takes every engine this CPU
/// runs, and `MacEngine::parse` reads the names the environment variable
/// uses.
#[test]
fn engines_are_named_and_forced() {
    for e in MacEngine::ALL {
        assert_eq!(MacEngine::parse(e.name()), Some(e));
        assert_eq!(Batcher::with_engine(e).is_ok(), e.available());
    }
    assert_eq!(MacEngine::parse("fast"), None);
}
