//! Sans-I/O SRTP and SRTCP (RFC 3711, 6188, 7714), with header-extension
//! encryption (RFC 6904 per element, RFC 9335 cryptex) as policy options.
//!
//! A [`Context`] holds one direction's keys: it either protects (a sender)
//! or unprotects (a receiver). It transforms packets in place in the caller's
//! buffer and returns the new length; it never allocates, never runs a key
//! schedule and never re-keys HMAC per packet (those are done once per master
//! key in [`keys`]). Per-SSRC state (ROC, replay window, SRTCP index) lives in
//! a stream table with O(1) lookup, so thousands of SSRCs cost no more per
//! packet than one.
//!
//! On receive the checks run in the order that keeps state safe: parse, MKI
//! and stream lookup, the cheap replay check, authentication, decryption,
//! and only then the replay window and ROC update. A packet that fails any
//! step changes nothing but the caller's buffer.
#![forbid(unsafe_code)]

pub mod batch;
mod cipher_engine;
mod context;
mod hmac_sha1;
pub mod keys;
pub mod replay;
pub mod suite;

pub use batch::{BatchOp, BatchPacket, Batcher, MacEngine, MAX_BATCH};
pub use cipher_engine::{CipherEngine, CIPHER_ENGINE_ENV};
pub use context::{
    stream_state_bytes, Context, ContextStats, Policy, SsrcPolicy, StreamCheckpoint,
    DEFAULT_MAX_STREAMS, MAX_KEYS, MAX_STREAM_STATE_BYTES,
};
pub use keys::{MasterKey, MAX_MKI_LEN, SRTCP_KEY_LIFETIME_MAX, SRTP_KEY_LIFETIME_MAX};
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};
pub use suite::{CipherKind, Suite, SuiteParams, SUITES};

/// Bytes at most that protect appends to an RTP or RTCP packet for any suite
/// and MKI: SRTCP index (4) + MKI (8) + tag (16).
pub const MAX_TRAILER_LEN: usize = 4 + MAX_MKI_LEN + 16;
