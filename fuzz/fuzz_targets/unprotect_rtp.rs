//! Arbitrary bytes to `unprotect_rtp` and `verify_rtp` (never panic, same
//! verdict, a rejection changes no state); see `common.rs` for the input
//! layout: selector byte, then the packet (or, in tamper mode, a position,
//! a mask and a plaintext RTP packet to protect and corrupt).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::unprotect_target(data, false));
