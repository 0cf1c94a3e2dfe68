//! The one module with `unsafe`: turning the pointers and lengths C hands
//! us into references and slices, and handing boxed objects and strings to
//! C and back.
//!
//! Each helper checks what can be checked (null, length bounds, UTF-8)
//! and returns a status for it. What cannot be checked is the caller's
//! promise, stated in `rampart.h`: a non-null pointer points to live memory
//! of the stated size, not aliased by another thread during the call, and
//! objects come from the matching `rampart_*_new`/`_start` and are freed
//! once.
#![allow(unsafe_code)] // the C pointers and lengths, each with its SAFETY argument

use std::ffi::{c_char, CStr, CString};

use crate::rampart_status::{self, *};

/// Largest length a Rust slice may have.
const MAX_LEN: usize = isize::MAX as usize;

/// A shared reference to a C-owned object, or `RAMPART_ERR_NULL_POINTER`.
pub(crate) fn obj<'a, T>(p: *const T) -> Result<&'a T, rampart_status> {
    // SAFETY: the caller (C) promises a non-null `p` points to a live `T`
    // it got from this library (or, for plain structs, one it filled in),
    // not mutated during the call; null is refused by `as_ref`.
    unsafe { p.as_ref() }.ok_or(RAMPART_ERR_NULL_POINTER)
}

/// An exclusive reference to a C-owned object, or `RAMPART_ERR_NULL_POINTER`.
pub(crate) fn obj_mut<'a, T>(p: *mut T) -> Result<&'a mut T, rampart_status> {
    // SAFETY: as `obj`; in addition the header requires that one object is
    // used by one thread at a time, so nothing else references it now.
    unsafe { p.as_mut() }.ok_or(RAMPART_ERR_NULL_POINTER)
}

/// Writes `value` through a C out-pointer.
pub(crate) fn write<T>(p: *mut T, value: T) -> Result<(), rampart_status> {
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    // SAFETY: `p` is non-null and the caller promises it points to writable
    // memory for a `T`; `write` does not read or drop the old contents
    // (which may be uninitialized), and every `T` used here is `Copy` or a
    // raw pointer, so nothing is leaked.
    unsafe { p.write(value) };
    Ok(())
}

/// Writes `value` through an optional C out-pointer (NULL: ignored).
pub(crate) fn write_opt<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: as `write`.
        unsafe { p.write(value) };
    }
}

/// `len` readable bytes at `p`. NULL is accepted only with `len == 0`.
pub(crate) fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], rampart_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    if len > MAX_LEN {
        return Err(RAMPART_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: `p` is non-null, `len` fits a slice, and the caller promises
    // `len` initialized bytes at `p` that nobody writes during the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `n` C structs at `p` (NULL accepted only with `n == 0`).
pub(crate) fn array<'a, T>(p: *const T, n: usize) -> Result<&'a [T], rampart_status> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    match n.checked_mul(std::mem::size_of::<T>()) {
        Some(bytes) if bytes <= MAX_LEN => {}
        _ => return Err(RAMPART_ERR_INVALID_ARGUMENT),
    }
    // SAFETY: `p` is non-null, the size fits a slice, and the caller
    // promises `n` initialized `T`s at `p` (plain-old-data C structs, valid
    // for any bit pattern) not written during the call.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// `len` writable bytes at `p` holding a packet (all initialized).
pub(crate) fn packet_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], rampart_status> {
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    if len > MAX_LEN {
        return Err(RAMPART_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: `p` is non-null, `len` fits a slice, and the caller promises
    // `len` initialized, writable bytes at `p`, used by no one else during
    // the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// A packet of `len` bytes at `p` followed by tailroom, as one slice of
/// `total` bytes (`len <= total <= the buffer's capacity`). The tailroom
/// `[len, total)` is zeroed first, so C callers need not initialize it.
pub(crate) fn packet_with_tailroom<'a>(
    p: *mut u8,
    len: usize,
    total: usize,
) -> Result<&'a mut [u8], rampart_status> {
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    if len > total || total > MAX_LEN {
        return Err(RAMPART_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: the caller promises `capacity >= total` writable bytes at `p`,
    // of which the first `len` are initialized. Zeroing `[len, total)`
    // through the raw pointer (in bounds: `len <= total`) initializes the
    // rest, so the slice below covers initialized bytes only; nobody else
    // uses the buffer during the call.
    unsafe {
        std::ptr::write_bytes(p.add(len), 0, total - len);
        Ok(std::slice::from_raw_parts_mut(p, total))
    }
}

/// A NUL-terminated UTF-8 C string.
pub(crate) fn str<'a>(p: *const c_char) -> Result<&'a str, rampart_status> {
    if p.is_null() {
        return Err(RAMPART_ERR_NULL_POINTER);
    }
    // SAFETY: `p` is non-null and the caller promises a NUL-terminated
    // string at `p`, unchanged during the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| RAMPART_ERR_INVALID_ARGUMENT)
}

/// Hands a new object to C.
pub(crate) fn into_raw<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back an object handed out by [`into_raw`] (NULL: `None`).
pub(crate) fn from_raw<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller promises `p` came from `into_raw::<T>` (the
    // matching `rampart_*_new`) and is freed only once, and that no other
    // call is using it.
    Some(unsafe { Box::from_raw(p) })
}

/// Hands a string to C (freed by `rampart_string_free`). Interior NULs
/// (never in JSON the node writes) are replaced by spaces.
pub(crate) fn string_into_raw(s: String) -> *mut c_char {
    let c = CString::new(s).unwrap_or_else(|e| {
        let mut v = e.into_vec();
        v.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b' ');
        CString::new(v).unwrap_or_default()
    });
    c.into_raw()
}

/// Frees a string handed out by [`string_into_raw`] (NULL: nothing).
pub(crate) fn string_free(p: *mut c_char) {
    if !p.is_null() {
        // SAFETY: the caller promises `p` came from `string_into_raw`
        // (a `rampart_*` call's `char **` result) and is freed once.
        drop(unsafe { CString::from_raw(p) });
    }
}

/// A static C string of this library as `&str` (tests).
#[cfg(test)]
pub(crate) fn static_cstr(p: *const c_char) -> &'static str {
    // SAFETY: test-only; `p` is one of this crate's `c"..."` literals.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}
