//! A libsrtp policy, copied out of C memory, and the Rampart context it
//! asks for.
//!
//! libsrtp describes a stream with two crypto policies (SRTP and SRTCP)
//! of free-form fields; Rampart with one named suite. The pairs that name
//! a suite (every SDES, RFC 6188 and RFC 7714 suite, as the
//! `srtp_crypto_policy_set_*` setters and profiles write them) map to it;
//! any other pair is refused with `srtp_err_status_bad_param` at
//! `srtp_create`/`srtp_add_stream`, never half-honoured (see README:
//! "what is not supported").

use rampart::srtp::{Context, MasterKey, Policy, SsrcPolicy, StreamCheckpoint, Suite};
use zeroize::Zeroizing;

use crate::abi::*;

/// Which SSRCs a policy covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SsrcKind {
    /// One SSRC.
    Specific(u32),
    /// The session's template, for SSRCs first seen on receive.
    AnyInbound,
    /// The session's template, for SSRCs first seen on send.
    AnyOutbound,
}

/// One master key from `srtp_policy_t.keys`.
pub(crate) struct KeyDesc {
    /// Key followed by salt (`SRTP_MAX_KEY_LEN` bytes read at most).
    pub key: Zeroizing<Vec<u8>>,
    /// Its MKI.
    pub mki: Vec<u8>,
}

/// An `srtp_policy_t`, its pointers followed and their bytes copied.
pub(crate) struct PolicyDesc {
    /// `ssrc.type` and `ssrc.value` (`None`: an undefined type).
    pub ssrc: Option<SsrcKind>,
    /// SRTP crypto policy.
    pub rtp: srtp_crypto_policy_t,
    /// SRTCP crypto policy.
    pub rtcp: srtp_crypto_policy_t,
    /// `key` (key followed by salt), when not NULL.
    pub key: Option<Zeroizing<Vec<u8>>>,
    /// `keys[0..num_master_keys]`, when `key` is NULL.
    pub keys: Vec<KeyDesc>,
    /// `num_master_keys` as given (checked against the bound).
    pub num_master_keys: std::ffi::c_ulong,
    /// `window_size`.
    pub window_size: std::ffi::c_ulong,
    /// `allow_repeat_tx`.
    pub allow_repeat_tx: bool,
    /// `enc_xtn_hdr[0..enc_xtn_hdr_count]` (RFC 6904 IDs), empty when the
    /// pointer is NULL or the count not positive.
    pub enc_xtn_hdr: Vec<i32>,
}

impl PolicyDesc {
    /// Bytes of key + salt to read from `key` (and each `keys[i]->key`):
    /// as libsrtp, the longer of the two crypto policies' key lengths.
    pub(crate) fn key_read_len(rtp: &srtp_crypto_policy_t, rtcp: &srtp_crypto_policy_t) -> usize {
        let mut n = rtp.cipher_key_len.max(rtcp.cipher_key_len);
        if rtp.cipher_type == SRTP_NULL_CIPHER || rtcp.cipher_type == SRTP_NULL_CIPHER {
            // The null cipher's HMAC keys come from a 16-byte key and a
            // 14-byte salt (libsrtp >= 2.4, RFC 3711), whatever the field.
            n = n.max(30);
        }
        usize::try_from(n).unwrap_or(0).min(SRTP_MAX_KEY_LEN)
    }
}

/// What a stream was built from, kept for trailer lengths and MKI lookups.
#[derive(Clone, Debug)]
pub(crate) struct StreamSpec {
    /// The suite.
    pub suite: Suite,
    /// Each key's MKI, in `keys` order (empty: no MKIs).
    pub mkis: Vec<Vec<u8>>,
    /// Whether SRTP payloads are encrypted.
    pub enc_rtp: bool,
    /// Each master key and salt (to tell a rekey from a repeated key).
    pub key_bytes: Vec<Zeroizing<Vec<u8>>>,
    /// The keys this stream ran with before (updates, replacements), the
    /// newest [`MAX_RETIRED_KEYS`]; `None` once older ones were dropped
    /// (then every key counts as possibly used).
    pub retired: Option<Vec<Zeroizing<Vec<u8>>>>,
    /// Where the streams of replaced contexts stood (their highest
    /// indexes): a retired key that comes back continues past them.
    pub floor: Vec<StreamCheckpoint>,
    /// Whether SRTCP is encrypted (the E flag the stream expects).
    pub enc_rtcp: bool,
    /// Whether the stream protects SRTCP at all.
    pub rtcp: bool,
}

/// Retired keys a stream remembers (a few KiB at most).
pub(crate) const MAX_RETIRED_KEYS: usize = 64;
/// Checkpoints of replaced streams a stream remembers.
const MAX_FLOOR: usize = 1024;

impl StreamSpec {
    /// Whether one of this spec's keys may already have run on the stream
    /// `old` describes: one of its keys, one it retired, or any when its
    /// history was cut.
    pub(crate) fn reuses_a_key_of(&self, old: &StreamSpec) -> bool {
        let Some(retired) = &old.retired else {
            return true;
        };
        self.key_bytes
            .iter()
            .any(|k| old.key_bytes.contains(k) || retired.contains(k))
    }

    /// Takes over `old`'s key history: its retired keys and its current
    /// ones, which this spec replaces, and where `old_streams` (the old
    /// context's streams this one replaces) and `old`'s floor stood.
    pub(crate) fn inherit(&mut self, old: &StreamSpec, old_streams: Vec<StreamCheckpoint>) {
        self.floor = old.floor.iter().cloned().chain(old_streams).collect();
        if self.floor.len() > MAX_FLOOR {
            // Too many replaced streams to remember: keep none, and treat
            // every key as possibly used.
            self.floor.clear();
            self.retired = None;
        }
        let (Some(mine), Some(theirs)) = (&mut self.retired, &old.retired) else {
            self.retired = None;
            return;
        };
        for k in theirs.iter().chain(&old.key_bytes) {
            if !mine.contains(k) {
                mine.push(k.clone());
            }
        }
        if mine.len() > MAX_RETIRED_KEYS {
            self.retired = None;
        }
    }

    /// The MKI length every key shares (0: none).
    pub(crate) fn mki_len(&self) -> usize {
        self.mkis.first().map_or(0, Vec::len)
    }
}

/// What a pair of crypto policies asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Protection {
    /// The suite.
    pub suite: Suite,
    /// Whether SRTP payloads are encrypted.
    pub enc_rtp: bool,
    /// Whether SRTCP payloads are encrypted.
    pub enc_rtcp: bool,
    /// Whether the stream protects SRTCP at all (`false`: the SRTCP policy
    /// asks for no security service, as Janus's forwarders and rtpw leave
    /// it; this library then refuses SRTCP calls on the stream rather
    /// than send RTCP without a tag).
    pub rtcp: bool,
}

/// The suite a pair of crypto policies names, or `bad_param`.
///
/// Taken: the pairs the setters and profiles write; an SRTCP policy with
/// no service (RTCP unused); and a null cipher with HMAC-SHA1 on one side
/// beside AES-CM on the other (SDES `UNENCRYPTED_SRTP`/`_SRTCP`, as
/// mediastreamer2 writes it: libsrtp derives the same HMAC keys from the
/// same master key either way). Refused: SRTP without authentication,
/// GCM with 8-byte tags, a 4-byte SRTCP tag, and different ciphers on the
/// two sides.
pub(crate) fn suite_of(
    rtp: &srtp_crypto_policy_t,
    rtcp: &srtp_crypto_policy_t,
) -> Result<Protection, srtp_err_status_t> {
    use Suite::*;
    let bad = srtp_err_status_bad_param;
    // (cipher, key+salt length) → the family; the null cipher's key
    // length is 0 (libsrtp 2.3's setter) or 30 (2.4 on).
    let family = |c: &srtp_crypto_policy_t| -> Result<u8, srtp_err_status_t> {
        match (c.cipher_type, c.cipher_key_len) {
            (SRTP_AES_ICM_128, 30) => Ok(1),
            (SRTP_AES_ICM_192, 38) => Ok(2),
            (SRTP_AES_ICM_256, 46) => Ok(3),
            (SRTP_AES_GCM_128, 28) => Ok(4),
            (SRTP_AES_GCM_256, 44) => Ok(5),
            (SRTP_NULL_CIPHER, 0 | 30) => Ok(0),
            _ => Err(bad),
        }
    };
    let rtcp_used = rtcp.sec_serv != sec_serv_none;
    let fr = family(rtp)?;
    let fc = if rtcp_used { family(rtcp)? } else { fr };
    // One cipher for both; a null cipher beside AES-CM is that AES-CM
    // without encryption on the null side.
    let fam = match (fr, fc) {
        (a, b) if a == b => a,
        (0, b @ 1..=3) => b,
        (a @ 1..=3, 0) => a,
        _ => return Err(bad),
    };
    let gcm =
        |c: &srtp_crypto_policy_t| matches!(c.cipher_type, SRTP_AES_GCM_128 | SRTP_AES_GCM_256);
    let conf = |c: &srtp_crypto_policy_t| match c.sec_serv {
        x if x == sec_serv_conf_and_auth => Ok(c.cipher_type != SRTP_NULL_CIPHER),
        // GCM authenticates whatever the field says (GStreamer's srtpenc
        // writes `sec_serv_conf` for it; libsrtp takes it).
        x if x == sec_serv_conf && gcm(c) => Ok(true),
        x if x == sec_serv_auth => Ok(false),
        _ => Err(bad), // no authentication: Rampart always authenticates
    };
    let enc_rtp = conf(rtp)?;
    let enc_rtcp = if rtcp_used { conf(rtcp)? } else { enc_rtp };
    let hmac = |c: &srtp_crypto_policy_t, tag: i32| {
        c.auth_type == SRTP_HMAC_SHA1 && c.auth_key_len == 20 && c.auth_tag_len == tag
    };
    if fam >= 4 {
        // AEAD: the tag is GCM's 16 bytes, no HMAC; always encrypts.
        let aead = |c: &srtp_crypto_policy_t| c.auth_type == SRTP_NULL_AUTH && c.auth_tag_len == 16;
        if !aead(rtp) || !enc_rtp || (rtcp_used && (!aead(rtcp) || !enc_rtcp)) {
            return Err(bad);
        }
        let suite = if fam == 4 {
            AeadAes128Gcm
        } else {
            AeadAes256Gcm
        };
        return Ok(Protection {
            suite,
            enc_rtp: true,
            enc_rtcp: true,
            rtcp: rtcp_used,
        });
    }
    // HMAC-SHA1 suites: SRTCP always carries the 80-bit tag.
    if rtcp_used && !hmac(rtcp, 10) {
        return Err(bad);
    }
    let short = if hmac(rtp, 10) {
        false
    } else if hmac(rtp, 4) {
        true
    } else {
        return Err(bad);
    };
    let suite = match (fam, short) {
        (0, false) => NullHmacSha1_80,
        (0, true) => NullHmacSha1_32,
        (1, false) => AesCm128HmacSha1_80,
        (1, true) => AesCm128HmacSha1_32,
        (2, false) => AesCm192HmacSha1_80,
        (2, true) => AesCm192HmacSha1_32,
        (3, false) => AesCm256HmacSha1_80,
        _ => AesCm256HmacSha1_32,
    };
    Ok(Protection {
        suite,
        enc_rtp,
        enc_rtcp,
        rtcp: rtcp_used,
    })
}

/// Streams a template context may create: as many as fit Rampart's
/// per-context state bound at this window, at most 4096.
fn template_streams(window: usize) -> usize {
    (rampart::srtp::MAX_STREAM_STATE_BYTES / rampart::srtp::stream_state_bytes(window, false))
        .clamp(1, 4096)
}

/// Builds the context `d` describes.
pub(crate) fn build(d: &PolicyDesc) -> Result<(Context, StreamSpec), srtp_err_status_t> {
    let bad = srtp_err_status_bad_param;
    let ssrc = d.ssrc.ok_or(bad)?;
    let Protection {
        suite,
        enc_rtp,
        enc_rtcp,
        rtcp,
    } = suite_of(&d.rtp, &d.rtcp)?;
    let (klen, slen) = (suite.master_key_len(), suite.master_salt_len());
    let mut key_bytes = Vec::new();
    let mut split = |bytes: &[u8]| -> Result<MasterKey, srtp_err_status_t> {
        if bytes.len() < klen + slen {
            return Err(bad);
        }
        key_bytes.push(Zeroizing::new(bytes[..klen + slen].to_vec()));
        MasterKey::new(suite, &bytes[..klen], &bytes[klen..klen + slen]).map_err(|_| bad)
    };
    let mut keys = Vec::new();
    let mut mkis = Vec::new();
    match &d.key {
        Some(k) => keys.push(split(k)?),
        None => {
            if d.num_master_keys == 0 || d.num_master_keys as usize > SRTP_MAX_NUM_MASTER_KEYS {
                return Err(bad);
            }
            let len = d.keys.first().map_or(0, |k| k.mki.len());
            for k in &d.keys {
                // One MKI length for all keys, 1 to 8 bytes (or one key
                // without an MKI).
                if k.mki.len() != len || len > rampart::srtp::MAX_MKI_LEN {
                    return Err(bad);
                }
                if len == 0 && d.keys.len() > 1 {
                    return Err(bad);
                }
                let key = split(&k.key)?;
                keys.push(if len > 0 { key.with_mki(&k.mki) } else { key });
                if len > 0 {
                    if mkis.contains(&k.mki) {
                        return Err(bad);
                    }
                    mkis.push(k.mki.clone());
                }
            }
        }
    }
    // libsrtp: 0 is the default 128; otherwise 64 <= w < 0x8000, and its
    // bit vector rounds the window up to whole 32-bit words.
    let window = match d.window_size {
        0 => 128,
        w if (64..0x8000).contains(&w) => (w as usize + 31) & !31,
        _ => return Err(bad),
    };
    let mut keys = keys.into_iter();
    let first = keys.next().ok_or(bad)?;
    let mut p = Policy::new(suite, first)
        .replay_window(window)
        .rtcp_replay_window(128)
        .encrypt_rtp(enc_rtp)
        .encrypt_rtcp(enc_rtcp)
        .allow_repeat_tx(d.allow_repeat_tx);
    if !d.enc_xtn_hdr.is_empty() {
        // RFC 6904, as libsrtp 2.5: an int that is no extension ID (outside
        // 0..=255) matches no element.
        let ids: Vec<u8> = d
            .enc_xtn_hdr
            .iter()
            .filter_map(|&id| u8::try_from(id).ok())
            .collect();
        p = p.encrypt_header_extensions(&ids);
    }
    for k in keys {
        p = p.add_key(k);
    }
    p = match ssrc {
        SsrcKind::Specific(s) => p.ssrc(SsrcPolicy::Specific(s)),
        _ => p
            .ssrc(SsrcPolicy::Any)
            .max_streams(template_streams(window)),
    };
    let mut ctx = Context::new(p).map_err(|_| bad)?;
    // libsrtp's first SRTCP index is 1 (it counts up before sealing).
    ctx.resume(&[], 1).map_err(|_| bad)?;
    if let SsrcKind::Specific(s) = ssrc {
        ctx.set_rtcp_index(s, 1).map_err(|_| bad)?;
    }
    Ok((
        ctx,
        StreamSpec {
            suite,
            mkis,
            enc_rtp: enc_rtp && suite.encrypts(),
            key_bytes,
            retired: Some(Vec::new()),
            floor: Vec::new(),
            enc_rtcp: enc_rtcp && suite.encrypts(),
            rtcp,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(cipher: u32, klen: i32, auth: u32, tag: i32, serv: i32) -> srtp_crypto_policy_t {
        srtp_crypto_policy_t {
            cipher_type: cipher,
            cipher_key_len: klen,
            auth_type: auth,
            auth_key_len: if auth == SRTP_HMAC_SHA1 { 20 } else { 0 },
            auth_tag_len: tag,
            sec_serv: serv,
        }
    }

    fn p(
        suite: Suite,
        enc_rtp: bool,
        enc_rtcp: bool,
        rtcp: bool,
    ) -> Result<Protection, srtp_err_status_t> {
        Ok(Protection {
            suite,
            enc_rtp,
            enc_rtcp,
            rtcp,
        })
    }

    #[test]
    fn the_setters_pairs_name_suites_and_others_are_refused() {
        let cm80 = cp(
            SRTP_AES_ICM_128,
            30,
            SRTP_HMAC_SHA1,
            10,
            sec_serv_conf_and_auth,
        );
        let cm32 = cp(
            SRTP_AES_ICM_128,
            30,
            SRTP_HMAC_SHA1,
            4,
            sec_serv_conf_and_auth,
        );
        let cm256 = cp(
            SRTP_AES_ICM_256,
            46,
            SRTP_HMAC_SHA1,
            10,
            sec_serv_conf_and_auth,
        );
        let gcm = cp(
            SRTP_AES_GCM_256,
            44,
            SRTP_NULL_AUTH,
            16,
            sec_serv_conf_and_auth,
        );
        let gcm8 = cp(
            SRTP_AES_GCM_128,
            28,
            SRTP_NULL_AUTH,
            8,
            sec_serv_conf_and_auth,
        );
        let null80 = cp(SRTP_NULL_CIPHER, 30, SRTP_HMAC_SHA1, 10, sec_serv_auth);
        let noauth = cp(SRTP_AES_ICM_128, 30, SRTP_NULL_AUTH, 0, sec_serv_conf);
        let zero = srtp_crypto_policy_t::default();
        let mut unused = cm80;
        unused.sec_serv = sec_serv_none;
        use Suite::*;
        assert_eq!(
            suite_of(&cm80, &cm80),
            p(AesCm128HmacSha1_80, true, true, true)
        );
        assert_eq!(
            suite_of(&cm32, &cm80),
            p(AesCm128HmacSha1_32, true, true, true)
        );
        assert_eq!(suite_of(&gcm, &gcm), p(AeadAes256Gcm, true, true, true));
        assert_eq!(
            suite_of(&null80, &null80),
            p(NullHmacSha1_80, false, false, true)
        );
        let mut auth_only = cm80;
        auth_only.sec_serv = sec_serv_auth;
        assert_eq!(
            suite_of(&auth_only, &cm80),
            p(AesCm128HmacSha1_80, false, true, true)
        );
        // mediastreamer2's unencrypted SRTP: a null cipher beside AES-CM.
        assert_eq!(
            suite_of(&null80, &cm80),
            p(AesCm128HmacSha1_80, false, true, true)
        );
        // RTCP left unused (Janus's forwarders: all zero; rtpw: no service).
        assert_eq!(
            suite_of(&cm80, &zero),
            p(AesCm128HmacSha1_80, true, true, false)
        );
        assert_eq!(
            suite_of(&cm256, &unused),
            p(AesCm256HmacSha1_80, true, true, false)
        );
        assert_eq!(suite_of(&gcm, &zero), p(AeadAes256Gcm, true, true, false));
        let mut gst_gcm = gcm;
        gst_gcm.sec_serv = sec_serv_conf;
        assert_eq!(
            suite_of(&gst_gcm, &gst_gcm),
            p(AeadAes256Gcm, true, true, true)
        );
        for (r, c) in [
            (gcm8, gcm8),
            (noauth, noauth),
            (cm80, cm32),
            (cm80, gcm),
            (gcm, cm80),
            (cm256, cm80),
            (zero, cm80),
        ] {
            assert_eq!(
                suite_of(&r, &c),
                Err(srtp_err_status_bad_param),
                "{r:?} {c:?}"
            );
        }
    }
}
