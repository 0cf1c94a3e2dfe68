//! TLS on the control channel with clients authenticated against the trust
//! list: a call agent the list names is served; a client signed by another
//! CA, listed with another role, or not listed at all is refused; a reloaded
//! list takes effect for new connections; shutdown is graceful.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use rampart::trust::ctl::unix_now;
use rampart::trust::secret::hex;
use rampart::trust::tls::{certs_from_pem, key_from_pem};
use rampart::trust::{
    client_config, serve_tls, server_config, sign_payload, verify_ctl, Ctl, CtlEntry, CtlPayload,
    IssueRequest, IssuedCert, NodeCa, Role, TokenAlg, TokenKey,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

mod support;

use support::trust::{read_to_end, write_all};

struct Pki {
    ca: NodeCa,
    server: IssuedCert,
    agent: IssuedCert,
    wrong_role: IssuedCert,
    unlisted: IssuedCert,
    foreign: IssuedCert,
    tokens: [TokenKey; 2],
}

fn pki() -> Pki {
    let (ca, _) = NodeCa::generate("node CA", 30).unwrap();
    let (other_ca, _) = NodeCa::generate("someone else's CA", 30).unwrap();
    let issue =
        |ca: &NodeCa, name: &str, role| ca.issue(&IssueRequest::for_days(name, role, 10)).unwrap();
    Pki {
        server: issue(&ca, "localhost", Role::MediaNode),
        agent: issue(&ca, "kamailio-1", Role::CallAgent),
        wrong_role: issue(&ca, "relay-2", Role::MediaNode),
        unlisted: issue(&ca, "opensips-1", Role::CallAgent),
        foreign: issue(&other_ca, "kamailio-1", Role::CallAgent),
        ca,
        tokens: [
            TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap(),
            TokenKey::generate("sast2", TokenAlg::Ed25519).unwrap(),
        ],
    }
}

fn entry(role: Role, subject: &str, c: &IssuedCert) -> CtlEntry {
    CtlEntry {
        role,
        subject: subject.into(),
        cert_pem: None,
        sha256: Some(hex(&c.sha256)),
    }
}

fn ctl(p: &Pki, version: u64, entries: Vec<CtlEntry>) -> Ctl {
    let payload = CtlPayload {
        version,
        issued_at: 0,
        entries,
        tokens: vec![p.tokens[0].info(), p.tokens[1].info()],
    };
    let text = sign_payload(&payload, &p.tokens[0]).unwrap().to_json();
    verify_ctl(&text, None, unix_now()).unwrap()
}

fn base_ctl(p: &Pki) -> Ctl {
    ctl(
        p,
        1,
        vec![
            entry(Role::CallAgent, "kamailio-1", &p.agent),
            entry(Role::MediaNode, "relay-2", &p.wrong_role),
            // The foreign certificate is even listed: its chain still fails.
            entry(Role::CallAgent, "kamailio-1 (foreign)", &p.foreign),
        ],
    )
}

fn ca_der(p: &Pki) -> CertificateDer<'static> {
    CertificateDer::from(p.ca.cert_der().to_vec())
}

/// GET /health over TLS as `client`; Ok(response text) or the error.
async fn fetch(addr: SocketAddr, p: &Pki, client: &IssuedCert) -> Result<String, String> {
    let cfg = client_config(
        ca_der(p),
        certs_from_pem(&client.cert_pem).unwrap(),
        key_from_pem(&client.key_pem).unwrap(),
    )
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    write_all(
        &mut tls,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .map_err(|e| format!("write: {e}"))?;
    let body = read_to_end(&mut tls)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn served(r: &Result<String, String>) -> bool {
    matches!(r, Ok(s) if s.starts_with("HTTP/1.1 200") && s.ends_with("ok"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_channel_mtls() {
    let p = pki();
    let list = base_ctl(&p);
    let (cfg, verifier) = server_config(
        ca_der(&p),
        certs_from_pem(&p.server.cert_pem).unwrap(),
        key_from_pem(&p.server.key_pem).unwrap(),
        &list,
    )
    .unwrap();
    let router = axum::Router::new().route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_tls(router, listener, cfg, async move {
        let _ = stop_rx.await;
    }));

    // Listed call agent: served.
    let r = fetch(addr, &p, &p.agent).await;
    assert!(served(&r), "call agent refused: {r:?}");

    // Another CA (even though its fingerprint is listed): refused.
    let r = fetch(addr, &p, &p.foreign).await;
    assert!(!served(&r), "foreign CA served: {r:?}");
    assert!(r.is_err(), "{r:?}");

    // Listed with another role: refused.
    let r = fetch(addr, &p, &p.wrong_role).await;
    assert!(r.is_err(), "media-node served as call agent: {r:?}");

    // Issued by the node CA but not in the list: refused.
    let r = fetch(addr, &p, &p.unlisted).await;
    assert!(r.is_err(), "unlisted client served: {r:?}");

    // A TLS 1.2 client is refused: only TLS 1.3 is offered.
    {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der(&p)).unwrap();
        let cfg12 = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            certs_from_pem(&p.agent.cert_pem).unwrap(),
            key_from_pem(&p.agent.key_pem).unwrap(),
        )
        .unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let r = TlsConnector::from(Arc::new(cfg12))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await;
        assert!(r.is_err(), "TLS 1.2 accepted");
    }

    // A plain TCP client without TLS gets nothing, and the server lives on.
    {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = write_all(&mut tcp, b"GET /health HTTP/1.1\r\n\r\n").await;
        let got = read_to_end(&mut tcp).await.unwrap_or_default();
        assert!(!String::from_utf8_lossy(&got).contains("200"));
    }

    // A new trust list listing the second agent takes effect at once.
    let mut entries = vec![
        entry(Role::CallAgent, "kamailio-1", &p.agent),
        entry(Role::CallAgent, "opensips-1", &p.unlisted),
    ];
    verifier.reload(&ctl(&p, 2, entries.clone()));
    let r = fetch(addr, &p, &p.unlisted).await;
    assert!(served(&r), "reloaded agent refused: {r:?}");
    // And removing the first one revokes it.
    entries.remove(0);
    verifier.reload(&ctl(&p, 3, entries));
    let r = fetch(addr, &p, &p.agent).await;
    assert!(r.is_err(), "revoked agent served: {r:?}");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("server did not shut down")
        .unwrap()
        .unwrap();
}

#[test]
fn server_requires_client_auth() {
    let p = pki();
    let (cfg, verifier) = server_config(
        ca_der(&p),
        certs_from_pem(&p.server.cert_pem).unwrap(),
        key_from_pem(&p.server.key_pem).unwrap(),
        &base_ctl(&p),
    )
    .unwrap();
    use rustls::server::danger::ClientCertVerifier;
    assert!(verifier.client_auth_mandatory());
    assert!(verifier.is_allowed(&p.agent.sha256));
    assert!(!verifier.is_allowed(&p.wrong_role.sha256));
    let _ = Arc::clone(&cfg);
}
