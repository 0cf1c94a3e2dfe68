//! Zero heap allocations per packet in steady state.
//!
//! A counting global allocator (a wrapper around `System`) counts every
//! allocation, zeroed allocation and reallocation made by this thread while
//! it is armed. For every suite, once a warm-up packet has created the
//! stream, 10,000 RTP packets (across a sequence number wrap) are protected,
//! unprotected and verified, and 1,000 RTCP packets are protected,
//! unprotected and verified: the count must be 0. The same again with a
//! 4-byte MKI, with a fifth of the packets (the MKI changes only where the
//! key is looked up).
//!
//! The batch path (`srtp::Batcher`) likewise: 16 streams protected and
//! unprotected in batches, 0 allocations once the batcher exists.
//!
//! A global allocator is per test binary, so the allocation tests live in
//! this file (counting is per thread, so they may run side by side).
#![allow(unsafe_code)] // a counting global allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart::srtp::{BatchOp, BatchPacket, Batcher, Context, MasterKey, Policy, Suite};

struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Armed only on the thread under test, so the harness's own threads
    /// (output capture, the main thread waiting) are not counted.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches
// only an atomic and a const-initialised thread-local `Cell` (no allocation,
// no destructor), so it cannot recurse into the allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` with this thread's allocations counted; returns how many.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (ALLOCATIONS.load(Ordering::SeqCst) - before, r)
}

const RTP_PACKETS: usize = 10_000;
const RTCP_PACKETS: usize = 1_000;
const SSRC: u32 = 0x1234_5678;
/// Starts close to 65535 so the 10,000 packets cross the wrap (ROC 0 → 1).
const FIRST_SEQ: u16 = 65_000;
const PAYLOAD: usize = 160;
const BUF: usize = 1500;

fn context(suite: Suite, mki: &[u8]) -> Context {
    let key = [0x2b; 32];
    let salt = [0x5c; 14];
    let mut k = MasterKey::new(
        suite,
        &key[..suite.master_key_len()],
        &salt[..suite.master_salt_len()],
    )
    .unwrap();
    if !mki.is_empty() {
        k = k.with_mki(mki);
    }
    Context::new(Policy::new(suite, k)).unwrap()
}

fn write_rtp(buf: &mut [u8; BUF], seq: u16) -> usize {
    buf[0] = 0x80;
    buf[1] = 96;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    buf[8..12].copy_from_slice(&SSRC.to_be_bytes());
    for (i, b) in buf[12..12 + PAYLOAD].iter_mut().enumerate() {
        *b = (i as u8) ^ (seq as u8);
    }
    12 + PAYLOAD
}

fn write_rtcp(buf: &mut [u8; BUF], n: u32) -> usize {
    // A receiver report with one report block (32 bytes, length 7).
    let len = 32;
    buf[0] = 0x81;
    buf[1] = 201;
    buf[2..4].copy_from_slice(&7u16.to_be_bytes());
    buf[4..8].copy_from_slice(&SSRC.to_be_bytes());
    for (i, b) in buf[8..len].iter_mut().enumerate() {
        *b = (i as u8) ^ (n as u8);
    }
    len
}

/// Protect → copy → unprotect, and verify on a third context, for one
/// packet; checks the roundtrip so the loop cannot be optimised into
/// nothing and failures are seen. Returns false on any error.
fn rtp_once(
    tx: &mut Context,
    rx: &mut Context,
    vx: &mut Context,
    buf: &mut [u8; BUF],
    wire: &mut [u8; BUF],
    seq: u16,
) -> bool {
    let len = write_rtp(buf, seq);
    let Ok(n) = tx.protect_rtp(buf, len) else {
        return false;
    };
    wire[..n].copy_from_slice(&buf[..n]);
    if vx.verify_rtp(&mut wire[..n]) != Ok(len) || wire[..n] != buf[..n] {
        return false;
    }
    let plain_ok = rx.unprotect_rtp(&mut wire[..n]) == Ok(len);
    write_rtp(buf, seq);
    plain_ok && wire[..len] == buf[..len]
}

fn rtcp_once(
    tx: &mut Context,
    rx: &mut Context,
    vx: &mut Context,
    buf: &mut [u8; BUF],
    wire: &mut [u8; BUF],
    i: u32,
) -> bool {
    let len = write_rtcp(buf, i);
    let Ok(n) = tx.protect_rtcp(buf, len) else {
        return false;
    };
    wire[..n].copy_from_slice(&buf[..n]);
    if vx.verify_rtcp(&mut wire[..n]) != Ok(len) || wire[..n] != buf[..n] {
        return false;
    }
    let plain_ok = rx.unprotect_rtcp(&mut wire[..n]) == Ok(len);
    write_rtcp(buf, i);
    plain_ok && wire[..len] == buf[..len]
}

#[test]
fn steady_state_packets_do_not_allocate() {
    let mut failures = Vec::new();
    for suite in Suite::ALL {
        for (mki, rtp_packets, rtcp_packets) in [
            (&[][..], RTP_PACKETS, RTCP_PACKETS),
            (&[1, 2, 3, 4][..], RTP_PACKETS / 5, RTCP_PACKETS / 5),
        ] {
            let mut tx = context(suite, mki);
            let mut rx = context(suite, mki);
            let mut vx = context(suite, mki);
            let mut buf = [0u8; BUF];
            let mut wire = [0u8; BUF];

            // Warm-up: the first packets create the streams (allowed to
            // allocate).
            let mut seq = FIRST_SEQ;
            assert!(rtp_once(
                &mut tx, &mut rx, &mut vx, &mut buf, &mut wire, seq
            ));
            assert!(rtcp_once(&mut tx, &mut rx, &mut vx, &mut buf, &mut wire, 0));

            let (rtp_allocs, rtp_ok) = allocations_in(|| {
                let mut ok = 0usize;
                for _ in 0..rtp_packets {
                    seq = seq.wrapping_add(1);
                    ok += rtp_once(&mut tx, &mut rx, &mut vx, &mut buf, &mut wire, seq) as usize;
                }
                ok
            });
            let (rtcp_allocs, rtcp_ok) = allocations_in(|| {
                let mut ok = 0usize;
                for i in 1..=rtcp_packets as u32 {
                    ok += rtcp_once(&mut tx, &mut rx, &mut vx, &mut buf, &mut wire, i) as usize;
                }
                ok
            });

            assert_eq!(rtp_ok, rtp_packets, "{suite:?} mki={mki:?}: RTP roundtrips");
            assert_eq!(rtcp_ok, rtcp_packets, "{suite:?} mki={mki:?}: RTCP");
            assert_eq!(rx.roc(SSRC), Some(1), "{suite:?}: the run crossed the wrap");
            if rtp_allocs != 0 || rtcp_allocs != 0 {
                failures.push(format!(
                    "{suite:?} mki={mki:?}: {rtp_allocs} allocations in {rtp_packets} RTP, \
                     {rtcp_allocs} in {rtcp_packets} RTCP packets"
                ));
            }
        }
    }

    // The counter itself works: a Vec allocation while armed is counted.
    let (n, v) = allocations_in(|| std::hint::black_box(Vec::<u8>::with_capacity(64)));
    drop(v);
    assert_eq!(n, 1, "the counting allocator counts");

    assert!(failures.is_empty(), "allocations:\n{}", failures.join("\n"));
}

/// One batch of `op` over the 16 buffers, stream j on context j, each
/// packet `lens[j]` long; true when every packet succeeded.
fn batch_once(
    batcher: &mut Batcher,
    contexts: &mut [Context],
    op: BatchOp,
    bufs: &mut [[u8; BUF]; 16],
    lens: &mut [usize; 16],
) -> bool {
    let mut it = bufs.iter_mut();
    let mut batch: [BatchPacket<'_>; 16] = core::array::from_fn(|j| {
        let buf = it.next().expect("16 buffers");
        BatchPacket::new(op, j, buf, lens[j])
    });
    batcher.run(contexts, &mut batch);
    let mut ok = true;
    for (len, p) in lens.iter_mut().zip(&batch) {
        match p.result {
            Ok(n) => *len = n,
            Err(_) => ok = false,
        }
    }
    ok
}

#[test]
fn batches_do_not_allocate() {
    for suite in [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::NullHmacSha1_80,
    ] {
        let mut batcher = Batcher::new();
        let mut tx: Vec<Context> = (0..16).map(|_| context(suite, &[])).collect();
        let mut rx: Vec<Context> = (0..16).map(|_| context(suite, &[])).collect();
        let mut bufs = [[0u8; BUF]; 16];
        let mut lens = [0usize; 16];
        let mut round = |seq: u16, tx: &mut Vec<Context>, rx: &mut Vec<Context>| {
            for (b, len) in bufs.iter_mut().zip(lens.iter_mut()) {
                *len = write_rtp(b, seq);
            }
            let sealed = batch_once(&mut batcher, tx, BatchOp::ProtectRtp, &mut bufs, &mut lens);
            let opened = batch_once(
                &mut batcher,
                rx,
                BatchOp::UnprotectRtp,
                &mut bufs,
                &mut lens,
            );
            let mut want = [0u8; BUF];
            let n = write_rtp(&mut want, seq);
            sealed && opened && bufs.iter().all(|b| b[..n] == want[..n])
        };
        // Warm-up: the first batch creates the streams.
        assert!(round(FIRST_SEQ, &mut tx, &mut rx), "{suite:?}: warm-up");
        let (allocs, ok) = allocations_in(|| {
            (1..=2000u16)
                .filter(|i| round(FIRST_SEQ.wrapping_add(*i), &mut tx, &mut rx))
                .count()
        });
        assert_eq!(ok, 2000, "{suite:?}: every batch round trip");
        assert_eq!(allocs, 0, "{suite:?}: allocations in 2,000 batches of 16");
        assert_eq!(
            rx[0].roc(SSRC),
            Some(1),
            "{suite:?}: the run crossed the wrap"
        );
    }
}
