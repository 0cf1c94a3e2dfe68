//! The SRTP API: sessions that protect and unprotect RTP and RTCP in place.
//!
//! A `rampart_session` is one direction's key set (Rampart's
//! [`Context`]): it protects (a sender) or unprotects (a receiver). Unlike
//! libsrtp 2.x, protect takes the buffer's capacity and never writes past it
//! (libsrtp assumes `SRTP_MAX_TRAILER_LEN` free bytes: cisco/libsrtp#322).

use std::ffi::{c_char, CStr};

use rampart::srtp::{Context, MasterKey, Policy, SsrcPolicy, Suite, MAX_TRAILER_LEN};
use rampart::Error;

use crate::rampart_status::{self, *};
use crate::{guard, guard_value, ptr, status_of};

/// Bytes at most that protect appends to a packet, for any suite and MKI
/// (SRTCP index 4 + MKI 8 + tag 16). A buffer with this much tailroom
/// never gets `RAMPART_ERR_BUFFER_TOO_SMALL`.
pub const RAMPART_MAX_TRAILER_LEN: usize = 28;
const _: () = assert!(RAMPART_MAX_TRAILER_LEN == MAX_TRAILER_LEN);

/// Longest MKI in bytes.
pub const RAMPART_MAX_MKI_LEN: usize = 8;

/// The crypto suites (the SDES names of RFC 4568, 6188 and 7714). Pass
/// them as `uint32_t` (`rampart_session_config.suite`); 0 is no suite.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rampart_suite {
    /// AES_CM_128_HMAC_SHA1_80: 16-byte key, 14-byte salt, 10-byte tag.
    RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80 = 1,
    /// AES_CM_128_HMAC_SHA1_32: 4-byte SRTP tag (SRTCP keeps 10 bytes).
    RAMPART_SUITE_AES_CM_128_HMAC_SHA1_32 = 2,
    /// AES_192_CM_HMAC_SHA1_80 (RFC 6188): 24-byte key.
    RAMPART_SUITE_AES_192_CM_HMAC_SHA1_80 = 3,
    /// AES_192_CM_HMAC_SHA1_32 (RFC 6188).
    RAMPART_SUITE_AES_192_CM_HMAC_SHA1_32 = 4,
    /// AES_256_CM_HMAC_SHA1_80 (RFC 6188): 32-byte key.
    RAMPART_SUITE_AES_256_CM_HMAC_SHA1_80 = 5,
    /// AES_256_CM_HMAC_SHA1_32 (RFC 6188).
    RAMPART_SUITE_AES_256_CM_HMAC_SHA1_32 = 6,
    /// AEAD_AES_128_GCM (RFC 7714): 16-byte key, 12-byte salt, 16-byte tag.
    RAMPART_SUITE_AEAD_AES_128_GCM = 7,
    /// AEAD_AES_256_GCM (RFC 7714): 32-byte key, 12-byte salt.
    RAMPART_SUITE_AEAD_AES_256_GCM = 8,
    /// NULL_HMAC_SHA1_80: authentication only (16-byte key, 14-byte salt).
    RAMPART_SUITE_NULL_HMAC_SHA1_80 = 9,
    /// NULL_HMAC_SHA1_32: authentication only, 4-byte SRTP tag.
    RAMPART_SUITE_NULL_HMAC_SHA1_32 = 10,
}

/// Which SSRCs a session serves (`rampart_session_config.ssrc_type`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rampart_ssrc_type {
    /// Any SSRC (the default, 0): a stream is created on the first packet
    /// protected, or on the first that authenticates on receive (libsrtp's
    /// `ssrc_any_inbound` / `ssrc_any_outbound`).
    RAMPART_SSRC_ANY = 0,
    /// Only `rampart_session_config.ssrc`; other SSRCs are
    /// `RAMPART_ERR_UNKNOWN_SSRC`.
    RAMPART_SSRC_SPECIFIC = 1,
}

/// A master key and salt, with an optional MKI. The bytes are copied; the
/// pointers need only be valid during the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rampart_master_key {
    /// The master key (`rampart_suite_key_len(suite)` bytes).
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The master salt (`rampart_suite_salt_len(suite)` bytes).
    pub salt: *const u8,
    /// Its length.
    pub salt_len: usize,
    /// The Master Key Identifier carried in each packet, 1 to 8 bytes, or
    /// NULL / 0 for none. Every key of a session has the same MKI length;
    /// several keys need MKIs.
    pub mki: *const u8,
    /// Its length (0: no MKI).
    pub mki_len: usize,
    /// Key lifetime in packets, lower than the RFC 3711 maxima (SDES
    /// `|2^20`); 0: the maxima (2^48 SRTP, 2^31 SRTCP).
    pub lifetime: u64,
}

/// How to create a session. Zero-initialize it, then set `suite`, `keys`
/// and `num_keys`: every other field's zero is the default.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rampart_session_config {
    /// A `rampart_suite` value.
    pub suite: u32,
    /// The master keys (at least one). The first is the active key: the one
    /// protect uses. With several keys, each needs a distinct MKI.
    pub keys: *const rampart_master_key,
    /// Number of keys at `keys`.
    pub num_keys: usize,
    /// A `rampart_ssrc_type` value: `RAMPART_SSRC_ANY` (0) or
    /// `RAMPART_SSRC_SPECIFIC`.
    pub ssrc_type: u32,
    /// The SSRC, with `RAMPART_SSRC_SPECIFIC`.
    pub ssrc: u32,
    /// Replay window in packets, 64 to 32768; 0: 128.
    pub replay_window: u32,
    /// Most SSRC streams a `RAMPART_SSRC_ANY` session creates; 0: 256.
    pub max_streams: u32,
    /// Key derivation rate: 0 (derive once) or a power of two up to 2^24.
    pub key_derivation_rate: u64,
    /// Non-zero: SRTP payloads are not encrypted (SDES `UNENCRYPTED_SRTP`;
    /// not with AEAD suites).
    pub unencrypted_srtp: u8,
    /// Non-zero: SRTCP payloads are not encrypted (`UNENCRYPTED_SRTCP`).
    pub unencrypted_srtcp: u8,
}

/// Counters a session keeps about its own work (`rampart_session_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rampart_session_stats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// SRTP packets unprotected.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// SRTCP packets unprotected.
    pub rtcp_unprotected: u64,
    /// Packets whose tag did not verify.
    pub auth_failures: u64,
    /// Packets refused as replays or too old.
    pub replays: u64,
    /// Packets refused as malformed or too short.
    pub malformed: u64,
    /// Packets refused for any other reason (unknown SSRC or MKI, key
    /// exhausted, stream limit, buffer too small).
    pub other_errors: u64,
    /// SSRC streams the session holds.
    pub streams: u64,
}

/// An SRTP session: one direction's keys and per-SSRC state. Opaque;
/// created by `rampart_session_new`, freed by `rampart_session_free`.
/// Used by one thread at a time; separate sessions are independent.
pub struct rampart_session {
    ctx: Context,
}

fn suite_of(n: u32) -> Result<Suite, rampart_status> {
    Ok(match n {
        1 => Suite::AesCm128HmacSha1_80,
        2 => Suite::AesCm128HmacSha1_32,
        3 => Suite::AesCm192HmacSha1_80,
        4 => Suite::AesCm192HmacSha1_32,
        5 => Suite::AesCm256HmacSha1_80,
        6 => Suite::AesCm256HmacSha1_32,
        7 => Suite::AeadAes128Gcm,
        8 => Suite::AeadAes256Gcm,
        9 => Suite::NullHmacSha1_80,
        10 => Suite::NullHmacSha1_32,
        _ => return Err(RAMPART_ERR_UNKNOWN_SUITE),
    })
}

fn number_of(s: Suite) -> u32 {
    (1..=10).find(|&n| suite_of(n) == Ok(s)).unwrap_or_default()
}

fn master_key(suite: Suite, k: &rampart_master_key) -> Result<MasterKey, rampart_status> {
    let key = ptr::bytes(k.key, k.key_len)?;
    let salt = ptr::bytes(k.salt, k.salt_len)?;
    let mki = ptr::bytes(k.mki, k.mki_len)?;
    let mut mk = MasterKey::new(suite, key, salt).map_err(|e| status_of(&e))?;
    if !mki.is_empty() {
        if mki.len() > RAMPART_MAX_MKI_LEN {
            return Err(RAMPART_ERR_INVALID_CONFIG);
        }
        mk = mk.with_mki(mki);
    }
    if k.lifetime != 0 {
        mk = mk.with_lifetime(k.lifetime);
    }
    Ok(mk)
}

/// Creates a session from `config` and stores it in `*session_out`
/// (`NULL` there on error). Key material is copied and zeroized when the
/// session is freed.
#[no_mangle]
pub extern "C" fn rampart_session_new(
    config: *const rampart_session_config,
    session_out: *mut *mut rampart_session,
) -> rampart_status {
    guard(|| {
        ptr::write(session_out, std::ptr::null_mut())?;
        let cfg = ptr::obj(config)?;
        let suite = suite_of(cfg.suite)?;
        let keys = ptr::array(cfg.keys, cfg.num_keys)?;
        let Some((first, rest)) = keys.split_first() else {
            return Err(RAMPART_ERR_INVALID_CONFIG);
        };
        let mut policy = Policy::new(suite, master_key(suite, first)?);
        for k in rest {
            policy = policy.add_key(master_key(suite, k)?);
        }
        policy = match cfg.ssrc_type {
            0 => policy.ssrc(SsrcPolicy::Any),
            1 => policy.ssrc(SsrcPolicy::Specific(cfg.ssrc)),
            _ => return Err(RAMPART_ERR_INVALID_ARGUMENT),
        };
        if cfg.replay_window != 0 {
            policy = policy.replay_window(cfg.replay_window as usize);
        }
        if cfg.max_streams != 0 {
            policy = policy.max_streams(cfg.max_streams as usize);
        }
        policy = policy
            .key_derivation_rate(cfg.key_derivation_rate)
            .encrypt_rtp(cfg.unencrypted_srtp == 0)
            .encrypt_rtcp(cfg.unencrypted_srtcp == 0);
        let ctx = Context::new(policy).map_err(|e| status_of(&e))?;
        ptr::write(session_out, ptr::into_raw(rampart_session { ctx }))
    })
}

/// Frees a session and zeroizes its keys. NULL is ignored.
#[no_mangle]
pub extern "C" fn rampart_session_free(session: *mut rampart_session) {
    guard_value((), || drop(ptr::from_raw(session)));
}

/// Protect: `*out_len` gets the new length, or the capacity needed with
/// `RAMPART_ERR_BUFFER_TOO_SMALL`.
fn protect(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    capacity: usize,
    out_len: *mut usize,
    rtcp: bool,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        if out_len.is_null() {
            return Err(RAMPART_ERR_NULL_POINTER);
        }
        if len > capacity {
            return Err(RAMPART_ERR_INVALID_ARGUMENT);
        }
        // Only the bytes protect may write are handed over (and zeroed).
        let total = len.saturating_add(s.ctx.max_trailer_len()).min(capacity);
        let b = ptr::packet_with_tailroom(buf, len, total)?;
        let r = if rtcp {
            s.ctx.protect_rtcp(b, len)
        } else {
            s.ctx.protect_rtp(b, len)
        };
        match r {
            Ok(n) => ptr::write(out_len, n),
            Err(e) => {
                if let Error::BufferTooSmall { needed, .. } = e {
                    ptr::write_opt(out_len, needed);
                }
                Err(status_of(&e))
            }
        }
    })
}

fn unprotect(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
    rtcp: bool,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        if out_len.is_null() {
            return Err(RAMPART_ERR_NULL_POINTER);
        }
        let b = ptr::packet_mut(buf, len)?;
        let r = if rtcp {
            s.ctx.unprotect_rtcp(b)
        } else {
            s.ctx.unprotect_rtp(b)
        };
        let n = r.map_err(|e| status_of(&e))?;
        ptr::write(out_len, n)
    })
}

/// Protects an RTP packet in place. `buf[0..len)` is the RTP packet;
/// `capacity` is the size of the whole buffer at `buf` (the bytes after
/// `len` need not be initialized). The SRTP packet replaces it and its
/// length goes to `*out_len`. Protect writes at most `capacity` bytes:
/// with too little tailroom it answers `RAMPART_ERR_BUFFER_TOO_SMALL` with
/// the capacity needed in `*out_len` and leaves the packet unchanged.
/// `rampart_session_max_trailer_len` (or `RAMPART_MAX_TRAILER_LEN`) bytes of
/// tailroom are always enough.
#[no_mangle]
pub extern "C" fn rampart_protect_rtp(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    capacity: usize,
    out_len: *mut usize,
) -> rampart_status {
    protect(session, buf, len, capacity, out_len, false)
}

/// Unprotects an SRTP packet of `len` bytes in place (authenticates, checks
/// replay, decrypts); the RTP length goes to `*out_len`. A packet that
/// fails changes no session state (the buffer may be modified).
#[no_mangle]
pub extern "C" fn rampart_unprotect_rtp(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> rampart_status {
    unprotect(session, buf, len, out_len, false)
}

/// Protects an RTCP compound packet in place; as `rampart_protect_rtp`
/// (SRTCP appends the E flag and index, the MKI and the tag).
#[no_mangle]
pub extern "C" fn rampart_protect_rtcp(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    capacity: usize,
    out_len: *mut usize,
) -> rampart_status {
    protect(session, buf, len, capacity, out_len, true)
}

/// Unprotects an SRTCP packet in place; as `rampart_unprotect_rtp`.
#[no_mangle]
pub extern "C" fn rampart_unprotect_rtcp(
    session: *mut rampart_session,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> rampart_status {
    unprotect(session, buf, len, out_len, true)
}

/// Sets the rollover counter of `ssrc`'s stream (created if the session
/// serves any SSRC): for a late joiner, or a stream moved between sessions.
#[no_mangle]
pub extern "C" fn rampart_session_set_roc(
    session: *mut rampart_session,
    ssrc: u32,
    roc: u32,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        s.ctx.set_roc(ssrc, roc).map_err(|e| status_of(&e))
    })
}

/// Gets the rollover counter of `ssrc`'s stream into `*roc_out`;
/// `RAMPART_ERR_NOT_FOUND` if the session has no stream for `ssrc` yet.
#[no_mangle]
pub extern "C" fn rampart_session_get_roc(
    session: *const rampart_session,
    ssrc: u32,
    roc_out: *mut u32,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj(session)?;
        let roc = s.ctx.roc(ssrc).ok_or(RAMPART_ERR_NOT_FOUND)?;
        ptr::write(roc_out, roc)
    })
}

/// Sets the SRTCP index the next protected RTCP packet of `ssrc` uses
/// (31 bits). Rampart starts at 0 as RFC 3711 does; libsrtp starts at 1.
#[no_mangle]
pub extern "C" fn rampart_session_set_rtcp_index(
    session: *mut rampart_session,
    ssrc: u32,
    next_index: u32,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        s.ctx
            .set_rtcp_index(ssrc, next_index)
            .map_err(|e| status_of(&e))
    })
}

/// Gets the SRTCP index the next protected RTCP packet of `ssrc` will use;
/// `RAMPART_ERR_NOT_FOUND` if the session has no stream for `ssrc` yet.
#[no_mangle]
pub extern "C" fn rampart_session_get_rtcp_index(
    session: *const rampart_session,
    ssrc: u32,
    index_out: *mut u32,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj(session)?;
        let i = s.ctx.rtcp_index(ssrc).ok_or(RAMPART_ERR_NOT_FOUND)?;
        ptr::write(index_out, i)
    })
}

/// Adds a master key (hitless rekey): a receiving session accepts packets
/// under every key it holds, chosen by MKI; a sending session keeps
/// protecting with the active key until `rampart_session_set_active_mki`.
/// The key needs an MKI of the session's MKI length, not already in use.
#[no_mangle]
pub extern "C" fn rampart_session_add_key(
    session: *mut rampart_session,
    key: *const rampart_master_key,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        let k = master_key(s.ctx.suite(), ptr::obj(key)?)?;
        s.ctx.add_key(k).map_err(|e| status_of(&e))
    })
}

/// Makes the key with this MKI the one protect uses from now on.
#[no_mangle]
pub extern "C" fn rampart_session_set_active_mki(
    session: *mut rampart_session,
    mki: *const u8,
    mki_len: usize,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        let m = ptr::bytes(mki, mki_len)?;
        s.ctx.set_active_mki(m).map_err(|e| status_of(&e))
    })
}

/// Removes the key with this MKI (not the active one), e.g. once every
/// peer has moved to the new key.
#[no_mangle]
pub extern "C" fn rampart_session_remove_key(
    session: *mut rampart_session,
    mki: *const u8,
    mki_len: usize,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        let m = ptr::bytes(mki, mki_len)?;
        s.ctx.remove_key(m).map_err(|e| status_of(&e))
    })
}

/// Turns RFC 9335 cryptex on (`true`) or off for the session's RTP
/// (libsrtp 2.8's `srtp_set_stream_use_cryptex`, for every SSRC of the
/// session). With it, protect encrypts the CSRCs and the whole header
/// extension block (profile 0xC0DE / 0xC2DE) of each packet that has
/// either; a packet with CSRCs and no extension gets an empty one, 4 more
/// bytes (`rampart_session_max_trailer_len` still covers them). A session
/// with cryptex unprotects cryptex packets and takes packets without it as
/// usual (RFC 9335 §5.2). SRTCP is not affected.
///
/// Call it before the session's first packet, or at any time: it applies
/// from the next packet on, to the streams in flight as to new ones;
/// packets already protected stay as they are. A session without cryptex
/// cannot unprotect cryptex packets, so on a running call turn it on at
/// the receiver before the sender, and off at the sender before the
/// receiver. It changes nothing where SRTP payloads are not encrypted
/// (`unencrypted_srtp`, the NULL suites), as in libsrtp. Only
/// `RAMPART_ERR_NULL_POINTER` can fail it.
#[no_mangle]
pub extern "C" fn rampart_session_set_cryptex(
    session: *mut rampart_session,
    enable: bool,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        s.ctx.set_cryptex(enable);
        Ok(())
    })
}

/// Whether cryptex is set on the session (`rampart_session_set_cryptex`);
/// false if `session` is NULL.
#[no_mangle]
pub extern "C" fn rampart_session_cryptex(session: *const rampart_session) -> bool {
    guard_value(false, || ptr::obj(session).is_ok_and(|s| s.ctx.cryptex()))
}

/// RFC 6904: encrypts the data of the RFC 8285 header extension elements
/// whose IDs are the `n` bytes at `ids` (one-byte form IDs 1-14, two-byte
/// form 0-255; the `a=extmap` IDs negotiated with
/// `urn:ietf:params:rtp-hdrext:encrypt`), as libsrtp's
/// `srtp_policy_t.enc_xtn_hdr`; the list replaces the previous one, and
/// `n` = 0 (`ids` may then be NULL) turns it off. Both sides must list the
/// same IDs. With it, a packet whose extension is not an RFC 8285 block,
/// or has an element running past it, is refused as
/// `RAMPART_ERR_MALFORMED`. A packet protected with cryptex is never also
/// RFC 6904-encrypted (cryptex wins on protect; unprotect takes either).
///
/// Call it before the session's first packet, or between packets: the
/// header keys are derived here, and the next packet follows the new
/// list, for the streams in flight as for new ones; packets already
/// protected stay as they are. A receiver decrypts with the list it holds
/// when a packet arrives, so on a running call both sides must switch at
/// the same packet. It applies where SRTP payloads are encrypted (not with
/// `unencrypted_srtp` or the NULL suites, as in libsrtp):
/// `rampart_session_encrypts_header_extensions` tells whether it does.
/// `RAMPART_ERR_NULL_POINTER` for a NULL session, or `ids` NULL with
/// `n` > 0; on any error the session is unchanged.
#[no_mangle]
pub extern "C" fn rampart_session_encrypt_header_extensions(
    session: *mut rampart_session,
    ids: *const u8,
    n: usize,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj_mut(session)?;
        let ids = ptr::bytes(ids, n)?;
        s.ctx
            .set_encrypted_extensions(ids)
            .map_err(|e| status_of(&e))
    })
}

/// Whether the session encrypts RFC 6904 header extension elements (a
/// non-empty list set, and SRTP encrypted); false if `session` is NULL.
#[no_mangle]
pub extern "C" fn rampart_session_encrypts_header_extensions(
    session: *const rampart_session,
) -> bool {
    guard_value(false, || {
        ptr::obj(session).is_ok_and(|s| s.ctx.encrypts_header_extensions())
    })
}

/// Copies the session's counters into `*stats_out`.
#[no_mangle]
pub extern "C" fn rampart_session_get_stats(
    session: *const rampart_session,
    stats_out: *mut rampart_session_stats,
) -> rampart_status {
    guard(|| {
        let s = ptr::obj(session)?;
        let c = s.ctx.stats();
        ptr::write(
            stats_out,
            rampart_session_stats {
                rtp_protected: c.rtp_protected,
                rtp_unprotected: c.rtp_unprotected,
                rtcp_protected: c.rtcp_protected,
                rtcp_unprotected: c.rtcp_unprotected,
                auth_failures: c.auth_failures,
                replays: c.replays + c.protect_replays,
                malformed: c.malformed,
                other_errors: c.other_errors,
                streams: s.ctx.stream_count() as u64,
            },
        )
    })
}

/// Bytes at most protect appends to a packet with this session (RTP or
/// RTCP); 0 if `session` is NULL.
#[no_mangle]
pub extern "C" fn rampart_session_max_trailer_len(session: *const rampart_session) -> usize {
    guard_value(0, || {
        ptr::obj(session).map_or(0, |s| s.ctx.max_trailer_len())
    })
}

/// The session's suite (a `rampart_suite` value); 0 if `session` is NULL.
#[no_mangle]
pub extern "C" fn rampart_session_suite(session: *const rampart_session) -> u32 {
    guard_value(0, || {
        ptr::obj(session).map_or(0, |s| number_of(s.ctx.suite()))
    })
}

/// The SDES name of a suite (`"AES_CM_128_HMAC_SHA1_80"`), a static string;
/// NULL for an unknown suite.
#[no_mangle]
pub extern "C" fn rampart_suite_name(suite: u32) -> *const c_char {
    // Suite names are the engine's; NUL-terminated copies live here.
    const NAMES: [&CStr; 10] = [
        c"AES_CM_128_HMAC_SHA1_80",
        c"AES_CM_128_HMAC_SHA1_32",
        c"AES_192_CM_HMAC_SHA1_80",
        c"AES_192_CM_HMAC_SHA1_32",
        c"AES_256_CM_HMAC_SHA1_80",
        c"AES_256_CM_HMAC_SHA1_32",
        c"AEAD_AES_128_GCM",
        c"AEAD_AES_256_GCM",
        c"NULL_HMAC_SHA1_80",
        c"NULL_HMAC_SHA1_32",
    ];
    match suite {
        1..=10 => NAMES[suite as usize - 1].as_ptr(),
        _ => std::ptr::null(),
    }
}

/// Looks a suite up by its SDES name into `*suite_out`.
#[no_mangle]
pub extern "C" fn rampart_suite_from_name(
    name: *const c_char,
    suite_out: *mut u32,
) -> rampart_status {
    guard(|| {
        let n = ptr::str(name)?;
        let s = Suite::from_name(n).map_err(|e| status_of(&e))?;
        ptr::write(suite_out, number_of(s))
    })
}

/// The `rampart_suite` number of an SDES suite name, 0 if unknown (for
/// Rust callers of the C API, such as the ABI benchmark).
pub fn rampart_suite_from_name_str(name: &str) -> u32 {
    Suite::from_name(name).map_or(0, number_of)
}

/// Master key length in bytes of a suite; 0 for an unknown suite.
#[no_mangle]
pub extern "C" fn rampart_suite_key_len(suite: u32) -> usize {
    suite_of(suite).map_or(0, |s| s.master_key_len())
}

/// Master salt length in bytes of a suite; 0 for an unknown suite.
#[no_mangle]
pub extern "C" fn rampart_suite_salt_len(suite: u32) -> usize {
    suite_of(suite).map_or(0, |s| s.master_salt_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_numbers_and_names_agree_with_the_engine() {
        for n in 1..=10u32 {
            let s = suite_of(n).unwrap();
            assert_eq!(number_of(s), n);
            let name = crate::ptr::static_cstr(rampart_suite_name(n));
            assert_eq!(name, s.name());
        }
        assert_eq!(suite_of(0), Err(RAMPART_ERR_UNKNOWN_SUITE));
        assert!(rampart_suite_name(11).is_null());
        assert_eq!(Suite::ALL.len(), 10);
    }

    #[test]
    fn round_trip_through_the_exports() {
        let key = [7u8; 16];
        let salt = [9u8; 14];
        let mk = rampart_master_key {
            key: key.as_ptr(),
            key_len: 16,
            salt: salt.as_ptr(),
            salt_len: 14,
            mki: std::ptr::null(),
            mki_len: 0,
            lifetime: 0,
        };
        let cfg = rampart_session_config {
            suite: rampart_suite::RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80 as u32,
            keys: &mk,
            num_keys: 1,
            ssrc_type: 0,
            ssrc: 0,
            replay_window: 0,
            max_streams: 0,
            key_derivation_rate: 0,
            unencrypted_srtp: 0,
            unencrypted_srtcp: 0,
        };
        let mut tx = std::ptr::null_mut();
        let mut rx = std::ptr::null_mut();
        assert_eq!(rampart_session_new(&cfg, &mut tx), RAMPART_OK);
        assert_eq!(rampart_session_new(&cfg, &mut rx), RAMPART_OK);
        let mut buf = [0u8; 200];
        buf[0] = 0x80;
        buf[8..12].copy_from_slice(&0x1234u32.to_be_bytes());
        let mut n = 0usize;
        // Too small a capacity: refused, needed size reported.
        assert_eq!(
            rampart_protect_rtp(tx, buf.as_mut_ptr(), 172, 175, &mut n),
            RAMPART_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 182);
        assert_eq!(
            rampart_protect_rtp(tx, buf.as_mut_ptr(), 172, 200, &mut n),
            RAMPART_OK
        );
        assert_eq!(n, 182);
        let mut m = 0usize;
        assert_eq!(
            rampart_unprotect_rtp(rx, buf.as_mut_ptr(), n, &mut m),
            RAMPART_OK
        );
        assert_eq!(m, 172);
        assert_eq!(
            rampart_protect_rtp(std::ptr::null_mut(), buf.as_mut_ptr(), 1, 2, &mut n),
            RAMPART_ERR_NULL_POINTER
        );
        assert_eq!(
            rampart_protect_rtp(tx, buf.as_mut_ptr(), 201, 200, &mut n),
            RAMPART_ERR_INVALID_ARGUMENT
        );
        rampart_session_free(tx);
        rampart_session_free(rx);
        rampart_session_free(std::ptr::null_mut());
    }
}
