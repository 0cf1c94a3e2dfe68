//! Listing, reading and ending calls.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::super::calls::{blocking, Origin};
use super::super::calls::{now_ms, EndReason};
use super::super::shared::Shared;
use super::record::Call;
use super::ApiError;

/// Every call, whatever made it: `origin` is `http` (this API),
/// `embedded` (librampart), both with their legs, or `ng` (a switch over
/// the ng protocol, with its tags and media sections; `query` over ng has
/// the detail). Oldest first. Read from the calls' views: a command in
/// flight on a call (waiting for a worker) never holds the listing up.
pub(super) async fn list_calls(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(listing(&s)).into_response()
}

/// The `GET /calls` document.
pub(crate) fn listing(s: &Shared) -> Value {
    let now = now_ms();
    let mut views = s.calls.views(None);
    views.sort_by(|a, b| {
        a.created_ms
            .cmp(&b.created_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    let calls: Vec<Value> = views
        .into_iter()
        .map(|c| {
            let mut v = json!({
                "call_id": c.id,
                "origin": c.origin,
                "security": c.security,
                "policy_generation": c.generation,
                "created_ms": c.created_ms,
                "age_ms": now.saturating_sub(c.created_ms),
                "idle_ms": now.saturating_sub(c.last_activity_ms()),
            });
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), c.listing) {
                v.extend(extra);
            }
            v
        })
        .collect();
    json!({"count": calls.len(), "calls": calls})
}

/// Runs `f` on the HTTP (or librampart) call `id`, after the commands in
/// flight on it; a call made over ng is not this API's to see or change.
pub(crate) fn with_api_call<R>(
    s: &Shared,
    id: &str,
    f: impl FnOnce(&mut Call) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let slot = s
        .calls
        .get(id)
        .filter(|sl| sl.origin != Origin::Ng)
        .ok_or_else(|| ApiError::unknown_call(id))?;
    blocking(|| {
        slot.command(|rec| match rec.as_any_mut().downcast_mut::<Call>() {
            Some(c) => f(c),
            None => Err(ApiError::unknown_call(id)),
        })
        .unwrap_or_else(|| Err(ApiError::unknown_call(id)))
    })
}

pub(super) async fn get_call(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = with_api_call(&s, &id, |c| Ok(c.json(true)))?;
    Ok(axum::Json(v).into_response())
}

pub(super) async fn delete_call(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = delete(&s, &id)?;
    Ok(axum::Json(v).into_response())
}

/// Ends the HTTP (or librampart) call `id`; returns it with its final
/// stats.
pub(crate) fn delete(s: &Shared, id: &str) -> Result<Value, ApiError> {
    crate::control::calls::blocking(|| s.adopt_named(id));
    if s.calls.get(id).is_none_or(|sl| sl.origin == Origin::Ng) {
        return Err(ApiError::unknown_call(id));
    }
    let record = s
        .end_call(id, EndReason::Deleted)
        .ok_or_else(|| ApiError::unknown_call(id))?;
    let c = record
        .as_any()
        .downcast_ref::<Call>()
        .ok_or_else(|| ApiError::unknown_call(id))?;
    let mut v = c.json(true);
    v["ended"] = json!("deleted");
    Ok(v)
}
