//! What the Kamailio tests share: finding and running Kamailio, the ng
//! tap between it and Rampart, SIP over raw UDP, and the phones' SRTP
//! media (sockets, keys, SDP, checks of what Rampart relays).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart::control::keys;
use rampart::control::ng_bencode::{self as ben, Limits, Value};
use rampart::control::sdes::{CryptoAttr, InlineKey};
use rampart::control::sdp::Sdp;
use rampart::srtp::{Context, MasterKey, Policy, Suite};

/// Rampart's media address: loopback, but not the phones' 127.0.0.1.
pub const MEDIA_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The phones' (and Kamailio's) address.
pub const PHONE_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Bound on any one SIP wait.
pub const SIP_WAIT: Duration = Duration::from_secs(5);
/// The phones' suite.
pub const SUITE: Suite = Suite::AesCm128HmacSha1_80;

// ---- finding and running Kamailio ---------------------------------------

pub fn find_kamailio() -> Option<PathBuf> {
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
pub struct Kamailio {
    pub child: Child,
    pub log: PathBuf,
}

impl Kamailio {
    pub fn start(bin: &Path, cfg: &Path, log: &Path) -> Kamailio {
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with Kamailio's log if it has exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("kamailio exited ({st}); its log:\n{}", self.log_text());
        }
    }

    pub fn signal_group(&self, sig: &str) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    pub fn stop(&mut self) {
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
pub fn free_udp_port() -> u16 {
    UdpSocket::bind((PHONE_IP, 0))
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

// ---- the ng tap ----------------------------------------------------------

/// One ng request from Kamailio and Rampart's reply, decoded.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: Value,
    pub reply: Option<Value>,
}

/// Relays ng datagrams between Kamailio and Rampart and records them.
pub struct Tap {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Exchange>>>,
    pub stop: Arc<AtomicBool>,
    pub thread: Option<JoinHandle<()>>,
}

pub fn split_cookie(d: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = d.iter().position(|&b| b == b' ')?;
    Some((&d[..sp], &d[sp + 1..]))
}

impl Tap {
    pub fn start(name: &'static str, ng: SocketAddr) -> Tap {
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
            name,
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    /// Every exchange so far, two lines each.
    pub fn dump(&self) -> String {
        let mut out = format!(" node {} (tap {}):\n", self.name, self.addr);
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
pub fn show(v: &Value) -> String {
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

pub fn vstr<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

// ---- SIP over raw UDP ----------------------------------------------------

pub struct Msg {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub from: SocketAddr,
}

impl Msg {
    pub fn parse(d: &[u8], from: SocketAddr) -> Msg {
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
    pub fn all(&self, name: &str) -> Vec<&str> {
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

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    pub fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/2.0")).then(|| self.start.split(' ').next().unwrap_or(""))
    }

    pub fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    pub fn cseq_method(&self) -> &str {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or("")
    }
}

pub struct Ua {
    pub sock: UdpSocket,
}

impl Ua {
    pub fn new() -> Ua {
        let sock = UdpSocket::bind((PHONE_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Ua { sock }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    pub fn send(&self, to: SocketAddr, msg: &str) {
        self.sock.send_to(msg.as_bytes(), to).unwrap();
    }

    /// The next message that `want` accepts, within [`SIP_WAIT`]; others
    /// (100 Trying, retransmissions) are skipped. Fails with what did
    /// arrive, the ng exchanges so far (every tap) and Kamailio's log.
    pub fn wait(
        &self,
        what: &str,
        k: &mut Kamailio,
        taps: &[&Tap],
        want: impl Fn(&Msg) -> bool,
    ) -> Msg {
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
            dump_all(taps),
            k.log_text()
        );
    }
}

pub fn with_body(head: &str, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Alice's first INVITE to Bob (at the proxy on `sip_port`), from her UA
/// on `uac_port`, naming itself `user_agent`, offering `sdp`.
pub fn alice_invite(
    sip_port: u16,
    uac_port: u16,
    call_id: &str,
    user_agent: &str,
    sdp: &str,
) -> String {
    with_body(
        &format!(
            "INVITE sip:bob@127.0.0.1:{sip_port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{uac_port};branch=z9hG4bK-inv-1;rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1>;tag=alice-tag\r\n\
             To: <sip:bob@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:alice@127.0.0.1:{uac_port}>\r\n\
             User-Agent: {user_agent}\r\n"
        ),
        sdp,
    )
}

/// Alice's side of the dialog once Bob's 200 OK arrived: her in-dialog
/// requests go to Bob's contact along the Record-Route, reversed.
pub struct AliceDialog {
    call_id: String,
    uac_port: u16,
    uas_port: u16,
    route: Vec<String>,
    to: String,
}

impl AliceDialog {
    /// The dialog `ok` (Bob's 200 OK to the INVITE) set up.
    pub fn new(ok: &Msg, call_id: &str, uac_port: u16, uas_port: u16) -> AliceDialog {
        AliceDialog {
            call_id: call_id.to_string(),
            uac_port,
            uas_port,
            route: ok
                .all("Record-Route")
                .into_iter()
                .rev()
                .map(String::from)
                .collect(),
            to: ok.header("To").unwrap_or_default().to_string(),
        }
    }

    /// An in-dialog request (`ACK`, a re-`INVITE` with `body`, `BYE`).
    pub fn request(&self, method: &str, cseq: u32, branch: &str, body: &str) -> String {
        let (uac_port, call_id, to) = (self.uac_port, &self.call_id, &self.to);
        let mut h = format!(
            "{method} sip:bob@127.0.0.1:{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{uac_port};branch={branch};rport\r\n",
            self.uas_port
        );
        for r in &self.route {
            h.push_str(&format!("Route: {r}\r\n"));
        }
        h.push_str(&format!(
            "Max-Forwards: 70\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1>;tag=alice-tag\r\n\
             To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        ));
        if method == "INVITE" {
            h.push_str(&format!("Contact: <sip:alice@127.0.0.1:{uac_port}>\r\n"));
        }
        with_body(&h, body)
    }
}

/// A response to `req` copying its Via, Record-Route, From, To (with a tag
/// added if it has none), Call-ID and CSeq.
pub fn response(req: &Msg, code: &str, to_tag: &str, contact: Option<&str>, body: &str) -> String {
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
pub struct Phone {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub key: MasterKey,
}

impl Phone {
    pub fn new() -> Phone {
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

    pub fn crypto_line(&self, tag: u32) -> String {
        CryptoAttr::new(tag, SUITE, vec![InlineKey::from_master_key(&self.key)]).to_value()
    }

    pub fn inline(&self) -> String {
        let v = self.crypto_line(1);
        v.split("inline:").nth(1).unwrap().to_string()
    }

    pub fn sdp(&self, sess: u64, version: u32, tag: u32) -> String {
        format!(
            "v=0\r\no=- {sess} {version} IN IP4 {PHONE_IP}\r\ns=-\r\nc=IN IP4 {PHONE_IP}\r\nt=0 0\r\n\
             m=audio {} RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
             a=rtcp:{}\r\na=crypto:{}\r\na=sendrecv\r\n",
            self.rtp.local_addr().unwrap().port(),
            self.rtcp.local_addr().unwrap().port(),
            self.crypto_line(tag)
        )
    }

    pub fn tx(&self) -> Context {
        Context::new(Policy::new(SUITE, self.key.clone())).unwrap()
    }
}

/// What an SDP rewritten by Rampart tells the phone that receives it.
pub struct Target {
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    pub crypto: Vec<CryptoAttr>,
    pub origin: Option<IpAddr>,
}

pub fn target(text: &str) -> Target {
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

pub fn rx_ctx(attr: &CryptoAttr) -> Context {
    let su = attr.suite().unwrap();
    Context::new(Policy::new(su, attr.keys[0].to_master_key(su).unwrap())).unwrap()
}

pub fn rtp_packet(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An RTCP receiver report with no report blocks.
pub fn rtcp_packet(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Sends one SRTCP packet from `from` to `to` and checks that `rx_sock`
/// gets it from Rampart and that it unprotects to the same report.
pub fn flow_rtcp(
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

pub fn dump_all(taps: &[&Tap]) -> String {
    taps.iter().map(|t| t.dump()).collect()
}

/// The exchanges a tap recorded from index `from` on that carry `call_id`.
pub fn call_exchanges(tap: &Tap, from: usize, call_id: &str) -> Vec<Exchange> {
    tap.exchanges()
        .into_iter()
        .skip(from)
        .filter(|e| vstr(&e.request, "call-id") == Some(call_id))
        .collect()
}

pub fn command_of(e: &Exchange) -> &str {
    vstr(&e.request, "command").unwrap_or("?")
}

pub fn result_of(e: &Exchange) -> String {
    match &e.reply {
        Some(r) => match vstr(r, "result") {
            Some("error") => format!("error: {}", vstr(r, "error-reason").unwrap_or("?")),
            Some(x) => x.to_string(),
            None => show(r),
        },
        None => "(no reply)".into(),
    }
}

/// Sends one SRTP packet from `from` to `to` and checks that `rx_sock`
/// gets it from Rampart and that it unprotects to the same payload.
#[allow(clippy::too_many_arguments)]
pub fn flow_rtp(
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

/// Waits (at most 15 s) until Kamailio at `proxy` answers an OPTIONS sent
/// to itself from `uac` (Call-IDs `probe-N@tag`).
pub fn wait_until_ready(kam: &mut Kamailio, uac: &Ua, proxy: SocketAddr, tag: &str) {
    let sip_port = proxy.port();
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
                     To: <sip:127.0.0.1:{sip_port}>\r\nCall-ID: probe-{n}@{tag}\r\n\
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
}
