//! GStreamer's `srtpenc`/`srtpdec` (gstreamer1.0-plugins-bad, linked
//! against `libsrtp2.so.1`) run unchanged on librampart-srtp2 as a loader
//! drop-in, and interoperate with Debian's real libsrtp2 over UDP loopback.
//!
//! Each case runs two `gst-launch-1.0` processes: a sender
//! (`audiotestsrc ! mulawenc ! rtppcmupay ! srtpenc ! udpsink`, live,
//! 100 packets of 160 bytes of PCMU) and a receiver
//! (`udpsrc ! srtpdec ! multifilesink`). The drop-in side runs with
//! `LD_LIBRARY_PATH` on a stage directory holding this build's
//! `librampart_srtp2.so` under the name `libsrtp2.so.1`; the real side runs
//! with no `LD_LIBRARY_PATH`. What each process really loaded is read from
//! the dynamic loader's own trace (`LD_DEBUG=libs`: "calling init:
//! <path>/libsrtp2.so.1"): the drop-in side must have initialised the
//! staged copy, the real side a libsrtp2 that is not Rampart.
//!
//! Every plaintext RTP packet the sender protects, every SRTP packet it
//! sends and every packet the receiver decrypts is written to its own file
//! (`multifilesink`), so a case asserts: all 100 packets protected; each
//! SRTP packet is its RTP packet plus the suite's tag (10 bytes for
//! AES_CM_128_HMAC_SHA1_80, 16 for AEAD_AES_128_GCM), header in the clear,
//! payload encrypted; the receiver decrypted exactly as many packets as
//! were sent, each byte-identical to the sender's plaintext, and `srtpdec`
//! logged no authentication failure.
//!
//! Cases, for AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM each:
//! real → real (the pipeline itself works), drop-in → real, real → drop-in,
//! and a negative case: a drop-in receiver given a different key decrypts
//! nothing and `srtpdec` reports an authentication failure for every
//! packet (so the drop-in really verifies tags, and a zero count is not a
//! broken pipeline).
//!
//! Needs gst-launch-1.0 (gstreamer1.0-tools) and the elements of
//! gstreamer1.0-plugins-{base,good,bad}. When they are missing and the test
//! runs as root it installs them with apt-get (bounded); otherwise it fails
//! saying what to install. Ports: UDP 45480-45487 on 127.0.0.1. Every
//! process runs under `timeout` and under a deadline here.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// RTP packets each sender produces (20 ms each: two seconds of audio).
const PACKETS: usize = 100;
/// PCMU bytes per packet (20 ms at 8 kHz).
const PAYLOAD: usize = 160;
/// RTP header bytes (no CSRC, no extension: rtppcmupay's packets).
const RTP_HEADER: usize = 12;
/// The sender's SSRC, announced to the receiver in its caps.
const SSRC: u32 = 0x5eed_0001;
/// Debian packages holding gst-launch-1.0 and the elements used here.
const PACKAGES: &[&str] = &[
    "gstreamer1.0-tools",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
];
/// Elements the pipelines use.
const ELEMENTS: &[&str] = &[
    "srtpenc",
    "srtpdec",
    "audiotestsrc",
    "mulawenc",
    "rtppcmupay",
    "udpsrc",
    "udpsink",
    "multifilesink",
    "tee",
    "queue",
];

/// An SRTP suite as srtpenc's properties and srtpdec's caps name it.
#[derive(Clone, Copy)]
struct Suite {
    cipher: &'static str,
    auth: &'static str,
    /// Master key followed by master salt.
    key: &'static str,
    /// Bytes protect appends to an RTP packet.
    tag: usize,
}

const AES_CM_128_HMAC_SHA1_80: Suite = Suite {
    cipher: "aes-128-icm",
    auth: "hmac-sha1-80",
    // 16-byte key + 14-byte salt.
    key: "e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6",
    tag: 10,
};

const AEAD_AES_128_GCM: Suite = Suite {
    cipher: "aes-128-gcm",
    // GCM authenticates itself: srtpenc/srtpdec name no separate auth.
    auth: "null",
    // 16-byte key + 12-byte salt.
    key: "077c6143cb221bc355ff23d5f984a16e9e9c4c9d9c6a8c1f0e2d3b4a",
    tag: 16,
};

impl Suite {
    /// The key with its first byte flipped: the wrong key.
    fn wrong_key(&self) -> String {
        let first = u8::from_str_radix(&self.key[..2], 16).unwrap() ^ 0xff;
        format!("{first:02x}{}", &self.key[2..])
    }
}

/// Which libsrtp2 a gst-launch-1.0 process loads.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Lib {
    /// Debian's libsrtp2.so.1, found by the loader's default search.
    Real,
    /// This build's librampart_srtp2.so, staged as libsrtp2.so.1.
    DropIn,
}

/// A directory per test process (`common::stage`) holding this build's
/// drop-in as `lib/libsrtp2.so.1`, and the cases' work files.
fn stage() -> &'static Path {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE.get_or_init(|| common::stage("gst"))
}

fn dropin_lib() -> PathBuf {
    stage().join("lib/libsrtp2.so.1")
}

// ---- GStreamer present, or installed ---------------------------------------

fn missing_elements() -> Vec<&'static str> {
    ELEMENTS
        .iter()
        .copied()
        .filter(|e| {
            !Command::new("gst-inspect-1.0")
                .args(["--exists", e])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get <args>` under a time bound, waiting for dpkg's lock (other
/// test processes may be installing the same packages).
fn apt_get(args: &[&str]) -> bool {
    Command::new("timeout")
        .args(["-k", "10", "300", "apt-get", "-q", "-y"])
        .args(["-o", "DPkg::Lock::Timeout=240"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure gst-launch-1.0 and every element are there: installs the
/// packages when running as root, else fails saying what is missing.
fn require_gstreamer() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let missing = missing_elements();
        if missing.is_empty() {
            return;
        }
        let how = format!(
            "apt-get install {} (scripts/test should install them)",
            PACKAGES.join(" ")
        );
        assert!(
            is_root(),
            "GStreamer elements {missing:?} missing and not root: {how}"
        );
        eprintln!("gstreamer: {missing:?} missing, installing {PACKAGES:?}");
        let mut install = vec!["install", "--no-install-recommends"];
        install.extend_from_slice(PACKAGES);
        if !apt_get(&install) {
            // Stale package lists: refresh once and retry.
            apt_get(&["update"]);
            assert!(apt_get(&install), "installing failed: {how}");
        }
        let missing = missing_elements();
        assert!(
            missing.is_empty(),
            "GStreamer elements {missing:?} still missing after installing: {how}"
        );
    });
}

// ---- processes -------------------------------------------------------------

/// A `gst-launch-1.0` under `timeout`, its output in files.
struct Gst {
    child: Child,
    what: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Gst {
    /// Starts `gst-launch-1.0 <pipeline>` with `lib` as its libsrtp2;
    /// `tag` names its files in `work`. `timeout` delivers SIGINT (a clean
    /// stop for gst-launch-1.0) after `limit`, SIGKILL 5 s later.
    fn start(work: &Path, tag: &str, lib: Lib, limit: Duration, pipeline: &[String]) -> Gst {
        let stdout = work.join(format!("{tag}.stdout"));
        let stderr = work.join(format!("{tag}.stderr"));
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "INT", "-k", "5"])
            .arg(limit.as_secs().to_string())
            .arg("gst-launch-1.0")
            .args(pipeline)
            .env("LD_DEBUG", "libs")
            .env("LD_DEBUG_OUTPUT", work.join(format!("ld-{tag}")))
            .env("GST_DEBUG", "srtpenc:4,srtpdec:4")
            .env("GST_DEBUG_NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        match lib {
            Lib::Real => cmd.env_remove("LD_LIBRARY_PATH"),
            Lib::DropIn => cmd.env("LD_LIBRARY_PATH", stage().join("lib")),
        };
        let child = cmd.spawn().expect("start timeout gst-launch-1.0");
        Gst {
            child,
            what: format!("{tag} ({lib:?} libsrtp2)"),
            stdout,
            stderr,
        }
    }

    /// Both output files, for messages.
    fn output(&self) -> String {
        format!(
            "--- {} stdout:\n{}\n--- stderr:\n{}",
            self.what,
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            tail(
                &std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                60
            )
        )
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    fn poll(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait gst-launch-1.0")
    }

    /// Waits until it exits; kills it and fails past `deadline`.
    fn wait(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(s) = self.poll() {
                return s;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("{} did not exit in time\n{}", self.what, self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills `timeout` and gst-launch-1.0: `timeout` runs in a process
    /// group of its own (its pid), which holds gst-launch-1.0 too (killing
    /// `timeout` alone would leave gst-launch-1.0 running, holding its port).
    fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks gst-launch-1.0 to stop: one SIGINT, straight to it. (A SIGINT
    /// to `timeout` reaches gst-launch-1.0 twice, directly and through the
    /// process group, and gst-launch-1.0 handles only the first: the second
    /// can kill it.) Falls back on `timeout` if its child is not found.
    fn interrupt(&self) {
        let id = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap_or_default();
        let target = children
            .split_whitespace()
            .next()
            .map_or(id.to_string(), str::to_string);
        let _ = Command::new("kill").args(["-INT", &target]).status();
    }
}

impl Drop for Gst {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether a process holds UDP port `port` on 127.0.0.1 or 0.0.0.0.
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let want = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|local| want.iter().any(|w| w == local))
}

/// The libsrtp2.so.1 files a process and its children initialised, from
/// the loader's trace files `ld-<tag>.<pid>`.
fn loaded_libsrtp2(work: &Path, tag: &str) -> BTreeSet<PathBuf> {
    let prefix = format!("ld-{tag}.");
    let mut libs = BTreeSet::new();
    for e in std::fs::read_dir(work).unwrap().flatten() {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some((_, path)) = line.split_once("calling init: ") {
                let path = PathBuf::from(path.trim());
                if path.file_name().is_some_and(|n| n == "libsrtp2.so.1") {
                    libs.insert(path);
                }
            }
        }
    }
    libs
}

/// Asserts the process tagged `tag` ran on the libsrtp2 `lib` says.
fn assert_loaded(work: &Path, tag: &str, lib: Lib) -> PathBuf {
    let libs = loaded_libsrtp2(work, tag);
    assert_eq!(
        libs.len(),
        1,
        "{tag}: expected exactly one libsrtp2.so.1 initialised, the loader's trace shows {libs:?}"
    );
    let path = libs.into_iter().next().unwrap();
    match lib {
        Lib::DropIn => assert_eq!(
            path,
            dropin_lib(),
            "{tag}: the drop-in side loaded {} instead of the staged librampart-srtp2",
            path.display()
        ),
        Lib::Real => {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                bytes.len() < 16 << 20 && !bytes.windows(7).any(|w| w == b"rampart"),
                "{tag}: the real side loaded {}, which is Rampart, not Debian's libsrtp2",
                path.display()
            );
        }
    }
    path
}

/// Packet files `<prefix>-NNNNN.rtp` in `work`, in order.
fn packets(work: &Path, prefix: &str) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{prefix}-")) && n.ends_with(".rtp"))
        })
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn count_packets(work: &Path, prefix: &str) -> usize {
    std::fs::read_dir(work)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
                })
                .count()
        })
        .unwrap_or(0)
}

// ---- one case --------------------------------------------------------------

/// What a case observed.
struct Outcome {
    /// Plaintext RTP packets the sender protected.
    plain: Vec<Vec<u8>>,
    /// SRTP packets the sender sent.
    srtp: Vec<Vec<u8>>,
    /// RTP packets the receiver decrypted.
    decrypted: Vec<Vec<u8>>,
    /// `srtpdec`'s authentication failures.
    auth_failures: usize,
    /// The receiver's stderr (its srtpdec log).
    rx_log: String,
}

/// Streams `PACKETS` packets of `suite` from a sender on `tx` to a
/// receiver on `rx` holding `rx_key`, over 127.0.0.1:`port`.
fn run_case(name: &str, suite: Suite, tx: Lib, rx: Lib, rx_key: &str, port: u16) -> Outcome {
    require_gstreamer();
    let work = stage().join(name);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let w = work.display();

    if let Err(e) = UdpSocket::bind(("127.0.0.1", port)) {
        panic!("UDP port {port} on 127.0.0.1 is taken ({e}): this test needs 45480-45487");
    }

    // Receiver: decrypts and writes every RTP packet to its own file.
    let caps = format!(
        "caps=application/x-srtp, ssrc=(uint){SSRC}, srtp-key=(buffer){key}, \
         srtp-cipher=(string){c}, srtp-auth=(string){a}, \
         srtcp-cipher=(string){c}, srtcp-auth=(string){a}",
        key = rx_key,
        c = suite.cipher,
        a = suite.auth,
    );
    let rx_pipeline: Vec<String> = [
        "udpsrc",
        "address=127.0.0.1",
        &format!("port={port}"),
        &caps,
        "!",
        "srtpdec",
        "!",
        "multifilesink",
        &format!("location={w}/rx-%05d.rtp"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut receiver = Gst::start(&work, "rx", rx, Duration::from_secs(60), &rx_pipeline);

    let deadline = Instant::now() + Duration::from_secs(30);
    while !udp_bound(port) {
        if let Some(s) = receiver.poll() {
            panic!(
                "receiver exited ({s}) before listening\n{}",
                receiver.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "receiver not listening on {port} after 30 s\n{}",
            receiver.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Sender: live PCMU, 20 ms packets; the plaintext RTP and the SRTP
    // packets are written to files on the way.
    let tx_pipeline: Vec<String> = [
        "audiotestsrc",
        "is-live=true",
        &format!("num-buffers={PACKETS}"),
        &format!("samplesperbuffer={PAYLOAD}"),
        "!",
        "audio/x-raw,rate=8000,channels=1",
        "!",
        "mulawenc",
        "!",
        "rtppcmupay",
        &format!("ssrc={SSRC}"),
        "min-ptime=20000000",
        "max-ptime=20000000",
        "!",
        "tee",
        "name=plain",
        "!",
        "queue",
        "!",
        "multifilesink",
        &format!("location={w}/plain-%05d.rtp"),
        "plain.",
        "!",
        "queue",
        "!",
        "srtpenc",
        &format!("key={}", suite.key),
        &format!("rtp-cipher={}", suite.cipher),
        &format!("rtp-auth={}", suite.auth),
        &format!("rtcp-cipher={}", suite.cipher),
        &format!("rtcp-auth={}", suite.auth),
        "!",
        "tee",
        "name=srtp",
        "!",
        "queue",
        "!",
        "multifilesink",
        &format!("location={w}/srtp-%05d.rtp"),
        "srtp.",
        "!",
        "queue",
        "!",
        "udpsink",
        "host=127.0.0.1",
        &format!("port={port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sender = Gst::start(&work, "tx", tx, Duration::from_secs(60), &tx_pipeline);
    let status = sender.wait(Instant::now() + Duration::from_secs(70));
    assert!(
        status.success(),
        "sender failed ({status})\n{}",
        sender.output()
    );
    let sent = count_packets(&work, "srtp");

    // Let the receiver drain: until it has as many packets as were sent,
    // or nothing new came for 1.5 s.
    let hard = Instant::now() + Duration::from_secs(15);
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        let n = count_packets(&work, "rx");
        if n >= sent || Instant::now() >= hard {
            break;
        }
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_millis(1500) {
            break;
        }
        if let Some(s) = receiver.poll() {
            panic!("receiver exited early ({s})\n{}", receiver.output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Files are complete once the receiver has stopped.
    std::thread::sleep(Duration::from_millis(200));
    if let Some(s) = receiver.poll() {
        panic!("receiver exited early ({s})\n{}", receiver.output());
    }
    receiver.interrupt();
    let status = receiver.wait(Instant::now() + Duration::from_secs(20));
    assert!(
        status.success(),
        "receiver failed ({status}): an error, not a clean interrupt\n{}",
        receiver.output()
    );

    for p in [&sender, &receiver] {
        assert!(
            !p.output().contains("ERROR: from element"),
            "pipeline error\n{}",
            p.output()
        );
    }
    let tx_lib = assert_loaded(&work, "tx", tx);
    let rx_lib = assert_loaded(&work, "rx", rx);
    let rx_log = receiver.stderr();
    let auth_failures = rx_log.matches("Error authentication packet").count();
    let out = Outcome {
        plain: packets(&work, "plain"),
        srtp: packets(&work, "srtp"),
        decrypted: packets(&work, "rx"),
        auth_failures,
        rx_log,
    };
    println!(
        "{name}: sender on {} ({}), receiver on {} ({}): {} RTP protected, {} SRTP sent \
         ({} bytes each), {} decrypted, {} authentication failures",
        if tx == Lib::DropIn { "drop-in" } else { "real" },
        tx_lib.display(),
        if rx == Lib::DropIn { "drop-in" } else { "real" },
        rx_lib.display(),
        out.plain.len(),
        out.srtp.len(),
        out.srtp.first().map_or(0, Vec::len),
        out.decrypted.len(),
        out.auth_failures,
    );
    out
}

/// The sender's side of a case: every packet protected, tag appended,
/// header in the clear, payload encrypted.
fn assert_sent(out: &Outcome, suite: Suite) {
    assert_eq!(out.plain.len(), PACKETS, "RTP packets the sender produced");
    assert_eq!(out.srtp.len(), PACKETS, "SRTP packets the sender sent");
    for (i, (p, s)) in out.plain.iter().zip(&out.srtp).enumerate() {
        assert_eq!(p.len(), RTP_HEADER + PAYLOAD, "RTP packet {i} length");
        assert_eq!(
            s.len(),
            p.len() + suite.tag,
            "SRTP packet {i}: RTP length + {}-byte tag",
            suite.tag
        );
        assert_eq!(s[..RTP_HEADER], p[..RTP_HEADER], "SRTP packet {i} header");
        assert_ne!(
            s[RTP_HEADER..p.len()],
            p[RTP_HEADER..],
            "SRTP packet {i}: payload not encrypted"
        );
    }
}

/// A case where the receiver holds the sender's key: all decrypted.
fn interop(name: &str, suite: Suite, tx: Lib, rx: Lib, port: u16) {
    let out = run_case(name, suite, tx, rx, suite.key, port);
    assert_sent(&out, suite);
    assert_eq!(
        out.auth_failures,
        0,
        "srtpdec rejected packets\n{}",
        tail(&out.rx_log, 40)
    );
    assert_eq!(
        out.decrypted.len(),
        out.srtp.len(),
        "packets decrypted vs sent\n{}",
        tail(&out.rx_log, 40)
    );
    for (i, (d, p)) in out.decrypted.iter().zip(&out.plain).enumerate() {
        assert_eq!(d, p, "decrypted packet {i} differs from the plaintext sent");
    }
}

/// The drop-in receiver holds a different key: nothing decrypted, every
/// packet rejected by authentication.
fn wrong_key(name: &str, suite: Suite, port: u16) {
    let out = run_case(
        name,
        suite,
        Lib::Real,
        Lib::DropIn,
        &suite.wrong_key(),
        port,
    );
    assert_sent(&out, suite);
    assert!(
        out.rx_log.contains("Setting RTP policy"),
        "srtpdec never set up its stream\n{}",
        tail(&out.rx_log, 40)
    );
    assert_eq!(
        out.decrypted.len(),
        0,
        "packets decrypted with the wrong key"
    );
    // Loopback at 50 packets/s loses none; allow for one all the same.
    assert!(
        out.auth_failures + 1 >= out.srtp.len(),
        "{} authentication failures for {} packets\n{}",
        out.auth_failures,
        out.srtp.len(),
        tail(&out.rx_log, 40)
    );
}

// ---- AES_CM_128_HMAC_SHA1_80 -------------------------------------------------

#[test]
fn aes_cm_128_hmac_sha1_80_real_to_real_baseline() {
    interop(
        "aes-cm-real-to-real",
        AES_CM_128_HMAC_SHA1_80,
        Lib::Real,
        Lib::Real,
        45480,
    );
}

#[test]
fn aes_cm_128_hmac_sha1_80_dropin_to_real() {
    interop(
        "aes-cm-dropin-to-real",
        AES_CM_128_HMAC_SHA1_80,
        Lib::DropIn,
        Lib::Real,
        45481,
    );
}

#[test]
fn aes_cm_128_hmac_sha1_80_real_to_dropin() {
    interop(
        "aes-cm-real-to-dropin",
        AES_CM_128_HMAC_SHA1_80,
        Lib::Real,
        Lib::DropIn,
        45482,
    );
}

#[test]
fn aes_cm_128_hmac_sha1_80_dropin_rejects_wrong_key() {
    wrong_key("aes-cm-wrong-key", AES_CM_128_HMAC_SHA1_80, 45483);
}

// ---- AEAD_AES_128_GCM --------------------------------------------------------

#[test]
fn aead_aes_128_gcm_real_to_real_baseline() {
    interop(
        "gcm-real-to-real",
        AEAD_AES_128_GCM,
        Lib::Real,
        Lib::Real,
        45484,
    );
}

#[test]
fn aead_aes_128_gcm_dropin_to_real() {
    interop(
        "gcm-dropin-to-real",
        AEAD_AES_128_GCM,
        Lib::DropIn,
        Lib::Real,
        45485,
    );
}

#[test]
fn aead_aes_128_gcm_real_to_dropin() {
    interop(
        "gcm-real-to-dropin",
        AEAD_AES_128_GCM,
        Lib::Real,
        Lib::DropIn,
        45486,
    );
}

#[test]
fn aead_aes_128_gcm_dropin_rejects_wrong_key() {
    wrong_key("gcm-wrong-key", AEAD_AES_128_GCM, 45487);
}
