//! `rampart run` / `check-config` ng flags: `--ng-enable`,
//! `--ng-listen-udp`, `--ng-listen-tcp` and their `RAMPART_NG_*`
//! variables, and the ng addresses in the startup line.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::Running;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const NG_ENV: [&str; 4] = [
    "RAMPART_NG_ENABLE",
    "RAMPART_NG_LISTEN_UDP",
    "RAMPART_NG_LISTEN_TCP",
    "RAMPART_CONFIG",
];

fn cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for k in NG_ENV {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn check_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut a = vec!["check-config"];
    a.extend_from_slice(args);
    let out = cmd(&a, env).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `[ng]` section of check-config's output.
fn ng_section(toml: &str) -> String {
    toml.split("[ng]")
        .nth(1)
        .map(|s| s.split("\n[").next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no [ng] in {toml}"))
}

#[test]
fn ng_flags_and_env_override_the_file() {
    let s = ng_section(&check_config(&[], &[]));
    assert!(s.contains("enabled = false"), "{s}");
    assert!(!s.contains("tcp_listen"), "{s}");

    let s = ng_section(&check_config(
        &[
            "--ng-enable",
            "--ng-listen-udp",
            "127.0.0.1:5060",
            "--ng-listen-tcp",
            "127.0.0.1:5061",
        ],
        &[],
    ));
    assert!(s.contains("enabled = true"), "{s}");
    assert!(s.contains("listen = \"127.0.0.1:5060\""), "{s}");
    assert!(s.contains("tcp_listen = \"127.0.0.1:5061\""), "{s}");

    let env = [
        ("RAMPART_NG_ENABLE", "true"),
        ("RAMPART_NG_LISTEN_UDP", "127.0.0.1:6060"),
        ("RAMPART_NG_LISTEN_TCP", "127.0.0.1:6061"),
    ];
    let s = ng_section(&check_config(&[], &env));
    assert!(s.contains("enabled = true"), "{s}");
    assert!(s.contains("listen = \"127.0.0.1:6060\""), "{s}");
    assert!(s.contains("tcp_listen = \"127.0.0.1:6061\""), "{s}");

    // A flag beats the environment.
    let s = ng_section(&check_config(
        &["--ng-enable", "false", "--ng-listen-udp", "127.0.0.1:7060"],
        &env,
    ));
    assert!(s.contains("enabled = false"), "{s}");
    assert!(s.contains("listen = \"127.0.0.1:7060\""), "{s}");

    // Not an address: a usage error naming the flag.
    let out = cmd(&["check-config", "--ng-listen-udp", "nowhere"], &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ng-listen-udp"));
}

fn run(args: &[&str]) -> (Running, String) {
    let mut a = vec!["run", "--http-listen", "127.0.0.1:0", "--workers", "1"];
    a.extend_from_slice(args);
    Running::start(cmd(&a, &[]))
}

#[test]
fn startup_line_names_the_ng_addresses() {
    let (_r, line) = run(&[]);
    assert!(line.contains("running:"), "{line}");
    assert!(!line.contains("; ng "), "ng is off by default: {line}");

    let (_r, line) = run(&[
        "--ng-enable",
        "--ng-listen-udp",
        "127.0.0.1:0",
        "--ng-listen-tcp",
        "127.0.0.1:0",
        "--port-min",
        "44000",
        "--port-max",
        "44099",
    ]);
    let udp = support::start_line_ng(&line, "udp:");
    let tcp = support::start_line_ng(&line, "tcp:");
    assert_ne!(udp.port(), 0);
    assert_ne!(tcp.port(), 0);

    // The printed UDP address answers ping.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 256];
    loop {
        s.send_to(b"c1 d7:command4:pinge", udp).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"c1 d6:result4:ponge");
            break;
        }
        assert!(Instant::now() < deadline, "no pong from {udp}");
    }
}

/// `--port-min 65535 --port-max 65535` has no even/odd pair: the binary
/// refuses to start with a clear error instead of wrapping to port 0
/// (release) or panicking (debug).
#[test]
fn port_range_without_a_pair_is_a_clear_start_error() {
    for args in [
        &["check-config", "--port-min", "65535", "--port-max", "65535"][..],
        &["run", "--port-min", "65535", "--port-max", "65535"][..],
    ] {
        let mut child = cmd(args, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A node that started anyway is killed rather than waited for.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains("port"), "{args:?}: {err}");
    }
}
