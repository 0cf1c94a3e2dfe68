//! The batch path (`srtp::Batcher`) against the single-packet functions on
//! hostile input: two identical sets of contexts (suites, MKIs, a key
//! derivation rate and header protection picked by the input), one driven
//! packet by packet, the other in batches of the sizes the input picks and
//! with the engine it picks. Packets are protected ones (genuine, possibly
//! corrupted, replayed or sent to the wrong context) and arbitrary bytes.
//! Every result and every byte must be the same on both sides, and nothing
//! may panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rampart::srtp::{BatchOp, BatchPacket, Batcher, Context, MacEngine, MasterKey, Policy, Suite};
use rampart::Error;

mod common;

#[derive(Arbitrary, Debug)]
struct Input {
    /// One byte per pair: suite (low nibble), MKI, key derivation rate,
    /// cryptex.
    pairs: Vec<u8>,
    engine: u8,
    splits: Vec<u8>,
    packets: Vec<Packet>,
}

#[derive(Arbitrary, Debug)]
enum Packet {
    /// A plaintext the pair's sender protects (RTP or RTCP), then maybe
    /// corrupted (position, mask), sent to pair `to` (modulo), twice when
    /// `replay`.
    Protected {
        pair: u8,
        rtcp: bool,
        seq_step: u16,
        ssrc: bool,
        payload: Vec<u8>,
        corrupt: Option<(u16, u8)>,
        to: u8,
        replay: bool,
        verify: bool,
    },
    /// Raw bytes to a receiver.
    Raw { to: u8, rtcp: bool, bytes: Vec<u8> },
}

fn context(sel: u8) -> Context {
    let suite = Suite::ALL[usize::from(sel & 0x0f) % Suite::ALL.len()];
    let p = suite.params();
    let mut key = MasterKey::new(
        suite,
        &common::KEY[..p.master_key_len],
        &common::SALT[..p.master_salt_len],
    )
    .expect("fixed keys fit every suite");
    if sel & 0x10 != 0 {
        key = key.with_mki(&common::MKI);
    }
    let mut policy = Policy::new(suite, key);
    if sel & 0x20 != 0 {
        policy = policy.key_derivation_rate(1 << 4);
    }
    if sel & 0x40 != 0 {
        policy = policy.cryptex(true);
    }
    Context::new(policy).expect("valid policy")
}

fn run(
    seq: &mut [Context],
    op: BatchOp,
    ctx: usize,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, Error> {
    let c = &mut seq[ctx];
    match op {
        BatchOp::ProtectRtp => c.protect_rtp(buf, len),
        BatchOp::ProtectRtcp => c.protect_rtcp(buf, len),
        BatchOp::UnprotectRtp => c.unprotect_rtp(&mut buf[..len]),
        BatchOp::UnprotectRtcp => c.unprotect_rtcp(&mut buf[..len]),
        BatchOp::VerifyRtp => c.verify_rtp(&mut buf[..len]),
        BatchOp::VerifyRtcp => c.verify_rtcp(&mut buf[..len]),
    }
}

fuzz_target!(|input: Input| {
    let pairs: Vec<u8> = input.pairs.iter().copied().take(4).collect();
    if pairs.is_empty() || input.packets.len() > 300 {
        return;
    }
    let n = pairs.len();
    let engines: Vec<MacEngine> = MacEngine::ALL
        .into_iter()
        .filter(|e| e.available())
        .collect();
    let engine = engines[usize::from(input.engine) % engines.len()];
    let mut batcher = Batcher::with_engine(engine).expect("available");
    // Senders 0..n, receivers n..2n; a separate sender for the sequential
    // side so that both see the same protected bytes.
    let mut senders: Vec<Context> = pairs.iter().map(|&s| context(s)).collect();
    let make = || -> Vec<Context> { pairs.iter().chain(&pairs).map(|&s| context(s)).collect() };
    let (mut seq, mut bat) = (make(), make());
    let mut seqs = vec![[0u16; 2]; n];
    let mut ops: Vec<(BatchOp, usize, Vec<u8>, usize)> = Vec::new();
    for p in &input.packets {
        match p {
            Packet::Protected {
                pair,
                rtcp,
                seq_step,
                ssrc,
                payload,
                corrupt,
                to,
                replay,
                verify,
            } => {
                let pair = usize::from(*pair) % n;
                let ssrc_id = 0x1000 + u32::from(*ssrc);
                let plain = if *rtcp {
                    let words = (payload.len() / 4).min(100);
                    let mut b = vec![0x80, 201];
                    b.extend_from_slice(&(words as u16 + 1).to_be_bytes());
                    b.extend_from_slice(&ssrc_id.to_be_bytes());
                    b.extend_from_slice(&payload[..words * 4]);
                    b
                } else {
                    let s = &mut seqs[pair][usize::from(*ssrc)];
                    *s = s.wrapping_add(*seq_step % 4096);
                    let mut b = vec![0x80, 0x60];
                    b.extend_from_slice(&s.to_be_bytes());
                    b.extend_from_slice(&[0, 0, 0, 0]);
                    b.extend_from_slice(&ssrc_id.to_be_bytes());
                    b.extend_from_slice(&payload[..payload.len().min(1400)]);
                    b
                };
                let len = plain.len();
                let mut buf = plain;
                buf.resize(len + 64, 0);
                let r = if *rtcp {
                    senders[pair].protect_rtcp(&mut buf, len)
                } else {
                    senders[pair].protect_rtp(&mut buf, len)
                };
                let Ok(m) = r else { continue };
                buf.truncate(m);
                if let Some((at, mask)) = corrupt {
                    let at = usize::from(*at) % m;
                    buf[at] ^= mask;
                }
                let op = match (rtcp, verify) {
                    (false, false) => BatchOp::UnprotectRtp,
                    (false, true) => BatchOp::VerifyRtp,
                    (true, false) => BatchOp::UnprotectRtcp,
                    (true, true) => BatchOp::VerifyRtcp,
                };
                let ctx = n + usize::from(*to) % n;
                let len = buf.len();
                if *replay {
                    ops.push((op, ctx, buf.clone(), len));
                }
                ops.push((op, ctx, buf, len));
            }
            Packet::Raw { to, rtcp, bytes } => {
                let op = if *rtcp {
                    BatchOp::UnprotectRtcp
                } else {
                    BatchOp::UnprotectRtp
                };
                let bytes = bytes[..bytes.len().min(1500)].to_vec();
                let len = bytes.len();
                ops.push((op, n + usize::from(*to) % n, bytes, len));
            }
        }
    }
    let mut want = Vec::with_capacity(ops.len());
    for (op, ctx, buf, len) in &ops {
        let mut b = buf.clone();
        let r = run(&mut seq, *op, *ctx, &mut b, *len);
        want.push((b, r));
    }
    let mut bufs: Vec<Vec<u8>> = ops.iter().map(|o| o.2.clone()).collect();
    let mut got = Vec::with_capacity(ops.len());
    let (mut at, mut k) = (0, 0);
    while at < ops.len() {
        let size = input.splits.get(k).map_or(64, |&s| 1 + usize::from(s) % 80);
        let end = (at + size).min(ops.len());
        k += 1;
        let mut batch: Vec<BatchPacket<'_>> = ops[at..end]
            .iter()
            .zip(bufs[at..end].iter_mut())
            .map(|(o, b)| BatchPacket::new(o.0, o.1, b, o.3))
            .collect();
        batcher.run(&mut bat, &mut batch);
        got.extend(batch.into_iter().map(|p| p.result));
        at = end;
    }
    for (i, ((wb, wr), (gb, gr))) in want.iter().zip(bufs.iter().zip(&got)).enumerate() {
        assert_eq!(wr, gr, "packet {i}: result");
        assert_eq!(wb, gb, "packet {i}: bytes");
    }
    for (a, b) in seq.iter().zip(&bat) {
        assert_eq!(a.stats(), b.stats(), "context counters");
    }
});
