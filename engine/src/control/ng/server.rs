//! The ng listeners on the node's tokio runtime: UDP, TCP and the
//! housekeeping tick.
//!
//! Why tasks and a blocking pool: reading and writing sockets is async (one
//! runtime for the HTTP API and ng, no thread per TCP connection, no
//! sleep-polled accept), while a command runs on tokio's blocking pool
//! because it may wait, bounded, for a data-plane worker's ack. No lock
//! shared between calls is held during that wait (see `calls::store`), and
//! at most [`MAX_IN_FLIGHT`] requests run at once: a stalled worker holds
//! up the commands on its own calls, never the listener or other calls.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::super::ng_bencode::{Scan, Scanner};
use super::super::shared::Shared;
use super::NgAddrs;

const TICK: Duration = Duration::from_millis(250);
const MAX_TCP_CONNECTIONS: usize = 64;
/// ng requests handled at once (UDP and TCP together); more wait unread.
pub const MAX_IN_FLIGHT: usize = 256;
/// The largest UDP payload (IPv4: 65,535 - 20 - 8): a longer reply cannot
/// be sent in one datagram.
pub const MAX_UDP_REPLY: usize = 65_507;
/// The largest reply over TCP.
const MAX_TCP_REPLY: usize = 1 << 20;
/// A failed receive or accept is retried after this pause.
const RETRY: Duration = Duration::from_millis(100);

/// The running ng listeners.
pub struct NgServers {
    /// Where they listen.
    pub addrs: NgAddrs,
    tasks: Vec<JoinHandle<()>>,
}

impl NgServers {
    /// Waits (bounded) for the listener tasks, which stop once the node's
    /// stop signal is sent.
    pub fn join(self, rt: &tokio::runtime::Runtime) {
        rt.block_on(async {
            for t in self.tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
            }
        });
    }
}

/// Binds the configured ng listeners and starts their tasks on `rt`; they
/// stop when `stop` turns true.
pub fn start(
    shared: &Arc<Shared>,
    rt: &tokio::runtime::Handle,
    stop: watch::Receiver<bool>,
) -> std::io::Result<NgServers> {
    let cfg = &shared.config.ng;
    let _guard = rt.enter();
    let mut addrs = NgAddrs::default();
    let udp = std::net::UdpSocket::bind(cfg.listen)?;
    udp.set_nonblocking(true)?;
    let udp = UdpSocket::from_std(udp)?;
    addrs.udp = Some(udp.local_addr()?);
    let tcp = match cfg.tcp_listen {
        Some(a) => {
            let l = std::net::TcpListener::bind(a)?;
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            addrs.tcp = Some(l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = vec![
        rt.spawn(udp_serve(
            shared.clone(),
            Arc::new(udp),
            limit.clone(),
            stop.clone(),
        )),
        // Housekeeping has its own task: a flood of requests never starves
        // it, and a slow request never holds it up.
        rt.spawn(tick(shared.clone(), stop.clone())),
    ];
    if let Some(l) = tcp {
        tasks.push(rt.spawn(tcp_serve(shared.clone(), l, limit, stop)));
    }
    if !addrs.udp.is_some_and(|a| a.ip().is_loopback()) {
        tracing::warn!(
            listen = ?addrs.udp,
            "ng listens beyond loopback: ng has no authentication; only [ng] allow protects it"
        );
    }
    tracing::info!(udp = ?addrs.udp, tcp = ?addrs.tcp, "ng protocol listening");
    Ok(NgServers { addrs, tasks })
}

/// Handles one request on the blocking pool (it may wait for a worker).
async fn handle(
    s: &Arc<Shared>,
    src: SocketAddr,
    msg: Vec<u8>,
    max: usize,
) -> (Option<Vec<u8>>, Vec<u8>) {
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let r = s2.ng.handle_guarded(&s2, src, &msg, max);
        (r, msg)
    })
    .await
    .unwrap_or((None, Vec::new()))
}

async fn udp_serve(
    s: Arc<Shared>,
    sock: Arc<UdpSocket>,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        // Wait for room first: beyond MAX_IN_FLIGHT, requests stay queued
        // in the socket.
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let r = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match r {
            Ok((n, src)) => {
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%src, "ng request from a source not in [ng] allow dropped");
                    continue;
                }
                let msg = buf[..n].to_vec();
                let (s, sock) = (s.clone(), sock.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    if let (Some(reply), msg) = handle(&s, src, msg, MAX_UDP_REPLY).await {
                        if let Err(e) = sock.send_to(&reply, src).await {
                            tracing::warn!(%src, error = %e, "cannot send an ng reply");
                            s.ng.forget(src, &msg);
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "ng UDP receive failed");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Runs [`super::NgState::tick`] every [`TICK`] until shutdown; a panic in
/// one tick is caught and counted, and the next tick runs.
async fn tick(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let s2 = s.clone();
        let r = tokio::task::spawn_blocking(move || s2.ng.tick(&s2)).await;
        if r.is_err() {
            s.ng.counters.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!("ng housekeeping panicked; it runs again at the next tick");
        }
    }
}

/// Open ng TCP connections, in total and per source address.
#[derive(Default)]
struct TcpConns {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Holds one connection's place in [`TcpConns`]; gives it back when the
/// connection ends (also when its task panics).
struct TcpSlot {
    conns: Arc<Mutex<TcpConns>>,
    ip: IpAddr,
}

impl TcpSlot {
    /// Takes a place for a connection from `ip`, unless the total or the
    /// per-source cap is reached.
    fn take(conns: &Arc<Mutex<TcpConns>>, ip: IpAddr, per_source: usize) -> Option<TcpSlot> {
        let mut c = conns.lock().unwrap_or_else(|e| e.into_inner());
        let mine = c.by_source.get(&ip).copied().unwrap_or(0);
        if c.total >= MAX_TCP_CONNECTIONS || mine >= per_source {
            return None;
        }
        c.total += 1;
        c.by_source.insert(ip, mine + 1);
        Some(TcpSlot {
            conns: conns.clone(),
            ip,
        })
    }
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_source.remove(&self.ip);
            }
        }
    }
}

async fn tcp_serve(
    s: Arc<Shared>,
    l: TcpListener,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let conns = Arc::new(Mutex::new(TcpConns::default()));
    let per_source = s.config.ng.tcp_max_per_source;
    loop {
        let r = tokio::select! {
            r = l.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match r {
            Ok((stream, src)) => {
                if !s.ng.allowed(src.ip()) {
                    s.ng.counters.refused_source.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Some(slot) = TcpSlot::take(&conns, src.ip(), per_source) else {
                    s.ng.counters.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%src, "too many ng TCP connections (in total or from this source); refused");
                    continue;
                };
                let (s, limit, stop) = (s.clone(), limit.clone(), stop.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    tcp_conn(s, stream, src, limit, stop).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "ng TCP accept failed");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// What the front of a TCP connection's buffer holds.
enum Framed {
    /// A whole message of this many bytes.
    Message(usize),
    /// Not yet a whole message.
    More,
    /// No cookie (not ng), or too large or not bencode.
    Bad,
}

/// Finds the end of the message at the front of `buf` (`cookie SP
/// bencode`, no length prefix), resuming `scanner` where the last read
/// stopped.
fn frame(s: &Shared, buf: &[u8], scanner: &mut Option<Scanner>) -> Framed {
    let Some(sp) = buf.iter().take(257).position(|&b| b == b' ') else {
        return if buf.len() > 256 {
            Framed::Bad
        } else {
            Framed::More
        };
    };
    let sc = scanner.get_or_insert_with(Scanner::new);
    let before = sc.work();
    let r = sc.resume(&buf[sp + 1..], &s.ng.limits);
    let work = sc.work().saturating_sub(before) as u64;
    s.ng.counters
        .tcp_scan_work
        .fetch_add(work, Ordering::Relaxed);
    match r {
        Ok(Scan::Complete(end)) => {
            *scanner = None;
            Framed::Message(sp + 1 + end)
        }
        Ok(Scan::Incomplete) if buf.len() <= s.config.ng.max_request_bytes => Framed::More,
        _ => Framed::Bad,
    }
}

/// Reads `cookie SP bencode` messages from a TCP stream and answers each,
/// in order.
///
/// The framing is incremental ([`Scanner`]): each read goes on where the
/// last stopped. The connection is closed after `tcp_idle_secs` with no
/// bytes, or with a message begun and not finished (a slow sender holds a
/// connection no longer than an idle one).
async fn tcp_conn(
    s: Arc<Shared>,
    mut stream: TcpStream,
    src: SocketAddr,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let max = s.config.ng.max_request_bytes;
    let idle = match s.config.ng.tcp_idle_secs {
        0 => None,
        n => Some(Duration::from_secs(n)),
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16384];
    let mut scanner: Option<Scanner> = None;
    let mut last_rx = Instant::now();
    let mut started: Option<Instant> = None;
    loop {
        // Answer every whole message in the buffer.
        loop {
            match frame(&s, &buf, &mut scanner) {
                Framed::Message(total) => {
                    let msg: Vec<u8> = buf.drain(..total).collect();
                    started = (!buf.is_empty()).then(Instant::now);
                    let Ok(_permit) = limit.acquire().await else {
                        return;
                    };
                    if let (Some(r), _) = handle(&s, src, msg, MAX_TCP_REPLY).await {
                        if stream.write_all(&r).await.is_err() {
                            return;
                        }
                    }
                }
                Framed::More => break,
                Framed::Bad => {
                    // Answer once through the normal path (which reports
                    // why), then close.
                    let mut msg = std::mem::take(&mut buf);
                    msg.truncate(max + 1);
                    if let (Some(r), _) = handle(&s, src, msg, MAX_TCP_REPLY).await {
                        let _ = stream.write_all(&r).await;
                    }
                    return;
                }
            }
        }
        // The time left before the connection counts as idle.
        let deadline = idle.map(|idle| {
            let from = match started {
                Some(t) => t.min(last_rx),
                None => last_rx,
            };
            from + idle
        });
        let read = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), stream.read(&mut chunk))
                    .await
                    .ok(),
                None => Some(stream.read(&mut chunk).await),
            }
        };
        let r = tokio::select! {
            r = read => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match r {
            None => {
                s.ng.counters
                    .tcp_idle_closed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src, "ng TCP connection idle; closed");
                return;
            }
            Some(Ok(0)) | Some(Err(_)) => return,
            Some(Ok(n)) => {
                if buf.is_empty() {
                    started = Some(Instant::now());
                }
                buf.extend_from_slice(&chunk[..n]);
                last_rx = Instant::now();
            }
        }
    }
}
