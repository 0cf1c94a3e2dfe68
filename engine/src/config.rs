//! Node configuration: what a `rampart.toml` may say, its defaults, and how
//! command-line flags and `RAMPART_*` environment variables override it.
//!
//! Why a module of its own: the binary, the in-process test harness and the
//! control plane all need the same validated view of the configuration, and
//! the precedence rule (flag > environment > file > default) must live in
//! one place. Defaults are the embedded `default.toml` (shipped with the
//! binary, and kept equal to [`Config::default`] by a test); every section
//! rejects unknown keys so a typo in a config file is an error at start, not
//! a silently ignored setting.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataplane::BackendKind;

/// The embedded default configuration (`engine/src/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Default control API address: loopback, an uncommon port.
pub const DEFAULT_API_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223);

/// The whole node configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Media sockets: addresses and port range.
    pub media: MediaConfig,
    /// Worker threads and the I/O backend.
    pub dataplane: DataPlaneSection,
    /// SRTP defaults.
    pub srtp: SrtpConfig,
    /// Admission limits.
    pub limits: LimitsConfig,
    /// Call timeouts.
    pub timeouts: TimeoutsConfig,
    /// The HTTP control API.
    pub api: ApiConfig,
    /// The rtpengine-compatible ng control protocol (UDP/TCP, bencode).
    pub ng: NgConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where call state is kept beyond this node (`docs/state-store.md`).
    pub store: StoreConfig,
    /// WebRTC legs: ICE-lite and DTLS-SRTP (`docs/webrtc.md`).
    pub webrtc: WebrtcConfig,
    /// The security policy: cluster mode, devices, capability tables and
    /// the trust list (see `docs/security.md`).
    pub security: crate::policy::PolicyConfig,
}

/// `[media]`: where media sockets are bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Local addresses for media sockets, IPv4 and/or IPv6. A leg asking for
    /// a family gets the first address of that family.
    pub addresses: Vec<IpAddr>,
    /// Lowest port of the media port range (inclusive).
    pub port_min: u16,
    /// Highest port of the media port range (inclusive).
    pub port_max: u16,
    /// Plain-RTP legs: milliseconds the signalled (SDP) address must have
    /// been silent before media from another address may latch the leg
    /// (see `docs/security.md`, "RTP Bleed and latching"). 0: the first
    /// packet from anywhere latches (the signalled address still wins it
    /// back).
    pub latch_grace_ms: u64,
}

/// `[dataplane]`: workers and I/O.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataPlaneSection {
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Pin worker i to CPU i (mod the number of CPUs).
    pub pin_cpus: bool,
    /// I/O backend: `auto`, `mmsg`, `uring` or `xdp`.
    pub backend: BackendKind,
    /// Packets per batched receive/send.
    pub batch_size: usize,
    /// Load-adaptive batching: under load (at least `batch_tick_min_pps`
    /// per worker) a worker wakes at most once per this many µs, so one
    /// wake-up serves many packets; the most latency it adds. 0: wake per
    /// packet always.
    pub batch_tick_us: u64,
    /// Arrival rate per worker (packets/s) from which the tick applies; it
    /// stops below half of it.
    pub batch_tick_min_pps: u64,
    /// AF_XDP: the interface to attach to; empty: the interface that
    /// holds the first media address.
    pub xdp_interface: String,
    /// AF_XDP attach mode: `auto` (native, else generic), `native` or
    /// `generic`.
    pub xdp_attach: crate::dataplane::XdpAttach,
    /// AF_XDP: try zero-copy before copy mode.
    pub xdp_zero_copy: bool,
    /// How a worker computes the HMAC-SHA1 tags of a receive batch:
    /// `auto` (the widest engine the CPU runs), `avx512` (16 packets at
    /// once), `avx2` (8) or `single` (one at a time).
    pub srtp_mac_engine: String,
}

/// `[srtp]`: SRTP defaults for new legs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SrtpConfig {
    /// Replay window in packets (64..=32768); a leg may ask for its own.
    pub replay_window: usize,
}

/// `[limits]`: admission control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Calls at most at once; further `POST /calls` answer `call_limit`.
    pub max_calls: usize,
}

/// `[timeouts]`: when the node ends calls by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// A call with no media on any leg for this many seconds is ended and
    /// counted; 0 disables the check.
    pub no_media_secs: u64,
    /// A call older than this many seconds is ended and counted; 0 disables.
    pub max_call_secs: u64,
}

/// `[api]`: the HTTP/JSON control API.
///
/// The API can redirect any leg's media and set its keys, so who can reach
/// it matters: over TCP without TLS it must listen on loopback (where any
/// local user can use it) unless `allow_insecure_remote` says otherwise;
/// with `unix_socket` it listens only on a Unix socket whose file mode
/// decides who can use it; with TLS only call agents the trust list names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the API listens on (port 0 picks a free port). Not opened
    /// when `unix_socket` is set.
    pub listen: SocketAddr,
    /// Accept a plain-HTTP (no TLS) API on an address other than loopback.
    /// Off: such a configuration is refused at start, because anyone who
    /// can reach the address could redirect media and set keys.
    pub allow_insecure_remote: bool,
    /// Serve the API on this Unix socket instead of TCP (`listen` is then
    /// not opened): only users the file mode admits can connect. A stale
    /// socket file left by an earlier run is replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix_socket: Option<PathBuf>,
    /// The Unix socket's file mode, octal (`"0600"`: the node's user only;
    /// `"0660"`: and its group). Set before the socket accepts connections;
    /// a mode that lets other users write (connect) is refused.
    pub unix_socket_mode: String,
    /// The node's certificate (chain), PEM. With `tls_key` and
    /// `tls_client_ca` set, the API is served over TLS 1.3 and only clients
    /// the trust list names as `call-agent` are accepted; absent: plain HTTP
    /// (for loopback and trusted management networks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The node's private key (PKCS#8 PEM) for `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The node CA certificate (PEM) client certificates must chain to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
}

/// Default `[api] unix_socket_mode`: the node's user only.
pub const DEFAULT_UNIX_SOCKET_MODE: &str = "0600";

impl ApiConfig {
    /// Whether the API is to be served over TLS (all three paths set).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some() && self.tls_client_ca.is_some()
    }

    /// `unix_socket_mode` as permission bits: 1-4 octal digits, at most
    /// `0777`, and no write (connect) permission for other users.
    pub fn unix_mode(&self) -> Result<u32, String> {
        let s = self.unix_socket_mode.trim();
        let digits = s.strip_prefix("0o").unwrap_or(s);
        let mode = (!digits.is_empty() && digits.len() <= 4)
            .then(|| u32::from_str_radix(digits, 8).ok())
            .flatten()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                format!(
                    "api.unix_socket_mode {:?} is not an octal file mode such as \"0600\" or \"0660\"",
                    self.unix_socket_mode
                )
            })?;
        if mode & 0o002 != 0 {
            return Err(format!(
                "api.unix_socket_mode {:?} lets every local user connect (and so redirect media \
                 and set keys); use \"0600\" or \"0660\" and a group",
                self.unix_socket_mode
            ));
        }
        Ok(mode)
    }

    /// Whether the API is plain HTTP over TCP on an address other than
    /// loopback (refused unless `allow_insecure_remote`).
    pub fn insecure_remote(&self) -> bool {
        self.unix_socket.is_none()
            && !self.tls_enabled()
            && !self.listen.ip().to_canonical().is_loopback()
    }
}

/// Default ng listen address: UDP on loopback, port 2223 as rtpengine
/// deployments customarily use (`rtpengine_sock = "udp:127.0.0.1:2223"`).
pub const DEFAULT_NG_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223);

/// `[ng]`: the ng control protocol that Kamailio's and OpenSIPS' rtpengine
/// modules speak (see `docs/ng.md`). It has no authentication: it is off
/// unless enabled, binds loopback by default, and answers only the source
/// networks in `allow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NgConfig {
    /// Serve the ng protocol.
    pub enabled: bool,
    /// UDP address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// TCP address; absent: no TCP listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_listen: Option<SocketAddr>,
    /// Source networks (CIDR, or a bare address) whose requests are
    /// answered; requests from elsewhere are dropped and counted.
    pub allow: Vec<String>,
    /// Largest request accepted, in bytes (cookie, space and bencode).
    pub max_request_bytes: usize,
    /// Seconds a reply is kept for a retransmitted request with the same
    /// cookie (0: no cache).
    pub cookie_cache_secs: u64,
    /// Seconds a deleted call lingers (media still relayed) before it is
    /// torn down, unless the request says otherwise (`delete delay`).
    pub delete_delay_secs: u64,
    /// Bytes the reply cache may hold in all (replies, cookies and
    /// bookkeeping); the oldest replies go first.
    pub reply_cache_bytes: usize,
    /// Seconds an ng TCP connection may stay without a byte, or with a
    /// request begun and not finished, before it is closed (0: never).
    pub tcp_idle_secs: u64,
    /// ng TCP connections one source address may hold at once (of 64 in
    /// all).
    pub tcp_max_per_source: usize,
    /// SDES suites offered toward a peer, in order of preference when the
    /// other peer states none; `SDES` flags narrow the list per call.
    pub sdes_suites: Vec<String>,
    /// Media sections (`m=` lines) one call may have, 1 to 64: each takes
    /// two port pairs from the offer on, so an offer with more is refused.
    pub max_media_sections: usize,
    /// Seconds an offer may wait for its answer: a call never answered is
    /// ended this long after its first offer (re-offers do not extend it);
    /// for an answered call, sections a pending re-offer added are freed.
    /// 0 disables.
    pub offer_timeout_secs: u64,
    /// Share of each media address's port pairs that offers not answered
    /// yet may hold together, 1 to 100 %: further offers are refused
    /// ("Ran out of ports") so they never take the whole pool.
    pub max_unanswered_port_percent: u32,
}

impl Default for NgConfig {
    fn default() -> Self {
        NgConfig {
            enabled: false,
            listen: DEFAULT_NG_LISTEN,
            tcp_listen: None,
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_request_bytes: 65536,
            cookie_cache_secs: 30,
            delete_delay_secs: 0,
            reply_cache_bytes: 64 << 20,
            tcp_idle_secs: 30,
            tcp_max_per_source: 32,
            sdes_suites: [
                "AEAD_AES_256_GCM",
                "AEAD_AES_128_GCM",
                "AES_256_CM_HMAC_SHA1_80",
                "AES_256_CM_HMAC_SHA1_32",
                "AES_192_CM_HMAC_SHA1_80",
                "AES_192_CM_HMAC_SHA1_32",
                "AES_CM_128_HMAC_SHA1_80",
                "AES_CM_128_HMAC_SHA1_32",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_media_sections: 16,
            offer_timeout_secs: 60,
            max_unanswered_port_percent: 50,
        }
    }
}

/// `[webrtc]`: ICE-lite and DTLS-SRTP legs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// Offer and accept DTLS-SRTP and ICE; `false`: WebRTC offers are
    /// refused with a clear error.
    pub enabled: bool,
    /// The node certificate (PEM). With `private_key`: loaded when the
    /// files exist, else generated (ECDSA P-256) and written there, so the
    /// fingerprint stays the same across restarts and can be pinned.
    /// Unset: a fresh certificate each start.
    pub certificate: Option<PathBuf>,
    /// Its private key (PEM, written with mode 0600).
    pub private_key: Option<PathBuf>,
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        WebrtcConfig {
            enabled: true,
            certificate: None,
            private_key: None,
        }
    }
}

impl WebrtcConfig {
    fn check(&self) -> Result<(), String> {
        if self.certificate.is_some() != self.private_key.is_some() {
            return Err("webrtc.certificate and webrtc.private_key go together".into());
        }
        Ok(())
    }
}

/// `[store]`: the state store. Off unless `url` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `redis://host:port/db`; unset: no state store.
    pub url: Option<String>,
    /// Key prefix in the store (`{prefix}:calls`, `{prefix}:events`);
    /// empty: `rampart`.
    pub prefix: String,
    /// The key-encryption key file: 64 hex digits, mode 0600. Required
    /// with `url`: call state holds SRTP keys and is stored sealed.
    pub kek_file: Option<std::path::PathBuf>,
    /// The id written in records sealed with `kek_file` (rotation: a new
    /// KEK takes a new id).
    pub kek_id: u32,
    /// An earlier KEK still accepted for reading records, during a
    /// rotation.
    pub previous_kek_file: Option<std::path::PathBuf>,
    /// Its id.
    pub previous_kek_id: u32,
    /// This node's name among the nodes sharing the store (stable across
    /// restarts: a node that comes back under its name takes its calls
    /// back at once); empty: the host name.
    pub node_id: String,
    /// `active` (takes new calls and adopts the calls of nodes that died)
    /// or `standby` (only adopts).
    pub role: HaRole,
    /// How often the node writes its heartbeat, ms.
    pub heartbeat_ms: u64,
    /// A node whose heartbeat has not moved for this long (seen while
    /// connected to the store the whole time) is dead, and its calls are
    /// adopted, ms.
    pub dead_after_ms: u64,
    /// How often media checkpoints (ROC, highest indexes, SRTCP index) are
    /// read from the workers and written when they changed, ms.
    pub checkpoint_ms: u64,
}

/// A node's part in a set of nodes sharing a store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaRole {
    /// Takes new calls; adopts the calls of dead nodes.
    #[default]
    Active,
    /// Refuses new calls; adopts the calls of dead nodes.
    Standby,
}

impl HaRole {
    /// The name in config, `/health` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HaRole::Active => "active",
            HaRole::Standby => "standby",
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            prefix: "rampart".into(),
            kek_file: None,
            kek_id: 1,
            previous_kek_file: None,
            previous_kek_id: 0,
            node_id: String::new(),
            role: HaRole::Active,
            heartbeat_ms: 250,
            dead_after_ms: 1500,
            checkpoint_ms: 1000,
        }
    }
}

impl StoreConfig {
    fn check(&self) -> Result<(), String> {
        if self.url.is_some() && self.kek_file.is_none() {
            return Err(
                "store.url needs store.kek_file: call state holds SRTP keys and is \
                        stored sealed under a key-encryption key"
                    .into(),
            );
        }
        if self.previous_kek_file.is_some() && self.previous_kek_id == self.kek_id {
            return Err("store.previous_kek_id must differ from store.kek_id".into());
        }
        if self.heartbeat_ms == 0 || self.dead_after_ms < 2 * self.heartbeat_ms {
            return Err(
                "store.heartbeat_ms must be > 0 and store.dead_after_ms at least twice it".into(),
            );
        }
        if self.checkpoint_ms == 0 {
            return Err("store.checkpoint_ms must be > 0".into());
        }
        Ok(())
    }
}

/// `[log]`: logging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: `error`, `warn`, `info`, `debug`, `trace`, or a
    /// directive list such as `rampart=debug,info`. `RUST_LOG` wins if set.
    pub level: String,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            port_min: 30000,
            port_max: 39999,
            latch_grace_ms: crate::dataplane::DEFAULT_LATCH_GRACE_MS,
        }
    }
}

impl Default for DataPlaneSection {
    fn default() -> Self {
        DataPlaneSection {
            workers: 0,
            pin_cpus: false,
            backend: BackendKind::Auto,
            batch_size: 32,
            batch_tick_us: 0,
            batch_tick_min_pps: 20_000,
            xdp_interface: String::new(),
            xdp_attach: crate::dataplane::XdpAttach::Auto,
            xdp_zero_copy: true,
            srtp_mac_engine: "auto".into(),
        }
    }
}

impl Default for SrtpConfig {
    fn default() -> Self {
        SrtpConfig { replay_window: 128 }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_calls: 10_000 }
    }
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            no_media_secs: 60,
            max_call_secs: 14_400,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: DEFAULT_API_LISTEN,
            allow_insecure_remote: false,
            unix_socket: None,
            unix_socket_mode: DEFAULT_UNIX_SOCKET_MODE.to_string(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
        }
    }
}

/// Why a configuration could not be loaded or is unusable.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    Parse {
        /// Where the text came from (a path, or `embedded default`).
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The values parse but do not make a working node.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read { path, source } => write!(f, "cannot read {path}: {source}"),
            ConfigError::Parse { origin, message } => {
                write!(f, "invalid configuration in {origin}: {message}")
            }
            ConfigError::Invalid(m) => write!(f, "invalid configuration: {m}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Config {
    /// Parses TOML text; keys left out take their defaults, unknown keys are
    /// an error naming the key.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// The embedded default configuration.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::from_toml_str(DEFAULT_TOML, "embedded default configuration")
    }

    /// Worker count with 0 resolved to the number of available cores.
    pub fn effective_workers(&self) -> usize {
        if self.dataplane.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.dataplane.workers
        }
    }

    /// Checks the values that parse but cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(ConfigError::Invalid)
    }

    /// [`validate`](Self::validate), section by section in file order; the
    /// first problem found, as the message to show.
    fn check(&self) -> Result<(), String> {
        self.media.check()?;
        self.dataplane.check()?;
        let w = self.srtp.replay_window;
        if !(crate::srtp::MIN_REPLAY_WINDOW..=crate::srtp::MAX_REPLAY_WINDOW).contains(&w) {
            return Err(format!(
                "srtp.replay_window ({w}) must be {}..={}",
                crate::srtp::MIN_REPLAY_WINDOW,
                crate::srtp::MAX_REPLAY_WINDOW
            ));
        }
        if self.limits.max_calls == 0 {
            return Err("limits.max_calls must be at least 1".into());
        }
        if self.log.level.trim().is_empty() {
            return Err("log.level is empty".into());
        }
        self.ng.check()?;
        self.store.check()?;
        self.webrtc.check()?;
        self.api.check()?;
        if self.api.tls_enabled() && self.security.trust_list.is_none() {
            return Err(
                "api.tls_* is set but [security] trust_list is not: the trust list names the \
                 call agents allowed on the control channel"
                    .into(),
            );
        }
        if let Err(e) = crate::policy::Policy::from_config(&self.security) {
            return Err(format!("security: {e}"));
        }
        Ok(())
    }
}

impl MediaConfig {
    /// The `[media]` checks: addresses, and a port range that holds pairs.
    fn check(&self) -> Result<(), String> {
        if self.addresses.is_empty() {
            return Err("media.addresses is empty: give at least one address".into());
        }
        if self.port_min == 0 || self.port_min > self.port_max {
            return Err(format!(
                "media.port_min ({}) must be at least 1 and not above media.port_max ({})",
                self.port_min, self.port_max
            ));
        }
        // At least one even port with its odd neighbour inside the range
        // (checked: port_min 65535 has no even port above it).
        let first_even = self.port_min.checked_add(self.port_min % 2);
        if first_even.is_none_or(|p| p >= self.port_max) {
            return Err(format!(
                "media port range {}-{} holds no even/odd port pair",
                self.port_min, self.port_max
            ));
        }
        Ok(())
    }
}

impl DataPlaneSection {
    /// The `[dataplane]` checks: batch size and tick.
    fn check(&self) -> Result<(), String> {
        if self.batch_size == 0 || self.batch_size > 1024 {
            return Err(format!(
                "dataplane.batch_size ({}) must be 1..=1024",
                self.batch_size
            ));
        }
        if self.batch_tick_us > 10_000 {
            return Err(format!(
                "dataplane.batch_tick_us ({}) must be 0..=10000 (it is the latency a tick may add)",
                self.batch_tick_us
            ));
        }
        self.mac_engine()?;
        Ok(())
    }

    /// The HMAC-SHA1 engine `srtp_mac_engine` names (`None`: auto), or why
    /// it cannot run here.
    pub fn mac_engine(&self) -> Result<Option<crate::srtp::MacEngine>, String> {
        let name = self.srtp_mac_engine.as_str();
        if name == "auto" {
            return Ok(None);
        }
        match crate::srtp::MacEngine::parse(name) {
            Some(e) if e.available() => Ok(Some(e)),
            Some(e) => Err(format!(
                "dataplane.srtp_mac_engine = {name:?}: this CPU lacks the instructions of {}",
                e.name()
            )),
            None => Err(format!(
                "dataplane.srtp_mac_engine = {name:?}: must be auto, avx512, avx2 or single"
            )),
        }
    }
}

impl NgConfig {
    /// The `[ng]` checks: the allow list, request and connection bounds,
    /// SDES suites and negotiation limits.
    fn check(&self) -> Result<(), String> {
        for a in &self.allow {
            if let Err(e) = crate::cidr::Cidr::parse(a) {
                return Err(format!("ng.allow: {e}"));
            }
        }
        if self.enabled && self.allow.is_empty() {
            return Err("ng.allow is empty: no switch could use the ng protocol".into());
        }
        if !(512..=1 << 20).contains(&self.max_request_bytes) {
            return Err(format!(
                "ng.max_request_bytes ({}) must be 512..=1048576",
                self.max_request_bytes
            ));
        }
        if !(1..=64).contains(&self.tcp_max_per_source) {
            return Err(format!(
                "ng.tcp_max_per_source ({}) must be 1..=64",
                self.tcp_max_per_source
            ));
        }
        if self.sdes_suites.is_empty() {
            return Err("ng.sdes_suites is empty".into());
        }
        for s in &self.sdes_suites {
            if crate::srtp::Suite::from_name(s).is_err() {
                return Err(format!("ng.sdes_suites: unknown suite {s:?}"));
            }
        }
        if !(1..=crate::control::sdp::MAX_MEDIA).contains(&self.max_media_sections) {
            return Err(format!(
                "ng.max_media_sections ({}) must be 1..={}",
                self.max_media_sections,
                crate::control::sdp::MAX_MEDIA
            ));
        }
        if !(1..=100).contains(&self.max_unanswered_port_percent) {
            return Err(format!(
                "ng.max_unanswered_port_percent ({}) must be 1..=100",
                self.max_unanswered_port_percent
            ));
        }
        Ok(())
    }
}

impl ApiConfig {
    /// The `[api]` checks: TLS all or nothing, the Unix socket, and no
    /// unauthenticated API on a remote address unless accepted.
    fn check(&self) -> Result<(), String> {
        let tls_set = [&self.tls_cert, &self.tls_key, &self.tls_client_ca]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if tls_set != 0 && tls_set != 3 {
            return Err(
                "api.tls_cert, api.tls_key and api.tls_client_ca go together: set all three \
                 (TLS with client certificates) or none (plain HTTP)"
                    .into(),
            );
        }
        if self.unix_socket.is_some() && tls_set != 0 {
            return Err(
                "api.unix_socket and api.tls_* are exclusive: the Unix socket is guarded by its \
                 file mode, TLS by client certificates over TCP; set one"
                    .into(),
            );
        }
        if let Some(p) = &self.unix_socket {
            if p.as_os_str().is_empty() || p.file_name().is_none() {
                return Err(format!("api.unix_socket {:?} names no file", p.display()));
            }
        }
        self.unix_mode()?;
        if self.insecure_remote() && !self.allow_insecure_remote {
            return Err(format!(
                "api.listen {} is not a loopback address and the API has no TLS: anyone who can \
                 reach it could redirect media and set SRTP keys. Listen on loopback, use \
                 api.unix_socket, configure api.tls_cert/tls_key/tls_client_ca, or accept the \
                 risk with api.allow_insecure_remote = true (--allow-insecure-http)",
                self.listen
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_keeps_the_io_error_as_its_source() {
        use std::error::Error as _;
        let e = Config::from_file(Path::new("/nonexistent/rampart.toml")).unwrap_err();
        let io = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the I/O error is the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn embedded_default_equals_default() {
        let c = Config::embedded_default().unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../rampart.example.toml");
        let c = Config::from_toml_str(text, "rampart.example.toml").unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = Config::from_toml_str("[media]\nport_mni = 1\n", "t").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("port_mni"), "{msg}");
        let e = Config::from_toml_str("[medias]\n", "t").unwrap_err();
        assert!(e.to_string().contains("medias"), "{e}");
    }

    #[test]
    fn srtp_mac_engine_names_an_engine_this_cpu_runs() {
        let check = |name: &str| {
            let text = format!("[dataplane]\nsrtp_mac_engine = {name:?}\n");
            let c = Config::from_toml_str(&text, "t").unwrap();
            c.validate().map(|()| c.dataplane.mac_engine().unwrap())
        };
        assert_eq!(check("auto").unwrap(), None);
        for e in crate::srtp::MacEngine::ALL {
            match check(e.name()) {
                Ok(got) => assert_eq!(got, Some(e)),
                Err(msg) => {
                    assert!(!e.available(), "{msg}");
                    assert!(msg.to_string().contains("lacks"), "{msg}");
                }
            }
        }
        let msg = check("fastest").unwrap_err().to_string();
        assert!(
            msg.contains("must be auto, avx512, avx2 or single"),
            "{msg}"
        );
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = Config::from_toml_str("[limits]\nmax_calls = 3\n", "t").unwrap();
        assert_eq!(c.limits.max_calls, 3);
        assert_eq!(c.media, MediaConfig::default());
    }

    #[test]
    fn plain_http_api_off_loopback_needs_the_explicit_flag() {
        let refused = |listen: &str| {
            let mut c = Config::default();
            c.api.listen = listen.parse().unwrap();
            c.validate().err().map(|e| e.to_string())
        };
        for off in [
            "0.0.0.0:2223",
            "192.0.2.1:2223",
            "[::]:2223",
            "[2001:db8::1]:80",
        ] {
            let e = refused(off).unwrap_or_else(|| panic!("{off} accepted"));
            assert!(e.contains("is not a loopback address"), "{e}");
        }
        for lo in [
            "127.0.0.1:0",
            "127.1.2.3:2223",
            "[::1]:2223",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(refused(lo), None, "{lo}");
        }
        let mut c = Config::default();
        c.api.listen = "0.0.0.0:2223".parse().unwrap();
        c.api.allow_insecure_remote = true;
        c.validate().unwrap();
        // On a Unix socket the TCP address is not opened at all.
        c.api.allow_insecure_remote = false;
        c.api.unix_socket = Some("/run/rampart/api.sock".into());
        c.validate().unwrap();
    }

    #[test]
    fn unix_socket_mode_is_octal_and_never_world_writable() {
        let mode = |m: &str| {
            ApiConfig {
                unix_socket_mode: m.into(),
                ..ApiConfig::default()
            }
            .unix_mode()
        };
        assert_eq!(mode("0600"), Ok(0o600));
        assert_eq!(mode("660"), Ok(0o660));
        assert_eq!(mode("0o640"), Ok(0o640));
        for bad in [
            "",
            "0666",
            "0777",
            "0602",
            "999",
            "01000",
            "rw-------",
            "0o",
        ] {
            assert!(mode(bad).is_err(), "{bad:?} accepted");
        }
        let mut c = Config::default();
        c.api.unix_socket = Some("/run/rampart/api.sock".into());
        c.api.tls_cert = Some("a".into());
        c.api.tls_key = Some("b".into());
        c.api.tls_client_ca = Some("c".into());
        assert!(c.validate().unwrap_err().to_string().contains("exclusive"));
    }

    #[test]
    fn bad_range_is_invalid() {
        let mut c = Config::default();
        c.media.port_min = 5001;
        c.media.port_max = 5001;
        assert!(c.validate().is_err());
    }

    #[test]
    fn port_range_at_the_top_of_u16_is_refused_not_wrapped() {
        let mut c = Config::default();
        for (min, max) in [(65535, 65535), (65533, 65534), (0, 0), (40000, 30000)] {
            c.media.port_min = min;
            c.media.port_max = max;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("port"), "{min}-{max}: {e}");
        }
        // The highest usable pair.
        c.media.port_min = 65534;
        c.media.port_max = 65535;
        c.validate().unwrap();
    }
}
