//! One function per ng command that touches calls: `offer`, `answer`,
//! `delete`, `query`, `list`. Each finds its call in the call store and
//! runs on it after the commands in flight on that call (never under a
//! lock shared with other calls).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::super::calls::{now_ms, AdmitError, CallRecord, EndReason, Origin, Slot};
use super::super::ng_bencode::{self as ben, Dict};
use super::super::ng_call::{Negotiation, NgCall, NgError, ServicePorts};
use super::super::shared::Shared;
use super::report::{add_branch, call_report};
use super::request::{check_call_id, need, Request};

/// The ng call in a record, `None` for a call made over HTTP.
pub(super) fn ng_call_of(rec: &mut dyn CallRecord) -> Option<&mut NgCall> {
    rec.as_any_mut().downcast_mut::<NgCall>()
}

/// Runs `f` on the ng call `id` after the commands in flight on it.
pub(super) fn with_ng_call<R>(
    s: &Shared,
    id: &str,
    f: impl FnOnce(&mut NgCall) -> Result<R, NgError>,
) -> Result<R, NgError> {
    let unknown = || NgError::new("Unknown call-id");
    s.adopt_named(id);
    let slot = s
        .calls
        .get(id)
        .filter(|sl| sl.origin == Origin::Ng)
        .ok_or_else(unknown)?;
    slot.command(|rec| ng_call_of(rec).map(f))
        .flatten()
        .unwrap_or_else(|| Err(unknown()))
}

/// Ends a call whose first offer failed (not counted as an ended call).
pub(super) fn end_unborn(s: &Shared, id: &str, slot: &Arc<Slot>) {
    if s.calls.remove_slot(id, slot) {
        if let Some(rec) = slot.take() {
            s.release(id, rec.as_ref(), None);
        }
    }
}

/// The call `call_id` for an offer: the running ng call, or a new one
/// admitted under the call limit (`true`).
pub(super) fn offer_target(
    s: &Shared,
    call_id: &str,
    load_limit: bool,
) -> Result<Result<(Arc<Slot>, bool), Dict>, NgError> {
    s.adopt_named(call_id);
    if let Some(slot) = s.calls.get(call_id) {
        if slot.origin != Origin::Ng {
            return Err(NgError::new("call exists"));
        }
        return Ok(Ok((slot, false)));
    }
    if let Some(why) = s.new_call_refusal() {
        return Err(NgError::new(why));
    }
    match s.calls.admit(call_id) {
        Ok(()) => {
            let generation = s.security.policy().generation();
            let offer_timeout_ms = s.config.ng.offer_timeout_secs.saturating_mul(1000);
            let call = NgCall::new(call_id, generation, offer_timeout_ms);
            Ok(Ok((
                s.calls.commit(call_id, Origin::Ng, Box::new(call)),
                true,
            )))
        }
        Err(AdmitError::Limit(n)) => {
            s.totals.refused_limit.fetch_add(1, Ordering::Relaxed);
            let reason = format!("Parallel session limit reached ({n} calls)");
            if load_limit {
                let mut reply = Dict::new();
                reply
                    .str("result", "load limit")
                    .str("error-reason", reason);
                return Ok(Err(reply));
            }
            Err(NgError::new(reason))
        }
        Err(AdmitError::Exists) => Err(NgError::new("call exists")),
    }
}

pub(super) fn offer(
    s: &Shared,
    req: Request,
    warnings: &mut Vec<String>,
    created: &mut Option<(String, Arc<Slot>)>,
) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?.to_string();
    check_call_id(&call_id)?;
    let from_tag = need(&req.from_tag, "from-tag")?.to_string();
    let sdp = need(&req.sdp, "SDP body")?;
    let (slot, new) = match offer_target(s, &call_id, req.supports_load_limit)? {
        Ok(t) => t,
        Err(load_limit) => return Ok(load_limit),
    };
    let r = slot
        .command(|rec| {
            ng_call_of(rec).map(|call| {
                call.delete_at_ms = None;
                add_branch(call, &req.via_branch);
                let policy = s.security.policy();
                let mut neg = Negotiation::new(&s.config, &policy);
                neg.dtls = s.dtls_fingerprint();
                let r = call.offer(
                    &mut neg,
                    &mut ServicePorts::new(s),
                    &from_tag,
                    sdp,
                    (&req.media, warnings),
                );
                note_status_changes(s, call, neg.status_changes);
                r
            })
        })
        .flatten()
        .unwrap_or_else(|| Err(NgError::new("Unknown call-id")));
    match r {
        Ok(out) => {
            if new {
                // Counted by `answer_request` once the reply fits.
                *created = Some((call_id, slot));
            }
            let mut reply = Dict::new();
            reply.str("result", "ok").str("sdp", out);
            Ok(reply)
        }
        Err(e) => {
            if matches!(e, NgError::PolicyRefused(_)) {
                tracing::warn!(call_id = %call_id, reason = %e, "ng offer refused");
            }
            if new {
                let refused = match e {
                    NgError::PortsExhausted(_) => &s.totals.refused_ports,
                    NgError::PolicyRefused(_) => &s.totals.refused_policy,
                    _ => &s.totals.refused_invalid,
                };
                refused.fetch_add(1, Ordering::Relaxed);
                end_unborn(s, &call_id, &slot);
            }
            Err(e)
        }
    }
}

/// Logs and counts the call's security status changes a negotiation made.
fn note_status_changes(
    s: &Shared,
    call: &NgCall,
    changes: Vec<(
        crate::policy::CallSecurity,
        Option<crate::policy::CallSecurity>,
    )>,
) {
    for (old, change) in changes {
        s.security.note(&call.call_id, old, change);
    }
}

pub(super) fn answer(
    s: &Shared,
    req: Request,
    warnings: &mut Vec<String>,
) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    need(&req.from_tag, "from-tag")?;
    let sdp = need(&req.sdp, "SDP body")?;
    let out = with_ng_call(s, call_id, |call| {
        add_branch(call, &req.via_branch);
        // Negotiate (pure, under the policy's read lock), install on the
        // data plane (no lock but the call's own), then settle.
        let (answered, mut changes) = {
            let policy = s.security.policy();
            let mut neg = Negotiation::new(&s.config, &policy);
            neg.dtls = s.dtls_fingerprint();
            let a = call.answer(&mut neg, req.to_tag.as_deref(), sdp, (&req.media, warnings));
            (a, neg.status_changes)
        };
        let r = answered.and_then(|a| {
            call.install(s, warnings)?;
            call.settle_answer(&mut changes, &mut ServicePorts::new(s), a.decision);
            Ok(a.sdp)
        });
        note_status_changes(s, call, changes);
        r
    })
    .inspect_err(|e| {
        if matches!(e, NgError::PolicyRefused(_)) {
            s.totals.refused_policy.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %call_id, reason = %e, "ng answer refused");
        }
    })?;
    let mut reply = Dict::new();
    reply.str("result", "ok").str("sdp", out);
    Ok(reply)
}

pub(super) fn delete(
    s: &Shared,
    req: Request,
    warnings: &mut Vec<String>,
) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    let delay = req.delete_delay.unwrap_or(s.config.ng.delete_delay_secs);
    let mut reply = Dict::new();
    reply.str("result", "ok");
    let found = with_ng_call(s, call_id, |c| {
        let tag_ok = |t: &Option<String>| t.as_deref().is_none_or(|t| c.has_tag(t));
        let matches = req.all
            || (tag_ok(&req.from_tag)
                && tag_ok(&req.to_tag)
                && req.via_branch.as_deref().is_none_or(|b| {
                    req.from_tag.is_some()
                        || c.tags[1].is_none()
                        || c.branches.iter().any(|x| x == b)
                }));
        if matches {
            if delay > 0 {
                // Saturating: `delete delay` comes from the request
                // (2^64-1 must neither panic nor wrap to "now").
                c.delete_at_ms = Some(now_ms().saturating_add(delay.saturating_mul(1000)));
            }
            call_report(c, &mut reply);
        }
        Ok(matches)
    })
    .unwrap_or(false);
    if !found {
        let m = "Call-ID not found or tags didn't match";
        if req.fatal {
            return Err(NgError::new(m));
        }
        warnings.push(m.into());
        let mut reply = Dict::new();
        reply.str("result", "ok");
        return Ok(reply);
    }
    if delay == 0 {
        s.end_call(call_id, EndReason::Deleted);
    }
    Ok(reply)
}

pub(super) fn query(s: &Shared, req: Request) -> Result<Dict, NgError> {
    let call_id = need(&req.call_id, "call-id")?;
    let mut reply = Dict::new();
    reply.str("result", "ok");
    with_ng_call(s, call_id, |c| {
        call_report(c, &mut reply);
        Ok(())
    })?;
    Ok(reply)
}

pub(super) fn list(s: &Shared, req: Request) -> Dict {
    let limit = usize::try_from(req.limit.unwrap_or(32)).unwrap_or(usize::MAX);
    let mut ids: Vec<(u64, String)> = s
        .calls
        .views(Some(Origin::Ng))
        .into_iter()
        .map(|v| (v.created_ms, v.id))
        .collect();
    ids.sort();
    let mut reply = Dict::new();
    reply.str("result", "ok").set(
        "calls",
        ben::string_list(ids.into_iter().take(limit).map(|(_, id)| id)),
    );
    reply
}
