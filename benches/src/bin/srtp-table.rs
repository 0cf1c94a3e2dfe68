//! Quick side-by-side table of Rampart's SRTP core and libsrtp 2.3.0.
//!
//! `cargo run --release -p rampart-benches --bin srtp-table [-- --runs N --ms M]`
//!
//! Prints one markdown table on stdout (context on stderr): for every suite,
//! RTP payloads of 160 and 1200 bytes, protect and unprotect, plus SRTCP for
//! one suite, the median ns per packet of `--runs` (default 41) timed runs of
//! about `--ms` (default 1) millisecond each, the two implementations
//! measured alternately with the same loop (`rampart_benches::harness`), the
//! runs spread over up to five passes over the whole table so that a burst of
//! other work on the machine spoils few samples of any cell (short runs
//! mostly fit in one scheduler time slice, so on a busy machine most of them
//! still run undisturbed and the median drops the rest).
//! ratio = libsrtp ns / rampart ns: above 1 means Rampart is faster.

use std::time::{Duration, Instant};

use rampart::srtp::Suite;
use rampart_benches::harness::{Case, Impl, Op, Proto};
use rampart_benches::libsrtp;

struct Args {
    runs: usize,
    run_time: Duration,
}

fn args() -> Args {
    let mut a = Args {
        runs: 41,
        run_time: Duration::from_millis(1),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--runs", Some(n)) if n > 0 => a.runs = n as usize,
            ("--ms", Some(n)) if n > 0 => a.run_time = Duration::from_millis(n),
            _ => {
                eprintln!("usage: srtp-table [--runs N] [--ms MILLISECONDS]");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Iterations that take about `target` (doubling, then scaling).
fn calibrate(case: &mut Case, op: Op, target: Duration) -> u64 {
    let mut iters = 64u64;
    loop {
        let t = case.run(op, iters);
        if t >= target / 4 || iters >= 1 << 30 {
            let per = t.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).max(16);
        }
        iters *= 2;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One table row: both implementations' cases and their samples.
struct Row {
    label: String,
    size: usize,
    op: Op,
    cases: [(Case, u64, Vec<f64>); 2],
}

impl Row {
    fn new(label: String, suite: Suite, proto: Proto, size: usize, op: Op, a: &Args) -> Row {
        let make = |imp| {
            let mut c = Case::new(imp, suite, proto, size);
            c.self_check();
            let iters = calibrate(&mut c, op, a.run_time);
            (c, iters, Vec::new())
        };
        let cases = [make(Impl::Rampart), make(Impl::Libsrtp)];
        Row {
            label,
            size,
            op,
            cases,
        }
    }

    /// `n` timed runs of each implementation, alternating.
    fn sample(&mut self, n: usize) {
        for _ in 0..n {
            for (case, iters, samples) in self.cases.iter_mut() {
                let t = case.run(self.op, *iters);
                samples.push(t.as_nanos() as f64 / *iters as f64);
            }
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// A warning when other processes compete for the CPUs.
fn load_warning() -> Option<String> {
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    (load > cpus - 0.5).then(|| {
        format!("WARNING: load average {load:.2} on {cpus} CPUs: other work competes, numbers will be noisy")
    })
}

fn main() {
    let a = args();
    if let Some(w) = load_warning() {
        eprintln!("{w}");
    }
    let started = Instant::now();
    eprintln!(
        "Rampart vs {} (OpenSSL); {}; {} runs of ~{:?} per cell, median; {}",
        libsrtp::version(),
        cpu_model(),
        a.runs,
        a.run_time,
        if cfg!(debug_assertions) {
            "DEBUG BUILD: use --release"
        } else {
            "release build"
        },
    );
    // Warm up: let the CPU clock settle and fault in code and data before
    // the first measured cell.
    let warm = Instant::now();
    let mut w = Case::new(Impl::Libsrtp, Suite::AesCm128HmacSha1_80, Proto::Rtp, 1200);
    while warm.elapsed() < Duration::from_millis(500) {
        w.run(Op::Protect, 1000);
    }
    drop(w);
    println!("| suite | payload | op | rampart ns | libsrtp ns | ratio (libsrtp/rampart) |");
    println!("|---|---:|---|---:|---:|---:|");
    let mut rows: Vec<(String, usize, Proto, Op, Suite)> = Vec::new();
    for suite in Suite::ALL {
        for size in [160, 1200] {
            for op in [Op::Protect, Op::Unprotect] {
                rows.push((suite.name().to_string(), size, Proto::Rtp, op, suite));
            }
        }
    }
    let rtcp_suite = Suite::AesCm128HmacSha1_80;
    for op in [Op::Protect, Op::Unprotect] {
        rows.push((
            format!("{} (SRTCP, 80-byte SR)", rtcp_suite.name()),
            80,
            Proto::Rtcp,
            op,
            rtcp_suite,
        ));
    }
    let mut table: Vec<Row> = rows
        .into_iter()
        .map(|(label, size, proto, op, suite)| Row::new(label, suite, proto, size, op, &a))
        .collect();
    // Several passes over the whole table, a few runs per cell each time,
    // so that a burst of other work on the machine spoils few samples of
    // any one cell; the median then drops them.
    let passes = a.runs.min(5);
    for pass in 0..passes {
        let n = a.runs / passes + usize::from(pass < a.runs % passes);
        for row in table.iter_mut() {
            row.sample(n);
        }
    }
    for row in table {
        let [(_, _, rs), (_, _, ls)] = row.cases;
        let (r, l) = (median(rs), median(ls));
        println!(
            "| {} | {} | {} | {r:.0} | {l:.0} | {:.2} |",
            row.label,
            row.size,
            row.op.name(),
            l / r
        );
    }
    eprintln!("done in {:.1?}", started.elapsed());
    if let Some(w) = load_warning() {
        eprintln!("{w}");
    }
}
