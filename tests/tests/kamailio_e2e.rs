//! Real-client interop: Debian's Kamailio (5.6) with its `rtpengine` module
//! drives Rampart over the ng protocol, and media flows through Rampart.
//!
//! The test starts a Rampart node in-process (ng on an ephemeral loopback
//! port, media on 127.0.0.2 so that Rampart's address is told apart from
//! the phones' 127.0.0.1), writes `tests/kamailio/kamailio.cfg` with the
//! ports filled in and runs `kamailio -DD -E` as a child (its own process
//! group, stopped at the end whatever happens). Kamailio's ng datagrams go
//! through a tap (a UDP relay in this process) so the test can show what the
//! module sent and what Rampart answered, warnings included.
//!
//! Two raw-UDP SIP user agents play the call: the UAC sends an INVITE with
//! an SRTP offer (RTP/SAVP, `a=crypto` AES_CM_128_HMAC_SHA1_80) to
//! Kamailio, which calls `rtpengine_offer` and forwards to the UAS; the UAS
//! checks the SDP names Rampart's address, ports and keys (not the
//! caller's), answers 200 OK with its own SRTP SDP, and Kamailio's
//! `rtpengine_answer` rewrites that for the UAC, which checks it likewise.
//! SRTP (and SRTCP) then goes both ways through Rampart and must arrive
//! intact under the keys each side learnt from its SDP. ACK and BYE go
//! through Kamailio (Record-Route); the BYE's `rtpengine_delete` must end
//! the call (`GET /health` counts it, ng calls included).
//!
//! No Kamailio on the machine: the test prints a SKIP line and passes,
//! unless `RAMPART_REQUIRE_KAMAILIO=1` (then it fails). `scripts/test`
//! installs `kamailio` and `kamailio-extra-modules`. `RAMPART_KAMAILIO`
//! names another binary; `RAMPART_KAMAILIO_LOG=1` prints Kamailio's log.
//! Everything is loopback and every wait is bounded.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits, Value};
use rampart::control::sdes::{CryptoAttr, InlineKey};
use rampart::control::sdp::Sdp;
use rampart::control::{keys, Node, NodeHandle};
use rampart::srtp::{Context, MasterKey, Policy, Suite};

const TEMPLATE: &str = include_str!("../kamailio/kamailio.cfg");

/// Rampart's media address: loopback, but not the phones' 127.0.0.1.
const MEDIA_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const PHONE_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;
const PORT_MIN: u16 = 43400;
const PORT_MAX: u16 = 43599;
/// Bound on any one SIP wait.
const SIP_WAIT: Duration = Duration::from_secs(5);
const SUITE: Suite = Suite::AesCm128HmacSha1_80;

// ---- finding and running Kamailio ---------------------------------------

fn find_kamailio() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RAMPART_KAMAILIO") {
        return Some(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // Debian puts it in /usr/sbin, which a non-root PATH may lack.
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("kamailio"))
        .find(|p| p.is_file())
}

/// A Kamailio child in its own process group; stopped (SIGTERM to the
/// group, then SIGKILL) when dropped.
struct Kamailio {
    child: Child,
    log: PathBuf,
}

impl Kamailio {
    fn start(bin: &Path, cfg: &Path, log: &Path) -> Kamailio {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(log).expect("create kamailio log");
        let child = Command::new(bin)
            .args(["-f"])
            .arg(cfg)
            .args(["-DD", "-E", "-n", "1", "-m", "32", "-M", "8"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Kamailio {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with Kamailio's log if it has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("kamailio exited ({st}); its log:\n{}", self.log_text());
        }
    }

    fn signal_group(&self, sig: &str) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // Main process gone; make sure no worker outlives it.
            self.signal_group("-KILL");
            return;
        }
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                self.signal_group("-KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free UDP port on loopback (bound and released; Kamailio binds it next).
fn free_udp_port() -> u16 {
    UdpSocket::bind((PHONE_IP, 0))
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

// ---- the ng tap ----------------------------------------------------------

/// One ng request from Kamailio and Rampart's reply, decoded.
#[derive(Clone, Debug)]
struct Exchange {
    request: Value,
    reply: Option<Value>,
}

/// Relays ng datagrams between Kamailio and Rampart and records them.
struct Tap {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn split_cookie(d: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = d.iter().position(|&b| b == b' ')?;
    Some((&d[..sp], &d[sp + 1..]))
}

impl Tap {
    fn start(ng: SocketAddr) -> Tap {
        let sock = UdpSocket::bind((PHONE_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Exchange>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // cookie -> (Kamailio process address, index in the log)
            let mut pending: HashMap<Vec<u8>, (SocketAddr, usize)> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let d = &buf[..n];
                let Some((cookie, body)) = split_cookie(d) else {
                    continue;
                };
                let decoded = ben::decode(body, &Limits::default()).ok();
                if from == ng {
                    if let Some((k, i)) = pending.remove(cookie) {
                        if let Some(v) = decoded {
                            log2.lock().unwrap()[i].reply = Some(v);
                        }
                        let _ = sock.send_to(d, k);
                    }
                } else {
                    let mut l = log2.lock().unwrap();
                    l.push(Exchange {
                        request: decoded.unwrap_or(Value::List(Vec::new())),
                        reply: None,
                    });
                    pending.insert(cookie.to_vec(), (from, l.len() - 1));
                    let _ = sock.send_to(d, ng);
                }
            }
        });
        Tap {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    /// Every exchange so far, two lines each.
    fn dump(&self) -> String {
        let mut out = String::new();
        for e in self.exchanges() {
            out.push_str(&format!("  -> {}\n", show(&e.request)));
            match &e.reply {
                Some(r) => out.push_str(&format!("  <- {}\n", show(r))),
                None => out.push_str("  <- (no reply)\n"),
            }
        }
        out
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A readable one-line form of a bencoded value (`sdp` shortened).
fn show(v: &Value) -> String {
    match v {
        Value::ByteStr(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Int(_) => v
            .as_i64()
            .map(|n| n.to_string())
            .or_else(|| v.as_u64().map(|n| n.to_string()))
            .unwrap_or_default(),
        Value::List(xs) => format!("[{}]", xs.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Dict(d) => {
            let items: Vec<String> = d
                .iter()
                .map(|(k, v)| {
                    let k = String::from_utf8_lossy(k);
                    if k == "sdp" {
                        let n = v.as_byte_str().map(|b| b.len()).unwrap_or(0);
                        format!("sdp: <{n} bytes>")
                    } else {
                        format!("{k}: {}", show(v))
                    }
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn vstr<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

// ---- SIP over raw UDP ----------------------------------------------------

struct Msg {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
    from: SocketAddr,
}

impl Msg {
    fn parse(d: &[u8], from: SocketAddr) -> Msg {
        let text = String::from_utf8_lossy(d).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("SIP message without a blank line:\n{text}"));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let m = Msg {
            start,
            headers,
            body: body.to_string(),
            from,
        };
        if let Some(cl) = m.header("Content-Length") {
            assert_eq!(
                cl.parse::<usize>().ok(),
                Some(m.body.len()),
                "Content-Length matches the body:\n{text}"
            );
        }
        m
    }

    /// Every value of a header (full or compact name), in order.
    fn all(&self, name: &str) -> Vec<&str> {
        let compact = match name.to_ascii_lowercase().as_str() {
            "via" => "v",
            "from" => "f",
            "to" => "t",
            "call-id" => "i",
            "contact" => "m",
            "content-length" => "l",
            "content-type" => "c",
            _ => "",
        };
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/2.0")).then(|| self.start.split(' ').next().unwrap_or(""))
    }

    fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    fn cseq_method(&self) -> &str {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or("")
    }
}

struct Ua {
    sock: UdpSocket,
}

impl Ua {
    fn new() -> Ua {
        let sock = UdpSocket::bind((PHONE_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Ua { sock }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn send(&self, to: SocketAddr, msg: &str) {
        self.sock.send_to(msg.as_bytes(), to).unwrap();
    }

    /// The next message that `want` accepts, within [`SIP_WAIT`]; others
    /// (100 Trying, retransmissions) are skipped. Fails with what did
    /// arrive, the ng exchanges so far and Kamailio's log.
    fn wait(&self, what: &str, k: &mut Kamailio, tap: &Tap, want: impl Fn(&Msg) -> bool) -> Msg {
        let deadline = Instant::now() + SIP_WAIT;
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let m = Msg::parse(&buf[..n], from);
                if want(&m) {
                    return m;
                }
                seen.push(m.start);
            } else {
                k.check_alive();
            }
        }
        panic!(
            "no {what} within {SIP_WAIT:?} (got {seen:?});\nng exchanges:\n{}\nkamailio log:\n{}",
            tap.dump(),
            k.log_text()
        );
    }
}

fn with_body(head: &str, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// A response to `req` copying its Via, Record-Route, From, To (with a tag
/// added if it has none), Call-ID and CSeq.
fn response(req: &Msg, code: &str, to_tag: &str, contact: Option<&str>, body: &str) -> String {
    let mut h = format!("SIP/2.0 {code}\r\n");
    for v in req.all("Via") {
        h.push_str(&format!("Via: {v}\r\n"));
    }
    for r in req.all("Record-Route") {
        h.push_str(&format!("Record-Route: {r}\r\n"));
    }
    h.push_str(&format!("From: {}\r\n", req.header("From").unwrap()));
    let to = req.header("To").unwrap();
    if to.contains(";tag=") {
        h.push_str(&format!("To: {to}\r\n"));
    } else {
        h.push_str(&format!("To: {to};tag={to_tag}\r\n"));
    }
    h.push_str(&format!("Call-ID: {}\r\n", req.header("Call-ID").unwrap()));
    h.push_str(&format!("CSeq: {}\r\n", req.header("CSeq").unwrap()));
    if let Some(c) = contact {
        h.push_str(&format!("Contact: {c}\r\n"));
    }
    with_body(&h, body)
}

// ---- media ---------------------------------------------------------------

/// A phone's media: RTP and RTCP sockets and its own key.
struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    key: MasterKey,
}

impl Phone {
    fn new() -> Phone {
        let mk = || {
            let s = UdpSocket::bind((PHONE_IP, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        };
        Phone {
            rtp: mk(),
            rtcp: mk(),
            key: keys::generate(SUITE).unwrap(),
        }
    }

    fn crypto_line(&self, tag: u32) -> String {
        CryptoAttr::new(tag, SUITE, vec![InlineKey::from_master_key(&self.key)]).to_value()
    }

    fn inline(&self) -> String {
        let v = self.crypto_line(1);
        v.split("inline:").nth(1).unwrap().to_string()
    }

    fn sdp(&self, sess: u64, tag: u32) -> String {
        format!(
            "v=0\r\no=- {sess} 1 IN IP4 {PHONE_IP}\r\ns=-\r\nc=IN IP4 {PHONE_IP}\r\nt=0 0\r\n\
             m=audio {} RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
             a=rtcp:{}\r\na=crypto:{}\r\na=sendrecv\r\n",
            self.rtp.local_addr().unwrap().port(),
            self.rtcp.local_addr().unwrap().port(),
            self.crypto_line(tag)
        )
    }

    fn tx(&self) -> Context {
        Context::new(Policy::new(SUITE, self.key.clone())).unwrap()
    }
}

/// What an SDP rewritten by Rampart tells the phone that receives it.
struct Target {
    rtp: SocketAddr,
    rtcp: SocketAddr,
    crypto: Vec<CryptoAttr>,
    origin: Option<IpAddr>,
}

fn target(text: &str) -> Target {
    let sdp = Sdp::parse(text).unwrap_or_else(|e| panic!("SDP parses ({e:?}):\n{text}"));
    assert_eq!(sdp.media().len(), 1, "{text}");
    let m = &sdp.media()[0];
    assert_eq!(m.proto(), "RTP/SAVP", "{text}");
    let ip = m.effective_connection(&sdp).unwrap().ip().unwrap();
    let rtcp_port = m.rtcp().map(|(p, _)| p).unwrap_or(m.port() + 1);
    Target {
        rtp: SocketAddr::new(ip, m.port()),
        rtcp: SocketAddr::new(ip, rtcp_port),
        crypto: m.crypto().unwrap(),
        origin: sdp.origin_address().and_then(|c| c.ip()),
    }
}

fn rx_ctx(attr: &CryptoAttr) -> Context {
    let su = attr.suite().unwrap();
    Context::new(Policy::new(su, attr.keys[0].to_master_key(su).unwrap())).unwrap()
}

fn rtp_packet(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An RTCP receiver report with no report blocks.
fn rtcp_packet(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Sends one SRTP packet from `from` to `to` and checks that `rx_sock`
/// gets it from Rampart and that it unprotects to the same payload.
#[allow(clippy::too_many_arguments)]
fn flow_rtp(
    from: &UdpSocket,
    to: SocketAddr,
    tx: &mut Context,
    rx_sock: &UdpSocket,
    rx: &mut Context,
    seq: u16,
    ssrc: u32,
) {
    let payload = format!("kamailio e2e media {seq} {ssrc:08x}").into_bytes();
    let mut pkt = rtp_packet(seq, ssrc, &payload);
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = tx.protect_rtp(&mut pkt, n).unwrap();
    let mut buf = vec![0u8; 2048];
    // A few tries: the first packets may race the data plane's setup.
    for _ in 0..6 {
        from.send_to(&pkt[..n], to).unwrap();
        if let Ok((got, src)) = rx_sock.recv_from(&mut buf) {
            assert_eq!(src.ip(), IpAddr::V4(MEDIA_IP), "media comes from Rampart");
            let len = rx.unprotect_rtp(&mut buf[..got]).expect("SRTP unprotects");
            assert_eq!(&buf[..12], &pkt[..12], "RTP header relayed");
            assert_eq!(&buf[12..len], &payload[..], "payload relayed intact");
            return;
        }
    }
    panic!(
        "RTP {seq} from {:?} to {to} never arrived",
        from.local_addr()
    );
}

fn flow_rtcp(
    from: &UdpSocket,
    to: SocketAddr,
    tx: &mut Context,
    rx_sock: &UdpSocket,
    rx: &mut Context,
    ssrc: u32,
) {
    let plain = rtcp_packet(ssrc);
    let mut pkt = plain.clone();
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = tx.protect_rtcp(&mut pkt, n).unwrap();
    let mut buf = vec![0u8; 2048];
    for _ in 0..6 {
        from.send_to(&pkt[..n], to).unwrap();
        if let Ok((got, src)) = rx_sock.recv_from(&mut buf) {
            assert_eq!(src.ip(), IpAddr::V4(MEDIA_IP));
            let len = rx
                .unprotect_rtcp(&mut buf[..got])
                .expect("SRTCP unprotects");
            assert_eq!(&buf[..len], &plain[..], "RTCP relayed intact");
            return;
        }
    }
    panic!("RTCP from {:?} to {to} never arrived", from.local_addr());
}

// ---- Rampart -------------------------------------------------------------

fn start_rampart() -> NodeHandle {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.addresses = vec![IpAddr::V4(MEDIA_IP)];
    c.media.port_min = PORT_MIN;
    c.media.port_max = PORT_MAX;
    c.dataplane.workers = 1;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    Node::start(c).expect("Rampart starts")
}

/// `GET /health` → the "calls" count.
fn health_calls(api: SocketAddr) -> u64 {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("health JSON ({e}): {out}"));
    v["calls"].as_u64().expect("health has calls")
}

fn in_range(a: SocketAddr) -> bool {
    (PORT_MIN..=PORT_MAX).contains(&a.port())
}

// ---- the test ------------------------------------------------------------

#[test]
fn kamailio_rtpengine_module_drives_rampart() {
    let Some(bin) = find_kamailio() else {
        if std::env::var("RAMPART_REQUIRE_KAMAILIO").is_ok_and(|v| v == "1") {
            panic!("RAMPART_REQUIRE_KAMAILIO=1 but no kamailio binary was found");
        }
        println!(
            "SKIP kamailio_e2e: kamailio not installed \
             (apt-get install kamailio kamailio-extra-modules, or set RAMPART_KAMAILIO)"
        );
        return;
    };

    let node = start_rampart();
    let api = node.info().api_addr;
    let ng = node.info().ng.udp.expect("ng listens");
    let tap = Tap::start(ng);

    let uac = Ua::new();
    let uas = Ua::new();
    let sip_port = free_udp_port();
    let proxy = SocketAddr::new(IpAddr::V4(PHONE_IP), sip_port);

    let dir = std::env::temp_dir().join(format!("rampart-kamailio-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg_path = dir.join("kamailio.cfg");
    let cfg = TEMPLATE
        .replace("@SIP_PORT@", &sip_port.to_string())
        .replace("@NG_ADDR@", &format!("udp:{}", tap.addr))
        .replace("@UAS_PORT@", &uas.port().to_string());
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut kam = Kamailio::start(&bin, &cfg_path, &dir.join("kamailio.log"));

    // Ready when it answers OPTIONS to itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        kam.check_alive();
        assert!(
            Instant::now() < deadline,
            "kamailio not answering on {proxy}; log:\n{}",
            kam.log_text()
        );
        n += 1;
        uac.send(
            proxy,
            &with_body(
                &format!(
                    "OPTIONS sip:127.0.0.1:{sip_port} SIP/2.0\r\n\
                     Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-opt-{n};rport\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\n\
                     To: <sip:127.0.0.1:{sip_port}>\r\nCall-ID: probe-{n}@kamailio-e2e\r\n\
                     CSeq: {n} OPTIONS\r\n",
                    uac.port()
                ),
                "",
            ),
        );
        let mut buf = vec![0u8; 4096];
        if let Ok((len, _)) = uac.sock.recv_from(&mut buf) {
            let m = Msg::parse(&buf[..len], proxy);
            if m.status() == Some(200) && m.cseq_method() == "OPTIONS" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let a = Phone::new();
    let b = Phone::new();
    let call_id = format!("kam-e2e-{}@127.0.0.1", std::process::id());
    let uac_port = uac.port();

    // ---- INVITE: UAC -> Kamailio (rtpengine_offer) -> UAS ----
    let offer = a.sdp(1001, 1);
    uac.send(
        proxy,
        &with_body(
            &format!(
                "INVITE sip:bob@127.0.0.1:{sip_port} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{uac_port};branch=z9hG4bK-inv-1;rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: \"Alice\" <sip:alice@127.0.0.1>;tag=alice-tag\r\n\
                 To: <sip:bob@127.0.0.1>\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: <sip:alice@127.0.0.1:{uac_port}>\r\n\
                 User-Agent: rampart-kamailio-e2e UAC\r\n"
            ),
            &offer,
        ),
    );
    let inv = uas.wait("INVITE at the UAS", &mut kam, &tap, |m| {
        m.method() == Some("INVITE")
    });
    assert!(
        !inv.all("Record-Route").is_empty(),
        "Kamailio record-routes"
    );
    let to_b = target(&inv.body);
    assert_eq!(
        to_b.rtp.ip(),
        IpAddr::V4(MEDIA_IP),
        "INVITE's SDP names Rampart's address:\n{}",
        inv.body
    );
    assert_eq!(
        to_b.origin,
        Some(IpAddr::V4(MEDIA_IP)),
        "replace-origin: o= names Rampart:\n{}",
        inv.body
    );
    assert!(in_range(to_b.rtp) && in_range(to_b.rtcp), "{}", inv.body);
    assert_ne!(to_b.rtp.port(), a.rtp.local_addr().unwrap().port());
    assert!(
        !inv.body.contains(&a.inline()),
        "the caller's key must not reach the callee:\n{}",
        inv.body
    );
    let names: Vec<&str> = to_b.crypto.iter().map(|c| c.suite_name.as_str()).collect();
    assert_eq!(names[0], SUITE.name(), "caller's suite first: {names:?}");
    for l in [
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(inv.body.contains(l), "{l} kept:\n{}", inv.body);
    }
    let b_pick = to_b.crypto[0].clone();

    // ---- 200 OK: UAS -> Kamailio (rtpengine_answer) -> UAC ----
    let answer = b.sdp(2002, b_pick.tag);
    let uas_contact = format!("<sip:bob@127.0.0.1:{}>", uas.port());
    uas.send(
        inv.from,
        &response(&inv, "200 OK", "bob-tag", Some(&uas_contact), &answer),
    );
    let ok = uac.wait("200 OK to the INVITE at the UAC", &mut kam, &tap, |m| {
        m.status() == Some(200) && m.cseq_method() == "INVITE"
    });
    let to_a = target(&ok.body);
    assert_eq!(
        to_a.rtp.ip(),
        IpAddr::V4(MEDIA_IP),
        "200 OK's SDP names Rampart's address:\n{}",
        ok.body
    );
    assert_eq!(to_a.origin, Some(IpAddr::V4(MEDIA_IP)), "{}", ok.body);
    assert!(in_range(to_a.rtp) && in_range(to_a.rtcp), "{}", ok.body);
    assert_ne!(to_a.rtp.port(), b.rtp.local_addr().unwrap().port());
    assert_ne!(to_a.rtp.port(), to_b.rtp.port());
    assert!(
        !ok.body.contains(&b.inline()) && !ok.body.contains(&a.inline()),
        "neither phone's key comes back in the answer:\n{}",
        ok.body
    );
    assert_eq!(to_a.crypto.len(), 1, "{}", ok.body);
    assert_eq!(to_a.crypto[0].tag, 1);
    assert_eq!(to_a.crypto[0].suite_name, SUITE.name());

    // ---- ACK through Kamailio (Route from Record-Route) ----
    let route: Vec<&str> = ok.all("Record-Route").into_iter().rev().collect();
    let to_hdr = ok.header("To").unwrap().to_string();
    let dialog = |method: &str, cseq: u32, branch: &str| {
        let mut h = format!(
            "{method} sip:bob@127.0.0.1:{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{uac_port};branch={branch};rport\r\n",
            uas.port()
        );
        for r in &route {
            h.push_str(&format!("Route: {r}\r\n"));
        }
        h.push_str(&format!(
            "Max-Forwards: 70\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1>;tag=alice-tag\r\n\
             To: {to_hdr}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        ));
        with_body(&h, "")
    };
    uac.send(proxy, &dialog("ACK", 1, "z9hG4bK-ack-1"));
    uas.wait("ACK at the UAS", &mut kam, &tap, |m| {
        m.method() == Some("ACK")
    });
    assert_eq!(health_calls(api), 1, "GET /health counts the ng call");

    // ---- media both ways, SRTP and SRTCP ----
    let mut a_tx = a.tx();
    let mut b_rx = rx_ctx(&b_pick);
    let mut b_tx = b.tx();
    let mut a_rx = rx_ctx(&to_a.crypto[0]);
    for seq in 1..=5u16 {
        flow_rtp(&a.rtp, to_a.rtp, &mut a_tx, &b.rtp, &mut b_rx, seq, 0xA11CE);
        flow_rtp(
            &b.rtp,
            to_b.rtp,
            &mut b_tx,
            &a.rtp,
            &mut a_rx,
            100 + seq,
            0xB0B,
        );
    }
    flow_rtcp(&a.rtcp, to_a.rtcp, &mut a_tx, &b.rtcp, &mut b_rx, 0xA11CE);
    flow_rtcp(&b.rtcp, to_b.rtcp, &mut b_tx, &a.rtcp, &mut a_rx, 0xB0B);

    // ---- BYE through Kamailio (rtpengine_delete) ----
    uac.send(proxy, &dialog("BYE", 2, "z9hG4bK-bye-1"));
    let bye = uas.wait("BYE at the UAS", &mut kam, &tap, |m| {
        m.method() == Some("BYE")
    });
    uas.send(bye.from, &response(&bye, "200 OK", "bob-tag", None, ""));
    uac.wait("200 OK to the BYE at the UAC", &mut kam, &tap, |m| {
        m.status() == Some(200) && m.cseq_method() == "BYE"
    });
    assert_eq!(health_calls(api), 0, "rtpengine_delete ended the call");

    // Media after the BYE goes nowhere.
    let mut pkt = rtp_packet(50, 0xA11CE, b"late");
    let n = pkt.len();
    pkt.resize(n + 64, 0);
    let n = a_tx.protect_rtp(&mut pkt, n).unwrap();
    a.rtp.send_to(&pkt[..n], to_a.rtp).unwrap();
    let mut buf = [0u8; 2048];
    assert!(b.rtp.recv_from(&mut buf).is_err(), "no media after delete");

    // ---- what the module sent and what Rampart answered ----
    kam.stop();
    let log = kam.log_text();
    let exchanges = tap.exchanges();
    print!("ng exchanges between Kamailio and Rampart:\n{}", tap.dump());
    let commands: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| vstr(&e.request, "command"))
        .collect();
    for c in ["ping", "offer", "answer", "delete"] {
        assert!(commands.contains(&c), "Kamailio sent {c}: {commands:?}");
    }
    for e in &exchanges {
        let cmd = vstr(&e.request, "command").unwrap_or("?");
        let r = e
            .reply
            .as_ref()
            .unwrap_or_else(|| panic!("Rampart answered {cmd}"));
        let result = vstr(r, "result").unwrap_or("");
        assert!(result == "ok" || result == "pong", "{cmd} → {}", show(r));
        if let Some(w) = vstr(r, "warning") {
            println!("WARNING from Rampart to {cmd}: {w}");
        }
    }
    if std::env::var_os("RAMPART_KAMAILIO_LOG").is_some() {
        println!("kamailio log:\n{log}");
    }
    let kam_issues: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARNING"))
        .collect();
    if !kam_issues.is_empty() {
        println!("kamailio errors/warnings:\n{}", kam_issues.join("\n"));
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("rtpengine") && l.contains("ERROR")),
        "the rtpengine module logged an error:\n{log}"
    );
    drop(tap);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
