//! The SRTP context: policy, master key slots, the stream table and the four
//! in-place transforms.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::keys::{
    Family, MasterKey, SessionCipher, SessionKeys, MAX_MKI_LEN, SRTCP_KEY_LIFETIME_MAX,
    SRTP_KEY_LIFETIME_MAX,
};
use super::replay::{estimate_index, ReplayWindow, DEFAULT_REPLAY_WINDOW};
use super::suite::Suite;
use crate::error::MalformedKind;
use crate::Error;

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
        .clamp(super::MIN_REPLAY_WINDOW, super::MAX_REPLAY_WINDOW)
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
    suite: Suite,
    keys: Vec<MasterKey>,
    ssrc: SsrcPolicy,
    replay_window: usize,
    kdr: u64,
    max_streams: usize,
    encrypt_rtp: bool,
    encrypt_rtcp: bool,
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
            kdr: 0,
            max_streams: DEFAULT_MAX_STREAMS,
            encrypt_rtp: true,
            encrypt_rtcp: true,
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

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }
}

/// Counters a context keeps about its own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// SRTP packets unprotected.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// SRTCP packets unprotected.
    pub rtcp_unprotected: u64,
    /// Packets whose tag failed to verify.
    pub auth_failures: u64,
    /// Received packets rejected as replays or as too old.
    pub replays: u64,
    /// Packets protect refused because their index was already used by this
    /// sender or is older than its window (keystream/nonce reuse refused).
    pub protect_replays: u64,
    /// Packets rejected as malformed or too short.
    pub malformed: u64,
    /// Packets rejected for any other reason (unknown SSRC or MKI, key
    /// exhausted, stream limit, buffer too small).
    pub other_errors: u64,
    /// Session keys derived on the packet path (non-zero key derivation
    /// rate only): each costs key schedules, so it is bounded.
    pub key_derivations: u64,
    /// Master keys dropped (oldest inactive first) to keep a context at
    /// [`MAX_KEYS`] keys.
    pub keys_evicted: u64,
}

impl ContextStats {
    /// Counts one operation's outcome: `ok` names the success counter.
    fn record(
        &mut self,
        r: Result<usize, Error>,
        ok: impl FnOnce(&mut Self) -> &mut u64,
    ) -> Result<usize, Error> {
        match &r {
            Ok(_) => *ok(self) += 1,
            Err(e) => self.count_error(e),
        }
        r
    }

    /// Counts a protect outcome: a refused index counts as `protect_replays`.
    fn record_protect(
        &mut self,
        r: Result<usize, Error>,
        ok: impl FnOnce(&mut Self) -> &mut u64,
    ) -> Result<usize, Error> {
        if let Err(Error::Replayed | Error::TooOld) = r {
            self.protect_replays += 1;
            return r;
        }
        self.record(r, ok)
    }

    fn count_error(&mut self, e: &Error) {
        match e {
            Error::AuthFailed => self.auth_failures += 1,
            Error::Replayed | Error::TooOld => self.replays += 1,
            Error::Malformed(_) => self.malformed += 1,
            _ => self.other_errors += 1,
        }
    }
}

/// One master key with its derived session keys and usage counters.
struct KeySlot {
    master: MasterKey,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    rtp_used: u64,
    rtcp_used: u64,
    rtp_limit: u64,
    rtcp_limit: u64,
}

impl KeySlot {
    fn new(suite: Suite, master: MasterKey) -> Result<KeySlot, Error> {
        let lifetime = master.lifetime().unwrap_or(u64::MAX);
        if lifetime == 0 {
            return Err(Error::InvalidConfig("key lifetime must be positive"));
        }
        Ok(KeySlot {
            rtp: SessionKeys::derive(suite, &master, Family::Rtp, 0)?,
            rtcp: SessionKeys::derive(suite, &master, Family::Rtcp, 0)?,
            rtp_used: 0,
            rtcp_used: 0,
            rtp_limit: lifetime.min(SRTP_KEY_LIFETIME_MAX),
            rtcp_limit: lifetime.min(SRTCP_KEY_LIFETIME_MAX),
            master,
        })
    }
}

/// Session keys derived for one stream at one key-derivation index (only
/// with a non-zero key derivation rate).
struct KdrKeys {
    slot: usize,
    r: u64,
    keys: SessionKeys,
}

/// Which keys a packet uses (non-zero key derivation rate).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// The slot's own keys (r = 0, or no key derivation rate).
    Base,
    /// The stream's committed keys: the newest epoch a packet used.
    Committed,
    /// Keys derived for a received packet that has not authenticated yet;
    /// kept, uncommitted, and reused by every packet of that epoch.
    Pending,
    /// Keys a sender derived for this packet.
    Fresh,
}

/// One stream family's derived keys (non-zero key derivation rate). A
/// received packet's keys are committed only after it authenticated.
#[derive(Default)]
struct KdrCache {
    committed: Option<Box<KdrKeys>>,
    pending: Option<Box<KdrKeys>>,
}

impl KdrCache {
    fn clear(&mut self) {
        self.committed = None;
        self.pending = None;
    }

    fn hit(&self, slot: usize, r: u64) -> Option<Pick> {
        let is = |k: &Option<Box<KdrKeys>>| k.as_ref().is_some_and(|k| k.slot == slot && k.r == r);
        if is(&self.committed) {
            Some(Pick::Committed)
        } else if is(&self.pending) {
            Some(Pick::Pending)
        } else {
            None
        }
    }

    fn keys(&self, pick: Pick) -> Option<&SessionKeys> {
        match pick {
            Pick::Committed => self.committed.as_deref().map(|k| &k.keys),
            Pick::Pending => self.pending.as_deref().map(|k| &k.keys),
            _ => None,
        }
    }

    /// After the packet succeeded: its keys become the committed ones if
    /// its epoch is newer than the committed one.
    fn commit(&mut self, pick: Pick, slot: usize, r: Option<u64>, fresh: Option<SessionKeys>) {
        let Some(r) = r else { return };
        let newer = match &self.committed {
            Some(k) => k.slot != slot || r > k.r,
            None => true,
        };
        match pick {
            Pick::Pending if newer => self.committed = self.pending.take(),
            Pick::Fresh if newer => {
                if let Some(keys) = fresh {
                    self.committed = Some(Box::new(KdrKeys { slot, r, keys }));
                    if self
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.slot == slot && p.r <= r)
                    {
                        self.pending = None;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Per-SSRC state.
struct Stream {
    ssrc: u32,
    /// ROC to assume before the first packet (late joiners).
    initial_roc: u32,
    /// Highest SRTP index and, on receive, the replay window.
    rtp: ReplayWindow,
    /// Next SRTCP index to send.
    rtcp_next: u32,
    /// SRTCP replay window (receive).
    rtcp: ReplayWindow,
    kdr_rtp: KdrCache,
    kdr_rtcp: KdrCache,
    /// Whether this stream has protected a packet: its indexes are then
    /// spent keystream and the stream is never forgotten or rewound.
    sent: bool,
}

impl Stream {
    fn new(ssrc: u32, window: usize) -> Stream {
        Stream {
            ssrc,
            initial_roc: 0,
            rtp: ReplayWindow::new(window),
            rtcp_next: 0,
            rtcp: ReplayWindow::new(window),
            kdr_rtp: KdrCache::default(),
            kdr_rtcp: KdrCache::default(),
            sent: false,
        }
    }
}

/// A hasher for SSRC keys: one multiply. Streams are only created for
/// packets that authenticated (or by the owner), so the keys are not chosen
/// by an unauthenticated attacker.
#[derive(Default)]
struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        let x = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

type StreamIndex = HashMap<u32, usize, BuildHasherDefault<SsrcHasher>>;

/// One direction's SRTP/SRTCP state: keys, streams, counters.
pub struct Context {
    suite: Suite,
    slots: Vec<KeySlot>,
    active: usize,
    mki_len: usize,
    ssrc_policy: SsrcPolicy,
    window: usize,
    kdr_shift: Option<u32>,
    max_streams: usize,
    encrypt_rtp: bool,
    encrypt_rtcp: bool,
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

/// Counter-mode IV: (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
#[inline]
fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    let s = ssrc.to_be_bytes();
    for i in 0..4 {
        iv[4 + i] ^= s[i];
    }
    let x = index.to_be_bytes();
    for i in 0..6 {
        iv[8 + i] ^= x[2 + i];
    }
    iv
}

/// GCM IV (RFC 7714 §8.1 / §9.1): 0x0000 || SSRC || word || low, XOR salt.
#[inline]
fn gcm_iv(salt: &[u8; 14], ssrc: u32, word: u32, low: u16) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&word.to_be_bytes());
    iv[10..12].copy_from_slice(&low.to_be_bytes());
    for i in 0..12 {
        iv[i] ^= salt[i];
    }
    iv
}

/// Picks a sender's session keys: the slot's own at r = 0 (or without a
/// key derivation rate), the stream's committed keys for this `r`, or
/// freshly derived ones left in `fresh` (committed once the packet is out).
fn tx_keys<'a>(
    base: &'a SessionKeys,
    cache: &'a KdrCache,
    slot: usize,
    r: Option<u64>,
    derivations: &mut u64,
    derive: impl FnOnce(u64) -> Result<SessionKeys, Error>,
    fresh: &'a mut Option<SessionKeys>,
) -> Result<(&'a SessionKeys, Pick), Error> {
    let r = match r {
        None | Some(0) => return Ok((base, Pick::Base)),
        Some(r) => r,
    };
    if let Some(keys) = cache.hit(slot, r).and_then(|p| Some((cache.keys(p)?, p))) {
        return Ok(keys);
    }
    *derivations += 1;
    Ok((fresh.insert(derive(r)?), Pick::Fresh))
}

/// Picks a received packet's session keys before it has authenticated:
/// the slot's own at r = 0, cached keys for this epoch, or keys derived now
/// into the cache's pending slot (one per stream and family, and one per
/// context for SSRCs with no stream yet). Pending keys are only used to
/// authenticate; they are committed after a packet authenticated with
/// them. So any number of forged packets in one epoch cost one derivation,
/// and no forged packet costs more than one.
fn rx_keys<'a>(
    base: &'a SessionKeys,
    cache: &'a mut KdrCache,
    slot: usize,
    r: Option<u64>,
    derivations: &mut u64,
    derive: impl FnOnce(u64) -> Result<SessionKeys, Error>,
) -> Result<(&'a SessionKeys, Pick), Error> {
    let r = match r {
        None | Some(0) => return Ok((base, Pick::Base)),
        Some(r) => r,
    };
    match cache.hit(slot, r) {
        Some(pick) => {
            let cache: &'a KdrCache = cache;
            let keys = cache
                .keys(pick)
                .ok_or(Error::InvalidConfig("key cache out of step"))?;
            Ok((keys, pick))
        }
        None => {
            *derivations += 1;
            let keys = derive(r)?;
            let k = cache.pending.insert(Box::new(KdrKeys { slot, r, keys }));
            Ok((&k.keys, Pick::Pending))
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

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
            kdr,
            max_streams,
            encrypt_rtp,
            encrypt_rtcp,
        } = policy;
        if keys.is_empty() {
            return Err(Error::InvalidConfig("a context needs a master key"));
        }
        if !(super::MIN_REPLAY_WINDOW..=super::MAX_REPLAY_WINDOW).contains(&replay_window) {
            return Err(Error::InvalidConfig(
                "replay window must be 64..=32768 packets",
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
        let per_stream = stream_state_bytes(replay_window, kdr_shift.is_some());
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
        let mut ctx = Context {
            suite,
            slots: Vec::with_capacity(keys.len()),
            active: 0,
            mki_len,
            ssrc_policy: ssrc,
            window: replay_window,
            kdr_shift,
            max_streams,
            encrypt_rtp,
            encrypt_rtcp: encrypt_rtcp && suite.encrypts(),
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

    /// Counters of work done and packets refused.
    pub fn stats(&self) -> &ContextStats {
        &self.stats
    }

    /// Number of SSRC streams the context holds.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Adds a master key. With MKIs this is a hitless rekey: a receiver
    /// accepts packets under every key it holds, selected by MKI; a sender
    /// keeps using the active key until [`set_active_mki`](Self::set_active_mki).
    pub fn add_key(&mut self, key: MasterKey) -> Result<(), Error> {
        if key.key_len() != self.suite.master_key_len()
            || key.salt_len() != self.suite.master_salt_len()
        {
            return Err(Error::InvalidConfig("master key does not match the suite"));
        }
        if key.mki_len_raw() > MAX_MKI_LEN {
            return Err(Error::InvalidConfig("MKI longer than 8 bytes"));
        }
        if key.mki_len_raw() != self.mki_len {
            return Err(Error::InvalidConfig(
                "every key of a context needs the same MKI length",
            ));
        }
        if !self.slots.is_empty() && self.mki_len == 0 {
            return Err(Error::InvalidConfig("several master keys need MKIs"));
        }
        if self.slots.iter().any(|s| s.master.mki() == key.mki()) {
            return Err(Error::InvalidConfig("duplicate MKI"));
        }
        let slot = KeySlot::new(self.suite, key)?;
        if self.slots.len() >= MAX_KEYS {
            // The oldest key that is not the active one.
            let oldest = usize::from(self.active == 0);
            self.drop_slot(oldest);
            self.stats.keys_evicted += 1;
        }
        self.slots.push(slot);
        Ok(())
    }

    /// Number of master keys the context holds (at most [`MAX_KEYS`]).
    pub fn key_count(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every cached derived key: they name key slots by index.
    fn clear_kdr_caches(&mut self) {
        self.kdr_new_rtp.clear();
        self.kdr_new_rtcp.clear();
        for s in &mut self.streams {
            s.kdr_rtp.clear();
            s.kdr_rtcp.clear();
        }
    }

    /// Drops key slot `i` (not the active one) and every key derived from
    /// a slot index, since the indexes after `i` move.
    fn drop_slot(&mut self, i: usize) {
        self.slots.remove(i);
        if self.active > i {
            self.active -= 1;
        }
        self.clear_kdr_caches();
    }

    /// Whether the context holds a key with this MKI.
    pub fn has_mki(&self, mki: &[u8]) -> bool {
        self.slot_by_mki(mki).is_some()
    }

    /// Makes the key with this MKI the one protect uses.
    pub fn set_active_mki(&mut self, mki: &[u8]) -> Result<(), Error> {
        self.active = self.slot_by_mki(mki).ok_or(Error::UnknownMki)?;
        Ok(())
    }

    /// Removes the key with this MKI (not the active one).
    pub fn remove_key(&mut self, mki: &[u8]) -> Result<(), Error> {
        let i = self.slot_by_mki(mki).ok_or(Error::UnknownMki)?;
        if i == self.active {
            return Err(Error::InvalidConfig("cannot remove the active key"));
        }
        self.drop_slot(i);
        Ok(())
    }

    /// Replaces every master key with `key`, keeping each stream's ROC,
    /// replay window and SRTCP index: a rekey without MKI (SDES re-offer).
    pub fn replace_key(&mut self, key: MasterKey) -> Result<(), Error> {
        let old = std::mem::take(&mut self.slots);
        let old_mki_len = self.mki_len;
        self.mki_len = key.mki_len_raw();
        if let Err(e) = self.add_key(key) {
            self.slots = old;
            self.mki_len = old_mki_len;
            return Err(e);
        }
        self.active = 0;
        self.clear_kdr_caches();
        Ok(())
    }

    /// The ROC of `ssrc`'s stream, if the stream exists.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let i = *self.by_ssrc.get(&ssrc)?;
        let s = &self.streams[i];
        Some(match s.rtp.highest() {
            Some(h) => (h >> 16) as u32,
            None => s.initial_roc,
        })
    }

    /// Sets the ROC of `ssrc`'s stream (created if the policy allows it),
    /// for a late joiner or a stream moved from another context.
    ///
    /// On a stream that has protected packets the ROC may only move
    /// forward: moving it back would reuse spent keystream.
    pub fn set_roc(&mut self, ssrc: u32, roc: u32) -> Result<(), Error> {
        let i = self.stream_or_create(ssrc)?;
        let s = &mut self.streams[i];
        match s.rtp.highest() {
            None => s.initial_roc = roc,
            Some(h) => {
                let to = ((roc as u64) << 16) | (h & 0xffff);
                if !s.sent {
                    s.rtp.reset_to(to)
                } else if to >= h {
                    // Forward only, and the used indexes stay marked.
                    s.rtp.advance(to)
                } else {
                    return Err(Error::InvalidConfig(
                        "the ROC of a sending stream may not move back",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sets the SRTCP index the next protected RTCP packet of `ssrc` uses
    /// (RFC 3711 starts at 0; libsrtp's first index is 1).
    pub fn set_rtcp_index(&mut self, ssrc: u32, next_index: u32) -> Result<(), Error> {
        if next_index > 0x7fff_ffff {
            return Err(Error::InvalidConfig("SRTCP index is 31 bits"));
        }
        let i = self.stream_or_create(ssrc)?;
        let s = &mut self.streams[i];
        if s.sent && next_index < s.rtcp_next {
            return Err(Error::InvalidConfig(
                "the SRTCP index of a sending stream may not move back",
            ));
        }
        s.rtcp_next = next_index;
        Ok(())
    }

    /// The SRTCP index the next protected RTCP packet of `ssrc` will use.
    pub fn rtcp_index(&self, ssrc: u32) -> Option<u32> {
        let i = *self.by_ssrc.get(&ssrc)?;
        Some(self.streams[i].rtcp_next)
    }

    /// The slot whose MKI is `mki`: the active key first (the common
    /// case), then a scan of at most [`MAX_KEYS`] keys.
    fn slot_by_mki(&self, mki: &[u8]) -> Option<usize> {
        match self.slots.get(self.active) {
            Some(s) if s.master.mki() == mki => Some(self.active),
            _ => self.slots.iter().position(|s| s.master.mki() == mki),
        }
    }

    #[inline]
    fn find(&mut self, ssrc: u32) -> Option<usize> {
        if let Some(s) = self.streams.get(self.last) {
            if s.ssrc == ssrc {
                return Some(self.last);
            }
        }
        let i = *self.by_ssrc.get(&ssrc)?;
        self.last = i;
        Some(i)
    }

    fn may_create(&self, ssrc: u32) -> Result<(), Error> {
        match self.ssrc_policy {
            SsrcPolicy::Specific(s) if s != ssrc => Err(Error::UnknownSsrc(ssrc)),
            _ if self.streams.len() >= self.max_streams => Err(Error::TooManyStreams {
                limit: self.max_streams,
            }),
            _ => Ok(()),
        }
    }

    fn insert_stream(&mut self, ssrc: u32) -> Result<usize, Error> {
        self.may_create(ssrc)?;
        let i = self.streams.len();
        self.streams.push(Stream::new(ssrc, self.window));
        self.by_ssrc.insert(ssrc, i);
        self.last = i;
        Ok(i)
    }

    fn stream_or_create(&mut self, ssrc: u32) -> Result<usize, Error> {
        match self.find(ssrc) {
            Some(i) => Ok(i),
            None => self.insert_stream(ssrc),
        }
    }

    /// Removes `ssrc`'s stream (after a BYE, say). Returns whether it was
    /// removed. A stream that has protected packets is kept (returns false):
    /// forgetting it would let the same SSRC start again at an index whose
    /// keystream was already used. A sending stream lives as long as its
    /// context.
    pub fn remove_stream(&mut self, ssrc: u32) -> bool {
        match self.by_ssrc.get(&ssrc) {
            Some(&i) if !self.streams[i].sent => {}
            _ => return false,
        }
        let Some(i) = self.by_ssrc.remove(&ssrc) else {
            return false;
        };
        self.streams.swap_remove(i);
        if let Some(moved) = self.streams.get(i) {
            self.by_ssrc.insert(moved.ssrc, i);
        }
        self.last = usize::MAX;
        true
    }

    /// Where the MKI sits and which key it selects; the active key when the
    /// context has no MKI.
    fn slot_for(&self, mki: &[u8]) -> Result<usize, Error> {
        if self.mki_len == 0 {
            Ok(self.active)
        } else {
            self.slot_by_mki(mki).ok_or(Error::UnknownMki)
        }
    }

    /// Protects the RTP packet in `buf[..len]` in place, appending MKI and
    /// tag into the tailroom `buf[len..]`. Returns the SRTP packet length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtp_inner(buf, len);
        self.stats.record_protect(r, |s| &mut s.rtp_protected)
    }

    /// Authenticates, replay-checks and decrypts the SRTP packet that fills
    /// `packet`, in place. Returns the RTP packet length.
    pub fn unprotect_rtp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtp_inner(packet, true);
        self.stats.record(r, |s| &mut s.rtp_unprotected)
    }

    /// Protects the RTCP packet in `buf[..len]` in place, appending the
    /// SRTCP index, MKI and tag. Returns the SRTCP packet length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtcp_inner(buf, len);
        self.stats.record_protect(r, |s| &mut s.rtcp_protected)
    }

    /// Authenticates, replay-checks and decrypts the SRTCP packet that
    /// fills `packet`, in place. Returns the RTCP packet length.
    pub fn unprotect_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtcp_inner(packet, true);
        self.stats.record(r, |s| &mut s.rtcp_unprotected)
    }

    /// Verified passthrough: authenticates and replay-checks the SRTP packet
    /// and records it like [`unprotect_rtp`](Self::unprotect_rtp), but leaves
    /// its bytes as they came (a GCM packet is decrypted and sealed again,
    /// which restores the same bytes). Returns the RTP length it would have.
    pub fn verify_rtp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtp_inner(packet, false);
        self.stats.record(r, |s| &mut s.rtp_unprotected)
    }

    /// Verified passthrough for SRTCP; see [`verify_rtp`](Self::verify_rtp).
    pub fn verify_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtcp_inner(packet, false);
        self.stats.record(r, |s| &mut s.rtcp_unprotected)
    }

    fn protect_rtp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let pkt = buf.get(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        let hl = crate::rtp::rtp_header_len(pkt)?;
        let seq = be16(pkt, 2);
        let ssrc = be32(pkt, 8);
        let tag_len = self.suite.srtp_tag_len();
        let mki_len = self.mki_len;
        let needed = len + mki_len + tag_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let si = self.stream_or_create(ssrc)?;
        let stream = &mut self.streams[si];
        let index =
            estimate_index(stream.rtp.highest(), stream.initial_roc, seq).ok_or(Error::TooOld)?;
        // The sender's own replay check (as libsrtp's): an index this
        // stream already protected, or one behind its window, would encrypt
        // a second plaintext under the same keystream / GCM nonce.
        stream.rtp.check(index)?;
        let active = self.active;
        let slot = &mut self.slots[active];
        if slot.rtp_used >= slot.rtp_limit || index >= SRTP_KEY_LIFETIME_MAX {
            return Err(Error::KeyExhausted);
        }
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| index >> s);
        let mut fresh = None;
        let (keys, pick) = tx_keys(
            &slot.rtp,
            &stream.kdr_rtp,
            active,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtp, r),
            &mut fresh,
        )?;
        let roc = (index >> 16) as u32;
        match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let (head, rest) = buf.split_at_mut(hl);
                let tag = k.seal(
                    gcm_iv(&keys.salt, ssrc, roc, seq),
                    head,
                    &mut rest[..len - hl],
                );
                buf[len..len + 16].copy_from_slice(&tag);
                buf[len + 16..needed].copy_from_slice(slot.master.mki());
            }
            cipher => {
                if let (SessionCipher::Ctr(k), true) = (cipher, self.encrypt_rtp) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index), &mut buf[hl..len]);
                }
                buf[len..len + mki_len].copy_from_slice(slot.master.mki());
                let tag = keys.hmac(&buf[..len], &roc.to_be_bytes());
                buf[len + mki_len..needed].copy_from_slice(&tag[..tag_len]);
            }
        }
        slot.rtp_used += 1;
        stream.rtp.accept(index);
        stream.sent = true;
        stream.kdr_rtp.commit(pick, active, r, fresh);
        Ok(needed)
    }

    fn unprotect_rtp_inner(&mut self, pkt: &mut [u8], decrypt: bool) -> Result<usize, Error> {
        let len = pkt.len();
        let aead = self.suite.is_aead();
        let tag_len = self.suite.srtp_tag_len();
        let mki_len = self.mki_len;
        if len < 12 + mki_len + tag_len {
            return Err(MalformedKind::Truncated.into());
        }
        // CM: header | payload | MKI | tag.  AEAD: header | payload+tag | MKI.
        let (mki_at, body_end) = if aead {
            (len - mki_len, len - mki_len - tag_len)
        } else {
            (len - tag_len - mki_len, len - tag_len - mki_len)
        };
        let hl = crate::rtp::rtp_header_len(&pkt[..body_end])?;
        let seq = be16(pkt, 2);
        let ssrc = be32(pkt, 8);
        let slot_idx = self.slot_for(&pkt[mki_at..mki_at + mki_len])?;
        let existing = self.find(ssrc);
        let (highest, initial_roc) = match existing {
            Some(i) => (self.streams[i].rtp.highest(), self.streams[i].initial_roc),
            None => {
                self.may_create(ssrc)?;
                (None, 0)
            }
        };
        let index = estimate_index(highest, initial_roc, seq).ok_or(Error::TooOld)?;
        if let Some(i) = existing {
            self.streams[i].rtp.check(index)?;
        }
        let slot = &self.slots[slot_idx];
        if slot.rtp_used >= slot.rtp_limit {
            return Err(Error::KeyExhausted);
        }
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| index >> s);
        let cache = match existing {
            Some(i) => &mut self.streams[i].kdr_rtp,
            None => &mut self.kdr_new_rtp,
        };
        let (keys, pick) = rx_keys(
            &slot.rtp,
            cache,
            slot_idx,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtp, r),
        )?;
        let roc = (index >> 16) as u32;
        match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = gcm_iv(&keys.salt, ssrc, roc, seq);
                let (head, rest) = pkt.split_at_mut(hl);
                let body = &mut rest[..mki_at - hl];
                if !k.open(iv, head, body) {
                    return Err(Error::AuthFailed);
                }
                if !decrypt {
                    let (data, tag_out) = body.split_at_mut(body.len() - 16);
                    tag_out.copy_from_slice(&k.seal(iv, head, data));
                }
            }
            cipher => {
                let tag = &pkt[len - tag_len..];
                if !keys.verify_hmac(&pkt[..body_end], &roc.to_be_bytes(), tag) {
                    return Err(Error::AuthFailed);
                }
                if let (SessionCipher::Ctr(k), true) = (cipher, self.encrypt_rtp && decrypt) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index), &mut pkt[hl..body_end]);
                }
            }
        }
        // Authenticated: now, and only now, state changes.
        let si = match existing {
            Some(i) => i,
            None => self.insert_stream(ssrc)?,
        };
        self.slots[slot_idx].rtp_used += 1;
        let stream = &mut self.streams[si];
        stream.rtp.accept(index);
        if existing.is_none() && pick == Pick::Pending {
            // The new stream's first keys: the context's pending ones.
            stream.kdr_rtp.committed = self.kdr_new_rtp.pending.take();
        } else {
            stream.kdr_rtp.commit(pick, slot_idx, r, None);
        }
        Ok(body_end)
    }

    fn protect_rtcp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let pkt = buf.get(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        check_rtcp_header(pkt)?;
        let ssrc = be32(pkt, 4);
        let tag_len = self.suite.srtcp_tag_len();
        let mki_len = self.mki_len;
        let needed = len + 4 + mki_len + tag_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let si = self.stream_or_create(ssrc)?;
        let stream = &mut self.streams[si];
        let index = stream.rtcp_next;
        let active = self.active;
        let slot = &mut self.slots[active];
        // The 31-bit SRTCP index never wraps: past 2^31 - 1 the key is spent.
        if slot.rtcp_used >= slot.rtcp_limit || index as u64 >= SRTCP_KEY_LIFETIME_MAX {
            return Err(Error::KeyExhausted);
        }
        // Never an index this stream already sent (set_rtcp_index may have
        // moved the counter back).
        stream.rtcp.check(index as u64)?;
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| (index as u64) >> s);
        let mut fresh = None;
        let (keys, pick) = tx_keys(
            &slot.rtcp,
            &stream.kdr_rtcp,
            active,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtcp, r),
            &mut fresh,
        )?;
        let encrypt = self.encrypt_rtcp;
        let e_word = ((encrypt as u32) << 31) | index;
        match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = gcm_iv(&keys.salt, ssrc, 0, 0);
                let iv = xor_rtcp_index(iv, index);
                if encrypt {
                    // hdr | enc | tag | E+index | MKI; AAD = hdr || E+index.
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&buf[..8]);
                    aad[8..].copy_from_slice(&e_word.to_be_bytes());
                    let tag = k.seal(iv, &aad, &mut buf[8..len]);
                    buf[len..len + 16].copy_from_slice(&tag);
                } else {
                    // Unencrypted: the whole packet and E+index are AAD.
                    buf[len..len + 4].copy_from_slice(&e_word.to_be_bytes());
                    let tag = k.seal(iv, &buf[..len + 4], &mut []);
                    buf[len..len + 16].copy_from_slice(&tag);
                }
                buf[len + 16..len + 20].copy_from_slice(&e_word.to_be_bytes());
                buf[len + 20..needed].copy_from_slice(slot.master.mki());
            }
            cipher => {
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypt) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index as u64), &mut buf[8..len]);
                }
                buf[len..len + 4].copy_from_slice(&e_word.to_be_bytes());
                buf[len + 4..len + 4 + mki_len].copy_from_slice(slot.master.mki());
                let tag = keys.hmac(&buf[..len + 4], &[]);
                buf[len + 4 + mki_len..needed].copy_from_slice(&tag[..tag_len]);
            }
        }
        slot.rtcp_used += 1;
        stream.rtcp_next = index + 1;
        stream.rtcp.accept(index as u64);
        stream.sent = true;
        stream.kdr_rtcp.commit(pick, active, r, fresh);
        Ok(needed)
    }

    fn unprotect_rtcp_inner(&mut self, pkt: &mut [u8], decrypt: bool) -> Result<usize, Error> {
        let len = pkt.len();
        let aead = self.suite.is_aead();
        let tag_len = self.suite.srtcp_tag_len();
        let mki_len = self.mki_len;
        if len < 8 + 4 + mki_len + tag_len {
            return Err(MalformedKind::Truncated.into());
        }
        check_rtcp_header(pkt)?;
        // CM: hdr | payload | E+index | MKI | tag.
        // AEAD: hdr | payload+tag | E+index | MKI.
        let (trailer_at, mki_at) = if aead {
            (len - mki_len - 4, len - mki_len)
        } else {
            (len - tag_len - mki_len - 4, len - tag_len - mki_len)
        };
        let e_word = be32(pkt, trailer_at);
        let encrypted = e_word & 0x8000_0000 != 0;
        let index = e_word & 0x7fff_ffff;
        let ssrc = be32(pkt, 4);
        let slot_idx = self.slot_for(&pkt[mki_at..mki_at + mki_len])?;
        let existing = self.find(ssrc);
        match existing {
            Some(i) => self.streams[i].rtcp.check(index as u64)?,
            None => self.may_create(ssrc)?,
        }
        let slot = &self.slots[slot_idx];
        if slot.rtcp_used >= slot.rtcp_limit {
            return Err(Error::KeyExhausted);
        }
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| (index as u64) >> s);
        let cache = match existing {
            Some(i) => &mut self.streams[i].kdr_rtcp,
            None => &mut self.kdr_new_rtcp,
        };
        let (keys, pick) = rx_keys(
            &slot.rtcp,
            cache,
            slot_idx,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtcp, r),
        )?;
        let plain_len = match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = xor_rtcp_index(gcm_iv(&keys.salt, ssrc, 0, 0), index);
                let body_end = trailer_at - 16;
                if encrypted {
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&pkt[..8]);
                    aad[8..].copy_from_slice(&e_word.to_be_bytes());
                    if !k.open(iv, &aad, &mut pkt[8..trailer_at]) {
                        return Err(Error::AuthFailed);
                    }
                    if !decrypt {
                        let tag = k.seal(iv, &aad, &mut pkt[8..body_end]);
                        pkt[body_end..trailer_at].copy_from_slice(&tag);
                    }
                } else {
                    // Move E+index next to the payload so the AAD is one slice.
                    let mut tag = [0u8; 16];
                    tag.copy_from_slice(&pkt[body_end..trailer_at]);
                    let original = tag;
                    pkt[body_end..body_end + 4].copy_from_slice(&e_word.to_be_bytes());
                    let ok = k.open(iv, &pkt[..body_end + 4], &mut tag);
                    pkt[body_end..trailer_at].copy_from_slice(&original);
                    if !ok {
                        return Err(Error::AuthFailed);
                    }
                }
                body_end
            }
            cipher => {
                let tag = &pkt[len - tag_len..];
                if !keys.verify_hmac(&pkt[..mki_at], &[], tag) {
                    return Err(Error::AuthFailed);
                }
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypted && decrypt) {
                    k.ctr_xor(
                        &cm_iv(&keys.salt, ssrc, index as u64),
                        &mut pkt[8..trailer_at],
                    );
                }
                trailer_at
            }
        };
        let si = match existing {
            Some(i) => i,
            None => self.insert_stream(ssrc)?,
        };
        self.slots[slot_idx].rtcp_used += 1;
        let stream = &mut self.streams[si];
        stream.rtcp.accept(index as u64);
        if existing.is_none() && pick == Pick::Pending {
            // The new stream's first keys: the context's pending ones.
            stream.kdr_rtcp.committed = self.kdr_new_rtcp.pending.take();
        } else {
            stream.kdr_rtcp.commit(pick, slot_idx, r, None);
        }
        Ok(plain_len)
    }
}

/// XORs the 31-bit SRTCP index into the last four bytes of a GCM IV
/// (RFC 7714 §9.1: 0x0000 || SSRC || 0x0000 || 0 || index).
fn xor_rtcp_index(mut iv: [u8; 12], index: u32) -> [u8; 12] {
    let b = index.to_be_bytes();
    for i in 0..4 {
        iv[8 + i] ^= b[i];
    }
    iv
}

fn check_rtcp_header(pkt: &[u8]) -> Result<(), Error> {
    if pkt.len() < 8 {
        return Err(MalformedKind::Truncated.into());
    }
    if pkt[0] >> 6 != 2 {
        return Err(MalformedKind::BadVersion.into());
    }
    Ok(())
}
