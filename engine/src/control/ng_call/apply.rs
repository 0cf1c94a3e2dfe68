//! Bringing the data plane to what offer and answer negotiated, through
//! the call service's one install path (`calls::install`).

use super::*;

pub(super) fn install_error(e: InstallError) -> NgError {
    NgError::new(e.to_string())
}

pub(super) fn dataplane_error(e: crate::dataplane::DataPlaneError) -> NgError {
    NgError::new(format!("data plane: {e}"))
}

/// A rejected section is never relayed: stops a running one (its ports
/// stay reserved for the call, its keys retire).
pub(super) fn stop_rejected(s: &CallService, st: &mut Stream) {
    let Some(id) = st.dp_id.take() else {
        return;
    };
    if let Err(e) = s.with_dataplane(|dp| dp.remove_call(id)) {
        tracing::warn!(error = %e, "data plane could not remove a rejected ng stream");
    }
    if let Some(w) = &s.webrtc {
        w.remove_call(id);
    }
    for leg in &mut st.legs {
        leg.webrtc.running = None;
        s.totals.fold(&leg.counters);
        leg.counters = LegCounters::new();
        if let Some(k) = leg.installed.take().and_then(|i| i.srtp) {
            leg.retire(k.suite);
        }
    }
}

/// Starts the data-plane call of a section on its reserved sockets.
pub(super) fn start_stream(
    s: &CallService,
    st: &mut Stream,
    bundle_owners: [Option<u64>; 2],
    window: usize,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    if !st.reserved {
        return Ok(());
    }
    st.reserved = false;
    let mut flows = Vec::with_capacity(2);
    let pts = bundle::payload_types(&st.formats);
    for (leg, owner) in st.legs.iter_mut().zip(bundle_owners) {
        let (rtp, rtcp): (crate::dataplane::RtpSocket, _) = match (leg.bundle, owner) {
            (Some(_), Some(owner)) => {
                leg.mux = true;
                (
                    crate::dataplane::RtpSocket::Bundled {
                        owner,
                        payload_types: pts.clone(),
                    },
                    None,
                )
            }
            (Some(_), None) => {
                return Err(NgError::new(
                    "a bundled section's owner section is not running (rejected?)",
                ))
            }
            (None, _) => {
                let bound = s
                    .take_reserved(leg.local_rtp)
                    .ok_or_else(|| NgError::new("internal: a reserved port pair is gone"))?;
                (bound.rtp.into(), bound.rtcp)
            }
        };
        leg.want.rtcp_mux = leg.mux;
        if let Some(k) = &leg.want.srtp {
            let (out, inb) = (k.outbound.clone(), k.inbound.clone());
            leg.note_fresh_outbound(&out)?;
            leg.note_fresh_inbound(&inb, warnings);
        }
        // The RTCP socket stays with the leg even under mux: a re-offer
        // may turn mux off.
        let mut f = install::leg_flows(&leg.want, rtp, rtcp, window, leg.counters.clone())
            .map_err(install_error)?;
        if leg.webrtc.dtls {
            // Keys nobody knows until the handshake: nothing relays before.
            f.srtp_in = Some(crate::webrtc::placeholder().map_err(dataplane_error)?);
            f.srtp_out = Some(crate::webrtc::placeholder().map_err(dataplane_error)?);
        }
        flows.push(f);
    }
    let Ok(legs) = <[LegFlows; 2]>::try_from(flows) else {
        return Err(NgError::new("internal: leg count"));
    };
    let id = s.calls.alloc_dp_id();
    s.with_dataplane(|dp| dp.add_call(CallFlows { id, legs }))
        .map_err(dataplane_error)?;
    st.dp_id = Some(id);
    for leg in &mut st.legs {
        leg.installed = Some(leg.want.clone());
    }
    sync_transports(s, st, id)
}

/// Runs each leg's transport as negotiated; a bundled leg has none of its
/// own (its owner's carries it, `bundle`).
fn sync_transports(s: &CallService, st: &mut Stream, id: u64) -> Result<(), NgError> {
    for leg_id in LegId::BOTH {
        let leg = &mut st.legs[leg_id.index()];
        if leg.bundle.is_none() {
            webrtc::sync_leg(s, id, leg_id, leg)?;
        }
    }
    Ok(())
}

/// Brings a running section to what was negotiated: per leg, the key
/// bookkeeping of [`install::freshness`], then [`install::reconcile`];
/// both legs' updates go to the worker as one.
pub(super) fn update_stream(
    s: &CallService,
    st: &mut Stream,
    id: u64,
    window: usize,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    let mut steps = Vec::new();
    for leg_id in LegId::BOTH {
        let leg = &mut st.legs[leg_id.index()];
        leg.want.rtcp_mux = leg.mux;
        let Some(old) = leg.installed.clone() else {
            continue;
        };
        let fresh = install::freshness(&old, &leg.want);
        if let Some(k) = &fresh.outbound {
            leg.note_fresh_outbound(k)?;
        }
        if let Some(k) = &fresh.inbound {
            leg.note_fresh_inbound(k, warnings);
        }
        if let Some(su) = fresh.retired {
            leg.retire(su);
        }
        // A DTLS leg's contexts are the handshake's (or its placeholders):
        // the negotiation never replaces them with no keys.
        let mut want = leg.want.clone();
        if leg.webrtc.dtls {
            want.srtp.clone_from(&old.srtp);
        }
        if let Some(u) = install::reconcile(&old, &want, window).map_err(install_error)? {
            steps.push((leg_id, u));
        }
    }
    if !steps.is_empty() {
        s.with_dataplane(|dp| dp.update_legs(id, steps))
            .map_err(dataplane_error)?;
    }
    for leg in &mut st.legs {
        leg.installed = Some(install::installed_after(leg.installed.as_ref(), &leg.want));
    }
    sync_transports(s, st, id)
}
