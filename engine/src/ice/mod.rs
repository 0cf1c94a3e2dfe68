//! ICE-lite for WebRTC legs (issue #14): STUN as a checked view and a
//! writer ([`stun`]), and the lite agent of one media stream ([`lite`]):
//! answering the browser's connectivity checks, following its nomination,
//! and watching consent.
//!
//! Why here and not in the data plane: both are pure functions over byte
//! slices and a little state, so they are tested (RFC 5769 known answers,
//! property tests, a fuzz target) without sockets; the worker that
//! receives a STUN datagram on a leg's port calls [`lite::IceLite`] and
//! sends what it returns.

pub mod lite;
pub mod stun;
