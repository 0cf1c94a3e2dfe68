//! Master keys, key derivation (RFC 3711 §4.3, RFC 6188 §4, RFC 7714 §11,
//! and the header-extension key of RFC 6904 §5.1) and the precomputed
//! per-session crypto state.
//!
//! The packet path must do no key schedule and no HMAC keying, so a
//! [`SessionKeys`] holds the expanded AES key (or the GCM key with its GHASH
//! table) and an HMAC instance already keyed with the inner and outer pads;
//! each packet clones that small state and feeds it bytes. Raw key bytes live
//! only in zeroizing buffers and never appear in `Debug` output.

use aes::cipher::{
    BlockCipher, BlockEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher,
    StreamCipherCoreWrapper, StreamCipherSeek,
};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::batch::MacJob;
use super::cipher_engine::CipherEngine;
use super::hmac_sha1::HmacSha1;
use super::suite::{CipherKind, Suite};
use crate::Error;

/// Longest MKI a context accepts, in bytes.
pub const MAX_MKI_LEN: usize = 8;

/// SRTP packets one master key may protect (RFC 3711 §9.2).
pub const SRTP_KEY_LIFETIME_MAX: u64 = 1 << 48;
/// SRTCP packets one master key may protect (RFC 3711 §9.2).
pub const SRTCP_KEY_LIFETIME_MAX: u64 = 1 << 31;

/// A master key and salt, with its optional MKI and lifetime.
///
/// The bytes are zeroized on drop; `Debug` shows only the MKI and lengths.
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    key_len: usize,
    salt: Zeroizing<[u8; 14]>,
    salt_len: usize,
    mki: [u8; MAX_MKI_LEN],
    mki_len: usize,
    lifetime: Option<u64>,
}

impl MasterKey {
    /// Builds a master key from a key and salt of lengths some suite uses
    /// (key 16, 24 or 32 bytes; salt 12 or 14), for a key whose suite is
    /// kept elsewhere (a stored call's state).
    pub fn from_parts(key: &[u8], salt: &[u8]) -> Result<MasterKey, Error> {
        let suite = Suite::ALL
            .iter()
            .copied()
            .find(|s| s.master_key_len() == key.len() && s.master_salt_len() == salt.len())
            .ok_or(Error::InvalidConfig(
                "no suite has this master key and salt length",
            ))?;
        MasterKey::new(suite, key, salt)
    }

    /// Builds a master key for `suite`, checking the key and salt lengths.
    pub fn new(suite: Suite, key: &[u8], salt: &[u8]) -> Result<MasterKey, Error> {
        let p = suite.params();
        if key.len() != p.master_key_len {
            return Err(Error::InvalidConfig(
                "master key length does not match the suite",
            ));
        }
        if salt.len() != p.master_salt_len {
            return Err(Error::InvalidConfig(
                "master salt length does not match the suite",
            ));
        }
        let mut k = Zeroizing::new([0u8; 32]);
        k[..key.len()].copy_from_slice(key);
        let mut s = Zeroizing::new([0u8; 14]);
        s[..salt.len()].copy_from_slice(salt);
        Ok(MasterKey {
            key: k,
            key_len: key.len(),
            salt: s,
            salt_len: salt.len(),
            mki: [0; MAX_MKI_LEN],
            mki_len: 0,
            lifetime: None,
        })
    }

    /// Builds a master key from SDES-style concatenated `key || salt`.
    pub fn from_concatenated(suite: Suite, key_and_salt: &[u8]) -> Result<MasterKey, Error> {
        let kl = suite.master_key_len();
        if key_and_salt.len() != kl + suite.master_salt_len() {
            return Err(Error::InvalidConfig(
                "key||salt length does not match the suite",
            ));
        }
        MasterKey::new(suite, &key_and_salt[..kl], &key_and_salt[kl..])
    }

    /// Attaches a Master Key Identifier (1 to 8 bytes). An MKI that is
    /// empty or too long is reported when the key is used in a context.
    pub fn with_mki(mut self, mki: &[u8]) -> MasterKey {
        let n = mki.len().min(MAX_MKI_LEN + 1);
        self.mki_len = n;
        let take = n.min(MAX_MKI_LEN);
        self.mki[..take].copy_from_slice(&mki[..take]);
        self
    }

    /// Sets a lifetime in packets lower than the RFC maxima (SDES `|2^20`).
    pub fn with_lifetime(mut self, packets: u64) -> MasterKey {
        self.lifetime = Some(packets);
        self
    }

    /// The MKI, empty when none is set.
    pub fn mki(&self) -> &[u8] {
        &self.mki[..self.mki_len.min(MAX_MKI_LEN)]
    }

    /// The configured lifetime, if any.
    pub fn lifetime(&self) -> Option<u64> {
        self.lifetime
    }

    /// Master key length in bytes.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// Master salt length in bytes.
    pub fn salt_len(&self) -> usize {
        self.salt_len
    }

    pub(crate) fn mki_len_raw(&self) -> usize {
        self.mki_len
    }

    /// The key bytes. Only for code that must hand the key on (SDP answers).
    pub fn key_bytes(&self) -> &[u8] {
        &self.key[..self.key_len]
    }

    /// The salt bytes. Only for code that must hand the key on (SDP answers).
    pub fn salt_bytes(&self) -> &[u8] {
        &self.salt[..self.salt_len]
    }
}

/// Key and salt live in `Zeroizing` buffers: dropping a `MasterKey` (or
/// any clone of it) wipes them.
impl zeroize::ZeroizeOnDrop for MasterKey {}

impl core::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MasterKey")
            .field("key", &"<redacted>")
            .field("key_len", &self.key_len)
            .field("salt_len", &self.salt_len)
            .field("mki", &self.mki())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// An expanded AES encryption key of any supported size. Each variant
/// wipes its round keys on drop (the `aes` crate's `zeroize` feature, and
/// `rampart-simd`'s own).
#[derive(Clone)]
pub(crate) enum AesKey {
    /// VAES counter mode, four blocks per instruction (`rampart-simd`),
    /// where the CPU has it: the same keystream as the others (tested
    /// against them), a quarter of a batched packet's time less.
    Vaes(rampart_simd::aes::AesCtrKey),
    Aes128(Aes128Enc),
    Aes192(Aes192Enc),
    Aes256(Aes256Enc),
}

fn ctr_xor_with<C>(cipher: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockEncrypt + BlockCipher + BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    let core = ctr::CtrCore::<&C, ctr::flavors::Ctr128BE>::inner_iv_init(cipher, iv.into());
    let mut stream = StreamCipherCoreWrapper::from_core(core);
    stream.apply_keystream(data);
}

fn ctr_xor_at_with<C>(cipher: &C, iv: &[u8; 16], offset: usize, data: &mut [u8])
where
    C: BlockEncrypt + BlockCipher + BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    let core = ctr::CtrCore::<&C, ctr::flavors::Ctr128BE>::inner_iv_init(cipher, iv.into());
    let mut stream = StreamCipherCoreWrapper::from_core(core);
    stream.seek(offset as u64);
    stream.apply_keystream(data);
}

impl zeroize::ZeroizeOnDrop for AesKey {}

impl AesKey {
    fn new(key: &[u8]) -> Result<AesKey, Error> {
        if CipherEngine::current() == CipherEngine::Vector {
            if let Some(k) = rampart_simd::aes::AesCtrKey::new(key) {
                return Ok(AesKey::Vaes(k));
            }
        }
        AesKey::portable(key)
    }

    /// The RustCrypto key (AES-NI or constant-time software), whatever the
    /// CPU.
    fn portable(key: &[u8]) -> Result<AesKey, Error> {
        let bad = |_| Error::InvalidConfig("AES key length");
        Ok(match key.len() {
            16 => AesKey::Aes128(Aes128Enc::new_from_slice(key).map_err(bad)?),
            24 => AesKey::Aes192(Aes192Enc::new_from_slice(key).map_err(bad)?),
            32 => AesKey::Aes256(Aes256Enc::new_from_slice(key).map_err(bad)?),
            _ => return Err(Error::InvalidConfig("AES key length")),
        })
    }

    /// XORs the AES counter-mode keystream starting at `iv` into `data`.
    #[inline]
    pub(crate) fn ctr_xor(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            AesKey::Vaes(k) => k.ctr_xor(iv, data),
            AesKey::Aes128(c) => ctr_xor_with(c, iv, data),
            AesKey::Aes192(c) => ctr_xor_with(c, iv, data),
            AesKey::Aes256(c) => ctr_xor_with(c, iv, data),
        }
    }

    /// XORs the counter-mode keystream starting at `iv`, from byte
    /// `offset` of that keystream on, into `data`.
    #[inline]
    pub(crate) fn ctr_xor_at(&self, iv: &[u8; 16], offset: usize, data: &mut [u8]) {
        match self {
            AesKey::Vaes(k) => k.ctr_xor_at(iv, offset, data),
            AesKey::Aes128(c) => ctr_xor_at_with(c, iv, offset, data),
            AesKey::Aes192(c) => ctr_xor_at_with(c, iv, offset, data),
            AesKey::Aes256(c) => ctr_xor_at_with(c, iv, offset, data),
        }
    }
}

/// The AEAD key of a GCM session: `rampart-simd`'s VAES/VPCLMULQDQ
/// AES-GCM where the CPU has it (about half of ring's per-packet time on a
/// voice packet; tested against RustCrypto's `aes-gcm`, and ring and it
/// against the RFC 7714 and libsrtp known answers), ring's otherwise.
pub(crate) enum GcmKey {
    Vaes(rampart_simd::gcm::GcmKey),
    Ring(ring::aead::LessSafeKey),
}

impl GcmKey {
    fn new(key: &[u8]) -> Result<GcmKey, Error> {
        if CipherEngine::current() == CipherEngine::Vector {
            if let Some(k) = rampart_simd::gcm::GcmKey::new(key) {
                return Ok(GcmKey::Vaes(k));
            }
        }
        GcmKey::ring(key)
    }

    /// ring's key, whatever the CPU.
    fn ring(key: &[u8]) -> Result<GcmKey, Error> {
        let alg = match key.len() {
            16 => &ring::aead::AES_128_GCM,
            32 => &ring::aead::AES_256_GCM,
            _ => return Err(Error::InvalidConfig("GCM key length")),
        };
        let unbound = ring::aead::UnboundKey::new(alg, key)
            .map_err(|_| Error::InvalidConfig("GCM key length"))?;
        Ok(GcmKey::Ring(ring::aead::LessSafeKey::new(unbound)))
    }

    /// Encrypts `data` in place and returns the 16-byte tag.
    #[inline]
    pub(crate) fn seal(&self, nonce: [u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
        let key = match self {
            GcmKey::Vaes(k) => return k.seal(&nonce, aad, data),
            GcmKey::Ring(k) => k,
        };
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
        let mut out = [0u8; 16];
        // ring only fails to seal inputs over 2^36 bytes, which a datagram
        // cannot be; a zero tag would then simply fail verification.
        if let Ok(tag) = key.seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), data) {
            out.copy_from_slice(tag.as_ref());
        }
        out
    }

    /// Verifies `data_and_tag` (ciphertext followed by the 16-byte tag)
    /// without changing it: the vector engine only checks the tag; ring
    /// has no check-only call, so its packet is opened and sealed again.
    #[inline]
    pub(crate) fn verify(&self, nonce: [u8; 12], aad: &[u8], data_and_tag: &mut [u8]) -> bool {
        if let GcmKey::Vaes(k) = self {
            return split_tag(data_and_tag)
                .is_some_and(|(data, tag)| k.check(&nonce, aad, data, &tag));
        }
        let ok = self.open(nonce, aad, data_and_tag);
        if ok {
            let (data, tag_out) = data_and_tag.split_at_mut(data_and_tag.len() - 16);
            tag_out.copy_from_slice(&self.seal(nonce, aad, data));
        }
        ok
    }

    /// Verifies and decrypts `data_and_tag` (ciphertext followed by the
    /// 16-byte tag) in place.
    #[inline]
    pub(crate) fn open(&self, nonce: [u8; 12], aad: &[u8], data_and_tag: &mut [u8]) -> bool {
        let key = match self {
            GcmKey::Vaes(k) => {
                return split_tag(data_and_tag)
                    .is_some_and(|(data, tag)| k.open(&nonce, aad, data, &tag));
            }
            GcmKey::Ring(k) => k,
        };
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
        key.open_in_place(nonce, ring::aead::Aad::from(aad), data_and_tag)
            .is_ok()
    }
}

/// `data_and_tag` as its ciphertext and its 16-byte GCM tag (copied out);
/// `None` when it is shorter than a tag.
fn split_tag(data_and_tag: &mut [u8]) -> Option<(&mut [u8], [u8; 16])> {
    let at = data_and_tag.len().checked_sub(16)?;
    let (data, tag) = data_and_tag.split_at_mut(at);
    Some((data, (&*tag).try_into().ok()?))
}

/// The cipher of one session. Held once per key, never moved on the packet
/// path, so the size difference between variants costs nothing; boxing would
/// add a pointer chase per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SessionCipher {
    Null,
    Ctr(AesKey),
    Gcm(GcmKey),
}

/// The RFC 6904 header-extension cipher of an SRTP session: AES in
/// counter mode keyed with the key and salt derived with labels 0x06 and
/// 0x07 (for the GCM suites too, as RFC 7714 §8.3 and libsrtp do: AES-CM
/// of the GCM key's size, its 12-byte salt padded with two zero bytes).
pub(crate) struct HeaderKey {
    pub(crate) key: AesKey,
    pub(crate) salt: [u8; 14],
}

impl Drop for HeaderKey {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

/// Precomputed crypto state for one direction of one stream family (SRTP or
/// SRTCP) under one master key.
pub(crate) struct SessionKeys {
    pub(crate) cipher: SessionCipher,
    /// Session salt: 14 bytes for counter mode, the first 12 for GCM.
    pub(crate) salt: [u8; 14],
    /// HMAC-SHA1 keyed with the session auth key (None for GCM).
    pub(crate) mac: Option<HmacSha1>,
    /// The header-extension cipher (SRTP only, and only for a context that
    /// encrypts header extensions: boxed so that others pay one pointer).
    pub(crate) header: Option<Box<HeaderKey>>,
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

/// RFC 6904 §5.1's labels for the header-extension key and salt.
const LABEL_HEADER_KEY: u8 = 0x06;
const LABEL_HEADER_SALT: u8 = 0x07;

/// Key derivation labels (RFC 3711 §4.3.2).
#[derive(Clone, Copy)]
pub(crate) enum Family {
    Rtp,
    Rtcp,
}

impl Family {
    const fn labels(self) -> (u8, u8, u8) {
        match self {
            Family::Rtp => (0x00, 0x01, 0x02),
            Family::Rtcp => (0x03, 0x04, 0x05),
        }
    }
}

/// The AES-CM PRF of RFC 3711 §4.3.3: keystream under the master key with
/// IV = (master_salt XOR (label || r)) * 2^16.
fn prf(kdf: &AesKey, master_salt: &[u8; 14], label: u8, r: u64, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    let r_bytes = r.to_be_bytes();
    for i in 0..6 {
        iv[8 + i] ^= r_bytes[2 + i];
    }
    out.fill(0);
    kdf.ctr_xor(&iv, out);
    iv.zeroize();
}

/// The RFC 6904 header key and salt (labels 0x06/0x07) at key-derivation
/// index `r`, under the expanded master key `kdf`; `None` for the NULL
/// suites, which encrypt nothing.
fn header_key(
    suite: Suite,
    kdf: &AesKey,
    master_salt: &[u8; 14],
    r: u64,
) -> Result<Option<Box<HeaderKey>>, Error> {
    let p = suite.params();
    if p.cipher == CipherKind::Null {
        return Ok(None);
    }
    let mut k = Zeroizing::new([0u8; 32]);
    let k = &mut k[..p.master_key_len];
    prf(kdf, master_salt, LABEL_HEADER_KEY, r, k);
    let mut hs = Zeroizing::new([0u8; 14]);
    prf(
        kdf,
        master_salt,
        LABEL_HEADER_SALT,
        r,
        &mut hs[..p.master_salt_len],
    );
    Ok(Some(Box::new(HeaderKey {
        key: AesKey::new(k)?,
        salt: *hs,
    })))
}

impl HeaderKey {
    /// Derives the RFC 6904 header key of an SRTP session at
    /// key-derivation index `r` on its own, for a context that starts
    /// encrypting header extensions after its session keys were derived
    /// (`Context::set_encrypted_extensions`): the same key and salt
    /// [`SessionKeys::derive`] gives with `header`. `None` for the NULL
    /// suites.
    pub(crate) fn derive(
        suite: Suite,
        master: &MasterKey,
        r: u64,
    ) -> Result<Option<Box<HeaderKey>>, Error> {
        let kdf = AesKey::new(master.key_bytes())?;
        let master_salt = Zeroizing::new(*master.salt);
        header_key(suite, &kdf, &master_salt, r)
    }
}

impl SessionKeys {
    /// Derives the session keys of `family` for key-derivation index `r`
    /// (0 when the key derivation rate is 0); with `header`, an SRTP
    /// session of a cipher suite also gets its RFC 6904 header key.
    pub(crate) fn derive(
        suite: Suite,
        master: &MasterKey,
        family: Family,
        r: u64,
        header: bool,
    ) -> Result<SessionKeys, Error> {
        let p = suite.params();
        // The expanded master key wipes itself when `kdf` drops; the salt
        // copy is wiped by `Zeroizing`.
        let kdf = AesKey::new(master.key_bytes())?;
        // A 12-byte GCM master salt is padded with zeros to the 112 bits the
        // counter-mode KDF takes (RFC 7714 §11).
        let master_salt = Zeroizing::new(*master.salt);
        let (l_enc, l_auth, l_salt) = family.labels();

        let cipher = match p.cipher {
            CipherKind::Null => SessionCipher::Null,
            CipherKind::AesCm | CipherKind::AesGcm => {
                let mut k = Zeroizing::new([0u8; 32]);
                let k = &mut k[..p.master_key_len];
                prf(&kdf, &master_salt, l_enc, r, k);
                if p.cipher == CipherKind::AesCm {
                    SessionCipher::Ctr(AesKey::new(k)?)
                } else {
                    SessionCipher::Gcm(GcmKey::new(k)?)
                }
            }
        };
        let mut salt = Zeroizing::new([0u8; 14]);
        if p.cipher != CipherKind::Null {
            prf(
                &kdf,
                &master_salt,
                l_salt,
                r,
                &mut salt[..p.master_salt_len],
            );
        }
        let mac = if p.auth_key_len > 0 {
            let mut a = Zeroizing::new([0u8; 20]);
            prf(&kdf, &master_salt, l_auth, r, &mut a[..]);
            Some(HmacSha1::new(&a[..]))
        } else {
            None
        };
        let header = match (header, family) {
            (true, Family::Rtp) => header_key(suite, &kdf, &master_salt, r)?,
            _ => None,
        };
        Ok(SessionKeys {
            cipher,
            salt: *salt,
            mac,
            header,
        })
    }

    /// HMAC-SHA1 over `data || trailer`, full 20-byte output.
    #[inline]
    pub(crate) fn hmac(&self, data: &[u8], trailer: &[u8]) -> [u8; 20] {
        match &self.mac {
            Some(mac) => mac.mac(data, trailer),
            None => [0u8; 20],
        }
    }

    /// Constant-time check of a truncated HMAC tag, taking the MAC from
    /// `hint` when a batch computed it for exactly this message under this
    /// key (`srtp::batch`), else computing it.
    #[inline]
    pub(crate) fn verify_hmac_hinted(
        &self,
        data: &[u8],
        trailer: &[u8],
        tag: &[u8],
        hint: Option<&MacJob>,
    ) -> bool {
        let full = match (hint, &self.mac) {
            (Some(h), Some(mac)) => h
                .mac_for(mac, data, trailer)
                .unwrap_or_else(|| mac.mac(data, trailer)),
            _ => self.hmac(data, trailer),
        };
        tag.len() <= full.len() && bool::from(full[..tag.len()].ct_eq(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// The VAES key (the default on these machines) and the portable one
    /// give the same keystream at every length and offset, for every key
    /// size; the RFC and libsrtp known answers run through the default.
    /// The VAES key is made directly: `AesKey::new` follows the
    /// process-wide engine, which the test below changes while it runs.
    #[test]
    fn vaes_and_portable_keystreams_agree() {
        assert!(
            std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some()
                || rampart_simd::aes::AesCtrKey::available(),
            "this CPU lacks VAES"
        );
        for klen in [16, 24, 32] {
            let key: Vec<u8> = (0..klen as u8).map(|b| b ^ 0x5a).collect();
            let Some(fast) = rampart_simd::aes::AesCtrKey::new(&key).map(AesKey::Vaes) else {
                return;
            };
            let portable = AesKey::portable(&key).unwrap();
            assert!(matches!(
                portable,
                AesKey::Aes128(_) | AesKey::Aes192(_) | AesKey::Aes256(_)
            ));
            let iv: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(29));
            for len in [
                0, 1, 15, 16, 17, 63, 64, 65, 160, 172, 255, 256, 257, 1200, 1500,
            ] {
                for offset in [0, 1, 12, 16, 33] {
                    let (mut a, mut b) = (vec![0x33u8; len], vec![0x33u8; len]);
                    fast.ctr_xor_at(&iv, offset, &mut a);
                    portable.ctr_xor_at(&iv, offset, &mut b);
                    assert_eq!(a, b, "key {klen} len {len} offset {offset}");
                }
                let (mut a, mut b) = (vec![0x44u8; len], vec![0x44u8; len]);
                fast.ctr_xor(&iv, &mut a);
                portable.ctr_xor(&iv, &mut b);
                assert_eq!(a, b, "key {klen} len {len}");
            }
        }
    }

    /// A forced engine decides what keys made afterwards use.
    #[test]
    fn forced_cipher_engine_picks_the_implementation() {
        CipherEngine::set_default(Some(CipherEngine::Portable)).unwrap();
        let (ctr, gcm) = (
            AesKey::new(&[1; 16]).unwrap(),
            GcmKey::new(&[1; 16]).unwrap(),
        );
        CipherEngine::set_default(None).unwrap();
        assert!(matches!(ctr, AesKey::Aes128(_)));
        assert!(matches!(gcm, GcmKey::Ring(_)));
        if CipherEngine::Vector.available() {
            CipherEngine::set_default(Some(CipherEngine::Vector)).unwrap();
            let (ctr, gcm) = (
                AesKey::new(&[1; 16]).unwrap(),
                GcmKey::new(&[1; 16]).unwrap(),
            );
            CipherEngine::set_default(None).unwrap();
            assert!(matches!(ctr, AesKey::Vaes(_)));
            assert!(matches!(gcm, GcmKey::Vaes(_)));
        } else {
            assert!(CipherEngine::set_default(Some(CipherEngine::Vector)).is_err());
        }
    }

    /// RFC 3711 Appendix B.3: key derivation test vectors.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let key = h("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = h("0EC675AD498AFEEBB6960B3AABE6");
        let mk = MasterKey::new(Suite::AesCm128HmacSha1_80, &key, &salt).unwrap();
        let kdf = AesKey::new(mk.key_bytes()).unwrap();
        let mut enc = [0u8; 16];
        prf(&kdf, &mk.salt, 0, 0, &mut enc);
        assert_eq!(enc.to_vec(), h("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut s = [0u8; 14];
        prf(&kdf, &mk.salt, 2, 0, &mut s);
        assert_eq!(s.to_vec(), h("30CBBC08863D8C85D49DB34A9AE1"));
        let mut a = [0u8; 94];
        prf(&kdf, &mk.salt, 1, 0, &mut a);
        assert_eq!(
            a.to_vec(),
            h(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
               E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
               6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
    }

    /// Every type that holds key material the KDF or the packet path made
    /// wipes it on drop: the master key, the expanded AES keys (the KDF's
    /// master-key schedule and the session keys), the CTR keystream buffer
    /// and the HMAC pad states. (ring's GCM key is the documented
    /// exception: ring offers no zeroization.)
    #[test]
    fn key_holding_types_wipe_on_drop() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wipes_on_drop::<MasterKey>();
        wipes_on_drop::<Aes128Enc>();
        wipes_on_drop::<Aes192Enc>();
        wipes_on_drop::<Aes256Enc>();
        wipes_on_drop::<AesKey>();
        wipes_on_drop::<rampart_simd::aes::AesCtrKey>();
        wipes_on_drop::<HmacSha1>();
        wipes_on_drop::<Zeroizing<[u8; 14]>>();
        wipes_on_drop::<StreamCipherCoreWrapper<ctr::CtrCore<Aes128Enc, ctr::flavors::Ctr128BE>>>();
    }

    #[test]
    fn debug_redacts_key() {
        let mk = MasterKey::new(Suite::AesCm128HmacSha1_80, &[0xab; 16], &[0xcd; 14]).unwrap();
        let s = format!("{mk:?}");
        assert!(s.contains("redacted"));
        assert!(!s.contains("ab") && !s.contains("171"), "{s}");
    }

    #[test]
    fn lengths_checked() {
        assert!(MasterKey::new(Suite::AeadAes128Gcm, &[0; 16], &[0; 14]).is_err());
        assert!(MasterKey::new(Suite::AeadAes128Gcm, &[0; 16], &[0; 12]).is_ok());
        assert!(MasterKey::new(Suite::AesCm256HmacSha1_80, &[0; 16], &[0; 14]).is_err());
    }
}
