//! The control plane: calls, legs, ports, keys and the HTTP/JSON API.
//!
//! Why it is separate from the data plane: the control plane owns the truth
//! about calls (who talks to whom, on which ports, with which keys) and may
//! block, allocate and log; the data plane owns sockets and packet counters
//! and must do none of that per packet. They meet only through the
//! `dataplane` contract (`docs/dataplane-contract.md`): the control plane
//! binds sockets, builds SRTP contexts and hands both to a worker, and reads
//! the worker's counters through shared atomics.
//!
//! - [`calls`]: the call service: one store of every call (admission, the
//!   call limit, data-plane ids, listing, the reaper) and the one install
//!   path (contexts, flows, reconcile) for HTTP, ng and librampart.
//!   ([`api::record`]: the record of an HTTP/librampart call: two legs,
//!   their keys, passthrough choice.)
//! - [`ports`]: the even/odd media port pool per address.
//! - [`keys`]: CSPRNG key generation and the API's key text form.
//! - [`api`]: the HTTP routes and JSON errors.
//! - [`metrics`]: Prometheus text.
//! - [`embedded`]: the API without HTTP, for librampart.
//! - [`node`]: starting and stopping it all; the no-media reaper.
//! - [`ng`]: the rtpengine ng protocol (UDP/TCP, bencode) for Kamailio and
//!   OpenSIPS; [`ng_call`]: its offer/answer call model; [`ng_bencode`]:
//!   strict, bounded bencode.
//! - [`sdp`], [`sdes`]: SDP parsing/rewriting and RFC 4568 `a=crypto`.
//! - [`security`]: the policy in force, per-leg decisions for both APIs,
//!   call security status bookkeeping.

pub mod api;
pub mod calls;
pub mod embedded;
pub mod ha;
pub mod keys;
pub mod metrics;
pub mod ng;
pub mod ng_bencode;
pub mod ng_call;
pub mod ng_state;
pub mod node;
pub mod ports;
pub mod restore;

pub mod sdes;
pub mod sdp;
pub mod security;
pub mod shared;
pub mod store;

pub use node::{EndReason, Node, NodeHandle, NodeInfo, Shared, SignalWatch, StartError};
