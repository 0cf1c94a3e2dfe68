//! The `[security]` configuration section and the tables it extends.
//!
//! Why data rather than code: the guide's capability table (which phone model
//! can encrypt) and its restriction list (which leg kinds may be secure) change
//! with every release of phones and call agents. Keeping both as tables with
//! defaults that equal the CallManager 4.0 guide, and letting the
//! configuration extend or override them, means a new model or a newly
//! securable trunk is a config line, not a code change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Cluster security mode (CallManager's "cluster security mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    /// No SRTP keys are ever issued: every leg is plain RTP.
    #[default]
    Nonsecure,
    /// Per-device modes apply; requires a valid signed trust list.
    Mixed,
}

impl ClusterMode {
    /// The configuration name (`nonsecure`, `mixed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Nonsecure => "nonsecure",
            ClusterMode::Mixed => "mixed",
        }
    }
}

/// The security mode of a device or a leg, ordered from weakest to strongest.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    /// Neither integrity nor confidentiality: plain RTP.
    #[default]
    Nonsecure,
    /// Integrity without confidentiality (NULL cipher with HMAC-SHA1, or
    /// plain RTP where `authenticated_media = "rtp"`).
    Authenticated,
    /// Integrity and confidentiality: SRTP with an encrypting suite.
    Encrypted,
}

impl SecurityMode {
    /// Every mode, weakest first.
    pub const ALL: [SecurityMode; 3] = [
        SecurityMode::Nonsecure,
        SecurityMode::Authenticated,
        SecurityMode::Encrypted,
    ];

    /// The configuration name (`nonsecure`, `authenticated`, `encrypted`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Nonsecure => "nonsecure",
            SecurityMode::Authenticated => "authenticated",
            SecurityMode::Encrypted => "encrypted",
        }
    }
}

impl std::fmt::Display for SecurityMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when a nonsecure cluster is asked for a secure leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SrtpRequestRule {
    /// Answer with an error ([`super::PolicyError::SecureLegInNonsecureCluster`]).
    #[default]
    Refuse,
    /// Give the leg plain RTP and return a warning with the decision.
    Downgrade,
}

/// How an authenticated leg carries media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatedMedia {
    /// SRTP with `NULL_HMAC_SHA1_80`: integrity, no confidentiality. A peer
    /// that cannot do it gets plain RTP, reported nonsecure, with a warning.
    #[default]
    NullCipher,
    /// Plain RTP, as CallManager 4.0 did (the device's signalling is
    /// authenticated, its media is not protected).
    Rtp,
}

/// The kind of endpoint a leg faces (the guide's device types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegKind {
    /// An IP phone (its model decides what it can do).
    Phone,
    /// A conference bridge.
    ConferenceBridge,
    /// A music-on-hold server.
    MusicOnHold,
    /// A transcoder.
    Transcoder,
    /// A media termination point.
    MediaTerminationPoint,
    /// A gateway.
    Gateway,
    /// A trunk (SIP, H.323 inter-cluster).
    Trunk,
    /// A CTI (JTAPI/TAPI) controlled endpoint.
    Cti,
    /// A SIP endpoint.
    SipDevice,
    /// An MGCP endpoint.
    MgcpDevice,
    /// An H.323 endpoint.
    H323Device,
}

impl LegKind {
    /// Every kind, in declaration order.
    pub const ALL: [LegKind; 11] = [
        LegKind::Phone,
        LegKind::ConferenceBridge,
        LegKind::MusicOnHold,
        LegKind::Transcoder,
        LegKind::MediaTerminationPoint,
        LegKind::Gateway,
        LegKind::Trunk,
        LegKind::Cti,
        LegKind::SipDevice,
        LegKind::MgcpDevice,
        LegKind::H323Device,
    ];

    /// The configuration name, e.g. `music-on-hold`.
    pub fn as_str(self) -> &'static str {
        match self {
            LegKind::Phone => "phone",
            LegKind::ConferenceBridge => "conference-bridge",
            LegKind::MusicOnHold => "music-on-hold",
            LegKind::Transcoder => "transcoder",
            LegKind::MediaTerminationPoint => "media-termination-point",
            LegKind::Gateway => "gateway",
            LegKind::Trunk => "trunk",
            LegKind::Cti => "cti",
            LegKind::SipDevice => "sip-device",
            LegKind::MgcpDevice => "mgcp-device",
            LegKind::H323Device => "h323-device",
        }
    }
}

impl std::fmt::Display for LegKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the device-model capability table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelCapability {
    /// Model name as configured for devices (compared case-insensitively).
    pub model: &'static str,
    /// The strongest device security mode the model supports.
    pub max_mode: SecurityMode,
    /// The model verifies signed firmware images (informational: image
    /// authentication secures neither signalling nor media).
    pub image_authentication: bool,
}

/// The capability table of the CallManager 4.0 security guide (Table 1-2):
/// the 7970 encrypts; the 7960 and 7940 authenticate but do not encrypt
/// media; the 7912, 7910, 7905G and 7902 only authenticate their firmware
/// image, so their signalling and media are nonsecure.
pub const DEFAULT_MODELS: [ModelCapability; 7] = [
    ModelCapability {
        model: "7970",
        max_mode: SecurityMode::Encrypted,
        image_authentication: true,
    },
    ModelCapability {
        model: "7960",
        max_mode: SecurityMode::Authenticated,
        image_authentication: true,
    },
    ModelCapability {
        model: "7940",
        max_mode: SecurityMode::Authenticated,
        image_authentication: true,
    },
    ModelCapability {
        model: "7912",
        max_mode: SecurityMode::Nonsecure,
        image_authentication: true,
    },
    ModelCapability {
        model: "7910",
        max_mode: SecurityMode::Nonsecure,
        image_authentication: true,
    },
    ModelCapability {
        model: "7905G",
        max_mode: SecurityMode::Nonsecure,
        image_authentication: true,
    },
    ModelCapability {
        model: "7902",
        max_mode: SecurityMode::Nonsecure,
        image_authentication: true,
    },
];

/// The guide's restriction list: CallManager 4.0 secures phones only (as far
/// as their model allows); conference bridges, music on hold, transcoders,
/// MTPs, gateways, trunks, CTI, SIP, MGCP and H.323 devices are nonsecure.
pub const DEFAULT_KIND_LIMITS: [(LegKind, SecurityMode); 11] = [
    (LegKind::Phone, SecurityMode::Encrypted),
    (LegKind::ConferenceBridge, SecurityMode::Nonsecure),
    (LegKind::MusicOnHold, SecurityMode::Nonsecure),
    (LegKind::Transcoder, SecurityMode::Nonsecure),
    (LegKind::MediaTerminationPoint, SecurityMode::Nonsecure),
    (LegKind::Gateway, SecurityMode::Nonsecure),
    (LegKind::Trunk, SecurityMode::Nonsecure),
    (LegKind::Cti, SecurityMode::Nonsecure),
    (LegKind::SipDevice, SecurityMode::Nonsecure),
    (LegKind::MgcpDevice, SecurityMode::Nonsecure),
    (LegKind::H323Device, SecurityMode::Nonsecure),
];

/// SRTP suites an encrypted leg may use unless `srtp_suites` says otherwise,
/// most preferred first.
pub const DEFAULT_SRTP_SUITES: [&str; 8] = [
    "AES_CM_128_HMAC_SHA1_80",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_32",
];

/// A device as the configuration (or the API) registers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Unique device name (e.g. `SEP001122334455`).
    pub name: String,
    /// Model, looked up in the capability table (e.g. `7970`).
    pub model: String,
    /// The device's configured security mode.
    #[serde(default)]
    pub mode: SecurityMode,
    /// What kind of endpoint it is (default `phone`).
    #[serde(default = "default_kind")]
    pub kind: LegKind,
}

fn default_kind() -> LegKind {
    LegKind::Phone
}

/// The `[security]` section: everything the policy (and the trust list it
/// depends on) is configured with. Keys left out take the defaults (a
/// nonsecure cluster with the guide's tables); unknown keys are an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Whether the CallManager security model is enforced. Off (default):
    /// Rampart is a plain media relay, as rtpengine is: each leg gets the
    /// media mode it asks for, no trust list is needed, and the call status
    /// is still computed from the legs. On: the cluster mode, device and
    /// leg-kind tables below decide every leg.
    pub enforce: bool,
    /// `nonsecure` (default) or `mixed`; applies when `enforce = true`.
    pub cluster_mode: ClusterMode,
    /// In a nonsecure cluster, what a request for a secure leg gets:
    /// `refuse` (default, an error) or `downgrade` (RTP plus a warning).
    pub srtp_request: SrtpRequestRule,
    /// How authenticated legs carry media: `null-cipher` (default) or `rtp`.
    pub authenticated_media: AuthenticatedMedia,
    /// In mixed mode, admit devices that are not registered (as nonsecure).
    /// Off by default: auto-registration does not work in mixed mode.
    pub allow_unknown_devices: bool,
    /// Suites an encrypted leg may use, most preferred first (SDES names;
    /// NULL suites are not allowed here).
    pub srtp_suites: Vec<String>,
    /// Every SDES-keyed SRTP leg must run RFC 9335 cryptex (header
    /// extensions and CSRCs encrypted too): a peer that does not offer or
    /// accept it is refused. Off by default.
    pub require_cryptex: bool,
    /// Extra or overriding rows of the capability table: model = highest mode.
    pub models: BTreeMap<String, SecurityMode>,
    /// Overrides of the leg-kind restriction list: kind = highest mode.
    pub leg_kinds: BTreeMap<LegKind, SecurityMode>,
    /// Devices registered at start (more can be added through the API).
    pub devices: Vec<DeviceConfig>,
    /// The signed Certificate Trust List (required in mixed mode).
    pub trust_list: Option<PathBuf>,
    /// Where the last accepted trust-list version is kept (default: the
    /// trust list's path with `.state` appended).
    pub trust_state: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            enforce: false,
            cluster_mode: ClusterMode::Nonsecure,
            srtp_request: SrtpRequestRule::Refuse,
            authenticated_media: AuthenticatedMedia::NullCipher,
            allow_unknown_devices: false,
            srtp_suites: DEFAULT_SRTP_SUITES.iter().map(|s| s.to_string()).collect(),
            require_cryptex: false,
            models: BTreeMap::new(),
            leg_kinds: BTreeMap::new(),
            devices: Vec::new(),
            trust_list: None,
            trust_state: None,
        }
    }
}
