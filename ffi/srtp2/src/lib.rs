//! librampart-srtp2: the libsrtp 2.x C API over Rampart's SRTP core, so a
//! program written for libsrtp2 (Janus, GStreamer's `srtpenc`/`srtpdec`,
//! Asterisk, pjproject, FreeSWITCH, pylibsrtp ...) links it, or is pointed
//! at it by the loader, without a code change.
//!
//! What it keeps of libsrtp 2.5: the header (`include/srtp2/srtp.h`),
//! struct layouts, enum values, error codes and the semantics callers rely
//! on (templates, one per session; streams cloned on first use; the
//! replay window; `allow_repeat_tx`; the first SRTCP index 1; MKIs; ROC
//! get/set; the event handler). What it changes: protect never writes past
//! the trailer it reports (libsrtp's contract reserves 144 bytes; this
//! library writes at most 32), every exported function catches panics
//! (`srtp_err_status_fail`), and pointers are checked for NULL. What it
//! refuses (`srtp_err_status_bad_param` at `srtp_create`): policies with
//! no authentication, 8-byte GCM tags, 4-byte SRTCP tags, MKIs over 8
//! bytes, RFC 6904 header encryption; the list is in README.md.
//!
//! Every `unsafe` operation lives in [`ptr`]; the rest is safe Rust.
#![allow(unsafe_code)] // `#[no_mangle]` exports; the pointers go through `ptr`
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// C names: libsrtp's header is the contract.
#![allow(non_camel_case_types, non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::RwLock;

pub mod abi;
mod policy;
mod ptr;
pub mod session;

use abi::*;
use session::{Events, Family, Session};

/// The object behind `srtp_t` (`struct srtp_ctx_t_` in C, opaque there).
pub struct srtp_ctx_t {
    session: Session,
}

/// The version this library reports: libsrtp 2.5.0's API.
const VERSION: c_uint = (2 << 24) | (5 << 16);

static EVENT_HANDLER: RwLock<srtp_event_handler_func_t> = RwLock::new(None);
static LOG_HANDLER: RwLock<(srtp_log_handler_func_t, usize)> = RwLock::new((None, 0));

/// Runs an exported function's body; a panic becomes
/// `srtp_err_status_fail` instead of unwinding into C.
fn guard(body: impl FnOnce() -> Result<(), srtp_err_status_t>) -> srtp_err_status_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => srtp_err_status_ok,
        Ok(Err(e)) => e,
        Err(_) => srtp_err_status_fail,
    }
}

/// Hands a call's events to the installed handler.
fn report(ctx: *mut srtp_ctx_t, events: Events) {
    if events.0.is_empty() {
        return;
    }
    let handler = *EVENT_HANDLER.read().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = handler {
        for (ssrc, event) in events.0 {
            ptr::call_handler(
                h,
                srtp_event_data_t {
                    session: ctx,
                    ssrc,
                    event,
                },
            );
        }
    }
}

/// `srtp_init`: nothing to set up (kept for the API); always succeeds.
#[no_mangle]
pub extern "C" fn srtp_init() -> srtp_err_status_t {
    srtp_err_status_ok
}

/// `srtp_shutdown`: nothing to tear down; always succeeds.
#[no_mangle]
pub extern "C" fn srtp_shutdown() -> srtp_err_status_t {
    srtp_err_status_ok
}

/// `srtp_create`: a session with the streams of the policy list at
/// `policy` (NULL: none yet).
#[no_mangle]
pub extern "C" fn srtp_create(
    session: *mut *mut srtp_ctx_t,
    policy: *const srtp_policy_t,
) -> srtp_err_status_t {
    guard(|| {
        if session.is_null() {
            return Err(srtp_err_status_bad_param);
        }
        let list = ptr::policy_list(policy)?;
        let s = Session::new(&list)?;
        ptr::write(session, ptr::into_raw(srtp_ctx_t { session: s }))
    })
}

/// `srtp_dealloc`: frees a session and every key it held (zeroized).
#[no_mangle]
pub extern "C" fn srtp_dealloc(session: *mut srtp_ctx_t) -> srtp_err_status_t {
    guard(|| {
        drop(ptr::from_raw(session).ok_or(srtp_err_status_bad_param)?);
        Ok(())
    })
}

/// `srtp_add_stream`: one stream (its `next` is not followed).
#[no_mangle]
pub extern "C" fn srtp_add_stream(
    session: *mut srtp_ctx_t,
    policy: *const srtp_policy_t,
) -> srtp_err_status_t {
    guard(|| {
        let s = ptr::session(session)?;
        s.session.add_stream(&ptr::one_policy(policy)?)
    })
}

/// `srtp_remove_stream`: `ssrc` in network byte order, as libsrtp.
#[no_mangle]
pub extern "C" fn srtp_remove_stream(session: *mut srtp_ctx_t, ssrc: c_uint) -> srtp_err_status_t {
    guard(|| {
        let s = ptr::session(session)?;
        s.session.remove_stream(u32::from_be(ssrc))
    })
}

/// `srtp_update`: new keys for every stream the policy list names.
#[no_mangle]
pub extern "C" fn srtp_update(
    session: *mut srtp_ctx_t,
    policy: *const srtp_policy_t,
) -> srtp_err_status_t {
    guard(|| {
        let s = ptr::session(session)?;
        if policy.is_null() {
            return Err(srtp_err_status_bad_param);
        }
        for p in ptr::policy_list(policy)? {
            s.session.update(&p)?;
        }
        Ok(())
    })
}

/// `srtp_update_stream`: new keys for one stream (or the template).
#[no_mangle]
pub extern "C" fn srtp_update_stream(
    session: *mut srtp_ctx_t,
    policy: *const srtp_policy_t,
) -> srtp_err_status_t {
    guard(|| {
        let s = ptr::session(session)?;
        s.session.update(&ptr::one_policy(policy)?)
    })
}

fn protect(
    ctx: *mut srtp_ctx_t,
    hdr: *mut c_void,
    len_ptr: *mut c_int,
    family: Family,
    mki: Option<c_uint>,
) -> srtp_err_status_t {
    let mut events = Events::default();
    let st = guard(|| {
        let s = ptr::session(ctx)?;
        let len = ptr::read_len(len_ptr)?;
        let pkt = ptr::packet(hdr, len)?;
        let extend = |n| ptr::packet(hdr, n);
        let n = s.session.protect(family, (pkt, extend), mki, &mut events)?;
        ptr::write_len(len_ptr, n)
    });
    report(ctx, events);
    st
}

fn unprotect(
    ctx: *mut srtp_ctx_t,
    hdr: *mut c_void,
    len_ptr: *mut c_int,
    family: Family,
    use_mki: bool,
) -> srtp_err_status_t {
    let mut events = Events::default();
    let st = guard(|| {
        let s = ptr::session(ctx)?;
        let len = ptr::read_len(len_ptr)?;
        let pkt = ptr::packet(hdr, len)?;
        let n = s.session.unprotect(family, pkt, use_mki, &mut events)?;
        ptr::write_len(len_ptr, n)
    });
    report(ctx, events);
    st
}

/// `srtp_protect`: RTP at `rtp_hdr`, `*len_ptr` bytes, protected in
/// place; the buffer must have room for the trailer
/// (`srtp_get_protect_trailer_length`).
#[no_mangle]
pub extern "C" fn srtp_protect(
    ctx: *mut srtp_ctx_t,
    rtp_hdr: *mut c_void,
    len_ptr: *mut c_int,
) -> srtp_err_status_t {
    protect(ctx, rtp_hdr, len_ptr, Family::Rtp, None)
}

/// `srtp_protect_mki`: as `srtp_protect`, with key `mki_index` and its MKI
/// when `use_mki` is non-zero.
#[no_mangle]
pub extern "C" fn srtp_protect_mki(
    ctx: *mut srtp_ctx_t,
    rtp_hdr: *mut c_void,
    len_ptr: *mut c_int,
    use_mki: c_uint,
    mki_index: c_uint,
) -> srtp_err_status_t {
    protect(
        ctx,
        rtp_hdr,
        len_ptr,
        Family::Rtp,
        (use_mki != 0).then_some(mki_index),
    )
}

/// `srtp_unprotect`: SRTP at `srtp_hdr`, authenticated, checked against
/// replay and decrypted in place; `*len_ptr` becomes the RTP length.
#[no_mangle]
pub extern "C" fn srtp_unprotect(
    ctx: *mut srtp_ctx_t,
    srtp_hdr: *mut c_void,
    len_ptr: *mut c_int,
) -> srtp_err_status_t {
    unprotect(ctx, srtp_hdr, len_ptr, Family::Rtp, false)
}

/// `srtp_unprotect_mki`: as `srtp_unprotect`; the key is picked by the
/// packet's MKI when `use_mki` is non-zero.
#[no_mangle]
pub extern "C" fn srtp_unprotect_mki(
    ctx: *mut srtp_ctx_t,
    srtp_hdr: *mut c_void,
    len_ptr: *mut c_int,
    use_mki: c_uint,
) -> srtp_err_status_t {
    unprotect(ctx, srtp_hdr, len_ptr, Family::Rtp, use_mki != 0)
}

/// `srtp_protect_rtcp`.
#[no_mangle]
pub extern "C" fn srtp_protect_rtcp(
    ctx: *mut srtp_ctx_t,
    rtcp_hdr: *mut c_void,
    len_ptr: *mut c_int,
) -> srtp_err_status_t {
    protect(ctx, rtcp_hdr, len_ptr, Family::Rtcp, None)
}

/// `srtp_protect_rtcp_mki`.
#[no_mangle]
pub extern "C" fn srtp_protect_rtcp_mki(
    ctx: *mut srtp_ctx_t,
    rtcp_hdr: *mut c_void,
    len_ptr: *mut c_int,
    use_mki: c_uint,
    mki_index: c_uint,
) -> srtp_err_status_t {
    protect(
        ctx,
        rtcp_hdr,
        len_ptr,
        Family::Rtcp,
        (use_mki != 0).then_some(mki_index),
    )
}

/// `srtp_unprotect_rtcp`.
#[no_mangle]
pub extern "C" fn srtp_unprotect_rtcp(
    ctx: *mut srtp_ctx_t,
    srtcp_hdr: *mut c_void,
    len_ptr: *mut c_int,
) -> srtp_err_status_t {
    unprotect(ctx, srtcp_hdr, len_ptr, Family::Rtcp, false)
}

/// `srtp_unprotect_rtcp_mki`.
#[no_mangle]
pub extern "C" fn srtp_unprotect_rtcp_mki(
    ctx: *mut srtp_ctx_t,
    srtcp_hdr: *mut c_void,
    len_ptr: *mut c_int,
    use_mki: c_uint,
) -> srtp_err_status_t {
    unprotect(ctx, srtcp_hdr, len_ptr, Family::Rtcp, use_mki != 0)
}

/// `srtp_set_user_data`.
#[no_mangle]
pub extern "C" fn srtp_set_user_data(ctx: *mut srtp_ctx_t, data: *mut c_void) {
    let _ = guard(|| {
        ptr::session(ctx)?.session.user_data = data as usize;
        Ok(())
    });
}

/// `srtp_get_user_data` (NULL for a NULL session).
#[no_mangle]
pub extern "C" fn srtp_get_user_data(ctx: *mut srtp_ctx_t) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        ptr::session(ctx).map_or(0, |s| s.session.user_data)
    }))
    .unwrap_or(0) as *mut c_void
}

/// `srtp_install_event_handler` (NULL: none).
#[no_mangle]
pub extern "C" fn srtp_install_event_handler(func: srtp_event_handler_func_t) -> srtp_err_status_t {
    guard(|| {
        *EVENT_HANDLER.write().unwrap_or_else(|e| e.into_inner()) = func;
        Ok(())
    })
}

/// `srtp_install_log_handler`: kept; this library logs nothing through it.
#[no_mangle]
pub extern "C" fn srtp_install_log_handler(
    func: srtp_log_handler_func_t,
    data: *mut c_void,
) -> srtp_err_status_t {
    guard(|| {
        *LOG_HANDLER.write().unwrap_or_else(|e| e.into_inner()) = (func, data as usize);
        Ok(())
    })
}

/// `srtp_set_debug_module`: there are no debug modules; succeeds.
#[no_mangle]
pub extern "C" fn srtp_set_debug_module(_mod_name: *const c_char, _v: c_int) -> srtp_err_status_t {
    srtp_err_status_ok
}

/// `srtp_list_debug_modules`: there are none; succeeds.
#[no_mangle]
pub extern "C" fn srtp_list_debug_modules() -> srtp_err_status_t {
    srtp_err_status_ok
}

/// `srtp_get_version_string`: a static string naming this library and
/// the libsrtp API it provides.
#[no_mangle]
pub extern "C" fn srtp_get_version_string() -> *const c_char {
    concat!(
        "rampart-srtp2 ",
        env!("CARGO_PKG_VERSION"),
        " (libsrtp2 2.5.0 API)\0"
    )
    .as_ptr()
    .cast()
}

/// `srtp_get_version`: 2.5.0 as libsrtp encodes it (major << 24 | minor
/// << 16 | micro), so version checks written for libsrtp pass.
#[no_mangle]
pub extern "C" fn srtp_get_version() -> c_uint {
    VERSION
}

fn trailer_length(
    session: *mut srtp_ctx_t,
    family: Family,
    (use_mki, mki_index): (u32, u32),
    length: *mut u32,
) -> srtp_err_status_t {
    guard(|| {
        let s = ptr::session(session)?;
        let n = s.session.trailer_len(family, use_mki != 0, mki_index)?;
        ptr::write(length, n)
    })
}

/// `srtp_get_protect_trailer_length`: the most `srtp_protect[_mki]`
/// appends for any stream of the session.
#[no_mangle]
pub extern "C" fn srtp_get_protect_trailer_length(
    session: *mut srtp_ctx_t,
    use_mki: u32,
    mki_index: u32,
    length: *mut u32,
) -> srtp_err_status_t {
    trailer_length(session, Family::Rtp, (use_mki, mki_index), length)
}

/// `srtp_get_protect_rtcp_trailer_length`.
#[no_mangle]
pub extern "C" fn srtp_get_protect_rtcp_trailer_length(
    session: *mut srtp_ctx_t,
    use_mki: u32,
    mki_index: u32,
    length: *mut u32,
) -> srtp_err_status_t {
    trailer_length(session, Family::Rtcp, (use_mki, mki_index), length)
}

/// `srtp_set_stream_use_cryptex` (libsrtp 2.8; 3.0 has `use_cryptex` in
/// the policy instead): RFC 9335 cryptex on or off for the stream `ssrc`
/// names, or the template and its streams.
#[no_mangle]
pub extern "C" fn srtp_set_stream_use_cryptex(
    session: *mut srtp_ctx_t,
    ssrc: *const srtp_ssrc_t,
    enable: c_int,
) -> srtp_err_status_t {
    guard(|| {
        let kind = ptr::ssrc(ssrc)?;
        ptr::session(session)?
            .session
            .set_cryptex(kind, enable != 0)
    })
}

/// `srtp_set_stream_roc`: `ssrc` in host order, as libsrtp.
#[no_mangle]
pub extern "C" fn srtp_set_stream_roc(
    session: *mut srtp_ctx_t,
    ssrc: u32,
    roc: u32,
) -> srtp_err_status_t {
    guard(|| ptr::session(session)?.session.set_roc(ssrc, roc))
}

/// `srtp_get_stream_roc`.
#[no_mangle]
pub extern "C" fn srtp_get_stream_roc(
    session: *mut srtp_ctx_t,
    ssrc: u32,
    roc: *mut u32,
) -> srtp_err_status_t {
    guard(|| {
        let r = ptr::session(session)?.session.roc(ssrc)?;
        ptr::write(roc, r)
    })
}

/// `srtp_append_salt_to_key`: copies the salt right after the key.
#[no_mangle]
pub extern "C" fn srtp_append_salt_to_key(
    key: *mut u8,
    bytes_in_key: c_uint,
    salt: *mut u8,
    bytes_in_salt: c_uint,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !key.is_null() {
            ptr::copy_into(
                key.wrapping_add(bytes_in_key as usize),
                salt,
                bytes_in_salt as usize,
            );
        }
    }));
}

mod setters;
pub use setters::*;
