//! The request documents of the API (`docs/api.md`): unknown fields are
//! refused, so a typo is an error rather than a silently ignored option.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::dataplane::LatchMode;
use crate::policy::{LegKind, SecurityMode};

use super::super::keys::{KeyText, Lifetime};
use super::record::{Family, LegMode};
use super::ApiError;

// ---- request shapes ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `POST /calls` (docs/api.md).
pub struct CreateCall {
    #[serde(default)]
    pub(super) call_id: Option<String>,
    pub(super) legs: Vec<LegRequest>,
    /// Make each leg's outbound key the other leg's inbound key, so media
    /// is authenticated and forwarded unchanged (verified passthrough).
    #[serde(default)]
    pub(super) passthrough: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LegRequest {
    #[serde(default)]
    pub(super) mode: Option<LegMode>,
    /// The registered device the leg faces.
    #[serde(default)]
    pub(super) device: Option<String>,
    /// The kind of endpoint the leg faces (default: a phone).
    #[serde(default)]
    pub(super) kind: Option<LegKind>,
    /// The mode asked for (default: derived from `mode` and `suite`).
    #[serde(default)]
    pub(super) security: Option<SecurityMode>,
    /// The peer accepts `NULL_HMAC_SHA1_80` (for authenticated legs).
    #[serde(default)]
    pub(super) null_cipher: bool,
    #[serde(default)]
    pub(super) suite: Option<String>,
    #[serde(default)]
    pub(super) family: Family,
    #[serde(default)]
    pub(super) remote: Option<SocketAddr>,
    #[serde(default)]
    pub(super) remote_rtcp: Option<SocketAddr>,
    #[serde(default)]
    pub(super) rtcp_mux: bool,
    #[serde(default)]
    pub(super) latch: LatchMode,
    #[serde(default)]
    pub(super) keys: Option<KeysRequest>,
    #[serde(default)]
    pub(super) replay_window: Option<usize>,
    /// DTLS-SRTP with the leg's peer: a handshake keys the leg.
    #[serde(default)]
    pub(super) dtls: Option<DtlsRequest>,
    /// ICE-lite toward the leg's peer.
    #[serde(default)]
    pub(super) ice: Option<IceRequest>,
    /// BUNDLE: the leg shares the port and the ICE/DTLS transport of a
    /// running call's WebRTC leg.
    #[serde(default)]
    pub(super) bundle: Option<BundleRequest>,
    /// RFC 9335 cryptex with the leg's peer (SDES-keyed SRTP legs): header
    /// extensions and CSRCs are encrypted when sending; both forms are
    /// taken on receive.
    #[serde(default)]
    pub(super) cryptex: bool,
    /// RFC 6904: the header extension IDs (1-255) whose elements are
    /// encrypted with the leg's peer (SDES-keyed SRTP legs).
    #[serde(default)]
    pub(super) encrypted_extensions: Vec<u8>,
}

/// The leg a bundled leg joins (RFC 8843: its sections share one port).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BundleRequest {
    /// The call whose leg owns the port.
    pub(super) call_id: String,
    /// That leg's index.
    pub(super) leg: usize,
    /// The payload types this leg's peer sends (how the node tells the
    /// sections' packets apart before it learns their SSRCs).
    #[serde(default)]
    pub(super) payload_types: Vec<u8>,
}

/// A leg's DTLS-SRTP peer, as its SDP says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DtlsRequest {
    /// Its `a=fingerprint` value (`sha-256 AB:CD:...`).
    pub(super) fingerprint: String,
    /// Its `a=setup` (`actpass`, the default; `active`; `passive`).
    #[serde(default)]
    pub(super) setup: Option<String>,
}

/// A leg's ICE peer, as its SDP says.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct IceRequest {
    /// Its `a=ice-ufrag` (checks must name it).
    #[serde(default)]
    pub(super) ufrag: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct KeysRequest {
    #[serde(default)]
    pub(super) inbound: Option<KeyText>,
    #[serde(default)]
    pub(super) outbound: Option<KeyText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `PATCH /calls/{id}/legs/{leg}` (docs/api.md).
pub struct PatchLeg {
    #[serde(default)]
    pub(super) remote: Option<SocketAddr>,
    #[serde(default)]
    pub(super) remote_rtcp: Option<SocketAddr>,
    #[serde(default)]
    pub(super) latch: Option<LatchMode>,
    #[serde(default)]
    pub(super) rekey: Option<Rekey>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Direction {
    Inbound,
    Outbound,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rekey {
    pub(super) direction: Direction,
    #[serde(default)]
    pub(super) key: Option<String>,
    #[serde(default)]
    pub(super) mki: Option<String>,
    #[serde(default)]
    pub(super) lifetime: Option<Lifetime>,
    #[serde(default)]
    pub(super) activate: bool,
}

// ---- answers -------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct KeyAnswer {
    #[serde(flatten)]
    pub(super) text: KeyText,
    pub(super) generated: bool,
}

impl LegRequest {
    /// `cryptex` and `encrypted_extensions` are SDES-keyed SRTP's here (a
    /// DTLS leg's contexts come from its handshake; an RTP leg has none),
    /// and extension IDs are 1-255: anything else is refused (leg `i`),
    /// never ignored.
    pub(super) fn check_header_protection(&self, i: usize) -> Result<(), ApiError> {
        if !self.cryptex && self.encrypted_extensions.is_empty() {
            return Ok(());
        }
        let not_sdes = matches!(self.mode, Some(LegMode::Rtp | LegMode::Dtls))
            || self.dtls.is_some()
            || self.bundle.is_some()
            || self.security == Some(SecurityMode::Nonsecure);
        if not_sdes {
            return Err(ApiError::bad(
                "invalid_request",
                format!("leg {i}: cryptex and encrypted_extensions are for SDES-keyed SRTP legs"),
            ));
        }
        if self.encrypted_extensions.contains(&0) {
            return Err(ApiError::bad(
                "invalid_request",
                format!("leg {i}: encrypted_extensions are RTP header extension IDs, 1-255"),
            ));
        }
        Ok(())
    }

    /// The request's extension IDs as a set: sorted, each once (at most
    /// 255, whatever the request repeats).
    pub(super) fn extension_ids(&self) -> Vec<u8> {
        let mut v = self.encrypted_extensions.clone();
        v.sort_unstable();
        v.dedup();
        v
    }
}
