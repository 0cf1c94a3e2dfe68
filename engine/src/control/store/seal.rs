//! Envelope encryption of stored call state.
//!
//! Why: a call's state holds its SRTP master keys, and a store (Redis, its
//! dumps, its replicas) must never hold a key byte in the clear. Each
//! record is sealed with a fresh data key (AES-256-GCM); the data key is
//! sealed with the nodes' key-encryption key (KEK, AES-256-GCM, read from
//! a file of mode 0600). The record's name is bound in as associated data,
//! so a record copied under another call's name does not open.
//!
//! Rotation: a [`Keyring`] seals with its current KEK and opens with any
//! KEK it holds, chosen by the id written in the record. To rotate, give
//! every node the new KEK as current and the old one as previous; records
//! are re-sealed under the new KEK as calls change (and all of them by
//! re-writing each call); then drop the old KEK.
//!
//! Layout: `1 | kek id (u32 BE) | dek nonce (12) | sealed dek (32 + 16) |
//! nonce (12) | sealed record (n + 16)`.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;
const KEY: usize = 32;
const HEADER: usize = 1 + 4 + NONCE + KEY + TAG + NONCE;

/// Why a record cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The record is shorter than its header or of an unknown version.
    Malformed,
    /// No key of the keyring has the record's KEK id.
    UnknownKek(u32),
    /// Authentication failed: tampered, truncated, or another record's
    /// name.
    Forged,
    /// The OS random generator failed.
    Random,
    /// The KEK file is unusable (its text says why).
    KekFile(String),
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealError::Malformed => f.write_str("sealed record is malformed"),
            SealError::UnknownKek(id) => write!(f, "sealed under KEK {id}, which this node lacks"),
            SealError::Forged => f.write_str("sealed record does not authenticate"),
            SealError::Random => f.write_str("OS random generator failed"),
            SealError::KekFile(m) => write!(f, "key-encryption key file: {m}"),
        }
    }
}

impl std::error::Error for SealError {}

/// A key-encryption key and its id.
pub struct Kek {
    id: u32,
    /// The key expanded once (every record's data key is sealed with it).
    aead: Option<LessSafeKey>,
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn new(id: u32, key: [u8; KEY]) -> Kek {
        let key = Zeroizing::new(key);
        Kek {
            id,
            aead: aead_key(&key).ok(),
        }
    }

    /// Reads a KEK file: 64 hex digits (whitespace around them ignored).
    /// The file must not be readable by group or others (mode 0600 or
    /// stricter).
    pub fn from_file(id: u32, path: &std::path::Path) -> Result<Kek, SealError> {
        use std::os::unix::fs::PermissionsExt;
        let err = |m: String| SealError::KekFile(format!("{}: {m}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err(format!(
                "mode {:o} lets others read it; chmod 600",
                meta.permissions().mode() & 0o777
            )));
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        let bytes = Zeroizing::new(
            crate::control::keys::parse_hex(text.trim())
                .ok_or_else(|| err("not hex digits".into()))?,
        );
        let key: [u8; KEY] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| err(format!("{} bytes, a KEK has {KEY}", bytes.len())))?;
        Ok(Kek::new(id, key))
    }

    fn aead(&self) -> Result<&LessSafeKey, SealError> {
        self.aead.as_ref().ok_or(SealError::Malformed)
    }
}

fn aead_key(k: &[u8; KEY]) -> Result<LessSafeKey, SealError> {
    // 32 bytes is AES-256's key length: ring accepts it.
    UnboundKey::new(&AES_256_GCM, k)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Malformed)
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, SealError> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(&mut b[..]).map_err(|_| SealError::Random)?;
    Ok(b)
}

/// The KEKs a node holds: the current one seals, any opens.
pub struct Keyring {
    current: Kek,
    previous: Vec<Kek>,
}

impl Keyring {
    /// A keyring sealing with `current`, still opening records sealed with
    /// `previous` (rotation).
    pub fn new(current: Kek, previous: Vec<Kek>) -> Keyring {
        Keyring { current, previous }
    }

    /// Seals `record`, named `name` (bound as associated data).
    pub fn seal(&self, name: &str, record: &[u8]) -> Result<Vec<u8>, SealError> {
        // One draw from the OS for the data key and both nonces.
        let fresh = random::<{ KEY + 2 * NONCE }>()?;
        let (dek, nonces) = fresh.split_at(KEY);
        let (dek_nonce, nonce) = nonces.split_at(NONCE);
        let dek: &[u8; KEY] = dek.try_into().map_err(|_| SealError::Random)?;
        let dek_nonce: [u8; NONCE] = dek_nonce.try_into().map_err(|_| SealError::Random)?;
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(HEADER + record.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&self.current.id.to_be_bytes());
        out.extend_from_slice(&dek_nonce[..]);
        let mut wrapped = Zeroizing::new(dek.to_vec());
        self.current
            .aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(dek_nonce),
                Aad::from(name.as_bytes()),
                &mut *wrapped,
            )
            .map_err(|_| SealError::Random)?;
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&nonce[..]);
        // The record sealed in place at the end of `out`.
        let at = out.len();
        out.extend_from_slice(record);
        let tag = aead_key(dek)?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut out[at..],
            )
            .map_err(|_| SealError::Random)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a record sealed by [`Keyring::seal`] under the name `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < HEADER + TAG || sealed[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let id = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let kek = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or(SealError::UnknownKek(id))?;
        let nonce_of = |at: usize| {
            let mut n = [0u8; NONCE];
            n.copy_from_slice(&sealed[at..at + NONCE]);
            Nonce::assume_unique_for_key(n)
        };
        let mut wrapped = Zeroizing::new(sealed[5 + NONCE..5 + NONCE + KEY + TAG].to_vec());
        let dek = kek
            .aead()?
            .open_in_place(nonce_of(5), Aad::from(name.as_bytes()), &mut wrapped)
            .map_err(|_| SealError::Forged)?;
        let dek: [u8; KEY] = dek.try_into().map_err(|_| SealError::Malformed)?;
        let dek = Zeroizing::new(dek);
        let mut body = Zeroizing::new(sealed[HEADER..].to_vec());
        let n = aead_key(&dek)?
            .open_in_place(
                nonce_of(HEADER - NONCE),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Forged)?
            .len();
        body.truncate(n);
        Ok(body)
    }

    /// The id of the KEK new records are sealed with.
    pub fn current_id(&self) -> u32 {
        self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(id: u32, b: u8) -> Keyring {
        Keyring::new(Kek::new(id, [b; 32]), Vec::new())
    }

    #[test]
    fn a_record_opens_under_its_name_only() {
        let r = ring(1, 7);
        let s = r.seal("call-a", b"secret state").unwrap();
        assert_eq!(&r.open("call-a", &s).unwrap()[..], b"secret state");
        assert_eq!(r.open("call-b", &s), Err(SealError::Forged));
        assert!(!s.windows(12).any(|w| w == b"secret state"));
    }

    #[test]
    fn rotation_opens_old_records_and_seals_with_the_new_kek() {
        let old = ring(1, 7);
        let s = old.seal("c", b"x").unwrap();
        let rotated = Keyring::new(Kek::new(2, [9; 32]), vec![Kek::new(1, [7; 32])]);
        assert_eq!(&rotated.open("c", &s).unwrap()[..], b"x");
        let s2 = rotated.seal("c", b"y").unwrap();
        assert_eq!(u32::from_be_bytes([s2[1], s2[2], s2[3], s2[4]]), 2);
        assert_eq!(old.open("c", &s2), Err(SealError::UnknownKek(2)));
        assert_eq!(ring(1, 8).open("c", &s), Err(SealError::Forged));
    }

    #[test]
    fn a_kek_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rampart-kek-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kek");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Kek::from_file(1, &path).err().unwrap();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let kek = Kek::from_file(1, &path).unwrap();
        let r = Keyring::new(kek, Vec::new());
        assert_eq!(&r.open("x", &r.seal("x", b"y").unwrap()).unwrap()[..], b"y");
        std::fs::write(&path, "abcd").unwrap();
        assert!(Kek::from_file(1, &path).is_err(), "too short");
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest! {
        #[test]
        fn any_change_to_a_sealed_record_is_refused(
            record in proptest::collection::vec(any::<u8>(), 0..200),
            at in any::<usize>(),
            bit in 0u8..8,
        ) {
            let r = ring(3, 1);
            let mut s = r.seal("n", &record).unwrap();
            prop_assert_eq!(&r.open("n", &s).unwrap()[..], &record[..]);
            let i = at % s.len();
            s[i] ^= 1 << bit;
            prop_assert!(r.open("n", &s).is_err());
            prop_assert!(r.open("n", &s[..s.len() - 1]).is_err());
        }
    }
}
