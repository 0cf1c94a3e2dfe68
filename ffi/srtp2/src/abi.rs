//! The libsrtp 2.5 ABI as data: struct layouts, enum values and error
//! codes, spelled as `<srtp2/srtp.h>` spells them.
//!
//! C enums cross the boundary as plain integers (`c_int`/`c_uint`): a C
//! caller may pass any value, and a Rust enum holding an undeclared value
//! would be undefined behaviour. Each value the API knows is a constant.
//! The layouts are checked against Debian's libsrtp2 header by
//! `tests/layout.rs`.

use std::ffi::{c_int, c_uint, c_ulong, c_void};

/// `srtp_err_status_t`.
pub type srtp_err_status_t = c_uint;
/// Nothing to report.
pub const srtp_err_status_ok: srtp_err_status_t = 0;
/// Unspecified failure.
pub const srtp_err_status_fail: srtp_err_status_t = 1;
/// Unsupported parameter.
pub const srtp_err_status_bad_param: srtp_err_status_t = 2;
/// Could not allocate memory (here: a session's stream bound reached).
pub const srtp_err_status_alloc_fail: srtp_err_status_t = 3;
/// Could not initialize.
pub const srtp_err_status_init_fail: srtp_err_status_t = 5;
/// Authentication failure.
pub const srtp_err_status_auth_fail: srtp_err_status_t = 7;
/// A cipher failed (an AEAD payload shorter than its tag).
pub const srtp_err_status_cipher_fail: srtp_err_status_t = 8;
/// Replay check failed (index already seen).
pub const srtp_err_status_replay_fail: srtp_err_status_t = 9;
/// Replay check failed (index too old).
pub const srtp_err_status_replay_old: srtp_err_status_t = 10;
/// Unsupported operation.
pub const srtp_err_status_no_such_op: srtp_err_status_t = 12;
/// No appropriate context (stream) found.
pub const srtp_err_status_no_ctx: srtp_err_status_t = 13;
/// The packet cannot be checked (SRTCP's E flag against the policy).
pub const srtp_err_status_cant_check: srtp_err_status_t = 14;
/// The key cannot be used any more.
pub const srtp_err_status_key_expired: srtp_err_status_t = 15;
/// The packet's payload does not fit its length.
pub const srtp_err_status_parse_err: srtp_err_status_t = 21;
/// The MKI in the packet, or the MKI index asked for, names no key.
pub const srtp_err_status_bad_mki: srtp_err_status_t = 25;
/// A cryptex operation libsrtp does not support (libsrtp 2.8's value):
/// here, protecting CSRCs without a header extension.
pub const srtp_err_status_cryptex_err: srtp_err_status_t = 28;

/// `srtp_cipher_type_id_t` values (`<srtp2/crypto_types.h>`).
pub const SRTP_NULL_CIPHER: u32 = 0;
/// AES-128 in counter mode.
pub const SRTP_AES_ICM_128: u32 = 1;
/// AES-192 in counter mode.
pub const SRTP_AES_ICM_192: u32 = 4;
/// AES-256 in counter mode.
pub const SRTP_AES_ICM_256: u32 = 5;
/// AES-128-GCM.
pub const SRTP_AES_GCM_128: u32 = 6;
/// AES-256-GCM.
pub const SRTP_AES_GCM_256: u32 = 7;
/// `srtp_auth_type_id_t`: no authentication.
pub const SRTP_NULL_AUTH: u32 = 0;
/// HMAC-SHA1.
pub const SRTP_HMAC_SHA1: u32 = 3;

/// `srtp_sec_serv_t`.
pub const sec_serv_none: c_int = 0;
/// Confidentiality only.
pub const sec_serv_conf: c_int = 1;
/// Authentication only.
pub const sec_serv_auth: c_int = 2;
/// Both.
pub const sec_serv_conf_and_auth: c_int = 3;

/// `srtp_ssrc_type_t`.
pub const ssrc_undefined: c_int = 0;
/// One SSRC.
pub const ssrc_specific: c_int = 1;
/// A template for any SSRC received.
pub const ssrc_any_inbound: c_int = 2;
/// A template for any SSRC sent.
pub const ssrc_any_outbound: c_int = 3;

/// `srtp_event_t`.
pub const event_ssrc_collision: c_int = 0;
/// The key reached its soft limit.
pub const event_key_soft_limit: c_int = 1;
/// The key reached its hard limit.
pub const event_key_hard_limit: c_int = 2;
/// The packet index reached its limit.
pub const event_packet_index_limit: c_int = 3;

/// `srtp_profile_t`.
pub const srtp_profile_aes128_cm_sha1_80: c_int = 1;
/// AES-128-CM, 32-bit SRTP tag.
pub const srtp_profile_aes128_cm_sha1_32: c_int = 2;
/// No cipher, 80-bit tag.
pub const srtp_profile_null_sha1_80: c_int = 5;
/// No cipher, 32-bit SRTP tag.
pub const srtp_profile_null_sha1_32: c_int = 6;
/// AES-128-GCM.
pub const srtp_profile_aead_aes_128_gcm: c_int = 7;
/// AES-256-GCM.
pub const srtp_profile_aead_aes_256_gcm: c_int = 8;

/// `SRTP_MAX_KEY_LEN`: the longest key + salt a policy's `key` holds.
pub const SRTP_MAX_KEY_LEN: usize = 64;
/// `SRTP_MAX_NUM_MASTER_KEYS`.
pub const SRTP_MAX_NUM_MASTER_KEYS: usize = 16;
/// `SRTP_MAX_TRAILER_LEN` (`SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN`): the
/// tailroom libsrtp's protect assumes; Rampart writes at most tag + MKI
/// (+ 4 for SRTCP), MKI at most 8 bytes.
pub const SRTP_MAX_TRAILER_LEN: usize = 16 + 128;

/// `srtp_crypto_policy_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct srtp_crypto_policy_t {
    /// `SRTP_AES_ICM_128`, ...
    pub cipher_type: u32,
    /// Key + salt length in bytes.
    pub cipher_key_len: c_int,
    /// `SRTP_HMAC_SHA1` or `SRTP_NULL_AUTH`.
    pub auth_type: u32,
    /// Authentication key length in bytes.
    pub auth_key_len: c_int,
    /// Tag length in bytes.
    pub auth_tag_len: c_int,
    /// `sec_serv_*`.
    pub sec_serv: c_int,
}

/// `srtp_ssrc_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct srtp_ssrc_t {
    /// `ssrc_*`.
    pub r#type: c_int,
    /// The SSRC with `ssrc_specific`.
    pub value: c_uint,
}

/// `srtp_master_key_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct srtp_master_key_t {
    /// Key followed by salt.
    pub key: *mut u8,
    /// The MKI.
    pub mki_id: *mut u8,
    /// Its length.
    pub mki_size: c_uint,
}

/// `srtp_policy_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct srtp_policy_t {
    /// Which SSRC(s).
    pub ssrc: srtp_ssrc_t,
    /// SRTP crypto policy.
    pub rtp: srtp_crypto_policy_t,
    /// SRTCP crypto policy.
    pub rtcp: srtp_crypto_policy_t,
    /// Key followed by salt (NULL: `keys` is used).
    pub key: *mut u8,
    /// Master keys with MKIs.
    pub keys: *mut *mut srtp_master_key_t,
    /// Number of them.
    pub num_master_keys: c_ulong,
    /// Unused (was EKT).
    pub deprecated_ekt: *mut c_void,
    /// Replay window in packets (0: 128).
    pub window_size: c_ulong,
    /// Non-zero: protect may seal an index again (retransmissions).
    pub allow_repeat_tx: c_int,
    /// RFC 6904 header extension ids to encrypt.
    pub enc_xtn_hdr: *mut c_int,
    /// Their number.
    pub enc_xtn_hdr_count: c_int,
    /// The next policy of a list.
    pub next: *mut srtp_policy_t,
}

/// `srtp_event_data_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct srtp_event_data_t {
    /// The session.
    pub session: *mut crate::srtp_ctx_t,
    /// The stream's SSRC, host order.
    pub ssrc: u32,
    /// `event_*`.
    pub event: c_int,
}

/// `srtp_event_handler_func_t *`.
pub type srtp_event_handler_func_t = Option<unsafe extern "C" fn(*mut srtp_event_data_t)>;

/// `srtp_log_handler_func_t *`.
pub type srtp_log_handler_func_t =
    Option<unsafe extern "C" fn(c_int, *const std::ffi::c_char, *mut c_void)>;
