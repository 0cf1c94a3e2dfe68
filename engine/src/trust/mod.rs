//! The trust plane: the signed Certificate Trust List, the tokens that sign
//! it, the node CA that issues locally significant certificates (CAPF), and
//! TLS with client authentication for the control channel.
//!
//! Why its own module: in the CallManager model every security decision
//! bottoms out in one signed document, the CTL, which says which
//! certificates play which role (call agent, TFTP, CAPF, media node) and is
//! itself signed by one of at least two security tokens. Keeping the
//! document's format, its verification (signature, signer, rollback, expiry)
//! and the places that consume it (the TLS client verifier, the mixed-mode
//! start check) together makes the chain of trust auditable in one place;
//! the policy ([`crate::policy`]) only asks whether a valid list is loaded.
//! A list can be replaced while the node runs ([`reload`]): it is verified
//! as at start, and the control channel's connections of agents it drops
//! are closed ([`connections`]).
//!
//! Private keys live in [`zeroize::Zeroizing`] buffers and are written to
//! disk with mode 0600; nothing here logs key material. The file format is
//! documented in `docs/security.md`.

pub mod capf;
pub mod connections;
pub mod ctl;
pub mod reload;
pub mod secret;
pub mod tls;
pub mod token;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::ClusterMode;

pub use capf::{IssueRequest, IssuedCert, NodeCa};
pub use connections::TlsConnections;
pub use ctl::{
    default_state_path, load_ctl, sign_payload, verify_ctl, Ctl, CtlEntry, CtlPayload, CtlSource,
    CtlState, SignedCtl, TrustedEntry, CTL_FORMAT,
};
pub use reload::{TrustReload, TrustReloader};
pub use tls::{client_config, serve_tls, serve_tls_tracked, server_config, CtlClientVerifier};
pub use token::{TokenAlg, TokenInfo, TokenKey};

/// The role a certificate plays, as the trust list names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A call agent (switch) allowed to drive the node's control channel.
    CallAgent,
    /// A TFTP (configuration) server.
    Tftp,
    /// The certificate authority proxy function (the node CA).
    Capf,
    /// A media node (this or a peer relay).
    MediaNode,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::CallAgent, Role::Tftp, Role::Capf, Role::MediaNode];

    /// The file-format name, e.g. `call-agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CallAgent => "call-agent",
            Role::Tftp => "tftp",
            Role::Capf => "capf",
            Role::MediaNode => "media-node",
        }
    }

    /// Parses a file-format name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a trust operation failed. Each variant's message says what was wrong
/// and, where there is one, what to do about it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrustError {
    /// A file could not be read or written.
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file exists and would be overwritten.
    Exists(PathBuf),
    /// The trust list (or its payload source) does not parse.
    Malformed(String),
    /// The signature does not match the payload: one of them was altered.
    BadSignature {
        /// The token the file says signed it.
        signer: String,
    },
    /// The signature block is not decodable.
    MalformedSignature(String),
    /// The signer is not one of the tokens the list registers.
    UnknownSigner {
        /// The token id the file names.
        signer: String,
    },
    /// The signer is not one of the tokens of the last accepted list.
    UntrustedSigner {
        /// The token id the file names.
        signer: String,
        /// The version of the last accepted list.
        last_version: u64,
    },
    /// The signature's algorithm is not the signer token's.
    AlgorithmMismatch {
        /// The token.
        signer: String,
        /// The token's algorithm.
        token: TokenAlg,
        /// The algorithm the signature block claims.
        signature: TokenAlg,
    },
    /// Fewer than two distinct tokens are registered.
    TooFewTokens {
        /// Distinct tokens found.
        count: usize,
    },
    /// A token entry is invalid (bad id, bad key, duplicate).
    BadToken(String),
    /// The list is older than the last accepted one.
    Rollback {
        /// This list's version.
        version: u64,
        /// The last accepted version.
        last: u64,
    },
    /// Same version as the last accepted list, different content.
    VersionReused {
        /// The version.
        version: u64,
    },
    /// An entry's certificate has expired.
    CertExpired {
        /// The entry's subject.
        subject: String,
        /// Its notAfter, unix seconds.
        not_after: i64,
    },
    /// An entry's certificate is not valid yet.
    CertNotYetValid {
        /// The entry's subject.
        subject: String,
        /// Its notBefore, unix seconds.
        not_before: i64,
    },
    /// An entry is invalid (no certificate or fingerprint, unparsable
    /// certificate, fingerprint mismatch).
    BadEntry {
        /// The entry's subject.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// Mixed mode was asked for without a trust list.
    MixedNeedsCtl,
    /// Mixed mode was asked for and the trust list is not valid.
    MixedCtlInvalid(Box<TrustError>),
    /// A key could not be generated, parsed or used.
    Key(String),
    /// A certificate could not be issued or parsed.
    Cert(String),
    /// TLS could not be configured.
    Tls(String),
    /// A trust-list reload was asked for, but no list is configured.
    NotConfigured,
}

fn fmt_time(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => d.to_string(),
        Err(_) => format!("unix time {t}"),
    }
}

impl std::fmt::Display for TrustError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use TrustError::*;
        match self {
            Io { path, source } => write!(f, "{}: {source}", path.display()),
            Exists(p) => write!(f, "{} exists; refusing to overwrite it", p.display()),
            Malformed(m) => write!(f, "malformed trust list: {m}"),
            BadSignature { signer } => write!(
                f,
                "trust list signature check failed (signer {signer:?}): the payload or the \
                 signature was altered"
            ),
            MalformedSignature(m) => write!(f, "malformed trust list signature: {m}"),
            UnknownSigner { signer } => write!(
                f,
                "trust list is signed by {signer:?}, which is not one of the security tokens \
                 it registers"
            ),
            UntrustedSigner {
                signer,
                last_version,
            } => write!(
                f,
                "trust list is signed by {signer:?}, which is not a token of the last accepted \
                 trust list (version {last_version}); a new list must be signed by a token the \
                 old one trusts"
            ),
            AlgorithmMismatch {
                signer,
                token,
                signature,
            } => write!(
                f,
                "trust list signature says {signature} but token {signer:?} is {token}"
            ),
            TooFewTokens { count } => write!(
                f,
                "trust list registers {count} security token(s); at least two are required \
                 (so that losing one token does not lock the cluster out)"
            ),
            BadToken(m) => write!(f, "invalid security token: {m}"),
            Rollback { version, last } => write!(
                f,
                "trust list version {version} is older than the last accepted version {last} \
                 (rollback refused)"
            ),
            VersionReused { version } => write!(
                f,
                "trust list version {version} was accepted before with different content; a \
                 changed list needs a higher version"
            ),
            CertExpired { subject, not_after } => write!(
                f,
                "trust list entry {subject:?}: certificate expired at {}",
                fmt_time(*not_after)
            ),
            CertNotYetValid {
                subject,
                not_before,
            } => write!(
                f,
                "trust list entry {subject:?}: certificate is not valid before {}",
                fmt_time(*not_before)
            ),
            BadEntry { subject, reason } => {
                write!(f, "trust list entry {subject:?}: {reason}")
            }
            MixedNeedsCtl => write!(
                f,
                "cluster_mode = \"mixed\" requires a signed Certificate Trust List: set \
                 [security] trust_list (see docs/security.md); refusing to start"
            ),
            MixedCtlInvalid(e) => write!(
                f,
                "cluster_mode = \"mixed\" requires a valid Certificate Trust List: {e}; \
                 refusing to start"
            ),
            Key(m) => write!(f, "key: {m}"),
            Cert(m) => write!(f, "certificate: {m}"),
            Tls(m) => write!(f, "TLS: {m}"),
            NotConfigured => write!(
                f,
                "no trust list is configured ([security] trust_list), so there is none to reload"
            ),
        }
    }
}

impl std::error::Error for TrustError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrustError::Io { source, .. } => Some(source),
            TrustError::MixedCtlInvalid(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl TrustError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> TrustError {
        TrustError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The start-up check: in mixed mode the node needs a valid, signed trust
/// list and refuses to start (with the reason) without one.
///
/// In mixed mode, `ctl_path` must be given and [`load_ctl`] must accept it
/// (which also records its version in `state_path`, default
/// [`default_state_path`]). In nonsecure mode no list is needed: `Ok(None)`
/// when none is configured, and a configured one is still verified so a
/// broken file is reported rather than ignored.
pub fn require_ctl_for_mixed(
    mode: ClusterMode,
    ctl_path: Option<&Path>,
    state_path: Option<&Path>,
) -> Result<Option<Ctl>, TrustError> {
    match (mode, ctl_path) {
        (ClusterMode::Mixed, None) => Err(TrustError::MixedNeedsCtl),
        (ClusterMode::Mixed, Some(p)) => load_ctl(p, state_path)
            .map(Some)
            .map_err(|e| TrustError::MixedCtlInvalid(Box::new(e))),
        (ClusterMode::Nonsecure, None) => Ok(None),
        (ClusterMode::Nonsecure, Some(p)) => load_ctl(p, state_path).map(Some),
    }
}
