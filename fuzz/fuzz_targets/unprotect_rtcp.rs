//! Arbitrary bytes to `unprotect_rtcp` and `verify_rtcp` (never panic, same
//! verdict, a rejection changes no state); see `common.rs` for the input
//! layout: selector byte, then the packet (or, in tamper mode, a position,
//! a mask and a plaintext RTCP packet to protect and corrupt).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::unprotect_target(data, true));
