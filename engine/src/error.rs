//! One error type for the SRTP core and the packet views.
//!
//! Every failure on the data plane is a value with a name, so the packet loop
//! can count it under that name and drop the packet; nothing here panics on
//! any input. Errors never carry key material.

use core::fmt;

/// Why a packet could not be parsed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedKind {
    /// Shorter than the fixed header, or than the header plus the trailer
    /// (MKI, SRTCP index, tag) the context expects.
    Truncated,
    /// The version field is not 2.
    BadVersion,
    /// The CSRC list runs past the end of the packet.
    CsrcOverrun,
    /// The header extension runs past the end of the packet.
    ExtensionOverrun,
    /// The padding count is zero or longer than the payload.
    BadPadding,
    /// An RTCP length field disagrees with the bytes present.
    BadLength,
    /// The packet type is not what the call expected (RTP given to an RTCP
    /// function, or the reverse).
    WrongPacketType,
    /// A header extension that header-extension encryption (RFC 6904,
    /// RFC 9335) must process is not an RFC 8285 block, or one of its
    /// elements runs past it.
    BadExtension,
}

impl MalformedKind {
    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            MalformedKind::Truncated => "truncated",
            MalformedKind::BadVersion => "bad_version",
            MalformedKind::CsrcOverrun => "csrc_overrun",
            MalformedKind::ExtensionOverrun => "extension_overrun",
            MalformedKind::BadPadding => "bad_padding",
            MalformedKind::BadLength => "bad_length",
            MalformedKind::WrongPacketType => "wrong_packet_type",
            MalformedKind::BadExtension => "bad_extension",
        }
    }
}

/// Everything that can go wrong in the SRTP core and the packet views.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The authentication tag did not verify (forged or corrupted packet).
    AuthFailed,
    /// The packet index was already received (a replay).
    Replayed,
    /// The packet index is older than the replay window can judge.
    TooOld,
    /// The packet is not a well-formed RTP/RTCP/SRTP/SRTCP packet.
    Malformed(MalformedKind),
    /// No stream for this SSRC, and the context does not accept new ones.
    UnknownSsrc(u32),
    /// The packet's MKI names no master key of this context.
    UnknownMki,
    /// The master key reached its lifetime (2^48 SRTP, 2^31 SRTCP packets or
    /// the configured lower limit); a new key is needed.
    KeyExhausted,
    /// The buffer has no room for the trailer protect appends.
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A template context already holds its maximum number of streams.
    TooManyStreams {
        /// The configured limit.
        limit: usize,
    },
    /// A key, salt, MKI or policy value is unusable; the text says which.
    InvalidConfig(&'static str),
    /// A crypto suite name is not one Rampart knows.
    UnknownSuite,
}

impl Error {
    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Error::AuthFailed => "auth_failed",
            Error::Replayed => "replayed",
            Error::TooOld => "too_old",
            Error::Malformed(_) => "malformed",
            Error::UnknownSsrc(_) => "unknown_ssrc",
            Error::UnknownMki => "unknown_mki",
            Error::KeyExhausted => "key_exhausted",
            Error::BufferTooSmall { .. } => "buffer_too_small",
            Error::TooManyStreams { .. } => "too_many_streams",
            Error::InvalidConfig(_) => "invalid_config",
            Error::UnknownSuite => "unknown_suite",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AuthFailed => f.write_str("authentication failed"),
            Error::Replayed => f.write_str("replayed packet"),
            Error::TooOld => f.write_str("packet older than the replay window"),
            Error::Malformed(k) => write!(f, "malformed packet: {}", k.as_str()),
            Error::UnknownSsrc(s) => write!(f, "unknown SSRC {s:#010x}"),
            Error::UnknownMki => f.write_str("unknown MKI"),
            Error::KeyExhausted => f.write_str("master key lifetime exhausted"),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: need {needed} bytes, have {available}")
            }
            Error::TooManyStreams { limit } => {
                write!(f, "too many SSRC streams (limit {limit})")
            }
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            Error::UnknownSuite => f.write_str("unknown crypto suite"),
        }
    }
}

impl std::error::Error for Error {}

impl From<MalformedKind> for Error {
    fn from(kind: MalformedKind) -> Self {
        Error::Malformed(kind)
    }
}
