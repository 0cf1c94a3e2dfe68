//! What the control plane hands the data plane: a call's legs (sockets,
//! remotes, keys, forwarding) and the changes it makes to them later.

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use super::{ForwardMode, LatchMode, LegCounters};
use crate::srtp::{Context, MasterKey};

/// A call handed to the data plane: its two legs.
#[derive(Debug)]
pub struct CallFlows {
    /// The control plane's call id (unique on the data plane).
    pub id: u64,
    /// Leg A (index 0) and leg B (index 1).
    pub legs: [LegFlows; 2],
}

/// One leg of a call: its sockets, its peer's address, its keys.
pub struct LegFlows {
    /// The leg's RTP socket, or the socket of the bundle it joins.
    pub rtp_socket: RtpSocket,
    /// `None`: RTCP is muxed on the RTP socket (RFC 5761).
    pub rtcp_socket: Option<UdpSocket>,
    /// RTCP muxed on the RTP socket although the leg has an RTCP socket:
    /// kept open, so a re-negotiation can turn mux off again
    /// ([`LegUpdate::rtcp_mux`]).
    pub rtcp_mux: bool,
    /// The signalled RTP address of the leg's peer, if known.
    pub remote_rtp: Option<SocketAddr>,
    /// The signalled RTCP address; `None`: the RTP port + 1, or the RTP
    /// address when muxed.
    pub remote_rtcp: Option<SocketAddr>,
    /// How the remote address is learned.
    pub latch: LatchMode,
    /// Keys the leg's peer uses toward the relay; `None`: plain RTP.
    pub srtp_in: Option<Context>,
    /// Keys the relay uses toward the leg's peer; `None`: send plain RTP.
    pub srtp_out: Option<Context>,
    /// How packets received on this leg reach the other leg.
    pub forward: ForwardMode,
    /// The leg's counters; the control plane keeps a clone.
    pub counters: Arc<LegCounters>,
}

impl fmt::Debug for LegFlows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegFlows")
            .field("rtp_socket", &self.rtp_socket)
            .field(
                "rtcp_socket",
                &self.rtcp_socket.as_ref().map(|s| s.local_addr().ok()),
            )
            .field("remote_rtp", &self.remote_rtp)
            .field("remote_rtcp", &self.remote_rtcp)
            .field("latch", &self.latch)
            .field("srtp_in", &self.srtp_in.as_ref().map(|c| c.suite()))
            .field("srtp_out", &self.srtp_out.as_ref().map(|c| c.suite()))
            .field("forward", &self.forward)
            .finish_non_exhaustive()
    }
}

/// Where a leg's RTP (and muxed RTCP) is received and sent.
pub enum RtpSocket {
    /// A socket of its own, bound by the control plane; the worker makes
    /// it non-blocking and closes it when the last call on it is removed.
    Own(UdpSocket),
    /// BUNDLE (RFC 8843): the socket of the same leg of the data-plane
    /// call `owner` (on the same worker), shared. Received packets are
    /// told apart by SSRC, then by payload type; STUN and DTLS stay the
    /// owner's. The leg must mux RTCP.
    Bundled {
        /// The data-plane call whose leg owns the socket.
        owner: u64,
        /// The payload types this leg's peer sends in its section
        /// (packets with another, unknown SSRC go to the owner).
        payload_types: Vec<u8>,
    },
}

impl From<UdpSocket> for RtpSocket {
    fn from(s: UdpSocket) -> RtpSocket {
        RtpSocket::Own(s)
    }
}

impl fmt::Debug for RtpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpSocket::Own(s) => f.debug_tuple("Own").field(&s.local_addr().ok()).finish(),
            RtpSocket::Bundled {
                owner,
                payload_types,
            } => f
                .debug_struct("Bundled")
                .field("owner", owner)
                .field("payload_types", payload_types)
                .finish(),
        }
    }
}

/// Changes to one leg of a running call; `None` fields stay as they are.
#[derive(Debug, Default)]
pub struct LegUpdate {
    /// New signalled RTP address (forgets the latched RTP address).
    pub remote_rtp: Option<SocketAddr>,
    /// New signalled RTCP address (forgets the latched RTCP address).
    pub remote_rtcp: Option<SocketAddr>,
    /// New latch mode.
    pub latch: Option<LatchMode>,
    /// Change to the inbound keys.
    pub srtp_in: Option<KeyChange>,
    /// Change to the outbound keys.
    pub srtp_out: Option<KeyChange>,
    /// New forward mode.
    pub forward: Option<ForwardMode>,
    /// RTCP muxed on the RTP socket, or not (only a leg with an RTCP
    /// socket can leave mux). Forgets the signalled and latched RTCP
    /// addresses unless `remote_rtcp` gives a new one.
    pub rtcp_mux: Option<bool>,
    /// Hand the leg's STUN and DTLS datagrams to the transport sink
    /// ([`super::TransportDatagram`]: a WebRTC leg's ICE and DTLS run on
    /// the control plane) instead of dropping them.
    pub transport: Option<bool>,
    /// The peer's ICE consent (RFC 7675): `false` stops sending to it
    /// (dropped, counted as no remote) until `true` again.
    pub consent: Option<bool>,
    /// RFC 9335 cryptex on the leg's contexts, turned in place (streams,
    /// keys and indexes go on).
    pub cryptex: Option<bool>,
    /// RFC 6904: the header extension IDs encrypted on the leg, changed in
    /// place.
    pub encrypted_extensions: Option<Vec<u8>>,
}

/// A change of one direction's SRTP keys.
pub enum KeyChange {
    /// A new master key with a new MKI: a receiver accepts the old and the
    /// new (hitless); a sender keeps the active key until
    /// [`KeyChange::SetActiveMki`].
    AddKey(MasterKey),
    /// The sender switches to the key with this MKI.
    SetActiveMki(Vec<u8>),
    /// No MKI: swap the key, keep ROC, replay and SRTCP index state.
    Replace(MasterKey),
    /// A whole new context (suite change), or `None`: plain RTP.
    Context(Option<Context>),
}

impl fmt::Debug for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChange::AddKey(k) => f.debug_tuple("AddKey").field(k).finish(),
            KeyChange::SetActiveMki(m) => f.debug_tuple("SetActiveMki").field(m).finish(),
            KeyChange::Replace(k) => f.debug_tuple("Replace").field(k).finish(),
            KeyChange::Context(c) => f
                .debug_tuple("Context")
                .field(&c.as_ref().map(|c| c.suite()))
                .finish(),
        }
    }
}
