//! WebRTC legs of ng calls: what a peer's SDP says about ICE and
//! DTLS-SRTP, what Rampart writes back, and the leg's transport started in
//! the transport service.
//!
//! Why beside offer and answer: whether a leg is keyed by SDES or by a
//! DTLS handshake, and whether it runs ICE, is decided per side by the
//! same offer/answer exchange. A WebRTC offer toward a SIP peer
//! (`transport-protocol: RTP/SAVP`, `ICE: remove`, `DTLS: off`) must come
//! back, in the answer Rampart writes, with the WebRTC side's profile,
//! Rampart's ICE-lite credentials and candidate, its fingerprint and DTLS
//! role, whatever the SIP side answered (as rtpengine does). The state
//! lives in the call record; the handshake runs in the transport service.

use super::*;
pub(super) use crate::control::calls::webrtc::{allowed_profiles, dtls_fits, WebrtcLeg};
use crate::control::sdp::webrtc::{
    answer_role, write_transport, LocalTransport, PeerTransport, Setup,
};
use crate::dtls::{Fingerprint, Role};

/// `ICE=...`: whether the receiving peer gets ICE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IceFlag {
    /// ICE toward the receiving peer when the sending peer had it.
    #[default]
    Default,
    /// ICE toward the receiving peer always.
    Force,
    /// No ICE toward the receiving peer.
    Remove,
}

/// `DTLS=...`: DTLS-SRTP toward the receiving peer, and the role Rampart
/// prefers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DtlsFlag {
    /// DTLS-SRTP when the profile (`UDP/TLS/...`) asks for it; `actpass`
    /// in offers, passive in answers.
    #[default]
    Default,
    /// No DTLS-SRTP toward the receiving peer.
    Off,
    /// Passive (`a=setup:passive`).
    Passive,
    /// Active (`a=setup:active`).
    Active,
}

impl DtlsFlag {
    /// The role this flag prefers, if any.
    fn prefers(self) -> Option<Role> {
        match self {
            DtlsFlag::Passive => Some(Role::Passive),
            DtlsFlag::Active => Some(Role::Active),
            _ => None,
        }
    }
}

/// The profile names DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)`).
pub(super) fn is_dtls_proto(p: &str) -> bool {
    p.trim().to_ascii_uppercase().starts_with("UDP/TLS/")
}

/// What a peer's media section says about ICE and DTLS, checked.
#[derive(Clone, Debug, Default)]
pub(super) struct PeerSide {
    /// Its ICE ufrag (it runs ICE).
    pub ufrag: Option<String>,
    /// DTLS-SRTP: its fingerprint and `a=setup`.
    pub dtls: Option<(Fingerprint, Option<Setup>)>,
    /// Its `a=mid`.
    pub mid: Option<String>,
}

/// Reads section `m` of a peer's SDP. A `UDP/TLS` profile without a
/// SHA-256 fingerprint is refused (a DTLS leg whose peer cannot be
/// verified would take any certificate), as is DTLS on a node without it.
pub(super) fn read_peer(
    sdp: &Sdp,
    m: &Media,
    dtls_enabled: bool,
    warnings: &mut Vec<String>,
) -> Result<PeerSide, NgError> {
    if m.is_rejected() {
        return Ok(PeerSide::default());
    }
    let t = PeerTransport::of(sdp, m);
    let mid = read_peer_mid(m).mid;
    let dtls = if is_dtls_proto(m.proto()) {
        if !dtls_enabled {
            return Err(NgError::new(
                "DTLS-SRTP is disabled on this node ([webrtc] enabled = false)",
            ));
        }
        let Some(fp) = t.fingerprint else {
            return Err(NgError::new(format!(
                "the {} section is DTLS-SRTP ({}) but has no {} a=fingerprint: a peer that \
                 cannot be verified is refused",
                m.kind(),
                m.proto(),
                if t.fingerprint_unusable {
                    "sha-256"
                } else {
                    "usable"
                }
            )));
        };
        Some((fp, t.setup))
    } else {
        None
    };
    if t.trickle && t.ice.is_some() {
        warnings.push(
            "trickle ICE is not supported: Rampart lists all its candidates at once \
             (a=end-of-candidates) and, being ICE-lite, needs none of the peer's"
                .into(),
        );
    }
    Ok(PeerSide {
        ufrag: t.ice.map(|(u, _)| u),
        dtls,
        mid,
    })
}

/// The `a=mid` of section `m`, as the only thing read from a section
/// that follows another in a bundle (its transport is the owner's).
pub(super) fn read_peer_mid(m: &Media) -> PeerSide {
    PeerSide {
        mid: m
            .attributes()
            .find(|(n, _)| n.eq_ignore_ascii_case("mid"))
            .and_then(|(_, v)| v)
            .map(|v| v.trim().to_string()),
        ..PeerSide::default()
    }
}

/// Records what an offering peer said about the leg facing it.
pub(super) fn take_offerer(w: &mut WebrtcLeg, p: &PeerSide) -> Result<(), NgError> {
    if w.peer_ufrag.is_some() && p.ufrag.is_some() && w.peer_ufrag != p.ufrag {
        // An ICE restart (RFC 8445 §9): both sides take new credentials.
        w.ice = None;
    }
    w.peer_ufrag.clone_from(&p.ufrag);
    if p.ufrag.is_some() {
        w.ensure_ice().map_err(NgError::new)?;
    } else {
        w.ice = None;
    }
    w.dtls = p.dtls.is_some();
    w.peer_fingerprint = p.dtls.map(|(fp, _)| fp);
    w.peer_setup = p.dtls.and_then(|(_, s)| s);
    w.offered_setup = None;
    w.role = None;
    w.mid.clone_from(&p.mid);
    Ok(())
}

/// Makes the leg toward the receiving peer of an offer: ICE and DTLS as
/// the flags and profile say. The peer's side is learned at the answer.
pub(super) fn offer_toward(
    w: &mut WebrtcLeg,
    ice: bool,
    dtls: Option<DtlsFlag>,
) -> Result<(), NgError> {
    if ice {
        w.ensure_ice().map_err(NgError::new)?;
    } else {
        w.ice = None;
        w.peer_ufrag = None;
    }
    match dtls {
        Some(flag) => {
            w.dtls = true;
            w.offered_setup = Some(match flag.prefers() {
                Some(r) => Setup::of_role(r),
                None => Setup::ActPass,
            });
        }
        None => {
            w.dtls = false;
            w.offered_setup = None;
            w.peer_fingerprint = None;
            w.role = None;
        }
    }
    Ok(())
}

/// Records what an answering peer said about the leg facing it, and
/// fixes Rampart's DTLS role from both `a=setup`s.
pub(super) fn take_answerer(w: &mut WebrtcLeg, p: &PeerSide, srtp: bool) -> Result<(), NgError> {
    if w.ice.is_some() {
        match &p.ufrag {
            Some(u) => w.peer_ufrag = Some(u.clone()),
            // The answerer does not do ICE: none on this leg.
            None => {
                w.ice = None;
                w.peer_ufrag = None;
            }
        }
    }
    if !w.dtls {
        return Ok(());
    }
    let Some((fp, setup)) = p.dtls else {
        if srtp {
            return Err(NgError::new(
                "DTLS-SRTP was offered but the answer has no a=fingerprint: refused",
            ));
        }
        // The answerer chose plain RTP.
        w.dtls = false;
        return Ok(());
    };
    w.peer_fingerprint = Some(fp);
    w.peer_setup = setup;
    w.role = Some(match (w.offered_setup, setup) {
        (Some(Setup::Active), _) => Role::Active,
        (Some(Setup::Passive), _) => Role::Passive,
        (_, Some(Setup::Active)) => Role::Passive,
        // `passive`, or an answer that leaves it open (invalid in an
        // answer): Rampart starts the handshake.
        _ => Role::Active,
    });
    Ok(())
}

/// Fixes Rampart's DTLS role toward an offering peer (its `a=setup`, the
/// answer's `DTLS` flag, else passive) and returns the `a=setup` to
/// answer with.
pub(super) fn answer_offerer(w: &mut WebrtcLeg, flag: DtlsFlag) -> Option<Setup> {
    if !w.dtls {
        return None;
    }
    let prefer = flag.prefers().unwrap_or(Role::Passive);
    let role = answer_role(w.peer_setup.or(Some(Setup::ActPass)), Some(prefer)).unwrap_or(prefer);
    w.role = Some(role);
    Some(Setup::of_role(role))
}

/// Writes Rampart's side of leg `w` into section `index` of `sdp`: ICE-lite
/// credentials and `local` as the host candidate, the fingerprint and
/// `setup`.
pub(super) fn write_local(
    sdp: &mut Sdp,
    index: usize,
    w: &WebrtcLeg,
    local: SocketAddr,
    fingerprint: Option<Fingerprint>,
    setup: Option<Setup>,
) {
    let dtls = match (w.dtls, fingerprint, setup) {
        (true, Some(fp), Some(s)) => Some((fp, s)),
        _ => None,
    };
    let candidates = [local];
    write_transport(
        sdp,
        index,
        &LocalTransport {
            ice: w.ice.as_ref(),
            candidates: &candidates,
            dtls,
        },
    );
    // JSEP wants the direction written; RFC 3264's default is sendrecv.
    const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];
    let is_direction = |n: &str| DIRECTIONS.iter().any(|d| n.eq_ignore_ascii_case(d));
    let session_direction = sdp.attributes().any(|(n, _)| is_direction(n));
    // WebRTC stacks (aiortc among them) read `a=rtcp` only in its full
    // form, with the address.
    if let Some(m) = sdp.media_mut().get_mut(index) {
        if !session_direction && !m.attributes().any(|(n, _)| is_direction(n)) {
            m.add_attribute("sendrecv", None);
        }
        if let Some((port, None)) = m.rtcp() {
            m.set_rtcp(Some((port, Some(&Connection::new(local.ip())))));
        }
    }
}

/// Adds `a=mid:<mid>` to `m` when it has none.
pub(super) fn ensure_mid(m: &mut Media, mid: &str) {
    if !m.attributes().any(|(n, _)| n.eq_ignore_ascii_case("mid")) {
        m.add_attribute("mid", Some(mid));
    }
}

/// Starts, restarts or stops the transport of data-plane call `id`'s leg
/// as its WebRTC state now says (after the data plane runs the call).
pub(super) fn sync_leg(
    s: &CallService,
    id: u64,
    leg_id: LegId,
    leg: &mut StreamLeg,
) -> Result<(), NgError> {
    let remote = leg.want.remote_rtp;
    crate::control::calls::webrtc::sync_transport(s, id, leg_id, &mut leg.webrtc, remote)
        .map_err(NgError::new)
}

#[cfg(test)]
mod tests;
