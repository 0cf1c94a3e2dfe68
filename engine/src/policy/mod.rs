//! The security policy: cluster mode, device and leg-kind capabilities, the
//! per-leg decision and the call's security status.
//!
//! Why a module of its own, and why pure: this is the CallManager 4.0
//! security model mapped onto a media relay (see `DESIGN.md`, "The security
//! model, mapped"). Which legs may get SRTP keys, which must stay plain RTP,
//! and what a call may claim about itself are decisions that must be the same
//! whether the call arrives over HTTP/JSON or the ng protocol, and they must
//! be testable row by row against the guide's tables without sockets. So the
//! module holds only data (the `[security]` configuration, the device
//! registry, the capability tables) and functions over it; the control plane
//! calls [`decide_leg`] for each leg, keeps one [`CallSecurityState`] per call
//! and asks [`Policy::stale_calls`] which calls still run under an older
//! policy generation.
//!
//! Nothing here does I/O, logs or allocates per packet; the trust list (which
//! mixed mode requires) lives in [`crate::trust`].

mod config;
mod decide;
mod status;

pub use config::{
    AuthenticatedMedia, ClusterMode, DeviceConfig, LegKind, ModelCapability, PolicyConfig,
    SecurityMode, SrtpRequestRule, DEFAULT_KIND_LIMITS, DEFAULT_MODELS, DEFAULT_SRTP_SUITES,
};
pub use decide::{decide_leg, Device, LegDecision, LegSubject, Media, Policy, PolicyError};
pub use status::{stale_calls, CallSecurity, CallSecurityState, LegId};
