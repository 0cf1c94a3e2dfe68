//! The `rampart` binary: `rampart run` starts a media node.
//!
//! Why so thin: everything a node does lives in the library
//! (`rampart::control::Node`), so the integration tests start the very same
//! node in-process. The binary only merges the configuration (flag >
//! `RAMPART_*` environment > file > embedded default), sets up logging,
//! prints where the node listens, and waits for SIGINT/SIGTERM to stop it
//! gracefully (exit 0).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rampart::config::Config;
use rampart::control::Node;
use rampart::dataplane::BackendKind;

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
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    match s {
        "auto" => Ok(BackendKind::Auto),
        "mmsg" => Ok(BackendKind::Mmsg),
        "uring" => Ok(BackendKind::Uring),
        _ => Err(format!("unknown backend {s:?}: use auto, mmsg or uring")),
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
    /// I/O backend: auto, mmsg or uring.
    #[arg(long, env = "RAMPART_BACKEND", value_parser = parse_backend)]
    backend: Option<BackendKind>,
    /// Packets per I/O batch.
    #[arg(long, env = "RAMPART_BATCH_SIZE")]
    batch_size: Option<usize>,
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
        if let Some(v) = self.batch_size {
            c.dataplane.batch_size = v;
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
            let info = node.info().clone();
            let backend = serde_json::to_value(info.backend)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", info.backend));
            println!(
                "rampart {} running: media {} ports {}; API http://{}; {} workers; backend {}",
                env!("CARGO_PKG_VERSION"),
                media.join(","),
                ports,
                info.api_addr,
                info.workers,
                backend
            );
            let sig = node.wait_for_signal();
            tracing::info!(signal = sig, "signal received; shutting down");
            node.shutdown();
            ExitCode::SUCCESS
        }
    }
}
