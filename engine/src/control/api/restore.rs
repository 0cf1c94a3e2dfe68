//! Running an HTTP (or librampart) call this node read back from the
//! store: its ports bound where they were, its keys in contexts resumed
//! from the media checkpoint (see `ng_call::restore` for why this is not
//! a fresh install).

use crate::control::calls::install::{self, WantedLeg};
use crate::control::calls::{now_ms, CallService};
use crate::control::store::media::{rtcp_margin, MediaCheckpoint};
use crate::dataplane::relay::LegCheckpoint;
use crate::dataplane::{CallFlows, LegFlows};

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
        let margin = rtcp_margin(media.map_or(self.created_ms, |m| m.taken_ms), now_ms());
        let cps = media.and_then(|m| m.streams.get(&self.dp_id));
        let mut bound_at = Vec::new();
        let release = |bound_at: &[std::net::SocketAddr]| {
            for a in bound_at {
                s.release_port(*a);
            }
        };
        let mut flows = Vec::with_capacity(2);
        for (i, leg) in self.legs.iter().enumerate() {
            let b = s
                .ports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take_exact(leg.local_rtp, leg.rtcp_mux)
                .map_err(|e| format!("cannot bind media port {}: {e}", leg.local_rtp));
            let b = match b {
                Ok(b) => b,
                Err(e) => {
                    release(&bound_at);
                    return Err(e);
                }
            };
            bound_at.push(leg.local_rtp);
            let want = WantedLeg {
                remote_rtp: leg.remote_rtp,
                remote_rtcp: leg.remote_rtcp,
                latch: leg.latch,
                srtp: leg.keys.as_ref().map(|k| k.wanted()),
                forward: leg.forward,
                rtcp_mux: leg.rtcp_mux,
            };
            let empty = LegCheckpoint::default();
            let cp = cps.map_or(&empty, |c| &c[i]);
            let f = install::leg_flows(
                &want,
                b.rtp,
                b.rtcp,
                leg.replay_window,
                leg.counters.clone(),
            )
            .map_err(|e| e.to_string())
            .and_then(|mut f: LegFlows| {
                for (c, streams) in [
                    (f.srtp_in.as_mut(), &cp.inbound),
                    (f.srtp_out.as_mut(), &cp.outbound),
                ] {
                    if let Some(c) = c {
                        c.resume(streams, margin).map_err(|e| e.to_string())?;
                    }
                }
                if f.remote_rtp.is_none() {
                    f.remote_rtp = cp.latched_rtp;
                    f.remote_rtcp = f.remote_rtcp.or(cp.latched_rtcp);
                }
                Ok(f)
            });
            match f {
                Ok(f) => flows.push(f),
                Err(e) => {
                    release(&bound_at);
                    return Err(e);
                }
            }
        }
        let Ok(legs) = <[LegFlows; 2]>::try_from(flows) else {
            release(&bound_at);
            return Err("internal: leg count".into());
        };
        let id = s.calls.alloc_dp_id();
        if let Err(e) = s.with_dataplane(|dp| dp.add_call(CallFlows { id, legs })) {
            release(&bound_at);
            return Err(format!("data plane: {e}"));
        }
        self.dp_id = id;
        Ok(())
    }
}
