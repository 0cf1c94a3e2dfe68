//! Rampart's SRTP core and libsrtp 2.3.0 (OpenSSL), side by side in one run.
//!
//! One group per suite / size / operation (e.g. `AEAD_AES_128_GCM/1200/unprotect`)
//! with two functions, `rampart` and `libsrtp`, driven by the same loop
//! (`rampart_benches::harness`; see there for how fresh packets are fed to
//! unprotect without timing any copy). Sizes are RTP payload bytes after a
//! 12-byte header. A last group measures SRTCP for one suite.
//!
//! `cargo bench -p rampart-benches --bench srtp` (all), or with a filter,
//! e.g. `cargo bench -p rampart-benches --bench srtp -- AES_CM_128_HMAC_SHA1_80/160`.
//! `cargo run --release -p rampart-benches --bin srtp-table` prints a quick table.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rampart::srtp::Suite;
use rampart_benches::harness::{Case, Impl, Op, Proto};

const SIZES: [usize; 2] = [160, 1200];
const IMPLS: [Impl; 2] = [Impl::Rampart, Impl::Libsrtp];
/// SRTCP: one suite, an 80-byte sender report.
const RTCP_SUITE: Suite = Suite::AesCm128HmacSha1_80;
const RTCP_LEN: usize = 80;

fn bench_group(c: &mut Criterion, name: String, suite: Suite, proto: Proto, size: usize, op: Op) {
    let mut group = c.benchmark_group(name);
    let mut cases: Vec<(Impl, Case)> = IMPLS
        .iter()
        .map(|&imp| {
            let mut case = Case::new(imp, suite, proto, size);
            case.self_check();
            (imp, case)
        })
        .collect();
    group.throughput(Throughput::Bytes(cases[0].1.plain_len() as u64));
    for (imp, case) in cases.iter_mut() {
        group.bench_function(BenchmarkId::from_parameter(imp.name()), |b| {
            b.iter_custom(|iters| case.run(op, iters))
        });
    }
    group.finish();
}

fn srtp(c: &mut Criterion) {
    for suite in Suite::ALL {
        for size in SIZES {
            for op in [Op::Protect, Op::Unprotect] {
                let name = format!("{}/{}/{}", suite.name(), size, op.name());
                bench_group(c, name, suite, Proto::Rtp, size, op);
            }
        }
    }
    for op in [Op::Protect, Op::Unprotect] {
        let name = format!("SRTCP {}/{}/{}", RTCP_SUITE.name(), RTCP_LEN, op.name());
        bench_group(c, name, RTCP_SUITE, Proto::Rtcp, RTCP_LEN, op);
    }
}

criterion_group! {
    name = benches;
    // 84 benchmarks: short warm-up and measurement keep a full run near 5 min.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = srtp
}
criterion_main!(benches);
