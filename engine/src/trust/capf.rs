//! The node CA: the certificate authority proxy function (CAPF) that issues
//! locally significant certificates to call agents, media nodes and devices.
//!
//! Why a local CA: the control channel's TLS needs certificates that name
//! who is who, and most sites have no PKI for their switches. CallManager's
//! answer was CAPF, a CA inside the cluster whose certificates mean something
//! only there; the trust list then pins which of them may play which role.
//! A certificate's role is written into its subject's organizational unit
//! (`OU=<role>`) and a `urn:rampart:role:<role>` URI SAN, so it is visible to
//! any tool; the trust list, not the certificate, is what grants the role.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::secret::{ensure_dir, pem_decode, read_secret, sha256, write_public, write_secret};
use super::{Role, TrustError};

/// File names inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The CA's private key file (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

fn cert_err(e: impl std::fmt::Display) -> TrustError {
    TrustError::Cert(e.to_string())
}

/// The node CA, loaded and ready to issue.
pub struct NodeCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

/// A certificate to issue.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Common name; also a DNS or IP SAN when it is a valid one.
    pub name: String,
    /// The role written into the certificate.
    pub role: Role,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl IssueRequest {
    /// Valid from an hour ago (clock skew) for `days` days.
    pub fn for_days(name: &str, role: Role, days: u32) -> IssueRequest {
        let now = OffsetDateTime::now_utc();
        IssueRequest {
            name: name.to_string(),
            role,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        }
    }
}

/// An issued certificate and its private key.
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PEM PKCS#8 (zeroized on drop).
    pub key_pem: Zeroizing<String>,
    /// SHA-256 of the certificate's DER (what the trust list pins).
    pub sha256: [u8; 32],
}

impl NodeCa {
    /// Creates a new CA: an ECDSA P-256 key and a self-signed CA certificate
    /// valid for `days` days.
    pub fn generate(
        common_name: &str,
        days: u32,
    ) -> Result<(NodeCa, Zeroizing<String>), TrustError> {
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationalUnitName, Role::Capf.as_str());
        dn.push(DnType::OrganizationName, "Rampart node CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(i64::from(days));
        let cert = params.self_signed(&key).map_err(cert_err)?;
        let key_pem = Zeroizing::new(key.serialize_pem());
        let ca = NodeCa {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
        };
        Ok((ca, key_pem))
    }

    /// Creates a new CA and writes `DIR/ca.crt` and `DIR/ca.key` (0600);
    /// refuses to overwrite an existing CA.
    pub fn create_in(dir: &Path, common_name: &str, days: u32) -> Result<NodeCa, TrustError> {
        ensure_dir(dir)?;
        let crt = dir.join(CA_CERT_FILE);
        if crt.exists() {
            return Err(TrustError::Exists(crt));
        }
        let (ca, key_pem) = NodeCa::generate(common_name, days)?;
        write_secret(&dir.join(CA_KEY_FILE), key_pem.as_bytes())?;
        write_public(&crt, ca.cert_pem.as_bytes(), false)?;
        Ok(ca)
    }

    /// Loads `DIR/ca.crt` and `DIR/ca.key`.
    pub fn load(dir: &Path) -> Result<NodeCa, TrustError> {
        let crt = dir.join(CA_CERT_FILE);
        let cert_pem = std::fs::read_to_string(&crt).map_err(|e| TrustError::io(&crt, e))?;
        let kp = dir.join(CA_KEY_FILE);
        let raw = read_secret(&kp)?;
        let key_text = std::str::from_utf8(&raw)
            .map_err(|_| TrustError::Key(format!("{}: not a PEM file", kp.display())))?;
        let key = KeyPair::from_pem(key_text)
            .map_err(|e| TrustError::Key(format!("{}: {e}", kp.display())))?;
        let cert_der = pem_decode(&cert_pem, "CERTIFICATE")
            .map_err(|e| TrustError::Cert(format!("{}: {e}", crt.display())))?
            .to_vec();
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .map_err(|e| TrustError::Cert(format!("{}: {e}", crt.display())))?;
        Ok(NodeCa {
            issuer,
            cert_pem,
            cert_der,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issues a certificate (new ECDSA P-256 key) for client and server
    /// authentication, with the role in `OU` and a URI SAN.
    pub fn issue(&self, req: &IssueRequest) -> Result<IssuedCert, TrustError> {
        if req.name.is_empty() || req.name.len() > 64 {
            return Err(TrustError::Cert(format!(
                "name {:?} must be 1-64 characters",
                req.name
            )));
        }
        let mut params = CertificateParams::new(vec![req.name.clone()])
            .unwrap_or_else(|_| CertificateParams::default());
        let role_uri = format!("urn:rampart:role:{}", req.role);
        params
            .subject_alt_names
            .push(SanType::URI(role_uri.try_into().map_err(cert_err)?));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.name.as_str());
        dn.push(DnType::OrganizationalUnitName, req.role.as_str());
        dn.push(DnType::OrganizationName, "Rampart");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = req.not_before;
        params.not_after = req.not_after;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| TrustError::Key(e.to_string()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(serial.to_vec().into());
        let key = KeyPair::generate().map_err(cert_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_err)?;
        let der = cert.der().to_vec();
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            sha256: sha256(&der),
            cert_der: der,
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }

    /// Issues a certificate and writes `OUT/NAME.crt` and `OUT/NAME.key`
    /// (0600); refuses to overwrite. Returns the certificate and both paths.
    pub fn issue_to_dir(
        &self,
        req: &IssueRequest,
        out: &Path,
    ) -> Result<(IssuedCert, PathBuf, PathBuf), TrustError> {
        let safe = req
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
            && !req.name.starts_with('.');
        if !safe {
            return Err(TrustError::Cert(format!(
                "name {:?} cannot be a file name: use A-Z a-z 0-9 . _ - :",
                req.name
            )));
        }
        ensure_dir(out)?;
        let crt = out.join(format!("{}.crt", req.name));
        let key = out.join(format!("{}.key", req.name));
        if crt.exists() {
            return Err(TrustError::Exists(crt));
        }
        let issued = self.issue(req)?;
        write_secret(&key, issued.key_pem.as_bytes())?;
        write_public(&crt, issued.cert_pem.as_bytes(), false)?;
        Ok((issued, crt, key))
    }
}

/// The role written into a certificate's subject `OU`, if any.
pub fn role_in_cert(der: &[u8]) -> Option<Role> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let role = c
        .subject()
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok())
        .find_map(Role::parse);
    role
}
