//! The AF_XDP backend: media frames straight from the interface's rx queue
//! into the worker, and back out, without the kernel's UDP/IP stack.
//!
//! Why: with kernel sockets a relayed packet costs ~3 µs of socket work
//! here before Rampart's own code runs (issue #3); an XSK in copy mode
//! skips the IP/UDP stack, the socket lookup and queueing, and one system
//! call per packet (`docs/xdp-spike.md`).
//!
//! How it fits: a small XDP program (generated in Rust, `rampart_sys::bpf`) sends
//! UDP to a port in its port map to the XSK of the worker that owns the
//! port, and everything else (ARP, ICMP, SIP, fragments, other ports, and
//! ports owned by a worker bound to another queue) to the kernel. Each
//! worker still owns its legs' kernel sockets: they reserve the ports,
//! receive what the program passes, and send what the XSK cannot (the
//! slow path: a destination on another interface, a next hop with no
//! resolved MAC, a frame over the MTU). The decisions are the same
//! [`Handler`] as on every backend (`relay.rs` is sans-I/O): the XSK path
//! parses the frame ([`frame::parse`]), hands the UDP payload to the
//! handler in place in the UMEM frame, writes the new Ethernet/IP/UDP
//! headers in front of the transformed payload ([`frame::write_headers`])
//! and posts the same frame on the tx ring. No copy in user space, no
//! allocation per packet.
//!
//! Next-hop MACs come from the kernel's tables (netlink), cached per
//! destination for [`HOP_TTL`] and looked up again after; an unresolved
//! neighbour goes the slow path (the kernel then resolves it) and is asked
//! again after [`HOP_RETRY`].

pub(crate) mod frame;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_sys::bpf::{BpfMap, XdpLink, XdpMode, XdpProgram};
use rampart_sys::netlink::{self, Netlink};
use rampart_sys::xsk::{RxFrame, Xsk, XskBind, XskConfig};
use rampart_sys::{self as sys, errno_name};

use super::backend::{Arrival, Backend, Handler, MmsgBackend, RxBatch, Tx};
use super::counters::{add, inc};
use super::{BackendKind, WorkerCounters};
use frame::L2;

/// The epoll token of the worker's XSK.
const XSK_TOKEN: u64 = u64::MAX - 1;
/// Frames handled per XSK batch at most (then the other sockets get a turn).
const XSK_BATCH: usize = 256;
/// How long a resolved next hop is trusted before it is looked up again.
pub(crate) const HOP_TTL: Duration = Duration::from_secs(5);
/// How soon an unresolved next hop is looked up again.
pub(crate) const HOP_RETRY: Duration = Duration::from_millis(100);
/// Kicks of the tx ring per batch at most (each sends ≤ 32 frames in copy
/// mode).
const MAX_KICKS: usize = 64;
/// No socket token for a port.
const NO_TOKEN: u32 = u32::MAX;
/// How often the XSK's kernel drop counters are read (one `getsockopt`),
/// besides after every full batch (a backlog).
const STATS_EVERY: Duration = Duration::from_millis(250);

/// Which XDP attach mode to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpAttach {
    /// Native (driver) mode, else generic.
    #[default]
    Auto,
    /// Native only.
    Native,
    /// Generic (skb) mode only: works on every interface, costs more.
    Generic,
}

/// Settings for the AF_XDP backend.
#[derive(Clone, Debug, Default)]
pub struct XdpSettings {
    /// The interface to attach to; `None`: the interface that holds
    /// `media_address`.
    pub interface: Option<String>,
    /// The node's first media address (to find the interface).
    pub media_address: Option<IpAddr>,
    /// Attach mode.
    pub attach: XdpAttach,
    /// Try zero-copy before copy mode.
    pub zero_copy: bool,
}

/// What the AF_XDP probe set up: the attached program and one socket per
/// queue, handed to the workers.
pub(crate) struct XdpSetup {
    /// Shared by the workers.
    pub shared: Arc<XdpShared>,
    /// Socket for queue `i`, taken by worker `i`.
    pub sockets: Vec<Option<Xsk>>,
    /// One line for the start line and `/health`.
    pub detail: String,
}

/// What every worker of an AF_XDP data plane shares: the program, its maps
/// and the interface facts. Dropping the last reference detaches the
/// program (the link's fd closes), so a crashed node leaves nothing behind.
pub(crate) struct XdpShared {
    _link: XdpLink,
    _prog: XdpProgram,
    ports: BpfMap,
    xsks: BpfMap,
    ifindex: u32,
    mac: [u8; 6],
    mtu: usize,
}

impl std::fmt::Debug for XdpShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpShared")
            .field("ifindex", &self.ifindex)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

/// Finds the interface, loads and attaches the program, binds one XSK per
/// queue (up to `workers`): native zero-copy, native copy, then generic
/// copy. `Err` says why AF_XDP cannot run here (for the start line).
pub(crate) fn probe(settings: &XdpSettings, workers: usize) -> Result<XdpSetup, String> {
    let mut nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
    let ifindex = match (&settings.interface, settings.media_address) {
        (Some(name), _) => netlink::if_index(name).map_err(|e| format!("interface {name}: {e}"))?,
        (None, Some(ip)) if ip.is_unspecified() => {
            return Err("the media address is a wildcard: set [dataplane] xdp_interface".into())
        }
        (None, Some(ip)) => match nl.addr_owner(ip) {
            Ok(Some(i)) => i,
            Ok(None) => return Err(format!("no interface holds the media address {ip}")),
            Err(e) => return Err(format!("netlink address lookup: {e}")),
        },
        (None, None) => return Err("no media address and no xdp_interface".into()),
    };
    let link = nl
        .link_get(ifindex)
        .map_err(|e| format!("interface {ifindex}: {e}"))?;
    if link.loopback {
        return Err(format!(
            "the media interface {} is loopback (XDP sees only frames arriving on a real interface)",
            link.name
        ));
    }
    let queues = netlink::get_channels(&link.name)
        .map(|c| c.rx.max(c.combined).max(1))
        .unwrap_or(1);
    let use_queues = queues.min(workers.max(1) as u32);
    let ports = BpfMap::port_map(65536).map_err(|e| format!("BPF map: {}", errno_name(&e)))?;
    let xsks = BpfMap::xsk_map(queues).map_err(|e| format!("XSK map: {}", errno_name(&e)))?;
    let prog = XdpProgram::load(&ports, &xsks)
        .map_err(|e| format!("XDP program load: {}", errno_name(&e)))?;
    let mut why = Vec::new();
    let mut attempts: Vec<(XdpMode, XskBind)> = Vec::new();
    if settings.attach != XdpAttach::Generic {
        if settings.zero_copy {
            attempts.push((XdpMode::Native, XskBind::ZeroCopy));
        }
        attempts.push((XdpMode::Native, XskBind::Copy));
    }
    if settings.attach != XdpAttach::Native {
        attempts.push((XdpMode::Generic, XskBind::Copy));
    }
    let mut current: Option<(XdpMode, XdpLink)> = None;
    for (mode, bind) in attempts {
        if current.as_ref().map(|c| c.0) != Some(mode) {
            current = None; // detach the previous mode first
            match XdpLink::attach(&prog, ifindex, mode) {
                Ok(l) => current = Some((mode, l)),
                Err(e) => {
                    why.push(format!("{mode:?} attach: {}", errno_name(&e)));
                    continue;
                }
            }
        }
        let cfg = XskConfig {
            bind,
            ..XskConfig::default()
        };
        let mut sockets = Vec::with_capacity(use_queues as usize);
        let mut failed = None;
        for q in 0..use_queues {
            match Xsk::new(ifindex, q, &cfg) {
                Ok(x) => {
                    if let Err(e) = xsks.set_xsk(q, x.raw_fd()) {
                        failed = Some(format!("XSK map: {}", errno_name(&e)));
                        break;
                    }
                    sockets.push(Some(x));
                }
                Err(e) => {
                    failed = Some(format!("{mode:?} {bind:?} bind: {}", errno_name(&e)));
                    break;
                }
            }
        }
        if let Some(f) = failed {
            for q in 0..sockets.len() as u32 {
                let _ = xsks.clear_xsk(q);
            }
            why.push(f);
            continue;
        }
        let Some((_, xdp_link)) = current.take() else {
            continue;
        };
        let mode_word = match mode {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        };
        let bind_word = match bind {
            XskBind::ZeroCopy => "zero-copy",
            XskBind::Copy => "copy",
        };
        let mut detail = format!(
            "xdp {mode_word} {bind_word} on {} ({use_queues} of {queues} queues)",
            link.name
        );
        if !why.is_empty() {
            detail.push_str(&format!("; refused first: {}", why.join(", ")));
        }
        return Ok(XdpSetup {
            shared: Arc::new(XdpShared {
                _link: xdp_link,
                _prog: prog,
                ports,
                xsks,
                ifindex,
                mac: link.mac,
                mtu: link.mtu as usize,
            }),
            sockets,
            detail,
        });
    }
    Err(format!("AF_XDP on {}: {}", link.name, why.join(", ")))
}

/// A cached next hop for one destination.
#[derive(Clone, Copy, Debug)]
struct Hop {
    /// The destination's frames may go through the XSK (our interface, MAC
    /// known).
    mac: Option<[u8; 6]>,
    /// Source address for a socket bound to a wildcard.
    src: Option<IpAddr>,
    /// When to look again.
    expires: Instant,
}

/// Next hops by destination, from the kernel's route and neighbour tables.
struct NextHops {
    nl: Option<Netlink>,
    ifindex: u32,
    map: HashMap<IpAddr, Hop>,
}

impl NextHops {
    fn get(&mut self, dest: IpAddr, now: Instant) -> Hop {
        if let Some(h) = self.map.get(&dest) {
            if h.expires > now {
                return *h;
            }
        }
        let h = self.lookup(dest, now);
        if self.map.len() >= 65536 {
            // Bounded: forget everything rather than grow without end.
            self.map.clear();
        }
        self.map.insert(dest, h);
        h
    }

    fn lookup(&mut self, dest: IpAddr, now: Instant) -> Hop {
        let unresolved = Hop {
            mac: None,
            src: None,
            expires: now + HOP_RETRY,
        };
        let Some(nl) = self.nl.as_mut() else {
            return unresolved;
        };
        let route = match nl.route_get(dest) {
            Ok(r) => r,
            Err(_) => return unresolved,
        };
        if route.oif != self.ifindex || route.local {
            // Another interface (or ourselves): the kernel sends it.
            return Hop {
                mac: None,
                src: None,
                expires: now + HOP_TTL,
            };
        }
        let next = route.gateway.unwrap_or(dest);
        match nl.neigh_get(route.oif, next) {
            Ok(Some(n)) if n.usable() => {
                if n.state & netlink::NUD_STALE != 0 {
                    // Frames we build never confirm the entry to the
                    // kernel; ask it to re-probe so it stays fresh.
                    let _ = nl.neigh_resolve(route.oif, next);
                }
                Hop {
                    mac: Some(n.mac),
                    src: route.prefsrc,
                    expires: now + HOP_TTL,
                }
            }
            _ => {
                let _ = nl.neigh_resolve(route.oif, next);
                unresolved
            }
        }
    }
}

/// The AF_XDP backend of one worker.
pub(crate) struct XdpBackend {
    inner: MmsgBackend,
    shared: Arc<XdpShared>,
    xsk: Option<Xsk>,
    queue: u32,
    /// Socket token per UDP port (`NO_TOKEN`: none).
    port_token: Box<[u32]>,
    /// Per token: bound address and fd.
    socks: Vec<Option<(SocketAddr, RawFd)>>,
    hops: NextHops,
    ip_id: u16,
    /// The XSK's kernel drops (rx ring full, no fill frame) seen so far.
    kernel_drops: u64,
    next_stats: Instant,
    counters: Arc<WorkerCounters>,
    /// The frames of the batch in hand: (frame, payload offset, arrival).
    arrived: Vec<(RxFrame, usize, Arrival)>,
    /// The handler's verdicts, one per arrival.
    verdicts: Vec<Option<Tx>>,
}

/// A batch of received frames: the datagram of each at its payload offset
/// in its UMEM frame.
struct XskBatch<'a> {
    xsk: &'a mut Xsk,
    arrived: &'a [(RxFrame, usize, Arrival)],
}

impl RxBatch for XskBatch<'_> {
    fn count(&self) -> usize {
        self.arrived.len()
    }

    fn arrival(&self, i: usize) -> Arrival {
        self.arrived[i].2
    }

    fn buf(&self, i: usize) -> &[u8] {
        let (f, pay, _) = &self.arrived[i];
        self.xsk.frame(f).0.get(*pay..).unwrap_or(&[])
    }

    fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        let (f, pay, _) = &self.arrived[i];
        self.xsk.frame_mut(f).0.get_mut(*pay..).unwrap_or(&mut [])
    }
}

impl XdpBackend {
    /// A worker's backend: `xsk` is its queue's socket (`None`: more
    /// workers than queues; this worker runs on its kernel sockets only).
    pub(crate) fn new(
        inner: MmsgBackend,
        shared: Arc<XdpShared>,
        xsk: Option<Xsk>,
        queue: u32,
        counters: Arc<WorkerCounters>,
    ) -> io::Result<XdpBackend> {
        if let Some(x) = &xsk {
            inner.watch(x.raw_fd(), XSK_TOKEN)?;
        }
        let ifindex = shared.ifindex;
        Ok(XdpBackend {
            inner,
            shared,
            xsk,
            queue,
            port_token: vec![NO_TOKEN; 65536].into_boxed_slice(),
            socks: Vec::with_capacity(256),
            hops: NextHops {
                nl: Netlink::open().ok(),
                ifindex,
                map: HashMap::new(),
            },
            ip_id: 0,
            kernel_drops: 0,
            next_stats: Instant::now(),
            counters,
            arrived: Vec::with_capacity(XSK_BATCH),
            verdicts: Vec::with_capacity(XSK_BATCH),
        })
    }

    /// Receives, processes and sends up to `XSK_BATCH` frames from the XSK.
    fn serve_xsk<H: Handler>(&mut self, h: &mut H) -> u64 {
        let XdpBackend {
            xsk,
            shared,
            port_token,
            socks,
            hops,
            ip_id,
            kernel_drops,
            next_stats,
            counters,
            arrived,
            verdicts,
            ..
        } = self;
        let Some(xsk) = xsk.as_mut() else {
            return 0;
        };
        xsk.reap();
        xsk.refill();
        if xsk.rx_ready() == 0 {
            return 0;
        }
        let now = Instant::now();
        let mut received = 0u64;
        let mut sent = 0u32;
        h.begin_batch();
        while (received as usize) < XSK_BATCH {
            let Some(f) = xsk.rx_take() else { break };
            received += 1;
            let flen = f.len();
            let (chunk, off) = xsk.frame_mut(&f);
            let parsed = match frame::parse(&chunk[off..off + flen]) {
                Ok(p) => p,
                Err(_) => {
                    inc(&counters.xdp_rx_rejected);
                    xsk.recycle(f);
                    continue;
                }
            };
            let token = port_token[usize::from(parsed.dst.port())];
            let local = socks.get(token as usize).copied().flatten();
            let Some((local_addr, _)) = local else {
                inc(&counters.xdp_rx_rejected);
                xsk.recycle(f);
                continue;
            };
            if !local_addr.ip().is_unspecified() && local_addr.ip() != parsed.dst.ip() {
                // The port is ours on another address: not for this leg.
                inc(&counters.xdp_rx_rejected);
                xsk.recycle(f);
                continue;
            }
            let pay = off + parsed.payload;
            if parsed.len + crate::srtp::MAX_TRAILER_LEN > chunk.len() - pay {
                h.on_truncated(token);
                xsk.recycle(f);
                continue;
            }
            let (len, src) = (parsed.len, parsed.src);
            arrived.push((f, pay, Arrival { token, len, src }));
        }
        // The frames as one batch (the handler's crypto runs across them),
        // then each one's send.
        verdicts.clear();
        verdicts.resize(arrived.len(), None);
        h.on_batch(&mut XskBatch { xsk, arrived }, verdicts);
        for (k, (f, pay, _)) in arrived.drain(..).enumerate() {
            let Some(tx) = verdicts[k] else {
                xsk.recycle(f);
                continue;
            };
            let (chunk, _) = xsk.frame_mut(&f);
            let Some((src_local, out_fd)) = socks.get(tx.token as usize).copied().flatten() else {
                h.on_send_failed(tx.token, false);
                xsk.recycle(f);
                continue;
            };
            let hop = hops.get(tx.dest.ip(), now);
            match write_fast_headers(chunk, pay, &tx, src_local, &hop, shared, ip_id) {
                Some(start) => match xsk.send(f, start, pay + tx.len - start) {
                    Ok(()) => {
                        sent += 1;
                        inc(&counters.xdp_tx);
                        h.on_sent(tx.token, tx.len, tx.rtcp);
                    }
                    Err(f) => {
                        inc(&counters.xdp_tx_ring_full);
                        h.on_send_failed(tx.token, true);
                        xsk.recycle(f);
                    }
                },
                None => {
                    // The slow path: the kernel routes, resolves and sends.
                    inc(&counters.xdp_slow_tx);
                    inc(&counters.send_calls);
                    match sys::send_to(out_fd, &chunk[pay..pay + tx.len], &tx.dest) {
                        Ok(_) => h.on_sent(tx.token, tx.len, tx.rtcp),
                        Err(e) => h.on_send_failed(tx.token, e.is_congestion()),
                    }
                    xsk.recycle(f);
                }
            }
        }
        add(&counters.packets_received, received);
        add(&counters.xdp_rx, received);
        inc(&counters.batches);
        if sent > 0 {
            publish_tx(xsk, counters);
        }
        xsk.reap();
        xsk.refill();
        if received as usize >= XSK_BATCH || now >= *next_stats {
            *next_stats = now + STATS_EVERY;
            count_kernel_drops(xsk, kernel_drops, counters);
        }
        received
    }
}

/// Writes the Ethernet, IP and UDP headers in front of `tx`'s payload (at
/// `pay` in the frame) when the frame can leave on the XSK itself: the next
/// hop's MAC and a source address are known, the families match and it
/// fits the MTU. Returns where the frame now starts; `None`: the kernel
/// must send it (the slow path).
fn write_fast_headers(
    chunk: &mut [u8],
    pay: usize,
    tx: &Tx,
    src_local: SocketAddr,
    hop: &Hop,
    shared: &XdpShared,
    ip_id: &mut u16,
) -> Option<usize> {
    let src_ip = if src_local.ip().is_unspecified() {
        hop.src
    } else {
        Some(src_local.ip())
    };
    let src = src_ip.map(|ip| SocketAddr::new(ip, src_local.port()));
    match (hop.mac, src) {
        (Some(mac), Some(src))
            if src.is_ipv4() == tx.dest.is_ipv4()
                && frame::header_len(&tx.dest) - 14 + tx.len <= shared.mtu =>
        {
            *ip_id = ip_id.wrapping_add(1);
            let l2 = L2 {
                src: shared.mac,
                dst: mac,
            };
            frame::write_headers(chunk, pay, tx.len, src, tx.dest, &l2, *ip_id).ok()
        }
        _ => None,
    }
}

/// Hands the frames queued on the tx ring to the kernel, kicking it (a
/// bounded number of times) until it has taken them.
fn publish_tx(xsk: &mut Xsk, counters: &WorkerCounters) {
    xsk.tx_publish();
    for _ in 0..MAX_KICKS {
        inc(&counters.send_calls);
        if xsk.kick().is_err() || xsk.tx_pending() == 0 {
            break;
        }
    }
}

/// Counts the frames the kernel dropped because this worker fell behind
/// (the rx ring full, or no free frame on the fill ring): the XSK's
/// equivalent of a socket's SO_RXQ_OVFL. `seen` is the total so far.
fn count_kernel_drops(xsk: &Xsk, seen: &mut u64, counters: &WorkerCounters) {
    if let Ok(st) = xsk.stats() {
        let total = st.rx_dropped + st.rx_ring_full;
        if total > *seen {
            add(&counters.kernel_drops, total - *seen);
            *seen = total;
        }
    }
}

impl Backend for XdpBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Xdp
    }

    fn add_socket(&mut self, token: u32, fd: RawFd) -> io::Result<()> {
        let local = sys::local_addr(fd)?;
        self.inner.add_socket(token, fd)?;
        let t = token as usize;
        if self.socks.len() <= t {
            self.socks.resize(t + 1, None);
        }
        self.socks[t] = Some((local, fd));
        if self.xsk.is_some() {
            self.port_token[usize::from(local.port())] = token;
            if let Err(e) = self.shared.ports.set_port(local.port(), self.queue) {
                // The leg still works through its kernel socket.
                tracing::warn!(port = local.port(), error = %e, "XDP port map update failed");
            }
        }
        Ok(())
    }

    fn remove_socket(&mut self, token: u32, fd: RawFd) {
        if let Some(Some((local, _))) = self.socks.get(token as usize).copied() {
            if self.xsk.is_some() {
                // Unsteer first, so stragglers go to the kernel socket.
                let _ = self.shared.ports.remove_port(local.port());
                let slot = &mut self.port_token[usize::from(local.port())];
                if *slot == token {
                    *slot = NO_TOKEN;
                }
            }
        }
        if let Some(s) = self.socks.get_mut(token as usize) {
            *s = None;
        }
        self.inner.remove_socket(token, fd);
    }

    fn poll<H: Handler>(&mut self, h: &mut H, timeout_ms: i32) -> io::Result<u64> {
        let waiting = self.xsk.as_ref().map_or(0, |x| x.rx_ready());
        let timeout = if waiting > 0 { 0 } else { timeout_ms };
        let mut received = self.inner.poll(h, timeout)?;
        received += self.serve_xsk(h);
        Ok(received)
    }

    fn submit(&mut self) -> io::Result<()> {
        if let Some(x) = self.xsk.as_mut() {
            for _ in 0..MAX_KICKS {
                if x.tx_pending() == 0 {
                    break;
                }
                x.kick()?;
            }
            x.reap();
            x.refill();
        }
        Ok(())
    }
}

impl Drop for XdpBackend {
    fn drop(&mut self) {
        if self.xsk.is_some() {
            let _ = self.shared.xsks.clear_xsk(self.queue);
        }
    }
}
