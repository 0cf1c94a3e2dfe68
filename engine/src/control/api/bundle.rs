//! BUNDLE over the HTTP API: a leg that shares the port and the ICE/DTLS
//! transport of a running call's WebRTC leg (RFC 8843), as ng's bundled
//! sections do (`ng_call::bundle`).
//!
//! Why a call per section here too: the API's call is two legs, one media
//! stream; a switch that bundles audio and video makes two calls and
//! names, in the second, the leg it joins. The joined leg's call owns the
//! port and the transport; its members end with it.

use std::net::SocketAddr;

use crate::control::calls::webrtc::WebrtcLeg;
use crate::dataplane::LegId;

use super::super::shared::Shared;
use super::record::{BundleRef, Call, LegMode};
use super::requests::LegRequest;
use super::ApiError;

/// Where a bundled leg runs: its owner's data-plane call, leg and port.
pub(super) struct BundlePlan {
    pub(super) owner_dp: u64,
    pub(super) owner_leg: LegId,
    pub(super) owner_local: SocketAddr,
    pub(super) reference: BundleRef,
}

/// Where leg `i`, which asks to join another call's leg, runs, and the
/// transport it shares: that leg must be a DTLS-SRTP leg of its own on
/// this node, of the family of `address`; this one gives no transport,
/// keys or address of its own and muxes RTCP. (Policy decides it as the
/// DTLS-SRTP leg it is, in `create::plan_leg`.)
pub(super) fn resolve(
    s: &Shared,
    i: usize,
    req: &LegRequest,
    address: std::net::IpAddr,
) -> Result<(BundlePlan, WebrtcLeg), ApiError> {
    let bad = |m: String| ApiError::bad("invalid_request", format!("leg {i}: bundle: {m}"));
    let Some(b) = req.bundle.as_ref() else {
        return Err(bad("internal: no bundle".into()));
    };
    if req.dtls.is_some()
        || req.ice.is_some()
        || req.keys.is_some()
        || req.suite.is_some()
        || req.remote.is_some()
        || req.remote_rtcp.is_some()
    {
        return Err(bad(
            "a bundled leg takes its transport, keys and address from the leg it joins: \
             give no dtls, ice, keys, suite or remote"
                .into(),
        ));
    }
    if !req.rtcp_mux {
        return Err(bad("a bundled leg muxes RTCP (rtcp_mux: true)".into()));
    }
    if matches!(req.mode, Some(LegMode::Rtp | LegMode::Srtp)) {
        return Err(bad("a bundled leg is DTLS-SRTP (leave out mode)".into()));
    }
    let owner_leg = LegId::from_index(b.leg).ok_or_else(|| bad("leg must be 0 or 1".into()))?;
    let owner = s
        .calls
        .get(&b.call_id)
        .and_then(|slot| {
            slot.command(|rec| {
                let c = rec.as_any().downcast_ref::<Call>()?;
                let l = &c.legs[b.leg];
                Some((c.dp_id, l.local_rtp, l.webrtc.clone(), l.bundle.is_some()))
            })
        })
        .flatten()
        .ok_or_else(|| bad(format!("no API call {:?} on this node", b.call_id)))?;
    let (owner_dp, owner_local, mut webrtc, nested) = owner;
    if !webrtc.dtls || nested {
        return Err(bad(
            "the leg joined must be a DTLS-SRTP leg with a transport of its own".into(),
        ));
    }
    if owner_local.is_ipv6() != address.is_ipv6() {
        return Err(bad("the leg joined is of another address family".into()));
    }
    // The owner's transport keys this leg: no transport of its own.
    webrtc.running = None;
    let reference = BundleRef {
        call_id: b.call_id.clone(),
        leg: b.leg,
        payload_types: b.payload_types.clone(),
    };
    Ok((
        BundlePlan {
            owner_dp,
            owner_leg,
            owner_local,
            reference,
        },
        webrtc,
    ))
}

/// Records `member` in the owner call's list (it ends with the owner).
pub(super) fn note_member(s: &Shared, owner: &str, member: &str) {
    if let Some(slot) = s.calls.get(owner) {
        slot.command(|rec| {
            if let Some(c) = rec.as_any_mut().downcast_mut::<Call>() {
                if !c.bundle_members.iter().any(|m| m == member) {
                    c.bundle_members.push(member.to_string());
                }
            }
        });
    }
}

/// The data-plane call that runs API call `call_id` here now.
pub(crate) fn owner_dp(s: &crate::control::calls::CallService, call_id: &str) -> Option<u64> {
    s.calls.get(call_id)?.with_view(|v| {
        (v.origin != crate::control::calls::Origin::Ng)
            .then(|| v.dp_ids.first().copied())
            .flatten()
    })
}
