//! The vector and portable cipher engines (`srtp::CipherEngine`) on
//! arbitrary input: the first byte picks the suite and options
//! (`common.rs`), the second bit 0 RTP or RTCP and bit 1 unprotect or
//! verify. The rest goes, as received, to a receiver keyed with each
//! engine (both must give the same verdict, and the same bytes when they
//! accept), and, as a plaintext, to a sender keyed with each (both must
//! give the same result and the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::srtp::CipherEngine;

mod common;

fn keyed(sel: &common::Selector, engine: CipherEngine) -> rampart::srtp::Context {
    CipherEngine::set_default(Some(engine)).expect("engine available");
    let c = sel.context();
    CipherEngine::set_default(None).expect("back to detection");
    c
}

fuzz_target!(|data: &[u8]| {
    let [sel, mode, rest @ ..] = data else {
        return;
    };
    if !CipherEngine::Vector.available() {
        return;
    }
    let sel = common::Selector::new(*sel);
    let (rtcp, verify) = (mode & 1 != 0, mode & 2 != 0);
    let engines = [CipherEngine::Vector, CipherEngine::Portable];
    let mut rx = engines.map(|e| keyed(&sel, e));
    let mut tx = engines.map(|e| keyed(&sel, e));
    if sel.established {
        let plain = if rtcp {
            common::rtcp_packet(0)
        } else {
            common::rtp_packet(7)
        };
        let w = common::protect(&mut tx[0], rtcp, &plain).expect("protect the fixed packet");
        assert_eq!(common::protect(&mut tx[1], rtcp, &plain).as_ref(), Ok(&w));
        for r in rx.iter_mut() {
            assert!(common::open(r, rtcp, verify, &w).0.is_ok());
        }
    }
    let [a, b] = &mut rx;
    let (ra, ba) = common::open(a, rtcp, verify, rest);
    let (rb, bb) = common::open(b, rtcp, verify, rest);
    assert_eq!(ra, rb, "the engines disagree on a received packet");
    if let Ok(n) = ra {
        assert_eq!(ba[..n], bb[..n], "the engines open a packet differently");
    }
    let [a, b] = &mut tx;
    let pa = common::protect(a, rtcp, rest);
    let pb = common::protect(b, rtcp, rest);
    assert_eq!(pa, pb, "the engines protect differently");
});
