//! librampart: Rampart's SRTP core and media node behind a stable C ABI.
//!
//! The C header `include/rampart.h` is generated from this crate by cbindgen
//! (`ffi/cbindgen.toml`) and checked in; a test fails when it is stale.
//!
//! Every exported function:
//! - checks each pointer for null and each length against what it points
//!   to, and answers [`rampart_status::RAMPART_ERR_NULL_POINTER`] or
//!   [`rampart_status::RAMPART_ERR_INVALID_ARGUMENT`] instead of reading it;
//! - runs its body inside [`std::panic::catch_unwind`] (the rustls-ffi
//!   pattern), so a panic becomes [`rampart_status::RAMPART_ERR_PANIC`] and
//!   never unwinds into C.
//!
//! Every `unsafe` operation (turning C pointers into references and slices,
//! and handing boxed objects to and back from C) lives in [`ptr`], each with
//! its `SAFETY:` argument; the other modules are safe Rust.
//!
//! Thread safety: a `rampart_session` is used by one thread at a time
//! (it may move between threads); separate sessions are independent. A
//! `rampart_node` may be called from several threads at once, except
//! `rampart_node_stop`, which must be the last call on it.
#![allow(unsafe_code)] // `extern "C"` exports (`#[no_mangle]`); pointers go through `ptr`
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// C names: the header is the contract, so types and constants carry their
// C spelling (`rampart_session`, `RAMPART_OK`).
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod srtp;

pub mod node;

mod ptr;

/// Major version of librampart (semver).
pub const RAMPART_VERSION_MAJOR: u32 = 0;
/// Minor version of librampart (semver).
pub const RAMPART_VERSION_MINOR: u32 = 1;
/// Patch version of librampart (semver).
pub const RAMPART_VERSION_PATCH: u32 = 0;
/// ABI version: the `N` of the soname `librampart.so.N`. It changes with
/// every incompatible change to this header (a removed or changed function,
/// a changed struct layout or constant), independently of the semver above.
pub const RAMPART_ABI_VERSION: u32 = 0;

/// Result of every fallible librampart call. `RAMPART_OK` is 0; every
/// other value is an error whose meaning [`rampart_status_str`] names.
/// Values are stable: new codes may be added, existing ones never change.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum rampart_status {
    /// Success.
    RAMPART_OK = 0,
    /// A required pointer argument was NULL.
    RAMPART_ERR_NULL_POINTER = 1,
    /// A length, index or flag argument is out of range (for example a
    /// packet length larger than the buffer's capacity, or a string that is
    /// not UTF-8).
    RAMPART_ERR_INVALID_ARGUMENT = 2,
    /// The suite number or name is not one librampart knows.
    RAMPART_ERR_UNKNOWN_SUITE = 3,
    /// A key, salt, MKI, replay window or other policy value is unusable
    /// (wrong length for the suite, duplicate MKI, ...).
    RAMPART_ERR_INVALID_CONFIG = 4,
    /// The packet's authentication tag did not verify.
    RAMPART_ERR_AUTH_FAILED = 5,
    /// The packet was already received (a replay).
    RAMPART_ERR_REPLAYED = 6,
    /// The packet is older than the replay window can judge.
    RAMPART_ERR_TOO_OLD = 7,
    /// The packet is not well-formed RTP/RTCP/SRTP/SRTCP (too short, bad
    /// version, bad lengths, RTP given to an RTCP call, ...).
    RAMPART_ERR_MALFORMED = 8,
    /// No stream for the packet's SSRC, and the session does not accept new
    /// ones (a session for one specific SSRC).
    RAMPART_ERR_UNKNOWN_SSRC = 9,
    /// The packet's MKI names no key of the session.
    RAMPART_ERR_UNKNOWN_MKI = 10,
    /// The master key reached its lifetime; add a new key.
    RAMPART_ERR_KEY_EXHAUSTED = 11,
    /// The buffer's capacity cannot hold the protected packet; `*out_len`
    /// receives the capacity needed.
    RAMPART_ERR_BUFFER_TOO_SMALL = 12,
    /// The session holds its maximum number of SSRC streams.
    RAMPART_ERR_TOO_MANY_STREAMS = 13,
    /// The SSRC has no stream in this session yet (get ROC / SRTCP index).
    RAMPART_ERR_NOT_FOUND = 14,
    /// The node configuration (TOML) is malformed or unusable.
    RAMPART_ERR_NODE_CONFIG = 20,
    /// The node could not start (sockets, threads).
    RAMPART_ERR_NODE_START = 21,
    /// The node's control API could not be reached (I/O error or timeout).
    RAMPART_ERR_NODE_IO = 22,
    /// The control API answered with an error: the response holds its JSON
    /// error document `{"error": {"code", "message"}}`.
    RAMPART_ERR_API = 23,
    /// librampart panicked inside the call (a bug). The object the call was
    /// given should be freed and not used again.
    RAMPART_ERR_PANIC = 98,
    /// An error librampart has no code for (a bug, or a newer engine error).
    RAMPART_ERR_INTERNAL = 99,
}

pub use rampart_status::*;

/// Runs an exported function's body: its `Err` becomes the returned status,
/// and a panic becomes `RAMPART_ERR_PANIC` instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), rampart_status>) -> rampart_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RAMPART_OK,
        Ok(Err(status)) => status,
        Err(_) => RAMPART_ERR_PANIC,
    }
}

/// Like [`guard`] for functions that return a value rather than a status:
/// a panic yields `on_panic`.
pub(crate) fn guard_value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// The library version, `"MAJOR.MINOR.PATCH"` (semver), as a static
/// NUL-terminated string. Never NULL; do not free it.
#[no_mangle]
pub extern "C" fn rampart_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static, NUL-terminated description of a status code: `"ok"`,
/// `"authentication failed"`, ... Unknown codes give `"unknown status"`.
/// Never NULL; do not free it.
#[no_mangle]
pub extern "C" fn rampart_status_str(status: c_int) -> *const c_char {
    let s = match status {
        0 => c"ok",
        1 => c"null pointer argument",
        2 => c"invalid argument",
        3 => c"unknown crypto suite",
        4 => c"invalid configuration (key, salt, MKI or policy value)",
        5 => c"authentication failed",
        6 => c"replayed packet",
        7 => c"packet older than the replay window",
        8 => c"malformed packet",
        9 => c"unknown SSRC",
        10 => c"unknown MKI",
        11 => c"master key lifetime exhausted",
        12 => c"buffer too small",
        13 => c"too many SSRC streams",
        14 => c"no such stream",
        20 => c"invalid node configuration",
        21 => c"node failed to start",
        22 => c"node control API unreachable",
        23 => c"node control API answered an error",
        98 => c"internal panic (bug in librampart)",
        99 => c"internal error",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// Maps an engine error to its status code.
pub(crate) fn status_of(e: &rampart::Error) -> rampart_status {
    use rampart::Error as E;
    match e {
        E::AuthFailed => RAMPART_ERR_AUTH_FAILED,
        E::Replayed => RAMPART_ERR_REPLAYED,
        E::TooOld => RAMPART_ERR_TOO_OLD,
        E::Malformed(_) => RAMPART_ERR_MALFORMED,
        E::UnknownSsrc(_) => RAMPART_ERR_UNKNOWN_SSRC,
        E::UnknownMki => RAMPART_ERR_UNKNOWN_MKI,
        E::KeyExhausted => RAMPART_ERR_KEY_EXHAUSTED,
        E::BufferTooSmall { .. } => RAMPART_ERR_BUFFER_TOO_SMALL,
        E::TooManyStreams { .. } => RAMPART_ERR_TOO_MANY_STREAMS,
        E::InvalidConfig(_) => RAMPART_ERR_INVALID_CONFIG,
        E::UnknownSuite => RAMPART_ERR_UNKNOWN_SUITE,
        _ => RAMPART_ERR_INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate() {
        let v = cstr(rampart_version());
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        let want =
            format!("{RAMPART_VERSION_MAJOR}.{RAMPART_VERSION_MINOR}.{RAMPART_VERSION_PATCH}");
        assert_eq!(want, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            RAMPART_ABI_VERSION.to_string(),
            env!("RAMPART_BUILD_ABI_VERSION"),
            "build.rs ABI_VERSION (soname) and RAMPART_ABI_VERSION differ"
        );
    }

    fn cstr(p: *const c_char) -> String {
        // Test-only: static strings from this crate.
        crate::ptr::static_cstr(p).to_string()
    }

    #[test]
    fn every_status_has_a_name() {
        for code in [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20, 21, 22, 23, 98, 99,
        ] {
            let s = cstr(rampart_status_str(code));
            assert_ne!(s, "unknown status", "{code}");
        }
        assert_eq!(cstr(rampart_status_str(-1)), "unknown status");
        assert_eq!(cstr(rampart_status_str(1000)), "unknown status");
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let st = guard(|| panic!("boom"));
        let v = guard_value(7u32, || panic!("boom"));
        std::panic::set_hook(prev);
        assert_eq!(st, RAMPART_ERR_PANIC);
        assert_eq!(v, 7);
        assert_eq!(guard(|| Err(RAMPART_ERR_REPLAYED)), RAMPART_ERR_REPLAYED);
        assert_eq!(guard(|| Ok(())), RAMPART_OK);
    }
}
