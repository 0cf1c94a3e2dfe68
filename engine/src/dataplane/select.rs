//! Which backend the workers run: what was asked for, what this machine
//! and interface allow, and the fallback chain AF_XDP → io_uring →
//! recvmmsg/sendmmsg, with the reason for each step down (for the start
//! line and `/health`).

use super::{uring, xdp, BackendKind, DataPlaneConfig};

/// What the probe chose, and why.
pub(super) struct Resolved {
    /// The backend the workers run.
    pub(super) kind: BackendKind,
    /// What it is, for the start line (with why a preferred one is not).
    pub(super) detail: String,
    /// The AF_XDP program and sockets, when that backend was chosen.
    pub(super) xdp: Option<xdp::XdpSetup>,
}

/// io_uring where it works here, else recvmmsg/sendmmsg; `why` says why
/// a preferred backend was passed over.
fn resolve_uring(wanted: BackendKind, why: &str) -> Resolved {
    let (kind, detail) = match uring::probe() {
        Ok(()) => (BackendKind::Uring, "io_uring".to_string()),
        Err(e) => {
            if wanted == BackendKind::Uring {
                tracing::warn!(error = %e, "io_uring unavailable, falling back to recvmmsg/sendmmsg");
            } else {
                tracing::info!(error = %e, "io_uring unavailable, using recvmmsg/sendmmsg");
            }
            (
                BackendKind::Mmsg,
                format!("recvmmsg/sendmmsg (io_uring: {e})"),
            )
        }
    };
    let detail = if why.is_empty() {
        detail
    } else {
        format!("{detail} ({why})")
    };
    Resolved {
        kind,
        detail,
        xdp: None,
    }
}

/// Probes in the configured order: AF_XDP (for `auto` and `xdp`), then
/// io_uring, then recvmmsg/sendmmsg, each falling back to the next.
pub(super) fn resolve_backend(cfg: &DataPlaneConfig, workers: usize) -> Resolved {
    match cfg.backend {
        BackendKind::Mmsg => Resolved {
            kind: BackendKind::Mmsg,
            detail: "recvmmsg/sendmmsg".into(),
            xdp: None,
        },
        BackendKind::Uring => resolve_uring(BackendKind::Uring, ""),
        BackendKind::Auto | BackendKind::Xdp => match xdp::probe(&cfg.xdp, workers) {
            Ok(setup) => Resolved {
                kind: BackendKind::Xdp,
                detail: setup.detail.clone(),
                xdp: Some(setup),
            },
            Err(why) => {
                if cfg.backend == BackendKind::Xdp {
                    tracing::warn!(reason = %why, "AF_XDP unavailable, falling back");
                } else {
                    tracing::info!(reason = %why, "AF_XDP not used");
                }
                resolve_uring(cfg.backend, &format!("xdp: {why}"))
            }
        },
    }
}
