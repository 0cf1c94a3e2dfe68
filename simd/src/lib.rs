//! Multi-buffer HMAC-SHA1 (16 messages at once with AVX-512, 8 with AVX2)
//! and AES counter mode and AES-GCM with VAES and VPCLMULQDQ ([`aes`],
//! [`gcm`]).
//!
//! Why this crate exists: SRTP's default suite authenticates every packet
//! with HMAC-SHA1, and on one packet SHA-1 is a chain of 80 dependent
//! rounds per 64-byte block. SHA-NI runs that chain as fast as one message
//! allows (about 42 ns a block here), and interleaving messages does not
//! help it. A batch of packets, though, is a set of independent messages:
//! putting message j in 32-bit lane j of a vector runs all of them through
//! the same rounds at once (Intel's "multi-buffer" hashing), which costs
//! about 24 ns a block per message with AVX2 and 13 ns with AVX-512 on the
//! machines this was measured on (`benches/srtp-table`, README).
//!
//! What it does not do: keying. The caller hands in the HMAC inner and outer
//! chaining states (the pads, hashed once per key), the data and a short
//! trailer (SRTP's ROC); each lane may have its own key and its own length.
//! The SRTP rules (what is hashed, where the tag goes, constant-time
//! comparison, state) stay in the `rampart` crate, which forbids `unsafe`.
//!
//! Why the `unsafe` here is sound, in one place:
//! * Every function that uses a vector instruction is a safe
//!   `#[target_feature]` function, which may only be called where that
//!   feature is known to be present. The only calls from code without the
//!   feature are in [`hmac_sha1`], right after [`Lanes::available`] has
//!   confirmed it with `is_x86_feature_detected!` (cached by std), and in
//!   [`aes::AesCtrKey`], which is only made where `available()` confirmed
//!   its features.
//! * The remaining `unsafe` blocks are unaligned vector loads and stores,
//!   gathers and scatters. Each one reads or writes a fixed-size array or
//!   a `&[u8; 64]` that the types already prove is large enough, or (AES)
//!   a masked load and store whose mask covers only bytes inside the slice
//!   it starts in; the comment at each says which bytes it touches.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// The SHA-1 initial chaining value (FIPS 180-4 §5.3.1).
pub const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

/// The longest trailer a message may have after its data: the data's last
/// partial block (at most 63 bytes), the trailer, the 0x80 byte and the
/// 8-byte length must fit two blocks.
pub const MAX_TRAILER_LEN: usize = 56;

/// A vector engine and how many messages it hashes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lanes {
    /// 16 lanes of `__m512i` (AVX-512 F and BW).
    X16Avx512,
    /// 8 lanes of `__m256i` (AVX2).
    X8Avx2,
}

impl Lanes {
    /// Messages hashed at once.
    pub const fn width(self) -> usize {
        match self {
            Lanes::X16Avx512 => 16,
            Lanes::X8Avx2 => 8,
        }
    }

    /// A short name for logs and benchmark tables.
    pub const fn name(self) -> &'static str {
        match self {
            Lanes::X16Avx512 => "avx512",
            Lanes::X8Avx2 => "avx2",
        }
    }

    /// Whether this CPU runs this engine (detected at run time, cached).
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Lanes::X16Avx512 => {
                    std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                }
                Lanes::X8Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// The widest engine this CPU runs, if any.
    pub fn best() -> Option<Lanes> {
        [Lanes::X16Avx512, Lanes::X8Avx2]
            .into_iter()
            .find(|l| l.available())
    }
}

/// One HMAC-SHA1 to compute: `HMAC(key, data || trailer)`, the key given
/// as its inner and outer chaining states (SHA-1 of the key XOR ipad and
/// XOR opad blocks, RFC 2104).
#[derive(Clone, Copy)]
pub struct HmacInput<'a> {
    /// The inner chaining state (after the ipad block).
    pub inner: &'a [u32; 5],
    /// The outer chaining state (after the opad block).
    pub outer: &'a [u32; 5],
    /// The message, read in place.
    pub data: &'a [u8],
    /// Bytes hashed after `data` (at most [`MAX_TRAILER_LEN`]).
    pub trailer: &'a [u8],
}

/// Why [`hmac_sha1`] computed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// This CPU lacks the engine's instructions.
    Unavailable,
    /// More inputs than lanes, or fewer outputs than inputs.
    TooMany,
    /// A trailer longer than [`MAX_TRAILER_LEN`].
    TrailerTooLong,
}

/// Computes `out[j] = HMAC-SHA1(inputs[j])` for up to `lanes.width()`
/// inputs at once. The cost is that of the longest input (shorter lanes
/// idle once done), so callers group inputs of similar length. Every input
/// takes the same instructions whatever its bytes, and nothing here
/// branches on a byte of key or data.
pub fn hmac_sha1(
    lanes: Lanes,
    inputs: &[HmacInput<'_>],
    out: &mut [[u8; 20]],
) -> Result<(), Refused> {
    if inputs.len() > lanes.width() || out.len() < inputs.len() {
        return Err(Refused::TooMany);
    }
    if inputs.iter().any(|i| i.trailer.len() > MAX_TRAILER_LEN) {
        return Err(Refused::TrailerTooLong);
    }
    if !lanes.available() {
        return Err(Refused::Unavailable);
    }
    if inputs.is_empty() {
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    match lanes {
        // SAFETY: `available()` just confirmed AVX-512 F and BW on this CPU.
        Lanes::X16Avx512 => unsafe { x86::avx512::hmac(inputs, out) },
        // SAFETY: `available()` just confirmed AVX2 on this CPU.
        Lanes::X8Avx2 => unsafe { x86::avx2::hmac(inputs, out) },
    }
    Ok(())
}

/// One lane's message laid out as blocks: the data's whole blocks are read
/// in place, the rest (partial block, trailer, padding, length) is staged.
/// The staged bytes are message bytes (for SRTP: the packet as sent or
/// received, and the ROC), not key material, so they are not wiped.
struct LaneBlocks<'a> {
    data: &'a [u8],
    whole: usize,
    blocks: usize,
    tail: [u8; 128],
}

impl<'a> LaneBlocks<'a> {
    /// A lane with no message (no blocks).
    const EMPTY: LaneBlocks<'static> = LaneBlocks {
        data: &[],
        whole: 0,
        blocks: 0,
        tail: [0; 128],
    };

    /// Lays `input` out in this (empty, zeroed) lane, in place: built
    /// elsewhere and moved in, the staged tail was read back right after
    /// its narrow stores, a store-forwarding stall per lane.
    fn set(&mut self, input: &HmacInput<'a>) {
        let data = input.data;
        let whole = data.len() / 64;
        let rest = &data[whole * 64..];
        let n = rest.len() + input.trailer.len();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail[rest.len()..n].copy_from_slice(input.trailer);
        self.tail[n] = 0x80;
        let tail_blocks = if n + 9 <= 64 { 1 } else { 2 };
        // The inner hash has already absorbed the 64-byte ipad block.
        let bits = ((64 + data.len() + input.trailer.len()) as u64) * 8;
        self.tail[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits.to_be_bytes());
        self.data = data;
        self.whole = whole;
        self.blocks = whole + tail_blocks;
    }

    /// Block `i` (which must be below `blocks`).
    fn block(&self, i: usize) -> &[u8; 64] {
        let bytes = if i < self.whole {
            &self.data[i * 64..i * 64 + 64]
        } else {
            let t = i - self.whole;
            &self.tail[t * 64..t * 64 + 64]
        };
        bytes.try_into().expect("64-byte block")
    }
}

pub mod aes;
pub mod gcm;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
