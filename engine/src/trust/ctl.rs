//! The Certificate Trust List: its file format, signing, verification and
//! the rollback state.
//!
//! Why this shape: a trust list is only worth anything if a node can tell,
//! offline and at start, that it was issued by someone who holds a
//! registered security token, that it was not altered, and that it is not an
//! older list replayed to re-admit a revoked certificate. So the file is one
//! JSON document carrying the payload as an exact string (the signed bytes,
//! no canonicalisation to get wrong) and a detached signature block; the
//! version of the last list accepted is kept in a small state file, together
//! with the tokens that list registered, so the next list must be newer and
//! signed by a token the previous one trusted. The format is documented in
//! `docs/security.md`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::secret::{hex, parse_fingerprint, pem_decode, sha256, write_public};
use super::token::{TokenAlg, TokenInfo, TokenKey};
use super::{Role, TrustError};

/// The `format` value of a signed trust list.
pub const CTL_FORMAT: &str = "rampart-ctl/1";

/// Bytes prefixed to the payload before signing (domain separation: a token
/// signature over a trust list cannot be replayed as any other signature).
pub const SIGNING_CONTEXT: &[u8] = b"rampart-ctl-v1\0";

/// One entry of the payload: a certificate (or its fingerprint) and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtlEntry {
    /// The role the certificate plays.
    pub role: Role,
    /// A human-readable subject (e.g. the certificate's common name).
    pub subject: String,
    /// The certificate, PEM. Its validity is checked at verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_pem: Option<String>,
    /// SHA-256 fingerprint of the certificate's DER (64 hex digits); must
    /// match `cert_pem` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The signed payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtlPayload {
    /// Monotonic version; a node refuses a version older than the last it
    /// accepted.
    pub version: u64,
    /// When the list was signed, unix seconds.
    pub issued_at: u64,
    /// Certificates and their roles.
    pub entries: Vec<CtlEntry>,
    /// Registered security tokens (at least two).
    pub tokens: Vec<TokenInfo>,
}

/// The detached signature block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Id of the token that signed.
    pub token: String,
    /// Its algorithm.
    pub algorithm: TokenAlg,
    /// The signature over `SIGNING_CONTEXT || payload`, base64.
    pub value: String,
}

/// A signed trust list file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCtl {
    /// Always [`CTL_FORMAT`].
    pub format: String,
    /// The payload: a [`CtlPayload`] serialized as JSON, kept as the exact
    /// string that was signed.
    pub payload: String,
    /// The signature.
    pub signature: SignatureBlock,
}

impl SignedCtl {
    /// The file text (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// An entry of the payload source (`ctl.toml`): like [`CtlEntry`], and the
/// certificate may be given as a file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// The role.
    pub role: Option<Role>,
    /// The subject.
    pub subject: Option<String>,
    /// Inline PEM certificate.
    pub cert_pem: Option<String>,
    /// PEM certificate file, relative to the source file.
    pub cert_file: Option<PathBuf>,
    /// SHA-256 fingerprint.
    pub sha256: Option<String>,
}

/// A token of the payload source: inline, or a `.pub` file written by
/// `rampart ctl token-new`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceToken {
    /// Token id.
    pub id: Option<String>,
    /// Algorithm.
    pub algorithm: Option<TokenAlg>,
    /// Raw public key, base64.
    pub public_key: Option<String>,
    /// A `.pub` file, relative to the source file.
    pub public_key_file: Option<PathBuf>,
}

/// The payload source `rampart ctl sign` reads (TOML).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtlSource {
    /// Version of the list to sign.
    pub version: u64,
    /// Signing time (default: now).
    pub issued_at: Option<u64>,
    /// Entries.
    #[serde(default)]
    pub entries: Vec<SourceEntry>,
    /// Tokens.
    #[serde(default)]
    pub tokens: Vec<SourceToken>,
}

#[derive(Deserialize)]
struct PubFile {
    tokens: Vec<TokenInfo>,
}

impl CtlSource {
    /// Reads a payload source, resolving files relative to it, into a payload
    /// (`now` fills a missing `issued_at`).
    pub fn load(path: &Path, now: u64) -> Result<CtlPayload, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrustError::io(path, e))?;
        let src: CtlSource = toml::from_str(&text)
            .map_err(|e| TrustError::Malformed(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        src.resolve(base, now)
    }

    /// Resolves files relative to `base` into a payload.
    pub fn resolve(&self, base: &Path, now: u64) -> Result<CtlPayload, TrustError> {
        let mut entries = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let what = format!("entries[{i}]");
            let role = e
                .role
                .ok_or_else(|| TrustError::Malformed(format!("{what}: role is missing")))?;
            let cert_pem = match (&e.cert_pem, &e.cert_file) {
                (Some(_), Some(_)) => {
                    return Err(TrustError::Malformed(format!(
                        "{what}: give cert_pem or cert_file, not both"
                    )))
                }
                (Some(p), None) => Some(p.clone()),
                (None, Some(f)) => {
                    let p = base.join(f);
                    Some(std::fs::read_to_string(&p).map_err(|e| TrustError::io(&p, e))?)
                }
                (None, None) => None,
            };
            let subject = match &e.subject {
                Some(s) => s.clone(),
                None => match &cert_pem {
                    Some(p) => cert_subject(p).unwrap_or_default(),
                    None => String::new(),
                },
            };
            if subject.is_empty() {
                return Err(TrustError::Malformed(format!("{what}: subject is missing")));
            }
            entries.push(CtlEntry {
                role,
                subject,
                cert_pem,
                sha256: e.sha256.clone(),
            });
        }
        let mut tokens = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let what = format!("tokens[{i}]");
            let info = match &t.public_key_file {
                Some(f) => {
                    let p = base.join(f);
                    let text = std::fs::read_to_string(&p).map_err(|e| TrustError::io(&p, e))?;
                    let pf: PubFile = toml::from_str(&text)
                        .map_err(|e| TrustError::Malformed(format!("{}: {e}", p.display())))?;
                    let mut info = pf.tokens.into_iter().next().ok_or_else(|| {
                        TrustError::Malformed(format!("{}: no [[tokens]] table", p.display()))
                    })?;
                    if let Some(id) = &t.id {
                        info.id = id.clone();
                    }
                    info
                }
                None => TokenInfo {
                    id: t
                        .id
                        .clone()
                        .ok_or_else(|| TrustError::Malformed(format!("{what}: id is missing")))?,
                    algorithm: t.algorithm.ok_or_else(|| {
                        TrustError::Malformed(format!("{what}: algorithm is missing"))
                    })?,
                    public_key: t.public_key.clone().ok_or_else(|| {
                        TrustError::Malformed(format!("{what}: public_key is missing"))
                    })?,
                },
            };
            info.decode()?;
            tokens.push(info);
        }
        Ok(CtlPayload {
            version: self.version,
            issued_at: self.issued_at.unwrap_or(now),
            entries,
            tokens,
        })
    }
}

/// Signs a payload with a token. Refuses only when the token is not one the
/// payload registers (such a list could never verify); everything else is
/// for [`verify_ctl`] to judge, so run it on the result before publishing.
pub fn sign_payload(payload: &CtlPayload, key: &TokenKey) -> Result<SignedCtl, TrustError> {
    let me = key.info();
    if !payload
        .tokens
        .iter()
        .any(|t| t.id == me.id && t.algorithm == me.algorithm && t.public_key == me.public_key)
    {
        return Err(TrustError::UnknownSigner { signer: me.id });
    }
    let text = serde_json::to_string(payload)
        .map_err(|e| TrustError::Malformed(format!("cannot serialize the payload: {e}")))?;
    let mut msg = SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(text.as_bytes());
    let sig = key.sign(&msg)?;
    Ok(SignedCtl {
        format: CTL_FORMAT.to_string(),
        payload: text,
        signature: SignatureBlock {
            token: me.id,
            algorithm: me.algorithm,
            value: base64::engine::general_purpose::STANDARD.encode(sig),
        },
    })
}

/// A pinned token in the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedToken {
    /// Token id.
    pub id: String,
    /// SHA-256 of its raw public key, hex.
    pub key_sha256: String,
}

/// What the node remembers of the last trust list it accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlState {
    /// Its version.
    pub version: u64,
    /// SHA-256 of its payload string, hex.
    pub payload_sha256: String,
    /// The tokens it registered: the next list must be signed by one.
    pub tokens: Vec<PinnedToken>,
}

impl CtlState {
    /// Reads a state file; `Ok(None)` if it does not exist.
    pub fn load(path: &Path) -> Result<Option<CtlState>, TrustError> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| TrustError::Malformed(format!("state file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TrustError::io(path, e)),
        }
    }

    /// Writes the state file (atomically).
    pub fn save(&self, path: &Path) -> Result<(), TrustError> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        write_public(path, s.as_bytes(), true)
    }
}

/// A trust-list entry after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedEntry {
    /// The role.
    pub role: Role,
    /// The subject.
    pub subject: String,
    /// SHA-256 of the certificate's DER.
    pub sha256: [u8; 32],
    /// The certificate's DER, when the entry carried one.
    pub cert_der: Option<Vec<u8>>,
    /// The certificate's notAfter (unix seconds), when it carried one.
    pub not_after: Option<i64>,
}

/// A verified trust list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctl {
    /// Version.
    pub version: u64,
    /// Signing time, unix seconds.
    pub issued_at: u64,
    /// Id of the token that signed it.
    pub signer: String,
    /// Entries.
    pub entries: Vec<TrustedEntry>,
    /// Registered tokens.
    pub tokens: Vec<TokenInfo>,
    /// SHA-256 of the payload string.
    pub payload_sha256: [u8; 32],
}

impl Ctl {
    /// Whether the list names the certificate with this fingerprint in `role`.
    pub fn allows(&self, sha256: &[u8; 32], role: Role) -> bool {
        self.entries
            .iter()
            .any(|e| e.role == role && &e.sha256 == sha256)
    }

    /// Fingerprints of the certificates listed with `role`.
    pub fn fingerprints(&self, role: Role) -> impl Iterator<Item = &[u8; 32]> {
        self.entries
            .iter()
            .filter(move |e| e.role == role)
            .map(|e| &e.sha256)
    }

    /// The state to record once this list is accepted.
    pub fn state(&self) -> CtlState {
        CtlState {
            version: self.version,
            payload_sha256: hex(&self.payload_sha256),
            tokens: self
                .tokens
                .iter()
                .filter_map(|t| {
                    t.key_sha256().ok().map(|k| PinnedToken {
                        id: t.id.clone(),
                        key_sha256: hex(&k),
                    })
                })
                .collect(),
        }
    }
}

fn cert_subject(pem: &str) -> Option<String> {
    let der = pem_decode(pem, "CERTIFICATE").ok()?;
    let (_, c) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(c.subject().to_string())
}

fn check_entry(e: &CtlEntry, now: i64) -> Result<TrustedEntry, TrustError> {
    let bad = |reason: String| TrustError::BadEntry {
        subject: e.subject.clone(),
        reason,
    };
    if e.subject.trim().is_empty() {
        return Err(bad("subject is empty".into()));
    }
    let listed = match &e.sha256 {
        Some(s) => Some(parse_fingerprint(s).map_err(bad)?),
        None => None,
    };
    match &e.cert_pem {
        Some(pem) => {
            let der = pem_decode(pem, "CERTIFICATE").map_err(bad)?;
            let (_, cert) = x509_parser::parse_x509_certificate(&der)
                .map_err(|err| bad(format!("certificate does not parse: {err}")))?;
            let v = cert.validity();
            let nb = v.not_before.timestamp();
            let na = v.not_after.timestamp();
            if now > na {
                return Err(TrustError::CertExpired {
                    subject: e.subject.clone(),
                    not_after: na,
                });
            }
            if now < nb {
                return Err(TrustError::CertNotYetValid {
                    subject: e.subject.clone(),
                    not_before: nb,
                });
            }
            let fp = sha256(&der);
            if let Some(l) = listed {
                if l != fp {
                    return Err(bad(format!(
                        "sha256 {} does not match the certificate ({})",
                        hex(&l),
                        hex(&fp)
                    )));
                }
            }
            Ok(TrustedEntry {
                role: e.role,
                subject: e.subject.clone(),
                sha256: fp,
                cert_der: Some(der.to_vec()),
                not_after: Some(na),
            })
        }
        None => match listed {
            Some(fp) => Ok(TrustedEntry {
                role: e.role,
                subject: e.subject.clone(),
                sha256: fp,
                cert_der: None,
                not_after: None,
            }),
            None => Err(bad("give cert_pem or sha256".into())),
        },
    }
}

/// Verifies a trust list file's text.
///
/// Checks, in order: the format; the payload parses; at least two distinct,
/// well-formed tokens are registered; the signer is one of them with the
/// same algorithm; the signature over `SIGNING_CONTEXT || payload`; against
/// `prior` (the last accepted list, if any): the signer was one of its
/// tokens, the version is not older, and an equal version has the same
/// content; each entry has a certificate valid at `now` (unix seconds) or a
/// fingerprint. Pure: reads and writes nothing.
pub fn verify_ctl(text: &str, prior: Option<&CtlState>, now: i64) -> Result<Ctl, TrustError> {
    let file: SignedCtl =
        serde_json::from_str(text).map_err(|e| TrustError::Malformed(e.to_string()))?;
    if file.format != CTL_FORMAT {
        return Err(TrustError::Malformed(format!(
            "format is {:?}, expected {CTL_FORMAT:?}",
            file.format
        )));
    }
    let payload: CtlPayload = serde_json::from_str(&file.payload)
        .map_err(|e| TrustError::Malformed(format!("payload: {e}")))?;

    // Tokens: at least two distinct ones.
    let mut ids = HashSet::new();
    let mut keys = HashSet::new();
    for t in &payload.tokens {
        let k = t.decode()?;
        if !ids.insert(t.id.clone()) {
            return Err(TrustError::BadToken(format!(
                "token id {:?} is registered twice",
                t.id
            )));
        }
        if !keys.insert(k) {
            return Err(TrustError::BadToken(format!(
                "token {:?} has the same key as another token",
                t.id
            )));
        }
    }
    if payload.tokens.len() < 2 {
        return Err(TrustError::TooFewTokens {
            count: payload.tokens.len(),
        });
    }

    // The signer and the signature.
    let signer = &file.signature.token;
    let token = payload
        .tokens
        .iter()
        .find(|t| &t.id == signer)
        .ok_or_else(|| TrustError::UnknownSigner {
            signer: signer.clone(),
        })?;
    if token.algorithm != file.signature.algorithm {
        return Err(TrustError::AlgorithmMismatch {
            signer: signer.clone(),
            token: token.algorithm,
            signature: file.signature.algorithm,
        });
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(file.signature.value.trim())
        .map_err(|e| TrustError::MalformedSignature(format!("value is not base64: {e}")))?;
    let mut msg = SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(file.payload.as_bytes());
    if !token.verify(&msg, &sig) {
        return Err(TrustError::BadSignature {
            signer: signer.clone(),
        });
    }

    // Against the last accepted list.
    let payload_sha256 = sha256(file.payload.as_bytes());
    if let Some(p) = prior {
        let signer_key = hex(&token.key_sha256()?);
        if !p.tokens.iter().any(|t| t.key_sha256 == signer_key) {
            return Err(TrustError::UntrustedSigner {
                signer: signer.clone(),
                last_version: p.version,
            });
        }
        if payload.version < p.version {
            return Err(TrustError::Rollback {
                version: payload.version,
                last: p.version,
            });
        }
        if payload.version == p.version && hex(&payload_sha256) != p.payload_sha256 {
            return Err(TrustError::VersionReused {
                version: payload.version,
            });
        }
    }

    // Entries.
    let entries = payload
        .entries
        .iter()
        .map(|e| check_entry(e, now))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Ctl {
        version: payload.version,
        issued_at: payload.issued_at,
        signer: signer.clone(),
        entries,
        tokens: payload.tokens,
        payload_sha256,
    })
}

/// The default state file of a trust list: its path with `.state` appended.
pub fn default_state_path(ctl_path: &Path) -> PathBuf {
    let mut s = ctl_path.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// Current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads, verifies and accepts a trust list file: verifies it against the
/// state at `state_path` (default [`default_state_path`]) and the current
/// time, then records it there as the last accepted list.
pub fn load_ctl(path: &Path, state_path: Option<&Path>) -> Result<Ctl, TrustError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrustError::io(path, e))?;
    let state_path = state_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_state_path(path));
    let prior = CtlState::load(&state_path)?;
    let ctl = verify_ctl(&text, prior.as_ref(), unix_now())?;
    let new = ctl.state();
    if prior.as_ref() != Some(&new) {
        new.save(&state_path)?;
    }
    Ok(ctl)
}
