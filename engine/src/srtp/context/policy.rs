//! How a context is configured and bounded: the [`Policy`] builder, which
//! SSRCs it serves, and the limits on keys and per-stream state that keep a
//! context's memory bounded whatever its peers send.

use super::kdr::KdrKeys;
use super::streams::Stream;
use crate::srtp::keys::MasterKey;
use crate::srtp::replay::DEFAULT_REPLAY_WINDOW;
use crate::srtp::suite::Suite;

/// Default bound on streams a template context creates. A call leg
/// carries a handful of SSRCs; 256 leaves room for SSRC changes over a long
/// call while keeping a leg's state small. Streams are never evicted (see
/// [`Context::remove_stream`]): evicting a sending stream would restart its
/// index (keystream reuse) and evicting a receiving one would forget its
/// replay window (old packets would be accepted again).
pub const DEFAULT_MAX_STREAMS: usize = 256;

/// Most bytes of per-stream state (replay windows, derived keys) one
/// context may be configured to hold: `max_streams` × the state of one
/// stream at the configured window must fit.
pub const MAX_STREAM_STATE_BYTES: usize = 4 << 20;

/// Most master keys a context holds. Adding one more drops the oldest key
/// that is not the active one (counted in `keys_evicted`), so repeated
/// rekeys never grow the context and MKI lookup stays a short scan.
pub const MAX_KEYS: usize = 16;

/// Bytes one stream's state takes at `window` packets (both replay
/// windows, its table entry and, with a key derivation rate, the derived
/// keys it may cache).
pub fn stream_state_bytes(window: usize, kdr: bool) -> usize {
    let window_bytes = window
        .clamp(
            crate::srtp::MIN_REPLAY_WINDOW,
            crate::srtp::MAX_REPLAY_WINDOW,
        )
        .next_power_of_two()
        / 8;
    let kdr_bytes = if kdr {
        4 * (core::mem::size_of::<KdrKeys>() + 16)
    } else {
        0
    };
    core::mem::size_of::<Stream>()
        + 2 * window_bytes
        + 2 * core::mem::size_of::<(u32, usize)>()
        + kdr_bytes
}

/// Which SSRCs a context serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsrcPolicy {
    /// Exactly this SSRC; any other is `UnknownSsrc`.
    Specific(u32),
    /// Any SSRC: a template. A stream is created on the first packet that
    /// protects, or on the first that authenticates on receive.
    Any,
}

/// How a context is keyed and bounded. Built with [`Policy::new`] and the
/// builder methods, checked by [`Context::new`].
#[derive(Clone, Debug)]
pub struct Policy {
    pub(super) suite: Suite,
    pub(super) keys: Vec<MasterKey>,
    pub(super) ssrc: SsrcPolicy,
    pub(super) replay_window: usize,
    pub(super) rtcp_replay_window: Option<usize>,
    pub(super) kdr: u64,
    pub(super) max_streams: usize,
    pub(super) encrypt_rtp: bool,
    pub(super) encrypt_rtcp: bool,
    pub(super) allow_repeat_tx: bool,
    pub(super) header_ext_ids: Vec<u8>,
    pub(super) cryptex: bool,
}

impl Policy {
    /// A policy for `suite` with one master key; any SSRC, a 128-packet
    /// replay window, key derivation rate 0, at most 256 streams.
    pub fn new(suite: Suite, key: MasterKey) -> Policy {
        Policy {
            suite,
            keys: vec![key],
            ssrc: SsrcPolicy::Any,
            replay_window: DEFAULT_REPLAY_WINDOW,
            rtcp_replay_window: None,
            kdr: 0,
            max_streams: DEFAULT_MAX_STREAMS,
            encrypt_rtp: true,
            encrypt_rtcp: true,
            allow_repeat_tx: false,
            header_ext_ids: Vec::new(),
            cryptex: false,
        }
    }

    /// Serves only `Specific(ssrc)`, or any SSRC.
    pub fn ssrc(mut self, policy: SsrcPolicy) -> Policy {
        self.ssrc = policy;
        self
    }

    /// Replay window size in packets, 64 to 32768.
    pub fn replay_window(mut self, packets: usize) -> Policy {
        self.replay_window = packets;
        self
    }

    /// SRTCP's replay window in packets, 64 to 32768, when it differs
    /// from SRTP's (libsrtp keeps a fixed 128 for SRTCP).
    pub fn rtcp_replay_window(mut self, packets: usize) -> Policy {
        self.rtcp_replay_window = Some(packets);
        self
    }

    /// Key derivation rate: 0, or a power of two up to 2^24.
    pub fn key_derivation_rate(mut self, kdr: u64) -> Policy {
        self.kdr = kdr;
        self
    }

    /// Bound on the streams a template context creates; `n` × the state
    /// of one stream must fit [`MAX_STREAM_STATE_BYTES`].
    pub fn max_streams(mut self, n: usize) -> Policy {
        self.max_streams = n;
        self
    }

    /// A further master key; with several keys, every key needs an MKI.
    /// At most [`MAX_KEYS`] keys.
    pub fn add_key(mut self, key: MasterKey) -> Policy {
        self.keys.push(key);
        self
    }

    /// Whether SRTP payloads are encrypted (false: SDES `UNENCRYPTED_SRTP`).
    pub fn encrypt_rtp(mut self, on: bool) -> Policy {
        self.encrypt_rtp = on;
        self
    }

    /// Whether SRTCP payloads are encrypted (false: `UNENCRYPTED_SRTCP`,
    /// E flag 0). Received SRTCP is judged by its own E flag.
    pub fn encrypt_rtcp(mut self, on: bool) -> Policy {
        self.encrypt_rtcp = on;
        self
    }

    /// Whether protect may seal an SRTP index this context already sealed
    /// (libsrtp's `allow_repeat_tx`: a retransmission of the same packet,
    /// which encrypts the same plaintext under the same keystream). Off by
    /// default: a different packet under a spent index would reuse the
    /// keystream. An index behind the replay window is refused either way.
    pub fn allow_repeat_tx(mut self, on: bool) -> Policy {
        self.allow_repeat_tx = on;
        self
    }

    /// RFC 6904: encrypts the data of the RFC 8285 header extension
    /// elements with these IDs (one-byte IDs 1-14, two-byte IDs 0-255),
    /// with AES-CM under the header key derived with labels 0x06/0x07 (for
    /// the GCM suites too, as RFC 7714 §8.3 and libsrtp). Both sides must
    /// list the same IDs. Applies where SRTP is encrypted (not with
    /// `encrypt_rtp(false)` or the NULL suites, as libsrtp); with it, a
    /// packet whose extension is not an RFC 8285 block, or has an element
    /// running past it, is refused as `Malformed(BadExtension)`. An empty
    /// list turns it off (the default).
    pub fn encrypt_header_extensions(mut self, ids: &[u8]) -> Policy {
        self.header_ext_ids = ids.to_vec();
        self
    }

    /// RFC 9335 cryptex: protect encrypts the CSRCs and the whole header
    /// extension block (profile 0xC0DE/0xC2DE; an empty extension is added
    /// to a packet with CSRCs and none, which needs 4 more bytes of
    /// tailroom); unprotect decrypts packets that carry those profiles and
    /// takes others as usual (RFC 9335 §5.2). Only where SRTP is
    /// encrypted. A packet with cryptex is never also RFC 6904-encrypted;
    /// with both on, protect uses cryptex and unprotect takes either.
    pub fn cryptex(mut self, on: bool) -> Policy {
        self.cryptex = on;
        self
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }
}
