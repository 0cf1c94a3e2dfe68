//! The security plane end to end, through the HTTP API and the ng protocol
//! of a node started in-process: a mixed-mode cluster with a trust list
//! made here (two tokens, signed by one), devices from the guide's
//! capability table, the call's security status (encrypted / authenticated
//! / nonsecure / unknown while re-negotiating), refusals naming the model and
//! mode, real SRTP through both legs, a nonsecure cluster refusing or
//! downgrading SRTP, the start-up refusal without a trust list, and the
//! control API over TLS with client certificates checked against the list.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart::config::Config;
use rampart::control::ng_bencode::{self as ben, Limits, Value as BVal};
use rampart::control::sdes::CryptoAttr;
use rampart::control::sdp::Sdp;
use rampart::control::{Node, NodeHandle, StartError};
use rampart::policy::{ClusterMode, LegKind, SecurityMode, SrtpRequestRule};
use rampart::srtp::{Context, MasterKey, Policy, Suite};
use rampart::trust::secret::hex;
use rampart::trust::{CtlEntry, IssueRequest, NodeCa, Role};
use serde_json::{json, Value};

mod support;

// ---- HTTP ----------------------------------------------------------------

fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("header end");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let v = serde_json::from_str(rest).unwrap_or(Value::String(rest.to_string()));
    (status, v)
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in metrics"))
}

fn metrics(api: SocketAddr) -> String {
    let (st, v) = http(api, "GET", "/metrics", None);
    assert_eq!(st, 200);
    v.as_str().unwrap().to_string()
}

// ---- node ----------------------------------------------------------------

const A7970: &str = "SEP00000000A970";
const B7970: &str = "SEP00000000B970";
const C7960: &str = "SEP00000000C960";

fn config(name: &str, port_min: u16) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = port_min;
    c.media.port_max = port_min + 199;
    c.dataplane.workers = 2;
    c.ng.enabled = true;
    c.ng.listen = "127.0.0.1:0".parse().unwrap();
    c.security = support::mixed(name);
    c.security.devices = vec![
        support::device(A7970, "7970", SecurityMode::Encrypted),
        support::device(B7970, "7970", SecurityMode::Encrypted),
        support::device(C7960, "7960", SecurityMode::Authenticated),
    ];
    c
}

fn start(c: Config) -> (NodeHandle, SocketAddr, Ng) {
    let node = Node::start(c).expect("node starts");
    let api = node.api_addr();
    let ng = Ng::new(node.info().ng.udp.expect("ng listens"));
    (node, api, ng)
}

// ---- media ---------------------------------------------------------------

fn phone() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ctx(suite: Suite, k: &MasterKey) -> Context {
    Context::new(Policy::new(suite, k.clone())).unwrap()
}

/// Sends SRTP from `from` (protected with `tx`) to the relay at `to` until
/// `rx_sock` gets it; checks the wire bytes are not the plain payload and
/// that they unprotect with `rx`.
fn srtp_flow(
    from: &UdpSocket,
    to: SocketAddr,
    tx: &mut Context,
    rx_sock: &UdpSocket,
    rx: &mut Context,
    ssrc: u32,
) {
    let payload = b"secret voice sample, twenty bytes";
    let mut buf = [0u8; 2048];
    for seq in 1..40u16 {
        let mut pkt = rtp(seq, ssrc, payload);
        let n = pkt.len();
        pkt.resize(n + 64, 0);
        let n = tx.protect_rtp(&mut pkt, n).unwrap();
        from.send_to(&pkt[..n], to).unwrap();
        if let Ok((got, _)) = rx_sock.recv_from(&mut buf) {
            assert!(
                !buf[..got].windows(payload.len()).any(|w| w == payload),
                "the relayed packet carries the payload in clear"
            );
            let len = rx
                .unprotect_rtp(&mut buf[..got])
                .expect("relayed packet is SRTP under the leg's key");
            assert_eq!(&buf[12..len], &payload[..]);
            return;
        }
    }
    panic!("no SRTP relayed to {:?}", rx_sock.local_addr());
}

fn key_of(v: &Value, suite: Suite) -> MasterKey {
    let raw = STANDARD.decode(v["key"].as_str().expect("key")).unwrap();
    MasterKey::from_concatenated(suite, &raw).unwrap()
}

// ---- ng ------------------------------------------------------------------

struct Ng {
    sock: UdpSocket,
    to: SocketAddr,
    n: u32,
}

impl Ng {
    fn new(to: SocketAddr) -> Ng {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ng { sock, to, n: 0 }
    }

    fn req(&mut self, items: &[(&str, &str)]) -> BVal {
        fn str_(out: &mut Vec<u8>, x: &str) {
            out.extend_from_slice(format!("{}:", x.len()).as_bytes());
            out.extend_from_slice(x.as_bytes());
        }
        self.n += 1;
        let mut msg = format!("sec{}_{} d", std::process::id(), self.n).into_bytes();
        for (k, v) in items {
            str_(&mut msg, k);
            str_(&mut msg, v);
        }
        msg.push(b'e');
        self.sock.send_to(&msg, self.to).unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.sock.recv_from(&mut buf).expect("ng reply");
        let sp = buf.iter().position(|&b| b == b' ').unwrap();
        ben::decode(&buf[sp + 1..n], &Limits::default()).unwrap()
    }
}

fn get<'a>(v: &'a BVal, k: &str) -> &'a str {
    v.get(k)
        .and_then(BVal::as_str)
        .unwrap_or_else(|| panic!("no {k:?} in {v:?}"))
}

fn fresh_key(suite: Suite) -> MasterKey {
    let mut b = vec![0u8; suite.master_key_len() + suite.master_salt_len()];
    getrandom::fill(&mut b).unwrap();
    MasterKey::from_concatenated(suite, &b).unwrap()
}

fn inline(k: &MasterKey) -> String {
    let mut raw = k.key_bytes().to_vec();
    raw.extend_from_slice(k.salt_bytes());
    STANDARD.encode(raw)
}

/// An SDP from `sock` with one audio section; `lines`: (tag, suite, key).
fn sdp(
    ver: u32,
    sock: &UdpSocket,
    proto: &str,
    lines: &[(u32, Suite, &MasterKey)],
    extra: &str,
) -> String {
    let mut m = format!(
        "v=0\r\no=- 1 {ver} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n",
        sock.local_addr().unwrap().port()
    );
    for (tag, su, k) in lines {
        m.push_str(&format!(
            "a=crypto:{tag} {} inline:{}\r\n",
            su.name(),
            inline(k)
        ));
    }
    m.push_str(extra);
    m
}

/// Rampart's address and `a=crypto` lines in an SDP it wrote.
fn target(sdp_text: &str) -> (SocketAddr, Vec<CryptoAttr>, String) {
    let sdp = Sdp::parse(sdp_text).expect("Rampart's SDP parses");
    let m = &sdp.media()[0];
    let ip = m.effective_connection(&sdp).unwrap().ip().unwrap();
    (
        SocketAddr::new(ip, m.port()),
        m.crypto().unwrap(),
        m.proto().to_string(),
    )
}

fn attr_key(a: &CryptoAttr) -> (Suite, MasterKey) {
    let su = a.suite().unwrap();
    (su, a.keys[0].to_master_key(su).unwrap())
}

// ---- tests ---------------------------------------------------------------

#[test]
fn http_legs_follow_the_policy_and_report_status() {
    let (node, api, _ng) = start(config("sec-http", 43000));
    let pa = phone();
    let pb = phone();
    let leg = |extra: Value, p: &UdpSocket| {
        let mut v = json!({"remote": p.local_addr().unwrap().to_string(), "rtcp_mux": true});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };

    // A 7970 (encrypted) and a 7960 (authenticated, NULL cipher): the call
    // is authenticated.
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"call_id": "auth", "legs": [
            leg(json!({"device": A7970}), &pa),
            leg(json!({"device": C7960, "security": "authenticated", "null_cipher": true}), &pb),
        ]})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["security"], "authenticated", "{v}");
    assert_eq!(v["legs"][0]["security"], "encrypted");
    assert_eq!(v["legs"][0]["suite"], "AES_CM_128_HMAC_SHA1_80");
    assert_eq!(v["legs"][1]["security"], "authenticated");
    assert_eq!(v["legs"][1]["suite"], "NULL_HMAC_SHA1_80");
    assert_eq!(v["legs"][1]["device"], C7960);

    // Two 7970s: encrypted, and real SRTP crosses both legs.
    let pc = phone();
    let pd = phone();
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"call_id": "enc", "legs": [
            leg(json!({"device": A7970}), &pc),
            leg(json!({"device": B7970}), &pd),
        ]})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["security"], "encrypted", "{v}");
    let su = Suite::AesCm128HmacSha1_80;
    let (l0, l1) = (&v["legs"][0], &v["legs"][1]);
    let a_local: SocketAddr = l0["local"].as_str().unwrap().parse().unwrap();
    let b_local: SocketAddr = l1["local"].as_str().unwrap().parse().unwrap();
    let mut c_tx = ctx(su, &key_of(&l0["keys"]["inbound"], su));
    let mut c_rx = ctx(su, &key_of(&l0["keys"]["outbound"], su));
    let mut d_tx = ctx(su, &key_of(&l1["keys"]["inbound"], su));
    let mut d_rx = ctx(su, &key_of(&l1["keys"]["outbound"], su));
    srtp_flow(&pc, a_local, &mut c_tx, &pd, &mut d_rx, 0x1111);
    srtp_flow(&pd, b_local, &mut d_tx, &pc, &mut c_rx, 0x2222);
    let (_, q) = http(api, "GET", "/calls/enc", None);
    assert_eq!(q["security"], "encrypted");
    assert_eq!(q["policy_generation"], 1);

    // A conference bridge is nonsecure by default: the call is nonsecure.
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"call_id": "conf", "legs": [
            leg(json!({"device": A7970}), &phone()),
            leg(json!({"kind": "conference-bridge", "mode": "rtp"}), &phone()),
        ]})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["security"], "nonsecure");
    assert_eq!(v["legs"][1]["kind"], "conference-bridge");

    // Refusals name the model / kind and the mode.
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [
            {"device": C7960, "security": "encrypted"}, {"device": A7970}
        ]})),
    );
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_refused");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("7960") && m.contains("encrypted"), "{m}");
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [
            {"kind": "conference-bridge", "security": "encrypted"}, {"device": A7970}
        ]})),
    );
    assert_eq!(st, 403, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("conference-bridge") && m.contains("encrypted"),
        "{m}"
    );
    // No device named: an unknown device, refused in mixed mode.
    let (st, v) = http(api, "POST", "/calls", Some(&json!({"legs": [{}, {}]})));
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no device"));
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [{"device": "SEP-NOBODY"}, {"device": A7970}]})),
    );
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SEP-NOBODY"));

    // A rekey re-negotiates the leg: unknown, then settled back.
    let before = metric(
        &metrics(api),
        "rampart_call_security_changes_total{status=\"unknown\"}",
    );
    let (st, v) = http(
        api,
        "PATCH",
        "/calls/enc/legs/0",
        Some(&json!({"rekey": {"direction": "outbound"}})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["security"], "encrypted");
    let m = metrics(api);
    assert_eq!(
        metric(
            &m,
            "rampart_call_security_changes_total{status=\"unknown\"}"
        ),
        before + 1
    );
    assert!(
        metric(
            &m,
            "rampart_call_security_changes_total{status=\"encrypted\"}"
        ) >= 2
    );
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"encrypted\"}"),
        1
    );
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"authenticated\"}"),
        1
    );
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"nonsecure\"}"),
        1
    );
    assert!(metric(&m, "rampart_calls_refused_total{reason=\"policy\"}") >= 4);

    // Devices: list, add, update (bumps the generation), remove.
    let (st, v) = http(api, "GET", "/devices", None);
    assert_eq!(st, 200);
    assert_eq!(v["count"], 3);
    let (st, v) = http(
        api,
        "POST",
        "/devices",
        Some(&json!({"name": "SEP-NEW", "model": "7940", "mode": "encrypted"})),
    );
    assert_eq!(st, 403, "a 7940 cannot encrypt: {v}");
    let (st, v) = http(
        api,
        "POST",
        "/devices",
        Some(&json!({"name": "SEP-NEW", "model": "7940", "mode": "authenticated"})),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = http(
        api,
        "PATCH",
        "/devices/SEP00000000A970",
        Some(&json!({"mode": "authenticated"})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["generation"], 2);
    // Every call ran under generation 1: all are stale now.
    let (_, v) = http(api, "GET", "/policy/stale-calls", None);
    assert_eq!(v["count"], 3, "{v}");
    // New calls see the change at once.
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [{"device": A7970}, {"device": B7970}]})),
    );
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("configured authenticated"));
    let (st, _) = http(api, "DELETE", "/devices/SEP-NEW", None);
    assert_eq!(st, 200);
    let (st, _) = http(api, "DELETE", "/devices/SEP-NEW", None);
    assert_eq!(st, 404);

    // Cluster mode to nonsecure: generation up, SRTP refused.
    let (st, v) = http(
        api,
        "PUT",
        "/policy/cluster-mode",
        Some(&json!({"cluster_mode": "nonsecure"})),
    );
    assert_eq!(st, 200, "{v}");
    let g = v["generation"].as_u64().unwrap();
    assert!(g >= 4, "{v}");
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [{"device": B7970}, {"device": B7970}]})),
    );
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nonsecure"));
    let (_, p) = http(api, "GET", "/policy", None);
    assert_eq!(p["cluster_mode"], "nonsecure");
    assert_eq!(p["generation"], g);
    let m = metrics(api);
    assert_eq!(
        metric(&m, "rampart_cluster_security_mode{mode=\"nonsecure\"}"),
        1
    );
    assert_eq!(metric(&m, "rampart_policy_generation"), g);
    node.shutdown();
}

#[test]
fn ng_legs_follow_the_policy_and_hold_is_unknown() {
    let (node, api, mut ng) = start(config("sec-ng", 43200));
    let su = Suite::AesCm128HmacSha1_80;

    // 7970 calls a 7960: the offer toward the 7960 carries only the NULL
    // cipher; the call is authenticated.
    let (pa, pb) = (phone(), phone());
    let ka = fresh_key(su);
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-auth"),
        ("from-tag", "a"),
        ("rampart-device", A7970),
        ("rampart-peer-device", C7960),
        ("sdp", &sdp(1, &pa, "RTP/SAVP", &[(1, su, &ka)], "")),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let (_, lines, _) = target(get(&r, "sdp"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].suite().unwrap(), Suite::NullHmacSha1_80);
    let q = ng.req(&[("command", "query"), ("call-id", "ng-auth")]);
    assert_eq!(get(&q, "security"), "unknown");
    let kb = fresh_key(Suite::NullHmacSha1_80);
    let r = ng.req(&[
        ("command", "answer"),
        ("call-id", "ng-auth"),
        ("from-tag", "a"),
        ("to-tag", "b"),
        ("rampart-device", C7960),
        (
            "sdp",
            &sdp(1, &pb, "RTP/SAVP", &[(1, Suite::NullHmacSha1_80, &kb)], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let q = ng.req(&[("command", "query"), ("call-id", "ng-auth")]);
    assert_eq!(get(&q, "security"), "authenticated", "{q:?}");

    // Two 7970s: encrypted, SRTP both ways.
    let (pc, pd) = (phone(), phone());
    let kc = fresh_key(su);
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-enc"),
        ("from-tag", "c"),
        ("rampart-device", A7970),
        ("sdp", &sdp(1, &pc, "RTP/SAVP", &[(1, su, &kc)], "")),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let (to_d_from, lines_d, _) = target(get(&r, "sdp"));
    assert!(lines_d.iter().all(|l| l.suite().unwrap().encrypts()));
    let (sd, relay_to_d) = attr_key(&lines_d[0]);
    assert_eq!(sd, su);
    let kd = fresh_key(su);
    let r = ng.req(&[
        ("command", "answer"),
        ("call-id", "ng-enc"),
        ("from-tag", "c"),
        ("to-tag", "d"),
        ("rampart-device", B7970),
        (
            "sdp",
            &sdp(1, &pd, "RTP/SAVP", &[(lines_d[0].tag, su, &kd)], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let (to_c_from, lines_c, _) = target(get(&r, "sdp"));
    let (_, relay_to_c) = attr_key(&lines_c[0]);
    let q = ng.req(&[("command", "query"), ("call-id", "ng-enc")]);
    assert_eq!(get(&q, "security"), "encrypted", "{q:?}");
    srtp_flow(
        &pc,
        to_c_from,
        &mut ctx(su, &kc),
        &pd,
        &mut ctx(su, &relay_to_d),
        0x3333,
    );
    srtp_flow(
        &pd,
        to_d_from,
        &mut ctx(su, &kd),
        &pc,
        &mut ctx(su, &relay_to_c),
        0x4444,
    );

    // Hold (sendonly, c=0.0.0.0): unknown until the answer settles it.
    let held = sdp(2, &pc, "RTP/SAVP", &[(1, su, &kc)], "a=sendonly\r\n")
        .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-enc"),
        ("from-tag", "c"),
        ("sdp", &held),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let q = ng.req(&[("command", "query"), ("call-id", "ng-enc")]);
    assert_eq!(get(&q, "security"), "unknown", "{q:?}");
    let (_, lines_d2, _) = target(get(&r, "sdp"));
    let r = ng.req(&[
        ("command", "answer"),
        ("call-id", "ng-enc"),
        ("from-tag", "c"),
        ("to-tag", "d"),
        (
            "sdp",
            &sdp(
                2,
                &pd,
                "RTP/SAVP",
                &[(lines_d2[0].tag, su, &kd)],
                "a=recvonly\r\n",
            ),
        ),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let q = ng.req(&[("command", "query"), ("call-id", "ng-enc")]);
    assert_eq!(get(&q, "security"), "encrypted", "{q:?}");

    // A conference bridge joins over plain RTP: nonsecure.
    let (pe, pf) = (phone(), phone());
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-conf"),
        ("from-tag", "e"),
        ("rampart-kind", "conference-bridge"),
        ("rampart-peer-device", A7970),
        ("sdp", &sdp(1, &pe, "RTP/AVP", &[], "")),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let (_, l, proto) = target(get(&r, "sdp"));
    assert!(l.is_empty() && proto == "RTP/AVP", "{proto} {l:?}");
    let r = ng.req(&[
        ("command", "answer"),
        ("call-id", "ng-conf"),
        ("from-tag", "e"),
        ("to-tag", "f"),
        ("sdp", &sdp(1, &pf, "RTP/AVP", &[], "")),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    let q = ng.req(&[("command", "query"), ("call-id", "ng-conf")]);
    assert_eq!(get(&q, "security"), "nonsecure", "{q:?}");

    // Refusals: a mode the model cannot do; no device named.
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-bad"),
        ("from-tag", "g"),
        ("rampart-device", C7960),
        ("rampart-security", "encrypted"),
        (
            "sdp",
            &sdp(1, &phone(), "RTP/SAVP", &[(1, su, &fresh_key(su))], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    let reason = get(&r, "error-reason");
    assert!(
        reason.contains("7960") && reason.contains("encrypted"),
        "{reason}"
    );
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ng-anon"),
        ("from-tag", "h"),
        (
            "sdp",
            &sdp(1, &phone(), "RTP/SAVP", &[(1, su, &fresh_key(su))], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("no device"));

    // The HTTP metrics see ng calls' status and their changes.
    let m = metrics(api);
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"encrypted\"}"),
        1
    );
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"authenticated\"}"),
        1
    );
    assert_eq!(
        metric(&m, "rampart_calls_by_security{status=\"nonsecure\"}"),
        1
    );
    assert!(
        metric(
            &m,
            "rampart_call_security_changes_total{status=\"unknown\"}"
        ) >= 1
    );
    node.shutdown();
}

#[test]
fn nonsecure_cluster_refuses_or_downgrades_srtp() {
    let mut c = config("sec-nonsecure", 43400);
    c.security = rampart::policy::PolicyConfig {
        enforce: true,
        ..Default::default()
    }; // nonsecure, refuse
    let (node, api, mut ng) = start(c.clone());
    let (st, v) = http(api, "POST", "/calls", Some(&json!({"legs": [{}, {}]})));
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nonsecure"));
    let (st, v) = http(
        api,
        "POST",
        "/calls",
        Some(&json!({"legs": [{"mode": "rtp"}, {"mode": "rtp"}]})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["security"], "nonsecure");
    let su = Suite::AesCm128HmacSha1_80;
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ns-1"),
        ("from-tag", "a"),
        (
            "sdp",
            &sdp(1, &phone(), "RTP/SAVP", &[(1, su, &fresh_key(su))], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "error", "{r:?}");
    assert!(get(&r, "error-reason").contains("nonsecure"));
    node.shutdown();

    // downgrade: RTP, and a warning in the answer.
    c.security.srtp_request = SrtpRequestRule::Downgrade;
    c.media.port_min = 43500;
    c.media.port_max = 43599;
    let (node, api, mut ng) = start(c);
    let (st, v) = http(api, "POST", "/calls", Some(&json!({"legs": [{}, {}]})));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["legs"][0]["mode"], "rtp");
    assert!(v["legs"][0].get("keys").is_none(), "{v}");
    assert!(
        v["warnings"][0].as_str().unwrap().contains("downgraded"),
        "{v}"
    );
    let r = ng.req(&[
        ("command", "offer"),
        ("call-id", "ns-2"),
        ("from-tag", "a"),
        (
            "sdp",
            &sdp(1, &phone(), "RTP/SAVP", &[(1, su, &fresh_key(su))], ""),
        ),
    ]);
    assert_eq!(get(&r, "result"), "ok", "{r:?}");
    assert!(get(&r, "warning").contains("downgraded"), "{r:?}");
    let (_, l, proto) = target(get(&r, "sdp"));
    assert!(l.is_empty() && proto == "RTP/AVP", "{proto} {l:?}");
    node.shutdown();
}

#[test]
fn mixed_mode_needs_a_valid_trust_list_to_start() {
    let mut c = config("sec-start", 43600);
    c.security.trust_list = None;
    match Node::start(c.clone()) {
        Err(e @ StartError::Security(_)) => {
            let m = e.to_string();
            assert!(
                m.contains("requires a signed Certificate Trust List"),
                "{m}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a mixed-mode node started without a trust list"),
    }
    // A tampered list is refused too.
    let dir = support::temp_dir("sec-start-tampered");
    let p = support::write_ctl(&dir, Vec::new());
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replacen("\\\"version\\\":1", "\\\"version\\\":9", 1),
    )
    .unwrap();
    c.security.trust_list = Some(p);
    let Err(e) = Node::start(c) else {
        panic!("a tampered trust list was accepted")
    };
    assert!(e.to_string().contains("altered"), "{e}");

    // `rampart run` exits nonzero with the reason.
    let cfg = dir.join("mixed.toml");
    std::fs::write(
        &cfg,
        "[api]\nlisten = \"127.0.0.1:0\"\n[security]\nenforce = true\ncluster_mode = \"mixed\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("RAMPART_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("requires a signed Certificate Trust List"),
        "{err}"
    );
}

#[test]
fn control_api_over_tls_accepts_only_listed_call_agents() {
    use rampart::trust::client_config;
    use rampart::trust::tls::{certs_from_pem, key_from_pem};
    use rustls::pki_types::{CertificateDer, ServerName};
    use support::trust::{read_to_end, write_all};

    let dir = support::temp_dir("sec-mtls");
    let (ca, _) = NodeCa::generate("node CA", 30).unwrap();
    let issue = |name: &str, role| ca.issue(&IssueRequest::for_days(name, role, 10)).unwrap();
    let server = issue("localhost", Role::MediaNode);
    let agent = issue("kamailio-1", Role::CallAgent);
    let unlisted = issue("opensips-1", Role::CallAgent);
    let entry = |sha: &[u8; 32]| CtlEntry {
        role: Role::CallAgent,
        subject: "kamailio-1".into(),
        cert_pem: None,
        sha256: Some(hex(sha)),
    };
    let ctl = support::write_ctl(&dir, vec![entry(&agent.sha256)]);
    let w = |n: &str, t: &str| {
        let p = dir.join(n);
        std::fs::write(&p, t).unwrap();
        p
    };
    let mut c = config("sec-mtls-policy", 43700);
    c.security.trust_list = Some(ctl);
    c.api.tls_cert = Some(w("node.crt", &server.cert_pem));
    c.api.tls_key = Some(w("node.key", &server.key_pem));
    c.api.tls_client_ca = Some(w("ca.crt", ca.cert_pem()));
    let (node, api, _ng) = start(c);
    assert!(node.info().api_tls);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetch = |who: &rampart::trust::IssuedCert, req: String| -> Result<String, String> {
        let cfg = client_config(
            CertificateDer::from(ca.cert_der().to_vec()),
            certs_from_pem(&who.cert_pem).unwrap(),
            key_from_pem(&who.key_pem).unwrap(),
        )
        .unwrap();
        rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(api)
                .await
                .map_err(|e| e.to_string())?;
            let mut tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            write_all(&mut tls, req.as_bytes())
                .await
                .map_err(|e| format!("write: {e}"))?;
            let out = read_to_end(&mut tls)
                .await
                .map_err(|e| format!("read: {e}"))?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        })
    };
    let get_health =
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_string();
    let r = fetch(&agent, get_health.clone());
    assert!(
        matches!(&r, Ok(t) if t.starts_with("HTTP/1.1 200")),
        "listed call agent refused: {r:?}"
    );
    // A call over the TLS channel.
    let body = json!({"legs": [{"device": A7970}, {"device": B7970}]}).to_string();
    let r = fetch(
        &agent,
        format!(
            "POST /calls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(
        r.starts_with("HTTP/1.1 201") && r.contains("\"encrypted\""),
        "{r}"
    );
    // Issued by the node CA but not in the trust list: refused.
    let r = fetch(&unlisted, get_health);
    assert!(
        !matches!(&r, Ok(t) if t.contains("200")),
        "unlisted client served: {r:?}"
    );
    // Plain HTTP gets nothing.
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    let _ = LegKind::Phone;
    let _ = ClusterMode::Mixed;
    node.shutdown();
}
