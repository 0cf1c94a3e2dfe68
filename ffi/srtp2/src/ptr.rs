//! The one module with `unsafe`: reading what C hands over (policies,
//! packets, out-pointers), handing sessions to C and back, and calling the
//! C event handler.
//!
//! What can be checked is (null pointers, negative lengths, lengths past
//! what a slice may span, policy lists that loop). The rest is the
//! caller's promise, as libsrtp's own API makes it: a non-null pointer
//! points to live memory of the size the API implies, a session comes from
//! `srtp_create` and is used by one thread at a time, and a packet buffer
//! holds the packet plus the tailroom protect needs (this library writes
//! only the trailer it reports through
//! `srtp_get_protect_trailer_length`, at most 32 bytes, never libsrtp's
//! full `SRTP_MAX_TRAILER_LEN`).
#![allow(unsafe_code)] // the C pointers, each with its SAFETY argument

use std::ffi::{c_int, c_void};

use zeroize::Zeroizing;

use crate::abi::*;
use crate::policy::{KeyDesc, PolicyDesc, SsrcKind};

/// Longest policy list followed (a longer one is taken to loop).
const MAX_POLICIES: usize = 1024;
/// Most RFC 6904 IDs a policy may list (there are 256 distinct ones).
const MAX_XTN_IDS: usize = 65536;
/// Largest length a Rust slice may have.
const MAX_LEN: usize = isize::MAX as usize;

/// Copies `len` bytes at `p` (NULL: `bad_param`).
fn copy(p: *const u8, len: usize) -> Result<Vec<u8>, srtp_err_status_t> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(srtp_err_status_bad_param);
    }
    // SAFETY: non-null; the caller promises `len` readable bytes at `p`
    // (a key of the length its crypto policy declares, or an MKI of
    // `mki_size` bytes), unchanged during the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
}

/// What an `srtp_ssrc_t` names (`None`: an undefined type).
fn ssrc_kind(s: &srtp_ssrc_t) -> Option<SsrcKind> {
    match s.r#type {
        t if t == ssrc_specific => Some(SsrcKind::Specific(s.value)),
        t if t == ssrc_any_inbound => Some(SsrcKind::AnyInbound),
        t if t == ssrc_any_outbound => Some(SsrcKind::AnyOutbound),
        _ => None,
    }
}

/// The `srtp_ssrc_t` at `p` (NULL: `bad_param`).
pub(crate) fn ssrc(p: *const srtp_ssrc_t) -> Result<Option<SsrcKind>, srtp_err_status_t> {
    // SAFETY: the caller promises a non-null `p` points to an
    // `srtp_ssrc_t`, read (copied) here only; null is refused by `as_ref`.
    let s = unsafe { p.as_ref() }.ok_or(srtp_err_status_bad_param)?;
    Ok(ssrc_kind(s))
}

/// One policy, its pointers followed.
fn policy(p: &srtp_policy_t) -> Result<PolicyDesc, srtp_err_status_t> {
    let ssrc = ssrc_kind(&p.ssrc);
    let key_len = PolicyDesc::key_read_len(&p.rtp, &p.rtcp);
    let mut keys = Vec::new();
    let key = if p.key.is_null() {
        if p.num_master_keys as usize > SRTP_MAX_NUM_MASTER_KEYS {
            return Err(srtp_err_status_bad_param);
        }
        if p.num_master_keys > 0 && p.keys.is_null() {
            return Err(srtp_err_status_bad_param);
        }
        for i in 0..p.num_master_keys as usize {
            // SAFETY: `keys` is non-null and the caller promises an array
            // of `num_master_keys` pointers (at most 16, checked above).
            let mk = unsafe { *p.keys.add(i) };
            if mk.is_null() {
                return Err(srtp_err_status_bad_param);
            }
            // SAFETY: non-null; the caller promises it points to an
            // `srtp_master_key_t`, read (copied) here only.
            let mk = unsafe { *mk };
            let mki_len = (mk.mki_size as usize).min(128);
            keys.push(KeyDesc {
                key: Zeroizing::new(copy(mk.key, key_len)?),
                mki: copy(mk.mki_id, mki_len)?,
            });
        }
        None
    } else {
        Some(Zeroizing::new(copy(p.key, key_len)?))
    };
    // RFC 6904 IDs: libsrtp takes the list when the pointer is set and the
    // count positive, and reads `count` ints.
    let enc_xtn_hdr = if p.enc_xtn_hdr.is_null() || p.enc_xtn_hdr_count <= 0 {
        Vec::new()
    } else {
        let n = p.enc_xtn_hdr_count as usize;
        if n > MAX_XTN_IDS {
            return Err(srtp_err_status_bad_param);
        }
        // SAFETY: non-null; the caller promises `enc_xtn_hdr_count` ints
        // at `enc_xtn_hdr` (at most MAX_XTN_IDS, checked above), read
        // (copied) here only.
        unsafe { std::slice::from_raw_parts(p.enc_xtn_hdr, n) }.to_vec()
    };
    Ok(PolicyDesc {
        ssrc,
        rtp: p.rtp,
        rtcp: p.rtcp,
        key,
        keys,
        num_master_keys: p.num_master_keys,
        window_size: p.window_size,
        allow_repeat_tx: p.allow_repeat_tx != 0,
        enc_xtn_hdr,
    })
}

/// The policy at `p` alone (its `next` is not followed).
pub(crate) fn one_policy(p: *const srtp_policy_t) -> Result<PolicyDesc, srtp_err_status_t> {
    // SAFETY: the caller promises a non-null `p` points to a live
    // `srtp_policy_t`; null is refused by `as_ref`.
    let p = unsafe { p.as_ref() }.ok_or(srtp_err_status_bad_param)?;
    policy(p)
}

/// The policy list starting at `p` (NULL: empty), following `next`.
pub(crate) fn policy_list(
    mut p: *const srtp_policy_t,
) -> Result<Vec<PolicyDesc>, srtp_err_status_t> {
    let mut out = Vec::new();
    // SAFETY: as `one_policy`, for each element of the list.
    while let Some(pol) = unsafe { p.as_ref() } {
        if out.len() == MAX_POLICIES {
            return Err(srtp_err_status_bad_param);
        }
        out.push(policy(pol)?);
        p = pol.next;
    }
    Ok(out)
}

/// `*len_ptr` as a length (NULL or negative: `bad_param`).
pub(crate) fn read_len(len_ptr: *const c_int) -> Result<usize, srtp_err_status_t> {
    // SAFETY: the caller promises a non-null `len_ptr` points to an int.
    let n = unsafe { len_ptr.as_ref() }.ok_or(srtp_err_status_bad_param)?;
    usize::try_from(*n).map_err(|_| srtp_err_status_bad_param)
}

/// Writes a length back through `len_ptr` (checked non-null by
/// [`read_len`] first).
pub(crate) fn write_len(len_ptr: *mut c_int, n: usize) -> Result<(), srtp_err_status_t> {
    let v = c_int::try_from(n).map_err(|_| srtp_err_status_bad_param)?;
    // SAFETY: the caller promises a non-null `len_ptr` points to a
    // writable int; null is refused by `as_mut`.
    *unsafe { len_ptr.as_mut() }.ok_or(srtp_err_status_bad_param)? = v;
    Ok(())
}

/// `len` bytes at `p`, writable in place.
pub(crate) fn packet<'a>(p: *mut c_void, len: usize) -> Result<&'a mut [u8], srtp_err_status_t> {
    if p.is_null() || len > MAX_LEN {
        return Err(srtp_err_status_bad_param);
    }
    // SAFETY: non-null and within a slice's bound; the caller promises
    // `len` bytes at `p` are its packet buffer (the packet, plus, for
    // protect, the room `srtp_get_protect_trailer_length` reports), not
    // used by anyone else during the call. Bytes past the packet are only
    // written, never read before they are.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
}

/// Writes through an out-pointer (NULL: `bad_param`).
pub(crate) fn write<T>(p: *mut T, v: T) -> Result<(), srtp_err_status_t> {
    // SAFETY: the caller promises a non-null `p` points to writable
    // memory for a `T` (an integer or a plain C struct here, so nothing is
    // dropped); null is refused by `as_mut`.
    *unsafe { p.as_mut() }.ok_or(srtp_err_status_bad_param)? = v;
    Ok(())
}

/// Copies `n` bytes from `src` to `dst` (libsrtp's
/// `srtp_append_salt_to_key`); NULL with `n > 0` does nothing.
pub(crate) fn copy_into(dst: *mut u8, src: *const u8, n: usize) {
    if n == 0 || dst.is_null() || src.is_null() {
        return;
    }
    // SAFETY: both non-null; the caller promises `n` readable bytes at
    // `src` and `n` writable ones at `dst` (they may overlap: `copy`).
    unsafe { std::ptr::copy(src, dst, n) }
}

/// Hands a session to C.
pub(crate) fn into_raw<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Takes a session back from C (NULL: `None`).
pub(crate) fn from_raw<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller promises `p` came from `srtp_create` and is
    // deallocated once, with no other call using it.
    Some(unsafe { Box::from_raw(p) })
}

/// A session C holds (NULL: `bad_param`).
pub(crate) fn session<'a, T>(p: *mut T) -> Result<&'a mut T, srtp_err_status_t> {
    // SAFETY: the caller promises a non-null `p` came from `srtp_create`,
    // is not deallocated, and is used by one thread at a time.
    unsafe { p.as_mut() }.ok_or(srtp_err_status_bad_param)
}

/// Calls the installed event handler.
pub(crate) fn call_handler(
    handler: unsafe extern "C" fn(*mut srtp_event_data_t),
    mut data: srtp_event_data_t,
) {
    // SAFETY: `handler` was installed by the application through
    // `srtp_install_event_handler` with libsrtp's signature; `data` lives
    // on this stack for the call, as libsrtp passes it.
    unsafe { handler(&mut data) }
}
