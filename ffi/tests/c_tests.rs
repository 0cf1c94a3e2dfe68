//! Compiles the C programs in `tests/c/` against the librampart this build
//! produced and runs them, under valgrind when it is installed (leaks and
//! memory errors fail the test).
//!
//! - `api.c`: argument checks, error codes, rekey, ROC, stats, cryptex
//!   and RFC 6904 known answers (valgrind);
//!   also linked statically against `librampart.a`.
//! - `crosscheck.c`: byte-for-byte cross-check with the system libsrtp2
//!   (`pkg-config libsrtp2`; `scripts/test` installs `libsrtp2-dev`),
//!   tens of thousands of packets natively, a shorter run under valgrind.
//! - `embed.c`: a node embedded in C relays a call (valgrind).
//!
//! Environment: `CC` (default `cc`); `RAMPART_FFI_VALGRIND=0` runs without
//! valgrind; `RAMPART_FFI_REQUIRE_LIBSRTP2=1` fails rather than skips the
//! cross-check when libsrtp2 is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What valgrind checks for a program.
#[derive(Clone, Copy, PartialEq)]
enum Valgrind {
    /// Not under valgrind.
    Off,
    /// Leaks, invalid reads/writes and uses of undefined values.
    Full,
    /// Leaks and invalid reads/writes. For programs whose media goes
    /// through ring's AES-GCM assembly, which valgrind cannot follow: it
    /// reports the GCM tag as undefined although every tag verifies on the
    /// other side (a false positive of memcheck's definedness tracking).
    LeaksAndAccess,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: the test binary runs from `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// A directory holding `lib/librampart.so{,.0}` and `lib/librampart.a`,
/// copied from this build's `librampart_ffi` artifacts.
fn stage() -> &'static Path {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE.get_or_init(|| {
        let profile = profile_dir();
        sweep_stale_stages(&profile);
        // One directory per test process: nextest runs every test in its own
        // process, and they must not copy over each other's files.
        let dir = profile.join(format!("rampart-ffi-c-tests-{}", std::process::id()));
        let lib = dir.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        let so = profile.join("librampart_ffi.so");
        let a = profile.join("librampart_ffi.a");
        assert!(
            so.exists() && a.exists(),
            "{} / {} missing: cargo builds them with the test (crate-type cdylib, staticlib)",
            so.display(),
            a.display()
        );
        link_or_copy(&so, &lib.join("librampart.so.0"));
        link_or_copy(&a, &lib.join("librampart.a"));
        let link = lib.join("librampart.so");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("librampart.so.0", &link).unwrap();
        dir
    })
}

/// Stage directories of test processes that are gone: each held copies of
/// the libraries (hundreds of MB with debug info), and nothing else removes
/// them.
fn sweep_stale_stages(profile: &Path) {
    let Ok(entries) = std::fs::read_dir(profile) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("rampart-ffi-c-tests-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A hard link to `from` (no copy of a large library), or a copy where
/// links are not possible.
fn link_or_copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn pkg_config(args: &[&str]) -> Option<Vec<String>> {
    let out = Command::new("pkg-config").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect(),
    )
}

/// Compiles `tests/c/<name>.c` into the stage; `static_link` links
/// `librampart.a` instead of the shared library.
fn compile(name: &str, out_name: &str, extra: &[String], static_link: bool) -> PathBuf {
    let dir = stage();
    let src = manifest_dir().join("tests/c").join(format!("{name}.c"));
    let exe = dir.join(out_name);
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe);
    if static_link {
        cmd.arg(dir.join("lib/librampart.a"));
        // `rustc --print native-static-libs` for linux-gnu, and OpenSSL
        // (the engine's DTLS-SRTP).
        cmd.args([
            "-lssl",
            "-lcrypto",
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ]);
    } else {
        cmd.arg("-L").arg(dir.join("lib")).arg("-lrampart");
    }
    cmd.args(extra);
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {}: {:?}\n{}",
        src.display(),
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn valgrind_wanted() -> bool {
    std::env::var("RAMPART_FFI_VALGRIND").map_or(true, |v| v != "0")
        && have("valgrind", "--version")
}

/// Runs a compiled program and asserts it exits 0. Returns its stdout.
fn run(exe: &Path, args: &[&str], mut vg: Valgrind) -> String {
    if vg != Valgrind::Off && !valgrind_wanted() {
        eprintln!(
            "note: valgrind not installed or RAMPART_FFI_VALGRIND=0: running {} without it",
            exe.display()
        );
        vg = Valgrind::Off;
    }
    let mut cmd = if vg == Valgrind::Off {
        Command::new(exe)
    } else {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=99",
        ]);
        // Documented, per-thread false positives only (see the file).
        c.arg(format!(
            "--suppressions={}",
            manifest_dir().join("tests/valgrind.supp").display()
        ));
        if vg == Valgrind::LeaksAndAccess {
            c.arg("--undef-value-errors=no");
        }
        c.arg(exe);
        c
    };
    cmd.args(args).env("LD_LIBRARY_PATH", stage().join("lib"));
    let out = cmd.output().expect("run the C test");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{} {:?} failed ({}{})",
        exe.display(),
        args,
        out.status,
        if out.status.code() == Some(99) {
            ": valgrind found errors, see stderr"
        } else {
            ""
        }
    );
    stdout
}

#[test]
fn c_api_checks_arguments_and_rekeys() {
    let exe = compile("api", "api", &[], false);
    let out = run(&exe, &[], Valgrind::Full);
    assert!(out.contains("api: ok"), "{out}");
}

#[test]
fn c_api_links_statically() {
    let exe = compile("api", "api-static", &[], true);
    let out = run(&exe, &[], Valgrind::Off);
    assert!(out.contains("api: ok"), "{out}");
}

#[test]
fn c_crosscheck_with_system_libsrtp2() {
    let Some(flags) = pkg_config(&["--cflags", "--libs", "libsrtp2"]) else {
        let msg =
            "SKIPPED: libsrtp2 not found by pkg-config (install libsrtp2-dev; scripts/test does)";
        assert!(
            std::env::var("RAMPART_FFI_REQUIRE_LIBSRTP2").map_or(true, |v| v != "1"),
            "{msg}"
        );
        eprintln!("{msg}");
        return;
    };
    let exe = compile("crosscheck", "crosscheck", &flags, false);
    // 16 combinations x 2500 packets: 40,000 SRTP packets each way, ~5,000
    // SRTCP, all byte-compared.
    let out = run(&exe, &["2500"], Valgrind::Off);
    assert!(out.contains("zero mismatches"), "{out}");
    // The same program under valgrind, shorter.
    let out = run(&exe, &["300"], Valgrind::Full);
    assert!(out.contains("zero mismatches"), "{out}");
}

#[test]
fn c_embeds_a_node_and_relays_a_call() {
    let exe = compile("embed", "embed", &[], false);
    let out = run(&exe, &[], Valgrind::LeaksAndAccess);
    assert!(out.contains("embed: ok"), "{out}");
}

#[test]
fn header_compiles_as_cplusplus() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    if !have(&cxx, "--version") {
        eprintln!("SKIPPED: no C++ compiler ({cxx})");
        return;
    }
    let out = Command::new(&cxx)
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-x",
            "c++",
        ])
        .arg(manifest_dir().join("include/rampart.h"))
        .output()
        .expect("run the C++ compiler");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
