//! The drop-in beside the system libsrtp2 (Debian's 2.5), the same calls
//! on both in one process (`tests/c/differential.c`, which dlopens both):
//! random policies (every suite both run, SSRC templates and specific
//! streams, replay windows, MKIs, `allow_repeat_tx`) and random operation
//! sequences (RTP and RTCP protect with sequence numbers that advance,
//! jump across the ROC, repeat and go back; unprotect of what was
//! protected, of replays, of packets with a flipped bit, truncated, or
//! garbage; ROC reads; rekeying with `srtp_update`). Every status, length
//! and output byte must be equal, and a packet the drop-in refuses must be
//! left as it came. The first difference fails the test with its seed.
//!
//! `RAMPART_SRTP2_DIFF_SEED=<n>` adds a run with that seed (a failure
//! names it); `RAMPART_SRTP2_DIFF_ROUNDS` sets the rounds per seed. A
//! shorter run goes under valgrind (leaks and invalid accesses; ring's
//! GCM assembly makes definedness checks report false positives).

mod common;

use std::path::PathBuf;

fn program() -> (PathBuf, PathBuf, PathBuf) {
    let real = common::real_libsrtp().expect("checked by the caller");
    let dir = common::stage("differential");
    let exe = dir.join("differential");
    common::compile(
        &[common::manifest_dir().join("tests/c/differential.c")],
        &exe,
        &[
            format!("-I{}", common::manifest_dir().join("include").display()),
            "-ldl".into(),
        ],
    );
    (exe, dir.join("lib/librampart-srtp2.so.1"), real.so.clone())
}

fn run(valgrind: bool, seed: u64, rounds: u32) {
    let (exe, ours, theirs) = program();
    let mut cmd = common::command(&exe, valgrind, "definite");
    cmd.arg(&ours)
        .arg(&theirs)
        .arg(seed.to_string())
        .arg(rounds.to_string());
    let out = cmd.output().expect("run differential");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "seed {seed}: {}\n{stdout}\n{}",
        out.status,
        stderr
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(stdout.contains("no difference"), "{stdout}");
    // Some rounds ran with RFC 6904 header encryption on both libraries.
    assert!(
        rounds < 30 || !stdout.contains("(0 with RFC 6904"),
        "{stdout}"
    );
    eprintln!("{}", stdout.trim());
}

fn rounds() -> u32 {
    std::env::var("RAMPART_SRTP2_DIFF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[test]
fn the_drop_in_answers_as_libsrtp2_does() {
    if common::real_or_skip().is_none() {
        return;
    }
    let mut seeds: Vec<u64> = (1..=8).collect();
    if let Some(s) = std::env::var("RAMPART_SRTP2_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        seeds.push(s);
    }
    for seed in seeds {
        run(false, seed, rounds());
    }
}

#[test]
fn the_differential_run_is_clean_under_valgrind() {
    if common::real_or_skip().is_none() || !common::valgrind() {
        eprintln!("SKIPPED: valgrind or libsrtp2 missing");
        return;
    }
    run(true, 101, 25);
}
