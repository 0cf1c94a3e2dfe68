//! `rampart-loadgen run --target rampart-http=127.0.0.1:2223 --calls 100 ...`

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rampart_loadgen::payload::Profile;
use rampart_loadgen::player::Pacing;
use rampart_loadgen::{
    html, load_report, parse_duration, parse_rate, report, runner, target, LegMode, Report,
    RunConfig, StepConfig, TargetSpec,
};
use rampart_sys as sys;

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
    /// Two runs side by side (e.g. Rampart vs rtpengine): a table with
    /// ratios (B / A) on stdout, and with --html a report with overlaid
    /// latency CDFs, a bar chart of CPU-µs per packet and time series.
    Compare {
        /// JSON report A (`run --json`; a step search gives its best step).
        a: PathBuf,
        /// JSON report B.
        b: PathBuf,
        /// Write the HTML comparison here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Also write each plot as an SVG file into this folder.
        #[arg(long)]
        svg_dir: Option<PathBuf>,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// Control interface: rampart-http=IP:PORT (Rampart's HTTP API) or
    /// ng=IP:PORT (ng protocol, rtpengine).
    #[arg(long)]
    target: TargetSpec,
    /// Another node of the same set (rampart-http targets; repeat for
    /// more): a request the target takes no connection for goes to the
    /// next node, as a switch with a node set does when a node dies
    /// (`loadgen/bench-ha.sh` kills the target mid-run).
    #[arg(long, value_name = "IP:PORT")]
    fallback: Vec<std::net::SocketAddr>,
    /// Name of the target in tables (default: its kind).
    #[arg(long)]
    label: Option<String>,
    /// Concurrent calls (two legs each, media both ways).
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Sending time per run: 10, 10s, 5m, 1h (at most 1h).
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Media profile, or a comma-separated list that calls take in turn
    /// (mixed traffic): g711 (160 B / 20 ms), g729 (20 B / 20 ms), opus
    /// (40-160 B varying / 20 ms), video (30 fps, 3-8 packets of
    /// 1000-1200 B per frame).
    #[arg(long, default_value = "g711")]
    profile: String,
    /// Registered device every leg names (Rampart's HTTP API; needed where
    /// the node's security policy admits encrypted legs only for known
    /// devices).
    #[arg(long)]
    device: Option<String>,
    /// Verified passthrough (rampart-http targets): both legs SRTP with
    /// leg A's suite and each leg's outbound key the other leg's inbound
    /// key, so the node checks every packet's tag and replay and forwards
    /// its bytes unchanged.
    #[arg(long)]
    passthrough: bool,
    /// Leg A: srtp or rtp.
    #[arg(long, default_value = "srtp")]
    mode_a: String,
    /// Leg B: srtp or rtp.
    #[arg(long, default_value = "srtp")]
    mode_b: String,
    /// Leg A's SRTP suite.
    #[arg(long, default_value = "AES_CM_128_HMAC_SHA1_80")]
    suite_a: String,
    /// Leg B's SRTP suite.
    #[arg(long, default_value = "AES_CM_128_HMAC_SHA1_32")]
    suite_b: String,
    /// Calls set up per second: 200 or 200/s (0: as fast as the target
    /// answers).
    #[arg(long, default_value = "0")]
    setup_rate: String,
    /// Interval of each stream's RTCP sender reports (SRTCP on SRTP legs),
    /// e.g. 5s.
    #[arg(long, default_value = "5s")]
    rtcp_interval: String,
    /// Send no RTCP.
    #[arg(long)]
    no_rtcp: bool,
    /// Target process id, for CPU-µs per relayed packet.
    #[arg(long)]
    pid: Option<u32>,
    /// Write the report as JSON here (with the per-second time series).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with SVG plots here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Also write each plot as an SVG file into this folder.
    #[arg(long)]
    svg_dir: Option<PathBuf>,
    /// Player threads (0: one per 500 calls, at most one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Milliseconds to keep receiving after the last send.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
    /// Packets per sendmmsg/recvmmsg.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Send slot length in µs with `--pacing burst`: a player sleeps at
    /// least this long between turns and sends each slot's packets in one
    /// batch (receive times come from kernel timestamps, so this does not
    /// blur latency).
    #[arg(long, default_value_t = 200)]
    tick_us: u64,
    /// Traffic shape: `even` (default; each packet leaves at its own due
    /// time, one datagram per send, as independent phones send) or `burst`
    /// (each slot's packets in one sendmmsg: the relay batches for free).
    #[arg(long, default_value = "even")]
    pacing: Pacing,
    /// Address the phones bind to and announce.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// Allow a non-loopback target, local address or relay media address.
    #[arg(long)]
    allow_remote: bool,
    /// Soak: one long run with snapshots (see --snapshot-every) printed as
    /// they complete and kept in the JSON and HTML.
    #[arg(long)]
    soak: bool,
    /// Snapshot period (with --soak; default 10s).
    #[arg(long)]
    snapshot_every: Option<String>,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
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
    let r = match cli.cmd {
        Cmd::Run(a) => run(*a),
        Cmd::Table { files } => files
            .iter()
            .map(|f| load_report(f))
            .collect::<Result<Vec<_>, _>>()
            .map(|reports| {
                print!("{}", report::markdown_table(&reports));
                ExitCode::SUCCESS
            }),
        Cmd::Compare {
            a,
            b,
            html,
            svg_dir,
        } => compare(&a, &b, html.as_deref(), svg_dir.as_deref()),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

fn write(p: &Path, text: &str) -> Result<(), String> {
    std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))
}

fn write_svgs(dir: &Path, plots: &[(&str, String)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, svg) in plots {
        write(&dir.join(format!("{name}.svg")), svg)?;
    }
    Ok(())
}

fn compare(
    a: &Path,
    b: &Path,
    html_out: Option<&Path>,
    svg_dir: Option<&Path>,
) -> Result<ExitCode, String> {
    let (ra, rb) = (load_report(a)?, load_report(b)?);
    print!("{}", report::markdown_table(&[ra.clone(), rb.clone()]));
    let cpu = |r: &Report| r.target_cpu.map(|c| c.us_per_packet);
    if let (Some(x), Some(y)) = (cpu(&ra), cpu(&rb)) {
        if x > 0.0 {
            println!(
                "\nCPU-µs per packet, {} / {}: {:.2}×",
                rb.label,
                ra.label,
                y / x
            );
        }
    }
    if let Some(p) = html_out {
        write(p, &html::compare_html(&ra, &rb))?;
        eprintln!("rampart-loadgen: wrote {}", p.display());
    }
    if let Some(d) = svg_dir {
        write_svgs(d, &html::compare_plots(&ra, &rb))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run(a: RunArgs) -> Result<ExitCode, String> {
    let profiles = Profile::list(&a.profile)?;
    let duration = parse_duration(&a.duration)?;
    if duration.is_zero() || duration > runner::MAX_DURATION {
        return Err("--duration must be > 0 and <= 1h".into());
    }
    let leg_a = LegMode::parse(&a.mode_a, &a.suite_a)?;
    let legs = if a.passthrough {
        [leg_a, leg_a]
    } else {
        [leg_a, LegMode::parse(&a.mode_b, &a.suite_b)?]
    };
    let setup_rate = parse_rate(&a.setup_rate)?;
    let rtcp_interval = if a.no_rtcp {
        Duration::ZERO
    } else {
        parse_duration(&a.rtcp_interval)?
    };
    if !rtcp_interval.is_zero() && rtcp_interval < Duration::from_millis(100) {
        return Err("--rtcp-interval must be at least 100ms".into());
    }
    let snapshot_every = match (&a.snapshot_every, a.soak) {
        (Some(s), _) => parse_duration(s)?.as_secs().max(1),
        (None, true) => 10,
        (None, false) => 0,
    };
    let off_loopback = std::iter::once(a.target.addr())
        .chain(a.fallback.iter().copied())
        .find(|addr| !addr.ip().is_loopback());
    if let (false, Some(addr)) = (a.allow_remote, off_loopback) {
        return Err(format!(
            "target {addr} is not on loopback (use --allow-remote)"
        ));
    }
    sys::install_stop_handler();
    let opts = target::CallOptions {
        legs,
        device: a.device.clone(),
        passthrough: a.passthrough,
        fallback: a.fallback.clone(),
    };
    let mut t = target::connect_with(a.target, target::new_run_id(), &opts)?;
    t.ping()
        .map_err(|e| format!("target {} does not answer: {e}", a.target))?;
    let label = a
        .label
        .clone()
        .unwrap_or_else(|| a.target.kind().to_string());
    let mut cfg = RunConfig::new(label, a.calls, duration);
    cfg.target = a.target.to_string();
    cfg.profiles = profiles;
    cfg.threads = a.threads;
    cfg.pid = a.pid;
    cfg.drain = Duration::from_millis(a.drain_ms.min(10_000));
    cfg.local_ip = a.local_ip;
    cfg.batch = a.batch;
    cfg.tick = Duration::from_micros(a.tick_us.clamp(1, 5_000));
    cfg.pacing = a.pacing;
    cfg.allow_remote = a.allow_remote;
    cfg.setup_rate = setup_rate;
    cfg.rtcp_interval = rtcp_interval;
    cfg.snapshot_every = snapshot_every;
    cfg.progress = !a.no_progress;
    let (json, shown) = if a.step_search {
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
        let shown = r
            .best_calls
            .and_then(|n| r.steps.iter().rev().find(|s| s.calls == n))
            .or(r.steps.last())
            .cloned();
        (serde_json::to_string_pretty(&r), shown)
    } else {
        let r = runner::run(&cfg, t.as_mut())?;
        print!("{}", r.table());
        (serde_json::to_string_pretty(&r), Some(r))
    };
    let json = json.map_err(|e| format!("JSON: {e}"))?;
    if let Some(p) = a.json {
        write(&p, &(json + "\n"))?;
    }
    if let Some(r) = &shown {
        if let Some(p) = &a.html {
            write(p, &html::report_html(r))?;
            eprintln!("rampart-loadgen: wrote {}", p.display());
        }
        if let Some(d) = &a.svg_dir {
            write_svgs(d, &html::report_plots(r))?;
        }
    }
    Ok(if sys::stop_requested() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
