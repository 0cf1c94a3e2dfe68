//! The vector kernels. One lane of each vector is one message: the state
//! words `a..e` of 16 (or 8) messages sit in five vectors, the message
//! schedule `W[t]` in sixteen, so the 80 rounds run once for all lanes.
//! Blocks are byte-swapped and transposed into that lane form as they are
//! loaded. Lanes that have finished (shorter messages, or unused lanes)
//! still compute, but a blend keeps their state, so the cost of a call is
//! that of its longest message.

const K0: u32 = 0x5a82_7999;
const K1: u32 = 0x6ed9_eba1;
const K2: u32 = 0x8f1b_bcdc;
const K3: u32 = 0xca62_c1d6;

/// One round in the rotating-names form: `e += rol5(a) + f(b, c, d) + K +
/// W; b = rol30(b)`.
macro_rules! round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $k:expr, $w:expr) => {
        $e = add!(add!(add!($e, rol!($a, 5)), add!($f!($b, $c, $d), $k)), $w);
        $b = rol!($b, 30);
    };
}

/// `W[t]` in a 16-entry ring; `t` is a literal, so the indices fold.
macro_rules! schedule {
    ($w:ident, $t:expr) => {{
        if $t >= 16 {
            $w[$t & 15] = rol!(
                xor4!(
                    $w[($t - 3) & 15],
                    $w[($t - 8) & 15],
                    $w[($t - 14) & 15],
                    $w[$t & 15]
                ),
                1
            );
        }
        $w[$t & 15]
    }};
}

macro_rules! five_rounds {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $w:ident, $t:expr, $f:ident, $k:expr) => {
        round!($a, $b, $c, $d, $e, $f, $k, schedule!($w, $t));
        round!($e, $a, $b, $c, $d, $f, $k, schedule!($w, $t + 1));
        round!($d, $e, $a, $b, $c, $f, $k, schedule!($w, $t + 2));
        round!($c, $d, $e, $a, $b, $f, $k, schedule!($w, $t + 3));
        round!($b, $c, $d, $e, $a, $f, $k, schedule!($w, $t + 4));
    };
}

/// The 80 rounds of one block on lane-form state `$s` and schedule `$w`.
macro_rules! compress {
    ($s:ident, $w:ident) => {{
        let (mut a, mut b, mut c, mut d, mut e) = ($s[0], $s[1], $s[2], $s[3], $s[4]);
        let k0 = splat!(super::K0);
        let k1 = splat!(super::K1);
        let k2 = splat!(super::K2);
        let k3 = splat!(super::K3);
        five_rounds!(a, b, c, d, e, $w, 0, f_ch, k0);
        five_rounds!(a, b, c, d, e, $w, 5, f_ch, k0);
        five_rounds!(a, b, c, d, e, $w, 10, f_ch, k0);
        five_rounds!(a, b, c, d, e, $w, 15, f_ch, k0);
        five_rounds!(a, b, c, d, e, $w, 20, f_parity, k1);
        five_rounds!(a, b, c, d, e, $w, 25, f_parity, k1);
        five_rounds!(a, b, c, d, e, $w, 30, f_parity, k1);
        five_rounds!(a, b, c, d, e, $w, 35, f_parity, k1);
        five_rounds!(a, b, c, d, e, $w, 40, f_maj, k2);
        five_rounds!(a, b, c, d, e, $w, 45, f_maj, k2);
        five_rounds!(a, b, c, d, e, $w, 50, f_maj, k2);
        five_rounds!(a, b, c, d, e, $w, 55, f_maj, k2);
        five_rounds!(a, b, c, d, e, $w, 60, f_parity, k3);
        five_rounds!(a, b, c, d, e, $w, 65, f_parity, k3);
        five_rounds!(a, b, c, d, e, $w, 70, f_parity, k3);
        five_rounds!(a, b, c, d, e, $w, 75, f_parity, k3);
        $s[0] = add!($s[0], a);
        $s[1] = add!($s[1], b);
        $s[2] = add!($s[2], c);
        $s[3] = add!($s[3], d);
        $s[4] = add!($s[4], e);
    }};
}

/// The HMAC driver shared by both widths: inner hash over each lane's
/// blocks (finished lanes keep their state), then one outer block whose
/// first five words are the inner digests, already in lane form.
macro_rules! hmac_lanes {
    ($n:expr, $features:literal) => {
        /// HMAC-SHA1 of up to `$n` inputs (the caller checked the count
        /// and the trailers; see [`crate::hmac_sha1`]).
        #[target_feature(enable = $features)]
        pub(crate) fn hmac(inputs: &[HmacInput<'_>], out: &mut [[u8; 20]]) {
            let n = inputs.len().min($n);
            let mut lanes = [LaneBlocks::EMPTY; $n];
            for (lane, input) in lanes.iter_mut().zip(inputs) {
                lane.set(input);
            }
            let most = lanes.iter().map(|l| l.blocks).max().unwrap_or(0);
            let mut inner = [SHA1_IV; $n];
            let mut outer = [SHA1_IV; $n];
            for (j, input) in inputs.iter().take(n).enumerate() {
                inner[j] = *input.inner;
                outer[j] = *input.outer;
            }
            let zero = [0u8; 64];
            let mut s = load_states(&inner);
            for i in 0..most {
                let mut active = [false; $n];
                let mut w = load_schedule(core::array::from_fn(|j| {
                    let l = &lanes[j];
                    if i < l.blocks {
                        active[j] = true;
                        l.block(i)
                    } else {
                        &zero
                    }
                }));
                let before = s;
                compress!(s, w);
                if active.iter().any(|a| !a) {
                    s = keep_finished(before, s, &active);
                }
            }
            let mut w = [splat!(0); 16];
            w[..5].copy_from_slice(&s);
            w[5] = splat!(0x8000_0000u32);
            w[15] = splat!((64 + 20) * 8);
            let mut o = load_states(&outer);
            compress!(o, w);
            let mut words = [[0u32; $n]; 5];
            for (k, v) in o.iter().enumerate() {
                words[k] = store_lanes(*v);
            }
            for (j, mac) in out.iter_mut().take(n).enumerate() {
                for (k, word) in words.iter().enumerate() {
                    mac[4 * k..4 * k + 4].copy_from_slice(&word[j].to_be_bytes());
                }
            }
            inner.zeroize();
            outer.zeroize();
            words.zeroize();
        }
    };
}

/// AVX2: 8 lanes of `__m256i`.
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    use zeroize::Zeroize;

    use crate::{HmacInput, LaneBlocks, SHA1_IV};

    macro_rules! add {
        ($x:expr, $y:expr) => {
            _mm256_add_epi32($x, $y)
        };
    }
    macro_rules! splat {
        ($x:expr) => {
            _mm256_set1_epi32($x as i32)
        };
    }
    macro_rules! rol {
        ($x:expr, $n:literal) => {{
            let x = $x;
            _mm256_or_si256(
                _mm256_slli_epi32::<$n>(x),
                _mm256_srli_epi32::<{ 32 - $n }>(x),
            )
        }};
    }
    macro_rules! xor4 {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {
            _mm256_xor_si256(_mm256_xor_si256($a, $b), _mm256_xor_si256($c, $d))
        };
    }
    // Ch = d ^ (b & (c ^ d)); Maj = (b & c) | (d & (b | c)).
    macro_rules! f_ch {
        ($b:expr, $c:expr, $d:expr) => {
            _mm256_xor_si256($d, _mm256_and_si256($b, _mm256_xor_si256($c, $d)))
        };
    }
    macro_rules! f_parity {
        ($b:expr, $c:expr, $d:expr) => {
            _mm256_xor_si256(_mm256_xor_si256($b, $c), $d)
        };
    }
    macro_rules! f_maj {
        ($b:expr, $c:expr, $d:expr) => {
            _mm256_or_si256(
                _mm256_and_si256($b, $c),
                _mm256_and_si256($d, _mm256_or_si256($b, $c)),
            )
        };
    }

    /// Loads 8 blocks, one per lane, as big-endian words, transposed:
    /// `w[t]` lane j is word t of `blocks[j]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load_schedule(blocks: [&[u8; 64]; 8]) -> [__m256i; 16] {
        let bswap = _mm256_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, //
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
        );
        let mut out = [_mm256_setzero_si256(); 16];
        for half in 0..2 {
            let r: [__m256i; 8] = core::array::from_fn(|j| {
                // SAFETY: reads bytes 32*half..32*half+32 of a 64-byte
                // array (half < 2); loadu takes any alignment.
                let v = unsafe {
                    _mm256_loadu_si256(blocks[j].as_ptr().add(32 * half).cast::<__m256i>())
                };
                _mm256_shuffle_epi8(v, bswap)
            });
            let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
            let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
            let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
            let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
            let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            let u0 = _mm256_unpacklo_epi64(t0, t2);
            let u1 = _mm256_unpackhi_epi64(t0, t2);
            let u2 = _mm256_unpacklo_epi64(t1, t3);
            let u3 = _mm256_unpackhi_epi64(t1, t3);
            let u4 = _mm256_unpacklo_epi64(t4, t6);
            let u5 = _mm256_unpackhi_epi64(t4, t6);
            let u6 = _mm256_unpacklo_epi64(t5, t7);
            let u7 = _mm256_unpackhi_epi64(t5, t7);
            let o = 8 * half;
            out[o] = _mm256_permute2x128_si256::<0x20>(u0, u4);
            out[o + 1] = _mm256_permute2x128_si256::<0x20>(u1, u5);
            out[o + 2] = _mm256_permute2x128_si256::<0x20>(u2, u6);
            out[o + 3] = _mm256_permute2x128_si256::<0x20>(u3, u7);
            out[o + 4] = _mm256_permute2x128_si256::<0x31>(u0, u4);
            out[o + 5] = _mm256_permute2x128_si256::<0x31>(u1, u5);
            out[o + 6] = _mm256_permute2x128_si256::<0x31>(u2, u6);
            out[o + 7] = _mm256_permute2x128_si256::<0x31>(u3, u7);
        }
        out
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load_states(states: &[[u32; 5]; 8]) -> [__m256i; 5] {
        core::array::from_fn(|k| {
            let lane = |j: usize| states[j][k] as i32;
            _mm256_setr_epi32(
                lane(0),
                lane(1),
                lane(2),
                lane(3),
                lane(4),
                lane(5),
                lane(6),
                lane(7),
            )
        })
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn store_lanes(v: __m256i) -> [u32; 8] {
        let mut out = [0u32; 8];
        // SAFETY: writes exactly the 32 bytes of `out`; storeu takes any
        // alignment.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v) };
        out
    }

    /// Lanes that were not active keep `before`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn keep_finished(
        before: [__m256i; 5],
        after: [__m256i; 5],
        active: &[bool; 8],
    ) -> [__m256i; 5] {
        let m = |j: usize| -i32::from(active[j]);
        let mask = _mm256_setr_epi32(m(0), m(1), m(2), m(3), m(4), m(5), m(6), m(7));
        core::array::from_fn(|k| _mm256_blendv_epi8(before[k], after[k], mask))
    }

    hmac_lanes!(8, "avx2");
}

/// AVX-512: 16 lanes of `__m512i`.
pub(crate) mod avx512 {
    use core::arch::x86_64::*;

    use zeroize::Zeroize;

    use crate::{HmacInput, LaneBlocks, SHA1_IV};

    macro_rules! add {
        ($x:expr, $y:expr) => {
            _mm512_add_epi32($x, $y)
        };
    }
    macro_rules! splat {
        ($x:expr) => {
            _mm512_set1_epi32($x as i32)
        };
    }
    macro_rules! rol {
        ($x:expr, $n:literal) => {
            _mm512_rol_epi32::<$n>($x)
        };
    }
    macro_rules! xor4 {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {
            _mm512_xor_si512(_mm512_ternarylogic_epi32::<0x96>($a, $b, $c), $d)
        };
    }
    // Truth-table index (b << 2) | (c << 1) | d: Ch 0xCA, parity 0x96,
    // Maj 0xE8.
    macro_rules! f_ch {
        ($b:expr, $c:expr, $d:expr) => {
            _mm512_ternarylogic_epi32::<0xCA>($b, $c, $d)
        };
    }
    macro_rules! f_parity {
        ($b:expr, $c:expr, $d:expr) => {
            _mm512_ternarylogic_epi32::<0x96>($b, $c, $d)
        };
    }
    macro_rules! f_maj {
        ($b:expr, $c:expr, $d:expr) => {
            _mm512_ternarylogic_epi32::<0xE8>($b, $c, $d)
        };
    }

    /// Loads 16 blocks, one per lane, as big-endian words, transposed (a
    /// 16x16 transpose of 32-bit words).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn load_schedule(blocks: [&[u8; 64]; 16]) -> [__m512i; 16] {
        let bswap = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
        let r: [__m512i; 16] = core::array::from_fn(|j| {
            // SAFETY: reads exactly the 64 bytes of one `[u8; 64]`;
            // loadu takes any alignment.
            let v = unsafe { _mm512_loadu_si512(blocks[j].as_ptr().cast::<__m512i>()) };
            _mm512_shuffle_epi8(v, bswap)
        });
        // 4x4 transposes inside each 128-bit lane, per group of 4 rows:
        // v[g][k] lane L = word 4L+k of rows 4g..4g+3.
        let v: [[__m512i; 4]; 4] = core::array::from_fn(|g| {
            let (a, b, c, d) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
            let t0 = _mm512_unpacklo_epi32(a, b);
            let t1 = _mm512_unpackhi_epi32(a, b);
            let t2 = _mm512_unpacklo_epi32(c, d);
            let t3 = _mm512_unpackhi_epi32(c, d);
            [
                _mm512_unpacklo_epi64(t0, t2),
                _mm512_unpackhi_epi64(t0, t2),
                _mm512_unpacklo_epi64(t1, t3),
                _mm512_unpackhi_epi64(t1, t3),
            ]
        });
        let mut out = [_mm512_setzero_si512(); 16];
        for k in 0..4 {
            // Then a 4x4 transpose of the 128-bit lanes across v[0..4][k].
            let x0 = _mm512_shuffle_i32x4::<0x44>(v[0][k], v[1][k]);
            let x1 = _mm512_shuffle_i32x4::<0xEE>(v[0][k], v[1][k]);
            let x2 = _mm512_shuffle_i32x4::<0x44>(v[2][k], v[3][k]);
            let x3 = _mm512_shuffle_i32x4::<0xEE>(v[2][k], v[3][k]);
            out[k] = _mm512_shuffle_i32x4::<0x88>(x0, x2);
            out[4 + k] = _mm512_shuffle_i32x4::<0xDD>(x0, x2);
            out[8 + k] = _mm512_shuffle_i32x4::<0x88>(x1, x3);
            out[12 + k] = _mm512_shuffle_i32x4::<0xDD>(x1, x3);
        }
        out
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load_states(states: &[[u32; 5]; 16]) -> [__m512i; 5] {
        let idx = _mm512_setr_epi32(0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75);
        core::array::from_fn(|k| {
            // SAFETY: `states` is 80 contiguous u32; element k + 5j for
            // k < 5, j < 16 is below 80.
            unsafe { _mm512_i32gather_epi32::<4>(idx, states.as_ptr().cast::<u32>().add(k).cast()) }
        })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store_lanes(v: __m512i) -> [u32; 16] {
        let mut out = [0u32; 16];
        // SAFETY: writes exactly the 64 bytes of `out`; storeu takes any
        // alignment.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast::<__m512i>(), v) };
        out
    }

    /// Lanes that were not active keep `before`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn keep_finished(
        before: [__m512i; 5],
        after: [__m512i; 5],
        active: &[bool; 16],
    ) -> [__m512i; 5] {
        let mask = active
            .iter()
            .enumerate()
            .fold(0u16, |m, (j, &a)| m | (u16::from(a) << j));
        core::array::from_fn(|k| _mm512_mask_blend_epi32(mask, before[k], after[k]))
    }

    hmac_lanes!(16, "avx512f,avx512bw");
}
