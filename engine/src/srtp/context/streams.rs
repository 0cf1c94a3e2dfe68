//! The per-SSRC stream table: ROC, replay windows, SRTCP index and derived
//! key caches per SSRC, with O(1) lookup and the rules for creating,
//! rewinding and removing streams that keep keystream from being reused.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::kdr::KdrCache;
use super::{Context, SsrcPolicy};
use crate::srtp::keys::Family;
use crate::srtp::replay::ReplayWindow;
use crate::Error;

/// Per-SSRC state.
pub(super) struct Stream {
    pub(super) ssrc: u32,
    /// ROC to assume before the first packet (late joiners).
    pub(super) initial_roc: u32,
    /// Highest SRTP index and, on receive, the replay window.
    pub(super) rtp: ReplayWindow,
    /// Next SRTCP index to send.
    pub(super) rtcp_next: u32,
    /// SRTCP replay window (receive).
    pub(super) rtcp: ReplayWindow,
    pub(super) kdr_rtp: KdrCache,
    pub(super) kdr_rtcp: KdrCache,
    /// Whether this stream has protected a packet: its indexes are then
    /// spent keystream and the stream is never forgotten or rewound.
    pub(super) sent: bool,
}

impl Stream {
    /// The replay window of `family` (SRTP index, or SRTCP index).
    #[inline]
    pub(super) fn window_mut(&mut self, family: Family) -> &mut ReplayWindow {
        match family {
            Family::Rtp => &mut self.rtp,
            Family::Rtcp => &mut self.rtcp,
        }
    }

    /// The derived-key cache of `family`.
    #[inline]
    pub(super) fn kdr_mut(&mut self, family: Family) -> &mut KdrCache {
        match family {
            Family::Rtp => &mut self.kdr_rtp,
            Family::Rtcp => &mut self.kdr_rtcp,
        }
    }

    pub(super) fn new(ssrc: u32, window: usize, rtcp_window: usize) -> Stream {
        Stream {
            ssrc,
            initial_roc: 0,
            rtp: ReplayWindow::new(window),
            rtcp_next: 0,
            rtcp: ReplayWindow::new(rtcp_window),
            kdr_rtp: KdrCache::default(),
            kdr_rtcp: KdrCache::default(),
            sent: false,
        }
    }
}

/// Where one SSRC's stream stands: what another node needs to continue it
/// under the same keys without reusing an index (a media checkpoint).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StreamCheckpoint {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Highest SRTP index protected or accepted (ROC in the upper 32 bits).
    pub rtp_highest: Option<u64>,
    /// The ROC set for a stream that has seen no packet yet (a late
    /// joiner's `set_roc`).
    #[serde(default)]
    pub initial_roc: u32,
    /// Highest SRTCP index accepted (receive).
    pub rtcp_highest: Option<u64>,
    /// Next SRTCP index to send.
    pub rtcp_next: u32,
    /// Whether the stream protected packets (sending side).
    pub sent: bool,
}

/// A hasher for SSRC keys: one multiply. Streams are only created for
/// packets that authenticated (or by the owner), so the keys are not chosen
/// by an unauthenticated attacker.
#[derive(Default)]
pub(super) struct SsrcHasher(u64);

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

pub(super) type StreamIndex = HashMap<u32, usize, BuildHasherDefault<SsrcHasher>>;

impl Context {
    /// The ROC of `ssrc`'s stream, if the stream exists.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let i = *self.by_ssrc.get(&ssrc)?;
        let s = &self.streams[i];
        Some(match s.rtp.highest() {
            Some(h) => (h >> 16) as u32,
            None => s.initial_roc,
        })
    }

    /// Whether an SRTP packet of `ssrc` with sequence number `seq` would
    /// pass the replay check now (its index estimated, then the window),
    /// without authenticating or changing anything; `Ok` for an SSRC
    /// without a stream. For callers that must report a refusal in
    /// another library's order (the libsrtp drop-in judges replay before
    /// length).
    pub fn rtp_replay_status(&self, ssrc: u32, seq: u16) -> Result<(), Error> {
        let Some(&i) = self.by_ssrc.get(&ssrc) else {
            return Ok(());
        };
        let s = &self.streams[i];
        let index = crate::srtp::replay::estimate_index(s.rtp.highest(), s.initial_roc, seq)
            .ok_or(Error::TooOld)?;
        s.rtp.check(index)
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

    /// Where every stream of this context stands (see
    /// [`StreamCheckpoint`]).
    pub fn checkpoint(&self) -> Vec<StreamCheckpoint> {
        self.streams
            .iter()
            .map(|s| StreamCheckpoint {
                ssrc: s.ssrc,
                rtp_highest: s.rtp.highest(),
                initial_roc: s.initial_roc,
                rtcp_highest: s.rtcp.highest(),
                rtcp_next: s.rtcp_next,
                sent: s.sent,
            })
            .collect()
    }

    /// Continues streams from checkpoints written by another context under
    /// the same keys (a node that took the call over). Every index at or
    /// below a checkpoint counts as used: the receive windows refuse them
    /// as replays and the sender never protects them again. The next SRTCP
    /// index jumps `rtcp_margin` ahead of the checkpoint, past any index
    /// the other context may have sent after writing it.
    ///
    /// A stream the other context started after its checkpoint is not in
    /// it: every stream this context creates from now on starts its SRTCP
    /// index at `rtcp_margin` (RTP indexes come from the packets).
    pub fn resume(
        &mut self,
        checkpoints: &[StreamCheckpoint],
        rtcp_margin: u32,
    ) -> Result<(), Error> {
        self.rtcp_start = self.rtcp_start.max(rtcp_margin.min(0x7fff_ffff));
        for cp in checkpoints {
            let i = self.stream_or_create(cp.ssrc)?;
            let s = &mut self.streams[i];
            if let Some(h) = cp.rtp_highest {
                if h >= 1 << 48 {
                    return Err(Error::InvalidConfig("SRTP index is 48 bits"));
                }
                if s.rtp.highest().is_none_or(|mine| mine < h) {
                    s.rtp.resume_at(h);
                }
            }
            s.initial_roc = s.initial_roc.max(cp.initial_roc);
            if let Some(h) = cp.rtcp_highest {
                if s.rtcp.highest().is_none_or(|mine| mine < h) {
                    s.rtcp.resume_at(h);
                }
            }
            let next = cp.rtcp_next.saturating_add(rtcp_margin).min(0x7fff_ffff);
            s.rtcp_next = s.rtcp_next.max(next);
            s.sent |= cp.sent;
        }
        Ok(())
    }

    /// Continues the streams of `old`, a context under *other* master
    /// keys, as libsrtp's `srtp_update` does: each SRTP stream keeps its
    /// highest index, so its ROC and index estimate carry on, but its
    /// window starts empty (an index sealed under the old keys is fresh
    /// keystream under the new ones, and a packet sealed under the old
    /// keys no longer authenticates); each SRTCP stream keeps its window
    /// and next index as they are. Only for a context whose every key
    /// differs from `old`'s: under the same keys this would let the sender
    /// seal an index again (use [`Context::resume`]).
    pub fn resume_after_rekey(&mut self, old: &Context) -> Result<(), Error> {
        for o in &old.streams {
            let i = self.stream_or_create(o.ssrc)?;
            let s = &mut self.streams[i];
            if let Some(h) = o.rtp.highest() {
                s.rtp.reset();
                s.rtp.advance(h);
            }
            s.initial_roc = s.initial_roc.max(o.initial_roc);
            if o.rtcp.size() == s.rtcp.size() {
                s.rtcp = o.rtcp.clone();
            } else if let Some(h) = o.rtcp.highest() {
                s.rtcp.resume_at(h);
            }
            s.rtcp_next = s.rtcp_next.max(o.rtcp_next);
        }
        Ok(())
    }

    /// [`find`](Self::find) without updating the last-used cache.
    #[inline]
    pub(super) fn find_ro(&self, ssrc: u32) -> Option<usize> {
        match self.streams.get(self.last) {
            Some(s) if s.ssrc == ssrc => Some(self.last),
            _ => self.by_ssrc.get(&ssrc).copied(),
        }
    }

    #[inline]
    pub(super) fn find(&mut self, ssrc: u32) -> Option<usize> {
        let i = self.find_ro(ssrc)?;
        self.last = i;
        Some(i)
    }

    pub(super) fn may_create(&self, ssrc: u32) -> Result<(), Error> {
        match self.ssrc_policy {
            SsrcPolicy::Specific(s) if s != ssrc => Err(Error::UnknownSsrc(ssrc)),
            _ if self.streams.len() >= self.max_streams => Err(Error::TooManyStreams {
                limit: self.max_streams,
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn insert_stream(&mut self, ssrc: u32) -> Result<usize, Error> {
        self.may_create(ssrc)?;
        let i = self.streams.len();
        let mut stream = Stream::new(ssrc, self.window, self.rtcp_window);
        stream.rtcp_next = self.rtcp_start;
        self.streams.push(stream);
        self.by_ssrc.insert(ssrc, i);
        self.last = i;
        Ok(i)
    }

    pub(super) fn stream_or_create(&mut self, ssrc: u32) -> Result<usize, Error> {
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
}
