//! The `rampart` binary: `rampart run` starts a media node; `rampart ctl`
//! and `rampart capf` manage the trust plane (security tokens, the signed
//! Certificate Trust List, the node CA).
//!
//! Why so thin: everything a node does lives in the library
//! (`rampart::control::Node`), so the integration tests start the very same
//! node in-process. The binary only merges the configuration (flag >
//! `RAMPART_*` environment > file > embedded default), sets up logging,
//! prints where the node listens, and waits for SIGINT/SIGTERM to stop it
//! gracefully (exit 0); SIGHUP reloads the trust list and the node runs on.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rampart::config::Config;
use rampart::control::Node;
use rampart::dataplane::BackendKind;
use rampart::trust::{
    load_ctl, sign_payload, verify_ctl, CtlPayload, CtlSource, IssueRequest, NodeCa, Role,
    SignedCtl, TokenAlg, TokenKey, TrustError,
};

/// Rampart: an SRTP media relay.
#[derive(Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a media node (embedded defaults unless --config is given).
    Run(RunArgs),
    /// Check a configuration file and print the effective configuration.
    CheckConfig(RunArgs),
    /// Certificate Trust List: security tokens, signing, verification.
    #[command(subcommand)]
    Ctl(CtlCommand),
    /// Node CA (CAPF): create the CA, issue locally significant certificates.
    #[command(subcommand)]
    Capf(CapfCommand),
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Create a security token: DIR/ID.key (PKCS#8, mode 0600) and DIR/ID.pub.
    TokenNew {
        /// Directory to write the key files into.
        #[arg(long)]
        out: PathBuf,
        /// Token id (1-64 of A-Z a-z 0-9 . _ -).
        #[arg(long)]
        id: String,
        /// Signature algorithm: ed25519 or ecdsa-p256.
        #[arg(long, default_value = "ed25519", value_parser = parse_alg)]
        alg: TokenAlg,
    },
    /// Sign a trust-list payload (TOML) with a token into a trust list file.
    Sign {
        /// Payload source: version, [[entries]], [[tokens]] (see docs/security.md).
        #[arg(long)]
        payload: PathBuf,
        /// The signing token's private key (DIR/ID.key).
        #[arg(long)]
        token: PathBuf,
        /// Trust list file to write (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a trust list; with --state, also check and record its version
    /// against rollback.
    Verify {
        /// The trust list file.
        file: PathBuf,
        /// State file of the last accepted version (created if missing).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Print a trust list's contents and whether its signature verifies.
    Show {
        /// The trust list file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CapfCommand {
    /// Create the node CA: DIR/ca.crt and DIR/ca.key (mode 0600).
    CaNew {
        /// Directory for the CA files.
        #[arg(long)]
        out: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "Rampart node CA")]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a certificate from the node CA: OUT/NAME.crt and OUT/NAME.key (0600).
    Issue {
        /// The CA directory (ca.crt, ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// Common name (also the DNS/IP SAN and the file name).
        #[arg(long)]
        name: String,
        /// Role: call-agent, tftp, capf or media-node.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Directory for the certificate and key.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

fn parse_alg(s: &str) -> Result<TokenAlg, String> {
    TokenAlg::parse(s).ok_or_else(|| format!("unknown algorithm {s:?}: use ed25519 or ecdsa-p256"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("unknown role {s:?}: use call-agent, tftp, capf or media-node"))
}

fn unix_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn ctl_summary(ctl: &rampart::trust::Ctl) -> String {
    format!(
        "trust list version {} signed by token {:?}: {} entries, {} tokens",
        ctl.version,
        ctl.signer,
        ctl.entries.len(),
        ctl.tokens.len()
    )
}

fn run_ctl(cmd: CtlCommand) -> Result<(), TrustError> {
    use rampart::trust::ctl::unix_now;
    match cmd {
        CtlCommand::TokenNew { out, id, alg } => {
            let key = TokenKey::generate(&id, alg)?;
            let (k, p) = key.save(&out)?;
            println!(
                "token {id} ({alg}): private key {} (mode 0600), public key {}",
                k.display(),
                p.display()
            );
        }
        CtlCommand::Sign {
            payload,
            token,
            out,
        } => {
            let now = unix_now();
            let p = CtlSource::load(&payload, now.max(0) as u64)?;
            let key = TokenKey::load(&token)?;
            let signed = sign_payload(&p, &key)?;
            let text = signed.to_json();
            // Never publish a list a node would refuse.
            let ctl = verify_ctl(&text, None, now)?;
            rampart::trust::secret::write_public(&out, text.as_bytes(), true)?;
            println!("{}: {}", out.display(), ctl_summary(&ctl));
        }
        CtlCommand::Verify { file, state } => match state {
            Some(s) => {
                let ctl = load_ctl(&file, Some(&s))?;
                println!(
                    "OK: {}; version recorded in {}",
                    ctl_summary(&ctl),
                    s.display()
                );
            }
            None => {
                let text = std::fs::read_to_string(&file).map_err(|e| TrustError::Io {
                    path: file.clone(),
                    source: e,
                })?;
                let ctl = verify_ctl(&text, None, unix_now())?;
                println!(
                    "OK: {} (no --state: rollback not checked)",
                    ctl_summary(&ctl)
                );
            }
        },
        CtlCommand::Show { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| TrustError::Io {
                path: file.clone(),
                source: e,
            })?;
            let signed: SignedCtl =
                serde_json::from_str(&text).map_err(|e| TrustError::Malformed(e.to_string()))?;
            let p: CtlPayload = serde_json::from_str(&signed.payload)
                .map_err(|e| TrustError::Malformed(format!("payload: {e}")))?;
            println!("format:    {}", signed.format);
            println!("version:   {}", p.version);
            println!("issued at: {}", unix_time(p.issued_at as i64));
            println!(
                "signed by: {} ({})",
                signed.signature.token, signed.signature.algorithm
            );
            println!("tokens:");
            for t in &p.tokens {
                println!("  {} {} {}", t.id, t.algorithm, t.public_key);
            }
            println!("entries:");
            for e in &p.entries {
                let fp = match &e.cert_pem {
                    Some(pem) => rampart::trust::secret::pem_decode(pem, "CERTIFICATE")
                        .map(|d| rampart::trust::secret::hex(&rampart::trust::secret::sha256(&d)))
                        .unwrap_or_else(|e| format!("(bad certificate: {e})")),
                    None => e.sha256.clone().unwrap_or_default(),
                };
                let kind = if e.cert_pem.is_some() {
                    "cert"
                } else {
                    "fingerprint"
                };
                println!("  {:<10} {:?} sha256 {} ({})", e.role, e.subject, fp, kind);
            }
            match verify_ctl(&text, None, unix_now()) {
                Ok(_) => println!("signature: valid"),
                Err(e) => println!("signature: INVALID: {e}"),
            }
        }
    }
    Ok(())
}

fn run_capf(cmd: CapfCommand) -> Result<(), TrustError> {
    match cmd {
        CapfCommand::CaNew { out, name, days } => {
            let ca = NodeCa::create_in(&out, &name, days)?;
            let fp = rampart::trust::secret::hex(&rampart::trust::secret::sha256(ca.cert_der()));
            println!(
                "node CA {name:?}: {} and {} (mode 0600); sha256 {fp}",
                out.join(rampart::trust::capf::CA_CERT_FILE).display(),
                out.join(rampart::trust::capf::CA_KEY_FILE).display()
            );
        }
        CapfCommand::Issue {
            ca,
            name,
            role,
            out,
            days,
        } => {
            let ca = NodeCa::load(&ca)?;
            let req = IssueRequest::for_days(&name, role, days);
            let (issued, crt, key) = ca.issue_to_dir(&req, &out)?;
            println!(
                "{name} ({role}): {} and {} (mode 0600); sha256 {}",
                crt.display(),
                key.display(),
                rampart::trust::secret::hex(&issued.sha256)
            );
        }
    }
    Ok(())
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    match s {
        "auto" => Ok(BackendKind::Auto),
        "mmsg" => Ok(BackendKind::Mmsg),
        "uring" => Ok(BackendKind::Uring),
        "xdp" => Ok(BackendKind::Xdp),
        _ => Err(format!(
            "unknown backend {s:?}: use auto, mmsg, uring or xdp"
        )),
    }
}

fn parse_ha_role(s: &str) -> Result<rampart::config::HaRole, String> {
    match s {
        "active" => Ok(rampart::config::HaRole::Active),
        "standby" => Ok(rampart::config::HaRole::Standby),
        _ => Err(format!("unknown role {s:?}: use active or standby")),
    }
}

fn parse_xdp_attach(s: &str) -> Result<rampart::dataplane::XdpAttach, String> {
    use rampart::dataplane::XdpAttach;
    match s {
        "auto" => Ok(XdpAttach::Auto),
        "native" => Ok(XdpAttach::Native),
        "generic" => Ok(XdpAttach::Generic),
        _ => Err(format!(
            "unknown XDP attach mode {s:?}: use auto, native or generic"
        )),
    }
}

/// Overrides of the configuration file; each has a `RAMPART_*` variable.
#[derive(clap::Args)]
struct RunArgs {
    /// TOML configuration file (see rampart.example.toml).
    #[arg(long, short = 'c', env = "RAMPART_CONFIG")]
    config: Option<PathBuf>,
    /// Media address (repeatable; IPv4 and/or IPv6).
    #[arg(
        long = "media-address",
        env = "RAMPART_MEDIA_ADDRESSES",
        value_delimiter = ','
    )]
    media_addresses: Vec<IpAddr>,
    /// Lowest media port.
    #[arg(long, env = "RAMPART_PORT_MIN")]
    port_min: Option<u16>,
    /// Highest media port.
    #[arg(long, env = "RAMPART_PORT_MAX")]
    port_max: Option<u16>,
    /// Worker threads (0 = one per core).
    #[arg(long, env = "RAMPART_WORKERS")]
    workers: Option<usize>,
    /// Pin workers to CPUs.
    #[arg(long, env = "RAMPART_PIN_CPUS", num_args = 0..=1, default_missing_value = "true")]
    pin_cpus: Option<bool>,
    /// I/O backend: auto, mmsg, uring or xdp.
    #[arg(long, env = "RAMPART_BACKEND", value_parser = parse_backend)]
    backend: Option<BackendKind>,
    /// AF_XDP: the interface to attach to (default: the one holding the
    /// first media address).
    #[arg(long, env = "RAMPART_XDP_INTERFACE")]
    xdp_interface: Option<String>,
    /// The state store, `redis://host:port/db` (docs/state-store.md).
    #[arg(long, env = "RAMPART_STORE")]
    store: Option<String>,
    /// The state store's key-encryption key file (64 hex digits, 0600).
    #[arg(long, env = "RAMPART_STORE_KEK_FILE")]
    store_kek_file: Option<std::path::PathBuf>,
    /// This node's name among the nodes sharing the store (default: the
    /// host name).
    #[arg(long, env = "RAMPART_NODE_ID")]
    node_id: Option<String>,
    /// active (takes new calls) or standby (only adopts calls of dead
    /// nodes).
    #[arg(long, env = "RAMPART_ROLE", value_parser = parse_ha_role)]
    role: Option<rampart::config::HaRole>,
    /// AF_XDP attach mode: auto, native or generic.
    #[arg(long, env = "RAMPART_XDP_ATTACH", value_parser = parse_xdp_attach)]
    xdp_attach: Option<rampart::dataplane::XdpAttach>,
    /// Packets per I/O batch.
    #[arg(long, env = "RAMPART_BATCH_SIZE")]
    batch_size: Option<usize>,
    /// Load-adaptive batching: under load, wake at most once per this many
    /// µs (0 = wake per packet).
    #[arg(long, env = "RAMPART_BATCH_TICK_US")]
    batch_tick_us: Option<u64>,
    /// HMAC-SHA1 engine of the batch crypto: auto, avx512, avx2 or single.
    #[arg(long, env = "RAMPART_SRTP_MAC_ENGINE")]
    srtp_mac_engine: Option<String>,
    /// Default SRTP replay window (packets).
    #[arg(long, env = "RAMPART_REPLAY_WINDOW")]
    replay_window: Option<usize>,
    /// Maximum concurrent calls.
    #[arg(long, env = "RAMPART_MAX_CALLS")]
    max_calls: Option<usize>,
    /// Seconds without media before a call is ended (0 = never).
    #[arg(long, env = "RAMPART_NO_MEDIA_TIMEOUT")]
    no_media_timeout: Option<u64>,
    /// Maximum call duration in seconds (0 = none).
    #[arg(long, env = "RAMPART_MAX_CALL_DURATION")]
    max_call_duration: Option<u64>,
    /// HTTP control API address (port 0 picks a free port).
    #[arg(long, env = "RAMPART_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Accept a plain-HTTP API (no TLS) on a non-loopback address
    /// (otherwise refused: anyone who can reach it can redirect media).
    #[arg(long, env = "RAMPART_ALLOW_INSECURE_HTTP", num_args = 0..=1, default_missing_value = "true")]
    allow_insecure_http: Option<bool>,
    /// Serve the HTTP API on this Unix socket instead of TCP.
    #[arg(long, env = "RAMPART_HTTP_UNIX_SOCKET")]
    http_unix_socket: Option<PathBuf>,
    /// Serve the ng protocol (rtpengine-compatible; no authentication).
    #[arg(long, env = "RAMPART_NG_ENABLE", num_args = 0..=1, default_missing_value = "true")]
    ng_enable: Option<bool>,
    /// ng UDP address (port 0 picks a free port); needs --ng-enable.
    #[arg(long, env = "RAMPART_NG_LISTEN_UDP")]
    ng_listen_udp: Option<SocketAddr>,
    /// ng TCP address (off unless given here or in the file); needs --ng-enable.
    #[arg(long, env = "RAMPART_NG_LISTEN_TCP")]
    ng_listen_tcp: Option<SocketAddr>,
    /// Log filter (error, warn, info, debug, trace or directives).
    #[arg(long, env = "RAMPART_LOG_LEVEL")]
    log_level: Option<String>,
}

impl RunArgs {
    fn config(&self) -> Result<Config, rampart::config::ConfigError> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::embedded_default()?,
        };
        if !self.media_addresses.is_empty() {
            c.media.addresses = self.media_addresses.clone();
        }
        if let Some(v) = self.port_min {
            c.media.port_min = v;
        }
        if let Some(v) = self.port_max {
            c.media.port_max = v;
        }
        if let Some(v) = self.workers {
            c.dataplane.workers = v;
        }
        if let Some(v) = self.pin_cpus {
            c.dataplane.pin_cpus = v;
        }
        if let Some(v) = self.backend {
            c.dataplane.backend = v;
        }
        if let Some(v) = self.xdp_interface.clone() {
            c.dataplane.xdp_interface = v;
        }
        if let Some(v) = self.store.clone() {
            c.store.url = Some(v);
        }
        if let Some(v) = self.store_kek_file.clone() {
            c.store.kek_file = Some(v);
        }
        if let Some(v) = self.node_id.clone() {
            c.store.node_id = v;
        }
        if let Some(v) = self.role {
            c.store.role = v;
        }
        if let Some(v) = self.xdp_attach {
            c.dataplane.xdp_attach = v;
        }
        if let Some(v) = self.batch_size {
            c.dataplane.batch_size = v;
        }
        if let Some(v) = &self.srtp_mac_engine {
            c.dataplane.srtp_mac_engine = v.clone();
        }
        if let Some(v) = self.batch_tick_us {
            c.dataplane.batch_tick_us = v;
        }
        if let Some(v) = self.replay_window {
            c.srtp.replay_window = v;
        }
        if let Some(v) = self.max_calls {
            c.limits.max_calls = v;
        }
        if let Some(v) = self.no_media_timeout {
            c.timeouts.no_media_secs = v;
        }
        if let Some(v) = self.max_call_duration {
            c.timeouts.max_call_secs = v;
        }
        if let Some(v) = self.http_listen {
            c.api.listen = v;
        }
        if let Some(v) = self.allow_insecure_http {
            c.api.allow_insecure_remote = v;
        }
        if let Some(v) = &self.http_unix_socket {
            c.api.unix_socket = Some(v.clone());
        }
        if let Some(v) = self.ng_enable {
            c.ng.enabled = v;
        }
        if let Some(v) = self.ng_listen_udp {
            c.ng.listen = v;
        }
        if let Some(v) = self.ng_listen_tcp {
            c.ng.tcp_listen = Some(v);
        }
        if let Some(v) = &self.log_level {
            c.log.level = v.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| {
            eprintln!("rampart: invalid log level {level:?}; using info");
            EnvFilter::new("info")
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ctl(cmd) => match run_ctl(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rampart: {e}");
                ExitCode::from(1)
            }
        },
        Command::Capf(cmd) => match run_capf(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rampart: {e}");
                ExitCode::from(1)
            }
        },
        Command::CheckConfig(args) => match args.config() {
            Ok(c) => {
                match toml::to_string_pretty(&c) {
                    Ok(t) => print!("{t}"),
                    Err(e) => eprintln!("rampart: cannot print the configuration: {e}"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rampart: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => {
            let config = match args.config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("rampart: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log.level);
            if config.api.insecure_remote() {
                eprintln!(
                    "rampart: WARNING: the HTTP API listens on {} in plain HTTP without \
                     authentication (allow_insecure_remote): anyone who can reach it can \
                     redirect media and set SRTP keys",
                    config.api.listen
                );
            }
            let media: Vec<String> = config
                .media
                .addresses
                .iter()
                .map(|a| a.to_string())
                .collect();
            let ports = format!("{}-{}", config.media.port_min, config.media.port_max);
            let node = match Node::start(config) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "node failed to start");
                    eprintln!("rampart: {e}");
                    return ExitCode::from(1);
                }
            };
            // Watch SIGINT/SIGTERM before the start line says the node runs:
            // a signal sent as soon as it is read must stop the node cleanly.
            let signals = node.watch_signals();
            let info = node.info().clone();
            let backend = serde_json::to_value(info.backend)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", info.backend));
            let mut ng = Vec::new();
            if let Some(a) = info.ng.udp {
                ng.push(format!("udp:{a}"));
            }
            if let Some(a) = info.ng.tcp {
                ng.push(format!("tcp:{a}"));
            }
            let ng = if ng.is_empty() {
                String::new()
            } else {
                format!("; ng {}", ng.join(" "))
            };
            let api = match &info.api_unix {
                Some(p) => format!("unix:{}", p.display()),
                None => format!("http://{}", info.api_addr),
            };
            println!(
                "rampart {} running: media {} ports {}; API {}; {} workers; backend {} [{}]{}",
                env!("CARGO_PKG_VERSION"),
                media.join(","),
                ports,
                api,
                info.workers,
                backend,
                info.backend_detail,
                ng
            );
            let sig = node.wait_for_watched_signal(signals);
            tracing::info!(signal = sig, "signal received; shutting down");
            node.shutdown();
            ExitCode::SUCCESS
        }
    }
}
