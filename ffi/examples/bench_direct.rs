//! The Rust-direct half of `ffi/bench.sh`: the same protect/unprotect loops
//! as `ffi/bench/bench.c`, calling `rampart::srtp::Context` without the C
//! ABI, so the bench table can show what the ABI adds per packet.
//!
//! Prints `direct <suite> <payload> <op> <ns-per-packet>` lines (best of 7)
//! on stdout for bench.c, and on stderr a same-process comparison: the
//! direct call and the exported `rampart_protect_rtp` /
//! `rampart_unprotect_rtp` (null checks, panic guard, tailroom zeroing)
//! timed in alternation, so machine noise hits both alike.

use std::time::Instant;

use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart_ffi::srtp::{
    rampart_master_key, rampart_protect_rtp, rampart_session, rampart_session_config,
    rampart_session_free, rampart_session_new, rampart_unprotect_rtp,
};
use rampart_ffi::RAMPART_OK;

const REPS: usize = 7;
const BATCH: usize = 4096;
const CAP: usize = 1600;

fn keysalt() -> [u8; 46] {
    let mut k = [0u8; 46];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i * 13 + 1) as u8;
    }
    k
}

fn context(suite: Suite) -> Context {
    let ks = keysalt();
    let kl = suite.master_key_len();
    let key = MasterKey::new(suite, &ks[..kl], &ks[kl..kl + suite.master_salt_len()]).unwrap();
    Context::new(Policy::new(suite, key).replay_window(1024)).unwrap()
}

fn make_packet(b: &mut [u8], payload: usize, seq: u16) {
    b[..12 + payload].fill(0);
    b[0] = 0x80;
    b[1] = 8;
    b[2..4].copy_from_slice(&seq.to_be_bytes());
    b[8] = 0xca;
    b[9] = 0xfe;
    b[11] = 1;
    for i in 0..payload {
        b[12 + i] = (i * 7) as u8;
    }
}

/// One side of the comparison: the Rust API, or the exported C functions.
enum Session {
    Direct(Box<Context>),
    Abi(*mut rampart_session),
}

impl Session {
    fn new(suite: Suite, abi: bool) -> Session {
        if !abi {
            return Session::Direct(Box::new(context(suite)));
        }
        let ks = keysalt();
        let kl = suite.master_key_len();
        let mk = rampart_master_key {
            key: ks.as_ptr(),
            key_len: kl,
            salt: ks[kl..].as_ptr(),
            salt_len: suite.master_salt_len(),
            mki: std::ptr::null(),
            mki_len: 0,
            lifetime: 0,
        };
        let number = rampart_ffi::srtp::rampart_suite_from_name_str(suite.name());
        let cfg = rampart_session_config {
            suite: number,
            keys: &mk,
            num_keys: 1,
            ssrc_type: 0,
            ssrc: 0,
            replay_window: 1024,
            max_streams: 0,
            key_derivation_rate: 0,
            unencrypted_srtp: 0,
            unencrypted_srtcp: 0,
        };
        let mut s = std::ptr::null_mut();
        assert_eq!(rampart_session_new(&cfg, &mut s), RAMPART_OK);
        Session::Abi(s)
    }

    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        match self {
            Session::Direct(c) => c.protect_rtp(buf, len).unwrap(),
            Session::Abi(s) => {
                let mut out = 0;
                let st = rampart_protect_rtp(*s, buf.as_mut_ptr(), len, buf.len(), &mut out);
                assert_eq!(st, RAMPART_OK);
                out
            }
        }
    }

    fn unprotect(&mut self, pkt: &mut [u8]) -> usize {
        match self {
            Session::Direct(c) => c.unprotect_rtp(pkt).unwrap(),
            Session::Abi(s) => {
                let mut out = 0;
                let st = rampart_unprotect_rtp(*s, pkt.as_mut_ptr(), pkt.len(), &mut out);
                assert_eq!(st, RAMPART_OK);
                out
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Session::Abi(s) = self {
            rampart_session_free(*s);
        }
    }
}

fn protect(suite: Suite, payload: usize, iters: usize, abi: bool) -> f64 {
    let len = 12 + payload;
    let mut best = f64::MAX;
    let mut buf = vec![0u8; CAP];
    for _ in 0..REPS {
        let mut ctx = Session::new(suite, abi);
        make_packet(&mut buf, payload, 0);
        let mut seq = 0u16;
        let t0 = Instant::now();
        for _ in 0..iters {
            seq = seq.wrapping_add(1);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            let n = ctx.protect(&mut buf, len);
            std::hint::black_box(n);
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

fn unprotect(suite: Suite, payload: usize, iters: usize, abi: bool) -> f64 {
    let len = 12 + payload;
    let mut pristine = vec![0u8; BATCH * CAP];
    let mut lens = vec![0usize; BATCH];
    let mut tx = context(suite);
    for (i, b) in pristine.chunks_mut(CAP).enumerate() {
        make_packet(b, payload, (i + 1) as u16);
        lens[i] = tx.protect_rtp(b, len).unwrap();
    }
    let rounds = iters / BATCH + 1;
    let mut work = pristine.clone();
    let mut best = f64::MAX;
    for _ in 0..REPS {
        let mut total = 0f64;
        for _ in 0..rounds {
            let mut ctx = Session::new(suite, abi);
            work.copy_from_slice(&pristine);
            let t0 = Instant::now();
            for (i, b) in work.chunks_mut(CAP).enumerate() {
                let n = ctx.unprotect(&mut b[..lens[i]]);
                std::hint::black_box(n);
            }
            total += t0.elapsed().as_nanos() as f64;
        }
        best = best.min(total / (rounds * BATCH) as f64);
    }
    best
}

fn main() {
    eprintln!("same process, alternating: ns per packet, best of {REPS} (x3 rounds)");
    eprintln!(
        "{:<24} {:>7} {:<9} {:>9} {:>9} {:>8}",
        "suite", "payload", "op", "rust", "C ABI", "ABI cost"
    );
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
        for payload in [160usize, 1200] {
            let iters = if payload > 500 { 200_000 } else { 400_000 };
            for op in ["protect", "unprotect"] {
                let run = |abi| match op {
                    "protect" => protect(suite, payload, iters, abi),
                    _ => unprotect(suite, payload, iters, abi),
                };
                // Alternate the two, three rounds, keep each one's best.
                let (mut d, mut a) = (f64::MAX, f64::MAX);
                for _ in 0..3 {
                    d = d.min(run(false));
                    a = a.min(run(true));
                }
                println!("direct {} {payload} {op} {d:.1}", suite.name());
                eprintln!(
                    "{:<24} {:>7} {:<9} {:>9.1} {:>9.1} {:>+8.1}",
                    suite.name(),
                    payload,
                    op,
                    d,
                    a,
                    a - d
                );
            }
        }
    }
}
