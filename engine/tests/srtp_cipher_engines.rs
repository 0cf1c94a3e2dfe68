//! The two cipher engines (`srtp::CipherEngine`: `rampart-simd`'s VAES
//! counter mode and AES-GCM, and the portable RustCrypto `aes` / ring) must
//! be interchangeable to the byte: for every suite, with and without MKI
//! and header-extension encryption (RFC 6904 and cryptex), RTP and RTCP,
//! payloads of every length up to 300 bytes and MTU sizes, a packet one
//! engine protects is the packet the other protects, each engine's
//! receiver opens the other's packets (unprotect and verify), and both
//! refuse the same forgeries. One test function: the engine is chosen
//! process-wide when contexts are made.

use rampart::srtp::{CipherEngine, Context, MasterKey, Policy, Suite};

fn context(engine: CipherEngine, suite: Suite, mki: bool, header: u8) -> Context {
    CipherEngine::set_default(Some(engine)).unwrap();
    let p = suite.params();
    let key: Vec<u8> = (0..p.master_key_len)
        .map(|i| (i as u8).wrapping_mul(11) ^ 3)
        .collect();
    let salt: Vec<u8> = (0..p.master_salt_len).map(|i| i as u8 ^ 0x5c).collect();
    let mut mk = MasterKey::new(suite, &key, &salt).unwrap();
    if mki {
        mk = mk.with_mki(&[0xab, 0xcd]);
    }
    let policy = match header {
        1 => Policy::new(suite, mk).encrypt_header_extensions(&[1]),
        2 => Policy::new(suite, mk).cryptex(true),
        _ => Policy::new(suite, mk),
    };
    let c = Context::new(policy).unwrap();
    CipherEngine::set_default(None).unwrap();
    c
}

fn rtp_packet(seq: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0x90, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x13, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0]);
    p[15] = 2; // two extension words
    p.extend((0..len).map(|i| (i as u8).wrapping_mul(13) ^ seq as u8));
    p
}

fn rtcp_packet(len: usize) -> Vec<u8> {
    let words = len / 4;
    let mut p = vec![0x80, 200];
    p.extend_from_slice(&(words as u16 + 1).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend((0..words * 4).map(|i| i as u8));
    p
}

/// Protects `plain` with both senders; both must give the same bytes.
fn protect_both(senders: &mut [Context; 2], plain: &[u8], rtcp: bool, what: &str) -> Vec<u8> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for s in senders.iter_mut() {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 64, 0);
        let n = if rtcp {
            s.protect_rtcp(&mut buf, plain.len())
        } else {
            s.protect_rtp(&mut buf, plain.len())
        }
        .unwrap_or_else(|e| panic!("{what}: protect: {e}"));
        buf.truncate(n);
        out.push(buf);
    }
    assert_eq!(out[0], out[1], "{what}: the engines protect differently");
    out.pop().unwrap()
}

#[test]
fn vector_and_portable_engines_are_interchangeable() {
    assert!(
        std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some() || CipherEngine::Vector.available(),
        "this CPU lacks the vector cipher engine"
    );
    if !CipherEngine::Vector.available() {
        return;
    }
    let engines = [CipherEngine::Vector, CipherEngine::Portable];
    let mut lengths: Vec<usize> = (0..=300).collect();
    lengths.extend([1000, 1200, 1400]);
    for suite in Suite::ALL {
        for mki in [false, true] {
            for header in 0..3u8 {
                let what = format!("{suite:?} mki {mki} header {header}");
                let mut senders = engines.map(|e| context(e, suite, mki, header));
                // receivers[0] is vector, [1] portable; each opens the
                // other's packets, and a second pair verifies.
                let mut receivers = engines.map(|e| context(e, suite, mki, header));
                let mut verifiers = engines.map(|e| context(e, suite, mki, header));
                for (i, &len) in lengths.iter().enumerate() {
                    let seq = i as u16;
                    let plain = rtp_packet(seq, len);
                    let sealed = protect_both(&mut senders, &plain, false, &what);
                    for r in 0..2 {
                        let mut b = sealed.clone();
                        let n = receivers[r].unprotect_rtp(&mut b).unwrap();
                        assert_eq!(&b[..n], &plain[..], "{what} len {len}: unprotect {r}");
                        let mut forged = sealed.clone();
                        let at = (forged.len() / 2 + 7) % forged.len();
                        forged[at] ^= 0x20;
                        assert!(
                            verifiers[r].verify_rtp(&mut forged).is_err(),
                            "{what} len {len}: forged accepted by {r}"
                        );
                        let mut b = sealed.clone();
                        verifiers[r].verify_rtp(&mut b).unwrap();
                    }
                    if i % 7 == 0 {
                        let plain = rtcp_packet(len.min(400));
                        let sealed = protect_both(&mut senders, &plain, true, &what);
                        for receiver in receivers.iter_mut() {
                            let mut b = sealed.clone();
                            let n = receiver.unprotect_rtcp(&mut b).unwrap();
                            assert_eq!(&b[..n], &plain[..], "{what} RTCP len {len}");
                        }
                    }
                }
            }
        }
    }
}
