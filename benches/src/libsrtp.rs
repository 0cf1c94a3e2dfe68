//! A small safe wrapper around libsrtp 2.3.0 (the copy bundled with the
//! `srtp2-sys` crate, built against the system OpenSSL).
//!
//! It exists so that Rampart's SRTP core can be compared with libsrtp, for
//! correctness (the cross-check tests) and for speed (the benchmarks). One
//! [`LibSrtp`] is one libsrtp session holding one direction: it either
//! protects (`inbound == false`) or unprotects (`inbound == true`).
//!
//! Errors are libsrtp's own `srtp_err_status_t` codes as `i32` (see the
//! constants below, e.g. [`AUTH_FAIL`], [`REPLAY_FAIL`]); errors found by the
//! wrapper itself before libsrtp is called are negative ([`ERR_BUFFER_TOO_SMALL`],
//! [`ERR_BAD_ARGUMENT`], [`ERR_UNSUPPORTED`]). [`err_name`] names any of them.
//!
//! # libsrtp 2.3.0 behaviour this wrapper knows about
//!
//! * **NULL cipher key derivation.** libsrtp 2.3.0 sets the key length of its
//!   NULL cipher to 0, and then keys the RFC 3711 KDF with an all-zero master
//!   key and salt: the HMAC keys do not depend on the master key at all
//!   (fixed upstream in 2021 by cisco/libsrtp PR #559). By default the wrapper
//!   applies the same fix through the policy (it declares the NULL cipher's
//!   key as the 30-byte AES-128 key||salt, so the KDF sees the real master
//!   key, as RFC 3711 requires). [`Options::stock_null_kdf`] keeps libsrtp
//!   2.3.0's stock behaviour instead.
//! * **ROC with AEAD.** libsrtp 2.3.0's AES-GCM paths do not implement
//!   `srtp_set_stream_roc` (fixed upstream in 2021 by cisco/libsrtp PR #558): protect
//!   ignores the ROC and encrypts with ROC 0; unprotect uses the set ROC but
//!   never moves the replay window past it, so it accepts replays and fails
//!   every packet after the next sequence-number wrap. [`LibSrtp::set_roc`]
//!   on an AEAD session with a non-zero ROC therefore returns
//!   [`ERR_UNSUPPORTED`] instead of silently doing the wrong thing.
//! * **AES-192 key derivation (not worked around).** libsrtp runs the KDF of
//!   the `AES_192_CM_*` suites as AES-256 over key||salt||zeros instead of
//!   AES-192 (cisco/libsrtp#763, fixed upstream in 2025 by PR #765), so its
//!   AES-192 packets do not follow RFC 6188 and no RFC-conforming peer can
//!   talk to it. Nothing in a policy can fix that; the benchmarks still time
//!   these suites (the per-packet work is the same), the cross-check skips
//!   them.
//! * **SRTCP with an MKI on the `_32` suites (not worked around).**
//!   libsrtp 2.3.0 looks for the MKI of an SRTCP packet using the SRTP tag
//!   length (4) although SRTCP carries a 10-byte tag, so `unprotect_rtcp`
//!   returns [`BAD_MKI`] for such packets, its own included (unless the tag
//!   bytes it reads by mistake happen to equal the MKI). Its `protect_rtcp`
//!   is right.
//! * **Tailroom.** libsrtp assumes it may write `SRTP_MAX_TRAILER_LEN` (144)
//!   bytes after an RTP packet and 4 more after an RTCP packet; the wrapper
//!   checks [`RTP_TAILROOM`] / [`RTCP_TAILROOM`] before every protect call.
//! * **SRTCP index.** libsrtp's first SRTCP index after a session is created
//!   is 1 (RFC 3711 allows starting at 0).
#![allow(unsafe_code)] // the FFI to libsrtp (the reference peer)

use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

use srtp2_sys as sys;

/// Bytes of free space protect_rtp needs after the packet (libsrtp's
/// `SRTP_MAX_TRAILER_LEN`).
pub const RTP_TAILROOM: usize = sys::SRTP_MAX_TRAILER_LEN as usize;
/// Bytes of free space protect_rtcp needs after the packet
/// (`SRTP_MAX_TRAILER_LEN + 4`, the SRTCP index word).
pub const RTCP_TAILROOM: usize = sys::SRTP_MAX_TRAILER_LEN as usize + 4;

/// libsrtp: generic failure.
pub const FAIL: i32 = sys::srtp_err_status_t_srtp_err_status_fail as i32;
/// libsrtp: bad parameter (also: packet shorter than its header).
pub const BAD_PARAM: i32 = sys::srtp_err_status_t_srtp_err_status_bad_param as i32;
/// libsrtp: authentication failed.
pub const AUTH_FAIL: i32 = sys::srtp_err_status_t_srtp_err_status_auth_fail as i32;
/// libsrtp: cipher failure.
pub const CIPHER_FAIL: i32 = sys::srtp_err_status_t_srtp_err_status_cipher_fail as i32;
/// libsrtp: replayed packet.
pub const REPLAY_FAIL: i32 = sys::srtp_err_status_t_srtp_err_status_replay_fail as i32;
/// libsrtp: packet older than the replay window.
pub const REPLAY_OLD: i32 = sys::srtp_err_status_t_srtp_err_status_replay_old as i32;
/// libsrtp: no stream for this SSRC.
pub const NO_CTX: i32 = sys::srtp_err_status_t_srtp_err_status_no_ctx as i32;
/// libsrtp: key lifetime reached.
pub const KEY_EXPIRED: i32 = sys::srtp_err_status_t_srtp_err_status_key_expired as i32;
/// libsrtp: packet could not be parsed.
pub const PARSE_ERR: i32 = sys::srtp_err_status_t_srtp_err_status_parse_err as i32;
/// libsrtp: the packet's MKI names no key of the session.
pub const BAD_MKI: i32 = sys::srtp_err_status_t_srtp_err_status_bad_mki as i32;

/// Wrapper: the buffer lacks the tailroom libsrtp may write into, or `len`
/// is larger than the buffer.
pub const ERR_BUFFER_TOO_SMALL: i32 = -1;
/// Wrapper: a suite name, key, salt, MKI or length the wrapper refuses.
pub const ERR_BAD_ARGUMENT: i32 = -2;
/// Wrapper: something libsrtp 2.3.0 would get silently wrong (see the
/// module documentation).
pub const ERR_UNSUPPORTED: i32 = -3;

/// A name for an error code returned by this module.
pub fn err_name(code: i32) -> &'static str {
    match code {
        ERR_BUFFER_TOO_SMALL => "wrapper: buffer_too_small",
        ERR_BAD_ARGUMENT => "wrapper: bad_argument",
        ERR_UNSUPPORTED => "wrapper: unsupported_by_libsrtp_2_3",
        0 => "ok",
        FAIL => "fail",
        BAD_PARAM => "bad_param",
        3 => "alloc_fail",
        5 => "init_fail",
        AUTH_FAIL => "auth_fail",
        CIPHER_FAIL => "cipher_fail",
        REPLAY_FAIL => "replay_fail",
        REPLAY_OLD => "replay_old",
        11 => "algo_fail",
        NO_CTX => "no_ctx",
        KEY_EXPIRED => "key_expired",
        PARSE_ERR => "parse_err",
        BAD_MKI => "bad_mki",
        26 => "pkt_idx_old",
        27 => "pkt_idx_adv",
        _ => "other",
    }
}

/// Which libsrtp policy setter to use for one of the two crypto policies.
#[derive(Clone, Copy, Debug)]
enum Setter {
    AesCm128Sha1_80,
    AesCm128Sha1_32,
    AesCm192Sha1_80,
    AesCm192Sha1_32,
    AesCm256Sha1_80,
    AesCm256Sha1_32,
    AesGcm128_16,
    AesGcm256_16,
    NullSha1_80,
    /// `null_cipher_hmac_sha1_80` with the tag cut to 4 bytes.
    NullSha1_32,
}

/// What the wrapper knows about one SDES suite.
#[derive(Clone, Copy, Debug)]
struct SuiteInfo {
    rtp: Setter,
    rtcp: Setter,
    key_len: usize,
    salt_len: usize,
    aead: bool,
    null_cipher: bool,
}

fn suite_info(name: &str) -> Option<SuiteInfo> {
    use Setter::*;
    let cm = |rtp, rtcp, key_len| SuiteInfo {
        rtp,
        rtcp,
        key_len,
        salt_len: 14,
        aead: false,
        null_cipher: false,
    };
    let gcm = |s, key_len| SuiteInfo {
        rtp: s,
        rtcp: s,
        key_len,
        salt_len: 12,
        aead: true,
        null_cipher: false,
    };
    let null = |rtp| SuiteInfo {
        rtp,
        rtcp: NullSha1_80,
        key_len: 16,
        salt_len: 14,
        aead: false,
        null_cipher: true,
    };
    // For the _32 suites the SRTCP tag stays 80 bits (RFC 4568 / 5764), so
    // the RTCP policy always uses the _80 setter.
    Some(match name {
        "AES_CM_128_HMAC_SHA1_80" => cm(AesCm128Sha1_80, AesCm128Sha1_80, 16),
        "AES_CM_128_HMAC_SHA1_32" => cm(AesCm128Sha1_32, AesCm128Sha1_80, 16),
        "AES_192_CM_HMAC_SHA1_80" | "AES_CM_192_HMAC_SHA1_80" => {
            cm(AesCm192Sha1_80, AesCm192Sha1_80, 24)
        }
        "AES_192_CM_HMAC_SHA1_32" | "AES_CM_192_HMAC_SHA1_32" => {
            cm(AesCm192Sha1_32, AesCm192Sha1_80, 24)
        }
        "AES_256_CM_HMAC_SHA1_80" | "AES_CM_256_HMAC_SHA1_80" => {
            cm(AesCm256Sha1_80, AesCm256Sha1_80, 32)
        }
        "AES_256_CM_HMAC_SHA1_32" | "AES_CM_256_HMAC_SHA1_32" => {
            cm(AesCm256Sha1_32, AesCm256Sha1_80, 32)
        }
        "AEAD_AES_128_GCM" => gcm(AesGcm128_16, 16),
        "AEAD_AES_256_GCM" => gcm(AesGcm256_16, 32),
        "NULL_HMAC_SHA1_80" => null(NullSha1_80),
        "NULL_HMAC_SHA1_32" => null(NullSha1_32),
        _ => return None,
    })
}

/// Whether [`LibSrtp::new`] accepts this suite name.
pub fn supports_suite(name: &str) -> bool {
    suite_info(name).is_some()
}

fn apply_setter(setter: Setter, p: &mut sys::srtp_crypto_policy_t) {
    let p: *mut sys::srtp_crypto_policy_t = p;
    // SAFETY: `p` comes from a live `&mut srtp_crypto_policy_t`; each setter
    // only writes the fields of that struct and keeps no pointer to it.
    unsafe {
        match setter {
            // srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 is a C macro for
            // srtp_crypto_policy_set_rtp_default.
            Setter::AesCm128Sha1_80 => sys::srtp_crypto_policy_set_rtp_default(p),
            Setter::AesCm128Sha1_32 => sys::srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p),
            Setter::AesCm192Sha1_80 => sys::srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80(p),
            Setter::AesCm192Sha1_32 => sys::srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32(p),
            Setter::AesCm256Sha1_80 => sys::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p),
            Setter::AesCm256Sha1_32 => sys::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p),
            Setter::AesGcm128_16 => sys::srtp_crypto_policy_set_aes_gcm_128_16_auth(p),
            Setter::AesGcm256_16 => sys::srtp_crypto_policy_set_aes_gcm_256_16_auth(p),
            Setter::NullSha1_80 | Setter::NullSha1_32 => {
                sys::srtp_crypto_policy_set_null_cipher_hmac_sha1_80(p)
            }
        }
    }
    if let Setter::NullSha1_32 = setter {
        // SAFETY: `p` still points to the caller's live, exclusively
        // borrowed struct (the setter above did not move it).
        unsafe { (*p).auth_tag_len = 4 };
    }
}

static INIT: Once = Once::new();
static INIT_STATUS: AtomicI32 = AtomicI32::new(0);

/// Runs `srtp_init` once per process; returns its status.
fn init() -> Result<(), i32> {
    INIT.call_once(|| {
        // SAFETY: srtp_init takes no arguments; `Once` guarantees it runs
        // exactly once, before any other libsrtp call made by this module.
        let status = unsafe { sys::srtp_init() };
        INIT_STATUS.store(status as i32, Ordering::SeqCst);
    });
    match INIT_STATUS.load(Ordering::SeqCst) {
        0 => Ok(()),
        e => Err(e),
    }
}

fn check(status: sys::srtp_err_status_t) -> Result<(), i32> {
    match status as i32 {
        0 => Ok(()),
        e => Err(e),
    }
}

/// libsrtp's version string, e.g. `libsrtp2 2.3.0-pre`.
pub fn version() -> String {
    // SAFETY: srtp_get_version_string takes no arguments and returns a
    // pointer to a static NUL-terminated string (or null, handled below).
    let p = unsafe { sys::srtp_get_version_string() };
    if p.is_null() {
        return String::from("libsrtp (unknown version)");
    }
    // SAFETY: `p` is non-null and points to a static C string that lives
    // for the whole program.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// Knobs beyond [`LibSrtp::new`]'s arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep libsrtp 2.3.0's stock NULL-cipher key derivation (KDF keyed with
    /// zeros, see the module documentation) instead of the RFC 3711 one.
    pub stock_null_kdf: bool,
}

/// One libsrtp session for one direction (protect or unprotect).
///
/// Not `Send`/`Sync`: a libsrtp session must not be used from two threads.
pub struct LibSrtp {
    session: sys::srtp_t,
    info: SuiteInfo,
    opts: Options,
    inbound: bool,
    replay_window: u32,
    /// master_key || master_salt, kept to add streams later (set_roc).
    key_buf: Vec<u8>,
    mki: Option<Vec<u8>>,
}

impl std::fmt::Debug for LibSrtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibSrtp")
            .field("inbound", &self.inbound)
            .field("aead", &self.info.aead)
            .field("mki_len", &self.mki.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl LibSrtp {
    /// Creates a session. `suite_name` is the SDES name (`AES_CM_128_HMAC_SHA1_80`,
    /// `AES_192_CM_HMAC_SHA1_32` (or `AES_CM_192_...`), `AEAD_AES_256_GCM`,
    /// `NULL_HMAC_SHA1_80`, ...). `ssrc == None` accepts any SSRC in the
    /// session's direction. `replay_window` is the SRTP window (64..32768,
    /// or 0 for libsrtp's default 128).
    pub fn new(
        suite_name: &str,
        key: &[u8],
        salt: &[u8],
        mki: Option<&[u8]>,
        ssrc: Option<u32>,
        inbound: bool,
        replay_window: u32,
    ) -> Result<LibSrtp, i32> {
        Self::with_options(
            suite_name,
            key,
            salt,
            mki,
            ssrc,
            inbound,
            replay_window,
            Options::default(),
        )
    }

    /// [`LibSrtp::new`] with [`Options`].
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        suite_name: &str,
        key: &[u8],
        salt: &[u8],
        mki: Option<&[u8]>,
        ssrc: Option<u32>,
        inbound: bool,
        replay_window: u32,
        opts: Options,
    ) -> Result<LibSrtp, i32> {
        init()?;
        let info = suite_info(suite_name).ok_or(ERR_BAD_ARGUMENT)?;
        if key.len() != info.key_len || salt.len() != info.salt_len {
            return Err(ERR_BAD_ARGUMENT);
        }
        if let Some(m) = mki {
            if m.is_empty() || m.len() > sys::SRTP_MAX_MKI_LEN as usize {
                return Err(ERR_BAD_ARGUMENT);
            }
        }
        let mut key_buf = Vec::with_capacity(key.len() + salt.len());
        key_buf.extend_from_slice(key);
        key_buf.extend_from_slice(salt);
        let mut s = LibSrtp {
            session: ptr::null_mut(),
            info,
            opts,
            inbound,
            replay_window,
            key_buf,
            mki: mki.map(<[u8]>::to_vec),
        };
        let ssrc_policy = match ssrc {
            Some(v) => sys::srtp_ssrc_t {
                type_: sys::srtp_ssrc_type_t_ssrc_specific,
                value: v,
            },
            None => sys::srtp_ssrc_t {
                type_: if inbound {
                    sys::srtp_ssrc_type_t_ssrc_any_inbound
                } else {
                    sys::srtp_ssrc_type_t_ssrc_any_outbound
                },
                value: 0,
            },
        };
        let mut session: sys::srtp_t = ptr::null_mut();
        s.with_policy(ssrc_policy, |policy| {
            // SAFETY: `session` is a valid out-pointer; `policy` is a fully
            // initialised policy whose key pointers stay valid for the call
            // (libsrtp copies/derives everything it keeps).
            check(unsafe { sys::srtp_create(&mut session, policy) })
        })?;
        s.session = session;
        Ok(s)
    }

    /// Builds a libsrtp policy for `ssrc` and hands it to `f`. The pointers
    /// inside the policy are valid only during `f`.
    fn with_policy<R>(
        &mut self,
        ssrc: sys::srtp_ssrc_t,
        f: impl FnOnce(&sys::srtp_policy_t) -> R,
    ) -> R {
        // SAFETY: srtp_policy_t is a plain C struct of integers and raw
        // pointers; all-zero is a valid value for every field (null pointers,
        // zero counts) and is what libsrtp's own examples start from.
        let mut policy: sys::srtp_policy_t = unsafe { std::mem::zeroed() };
        policy.ssrc = ssrc;
        apply_setter(self.info.rtp, &mut policy.rtp);
        apply_setter(self.info.rtcp, &mut policy.rtcp);
        if self.info.null_cipher && !self.opts.stock_null_kdf {
            // Declare the NULL cipher's key as AES-128 key||salt (30 bytes)
            // so libsrtp 2.3.0's KDF is keyed with the real master key and
            // salt, as RFC 3711 (and libsrtp >= 2.4.0, PR #559) do.
            let len = (self.info.key_len + self.info.salt_len) as c_int;
            policy.rtp.cipher_key_len = len;
            policy.rtcp.cipher_key_len = len;
        }
        policy.window_size = self.replay_window as c_ulong;
        policy.allow_repeat_tx = 0;
        policy.next = ptr::null_mut();
        let mut mki_copy = self.mki.clone();
        let mut master = sys::srtp_master_key_t {
            key: self.key_buf.as_mut_ptr(),
            mki_id: ptr::null_mut(),
            mki_size: 0,
        };
        let mut keys: [*mut sys::srtp_master_key_t; 1] = [ptr::null_mut()];
        match mki_copy.as_mut() {
            Some(m) => {
                master.mki_id = m.as_mut_ptr();
                master.mki_size = m.len() as c_uint;
                keys[0] = &mut master;
                policy.key = ptr::null_mut();
                policy.keys = keys.as_mut_ptr();
                policy.num_master_keys = 1;
            }
            None => {
                policy.key = self.key_buf.as_mut_ptr();
            }
        }
        f(&policy)
    }

    fn use_mki(&self) -> c_uint {
        self.mki.is_some() as c_uint
    }

    /// Protects the RTP packet `buf[..len]` in place; returns the SRTP
    /// length. `buf.len()` must be at least `len + RTP_TAILROOM`.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, i32> {
        let mut n = self.prepare_protect(buf, len, RTP_TAILROOM)?;
        // SAFETY: `self.session` is a live session; `buf` is valid for writes
        // of `len + RTP_TAILROOM` bytes (checked above), which is all libsrtp
        // may touch; `n` is a valid out-pointer holding `len`.
        let status = unsafe {
            sys::srtp_protect_mki(
                self.session,
                buf.as_mut_ptr().cast(),
                &mut n,
                self.use_mki(),
                0,
            )
        };
        check(status)?;
        Ok(n as usize)
    }

    /// Verifies and decrypts the SRTP packet `buf[..len]` in place; returns
    /// the RTP length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, i32> {
        let mut n = prepare_unprotect(buf, len)?;
        // SAFETY: live session; libsrtp reads and writes only within
        // `buf[..len]` (len <= buf.len() checked above); `n` is a valid
        // out-pointer.
        let status = unsafe {
            sys::srtp_unprotect_mki(
                self.session,
                buf.as_mut_ptr().cast(),
                &mut n,
                self.use_mki(),
            )
        };
        check(status)?;
        Ok(n as usize)
    }

    /// Protects the RTCP packet `buf[..len]` in place; returns the SRTCP
    /// length. `buf.len()` must be at least `len + RTCP_TAILROOM`.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, i32> {
        let mut n = self.prepare_protect(buf, len, RTCP_TAILROOM)?;
        // SAFETY: as in protect_rtp, with RTCP_TAILROOM (SRTP_MAX_TRAILER_LEN
        // + 4, what srtp_protect_rtcp documents it may write) checked.
        let status = unsafe {
            sys::srtp_protect_rtcp_mki(
                self.session,
                buf.as_mut_ptr().cast(),
                &mut n,
                self.use_mki(),
                0,
            )
        };
        check(status)?;
        Ok(n as usize)
    }

    /// Verifies and decrypts the SRTCP packet `buf[..len]` in place; returns
    /// the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, i32> {
        let mut n = prepare_unprotect(buf, len)?;
        // SAFETY: as in unprotect_rtp.
        let status = unsafe {
            sys::srtp_unprotect_rtcp_mki(
                self.session,
                buf.as_mut_ptr().cast(),
                &mut n,
                self.use_mki(),
            )
        };
        check(status)?;
        Ok(n as usize)
    }

    fn prepare_protect(&self, buf: &[u8], len: usize, tailroom: usize) -> Result<c_int, i32> {
        if self.inbound {
            return Err(ERR_BAD_ARGUMENT);
        }
        match len.checked_add(tailroom) {
            Some(need) if need <= buf.len() => {}
            _ => return Err(ERR_BUFFER_TOO_SMALL),
        }
        c_int::try_from(len + tailroom)
            .map(|_| len as c_int)
            .map_err(|_| ERR_BAD_ARGUMENT)
    }

    /// Sets the rollover counter of `ssrc` (before its first packet, for a
    /// late joiner or a stream that does not start at ROC 0). Adds a stream
    /// for `ssrc` if the session has none yet (wildcard sessions create
    /// streams lazily, and libsrtp can only set the ROC of an existing one).
    pub fn set_roc(&mut self, ssrc: u32, roc: u32) -> Result<(), i32> {
        if self.info.aead && roc != 0 {
            // libsrtp 2.3.0's AEAD paths mishandle a set ROC (module docs).
            return Err(ERR_UNSUPPORTED);
        }
        // SAFETY: live session; srtp_set_stream_roc only looks up the stream.
        let status = unsafe { sys::srtp_set_stream_roc(self.session, ssrc, roc) };
        if status as i32 != BAD_PARAM {
            return check(status);
        }
        // No stream for this SSRC yet: add one with the session's keys.
        let session = self.session;
        let specific = sys::srtp_ssrc_t {
            type_: sys::srtp_ssrc_type_t_ssrc_specific,
            value: ssrc,
        };
        self.with_policy(specific, |policy| {
            // SAFETY: live session; `policy` is fully initialised and its
            // pointers are valid for the duration of the call.
            check(unsafe { sys::srtp_add_stream(session, policy) })
        })?;
        // SAFETY: as above.
        check(unsafe { sys::srtp_set_stream_roc(self.session, ssrc, roc) })
    }

    /// The rollover counter libsrtp holds for `ssrc`, if it has a stream.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let mut roc = 0u32;
        // SAFETY: live session; `roc` is a valid out-pointer; the call only
        // reads the session.
        let status = unsafe { sys::srtp_get_stream_roc(self.session, ssrc, &mut roc) };
        (status as i32 == 0).then_some(roc)
    }

    /// Whether this session unprotects (`true`) or protects (`false`).
    pub fn is_inbound(&self) -> bool {
        self.inbound
    }
}

fn prepare_unprotect(buf: &[u8], len: usize) -> Result<c_int, i32> {
    if len > buf.len() {
        return Err(ERR_BUFFER_TOO_SMALL);
    }
    c_int::try_from(len).map_err(|_| ERR_BAD_ARGUMENT)
}

impl Drop for LibSrtp {
    fn drop(&mut self) {
        if !self.session.is_null() {
            // SAFETY: `session` came from a successful srtp_create, is freed
            // exactly once here, and is not used afterwards.
            unsafe {
                sys::srtp_dealloc(self.session);
            }
            self.session = ptr::null_mut();
        }
        for b in self.key_buf.iter_mut() {
            // SAFETY: `b` is a valid, aligned `&mut u8`; a volatile write
            // keeps the compiler from dropping the wipe of the key copy.
            unsafe { ptr::write_volatile(b, 0) };
        }
    }
}
