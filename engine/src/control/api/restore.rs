//! Running an HTTP (or librampart) call this node read back from the
//! store: its ports bound where they were, its keys in contexts resumed
//! from the media checkpoint (see `ng_call::restore` for why this is not
//! a fresh install).

use std::net::SocketAddr;

use crate::control::calls::install;
use crate::control::calls::webrtc;
use crate::control::calls::{now_ms, CallService};
use crate::control::store::media::{rtcp_margin, MediaCheckpoint};
use crate::dataplane::relay::LegCheckpoint;
use crate::dataplane::{CallFlows, LegFlows, LegId, RtpSocket};

use super::record::Call;

impl Call {
    /// Binds the call's ports, starts it on the data plane under a new
    /// data-plane id with its streams resumed from `media`. On failure
    /// nothing stays bound or running.
    pub fn restore(
        &mut self,
        s: &CallService,
        media: Option<&MediaCheckpoint>,
    ) -> Result<(), String> {
        let mut bound_at = Vec::new();
        let r = self.start_restored(s, media, &mut bound_at);
        if r.is_err() {
            for a in bound_at {
                s.release_port(a);
            }
        }
        r
    }

    fn start_restored(
        &mut self,
        s: &CallService,
        media: Option<&MediaCheckpoint>,
        bound_at: &mut Vec<SocketAddr>,
    ) -> Result<(), String> {
        let margin = rtcp_margin(media.map_or(self.created_ms, |m| m.taken_ms), now_ms());
        let cps = media.and_then(|m| m.streams.get(&self.dp_id));
        let empty = LegCheckpoint::default();
        let mut flows = Vec::with_capacity(2);
        let mut remotes = [None; 2];
        // Per leg: the owner's data-plane call and leg it joins.
        let mut owners = [None; 2];
        for (i, leg) in self.legs.iter().enumerate() {
            // A bundled leg joins its owner's socket: the owner's call must
            // run here already.
            let (rtp, rtcp): (RtpSocket, _) = match &leg.bundle {
                Some(b) => {
                    let owner = super::bundle::owner_dp(s, &b.call_id).ok_or_else(|| {
                        format!("its bundle owner, call {:?}, does not run here", b.call_id)
                    })?;
                    let owner_leg = LegId::from_index(b.leg)
                        .ok_or_else(|| format!("bundle leg {} is no leg", b.leg))?;
                    owners[i] = Some((owner, owner_leg));
                    let payload_types = b.payload_types.clone();
                    (
                        RtpSocket::Bundled {
                            owner,
                            payload_types,
                        },
                        None,
                    )
                }
                None => {
                    let b = s
                        .ports
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take_exact(leg.local_rtp, leg.rtcp_mux)
                        .map_err(|e| format!("cannot bind media port {}: {e}", leg.local_rtp))?;
                    bound_at.push(leg.local_rtp);
                    (b.rtp.into(), b.rtcp)
                }
            };
            let mut f = install::leg_flows(
                &leg.wanted(),
                rtp,
                rtcp,
                leg.replay_window,
                leg.counters.clone(),
            )
            .map_err(|e| e.to_string())?;
            if leg.webrtc.dtls {
                // The handshake's keys, resumed like any others below;
                // without them, placeholders (closed until the peer
                // handshakes again).
                let (inbound, outbound) = webrtc::restored_contexts(&leg.webrtc)?;
                f.srtp_in = Some(inbound);
                f.srtp_out = Some(outbound);
            }
            install::resume_flows(&mut f, cps.map_or(&empty, |c| &c[i]), margin)
                .map_err(|e| e.to_string())?;
            remotes[i] = f.remote_rtp;
            flows.push(f);
        }
        let Ok(legs) = <[LegFlows; 2]>::try_from(flows) else {
            return Err("internal: leg count".into());
        };
        let id = s.calls.alloc_dp_id();
        s.with_dataplane(|dp| dp.add_call(CallFlows { id, legs }))
            .map_err(|e| format!("data plane: {e}"))?;
        for (((leg, leg_id), remote), owner) in self
            .legs
            .iter_mut()
            .zip(LegId::BOTH)
            .zip(remotes)
            .zip(owners)
        {
            let started = match (owner, &s.webrtc) {
                (Some((owner, owner_leg)), Some(w)) => {
                    crate::control::calls::blocking(|| w.join_bundle(owner, owner_leg, id))
                        .map_err(|e| format!("data plane: {e}"))
                }
                (Some(_), None) => Err("WebRTC is disabled on this node".into()),
                (None, _) => webrtc::resume_transport(s, id, leg_id, &mut leg.webrtc, remote),
            };
            if let Err(e) = started {
                if let Some(w) = &s.webrtc {
                    w.remove_call(id);
                }
                let _ = s.with_dataplane(|dp| dp.remove_call(id));
                return Err(e);
            }
        }
        self.dp_id = id;
        Ok(())
    }
}
