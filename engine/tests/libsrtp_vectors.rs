//! Byte-for-byte interoperability with libsrtp2: every case of
//! `shared/vectors/libsrtp2.json` (made with libsrtp2 2.5.0, cross-derived
//! from the RFCs) must protect to exactly the recorded bytes and unprotect
//! back to the plaintext, including MKI, non-zero initial ROC, the 65535 → 0
//! sequence wrap and SRTCP.

mod support;

use rampart::srtp::{BatchOp, Context, MasterKey, Policy, SsrcPolicy, Suite};
use rampart::Error;
use serde_json::Value;
use support::batch::{among_fillers, in_batch};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/libsrtp2.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("vectors parse")
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn context(case: &Value, specific: bool) -> Context {
    let suite = Suite::from_name(case["suite"].as_str().unwrap()).unwrap();
    let mut key =
        MasterKey::new(suite, &hx(&case["master_key"]), &hx(&case["master_salt"])).unwrap();
    if !case["mki"].is_null() {
        key = key.with_mki(&hx(&case["mki"]));
    }
    let ssrc = case["ssrc"].as_u64().unwrap() as u32;
    let policy = Policy::new(suite, key);
    let policy = if specific {
        policy.ssrc(SsrcPolicy::Specific(ssrc))
    } else {
        policy
    };
    let mut ctx = Context::new(policy).unwrap();
    let roc = case["initial_roc"].as_u64().unwrap_or(0) as u32;
    if roc != 0 {
        ctx.set_roc(ssrc, roc).unwrap();
    }
    ctx
}

#[test]
fn every_case_protects_byte_for_byte() {
    let v = vectors();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    let mut packets = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ssrc = case["ssrc"].as_u64().unwrap() as u32;
        let mut tx = context(case, false);
        for (i, p) in case["rtp"].as_array().unwrap().iter().enumerate() {
            let plain = hx(&p["plaintext"]);
            let want = hx(&p["protected"]);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 64, 0);
            let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
            assert_eq!(
                hex::encode(&buf[..n]),
                hex::encode(&want),
                "{name} rtp #{i}"
            );
            assert_eq!(
                tx.roc(ssrc),
                Some(p["roc"].as_u64().unwrap() as u32),
                "{name} roc #{i}"
            );
            packets += 1;
        }
        for (i, p) in case["rtcp"].as_array().unwrap().iter().enumerate() {
            let plain = hx(&p["plaintext"]);
            let want = hx(&p["protected"]);
            tx.set_rtcp_index(ssrc, p["srtcp_index"].as_u64().unwrap() as u32)
                .unwrap();
            let mut buf = plain.clone();
            buf.resize(plain.len() + 64, 0);
            let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
            assert_eq!(
                hex::encode(&buf[..n]),
                hex::encode(&want),
                "{name} rtcp #{i}"
            );
            packets += 1;
        }
    }
    assert_eq!(packets, 9 * 9);
}

#[test]
fn every_case_unprotects_and_rejects_tamper_and_replay() {
    let v = vectors();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        for specific in [false, true] {
            let mut rx = context(case, specific);
            for (i, p) in case["rtp"].as_array().unwrap().iter().enumerate() {
                let plain = hx(&p["plaintext"]);
                let prot = hx(&p["protected"]);
                // A 1-bit tamper anywhere is rejected and leaves no trace.
                let mut bad = prot.clone();
                let bit = (i * 37) % (bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(rx.unprotect_rtp(&mut bad).is_err(), "{name} tamper #{i}");

                let mut buf = prot.clone();
                let n = rx
                    .unprotect_rtp(&mut buf)
                    .unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
                assert_eq!(
                    hex::encode(&buf[..n]),
                    hex::encode(&plain),
                    "{name} rtp #{i}"
                );
                let mut again = prot.clone();
                assert_eq!(
                    rx.unprotect_rtp(&mut again),
                    Err(Error::Replayed),
                    "{name} replay #{i}"
                );
            }
            for (i, p) in case["rtcp"].as_array().unwrap().iter().enumerate() {
                let plain = hx(&p["plaintext"]);
                let prot = hx(&p["protected"]);
                let mut buf = prot.clone();
                let n = rx
                    .unprotect_rtcp(&mut buf)
                    .unwrap_or_else(|e| panic!("{name} rtcp #{i}: {e}"));
                assert_eq!(
                    hex::encode(&buf[..n]),
                    hex::encode(&plain),
                    "{name} rtcp #{i}"
                );
                let mut again = prot.clone();
                assert_eq!(
                    rx.unprotect_rtcp(&mut again),
                    Err(Error::Replayed),
                    "{name} rtcp replay #{i}"
                );
            }
        }
    }
}

/// A known answer's sender and receiver (with its initial ROC), and its
/// SSRC.
fn known_answer_contexts(ka: &Value) -> (u32, Context, Context) {
    let suite = Suite::from_name(ka["suite"].as_str().unwrap()).unwrap();
    let key = || MasterKey::new(suite, &hx(&ka["master_key"]), &hx(&ka["master_salt"])).unwrap();
    let ssrc = u32::from_str_radix(ka["ssrc_hex"].as_str().unwrap(), 16).unwrap();
    let roc = ka["roc"].as_u64().unwrap_or(0) as u32;
    let mut tx = Context::new(Policy::new(suite, key())).unwrap();
    let mut rx = Context::new(Policy::new(suite, key())).unwrap();
    if roc != 0 {
        tx.set_roc(ssrc, roc).unwrap();
        rx.set_roc(ssrc, roc).unwrap();
    }
    (ssrc, tx, rx)
}

#[test]
fn libsrtp_known_answers() {
    let v = vectors();
    for ka in v["known_answer"].as_array().unwrap() {
        let name = ka["name"].as_str().unwrap();
        let (ssrc, mut tx, mut rx) = known_answer_contexts(ka);
        if !ka["rtp_plaintext"].is_null() {
            let plain = hx(&ka["rtp_plaintext"]);
            let want = hx(&ka["rtp_protected"]);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 64, 0);
            let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
            assert_eq!(hex::encode(&buf[..n]), hex::encode(&want), "{name} rtp");
            let mut back = want.clone();
            let n = rx.unprotect_rtp(&mut back).unwrap();
            assert_eq!(&back[..n], &plain[..], "{name} rtp back");
        }
        if !ka["rtcp_plaintext"].is_null() {
            let plain = hx(&ka["rtcp_plaintext"]);
            let want = hx(&ka["rtcp_protected"]);
            tx.set_rtcp_index(ssrc, ka["srtcp_index"].as_u64().unwrap() as u32)
                .unwrap();
            let mut buf = plain.clone();
            buf.resize(plain.len() + 64, 0);
            let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
            assert_eq!(hex::encode(&buf[..n]), hex::encode(&want), "{name} rtcp");
            let mut back = want.clone();
            let n = rx.unprotect_rtcp(&mut back).unwrap();
            assert_eq!(&back[..n], &plain[..], "{name} rtcp back");
        }
    }
}

#[test]
fn verify_keeps_bytes_and_records_the_packet() {
    let v = vectors();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut rx = context(case, false);
        for (i, p) in case["rtp"].as_array().unwrap().iter().enumerate() {
            let prot = hx(&p["protected"]);
            let mut buf = prot.clone();
            rx.verify_rtp(&mut buf)
                .unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            assert_eq!(buf, prot, "{name} rtp #{i} bytes changed");
            let mut again = prot.clone();
            assert_eq!(rx.verify_rtp(&mut again), Err(Error::Replayed));
        }
        for (i, p) in case["rtcp"].as_array().unwrap().iter().enumerate() {
            let prot = hx(&p["protected"]);
            let mut buf = prot.clone();
            rx.verify_rtcp(&mut buf)
                .unwrap_or_else(|e| panic!("{name} rtcp #{i}: {e}"));
            assert_eq!(buf, prot, "{name} rtcp #{i} bytes changed");
        }
    }
}

/// The batch path (`srtp::Batcher`) with every engine: each case's RTP
/// packets protected in one batch among filler packets (the 65535 → 0 wrap
/// inside one batch), then received in one batch as tampered, genuine and
/// replayed copies; SRTCP likewise; and the known answers.
#[test]
fn every_case_and_known_answer_through_the_batch_path() {
    let v = vectors();
    for engine in support::batch::engines() {
        for case in v["cases"].as_array().unwrap() {
            let name = format!("{} ({})", case["name"].as_str().unwrap(), engine.name());
            let rtp = case["rtp"].as_array().unwrap();
            let mut tx = context(case, false);
            let ops = rtp
                .iter()
                .map(|p| {
                    let plain = hx(&p["plaintext"]);
                    let len = plain.len();
                    let mut buf = plain;
                    buf.resize(len + 64, 0);
                    (BatchOp::ProtectRtp, buf, len)
                })
                .collect();
            for (i, ((buf, r), p)) in among_fillers(engine, &mut tx, ops)
                .iter()
                .zip(rtp)
                .enumerate()
            {
                let want = hx(&p["protected"]);
                let n = r.clone().unwrap_or_else(|e| panic!("{name} rtp #{i}: {e}"));
                assert_eq!(
                    hex::encode(&buf[..n]),
                    hex::encode(&want),
                    "{name} rtp #{i}"
                );
            }
            let mut rx = context(case, false);
            let mut ops = Vec::new();
            for (i, p) in rtp.iter().enumerate() {
                let prot = hx(&p["protected"]);
                let mut bad = prot.clone();
                let bit = (i * 37) % (bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                for b in [bad, prot.clone(), prot] {
                    let len = b.len();
                    ops.push((BatchOp::UnprotectRtp, b, len));
                }
            }
            let got = among_fillers(engine, &mut rx, ops);
            for (i, p) in rtp.iter().enumerate() {
                let plain = hx(&p["plaintext"]);
                assert!(got[3 * i].1.is_err(), "{name} tamper #{i}");
                let (buf, r) = &got[3 * i + 1];
                let n = r
                    .clone()
                    .unwrap_or_else(|e| panic!("{name} rtp back #{i}: {e}"));
                assert_eq!(
                    hex::encode(&buf[..n]),
                    hex::encode(&plain),
                    "{name} rtp back #{i}"
                );
                assert_eq!(got[3 * i + 2].1, Err(Error::Replayed), "{name} replay #{i}");
            }
            let ssrc = case["ssrc"].as_u64().unwrap() as u32;
            for (i, p) in case["rtcp"].as_array().unwrap().iter().enumerate() {
                let plain = hx(&p["plaintext"]);
                let want = hx(&p["protected"]);
                tx.set_rtcp_index(ssrc, p["srtcp_index"].as_u64().unwrap() as u32)
                    .unwrap();
                let mut buf = plain.clone();
                buf.resize(plain.len() + 64, 0);
                let n = in_batch(engine, &mut tx, BatchOp::ProtectRtcp, &mut buf, plain.len())
                    .unwrap_or_else(|e| panic!("{name} rtcp #{i}: {e}"));
                assert_eq!(
                    hex::encode(&buf[..n]),
                    hex::encode(&want),
                    "{name} rtcp #{i}"
                );
                let ops = vec![
                    (BatchOp::UnprotectRtcp, want.clone(), want.len()),
                    (BatchOp::UnprotectRtcp, want.clone(), want.len()),
                ];
                let got = among_fillers(engine, &mut rx, ops);
                let n = got[0]
                    .1
                    .clone()
                    .unwrap_or_else(|e| panic!("{name} rtcp back #{i}: {e}"));
                assert_eq!(&got[0].0[..n], &plain[..], "{name} rtcp back #{i}");
                assert_eq!(got[1].1, Err(Error::Replayed), "{name} rtcp replay #{i}");
            }
        }
        for ka in v["known_answer"].as_array().unwrap() {
            let name = format!("{} ({})", ka["name"].as_str().unwrap(), engine.name());
            let (ssrc, mut tx, mut rx) = known_answer_contexts(ka);
            for (plain, want, rtcp) in [
                ("rtp_plaintext", "rtp_protected", false),
                ("rtcp_plaintext", "rtcp_protected", true),
            ] {
                if ka[plain].is_null() {
                    continue;
                }
                let plain = hx(&ka[plain]);
                let want = hx(&ka[want]);
                let (protect, unprotect) = if rtcp {
                    tx.set_rtcp_index(ssrc, ka["srtcp_index"].as_u64().unwrap() as u32)
                        .unwrap();
                    (BatchOp::ProtectRtcp, BatchOp::UnprotectRtcp)
                } else {
                    (BatchOp::ProtectRtp, BatchOp::UnprotectRtp)
                };
                let mut buf = plain.clone();
                buf.resize(plain.len() + 64, 0);
                let n = in_batch(engine, &mut tx, protect, &mut buf, plain.len()).unwrap();
                assert_eq!(hex::encode(&buf[..n]), hex::encode(&want), "{name}");
                let mut back = want.clone();
                let n = in_batch(engine, &mut rx, unprotect, &mut back, want.len()).unwrap();
                assert_eq!(&back[..n], &plain[..], "{name} back");
            }
        }
    }
}
