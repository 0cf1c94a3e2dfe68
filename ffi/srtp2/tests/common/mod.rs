//! What the drop-in's integration tests share: where this build's
//! library is, a per-process directory that stages it under the names C
//! programs and the loader look for, the C compiler, and the system
//! libsrtp2 to compare with.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The crate's directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: the test binary runs from `target/<profile>/deps`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// This process's directory `target/<profile>/rampart-srtp2-<tag>-<pid>`
/// with `lib/` holding this build's drop-in as `librampart-srtp2.so.1`
/// (+ the `.so` link, for `-lrampart-srtp2`) and as `libsrtp2.so.1` (+
/// `libsrtp2.so`), the file name a program linked against libsrtp2 asks
/// the loader for. Directories of processes that are gone are removed
/// (each holds a link to, or a copy of, a large library).
pub fn stage(tag: &str) -> PathBuf {
    let profile = profile_dir();
    let prefix = format!("rampart-srtp2-{tag}-");
    sweep_stale_stages(&profile, &prefix);
    // One directory per test process (nextest runs each test in its own).
    let dir = profile.join(format!("{prefix}{}", std::process::id()));
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let so = library(&profile);
    assert!(
        so.exists(),
        "{} missing: cargo builds it with this test (crate-type cdylib)",
        so.display()
    );
    for (file, link) in [
        ("librampart-srtp2.so.1", "librampart-srtp2.so"),
        ("libsrtp2.so.1", "libsrtp2.so"),
    ] {
        link_or_copy(&so, &lib.join(file));
        let _ = std::fs::remove_file(lib.join(link));
        std::os::unix::fs::symlink(file, lib.join(link)).unwrap();
    }
    dir
}

/// This build's cdylib: `deps/librampart_srtp2.so`, the one cargo just
/// built for this test (the copy in `target/<profile>/` is refreshed only
/// by a `cargo build` that names the crate, and may be older), else that
/// copy.
fn library(profile: &Path) -> PathBuf {
    let newest = [
        profile.join("deps/librampart_srtp2.so"),
        profile.join("librampart_srtp2.so"),
    ]
    .into_iter()
    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max_by_key(|(t, _)| *t);
    newest.map_or_else(|| profile.join("librampart_srtp2.so"), |(_, p)| p)
}

fn sweep_stale_stages(profile: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(profile) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Hard-links `from` to `to` (a copy across file systems).
pub fn link_or_copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// The C compiler (`CC`, default `cc`).
pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new("pkg-config").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The system libsrtp2: the directory holding its `srtp.h`, its linker
/// flags, and the shared library's path.
pub struct RealLibsrtp {
    /// `<includedir>/srtp2`.
    pub include: PathBuf,
    /// `pkg-config --libs libsrtp2`.
    pub libs: Vec<String>,
    /// `<libdir>/libsrtp2.so.1`.
    pub so: PathBuf,
}

/// The system libsrtp2 (`pkg-config libsrtp2`), if installed.
pub fn real_libsrtp() -> Option<&'static RealLibsrtp> {
    static REAL: OnceLock<Option<RealLibsrtp>> = OnceLock::new();
    REAL.get_or_init(|| {
        let include =
            PathBuf::from(pkg_config(&["--variable=includedir", "libsrtp2"])?).join("srtp2");
        let so =
            PathBuf::from(pkg_config(&["--variable=libdir", "libsrtp2"])?).join("libsrtp2.so.1");
        let libs = pkg_config(&["--libs", "libsrtp2"])?
            .split_whitespace()
            .map(String::from)
            .collect();
        (include.join("srtp.h").is_file() && so.is_file()).then_some(RealLibsrtp {
            include,
            libs,
            so,
        })
    })
    .as_ref()
}

/// The system libsrtp2, or `None` after printing why the test is skipped
/// (a failure with `RAMPART_FFI_REQUIRE_LIBSRTP2=1`, as `scripts/test`
/// sets it).
pub fn real_or_skip() -> Option<&'static RealLibsrtp> {
    let real = real_libsrtp();
    if real.is_none() {
        let msg = "SKIPPED: libsrtp2 not found by pkg-config (install libsrtp2-dev)";
        assert!(
            std::env::var("RAMPART_FFI_REQUIRE_LIBSRTP2").map_or(true, |v| v != "1"),
            "{msg}"
        );
        eprintln!("{msg}");
    }
    real
}

/// Whether to run C programs under valgrind: installed, and not turned
/// off with `RAMPART_FFI_VALGRIND=0`.
pub fn valgrind() -> bool {
    std::env::var("RAMPART_FFI_VALGRIND").map_or(true, |v| v != "0")
        && Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// A command that runs `exe`, under valgrind when `valgrind`: leaks of
/// `leak_kinds` and invalid accesses fail it (exit 99). Definedness checks
/// are off: valgrind cannot follow ring's AES-GCM assembly and reports
/// its tags as undefined (see ffi/tests/c_tests.rs).
pub fn command(exe: &Path, valgrind: bool, leak_kinds: &str) -> Command {
    if !valgrind {
        return Command::new(exe);
    }
    let mut c = Command::new("valgrind");
    c.args([
        "--quiet",
        "--error-exitcode=99",
        "--leak-check=full",
        "--undef-value-errors=no",
    ]);
    c.arg(format!("--errors-for-leak-kinds={leak_kinds}"));
    c.arg(exe);
    c
}

/// Compiles `sources` into `out` with `args` (include paths, libraries),
/// failing the test with the compiler's output.
pub fn compile(sources: &[PathBuf], out: &Path, args: &[String]) {
    let mut cmd = Command::new(cc());
    cmd.args(["-std=gnu99", "-O1", "-g", "-Wall", "-Werror"]);
    cmd.args(sources).arg("-o").arg(out).args(args);
    let o = cmd.output().expect("run the C compiler");
    assert!(
        o.status.success(),
        "compiling {:?}: {}",
        sources,
        String::from_utf8_lossy(&o.stderr)
    );
}
