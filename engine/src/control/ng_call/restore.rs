//! Running an ng call this node read back from the store (another node's
//! call taken over, or its own after a restart): the same local ports,
//! the same keys, each SRTP stream resumed from the media checkpoint.
//!
//! Why not `install`: `install` starts fresh contexts and refuses an
//! outbound key that ran before (a fresh context would restart its
//! indexes under it). A restored stream is not fresh: it continues the
//! other node's contexts, so it is started from what was *installed*
//! there, with every stream resumed past its checkpoint
//! ([`crate::srtp::Context::resume`]) and new streams' SRTCP started past
//! the margin.

use super::*;
use crate::control::store::media::{rtcp_margin, MediaCheckpoint};
use crate::dataplane::relay::LegCheckpoint;

/// Flows for one restored leg: the installed state on `bound`, contexts
/// resumed from `cp`.
fn restored_flows(
    leg: &StreamLeg,
    (rtp, rtcp): (crate::dataplane::RtpSocket, Option<std::net::UdpSocket>),
    cp: Option<&LegCheckpoint>,
    margin: u32,
    window: usize,
) -> Result<LegFlows, NgError> {
    let state = leg.installed.as_ref().unwrap_or(&leg.want);
    let mut flows = install::leg_flows(state, rtp, rtcp, window, leg.counters.clone())
        .map_err(apply::install_error)?;
    if leg.webrtc.dtls {
        // The handshake's keys, resumed like any others below; without
        // them, placeholders (closed until the peer handshakes again).
        let (i, o) =
            crate::control::calls::webrtc::restored_contexts(&leg.webrtc).map_err(NgError::new)?;
        flows.srtp_in = Some(i);
        flows.srtp_out = Some(o);
    }
    install::resume_flows(&mut flows, cp.unwrap_or(&LegCheckpoint::default()), margin)
        .map_err(apply::install_error)?;
    Ok(flows)
}

/// A restored leg's socket: bound again, or its bundle owner's (the
/// owner's new data-plane call).
enum Bound {
    Own(super::super::ports::BoundPorts),
    Bundled(u64),
}

impl NgCall {
    /// Runs this call, read back from the store, on this node: binds each
    /// section's ports where the call had them, starts the sections that
    /// were running with their contexts resumed from `media`, and keeps
    /// the sockets of a pending offer's sections reserved. On failure
    /// nothing stays bound or running.
    pub fn restore(
        &mut self,
        s: &CallService,
        media: Option<&MediaCheckpoint>,
    ) -> Result<(), NgError> {
        let now = now_ms();
        let window = s.config.srtp.replay_window;
        let margin = rtcp_margin(media.map_or(self.created_ms, |m| m.taken_ms), now);
        let mut started = Vec::new();
        let mut bound_at = Vec::new();
        let r = self.restore_streams(s, media, margin, window, &mut started, &mut bound_at);
        if r.is_err() {
            for id in started {
                if let Some(w) = &s.webrtc {
                    w.remove_call(id);
                }
                let _ = s.with_dataplane(|dp| dp.remove_call(id));
            }
            for a in bound_at {
                s.release_port(a);
            }
            for st in &mut self.streams {
                st.dp_id = None;
            }
        }
        r
    }

    fn restore_streams(
        &mut self,
        s: &CallService,
        media: Option<&MediaCheckpoint>,
        margin: u32,
        window: usize,
        started: &mut Vec<u64>,
        bound_at: &mut Vec<SocketAddr>,
    ) -> Result<(), NgError> {
        for i in 0..self.streams.len() {
            // A bundled leg joins its owner's socket (restored before it).
            let owners = [0, 1].map(|l| {
                self.streams[i].legs[l]
                    .bundle
                    .map(|o| self.streams.get(o).and_then(|st| st.dp_id))
            });
            let st = &mut self.streams[i];
            let old = st.dp_id.take();
            if st.rejected || (old.is_none() && !st.reserved) {
                continue;
            }
            let mut bound = Vec::with_capacity(2);
            for (leg, owner) in st.legs.iter().zip(owners) {
                if let Some(owner) = owner {
                    let owner = owner.ok_or_else(|| {
                        NgError::new("a bundled section's owner section is not running")
                    })?;
                    bound.push(Bound::Bundled(owner));
                    continue;
                }
                let b = s
                    .ports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take_exact(leg.local_rtp, false)
                    .map_err(|e| {
                        NgError::new(format!("cannot bind media port {}: {e}", leg.local_rtp))
                    })?;
                bound_at.push(leg.local_rtp);
                bound.push(Bound::Own(b));
            }
            let Some(old_id) = old else {
                // A pending offer's section: sockets reserved until its
                // answer, as on the node that made it.
                for b in bound {
                    if let Bound::Own(b) = b {
                        s.keep_reserved(b);
                    }
                }
                continue;
            };
            let cps = media.and_then(|m| m.streams.get(&old_id));
            let mut flows = Vec::with_capacity(2);
            let mut remotes = [None; 2];
            let pts = bundle::payload_types(&st.formats);
            for (i, b) in bound.into_iter().enumerate() {
                let cp = cps.map(|c| &c[i]);
                let sockets = match b {
                    Bound::Own(b) => (b.rtp.into(), b.rtcp),
                    Bound::Bundled(owner) => (
                        crate::dataplane::RtpSocket::Bundled {
                            owner,
                            payload_types: pts.clone(),
                        },
                        None,
                    ),
                };
                let f = restored_flows(&st.legs[i], sockets, cp, margin, window)?;
                remotes[i] = f.remote_rtp;
                flows.push(f);
            }
            let Ok(legs) = <[LegFlows; 2]>::try_from(flows) else {
                return Err(NgError::new("internal: leg count"));
            };
            let id = s.calls.alloc_dp_id();
            s.with_dataplane(|dp| dp.add_call(CallFlows { id, legs }))
                .map_err(apply::dataplane_error)?;
            started.push(id);
            st.dp_id = Some(id);
            for leg in &mut st.legs {
                if leg.installed.is_none() {
                    leg.installed = Some(leg.want.clone());
                }
            }
            for (leg_id, remote) in LegId::BOTH.into_iter().zip(remotes) {
                let leg = &mut st.legs[leg_id.index()];
                if leg.bundle.is_some() {
                    continue;
                }
                crate::control::calls::webrtc::resume_transport(
                    s,
                    id,
                    leg_id,
                    &mut leg.webrtc,
                    remote,
                )
                .map_err(NgError::new)?;
            }
        }
        self.sync_bundles(s)
    }
}
