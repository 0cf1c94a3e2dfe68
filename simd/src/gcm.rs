//! AES-GCM (NIST SP 800-38D) with VAES and VPCLMULQDQ, for SRTP's AEAD
//! suites (RFC 7714): 12-byte nonces, 16-byte tags.
//!
//! Why not ring's: ring's AES-GCM is fast on long inputs, but a voice
//! packet is ten blocks, and about half of a GCM packet's time there went to
//! the per-call glue around the kernels. Here a packet is one call into
//! [`AesCtrKey`] for the payload, one for the tag mask, and one GHASH pass
//! that multiplies up to sixteen blocks by precomputed powers of H (four per
//! instruction) and reduces once.
//!
//! GHASH is computed as POLYVAL (RFC 8452), whose field elements are plain
//! little-endian integers, so PCLMULQDQ applies without bit reflection:
//! `GHASH(H, X…) = ByteReverse(POLYVAL(mulX(ByteReverse(H)), ByteReverse(X)…))`
//! (RFC 8452, Appendix A). POLYVAL's product `dot(a, b) = a·b·x⁻¹²⁸` is a
//! carry-less multiply and a Montgomery reduction, and since the reduction
//! is linear, a sum of products is reduced once.

use zeroize::Zeroize;

use crate::aes::AesCtrKey;

/// Blocks one GHASH pass multiplies before it reduces (powers of H kept).
const CHUNK_BLOCKS: usize = 16;

/// An AES-GCM key: the expanded AES key and the powers of the hash key.
pub struct GcmKey {
    aes: AesCtrKey,
    /// POLYVAL powers of the hash key, highest first: `powers[i]` is
    /// `H^(16 - i)` in POLYVAL's algebra, as little-endian bytes.
    powers: [[u8; 16]; CHUNK_BLOCKS],
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        self.powers.zeroize();
    }
}

/// The powers are wiped by `Drop`, the AES key by its own.
impl zeroize::ZeroizeOnDrop for GcmKey {}

impl Clone for GcmKey {
    fn clone(&self) -> GcmKey {
        GcmKey {
            aes: self.aes.clone(),
            powers: self.powers,
        }
    }
}

impl core::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GcmKey")
            .field("rounds", &self.aes.rounds())
            .finish_non_exhaustive()
    }
}

impl GcmKey {
    /// Whether this CPU runs it: [`AesCtrKey::available`] and PCLMULQDQ,
    /// VPCLMULQDQ (detected at run time, cached by std).
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            AesCtrKey::available()
                && std::arch::is_x86_feature_detected!("pclmulqdq")
                && std::arch::is_x86_feature_detected!("vpclmulqdq")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// A 16- or 32-byte AES-GCM key (AES-128 or AES-256). `None` for
    /// another length or where [`GcmKey::available`] is false.
    pub fn new(key: &[u8]) -> Option<GcmKey> {
        if !matches!(key.len(), 16 | 32) || !GcmKey::available() {
            return None;
        }
        let aes = AesCtrKey::new(key)?;
        let mut h = [0u8; 16];
        aes.ctr_xor(&[0; 16], &mut h);
        let mut g = GcmKey {
            aes,
            powers: [[0; 16]; CHUNK_BLOCKS],
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `available()` confirmed PCLMULQDQ on this CPU.
        unsafe {
            imp::powers(&h, &mut g.powers)
        };
        h.zeroize();
        Some(g)
    }

    /// Encrypts `data` in place under `nonce` with additional data `aad`
    /// and returns the 16-byte tag.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
        self.aes.ctr_xor(&counter_block(nonce, 2), data);
        self.tag(nonce, aad, data)
    }

    /// Checks `tag` over `aad` and the ciphertext `data` and, only if it
    /// is right, decrypts `data` in place. The tag is compared in constant
    /// time; a wrong one leaves `data` as it was.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool {
        let ok = self.check(nonce, aad, data, tag);
        if ok {
            self.aes.ctr_xor(&counter_block(nonce, 2), data);
        }
        ok
    }

    /// Checks `tag` over `aad` and the ciphertext `data`, in constant time,
    /// without decrypting (SRTP's verify-only path).
    pub fn check(&self, nonce: &[u8; 12], aad: &[u8], data: &[u8], tag: &[u8; 16]) -> bool {
        let mut expected = self.tag(nonce, aad, data);
        let diff = expected.iter().zip(tag).fold(0u8, |d, (a, b)| d | (a ^ b));
        expected.zeroize();
        // `black_box` keeps the fold a fold rather than an early exit.
        core::hint::black_box(diff) == 0
    }

    /// `GHASH(H, aad, ciphertext) XOR E(K, J0)`.
    fn tag(&self, nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a key is only made where `available()` confirmed
        // PCLMULQDQ, VPCLMULQDQ and AVX-512 F/BW on this CPU.
        let mut tag = unsafe { imp::ghash(&self.powers, aad, ciphertext) };
        #[cfg(not(target_arch = "x86_64"))]
        let mut tag = {
            let _ = (aad, ciphertext);
            [0u8; 16]
        };
        self.aes.ctr_xor(&counter_block(nonce, 1), &mut tag);
        tag
    }
}

/// The counter block `nonce || n` (n = 1 is J0, the tag's; the payload's
/// keystream starts at 2). GCM increments only the last 32 bits (inc32);
/// [`AesCtrKey`] adds to the whole block, which is the same while those 32
/// bits do not wrap: from 2, that takes 2^32 - 2 blocks (64 GiB), beyond
/// GCM's own limit and any datagram.
fn counter_block(nonce: &[u8; 12], n: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(nonce);
    b[12..].copy_from_slice(&n.to_be_bytes());
    b
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::*;

    use zeroize::Zeroize;

    use super::CHUNK_BLOCKS;
    use crate::aes::imp::byte_mask;

    /// POLYVAL's `x^128 = x^127 + x^126 + x^121 + 1`, its high terms as the
    /// high 64-bit half (`0xc2 << 56`).
    const POLY_HIGH: i64 = 0xc200_0000_0000_0000u64 as i64;

    /// The Montgomery reduction `(hi·x^128 + lo)·x^-128 mod P`: two steps,
    /// each cancelling 64 low bits by adding a multiple of P.
    #[target_feature(enable = "pclmulqdq")]
    fn reduce(lo: __m128i, hi: __m128i) -> __m128i {
        let k = _mm_set_epi64x(0, POLY_HIGH);
        let m1 = _mm_clmulepi64_si128(lo, k, 0x00);
        let s = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), m1);
        let m2 = _mm_clmulepi64_si128(s, k, 0x00);
        let t = _mm_xor_si128(_mm_shuffle_epi32(s, 0x4e), m2);
        _mm_xor_si128(hi, t)
    }

    /// POLYVAL's `dot(a, b) = a·b·x^-128`.
    #[target_feature(enable = "pclmulqdq")]
    fn dot(a: __m128i, b: __m128i) -> __m128i {
        let lo = _mm_clmulepi64_si128(a, b, 0x00);
        let hi = _mm_clmulepi64_si128(a, b, 0x11);
        let mid = _mm_xor_si128(
            _mm_clmulepi64_si128(a, b, 0x01),
            _mm_clmulepi64_si128(a, b, 0x10),
        );
        reduce(
            _mm_xor_si128(lo, _mm_slli_si128(mid, 8)),
            _mm_xor_si128(hi, _mm_srli_si128(mid, 8)),
        )
    }

    /// The POLYVAL hash key `mulX(ByteReverse(h))` and its powers.
    #[target_feature(enable = "pclmulqdq")]
    pub(super) fn powers(h: &[u8; 16], out: &mut [[u8; 16]; CHUNK_BLOCKS]) {
        let mut r = *h;
        r.reverse();
        let v = u128::from_le_bytes(r);
        // mulX: one left shift, folding x^128 back in.
        let x = (v << 1)
            ^ if v >> 127 == 1 {
                0xc2u128 << 120 | 1
            } else {
                0
            };
        r.zeroize();
        let hk = load(&x.to_le_bytes());
        let mut p = hk;
        for i in (0..CHUNK_BLOCKS).rev() {
            // SAFETY: the store writes exactly the 16-byte array `out[i]`.
            unsafe { _mm_storeu_si128(out[i].as_mut_ptr().cast(), p) };
            p = dot(p, hk);
        }
    }

    fn load(b: &[u8; 16]) -> __m128i {
        // SAFETY: the load reads exactly the 16-byte array `b`.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    /// Reverses the 16 bytes of each 128-bit lane (GHASH block to POLYVAL
    /// element and back).
    #[target_feature(enable = "avx512f,avx512bw")]
    fn byte_reverse(x: __m512i) -> __m512i {
        let m = _mm512_broadcast_i32x4(_mm_set_epi8(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ));
        _mm512_shuffle_epi8(x, m)
    }

    /// A GHASH pass over a known number of blocks, read in place: blocks
    /// are multiplied by the powers of H they need and summed unreduced;
    /// every sixteen blocks (a chunk) the sum is reduced into the state,
    /// which is folded into the next chunk's first block (Horner's rule).
    struct Ghash<'a> {
        powers: &'a [u8],
        state: __m128i,
        lo: __m512i,
        mid: __m512i,
        hi: __m512i,
        /// Blocks in the current chunk, and how many of them are in.
        chunk: usize,
        done: usize,
        /// Blocks after the current chunk.
        after: usize,
        /// Bytes of additional data and of ciphertext (the length block).
        lengths: (usize, usize),
    }

    impl<'a> Ghash<'a> {
        /// A pass over additional data and ciphertext of these lengths.
        #[target_feature(enable = "avx512f")]
        fn new(powers: &'a [[u8; 16]; CHUNK_BLOCKS], aad: usize, ciphertext: usize) -> Ghash<'a> {
            let mut g = Ghash {
                powers: powers.as_flattened(),
                state: _mm_setzero_si128(),
                lo: _mm512_setzero_si512(),
                mid: _mm512_setzero_si512(),
                hi: _mm512_setzero_si512(),
                chunk: 0,
                done: 0,
                after: 0,
                lengths: (aad, ciphertext),
            };
            g.start_chunk(aad.div_ceil(16) + ciphertext.div_ceil(16) + 1);
            g
        }

        /// Adds the length block and returns the hash, as GHASH bytes.
        #[target_feature(enable = "pclmulqdq,vpclmulqdq,avx512f,avx512bw")]
        fn finish(mut self) -> [u8; 16] {
            // The length block `[len(A)]64 || [len(C)]64` in bits,
            // big-endian; byte-reversed, len(C) is the low half.
            let (aad, ciphertext) = self.lengths;
            let lengths = _mm_set_epi64x((aad as u64 * 8) as i64, (ciphertext as u64 * 8) as i64);
            self.multiply(_mm512_zextsi128_si512(lengths), 1);
            let mut out = [0u8; 16];
            // SAFETY: the store writes exactly the 16-byte array `out`.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), self.state) };
            out.reverse();
            out
        }

        /// Starts the current chunk with `left` blocks still to come.
        fn start_chunk(&mut self, left: usize) {
            self.chunk = left.min(CHUNK_BLOCKS);
            self.done = 0;
            self.after = left - self.chunk;
        }

        /// Adds up to four blocks (`x`, lane by lane) to the current
        /// chunk; `n` blocks are real, the rest of `x` is zero.
        #[target_feature(enable = "pclmulqdq,vpclmulqdq,avx512f,avx512bw")]
        fn multiply(&mut self, x: __m512i, n: usize) {
            let mut x = x;
            if self.done == 0 {
                x = _mm512_xor_si512(x, _mm512_zextsi128_si512(self.state));
            }
            let at = (CHUNK_BLOCKS - self.chunk + self.done) * 16;
            let mask = byte_mask(n * 16);
            // SAFETY: the power index `16 - chunk + done` is below 16 (the
            // chunk is not full), and the mask covers `n` powers, which the
            // chunk has left: `at + 16n <= 256`, the length of `powers`.
            let p = unsafe { _mm512_maskz_loadu_epi8(mask, self.powers[at..].as_ptr().cast()) };
            self.lo = _mm512_xor_si512(self.lo, _mm512_clmulepi64_epi128(x, p, 0x00));
            self.hi = _mm512_xor_si512(self.hi, _mm512_clmulepi64_epi128(x, p, 0x11));
            self.mid = _mm512_xor_si512(
                self.mid,
                _mm512_xor_si512(
                    _mm512_clmulepi64_epi128(x, p, 0x01),
                    _mm512_clmulepi64_epi128(x, p, 0x10),
                ),
            );
            self.done += n;
            if self.done == self.chunk {
                let lo = _mm512_xor_si512(self.lo, _mm512_bslli_epi128(self.mid, 8));
                let hi = _mm512_xor_si512(self.hi, _mm512_bsrli_epi128(self.mid, 8));
                self.state = reduce(fold_lanes(lo), fold_lanes(hi));
                self.lo = _mm512_setzero_si512();
                self.mid = _mm512_setzero_si512();
                self.hi = _mm512_setzero_si512();
                let after = self.after;
                self.start_chunk(after);
            }
        }

        /// Adds `segment`'s blocks, the last zero-padded, read in place.
        #[target_feature(enable = "pclmulqdq,vpclmulqdq,avx512f,avx512bw")]
        fn absorb(&mut self, segment: &[u8]) {
            let mut at = 0;
            while at < segment.len() {
                let blocks = (segment.len() - at).div_ceil(16);
                let n = blocks.min(4).min(self.chunk - self.done);
                let bytes = (segment.len() - at).min(n * 16);
                // SAFETY: the load starts at byte `at < len` of `segment`
                // and reads `bytes <= len - at` bytes from there (64 with a
                // plain load, which a plain store of the same bytes can
                // forward to; fewer under a mask); the rest of the register
                // is zero (GHASH's padding).
                let x = unsafe {
                    let p = segment[at..].as_ptr();
                    if bytes == 64 {
                        _mm512_loadu_si512(p.cast())
                    } else {
                        _mm512_maskz_loadu_epi8(byte_mask(bytes), p.cast())
                    }
                };
                self.multiply(byte_reverse(x), n);
                at += bytes;
            }
        }
    }

    /// The XOR of a register's four 128-bit lanes.
    #[target_feature(enable = "avx512f")]
    fn fold_lanes(x: __m512i) -> __m128i {
        let a = _mm_xor_si128(_mm512_castsi512_si128(x), _mm512_extracti32x4_epi32(x, 1));
        let b = _mm_xor_si128(
            _mm512_extracti32x4_epi32(x, 2),
            _mm512_extracti32x4_epi32(x, 3),
        );
        _mm_xor_si128(a, b)
    }

    /// `GHASH(H, aad, ciphertext)` with the length block, as GHASH bytes.
    #[target_feature(enable = "pclmulqdq,vpclmulqdq,avx512f,avx512bw")]
    pub(super) fn ghash(
        powers: &[[u8; 16]; CHUNK_BLOCKS],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> [u8; 16] {
        let mut g = Ghash::new(powers, aad.len(), ciphertext.len());
        g.absorb(aad);
        g.absorb(ciphertext);
        g.finish()
    }
}
