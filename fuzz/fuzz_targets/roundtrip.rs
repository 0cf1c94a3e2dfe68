//! Structured roundtrip: random keys, suite, MKI and options; a sequence of
//! RTP and RTCP packets on two SSRCs, always moving forward (sequence
//! numbers across the wrap, SRTCP indices). Every packet the sender
//! protects must unprotect on a separate receiver to exactly the original
//! bytes, verify on a third context without changing a byte, and, when the
//! input asks for it, a corrupted copy sent first must be refused without
//! changing the receiver's state.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::Error;

#[derive(Arbitrary, Debug)]
struct Input {
    suite: u8,
    key: [u8; 32],
    salt: [u8; 14],
    /// 0: no MKI; else an MKI of `1 + mki_len % 8` bytes.
    mki_len: u8,
    mki: [u8; 8],
    encrypt_rtp: bool,
    encrypt_rtcp: bool,
    /// Key derivation rate 2^(n % 25), or 0.
    kdr: Option<u8>,
    /// Replay window 64 << (n % 6).
    window: u8,
    ssrcs: [u32; 2],
    rocs: [u32; 2],
    seqs: [u16; 2],
    rtcp_index: [u32; 2],
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct RtpOp {
    second_ssrc: bool,
    /// The sequence number advances by 1 + n % 32767 (always forward).
    advance: u16,
    marker: bool,
    pt: u8,
    ts: u32,
    csrcs: Vec<u32>,
    ext: Option<(u16, Vec<[u8; 4]>)>,
    payload: Vec<u8>,
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Rtp(RtpOp),
    Rtcp {
        second_ssrc: bool,
        count: u8,
        pt: u8,
        body: Vec<[u8; 4]>,
        corrupt: Option<(u16, u8)>,
    },
}

fn context(i: &Input) -> Context {
    let suite = Suite::ALL[usize::from(i.suite) % Suite::ALL.len()];
    let mut key = MasterKey::new(
        suite,
        &i.key[..suite.master_key_len()],
        &i.salt[..suite.master_salt_len()],
    )
    .expect("lengths fit the suite");
    if i.mki_len != 0 {
        key = key.with_mki(&i.mki[..1 + usize::from(i.mki_len % 8)]);
    }
    let policy = Policy::new(suite, key)
        .encrypt_rtp(i.encrypt_rtp || suite.is_aead())
        .encrypt_rtcp(i.encrypt_rtcp)
        .key_derivation_rate(i.kdr.map_or(0, |n| 1u64 << (n % 25)))
        .replay_window(64usize << (i.window % 6));
    Context::new(policy).expect("valid policy")
}

fn rtp_packet(seq: u16, ssrc: u32, op: &RtpOp) -> Vec<u8> {
    let csrcs = &op.csrcs[..op.csrcs.len().min(15)];
    let mut p = vec![
        0x80 | if op.ext.is_some() { 0x10 } else { 0 } | csrcs.len() as u8,
        (op.pt & 0x7f) | if op.marker { 0x80 } else { 0 },
    ];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&op.ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in csrcs {
        p.extend_from_slice(&c.to_be_bytes());
    }
    if let Some((profile, words)) = &op.ext {
        let words = &words[..words.len().min(64)];
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&(words.len() as u16).to_be_bytes());
        p.extend(words.iter().flatten());
    }
    p.extend_from_slice(&op.payload[..op.payload.len().min(1500)]);
    p
}

fn rtcp_packet(ssrc: u32, count: u8, pt: u8, body: &[[u8; 4]]) -> Vec<u8> {
    let body = &body[..body.len().min(400)];
    let mut p = vec![0x80 | (count & 0x1f), pt];
    p.extend_from_slice(&(body.len() as u16 + 1).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(body.iter().flatten());
    p
}

fuzz_target!(|input: Input| {
    if input.ops.len() > 64 {
        return;
    }
    let mut tx = context(&input);
    let mut rx = context(&input);
    let mut vx = context(&input);
    let mut ssrcs = input.ssrcs;
    if ssrcs[0] == ssrcs[1] {
        ssrcs[1] = !ssrcs[1];
    }
    for ((ssrc, roc), index) in ssrcs.iter().zip(input.rocs).zip(input.rtcp_index) {
        if roc != 0 {
            for c in [&mut tx, &mut rx, &mut vx] {
                c.set_roc(*ssrc, roc).unwrap();
            }
        }
        tx.set_rtcp_index(*ssrc, index & 0x7fff_ffff).unwrap();
    }
    let mut seqs = input.seqs;
    let mut first = [true; 2];

    for op in &input.ops {
        // `rtp`: the stream and sequence number, committed once protected.
        let (rtp, plain, corrupt) = match op {
            Op::Rtp(op) => {
                let k = usize::from(op.second_ssrc);
                let seq = if first[k] {
                    seqs[k]
                } else {
                    seqs[k].wrapping_add(1 + op.advance % 32767)
                };
                (Some((k, seq)), rtp_packet(seq, ssrcs[k], op), &op.corrupt)
            }
            Op::Rtcp {
                second_ssrc,
                count,
                pt,
                body,
                corrupt,
            } => {
                let k = usize::from(*second_ssrc);
                (None, rtcp_packet(ssrcs[k], *count, *pt, body), corrupt)
            }
        };
        let rtcp = rtp.is_none();
        let mut buf = plain.clone();
        buf.resize(plain.len() + tx.max_trailer_len(), 0);
        let r = if rtcp {
            tx.protect_rtcp(&mut buf, plain.len())
        } else {
            tx.protect_rtp(&mut buf, plain.len())
        };
        let n = match r {
            Ok(n) => n,
            // Past the end of the index space (ROC at its maximum, SRTCP
            // index at 2^31): nothing was sent.
            Err(Error::TooOld | Error::KeyExhausted) => continue,
            Err(e) => panic!("protect failed: {e:?}"),
        };
        if let Some((k, seq)) = rtp {
            seqs[k] = seq;
            first[k] = false;
        }
        let wire = &buf[..n];

        if let Some((pos, mask)) = corrupt {
            if *mask != 0 {
                let mut bad = wire.to_vec();
                bad[usize::from(*pos) % n] ^= mask;
                let r = if rtcp {
                    rx.unprotect_rtcp(&mut bad)
                } else {
                    rx.unprotect_rtp(&mut bad)
                };
                assert!(r.is_err(), "corrupted packet accepted");
            }
        }

        let mut v = wire.to_vec();
        let r = if rtcp {
            vx.verify_rtcp(&mut v)
        } else {
            vx.verify_rtp(&mut v)
        };
        assert_eq!(r, Ok(plain.len()), "verify refused a packet just protected");
        assert_eq!(v, wire, "verify changed the bytes");

        let mut u = wire.to_vec();
        let r = if rtcp {
            rx.unprotect_rtcp(&mut u)
        } else {
            rx.unprotect_rtp(&mut u)
        };
        assert_eq!(
            r,
            Ok(plain.len()),
            "unprotect refused a packet just protected"
        );
        assert_eq!(u[..plain.len()], plain[..], "roundtrip changed the packet");
        if let Some((k, _)) = rtp {
            // (The sender holds streams for both SSRCs from set_rtcp_index;
            // the receiver only for those it has received.)
            let s = ssrcs[k];
            assert_eq!(rx.roc(s), tx.roc(s), "ROC of sender and receiver differ");
        }
    }
});
