//! SDP and SDES offer/answer over arbitrary bytes: `Sdp::parse_bytes`,
//! `CryptoAttr::parse`, and the pure negotiation step of ng
//! (`negotiate_sdp`: read the offer's crypto lines, rewrite it toward the
//! answerer, check the answer's choice, reject missing sections, rewrite
//! it toward the offerer). Nothing may panic, and what Rampart writes must
//! parse again: a rewritten SDP that the next hop (or Rampart itself)
//! cannot read would be a bug.
//!
//! Input: offer bytes, then optionally `\0` and answer bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::control::ng_call::negotiate_sdp;
use rampart::control::sdes::CryptoAttr;
use rampart::control::sdp::Sdp;

fuzz_target!(|data: &[u8]| {
    let (offer, answer) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };

    // The SDP itself: printing an unmodified parse gives the input back.
    if let Ok(sdp) = Sdp::parse_bytes(offer) {
        assert_eq!(
            sdp.to_string().as_bytes(),
            offer,
            "unmodified SDP round-trips"
        );
        for m in sdp.media() {
            let _ = m.crypto();
            for (_, r) in m.crypto_lines() {
                if let Ok(a) = r {
                    let _ = a.master_keys();
                    let _ = a.kdr();
                }
            }
        }
    }

    // Each line as an a=crypto value: a parse formats back to a value that
    // parses to the same attribute.
    if let Ok(text) = std::str::from_utf8(offer) {
        for line in text.lines().take(64) {
            let v = line.strip_prefix("a=crypto:").unwrap_or(line);
            if let Ok(a) = CryptoAttr::parse(v) {
                let back = CryptoAttr::parse(&a.to_value()).expect("formatted a=crypto parses");
                assert_eq!(back, a);
            }
        }
    }

    // Offer/answer.
    if let Ok(n) = negotiate_sdp(offer, answer) {
        let out = Sdp::parse(&n.offer_out).expect("the rewritten offer parses");
        let inp = Sdp::parse_bytes(offer).expect("the offer parsed before");
        assert_eq!(out.media().len(), inp.media().len());
        if let Some(a) = &n.answer_out {
            let a = Sdp::parse(a).expect("the rewritten answer parses");
            assert_eq!(
                a.media().len(),
                inp.media().len(),
                "one m= line per offered section"
            );
        }
    }
});
