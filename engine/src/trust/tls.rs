//! TLS for the control channel, with clients authenticated against the
//! trust list.
//!
//! Why a custom client verifier: a certificate chaining to the node CA only
//! proves the CA issued it; the CallManager model grants roles through the
//! signed trust list, so a client is accepted only when its chain verifies
//! against the node CA (webpki) *and* its leaf's SHA-256 fingerprint is in
//! the trust list with the `call-agent` role. The allowed set can be swapped
//! at run time ([`CtlClientVerifier::reload`]) when a new list is accepted.
//! Only TLS 1.3 is offered.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::connections::{TlsConnections, Tracked};
use super::ctl::Ctl;
use super::secret::{hex, pem_decode, pem_decode_all, read_secret, sha256};
use super::{Role, TrustError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> TrustError {
    TrustError::Tls(e.to_string())
}

/// Client verifier: webpki chain verification against the node CA, then
/// the leaf must be in the trust list with the `call-agent` role.
#[derive(Debug)]
pub struct CtlClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: RwLock<HashSet<[u8; 32]>>,
}

impl CtlClientVerifier {
    /// A verifier trusting chains to `ca` and the call agents of `ctl`.
    pub fn new(ca: CertificateDer<'static>, ctl: &Ctl) -> Result<CtlClientVerifier, TrustError> {
        let mut roots = RootCertStore::empty();
        roots.add(ca).map_err(tls_err)?;
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(tls_err)?;
        Ok(CtlClientVerifier {
            inner,
            allowed: RwLock::new(Self::call_agents(ctl)),
        })
    }

    fn call_agents(ctl: &Ctl) -> HashSet<[u8; 32]> {
        ctl.fingerprints(Role::CallAgent).copied().collect()
    }

    /// Replaces the allowed set with the call agents of a newly accepted
    /// trust list; new handshakes use it at once.
    pub fn reload(&self, ctl: &Ctl) {
        let set = Self::call_agents(ctl);
        match self.allowed.write() {
            Ok(mut g) => *g = set,
            Err(p) => *p.into_inner() = set,
        }
    }

    /// Whether a leaf with this fingerprint is currently allowed.
    pub fn is_allowed(&self, sha256: &[u8; 32]) -> bool {
        match self.allowed.read() {
            Ok(g) => g.contains(sha256),
            Err(p) => p.into_inner().contains(sha256),
        }
    }
}

impl ClientCertVerifier for CtlClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let fp = sha256(end_entity.as_ref());
        if self.is_allowed(&fp) {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(
                sha256 = %hex(&fp),
                "control-channel client refused: certificate not in the trust list as call-agent"
            );
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Parses PEM certificates (a chain, leaf first).
pub fn certs_from_pem(text: &str) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let blocks = pem_decode_all(text, "CERTIFICATE").map_err(TrustError::Cert)?;
    if blocks.is_empty() {
        return Err(TrustError::Cert("no PEM CERTIFICATE block found".into()));
    }
    Ok(blocks
        .into_iter()
        .map(|b| CertificateDer::from(b.to_vec()))
        .collect())
}

/// Parses a PEM PKCS#8 private key.
pub fn key_from_pem(text: &str) -> Result<PrivateKeyDer<'static>, TrustError> {
    let der = pem_decode(text, "PRIVATE KEY").map_err(TrustError::Key)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())))
}

/// The control channel's server configuration: TLS 1.3 only, the node's
/// certificate chain and key, client certificates required and checked by
/// a [`CtlClientVerifier`] (returned too, for [`CtlClientVerifier::reload`]).
pub fn server_config(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ctl: &Ctl,
) -> Result<(Arc<ServerConfig>, Arc<CtlClientVerifier>), TrustError> {
    let verifier = Arc::new(CtlClientVerifier::new(ca, ctl)?);
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    Ok((Arc::new(cfg), verifier))
}

/// [`server_config`] from PEM files: the node CA certificate, the node's
/// certificate (chain) and its PKCS#8 key.
pub fn server_config_from_files(
    ca_cert: &Path,
    cert: &Path,
    key: &Path,
    ctl: &Ctl,
) -> Result<(Arc<ServerConfig>, Arc<CtlClientVerifier>), TrustError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| TrustError::io(p, e));
    let ca = certs_from_pem(&read(ca_cert)?)?.remove(0);
    let chain = certs_from_pem(&read(cert)?)?;
    let raw = read_secret(key)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| TrustError::Key(format!("{}: not a PEM file", key.display())))?;
    server_config(ca, chain, key_from_pem(text)?, ctl)
}

/// A client configuration for a call agent: TLS 1.3, the node CA as the
/// only root, and the agent's certificate chain and key.
pub fn client_config(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ClientConfig>, TrustError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(tls_err)?;
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(tls_err)?;
    Ok(Arc::new(cfg))
}

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An axum listener yielding TLS streams. Handshakes run in their own
/// tasks, so a slow or failing client never holds up the others; failed
/// handshakes are logged and dropped. With a [`TlsConnections`] registry,
/// every stream is recorded there with its client certificate.
struct TlsListener {
    rx: mpsc::Receiver<(TrackedTls, SocketAddr)>,
    local: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl TlsListener {
    fn new(
        listener: TcpListener,
        cfg: Arc<ServerConfig>,
        conns: Option<Arc<TlsConnections>>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(cfg);
        let accept_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "control channel: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let conns = conns.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((track(tls, peer, conns.as_ref()), peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "control channel: TLS handshake refused")
                        }
                        Err(_) => tracing::info!(%peer, "control channel: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            rx,
            local,
            accept_task,
        })
    }
}

/// A served TLS stream, which a [`TlsConnections`] registry may end.
type TrackedTls = Tracked<TlsStream<TcpStream>>;

/// Records `tls` in `conns` (if any) under its client certificate's
/// SHA-256. The verifier required a certificate, so one is always there.
fn track(
    tls: TlsStream<TcpStream>,
    peer: SocketAddr,
    conns: Option<&Arc<TlsConnections>>,
) -> TrackedTls {
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| sha256(c.as_ref()));
    match (conns, leaf) {
        (Some(conns), Some(fp)) => conns.track(tls, fp, peer),
        _ => Tracked::untracked(tls),
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TrackedTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `router` over TLS on `listener` with `cfg` (from
/// [`server_config`]) until `shutdown` completes; then stops accepting and
/// waits for open connections to finish, like `axum::serve` does.
pub async fn serve_tls(
    router: axum::Router,
    listener: TcpListener,
    cfg: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_tls_tracked(router, listener, cfg, None, shutdown).await
}

/// [`serve_tls`], recording every connection in `conns` (made with the
/// verifier `cfg` uses), so that a trust-list reload can end those of
/// clients it no longer names ([`TlsConnections::close_unlisted`]).
pub async fn serve_tls_tracked(
    router: axum::Router,
    listener: TcpListener,
    cfg: Arc<ServerConfig>,
    conns: Option<Arc<TlsConnections>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TlsListener::new(listener, cfg, conns)?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
