//! libsrtp's own interoperability program, rtpw, run across the drop-in
//! and the real libsrtp2; and libsrtp's known-answer packets through the
//! public API of both.
//!
//! **rtpw** (`test/rtpw.c` + `rtp.c`, `util.c`, `getopt_s.c` of libsrtp
//! 2.3.0, compiled at test time from the `srtp2-sys` 3.0.2 sources in the
//! cargo registry, never copied here) sends a words file as SRTP over UDP
//! loopback, one packet every 0.5 s, from a sender process to a receiver
//! process that unprotects and prints each word. It is built twice, once
//! against this crate's `srtp2/srtp.h` and `librampart_srtp2.so`, once
//! against the system libsrtp2 (Debian's 2.5: `/usr/include/srtp2`,
//! `-lsrtp2`); the `Using ...` line each process prints proves which
//! library it runs on. For every suite and flag combination of libsrtp's
//! `rtpw_test.sh` and `rtpw_test_gcm.sh` (same keys, same flags), plus
//! authentication only (`-a`) and encryption only (`-e`), the test runs
//! real → real (the harness baseline), drop-in → real, real → drop-in and
//! drop-in → drop-in, and passes when the receiver printed every word, in
//! order, and no unprotect error. The scripts themselves only check that
//! the processes stay alive; this checks the decoded words. A mismatched
//! receiver key must deliver no word and reject every packet with
//! `srtp_err_status_auth_fail`, in every direction.
//!
//! Building rtpw needs two libsrtp internals, supplied by headers written
//! for this test in `tests/c/rtpw/` (nothing internal is added to the
//! drop-in): `srtp_priv.h`, included by `rtp.h` only for `srtp_hdr_t` (the
//! RTP fixed header struct), and `cipher_priv.h`, included by `rtp.c` for
//! `srtp_cipher_rand_u32_for_tests()` (the first sequence number; our
//! `shim.c`). Plus a `config.h` (`HAVE_*`, `GCM`), libsrtp's `getopt_s.h`
//! (copied to the build directory at test time), and `-Dekt=deprecated_ekt`
//! (2.3.0's rtpw assigns `policy.ekt`, renamed `deprecated_ekt` in 2.5).
//! The hex/base64 key parsers are test/util.c's, not library functions.
//!
//! rtpw's own policy sets `policy.rtcp.sec_serv = sec_serv_none` ("we
//! don't do RTCP anyway"), which the drop-in takes as a stream without
//! SRTCP (its SRTCP calls are refused); with `-e 256` that unused RTCP
//! policy names AES-128 beside an AES-256 RTP policy, and with `-g -t 16`
//! only the RTP tag is raised to 16 bytes: both run. 8-byte GCM tags (`-g`
//! without `-t 16`) and encryption without authentication (`-e` alone) are
//! refused by design (see `src/lib.rs`) and asserted refused
//! (`srtp_create() failed with code 2`).
//!
//! **srtp_driver.c** cannot be built against the public header: it
//! includes `srtp_priv.h` and walks `srtp_ctx_t_` internals in
//! `srtp_session_print_policy` (`stream_template`, `stream_list`,
//! `session_keys[].rtp_cipher->type->description`, `rtp_services`,
//! `enc_xtn_hdr`, `next`, `srtp_rdbx_get_window_size`), calls the internal
//! `srtp_get_stream` and `srtp_crypto_kernel_load_debug_module` with its own
//! `srtp_debug_module_t` and `debug_print`, compares with
//! `srtp_octet_string_is_eq` / `srtp_octet_string_hex_string` (libsrtp's
//! `datatypes.h`, not `srtp.h`), includes 2.3's `ekt.h` and assigns
//! `policy.ekt` (a non-NULL `ekt` policy is in its list, which 2.5 refuses).
//! So `tests/c/kat.c`, written for this test, runs the driver's reference
//! packets (the byte values are data taken from libsrtp 2.3.0
//! `test/srtp_driver.c`: `srtp_validate` AES_CM_128_HMAC_SHA1_80 SRTP and
//! SRTCP, `srtp_validate_gcm` AEAD_AES_128_GCM SRTP and SRTCP,
//! `srtp_validate_aes_256` AES_256_CM_HMAC_SHA1_80 SRTP, and the RFC 6904
//! `srtp_validate_encrypted_extensions_headers{,_gcm}`) plus an
//! AEAD_AES_256_GCM pair computed by `tests/c/kat_gcm256.py` (libsrtp has
//! no such vector; the script first reproduces the driver's vectors)
//! through `srtp_create`/`srtp_protect`/`srtp_unprotect`/
//! `srtp_protect_rtcp`/`srtp_unprotect_rtcp`, compared byte for byte, with
//! a replayed packet (replay_fail) and a flipped tag bit (auth_fail). The
//! real library must reproduce every vector (proof the data is right); the
//! drop-in every one but RFC 6904's, which it refuses (bad_param), under
//! valgrind where installed.
//!
//! Environment: `CC` (default `cc`); `RAMPART_FFI_REQUIRE_LIBSRTP2=1`
//! fails rather than skips when the system libsrtp2 is missing
//! (`pkg-config libsrtp2`, `libsrtp2-dev`); `CARGO_HOME` locates the
//! registry; `RAMPART_FFI_VALGRIND=0` runs kat without valgrind. UDP ports
//! 45700-45779 on 127.0.0.1. Each test runs its transfers at once, about
//! 4 s (six words at rtpw's 0.5 s); coreutils' `stdbuf` lets it stop a
//! receiver as soon as every packet is accounted for.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The words the sender sends, one packet each (at most 90 bytes: rtpw's
/// receiver reads 128 bytes, header and a 16-byte GCM tag included).
const WORDS: &[&str] = &[
    "rampart",
    "x",
    "secure-real-time-transport-protocol",
    "0123456789abcdefghijklmnopqrstuvwxyz",
    "the-quick-brown-fox-jumps-over-the-lazy-dog-while-the-relay-decrypts-every-word",
    "end",
];

/// First UDP port; every run has its own (see each test).
const PORT_BASE: u16 = 45700;

// ---------------------------------------------------------------------
// Locations and builds

/// libsrtp 2.3.0's source tree, as the `srtp2-sys` 3.0.2 crate ships it.
fn libsrtp_sources() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .expect("neither CARGO_HOME nor HOME is set");
        let registry = cargo_home.join("registry/src");
        let found = std::fs::read_dir(&registry).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("srtp2-sys-3.0.2/libsrtp"))
                .find(|p| p.join("test/rtpw.c").is_file())
        });
        found.unwrap_or_else(|| {
            panic!(
                "libsrtp 2.3.0 sources not found: expected {}/*/srtp2-sys-3.0.2/libsrtp/test/rtpw.c. \
                 They come with the srtp2-sys 3.0.2 crate (a dependency of rampart-benches): \
                 run `cargo fetch` (or set CARGO_HOME to the cargo home that holds the registry)",
                registry.display()
            )
        })
    })
}

/// This process's build directory (`common::stage`): the drop-in in
/// `lib/`, libsrtp's `getopt_s.h`, the words file, the programs and their
/// output.
fn stage() -> &'static Path {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE.get_or_init(|| {
        let dir = common::stage("rtpw");
        let getopt = dir.join("getopt");
        std::fs::create_dir_all(&getopt).unwrap();
        std::fs::copy(
            libsrtp_sources().join("include/getopt_s.h"),
            getopt.join("getopt_s.h"),
        )
        .unwrap();
        std::fs::write(dir.join("words.txt"), WORDS.join("\n") + "\n").unwrap();
        std::fs::write(dir.join("empty.txt"), "").unwrap();
        dir
    })
}

/// Which library a program is built against.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Lib {
    /// This crate: `include/srtp2/srtp.h`, `librampart-srtp2.so`.
    DropIn,
    /// The system libsrtp2.
    Real,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::DropIn => "drop-in",
            Lib::Real => "libsrtp2",
        }
    }

    /// The start of the line rtpw prints from `srtp_get_version_string()`.
    fn banner(self) -> &'static str {
        match self {
            Lib::DropIn => "Using rampart-srtp2 ",
            Lib::Real => "Using libsrtp2 ",
        }
    }
}

/// Which rtpw source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Rtpw {
    /// libsrtp's test/rtpw.c as shipped.
    Stock,
}

/// rtpw built against `lib` (once per process).
fn rtpw(lib: Lib, variant: Rtpw) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<(Lib, Rtpw), PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(exe) = built.get(&(lib, variant)) {
        return exe.clone();
    }
    let src = libsrtp_sources();
    let dir = stage();
    let test = src.join("test");
    let Rtpw::Stock = variant;
    let main = test.join("rtpw.c");
    let exe = dir.join(format!("rtpw-{}", lib.name()));
    let shim = common::manifest_dir().join("tests/c/rtpw");
    let mut cmd = Command::new(common::cc());
    cmd.args([
        "-std=gnu99",
        "-O1",
        "-g",
        "-DHAVE_CONFIG_H",
        "-Dekt=deprecated_ekt",
        "-Werror=implicit-function-declaration",
        "-Werror=int-conversion",
        "-Werror=incompatible-pointer-types",
    ]);
    // Our stand-ins for config.h and the internal headers first, then
    // getopt_s.h, then the library's srtp.h, then test/ for rtp.h/util.h.
    cmd.arg("-I").arg(&shim);
    cmd.arg("-I").arg(dir.join("getopt"));
    match lib {
        Lib::DropIn => cmd
            .arg("-I")
            .arg(common::manifest_dir().join("include/srtp2")),
        Lib::Real => cmd
            .arg("-I")
            .arg(&common::real_libsrtp().expect("libsrtp2").include),
    };
    cmd.arg("-I").arg(&test);
    cmd.arg(&main);
    for f in ["rtp.c", "util.c", "getopt_s.c"] {
        cmd.arg(test.join(f));
    }
    cmd.arg(shim.join("shim.c")).arg("-o").arg(&exe);
    match lib {
        Lib::DropIn => {
            let libdir = dir.join("lib");
            cmd.arg("-L").arg(&libdir).arg("-lrampart-srtp2");
            cmd.arg(format!("-Wl,-rpath,{}", libdir.display()));
        }
        Lib::Real => {
            cmd.args(&common::real_libsrtp().expect("libsrtp2").libs);
        }
    }
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling rtpw against the {}: {:?}\n{}",
        lib.name(),
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    built.insert((lib, variant), exe.clone());
    exe
}

// ---------------------------------------------------------------------
// Running rtpw

/// One finished (or killed) process.
struct Proc {
    /// `None`: it overran its time and was killed.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Proc {
    fn describe(&self, who: &str) -> String {
        format!(
            "--- {who}: {}\n[stdout]\n{}[stderr]\n{}",
            self.status
                .map_or("killed after its time limit".to_string(), |s| s.to_string()),
            self.stdout,
            self.stderr
        )
    }

    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// One side of a run: which build, and its rtpw options (key, services).
#[derive(Clone)]
struct Side {
    lib: Lib,
    variant: Rtpw,
    args: Vec<String>,
}

/// Whether coreutils' `stdbuf` runs here.
fn have_stdbuf() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        Command::new("stdbuf")
            .args(["-oL", "true"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Spawns `exe args`, its output into files named after `tag`; stdout
/// line-buffered (`stdbuf -oL`, where available) when `watch`, so that
/// progress can be read while it runs.
fn spawn(exe: &Path, args: &[String], tag: &str, watch: bool) -> (Child, PathBuf, PathBuf) {
    let dir = stage();
    let out = dir.join(format!("{tag}.stdout"));
    let err = dir.join(format!("{tag}.stderr"));
    let mut cmd = if watch && have_stdbuf() {
        let mut c = Command::new("stdbuf");
        c.arg("-oL").arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
    (child, out, err)
}

/// Waits for `child` until `deadline`; kills it past that.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(status: Option<ExitStatus>, out: &Path, err: &Path) -> Proc {
    Proc {
        status,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` (`/proc/net/udp`).
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let want = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
}

/// A receiver on 127.0.0.1:`port` and a sender of [`WORDS`] to it, as
/// `rtpw_test.sh` runs them: the receiver first, then the sender, which
/// exits after the last word; then SIGTERM stops the receiver.
struct Transfer {
    sender: Option<Proc>,
    receiver: Proc,
}

fn transfer(tag: &str, tx: &Side, rx: &Side, port: u16) -> Transfer {
    assert!(
        !udp_bound(port),
        "UDP port 127.0.0.1:{port} is already in use (another run of this test?)"
    );
    let words = stage().join("words.txt").display().to_string();
    let with = |side: &Side, role: &str| -> Vec<String> {
        let mut a = side.args.clone();
        a.extend(["-w".into(), words.clone(), role.into(), "127.0.0.1".into()]);
        a.push(port.to_string());
        a
    };
    let (mut rchild, rout, rerr) = spawn(
        &rtpw(rx.lib, rx.variant),
        &with(rx, "-r"),
        &format!("{tag}.rx"),
        true,
    );
    // The receiver is ready once its socket is bound.
    let ready_by = Instant::now() + Duration::from_secs(10);
    while !udp_bound(port) {
        if let Some(s) = rchild.try_wait().unwrap() {
            return Transfer {
                sender: None,
                receiver: finish(Some(s), &rout, &rerr),
            };
        }
        if Instant::now() >= ready_by {
            let _ = rchild.kill();
            let _ = rchild.wait();
            return Transfer {
                sender: None,
                receiver: finish(None, &rout, &rerr),
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut schild, sout, serr) = spawn(
        &rtpw(tx.lib, tx.variant),
        &with(tx, "-s"),
        &format!("{tag}.tx"),
        false,
    );
    // 0.5 s a word, then slack for a loaded machine.
    let send_time = Duration::from_millis(500 * WORDS.len() as u64 + 20_000);
    let sstatus = wait_until(&mut schild, Instant::now() + send_time);
    // rtpw's receiver stops at SIGTERM even with packets queued: wait
    // until it has accounted for every packet (a word on stdout or an
    // unprotect error on stderr), 5 s at most. Without stdbuf its stdout
    // is only written at exit: then a fixed second (the last word left
    // 0.5 s before the sender exited).
    if have_stdbuf() {
        let handled_by = Instant::now() + Duration::from_secs(5);
        while Instant::now() < handled_by {
            let out = std::fs::read_to_string(&rout).unwrap_or_default();
            let err = std::fs::read_to_string(&rerr).unwrap_or_default();
            let handled =
                words_received(&out).len() + err.matches("srtp unprotection failed").count();
            if handled >= WORDS.len() || rchild.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &rchild.id().to_string()])
        .status();
    let rstatus = wait_until(&mut rchild, Instant::now() + Duration::from_secs(5));
    Transfer {
        sender: Some(finish(sstatus, &sout, &serr)),
        receiver: finish(rstatus, &rout, &rerr),
    }
}

/// rtpw's sender with an empty words file: for a build whose
/// `srtp_create` refuses the policy, it exits there.
fn probe(tag: &str, side: &Side) -> Proc {
    let mut args = side.args.clone();
    let empty = stage().join("empty.txt").display().to_string();
    // Nothing is sent (port 9, discard, never reached).
    args.extend(["-w".into(), empty, "-s".into(), "127.0.0.1".into()]);
    args.push("9".into());
    let (mut child, out, err) = spawn(&rtpw(side.lib, side.variant), &args, tag, false);
    let status = wait_until(&mut child, Instant::now() + Duration::from_secs(10));
    finish(status, &out, &err)
}

/// The words a receiver printed (`\tword: <word>`), in order.
fn words_received(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("\tword: "))
        .collect()
}

const REFUSED: &str = "error: srtp_create() failed with code 2";
const AUTH_FAIL: &str = "error: srtp unprotection failed with code 7 (auth check failed)";

/// What a run must show.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Every word received, in order; no unprotect error.
    Delivered,
    /// No word received; every packet rejected with auth_fail.
    Rejected,
}

/// Checks a transfer; `Err` explains the failure.
fn check_transfer(t: &Transfer, tx: &Side, rx: &Side, expect: Expect) -> Result<String, String> {
    let dump = || {
        let mut s = String::new();
        if let Some(sp) = &t.sender {
            s += &sp.describe("sender");
        }
        s += &t.receiver.describe("receiver");
        s
    };
    let Some(sender) = &t.sender else {
        return Err(format!(
            "the receiver exited, or did not bind its port in 10 s\n{}",
            dump()
        ));
    };
    let sent = sender.stdout.matches("sending word: ").count();
    let got = words_received(&t.receiver.stdout);
    let rejected = t.receiver.stderr.matches(AUTH_FAIL).count();
    let mut problems = Vec::new();
    if !sender.ok() {
        problems.push("the sender failed".to_string());
    }
    if !t.receiver.ok() {
        problems.push("the receiver did not exit 0 on SIGTERM".to_string());
    }
    if !sender.stdout.contains(tx.lib.banner()) {
        problems.push(format!("the sender does not run on the {}", tx.lib.name()));
    }
    if !t.receiver.stdout.contains(rx.lib.banner()) {
        problems.push(format!(
            "the receiver does not run on the {}",
            rx.lib.name()
        ));
    }
    if sent != WORDS.len() {
        problems.push(format!("sent {sent} words of {}", WORDS.len()));
    }
    match expect {
        Expect::Delivered => {
            if got != WORDS {
                problems.push(format!("received {got:?}, expected {WORDS:?}"));
            }
            if t.receiver.stderr.contains("unprotection failed") {
                problems.push("the receiver reported unprotect errors".to_string());
            }
        }
        Expect::Rejected => {
            if !got.is_empty() {
                problems.push(format!("received {got:?} under a wrong key"));
            }
            if rejected != WORDS.len() {
                problems.push(format!(
                    "{rejected} packets rejected with auth_fail, expected {}",
                    WORDS.len()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(match expect {
            Expect::Delivered => format!("{} words delivered", got.len()),
            Expect::Rejected => format!("0 words, {rejected} packets rejected (auth_fail)"),
        })
    } else {
        Err(format!("{}\n{}", problems.join("; "), dump()))
    }
}

/// Checks that a probe was refused at `srtp_create` with bad_param.
fn check_refused(p: &Proc, side: &Side) -> Result<String, String> {
    if p.status.and_then(|s| s.code()) == Some(1)
        && p.stderr.contains(REFUSED)
        && p.stdout.contains(side.lib.banner())
    {
        Ok("refused at srtp_create (bad_param)".to_string())
    } else {
        Err(format!(
            "expected `{REFUSED}` and exit 1\n{}",
            p.describe("probe")
        ))
    }
}

/// One scripted rtpw configuration.
struct Case {
    /// Where it comes from and what it selects.
    name: &'static str,
    /// rtpw's options for it (key and services), as the script gives them.
    args: &'static [&'static str],
    /// `Some(why)`: the drop-in refuses it by design.
    refused_by_design: Option<&'static str>,
}

/// One planned run and its check.
enum Run {
    Transfer {
        label: String,
        tx: Side,
        rx: Side,
        port: u16,
        expect: Expect,
    },
    Refusal {
        label: String,
        side: Side,
    },
}

fn side(lib: Lib, variant: Rtpw, args: &[&str]) -> Side {
    Side {
        lib,
        variant,
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

/// The runs for `cases`: 5 ports a case from `first_port`.
fn plan(cases: &[Case], first_port: u16) -> Vec<Run> {
    let mut runs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut port = first_port + 5 * i as u16;
        let mut next_port = || {
            let p = port;
            port += 1;
            p
        };
        let s = |lib, variant| side(lib, variant, case.args);
        // The real library to itself: the harness baseline.
        runs.push(Run::Transfer {
            label: format!("{} | libsrtp2 -> libsrtp2", case.name),
            tx: s(Lib::Real, Rtpw::Stock),
            rx: s(Lib::Real, Rtpw::Stock),
            port: next_port(),
            expect: Expect::Delivered,
        });
        if let Some(why) = case.refused_by_design {
            runs.push(Run::Refusal {
                label: format!("{} | drop-in ({why})", case.name),
                side: s(Lib::DropIn, Rtpw::Stock),
            });
            continue;
        }
        for (tx, rx) in [
            (Lib::DropIn, Lib::Real),
            (Lib::Real, Lib::DropIn),
            (Lib::DropIn, Lib::DropIn),
        ] {
            runs.push(Run::Transfer {
                label: format!("{} | {} -> {}", case.name, tx.name(), rx.name()),
                tx: s(tx, Rtpw::Stock),
                rx: s(rx, Rtpw::Stock),
                port: next_port(),
                expect: Expect::Delivered,
            });
        }
    }
    runs
}

/// Builds what `runs` need, runs them all at once (each on its own port,
/// its files named after `test` and its index) and fails with every failed
/// run explained.
fn execute(test: &str, runs: Vec<Run>) {
    let started = Instant::now();
    for run in &runs {
        match run {
            Run::Transfer { tx, rx, .. } => {
                rtpw(tx.lib, tx.variant);
                rtpw(rx.lib, rx.variant);
            }
            Run::Refusal { side, .. } => {
                rtpw(side.lib, side.variant);
            }
        }
    }
    let built = started.elapsed();
    let results: Vec<(String, Result<String, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                scope.spawn(move || match run {
                    Run::Transfer {
                        label,
                        tx,
                        rx,
                        port,
                        expect,
                    } => {
                        let t = transfer(&format!("{test}-{i}-port{port}"), tx, rx, *port);
                        (label.clone(), check_transfer(&t, tx, rx, *expect))
                    }
                    Run::Refusal { label, side } => {
                        let p = probe(&format!("{test}-{i}-probe"), side);
                        (label.clone(), check_refused(&p, side))
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!(
        "built in {:.1} s, ran {} runs in {:.1} s:",
        built.as_secs_f64(),
        results.len(),
        (started.elapsed() - built).as_secs_f64()
    );
    for (label, r) in &results {
        match r {
            Ok(what) => println!("  ok    {label}: {what}"),
            Err(_) => println!("  FAIL  {label}"),
        }
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(label, r)| r.as_ref().err().map(|e| format!("=== {label}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------
// The scripts' cases

/// rtpw_test.sh's key for `-a -e 128` (base64, 30 bytes).
const KEY_CM128_B64: &str = "Ky7cUDT2GnI0XKWYbXv9AYmqbcLsqzL9mvdN9t/G";
/// rtpw_test.sh's key for `-a -e 256` (hex, 46 bytes).
const KEY_CM256: &str =
    "033490ba9e82994fc21013395739038992b2edc5034f61a72345ca598d7bfd0189aa6dc2ecab32fd9af74df6dfc6";
/// rtpw_test_gcm.sh's keys (hex, 28 and 44 bytes).
const KEY_GCM128: &str = "01234567890123456789012345678901234567890123456789012345";
const KEY_GCM256: &str =
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567";
const KEY_GCM256_T16: &str =
    "a123456789012345678901234567890123456789012345678901234567890123456789012345678901234567";
/// For `-a` and `-e` alone (not in the scripts): 30 bytes.
const KEY_30: &str = "033490ba9e82994fc21013395739038992b2edc5034f61a72345ca598d7b";

#[test]
fn rtpw_test_sh_aes_cm_128_and_256() {
    if common::real_or_skip().is_none() {
        return;
    }
    let cases = [
        Case {
            name: "rtpw_test.sh 1: -b <base64> -a -e 128 (AES-CM-128, HMAC-SHA1-80)",
            args: &["-b", KEY_CM128_B64, "-a", "-e", "128"],
            refused_by_design: None,
        },
        Case {
            name: "rtpw_test.sh 2: -k <hex> -a -e 256 (AES-256-CM, HMAC-SHA1-80)",
            args: &["-k", KEY_CM256, "-a", "-e", "256"],
            refused_by_design: None,
        },
    ];
    execute("cm", plan(&cases, PORT_BASE));
}

#[test]
fn rtpw_test_gcm_sh_aes_gcm_128_and_256() {
    if common::real_or_skip().is_none() {
        return;
    }
    let cases = [
        Case {
            name: "rtpw_test_gcm.sh 1: -g -e 128 (AES-128-GCM, 8-byte tag)",
            args: &["-k", KEY_GCM128, "-g", "-e", "128"],
            refused_by_design: Some("8-byte GCM tag"),
        },
        Case {
            name: "rtpw_test_gcm.sh 2: -g -t 16 -e 128 (AEAD_AES_128_GCM)",
            args: &["-k", KEY_GCM128, "-g", "-t", "16", "-e", "128"],
            refused_by_design: None,
        },
        Case {
            name: "rtpw_test_gcm.sh 3: -g -e 256 (AES-256-GCM, 8-byte tag)",
            args: &["-k", KEY_GCM256, "-g", "-e", "256"],
            refused_by_design: Some("8-byte GCM tag"),
        },
        Case {
            name: "rtpw_test_gcm.sh 4: -g -t 16 -e 256 (AEAD_AES_256_GCM)",
            args: &["-k", KEY_GCM256_T16, "-g", "-t", "16", "-e", "256"],
            refused_by_design: None,
        },
    ];
    execute("gcm", plan(&cases, PORT_BASE + 20));
}

#[test]
fn rtpw_authentication_only_and_encryption_only() {
    if common::real_or_skip().is_none() {
        return;
    }
    let cases = [
        Case {
            name: "-a (NULL cipher, HMAC-SHA1-80)",
            args: &["-k", KEY_30, "-a"],
            refused_by_design: None,
        },
        Case {
            name: "-e 128 (AES-CM-128, no authentication)",
            args: &["-k", KEY_30, "-e", "128"],
            refused_by_design: Some("no authentication"),
        },
    ];
    execute("services", plan(&cases, PORT_BASE + 40));
}

/// `args` with the key (the value after `-k`/`-b`) changed in its first
/// character: another master key, same length and encoding.
fn wrong_key(args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let i = out
        .iter()
        .position(|a| a == "-k" || a == "-b")
        .expect("a key option")
        + 1;
    let first = out[i].remove(0);
    out[i].insert(0, if first == '1' { '2' } else { '1' });
    out
}

#[test]
fn rtpw_mismatched_key_delivers_nothing() {
    if common::real_or_skip().is_none() {
        return;
    }
    let cases: [(&str, &[&str]); 2] = [
        (
            "-b <base64> -a -e 128, receiver key differs",
            &["-b", KEY_CM128_B64, "-a", "-e", "128"],
        ),
        (
            "-g -t 16 -e 128, receiver key differs",
            &["-k", KEY_GCM128, "-g", "-t", "16", "-e", "128"],
        ),
    ];
    let mut runs = Vec::new();
    let mut port = PORT_BASE + 60;
    for (name, args) in cases {
        let bad = wrong_key(args);
        assert_ne!(bad, args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for (tx, rx) in [
            (Lib::Real, Lib::Real),
            (Lib::DropIn, Lib::Real),
            (Lib::Real, Lib::DropIn),
            (Lib::DropIn, Lib::DropIn),
        ] {
            runs.push(Run::Transfer {
                label: format!("{name} | {} -> {}", tx.name(), rx.name()),
                tx: side(tx, Rtpw::Stock, args),
                rx: Side {
                    lib: rx,
                    variant: Rtpw::Stock,
                    args: bad.clone(),
                },
                port,
                expect: Expect::Rejected,
            });
            port += 1;
        }
    }
    execute("wrongkey", runs);
}

// ---------------------------------------------------------------------
// Known-answer packets (tests/c/kat.c)

/// kat.c's vectors and what the drop-in must do with each (`None`: the
/// reference bytes; `Some(status)`: refused at `srtp_create` with it).
const KAT_VECTORS: &[(&str, Option<i32>)] = &[
    ("srtp_validate AES_CM_128_HMAC_SHA1_80", None),
    ("srtp_validate_gcm AEAD_AES_128_GCM", None),
    ("srtp_validate_aes_256 AES_256_CM_HMAC_SHA1_80", None),
    ("kat_gcm256.py AEAD_AES_256_GCM", None),
    // RFC 6904 header-extension encryption, byte for byte.
    (
        "srtp_validate_encrypted_extensions_headers RFC6904 AES_CM_128",
        None,
    ),
    // GCM with an 8-byte tag: not supported (bad_param) ...
    (
        "srtp_validate_encrypted_extensions_headers_gcm RFC6904 AES_GCM_128_8",
        Some(2),
    ),
    // ... the same packet with GCM's 16-byte tag.
    (
        "srtp_validate_encrypted_extensions_headers_gcm RFC6904 AEAD_AES_128_GCM",
        None,
    ),
];

/// Compiles kat.c against `lib`.
fn compile_kat(lib: Lib) -> PathBuf {
    let dir = stage();
    let exe = dir.join(format!("kat-{}", lib.name()));
    let mut cmd = Command::new(common::cc());
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"]);
    match lib {
        Lib::DropIn => {
            let libdir = dir.join("lib");
            cmd.arg("-I").arg(common::manifest_dir().join("include"));
            cmd.arg(common::manifest_dir().join("tests/c/kat.c"));
            cmd.arg("-L").arg(&libdir).arg("-lrampart-srtp2");
            cmd.arg(format!("-Wl,-rpath,{}", libdir.display()));
        }
        Lib::Real => {
            // <srtp2/srtp.h> from the parent of the srtp2 directory.
            let real = common::real_libsrtp().expect("libsrtp2");
            cmd.arg("-I").arg(real.include.parent().unwrap());
            cmd.arg(common::manifest_dir().join("tests/c/kat.c"));
            cmd.args(&real.libs);
        }
    }
    cmd.arg("-o").arg(&exe);
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling kat.c against the {}: {:?}\n{}",
        lib.name(),
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs kat (under valgrind for the drop-in, where installed) and checks
/// each vector's line against `expect(vector)`.
fn run_kat(lib: Lib, expect: impl Fn(Option<i32>) -> String) {
    let exe = compile_kat(lib);
    let valgrind = lib == Lib::DropIn && common::valgrind();
    let mut cmd = common::command(&exe, valgrind, "definite,indirect,possible");
    let started = Instant::now();
    let out = cmd.output().expect("run kat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!(
        "kat against the {} ran in {:.1} s",
        lib.name(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "kat against the {} failed ({}{})",
        lib.name(),
        out.status,
        if out.status.code() == Some(99) {
            ": valgrind found errors, see stderr"
        } else {
            ""
        }
    );
    assert!(
        stdout.contains(lib.banner().trim_start_matches("Using ")),
        "kat does not run on the {}",
        lib.name()
    );
    for (name, drop_in) in KAT_VECTORS {
        let want = format!("kat {name}: {}", expect(*drop_in));
        assert!(
            stdout.lines().any(|l| l == want),
            "expected the line `{want}`\n{stdout}"
        );
    }
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("kat ")).count(),
        KAT_VECTORS.len(),
        "kat.c and KAT_VECTORS list different vectors\n{stdout}"
    );
}

#[test]
fn known_answer_packets_on_both_libraries() {
    if common::real_or_skip().is_none() {
        return;
    }
    // The real library reproduces every vector: proof the data is right.
    run_kat(Lib::Real, |_| "ok".to_string());
    run_kat(Lib::DropIn, |d| {
        d.map_or("ok".to_string(), |st| format!("refused {st}"))
    });
}
