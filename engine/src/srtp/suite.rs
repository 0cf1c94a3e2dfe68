//! The crypto suites, described by one table.
//!
//! Everything that differs between suites (key and salt sizes, cipher, tag
//! lengths) is data in [`SUITES`], so the packet code has one path per cipher
//! family rather than one per suite.

use crate::Error;

/// An SRTP crypto suite, named as in SDES (RFC 4568, 6188, 7714).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag (RFC 3711 default).
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit SRTP tag (80-bit SRTCP tag).
    AesCm128HmacSha1_32,
    /// AES-192 counter mode, HMAC-SHA1-80 (RFC 6188).
    AesCm192HmacSha1_80,
    /// AES-192 counter mode, HMAC-SHA1-32 (RFC 6188).
    AesCm192HmacSha1_32,
    /// AES-256 counter mode, HMAC-SHA1-80 (RFC 6188).
    AesCm256HmacSha1_80,
    /// AES-256 counter mode, HMAC-SHA1-32 (RFC 6188).
    AesCm256HmacSha1_32,
    /// AES-128-GCM with a 16-byte tag (RFC 7714).
    AeadAes128Gcm,
    /// AES-256-GCM with a 16-byte tag (RFC 7714).
    AeadAes256Gcm,
    /// No encryption, HMAC-SHA1-80: integrity only.
    NullHmacSha1_80,
    /// No encryption, HMAC-SHA1-32 (80-bit SRTCP tag): integrity only.
    NullHmacSha1_32,
}

/// How a suite transforms the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherKind {
    /// AES in counter mode with HMAC-SHA1 authentication.
    AesCm,
    /// AES-GCM, authenticated encryption (RFC 7714).
    AesGcm,
    /// The NULL cipher with HMAC-SHA1 authentication.
    Null,
}

/// One row of the suite table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteParams {
    /// The suite this row describes.
    pub suite: Suite,
    /// SDES name.
    pub name: &'static str,
    /// Cipher family.
    pub cipher: CipherKind,
    /// Master key length in bytes; also the session encryption key length
    /// and the AES key size of the key derivation function.
    pub master_key_len: usize,
    /// Master salt length in bytes (14 for counter mode, 12 for GCM).
    pub master_salt_len: usize,
    /// SRTP authentication tag length in bytes.
    pub srtp_tag_len: usize,
    /// SRTCP authentication tag length in bytes (80 bits for the _32 suites too).
    pub srtcp_tag_len: usize,
    /// Session authentication key length (HMAC-SHA1: 20 bytes; GCM: 0).
    pub auth_key_len: usize,
}

const fn row(
    suite: Suite,
    name: &'static str,
    cipher: CipherKind,
    master_key_len: usize,
    srtp_tag_len: usize,
) -> SuiteParams {
    let gcm = matches!(cipher, CipherKind::AesGcm);
    SuiteParams {
        suite,
        name,
        cipher,
        master_key_len,
        master_salt_len: if gcm { 12 } else { 14 },
        srtp_tag_len,
        srtcp_tag_len: if gcm { 16 } else { 10 },
        auth_key_len: if gcm { 0 } else { 20 },
    }
}

/// The suite table, in [`Suite`] declaration order.
pub const SUITES: [SuiteParams; 10] = {
    use CipherKind::*;
    use Suite::*;
    [
        row(
            AesCm128HmacSha1_80,
            "AES_CM_128_HMAC_SHA1_80",
            AesCm,
            16,
            10,
        ),
        row(AesCm128HmacSha1_32, "AES_CM_128_HMAC_SHA1_32", AesCm, 16, 4),
        row(
            AesCm192HmacSha1_80,
            "AES_192_CM_HMAC_SHA1_80",
            AesCm,
            24,
            10,
        ),
        row(AesCm192HmacSha1_32, "AES_192_CM_HMAC_SHA1_32", AesCm, 24, 4),
        row(
            AesCm256HmacSha1_80,
            "AES_256_CM_HMAC_SHA1_80",
            AesCm,
            32,
            10,
        ),
        row(AesCm256HmacSha1_32, "AES_256_CM_HMAC_SHA1_32", AesCm, 32, 4),
        row(AeadAes128Gcm, "AEAD_AES_128_GCM", AesGcm, 16, 16),
        row(AeadAes256Gcm, "AEAD_AES_256_GCM", AesGcm, 32, 16),
        row(NullHmacSha1_80, "NULL_HMAC_SHA1_80", Null, 16, 10),
        row(NullHmacSha1_32, "NULL_HMAC_SHA1_32", Null, 16, 4),
    ]
};

impl Suite {
    /// Every suite, in table order.
    pub const ALL: [Suite; 10] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AesCm192HmacSha1_80,
        Suite::AesCm192HmacSha1_32,
        Suite::AesCm256HmacSha1_80,
        Suite::AesCm256HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
        Suite::NullHmacSha1_80,
        Suite::NullHmacSha1_32,
    ];

    /// This suite's row of the table.
    pub const fn params(self) -> &'static SuiteParams {
        &SUITES[self as usize]
    }

    /// The SDES name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub const fn name(self) -> &'static str {
        self.params().name
    }

    /// Looks a suite up by its SDES name. `AES_CM_192_…`/`AES_CM_256_…`
    /// spellings, which some endpoints send, are accepted too.
    pub fn from_name(name: &str) -> Result<Suite, Error> {
        let canonical = match name {
            "AES_CM_192_HMAC_SHA1_80" => "AES_192_CM_HMAC_SHA1_80",
            "AES_CM_192_HMAC_SHA1_32" => "AES_192_CM_HMAC_SHA1_32",
            "AES_CM_256_HMAC_SHA1_80" => "AES_256_CM_HMAC_SHA1_80",
            "AES_CM_256_HMAC_SHA1_32" => "AES_256_CM_HMAC_SHA1_32",
            other => other,
        };
        SUITES
            .iter()
            .find(|p| p.name == canonical)
            .map(|p| p.suite)
            .ok_or(Error::UnknownSuite)
    }

    /// Master key length in bytes.
    pub const fn master_key_len(self) -> usize {
        self.params().master_key_len
    }

    /// Master salt length in bytes.
    pub const fn master_salt_len(self) -> usize {
        self.params().master_salt_len
    }

    /// SRTP authentication tag length in bytes.
    pub const fn srtp_tag_len(self) -> usize {
        self.params().srtp_tag_len
    }

    /// SRTCP authentication tag length in bytes.
    pub const fn srtcp_tag_len(self) -> usize {
        self.params().srtcp_tag_len
    }

    /// The cipher family.
    pub const fn cipher(self) -> CipherKind {
        self.params().cipher
    }

    /// Whether the suite encrypts the payload (false for the NULL suites).
    pub const fn encrypts(self) -> bool {
        !matches!(self.params().cipher, CipherKind::Null)
    }

    /// Whether the suite is an AEAD (GCM) suite.
    pub const fn is_aead(self) -> bool {
        matches!(self.params().cipher, CipherKind::AesGcm)
    }
}

impl core::fmt::Display for Suite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Suite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::from_name(s)
    }
}

/// A suite is written by its SDES name (`AES_CM_128_HMAC_SHA1_80`).
impl serde::Serialize for Suite {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Suite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Suite, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Suite::from_name(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order() {
        for (i, s) in Suite::ALL.iter().enumerate() {
            assert_eq!(SUITES[i].suite, *s);
            assert_eq!(Suite::from_name(s.name()).unwrap(), *s);
        }
    }

    #[test]
    fn srtcp_tag_is_80_bits_for_32_suites() {
        assert_eq!(Suite::AesCm128HmacSha1_32.srtp_tag_len(), 4);
        assert_eq!(Suite::AesCm128HmacSha1_32.srtcp_tag_len(), 10);
        assert_eq!(Suite::NullHmacSha1_32.srtcp_tag_len(), 10);
    }

    #[test]
    fn aliases_and_unknown_names() {
        assert_eq!(
            Suite::from_name("AES_CM_256_HMAC_SHA1_80").unwrap(),
            Suite::AesCm256HmacSha1_80
        );
        assert_eq!(
            Suite::from_name("F8_128_HMAC_SHA1_80"),
            Err(Error::UnknownSuite)
        );
    }
}
