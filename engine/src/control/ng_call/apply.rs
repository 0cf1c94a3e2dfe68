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
    for leg in &mut st.legs {
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
    window: usize,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    if !st.reserved {
        return Ok(());
    }
    st.reserved = false;
    let mut flows = Vec::with_capacity(2);
    for leg in st.legs.iter_mut() {
        let bound = s
            .take_reserved(leg.local_rtp)
            .ok_or_else(|| NgError::new("internal: a reserved port pair is gone"))?;
        leg.want.rtcp_mux = leg.mux;
        if let Some(k) = &leg.want.srtp {
            let (out, inb) = (k.outbound.clone(), k.inbound.clone());
            leg.note_fresh_outbound(&out)?;
            leg.note_fresh_inbound(&inb, warnings);
        }
        // The RTCP socket stays with the leg even under mux: a re-offer
        // may turn mux off.
        flows.push(
            install::leg_flows(
                &leg.want,
                bound.rtp,
                bound.rtcp,
                window,
                leg.counters.clone(),
            )
            .map_err(install_error)?,
        );
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
        if let Some(u) = install::reconcile(&old, &leg.want, window).map_err(install_error)? {
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
    Ok(())
}
