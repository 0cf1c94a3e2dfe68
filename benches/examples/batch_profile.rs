//! Profiling aid: runs one batch case for a few seconds (perf record it).
//! `cargo run --release -p rampart-benches --example batch_profile -- protect 32 160 [gcm]`
use rampart::srtp::{MacEngine, Suite};
use rampart_benches::harness::{BatchCase, Measure, Op, Proto};

fn main() {
    let mut args = std::env::args().skip(1);
    let op = match args.next().as_deref() {
        Some("unprotect") => Op::Unprotect,
        _ => Op::Protect,
    };
    let batch: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(32);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(160);
    let suite = match args.next().as_deref() {
        Some("gcm") => Suite::AeadAes128Gcm,
        _ => Suite::AesCm128HmacSha1_80,
    };
    let mut c = BatchCase::new(suite, Proto::Rtp, size, batch, MacEngine::from_env());
    let t = std::time::Instant::now();
    let mut n = 0u64;
    let mut best = f64::MAX;
    while t.elapsed().as_secs() < 3 {
        let d = c.run(op, 100_000);
        best = best.min(d.as_nanos() as f64 / 100_000.0);
        n += 100_000;
    }
    println!("{n} packets, best {best:.1} ns/packet");
}
