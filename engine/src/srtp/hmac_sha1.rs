//! HMAC-SHA1 (RFC 2104) over precomputed pad states, fed from the packet.
//!
//! Why not the `hmac` crate: SRTP authenticates every packet with the same
//! key, so the inner and outer pad blocks are hashed once per key and only
//! their 20-byte chaining states are kept. Per packet, the packet's whole
//! 64-byte blocks go straight from the caller's buffer into the SHA-1
//! compression function (`sha1::compress`, SHA-NI when the CPU has it); only
//! the tail, the ROC and the padding are staged in a small stack block. This
//! skips the generic digest wrapper's state clone and block-buffer copies,
//! which measured about 15 % of an SRTP packet's cost.

use sha1::digest::generic_array::{typenum::U64, GenericArray};
use zeroize::Zeroize;

const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];
const BLOCK: usize = 64;

/// An HMAC-SHA1 key reduced to its inner and outer chaining states.
pub(crate) struct HmacSha1 {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl Zeroize for HmacSha1 {
    fn zeroize(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl Drop for HmacSha1 {
    fn drop(&mut self) {
        self.zeroize();
    }
}

/// The pad states are key-equivalent: they are wiped on drop.
impl zeroize::ZeroizeOnDrop for HmacSha1 {}

/// Blocks handed to one `sha1::compress` call: the SHA-NI kernel loads and
/// stores its state once per call, so batching beats one call per block.
const BATCH: usize = 8;

/// Compresses whole 64-byte blocks of `data` (its length must be a
/// multiple of 64) into `state`.
#[inline]
fn compress_blocks(state: &mut [u32; 5], data: &[u8]) {
    let mut staged = [GenericArray::<u8, U64>::default(); BATCH];
    for batch in data.chunks(BATCH * BLOCK) {
        let mut n = 0;
        for (dst, block) in staged.iter_mut().zip(batch.chunks_exact(BLOCK)) {
            dst.copy_from_slice(block);
            n += 1;
        }
        sha1::compress(state, &staged[..n]);
    }
}

fn compress_one(state: &mut [u32; 5], block: &[u8; BLOCK]) {
    compress_blocks(state, block);
}

/// Compresses one key-derived block (a pad) and wipes the staged copy.
fn compress_secret(state: &mut [u32; 5], block: &[u8; BLOCK]) {
    let mut staged = [GenericArray::<u8, U64>::clone_from_slice(block)];
    sha1::compress(state, &staged);
    staged[0].as_mut_slice().zeroize();
}

fn state_bytes(state: &[u32; 5]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl HmacSha1 {
    /// Keys the MAC. Keys longer than a block are hashed first (RFC 2104).
    pub(crate) fn new(key: &[u8]) -> HmacSha1 {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut h = SHA1_IV;
            let mut digest = finish(&mut h, key, &[], 0);
            k[..20].copy_from_slice(&digest);
            digest.zeroize();
            h.zeroize();
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = [0u8; BLOCK];
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x36;
        }
        // Computed in place in the value returned, so no stray copy of a
        // pad state is left in a local.
        let mut mac = HmacSha1 {
            inner: SHA1_IV,
            outer: SHA1_IV,
        };
        compress_secret(&mut mac.inner, &pad);
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x5c;
        }
        compress_secret(&mut mac.outer, &pad);
        k.zeroize();
        pad.zeroize();
        mac
    }

    /// HMAC-SHA1 of `data || trailer` (`trailer` is at most 4 bytes: the
    /// SRTP ROC, or nothing for SRTCP).
    #[inline]
    pub(crate) fn mac(&self, data: &[u8], trailer: &[u8]) -> [u8; 20] {
        mac_from_pads(&self.inner, &self.outer, data, trailer)
    }

    /// The inner and outer chaining states, for the batch path's
    /// multi-buffer engines (`srtp::batch`).
    #[inline]
    pub(crate) fn pads(&self) -> (&[u32; 5], &[u32; 5]) {
        (&self.inner, &self.outer)
    }
}

/// HMAC-SHA1 of `data || trailer` (`trailer` at most 4 bytes) from a key's
/// inner and outer chaining states, one message at a time (SHA-NI when the
/// CPU has it).
#[inline]
pub(crate) fn mac_from_pads(
    inner: &[u32; 5],
    outer: &[u32; 5],
    data: &[u8],
    trailer: &[u8],
) -> [u8; 20] {
    let mut st = *inner;
    let digest = finish(&mut st, data, trailer, BLOCK);
    let mut block = [0u8; BLOCK];
    block[..20].copy_from_slice(&digest);
    block[20] = 0x80;
    block[56..].copy_from_slice(&(((BLOCK + 20) as u64) * 8).to_be_bytes());
    let mut st = *outer;
    compress_one(&mut st, &block);
    state_bytes(&st)
}

/// Hashes `data || trailer` into `state` (which has already absorbed
/// `prefix_len` bytes), pads, and returns the digest. `trailer` must be at
/// most 4 bytes so the tail fits the two staged blocks.
#[inline]
fn finish(state: &mut [u32; 5], data: &[u8], trailer: &[u8], prefix_len: usize) -> [u8; 20] {
    let trailer = &trailer[..trailer.len().min(4)];
    let whole = data.len() - data.len() % BLOCK;
    let (blocks, rest) = data.split_at(whole);
    compress_blocks(state, blocks);
    let mut tail = [0u8; 2 * BLOCK];
    let n = rest.len() + trailer.len();
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()..n].copy_from_slice(trailer);
    tail[n] = 0x80;
    let end = if n + 9 <= BLOCK { BLOCK } else { 2 * BLOCK };
    let bits = ((prefix_len + data.len() + trailer.len()) as u64) * 8;
    tail[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    compress_blocks(state, &tail[..end]);
    state_bytes(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 2202 test cases 1, 2, 3, 6 (a key longer than a block).
    #[test]
    fn rfc2202() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 4] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(HmacSha1::new(&key).mac(&data, &[]).to_vec(), h(want));
        }
    }

    #[test]
    fn pad_states_are_wiped() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wipes_on_drop::<HmacSha1>();
        let mut mac = HmacSha1::new(&[0x42; 20]);
        assert_ne!(mac.inner, [0; 5]);
        mac.zeroize(); // what Drop runs
        assert_eq!((mac.inner, mac.outer), ([0; 5], [0; 5]));
    }

    /// Every length around the block boundaries, with and without the
    /// 4-byte trailer, splits the same as hashing one concatenated buffer.
    #[test]
    fn trailer_equals_concatenation() {
        let key = [0x42u8; 20];
        let mac = HmacSha1::new(&key);
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let roc = [1, 2, 3, 4];
            let mut joined = data[..len].to_vec();
            joined.extend_from_slice(&roc);
            assert_eq!(
                mac.mac(&data[..len], &roc),
                mac.mac(&joined, &[]),
                "len {len}"
            );
        }
    }
}
