//! Benchmark support for Rampart: a safe wrapper around libsrtp 2.3.0
//! ([`libsrtp`]), used by the criterion benchmarks (`benches/srtp.rs`), the
//! `srtp-table` binary and the cross-check tests in `rampart-tests`, and the
//! measuring loop those benchmarks share ([`harness`]).
//! Shared helpers for the end-to-end tests live in the test files themselves.

pub mod harness;
pub mod libsrtp;
