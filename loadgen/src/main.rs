//! `rampart-loadgen run --target rampart-http=127.0.0.1:2223 --calls 100 ...`

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rampart_loadgen::payload::Profile;
use rampart_loadgen::{report, runner, sys, target, Report, RunConfig, StepConfig, TargetSpec};

#[derive(Parser)]
#[command(
    name = "rampart-loadgen",
    version,
    about = "Drives real SRTP calls through a media relay and reports what arrived"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up calls on the target, play them, report, tear them down.
    Run(Box<RunArgs>),
    /// Print one markdown table over JSON reports of `run` (single runs),
    /// with a ratio row (rtpengine/ng over Rampart CPU-µs per packet) for
    /// each call count measured on both.
    Table {
        /// JSON reports written by `run --json`.
        files: Vec<PathBuf>,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// Control interface: rampart-http=IP:PORT (Rampart's HTTP API) or
    /// ng=IP:PORT (ng protocol, rtpengine).
    #[arg(long)]
    target: TargetSpec,
    /// Name of the target in tables (default: its kind).
    #[arg(long)]
    label: Option<String>,
    /// Concurrent calls (two legs each, media both ways).
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Seconds of media per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media profile (g711: 160-byte payload every 20 ms).
    #[arg(long, default_value = "g711")]
    profile: String,
    /// Target process id, for CPU-µs per relayed packet.
    #[arg(long)]
    pid: Option<u32>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Player threads (each with its own pair of sockets).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Milliseconds to keep receiving after the last send.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
    /// Packets per sendmmsg/recvmmsg.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Send slot length in µs: a player sleeps at least this long between
    /// turns (receive times come from kernel timestamps, so this does not
    /// blur latency).
    #[arg(long, default_value_t = 200)]
    tick_us: u64,
    /// Address the phones bind to and announce.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// Allow a non-loopback target, local address or relay media address.
    #[arg(long)]
    allow_remote: bool,
    /// Increase calls until loss exceeds --loss-threshold; report the highest
    /// call count under it.
    #[arg(long)]
    step_search: bool,
    /// Loss threshold for --step-search, percent.
    #[arg(long, default_value_t = 0.1)]
    loss_threshold: f64,
    /// First call count of the step search (default: --calls).
    #[arg(long)]
    step_start: Option<usize>,
    /// Highest call count the step search tries.
    #[arg(long, default_value_t = 20_000)]
    step_max: usize,
    /// Growth factor between passing steps.
    #[arg(long, default_value_t = 2.0)]
    step_factor: f64,
    /// Most runs of the step search.
    #[arg(long, default_value_t = 8)]
    max_steps: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => match run(*a) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("rampart-loadgen: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Table { files } => {
            let mut reports = Vec::new();
            for f in files {
                let r = std::fs::read_to_string(&f)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
                match r {
                    Ok(r) => reports.push(r),
                    Err(e) => {
                        eprintln!("rampart-loadgen: {}: {e}", f.display());
                        return ExitCode::from(1);
                    }
                }
            }
            print!("{}", report::markdown_table(&reports));
            ExitCode::SUCCESS
        }
    }
}

fn run(a: RunArgs) -> Result<ExitCode, String> {
    let profile = Profile::by_name(&a.profile)?;
    if !(a.duration > 0.0 && a.duration <= runner::MAX_DURATION.as_secs_f64()) {
        return Err("--duration must be > 0 and <= 3600".into());
    }
    if !a.allow_remote && !a.target.addr().ip().is_loopback() {
        return Err(format!(
            "target {} is not on loopback (use --allow-remote)",
            a.target
        ));
    }
    sys::install_stop_handler();
    let mut t = target::connect(a.target, target::new_run_id())?;
    t.ping()
        .map_err(|e| format!("target {} does not answer: {e}", a.target))?;
    let label = a
        .label
        .clone()
        .unwrap_or_else(|| a.target.kind().to_string());
    let mut cfg = RunConfig::new(label, a.calls, Duration::from_secs_f64(a.duration));
    cfg.target = a.target.to_string();
    cfg.profile = profile;
    cfg.threads = a.threads;
    cfg.pid = a.pid;
    cfg.drain = Duration::from_millis(a.drain_ms.min(10_000));
    cfg.local_ip = a.local_ip;
    cfg.batch = a.batch;
    cfg.tick = Duration::from_micros(a.tick_us.clamp(1, 5_000));
    cfg.allow_remote = a.allow_remote;
    let json = if a.step_search {
        let step = StepConfig {
            start: a.step_start.unwrap_or(a.calls),
            max: a.step_max,
            factor: a.step_factor,
            max_steps: a.max_steps,
            threshold_pct: a.loss_threshold,
            ..StepConfig::default()
        };
        let r = runner::step_search(&cfg, &step, t.as_mut(), true)?;
        print!("{}", r.table());
        serde_json::to_string_pretty(&r)
    } else {
        let r = runner::run(&cfg, t.as_mut())?;
        print!("{}", r.table());
        serde_json::to_string_pretty(&r)
    }
    .map_err(|e| format!("JSON: {e}"))?;
    if let Some(p) = a.json {
        std::fs::write(&p, json + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(if sys::stop_requested() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
