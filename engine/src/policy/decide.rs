//! The runtime policy (tables, device registry, generation) and the per-leg
//! decision.
//!
//! Why one decision function: every path that creates or re-negotiates a leg
//! (HTTP create, ng offer/answer, a rekey on transfer) must reach the same
//! answer for the same inputs, and every refusal must be an error that names
//! what was asked and why it cannot be had. [`decide_leg`] is that single
//! place; it never downgrades without returning a warning.

use std::collections::BTreeMap;

use crate::srtp::Suite;

use super::config::{
    AuthenticatedMedia, ClusterMode, DeviceConfig, LegKind, PolicyConfig, SecurityMode,
    SrtpRequestRule, DEFAULT_KIND_LIMITS, DEFAULT_MODELS,
};

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Unique name.
    pub name: String,
    /// Model (as registered; the table is looked up case-insensitively).
    pub model: String,
    /// Configured security mode.
    pub mode: SecurityMode,
    /// Endpoint kind.
    pub kind: LegKind,
}

impl From<DeviceConfig> for Device {
    fn from(c: DeviceConfig) -> Device {
        Device {
            name: c.name,
            model: c.model,
            mode: c.mode,
            kind: c.kind,
        }
    }
}

impl From<&Device> for DeviceConfig {
    fn from(d: &Device) -> DeviceConfig {
        DeviceConfig {
            name: d.name.clone(),
            model: d.model.clone(),
            mode: d.mode,
            kind: d.kind,
        }
    }
}

/// Why the policy refuses a request or a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A secure leg was asked for in a nonsecure cluster and
    /// `srtp_request = "refuse"`.
    SecureLegInNonsecureCluster {
        /// The mode asked for.
        requested: SecurityMode,
    },
    /// Mixed mode, a device that is not registered, and
    /// `allow_unknown_devices = false`.
    UnknownDevice {
        /// The device name given.
        name: String,
    },
    /// A device names a model the capability table does not know.
    UnknownModel {
        /// The model given.
        model: String,
    },
    /// The model cannot do the mode asked for.
    ModelCannot {
        /// The model.
        model: String,
        /// The mode asked for.
        requested: SecurityMode,
        /// The strongest mode the model can do.
        max: SecurityMode,
    },
    /// The leg kind may not have the mode asked for.
    KindCannot {
        /// The kind.
        kind: LegKind,
        /// The mode asked for.
        requested: SecurityMode,
        /// The strongest mode the kind may have.
        max: SecurityMode,
    },
    /// The device is configured for a weaker mode than the one asked for.
    AboveDeviceMode {
        /// The device.
        device: String,
        /// Its configured mode.
        configured: SecurityMode,
        /// The mode asked for.
        requested: SecurityMode,
    },
    /// A device with this name is already registered.
    DeviceExists(String),
    /// No device with this name is registered.
    NoSuchDevice(String),
    /// A device name is empty or too long.
    InvalidDeviceName(String),
    /// `srtp_suites` names an unknown suite or a NULL suite.
    BadSuite(String),
    /// `srtp_suites` is empty.
    NoSuites,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::SecureLegInNonsecureCluster { requested } => write!(
                f,
                "the cluster security mode is nonsecure: no SRTP keys are issued, so an \
                 {requested} leg is refused (srtp_request = \"refuse\")"
            ),
            PolicyError::UnknownDevice { name } => write!(
                f,
                "device {name:?} is not registered; the cluster is in mixed mode, where \
                 unknown devices are refused (allow_unknown_devices = false)"
            ),
            PolicyError::UnknownModel { model } => write!(
                f,
                "device model {model:?} is not in the capability table (add it under \
                 [security.models])"
            ),
            PolicyError::ModelCannot {
                model,
                requested,
                max,
            } => write!(
                f,
                "device model {model} cannot do {requested} mode (the most it supports is \
                 {max})"
            ),
            PolicyError::KindCannot {
                kind,
                requested,
                max,
            } => write!(
                f,
                "a {kind} leg cannot be {requested} (the most policy allows for {kind} is \
                 {max}; see [security.leg_kinds])"
            ),
            PolicyError::AboveDeviceMode {
                device,
                configured,
                requested,
            } => write!(
                f,
                "device {device:?} is configured {configured}; an {requested} leg is refused"
            ),
            PolicyError::DeviceExists(n) => write!(f, "device {n:?} is already registered"),
            PolicyError::NoSuchDevice(n) => write!(f, "no device {n:?} is registered"),
            PolicyError::InvalidDeviceName(n) => {
                write!(
                    f,
                    "invalid device name {n:?}: use 1-128 printable characters"
                )
            }
            PolicyError::BadSuite(s) => write!(
                f,
                "srtp_suites: {s:?} is not an encrypting SRTP suite (NULL suites are for \
                 authenticated legs)"
            ),
            PolicyError::NoSuites => write!(f, "srtp_suites is empty"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Whom a leg faces, as the call path knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegSubject<'a> {
    /// A device by name (looked up in the device registry).
    Device(&'a str),
    /// An endpoint that is not a registered device, by kind (a conference
    /// bridge, a trunk, ...).
    Kind(LegKind),
}

/// How a leg carries media.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Media {
    /// Plain RTP/RTCP: no SRTP keys.
    Rtp,
    /// SRTP with one of these encrypting suites (policy order).
    Srtp(Vec<Suite>),
    /// SRTP with `NULL_HMAC_SHA1_80`: integrity without confidentiality.
    NullCipher,
}

impl Media {
    /// The suite the NULL-cipher media uses.
    pub const NULL_SUITE: Suite = Suite::NullHmacSha1_80;

    /// Whether the leg needs SRTP keys.
    pub fn needs_keys(&self) -> bool {
        !matches!(self, Media::Rtp)
    }

    /// Whether `suite` is acceptable for this media.
    pub fn allows(&self, suite: Suite) -> bool {
        match self {
            Media::Rtp => false,
            Media::Srtp(s) => s.contains(&suite),
            Media::NullCipher => suite == Self::NULL_SUITE,
        }
    }
}

/// What the policy decided for one leg.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegDecision {
    /// How the leg carries media.
    pub media: Media,
    /// The leg's security mode, as it counts toward the call's status.
    pub security: SecurityMode,
    /// Set when the leg got less than was asked for; callers log it and
    /// return it to the client.
    pub warning: Option<String>,
}

/// The runtime policy: modes, tables, the device registry and the policy
/// generation.
///
/// The generation starts at 1 and goes up by one whenever the cluster mode
/// or a device's mode changes, or a device is removed; a call records the
/// generation it was admitted under (see [`super::CallSecurityState`]).
#[derive(Clone, Debug)]
pub struct Policy {
    enforce: bool,
    cluster_mode: ClusterMode,
    srtp_request: SrtpRequestRule,
    authenticated_media: AuthenticatedMedia,
    allow_unknown_devices: bool,
    srtp_suites: Vec<Suite>,
    require_cryptex: bool,
    /// Upper-cased model name -> (display name, highest mode).
    models: BTreeMap<String, (String, SecurityMode)>,
    kinds: BTreeMap<LegKind, SecurityMode>,
    devices: BTreeMap<String, Device>,
    generation: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_config(&PolicyConfig::default()).expect("the default policy is valid")
    }
}

fn model_key(model: &str) -> String {
    model.trim().to_ascii_uppercase()
}

impl Policy {
    /// Builds the policy from the `[security]` section: the guide's tables,
    /// extended by the configuration, and the configured devices (each
    /// checked against its model and kind).
    pub fn from_config(cfg: &PolicyConfig) -> Result<Policy, PolicyError> {
        let mut models = BTreeMap::new();
        for row in DEFAULT_MODELS {
            models.insert(model_key(row.model), (row.model.to_string(), row.max_mode));
        }
        for (m, mode) in &cfg.models {
            models.insert(model_key(m), (m.trim().to_string(), *mode));
        }
        let mut kinds: BTreeMap<LegKind, SecurityMode> = DEFAULT_KIND_LIMITS.into_iter().collect();
        for (k, mode) in &cfg.leg_kinds {
            kinds.insert(*k, *mode);
        }
        if cfg.srtp_suites.is_empty() {
            return Err(PolicyError::NoSuites);
        }
        let mut srtp_suites = Vec::new();
        for name in &cfg.srtp_suites {
            let s = Suite::from_name(name).map_err(|_| PolicyError::BadSuite(name.clone()))?;
            if !s.encrypts() {
                return Err(PolicyError::BadSuite(name.clone()));
            }
            if !srtp_suites.contains(&s) {
                srtp_suites.push(s);
            }
        }
        let mut p = Policy {
            enforce: cfg.enforce,
            cluster_mode: cfg.cluster_mode,
            srtp_request: cfg.srtp_request,
            authenticated_media: cfg.authenticated_media,
            allow_unknown_devices: cfg.allow_unknown_devices,
            srtp_suites,
            require_cryptex: cfg.require_cryptex,
            models,
            kinds,
            devices: BTreeMap::new(),
            generation: 1,
        };
        for d in &cfg.devices {
            p.add_device(d.clone().into())?;
        }
        Ok(p)
    }

    /// Whether the security model is enforced (`[security] enforce`).
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// The cluster security mode.
    pub fn cluster_mode(&self) -> ClusterMode {
        self.cluster_mode
    }

    /// Whether every SDES-keyed SRTP leg must run RFC 9335 cryptex
    /// (`[security] require_cryptex`).
    pub fn require_cryptex(&self) -> bool {
        self.require_cryptex
    }

    /// The current policy generation (starts at 1).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What a nonsecure cluster does with a request for a secure leg.
    pub fn srtp_request(&self) -> SrtpRequestRule {
        self.srtp_request
    }

    /// How authenticated legs carry media.
    pub fn authenticated_media(&self) -> AuthenticatedMedia {
        self.authenticated_media
    }

    /// Whether unknown devices are admitted in mixed mode.
    pub fn allow_unknown_devices(&self) -> bool {
        self.allow_unknown_devices
    }

    /// The suites an encrypted leg may use, most preferred first.
    pub fn srtp_suites(&self) -> &[Suite] {
        &self.srtp_suites
    }

    /// Changes the cluster mode; a change bumps the generation. Returns the
    /// generation in force afterwards.
    pub fn set_cluster_mode(&mut self, mode: ClusterMode) -> u64 {
        if mode != self.cluster_mode {
            self.cluster_mode = mode;
            self.generation += 1;
        }
        self.generation
    }

    /// The strongest mode a model supports (`None`: unknown model).
    pub fn model_max(&self, model: &str) -> Option<SecurityMode> {
        self.models.get(&model_key(model)).map(|(_, m)| *m)
    }

    /// The capability table as (model, highest mode), sorted by model.
    pub fn models(&self) -> impl Iterator<Item = (&str, SecurityMode)> {
        self.models.values().map(|(n, m)| (n.as_str(), *m))
    }

    /// The strongest mode a leg kind may have.
    pub fn kind_max(&self, kind: LegKind) -> SecurityMode {
        self.kinds
            .get(&kind)
            .copied()
            .unwrap_or(SecurityMode::Nonsecure)
    }

    /// Checks that a device of `model` and `kind` can be run in `mode`.
    pub fn check_capability(
        &self,
        model: &str,
        kind: LegKind,
        mode: SecurityMode,
    ) -> Result<(), PolicyError> {
        let max = self
            .model_max(model)
            .ok_or_else(|| PolicyError::UnknownModel {
                model: model.to_string(),
            })?;
        if mode > max {
            return Err(PolicyError::ModelCannot {
                model: self.models[&model_key(model)].0.clone(),
                requested: mode,
                max,
            });
        }
        let kmax = self.kind_max(kind);
        if mode > kmax {
            return Err(PolicyError::KindCannot {
                kind,
                requested: mode,
                max: kmax,
            });
        }
        Ok(())
    }

    /// Registers a device (its mode checked against its model and kind).
    /// Adding does not bump the generation: no running call used it.
    pub fn add_device(&mut self, device: Device) -> Result<(), PolicyError> {
        let n = &device.name;
        if n.is_empty() || n.len() > 128 || n.chars().any(|c| c.is_control()) {
            return Err(PolicyError::InvalidDeviceName(n.clone()));
        }
        if self.devices.contains_key(n) {
            return Err(PolicyError::DeviceExists(n.clone()));
        }
        self.check_capability(&device.model, device.kind, device.mode)?;
        self.devices.insert(device.name.clone(), device);
        Ok(())
    }

    /// Changes a device's mode (checked against its model and kind); a
    /// change bumps the generation. Returns the generation afterwards.
    pub fn set_device_mode(&mut self, name: &str, mode: SecurityMode) -> Result<u64, PolicyError> {
        let d = self
            .devices
            .get(name)
            .ok_or_else(|| PolicyError::NoSuchDevice(name.to_string()))?;
        self.check_capability(&d.model, d.kind, mode)?;
        if d.mode != mode {
            if let Some(d) = self.devices.get_mut(name) {
                d.mode = mode;
            }
            self.generation += 1;
        }
        Ok(self.generation)
    }

    /// Unregisters a device; bumps the generation (its running calls were
    /// admitted under a policy that knew it).
    pub fn remove_device(&mut self, name: &str) -> Result<Device, PolicyError> {
        let d = self
            .devices
            .remove(name)
            .ok_or_else(|| PolicyError::NoSuchDevice(name.to_string()))?;
        self.generation += 1;
        Ok(d)
    }

    /// A registered device.
    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.get(name)
    }

    /// Registered devices, sorted by name.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Ids of the calls still running under a generation older than the
    /// current one (the guide's "reset the devices" step): `calls` yields
    /// (call id, generation admitted under).
    pub fn stale_calls<'a, I>(&self, calls: I) -> Vec<&'a str>
    where
        I: IntoIterator<Item = (&'a str, u64)>,
    {
        super::status::stale_calls(calls, self.generation)
    }
}

/// Decides one leg: which media it carries and how it counts toward the
/// call's security status.
///
/// * `subject`: the registered device the leg faces, or the kind of a
///   non-device endpoint.
/// * `requested`: the mode the leg asks for (an SDP offer with SRTP keys asks
///   for `Encrypted`; one with a NULL suite for `Authenticated`; plain RTP
///   for `Nonsecure`).
/// * `peer_supports_null_cipher`: whether the peer accepts
///   `NULL_HMAC_SHA1_80`.
///
/// Rules, in order: a nonsecure cluster issues no SRTP keys (a secure request
/// is refused or downgraded with a warning, per `srtp_request`); in mixed
/// mode an unregistered device is refused unless `allow_unknown_devices`
/// (then it is nonsecure); a request above what the device's model, its
/// configured mode or the leg kind allows is refused with an error naming
/// them; a request at or below is granted as asked.
pub fn decide_leg(
    policy: &Policy,
    subject: LegSubject<'_>,
    requested: SecurityMode,
    peer_supports_null_cipher: bool,
) -> Result<LegDecision, PolicyError> {
    if !policy.enforce {
        // The model is off: grant what is asked, with every suite.
        let _ = (subject, peer_supports_null_cipher);
        return Ok(match requested {
            SecurityMode::Nonsecure => rtp(SecurityMode::Nonsecure, None),
            SecurityMode::Authenticated => LegDecision {
                media: Media::NullCipher,
                security: SecurityMode::Authenticated,
                warning: None,
            },
            SecurityMode::Encrypted => LegDecision {
                media: Media::Srtp(Suite::ALL.into_iter().filter(|s| s.encrypts()).collect()),
                security: SecurityMode::Encrypted,
                warning: None,
            },
        });
    }
    if policy.cluster_mode == ClusterMode::Nonsecure {
        if requested == SecurityMode::Nonsecure {
            return Ok(rtp(SecurityMode::Nonsecure, None));
        }
        return match policy.srtp_request {
            SrtpRequestRule::Refuse => Err(PolicyError::SecureLegInNonsecureCluster { requested }),
            SrtpRequestRule::Downgrade => Ok(rtp(
                SecurityMode::Nonsecure,
                Some(format!(
                    "{requested} media was requested but the cluster security mode is \
                     nonsecure: the leg is downgraded to plain RTP (srtp_request = \"downgrade\")"
                )),
            )),
        };
    }

    // Mixed mode: find the ceiling for this leg.
    match subject {
        LegSubject::Device(name) => match policy.devices.get(name) {
            Some(d) => {
                policy.check_capability(&d.model, d.kind, requested)?;
                if requested > d.mode {
                    return Err(PolicyError::AboveDeviceMode {
                        device: d.name.clone(),
                        configured: d.mode,
                        requested,
                    });
                }
            }
            None if policy.allow_unknown_devices => {
                if requested > SecurityMode::Nonsecure {
                    return Err(PolicyError::AboveDeviceMode {
                        device: name.to_string(),
                        configured: SecurityMode::Nonsecure,
                        requested,
                    });
                }
            }
            None => {
                return Err(PolicyError::UnknownDevice {
                    name: name.to_string(),
                })
            }
        },
        LegSubject::Kind(kind) => {
            let max = policy.kind_max(kind);
            if requested > max {
                return Err(PolicyError::KindCannot {
                    kind,
                    requested,
                    max,
                });
            }
        }
    }

    Ok(match requested {
        SecurityMode::Nonsecure => rtp(SecurityMode::Nonsecure, None),
        SecurityMode::Encrypted => LegDecision {
            media: Media::Srtp(policy.srtp_suites.clone()),
            security: SecurityMode::Encrypted,
            warning: None,
        },
        SecurityMode::Authenticated => match policy.authenticated_media {
            AuthenticatedMedia::Rtp => rtp(SecurityMode::Authenticated, None),
            AuthenticatedMedia::NullCipher if peer_supports_null_cipher => LegDecision {
                media: Media::NullCipher,
                security: SecurityMode::Authenticated,
                warning: None,
            },
            AuthenticatedMedia::NullCipher => rtp(
                SecurityMode::Nonsecure,
                Some(
                    "authenticated media was requested but the peer does not support \
                     NULL_HMAC_SHA1_80: the leg is plain RTP and counts as nonsecure \
                     (set authenticated_media = \"rtp\" to count such legs as authenticated)"
                        .to_string(),
                ),
            ),
        },
    })
}

fn rtp(security: SecurityMode, warning: Option<String>) -> LegDecision {
    LegDecision {
        media: Media::Rtp,
        security,
        warning,
    }
}
