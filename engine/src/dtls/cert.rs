//! The node's DTLS certificate and SDP fingerprints (RFC 8122).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};

use super::DtlsError;

/// A certificate and its private key: one per node, so that a fingerprint
/// can be pinned. A clone shares the key and the OpenSSL context.
#[derive(Clone)]
pub struct Certificate {
    pub(super) key: PKey<Private>,
    pub(super) x509: X509,
    /// The OpenSSL context presenting this certificate, built once for
    /// every association (its settings are the same for all).
    pub(super) context: std::sync::OnceLock<openssl::ssl::SslContext>,
    /// The same with DTLS cookie exchange (a passive endpoint that anyone
    /// may reach answers a first ClientHello with a small
    /// HelloVerifyRequest, never its certificate flight).
    pub(super) cookie_context: std::sync::OnceLock<openssl::ssl::SslContext>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint().to_string())
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// A fresh self-signed ECDSA P-256 certificate (what browsers make),
    /// valid for a year, named `common_name`.
    pub fn generate(common_name: &str) -> Result<Certificate, DtlsError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        let name = name.build();
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(365)?);
        b.set_not_before(&from)?;
        b.set_not_after(&until)?;
        b.sign(&key, MessageDigest::sha256())?;
        Ok(Certificate {
            key,
            x509: b.build(),
            context: std::sync::OnceLock::new(),
            cookie_context: std::sync::OnceLock::new(),
        })
    }

    /// A certificate and key from PEM (RSA or ECDSA), e.g. the node's
    /// configured files.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Certificate, DtlsError> {
        let x509 = X509::from_pem(cert)?;
        let key = PKey::private_key_from_pem(key)?;
        if !x509.public_key()?.public_eq(&key) {
            return Err(DtlsError::Setup(
                "the private key does not belong to the certificate".into(),
            ));
        }
        Ok(Certificate {
            key,
            x509,
            context: std::sync::OnceLock::new(),
            cookie_context: std::sync::OnceLock::new(),
        })
    }

    /// The certificate as PEM (to keep a generated one).
    pub fn cert_pem(&self) -> Result<Vec<u8>, DtlsError> {
        Ok(self.x509.to_pem()?)
    }

    /// The private key as PKCS#8 PEM (to keep a generated one; a key: the
    /// caller writes it mode 0600).
    pub fn key_pem(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, DtlsError> {
        Ok(zeroize::Zeroizing::new(
            self.key.private_key_to_pem_pkcs8()?,
        ))
    }

    /// `a=fingerprint:sha-256 …` of this certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.x509)
    }
}

/// A SHA-256 certificate fingerprint (`a=fingerprint:sha-256 AB:CD:…`).
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `x509` (SHA-256 of its DER).
    pub fn of(x509: &openssl::x509::X509Ref) -> Fingerprint {
        let mut f = [0u8; 32];
        if let Ok(d) = x509.digest(MessageDigest::sha256()) {
            f.copy_from_slice(&d);
        }
        Fingerprint(f)
    }

    /// Parses the value of `a=fingerprint` (`sha-256 AB:CD:…`; the hash
    /// name is case-insensitive). Other hash functions are refused: a
    /// fingerprint Rampart cannot check must not pass for verified.
    pub fn parse_sdp(value: &str) -> Option<Fingerprint> {
        let (hash, hex) = value.trim().split_once(' ')?;
        if !hash.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let mut f = [0u8; 32];
        let mut n = 0;
        for part in hex.trim().split(':') {
            if part.len() != 2 || n == 32 {
                return None;
            }
            f[n] = u8::from_str_radix(part, 16).ok()?;
            n += 1;
        }
        (n == 32).then_some(Fingerprint(f))
    }
}

impl std::fmt::Display for Fingerprint {
    /// The SDP form: `sha-256 AB:CD:…`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha-256 ")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}
