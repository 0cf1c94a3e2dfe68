//! Initialisation vectors: counter mode (RFC 3711 §4.1.1) and AES-GCM
//! (RFC 7714 §8.1, §9.1).

/// Counter-mode IV: (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
#[inline]
pub(super) fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    let s = ssrc.to_be_bytes();
    for i in 0..4 {
        iv[4 + i] ^= s[i];
    }
    let x = index.to_be_bytes();
    for i in 0..6 {
        iv[8 + i] ^= x[2 + i];
    }
    iv
}

/// GCM IV (RFC 7714 §8.1 / §9.1): 0x0000 || SSRC || word || low, XOR salt.
#[inline]
pub(super) fn gcm_iv(salt: &[u8; 14], ssrc: u32, word: u32, low: u16) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&word.to_be_bytes());
    iv[10..12].copy_from_slice(&low.to_be_bytes());
    for i in 0..12 {
        iv[i] ^= salt[i];
    }
    iv
}

/// XORs the 31-bit SRTCP index into the last four bytes of a GCM IV
/// (RFC 7714 §9.1: 0x0000 || SSRC || 0x0000 || 0 || index).
pub(super) fn xor_rtcp_index(mut iv: [u8; 12], index: u32) -> [u8; 12] {
    let b = index.to_be_bytes();
    for i in 0..4 {
        iv[8 + i] ^= b[i];
    }
    iv
}
