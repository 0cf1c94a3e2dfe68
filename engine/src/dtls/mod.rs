//! DTLS-SRTP (RFC 5763/5764) as a sans-I/O endpoint: datagrams in,
//! datagrams out, and at the end of the handshake the SRTP master keys of
//! both directions, exported from the DTLS session (RFC 5705) into
//! [`crate::srtp::MasterKey`]s.
//!
//! Why OpenSSL (the `openssl` crate) and not a Rust DTLS: peers on the SIP
//! side (FreeSWITCH, Asterisk, `openssl s_server`) present RSA
//! certificates, RSA-4096 among them; `dimpl`, the sans-I/O Rust DTLS
//! aimed at WebRTC, has RSA as a non-goal, and rustls has no DTLS. OpenSSL
//! is also what rtpengine uses, so interoperability matches the peer the
//! issue measures against. The handshake runs off the packet path (the
//! worker hands DTLS records to the control plane); only the exported
//! keys reach the SRTP contexts.
//!
//! How: OpenSSL drives a [`Pipe`] (its `Read` hands out one queued
//! datagram per call, its `Write` queues one datagram per call), so the
//! endpoint owns no socket. The peer's certificate is checked against the
//! SDP `a=fingerprint` inside the handshake (fail closed: a mismatch
//! aborts it) and once more after it. OpenSSL retransmits a flight when
//! [`Endpoint::on_timer`] finds its timer expired (1 s doubling to 60 s).

mod cert;
mod endpoint;

pub use cert::{Certificate, Fingerprint};
pub use endpoint::{Endpoint, Event, Profile, Role, SrtpKeys};

/// Why DTLS failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtlsError {
    /// OpenSSL refused a setting or an operation (its text).
    Setup(String),
    /// The peer's certificate does not match the SDP fingerprint.
    FingerprintMismatch,
    /// The handshake failed (alert, bad record, no common SRTP profile).
    Handshake(String),
    /// The handshake ended without an SRTP profile (the peer did not
    /// negotiate `use_srtp`).
    NoSrtpProfile,
}

impl std::fmt::Display for DtlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DtlsError::Setup(m) => write!(f, "DTLS setup: {m}"),
            DtlsError::FingerprintMismatch => {
                f.write_str("the peer's certificate does not match its SDP fingerprint")
            }
            DtlsError::Handshake(m) => write!(f, "DTLS handshake failed: {m}"),
            DtlsError::NoSrtpProfile => f.write_str("the peer negotiated no SRTP profile"),
        }
    }
}

impl std::error::Error for DtlsError {}

impl From<openssl::error::ErrorStack> for DtlsError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        DtlsError::Setup(e.to_string())
    }
}

#[cfg(test)]
mod tests;
