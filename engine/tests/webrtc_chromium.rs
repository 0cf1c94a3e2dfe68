//! A browser through the node: headless Chromium (Debian's `chromium`)
//! loads a local page (`webrtc/chromium_peer.html`), offers audio from its
//! fake capture device, and the offer goes to Rampart over ng with the
//! flags Kamailio sends toward a SIP phone. A plain-RTP phone answers; the
//! answer Rampart restores for the browser goes back to the page. Chromium
//! connects (its full ICE against Rampart's ICE-lite, DTLS-SRTP), and for
//! 3 s audio goes both ways: the phone counts the browser's packets, and
//! the page reports `getStats` (inbound packets decrypted).
//!
//! Chromium gathers no loopback candidates, so it runs in the phones'
//! network namespace (`support::netns`), with the page's server on that
//! namespace's loopback. Bounded: the page gives up after 15 s, the test
//! after 60 s, and the browser is killed on drop.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::netns::{Ns, Topology};
use support::webrtc::{node_config, plain_phone, start_node};

const PAGE: &str = include_str!("webrtc/chromium_peer.html");

/// What the page's server hands the test, and how the test answers.
enum FromPage {
    /// A POST the test replies to: `/offer` (the browser's offer, replied
    /// with the answer), `/ready` (replied with an offer for the
    /// browser), `/answer` (the browser's answer).
    Offer(String, mpsc::Sender<String>),
    Result(String),
}

/// One HTTP/1.1 request: method, path, body.
fn read_request(stream: &mut TcpStream) -> Option<(String, String, String)> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}

fn respond(stream: &mut TcpStream, kind: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves the page, and passes its offer and result to the test.
fn serve(listener: TcpListener, to_test: mpsc::Sender<FromPage>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let Some((method, path, body)) = read_request(&mut stream) else {
            continue;
        };
        match (method.as_str(), path.as_str()) {
            ("POST", "/offer" | "/ready" | "/answer") => {
                let (tx, rx) = mpsc::channel();
                if to_test.send(FromPage::Offer(body, tx)).is_err() {
                    return;
                }
                let answer = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
                respond(&mut stream, "application/sdp", &answer);
            }
            ("POST", "/result") => {
                respond(&mut stream, "text/plain", "");
                let _ = to_test.send(FromPage::Result(body));
                return;
            }
            _ => respond(&mut stream, "text/html", PAGE),
        }
    }
}

/// Headless Chromium in the phones' namespace, killed on drop.
struct Chromium(Child, std::path::PathBuf);

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn chromium_binary() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[test]
fn headless_chromium_calls_a_phone_through_the_node() {
    chromium_call("webrtc-chrome", false, false);
}

/// Chromium with `bundlePolicy: max-bundle` sends audio and video: its
/// offer has one transport (its video section on the discard port 9,
/// with no candidates: Chromium writes no `a=bundle-only`).
/// Rampart takes the group, a phone per section answers, and both kinds
/// go both ways over the one port.
#[test]
fn headless_chromium_bundles_audio_and_video_with_max_bundle() {
    chromium_call("webrtc-chrome-b", true, false);
}

/// The other way: a SIP phone with audio and video calls Chromium (again
/// max-bundle). Rampart offers it BUNDLE on one port; Chromium answers
/// taking the group, and both kinds go both ways.
#[test]
fn headless_chromium_answers_a_bundled_offer_with_max_bundle() {
    chromium_call("webrtc-chrome-a", true, true);
}

/// The page's next request the test replies to (bounded).
fn next_request(
    from_page: &mpsc::Receiver<FromPage>,
    what: &str,
) -> (String, mpsc::Sender<String>) {
    match from_page.recv_timeout(Duration::from_secs(30)) {
        Ok(FromPage::Offer(body, reply)) => (body, reply),
        _ => panic!("Chromium sent no {what}"),
    }
}

/// The browser calls: its offer goes to Rampart as Kamailio sends it, a
/// phone per section answers. Rampart's address toward each phone, and
/// the video payload type.
fn browser_offers(
    ng: &mut support::ng::Ng,
    from_page: &mpsc::Receiver<FromPage>,
    phones: &[&std::net::UdpSocket],
) -> (Vec<std::net::SocketAddr>, u8) {
    let (offer, reply) = next_request(from_page, "offer");
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
    if phones.len() > 1 {
        // Chromium's max-bundle: the video section has no transport of
        // its own (port 9, no candidates).
        assert!(offer.contains("m=video 9 "), "max-bundle: {offer}");
    }
    let (relays, answer) =
        support::webrtc::browser_calls_plain_phones(ng, "chromium-1", &offer, phones);
    if phones.len() > 1 {
        assert!(answer.contains("a=group:BUNDLE"), "{answer}");
    }
    reply.send(answer).unwrap();
    let pt = offer
        .lines()
        .find(|l| l.starts_with("m=video"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    (relays, pt)
}

/// The phones call the browser: their offer (PCMU, and VP8 on the video
/// phone's port) goes to Rampart with the flags Kamailio sends toward a
/// browser; Rampart's offer (BUNDLE) goes to the page, the page's answer
/// back to Rampart. Rampart's address toward each phone, and the video
/// payload type.
fn browser_answers(
    ng: &mut support::ng::Ng,
    from_page: &mpsc::Receiver<FromPage>,
    phones: &[&std::net::UdpSocket],
) -> (Vec<std::net::SocketAddr>, u8) {
    use support::ng::{get, l, ok, s};
    let (_, reply) = next_request(from_page, "/ready");
    let ip = support::netns::node_ip4();
    let mut offer = format!("v=0\r\no=- 5 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n");
    for (i, p) in phones.iter().enumerate() {
        let port = p.local_addr().unwrap().port();
        offer.push_str(&if i == 0 {
            format!("m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
        } else {
            format!("m=video {port} RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=sendrecv\r\n")
        });
    }
    let r = ng.req(&[
        ("command", s("offer")),
        ("call-id", s("chromium-1")),
        ("from-tag", s("phone")),
        ("sdp", s(&offer)),
        ("transport-protocol", s("UDP/TLS/RTP/SAVPF")),
        ("ICE", s("force")),
        ("rtcp-mux", l(&["offer", "require"])),
        ("SDES", l(&["off"])),
    ]);
    ok(&r);
    let to_browser = get(&r, "sdp").to_string();
    assert!(to_browser.contains("a=group:BUNDLE"), "{to_browser}");
    reply.send(to_browser).unwrap();
    let (answer, reply) = next_request(from_page, "answer");
    reply.send(String::new()).unwrap();
    let r = ng.req(&[
        ("command", s("answer")),
        ("call-id", s("chromium-1")),
        ("from-tag", s("phone")),
        ("to-tag", s("browser")),
        ("sdp", s(&answer)),
    ]);
    ok(&r);
    let to_phones = rampart::control::sdp::Sdp::parse(get(&r, "sdp")).unwrap();
    let relays = (0..phones.len())
        .map(|i| std::net::SocketAddr::new(ip, to_phones.media()[i].port()))
        .collect();
    (relays, 96)
}

fn chromium_call(tag: &str, video: bool, answers: bool) {
    use std::sync::atomic::Ordering::Relaxed;

    let bin = chromium_binary().expect("chromium is not installed (scripts/test installs it)");
    let Some(topo) = Topology::new(tag) else {
        return;
    };
    // The page's server, on the phones' namespace's loopback.
    let listener = {
        let _in = topo.enter(Ns::Phones);
        TcpListener::bind("127.0.0.1:0").unwrap()
    };
    let page = listener.local_addr().unwrap();
    let (tx, from_page) = mpsc::channel();
    std::thread::spawn(move || serve(listener, tx));

    let (node, mut ng, phone) = start_node(&topo, node_config());

    let profile = support::temp_dir("chromium-profile");
    let _browser = Chromium(
        Command::new("ip")
            .args(["netns", "exec", &topo.ns_name(Ns::Phones), bin])
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!(
                "http://{page}/?video={}&answer={}",
                u8::from(video),
                u8::from(answers)
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts"),
        profile,
    );

    let video_phone = {
        let _in = topo.enter(Ns::Node);
        support::webrtc::phone_socket()
    };
    let phones: Vec<&std::net::UdpSocket> = if video {
        vec![&phone, &video_phone]
    } else {
        vec![&phone]
    };
    let (relays, video_pt) = if answers {
        browser_answers(&mut ng, &from_page, &phones)
    } else {
        browser_offers(&mut ng, &from_page, &phones)
    };

    // The video phone sends VP8's payload type from its own thread (the
    // audio phone's loop below reports).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let video_side = video.then(|| {
        let (stop, sock, to) = (stop.clone(), video_phone.try_clone().unwrap(), relays[1]);
        std::thread::spawn(move || support::webrtc::video_phone(&sock, to, video_pt, &stop))
    });
    let (result, got, sent) = plain_phone(
        &phone,
        relays[0],
        0x0c40_0e01,
        Duration::from_secs(60),
        || match from_page.try_recv() {
            Ok(FromPage::Result(r)) => Some(serde_json::from_str(&r).expect("the page's JSON")),
            _ => None,
        },
        |_| true,
    );
    stop.store(true, Relaxed);
    let video_got = video_side.map(|t| t.join().unwrap());
    let c = &node.shared().webrtc.as_ref().unwrap().counters;
    let (handshakes, failures) = (
        c.handshakes.load(Relaxed),
        c.handshake_failures.load(Relaxed),
    );
    println!(
        "chromium: {result}; node: {handshakes} handshake(s), {failures} failed, {} nomination(s); \
         phone got {got} packets from the browser, sent {sent}; video phone got {video_got:?}",
        c.nominations.load(Relaxed)
    );
    node.shutdown();
    assert_eq!(result["state"], "connected", "{result}");
    assert_eq!((handshakes, failures), (1, 0));
    assert!(got >= 50, "the browser's audio reached the phone: {got}");
    assert!(
        result["inbound_packets"].as_u64().unwrap_or(0) >= 50,
        "the phone's audio reached the browser under the DTLS keys: {result}"
    );
    if let Some(v) = video_got {
        assert!(v >= 20, "the browser's video reached the video phone: {v}");
        assert_eq!(result["transports"], 1, "one transport: {result}");
        for kind in ["audio", "video"] {
            let k = &result["by_kind"][kind];
            assert!(
                k["in"].as_u64().unwrap_or(0) >= 50,
                "the browser got {kind}: {result}"
            );
        }
    }
}
