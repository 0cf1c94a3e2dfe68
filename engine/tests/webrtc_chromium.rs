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
            ("POST", "/offer") => {
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
    use std::sync::atomic::Ordering::Relaxed;

    let bin = chromium_binary().expect("chromium is not installed (scripts/test installs it)");
    let Some(topo) = Topology::new("webrtc-chrome") else {
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
            .arg(format!("http://{page}/"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts"),
        profile,
    );

    let Ok(FromPage::Offer(offer, reply)) = from_page.recv_timeout(Duration::from_secs(30)) else {
        panic!("Chromium sent no offer");
    };
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
    let (b_addr, answer) =
        support::webrtc::browser_calls_plain_phone(&mut ng, "chromium-1", &offer, &phone);
    reply.send(answer).unwrap();

    let (result, got, sent) = plain_phone(
        &phone,
        b_addr,
        0x0c40_0e01,
        Duration::from_secs(60),
        || match from_page.try_recv() {
            Ok(FromPage::Result(r)) => Some(serde_json::from_str(&r).expect("the page's JSON")),
            _ => None,
        },
        |_| true,
    );
    let c = &node.shared().webrtc.as_ref().unwrap().counters;
    let (handshakes, failures) = (
        c.handshakes.load(Relaxed),
        c.handshake_failures.load(Relaxed),
    );
    println!(
        "chromium: {result}; node: {handshakes} handshake(s), {failures} failed, {} nomination(s); \
         phone got {got} packets from the browser, sent {sent}",
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
}
