//! The HTTP/JSON control API (documented in `docs/api.md`).
//!
//! Why JSON over HTTP: it is what a switch's scripting layer (Kamailio
//! `http_client`, OpenSIPS `rest_client`, a PBX's AGI) can drive without a
//! custom client, and it is easy to test. Every failure is answered with a
//! JSON body `{"error": {"code", "message"}}` and a status that tells the
//! caller whether retrying can help (4xx: fix the request; 429/503: later or
//! elsewhere). The create and rekey answers are the only places key material
//! leaves the node.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dataplane::{
    CallFlows, DataPlaneError, KeyChange, LatchMode, LegCounters, LegFlows, LegId, LegUpdate,
};
use crate::policy::{
    CallSecurityState, ClusterMode, DeviceConfig, LegKind, Media, Policy as SecurityPolicy,
    SecurityMode,
};
use crate::srtp::Suite;

use super::calls::install::{self, WantedLeg};
use super::calls::{AdmitError, Origin};
use super::keys::{self, KeyText, Lifetime};
use super::node::{now_ms, EndReason, Shared};
use super::ports::{BoundPorts, PortError};
use super::registry::{
    add_policy_json, forward_mode, leg_json, Call, Family, KeyState, Leg, LegKeys, LegMode,
    LegPolicy,
};
use super::security::{mode_of_suite, LegWho};

/// An API error: HTTP status, a stable code, and a message for humans.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn unknown_call(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_call",
            format!("no call with id {id:?}"),
        )
    }

    fn dataplane(e: DataPlaneError) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dataplane_error",
            format!("data plane: {e}"),
        )
    }
}

impl ApiError {
    /// The error document: `{"error": {"code", "message"}}`.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// A JSON request body whose every rejection (empty, malformed, wrong
/// shape, unknown field, too large) is an [`ApiError`] in JSON. The
/// `Content-Type` header is not required.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                e.status(),
                "bad_body",
                format!("cannot read the request body: {e}"),
            )
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// A request document: every rejection (empty, malformed, wrong shape,
/// unknown field) an [`ApiError`].
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad(
            "bad_json",
            "the request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad("invalid_request", format!("invalid request: {e}")),
            _ => ApiError::bad("bad_json", format!("malformed JSON: {e}")),
        }
    })
}

/// The API's routes over the node's shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/calls", get(list_calls).post(create_call))
        .route("/calls/{id}", get(get_call).delete(delete_call))
        .route("/calls/{id}/legs/{leg}", axum::routing::patch(patch_leg))
        .route("/devices", get(list_devices).post(add_device))
        .route(
            "/devices/{name}",
            get(get_device).patch(update_device).delete(remove_device),
        )
        .route("/policy", get(get_policy))
        .route(
            "/policy/cluster-mode",
            get(get_policy).put(set_cluster_mode),
        )
        .route("/policy/stale-calls", get(stale_calls))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see docs/api.md",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint; see docs/api.md",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            refuse_when_stopping,
        ))
        .with_state(shared)
}

async fn refuse_when_stopping(
    State(s): State<Arc<Shared>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if s.shutting_down.load(Ordering::SeqCst) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        )
        .into_response();
    }
    next.run(req).await
}

// ---- request shapes ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `POST /calls` (docs/api.md).
pub struct CreateCall {
    #[serde(default)]
    call_id: Option<String>,
    legs: Vec<LegRequest>,
    /// Make each leg's outbound key the other leg's inbound key, so media
    /// is authenticated and forwarded unchanged (verified passthrough).
    #[serde(default)]
    passthrough: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegRequest {
    #[serde(default)]
    mode: Option<LegMode>,
    /// The registered device the leg faces.
    #[serde(default)]
    device: Option<String>,
    /// The kind of endpoint the leg faces (default: a phone).
    #[serde(default)]
    kind: Option<LegKind>,
    /// The mode asked for (default: derived from `mode` and `suite`).
    #[serde(default)]
    security: Option<SecurityMode>,
    /// The peer accepts `NULL_HMAC_SHA1_80` (for authenticated legs).
    #[serde(default)]
    null_cipher: bool,
    #[serde(default)]
    suite: Option<String>,
    #[serde(default)]
    family: Family,
    #[serde(default)]
    remote: Option<SocketAddr>,
    #[serde(default)]
    remote_rtcp: Option<SocketAddr>,
    #[serde(default)]
    rtcp_mux: bool,
    #[serde(default)]
    latch: LatchMode,
    #[serde(default)]
    keys: Option<KeysRequest>,
    #[serde(default)]
    replay_window: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeysRequest {
    #[serde(default)]
    inbound: Option<KeyText>,
    #[serde(default)]
    outbound: Option<KeyText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `PATCH /calls/{id}/legs/{leg}` (docs/api.md).
pub struct PatchLeg {
    #[serde(default)]
    remote: Option<SocketAddr>,
    #[serde(default)]
    remote_rtcp: Option<SocketAddr>,
    #[serde(default)]
    latch: Option<LatchMode>,
    #[serde(default)]
    rekey: Option<Rekey>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Direction {
    Inbound,
    Outbound,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rekey {
    direction: Direction,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    mki: Option<String>,
    #[serde(default)]
    lifetime: Option<Lifetime>,
    #[serde(default)]
    activate: bool,
}

// ---- answers -------------------------------------------------------------

#[derive(Serialize)]
struct KeyAnswer {
    #[serde(flatten)]
    text: KeyText,
    generated: bool,
}

// ---- handlers ------------------------------------------------------------

async fn health(State(s): State<Arc<Shared>>) -> Response {
    // Every call, whatever made it, as rampart_calls_active counts them.
    let calls = s.calls.len(None);
    axum::Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": s.backend,
        "backend_detail": s.backend_detail,
        "workers": s.workers,
        "calls": calls,
        "uptime_ms": now_ms().saturating_sub(s.started_ms),
    }))
    .into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        super::metrics::render(&s),
    )
        .into_response()
}

/// Every call, whatever made it: `origin` is `http` (this API),
/// `embedded` (librampart), both with their legs, or `ng` (a switch over
/// the ng protocol, with its tags and media sections; `query` over ng has
/// the detail). Oldest first. Read from the calls' views: a command in
/// flight on a call (waiting for a worker) never holds the listing up.
async fn list_calls(State(s): State<Arc<Shared>>) -> Response {
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
    let run = || {
        slot.command(|rec| match rec.as_any_mut().downcast_mut::<Call>() {
            Some(c) => f(c),
            None => Err(ApiError::unknown_call(id)),
        })
        .unwrap_or_else(|| Err(ApiError::unknown_call(id)))
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

async fn get_call(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = with_api_call(&s, &id, |c| Ok(c.json(true)))?;
    Ok(axum::Json(v).into_response())
}

async fn delete_call(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = delete(&s, &id)?;
    Ok(axum::Json(v).into_response())
}

/// Ends the HTTP (or librampart) call `id`; returns it with its final
/// stats.
pub(crate) fn delete(s: &Shared, id: &str) -> Result<Value, ApiError> {
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

/// A leg's parsed request, keys resolved, policy decided.
struct LegPlan {
    req: LegRequest,
    mode: LegMode,
    keys: Option<(LegKeys, bool, bool)>, // keys, inbound generated, outbound generated
    address: IpAddr,
    replay_window: usize,
    policy: LegPolicy,
    warnings: Vec<String>,
}

fn policy_refused(i: usize, m: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "policy_refused",
        format!("leg {i}: {m}"),
    )
}

/// A call id must be usable as one URL path segment as it is: 1-128 of
/// `A-Z a-z 0-9 - _ . @ : +` (no escaping needed), and not made of dots
/// only (`.` and `..` are dot-segments that clients normalise away, so
/// `/calls/..` could never reach the call).
fn valid_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:+".contains(&b))
        && !id.bytes().all(|b| b == b'.')
}

fn plan_leg(
    s: &Shared,
    policy: &SecurityPolicy,
    i: usize,
    req: LegRequest,
) -> Result<LegPlan, ApiError> {
    let family_ok = |a: &IpAddr| match req.family {
        Family::Ipv4 => a.is_ipv4(),
        Family::Ipv6 => a.is_ipv6(),
    };
    let address = *s
        .config
        .media
        .addresses
        .iter()
        .find(|a| family_ok(a))
        .ok_or_else(|| {
            ApiError::bad(
                "family_unavailable",
                format!(
                    "leg {i}: no {} media address is configured on this node",
                    match req.family {
                        Family::Ipv4 => "IPv4",
                        Family::Ipv6 => "IPv6",
                    }
                ),
            )
        })?;
    for (what, r) in [("remote", req.remote), ("remote_rtcp", req.remote_rtcp)] {
        if let Some(r) = r {
            if !family_ok(&r.ip()) {
                return Err(ApiError::bad(
                    "invalid_request",
                    format!("leg {i}: {what} {r} is not of the leg's family"),
                ));
            }
        }
    }
    let replay_window = req.replay_window.unwrap_or(s.config.srtp.replay_window);
    if !(crate::srtp::MIN_REPLAY_WINDOW..=crate::srtp::MAX_REPLAY_WINDOW).contains(&replay_window) {
        return Err(ApiError::bad(
            "invalid_request",
            format!(
                "leg {i}: replay_window must be {}..={}",
                crate::srtp::MIN_REPLAY_WINDOW,
                crate::srtp::MAX_REPLAY_WINDOW
            ),
        ));
    }
    if req.mode == Some(LegMode::Rtp) && (req.keys.is_some() || req.suite.is_some()) {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {i}: mode \"rtp\" takes no suite or keys"),
        ));
    }
    // The suite asked for, parsed first so that a typo is reported as one.
    let asked_suite = match req.suite.as_deref() {
        None => None,
        Some(name) => Some(Suite::from_name(name).map_err(|_| {
            let known: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
            ApiError::bad(
                "invalid_suite",
                format!(
                    "leg {i}: unknown suite {name:?}; known: {}",
                    known.join(", ")
                ),
            )
        })?),
    };
    if req.security == Some(SecurityMode::Nonsecure) && (req.keys.is_some() || req.suite.is_some())
    {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {i}: a nonsecure leg takes no suite or keys"),
        ));
    }
    // The mode asked for: explicit, or what the media request implies.
    let requested = match (req.security, req.mode.unwrap_or(LegMode::Srtp)) {
        (Some(m), _) => m,
        (None, LegMode::Rtp) => SecurityMode::Nonsecure,
        (None, LegMode::Srtp) => asked_suite
            .map(mode_of_suite)
            .unwrap_or(SecurityMode::Encrypted),
    };
    let null_ok = req.null_cipher || asked_suite == Some(Media::NULL_SUITE);
    let who = LegWho {
        device: req.device.clone(),
        kind: req.kind,
        security: req.security,
    };
    let decision = who
        .decide(policy, requested, null_ok)
        .map_err(|m| policy_refused(i, m))?;
    let mut warnings: Vec<String> = decision
        .warning
        .iter()
        .map(|w| format!("leg {i}: {w}"))
        .collect();
    let keys = match &decision.media {
        Media::Rtp => {
            if req.keys.is_some() || req.suite.is_some() {
                warnings.push(format!(
                    "leg {i}: the leg is plain RTP, so the suite and keys given were ignored"
                ));
            }
            None
        }
        media => {
            let suite = match (asked_suite, media) {
                (Some(su), m) if m.allows(su) => su,
                (Some(su), _) => {
                    return Err(policy_refused(
                        i,
                        format!(
                            "suite {} is not allowed for an {} leg (see [security] srtp_suites \
                             and authenticated_media)",
                            su.name(),
                            decision.security
                        ),
                    ))
                }
                (None, Media::Srtp(v)) => v.first().copied().unwrap_or(Suite::AesCm128HmacSha1_80),
                (None, _) => Media::NULL_SUITE,
            };
            if req.mode == Some(LegMode::Rtp) {
                return Err(ApiError::bad(
                    "invalid_request",
                    format!(
                        "leg {i}: mode \"rtp\", but policy gives an {} leg SRTP ({}); leave \
                         out mode or ask for security \"nonsecure\"",
                        decision.security,
                        suite.name()
                    ),
                ));
            }
            let kr = req.keys.as_ref();
            let key = |dir: &str, t: Option<&KeyText>| {
                keys::from_text(suite, &t.cloned().unwrap_or_default()).map_err(|e| {
                    ApiError::bad("invalid_key", format!("leg {i} {dir} key: {}", e.0))
                })
            };
            let (inbound, gi) = key("inbound", kr.and_then(|k| k.inbound.as_ref()))?;
            let (outbound, go) = key("outbound", kr.and_then(|k| k.outbound.as_ref()))?;
            Some((
                LegKeys {
                    suite,
                    inbound: KeyState::new(inbound),
                    outbound: KeyState::new(outbound),
                },
                gi,
                go,
            ))
        }
    };
    Ok(LegPlan {
        req,
        mode: if keys.is_some() {
            LegMode::Srtp
        } else {
            LegMode::Rtp
        },
        keys,
        address,
        replay_window,
        policy: LegPolicy {
            who,
            requested,
            security: decision.security,
        },
        warnings,
    })
}

/// Counts and logs a refused create.
pub(crate) fn refuse(s: &Shared, e: ApiError) -> ApiError {
    let t = &s.totals;
    match e.code {
        "call_limit" => &t.refused_limit,
        "ports_exhausted" => &t.refused_ports,
        "policy_refused" => &t.refused_policy,
        _ => &t.refused_invalid,
    }
    .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(code = e.code, status = e.status.as_u16(), reason = %e.message, "call refused");
    e
}

async fn create_call(
    State(s): State<Arc<Shared>>,
    body: Result<ApiJson<CreateCall>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(body) = body.map_err(|e| refuse(&s, e))?;
    let answer = tokio::task::block_in_place(|| create(&s, body, Origin::Http))
        .map_err(|e| refuse(&s, e))?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// Creates a call from a `POST /calls` body (the HTTP API's and
/// librampart's one create path); the answer carries the keys.
pub(crate) fn create(s: &Shared, body: CreateCall, origin: Origin) -> Result<Value, ApiError> {
    if body.legs.len() != 2 {
        return Err(ApiError::bad(
            "invalid_request",
            format!("a call has exactly 2 legs, got {}", body.legs.len()),
        ));
    }
    let id = match body.call_id {
        Some(id) if !valid_call_id(&id) => {
            return Err(ApiError::bad(
                "invalid_request",
                "call_id must be 1-128 characters of A-Z a-z 0-9 - _ . @ : +, and not dots \
                 only (`.` and `..` cannot be reached by URL)",
            ))
        }
        Some(id) => id,
        None => {
            let mut b = [0u8; 8];
            keys::random_bytes(&mut b)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.0))?;
            keys::to_hex(&b)
        }
    };
    let mut legs_req = body.legs.into_iter();
    let (ra, rb) = (legs_req.next(), legs_req.next());
    let (Some(ra), Some(rb)) = (ra, rb) else {
        return Err(ApiError::bad(
            "invalid_request",
            "a call has exactly 2 legs",
        ));
    };
    // Both legs are decided under one policy generation.
    let (mut plans, generation) = {
        let policy = s.security.policy();
        (
            [plan_leg(s, &policy, 0, ra)?, plan_leg(s, &policy, 1, rb)?],
            policy.generation(),
        )
    };
    if body.passthrough {
        let [a, b] = &mut plans;
        match (&mut a.keys, &mut b.keys) {
            (Some(ka), Some(kb)) if ka.0.suite == kb.0.suite => {
                // Each leg's peer decrypts what the other's peer encrypted.
                if a.req
                    .keys
                    .as_ref()
                    .and_then(|k| k.outbound.as_ref())
                    .is_some()
                    || b.req
                        .keys
                        .as_ref()
                        .and_then(|k| k.outbound.as_ref())
                        .is_some()
                {
                    return Err(ApiError::bad(
                        "invalid_request",
                        "passthrough: give only inbound keys; each leg's outbound key is the other leg's inbound key",
                    ));
                }
                ka.0.outbound = kb.0.inbound.clone();
                ka.2 = kb.1;
                kb.0.outbound = ka.0.inbound.clone();
                kb.2 = ka.1;
            }
            _ => {
                return Err(ApiError::bad(
                    "invalid_request",
                    "passthrough needs two SRTP legs with the same suite",
                ))
            }
        }
    }
    s.calls.admit(&id).map_err(|e| match e {
        AdmitError::Limit(n) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "call_limit",
            format!("the node runs its maximum of {n} calls"),
        ),
        AdmitError::Exists => ApiError::new(
            StatusCode::CONFLICT,
            "call_exists",
            format!("a call with id {id:?} exists"),
        ),
    })?;
    let dp_id = s.calls.alloc_dp_id();
    build_and_start(s, &id, dp_id, generation, plans, origin).inspect_err(|_| s.calls.abandon(&id))
}

fn build_and_start(
    s: &Shared,
    id: &str,
    dp_id: u64,
    generation: u64,
    plans: [LegPlan; 2],
    origin: Origin,
) -> Result<Value, ApiError> {
    // Ports.
    let mut bound: Vec<BoundPorts> = Vec::with_capacity(2);
    {
        let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
        for p in &plans {
            match pool.allocate(p.address, p.req.rtcp_mux) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    for b in &bound {
                        pool.release(b.rtp_addr);
                    }
                    return Err(match e {
                        PortError::Exhausted { .. } => ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "ports_exhausted",
                            e.to_string(),
                        ),
                        PortError::UnknownAddress(_) => ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            e.to_string(),
                        ),
                    });
                }
            }
        }
    }
    let release = |bound: &[SocketAddr]| {
        let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
        for a in bound {
            pool.release(*a);
        }
    };
    let local: Vec<SocketAddr> = bound.iter().map(|b| b.rtp_addr).collect();

    let keys = [
        plans[0].keys.as_ref().map(|k| &k.0),
        plans[1].keys.as_ref().map(|k| &k.0),
    ];
    let forward = [
        forward_mode(keys[0], keys[1]),
        forward_mode(keys[1], keys[0]),
    ];

    let mut flows = Vec::with_capacity(2);
    let mut legs = Vec::with_capacity(2);
    for (i, (p, b)) in plans.iter().zip(bound).enumerate() {
        let want = WantedLeg {
            remote_rtp: p.req.remote,
            remote_rtcp: p.req.remote_rtcp,
            latch: p.req.latch,
            srtp: p.keys.as_ref().map(|(k, _, _)| k.wanted()),
            forward: forward[i],
        };
        let counters = LegCounters::new();
        let local_rtcp = match &b.rtcp {
            Some(r) => r.local_addr().unwrap_or(b.rtp_addr),
            None => b.rtp_addr,
        };
        let rtp_addr = b.rtp_addr;
        match install::leg_flows(&want, b.rtp, b.rtcp, p.replay_window, counters.clone()) {
            Ok(f) => flows.push(f),
            Err(e) => {
                release(&local);
                return Err(ApiError::bad("invalid_key", e.0));
            }
        }
        legs.push(Leg {
            mode: p.mode,
            family: p.req.family,
            local_rtp: rtp_addr,
            local_rtcp,
            rtcp_mux: p.req.rtcp_mux,
            remote_rtp: p.req.remote,
            remote_rtcp: p.req.remote_rtcp,
            latch: p.req.latch,
            forward: forward[i],
            replay_window: p.replay_window,
            keys: p.keys.as_ref().map(|k| k.0.clone()),
            counters,
        });
    }
    let (Ok(legs), Ok(flows)) = (<[Leg; 2]>::try_from(legs), <[LegFlows; 2]>::try_from(flows))
    else {
        release(&local);
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "leg count",
        ));
    };
    if let Err(e) = s.with_dataplane(|dp| {
        dp.add_call(CallFlows {
            id: dp_id,
            legs: flows,
        })
    }) {
        release(&local);
        return Err(ApiError::dataplane(e));
    }
    let mut security = CallSecurityState::new(generation);
    for (i, p) in plans.iter().enumerate() {
        let old = security.status();
        let change = security.leg_settled(i, p.policy.security);
        s.security.note(id, old, change);
    }
    let call = Call {
        id: id.to_string(),
        origin,
        dp_id,
        created_ms: now_ms(),
        legs,
        policy: [plans[0].policy.clone(), plans[1].policy.clone()],
        security,
    };
    // The answer: the one place keys leave the node.
    let legs_json: Vec<Value> = call
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let keys = plans[i].keys.as_ref().map(|(k, gi, go)| {
                json!({
                    "inbound": KeyAnswer { text: keys::to_text(&k.inbound.current), generated: *gi },
                    "outbound": KeyAnswer { text: keys::to_text(&k.outbound.current), generated: *go },
                })
            });
            let mut v = leg_json(i, l, keys, false);
            add_policy_json(&mut v, &call.policy[i]);
            v
        })
        .collect();
    let warnings: Vec<&String> = plans.iter().flat_map(|p| p.warnings.iter()).collect();
    for w in &warnings {
        tracing::warn!(call_id = %call.id, warning = %w, "call created with a policy warning");
    }
    let mut answer = json!({
        "call_id": call.id,
        "security": call.security(),
        "policy_generation": generation,
        "legs": legs_json,
    });
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    tracing::info!(
        call_id = %call.id,
        security = call.security().as_str(),
        leg_a = %format!("{:?} {} {} {:?}", call.legs[0].mode, call.legs[0].suite().map(|s| s.name()).unwrap_or("-"), call.legs[0].local_rtp, call.legs[0].forward),
        leg_b = %format!("{:?} {} {} {:?}", call.legs[1].mode, call.legs[1].suite().map(|s| s.name()).unwrap_or("-"), call.legs[1].local_rtp, call.legs[1].forward),
        "call created"
    );
    s.totals.created.fetch_add(1, Ordering::Relaxed);
    s.calls.commit(id, origin, Box::new(call));
    Ok(answer)
}

async fn patch_leg(
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
        .map_err(|e| ApiError::bad("invalid_key", format!("rekey: {}", e.0)))?;
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

// ---- devices and policy ------------------------------------------------------

fn policy_error(e: crate::policy::PolicyError) -> ApiError {
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

fn device_json(d: &crate::policy::Device) -> Value {
    json!(DeviceConfig::from(d))
}

async fn list_devices(State(s): State<Arc<Shared>>) -> Response {
    let p = s.security.policy();
    let list: Vec<Value> = p.devices().map(device_json).collect();
    axum::Json(json!({"count": list.len(), "generation": p.generation(), "devices": list}))
        .into_response()
}

async fn get_device(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = s.security.policy();
    let d = p
        .device(&name)
        .ok_or_else(|| policy_error(crate::policy::PolicyError::NoSuchDevice(name.clone())))?;
    Ok(axum::Json(device_json(d)).into_response())
}

async fn add_device(
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
struct DevicePatch {
    #[serde(default)]
    mode: Option<SecurityMode>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    kind: Option<LegKind>,
}

async fn update_device(
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

async fn remove_device(
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

async fn get_policy(State(s): State<Arc<Shared>>) -> Response {
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
struct ClusterModeRequest {
    cluster_mode: ClusterMode,
}

async fn set_cluster_mode(
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

async fn stale_calls(State(s): State<Arc<Shared>>) -> Response {
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

/// Binds the API's Unix socket at `path` with file mode `mode`.
///
/// The mode is set after `bind` and before `listen`, so no connection is
/// ever accepted under the process umask's looser mode (a connect before
/// `listen` is refused). A socket file left by an earlier run is replaced,
/// unless something still accepts connections on it; any other kind of
/// file at `path` is an error (it is never removed).
pub(crate) fn bind_unix_socket(
    path: &std::path::Path,
    mode: u32,
) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixStream;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process serves this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    let ready = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .and_then(|()| socket.listen(1024))
        .and_then(|()| socket.set_nonblocking(true));
    if let Err(e) = ready {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(socket.into())
}
