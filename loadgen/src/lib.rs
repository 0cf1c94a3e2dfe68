//! `rampart-loadgen`: drives real SRTP calls through a media relay and
//! reports what arrived.
//!
//! - [`target`]: call setup through the relay's control interface
//!   (Rampart's HTTP API, or the ng protocol of rtpengine), with
//!   [`bencode`], [`sdp`] and [`http`] underneath.
//! - [`player`]: the phones: paced, batched SRTP senders and checking
//!   receivers over [`sys`] (the one module with `unsafe`).
//! - [`stats`], [`cpu`], [`report`]: what was measured and how it is shown.
//! - [`runner`]: one measured run, and the step search over call counts.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bencode;
pub mod cpu;
pub mod http;
pub mod payload;
pub mod player;
pub mod report;
pub mod runner;
pub mod sdp;
pub mod stats;
pub mod sys;
pub mod target;

pub use report::{Report, StepReport};
pub use runner::{run, step_search, RunConfig, StepConfig};
pub use target::{CallSetup, LegSetup, Target, TargetSpec};
