//! Trust-plane fixtures: a node CA with a server certificate and call
//! agents, a pair of security tokens that signs successive trust lists
//! (so a later list passes the signer pin of an earlier one), and HTTP
//! over TLS as a given agent, on connections that stay open.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use rampart::trust::ctl::unix_now;
use rampart::trust::secret::hex;
use rampart::trust::tls::{certs_from_pem, key_from_pem};
use rampart::trust::{
    client_config, sign_payload, CtlEntry, CtlPayload, IssueRequest, IssuedCert, NodeCa, Role,
    TokenAlg, TokenKey,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Two security tokens; the first signs.
pub struct Signer {
    tokens: [TokenKey; 2],
}

impl Signer {
    /// Two fresh Ed25519 tokens.
    pub fn new() -> Signer {
        Signer {
            tokens: [
                TokenKey::generate("sast1", TokenAlg::Ed25519).unwrap(),
                TokenKey::generate("sast2", TokenAlg::Ed25519).unwrap(),
            ],
        }
    }

    /// Writes a signed trust list of this `version` with `entries` to
    /// `path` (replacing it).
    pub fn write(&self, path: &Path, version: u64, entries: Vec<CtlEntry>) {
        let payload = CtlPayload {
            version,
            issued_at: unix_now() as u64,
            entries,
            tokens: vec![self.tokens[0].info(), self.tokens[1].info()],
        };
        let text = sign_payload(&payload, &self.tokens[0]).unwrap().to_json();
        std::fs::write(path, text).unwrap();
    }
}

/// A trust-list entry naming `cert` (by fingerprint) in `role`.
pub fn listed(role: Role, subject: &str, cert: &IssuedCert) -> CtlEntry {
    CtlEntry {
        role,
        subject: subject.into(),
        cert_pem: None,
        sha256: Some(hex(&cert.sha256)),
    }
}

/// A node CA and the certificates it issued: the node's own
/// (`localhost`) and two call agents.
pub struct Pki {
    /// The node CA.
    pub ca: NodeCa,
    /// The node's server certificate.
    pub server: IssuedCert,
    /// Call agent A.
    pub agent_a: IssuedCert,
    /// Call agent B.
    pub agent_b: IssuedCert,
}

impl Pki {
    /// Fresh keys and certificates.
    pub fn new() -> Pki {
        let (ca, _) = NodeCa::generate("node CA", 30).unwrap();
        let issue = |name: &str, role| ca.issue(&IssueRequest::for_days(name, role, 10)).unwrap();
        Pki {
            server: issue("localhost", Role::MediaNode),
            agent_a: issue("kamailio-a", Role::CallAgent),
            agent_b: issue("kamailio-b", Role::CallAgent),
            ca,
        }
    }

    /// Writes the CA certificate, the server certificate and key into
    /// `dir`; returns their paths (for `api.tls_client_ca`, `tls_cert`,
    /// `tls_key`).
    pub fn write_server_files(&self, dir: &Path) -> [PathBuf; 3] {
        let w = |n: &str, t: &str| {
            let p = dir.join(n);
            std::fs::write(&p, t).unwrap();
            p
        };
        [
            w("ca.crt", self.ca.cert_pem()),
            w("node.crt", &self.server.cert_pem),
            w("node.key", &self.server.key_pem),
        ]
    }

    /// Opens a TLS connection to `addr` as `who`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        who: &IssuedCert,
    ) -> Result<TlsStream<TcpStream>, String> {
        let cfg = client_config(
            CertificateDer::from(self.ca.cert_der().to_vec()),
            certs_from_pem(&who.cert_pem).unwrap(),
            key_from_pem(&who.key_pem).unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        TlsConnector::from(cfg)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))
    }
}

/// Writes all of `buf` and flushes.
pub async fn write_all<S: AsyncWrite + Unpin>(s: &mut S, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *s).poll_flush(cx)).await
}

/// Reads until the end of the stream.
pub async fn read_to_end<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let more = read_some(s).await?;
        if more.is_empty() {
            return Ok(out);
        }
        out.extend_from_slice(&more);
    }
}

/// Reads what is there (at least one byte) or `Ok(empty)` at end of stream.
pub async fn read_some<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    let mut rb = ReadBuf::new(&mut chunk);
    poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, &mut rb)).await?;
    Ok(rb.filled().to_vec())
}

/// One HTTP/1.1 request on an open (keep-alive) connection: the whole
/// response, headers and body (by `Content-Length`), or why there is none.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    method: &str,
    path: &str,
) -> Result<String, String> {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    write_all(s, req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Ok(text);
            }
        }
        let more = read_some(s).await.map_err(|e| format!("read: {e}"))?;
        if more.is_empty() {
            return Err(format!("connection closed after {} bytes", got.len()));
        }
        got.extend_from_slice(&more);
    }
}

/// The JSON body of a response [`request`] returned.
pub fn body_json(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}
