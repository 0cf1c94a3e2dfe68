//! SDP (RFC 8866, formerly 4566) parsing and rewriting for the offer/answer
//! path.
//!
//! Why it keeps raw lines: a relay rewrites only a few things in the SDP it
//! passes on (addresses, ports, `a=rtcp`, `a=crypto`, direction, ICE and
//! DTLS attributes) and must hand everything else on untouched, including
//! attributes it has never heard of, their order and the line endings.
//! So an [`Sdp`] is the list of lines as received, split into the session
//! part and one [`Media`] per `m=` line, and the accessors parse the few
//! lines Rampart understands on demand. An SDP that was not modified prints
//! back byte for byte; a rewrite replaces only the lines it concerns.
//!
//! The lines Rampart relies on (`v=`, `o=`, `s=`, `c=`, `m=`, media
//! `a=rtcp`) are checked when parsing, so a malformed one is reported with
//! its line number up front and the accessors need no error path. `a=crypto`
//! lines are checked by [`Media::crypto`], which also names the line.
//!
//! Input is bounded ([`MAX_SDP_LEN`], [`MAX_LINE_LEN`], [`MAX_MEDIA`]) and no
//! input makes the parser panic. Lines that carry secrets (`a=crypto`, `k=`,
//! `a=ice-pwd`) are redacted in `Debug` output and zeroized when dropped.
//!
//! Layout: `model` (the typed values accessors return: addresses and
//! directions), `line` (raw lines, their endings, redaction and the helpers
//! that rewrite line lists), `parse` (text to [`Sdp`], every check with its
//! line number), `session` ([`Sdp`]: session-level accessors, rewrites and
//! printing) and `media` ([`Media`]: one media section).

mod line;
mod media;
mod model;
mod parse;
mod session;
pub mod webrtc;

pub use media::Media;
pub use model::{AddrType, Connection, Direction};
pub use session::Sdp;

/// Largest SDP accepted, in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Longest line accepted, in bytes, without its line ending.
pub const MAX_LINE_LEN: usize = 4096;
/// Most media sections (`m=` lines) accepted.
pub const MAX_MEDIA: usize = 64;

/// ICE attributes that [`Sdp::remove_ice`] removes (RFC 8839).
pub const ICE_ATTRIBUTES: [&str; 9] = [
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "ice-pacing",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
];

/// DTLS attributes that [`Sdp::remove_dtls`] removes (RFC 8122, 8842), in
/// addition to every attribute whose name starts with `dtls-`.
pub const DTLS_ATTRIBUTES: [&str; 3] = ["fingerprint", "setup", "tls-id"];

/// Why an SDP is refused: the 1-based line (0 for the whole document) and
/// the reason. The message never contains key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpError {
    /// 1-based line number in the SDP as received; 0 for the whole document.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl SdpError {
    fn new(line: usize, message: impl Into<String>) -> SdpError {
        SdpError {
            line,
            message: message.into(),
        }
    }
}

impl core::fmt::Display for SdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SDP line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SdpError {}

#[cfg(test)]
mod tests;
