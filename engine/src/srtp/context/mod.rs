//! The SRTP context: one direction's keys, streams and counters, and the
//! four in-place transforms.
//!
//! The pieces live by concern: `policy` (configuration and bounds),
//! `master_keys` (key slots and rekeying), `streams` (the per-SSRC table),
//! `kdr` (keys derived on the packet path), `iv`, the transforms in `rtp`
//! and `rtcp`, and `packet_keys` (the key picking and state commits they
//! share around the cipher). This file holds the [`Context`] type itself, its
//! construction and its public entry points.

mod batch;
mod header_ext;
mod iv;
mod kdr;
mod master_keys;
mod packet_keys;
mod policy;
mod rtcp;
mod rtp;
mod stats;
mod streams;

pub use policy::{
    stream_state_bytes, Policy, SsrcPolicy, DEFAULT_MAX_STREAMS, MAX_KEYS, MAX_STREAM_STATE_BYTES,
};
pub use stats::ContextStats;
pub use streams::StreamCheckpoint;

use kdr::KdrCache;
use master_keys::KeySlot;
use streams::{Stream, StreamIndex};

use super::suite::Suite;
use crate::Error;

/// One direction's SRTP/SRTCP state: keys, streams, counters.
pub struct Context {
    suite: Suite,
    slots: Vec<KeySlot>,
    active: usize,
    mki_len: usize,
    ssrc_policy: SsrcPolicy,
    window: usize,
    rtcp_window: usize,
    /// The SRTCP index a new stream starts at (0; further on for a
    /// context that continues another's, see `resume`).
    rtcp_start: u32,
    kdr_shift: Option<u32>,
    max_streams: usize,
    encrypt_rtp: bool,
    encrypt_rtcp: bool,
    allow_repeat_tx: bool,
    /// RFC 6904 element IDs, `None` when the context does not encrypt
    /// header extension elements (or does not encrypt SRTP).
    /// Boxed: a context without it pays one pointer.
    header_ext: Option<Box<header_ext::ExtIds>>,
    /// RFC 9335 cryptex as configured, and whether it applies (SRTP
    /// encrypted).
    cryptex_wanted: bool,
    cryptex_on: bool,
    streams: Vec<Stream>,
    by_ssrc: StreamIndex,
    last: usize,
    /// Keys derived for a packet of an SSRC that has no stream yet, not yet
    /// authenticated (session keys do not depend on the SSRC).
    kdr_new_rtp: KdrCache,
    kdr_new_rtcp: KdrCache,
    stats: ContextStats,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .field("keys", &self.slots.len())
            .field("mki_len", &self.mki_len)
            .field("ssrc_policy", &self.ssrc_policy)
            .field("streams", &self.streams.len())
            .field("stats", &self.stats)
            .finish()
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Context {
    /// Checks `policy` and derives every key. This is where all key
    /// schedules run; nothing on the packet path does.
    pub fn new(policy: Policy) -> Result<Context, Error> {
        let Policy {
            suite,
            keys,
            ssrc,
            replay_window,
            rtcp_replay_window,
            kdr,
            max_streams,
            encrypt_rtp,
            encrypt_rtcp,
            allow_repeat_tx,
            header_ext_ids,
            cryptex,
        } = policy;
        if keys.is_empty() {
            return Err(Error::InvalidConfig("a context needs a master key"));
        }
        if !(crate::srtp::MIN_REPLAY_WINDOW..=crate::srtp::MAX_REPLAY_WINDOW)
            .contains(&replay_window)
        {
            return Err(Error::InvalidConfig(
                "replay window must be 64..=32768 packets",
            ));
        }
        let rtcp_window = rtcp_replay_window.unwrap_or(replay_window);
        if !(crate::srtp::MIN_REPLAY_WINDOW..=crate::srtp::MAX_REPLAY_WINDOW).contains(&rtcp_window)
        {
            return Err(Error::InvalidConfig(
                "SRTCP replay window must be 64..=32768 packets",
            ));
        }
        let kdr_shift = match kdr {
            0 => None,
            k if k.is_power_of_two() && k <= 1 << 24 => Some(k.trailing_zeros()),
            _ => {
                return Err(Error::InvalidConfig(
                    "key derivation rate must be 0 or 2^0..2^24",
                ))
            }
        };
        if suite.is_aead() && !encrypt_rtp {
            return Err(Error::InvalidConfig("AEAD suites always encrypt SRTP"));
        }
        if max_streams == 0 {
            return Err(Error::InvalidConfig("max_streams must be positive"));
        }
        let per_stream = stream_state_bytes(replay_window.max(rtcp_window), kdr_shift.is_some());
        if max_streams.saturating_mul(per_stream) > MAX_STREAM_STATE_BYTES {
            return Err(Error::InvalidConfig(
                "max_streams x per-stream state (replay window) exceeds 4 MiB",
            ));
        }
        if keys.len() > MAX_KEYS {
            return Err(Error::InvalidConfig(
                "a context holds at most 16 master keys",
            ));
        }
        let mki_len = keys[0].mki_len_raw();
        let encrypts_rtp = encrypt_rtp && suite.encrypts();
        let ids = header_ext::ExtIds::from_ids(&header_ext_ids);
        let mut ctx = Context {
            suite,
            slots: Vec::with_capacity(keys.len()),
            active: 0,
            mki_len,
            ssrc_policy: ssrc,
            window: replay_window,
            rtcp_window,
            rtcp_start: 0,
            kdr_shift,
            max_streams,
            encrypt_rtp,
            encrypt_rtcp: encrypt_rtcp && suite.encrypts(),
            allow_repeat_tx,
            header_ext: (encrypts_rtp && !ids.is_empty()).then(|| Box::new(ids)),
            cryptex_wanted: cryptex,
            cryptex_on: cryptex && encrypts_rtp,
            streams: Vec::new(),
            by_ssrc: StreamIndex::default(),
            last: usize::MAX,
            kdr_new_rtp: KdrCache::default(),
            kdr_new_rtcp: KdrCache::default(),
            stats: ContextStats::default(),
        };
        for key in keys {
            ctx.add_key(key)?;
        }
        ctx.active = 0;
        if let SsrcPolicy::Specific(s) = ssrc {
            ctx.insert_stream(s)?;
        }
        Ok(ctx)
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// MKI length in bytes (0 without MKI).
    pub fn mki_len(&self) -> usize {
        self.mki_len
    }

    /// Bytes protect may append to an RTP or RTCP packet with this context.
    pub fn max_trailer_len(&self) -> usize {
        4 + self.mki_len + self.suite.srtp_tag_len().max(self.suite.srtcp_tag_len())
    }

    /// Turns RFC 9335 cryptex on or off (see [`Policy::cryptex`]): for
    /// libsrtp's `srtp_set_stream_use_cryptex`, which may be called on a
    /// context in use. Packets already protected are not affected.
    pub fn set_cryptex(&mut self, on: bool) {
        self.cryptex_wanted = on;
        self.cryptex_on = on && self.encrypt_rtp && self.suite.encrypts();
    }

    /// Whether cryptex is configured (see [`Context::set_cryptex`]).
    pub fn cryptex(&self) -> bool {
        self.cryptex_wanted
    }

    /// Whether the context encrypts RFC 6904 header extension elements.
    pub fn encrypts_header_extensions(&self) -> bool {
        self.header_ext.is_some()
    }

    /// Sets the RFC 6904 extension IDs whose elements are encrypted (see
    /// [`Policy::encrypt_header_extensions`]) on a context that may be in
    /// use; an empty list turns it off. The next packet follows the new
    /// list: packets already protected are not affected, and a receiver
    /// decrypts with the list it has when a packet arrives, so both sides
    /// must switch at the same packet (or the receiver recovers elements
    /// the sender did not encrypt scrambled). As with the policy, nothing
    /// changes where SRTP is not encrypted (`encrypt_rtp(false)`, NULL
    /// suites): [`encrypts_header_extensions`](Self::encrypts_header_extensions)
    /// tells.
    ///
    /// The header keys (labels 0x06/0x07) are derived here for every master
    /// key the context holds, and for the keys it derived with a key
    /// derivation rate, if the context was built without them; a context
    /// set this way protects and unprotects exactly as one built with the
    /// policy option. On error nothing changes.
    pub fn set_encrypted_extensions(&mut self, ids: &[u8]) -> Result<(), Error> {
        let set = header_ext::ExtIds::from_ids(ids);
        let on = !set.is_empty() && self.encrypt_rtp && self.suite.encrypts();
        if on {
            self.derive_header_keys()?;
            self.header_ext = Some(Box::new(set));
        } else {
            self.header_ext = None;
            self.drop_header_keys();
        }
        Ok(())
    }

    /// Counters of work done and packets refused.
    pub fn stats(&self) -> &ContextStats {
        &self.stats
    }

    /// Number of SSRC streams the context holds.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Protects the RTP packet in `buf[..len]` in place, appending MKI and
    /// tag into the tailroom `buf[len..]`. Returns the SRTP packet length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtp_inner(buf, len, None);
        self.stats.record_protect(r, |s| &mut s.rtp_protected)
    }

    /// Authenticates, replay-checks and decrypts the SRTP packet that fills
    /// `packet`, in place. Returns the RTP packet length.
    pub fn unprotect_rtp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtp_inner(packet, true, None);
        self.stats.record(r, |s| &mut s.rtp_unprotected)
    }

    /// Protects the RTCP packet in `buf[..len]` in place, appending the
    /// SRTCP index, MKI and tag. Returns the SRTCP packet length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtcp_inner(buf, len, None);
        self.stats.record_protect(r, |s| &mut s.rtcp_protected)
    }

    /// Authenticates, replay-checks and decrypts the SRTCP packet that
    /// fills `packet`, in place. Returns the RTCP packet length.
    pub fn unprotect_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtcp_inner(packet, true, None);
        self.stats.record(r, |s| &mut s.rtcp_unprotected)
    }

    /// Verified passthrough: authenticates and replay-checks the SRTP packet
    /// and records it like [`unprotect_rtp`](Self::unprotect_rtp), but leaves
    /// its bytes as they came (a GCM packet is decrypted and sealed again,
    /// which restores the same bytes). Returns the RTP length it would have.
    pub fn verify_rtp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtp_inner(packet, false, None);
        self.stats.record(r, |s| &mut s.rtp_unprotected)
    }

    /// Verified passthrough for SRTCP; see [`verify_rtp`](Self::verify_rtp).
    pub fn verify_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtcp_inner(packet, false, None);
        self.stats.record(r, |s| &mut s.rtcp_unprotected)
    }
}
