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
//!
//! The batch rows (`batch N`) time Rampart's batch path (`srtp::Batcher`)
//! on N streams at once, each packet of a batch from another stream, as a
//! relay's receive batch holds (`rampart_benches::harness::BatchCase`), per
//! packet, with the HMAC-SHA1 engine named in the row (`auto` is what
//! `RAMPART_SRTP_MAC_ENGINE` or detection picks). libsrtp has no batch
//! call: its cell is its single-packet time, measured alternately in the
//! same row. `--batch-only` prints only the batch rows (and the
//! single-packet rows they compare with).
//!
//! Rows marked `(portable ciphers)` key their contexts with the portable
//! cipher engine (RustCrypto `aes`, ring's AES-GCM: the single-packet path
//! as it was before the vector engine), the others with the one
//! `RAMPART_SRTP_CIPHER_ENGINE` or detection picks (`srtp::CipherEngine`).

use std::time::{Duration, Instant};

use rampart::srtp::{CipherEngine, MacEngine, Suite};
use rampart_benches::harness::{BatchCase, Case, Impl, Measure, Op, Proto};
use rampart_benches::libsrtp;

struct Args {
    runs: usize,
    run_time: Duration,
    batch_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        runs: 41,
        run_time: Duration::from_millis(1),
        batch_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--batch-only" {
            a.batch_only = true;
            continue;
        }
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--runs", Some(n)) if n > 0 => a.runs = n as usize,
            ("--ms", Some(n)) if n > 0 => a.run_time = Duration::from_millis(n),
            _ => {
                eprintln!("usage: srtp-table [--runs N] [--ms MILLISECONDS] [--batch-only]");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Iterations that take about `target` (doubling, then scaling).
fn calibrate(case: &mut dyn Measure, op: Op, target: Duration) -> u64 {
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
    cases: [(Box<dyn Measure>, u64, Vec<f64>); 2],
}

/// Which Rampart path a row times.
#[derive(Clone, Copy)]
enum Path {
    Single,
    /// The batch path: streams per batch, and the engine (`None`: auto).
    Batch(usize, Option<MacEngine>),
    /// A path with its contexts keyed under a forced cipher engine.
    Ciphers(CipherEngine, &'static Path),
}

impl Row {
    fn new(label: String, spec: RowSpec, a: &Args) -> Row {
        let RowSpec {
            suite,
            proto,
            size,
            op,
            path,
        } = spec;
        let make = |mut c: Box<dyn Measure>| {
            let iters = calibrate(c.as_mut(), op, a.run_time);
            (c, iters, Vec::new())
        };
        let rampart = Row::rampart(suite, proto, size, path);
        let mut l = Case::new(Impl::Libsrtp, suite, proto, size);
        l.self_check();
        let cases = [make(rampart), make(Box::new(l))];
        Row {
            label,
            size,
            op,
            cases,
        }
    }

    fn rampart(suite: Suite, proto: Proto, size: usize, path: Path) -> Box<dyn Measure> {
        match path {
            Path::Ciphers(engine, inner) => {
                CipherEngine::set_default(Some(engine)).expect("cipher engine available");
                let c = Row::rampart(suite, proto, size, *inner);
                CipherEngine::set_default(None).expect("back to detection");
                c
            }
            Path::Single => {
                let mut c = Case::new(Impl::Rampart, suite, proto, size);
                c.self_check();
                Box::new(c)
            }
            Path::Batch(n, engine) => {
                let engine = engine.unwrap_or_else(MacEngine::from_env);
                let mut c = BatchCase::new(suite, proto, size, n, engine);
                c.self_check();
                Box::new(c)
            }
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

/// What one row measures.
#[derive(Clone, Copy)]
struct RowSpec {
    suite: Suite,
    proto: Proto,
    size: usize,
    op: Op,
    path: Path,
}

/// Every row of the table, labelled.
fn rows(a: &Args) -> Vec<(String, RowSpec)> {
    let mut rows = Vec::new();
    let mut add = |label: String, suite, proto, size, path| {
        for op in [Op::Protect, Op::Unprotect] {
            let spec = RowSpec {
                suite,
                proto,
                size,
                op,
                path,
            };
            rows.push((label.clone(), spec));
        }
    };
    let cm80 = Suite::AesCm128HmacSha1_80;
    if !a.batch_only {
        for suite in Suite::ALL {
            for size in [160, 1200] {
                add(
                    suite.name().to_string(),
                    suite,
                    Proto::Rtp,
                    size,
                    Path::Single,
                );
            }
        }
        add(
            format!("{} (SRTCP, 80-byte SR)", cm80.name()),
            cm80,
            Proto::Rtcp,
            80,
            Path::Single,
        );
    }
    // The single-packet path as it was when batches were asked for
    // (RustCrypto `aes` and ring), beside the vector cipher engine, so
    // that batch rows compare with both in one run.
    let portable = CipherEngine::Portable.name();
    if CipherEngine::Vector.available() {
        const SINGLE: Path = Path::Single;
        const BATCH_32: Path = Path::Batch(32, None);
        let ciphers = |p: &'static Path| Path::Ciphers(CipherEngine::Portable, p);
        for (suite, size) in [(cm80, 160), (cm80, 1200), (Suite::AeadAes128Gcm, 160)] {
            let label = format!("{} single ({portable} ciphers)", suite.name());
            add(label, suite, Proto::Rtp, size, ciphers(&SINGLE));
            if a.batch_only {
                add(suite.name().to_string(), suite, Proto::Rtp, size, SINGLE);
            }
        }
        for suite in [cm80, Suite::AeadAes128Gcm] {
            let label = format!("{} batch 32 ({portable} ciphers)", suite.name());
            add(label, suite, Proto::Rtp, 160, ciphers(&BATCH_32));
        }
    }
    let auto = MacEngine::from_env().name();
    let batch = |n: usize, engine: &str| format!("batch {n} ({engine})");
    for n in [1, 8, 16, 32, 64] {
        let label = format!("{} {}", cm80.name(), batch(n, auto));
        add(label, cm80, Proto::Rtp, 160, Path::Batch(n, None));
    }
    for engine in MacEngine::ALL.into_iter().filter(|e| e.available()) {
        let label = format!("{} {}", cm80.name(), batch(32, engine.name()));
        add(label, cm80, Proto::Rtp, 160, Path::Batch(32, Some(engine)));
    }
    for n in [32, 64] {
        let label = format!("{} {}", cm80.name(), batch(n, auto));
        add(label, cm80, Proto::Rtp, 1200, Path::Batch(n, None));
    }
    let label = format!("{} (SRTCP, 80-byte SR) {}", cm80.name(), batch(32, auto));
    add(label, cm80, Proto::Rtcp, 80, Path::Batch(32, None));
    let gcm = Suite::AeadAes128Gcm;
    for n in [1, 32] {
        let label = format!("{} {}", gcm.name(), batch(n, auto));
        add(label, gcm, Proto::Rtp, 160, Path::Batch(n, None));
    }
    rows
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
    let mut table: Vec<Row> = rows(&a)
        .into_iter()
        .map(|(label, spec)| Row::new(label, spec, &a))
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
