//! What a node that takes a call over needs from the relay state: where
//! each leg's SRTP streams stand and which addresses it latched (the media
//! checkpoint, `control::store::media`).

use std::net::SocketAddr;

use super::{CallState, LegState};

/// Where one leg stands, for a node that takes the call over: its SRTP
/// streams (ROC, highest indexes, SRTCP index) and the addresses it
/// latched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LegCheckpoint {
    /// Streams of the context the leg's peer sends with.
    pub inbound: Vec<crate::srtp::StreamCheckpoint>,
    /// Streams of the context the relay sends with toward the peer.
    pub outbound: Vec<crate::srtp::StreamCheckpoint>,
    /// The RTP address latched, if any.
    pub latched_rtp: Option<SocketAddr>,
    /// The RTCP address latched, if any.
    pub latched_rtcp: Option<SocketAddr>,
}

/// One data-plane call's checkpoint: its id and both legs.
pub type CallCheckpoint = (u64, [LegCheckpoint; 2]);

impl LegState {
    /// Where this leg stands (see [`LegCheckpoint`]).
    pub fn checkpoint(&self) -> LegCheckpoint {
        LegCheckpoint {
            inbound: self
                .srtp_in
                .as_ref()
                .map(|c| c.checkpoint())
                .unwrap_or_default(),
            outbound: self
                .srtp_out
                .as_ref()
                .map(|c| c.checkpoint())
                .unwrap_or_default(),
            latched_rtp: self.latched[0],
            latched_rtcp: self.latched[1],
        }
    }
}

impl CallState {
    /// Where both legs stand (see [`LegCheckpoint`]).
    pub fn checkpoint(&self) -> [LegCheckpoint; 2] {
        [self.legs[0].checkpoint(), self.legs[1].checkpoint()]
    }
}
