//! The HTTP/JSON control API (documented in `docs/api.md`).
//!
//! Why JSON over HTTP: it is what a switch's scripting layer (Kamailio
//! `http_client`, OpenSIPS `rest_client`, a PBX's AGI) can drive without a
//! custom client, and it is easy to test. Every failure is answered with a
//! JSON body `{"error": {"code", "message"}}` and a status that tells the
//! caller whether retrying can help (4xx: fix the request; 429/503: later or
//! elsewhere). The create and rekey answers are the only places key material
//! leaves the node.
//!
//! Layout: this file has the router, the error type and the request-body
//! rules; [`requests`] the request documents; [`calls`] listing, reading
//! and ending calls; [`create`] the create path (per-leg policy decision,
//! keys, ports, install); [`update`] leg changes and rekeys; [`devices`]
//! the device list and cluster mode; [`record`] the call record itself;
//! [`trust`] the trust-list reload.

mod bundle;
mod calls;
mod create;
mod devices;
pub mod record;
mod requests;
mod restore;
mod trust;
mod update;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::dataplane::DataPlaneError;

use super::calls::now_ms;
use super::shared::Shared;
use calls::{delete_call, get_call, list_calls};
use create::create_call;
use devices::{
    add_device, get_device, get_policy, list_devices, remove_device, set_cluster_mode, stale_calls,
    update_device,
};
use update::patch_leg;

pub(crate) use calls::{delete, listing, with_api_call};
pub(crate) use create::{create, refuse};
pub use requests::{CreateCall, PatchLeg};
pub(crate) use update::update;

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

    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn unknown_call(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_call",
            format!("no call with id {id:?}"),
        )
    }

    pub(super) fn dataplane(e: DataPlaneError) -> ApiError {
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
        .route("/ha/drain", axum::routing::post(drain))
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
        .route(
            "/policy/trust-list/reload",
            axum::routing::post(trust::reload_trust_list),
        )
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
        "store": s.persist.as_ref().map(|p| json!({
            "written": p.written.load(Ordering::Relaxed),
            "removed": p.removed.load(Ordering::Relaxed),
            "failed": p.failed.load(Ordering::Relaxed),
            "fenced": p.fenced_writes.load(Ordering::Relaxed),
            "last_error": p.last_error.lock().ok().and_then(|g| g.clone()),
        })),
        "ha": s.ha.as_ref().map(|h| h.health()),
        "webrtc": s.webrtc.as_ref().map(|w| json!({
            "fingerprint": w.certificate().fingerprint().to_string(),
            "openssl": openssl::version::version(),
            "legs": w.leg_count(),
            "datagrams": w.counters.datagrams.load(Ordering::Relaxed),
            "dropped": w.counters.dropped.load(Ordering::Relaxed),
            "nominations": w.counters.nominations.load(Ordering::Relaxed),
            "handshakes": w.counters.handshakes.load(Ordering::Relaxed),
            "handshake_failures": w.counters.handshake_failures.load(Ordering::Relaxed),
        })),
        "uptime_ms": now_ms().saturating_sub(s.started_ms),
    }))
    .into_response()
}

/// `POST /ha/drain`: refuse new calls and hand every call to the other
/// nodes sharing the store (for an upgrade).
async fn drain(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    if s.ha.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_store",
            "drain needs a state store ([store] url): there is no node to hand calls to",
        ));
    }
    let s2 = s.clone();
    let n = tokio::task::spawn_blocking(move || s2.ha.as_ref().map_or(0, |h| h.drain(&s2)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(axum::Json(json!({"draining": true, "handed_off": n})).into_response())
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
