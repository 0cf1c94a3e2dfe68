//! A running node: data plane, port pool, call store, HTTP API and the
//! timeout reaper, started together and stopped together.
//!
//! Why a handle with its own runtime: the binary and the integration tests
//! start exactly the same node (`Node::start(config)`), and both are plain
//! synchronous code; the node owns a small multi-threaded tokio runtime for
//! the API and the reaper, while packets never touch it (they stay on the
//! data-plane workers). Shutdown is ordered: refuse new API requests, let
//! the ones in flight finish, stop the reaper, then stop the data plane,
//! which finishes the batch in hand.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError};
use crate::dataplane::{BackendKind, DataPlane, DataPlaneConfig};

use super::calls::{CallService, CallStore, Totals};
use super::ports::PortPool;

pub use super::calls::{now_ms, EndReason};
pub use super::shared::Shared;

/// What the node reports at start.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Where the HTTP API listens over TCP. When `api_unix` is set no TCP
    /// listener is open and this is the configured (unbound) `listen`.
    pub api_addr: SocketAddr,
    /// The Unix socket the HTTP API listens on instead of TCP, if any.
    pub api_unix: Option<std::path::PathBuf>,
    /// The I/O backend running.
    pub backend: BackendKind,
    /// What runs and why (see [`DataPlane::backend_detail`]).
    pub backend_detail: String,
    /// Worker threads.
    pub workers: usize,
    /// Where the ng protocol listens (UDP, TCP), if enabled.
    pub ng: super::ng::NgAddrs,
    /// Whether the HTTP API is served over TLS with client certificates.
    pub api_tls: bool,
}

/// Why a node did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is unusable.
    Config(ConfigError),
    /// The data plane failed to start.
    DataPlane(std::io::Error),
    /// The API address could not be bound.
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The API's Unix socket could not be set up.
    ListenUnix {
        /// The socket path.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The runtime could not be built.
    Runtime(std::io::Error),
    /// The security configuration cannot be put in force: mixed mode
    /// without a valid trust list, an invalid trust list, or control-channel
    /// TLS that cannot be set up.
    Security(crate::trust::TrustError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::DataPlane(e) => write!(f, "data plane failed to start: {e}"),
            StartError::Listen { addr, source } => {
                write!(f, "cannot listen for the API on {addr}: {source}")
            }
            StartError::ListenUnix { path, source } => write!(
                f,
                "cannot listen for the API on Unix socket {}: {source}",
                path.display()
            ),
            StartError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            StartError::Security(e) => write!(f, "security: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            StartError::DataPlane(e) | StartError::Runtime(e) => Some(e),
            StartError::Listen { source, .. } | StartError::ListenUnix { source, .. } => {
                Some(source)
            }
            StartError::Security(e) => Some(e),
        }
    }
}

/// Starts nodes.
pub struct Node;

/// A running node. Dropping it shuts it down.
pub struct NodeHandle {
    runtime: Option<Runtime>,
    shared: Arc<Shared>,
    info: NodeInfo,
    stop_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
    ng: Option<super::ng::NgServers>,
    ha: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Validates `config`, starts the data plane, binds the API and starts
    /// the reaper. Must not be called from inside an async runtime.
    pub fn start(config: Config) -> Result<NodeHandle, StartError> {
        Node::start_with_hooks(config, Default::default())
    }

    /// [`Node::start`] with data-plane test hooks (a worker stalled before
    /// its commands, a shorter ack timeout): how tests make a worker slow.
    pub fn start_with_hooks(
        config: Config,
        hooks: crate::dataplane::TestHooks,
    ) -> Result<NodeHandle, StartError> {
        config.validate().map_err(StartError::Config)?;
        // The security plane first: mixed mode needs a valid signed trust
        // list, and the node refuses to start without one.
        let sec = &config.security;
        let enforced_mode = if sec.enforce {
            sec.cluster_mode
        } else {
            crate::policy::ClusterMode::Nonsecure
        };
        let ctl = crate::trust::require_ctl_for_mixed(
            enforced_mode,
            sec.trust_list.as_deref(),
            sec.trust_state.as_deref(),
        )
        .map_err(StartError::Security)?;
        let policy = crate::policy::Policy::from_config(sec)
            .map_err(|e| StartError::Config(ConfigError::Invalid(format!("security: {e}"))))?;
        let (tls, api_verifier) = api_tls(&config, ctl.as_ref())?;
        let cert = node_certificate(&config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rampart-control")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let workers = config.effective_workers();
        let dp = DataPlane::start(dataplane_config(&config, workers, hooks))
            .map_err(StartError::DataPlane)?;
        let (listener, api_addr) = match bind_api(&config, &runtime) {
            Ok(bound) => bound,
            Err(e) => {
                dp.shutdown();
                return Err(e);
            }
        };
        let mut info = NodeInfo {
            api_addr,
            api_unix: config.api.unix_socket.clone(),
            backend: dp.backend(),
            backend_detail: dp.backend_detail().to_string(),
            workers: dp.worker_count(),
            ng: super::ng::NgAddrs::default(),
            api_tls: tls.is_some(),
        };
        let persist = match super::store::persist::Persist::from_config(&config.store) {
            Ok(p) => p.map(Arc::new),
            Err(e) => {
                dp.shutdown();
                return Err(StartError::Config(ConfigError::Invalid(e.to_string())));
            }
        };
        let shared = shared_state(config, dp, &info, (policy, ctl), persist, cert)
            .map_err(|e| StartError::DataPlane(std::io::Error::other(e.to_string())))?;
        keep_dtls_keys(&shared, runtime.handle());
        let (stop_tx, stop_rx) = watch::channel(false);
        let ng = start_ng(&shared, runtime.handle(), stop_rx.clone())?;
        if let Some(servers) = &ng {
            info.ng = servers.addrs.clone();
        }
        // Trust-list reloads (SIGHUP, the API) re-read this file and end
        // the TLS connections of agents a new list drops.
        let tls_conns = shared.security.trust_reloader().configure(
            shared.config.security.trust_list.as_deref(),
            shared.config.security.trust_state.as_deref(),
            api_verifier,
        );
        let app = super::api::router(shared.clone());
        let mut srv_stop = stop_rx.clone();
        let server = runtime.spawn(async move {
            let stop = async move {
                let _ = srv_stop.wait_for(|s| *s).await;
            };
            let r = match (listener, tls) {
                (ApiListener::Tcp(l), Some(cfg)) => {
                    crate::trust::serve_tls_tracked(app, l, cfg, tls_conns, stop).await
                }
                (ApiListener::Tcp(l), None) => {
                    axum::serve(l, app).with_graceful_shutdown(stop).await
                }
                (ApiListener::Unix(l), _) => axum::serve(l, app).with_graceful_shutdown(stop).await,
            };
            if let Err(e) = r {
                tracing::error!(error = %e, "HTTP API server failed");
            }
        });
        let reaper = runtime.spawn(reaper(shared.clone(), stop_rx));
        let ha = start_ha(&shared);
        log_started(&shared, &info, api_addr);
        Ok(NodeHandle {
            runtime: Some(runtime),
            shared,
            info,
            stop_tx,
            server: Some(server),
            reaper: Some(reaper),
            ng,
            ha,
        })
    }
}

/// The ng servers when ng is on; a listen failure stops the data plane
/// (nothing else has started yet) and is the start's error.
fn start_ng(
    shared: &Arc<Shared>,
    handle: &tokio::runtime::Handle,
    stop_rx: watch::Receiver<bool>,
) -> Result<Option<super::ng::NgServers>, StartError> {
    if !shared.config.ng.enabled {
        return Ok(None);
    }
    super::ng::start(shared, handle, stop_rx)
        .map(Some)
        .map_err(|source| {
            let taken = shared
                .dataplane
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(dp) = taken {
                dp.shutdown();
            }
            StartError::Listen {
                addr: shared.config.ng.listen,
                source,
            }
        })
}

/// With a state store, each handshake's exported keys go into its call's
/// state (off the WebRTC thread), so another node can take the call over
/// without a new handshake.
fn keep_dtls_keys(shared: &Arc<Shared>, rt: &tokio::runtime::Handle) {
    let (Some(w), Some(_)) = (&shared.webrtc, &shared.persist) else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let rt = rt.clone();
    w.on_keyed(Box::new(move |dp_id, leg, keys| {
        let (weak, keys) = (weak.clone(), keys.clone());
        rt.spawn_blocking(move || {
            if let Some(s) = weak.upgrade() {
                s.keep_dtls_keys(dp_id, leg, &keys);
            }
        });
    }));
}

/// The node's DTLS certificate when `[webrtc]` is on.
fn node_certificate(config: &Config) -> Result<Option<crate::dtls::Certificate>, StartError> {
    if !config.webrtc.enabled {
        return Ok(None);
    }
    crate::webrtc::node_certificate(&config.webrtc)
        .map(Some)
        .map_err(|e| StartError::Config(ConfigError::Invalid(format!("webrtc: {e}"))))
}

/// Starts the takeover loop when the node has a state store: first one
/// pass here (this node's own calls from an earlier life, and calls handed
/// off or orphaned, come back before it serves), then its thread.
fn start_ha(shared: &Arc<Shared>) -> Option<std::thread::JoinHandle<()>> {
    let h = shared.ha.as_ref()?;
    h.tick(shared);
    match h.spawn(shared.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the takeover loop");
            None
        }
    }
}

/// The HTTPS API's server configuration and its client verifier (which
/// trust-list reloads update), when `api.tls_*` is set.
type ApiTls = (
    Option<Arc<rustls::ServerConfig>>,
    Option<Arc<crate::trust::tls::CtlClientVerifier>>,
);

/// The HTTPS API's TLS, from `api.tls_*` and the trust list.
fn api_tls(config: &Config, ctl: Option<&crate::trust::Ctl>) -> Result<ApiTls, StartError> {
    if !config.api.tls_enabled() {
        return Ok((None, None));
    }
    let (Some(ca), Some(cert), Some(key), Some(list)) = (
        config.api.tls_client_ca.as_deref(),
        config.api.tls_cert.as_deref(),
        config.api.tls_key.as_deref(),
        ctl,
    ) else {
        return Err(StartError::Config(ConfigError::Invalid(
            "api.tls_* needs [security] trust_list".into(),
        )));
    };
    let (cfg, verifier) = crate::trust::tls::server_config_from_files(ca, cert, key, list)
        .map_err(StartError::Security)?;
    Ok((Some(cfg), Some(verifier)))
}

/// The state the front-ends share: the call store, ports, the data plane,
/// the ng state and the security plane.
fn shared_state(
    config: Config,
    dp: DataPlane,
    info: &NodeInfo,
    (policy, ctl): (crate::policy::Policy, Option<crate::trust::Ctl>),
    persist: Option<Arc<super::store::persist::Persist>>,
    cert: Option<crate::dtls::Certificate>,
) -> Result<Arc<Shared>, crate::dataplane::DataPlaneError> {
    let observer = persist
        .clone()
        .map(|p| p as Arc<dyn super::calls::CallObserver>);
    let calls = Arc::new(CallStore::with_observer(config.limits.max_calls, observer));
    let ng = super::ng_state::NgState::new(&config.ng, calls.clone());
    let ha = persist.clone().map(|p| {
        Arc::new(super::ha::Ha::new(
            p,
            &config.store,
            super::restore::restore_record,
        ))
    });
    let dataplane = Arc::new(RwLock::new(Some(dp)));
    let webrtc = match cert {
        Some(c) => match crate::webrtc::TransportService::start(
            crate::webrtc::DataPlaneRef::Shared(Arc::clone(&dataplane)),
            c,
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                if let Some(dp) = dataplane.write().unwrap_or_else(|e| e.into_inner()).take() {
                    dp.shutdown();
                }
                return Err(e);
            }
        },
        None => None,
    };
    Ok(Arc::new(Shared {
        service: CallService {
            calls,
            ports: Mutex::new(PortPool::new(
                &config.media.addresses,
                config.media.port_min,
                config.media.port_max,
            )),
            dataplane,
            webrtc,
            totals: Totals::default(),
            reserved: Mutex::new(HashMap::new()),
            config,
        },
        backend: info.backend,
        backend_detail: info.backend_detail.clone(),
        workers: info.workers,
        shutting_down: AtomicBool::new(false),
        started_ms: now_ms(),
        ng,
        security: super::security::SecurityPlane::new(policy, ctl),
        persist,
        ha,
    }))
}

/// What the data plane is started with, from the node's configuration.
fn dataplane_config(
    config: &Config,
    workers: usize,
    hooks: crate::dataplane::TestHooks,
) -> DataPlaneConfig {
    DataPlaneConfig {
        workers,
        pin_cpus: config.dataplane.pin_cpus,
        backend: config.dataplane.backend,
        batch_size: config.dataplane.batch_size,
        batch_tick: crate::dataplane::pacer::BatchTick {
            tick: std::time::Duration::from_micros(config.dataplane.batch_tick_us),
            min_pps: config.dataplane.batch_tick_min_pps,
        },
        latch_grace_ms: config.media.latch_grace_ms,
        mac_engine: config.dataplane.mac_engine().ok().flatten(),
        xdp: crate::dataplane::XdpSettings {
            interface: (!config.dataplane.xdp_interface.is_empty())
                .then(|| config.dataplane.xdp_interface.clone()),
            media_address: config.media.addresses.first().copied(),
            attach: config.dataplane.xdp_attach,
            zero_copy: config.dataplane.xdp_zero_copy,
        },
        hooks,
    }
}

/// Binds the API's listener: its Unix socket, or TCP.
fn bind_api(config: &Config, runtime: &Runtime) -> Result<(ApiListener, SocketAddr), StartError> {
    let listen = config.api.listen;
    if config.api.insecure_remote() {
        // Only reachable with api.allow_insecure_remote (validate).
        tracing::warn!(
            api = %listen,
            "INSECURE: the HTTP API is plain HTTP on a non-loopback address \
             (api.allow_insecure_remote): anyone who can reach it can redirect \
             media and set SRTP keys; use TLS, loopback or a Unix socket"
        );
    }
    match &config.api.unix_socket {
        Some(path) => config
            .api
            .unix_mode()
            .map_err(std::io::Error::other)
            .and_then(|mode| super::api::bind_unix_socket(path, mode))
            .and_then(|l| {
                let _rt = runtime.enter();
                tokio::net::UnixListener::from_std(l)
            })
            .map(|l| (ApiListener::Unix(l), listen))
            .map_err(|source| StartError::ListenUnix {
                path: path.clone(),
                source,
            }),
        None => runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map(|l| {
                let a = l.local_addr().unwrap_or(listen);
                (ApiListener::Tcp(l), a)
            })
            .map_err(|source| StartError::Listen {
                addr: listen,
                source,
            }),
    }
}

/// The start line: where everything listens and what runs.
fn log_started(shared: &Shared, info: &NodeInfo, api_addr: SocketAddr) {
    let addrs: Vec<String> = shared
        .config
        .media
        .addresses
        .iter()
        .map(|a| a.to_string())
        .collect();
    tracing::info!(
        media = %addrs.join(","),
        ports = %format!("{}-{}", shared.config.media.port_min, shared.config.media.port_max),
        api = %api_addr,
        api_unix = ?info.api_unix,
        api_tls = info.api_tls,
        cluster_mode = shared.security.cluster_mode().as_str(),
        trust_list_version = ?shared.security.ctl_version(),
        workers = info.workers,
        backend = %info.backend,
        max_calls = shared.config.limits.max_calls,
        no_media_secs = shared.config.timeouts.no_media_secs,
        "node started"
    );
}

/// SIGINT, SIGTERM and SIGHUP being watched (see
/// [`NodeHandle::watch_signals`]).
#[derive(Default)]
pub struct SignalWatch {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

/// Waits for the next delivery of a watched signal (forever if unwatched).
#[cfg(unix)]
async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(s) = s {
        if s.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await
}

impl std::fmt::Debug for SignalWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatch").finish_non_exhaustive()
    }
}

/// The HTTP API's listener: TCP (plain or TLS) or a Unix socket.
enum ApiListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

async fn reaper(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let t = &shared.config.timeouts;
    let shortest = [t.no_media_secs, t.max_call_secs]
        .into_iter()
        .filter(|&s| s > 0)
        .min();
    // Check several times per timeout, at most once a second; ng calls
    // have their own timers (delete delays, unanswered offers), checked
    // four times a second.
    let ng = shared.config.ng.enabled.then_some(250);
    let period = match (shortest.map(|s| (s * 1000 / 4).clamp(100, 1000)), ng) {
        (Some(a), Some(b)) => a.min(b),
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return, // nothing can time out
    };
    let period = Duration::from_millis(period);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = shared.clone();
                // end_call waits (bounded) on the data plane: keep it off the
                // async workers.
                let _ = tokio::task::spawn_blocking(move || s.reap()).await;
            }
            _ = stop.changed() => return,
        }
    }
}

impl NodeHandle {
    /// Serves one API request in process (no socket): see
    /// [`super::embedded::request`].
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> super::embedded::Answer {
        match &self.runtime {
            Some(rt) => super::embedded::request(&self.shared, rt.handle(), method, path, body),
            None => super::embedded::Answer {
                status: 503,
                body: r#"{"error":{"code":"shutting_down","message":"the node is shutting down"}}"#
                    .into(),
            },
        }
    }

    /// Where the HTTP API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.info.api_addr
    }

    /// Start-up facts.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// Shared state (the call store, totals), for embedding and tests.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Starts watching SIGINT, SIGTERM and SIGHUP now (from here on they no
    /// longer kill the process), for [`NodeHandle::wait_for_signal`]. Call it
    /// before telling anyone the node runs, so a signal sent at once is not
    /// lost to the default action.
    pub fn watch_signals(&self) -> SignalWatch {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Some(rt) = self.runtime.as_ref() else {
                return SignalWatch::default();
            };
            let _rt = rt.enter();
            let watch = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, signal = name, "cannot watch signal");
                    None
                }
            };
            SignalWatch {
                int: watch(SignalKind::interrupt(), "SIGINT"),
                term: watch(SignalKind::terminate(), "SIGTERM"),
                hup: watch(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        SignalWatch::default()
    }

    /// Blocks until SIGINT or SIGTERM; returns the signal's name. Each
    /// SIGHUP meanwhile reloads the trust list.
    pub fn wait_for_signal(&self) -> &'static str {
        self.wait_for_watched_signal(self.watch_signals())
    }

    /// Blocks until a signal `watch` (from [`NodeHandle::watch_signals`])
    /// watches arrives, or arrived since; returns the signal's name. SIGHUP
    /// does not return: it reloads the trust list
    /// ([`super::security::SecurityPlane::reload_trust_list`], which logs
    /// the outcome) and the wait goes on.
    pub fn wait_for_watched_signal(&self, watch: SignalWatch) -> &'static str {
        let rt = self.runtime.as_ref().expect("node is running");
        rt.block_on(async move {
            #[cfg(unix)]
            {
                let SignalWatch {
                    mut int,
                    mut term,
                    mut hup,
                } = watch;
                if int.is_none() && term.is_none() {
                    let _ = tokio::signal::ctrl_c().await;
                    return "SIGINT";
                }
                loop {
                    tokio::select! {
                        _ = next_signal(&mut int) => return "SIGINT",
                        _ = next_signal(&mut term) => return "SIGTERM",
                        _ = next_signal(&mut hup) => {
                            tracing::info!("SIGHUP received; reloading the trust list");
                            let _ = self.shared.security.reload_trust_list();
                        }
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = watch;
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        })
    }

    /// Stops the node: the API stops accepting requests and finishes those
    /// in flight, the reaper stops, the data plane finishes its batch and
    /// its workers exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(rt) = self.runtime.take() else {
            return;
        };
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let active = self.shared.calls.len(None);
        tracing::info!(
            active_calls = active,
            "shutting down: API closed to new requests"
        );
        let _ = self.stop_tx.send(true);
        if let Some(server) = self.server.take() {
            let done =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await });
            if done.is_err() {
                tracing::warn!("API requests still in flight after 5 s; closing them");
            }
        }
        if let Some(reaper) = self.reaper.take() {
            let _ =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), reaper).await });
        }
        if let Some(path) = &self.info.api_unix {
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(ng) = self.ng.take() {
            ng.join(&rt);
        }
        // The calls stay in the store: another node (or this one, started
        // again) takes them over. A drain hands them off instead.
        if let Some(ha) = &self.shared.ha {
            ha.stop();
        }
        if let Some(t) = self.ha.take() {
            let _ = t.join();
        }
        if let Some(w) = &self.shared.webrtc {
            w.halt();
        }
        let dp = self
            .shared
            .dataplane
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(dp) = dp {
            dp.shutdown();
        }
        rt.shutdown_timeout(Duration::from_secs(2));
        tracing::info!(active_calls = active, "shutdown complete");
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
