//! A network-namespace topology for end-to-end tests that must cross a real
//! interface (AF_XDP only sees frames arriving on one; loopback never does).
//!
//! Three namespaces, made by the test with `ip` (iproute2; tests run as
//! root here and in CI):
//!
//! ```text
//!  rxs-<pid>-<tag>-ph                rxs-<pid>-<tag>-node               rxs-<pid>-<tag>-ph2
//!  rp0 198.51.100.1, .3  <-- veth -->  rn0 198.51.100.2
//!      2001:db8::1, ::3                    2001:db8::2
//!                                      rn1 203.0.113.2      <-- veth -->  rp1 203.0.113.1
//!                                          2001:db8:1::2                      2001:db8:1::1
//! ```
//!
//! Every veth also has a fixed link-local address: fe80::2 on the node's,
//! fe80::1 on the phones'. Two phones' addresses share the first link; the second link puts a phone
//! behind another node interface. Each phone namespace routes everything
//! else through the node, so a node socket bound on `rn0`'s address can
//! talk to the phone on `ph2` (its packets then leave through `rn1`).
//!
//! Why namespaces are entered per *thread* ([`Topology::enter`]) rather than
//! with `ip netns exec`: the data plane and the phones are all in the test
//! process. A socket keeps the namespace it was made in, and threads
//! inherit the namespace of the thread that spawns them, so a test binds
//! the node's sockets and starts `DataPlane` while entered in the node
//! namespace, binds the phones' sockets while entered in a phone namespace,
//! and drives everything from its own thread. That works under `cargo test`
//! (tests are threads of one process) as well as under `cargo nextest`.
//!
//! Names carry the process id and a per-test tag, so parallel tests and
//! parallel test processes never collide; the namespaces go when the
//! [`Topology`] is dropped (deleting a namespace deletes its veths), and
//! leftovers of dead processes are removed the first time a topology is
//! made. If the namespaces cannot be made (not root, no iproute2) the test
//! fails with the reason, unless `RAMPART_XDP_ALLOW_SKIP=1` is set.
use std::fs::File;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The node's interface toward the phones namespace.
pub const NODE_IF0: &str = "rn0";
/// The node's interface toward the second phones namespace.
pub const NODE_IF1: &str = "rn1";
/// The phones' interface (in `ph`).
pub const PHONE_IF0: &str = "rp0";
/// The second link's phone interface (in `ph2`).
pub const PHONE_IF1: &str = "rp1";

/// The environment variable that turns "cannot make namespaces" from a
/// failure into a skip.
pub const ALLOW_SKIP: &str = "RAMPART_XDP_ALLOW_SKIP";

/// How long one `ip` (or [`Topology::exec`]) command may run.
const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// One namespace of the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// The relay node: `rn0` and `rn1`.
    Node,
    /// The phones on the first link: `rp0`, two addresses per family.
    Phones,
    /// The phone on the second link: `rp1`.
    Phones2,
}

impl Ns {
    fn suffix(self) -> &'static str {
        match self {
            Ns::Node => "node",
            Ns::Phones => "ph",
            Ns::Phones2 => "ph2",
        }
    }
}

/// The node's address on `rn0`.
pub fn node_ip4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))
}

/// The node's IPv6 address on `rn0`.
pub fn node_ip6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2))
}

/// The node's address on `rn1` (the second link).
pub fn node2_ip4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2))
}

/// The node's IPv6 address on `rn1`.
pub fn node2_ip6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2))
}

/// Phone `n` (0 or 1) on the first link, in [`Ns::Phones`]:
/// 198.51.100.1 and 198.51.100.3.
pub fn phone_ip4(n: usize) -> IpAddr {
    assert!(n < 2, "the first link has phones 0 and 1, not {n}");
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, [1, 3][n]))
}

/// Phone `n` (0 or 1) on the first link: 2001:db8::1 and 2001:db8::3.
pub fn phone_ip6(n: usize) -> IpAddr {
    assert!(n < 2, "the first link has phones 0 and 1, not {n}");
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, [1, 3][n]))
}

/// The phone on the second link, in [`Ns::Phones2`]: 203.0.113.1.
pub fn phone2_ip4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1))
}

/// The phone on the second link: 2001:db8:1::1.
pub fn phone2_ip6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1))
}

/// Runs `cmd` to completion within [`CMD_TIMEOUT`]; its stdout on
/// success, else a message naming the command, its status and stderr.
fn run_cmd(cmd: &[&str]) -> Result<String, String> {
    run_with_input(cmd, None)
}

/// [`run_cmd`], with `input` written to the command's stdin.
fn run_with_input(cmd: &[&str], input: Option<&str>) -> Result<String, String> {
    let shown = cmd.join(" ");
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A few hundred bytes: fits the pipe, so this cannot block. A
        // command that died early shows up in its status below.
        let _ = stdin.write_all(text.as_bytes());
    }
    // Readers on their own threads, so a chatty command cannot fill a pipe
    // and stall while we wait for it.
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = pipe(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pipe(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{shown}` ran over {CMD_TIMEOUT:?} and was killed"));
            }
            Err(e) => return Err(format!("`{shown}`: wait failed: {e}")),
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{shown}` failed ({status}): {}",
            err.trim().replace('\n', "; ")
        ))
    }
}

/// Runs `ip <args>`; its stdout. Panics naming the command and its stderr
/// if it fails.
pub fn ip(args: &[&str]) -> String {
    let mut cmd = vec!["ip"];
    cmd.extend_from_slice(args);
    run_cmd(&cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `lines` through one `ip [-n ns] -batch -` (one process instead of
/// one per line: setting the topology up took 3–4 times longer without).
/// `ip` stops at the first failing line; the error names that line.
fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), String> {
    let mut cmd = vec!["ip"];
    if let Some(ns) = ns {
        cmd.extend_from_slice(&["-n", ns]);
    }
    cmd.extend_from_slice(&["-batch", "-"]);
    let input = lines.join("\n") + "\n";
    run_with_input(&cmd, Some(&input)).map(drop).map_err(|e| {
        // "Command failed -:N" names the 1-based line.
        let line = e
            .rsplit("Command failed -:")
            .next()
            .and_then(|r| r.trim().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| lines.get(n.wrapping_sub(1)));
        match line {
            Some(l) => format!("`ip {}` in {e}", l),
            None => e,
        }
    })
}

/// Deletes `rxs-<pid>-*` namespaces whose process is gone (a test that was
/// killed never ran its `Drop`). Names of live processes, and names
/// without a pid, are left alone. Once per process.
fn remove_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::fs::read_dir("/var/run/netns") else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("rxs-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            // Another process may be removing the same leftover: only a
            // failure that leaves it in place is worth a word.
            if let Err(e) = run_cmd(&["ip", "netns", "del", &name]) {
                if entry.path().exists() {
                    eprintln!("netns: could not remove stale namespace {name}: {e}");
                }
            }
        }
    });
}

/// The three namespaces and two veth links of one test; removed on drop.
#[derive(Debug)]
pub struct Topology {
    /// `rxs-<pid>-<tag>`.
    prefix: String,
}

impl Topology {
    /// Makes the topology for the test `tag` (letters, digits, `-` and `_`
    /// are kept; anything else becomes `-`). `None` only when it cannot be
    /// made and `RAMPART_XDP_ALLOW_SKIP=1` is set (the reason is printed);
    /// without that variable such a failure panics with the reason.
    pub fn new(tag: &str) -> Option<Topology> {
        remove_stale();
        let tag: String = tag
            .chars()
            .take(96)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let topo = Topology {
            prefix: format!("rxs-{}-{tag}", std::process::id()),
        };
        match topo.build() {
            Ok(()) => Some(topo),
            Err(e) => {
                drop(topo);
                let msg =
                    format!("cannot make the netns test topology (needs root and iproute2): {e}");
                if std::env::var(ALLOW_SKIP).as_deref() == Ok("1") {
                    eprintln!("SKIPPED ({ALLOW_SKIP}=1): {msg}");
                    None
                } else {
                    panic!("{msg} (set {ALLOW_SKIP}=1 to skip instead)");
                }
            }
        }
    }

    fn build(&self) -> Result<(), String> {
        let [node, ph, ph2] = [Ns::Node, Ns::Phones, Ns::Phones2].map(|n| self.ns_name(n));
        let lines = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        ip_batch(None, &[&node, &ph, &ph2].map(|n| format!("netns add {n}")))?;
        // Order matters for IPv6 (both found by measuring the first
        // packet's delay): links go up *before* their addresses are added
        // (an address added to a down veth left the first neighbour
        // solicitation unanswered: 1 s late), and each veth gets a fixed
        // link-local address with `nodad` instead of a generated one that
        // sits in DAD for ~2 s (the node soliciting for a phone on `rn1`
        // from its `rn0` address needs `rn1`'s link-local as the source).
        //
        // Veths are made inside the node namespace (never in the caller's,
        // where parallel tests would fight over the names).
        ip_batch(
            Some(&node),
            &[
                "link set lo up".to_string(),
                format!("link add {NODE_IF0} type veth peer name {PHONE_IF0} netns {ph}"),
                format!("link add {NODE_IF1} type veth peer name {PHONE_IF1} netns {ph2}"),
                format!("link set {NODE_IF0} addrgenmode none"),
                format!("link set {NODE_IF1} addrgenmode none"),
                format!("link set {NODE_IF0} up"),
                format!("link set {NODE_IF1} up"),
            ],
        )?;
        ip_batch(
            Some(&ph),
            &lines(&[
                "link set lo up",
                "link set rp0 addrgenmode none",
                "link set rp0 up",
                "addr add 198.51.100.1/24 dev rp0",
                "addr add 198.51.100.3/24 dev rp0",
                "addr add 2001:db8::1/64 dev rp0 nodad",
                "addr add 2001:db8::3/64 dev rp0 nodad",
                "addr add fe80::1/64 dev rp0 nodad",
                // The node's other addresses are reached through it.
                "route add default via 198.51.100.2",
                "route add default via 2001:db8::2",
            ]),
        )?;
        ip_batch(
            Some(&ph2),
            &lines(&[
                "link set lo up",
                "link set rp1 addrgenmode none",
                "link set rp1 up",
                "addr add 203.0.113.1/24 dev rp1",
                "addr add 2001:db8:1::1/64 dev rp1 nodad",
                "addr add fe80::1/64 dev rp1 nodad",
                "route add default via 203.0.113.2",
                "route add default via 2001:db8:1::2",
            ]),
        )?;
        ip_batch(
            Some(&node),
            &lines(&[
                "addr add 198.51.100.2/24 dev rn0",
                "addr add 2001:db8::2/64 dev rn0 nodad",
                "addr add fe80::2/64 dev rn0 nodad",
                "addr add 203.0.113.2/24 dev rn1",
                "addr add 2001:db8:1::2/64 dev rn1 nodad",
                "addr add fe80::2/64 dev rn1 nodad",
            ]),
        )
    }

    /// The namespace's name: `rxs-<pid>-<tag>-node`, `-ph` or `-ph2`.
    pub fn ns_name(&self, which: Ns) -> String {
        format!("{}-{}", self.prefix, which.suffix())
    }

    /// Switches the calling thread into `which` until the guard drops.
    /// Sockets made meanwhile stay in that namespace, and threads spawned
    /// meanwhile start (and stay) in it.
    pub fn enter(&self, which: Ns) -> NsGuard {
        let name = self.ns_name(which);
        let orig = File::open("/proc/thread-self/ns/net")
            .unwrap_or_else(|e| panic!("open /proc/thread-self/ns/net: {e}"));
        let target = File::open(format!("/var/run/netns/{name}"))
            .unwrap_or_else(|e| panic!("open /var/run/netns/{name}: {e}"));
        rampart_sys::setns_net(&target).unwrap_or_else(|e| panic!("setns into {name}: {e}"));
        NsGuard {
            orig,
            name,
            _not_send: PhantomData,
        }
    }

    /// A UDP socket on `ip`, port 0, made in `which`, with a read timeout.
    pub fn udp(&self, which: Ns, ip: IpAddr, read_timeout: Duration) -> UdpSocket {
        let _in = self.enter(which);
        let s = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap_or_else(|e| {
            panic!("bind {ip} in {}: {e}", self.ns_name(which));
        });
        s.set_read_timeout(Some(read_timeout)).unwrap();
        s
    }

    /// Runs `cmd` inside `which` (`ip netns exec`); its stdout. Panics
    /// naming the command and its stderr if it fails.
    pub fn exec(&self, which: Ns, cmd: &[&str]) -> String {
        let name = self.ns_name(which);
        let mut full = vec!["ip", "netns", "exec", &name];
        full.extend_from_slice(cmd);
        run_cmd(&full).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ip -n <which> <args>`; its stdout. Panics on failure.
    pub fn ip(&self, which: Ns, args: &[&str]) -> String {
        let name = self.ns_name(which);
        let mut full = vec!["-n", &name];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Packets received and sent by interface `dev` in `which`, from the
    /// kernel's link statistics.
    pub fn link_packets(&self, which: Ns, dev: &str) -> (u64, u64) {
        let json = self.ip(which, &["-s", "-j", "link", "show", "dev", dev]);
        let v: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("`ip -s -j link show dev {dev}`: {e}: {json}"));
        let stat = |dir: &str| {
            v[0]["stats64"][dir]["packets"]
                .as_u64()
                .unwrap_or_else(|| panic!("no stats64.{dir}.packets for {dev}: {json}"))
        };
        (stat("rx"), stat("tx"))
    }

    /// How many threads of this process are in `which` now (a check that
    /// spawned workers inherited it: kernel-socket backends work from any
    /// namespace once their sockets are made, so media alone cannot tell).
    pub fn threads_in(&self, which: Ns) -> usize {
        use std::os::unix::fs::MetadataExt;
        let name = self.ns_name(which);
        let ino = std::fs::metadata(format!("/var/run/netns/{name}"))
            .unwrap_or_else(|e| panic!("stat /var/run/netns/{name}: {e}"))
            .ino();
        let want = format!("net:[{ino}]");
        std::fs::read_dir("/proc/self/task")
            .unwrap_or_else(|e| panic!("read /proc/self/task: {e}"))
            .flatten()
            .filter(|t| {
                std::fs::read_link(t.path().join("ns/net"))
                    .is_ok_and(|l| l.as_os_str() == want.as_str())
            })
            .count()
    }

    /// Sets `dev` in `which` up or down (a cable pulled mid-test).
    pub fn set_link(&self, which: Ns, dev: &str, up: bool) {
        self.ip(which, &["link", "set", dev, if up { "up" } else { "down" }]);
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let mut failed = Vec::new();
        // Those that exist: after a failed build, some may not.
        for ns in [Ns::Phones2, Ns::Phones, Ns::Node] {
            let name = self.ns_name(ns);
            if !std::path::Path::new(&format!("/var/run/netns/{name}")).exists() {
                continue;
            }
            if let Err(e) = run_cmd(&["ip", "netns", "del", &name]) {
                failed.push(e);
            }
        }
        if !failed.is_empty() {
            let msg = format!("netns cleanup: {}", failed.join("; "));
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// While alive, the creating thread is in another network namespace; on
/// drop it goes back to the one it was in. Not `Send`: the switch belongs
/// to one thread.
#[derive(Debug)]
#[must_use = "the thread leaves the namespace when the guard drops"]
pub struct NsGuard {
    /// The thread's namespace before entering.
    orig: File,
    /// Where it went, for messages.
    name: String,
    _not_send: PhantomData<*const ()>,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        if let Err(e) = rampart_sys::setns_net(&self.orig) {
            let msg = format!("setns back out of {}: {e}", self.name);
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}
