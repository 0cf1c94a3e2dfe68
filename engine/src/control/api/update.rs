//! Changing a leg: a new remote, latch mode, or a rekey, applied to the
//! data plane as one update.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::dataplane::{DataPlaneError, KeyChange, LegId, LegUpdate};

use super::super::keys::{self, KeyText};
use super::super::shared::Shared;
use super::record::{add_policy_json, forward_mode, leg_json, Call, KeyState, LegKeys};
use super::requests::{Direction, KeyAnswer, PatchLeg, Rekey};
use super::{with_api_call, ApiError, ApiJson};

pub(super) async fn patch_leg(
    State(s): State<Arc<Shared>>,
    Path((id, leg)): Path<(String, String)>,
    body: Result<ApiJson<PatchLeg>, ApiError>,
) -> Result<Response, ApiError> {
    let leg_id = match leg.as_str() {
        "0" | "a" | "A" => LegId::A,
        "1" | "b" | "B" => LegId::B,
        _ => {
            return Err(ApiError::bad(
                "invalid_leg",
                format!("leg must be 0 or 1, got {leg:?}"),
            ))
        }
    };
    let ApiJson(body) = body?;
    let v = update(&s, &id, leg_id, body)?;
    Ok(axum::Json(v).into_response())
}

/// A rekey planned against the leg's keys: the key changes, in order, and
/// the leg's keys once they are made.
struct RekeyPlan {
    direction: Direction,
    changes: Vec<KeyChange>,
    new_keys: LegKeys,
    answer_key: Option<Value>,
}

/// Plans `rk` on leg keys `lk`: MKI keys are added (and activated when
/// asked), keys without MKI replace the key in place.
fn plan_rekey(li: usize, lk: Option<&LegKeys>, rk: &Rekey) -> Result<RekeyPlan, ApiError> {
    let Some(lk) = lk else {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {li} is plain RTP: nothing to rekey"),
        ));
    };
    let text = KeyText {
        key: rk.key.clone(),
        mki: rk.mki.clone(),
        lifetime: rk.lifetime,
    };
    let (mk, generated) = keys::from_text(lk.suite, &text)
        .map_err(|e| ApiError::bad("invalid_key", format!("rekey: {e}")))?;
    let mut nk = lk.clone();
    let ks = match rk.direction {
        Direction::Inbound => &mut nk.inbound,
        Direction::Outbound => &mut nk.outbound,
    };
    let mut changes = Vec::new();
    let mki = mk.mki().to_vec();
    if !mki.is_empty() && mki.len() == ks.mki_len() {
        if ks.mkis.contains(&mki) {
            return Err(ApiError::bad(
                "invalid_key",
                format!(
                    "rekey: MKI {} is already in use on this leg and direction",
                    keys::to_hex(&mki)
                ),
            ));
        }
        changes.push(KeyChange::AddKey(mk.clone()));
        if rk.activate {
            changes.push(KeyChange::SetActiveMki(mki.clone()));
        }
        ks.push_mki(mki.clone());
        if rk.activate {
            ks.active_mki = mki;
        }
        if rk.activate || rk.direction == Direction::Inbound {
            ks.current = mk.clone();
        }
    } else {
        changes.push(KeyChange::Replace(mk.clone()));
        *ks = KeyState::new(mk.clone());
    }
    let answer_key = generated.then(|| {
        serde_json::to_value(KeyAnswer {
            text: keys::to_text(&mk),
            generated: true,
        })
        .unwrap_or(Value::Null)
    });
    Ok(RekeyPlan {
        direction: rk.direction,
        changes,
        new_keys: nk,
        answer_key,
    })
}

/// Changes one leg of the HTTP (or librampart) call `id` from a
/// `PATCH /calls/{id}/legs/{leg}` body: every change (remote, latch, the
/// rekey's key steps, the forward modes of both legs) goes to the data
/// plane as one update the worker applies between two packets, or not at
/// all.
pub(crate) fn update(
    s: &Shared,
    id: &str,
    leg_id: LegId,
    body: PatchLeg,
) -> Result<Value, ApiError> {
    if body.remote.is_none()
        && body.remote_rtcp.is_none()
        && body.latch.is_none()
        && body.rekey.is_none()
    {
        return Err(ApiError::bad(
            "invalid_request",
            "nothing to change: give remote, remote_rtcp, latch or rekey",
        ));
    }
    with_api_call(s, id, |c| update_call(s, c, leg_id, &body))
}

fn update_call(
    s: &Shared,
    c: &mut Call,
    leg_id: LegId,
    body: &PatchLeg,
) -> Result<Value, ApiError> {
    let li = leg_id.index();
    let l = &c.legs[li];
    for (what, r) in [("remote", body.remote), ("remote_rtcp", body.remote_rtcp)] {
        if let Some(r) = r {
            if r.is_ipv4() != l.local_rtp.is_ipv4() {
                return Err(ApiError::bad(
                    "invalid_request",
                    format!("{what} {r} is not of the leg's family"),
                ));
            }
        }
    }
    if body.rekey.is_some() && l.webrtc.dtls {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {li} is keyed by its DTLS-SRTP handshake: its keys cannot be set"),
        ));
    }
    let rekey = match &body.rekey {
        Some(rk) => Some(plan_rekey(li, l.keys.as_ref(), rk)?),
        None => None,
    };
    let (direction, changes, new_keys, answer_key) = match rekey {
        Some(r) => (Some(r.direction), r.changes, Some(r.new_keys), r.answer_key),
        None => (None, Vec::new(), None, None),
    };
    let old_forward = [c.legs[0].forward, c.legs[1].forward];
    let forward = match &new_keys {
        Some(nk) => {
            let (ka, kb) = match leg_id {
                LegId::A => (Some(nk), c.legs[1].keys.as_ref()),
                LegId::B => (c.legs[0].keys.as_ref(), Some(nk)),
            };
            [forward_mode(ka, kb), forward_mode(kb, ka)]
        }
        None => old_forward,
    };
    // One update per key step (an MKI key is added, then activated), the
    // first with the leg's other changes; the other leg's forward mode.
    let keyed = |ch: KeyChange| match direction {
        Some(Direction::Inbound) => LegUpdate {
            srtp_in: Some(ch),
            ..LegUpdate::default()
        },
        _ => LegUpdate {
            srtp_out: Some(ch),
            ..LegUpdate::default()
        },
    };
    let mut steps: Vec<(LegId, LegUpdate)> = Vec::new();
    let mut changes = changes.into_iter();
    let first = LegUpdate {
        remote_rtp: body.remote,
        remote_rtcp: body.remote_rtcp,
        latch: body.latch,
        forward: (forward[li] != old_forward[li]).then_some(forward[li]),
        ..changes.next().map(keyed).unwrap_or_default()
    };
    steps.push((leg_id, first));
    steps.extend(changes.map(|ch| (leg_id, keyed(ch))));
    let other = leg_id.other();
    if forward[other.index()] != old_forward[other.index()] {
        steps.push((
            other,
            LegUpdate {
                forward: Some(forward[other.index()]),
                ..LegUpdate::default()
            },
        ));
    }
    // A rekey re-negotiates the leg: the call's status is unknown until it
    // completes (and settles back at the leg's mode, success or not).
    if direction.is_some() {
        renegotiation(s, c, li, false);
    }
    let dp_id = c.dp_id;
    let applied = s
        .with_dataplane(|dp| dp.update_legs(dp_id, steps))
        .map_err(|e| match e {
            DataPlaneError::UnknownCall(_) => ApiError::unknown_call(&c.id),
            e => ApiError::dataplane(e),
        });
    if direction.is_some() {
        renegotiation(s, c, li, true);
    }
    applied?;
    let l = &mut c.legs[li];
    if let Some(r) = body.remote {
        l.remote_rtp = Some(r);
    }
    if let Some(r) = body.remote_rtcp {
        l.remote_rtcp = Some(r);
    }
    if let Some(m) = body.latch {
        l.latch = m;
    }
    if let Some(k) = new_keys {
        l.keys = Some(k);
    }
    c.legs[0].forward = forward[0];
    c.legs[1].forward = forward[1];
    tracing::info!(
        call_id = %c.id, leg = li,
        remote = ?body.remote,
        rekey = ?direction.map(|d| match d { Direction::Inbound => "inbound", Direction::Outbound => "outbound" }),
        "leg updated"
    );
    let mut v = leg_json(li, &c.legs[li], None, false);
    add_policy_json(&mut v, &c.policy[li]);
    if let (Some(k), Some(d)) = (answer_key, direction) {
        v["keys"] = json!({ (match d { Direction::Inbound => "inbound", Direction::Outbound => "outbound" }): k });
    }
    Ok(json!({"call_id": c.id, "security": c.security(), "leg": v}))
}

/// Marks leg `li` of call `c` re-negotiating (`settle == false`) or
/// settled back at its mode, logging and counting the status change.
fn renegotiation(s: &Shared, c: &mut Call, li: usize, settle: bool) {
    let old = c.security.status();
    let change = if settle {
        c.security.leg_settled(li, c.policy[li].security)
    } else {
        c.security.leg_renegotiating(li)
    };
    s.security.note(&c.id, old, change);
}
