//! `POST /policy/trust-list/reload`: re-reads the configured trust list and
//! puts it in force, as SIGHUP does.
//!
//! Why an API call besides the signal: a call agent or an operator's tool
//! that revoked an agent wants to know at once whether the new list was
//! accepted and which connections it ended; the answer is the reload
//! report. A refused list leaves the one in force and answers why.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::trust::TrustError;

use super::super::shared::Shared;
use super::ApiError;

/// Reloads the trust list; answers the [`crate::trust::TrustReload`]
/// report.
pub(super) async fn reload_trust_list(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    // File reads and the state file's write: off the async workers.
    let r = tokio::task::spawn_blocking(move || s.security.reload_trust_list())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("trust-list reload failed: {e}"),
            )
        })?;
    match r {
        Ok(report) => Ok(axum::Json(report).into_response()),
        Err(e) => Err(refused(e)),
    }
}

/// The API error for a refused reload.
fn refused(e: TrustError) -> ApiError {
    let (status, code) = match &e {
        TrustError::NotConfigured => (StatusCode::CONFLICT, "trust_list_not_configured"),
        TrustError::Rollback { .. } | TrustError::VersionReused { .. } => {
            (StatusCode::CONFLICT, "trust_list_rollback")
        }
        TrustError::Io { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "trust_list_unreadable"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "trust_list_invalid"),
    };
    ApiError::new(
        status,
        code,
        format!("{e}; the trust list in force is unchanged"),
    )
}
