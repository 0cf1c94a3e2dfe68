//! SDES key transport: the `a=crypto` attribute of RFC 4568.
//!
//! Why a module of its own: the SDP layer ([`super::sdp`]) only needs to find
//! and replace `a=crypto` lines, while the meaning of a line (which suite,
//! which keys, which MKI and lifetime, which session parameters) is what the
//! offer/answer logic and the SRTP contexts care about. Keeping the grammar
//! here makes it one small, pure, auditable place where key text becomes
//! [`MasterKey`]s and back.
//!
//! Key bytes live only in zeroizing buffers, never appear in `Debug` output
//! and never appear in error messages.
//!
//! Grammar handled (RFC 4568 §9.2, §6.1):
//!
//! ```text
//! a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]
//! key-params = key-param *(";" key-param)
//! key-param  = "inline:" <base64 key||salt> ["|" lifetime] ["|" MKI ":" length]
//! lifetime   = ["2^"] 1*DIGIT
//! ```

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::srtp::{MasterKey, Suite, MAX_MKI_LEN, SRTP_KEY_LIFETIME_MAX};

/// Most `inline:` keys one `a=crypto` line may carry.
pub const MAX_KEYS_PER_LINE: usize = 16;

/// Largest tag RFC 4568 allows (`1*9DIGIT`).
pub const MAX_TAG: u32 = 999_999_999;

/// Decoder that accepts keys with or without `=` padding (some endpoints
/// drop it) and non-canonical trailing bits; encoding always uses
/// [`STANDARD`] with padding, as the RFC 4568 examples do.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why an `a=crypto` value or an inline key is unusable. The text never
/// contains key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesError(pub String);

impl core::fmt::Display for SdesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SdesError {}

fn err<T>(msg: impl Into<String>) -> Result<T, SdesError> {
    Err(SdesError(msg.into()))
}

/// One `inline:` key parameter: `key || salt`, optional lifetime, optional
/// MKI.
///
/// The bytes are zeroized on drop; `Debug` shows only their length.
#[derive(Clone)]
pub struct InlineKey {
    key_salt: Zeroizing<Vec<u8>>,
    /// Key lifetime in packets (`|2^20` or `|1048576`).
    pub lifetime: Option<u64>,
    /// MKI value and its length in bytes (`|1:4`). RFC 4568 allows lengths
    /// 1 to 128; Rampart supports 1 to 8.
    pub mki: Option<(u64, u8)>,
}

impl InlineKey {
    /// A key with no lifetime and no MKI.
    pub fn new(key_salt: &[u8]) -> InlineKey {
        InlineKey {
            key_salt: Zeroizing::new(key_salt.to_vec()),
            lifetime: None,
            mki: None,
        }
    }

    /// The concatenated master key and salt.
    pub fn key_salt(&self) -> &[u8] {
        &self.key_salt
    }

    /// Builds the SRTP master key for `suite`: checks the key and salt
    /// lengths, applies the MKI (its value big-endian in `length` bytes) and
    /// the lifetime.
    pub fn to_master_key(&self, suite: Suite) -> Result<MasterKey, SdesError> {
        let kl = suite.master_key_len();
        let sl = suite.master_salt_len();
        if self.key_salt.len() != kl + sl {
            return err(format!(
                "inline key is {} bytes but {} needs {} ({}-byte key + {}-byte salt)",
                self.key_salt.len(),
                suite.name(),
                kl + sl,
                kl,
                sl
            ));
        }
        let mut mk = MasterKey::from_concatenated(suite, &self.key_salt)
            .map_err(|e| SdesError(format!("unusable inline key: {e}")))?;
        if let Some((value, len)) = self.mki {
            check_mki(value, len)?;
            let be = value.to_be_bytes();
            mk = mk.with_mki(&be[8 - len as usize..]);
        }
        if let Some(l) = self.lifetime {
            if l == 0 {
                return err("key lifetime must be at least 1 packet");
            }
            if l > SRTP_KEY_LIFETIME_MAX {
                return err("key lifetime exceeds the SRTP maximum of 2^48 packets");
            }
            mk = mk.with_lifetime(l);
        }
        Ok(mk)
    }

    /// The inline form of a master key: `key || salt`, its lifetime and its
    /// MKI (as a big-endian value of the MKI's length).
    pub fn from_master_key(mk: &MasterKey) -> InlineKey {
        let mut ks = Zeroizing::new(Vec::with_capacity(mk.key_len() + mk.salt_len()));
        ks.extend_from_slice(mk.key_bytes());
        ks.extend_from_slice(mk.salt_bytes());
        let mki = mk.mki();
        let mki = if mki.is_empty() {
            None
        } else {
            let value = mki.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            Some((value, mki.len() as u8))
        };
        InlineKey {
            key_salt: ks,
            lifetime: mk.lifetime(),
            mki,
        }
    }

    fn parse(text: &str) -> Result<InlineKey, SdesError> {
        let (method, info) = match text.split_once(':') {
            Some(x) => x,
            None => return err("key parameter must be \"inline:<key||salt>\""),
        };
        if !method.eq_ignore_ascii_case("inline") {
            return err(format!(
                "unsupported key method {:?} (only \"inline\" is defined)",
                truncate(method)
            ));
        }
        let mut parts = info.split('|');
        let b64 = parts.next().unwrap_or("");
        if b64.is_empty() {
            return err("empty inline key");
        }
        let key_salt = Zeroizing::new(
            LENIENT
                .decode(b64)
                .map_err(|_| SdesError("inline key is not valid base64".into()))?,
        );
        let mut lifetime = None;
        let mut mki = None;
        for p in parts {
            if p.is_empty() {
                return err("empty field after '|' in inline key");
            }
            if let Some((v, l)) = p.split_once(':') {
                if mki.is_some() {
                    return err("inline key has two MKI fields");
                }
                mki = Some(parse_mki(v, l)?);
            } else {
                if mki.is_some() {
                    return err("key lifetime must come before the MKI");
                }
                if lifetime.is_some() {
                    return err("inline key has two lifetimes");
                }
                lifetime = Some(parse_lifetime(p)?);
            }
        }
        Ok(InlineKey {
            key_salt,
            lifetime,
            mki,
        })
    }

    fn write(&self, out: &mut String) {
        out.push_str("inline:");
        out.push_str(&STANDARD.encode(&*self.key_salt));
        if let Some(l) = self.lifetime {
            out.push('|');
            if l.is_power_of_two() {
                out.push_str(&format!("2^{}", l.trailing_zeros()));
            } else {
                out.push_str(&l.to_string());
            }
        }
        if let Some((v, l)) = self.mki {
            out.push_str(&format!("|{v}:{l}"));
        }
    }
}

impl PartialEq for InlineKey {
    fn eq(&self, other: &InlineKey) -> bool {
        self.lifetime == other.lifetime
            && self.mki == other.mki
            && bool::from(self.key_salt.as_slice().ct_eq(other.key_salt.as_slice()))
    }
}

impl Eq for InlineKey {}

impl core::fmt::Debug for InlineKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InlineKey")
            .field(
                "key_salt",
                &format_args!("<redacted {} bytes>", self.key_salt.len()),
            )
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .finish()
    }
}

/// Shortens text quoted in an error so a hostile line cannot bloat it.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_lifetime(s: &str) -> Result<u64, SdesError> {
    let v = if let Some(exp) = s.strip_prefix("2^") {
        if !digits(exp) || exp.len() > 2 {
            return err(format!("invalid key lifetime {:?}", truncate(s)));
        }
        let n: u32 = exp
            .parse()
            .map_err(|_| SdesError(format!("invalid key lifetime {:?}", truncate(s))))?;
        if n > 63 {
            return err(format!("key lifetime 2^{n} is too large"));
        }
        1u64 << n
    } else {
        if !digits(s) {
            return err(format!("invalid key lifetime {:?}", truncate(s)));
        }
        s.parse::<u64>()
            .map_err(|_| SdesError(format!("key lifetime {:?} is too large", truncate(s))))?
    };
    if v == 0 {
        return err("key lifetime must be at least 1 packet");
    }
    Ok(v)
}

fn check_mki(value: u64, len: u8) -> Result<(), SdesError> {
    if len == 0 || len > 128 {
        return err(format!("MKI length {len} is outside 1 to 128 bytes"));
    }
    if usize::from(len) > MAX_MKI_LEN {
        return err(format!(
            "MKI length {len} is not supported (Rampart supports 1 to {MAX_MKI_LEN} bytes)"
        ));
    }
    if len < 8 && value >> (8 * u32::from(len)) != 0 {
        return err(format!("MKI value {value} does not fit in {len} bytes"));
    }
    Ok(())
}

fn parse_mki(v: &str, l: &str) -> Result<(u64, u8), SdesError> {
    if !digits(v) || !digits(l) {
        return err("MKI must be \"<value>:<length>\" in decimal");
    }
    let len: u8 = match l.parse::<u16>() {
        Ok(n) if n <= 128 && l.len() <= 3 => n as u8,
        _ => {
            return err(format!(
                "MKI length {} is outside 1 to 128 bytes",
                truncate(l)
            ))
        }
    };
    let value: u64 = v
        .parse()
        .map_err(|_| SdesError(format!("MKI value {} is too large", truncate(v))))?;
    check_mki(value, len)?;
    Ok((value, len))
}

/// One `a=crypto` attribute (RFC 4568): the part after `a=crypto:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoAttr {
    /// The tag that pairs an answer's line with an offer's (0 to 999999999).
    pub tag: u32,
    /// The crypto suite as written; see [`CryptoAttr::suite`].
    pub suite_name: String,
    /// The `inline:` keys, at least one. Several keys each carry an MKI.
    pub keys: Vec<InlineKey>,
    /// Session parameters as written, e.g. `UNENCRYPTED_SRTP`, `KDR=10`.
    pub session_params: Vec<String>,
}

impl CryptoAttr {
    /// A line for a known suite with the given keys and no session
    /// parameters.
    pub fn new(tag: u32, suite: Suite, keys: Vec<InlineKey>) -> CryptoAttr {
        CryptoAttr {
            tag,
            suite_name: suite.name().to_string(),
            keys,
            session_params: Vec::new(),
        }
    }

    /// Parses the value of an `a=crypto` line (without `a=crypto:`).
    ///
    /// An unknown suite name is not an error here (the offer/answer logic
    /// may skip such a line); [`CryptoAttr::suite`] reports it. Key lengths
    /// are checked against the suite by [`InlineKey::to_master_key`].
    pub fn parse(value: &str) -> Result<CryptoAttr, SdesError> {
        let mut it = value.split_ascii_whitespace();
        let tag = match it.next() {
            None => return err("empty a=crypto value"),
            Some(t) if digits(t) && t.len() <= 9 => t.parse::<u32>().unwrap_or(u32::MAX),
            Some(t) => {
                return err(format!(
                    "crypto tag {:?} is not a number of 1 to 9 digits",
                    truncate(t)
                ))
            }
        };
        let suite_name = match it.next() {
            Some(s) => s.to_string(),
            None => return err("a=crypto has no crypto suite"),
        };
        let key_params = match it.next() {
            Some(k) => k,
            None => return err("a=crypto has no key parameters"),
        };
        let mut keys = Vec::new();
        for (i, kp) in key_params.split(';').enumerate() {
            if i >= MAX_KEYS_PER_LINE {
                return err(format!("a=crypto has more than {MAX_KEYS_PER_LINE} keys"));
            }
            if kp.is_empty() {
                return err("empty key parameter (stray ';')");
            }
            let k = InlineKey::parse(kp).map_err(|e| {
                if key_params.contains(';') {
                    SdesError(format!("key {}: {}", i + 1, e.0))
                } else {
                    e
                }
            })?;
            keys.push(k);
        }
        if keys.len() > 1 {
            let first_len = keys[0].mki.map(|m| m.1);
            let mut seen = Vec::with_capacity(keys.len());
            for k in &keys {
                match k.mki {
                    None => return err("several keys on one line each need an MKI"),
                    Some((v, l)) => {
                        if Some(l) != first_len {
                            return err("keys on one line must have MKIs of the same length");
                        }
                        if seen.contains(&v) {
                            return err(format!("MKI value {v} is used by two keys"));
                        }
                        seen.push(v);
                    }
                }
            }
        }
        let session_params = it.map(str::to_string).collect();
        Ok(CryptoAttr {
            tag,
            suite_name,
            keys,
            session_params,
        })
    }

    /// The suite, or an error naming the unknown suite.
    pub fn suite(&self) -> Result<Suite, SdesError> {
        Suite::from_name(&self.suite_name).map_err(|_| {
            SdesError(format!(
                "unknown crypto suite {:?}",
                truncate(&self.suite_name)
            ))
        })
    }

    /// The master keys of this line for its suite, in order.
    pub fn master_keys(&self) -> Result<Vec<MasterKey>, SdesError> {
        let suite = self.suite()?;
        if self.keys.is_empty() {
            return err("a=crypto has no keys");
        }
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                k.to_master_key(suite).map_err(|e| {
                    if self.keys.len() > 1 {
                        SdesError(format!("key {}: {}", i + 1, e.0))
                    } else {
                        e
                    }
                })
            })
            .collect()
    }

    /// Canonical text: `tag suite inline:<base64>[|2^n][|mki:len];... params`,
    /// base64 with padding, lifetimes that are powers of two as `2^n`.
    pub fn to_value(&self) -> String {
        let mut out = format!("{} {} ", self.tag, self.suite_name);
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            k.write(&mut out);
        }
        for p in &self.session_params {
            out.push(' ');
            out.push_str(p);
        }
        out
    }

    fn has_param(&self, name: &str) -> bool {
        self.session_params.iter().any(|p| p == name)
    }

    /// `UNENCRYPTED_SRTP`: RTP payloads are sent in the clear.
    pub fn unencrypted_srtp(&self) -> bool {
        self.has_param("UNENCRYPTED_SRTP")
    }

    /// `UNENCRYPTED_SRTCP`: RTCP payloads are sent in the clear.
    pub fn unencrypted_srtcp(&self) -> bool {
        self.has_param("UNENCRYPTED_SRTCP")
    }

    /// `UNAUTHENTICATED_SRTP`: RTP packets carry no authentication tag.
    pub fn unauthenticated_srtp(&self) -> bool {
        self.has_param("UNAUTHENTICATED_SRTP")
    }

    /// The key derivation rate from `KDR=n` (2^n packets, n 0 to 24), if
    /// given.
    pub fn kdr(&self) -> Result<Option<u64>, SdesError> {
        for p in &self.session_params {
            if let Some(n) = p.strip_prefix("KDR=") {
                return match n.parse::<u8>() {
                    Ok(e) if e <= 24 && digits(n) && n.len() <= 2 => Ok(Some(1u64 << e)),
                    _ => err(format!("invalid KDR {:?} (0 to 24)", truncate(n))),
                };
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4568 §4 example.
    const RFC_EXAMPLE: &str =
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";
    const KEY_B64: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

    fn msg(r: Result<CryptoAttr, SdesError>) -> String {
        r.expect_err("should fail").0
    }

    #[test]
    fn rfc4568_example_parses_and_formats_back() {
        let a = CryptoAttr::parse(RFC_EXAMPLE).unwrap();
        assert_eq!(a.tag, 1);
        assert_eq!(a.suite_name, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(a.suite().unwrap(), Suite::AesCm128HmacSha1_80);
        assert_eq!(a.keys.len(), 1);
        assert_eq!(a.keys[0].key_salt(), STANDARD.decode(KEY_B64).unwrap());
        assert_eq!(a.keys[0].lifetime, Some(1 << 20));
        assert_eq!(a.keys[0].mki, Some((1, 4)));
        assert!(a.session_params.is_empty());
        assert_eq!(a.to_value(), RFC_EXAMPLE);

        let mk = a.keys[0].to_master_key(a.suite().unwrap()).unwrap();
        assert_eq!(mk.mki(), &[0, 0, 0, 1]);
        assert_eq!(mk.lifetime(), Some(1 << 20));
        assert_eq!(mk.key_len(), 16);
        assert_eq!(mk.salt_len(), 14);
        let back = InlineKey::from_master_key(&mk);
        assert_eq!(back, a.keys[0]);
        assert_eq!(a.master_keys().unwrap().len(), 1);
    }

    #[test]
    fn rfc4568_several_keys_and_session_params() {
        // RFC 4568 §5.1 example (the F8 suite is not one Rampart supports).
        let v = "2 F8_128_HMAC_SHA1_80 \
                 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;\
                 inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP";
        let a = CryptoAttr::parse(v).unwrap();
        assert_eq!(a.tag, 2);
        assert_eq!(a.keys.len(), 2);
        assert_eq!(a.keys[1].mki, Some((2, 4)));
        assert_eq!(a.session_params, vec!["FEC_ORDER=FEC_SRTP".to_string()]);
        assert_eq!(a.to_value(), v);
        let e = a.suite().unwrap_err();
        assert!(e.0.contains("unknown crypto suite"), "{e}");
        assert!(a.master_keys().is_err());

        // The same with a known suite gives two master keys with MKIs 1 and 2.
        let mut b = a.clone();
        b.suite_name = "AES_CM_128_HMAC_SHA1_80".into();
        let mks = b.master_keys().unwrap();
        assert_eq!(mks[0].mki(), &[0, 0, 0, 1]);
        assert_eq!(mks[1].mki(), &[0, 0, 0, 2]);
    }

    #[test]
    fn session_parameter_flags_and_kdr() {
        let a = CryptoAttr::parse(
            "3 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj \
             UNENCRYPTED_SRTP UNAUTHENTICATED_SRTP KDR=10",
        )
        .unwrap();
        assert!(a.unencrypted_srtp());
        assert!(!a.unencrypted_srtcp());
        assert!(a.unauthenticated_srtp());
        assert_eq!(a.kdr().unwrap(), Some(1024));
        let b = CryptoAttr::parse(
            "3 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj UNENCRYPTED_SRTCP",
        )
        .unwrap();
        assert!(b.unencrypted_srtcp() && !b.unencrypted_srtp());
        assert_eq!(b.kdr().unwrap(), None);
        for bad in ["KDR=25", "KDR=x", "KDR=", "KDR=+1", "KDR=100"] {
            let mut c = b.clone();
            c.session_params = vec![bad.into()];
            assert!(c.kdr().is_err(), "{bad}");
        }
    }

    #[test]
    fn lifetimes_decimal_and_power_of_two() {
        let a =
            CryptoAttr::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|1000")).unwrap();
        assert_eq!(a.keys[0].lifetime, Some(1000));
        assert_eq!(
            a.to_value(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|1000")
        );
        // A decimal power of two formats as 2^n (same meaning).
        let b = CryptoAttr::parse(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|1048576"
        ))
        .unwrap();
        assert_eq!(b.keys[0].lifetime, Some(1 << 20));
        assert_eq!(
            b.to_value(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20")
        );
        // MKI without lifetime.
        let c =
            CryptoAttr::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|7:1")).unwrap();
        assert_eq!((c.keys[0].lifetime, c.keys[0].mki), (None, Some((7, 1))));
        assert_eq!(
            c.to_value(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|7:1")
        );
        // Lifetime above the SRTP maximum parses but is not usable.
        let d =
            CryptoAttr::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^49")).unwrap();
        let e = d.master_keys().unwrap_err();
        assert!(e.0.contains("2^48"), "{e}");
        assert!(
            CryptoAttr::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^48"))
                .unwrap()
                .master_keys()
                .is_ok()
        );
    }

    #[test]
    fn lenient_spacing_base64_and_suite_aliases() {
        // Tabs and several spaces, unpadded base64 of a 46-byte AES-256 key.
        let ks: Vec<u8> = (0u8..46).collect();
        let unpadded = STANDARD.encode(&ks).trim_end_matches('=').to_string();
        let a =
            CryptoAttr::parse(&format!("7\t AES_CM_256_HMAC_SHA1_80   inline:{unpadded}")).unwrap();
        assert_eq!(a.suite().unwrap(), Suite::AesCm256HmacSha1_80);
        assert_eq!(a.keys[0].key_salt(), &ks[..]);
        assert!(a.to_value().ends_with("=="));
        let mk = a.master_keys().unwrap().remove(0);
        assert_eq!(mk.key_bytes(), &ks[..32]);
        assert_eq!(mk.salt_bytes(), &ks[32..]);
        // GCM: 16 + 12.
        let g = CryptoAttr::new(9, Suite::AeadAes128Gcm, vec![InlineKey::new(&[5; 28])]);
        assert_eq!(CryptoAttr::parse(&g.to_value()).unwrap(), g);
        assert!(g.master_keys().is_ok());
        // "INLINE:" is accepted too.
        assert!(CryptoAttr::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 INLINE:{KEY_B64}")).is_ok());
    }

    #[test]
    fn wrong_key_length_for_suite() {
        let a = CryptoAttr::parse(&format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY_B64}")).unwrap();
        let e = a.master_keys().unwrap_err().0;
        assert_eq!(
            e,
            "inline key is 30 bytes but AES_256_CM_HMAC_SHA1_80 needs 46 (32-byte key + 14-byte salt)"
        );
    }

    #[test]
    fn mki_encoding_and_from_master_key() {
        let mut k = InlineKey::new(&[1; 30]);
        k.mki = Some((0x0102_0304_0506_0708, 8));
        let mk = k.to_master_key(Suite::AesCm128HmacSha1_80).unwrap();
        assert_eq!(mk.mki(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(InlineKey::from_master_key(&mk), k);
        k.mki = Some((256, 1));
        assert!(k.to_master_key(Suite::AesCm128HmacSha1_80).is_err());
        k.mki = Some((1, 9));
        assert!(k.to_master_key(Suite::AesCm128HmacSha1_80).is_err());
        k.mki = Some((1, 0));
        assert!(k.to_master_key(Suite::AesCm128HmacSha1_80).is_err());
        k.mki = None;
        k.lifetime = Some(0);
        assert!(k.to_master_key(Suite::AesCm128HmacSha1_80).is_err());
        let plain = InlineKey::from_master_key(
            &MasterKey::from_concatenated(Suite::AesCm128HmacSha1_80, &[3; 30]).unwrap(),
        );
        assert_eq!((plain.lifetime, plain.mki), (None, None));
    }

    #[test]
    fn errors_say_why_and_never_show_keys() {
        let s = "AES_CM_128_HMAC_SHA1_80";
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty a=crypto value"),
            ("   ".into(), "empty a=crypto value"),
            ("x AES".into(), "crypto tag \"x\" is not a number"),
            ("1234567890 AES".into(), "1 to 9 digits"),
            ("-1 AES".into(), "1 to 9 digits"),
            ("1".into(), "no crypto suite"),
            (format!("1 {s}"), "no key parameters"),
            (
                format!("1 {s} uri:http://x"),
                "unsupported key method \"uri\"",
            ),
            (format!("1 {s} {KEY_B64}"), "must be \"inline:<key||salt>\""),
            (format!("1 {s} inline:"), "empty inline key"),
            (format!("1 {s} inline:|2^20"), "empty inline key"),
            (format!("1 {s} inline:PS1u*QCVee"), "not valid base64"),
            (format!("1 {s} inline:{KEY_B64}|"), "empty field after '|'"),
            (format!("1 {s} inline:{KEY_B64}|2^20|2^10"), "two lifetimes"),
            (format!("1 {s} inline:{KEY_B64}|1:4|2^20"), "before the MKI"),
            (format!("1 {s} inline:{KEY_B64}|1:4|2:4"), "two MKI fields"),
            (format!("1 {s} inline:{KEY_B64}|0"), "at least 1 packet"),
            (format!("1 {s} inline:{KEY_B64}|2^64"), "too large"),
            (
                format!("1 {s} inline:{KEY_B64}|2^x"),
                "invalid key lifetime",
            ),
            (
                format!("1 {s} inline:{KEY_B64}|99999999999999999999999"),
                "too large",
            ),
            (format!("1 {s} inline:{KEY_B64}|1:0"), "outside 1 to 128"),
            (format!("1 {s} inline:{KEY_B64}|1:129"), "outside 1 to 128"),
            (
                format!("1 {s} inline:{KEY_B64}|1:32"),
                "MKI length 32 is not supported",
            ),
            (
                format!("1 {s} inline:{KEY_B64}|256:1"),
                "does not fit in 1 bytes",
            ),
            (format!("1 {s} inline:{KEY_B64}|a:1"), "in decimal"),
            (format!("1 {s} inline:{KEY_B64};"), "stray ';'"),
            (
                format!("1 {s} inline:{KEY_B64};inline:{KEY_B64}"),
                "each need an MKI",
            ),
            (
                format!("1 {s} inline:{KEY_B64}|1:4;inline:{KEY_B64}|1:4"),
                "MKI value 1 is used by two keys",
            ),
            (
                format!("1 {s} inline:{KEY_B64}|1:4;inline:{KEY_B64}|2:2"),
                "same length",
            ),
            (
                format!("1 {s} inline:{KEY_B64}|1:4;inline:*|2:4"),
                "key 2: inline key is not valid base64",
            ),
        ];
        for (input, want) in cases {
            let m = msg(CryptoAttr::parse(&input));
            assert!(m.contains(want), "{input:?}: got {m:?}, want {want:?}");
            assert!(!m.contains("PS1u"), "key text in error: {m}");
        }
        let many = (0..17)
            .map(|i| format!("inline:{KEY_B64}|{i}:1"))
            .collect::<Vec<_>>()
            .join(";");
        assert!(msg(CryptoAttr::parse(&format!("1 {s} {many}"))).contains("more than 16 keys"));
    }

    #[test]
    fn debug_is_redacted() {
        let a = CryptoAttr::parse(RFC_EXAMPLE).unwrap();
        let d = format!("{a:?} {:?}", a.keys[0]);
        assert!(!d.contains(KEY_B64) && !d.contains("PS1u"), "{d}");
        assert!(d.contains("redacted"), "{d}");
        // No byte values either.
        let bytes = format!("{:?}", a.keys[0].key_salt());
        assert!(!d.contains(&bytes[1..10]), "{d}");
    }

    fn key_strategy() -> impl Strategy<Value = (Vec<u8>, Option<u64>)> {
        (
            proptest::collection::vec(any::<u8>(), 1..64),
            prop_oneof![
                Just(None),
                (0u32..64).prop_map(|n| Some(1u64 << n)),
                (1u64..=u64::MAX).prop_map(Some),
            ],
        )
    }

    fn attr_strategy() -> impl Strategy<Value = CryptoAttr> {
        let suite = prop_oneof![
            proptest::sample::select(Suite::ALL.to_vec()).prop_map(|s| s.name().to_string()),
            "[A-Z0-9_]{1,30}",
        ];
        let params = proptest::collection::vec(
            prop_oneof![
                Just("UNENCRYPTED_SRTP".to_string()),
                Just("UNENCRYPTED_SRTCP".to_string()),
                Just("UNAUTHENTICATED_SRTP".to_string()),
                (0u8..=24).prop_map(|n| format!("KDR={n}")),
                "[A-Z_]{1,12}=[A-Za-z0-9_]{0,8}",
            ],
            0..4,
        );
        (
            0u32..=MAX_TAG,
            suite,
            proptest::collection::vec(key_strategy(), 1..5),
            1u8..=8,
            any::<u64>(),
            any::<bool>(),
            params,
        )
            .prop_map(
                |(tag, suite_name, ks, mki_len, mki_base, with_mki, session_params)| {
                    let n = ks.len();
                    let mask = if mki_len == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * mki_len)) - 1
                    };
                    let keys = ks
                        .into_iter()
                        .enumerate()
                        .map(|(i, (bytes, lifetime))| {
                            let mut k = InlineKey::new(&bytes);
                            k.lifetime = lifetime;
                            if n > 1 || with_mki {
                                // Distinct values of one length.
                                let v = (mki_base & mask).wrapping_add(i as u64) & mask;
                                k.mki = Some((v, mki_len));
                            }
                            k
                        })
                        .collect();
                    CryptoAttr {
                        tag,
                        suite_name,
                        keys,
                        session_params,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(a in attr_strategy()) {
            let text = a.to_value();
            let b = CryptoAttr::parse(&text).unwrap();
            prop_assert_eq!(&b, &a);
            prop_assert_eq!(b.to_value(), text);
        }

        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = CryptoAttr::parse(&s).map(|a| a.master_keys());
        }

        #[test]
        fn parse_never_panics_on_crypto_like_text(
            s in "[0-9]{1,10} [A-Z_0-9]{0,25} (inline|INLINE|x):[A-Za-z0-9+/=]{0,70}(\\|[0-9^:]{0,12}){0,3}(;inline:[A-Za-z0-9+/=|:^]{0,60}){0,3}( [A-Z_=0-9]{0,10}){0,3}"
        ) {
            if let Ok(a) = CryptoAttr::parse(&s) {
                let _ = a.master_keys();
                prop_assert_eq!(CryptoAttr::parse(&a.to_value()).unwrap(), a);
            }
        }
    }
}
