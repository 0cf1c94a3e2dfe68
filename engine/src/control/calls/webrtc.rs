//! WebRTC legs of the call service, whatever made the call (ng or the
//! HTTP API): what a leg negotiated (ICE credentials, the peer's
//! fingerprint, the DTLS role and profiles), and the leg's transport in
//! the transport service, started, restarted or stopped to match.
//!
//! Why here: the offer/answer (ng) and the leg options (HTTP) decide the
//! same things in different shapes; running them is one path, as
//! `install` is for keys.

use std::net::SocketAddr;

use super::{blocking, CallService};
use crate::control::sdp::webrtc::Setup;
use crate::dataplane::LegId;
use crate::dtls::{Certificate, Endpoint, Fingerprint, Profile, Role, SrtpKeys};
use crate::ice::lite::{Credentials, IceLite};
use crate::policy::Media as PolicyMedia;
use crate::srtp::{Context, Policy};

/// ICE and DTLS of one leg, as negotiated.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct WebrtcLeg {
    /// Rampart's ICE-lite credentials toward the peer (`None`: no ICE).
    pub ice: Option<Credentials>,
    /// The peer's ICE ufrag.
    pub peer_ufrag: Option<String>,
    /// A DTLS handshake keys this leg.
    pub dtls: bool,
    /// The `a=setup` Rampart offered this peer.
    pub offered_setup: Option<Setup>,
    /// The peer's certificate fingerprint (its SDP's SHA-256).
    pub peer_fingerprint: Option<Fingerprint>,
    /// The peer's `a=setup`.
    pub peer_setup: Option<Setup>,
    /// Rampart's DTLS role, once offer and answer fixed it.
    pub role: Option<Role>,
    /// The `a=mid` the peer gave the section.
    pub mid: Option<String>,
    /// What the running transport was made with: a change (ICE restart,
    /// new certificate, new role) needs a new transport and handshake.
    pub running: Option<Running>,
    /// The keys the last handshake exported (kept in the call's state, so
    /// another node can take the leg over without a new handshake).
    #[serde(default)]
    pub keys: Option<SrtpKeys>,
    /// The DTLS-SRTP profiles policy allows the leg (empty: all).
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

/// What a leg's running transport was made with.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Running {
    fingerprint: Option<Fingerprint>,
    ufrag: Option<String>,
    role: Option<Role>,
    ice: bool,
    profiles: Vec<Profile>,
}

impl WebrtcLeg {
    /// Whether the transport service runs anything for this leg.
    pub fn active(&self) -> bool {
        self.dtls || self.ice.is_some()
    }

    /// What a transport for the leg as negotiated now is made with.
    fn wanted(&self) -> Running {
        Running {
            fingerprint: self.peer_fingerprint,
            ufrag: self.peer_ufrag.clone(),
            role: self.role,
            ice: self.ice.is_some(),
            profiles: self.profiles.clone(),
        }
    }

    /// Rampart's credentials toward the peer: kept across re-offers (a new
    /// pair would be an ICE restart), made when ICE starts.
    pub fn ensure_ice(&mut self) -> Result<(), String> {
        if self.ice.is_none() {
            self.ice = Some(
                Credentials::generate().map_err(|e| format!("cannot make ICE credentials: {e}"))?,
            );
        }
        Ok(())
    }
}

/// Whether policy media `m` admits a DTLS-SRTP leg: SRTP with at least
/// one suite a DTLS-SRTP profile negotiates (all of them encrypt).
pub fn dtls_fits(m: &PolicyMedia) -> bool {
    crate::dtls::Profile::ALL
        .iter()
        .any(|p| matches!(m, PolicyMedia::Srtp(_)) && m.allows(p.suite()))
}

/// The DTLS-SRTP profiles policy media `m` allows, in Rampart's order
/// of preference.
pub fn allowed_profiles(m: &PolicyMedia) -> Vec<Profile> {
    Profile::ALL
        .iter()
        .copied()
        .filter(|p| matches!(m, PolicyMedia::Srtp(_)) && m.allows(p.suite()))
        .collect()
}

/// The ICE-lite agent of leg `w`: its credentials, the peer's ufrag.
fn agent_of(w: &WebrtcLeg) -> Option<IceLite> {
    w.ice.as_ref().map(|c| {
        let mut agent = IceLite::new(c.clone());
        if let Some(u) = &w.peer_ufrag {
            agent.set_remote_ufrag(u);
        }
        agent
    })
}

/// A transport for leg `w` as negotiated: the ICE-lite agent with its
/// credentials, the DTLS endpoint pinned to the peer's fingerprint; DTLS
/// goes to `remote` until ICE nominates a pair.
fn transport_of(
    w: &WebrtcLeg,
    cert: &Certificate,
    remote: Option<SocketAddr>,
) -> Result<crate::webrtc::Transport, String> {
    let ice = agent_of(w);
    let dtls = match (w.dtls, w.peer_fingerprint) {
        (true, Some(fp)) => {
            let profiles = if w.profiles.is_empty() {
                &Profile::ALL[..]
            } else {
                &w.profiles[..]
            };
            // Without ICE nothing has checked the peer's address: a
            // passive endpoint asks for a cookie before its certificate
            // flight (no reflection at a spoofed source).
            let cookie = w.ice.is_none();
            let role = w.role.unwrap_or(Role::Passive);
            Some(
                Endpoint::with_options(cert, role, fp, profiles, cookie)
                    .map_err(|e| format!("DTLS: {e}"))?,
            )
        }
        (true, None) => return Err("internal: a DTLS leg without a fingerprint".into()),
        _ => None,
    };
    Ok(crate::webrtc::Transport::new(ice, dtls, remote))
}

/// Starts, restarts or stops the transport of the data-plane call `id`'s
/// leg as its WebRTC state now says (after the data plane runs the call).
pub fn sync_transport(
    s: &CallService,
    id: u64,
    leg_id: LegId,
    w: &mut WebrtcLeg,
    remote: Option<SocketAddr>,
) -> Result<(), String> {
    let wanted = w.active().then(|| w.wanted());
    if wanted == w.running {
        return Ok(());
    }
    let Some(service) = s.webrtc.as_ref() else {
        if wanted.is_some() {
            return Err(
                "ICE and DTLS-SRTP are disabled on this node ([webrtc] enabled = false)".into(),
            );
        }
        return Ok(());
    };
    match wanted {
        // Only the ICE credentials moved (an ICE restart): the agent is
        // replaced, the DTLS association and its keys stay.
        Some(r)
            if w.running.as_ref().is_some_and(|old| {
                old.ice
                    && r.ice
                    && Running {
                        ufrag: r.ufrag.clone(),
                        ..old.clone()
                    } == r
            }) =>
        {
            let agent = agent_of(w).ok_or("internal: an ICE leg without an agent")?;
            if service.restart_ice(id, leg_id, agent) {
                w.running = Some(r);
                return Ok(());
            }
            let t = transport_of(w, service.certificate(), remote)?;
            blocking(|| service.add_leg(id, leg_id, t, w.dtls))
                .map_err(|e| format!("data plane: {e}"))?;
            w.running = Some(r);
        }
        Some(r) => {
            // A new handshake: the old keys are no longer the peer's.
            if w.dtls {
                w.keys = None;
            }
            let t = transport_of(w, service.certificate(), remote)?;
            blocking(|| service.add_leg(id, leg_id, t, w.dtls))
                .map_err(|e| format!("data plane: {e}"))?;
            w.running = Some(r);
        }
        None => {
            blocking(|| service.remove_leg(id, leg_id)).map_err(|e| format!("data plane: {e}"))?;
            w.running = None;
        }
    }
    Ok(())
}

/// The SRTP contexts (inbound, outbound) of a DTLS leg taken over: from
/// its exported `keys`, or fresh placeholders when it had none (it then
/// fails closed until its peer handshakes again).
pub fn restored_contexts(w: &WebrtcLeg) -> Result<(Context, Context), String> {
    match &w.keys {
        Some(k) => {
            let su = k.profile.suite();
            let ctx = |key: &crate::srtp::MasterKey| {
                Context::new(Policy::new(su, key.clone())).map_err(|e| e.to_string())
            };
            Ok((ctx(&k.remote)?, ctx(&k.local)?))
        }
        None => {
            let ph = || crate::webrtc::placeholder().map_err(|e| e.to_string());
            Ok((ph()?, ph()?))
        }
    }
}

/// Starts the transport of a leg taken over from another node, on
/// data-plane call `id` that runs it with `remote` (the resumed remote:
/// signalled, or where the other node had latched). A DTLS leg taken over
/// with its keys keeps its peer's association: only ICE runs here,
/// continuing the pair at `remote` with fresh consent. Any other leg
/// starts as negotiated ([`sync_transport`]).
pub fn resume_transport(
    s: &CallService,
    id: u64,
    leg_id: LegId,
    w: &mut WebrtcLeg,
    remote: Option<SocketAddr>,
) -> Result<(), String> {
    w.running = None;
    let (Some(service), true, true) = (s.webrtc.as_ref(), w.dtls, w.keys.is_some()) else {
        return sync_transport(s, id, leg_id, w, remote);
    };
    let t = crate::webrtc::Transport::new(agent_of(w), None, remote);
    blocking(|| service.add_resumed_leg(id, leg_id, t, remote))
        .map_err(|e| format!("data plane: {e}"))?;
    w.running = Some(w.wanted());
    Ok(())
}
