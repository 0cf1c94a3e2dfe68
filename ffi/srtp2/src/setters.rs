//! The `srtp_crypto_policy_set_*` setters and the DTLS-SRTP profile
//! helpers, with libsrtp 2.5's values (checked against Debian's libsrtp2
//! by `tests/layout.rs`). Setters for policies Rampart does not run are
//! kept, so code that calls them links; `srtp_create` refuses the policy.

use std::ffi::{c_int, c_uint};

use crate::abi::*;

fn set(p: *mut srtp_crypto_policy_t, v: [i64; 6]) {
    let _ = std::panic::catch_unwind(|| {
        let _ = crate::ptr::write(
            p,
            srtp_crypto_policy_t {
                cipher_type: v[0] as u32,
                cipher_key_len: v[1] as c_int,
                auth_type: v[2] as u32,
                auth_key_len: v[3] as c_int,
                auth_tag_len: v[4] as c_int,
                sec_serv: v[5] as c_int,
            },
        );
    });
}

/// `srtp_crypto_policy_set_rtp_default`: AES_CM_128_HMAC_SHA1_80 (RFC 3711's default).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_rtp_default(p: *mut srtp_crypto_policy_t) {
    set(p, [1, 30, 3, 20, 10, 3]);
}

/// `srtp_crypto_policy_set_rtcp_default`: AES_CM_128_HMAC_SHA1_80 for SRTCP.
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_rtcp_default(p: *mut srtp_crypto_policy_t) {
    set(p, [1, 30, 3, 20, 10, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32`: AES_CM_128_HMAC_SHA1_32 (SRTP; SRTCP keeps the 80-bit tag).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut srtp_crypto_policy_t) {
    set(p, [1, 30, 3, 20, 4, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_128_null_auth`: AES-128-CM without authentication (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_128_null_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [1, 30, 0, 0, 0, 1]);
}

/// `srtp_crypto_policy_set_null_cipher_hmac_sha1_80`: NULL_HMAC_SHA1_80: authentication only.
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_null_cipher_hmac_sha1_80(p: *mut srtp_crypto_policy_t) {
    set(p, [0, 30, 3, 20, 10, 2]);
}

/// `srtp_crypto_policy_set_null_cipher_hmac_null`: no protection at all (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_null_cipher_hmac_null(p: *mut srtp_crypto_policy_t) {
    set(p, [0, 30, 0, 0, 0, 0]);
}

/// `srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80`: AES_256_CM_HMAC_SHA1_80 (RFC 6188).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p: *mut srtp_crypto_policy_t) {
    set(p, [5, 46, 3, 20, 10, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32`: AES_256_CM_HMAC_SHA1_32 (RFC 6188).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p: *mut srtp_crypto_policy_t) {
    set(p, [5, 46, 3, 20, 4, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_256_null_auth`: AES-256-CM without authentication (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_256_null_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [5, 46, 0, 0, 0, 1]);
}

/// `srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80`: AES_192_CM_HMAC_SHA1_80 (RFC 6188).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80(p: *mut srtp_crypto_policy_t) {
    set(p, [4, 38, 3, 20, 10, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32`: AES_192_CM_HMAC_SHA1_32 (RFC 6188).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32(p: *mut srtp_crypto_policy_t) {
    set(p, [4, 38, 3, 20, 4, 3]);
}

/// `srtp_crypto_policy_set_aes_cm_192_null_auth`: AES-192-CM without authentication (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_cm_192_null_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [4, 38, 0, 0, 0, 1]);
}

/// `srtp_crypto_policy_set_aes_gcm_128_8_auth`: AES-128-GCM with an 8-byte tag (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_128_8_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [6, 28, 0, 0, 8, 3]);
}

/// `srtp_crypto_policy_set_aes_gcm_256_8_auth`: AES-256-GCM with an 8-byte tag (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_256_8_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [7, 44, 0, 0, 8, 3]);
}

/// `srtp_crypto_policy_set_aes_gcm_128_8_only_auth`: AES-128-GCM, authentication only (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_128_8_only_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [6, 28, 0, 0, 8, 2]);
}

/// `srtp_crypto_policy_set_aes_gcm_256_8_only_auth`: AES-256-GCM, authentication only (refused by srtp_create here).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_256_8_only_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [7, 44, 0, 0, 8, 2]);
}

/// `srtp_crypto_policy_set_aes_gcm_128_16_auth`: AEAD_AES_128_GCM (RFC 7714).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_128_16_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [6, 28, 0, 0, 16, 3]);
}

/// `srtp_crypto_policy_set_aes_gcm_256_16_auth`: AEAD_AES_256_GCM (RFC 7714).
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_aes_gcm_256_16_auth(p: *mut srtp_crypto_policy_t) {
    set(p, [7, 44, 0, 0, 16, 3]);
}

/// The crypto policy of a DTLS-SRTP profile (RFC 5764, 7714), `rtcp`:
/// for SRTCP (which keeps the 80-bit tag).
fn profile_policy(profile: c_int, rtcp: bool) -> Option<[i64; 6]> {
    Some(match profile {
        x if x == srtp_profile_aes128_cm_sha1_80 => [1, 30, 3, 20, 10, 3],
        x if x == srtp_profile_aes128_cm_sha1_32 => [1, 30, 3, 20, if rtcp { 10 } else { 4 }, 3],
        x if x == srtp_profile_null_sha1_80 => [0, 30, 3, 20, 10, 2],
        x if x == srtp_profile_aead_aes_128_gcm => [6, 28, 0, 0, 16, 3],
        x if x == srtp_profile_aead_aes_256_gcm => [7, 44, 0, 0, 16, 3],
        // srtp_profile_null_sha1_32 and unknown values: as libsrtp.
        _ => return None,
    })
}

/// `srtp_crypto_policy_set_from_profile_for_rtp`.
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_from_profile_for_rtp(
    policy: *mut srtp_crypto_policy_t,
    profile: c_int,
) -> srtp_err_status_t {
    match profile_policy(profile, false) {
        Some(v) => {
            set(policy, v);
            srtp_err_status_ok
        }
        None => srtp_err_status_bad_param,
    }
}

/// `srtp_crypto_policy_set_from_profile_for_rtcp`.
#[no_mangle]
pub extern "C" fn srtp_crypto_policy_set_from_profile_for_rtcp(
    policy: *mut srtp_crypto_policy_t,
    profile: c_int,
) -> srtp_err_status_t {
    match profile_policy(profile, true) {
        Some(v) => {
            set(policy, v);
            srtp_err_status_ok
        }
        None => srtp_err_status_bad_param,
    }
}

/// `srtp_profile_get_master_key_length` (0: unknown profile).
#[no_mangle]
pub extern "C" fn srtp_profile_get_master_key_length(profile: c_int) -> c_uint {
    match profile {
        x if x == srtp_profile_aead_aes_256_gcm => 32,
        x if profile_policy(x, false).is_some() => 16,
        _ => 0,
    }
}

/// `srtp_profile_get_master_salt_length` (0: unknown profile).
#[no_mangle]
pub extern "C" fn srtp_profile_get_master_salt_length(profile: c_int) -> c_uint {
    match profile {
        x if x == srtp_profile_aead_aes_128_gcm || x == srtp_profile_aead_aes_256_gcm => 12,
        x if profile_policy(x, false).is_some() => 14,
        _ => 0,
    }
}
