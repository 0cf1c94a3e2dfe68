//! AES counter mode with VAES: four blocks per instruction.
//!
//! Why: SRTP's counter mode encrypts a 160-byte voice payload in ten
//! blocks. The portable path (RustCrypto `aes` with AES-NI) runs them eight
//! at a time through 128-bit registers behind a generic stream-cipher
//! wrapper, about a quarter of a batched packet's cost here. VAES runs four
//! blocks in each 512-bit register, so ten blocks are three registers
//! through the rounds, and the tail is a masked load and store rather than
//! a byte loop.
//!
//! The key schedule uses AES-NI too (`aesenclast` as the S-box), so no
//! lookup table is indexed by key bytes. Round keys are wiped on drop.
//!
//! Counter semantics are those of RustCrypto's `Ctr128BE`: the whole
//! 16-byte block is a big-endian counter, incremented once per block and
//! wrapping at 2^128. The vector path adds to the low 64 bits; a call whose
//! low half would wrap takes a scalar path one block at a time.

use zeroize::Zeroize;

/// The most round keys any AES key size needs (AES-256: 14 rounds).
const MAX_ROUND_KEYS: usize = 15;

/// An AES encryption key expanded for the VAES counter-mode kernel.
pub struct AesCtrKey {
    /// Round keys in FIPS-197 byte order; `rounds + 1` are used.
    round_keys: [[u8; 16]; MAX_ROUND_KEYS],
    rounds: usize,
}

impl Drop for AesCtrKey {
    fn drop(&mut self) {
        self.round_keys.zeroize();
    }
}

/// The round keys are wiped by `Drop`.
impl zeroize::ZeroizeOnDrop for AesCtrKey {}

impl Clone for AesCtrKey {
    fn clone(&self) -> AesCtrKey {
        AesCtrKey {
            round_keys: self.round_keys,
            rounds: self.rounds,
        }
    }
}

impl core::fmt::Debug for AesCtrKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AesCtrKey")
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

impl AesCtrKey {
    /// Whether this CPU runs the kernel: AES-NI, VAES and AVX-512 F/BW
    /// (detected at run time, cached by std).
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("aes")
                && std::arch::is_x86_feature_detected!("vaes")
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Expands a 16-, 24- or 32-byte AES key. `None` for another length
    /// or where [`AesCtrKey::available`] is false.
    pub fn new(key: &[u8]) -> Option<AesCtrKey> {
        if !matches!(key.len(), 16 | 24 | 32) || !AesCtrKey::available() {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let mut k = AesCtrKey {
                round_keys: [[0; 16]; MAX_ROUND_KEYS],
                rounds: key.len() / 4 + 6,
            };
            // SAFETY: `available()` confirmed AES-NI on this CPU.
            unsafe { imp::expand(key, &mut k.round_keys) };
            Some(k)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            None
        }
    }

    /// The number of rounds (10, 12 or 14).
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// XORs the counter-mode keystream that starts at counter block `iv`
    /// into `data`.
    pub fn ctr_xor(&self, iv: &[u8; 16], data: &mut [u8]) {
        self.xor_from_block(u128::from_be_bytes(*iv), data);
    }

    /// XORs the keystream that starts at counter block `iv`, from byte
    /// `offset` of that keystream on, into `data`.
    pub fn ctr_xor_at(&self, iv: &[u8; 16], offset: usize, data: &mut [u8]) {
        let mut counter = u128::from_be_bytes(*iv).wrapping_add((offset / 16) as u128);
        let skip = offset % 16;
        let mut data = data;
        if skip != 0 && !data.is_empty() {
            let mut block = [0u8; 16];
            self.xor_from_block(counter, &mut block);
            let n = (16 - skip).min(data.len());
            for (d, k) in data[..n].iter_mut().zip(&block[skip..]) {
                *d ^= k;
            }
            block.zeroize();
            counter = counter.wrapping_add(1);
            data = &mut data[n..];
        }
        self.xor_from_block(counter, data);
    }

    fn xor_from_block(&self, counter: u128, data: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a key is only made where `available()` confirmed AES-NI,
            // VAES and AVX-512 F/BW on this CPU.
            unsafe { imp::ctr_xor(&self.round_keys, self.rounds, counter, data) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (counter, data);
            unreachable!("no AesCtrKey is made off x86_64");
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod imp {
    use core::arch::x86_64::*;

    use super::MAX_ROUND_KEYS;

    /// FIPS-197's SubWord on a little-endian word: `aesenclast` with a zero
    /// round key is ShiftRows then SubBytes, and with the word in all four
    /// columns ShiftRows changes nothing.
    #[target_feature(enable = "aes")]
    fn sub_word(w: u32) -> u32 {
        let x = _mm_set1_epi32(w as i32);
        _mm_cvtsi128_si32(_mm_aesenclast_si128(x, _mm_setzero_si128())) as u32
    }

    /// The FIPS-197 §5.2 key expansion, words held little-endian (byte 0 of
    /// a word in its low bits, so RotWord is a right rotation by 8).
    #[target_feature(enable = "aes")]
    pub(super) fn expand(key: &[u8], out: &mut [[u8; 16]; MAX_ROUND_KEYS]) {
        const RCON: [u32; 10] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];
        let nk = key.len() / 4;
        let total = 4 * (nk + 7);
        let mut w = [0u32; 4 * MAX_ROUND_KEYS];
        for (i, c) in key.chunks_exact(4).enumerate() {
            w[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in nk..total {
            let mut t = w[i - 1];
            if i % nk == 0 {
                t = sub_word(t.rotate_right(8)) ^ RCON[i / nk - 1];
            } else if nk > 6 && i % nk == 4 {
                t = sub_word(t);
            }
            w[i] = w[i - nk] ^ t;
        }
        for (r, rk) in out.iter_mut().enumerate().take(total / 4) {
            for (j, b) in rk.chunks_exact_mut(4).enumerate() {
                b.copy_from_slice(&w[4 * r + j].to_le_bytes());
            }
        }
        // The words are key material too.
        zeroize::Zeroize::zeroize(&mut w);
    }

    /// Reverses the 16 bytes of each 128-bit lane: a little-endian counter
    /// to the big-endian block and back.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn byte_swap(x: __m512i) -> __m512i {
        let m = _mm512_broadcast_i32x4(_mm_set_epi8(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ));
        _mm512_shuffle_epi8(x, m)
    }

    /// The mask of the first `n` bytes of a 64-byte register.
    pub(crate) fn byte_mask(n: usize) -> __mmask64 {
        if n >= 64 {
            !0
        } else {
            (1u64 << n) - 1
        }
    }

    /// The keystream of `N` registers of counter blocks (little-endian
    /// counters, as [`counters`] makes them) under the `R` round keys `rk`.
    #[target_feature(enable = "aes,vaes,avx512f,avx512bw")]
    fn keystream<const N: usize, const R: usize>(
        rk: &[__m512i; R],
        counters: [__m512i; N],
    ) -> [__m512i; N] {
        let mut b = counters;
        for x in b.iter_mut() {
            *x = _mm512_xor_si512(byte_swap(*x), rk[0]);
        }
        for k in &rk[1..R - 1] {
            for x in b.iter_mut() {
                *x = _mm512_aesenc_epi128(*x, *k);
            }
        }
        for x in b.iter_mut() {
            *x = _mm512_aesenclast_epi128(*x, rk[R - 1]);
        }
        b
    }

    /// XORs `N` registers of keystream into `data` (at most `N * 64`
    /// bytes).
    #[target_feature(enable = "aes,vaes,avx512f,avx512bw")]
    fn xor_group<const N: usize, const R: usize>(
        rk: &[__m512i; R],
        counters: [__m512i; N],
        data: &mut [u8],
    ) {
        let ks = keystream::<N, R>(rk, counters);
        for (i, ks) in ks.iter().enumerate() {
            let start = i * 64;
            if start >= data.len() {
                break;
            }
            let p = data[start..].as_mut_ptr();
            if data.len() - start >= 64 {
                // SAFETY: `p` points at byte `start` of `data`, which has
                // at least 64 bytes from there. A plain store (not a
                // masked one) lets a later load of these bytes (GHASH)
                // take them from the store buffer.
                unsafe {
                    let d = _mm512_loadu_si512(p as *const __m512i);
                    _mm512_storeu_si512(p as *mut __m512i, _mm512_xor_si512(d, *ks));
                }
                continue;
            }
            if data.len() - start == 16 {
                // SAFETY: `p` points at byte `start` of `data`, which has
                // exactly 16 bytes from there: one block, such as GCM's tag
                // mask, read right back (a masked store would not forward).
                unsafe {
                    let d = _mm_loadu_si128(p as *const __m128i);
                    let k = _mm512_castsi512_si128(*ks);
                    _mm_storeu_si128(p as *mut __m128i, _mm_xor_si128(d, k));
                }
                continue;
            }
            let mask = byte_mask(data.len() - start);
            // SAFETY: `p` points at byte `start` of `data`, and the mask
            // covers at most the `data.len() - start` bytes from there; the
            // masked-off bytes are neither read nor written.
            unsafe {
                let d = _mm512_maskz_loadu_epi8(mask, p as *const i8);
                _mm512_mask_storeu_epi8(p as *mut i8, mask, _mm512_xor_si512(d, *ks));
            }
        }
    }

    /// The counter registers `base + 4i .. base + 4i + 3` for `i < N`, from
    /// the low-half counter `lo` (which does not wrap within them) and the
    /// high half `hi`, as little-endian 128-bit lanes.
    #[target_feature(enable = "avx512f")]
    fn counters<const N: usize>(hi: u64, lo: u64) -> [__m512i; N] {
        let (h, l) = (hi as i64, lo as i64);
        let first = _mm512_set_epi64(
            h,
            l.wrapping_add(3),
            h,
            l.wrapping_add(2),
            h,
            l.wrapping_add(1),
            h,
            l,
        );
        let four = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
        let mut c = [first; N];
        for i in 1..N {
            c[i] = _mm512_add_epi64(c[i - 1], four);
        }
        c
    }

    /// The counter-mode kernel: `data ^= AES(counter), AES(counter + 1), …`.
    #[target_feature(enable = "aes,vaes,avx512f,avx512bw")]
    pub(super) fn ctr_xor(
        keys: &[[u8; 16]; MAX_ROUND_KEYS],
        rounds: usize,
        counter: u128,
        data: &mut [u8],
    ) {
        let blocks = data.len().div_ceil(16) as u64;
        let hi = (counter >> 64) as u64;
        let lo = counter as u64;
        if lo.checked_add(blocks).is_none() {
            return ctr_xor_wrapping(keys, rounds, counter, data);
        }
        match rounds {
            10 => ctr_xor_rounds::<11>(keys, hi, lo, data),
            12 => ctr_xor_rounds::<13>(keys, hi, lo, data),
            _ => ctr_xor_rounds::<15>(keys, hi, lo, data),
        }
    }

    /// [`ctr_xor`] for one key size (`R` round keys), so that the rounds
    /// unroll and the round keys stay in registers. Like other AES-NI code
    /// (RustCrypto's included), it leaves round keys in vector registers
    /// and, where the compiler spills, on the stack; the key's own copy is
    /// wiped on drop.
    #[target_feature(enable = "aes,vaes,avx512f,avx512bw")]
    fn ctr_xor_rounds<const R: usize>(
        keys: &[[u8; 16]; MAX_ROUND_KEYS],
        hi: u64,
        lo: u64,
        data: &mut [u8],
    ) {
        let rk = round_keys::<R>(keys);
        let mut lo = lo;
        let mut rest = data;
        while rest.len() > 192 {
            let n = rest.len().min(256);
            let (now, later) = rest.split_at_mut(n);
            xor_group::<4, R>(&rk, counters::<4>(hi, lo), now);
            lo = lo.wrapping_add(16);
            rest = later;
        }
        match rest.len().div_ceil(64) {
            0 => {}
            1 => xor_group::<1, R>(&rk, counters::<1>(hi, lo), rest),
            2 => xor_group::<2, R>(&rk, counters::<2>(hi, lo), rest),
            _ => xor_group::<3, R>(&rk, counters::<3>(hi, lo), rest),
        }
    }

    /// The first `R` round keys, each in all four lanes of a register.
    #[target_feature(enable = "avx512f")]
    fn round_keys<const R: usize>(keys: &[[u8; 16]; MAX_ROUND_KEYS]) -> [__m512i; R] {
        core::array::from_fn(|r| {
            let k: &[u8; 16] = &keys[r];
            // SAFETY: the load reads exactly the 16-byte array `k`.
            _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(k.as_ptr().cast()) })
        })
    }

    /// The same keystream one block at a time, with full 128-bit counter
    /// arithmetic: for the (astronomically rare) call whose low 64 counter
    /// bits wrap.
    #[target_feature(enable = "aes")]
    fn ctr_xor_wrapping(
        keys: &[[u8; 16]; MAX_ROUND_KEYS],
        rounds: usize,
        counter: u128,
        data: &mut [u8],
    ) {
        let mut counter = counter;
        for chunk in data.chunks_mut(16) {
            let block = counter.to_be_bytes();
            // SAFETY: the load reads exactly the 16-byte array `block`.
            let mut x = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
            let rk = |r: usize| {
                let k: &[u8; 16] = &keys[r];
                // SAFETY: the load reads exactly the 16-byte array `k`.
                unsafe { _mm_loadu_si128(k.as_ptr().cast()) }
            };
            x = _mm_xor_si128(x, rk(0));
            for r in 1..rounds {
                x = _mm_aesenc_si128(x, rk(r));
            }
            x = _mm_aesenclast_si128(x, rk(rounds));
            let mut ks = [0u8; 16];
            // SAFETY: the store writes exactly the 16-byte array `ks`.
            unsafe { _mm_storeu_si128(ks.as_mut_ptr().cast(), x) };
            for (d, k) in chunk.iter_mut().zip(&ks) {
                *d ^= k;
            }
            zeroize::Zeroize::zeroize(&mut ks);
            counter = counter.wrapping_add(1);
        }
    }
}
