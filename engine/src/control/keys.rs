//! Key material at the control-plane boundary: generation from the OS
//! CSPRNG, and the SDES-style text form (base64 of `key || salt`, MKI in hex)
//! the API speaks.
//!
//! Why here: node-generated keys must come from the operating system's
//! CSPRNG and nowhere else, and the one place keys are turned into text (the
//! API answer) should be small enough to audit. Nothing in this module logs,
//! and the wire form [`KeyText`] has no `Debug`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::srtp::{MasterKey, Suite, MAX_MKI_LEN};

/// A key as the API carries it.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyText {
    /// Base64 of `key || salt` (the SDES `inline:` form without the prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Master Key Identifier in hex (1 to 8 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mki: Option<String>,
    /// Key lifetime in packets: a number, or `"2^N"` as in SDES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Lifetime>,
}

/// A key lifetime: `1048576` or `"2^20"`.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug)]
#[serde(untagged)]
pub enum Lifetime {
    /// Packets.
    Packets(u64),
    /// `2^N` text form.
    Text(#[serde(with = "pow2")] u64),
}

mod pow2 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        if let Some(exp) = t.strip_prefix("2^") {
            let e: u32 = exp
                .parse()
                .map_err(|_| serde::de::Error::custom("lifetime must be a number or \"2^N\""))?;
            if e > 48 {
                return Err(serde::de::Error::custom("lifetime above 2^48"));
            }
            Ok(1u64 << e)
        } else {
            t.parse()
                .map_err(|_| serde::de::Error::custom("lifetime must be a number or \"2^N\""))
        }
    }
}

impl Lifetime {
    /// Packets.
    pub fn packets(self) -> u64 {
        match self {
            Lifetime::Packets(n) | Lifetime::Text(n) => n,
        }
    }
}

/// Why a key given to the API is unusable, or cannot be made. The text
/// never includes key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The OS random generator failed.
    Random(String),
    /// The key text is not standard, padded base64.
    NotBase64,
    /// The decoded key has the wrong length for the suite.
    WrongLength {
        /// The suite.
        suite: Suite,
        /// Bytes it takes (key and salt).
        want: usize,
        /// Bytes given.
        got: usize,
    },
    /// The MKI is not hex digits of an even number.
    MkiNotHex,
    /// The MKI has this many bytes, not 1 to 8.
    MkiLength(usize),
    /// The lifetime is not 1 to 2^48 packets.
    Lifetime,
    /// The SRTP core refused the key.
    Srtp(crate::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Random(e) => write!(f, "OS random generator failed: {e}"),
            KeyError::NotBase64 => {
                f.write_str("key is not valid base64 (standard alphabet, padded)")
            }
            KeyError::WrongLength { suite, want, got } => write!(
                f,
                "key for {} must be {want} bytes (key {} + salt {}) before base64, got {got}",
                suite.name(),
                suite.master_key_len(),
                suite.master_salt_len(),
            ),
            KeyError::MkiNotHex => f.write_str("mki must be hex digits, an even number"),
            KeyError::MkiLength(n) => write!(f, "mki must be 1 to {MAX_MKI_LEN} bytes, got {n}"),
            KeyError::Lifetime => f.write_str("lifetime must be 1..=2^48 packets"),
            KeyError::Srtp(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Srtp(e) => Some(e),
            _ => None,
        }
    }
}

/// Fills `buf` from the OS CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf).map_err(|e| KeyError::Random(e.to_string()))
}

/// A fresh master key for `suite` from the OS CSPRNG.
pub fn generate(suite: Suite) -> Result<MasterKey, KeyError> {
    let mut buf = zeroize::Zeroizing::new([0u8; 32 + 14]);
    let n = suite.master_key_len() + suite.master_salt_len();
    random_bytes(&mut buf[..n])?;
    MasterKey::from_concatenated(suite, &buf[..n]).map_err(KeyError::Srtp)
}

/// Parses hex (upper or lower case, even length) into bytes.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() & 1 == 1 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses an MKI given in hex: 1 to 8 bytes.
pub fn parse_mki(s: &str) -> Result<Vec<u8>, KeyError> {
    let mki = parse_hex(s).ok_or(KeyError::MkiNotHex)?;
    if mki.is_empty() || mki.len() > MAX_MKI_LEN {
        return Err(KeyError::MkiLength(mki.len()));
    }
    Ok(mki)
}

/// Builds a master key from its API text. `key` absent: a fresh key is
/// generated (with the MKI and lifetime given, if any). Returns the key and
/// whether the node generated it.
pub fn from_text(suite: Suite, text: &KeyText) -> Result<(MasterKey, bool), KeyError> {
    let (mut mk, generated) = match &text.key {
        Some(b64) => {
            let raw = zeroize::Zeroizing::new(
                STANDARD
                    .decode(b64.trim())
                    .map_err(|_| KeyError::NotBase64)?,
            );
            let want = suite.master_key_len() + suite.master_salt_len();
            if raw.len() != want {
                return Err(KeyError::WrongLength {
                    suite,
                    want,
                    got: raw.len(),
                });
            }
            let mk = MasterKey::from_concatenated(suite, &raw).map_err(KeyError::Srtp)?;
            (mk, false)
        }
        None => (generate(suite)?, true),
    };
    if let Some(m) = &text.mki {
        mk = mk.with_mki(&parse_mki(m)?);
    }
    if let Some(l) = text.lifetime {
        let n = l.packets();
        if n == 0 || n > crate::srtp::SRTP_KEY_LIFETIME_MAX {
            return Err(KeyError::Lifetime);
        }
        mk = mk.with_lifetime(n);
    }
    Ok((mk, generated))
}

/// The API text of a key: this is how keys leave the node.
pub fn to_text(mk: &MasterKey) -> KeyText {
    let mut raw = zeroize::Zeroizing::new(Vec::with_capacity(mk.key_len() + mk.salt_len()));
    raw.extend_from_slice(mk.key_bytes());
    raw.extend_from_slice(mk.salt_bytes());
    KeyText {
        key: Some(STANDARD.encode(&raw[..])),
        mki: (!mk.mki().is_empty()).then(|| to_hex(mk.mki())),
        lifetime: mk.lifetime().map(Lifetime::Packets),
    }
}

/// Whether two master keys are the same key, salt and MKI (constant time
/// over the key bytes).
pub fn same_key(a: &MasterKey, b: &MasterKey) -> bool {
    use subtle::ConstantTimeEq;
    a.key_len() == b.key_len()
        && a.salt_len() == b.salt_len()
        && bool::from(a.key_bytes().ct_eq(b.key_bytes()))
        && bool::from(a.salt_bytes().ct_eq(b.salt_bytes()))
        && a.mki() == b.mki()
}

/// A master key in a call's stored state: key, salt and MKI in hex, and
/// its lifetime. Written only where call state is persisted (it is the
/// key itself: never logged, never in an API answer but the create and
/// rekey answers).
#[derive(Serialize, Deserialize)]
struct StoredKey {
    key: String,
    salt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    mki: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<u64>,
}

impl Serialize for MasterKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoredKey {
            key: to_hex(self.key_bytes()),
            salt: to_hex(self.salt_bytes()),
            mki: to_hex(self.mki()),
            lifetime: self.lifetime(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MasterKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MasterKey, D::Error> {
        use serde::de::Error as _;
        let k = StoredKey::deserialize(d)?;
        let hex = |t: &str, what: &str| {
            parse_hex(t).ok_or_else(|| D::Error::custom(format!("{what} is not hex")))
        };
        let key = zeroize::Zeroizing::new(hex(&k.key, "key")?);
        let salt = zeroize::Zeroizing::new(hex(&k.salt, "salt")?);
        let mut mk = MasterKey::from_parts(&key, &salt).map_err(D::Error::custom)?;
        if !k.mki.is_empty() {
            mk = mk.with_mki(&hex(&k.mki, "mki")?);
        }
        if let Some(n) = k.lifetime {
            mk = mk.with_lifetime(n);
        }
        Ok(mk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Suite::AeadAes256Gcm;
        let mk = generate(s).unwrap();
        let t = to_text(&mk);
        let (back, gen) = from_text(s, &t).unwrap();
        assert!(!gen);
        assert!(same_key(&mk, &back));
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate(Suite::AesCm128HmacSha1_80).unwrap();
        let b = generate(Suite::AesCm128HmacSha1_80).unwrap();
        assert!(!same_key(&a, &b));
    }

    #[test]
    fn bad_inputs() {
        let s = Suite::AesCm128HmacSha1_80;
        let t = KeyText {
            key: Some("AAAA".into()),
            ..Default::default()
        };
        assert!(from_text(s, &t)
            .unwrap_err()
            .to_string()
            .contains("30 bytes"));
        let t = KeyText {
            key: Some("!!".into()),
            ..Default::default()
        };
        assert!(from_text(s, &t).is_err());
        assert!(parse_mki("0").is_err());
        assert!(parse_mki("000000000000000000").is_err());
        assert_eq!(parse_mki("0A01").unwrap(), vec![10, 1]);
        let l: Lifetime = serde_json::from_str("\"2^20\"").unwrap();
        assert_eq!(l.packets(), 1 << 20);
    }
}
