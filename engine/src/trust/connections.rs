//! The control channel's live TLS connections, each with its client
//! certificate's fingerprint and a way to end it.
//!
//! Why: the client verifier ([`CtlClientVerifier`]) only runs during a
//! handshake, so swapping in a new trust list stops *new* connections of an
//! agent the list no longer names, but a connection it opened before (HTTP
//! keep-alive) would go on being served. [`TlsConnections`] records every
//! connection [`super::tls::serve_tls_tracked`] serves, and after a reload
//! [`TlsConnections::close_unlisted`] ends those whose certificate the
//! verifier no longer allows. Ending one makes its stream fail on the next
//! read or write (waking a read that waits), so the HTTP server drops it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::secret::hex;
use super::tls::CtlClientVerifier;

/// One live connection as the registry keeps it.
struct Live {
    sha256: [u8; 32],
    peer: SocketAddr,
    close: watch::Sender<bool>,
}

/// The live TLS connections of one control-channel server.
pub struct TlsConnections {
    verifier: Arc<CtlClientVerifier>,
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
}

impl std::fmt::Debug for TlsConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnections")
            .field("live", &self.len())
            .finish_non_exhaustive()
    }
}

impl TlsConnections {
    /// An empty registry whose connections are judged by `verifier` (the
    /// one the server configuration checks handshakes with).
    pub fn new(verifier: Arc<CtlClientVerifier>) -> TlsConnections {
        TlsConnections {
            verifier,
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The verifier the connections are judged by.
    pub fn verifier(&self) -> &Arc<CtlClientVerifier> {
        &self.verifier
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a connection whose client presented a certificate with this
    /// fingerprint and wraps its stream so that it can be ended. A
    /// connection whose certificate was dropped from the list between its
    /// handshake and now is ended at once (the check comes after the
    /// record, so a reload in between cannot miss it).
    pub fn track<S>(self: &Arc<Self>, stream: S, sha256: [u8; 32], peer: SocketAddr) -> Tracked<S> {
        let (close, mut closed) = watch::channel(false);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.live().insert(
            id,
            Live {
                sha256,
                peer,
                close,
            },
        );
        if !self.verifier.is_allowed(&sha256) {
            self.close_one(id);
        }
        Tracked {
            inner: stream,
            closed: Some(Box::pin(async move {
                let _ = closed.wait_for(|c| *c).await;
            })),
            ended: false,
            _entry: Some(Entry {
                registry: self.clone(),
                id,
            }),
        }
    }

    fn close_one(&self, id: u64) {
        if let Some(c) = self.live().get(&id) {
            let _ = c.close.send(true);
        }
    }

    /// Ends every connection whose certificate the verifier no longer
    /// allows; returns how many were ended.
    pub fn close_unlisted(&self) -> usize {
        let live = self.live();
        let mut closed = 0;
        for c in live.values() {
            if !self.verifier.is_allowed(&c.sha256) && !*c.close.borrow() {
                tracing::info!(
                    peer = %c.peer,
                    sha256 = %hex(&c.sha256),
                    "control channel: closing the connection of a client the trust list no \
                     longer names"
                );
                let _ = c.close.send(true);
                closed += 1;
            }
        }
        closed
    }
}

/// Removes a connection from the registry when its stream is dropped.
struct Entry {
    registry: Arc<TlsConnections>,
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.registry.live().remove(&self.id);
    }
}

/// A stream the registry can end: once ended, every read and write fails
/// with `ConnectionAborted`.
pub struct Tracked<S> {
    inner: S,
    /// Completes when the connection is ended (`None`: not tracked, or
    /// ended already).
    closed: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ended: bool,
    _entry: Option<Entry>,
}

impl<S> Tracked<S> {
    /// A stream no registry tracks (it is never ended).
    pub fn untracked(stream: S) -> Tracked<S> {
        Tracked {
            inner: stream,
            closed: None,
            ended: false,
            _entry: None,
        }
    }

    /// `Err` once the connection was ended; registers the waker otherwise.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.ended {
            let Some(f) = self.closed.as_mut() else {
                return Ok(());
            };
            if f.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            self.closed = None;
            self.ended = true;
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "closed: the client's certificate is no longer in the trust list",
        ))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
