//! What the SRTP fuzz targets share: the fixed keys, and the first input
//! byte that picks the suite and options.
//!
//! The keys are constants so that a corpus of valid packets stays valid
//! across runs (and the fuzzer can mutate real packets rather than only
//! forgeries that fail authentication at once).
#![allow(dead_code)]

use rampart::srtp::{Context, MasterKey, Policy, Suite};

/// Fixed master key bytes (cut to the suite's length).
pub const KEY: [u8; 32] = [
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6, 0xc1, 0x73,
];
/// Fixed master salt bytes (cut to the suite's length).
pub const SALT: [u8; 14] = [
    0xc3, 0x17, 0xf2, 0xda, 0xbe, 0x35, 0x77, 0x93, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
];
/// The MKI used when the selector asks for one.
pub const MKI: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
/// SSRC of the packet that establishes a receiver's stream.
pub const SSRC: u32 = 0x1122_3344;

/// The first input byte, decoded.
///
/// * bits 0-3: suite, `Suite::ALL[n]` for n < 10; 10..15 add header
///   protection to a suite (`Suite::ALL[3n % 10]`): RFC 9335 cryptex for
///   even n, RFC 6904 encryption of extension IDs 1, 3 and 14 for odd n;
/// * bit 4: use the 4-byte MKI;
/// * bit 5: the receiver first takes one valid packet (an established
///   stream) instead of starting empty;
/// * bit 6: tamper mode: the rest is `pos_hi pos_lo mask plaintext…`; the
///   plaintext is protected with the fixed keys, then `mask` is XORed into
///   the byte at `pos`: it must be accepted exactly when `mask` is 0;
/// * bit 7: `UNENCRYPTED_SRTP` / `UNENCRYPTED_SRTCP`.
#[derive(Clone, Copy, Debug)]
pub struct Selector {
    pub suite: Suite,
    pub mki: bool,
    pub established: bool,
    pub tamper: bool,
    pub unencrypted: bool,
    /// 0: none; 1: cryptex; 2: RFC 6904 (IDs 1, 3, 14).
    pub headers: u8,
}

impl Selector {
    pub fn new(b: u8) -> Selector {
        let n = usize::from(b & 0x0f);
        let (suite, headers) = if n < 10 {
            (n, 0)
        } else {
            (3 * n % 10, 1 + (n % 2) as u8)
        };
        Selector {
            suite: Suite::ALL[suite % Suite::ALL.len()],
            headers,
            mki: b & 0x10 != 0,
            established: b & 0x20 != 0,
            tamper: b & 0x40 != 0,
            unencrypted: b & 0x80 != 0,
        }
    }

    pub fn context(&self) -> Context {
        let s = self.suite;
        let mut key = MasterKey::new(s, &KEY[..s.master_key_len()], &SALT[..s.master_salt_len()])
            .expect("fixed key fits every suite");
        if self.mki {
            key = key.with_mki(&MKI);
        }
        let policy = Policy::new(s, key)
            .encrypt_rtp(!self.unencrypted || s.is_aead())
            .encrypt_rtcp(!self.unencrypted)
            .cryptex(self.headers == 1)
            .encrypt_header_extensions(if self.headers == 2 { &[1, 3, 14] } else { &[] });
        Context::new(policy).expect("valid policy")
    }
}

/// A plain RTP packet of `SSRC` with sequence number `seq`.
pub fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..40u8).map(|i| i ^ seq as u8));
    p
}

/// A plain RTCP receiver report (one report block) of `SSRC`.
pub fn rtcp_packet(n: u8) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..24u8).map(|i| i ^ n));
    p
}

/// Protects `plain` as RTP (`rtcp` false) or RTCP with `ctx`.
pub fn protect(ctx: &mut Context, rtcp: bool, plain: &[u8]) -> Result<Vec<u8>, rampart::Error> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.max_trailer_len(), 0);
    let n = if rtcp {
        ctx.protect_rtcp(&mut buf, plain.len())?
    } else {
        ctx.protect_rtp(&mut buf, plain.len())?
    };
    buf.truncate(n);
    Ok(buf)
}

/// Unprotects (or verifies) a copy of `wire`: the result and the bytes after.
pub fn open(
    ctx: &mut Context,
    rtcp: bool,
    verify: bool,
    wire: &[u8],
) -> (Result<usize, rampart::Error>, Vec<u8>) {
    let mut buf = wire.to_vec();
    let r = match (rtcp, verify) {
        (false, false) => ctx.unprotect_rtp(&mut buf),
        (false, true) => ctx.verify_rtp(&mut buf),
        (true, false) => ctx.unprotect_rtcp(&mut buf),
        (true, true) => ctx.verify_rtcp(&mut buf),
    };
    if let Ok(n) = r {
        assert!(n <= wire.len(), "returned length past the packet");
        if verify {
            assert_eq!(buf, wire, "verify changed the bytes");
        }
    }
    (r, buf)
}

/// The shared body of the two unprotect targets.
///
/// A receiver (unprotect) and a verifier (verify) with the same state must
/// reach the same verdict on any input; a rejected input must leave both
/// able to take the next real packet.
pub fn unprotect_target(data: &[u8], rtcp: bool) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let sel = Selector::new(sel);
    let mut tx = sel.context();
    let mut rx = sel.context();
    let mut vx = sel.context();
    let real = |i: u16| {
        if rtcp {
            rtcp_packet(i as u8)
        } else {
            rtp_packet(1000u16.wrapping_add(i))
        }
    };
    let mut next = 0u16;
    if sel.established {
        let w = protect(&mut tx, rtcp, &real(next)).expect("protect the fixed packet");
        next += 1;
        assert_eq!(
            open(&mut rx, rtcp, false, &w).0,
            Ok(w.len() - trailer(&rx, rtcp))
        );
        assert!(open(&mut vx, rtcp, true, &w).0.is_ok());
    }

    let accepted = if sel.tamper {
        tamper(&mut tx, &mut rx, &mut vx, rtcp, rest)
    } else {
        let (r, _) = open(&mut rx, rtcp, false, rest);
        let (v, _) = open(&mut vx, rtcp, true, rest);
        assert_eq!(r, v, "unprotect and verify disagree");
        r.is_ok()
    };

    if !accepted {
        let w = protect(&mut tx, rtcp, &real(next)).expect("protect the fixed packet");
        assert!(
            open(&mut rx, rtcp, false, &w).0.is_ok(),
            "state changed by a rejected packet"
        );
        assert!(
            open(&mut vx, rtcp, true, &w).0.is_ok(),
            "state changed by a rejected packet"
        );
    }
}

/// What a receiver gets back for `plain`: the packet itself, except that
/// cryptex (RFC 9335 §5.1) gives an RTP packet with CSRCs and no header
/// extension an empty one (`added`), which the receiver keeps (as libsrtp
/// does).
fn as_received(mut plain: Vec<u8>, added: bool) -> Vec<u8> {
    let cc = usize::from(plain.first().map_or(0, |b| b & 0x0f));
    let end = 12 + 4 * cc;
    if added && plain.len() >= end {
        plain[0] |= 0x10;
        plain.splice(end..end, [0xbe, 0xde, 0, 0]);
    }
    plain
}

fn trailer(ctx: &Context, rtcp: bool) -> usize {
    let s = ctx.suite();
    if rtcp {
        4 + ctx.mki_len() + s.srtcp_tag_len()
    } else {
        ctx.mki_len() + s.srtp_tag_len()
    }
}

/// Tamper mode; returns whether the receiver accepted something.
fn tamper(tx: &mut Context, rx: &mut Context, vx: &mut Context, rtcp: bool, rest: &[u8]) -> bool {
    let [p0, p1, mask, plain @ ..] = rest else {
        return false;
    };
    let mut plain = plain.to_vec();
    if let Some(b) = plain.first_mut() {
        *b = 0x80 | (*b & 0x3f);
    }
    // Keep clear of the established stream, so that the packet is new.
    let at = if rtcp { 4 } else { 8 };
    if let Some(ssrc) = plain.get_mut(at..at + 4) {
        if ssrc == SSRC.to_be_bytes() {
            ssrc[0] ^= 0xff;
        }
    }
    let Ok(wire) = protect(tx, rtcp, &plain) else {
        return false;
    };
    // Cryptex added an empty extension (the wire says so: X set where the
    // plain packet had none).
    let added = !rtcp && plain.first().is_some_and(|b| b & 0x10 == 0) && wire[0] & 0x10 != 0;
    let plain = as_received(plain, added);
    let mut bad = wire.clone();
    let pos = usize::from(u16::from_be_bytes([*p0, *p1])) % bad.len();
    bad[pos] ^= mask;
    if *mask == 0 {
        let (r, out) = open(rx, rtcp, false, &bad);
        assert_eq!(r, Ok(plain.len()), "a packet just protected was refused");
        assert_eq!(
            out[..plain.len()],
            plain[..],
            "roundtrip changed the packet"
        );
        assert_eq!(open(vx, rtcp, true, &bad).0, Ok(plain.len()));
        return true;
    }
    let (r, _) = open(rx, rtcp, false, &bad);
    assert!(
        r.is_err(),
        "tampered packet accepted (byte {pos} ^ {mask:#04x})"
    );
    let (v, _) = open(vx, rtcp, true, &bad);
    assert_eq!(r, v, "unprotect and verify disagree");
    // The untampered packet is still taken.
    let (r, out) = open(rx, rtcp, false, &wire);
    assert_eq!(r, Ok(plain.len()), "state changed by a tampered packet");
    assert_eq!(out[..plain.len()], plain[..]);
    assert_eq!(open(vx, rtcp, true, &wire).0, Ok(plain.len()));
    true
}
