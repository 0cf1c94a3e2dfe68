//! The device list and the cluster mode: the CallManager security plane's
//! policy, changed at run time.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use serde::Deserialize;

use crate::policy::{ClusterMode, DeviceConfig, LegKind, SecurityMode};

use super::super::calls::Origin;
use super::super::shared::Shared;
use super::{ApiError, ApiJson};

// ---- devices and policy ------------------------------------------------------

pub(super) fn policy_error(e: crate::policy::PolicyError) -> ApiError {
    use crate::policy::PolicyError as P;
    match e {
        P::NoSuchDevice(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_device", e.to_string()),
        P::DeviceExists(_) => ApiError::new(StatusCode::CONFLICT, "device_exists", e.to_string()),
        P::ModelCannot { .. } | P::KindCannot { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "policy_refused", e.to_string())
        }
        _ => ApiError::bad("invalid_request", e.to_string()),
    }
}

pub(super) fn device_json(d: &crate::policy::Device) -> Value {
    json!(DeviceConfig::from(d))
}

pub(super) async fn list_devices(State(s): State<Arc<Shared>>) -> Response {
    let p = s.security.policy();
    let list: Vec<Value> = p.devices().map(device_json).collect();
    axum::Json(json!({"count": list.len(), "generation": p.generation(), "devices": list}))
        .into_response()
}

pub(super) async fn get_device(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = s.security.policy();
    let d = p
        .device(&name)
        .ok_or_else(|| policy_error(crate::policy::PolicyError::NoSuchDevice(name.clone())))?;
    Ok(axum::Json(device_json(d)).into_response())
}

pub(super) async fn add_device(
    State(s): State<Arc<Shared>>,
    body: Result<ApiJson<DeviceConfig>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(d) = body?;
    let mut p = s.security.policy_mut();
    p.add_device(d.clone().into()).map_err(policy_error)?;
    tracing::info!(
        device = %d.name, model = %d.model, mode = d.mode.as_str(), kind = d.kind.as_str(),
        generation = p.generation(), "device registered"
    );
    let v = json!({"device": d, "generation": p.generation()});
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DevicePatch {
    #[serde(default)]
    mode: Option<SecurityMode>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    kind: Option<LegKind>,
}

pub(super) async fn update_device(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Result<ApiJson<DevicePatch>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(patch) = body?;
    let mut p = s.security.policy_mut();
    let old = p
        .device(&name)
        .cloned()
        .ok_or_else(|| policy_error(crate::policy::PolicyError::NoSuchDevice(name.clone())))?;
    let model = patch.model.clone().unwrap_or_else(|| old.model.clone());
    let kind = patch.kind.unwrap_or(old.kind);
    let mode = patch.mode.unwrap_or(old.mode);
    if model != old.model || kind != old.kind {
        // A new model or kind: check first, then re-register (the removal
        // bumps the generation).
        p.check_capability(&model, kind, mode)
            .map_err(policy_error)?;
        p.remove_device(&name).map_err(policy_error)?;
        p.add_device(crate::policy::Device {
            name: name.clone(),
            model,
            mode,
            kind,
        })
        .map_err(policy_error)?;
    } else {
        p.set_device_mode(&name, mode).map_err(policy_error)?;
    }
    let d = p
        .device(&name)
        .ok_or_else(|| policy_error(crate::policy::PolicyError::NoSuchDevice(name.clone())))?;
    tracing::info!(
        device = %name, model = %d.model, old_mode = old.mode.as_str(), mode = d.mode.as_str(),
        kind = d.kind.as_str(), generation = p.generation(), "device updated"
    );
    Ok(axum::Json(json!({"device": device_json(d), "generation": p.generation()})).into_response())
}

pub(super) async fn remove_device(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let mut p = s.security.policy_mut();
    let d = p.remove_device(&name).map_err(policy_error)?;
    tracing::info!(device = %name, generation = p.generation(), "device removed");
    Ok(
        axum::Json(json!({"device": device_json(&d), "generation": p.generation()}))
            .into_response(),
    )
}

pub(super) async fn get_policy(State(s): State<Arc<Shared>>) -> Response {
    let p = s.security.policy();
    let models: serde_json::Map<String, Value> = p
        .models()
        .map(|(m, mode)| (m.to_string(), json!(mode)))
        .collect();
    let kinds: serde_json::Map<String, Value> = LegKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), json!(p.kind_max(*k))))
        .collect();
    axum::Json(json!({
        "enforce": p.enforced(),
        "cluster_mode": p.cluster_mode(),
        "generation": p.generation(),
        "srtp_request": p.srtp_request(),
        "authenticated_media": p.authenticated_media(),
        "allow_unknown_devices": p.allow_unknown_devices(),
        "srtp_suites": p.srtp_suites().iter().map(|s| s.name()).collect::<Vec<_>>(),
        "models": models,
        "leg_kinds": kinds,
        "devices": p.devices().count(),
        "trust_list_version": s.security.ctl_version(),
        "api_tls": s.config.api.tls_enabled(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterModeRequest {
    cluster_mode: ClusterMode,
}

pub(super) async fn set_cluster_mode(
    State(s): State<Arc<Shared>>,
    body: Result<ApiJson<ClusterModeRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(req) = body?;
    if req.cluster_mode == ClusterMode::Mixed && !s.security.has_ctl() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "trust_list_required",
            "cluster_mode \"mixed\" requires a signed Certificate Trust List: set [security] \
             trust_list and restart the node",
        ));
    }
    let mut p = s.security.policy_mut();
    let old = p.cluster_mode();
    let generation = p.set_cluster_mode(req.cluster_mode);
    if old != req.cluster_mode {
        tracing::info!(
            old = old.as_str(), new = req.cluster_mode.as_str(), generation,
            "cluster security mode changed; running calls keep their policy (see GET /policy/stale-calls)"
        );
    }
    Ok(
        axum::Json(json!({"cluster_mode": p.cluster_mode(), "generation": generation}))
            .into_response(),
    )
}

pub(super) async fn stale_calls(State(s): State<Arc<Shared>>) -> Response {
    let current = s.security.policy().generation();
    let views = s.calls.views(None);
    let ids =
        crate::policy::stale_calls(views.iter().map(|v| (v.id.as_str(), v.generation)), current);
    let list: Vec<Value> = views
        .iter()
        .filter(|v| ids.contains(&v.id.as_str()))
        .map(|v| {
            let api = match v.origin {
                Origin::Ng => "ng",
                Origin::Http | Origin::Embedded => "http",
            };
            json!({"call_id": v.id, "generation": v.generation, "api": api, "origin": v.origin})
        })
        .collect();
    axum::Json(json!({"generation": current, "count": list.len(), "calls": list})).into_response()
}
