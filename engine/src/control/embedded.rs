//! The control API without HTTP, for librampart's embedding functions.
//!
//! Why not loopback HTTP: a program that links librampart runs the node in
//! its own process; sending its requests through a TCP socket and an HTTP
//! client of its own only added a way to fail. These functions take the
//! same JSON documents as the HTTP API (`docs/api.md`) and answer with the
//! same status and document, through the same code (`api::create`,
//! `api::update`, ...): calls made here are listed with origin
//! `embedded`. [`request`] serves any other API request by handing it to
//! the API's router in process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::Value;
use tower::ServiceExt;

use super::api::{self, ApiError};
use super::calls::Origin;
use super::shared::Shared;
use crate::dataplane::LegId;

/// An answer: the HTTP status the API gives, and its JSON document.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status (2xx: success).
    pub status: u16,
    /// The document: the API's answer, or `{"error": {"code", "message"}}`.
    pub body: String,
}

impl Answer {
    fn of(r: Result<(StatusCode, Value), ApiError>) -> Answer {
        match r {
            Ok((status, v)) => Answer {
                status: status.as_u16(),
                body: v.to_string(),
            },
            Err(e) => Answer {
                status: e.status.as_u16(),
                body: e.body().to_string(),
            },
        }
    }

    /// Whether the request succeeded.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn refusing(s: &Shared) -> Result<(), ApiError> {
    if s.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        ));
    }
    Ok(())
}

/// `POST /calls`: creates a call from `request_json`.
pub fn create_call(s: &Shared, request_json: &str) -> Answer {
    Answer::of(
        refusing(s)
            .and_then(|()| api::parse_body(request_json.as_bytes()))
            .and_then(|body| api::create(s, body, Origin::Embedded))
            .map_err(|e| api::refuse(s, e))
            .map(|v| (StatusCode::CREATED, v)),
    )
}

/// `PATCH /calls/{id}/legs/{leg}`: changes leg `leg` (0 or 1).
pub fn update_leg(s: &Shared, id: &str, leg: LegId, request_json: &str) -> Answer {
    Answer::of(
        refusing(s)
            .and_then(|()| api::parse_body(request_json.as_bytes()))
            .and_then(|body| api::update(s, id, leg, body))
            .map(|v| (StatusCode::OK, v)),
    )
}

/// `DELETE /calls/{id}`: ends a call; the answer has its final stats.
pub fn delete_call(s: &Shared, id: &str) -> Answer {
    Answer::of(
        refusing(s)
            .and_then(|()| api::delete(s, id))
            .map(|v| (StatusCode::OK, v)),
    )
}

/// `GET /calls/{id}`: one call with its legs' stats.
pub fn get_call(s: &Shared, id: &str) -> Answer {
    Answer::of(
        refusing(s)
            .and_then(|()| api::with_api_call(s, id, |c| Ok(c.json(true))))
            .map(|v| (StatusCode::OK, v)),
    )
}

/// `GET /calls`: every call, whatever made it.
pub fn list_calls(s: &Shared) -> Answer {
    Answer::of(refusing(s).map(|()| (StatusCode::OK, api::listing(s))))
}

/// Any API request (`"GET"`, `"/health"`), served by the API's router in
/// process on `rt`, without a socket.
pub fn request(
    s: &Arc<Shared>,
    rt: &tokio::runtime::Handle,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Answer {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.unwrap_or("").to_string()));
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return Answer::of(Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("not a request: {e}"),
            )))
        }
    };
    let router = api::router(s.clone());
    let served = rt.block_on(rt.spawn(async move {
        let resp = router.oneshot(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, String::from_utf8_lossy(&bytes).into_owned()))
    }));
    match served {
        Ok(Ok((status, body))) => Answer { status, body },
        Ok(Err(e)) => Answer::of(Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e,
        ))),
        Err(e) => Answer::of(Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the request's task failed: {e}"),
        ))),
    }
}
