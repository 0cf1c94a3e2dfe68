//! Rampart: an SRTP media relay.
//!
//! The crate is layered so that what decides the bytes on the wire is pure and
//! testable without sockets: [`srtp`] (SRTP/SRTCP transforms and per-SSRC
//! state) and [`rtp`] (zero-copy RTP/RTCP header views) do no I/O, no
//! threading and no per-packet allocation; both forbid `unsafe`. The crate
//! forbids `unsafe` everywhere else too: every system call the data plane
//! makes is in the `rampart-sys` crate, which hands back classified
//! outcomes rather than errno values.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cidr;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod dtls;
pub mod error;
pub mod ice;
pub mod policy;
pub mod rtp;
pub mod srtp;
pub mod trust;
pub mod webrtc;

pub use error::Error;

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
