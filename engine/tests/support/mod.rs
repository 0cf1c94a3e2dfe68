//! Helpers shared by the integration tests: a mixed-mode `[security]`
//! section with a trust list made on the spot (two fresh tokens, signed by
//! one), so tests can exercise SRTP calls under the security policy.

#![allow(dead_code)]

pub mod batch;
pub mod netns;
pub mod ng;
pub mod redis;
pub mod trust;
pub mod webrtc;

use std::path::PathBuf;

use rampart::policy::{ClusterMode, DeviceConfig, LegKind, PolicyConfig, SecurityMode};
use rampart::trust::CtlEntry;

/// The device the HTTP and ng tests name on every leg: a 7970 configured
/// encrypted (so it may have any mode).
pub const TEST_DEVICE: &str = "SEP-TEST-7970";

/// A fresh directory under the system temp dir (removed first if present).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a trust list with `entries` signed by the first of two fresh
/// tokens into `dir/ctl.json`; returns its path.
pub fn write_ctl(dir: &std::path::Path, entries: Vec<CtlEntry>) -> PathBuf {
    let path = dir.join("ctl.json");
    trust::Signer::new().write(&path, 1, entries);
    path
}

/// A device table row.
pub fn device(name: &str, model: &str, mode: SecurityMode) -> DeviceConfig {
    DeviceConfig {
        name: name.into(),
        model: model.into(),
        mode,
        kind: LegKind::Phone,
    }
}

/// A mixed-mode section with a fresh trust list in a temp dir named after
/// `name`, and [`TEST_DEVICE`] registered.
pub fn mixed(name: &str) -> PolicyConfig {
    let dir = temp_dir(name);
    PolicyConfig {
        enforce: true,
        cluster_mode: ClusterMode::Mixed,
        trust_list: Some(write_ctl(&dir, Vec::new())),
        devices: vec![device(TEST_DEVICE, "7970", SecurityMode::Encrypted)],
        ..PolicyConfig::default()
    }
}

/// A `rampart` process a test started; killed when dropped.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Starts `cmd` (a `rampart run`) with its stdout piped, stderr
    /// dropped; returns it and its start line (the first line it prints).
    pub fn start(mut cmd: std::process::Command) -> (Running, String) {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        (Running(child), line)
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// Its resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// The ng address the start line names for `proto` (`"udp:"`, `"tcp:"`).
pub fn start_line_ng(line: &str, proto: &str) -> std::net::SocketAddr {
    line.split("; ng ")
        .nth(1)
        .and_then(|ng| ng.split_whitespace().find_map(|w| w.strip_prefix(proto)))
        .and_then(|a| a.trim_end_matches([',', ';']).parse().ok())
        .unwrap_or_else(|| panic!("no ng {proto} address in {line:?}"))
}

/// The HTTP API address the start line names.
pub fn start_line_api(line: &str) -> std::net::SocketAddr {
    line.split("API http://")
        .nth(1)
        .and_then(|r| r.split([';', ' ']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no API address in {line:?}"))
}

/// `GET path` on the node's HTTP API: the whole response, headers and body.
pub fn http_get(api: std::net::SocketAddr, path: &str) -> String {
    http_request(api, "GET", path)
}

/// `method path` (no body) on the node's HTTP API: the whole response,
/// headers and body.
pub fn http_request(api: std::net::SocketAddr, method: &str, path: &str) -> String {
    http_send(api, method, path, "")
}

/// `method path` with a JSON `body` on the node's HTTP API: the whole
/// response, headers and body.
pub fn http_send(api: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut h = std::net::TcpStream::connect(api).unwrap();
    h.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        h,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = h.read_to_string(&mut resp);
    resp
}

/// A plain-RTP leg on `socket` for a data-plane test: no keys, the default
/// latch and forwarding, fresh counters.
pub fn plain_leg(
    socket: std::net::UdpSocket,
    remote: Option<std::net::SocketAddr>,
    rtcp_mux: bool,
) -> rampart::dataplane::LegFlows {
    use rampart::dataplane::*;
    LegFlows {
        rtp_socket: socket.into(),
        rtcp_socket: None,
        rtcp_mux,
        remote_rtp: remote,
        remote_rtcp: None,
        latch: LatchMode::default(),
        srtp_in: None,
        srtp_out: None,
        forward: ForwardMode::default(),
        counters: std::sync::Arc::new(LegCounters::default()),
    }
}
