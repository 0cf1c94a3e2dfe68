//! Media checkpoints: where each call's SRTP streams stand (ROC, highest
//! indexes, SRTCP index, latched addresses), written apart from the call's
//! signalling state and far more often.
//!
//! Why apart: signalling state changes with commands and is written before
//! the reply; media state changes with every packet and is read from the
//! workers every `[store] checkpoint_ms` and written when it moved. A node
//! that takes a call over resumes each stream from its checkpoint
//! ([`crate::srtp::Context::resume`]): the ROC and highest index (so a
//! stream that wrapped its sequence numbers keeps authenticating, and the
//! estimate of RFC 3711 Appendix A works as long as the checkpoint is less
//! than 2^15 packets behind), every index at or below the checkpoint
//! counted as used, and the SRTCP send index moved ahead by
//! [`rtcp_margin`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataplane::relay::LegCheckpoint;

/// One call's media checkpoint: per data-plane call (one per ng media
/// section, one for an HTTP call), both legs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaCheckpoint {
    /// When it was read from the workers, unix ms.
    pub taken_ms: u64,
    /// By data-plane call id (the ids in the call's stored state).
    pub streams: BTreeMap<u64, [LegCheckpoint; 2]>,
}

/// SRTCP packets per second one SSRC is assumed never to exceed (reports
/// every few seconds, feedback a few dozen a second at most).
pub const MAX_SRTCP_PER_SEC: u64 = 1000;

/// How far a resumed sender moves its SRTCP index past the checkpoint:
/// enough for every SRTCP packet the old node could have sent since
/// `since_ms` (the checkpoint, or the call's start when there is none),
/// plus a fixed 1,024.
pub fn rtcp_margin(since_ms: u64, now_ms: u64) -> u32 {
    let secs = now_ms.saturating_sub(since_ms).div_ceil(1000);
    let m = 1024u64.saturating_add(secs.saturating_mul(MAX_SRTCP_PER_SEC));
    m.min(1 << 30) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_grows_with_the_checkpoints_age() {
        assert_eq!(rtcp_margin(1000, 1000), 1024);
        assert_eq!(rtcp_margin(1000, 1001), 2024);
        assert_eq!(rtcp_margin(0, 60_000), 61_024);
        assert_eq!(rtcp_margin(5000, 0), 1024);
        assert_eq!(rtcp_margin(0, u64::MAX), 1 << 30);
    }

    #[test]
    fn a_checkpoint_is_a_plain_value() {
        let mut m = MediaCheckpoint {
            taken_ms: 7,
            ..Default::default()
        };
        m.streams.insert(3, Default::default());
        let v = serde_json::to_vec(&m).unwrap();
        assert_eq!(serde_json::from_slice::<MediaCheckpoint>(&v).unwrap(), m);
    }
}
