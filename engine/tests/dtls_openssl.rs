//! DTLS-SRTP against a peer no one here wrote: OpenSSL's own `s_server`
//! and `s_client` (`-dtls1_2 -use_srtp`) with an RSA-4096 certificate, as
//! SIP-side peers present. Each run compares the SRTP keys Rampart
//! exported with the keying material the OpenSSL tool prints for the same
//! session (`-keymatexport EXTRACTOR-dtls_srtp`), byte for byte, in both
//! roles. Loopback only; every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rampart::dtls::{Certificate, DtlsError, Endpoint, Fingerprint, Profile, Role};

mod support;

/// An RSA-4096 certificate and key made by the `openssl` tool.
fn rsa4096(dir: &Path) -> (PathBuf, PathBuf, Certificate) {
    let (cert, key) = (dir.join("peer.pem"), dir.join("peer.key"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=openssl-peer", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (scripts/test installs it)");
    assert!(ok.success());
    let c = Certificate::from_pem(
        &std::fs::read(&cert).unwrap(),
        &std::fs::read(&key).unwrap(),
    )
    .unwrap();
    (cert, key, c)
}

/// An `openssl` peer whose stdin stays open (it quits at EOF) and whose
/// output lines arrive on a channel.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn start(args: &[&str], cert: &Path, key: &Path, keymat_len: usize) -> Peer {
        let mut child = Command::new("openssl")
            .args(args)
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(["-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen"])
            .arg(keymat_len.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Peer { child, lines }
    }

    /// The keying material the tool printed (bounded wait).
    fn keying_material(&self) -> Vec<u8> {
        let end = Instant::now() + Duration::from_secs(10);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(hex) = l.trim().strip_prefix("Keying material: ") {
                        return (0..hex.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                            .collect();
                    }
                }
                Err(_) => break,
            }
        }
        panic!("the openssl peer printed no keying material");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `e`'s handshake over `sock` with the peer at `peer` (learned from
/// the first datagram when `None`). Bounded: 15 s.
fn handshake(
    e: &mut Endpoint,
    sock: &UdpSocket,
    mut peer: Option<std::net::SocketAddr>,
) -> Result<(), DtlsError> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Some(to) = peer {
            while let Some(d) = e.poll_datagram() {
                sock.send_to(&d, to).unwrap();
            }
        }
        if e.is_connected() {
            return Ok(());
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                peer.get_or_insert(from);
                e.on_datagram(&buf[..n])?;
            }
            Err(_) => {
                e.on_timer()?;
            }
        }
    }
    Err(DtlsError::Handshake("no handshake within 15 s".into()))
}

/// The material is client key | server key | client salt | server salt.
fn assert_keys(e: &Endpoint, m: &[u8], profile: Profile) {
    let k = e.keys().expect("connected");
    assert_eq!(k.profile, profile);
    let (kl, sl) = (
        profile.suite().master_key_len(),
        profile.suite().master_salt_len(),
    );
    assert_eq!(m.len(), 2 * (kl + sl));
    let (client, server) = match e.role() {
        Role::Active => (&k.local, &k.remote),
        Role::Passive => (&k.remote, &k.local),
    };
    assert_eq!(client.key_bytes(), &m[..kl]);
    assert_eq!(server.key_bytes(), &m[kl..2 * kl]);
    assert_eq!(client.salt_bytes(), &m[2 * kl..2 * kl + sl]);
    assert_eq!(server.salt_bytes(), &m[2 * kl + sl..]);
}

/// Where `s_server` listens.
const S_SERVER: &str = "127.0.0.1:45521";

/// `openssl s_server` for SRTP_AES128_CM_SHA1_80 on [`S_SERVER`], asking
/// for the client's certificate when `verify`; given 300 ms to listen.
fn s_server(cert: &Path, key: &Path, verify: bool) -> Peer {
    let mut args = vec![
        "s_server",
        "-dtls1_2",
        "-use_srtp",
        "SRTP_AES128_CM_SHA1_80",
    ];
    args.extend(["-accept", S_SERVER]);
    if verify {
        args.extend(["-verify", "1"]);
    }
    let p = Peer::start(&args, cert, key, 60);
    std::thread::sleep(Duration::from_millis(300));
    p
}

#[test]
fn rampart_as_client_against_openssl_s_server_with_rsa_4096() {
    let dir = support::temp_dir("dtls-s-server");
    let (cert, key, peer_cert) = rsa4096(&dir);
    let server = s_server(&cert, &key, true);
    let ours = Certificate::generate("rampart").unwrap();
    let mut e = Endpoint::new(&ours, Role::Active, peer_cert.fingerprint()).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = S_SERVER.parse().unwrap();
    handshake(&mut e, &sock, Some(to)).unwrap();
    assert_keys(&e, &server.keying_material(), Profile::AesCm128Sha1_80);

    // The same server, a fingerprint that is not its certificate's.
    drop(server);
    let _server = s_server(&cert, &key, false);
    let wrong = Fingerprint([0x42; 32]);
    let mut e = Endpoint::new(&ours, Role::Active, wrong).unwrap();
    assert_eq!(
        handshake(&mut e, &sock, Some(to)),
        Err(DtlsError::FingerprintMismatch)
    );
    assert!(e.keys().is_none());
}

#[test]
fn rampart_as_server_against_openssl_s_client_with_rsa_4096() {
    let dir = support::temp_dir("dtls-s-client");
    let (cert, key, peer_cert) = rsa4096(&dir);
    let sock = UdpSocket::bind("127.0.0.1:45522").unwrap();
    let ours = Certificate::generate("rampart").unwrap();
    let mut e = Endpoint::new(&ours, Role::Passive, peer_cert.fingerprint()).unwrap();
    let client = Peer::start(
        &[
            "s_client",
            "-dtls1_2",
            "-use_srtp",
            "SRTP_AEAD_AES_128_GCM",
            "-connect",
            "127.0.0.1:45522",
        ],
        &cert,
        &key,
        56,
    );
    handshake(&mut e, &sock, None).unwrap();
    assert_keys(&e, &client.keying_material(), Profile::AeadAes128Gcm);
}
