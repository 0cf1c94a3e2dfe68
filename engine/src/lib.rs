//! Rampart: an SRTP media relay.
//!
//! The crate is layered so that what decides the bytes on the wire is pure and
//! testable without sockets: [`srtp`] (SRTP/SRTCP transforms and per-SSRC
//! state) and [`rtp`] (zero-copy RTP/RTCP header views) do no I/O, no
//! threading and no per-packet allocation.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod rtp;
pub mod srtp;

pub use error::Error;
