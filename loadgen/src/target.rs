//! Call setup through the relay's control interface: Rampart's HTTP/JSON
//! API, or the ng protocol (bencode over UDP) that rtpengine speaks.
//!
//! Each call has two legs, each SRTP with a suite of its own or plain RTP
//! ([`LegMode`]). By default phone A talks to leg A with suite
//! `AES_CM_128_HMAC_SHA1_80`, phone B to leg B with
//! `AES_CM_128_HMAC_SHA1_32`, so the relay must decrypt and re-encrypt
//! every packet (no passthrough is possible). RTCP is multiplexed on the
//! RTP port (RFC 5761) on both legs.

use std::fmt;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart::srtp::Suite;
use serde_json::{json, Value as Json};

use crate::bencode::{self, Value};
use crate::http::{self, Response};
use crate::sdp;

/// Leg A's default suite.
pub const SUITE_A: Suite = Suite::AesCm128HmacSha1_80;
/// Leg B's default suite.
pub const SUITE_B: Suite = Suite::AesCm128HmacSha1_32;

/// What a leg carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegMode {
    /// SRTP/SRTCP with this suite.
    Srtp(Suite),
    /// Plain RTP/RTCP.
    Rtp,
}

impl LegMode {
    /// From `--mode-x` (`srtp` or `rtp`) and `--suite-x`.
    pub fn parse(mode: &str, suite: &str) -> Result<LegMode, String> {
        match mode.to_ascii_lowercase().as_str() {
            "rtp" => Ok(LegMode::Rtp),
            "srtp" => Suite::from_name(suite)
                .map(LegMode::Srtp)
                .map_err(|e| format!("suite {suite:?}: {e}")),
            m => Err(format!("unknown leg mode {m:?} (srtp or rtp)")),
        }
    }

    /// The suite's name, or `RTP`.
    pub fn name(&self) -> &'static str {
        match self {
            LegMode::Srtp(s) => s.name(),
            LegMode::Rtp => "RTP",
        }
    }

    /// The SDP transport.
    pub fn proto(&self) -> &'static str {
        match self {
            LegMode::Srtp(_) => "RTP/SAVP",
            LegMode::Rtp => "RTP/AVP",
        }
    }

    /// The suite, if SRTP.
    pub fn suite(&self) -> Option<Suite> {
        match *self {
            LegMode::Srtp(s) => Some(s),
            LegMode::Rtp => None,
        }
    }
}

/// The default legs: SRTP `_80` on A, `_32` on B.
pub const DEFAULT_LEGS: [LegMode; 2] = [LegMode::Srtp(SUITE_A), LegMode::Srtp(SUITE_B)];

/// Which control interface, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// Rampart's HTTP API.
    RampartHttp(SocketAddr),
    /// The ng protocol (rtpengine).
    Ng(SocketAddr),
}

impl TargetSpec {
    /// The control address.
    pub fn addr(&self) -> SocketAddr {
        match *self {
            TargetSpec::RampartHttp(a) | TargetSpec::Ng(a) => a,
        }
    }

    /// `rampart-http` or `ng`.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::RampartHttp(_) => "rampart-http",
            TargetSpec::Ng(_) => "ng",
        }
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind(), self.addr())
    }
}

impl FromStr for TargetSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, addr) = s
            .split_once('=')
            .ok_or("expected rampart-http=IP:PORT or ng=IP:PORT")?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("bad address {addr:?}: {e}"))?;
        match kind {
            "rampart-http" | "http" | "rampart" => Ok(TargetSpec::RampartHttp(addr)),
            "ng" | "rtpengine" => Ok(TargetSpec::Ng(addr)),
            _ => Err(format!("unknown target kind {kind:?} (rampart-http or ng)")),
        }
    }
}

/// What one phone needs for one leg.
#[derive(Clone, Debug)]
pub struct LegSetup {
    /// Where the phone sends (the relay's address for this leg).
    pub relay: SocketAddr,
    /// The leg's suite (`None`: plain RTP, no keys).
    pub suite: Option<Suite>,
    /// key||salt the phone protects with (toward the relay).
    pub tx_key: Vec<u8>,
    /// key||salt the phone unprotects with (from the relay).
    pub rx_key: Vec<u8>,
}

/// A call set up on the target.
#[derive(Clone, Debug)]
pub struct CallSetup {
    /// The call's id on the target.
    pub id: String,
    /// Leg A, leg B.
    pub legs: [LegSetup; 2],
}

/// A control interface.
pub trait Target {
    /// Sets up call `index` between phone A at `phone_a` and phone B at
    /// `phone_b`.
    fn create(
        &mut self,
        index: usize,
        phone_a: SocketAddr,
        phone_b: SocketAddr,
    ) -> Result<CallSetup, String>;
    /// Ends a call.
    fn delete(&mut self, id: &str) -> Result<(), String>;
    /// Checks that the target answers.
    fn ping(&mut self) -> Result<(), String>;
}

/// Connects to the target described by `spec` with the default legs;
/// `run_id` makes call ids unique across runs.
pub fn connect(spec: TargetSpec, run_id: u64) -> Result<Box<dyn Target + Send>, String> {
    connect_with(spec, run_id, &CallOptions::default())
}

/// How the calls are set up.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// Leg A, leg B.
    pub legs: [LegMode; 2],
    /// The registered device each leg names (Rampart's HTTP API, for a
    /// node whose security policy admits encrypted legs only for known
    /// devices).
    pub device: Option<String>,
    /// Verified passthrough (Rampart's HTTP API): both legs SRTP with one
    /// suite, leg A's outbound key is leg B's inbound key and the other
    /// way round, so the node authenticates each packet and forwards its
    /// bytes unchanged.
    pub passthrough: bool,
    /// Other nodes of the same set (Rampart's HTTP API): a request that
    /// cannot connect to the node in use goes to the next one, and stays
    /// there, as a switch with a node set does when a node dies.
    pub fallback: Vec<SocketAddr>,
}

impl Default for CallOptions {
    fn default() -> CallOptions {
        CallOptions {
            legs: DEFAULT_LEGS,
            device: None,
            passthrough: false,
            fallback: Vec::new(),
        }
    }
}

/// Connects to the target; calls are set up as `opts` says.
pub fn connect_with(
    spec: TargetSpec,
    run_id: u64,
    opts: &CallOptions,
) -> Result<Box<dyn Target + Send>, String> {
    if opts.passthrough {
        let same_suite = matches!(opts.legs, [LegMode::Srtp(a), LegMode::Srtp(b)] if a == b);
        if !same_suite {
            return Err("passthrough needs two SRTP legs with the same suite".into());
        }
    }
    Ok(match spec {
        TargetSpec::RampartHttp(a) => Box::new(RampartHttp {
            nodes: std::iter::once(a)
                .chain(opts.fallback.iter().copied())
                .collect(),
            current: 0,
            run_id,
            legs: opts.legs,
            device: opts.device.clone(),
            passthrough: opts.passthrough,
        }),
        TargetSpec::Ng(_) if opts.passthrough => {
            return Err("passthrough is set up through Rampart's HTTP API only".into())
        }
        TargetSpec::Ng(_) if !opts.fallback.is_empty() => {
            return Err("fallback nodes are for Rampart's HTTP API only".into())
        }
        TargetSpec::Ng(a) => {
            let mut n = Ng::new(a, run_id)?;
            n.legs = opts.legs;
            Box::new(n)
        }
    })
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .is_ok();
    if !ok {
        // Test keys only; fall back to a time-seeded xorshift.
        let mut x = Instant::now().elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15 ^ n as u64;
        for b in v.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    v
}

/// A run id from the clock and the process id.
pub fn new_run_id() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    t ^ ((std::process::id() as u64) << 40)
}

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Rampart's HTTP API on one node, or on a set of nodes tried in turn.
pub struct RampartHttp {
    nodes: Vec<SocketAddr>,
    /// The node requests go to until it stops taking connections.
    current: usize,
    run_id: u64,
    legs: [LegMode; 2],
    device: Option<String>,
    passthrough: bool,
}

fn key_of(v: &Json, what: &str) -> Result<Vec<u8>, String> {
    let s = v["key"]
        .as_str()
        .ok_or_else(|| format!("answer has no {what} key"))?;
    STANDARD
        .decode(s)
        .map_err(|e| format!("{what} key is not base64: {e}"))
}

impl RampartHttp {
    /// One request to the node in use; when it takes no connection, to
    /// the next node of the set (which then stays in use).
    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, String> {
        let mut refused = Vec::new();
        for _ in 0..self.nodes.len() {
            let addr = self.nodes[self.current];
            match http::connect(addr, HTTP_TIMEOUT) {
                Ok(s) => return http::exchange(s, addr, method, path, body, HTTP_TIMEOUT),
                Err(e) => refused.push(e),
            }
            self.current = (self.current + 1) % self.nodes.len();
        }
        Err(refused.join("; "))
    }
}

impl Target for RampartHttp {
    fn create(
        &mut self,
        index: usize,
        phone_a: SocketAddr,
        phone_b: SocketAddr,
    ) -> Result<CallSetup, String> {
        let id = format!("lg-{:x}-{index}", self.run_id);
        let leg_req = |m: LegMode, phone: SocketAddr| {
            let mut l = match m {
                LegMode::Srtp(s) => {
                    json!({"suite": s.name(), "remote": phone.to_string(), "rtcp_mux": true})
                }
                LegMode::Rtp => {
                    json!({"mode": "rtp", "remote": phone.to_string(), "rtcp_mux": true})
                }
            };
            if let Some(d) = &self.device {
                l["device"] = json!(d);
            }
            l
        };
        let body = json!({
            "call_id": id,
            "passthrough": self.passthrough,
            "legs": [leg_req(self.legs[0], phone_a), leg_req(self.legs[1], phone_b)]
        });
        let r = self.request("POST", "/calls", Some(&body.to_string()))?;
        if r.status != 201 {
            return Err(format!("POST /calls: {} {}", r.status, r.body.trim()));
        }
        let v: Json = serde_json::from_str(&r.body)
            .map_err(|e| format!("POST /calls: answer is not JSON: {e}"))?;
        let leg = |i: usize, mode: LegMode| -> Result<LegSetup, String> {
            let l = &v["legs"][i];
            if self.passthrough && l["forward"] != "verified-passthrough" {
                return Err(format!(
                    "POST /calls: leg {i} forwards {}, not verified-passthrough",
                    l["forward"]
                ));
            }
            let relay = l["local"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("leg {i}: no local address"))?;
            let Some(suite) = mode.suite() else {
                return Ok(LegSetup {
                    relay,
                    suite: None,
                    tx_key: Vec::new(),
                    rx_key: Vec::new(),
                });
            };
            Ok(LegSetup {
                relay,
                suite: Some(suite),
                // The phone protects with what the node receives with.
                tx_key: key_of(&l["keys"]["inbound"], "inbound")?,
                rx_key: key_of(&l["keys"]["outbound"], "outbound")?,
            })
        };
        let legs = [leg(0, self.legs[0])?, leg(1, self.legs[1])?];
        Ok(CallSetup { id, legs })
    }

    fn delete(&mut self, id: &str) -> Result<(), String> {
        let r = self.request("DELETE", &format!("/calls/{id}"), None)?;
        match r.status {
            200 | 204 | 404 => Ok(()),
            s => Err(format!("DELETE /calls/{id}: {s} {}", r.body.trim())),
        }
    }

    fn ping(&mut self) -> Result<(), String> {
        let r = self.request("GET", "/health", None)?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("GET /health: {} {}", r.status, r.body.trim()))
        }
    }
}

/// The ng protocol: `COOKIE <bencoded dict>` over UDP, answered with the
/// same cookie.
pub struct Ng {
    sock: UdpSocket,
    run_id: u64,
    seq: u64,
    /// Legs A and B of each call.
    pub legs: [LegMode; 2],
}

const NG_TRIES: usize = 3;
const NG_WAIT: Duration = Duration::from_secs(2);

impl Ng {
    /// A client for the ng server at `addr`.
    pub fn new(addr: SocketAddr, run_id: u64) -> Result<Ng, String> {
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).map_err(|e| format!("ng socket: {e}"))?;
        sock.connect(addr)
            .map_err(|e| format!("ng connect {addr}: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
        Ok(Ng {
            sock,
            run_id,
            seq: 0,
            legs: DEFAULT_LEGS,
        })
    }

    /// Sends one command and waits for its answer (retransmitting, bounded).
    /// Returns the answer dictionary if `result` is `ok`.
    pub fn command(&mut self, msg: &Value) -> Result<Value, String> {
        self.seq += 1;
        let cookie = format!("{:x}_{}", self.run_id, self.seq);
        let mut out = cookie.clone().into_bytes();
        out.push(b' ');
        msg.encode_into(&mut out);
        let cmd = msg
            .get("command")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        let mut buf = vec![0u8; 65536];
        for _ in 0..NG_TRIES {
            self.sock
                .send(&out)
                .map_err(|e| format!("ng {cmd}: send: {e}"))?;
            let deadline = Instant::now() + NG_WAIT;
            while Instant::now() < deadline {
                let n = match self.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue
                    }
                    Err(e) => return Err(format!("ng {cmd}: recv: {e}")),
                };
                let data = &buf[..n];
                let Some(sp) = data.iter().position(|&c| c == b' ') else {
                    continue;
                };
                if &data[..sp] != cookie.as_bytes() {
                    continue; // an answer to an earlier, retransmitted command
                }
                let (v, _) =
                    bencode::decode(&data[sp + 1..]).map_err(|e| format!("ng {cmd}: {e}"))?;
                let result = v.get("result").and_then(|r| r.as_str()).unwrap_or_default();
                if result == "ok" || result == "pong" {
                    return Ok(v);
                }
                let reason = v
                    .get("error-reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default();
                return Err(format!("ng {cmd}: result {result:?} {reason}"));
            }
        }
        Err(format!("ng {cmd}: no answer after {NG_TRIES} tries"))
    }

    fn sdp_of(v: &Value, what: &str) -> Result<sdp::Media, String> {
        let s = v
            .get("sdp")
            .and_then(|s| s.as_str())
            .ok_or_else(|| format!("ng {what}: answer without sdp"))?;
        sdp::parse(&s).map_err(|e| format!("ng {what}: SDP: {e}"))
    }
}

fn pick(media: &sdp::Media, suite: Suite, what: &str) -> Result<sdp::Crypto, String> {
    media
        .crypto
        .iter()
        .find(|c| c.suite == suite.name())
        .cloned()
        .ok_or_else(|| {
            let have: Vec<&str> = media.crypto.iter().map(|c| c.suite.as_str()).collect();
            format!(
                "ng {what}: the relay offered no {} (offered: {have:?})",
                suite.name()
            )
        })
}

fn ng_flags(
    sdp: String,
    call_id: &str,
    from_tag: &str,
    cmd: &str,
    proto: &str,
) -> Vec<(&'static str, Value)> {
    vec![
        ("command", Value::str(cmd)),
        ("call-id", Value::str(call_id)),
        ("from-tag", Value::str(from_tag)),
        ("sdp", Value::Bytes(sdp.into_bytes())),
        ("transport-protocol", Value::str(proto)),
        ("ICE", Value::str("remove")),
        (
            "replace",
            Value::str_list(&["origin", "session-connection"]),
        ),
    ]
}

impl Target for Ng {
    fn create(
        &mut self,
        index: usize,
        phone_a: SocketAddr,
        phone_b: SocketAddr,
    ) -> Result<CallSetup, String> {
        let id = format!("lg-{:x}-{index}", self.run_id);
        let (tag_a, tag_b) = (format!("a{index}"), format!("b{index}"));
        let [mode_a, mode_b] = self.legs;
        let key = |m: LegMode| {
            m.suite()
                .map(|s| random_bytes(s.master_key_len() + s.master_salt_len()))
        };
        let (key_a, key_b) = (key(mode_a), key(mode_b));
        let crypto =
            |m: LegMode, tag: u32, k: &Option<Vec<u8>>| -> Option<(u32, String, Vec<u8>)> {
                Some((tag, m.suite()?.name().to_string(), k.clone()?))
            };

        // Offer from phone A (what goes to B is in B's transport).
        let sdp_a = sdp::phone_sdp(
            index as u64 + 1,
            phone_a,
            mode_a.proto(),
            crypto(mode_a, 1, &key_a),
        );
        let offer = Value::dict(ng_flags(sdp_a, &id, &tag_a, "offer", mode_b.proto()));
        let to_b = Self::sdp_of(&self.command(&offer)?, "offer")?;
        // Phone B picks its suite from what the relay offers it.
        let b_rx = match mode_b {
            LegMode::Srtp(s) => match pick(&to_b, s, "offer") {
                Ok(c) => Some(c),
                Err(e) => {
                    let _ = self.delete(&id);
                    return Err(e);
                }
            },
            LegMode::Rtp => None,
        };

        // Answer from phone B, with its own key in that suite.
        let sdp_b = sdp::phone_sdp(
            index as u64 + 1,
            phone_b,
            mode_b.proto(),
            crypto(mode_b, b_rx.as_ref().map_or(1, |c| c.tag), &key_b),
        );
        let mut ans = ng_flags(sdp_b, &id, &tag_a, "answer", mode_a.proto());
        ans.push(("to-tag", Value::str(&tag_b)));
        let to_a = match self.command(&Value::dict(ans)) {
            Ok(v) => Self::sdp_of(&v, "answer"),
            Err(e) => Err(e),
        };
        let to_a = match to_a {
            Ok(m) => m,
            Err(e) => {
                let _ = self.delete(&id);
                return Err(e);
            }
        };
        let a_rx = match mode_a {
            LegMode::Srtp(s) => match pick(&to_a, s, "answer") {
                Ok(c) => Some(c),
                Err(e) => {
                    let _ = self.delete(&id);
                    return Err(e);
                }
            },
            LegMode::Rtp => None,
        };
        Ok(CallSetup {
            id,
            legs: [
                LegSetup {
                    relay: to_a.addr,
                    suite: mode_a.suite(),
                    tx_key: key_a.unwrap_or_default(),
                    rx_key: a_rx.map(|c| c.key).unwrap_or_default(),
                },
                LegSetup {
                    relay: to_b.addr,
                    suite: mode_b.suite(),
                    tx_key: key_b.unwrap_or_default(),
                    rx_key: b_rx.map(|c| c.key).unwrap_or_default(),
                },
            ],
        })
    }

    fn delete(&mut self, id: &str) -> Result<(), String> {
        let msg = Value::dict([
            ("command", Value::str("delete")),
            ("call-id", Value::str(id)),
        ]);
        self.command(&msg).map(|_| ())
    }

    fn ping(&mut self) -> Result<(), String> {
        self.command(&Value::dict([("command", Value::str("ping"))]))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_specs() {
        assert_eq!(
            "rampart-http=127.0.0.1:2223".parse::<TargetSpec>().unwrap(),
            TargetSpec::RampartHttp("127.0.0.1:2223".parse().unwrap())
        );
        assert_eq!(
            "ng=127.0.0.1:2222".parse::<TargetSpec>().unwrap(),
            TargetSpec::Ng("127.0.0.1:2222".parse().unwrap())
        );
        assert!("foo=127.0.0.1:1".parse::<TargetSpec>().is_err());
        assert!("ng=localhost".parse::<TargetSpec>().is_err());
    }
}
